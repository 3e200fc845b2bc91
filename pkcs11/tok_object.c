/* SPDX-License-Identifier: Apache-2.0 */
/* Object search, attributes, listing, relabelling and deletion. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "csa_log.h"
#include "tok_internal.h"

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

const char *tok_attr_name(CK_ATTRIBUTE_TYPE type)
{
    static const struct {
        CK_ATTRIBUTE_TYPE type;
        const char *name;
    } names[] = {
#define TOK_ATTR(x) {x, #x}
        TOK_ATTR(CKA_CLASS),
        TOK_ATTR(CKA_TOKEN),
        TOK_ATTR(CKA_PRIVATE),
        TOK_ATTR(CKA_LABEL),
        TOK_ATTR(CKA_VALUE),
        TOK_ATTR(CKA_CERTIFICATE_TYPE),
        TOK_ATTR(CKA_ISSUER),
        TOK_ATTR(CKA_SERIAL_NUMBER),
        TOK_ATTR(CKA_KEY_TYPE),
        TOK_ATTR(CKA_SUBJECT),
        TOK_ATTR(CKA_ID),
        TOK_ATTR(CKA_SENSITIVE),
        TOK_ATTR(CKA_SIGN),
        TOK_ATTR(CKA_MODULUS),
        TOK_ATTR(CKA_MODULUS_BITS),
        TOK_ATTR(CKA_PUBLIC_EXPONENT),
        TOK_ATTR(CKA_PRIVATE_EXPONENT),
        TOK_ATTR(CKA_PRIME_1),
        TOK_ATTR(CKA_PRIME_2),
        TOK_ATTR(CKA_EXTRACTABLE),
        TOK_ATTR(CKA_NEVER_EXTRACTABLE),
        TOK_ATTR(CKA_ALWAYS_SENSITIVE),
        TOK_ATTR(CKA_EC_PARAMS),
        TOK_ATTR(CKA_EC_POINT),
#undef TOK_ATTR
    };
    static _Thread_local char other[32];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].type == type)
            return names[i].name;
    }
    snprintf(other, sizeof(other), "attribute 0x%lx", (unsigned long)type);
    return other;
}

static csa_err tok_attr_rv_raise(CK_RV rv, CK_ATTRIBUTE_TYPE type)
{
    char what[64];

    snprintf(what, sizeof(what), "cannot read %s", tok_attr_name(type));
    return tok_rv_raise(rv, what);
}

/*
 * One call into a buffer of TOK_ATTR_GUESS bytes.  CSA_OK with *val set:
 * the value fit (the length the module reports is checked against the
 * buffer, so a module that claims more is not believed).  CSA_OK with *val
 * NULL: longer, or unclear; the caller asks for the length first.
 */
