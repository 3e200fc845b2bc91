/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One working session of the agent: the policy, the token (one login), the
 * account key as a JWS signer and the ACME client.  Opened once per run (or
 * per daemon wake-up); closed with agt_session_close().
 */
#ifndef AGT_SESSION_H
#define AGT_SESSION_H

#include "acme.h"
#include "agt.h"
#include "agt_keyholder.h"
#include "policy.h"

typedef struct {
    const agt_config *cfg; /* borrowed */
    pol_policy *pol;
    tok_ctx *tok;
    tok_key *account_key;
    agt_jws_key *account_signer;
    acme_client *acme;
    const char *state_dir;
} agt_session;

/* Loads the policy file named by the config (or the defaults). */
csa_err agt_policy_load(const agt_config *cfg, pol_policy **out);
/* Opens the token, logs in, finishes interrupted swaps, finds (or, with
 * create_account_key, generates) the account key and prepares the ACME
 * client.  No network I/O. */
csa_err agt_session_open(agt_globals *g, bool create_account_key,
                         agt_session *s);
void agt_session_close(agt_session *s);
/* Registers the account, or finds it when it exists (newAccount answers
 * with the existing one).  only_existing: never create.  With out NULL and
 * the account already known to this session, no request is made. */
csa_err agt_account_ensure(agt_session *s, bool only_existing,
                           acme_account **out);

/* agt_account.c: finds (or, with create, generates) the account key,
 * taking "<label>.next" when an interrupted rollover left no "<label>". */
csa_err agt_account_key_open(agt_session *s, bool create);
/* Settles what an interrupted rollover left, asking the CA which key is the
 * account's (network). */
csa_err agt_account_settle(agt_session *s);
/* keyChange to a new key generated in the token; the old key is deleted
 * only after the CA accepted. */
csa_err agt_account_rollover(agt_session *s);

/* Enrolls (or renews) one identity end to end.  replaces (may be NULL) is
 * the RFC 9773 CertID of the certificate being renewed.  *serial (may be
 * NULL) receives the new certificate's serial in hex, malloc'd. */
csa_err agt_enroll(agt_session *s, const agt_identity *id, const char *replaces,
                   char **serial);

#endif
