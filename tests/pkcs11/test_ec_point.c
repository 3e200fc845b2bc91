/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tok_ec_point_decode: CKA_EC_POINT bare or in a DER OCTET STRING, told
 * apart by the curve's exact lengths.  A table of good and bad inputs, and
 * real points whose first bytes look like an OCTET STRING header.  No
 * token needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "tok_internal.h"

typedef struct {
    const char *what;
    tok_key_type type;
    unsigned char head[6]; /* first bytes of the input */
    size_t head_len;
    size_t len;       /* whole input; the rest is 0x5a */
    size_t point_off; /* 0: bare; SIZE_MAX: must be refused */
} point_case;

#define BAD SIZE_MAX

static const point_case cases[] = {
    /* P-256: bare 65 bytes, wrapped 04 41 + 65. */
    {"P-256 bare, X starts 3f (looks like 04 3f: 63 bytes)",
     TOK_KEY_EC_P256,
     {0x04, 0x3f},
     2,
     65,
     0},
    {"P-256 bare, X starts 81 3e (looks like 04 81 3e)",
     TOK_KEY_EC_P256,
     {0x04, 0x81, 0x3e},
     3,
     65,
     0},
    {"P-256 bare, X starts 04 41",
     TOK_KEY_EC_P256,
     {0x04, 0x04, 0x41},
     3,
     65,
     0},
    {"P-256 bare, X starts 30", TOK_KEY_EC_P256, {0x04, 0x30, 0x41}, 3, 65, 0},
    {"P-256 bare, X starts 41", TOK_KEY_EC_P256, {0x04, 0x41}, 2, 65, 0},
    {"P-256 bare, X starts 00", TOK_KEY_EC_P256, {0x04, 0x00, 0x00}, 3, 65, 0},
    {"P-256 wrapped", TOK_KEY_EC_P256, {0x04, 0x41, 0x04}, 3, 67, 2},
    {"P-256 wrapped, X starts 3f",
     TOK_KEY_EC_P256,
     {0x04, 0x41, 0x04, 0x3f},
     4,
     67,
     2},
    {"P-256 wrapped, X starts 04 41",
     TOK_KEY_EC_P256,
     {0x04, 0x41, 0x04, 0x04, 0x41},
     5,
     67,
     2},
    {"P-256 empty", TOK_KEY_EC_P256, {0}, 0, 0, BAD},
    {"P-256 one byte short", TOK_KEY_EC_P256, {0x04}, 1, 64, BAD},
    {"P-256 one byte long", TOK_KEY_EC_P256, {0x04}, 1, 66, BAD},
    {"P-256 wrapped, wrong length byte",
     TOK_KEY_EC_P256,
     {0x04, 0x42, 0x04},
     3,
     67,
     BAD},
    {"P-256 wrapped, SEQUENCE tag",
     TOK_KEY_EC_P256,
     {0x30, 0x41, 0x04},
     3,
     67,
     BAD},
    {"P-256 wrapped, compressed inside",
     TOK_KEY_EC_P256,
     {0x04, 0x41, 0x02},
     3,
     67,
     BAD},
    {"P-256 bare, compressed marker", TOK_KEY_EC_P256, {0x02}, 1, 65, BAD},
    {"P-256 compressed point", TOK_KEY_EC_P256, {0x02}, 1, 33, BAD},
    {"P-256 BER long form 04 81 41",
     TOK_KEY_EC_P256,
     {0x04, 0x81, 0x41, 0x04},
     4,
     68,
     BAD},
    {"P-256 given a wrapped P-384 point",
     TOK_KEY_EC_P256,
     {0x04, 0x61, 0x04},
     3,
     99,
     BAD},
    /* P-384: bare 97, wrapped 04 61 + 97. */
    {"P-384 bare, X starts 5f (looks like 04 5f: 95 bytes)",
     TOK_KEY_EC_P384,
     {0x04, 0x5f},
     2,
     97,
     0},
    {"P-384 wrapped", TOK_KEY_EC_P384, {0x04, 0x61, 0x04}, 3, 99, 2},
    {"P-384 given a bare P-256 point", TOK_KEY_EC_P384, {0x04}, 1, 65, BAD},
    /* P-521: bare 133, wrapped 04 81 85 + 133. */
    {"P-521 bare, X starts 81 82 (looks like 04 81 82)",
     TOK_KEY_EC_P521,
     {0x04, 0x81, 0x82},
     3,
     133,
     0},
    {"P-521 bare, X starts 7f", TOK_KEY_EC_P521, {0x04, 0x7f}, 2, 133, 0},
    {"P-521 wrapped", TOK_KEY_EC_P521, {0x04, 0x81, 0x85, 0x04}, 4, 136, 3},
    {"P-521 short form header",
     TOK_KEY_EC_P521,
     {0x04, 0x85, 0x04},
     3,
     135,
     BAD},
    {"P-521 two-byte length",
     TOK_KEY_EC_P521,
     {0x04, 0x82, 0x00, 0x85, 0x04},
     5,
     137,
     BAD},
    {"P-521 wrapped, wrong length byte",
     TOK_KEY_EC_P521,
     {0x04, 0x81, 0x86, 0x04},
     4,
     136,
     BAD},
    /* Ed25519: 32 bytes, or 04 20 + 32. */
    {"Ed25519 bare, starts 04 1e (looks like 04 1e: 30 bytes)",
     TOK_KEY_ED25519,
     {0x04, 0x1e},
     2,
     32,
     0},
    {"Ed25519 bare, starts 04 20", TOK_KEY_ED25519, {0x04, 0x20}, 2, 32, 0},
    {"Ed25519 bare, starts d7", TOK_KEY_ED25519, {0xd7}, 1, 32, 0},
    {"Ed25519 wrapped", TOK_KEY_ED25519, {0x04, 0x20}, 2, 34, 2},
    {"Ed25519 wrapped, wrong tag", TOK_KEY_ED25519, {0x03, 0x20}, 2, 34, BAD},
    {"Ed25519 wrapped, wrong length",
     TOK_KEY_ED25519,
     {0x04, 0x21},
     2,
     34,
     BAD},
    {"Ed25519 31 bytes", TOK_KEY_ED25519, {0x04}, 1, 31, BAD},
    {"Ed25519 33 bytes", TOK_KEY_ED25519, {0x04, 0x1f}, 2, 33, BAD},
    {"Ed25519 given a P-256 point", TOK_KEY_ED25519, {0x04}, 1, 65, BAD},
};

