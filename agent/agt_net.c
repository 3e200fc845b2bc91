/* SPDX-License-Identifier: Apache-2.0 */
/* The key holder's side of the network process (agt_net.h). */
#include "agt_net.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agt_keyholder.h"
#include "agt_chain.h"
#include "csa_util.h"
#include "csa_log.h"

struct agt_net {
    pid_t pid;
    int fd; /* -1: not running (started again by the next job) */
    char *path, *config, *policy;
    char *ca_url; /* the directory: JWS urls must be on its origin */
    const csa_signer *account; /* borrowed */
    const csa_signer *next;    /* during a keyChange */
    const csa_signer *cert;    /* during a revocation */
    char *kid;
    char *problem;
    const agt_net_order_cb *cb; /* of the job in progress */
    int job;                    /* its type, 0 between jobs */
    char *csr;                  /* base64url of the CSR it was given */
};

static const uint8_t agt_done_tags[] = {AGT_NET_T_ERR,
                                        AGT_NET_T_MSG,
                                        AGT_NET_T_PROBLEM,
                                        AGT_NET_T_KID,
                                        AGT_NET_T_STATUS,
                                        AGT_NET_T_CONTACT,
                                        AGT_NET_T_ORDERS,
                                        AGT_NET_T_START,
                                        AGT_NET_T_END,
                                        AGT_NET_T_RETRY,
                                        AGT_NET_T_EXPLAIN,
                                        AGT_NET_T_CHAIN,
                                        0};

/* Printable ASCII without space: what a URL on the wire is. */
static bool agt_url_chars_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static bool agt_b64url_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
            return false;
    return true;
}

/* Length of "scheme://authority" at the start of url, 0 if none. */
static size_t agt_origin_len(const char *url)
{
    const char *p = strstr(url, "://");

    if (p == NULL || p == url)
        return 0;
    p += 3;
    return (size_t)(p - url) + strcspn(p, "/?#");
}

/* Whether url is on the scheme://host:port of base: the same prefix, then
 * the end or a '/' (so "https://ca:443.evil" or "https://ca@evil" is not
 * "https://ca"). */
static bool agt_on_origin(const char *base, const char *url)
{
    size_t olen = agt_origin_len(base);

    return olen != 0 && strncmp(url, base, olen) == 0 &&
           (url[olen] == '\0' || url[olen] == '/');
}

/* How long the network process may take to end once its socket is
 * closed (it reads EOF and returns): in the sanitizer build LeakSanitizer
 * checks it at exit, which must not be cut short, or its leaks would go
 * unseen. */
#ifdef CSA_SANITIZE_BUILD
#define AGT_NET_EXIT_MS 5000
#else
#define AGT_NET_EXIT_MS 1000
#endif

/* Waits up to ms for the process to end by itself (a pidfd becomes
 * readable when it does); false when it did not, or cannot be watched. */
static bool agt_net_ends_within(pid_t pid, int ms)
{
#ifdef SYS_pidfd_open
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0), r;
    struct pollfd p;

    if (pfd < 0)
        return false;
    p = (struct pollfd){.fd = pfd, .events = POLLIN};
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    close(pfd);
    return r == 1;
#else
    (void)pid;
    (void)ms;
    return false;
#endif
}

