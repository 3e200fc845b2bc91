/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_verify.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "agt_csr.h"

static csa_err agt_anchor_file(const char *path, STACK_OF(X509) * anchors)
{
    FILE *f = fopen(path, "r");
    X509 *x;
    int n = 0;

    if (f == NULL)
        return csa_raise(CSA_ERR_CONFIG, "cannot open trust anchor file %s",
                         path);
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        sk_X509_push(anchors, x);
        n++;
    }
    fclose(f);
    if (n == 0)
        return csa_raise(CSA_ERR_CONFIG,
                         "trust anchor file %s holds no PEM certificate", path);
    return CSA_OK;
}

csa_err agt_anchors_load(const agt_config *cfg, const pol_policy *pol,
                         STACK_OF(X509) * *out)
{
    STACK_OF(X509) *anchors = sk_X509_new_null();
    const char *const *paths;
    size_t n = 0, i;
    csa_err err = CSA_OK;

    *out = NULL;
    if (anchors == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (cfg->trust_anchor != NULL)
        err = agt_anchor_file(cfg->trust_anchor, anchors);
    paths = pol_trust_anchors(pol, &n);
    for (i = 0; err == CSA_OK && i < n; i++)
        err = agt_anchor_file(paths[i], anchors);
    if (err == CSA_OK && sk_X509_num(anchors) == 0)
        err = csa_raise(CSA_ERR_CONFIG,
                        "no trust anchor configured: set trust_anchor in "
                        "[ca] or trust_anchors in the policy; issued "
                        "chains must verify to one");
    if (err != CSA_OK) {
        sk_X509_pop_free(anchors, X509_free);
        return err;
    }
    *out = anchors;
    return CSA_OK;
}

static void agt_ids(const agt_identity *id, pol_identifier ids[2], size_t *n)
{
    *n = 0;
    if (id->domain != NULL)
        ids[(*n)++] = (pol_identifier){POL_ID_DNS, id->domain};
    if (id->email != NULL)
        ids[(*n)++] = (pol_identifier){POL_ID_EMAIL, id->email};
}

csa_err agt_verify_issued(const agt_identity *id, const pol_policy *pol,
                          tok_key *key, STACK_OF(X509) * chain,
                          STACK_OF(X509) * anchors, time_t now)
{
    pol_cert_facts *facts = NULL;
    pol_identifier ids[2];
    pol_expect exp = {0};
    pol_verdict v;
    EVP_PKEY *pub = NULL;
    unsigned char *spki = NULL;
    int spki_len;
    csa_err err;

    if ((err = tok_key_public(key, &pub)) != CSA_OK)
        return err;
    spki_len = i2d_PUBKEY(pub, &spki);
    EVP_PKEY_free(pub);
    if (spki_len <= 0)
        return csa_raise(CSA_ERR_TOKEN, "cannot encode the token's key");
    if ((err = pol_cert_facts_from_x509(sk_X509_value(chain, 0), &facts)) !=
        CSA_OK)
        goto done;
    agt_ids(id, ids, &exp.n_ids);
    exp.ids = ids;
    exp.spki_der = spki;
    exp.spki_len = (size_t)spki_len;
    exp.cn = agt_identity_cn(id);
    exp.org = id->organization;
    if (!pol_check_cert(pol, id->profile, facts, &exp, now, &v)) {
        err = pol_verdict_raise(&v, CSA_ERR_POLICY);
        goto done;
    }
    if (!pol_verify_chain(chain, anchors, now, &v))
        err = pol_verdict_raise(&v, CSA_ERR_VERIFY);
done:
    if (err != CSA_OK)
        csa_err_context("the issued certificate for identity %s was refused",
                        id->name);
    pol_cert_facts_free(facts);
    OPENSSL_free(spki);
    return err;
}

/* The token layer's row for the type says what policy/ calls it. */
pol_key agt_pol_key(const char *key_type)
{
    static const pol_key other = {POL_KEY_OTHER, 0, 0};
    tok_key_type t = TOK_KEY_EC_P256;
    const tok_key_shape *s;
    int pt;

    if (key_type != NULL && tok_key_type_parse(key_type, &t) != CSA_OK) {
        csa_err_clear();
        return other;
    }
    if ((s = tok_key_type_shape(t)) == NULL ||
        (pt = pol_key_type_from_name(s->policy_name)) < 0)
        return other;
    return (pol_key){(pol_key_type)pt, s->bits, s->curve_nid};
}
