/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for csca's request parsing: the flattened-JWS splitter,
 * the JWK importer and thumbprint, base64url/base32 decoding, and the CSR
 * checks of finalize (the input is also tried as a DER CSR).  Built
 * only with clang (-fsanitize=fuzzer); run: csca_fuzz_jws -max_total_time=60
 */
#include "csca.h"

#include <stdlib.h>
#include <string.h>

struct csca_ctx CS;

static void fuzz_csr(const uint8_t *data, size_t size)
{
    static json_object *order, *acct;
    const unsigned char *p = data;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)size);
    const char *profile;
    char why[300];

    if (order == NULL) {
        order = json_tokener_parse(
            "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}");
        acct = json_object_new_object();
        CS.o.always_valid = true;
    }
    if (req != NULL)
        issue_check_csr(req, order, acct, &profile, why, sizeof(why));
    X509_REQ_free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_object *prot = NULL, *jwk;
    char *pb = NULL, *yb = NULL, why[200], *s, *t;
    uint8_t *sig = NULL, *out = NULL;
    size_t siglen, n;
    EVP_PKEY *pk;

    if (jws_parse_flat((const char *)data, size, &prot, &pb, &yb, &sig, &siglen,
                       why, sizeof(why)) == 0) {
        if (json_object_object_get_ex(prot, "jwk", &jwk)) {
            pk = jwk_to_pkey(jwk, why, sizeof(why));
            t = jwk_thumbprint(jwk);
            if (pk != NULL && jstr(prot, "alg"))
                sig_verify(pk, jstr(prot, "alg"), data, size, sig, siglen, why,
                           sizeof(why));
            EVP_PKEY_free(pk);
            free(t);
        }
        json_object_put(prot);
        free(pb);
        free(yb);
        free(sig);
    }
    fuzz_csr(data, size);
    s = strndup((const char *)data, size);
    if (s != NULL) {
        if (b64url_dec(s, &out, &n) == 0)
            free(out);
        if (b32_dec(s, &out, &n) == 0)
            free(out);
        if (b64std_dec(s, &out, &n) == 0)
            free(out);
        free(s);
    }
    return 0;
}
