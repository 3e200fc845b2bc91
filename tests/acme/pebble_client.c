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
    acme_client_opts o = {.directory_url = url,
                          .ca_bundle = bundle,
                          .timeout_s = 20,
                          .poll_deadline_s = 60};
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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODE WORKDIR\n", argv[0]);
        return 2;
    }
    workdir = argv[2];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    if (strcmp(argv[1], "flow") == 0)
        return mode_flow();
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
