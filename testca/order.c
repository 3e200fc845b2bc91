/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Orders and authorizations (RFC 8555 §7.1.3-7.1.4, §7.4, §7.4.1).
 *
 * Several factors: the organisation lists "factors", each a list of
 * challenge types; every identifier gets one authorization per factor, and
 * the authorization offers the factor's challenge types (any one of them
 * completes it).  Pre-authorizations made with newAuthz are consumed by the
 * next newOrder for the same identifier and factor; authorizations of
 * orders are never reused, so each order proves every factor afresh.
 */
#include "csca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORDER_TTL (7 * 86400)
#define MAX_IDENTIFIERS 10

/* ---- authorizations and challenges ---------------------------------- */

json_object *chall_render(const struct req *rq, const char *id)
{
    json_object *c = state_get("challs", id), *o = json_object_new_object();
    json_object *az, *acct, *e, *hints;
    char *u = url_of(rq, "/chall/%s", id);

    json_object_object_add(o, "type", json_object_new_string(jstr(c, "type")));
    json_object_object_add(o, "url", json_object_new_string(u));
    json_object_object_add(o, "status",
                           json_object_new_string(jstr(c, "status")));
    json_object_object_add(o, "token",
                           json_object_new_string(jstr(c, "token")));
    if (jstr(c, "validated"))
        json_object_object_add(o, "validated",
                               json_object_new_string(jstr(c, "validated")));
    if (json_object_object_get_ex(c, "error", &e))
        json_object_object_add(o, "error", json_object_get(e));
    az = state_get("authzs", jstr(c, "authz"));
    acct = state_get("accounts", jstr(az, "account"));
    hints = otp_hints(jstr(c, "type"), acct);
    json_object_object_foreach(hints, k, v)
        json_object_object_add(o, k, json_object_get(v));
    json_object_put(hints);
    free(u);
    return o;
}

/* Status follows the challenges: any valid -> valid; any invalid -> invalid
 * (RFC 8555 §7.1.6); past expiry -> expired. */
void authz_refresh(json_object *az)
{
    json_object *ids;
    size_t i;

    if (strcmp(jstr(az, "status"), "pending") != 0)
        return;
    if (time(NULL) > time_parse(jstr(az, "expires"))) {
        json_object_object_add(az, "status", json_object_new_string("expired"));
        return;
    }
    json_object_object_get_ex(az, "challs", &ids);
    for (i = 0; i < json_object_array_length(ids); i++) {
        json_object *c = state_get(
            "challs",
            json_object_get_string(json_object_array_get_idx(ids, i)));
        const char *st = jstr(c, "status");
        if (strcmp(st, "valid") == 0 || strcmp(st, "invalid") == 0) {
            json_object_object_add(az, "status", json_object_new_string(st));
            return;
        }
    }
}

json_object *authz_render(const struct req *rq, const char *id)
{
    json_object *az = state_get("authzs", id), *o = json_object_new_object();
    json_object *ids, *list = json_object_new_array(), *ident;
    size_t i;

    authz_refresh(az);
    json_object_object_get_ex(az, "identifier", &ident);
    json_object_object_add(o, "identifier", json_object_get(ident));
    json_object_object_add(o, "status",
                           json_object_new_string(jstr(az, "status")));
    json_object_object_add(o, "expires",
                           json_object_new_string(jstr(az, "expires")));
    json_object_object_get_ex(az, "challs", &ids);
    for (i = 0; i < json_object_array_length(ids); i++)
        json_object_array_add(
            list, chall_render(rq, json_object_get_string(
                                       json_object_array_get_idx(ids, i))));
    json_object_object_add(o, "challenges", list);
    return o;
}

