/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signing inside the token.  Data is hashed on the host and the token signs
 * the digest (CKM_ECDSA, CKM_RSA_PKCS over a DigestInfo, CKM_RSA_PKCS_PSS):
 * SoftHSM's hashed ECDSA mechanisms break in multi-part use, and raw
 * mechanisms work on every token.  EdDSA signs the message itself.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/objects.h>

#include "tok_internal.h"

static const unsigned char di_sha256[] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
static const unsigned char di_sha384[] = {
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};

/* One row per signature algorithm: its JWS name (RFC 7518 §3.1, RFC 8037
 * §3.1), the CKA_KEY_TYPE it needs, the mechanism, the hash computed on
 * the host (none: EdDSA signs the message itself), the DigestInfo prefix
 * CKM_RSA_PKCS needs (RFC 8017 §9.2 note 1) and the PSS parameters. */
typedef struct {
    const char *jws;
    CK_KEY_TYPE ckk;
    CK_MECHANISM_TYPE mech;
    const EVP_MD *(*md)(void);
    const unsigned char *digest_info;
    size_t digest_info_len;
    CK_RSA_PKCS_PSS_PARAMS pss; /* CKM_RSA_PKCS_PSS only */
} tok_sig_desc;

#define TOK_SIG(j, k, m, h) .jws = (j), .ckk = (k), .mech = (m), .md = (h)
#define TOK_DI(a) .digest_info = (a), .digest_info_len = sizeof(a)

static const tok_sig_desc tok_sigs[TOK_SIG__MAX] = {
    [TOK_SIG_ECDSA_SHA256] = {TOK_SIG("ES256", CKK_EC, CKM_ECDSA, EVP_sha256)},
    [TOK_SIG_ECDSA_SHA384] = {TOK_SIG("ES384", CKK_EC, CKM_ECDSA, EVP_sha384)},
    [TOK_SIG_ECDSA_SHA512] = {TOK_SIG("ES512", CKK_EC, CKM_ECDSA, EVP_sha512)},
    [TOK_SIG_RSA_PKCS1_SHA256] = {TOK_SIG("RS256", CKK_RSA, CKM_RSA_PKCS,
                                          EVP_sha256),
                                  TOK_DI(di_sha256)},
    [TOK_SIG_RSA_PKCS1_SHA384] = {TOK_SIG("RS384", CKK_RSA, CKM_RSA_PKCS,
                                          EVP_sha384),
                                  TOK_DI(di_sha384)},
    [TOK_SIG_RSA_PSS_SHA256] = {TOK_SIG("PS256", CKK_RSA, CKM_RSA_PKCS_PSS,
                                        EVP_sha256),
                                .pss = {CKM_SHA256, CKG_MGF1_SHA256, 32}},
    [TOK_SIG_RSA_PSS_SHA384] = {TOK_SIG("PS384", CKK_RSA, CKM_RSA_PKCS_PSS,
                                        EVP_sha384),
                                .pss = {CKM_SHA384, CKG_MGF1_SHA384, 48}},
    [TOK_SIG_EDDSA] = {TOK_SIG("EdDSA", CKK_EC_EDWARDS, CKM_EDDSA, NULL)},
};

/* NULL for an algorithm out of range. */
static const tok_sig_desc *tok_sig_of(tok_sig_alg alg)
{
    if ((unsigned)alg >= TOK_SIG__MAX || tok_sigs[alg].jws == NULL)
        return NULL;
    return &tok_sigs[alg];
}

/* An algorithm fits the keys of its CKA_KEY_TYPE. */
static csa_err tok_sig_check_key(const tok_key *k, const tok_sig_desc *d)
{
    if (tok_keytype_of(k->type)->ckk != d->ckk)
        return csa_raise(CSA_ERR_INVALID,
                         "signature algorithm does not fit the %s key '%s'",
                         tok_key_type_name(k->type), k->label);
    return CSA_OK;
}

/* Builds what the token signs: digest, DigestInfo||digest, or the data. */
static csa_err tok_sig_input(const tok_sig_desc *d, const unsigned char *data,
                             size_t len, unsigned char *buf, size_t *buflen)
{
    unsigned int mdlen = 0;
    size_t off = 0;

    if (d->md == NULL)
        return CSA_OK; /* signs data directly */
    if (d->digest_info != NULL) {
        memcpy(buf, d->digest_info, d->digest_info_len);
        off = d->digest_info_len;
    }
    if (!EVP_Digest(data, len, buf + off, &mdlen, d->md(), NULL))
        return csa_raise(CSA_ERR_INVALID, "cannot hash the data to sign");
    *buflen = off + mdlen;
    return CSA_OK;
}

static csa_err tok_ecdsa_to_der(unsigned char *raw, size_t rawlen,
                                unsigned char **sig, size_t *siglen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(rawlen / 2), NULL);
    BIGNUM *s = BN_bin2bn(raw + rawlen / 2, (int)(rawlen / 2), NULL);
    unsigned char *der = NULL;
    int len;

    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (len <= 0)
        return csa_raise(CSA_ERR_INVALID, "cannot encode the ECDSA signature");
    *sig = malloc((size_t)len);
    if (*sig == NULL) {
        OPENSSL_free(der);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    memcpy(*sig, der, (size_t)len);
    *siglen = (size_t)len;
    OPENSSL_free(der);
    return CSA_OK;
}

