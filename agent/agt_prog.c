/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_prog.h"

#include <stdio.h>

#include "csa_spawn.h"

csa_err agt_prog_run(const char *path, const char *const *keep,
                     char *const *env, long timeout_s, char *out,
                     size_t outsize, int *status)
{
    csa_spawn_req req = {path, env, keep, timeout_s, out, outsize};
    char why[512];

    switch (csa_spawn_run(&req, status, why, sizeof(why))) {
    case CSA_SPAWN_OK:
        return CSA_OK;
    case CSA_SPAWN_START:
        return csa_raise(CSA_ERR_CONFIG, "%s", why);
    case CSA_SPAWN_TIMEOUT:
        return csa_raise(CSA_ERR_TIMEOUT, "%s", why);
    default:
        return csa_raise(CSA_ERR_IO, "%s", why);
    }
}
