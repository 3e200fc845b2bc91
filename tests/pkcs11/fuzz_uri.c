/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for PKCS#11 URIs as csagent reads them: a token URI
 * (`[token] uri`, --token; p11-kit's parser, as tok_open uses it) and a key
 * named by label or URI (`cert_key`, `ppkp_key`, --key; tok_key_template).
 * Both come from files or people; a bad one must be an error naming it.
 *
 * With clang (-fsanitize=fuzzer) a libFuzzer target; otherwise main() runs
 * a deterministic mutation loop over built-in seeds (ctest).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_mutate.h"
#include "tok_internal.h"

static unsigned long fz_ok;
static volatile unsigned char fz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[3] = {{CKA_CLASS, &cls, sizeof(cls)}};
    CK_ULONG n = 1, i, j;
    P11KitUri *uri = NULL, *any;
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (tok_key_template(s, &uri, tmpl, &n) == CSA_OK) {
        fz_ok++;
        /* every byte of the template must be readable (ASan) */
        for (i = 0; i < n; i++)
            for (j = 0; j < tmpl[i].ulValueLen; j++)
                fz_sink ^= ((const unsigned char *)tmpl[i].pValue)[j];
    }
    if (uri != NULL)
        p11_kit_uri_free(uri);
    if ((any = p11_kit_uri_new()) != NULL) {
        (void)p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, any);
        (void)p11_kit_uri_get_module_path(any);
        (void)p11_kit_uri_get_module_name(any);
        p11_kit_uri_free(any);
    }
    csa_err_clear();
    free(s);
    return 0;
}

#ifndef CSA_LIBFUZZER
static const char *const fz_seeds[] = {
    "pkcs11:token=build;object=release-signing;type=private",
    "pkcs11:object=a%20b;id=%01%02%03",
    "pkcs11:id=%de%ad%be%ef?pin-source=file:/etc/pin&module-path=/usr/lib/"
    "softhsm/libsofthsm2.so",
    "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=1;"
    "token=t",
    "release-signing",
    "pkcs11:",
};

int main(int argc, char **argv)
{
    unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000, it;
    size_t nseeds = sizeof(fz_seeds) / sizeof(fz_seeds[0]);
    unsigned seed = 4242, k;
    unsigned char buf[1024];

    if (argc > 2 && !strcmp(argv[1], "seeds")) {
        const unsigned char *p[sizeof(fz_seeds) / sizeof(fz_seeds[0])];
        size_t lens[sizeof(fz_seeds) / sizeof(fz_seeds[0])], i;

        for (i = 0; i < nseeds; i++) {
            p[i] = (const unsigned char *)fz_seeds[i];
            lens[i] = strlen(fz_seeds[i]);
        }
        return fz_write_seeds(argv[2], p, lens, nseeds) == 0 ? 0 : 1;
    }
    for (it = 0; it < iters; it++) {
        size_t len = strlen(fz_seeds[it % nseeds]);

        memcpy(buf, fz_seeds[it % nseeds], len);
        for (k = 0; k < (it < nseeds ? 0 : 1 + it % 6); k++)
            fz_mutate(buf, &len, sizeof(buf), &seed);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%lu names checked, %lu gave a template\n", iters, fz_ok);
    /* the seeds give templates ("pkcs11:" alone names no object) */
    return fz_ok >= nseeds - 1 ? 0 : 1;
}
#endif
