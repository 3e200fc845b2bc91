/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token layer tests against a throwaway SoftHSM token (with-token.sh sets
 * CSA_MODULE, CSA_TOKEN_URI, CSA_PIN_FILE).  argv[1] picks a group so
 * ctest can run the groups that need a fault-injecting module apart.
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
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509v3.h>

#include "csa_jwk.h"
#include "tok.h"

static const char *env_or_skip(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || *v == '\0') {
        fprintf(stderr, "%s is not set (run through with-token.sh)\n", name);
        exit(77);
    }
    return v;
}

static tok_ctx *open_logged_in(void)
{
    tok_ctx *t = NULL;

    assert_int_equal(
        tok_open(env_or_skip("CSA_MODULE"), env_or_skip("CSA_TOKEN_URI"), &t),
        CSA_OK);
    assert_int_equal(tok_login(t, env_or_skip("CSA_PIN_FILE")), CSA_OK);
    return t;
}

/* Verifies a token signature with OpenSSL and the public key the token
 * layer read. */
static void verify_sig(EVP_PKEY *pub, tok_sig_alg alg, const unsigned char *d,
                       size_t dlen, const unsigned char *sig, size_t siglen)
{
    const EVP_MD *md = NULL;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;

    switch (alg) {
    case TOK_SIG_ECDSA_SHA256:
    case TOK_SIG_RSA_PKCS1_SHA256:
    case TOK_SIG_RSA_PSS_SHA256:
        md = EVP_sha256();
        break;
    case TOK_SIG_ECDSA_SHA384:
    case TOK_SIG_RSA_PKCS1_SHA384:
    case TOK_SIG_RSA_PSS_SHA384:
        md = EVP_sha384();
        break;
    case TOK_SIG_ECDSA_SHA512:
        md = EVP_sha512();
        break;
    default:
        break;
    }
    assert_int_equal(EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pub), 1);
    if (alg == TOK_SIG_RSA_PSS_SHA256 || alg == TOK_SIG_RSA_PSS_SHA384) {
        assert_int_equal(
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    assert_int_equal(EVP_DigestVerify(mctx, sig, siglen, d, dlen), 1);
    EVP_MD_CTX_free(mctx);
}

/* Raw r||s to DER, independently of the token layer's own conversion. */
static unsigned char *raw_to_der(const unsigned char *raw, size_t len,
                                 size_t *derlen)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    unsigned char *der = NULL;

    ECDSA_SIG_set0(s, BN_bin2bn(raw, (int)len / 2, NULL),
                   BN_bin2bn(raw + len / 2, (int)len / 2, NULL));
    *derlen = (size_t)i2d_ECDSA_SIG(s, &der);
    ECDSA_SIG_free(s);
    return der;
}

static void check_attributes(tok_key *k)
{
    tok_obj_info info;

    assert_int_equal(tok_key_info(k, &info), CSA_OK);
    assert_int_equal(info.sensitive, 1);
    assert_int_equal(info.extractable, 0);
    assert_int_equal(info.always_sensitive, 1);
    assert_int_equal(info.never_extractable, 1);
    assert_int_equal(info.token, 1);
    assert_int_equal(info.private_, 1);
    /* The token must refuse CKA_VALUE / CKA_PRIVATE_EXPONENT. */
    assert_int_not_equal(tok_key_try_read_private(k), CSA_OK);
}

static void sign_and_verify(tok_key *k, tok_sig_alg alg, size_t width)
{
    static const unsigned char data[] = "code to be signed";
    unsigned char *sig = NULL, *der;
    size_t siglen = 0, derlen;
    EVP_PKEY *pub = NULL;
    int ec = alg <= TOK_SIG_ECDSA_SHA512;

    assert_int_equal(tok_key_public(k, &pub), CSA_OK);
    assert_int_equal(
        tok_sign(k, alg, TOK_ENC_DER, data, sizeof(data), &sig, &siglen),
        CSA_OK);
    verify_sig(pub, alg, data, sizeof(data), sig, siglen);
    free(sig);
    if (ec) {
        assert_int_equal(
            tok_sign(k, alg, TOK_ENC_RAW, data, sizeof(data), &sig, &siglen),
            CSA_OK);
        assert_int_equal(siglen, 2 * width);
        der = raw_to_der(sig, siglen, &derlen);
        verify_sig(pub, alg, data, sizeof(data), der, derlen);
        OPENSSL_free(der);
        free(sig);
    }
    EVP_PKEY_free(pub);
}

