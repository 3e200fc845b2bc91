/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Answers to the draft's challenge types (docs/protocol.md):
 *   hotp-01/totp-01  {"otp":"..."} computed by HMAC inside the token
 *                    (RFC 4226 dynamic truncation; RFC 6238 with the
 *                    server's digits/algorithm/period hints), or typed by
 *                    a human when no seed is in the token
 *   otp-01           {"otp":"..."} from a human (terminal or program)
 *   cert-01          {"x5c":[...],"alg":..,"signature":..} over the key
 *                    authorization, by an administrator key in the token
 *   ppkp-01          {"kid":<thumbprint>,"alg":..,"signature":..}
 */
#include "agt_challenge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/pem.h>

#include "agt_journal.h"
#include "agt_lock.h"
#include "agt_prog.h"
#include "csa_jwk.h"
#include "csa_log.h"
#include "csa_util.h"

/* RFC 4226 §5.3: HMAC in the token, dynamic truncation here. */
static csa_err agt_hotp(tok_ctx *tok, const char *label, const agt_otp_hints *h,
                        unsigned long long counter, char out[16])
{
    unsigned char msg[8], mac[64];
    size_t maclen = 0, off;
    unsigned long bin, mod = h->digits == 8 ? 100000000UL : 1000000UL;
    int i;
    csa_err err;

    for (i = 7; i >= 0; i--, counter >>= 8)
        msg[i] = (unsigned char)(counter & 0xff);
    if ((err = tok_hmac(tok, label, h->alg, msg, sizeof(msg), mac, &maclen)) !=
        CSA_OK)
        return err;
    off = mac[maclen - 1] & 0x0f;
    bin = ((unsigned long)(mac[off] & 0x7f) << 24) |
          ((unsigned long)mac[off + 1] << 16) |
          ((unsigned long)mac[off + 2] << 8) | mac[off + 3];
    snprintf(out, 16, "%0*lu", h->digits, bin % mod);
    csa_cleanse(mac, sizeof(mac));
    return CSA_OK;
}

csa_err agt_otp_code(tok_ctx *tok, const char *label, tok_hmac_alg alg,
                     int digits, unsigned long long counter, char out[16])
{
    agt_otp_hints h = {digits, alg, 30};

    return agt_hotp(tok, label, &h, counter, out);
}

/* The next HOTP counter, persisted (atomically) before it is used, so that
 * no counter value is ever sent twice, even after kill -9. */
static csa_err agt_hotp_next(const char *state_dir, const agt_identity *id,
                             unsigned long long *counter)
{
    char *path = NULL, *text = NULL, buf[32], name[300];
    unsigned long long c = (unsigned long long)id->hotp_counter;
    csa_err err;
    int lock;

    /* One counter per configured identity, also for its one-use copies,
     * which run beside its renewals: read and advanced under a lock. */
    snprintf(name, sizeof(name), "%s.hotp.lock", agt_identity_base(id));
    if ((lock = agt_lock_file(state_dir, name, AGT_LOCK_EXCLUSIVE, 120,
                              "the HOTP counter")) < 0)
        return CSA_ERR_BUSY;
    if (asprintf(&path, "%s/%s.hotp", state_dir, agt_identity_base(id)) < 0) {
        agt_unlock(lock);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    if (access(path, F_OK) == 0) {
        char *end;

        if ((err = csa_file_read(path, 64, &text, NULL)) != CSA_OK)
            goto done;
        errno = 0;
        c = strtoull(text, &end, 10);
        if (errno != 0 || (*end != '\0' && *end != '\n')) {
            err = csa_raise(CSA_ERR_IO,
                            "HOTP counter file %s is corrupt; fix it by "
                            "hand (never lower it)",
                            path);
            goto done;
        }
    }
    snprintf(buf, sizeof(buf), "%llu\n", c + 1);
    if ((err = csa_file_write_atomic(path, buf, strlen(buf), 0600)) == CSA_OK)
        *counter = c;
done:
    agt_unlock(lock);
    free(text);
    free(path);
    return err;
}

/*
 * The TOTP time step to answer with (RFC 6238), never one already used
 * with this seed: a CA refuses a replayed step, and two identities that
 * share a seed, or an authorization the CA does not reuse, would otherwise
 * answer twice in one 30-second step.  The last step used is kept per seed
 * in <state_dir>/totp-<hex label>.step, under <...>.lock shared by every
 * csagent process; when the current step was used, this waits for the next
 * one rather than answer ahead of the clock.
 */
static csa_err agt_totp_step(const char *state_dir, const char *seed,
                             long period, unsigned long long *step)
{
    char hex[2 * 128 + 1], name[300], *path = NULL, *text = NULL, buf[64];
    unsigned long long last = 0, now;
    int lock;
    csa_err err = CSA_OK;

    agt_hex((const unsigned char *)seed,
            strlen(seed) > 128 ? 128 : strlen(seed), hex);
    snprintf(name, sizeof(name), "totp-%s.lock", hex);
    if ((lock = agt_lock_file(state_dir, name, AGT_LOCK_EXCLUSIVE, 120,
                              "the TOTP seed's last step")) < 0)
        return CSA_ERR_BUSY;
    if (asprintf(&path, "%s/totp-%s.step", state_dir, hex) < 0) {
        agt_unlock(lock);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    if (access(path, F_OK) == 0 &&
        (err = csa_file_read(path, 64, &text, NULL)) == CSA_OK)
        last = strtoull(text, NULL, 10);
    now = (unsigned long long)time(NULL) / (unsigned long long)period;
    if (err == CSA_OK && last >= now && last - now < 4) {
        unsigned long long next = (last + 1) * (unsigned long long)period;

        csa_info("otp",
                 "TOTP step %llu of seed '%s' was used already; waiting "
                 "%llu s for the next one",
                 last, seed, next - (unsigned long long)time(NULL));
        while ((unsigned long long)time(NULL) < next)
            sleep((unsigned)(next - (unsigned long long)time(NULL)));
        now = last + 1;
    }
    snprintf(buf, sizeof(buf), "%llu\n", now);
    if (err == CSA_OK &&
        (err = csa_file_write_atomic(path, buf, strlen(buf), 0600)) == CSA_OK)
        *step = now;
    free(text);
    free(path);
    agt_unlock(lock);
    return err;
}

/* Human-held OTP: the operator's program, else the terminal. */
static csa_err agt_otp_human(const char *const *keep, const agt_identity *id,
                             const acme_challenge *ch, char out[16])
{
    char line[64], e1[192], e2[64], e3[192];
    char *env[] = {e1, e2, e3, NULL};
    int status = 0;
    FILE *tty;
    csa_err err;

    if (id->otp_program != NULL) {
        snprintf(e1, sizeof(e1), "CSAGENT_IDENTITY=%s", agt_identity_base(id));
        snprintf(e2, sizeof(e2), "CSAGENT_CHALLENGE_TYPE=%s", ch->type);
        snprintf(e3, sizeof(e3), "CSAGENT_TOKEN=%s",
                 ch->token ? ch->token : "");
        err = agt_prog_run(id->otp_program, keep, env, 300, line, sizeof(line),
                           &status);
        if (err == CSA_OK && status != 0)
            err = csa_raise(CSA_ERR_CONFIG, "otp_program %s exited with %d",
                            id->otp_program, status);
    } else if ((tty = isatty(STDIN_FILENO) ? fopen("/dev/tty", "r+") : NULL)) {
        fprintf(tty, "One-time password for %s (%s): ", agt_identity_base(id),
                ch->type);
        fflush(tty);
        err = fgets(line, sizeof(line), tty) ? CSA_OK : CSA_ERR_IO;
        fclose(tty);
        line[strcspn(line, "\r\n")] = '\0';
        if (err != CSA_OK)
            csa_raise(err, "no OTP was entered");
    } else {
        return csa_raise(CSA_ERR_CONFIG,
                         "identity %s: %s needs a one-time password from a "
                         "person: run csagent with a terminal attached, or "
                         "set otp_program (or otp_secret for hotp/totp)",
                         id->name, ch->type);
    }
    if (err == CSA_OK && (strlen(line) == 0 || strlen(line) > 15))
        err = csa_raise(CSA_ERR_INVALID,
                        "the OTP given for %s is empty or "
                        "too long",
                        id->name);
    if (err == CSA_OK)
        memcpy(out, line, strlen(line) + 1); /* length checked above */
    csa_cleanse(line, sizeof(line));
    return err;
}

static csa_err agt_otp_payload(agt_session *s, const agt_identity *id,
                               const acme_challenge *ch,
                               const agt_otp_hints *hints, char **payload)
{
    agt_otp_hints h = *hints;
    unsigned long long counter = 0;
    char code[16];
    csa_err err = CSA_OK;

    if (!strcmp(ch->type, "otp-01") || id->otp_secret == NULL)
        err =
            agt_otp_human((const char *const *)s->cfg->hook_env, id, ch, code);
    else if (!strcmp(ch->type, "totp-01")) {
        if ((err = agt_totp_step(s->state_dir, id->otp_secret, h.period,
                                 &counter)) == CSA_OK)
            err = agt_hotp(s->tok, id->otp_secret, &h, counter, code);
    } else if ((err = agt_hotp_next(s->state_dir, id, &counter)) == CSA_OK)
        err = agt_hotp(s->tok, id->otp_secret, &h, counter, code);
    if (err == CSA_OK) {
        /* json-c escapes what a person typed or a program printed. */
        json_object *o = json_object_new_object();

        json_object_object_add(o, "otp", json_object_new_string(code));
        *payload =
            strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        if (*payload == NULL)
            err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    csa_cleanse(code, sizeof(code));
    return err;
}

static csa_err agt_keyauth(agt_session *s, const acme_challenge *ch, char **ka)
{
    if (ch->token == NULL)
        return csa_raise(CSA_ERR_PROTOCOL, "challenge %s has no token",
                         ch->url);
    if (!agt_challenge_token_ok(ch->token))
        return csa_raise(CSA_ERR_PROTOCOL,
                         "challenge %s: the token is not 22 to 128 base64url "
                         "characters (%zu characters); refusing to sign it",
                         ch->url, strlen(ch->token));
    return acme_key_authorization(agt_jws_key_signer(s->account_signer),
                                  ch->token, ka);
}

/* Appends base64 DER of each certificate in the PEM file to arr. */
static csa_err agt_x5c_file(const char *path, json_object *arr)
{
    FILE *f = fopen(path, "r");
    X509 *x;
    csa_err err = CSA_OK;

    if (f == NULL)
        return csa_raise(CSA_ERR_CONFIG, "cannot open cert_chain %s", path);
    while (err == CSA_OK && (x = PEM_read_X509(f, NULL, NULL, NULL))) {
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        unsigned char *b64 = malloc((size_t)len * 4 / 3 + 8);

        if (len <= 0 || b64 == NULL)
            err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        else {
            EVP_EncodeBlock(b64, der, len);
            json_object_array_add(arr, json_object_new_string((char *)b64));
        }
        free(b64);
        OPENSSL_free(der);
        X509_free(x);
    }
    fclose(f);
    if (err == CSA_OK && json_object_array_length(arr) == 0)
        err = csa_raise(CSA_ERR_CONFIG, "cert_chain %s holds no certificate",
                        path);
    return err;
}

/* The administrator certificate from the token (same CKA_ID as its key). */
static csa_err agt_x5c_token(tok_ctx *tok, tok_key *key, json_object *arr)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, idlen;
    const unsigned char *id = tok_key_id(key, &idlen);
    X509 *x = NULL;
    unsigned char *der = NULL, *b64 = NULL;
    int len;
    csa_err err =
        tok_objects(tok, NULL, id, idlen, TOK_CLASS_CERTIFICATE, &objs, &n);

    if (err == CSA_OK && n == 0)
        err = csa_raise(CSA_ERR_NOT_FOUND,
                        "no certificate for the cert-01 key '%s' on the "
                        "token (or set cert_chain)",
                        tok_key_label(key));
    if (err == CSA_OK)
        err = tok_cert_get(tok, objs[0].handle, &x);
    free(objs);
    if (err != CSA_OK)
        return err;
    len = i2d_X509(x, &der);
    b64 = malloc((size_t)len * 4 / 3 + 8);
    if (b64 != NULL && len > 0) {
        EVP_EncodeBlock(b64, der, len);
        json_object_array_add(arr, json_object_new_string((char *)b64));
    } else {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    free(b64);
    OPENSSL_free(der);
    X509_free(x);
    return err;
}

static csa_err agt_signed_payload(agt_session *s, const agt_identity *id,
                                  const acme_challenge *ch, int cert01,
                                  char **payload)
{
    const char *keyref = cert01 ? id->cert_key : id->ppkp_key;
    json_object *o = json_object_new_object(), *arr;
    char *ka = NULL, *alg = NULL, *sig = NULL, *jwk = NULL, *kid = NULL;
    tok_key *key = NULL;
    csa_err err;

    if (keyref == NULL)
        return json_object_put(o),
               csa_raise(CSA_ERR_CONFIG, "identity %s: %s needs %s", id->name,
                         ch->type, cert01 ? "cert_key" : "ppkp_key");
    if ((err = tok_key_find(s->tok, keyref, &key)) != CSA_OK ||
        (err = agt_keyauth(s, ch, &ka)) != CSA_OK ||
        (err = agt_sign_keyauth(key, ka, &alg, &sig)) != CSA_OK)
        goto done;
    if (cert01) {
        arr = json_object_new_array();
        json_object_object_add(o, "x5c", arr);
        err = id->cert_chain ? agt_x5c_file(id->cert_chain, arr)
                             : agt_x5c_token(s->tok, key, arr);
    } else if ((err = tok_key_jwk(key, &jwk)) == CSA_OK &&
               (err = csa_jwk_thumbprint(jwk, &kid)) == CSA_OK) {
        json_object_object_add(o, "kid", json_object_new_string(kid));
    }
    if (err != CSA_OK)
        goto done;
    json_object_object_add(o, "alg", json_object_new_string(alg));
    json_object_object_add(o, "signature", json_object_new_string(sig));
    *payload =
        strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    if (*payload == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
done:
    json_object_put(o);
    free(ka);
    free(alg);
    free(sig);
    free(jwk);
    free(kid);
    tok_key_free(key);
    return err;
}

csa_err agt_challenge_payload(agt_session *s, const agt_identity *id,
                              const acme_challenge *ch, const agt_otp_hints *h,
                              char **payload)
{
    *payload = NULL;
    if (agt_challenge_is_otp(ch->type))
        return agt_otp_payload(s, id, ch, h, payload);
    if (!strcmp(ch->type, "cert-01"))
        return agt_signed_payload(s, id, ch, 1, payload);
    if (!strcmp(ch->type, "ppkp-01"))
        return agt_signed_payload(s, id, ch, 0, payload);
    return csa_raise(CSA_ERR_UNSUPPORTED,
                     "identity %s: challenge type %s is not supported",
                     id->name, ch->type);
}