static void agt_net_reap(agt_net *n)
{
    int status = 0;
    bool ended;

    if (n->fd >= 0)
        close(n->fd); /* it reads EOF and returns */
    n->fd = -1;
    if (n->pid > 0) {
        ended = agt_net_ends_within(n->pid, AGT_NET_EXIT_MS);
        if (!ended)
            kill(n->pid, SIGKILL);
        while (waitpid(n->pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (ended && WIFEXITED(status) && WEXITSTATUS(status) != 0)
            csa_warn("holder", "the network process exited with status %d",
                     WEXITSTATUS(status));
        else if (ended && WIFSIGNALED(status))
            csa_warn("holder", "the network process was ended by signal %d",
                     WTERMSIG(status));
    }
    n->pid = -1;
}

/* In the child between fork and exec: only what is safe there. */
static void agt_net_exec(int sock, pid_t parent, char **argv)
{
    sigset_t none;
    int sig;

    if (sock != 3 && dup2(sock, 3) != 3)
        _exit(127);
    if (sock == 3) /* keep it across exec */
        (void)fcntl(3, F_SETFD, 0);
    closefrom(4);
    /* Nothing the holder had at 0 (a PIN given as fd:0, say) reaches the
     * network process: it reads no standard input. */
    if ((sig = open("/dev/null", O_RDONLY)) < 0 ||
        (sig != 0 && (dup2(sig, 0) != 0 || close(sig) != 0)))
        _exit(127);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    /* The holder gone, nothing is left to do. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127);
    execv("/proc/self/exe", argv);
    _exit(127);
}

static csa_err agt_net_spawn(agt_net *n)
{
    char *argv[4];
    int sv[2], i = 0;
    pid_t parent = getpid();

    argv[i++] = (char *)"csagent";
    if (csa_log_get_level() == CSA_LOG_DEBUG)
        argv[i++] = (char *)"-v";
    else if (csa_log_get_level() == CSA_LOG_ERROR)
        argv[i++] = (char *)"-q";
    argv[i++] = (char *)"__net";
    argv[i] = NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return csa_raise(CSA_ERR_IO, "socketpair: %s", strerror(errno));
    if ((n->pid = fork()) < 0) {
        close(sv[0]);
        close(sv[1]);
        return csa_raise(CSA_ERR_IO, "fork: %s", strerror(errno));
    }
    if (n->pid == 0)
        agt_net_exec(sv[1], parent, argv);
    close(sv[1]);
    n->fd = sv[0];
    csa_debug("holder", "network process %ld started", (long)n->pid);
    return CSA_OK;
}

csa_err agt_net_start(const agt_config *cfg, const char *policy_text,
                      agt_net **out)
{
    agt_net *n = calloc(1, sizeof(*n));

    *out = NULL;
    if (n == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    n->fd = -1;
    n->pid = -1;
    n->path = strdup(cfg->path);
    n->config = strdup(cfg->text ? cfg->text : "");
    n->policy = policy_text ? strdup(policy_text) : NULL;
    n->ca_url = cfg->directory ? strdup(cfg->directory) : NULL;
    if (cfg->directory == NULL || agt_origin_len(cfg->directory) == 0) {
        agt_net_stop(n);
        return csa_raise(CSA_ERR_CONFIG,
                         "%s: no CA directory URL "
                         "(scheme://host) for the key holder",
                         cfg->path);
    }
    if (n->path == NULL || n->config == NULL || n->ca_url == NULL ||
        (policy_text != NULL && n->policy == NULL)) {
        agt_net_stop(n);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    *out = n;
    return CSA_OK;
}

void agt_net_stop(agt_net *n)
{
    if (n == NULL)
        return;
    /* EOF ends its loop and it exits on its own, within a bound: one stuck
     * in a transfer, or taken over and deaf to EOF, is killed */
    agt_net_reap(n);
    free(n->kid);
    free(n->problem);
    free(n->csr);
    free(n->path);
    free(n->ca_url);
    free(n->config);
    free(n->policy);
    free(n);
}

const char *agt_net_kid(const agt_net *n)
{
    return n->kid;
}

const char *agt_net_last_problem(const agt_net *n)
{
    return n->problem;
}

static csa_err agt_net_reply_err(int fd, csa_err err)
{
    csa_ipc_out o;

    csa_ipc_begin(&o, AGT_NET_R_ERR);
    csa_ipc_put_u64(&o, AGT_NET_T_ERR, (uint64_t)err);
    csa_ipc_put_str(&o, AGT_NET_T_MSG, csa_errmsg());
    return csa_ipc_send(fd, &o);
}

void agt_net_jws_req_free(agt_net_jws_req *r)
{
    free(r->url);
    free(r->nonce);
    free(r->kid);
    free(r->payload);
    memset(r, 0, sizeof(*r));
}

csa_err agt_net_read_jws(const csa_ipc_msg *m, agt_net_jws_req *r)
{
    static const uint8_t tags[] = {AGT_NET_T_KEYSEL,  AGT_NET_T_URL,
                                   AGT_NET_T_NONCE,   AGT_NET_T_KID,
                                   AGT_NET_T_PAYLOAD, 0};
    const char *why = NULL;
    csa_err err;

    memset(r, 0, sizeof(*r));
    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = csa_ipc_u64(m, AGT_NET_T_KEYSEL, AGT_NET_KEY_CERT, true,
                           &r->sel)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_URL, AGT_NET_URL_MAX, true, &r->url)) !=
            CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_NONCE, AGT_NET_NONCE_MAX, false,
                           &r->nonce)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_KID, AGT_NET_URL_MAX, false,
                           &r->kid)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_PAYLOAD, AGT_NET_PAYLOAD_MAX, false,
                           &r->payload)) != CSA_OK) {
        agt_net_jws_req_free(r);
        return err;
    }
    if (!agt_url_chars_ok(r->url))
        why = "its url has a space, a control or a non-ASCII character";
    else if (r->kid != NULL && !agt_url_chars_ok(r->kid))
        why = "its kid has a space, a control or a non-ASCII character";
    else if (r->nonce != NULL && !agt_b64url_ok(r->nonce))
        why = "its nonce is not base64url";
    if (why == NULL)
        return CSA_OK;
    agt_net_jws_req_free(r);
    return csa_raise(CSA_ERR_PROTOCOL, "jws request: %s", why);
}

void agt_net_challenge_free(acme_challenge *ch)
{
    free(ch->type);
    free(ch->url);
    free(ch->token);
    memset(ch, 0, sizeof(*ch));
}

