/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Swap-in: the renewed certificate (and, when rotating, its new key) takes
 * the identity's label on the token so that pkcs11:object=<label> resolves,
 * at every instant, to the old pair, to the new pair, or (only while a
 * rotated key changes places) to no complete pair; never to a key with
 * another key's certificate, two keys or two certificates of different
 * keys.  Each step is journalled (agt_journal.h) before it is taken, so a
 * crash anywhere is finished or rolled back at the next start
 * (agt_swap_recover).  Steps, in order:
 *
 *   keygen    the next key's id is chosen; it is generated under
 *             "<label>.next" (or the current key is kept)
 *   storing   the verified certificate is being stored under ".next"
 *   stored    the new pair is whole under ".next"; the previous retired
 *             pair goes and, with retire_grace, the current one is copied
 *             under "<label>.retired"
 *   aside     the label changes: kept key, new certificate added then old
 *             one deleted; new key, old certificate and keys deleted, then
 *             new keys and certificate copied in (certificate last)
 *   promoted  the ".next" originals (and the retired copy, without a grace
 *             period) are deleted, <identity>.pem written, journal removed
 *
 * Before "stored" a crash rolls back (the journal's pending objects are
 * deleted; the old pair was never touched); from "stored" on it rolls
 * forward.  Only objects whose label and CKA_ID the journal (or the grace
 * file) named are ever deleted.  The steps that change the label hold the
 * identity's use lock (agt_lock.h) exclusively: signers under
 * `csagent exec` are waited for, up to signer_wait.
 */
#ifndef AGT_SWAP_H
#define AGT_SWAP_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/x509.h>

#include "agt_config.h"
#include "agt_journal.h"
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

/* The pair under the label when a renewal began, as agt_swap_begin found
 * it with one search of the label (or in a round's snapshot, each handle
 * read back): the swap deletes these handles instead of searching again.
 * Good only in the same token session (generation) and under the
 * identity's lock held since; known is 0 when the label held more than
 * AGT_OLD_MAX objects of a class (the swap searches then).  chain_known:
 * the certificates under "<label>.chain" were in the same snapshot
 * (chain_n of them, with their CKA_IDs); the swap reads each back instead
 * of searching, and searches when one no longer is what it was. */
#define AGT_OLD_MAX 4
typedef struct {
    int known;
    unsigned generation;
    char id[AGT_HEX_ID_MAX];                   /* as the journal's old_id */
    char fp[AGT_HEX_FP_MAX];                   /* as the journal's old_fp */
    tok_handle h[TOK_CLASS__MAX][AGT_OLD_MAX]; /* by class */
    size_t n[TOK_CLASS__MAX];
    int chain_known;
    tok_handle chain_h[AGT_OLD_MAX];
    unsigned char chain_id[AGT_OLD_MAX][TOK_ID_MAX];
    size_t chain_id_len[AGT_OLD_MAX], chain_n;
} agt_swap_old;

/* <identity>.pem as it was when a renewal round listed the token: every
 * swap ends by writing that file anew (a rename, so a new inode). */
typedef struct agt_pem_mark_s {
    bool unknown; /* lstat failed other than with ENOENT */
    bool exists;
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
} agt_pem_mark;

void agt_swap_pem_mark(const char *state_dir, const agt_identity *id,
                       agt_pem_mark *out);
/* Whether the round's listing of the token may stand for the identity's
 * label (agt_swap_begin's snap), as far as the state directory tells: not
 * if a swap journal of it is there (a swap half-done, which recovery is
 * about to finish), nor if <identity>.pem is no longer the file marked
 * before the listing was made: another csagent renewed the identity since
 * (or while the listing was being made). */
bool agt_swap_snap_usable(const char *state_dir, const agt_identity *id,
                          const agt_pem_mark *before);

/* Starts a renewal: with rotate, journals "keygen" and generates a fresh
 * key under "<label>.next"; otherwise returns the current key.  The caller
 * frees *key with tok_key_free().  snap[n_snap] (NULL: none): a snapshot of
 * the token's objects sorted by label (tok_labelled_find, agt_session.snap)
 * to take the label's objects from instead of a search; used only when it
 * shows nothing under the label (a first enrollment), or one private key
 * with a certificate of its id and every object it lists there still
 * reads back the same, else the label is searched (the caller has checked
 * the state directory, agt_swap_snap_usable).  old
 * (may be NULL): the pair found, for agt_swap_commit. */
csa_err agt_swap_begin(tok_ctx *tok, const char *state_dir,
                       const agt_identity *id, bool rotate,
                       const tok_labelled *snap, size_t n_snap, tok_key **key,
                       agt_swap_old *old);

/* Stores the verified chain (leaf first) for key and swaps it in, then
 * writes <state_dir>/<identity>.pem: the leaf it stored and the issuers
 * under "<label>.chain" (recovery reads both from the token).
 * Leaves the old pair in place if anything fails before the new one is
 * stored. */
csa_err agt_swap_commit(tok_ctx *tok, const char *state_dir,
                        const agt_identity *id, tok_key *key,
                        STACK_OF(X509) * chain, const agt_swap_old *old);

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

/* Whether any object at all carries label (one search, which when it
 * finds nothing answers every search by label, id and class).  On an
 * error *used is true: the caller looks closer. */
csa_err agt_label_used(tok_ctx *tok, const char *label, bool *used);

#endif
