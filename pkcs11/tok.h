/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tok: the only code in csagent that speaks PKCS#11.  Callers hold opaque
 * handles (tok_ctx, tok_key) and never see a session, a CK_RV or the
 * PKCS#11 header; errors come back as csa_err with a sentence in
 * csa_errmsg().
 *
 * Model: one module, one token (chosen by an RFC 7512 URI), one read-write
 * session, one login.  A session lost to CKR_SESSION_HANDLE_INVALID,
 * CKR_DEVICE_REMOVED or CKR_TOKEN_NOT_PRESENT is reopened once and the
 * operation retried once; a lost login is restored by re-reading the PIN
 * file (never by asking the user, never after a failed login).
 */
#ifndef TOK_H
#define TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "csa_err.h"
#include "csa_secret.h"

typedef struct tok_ctx tok_ctx;
typedef struct tok_key tok_key;
typedef unsigned long tok_handle;

/* CKA_IDs csagent makes are TOK_ID_LEN random bytes; ids up to TOK_ID_MAX
 * bytes are read from a token (longer ones are another program's). */
#define TOK_ID_LEN 16
#define TOK_ID_MAX 64

typedef enum {
    TOK_KEY_RSA3072 = 0,
    TOK_KEY_RSA4096,
    TOK_KEY_EC_P256,
    TOK_KEY_EC_P384,
    TOK_KEY_EC_P521,
    TOK_KEY_ED25519,
    TOK_KEY__MAX
} tok_key_type;

typedef enum {
    TOK_SIG_ECDSA_SHA256 = 0,
    TOK_SIG_ECDSA_SHA384,
    TOK_SIG_ECDSA_SHA512,
    TOK_SIG_RSA_PKCS1_SHA256,
    TOK_SIG_RSA_PKCS1_SHA384,
    TOK_SIG_RSA_PSS_SHA256,
    TOK_SIG_RSA_PSS_SHA384,
    TOK_SIG_EDDSA,
    TOK_SIG__MAX
} tok_sig_alg;

/* ECDSA signature encoding: raw r||s (JOSE) or DER ECDSA-Sig-Value (X.509).
 * Ignored for RSA and EdDSA. */
typedef enum { TOK_ENC_RAW = 0, TOK_ENC_DER } tok_sig_enc;

typedef enum {
    TOK_HMAC_SHA1 = 0,
    TOK_HMAC_SHA256,
    TOK_HMAC_SHA512,
    TOK_HMAC__MAX
} tok_hmac_alg;

typedef enum {
    TOK_CLASS_OTHER = 0,
    TOK_CLASS_PRIVATE_KEY,
    TOK_CLASS_PUBLIC_KEY,
    TOK_CLASS_SECRET_KEY,
    TOK_CLASS_CERTIFICATE,
    TOK_CLASS__MAX
} tok_class;

/* What `list` shows of one object.  Booleans are -1 when the token does not
 * reveal the attribute. */
typedef struct {
    tok_handle handle;
    tok_class cls;
    char label[129];
    unsigned char id[64];
    size_t id_len;
    char type[32]; /* "RSA 3072", "EC P-256", "Ed25519", "secret", "X.509" */
    int sensitive, extractable, always_sensitive, never_extractable;
    int token, private_;
    char subject[256]; /* certificates: one-line subject */
    time_t not_after;  /* certificates: 0 if unknown */
} tok_obj_info;

/* Parses a key type name: rsa3072, rsa4096, p256 (ec-p256), p384, p521,
 * ed25519. */
csa_err tok_key_type_parse(const char *name, tok_key_type *out);
/* The configuration name; "unknown" when out of range. */
const char *tok_key_type_name(tok_key_type type);

/* A key type as policy/ sees a public key (its pol_key): the key type
 * name of the policy file ("rsa", "ecdsa", "ed25519"), the modulus or
 * field bits, and the OpenSSL NID of an ECDSA curve (else 0). */
typedef struct {
    const char *policy_name;
    unsigned bits;
    int curve_nid;
} tok_key_shape;
/* Borrowed, static; NULL when type is out of range. */
const tok_key_shape *tok_key_type_shape(tok_key_type type);

