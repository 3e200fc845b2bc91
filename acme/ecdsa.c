/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DER ECDSA-Sig-Value to JOSE r||s.  Each integer is left-padded to the
 * curve width: dropping a leading zero byte is the classic bug (about 1 in
 * 128 P-384 signatures; josepy #91), and DER's sign byte must go.
 */
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/ec.h>

#include "acme_int.h"

csa_err acme_ecdsa_der_to_jose(const unsigned char *der, size_t len,
                               size_t width, unsigned char **out,
                               size_t *outlen)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = NULL;
    const BIGNUM *r = NULL, *s = NULL;
    unsigned char *buf = NULL;
    csa_err err = CSA_OK;

    *out = NULL;
    *outlen = 0;
    if (width == 0 || width > 66 || len > 256)
        return csa_raise(CSA_ERR_INVALID, "bad ECDSA signature size");
    sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (sig == NULL || p != der + len) {
        err = csa_raise(CSA_ERR_INVALID, "the ECDSA signature is not DER");
        goto done;
    }
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_is_negative(r) || BN_is_negative(s) ||
        (size_t)BN_num_bytes(r) > width || (size_t)BN_num_bytes(s) > width) {
        err = csa_raise(CSA_ERR_INVALID,
                        "the ECDSA signature does not fit %zu-byte integers",
                        width);
        goto done;
    }
    buf = malloc(2 * width);
    if (buf == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    BN_bn2binpad(r, buf, (int)width);
    BN_bn2binpad(s, buf + width, (int)width);
    *out = buf;
    *outlen = 2 * width;
done:
    ECDSA_SIG_free(sig);
    return err;
}
