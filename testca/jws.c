/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWS as RFC 8555 §6.2 wants it: flattened JSON serialization, protected
 * header only, an algorithm allowlist, single-use nonce, url equal to the
 * request URL, and exactly one of jwk / kid.  Written for csca alone: the
 * agent's JWS code is deliberately not shared, so each tests the other.
 */
#include "csca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

/* RFC 7518 §3.1 names; ES512 is ECDSA P-521 with SHA-512 (r||s of 66
 * bytes each).  alg_key_match() pairs each with the key it fits. */
static const char *const allowed_algs[] = {"ES256", "ES384", "ES512",
                                           "RS256", "PS256", "EdDSA"};

static bool alg_allowed(const char *alg)
{
    size_t i;

    for (i = 0; i < sizeof(allowed_algs) / sizeof(allowed_algs[0]); i++)
        if (strcmp(alg, allowed_algs[i]) == 0)
            return true;
    return false;
}

/* Decode a base64url member of exactly want bytes (0: any length). */
static uint8_t *jwk_bytes(json_object *jwk, const char *name, size_t want,
                          size_t *len)
{
    const char *s = jstr(jwk, name);
    uint8_t *b = NULL;

    if (s == NULL || b64url_dec(s, &b, len) != 0)
        return NULL;
    if ((want != 0 && *len != want) || *len == 0) {
        free(b);
        return NULL;
    }
    return b;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pk = NULL;

    if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pk;
}

static EVP_PKEY *jwk_ec(json_object *jwk, char *why, size_t whylen)
{
    const char *crv = jstr(jwk, "crv");
    size_t w, xl, yl;
    uint8_t *x = NULL, *y = NULL, pt[1 + 2 * 66];
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pk = NULL;

    if (crv == NULL || (strcmp(crv, "P-256") && strcmp(crv, "P-384") &&
                        strcmp(crv, "P-521"))) {
        snprintf(why, whylen, "unsupported EC curve in JWK");
        return NULL;
    }
    w = crv[2] == '2' ? 32 : crv[2] == '3' ? 48 : 66;
    x = jwk_bytes(jwk, "x", w, &xl);
    y = jwk_bytes(jwk, "y", w, &yl);
    if (x == NULL || y == NULL) {
        snprintf(why, whylen, "EC JWK x/y missing or not %zu bytes", w);
        goto done;
    }
    pt[0] = 4;
    memcpy(pt + 1, x, w);
    memcpy(pt + 1 + w, y, w);
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv,
                                         0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
                                          1 + 2 * w))
        goto done;
    pk = pkey_fromdata("EC", bld);
    if (pk == NULL)
        snprintf(why, whylen, "EC JWK point is not on the curve");
done:
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return pk;
}

static EVP_PKEY *jwk_rsa(json_object *jwk, char *why, size_t whylen)
{
    size_t nl = 0, el = 0;
    uint8_t *n = jwk_bytes(jwk, "n", 0, &nl), *e = jwk_bytes(jwk, "e", 0, &el);
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pk = NULL;

    if (n == NULL || e == NULL || bld == NULL) {
        snprintf(why, whylen, "RSA JWK n/e missing or not base64url");
        goto done;
    }
    bn = BN_bin2bn(n, (int)nl, NULL);
    be = BN_bin2bn(e, (int)el, NULL);
    /* Upper bound: verifying with a huge modulus costs the CA, not the
     * client; 8192 bits is more than any real account key. */
    if (BN_num_bits(bn) < 2048 || BN_num_bits(bn) > 8192) {
        snprintf(why, whylen, "RSA key has %d bits, 2048 to 8192 wanted",
                 BN_num_bits(bn));
        goto done;
    }
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        pk = pkey_fromdata("RSA", bld);
    if (pk == NULL)
        snprintf(why, whylen, "RSA JWK is not a valid public key");
done:
    BN_free(bn);
    BN_free(be);
    OSSL_PARAM_BLD_free(bld);
    free(n);
    free(e);
    return pk;
}

