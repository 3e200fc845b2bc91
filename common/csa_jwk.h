/* SPDX-License-Identifier: Apache-2.0 */
/* Public keys as JWKs (RFC 7517/7518/8037) and their thumbprints (7638). */
#ifndef CSA_JWK_H
#define CSA_JWK_H

#include <openssl/evp.h>

#include "csa_err.h"

/* The canonical JWK of a public key: required members only, in
 * lexicographic order, no whitespace (RFC 7638 §3), EC coordinates padded
 * to the curve width.  *out is malloc'd; caller frees. */
csa_err csa_jwk_from_pkey(EVP_PKEY *pkey, char **out);
/* base64url(SHA-256(canonical JWK)).  *out is malloc'd; caller frees. */
csa_err csa_jwk_thumbprint(const char *canonical_jwk, char **out);

#endif
