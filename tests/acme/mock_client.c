/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Failure paths and optional features against mock_ca.py (run_mock.sh):
 * Retry-After on 503 and rateLimited, bounded badNonce, size and content
 * type checks, newAuthz, ARI, polling through "processing", and repeats
 * after transient failures (counted by the mock, not timed).
 *   acme_mock_client BASE_URL CA_BUNDLE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include <curl/curl.h>
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

static const char *base, *bundle;
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
    /* one badNonce, then the retry with the nonce it carried succeeds */
    OK(acme_authz_get(c, url("/badnonce-once"), &a));
    acme_authz_free(a);
}

static size_t on_count(char *data, size_t size, size_t nmemb, void *ud)
{
    char *buf = ud;
    size_t n = size * nmemb, have = strlen(buf);

    if (have + n < 32) {
        memcpy(buf + have, data, n);
        buf[have + n] = '\0';
    }
    return n;
}

/* How many requests the mock got for path (its GET /count/PATH). */
static long mock_count(const char *path)
{
    char buf[32] = "", u[512];
    CURL *h = curl_easy_init();
    CURLcode rc;

    snprintf(u, sizeof(u), "%s/count%s", base, path);
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_CAINFO, bundle);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_count);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, buf);
    rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK)
        FAIL("GET %s: %s", u, curl_easy_strerror(rc));
    return strtol(buf, NULL, 10);
}

#define EXPECT_COUNT(path, n)                                                  \
    do {                                                                       \
        long got_ = mock_count(path);                                          \
        if (got_ != (n))                                                       \
            FAIL("the mock got %ld requests for %s, expected %d", got_,        \
                 (path), (n));                                                 \
    } while (0)

/* A client of the mock's directory dir_path, registered as /acct/1. */
static acme_client *mock_client(const char *dir_path, long timeout_s,
                                long retry_base_ms, const csa_signer *key)
{
    acme_client_opts o = {.ca_bundle = bundle,
                          .timeout_s = timeout_s,
                          .max_retry_after_s = 3,
                          .cancel = &cancel_flag,
                          .retry_base_ms = retry_base_ms};
    acme_client *c = NULL;
    char dir[512];

    snprintf(dir, sizeof(dir), "%s%s", base, dir_path);
    o.directory_url = dir;
    OK(acme_client_new(&o, &c));
    OK(acme_client_set_account(c, key, url("/acct/1")));
    return c;
}

/* Safe requests outlast two failures: GET, HEAD newNonce, POST-as-GET,
 * finalize and "{}"; a lost answer to finalize, "{}" or revokeCert is
 * recognised by the CA's refusal of the repeat. */
static void transient_repeated(acme_client *c)
{
    const acme_directory *dir = NULL;
    acme_authz *a = NULL;
    acme_status st;
    acme_order *o = NULL;
    static const unsigned char der[] = {0x30, 0x03, 0x02, 0x01, 0x01};

    OK(acme_directory_get(c, &dir));
    EXPECT_COUNT("/flaky/500/2/dir", 3);
    OK(acme_authz_get(c, url("/flaky/500/2/authz"), &a));
    acme_authz_free(a);
    EXPECT_COUNT("/flaky/500/2/authz", 3);
    EXPECT_COUNT("/flaky/500/2/nonce", 3);
    OK(acme_order_get(c, url("/flaky/close/2/order-ready"), &o));
    EXPECT_COUNT("/flaky/close/2/order-ready", 3);
    OK(acme_order_finalize(c, o, der, sizeof(der)));
    if (o->status != ACME_STATUS_PROCESSING)
        FAIL("finalize left the order %s", acme_status_name(o->status));
    EXPECT_COUNT("/flaky/500/2/fin", 3);
    acme_order_free(o);
    /* the first finalize went through, its answer lost: orderNotReady */
    OK(acme_order_get(c, url("/order/lost"), &o));
    OK(acme_order_finalize(c, o, der, sizeof(der)));
    if (o->status != ACME_STATUS_VALID || o->certificate == NULL)
        FAIL("lost finalize left the order %s", acme_status_name(o->status));
    EXPECT_COUNT("/fin-lost", 2);
    acme_order_free(o);
    OK(acme_challenge_respond(c, url("/flaky/500/2/chal"), "{}"));
    EXPECT_COUNT("/flaky/500/2/chal", 3);
    OK(acme_challenge_respond(c, url("/chal-lost"), "{}"));
    EXPECT_COUNT("/chal-lost", 3); /* {}, {} refused, POST-as-GET */
    /* the challenge's status as the CA answers it: "valid" spares the
     * authorization poll */
    st = ACME_STATUS_UNKNOWN;
    OK(acme_challenge_answer(c, url("/chal-valid"), "{}", &st));
    if (st != ACME_STATUS_VALID)
        FAIL("a challenge answered valid read as %s", acme_status_name(st));
    OK(acme_challenge_answer(c, url("/chal-pending"), "{}", &st));
    if (st != ACME_STATUS_PENDING)
        FAIL("a challenge answered pending read as %s", acme_status_name(st));
    OK(acme_revoke(c, der, sizeof(der), -1, NULL));
    EXPECT_COUNT("/revoke-lost", 2);
}

