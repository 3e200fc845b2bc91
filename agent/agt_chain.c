/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificate chains as text and bytes: the CA's PEM (read by the network
 * process) and the DER the network process hands the key holder.  Pure
 * parsing, no token: both processes link it (csa_agent_conf).
 */
#include "agt_chain.h"

#include <openssl/err.h>
#include <openssl/pem.h>

csa_err agt_chain_parse(const char *pem, STACK_OF(X509) * *out)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *x;

    *out = NULL;
    if (bio == NULL || chain == NULL) {
        BIO_free(bio);
        sk_X509_free(chain);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_num(chain) == AGT_CHAIN_MAX || !sk_X509_push(chain, x)) {
            X509_free(x);
            BIO_free(bio);
            sk_X509_pop_free(chain, X509_free);
            return csa_raise(CSA_ERR_PROTOCOL,
                             "the CA's certificate chain holds more than %d "
                             "certificates",
                             AGT_CHAIN_MAX);
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    if (sk_X509_num(chain) == 0) {
        sk_X509_free(chain);
        return csa_raise(CSA_ERR_PROTOCOL,
                         "the CA's certificate chain holds no PEM "
                         "certificate");
    }
    *out = chain;
    return CSA_OK;
}

csa_err agt_chain_from_der(const unsigned char *der, size_t len,
                           STACK_OF(X509) * *out)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    const unsigned char *p = der, *end = der + len;
    csa_err err = CSA_OK;

    *out = NULL;
    if (chain == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    while (err == CSA_OK && p < end) {
        const unsigned char *q = p;
        X509 *x = d2i_X509(NULL, &q, (long)(end - p));

        if (x == NULL || q <= p)
            err = csa_raise(CSA_ERR_PROTOCOL,
                            "the certificate chain is not DER at byte %zu",
                            (size_t)(p - der));
        else if (sk_X509_num(chain) == AGT_CHAIN_MAX)
            err = csa_raise(CSA_ERR_PROTOCOL,
                            "the certificate chain holds more than %d "
                            "certificates",
                            AGT_CHAIN_MAX);
        else if (!sk_X509_push(chain, x))
            err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        else
            x = NULL;
        X509_free(x);
        p = q;
    }
    ERR_clear_error();
    if (err == CSA_OK && sk_X509_num(chain) == 0)
        err = csa_raise(CSA_ERR_PROTOCOL, "the certificate chain is empty");
    if (err != CSA_OK)
        sk_X509_pop_free(chain, X509_free);
    else
        *out = chain;
    return err;
}
