/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificate tests: leaves are built in memory with OpenSSL's X509 API (no
 * files), turned into facts and checked against the profile table; chains
 * are verified against in-memory anchors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "policy.h"

#define NOW ((time_t)1767225600) /* 2026-01-01T00:00:00Z */
#define DAY 86400L

enum { K_LEAF, K_OTHER, K_CA, K_P224, K_P521, K_RSA, K_ED25519, K__MAX };

struct fixture {
    EVP_PKEY *keys[K__MAX];
    X509 *ca; /* self-signed root, key K_CA */
};

/* How a test leaf differs from the good code-signing leaf.  For strings,
 * NULL keeps the default and "-" leaves the field out. */
struct spec {
    int key; /* 0 = K_LEAF */
    const char *ku, *eku, *bc, *san, *cn, *org;
    bool times;    /* use nb/life below instead of the default */
    long nb;       /* notBefore = NOW + nb */
    long na_minus; /* notAfter - notBefore */
};

static const char *pick(const char *v, const char *def)
{
    const char *r = v == NULL ? def : v;

    return strcmp(r, "-") == 0 ? NULL : r;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    if (value == NULL)
        return;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

static void set_name(X509_NAME *n, const char *cn, const char *org)
{
    if (cn != NULL)
        assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                                    (const unsigned char *)cn,
                                                    -1, -1, 0),
                         1);
    if (org != NULL)
        assert_int_equal(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                                    (const unsigned char *)org,
                                                    -1, -1, 0),
                         1);
}

/* A certificate for key, issued by issuer/ikey (self-signed if NULL). */
static X509 *make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
                       const char *cn, const char *org, time_t nb, time_t na)
{
    static long serial = 0x1000;
    X509 *x = X509_new();

    assert_non_null(x);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    set_name(X509_get_subject_name(x), cn, org);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
                                   : X509_get_subject_name(x));
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), nb));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), na));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    (void)ikey;
    return x;
}

static void sign_cert(X509 *x, EVP_PKEY *ikey)
{
    assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
}

static X509 *make_ca(EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
                     const char *cn)
{
    X509 *x = make_cert(key, issuer, ikey, cn, NULL, NOW - 10 * DAY,
                        NOW + 3650 * DAY);

    add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(x, issuer, NID_subject_key_identifier, "hash");
    sign_cert(x, ikey ? ikey : key);
    return x;
}

static X509 *make_leaf(const struct fixture *fx, const struct spec *s)
{
    time_t nb = s->times ? NOW + s->nb : NOW - 3600;
    time_t na = s->times ? nb + s->na_minus : nb + 90 * DAY;
    X509 *x = make_cert(fx->keys[s->key], fx->ca, fx->keys[K_CA],
                        pick(s->cn, "sign.example.com"),
                        pick(s->org, "Example Ltd"), nb, na);

    add_ext(x, fx->ca, NID_basic_constraints, pick(s->bc, "critical,CA:FALSE"));
    add_ext(x, fx->ca, NID_key_usage, pick(s->ku, "critical,digitalSignature"));
    add_ext(x, fx->ca, NID_ext_key_usage, pick(s->eku, "codeSigning"));
    add_ext(x, fx->ca, NID_subject_alt_name, pick(s->san, "-"));
    sign_cert(x, fx->keys[K_CA]);
    return x;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    fx->keys[K_LEAF] = EVP_EC_gen("P-256");
    fx->keys[K_OTHER] = EVP_EC_gen("P-256");
    fx->keys[K_CA] = EVP_EC_gen("P-256");
    fx->keys[K_P224] = EVP_EC_gen("P-224");
    fx->keys[K_P521] = EVP_EC_gen("P-521");
    fx->keys[K_RSA] = EVP_RSA_gen(2048);
    fx->keys[K_ED25519] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    for (int i = 0; i < K__MAX; i++) {
        if (fx->keys[i] == NULL)
            return -1;
    }
    fx->ca = make_ca(fx->keys[K_CA], NULL, NULL, "Test Root");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    for (int i = 0; i < K__MAX; i++)
        EVP_PKEY_free(fx->keys[i]);
    X509_free(fx->ca);
    free(fx);
    return 0;
}

