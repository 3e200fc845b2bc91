/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network process (agt_net.h): every request to the CA and the parsing
 * of what it answers; the hooks of http-01/dns-01 are started for it by
 * its hook runner (agt_hookrun.h).  It holds no token session and no PIN;
 * what needs a key is asked of the key holder on descriptor 3.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "agt_challenge_read.h"
#include "agt_hookrun.h"
#include "agt_net.h"
#include "agt_sandbox.h"
#include "agt_chain.h"
#include "csa_log.h"
#include "csa_util.h"

#define AGT_NP_FD 3

typedef struct agt_np agt_np;

/* A key the holder signs with, as acme/ sees it. */
typedef struct {
    csa_signer s;
    char *alg, *jwk;
    uint64_t sel;
    agt_np *np;
} agt_rpc_key;

struct agt_np {
    agt_config *cfg;
    pol_policy *pol;
    acme_client *acme;
    agt_rpc_key account, next, cert;
    bool has_account;
    agt_hookrun *hr; /* the hook runner */
};

static csa_err agt_np_ask(agt_np *np, csa_ipc_out *o, csa_ipc_msg *reply)
{
    static const uint8_t err_tags[] = {AGT_NET_T_ERR, AGT_NET_T_MSG, 0};
    csa_err err;
    uint64_t e = 0;
    char *msg = NULL;

    (void)np;
    if ((err = csa_ipc_send(AGT_NP_FD, o)) != CSA_OK ||
        (err = csa_ipc_recv(AGT_NP_FD, CSA_IPC_MAX, reply)) != CSA_OK)
        return err;
    if (reply->type == AGT_NET_R_OK)
        return CSA_OK;
    if (reply->type != AGT_NET_R_ERR ||
        (err = csa_ipc_only(reply, err_tags)) != CSA_OK ||
        (err = csa_ipc_u64(reply, AGT_NET_T_ERR, CSA_ERR__MAX - 1, true, &e)) !=
            CSA_OK ||
        (err = csa_ipc_str(reply, AGT_NET_T_MSG, 8192, false, &msg)) !=
            CSA_OK) {
        csa_ipc_msg_free(reply);
        return err != CSA_OK
                   ? err
                   : csa_raise(CSA_ERR_PROTOCOL,
                               "key holder answered with type %u", reply->type);
    }
    csa_ipc_msg_free(reply);
    err = csa_raise(e == CSA_OK ? CSA_ERR_PROTOCOL : (csa_err)e, "%s",
                    msg ? msg : "the key holder refused");
    free(msg);
    return err;
}

/* acme_jws_build's hook (csa_signer.h): the request goes to the holder
 * as its typed fields; the holder builds the protected header itself
 * (the key's alg and jwk, this kid, nonce and url), signs, and answers
 * with the whole JWS.  kid NULL asks for the key's jwk; payload NULL is a
 * POST-as-GET. */
static csa_err agt_rpc_jws(void *ctx, const char *url, const char *nonce,
                           const char *kid, const char *payload, char **out)
{
    agt_rpc_key *k = ctx;
    csa_ipc_out o;
    csa_ipc_msg r;
    csa_err err;

    *out = NULL;
    csa_ipc_begin(&o, AGT_NET_C_JWS);
    csa_ipc_put_u64(&o, AGT_NET_T_KEYSEL, k->sel);
    csa_ipc_put_str(&o, AGT_NET_T_URL, url);
    csa_ipc_put_str(&o, AGT_NET_T_NONCE, nonce);
    csa_ipc_put_str(&o, AGT_NET_T_KID, kid);
    csa_ipc_put_str(&o, AGT_NET_T_PAYLOAD, payload);
    if ((err = agt_np_ask(k->np, &o, &r)) != CSA_OK)
        return err;
    err = csa_ipc_str(&r, AGT_NET_T_JWS, AGT_NET_JWS_MAX, true, out);
    csa_ipc_msg_free(&r);
    return err;
}

static void agt_rpc_key_clear(agt_rpc_key *k)
{
    free(k->alg);
    free(k->jwk);
    k->alg = k->jwk = NULL;
}

