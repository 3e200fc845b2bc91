/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate signing requests for an identity, signed in the token. */
#ifndef AGT_CSR_H
#define AGT_CSR_H

#include <stddef.h>

#include "agt_config.h"
#include "tok.h"

/* Builds the CSR of the identity's profile for key (subject CN and O,
 * keyUsage critical digitalSignature, extendedKeyUsage per profile, SAN
 * rfc822Name for users), signs it inside the token and returns the DER.
 * *der is malloc'd; the caller frees. */
csa_err agt_csr_build(const agt_identity *id, tok_key *key, unsigned char **der,
                      size_t *len);

/* The subject CN the identity asks for (common_name, else domain, else
 * email).  Borrowed from id. */
const char *agt_identity_cn(const agt_identity *id);

#endif