/* DER SubjectPublicKeyInfo of key; caller frees with OPENSSL_free. */
static unsigned char *spki(EVP_PKEY *key, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);

    assert_true(n > 0);
    *len = (size_t)n;
    return der;
}

static pol_cert_facts *facts_of(X509 *x)
{
    pol_cert_facts *f = NULL;

    if (pol_cert_facts_from_x509(x, &f) != CSA_OK)
        fail_msg("facts: %s", csa_errmsg());
    return f;
}

static void test_facts(void **state)
{
    struct fixture *fx = *state;
    struct spec s = {.san = "DNS:sign.example.com,email:a@example.com,"
                            "IP:192.0.2.1",
                     .eku = "codeSigning,1.3.6.1.4.1.311.10.3.13"};
    X509 *x = make_leaf(fx, &s);
    pol_cert_facts *f = facts_of(x);

    assert_int_equal(f->key.type, POL_KEY_EC);
    assert_int_equal(f->key.bits, 256);
    assert_int_equal(f->key.curve_nid, NID_X9_62_prime256v1);
    assert_true(f->has_ku && f->ku_critical);
    assert_int_equal(f->ku_bits, KU_DIGITAL_SIGNATURE);
    assert_int_equal(f->n_eku, 2);
    assert_string_equal(f->eku_oids[0], "1.3.6.1.5.5.7.3.3");
    assert_string_equal(f->eku_oids[1], "1.3.6.1.4.1.311.10.3.13");
    assert_true(f->has_bc && !f->bc_ca);
    assert_string_equal(f->cn, "sign.example.com");
    assert_string_equal(f->org, "Example Ltd");
    assert_int_equal(f->n_san_dns, 1);
    assert_string_equal(f->san_dns[0], "sign.example.com");
    assert_int_equal(f->n_san_email, 1);
    assert_string_equal(f->san_email[0], "a@example.com");
    assert_int_equal(f->n_san_other, 1);
    assert_int_equal(f->not_before, NOW - 3600);
    assert_int_equal(f->not_after, NOW - 3600 + 90 * DAY);
    assert_non_null(f->serial_hex);
    assert_true(strlen(f->serial_hex) >= 4);
    pol_cert_facts_free(f);
    pol_cert_facts_free(NULL);
    X509_free(x);
}

static void test_facts_keys(void **state)
{
    static const struct {
        int key;
        pol_key_type type;
        unsigned bits;
        int nid;
    } rows[] = {
        {K_P224, POL_KEY_EC, 224, NID_secp224r1},
        {K_P521, POL_KEY_EC, 521, NID_secp521r1},
        {K_RSA, POL_KEY_RSA, 2048, 0},
        {K_ED25519, POL_KEY_ED25519, 256, 0},
    };
    struct fixture *fx = *state;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct spec s = {.key = rows[i].key};
        X509 *x = make_leaf(fx, &s);
        pol_cert_facts *f = facts_of(x);

        assert_int_equal(f->key.type, rows[i].type);
        assert_int_equal(f->key.bits, rows[i].bits);
        assert_int_equal(f->key.curve_nid, rows[i].nid);
        pol_cert_facts_free(f);
        X509_free(x);
    }
}

/* Facts refuse what a verifier could read two ways. */
static void test_facts_malformed(void **state)
{
    struct fixture *fx = *state;
    struct spec s = {0};
    X509 *x = make_leaf(fx, &s);
    pol_cert_facts *f = (pol_cert_facts *)1;

    /* a second extendedKeyUsage extension */
    add_ext(x, fx->ca, NID_ext_key_usage, "serverAuth");
    sign_cert(x, fx->keys[K_CA]);
    assert_int_equal(pol_cert_facts_from_x509(x, &f), CSA_ERR_INVALID);
    assert_null(f);
    X509_free(x);
    /* a second CN */
    x = make_leaf(fx, &s);
    set_name(X509_get_subject_name(x), "evil.test", NULL);
    sign_cert(x, fx->keys[K_CA]);
    assert_int_equal(pol_cert_facts_from_x509(x, &f), CSA_ERR_INVALID);
    assert_non_null(strstr(csa_errmsg(), "repeats CN"));
    X509_free(x);
    assert_int_equal(pol_cert_facts_from_x509(NULL, &f), CSA_ERR_INVALID);
}