csa_err agt_net_read_challenge(const csa_ipc_msg *m, acme_challenge *ch,
                               agt_otp_hints *h)
{
    static const uint8_t tags[] = {AGT_NET_T_TYPE,
                                   AGT_NET_T_URL,
                                   AGT_NET_T_TOKEN,
                                   AGT_NET_T_DIGITS,
                                   AGT_NET_T_PERIOD,
                                   AGT_NET_T_HMAC,
                                   0};
    uint64_t digits = 6, period = 30, alg = TOK_HMAC_SHA1;
    csa_err err;

    memset(ch, 0, sizeof(*ch));
    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_TYPE, 16, true, &ch->type)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_URL, AGT_NET_URL_MAX, true,
                           &ch->url)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_TOKEN, 256, false, &ch->token)) !=
            CSA_OK ||
        (err = csa_ipc_u64(m, AGT_NET_T_DIGITS, 8, false, &digits)) != CSA_OK ||
        (err = csa_ipc_u64(m, AGT_NET_T_PERIOD, 3600, false, &period)) !=
            CSA_OK ||
        (err = csa_ipc_u64(m, AGT_NET_T_HMAC, TOK_HMAC_SHA512, false, &alg)) !=
            CSA_OK)
        goto fail;
    if ((digits != 6 && digits != 8) || period < 1) {
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "challenge request: digits %u or period %u out of "
                        "range",
                        (unsigned)digits, (unsigned)period);
        goto fail;
    }
    h->digits = (int)digits;
    h->period = (long)period;
    h->alg = (tok_hmac_alg)alg;
    return CSA_OK;
fail:
    agt_net_challenge_free(ch);
    return err;
}

/* Whether every member of payload is one of names (NULL-terminated). */
static bool agt_members_in(json_object *payload, const char *const *names)
{
    json_object_object_foreach(payload, key, val)
    {
        size_t i;

        (void)val;
        for (i = 0; names[i] != NULL && strcmp(names[i], key) != 0; i++)
            ;
        if (names[i] == NULL)
            return false;
    }
    return true;
}

