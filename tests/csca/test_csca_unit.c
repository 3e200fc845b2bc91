/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for csca's own primitives against published vectors:
 * RFC 4226 Appendix D (HOTP), RFC 6238 Appendix B (TOTP, SHA-1/256/512),
 * RFC 7638 §3.1 (JWK thumbprint), RFC 4648 (base32/base64url), and the
 * strictness of the base64url decoder; ES512 (RFC 7518 §3.4) through the
 * whole JWS check; the typed member getters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csca.h"

#include <openssl/core_names.h>

struct csca_ctx CS;

static void test_hotp_rfc4226(void **state)
{
    static const char *const want[] = {"755224", "287082", "359152", "969429",
                                       "338314", "254676", "287922", "162583",
                                       "399871", "520489"};
    const uint8_t *key = (const uint8_t *)"12345678901234567890";
    char out[16];
    int i;

    for (i = 0; i < 10; i++) {
        assert_int_equal(hotp_code(key, 20, "SHA1", (uint64_t)i, 6, out), 0);
        assert_string_equal(out, want[i]);
    }
}

static void test_totp_rfc6238(void **state)
{
    static const struct {
        uint64_t t;
        const char *alg, *code;
    } v[] = {
        {59, "SHA1", "94287082"},
        {59, "SHA256", "46119246"},
        {59, "SHA512", "90693936"},
        {1111111109, "SHA1", "07081804"},
        {1111111109, "SHA256", "68084774"},
        {20000000000ULL, "SHA512", "47863826"},
    };
    const char *seed64 = "1234567890123456789012345678901234567890"
                         "123456789012345678901234";
    char out[16];
    size_t i, klen;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        klen = strcmp(v[i].alg, "SHA1") == 0     ? 20
               : strcmp(v[i].alg, "SHA256") == 0 ? 32
                                                 : 64;
        assert_int_equal(hotp_code((const uint8_t *)seed64, klen, v[i].alg,
                                   v[i].t / 30, 8, out),
                         0);
        assert_string_equal(out, v[i].code);
    }
    assert_int_equal(hotp_code((const uint8_t *)seed64, 20, "MD5", 1, 6, out),
                     -1);
}

static void test_thumbprint_rfc7638(void **state)
{
    json_object *jwk = json_tokener_parse(
        "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM"
        "78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhM"
        "stn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvzq"
        "Y368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyr"
        "dkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFC"
        "ur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\","
        "\"kid\":\"2011-04-29\"}");
    char *t = jwk_thumbprint(jwk), why[200];
    EVP_PKEY *pk = jwk_to_pkey(jwk, why, sizeof(why));

    assert_non_null(t);
    assert_string_equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_non_null(pk);
    EVP_PKEY_free(pk);
    free(t);
    json_object_put(jwk);
}

static void test_jwk_refusals(void **state)
{
    static const char *const bad[] = {
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
        "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}",
        "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AA\"}",
        "{\"kty\":\"oct\",\"k\":\"AAAA\"}",
        ("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\","
         "\"d\":\"AAAA\"}"),
        "[]",
    };
    char why[200];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_object *j = json_tokener_parse(bad[i]);
        why[0] = '\0';
        assert_null(jwk_to_pkey(j, why, sizeof(why)));
        assert_true(why[0] != '\0');
        json_object_put(j);
    }
}

