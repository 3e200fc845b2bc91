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
    CK_TOKEN_INFO info;      /* the chosen token's, read when it was chosen */
    struct timespec info_at; /* when (CLOCK_MONOTONIC) */
};

struct tok_key {
    tok_ctx *ctx;
    CK_OBJECT_HANDLE priv, pub;
    int pub_known;      /* pub was looked up (CK_INVALID_HANDLE: none) */
    EVP_PKEY *pub_pkey; /* the public key, once read; owned */
    unsigned generation;
    tok_key_type type;
    unsigned char id[64];
    size_t id_len;
    char label[129];
};

/* tok_keytype.c: one row per key type, all that pkcs11/ knows of it.
 * Code looks a type up here rather than switching over tok_key_type. */
typedef struct {
    const char *name;           /* configuration name: "p256" */
    const char *alias;          /* also accepted: "ec-p256" */
    const char *display;        /* `list` and messages: "EC P-256" */
    CK_KEY_TYPE ckk;            /* CKA_KEY_TYPE */
    CK_MECHANISM_TYPE gen_mech; /* for C_GenerateKeyPair */
    CK_ULONG rsa_bits;          /* CKA_MODULUS_BITS; 0 for a curve */
    /* CKA_EC_PARAMS: the curve's DER OID (generated with, recognised),
     * and another form some tokens use (recognised only) or NULL. */
    const unsigned char *params, *params_alt;
    size_t params_len, params_alt_len;
    const char *curve;    /* "P-256" (OpenSSL's group name), "Ed25519" */
    int raw_pkey;         /* EVP_PKEY_ED25519...: a raw public key; 0: not */
    size_t point_len;     /* bare CKA_EC_POINT: 04||X||Y, or the raw key */
    size_t sig_len;       /* the one signature length the token returns */
    const char *jws_alg;  /* default JWS alg */
    tok_sig_alg jws_sig;  /* what the token signs that alg with */
    tok_sig_alg x509_sig; /* CSR signatures */
    int x509_nid;         /* and their AlgorithmIdentifier (OpenSSL NID) */
    tok_key_shape shape;  /* what policy/ sees (tok_key_type_shape) */
} tok_keytype;

/* The row of a type; NULL when out of range (never for a tok_key's). */
const tok_keytype *tok_keytype_of(tok_key_type type);
/* Whether some key type has this CKA_KEY_TYPE. */
bool tok_keytype_knows_ckk(CK_KEY_TYPE ckk);
/* The curve named by a CKA_EC_PARAMS value (the DER OID, or the
 * PrintableString "edwards25519" some tokens use); CSA_ERR_UNSUPPORTED for
 * others. */
csa_err tok_ec_curve_of(const unsigned char *params, size_t len,
                        tok_key_type *out);
/* The RSA key type of a modulus of bits; CSA_ERR_UNSUPPORTED for others. */
csa_err tok_rsa_type_of(size_t bits, tok_key_type *out);
/* "EC P-256", "Ed25519", "RSA 3072"... */
const char *tok_key_display_name(tok_key_type type);

/* tok_iface.c: the only calls into the CK_FUNCTION_LIST.  Each logs the
 * call and its CK_RV at debug level. */
CK_RV tok_ck_initialize(tok_ctx *t);
CK_RV tok_ck_finalize(tok_ctx *t);
CK_RV tok_ck_get_info(tok_ctx *t, CK_INFO *info);
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
/* Every match of tmpl, however many (C_FindObjects until it returns none;
 * *out malloc'd, the caller frees): CKR_BUFFER_TOO_SMALL past max. */
CK_RV tok_ck_find_grow(tok_ctx *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ULONG max,
                       CK_OBJECT_HANDLE **out, CK_ULONG *found);
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

/* tok_object.c: attribute helpers.  Every length a module reports is
 * checked against the buffer it describes: a module that ignores the spec
 * gets an error naming the attribute, never an overrun. */

/* Largest variable-length attribute csagent reads (a certificate chain
 * member, an RSA modulus, an EC point are all far smaller). */
#define TOK_ATTR_MAX (1UL << 20)
/* A first read into a buffer of this size answers most attributes
 * (certificates, points, moduli) in one call; longer values take a length
 * query and a read (tok_get_attr_alloc). */
#define TOK_ATTR_GUESS 4096

