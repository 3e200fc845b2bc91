/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for certificate chains: the PEM chain a CA sends (parsed by
 * the network process, agt_chain_parse) and the DER the network process
 * hands the key holder (agt_chain_from_der).  Neither may crash, leak or
 * accept more than AGT_CHAIN_MAX certificates.
 *
 * With clang (-fsanitize=fuzzer) a libFuzzer target; otherwise main()
 * makes seed chains with OpenSSL (no blob in the tree) and runs a
 * deterministic mutation loop over them (ctest).  "seeds DIR" writes them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "agt_chain.h"
#include "csa_log.h"
#include "fuzz_mutate.h"

static unsigned long fz_ok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    STACK_OF(X509) *chain = NULL;
    char *pem = malloc(size + 1);

    if (pem == NULL)
        return 0;
    memcpy(pem, data, size);
    pem[size] = '\0';
    if (agt_chain_parse(pem, &chain) == CSA_OK) {
        fz_ok++;
        if (sk_X509_num(chain) > AGT_CHAIN_MAX)
            abort();
    }
    sk_X509_pop_free(chain, X509_free);
    chain = NULL;
    if (agt_chain_from_der(data, size, &chain) == CSA_OK) {
        fz_ok++;
        if (sk_X509_num(chain) > AGT_CHAIN_MAX)
            abort();
    }
    sk_X509_pop_free(chain, X509_free);
    csa_err_clear();
    free(pem);
    return 0;
}

#ifndef CSA_LIBFUZZER
/* A self-signed P-256 certificate named cn. */
static X509 *fz_cert(const char *cn)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();

    if (k == NULL || x == NULL || n == NULL)
        abort();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                               -1, -1, 0);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    if (X509_sign(x, k, EVP_sha256()) <= 0)
        abort();
    X509_NAME_free(n);
    EVP_PKEY_free(k);
    return x;
}

/* seeds: [0] a PEM chain of two, [1] the DER of both, [2] one PEM. */
static size_t fz_seed(int i, X509 *a, X509 *b, unsigned char *out, size_t max)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long len;

    if (i == 1) {
        unsigned char *q = out;
        int la = i2d_X509(a, NULL), lb = i2d_X509(b, NULL);

        if (la <= 0 || lb <= 0 || (size_t)(la + lb) > max)
            abort();
        i2d_X509(a, &q);
        i2d_X509(b, &q);
        BIO_free(bio);
        return (size_t)(la + lb);
    }
    PEM_write_bio_X509(bio, a);
    if (i == 0)
        PEM_write_bio_X509(bio, b);
    len = BIO_get_mem_data(bio, &p);
    if (len <= 0 || (size_t)len > max)
        abort();
    memcpy(out, p, (size_t)len);
    BIO_free(bio);
    return (size_t)len;
}

int main(int argc, char **argv)
{
    unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 5000, it;
    unsigned char seeds[3][4096], buf[16384];
    size_t lens[3];
    unsigned seed = 777, k;
    X509 *a = fz_cert("leaf"), *b = fz_cert("issuer");
    int i;

    for (i = 0; i < 3; i++)
        lens[i] = fz_seed(i, a, b, seeds[i], sizeof(seeds[i]));
    X509_free(a);
    X509_free(b);
    if (argc > 2 && !strcmp(argv[1], "seeds")) {
        const unsigned char *p[3] = {seeds[0], seeds[1], seeds[2]};

        return fz_write_seeds(argv[2], p, lens, 3) == 0 ? 0 : 1;
    }
    csa_log_set_level(CSA_LOG_ERROR);
    for (it = 0; it < iters; it++) {
        size_t len = lens[it % 3];

        memcpy(buf, seeds[it % 3], len);
        for (k = 0; k < (it < 3 ? 0 : 1 + it % 5); k++)
            fz_mutate(buf, &len, sizeof(buf), &seed);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%lu chains checked, %lu parsed\n", iters, fz_ok);
    /* the unmutated seeds parse (PEM twice, DER once at least) */
    return fz_ok >= 3 ? 0 : 1;
}
#endif