static void gen_check(tok_ctx *t, const char *label, tok_key_type type,
                      const tok_sig_alg *algs, size_t nalgs, size_t width)
{
    tok_key *k = NULL, *found = NULL;
    char *jwk = NULL, *jwk2 = NULL;
    size_t i;

    assert_int_equal(tok_key_generate(t, label, type, false, &k), CSA_OK);
    check_attributes(k);
    for (i = 0; i < nalgs; i++)
        sign_and_verify(k, algs[i], width);
    /* Found again by label, same key (same JWK). */
    assert_int_equal(tok_key_find(t, label, &found), CSA_OK);
    assert_int_equal(tok_key_get_type(found), type);
    assert_int_equal(tok_key_jwk(k, &jwk), CSA_OK);
    assert_int_equal(tok_key_jwk(found, &jwk2), CSA_OK);
    assert_string_equal(jwk, jwk2);
    free(jwk);
    free(jwk2);
    tok_key_free(found);
    tok_key_free(k);
}

static void test_keys_ec(void **state)
{
    static const tok_sig_alg p256[] = {TOK_SIG_ECDSA_SHA256};
    static const tok_sig_alg p384[] = {TOK_SIG_ECDSA_SHA384};
    static const tok_sig_alg p521[] = {TOK_SIG_ECDSA_SHA512};
    tok_ctx *t = open_logged_in();

    (void)state;
    gen_check(t, "t-p256", TOK_KEY_EC_P256, p256, 1, 32);
    gen_check(t, "t-p384", TOK_KEY_EC_P384, p384, 1, 48);
    gen_check(t, "t-p521", TOK_KEY_EC_P521, p521, 1, 66);
    tok_close(t);
}

static void test_keys_rsa(void **state)
{
    static const tok_sig_alg rsa[] = {
        TOK_SIG_RSA_PKCS1_SHA256, TOK_SIG_RSA_PKCS1_SHA384,
        TOK_SIG_RSA_PSS_SHA256, TOK_SIG_RSA_PSS_SHA384};
    tok_ctx *t = open_logged_in();

    (void)state;
    gen_check(t, "t-rsa3072", TOK_KEY_RSA3072, rsa, 4, 0);
    gen_check(t, "t-rsa4096", TOK_KEY_RSA4096, rsa, 2, 0);
    tok_close(t);
}

static void test_keys_ed25519(void **state)
{
    static const tok_sig_alg ed[] = {TOK_SIG_EDDSA};
    tok_ctx *t = open_logged_in();

    (void)state;
    gen_check(t, "t-ed25519", TOK_KEY_ED25519, ed, 1, 0);
    tok_close(t);
}

/* P-384 r or s has a leading zero byte about once in 128 signatures: the
 * raw encoding must still be full width every time. */
static void test_p384_padding(void **state)
{
    static const unsigned char data[] = "padding";
    tok_ctx *t = open_logged_in();
    tok_key *k = NULL;
    EVP_PKEY *pub = NULL;
    int i, short_parts = 0;

    (void)state;
    assert_int_equal(tok_key_generate(t, "t-pad", TOK_KEY_EC_P384, false, &k),
                     CSA_OK);
    assert_int_equal(tok_key_public(k, &pub), CSA_OK);
    for (i = 0; i < 400; i++) {
        unsigned char *sig = NULL, *der;
        size_t siglen = 0, derlen;

        assert_int_equal(tok_sign(k, TOK_SIG_ECDSA_SHA384, TOK_ENC_RAW, data,
                                  sizeof(data), &sig, &siglen),
                         CSA_OK);
        assert_int_equal(siglen, 96);
        short_parts += sig[0] == 0 || sig[48] == 0;
        der = raw_to_der(sig, siglen, &derlen);
        verify_sig(pub, TOK_SIG_ECDSA_SHA384, data, sizeof(data), der, derlen);
        OPENSSL_free(der);
        free(sig);
    }
    print_message("signatures with a leading zero in r or s: %d\n",
                  short_parts);
    EVP_PKEY_free(pub);
    tok_key_free(k);
    tok_close(t);
}

static void test_duplicate_label(void **state)
{
    tok_ctx *t = open_logged_in();
    tok_key *k = NULL, *k2 = NULL, *f = NULL;

    (void)state;
    assert_int_equal(tok_key_generate(t, "t-dup", TOK_KEY_EC_P256, false, &k),
                     CSA_OK);
    assert_int_equal(tok_key_generate(t, "t-dup", TOK_KEY_EC_P256, false, &k2),
                     CSA_ERR_EXISTS);
    assert_null(k2);
    assert_int_equal(tok_key_generate(t, "t-dup", TOK_KEY_EC_P256, true, &k2),
                     CSA_OK);
    /* Two keys under one label: refuse to pick one. */
    assert_int_equal(tok_key_find(t, "t-dup", &f), CSA_ERR_AMBIGUOUS);
    assert_null(f);
    tok_key_free(k);
    tok_key_free(k2);
    tok_close(t);
}

