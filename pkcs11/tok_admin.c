/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token initialisation (C_InitToken, C_InitPIN), so that throwaway SoftHSM
 * tokens and first set-up never put a PIN on a command line, as
 * softhsm2-util --pin would.
 */
#include <stdlib.h>
#include <string.h>

#include "csa_log.h"
#include "tok_internal.h"

static csa_err tok_admin_free_slot(tok_ctx *t, CK_SLOT_ID *slot)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64, i;
    CK_TOKEN_INFO ti;
    CK_RV rv = tok_ck_get_slot_list(t, slots, &n);

    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot list the module's slots");
    if (n > sizeof(slots) / sizeof(slots[0]))
        return csa_raise(CSA_ERR_TOKEN,
                         "the module reported %lu slots into room for %zu",
                         (unsigned long)n, sizeof(slots) / sizeof(slots[0]));
    for (i = 0; i < n; i++) {
        if (tok_ck_get_token_info(t, slots[i], &ti) == CKR_OK &&
            !(ti.flags & CKF_TOKEN_INITIALIZED)) {
            *slot = slots[i];
            return CSA_OK;
        }
    }
    return csa_raise(CSA_ERR_NOT_FOUND,
                     "the module has no slot with an uninitialised token");
}

static csa_err tok_admin_init(tok_ctx *t, const char *label,
                              const csa_secret *so)
{
    unsigned char padded[32];
    CK_SLOT_ID slot;
    size_t len = strlen(label);
    csa_err err = tok_admin_free_slot(t, &slot);
    CK_RV rv;

    if (err != CSA_OK)
        return err;
    if (len > sizeof(padded))
        return csa_raise(CSA_ERR_INVALID, "token label longer than 32 bytes");
    memset(padded, ' ', sizeof(padded));
    memcpy(padded, label, len);
    rv = tok_ck_init_token(t, slot, so->data, so->len, padded);
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot initialise the token");
    return CSA_OK;
}

static csa_err tok_admin_set_pin(tok_ctx *t, const csa_secret *so,
                                 const csa_secret *user)
{
    CK_RV rv = tok_ck_login_so(t, so->data, so->len);

    if (rv != CKR_OK)
        return tok_rv_raise(rv, "SO login to the new token failed");
    rv = tok_ck_init_pin(t, user->data, user->len);
    (void)tok_ck_logout(t);
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot set the user PIN");
    return CSA_OK;
}

csa_err tok_init_token(const char *module, const char *label,
                       const char *so_pin_source, const char *user_pin_source)
{
    csa_secret so = {0}, user = {0};
    tok_ctx *t = NULL;
    char *uri = NULL;
    csa_err err;

    if ((err = csa_secret_read(so_pin_source, &so)) != CSA_OK ||
        (err = csa_secret_read(user_pin_source, &user)) != CSA_OK)
        goto done;
    if ((err = tok_open_module_only(module, &t)) != CSA_OK ||
        (err = tok_admin_init(t, label, &so)) != CSA_OK)
        goto done;
    /* Slot ids change after C_InitToken: start again, find it by label. */
    tok_close(t);
    t = NULL;
    if (asprintf(&uri, "pkcs11:token=%s", label) < 0) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((err = tok_open(module, uri, &t)) != CSA_OK ||
        (err = tok_admin_set_pin(t, &so, &user)) != CSA_OK)
        goto done;
    csa_info("pkcs11", "initialised token '%s'", label);
done:
    tok_close(t);
    free(uri);
    csa_secret_free(&so);
    csa_secret_free(&user);
    return err;
}