/* Loads the module and selects the token.  module is a file path, or the
 * name of a module registered with p11-kit ("p11-kit:NAME" or a name
 * without '/'), or NULL to use the URI's module-path/module-name.  uri is an
 * RFC 7512 URI whose token attributes (token, serial, manufacturer, model)
 * must match exactly one token.  The caller frees with tok_close(). */
csa_err tok_open(const char *module, const char *uri, tok_ctx **out);
/* Logs out, closes the session and finalizes the module.  Accepts NULL. */
void tok_close(tok_ctx *ctx);

/* What a module says of itself (C_GetInfo), blank padding trimmed. */
typedef struct {
    char manufacturer[33];
    char description[33];
    unsigned lib_major, lib_minor;           /* libraryVersion */
    unsigned cryptoki_major, cryptoki_minor; /* cryptokiVersion */
} tok_module_info;

/* Loads the module as tok_open() does (module, or the URI's module-path /
 * module-name when module is NULL), asks C_GetInfo and finalizes it again.
 * No token is chosen, no session opened, no PIN read: `csagent --version`
 * may call it on any machine that has the configuration. */
csa_err tok_module_info_get(const char *module, const char *uri,
                            tok_module_info *out);

/* Initialises a fresh token for tests and first set-up: the first slot
 * with an uninitialised token gets the label and SO PIN, then the user PIN
 * is set.  PINs come from files (or "fd:N"), never argv. */
csa_err tok_init_token(const char *module, const char *label,
                       const char *so_pin_source, const char *user_pin_source);

/* Logs in as the user with the PIN read from pin_source (a file path or
 * "fd:N").  Refuses before C_Login when the token reports the PIN locked,
 * on its final try or to be changed.  A failed C_Login is reported and
 * never retried: later calls on this ctx fail at once.  The PIN buffer is
 * wiped; only the source path is kept, to restore a login lost with the
 * device. */
csa_err tok_login(tok_ctx *ctx, const char *pin_source);
/* The token label (for building URIs). */
const char *tok_token_label(const tok_ctx *ctx);

/* Generates a key pair in the token.  The private key is CKA_TOKEN,
 * CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_SIGN only; the
 * public and private keys share a fresh random CKA_ID and the label.  The
 * attributes are read back and the pair destroyed if the token did not
 * honour them.  Refuses when a private key with that label exists unless
 * allow_duplicate.  The caller frees *out with tok_key_free(). */
csa_err tok_key_generate(tok_ctx *ctx, const char *label, tok_key_type type,
                         bool allow_duplicate, tok_key **out);
/* The same with a CKA_ID the caller chose (and journalled) beforehand, so
 * that whatever a crash inside C_GenerateKeyPair leaves can be attributed
 * to it by id and label. */
csa_err tok_key_generate_id(tok_ctx *ctx, const char *label, tok_key_type type,
                            const unsigned char *id, size_t id_len,
                            bool allow_duplicate, tok_key **out);
/* len random bytes for a new CKA_ID, from OpenSSL's generator: an id
 * must be unique, not secret, and this spares a call to the token. */
csa_err tok_random_id(tok_ctx *ctx, unsigned char *id, size_t len);
/* Finds exactly one private key by label, or by a pkcs11: URI (object=,
 * id=).  More than one match is CSA_ERR_AMBIGUOUS.  Caller frees. */
csa_err tok_key_find(tok_ctx *ctx, const char *label_or_uri, tok_key **out);
/* Finds the private key with this CKA_ID.  Caller frees. */
csa_err tok_key_find_id(tok_ctx *ctx, const unsigned char *id, size_t id_len,
                        tok_key **out);
void tok_key_free(tok_key *key);

const char *tok_key_label(const tok_key *key);
/* The handles of a key this process generated (tok_key_generate*): its
 * private and public objects.  False when either is unknown, or the
 * session was reopened since (a handle may then name another object). */
bool tok_key_handles(const tok_key *key, tok_handle *priv, tok_handle *pub);
/* Counts the session reopenings: a handle this process got while it was
 * g still names the same object only while it is still g. */
