/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Failure paths and optional features against mock_ca.py (run_mock.sh):
 * Retry-After on 503 and rateLimited, bounded badNonce, size and content
 * type checks, newAuthz, ARI and polling through "processing".
 *   acme_mock_client BASE_URL CA_BUNDLE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme.h"
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

static const char *base;
static volatile int cancel_flag;

static void on_alarm(int sig)
{
    (void)sig;
    cancel_flag = 1;
}
static char url_buf[512];

static const char *url(const char *path)
{
    snprintf(url_buf, sizeof(url_buf), "%s%s", base, path);
    return url_buf;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void retries(acme_client *c)
{
    acme_authz *a = NULL;
    double t0 = now_s();

    OK(acme_authz_get(c, url("/retry503"), &a));
    if (now_s() - t0 < 0.9)
        FAIL("503 with Retry-After: 1 was not waited for");
    acme_authz_free(a);
    OK(acme_authz_get(c, url("/ratelimited-short"), &a));
    acme_authz_free(a);
    t0 = now_s();
    EXPECT_ERR(acme_authz_get(c, url("/ratelimited-long"), &a),
               CSA_ERR_CA_PROBLEM, "rateLimited: come back tomorrow");
    if (now_s() - t0 > 5)
        FAIL("a day-long Retry-After was waited for");
    EXPECT_ERR(acme_authz_get(c, url("/badnonce"), &a), CSA_ERR_CA_PROBLEM,
               "badNonce: mock rejects every nonce (5)");
}

static void limits(acme_client *c)
{
    acme_authz *a = NULL;

    EXPECT_ERR(acme_authz_get(c, url("/huge"), &a), CSA_ERR_PROTOCOL,
               "larger than 1048576 bytes");
    EXPECT_ERR(acme_authz_get(c, url("/html"), &a), CSA_ERR_PROTOCOL,
               "text/html, expected application/json");
}

static void features(acme_client *c)
{
    acme_identifier id = {"dns", "mock.test"};
    acme_authz *a = NULL;
    acme_order *o = NULL;
    double t0;

    OK(acme_new_authz(c, &id, &a));
    if (strcmp(a->url, url("/authz/pre")) != 0 ||
        a->status != ACME_STATUS_VALID)
        FAIL("newAuthz gave %s (%s)", a->url, acme_status_name(a->status));
    acme_authz_free(a);
    OK(acme_order_get(c, url("/order/slow"), &o));
    if (o->status != ACME_STATUS_PROCESSING || o->retry_after != 1)
        FAIL("order is %s, Retry-After %ld", acme_status_name(o->status),
             o->retry_after);
    t0 = now_s();
    OK(acme_order_wait(c, o));
    if (o->status != ACME_STATUS_VALID || o->certificate == NULL ||
        now_s() - t0 < 1.5)
        FAIL("order wait: %s after %.1f s", acme_status_name(o->status),
             now_s() - t0);
    acme_order_free(o);
    /* a cancel flag raised by a signal handler stops the polling */
    OK(acme_order_get(c, url("/order/forever"), &o));
    signal(SIGALRM, on_alarm);
    alarm(2);
    t0 = now_s();
    EXPECT_ERR(acme_order_wait(c, o), CSA_ERR_INTERRUPTED, "stopped");
    if (now_s() - t0 > 5)
        FAIL("cancel took %.1f s", now_s() - t0);
    acme_order_free(o);
}

/* A certificate with AKI and serial 0x87654321 (RFC 9773 §4.1). */
static unsigned char *ari_cert(int *len)
{
    static const unsigned char keyid[] = {
        0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
        0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    BIGNUM *bn = NULL;
    unsigned char *der = NULL;

    BN_hex2bn(&bn, "87654321");
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    akid->keyid = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(akid->keyid, keyid, sizeof(keyid));
    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, 0);
    X509_set_pubkey(x, k);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 60);
    X509_sign(x, k, EVP_sha256());
    *len = i2d_X509(x, &der);
    BN_free(bn);
    AUTHORITY_KEYID_free(akid);
    X509_free(x);
    EVP_PKEY_free(k);
    return der;
}

static void ari(acme_client *c)
{
    acme_renewal *r = NULL;
    acme_identifier ident = {"dns", "mock.test"};
    acme_order *o = NULL;
    unsigned char *der;
    char *id = NULL;
    int len = 0;

    der = ari_cert(&len);
    OK(acme_renewal_info(c, der, (size_t)len, &r));
    /* the renewal order names the certificate it replaces (RFC 9773 §5) */
    OK(acme_cert_id(der, (size_t)len, &id));
    OK(acme_order_new(c, &ident, 1, id, &o));
    if (strcmp(o->url, url("/order/new")) != 0)
        FAIL("order %s", o->url);
    acme_order_free(o);
    free(id);
    if (r->start != 1893553445 || r->end != 1893639845 ||
        r->retry_after != 21600 || r->explanation == NULL ||
        strcmp(r->explanation, "https://mock.test/why") != 0)
        FAIL("renewal info %ld..%ld retry %ld", (long)r->start, (long)r->end,
             r->retry_after);
    acme_renewal_free(r);
    OPENSSL_free(der);
}

int main(int argc, char **argv)
{
    acme_client_opts opts = {0};
    const acme_directory *dir = NULL;
    acme_client *c = NULL;
    soft_signer *k = NULL;
    acme_account_opts ao = {.terms_agreed = 1};
    char dir_url[512];

    if (argc != 3)
        return 2;
    base = argv[1];
    snprintf(dir_url, sizeof(dir_url), "%s/dir", base);
    opts.directory_url = dir_url;
    opts.ca_bundle = argv[2];
    opts.max_retry_after_s = 3;
    opts.cancel = &cancel_flag;
    OK(acme_client_new(&opts, &c));
    OK(acme_directory_get(c, &dir));
    if (dir->n_caa_identities != 2 || dir->new_authz == NULL ||
        dir->renewal_info == NULL || dir->website == NULL ||
        strcmp(dir->caa_identities[1], "example.org") != 0)
        FAIL("directory meta not parsed");
    OK(soft_signer_generate("ES256", &k));
    OK(acme_client_set_account(c, soft_signer_get(k), NULL));
    OK(acme_account_register(c, &ao, NULL));
    if (strcmp(acme_client_kid(c), url("/acct/1")) != 0)
        FAIL("kid %s", acme_client_kid(c));
    retries(c);
    limits(c);
    features(c);
    ari(c);
    acme_client_free(c);
    soft_signer_free(k);
    printf("mock scenarios passed\n");
    return 0;
}
