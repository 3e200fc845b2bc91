/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for everything acme/ parses from the network: problem
 * documents, authorizations, orders, Link and Retry-After values, RFC 3339
 * times and certificates for the ARI CertID.
 *
 * With clang (-fsanitize=fuzzer) this is a libFuzzer target.  Otherwise
 * main() below runs a deterministic mutation loop over built-in seeds, which
 * ctest runs (under ASan/UBSan in the sanitizer build).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_int.h"
#include "csa_log.h"
#include "fuzz_mutate.h"

static void parse_json(const char *s, size_t len)
{
    json_object *obj = NULL;
    acme_order o = {0};
    acme_authz a = {0};
    acme_problem p;
    char *sum;

    if (acme_problem_parse(s, len, &p) == CSA_OK)
        acme_problem_clear(&p);
    if (acme_json_parse(s, len, &obj) != CSA_OK)
        return;
    acme_order_from_json(obj, "https://ca/o", &o);
    acme_authz_from_json(obj, "https://ca/a", &a);
    sum = acme_problem_summary(obj);
    free(sum);
    /* the *_from_json functions leave partial results for the free */
    acme_order_free(memcpy(calloc(1, sizeof(o)), &o, sizeof(o)));
    acme_authz_free(memcpy(calloc(1, sizeof(a)), &a, sizeof(a)));
    json_object_put(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *links[1], *out[4];
    char *id = NULL;
    size_t n, i;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    parse_json(s, strlen(s));
    links[0] = s;
    n = acme_link_find(links, 1, "alternate", "https://ca/c/1", out, 4);
    for (i = 0; i < n; i++)
        free(out[i]);
    acme_retry_after_parse(s, 0);
    acme_time_parse(s);
    if (acme_cert_id(data, size, &id) == CSA_OK)
        free(id);
    free(s);
    csa_err_clear();
    return 0;
}

#ifndef CSA_LIBFUZZER
static const char *const seeds[] = {
    "{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":\"x\","
    "\"subproblems\":[{\"type\":\"t\",\"detail\":\"d\",\"identifier\":"
    "{\"type\":\"dns\",\"value\":\"a.org\"}}]}",
    "{\"status\":\"pending\",\"expires\":\"2030-01-01T00:00:00Z\","
    "\"identifier\":{\"type\":\"dns\",\"value\":\"example.org\"},"
    "\"wildcard\":true,\"challenges\":[{\"type\":\"http-01\",\"url\":"
    "\"https://ca/c\",\"token\":\"t\",\"status\":\"pending\",\"error\":"
    "{\"type\":\"x\"}}]}",
    "{\"status\":\"valid\",\"identifiers\":[{\"type\":\"dns\",\"value\":"
    "\"a\"}],\"authorizations\":[\"https://ca/a\"],\"finalize\":"
    "\"https://ca/f\",\"certificate\":\"https://ca/c\",\"error\":{}}",
    "<https://ca/c/1/alt>;rel=\"alternate\", </x>; rel=\"up index\"",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "2025-01-02T03:04:05.999+01:00",
};

int main(int argc, char **argv)
{
    unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    unsigned seed = 12345, k;
    unsigned char buf[1024];
    unsigned long it;

    csa_log_set_level(CSA_LOG_ERROR);
    for (it = 0; it < iters; it++) {
        const char *base = seeds[it % (sizeof(seeds) / sizeof(seeds[0]))];
        size_t len = strlen(base);

        memcpy(buf, base, len);
        for (k = 0; k < 1 + it % 8; k++)
            fz_mutate(buf, &len, sizeof(buf), &seed);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%lu mutated inputs parsed\n", iters);
    return 0;
}
#endif