static EVP_PKEY *jwk_okp(json_object *jwk, char *why, size_t whylen)
{
    const char *crv = jstr(jwk, "crv");
    size_t xl;
    uint8_t *x;
    EVP_PKEY *pk;

    if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
        snprintf(why, whylen, "OKP JWK must use crv Ed25519");
        return NULL;
    }
    x = jwk_bytes(jwk, "x", 32, &xl);
    if (x == NULL) {
        snprintf(why, whylen, "Ed25519 JWK x missing or not 32 bytes");
        return NULL;
    }
    pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
    free(x);
    return pk;
}

/* Public key from a JWK (RFC 7517/7518/8037); the caller frees it.  A JWK
 * that carries private members is refused. */
EVP_PKEY *jwk_to_pkey(json_object *jwk, char *why, size_t whylen)
{
    const char *kty = jstr(jwk, "kty");

    if (!json_object_is_type(jwk, json_type_object) || kty == NULL) {
        snprintf(why, whylen, "JWK is not an object with a kty");
        return NULL;
    }
    if (json_object_object_get_ex(jwk, "d", NULL)) {
        snprintf(why, whylen, "JWK contains a private key");
        return NULL;
    }
    if (strcmp(kty, "EC") == 0)
        return jwk_ec(jwk, why, whylen);
    if (strcmp(kty, "RSA") == 0)
        return jwk_rsa(jwk, why, whylen);
    if (strcmp(kty, "OKP") == 0)
        return jwk_okp(jwk, why, whylen);
    snprintf(why, whylen, "unsupported JWK kty \"%s\"", kty);
    return NULL;
}

/* RFC 7638: SHA-256 over the required members in lexicographic order.
 * NULL when a required member is missing or not a string. */
char *jwk_thumbprint(json_object *jwk)
{
    const char *kty = jstr(jwk, "kty"), *crv = jstr(jwk, "crv");
    const char *x = jstr(jwk, "x"), *y = jstr(jwk, "y");
    const char *e = jstr(jwk, "e"), *n = jstr(jwk, "n");
    char *buf = NULL, *out = NULL;
    uint8_t md[32];
    int len = -1;

    if (kty == NULL)
        return NULL;
    if (strcmp(kty, "EC") == 0 && crv && x && y)
        len = asprintf(
            &buf, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
            crv, x, y);
    else if (strcmp(kty, "RSA") == 0 && e && n)
        len =
            asprintf(&buf, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
    else if (strcmp(kty, "OKP") == 0 && crv && x)
        len = asprintf(&buf, "{\"crv\":\"%s\",\"kty\":\"OKP\",\"x\":\"%s\"}",
                       crv, x);
    if (len < 0)
        return NULL;
    if (EVP_Digest(buf, (size_t)len, md, NULL, EVP_sha256(), NULL) == 1)
        out = b64url_enc(md, sizeof(md));
    free(buf);
    return out;
}

/* Raw r||s (JWS) to DER ECDSA-Sig-Value (what OpenSSL verifies). */
static uint8_t *ecdsa_raw_to_der(const uint8_t *sig, size_t len, size_t *out)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
    BIGNUM *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
    unsigned char *der = NULL;
    int n;

    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return NULL;
    }
    n = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (n <= 0)
        return NULL;
    *out = (size_t)n;
    return der;
}