static csa_err agt_rpc_key_set(agt_np *np, agt_rpc_key *k, uint64_t sel,
                               const csa_ipc_msg *m)
{
    char *alg = NULL, *jwk = NULL;
    csa_err err;

    if ((err = csa_ipc_str(m, AGT_NET_T_ALG, 16, true, &alg)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_JWK, AGT_NET_JWK_MAX, true, &jwk)) !=
            CSA_OK) {
        free(alg);
        return err;
    }
    agt_rpc_key_clear(k);
    k->alg = alg;
    k->jwk = jwk;
    k->sel = sel;
    k->np = np;
    k->s.alg = alg;
    k->s.jwk = jwk;
    k->s.sign_jws = NULL; /* the holder signs only what it built */
    k->s.build_jws = agt_rpc_jws;
    k->s.ctx = k;
    return CSA_OK;
}

/* ------------------------------------------------------------------ */
/* An order (RFC 8555 §7.4), with the draft's challenges               */

static int agt_is_standard(const char *type)
{
    return !strcmp(type, "http-01") || !strcmp(type, "dns-01");
}

/* The identity's preferences that the policy allows to answer now. */
static size_t agt_allowed_prefs(agt_np *np, const agt_identity *id,
                                const char **out)
{
    pol_verdict v;
    size_t n = 0;
    int i;

    for (i = 0; i < id->n_challenges; i++) {
        const char *t = id->challenges[i];

        if (pol_check_challenge(np->pol, t, agt_challenge_automatic(id, t), &v))
            out[n++] = t;
        else
            csa_warn("agent", "%s: not answering %s: %s", id->name, t,
                     v.reason);
    }
    return n;
}

static csa_err agt_solve_standard(agt_np *np, const agt_identity *id,
                                  const acme_authz *az, const char *type)
{
    pol_verdict v;

    if (id->hook == NULL)
        return csa_raise(CSA_ERR_CONFIG,
                         "identity %s: %s needs a hook program (hook = ...)",
                         id->name, type);
    if (!pol_check_hook(np->pol, &v))
        return pol_verdict_raise(&v, CSA_ERR_POLICY);
    return acme_authz_solve_hook_known(np->acme, az, id->hook, &type, 1);
}

/* The holder answers a draft challenge from its typed fields. */
static csa_err agt_np_payload(agt_np *np, const acme_challenge *ch,
                              char **payload)
{
    agt_otp_hints h = {6, TOK_HMAC_SHA1, 30};
    const char *token;
    csa_ipc_out o;
    csa_ipc_msg r;
    csa_err err;

    *payload = NULL;
    if (agt_challenge_is_otp(ch->type) &&
        (err = agt_otp_hints_parse(ch, &h)) != CSA_OK)
        return err;
    /* The holder checks it too; here the CA's mistake is named as such
     * before anything reaches the holder. */
    if (!agt_challenge_is_otp(ch->type) && !agt_challenge_token_ok(ch->token))
        return csa_raise(CSA_ERR_PROTOCOL,
                         "challenge %s: the token is not 22 to 128 base64url "
                         "characters (%zu characters); refusing to sign it",
                         ch->url, ch->token ? strlen(ch->token) : 0);
    /* An OTP answer does not sign the token; it is only shown to an
     * otp_program, and only when well-formed. */
    token = agt_challenge_token_ok(ch->token) ? ch->token : NULL;
    csa_ipc_begin(&o, AGT_NET_C_CHALLENGE);
    csa_ipc_put_str(&o, AGT_NET_T_TYPE, ch->type);
    csa_ipc_put_str(&o, AGT_NET_T_URL, ch->url);
    csa_ipc_put_str(&o, AGT_NET_T_TOKEN, token);
    csa_ipc_put_u64(&o, AGT_NET_T_DIGITS, (uint64_t)h.digits);
    csa_ipc_put_u64(&o, AGT_NET_T_PERIOD, (uint64_t)h.period);
    csa_ipc_put_u64(&o, AGT_NET_T_HMAC, (uint64_t)h.alg);
    if ((err = agt_np_ask(np, &o, &r)) != CSA_OK)
        return err;
    err = csa_ipc_str(&r, AGT_NET_T_PAYLOAD, 65536, true, payload);
    csa_ipc_msg_free(&r);
    return err;
}

