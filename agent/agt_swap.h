/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Swap-in: the renewed certificate (and, when rotating, its new key) takes
 * the identity's label on the token without the label ever resolving to
 * nothing.  Each step is recorded in a journal in the state directory
 * (temp file, fsync, rename, fsync dir) before the next begins, so that a
 * crash anywhere is finished or rolled back at the next start
 * (agt_swap_recover).  Steps, in order:
 *
 *   keygen    about to generate the next key under "<label>.next"
 *   stored    the verified certificate is stored under "<label>.next"
 *   promoted  the new key and certificate carry "<label>"
 *   retired   the old ones carry "<label>.retired"
 *   (journal removed once the retired objects are deleted)
 *
 * Before "stored" a crash rolls back (the pending objects are deleted and
 * the old pair is untouched); from "stored" on it rolls forward.
 */
#ifndef AGT_SWAP_H
#define AGT_SWAP_H

#include <time.h>

#include <openssl/x509.h>

#include "agt_config.h"
#include "tok.h"

/* Takes the identity's lock (<state_dir>/<identity>.lock, flock) without
 * waiting: two agents on one token never renew, or recover, the same
 * identity at once.  Returns the descriptor, or -1 when another process
 * holds it.  agt_swap_unlock() releases it. */
int agt_swap_lock(const char *state_dir, const agt_identity *id);
void agt_swap_unlock(int fd);

/* Finishes or rolls back an interrupted swap of identity id, if any.  The
 * caller holds the identity's lock. */
csa_err agt_swap_recover(tok_ctx *tok, const char *state_dir,
                         const agt_identity *id);

/* Starts a renewal: with rotate, journals "keygen" and generates a fresh
 * key under "<label>.next"; otherwise returns the current key.  The caller
 * frees *key with tok_key_free(). */
csa_err agt_swap_begin(tok_ctx *tok, const char *state_dir,
                       const agt_identity *id, bool rotate, tok_key **key);

/* Stores the verified chain (leaf first) for key and swaps it in, then
 * writes <state_dir>/<identity>.pem from the token (as recovery does).
 * Leaves the old pair in place if anything fails before the new one is
 * stored. */
csa_err agt_swap_commit(tok_ctx *tok, const char *state_dir,
                        const agt_identity *id, tok_key *key,
                        STACK_OF(X509) * chain);

/* With retire_grace, the retired pair stays as "<label>.retired" until
 * agt_swap_reap_due() (0: nothing kept); agt_swap_reap() deletes it once
 * that time has come.  The caller holds the identity's lock. */
time_t agt_swap_reap_due(const char *state_dir, const agt_identity *id);
csa_err agt_swap_reap(tok_ctx *tok, const char *state_dir,
                      const agt_identity *id, time_t now);

/* Rolls back a renewal that failed before agt_swap_commit (deletes the
 * pending key, removes the journal). */
csa_err agt_swap_abort(tok_ctx *tok, const char *state_dir,
                       const agt_identity *id);

#endif
