/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Challenge responses (docs/protocol.md is the normative profile).
 * The client POSTs a response object to the challenge URL:
 *   hotp-01/totp-01/otp-01  {"otp":"123456"}
 *   cert-01                 {"x5c":[...],"alg":"ES256","signature":"..."}
 *   ppkp-01                 {"kid":"<thumbprint>","alg":...,"signature":...}
 *   dns-01/http-01          {} (valid in --always-valid mode only)
 * Validation is synchronous: the reply carries the final status.  A wrong
 * answer gets an incorrectResponse problem; the challenge stays pending
 * until CSCA_OTP_MAX_FAILS wrong answers, then it (and its authorization)
 * is invalid.
 */
#include "csca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#define MAX_X5C 5

char *key_authorization(const char *token, json_object *jwk)
{
    char *t = jwk_thumbprint(jwk), *out = NULL;

    if (t != NULL && token != NULL && asprintf(&out, "%s.%s", token, t) < 0)
        out = NULL;
    free(t);
    return out;
}

/* ---- rate limit of OTP answers per account (in memory) ---------------- */

static bool otp_rate_ok(const char *acct_id, long *retry)
{
    static json_object *seen;
    json_object *list, *keep = json_object_new_array();
    time_t now = time(NULL), oldest = now;
    size_t i;

    if (seen == NULL)
        seen = json_object_new_object();
    if (!json_object_object_get_ex(seen, acct_id, &list))
        list = NULL;
    for (i = 0; list && i < json_object_array_length(list); i++) {
        time_t t = json_object_get_int64(json_object_array_get_idx(list, i));
        if (now - t < 60) {
            json_object_array_add(keep, json_object_new_int64(t));
            oldest = t < oldest ? t : oldest;
        }
    }
    json_object_object_add(seen, acct_id, keep);
    if ((long)json_object_array_length(keep) >= CS.o.otp_rate) {
        *retry = 60 - (long)(now - oldest);
        return false;
    }
    json_object_array_add(keep, json_object_new_int64(now));
    return true;
}

/* ---- cert-01 ---------------------------------------------------------- */

static X509 *x509_from_b64(const char *s)
{
    uint8_t *der = NULL;
    size_t n = 0;
    const unsigned char *p;
    X509 *x = NULL;

    if (s == NULL || b64std_dec(s, &der, &n) != 0)
        return NULL;
    p = der;
    x = d2i_X509(NULL, &p, (long)n);
    if (x != NULL && p != der + n) {
        X509_free(x);
        x = NULL;
    }
    free(der);
    return x;
}

static X509 *x509_from_pem(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    return x;
}

/* Registry entries of a kind that belong to the account's organisation. */
static bool for_org(json_object *e, json_object *acct)
{
    const char *org = jstr(acct, "org"), *ek = jstr(acct, "eab_kid");

    if (!org || !jstr(e, "org") || strcmp(jstr(e, "org"), org) != 0)
        return false;
    return !jstr(e, "eab_kid") || (ek && strcmp(jstr(e, "eab_kid"), ek) == 0);
}

static X509_STORE *anchors_for(json_object *acct)
{
    X509_STORE *st = X509_STORE_new();
    json_object *a = reg_list("anchors");
    size_t i, n = 0;

    for (i = 0; st && i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        X509 *x;
        if (!for_org(e, acct) || (x = x509_from_pem(jstr(e, "pem"))) == NULL)
            continue;
        X509_STORE_add_cert(st, x);
        X509_free(x);
        n++;
    }
    if (n == 0) {
        X509_STORE_free(st);
        return NULL;
    }
    return st;
}

static bool leaf_registered(X509 *leaf, json_object *acct)
{
    json_object *a = reg_list("admin_certs");
    size_t i;
    bool found = false;

    for (i = 0; !found && i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        X509 *x;
        if (!for_org(e, acct) || (x = x509_from_pem(jstr(e, "pem"))) == NULL)
            continue;
        found = X509_cmp(x, leaf) == 0;
        X509_free(x);
    }
    return found;
}