static char *authz_new(const char *acct_id, json_object *ident,
                       json_object *factor, bool preauth)
{
    json_object *az = json_object_new_object(), *ids = json_object_new_array();
    char *exp = time_str(time(NULL) + ORDER_TTL), *azid;
    size_t i;

    json_object_object_add(az, "account", json_object_new_string(acct_id));
    json_object_object_add(az, "identifier", json_object_get(ident));
    json_object_object_add(az, "status", json_object_new_string("pending"));
    json_object_object_add(az, "expires", json_object_new_string(exp));
    json_object_object_add(az, "factor", json_object_get(factor));
    json_object_object_add(az, "preauth", json_object_new_boolean(preauth));
    json_object_object_add(az, "challs", ids);
    free(exp);
    azid = state_add("authzs", az);
    for (i = 0; azid && i < json_object_array_length(factor); i++) {
        json_object *c = json_object_new_object();
        char *tok = rand_token(16), *cid;
        json_object_object_add(
            c, "type", json_object_get(json_object_array_get_idx(factor, i)));
        json_object_object_add(c, "token", json_object_new_string(tok));
        json_object_object_add(c, "status", json_object_new_string("pending"));
        json_object_object_add(c, "authz", json_object_new_string(azid));
        json_object_object_add(c, "fails", json_object_new_int(0));
        cid = state_add("challs", c);
        json_object_array_add(ids, json_object_new_string(cid));
        free(tok);
        free(cid);
    }
    return azid;
}

/* ---- identifiers and the organisation's policy ---------------------- */

static bool domain_ok(json_object *org, const char *name)
{
    json_object *doms;
    size_t i, n = strlen(name);

    json_object_object_get_ex(org, "domains", &doms);
    for (i = 0; i < json_object_array_length(doms); i++) {
        json_object *e = json_object_array_get_idx(doms, i);
        const char *d = json_object_get_string(e);
        size_t dl;
        if (!json_object_is_type(e, json_type_string))
            continue; /* a hand-edited registry; registry_check allows it */
        dl = strlen(d);
        if (strcasecmp(name, d) == 0 ||
            (n > dl + 1 && name[n - dl - 1] == '.' &&
             strcasecmp(name + n - dl, d) == 0))
            return true;
    }
    return false;
}

/* The factors for one identifier, or NULL with a problem set. */
static json_object *factors_for(struct resp *rs, json_object *acct,
                                json_object *ident)
{
    static json_object *open_factors;
    const char *type = jstr(ident, "type"), *value = jstr(ident, "value");
    json_object *org = reg_org(jstr(acct, "org")), *f;

    if (open_factors == NULL)
        open_factors = json_tokener_parse("[[\"dns-01\",\"http-01\"]]");
    if (!type || !value || (strcmp(type, "dns") && strcmp(type, "email")) ||
        !*value || strlen(value) > 253) {
        resp_problem(rs, 400, "unsupportedIdentifier",
                     "identifiers must be {type: dns|email, value}");
        return NULL;
    }
    if (org == NULL) {
        if (CS.o.always_valid && strcmp(type, "dns") == 0)
            return open_factors;
        resp_problem(rs, 403, "unauthorized",
                     "account has no organisation (register with "
                     "externalAccountBinding)");
        return NULL;
    }
    if (!domain_ok(org, strcmp(type, "email") == 0 && strchr(value, '@')
                            ? strchr(value, '@') + 1
                            : value)) {
        resp_problem(rs, 400, "rejectedIdentifier",
                     "%s is not a domain of organisation %s", value,
                     jstr(org, "name"));
        return NULL;
    }
    if (json_object_object_get_ex(org, "factors", &f) &&
        json_object_array_length(f) > 0)
        return f;
    return open_factors;
}

/* An unused valid (or, with pending_ok, pending) pre-authorization for
 * this identifier and factor. */
static const char *find_preauth(const char *acct_id, json_object *ident,
                                json_object *factor, bool pending_ok)
{
    json_object_object_foreach(state_tab("authzs"), id, az)
    {
        json_object *i2, *f2, *used;
        authz_refresh(az);
        if (strcmp(jstr(az, "account"), acct_id) != 0 ||
            !json_object_get_boolean(json_object_object_get(az, "preauth")) ||
            (json_object_object_get_ex(az, "used", &used) &&
             json_object_get_boolean(used)) ||
            (strcmp(jstr(az, "status"), "valid") != 0 &&
             !(pending_ok && strcmp(jstr(az, "status"), "pending") == 0)))
            continue;
        json_object_object_get_ex(az, "identifier", &i2);
        json_object_object_get_ex(az, "factor", &f2);
        if (json_object_equal(i2, ident) && json_object_equal(f2, factor))
            return id;
    }
    return NULL;
}

