/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token layer tests against a throwaway SoftHSM token (with-token.sh sets
 * CSA_MODULE, CSA_TOKEN_URI, CSA_PIN_FILE).  argv[1] picks a group so
 * ctest can run the groups that need a fault-injecting module apart.
 */
#include <dlfcn.h>
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
#include <p11-kit/pkcs11.h>

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

/* A kept handle is checked before use (tok_obj_is); a label's census
 * lists every object under it with class and id; a search returns every
 * match, not a first batch. */
static void test_census_and_kept_handles(void **state)
{
    tok_ctx *t = open_logged_in();
    tok_key *k = NULL;
    tok_census *c = NULL;
    tok_handle priv = 0, pub = 0, *h = NULL;
    const unsigned char *id;
    size_t id_len, n = 0, i, privs = 0, pubs = 0;

    (void)state;
    assert_int_equal(
        tok_key_generate(t, "t-census", TOK_KEY_EC_P256, false, &k), CSA_OK);
    id = tok_key_id(k, &id_len);
    assert_int_equal(tok_label_census(t, "t-census", &c, &n), CSA_OK);
    assert_int_equal(n, 2);
    for (i = 0; i < n; i++) {
        assert_int_equal(c[i].id_len, id_len);
        assert_memory_equal(c[i].id, id, id_len);
        if (c[i].cls == TOK_CLASS_PRIVATE_KEY)
            privs++, priv = c[i].handle;
        if (c[i].cls == TOK_CLASS_PUBLIC_KEY)
            pubs++, pub = c[i].handle;
    }
    assert_int_equal(privs, 1);
    assert_int_equal(pubs, 1);
    free(c);
    /* the listing of every object (a round's snapshot) has both, with
     * class and id; the listing of certificates has neither */
    {
        tok_labelled *v = NULL;
        size_t nv = 0, first = 0, e, unread = 1;

        assert_int_equal(
            tok_labelled_find(t, TOK_CLASS_OTHER, &v, &nv, &unread), CSA_OK);
        assert_int_equal(unread, 0);
        assert_int_equal(tok_labelled_range(v, nv, "t-census", &first), 2);
        for (e = first; e < first + 2; e++) {
            assert_true(v[e].cls == TOK_CLASS_PRIVATE_KEY ||
                        v[e].cls == TOK_CLASS_PUBLIC_KEY);
            assert_int_equal(v[e].id_len, id_len);
            assert_memory_equal(v[e].id, id, id_len);
            assert_true(v[e].handle ==
                        (v[e].cls == TOK_CLASS_PRIVATE_KEY ? priv : pub));
        }
        assert_int_not_equal(v[first].cls, v[first + 1].cls);
        free(v);
        assert_int_equal(
            tok_labelled_find(t, TOK_CLASS_CERTIFICATE, &v, &nv, NULL), CSA_OK);
        assert_int_equal(tok_labelled_range(v, nv, "t-census", &first), 0);
        free(v);
    }
    assert_true(
        tok_obj_is(t, priv, TOK_CLASS_PRIVATE_KEY, "t-census", id, id_len));
    /* another class, label or id: not that object */
    assert_false(
        tok_obj_is(t, priv, TOK_CLASS_PUBLIC_KEY, "t-census", id, id_len));
    assert_false(
        tok_obj_is(t, priv, TOK_CLASS_PRIVATE_KEY, "t-census.x", id, id_len));
    assert_false(
        tok_obj_is(t, priv, TOK_CLASS_PRIVATE_KEY, "t-census", id, id_len - 1));
    /* relabelled or deleted by someone else since: no longer ours */
    assert_int_equal(tok_obj_relabel(t, pub, "t-census.moved"), CSA_OK);
    assert_false(
        tok_obj_is(t, pub, TOK_CLASS_PUBLIC_KEY, "t-census", id, id_len));
    assert_int_equal(tok_obj_destroy(t, pub), CSA_OK);
    assert_false(
        tok_obj_is(t, pub, TOK_CLASS_PUBLIC_KEY, "t-census.moved", id, id_len));
    tok_key_free(k);
    /* more matches than one C_FindObjects batch of the past (1,024) */
    for (i = 0; i < 1030; i++)
        assert_int_equal(tok_obj_copy(t, priv, "t-many", NULL), CSA_OK);
    assert_int_equal(
        tok_find_handles(t, "t-many", NULL, 0, TOK_CLASS_OTHER, &h, &n),
        CSA_OK);
    assert_int_equal(n, 1030);
    free(h);
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

/* Every key type signs a CSR in the token with its one X.509 algorithm:
 * parameters NULL for RSA (RFC 4055 §5), absent for ECDSA (RFC 5758 §3.2)
 * and Ed25519 (RFC 8410 §3). */
static void test_csr_signed_in_token(void **state)
{
    static const struct {
        tok_key_type type;
        int nid, ptype;
    } types[] = {
        {TOK_KEY_EC_P256, NID_ecdsa_with_SHA256, V_ASN1_UNDEF},
        {TOK_KEY_RSA3072, NID_sha256WithRSAEncryption, V_ASN1_NULL},
        {TOK_KEY_EC_P384, NID_ecdsa_with_SHA384, V_ASN1_UNDEF},
        {TOK_KEY_EC_P521, NID_ecdsa_with_SHA512, V_ASN1_UNDEF},
        {TOK_KEY_ED25519, NID_ED25519, V_ASN1_UNDEF},
        {TOK_KEY_RSA4096, NID_sha256WithRSAEncryption, V_ASN1_NULL},
    };
    tok_ctx *t = open_logged_in();
    tok_key *k = NULL;
    EVP_PKEY *pub = NULL;
    X509_REQ *req = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    size_t i;

    (void)state;
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                               (const unsigned char *)"example.com", -1, -1, 0);
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        const ASN1_BIT_STRING *sig;
        const X509_ALGOR *algor;
        const ASN1_OBJECT *obj;
        int ptype = -1;
        char label[32];

        snprintf(label, sizeof(label), "t-csr-%zu", i);
        assert_int_equal(tok_key_generate(t, label, types[i].type, false, &k),
                         CSA_OK);
        assert_int_equal(tok_key_public(k, &pub), CSA_OK);
        X509_REQ_set_subject_name(req, n);
        X509_REQ_set_pubkey(req, pub);
        assert_int_equal(tok_sign_req(k, req), CSA_OK);
        assert_int_equal(X509_REQ_verify(req, pub), 1);
        X509_REQ_get0_signature(req, &sig, &algor);
        X509_ALGOR_get0(&obj, &ptype, NULL, algor);
        assert_int_equal(OBJ_obj2nid(obj), types[i].nid);
        assert_int_equal(ptype, types[i].ptype);
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

/*
 * Groups "bounds" and "bare" run through p11shim: each test sets the
 * shim's P11SHIM_ATTR_LEN before tok_open (the shim reads it at every
 * C_Initialize), so the module lies about one attribute's length.
 */
static tok_ctx *open_lying(const char *attr_len)
{
    if (attr_len != NULL)
        setenv("P11SHIM_ATTR_LEN", attr_len, 1);
    else
        unsetenv("P11SHIM_ATTR_LEN");
    return open_logged_in();
}

/* A P-256 key made while the module tells the truth; its CKA_ID in id. */
static void make_honest_key(const char *label, unsigned char id[TOK_ID_LEN])
{
    tok_ctx *t = open_lying(NULL);
    tok_key *k = NULL;
    const unsigned char *kid;
    size_t len = 0;

    assert_int_equal(tok_key_generate(t, label, TOK_KEY_EC_P256, false, &k),
                     CSA_OK);
    kid = tok_key_id(k, &len);
    assert_int_equal(len, TOK_ID_LEN);
    memcpy(id, kid, TOK_ID_LEN);
    tok_key_free(k);
    tok_close(t);
}

/* Hex of an object's id into a buffer sized like `csagent list`'s. */
static void hex_like_list(const tok_obj_info *o)
{
    char *hex = malloc(2 * sizeof(o->id) + 1);
    size_t i;

    assert_non_null(hex);
    for (i = 0; i < o->id_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", o->id[i]);
    hex[2 * o->id_len] = '\0';
    free(hex);
}

/* The module claims a 200-byte CKA_ID (the real one has 16): the listing
 * keeps the first 64 bytes, says so, and the key is refused for use. */
static void test_long_id(void **state)
{
    unsigned char id[TOK_ID_LEN];
    tok_obj_info *objs = NULL;
    tok_key *k = NULL;
    tok_ctx *t;
    size_t n = 0, i;

    (void)state;
    make_honest_key("t-longid", id);
    t = open_lying("CKA_ID:200");
    assert_int_equal(
        tok_objects(t, "t-longid", NULL, 0, TOK_CLASS_OTHER, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 2);
    for (i = 0; i < n; i++) {
        hex_like_list(&objs[i]); /* ASan: no read or write past id[] */
        assert_int_equal(objs[i].id_len, sizeof(objs[i].id));
        assert_memory_equal(objs[i].id, id, TOK_ID_LEN);
        print_message("listed: type=\"%s\"\n", objs[i].type);
        assert_non_null(strstr(objs[i].type, "EC P-256"));
        assert_non_null(strstr(objs[i].type, "id cut"));
    }
    free(objs);
    assert_int_equal(tok_key_find(t, "t-longid", &k), CSA_ERR_UNSUPPORTED);
    assert_null(k);
    print_message("refused: %s\n", csa_errmsg());
    assert_non_null(strstr(csa_errmsg(), "CKA_ID of 200 bytes"));
    tok_close(t);
}

/* A CKA_LABEL claimed to be 300 bytes: cut in the listing, refused for a
 * key (its label buffer holds 128). */
static void test_long_label(void **state)
{
    unsigned char id[TOK_ID_LEN];
    tok_obj_info *objs = NULL;
    tok_key *k = NULL;
    tok_ctx *t;
    size_t n = 0;

    (void)state;
    make_honest_key("t-longlabel", id);
    t = open_lying("CKA_LABEL:300");
    assert_int_equal(tok_objects(t, "t-longlabel", NULL, 0,
                                 TOK_CLASS_PRIVATE_KEY, &objs, &n),
                     CSA_OK);
    assert_int_equal(n, 1);
    assert_string_equal(objs[0].label, "t-longlabel");
    assert_int_equal(objs[0].id_len, TOK_ID_LEN);
    assert_non_null(strstr(objs[0].type, "label cut"));
    free(objs);
    assert_int_equal(tok_key_find(t, "t-longlabel", &k), CSA_ERR_UNSUPPORTED);
    assert_non_null(strstr(csa_errmsg(), "CKA_LABEL of 300 bytes"));
    tok_close(t);
}

/* A real label of 141 bytes ("a" and 70 two-byte characters), set by
 * another program (a relabel), no lie: listed cut to the last whole
 * character within 128 bytes; the key is refused for use. */
static void test_long_utf8_label(void **state)
{
    char label[160] = "a";
    unsigned char id[TOK_ID_LEN];
    tok_obj_info *objs = NULL;
    tok_key *k = NULL;
    tok_ctx *t;
    size_t n = 0, i;

    (void)state;
    for (i = 0; i < 70; i++)
        strcat(label, "\xc3\xa9"); /* U+00E9 */
    assert_int_equal(strlen(label), 141);
    make_honest_key("t-utf8", id);
    t = open_lying(NULL);
    assert_int_equal(
        tok_objects(t, "t-utf8", NULL, 0, TOK_CLASS_OTHER, &objs, &n), CSA_OK);
    assert_int_equal(n, 2);
    for (i = 0; i < n; i++)
        assert_int_equal(tok_obj_relabel(t, objs[i].handle, label), CSA_OK);
    free(objs);
    assert_int_equal(
        tok_objects(t, label, NULL, 0, TOK_CLASS_PRIVATE_KEY, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(objs[0].label), 127);
    assert_memory_equal(objs[0].label, label, 127);
    assert_non_null(strstr(objs[0].type, "label cut"));
    free(objs);
    assert_int_equal(tok_key_find(t, label, &k), CSA_ERR_UNSUPPORTED);
    assert_non_null(strstr(csa_errmsg(), "CKA_LABEL of 141 bytes"));
    tok_close(t);
}

/* The second read of CKA_EC_POINT reports more than the first announced
 * (or CK_UNAVAILABLE_INFORMATION): an error naming the attribute, not a
 * write past the buffer. */
static void test_point_length_changes(void **state)
{
    static const char *const lies[] = {"CKA_EC_POINT:100:value",
                                       "CKA_EC_POINT:0xffffffffffffffff:value"};
    unsigned char id[TOK_ID_LEN];
    EVP_PKEY *pub = NULL;
    tok_key *k = NULL;
    tok_ctx *t;
    size_t i;

    (void)state;
    make_honest_key("t-growing", id);
    for (i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        t = open_lying(lies[i]);
        assert_int_equal(tok_key_find(t, "t-growing", &k), CSA_OK);
        assert_int_equal(tok_key_public(k, &pub), CSA_ERR_TOKEN);
        assert_null(pub);
        print_message("%s: %s\n", lies[i], csa_errmsg());
        assert_non_null(strstr(csa_errmsg(), "CKA_EC_POINT"));
        tok_key_free(k);
        k = NULL;
        tok_close(t);
    }
}

/* A certificate whose CKA_VALUE is claimed to be 2,000,000 bytes is
 * refused before anything is allocated for it. */
static void test_absurd_length(void **state)
{
    tok_ctx *t = open_lying(NULL);
    tok_key *k = NULL;
    EVP_PKEY *pub = NULL;
    X509 *x, *back = NULL;
    tok_handle h = 0;
    tok_obj_info *objs = NULL;
    const unsigned char *id;
    size_t idlen, n = 0;

    (void)state;
    assert_int_equal(
        tok_key_generate(t, "t-absurd", TOK_KEY_EC_P256, false, &k), CSA_OK);
    assert_int_equal(tok_key_public(k, &pub), CSA_OK);
    x = issue_cert(pub, "absurd");
    id = tok_key_id(k, &idlen);
    assert_int_equal(tok_cert_store(t, x, "t-absurd", id, idlen, &h), CSA_OK);
    tok_key_free(k);
    tok_close(t);
    t = open_lying("CKA_VALUE:2000000");
    assert_int_equal(
        tok_objects(t, "t-absurd", NULL, 0, TOK_CLASS_CERTIFICATE, &objs, &n),
        CSA_OK);
    assert_int_equal(n, 1);
    assert_string_equal(objs[0].subject, ""); /* unreadable: not listed */
    h = objs[0].handle;
    free(objs);
    assert_int_equal(tok_cert_get(t, h, &back), CSA_ERR_TOKEN);
    assert_null(back);
    print_message("refused: %s\n", csa_errmsg());
    assert_non_null(strstr(csa_errmsg(), "CKA_VALUE of 2000000 bytes"));
    tok_close(t);
    X509_free(x);
    EVP_PKEY_free(pub);
}

/* CK_ULONG attributes of the wrong size are unreadable, not half-read. */
static void test_fixed_size(void **state)
{
    unsigned char id[TOK_ID_LEN];
    tok_obj_info *objs = NULL;
    tok_key *k = NULL;
    tok_ctx *t;
    size_t n = 0;

    (void)state;
    make_honest_key("t-fixed", id);
    t = open_lying("CKA_KEY_TYPE:4:value,CKA_CLASS:4:value");
    assert_int_equal(tok_key_find(t, "t-fixed", &k), CSA_ERR_TOKEN);
    assert_non_null(strstr(csa_errmsg(), "CKA_KEY_TYPE as 4 bytes"));
    assert_int_equal(
        tok_objects(t, "t-fixed", NULL, 0, TOK_CLASS_OTHER, &objs, &n), CSA_OK);
    assert_int_equal(n, 2);
    assert_int_equal(objs[0].cls, TOK_CLASS_OTHER);
    assert_int_equal(objs[1].cls, TOK_CLASS_OTHER);
    free(objs);
    tok_close(t);
}

/* A software EC key on curve whose X starts with first (about 256 tries;
 * 100000 never all miss). */
static EVP_PKEY *key_with_x(const char *curve, unsigned char first)
{
    unsigned char pub[133];
    size_t len = 0;
    int tries;

    for (tries = 0; tries < 100000; tries++) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

        assert_non_null(k);
        assert_int_equal(
            EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                            sizeof(pub), &len),
            1);
        if (pub[1] == first)
            return k;
        EVP_PKEY_free(k);
    }
    fail_msg("no %s key with X starting 0x%02x", curve, first);
    return NULL;
}

/* The slot of the token CSA_TOKEN_URI ("pkcs11:token=LABEL") names. */
static CK_SLOT_ID find_test_slot(CK_FUNCTION_LIST *f)
{
    const char *label = strstr(env_or_skip("CSA_TOKEN_URI"), "token=");
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16, i;
    CK_TOKEN_INFO ti;
    char want[32];

    assert_non_null(label);
    memset(want, ' ', sizeof(want));
    memcpy(want, label + 6, strlen(label + 6));
    assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    for (i = 0; i < n && i < 16; i++) {
        if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
            memcmp(ti.label, want, sizeof(want)) == 0)
            return slots[i];
    }
    fail_msg("token not found");
    return 0;
}

/*
 * Stores the software key kp in the token as a key pair labelled label,
 * through the module itself (C_CreateObject, no tok_ctx open): the test
 * chooses the public point.  A throwaway test token; csagent never imports
 * a private key.
 */
static void import_ec_key(EVP_PKEY *kp, const char *label,
                          const unsigned char *params, size_t plen, size_t w)
{
    CK_OBJECT_CLASS pubc = CKO_PUBLIC_KEY, privc = CKO_PRIVATE_KEY;
    CK_KEY_TYPE kt = CKK_EC;
    CK_BBOOL yes = CK_TRUE;
    unsigned char point[3 + 133], value[66], id[4] = {0xbe, 0xe0, 0, 0};
    char pin[64];
    size_t plen_pt = 0;
    BIGNUM *d = NULL;
    FILE *pf = fopen(env_or_skip("CSA_PIN_FILE"), "r");
    void *so = dlopen(env_or_skip("CSA_MODULE"), RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList get;
    CK_FUNCTION_LIST *f = NULL;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h;

    assert_non_null(pf);
    assert_non_null(fgets(pin, sizeof(pin), pf));
    fclose(pf);
    pin[strcspn(pin, "\r\n")] = '\0';
    assert_non_null(so);
    get = (CK_C_GetFunctionList)dlsym(so, "C_GetFunctionList");
    assert_true(get != NULL && get(&f) == CKR_OK);
    /* DER OCTET STRING around 04||X||Y, as SoftHSM stores it. */
    assert_int_equal(
        EVP_PKEY_get_octet_string_param(kp, OSSL_PKEY_PARAM_PUB_KEY, point + 2,
                                        sizeof(point) - 2, &plen_pt),
        1);
    assert_true(plen_pt == 1 + 2 * w && plen_pt < 0x80);
    point[0] = 0x04;
    point[1] = (unsigned char)plen_pt;
    assert_int_equal(EVP_PKEY_get_bn_param(kp, OSSL_PKEY_PARAM_PRIV_KEY, &d),
                     1);
    assert_int_equal(BN_bn2binpad(d, value, (int)w), (int)w);
    BN_free(d);
    id[2] = point[3];
    id[3] = (unsigned char)w;
    {
        CK_ATTRIBUTE pub[] = {
            {CKA_CLASS, &pubc, sizeof(pubc)},
            {CKA_KEY_TYPE, &kt, sizeof(kt)},
            {CKA_TOKEN, &yes, sizeof(yes)},
            {CKA_VERIFY, &yes, sizeof(yes)},
            {CKA_LABEL, (void *)label, strlen(label)},
            {CKA_ID, id, sizeof(id)},
            {CKA_EC_PARAMS, (void *)params, plen},
            {CKA_EC_POINT, point, plen_pt + 2},
        };
        CK_ATTRIBUTE priv[] = {
            {CKA_CLASS, &privc, sizeof(privc)},
            {CKA_KEY_TYPE, &kt, sizeof(kt)},
            {CKA_TOKEN, &yes, sizeof(yes)},
            {CKA_PRIVATE, &yes, sizeof(yes)},
            {CKA_SENSITIVE, &yes, sizeof(yes)},
            {CKA_SIGN, &yes, sizeof(yes)},
            {CKA_LABEL, (void *)label, strlen(label)},
            {CKA_ID, id, sizeof(id)},
            {CKA_EC_PARAMS, (void *)params, plen},
            {CKA_VALUE, value, w},
        };

        assert_int_equal(f->C_Initialize(NULL), CKR_OK);
        assert_int_equal(f->C_OpenSession(find_test_slot(f),
                                          CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                          NULL, NULL, &s),
                         CKR_OK);
        assert_int_equal(
            f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin)), CKR_OK);
        assert_int_equal(f->C_CreateObject(s, pub, 8, &h), CKR_OK);
        assert_int_equal(f->C_CreateObject(s, priv, 10, &h), CKR_OK);
        assert_int_equal(f->C_Finalize(NULL), CKR_OK);
    }
    OPENSSL_cleanse(value, sizeof(value));
    OPENSSL_cleanse(pin, sizeof(pin));
    /* Never dlclose(): the shim's call counts live in the loaded module. */
}