static const char *const ALLOW_SERVERAUTH =
    "[profile.codesigning]\naccept_eku_serverauth = true\n";
static const char *const TEST_TLS = "[profile.test-tls]\nenabled = true\n";
static const char *const DOMAINS =
    "[profile.codesigning]\ndns_domains = *.example.org\n";
static const char *const LAX_KU =
    "[profile.codesigning]\nrequire_ku_critical = false\n";
static const char *const ED_OK = "[keys]\ntypes = rsa, ecdsa, ed25519\n";
static const char *const RSA2048 = "[keys]\nrsa_min_bits = 2048\n";

#define L460 (460 * DAY)

struct row {
    const char *name;
    const char *policy; /* NULL: pol_default() */
    pol_profile profile;
    struct spec s;
    const char *rule; /* NULL: allowed */
};

static const struct row rows[] = {
    {"good", NULL, POL_PROFILE_CODESIGNING, {0}, NULL},
    /* lifetime = notAfter - notBefore + 1 s; maximum 460 days */
    {"lifetime 460d - 1s",
     NULL,
     0,
     {.times = 1, .nb = -60, .na_minus = L460 - 2},
     NULL},
    {"lifetime 460d",
     NULL,
     0,
     {.times = 1, .nb = -60, .na_minus = L460 - 1},
     NULL},
    {"lifetime 460d + 1s",
     NULL,
     0,
     {.times = 1, .nb = -60, .na_minus = L460},
     "certificate.max_lifetime"},
    /* validity at now: notBefore <= now < notAfter */
    {"notBefore = now", NULL, 0, {.times = 1, .nb = 0, .na_minus = DAY}, NULL},
    {"not yet valid",
     NULL,
     0,
     {.times = 1, .nb = 1, .na_minus = DAY},
     "cert.not_yet_valid"},
    {"notAfter = now + 1",
     NULL,
     0,
     {.times = 1, .nb = -DAY, .na_minus = DAY + 1},
     NULL},
    {"expired (notAfter = now)",
     NULL,
     0,
     {.times = 1, .nb = -DAY, .na_minus = DAY},
     "cert.expired"},
    {"expired long ago",
     NULL,
     0,
     {.times = 1, .nb = -100 * DAY, .na_minus = DAY},
     "cert.expired"},
    /* public key */
    {"other key", NULL, 0, {.key = K_OTHER}, "cert.public_key"},
    /* keys by shape (expected key is the leaf's own, see run_row) */
    {"P-224", NULL, 0, {.key = K_P224}, "keys.ec_curves"},
    {"P-521", NULL, 0, {.key = K_P521}, NULL},
    {"RSA 2048", NULL, 0, {.key = K_RSA}, "keys.rsa_min_bits"},
    {"RSA 2048, min 2048", RSA2048, 0, {.key = K_RSA}, NULL},
    {"Ed25519", NULL, 0, {.key = K_ED25519}, "keys.types"},
    {"Ed25519 allowed", ED_OK, 0, {.key = K_ED25519}, NULL},
    /* keyUsage */
    {"KU not critical",
     NULL,
     0,
     {.ku = "digitalSignature"},
     "profile.require_ku_critical"},
    {"KU not critical, relaxed", LAX_KU, 0, {.ku = "digitalSignature"}, NULL},
    {"KU absent", NULL, 0, {.ku = "-"}, "cert.key_usage"},
    {"KU no digitalSignature",
     NULL,
     0,
     {.ku = "critical,nonRepudiation"},
     "cert.key_usage"},
    {"KU keyCertSign",
     NULL,
     0,
     {.ku = "critical,digitalSignature,keyCertSign"},
     "cert.key_usage"},
    {"KU cRLSign",
     NULL,
     0,
     {.ku = "critical,digitalSignature,cRLSign"},
     "cert.key_usage"},
    {"KU plus nonRepudiation",
     NULL,
     0,
     {.ku = "critical,digitalSignature,nonRepudiation"},
     NULL},
    /* extendedKeyUsage */
    {"EKU absent", NULL, 0, {.eku = "-"}, "cert.extended_key_usage"},
    {"EKU anyExtendedKeyUsage",
     NULL,
     0,
     {.eku = "codeSigning,anyExtendedKeyUsage"},
     "cert.extended_key_usage"},
    {"EKU serverAuth",
     NULL,
     0,
     {.eku = "codeSigning,serverAuth"},
     "profile.accept_eku_serverauth"},
    {"EKU serverAuth, relaxed",
     ALLOW_SERVERAUTH,
     0,
     {.eku = "codeSigning,serverAuth"},
     NULL},
    {"EKU clientAuth only",
     NULL,
     0,
     {.eku = "clientAuth"},
     "cert.extended_key_usage"},
    {"EKU plus MS lifetime signing",
     NULL,
     0,
     {.eku = "codeSigning,1.3.6.1.4.1.311.10.3.13"},
     NULL},
    /* basicConstraints */
    {"cA true", NULL, 0, {.bc = "critical,CA:TRUE"}, "cert.basic_constraints"},
    {"BC absent", NULL, 0, {.bc = "-"}, NULL},
    /* subject and SAN */
    {"CN differs", NULL, 0, {.cn = "other.example.com"}, "cert.subject_cn"},
    {"CN other case", NULL, 0, {.cn = "SIGN.example.com"}, NULL},
    {"CN absent, SAN has it",
     NULL,
     0,
     {.cn = "-", .san = "DNS:sign.example.com"},
     "cert.subject_cn"},
    {"SAN matches", NULL, 0, {.san = "DNS:sign.example.com"}, NULL},
    {"SAN extra name",
     NULL,
     0,
     {.san = "DNS:sign.example.com,DNS:evil.test"},
     "cert.san"},
    {"SAN IP",
     NULL,
     0,
     {.san = "DNS:sign.example.com,IP:192.0.2.1"},
     "cert.san"},
    {"SAN email on codesigning",
     NULL,
     0,
     {.san = "DNS:sign.example.com,email:a@example.com"},
     "cert.san"},
    {"identifier outside domains",
     DOMAINS,
     0,
     {.san = "DNS:sign.example.com"},
     "profile.dns_domains"},
    /* other profiles */
    {"test-tls disabled",
     NULL,
     POL_PROFILE_TEST_TLS,
     {.eku = "serverAuth,clientAuth", .ku = "digitalSignature"},
     "profile.enabled"},
    {"test-tls Pebble-like",
     TEST_TLS,
     POL_PROFILE_TEST_TLS,
     {.eku = "serverAuth,clientAuth",
      .san = "DNS:sign.example.com",
      .ku = "critical,digitalSignature,keyEncipherment"},
     NULL},
    {"test-tls codeSigning",
     TEST_TLS,
     POL_PROFILE_TEST_TLS,
     {.eku = "serverAuth,codeSigning"},
     "cert.extended_key_usage"},
};