/* ---- orders ----------------------------------------------------------- */

static void order_refresh(json_object *o)
{
    const char *st = jstr(o, "status");
    json_object *ids;
    size_t i, valid = 0, n;

    if (strcmp(st, "pending") != 0 && strcmp(st, "ready") != 0)
        return;
    if (time(NULL) > time_parse(jstr(o, "expires"))) {
        json_object_object_add(o, "status", json_object_new_string("invalid"));
        return;
    }
    json_object_object_get_ex(o, "authzs", &ids);
    n = json_object_array_length(ids);
    for (i = 0; i < n; i++) {
        json_object *az = state_get(
            "authzs",
            json_object_get_string(json_object_array_get_idx(ids, i)));
        authz_refresh(az);
        if (strcmp(jstr(az, "status"), "valid") == 0)
            valid++;
        else if (strcmp(jstr(az, "status"), "pending") != 0) {
            json_object_object_add(o, "status",
                                   json_object_new_string("invalid"));
            return;
        }
    }
    if (valid == n)
        json_object_object_add(o, "status", json_object_new_string("ready"));
}

static json_object *order_render(const struct req *rq, const char *id)
{
    json_object *o = state_get("orders", id), *r = json_object_new_object();
    json_object *ids, *list = json_object_new_array(), *v;
    char *u;
    size_t i;

    order_refresh(o);
    json_object_object_add(r, "status",
                           json_object_new_string(jstr(o, "status")));
    json_object_object_add(r, "expires",
                           json_object_new_string(jstr(o, "expires")));
    json_object_object_get_ex(o, "identifiers", &v);
    json_object_object_add(r, "identifiers", json_object_get(v));
    json_object_object_get_ex(o, "authzs", &ids);
    for (i = 0; i < json_object_array_length(ids); i++) {
        u = url_of(rq, "/authz/%s",
                   json_object_get_string(json_object_array_get_idx(ids, i)));
        json_object_array_add(list, json_object_new_string(u));
        free(u);
    }
    json_object_object_add(r, "authorizations", list);
    u = url_of(rq, "/order/%s/finalize", id);
    json_object_object_add(r, "finalize", json_object_new_string(u));
    free(u);
    if (jstr(o, "cert")) {
        u = url_of(rq, "/cert/%s", jstr(o, "cert"));
        json_object_object_add(r, "certificate", json_object_new_string(u));
        free(u);
    }
    if (jstr(o, "replaces"))
        json_object_object_add(r, "replaces",
                               json_object_new_string(jstr(o, "replaces")));
    if (jstr(o, "notAfter"))
        json_object_object_add(r, "notAfter",
                               json_object_new_string(jstr(o, "notAfter")));
    if (json_object_object_get_ex(o, "error", &v))
        json_object_object_add(r, "error", json_object_get(v));
    return r;
}

static json_object *cert_by_certid(const char *certid, const char **id)
{
    json_object_object_foreach(state_tab("certs"), k, v)
    {
        if (jstr(v, "certid") && strcmp(jstr(v, "certid"), certid) == 0) {
            if (id)
                *id = k;
            return v;
        }
    }
    return NULL;
}

/* RFC 9773 §5: the predecessor must be ours and not yet replaced. */
static int check_replaces(struct resp *rs, const char *acct_id,
                          json_object *payload, json_object **cert)
{
    const char *rep, *by;
    json_object *prev;
    int r;

    *cert = NULL;
    if ((r = member_str(rs, payload, "replaces", false, &rep)) <= 0)
        return r;
    if ((*cert = cert_by_certid(rep, NULL)) == NULL) {
        resp_problem(rs, 400, "malformed",
                     "replaces does not name a certificate of this CA");
        return -1;
    }
    if (strcmp(jstr(*cert, "account"), acct_id) != 0) {
        resp_problem(rs, 403, "unauthorized",
                     "replaces names another account's certificate");
        return -1;
    }
    by = jstr(*cert, "replaced_by");
    prev = by ? state_get("orders", by) : NULL;
    if (prev != NULL && (order_refresh(prev), 1) &&
        strcmp(jstr(prev, "status"), "invalid") != 0) {
        resp_problem(rs, 409, "alreadyReplaced",
                     "certificate %s is already replaced by order %s", rep, by);
        return -1;
    }
    return 0;
}

