/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Accounts (RFC 8555 §7.3): newAccount with onlyReturnExisting and
 * External Account Binding (HS256/384/512), update, deactivation,
 * the orders list and keyChange.  An EAB key binds at most one account;
 * the account inherits the organisation of the EAB key.
 */
#include "csca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

json_object *acct_by_thumb(const char *thumb, const char **id)
{
    if (thumb == NULL)
        return NULL;
    json_object_object_foreach(state_tab("accounts"), k, v)
    {
        const char *t = jstr(v, "thumb");
        if (t != NULL && strcmp(t, thumb) == 0) {
            if (id != NULL)
                *id = k;
            return v;
        }
    }
    return NULL;
}

static json_object *acct_render(const struct req *rq, json_object *a,
                                const char *id)
{
    json_object *o = json_object_new_object(), *c;
    char *orders = url_of(rq, "/acct/%s/orders", id);

    json_object_object_add(o, "status",
                           json_object_new_string(jstr(a, "status")));
    if (json_object_object_get_ex(a, "contact", &c))
        json_object_object_add(o, "contact", json_object_get(c));
    json_object_object_add(o, "termsOfServiceAgreed",
                           json_object_new_boolean(1));
    json_object_object_add(o, "orders", json_object_new_string(orders));
    free(orders);
    return o;
}

static void acct_reply(const struct req *rq, struct resp *rs, int status,
                       json_object *a, const char *id)
{
    rs->location = url_of(rq, "/acct/%s", id);
    resp_json(rs, status, acct_render(rq, a, id));
}

/* RFC 8555 §7.3: contact is an array of URL strings; csca takes mailto:
 * only (§7.3 lets a server refuse other schemes). */
static int check_contact(struct resp *rs, json_object *payload)
{
    json_object *c;
    char what[32], why[200];
    size_t i;
    int r = member(rs, payload, "contact", json_type_array, false, &c);

    if (r <= 0)
        return r;
    for (i = 0; i < json_object_array_length(c); i++) {
        json_object *e = json_object_array_get_idx(c, i);
        snprintf(what, sizeof(what), "contact[%zu]", i);
        if (!value_is(e, json_type_string, what, why, sizeof(why))) {
            resp_problem(rs, 400, "malformed", "%s", why);
            return -1;
        }
        if (strncmp(json_object_get_string(e), "mailto:", 7) != 0) {
            resp_problem(rs, 400, "unsupportedContact",
                         "only mailto: contacts are supported");
            return -1;
        }
    }
    return 0;
}

/* The members of newAccount and of an account update, by type (RFC 8555
 * §7.1.2, §7.3).  The values are read later, through these same names. */
static int check_account_members(struct resp *rs, json_object *payload)
{
    json_object *v;

    if (member(rs, payload, "termsOfServiceAgreed", json_type_boolean, false,
               &v) < 0 ||
        member(rs, payload, "onlyReturnExisting", json_type_boolean, false,
               &v) < 0 ||
        member(rs, payload, "externalAccountBinding", json_type_object, false,
               &v) < 0 ||
        member(rs, payload, "status", json_type_string, false, &v) < 0)
        return -1;
    return check_contact(rs, payload);
}

static const EVP_MD *hs_md(const char *alg)
{
    if (alg == NULL)
        return NULL;
    if (strcmp(alg, "HS256") == 0)
        return EVP_sha256();
    if (strcmp(alg, "HS384") == 0)
        return EVP_sha384();
    if (strcmp(alg, "HS512") == 0)
        return EVP_sha512();
    return NULL;
}

/* Verify the inner MAC of an EAB object; fills *kid on success. */
static int eab_mac_ok(struct resp *rs, json_object *prot, const char *pb64,
                      const char *yb64, const uint8_t *sig, size_t siglen,
                      json_object *reg)
{
    const EVP_MD *md = hs_md(jstr(prot, "alg"));
    uint8_t *key = NULL, mac[EVP_MAX_MD_SIZE];
    size_t klen = 0;
    unsigned mlen = 0;
    char *input = NULL;
    int ok = 0;

    if (md == NULL) {
        resp_problem(rs, 400, "badSignatureAlgorithm",
                     "externalAccountBinding alg must be HS256/384/512");
        return -1;
    }
    if (b64url_dec(jstr(reg, "hmac"), &key, &klen) == 0 &&
        asprintf(&input, "%s.%s", pb64, yb64) >= 0 &&
        HMAC(md, key, (int)klen, (uint8_t *)input, strlen(input), mac, &mlen) !=
            NULL)
        ok = mlen == siglen && CRYPTO_memcmp(mac, sig, mlen) == 0;
    if (key != NULL)
        OPENSSL_clear_free(key, klen);
    free(input);
    if (!ok)
        resp_problem(rs, 401, "unauthorized",
                     "externalAccountBinding MAC does not verify");
    return ok ? 0 : -1;
}