unsigned tok_generation(const tok_ctx *ctx);
/* The key's CKA_ID; borrowed. */
const unsigned char *tok_key_id(const tok_key *key, size_t *len);
tok_key_type tok_key_get_type(const tok_key *key);
/* The public key as an OpenSSL key; caller frees with EVP_PKEY_free. */
csa_err tok_key_public(tok_key *key, EVP_PKEY **out);
/* The public JWK, canonical for RFC 7638 (required members, sorted, no
 * whitespace).  *out is malloc'd; caller frees. */
csa_err tok_key_jwk(tok_key *key, char **out);
/* The JWS alg the key signs with by default (ES256, ES384, ES512, RS256,
 * EdDSA); "PS256" may be chosen for RSA keys. */
const char *tok_key_default_jws_alg(const tok_key *key);
/* Maps a JWS alg name to a signature algorithm for this key. */
csa_err tok_key_sig_for_jws(const tok_key *key, const char *jws_alg,
                            tok_sig_alg *out);

/* Signs data (hashed on the host; the token signs the digest, or the data
 * itself for EdDSA).  *sig is malloc'd; caller frees. */
csa_err tok_sign(tok_key *key, tok_sig_alg alg, tok_sig_enc enc,
                 const unsigned char *data, size_t len, unsigned char **sig,
                 size_t *siglen);
/* Signs an X509_REQ inside the token: sets the signature algorithm, signs
 * the to-be-signed part and attaches the signature. */
csa_err tok_sign_req(tok_key *key, X509_REQ *req);

/* Imports an HMAC secret (generic secret: sensitive, not extractable,
 * CKA_SIGN only) under label.  Refuses an existing label unless replace. */
csa_err tok_secret_import(tok_ctx *ctx, const char *label,
                          const csa_secret *secret, bool replace);
/* HMAC over data with the secret key labelled label, inside the token.
 * out must hold 64 bytes; *outlen receives the MAC length. */
csa_err tok_hmac(tok_ctx *ctx, const char *label, tok_hmac_alg alg,
                 const unsigned char *data, size_t len, unsigned char *out,
                 size_t *outlen);

/* Stores cert as a CKO_CERTIFICATE/CKC_X_509 token object with CKA_VALUE,
 * CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER, and the given CKA_ID and
 * label.  *handle may be NULL. */
csa_err tok_cert_store(tok_ctx *ctx, X509 *cert, const char *label,
                       const unsigned char *id, size_t id_len,
                       tok_handle *handle);
/* Reads the certificate object's value.  Caller frees with X509_free. */
csa_err tok_cert_get(tok_ctx *ctx, tok_handle handle, X509 **out);
/* The same, with the object's CKA_ID (in one C_GetAttributeValue where
 * the token answers both).  *id_len is 0 when the object has no id or one
 * longer than TOK_ID_MAX. */
csa_err tok_cert_get_id(tok_ctx *ctx, tok_handle handle, X509 **out,
                        unsigned char id[TOK_ID_MAX], size_t *id_len);
/* The certificate of a handle kept since an earlier search, if handle still
 * names a certificate labelled label with that CKA_ID (tok_obj_is): both
 * checked and read in one C_GetAttributeValue where the token answers all
 * four attributes at once.  CSA_ERR_NOT_FOUND (nothing raised) when it no
 * longer is that object. */
csa_err tok_cert_get_if(tok_ctx *ctx, tok_handle handle, const char *label,
                        const unsigned char *id, size_t id_len, X509 **out);

/* Lists objects, optionally filtered by label (NULL: any), id (NULL: any)
 * and class (TOK_CLASS_OTHER: any).  *out is malloc'd; caller frees. */
csa_err tok_objects(tok_ctx *ctx, const char *label, const unsigned char *id,
                    size_t id_len, tok_class cls, tok_obj_info **out,
                    size_t *n);
/* Only the handles of the objects tok_objects would list: one search, no
 * attribute reads.  *out is malloc'd; caller frees. */
csa_err tok_find_handles(tok_ctx *ctx, const char *label,
                         const unsigned char *id, size_t id_len, tok_class cls,
                         tok_handle **out, size_t *n);
/* One object under a label, as tok_label_census lists it. */
typedef struct {
    tok_handle handle;
    tok_class cls;
    unsigned char id[TOK_ID_MAX];
    size_t id_len; /* 0: none, or one longer than TOK_ID_MAX */
} tok_census;
/* Every object labelled label (any class) with its class and CKA_ID: one
 * search, then one C_GetAttributeValue each.  *out is malloc'd; the caller
 * frees. */
