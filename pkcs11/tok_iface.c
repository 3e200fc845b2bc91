/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one file that calls into the module's CK_FUNCTION_LIST.  Each wrapper
 * checks the entry exists, makes the call, and logs it with its CK_RV at
 * debug level.  Nothing secret is logged: C_Login logs only the user type.
 */
#include <stdlib.h>

#include "csa_log.h"
#include "tok_internal.h"

static CK_RV tok_logged(const char *fn, CK_RV rv)
{
    csa_debug("pkcs11", "%s -> %s", fn, tok_rv_name(rv));
    return rv;
}

#define TOK_CALL(t, fn, ...)                                                   \
    tok_logged(#fn, (t)->fl->fn == NULL ? CKR_FUNCTION_NOT_SUPPORTED           \
                                        : (t)->fl->fn(__VA_ARGS__))

CK_RV tok_ck_initialize(tok_ctx *t)
{
    CK_C_INITIALIZE_ARGS args = {0};

    /* The agent is single-threaded for PKCS#11 but its libraries are not:
     * let the module use OS locking. */
    args.flags = CKF_OS_LOCKING_OK;
    return TOK_CALL(t, C_Initialize, &args);
}

CK_RV tok_ck_finalize(tok_ctx *t)
{
    return TOK_CALL(t, C_Finalize, NULL);
}

CK_RV tok_ck_get_info(tok_ctx *t, CK_INFO *info)
{
    return TOK_CALL(t, C_GetInfo, info);
}

CK_RV tok_ck_get_slot_list(tok_ctx *t, CK_SLOT_ID *slots, CK_ULONG *n)
{
    return TOK_CALL(t, C_GetSlotList, CK_TRUE, slots, n);
}

CK_RV tok_ck_get_token_info(tok_ctx *t, CK_SLOT_ID slot, CK_TOKEN_INFO *ti)
{
    return TOK_CALL(t, C_GetTokenInfo, slot, ti);
}

CK_RV tok_ck_get_mechanism_list(tok_ctx *t, CK_MECHANISM_TYPE *m, CK_ULONG *n)
{
    return TOK_CALL(t, C_GetMechanismList, t->slot, m, n);
}

CK_RV tok_ck_open_session(tok_ctx *t)
{
    return TOK_CALL(t, C_OpenSession, t->slot,
                    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                    &t->session);
}

CK_RV tok_ck_close_session(tok_ctx *t)
{
    return TOK_CALL(t, C_CloseSession, t->session);
}

CK_RV tok_ck_get_session_info(tok_ctx *t, CK_SESSION_INFO *info)
{
    return TOK_CALL(t, C_GetSessionInfo, t->session, info);
}

CK_RV tok_ck_login(tok_ctx *t, const unsigned char *pin, size_t len)
{
    csa_debug("pkcs11", "C_Login user=CKU_USER (PIN not logged)");
    return TOK_CALL(t, C_Login, t->session, CKU_USER, (CK_UTF8CHAR *)pin,
                    (CK_ULONG)len);
}

CK_RV tok_ck_login_so(tok_ctx *t, const unsigned char *pin, size_t len)
{
    csa_debug("pkcs11", "C_Login user=CKU_SO (PIN not logged)");
    return TOK_CALL(t, C_Login, t->session, CKU_SO, (CK_UTF8CHAR *)pin,
                    (CK_ULONG)len);
}

CK_RV tok_ck_init_token(tok_ctx *t, CK_SLOT_ID slot, const unsigned char *pin,
                        size_t len, const unsigned char label[32])
{
    return TOK_CALL(t, C_InitToken, slot, (CK_UTF8CHAR *)pin, (CK_ULONG)len,
                    (CK_UTF8CHAR *)label);
}

CK_RV tok_ck_init_pin(tok_ctx *t, const unsigned char *pin, size_t len)
{
    return TOK_CALL(t, C_InitPIN, t->session, (CK_UTF8CHAR *)pin,
                    (CK_ULONG)len);
}

CK_RV tok_ck_logout(tok_ctx *t)
{
    return TOK_CALL(t, C_Logout, t->session);
}