static const char *agt_member_str(json_object *o, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(o, key, &v) &&
                   json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* The whole of text as one JSON object, or NULL. */
static json_object *agt_json_object(const char *text)
{
    json_tokener *t = json_tokener_new();
    size_t len = strlen(text);
    json_object *o = NULL;

    if (t != NULL && len <= AGT_NET_PAYLOAD_MAX) {
        o = json_tokener_parse_ex(t, text, (int)len);
        if (json_tokener_get_error(t) != json_tokener_success ||
            (size_t)json_tokener_get_parse_end(t) != len ||
            !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(t);
    return o;
}

csa_err agt_net_sign_fits(int job, uint64_t sel, const char *payload,
                          const char *csr)
{
    static const char *const account[] = {"contact", "termsOfServiceAgreed",
                                          "onlyReturnExisting",
                                          "externalAccountBinding", NULL};
    static const char *const contact[] = {"contact", NULL};
    static const char *const status[] = {"status", NULL};
    static const char *const inner[] = {"account", "oldKey", NULL};
    static const char *const outer[] = {"protected", "payload", "signature",
                                        NULL};
    static const char *const revoke[] = {"certificate", "reason", NULL};
    static const char *const order[] = {"identifiers", "notBefore", "notAfter",
                                        "replaces",    "profile",   NULL};
    static const char *const authz[] = {"identifier", NULL};
    static const char *const finalize[] = {"csr", NULL};
    /* "{}" (RFC 8555) and the draft's answers (docs/protocol.md) */
    static const char *const answer[] = {"otp", "x5c",       "kid",
                                         "alg", "signature", NULL};
    json_object *p = NULL;
    const char *what = NULL, *s;
    bool ok = false;

    if (payload != NULL && (p = agt_json_object(payload)) == NULL)
        return csa_raise(CSA_ERR_POLICY, "key holder: refusing to sign a JWS: "
                                         "its payload is not a JSON object");
    if (p == NULL) { /* POST-as-GET: a read as the account, in any job
                        that talks to the CA */
        ok = job != AGT_NET_J_DIRECTORY && sel == AGT_NET_KEY_ACCOUNT;
        what = "a POST-as-GET";
    } else if (sel == AGT_NET_KEY_NEW) {
        ok = job == AGT_NET_J_KEYCHANGE && agt_members_in(p, inner);
        what = "a keyChange inner payload";
    } else if (json_object_object_length(p) == 0) {
        ok = job == AGT_NET_J_ORDER;
        what = "an empty challenge answer";
    } else if (agt_members_in(p, contact)) {
        ok = job == AGT_NET_J_REGISTER || job == AGT_NET_J_UPDATE;
        what = "an account's contacts";
    } else if (agt_members_in(p, account)) {
        ok = job == AGT_NET_J_REGISTER;
        what = "a newAccount request";
    } else if (agt_members_in(p, status)) {
        s = agt_member_str(p, "status");
        ok = job == AGT_NET_J_DEACTIVATE && s != NULL &&
             !strcmp(s, "deactivated");
        what = "a status change";
    } else if (agt_members_in(p, outer)) {
        ok = job == AGT_NET_J_KEYCHANGE;
        what = "a keyChange";
    } else if (agt_members_in(p, revoke)) {
        ok = job == AGT_NET_J_REVOKE;
        what = "a revocation";
    } else if (agt_members_in(p, order)) {
        ok = job == AGT_NET_J_ORDER;
        what = "a newOrder";
    } else if (agt_members_in(p, authz)) {
        ok = job == AGT_NET_J_ORDER;
        what = "a newAuthz";
    } else if (agt_members_in(p, finalize)) {
        s = agt_member_str(p, "csr");
        /* only the CSR this job's identity got from the holder */
        ok = job == AGT_NET_J_ORDER && s != NULL && csr != NULL &&
             !strcmp(s, csr);
        what = "a finalize with this order's CSR";
    } else if (agt_members_in(p, answer)) {
        ok = job == AGT_NET_J_ORDER;
        what = "a challenge answer";
    }
    json_object_put(p);
    if (ok)
        return CSA_OK;
    return csa_raise(CSA_ERR_POLICY,
                     "key holder: refusing to sign %s during job %d (key %u)",
                     what ? what : "a request of unknown shape", job,
                     (unsigned)sel);
}

/* Whether the header r asks for fits v (agt_net_jws_check). */
static const char *agt_net_header_fits(const agt_net_view *v,
                                       const agt_net_jws_req *r)
{
    if (!agt_on_origin(v->ca_url, r->url))
        return "its url is not on the configured CA";
    if (r->kid != NULL) {
        /* RFC 8555 §6.2: kid is the account URL.  Only the one the holder
         * knows: from its state, or from the end of the register job that
         * learnt it, on the CA's origin (agt_net_step). */
        if (r->sel != AGT_NET_KEY_ACCOUNT)
            return "a kid signed by a key other than the account's";
        if (v->kid == NULL)
            return "a kid before the holder knows the account's URL";
        if (strcmp(r->kid, v->kid) != 0)
            return "its kid is not the account's URL";
    } else if (!((r->sel == AGT_NET_KEY_ACCOUNT &&
                  v->job == AGT_NET_J_REGISTER && r->payload != NULL) ||
                 (r->sel == AGT_NET_KEY_CERT && v->job == AGT_NET_J_REVOKE) ||
                 (r->sel == AGT_NET_KEY_NEW &&
                  v->job == AGT_NET_J_KEYCHANGE))) {
        /* §6.2: jwk only in newAccount and in revokeCert signed by the
         * certificate's key; §7.3.5: and the keyChange inner JWS. */
        return "a jwk where RFC 8555 asks for the account's kid";
    }
    /* §7.3.5: the inner JWS of a keyChange has no nonce; every other JWS
     * has one (§6.5). */
    if (r->sel == AGT_NET_KEY_NEW && r->nonce != NULL)
        return "a nonce in the keyChange inner JWS";
    if (r->sel != AGT_NET_KEY_NEW && r->nonce == NULL)
        return "it has no nonce";
    return NULL;
}

csa_err agt_net_jws_check(const agt_net_view *v, const csa_ipc_msg *m,
                          agt_net_jws_req *r)
{
    const char *why;
    csa_err err = agt_net_read_jws(m, r);

    if (err != CSA_OK)
        return err;
    if ((why = agt_net_header_fits(v, r)) != NULL)
        err = csa_raise(CSA_ERR_POLICY,
                        "key holder: refusing to sign a JWS for %.200s: %s",
                        r->url, why);
    else
        err = agt_net_sign_fits(v->job, r->sel, r->payload, v->csr);
    if (err != CSA_OK)
        agt_net_jws_req_free(r);
    return err;
}

/* One request of the network process during a job, answered.  A request
 * that does not fit is refused (and logged); the job goes on and fails on
 * the network side with the refusal as its error. */
static csa_err agt_net_answer(agt_net *n, const csa_ipc_msg *m,
                              const agt_net_order_cb *cb)
{
    csa_ipc_out o;
    csa_err err;

    if (m->type == AGT_NET_C_JWS) {
        agt_net_view v = {n->ca_url, n->job, n->kid, n->csr};
        agt_net_jws_req r;
        const csa_signer *k;
        char *jws = NULL;

        if ((err = agt_net_jws_check(&v, m, &r)) != CSA_OK)
            goto refuse;
        k = r.sel == AGT_NET_KEY_ACCOUNT ? n->account
            : r.sel == AGT_NET_KEY_NEW   ? n->next
                                         : n->cert;
        if (k == NULL) {
            agt_net_jws_req_free(&r);
            err = csa_raise(CSA_ERR_POLICY,
                            "no key of kind %u signs during this job",
                            (unsigned)r.sel);
            goto refuse;
        }
        /* The header is built here, with the key's own alg and jwk, from
         * the fields checked above: what the network process may choose
         * ends there. */
        err = acme_jws_build(k, r.url, r.nonce, r.kid, r.payload, &jws);
        agt_net_jws_req_free(&r);
        if (err != CSA_OK)
            return agt_net_reply_err(n->fd, err);
        csa_ipc_begin(&o, AGT_NET_R_OK);
        csa_ipc_put_str(&o, AGT_NET_T_JWS, jws);
        free(jws);
        return csa_ipc_send(n->fd, &o);
    }
    if (m->type == AGT_NET_C_CHALLENGE && cb != NULL) {
        acme_challenge ch;
        agt_otp_hints h;
        char *payload = NULL;

        if ((err = agt_net_read_challenge(m, &ch, &h)) != CSA_OK)
            goto refuse;
        err = cb->challenge(cb->ctx, &ch, &h, &payload);
        agt_net_challenge_free(&ch);
        if (err != CSA_OK)
            return agt_net_reply_err(n->fd, err);
        csa_ipc_begin(&o, AGT_NET_R_OK);
        csa_ipc_put_str(&o, AGT_NET_T_PAYLOAD, payload);
        free(payload);
        return csa_ipc_send(n->fd, &o);
    }
    if (m->type == AGT_NET_C_CSR && cb != NULL && m->n == 0) {
        unsigned char *der = NULL;
        size_t len = 0;

        if ((err = cb->csr(cb->ctx, &der, &len)) != CSA_OK)
            return agt_net_reply_err(n->fd, err);
        free(n->csr);
        if ((n->csr = csa_b64url_encode(der, len)) == NULL) {
            free(der);
            return agt_net_reply_err(n->fd,
                                     csa_raise(CSA_ERR_NOMEM, "out of memory"));
        }
        csa_ipc_begin(&o, AGT_NET_R_OK);
        csa_ipc_put(&o, AGT_NET_T_DER, der, len);
        free(der);
        return csa_ipc_send(n->fd, &o);
    }
    err = csa_raise(CSA_ERR_POLICY,
                    "request type %u is not one the key holder answers "
                    "during this job",
                    m->type);
refuse:
    csa_warn("holder", "refused a request of the network process: %s",
             csa_errmsg());
    return agt_net_reply_err(n->fd, err);
}

csa_err agt_net_read_done(const csa_ipc_msg *m, csa_err *job_err, char **msg,
                          char **problem, char **kid)
{
    uint64_t e = 0;
    csa_err err;

    *msg = *problem = *kid = NULL;
    if ((err = csa_ipc_only(m, agt_done_tags)) != CSA_OK ||
        (err = csa_ipc_u64(m, AGT_NET_T_ERR, CSA_ERR__MAX - 1, true, &e)) !=
            CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_MSG, 8192, false, msg)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_PROBLEM, 512, false, problem)) !=
            CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_KID, AGT_NET_URL_MAX, false, kid)) !=
            CSA_OK) {
        free(*msg);
        free(*problem);
        *msg = *problem = NULL;
        return err;
    }
    *job_err = (csa_err)e;
    return CSA_OK;
}