static int chain_ok(X509 *leaf, STACK_OF(X509) * inter, json_object *acct,
                    char *why, size_t whylen)
{
    X509_STORE *st = anchors_for(acct);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0;

    if (st == NULL) {
        snprintf(why, whylen, "organisation has no administrator trust anchor");
    } else if (ctx && X509_STORE_CTX_init(ctx, st, leaf, inter) == 1) {
        ok = X509_verify_cert(ctx) == 1;
        if (!ok)
            snprintf(
                why, whylen,
                "x5c does not verify to the administrator "
                "trust anchor: %s",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    if (ok && !leaf_registered(leaf, acct)) {
        snprintf(why, whylen, "x5c leaf is not registered for organisation %s",
                 jstr(acct, "org"));
        ok = 0;
    }
    return ok ? 0 : -1;
}

/* cert-01 and ppkp-01 answers carry alg and a base64url signature.  A
 * malformed answer is refused before it can count as a wrong one. */
static int signed_shape_ok(json_object *pl, char *why, size_t whylen)
{
    const char *alg, *s;
    uint8_t *sig = NULL;
    size_t n = 0;

    if (member_str_why(pl, "alg", true, &alg, why, whylen) < 0 ||
        member_str_why(pl, "signature", true, &s, why, whylen) < 0)
        return -1;
    if (b64url_dec(s, &sig, &n) != 0) {
        snprintf(why, whylen, "\"signature\" is not base64url");
        return -1;
    }
    free(sig);
    return 0;
}

/* Does the answer's signature over the key authorization verify with pk?
 * (Its shape was checked by signed_shape_ok.) */
static int sig_of(json_object *pl, const char *ka, EVP_PKEY *pk, char *why,
                  size_t whylen)
{
    uint8_t *sig = NULL;
    size_t n = 0;
    int r = -1;

    if (b64url_dec(jstr(pl, "signature"), &sig, &n) == 0)
        r = sig_verify(pk, jstr(pl, "alg"), (const uint8_t *)ka, strlen(ka),
                       sig, n, why, whylen);
    if (r != 0)
        strncat(why, " over the key authorization", whylen - strlen(why) - 1);
    free(sig);
    return r == 0 ? 0 : -1;
}

/* 1 accepted, 0 wrong answer (why), -1 malformed (why). */
static int check_cert01(json_object *pl, json_object *acct, const char *ka,
                        char *why, size_t whylen)
{
    json_object *x5c, *e;
    STACK_OF(X509) *inter = sk_X509_new_null();
    X509 *leaf = NULL;
    char what[32];
    size_t i, n = 0;
    int r = -1;

    if (member_why(pl, "x5c", json_type_array, true, &x5c, why, whylen) < 0)
        goto done;
    if ((n = json_object_array_length(x5c)) == 0 || n > MAX_X5C) {
        snprintf(why, whylen, "cert-01 response needs x5c (1..%d certs)",
                 MAX_X5C);
        goto done;
    }
    for (i = 0; i < n; i++) {
        X509 *x;
        e = json_object_array_get_idx(x5c, i);
        snprintf(what, sizeof(what), "x5c[%zu]", i);
        if (!value_is(e, json_type_string, what, why, whylen))
            goto done;
        if ((x = x509_from_b64(json_object_get_string(e))) == NULL) {
            snprintf(why, whylen, "x5c[%zu] is not base64 DER", i);
            goto done;
        }
        if (i == 0)
            leaf = x;
        else
            sk_X509_push(inter, x);
    }
    if (signed_shape_ok(pl, why, whylen) != 0)
        goto done;
    r = chain_ok(leaf, inter, acct, why, whylen) == 0 &&
                sig_of(pl, ka, X509_get0_pubkey(leaf), why, whylen) == 0
            ? 1
            : 0;
done:
    X509_free(leaf);
    sk_X509_pop_free(inter, X509_free);
    return r;
}

static int check_ppkp01(json_object *pl, json_object *acct, const char *ka,
                        char *why, size_t whylen)
{
    json_object *a = reg_list("ppkp"), *jwk;
    const char *kid;
    EVP_PKEY *pk = NULL;
    size_t i;
    int r = 0;

    if (member_str_why(pl, "kid", true, &kid, why, whylen) < 0 ||
        signed_shape_ok(pl, why, whylen) != 0)
        return -1;
    for (i = 0; i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        if (for_org(e, acct) && jstr(e, "thumbprint") &&
            strcmp(jstr(e, "thumbprint"), kid) == 0 &&
            json_object_object_get_ex(e, "jwk", &jwk)) {
            pk = jwk_to_pkey(jwk, why, whylen);
            break;
        }
    }
    if (pk == NULL)
        snprintf(why, whylen,
                 "kid %s is not a key registered for the "
                 "account's organisation",
                 kid);
    else
        r = sig_of(pl, ka, pk, why, whylen) == 0;
    EVP_PKEY_free(pk);
    return r;
}

/* ---- dispatch ---------------------------------------------------------- */

static bool is_otp(const char *type)
{
    return !strcmp(type, "hotp-01") || !strcmp(type, "totp-01") ||
           !strcmp(type, "otp-01");
}

/* hotp-01/totp-01/otp-01: {"otp": "<code>"}, rate-limited per account.
 * 1 accepted, 0 wrong answer (why), -1 problem already set. */
static int evaluate_otp(struct resp *rs, struct jws *j, const char *type,
                        char *why, size_t whylen)
{
    const char *otp;
    long retry = 0;
    int r;

    if (member_str(rs, j->payload, "otp", true, &otp) < 0)
        return -1;
    if (!otp_rate_ok(j->acct_id, &retry)) {
        rs->retry_after = retry;
        resp_problem(rs, 429, "rateLimited",
                     "too many OTP answers from this account; retry in %ld s",
                     retry);
        return -1;
    }
    r = otp_check(type, j->acct, otp, why, whylen);
    if (r < 0)
        resp_problem(rs, 403, "unauthorized", "%s", why);
    else if (r == 0)
        snprintf(why, whylen, "wrong or already used one-time password");
    return r;
}

/* 1 accepted, 0 wrong answer, -1 problem already set. */
static int evaluate(struct resp *rs, struct jws *j, json_object *c, char *why,
                    size_t whylen)
{
    const char *type = jstr(c, "type");
    char *ka = key_authorization(jstr(c, "token"), j->jwk);
    int r = -1;

    if (type == NULL || ka == NULL) {
        resp_problem(rs, 500, "serverInternal", "challenge record is broken");
    } else if (!strcmp(type, "dns-01") || !strcmp(type, "http-01")) {
        if (!CS.o.always_valid)
            resp_problem(rs, 400, "malformed",
                         "csca checks %s only in --always-valid mode", type);
        else
            r = 1;
    } else if (is_otp(type)) {
        r = evaluate_otp(rs, j, type, why, whylen);
    } else {
        r = (!strcmp(type, "cert-01") ? check_cert01 : check_ppkp01)(
            j->payload, j->acct, ka, why, whylen);
        if (r < 0)
            resp_problem(rs, 400, "malformed", "%s", why);
    }
    free(ka);
    return r;
}

static void wrong_answer(struct resp *rs, json_object *c, const char *why)
{
    long long fails = jint(c, "fails") + 1;

    json_object_object_add(c, "fails", json_object_new_int64(fails));
    if (fails >= CSCA_OTP_MAX_FAILS) {
        json_object *e = json_object_new_object();
        json_object_object_add(
            e, "type",
            json_object_new_string("urn:ietf:params:acme:error:"
                                   "incorrectResponse"));
        json_object_object_add(e, "detail", json_object_new_string(why));
        json_object_object_add(c, "error", e);
        json_object_object_add(c, "status", json_object_new_string("invalid"));
        authz_refresh(state_get("authzs", jstr(c, "authz")));
    }
    state_save();
    resp_problem(rs, 400, "incorrectResponse", "%s (%lld of %d attempts%s)",
                 why, fails, CSCA_OTP_MAX_FAILS,
                 fails >= CSCA_OTP_MAX_FAILS ? "; challenge is now invalid"
                                             : "");
}

static void chall_accept(json_object *c)
{
    char *now = time_str(time(NULL));

    json_object_object_add(c, "status", json_object_new_string("valid"));
    json_object_object_add(c, "validated", json_object_new_string(now));
    authz_refresh(state_get("authzs", jstr(c, "authz")));
    free(now);
    state_save();
}

void h_challenge(const struct req *rq, struct resp *rs, const char *id)
{
    struct jws j;
    json_object *c = state_get("challs", id), *az;
    char why[512] = "";
    int r;

    if (jws_check(rq, rs, JWS_KID, &j) != 0)
        return;
    az = c ? state_get("authzs", jstr(c, "authz")) : NULL;
    if (az == NULL || strcmp(jstr(az, "account"), j.acct_id) != 0) {
        resp_problem(rs, 404, "malformed",
                     "no such challenge for this account");
        goto done;
    }
    authz_refresh(az);
    if (j.payload != NULL && !strcmp(jstr(c, "status"), "pending") &&
        !strcmp(jstr(az, "status"), "pending")) {
        r = evaluate(rs, &j, c, why, sizeof(why));
        if (r == 0)
            wrong_answer(rs, c, why);
        if (r != 1)
            goto done;
        chall_accept(c);
    }
    rs->link_up = url_of(rq, "/authz/%s", jstr(c, "authz"));
    resp_json(rs, 200, chall_render(rq, id));
done:
    jws_clear(&j);
}
