/* SPDX-License-Identifier: Apache-2.0 */
#include "csa_jwk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/sha.h>

#include "csa_util.h"

static csa_err jwk_ec(EVP_PKEY *pkey, char **out)
{
    unsigned char pt[1 + 2 * 66];
    size_t ptlen = 0, w;
    char curve[32];
    const char *crv;
    char *x = NULL, *y = NULL;
    csa_err err = CSA_OK;

    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve,
                                        sizeof(curve), NULL) ||
        !EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pt,
                                         sizeof(pt), &ptlen) ||
        ptlen < 3 || pt[0] != 0x04 || ptlen % 2 != 1)
        return csa_raise(CSA_ERR_INVALID, "cannot read the EC public point");
    if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0)
        crv = "P-256";
    else if (strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0)
        crv = "P-384";
    else if (strcmp(curve, "secp521r1") == 0 || strcmp(curve, "P-521") == 0)
        crv = "P-521";
    else
        return csa_raise(CSA_ERR_UNSUPPORTED, "EC curve %s has no JWK name",
                         curve);
    /* The uncompressed point already carries full-width coordinates. */
    w = (ptlen - 1) / 2;
    x = csa_b64url_encode(pt + 1, w);
    y = csa_b64url_encode(pt + 1 + w, w);
    if (x == NULL || y == NULL ||
        asprintf(out,
                 "{\"crv\":\"%s\",\"kty\":\"EC\","
                 "\"x\":\"%s\",\"y\":\"%s\"}",
                 crv, x, y) < 0) {
        *out = NULL;
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    free(x);
    free(y);
    return err;
}

static char *jwk_bn(EVP_PKEY *pkey, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char *buf;
    char *s = NULL;
    int len;

    if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
        return NULL;
    len = BN_num_bytes(bn);
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf != NULL && BN_bn2bin(bn, buf) == len)
        s = csa_b64url_encode(buf, (size_t)len);
    free(buf);
    BN_free(bn);
    return s;
}

static csa_err jwk_rsa(EVP_PKEY *pkey, char **out)
{
    char *n = jwk_bn(pkey, OSSL_PKEY_PARAM_RSA_N);
    char *e = jwk_bn(pkey, OSSL_PKEY_PARAM_RSA_E);
    csa_err err = CSA_OK;

    if (n == NULL || e == NULL ||
        asprintf(out, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n) <
            0) {
        *out = NULL;
        err = csa_raise(CSA_ERR_INVALID, "cannot encode the RSA public key");
    }
    free(n);
    free(e);
    return err;
}

static csa_err jwk_ed25519(EVP_PKEY *pkey, char **out)
{
    unsigned char raw[32];
    size_t len = sizeof(raw);
    char *x;
    csa_err err = CSA_OK;

    if (!EVP_PKEY_get_raw_public_key(pkey, raw, &len) || len != 32)
        return csa_raise(CSA_ERR_INVALID, "cannot read the Ed25519 key");
    x = csa_b64url_encode(raw, len);
    if (x == NULL ||
        asprintf(out, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x) <
            0) {
        *out = NULL;
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    free(x);
    return err;
}

csa_err csa_jwk_from_pkey(EVP_PKEY *pkey, char **out)
{
    *out = NULL;
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC:
        return jwk_ec(pkey, out);
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        return jwk_rsa(pkey, out);
    case EVP_PKEY_ED25519:
        return jwk_ed25519(pkey, out);
    default:
        return csa_raise(CSA_ERR_UNSUPPORTED,
                         "this key type cannot be expressed as a JWK");
    }
}

csa_err csa_jwk_thumbprint(const char *canonical_jwk, char **out)
{
    unsigned char md[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)canonical_jwk, strlen(canonical_jwk), md);
    *out = csa_b64url_encode(md, sizeof(md));
    if (*out == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    return CSA_OK;
}
