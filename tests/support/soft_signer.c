/* SPDX-License-Identifier: Apache-2.0 */
/* TEST ONLY: see soft_signer.h. */
#include "soft_signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "acme.h"
#include "csa_util.h"

struct soft_signer {
    csa_signer pub;
    char alg[8];
    char *jwk;
    EVP_PKEY *pkey;
    size_t ec_width; /* 0 unless ECDSA */
};

static char *bn_param_b64(const EVP_PKEY *k, const char *name, size_t width)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    char *out = NULL;
    int n;

    if (!EVP_PKEY_get_bn_param(k, name, &bn))
        return NULL;
    n = width ? (int)width : BN_num_bytes(bn);
    if (n <= (int)sizeof(buf) && BN_bn2binpad(bn, buf, n) == n)
        out = csa_b64url_encode(buf, (size_t)n);
    BN_free(bn);
    return out;
}

/* RFC 7638 canonical JWK: required members, lexicographic, no spaces. */
static char *make_jwk(const soft_signer *s)
{
    char *a = NULL, *b = NULL, *out = malloc(2048);
    unsigned char raw[64];
    size_t rawlen = sizeof(raw);

    if (out == NULL)
        return NULL;
    if (s->ec_width != 0) {
        const char *crv = s->ec_width == 32   ? "P-256"
                          : s->ec_width == 48 ? "P-384"
                                              : "P-521";
        a = bn_param_b64(s->pkey, OSSL_PKEY_PARAM_EC_PUB_X, s->ec_width);
        b = bn_param_b64(s->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, s->ec_width);
        if (a && b)
            snprintf(out, 2048,
                     "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\","
                     "\"y\":\"%s\"}",
                     crv, a, b);
    } else if (strcmp(s->alg, "EdDSA") == 0) {
        if (EVP_PKEY_get_raw_public_key(s->pkey, raw, &rawlen))
            a = csa_b64url_encode(raw, rawlen);
        b = strdup("");
        if (a && b)
            snprintf(out, 2048,
                     "{\"crv\":\"Ed25519\",\"kty\":\"OKP\","
                     "\"x\":\"%s\"}",
                     a);
    } else {
        a = bn_param_b64(s->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        b = bn_param_b64(s->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        if (a && b)
            snprintf(out, 2048, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
                     a, b);
    }
    if (a == NULL || b == NULL) {
        free(out);
        out = NULL;
    }
    free(a);
    free(b);
    return out;
}

static const EVP_MD *alg_md(const char *alg)
{
    if (strcmp(alg, "ES384") == 0)
        return EVP_sha384();
    if (strcmp(alg, "ES512") == 0)
        return EVP_sha512();
    if (strcmp(alg, "EdDSA") == 0)
        return NULL;
    return EVP_sha256();
}

static csa_err soft_sign(void *ctx, const unsigned char *in, size_t len,
                         unsigned char **sig, size_t *siglen)
{
    soft_signer *s = ctx;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    size_t dlen = 0;
    csa_err err = CSA_ERR_INVALID;

    *sig = NULL;
    if (md == NULL ||
        EVP_DigestSignInit(md, &pctx, alg_md(s->alg), NULL, s->pkey) != 1)
        goto done;
    if (strcmp(s->alg, "PS256") == 0 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto done;
    if (EVP_DigestSign(md, NULL, &dlen, in, len) != 1 ||
        (der = malloc(dlen)) == NULL ||
        EVP_DigestSign(md, der, &dlen, in, len) != 1)
        goto done;
    if (s->ec_width != 0) {
        err = acme_ecdsa_der_to_jose(der, dlen, s->ec_width, sig, siglen);
    } else {
        *sig = der;
        *siglen = dlen;
        der = NULL;
        err = CSA_OK;
    }
done:
    if (err == CSA_ERR_INVALID && *sig == NULL)
        err = csa_raise(CSA_ERR_INVALID, "soft signer: %s signing failed",
                        s->alg);
    free(der);
    EVP_MD_CTX_free(md);
    return err;
}

csa_err soft_signer_from_pkey(const char *alg, EVP_PKEY *pkey,
                              soft_signer **out)
{
    soft_signer *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL || strlen(alg) >= sizeof(s->alg)) {
        free(s);
        return csa_raise(CSA_ERR_INVALID, "soft signer: bad algorithm");
    }
    strcpy(s->alg, alg);
    s->ec_width = strcmp(alg, "ES256") == 0   ? 32
                  : strcmp(alg, "ES384") == 0 ? 48
                  : strcmp(alg, "ES512") == 0 ? 66
                                              : 0;
    EVP_PKEY_up_ref(pkey);
    s->pkey = pkey;
    s->jwk = make_jwk(s);
    if (s->jwk == NULL) {
        soft_signer_free(s);
        return csa_raise(CSA_ERR_INVALID, "soft signer: cannot build the JWK");
    }
    s->pub.alg = s->alg;
    s->pub.jwk = s->jwk;
    s->pub.sign_jws = soft_sign;
    s->pub.ctx = s;
    *out = s;
    return CSA_OK;
}

static EVP_PKEY *keygen(const char *alg)
{
    if (strcmp(alg, "ES256") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (strcmp(alg, "ES384") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    if (strcmp(alg, "ES512") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    if (strcmp(alg, "RS256") == 0 || strcmp(alg, "PS256") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    if (strcmp(alg, "EdDSA") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return NULL;
}

csa_err soft_signer_generate(const char *alg, soft_signer **out)
{
    EVP_PKEY *k = keygen(alg);
    csa_err err;

    *out = NULL;
    if (k == NULL)
        return csa_raise(CSA_ERR_UNSUPPORTED,
                         "soft signer: cannot generate a %s key", alg);
    err = soft_signer_from_pkey(alg, k, out);
    EVP_PKEY_free(k);
    return err;
}

void soft_signer_free(soft_signer *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->pkey);
    free(s->jwk);
    free(s);
}

const csa_signer *soft_signer_get(const soft_signer *s)
{
    return &s->pub;
}

EVP_PKEY *soft_signer_pkey(const soft_signer *s)
{
    return s->pkey;
}
