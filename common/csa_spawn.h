/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one way csagent and csca start a program of the operator's
 * (challenge hooks, notify, otp_program, csca's OTP verifier), in the
 * manner of OpenSSH's subprocess(): the child gets
 *   - an empty signal mask and default dispositions (the daemon blocks
 *     SIGTERM/SIGHUP/SIGUSR1 and a hook's own `timeout` must work);
 *   - stdin on /dev/null, stdout to a pipe (or /dev/null), stderr ours, and
 *     no other descriptor (a PIN given as fd:N never reaches it);
 *   - its own process group, killed whole when the time limit passes;
 *   - an environment built from an allowlist, never ours wholesale;
 *   - its data in the environment, never in argv.
 * No dependency on the rest of csagent: csca builds this file too.
 */
#ifndef CSA_SPAWN_H
#define CSA_SPAWN_H

#include <stddef.h>

typedef enum {
    CSA_SPAWN_OK = 0,  /* ran; *status is its exit status */
    CSA_SPAWN_START,   /* could not be started (why says) */
    CSA_SPAWN_TIMEOUT, /* ran past timeout_s; its process group was killed */
    CSA_SPAWN_SIGNAL,  /* died of a signal */
    CSA_SPAWN_WAIT,    /* waitpid failed */
    CSA_SPAWN__MAX     /* not a result: the range check of a result that
                          crossed a socket (net/agt_hookrun.c) */
} csa_spawn_rc;

typedef struct {
    const char *path;        /* absolute path; argv is just the path */
    char *const *env;        /* "NAME=value" for the child, NULL-terminated */
    const char *const *keep; /* names passed on from our environment besides
                                PATH, HOME, USER, LOGNAME, LANG, LC_*, TZ,
                                TMPDIR (NULL-terminated, may be NULL) */
    long timeout_s;          /* <= 0: 60 s */
    char *out;               /* first line of stdout (NULL: discarded) */
    size_t outsize;
} csa_spawn_req;

/* Runs the program and waits for it.  why (whylen bytes) receives a
 * sentence on any result but CSA_SPAWN_OK. */
csa_spawn_rc csa_spawn_run(const csa_spawn_req *req, int *status, char *why,
                           size_t whylen);

#endif
