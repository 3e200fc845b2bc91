/* SPDX-License-Identifier: Apache-2.0 */
/* Public halves leave the token: as an EVP_PKEY and as a JWK. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "csa_jwk.h"
#include "tok_internal.h"

/*
 * CKA_EC_POINT is the point in a DER OCTET STRING on most tokens (PKCS#11
 * 2.40 §2.3.3) and the bare point on some.  A guess from the first bytes is
 * wrong for about one P-256 key in 256 (a bare point whose X starts with
 * 0x3f reads as "04 3f": an OCTET STRING of 63 bytes), so the two forms are
 * told apart by the curve's exact lengths, which never coincide: bare is
 * point_len bytes, wrapped is the DER header (04 L, or 04 81 L from 128
 * bytes on) plus point_len.  A NIST point must be uncompressed (04).
 */
csa_err tok_ec_point_decode(tok_key_type type, const unsigned char *in,
                            size_t len, const unsigned char **pt, size_t *ptlen)
{
    const tok_keytype *c = tok_keytype_of(type);
    unsigned char hdr[3] = {0x04};
    size_t hlen, off;

    *pt = NULL;
    *ptlen = 0;
    if (c == NULL || c->point_len == 0)
        return csa_raise(CSA_ERR_INVALID, "a %s key has no CKA_EC_POINT",
                         tok_key_type_name(type));
    if (c->point_len < 0x80) {
        hdr[1] = (unsigned char)c->point_len;
        hlen = 2;
    } else {
        hdr[1] = 0x81;
        hdr[2] = (unsigned char)c->point_len;
        hlen = 3;
    }
    if (len == c->point_len)
        off = 0;
    else if (len == hlen + c->point_len && memcmp(in, hdr, hlen) == 0)
        off = hlen;
    else if (len == hlen + c->point_len)
        return csa_raise(CSA_ERR_TOKEN,
                         "the token's CKA_EC_POINT for a %s key has %zu "
                         "bytes but not the DER OCTET STRING header "
                         "(%02x %02x...)",
                         c->display, len, in[0], in[1]);
    else
        return csa_raise(CSA_ERR_TOKEN,
                         "the token's CKA_EC_POINT for a %s key is %zu bytes; "
                         "expected the %zu-byte point, bare or in a %zu-byte "
                         "DER OCTET STRING",
                         c->display, len, c->point_len, hlen + c->point_len);
    if (c->ckk == CKK_EC && in[off] != 0x04)
        return csa_raise(CSA_ERR_TOKEN,
                         "the token's CKA_EC_POINT for a %s key is not an "
                         "uncompressed point (first byte 0x%02x, not 0x04)",
                         c->display, in[off]);
    *pt = in + off;
    *ptlen = c->point_len;
    return CSA_OK;
}

static csa_err tok_pkey_fromdata(const char *alg, OSSL_PARAM_BLD *bld,
                                 EVP_PKEY **out)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
    csa_err err = CSA_OK;

    if (params == NULL || pctx == NULL || EVP_PKEY_fromdata_init(pctx) <= 0 ||
        EVP_PKEY_fromdata(pctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        err = csa_raise(CSA_ERR_TOKEN,
                        "the token's public key is not a valid %s key", alg);
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(pctx);
    return err;
}

static csa_err tok_pub_ec(tok_key *k, EVP_PKEY **out)
{
    unsigned char *raw = NULL;
    const unsigned char *pt = NULL;
    size_t len = 0, ptlen = 0;
    OSSL_PARAM_BLD *bld = NULL;
    const tok_keytype *c = tok_keytype_of(k->type);
    csa_err err = tok_get_attr_alloc(k->ctx, k->pub, CKA_EC_POINT, &raw, &len);

    if (err != CSA_OK)
        return err;
    if ((err = tok_ec_point_decode(k->type, raw, len, &pt, &ptlen)) != CSA_OK)
        goto done;
    if (c->raw_pkey != 0) {
        *out = EVP_PKEY_new_raw_public_key(c->raw_pkey, NULL, pt, ptlen);
        if (*out == NULL)
            err = csa_raise(CSA_ERR_TOKEN, "bad %s public key", c->display);
        goto done;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         c->curve, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
                                          ptlen)) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    err = tok_pkey_fromdata("EC", bld, out);
done:
    OSSL_PARAM_BLD_free(bld);
    free(raw);
    return err;
}

