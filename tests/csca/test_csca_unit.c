/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for csca's own primitives against published vectors:
 * RFC 4226 Appendix D (HOTP), RFC 6238 Appendix B (TOTP, SHA-1/256/512),
 * RFC 7638 §3.1 (JWK thumbprint), RFC 4648 (base32/base64url), and the
 * strictness of the base64url decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csca.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hotp_rfc4226),
        cmocka_unit_test(test_totp_rfc6238),
        cmocka_unit_test(test_thumbprint_rfc7638),
        cmocka_unit_test(test_jwk_refusals),
        cmocka_unit_test(test_base_encodings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
