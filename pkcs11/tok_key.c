/* SPDX-License-Identifier: Apache-2.0 */
/* Key pairs: generation inside the token, lookup by label or URI. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "csa_log.h"
#include "tok_internal.h"

/* Refuses a label that already resolves to a private key. */
static csa_err tok_label_free(tok_ctx *t, const char *label)
{
    tok_obj_info *objs = NULL;
    size_t n = 0;
    csa_err err =
        tok_objects(t, label, NULL, 0, TOK_CLASS_PRIVATE_KEY, &objs, &n);

    free(objs);
    if (err != CSA_OK)
        return err;
    if (n > 0)
        return csa_raise(CSA_ERR_EXISTS,
                         "a private key labelled '%s' already exists on "
                         "token '%s' (use --force to add another)",
                         label, t->token_label);
    return CSA_OK;
}

/* The security attributes the token must have honoured. */
static csa_err tok_verify_private(tok_ctx *t, CK_OBJECT_HANDLE priv)
{
    static const CK_ATTRIBUTE_TYPE types[] = {CKA_SENSITIVE, CKA_EXTRACTABLE,
                                              CKA_TOKEN, CKA_PRIVATE};
    int v[4];

    tok_get_bools(t, priv, types, 4, v);
    if (v[0] != 1 || v[1] != 0 || v[2] != 1 || v[3] != 1)
        return csa_raise(CSA_ERR_TOKEN,
                         "token '%s' did not honour CKA_SENSITIVE/"
                         "CKA_EXTRACTABLE/CKA_TOKEN/CKA_PRIVATE on a new key; "
                         "the key was destroyed",
                         t->token_label);
    return CSA_OK;
}

/* The mechanism and the public template's size or curve come from the
 * type's row: an RSA row has rsa_bits, a curve row params. */
