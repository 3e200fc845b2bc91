/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key types csagent generates and uses: one row each, holding all that
 * pkcs11/ and agent/ need to know about a type (its names, how the token
 * makes and names it, how long its points and signatures are, how it signs
 * a JWS and a CSR, and what policy/ calls it).  Code elsewhere looks
 * things up here instead of switching over tok_key_type, so a new type
 * (Ed448, ML-DSA) is a new tok_key_type and a new row.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "tok_internal.h"

/* CKA_EC_PARAMS: the curve's OID in DER (PKCS#11 2.40 §2.3.3). */
static const unsigned char oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char oid_p384[] = {0x06, 0x05, 0x2b, 0x81,
                                         0x04, 0x00, 0x22};
static const unsigned char oid_p521[] = {0x06, 0x05, 0x2b, 0x81,
                                         0x04, 0x00, 0x23};
static const unsigned char oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
/* PKCS#11 3.0 §2.3.10 also allows the curve name as a PrintableString. */
static const unsigned char name_ed25519[] = {
    0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'};

#define TOK_PARAMS(a) .params = (a), .params_len = sizeof(a)
#define TOK_PARAMS_ALT(a) .params_alt = (a), .params_alt_len = sizeof(a)
/* An ECDSA curve of w-byte coordinates: its public point is 04||X||Y
 * (SEC 1 §2.3.3), its signature r||s (PKCS#11 2.40 §2.3.1). */
#define TOK_ECDSA_WIDTH(w) .point_len = 1 + 2 * (w), .sig_len = 2 * (w)

static const tok_keytype tok_keytypes[TOK_KEY__MAX] = {
    [TOK_KEY_RSA3072] =
        {
            .name = "rsa3072",
            .alias = "rsa-3072",
            .display = "RSA 3072",
            .ckk = CKK_RSA,
            .gen_mech = CKM_RSA_PKCS_KEY_PAIR_GEN,
            .rsa_bits = 3072,
            .sig_len = 384, /* the modulus */
            .jws_alg = "RS256",
            .jws_sig = TOK_SIG_RSA_PKCS1_SHA256,
            .x509_sig = TOK_SIG_RSA_PKCS1_SHA256,
            .x509_nid = NID_sha256WithRSAEncryption,
            .shape = {"rsa", 3072, 0},
        },
    [TOK_KEY_RSA4096] =
        {
            .name = "rsa4096",
            .alias = "rsa-4096",
            .display = "RSA 4096",
            .ckk = CKK_RSA,
            .gen_mech = CKM_RSA_PKCS_KEY_PAIR_GEN,
            .rsa_bits = 4096,
            .sig_len = 512,
            .jws_alg = "RS256",
            .jws_sig = TOK_SIG_RSA_PKCS1_SHA256,
            .x509_sig = TOK_SIG_RSA_PKCS1_SHA256,
            .x509_nid = NID_sha256WithRSAEncryption,
            .shape = {"rsa", 4096, 0},
        },
    [TOK_KEY_EC_P256] =
        {
            .name = "p256",
            .alias = "ec-p256",
            .display = "EC P-256",
            .ckk = CKK_EC,
            .gen_mech = CKM_EC_KEY_PAIR_GEN,
            TOK_PARAMS(oid_p256),
            .curve = "P-256",
            TOK_ECDSA_WIDTH(32),
            .jws_alg = "ES256",
            .jws_sig = TOK_SIG_ECDSA_SHA256,
            .x509_sig = TOK_SIG_ECDSA_SHA256,
            .x509_nid = NID_ecdsa_with_SHA256,
            .shape = {"ecdsa", 256, NID_X9_62_prime256v1},
        },
    [TOK_KEY_EC_P384] =
        {
            .name = "p384",
            .alias = "ec-p384",
            .display = "EC P-384",
            .ckk = CKK_EC,
            .gen_mech = CKM_EC_KEY_PAIR_GEN,
            TOK_PARAMS(oid_p384),
            .curve = "P-384",
            TOK_ECDSA_WIDTH(48),
            .jws_alg = "ES384",
            .jws_sig = TOK_SIG_ECDSA_SHA384,
            .x509_sig = TOK_SIG_ECDSA_SHA384,
            .x509_nid = NID_ecdsa_with_SHA384,
            .shape = {"ecdsa", 384, NID_secp384r1},
        },
    [TOK_KEY_EC_P521] =
        {
            .name = "p521",
            .alias = "ec-p521",
            .display = "EC P-521",
            .ckk = CKK_EC,
            .gen_mech = CKM_EC_KEY_PAIR_GEN,
            TOK_PARAMS(oid_p521),
            .curve = "P-521",
            TOK_ECDSA_WIDTH(66),
            .jws_alg = "ES512",
            .jws_sig = TOK_SIG_ECDSA_SHA512,
            .x509_sig = TOK_SIG_ECDSA_SHA512,
            .x509_nid = NID_ecdsa_with_SHA512,
            .shape = {"ecdsa", 521, NID_secp521r1},
        },
    [TOK_KEY_ED25519] =
        {
            .name = "ed25519",
            .alias = "eddsa",
            .display = "Ed25519",
            .ckk = CKK_EC_EDWARDS,
            .gen_mech = CKM_EC_EDWARDS_KEY_PAIR_GEN,
            TOK_PARAMS(oid_ed25519),
            TOK_PARAMS_ALT(name_ed25519),
            .curve = "Ed25519",
            .raw_pkey = EVP_PKEY_ED25519,
            .point_len = 32,    /* RFC 8032 §5.1.5 */
            .sig_len = 64,      /* RFC 8032 §5.1.6 */
            .jws_alg = "EdDSA", /* RFC 8037 §3.1 */
            .jws_sig = TOK_SIG_EDDSA,
            .x509_sig = TOK_SIG_EDDSA,
            .x509_nid = NID_ED25519, /* RFC 8410 §3 */
            .shape = {"ed25519", 256, 0},
        },
};

const tok_keytype *tok_keytype_of(tok_key_type type)
{
    if ((unsigned)type >= TOK_KEY__MAX || tok_keytypes[type].name == NULL)
        return NULL;
    return &tok_keytypes[type];
}

/* What tok_keytype_join lists of each row. */
typedef enum { TOK_JOIN_NAME, TOK_JOIN_CURVE, TOK_JOIN_RSA_BITS } tok_join;

/* For messages: one item per row that has one, ", "-separated, the last
 * after `last` (" or ", or ", ").  Cut to size, never overrun. */
static const char *tok_keytype_join(char *buf, size_t size, tok_join what,
                                    const char *last)
{
    char items[TOK_KEY__MAX][24]; /* a name, a curve, a CK_ULONG */
    size_t n = 0, i, len;

    for (i = 0; i < TOK_KEY__MAX; i++) {
        const tok_keytype *kt = &tok_keytypes[i];

        if (what == TOK_JOIN_NAME && kt->name != NULL)
            snprintf(items[n++], sizeof(items[0]), "%s", kt->name);
        else if (what == TOK_JOIN_CURVE && kt->params != NULL)
            snprintf(items[n++], sizeof(items[0]), "%s", kt->curve);
        else if (what == TOK_JOIN_RSA_BITS && kt->rsa_bits != 0)
            snprintf(items[n++], sizeof(items[0]), "%lu",
                     (unsigned long)kt->rsa_bits);
    }
    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s",
                 i == 0       ? ""
                 : i + 1 == n ? last
                              : ", ",
                 items[i]);
    }
    return buf;
}

