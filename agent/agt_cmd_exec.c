/* SPDX-License-Identifier: Apache-2.0 */
/* csagent exec: being written (issue 10). */
#include <stdio.h>

#include "agt.h"

int agt_cmd_exec(agt_globals *g, int argc, char **argv)
{
    (void)g;
    (void)argc;
    (void)argv;
    fprintf(stderr, "csagent exec: not built yet\n");
    return AGT_EXIT_USAGE;
}