static int eab_payload_ok(struct resp *rs, const char *yb64, json_object *jwk)
{
    uint8_t *p = NULL;
    size_t n;
    json_object *o = NULL;
    int ok;

    if (b64url_dec(yb64, &p, &n) == 0)
        o = json_tokener_parse((const char *)p); /* NUL-free JSON only */
    ok = o != NULL && json_object_equal(o, jwk);
    json_object_put(o);
    free(p);
    if (!ok)
        resp_problem(rs, 400, "malformed",
                     "externalAccountBinding payload is not the account JWK");
    return ok ? 0 : -1;
}

/* RFC 8555 §7.3.4.  Returns the registry entry's kid (borrowed). */
static const char *eab_verify(const struct req *rq, struct resp *rs,
                              json_object *eab, json_object *jwk)
{
    const char *body = json_object_to_json_string(eab), *kid = NULL;
    json_object *prot = NULL, *reg;
    char why[200], *pb64 = NULL, *yb64 = NULL, want[160];
    uint8_t *sig = NULL;
    size_t siglen;

    if (jws_parse_flat(body, strlen(body), &prot, &pb64, &yb64, &sig, &siglen,
                       why, sizeof(why)) != 0) {
        resp_problem(rs, 400, "malformed", "externalAccountBinding: %s", why);
        goto done;
    }
    snprintf(want, sizeof(want), "%s/new-account", rq->base);
    if (member_str_why(prot, "kid", true, &kid, why, sizeof(why)) < 0) {
        resp_problem(rs, 400, "malformed", "externalAccountBinding: %s", why);
        goto done;
    }
    reg = reg_eab(kid);
    if (reg == NULL) {
        resp_problem(rs, 401, "unauthorized",
                     "externalAccountBinding kid is not registered");
    } else if (json_object_object_get_ex(prot, "nonce", NULL) ||
               !jstr(prot, "url") || strcmp(jstr(prot, "url"), want) != 0) {
        resp_problem(rs, 400, "malformed",
                     "externalAccountBinding needs url=%s and no nonce", want);
    } else if (eab_mac_ok(rs, prot, pb64, yb64, sig, siglen, reg) == 0 &&
               eab_payload_ok(rs, yb64, jwk) == 0) {
        kid = jstr(reg, "kid");
        goto out;
    }
done:
    kid = NULL;
out:
    json_object_put(prot);
    free(pb64);
    free(yb64);
    free(sig);
    return kid;
}

static json_object *acct_new(json_object *jwk, const char *thumb,
                             json_object *payload, const char *eab_kid)
{
    json_object *a = json_object_new_object(), *c;
    json_object *reg = eab_kid ? reg_eab(eab_kid) : NULL;
    char *now = time_str(time(NULL));

    json_object_object_add(a, "status", json_object_new_string("valid"));
    json_object_object_add(a, "key", json_object_get(jwk));
    json_object_object_add(a, "thumb", json_object_new_string(thumb));
    if (json_object_object_get_ex(payload, "contact", &c))
        json_object_object_add(a, "contact", json_object_get(c));
    if (reg != NULL && jstr(reg, "org"))
        json_object_object_add(a, "org",
                               json_object_new_string(jstr(reg, "org")));
    else if (eab_kid == NULL && CS.o.default_org != NULL)
        json_object_object_add(a, "org",
                               json_object_new_string(CS.o.default_org));
    if (eab_kid != NULL)
        json_object_object_add(a, "eab_kid", json_object_new_string(eab_kid));
    json_object_object_add(a, "created", json_object_new_string(now));
    json_object_object_add(a, "orders", json_object_new_array());
    free(now);
    return a;
}

static int eab_step(const struct req *rq, struct resp *rs, struct jws *j,
                    const char **eab_kid)
{
    json_object *eab;

    *eab_kid = NULL;
    if (member(rs, j->payload, "externalAccountBinding", json_type_object,
               false, &eab) < 0)
        return -1;
    if (eab == NULL) {
        if (!CS.o.require_eab)
            return 0;
        resp_problem(rs, 400, "externalAccountRequired",
                     "this CA requires externalAccountBinding");
        return -1;
    }
    *eab_kid = eab_verify(rq, rs, eab, j->jwk);
    if (*eab_kid == NULL)
        return -1;
    if (state_get("eab_used", *eab_kid) != NULL) {
        resp_problem(rs, 401, "unauthorized",
                     "EAB key %s is already bound to an account", *eab_kid);
        return -1;
    }
    return 0;
}