/* "CKA_ID" etc. for messages; "attribute 0x..." for others (thread-local
 * buffer). */
const char *tok_attr_name(CK_ATTRIBUTE_TYPE type);
csa_err tok_find_one(tok_ctx *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                     CK_OBJECT_HANDLE *out, const char *what);
/* Reads a variable-length attribute into a malloc'd buffer (NUL-terminated
 * one byte past *len; the caller frees): one call for values up to 4 KiB,
 * else a length query and a read.  Lengths above TOK_ATTR_MAX, an
 * attribute the token hides, and a second read that reports more than the
 * first are errors naming the attribute. */
csa_err tok_get_attr_alloc(tok_ctx *t, CK_OBJECT_HANDLE o,
                           CK_ATTRIBUTE_TYPE type, unsigned char **val,
                           size_t *len);

/* What tok_get_attr_capped found. */
typedef enum {
    TOK_ATTR_UNREADABLE = 0, /* hidden, absent, or the call failed */
    TOK_ATTR_FITS,           /* buf holds all *len bytes */
    TOK_ATTR_TOO_LONG        /* buf holds the first cap bytes of *len */
} tok_attr_fit;
/* Reads an attribute into buf[cap].  A value longer than cap (or a module
 * that says so) is read whole through tok_get_attr_alloc, and its first cap
 * bytes are kept; *len is the full length then.  Raises nothing for
 * TOK_ATTR_FITS; the caller decides what the other outcomes mean. */
tok_attr_fit tok_get_attr_capped(tok_ctx *t, CK_OBJECT_HANDLE o,
                                 CK_ATTRIBUTE_TYPE type, void *buf, size_t cap,
                                 size_t *len);
/* Reads a CK_ULONG-valued attribute (CKA_CLASS, CKA_KEY_TYPE,
 * CKA_MODULUS_BITS...).  A length other than sizeof(CK_ULONG) is an error
 * naming the attribute. */
csa_err tok_get_ulong(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
                      CK_ULONG *out);
/* 1, 0, or -1 when the attribute is unreadable or not one CK_BBOOL. */
int tok_get_bool(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type);
/* Largest template tok_get_attrs_fit and tok_get_bools take. */
#define TOK_BATCH_MAX 16
/* Reads every attribute of tmpl (pValue and ulValueLen: each buffer and
 * its size) in one C_GetAttributeValue.  True when the call succeeded and
 * every length fits its buffer; false otherwise (an attribute the object
 * lacks or hides, a value longer than its buffer, a module that reports
 * more than it may have written), and then the caller reads the
 * attributes one by one with the helpers above, which check each length
 * and name the attribute in their errors. */
bool tok_get_attrs_fit(tok_ctx *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *tmpl,
                       CK_ULONG n);
/* tok_get_bool of each of types[n] into out[n], in one call when the
 * token answers all (those it does not are read alone). */
void tok_get_bools(tok_ctx *t, CK_OBJECT_HANDLE o,
                   const CK_ATTRIBUTE_TYPE *types, size_t n, int *out);
csa_err tok_key_refresh(tok_key *key);
/* Looks up the public key object of a key (tok_find.c); none found is not
 * an error (k->pub stays CK_INVALID_HANDLE). */
csa_err tok_key_find_pub(tok_key *k);

/* tok_pub.c: CKA_EC_POINT of a key of this type, bare (04||X||Y, or the 32
 * bytes of an Ed25519 key) or in a DER OCTET STRING, told apart by the
 * curve's exact lengths.  *pt points into in.  Anything else is an error
 * naming CKA_EC_POINT. */
csa_err tok_ec_point_decode(tok_key_type type, const unsigned char *in,
                            size_t len, const unsigned char **pt,
                            size_t *ptlen);

/* The search template for a private key named by a label or a pkcs11:
 * URI (object= and/or id=): CKA_CLASS is tmpl[0] already (*n == 1); adds
 * CKA_LABEL and/or CKA_ID.  *uri (free with p11_kit_uri_free, also on
 * error) is the parsed URI, NULL for a label; the template points into it.
 * No token is touched (fuzz target). */
csa_err tok_key_template(const char *label_or_uri, P11KitUri **uri,
                         CK_ATTRIBUTE tmpl[3], CK_ULONG *n);

#endif
