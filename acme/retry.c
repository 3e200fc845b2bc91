/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transient failures (docs/protocol.md, "Transient failures").  A CA
 * behind a load balancer answers 502 or 504 while a node restarts, a
 * database hiccup gives 500, and a timeout or a dropped connection says
 * nothing about whether the request arrived.  Such a failure is repeated,
 * at most ACME_TRANSIENT_TRIES attempts in all, after waits of base, 2 *
 * base, 4 * base (+-50% jitter, so that agents that failed together do
 * not come back together), or after the CA's Retry-After when it sent one.
 *
 * Only requests whose second arrival cannot act twice are repeated when
 * the outcome of the first is unknown: GET, HEAD, POST-as-GET and the
 * signed POSTs their caller marks ACME_REPEATABLE.  A connection that was
 * never opened carried no request at all, so that failure is repeated for
 * every request, newOrder included.
 */
#include <stdint.h>
#include <stdio.h>

#include <openssl/rand.h>

#include "acme_int.h"
#include "csa_log.h"

typedef enum {
    FAIL_FINAL,   /* not transient: surfaced as it is */
    FAIL_UNSENT,  /* no connection: the request never left */
    FAIL_UNKNOWN, /* it may have reached the CA and taken effect */
} fail_kind;

static fail_kind classify(csa_err err, const acme_http_resp *r)
{
    if (err != CSA_OK) {
        switch (r->curl_rc) {
        case CURLE_COULDNT_CONNECT:
            return FAIL_UNSENT;
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
            return FAIL_UNKNOWN;
        default: /* TLS verification, DNS, size caps, bad URLs */
            return FAIL_FINAL;
        }
    }
    switch (r->status) {
    case 500: /* Internal Server Error */
    case 502: /* Bad Gateway */
    case 503: /* Service Unavailable */
    case 504: /* Gateway Timeout */
        return FAIL_UNKNOWN;
    default: /* 4xx is the CA's verdict on the request itself */
        return FAIL_FINAL;
    }
}

/* base << (n - 1), scaled by a uniform factor in [0.5, 1.5). */
static long backoff_ms(const acme_client *c, unsigned n)
{
    long nominal = c->retry_base_ms << (n - 1);
    uint32_t rnd;

    if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
        return nominal; /* no jitter is better than no retry */
    return nominal / 2 + (long)(((uint64_t)nominal * rnd) >> 32);
}

/* The wait before the next attempt in ms, or -1 when the CA asked for a
 * longer one than max_retry_after_s: then the caller reports the answer,
 * as it does for rateLimited (RFC 8555 §6.6). */
static long wait_ms(const acme_client *c, const acme_retry *rt, csa_err err,
                    const acme_http_resp *r)
{
    long ra = err == CSA_OK
                  ? acme_retry_after_parse(r->retry_after_raw, time(NULL))
                  : -1;

    /* RFC 9110 §10.2.3: the CA knows when it will be back.  Its word
     * replaces the backoff; nothing is added to it. */
    if (ra >= 0)
        return ra <= c->max_retry_after_s ? ra * 1000 : -1;
    return backoff_ms(c, rt->repeats + 1);
}

int acme_retry_again(acme_client *c, acme_retry *rt, const char *method,
                     const char *url, const acme_http_resp *r, csa_err *err)
{
    fail_kind kind = classify(*err, r);
    char why[64];
    long ms;

    if (kind == FAIL_FINAL)
        return 0;
    if (*err != CSA_OK)
        snprintf(why, sizeof(why), "%s",
                 curl_easy_strerror((CURLcode)r->curl_rc));
    else
        snprintf(why, sizeof(why), "HTTP %ld", r->status);
    if (kind == FAIL_UNKNOWN && !rt->repeatable) {
        /* (a 503 may still be the CA's refusal with a Retry-After, which
         * request.c waits on: it says so itself) */
        if (*err != CSA_OK || r->status != 503)
            csa_info("acme",
                     "%s %s: %s; not sent again, as the CA may have "
                     "acted on it and a second one could act twice",
                     method, url, why);
        return 0;
    }
    if (rt->repeats + 1 >= ACME_TRANSIENT_TRIES ||
        (ms = wait_ms(c, rt, *err, r)) < 0)
        return 0;
    csa_warn("acme",
             "%s %s: %s (attempt %u of %d); trying again in %ld.%03ld s",
             method, url, why, rt->repeats + 1, ACME_TRANSIENT_TRIES, ms / 1000,
             ms % 1000);
    if (kind == FAIL_UNKNOWN)
        rt->maybe_applied = 1;
    if ((*err = acme_sleep_ms(c, ms)) != CSA_OK)
        return 0;
    rt->repeats++;
    return 1;
}

void acme_retry_done(const acme_retry *rt, acme_http_resp *r)
{
    r->attempts = rt->repeats + 1;
    r->maybe_applied = rt->maybe_applied;
}

void acme_retry_context(const acme_http_resp *r)
{
    if (r->attempts > 1)
        csa_err_context("after %u attempts", r->attempts);
}

csa_err acme_get(acme_client *c, const char *method, const char *url,
                 size_t max, acme_http_resp *r)
{
    acme_retry rt = {.repeatable = 1};
    csa_err err;

    do
        err = acme_http_do(c, method, url, NULL, max, ACME_REPEATABLE, r);
    while ((err != CSA_OK || r->status < 200 || r->status > 299) &&
           acme_retry_again(c, &rt, method, url, r, &err));
    acme_retry_done(&rt, r);
    if (err != CSA_OK)
        acme_retry_context(r);
    return err;
}
