/* SPDX-License-Identifier: Apache-2.0 */
/* Finding a key pair by label, URI or CKA_ID, and learning its type. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

static csa_err tok_rsa_type(tok_ctx *t, CK_OBJECT_HANDLE o, tok_key_type *type)
{
    unsigned char *mod = NULL;
    size_t mlen = 0;
    csa_err err = tok_get_attr_alloc(t, o, CKA_MODULUS, &mod, &mlen);

    free(mod);
    if (err != CSA_OK)
        return err;
    return tok_rsa_type_of(mlen * 8, type);
}

/* The curve from CKA_EC_PARAMS, compared whole (a last OID byte alone
 * would take other curves for ours); it must fit the key type. */
static csa_err tok_ec_type(tok_ctx *t, CK_OBJECT_HANDLE o, CK_KEY_TYPE kt,
                           tok_key_type *type)
{
    unsigned char *params = NULL;
    size_t plen = 0;
    csa_err err = tok_get_attr_alloc(t, o, CKA_EC_PARAMS, &params, &plen);

    if (err == CSA_OK)
        err = tok_ec_curve_of(params, plen, type);
    free(params);
    if (err != CSA_OK)
        return err;
    if (tok_keytype_of(*type)->ckk != kt)
        return csa_raise(CSA_ERR_TOKEN,
                         "the token's key type (0x%lx) and CKA_EC_PARAMS "
                         "(%s) disagree",
                         (unsigned long)kt, tok_key_type_name(*type));
    return CSA_OK;
}

/* The row of a key of CKA_KEY_TYPE kt: an RSA key's is told by its
 * modulus, a curve key's by its CKA_EC_PARAMS. */
static csa_err tok_key_type_of_ckk(tok_ctx *t, CK_OBJECT_HANDLE o,
                                   CK_KEY_TYPE kt, tok_key_type *type)
{
    if (!tok_keytype_knows_ckk(kt))
        return csa_raise(CSA_ERR_UNSUPPORTED, "key type 0x%lx is not supported",
                         (unsigned long)kt);
    if (kt == CKK_RSA)
        return tok_rsa_type(t, o, type);
    return tok_ec_type(t, o, kt, type);
}

/* Resolves the public half: a public key object with the same CKA_ID,
 * the one with the same label first (while a pair is being moved to
 * another label by copy, the copy and the original share the id). */
csa_err tok_key_find_pub(tok_key *k)
{
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_ID, k->id, k->id_len},
                           {CKA_LABEL, k->label, strlen(k->label)}};

    k->pub = CK_INVALID_HANDLE;
    k->pub_known = 1;
    if (tok_find_one(k->ctx, tmpl, 3, &k->pub, "public key") == CSA_OK)
        return CSA_OK;
    csa_err_clear();
    if (tok_find_one(k->ctx, tmpl, 2, &k->pub, "public key") != CSA_OK) {
        /* Not fatal: some tokens keep no public object; the public key can
         * still come from the certificate. */
        k->pub = CK_INVALID_HANDLE;
    }
    return CSA_OK;
}

/* Reads CKA_LABEL or CKA_ID into the key's buffer.  A value that does not
 * fit is refused rather than cut: the key is matched by these afterwards,
 * and a cut id would match another key or none. */
static csa_err tok_key_read_name(tok_key *k, CK_ATTRIBUTE_TYPE type, void *buf,
                                 size_t cap, size_t *len)
{
    switch (tok_get_attr_capped(k->ctx, k->priv, type, buf, cap, len)) {
    case TOK_ATTR_FITS:
        return CSA_OK;
    case TOK_ATTR_TOO_LONG:
        return csa_raise(CSA_ERR_UNSUPPORTED,
                         "a private key on token '%s' has a %s of %zu bytes, "
                         "more than the %zu csagent handles; refusing to use "
                         "it",
                         k->ctx->token_label, tok_attr_name(type), *len, cap);
    default:
        return csa_raise(CSA_ERR_TOKEN,
                         "cannot read the %s of a private key on token '%s'",
                         tok_attr_name(type), k->ctx->token_label);
    }
}

/* CKA_LABEL, CKA_ID and CKA_KEY_TYPE in one call.  False when any of them
 * needs the careful read, one attribute at a time, that says why. */
static bool tok_key_read_all(tok_key *k, CK_KEY_TYPE *kt)
{
    CK_ATTRIBUTE a[] = {{CKA_LABEL, k->label, sizeof(k->label) - 1},
                        {CKA_ID, k->id, sizeof(k->id)},
                        {CKA_KEY_TYPE, kt, sizeof(*kt)}};

    if (!tok_get_attrs_fit(k->ctx, k->priv, a, 3) ||
        a[2].ulValueLen != sizeof(*kt))
        return false;
    k->label[a[0].ulValueLen] = '\0';
    k->id_len = a[1].ulValueLen;
    return true;
}

static csa_err tok_key_read_each(tok_key *k, CK_KEY_TYPE *kt)
{
    size_t label_len = 0;
    csa_err err;

    if ((err = tok_key_read_name(k, CKA_LABEL, k->label, sizeof(k->label) - 1,
                                 &label_len)) != CSA_OK ||
        (err = tok_key_read_name(k, CKA_ID, k->id, sizeof(k->id),
                                 &k->id_len)) != CSA_OK)
        return err;
    k->label[label_len] = '\0';
    return tok_get_ulong(k->ctx, k->priv, CKA_KEY_TYPE, kt);
}

