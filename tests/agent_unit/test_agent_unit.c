/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/ unit tests: configuration errors name file:line, schedule
 * arithmetic, and OTP values computed in the token against the RFC 4226 and
 * RFC 6238 test vectors (group "otp" runs through with-token.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agt_challenge.h"
#include "agt_config.h"
#include "agt_daemon.h"
#include "agt_ephemeral.h"
#include "agt_hookrun.h"
#include "agt_keyholder.h"
#include "agt_net.h"
#include "agt_sandbox.h"
#include "agt_verify.h"
#include "csa_util.h"

static char tmpdir[] = "/tmp/agtunitXXXXXX";

static const char *write_cfg(const char *name, const char *text)
{
    static char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void expect_error(const char *text, const char *line_tag,
                         const char *words)
{
    agt_config *cfg = NULL;
    const char *path = write_cfg("bad.ini", text);
    char where[300];

    assert_int_equal(agt_config_load(path, &cfg), CSA_ERR_CONFIG);
    assert_null(cfg);
    snprintf(where, sizeof(where), "%s:%s:", path, line_tag);
    if (strstr(csa_errmsg(), where) == NULL ||
        strstr(csa_errmsg(), words) == NULL)
        fail_msg("error '%s' lacks '%s' or '%s'", csa_errmsg(), where, words);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("[token]\nuri = pkcs11:token=a\nmodul = x\n", "3",
                 "unknown key 'modul'");
    expect_error("[token]\npin = 1234\n", "2", "never goes in the");
    expect_error("[ca]\neab_key = abc\n", "2", "eab_key_file");
    expect_error("[identity a]\nlabel = a\nprofile = tls\n", "3",
                 "codesigning, clientauth or test-tls");
    expect_error("[nope]\nx = 1\n", "2", "unknown section");
    expect_error("[agent]\nrenew_at = 1.5\n", "2", "fraction");
    expect_error("[agent]\nretry_base = soon\n", "2", "duration");
    expect_error("[identity a]\nlabel = a\nrotate = maybe\n", "3", "yes or no");
}

static void test_config_good(void **state)
{
    agt_config *cfg = NULL;
    const agt_identity *id;
    const char *path = write_cfg(
        "good.ini", "[token]\nuri = pkcs11:token=t\npin_file = /p\n"
                    "[ca]\ndirectory = https://127.0.0.1/dir\n"
                    "contact = mailto:a@example.com, mailto:b@example.com\n"
                    "[agent]\nretry_base = 2m\nretry_max = 1h\n"
                    "[identity rel]\nlabel = release\ndomain = example.com\n"
                    "challenges = cert-01, totp-01\nrotate = no\n");

    (void)state;
    if (agt_config_load(path, &cfg) != CSA_OK)
        fail_msg("%s", csa_errmsg());
    assert_int_equal(cfg->n_contact, 2);
    assert_string_equal(cfg->contact[1], "mailto:b@example.com");
    assert_int_equal(cfg->retry_base, 120);
    assert_int_equal(cfg->retry_max, 3600);
    id = agt_config_identity(cfg, "rel");
    assert_non_null(id);
    assert_int_equal(id->profile, POL_PROFILE_CODESIGNING);
    assert_int_equal(id->n_challenges, 2);
    assert_string_equal(id->challenges[1], "totp-01");
    assert_false(id->rotate);
    /* The label finds it too. */
    assert_ptr_equal(agt_config_identity(cfg, "release"), id);
    agt_config_free(cfg);
    /* Codesigning without domain is a whole-file error. */
    path = write_cfg("nodomain.ini",
                     "[identity x]\nlabel = x\nemail = a@example.com\n");
    assert_int_equal(agt_config_load(path, &cfg), CSA_ERR_CONFIG);
    assert_non_null(strstr(csa_errmsg(), "needs domain"));
}

/* No fixed limit on identities (a build farm has hundreds); labels leave
 * room for the swap's suffixes; signer_wait reaches every identity. */
static void test_config_many(void **state)
{
    enum { N = 2000 };
    agt_config *cfg = NULL;
    char *text, *p, label[200];
    const char *path;
    size_t size = 512 + (size_t)N * 96;
    int i;

    (void)state;
    text = p = malloc(size);
    assert_non_null(text);
    p += sprintf(p, "[agent]\nsigner_wait = 90s\n");
    for (i = 0; i < N; i++)
        p += sprintf(p,
                     "[identity id%d]\nlabel = sig-%d\n"
                     "domain = d%d.example.com\n",
                     i, i, i);
    path = write_cfg("many.ini", text);
    free(text);
    if (agt_config_load(path, &cfg) != CSA_OK)
        fail_msg("%s", csa_errmsg());
    assert_int_equal(cfg->n_ids, N);
    assert_string_equal(agt_config_identity(cfg, "id1999")->label, "sig-1999");
    assert_int_equal(agt_config_identity(cfg, "sig-7")->signer_wait, 90);
    agt_config_free(cfg);
    /* a label too long for "<label>.retired", and one just right */
    memset(label, 'x', sizeof(label) - 1);
    label[121] = '\0';
    text = NULL;
    assert_true(asprintf(&text, "[identity a]\nlabel = %s\ndomain = e.com\n",
                         label) > 0);
    path = write_cfg("label121.ini", text);
    free(text);
    assert_int_equal(agt_config_load(path, &cfg), CSA_ERR_CONFIG);
    assert_non_null(strstr(csa_errmsg(), "leave room for '<label>.retired'"));
    label[120] = '\0';
    assert_true(asprintf(&text, "[identity a]\nlabel = %s\ndomain = e.com\n",
                         label) > 0);
    path = write_cfg("label120.ini", text);
    free(text);
    if (agt_config_load(path, &cfg) != CSA_OK)
        fail_msg("%s", csa_errmsg());
    agt_config_free(cfg);
}

/* Each label names one owner's objects: shared labels, a label that is
 * another's ".next"/".retired"/".chain", and the account key's label are
 * refused, naming both owners. */
static void test_config_label_collisions(void **state)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"[identity a]\nlabel = k\ndomain = a.com\n"
         "[identity b]\nlabel = k\ndomain = b.com\n",
         "[identity a] and [identity b] both use the label 'k'"},
        {"[identity a]\nlabel = k\ndomain = a.com\n"
         "[identity b]\nlabel = k.next\ndomain = b.com\n",
         "[identity b] uses the label 'k.next', which is the name "
         "[identity a]'s"},
        {"[identity a]\nlabel = k.chain\ndomain = a.com\n"
         "[identity b]\nlabel = k\ndomain = b.com\n",
         "'k.chain'"},
        {"[identity a]\nlabel = k\ndomain = a.com\n"
         "[identity b]\nlabel = k.retired\ndomain = b.com\n",
         "'k.retired'"},
        {"[identity a]\nlabel = csagent-account\ndomain = a.com\n",
         "[ca] account_key and [identity a] both use the label"},
        {"[ca]\naccount_key = acct\n"
         "[identity a]\nlabel = acct.next\ndomain = a.com\n",
         "'acct.next'"},
    };
    agt_config *cfg = NULL;
    const char *path;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        path = write_cfg("collide.ini", bad[i].text);
        assert_int_equal(agt_config_load(path, &cfg), CSA_ERR_CONFIG);
        if (strstr(csa_errmsg(), bad[i].want) == NULL)
            fail_msg("case %zu: '%s' does not say '%s'", i, csa_errmsg(),
                     bad[i].want);
    }
    /* labels that only look alike are fine */
    path = write_cfg("collide-ok.ini",
                     "[identity a]\nlabel = k\ndomain = a.com\n"
                     "[identity b]\nlabel = k.nextgen\ndomain = b.com\n"
                     "[identity c]\nlabel = k-next\ndomain = c.com\n");
    if (agt_config_load(path, &cfg) != CSA_OK)
        fail_msg("%s", csa_errmsg());
    agt_config_free(cfg);
}

