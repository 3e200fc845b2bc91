/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key holder: the handful of requests the network-facing code may make
 * of token keys — public JWK, sign a JWS, sign a CSR, sign a
 * key authorization (cert-01, ppkp-01) and compute an OTP.  acme/ only
 * ever sees the csa_signer built here.  Keeping this narrow is what lets the
 * token side move into its own process later (DESIGN.md).
 */
#ifndef AGT_KEYHOLDER_H
#define AGT_KEYHOLDER_H

#include <openssl/x509.h>

#include "csa_signer.h"
#include "tok.h"

typedef struct agt_jws_key agt_jws_key;

/* Wraps a token key as a JWS signer with the key's default alg (or
 * jws_alg when non-NULL, e.g. "PS256").  It signs what it is given: the
 * holder builds every JWS itself (acme_jws_build) from the fields of a
 * request that agt_net_jws_check accepted, so the network process never
 * chooses what is signed beyond those fields.  The key is borrowed and
 * must outlive the result; free with agt_jws_key_free(). */
csa_err agt_jws_key_new(tok_key *key, const char *jws_alg, agt_jws_key **out);
void agt_jws_key_free(agt_jws_key *k);
/* The csa_signer view, borrowed from k. */
const csa_signer *agt_jws_key_signer(const agt_jws_key *k);

/* Signs the ASCII key authorization with key and returns the JWS alg used
 * and the base64url signature (JOSE encoding).  Both malloc'd. */
csa_err agt_sign_keyauth(tok_key *key, const char *key_auth, char **alg,
                         char **sig_b64url);

#endif