/* Does the key fit the algorithm?  Fills the digest and the ECDSA width. */
static int alg_key_match(EVP_PKEY *pk, const char *alg, const EVP_MD **md,
                         size_t *ecw)
{
    int bits = EVP_PKEY_get_bits(pk);

    *md = NULL;
    *ecw = 0;
    if (strcmp(alg, "ES256") == 0 && EVP_PKEY_is_a(pk, "EC") && bits == 256)
        *md = EVP_sha256(), *ecw = 32;
    else if (strcmp(alg, "ES384") == 0 && EVP_PKEY_is_a(pk, "EC") &&
             bits == 384)
        *md = EVP_sha384(), *ecw = 48;
    else if (strcmp(alg, "ES512") == 0 && EVP_PKEY_is_a(pk, "EC") &&
             bits == 521)
        *md = EVP_sha512(), *ecw = 66;
    else if ((strcmp(alg, "RS256") == 0 || strcmp(alg, "PS256") == 0) &&
             EVP_PKEY_is_a(pk, "RSA"))
        *md = EVP_sha256();
    else if (strcmp(alg, "EdDSA") == 0 && EVP_PKEY_is_a(pk, "ED25519"))
        return 0;
    else
        return -1;
    return 0;
}

/* 0: valid; -2: algorithm does not fit the key; -1: bad signature. */
int sig_verify(EVP_PKEY *pk, const char *alg, const uint8_t *data, size_t len,
               const uint8_t *sig, size_t siglen, char *why, size_t whylen)
{
    const EVP_MD *md;
    size_t ecw, derlen = 0;
    uint8_t *der = NULL;
    EVP_MD_CTX *mc = NULL;
    EVP_PKEY_CTX *pc = NULL;
    int ok = 0;

    if (alg_key_match(pk, alg, &md, &ecw) != 0) {
        snprintf(why, whylen, "algorithm %s does not fit the key", alg);
        return -2;
    }
    if (ecw != 0) {
        if (siglen != 2 * ecw) {
            snprintf(why, whylen, "%s signature must be %zu bytes (r||s)", alg,
                     2 * ecw);
            return -1;
        }
        der = ecdsa_raw_to_der(sig, siglen, &derlen);
        if (der == NULL)
            return -1;
        sig = der;
        siglen = derlen;
    }
    mc = EVP_MD_CTX_new();
    if (mc != NULL && EVP_DigestVerifyInit(mc, &pc, md, NULL, pk) == 1) {
        if (strcmp(alg, "PS256") == 0 &&
            (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1 ||
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) != 1))
            goto done;
        ok = EVP_DigestVerify(mc, sig, siglen, data, len) == 1;
    }
done:
    EVP_MD_CTX_free(mc);
    OPENSSL_free(der);
    if (!ok)
        snprintf(why, whylen, "%s signature does not verify", alg);
    return ok ? 0 : -1;
}

/* Exactly the flattened members: protected, payload, signature. */
static int flat_members_ok(json_object *o, char *why, size_t whylen)
{
    json_object_object_foreach(o, k, v)
    {
        if (strcmp(k, "protected") && strcmp(k, "payload") &&
            strcmp(k, "signature")) {
            snprintf(why, whylen,
                     "JWS member \"%s\" not allowed (flattened JSON "
                     "serialization with a protected header only)",
                     k);
            return -1;
        }
        if (!json_object_is_type(v, json_type_string)) {
            snprintf(why, whylen, "JWS member \"%s\" is not a string", k);
            return -1;
        }
    }
    return 0;
}

static json_object *parse_json(const char *s, size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = NULL;

    if (tok == NULL)
        return NULL;
    o = json_tokener_parse_ex(tok, s, (int)len);
    if (o != NULL && tok->char_offset != (int)len) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

/* Split a flattened JWS; everything returned is the caller's. */
int jws_parse_flat(const char *body, size_t len, json_object **prot,
                   char **prot_b64, char **payload_b64, uint8_t **sig,
                   size_t *siglen, char *why, size_t whylen)
{
    json_object *o = parse_json(body, len), *p = NULL;
    uint8_t *ph = NULL, *tmp = NULL;
    size_t phl, tl;
    int rc = -1;

    *prot = NULL;
    *sig = NULL;
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(why, whylen, "request body is not a JSON object");
        goto done;
    }
    if (flat_members_ok(o, why, whylen) != 0)
        goto done;
    if (!jstr(o, "protected") || !jstr(o, "payload") || !jstr(o, "signature")) {
        snprintf(why, whylen, "JWS needs protected, payload and signature");
        goto done;
    }
    if (b64url_dec(jstr(o, "protected"), &ph, &phl) != 0 ||
        b64url_dec(jstr(o, "signature"), sig, siglen) != 0 ||
        b64url_dec(jstr(o, "payload"), &tmp, &tl) != 0) {
        snprintf(why, whylen, "JWS member is not base64url");
        goto done;
    }
    p = parse_json((const char *)ph, phl);
    if (!json_object_is_type(p, json_type_object)) {
        snprintf(why, whylen, "JWS protected header is not a JSON object");
        goto done;
    }
    *prot = p;
    p = NULL;
    *prot_b64 = strdup(jstr(o, "protected"));
    *payload_b64 = strdup(jstr(o, "payload"));
    rc = 0;
done:
    if (rc != 0) {
        free(*sig);
        *sig = NULL;
    }
    json_object_put(p);
    json_object_put(o);
    free(ph);
    free(tmp);
    return rc;
}