static csa_err agt_solve_draft(agt_np *np, const char *url,
                               const acme_challenge *ch)
{
    char *payload = NULL;
    acme_status st = ACME_STATUS_UNKNOWN;
    csa_err err = agt_np_payload(np, ch, &payload);

    if (err == CSA_OK)
        err = acme_challenge_answer(np->acme, ch->url, payload, &st);
    if (payload != NULL)
        csa_cleanse(payload, strlen(payload));
    free(payload);
    if (err == CSA_OK && st != ACME_STATUS_VALID)
        err = acme_authz_wait(np->acme, url, NULL);
    return err;
}

/* "a, b, c" of the authorization's challenge types, or of a list. */
static void agt_join_types(char *buf, size_t size, const acme_authz *az,
                           const char **list, size_t n)
{
    size_t i, count = az ? az->n_challenges : n, off = 0;

    buf[0] = '\0';
    for (i = 0; i < count && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "",
                                az ? az->challenges[i].type : list[i]);
    if (count == 0)
        snprintf(buf, size, "(none)");
}

/* Answers the authorization at url: known, when the caller has it fresh
 * from the CA (a newAuthz answer), else read first. */
static csa_err agt_solve_authz(agt_np *np, const agt_identity *id,
                               const char *url, const acme_authz *known)
{
    const char *prefs[AGT_MAX_LIST];
    const acme_challenge *ch;
    acme_authz *got = NULL;
    const acme_authz *az = known;
    size_t n = agt_allowed_prefs(np, id, prefs);
    csa_err err = CSA_OK;

    if (az == NULL) {
        if ((err = acme_authz_get(np->acme, url, &got)) != CSA_OK)
            return err;
        az = got;
    }
    if (az->status == ACME_STATUS_VALID) {
        acme_authz_free(got);
        return CSA_OK;
    }
    ch = acme_challenge_select(az, prefs, n);
    if (ch == NULL) {
        char offered[256], allowed[256];

        agt_join_types(offered, sizeof(offered), az, NULL, 0);
        agt_join_types(allowed, sizeof(allowed), NULL, prefs, n);
        err = csa_raise(CSA_ERR_POLICY,
                        "identity %s: for %s the CA asks for %s, but this "
                        "identity may answer only %s (challenges = in the "
                        "configuration, [challenges] in the policy)",
                        id->name, az->identifier_value, offered, allowed);
    } else {
        csa_info("agent", "%s: answering %s for %s", id->name, ch->type,
                 az->identifier_value);
        err = agt_is_standard(ch->type)
                  ? agt_solve_standard(np, id, az, ch->type)
                  : agt_solve_draft(np, url, ch);
        if (err != CSA_OK)
            csa_err_context("authorization for %s (%s)", az->identifier_value,
                            ch->type);
    }
    acme_authz_free(got);
    return err;
}

static void agt_identifiers(const agt_identity *id, acme_identifier ids[2],
                            size_t *n)
{
    *n = 0;
    if (id->domain != NULL)
        ids[(*n)++] = (acme_identifier){"dns", id->domain};
    if (id->email != NULL)
        ids[(*n)++] = (acme_identifier){"email", id->email};
}

/* Pre-authorization (RFC 8555 §7.4.1, draft §5) when the CA offers it. */
static csa_err agt_preauthorize(agt_np *np, const agt_identity *id,
                                const acme_identifier *ids, size_t n)
{
    const acme_directory *dir;
    acme_authz *az = NULL;
    csa_err err = acme_directory_get(np->acme, &dir);
    size_t i;

    if (err != CSA_OK || dir->new_authz == NULL)
        return err;
    for (i = 0; err == CSA_OK && i < n; i++) {
        csa_info("agent", "%s: pre-authorizing %s", id->name, ids[i].value);
        if ((err = acme_new_authz(np->acme, &ids[i], &az)) == CSA_OK)
            err = agt_solve_authz(np, id, az->url, az);
        acme_authz_free(az);
        az = NULL;
    }
    return err;
}

static int agt_already_replaced(agt_np *np)
{
    const char *t = acme_client_last_problem(np->acme);

    return t != NULL && strstr(t, ":alreadyReplaced") != NULL;
}

