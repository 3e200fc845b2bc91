/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWS in the flattened JSON serialization (RFC 7515 §7.2.2) as ACME uses it
 * (RFC 8555 §6.2), the External Account Binding MAC (§7.3.4), JWK
 * thumbprints (RFC 7638) and key authorizations (§8.1).  Signing goes
 * through the caller's csa_signer; the only key material handled here is
 * the EAB MAC key, which is wiped after use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "acme_int.h"
#include "csa_log.h"
#include "csa_util.h"

size_t acme_jws_sig_len(const char *alg)
{
    if (strcmp(alg, "ES256") == 0)
        return 64;
    if (strcmp(alg, "ES384") == 0)
        return 96;
    if (strcmp(alg, "ES512") == 0)
        return 132;
    if (strcmp(alg, "EdDSA") == 0)
        return 64; /* Ed25519; Ed448 signers would say 114 */
    return 0;
}

static csa_err b64_text(const char *s, char **out)
{
    *out = csa_b64url_encode((const unsigned char *)s, strlen(s));
    return *out != NULL ? CSA_OK : csa_raise(CSA_ERR_NOMEM, "out of memory");
}

/* The protected header as base64url text. */
static csa_err protected_b64(const char *alg, const char *jwk, const char *kid,
                             const char *nonce, const char *url, char **out)
{
    json_object *h = json_object_new_object(), *jwk_obj = NULL;
    csa_err err = CSA_OK;

    *out = NULL;
    if (h == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    json_object_object_add(h, "alg", json_object_new_string(alg));
    if (kid != NULL) {
        json_object_object_add(h, "kid", json_object_new_string(kid));
    } else {
        jwk_obj = json_tokener_parse(jwk);
        if (jwk_obj == NULL ||
            !json_object_is_type(jwk_obj, json_type_object)) {
            json_object_put(jwk_obj);
            err = csa_raise(CSA_ERR_INVALID, "the signer's JWK is not JSON");
            goto done;
        }
        json_object_object_add(h, "jwk", jwk_obj);
    }
    if (nonce != NULL)
        json_object_object_add(h, "nonce", json_object_new_string(nonce));
    json_object_object_add(h, "url", json_object_new_string(url));
    err = b64_text(
        json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN |
                                              JSON_C_TO_STRING_NOSLASHESCAPE),
        out);
done:
    json_object_put(h);
    return err;
}

