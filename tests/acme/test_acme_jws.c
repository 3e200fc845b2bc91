/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests: JWS building (checked by an independent parse and an OpenSSL
 * verification), EAB MAC, RFC 7638 thumbprint, key authorization and ECDSA
 * signature padding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "acme_int.h"
#include "csa_util.h"
#include "soft_signer.h"

/* RFC 7638 §3.1 example key, already in canonical form. */
static const char rfc7638_jwk[] =
    "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbX"
    "Eps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV"
    "4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FD"
    "W2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qN"
    "Lyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFC"
    "ur-kEgU8awapJzKnqDKgw\"}";
static const char rfc7638_tp[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

static void test_thumbprint_rfc7638(void **state)
{
    char *tp = NULL;

    (void)state;
    assert_int_equal(acme_jwk_thumbprint(rfc7638_jwk, &tp), CSA_OK);
    assert_string_equal(tp, rfc7638_tp);
    free(tp);
    /* whitespace means "not canonical": refuse rather than mis-hash */
    assert_int_equal(acme_jwk_thumbprint("{ \"e\":\"AQAB\"}", &tp),
                     CSA_ERR_INVALID);
}

static void test_key_authorization(void **state)
{
    csa_signer s = {.alg = "RS256", .jwk = rfc7638_jwk};
    char *ka = NULL, *txt = NULL;
    unsigned char md[32];

    (void)state;
    assert_int_equal(acme_key_authorization(&s, "tok-123", &ka), CSA_OK);
    assert_string_equal(ka,
                        "tok-123.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_int_equal(acme_dns01_txt(ka, &txt), CSA_OK);
    assert_int_equal(strlen(txt), 43);
    SHA256((const unsigned char *)ka, strlen(ka), md);
    {
        char *want = csa_b64url_encode(md, sizeof(md));
        assert_string_equal(txt, want);
        free(want);
    }
    free(ka);
    free(txt);
    assert_int_equal(acme_key_authorization(&s, "", &ka), CSA_ERR_PROTOCOL);
}

/* Decodes a base64url member of a JSON object into a NUL-terminated text. */
static char *b64_member(json_object *o, const char *k, size_t *len)
{
    unsigned char *raw = NULL;
    size_t n = 0;
    char *out;

    assert_int_equal(csa_b64url_decode(acme_json_str(o, k), &raw, &n), CSA_OK);
    out = realloc(raw, n + 1);
    out[n] = '\0';
    if (len)
        *len = n;
    return out;
}

/* JOSE r||s back to DER, to verify with OpenSSL. */
static unsigned char *jose_to_der(const unsigned char *sig, size_t len,
                                  int *derlen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    unsigned char *der = NULL;

    ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)len / 2, NULL),
                   BN_bin2bn(sig + len / 2, (int)len / 2, NULL));
    *derlen = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    return der;
}

static int verify_sig(EVP_PKEY *k, const char *alg, const char *in,
                      const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *h = strcmp(alg, "ES384") == 0   ? EVP_sha384()
                      : strcmp(alg, "EdDSA") == 0 ? NULL
                                                  : EVP_sha256();
    unsigned char *der = NULL;
    int ok, dl = 0;

    EVP_DigestVerifyInit(md, &pctx, h, NULL, k);
    if (strcmp(alg, "PS256") == 0) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    if (alg[0] == 'E' && alg[1] == 'S') {
        der = jose_to_der(sig, siglen, &dl);
        sig = der;
        siglen = (size_t)dl;
    }
    ok = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)in,
                          strlen(in));
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    return ok == 1;
}

static void check_jws(const char *alg, const char *kid, const char *payload)
{
    soft_signer *ss = NULL;
    json_object *jws = NULL, *hdr = NULL, *jwk = NULL;
    char *out = NULL, *prot, *pay, *in;
    unsigned char *sig = NULL;
    size_t siglen = 0;

    assert_int_equal(soft_signer_generate(alg, &ss), CSA_OK);
    assert_int_equal(acme_jws_build(soft_signer_get(ss), "https://ca/x",
                                    "nonce-1", kid, payload, &out),
                     CSA_OK);
    assert_int_equal(acme_json_parse(out, strlen(out), &jws), CSA_OK);
    prot = b64_member(jws, "protected", NULL);
    pay = b64_member(jws, "payload", NULL);
    assert_string_equal(pay, payload ? payload : "");
    assert_int_equal(acme_json_parse(prot, strlen(prot), &hdr), CSA_OK);
    assert_string_equal(acme_json_str(hdr, "alg"), alg);
    assert_string_equal(acme_json_str(hdr, "nonce"), "nonce-1");
    assert_string_equal(acme_json_str(hdr, "url"), "https://ca/x");
    /* exactly one of kid and jwk (RFC 8555 §6.2) */
    assert_int_equal(json_object_object_get_ex(hdr, "jwk", &jwk), kid == NULL);
    if (kid != NULL)
        assert_string_equal(acme_json_str(hdr, "kid"), kid);
    assert_int_equal(
        csa_b64url_decode(acme_json_str(jws, "signature"), &sig, &siglen),
        CSA_OK);
    if (acme_jws_sig_len(alg) != 0)
        assert_int_equal(siglen, acme_jws_sig_len(alg));
    in = malloc(strlen(out));
    sprintf(in, "%s.%s", acme_json_str(jws, "protected"),
            acme_json_str(jws, "payload"));
    assert_true(verify_sig(soft_signer_pkey(ss), alg, in, sig, siglen));
    free(in);
    free(sig);
    free(prot);
    free(pay);
    free(out);
    json_object_put(hdr);
    json_object_put(jws);
    soft_signer_free(ss);
}

