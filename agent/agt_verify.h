/* SPDX-License-Identifier: Apache-2.0 */
/* Verification of an issued chain before anything is stored (invariant 4). */
#ifndef AGT_VERIFY_H
#define AGT_VERIFY_H

#include <openssl/x509.h>

#include "agt_chain.h"
#include "agt_config.h"
#include "policy.h"
#include "tok.h"

/* Reads every certificate of the PEM files named by the config's
 * trust_anchor and the policy's trust anchors.  Caller frees. */
csa_err agt_anchors_load(const agt_config *cfg, const pol_policy *pol,
                         STACK_OF(X509) * *out);
/* Checks the chain against the token key, the identity's profile and the
 * policy rules, and that it verifies to one of the anchors at now.  A
 * violation is CSA_ERR_POLICY (or CSA_ERR_VERIFY for the chain) naming
 * the rule, the expected and the actual value. */
csa_err agt_verify_issued(const agt_identity *id, const pol_policy *pol,
                          tok_key *key, STACK_OF(X509) * chain,
                          STACK_OF(X509) * anchors, time_t now);

/* The policy's view of a configured key type name (NULL: p256). */
pol_key agt_pol_key(const char *key_type);

#endif
