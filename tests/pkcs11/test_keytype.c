/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What each key type means, row by row: the names a configuration may use,
 * the name shown in `list`, the CKA_EC_PARAMS encodings recognised, the
 * default JWS alg and which JWS algs fit, and the messages for what is not
 * supported.  Written against the switches the key-type table replaced, so
 * that the table is held to the same behaviour.  No token needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tok_internal.h"

#define NO_SIG TOK_SIG__MAX

static const char *const jws_algs[] = {"ES256", "ES384", "ES512", "RS256",
                                       "RS384", "PS256", "PS384", "EdDSA",
                                       "HS256", "none",  "es256"};
#define NJWS (sizeof(jws_algs) / sizeof(jws_algs[0]))

typedef struct {
    tok_key_type type;
    const char *name, *alias, *display, *jws_default;
    /* CKA_EC_PARAMS the type is recognised by (DER OID, or the curve name
     * as a PrintableString); none for RSA. */
    unsigned char params[2][16];
    size_t params_len[2];
    tok_sig_alg jws[NJWS]; /* per jws_algs[]; NO_SIG: does not fit */
} type_case;

#define X NO_SIG
static const type_case cases[] = {
    {TOK_KEY_RSA3072,
     "rsa3072",
     "rsa-3072",
     "RSA 3072",
     "RS256",
     {{0}},
     {0, 0},
     {X, X, X, TOK_SIG_RSA_PKCS1_SHA256, TOK_SIG_RSA_PKCS1_SHA384,
      TOK_SIG_RSA_PSS_SHA256, TOK_SIG_RSA_PSS_SHA384, X, X, X, X}},
    {TOK_KEY_RSA4096,
     "rsa4096",
     "rsa-4096",
     "RSA 4096",
     "RS256",
     {{0}},
     {0, 0},
     {X, X, X, TOK_SIG_RSA_PKCS1_SHA256, TOK_SIG_RSA_PKCS1_SHA384,
      TOK_SIG_RSA_PSS_SHA256, TOK_SIG_RSA_PSS_SHA384, X, X, X, X}},
    {TOK_KEY_EC_P256,
     "p256",
     "ec-p256",
     "EC P-256",
     "ES256",
     {{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}},
     {10, 0},
     {TOK_SIG_ECDSA_SHA256, X, X, X, X, X, X, X, X, X, X}},
    {TOK_KEY_EC_P384,
     "p384",
     "ec-p384",
     "EC P-384",
     "ES384",
     {{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}},
     {7, 0},
     {X, TOK_SIG_ECDSA_SHA384, X, X, X, X, X, X, X, X, X}},
    {TOK_KEY_EC_P521,
     "p521",
     "ec-p521",
     "EC P-521",
     "ES512",
     {{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}},
     {7, 0},
     {X, X, TOK_SIG_ECDSA_SHA512, X, X, X, X, X, X, X, X}},
    {TOK_KEY_ED25519,
     "ed25519",
     "eddsa",
     "Ed25519",
     "EdDSA",
     {{0x06, 0x03, 0x2b, 0x65, 0x70},
      {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'}},
     {5, 14},
     {X, X, X, X, X, X, X, TOK_SIG_EDDSA, X, X, X}},
};
#undef X
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void test_names(void **state)
{
    tok_key_type t;
    size_t i;

    (void)state;
    assert_int_equal(NCASES, TOK_KEY__MAX);
    for (i = 0; i < NCASES; i++) {
        const type_case *c = &cases[i];

        t = TOK_KEY__MAX;
        assert_int_equal(tok_key_type_parse(c->name, &t), CSA_OK);
        assert_int_equal(t, c->type);
        t = TOK_KEY__MAX;
        assert_int_equal(tok_key_type_parse(c->alias, &t), CSA_OK);
        assert_int_equal(t, c->type);
        assert_string_equal(tok_key_type_name(c->type), c->name);
        assert_string_equal(tok_key_display_name(c->type), c->display);
    }
    assert_string_equal(tok_key_type_name(TOK_KEY__MAX), "unknown");
    assert_int_equal(tok_key_type_parse("P256", &t), CSA_ERR_INVALID);
    assert_string_equal(csa_errmsg(),
                        "unknown key type 'P256' (expected rsa3072, rsa4096, "
                        "p256, p384, p521 or ed25519)");
    assert_int_equal(tok_key_type_parse("", &t), CSA_ERR_INVALID);
}

static void test_curves(void **state)
{
    static const unsigned char p256k1[] = {0x06, 0x05, 0x2b, 0x81,
                                           0x04, 0x00, 0x0a};
    static const unsigned char x25519[] = {0x06, 0x03, 0x2b, 0x65, 0x6e};
    tok_key_type t;
    size_t i, j;

    (void)state;
    for (i = 0; i < NCASES; i++) {
        for (j = 0; j < 2 && cases[i].params_len[j] > 0; j++) {
            t = TOK_KEY__MAX;
            assert_int_equal(
                tok_ec_curve_of(cases[i].params[j], cases[i].params_len[j], &t),
                CSA_OK);
            assert_int_equal(t, cases[i].type);
            /* A prefix of a known encoding is no curve. */
            assert_int_equal(tok_ec_curve_of(cases[i].params[j],
                                             cases[i].params_len[j] - 1, &t),
                             CSA_ERR_UNSUPPORTED);
        }
    }
    assert_int_equal(tok_ec_curve_of(p256k1, sizeof(p256k1), &t),
                     CSA_ERR_UNSUPPORTED);
    assert_string_equal(csa_errmsg(),
                        "the curve of this key (CKA_EC_PARAMS of 7 bytes) is "
                        "not supported (P-256, P-384, P-521, Ed25519)");
    assert_int_equal(tok_ec_curve_of(x25519, sizeof(x25519), &t),
                     CSA_ERR_UNSUPPORTED);
}

/* JWS algs need only the key's type and label: a tok_key with no token. */
static void test_jws(void **state)
{
    size_t i, j;

    (void)state;
    for (i = 0; i < NCASES; i++) {
        tok_key k = {.type = cases[i].type};

        snprintf(k.label, sizeof(k.label), "k%zu", i);
        assert_string_equal(tok_key_default_jws_alg(&k), cases[i].jws_default);
        for (j = 0; j < NJWS; j++) {
            tok_sig_alg alg = NO_SIG;
            csa_err err = tok_key_sig_for_jws(&k, jws_algs[j], &alg);

            if (cases[i].jws[j] == NO_SIG) {
                if (err == CSA_OK)
                    fail_msg("%s fits a %s key", jws_algs[j], cases[i].name);
                assert_int_equal(err, CSA_ERR_UNSUPPORTED);
                continue;
            }
            if (err != CSA_OK)
                fail_msg("%s, %s key: %s", jws_algs[j], cases[i].name,
                         csa_errmsg());
            assert_int_equal(alg, cases[i].jws[j]);
        }
    }
}

static void test_jws_message(void **state)
{
    tok_key k = {.type = TOK_KEY_EC_P384};
    tok_sig_alg alg;

    (void)state;
    snprintf(k.label, sizeof(k.label), "acct");
    assert_int_equal(tok_key_sig_for_jws(&k, "ES256", &alg),
                     CSA_ERR_UNSUPPORTED);
    assert_string_equal(csa_errmsg(),
                        "JWS algorithm ES256 does not fit the p384 key 'acct'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_curves),
        cmocka_unit_test(test_jws),
        cmocka_unit_test(test_jws_message),
    };

    return cmocka_run_group_tests_name("tok_keytype", tests, NULL, NULL);
}