/* The identifier the leaves are requested for. */
static const pol_identifier SIGN_ID[] = {{POL_ID_DNS, "sign.example.com"}};

static void run_row(const struct fixture *fx, const struct row *r)
{
    pol_policy *p = NULL;
    X509 *x = make_leaf(fx, &r->s);
    pol_cert_facts *f = facts_of(x);
    /* Rows about key shape expect the leaf's own key; others the token's. */
    int want = r->s.key == K_OTHER ? K_LEAF : r->s.key;
    pol_expect exp = {.cn = "sign.example.com", .ids = SIGN_ID, .n_ids = 1};
    unsigned char *der = spki(fx->keys[want], &exp.spki_len);
    pol_verdict v;
    bool ok;

    exp.spki_der = der;
    if (r->policy == NULL)
        p = pol_default();
    else if (pol_parse(r->policy, "row.ini", &p) != CSA_OK)
        fail_msg("%s: %s", r->name, csa_errmsg());
    ok = pol_check_cert(p, r->profile, f, &exp, NOW, &v);
    if (r->rule == NULL && !ok)
        fail_msg("%s: refused: %s", r->name, v.reason);
    if (r->rule != NULL && (ok || strcmp(v.rule, r->rule) != 0))
        fail_msg("%s: expected %s, got %s (%s)", r->name, r->rule,
                 ok ? "allowed" : v.rule, v.reason);
    OPENSSL_free(der);
    pol_cert_facts_free(f);
    X509_free(x);
    pol_free(p);
}