static csa_err tok_get_attr_guess(tok_ctx *t, CK_OBJECT_HANDLE o,
                                  CK_ATTRIBUTE_TYPE type, unsigned char **val,
                                  size_t *len)
{
    CK_ATTRIBUTE a = {type, calloc(1, TOK_ATTR_GUESS + 1), TOK_ATTR_GUESS};
    CK_RV rv;

    *val = NULL;
    if (a.pValue == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    rv = tok_ck_get_attrs(t, o, &a, 1);
    /* CK_UNAVAILABLE_INFORMATION is larger than the buffer. */
    if (rv == CKR_OK && a.ulValueLen <= TOK_ATTR_GUESS) {
        ((unsigned char *)a.pValue)[a.ulValueLen] = '\0';
        *val = a.pValue;
        *len = a.ulValueLen;
        return CSA_OK;
    }
    free(a.pValue);
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
        return tok_attr_rv_raise(rv, type);
    return CSA_OK;
}

/*
 * One call when the value fits TOK_ATTR_GUESS bytes; otherwise two, as
 * PKCS#11 §5.7 describes: the first learns the length, the second reads
 * into a buffer of that size.  A module may answer the two differently
 * (the object changed, or the module is broken): the second length is
 * checked against what was allocated, not trusted.
 */
csa_err tok_get_attr_alloc(tok_ctx *t, CK_OBJECT_HANDLE o,
                           CK_ATTRIBUTE_TYPE type, unsigned char **val,
                           size_t *len)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    CK_ULONG cap;
    CK_RV rv;
    csa_err err = tok_get_attr_guess(t, o, type, val, len);

    if (err != CSA_OK || *val != NULL)
        return err;
    *len = 0;
    rv = tok_ck_get_attrs(t, o, &a, 1);
    if (rv != CKR_OK)
        return tok_attr_rv_raise(rv, type);
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return csa_raise(CSA_ERR_TOKEN, "the token hides %s",
                         tok_attr_name(type));
    if (a.ulValueLen > TOK_ATTR_MAX)
        return csa_raise(CSA_ERR_TOKEN,
                         "the token reports a %s of %lu bytes (more than "
                         "%lu); refusing to read it",
                         tok_attr_name(type), (unsigned long)a.ulValueLen,
                         TOK_ATTR_MAX);
    cap = a.ulValueLen;
    a.pValue = calloc(1, cap + 1);
    if (a.pValue == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    rv = tok_ck_get_attrs(t, o, &a, 1);
    if (rv != CKR_OK) {
        free(a.pValue);
        return tok_attr_rv_raise(rv, type);
    }
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > cap) {
        free(a.pValue);
        return csa_raise(CSA_ERR_TOKEN,
                         "the token announced a %s of %lu bytes, then "
                         "reported %s; refusing it",
                         tok_attr_name(type), (unsigned long)cap,
                         a.ulValueLen == CK_UNAVAILABLE_INFORMATION
                             ? "it unavailable"
                             : "more");
    }
    ((unsigned char *)a.pValue)[a.ulValueLen] = '\0';
    *val = a.pValue;
    *len = a.ulValueLen;
    return CSA_OK;
}

tok_attr_fit tok_get_attr_capped(tok_ctx *t, CK_OBJECT_HANDLE o,
                                 CK_ATTRIBUTE_TYPE type, void *buf, size_t cap,
                                 size_t *len)
{
    CK_ATTRIBUTE a = {type, buf, cap};
    CK_RV rv = tok_ck_get_attrs(t, o, &a, 1);
    unsigned char *all = NULL;
    size_t all_len = 0;

    *len = 0;
    /* CK_UNAVAILABLE_INFORMATION is larger than any cap. */
    if (rv == CKR_OK && a.ulValueLen <= cap) {
        *len = a.ulValueLen;
        return TOK_ATTR_FITS;
    }
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
        return TOK_ATTR_UNREADABLE;
    /* Longer than buf, or a module claiming so after CKR_OK (then what it
     * wrote into buf cannot be trusted): read it whole to learn which. */
    if (tok_get_attr_alloc(t, o, type, &all, &all_len) != CSA_OK)
        return TOK_ATTR_UNREADABLE;
    *len = all_len;
    memcpy(buf, all, all_len < cap ? all_len : cap);
    free(all);
    return all_len <= cap ? TOK_ATTR_FITS : TOK_ATTR_TOO_LONG;
}

csa_err tok_get_ulong(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
                      CK_ULONG *out)
{
    CK_ULONG v = 0;
    CK_ATTRIBUTE a = {type, &v, sizeof(v)};
    CK_RV rv = tok_ck_get_attrs(t, o, &a, 1);

    if (rv != CKR_OK)
        return tok_attr_rv_raise(rv, type);
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return csa_raise(CSA_ERR_TOKEN, "the token hides %s",
                         tok_attr_name(type));
    if (a.ulValueLen != sizeof(v))
        return csa_raise(CSA_ERR_TOKEN,
                         "the token returned %s as %lu bytes, not %zu; "
                         "treating it as unreadable",
                         tok_attr_name(type), (unsigned long)a.ulValueLen,
                         sizeof(v));
    *out = v;
    return CSA_OK;
}

int tok_get_bool(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a = {type, &v, sizeof(v)};

    /* Anything but one byte holding CK_TRUE or CK_FALSE is unreadable:
     * reading 0x02 as "false" would pass CKA_EXTRACTABLE checks. */
    if (tok_ck_get_attrs(t, o, &a, 1) != CKR_OK || a.ulValueLen != sizeof(v) ||
        (v != CK_TRUE && v != CK_FALSE))
        return -1;
    return v == CK_TRUE;
}