static csa_err agt_np_csr(agt_np *np, unsigned char **der, size_t *len)
{
    csa_ipc_out o;
    csa_ipc_msg r;
    const unsigned char *p;
    csa_err err;

    *der = NULL;
    csa_ipc_begin(&o, AGT_NET_C_CSR);
    if ((err = agt_np_ask(np, &o, &r)) != CSA_OK)
        return err;
    if ((err = csa_ipc_bytes(&r, AGT_NET_T_DER, 65536, true, &p, len)) ==
            CSA_OK &&
        (*der = malloc(*len ? *len : 1)) == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (err == CSA_OK)
        memcpy(*der, p, *len);
    csa_ipc_msg_free(&r);
    return err;
}

/* Order, authorizations, finalize, download.  *pem is malloc'd. */
static csa_err agt_order(agt_np *np, const agt_identity *id,
                         const char *replaces, int64_t not_after, char **pem)
{
    acme_identifier ids[2];
    acme_order *o = NULL;
    unsigned char *csr = NULL;
    size_t n, csr_len = 0, i;
    csa_err err;

    agt_identifiers(id, ids, &n);
    if ((err = agt_preauthorize(np, id, ids, n)) != CSA_OK)
        goto done;
    err =
        acme_order_new_until(np->acme, ids, n, replaces, (time_t)not_after, &o);
    if (err != CSA_OK && replaces != NULL && agt_already_replaced(np)) {
        /* Someone (another agent, an earlier run) already renewed that
         * certificate: order without claiming to replace it. */
        csa_warn("agent",
                 "%s: the CA says the certificate was already "
                 "replaced; ordering without replaces",
                 id->name);
        err =
            acme_order_new_until(np->acme, ids, n, NULL, (time_t)not_after, &o);
    }
    if (err != CSA_OK)
        goto done;
    /* An order that is "ready" has every authorization valid (RFC 8555
     * §7.1.6): after a pre-authorization, nothing to read or answer. */
    for (i = 0; err == CSA_OK && o->status != ACME_STATUS_READY &&
                i < o->n_authorizations;
         i++)
        err = agt_solve_authz(np, id, o->authorizations[i], NULL);
    if (err != CSA_OK || (err = acme_order_wait(np->acme, o)) != CSA_OK ||
        (err = agt_np_csr(np, &csr, &csr_len)) != CSA_OK ||
        (err = acme_order_finalize(np->acme, o, csr, csr_len)) != CSA_OK ||
        (err = acme_order_wait(np->acme, o)) != CSA_OK)
        goto done;
    if (o->certificate == NULL) {
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "the order at %s is %s but has no "
                        "certificate URL",
                        o->url, acme_status_name(o->status));
        goto done;
    }
    err = acme_cert_download(np->acme, o->certificate, np->cfg->preferred_chain,
                             pem);
done:
    free(csr);
    acme_order_free(o);
    return err;
}

/* ------------------------------------------------------------------ */
/* Jobs                                                                */

static const agt_identity *agt_np_identity(agt_np *np, const char *name)
{
    int i;

    for (i = 0; i < np->cfg->n_ids; i++)
        if (!strcmp(np->cfg->ids[i].name, name))
            return &np->cfg->ids[i];
    return NULL;
}

static csa_err agt_job_order(agt_np *np, const csa_ipc_msg *m,
                             csa_ipc_out *done)
{
    static const uint8_t tags[] = {AGT_NET_T_IDENTITY, AGT_NET_T_REPLACES,
                                   AGT_NET_T_NOT_AFTER, 0};
    STACK_OF(X509) *chain = NULL;
    const agt_identity *id;
    char *name = NULL, *replaces = NULL, *pem = NULL;
    int64_t not_after = 0;
    unsigned char *der = NULL;
    size_t len = 0;
    csa_err err;
    int i;

    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_IDENTITY, 256, true, &name)) !=
            CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_REPLACES, 1024, false, &replaces)) !=
            CSA_OK ||
        (err = csa_ipc_i64(m, AGT_NET_T_NOT_AFTER, 1, INT64_MAX / 2, false,
                           &not_after)) != CSA_OK)
        goto out;
    if ((id = agt_np_identity(np, name)) == NULL) {
        err = csa_raise(CSA_ERR_CONFIG, "no identity %s in %s", name,
                        np->cfg->path);
        goto out;
    }
    if ((err = agt_order(np, id, replaces, not_after, &pem)) != CSA_OK ||
        (err = agt_chain_parse(pem, &chain)) != CSA_OK)
        goto out;
    for (i = 0; err == CSA_OK && i < sk_X509_num(chain); i++) {
        unsigned char *one = NULL, *grown;
        int n = i2d_X509(sk_X509_value(chain, i), &one);

        if (n <= 0 || (grown = realloc(der, len + (size_t)n)) == NULL)
            err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        else {
            der = grown;
            memcpy(der + len, one, (size_t)n);
            len += (size_t)n;
        }
        OPENSSL_free(one);
    }
    if (err == CSA_OK)
        csa_ipc_put(done, AGT_NET_T_CHAIN, der, len);
