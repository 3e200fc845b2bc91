/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key holder: the handful of requests the network-facing code may make
 * of token keys — public JWK, sign a JWS signing input, sign a CSR, sign a
 * key authorization (cert-01, ppkp-01) and compute an OTP.  acme/ only
 * ever sees the csa_signer built here.  Keeping this narrow is what lets the
 * token side move into its own process later (DESIGN.md).
 */
#ifndef AGT_KEYHOLDER_H
#define AGT_KEYHOLDER_H

#include <json-c/json.h>
#include <openssl/x509.h>

#include "csa_signer.h"
#include "tok.h"

typedef struct agt_jws_key agt_jws_key;

/* Wraps a token key as a JWS signer with the key's default alg (or
 * jws_alg when non-NULL, e.g. "PS256") that signs only JWS for the CA
 * whose directory is ca_url (agt_jws_input_check).  The key is borrowed
 * and must outlive the result; free with agt_jws_key_free(). */
csa_err agt_jws_key_new(tok_key *key, const char *jws_alg, const char *ca_url,
                        agt_jws_key **out);
/* What the signer accepts: "base64url(protected).base64url(payload)"
 * whose protected header is a JSON object with this alg, a url on the same
 * scheme://host:port as ca_url, exactly one of jwk and kid, and a nonce
 * unless it carries a jwk (the inner JWS of keyChange has none).  So a bug
 * in the code that handles what the network sends cannot make the account
 * or certificate key sign anything else.  CSA_ERR_POLICY otherwise. */
csa_err agt_jws_input_check(const char *ca_url, const char *alg,
                            const unsigned char *in, size_t len);
void agt_jws_key_free(agt_jws_key *k);
/* The payload of a JWS signing input as a JSON object (the caller puts
 * it), NULL for an empty payload (POST-as-GET).  CSA_ERR_POLICY when it
 * is not a JSON object. */
csa_err agt_jws_input_payload(const unsigned char *in, size_t len,
                              json_object **payload);
/* The csa_signer view, borrowed from k. */
const csa_signer *agt_jws_key_signer(const agt_jws_key *k);

/* Signs the ASCII key authorization with key and returns the JWS alg used
 * and the base64url signature (JOSE encoding).  Both malloc'd. */
csa_err agt_sign_keyauth(tok_key *key, const char *key_auth, char **alg,
                         char **sig_b64url);

#endif