bool tok_get_attrs_fit(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *tmpl,
                       CK_ULONG n)
{
    CK_ULONG cap[TOK_BATCH_MAX], i;

    if (n > TOK_BATCH_MAX)
        return false;
    for (i = 0; i < n; i++)
        cap[i] = tmpl[i].ulValueLen;
    /* Any CK_RV but CKR_OK (CKR_ATTRIBUTE_TYPE_INVALID, _SENSITIVE,
     * CKR_BUFFER_TOO_SMALL...): PKCS#11 says the other attributes are
     * still filled, not every module does; the caller reads each alone. */
    if (tok_ck_get_attrs(t, o, tmpl, n) != CKR_OK)
        return false;
    /* CK_UNAVAILABLE_INFORMATION is larger than any buffer. */
    for (i = 0; i < n; i++)
        if (tmpl[i].ulValueLen > cap[i])
            return false;
    return true;
}

void tok_get_bools(tok_ctx *t, CK_OBJECT_HANDLE o,
                   const CK_ATTRIBUTE_TYPE *types, size_t n, int *out)
{
    CK_BBOOL v[TOK_BATCH_MAX];
    CK_ATTRIBUTE a[TOK_BATCH_MAX];
    bool fit;
    size_t i;

    for (i = 0; i < n && i < TOK_BATCH_MAX; i++)
        a[i] = (CK_ATTRIBUTE){types[i], &v[i], sizeof(v[i])};
    fit = n <= TOK_BATCH_MAX && tok_get_attrs_fit(t, o, a, (CK_ULONG)n);
    for (i = 0; i < n; i++) {
        /* the same rule as tok_get_bool: one byte, CK_TRUE or CK_FALSE */
        if (fit && a[i].ulValueLen == sizeof(v[i]) &&
            (v[i] == CK_TRUE || v[i] == CK_FALSE))
            out[i] = v[i] == CK_TRUE;
        else
            out[i] = tok_get_bool(t, o, types[i]);
    }
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
    unsigned char *params = NULL, *mod = NULL;
    size_t plen = 0, mlen = 0;
    tok_key_type curve;

    if (tok_get_ulong(t, o, CKA_KEY_TYPE, &kt) != CSA_OK) {
        snprintf(i->type, sizeof(i->type), "key of unknown type");
        return;
    }
    if (kt == CKK_RSA) {
        if (tok_get_ulong(t, o, CKA_MODULUS_BITS, &bits) != CSA_OK &&
            tok_get_attr_alloc(t, o, CKA_MODULUS, &mod, &mlen) == CSA_OK)
            bits = mlen * 8;
        snprintf(i->type, sizeof(i->type), "RSA %lu", (unsigned long)bits);
    } else if (kt == CKK_EC || kt == CKK_EC_EDWARDS) {
        const char *name = kt == CKK_EC ? "EC" : "EdDSA";

        if (tok_get_attr_alloc(t, o, CKA_EC_PARAMS, &params, &plen) == CSA_OK &&
            tok_ec_curve_of(params, plen, &curve) == CSA_OK &&
            tok_keytype_of(curve)->ckk == kt)
            name = tok_key_display_name(curve);
        snprintf(i->type, sizeof(i->type), "%s", name);
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

/* Ends the label read into buf[size - 1] at len bytes, or, when it is
 * longer, at the last whole UTF-8 character that fits. */
static void tok_label_cut(char *buf, size_t size, size_t len)
{
    const unsigned char *u = (const unsigned char *)buf;
    size_t start, need;

    if (len >= size) {
        len = size - 1;
        start = len;
        while (start > 0 && (u[start - 1] & 0xc0) == 0x80)
            start--; /* back over continuation bytes */
        if (start > 0) {
            unsigned char lead = u[start - 1];

            need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
            if (start - 1 + need > len)
                len = start - 1; /* the last character was cut */
        }
    }
    buf[len] = '\0';
}

/*
 * A CKA_ID longer than tok_obj_info.id (another program's object, or a
 * module that misreports lengths) keeps its first TOK_ID_MAX bytes, and a
 * CKA_LABEL longer than tok_obj_info.label its first characters; a warning
 * names the object and the length, and the type says "id cut" or "label
 * cut".  Neither is shown as absent: an object with no label and no id is
 * taken for the orphan of an interrupted write (tok_orphan.c).  csagent's
 * own ids (TOK_ID_LEN) and labels always fit, so a cut value is never
 * taken for one of csagent's.
 */
static void tok_describe_names(tok_ctx *t, CK_OBJECT_HANDLE o, tok_obj_info *i,
                               int *cut)
{
    size_t len = 0;
    tok_attr_fit fit;

    fit = tok_get_attr_capped(t, o, CKA_LABEL, i->label, sizeof(i->label) - 1,
                              &len);
    tok_label_cut(i->label, sizeof(i->label),
                  fit == TOK_ATTR_UNREADABLE ? 0 : len);
    if (fit == TOK_ATTR_TOO_LONG) {
        csa_warn("pkcs11",
                 "object %lu on token '%s' has a CKA_LABEL of %zu bytes; "
                 "showing its first %zu",
                 (unsigned long)o, t->token_label, len, strlen(i->label));
        *cut |= 1;
    }
    fit = tok_get_attr_capped(t, o, CKA_ID, i->id, sizeof(i->id), &len);
    i->id_len = fit == TOK_ATTR_UNREADABLE ? 0 : len;
    if (fit == TOK_ATTR_TOO_LONG) {
        csa_warn("pkcs11",
                 "object %lu on token '%s' has a CKA_ID of %zu bytes, more "
                 "than the %zu csagent handles; showing its first %zu",
                 (unsigned long)o, t->token_label, len, sizeof(i->id),
                 sizeof(i->id));
        i->id_len = sizeof(i->id);
        *cut |= 2;
    }
}

/* The flags `list` shows: one call for a key; a certificate has no
 * CKA_SENSITIVE and the like, so its storage flags come in a second. */
static void tok_describe_flags(tok_ctx *t, CK_OBJECT_HANDLE o, tok_obj_info *i)
{
    static const CK_ATTRIBUTE_TYPE types[] = {
        CKA_TOKEN,       CKA_PRIVATE,          CKA_SENSITIVE,
        CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE};
    int v[6] = {-1, -1, -1, -1, -1, -1};
    size_t n = i->cls == TOK_CLASS_PRIVATE_KEY || i->cls == TOK_CLASS_SECRET_KEY
                   ? 6
                   : 2;

    tok_get_bools(t, o, types, n, v);
    for (; n < 6; n++) /* where the object has no such attribute */
        v[n] = tok_get_bool(t, o, types[n]);
    i->token = v[0];
    i->private_ = v[1];
    i->sensitive = v[2];
    i->extractable = v[3];
    i->always_sensitive = v[4];
    i->never_extractable = v[5];
}

static void tok_describe(tok_ctx *t, CK_OBJECT_HANDLE o, tok_obj_info *i)
{
    static const char *const cut_notes[] = {"", "label cut", "id cut",
                                            "id+label cut"};
    CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
    const char *note;
    int cut = 0;
    size_t tl;

    memset(i, 0, sizeof(*i));
    i->handle = o;
    if (tok_get_ulong(t, o, CKA_CLASS, &cls) != CSA_OK)
        cls = (CK_OBJECT_CLASS)-1;
    tok_describe_names(t, o, i, &cut);
    i->cls = tok_class_of(cls);
    tok_describe_flags(t, o, i);
    if (i->cls == TOK_CLASS_CERTIFICATE)
        tok_describe_cert(t, o, i);
    else if (i->cls != TOK_CLASS_OTHER)
        tok_describe_key(t, o, i);
    if (cut == 0)
        return;
    /* The note must survive a long type: shorten the type, not the note. */
    note = cut_notes[cut];
    tl = strlen(i->type);
    if (tl > 0 && tl + 2 + strlen(note) >= sizeof(i->type))
        tl = sizeof(i->type) - 3 - strlen(note);
    snprintf(i->type + tl, sizeof(i->type) - tl, "%s%s", tl ? ", " : "", note);
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

/* The handles of the objects that match; *found is malloc'd. */
static csa_err tok_find_all(tok_ctx *t, const char *label,
                            const unsigned char *id, size_t id_len,
                            tok_class cls, CK_OBJECT_HANDLE **found,
                            CK_ULONG *count)
{
    CK_OBJECT_CLASS ckc = 0;
    CK_ATTRIBUTE tmpl[3];
    CK_ULONG nt = 0;
    CK_RV rv;
    csa_err err = tok_check_usable(t);

    *found = NULL;
    *count = 0;
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
    /* every match, not the first batch: a census that missed our key
     * would take a renewal for a first enrollment */
    TOK_RETRY(t, rv,
              tok_ck_find_grow(t, tmpl, nt, TOK_LABELLED_MAX, found, count));
    if (rv == CKR_BUFFER_TOO_SMALL)
        return csa_raise(CSA_ERR_TOKEN,
                         "token '%s': more than %d objects match one search",
                         t->token_label, TOK_LABELLED_MAX);
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot search the token");
    return CSA_OK;
}

csa_err tok_find_handles(tok_ctx *t, const char *label, const unsigned char *id,
                         size_t id_len, tok_class cls, tok_handle **out,
                         size_t *n)
{
    CK_OBJECT_HANDLE *found = NULL;
    CK_ULONG count = 0, i;
    csa_err err = tok_find_all(t, label, id, id_len, cls, &found, &count);

    *out = NULL;
    *n = 0;
    if (err != CSA_OK)
        return err;
    if ((*out = calloc(count ? count : 1, sizeof(**out))) == NULL) {
        free(found);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < count; i++)
        (*out)[i] = found[i];
    *n = count;
    free(found);
    return CSA_OK;
}

bool tok_obj_is(tok_ctx *t, tok_handle handle, tok_class cls, const char *label,
                const unsigned char *id, size_t id_len)
{
    CK_OBJECT_CLASS c = 0;
    char lab[129];
    unsigned char oid[TOK_ID_MAX];
    CK_ATTRIBUTE a[] = {{CKA_CLASS, &c, sizeof(c)},
                        {CKA_LABEL, lab, sizeof(lab) - 1},
                        {CKA_ID, oid, sizeof(oid)}};
    size_t llen = strlen(label);

    if (!tok_get_attrs_fit(t, handle, a, 3) || a[0].ulValueLen != sizeof(c)) {
        csa_err_clear();
        return false;
    }
    return tok_class_of(c) == cls && a[1].ulValueLen == llen &&
           memcmp(lab, label, llen) == 0 && a[2].ulValueLen == id_len &&
           memcmp(oid, id, id_len) == 0;
}

csa_err tok_obj_class(tok_ctx *t, tok_handle handle, tok_class *out)
{
    CK_OBJECT_CLASS cls = 0;
    csa_err err = tok_get_ulong(t, handle, CKA_CLASS, &cls);

    *out = err == CSA_OK ? tok_class_of(cls) : TOK_CLASS_OTHER;
    return err;
}

csa_err tok_label_census(tok_ctx *t, const char *label, tok_census **out,
                         size_t *n)
{
    CK_OBJECT_HANDLE *found = NULL;
    CK_ULONG count = 0, i;
    csa_err err =
        tok_find_all(t, label, NULL, 0, TOK_CLASS_OTHER, &found, &count);

    *out = NULL;
    *n = 0;
    if (err != CSA_OK)
        return err;
    if ((*out = calloc(count ? count : 1, sizeof(**out))) == NULL) {
        free(found);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < count && err == CSA_OK; i++) {
        tok_census *c = &(*out)[i];
        CK_OBJECT_CLASS cls = 0;
        CK_ATTRIBUTE a[] = {{CKA_CLASS, &cls, sizeof(cls)},
                            {CKA_ID, c->id, sizeof(c->id)}};
        size_t len = 0;

        c->handle = found[i];
        if (tok_get_attrs_fit(t, found[i], a, 2) &&
            a[0].ulValueLen == sizeof(cls)) {
            c->id_len = a[1].ulValueLen;
        } else {
            /* one at a time: the class must be read, an id that does not
             * fit (or none) is left empty: it is not one csagent gave */
            if ((err = tok_get_ulong(t, found[i], CKA_CLASS, &cls)) != CSA_OK)
                break;
            if (tok_get_attr_capped(t, found[i], CKA_ID, c->id, sizeof(c->id),
                                    &len) == TOK_ATTR_FITS)
                c->id_len = len;
            csa_err_clear();
        }
        c->cls = tok_class_of(cls);
    }
    free(found);
    if (err != CSA_OK) {
        free(*out);
        *out = NULL;
        return err;
    }
    *n = count;
    return CSA_OK;
}

static int tok_labelled_cmp(const void *a, const void *b)
{
    return strcmp(((const tok_labelled *)a)->label,
                  ((const tok_labelled *)b)->label);
}

/* Class, label and id of one object into e: one C_GetAttributeValue, or
 * one per attribute when the module refuses the three at once.  1: read;
 * 0: a label over 128 bytes or with a NUL inside (none of csagent's); -1:
 * the class or the label could not be read (every storage object has
 * both: the token failed). */
static int tok_labelled_read(tok_ctx *t, CK_OBJECT_HANDLE h, tok_labelled *e)
{
    CK_OBJECT_CLASS cls = 0;
    CK_ATTRIBUTE a[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_LABEL, e->label, sizeof(e->label) - 1},
                        {CKA_ID, e->id, sizeof(e->id)}};
    size_t len = 0;

    if (tok_get_attrs_fit(t, h, a, 3) && a[0].ulValueLen == sizeof(cls)) {
        len = a[1].ulValueLen;
        e->id_len = a[2].ulValueLen;
    } else {
        size_t id_len = 0;

        /* an id that does not fit (or none) is left empty: it is not one
         * csagent gave */
        if (tok_get_attr_capped(t, h, CKA_ID, e->id, sizeof(e->id), &id_len) !=
            TOK_ATTR_FITS)
            id_len = 0;
        tok_attr_fit lf;

        if (tok_get_ulong(t, h, CKA_CLASS, &cls) != CSA_OK)
            return -1;
        lf = tok_get_attr_capped(t, h, CKA_LABEL, e->label,
                                 sizeof(e->label) - 1, &len);
        if (lf != TOK_ATTR_FITS)
            return lf == TOK_ATTR_TOO_LONG ? 0 : -1;
        e->id_len = id_len;
    }
    e->label[len] = '\0';
    if (strlen(e->label) != len)
        return 0; /* a NUL inside */
    e->handle = h;
    e->cls = tok_class_of(cls);
    return 1;
}

csa_err tok_labelled_find(tok_ctx *t, tok_class cls, tok_labelled **out,
                          size_t *n, size_t *unread)
{
    CK_OBJECT_HANDLE *found = NULL;
    CK_ULONG count = 0, i;
    size_t k = 0, failed = 0;
    csa_err err;

    *out = NULL;
    *n = 0;
    if (unread != NULL)
        *unread = 0;
    if ((err = tok_find_all(t, NULL, NULL, 0, cls, &found, &count)) != CSA_OK)
        return err;
    if ((*out = calloc(count ? count : 1, sizeof(**out))) == NULL) {
        free(found);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < count; i++) {
        int r = tok_labelled_read(t, found[i], &(*out)[k]);

        k += r > 0;
        failed += r < 0;
    }
    free(found);
    csa_err_clear();
    qsort(*out, k, sizeof(**out), tok_labelled_cmp);
    *n = k;
    if (unread != NULL)
        *unread = failed;
    return CSA_OK;
}

size_t tok_labelled_range(const tok_labelled *v, size_t n, const char *label,
                          size_t *first)
{
    size_t lo = 0, hi = n, end;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(v[mid].label, label) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (end = lo; end < n && strcmp(v[end].label, label) == 0; end++)
        ;
    *first = lo;
    return end - lo;
}

csa_err tok_objects(tok_ctx *t, const char *label, const unsigned char *id,
                    size_t id_len, tok_class cls, tok_obj_info **out, size_t *n)
{
    CK_OBJECT_HANDLE *found = NULL;
    CK_ULONG count = 0, i;
    csa_err err = tok_find_all(t, label, id, id_len, cls, &found, &count);

    *out = NULL;
    *n = 0;
    if (err != CSA_OK)
        return err;
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
