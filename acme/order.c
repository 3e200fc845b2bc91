/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Orders (RFC 8555 §7.4): newOrder (with RFC 9773 "replaces"), fetching,
 * finalize with the caller's CSR, and polling through "processing".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme_int.h"
#include "csa_log.h"
#include "csa_util.h"

static void order_clear(acme_order *o)
{
    free(o->url);
    acme_strv_free(o->identifier_types, o->n_identifiers);
    acme_strv_free(o->identifier_values, o->n_identifiers);
    acme_strv_free(o->authorizations, o->n_authorizations);
    free(o->finalize);
    free(o->certificate);
    free(o->error);
    memset(o, 0, sizeof(*o));
}

void acme_order_free(acme_order *o)
{
    if (o == NULL)
        return;
    order_clear(o);
    free(o);
}

static csa_err order_identifiers(json_object *obj, acme_order *o)
{
    json_object *arr = NULL;
    size_t i, n;

    if (!json_object_object_get_ex(obj, "identifiers", &arr) ||
        !json_object_is_type(arr, json_type_array))
        return csa_raise(CSA_ERR_PROTOCOL, "the order has no identifiers");
    n = json_object_array_length(arr);
    o->identifier_types = calloc(n + 1, sizeof(char *));
    o->identifier_values = calloc(n + 1, sizeof(char *));
    if (o->identifier_types == NULL || o->identifier_values == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    o->n_identifiers = n;
    for (i = 0; i < n; i++) {
        json_object *id = json_object_array_get_idx(arr, i);

        o->identifier_types[i] = acme_json_strdup(id, "type");
        o->identifier_values[i] = acme_json_strdup(id, "value");
        if (o->identifier_types[i] == NULL || o->identifier_values[i] == NULL)
            return csa_raise(CSA_ERR_PROTOCOL,
                             "the order holds a malformed identifier");
    }
    return CSA_OK;
}

csa_err acme_order_from_json(json_object *obj, const char *url, acme_order *o)
{
    json_object *e = NULL;
    csa_err err;

    order_clear(o);
    o->retry_after = -1;
    o->url = strdup(url);
    o->status = acme_status_parse(acme_json_str(obj, "status"));
    o->expires = acme_time_parse(acme_json_str(obj, "expires"));
    if (o->expires == (time_t)-1)
        o->expires = 0;
    o->finalize = acme_json_strdup(obj, "finalize");
    o->certificate = acme_json_strdup(obj, "certificate");
    if (json_object_object_get_ex(obj, "error", &e))
        o->error = acme_problem_summary(e);
    if (o->url == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (o->status == ACME_STATUS_UNKNOWN)
        return csa_raise(CSA_ERR_PROTOCOL, "the order %s has no valid status",
                         url);
    if (o->finalize == NULL)
        return csa_raise(CSA_ERR_PROTOCOL, "the order %s has no finalize URL",
                         url);
    if ((err = order_identifiers(obj, o)) != CSA_OK)
        return err;
    return acme_json_strv(obj, "authorizations", &o->authorizations,
                          &o->n_authorizations);
}

/* Parses a response into a new order (url: Location, else given). */
static csa_err order_from_resp(const acme_http_resp *r, json_object *obj,
                               const char *url, acme_order *o)
{
    csa_err err = acme_order_from_json(obj, url, o);

    if (err == CSA_OK)
        o->retry_after = acme_retry_after_parse(r->retry_after_raw, time(NULL));
    return err;
}

static char *order_payload(const acme_identifier *ids, size_t n,
                           const char *replaces, time_t not_after)
{
    char when[32];
    struct tm tm;

    json_object *p = json_object_new_object(), *arr = json_object_new_array();
    char *out = NULL;
    size_t i;

    if (p == NULL || arr == NULL) {
        json_object_put(p);
        json_object_put(arr);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        json_object *id = json_object_new_object();

        json_object_object_add(id, "type", json_object_new_string(ids[i].type));
        json_object_object_add(id, "value",
                               json_object_new_string(ids[i].value));
        json_object_array_add(arr, id);
    }
    json_object_object_add(p, "identifiers", arr);
    if (replaces != NULL)
        json_object_object_add(p, "replaces", json_object_new_string(replaces));
    /* RFC 8555 §7.4: an RFC 3339 date-time; UTC, whole seconds. */
    if (not_after > 0 && gmtime_r(&not_after, &tm) != NULL &&
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
        json_object_object_add(p, "notAfter", json_object_new_string(when));
    out = strdup(json_object_to_json_string_ext(
        p, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(p);
    return out;
}

static csa_err check_identifiers(const acme_identifier *ids, size_t n)
{
    size_t i;

    if (ids == NULL || n == 0)
        return csa_raise(CSA_ERR_INVALID, "an order needs an identifier");
    for (i = 0; i < n; i++)
        if (ids[i].type == NULL || ids[i].value == NULL ||
            ids[i].value[0] == '\0' ||
            (strcmp(ids[i].type, "dns") && strcmp(ids[i].type, "email")))
            return csa_raise(CSA_ERR_INVALID,
                             "identifier %zu is not a dns or email identifier",
                             i);
    return CSA_OK;
}

csa_err acme_order_new(acme_client *c, const acme_identifier *ids, size_t n,
                       const char *replaces, acme_order **out)
{
    return acme_order_new_until(c, ids, n, replaces, 0, out);
}

csa_err acme_order_new_until(acme_client *c, const acme_identifier *ids,
                             size_t n, const char *replaces, time_t not_after,
                             acme_order **out)
{
    const acme_directory *dir;
    acme_http_resp r = {0};
    json_object *obj = NULL;
    acme_order *o = NULL;
    char *payload = NULL;
    csa_err err;

    *out = NULL;
    if ((err = check_identifiers(ids, n)) ||
        (err = acme_directory_get(c, &dir)))
        return err;
    payload = order_payload(ids, n, replaces, not_after);
    o = calloc(1, sizeof(*o));
    if (payload == NULL || o == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Sent once: after a lost answer the CA may hold an order already,
     * and a second would be a second order (and a second "replaces" of
     * the same certificate, which RFC 9773 §5 refuses). */
    if ((err = acme_post_json(c, dir->new_order, payload, ACME_SEND_ONCE, &r,
                              &obj)))
        goto done;
    if (r.location == NULL) {
        err = csa_raise(CSA_ERR_PROTOCOL, "newOrder answered without Location");
        goto done;
    }
    if ((err = order_from_resp(&r, obj, r.location, o)) != CSA_OK)
        goto done;
    csa_info("acme", "order %s: %s, %zu authorization(s)", o->url,
             acme_status_name(o->status), o->n_authorizations);
    *out = o;
    o = NULL;
done:
    if (err != CSA_OK)
        csa_err_context("new order for %s", ids[0].value);
    acme_order_free(o);
    json_object_put(obj);
    free(payload);
    acme_http_resp_clear(&r);
    return err;
}

/* Re-reads o from its URL. */
static csa_err order_refresh(acme_client *c, acme_order *o)
{
    acme_http_resp r = {0};
    json_object *obj = NULL;
    char *url = strdup(o->url);
    csa_err err;

    if (url == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if ((err = acme_post_json(c, url, NULL, ACME_REPEATABLE, &r, &obj)) ==
        CSA_OK)
        err = order_from_resp(&r, obj, url, o);
    json_object_put(obj);
    acme_http_resp_clear(&r);
    free(url);
    return err;
}

csa_err acme_order_get(acme_client *c, const char *url, acme_order **out)
{
    acme_order *o = calloc(1, sizeof(*o));
    csa_err err;

    *out = NULL;
    if (o == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    o->url = strdup(url);
    if (o->url == NULL) {
        free(o);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    err = order_refresh(c, o);
    if (err != CSA_OK) {
        acme_order_free(o);
        return err;
    }
    *out = o;
    return CSA_OK;
}

/*
 * RFC 8555 §7.4: finalize moves a ready order on to "processing" and only
 * a ready order may be finalized, so a repeat cannot issue twice; but a
 * repeat whose earlier attempt went through (its answer lost) is refused
 * with orderNotReady.  The order's own state then tells: processing or
 * valid means the earlier attempt was accepted, with this CSR (the agent
 * holds the identity's lock, so no one else finalizes it meanwhile).
 */
static csa_err finalize_lost_answer(acme_client *c, acme_order *o,
                                    const acme_http_resp *r, csa_err err)
{
    char refusal[512];

    if (err != CSA_ERR_CA_PROBLEM || !r->maybe_applied ||
        !acme_last_problem_is(c, "orderNotReady"))
        return err;
    snprintf(refusal, sizeof(refusal), "%s", csa_errmsg());
    if ((err = order_refresh(c, o)) != CSA_OK)
        return err;
    if (o->status != ACME_STATUS_PROCESSING && o->status != ACME_STATUS_VALID)
        return csa_raise(CSA_ERR_CA_PROBLEM, "%s (the order is %s)", refusal,
                         acme_status_name(o->status));
    csa_info("acme",
             "order %s: an earlier finalize whose answer was lost was "
             "accepted; the order is %s",
             o->url, acme_status_name(o->status));
    return CSA_OK;
}

csa_err acme_order_finalize(acme_client *c, acme_order *o,
                            const unsigned char *csr_der, size_t csr_len)
{
    acme_http_resp r = {0};
    json_object *obj = NULL, *p = json_object_new_object();
    char *csr64 = csa_b64url_encode(csr_der, csr_len), *url = strdup(o->url);
    csa_err err;

    if (p == NULL || csr64 == NULL || url == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (o->status != ACME_STATUS_READY) {
        err = csa_raise(CSA_ERR_INVALID, "order %s is %s, not ready", url,
                        acme_status_name(o->status));
        goto done;
    }
    json_object_object_add(p, "csr", json_object_new_string(csr64));
    err = acme_post_json(
        c, o->finalize,
        json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN),
        ACME_REPEATABLE, &r, &obj);
    if (err == CSA_OK)
        err = order_from_resp(&r, obj, url, o);
    else
        err = finalize_lost_answer(c, o, &r, err);
    if (err == CSA_OK)
        csa_info("acme", "order %s finalized: %s", url,
                 acme_status_name(o->status));
done:
    if (err != CSA_OK)
        csa_err_context("finalizing order %s", url ? url : o->url);
    json_object_put(p);
    json_object_put(obj);
    free(csr64);
    free(url);
    acme_http_resp_clear(&r);
    return err;
}

csa_err acme_order_wait(acme_client *c, acme_order *o)
{
    time_t deadline = time(NULL) + c->poll_deadline_s;
    unsigned attempt = 0;
    csa_err err = CSA_OK;

    while (o->status == ACME_STATUS_PENDING ||
           o->status == ACME_STATUS_PROCESSING) {
        if ((err = acme_poll_sleep(c, deadline, o->retry_after, &attempt)) ||
            (err = order_refresh(c, o)))
            break;
    }
    if (err == CSA_ERR_TIMEOUT)
        return csa_raise(err, "order %s still %s after %ld s", o->url,
                         acme_status_name(o->status), c->poll_deadline_s);
    if (err != CSA_OK)
        return err;
    if (o->status == ACME_STATUS_INVALID)
        return csa_raise(CSA_ERR_CA_PROBLEM, "order %s is invalid: %s", o->url,
                         o->error ? o->error : "no error given");
    if (o->status != ACME_STATUS_READY && o->status != ACME_STATUS_VALID)
        return csa_raise(CSA_ERR_CA_PROBLEM, "order %s is %s", o->url,
                         acme_status_name(o->status));
    return CSA_OK;
}