/* An identifier object (RFC 8555 §9.7.7) with string type and value;
 * which types and values csca takes is factors_for()'s business. */
static int check_identifier(struct resp *rs, json_object *ident,
                            const char *what)
{
    char why[200];
    const char *v;

    if (!value_is(ident, json_type_object, what, why, sizeof(why))) {
        resp_problem(rs, 400, "malformed", "%s", why);
        return -1;
    }
    if (member_str_why(ident, "type", true, &v, why, sizeof(why)) < 0 ||
        member_str_why(ident, "value", true, &v, why, sizeof(why)) < 0) {
        resp_problem(rs, 400, "malformed", "%s: %s", what, why);
        return -1;
    }
    return 0;
}

static int check_identifiers(struct resp *rs, json_object *payload,
                             json_object **ids)
{
    char what[48];
    size_t i;

    if (member(rs, payload, "identifiers", json_type_array, true, ids) < 0)
        return -1;
    if (json_object_array_length(*ids) == 0 ||
        json_object_array_length(*ids) > MAX_IDENTIFIERS) {
        resp_problem(rs, 400, "malformed",
                     "identifiers must be an array of 1..%d identifiers",
                     MAX_IDENTIFIERS);
        return -1;
    }
    for (i = 0; i < json_object_array_length(*ids); i++) {
        snprintf(what, sizeof(what), "identifiers[%zu]", i);
        if (check_identifier(rs, json_object_array_get_idx(*ids, i), what))
            return -1;
    }
    return 0;
}

/* RFC 8555 §7.4 newOrder notBefore/notAfter.  notBefore is always
 * refused (a certificate starts when it is issued).  notAfter only with
 * --min-validity, for short-lived certificates such as one per signature:
 * it must lie between now + min-validity and now + validity.  On success
 * *na is the requested end, or (time_t)-1 when the order names none. */
static int check_validity(struct resp *rs, json_object *payload, time_t *na)
{
    const char *s;
    time_t now = time(NULL);
    char *lo, *hi;
    int r;

    *na = (time_t)-1;
    if (json_object_object_get_ex(payload, "notBefore", NULL) ||
        (CS.o.min_validity == 0 &&
         json_object_object_get_ex(payload, "notAfter", NULL))) {
        resp_problem(rs, 400, "malformed",
                     "%s not supported; validity is set by the CA profile",
                     CS.o.min_validity == 0 ? "notBefore/notAfter are"
                                            : "notBefore is");
        return -1;
    }
    if ((r = member_str(rs, payload, "notAfter", false, &s)) <= 0)
        return r;
    if (time_parse_rfc3339(s, na) != 0) {
        resp_problem(rs, 400, "malformed",
                     "notAfter must be an RFC 3339 date-time, such as "
                     "2030-01-02T03:04:05Z");
        return -1;
    }
    if (*na - now >= CS.o.min_validity && *na - now <= CS.o.validity)
        return 0;
    lo = time_str(now + CS.o.min_validity);
    hi = time_str(now + CS.o.validity);
    resp_problem(rs, 400, "malformed",
                 "notAfter must lie between now + %ld s and now + %ld s "
                 "(%s to %s)",
                 CS.o.min_validity, CS.o.validity, lo, hi);
    free(lo);
    free(hi);
    return -1;
}

