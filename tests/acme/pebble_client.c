/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration test against a live Pebble started by run_pebble.sh, which
 * exports PEBBLE_DIR_URL, PEBBLE_CA_BUNDLE, PEBBLE_ROOTS, CTS_MGMT_URL, ...
 * One scenario per invocation: pebble_client MODE WORKDIR.
 * Exit 0 = pass, 1 = fail, 77 = skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme.h"
#include "csa_log.h"
#include "csa_secret.h"
#include "soft_signer.h"

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                   \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n  last error: %s\n", csa_errmsg());                 \
        exit(1);                                                               \
    } while (0)
#define OK(expr)                                                               \
    do {                                                                       \
        csa_err e_ = (expr);                                                   \
        if (e_ != CSA_OK)                                                      \
            FAIL("%s returned %s", #expr, csa_errname(e_));                    \
    } while (0)
#define EXPECT_ERR(expr, want, substr)                                         \
    do {                                                                       \
        csa_err e_ = (expr);                                                   \
        if (e_ != (want))                                                      \
            FAIL("%s returned %s, expected %s", #expr, csa_errname(e_),        \
                 csa_errname(want));                                           \
        if (strstr(csa_errmsg(), (substr)) == NULL)                            \
            FAIL("message lacks \"%s\"", (substr));                            \
        printf("expected error: %s\n", csa_errmsg());                          \
    } while (0)

static const char *workdir;

static const char *env(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || v[0] == '\0')
        FAIL("%s is not set (run through run_pebble.sh)", name);
    return v;
}

static acme_client *client_for(const char *url, const char *bundle)
{
    /* what tests/acme/hook-challtestsrv.sh reads besides CSAGENT_* */
    static const char *const hook_env[] = {"CTS_MGMT_URL", "HOOK_LOG",
                                           "HOOK_CORRUPT", NULL};
    acme_client_opts o = {.directory_url = url,
                          .ca_bundle = bundle,
                          .timeout_s = 20,
                          .poll_deadline_s = 60,
                          .hook_env = hook_env};
    acme_client *c = NULL;

    OK(acme_client_new(&o, &c));
    return c;
}

static acme_client *pebble_client(void)
{
    return client_for(env("PEBBLE_DIR_URL"), env("PEBBLE_CA_BUNDLE"));
}

static soft_signer *signer(const char *alg)
{
    soft_signer *s = NULL;

    OK(soft_signer_generate(alg, &s));
    return s;
}

static void register_account(acme_client *c, const csa_signer *key)
{
    static const char *const contact[] = {"mailto:ops@example.com"};
    acme_account_opts o = {
        .contact = contact, .n_contact = 1, .terms_agreed = 1};
    acme_account *a = NULL;

    OK(acme_client_set_account(c, key, NULL));
    OK(acme_account_register(c, &o, &a));
    if (a->status != ACME_STATUS_VALID || acme_client_kid(c) == NULL)
        FAIL("account is %s", acme_status_name(a->status));
    printf("account %s\n", a->url);
    acme_account_free(a);
}

/* A unique name per run: Pebble reuses authorizations across orders. */
static void domain_name(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "%s-%ld-%d.csagent.test", tag, (long)time(NULL),
             rand() % 100000);
}

/* DER CSR for domain, signed by key. */
static unsigned char *make_csr(EVP_PKEY *key, const char *domain, int *len)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    char san[300];
    unsigned char *der = NULL;

    snprintf(san, sizeof(san), "DNS:%s", domain);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)domain, -1, -1, 0);
    X509_REQ_set_subject_name(req, name);
    X509_REQ_set_pubkey(req, key);
    sk_X509_EXTENSION_push(
        exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
    X509_REQ_add_extensions(req, exts);
    if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
        FAIL("cannot sign the CSR");
    *len = i2d_X509_REQ(req, &der);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return der;
}