void h_new_account(const struct req *rq, struct resp *rs)
{
    struct jws j;
    json_object *a, *v;
    const char *id = NULL, *eab_kid;
    char *thumb = NULL, *newid;

    if (jws_check(rq, rs, JWS_JWK, &j) != 0)
        return;
    thumb = jwk_thumbprint(j.jwk);
    if (j.payload == NULL || thumb == NULL) {
        resp_problem(rs, 400, "malformed",
                     "newAccount needs a payload and a complete jwk");
        goto done;
    }
    if (check_account_members(rs, j.payload) != 0)
        goto done;
    if ((a = acct_by_thumb(thumb, &id)) != NULL) {
        const char *st = jstr(a, "status");
        if (st == NULL || strcmp(st, "valid") != 0)
            resp_problem(rs, 401, "unauthorized", "account is %s",
                         st ? st : "without a status");
        else
            acct_reply(rq, rs, 200, a, id);
        goto done;
    }
    if (member(rs, j.payload, "onlyReturnExisting", json_type_boolean, false,
               &v) == 1 &&
        json_object_get_boolean(v)) {
        resp_problem(rs, 400, "accountDoesNotExist",
                     "no account for this key (onlyReturnExisting)");
        goto done;
    }
    if (eab_step(rq, rs, &j, &eab_kid) != 0)
        goto done;
    a = acct_new(j.jwk, thumb, j.payload, eab_kid);
    newid = state_add("accounts", a);
    if (eab_kid != NULL)
        json_object_object_add(state_tab("eab_used"), eab_kid,
                               json_object_new_string(newid));
    state_save();
    acct_reply(rq, rs, 201, a, newid);
    free(newid);
done:
    free(thumb);
    jws_clear(&j);
}

static int acct_update(struct resp *rs, json_object *a, json_object *payload)
{
    json_object *v;
    const char *st;

    if (check_account_members(rs, payload) != 0)
        return -1;
    if (member_str(rs, payload, "status", false, &st) == 1) {
        if (strcmp(st, "deactivated") != 0) {
            resp_problem(rs, 400, "malformed",
                         "a client may only set status to deactivated");
            return -1;
        }
        json_object_object_add(a, "status",
                               json_object_new_string("deactivated"));
    }
    if (json_object_object_get_ex(payload, "contact", &v))
        json_object_object_add(a, "contact", json_object_get(v));
    state_save();
    return 0;
}

void h_account(const struct req *rq, struct resp *rs, const char *id)
{
    struct jws j;

    if (jws_check(rq, rs, JWS_KID, &j) != 0)
        return;
    if (strcmp(j.acct_id, id) != 0)
        resp_problem(rs, 401, "unauthorized", "not your account");
    else if (j.payload == NULL || acct_update(rs, j.acct, j.payload) == 0)
        acct_reply(rq, rs, 200, j.acct, id);
    jws_clear(&j);
}

void h_account_orders(const struct req *rq, struct resp *rs, const char *id)
{
    struct jws j;
    json_object *out, *list, *ids;
    size_t i;

    if (jws_check(rq, rs, JWS_KID, &j) != 0)
        return;
    if (strcmp(j.acct_id, id) != 0) {
        resp_problem(rs, 401, "unauthorized", "not your account");
        goto done;
    }
    out = json_object_new_object();
    list = json_object_new_array();
    json_object_object_get_ex(j.acct, "orders", &ids);
    for (i = 0; i < json_object_array_length(ids); i++) {
        char *u =
            url_of(rq, "/order/%s",
                   json_object_get_string(json_object_array_get_idx(ids, i)));
        json_object_array_add(list, json_object_new_string(u));
        free(u);
    }
    json_object_object_add(out, "orders", list);
    resp_json(rs, 200, out);
done:
    jws_clear(&j);
}

/* The inner JWS's header: jwk, alg, the outer url, no nonce. */
static int key_change_header(struct resp *rs, json_object *prot,
                             const struct jws *outer, json_object **jwk,
                             const char **alg)
{
    const char *url;
    char why[200];
    size_t wl = sizeof(why);

    if (member_str_why(prot, "alg", true, alg, why, wl) < 0 ||
        member_str_why(prot, "url", true, &url, why, wl) < 0 ||
        member_why(prot, "jwk", json_type_object, true, jwk, why, wl) < 0) {
        resp_problem(rs, 400, "malformed", "keyChange inner JWS header: %s",
                     why);
        return -1;
    }
    if (json_object_object_get_ex(prot, "nonce", NULL) ||
        strcmp(url, jstr(outer->prot, "url")) != 0) {
        resp_problem(rs, 400, "malformed",
                     "keyChange inner JWS needs the outer url and no nonce");
        return -1;
    }
    return 0;
}