static csa_err agt_net_account_msg(agt_net *n);
static csa_err agt_net_config_msg(agt_net *n);

/* Sends job, answers requests until the job's end, and returns the end
 * message in done (the caller frees it) and the job's error. */
static csa_err agt_net_submit(agt_net *n, csa_ipc_out *job,
                              const agt_net_order_cb *cb)
{
    csa_err err;

    if (n->fd < 0) {
        /* It ended (or was stopped after an error): a fresh one, told the
         * configuration and the account first. */
        if ((err = agt_net_spawn(n)) != CSA_OK ||
            (err = agt_net_config_msg(n)) != CSA_OK ||
            (n->account != NULL && (err = agt_net_account_msg(n)) != CSA_OK)) {
            agt_net_reap(n);
            csa_ipc_out_free(job);
            return err;
        }
    }
    n->cb = cb;
    n->job = job->len >= 6 ? (job->buf[4] << 8 | job->buf[5]) : 0;
    free(n->csr);
    n->csr = NULL;
    if ((err = csa_ipc_send(n->fd, job)) != CSA_OK) {
        csa_err_context("the network process");
        csa_warn("holder", "stopping the network process: %s", csa_errmsg());
        agt_net_reap(n);
    }
    return err;
}

int agt_net_fd(const agt_net *n)
{
    return n->fd;
}

/* Whether the holder takes kid, the account URL at the end of a job, as
 * the account's: only on the CA's origin, and the one it knows unless the
 * job was a registration (where the CA names the account by its key).
 * What it knows is the only kid it lets a JWS carry (agt_net_jws_check).
 * Raises CSA_ERR_PROTOCOL when not. */
static bool agt_net_kid_ok(const agt_net *n, int job, const char *kid)
{
    if (!agt_url_chars_ok(kid) || !agt_on_origin(n->ca_url, kid))
        csa_raise(CSA_ERR_PROTOCOL,
                  "the account URL %.200s is not on the configured CA", kid);
    else if (n->kid != NULL && strcmp(n->kid, kid) != 0 &&
             job != AGT_NET_J_REGISTER)
        csa_raise(CSA_ERR_PROTOCOL,
                  "the account URL %.200s is not the account's (%.200s) "
                  "after job %d",
                  kid, n->kid, job);
    else
        return true;
    return false;
}

