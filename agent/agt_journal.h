/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The swap journal, <state_dir>/<identity>.journal: what a renewal is about
 * to do to the token, written (temp file, fsync, rename, fsync of the
 * directory) before it does it.  It is the proof that an object is ours:
 * recovery deletes only objects whose label and CKA_ID (and, for a
 * certificate, SHA-256) a journal named before they were created or
 * changed.  See agt_swap.h for the steps.
 */
#ifndef AGT_JOURNAL_H
#define AGT_JOURNAL_H

#include <stdbool.h>

#include "agt_config.h"
#include "csa_err.h"

#define AGT_HEX_ID_MAX 129 /* a 64-byte CKA_ID in hex, NUL */
#define AGT_HEX_FP_MAX 65  /* SHA-256 in hex, NUL */

typedef enum {
    AGT_STEP_KEYGEN = 0, /* the new key is being generated */
    AGT_STEP_STORING,    /* the verified certificate is being stored */
    AGT_STEP_STORED,     /* the new pair is whole under "<label>.next" */
    AGT_STEP_ASIDE,      /* the old pair is kept aside; the label changes */
    AGT_STEP_PROMOTED,   /* the new pair carries the label */
    AGT_STEP__MAX
} agt_step;

typedef struct {
    agt_step step;
    bool rotate;                 /* the new pair has a new key */
    char old_id[AGT_HEX_ID_MAX]; /* the pair under the label at the start */
    char old_fp[AGT_HEX_FP_MAX]; /* its certificate ("" if none) */
    char new_id[AGT_HEX_ID_MAX]; /* the new key (= old_id when kept) */
    char new_fp[AGT_HEX_FP_MAX]; /* the new certificate, from "storing" */
    bool legacy; /* written by a csagent before journal version 2 */
} agt_journal;

const char *agt_step_name(agt_step step);

/* Writes j, then honours CSAGENT_CRASH_AT (test-only: "<step>" aborts,
 * "<step>:kill" sends the process SIGKILL, right after that step is
 * journalled). */
csa_err agt_journal_write(const char *state_dir, const agt_identity *id,
                          const agt_journal *j);
/* CSA_ERR_NOT_FOUND when there is none; a journal that cannot be read is
 * an error that names the file and leaves the token alone. */
csa_err agt_journal_read(const char *state_dir, const agt_identity *id,
                         agt_journal *j);
csa_err agt_journal_remove(const char *state_dir, const agt_identity *id);

/* Hex encoding of a CKA_ID or digest; out holds 2 * len + 1. */
void agt_hex(const unsigned char *in, size_t len, char *out);
/* Decodes hex into out (at most max bytes); -1 when it is not hex. */
int agt_unhex(const char *hex, unsigned char *out, size_t max);

#endif
