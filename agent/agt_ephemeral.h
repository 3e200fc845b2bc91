/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One key and certificate per signature (`csagent exec --ephemeral`).
 *
 * A run works on a one-use copy of an identity: its name and label end in
 * ".eph-" and 32 hex digits of a fresh random value, so every token object
 * the run creates (the key pair and certificate under the label, the
 * pending ones under "<label>.next", the issuers under "<label>.chain")
 * carries a label no other program can have chosen.  Before the first of
 * them exists, the run writes a record, <state_dir>/<name>.ephemeral,
 * naming that label, and holds an exclusive flock on it until it has
 * destroyed them.  A record whose lock is free is what a killed run left:
 * agt_ephemeral_reap (every csagent start that opens a session, and every
 * exec) destroys the objects it names and then the record.
 */
#ifndef AGT_EPHEMERAL_H
#define AGT_EPHEMERAL_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "agt_config.h"
#include "policy.h"
#include "tok.h"

/* ".eph-" + 32 hex digits */
#define AGT_EPH_SUFFIX_LEN 37

typedef struct {
    agt_identity id; /* the one-use copy; name and label point below */
    char name[300];
    char label[200];
    char record[4096]; /* <state_dir>/<name>.ephemeral */
    int fd;            /* the record, flock'd exclusive; -1: none */
} agt_eph;

/* Makes the one-use copy of base (fresh random suffix) with the lifetime
 * asked of the CA (notAfter = now + lifetime). */
csa_err agt_eph_init(agt_eph *e, const agt_identity *base, int64_t lifetime);
/* Writes the record and takes its lock, before any object exists. */
csa_err agt_eph_record(agt_eph *e, const char *state_dir);
/* Destroys every object of the run, then its files and the record, and
 * lets the lock go.  Returns the number of objects destroyed in *n. */
csa_err agt_eph_destroy(agt_eph *e, tok_ctx *tok, const char *state_dir,
                        size_t *n);
/* Finishes what killed runs left: for each record nobody holds, destroys
 * its objects and files, appends an "interrupted" audit line, and removes
 * it.  Records of live runs are left alone. */
csa_err agt_ephemeral_reap(tok_ctx *tok, const char *state_dir);
/* Reads a record's text: the label (and identity) it names.  false when
 * it is not a record csagent wrote for the file named file (a label that
 * does not end in ".eph-" and the 32 hex digits the file name ends in):
 * such a record is left alone, nothing is destroyed for it. */
bool agt_eph_parse(const char *text, const char *file, char *identity,
                   size_t isize, char *label, size_t lsize);
/* The issued certificate: it ends no later than the notAfter asked for
 * (id->not_after), and its lifetime lies within [ephemeral] of the
 * policy. */
csa_err agt_ephemeral_check(const pol_policy *pol, const agt_identity *id,
                            X509 *leaf);

/* One line of <state_dir>/audit.log (JSON, appended, fsync'd). */
typedef struct {
    const char *identity, *label, *outcome;
    const char *key_id, *serial; /* hex; NULL: unknown */
    X509 *cert;                  /* for its SHA-256; may be NULL */
    char *const *command;        /* NULL-terminated; may be NULL */
    char *const *artifacts;      /* NULL-terminated paths; may be NULL */
    int exit_code;               /* -1: COMMAND did not run */
    bool revoked;
    size_t destroyed; /* token objects destroyed */
} agt_audit;

/* Appends the line; *artifact_err is set when an artifact could not be
 * read (its line then carries the error instead of a digest). */
csa_err agt_audit_append(const char *state_dir, const agt_audit *a,
                         bool *artifact_err);

#endif