static void test_sched(void **state)
{
    agt_config cfg = {0};
    pol_policy *pol = pol_default();
    time_t nb = 1000000, na = nb + 90 * 86400 - 1, t;

    (void)state;
    cfg.renew_at = 2.0 / 3.0;
    cfg.retry_base = 60;
    cfg.retry_max = 3600;
    t = agt_sched_lifetime(&cfg, pol, nb, na, 0.0);
    assert_true(t >= nb + 59 * 86400 && t <= nb + 61 * 86400);
    /* Jitter moves it later by at most 1% of the lifetime. */
    assert_true(agt_sched_lifetime(&cfg, pol, nb, na, 0.999) - t <= 90 * 864);
    /* A renew_at past the policy's latest point is clamped into it. */
    cfg.renew_at = 0.99;
    assert_true(agt_sched_lifetime(&cfg, pol, nb, na, 0.0) <
                nb + (time_t)(0.99 * 90 * 86400));
    assert_int_equal(agt_sched_backoff(&cfg, 1), 60);
    assert_int_equal(agt_sched_backoff(&cfg, 2), 120);
    assert_int_equal(agt_sched_backoff(&cfg, 4), 480);
    assert_int_equal(agt_sched_backoff(&cfg, 30), 3600);
    pol_free(pol);
}

/* A message's body as the receiver parses it. */
static csa_err ipc_body(csa_ipc_out *o, csa_ipc_msg *m)
{
    return csa_ipc_parse(o->buf + 4, o->len - 4, CSA_IPC_MAX, m);
}

/* A JWS request of the network process as the key holder judges it
 * (agt_net_jws_check), during job for the CA at JWS_CA.  Each refusal
 * below has a twin that differs in the one field and is accepted, so
 * that removing a check fails this test. */
#define JWS_CA "https://127.0.0.1:14000/dir"
#define JWS_ACCT "https://127.0.0.1:14000/acct/1"
#define JWS_ORDER_URL "https://127.0.0.1:14000/new-order"
#define JWS_NEW_ORDER                                                          \
    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}"

typedef struct {
    int job;
    bool known; /* the holder knows the account URL (JWS_ACCT) */
    uint64_t sel;
    const char *url, *nonce, *kid, *payload;
    uint8_t extra; /* a tag the request does not take, 0: none */
    csa_err want;
} jws_row;

static csa_err jws_check(const jws_row *row)
{
    agt_net_view v = {JWS_CA, row->job, row->known ? JWS_ACCT : NULL, "QUJD"};
    agt_net_jws_req r;
    csa_ipc_out o;
    csa_ipc_msg m;
    csa_err err;

    csa_ipc_begin(&o, AGT_NET_C_JWS);
    csa_ipc_put_u64(&o, AGT_NET_T_KEYSEL, row->sel);
    csa_ipc_put_str(&o, AGT_NET_T_URL, row->url);
    csa_ipc_put_str(&o, AGT_NET_T_NONCE, row->nonce);
    csa_ipc_put_str(&o, AGT_NET_T_KID, row->kid);
    csa_ipc_put_str(&o, AGT_NET_T_PAYLOAD, row->payload);
    if (row->extra != 0)
        csa_ipc_put_str(&o, row->extra, "x");
    assert_int_equal(ipc_body(&o, &m), CSA_OK);
    csa_err_clear();
    err = agt_net_jws_check(&v, &m, &r);
    if (err == CSA_OK) {
        /* what the holder builds the header from is what was sent */
        assert_int_equal(r.sel, row->sel);
        assert_string_equal(r.url, row->url);
        agt_net_jws_req_free(&r);
    } else {
        assert_null(r.url); /* nothing of a refused request is kept */
    }
    csa_ipc_out_free(&o);
    return err;
}