/* RFC 8555 §6.5 badSignatureAlgorithm lists what we accept. */
static void bad_alg(struct resp *rs)
{
    json_object *p = json_object_new_object(), *a = json_object_new_array();
    size_t i;

    for (i = 0; i < sizeof(allowed_algs) / sizeof(allowed_algs[0]); i++)
        json_object_array_add(a, json_object_new_string(allowed_algs[i]));
    json_object_object_add(p, "type",
                           json_object_new_string("urn:ietf:params:acme:error:"
                                                  "badSignatureAlgorithm"));
    json_object_object_add(
        p, "detail",
        json_object_new_string("JWS alg is missing or not allowed"));
    json_object_object_add(p, "algorithms", a);
    resp_problem_obj(rs, 400, p);
}

/* alg, nonce and url of RFC 8555 §6.2, §6.4, §6.5.  A member of the wrong
 * type is answered as that member being bad, with a detail naming it. */
static int check_header(const struct req *rq, struct resp *rs,
                        json_object *prot, const char **alg)
{
    const char *nonce, *url;
    char want[1200], why[200];

    *alg = jstr(prot, "alg");
    if (*alg == NULL || !alg_allowed(*alg)) {
        bad_alg(rs);
        return -1;
    }
    if (member_str_why(prot, "nonce", true, &nonce, why, sizeof(why)) < 0) {
        resp_problem(rs, 400, "badNonce", "JWS header: %s", why);
        return -1;
    }
    if (!nonce_use(nonce)) {
        resp_problem(rs, 400, "badNonce",
                     "JWS nonce is unknown, expired or already used");
        return -1;
    }
    snprintf(want, sizeof(want), "%s%s", rq->base, rq->path);
    if (member_str_why(prot, "url", true, &url, why, sizeof(why)) < 0) {
        resp_problem(rs, 401, "unauthorized", "JWS header: %s (want %s)", why,
                     want);
        return -1;
    }
    if (strcmp(url, want) != 0) {
        resp_problem(rs, 401, "unauthorized",
                     "JWS url is not the request URL %s", want);
        return -1;
    }
    return 0;
}

/* Resolve the signing key: jwk from the header or the kid's account. */
static int find_key(const struct req *rq, struct resp *rs, enum jws_key mode,
                    struct jws *j)
{
    bool has_jwk = json_object_object_get_ex(j->prot, "jwk", NULL);
    const char *kid, *st;
    json_object *jwk;
    char pre[160], why[200];