/* A key copied under another label (C_CopyObject) is the same key, keeps
 * its protection, and the source is untouched; a move leaves the source's
 * label empty. */
static void test_copy_key(void **state)
{
    tok_ctx *t = open_logged_in();
    tok_key *k = NULL, *c = NULL;
    char *jwk = NULL, *jwk2 = NULL;
    tok_obj_info *objs = NULL, info;
    size_t n = 0;

    (void)state;
    assert_int_equal(tok_key_generate(t, "t-copy", TOK_KEY_EC_P256, false, &k),
                     CSA_OK);
    assert_int_equal(tok_key_info(k, &info), CSA_OK);
    assert_int_equal(
        tok_objects(t, "t-copy", NULL, 0, TOK_CLASS_PRIVATE_KEY, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tok_obj_copy(t, objs[0].handle, "t-copy.2", NULL), CSA_OK);
    free(objs);
    assert_int_equal(tok_key_find(t, "t-copy.2", &c), CSA_OK);
    check_attributes(c);
    assert_int_equal(tok_key_jwk(k, &jwk), CSA_OK);
    assert_int_equal(tok_key_jwk(c, &jwk2), CSA_OK);
    assert_string_equal(jwk, jwk2);
    sign_and_verify(c, TOK_SIG_ECDSA_SHA256, 32);
    /* the source keeps its label */
    assert_int_equal(
        tok_objects(t, "t-copy", NULL, 0, TOK_CLASS_PRIVATE_KEY, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 1);
    free(objs);
    /* a move is a copy and a delete: the old label is left empty */
    assert_int_equal(
        tok_objects(t, "t-copy.2", NULL, 0, TOK_CLASS_PRIVATE_KEY, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tok_obj_move(t, objs[0].handle, "t-copy.3"), CSA_OK);
    free(objs);
    assert_int_equal(
        tok_objects(t, "t-copy.2", NULL, 0, TOK_CLASS_OTHER, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 0);
    free(objs);
    tok_key_free(c);
    c = NULL;
    assert_int_equal(tok_key_find(t, "t-copy.3", &c), CSA_OK);
    check_attributes(c);
    free(jwk2);
    jwk2 = NULL;
    assert_int_equal(tok_key_jwk(c, &jwk2), CSA_OK);
    assert_string_equal(jwk, jwk2);
    free(jwk);
    free(jwk2);
    tok_key_free(c);
    tok_key_free(k);
    tok_close(t);
}

/* A certificate for the token key, issued by a throwaway software CA. */
static X509 *issue_cert(EVP_PKEY *pub, const char *cn)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                               -1, -1, 0);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pub);
    assert_true(X509_sign(x, ca, EVP_sha256()) > 0);
    EVP_PKEY_free(ca);
    X509_NAME_free(n);
    return x;
}

static void test_cert_roundtrip(void **state)
{
    tok_ctx *t = open_logged_in();
    tok_key *k = NULL;
    EVP_PKEY *pub = NULL;
    X509 *x, *back = NULL;
    tok_obj_info *objs = NULL;
    tok_handle h = 0;
    const unsigned char *id;
    size_t idlen, n = 0;

    (void)state;
    assert_int_equal(tok_key_generate(t, "t-cert", TOK_KEY_EC_P256, false, &k),
                     CSA_OK);
    assert_int_equal(tok_key_public(k, &pub), CSA_OK);
    x = issue_cert(pub, "roundtrip");
    id = tok_key_id(k, &idlen);
    assert_int_equal(tok_cert_store(t, x, "t-cert", id, idlen, &h), CSA_OK);
    /* Find by label and by id. */
    assert_int_equal(
        tok_objects(t, "t-cert", NULL, 0, TOK_CLASS_CERTIFICATE, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 1);
    assert_string_equal(objs[0].subject, "/CN=roundtrip");
    assert_true(objs[0].not_after > 0);
    free(objs);
    assert_int_equal(
        tok_objects(t, NULL, id, idlen, TOK_CLASS_CERTIFICATE, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(tok_cert_get(t, objs[0].handle, &back), CSA_OK);
    assert_int_equal(X509_cmp(x, back), 0);
    free(objs);
    /* Relabel, then the old label finds nothing and the new one finds it. */
    assert_int_equal(tok_obj_relabel(t, h, "t-cert.retired"), CSA_OK);
    assert_int_equal(
        tok_objects(t, "t-cert", NULL, 0, TOK_CLASS_CERTIFICATE, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 0);
    free(objs);
    assert_int_equal(tok_objects(t, "t-cert.retired", NULL, 0,
                                 TOK_CLASS_CERTIFICATE, &objs, &n),
                     CSA_OK);
    assert_int_equal(n, 1);
    free(objs);
    /* Delete. */
    assert_int_equal(tok_obj_destroy(t, h), CSA_OK);
    assert_int_equal(
        tok_objects(t, NULL, id, idlen, TOK_CLASS_CERTIFICATE, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 0);
    free(objs);
    X509_free(x);
    X509_free(back);
    EVP_PKEY_free(pub);
    tok_key_free(k);
    tok_close(t);
}

static void test_csr_signed_in_token(void **state)
{
    tok_ctx *t = open_logged_in();
    tok_key *k = NULL;
    EVP_PKEY *pub = NULL;
    X509_REQ *req = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    int types[] = {TOK_KEY_EC_P256, TOK_KEY_RSA3072, TOK_KEY_EC_P384};
    size_t i;

    (void)state;
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                               (const unsigned char *)"example.com", -1, -1, 0);
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char label[32];

        snprintf(label, sizeof(label), "t-csr-%zu", i);
        assert_int_equal(
            tok_key_generate(t, label, (tok_key_type)types[i], false, &k),
            CSA_OK);
        assert_int_equal(tok_key_public(k, &pub), CSA_OK);
        X509_REQ_set_subject_name(req, n);
        X509_REQ_set_pubkey(req, pub);
        assert_int_equal(tok_sign_req(k, req), CSA_OK);
        assert_int_equal(X509_REQ_verify(req, pub), 1);
        EVP_PKEY_free(pub);
        tok_key_free(k);
    }
    X509_NAME_free(n);
    X509_REQ_free(req);
    tok_close(t);
}

static void test_hmac(void **state)
{
    static const unsigned char seed[] = "12345678901234567890";
    static const unsigned char msg[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    static const struct {
        tok_hmac_alg alg;
        const char *md;
    } algs[] = {{TOK_HMAC_SHA1, "SHA1"},
                {TOK_HMAC_SHA256, "SHA256"},
                {TOK_HMAC_SHA512, "SHA512"}};
    tok_ctx *t = open_logged_in();
    csa_secret s = {0};
    tok_obj_info *objs = NULL;
    size_t i, n = 0;

    (void)state;
    assert_int_equal(csa_secret_set(&s, seed, sizeof(seed) - 1), CSA_OK);
    if (tok_secret_import(t, "t-otp", &s, false) != CSA_OK)
        fail_msg("import: %s", csa_errmsg());
    assert_int_equal(tok_secret_import(t, "t-otp", &s, false), CSA_ERR_EXISTS);
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        unsigned char mac[64], ref[64];
        size_t maclen = 0;
        unsigned int reflen = 0;

        assert_int_equal(
            tok_hmac(t, "t-otp", algs[i].alg, msg, sizeof(msg), mac, &maclen),
            CSA_OK);
        HMAC(EVP_get_digestbyname(algs[i].md), s.data, (int)s.len, msg,
             sizeof(msg), ref, &reflen);
        assert_int_equal(maclen, reflen);
        assert_memory_equal(mac, ref, reflen);
    }
    /* The secret is sensitive and not extractable. */
    assert_int_equal(
        tok_objects(t, "t-otp", NULL, 0, TOK_CLASS_SECRET_KEY, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(objs[0].sensitive, 1);
    assert_int_equal(objs[0].extractable, 0);
    free(objs);
    csa_secret_free(&s);
    tok_close(t);
}

/* Two tokens: the URI picks the right one, and keys do not leak across. */
static void test_uri_selection(void **state)
{
    const char *uri2 = env_or_skip("CSA_TOKEN2_URI");
    tok_ctx *t1 = NULL, *t2 = NULL, *any = NULL;
    tok_key *k = NULL;

    (void)state;
    assert_int_equal(tok_open(getenv("CSA_MODULE"), uri2, &t2), CSA_OK);
    assert_string_equal(tok_token_label(t2), uri2 + strlen("pkcs11:token="));
    assert_int_equal(tok_login(t2, getenv("CSA_PIN_FILE")), CSA_OK);
    assert_int_equal(
        tok_key_generate(t2, "only-on-2", TOK_KEY_EC_P256, false, &k), CSA_OK);
    tok_key_free(k);
    k = NULL;
    tok_close(t2);
    t1 = open_logged_in();
    assert_int_equal(tok_key_find(t1, "only-on-2", &k), CSA_ERR_NOT_FOUND);
    tok_close(t1);
    /* A URI that matches both tokens is refused, not guessed. */
    assert_int_equal(tok_open(getenv("CSA_MODULE"),
                              "pkcs11:manufacturer=SoftHSM%20project;model="
                              "SoftHSM%20v2",
                              &any),
                     CSA_ERR_AMBIGUOUS);
    assert_int_equal(tok_open(getenv("CSA_MODULE"), "pkcs11:token=nope", &any),
                     CSA_ERR_NOT_FOUND);
}

/* Run with a wrong PIN file through p11shim counting C_Login. */
static void test_wrong_pin(void **state)
{
    tok_ctx *t = NULL;
    tok_key *k = NULL;

    (void)state;
    assert_int_equal(
        tok_open(env_or_skip("CSA_MODULE"), env_or_skip("CSA_TOKEN_URI"), &t),
        CSA_OK);
    assert_int_equal(tok_login(t, env_or_skip("CSA_BAD_PIN_FILE")),
                     CSA_ERR_PIN);
    assert_non_null(strstr(csa_errmsg(), "refused the PIN"));
    /* Never retried: a second call fails at once without C_Login. */
    assert_int_equal(tok_login(t, env_or_skip("CSA_PIN_FILE")), CSA_ERR_PIN);
    assert_non_null(strstr(csa_errmsg(), "not retrying"));
    assert_int_not_equal(tok_key_generate(t, "x", TOK_KEY_EC_P256, false, &k),
                         CSA_OK);
    tok_close(t);
}

/* p11shim adds CKF_USER_PIN_FINAL_TRY (or LOCKED/TO_BE_CHANGED). */
static void test_pin_flags_refused(void **state)
{
    tok_ctx *t = NULL;

    (void)state;
    assert_int_equal(
        tok_open(env_or_skip("CSA_MODULE"), env_or_skip("CSA_TOKEN_URI"), &t),
        CSA_OK);
    assert_int_equal(tok_login(t, env_or_skip("CSA_PIN_FILE")), CSA_ERR_PIN);
    print_message("refused: %s\n", csa_errmsg());
    assert_null(strstr(csa_errmsg(), "refused the PIN")); /* not C_Login */
    tok_close(t);
}

/* p11shim fails the first C_Sign with CKR_SESSION_HANDLE_INVALID and closes
 * the session: the layer reopens once, logs in again from the PIN file and
 * the signature still verifies. */
static void test_session_reopen(void **state)
{
    tok_ctx *t = open_logged_in();
    tok_key *k = NULL;

    (void)state;
    assert_int_equal(
        tok_key_generate(t, "t-reopen", TOK_KEY_EC_P256, false, &k), CSA_OK);
    sign_and_verify(k, TOK_SIG_ECDSA_SHA256, 32);
    tok_key_free(k);
    tok_close(t);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest keys[] = {
        cmocka_unit_test(test_keys_ec),
        cmocka_unit_test(test_keys_rsa),
        cmocka_unit_test(test_keys_ed25519),
        cmocka_unit_test(test_p384_padding),
        cmocka_unit_test(test_duplicate_label),
        cmocka_unit_test(test_copy_key),
        cmocka_unit_test(test_cert_roundtrip),
        cmocka_unit_test(test_csr_signed_in_token),
        cmocka_unit_test(test_hmac),
    };
    const struct CMUnitTest uri[] = {cmocka_unit_test(test_uri_selection)};
    const struct CMUnitTest pin[] = {cmocka_unit_test(test_wrong_pin)};
    const struct CMUnitTest flags[] = {
        cmocka_unit_test(test_pin_flags_refused)};
    const struct CMUnitTest reopen[] = {cmocka_unit_test(test_session_reopen)};
    const char *group = argc > 1 ? argv[1] : "keys";

    if (!strcmp(group, "keys"))
        return cmocka_run_group_tests_name("tok_keys", keys, NULL, NULL);
    if (!strcmp(group, "uri"))
        return cmocka_run_group_tests_name("tok_uri", uri, NULL, NULL);
    if (!strcmp(group, "pin"))
        return cmocka_run_group_tests_name("tok_pin", pin, NULL, NULL);
    if (!strcmp(group, "flags"))
        return cmocka_run_group_tests_name("tok_flags", flags, NULL, NULL);
    if (!strcmp(group, "reopen"))
        return cmocka_run_group_tests_name("tok_reopen", reopen, NULL, NULL);
    fprintf(stderr, "unknown group %s\n", group);
    return 2;
}
