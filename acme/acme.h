/* SPDX-License-Identifier: Apache-2.0 */
/*
 * acme/ — the RFC 8555 protocol client.  This is the module's one public
 * header.
 *
 * The client speaks to one CA (one directory URL) over HTTPS only; TLS is
 * always verified (a private CA is trusted through ca_bundle, never by
 * switching verification off).  It signs through a csa_signer it borrows from
 * its caller and never decides policy: it reports what the CA said and lets
 * agent/ choose.
 *
 * Ownership: a constructor's comment says who frees.  Result structs
 * (acme_account, acme_order, acme_authz, acme_renewal) are read-only to the
 * caller and freed with their *_free(), which accepts NULL.  Strings in them
 * are owned by the struct.
 *
 * Threads: an acme_client is used by one thread at a time.
 */
#ifndef ACME_H
#define ACME_H

#include <stddef.h>
#include <time.h>

#include "csa_err.h"
#include "csa_secret.h"
#include "csa_signer.h"
#include "csa_spawn.h"

/* ------------------------------------------------------------------ */
/* Client                                                              */

typedef struct acme_client acme_client;

typedef struct {
    const char *directory_url; /* https:// URL of the ACME directory */
    const char *ca_bundle;     /* PEM file of TLS trust anchors; NULL = the
                                  system store.  There is no "insecure". */
    const char *user_agent;    /* NULL = "csagent-acme/0.1" */
    long connect_timeout_s;    /* 0 = 10 s */
    long timeout_s;            /* per request, 0 = 30 s */
    long poll_deadline_s;      /* authz/order polling, 0 = 120 s */
    long max_retry_after_s;    /* longest Retry-After honoured on
                                  rateLimited/503 before giving up, 0 = 10 s */
    /* When non-NULL and it becomes non-zero (e.g. set by a SIGTERM
     * handler), polling and retry waits stop with CSA_ERR_INTERRUPTED.
     * Borrowed; must outlive the client. */
    const volatile int *cancel;
    /* Names of variables passed from our environment to challenge hooks
     * besides the base allowlist (csa_spawn.h), NULL-terminated; NULL =
     * none.  Borrowed; must outlive the client. */
    const char *const *hook_env;
    /* First wait after a transient failure (HTTP 500/502/503/504, a
     * timeout, a broken connection) of a request that is safe to repeat;
     * later waits double, each with +-50% jitter (docs/protocol.md,
     * "Transient failures").  0 = 1000 ms; tests make it short. */
    long retry_base_ms;
} acme_client_opts;

/* Creates a client; copies the options.  No network I/O happens here.
 * The caller frees *out with acme_client_free(). */
csa_err acme_client_new(const acme_client_opts *opts, acme_client **out);
void acme_client_free(acme_client *c);

/* Sets the account key (borrowed: it must outlive the client or the next
 * call) and, if known, the account URL ("kid").  kid is copied; NULL means
 * "not registered yet" and requests are signed with the jwk. */
csa_err acme_client_set_account(acme_client *c, const csa_signer *key,
                                const char *kid);
/* The account URL, or NULL before register / set_account.  Borrowed. */
const char *acme_client_kid(const acme_client *c);
/* The "type" of the last problem document the CA returned (e.g.
 * "urn:ietf:params:acme:error:accountDoesNotExist"), or NULL.  Borrowed,
 * valid until the next request. */
const char *acme_client_last_problem(const acme_client *c);

/* ------------------------------------------------------------------ */
/* Directory (RFC 8555 §7.1.1)                                         */

typedef struct {
    char *new_nonce, *new_account, *new_order, *revoke_cert, *key_change;
    char *new_authz;    /* NULL when the CA offers no pre-authorization */
    char *renewal_info; /* NULL when the CA offers no ARI (RFC 9773) */
    /* meta */
    char *terms_of_service; /* NULL if absent */
    char *website;          /* NULL if absent */
    char **caa_identities;  /* n_caa_identities strings */
    size_t n_caa_identities;
    int external_account_required;
} acme_directory;

/* Fetches the directory (once; later calls reuse it) and returns a pointer
 * owned by the client, valid until acme_client_free(). */
csa_err acme_directory_get(acme_client *c, const acme_directory **dir);

/* ------------------------------------------------------------------ */
/* Objects and statuses                                                */

typedef enum {
    ACME_STATUS_UNKNOWN = 0,
    ACME_STATUS_PENDING,
    ACME_STATUS_READY,
    ACME_STATUS_PROCESSING,
    ACME_STATUS_VALID,
    ACME_STATUS_INVALID,
    ACME_STATUS_EXPIRED,
    ACME_STATUS_DEACTIVATED,
    ACME_STATUS_REVOKED,
    ACME_STATUS__MAX
} acme_status;

