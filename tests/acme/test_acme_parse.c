/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for what acme/ parses from the network: problem documents,
 * Link and Retry-After headers, RFC 3339 times, authorizations and
 * challenge selection, orders, statuses, and the RFC 9773 CertID.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme_int.h"

static void test_problem(void **state)
{
    static const char doc[] =
        "{\"type\":\"urn:ietf:params:acme:error:malformed\","
        "\"detail\":\"Some of the identifiers requested were rejected\","
        "\"status\":400,\"subproblems\":["
        "{\"type\":\"urn:ietf:params:acme:error:malformed\","
        "\"detail\":\"Invalid underscore in DNS name \\\"_example.org\\\"\","
        "\"identifier\":{\"type\":\"dns\",\"value\":\"_example.org\"}},"
        "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\","
        "\"detail\":\"This CA will not issue for \\\"example.net\\\"\","
        "\"identifier\":{\"type\":\"dns\",\"value\":\"example.net\"}}]}";
    acme_problem p;

    (void)state;
    assert_int_equal(acme_problem_parse(doc, strlen(doc), &p), CSA_OK);
    assert_string_equal(p.type, "urn:ietf:params:acme:error:malformed");
    assert_int_equal(p.status, 400);
    assert_non_null(strstr(p.summary, "malformed: Some of the identifiers"));
    assert_non_null(strstr(p.summary, "subproblem dns:_example.org: "
                                      "urn:ietf:params:acme:error:malformed"));
    assert_non_null(strstr(p.summary, "subproblem dns:example.net: "
                                      "urn:ietf:params:acme:error:"
                                      "rejectedIdentifier: This CA will not"));
    acme_problem_clear(&p);
    /* no detail, junk subproblems: still a summary */
    {
        static const char d2[] = "{\"type\":\"about:blank\","
                                 "\"subproblems\":[1,\"x\"]}";
        assert_int_equal(acme_problem_parse(d2, strlen(d2), &p), CSA_OK);
    }
    assert_string_equal(p.summary, "about:blank: (none)");
    acme_problem_clear(&p);
    {
        static const char d3[] = "{\"type\":\"x\",\"detail\":\"a\\nFAKE "
                                 "log line\\u001b[31m\"}";
        assert_int_equal(acme_problem_parse(d3, strlen(d3), &p), CSA_OK);
        assert_string_equal(p.summary, "x: a?FAKE log line?[31m");
        acme_problem_clear(&p);
    }
    assert_int_equal(acme_problem_parse("<html>", 6, &p), CSA_ERR_PROTOCOL);
    assert_int_equal(acme_problem_parse("[1]", 3, &p), CSA_ERR_PROTOCOL);
    assert_int_equal(acme_problem_parse("{} x", 4, &p), CSA_ERR_PROTOCOL);
}

static void test_link(void **state)
{
    char h1[] = "<https://ca/cert/1/alt/1>;rel=\"alternate\"";
    char h2[] = "<https://ca/dir>;rel=\"index\", </cert/1/alt/2>; "
                "rel=\"alternate\", <https://ca/issuer>;rel=up";
    char h3[] = "<https://ca/q,x>; title=\"a,rel=alternate\"; rel=\"next "
                "alternate\"";
    char *links[] = {h1, h2, h3}, *out[8] = {NULL};
    size_t n, i;

    (void)state;
    n = acme_link_find(links, 3, "alternate", "https://ca/cert/1", out, 8);
    assert_int_equal(n, 3);
    assert_string_equal(out[0], "https://ca/cert/1/alt/1");
    assert_string_equal(out[1], "https://ca/cert/1/alt/2"); /* resolved */
    assert_string_equal(out[2], "https://ca/q,x");
    for (i = 0; i < n; i++)
        free(out[i]);
    n = acme_link_find(links, 3, "up", "https://ca/cert/1", out, 8);
    assert_int_equal(n, 1);
    assert_string_equal(out[0], "https://ca/issuer");
    free(out[0]);
    /* the bound is honoured */
    n = acme_link_find(links, 3, "alternate", NULL, out, 1);
    assert_int_equal(n, 1);
    free(out[0]);
    assert_int_equal(acme_link_find(links, 3, "nope", NULL, out, 8), 0);
}

