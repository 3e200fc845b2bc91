/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Locks in the state directory (flock(2), released when the descriptor is
 * closed or the process dies, so a kill -9 never leaves one behind).
 *
 *   <identity>.lock  one renewal (or start-up recovery) of the identity at
 *                    a time: exclusive, never waited for.
 *   <identity>.use   signers under `csagent exec` hold it shared while
 *                    their command runs; the swap takes it exclusive only
 *                    for the steps that change what the label resolves to,
 *                    waiting for the signers (bounded, logged), never
 *                    breaking their hold.
 *   account.lock     the ACME account key: a rollover holds it exclusive;
 *                    everything that signs with the account key or settles
 *                    a rollover holds it shared.
 */
#ifndef AGT_LOCK_H
#define AGT_LOCK_H

#include "agt_config.h"

typedef enum { AGT_LOCK_SHARED = 0, AGT_LOCK_EXCLUSIVE } agt_lock_mode;

/* Takes <state_dir>/<name> in mode, waiting at most wait_s seconds (0: do
 * not wait).  While it waits it logs, once, who it waits for (what, e.g.
 * "signers of 'x'").  Returns the descriptor (close it, or agt_unlock, to
 * release), or -1 with an error raised: CSA_ERR_BUSY when the wait ran
 * out, CSA_ERR_IO when the file cannot be opened. */
int agt_lock_file(const char *state_dir, const char *name, agt_lock_mode mode,
                  long wait_s, const char *what);
void agt_unlock(int fd);

/* The identity's use lock (<identity>.use), see above. */
int agt_use_lock(const char *state_dir, const agt_identity *id,
                 agt_lock_mode mode, long wait_s);

#endif
