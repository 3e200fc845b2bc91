/* SPDX-License-Identifier: Apache-2.0 */
/* The restrictions of the network process and its hook runner
 * (agt_sandbox.c, docs/security.md "Two processes"). */
#ifndef AGT_SANDBOX_H
#define AGT_SANDBOX_H

#include <stddef.h>

#include "csa_err.h"

/* The network process: no_new_privs, then a seccomp allow list (anything
 * else fails with EPERM; no execve, no new process).  CSA_ERR_IO naming
 * the step. */
csa_err agt_sandbox_network(void);

/* The network process, once it knows its configuration: a Landlock
 * ruleset under which it reads only the system's libraries, trust store
 * and resolver files (agt_sandbox.c lists them), the files named in
 * SSL_CERT_FILE, SSL_CERT_DIR and CURL_CA_BUNDLE, and the n_extra paths
 * of extra (the configured ca_bundle; NULL entries are skipped), and
 * writes, creates and removes nothing: not the PIN file, the token's
 * files, the state directory or the configuration.  On a kernel without
 * Landlock it logs that and returns CSA_OK.  CSA_ERR_IO naming the step
 * or path. */
csa_err agt_sandbox_files(const char *const *extra, size_t n_extra);

/* The hook runner, whose filter the hooks inherit: no_new_privs, then a
 * deny list of calls no hook needs.  CSA_ERR_IO naming the step. */
csa_err agt_sandbox_hooks(void);

#endif