/* Order for domain, solve every authz with the hook, finalize, wait. */
static acme_order *issue(acme_client *c, const char *domain, EVP_PKEY *key,
                         const char *hook)
{
    static const char *const prefs[] = {"tls-alpn-01", "http-01", "dns-01"};
    acme_identifier id = {"dns", domain};
    acme_order *o = NULL;
    acme_authz *pre = NULL;
    unsigned char *csr;
    size_t i;
    int len = 0;

    /* pre-authorization where offered; Pebble does not offer newAuthz */
    csa_err e = acme_new_authz(c, &id, &pre);
    if (e != CSA_OK && e != CSA_ERR_UNSUPPORTED)
        FAIL("newAuthz failed");
    acme_authz_free(pre);
    OK(acme_order_new(c, &id, 1, NULL, &o));
    for (i = 0; i < o->n_authorizations; i++)
        OK(acme_authz_solve_hook(c, o->authorizations[i], hook, prefs, 3));
    OK(acme_order_wait(c, o));
    if (o->status != ACME_STATUS_READY)
        FAIL("order is %s, not ready", acme_status_name(o->status));
    csr = make_csr(key, domain, &len);
    OK(acme_order_finalize(c, o, csr, (size_t)len));
    OPENSSL_free(csr);
    OK(acme_order_wait(c, o));
    if (o->status != ACME_STATUS_VALID || o->certificate == NULL)
        FAIL("order is %s after finalize", acme_status_name(o->status));
    return o;
}

static void write_file(const char *name, const char *text)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", workdir, name);
    f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        FAIL("cannot write %s", path);
}

static X509 *pem_first(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

    BIO_free(b);
    if (x == NULL)
        FAIL("no certificate in PEM");
    return x;
}

/* Subject CN of the first certificate in a PEM file. */
static void file_subject_cn(const char *path, char *buf, int n)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

    if (x == NULL || X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                               NID_commonName, buf, n) <= 0)
        FAIL("cannot read the CN of %s", path);
    X509_free(x);
    fclose(f);
}

/* Issuer CN of the last certificate of a PEM chain. */
static void chain_top_cn(const char *pem, char *buf, int n)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x, *last = NULL;

    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        X509_free(last);
        last = x;
    }
    BIO_free(b);
    if (last == NULL || X509_NAME_get_text_by_NID(X509_get_issuer_name(last),
                                                  NID_commonName, buf, n) <= 0)
        FAIL("chain without a top issuer CN");
    X509_free(last);
}

static unsigned char *leaf_der(const char *pem, int *len)
{
    X509 *x = pem_first(pem);
    unsigned char *der = NULL;

    *len = i2d_X509(x, &der);
    X509_free(x);
    return der;
}

static int mode_flow(void)
{
    acme_client *c = pebble_client();
    soft_signer *acct = signer("ES256"), *ck = signer("ES256");
    const char *hook = env("ACME_TEST_HOOK");
    char domain[200], alt_cn[256], top[256], *pem = NULL, *alt = NULL;
    unsigned char *der;
    acme_order *o;
    int len = 0;

    register_account(c, soft_signer_get(acct));
    domain_name(domain, sizeof(domain), "flow");
    o = issue(c, domain, soft_signer_pkey(ck), hook);
    OK(acme_cert_download(c, o->certificate, NULL, &pem));
    write_file("chain.pem", pem);
    /* the alternate chain, chosen by its top issuer's CN */
    file_subject_cn(env("PEBBLE_ROOTS_ALT"), alt_cn, sizeof(alt_cn));
    OK(acme_cert_download(c, o->certificate, alt_cn, &alt));
    chain_top_cn(alt, top, sizeof(top));
    if (strcmp(top, alt_cn) != 0)
        FAIL("preferred issuer %s gave a chain topped by %s", alt_cn, top);
    write_file("chain-alt.pem", alt);
    printf("issued %s; alternate chain tops out at %s\n", domain, top);
    /* revoke with the certificate key (jwk), then again: alreadyRevoked */
    der = leaf_der(pem, &len);
    OK(acme_revoke(c, der, (size_t)len, 1, soft_signer_get(ck)));
    EXPECT_ERR(acme_revoke(c, der, (size_t)len, -1, NULL), CSA_ERR_CA_PROBLEM,
               "alreadyRevoked");
    OPENSSL_free(der);
    free(pem);
    free(alt);
    acme_order_free(o);
    acme_client_free(c);
    soft_signer_free(acct);
    soft_signer_free(ck);
    return 0;
}

