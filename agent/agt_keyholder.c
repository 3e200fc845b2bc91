/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_keyholder.h"

#include <stdlib.h>
#include <string.h>

#include "csa_util.h"

struct agt_jws_key {
    tok_key *key;
    tok_sig_alg alg;
    char alg_name[8];
    char *jwk;
    csa_signer signer;
};

static csa_err agt_jws_sign(void *ctx, const unsigned char *in, size_t len,
                            unsigned char **sig, size_t *siglen)
{
    agt_jws_key *k = ctx;

    /* Only acme_jws_build in the holder calls this, on a header it built
     * itself from fields agt_net_jws_check accepted (agt_net.c). */
    return tok_sign(k->key, k->alg, TOK_ENC_RAW, in, len, sig, siglen);
}

csa_err agt_jws_key_new(tok_key *key, const char *jws_alg, agt_jws_key **out)
{
    agt_jws_key *k = calloc(1, sizeof(*k));
    const char *alg = jws_alg ? jws_alg : tok_key_default_jws_alg(key);
    csa_err err;

    *out = NULL;
    if (k == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    k->key = key;
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
