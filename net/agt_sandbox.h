/* SPDX-License-Identifier: Apache-2.0 */
/* The restrictions of the network process and its hook runner
 * (agt_sandbox.c, docs/security.md "Two processes"). */
#ifndef AGT_SANDBOX_H
#define AGT_SANDBOX_H

#include "csa_err.h"

/* The network process: no_new_privs, then a seccomp allow list (anything
 * else fails with EPERM; no execve, no new process).  CSA_ERR_IO naming
 * the step. */
csa_err agt_sandbox_network(void);

/* The hook runner, whose filter the hooks inherit: no_new_privs, then a
 * deny list of calls no hook needs.  CSA_ERR_IO naming the step. */
csa_err agt_sandbox_hooks(void);

#endif
