/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hook runner of the network process (docs/security.md, "Two
 * processes").
 *
 * The network process loads a seccomp allow list that refuses execve, so
 * it cannot start the operator's http-01/dns-01 hooks.  Before it loads
 * anything else it forks this small child, which keeps one end of a
 * socketpair and nothing else above descriptor 2 (not the holder's socket)
 * and dies with its parent (PR_SET_PDEATHSIG).  The child takes
 * no_new_privs and the deny list of agt_sandbox_hooks, which the hooks
 * inherit as they did when the network process started them, and then
 * does one thing: for each request on the socket, one at a time, it runs
 * csa_spawn_run and answers with the result.  It exits when the socket
 * closes.
 *
 * Messages (common/csa_ipc.h framing):
 *   run     path env [keep] timeout outsize   network process -> runner
 *   result  rc status [out] [why]             runner -> network process
 * env and keep are strings each ended by a NUL byte (no environment entry
 * can hold one); outsize 0 discards the hook's stdout.
 */
#ifndef AGT_HOOKRUN_H
#define AGT_HOOKRUN_H

#include <stddef.h>
#include <sys/types.h>

#include "csa_err.h"
#include "csa_ipc.h"
#include "csa_spawn.h"

/* Message types. */
enum { AGT_HR_RUN = 1, AGT_HR_RESULT };

/* Field tags. */
enum {
    AGT_HR_T_PATH = 1,
    AGT_HR_T_ENV,     /* "NAME=value\0" ... */
    AGT_HR_T_KEEP,    /* "NAME\0" ... */
    AGT_HR_T_TIMEOUT, /* seconds, 0: csa_spawn_run's default */
    AGT_HR_T_OUTSIZE, /* 0: stdout discarded */
    AGT_HR_T_RC,      /* csa_spawn_rc */
    AGT_HR_T_STATUS,  /* exit status, -1 when none */
    AGT_HR_T_OUT,     /* first line of stdout */
    AGT_HR_T_WHY,
};

/* Limits of a request. */
#define AGT_HR_PATH_MAX 4096
#define AGT_HR_ENV_MAX (64 * 1024) /* all entries together */
#define AGT_HR_ENTRIES_MAX 64      /* per list */
#define AGT_HR_TIMEOUT_MAX 86400
#define AGT_HR_OUT_MAX 4096
#define AGT_HR_WHY_MAX 1024

typedef struct {
    int fd;    /* the network process's end, -1: not running */
    pid_t pid; /* the runner */
} agt_hookrun;

/* Forks the runner (in the child it serves requests until the socket
 * closes and then exits the process; it never returns).  Called by the
 * network process before it loads its seccomp filter and before it
 * creates any thread.  hr is the caller's; agt_hookrun_stop ends it. */
csa_err agt_hookrun_start(agt_hookrun *hr);

/* Closes the socket and reaps the runner.  Accepts a runner never
 * started (fd -1). */
void agt_hookrun_stop(agt_hookrun *hr);

/* An acme_hook_spawner: sends req to the runner (ctx, an agt_hookrun)
 * and waits for the result, which it gives as csa_spawn_run would.  A
 * runner that is gone is CSA_SPAWN_WAIT, with why naming it. */
csa_spawn_rc agt_hookrun_spawn(void *ctx, const csa_spawn_req *req, int *status,
                               char *why, size_t whylen);

/* A run request as the runner reads it (agt_hookrun_read). */
typedef struct {
    char *path;
    char *envbuf, **env;   /* NAME=value entries, NULL-terminated list */
    size_t envlen;         /* of envbuf, wiped when freed */
    char *keepbuf, **keep; /* names, NULL-terminated list */
    uint64_t timeout, outsize;
} agt_hookrun_req;

/* The runner's reader of a request of the network process (exposed for
 * the fuzzer): every field typed and bounded, env entries NAME=value and
 * keep entries bare names.  CSA_ERR_PROTOCOL naming what is wrong; *r is
 * then empty.  agt_hookrun_req_free frees a request read. */
csa_err agt_hookrun_read(const csa_ipc_msg *m, agt_hookrun_req *r);
void agt_hookrun_req_free(agt_hookrun_req *r);
/* The network process's reader of the runner's answer to req: the spawn
 * result into *rc, the exit status, stdout's first line into req->out,
 * the explanation into why. */
csa_err agt_hookrun_read_result(const csa_ipc_msg *m, const csa_spawn_req *req,
                                uint64_t *rc, int *status, char *why,
                                size_t whylen);

/* The runner's side of one request (exposed for tests): checks m, a run
 * request, runs it with csa_spawn_run and builds the result in o.
 * CSA_ERR_PROTOCOL naming a malformed request (then o is untouched). */
csa_err agt_hookrun_serve(const csa_ipc_msg *m, csa_ipc_out *o);

#endif
