/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the policy parser (an operator-written file).  Built
 * only with clang and CSA_FUZZ (see CMakeLists.txt), seeded with the example:
 *   cmake -DCSA_FUZZ=ON with CC=clang; mkdir corpus; cp docs/policy.example.ini
 *   corpus/; fuzz_pol_parse -max_len=4096 corpus/
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
        for (int i = 0; i < POL_PROFILE__MAX; i++) {
            if (pol_explain(p, (pol_profile)i, &explained) == CSA_OK)
                free(explained);
        }
    }
    pol_free(p);
    free(text);
    return 0;
}
