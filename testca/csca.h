/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csca: the project's small, strict ACME CA (RFC 8555 server side plus the
 * challenge types of draft-ietf-acme-client-05).  One internal header for
 * the whole program; every prefix names the file that defines it.
 *
 * Threading: libmicrohttpd runs one internal polling thread, so every
 * request handler runs on that one thread and the state needs no lock.
 */
#ifndef CSCA_H
#define CSCA_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define CSCA_MAX_BODY (64 * 1024)
#define CSCA_OTP_MAX_FAILS 3
#define CSCA_HOTP_WINDOW 10

enum csca_misissue {
    MIS_NONE,
    MIS_WRONG_EKU,
    MIS_LONG_LIFETIME,
    MIS_OTHER_KEY,
    MIS_LATE_NOT_AFTER
};

/* Options of `csca serve`; filled by main.c, read everywhere. */
struct csca_opts {
    const char *state_dir;
    const char *registry;  /* registry file; default <state>/registry.json */
    const char *port_file; /* write the bound port here */
    const char *otp_program;
    const char *default_org;     /* organisation of accounts without EAB */
    const char *mgmt_token_file; /* default <state>/mgmt.token */
    const char *tsa_port_file;   /* write the plain-HTTP TSA port here */
    const char *tsa_policy;      /* TSA policy OID (dotted); NULL: default */
    unsigned port;
    unsigned tsa_port;
    bool tsa_listen;   /* --tsa-port given: serve /tsa on plain HTTP too */
    long validity;     /* seconds */
    long min_validity; /* seconds; 0: newOrder notAfter is refused */
    bool require_eab;
    bool always_valid;
    bool ari_past;
    /* tests/csca/fuzz_handlers only: state_save keeps the state in memory
     * (serialising and fsyncing it after every request made that harness
     * spend most of its time outside the handlers it fuzzes) */
    bool memory_only;
    enum csca_misissue misissue;
    long otp_rate; /* OTP answers per account per minute */
};

/* The process-wide context.  Owned by main.c; lives until exit. */
struct csca_ctx {
    struct csca_opts o;
    json_object *state;    /* persisted ACME objects (state.c) */
    json_object *registry; /* operator registry (registry.c) */
    json_object *stats;    /* request counters (http.c) */
    X509 *root, *inter, *tls_root;
    EVP_PKEY *inter_key;
    char *root_pem, *inter_pem;
    char *tls_cert_pem, *tls_key_pem;
};
extern struct csca_ctx CS;

/* b64.c: encodings and randomness.  Returned strings are the caller's. */
char *b64url_enc(const uint8_t *in, size_t len);
/* Strict: no padding, only the base64url alphabet.  -1 on bad input. */
/* The output is malloc'd and always NUL-terminated (not counted). */
int b64url_dec(const char *in, uint8_t **out, size_t *outlen);
int b64std_dec(const char *in, uint8_t **out, size_t *outlen);
char *b64std_enc(const uint8_t *in, size_t len);
int b32_dec(const char *in, uint8_t **out, size_t *outlen);
char *rand_token(size_t nbytes); /* base64url of nbytes random bytes */
char *hex_enc(const uint8_t *in, size_t len);

/* nonce.c: single-use nonces with expiry, in memory only. */
char *nonce_new(void);
bool nonce_use(const char *nonce);

/* http request/response as the handlers see them (http.c). */
struct req {
    bool plain; /* came to the plain-HTTP TSA listener */
    const char *method;
    const char *path;
    const char *query_certid;  /* ?certid= for management endpoints */
    const char *authorization; /* Authorization header, or NULL */
    char base[96];             /* "https://host:port" */
    const char *ctype;
    const uint8_t *body;
    size_t len;
};

struct resp {
    int status;
    char *body;
    size_t len; /* body length when binary; 0: strlen(body) */
    const char *ctype;
    char *location;
    char *link_up;
    long retry_after;             /* <0: none */
    const char *ptype;            /* problem type for the log */
    const char *www_authenticate; /* challenge of a 401, or NULL */
};