csa_err agt_net_step(agt_net *n, bool *finished, csa_ipc_msg *done)
{
    csa_ipc_msg m;
    csa_err err, job_err = CSA_OK;
    char *msg = NULL, *problem = NULL, *kid = NULL;
    int job = n->job;

    *finished = false;
    memset(done, 0, sizeof(*done));
    if (n->fd < 0) {
        *finished = true;
        return csa_raise(CSA_ERR_IO, "the network process is not running");
    }
    if ((err = csa_ipc_recv(n->fd, CSA_IPC_MAX, &m)) != CSA_OK)
        goto broken;
    if (m.type != AGT_NET_R_DONE) {
        err = agt_net_answer(n, &m, n->cb);
        csa_ipc_msg_free(&m);
        if (err != CSA_OK)
            goto broken;
        return CSA_OK;
    }
    *finished = true;
    n->cb = NULL;
    n->job = 0;
    if ((err = agt_net_read_done(&m, &job_err, &msg, &problem, &kid)) !=
        CSA_OK) {
        csa_ipc_msg_free(&m);
        goto broken;
    }
    free(n->problem);
    n->problem = problem;
    if (kid != NULL && !agt_net_kid_ok(n, job, kid)) {
        csa_warn("holder", "refused a request of the network process: %s",
                 csa_errmsg());
        free(kid);
        kid = NULL;
        if (job_err == CSA_OK) {
            job_err = CSA_ERR_PROTOCOL;
            free(msg);
            msg = strdup(csa_errmsg());
        }
    }
    if (kid != NULL) {
        free(n->kid);
        n->kid = kid;
    }
    if (job_err != CSA_OK) {
        csa_raise(job_err, "%s", msg ? msg : "(no message)");
        csa_ipc_msg_free(&m);
    } else {
        *done = m;
    }
    free(msg);
    return job_err;
broken:
    *finished = true;
    n->cb = NULL;
    n->job = 0;
    csa_err_context("the network process");
    csa_warn("holder", "stopping the network process: %s", csa_errmsg());
    agt_net_reap(n);
    return err;
}

/* Sends job, answers requests until the job's end, and returns the end
 * message in done (the caller frees it) and the job's error. */
static csa_err agt_net_job(agt_net *n, csa_ipc_out *job,
                           const agt_net_order_cb *cb, csa_ipc_msg *done)
{
    bool finished = false;
    csa_err err;

    memset(done, 0, sizeof(*done));
    if ((err = agt_net_submit(n, job, cb)) != CSA_OK)
        return err;
    do
        err = agt_net_step(n, &finished, done);
    while (err == CSA_OK && !finished);
    return err;
}

/* A job with no result but its error. */
static csa_err agt_net_simple(agt_net *n, csa_ipc_out *job)
{
    csa_ipc_msg done;
    csa_err err = agt_net_job(n, job, NULL, &done);

    csa_ipc_msg_free(&done);
    return err;
}

static csa_err agt_net_config_msg(agt_net *n)
{
    csa_ipc_out o;

    csa_ipc_begin(&o, AGT_NET_J_CONFIG);
    csa_ipc_put_str(&o, AGT_NET_T_PATH, n->path);
    csa_ipc_put_str(&o, AGT_NET_T_CONFIG, n->config);
    csa_ipc_put_str(&o, AGT_NET_T_POLICY, n->policy);
    return agt_net_simple(n, &o);
}

static csa_err agt_net_account_msg(agt_net *n)
{
    csa_ipc_out o;

    csa_ipc_begin(&o, AGT_NET_J_ACCOUNT);
    csa_ipc_put_str(&o, AGT_NET_T_ALG, n->account->alg);
    csa_ipc_put_str(&o, AGT_NET_T_JWK, n->account->jwk);
    csa_ipc_put_str(&o, AGT_NET_T_KID, n->kid);
    return agt_net_simple(n, &o);
}