out:
    sk_X509_pop_free(chain, X509_free);
    free(der);
    free(pem);
    free(name);
    free(replaces);
    return err;
}

/* Splits "a\nb\nc" into a NULL-terminated array pointing into s. */
static csa_err agt_np_split(char *s, const char ***out, size_t *n)
{
    const char **list = NULL, **grown;
    char *p, *save = NULL;

    *n = 0;
    for (p = s ? strtok_r(s, "\n", &save) : NULL; p != NULL;
         p = strtok_r(NULL, "\n", &save)) {
        if ((grown = realloc(list, (*n + 2) * sizeof(*list))) == NULL) {
            free(list);
            return csa_raise(CSA_ERR_NOMEM, "out of memory");
        }
        list = grown;
        list[(*n)++] = p;
        list[*n] = NULL;
    }
    *out = list;
    return CSA_OK;
}

static void agt_np_put_account(csa_ipc_out *done, const acme_account *a)
{
    size_t i, len = 1;
    char *contacts;

    csa_ipc_put_u64(done, AGT_NET_T_STATUS, (uint64_t)a->status);
    csa_ipc_put_str(done, AGT_NET_T_ORDERS, a->orders);
    for (i = 0; i < a->n_contact; i++)
        len += strlen(a->contact[i]) + 1;
    if ((contacts = calloc(1, len)) == NULL)
        return;
    for (i = 0; i < a->n_contact; i++) {
        if (i > 0)
            strcat(contacts, "\n");
        strcat(contacts, a->contact[i]);
    }
    csa_ipc_put_str(done, AGT_NET_T_CONTACT, contacts);
    free(contacts);
}

static csa_err agt_job_register(agt_np *np, const csa_ipc_msg *m,
                                csa_ipc_out *done, bool update)
{
    static const uint8_t tags[] = {AGT_NET_T_CONTACT,
                                   AGT_NET_T_TERMS,
                                   AGT_NET_T_ONLY,
                                   AGT_NET_T_EAB_KID,
                                   AGT_NET_T_EAB_KEY,
                                   AGT_NET_T_EAB_ALG,
                                   0};
    acme_account_opts o = {0};
    acme_account *a = NULL;
    csa_secret eab = {0};
    char *contacts = NULL, *kid = NULL, *alg = NULL;
    const char **list = NULL;
    const unsigned char *key;
    uint64_t terms = 0, only = 0;
    size_t n = 0, keylen;
    csa_err err;

    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_CONTACT, 65536, false, &contacts)) !=
            CSA_OK ||
        (err = csa_ipc_u64(m, AGT_NET_T_TERMS, 1, false, &terms)) != CSA_OK ||
        (err = csa_ipc_u64(m, AGT_NET_T_ONLY, 1, false, &only)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_EAB_KID, 1024, false, &kid)) !=
            CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_EAB_ALG, 16, false, &alg)) != CSA_OK ||
        (err = csa_ipc_bytes(m, AGT_NET_T_EAB_KEY, 1024, false, &key,
                             &keylen)) != CSA_OK ||
        (err = agt_np_split(contacts, &list, &n)) != CSA_OK)
        goto out;
    if (update)
        err = acme_account_update(np->acme, list, n, &a);
    else {
        o.contact = list;
        o.n_contact = n;
        o.terms_agreed = (int)terms;
        o.only_return_existing = (int)only;
        o.eab_kid = kid;
        o.eab_alg = alg;
        if (key != NULL) {
            if ((eab.data = malloc(keylen + 1)) == NULL) {
                err = csa_raise(CSA_ERR_NOMEM, "out of memory");
                goto out;
            }
            memcpy(eab.data, key, keylen);
            eab.data[keylen] = '\0';
            eab.len = keylen;
            o.eab_key = &eab;
        }
        err = acme_account_register(np->acme, &o, &a);
    }
    if (err == CSA_OK)
        agt_np_put_account(done, a);
