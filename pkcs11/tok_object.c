/* SPDX-License-Identifier: Apache-2.0 */
/* Object search, attributes, listing, relabelling and deletion. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "tok_internal.h"

#define TOK_MAX_OBJECTS 1024

/* Runs a call once more after reopening a lost session. */
#define TOK_RETRY(t, rv, expr)                                                 \
    do {                                                                       \
        (rv) = (expr);                                                         \
        if (tok_rv_session_lost(rv) && tok_session_reopen(t) == CSA_OK)        \
            (rv) = (expr);                                                     \
    } while (0)

csa_err tok_find_one(tok_ctx *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                     CK_OBJECT_HANDLE *out, const char *what)
{
    CK_OBJECT_HANDLE found[2];
    CK_ULONG count = 0;
    CK_RV rv;

    TOK_RETRY(t, rv, tok_ck_find(t, tmpl, n, found, 2, &count));
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot search the token");
    if (count == 0)
        return csa_raise(CSA_ERR_NOT_FOUND, "no %s on token '%s'", what,
                         t->token_label);
    if (count > 1)
        return csa_raise(CSA_ERR_AMBIGUOUS,
                         "more than one %s on token '%s'; refusing to guess "
                         "(use a URI with id=)",
                         what, t->token_label);
    *out = found[0];
    return CSA_OK;
}

csa_err tok_get_attr_alloc(tok_ctx *t, CK_OBJECT_HANDLE o,
                           CK_ATTRIBUTE_TYPE type, unsigned char **val,
                           size_t *len)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    CK_RV rv = tok_ck_get_attrs(t, o, &a, 1);

    *val = NULL;
    *len = 0;
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot read an attribute");
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return csa_raise(CSA_ERR_TOKEN, "the token hides attribute 0x%lx",
                         (unsigned long)type);
    a.pValue = malloc(a.ulValueLen + 1);
    if (a.pValue == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    rv = tok_ck_get_attrs(t, o, &a, 1);
    if (rv != CKR_OK) {
        free(a.pValue);
        return tok_rv_raise(rv, "cannot read an attribute");
    }
    ((unsigned char *)a.pValue)[a.ulValueLen] = '\0';
    *val = a.pValue;
    *len = a.ulValueLen;
    return CSA_OK;
}

int tok_get_bool(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a = {type, &v, sizeof(v)};

    if (tok_ck_get_attrs(t, o, &a, 1) != CKR_OK || a.ulValueLen != sizeof(v))
        return -1;
    return v == CK_TRUE;
}

static tok_class tok_class_of(CK_OBJECT_CLASS c)
{
    switch (c) {
    case CKO_PRIVATE_KEY:
        return TOK_CLASS_PRIVATE_KEY;
    case CKO_PUBLIC_KEY:
        return TOK_CLASS_PUBLIC_KEY;
    case CKO_SECRET_KEY:
        return TOK_CLASS_SECRET_KEY;
    case CKO_CERTIFICATE:
        return TOK_CLASS_CERTIFICATE;
    default:
        return TOK_CLASS_OTHER;
    }
}

static void tok_describe_key(tok_ctx *t, CK_OBJECT_HANDLE o, tok_obj_info *i)
{
    CK_KEY_TYPE kt = 0;
    CK_ULONG bits = 0;
    CK_ATTRIBUTE a = {CKA_KEY_TYPE, &kt, sizeof(kt)};
    unsigned char *params = NULL, *mod = NULL;
    size_t plen = 0, mlen = 0;

    if (tok_ck_get_attrs(t, o, &a, 1) != CKR_OK)
        return;
    if (kt == CKK_RSA) {
        CK_ATTRIBUTE b = {CKA_MODULUS_BITS, &bits, sizeof(bits)};

        if (tok_ck_get_attrs(t, o, &b, 1) != CKR_OK &&
            tok_get_attr_alloc(t, o, CKA_MODULUS, &mod, &mlen) == CSA_OK)
            bits = mlen * 8;
        snprintf(i->type, sizeof(i->type), "RSA %lu", (unsigned long)bits);
    } else if (kt == CKK_EC) {
        const char *curve = "EC";

        if (tok_get_attr_alloc(t, o, CKA_EC_PARAMS, &params, &plen) == CSA_OK) {
            if (plen == 10 && params[9] == 0x07)
                curve = "EC P-256";
            else if (plen == 7 && params[6] == 0x22)
                curve = "EC P-384";
            else if (plen == 7 && params[6] == 0x23)
                curve = "EC P-521";
        }
        snprintf(i->type, sizeof(i->type), "%s", curve);
    } else if (kt == CKK_EC_EDWARDS) {
        snprintf(i->type, sizeof(i->type), "Ed25519");
    } else if (kt == CKK_GENERIC_SECRET || kt == CKK_SHA_1_HMAC ||
               kt == CKK_SHA256_HMAC || kt == CKK_SHA512_HMAC) {
        snprintf(i->type, sizeof(i->type), "HMAC secret");
    } else {
        snprintf(i->type, sizeof(i->type), "key type 0x%lx", (unsigned long)kt);
    }
    free(params);
    free(mod);
}

static void tok_describe_cert(tok_ctx *t, CK_OBJECT_HANDLE o, tok_obj_info *i)
{
    X509 *x = NULL;
    const ASN1_TIME *na;
    struct tm tm;

    snprintf(i->type, sizeof(i->type), "X.509");
    if (tok_cert_get(t, o, &x) != CSA_OK)
        return;
    X509_NAME_oneline(X509_get_subject_name(x), i->subject, sizeof(i->subject));
    na = X509_get0_notAfter(x);
    if (na != NULL && ASN1_TIME_to_tm(na, &tm) == 1)
        i->not_after = timegm(&tm);
    X509_free(x);
}