static void test_jws_check(void **state)
{
    const int order = AGT_NET_J_ORDER, reg = AGT_NET_J_REGISTER;
    const uint64_t acct = AGT_NET_KEY_ACCOUNT, cert = AGT_NET_KEY_CERT,
                   next = AGT_NET_KEY_NEW;
    const csa_err ok = CSA_OK, pol = CSA_ERR_POLICY, proto = CSA_ERR_PROTOCOL;
    static const char *const off_origin[] = {
        "https://127.0.0.2:14000/new-order",
        "https://127.0.0.1:14001/new-order",
        "http://127.0.0.1:14000/new-order",
        "https://127.0.0.1:14000.evil/x",
        "https://127.0.0.1:14000@evil/x",
        "https://127.0.0.1",
        "/new-order",
    };
    const jws_row rows[] = {
        /* an order's request: kid, nonce, a newOrder */
        {order, true, acct, JWS_ORDER_URL, "bm9uY2U", JWS_ACCT, JWS_NEW_ORDER,
         0, ok},
        {order, true, acct, "https://127.0.0.1:14000", "n-1_", JWS_ACCT, NULL,
         0, ok},
        /* (a) urls the holder does not take whatever their origin */
        {order, true, acct, "https://127.0.0.1:14000/a b", "n", JWS_ACCT, NULL,
         0, proto},
        {order, true, acct, "https://127.0.0.1:14000/a\nb", "n", JWS_ACCT, NULL,
         0, proto},
        /* (b) the kid: only the account URL the holder knows */
        {order, true, acct, JWS_ORDER_URL, "n",
         "https://127.0.0.1:14000/acct/2", JWS_NEW_ORDER, 0, pol},
        {order, true, acct, JWS_ORDER_URL, "n", JWS_ACCT "/", JWS_NEW_ORDER, 0,
         pol},
        {order, false, acct, JWS_ORDER_URL, "n", JWS_ACCT, JWS_NEW_ORDER, 0,
         pol},
        {AGT_NET_J_REVOKE, true, cert, JWS_ORDER_URL, "n", JWS_ACCT,
         "{\"certificate\":\"QUJD\"}", 0, pol},
        /* jwk only for newAccount, revokeCert by the certificate's key and
         * the keyChange inner JWS (which alone has no nonce) */
        {order, true, acct, JWS_ORDER_URL, "n", NULL, JWS_NEW_ORDER, 0, pol},
        {reg, false, acct, JWS_ORDER_URL, "n", NULL,
         "{\"termsOfServiceAgreed\":true}", 0, ok},
        {reg, false, acct, JWS_ORDER_URL, "n", NULL, NULL, 0, pol},
        {reg, false, acct, JWS_ORDER_URL, NULL, NULL,
         "{\"termsOfServiceAgreed\":true}", 0, pol},
        {AGT_NET_J_REVOKE, true, cert, JWS_ORDER_URL, "n", NULL,
         "{\"certificate\":\"QUJD\"}", 0, ok},
        {AGT_NET_J_REVOKE, true, cert, JWS_ORDER_URL, "n", NULL, NULL, 0, pol},
        {AGT_NET_J_KEYCHANGE, true, next, JWS_ORDER_URL, NULL, NULL,
         "{\"account\":\"" JWS_ACCT "\",\"oldKey\":{}}", 0, ok},
        {AGT_NET_J_KEYCHANGE, true, next, JWS_ORDER_URL, "n", NULL,
         "{\"account\":\"" JWS_ACCT "\",\"oldKey\":{}}", 0, pol},
        {order, true, acct, JWS_ORDER_URL, NULL, JWS_ACCT, JWS_NEW_ORDER, 0,
         pol},
        /* nonces: base64url only */
        {order, true, acct, JWS_ORDER_URL, "a+b/c=", JWS_ACCT, JWS_NEW_ORDER, 0,
         proto},
        {order, true, acct, JWS_ORDER_URL, "", JWS_ACCT, JWS_NEW_ORDER, 0,
         proto},
        /* (c) payloads that do not fit the job */
        {order, true, acct, JWS_ORDER_URL, "n", JWS_ACCT,
         "{\"status\":\"deactivated\"}", 0, pol},
        {AGT_NET_J_DEACTIVATE, true, acct, JWS_ORDER_URL, "n", JWS_ACCT,
         "{\"status\":\"deactivated\"}", 0, ok},
        {order, true, acct, JWS_ORDER_URL, "n", JWS_ACCT, "{\"csr\":\"QUJE\"}",
         0, pol},
        {order, true, acct, JWS_ORDER_URL, "n", JWS_ACCT, "{\"csr\":\"QUJD\"}",
         0, ok},
        {order, true, acct, JWS_ORDER_URL, "n", JWS_ACCT, "{\"x\":1", 0, pol},
        {order, true, acct, JWS_ORDER_URL, "n", JWS_ACCT, "[1]", 0, pol},
        {AGT_NET_J_DIRECTORY, true, acct, JWS_ORDER_URL, "n", JWS_ACCT, NULL, 0,
         pol},
        /* (d) a field the request does not take */
        {order, true, acct, JWS_ORDER_URL, "n", JWS_ACCT, JWS_NEW_ORDER,
         AGT_NET_T_IDENTITY, proto},
        {order, true, acct, JWS_ORDER_URL, "n", JWS_ACCT, JWS_NEW_ORDER,
         AGT_NET_T_JWS, proto},
        {order, true, acct, JWS_ORDER_URL, "n", JWS_ACCT, JWS_NEW_ORDER,
         AGT_NET_T_ALG, proto},
        {order, true, 3, JWS_ORDER_URL, "n", JWS_ACCT, JWS_NEW_ORDER, 0, proto},
    };
    jws_row row = rows[0];
    csa_ipc_out o;
    csa_ipc_msg m;
    agt_net_jws_req r;
    agt_net_view v = {JWS_CA, order, JWS_ACCT, NULL};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (jws_check(&rows[i]) != rows[i].want)
            fail_msg("row %zu (%s, job %d): expected %d: %s", i, rows[i].url,
                     rows[i].job, (int)rows[i].want, csa_errmsg());
    /* (a) a url off the CA's origin, in every request the holder signs */
    for (i = 0; i < sizeof(off_origin) / sizeof(off_origin[0]); i++) {
        row.url = off_origin[i];
        if (jws_check(&row) != CSA_ERR_POLICY ||
            strstr(csa_errmsg(), "not on the configured CA") == NULL)
            fail_msg("url %s was not refused as off the CA: %s", row.url,
                     csa_errmsg());
    }
    /* (d) a repeated field is refused before it is read; a missing url */
    csa_ipc_begin(&o, AGT_NET_C_JWS);
    csa_ipc_put_u64(&o, AGT_NET_T_KEYSEL, acct);
    csa_ipc_put_str(&o, AGT_NET_T_URL, JWS_ORDER_URL);
    csa_ipc_put_str(&o, AGT_NET_T_URL, "https://evil.example/x");
    assert_int_equal(ipc_body(&o, &m), CSA_ERR_PROTOCOL);
    csa_ipc_out_free(&o);
    csa_ipc_begin(&o, AGT_NET_C_JWS);
    csa_ipc_put_u64(&o, AGT_NET_T_KEYSEL, acct);
    csa_ipc_put_str(&o, AGT_NET_T_NONCE, "n");
    csa_ipc_put_str(&o, AGT_NET_T_KID, JWS_ACCT);
    assert_int_equal(ipc_body(&o, &m), CSA_OK);
    assert_int_equal(agt_net_jws_check(&v, &m, &r), CSA_ERR_PROTOCOL);
    csa_ipc_out_free(&o);
}