out:
    csa_secret_free(&eab);
    acme_account_free(a);
    free(list);
    free(contacts);
    free(kid);
    free(alg);
    return err;
}

static csa_err agt_job_ari(agt_np *np, const csa_ipc_msg *m, csa_ipc_out *done)
{
    static const uint8_t tags[] = {AGT_NET_T_DER, 0};
    const acme_directory *dir;
    const unsigned char *der;
    acme_renewal *r = NULL;
    size_t len;
    csa_err err;

    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = csa_ipc_bytes(m, AGT_NET_T_DER, 65536, true, &der, &len)) !=
            CSA_OK ||
        (err = acme_directory_get(np->acme, &dir)) != CSA_OK)
        return err;
    if (dir->renewal_info == NULL)
        return csa_raise(CSA_ERR_UNSUPPORTED, "the CA offers no renewalInfo");
    if ((err = acme_renewal_info(np->acme, der, len, &r)) != CSA_OK)
        return err;
    csa_ipc_put_i64(done, AGT_NET_T_START, (int64_t)r->start);
    csa_ipc_put_i64(done, AGT_NET_T_END, (int64_t)r->end);
    csa_ipc_put_i64(done, AGT_NET_T_RETRY, (int64_t)r->retry_after);
    csa_ipc_put_str(done, AGT_NET_T_EXPLAIN, r->explanation);
    acme_renewal_free(r);
    return CSA_OK;
}

static csa_err agt_job_revoke(agt_np *np, const csa_ipc_msg *m)
{
    static const uint8_t tags[] = {AGT_NET_T_DER, AGT_NET_T_REASON,
                                   AGT_NET_T_ALG, AGT_NET_T_JWK, 0};
    const unsigned char *der;
    size_t len;
    int64_t reason = 0;
    bool by_cert = csa_ipc_get(m, AGT_NET_T_ALG) != NULL;
    csa_err err;

    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = csa_ipc_bytes(m, AGT_NET_T_DER, 65536, true, &der, &len)) !=
            CSA_OK ||
        (err = csa_ipc_i64(m, AGT_NET_T_REASON, -1, 10, true, &reason)) !=
            CSA_OK ||
        (by_cert &&
         (err = agt_rpc_key_set(np, &np->cert, AGT_NET_KEY_CERT, m)) != CSA_OK))
        return err;
    err = acme_revoke(np->acme, der, len, (int)reason,
                      by_cert ? &np->cert.s : NULL);
    agt_rpc_key_clear(&np->cert);
    return err;
}

static csa_err agt_job_keychange(agt_np *np, const csa_ipc_msg *m)
{
    static const uint8_t tags[] = {AGT_NET_T_ALG, AGT_NET_T_JWK, 0};
    csa_err err;

    if (!np->has_account)
        return csa_raise(CSA_ERR_INVALID, "keyChange before an account");
    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = agt_rpc_key_set(np, &np->next, AGT_NET_KEY_NEW, m)) != CSA_OK)
        return err;
    err = acme_key_change(np->acme, &np->next.s);
    if (err == CSA_OK) {
        /* The account's key is now the new one: signed as the account. */
        agt_rpc_key_clear(&np->account);
        np->account = np->next;
        np->account.sel = AGT_NET_KEY_ACCOUNT;
        np->account.s.ctx = &np->account;
        memset(&np->next, 0, sizeof(np->next));
    } else {
        agt_rpc_key_clear(&np->next);
    }
    (void)acme_client_set_account(np->acme, &np->account.s,
                                  acme_client_kid(np->acme));
    return err;
}

static csa_err agt_job_account(agt_np *np, const csa_ipc_msg *m)
{
    static const uint8_t tags[] = {AGT_NET_T_ALG, AGT_NET_T_JWK, AGT_NET_T_KID,
                                   0};
    char *kid = NULL;
    csa_err err;

    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_KID, AGT_NET_URL_MAX, false, &kid)) !=
            CSA_OK ||
        (err = agt_rpc_key_set(np, &np->account, AGT_NET_KEY_ACCOUNT, m)) !=
            CSA_OK) {
        free(kid);
        return err;
    }
    err = acme_client_set_account(np->acme, &np->account.s, kid);
    np->has_account = err == CSA_OK;
    free(kid);
    return err;
}

