/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linked from every object of csa_net and csa_agent_conf and their
 * token-free dependencies, never from csa_pkcs11 (tests/net/CMakeLists.txt):
 * that it links at all shows the network process cannot reach a tok_* or
 * C_* function.  "net_link_check __net" is the network process itself
 * (what "csagent __net" runs, agt_main.c), so its entry point and all it
 * calls are linked even where the whole-archive option were dropped.  Run
 * without arguments it starts nothing and exits 0.
 */
#include <stdio.h>
#include <string.h>

#include "agt_net.h"

int main(int argc, char **argv)
{
    agt_globals g = {0};

    if (argc > 1 && !strcmp(argv[1], "__net"))
        return agt_cmd_net(&g, argc - 1, argv + 1);
    if (argc > 1) {
        fprintf(stderr, "usage: net_link_check [__net ...]\n");
        return 2;
    }
    printf("the network process links without PKCS#11\n");
    return 0;
}