/*
 * P11SHIM_BARE_EC_POINT=1: every CKA_EC_POINT comes without its OCTET
 * STRING.  A bare P-256 point whose X starts with 0x3f begins "04 3f",
 * which a guess takes for an OCTET STRING of 63 bytes (one key in 256); a
 * P-384 X starting with 0x5f likewise.  Such keys are imported, so the
 * case is met every run; keys made in the token are read too.  Each public
 * key must equal the imported one and verify a signature the token made.
 */
static void test_bare_points(void **state)
{
    static const unsigned char oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                             0xce, 0x3d, 0x03, 0x01, 0x07};
    static const unsigned char oid_p384[] = {0x06, 0x05, 0x2b, 0x81,
                                             0x04, 0x00, 0x22};
    static const struct {
        const char *curve, *label;
        const unsigned char *params;
        size_t plen, w;
        unsigned char first;
        tok_sig_alg alg;
    } imports[] = {
        {"P-256", "t-bare-3f", oid_p256, sizeof(oid_p256), 32, 0x3f,
         TOK_SIG_ECDSA_SHA256},
        {"P-256", "t-bare-41", oid_p256, sizeof(oid_p256), 32, 0x41,
         TOK_SIG_ECDSA_SHA256},
        {"P-384", "t-bare-5f", oid_p384, sizeof(oid_p384), 48, 0x5f,
         TOK_SIG_ECDSA_SHA384},
    };
    static const tok_sig_alg p256[] = {TOK_SIG_ECDSA_SHA256};
    static const tok_sig_alg p384[] = {TOK_SIG_ECDSA_SHA384};
    static const tok_sig_alg p521[] = {TOK_SIG_ECDSA_SHA512};
    static const tok_sig_alg ed[] = {TOK_SIG_EDDSA};
    tok_ctx *t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(imports) / sizeof(imports[0]); i++) {
        EVP_PKEY *kp = key_with_x(imports[i].curve, imports[i].first);
        EVP_PKEY *pub = NULL;
        tok_key *k = NULL;

        import_ec_key(kp, imports[i].label, imports[i].params, imports[i].plen,
                      imports[i].w);
        t = open_lying(NULL);
        assert_int_equal(tok_key_find(t, imports[i].label, &k), CSA_OK);
        if (tok_key_public(k, &pub) != CSA_OK)
            fail_msg("%s: %s", imports[i].label, csa_errmsg());
        assert_int_equal(EVP_PKEY_eq(pub, kp), 1);
        sign_and_verify(k, imports[i].alg, imports[i].w);
        EVP_PKEY_free(pub);
        EVP_PKEY_free(kp);
        tok_key_free(k);
        tok_close(t);
    }
    t = open_lying(NULL);
    gen_check(t, "t-bare-p256", TOK_KEY_EC_P256, p256, 1, 32);
    gen_check(t, "t-bare-p384", TOK_KEY_EC_P384, p384, 1, 48);
    gen_check(t, "t-bare-p521", TOK_KEY_EC_P521, p521, 1, 66);
    gen_check(t, "t-bare-ed25519", TOK_KEY_ED25519, ed, 1, 0);
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
        cmocka_unit_test(test_census_and_kept_handles),
        cmocka_unit_test(test_cert_roundtrip),
        cmocka_unit_test(test_csr_signed_in_token),
        cmocka_unit_test(test_hmac),
    };
    const struct CMUnitTest uri[] = {cmocka_unit_test(test_uri_selection)};
    const struct CMUnitTest pin[] = {cmocka_unit_test(test_wrong_pin)};
    const struct CMUnitTest flags[] = {
        cmocka_unit_test(test_pin_flags_refused)};
    const struct CMUnitTest reopen[] = {cmocka_unit_test(test_session_reopen)};
    const struct CMUnitTest bounds[] = {
        cmocka_unit_test(test_long_id),
        cmocka_unit_test(test_long_label),
        cmocka_unit_test(test_long_utf8_label),
        cmocka_unit_test(test_point_length_changes),
        cmocka_unit_test(test_absurd_length),
        cmocka_unit_test(test_fixed_size),
    };
    const struct CMUnitTest bare[] = {cmocka_unit_test(test_bare_points)};
    const char *group = argc > 1 ? argv[1] : "keys";

    /* CSA_TEST_FILTER=test_long_id runs one test of the group. */
    if (getenv("CSA_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("CSA_TEST_FILTER"));

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
    if (!strcmp(group, "bounds"))
        return cmocka_run_group_tests_name("tok_bounds", bounds, NULL, NULL);
    if (!strcmp(group, "bare"))
        return cmocka_run_group_tests_name("tok_bare", bare, NULL, NULL);
    fprintf(stderr, "unknown group %s\n", group);
    return 2;
}