static void test_base_encodings(void **state)
{
    uint8_t *out = NULL;
    size_t n = 0;
    char *s;

    assert_int_equal(b32_dec("MZXW6YTBOI======", &out, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "foobar", 6);
    free(out);
    assert_int_equal(b32_dec("mzxw 6ytb oi", &out, &n), 0);
    assert_memory_equal(out, "foobar", 6);
    free(out);
    assert_int_equal(b32_dec("MZXW1", &out, &n), -1);
    s = b64url_enc((const uint8_t *)"\xfb\xff", 2);
    assert_string_equal(s, "-_8");
    free(s);
    assert_int_equal(b64url_dec("-_8", &out, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\xfb\xff", 2);
    free(out);
    assert_int_equal(b64url_dec("-_8=", &out, &n), -1); /* no padding */
    assert_int_equal(b64url_dec("a+b/", &out, &n), -1); /* std alphabet */
    assert_int_equal(b64url_dec("A", &out, &n), -1);
    assert_int_equal(b64url_dec("", &out, &n), 0);
    assert_int_equal(n, 0);
    free(out);
}

/* A fresh P-521 key and its public JWK (x, y of 66 bytes each). */
static EVP_PKEY *p521_key(json_object **jwk)
{
    EVP_PKEY *k = EVP_EC_gen("P-521");
    uint8_t pt[1 + 2 * 66];
    size_t n = 0;
    char *x, *y;

    assert_non_null(k);
    assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY,
                                                     pt, sizeof(pt), &n),
                     1);
    assert_int_equal(n, sizeof(pt));
    x = b64url_enc(pt + 1, 66);
    y = b64url_enc(pt + 67, 66);
    *jwk = json_object_new_object();
    json_object_object_add(*jwk, "kty", json_object_new_string("EC"));
    json_object_object_add(*jwk, "crv", json_object_new_string("P-521"));
    json_object_object_add(*jwk, "x", json_object_new_string(x));
    json_object_object_add(*jwk, "y", json_object_new_string(y));
    free(x);
    free(y);
    return k;
}

/* ES512 as JWS wants it: SHA-512, then r||s, each left-padded to 66. */
static void es512_sign(EVP_PKEY *k, const char *data, uint8_t out[132])
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    uint8_t der[160];
    const unsigned char *p = der;
    size_t n = sizeof(der);
    ECDSA_SIG *es;

    assert_int_equal(EVP_DigestSignInit(mc, NULL, EVP_sha512(), NULL, k), 1);
    assert_int_equal(
        EVP_DigestSign(mc, der, &n, (const uint8_t *)data, strlen(data)), 1);
    es = d2i_ECDSA_SIG(NULL, &p, (long)n);
    assert_non_null(es);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), out, 66), 66);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), out + 66, 66), 66);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(mc);
}

static void test_es512_sig_verify(void **state)
{
    json_object *jwk;
    EVP_PKEY *k = p521_key(&jwk), *pub;
    uint8_t sig[133] = {0};
    char why[200];

    pub = jwk_to_pkey(jwk, why, sizeof(why));
    assert_non_null(pub);
    es512_sign(k, "payload", sig);
    assert_int_equal(sig_verify(pub, "ES512", (const uint8_t *)"payload", 7,
                                sig, 132, why, sizeof(why)),
                     0);
    /* wrong lengths: one byte short, one byte long, the ES384 width */
    assert_int_equal(sig_verify(pub, "ES512", (const uint8_t *)"payload", 7,
                                sig, 131, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "132 bytes"));
    assert_int_equal(sig_verify(pub, "ES512", (const uint8_t *)"payload", 7,
                                sig, 133, why, sizeof(why)),
                     -1);
    assert_int_equal(sig_verify(pub, "ES512", (const uint8_t *)"payload", 7,
                                sig, 96, why, sizeof(why)),
                     -1);
    assert_int_equal(sig_verify(pub, "ES512", (const uint8_t *)"other", 5, sig,
                                132, why, sizeof(why)),
                     -1);
    /* the key fits ES512 only */
    assert_int_equal(sig_verify(pub, "ES256", (const uint8_t *)"payload", 7,
                                sig, 132, why, sizeof(why)),
                     -2);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(k);
    json_object_put(jwk);
}

