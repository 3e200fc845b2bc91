/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client object, the directory (RFC 8555 §7.1.1) and polling back-off.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme_int.h"
#include "csa_log.h"

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

csa_err acme_client_new(const acme_client_opts *opts, acme_client **out)
{
    acme_client *c = NULL;
    csa_err err = CSA_OK;

    *out = NULL;
    if (opts == NULL || opts->directory_url == NULL)
        return csa_raise(CSA_ERR_INVALID, "ACME directory URL is missing");
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    c->curl = curl_easy_init();
    c->directory_url = strdup(opts->directory_url);
    c->ca_bundle = dup_or_null(opts->ca_bundle);
    c->user_agent =
        strdup(opts->user_agent ? opts->user_agent : "csagent-acme/0.1");
    if (c->curl == NULL || c->directory_url == NULL || c->user_agent == NULL ||
        (opts->ca_bundle != NULL && c->ca_bundle == NULL)) {
        err = csa_raise(CSA_ERR_NOMEM, "cannot create the ACME client");
        goto done;
    }
    c->connect_timeout_s =
        opts->connect_timeout_s > 0 ? opts->connect_timeout_s : 10;
    c->timeout_s = opts->timeout_s > 0 ? opts->timeout_s : 30;
    c->poll_deadline_s =
        opts->poll_deadline_s > 0 ? opts->poll_deadline_s : 120;
    c->max_retry_after_s =
        opts->max_retry_after_s > 0 ? opts->max_retry_after_s : 10;
    c->retry_base_ms = opts->retry_base_ms > 0 ? opts->retry_base_ms : 1000;
    if (c->retry_base_ms > ACME_RETRY_BASE_MAX)
        c->retry_base_ms = ACME_RETRY_BASE_MAX;
    c->cancel = opts->cancel;
    c->hook_env = opts->hook_env;
    *out = c;
    c = NULL;
done:
    acme_client_free(c);
    return err;
}

static void directory_clear(acme_directory *d)
{
    free(d->new_nonce);
    free(d->new_account);
    free(d->new_order);
    free(d->revoke_cert);
    free(d->key_change);
    free(d->new_authz);
    free(d->renewal_info);
    free(d->terms_of_service);
    free(d->website);
    acme_strv_free(d->caa_identities, d->n_caa_identities);
    memset(d, 0, sizeof(*d));
}

void acme_client_free(acme_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    acme_nonce_clear(c);
    directory_clear(&c->dir);
    free(c->directory_url);
    free(c->ca_bundle);
    free(c->user_agent);
    free(c->kid);
    free(c->last_problem);
    free(c);
}

csa_err acme_client_set_account(acme_client *c, const csa_signer *key,
                                const char *kid)
{
    char *copy = NULL;

    if (key == NULL || key->alg == NULL || key->jwk == NULL ||
        (key->sign_jws == NULL && key->build_jws == NULL))
        return csa_raise(CSA_ERR_INVALID, "the account signer is incomplete");
    if (kid != NULL && (copy = strdup(kid)) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    free(c->kid);
    c->kid = copy;
    c->key = key;
    return CSA_OK;
}

const char *acme_client_kid(const acme_client *c)
{
    return c->kid;
}

const char *acme_client_last_problem(const acme_client *c)
{
    return c->last_problem;
}

void acme_set_last_problem(acme_client *c, const char *type)
{
    free(c->last_problem);
    c->last_problem = type != NULL ? strdup(type) : NULL;
}

static csa_err directory_url(json_object *obj, const char *key, int required,
                             char **out)
{
    const char *v = acme_json_str(obj, key);

    if (v == NULL)
        return required ? csa_raise(CSA_ERR_PROTOCOL,
                                    "the ACME directory has no \"%s\"", key)
                        : CSA_OK;
    if (strncmp(v, "https://", 8) != 0)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "the ACME directory's \"%s\" is not an https URL",
                         key);
    *out = strdup(v);
    return *out != NULL ? CSA_OK : csa_raise(CSA_ERR_NOMEM, "out of memory");
}

static csa_err directory_meta(json_object *obj, acme_directory *d)
{
    json_object *meta = NULL, *ear = NULL;

    if (!json_object_object_get_ex(obj, "meta", &meta) ||
        !json_object_is_type(meta, json_type_object))
        return CSA_OK;
    d->terms_of_service = acme_json_strdup(meta, "termsOfService");
    d->website = acme_json_strdup(meta, "website");
    if (json_object_object_get_ex(meta, "externalAccountRequired", &ear))
        d->external_account_required = json_object_get_boolean(ear);
    return acme_json_strv(meta, "caaIdentities", &d->caa_identities,
                          &d->n_caa_identities);
}

