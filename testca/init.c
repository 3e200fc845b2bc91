/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `csca serve` does before it listens: the state directory, the
 * registry, the persisted ACME objects, the CA, TLS and TSA material and
 * the management token.  Shared by main.c and the in-process fuzz harness
 * (tests/csca/fuzz_handlers.c), so the harness drives exactly the state a
 * served csca has, without a port.
 */
#include "csca.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

/* 0 when CS is ready for csca_dispatch(); -1 with a message on stderr.
 * Reads CS.o (state_dir must be set); everything it creates is under
 * CS.o.state_dir unless --registry or --mgmt-token-file say otherwise. */
int csca_init(void)
{
    if (mkdir(CS.o.state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "csca: cannot create %s\n", CS.o.state_dir);
        return -1;
    }
    if (registry_load() != 0 || state_load() != 0 || pki_init() != 0 ||
        tsa_init() != 0 || mgmt_init() != 0)
        return -1;
    if (CS.o.default_org != NULL && reg_org(CS.o.default_org) == NULL) {
        fprintf(stderr, "csca: --default-org %s is not in the registry\n",
                CS.o.default_org);
        return -1;
    }
    return 0;
}
