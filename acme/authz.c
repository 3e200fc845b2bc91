/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authorizations and challenges (RFC 8555 §7.5): fetch, pre-authorize with
 * newAuthz, choose a challenge from the caller's preferences, respond, and
 * poll until the CA decides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme_int.h"
#include "csa_log.h"

static void challenge_clear(acme_challenge *ch)
{
    free(ch->type);
    free(ch->url);
    free(ch->token);
    free(ch->error);
    free(ch->json);
}

static void authz_clear(acme_authz *a)
{
    size_t i;

    free(a->url);
    free(a->identifier_type);
    free(a->identifier_value);
    for (i = 0; i < a->n_challenges; i++)
        challenge_clear(&a->challenges[i]);
    free(a->challenges);
    memset(a, 0, sizeof(*a));
}

void acme_authz_free(acme_authz *a)
{
    if (a == NULL)
        return;
    authz_clear(a);
    free(a);
}

static csa_err challenge_from_json(json_object *obj, acme_challenge *ch)
{
    json_object *e = NULL;

    if (!json_object_is_type(obj, json_type_object))
        return csa_raise(CSA_ERR_PROTOCOL, "a challenge is not an object");
    ch->type = acme_json_strdup(obj, "type");
    ch->url = acme_json_strdup(obj, "url");
    ch->token = acme_json_strdup(obj, "token");
    ch->status = acme_status_parse(acme_json_str(obj, "status"));
    if (json_object_object_get_ex(obj, "error", &e))
        ch->error = acme_problem_summary(e);
    ch->json = strdup(json_object_to_json_string_ext(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    if (ch->type == NULL || ch->url == NULL)
        return csa_raise(CSA_ERR_PROTOCOL, "a challenge lacks type or url");
    if (ch->json == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    return CSA_OK;
}

static csa_err authz_challenges(json_object *obj, acme_authz *a)
{
    json_object *arr = NULL;
    size_t i, n;
    csa_err err;

    if (!json_object_object_get_ex(obj, "challenges", &arr) ||
        !json_object_is_type(arr, json_type_array))
        return csa_raise(CSA_ERR_PROTOCOL,
                         "the authorization %s has no "
                         "challenges",
                         a->url);
    n = json_object_array_length(arr);
    a->challenges = calloc(n + 1, sizeof(*a->challenges));
    if (a->challenges == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        a->n_challenges = i + 1;
        err = challenge_from_json(json_object_array_get_idx(arr, i),
                                  &a->challenges[i]);
        if (err != CSA_OK)
            return err;
    }
    return CSA_OK;
}

csa_err acme_authz_from_json(json_object *obj, const char *url, acme_authz *a)
{
    json_object *id = NULL, *wc = NULL;

    authz_clear(a);
    a->url = strdup(url);
    if (a->url == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    a->status = acme_status_parse(acme_json_str(obj, "status"));
    a->expires = acme_time_parse(acme_json_str(obj, "expires"));
    if (a->expires == (time_t)-1)
        a->expires = 0;
    if (json_object_object_get_ex(obj, "wildcard", &wc))
        a->wildcard = json_object_get_boolean(wc);
    json_object_object_get_ex(obj, "identifier", &id);
    a->identifier_type = acme_json_strdup(id, "type");
    a->identifier_value = acme_json_strdup(id, "value");
    if (a->status == ACME_STATUS_UNKNOWN || a->identifier_type == NULL ||
        a->identifier_value == NULL)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "the authorization %s lacks a "
                         "status or identifier",
                         url);
    return authz_challenges(obj, a);
}

/* POSTs payload (NULL = POST-as-GET) to url and parses an authz.  A
 * payload is sent once: newAuthz creates an authorization each time (csca
 * hands out the next factor), and a repeated deactivation after a lost
 * answer would be refused although the first went through. */
static csa_err authz_post(acme_client *c, const char *url, const char *payload,
                          acme_authz **out, long *retry_after)
{
    acme_http_resp r = {0};
    json_object *obj = NULL;
    acme_authz *a = calloc(1, sizeof(*a));
    csa_err err;

    *out = NULL;
    if (a == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if ((err = acme_post_json(c, url, payload, ACME_SEND_ONCE, &r, &obj)))
        goto done;
    /* newAuthz answers with the new authorization's URL in Location */
    err =
        acme_authz_from_json(obj, r.location && payload ? r.location : url, a);
    if (err != CSA_OK)
        goto done;
    if (retry_after != NULL)
        *retry_after = acme_retry_after_parse(r.retry_after_raw, time(NULL));
    *out = a;
    a = NULL;
done:
    acme_authz_free(a);
    json_object_put(obj);
    acme_http_resp_clear(&r);
    return err;
}

csa_err acme_authz_get(acme_client *c, const char *url, acme_authz **out)
{
    return authz_post(c, url, NULL, out, NULL);
}

csa_err acme_new_authz(acme_client *c, const acme_identifier *id,
                       acme_authz **out)
{
    const acme_directory *dir;
    json_object *p = NULL, *ido = NULL;
    csa_err err;

    *out = NULL;
    if ((err = acme_directory_get(c, &dir)) != CSA_OK)
        return err;
    if (dir->new_authz == NULL)
        return csa_raise(CSA_ERR_UNSUPPORTED,
                         "the CA offers no pre-authorization (newAuthz)");
    p = json_object_new_object();
    ido = json_object_new_object();
    if (p == NULL || ido == NULL) {
        json_object_put(p);
        json_object_put(ido);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    json_object_object_add(ido, "type", json_object_new_string(id->type));
    json_object_object_add(ido, "value", json_object_new_string(id->value));
    json_object_object_add(p, "identifier", ido);
    err = authz_post(c, dir->new_authz,
                     json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN),
                     out, NULL);
    json_object_put(p);
    return err;
}

csa_err acme_authz_deactivate(acme_client *c, const char *url)
{
    acme_authz *a = NULL;
    csa_err err = authz_post(c, url, "{\"status\":\"deactivated\"}", &a, NULL);

    acme_authz_free(a);
    return err;
}

const acme_challenge *acme_challenge_select(const acme_authz *a,
                                            const char *const *prefs,
                                            size_t n_prefs)
{
    size_t i, j;

    for (i = 0; i < n_prefs; i++)
        for (j = 0; j < a->n_challenges; j++)
            if (strcmp(a->challenges[j].type, prefs[i]) == 0 &&
                a->challenges[j].status != ACME_STATUS_INVALID)
                return &a->challenges[j];
    return NULL;
}

/*
 * A CA may refuse a second "{}" once the challenge left "pending" (Pebble
 * answers malformed), so a repeat whose earlier attempt went through, its
 * answer lost, looks like a failure.  The challenge's own
 * state then tells: anything but pending means the validation started,
 * and the authorization wait that follows reports how it ended.
 */
static csa_err respond_lost_answer(acme_client *c, const char *url,
                                   const acme_http_resp *r, csa_err err)
{
    acme_http_resp cr = {0};
    json_object *obj = NULL;
    acme_status st;
    char refusal[512];

    if (err != CSA_ERR_CA_PROBLEM || !r->maybe_applied)
        return err;
    snprintf(refusal, sizeof(refusal), "%s", csa_errmsg());
    err = acme_post_json(c, url, NULL, ACME_REPEATABLE, &cr, &obj);
    if (err == CSA_OK) {
        st = acme_status_parse(acme_json_str(obj, "status"));
        if (st == ACME_STATUS_PENDING || st == ACME_STATUS_UNKNOWN)
            err = csa_raise(CSA_ERR_CA_PROBLEM, "%s (the challenge is %s)",
                            refusal, acme_status_name(st));
        else
            csa_info("acme",
                     "challenge %s: an earlier answer whose reply was "
                     "lost was accepted; the challenge is %s",
                     url, acme_status_name(st));
    }
    json_object_put(obj);
    acme_http_resp_clear(&cr);
    return err;
}

csa_err acme_challenge_respond(acme_client *c, const char *url,
                               const char *payload_json)
{
    return acme_challenge_answer(c, url, payload_json, NULL);
}

csa_err acme_challenge_answer(acme_client *c, const char *url,
                              const char *payload_json, acme_status *status)
{
    acme_post_req req = {.url = url,
                         .payload = payload_json ? payload_json : "{}",
                         .max = ACME_MAX_JSON,
                         .accept = ACME_CT_JSON};
    acme_http_resp r = {0};
    csa_err err;

    /* anything but "{}" may carry an OTP or a signature: log its size only */
    req.secret_payload = strcmp(req.payload, "{}") != 0;
    /* "{}" only says "validate now" (§7.5.1) and may be said twice.  An
     * OTP is sent once: the CA may have consumed it with an answer we
     * never saw, and a second sending would count as a replayed, wrong
     * answer (docs/protocol.md §4.1, §6). */
    req.repeat = req.secret_payload ? ACME_SEND_ONCE : ACME_REPEATABLE;
    if (status != NULL)
        *status = ACME_STATUS_UNKNOWN;
    err = acme_post(c, &req, &r);
    if (err == CSA_OK && status != NULL) {
        /* The challenge as the CA answers it; a body that does not parse
         * only costs the wait that follows. */
        json_object *obj = NULL;

        if (acme_json_parse(r.body, r.len, &obj) == CSA_OK)
            *status = acme_status_parse(acme_json_str(obj, "status"));
        else
            csa_err_clear();
        json_object_put(obj);
    }
    if (!req.secret_payload)
        err = respond_lost_answer(c, url, &r, err);
    acme_http_resp_clear(&r);
    if (err != CSA_OK)
        csa_err_context("answering challenge %s", url);
    return err;
}

static const char authz_no_error[] = "no challenge error given";

/* The first challenge error of an authz, for the message. */
static const char *authz_error(const acme_authz *a)
{
    size_t i;

    for (i = 0; i < a->n_challenges; i++)
        if (a->challenges[i].error != NULL)
            return a->challenges[i].error;
    return authz_no_error;
}

csa_err acme_authz_wait(acme_client *c, const char *url, acme_authz **out)
{
    time_t deadline = time(NULL) + c->poll_deadline_s;
    acme_authz *a = NULL;
    unsigned attempt = 0;
    long ra = -1;
    csa_err err;

    if (out != NULL)
        *out = NULL;
    for (;;) {
        acme_authz_free(a);
        if ((err = authz_post(c, url, NULL, &a, &ra)) != CSA_OK)
            return err;
        if (a->status != ACME_STATUS_PENDING)
            break;
        /* RFC 8555 §8.2: a CA may keep a challenge pending after a wrong
         * answer and say why in its "error".  Waiting would only hide
         * that: the wait stops at once, with the CA's detail. */
        if (authz_error(a) != authz_no_error) {
            err = csa_raise(CSA_ERR_CA_PROBLEM,
                            "authorization for %s:%s is still pending, but "
                            "the CA reports: %s",
                            a->identifier_type, a->identifier_value,
                            authz_error(a));
            goto done;
        }
        if ((err = acme_poll_sleep(c, deadline, ra, &attempt)) != CSA_OK) {
            err = csa_raise(err, "authorization %s still pending after %ld s",
                            url, c->poll_deadline_s);
            goto done;
        }
    }
    if (a->status == ACME_STATUS_INVALID)
        err =
            csa_raise(CSA_ERR_CA_PROBLEM,
                      "authorization for %s:%s is "
                      "invalid: %s",
                      a->identifier_type, a->identifier_value, authz_error(a));
    else if (a->status != ACME_STATUS_VALID)
        err = csa_raise(CSA_ERR_CA_PROBLEM, "authorization for %s is %s",
                        a->identifier_value, acme_status_name(a->status));
done:
    if (out != NULL) {
        *out = a;
        a = NULL;
    }
    acme_authz_free(a);
    return err;
}
