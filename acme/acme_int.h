/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to acme/: the client structure and the helpers the role files
 * share.  Not installed, not included outside acme/ (except by its unit
 * tests).
 */
#ifndef ACME_INT_H
#define ACME_INT_H

#include <curl/curl.h>
#include <json-c/json.h>

#include "acme.h"

#define ACME_MAX_JSON (1024 * 1024) /* cap for JSON bodies */
#define ACME_MAX_CHAIN (256 * 1024) /* cap for certificate chains */
#define ACME_NONCE_POOL 8           /* nonces kept for reuse */
#define ACME_BADNONCE_TRIES 5       /* attempts when the CA says badNonce */
#define ACME_RATELIMIT_TRIES 2      /* waits on rateLimited / 503 */
#define ACME_TRANSIENT_TRIES 4      /* attempts in all on 5xx / timeouts */
#define ACME_RETRY_BASE_MAX 60000L  /* cap of retry_base_ms */
#define ACME_MAX_LINKS 16           /* Link rel="alternate" kept */

#define ACME_CT_JSON "application/json"
#define ACME_CT_PROBLEM "application/problem+json"
#define ACME_CT_CHAIN "application/pem-certificate-chain"

struct acme_client {
    CURL *curl;
    char *directory_url, *ca_bundle, *user_agent;
    long connect_timeout_s, timeout_s, poll_deadline_s, max_retry_after_s;
    long retry_base_ms;          /* first transient-failure wait */
    const volatile int *cancel;  /* borrowed */
    const char *const *hook_env; /* borrowed */
    acme_directory dir;
    int have_dir;
    char *nonces[ACME_NONCE_POOL];
    size_t n_nonces;
    const csa_signer *key; /* borrowed */
    char *kid;
    char *last_problem;
};

/* One HTTP exchange, as the callers need it. */
typedef struct {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    size_t max;
    char *content_type; /* media type only, lower case, no parameters */
    char *location;
    char *nonce;
    char *retry_after_raw;
    char *links[ACME_MAX_LINKS]; /* raw Link header values */
    size_t n_links;
    int curl_rc; /* the CURLcode of a failed exchange, else CURLE_OK */
    /* Set by acme_get and acme_post when they return: the attempts made
     * after transient failures, and whether an earlier attempt may have
     * reached the CA and taken effect (its answer was lost). */
    unsigned attempts;
    int maybe_applied;
} acme_http_resp;

void acme_http_resp_clear(acme_http_resp *r);

/* Whether a request may be sent again after a transient failure whose
 * outcome is unknown.  GET, HEAD and POST-as-GET always may. */
typedef enum {
    ACME_SEND_ONCE = 0, /* a second arrival could act twice (newOrder) */
    ACME_REPEATABLE     /* a second arrival changes nothing more */
} acme_repeat;

/* method: "GET", "HEAD" or "POST" (body is a JWS, sent as
 * application/jose+json).  max caps the body.  Returns CSA_OK for any HTTP
 * status; transport, TLS and size failures are errors.  One attempt: an
 * ACME_SEND_ONCE request goes on a new connection, because libcurl sends
 * a request again by itself when a reused connection dies before any
 * answer. */
csa_err acme_http_do(acme_client *c, const char *method, const char *url,
                     const char *body, size_t max, acme_repeat repeat,
                     acme_http_resp *r);

/* Transient failures (retry.c, docs/protocol.md "Transient failures").
 * One request's repeat state: repeatable says a second arrival at the CA
 * cannot take effect twice.  Start it zeroed, repeatable set. */
typedef struct {
    int repeatable;
    unsigned repeats;  /* attempts made again so far */
    int maybe_applied; /* a failed attempt may have reached the CA */
} acme_retry;
/* Called after an attempt at url failed (*err) or answered other than
 * 2xx (*err == CSA_OK, r->status).  Returns 1 when the failure is
 * transient and the attempt is to be made again: the wait (backoff with
 * jitter, or the CA's Retry-After) is over, and a warning was logged.
 * Returns 0 to stop; *err then changes only when the wait was cancelled
 * (CSA_ERR_INTERRUPTED). */
int acme_retry_again(acme_client *c, acme_retry *rt, const char *method,
                     const char *url, const acme_http_resp *r, csa_err *err);
/* Records rt's outcome in r (attempts, maybe_applied). */
void acme_retry_done(const acme_retry *rt, acme_http_resp *r);
/* Prefixes "after N attempts" to the current error when r was repeated. */
void acme_retry_context(const acme_http_resp *r);
/* GET or HEAD with repeats after transient failures: every GET is safe to
 * repeat.  Same contract as acme_http_do; a 5xx that outlasted the
 * repeats is returned as a response for the caller to report (then
 * acme_retry_context). */