/* Requests that could act twice are sent once; the others give up after
 * ACME_TRANSIENT_TRIES attempts. */
static void transient_once(acme_client *c, const csa_signer *key)
{
    acme_identifier id = {"dns", "mock.test"};
    acme_authz *a = NULL;
    acme_order *o = NULL;
    const acme_directory *dir = NULL;
    acme_client *c2;

    EXPECT_ERR(acme_order_new(c, &id, 1, NULL, &o), CSA_ERR_PROTOCOL,
               "with HTTP 500");
    if (strstr(csa_errmsg(), url("/flaky/500/9/new-order")) == NULL)
        FAIL("the error does not name the newOrder URL");
    EXPECT_COUNT("/flaky/500/9/new-order", 1);
    EXPECT_ERR(acme_challenge_respond(c, url("/flaky/500/9/chal-otp"),
                                      "{\"otp\":\"123456\"}"),
               CSA_ERR_PROTOCOL, "HTTP 500");
    EXPECT_COUNT("/flaky/500/9/chal-otp", 1);
    EXPECT_ERR(acme_authz_get(c, url("/flaky/500/9/authz"), &a),
               CSA_ERR_PROTOCOL, "after 4 attempts");
    EXPECT_COUNT("/flaky/500/9/authz", 4);
    c2 = mock_client("/flaky/close/9/dir", 0, 10, key);
    EXPECT_ERR(acme_directory_get(c2, &dir), CSA_ERR_NETWORK,
               "after 4 attempts");
    EXPECT_COUNT("/flaky/close/9/dir", 4);
    acme_client_free(c2);
    /* libcurl itself re-sends on a reused connection that died unanswered:
     * newOrder must not ride on one */
    c2 = mock_client("/dir-close", 0, 10, key);
    EXPECT_ERR(acme_order_new(c2, &id, 1, NULL, &o), CSA_ERR_NETWORK,
               "/flaky/close/9/new-order");
    EXPECT_COUNT("/flaky/close/9/new-order", 1);
    acme_client_free(c2);
}

/* A timeout is repeated; the cancel flag ends a backoff wait at once. */
static void transient_timeout(const csa_signer *key)
{
    acme_client *c = mock_client("/dir", 2, 10, key);
    acme_authz *a = NULL;
    double t0;

    OK(acme_authz_get(c, url("/flaky/hang/1/authz"), &a));
    acme_authz_free(a);
    EXPECT_COUNT("/flaky/hang/1/authz", 2);
    acme_client_free(c);
    /* the first wait is 15 to 45 s: only the flag can end it */
    c = mock_client("/dir", 0, 30000, key);
    cancel_flag = 0;
    signal(SIGALRM, on_alarm);
    alarm(1);
    t0 = now_s();
    EXPECT_ERR(acme_authz_get(c, url("/flaky/500/9/authz-cancel"), &a),
               CSA_ERR_INTERRUPTED, "stopped");
    if (now_s() - t0 > 10)
        FAIL("cancel took %.1f s", now_s() - t0);
    EXPECT_COUNT("/flaky/500/9/authz-cancel", 1);
    cancel_flag = 0;
    acme_client_free(c);
}

static void transient(const csa_signer *key)
{
    acme_client *c;

    cancel_flag = 0; /* raised by features() */
    c = mock_client("/flaky/500/2/dir", 0, 10, key);
    transient_repeated(c);
    transient_once(c, key);
    acme_client_free(c);
    transient_timeout(key);
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
    bundle = argv[2];
    snprintf(dir_url, sizeof(dir_url), "%s/dir", base);
    opts.directory_url = dir_url;
    opts.ca_bundle = argv[2];
    opts.max_retry_after_s = 3;
    opts.cancel = &cancel_flag;
    opts.retry_base_ms = 10;
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
    transient(soft_signer_get(k));
    acme_client_free(c);
    soft_signer_free(k);
    printf("mock scenarios passed\n");
    return 0;
}