/* "pending", "valid", ...; "unknown" for out-of-range values. */
const char *acme_status_name(acme_status s);

typedef struct {
    const char *type;  /* "dns" or "email" */
    const char *value; /* domain or address */
} acme_identifier;

/* ------------------------------------------------------------------ */
/* Account (RFC 8555 §7.3)                                             */

typedef struct {
    char *url; /* the "kid" */
    acme_status status;
    char **contact;
    size_t n_contact;
    char *orders; /* orders list URL, NULL if absent */
} acme_account;
void acme_account_free(acme_account *a);

typedef struct {
    const char *const *contact; /* e.g. "mailto:ops@example.com" */
    size_t n_contact;
    int terms_agreed;         /* sends termsOfServiceAgreed: true */
    int only_return_existing; /* look the key's account up, never create */
    /* External Account Binding (RFC 8555 §7.3.4); eab_kid NULL = none.
     * eab_key holds the base64url MAC key as the CA gave it; it is decoded
     * into a wiped buffer, used once and never logged. */
    const char *eab_kid;
    const csa_secret *eab_key;
    const char *eab_alg; /* "HS256" (default), "HS384", "HS512" */
} acme_account_opts;

/* Registers (or finds, with only_return_existing) the account of the key
 * set by acme_client_set_account().  On success the client remembers the
 * account URL as its kid.  *out (may be NULL if not wanted) is the caller's;
 * free with acme_account_free(). */
csa_err acme_account_register(acme_client *c, const acme_account_opts *o,
                              acme_account **out);
/* Replaces the contact list.  *out as above (may be NULL). */
csa_err acme_account_update(acme_client *c, const char *const *contact,
                            size_t n_contact, acme_account **out);
/* Rolls the account over to new_key (RFC 8555 §7.3.5): inner JWS by the
 * new key with its jwk, outer by the current key with kid.  On success the
 * client signs with new_key (borrowed, like set_account); the caller may
 * retire the old key only after this returned CSA_OK. */
csa_err acme_key_change(acme_client *c, const csa_signer *new_key);
/* Deactivates the account (RFC 8555 §7.3.6).  Irreversible. */
csa_err acme_account_deactivate(acme_client *c);

/* ------------------------------------------------------------------ */
/* Orders and authorizations (RFC 8555 §7.4, §7.5)                     */

typedef struct {
    char *type; /* "http-01", "dns-01", "totp-01", ... */
    char *url;
    char *token; /* NULL if the challenge has none */
    acme_status status;
    char *error; /* one-line problem summary if the CA set one, else NULL */
    char *json;  /* the whole challenge object as JSON text, for hints such
                    as digits / algorithm / period */
} acme_challenge;

typedef struct {
    char *url;
    acme_status status;
    char *identifier_type, *identifier_value;
    int wildcard;
    time_t expires; /* 0 if absent */
    acme_challenge *challenges;
    size_t n_challenges;
} acme_authz;
void acme_authz_free(acme_authz *a);

typedef struct {
    char *url;
    acme_status status;
    time_t expires;
    char **identifier_types, **identifier_values;
    size_t n_identifiers;
    char **authorizations;
    size_t n_authorizations;
    char *finalize;
    char *certificate; /* NULL until valid */
    char *error;       /* one-line problem summary, or NULL */
    long retry_after;  /* seconds from the last response, -1 if none */
} acme_order;
void acme_order_free(acme_order *o);

/* Creates an order for n identifiers.  replaces (RFC 9773 §5, may be NULL)
 * is the CertID of the certificate this order renews.  *out is the
 * caller's; free with acme_order_free(). */
csa_err acme_order_new(acme_client *c, const acme_identifier *ids, size_t n,
                       const char *replaces, acme_order **out);
/* The same, asking for a certificate that ends at not_after (RFC 8555
 * §7.4 "notAfter"; 0: the CA's default).  The CA may refuse it. */
csa_err acme_order_new_until(acme_client *c, const acme_identifier *ids,
                             size_t n, const char *replaces, time_t not_after,
                             acme_order **out);
/* Fetches an order by URL (POST-as-GET), e.g. to resume after a restart. */
csa_err acme_order_get(acme_client *c, const char *url, acme_order **out);
/* Fetches an authorization.  *out is the caller's (acme_authz_free). */
csa_err acme_authz_get(acme_client *c, const char *url, acme_authz **out);
/* Pre-authorizes an identifier through newAuthz (RFC 8555 §7.4.1).
 * CSA_ERR_UNSUPPORTED when the directory has no newAuthz. */