/* {"protected":..,"payload":..,"signature":..} from the three parts. */
static csa_err jws_serialize(const char *prot, const char *payload,
                             const unsigned char *sig, size_t siglen,
                             char **out)
{
    json_object *j = json_object_new_object();
    char *sig64 = csa_b64url_encode(sig, siglen);
    csa_err err = CSA_OK;

    *out = NULL;
    if (j == NULL || sig64 == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    json_object_object_add(j, "protected", json_object_new_string(prot));
    json_object_object_add(j, "payload", json_object_new_string(payload));
    json_object_object_add(j, "signature", json_object_new_string(sig64));
    *out = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
    if (*out == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
done:
    free(sig64);
    json_object_put(j);
    return err;
}

static char *signing_input(const char *prot, const char *payload)
{
    size_t lp = strlen(prot), ll = strlen(payload);
    char *in = malloc(lp + ll + 2);

    if (in == NULL)
        return NULL;
    memcpy(in, prot, lp);
    in[lp] = '.';
    memcpy(in + lp + 1, payload, ll + 1);
    return in;
}

csa_err acme_jws_build(const csa_signer *s, const char *url, const char *nonce,
                       const char *kid, const char *payload, char **out)
{
    char *prot = NULL, *pay = NULL, *in = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0, want;
    csa_err err;

    *out = NULL;
    if (s->build_jws != NULL) {
        /* The key lives in another process, which builds the header from
         * these fields itself (csa_signer.h). */
        err = s->build_jws(s->ctx, url, nonce, kid, payload, out);
        if (err != CSA_OK)
            csa_err_context("signing the request to %s", url);
        return err;
    }
    if ((err = protected_b64(s->alg, s->jwk, kid, nonce, url, &prot)) ||
        (err = b64_text(payload != NULL ? payload : "", &pay)))
        goto done;
    if ((in = signing_input(prot, pay)) == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    err = s->sign_jws(s->ctx, (const unsigned char *)in, strlen(in), &sig,
                      &siglen);
    if (err != CSA_OK) {
        csa_err_context("signing the request to %s", url);
        goto done;
    }
    want = acme_jws_sig_len(s->alg);
    if (want != 0 && siglen != want) {
        err = csa_raise(CSA_ERR_VERIFY,
                        "the %s signer returned %zu signature bytes, not %zu "
                        "(ECDSA r and s must each be padded to the curve "
                        "width)",
                        s->alg, siglen, want);
        goto done;
    }
    err = jws_serialize(prot, pay, sig, siglen, out);
done:
    free(prot);
    free(pay);
    free(in);
    free(sig);
    return err;
}

static const EVP_MD *hmac_md(const char *alg)
{
    if (alg == NULL || strcmp(alg, "HS256") == 0)
        return EVP_sha256();
    if (strcmp(alg, "HS384") == 0)
        return EVP_sha384();
    if (strcmp(alg, "HS512") == 0)
        return EVP_sha512();
    return NULL;
}

/* HMAC of in with the base64url-decoded key; the decoded key is wiped. */
static csa_err eab_mac(const EVP_MD *md, const csa_secret *b64key,
                       const char *in, unsigned char *mac, unsigned *maclen)
{
    unsigned char *key = NULL;
    size_t keylen = 0;
    csa_err err;

    if (b64key == NULL || b64key->data == NULL || b64key->len == 0)
        return csa_raise(CSA_ERR_INVALID, "the EAB MAC key is empty");
    err = csa_b64url_decode((const char *)b64key->data, &key, &keylen);
    if (err != CSA_OK) {
        /* the decoder's message names only an offset, never key bytes */
        csa_err_context("the EAB MAC key is not base64url");
        return err;
    }
    if (keylen == 0 || HMAC(md, key, (int)keylen, (const unsigned char *)in,
                            strlen(in), mac, maclen) == NULL)
        err = csa_raise(CSA_ERR_INVALID, "cannot compute the EAB MAC");
    csa_cleanse(key, keylen);
    free(key);
    return err;
}

csa_err acme_jws_eab(const char *eab_kid, const csa_secret *b64key,
                     const char *alg, const char *url, const char *jwk,
                     json_object **out)
{
    const EVP_MD *md = hmac_md(alg);
    json_object *h = json_object_new_object(), *j = NULL;
    char *prot = NULL, *pay = NULL, *in = NULL, *sig64 = NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    csa_err err;

    *out = NULL;
    if (md == NULL) {
        err = csa_raise(CSA_ERR_UNSUPPORTED,
                        "EAB algorithm %s is not one of "
                        "HS256, HS384, HS512",
                        alg);
        goto done;
    }
    if (h == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    json_object_object_add(h, "alg",
                           json_object_new_string(alg ? alg : "HS256"));
    json_object_object_add(h, "kid", json_object_new_string(eab_kid));
    json_object_object_add(h, "url", json_object_new_string(url));
    if ((err = b64_text(
             json_object_to_json_string_ext(
                 h, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
             &prot)) ||
        (err = b64_text(jwk, &pay)))
        goto done;
    if ((in = signing_input(prot, pay)) == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((err = eab_mac(md, b64key, in, mac, &maclen)) != CSA_OK)
        goto done;
    sig64 = csa_b64url_encode(mac, maclen);
    j = json_object_new_object();
    if (sig64 == NULL || j == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    json_object_object_add(j, "protected", json_object_new_string(prot));
    json_object_object_add(j, "payload", json_object_new_string(pay));
    json_object_object_add(j, "signature", json_object_new_string(sig64));
    *out = j;
    j = NULL;
done:
    OPENSSL_cleanse(mac, sizeof(mac));
    json_object_put(h);
    json_object_put(j);
    free(prot);
    free(pay);
    free(in);
    free(sig64);
    return err;
}

static csa_err sha256_b64(const char *s, char **out)
{
    unsigned char md[32];
    unsigned mdlen = 0;

    *out = NULL;
    if (!EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL))
        return csa_raise(CSA_ERR_INVALID, "SHA-256 failed");
    *out = csa_b64url_encode(md, mdlen);
    return *out != NULL ? CSA_OK : csa_raise(CSA_ERR_NOMEM, "out of memory");
}

csa_err acme_jwk_thumbprint(const char *jwk, char **out)
{
    if (jwk == NULL || jwk[0] != '{' || strpbrk(jwk, " \t\r\n") != NULL)
        return csa_raise(CSA_ERR_INVALID,
                         "the signer's JWK is not in RFC 7638 canonical form");
    return sha256_b64(jwk, out);
}

csa_err acme_key_authorization(const csa_signer *key, const char *token,
                               char **out)
{
    char *tp = NULL;
    size_t n;
    csa_err err;

    *out = NULL;
    if (token == NULL || token[0] == '\0')
        return csa_raise(CSA_ERR_PROTOCOL, "the challenge has no token");
    if ((err = acme_jwk_thumbprint(key->jwk, &tp)) != CSA_OK)
        return err;
    n = strlen(token) + 1 + strlen(tp) + 1;
    *out = malloc(n);
    if (*out == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    else
        snprintf(*out, n, "%s.%s", token, tp);
    free(tp);
    return err;
}

csa_err acme_dns01_txt(const char *key_auth, char **out)
{
    return sha256_b64(key_auth, out);
}