/* Collect (or create) the authorizations for every identifier. */
static json_object *order_authzs(struct resp *rs, struct jws *j,
                                 json_object *idents)
{
    json_object *out = json_object_new_array();
    size_t i, k;

    for (i = 0; i < json_object_array_length(idents); i++) {
        json_object *ident = json_object_array_get_idx(idents, i);
        json_object *fs = factors_for(rs, j->acct, ident);
        if (fs == NULL) {
            json_object_put(out);
            return NULL;
        }
        for (k = 0; k < json_object_array_length(fs); k++) {
            json_object *f = json_object_array_get_idx(fs, k);
            const char *pre = find_preauth(j->acct_id, ident, f, false);
            char *id =
                pre ? strdup(pre) : authz_new(j->acct_id, ident, f, false);
            if (pre != NULL)
                json_object_object_add(state_get("authzs", pre), "used",
                                       json_object_new_boolean(1));
            json_object_array_add(out, json_object_new_string(id));
            free(id);
        }
    }
    return out;
}

void h_new_order(const struct req *rq, struct resp *rs)
{
    struct jws j;
    json_object *idents, *azs, *o, *cert, *list;
    char *exp, *id;
    time_t na;

    if (jws_check(rq, rs, JWS_KID, &j) != 0)
        return;
    if (check_identifiers(rs, j.payload, &idents) != 0 ||
        check_validity(rs, j.payload, &na) != 0 ||
        check_replaces(rs, j.acct_id, j.payload, &cert) != 0 ||
        (azs = order_authzs(rs, &j, idents)) == NULL)
        goto done;
    o = json_object_new_object();
    exp = time_str(time(NULL) + ORDER_TTL);
    json_object_object_add(o, "account", json_object_new_string(j.acct_id));
    json_object_object_add(o, "status", json_object_new_string("pending"));
    json_object_object_add(o, "expires", json_object_new_string(exp));
    json_object_object_add(o, "identifiers", json_object_get(idents));
    json_object_object_add(o, "authzs", azs);
    if (cert != NULL)
        json_object_object_add(
            o, "replaces", json_object_new_string(jstr(j.payload, "replaces")));
    free(exp);
    if (na != (time_t)-1) {
        exp = time_str(na); /* normalised: UTC, no fraction */
        json_object_object_add(o, "notAfter", json_object_new_string(exp));
        free(exp);
    }
    id = state_add("orders", o);
    if (cert != NULL)
        json_object_object_add(cert, "replaced_by", json_object_new_string(id));
    json_object_object_get_ex(j.acct, "orders", &list);
    json_object_array_add(list, json_object_new_string(id));
    state_save();
    rs->location = url_of(rq, "/order/%s", id);
    resp_json(rs, 201, order_render(rq, id));
    free(id);
done:
    jws_clear(&j);
}

/* newAuthz makes the identifier's next factor that has no unused
 * pre-authorization yet; call it once per factor. */
void h_new_authz(const struct req *rq, struct resp *rs)
{
    struct jws j;
    json_object *ident, *fs, *f = NULL;
    char *id;
    size_t k;
    int r;

    if (jws_check(rq, rs, JWS_KID, &j) != 0)
        return;
    /* a POST-as-GET (no payload) lacks the identifier like {} does */
    r = member(rs, j.payload, "identifier", json_type_object, true, &ident);
    if (r < 0 || check_identifier(rs, ident, "identifier") != 0 ||
        (fs = factors_for(rs, j.acct, ident)) == NULL)
        goto done;
    for (k = 0; k < json_object_array_length(fs) && f == NULL; k++)
        if (!find_preauth(j.acct_id, ident, json_object_array_get_idx(fs, k),
                          true))
            f = json_object_array_get_idx(fs, k);
    id = authz_new(j.acct_id, ident, f ? f : json_object_array_get_idx(fs, 0),
                   true);
    state_save();
    rs->location = url_of(rq, "/authz/%s", id);
    resp_json(rs, 201, authz_render(rq, id));
    free(id);
done:
    jws_clear(&j);
}

/* Borrow an object of this account from a table, or set a problem. */
static json_object *owned(struct resp *rs, struct jws *j, const char *table,
                          const char *id)
{
    json_object *o = state_get(table, id);

    if (o == NULL) {
        resp_problem(rs, 404, "malformed", "no such %s", table);
        return NULL;
    }
    if (strcmp(jstr(o, "account"), j->acct_id) != 0) {
        resp_problem(rs, 403, "unauthorized", "not your %s", table);
        return NULL;
    }
    return o;
}

