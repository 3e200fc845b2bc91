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
 * What it runs is fixed by the first message, the allowed list: the hook
 * programs of every identity of the configuration and the configured
 * hook_env names.  The network process sends it as soon as it has parsed
 * the configuration the key holder sent (AGT_NET_J_CONFIG, always the first
 * job), before it speaks to the CA; the runner refuses a run before it and
 * a second list after it.  A run is then refused (CSA_ERR_PROTOCOL, an
 * error result) unless its path is one of the hooks, each env entry is
 * one of acme_hook_vars (acme.h) and each keep name is a hook_env name:
 * a network process taken over by a hostile CA can start only the
 * operator's hooks, with csagent's variables (their values stay untrusted).
 *
 * Messages (common/csa_ipc.h framing):
 *   allow   [paths] [keep]                    network process -> runner
 *   run     path env [keep] timeout outsize   network process -> runner
 *   result  rc status [out] [why]             runner -> network process
 * paths, env and keep are strings each ended by a NUL byte (no environment
 * entry can hold one); outsize 0 discards the hook's stdout.
 */
#ifndef AGT_HOOKRUN_H
#define AGT_HOOKRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "csa_err.h"
#include "csa_ipc.h"
#include "csa_spawn.h"

/* Message types. */
enum { AGT_HR_RUN = 1, AGT_HR_RESULT, AGT_HR_ALLOW };

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
    AGT_HR_T_PATHS, /* allow: "path\0" ... */
};

/* Limits of a request. */
#define AGT_HR_PATH_MAX 4096
#define AGT_HR_ENV_MAX (64 * 1024) /* all entries together */
#define AGT_HR_ENTRIES_MAX 64      /* per list */
#define AGT_HR_TIMEOUT_MAX 86400
#define AGT_HR_OUT_MAX 4096
#define AGT_HR_WHY_MAX 1024
/* Limits of the allowed list: distinct hook paths, all together. */
#define AGT_HR_ALLOW_MAX (4 * 1024 * 1024)
#define AGT_HR_ALLOW_PATHS_MAX 65536

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

/* Sends the allowed list to the runner (hr) and waits for its answer:
 * paths, the hook programs (NULL-terminated, distinct), and keep, the
 * hook_env names (NULL-terminated); either may be NULL, for none.  Called
 * once, before anything from the CA is read. */
csa_err agt_hookrun_set_allowed(agt_hookrun *hr, const char *const *paths,
                                const char *const *keep);

/* What the runner lets a request run (its first message). */
typedef struct {
    bool set;               /* false: nothing runs yet */
    char *pathbuf, **paths; /* NULL-terminated lists */
    char *keepbuf, **keep;
} agt_hookrun_allowed;

/* The runner's reader of the allowed list: CSA_ERR_PROTOCOL when m is not
 * a well-formed allow message or a list is already set (*a unchanged). */
csa_err agt_hookrun_read_allowed(const csa_ipc_msg *m, agt_hookrun_allowed *a);
void agt_hookrun_allowed_free(agt_hookrun_allowed *a);

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
 * keep entries bare names, and what a allows: the path one of its paths,
 * env names acme_hook_vars, keep names among its keep.  CSA_ERR_PROTOCOL
 * naming what is wrong or refused; *r is then empty.  agt_hookrun_req_free
 * frees a request read. */
csa_err agt_hookrun_read(const csa_ipc_msg *m, const agt_hookrun_allowed *a,
                         agt_hookrun_req *r);
void agt_hookrun_req_free(agt_hookrun_req *r);
/* The network process's reader of the runner's answer to req: the spawn
 * result into *rc, the exit status, stdout's first line into req->out,
 * the explanation into why. */
csa_err agt_hookrun_read_result(const csa_ipc_msg *m, const csa_spawn_req *req,
                                uint64_t *rc, int *status, char *why,
                                size_t whylen);

/* The runner's side of one message (exposed for tests): an allow message
 * sets *a (once); a run request is checked against *a and run with
 * csa_spawn_run.  The result is built in o.  CSA_ERR_PROTOCOL naming a
 * malformed or refused message (then o is untouched). */
csa_err agt_hookrun_serve(agt_hookrun_allowed *a, const csa_ipc_msg *m,
                          csa_ipc_out *o);

#endif