static void test_retry_after(void **state)
{
    /* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 */
    time_t t = 1445412480;

    (void)state;
    assert_int_equal(acme_retry_after_parse("120", t), 120);
    assert_int_equal(acme_retry_after_parse("0", t), 0);
    assert_int_equal(
        acme_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", t - 30), 30);
    assert_int_equal(
        acme_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", t + 30), 0);
    assert_int_equal(acme_retry_after_parse(NULL, t), -1);
    assert_int_equal(acme_retry_after_parse("", t), -1);
    assert_int_equal(acme_retry_after_parse("-5", t), -1);
    assert_int_equal(acme_retry_after_parse("12abc", t), -1);
    /* absurd values are clamped, never overflowed */
    assert_int_equal(acme_retry_after_parse("99999999999999999999", t),
                     ACME_RETRY_AFTER_MAX);
    assert_int_equal(acme_retry_after_parse("86401", t), ACME_RETRY_AFTER_MAX);
    assert_int_equal(acme_retry_after_parse("86400", t), 86400);
    assert_int_equal(acme_retry_after_parse("Fri, 31 Dec 9999 23:59:59 GMT", t),
                     ACME_RETRY_AFTER_MAX);
    assert_int_equal(acme_retry_after_parse("soon", t), -1);
}

static void test_time(void **state)
{
    (void)state;
    assert_int_equal(acme_time_parse("2025-01-02T03:04:05Z"), 1735787045);
    assert_int_equal(acme_time_parse("2025-01-02T03:04:05.123456Z"),
                     1735787045);
    assert_int_equal(acme_time_parse("2025-01-02T04:04:05+01:00"), 1735787045);
    assert_int_equal(acme_time_parse("2025-01-02T02:34:05-00:30"), 1735787045);
    assert_int_equal(acme_time_parse("2025-13-02T03:04:05Z"), -1);
    assert_int_equal(acme_time_parse("2025-01-02T03:04:05"), -1);
    assert_int_equal(acme_time_parse("2025-01-02T03:04:05Zjunk"), -1);
    assert_int_equal(acme_time_parse("yesterday"), -1);
    assert_int_equal(acme_time_parse(NULL), -1);
}

static const char authz_doc[] =
    "{\"status\":\"pending\",\"expires\":\"2030-01-01T00:00:00Z\","
    "\"identifier\":{\"type\":\"dns\",\"value\":\"example.org\"},"
    "\"challenges\":["
    "{\"type\":\"http-01\",\"url\":\"https://ca/c/1\",\"status\":\"invalid\","
    "\"token\":\"t1\",\"error\":{\"type\":\"urn:ietf:params:acme:error:"
    "connection\",\"detail\":\"refused\"}},"
    "{\"type\":\"totp-01\",\"url\":\"https://ca/c/2\",\"status\":\"pending\","
    "\"token\":\"t2\",\"digits\":8,\"algorithm\":\"SHA256\",\"period\":30},"
    "{\"type\":\"dns-01\",\"url\":\"https://ca/c/3\",\"status\":\"pending\","
    "\"token\":\"t3\"}]}";

static void test_authz_and_select(void **state)
{
    static const char *const prefs1[] = {"http-01", "dns-01", "totp-01"};
    static const char *const prefs2[] = {"totp-01", "dns-01"};
    static const char *const prefs3[] = {"cert-01"};
    json_object *obj = NULL, *hint = NULL, *d = NULL;
    acme_authz *a = calloc(1, sizeof(*a));
    const acme_challenge *ch;

    (void)state;
    assert_int_equal(acme_json_parse(authz_doc, strlen(authz_doc), &obj),
                     CSA_OK);
    assert_int_equal(acme_authz_from_json(obj, "https://ca/a/1", a), CSA_OK);
    assert_int_equal(a->status, ACME_STATUS_PENDING);
    assert_string_equal(a->identifier_value, "example.org");
    assert_int_equal(a->expires, 1893456000);
    assert_int_equal(a->n_challenges, 3);
    assert_non_null(strstr(a->challenges[0].error, "connection: refused"));
    /* invalid http-01 is skipped; the caller's order decides */
    ch = acme_challenge_select(a, prefs1, 3);
    assert_string_equal(ch->type, "dns-01");
    ch = acme_challenge_select(a, prefs2, 2);
    assert_string_equal(ch->type, "totp-01");
    /* extra members stay readable for the caller */
    assert_int_equal(acme_json_parse(ch->json, strlen(ch->json), &hint),
                     CSA_OK);
    assert_true(json_object_object_get_ex(hint, "digits", &d));
    assert_int_equal(json_object_get_int(d), 8);
    assert_string_equal(acme_json_str(hint, "algorithm"), "SHA256");
    assert_null(acme_challenge_select(a, prefs3, 1));
    json_object_put(hint);
    json_object_put(obj);
    acme_authz_free(a);
    acme_authz_free(NULL);
}

static void test_order(void **state)
{
    static const char doc[] =
        "{\"status\":\"processing\",\"identifiers\":[{\"type\":\"dns\","
        "\"value\":\"a.example\"},{\"type\":\"email\",\"value\":"
        "\"u@example\"}],\"authorizations\":[\"https://ca/a/1\","
        "\"https://ca/a/2\"],\"finalize\":\"https://ca/f/1\"}";
    json_object *obj = NULL;
    acme_order *o = calloc(1, sizeof(*o));

    (void)state;
    assert_int_equal(acme_json_parse(doc, strlen(doc), &obj), CSA_OK);
    assert_int_equal(acme_order_from_json(obj, "https://ca/o/1", o), CSA_OK);
    assert_int_equal(o->status, ACME_STATUS_PROCESSING);
    assert_int_equal(o->n_identifiers, 2);
    assert_string_equal(o->identifier_types[1], "email");
    assert_int_equal(o->n_authorizations, 2);
    assert_string_equal(o->finalize, "https://ca/f/1");
    assert_null(o->certificate);
    json_object_put(obj);
    /* no finalize URL: protocol error, not a crash */
    assert_int_equal(acme_json_parse("{\"status\":\"ready\"}", 18, &obj),
                     CSA_OK);
    assert_int_equal(acme_order_from_json(obj, "https://ca/o/1", o),
                     CSA_ERR_PROTOCOL);
    json_object_put(obj);
    acme_order_free(o);
    acme_order_free(NULL);
}

static void test_status(void **state)
{
    (void)state;
    assert_int_equal(acme_status_parse("valid"), ACME_STATUS_VALID);
    assert_int_equal(acme_status_parse("bogus"), ACME_STATUS_UNKNOWN);
    assert_string_equal(acme_status_name(ACME_STATUS_PROCESSING), "processing");
    assert_string_equal(acme_status_name((acme_status)99), "unknown");
    assert_string_equal(acme_status_name((acme_status)-1), "unknown");
}

/* RFC 9773 §4.1 example: AKI 69:88:5B:...:D4, serial 00:87:65:43:21. */
static void test_cert_id(void **state)
{
    static const unsigned char keyid[] = {
        0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
        0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    BIGNUM *bn = NULL;
    unsigned char *der = NULL;
    char *id = NULL;
    int len;

    (void)state;
    BN_hex2bn(&bn, "87654321");
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    akid->keyid = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(akid->keyid, keyid, sizeof(keyid));
    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, 0);
    X509_set_pubkey(x, k);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 60);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    len = i2d_X509(x, &der);
    assert_int_equal(acme_cert_id(der, (size_t)len, &id), CSA_OK);
    assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    free(id);
    assert_int_equal(acme_cert_id(der, 10, &id), CSA_ERR_INVALID);
    OPENSSL_free(der);
    BN_free(bn);
    AUTHORITY_KEYID_free(akid);
    X509_free(x);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_problem),          cmocka_unit_test(test_link),
        cmocka_unit_test(test_retry_after),      cmocka_unit_test(test_time),
        cmocka_unit_test(test_authz_and_select), cmocka_unit_test(test_order),
        cmocka_unit_test(test_status),           cmocka_unit_test(test_cert_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