static csa_err tok_pub_rsa(tok_key *k, EVP_PKEY **out)
{
    unsigned char *n = NULL, *e = NULL;
    size_t nlen = 0, elen = 0;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    csa_err err;

    if ((err = tok_get_attr_alloc(k->ctx, k->pub, CKA_MODULUS, &n, &nlen)) !=
            CSA_OK ||
        (err = tok_get_attr_alloc(k->ctx, k->pub, CKA_PUBLIC_EXPONENT, &e,
                                  &elen)) != CSA_OK)
        goto done;
    bn = BN_bin2bn(n, (int)nlen, NULL);
    be = BN_bin2bn(e, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (bn == NULL || be == NULL || bld == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    err = tok_pkey_fromdata("RSA", bld, out);
done:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return err;
}

/* No public key object: take the public key from the certificate that
 * carries the key's CKA_ID. */
static csa_err tok_pub_from_cert(tok_key *k, EVP_PKEY **out)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_ID, k->id, k->id_len}};
    CK_OBJECT_HANDLE h;
    X509 *x = NULL;
    csa_err err = tok_find_one(k->ctx, tmpl, 2, &h,
                               "public key or certificate for the key");

    if (err != CSA_OK || (err = tok_cert_get(k->ctx, h, &x)) != CSA_OK)
        return err;
    *out = X509_get_pubkey(x);
    X509_free(x);
    if (*out == NULL)
        return csa_raise(CSA_ERR_TOKEN, "cannot read the certificate's key");
    return CSA_OK;
}

/* A key's public half cannot change while its private half stays: read
 * once per key (and session, see tok_key_refresh), then shared by
 * reference. */
csa_err tok_key_public(tok_key *k, EVP_PKEY **out)
{
    csa_err err = tok_key_refresh(k);

    *out = NULL;
    if (err == CSA_OK && k->pub_pkey == NULL) {
        if (!k->pub_known)
            err = tok_key_find_pub(k);
        if (err == CSA_OK && k->pub == CK_INVALID_HANDLE)
            err = tok_pub_from_cert(k, &k->pub_pkey);
        else if (err == CSA_OK && tok_keytype_of(k->type)->ckk == CKK_RSA)
            err = tok_pub_rsa(k, &k->pub_pkey);
        else if (err == CSA_OK)
            err = tok_pub_ec(k, &k->pub_pkey);
    }
    if (err != CSA_OK || !EVP_PKEY_up_ref(k->pub_pkey)) {
        EVP_PKEY_free(k->pub_pkey); /* a failed read leaves no half key */
        k->pub_pkey = NULL;
        return err != CSA_OK ? err : csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    *out = k->pub_pkey;
    return CSA_OK;
}

csa_err tok_key_jwk(tok_key *k, char **out)
{
    EVP_PKEY *pkey = NULL;
    csa_err err = tok_key_public(k, &pkey);

    *out = NULL;
    if (err != CSA_OK)
        return err;
    err = csa_jwk_from_pkey(pkey, out);
    EVP_PKEY_free(pkey);
    return err;
}

csa_err tok_key_info(tok_key *k, tok_obj_info *out)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    csa_err err = tok_key_refresh(k);

    if (err != CSA_OK)
        return err;
    err = tok_objects(k->ctx, NULL, k->id, k->id_len, TOK_CLASS_PRIVATE_KEY,
                      &objs, &n);
    if (err != CSA_OK)
        return err;
    err = csa_raise(CSA_ERR_NOT_FOUND, "key '%s' vanished", k->label);
    for (i = 0; i < n; i++) {
        if (objs[i].handle == k->priv) {
            *out = objs[i];
            err = CSA_OK;
        }
    }
    free(objs);
    return err;
}

csa_err tok_key_try_read_private(tok_key *k)
{
    static const CK_ATTRIBUTE_TYPE secret[] = {CKA_VALUE, CKA_PRIVATE_EXPONENT,
                                               CKA_PRIME_1, CKA_PRIME_2};
    unsigned char buf[1024];
    size_t i;

    for (i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
        CK_ATTRIBUTE a = {secret[i], buf, sizeof(buf)};
        CK_RV rv = tok_ck_get_attrs(k->ctx, k->priv, &a, 1);

        if (rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION &&
            a.ulValueLen > 0) {
            csa_cleanse(buf, sizeof(buf));
            return CSA_OK;
        }
    }
    return csa_raise(CSA_ERR_TOKEN, "the token refused to reveal the key");
}