static int agt_np_strcmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Tells the hook runner what it may run: the hook of every identity of the
 * configuration the holder sent, and its hook_env names.  Before anything
 * from the CA: a network process taken over by one can then start only
 * these hooks. */
static csa_err agt_np_allow_hooks(agt_np *np)
{
    const char **paths;
    size_t n = 0, k = 0, i;
    csa_err err;

    if ((paths = calloc((size_t)np->cfg->n_ids + 1, sizeof(*paths))) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    for (i = 0; i < (size_t)np->cfg->n_ids; i++)
        if (np->cfg->ids[i].hook != NULL)
            paths[n++] = np->cfg->ids[i].hook;
    if (n > 0) {
        qsort(paths, n, sizeof(*paths), agt_np_strcmp);
        for (i = 1, k = 1; i < n; i++)
            if (strcmp(paths[i], paths[k - 1]) != 0)
                paths[k++] = paths[i];
    }
    paths[k] = NULL;
    if (k > AGT_HR_ALLOW_PATHS_MAX)
        err = csa_raise(CSA_ERR_CONFIG, "%s: more than %d distinct hooks",
                        np->cfg->path, AGT_HR_ALLOW_PATHS_MAX);
    else
        err = agt_hookrun_set_allowed(np->hr, paths,
                                      (const char *const *)np->cfg->hook_env);
    free(paths);
    return err;
}

/* The configuration and policy the holder parsed, parsed again here. */
static csa_err agt_job_config(agt_np *np, const csa_ipc_msg *m)
{
    static const uint8_t tags[] = {AGT_NET_T_PATH, AGT_NET_T_CONFIG,
                                   AGT_NET_T_POLICY, 0};
    acme_client_opts o = {0};
    char *path = NULL, *text = NULL, *policy = NULL;
    const char *dl;
    csa_err err;

    if (np->cfg != NULL)
        return csa_raise(CSA_ERR_INVALID, "a second configuration");
    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_PATH, 4096, true, &path)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_CONFIG, AGT_CONFIG_MAX, true, &text)) !=
            CSA_OK ||
        (err = csa_ipc_str(m, AGT_NET_T_POLICY, 1 << 20, false, &policy)) !=
            CSA_OK ||
        (err = agt_config_parse(path, text, &np->cfg)) != CSA_OK ||
        (err = agt_np_allow_hooks(np)) != CSA_OK)
        goto out;
    if (np->cfg->policy != NULL && policy == NULL)
        err =
            csa_raise(CSA_ERR_CONFIG, "%s: the policy's text is missing", path);
    else if (policy != NULL)
        err = pol_parse(policy, np->cfg->policy ? np->cfg->policy : path,
                        &np->pol);
    else if ((np->pol = pol_default()) == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (err != CSA_OK)
        goto out;
    if (np->cfg->directory == NULL) {
        err = csa_raise(CSA_ERR_CONFIG, "%s: no CA: set directory in [ca]",
                        np->cfg->path);
        goto out;
    }
    /* From here on it reads only what libcurl, OpenSSL and the resolver
     * need, and the CA bundle: not the PIN file, the token or the state
     * directory (before the first HTTP request) */
    {
        const char *readable[] = {np->cfg->ca_bundle};

        if ((err = agt_sandbox_files(readable, 1)) != CSA_OK)
            goto out;
    }
    o.directory_url = np->cfg->directory;
    o.ca_bundle = np->cfg->ca_bundle;
    o.hook_env = (const char *const *)np->cfg->hook_env;
    /* test-only (docs/cli.md): a shorter deadline for polls, 1..120 s */
    if ((dl = getenv("CSAGENT_POLL_DEADLINE")) != NULL && atol(dl) >= 1 &&
        atol(dl) <= 120)
        o.poll_deadline_s = atol(dl);
    err = acme_client_new(&o, &np->acme);
out:
    free(path);
    free(text);
    free(policy);
    return err;
}