/* RFC 4226 Appendix D and RFC 6238 Appendix B, computed in the token. */
static void test_otp_vectors(void **state)
{
    static const char *const hotp[] = {"755224", "287082", "359152", "969429",
                                       "338314", "254676", "287922", "162583",
                                       "399871", "520489"};
    static const char seed20[] = "12345678901234567890";
    static const char seed32[] = "12345678901234567890123456789012";
    static const char seed64[] = "1234567890123456789012345678901234567890"
                                 "123456789012345678901234";
    tok_ctx *t = NULL;
    csa_secret s = {0};
    char code[16];
    unsigned long long c;

    (void)state;
    if (getenv("CSA_TOKEN_URI") == NULL)
        skip();
    assert_int_equal(
        tok_open(getenv("CSA_MODULE"), getenv("CSA_TOKEN_URI"), &t), CSA_OK);
    assert_int_equal(tok_login(t, getenv("CSA_PIN_FILE")), CSA_OK);
    csa_secret_set(&s, seed20, 20);
    assert_int_equal(tok_secret_import(t, "otp20", &s, false), CSA_OK);
    csa_secret_free(&s);
    for (c = 0; c < 10; c++) {
        assert_int_equal(agt_otp_code(t, "otp20", TOK_HMAC_SHA1, 6, c, code),
                         CSA_OK);
        assert_string_equal(code, hotp[c]);
    }
    /* TOTP at T = 59 s, 30 s steps: counter 1, 8 digits. */
    assert_int_equal(agt_otp_code(t, "otp20", TOK_HMAC_SHA1, 8, 59 / 30, code),
                     CSA_OK);
    assert_string_equal(code, "94287082");
    csa_secret_set(&s, seed32, 32);
    assert_int_equal(tok_secret_import(t, "otp32", &s, false), CSA_OK);
    csa_secret_free(&s);
    assert_int_equal(agt_otp_code(t, "otp32", TOK_HMAC_SHA256, 8, 1, code),
                     CSA_OK);
    assert_string_equal(code, "46119246");
    csa_secret_set(&s, seed64, 64);
    assert_int_equal(tok_secret_import(t, "otp64", &s, false), CSA_OK);
    csa_secret_free(&s);
    assert_int_equal(agt_otp_code(t, "otp64", TOK_HMAC_SHA512, 8, 1, code),
                     CSA_OK);
    assert_string_equal(code, "90693936");
    /* T = 1111111109: counter 37037036. */
    assert_int_equal(
        agt_otp_code(t, "otp64", TOK_HMAC_SHA512, 8, 1111111109ULL / 30, code),
        CSA_OK);
    assert_string_equal(code, "25091201");
    tok_close(t);
}

/* The key holder's wire format: what it accepts and what it refuses. */
static void test_ipc(void **state)
{
    static const uint8_t jws_tags[] = {AGT_NET_T_KEYSEL, AGT_NET_T_PAYLOAD, 0};
    const unsigned char *p;
    csa_ipc_out o;
    csa_ipc_msg m;
    uint64_t u = 0;
    int64_t i = 0;
    size_t len;
    char *str = NULL;
    unsigned char body[16];

    (void)state;
    csa_ipc_begin(&o, AGT_NET_C_JWS);
    csa_ipc_put_u64(&o, AGT_NET_T_KEYSEL, 2);
    csa_ipc_put_str(&o, AGT_NET_T_PAYLOAD, "a.b");
    csa_ipc_put_i64(&o, AGT_NET_T_START, -7);
    assert_int_equal(ipc_body(&o, &m), CSA_OK);
    assert_int_equal(m.type, AGT_NET_C_JWS);
    assert_int_equal(m.n, 3);
    assert_int_equal(csa_ipc_u64(&m, AGT_NET_T_KEYSEL, 2, true, &u), CSA_OK);
    assert_int_equal(u, 2);
    assert_int_equal(csa_ipc_u64(&m, AGT_NET_T_KEYSEL, 1, true, &u),
                     CSA_ERR_PROTOCOL);
    assert_int_equal(csa_ipc_i64(&m, AGT_NET_T_START, -10, 0, true, &i),
                     CSA_OK);
    assert_int_equal(i, -7);
    assert_int_equal(csa_ipc_str(&m, AGT_NET_T_PAYLOAD, 3, true, &str), CSA_OK);
    assert_string_equal(str, "a.b");
    free(str);
    /* too long for its reader, missing, or not a field it takes */
    assert_int_equal(csa_ipc_str(&m, AGT_NET_T_PAYLOAD, 2, true, &str),
                     CSA_ERR_PROTOCOL);
    assert_int_equal(csa_ipc_bytes(&m, AGT_NET_T_JWS, 10, true, &p, &len),
                     CSA_ERR_PROTOCOL);
    assert_int_equal(csa_ipc_only(&m, jws_tags), CSA_ERR_PROTOCOL);
    csa_ipc_out_free(&o);

    /* a repeated tag, a NUL in a string, a field past the end, tag 0 */
    csa_ipc_begin(&o, 1);
    csa_ipc_put_str(&o, 5, "x");
    csa_ipc_put_str(&o, 5, "y");
    assert_int_equal(ipc_body(&o, &m), CSA_ERR_PROTOCOL);
    assert_non_null(strstr(csa_errmsg(), "repeated"));
    csa_ipc_out_free(&o);
    csa_ipc_begin(&o, 1);
    csa_ipc_put(&o, 5, "x\0y", 3);
    assert_int_equal(ipc_body(&o, &m), CSA_OK);
    assert_int_equal(csa_ipc_str(&m, 5, 10, true, &str), CSA_ERR_PROTOCOL);
    csa_ipc_out_free(&o);
    memcpy(body, "\0\1\5\0\0\0\011abc", 10);
    assert_int_equal(csa_ipc_parse(body, 10, CSA_IPC_MAX, &m),
                     CSA_ERR_PROTOCOL);
    assert_non_null(strstr(csa_errmsg(), "past the end"));
    memcpy(body, "\0\1\0\0\0\0\0", 7);
    assert_int_equal(csa_ipc_parse(body, 7, CSA_IPC_MAX, &m), CSA_ERR_PROTOCOL);
    assert_int_equal(csa_ipc_parse(body, 1, CSA_IPC_MAX, &m), CSA_ERR_PROTOCOL);

    /* the holder's readers: a valid challenge request, then bad hints */
    csa_ipc_begin(&o, AGT_NET_C_CHALLENGE);
    csa_ipc_put_str(&o, AGT_NET_T_TYPE, "hotp-01");
    csa_ipc_put_str(&o, AGT_NET_T_URL, "https://127.0.0.1/c/1");
    csa_ipc_put_u64(&o, AGT_NET_T_DIGITS, 8);
    assert_int_equal(agt_net_check_request(o.buf + 4, o.len - 4), CSA_OK);
    csa_ipc_put_u64(&o, AGT_NET_T_PERIOD, 0);
    assert_int_equal(agt_net_check_request(o.buf + 4, o.len - 4),
                     CSA_ERR_PROTOCOL);
    csa_ipc_out_free(&o);
    csa_ipc_begin(&o, AGT_NET_C_CSR);
    csa_ipc_put_str(&o, AGT_NET_T_IDENTITY, "other");
    assert_int_equal(agt_net_check_request(o.buf + 4, o.len - 4),
                     CSA_ERR_PROTOCOL);
    csa_ipc_out_free(&o);
    csa_ipc_begin(&o, AGT_NET_J_ORDER);
    assert_int_equal(agt_net_check_request(o.buf + 4, o.len - 4),
                     CSA_ERR_PROTOCOL);
    csa_ipc_out_free(&o);
}