static void register_expect_existing(const csa_signer *key, const char *kid)
{
    acme_account_opts o = {.only_return_existing = 1};
    acme_client *c = pebble_client();

    OK(acme_client_set_account(c, key, NULL));
    OK(acme_account_register(c, &o, NULL));
    if (strcmp(acme_client_kid(c), kid) != 0)
        FAIL("onlyReturnExisting found %s, not %s", acme_client_kid(c), kid);
    acme_client_free(c);
}

static void register_expect_missing(const csa_signer *key)
{
    acme_account_opts o = {.only_return_existing = 1};
    acme_client *c = pebble_client();

    OK(acme_client_set_account(c, key, NULL));
    EXPECT_ERR(acme_account_register(c, &o, NULL), CSA_ERR_CA_PROBLEM,
               "accountDoesNotExist");
    if (strcmp(acme_client_last_problem(c),
               "urn:ietf:params:acme:error:accountDoesNotExist") != 0)
        FAIL("last problem is %s", acme_client_last_problem(c));
    acme_client_free(c);
}

static int mode_existing(void)
{
    static const char *const contact[] = {"mailto:a@example.com",
                                          "mailto:b@example.com"};
    acme_client *c = pebble_client();
    soft_signer *k = signer("ES256"), *other = signer("ES256");
    acme_account *a = NULL;
    acme_order *o = NULL;
    acme_identifier id = {"dns", "deactivated.csagent.test"};
    char kid[512];

    register_account(c, soft_signer_get(k));
    snprintf(kid, sizeof(kid), "%s", acme_client_kid(c));
    register_expect_existing(soft_signer_get(k), kid);
    register_expect_missing(soft_signer_get(other));
    OK(acme_account_update(c, contact, 2, &a));
    if (a->n_contact != 2 || strcmp(a->contact[1], contact[1]) != 0)
        FAIL("contact update not applied");
    acme_account_free(a);
    OK(acme_account_deactivate(c));
    EXPECT_ERR(acme_order_new(c, &id, 1, NULL, &o), CSA_ERR_CA_PROBLEM,
               "urn:ietf:params:acme:error:");
    acme_client_free(c);
    soft_signer_free(k);
    soft_signer_free(other);
    return 0;
}

static int mode_eab(void)
{
    acme_client *c = pebble_client();
    soft_signer *k = signer("ES256"), *k2 = signer("ES256");
    const acme_directory *dir = NULL;
    acme_account_opts o = {.terms_agreed = 1};
    csa_secret key = {0}, wrong = {0};
    static const char wrong_b64[] =
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    OK(acme_directory_get(c, &dir));
    if (!dir->external_account_required)
        FAIL("directory does not say externalAccountRequired");
    OK(acme_client_set_account(c, soft_signer_get(k), NULL));
    /* no EAB configured: refused before anything is sent */
    EXPECT_ERR(acme_account_register(c, &o, NULL), CSA_ERR_CONFIG,
               "requires External Account Binding");
    /* wrong MAC key: the CA's refusal is surfaced */
    OK(csa_secret_set(&wrong, wrong_b64, strlen(wrong_b64)));
    o.eab_kid = env("PEBBLE_EAB_KID");
    o.eab_key = &wrong;
    EXPECT_ERR(acme_account_register(c, &o, NULL), CSA_ERR_CA_PROBLEM,
               "the CA refused");
    if (strstr(csa_errmsg(), wrong_b64) != NULL)
        FAIL("the MAC key appears in the error message");
    /* right key, read from a file as the agent does */
    OK(csa_secret_read(env("PEBBLE_EAB_KEY_FILE"), &key));
    o.eab_key = &key;
    OK(acme_account_register(c, &o, NULL));
    printf("EAB account %s\n", acme_client_kid(c));
    acme_client_free(c);
    /* HS512 as well */
    c = pebble_client();
    o.eab_alg = "HS512";
    OK(acme_client_set_account(c, soft_signer_get(k2), NULL));
    OK(acme_account_register(c, &o, NULL));
    csa_secret_free(&key);
    csa_secret_free(&wrong);
    acme_client_free(c);
    soft_signer_free(k);
    soft_signer_free(k2);
    return 0;
}