    /* Present means present: a kid of the wrong type must not let the jwk
     * beside it pass as "exactly one". */
    if (member_str(rs, j->prot, "kid", false, &kid) < 0 ||
        member(rs, j->prot, "jwk", json_type_object, false, &jwk) < 0)
        return -1;
    if (has_jwk == (kid != NULL) || (mode == JWS_KID && kid == NULL) ||
        (mode == JWS_JWK && !has_jwk)) {
        resp_problem(rs, 400, "malformed",
                     "JWS must carry exactly one of jwk and kid; this "
                     "resource wants %s",
                     mode == JWS_KID   ? "kid"
                     : mode == JWS_JWK ? "jwk"
                                       : "either");
        return -1;
    }
    if (has_jwk) {
        j->jwk = jwk;
    } else {
        snprintf(pre, sizeof(pre), "%s/acct/", rq->base);
        if (strncmp(kid, pre, strlen(pre)) != 0 ||
            (j->acct = state_get("accounts", kid + strlen(pre))) == NULL) {
            resp_problem(rs, 400, "accountDoesNotExist",
                         "JWS kid is not an account of this server");
            return -1;
        }
        j->acct_id = kid + strlen(pre);
        st = jstr(j->acct, "status");
        if (st == NULL || strcmp(st, "valid") != 0) {
            resp_problem(rs, 401, "unauthorized", "account is %s",
                         st ? st : "without a status");
            return -1;
        }
        json_object_object_get_ex(j->acct, "key", &j->jwk);
    }
    j->key = jwk_to_pkey(j->jwk, why, sizeof(why));
    if (j->key == NULL) {
        resp_problem(rs, 400, "badPublicKey", "%s", why);
        return -1;
    }
    return 0;
}

static int verify_and_payload(struct resp *rs, struct jws *j, const char *alg,
                              const char *pb64, const char *yb64,
                              const uint8_t *sig, size_t siglen)
{
    char why[200], *input;
    size_t plen;
    int r;

    if (asprintf(&input, "%s.%s", pb64, yb64) < 0)
        return -1;
    r = sig_verify(j->key, alg, (uint8_t *)input, strlen(input), sig, siglen,
                   why, sizeof(why));
    free(input);
    if (r != 0) {
        resp_problem(rs, 400, r == -2 ? "badSignatureAlgorithm" : "malformed",
                     "%s", why);
        return -1;
    }
    if (*yb64 == '\0')
        return 0; /* POST-as-GET */
    if (b64url_dec(yb64, (uint8_t **)&j->raw_payload, &plen) != 0)
        return -1;
    j->payload = parse_json(j->raw_payload, plen);
    if (!json_object_is_type(j->payload, json_type_object)) {
        resp_problem(rs, 400, "malformed", "JWS payload is not a JSON object");
        return -1;
    }
    return 0;
}

/* All the checks of RFC 8555 §6.2-6.3 for one POST.  On failure the problem
 * response is set and -1 returned; on success *out holds what the handler
 * needs (free with jws_clear). */
int jws_check(const struct req *rq, struct resp *rs, enum jws_key mode,
              struct jws *out)
{
    char why[200], *pb64 = NULL, *yb64 = NULL;
    uint8_t *sig = NULL;
    size_t siglen = 0;
    const char *alg;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (rq->ctype == NULL ||
        strncmp(rq->ctype, "application/jose+json", 21) != 0) {
        resp_problem(rs, 415, "malformed",
                     "Content-Type must be application/jose+json");
        return -1;
    }
    if (jws_parse_flat((const char *)rq->body, rq->len, &out->prot, &pb64,
                       &yb64, &sig, &siglen, why, sizeof(why)) != 0) {
        resp_problem(rs, 400, "malformed", "%s", why);
        goto done;
    }
    if (check_header(rq, rs, out->prot, &alg) != 0 ||
        find_key(rq, rs, mode, out) != 0 ||
        verify_and_payload(rs, out, alg, pb64, yb64, sig, siglen) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0 && rs->status == 0)
        resp_problem(rs, 400, "malformed", "JWS could not be decoded");
    if (rc != 0)
        jws_clear(out); /* callers only clear after success */
    free(pb64);
    free(yb64);
    free(sig);
    return rc;
}

void jws_clear(struct jws *j)
{
    json_object_put(j->prot);
    json_object_put(j->payload);
    EVP_PKEY_free(j->key);
    free(j->raw_payload);
    memset(j, 0, sizeof(*j));
}