csa_err tok_label_census(tok_ctx *ctx, const char *label, tok_census **out,
                         size_t *n);
/* A key from the handle of its private half, as a census found it, and of
 * its public half (CK_INVALID_HANDLE: looked up when needed), without a
 * search.  The caller frees *out with tok_key_free(). */
csa_err tok_key_from_handles(tok_ctx *ctx, tok_handle priv, tok_handle pub,
                             tok_key **out);
/* Whether handle still names an object of class cls labelled label with
 * that CKA_ID (one C_GetAttributeValue): before acting on a handle kept
 * since an earlier search, on a token that other programs change and
 * whose module may give a deleted object's handle to a new one. */
bool tok_obj_is(tok_ctx *ctx, tok_handle handle, tok_class cls,
                const char *label, const unsigned char *id, size_t id_len);
/* An object's CKA_CLASS (TOK_CLASS_OTHER for a class csagent does not
 * name).  One C_GetAttributeValue. */
csa_err tok_obj_class(tok_ctx *ctx, tok_handle handle, tok_class *out);
/* An object, its class, CKA_LABEL and CKA_ID (tok_labelled_find). */
typedef struct {
    tok_handle handle;
    tok_class cls;
    char label[129];
    unsigned char id[TOK_ID_MAX];
    size_t id_len; /* 0: none, or one longer than TOK_ID_MAX */
} tok_labelled;
/* Most objects tok_labelled_find lists. */
#define TOK_LABELLED_MAX 1000000
/* Every object of class cls (TOK_CLASS_OTHER: of every class) with its
 * class, label and id, sorted by label: one search however many objects,
 * then one C_GetAttributeValue each.  For looking up many labels at once
 * (a daemon planning or renewing a thousand identities) where a search per
 * label would walk the token each time.  Objects with a label over 128
 * bytes are left out; so are those whose class or label could not be read,
 * counted in *unread (may be NULL): a list with any is incomplete.  A
 * snapshot: what changes on the token afterwards is not in it, so a handle
 * taken from it is read back (tok_obj_is) before it is acted on.  *out is
 * malloc'd; the caller frees. */
csa_err tok_labelled_find(tok_ctx *ctx, tok_class cls, tok_labelled **out,
                          size_t *n, size_t *unread);
/* The entries of v[n] (sorted as tok_labelled_find sorts) labelled label:
 * their number, the first at *first. */
size_t tok_labelled_range(const tok_labelled *v, size_t n, const char *label,
                          size_t *first);
csa_err tok_obj_relabel(tok_ctx *ctx, tok_handle handle, const char *label);
csa_err tok_obj_destroy(tok_ctx *ctx, tok_handle handle);
/* Copies an object inside the token under another label (C_CopyObject; a
 * key's value never leaves the token).  The source is left untouched, so
 * unlike a relabel in place a crash cannot lose it.  CSA_ERR_UNSUPPORTED
 * when the module or the object does not allow copies.  *out may be
 * NULL. */
csa_err tok_obj_copy(tok_ctx *ctx, tok_handle handle, const char *label,
                     tok_handle *out);
/* Gives the object another label by copy, then delete (tok_obj_copy), or
 * by a relabel in place when the token does not copy it.  A crash between
 * the copy and the delete leaves both; callers that resume a move check
 * for the copy first. */
csa_err tok_obj_move(tok_ctx *ctx, tok_handle handle, const char *label);

/* SHA-256 over what the token shows of an object (class, key type, curve,
 * public values, certificate value; never a secret value): names objects
 * with no label and no id (`csagent orphans`).  Objects the token shows
 * alike get the same fingerprint. */
csa_err tok_obj_fingerprint(tok_ctx *ctx, tok_handle handle,
                            unsigned char out[32]);

/* Reads the security attributes of a private key, for tests and `list`. */
csa_err tok_key_info(tok_key *key, tok_obj_info *out);
/* Tries to read the private key's CKA_VALUE or CKA_PRIVATE_EXPONENT; for
 * tests that prove the token refuses.  Returns CSA_OK only if the token
 * handed out secret material (which must never happen). */
csa_err tok_key_try_read_private(tok_key *key);

#endif