static void tok_describe(tok_ctx *t, CK_OBJECT_HANDLE o, tok_obj_info *i)
{
    CK_OBJECT_CLASS cls = 0;
    CK_ATTRIBUTE a[3] = {{CKA_CLASS, &cls, sizeof(cls)},
                         {CKA_LABEL, i->label, sizeof(i->label) - 1},
                         {CKA_ID, i->id, sizeof(i->id)}};

    memset(i, 0, sizeof(*i));
    a[1].pValue = i->label;
    a[2].pValue = i->id;
    i->handle = o;
    (void)tok_ck_get_attrs(t, o, a, 3);
    if (a[1].ulValueLen != CK_UNAVAILABLE_INFORMATION &&
        a[1].ulValueLen < sizeof(i->label))
        i->label[a[1].ulValueLen] = '\0';
    else
        i->label[0] = '\0';
    i->id_len =
        a[2].ulValueLen == CK_UNAVAILABLE_INFORMATION ? 0 : a[2].ulValueLen;
    i->cls = tok_class_of(cls);
    i->sensitive = tok_get_bool(t, o, CKA_SENSITIVE);
    i->extractable = tok_get_bool(t, o, CKA_EXTRACTABLE);
    i->always_sensitive = tok_get_bool(t, o, CKA_ALWAYS_SENSITIVE);
    i->never_extractable = tok_get_bool(t, o, CKA_NEVER_EXTRACTABLE);
    i->token = tok_get_bool(t, o, CKA_TOKEN);
    i->private_ = tok_get_bool(t, o, CKA_PRIVATE);
    if (i->cls == TOK_CLASS_CERTIFICATE)
        tok_describe_cert(t, o, i);
    else if (i->cls != TOK_CLASS_OTHER)
        tok_describe_key(t, o, i);
}

static CK_OBJECT_CLASS tok_ck_class(tok_class cls)
{
    static const CK_OBJECT_CLASS map[TOK_CLASS__MAX] = {
        [TOK_CLASS_PRIVATE_KEY] = CKO_PRIVATE_KEY,
        [TOK_CLASS_PUBLIC_KEY] = CKO_PUBLIC_KEY,
        [TOK_CLASS_SECRET_KEY] = CKO_SECRET_KEY,
        [TOK_CLASS_CERTIFICATE] = CKO_CERTIFICATE,
    };
    return map[cls];
}

csa_err tok_objects(tok_ctx *t, const char *label, const unsigned char *id,
                    size_t id_len, tok_class cls, tok_obj_info **out, size_t *n)
{
    CK_OBJECT_HANDLE *found = NULL;
    CK_OBJECT_CLASS ckc = 0;
    CK_ATTRIBUTE tmpl[3];
    CK_ULONG nt = 0, count = 0, i;
    CK_RV rv;
    csa_err err = tok_check_usable(t);

    *out = NULL;
    *n = 0;
    if (err != CSA_OK)
        return err;
    if ((unsigned)cls >= TOK_CLASS__MAX)
        return csa_raise(CSA_ERR_INVALID, "bad object class");
    if (label != NULL)
        tmpl[nt++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
    if (id != NULL)
        tmpl[nt++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
    if (cls != TOK_CLASS_OTHER) {
        ckc = tok_ck_class(cls);
        tmpl[nt++] = (CK_ATTRIBUTE){CKA_CLASS, &ckc, sizeof(ckc)};
    }
    found = calloc(TOK_MAX_OBJECTS, sizeof(*found));
    if (found == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    TOK_RETRY(t, rv, tok_ck_find(t, tmpl, nt, found, TOK_MAX_OBJECTS, &count));
    if (rv != CKR_OK) {
        free(found);
        return tok_rv_raise(rv, "cannot search the token");
    }
    *out = calloc(count ? count : 1, sizeof(**out));
    if (*out == NULL) {
        free(found);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < count; i++)
        tok_describe(t, found[i], &(*out)[i]);
    *n = count;
    free(found);
    return CSA_OK;
}

csa_err tok_obj_relabel(tok_ctx *t, tok_handle handle, const char *label)
{
    CK_ATTRIBUTE a = {CKA_LABEL, (void *)label, strlen(label)};
    CK_RV rv;

    TOK_RETRY(t, rv, tok_ck_set_attrs(t, handle, &a, 1));
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot relabel an object");
    return CSA_OK;
}

csa_err tok_obj_copy(tok_ctx *t, tok_handle handle, const char *label,
                     tok_handle *out)
{
    CK_ATTRIBUTE a = {CKA_LABEL, (void *)label, strlen(label)};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_RV rv;

    TOK_RETRY(t, rv, tok_ck_copy(t, handle, &a, 1, &h));
    if (rv == CKR_FUNCTION_NOT_SUPPORTED || rv == CKR_ACTION_PROHIBITED)
        return csa_raise(CSA_ERR_UNSUPPORTED,
                         "the token does not copy this object (%s)",
                         tok_rv_name(rv));
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot copy an object");
    if (out != NULL)
        *out = h;
    return CSA_OK;
}

csa_err tok_obj_move(tok_ctx *t, tok_handle handle, const char *label)
{
    csa_err err = tok_obj_copy(t, handle, label, NULL);

    if (err == CSA_ERR_UNSUPPORTED) {
        csa_err_clear();
        return tok_obj_relabel(t, handle, label);
    }
    if (err != CSA_OK)
        return err;
    return tok_obj_destroy(t, handle);
}

csa_err tok_obj_destroy(tok_ctx *t, tok_handle handle)
{
    CK_RV rv;

    TOK_RETRY(t, rv, tok_ck_destroy(t, handle));
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot delete an object");
    return CSA_OK;
}