static csa_err directory_parse(json_object *obj, acme_directory *d)
{
    csa_err err;

    if ((err = directory_url(obj, "newNonce", 1, &d->new_nonce)) ||
        (err = directory_url(obj, "newAccount", 1, &d->new_account)) ||
        (err = directory_url(obj, "newOrder", 1, &d->new_order)) ||
        (err = directory_url(obj, "revokeCert", 1, &d->revoke_cert)) ||
        (err = directory_url(obj, "keyChange", 1, &d->key_change)) ||
        (err = directory_url(obj, "newAuthz", 0, &d->new_authz)) ||
        (err = directory_url(obj, "renewalInfo", 0, &d->renewal_info)))
        return err;
    return directory_meta(obj, d);
}

csa_err acme_directory_get(acme_client *c, const acme_directory **dir)
{
    acme_http_resp r = {0};
    json_object *obj = NULL;
    csa_err err;

    if (c->have_dir) {
        *dir = &c->dir;
        return CSA_OK;
    }
    err = acme_get(c, "GET", c->directory_url, ACME_MAX_JSON, &r);
    if (err != CSA_OK)
        goto done;
    if (r.status != 200) {
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "the ACME directory %s answered HTTP %ld",
                        c->directory_url, r.status);
        acme_retry_context(&r);
        goto done;
    }
    if (r.content_type == NULL || strcmp(r.content_type, ACME_CT_JSON) != 0) {
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "the ACME directory %s is %s, not application/json",
                        c->directory_url,
                        r.content_type ? r.content_type : "untyped");
        goto done;
    }
    if ((err = acme_json_parse(r.body, r.len, &obj)) != CSA_OK ||
        (err = directory_parse(obj, &c->dir)) != CSA_OK) {
        csa_err_context("directory %s", c->directory_url);
        directory_clear(&c->dir);
        goto done;
    }
    acme_nonce_put(c, r.nonce);
    c->have_dir = 1;
    *dir = &c->dir;
    csa_info("acme", "directory %s: newAuthz %s, renewalInfo %s, EAB %s",
             c->directory_url, c->dir.new_authz ? "yes" : "no",
             c->dir.renewal_info ? "yes" : "no",
             c->dir.external_account_required ? "required" : "optional");
done:
    json_object_put(obj);
    acme_http_resp_clear(&r);
    return err;
}

/* Sleeps ms milliseconds in steps of at most 100 ms: a signal handler
 * that sets *cancel is noticed soon even when the signal hit another
 * thread. */
csa_err acme_sleep_ms(const acme_client *c, long ms)
{
    struct timespec ts;

    while (ms > 0) {
        long step = ms < 100 ? ms : 100;

        if (c->cancel != NULL && *c->cancel)
            break;
        ts.tv_sec = 0;
        ts.tv_nsec = step * 1000 * 1000;
        nanosleep(&ts, NULL);
        ms -= step;
    }
    if (c->cancel != NULL && *c->cancel)
        return csa_raise(CSA_ERR_INTERRUPTED, "stopped while waiting for "
                                              "the CA");
    return CSA_OK;
}

csa_err acme_sleep(const acme_client *c, long s)
{
    return acme_sleep_ms(c, s * 1000);
}

/* Back-off: the CA's Retry-After when given (at least 1 s), else 50 ms
 * doubling to 12.8 s (a CA that says nothing is usually done within a
 * few hundred milliseconds, and Pebble never says); never past 30 s per
 * wait nor past the deadline, and at most ACME_POLL_MAX polls. */
csa_err acme_poll_sleep(const acme_client *c, time_t deadline, long retry,
                        unsigned *attempt)
{
    time_t now = time(NULL);
    long ms = retry >= 0 ? (retry < 1 ? 1000 : retry * 1000)
                         : 50L << (*attempt < 8 ? *attempt : 8);

    if (ms > 30000)
        ms = 30000;
    if (now >= deadline)
        return csa_raise(CSA_ERR_TIMEOUT, "the poll deadline passed");
    if (*attempt >= ACME_POLL_MAX)
        return csa_raise(CSA_ERR_TIMEOUT, "no answer after %d polls",
                         ACME_POLL_MAX);
    if (now + ms / 1000 > deadline)
        ms = (long)(deadline - now) * 1000;
    (*attempt)++;
    return acme_sleep_ms(c, ms);
}
