/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network process (docs/security.md, "Two processes").
 *
 * Every conversation with the CA runs in a separate process: csagent
 * executes itself afresh ("csagent __net", never typed by a person) with
 * one end of a socketpair as descriptor 3.  That process loads the
 * configuration and the policy, speaks HTTP (libcurl) and parses JSON
 * (json-c) and PEM under a seccomp allow list (agt_sandbox.c) that refuses
 * execve; the hooks of http-01/dns-01 are started for it by its hook
 * runner, a child forked before that filter (agt_hookrun.h).  It never
 * loads the PKCS#11 module, never reads the PIN and holds no token
 * session: it is a fresh image, not a fork of the key holder.
 *
 * The key holder (the csagent process the user started: token, PIN,
 * journals, swap-in) gives it jobs and, while a job runs, answers its
 * requests:
 *   jws       the JWS of one ACME request, from its typed fields: which
 *             key (the account key; during a keyChange the new key;
 *             during a revocation the certificate's key), url, nonce,
 *             kid (absent: the key's jwk) and payload (absent:
 *             POST-as-GET).  The holder checks each field and that the
 *             request fits the job (agt_net_jws_check), builds the
 *             protected header itself (acme_jws_build: alg and jwk are
 *             the key's own), signs in the token and answers with the
 *             flattened JWS;
 *   challenge the answer of one draft challenge (otp-01, hotp-01, totp-01,
 *             cert-01, ppkp-01), from its typed fields: the holder checks
 *             the token (22 to 128 base64url characters), builds the key
 *             authorization with the account's thumbprint itself and picks
 *             and persists the OTP step or counter;
 *   csr       the CSR of the identity being enrolled.
 * Anything else, or a request that does not fit the job in progress, is
 * refused and logged.  The certificate chain comes back as DER only; the
 * holder verifies it against the key and the policy before swapping in.
 */
#ifndef AGT_NET_H
#define AGT_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "acme.h"
#include "agt.h"
#include "csa_ipc.h"
#include "csa_signer.h"
#include "tok.h"

/* The server's hints for hotp-01/totp-01 (draft §7.1, §7.2). */
typedef struct {
    int digits;
    tok_hmac_alg alg;
    long period;
} agt_otp_hints;

/* Message types. */
enum {
    /* holder -> network: jobs */
    AGT_NET_J_ACCOUNT = 1, /* alg jwk [kid]: the account key to use */
    AGT_NET_J_DIRECTORY,   /* fetch the directory */
    AGT_NET_J_REGISTER,    /* contact terms only eab_kid eab_key eab_alg */
    AGT_NET_J_UPDATE,      /* contact */
    AGT_NET_J_DEACTIVATE,
    AGT_NET_J_KEYCHANGE, /* alg jwk of the new key */
    AGT_NET_J_REVOKE,    /* der reason [alg jwk of the certificate key] */
    AGT_NET_J_ARI,       /* der */
    AGT_NET_J_ORDER,     /* identity [replaces] [not_after] */
    AGT_NET_J_CONFIG,    /* path config [policy]: always the first job */
    /* network -> holder: requests during a job */
    AGT_NET_C_JWS = 32,  /* keysel url [nonce] [kid] [payload] */
    AGT_NET_C_CHALLENGE, /* type url token digits period hmac */
    AGT_NET_C_CSR,
    /* answers */
    AGT_NET_R_OK = 64, /* the holder: jws | payload | der */
    AGT_NET_R_ERR,     /* err msg */
    AGT_NET_R_DONE,    /* the network process, end of a job: err msg
                          problem kid status ... */
};

/* Field tags. */
enum {
    AGT_NET_T_ALG = 1,
    AGT_NET_T_JWK,
    AGT_NET_T_KID,
    AGT_NET_T_CONTACT, /* addresses joined by '\n' */
    AGT_NET_T_TERMS,
    AGT_NET_T_ONLY,
    AGT_NET_T_EAB_KID,
    AGT_NET_T_EAB_KEY,
    AGT_NET_T_EAB_ALG,
    AGT_NET_T_DER,
    AGT_NET_T_REASON,
    AGT_NET_T_IDENTITY,
    AGT_NET_T_REPLACES,
    AGT_NET_T_KEYSEL,
    AGT_NET_T_NONCE, /* a JWS's nonce (base64url) */
    AGT_NET_T_JWS,   /* a JWS, flattened JSON serialization */
    AGT_NET_T_TYPE,
    AGT_NET_T_URL,
    AGT_NET_T_TOKEN,
    AGT_NET_T_DIGITS,
    AGT_NET_T_PERIOD,
    AGT_NET_T_HMAC,
    AGT_NET_T_PAYLOAD,
    AGT_NET_T_ERR,
    AGT_NET_T_MSG,
    AGT_NET_T_PROBLEM,
    AGT_NET_T_STATUS,
    AGT_NET_T_START,
    AGT_NET_T_END,
    AGT_NET_T_RETRY,
    AGT_NET_T_EXPLAIN,
    AGT_NET_T_ORDERS,
    AGT_NET_T_CHAIN, /* the certificates' DER, one after another */
    AGT_NET_T_PATH,
    AGT_NET_T_CONFIG,
    AGT_NET_T_POLICY,
    AGT_NET_T_NOT_AFTER, /* newOrder notAfter, seconds since the epoch */
};

/* Which key signs (AGT_NET_T_KEYSEL). */
enum { AGT_NET_KEY_ACCOUNT = 0, AGT_NET_KEY_NEW = 1, AGT_NET_KEY_CERT = 2 };

/* Largest field values: URLs, JWKs, nonces, JWS payloads (JSON text) and
 * whole JWS, chains. */
#define AGT_NET_URL_MAX 2048
#define AGT_NET_JWK_MAX 4096
#define AGT_NET_NONCE_MAX 256
#define AGT_NET_PAYLOAD_MAX (64 * 1024)
#define AGT_NET_JWS_MAX (256 * 1024)
#define AGT_NET_CHAIN_MAX (512 * 1024)

/* ---- the holder's side --------------------------------------------- */

typedef struct agt_net agt_net;

/* Prepares the network process for this configuration and policy (the
 * text the holder parsed, NULL for the defaults; both copied: the process
 * parses the same text, whatever the files hold by then).  It is started
 * by the first job, and again by the next job after it ended.
 * CSA_ERR_CONFIG when cfg has no directory URL with a scheme://host
 * origin: the holder signs only for that origin. */
csa_err agt_net_start(const agt_config *cfg, const char *policy_text,
                      agt_net **out);
/* Ends it (closes the socket, reaps it). */
void agt_net_stop(agt_net *n);

/* The account key (borrowed: it must outlive its use) and URL (NULL:
 * unknown yet). */
csa_err agt_net_set_account(agt_net *n, const csa_signer *key, const char *kid);
const char *agt_net_kid(const agt_net *n);
/* The "type" of the CA's last problem document, or NULL. */
const char *agt_net_last_problem(const agt_net *n);

csa_err agt_net_directory(agt_net *n);
csa_err agt_net_register(agt_net *n, const acme_account_opts *o,
                         acme_account **out);
csa_err agt_net_update(agt_net *n, const char *const *contact, size_t n_contact,
                       acme_account **out);
csa_err agt_net_deactivate(agt_net *n);
csa_err agt_net_key_change(agt_net *n, const csa_signer *new_key);
csa_err agt_net_revoke(agt_net *n, const unsigned char *der, size_t len,
                       int reason, const csa_signer *cert_key);
/* CSA_ERR_UNSUPPORTED when the CA offers no renewalInfo. */
csa_err agt_net_renewal_info(agt_net *n, const unsigned char *der, size_t len,
                             acme_renewal **out);

/* What the holder does for an order's requests. */
typedef struct {
    csa_err (*challenge)(void *ctx, const acme_challenge *ch,
                         const agt_otp_hints *h, char **payload);
    csa_err (*csr)(void *ctx, unsigned char **der, size_t *len);
    void *ctx;
} agt_net_order_cb;

/* Orders a certificate for identity (its name), answering the network
 * process's requests through cb.  *chain: leaf first, parsed from DER. */
csa_err agt_net_order(agt_net *n, const char *identity, const char *replaces,
                      const agt_net_order_cb *cb, STACK_OF(X509) * *chain);

/* The same in steps, for several network processes at once: submit the
 * job; whenever agt_net_fd(n) is readable, agt_net_step answers one
 * request (cb, borrowed until the end) or, *finished, returns the job's
 * error and its end message in done; agt_net_order_chain turns that into
 * the chain (and frees done). */
csa_err agt_net_order_submit(agt_net *n, const char *identity,
                             const char *replaces, int64_t not_after,
                             const agt_net_order_cb *cb);
csa_err agt_net_step(agt_net *n, bool *finished, csa_ipc_msg *done);
csa_err agt_net_order_chain(csa_ipc_msg *done, STACK_OF(X509) * *chain);
/* The socket to poll, -1 when the process is not running. */
int agt_net_fd(const agt_net *n);

/* The readers of the network process's messages (also for the fuzzer):
 * each checks the fields it takes and refuses any other. */
/* A JWS request (AGT_NET_C_JWS), each field read and checked on its own:
 * only the tags it takes, each once; keysel one of AGT_NET_KEY_*; url
 * and kid printable ASCII (no space, no control character) of at most
 * AGT_NET_URL_MAX bytes; nonce 1 to AGT_NET_NONCE_MAX base64url
 * characters; payload at most AGT_NET_PAYLOAD_MAX bytes.  The strings are
 * malloc'd (agt_net_jws_req_free); nonce, kid and payload NULL when
 * absent.  CSA_ERR_PROTOCOL naming the field. */
typedef struct {
    uint64_t sel;
    char *url, *nonce, *kid, *payload;
} agt_net_jws_req;
csa_err agt_net_read_jws(const csa_ipc_msg *m, agt_net_jws_req *r);
void agt_net_jws_req_free(agt_net_jws_req *r);
/* What the holder knows when it judges a request (all borrowed): the
 * configured directory URL, the job in progress (its type, 0 between
 * jobs), the account URL it knows (NULL: none yet) and the base64url CSR
 * it gave this job (NULL: none). */
typedef struct {
    const char *ca_url;
    int job;
    const char *kid;
    const char *csr;
} agt_net_view;
/* Reads a JWS request (agt_net_read_jws) and checks that it fits v:
 *  - url on the scheme://host:port of ca_url;
 *  - a kid only with the account key, and only the account URL the holder
 *    knows (v->kid): it has it from its own state (agt_net_set_account)
 *    or from the end of the register job that learnt it (agt_net_step
 *    takes it only on the CA's origin); the register job itself signs
 *    with jwk only, so no job signs with a kid the holder does not know;
 *  - a jwk (no kid) only where RFC 8555 requires one: newAccount (the
 *    account key, a payload, the register job), revokeCert signed by the
 *    certificate's key (the revoke job), the keyChange inner JWS (the new
 *    key, the keyChange job);
 *  - a nonce in every JWS but the keyChange inner one, which must have
 *    none (§7.3.5);
 *  - the payload fits the job and key (agt_net_sign_fits).
 * On success *r holds the request (the caller frees it); otherwise *r is
 * empty and the error (CSA_ERR_PROTOCOL or CSA_ERR_POLICY) names what
 * was refused. */
csa_err agt_net_jws_check(const agt_net_view *v, const csa_ipc_msg *m,
                          agt_net_jws_req *r);
csa_err agt_net_read_challenge(const csa_ipc_msg *m, acme_challenge *ch,
                               agt_otp_hints *h);
void agt_net_challenge_free(acme_challenge *ch);
/* Whether a JWS payload (JSON text; NULL: POST-as-GET) fits the job in
 * progress (its type) and the key asked for: each job signs only the
 * requests it needs (a newOrder only in an order, a revocation only in a
 * revocation, a finalize only with the CSR the holder gave this job, a
 * POST-as-GET only with the account key, ...).  CSA_ERR_POLICY naming the
 * kind of request refused. */
csa_err agt_net_sign_fits(int job, uint64_t sel, const char *payload,
                          const char *csr);
csa_err agt_net_read_done(const csa_ipc_msg *m, csa_err *job_err, char **msg,
                          char **problem, char **kid);

/* ---- the network process's side ------------------------------------ */

/* "csagent __net": the network process's main loop on descriptor 3. */
int agt_cmd_net(agt_globals *g, int argc, char **argv);

/* One request of the network process as the holder checks it (exposed
 * for the fuzzer): parses body and, for a request the holder answers,
 * checks its fields; a JWS request is judged as during an order job for
 * the CA https://127.0.0.1:14000/dir whose account is
 * https://127.0.0.1:14000/acct/1, with the CSR "QUJD".  CSA_OK, or the
 * error naming the problem. */
csa_err agt_net_check_request(const unsigned char *body, size_t len);

#endif