/* The inner payload: {"account": our kid, "oldKey": the current key}. */
static int key_change_payload(struct resp *rs, json_object *pl,
                              const struct jws *outer, const char *kid)
{
    json_object *old;
    const char *account, *cur = jstr(outer->acct, "thumb");
    char why[200], *t = NULL;
    int ok;

    if (!value_is(pl, json_type_object, "keyChange inner payload", why,
                  sizeof(why)) ||
        member_str_why(pl, "account", true, &account, why, sizeof(why)) < 0 ||
        member_why(pl, "oldKey", json_type_object, true, &old, why,
                   sizeof(why)) < 0) {
        resp_problem(rs, 400, "malformed", "keyChange: %s", why);
        return -1;
    }
    t = jwk_thumbprint(old);
    ok = strcmp(account, kid) == 0 && t != NULL && cur != NULL &&
         strcmp(t, cur) == 0;
    free(t);
    if (!ok)
        resp_problem(rs, 400, "malformed",
                     "keyChange payload needs account=%s and the current "
                     "key as oldKey",
                     kid);
    return ok ? 0 : -1;
}

/* Inner JWS of keyChange (RFC 8555 §7.3.5): signed by the new key. */
static int key_change_inner(const struct req *rq, struct resp *rs,
                            struct jws *outer, json_object **newjwk)
{
    const char *body = json_object_to_json_string(outer->payload), *alg;
    json_object *prot = NULL, *pl = NULL, *jwk;
    char why[200], *pb64 = NULL, *yb64 = NULL, *input = NULL;
    char *kid = url_of(rq, "/acct/%s", outer->acct_id);
    uint8_t *sig = NULL, *pt = NULL;
    size_t siglen, ptl;
    EVP_PKEY *pk = NULL;
    int rc = -1;

    if (jws_parse_flat(body, strlen(body), &prot, &pb64, &yb64, &sig, &siglen,
                       why, sizeof(why)) != 0) {
        resp_problem(rs, 400, "malformed", "keyChange inner JWS: %s", why);
        goto done;
    }
    if (key_change_header(rs, prot, outer, &jwk, &alg) != 0)
        goto done;
    if ((pk = jwk_to_pkey(jwk, why, sizeof(why))) == NULL) {
        resp_problem(rs, 400, "badPublicKey", "%s", why);
        goto done;
    }
    if (asprintf(&input, "%s.%s", pb64, yb64) < 0 ||
        sig_verify(pk, alg, (uint8_t *)input, strlen(input), sig, siglen, why,
                   sizeof(why)) != 0) {
        resp_problem(rs, 400, "malformed", "keyChange inner JWS: %s", why);
        goto done;
    }
    if (b64url_dec(yb64, &pt, &ptl) == 0)
        pl = json_tokener_parse((const char *)pt);
    if (kid == NULL || key_change_payload(rs, pl, outer, kid) != 0)
        goto done;
    *newjwk = json_object_get(jwk);
    rc = 0;
done:
    json_object_put(prot);
    json_object_put(pl);
    EVP_PKEY_free(pk);
    free(pb64);
    free(yb64);
    free(sig);
    free(input);
    free(kid);
    free(pt);
    return rc;
}

void h_key_change(const struct req *rq, struct resp *rs)
{
    struct jws j;
    json_object *newjwk = NULL;
    char *thumb = NULL;
    const char *other;

    if (jws_check(rq, rs, JWS_KID, &j) != 0)
        return;
    if (j.payload == NULL) {
        resp_problem(rs, 400, "malformed",
                     "keyChange payload must be the inner JWS");
        goto done;
    }
    if (key_change_inner(rq, rs, &j, &newjwk) != 0)
        goto done;
    if ((thumb = jwk_thumbprint(newjwk)) == NULL) {
        resp_problem(rs, 400, "badPublicKey", "new key has no thumbprint");
        goto done;
    }
    if (acct_by_thumb(thumb, &other) != NULL) {
        rs->location = url_of(rq, "/acct/%s", other);
        resp_problem(rs, 409, "conflict",
                     "the new key already belongs to an account");
        goto done;
    }
    json_object_object_add(j.acct, "key", newjwk);
    newjwk = NULL;
    json_object_object_add(j.acct, "thumb", json_object_new_string(thumb));
    state_save();
    acct_reply(rq, rs, 200, j.acct, j.acct_id);
done:
    json_object_put(newjwk);
    free(thumb);
    jws_clear(&j);
}