static CK_RV tok_sign_raw(tok_key *k, const tok_sig_desc *d,
                          const unsigned char *in, size_t inlen,
                          unsigned char *out, CK_ULONG *outlen)
{
    CK_RSA_PKCS_PSS_PARAMS pss = d->pss;
    CK_MECHANISM m = {d->mech, NULL, 0};

    if (d->mech == CKM_RSA_PKCS_PSS) {
        m.pParameter = &pss;
        m.ulParameterLen = sizeof(pss);
    }
    return tok_ck_sign(k->ctx, &m, k->priv, in, inlen, out, outlen);
}

csa_err tok_sign(tok_key *k, tok_sig_alg alg, tok_sig_enc enc,
                 const unsigned char *data, size_t len, unsigned char **sig,
                 size_t *siglen)
{
    unsigned char in[128], out[1024];
    size_t inlen = 0;
    CK_ULONG outlen = sizeof(out);
    const tok_sig_desc *d = tok_sig_of(alg);
    /* The one signature length each key type gives: RSA the modulus
     * size, ECDSA r||s, EdDSA 64 bytes; all fit out[]. */
    size_t want = tok_keytype_of(k->type)->sig_len;
    csa_err err;
    CK_RV rv;

    *sig = NULL;
    *siglen = 0;
    if (d == NULL)
        return csa_raise(CSA_ERR_INVALID, "unknown signature algorithm");
    if ((err = tok_check_usable(k->ctx)) != CSA_OK ||
        (err = tok_key_refresh(k)) != CSA_OK ||
        (err = tok_sig_check_key(k, d)) != CSA_OK ||
        (err = tok_sig_input(d, data, len, in, &inlen)) != CSA_OK)
        return err;
    if (d->md == NULL)
        rv = tok_sign_raw(k, d, data, len, out, &outlen);
    else
        rv = tok_sign_raw(k, d, in, inlen, out, &outlen);
    if (tok_rv_session_lost(rv) && tok_session_reopen(k->ctx) == CSA_OK &&
        tok_key_refresh(k) == CSA_OK) {
        outlen = sizeof(out);
        rv = tok_sign_raw(k, d, d->md == NULL ? data : in,
                          d->md == NULL ? len : inlen, out, &outlen);
    }
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "the token could not sign");
    /* A module that reports more than it was given room for must not make
     * us copy past out[]; a short one must not pass for a signature. */
    if (outlen != want)
        return csa_raise(CSA_ERR_TOKEN,
                         "the token returned a signature of %lu bytes for "
                         "the %s key '%s', expected %zu",
                         (unsigned long)outlen, tok_key_type_name(k->type),
                         k->label, want);
    if (d->ckk == CKK_EC && enc == TOK_ENC_DER)
        return tok_ecdsa_to_der(out, outlen, sig, siglen);
    if ((*sig = malloc(outlen)) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    memcpy(*sig, out, outlen);
    *siglen = outlen;
    return CSA_OK;
}

const char *tok_key_default_jws_alg(const tok_key *k)
{
    return tok_keytype_of(k->type)->jws_alg;
}

csa_err tok_key_sig_for_jws(const tok_key *k, const char *jws_alg,
                            tok_sig_alg *out)
{
    const tok_keytype *kt = tok_keytype_of(k->type);
    int a;

    for (a = 0; a < TOK_SIG__MAX; a++) {
        const tok_sig_desc *d = tok_sig_of((tok_sig_alg)a);

        if (d == NULL || strcmp(d->jws, jws_alg) != 0)
            continue;
        if (tok_sig_check_key(k, d) != CSA_OK)
            break;
        /* ECDSA: each curve has its one hash (RFC 7518 §3.4), the
         * row's own alg. */
        if (d->ckk == CKK_EC && (tok_sig_alg)a != kt->jws_sig)
            break;
        *out = (tok_sig_alg)a;
        return CSA_OK;
    }
    return csa_raise(CSA_ERR_UNSUPPORTED,
                     "JWS algorithm %s does not fit the %s key '%s'", jws_alg,
                     tok_key_type_name(k->type), k->label);
}

csa_err tok_sign_req(tok_key *k, X509_REQ *req)
{
    unsigned char *tbs = NULL, *sig = NULL;
    size_t siglen = 0;
    X509_ALGOR *algor = X509_ALGOR_new();
    ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();
    const tok_keytype *kt = tok_keytype_of(k->type);
    /* The parameters are NULL for RSA (RFC 4055 §5) and absent for ECDSA
     * (RFC 5758 §3.2) and EdDSA (RFC 8410 §3). */
    int ptype = kt->ckk == CKK_RSA ? V_ASN1_NULL : V_ASN1_UNDEF;
    int tbslen;
    csa_err err = CSA_OK;

    if (algor == NULL || bits == NULL ||
        !X509_ALGOR_set0(algor, OBJ_nid2obj(kt->x509_nid), ptype, NULL) ||
        !X509_REQ_set1_signature_algo(req, algor)) {
        err = csa_raise(CSA_ERR_NOMEM, "cannot set the CSR's algorithm");
        goto done;
    }
    tbslen = i2d_re_X509_REQ_tbs(req, &tbs);
    if (tbslen <= 0) {
        err = csa_raise(CSA_ERR_INVALID, "cannot encode the CSR");
        goto done;
    }
    err = tok_sign(k, kt->x509_sig, TOK_ENC_DER, tbs, (size_t)tbslen, &sig,
                   &siglen);
    if (err != CSA_OK)
        goto done;
    if (!ASN1_BIT_STRING_set(bits, sig, (int)siglen)) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    bits->flags &= ~0x07;
    bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
    X509_REQ_set0_signature(req, bits);
    bits = NULL;
done:
    ASN1_BIT_STRING_free(bits);
    X509_ALGOR_free(algor);
    OPENSSL_free(tbs);
    free(sig);
    return err;
}
