/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Accounts (RFC 8555 §7.3): newAccount with optional External Account
 * Binding, contact update, key rollover and deactivation.
 */
#include <stdlib.h>
#include <string.h>

#include "acme_int.h"
#include "csa_log.h"

void acme_account_free(acme_account *a)
{
    if (a == NULL)
        return;
    free(a->url);
    acme_strv_free(a->contact, a->n_contact);
    free(a->orders);
    free(a);
}

static csa_err account_from_json(json_object *obj, const char *url,
                                 acme_account **out)
{
    acme_account *a = calloc(1, sizeof(*a));
    csa_err err;

    *out = NULL;
    if (a == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    /* RFC 8555 §7.1.2: "status" is required; a null or a number is the
     * CA's protocol error, never a valid account. */
    if (acme_json_str(obj, "status") == NULL) {
        free(a);
        return csa_raise(CSA_ERR_PROTOCOL,
                         "account object %s: member \"status\" is missing "
                         "or not a string",
                         url);
    }
    a->status = acme_status_parse(acme_json_str(obj, "status"));
    a->orders = acme_json_strdup(obj, "orders");
    a->url = strdup(url);
    err = acme_json_strv(obj, "contact", &a->contact, &a->n_contact);
    if (err == CSA_OK && a->url == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (err != CSA_OK) {
        acme_account_free(a);
        return err;
    }
    *out = a;
    return CSA_OK;
}

static json_object *contact_array(const char *const *contact, size_t n)
{
    json_object *arr = json_object_new_array();
    size_t i;

    for (i = 0; arr != NULL && i < n; i++)
        json_object_array_add(arr, json_object_new_string(contact[i]));
    return arr;
}

static csa_err register_payload(acme_client *c, const acme_directory *dir,
                                const acme_account_opts *o, char **out)
{
    json_object *p = json_object_new_object(), *eab = NULL;
    csa_err err = CSA_OK;

    *out = NULL;
    if (p == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (o->n_contact > 0)
        json_object_object_add(p, "contact",
                               contact_array(o->contact, o->n_contact));
    if (o->terms_agreed)
        json_object_object_add(p, "termsOfServiceAgreed",
                               json_object_new_boolean(1));
    if (o->only_return_existing)
        json_object_object_add(p, "onlyReturnExisting",
                               json_object_new_boolean(1));
    if (o->eab_kid != NULL) {
        err = acme_jws_eab(o->eab_kid, o->eab_key, o->eab_alg, dir->new_account,
                           c->key->jwk, &eab);
        if (err != CSA_OK)
            goto done;
        json_object_object_add(p, "externalAccountBinding", eab);
    } else if (dir->external_account_required && !o->only_return_existing) {
        err = csa_raise(CSA_ERR_CONFIG,
                        "the CA requires External Account Binding but no EAB "
                        "key id and MAC key are configured");
        goto done;
    }
    *out = strdup(json_object_to_json_string_ext(
        p, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    if (*out == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
done:
    json_object_put(p);
    return err;
}

csa_err acme_account_register(acme_client *c, const acme_account_opts *o,
                              acme_account **out)
{
    const acme_directory *dir;
    acme_post_req req = {0};
    acme_http_resp r = {0};
    acme_account *acct = NULL;
    json_object *obj = NULL;
    char *payload = NULL;
    csa_err err;

    if (out != NULL)
        *out = NULL;
    if (c->key == NULL)
        return csa_raise(CSA_ERR_INVALID, "no account key is set");
    if ((err = acme_directory_get(c, &dir)) ||
        (err = register_payload(c, dir, o, &payload)))
        goto done;
    req.url = dir->new_account;
    req.payload = payload;
    /* RFC 8555 §7.3.1: for a key that already has an account the CA
     * answers 200 with its URL, so a repeat after a lost answer finds the
     * account the first attempt created. */
    req.repeat = ACME_REPEATABLE;
    req.use_jwk = 1;
    req.max = ACME_MAX_JSON;
    req.accept = ACME_CT_JSON;
    if ((err = acme_post(c, &req, &r)) ||
        (err = acme_json_parse(r.body, r.len, &obj)))
        goto done;
    if (r.location == NULL) {
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "newAccount answered without a Location header");
        goto done;
    }
    if ((err = acme_client_set_account(c, c->key, r.location)) != CSA_OK)
        goto done;
    csa_info("acme", "account %s (%s)", r.location,
             r.status == 201 ? "created" : "existing");
    if ((err = account_from_json(obj, r.location, &acct)) == CSA_OK &&
        acct->status != ACME_STATUS_VALID)
        err = csa_raise(CSA_ERR_CA_PROBLEM,
                        "account %s is %s, not valid; it cannot be used",
                        r.location, acme_status_name(acct->status));
    if (err == CSA_OK && out != NULL) {
        *out = acct;
        acct = NULL;
    }
    acme_account_free(acct);
done:
    if (err != CSA_OK)
        csa_err_context("account registration");
    json_object_put(obj);
    free(payload);
    acme_http_resp_clear(&r);
    return err;
}

/* POSTs payload to the account URL and returns the account object. */
static csa_err account_post(acme_client *c, const char *payload,
                            acme_repeat repeat, acme_account **out)
{
    acme_http_resp r = {0};
    json_object *obj = NULL;
    csa_err err;

    if (out != NULL)
        *out = NULL;
    if (c->kid == NULL)
        return csa_raise(CSA_ERR_INVALID,
                         "no account URL is known: register first");
    err = acme_post_json(c, c->kid, payload, repeat, &r, &obj);
    if (err == CSA_OK && out != NULL)
        err = account_from_json(obj, c->kid, out);
    json_object_put(obj);
    acme_http_resp_clear(&r);
    return err;
}

csa_err acme_account_update(acme_client *c, const char *const *contact,
                            size_t n_contact, acme_account **out)
{
    json_object *p = json_object_new_object();
    csa_err err;

    if (p == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    json_object_object_add(p, "contact", contact_array(contact, n_contact));
    /* the contact list is replaced, not appended to (§7.3.2): setting it
     * twice leaves what setting it once does */
    err = account_post(
        c,
        json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN |
                                              JSON_C_TO_STRING_NOSLASHESCAPE),
        ACME_REPEATABLE, out);
    json_object_put(p);
    return err;
}

csa_err acme_account_deactivate(acme_client *c)
{
    acme_account *a = NULL;
    /* Sent once: after a lost answer a repeat would meet a deactivated
     * account (unauthorized) and report a success as a failure. */
    csa_err err =
        account_post(c, "{\"status\":\"deactivated\"}", ACME_SEND_ONCE, &a);

    if (err == CSA_OK && a->status != ACME_STATUS_DEACTIVATED)
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "the CA left the account %s, not deactivated",
                        acme_status_name(a->status));
    acme_account_free(a);
    return err;
}

/* The inner JWS of a key change: new key, jwk, no nonce (§7.3.5). */
static csa_err key_change_inner(const acme_client *c, const char *url,
                                const csa_signer *new_key, char **out)
{
    json_object *p = json_object_new_object(), *old = NULL;
    csa_err err;

    *out = NULL;
    old = json_tokener_parse(c->key->jwk);
    if (p == NULL || old == NULL) {
        json_object_put(p);
        json_object_put(old);
        return csa_raise(CSA_ERR_INVALID, "cannot build the keyChange payload");
    }
    json_object_object_add(p, "account", json_object_new_string(c->kid));
    json_object_object_add(p, "oldKey", old);
    err = acme_jws_build(
        new_key, url, NULL, NULL,
        json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN |
                                              JSON_C_TO_STRING_NOSLASHESCAPE),
        out);
    json_object_put(p);
    return err;
}

csa_err acme_key_change(acme_client *c, const csa_signer *new_key)
{
    const acme_directory *dir;
    acme_post_req req = {0};
    acme_http_resp r = {0};
    char *inner = NULL;
    csa_err err;

    if (new_key == NULL || new_key->jwk == NULL ||
        (new_key->sign_jws == NULL && new_key->build_jws == NULL))
        return csa_raise(CSA_ERR_INVALID, "the new account key is incomplete");
    if (c->key == NULL || c->kid == NULL)
        return csa_raise(CSA_ERR_INVALID,
                         "no account URL is known: register first");
    if ((err = acme_directory_get(c, &dir)) ||
        (err = key_change_inner(c, dir->key_change, new_key, &inner)))
        goto done;
    req.url = dir->key_change;
    req.payload = inner;
    /* Sent once: after a lost answer the account may already be on the
     * new key, and a repeat signed by the old one would be refused and
     * make the caller keep a key the CA no longer knows. */
    req.repeat = ACME_SEND_ONCE;
    req.max = ACME_MAX_JSON;
    if ((err = acme_post(c, &req, &r)) != CSA_OK)
        goto done;
    c->key = new_key;
    csa_info("acme", "account %s now uses the new key (%s)", c->kid,
             new_key->alg);
done:
    if (err != CSA_OK)
        csa_err_context("account key rollover");
    free(inner);
    acme_http_resp_clear(&r);
    return err;
}