csa_err agt_net_set_account(agt_net *n, const csa_signer *key, const char *kid)
{
    char *k = kid ? strdup(kid) : NULL;

    if (kid != NULL && k == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    free(n->kid);
    n->kid = k;
    n->account = key;
    if (key == NULL)
        return CSA_OK;
    if (n->fd < 0)
        return CSA_OK; /* told when it starts */
    return agt_net_account_msg(n);
}

csa_err agt_net_directory(agt_net *n)
{
    csa_ipc_out o;

    csa_ipc_begin(&o, AGT_NET_J_DIRECTORY);
    return agt_net_simple(n, &o);
}

static char *agt_net_join(const char *const *list, size_t count)
{
    size_t len = 1, i;
    char *s;

    for (i = 0; i < count; i++)
        len += strlen(list[i]) + 1;
    if ((s = malloc(len)) == NULL)
        return NULL;
    s[0] = '\0';
    for (i = 0; i < count; i++) {
        if (i > 0)
            strcat(s, "\n");
        strcat(s, list[i]);
    }
    return s;
}

static csa_err agt_net_contacts(const char *const *contact, size_t count,
                                char **out)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (strchr(contact[i], '\n') != NULL)
            return csa_raise(CSA_ERR_CONFIG, "contact '%.64s' has a newline",
                             contact[i]);
    if ((*out = agt_net_join(contact, count)) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    return CSA_OK;
}

/* The account object from a job's end. */
static csa_err agt_net_account_out(const csa_ipc_msg *m, acme_account **out)
{
    acme_account *a = calloc(1, sizeof(*a));
    char *contacts = NULL, *p, *save = NULL;
    uint64_t status = 0;
    csa_err err;

    if (a == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if ((err = csa_ipc_str(m, AGT_NET_T_KID, AGT_NET_URL_MAX, true, &a->url)) !=
            CSA_OK ||
        (err = csa_ipc_u64(m, AGT_NET_T_STATUS, ACME_STATUS__MAX - 1, true,
                           &status)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_ORDERS, AGT_NET_URL_MAX, false,
                           &a->orders)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_CONTACT, 65536, false, &contacts)) !=
            CSA_OK)
        goto done;
    a->status = (acme_status)status;
    for (p = contacts ? strtok_r(contacts, "\n", &save) : NULL; p != NULL;
         p = strtok_r(NULL, "\n", &save)) {
        char **c = realloc(a->contact, (a->n_contact + 1) * sizeof(*c));

        if (c == NULL || (c[a->n_contact] = strdup(p)) == NULL) {
            if (c != NULL)
                a->contact = c;
            err = csa_raise(CSA_ERR_NOMEM, "out of memory");
            goto done;
        }
        a->contact = c;
        a->n_contact++;
    }
done:
    free(contacts);
    if (err != CSA_OK)
        acme_account_free(a);
    else
        *out = a;
    return err;
}

static csa_err agt_net_account_job(agt_net *n, csa_ipc_out *o,
                                   acme_account **out)
{
    csa_ipc_msg done;
    csa_err err = agt_net_job(n, o, NULL, &done);

    if (err == CSA_OK && out != NULL)
        err = agt_net_account_out(&done, out);
    csa_ipc_msg_free(&done);
    return err;
}

csa_err agt_net_register(agt_net *n, const acme_account_opts *a,
                         acme_account **out)
{
    csa_ipc_out o;
    char *contacts = NULL;
    csa_err err;

    if (out != NULL)
        *out = NULL;
    if ((err = agt_net_contacts(a->contact, a->n_contact, &contacts)) != CSA_OK)
        return err;
    csa_ipc_begin(&o, AGT_NET_J_REGISTER);
    csa_ipc_put_str(&o, AGT_NET_T_CONTACT, contacts);
    csa_ipc_put_u64(&o, AGT_NET_T_TERMS, a->terms_agreed ? 1 : 0);
    csa_ipc_put_u64(&o, AGT_NET_T_ONLY, a->only_return_existing ? 1 : 0);
    csa_ipc_put_str(&o, AGT_NET_T_EAB_KID, a->eab_kid);
    if (a->eab_key != NULL)
        csa_ipc_put(&o, AGT_NET_T_EAB_KEY, a->eab_key->data, a->eab_key->len);
    csa_ipc_put_str(&o, AGT_NET_T_EAB_ALG, a->eab_alg);
    free(contacts);
    return agt_net_account_job(n, &o, out);
}

csa_err agt_net_update(agt_net *n, const char *const *contact, size_t n_contact,
                       acme_account **out)
{
    csa_ipc_out o;
    char *contacts = NULL;
    csa_err err;

    if (out != NULL)
        *out = NULL;
    if ((err = agt_net_contacts(contact, n_contact, &contacts)) != CSA_OK)
        return err;
    csa_ipc_begin(&o, AGT_NET_J_UPDATE);
    csa_ipc_put_str(&o, AGT_NET_T_CONTACT, contacts);
    free(contacts);
    return agt_net_account_job(n, &o, out);
}

csa_err agt_net_deactivate(agt_net *n)
{
    csa_ipc_out o;

    csa_ipc_begin(&o, AGT_NET_J_DEACTIVATE);
    return agt_net_simple(n, &o);
}

csa_err agt_net_key_change(agt_net *n, const csa_signer *new_key)
{
    csa_ipc_out o;
    csa_err err;

    csa_ipc_begin(&o, AGT_NET_J_KEYCHANGE);
    csa_ipc_put_str(&o, AGT_NET_T_ALG, new_key->alg);
    csa_ipc_put_str(&o, AGT_NET_T_JWK, new_key->jwk);
    n->next = new_key;
    err = agt_net_simple(n, &o);
    n->next = NULL;
    if (err == CSA_OK)
        n->account = new_key; /* as acme_key_change: borrowed */
    return err;
}

csa_err agt_net_revoke(agt_net *n, const unsigned char *der, size_t len,
                       int reason, const csa_signer *cert_key)
{
    csa_ipc_out o;
    csa_err err;

    csa_ipc_begin(&o, AGT_NET_J_REVOKE);
    csa_ipc_put(&o, AGT_NET_T_DER, der, len);
    csa_ipc_put_i64(&o, AGT_NET_T_REASON, reason);
    if (cert_key != NULL) {
        csa_ipc_put_str(&o, AGT_NET_T_ALG, cert_key->alg);
        csa_ipc_put_str(&o, AGT_NET_T_JWK, cert_key->jwk);
    }
    n->cert = cert_key;
    err = agt_net_simple(n, &o);
    n->cert = NULL;
    return err;
}