void h_order(const struct req *rq, struct resp *rs, const char *id)
{
    struct jws j;

    if (jws_check(rq, rs, JWS_KID, &j) != 0)
        return;
    if (owned(rs, &j, "orders", id) != NULL) {
        if (j.payload != NULL)
            resp_problem(rs, 400, "malformed",
                         "orders are read with POST-as-GET (empty payload)");
        else
            resp_json(rs, 200, order_render(rq, id));
    }
    jws_clear(&j);
}

void h_authz(const struct req *rq, struct resp *rs, const char *id)
{
    struct jws j;
    json_object *az;

    if (jws_check(rq, rs, JWS_KID, &j) != 0)
        return;
    if ((az = owned(rs, &j, "authzs", id)) == NULL)
        goto done;
    if (j.payload != NULL) {
        const char *st;
        if (member_str(rs, j.payload, "status", true, &st) < 0)
            goto done;
        if (strcmp(st, "deactivated") != 0) {
            resp_problem(rs, 400, "malformed",
                         "only {\"status\":\"deactivated\"} may be posted");
            goto done;
        }
        json_object_object_add(az, "status",
                               json_object_new_string("deactivated"));
        state_save();
    }
    rs->link_up = NULL;
    resp_json(rs, 200, authz_render(rq, id));
done:
    jws_clear(&j);
}

static X509_REQ *csr_from(struct resp *rs, json_object *payload)
{
    const char *b;
    uint8_t *der = NULL;
    const unsigned char *p;
    size_t n = 0;
    X509_REQ *req = NULL;

    if (member_str(rs, payload, "csr", true, &b) < 0)
        return NULL;
    if (b64url_dec(b, &der, &n) != 0) {
        resp_problem(rs, 400, "malformed", "finalize needs csr (base64url)");
        return NULL;
    }
    p = der;
    req = d2i_X509_REQ(NULL, &p, (long)n);
    if (req == NULL || p != der + n) {
        X509_REQ_free(req);
        req = NULL;
        resp_problem(rs, 400, "badCSR",
                     "csr is not one DER CertificationRequest");
    }
    free(der);
    return req;
}

/* An order with notAfter is finalized only while the certificate would
 * still live --min-validity (at least 1 s: notBefore, the issuance time,
 * never lies after notAfter).  Past that the order can never be
 * finalized, so it becomes invalid and the problem says why. */
static int check_time_left(struct resp *rs, json_object *o)
{
    const char *s = jstr(o, "notAfter");
    long left, need = CS.o.min_validity > 1 ? CS.o.min_validity : 1;
    json_object *prob;
    char detail[300];

    if (s == NULL)
        return 0;
    left = (long)(time_parse(s) - time(NULL));
    if (left >= need)
        return 0;
    snprintf(detail, sizeof(detail),
             "the order's notAfter %s is %ld s away, less than the %ld s a "
             "certificate must live; create a new order",
             s, left, need);
    prob = json_object_new_object();
    json_object_object_add(prob, "type",
                           json_object_new_string("urn:ietf:params:acme:error:"
                                                  "malformed"));
    json_object_object_add(prob, "detail", json_object_new_string(detail));
    json_object_object_add(o, "status", json_object_new_string("invalid"));
    json_object_object_add(o, "error", json_object_get(prob));
    state_save();
    resp_problem_obj(rs, 400, prob);
    return -1;
}