csa_err tok_key_type_parse(const char *name, tok_key_type *out)
{
    char names[128];
    int i;

    for (i = 0; i < TOK_KEY__MAX; i++) {
        const tok_keytype *kt = &tok_keytypes[i];

        if ((kt->name != NULL && strcmp(name, kt->name) == 0) ||
            (kt->alias != NULL && strcmp(name, kt->alias) == 0)) {
            *out = (tok_key_type)i;
            return CSA_OK;
        }
    }
    return csa_raise(
        CSA_ERR_INVALID, "unknown key type '%s' (expected %s)", name,
        tok_keytype_join(names, sizeof(names), TOK_JOIN_NAME, " or "));
}

const char *tok_key_type_name(tok_key_type type)
{
    const tok_keytype *kt = tok_keytype_of(type);

    return kt != NULL ? kt->name : "unknown";
}

const char *tok_key_display_name(tok_key_type type)
{
    const tok_keytype *kt = tok_keytype_of(type);

    return kt != NULL ? kt->display : "unknown";
}

const tok_key_shape *tok_key_type_shape(tok_key_type type)
{
    const tok_keytype *kt = tok_keytype_of(type);

    return kt != NULL ? &kt->shape : NULL;
}

bool tok_keytype_knows_ckk(CK_KEY_TYPE ckk)
{
    int i;

    for (i = 0; i < TOK_KEY__MAX; i++) {
        if (tok_keytypes[i].name != NULL && tok_keytypes[i].ckk == ckk)
            return true;
    }
    return false;
}

static bool tok_params_equal(const unsigned char *a, size_t alen,
                             const unsigned char *b, size_t blen)
{
    return a != NULL && alen == blen && memcmp(a, b, blen) == 0;
}

/* Compared whole: a last OID byte alone would take other curves for ours. */
csa_err tok_ec_curve_of(const unsigned char *params, size_t len,
                        tok_key_type *out)
{
    char curves[128];
    int i;

    for (i = 0; i < TOK_KEY__MAX; i++) {
        const tok_keytype *kt = &tok_keytypes[i];

        if (tok_params_equal(kt->params, kt->params_len, params, len) ||
            tok_params_equal(kt->params_alt, kt->params_alt_len, params, len)) {
            *out = (tok_key_type)i;
            return CSA_OK;
        }
    }
    return csa_raise(
        CSA_ERR_UNSUPPORTED,
        "the curve of this key (CKA_EC_PARAMS of %zu bytes) is "
        "not supported (%s)",
        len, tok_keytype_join(curves, sizeof(curves), TOK_JOIN_CURVE, ", "));
}

csa_err tok_rsa_type_of(size_t bits, tok_key_type *out)
{
    char sizes[64];
    int i;

    for (i = 0; i < TOK_KEY__MAX; i++) {
        if (tok_keytypes[i].rsa_bits != 0 && tok_keytypes[i].rsa_bits == bits) {
            *out = (tok_key_type)i;
            return CSA_OK;
        }
    }
    return csa_raise(
        CSA_ERR_UNSUPPORTED, "RSA key of %zu bits is not supported (%s)", bits,
        tok_keytype_join(sizes, sizeof(sizes), TOK_JOIN_RSA_BITS, " or "));
}