CK_RV tok_ck_find(tok_ctx *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                  CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *found)
{
    CK_RV rv = TOK_CALL(t, C_FindObjectsInit, t->session, tmpl, n);
    CK_ULONG got;

    *found = 0;
    if (rv != CKR_OK)
        return rv;
    /* A module may answer fewer than asked while more match: the search
     * is over only when it answers none (or out is full). */
    while (*found < max) {
        got = 0;
        rv = TOK_CALL(t, C_FindObjects, t->session, out + *found, max - *found,
                      &got);
        if (rv != CKR_OK || got == 0)
            break;
        if (got > max - *found) { /* a module that says it wrote more */
            rv = CKR_GENERAL_ERROR;
            break;
        }
        *found += got;
    }
    /* Always end the search, even when FindObjects failed. */
    (void)TOK_CALL(t, C_FindObjectsFinal, t->session);
    return rv;
}

CK_RV tok_ck_find_grow(tok_ctx *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ULONG max,
                       CK_OBJECT_HANDLE **out, CK_ULONG *found)
{
    CK_OBJECT_HANDLE *v = NULL, *nv;
    CK_ULONG cap = 0, got = 0;
    CK_RV rv = TOK_CALL(t, C_FindObjectsInit, t->session, tmpl, n);

    *out = NULL;
    *found = 0;
    if (rv != CKR_OK)
        return rv;
    for (;;) {
        if (got == cap) {
            cap = cap ? 2 * cap : 256;
            if (cap > max + 1)
                cap = max + 1;
            if (got == cap || (nv = realloc(v, cap * sizeof(*v))) == NULL) {
                rv = got == cap ? CKR_BUFFER_TOO_SMALL : CKR_HOST_MEMORY;
                break;
            }
            v = nv;
        }
        n = 0;
        rv = TOK_CALL(t, C_FindObjects, t->session, v + got, cap - got, &n);
        if (rv != CKR_OK || n == 0)
            break;
        if (n > cap - got) { /* a module that says it wrote more */
            rv = CKR_GENERAL_ERROR;
            break;
        }
        got += n;
    }
    (void)TOK_CALL(t, C_FindObjectsFinal, t->session);
    if (rv != CKR_OK) {
        free(v);
        return rv;
    }
    *out = v;
    *found = got;
    return CKR_OK;
}

CK_RV tok_ck_get_attrs(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *tmpl,
                       CK_ULONG n)
{
    return TOK_CALL(t, C_GetAttributeValue, t->session, o, tmpl, n);
}

CK_RV tok_ck_set_attrs(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *tmpl,
                       CK_ULONG n)
{
    return TOK_CALL(t, C_SetAttributeValue, t->session, o, tmpl, n);
}

CK_RV tok_ck_create(tok_ctx *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                    CK_OBJECT_HANDLE *o)
{
    return TOK_CALL(t, C_CreateObject, t->session, tmpl, n, o);
}

CK_RV tok_ck_copy(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *tmpl,
                  CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    return TOK_CALL(t, C_CopyObject, t->session, o, tmpl, n, out);
}

CK_RV tok_ck_destroy(tok_ctx *t, CK_OBJECT_HANDLE o)
{
    return TOK_CALL(t, C_DestroyObject, t->session, o);
}

CK_RV tok_ck_generate_key_pair(tok_ctx *t, CK_MECHANISM *m, CK_ATTRIBUTE *pub,
                               CK_ULONG npub, CK_ATTRIBUTE *priv,
                               CK_ULONG npriv, CK_OBJECT_HANDLE *hpub,
                               CK_OBJECT_HANDLE *hpriv)
{
    return TOK_CALL(t, C_GenerateKeyPair, t->session, m, pub, npub, priv, npriv,
                    hpub, hpriv);
}

CK_RV tok_ck_sign(tok_ctx *t, CK_MECHANISM *m, CK_OBJECT_HANDLE key,
                  const unsigned char *in, size_t inlen, unsigned char *out,
                  CK_ULONG *outlen)
{
    CK_RV rv = TOK_CALL(t, C_SignInit, t->session, m, key);

    if (rv != CKR_OK)
        return rv;
    return TOK_CALL(t, C_Sign, t->session, (CK_BYTE *)in, (CK_ULONG)inlen, out,
                    outlen);
}

CK_RV tok_ck_generate_random(tok_ctx *t, unsigned char *out, size_t len)
{
    return TOK_CALL(t, C_GenerateRandom, t->session, out, (CK_ULONG)len);
}
