/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What both processes read from a challenge of the draft without a token:
 * its kind (OTP or not, answered without a human or not), whether its
 * token may be signed, and the server's OTP hints.  The network process
 * uses them to pick a challenge and describe it to the key holder; the
 * holder uses the same rules where it decides (agt_enroll.c, `check`) and
 * checks the token again before it signs (agt_challenge.c).  No token
 * code: both processes link this (csa_agent_conf).
 */
#include "agt_challenge_read.h"

#include <string.h>

#include <json-c/json.h>

bool agt_challenge_is_otp(const char *type)
{
    return !strcmp(type, "hotp-01") || !strcmp(type, "totp-01") ||
           !strcmp(type, "otp-01");
}

bool agt_challenge_automatic(const agt_identity *id, const char *type)
{
    if (!strcmp(type, "otp-01"))
        return false; /* a human always types these */
    if (!strcmp(type, "hotp-01") || !strcmp(type, "totp-01"))
        return id->otp_secret != NULL;
    return true;
}

/* An optional integer hint: absent keeps *out; anything but an integer
 * is the CA's protocol error, naming the challenge and the member. */
static csa_err agt_hint_int(json_object *o, const acme_challenge *ch,
                            const char *key, long *out)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v))
        return CSA_OK;
    if (!json_object_is_type(v, json_type_int))
        return csa_raise(CSA_ERR_PROTOCOL,
                         "challenge %s: member \"%s\" is not an integer",
                         ch->url, key);
    *out = (long)json_object_get_int64(v);
    return CSA_OK;
}

static csa_err agt_hint_alg(json_object *o, const acme_challenge *ch,
                            tok_hmac_alg *alg)
{
    static const struct {
        const char *name;
        tok_hmac_alg alg;
    } algs[] = {{"SHA1", TOK_HMAC_SHA1},
                {"SHA256", TOK_HMAC_SHA256},
                {"SHA512", TOK_HMAC_SHA512}};
    json_object *v;
    const char *a;
    size_t i;

    if (!json_object_object_get_ex(o, "algorithm", &v))
        return CSA_OK;
    if (!json_object_is_type(v, json_type_string))
        return csa_raise(CSA_ERR_PROTOCOL,
                         "challenge %s: member \"algorithm\" is not a "
                         "string",
                         ch->url);
    a = json_object_get_string(v);
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (!strcmp(a, algs[i].name)) {
            *alg = algs[i].alg;
            return CSA_OK;
        }
    return csa_raise(CSA_ERR_PROTOCOL,
                     "challenge %s: algorithm '%.32s' is not SHA1, SHA256 "
                     "or SHA512",
                     ch->url, a);
}

/* Reads and range-checks the server's hints; bad hints are the CA's
 * error, reported with the value. */
csa_err agt_otp_hints_parse(const acme_challenge *ch, agt_otp_hints *h)
{
    json_object *o = ch->json ? json_tokener_parse(ch->json) : NULL;
    long digits = 6, period = 30;
    csa_err err;

    h->digits = 6, h->alg = TOK_HMAC_SHA1, h->period = 30;
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return csa_raise(CSA_ERR_PROTOCOL, "challenge %s is not a JSON object",
                         ch->url);
    }
    if ((err = agt_hint_int(o, ch, "digits", &digits)) == CSA_OK &&
        (err = agt_hint_int(o, ch, "period", &period)) == CSA_OK)
        err = agt_hint_alg(o, ch, &h->alg);
    if (err == CSA_OK && digits != 6 && digits != 8)
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "challenge %s: digits %ld is not 6 or 8", ch->url,
                        digits);
    if (err == CSA_OK && (period < 1 || period > 3600))
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "challenge %s: period %ld is out of range (1 to "
                        "3600 s)",
                        ch->url, period);
    h->digits = (int)digits;
    h->period = period;
    json_object_put(o);
    return err;
}

/*
 * RFC 8555 §8.1/§8.3: a token is base64url with at least 128 bits of
 * entropy.  The key authorization is signed (cert-01, ppkp-01) by keys
 * that must never sign text the CA chose, so anything else — other
 * characters, fewer than 22 or more than 128 of them — is refused.
 */
bool agt_challenge_token_ok(const char *t)
{
    size_t n =
        t ? strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789-_")
          : 0;

    return t != NULL && t[n] == '\0' && n >= 22 && n <= 128;
}