static csa_err tok_generate_pair(tok_ctx *t, const char *label,
                                 const tok_keytype *kt, const unsigned char *id,
                                 size_t id_len, CK_OBJECT_HANDLE *hpub,
                                 CK_OBJECT_HANDLE *hpriv)
{
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = kt->rsa_bits;
    CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    CK_MECHANISM mech = {kt->gen_mech, NULL, 0};
    CK_ATTRIBUTE pub[8], priv[] = {
                             {CKA_TOKEN, &yes, sizeof(yes)},
                             {CKA_PRIVATE, &yes, sizeof(yes)},
                             {CKA_SENSITIVE, &yes, sizeof(yes)},
                             {CKA_EXTRACTABLE, &no, sizeof(no)},
                             {CKA_SIGN, &yes, sizeof(yes)},
                             {CKA_DECRYPT, &no, sizeof(no)},
                             {CKA_UNWRAP, &no, sizeof(no)},
                             {CKA_DERIVE, &no, sizeof(no)},
                             {CKA_LABEL, (void *)label, strlen(label)},
                             {CKA_ID, (void *)id, id_len},
                         };
    CK_ULONG npub = 0;
    CK_RV rv;

    pub[npub++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
    pub[npub++] = (CK_ATTRIBUTE){CKA_PRIVATE, &no, sizeof(no)};
    pub[npub++] = (CK_ATTRIBUTE){CKA_VERIFY, &yes, sizeof(yes)};
    pub[npub++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
    pub[npub++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};
    if (kt->rsa_bits != 0) {
        pub[npub++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
        pub[npub++] =
            (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent)};
    } else {
        pub[npub++] =
            (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)kt->params, kt->params_len};
    }
    rv = tok_ck_generate_key_pair(t, &mech, pub, npub, priv,
                                  sizeof(priv) / sizeof(priv[0]), hpub, hpriv);
    if (tok_rv_session_lost(rv) && tok_session_reopen(t) == CSA_OK)
        rv = tok_ck_generate_key_pair(t, &mech, pub, npub, priv,
                                      sizeof(priv) / sizeof(priv[0]), hpub,
                                      hpriv);
    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot generate a key pair in the token");
    return CSA_OK;
}

static tok_key *tok_key_alloc(tok_ctx *t, const char *label, tok_key_type type,
                              const unsigned char *id, size_t id_len)
{
    tok_key *k = calloc(1, sizeof(*k));

    if (k == NULL)
        return NULL;
    k->ctx = t;
    k->type = type;
    k->generation = t->generation;
    snprintf(k->label, sizeof(k->label), "%s", label);
    memcpy(k->id, id, id_len < sizeof(k->id) ? id_len : sizeof(k->id));
    k->id_len = id_len < sizeof(k->id) ? id_len : sizeof(k->id);
    return k;
}

csa_err tok_random_id(tok_ctx *t, unsigned char *id, size_t len)
{
    csa_err err = tok_check_usable(t);

    if (err != CSA_OK)
        return err;
    /* An id must be unique, not secret: OpenSSL's generator spares a round
     * trip to the token (a network HSM's 1-5 ms) */
    if (len > INT_MAX || RAND_bytes(id, (int)len) != 1)
        return csa_raise(CSA_ERR_IO, "cannot get random bytes for an id");
    return CSA_OK;
}

csa_err tok_key_generate(tok_ctx *t, const char *label, tok_key_type type,
                         bool allow_duplicate, tok_key **out)
{
    unsigned char id[TOK_ID_LEN];
    csa_err err;

    *out = NULL;
    /* A random CKA_ID (tok_random_id) ties key and certificate. */
    if ((err = tok_random_id(t, id, sizeof(id))) != CSA_OK)
        return err;
    return tok_key_generate_id(t, label, type, id, sizeof(id), allow_duplicate,
                               out);
}

csa_err tok_key_generate_id(tok_ctx *t, const char *label, tok_key_type type,
                            const unsigned char *id, size_t id_len,
                            bool allow_duplicate, tok_key **out)
{
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
    const tok_keytype *kt = tok_keytype_of(type);
    tok_key *k;
    csa_err err = tok_check_usable(t);

    *out = NULL;
    if (err != CSA_OK)
        return err;
    if (kt == NULL || label == NULL || *label == '\0')
        return csa_raise(CSA_ERR_INVALID, "bad key type or empty label");
    if (strlen(label) >= sizeof(((tok_key *)NULL)->label))
        return csa_raise(CSA_ERR_INVALID,
                         "a key label of %zu bytes (at most %zu)",
                         strlen(label), sizeof(((tok_key *)NULL)->label) - 1);
    if (id == NULL || id_len == 0 || id_len > TOK_ID_MAX)
        return csa_raise(CSA_ERR_INVALID, "a key id of %zu bytes (1 to %d)",
                         id_len, TOK_ID_MAX);
    if (!allow_duplicate && (err = tok_label_free(t, label)) != CSA_OK)
        return err;
    err = tok_generate_pair(t, label, kt, id, id_len, &hpub, &hpriv);
    if (err != CSA_OK)
        return err;
    if ((err = tok_verify_private(t, hpriv)) != CSA_OK) {
        (void)tok_ck_destroy(t, hpriv);
        (void)tok_ck_destroy(t, hpub);
        return err;
    }
    if ((k = tok_key_alloc(t, label, type, id, id_len)) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    k->priv = hpriv;
    k->pub = hpub;
    k->pub_known = 1;
    csa_info("pkcs11", "generated %s key '%s' in token '%s'",
             tok_key_type_name(type), label, t->token_label);
    *out = k;
    return CSA_OK;
}

void tok_key_free(tok_key *key)
{
    if (key != NULL)
        EVP_PKEY_free(key->pub_pkey);
    free(key);
}

const char *tok_key_label(const tok_key *key)
{
    return key->label;
}

const unsigned char *tok_key_id(const tok_key *key, size_t *len)
{
    *len = key->id_len;
    return key->id;
}

bool tok_key_handles(const tok_key *key, tok_handle *priv, tok_handle *pub)
{
    if (key->generation != key->ctx->generation || !key->pub_known ||
        key->priv == CK_INVALID_HANDLE || key->pub == CK_INVALID_HANDLE)
        return false;
    *priv = key->priv;
    *pub = key->pub;
    return true;
}

unsigned tok_generation(const tok_ctx *ctx)
{
    return ctx->generation;
}

tok_key_type tok_key_get_type(const tok_key *key)
{
    return key->type;
}
