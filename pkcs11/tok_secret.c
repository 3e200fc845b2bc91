/* SPDX-License-Identifier: Apache-2.0 */
/* HMAC secrets (OTP seeds) held in the token, used only for CKA_SIGN. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

static csa_err tok_secret_find(tok_ctx *t, const char *label,
                               CK_OBJECT_HANDLE *h)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_LABEL, (void *)label, strlen(label)}};
    csa_err err = tok_find_one(t, tmpl, 2, h, "HMAC secret");

    if (err != CSA_OK)
        csa_err_context("secret '%s'", label);
    return err;
}

static csa_err tok_secret_create(tok_ctx *t, const char *label,
                                 const csa_secret *secret, CK_OBJECT_HANDLE *h)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    unsigned char id[16];
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_VERIFY, &no, sizeof(no)},
        {CKA_ENCRYPT, &no, sizeof(no)},
        {CKA_DECRYPT, &no, sizeof(no)},
        {CKA_WRAP, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_DERIVE, &no, sizeof(no)},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_ID, id, sizeof(id)},
        {CKA_VALUE, secret->data, secret->len},
    };
    static const CK_ATTRIBUTE_TYPE types[] = {CKA_SENSITIVE, CKA_EXTRACTABLE};
    int v[2];
    CK_RV rv = tok_ck_generate_random(t, id, sizeof(id));

    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot get random bytes from the token");
    rv = tok_ck_create(t, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), h);
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot store the secret in the token");
    tok_get_bools(t, *h, types, 2, v);
    if (v[0] != 1 || v[1] != 0) {
        (void)tok_ck_destroy(t, *h);
        return csa_raise(CSA_ERR_TOKEN,
                         "token '%s' did not keep the secret sensitive and "
                         "unextractable; it was destroyed",
                         t->token_label);
    }
    return CSA_OK;
}

/*
 * Tokens (SoftHSM among them) refuse CKM_SHA256_HMAC / CKM_SHA512_HMAC with
 * a key shorter than the digest, yet authenticator seeds are often 20 bytes
 * whatever the algorithm.  HMAC zero-pads a short key to the hash's block
 * size anyway (RFC 2104 §2), so storing the seed zero-padded to 64 bytes
 * (the SHA-1/SHA-256 block; SHA-512's is 128) gives the very same MACs.
 */
static csa_err tok_secret_pad(const csa_secret *in, csa_secret *out)
{
    unsigned char buf[64] = {0};
    csa_err err;

    if (in->len >= sizeof(buf))
        return csa_secret_set(out, in->data, in->len);
    memcpy(buf, in->data, in->len);
    err = csa_secret_set(out, buf, sizeof(buf));
    csa_cleanse(buf, sizeof(buf));
    return err;
}

csa_err tok_secret_import(tok_ctx *t, const char *label,
                          const csa_secret *secret, bool replace)
{
    csa_secret padded = {0};
    tok_obj_info *old = NULL;
    CK_OBJECT_HANDLE h;
    size_t n = 0, i;
    csa_err err = tok_check_usable(t);

    if (err != CSA_OK)
        return err;
    if (secret == NULL || secret->len == 0)
        return csa_raise(CSA_ERR_INVALID, "empty secret");
    err = tok_objects(t, label, NULL, 0, TOK_CLASS_SECRET_KEY, &old, &n);
    if (err != CSA_OK)
        return err;
    if (n > 0 && !replace) {
        free(old);
        return csa_raise(CSA_ERR_EXISTS,
                         "a secret labelled '%s' already exists on token '%s'",
                         label, t->token_label);
    }
    /* Store the new secret first: an interruption leaves two, never none. */
    if ((err = tok_secret_pad(secret, &padded)) == CSA_OK)
        err = tok_secret_create(t, label, &padded, &h);
    csa_secret_free(&padded);
    for (i = 0; err == CSA_OK && i < n; i++)
        err = tok_obj_destroy(t, old[i].handle);
    free(old);
    return err;
}

csa_err tok_hmac(tok_ctx *t, const char *label, tok_hmac_alg alg,
                 const unsigned char *data, size_t len, unsigned char *out,
                 size_t *outlen)
{
    static const CK_MECHANISM_TYPE mechs[TOK_HMAC__MAX] = {
        [TOK_HMAC_SHA1] = CKM_SHA_1_HMAC,
        [TOK_HMAC_SHA256] = CKM_SHA256_HMAC,
        [TOK_HMAC_SHA512] = CKM_SHA512_HMAC,
    };
    static const CK_ULONG maclen[TOK_HMAC__MAX] = {
        [TOK_HMAC_SHA1] = 20,
        [TOK_HMAC_SHA256] = 32,
        [TOK_HMAC_SHA512] = 64,
    };
    CK_MECHANISM m = {0, NULL, 0};
    CK_OBJECT_HANDLE h;
    CK_ULONG olen = 64;
    csa_err err = tok_check_usable(t);
    CK_RV rv;

    if (err != CSA_OK)
        return err;
    if ((unsigned)alg >= TOK_HMAC__MAX)
        return csa_raise(CSA_ERR_INVALID, "unknown HMAC algorithm");
    m.mechanism = mechs[alg];
    if ((err = tok_secret_find(t, label, &h)) != CSA_OK)
        return err;
    rv = tok_ck_sign(t, &m, h, data, len, out, &olen);
    if (tok_rv_session_lost(rv) && tok_session_reopen(t) == CSA_OK &&
        tok_secret_find(t, label, &h) == CSA_OK) {
        olen = 64;
        rv = tok_ck_sign(t, &m, h, data, len, out, &olen);
    }
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "the token could not compute the HMAC");
    /* out holds 64 bytes: a module reporting more must not make the
     * caller read past it, nor a short MAC pass for a whole one. */
    if (olen != maclen[alg])
        return csa_raise(CSA_ERR_TOKEN,
                         "the token returned an HMAC of %lu bytes, expected "
                         "%lu",
                         (unsigned long)olen, (unsigned long)maclen[alg]);
    *outlen = olen;
    return CSA_OK;
}
