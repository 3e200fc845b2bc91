/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One working session of the agent: the policy, the token (one login), the
 * account key as a JWS signer and the ACME client.  Opened once per run (the
 * daemon keeps one); closed with agt_session_close().
 *
 * Account lock (<state_dir>/account.lock, agent/agt_lock.h): the session
 * uses the account key only while it holds the lock.  A rollover holds it
 * exclusive from the start of its session to the end; everything else
 * holds it shared from agt_session_open() to agt_session_close() (or, in
 * the daemon, from agt_account_lock() to agt_account_unlock() around each
 * renewal).  Settling an interrupted rollover and generating the first
 * account key need it exclusive: a shared holder lets it go, takes it
 * exclusive, acts, and takes it shared again, re-reading the key each time
 * (flock cannot upgrade a lock in place without a window either).
 */
#ifndef AGT_SESSION_H
#define AGT_SESSION_H

#include <time.h>

#include "acme.h"
#include "agt.h"
#include "agt_keyholder.h"
#include "agt_lock.h"
#include "agt_net.h"
#include "policy.h"

/* Bounded waits for the account lock (see docs/operations.md).  A user of
 * the account key waits for a rollover or a settle: key generation in the
 * token plus three or four ACME requests of at most 40 s each.  A rollover
 * (or a settle) waits for the users: an enrollment answers challenges
 * (hooks of up to 60 s each, polling of up to 120 s per wait).  A wait that
 * runs out is CSA_ERR_BUSY naming account.lock; the hold is never broken. */
#define AGT_ACCOUNT_WAIT_SHARED 300
#define AGT_ACCOUNT_WAIT_EXCLUSIVE 900

typedef struct {
    const agt_config *cfg; /* borrowed */
    pol_policy *pol;
    char *policy_text; /* as read, for the network process */
    tok_ctx *tok;
    tok_key *account_key;
    agt_jws_key *account_signer;
    agt_net *net; /* the network process */
    const char *state_dir;
    /* The account lock: held when account_locked (descriptor account_lock,
     * in account_lock_mode).  account_key / account_signer may be used
     * only while it is held; they are re-read every time it is taken. */
    bool account_locked;
    int account_lock;
    agt_lock_mode account_lock_mode;
    bool create_account_key; /* generate the account key when missing */
    /* The last open or resume failed at the login (a wrong PIN, a PIN the
     * token refuses or that cannot be read): never try it again. */
    bool login_failed;
    /* During a daemon's renewal round: every object of the token, listed
     * once at the round's start (tok_labelled_find, sorted by label), so
     * that a renewal finds its label's objects without a search of its own
     * (agt_swap_begin); NULL otherwise. */
    const tok_labelled *snap;
    size_t n_snap;
    /* <identity>.pem of each identity (the configuration's order) as it
     * was before the listing (agt_swap_snap_usable) */
    const struct agt_pem_mark_s *snap_pems;
} agt_session;

/* Loads the policy file named by the config (or the defaults). */
csa_err agt_policy_load(const agt_config *cfg, pol_policy **out);
/* The same, and the file's text (NULL for the defaults), malloc'd. */
csa_err agt_policy_load_text(const agt_config *cfg, pol_policy **out,
                             char **text);
/* Opens the token, logs in, finishes interrupted swaps, takes the account
 * lock shared, finds (or, with create_account_key, generates) the account
 * key and prepares the ACME client.  No network I/O. */
csa_err agt_session_open(agt_globals *g, bool create_account_key,
                         agt_session *s);
/* The same with the account lock taken in mode (a rollover: exclusive). */
csa_err agt_session_open_mode(agt_globals *g, bool create_account_key,
                              agt_lock_mode mode, agt_session *s);
/* Releases the account lock, logs out, frees everything. */
void agt_session_close(agt_session *s);
/* Lets the token go and keeps the rest (the daemon while it idles): the
 * account lock, the network process, the account key handles and the
 * token (C_Logout, C_CloseSession, C_Finalize) are released; the
 * configuration, policy and state directory stay.  Closing or resuming
 * is what may follow. */
void agt_session_release(agt_session *s);
/* Opens the token of a released session again with its policy as it was:
 * login (the PIN source read again), recovery and reaping as
 * agt_session_open does, the account lock taken shared, the network
 * process started.  On failure the session is released again and
 * s->login_failed says whether the login was what failed. */
csa_err agt_session_resume(agt_globals *g, agt_session *s);
/* Where the PIN comes from: --pin-file, else the configuration's
 * pin_file (NULL when neither). */
const char *agt_session_pin_source(const agt_globals *g);
/* Registers the account, or finds it when it exists (newAccount answers
 * with the existing one).  only_existing: never create.  With out NULL and
 * the account already known to this session, no request is made. */
csa_err agt_account_ensure(agt_session *s, bool only_existing,
                           acme_account **out);

/* agt_account.c: takes the account lock in mode (bounded wait, logged)
 * and (re)reads the account key; with s->create_account_key a missing key
 * is generated (under the lock taken exclusive for that moment).  A lock
 * already held is let go first. */
csa_err agt_account_lock(agt_session *s, agt_lock_mode mode);
/* Lets the account lock go (the daemon between renewals).  The key handles
 * stay allocated (the ACME client points at them) but must not be used
 * until agt_account_lock() re-read them. */
void agt_account_unlock(agt_session *s);
/* Whether there is nothing to settle: no account journal (no rollover in
 * progress or interrupted) and the session's key is the one under the
 * label. */
bool agt_account_settled(const agt_session *s);
/* Finds (or, with create, generates) the account key under the lock: the
 * key the account journal names once the CA accepted it, else the one
 * under the label, else (what older versions left) "<label>.next". */
csa_err agt_account_key_open(agt_session *s, bool create);
/* Settles what an interrupted rollover left (network), under the lock
 * taken exclusive for the time it takes: with an account journal, deletes
 * only the objects it names (see agt_account.c); without one deletes
 * nothing, asking the CA which key is the account's. */
csa_err agt_account_settle(agt_session *s);
/* keyChange to a new key generated in the token, journalled; the old key
 * is deleted only after the CA accepted.  Needs the lock exclusive
 * (agt_session_open_mode). */
csa_err agt_account_rollover(agt_session *s);

/* Enrolls (or renews) one identity end to end.  replaces (may be NULL) is
 * the RFC 9773 CertID of the certificate being renewed.  *serial (may be
 * NULL) receives the new certificate's serial in hex, malloc'd. */
csa_err agt_enroll(agt_session *s, const agt_identity *id, const char *replaces,
                   char **serial);

/* The same in two halves, so that several renewals can wait for their CA
 * conversations at once (the daemon's [agent] parallel).  begin takes the
 * identity's lock, finishes what a crash left, checks the order against
 * the policy, generates the pending key and submits the order to net;
 * the caller steps net (agt_net_step) until the job finished and passes
 * its error and chain (owned by end) to end, which verifies, swaps in (or
 * rolls back), lets the lock go and frees e. */
typedef struct agt_enrollment agt_enrollment;
csa_err agt_enroll_begin(agt_session *s, const agt_identity *id,
                         const char *replaces, agt_net *net,
                         agt_enrollment **out);
csa_err agt_enroll_end(agt_enrollment *e, csa_err err, STACK_OF(X509) * chain,
                       char **serial);

#endif