static int mode_rollover(void)
{
    acme_client *c = pebble_client();
    soft_signer *old = signer("ES256"), *newk = signer("ES384");
    soft_signer *ck = signer("ES256");
    char domain[200], kid[512];
    acme_order *o;

    register_account(c, soft_signer_get(old));
    snprintf(kid, sizeof(kid), "%s", acme_client_kid(c));
    OK(acme_key_change(c, soft_signer_get(newk)));
    /* the old key no longer finds the account; the new one does */
    register_expect_missing(soft_signer_get(old));
    register_expect_existing(soft_signer_get(newk), kid);
    /* and a further order works with the new key */
    domain_name(domain, sizeof(domain), "rollover");
    o = issue(c, domain, soft_signer_pkey(ck), env("ACME_TEST_HOOK"));
    printf("issued %s after key rollover\n", domain);
    acme_order_free(o);
    acme_client_free(c);
    soft_signer_free(old);
    soft_signer_free(newk);
    soft_signer_free(ck);
    return 0;
}

static int mode_dns01(void)
{
    static const char *const prefs[] = {"dns-01"};
    acme_client *c = pebble_client();
    soft_signer *k = signer("ES256");
    char domain[200];
    acme_identifier id = {"dns", domain};
    acme_order *o = NULL;
    size_t i;

    register_account(c, soft_signer_get(k));
    domain_name(domain, sizeof(domain), "dns");
    OK(acme_order_new(c, &id, 1, NULL, &o));
    for (i = 0; i < o->n_authorizations; i++)
        OK(acme_authz_solve_hook(c, o->authorizations[i], env("ACME_TEST_HOOK"),
                                 prefs, 1));
    OK(acme_order_wait(c, o));
    if (o->status != ACME_STATUS_READY)
        FAIL("order is %s", acme_status_name(o->status));
    acme_order_free(o);
    acme_client_free(c);
    soft_signer_free(k);
    return 0;
}

/* The hook publishes a wrong key authorization: Pebble must refuse, and
 * the error must say why. */
static int mode_badkeyauth(void)
{
    static const char *const prefs[] = {"http-01"};
    acme_client *c = pebble_client();
    soft_signer *k = signer("ES256");
    char domain[200];
    acme_identifier id = {"dns", domain};
    acme_order *o = NULL;

    register_account(c, soft_signer_get(k));
    domain_name(domain, sizeof(domain), "bad");
    OK(acme_order_new(c, &id, 1, NULL, &o));
    setenv("HOOK_CORRUPT", "1", 1);
    EXPECT_ERR(acme_authz_solve_hook(c, o->authorizations[0],
                                     env("ACME_TEST_HOOK"), prefs, 1),
               CSA_ERR_CA_PROBLEM, "invalid");
    acme_order_free(o);
    acme_client_free(c);
    soft_signer_free(k);
    return 0;
}

