/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_csr.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

const char *agt_identity_cn(const agt_identity *id)
{
    if (id->common_name != NULL)
        return id->common_name;
    return id->domain != NULL ? id->domain : id->email;
}

static const char *agt_profile_eku(pol_profile p)
{
    switch (p) {
    case POL_PROFILE_CLIENTAUTH:
        return "clientAuth";
    case POL_PROFILE_TEST_TLS:
        return "serverAuth,clientAuth";
    default:
        return "codeSigning";
    }
}

static int agt_add_ext(STACK_OF(X509_EXTENSION) * exts, int nid,
                       const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

    if (ext == NULL)
        return 0;
    if (!sk_X509_EXTENSION_push(exts, ext)) {
        X509_EXTENSION_free(ext);
        return 0;
    }
    return 1;
}

static csa_err agt_csr_exts(const agt_identity *id, X509_REQ *req)
{
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    char san[300];
    int ok = exts != NULL;

    ok = ok && agt_add_ext(exts, NID_key_usage, "critical,digitalSignature");
    ok = ok &&
         agt_add_ext(exts, NID_ext_key_usage, agt_profile_eku(id->profile));
    if (ok && id->email != NULL) {
        snprintf(san, sizeof(san), "email:%s", id->email);
        ok = agt_add_ext(exts, NID_subject_alt_name, san);
    } else if (ok &&
               (id->profile != POL_PROFILE_CODESIGNING || id->csr_san_dns) &&
               id->domain != NULL) {
        snprintf(san, sizeof(san), "DNS:%s", id->domain);
        ok = agt_add_ext(exts, NID_subject_alt_name, san);
    }
    ok = ok && X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return ok ? CSA_OK
              : csa_raise(CSA_ERR_INVALID,
                          "cannot build the CSR extensions for identity %s",
                          id->name);
}

static csa_err agt_csr_subject(const agt_identity *id, X509_REQ *req)
{
    X509_NAME *n = X509_NAME_new();
    const char *cn = agt_identity_cn(id);
    int ok = n != NULL;

    ok = ok && X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                          (const unsigned char *)cn, -1, -1, 0);
    if (ok && id->organization != NULL)
        ok = X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                        (const unsigned char *)id->organization,
                                        -1, -1, 0);
    ok = ok && X509_REQ_set_subject_name(req, n);
    X509_NAME_free(n);
    return ok ? CSA_OK
              : csa_raise(CSA_ERR_INVALID, "bad subject for identity %s",
                          id->name);
}

csa_err agt_csr_build(const agt_identity *id, tok_key *key, unsigned char **der,
                      size_t *len)
{
    X509_REQ *req = X509_REQ_new();
    EVP_PKEY *pub = NULL;
    unsigned char *buf = NULL;
    int n;
    csa_err err;

    *der = NULL;
    *len = 0;
    if (req == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if ((err = tok_key_public(key, &pub)) != CSA_OK ||
        (err = agt_csr_subject(id, req)) != CSA_OK ||
        (err = agt_csr_exts(id, req)) != CSA_OK)
        goto done;
    if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_pubkey(req, pub)) {
        err = csa_raise(CSA_ERR_INVALID, "cannot build the CSR");
        goto done;
    }
    /* The to-be-signed part is signed inside the token. */
    if ((err = tok_sign_req(key, req)) != CSA_OK)
        goto done;
    if (X509_REQ_verify(req, pub) != 1) {
        err = csa_raise(CSA_ERR_TOKEN, "the token's CSR signature does not "
                                       "verify with its public key");
        goto done;
    }
    n = i2d_X509_REQ(req, &buf);
    if (n <= 0 || (*der = malloc((size_t)n)) == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "cannot encode the CSR");
        goto done;
    }
    memcpy(*der, buf, (size_t)n);
    *len = (size_t)n;
done:
    OPENSSL_free(buf);
    EVP_PKEY_free(pub);
    X509_REQ_free(req);
    return err;
}