/* The public half is looked up when it is first needed (tok_key_public):
 * finding the key is then two C_GetAttributeValue calls. */
static csa_err tok_key_from_handle(tok_ctx *t, CK_OBJECT_HANDLE priv,
                                   tok_key **out)
{
    tok_key *k = calloc(1, sizeof(*k));
    CK_KEY_TYPE kt = 0;
    csa_err err = CSA_OK;

    if (k == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    k->ctx = t;
    k->priv = priv;
    k->pub = CK_INVALID_HANDLE;
    k->generation = t->generation;
    if (!tok_key_read_all(k, &kt)) {
        memset(k->label, 0, sizeof(k->label));
        k->id_len = 0;
        err = tok_key_read_each(k, &kt);
    }
    if (err == CSA_OK)
        err = tok_key_type_of_ckk(t, priv, kt, &k->type);
    if (err != CSA_OK) {
        free(k);
        return err;
    }
    *out = k;
    return CSA_OK;
}

static csa_err tok_uri_check_token(tok_ctx *t, P11KitUri *uri)
{
    /* Label, manufacturer, model and serial: fixed while the token is in
     * the slot, so the copy read when it was chosen answers. */
    if (!p11_kit_uri_match_token_info(uri, &t->info))
        return csa_raise(CSA_ERR_NOT_FOUND,
                         "the key URI names another token than '%s'",
                         t->token_label);
    return CSA_OK;
}

csa_err tok_key_template(const char *label_or_uri, P11KitUri **uri,
                         CK_ATTRIBUTE tmpl[3], CK_ULONG *n)
{
    CK_ATTRIBUTE *a;
    int r;

    *uri = NULL;
    if (strncmp(label_or_uri, "pkcs11:", 7) != 0) {
        tmpl[(*n)++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label_or_uri,
                                      strlen(label_or_uri)};
        return CSA_OK;
    }
    if ((*uri = p11_kit_uri_new()) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    r = p11_kit_uri_parse(label_or_uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, *uri);
    if (r != P11_KIT_URI_OK)
        return csa_raise(CSA_ERR_CONFIG, "bad key URI '%.200s': %s",
                         label_or_uri, p11_kit_uri_message(r));
    if ((a = p11_kit_uri_get_attribute(*uri, CKA_LABEL)) != NULL)
        tmpl[(*n)++] = *a;
    if ((a = p11_kit_uri_get_attribute(*uri, CKA_ID)) != NULL)
        tmpl[(*n)++] = *a;
    if (*n == 1)
        return csa_raise(CSA_ERR_CONFIG,
                         "key URI '%.200s' names no object (add object= or "
                         "id=)",
                         label_or_uri);
    return CSA_OK;
}

csa_err tok_key_find(tok_ctx *t, const char *label_or_uri, tok_key **out)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[3] = {{CKA_CLASS, &cls, sizeof(cls)}};
    CK_ULONG n = 1;
    CK_OBJECT_HANDLE h;
    P11KitUri *uri = NULL;
    csa_err err = tok_check_usable(t);

    *out = NULL;
    if (err != CSA_OK)
        return err;
    if ((err = tok_key_template(label_or_uri, &uri, tmpl, &n)) != CSA_OK ||
        (uri != NULL && (err = tok_uri_check_token(t, uri)) != CSA_OK))
        goto done;
    err = tok_find_one(t, tmpl, n, &h, "private key matching it");
    if (err != CSA_OK) {
        csa_err_context("key '%s'", label_or_uri);
        goto done;
    }
    err = tok_key_from_handle(t, h, out);
done:
    if (uri != NULL)
        p11_kit_uri_free(uri);
    return err;
}

csa_err tok_key_from_handles(tok_ctx *t, tok_handle priv, tok_handle pub,
                             tok_key **out)
{
    csa_err err = tok_check_usable(t);

    *out = NULL;
    if (err != CSA_OK)
        return err;
    if ((err = tok_key_from_handle(t, priv, out)) != CSA_OK)
        return err;
    if (pub != CK_INVALID_HANDLE) {
        (*out)->pub = pub;
        (*out)->pub_known = 1;
    }
    return CSA_OK;
}

csa_err tok_key_find_id(tok_ctx *t, const unsigned char *id, size_t id_len,
                        tok_key **out)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_ID, (void *)id, id_len}};
    CK_OBJECT_HANDLE h;
    csa_err err = tok_check_usable(t);

    *out = NULL;
    if (err != CSA_OK)
        return err;
    err = tok_find_one(t, tmpl, 2, &h, "private key with this id");
    if (err != CSA_OK)
        return err;
    return tok_key_from_handle(t, h, out);
}

csa_err tok_key_refresh(tok_key *k)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_ID, k->id, k->id_len}};
    csa_err err;

    if (k->generation == k->ctx->generation)
        return CSA_OK;
    err = tok_find_one(k->ctx, tmpl, 2, &k->priv, "private key");
    if (err != CSA_OK)
        return err;
    k->generation = k->ctx->generation;
    /* another session, perhaps another token: look the rest up again */
    k->pub = CK_INVALID_HANDLE;
    k->pub_known = 0;
    EVP_PKEY_free(k->pub_pkey);
    k->pub_pkey = NULL;
    return CSA_OK;
}
