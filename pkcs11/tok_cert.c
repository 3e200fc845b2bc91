/* SPDX-License-Identifier: Apache-2.0 */
/* X.509 certificate objects on the token. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* DER encodings the certificate template needs; all malloc'd. */
typedef struct {
    unsigned char *value, *subject, *issuer, *serial;
    int value_len, subject_len, issuer_len, serial_len;
} tok_cert_der;

static void tok_cert_der_free(tok_cert_der *d)
{
    OPENSSL_free(d->value);
    OPENSSL_free(d->subject);
    OPENSSL_free(d->issuer);
    OPENSSL_free(d->serial);
}

static csa_err tok_cert_der_make(X509 *cert, tok_cert_der *d)
{
    memset(d, 0, sizeof(*d));
    d->value_len = i2d_X509(cert, &d->value);
    d->subject_len = i2d_X509_NAME(X509_get_subject_name(cert), &d->subject);
    d->issuer_len = i2d_X509_NAME(X509_get_issuer_name(cert), &d->issuer);
    d->serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &d->serial);
    if (d->value_len <= 0 || d->subject_len <= 0 || d->issuer_len <= 0 ||
        d->serial_len <= 0) {
        tok_cert_der_free(d);
        return csa_raise(CSA_ERR_INVALID, "cannot encode the certificate");
    }
    return CSA_OK;
}

csa_err tok_cert_store(tok_ctx *t, X509 *cert, const char *label,
                       const unsigned char *id, size_t id_len,
                       tok_handle *handle)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE ct = CKC_X_509;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    tok_cert_der d;
    CK_RV rv;
    csa_err err = tok_check_usable(t);

    if (err != CSA_OK || (err = tok_cert_der_make(cert, &d)) != CSA_OK)
        return err;
    {
        CK_ATTRIBUTE tmpl[] = {
            {CKA_CLASS, &cls, sizeof(cls)},
            {CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)},
            {CKA_TOKEN, &yes, sizeof(yes)},
            {CKA_PRIVATE, &no, sizeof(no)},
            {CKA_MODIFIABLE, &yes, sizeof(yes)},
            {CKA_LABEL, (void *)label, strlen(label)},
            {CKA_ID, (void *)id, id_len},
            {CKA_VALUE, d.value, (CK_ULONG)d.value_len},
            {CKA_SUBJECT, d.subject, (CK_ULONG)d.subject_len},
            {CKA_ISSUER, d.issuer, (CK_ULONG)d.issuer_len},
            {CKA_SERIAL_NUMBER, d.serial, (CK_ULONG)d.serial_len},
        };
        CK_ULONG n = sizeof(tmpl) / sizeof(tmpl[0]);

        rv = tok_ck_create(t, tmpl, n, &h);
        if (tok_rv_session_lost(rv) && tok_session_reopen(t) == CSA_OK)
            rv = tok_ck_create(t, tmpl, n, &h);
    }
    tok_cert_der_free(&d);
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot store the certificate on the token");
    if (handle != NULL)
        *handle = h;
    return CSA_OK;
}

/* Parses a certificate object's CKA_VALUE (der, len bytes). */
static csa_err tok_cert_parse(tok_ctx *t, const unsigned char *der, size_t len,
                              X509 **out)
{
    const unsigned char *p = der;

    *out = d2i_X509(NULL, &p, (long)len);
    if (*out == NULL)
        return csa_raise(CSA_ERR_TOKEN,
                         "a certificate object on token '%s' does not hold "
                         "a valid DER certificate",
                         t->token_label);
    /* CKA_VALUE is the DER certificate and nothing else: bytes after it
     * mean the module misreported the length or the object is corrupt. */
    if (p != der + len) {
        X509_free(*out);
        *out = NULL;
        return csa_raise(CSA_ERR_TOKEN,
                         "the CKA_VALUE of a certificate object on token '%s' "
                         "has %zu bytes after the certificate",
                         t->token_label, len - (size_t)(p - der));
    }
    return CSA_OK;
}

csa_err tok_cert_get(tok_ctx *t, tok_handle handle, X509 **out)
{
    unsigned char *der = NULL;
    size_t len = 0;
    csa_err err = tok_get_attr_alloc(t, handle, CKA_VALUE, &der, &len);

    *out = NULL;
    if (err == CSA_OK)
        err = tok_cert_parse(t, der, len, out);
    free(der);
    return err;
}

csa_err tok_cert_get_if(tok_ctx *t, tok_handle handle, const char *label,
                        const unsigned char *id, size_t id_len, X509 **out)
{
    CK_OBJECT_CLASS cls = 0;
    char lab[129];
    unsigned char oid[TOK_ID_MAX], *der = malloc(TOK_ATTR_GUESS);
    CK_ATTRIBUTE a[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_LABEL, lab, sizeof(lab) - 1},
                        {CKA_ID, oid, sizeof(oid)},
                        {CKA_VALUE, der, TOK_ATTR_GUESS}};
    size_t llen = strlen(label);
    csa_err err;

    *out = NULL;
    if (der == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (tok_get_attrs_fit(t, handle, a, 4) && a[0].ulValueLen == sizeof(cls)) {
        if (cls != CKO_CERTIFICATE || a[1].ulValueLen != llen ||
            memcmp(lab, label, llen) != 0 || a[2].ulValueLen != id_len ||
            memcmp(oid, id, id_len) != 0) {
            free(der);
            return CSA_ERR_NOT_FOUND;
        }
        err = tok_cert_parse(t, der, a[3].ulValueLen, out);
        free(der);
        return err;
    }
    free(der);
    csa_err_clear();
    /* the module refused the four at once (or the value is larger than
     * the guess): the check, then the value, alone */
    if (!tok_obj_is(t, handle, TOK_CLASS_CERTIFICATE, label, id, id_len))
        return CSA_ERR_NOT_FOUND;
    return tok_cert_get(t, handle, out);
}

csa_err tok_cert_get_id(tok_ctx *t, tok_handle handle, X509 **out,
                        unsigned char id[TOK_ID_MAX], size_t *id_len)
{
    unsigned char *der = malloc(TOK_ATTR_GUESS);
    CK_ATTRIBUTE a[] = {{CKA_ID, id, TOK_ID_MAX},
                        {CKA_VALUE, der, TOK_ATTR_GUESS}};
    csa_err err;

    *out = NULL;
    *id_len = 0;
    if (der == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    /* One call for both; where the token refuses or a value does not fit,
     * each is read alone with the checks that name it. */
    if (tok_get_attrs_fit(t, handle, a, 2)) {
        *id_len = a[0].ulValueLen;
        err = tok_cert_parse(t, der, a[1].ulValueLen, out);
        free(der);
        return err;
    }
    free(der);
    if (tok_get_attr_capped(t, handle, CKA_ID, id, TOK_ID_MAX, id_len) !=
        TOK_ATTR_FITS)
        *id_len = 0; /* no id, or a longer one than csagent makes */
    return tok_cert_get(t, handle, out);
}