static csa_err agt_np_job(agt_np *np, const csa_ipc_msg *m, csa_ipc_out *done)
{
    const acme_directory *dir;

    if (m->type == AGT_NET_J_CONFIG)
        return agt_job_config(np, m);
    if (np->acme == NULL)
        return csa_raise(CSA_ERR_INVALID, "job %u before a configuration",
                         m->type);
    if (m->type != AGT_NET_J_ACCOUNT && m->type != AGT_NET_J_DIRECTORY &&
        !np->has_account)
        return csa_raise(CSA_ERR_INVALID, "job %u before an account", m->type);
    switch (m->type) {
    case AGT_NET_J_ACCOUNT:
        return agt_job_account(np, m);
    case AGT_NET_J_DIRECTORY:
        return m->n ? csa_raise(CSA_ERR_PROTOCOL, "directory job with fields")
                    : acme_directory_get(np->acme, &dir);
    case AGT_NET_J_REGISTER:
        return agt_job_register(np, m, done, false);
    case AGT_NET_J_UPDATE:
        return agt_job_register(np, m, done, true);
    case AGT_NET_J_DEACTIVATE:
        return acme_account_deactivate(np->acme);
    case AGT_NET_J_KEYCHANGE:
        return agt_job_keychange(np, m);
    case AGT_NET_J_REVOKE:
        return agt_job_revoke(np, m);
    case AGT_NET_J_ARI:
        return agt_job_ari(np, m, done);
    case AGT_NET_J_ORDER:
        return agt_job_order(np, m, done);
    default:
        return csa_raise(CSA_ERR_PROTOCOL, "unknown job %u", m->type);
    }
}

int agt_cmd_net(agt_globals *g, int argc, char **argv)
{
    struct stat st;
    agt_hookrun hr;
    agt_np np;
    csa_ipc_msg m;
    csa_ipc_out done;
    int rc = AGT_EXIT_OK;

    (void)g;
    (void)argv;
    if (argc != 1 || fstat(AGT_NP_FD, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "csagent: __net is started by csagent itself\n");
        return AGT_EXIT_USAGE;
    }
    /* It holds no PIN and no session, so unlike the holder it may be
     * inspected by its user (/proc/PID/maps shows what it loaded); core
     * files stay off (RLIMIT_CORE 0 from main).  So may its hook runner. */
    (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    /* The runner is forked first, while this process is one thread that
     * has parsed nothing: it starts the hooks, which this process, under
     * the allow list of agt_sandbox.c, cannot (no execve, no fork).  It
     * runs nothing until the configuration's first job tells it the
     * configured hooks (agt_np_allow_hooks), before any CA speaks. */
    if (agt_hookrun_start(&hr) != CSA_OK) {
        csa_error("agent", "network process: %s", csa_errmsg());
        return AGT_EXIT_FAIL;
    }
    acme_hook_set_spawner(agt_hookrun_spawn, &hr);
    if (agt_sandbox_network() != CSA_OK) {
        csa_error("agent", "network process: %s", csa_errmsg());
        rc = AGT_EXIT_FAIL;
        goto out;
    }
    memset(&np, 0, sizeof(np));
    np.hr = &hr;
    for (;;) {
        csa_err job;

        if (csa_ipc_recv(AGT_NP_FD, CSA_IPC_BIG, &m) != CSA_OK)
            break; /* the holder closed: done */
        csa_err_clear();
        csa_ipc_begin(&done, AGT_NET_R_DONE);
        job = agt_np_job(&np, &m, &done);
        csa_ipc_put_u64(&done, AGT_NET_T_ERR, (uint64_t)job);
        if (job != CSA_OK)
            csa_ipc_put_str(&done, AGT_NET_T_MSG, csa_errmsg());
        if (np.acme != NULL) {
            csa_ipc_put_str(&done, AGT_NET_T_PROBLEM,
                            acme_client_last_problem(np.acme));
            csa_ipc_put_str(&done, AGT_NET_T_KID, acme_client_kid(np.acme));
        }
        csa_ipc_msg_free(&m);
        if (csa_ipc_send(AGT_NP_FD, &done) != CSA_OK) {
            rc = AGT_EXIT_FAIL;
            break;
        }
    }
    acme_client_free(np.acme);
    agt_rpc_key_clear(&np.account);
    agt_rpc_key_clear(&np.next);
    agt_rpc_key_clear(&np.cert);
    pol_free(np.pol);
    agt_config_free(np.cfg);
out:
    acme_hook_set_spawner(NULL, NULL);
    agt_hookrun_stop(&hr);
    return rc;
}
