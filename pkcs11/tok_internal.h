/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to pkcs11/: the only header that includes PKCS#11. */
#ifndef TOK_INTERNAL_H
#define TOK_INTERNAL_H

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
#include <sys/types.h>

#include "tok.h"

struct tok_ctx {
    CK_FUNCTION_LIST *fl;
    int p11kit_managed;     /* loaded through p11-kit: release with it */
    CK_FUNCTION_LIST **all; /* p11-kit registered modules, if used */
    P11KitUri *uri;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE session;
    int have_session;
    int logged_in;
    int login_failed;    /* a C_Login failed: never try again */
    char *pin_source;    /* to restore a login lost with the device */
    unsigned generation; /* bumped when the session is reopened */
    pid_t pid;           /* the process that initialised the module */
    char token_label[33];
};

struct tok_key {
    tok_ctx *ctx;
    CK_OBJECT_HANDLE priv, pub;
    unsigned generation;
    tok_key_type type;
    unsigned char id[64];
    size_t id_len;
    char label[129];
};

/* tok_iface.c: the only calls into the CK_FUNCTION_LIST.  Each logs the
 * call and its CK_RV at debug level. */
CK_RV tok_ck_initialize(tok_ctx *t);
CK_RV tok_ck_finalize(tok_ctx *t);
CK_RV tok_ck_get_slot_list(tok_ctx *t, CK_SLOT_ID *slots, CK_ULONG *n);
CK_RV tok_ck_get_token_info(tok_ctx *t, CK_SLOT_ID slot, CK_TOKEN_INFO *ti);
CK_RV tok_ck_get_mechanism_list(tok_ctx *t, CK_MECHANISM_TYPE *m, CK_ULONG *n);
CK_RV tok_ck_open_session(tok_ctx *t);
CK_RV tok_ck_close_session(tok_ctx *t);
CK_RV tok_ck_get_session_info(tok_ctx *t, CK_SESSION_INFO *info);
CK_RV tok_ck_login(tok_ctx *t, const unsigned char *pin, size_t len);
CK_RV tok_ck_logout(tok_ctx *t);
CK_RV tok_ck_login_so(tok_ctx *t, const unsigned char *pin, size_t len);
CK_RV tok_ck_init_token(tok_ctx *t, CK_SLOT_ID slot, const unsigned char *pin,
                        size_t len, const unsigned char label[32]);
CK_RV tok_ck_init_pin(tok_ctx *t, const unsigned char *pin, size_t len);
CK_RV tok_ck_find(tok_ctx *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                  CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *found);
CK_RV tok_ck_get_attrs(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *tmpl,
                       CK_ULONG n);
CK_RV tok_ck_set_attrs(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *tmpl,
                       CK_ULONG n);
CK_RV tok_ck_create(tok_ctx *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                    CK_OBJECT_HANDLE *o);
CK_RV tok_ck_destroy(tok_ctx *t, CK_OBJECT_HANDLE o);
CK_RV tok_ck_copy(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *tmpl,
                  CK_ULONG n, CK_OBJECT_HANDLE *out);
CK_RV tok_ck_generate_key_pair(tok_ctx *t, CK_MECHANISM *m, CK_ATTRIBUTE *pub,
                               CK_ULONG npub, CK_ATTRIBUTE *priv,
                               CK_ULONG npriv, CK_OBJECT_HANDLE *hpub,
                               CK_OBJECT_HANDLE *hpriv);
CK_RV tok_ck_sign(tok_ctx *t, CK_MECHANISM *m, CK_OBJECT_HANDLE key,
                  const unsigned char *in, size_t inlen, unsigned char *out,
                  CK_ULONG *outlen);
CK_RV tok_ck_generate_random(tok_ctx *t, unsigned char *out, size_t len);

/* tok_rv.c: CK_RV to names, operator sentences and csa_err. */
const char *tok_rv_name(CK_RV rv);
csa_err tok_rv_raise(CK_RV rv, const char *what);
int tok_rv_session_lost(CK_RV rv);

/* tok_token.c */
/* Loads and initialises the module without choosing a token. */
csa_err tok_open_module_only(const char *module, tok_ctx **out);
/* Reopens the session after it was lost; restores the login from the PIN
 * source.  Called at most once per operation. */
csa_err tok_session_reopen(tok_ctx *t);
csa_err tok_check_usable(tok_ctx *t);

/* tok_object.c: attribute helpers. */
csa_err tok_find_one(tok_ctx *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                     CK_OBJECT_HANDLE *out, const char *what);
csa_err tok_get_attr_alloc(tok_ctx *t, CK_OBJECT_HANDLE o,
                           CK_ATTRIBUTE_TYPE type, unsigned char **val,
                           size_t *len);
int tok_get_bool(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type);
csa_err tok_key_refresh(tok_key *key);

#endif