void resp_json(struct resp *rs, int status, json_object *obj); /* consumes */
void resp_problem(struct resp *rs, int status, const char *type,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void resp_problem_obj(struct resp *rs, int status, json_object *prob);
void resp_free(struct resp *rs); /* what the handler allocated in rs */
char *url_of(const struct req *rq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Route one request (rq->base set, body NUL-terminated or not) to its
 * handler; too_big: the body exceeded CSCA_MAX_BODY.  Returns the
 * endpoint's name (static).  The caller frees rs with resp_free. */
const char *csca_dispatch(const struct req *rq, struct resp *rs, bool too_big);
int http_serve(void);

/* init.c: everything `csca serve` loads or creates before it listens. */
int csca_init(void);

/* jws.c: the JWS checks of RFC 8555 §6.2-6.3. */
enum jws_key { JWS_KID, JWS_JWK, JWS_EITHER };
struct jws {
    json_object *prot;    /* protected header; owned */
    json_object *payload; /* NULL for POST-as-GET; owned */
    json_object *jwk;     /* borrowed from prot, or account's key */
    json_object *acct;    /* borrowed from state, NULL for jwk requests */
    const char *acct_id;
    EVP_PKEY *key;
    char *raw_payload; /* decoded payload text; owned */
};
int jws_check(const struct req *rq, struct resp *rs, enum jws_key mode,
              struct jws *out);
void jws_clear(struct jws *j);
EVP_PKEY *jwk_to_pkey(json_object *jwk, char *why, size_t whylen);
char *jwk_thumbprint(json_object *jwk); /* base64url SHA-256, or NULL */
/* Verify a JWS-encoded signature (ES raw r||s, RS256, PS256, EdDSA). */
int sig_verify(EVP_PKEY *pk, const char *alg, const uint8_t *data, size_t len,
               const uint8_t *sig, size_t siglen, char *why, size_t whylen);
int jws_parse_flat(const char *body, size_t len, json_object **prot,
                   char **prot_b64, char **payload_b64, uint8_t **sig,
                   size_t *siglen, char *why, size_t whylen);

/* state.c: persisted ACME objects. */
int state_load(void);
int state_save(void);
json_object *state_tab(const char *table);
json_object *state_get(const char *table, const char *id);
char *state_add(const char *table, json_object *obj); /* consumes obj */
int atomic_write(const char *path, const char *data, size_t len, int mode);
/* As atomic_write, but -1 with errno EEXIST when path already exists. */
int atomic_create(const char *path, const char *data, size_t len, int mode);
char *read_file(const char *path, size_t *len);
const char *jstr(json_object *o, const char *key);
long long jint(json_object *o, const char *key);
char *time_str(time_t t);
time_t time_parse(const char *s); /* csca's own time_str output */
int time_parse_rfc3339(const char *s, time_t *out); /* strict; 0 or -1 */

/* member.c: typed getters for what a request carries ("typed getters at
 * the edge").  Each returns 1 when the member is present with the wanted
 * type (*out borrowed from o), 0 when it is absent and optional (*out
 * NULL), and -1 when it is missing though required, null, or of another
 * type: the _why forms then write a sentence naming the member into why,
 * the others set a 400 malformed problem with it.  o may be NULL or a
 * non-object (then every member is absent). */
int member_why(json_object *o, const char *name, enum json_type type,
               bool required, json_object **out, char *why, size_t whylen);
int member(struct resp *rs, json_object *o, const char *name,
           enum json_type type, bool required, json_object **out);
int member_str_why(json_object *o, const char *name, bool required,
                   const char **out, char *why, size_t whylen);
int member_str(struct resp *rs, json_object *o, const char *name, bool required,
               const char **out);
/* Is v of this type?  If not, why says so, calling it what. */
bool value_is(json_object *v, enum json_type type, const char *what, char *why,
              size_t whylen);

/* mgmt.c: the credential of the /csca/ management endpoints. */
int mgmt_init(void);
bool mgmt_authorized(const char *authorization);
const char *mgmt_token_path(void);

/* pki.c: CA and TLS material in the state directory. */
int pki_init(void);
/* tsa.pem / tsa-key.pem, made at first need; the caller frees both. */
int pki_tsa_load(X509 **x, EVP_PKEY **k);

/* tsa.c: the RFC 3161 time-stamp authority (POST /tsa). */
#define CSCA_TSA_POLICY "2.25.312079365800634580884430775926010371072"
int tsa_init(void); /* after pki_init; -1 with a message on stderr */
void tsa_free(void);
/* One TimeStampReq (any bytes) to one DER TimeStampResp: *out is malloc'd
 * (the caller frees; a NUL follows, not counted), also for rejections, whose
 * status lives inside the reply.  outcome (may be NULL) gets "granted serial N"
 * or "rejection FAILINFO" for the log.  0, or -1 when no reply could be made at
 * all. */
int csca_tsa_respond(const unsigned char *q, size_t n, unsigned char **out,
                     size_t *outlen, char *outcome, size_t outcomelen);
void h_tsa(const struct req *rq, struct resp *rs);

/* registry.c: organisations, EAB keys, OTP, ppkp keys, admin anchors. */
int registry_load(void);
json_object *reg_org(const char *name);
json_object *reg_eab(const char *kid);
json_object *reg_list(const char *kind); /* array, never NULL */
int registry_cli(int argc, char **argv);
void h_registry_reload(const struct req *rq, struct resp *rs);

/* account.c */
void h_new_account(const struct req *rq, struct resp *rs);
void h_account(const struct req *rq, struct resp *rs, const char *id);
void h_account_orders(const struct req *rq, struct resp *rs, const char *id);
void h_key_change(const struct req *rq, struct resp *rs);
json_object *acct_by_thumb(const char *thumb, const char **id);

/* order.c */
void h_new_order(const struct req *rq, struct resp *rs);
void h_new_authz(const struct req *rq, struct resp *rs);
void h_order(const struct req *rq, struct resp *rs, const char *id);
void h_finalize(const struct req *rq, struct resp *rs, const char *id);
void h_authz(const struct req *rq, struct resp *rs, const char *id);
void h_cert(const struct req *rq, struct resp *rs, const char *id);
void h_renewal_info(const struct req *rq, struct resp *rs, const char *id);
void h_ari_past(const struct req *rq, struct resp *rs);
json_object *chall_render(const struct req *rq, const char *id);
json_object *authz_render(const struct req *rq, const char *id);
void authz_refresh(json_object *az);

/* challenge.c */
void h_challenge(const struct req *rq, struct resp *rs, const char *id);
char *key_authorization(const char *token, json_object *jwk);

/* otp.c: returns 1 accepted, 0 wrong code, -1 error (why set). */
int otp_check(const char *type, json_object *acct, const char *code, char *why,
              size_t whylen);
int hotp_code(const uint8_t *key, size_t klen, const char *alg,
              uint64_t counter, int digits, char out[16]);
json_object *otp_hints(const char *type, json_object *acct);

/* issue.c */
int issue_check_csr(X509_REQ *req, json_object *order, json_object *acct,
                    const char **profile, char *why, size_t whylen);
char *issue_cert(X509_REQ *req, json_object *order, json_object *acct,
                 const char *profile, json_object **certrec);
char *ari_certid(X509 *x);
void h_revoke(const struct req *rq, struct resp *rs);

#endif