csa_err acme_new_authz(acme_client *c, const acme_identifier *id,
                       acme_authz **out);
/* Deactivates an authorization (RFC 8555 §7.5.2). */
csa_err acme_authz_deactivate(acme_client *c, const char *url);

/* The first challenge whose type is in prefs (in the caller's order) that
 * the authorization offers and that is not invalid; NULL if none.
 * Borrowed from a. */
const acme_challenge *acme_challenge_select(const acme_authz *a,
                                            const char *const *prefs,
                                            size_t n_prefs);
/* POSTs payload_json (a JSON object text; "{}" for http-01/dns-01) to the
 * challenge URL, telling the CA to validate. */
csa_err acme_challenge_respond(acme_client *c, const char *url,
                               const char *payload_json);
/* The same, and *status: the challenge's status in the CA's answer
 * (ACME_STATUS_UNKNOWN when the answer does not say).  A challenge the CA
 * answers "valid" makes its authorization valid (RFC 8555 §7.1.6): no
 * need to poll the authorization then. */
csa_err acme_challenge_answer(acme_client *c, const char *url,
                              const char *payload_json, acme_status *status);
/* Polls an authorization until it leaves "pending", honouring Retry-After
 * with bounded back-off and the poll deadline.  CSA_OK only when it is
 * valid; an invalid one gives CSA_ERR_CA_PROBLEM naming the challenge
 * error.  *out (may be NULL) receives the last state; caller frees. */
csa_err acme_authz_wait(acme_client *c, const char *url, acme_authz **out);

/* Sends the CSR (DER) to the order's finalize URL; updates *o in place. */
csa_err acme_order_finalize(acme_client *c, acme_order *o,
                            const unsigned char *csr_der, size_t csr_len);
/* Polls the order while it is "pending" or "processing" (same back-off and
 * deadline as acme_authz_wait), updating *o.  CSA_OK when it left those
 * states and is not invalid (ready or valid); invalid gives
 * CSA_ERR_CA_PROBLEM. */
csa_err acme_order_wait(acme_client *c, acme_order *o);

/* Downloads the certificate chain (application/pem-certificate-chain) from
 * cert_url.  When preferred_issuer is non-NULL, the default and the
 * alternate chains (Link rel="alternate") are compared and the first whose
 * topmost certificate's issuer CN equals preferred_issuer is returned;
 * otherwise (or when none matches) the default chain.  *pem_chain is
 * malloc'd, NUL-terminated; the caller frees with free(). */
csa_err acme_cert_download(acme_client *c, const char *cert_url,
                           const char *preferred_issuer, char **pem_chain);

/* Revokes a certificate (DER).  With cert_key NULL the request is signed by
 * the account key (kid); otherwise by cert_key (borrowed) with its jwk.
 * reason is an RFC 5280 CRLReason code, or -1 to omit it. */
csa_err acme_revoke(acme_client *c, const unsigned char *cert_der,
                    size_t cert_len, int reason, const csa_signer *cert_key);

/* ------------------------------------------------------------------ */
/* ACME Renewal Information (RFC 9773)                                 */

typedef struct {
    time_t start, end; /* suggestedWindow */
    char *explanation; /* explanationURL or NULL */
    long retry_after;  /* seconds, -1 if the CA sent none */
} acme_renewal;
void acme_renewal_free(acme_renewal *r);

/* CertID of a certificate (DER): base64url(AKI keyIdentifier) "."
 * base64url(serial DER content bytes).  *out malloc'd; caller frees. */
csa_err acme_cert_id(const unsigned char *cert_der, size_t len, char **out);
/* GETs the renewal information of a certificate (DER).
 * CSA_ERR_UNSUPPORTED when the directory has no renewalInfo.
 * *out is the caller's (acme_renewal_free). */
csa_err acme_renewal_info(acme_client *c, const unsigned char *cert_der,
                          size_t len, acme_renewal **out);

/* ------------------------------------------------------------------ */
/* Keys, key authorizations, challenge hooks                           */

/* base64url(SHA-256(jwk text)) — RFC 7638 thumbprint of a signer's jwk,
 * which csa_signer promises is already canonical.  *out malloc'd. */
