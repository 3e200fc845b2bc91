/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate chains parsed without a token (both processes, agt_chain.c). */
#ifndef AGT_CHAIN_H
#define AGT_CHAIN_H

#include <stddef.h>

#include <openssl/x509.h>

#include "csa_err.h"

/* Longest chain accepted, leaf included. */
#define AGT_CHAIN_MAX 16

/* Parses a PEM chain (leaf first).  The caller frees with
 * sk_X509_pop_free(*out, X509_free). */
csa_err agt_chain_parse(const char *pem, STACK_OF(X509) * *out);
/* The same from certificates in DER one after another (what the network
 * process hands the key holder). */
csa_err agt_chain_from_der(const unsigned char *der, size_t len,
                           STACK_OF(X509) * *out);

#endif
