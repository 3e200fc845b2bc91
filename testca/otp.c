/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-time passwords for hotp-01 / totp-01 / otp-01.
 *
 * HOTP (RFC 4226): look-ahead window CSCA_HOTP_WINDOW from the next unused
 * counter; on success the counter moves past the accepted value.  TOTP
 * (RFC 6238): steps T-1, T, T+1, each newer than the last accepted step.
 * Both counters live in state.json ("otp" table), so a value is never
 * accepted twice, even across a restart.  otp-01 runs the operator's
 * program with CSCA_OTP_CREDENTIAL and CSCA_OTP_CODE in its environment
 * (never argv) and accepts on exit status 0; accepted codes are remembered
 * (hashed) and refused when replayed.
 */
#include "csca.h"
#include "csa_spawn.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#define OTP_PROGRAM_TIMEOUT 10 /* seconds */

static const EVP_MD *otp_md(const char *alg)
{
    if (alg == NULL || strcmp(alg, "SHA1") == 0)
        return EVP_sha1();
    if (strcmp(alg, "SHA256") == 0)
        return EVP_sha256();
    if (strcmp(alg, "SHA512") == 0)
        return EVP_sha512();
    return NULL;
}

int hotp_code(const uint8_t *key, size_t klen, const char *alg,
              uint64_t counter, int digits, char out[16])
{
    uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned mlen = 0, off;
    uint32_t bin;
    const EVP_MD *md = otp_md(alg);
    int i;

    if (md == NULL || digits < 6 || digits > 8)
        return -1;
    for (i = 7; i >= 0; i--, counter >>= 8)
        msg[i] = (uint8_t)(counter & 0xff);
    if (HMAC(md, key, (int)klen, msg, sizeof(msg), mac, &mlen) == NULL)
        return -1;
    off = mac[mlen - 1] & 0x0f;
    bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
          ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
    for (i = 0, off = 1; i < digits; i++)
        off *= 10;
    snprintf(out, 16, "%0*u", digits, bin % off);
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

static const char *cred_type(const char *chall_type)
{
    if (strcmp(chall_type, "hotp-01") == 0)
        return "hotp";
    if (strcmp(chall_type, "totp-01") == 0)
        return "totp";
    if (strcmp(chall_type, "otp-01") == 0)
        return "otp";
    return NULL;
}

/* The i-th credential of this type usable by the account, or NULL. */
static json_object *cred_at(const char *type, json_object *acct, size_t skip)
{
    json_object *a = reg_list("otp");
    const char *org = jstr(acct, "org"), *ek = jstr(acct, "eab_kid");
    size_t i;

    for (i = 0; org && i < json_object_array_length(a); i++) {
        json_object *c = json_object_array_get_idx(a, i);
        if (!jstr(c, "type") || strcmp(jstr(c, "type"), type) ||
            !jstr(c, "org") || strcmp(jstr(c, "org"), org))
            continue;
        if (jstr(c, "eab_kid") && (!ek || strcmp(jstr(c, "eab_kid"), ek)))
            continue;
        if (skip-- == 0)
            return c;
    }
    return NULL;
}

json_object *otp_hints(const char *chall_type, json_object *acct)
{
    json_object *h = json_object_new_object(), *c;
    const char *t = cred_type(chall_type);

    if (t == NULL || (c = cred_at(t, acct, 0)) == NULL)
        return h;
    json_object_object_add(h, "digits",
                           json_object_new_int((int)jint(c, "digits")));
    json_object_object_add(h, "algorithm",
                           json_object_new_string(jstr(c, "algorithm")
                                                      ? jstr(c, "algorithm")
                                                      : "SHA1"));
    if (strcmp(t, "totp") == 0)
        json_object_object_add(h, "period",
                               json_object_new_int((int)jint(c, "period")));
    return h;
}

/* Per-credential persisted counters: {"counter":N,"step":T,"codes":[]} */
static json_object *cred_state(json_object *cred)
{
    json_object *s = state_get("otp", jstr(cred, "id"));

    if (s == NULL) {
        s = json_object_new_object();
        json_object_object_add(s, "counter",
                               json_object_new_int64(jint(cred, "counter")));
        json_object_object_add(s, "step", json_object_new_int64(-1));
        json_object_object_add(s, "codes", json_object_new_array());
        json_object_object_add(state_tab("otp"), jstr(cred, "id"), s);
    }
    return s;
}

static bool code_eq(const char *a, const char *b)
{
    size_t n = strlen(a);

    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

/* Try counters [from, from+n); returns the matching one or -1. */
static long long match_range(json_object *cred, const char *code,
                             long long from, int n)
{
    uint8_t *seed = NULL;
    size_t sl = 0;
    char want[16];
    long long found = -1;
    int i;

    if (!jstr(cred, "seed") || b32_dec(jstr(cred, "seed"), &seed, &sl) != 0)
        return -1;
    for (i = 0; i < n && found < 0; i++)
        if (from + i >= 0 &&
            hotp_code(seed, sl, jstr(cred, "algorithm"), (uint64_t)(from + i),
                      (int)jint(cred, "digits"), want) == 0 &&
            code_eq(want, code))
            found = from + i;
    OPENSSL_clear_free(seed, sl);
    OPENSSL_cleanse(want, sizeof(want));
    return found;
}

static int hotp_check(json_object *cred, const char *code)
{
    json_object *st = cred_state(cred);
    long long next = jint(st, "counter"), hit;

    if (jint(cred, "counter") > next)
        next = jint(cred, "counter");
    hit = match_range(cred, code, next, CSCA_HOTP_WINDOW);
    if (hit < 0)
        return 0;
    json_object_object_add(st, "counter", json_object_new_int64(hit + 1));
    return 1;
}

static int totp_check(json_object *cred, const char *code)
{
    json_object *st = cred_state(cred);
    long long period = jint(cred, "period") > 0 ? jint(cred, "period") : 30;
    long long t = (long long)time(NULL) / period, last = jint(st, "step");
    long long from = t - 1 > last ? t - 1 : last + 1, hit;

    if (from > t + 1)
        return 0;
    hit = match_range(cred, code, from, (int)(t + 2 - from));
    if (hit < 0)
        return 0;
    json_object_object_add(st, "step", json_object_new_int64(hit));
    return 1;
}

/* The operator's verifier, started the way csagent starts its programs
 * (common/csa_spawn.c: clean signals, no inherited descriptors, its own
 * process group killed on time-out, an allowlisted environment).  1: the
 * code is good, 0: refused, -1: the program failed. */
static int run_program(const char *prog, const char *cred, const char *code)
{
    char *env[3] = {NULL, NULL, NULL}, why[512];
    csa_spawn_req req = {prog, env, NULL, OTP_PROGRAM_TIMEOUT, NULL, 0};
    int status = -1, r = -1;

    if (asprintf(&env[0], "CSCA_OTP_CREDENTIAL=%s", cred) >= 0 &&
        asprintf(&env[1], "CSCA_OTP_CODE=%s", code) >= 0) {
        if (csa_spawn_run(&req, &status, why, sizeof(why)) == CSA_SPAWN_OK)
            r = status == 0;
        else
            fprintf(stderr, "csca: otp-program: %s\n", why);
    }
    free(env[0]);
    if (env[1] != NULL)
        OPENSSL_clear_free(env[1], strlen(env[1]));
    return r;
}

static int generic_check(json_object *cred, const char *code, char *why,
                         size_t whylen)
{
    json_object *st = cred_state(cred), *codes;
    uint8_t md[32];
    char *h;
    size_t i;
    int r;

    if (CS.o.otp_program == NULL) {
        snprintf(why, whylen, "no --otp-program configured for otp-01");
        return -1;
    }
    EVP_Digest(code, strlen(code), md, NULL, EVP_sha256(), NULL);
    h = b64url_enc(md, sizeof(md));
    json_object_object_get_ex(st, "codes", &codes);
    for (i = 0; i < json_object_array_length(codes); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(codes, i)),
                    h)) {
            free(h);
            return 0; /* replay */
        }
    r = run_program(CS.o.otp_program, jstr(cred, "id"), code);
    if (r == 1)
        json_object_array_add(codes, json_object_new_string(h));
    free(h);
    if (r < 0)
        snprintf(why, whylen, "otp-01 verifier failed to run");
    return r;
}