/* ---- the network process's sandbox (agt_sandbox.c, agt_hookrun.c) ---- */

/* In a child under the network process's allow list: what it must not
 * do (start a program, a process, write a file, open a raw socket) and
 * what it must (a thread, /etc/hosts, TCP to 127.0.0.1).  The exit code
 * names the first check that failed, NET_CHILD_OK none (not 0: that is
 * what /bin/true would exit with, had the execve worked). */
#define NET_CHILD_OK 42

static void *net_thread(void *arg)
{
    return arg;
}

static int net_child(int listener, const char *file)
{
    char *const argv[] = {"/bin/true", NULL}, *const envp[] = {NULL};
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    struct addrinfo hints = {0}, *ai = NULL;
    pthread_t t;
    pid_t pid;
    int s;

    if (getsockname(listener, (struct sockaddr *)&a, &alen) != 0)
        return 2;
    close(listener);
    if (agt_sandbox_network() != CSA_OK)
        return 3;
    if (execve(argv[0], argv, envp) == 0 || errno != EPERM)
        return 4; /* the deny list of the hooks allows this one */
    if (open(file, O_WRONLY | O_APPEND) >= 0 || errno != EPERM)
        return 5;
    if (socket(AF_PACKET, SOCK_RAW, 0) >= 0 || errno != EPERM)
        return 6;
#ifndef CSA_SANITIZE_BUILD /* LeakSanitizer's tracer needs clone */
    if ((pid = fork()) == 0)
        _exit(0);
    if (pid >= 0 || errno != EPERM)
        return 7;
#else
    (void)pid;
#endif
    if (pthread_create(&t, NULL, net_thread, NULL) != 0 ||
        pthread_join(t, NULL) != 0)
        return 8;
    hints.ai_family = AF_INET;
    if (getaddrinfo("localhost", NULL, &hints, &ai) != 0)
        return 9;
    freeaddrinfo(ai);
    if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(s, (struct sockaddr *)&a, alen) != 0 || write(s, "x", 1) != 1)
        return 10;
    close(s);
    return NET_CHILD_OK;
}

