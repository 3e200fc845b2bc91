/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the policy parser (an operator-written file) and the
 * explanation of each profile it yields.
 *
 * With clang (-fsanitize=fuzzer) a libFuzzer target; otherwise main()
 * runs the deterministic mutation loop over the shipped example
 * (docs/policy.example.ini, the first argument) and a few built-in seeds
 * (ctest).  "seeds DIR EXAMPLE" writes them for a libFuzzer corpus.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csa_log.h"
#include "fuzz_mutate.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long fz_parsed;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    pol_policy *p = NULL;
    char *explained = NULL;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (pol_parse(text, "fuzz.ini", &p) == CSA_OK) {
        fz_parsed++;
        for (int i = 0; i < POL_PROFILE__MAX; i++) {
            if (pol_explain(p, (pol_profile)i, &explained) == CSA_OK)
                free(explained);
        }
    }
    pol_free(p);
    free(text);
    csa_err_clear();
    return 0;
}

#ifndef CSA_LIBFUZZER
static const char *const fz_builtin[] = {
    "[keys]\ntypes = p256, rsa3072\n[certificate]\nmax_lifetime = 90d\n",
    ("[challenges]\nallowed = totp-01, cert-01\nautomatic_only = yes\n"
     "[hooks]\nallowed = false\n"),
    "[profile.code-signing]\nenabled = true\n[renewal]\nwindow = 30d\n",
};

int main(int argc, char **argv)
{
    static unsigned char example[65536];
    const unsigned char *seeds[4];
    size_t lens[4], n = 0, i;
    unsigned long iters = 20000, it;
    unsigned char buf[131072];
    unsigned seed = 99, k;
    FILE *f;

    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_pol_parse EXAMPLE [ITERATIONS]\n"
                        "       fuzz_pol_parse seeds DIR EXAMPLE\n");
        return 2;
    }
    if ((f = fopen(argc > 3 ? argv[3] : argv[1], "rb")) != NULL) {
        lens[n] = fread(example, 1, sizeof(example) - 1, f);
        seeds[n] = example;
        n += lens[n] > 0;
        fclose(f);
    }
    for (i = 0; i < sizeof(fz_builtin) / sizeof(fz_builtin[0]); i++, n++) {
        seeds[n] = (const unsigned char *)fz_builtin[i];
        lens[n] = strlen(fz_builtin[i]);
    }
    if (argc > 3 && !strcmp(argv[1], "seeds"))
        return fz_write_seeds(argv[2], seeds, lens, n) == 0 ? 0 : 1;
    if (argc > 2)
        iters = strtoul(argv[2], NULL, 10);
    csa_log_set_level(CSA_LOG_ERROR);
    for (it = 0; it < iters; it++) {
        size_t len = lens[it % n];

        memcpy(buf, seeds[it % n], len);
        for (k = 0; k < (it < n ? 0 : 1 + it % 8); k++)
            fz_mutate(buf, &len, sizeof(buf), &seed);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%lu policies checked, %lu parsed\n", iters, fz_parsed);
    /* the unmutated seeds parse, or nothing was exercised */
    return fz_parsed >= n ? 0 : 1;
}
#endif