static void test_check_cert_table(void **state)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        run_row(*state, &rows[i]);
}

/* The verdict names what was expected and what was found. */
static void test_verdict_text(void **state)
{
    const struct row r = {
        "EKU serverAuth", NULL, 0, {.eku = "codeSigning,serverAuth"}, NULL};
    struct fixture *fx = *state;
    X509 *x = make_leaf(fx, &r.s);
    pol_cert_facts *f = facts_of(x);
    pol_policy *p = pol_default();
    pol_expect exp = {.cn = "sign.example.com", .ids = SIGN_ID, .n_ids = 1};
    unsigned char *der = spki(fx->keys[K_LEAF], &exp.spki_len);
    pol_verdict v;

    exp.spki_der = der;
    assert_false(pol_check_cert(p, POL_PROFILE_CODESIGNING, f, &exp, NOW, &v));
    assert_string_equal(v.expected, "no serverAuth");
    assert_string_equal(v.actual, "codeSigning, serverAuth");
    assert_non_null(strstr(v.reason, "profile.accept_eku_serverauth"));
    f->not_after = f->not_before + L460; /* lifetime 460 d + 1 s */
    f->eku_oids[1][0] = '9';             /* no longer serverAuth */
    assert_false(pol_check_cert(p, POL_PROFILE_CODESIGNING, f, &exp, NOW, &v));
    assert_string_equal(v.rule, "certificate.max_lifetime");
    assert_string_equal(v.expected, "<= 39744000 s");
    assert_string_equal(v.actual, "39744001 s");
    exp.spki_der = f->spki_der + 1; /* any other bytes */
    exp.spki_len = f->spki_len - 1;
    assert_false(pol_check_cert(p, POL_PROFILE_CODESIGNING, f, &exp, NOW, &v));
    assert_string_equal(v.rule, "cert.public_key");
    assert_int_equal(strncmp(v.expected, "SPKI sha256:", 12), 0);
    assert_int_equal(strlen(v.expected), 12 + 32);
    assert_string_not_equal(v.expected, v.actual);
    OPENSSL_free(der);
    pol_cert_facts_free(f);
    pol_free(p);
    X509_free(x);
}

