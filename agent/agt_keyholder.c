/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_keyholder.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "csa_util.h"

struct agt_jws_key {
    tok_key *key;
    tok_sig_alg alg;
    char alg_name[8];
    char *jwk;
    char *ca_url;
    csa_signer signer;
};

/* Length of "scheme://authority" at the start of url, 0 if none. */
static size_t agt_origin_len(const char *url)
{
    const char *p = strstr(url, "://");

    if (p == NULL || p == url)
        return 0;
    p += 3;
    return (size_t)(p - url) + strcspn(p, "/?#");
}

/* The whole of buf as one JSON value (buf is not NUL-terminated). */
static json_object *agt_json_parse(const unsigned char *buf, size_t len)
{
    json_tokener *t = json_tokener_new();
    json_object *o = NULL;

    if (t != NULL && len <= 65536) {
        o = json_tokener_parse_ex(t, (const char *)buf, (int)len);
        if (json_tokener_get_error(t) != json_tokener_success ||
            json_tokener_get_parse_end(t) != len) {
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(t);
    return o;
}

static const char *agt_json_str(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

csa_err agt_jws_input_check(const char *ca_url, const char *alg,
                            const unsigned char *in, size_t len)
{
    const char *url, *hdr_alg, *why = NULL;
    char *b64 = NULL;
    unsigned char *hdr = NULL;
    size_t hlen = 0, olen = agt_origin_len(ca_url), i, dots = 0, dot = 0;
    json_object *o = NULL, *v;
    int has_jwk, has_kid;

    for (i = 0; i < len && why == NULL; i++) {
        if (in[i] == '.')
            dots++, dot = i;
        else if (!(in[i] == '-' || in[i] == '_' ||
                   (in[i] >= '0' && in[i] <= '9') ||
                   (in[i] >= 'A' && in[i] <= 'Z') ||
                   (in[i] >= 'a' && in[i] <= 'z')))
            why = "it is not base64url(header).base64url(payload)";
    }
    if (why == NULL && (dots != 1 || dot == 0))
        why = "it is not base64url(header).base64url(payload)";
    if (why == NULL && ((b64 = strndup((const char *)in, dot)) == NULL ||
                        csa_b64url_decode(b64, &hdr, &hlen) != CSA_OK ||
                        (o = agt_json_parse(hdr, hlen)) == NULL ||
                        !json_object_is_type(o, json_type_object)))
        why = "its protected header is not a JSON object";
    if (why == NULL && ((hdr_alg = agt_json_str(o, "alg")) == NULL ||
                        strcmp(hdr_alg, alg) != 0))
        why = "its alg is not this key's";
    if (why == NULL && ((url = agt_json_str(o, "url")) == NULL || olen == 0 ||
                        strncmp(url, ca_url, olen) != 0 ||
                        (url[olen] != '\0' && url[olen] != '/')))
        why = "its url is not on the configured CA";
    if (why == NULL) {
        has_jwk = json_object_object_get_ex(o, "jwk", &v);
        has_kid = agt_json_str(o, "kid") != NULL;
        if (has_jwk == has_kid)
            why = "it names neither or both of jwk and kid";
        else if (agt_json_str(o, "nonce") == NULL && !has_jwk)
            why = "it has no nonce";
    }
    json_object_put(o);
    free(hdr);
    free(b64);
    csa_err_clear();
    if (why != NULL)
        return csa_raise(CSA_ERR_POLICY,
                         "key holder: refusing to sign a JWS: %s", why);
    return CSA_OK;
}

csa_err agt_jws_input_payload(const unsigned char *in, size_t len,
                              json_object **payload)
{
    const unsigned char *dot = memchr(in, '.', len);
    char *b64 = NULL;
    unsigned char *raw = NULL;
    size_t rlen = 0;
    csa_err err = CSA_OK;

    *payload = NULL;
    if (dot == NULL)
        return csa_raise(CSA_ERR_POLICY, "key holder: refusing to sign a JWS: "
                                         "it has no payload part");
    if (dot + 1 == in + len)
        return CSA_OK; /* POST-as-GET */
    if ((b64 = strndup((const char *)dot + 1, (size_t)(in + len - dot - 1))) ==
            NULL ||
        csa_b64url_decode(b64, &raw, &rlen) != CSA_OK ||
        (*payload = agt_json_parse(raw, rlen)) == NULL ||
        !json_object_is_type(*payload, json_type_object)) {
        json_object_put(*payload);
        *payload = NULL;
        csa_err_clear();
        err = csa_raise(CSA_ERR_POLICY, "key holder: refusing to sign a JWS: "
                                        "its payload is not a JSON object");
    }
    free(raw);
    free(b64);
    return err;
}

static csa_err agt_jws_sign(void *ctx, const unsigned char *in, size_t len,
                            unsigned char **sig, size_t *siglen)
{
    agt_jws_key *k = ctx;
    csa_err err = agt_jws_input_check(k->ca_url, k->alg_name, in, len);

    if (err != CSA_OK)
        return err;
    return tok_sign(k->key, k->alg, TOK_ENC_RAW, in, len, sig, siglen);
}

csa_err agt_jws_key_new(tok_key *key, const char *jws_alg, const char *ca_url,
                        agt_jws_key **out)
{
    agt_jws_key *k = calloc(1, sizeof(*k));
    const char *alg = jws_alg ? jws_alg : tok_key_default_jws_alg(key);
    csa_err err;

    *out = NULL;
    if (k == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    k->key = key;
    if (ca_url == NULL || agt_origin_len(ca_url) == 0 ||
        (k->ca_url = strdup(ca_url)) == NULL) {
        free(k);
        return ca_url == NULL || agt_origin_len(ca_url) == 0
                   ? csa_raise(CSA_ERR_CONFIG, "no CA directory URL for the "
                                               "key holder")
                   : csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    snprintf(k->alg_name, sizeof(k->alg_name), "%s", alg);
    if ((err = tok_key_sig_for_jws(key, alg, &k->alg)) != CSA_OK ||
        (err = tok_key_jwk(key, &k->jwk)) != CSA_OK) {
        agt_jws_key_free(k);
        return err;
    }
    k->signer.alg = k->alg_name;
    k->signer.jwk = k->jwk;
    k->signer.sign_jws = agt_jws_sign;
    k->signer.ctx = k;
    *out = k;
    return CSA_OK;
}

void agt_jws_key_free(agt_jws_key *k)
{
    if (k == NULL)
        return;
    free(k->jwk);
    free(k->ca_url);
    free(k);
}

const csa_signer *agt_jws_key_signer(const agt_jws_key *k)
{
    return &k->signer;
}

csa_err agt_sign_keyauth(tok_key *key, const char *key_auth, char **alg,
                         char **sig_b64url)
{
    const char *name = tok_key_default_jws_alg(key);
    unsigned char *sig = NULL;
    size_t siglen = 0;
    tok_sig_alg sa;
    csa_err err;

    *alg = NULL;
    *sig_b64url = NULL;
    if ((err = tok_key_sig_for_jws(key, name, &sa)) != CSA_OK ||
        (err = tok_sign(key, sa, TOK_ENC_RAW, (const unsigned char *)key_auth,
                        strlen(key_auth), &sig, &siglen)) != CSA_OK)
        return err;
    *sig_b64url = csa_b64url_encode(sig, siglen);
    *alg = strdup(name);
    free(sig);
    if (*sig_b64url == NULL || *alg == NULL) {
        free(*sig_b64url);
        free(*alg);
        *alg = *sig_b64url = NULL;
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    return CSA_OK;
}
