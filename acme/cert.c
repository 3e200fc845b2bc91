/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificates (RFC 8555 §7.4.2, §7.6): chain download with alternates
 * (Link rel="alternate") and a preferred issuer, and revocation.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "acme_int.h"
#include "csa_log.h"
#include "csa_util.h"

/* Issuer CN of the last certificate in a PEM chain; *cn malloc'd or NULL
 * if the issuer has no CN.  An unparseable chain is an error. */
static csa_err chain_top_issuer(const char *pem, size_t len, char **cn)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = NULL, *last = NULL;
    char buf[256];
    int n;

    *cn = NULL;
    if (bio == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_free(last);
        last = x;
    }
    BIO_free(bio);
    if (last == NULL)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "the CA's certificate chain holds no PEM certificate");
    n = X509_NAME_get_text_by_NID(X509_get_issuer_name(last), NID_commonName,
                                  buf, sizeof(buf));
    X509_free(last);
    if (n > 0 && (*cn = strdup(buf)) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    return CSA_OK;
}

/* Fetches one chain; *links receives the alternates when non-NULL. */
static csa_err chain_fetch(acme_client *c, const char *url, char **pem,
                           char **alts, size_t *n_alts)
{
    acme_post_req req = {
        .url = url, .max = ACME_MAX_CHAIN, .accept = ACME_CT_CHAIN};
    acme_http_resp r = {0};
    char *cn = NULL;
    csa_err err;

    *pem = NULL;
    if ((err = acme_post(c, &req, &r)) ||
        (err = chain_top_issuer(r.body, r.len, &cn)))
        goto done;
    if (alts != NULL)
        *n_alts = acme_link_find(r.links, r.n_links, "alternate", url, alts,
                                 ACME_MAX_LINKS);
    *pem = r.body;
    r.body = NULL;
done:
    free(cn);
    acme_http_resp_clear(&r);
    return err;
}

static int chain_matches(const char *pem, const char *issuer)
{
    char *cn = NULL;
    int match;

    if (chain_top_issuer(pem, strlen(pem), &cn) != CSA_OK)
        return 0;
    match = cn != NULL && strcmp(cn, issuer) == 0;
    free(cn);
    return match;
}

/* Looks through the alternates for issuer; *pem is NULL if none match. */
static csa_err pick_alternate(acme_client *c, char **alts, size_t n_alts,
                              const char *issuer, char **pem)
{
    size_t i;
    csa_err err;

    *pem = NULL;
    for (i = 0; i < n_alts; i++) {
        char *alt = NULL;

        if ((err = chain_fetch(c, alts[i], &alt, NULL, NULL)) != CSA_OK)
            return err;
        if (chain_matches(alt, issuer)) {
            csa_info("acme", "using the alternate chain %s (issuer %s)",
                     alts[i], issuer);
            *pem = alt;
            return CSA_OK;
        }
        free(alt);
    }
    return CSA_OK;
}

csa_err acme_cert_download(acme_client *c, const char *cert_url,
                           const char *preferred_issuer, char **pem_chain)
{
    char *pem = NULL, *alt = NULL, *alts[ACME_MAX_LINKS] = {NULL};
    size_t n_alts = 0, i;
    csa_err err;

    *pem_chain = NULL;
    if (cert_url == NULL)
        return csa_raise(CSA_ERR_INVALID, "the order has no certificate URL");
    if ((err = chain_fetch(c, cert_url, &pem, alts, &n_alts)) != CSA_OK)
        goto done;
    csa_debug("acme", "%s offers %zu alternate chain(s)", cert_url, n_alts);
    if (preferred_issuer != NULL && !chain_matches(pem, preferred_issuer)) {
        if ((err = pick_alternate(c, alts, n_alts, preferred_issuer, &alt)))
            goto done;
        if (alt != NULL) {
            free(pem);
            pem = alt;
        } else {
            csa_info("acme", "no chain tops out at \"%s\"; using the default",
                     preferred_issuer);
        }
    }
    *pem_chain = pem;
    pem = NULL;
done:
    if (err != CSA_OK)
        csa_err_context("downloading %s", cert_url);
    for (i = 0; i < n_alts; i++)
        free(alts[i]);
    free(pem);
    return err;
}

csa_err acme_revoke(acme_client *c, const unsigned char *cert_der,
                    size_t cert_len, int reason, const csa_signer *cert_key)
{
    const acme_directory *dir;
    acme_post_req req = {0};
    acme_http_resp r = {0};
    json_object *p = json_object_new_object();
    char *b64 = csa_b64url_encode(cert_der, cert_len);
    csa_err err;

    if (p == NULL || b64 == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((err = acme_directory_get(c, &dir)) != CSA_OK)
        goto done;
    json_object_object_add(p, "certificate", json_object_new_string(b64));
    if (reason >= 0)
        json_object_object_add(p, "reason", json_object_new_int(reason));
    req.url = dir->revoke_cert;
    req.payload = json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN);
    req.signer = cert_key;
    req.use_jwk = cert_key != NULL;
    req.max = ACME_MAX_JSON;
    /* A certificate is revoked once (§7.6): a repeat after a lost answer
     * is refused with alreadyRevoked, which then means our first attempt
     * went through. */
    req.repeat = ACME_REPEATABLE;
    err = acme_post(c, &req, &r);
    if (err == CSA_ERR_CA_PROBLEM && r.maybe_applied &&
        acme_last_problem_is(c, "alreadyRevoked")) {
        csa_info("acme", "an earlier revocation whose answer was lost was "
                         "accepted: the CA says alreadyRevoked");
        err = CSA_OK;
    }
    if (err == CSA_OK)
        csa_info("acme", "certificate revoked (signed by the %s key)",
                 cert_key ? "certificate" : "account");
done:
    if (err != CSA_OK)
        csa_err_context("revocation");
    json_object_put(p);
    free(b64);
    acme_http_resp_clear(&r);
    return err;
}
