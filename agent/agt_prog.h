/* SPDX-License-Identifier: Apache-2.0 */
/* Running operator programs (OTP sources, notification) with data passed
 * in the environment, never on argv. */
#ifndef AGT_PROG_H
#define AGT_PROG_H

#include <stddef.h>

#include "csa_err.h"

/* Runs path (an absolute path; argv = just the path) through
 * csa_spawn_run: env ("NAME=value" strings, NULL-terminated) plus the
 * allowlisted variables of our environment and those named in keep
 * ([agent] hook_env).  stdin is /dev/null.  When out is non-NULL the first
 * line of stdout (at most outsize-1 bytes) is returned there.  *status
 * receives the exit status.  A program killed by a signal or running past
 * timeout_s (its process group is killed) is an error. */
csa_err agt_prog_run(const char *path, const char *const *keep,
                     char *const *env, long timeout_s, char *out,
                     size_t outsize, int *status);

#endif
