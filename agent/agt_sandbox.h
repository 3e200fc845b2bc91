/* SPDX-License-Identifier: Apache-2.0 */
/* The network process's restrictions (agt_sandbox.c). */
#ifndef AGT_SANDBOX_H
#define AGT_SANDBOX_H

#include "csa_err.h"

/* no_new_privs, then the seccomp filter; CSA_ERR_IO naming the step. */
csa_err agt_sandbox_network(void);

/* The same, for the process that starts the hooks (they inherit it). */
csa_err agt_sandbox_hooks(void);

#endif
