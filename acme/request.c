/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed POSTs with the bounded retries of RFC 8555 §6.5 and §6.6:
 * badNonce is retried at once with the nonce the error carried (Pebble
 * rejects 5% of good nonces on purpose); rateLimited and 503 are retried
 * only after a short Retry-After; transient failures (5xx, timeouts) of a
 * request that is safe to repeat are repeated with backoff (retry.c);
 * everything else becomes an error whose message carries the problem
 * document.  Every attempt is a new JWS over a fresh nonce: a nonce is
 * good for one request only (§6.5), whether or not it arrived.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme_int.h"
#include "csa_log.h"

#define PROBLEM_PREFIX "urn:ietf:params:acme:error:"

static int is_problem(const acme_problem *p, const char *name)
{
    size_t n = strlen(PROBLEM_PREFIX);

    return p->type != NULL && strncmp(p->type, PROBLEM_PREFIX, n) == 0 &&
           strcmp(p->type + n, name) == 0;
}

/* What to do with a failed answer: 1 = retry, 0 = error raised. */
typedef struct {
    unsigned bad_nonce, rate_limited;
} retry_state;

int acme_last_problem_is(const acme_client *c, const char *name)
{
    acme_problem p = {.type = c->last_problem};

    return is_problem(&p, name);
}

/* A 503 of a repeatable request was already waited on by retry.c, with
 * its own budget; here it is the CA's refusal of a request sent once
 * (RFC 9110 §15.6.4: the server did not handle it), like rateLimited. */
static int refused(const acme_http_resp *r, const acme_retry *rt,
                   const acme_problem *p)
{
    if (r->status == 503)
        return !rt->repeatable;
    return p != NULL && is_problem(p, "rateLimited");
}

static int should_retry(acme_client *c, const acme_post_req *req,
                        const acme_http_resp *r, const acme_retry *rt,
                        retry_state *st, csa_err *err)
{
    acme_problem p = {0};
    long ra = acme_retry_after_parse(r->retry_after_raw, time(NULL));
    int retry = 0;

    if (r->content_type == NULL || strcmp(r->content_type, ACME_CT_PROBLEM) ||
        acme_problem_parse(r->body, r->len, &p) != CSA_OK) {
        acme_set_last_problem(c, NULL);
        if (refused(r, rt, NULL) && ra >= 0 && ra <= c->max_retry_after_s &&
            st->rate_limited++ < ACME_RATELIMIT_TRIES) {
            *err = acme_sleep(c, ra);
            return *err == CSA_OK;
        }
        *err = csa_raise(CSA_ERR_PROTOCOL,
                         "the CA answered %s with HTTP %ld and no problem "
                         "document (%s)",
                         req->url, r->status,
                         r->content_type ? r->content_type : "untyped");
        return 0;
    }
    acme_set_last_problem(c, p.type);
    if (is_problem(&p, "badNonce") && ++st->bad_nonce < ACME_BADNONCE_TRIES) {
        csa_debug("acme", "badNonce from %s, retrying (%u)", req->url,
                  st->bad_nonce);
        retry = 1;
    } else if (refused(r, rt, &p) && ra >= 0 && ra <= c->max_retry_after_s &&
               st->rate_limited++ < ACME_RATELIMIT_TRIES) {
        csa_info("acme", "%s: %s; retrying after %ld s", req->url, p.summary,
                 ra);
        *err = acme_sleep(c, ra);
        retry = *err == CSA_OK;
    } else {
        *err = csa_raise(CSA_ERR_CA_PROBLEM, "the CA refused %s (HTTP %ld): %s",
                         req->url, r->status, p.summary);
    }
    acme_problem_clear(&p);
    return retry;
}

static csa_err post_once(acme_client *c, const acme_post_req *req,
                         const csa_signer *s, const char *kid,
                         const acme_retry *rt, acme_http_resp *r)
{
    char *nonce = NULL, *jws = NULL;
    csa_err err;

    /* nothing of the last attempt may pass for this one's (curl_rc) */
    acme_http_resp_clear(r);
    if ((err = acme_nonce_get(c, &nonce)) ||
        (err = acme_jws_build(s, req->url, nonce, kid, req->payload, &jws)))
        goto done;
    err = acme_http_do(c, "POST", req->url, jws, req->max,
                       rt->repeatable ? ACME_REPEATABLE : ACME_SEND_ONCE, r);
    if (err == CSA_OK)
        acme_nonce_put(c, r->nonce);
done:
    free(nonce);
    free(jws);
    return err;
}

static void log_payload(const acme_post_req *req)
{
    if (req->payload == NULL)
        csa_debug("acme", "POST-as-GET %s", req->url);
    else if (req->secret_payload)
        csa_debug("acme", "POST %s payload (redacted, %zu bytes)", req->url,
                  strlen(req->payload));
    else
        csa_debug("acme", "POST %s payload %s", req->url, req->payload);
}

csa_err acme_post(acme_client *c, const acme_post_req *req, acme_http_resp *r)
{
    const csa_signer *s = req->signer != NULL ? req->signer : c->key;
    const char *kid = req->use_jwk ? NULL : c->kid;
    const char *method = req->payload ? "POST" : "POST-as-GET";
    acme_retry rt = {.repeatable = req->payload == NULL ||
                                   req->repeat == ACME_REPEATABLE};
    retry_state st = {0, 0};
    csa_err err = CSA_OK;

    if (s == NULL)
        return csa_raise(CSA_ERR_INVALID, "no account key is set");
    if (!req->use_jwk && kid == NULL)
        return csa_raise(CSA_ERR_INVALID,
                         "no account URL is known: register first");
    log_payload(req);
    for (;;) {
        err = post_once(c, req, s, kid, &rt, r);
        if (err == CSA_OK && r->status >= 200 && r->status < 300)
            break;
        if (acme_retry_again(c, &rt, method, req->url, r, &err))
            continue;
        if (err != CSA_OK || !should_retry(c, req, r, &rt, &st, &err)) {
            acme_retry_done(&rt, r);
            acme_retry_context(r);
            return err;
        }
    }
    acme_retry_done(&rt, r);
    acme_set_last_problem(c, NULL);
    if (req->accept != NULL &&
        (r->content_type == NULL || strcmp(r->content_type, req->accept)))
        return csa_raise(CSA_ERR_PROTOCOL,
                         "the CA answered %s with %s, expected %s", req->url,
                         r->content_type ? r->content_type : "no content type",
                         req->accept);
    return CSA_OK;
}

csa_err acme_post_json(acme_client *c, const char *url, const char *payload,
                       acme_repeat repeat, acme_http_resp *r, json_object **obj)
{
    acme_post_req req = {.url = url,
                         .payload = payload,
                         .max = ACME_MAX_JSON,
                         .accept = ACME_CT_JSON,
                         .repeat = repeat};
    csa_err err;

    *obj = NULL;
    err = acme_post(c, &req, r);
    if (err == CSA_OK)
        err = acme_json_parse(r->body, r->len, obj);
    return err;
}