csa_err acme_get(acme_client *c, const char *method, const char *url,
                 size_t max, acme_http_resp *r);

/* Nonce pool. */
void acme_nonce_put(acme_client *c, const char *nonce);
csa_err acme_nonce_get(acme_client *c, char **out);
void acme_nonce_clear(acme_client *c);

/* The EAB JWS (RFC 8555 §7.3.4) as a json object: caller puts it. */
csa_err acme_jws_eab(const char *eab_kid, const csa_secret *b64key,
                     const char *alg, const char *url, const char *jwk,
                     json_object **out);
/* Expected JOSE signature length for alg, 0 if not fixed. */
size_t acme_jws_sig_len(const char *alg);

/* Signed POST with badNonce / rateLimited / transient retries, each
 * attempt a new JWS with a fresh nonce.  signer NULL = the account key;
 * use_jwk: embed the jwk instead of the kid.  accept is the expected
 * content type on success.  Errors from a problem document give
 * CSA_ERR_CA_PROBLEM with type, detail and subproblems in the message. */
typedef struct {
    const char *url;
    const char *payload; /* NULL = POST-as-GET */
    const csa_signer *signer;
    int use_jwk;
    int secret_payload; /* log the payload's size only (e.g. an OTP) */
    size_t max;
    const char *accept;
    acme_repeat repeat; /* ignored for POST-as-GET, which repeats */
} acme_post_req;
csa_err acme_post(acme_client *c, const acme_post_req *req, acme_http_resp *r);
/* POST, then parse the JSON object body.  *obj is the caller's (put). */
csa_err acme_post_json(acme_client *c, const char *url, const char *payload,
                       acme_repeat repeat, acme_http_resp *r,
                       json_object **obj);
/* Is the client's last problem urn:ietf:params:acme:error:<name>? */
int acme_last_problem_is(const acme_client *c, const char *name);

/* Problem documents (RFC 7807, RFC 8555 §6.7). */
typedef struct {
    char *type, *detail;
    long status;
    char *summary; /* "type: detail [subproblems...]" */
} acme_problem;
csa_err acme_problem_parse(const char *body, size_t len, acme_problem *p);
void acme_problem_clear(acme_problem *p);
/* The same summary from an already parsed problem object. */
char *acme_problem_summary(json_object *obj);

/* Header helpers. */
/* Parses a Retry-After value (delta-seconds or HTTP-date) relative to now.
 * Returns seconds >= 0, or -1 if absent/unparseable. */
/* Retry-After (RFC 9110 §10.2.3) in seconds from now, -1 when absent or
 * malformed, at most ACME_RETRY_AFTER_MAX (docs/protocol.md). */
#define ACME_RETRY_AFTER_MAX 86400L
/* Polls of one order or authorization before giving up. */
#define ACME_POLL_MAX 120
long acme_retry_after_parse(const char *value, time_t now);
/* Finds targets of rel in Link header values, resolved against base.
 * Stores up to max malloc'd URLs in out; returns the count. */
size_t acme_link_find(char *const *links, size_t n_links, const char *rel,
                      const char *base, char **out, size_t max);
/* RFC 3339 timestamp to time_t; -1 on error. */
time_t acme_time_parse(const char *s);

/* JSON helpers. */
csa_err acme_json_parse(const char *body, size_t len, json_object **out);
const char *acme_json_str(json_object *o, const char *key);
char *acme_json_strdup(json_object *o, const char *key);
acme_status acme_status_parse(const char *s);
/* Copies a JSON array of strings; missing = empty. */
csa_err acme_json_strv(json_object *o, const char *key, char ***out, size_t *n);
void acme_strv_free(char **v, size_t n);

/* Records the last problem type on the client (NULL clears). */
void acme_set_last_problem(acme_client *c, const char *type);

/* Sleeps s seconds (ms milliseconds) in short steps; CSA_ERR_INTERRUPTED
 * when the client's cancel flag is raised meanwhile. */
csa_err acme_sleep(const acme_client *c, long s);
csa_err acme_sleep_ms(const acme_client *c, long ms);
/* Polling back-off: sleep for the next interval, bounded by deadline.
 * Returns CSA_ERR_TIMEOUT if the deadline passed. */
csa_err acme_poll_sleep(const acme_client *c, time_t deadline, long retry,
                        unsigned *attempt);

/* Parsers used by order.c and authz.c. */
csa_err acme_order_from_json(json_object *obj, const char *url, acme_order *o);
csa_err acme_authz_from_json(json_object *obj, const char *url, acme_authz *a);

#endif