static int wait_child(pid_t pid)
{
    int st = -1;

    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_sandbox_network(void **state)
{
    struct sockaddr_in a = {0};
    struct pollfd p = {-1, POLLIN, 0};
    char file[300], c = 0;
    int l, s, fd;
    pid_t pid;

    (void)state;
    snprintf(file, sizeof(file), "%s/untouched", tmpdir);
    assert_true((fd = open(file, O_WRONLY | O_CREAT, 0600)) >= 0);
    close(fd);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true((l = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    p.fd = l;
    assert_true((pid = fork()) >= 0);
    if (pid == 0)
        _exit(net_child(l, file));
    assert_int_equal(wait_child(pid), NET_CHILD_OK);
    /* the child's connection arrived, with its byte */
    assert_int_equal(poll(&p, 1, 0), 1);
    assert_true((s = accept(l, NULL, NULL)) >= 0);
    assert_int_equal(read(s, &c, 1), 1);
    assert_int_equal(c, 'x');
    close(s);
    close(l);
}

/* Under the network process's Landlock ruleset: the CA bundle named to
 * it, the system's trust store and /etc/hosts are read; a PIN file next to
 * the bundle, the directory that holds both, and a new file are not.  On a
 * kernel without Landlock the call must still succeed (seccomp alone). */
static int files_child(const char *bundle, const char *pin, const char *dir)
{
    const char *readable[] = {NULL, bundle};
    char b[8], created[300];
    int fd, landlock = syscall(SYS_landlock_create_ruleset, NULL, 0,
                               LANDLOCK_CREATE_RULESET_VERSION) >= 1;

    if (agt_sandbox_files(readable, 2) != CSA_OK)
        return 3;
    if ((fd = open(bundle, O_RDONLY)) < 0 || read(fd, b, sizeof(b)) <= 0)
        return 4;
    close(fd);
    if ((fd = open("/etc/hosts", O_RDONLY)) < 0)
        return 5;
    close(fd);
    if (access("/etc/ssl/certs", R_OK) == 0 &&
        (fd = open("/etc/ssl/certs", O_RDONLY | O_DIRECTORY)) < 0)
        return 6;
    if (fd >= 0)
        close(fd);
    if (!landlock)
        return NET_CHILD_OK;
    if (open(pin, O_RDONLY) >= 0 || errno != EACCES)
        return 7;
    if (open(dir, O_RDONLY | O_DIRECTORY) >= 0 || errno != EACCES)
        return 8;
    snprintf(created, sizeof(created), "%s/created", dir);
    if (open(created, O_WRONLY | O_CREAT, 0600) >= 0 || errno != EACCES)
        return 9;
    return NET_CHILD_OK;
}

static void test_sandbox_files(void **state)
{
    char bundle[256], pin[256];
    pid_t pid;

    (void)state;
    snprintf(bundle, sizeof(bundle), "%s",
             write_cfg("bundle.pem", "-----BEGIN CERTIFICATE-----\n"));
    snprintf(pin, sizeof(pin), "%s", write_cfg("pin", "1234\n"));
    assert_true((pid = fork()) >= 0);
    if (pid == 0)
        _exit(files_child(bundle, pin, tmpdir));
    assert_int_equal(wait_child(pid), NET_CHILD_OK);
    /* the parent is not restricted */
    assert_int_equal(access(pin, R_OK), 0);
}

/* The hook runner's deny list: programs still start; namespaces not. */
static int hooks_child(void)
{
    csa_spawn_req req = {"/bin/true", NULL, NULL, 5, NULL, 0};
    char why[256];
    int st = -1;

    if (agt_sandbox_hooks() != CSA_OK)
        return 3;
    if (csa_spawn_run(&req, &st, why, sizeof(why)) != CSA_SPAWN_OK || st != 0)
        return 4;
    if (unshare(CLONE_NEWUSER) == 0 || errno != EPERM)
        return 5;
    return 0;
}

static void test_sandbox_hooks(void **state)
{
    pid_t pid;

    (void)state;
    assert_true((pid = fork()) >= 0);
    if (pid == 0)
        _exit(hooks_child());
    assert_int_equal(wait_child(pid), 0);
}

/* The runner's protocol, both ends: a hook's status, first line of
 * stdout and environment come back; a failure's sentence too. */
static void test_hookrun(void **state)
{
    char *env[] = {"CSAGENT_TOKEN=from the request", NULL}, out[64], why[256];
    const char *hook = write_cfg("hook.sh", "#!/bin/sh\n"
                                            "echo \"$CSAGENT_TOKEN/$HR_KEEP\"\n"
                                            "exit 3\n");
    const char *paths[] = {hook, "/nonexistent/hook", NULL};
    const char *keep[] = {"HR_KEEP", NULL};
    csa_spawn_req req = {hook, env, keep, 5, out, sizeof(out)};
    agt_hookrun hr;
    int st = -1;

    (void)state;
    assert_int_equal(chmod(hook, 0700), 0);
    assert_int_equal(setenv("HR_KEEP", "kept", 1), 0);
    assert_int_equal(agt_hookrun_start(&hr), CSA_OK);
    /* nothing runs before the allowed list */
    assert_int_equal(agt_hookrun_spawn(&hr, &req, &st, why, sizeof(why)),
                     CSA_SPAWN_START);
    assert_non_null(strstr(why, "refused"));
    assert_int_equal(agt_hookrun_set_allowed(&hr, paths, keep), CSA_OK);
    /* and the list is set once */
    assert_int_equal(agt_hookrun_set_allowed(&hr, paths, keep),
                     CSA_ERR_PROTOCOL);
    assert_int_equal(agt_hookrun_spawn(&hr, &req, &st, why, sizeof(why)),
                     CSA_SPAWN_OK);
    assert_int_equal(st, 3);
    assert_string_equal(out, "from the request/kept");
    req.path = "/nonexistent/hook";
    assert_int_equal(agt_hookrun_spawn(&hr, &req, &st, why, sizeof(why)),
                     CSA_SPAWN_START);
    assert_non_null(strstr(why, "/nonexistent/hook"));
    agt_hookrun_stop(&hr);
    /* a runner that is gone is an error that says so */
    assert_int_equal(agt_hookrun_spawn(&hr, &req, &st, why, sizeof(why)),
                     CSA_SPAWN_WAIT);
    assert_non_null(strstr(why, "hook runner"));
    assert_int_equal(agt_hookrun_set_allowed(&hr, paths, keep), CSA_ERR_IO);
    assert_int_equal(unsetenv("HR_KEEP"), 0);
}

/* What a network process taken over by a hostile CA could ask the runner:
 * a program that is not a configured hook (/bin/true ran before the
 * allowed list), a variable that makes an interpreter run code, a name of
 * the runner's environment that is not hook_env.  All are refused with
 * an answer, and the runner still runs the configured hook after them. */
static void test_hookrun_refuses(void **state)
{
    static const char *const bad_env[] = {
        "PERL5OPT=-Mevil",  "BASH_ENV=/tmp/evil", "LD_PRELOAD=/tmp/evil.so",
        "CSAGENT_TOKENX=1", "CSAGENT=1",          "PATH=/tmp"};
    char *env[] = {"CSAGENT_HOOK_METHOD=begin", NULL, NULL}, why[256];
    const char *hook = write_cfg("okhook.sh", "#!/bin/sh\nexit 0\n");
    const char *paths[] = {hook, NULL}, *keep[] = {"HR_KEEP", NULL};
    const char *bad_keep[] = {"HR_KEEP", "LD_PRELOAD", NULL};
    csa_spawn_req req = {"/bin/true", env, NULL, 5, NULL, 0};
    agt_hookrun_allowed a = {0};
    agt_hookrun hr;
    csa_ipc_out o;
    csa_ipc_msg m;
    size_t i;
    int st = -1;

    (void)state;
    assert_int_equal(chmod(hook, 0700), 0);
    assert_int_equal(agt_hookrun_start(&hr), CSA_OK);
    assert_int_equal(agt_hookrun_set_allowed(&hr, paths, keep), CSA_OK);
    /* a path that is not a hook, even one that would exit 0 */
    assert_int_equal(agt_hookrun_spawn(&hr, &req, &st, why, sizeof(why)),
                     CSA_SPAWN_START);
    assert_int_equal(st, -1);
    assert_non_null(strstr(why, "refused"));
    assert_non_null(strstr(why, "/bin/true"));
    req.path = hook;
    for (i = 0; i < sizeof(bad_env) / sizeof(*bad_env); i++) {
        env[1] = (char *)bad_env[i];
        st = -1;
        assert_int_equal(agt_hookrun_spawn(&hr, &req, &st, why, sizeof(why)),
                         CSA_SPAWN_START);
        assert_int_equal(st, -1);
        assert_non_null(strstr(why, "refused"));
    }
    env[1] = NULL;
    req.keep = bad_keep;
    assert_int_equal(agt_hookrun_spawn(&hr, &req, &st, why, sizeof(why)),
                     CSA_SPAWN_START);
    assert_non_null(strstr(why, "LD_PRELOAD"));
    /* the well-formed request still runs */
    req.keep = keep;
    env[1] = "CSAGENT_KEY_AUTH=a.b";
    assert_int_equal(agt_hookrun_spawn(&hr, &req, &st, why, sizeof(why)),
                     CSA_SPAWN_OK);
    assert_int_equal(st, 0);
    agt_hookrun_stop(&hr);

    /* the runner's side: a run before the list, then malformed entries */
    csa_ipc_begin(&o, AGT_HR_RUN);
    csa_ipc_put_str(&o, AGT_HR_T_PATH, hook);
    csa_ipc_put(&o, AGT_HR_T_ENV, "CSAGENT_TOKEN=1", 16);
    csa_ipc_put_u64(&o, AGT_HR_T_TIMEOUT, 0);
    csa_ipc_put_u64(&o, AGT_HR_T_OUTSIZE, 0);
    assert_int_equal(ipc_body(&o, &m), CSA_OK);
    assert_int_equal(agt_hookrun_serve(&a, &m, NULL), CSA_ERR_PROTOCOL);
    assert_false(a.set);
    csa_ipc_out_free(&o);
    csa_ipc_begin(&o, AGT_HR_ALLOW);
    csa_ipc_put(&o, AGT_HR_T_PATHS, hook, strlen(hook) + 1);
    assert_int_equal(ipc_body(&o, &m), CSA_OK);
    assert_int_equal(agt_hookrun_read_allowed(&m, &a), CSA_OK);
    assert_true(a.set);
    assert_int_equal(agt_hookrun_read_allowed(&m, &a), CSA_ERR_PROTOCOL);
    csa_ipc_out_free(&o);
    /* an environment entry without '=' */
    csa_ipc_begin(&o, AGT_HR_RUN);
    csa_ipc_put_str(&o, AGT_HR_T_PATH, hook);
    csa_ipc_put(&o, AGT_HR_T_ENV, "CSAGENT_TOKEN=1\0CSAGENT_KEY_AUTH\0", 33);
    csa_ipc_put_u64(&o, AGT_HR_T_TIMEOUT, 0);
    csa_ipc_put_u64(&o, AGT_HR_T_OUTSIZE, 0);
    assert_int_equal(ipc_body(&o, &m), CSA_OK);
    assert_int_equal(agt_hookrun_serve(&a, &m, NULL), CSA_ERR_PROTOCOL);
    csa_ipc_out_free(&o);
    agt_hookrun_allowed_free(&a);
}

/* The policy's view of each configured key type name. */
static void test_pol_key(void **state)
{
    static const struct {
        const char *name;
        pol_key key;
    } cases[] = {
        {NULL, {POL_KEY_EC, 256, NID_X9_62_prime256v1}},
        {"rsa3072", {POL_KEY_RSA, 3072, 0}},
        {"rsa-3072", {POL_KEY_RSA, 3072, 0}},
        {"rsa4096", {POL_KEY_RSA, 4096, 0}},
        {"rsa-4096", {POL_KEY_RSA, 4096, 0}},
        {"p256", {POL_KEY_EC, 256, NID_X9_62_prime256v1}},
        {"ec-p256", {POL_KEY_EC, 256, NID_X9_62_prime256v1}},
        {"p384", {POL_KEY_EC, 384, NID_secp384r1}},
        {"ec-p384", {POL_KEY_EC, 384, NID_secp384r1}},
        {"p521", {POL_KEY_EC, 521, NID_secp521r1}},
        {"ec-p521", {POL_KEY_EC, 521, NID_secp521r1}},
        {"ed25519", {POL_KEY_ED25519, 256, 0}},
        {"eddsa", {POL_KEY_ED25519, 256, 0}},
        {"rsa2048", {POL_KEY_OTHER, 0, 0}},
        {"P256", {POL_KEY_OTHER, 0, 0}},
        {"", {POL_KEY_OTHER, 0, 0}},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pol_key k = agt_pol_key(cases[i].name);

        if (k.type != cases[i].key.type || k.bits != cases[i].key.bits ||
            k.curve_nid != cases[i].key.curve_nid)
            fail_msg("%s: type %d bits %u curve %d", cases[i].name, (int)k.type,
                     k.bits, k.curve_nid);
    }
}

static int fits(int job, uint64_t sel, const char *payload, const char *csr)
{
    return agt_net_sign_fits(job, sel, payload, csr) == CSA_OK;
}

/* Each job gets only the signatures it needs (agt_net_sign_fits). */
static void test_sign_fits(void **state)
{
    const int order = AGT_NET_J_ORDER, acct = AGT_NET_KEY_ACCOUNT;

    (void)state;
    /* an order: reads, newOrder, newAuthz, answers, its own CSR */
    assert_true(fits(order, acct, NULL, NULL));
    assert_true(fits(order, acct, "{\"identifiers\":[]}", NULL));
    assert_true(fits(order, acct, "{\"identifier\":{}}", NULL));
    assert_true(fits(order, acct, "{}", NULL));
    assert_true(fits(order, acct, "{\"otp\":\"123456\"}", NULL));
    assert_true(fits(order, acct, "{\"csr\":\"QUJD\"}", "QUJD"));
    assert_false(fits(order, acct, "{\"csr\":\"QUJE\"}", "QUJD"));
    assert_false(fits(order, acct, "{\"csr\":\"QUJD\"}", NULL));
    /* ... but nothing that changes the account or revokes */
    assert_false(fits(order, acct, "{\"status\":\"deactivated\"}", NULL));
    assert_false(fits(order, acct, "{\"certificate\":\"x\"}", NULL));
    assert_false(fits(order, acct,
                      "{\"protected\":\"a\",\"payload\":\"b\","
                      "\"signature\":\"c\"}",
                      NULL));
    assert_false(fits(order, acct, "{\"contact\":[]}", NULL));
    assert_false(fits(order, acct, "{\"something\":1}", NULL));
    assert_false(fits(order, acct, "[1]", NULL));
    /* the other jobs */
    assert_true(
        fits(AGT_NET_J_DEACTIVATE, acct, "{\"status\":\"deactivated\"}", NULL));
    assert_false(
        fits(AGT_NET_J_DEACTIVATE, acct, "{\"status\":\"valid\"}", NULL));
    assert_true(fits(AGT_NET_J_REVOKE, AGT_NET_KEY_CERT,
                     "{\"certificate\":\"x\",\"reason\":4}", NULL));
    assert_false(fits(AGT_NET_J_REVOKE, acct, "{\"identifiers\":[]}", NULL));
    assert_true(fits(AGT_NET_J_REGISTER, acct,
                     "{\"contact\":[],\"termsOfServiceAgreed\":true}", NULL));
    assert_true(fits(AGT_NET_J_UPDATE, acct, "{\"contact\":[]}", NULL));
    assert_false(
        fits(AGT_NET_J_UPDATE, acct, "{\"onlyReturnExisting\":true}", NULL));
    assert_true(fits(AGT_NET_J_KEYCHANGE, AGT_NET_KEY_NEW,
                     "{\"account\":\"u\",\"oldKey\":{}}", NULL));
    assert_false(fits(AGT_NET_J_KEYCHANGE, AGT_NET_KEY_NEW, NULL, NULL));
    assert_false(fits(AGT_NET_J_ORDER, AGT_NET_KEY_NEW,
                      "{\"account\":\"u\",\"oldKey\":{}}", NULL));
    assert_false(fits(AGT_NET_J_DIRECTORY, acct, NULL, NULL));
    /* reads are the account's: not the new key's, not the certificate's */
    assert_false(fits(AGT_NET_J_REVOKE, AGT_NET_KEY_CERT, NULL, NULL));
    assert_true(fits(AGT_NET_J_REVOKE, acct, NULL, NULL));
    /* a payload that is not one JSON object */
    assert_false(fits(order, acct, "{\"identifiers\":[]", NULL));
    assert_false(fits(order, acct, "{}{}", NULL));
    assert_false(fits(order, acct, "", NULL));
}

/* The ephemeral record names only labels with the file's random suffix:
 * nothing else is ever destroyed by the reaper. */
static void test_eph_record(void **state)
{
    static const char *const file =
        "rel.eph-0123456789abcdef0123456789abcdef.ephemeral";
    static const struct {
        const char *text;
        bool ok;
    } rows[] = {
        {"csagent-ephemeral 1\nidentity rel\n"
         "label release.eph-0123456789abcdef0123456789abcdef\n",
         true},
        /* another suffix than the file's */
        {"csagent-ephemeral 1\nidentity rel\n"
         "label release.eph-ffffffffffffffffffffffffffffffff\n",
         false},
        /* a plain label: another program's objects */
        {"csagent-ephemeral 1\nidentity rel\nlabel release\n", false},
        {"csagent-ephemeral 1\nlabel release.eph-0123456789ABCDEF"
         "0123456789abcdef\n",
         false},
        {"csagent-ephemeral 2\nlabel release.eph-0123456789abcdef"
         "0123456789abcdef\n",
         false},
        {"csagent-ephemeral 1\nlabel release.eph-0123456789abcdef"
         "0123456789abcdef",
         false}, /* cut short */
        {"", false},
    };
    char who[64], label[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        who[0] = '\0';
        if (agt_eph_parse(rows[i].text, file, who, sizeof(who), label,
                          sizeof(label)) != rows[i].ok)
            fail_msg("row %zu: expected %s", i, rows[i].ok ? "ok" : "refusal");
    }
    assert_true(agt_eph_parse(rows[0].text, file, who, sizeof(who), label,
                              sizeof(label)));
    assert_string_equal(who, "rel");
    assert_string_equal(label, "release.eph-0123456789abcdef0123456789abcdef");
    assert_false(agt_eph_parse(rows[0].text, "rel.ephemeral", who, sizeof(who),
                               label, sizeof(label)));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_good),
        cmocka_unit_test(test_config_many),
        cmocka_unit_test(test_config_label_collisions),
        cmocka_unit_test(test_sched),
        cmocka_unit_test(test_jws_check),
        cmocka_unit_test(test_ipc),
        cmocka_unit_test(test_sign_fits),
        cmocka_unit_test(test_pol_key),
        cmocka_unit_test(test_eph_record),
        cmocka_unit_test(test_sandbox_network),
        cmocka_unit_test(test_sandbox_files),
        cmocka_unit_test(test_sandbox_hooks),
        cmocka_unit_test(test_hookrun),
        cmocka_unit_test(test_hookrun_refuses),
    };
    const struct CMUnitTest otp[] = {cmocka_unit_test(test_otp_vectors)};
    int rc;

    if (argc > 1 && !strcmp(argv[1], "otp"))
        return cmocka_run_group_tests_name("agent_otp", otp, NULL, NULL);
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    rc = cmocka_run_group_tests_name("agent_unit", unit, NULL, NULL);
    {
        char cmd[300];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
            rc = rc ? rc : 1;
    }
    return rc;
}