static void test_jws_algorithms(void **state)
{
    static const char *const algs[] = {"ES256", "ES384", "RS256", "PS256",
                                       "EdDSA"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        check_jws(algs[i], NULL, "{\"a\":1}");
        check_jws(algs[i], "https://ca/acct/1", NULL); /* POST-as-GET */
    }
}

/* Many ES384 signatures: r or s below 2^376 happens about 1 in 128. */
static void test_jws_es384_padding(void **state)
{
    int i;

    (void)state;
    for (i = 0; i < 200; i++)
        check_jws("ES384", "https://ca/acct/1", "{}");
}

static csa_err short_sign(void *ctx, const unsigned char *in, size_t len,
                          unsigned char **sig, size_t *siglen)
{
    (void)ctx;
    (void)in;
    (void)len;
    *sig = calloc(1, 63);
    *siglen = 63;
    return CSA_OK;
}

static void test_jws_rejects_unpadded_signature(void **state)
{
    csa_signer s = {.alg = "ES256",
                    .jwk = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"A\","
                           "\"y\":\"B\"}",
                    .sign_jws = short_sign};
    char *out = NULL;

    (void)state;
    assert_int_equal(acme_jws_build(&s, "https://ca/x", "n", "k", "{}", &out),
                     CSA_ERR_VERIFY);
    assert_null(out);
    assert_non_null(strstr(csa_errmsg(), "63 signature bytes"));
}

/* A signer whose key lives elsewhere (csa_signer.build_jws): the fields
 * reach it as they are, its JWS is the result, sign_jws is never used. */
static char hook_seen[512];

static csa_err hook_build(void *ctx, const char *url, const char *nonce,
                          const char *kid, const char *payload, char **out)
{
    snprintf(hook_seen, sizeof(hook_seen), "%s|%s|%s|%s|%s", (char *)ctx, url,
             nonce ? nonce : "-", kid ? kid : "-", payload ? payload : "-");
    *out = strdup("{\"protected\":\"p\",\"payload\":\"\","
                  "\"signature\":\"s\"}");
    return *out ? CSA_OK : CSA_ERR_NOMEM;
}

static csa_err hook_refuse(void *ctx, const char *url, const char *nonce,
                           const char *kid, const char *payload, char **out)
{
    (void)ctx, (void)url, (void)nonce, (void)kid, (void)payload;
    *out = NULL;
    return csa_raise(CSA_ERR_POLICY, "refused by the holder");
}

static void test_jws_build_hook(void **state)
{
    csa_signer s = {.alg = "ES256",
                    .jwk = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"A\","
                           "\"y\":\"B\"}",
                    .build_jws = hook_build,
                    .ctx = "ctx"};
    char *out = NULL;

    (void)state;
    assert_int_equal(
        acme_jws_build(&s, "https://ca/x", "n", "https://ca/a/1", "{}", &out),
        CSA_OK);
    assert_string_equal(hook_seen, "ctx|https://ca/x|n|https://ca/a/1|{}");
    assert_string_equal(out, "{\"protected\":\"p\",\"payload\":\"\","
                             "\"signature\":\"s\"}");
    free(out);
    /* jwk, no nonce, POST-as-GET: each absent field stays absent */
    assert_int_equal(acme_jws_build(&s, "https://ca/y", NULL, NULL, NULL, &out),
                     CSA_OK);
    assert_string_equal(hook_seen, "ctx|https://ca/y|-|-|-");
    free(out);
    s.build_jws = hook_refuse;
    assert_int_equal(acme_jws_build(&s, "https://ca/z", "n", "k", "{}", &out),
                     CSA_ERR_POLICY);
    assert_null(out);
    assert_non_null(strstr(csa_errmsg(), "refused by the holder"));
    assert_non_null(strstr(csa_errmsg(), "https://ca/z"));
}

/* DER SEQUENCE { INTEGER r, INTEGER s } from raw integer contents. */
static size_t der_sig(unsigned char *out, const unsigned char *r, size_t rl,
                      const unsigned char *s, size_t sl)
{
    size_t n = 0;

    out[n++] = 0x30;
    out[n++] = (unsigned char)(4 + rl + sl);
    out[n++] = 0x02;
    out[n++] = (unsigned char)rl;
    memcpy(out + n, r, rl);
    n += rl;
    out[n++] = 0x02;
    out[n++] = (unsigned char)sl;
    memcpy(out + n, s, sl);
    return n + sl;
}