static bool code_shape_ok(const char *type, json_object *cred, const char *c)
{
    size_t i, n = strlen(c);

    if (strcmp(type, "otp") == 0)
        return n > 0 && n <= 64;
    if ((long long)n != jint(cred, "digits"))
        return false;
    for (i = 0; i < n; i++)
        if (c[i] < '0' || c[i] > '9')
            return false;
    return true;
}

/* 1: accepted (counters persisted by the caller's state_save), 0: wrong,
 * -1: cannot check (why says why). */
int otp_check(const char *chall_type, json_object *acct, const char *code,
              char *why, size_t whylen)
{
    const char *t = cred_type(chall_type);
    json_object *cred;
    size_t i;
    int r = 0;

    if (t == NULL || cred_at(t, acct, 0) == NULL) {
        snprintf(why, whylen,
                 "no %s credential registered for the account's "
                 "organisation",
                 t ? t : "OTP");
        return -1;
    }
    for (i = 0; r == 0 && (cred = cred_at(t, acct, i)) != NULL; i++) {
        if (!code_shape_ok(t, cred, code))
            continue;
        if (strcmp(t, "hotp") == 0)
            r = hotp_check(cred, code);
        else if (strcmp(t, "totp") == 0)
            r = totp_check(cred, code);
        else
            r = generic_check(cred, code, why, whylen);
    }
    return r;
}