static void test_clientauth(void **state)
{
    struct fixture *fx = *state;
    struct spec s = {
        .eku = "clientAuth", .cn = "Alice", .san = "email:alice@example.com"};
    const pol_identifier ids[] = {{POL_ID_EMAIL, "alice@example.com"}};
    pol_expect exp = {.cn = "Alice", .ids = ids, .n_ids = 1};
    unsigned char *der = spki(fx->keys[K_LEAF], &exp.spki_len);
    pol_policy *p = NULL;
    X509 *x = make_leaf(fx, &s);
    pol_cert_facts *f = facts_of(x);
    pol_verdict v;

    exp.spki_der = der;
    assert_int_equal(pol_parse("[profile.clientauth]\nemail_domains = "
                               "example.com\n",
                               "c.ini", &p),
                     CSA_OK);
    assert_true(pol_check_cert(p, POL_PROFILE_CLIENTAUTH, f, &exp, NOW, &v));
    exp.cn = "alice"; /* a user name compares exactly */
    assert_false(pol_check_cert(p, POL_PROFILE_CLIENTAUTH, f, &exp, NOW, &v));
    assert_string_equal(v.rule, "cert.subject_cn");
    exp.cn = "Alice";
    assert_false(pol_check_cert(p, POL_PROFILE_CODESIGNING, f, &exp, NOW, &v));
    assert_string_equal(v.rule, "cert.extended_key_usage");
    {
        const pol_identifier two[] = {{POL_ID_EMAIL, "alice@example.com"},
                                      {POL_ID_EMAIL, "bob@example.com"}};
        exp.ids = two;
        exp.n_ids = 2;
        assert_false(
            pol_check_cert(p, POL_PROFILE_CLIENTAUTH, f, &exp, NOW, &v));
        assert_string_equal(v.rule, "cert.san");
        assert_string_equal(v.expected, "bob@example.com");
    }
    OPENSSL_free(der);
    pol_cert_facts_free(f);
    X509_free(x);
    pol_free(p);
}

static void test_chain(void **state)
{
    struct fixture *fx = *state;
    EVP_PKEY *ikey = EVP_EC_gen("P-256"), *okey = EVP_EC_gen("P-256");
    X509 *inter = make_ca(ikey, fx->ca, fx->keys[K_CA], "Test Issuing CA");
    X509 *other = make_ca(okey, NULL, NULL, "Other Root");
    X509 *leaf = make_cert(fx->keys[K_LEAF], inter, ikey, "sign.example.com",
                           NULL, NOW - DAY, NOW + 30 * DAY);
    STACK_OF(X509) *chain = sk_X509_new_null(), *anchors = sk_X509_new_null();
    pol_verdict v;

    add_ext(leaf, inter, NID_key_usage, "critical,digitalSignature");
    /* codeSigning only: no X.509 purpose may get in the way */
    add_ext(leaf, inter, NID_ext_key_usage, "codeSigning");
    sign_cert(leaf, ikey);
    sk_X509_push(chain, leaf);
    sk_X509_push(chain, inter);
    sk_X509_push(anchors, fx->ca);
    assert_true(pol_verify_chain(chain, anchors, NOW, &v));
    assert_false(pol_verify_chain(chain, anchors, NOW + 31 * DAY, &v));
    assert_string_equal(v.rule, "chain.verify");
    assert_non_null(strstr(v.actual, "certificate has expired"));
    assert_false(pol_verify_chain(chain, anchors, NOW - 2 * DAY, &v));
    assert_non_null(strstr(v.actual, "not yet valid"));
    sk_X509_set(anchors, 0, other);
    assert_false(pol_verify_chain(chain, anchors, NOW, &v));
    assert_non_null(strstr(v.actual, "unable to get local issuer"));
    sk_X509_set(anchors, 0, inter); /* a pinned issuing CA */
    assert_true(pol_verify_chain(chain, anchors, NOW, &v));
    sk_X509_set(anchors, 0, fx->ca);
    sk_X509_pop(chain); /* intermediate missing */
    assert_false(pol_verify_chain(chain, anchors, NOW, &v));
    sk_X509_pop(anchors);
    assert_false(pol_verify_chain(chain, anchors, NOW, &v));
    assert_string_equal(v.rule, "ca.trust_anchors");
    sk_X509_pop(chain);
    assert_false(pol_verify_chain(chain, anchors, NOW, &v));
    assert_string_equal(v.rule, "chain.verify");
    sk_X509_free(chain);
    sk_X509_free(anchors);
    X509_free(leaf);
    X509_free(inter);
    X509_free(other);
    EVP_PKEY_free(ikey);
    EVP_PKEY_free(okey);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_facts),
        cmocka_unit_test(test_facts_keys),
        cmocka_unit_test(test_facts_malformed),
        cmocka_unit_test(test_check_cert_table),
        cmocka_unit_test(test_verdict_text),
        cmocka_unit_test(test_clientauth),
        cmocka_unit_test(test_chain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
