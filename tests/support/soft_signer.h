/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TEST ONLY: a csa_signer over an OpenSSL EVP_PKEY held in memory.  It
 * exists so that acme/ and the agent's protocol paths can be tested without
 * a token.  Never link it into the agent binary: the agent's keys live in
 * the token and are used through pkcs11/.
 */
#ifndef SOFT_SIGNER_H
#define SOFT_SIGNER_H

#include <openssl/evp.h>

#include "csa_err.h"
#include "csa_signer.h"

typedef struct soft_signer soft_signer;

/* Generates a fresh key for alg: "ES256" (P-256), "ES384" (P-384), "ES512"
 * (P-521), "RS256" / "PS256" (RSA 3072) or "EdDSA" (Ed25519).  The caller
 * frees *out with soft_signer_free(). */
csa_err soft_signer_generate(const char *alg, soft_signer **out);
/* Wraps an existing key (the signer takes its own reference). */
csa_err soft_signer_from_pkey(const char *alg, EVP_PKEY *pkey,
                              soft_signer **out);
void soft_signer_free(soft_signer *s);

/* The csa_signer view; borrowed, lives as long as s. */
const csa_signer *soft_signer_get(const soft_signer *s);
/* The key (borrowed), e.g. to sign a CSR in a test. */
EVP_PKEY *soft_signer_pkey(const soft_signer *s);

#endif