static void test_table(void **state)
{
    unsigned char in[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const point_case *c = &cases[i];
        const unsigned char *pt = NULL;
        size_t ptlen = 0;
        csa_err err;

        assert_true(c->len <= sizeof(in) && c->head_len <= c->len);
        memset(in, 0x5a, sizeof(in));
        memcpy(in, c->head, c->head_len);
        err = tok_ec_point_decode(c->type, in, c->len, &pt, &ptlen);
        print_message("%-56s %s\n", c->what,
                      err == CSA_OK ? "ok" : csa_errmsg());
        if (c->point_off == BAD) {
            if (err == CSA_OK)
                fail_msg("%s: accepted", c->what);
            assert_int_equal(err, CSA_ERR_TOKEN);
            assert_non_null(strstr(csa_errmsg(), "CKA_EC_POINT"));
            assert_null(pt);
            continue;
        }
        if (err != CSA_OK)
            fail_msg("%s: %s", c->what, csa_errmsg());
        assert_ptr_equal(pt, in + c->point_off);
        assert_int_equal(ptlen, c->len - c->point_off);
    }
}

static void test_not_a_curve(void **state)
{
    static const unsigned char in[65] = {0x04};
    const unsigned char *pt = in;
    size_t ptlen = 1;

    (void)state;
    assert_int_equal(
        tok_ec_point_decode(TOK_KEY_RSA3072, in, sizeof(in), &pt, &ptlen),
        CSA_ERR_INVALID);
    assert_null(pt);
    assert_int_equal(ptlen, 0);
}

/* Software keys whose X starts with each byte that looks like a header
 * (0x3f, and 0x04 / 0x30 / 0x41 for good measure): both forms decode to
 * the very point OpenSSL encodes. */
static void test_real_points(void **state)
{
    static const unsigned char wanted[] = {0x3f, 0x04, 0x30, 0x41};
    size_t w, tries;

    (void)state;
    for (w = 0; w < sizeof(wanted); w++) {
        unsigned char pub[65], in[67];
        const unsigned char *pt = NULL;
        size_t len = 0, ptlen = 0;

        /* About 256 tries for each; 100000 never all miss. */
        for (tries = 0; tries < 100000; tries++) {
            EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

            assert_non_null(k);
            assert_int_equal(
                EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                                sizeof(pub), &len),
                1);
            EVP_PKEY_free(k);
            if (len == 65 && pub[1] == wanted[w])
                break;
        }
        assert_int_equal(pub[1], wanted[w]);
        assert_int_equal(
            tok_ec_point_decode(TOK_KEY_EC_P256, pub, 65, &pt, &ptlen), CSA_OK);
        assert_int_equal(ptlen, 65);
        assert_memory_equal(pt, pub, 65);
        in[0] = 0x04;
        in[1] = 0x41;
        memcpy(in + 2, pub, 65);
        assert_int_equal(
            tok_ec_point_decode(TOK_KEY_EC_P256, in, 67, &pt, &ptlen), CSA_OK);
        assert_int_equal(ptlen, 65);
        assert_memory_equal(pt, pub, 65);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_not_a_curve),
        cmocka_unit_test(test_real_points),
    };

    return cmocka_run_group_tests_name("tok_ec_point", tests, NULL, NULL);
}
