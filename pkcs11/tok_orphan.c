/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Objects nobody can attribute: no CKA_LABEL and no CKA_ID.  A module
 * killed inside C_CreateObject, C_CopyObject or C_GenerateKeyPair can leave
 * one (SoftHSM writes the object file before its attributes), but so does
 * `pkcs11-tool --keypairgen` without --label/--id.  csagent never deletes
 * such an object on its own; `csagent orphans` names each by a fingerprint
 * of what the token shows of it, and deletes one only when the operator
 * names it.
 */
#include <string.h>

#include <openssl/evp.h>

#include "tok_internal.h"

/* Public attributes that tell objects apart; a secret value is never
 * read (CKA_VALUE only of certificates and public keys). */
static int tok_fp_attr_ok(CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE type)
{
    if (type != CKA_VALUE)
        return 1;
    return cls == CKO_CERTIFICATE || cls == CKO_PUBLIC_KEY;
}

csa_err tok_obj_fingerprint(tok_ctx *t, tok_handle handle,
                            unsigned char out[32])
{
    static const CK_ATTRIBUTE_TYPE types[] = {
        CKA_CLASS,       CKA_KEY_TYPE,  CKA_CERTIFICATE_TYPE, CKA_EC_PARAMS,
        CKA_EC_POINT,    CKA_MODULUS,   CKA_PUBLIC_EXPONENT,  CKA_VALUE,
        CKA_APPLICATION, CKA_OBJECT_ID, CKA_SUBJECT,
    };
    CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
    CK_ATTRIBUTE a = {CKA_CLASS, &cls, sizeof(cls)};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    size_t i;
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;

    if (tok_ck_get_attrs(t, handle, &a, 1) != CKR_OK ||
        a.ulValueLen != sizeof(cls))
        cls = (CK_OBJECT_CLASS)-1;
    for (i = 0; ok && i < sizeof(types) / sizeof(types[0]); i++) {
        unsigned char *val = NULL, tag[sizeof(CK_ULONG) + 1];
        size_t vlen = 0;
        CK_ULONG ty = types[i];

        memcpy(tag, &ty, sizeof(ty));
        tag[sizeof(ty)] = 0;
        if (tok_fp_attr_ok(cls, types[i]) &&
            tok_get_attr_alloc(t, handle, types[i], &val, &vlen) == CSA_OK)
            tag[sizeof(ty)] = 1;
        csa_err_clear();
        ok = EVP_DigestUpdate(md, tag, sizeof(tag)) == 1 &&
             EVP_DigestUpdate(md, &vlen, sizeof(vlen)) == 1 &&
             (vlen == 0 || EVP_DigestUpdate(md, val, vlen) == 1);
        free(val);
    }
    ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32;
    EVP_MD_CTX_free(md);
    if (!ok)
        return csa_raise(CSA_ERR_NOMEM, "cannot compute a digest");
    return CSA_OK;
}