static void test_ecdsa_padding(void **state)
{
    unsigned char r33[33], s1[1] = {0x05}, der[80], *out = NULL;
    unsigned char r32hi[32], big[33];
    size_t n, outlen = 0;

    (void)state;
    /* r with DER sign byte (0x00 then a high bit): the zero must go */
    memset(r33, 0xAB, sizeof(r33));
    r33[0] = 0x00;
    n = der_sig(der, r33, 33, s1, 1);
    assert_int_equal(acme_ecdsa_der_to_jose(der, n, 32, &out, &outlen), CSA_OK);
    assert_int_equal(outlen, 64);
    assert_int_equal(out[0], 0xAB);
    /* short s: left-padded with zeros to the full width */
    assert_int_equal(out[32], 0);
    assert_int_equal(out[62], 0);
    assert_int_equal(out[63], 0x05);
    free(out);
    /* P-384 width */
    memset(r32hi, 0x11, sizeof(r32hi));
    n = der_sig(der, r32hi, 32, s1, 1);
    assert_int_equal(acme_ecdsa_der_to_jose(der, n, 48, &out, &outlen), CSA_OK);
    assert_int_equal(outlen, 96);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[15], 0);
    assert_int_equal(out[16], 0x11);
    free(out);
    /* an integer wider than the curve is refused */
    memset(big, 0x7F, sizeof(big));
    n = der_sig(der, big, 33, s1, 1);
    assert_int_equal(acme_ecdsa_der_to_jose(der, n, 32, &out, &outlen),
                     CSA_ERR_INVALID);
    /* trailing garbage and truncation are refused */
    n = der_sig(der, r32hi, 32, s1, 1);
    der[n] = 0;
    assert_int_equal(acme_ecdsa_der_to_jose(der, n + 1, 32, &out, &outlen),
                     CSA_ERR_INVALID);
    assert_int_equal(acme_ecdsa_der_to_jose(der, n - 1, 32, &out, &outlen),
                     CSA_ERR_INVALID);
}

static void test_eab(void **state)
{
    static const char key_b64[] = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG4"
                                  "4nMEtx3MUAsUDkMTQ12W";
    csa_secret key = {0};
    json_object *eab = NULL, *hdr = NULL;
    char *prot, *pay, in[2048];
    unsigned char *raw = NULL, *mac = NULL, want[64];
    size_t rawlen = 0, maclen = 0;
    unsigned wantlen = 0;

    (void)state;
    assert_int_equal(csa_secret_set(&key, key_b64, strlen(key_b64)), CSA_OK);
    assert_int_equal(acme_jws_eab("kid-1", &key, "HS384", "https://ca/new-acct",
                                  rfc7638_jwk, &eab),
                     CSA_OK);
    prot = b64_member(eab, "protected", NULL);
    pay = b64_member(eab, "payload", NULL);
    assert_string_equal(pay, rfc7638_jwk);
    assert_int_equal(acme_json_parse(prot, strlen(prot), &hdr), CSA_OK);
    assert_string_equal(acme_json_str(hdr, "alg"), "HS384");
    assert_string_equal(acme_json_str(hdr, "kid"), "kid-1");
    assert_string_equal(acme_json_str(hdr, "url"), "https://ca/new-acct");
    assert_false(json_object_object_get_ex(hdr, "nonce", NULL));
    snprintf(in, sizeof(in), "%s.%s", acme_json_str(eab, "protected"),
             acme_json_str(eab, "payload"));
    csa_b64url_decode(key_b64, &raw, &rawlen);
    HMAC(EVP_sha384(), raw, (int)rawlen, (unsigned char *)in, strlen(in), want,
         &wantlen);
    csa_b64url_decode(acme_json_str(eab, "signature"), &mac, &maclen);
    assert_int_equal(maclen, wantlen);
    assert_memory_equal(mac, want, wantlen);
    json_object_put(eab);
    eab = NULL;
    assert_int_equal(
        acme_jws_eab("kid-1", &key, "HS1", "https://ca/a", rfc7638_jwk, &eab),
        CSA_ERR_UNSUPPORTED);
    csa_secret_free(&key);
    csa_secret_set(&key, "not*base64", 10);
    assert_int_equal(
        acme_jws_eab("kid-1", &key, NULL, "https://ca/a", rfc7638_jwk, &eab),
        CSA_ERR_INVALID);
    assert_null(strstr(csa_errmsg(), "not*base64"));
    csa_secret_free(&key);
    free(raw);
    free(mac);
    free(prot);
    free(pay);
    json_object_put(hdr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thumbprint_rfc7638),
        cmocka_unit_test(test_key_authorization),
        cmocka_unit_test(test_jws_algorithms),
        cmocka_unit_test(test_jws_es384_padding),
        cmocka_unit_test(test_jws_rejects_unpadded_signature),
        cmocka_unit_test(test_jws_build_hook),
        cmocka_unit_test(test_ecdsa_padding),
        cmocka_unit_test(test_eab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