csa_err acme_jwk_thumbprint(const char *jwk, char **out);
/* The JWS of an ACME request (RFC 8555 §6.2) in the flattened JSON
 * serialization (RFC 7515 §7.2.2), protected header
 * {"alg","jwk"|"kid","nonce","url"}.  kid NULL = embed the signer's jwk;
 * nonce NULL = no nonce (keyChange inner JWS); payload NULL = POST-as-GET
 * (empty payload).  With s->build_jws set, the request goes to it as it
 * is; otherwise the header is built here and the signing input signed
 * with s->sign_jws.  This is the one implementation: the key holder calls
 * it too, with the token's signer, for what the network process asks.
 * *out malloc'd. */
csa_err acme_jws_build(const csa_signer *s, const char *url, const char *nonce,
                       const char *kid, const char *payload, char **out);
/* token "." thumbprint (RFC 8555 §8.1).  *out malloc'd; caller frees. */
csa_err acme_key_authorization(const csa_signer *key, const char *token,
                               char **out);
/* base64url(SHA-256(key_auth)) — the dns-01 TXT value.  *out malloc'd. */
csa_err acme_dns01_txt(const char *key_auth, char **out);

/* Converts a DER ECDSA-Sig-Value into the JOSE form r||s, each left-padded
 * to width bytes (32 for P-256, 48 for P-384, 66 for P-521).  For signers
 * whose backend returns DER.  *out malloc'd (2*width bytes). */
csa_err acme_ecdsa_der_to_jose(const unsigned char *der, size_t len,
                               size_t width, unsigned char **out,
                               size_t *outlen);

typedef struct {
    const char *method;           /* "begin", "done" or "failed" */
    const char *type;             /* challenge type */
    const char *identifier_type;  /* "dns" / "email" */
    const char *identifier_value; /* domain or address */
    const char *token;
    const char *key_auth;
    const char *const *env_keep; /* passed from our environment besides
                                    the base allowlist (csa_spawn.h) */
} acme_hook_call;

/* Runs the hook program (argv = just its path) with the request in the
 * environment: CSAGENT_HOOK_METHOD, CSAGENT_CHALLENGE_TYPE,
 * CSAGENT_IDENTIFIER_TYPE, CSAGENT_IDENTIFIER, CSAGENT_TOKEN,
 * CSAGENT_KEY_AUTH and, for dns-01, CSAGENT_DNS01_NAME
 * ("_acme-challenge.<domain>") and CSAGENT_DNS01_TXT, started by
 * csa_spawn_run (empty signal mask, default dispositions, stdin on
 * /dev/null, no descriptor above 2, its own process group, an allowlisted
 * environment).  *status is the exit status (0 = accepted); a hook killed
 * by a signal or running past timeout_s (0 = 60; its process group is
 * killed) is an error. */
csa_err acme_hook_run(const char *hook, const acme_hook_call *call,
                      long timeout_s, int *status);

/* The names of the variables acme_hook_run sets, in the order above
 * (NULL-terminated): the only ones the network process's hook runner lets
 * a request set (agt_hookrun.h). */
enum {
    ACME_HOOK_V_METHOD,
    ACME_HOOK_V_CHALLENGE_TYPE,
    ACME_HOOK_V_IDENTIFIER_TYPE,
    ACME_HOOK_V_IDENTIFIER,
    ACME_HOOK_V_TOKEN,
    ACME_HOOK_V_KEY_AUTH,
    ACME_HOOK_V_DNS01_NAME,
    ACME_HOOK_V_DNS01_TXT,
    ACME_HOOK_V__N
};
extern const char *const acme_hook_vars[ACME_HOOK_V__N + 1];

/* How acme_hook_run starts the hook: csa_spawn_run (the default, also
 * after fn NULL), or fn with ctx, for a process that may not start
 * programs itself and hands the request to a helper (the network
 * process's hook runner, agt_net.h).  Process-wide; set it before the
 * first hook runs. */
typedef csa_spawn_rc (*acme_hook_spawner)(void *ctx, const csa_spawn_req *req,
                                          int *status, char *why,
                                          size_t whylen);
void acme_hook_set_spawner(acme_hook_spawner fn, void *ctx);

/* Solves one authorization with the hook, uacme style: for each type in
 * prefs that the authz offers, run "begin"; a non-zero exit means "try the
 * next type".  The first accepted one is answered with "{}", waited for,
 * and closed with "done" (valid) or "failed".  An authz already valid is
 * left alone. */
csa_err acme_authz_solve_hook(acme_client *c, const char *authz_url,
                              const char *hook, const char *const *prefs,
                              size_t n_prefs);
/* The same for an authorization the caller has just fetched or created
 * (newAuthz answers with it): no request to read it again.  a is
 * borrowed. */
csa_err acme_authz_solve_hook_known(acme_client *c, const acme_authz *a,
                                    const char *hook, const char *const *prefs,
                                    size_t n_prefs);

#endif