static int mode_algs(void)
{
    static const char *const algs[] = {"ES256", "ES384", "ES512",
                                       "RS256", "PS256", "EdDSA"};
    size_t i;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        acme_client *c = pebble_client();
        soft_signer *k = signer(algs[i]);
        acme_account_opts o = {.terms_agreed = 1};
        csa_err e;

        OK(acme_client_set_account(c, soft_signer_get(k), NULL));
        e = acme_account_register(c, &o, NULL);
        printf("%s account: %s%s%s\n", algs[i], csa_errname(e), e ? " — " : "",
               e ? csa_errmsg() : "");
        /* Pebble 2.4 accepts these three; a refusal of the others must be
         * a clear problem document, not a transport or parse error */
        if ((i < 2 || i == 3) ? e != CSA_OK
                              : (e != CSA_OK && e != CSA_ERR_CA_PROBLEM))
            FAIL("%s", algs[i]);
        acme_client_free(c);
        soft_signer_free(k);
    }
    return 0;
}

/* A closed port on 127.0.0.1: bind an ephemeral one and close it. */
static int closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        FAIL("cannot find a closed port");
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int mode_unreachable(void)
{
    const acme_directory *dir = NULL;
    char url[128];
    acme_client *c;

    snprintf(url, sizeof(url), "https://127.0.0.1:%d/dir", closed_port());
    /* a refused connection carried no request: it is tried 4 times, after
     * waits kept short here */
    OK(acme_client_new(
        &(acme_client_opts){.directory_url = url, .retry_base_ms = 10}, &c));
    EXPECT_ERR(acme_directory_get(c, &dir), CSA_ERR_NETWORK,
               "cannot reach the CA");
    if (strstr(csa_errmsg(), "after 4 attempts") == NULL)
        FAIL("the refused connection was not tried 4 times");
    acme_client_free(c);
    /* plain http is refused outright */
    c = client_for("http://127.0.0.1:1/dir", NULL);
    EXPECT_ERR(acme_directory_get(c, &dir), CSA_ERR_INVALID, "non-HTTPS");
    acme_client_free(c);
    return 0;
}

static int mode_badtls(void)
{
    const acme_directory *dir = NULL;
    acme_client *c;

    /* Pebble's issuing root is not what signed its TLS certificate */
    c = client_for(env("PEBBLE_DIR_URL"), env("PEBBLE_ROOTS"));
    EXPECT_ERR(acme_directory_get(c, &dir), CSA_ERR_TLS, "does not verify");
    acme_client_free(c);
    c = client_for(env("PEBBLE_DIR_URL"), "/nonexistent/ca.pem");
    EXPECT_ERR(acme_directory_get(c, &dir), CSA_ERR_TLS, "/nonexistent/ca.pem");
    acme_client_free(c);
    return 0;
}

/* Pebble rejects about 5% of good nonces, at random: every one of 150
 * signed requests must still succeed.  run_pebble.sh reports how many
 * badNonce retries the debug log shows (not required: Pebble's draws are
 * random; acme_mock's /badnonce-once proves the retry every time). */
static int mode_nonces(void)
{
    acme_client *c = pebble_client();
    soft_signer *k = signer("ES256");
    acme_identifier id = {"dns", "nonces.csagent.test"};
    acme_order *o = NULL, *again = NULL;
    int i;

    register_account(c, soft_signer_get(k));
    OK(acme_order_new(c, &id, 1, NULL, &o));
    for (i = 0; i < 150; i++) {
        OK(acme_order_get(c, o->url, &again));
        acme_order_free(again);
    }
    acme_order_free(o);
    acme_client_free(c);
    soft_signer_free(k);
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(void);
} modes[] = {
    {"flow", mode_flow},     {"existing", mode_existing},
    {"eab", mode_eab},       {"rollover", mode_rollover},
    {"dns01", mode_dns01},   {"badkeyauth", mode_badkeyauth},
    {"algs", mode_algs},     {"unreachable", mode_unreachable},
    {"badtls", mode_badtls}, {"nonces", mode_nonces},
};

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODE WORKDIR\n", argv[0]);
        return 2;
    }
    workdir = argv[2];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcmp(argv[1], modes[i].name) == 0)
            return modes[i].fn();
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