/* A newAccount JWS signed with alg (ES512 over sig_len bytes of r||s). */
static char *es512_jws(EVP_PKEY *k, json_object *jwk, const char *url,
                       size_t sig_len)
{
    json_object *prot = json_object_new_object(), *body;
    char *nonce = nonce_new(), *p64, *y64, *input, *s64, *out;
    const char *ptext, *payload = "{\"termsOfServiceAgreed\":true}";
    uint8_t sig[133] = {0};

    json_object_object_add(prot, "alg", json_object_new_string("ES512"));
    json_object_object_add(prot, "nonce", json_object_new_string(nonce));
    json_object_object_add(prot, "url", json_object_new_string(url));
    json_object_object_add(prot, "jwk", json_object_get(jwk));
    ptext = json_object_to_json_string_ext(prot, JSON_C_TO_STRING_PLAIN);
    p64 = b64url_enc((const uint8_t *)ptext, strlen(ptext));
    y64 = b64url_enc((const uint8_t *)payload, strlen(payload));
    assert_true(asprintf(&input, "%s.%s", p64, y64) > 0);
    es512_sign(k, input, sig);
    s64 = b64url_enc(sig, sig_len);
    body = json_object_new_object();
    json_object_object_add(body, "protected", json_object_new_string(p64));
    json_object_object_add(body, "payload", json_object_new_string(y64));
    json_object_object_add(body, "signature", json_object_new_string(s64));
    out = strdup(json_object_to_json_string(body));
    json_object_put(body);
    json_object_put(prot);
    free(nonce);
    free(p64);
    free(y64);
    free(input);
    free(s64);
    return out;
}

static void test_es512_jws_check(void **state)
{
    json_object *jwk;
    EVP_PKEY *k = p521_key(&jwk);
    struct req rq = {.method = "POST",
                     .path = "/new-account",
                     .base = "https://127.0.0.1:1",
                     .ctype = "application/jose+json"};
    struct resp rs = {.retry_after = -1};
    struct jws j;
    char *body;

    body = es512_jws(k, jwk, "https://127.0.0.1:1/new-account", 132);
    rq.body = (const uint8_t *)body;
    rq.len = strlen(body);
    assert_int_equal(jws_check(&rq, &rs, JWS_JWK, &j), 0);
    assert_int_equal(rs.status, 0);
    assert_non_null(j.payload);
    jws_clear(&j);
    free(body);

    body = es512_jws(k, jwk, "https://127.0.0.1:1/new-account", 131);
    rq.body = (const uint8_t *)body;
    rq.len = strlen(body);
    assert_int_equal(jws_check(&rq, &rs, JWS_JWK, &j), -1);
    assert_int_equal(rs.status, 400);
    assert_non_null(strstr(rs.body, "132 bytes"));
    free(rs.body);
    free(body);
    EVP_PKEY_free(k);
    json_object_put(jwk);
}

/* The typed getters: absent, present, null, wrong type, non-object. */
static void test_member_getters(void **state)
{
    json_object *o = json_tokener_parse(
        "{\"s\":\"x\",\"n\":null,\"i\":5,\"a\":[1],\"b\":true}");
    json_object *v;
    const char *str;
    char why[200];

    assert_int_equal(member_str_why(o, "s", true, &str, why, sizeof(why)), 1);
    assert_string_equal(str, "x");
    assert_int_equal(member_str_why(o, "zz", false, &str, why, sizeof(why)), 0);
    assert_null(str);
    assert_int_equal(member_str_why(o, "zz", true, &str, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "\"zz\" is missing"));
    assert_int_equal(member_str_why(o, "n", false, &str, why, sizeof(why)), -1);
    assert_string_equal(why, "\"n\" must be a string, not null");
    assert_int_equal(member_str_why(o, "i", false, &str, why, sizeof(why)), -1);
    assert_string_equal(why, "\"i\" must be a string, not an integer");
    assert_int_equal(
        member_why(o, "a", json_type_array, true, &v, why, sizeof(why)), 1);
    assert_int_equal(
        member_why(o, "b", json_type_object, true, &v, why, sizeof(why)), -1);
    assert_null(v);
    /* a NULL or non-object container has no members */
    assert_int_equal(
        member_why(NULL, "s", json_type_string, false, &v, why, sizeof(why)),
        0);
    assert_int_equal(member_why(json_object_object_get(o, "a"), "s",
                                json_type_string, true, &v, why, sizeof(why)),
                     -1);
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hotp_rfc4226),
        cmocka_unit_test(test_totp_rfc6238),
        cmocka_unit_test(test_thumbprint_rfc7638),
        cmocka_unit_test(test_jwk_refusals),
        cmocka_unit_test(test_base_encodings),
        cmocka_unit_test(test_es512_sig_verify),
        cmocka_unit_test(test_es512_jws_check),
        cmocka_unit_test(test_member_getters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
