/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The account-key signer as the ACME protocol layer sees it: an algorithm
 * name, the public JWK, and one request: either "sign this JWS signing
 * input" or, where the key lives in another process, "build and sign the
 * JWS of this ACME request from its typed fields".  acme/ never sees a
 * PKCS#11 session, a key handle or a PIN.  The token side (pkcs11/ via
 * agent/) builds one of these per key; a test may build one over an
 * OpenSSL EVP_PKEY.
 *
 * This is deliberately narrow: the token side runs in its own process
 * (the key holder) and answers only ACME-shaped requests (DESIGN.md).
 */
#ifndef CSA_SIGNER_H
#define CSA_SIGNER_H

#include <stddef.h>

#include "csa_err.h"

typedef struct csa_signer {
    /* JWS "alg" header value: "ES256", "ES384", "ES512", "RS256", "PS256"
     * or "EdDSA".  Borrowed; lives as long as the signer. */
    const char *alg;
    /* Public JWK as a JSON object text holding only the required members
     * in RFC 7638 lexicographic order, no whitespace, so its SHA-256 is the
     * JWK thumbprint.  Borrowed; lives as long as the signer. */
    const char *jwk;
    /* Signs the JWS signing input (ASCII "b64(protected).b64(payload)").
     * Returns the JWS signature bytes (ECDSA: raw r||s, each padded to the
     * curve width).  *sig is malloc'd; the caller frees. */
    csa_err (*sign_jws)(void *ctx, const unsigned char *in, size_t len,
                        unsigned char **sig, size_t *siglen);
    /* Optional; when set, acme_jws_build hands the whole request to it
     * and sign_jws may be NULL.  Builds the protected header (alg, then
     * jwk when kid is NULL, else kid; nonce unless NULL; url) itself,
     * signs and returns the flattened JSON serialization (RFC 7515
     * §7.2.2) in *out, malloc'd; the caller frees.  payload NULL: empty
     * (POST-as-GET).  The network process's proxy for the key holder
     * (net/agt_netproc.c) is one: the holder, not the network side,
     * decides what the header says. */
    csa_err (*build_jws)(void *ctx, const char *url, const char *nonce,
                         const char *kid, const char *payload, char **out);
    void *ctx;
} csa_signer;

#endif