void h_finalize(const struct req *rq, struct resp *rs, const char *id)
{
    struct jws j;
    json_object *o, *rec = NULL;
    X509_REQ *req = NULL;
    const char *profile;
    char why[300], *cid;

    if (jws_check(rq, rs, JWS_KID, &j) != 0)
        return;
    if ((o = owned(rs, &j, "orders", id)) == NULL)
        goto done;
    order_refresh(o);
    if (strcmp(jstr(o, "status"), "ready") != 0) {
        resp_problem(rs, 403, "orderNotReady", "order is %s, not ready",
                     jstr(o, "status"));
        goto done;
    }
    if (check_time_left(rs, o) != 0 || (req = csr_from(rs, j.payload)) == NULL)
        goto done;
    if (issue_check_csr(req, o, j.acct, &profile, why, sizeof(why)) != 0) {
        resp_problem(rs, 400, "badCSR", "%s", why);
        goto done;
    }
    cid = issue_cert(req, o, j.acct, profile, &rec);
    if (cid == NULL) {
        resp_problem(rs, 500, "serverInternal", "issuance failed");
        goto done;
    }
    json_object_object_add(rec, "account", json_object_new_string(j.acct_id));
    json_object_object_add(o, "cert", json_object_new_string(cid));
    json_object_object_add(o, "status", json_object_new_string("valid"));
    state_save();
    free(cid);
    rs->location = url_of(rq, "/order/%s", id);
    resp_json(rs, 200, order_render(rq, id));
done:
    X509_REQ_free(req);
    jws_clear(&j);
}

void h_cert(const struct req *rq, struct resp *rs, const char *id)
{
    struct jws j;
    json_object *c;

    if (jws_check(rq, rs, JWS_KID, &j) != 0)
        return;
    if ((c = owned(rs, &j, "certs", id)) != NULL) {
        rs->status = 200;
        rs->ctype = "application/pem-certificate-chain";
        if (asprintf(&rs->body, "%s%s", jstr(c, "pem"), CS.inter_pem) < 0)
            rs->body = NULL;
    }
    jws_clear(&j);
}

/* ---- ACME Renewal Information (RFC 9773) ---------------------------- */

static bool window_past(json_object *c)
{
    json_object *v;

    return CS.o.ari_past || jstr(c, "revoked") ||
           (json_object_object_get_ex(c, "ari_past", &v) &&
            json_object_get_boolean(v));
}

void h_renewal_info(const struct req *rq, struct resp *rs, const char *id)
{
    json_object *c = cert_by_certid(id, NULL), *o, *w;
    time_t nb, na, now = time(NULL), start, end;
    long life, retry;
    char *s, *e;

    if (strchr(id, '.') == NULL) {
        resp_problem(rs, 400, "malformed",
                     "CertID must be base64url(AKI).base64url(serial)");
        return;
    }
    if (c == NULL) {
        resp_problem(rs, 404, "malformed", "no certificate with CertID %s", id);
        return;
    }
    nb = (time_t)jint(c, "notBefore");
    na = (time_t)jint(c, "notAfter");
    life = (long)(na - nb);
    start = nb + life * 2 / 3;
    end = nb + life * 5 / 6;
    if (window_past(c)) {
        start = now - 120;
        end = now - 60;
    }
    s = time_str(start);
    e = time_str(end);
    o = json_object_new_object();
    w = json_object_new_object();
    json_object_object_add(w, "start", json_object_new_string(s));
    json_object_object_add(w, "end", json_object_new_string(e));
    json_object_object_add(o, "suggestedWindow", w);
    retry = life / 10 < 1 ? 1 : life / 10 > 21600 ? 21600 : life / 10;
    rs->retry_after = retry;
    resp_json(rs, 200, o);
    free(s);
    free(e);
}

/* Management: POST /csca/ari-past[?certid=ID] moves one (or every)
 * certificate's suggested window into the past. */
void h_ari_past(const struct req *rq, struct resp *rs)
{
    json_object *o = json_object_new_object();
    int n = 0;

    json_object_object_foreach(state_tab("certs"), k, v)
    {
        (void)k;
        if (rq->query_certid &&
            (!jstr(v, "certid") || strcmp(jstr(v, "certid"), rq->query_certid)))
            continue;
        json_object_object_add(v, "ari_past", json_object_new_boolean(1));
        n++;
    }
    state_save();
    json_object_object_add(o, "updated", json_object_new_int(n));
    resp_json(rs, n > 0 || !rq->query_certid ? 200 : 404, o);
}