csa_err agt_net_renewal_info(agt_net *n, const unsigned char *der, size_t len,
                             acme_renewal **out)
{
    csa_ipc_out o;
    csa_ipc_msg done;
    acme_renewal *r;
    int64_t start = 0, end = 0, retry = -1;
    csa_err err;

    *out = NULL;
    csa_ipc_begin(&o, AGT_NET_J_ARI);
    csa_ipc_put(&o, AGT_NET_T_DER, der, len);
    if ((err = agt_net_job(n, &o, NULL, &done)) != CSA_OK)
        return err;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    else if ((err = csa_ipc_i64(&done, AGT_NET_T_START, INT64_MIN, INT64_MAX,
                                true, &start)) == CSA_OK &&
             (err = csa_ipc_i64(&done, AGT_NET_T_END, INT64_MIN, INT64_MAX,
                                true, &end)) == CSA_OK &&
             (err = csa_ipc_i64(&done, AGT_NET_T_RETRY, -1, 86400, false,
                                &retry)) == CSA_OK)
        err = csa_ipc_str(&done, AGT_NET_T_EXPLAIN, AGT_NET_URL_MAX, false,
                          &r->explanation);
    csa_ipc_msg_free(&done);
    if (err != CSA_OK) {
        acme_renewal_free(r);
        return err;
    }
    r->start = (time_t)start;
    r->end = (time_t)end;
    r->retry_after = (long)retry;
    *out = r;
    return CSA_OK;
}

csa_err agt_net_order_submit(agt_net *n, const char *identity,
                             const char *replaces, int64_t not_after,
                             const agt_net_order_cb *cb)
{
    csa_ipc_out o;

    csa_ipc_begin(&o, AGT_NET_J_ORDER);
    csa_ipc_put_str(&o, AGT_NET_T_IDENTITY, identity);
    csa_ipc_put_str(&o, AGT_NET_T_REPLACES, replaces);
    if (not_after > 0)
        csa_ipc_put_i64(&o, AGT_NET_T_NOT_AFTER, not_after);
    return agt_net_submit(n, &o, cb);
}

csa_err agt_net_order_chain(csa_ipc_msg *done, STACK_OF(X509) * *chain)
{
    const unsigned char *der;
    size_t len;
    csa_err err;

    *chain = NULL;
    /* DER only: the network process parsed the PEM; what it sends is
     * parsed here by OpenSSL and then verified before any use. */
    if ((err = csa_ipc_bytes(done, AGT_NET_T_CHAIN, AGT_NET_CHAIN_MAX, true,
                             &der, &len)) == CSA_OK)
        err = agt_chain_from_der(der, len, chain);
    csa_ipc_msg_free(done);
    return err;
}

csa_err agt_net_order(agt_net *n, const char *identity, const char *replaces,
                      const agt_net_order_cb *cb, STACK_OF(X509) * *chain)
{
    csa_ipc_msg done;
    bool finished = false;
    csa_err err;

    *chain = NULL;
    memset(&done, 0, sizeof(done));
    if ((err = agt_net_order_submit(n, identity, replaces, 0, cb)) != CSA_OK)
        return err;
    do
        err = agt_net_step(n, &finished, &done);
    while (err == CSA_OK && !finished);
    if (err != CSA_OK)
        return err;
    return agt_net_order_chain(&done, chain);
}

csa_err agt_net_check_request(const unsigned char *body, size_t len)
{
    csa_ipc_msg m;
    static const agt_net_view v = {"https://127.0.0.1:14000/dir",
                                   AGT_NET_J_ORDER,
                                   "https://127.0.0.1:14000/acct/1", "QUJD"};
    acme_challenge ch;
    agt_otp_hints h;
    agt_net_jws_req r;
    char *a, *b, *c;
    csa_err err = csa_ipc_parse(body, len, CSA_IPC_MAX, &m), job_err;

    m.buf = NULL;
    if (err != CSA_OK)
        return err;
    switch (m.type) {
    case AGT_NET_C_JWS:
        if ((err = agt_net_jws_check(&v, &m, &r)) == CSA_OK)
            agt_net_jws_req_free(&r);
        return err;
    case AGT_NET_C_CHALLENGE:
        if ((err = agt_net_read_challenge(&m, &ch, &h)) == CSA_OK)
            agt_net_challenge_free(&ch);
        return err;
    case AGT_NET_C_CSR:
        return m.n == 0 ? CSA_OK
                        : csa_raise(CSA_ERR_PROTOCOL, "csr request with "
                                                      "fields");
    case AGT_NET_R_DONE:
        if ((err = agt_net_read_done(&m, &job_err, &a, &b, &c)) == CSA_OK) {
            free(a);
            free(b);
            free(c);
        }
        return err;
    default:
        return csa_raise(CSA_ERR_PROTOCOL, "request type %u", m.type);
    }
}
