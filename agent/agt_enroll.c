/* SPDX-License-Identifier: Apache-2.0 */
/* Enrollment of one identity: order, challenges, CSR, verify, swap-in. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "agt_challenge.h"
#include "agt_csr.h"
#include "agt_prog.h"
#include "agt_session.h"
#include "agt_swap.h"
#include "agt_verify.h"
#include "csa_log.h"

static int agt_is_standard(const char *type)
{
    return !strcmp(type, "http-01") || !strcmp(type, "dns-01");
}

/* The identity's preferences that the policy allows to answer now. */
static size_t agt_allowed_prefs(agt_session *s, const agt_identity *id,
                                const char **out)
{
    pol_verdict v;
    size_t n = 0;
    int i;

    for (i = 0; i < id->n_challenges; i++) {
        const char *t = id->challenges[i];

        if (pol_check_challenge(s->pol, t, agt_challenge_automatic(id, t), &v))
            out[n++] = t;
        else
            csa_warn("agent", "%s: not answering %s: %s", id->name, t,
                     v.reason);
    }
    return n;
}

static csa_err agt_solve_standard(agt_session *s, const agt_identity *id,
                                  const char *url, const char *type)
{
    pol_verdict v;

    if (id->hook == NULL)
        return csa_raise(CSA_ERR_CONFIG,
                         "identity %s: %s needs a hook program (hook = ...)",
                         id->name, type);
    if (!pol_check_hook(s->pol, &v))
        return pol_verdict_raise(&v, CSA_ERR_POLICY);
    return acme_authz_solve_hook(s->acme, url, id->hook, &type, 1);
}

static csa_err agt_solve_draft(agt_session *s, const agt_identity *id,
                               const char *url, const acme_challenge *ch)
{
    char *payload = NULL;
    csa_err err = agt_challenge_payload(s, id, ch, &payload);

    if (err == CSA_OK)
        err = acme_challenge_respond(s->acme, ch->url, payload);
    free(payload);
    if (err == CSA_OK)
        err = acme_authz_wait(s->acme, url, NULL);
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

static csa_err agt_solve_authz(agt_session *s, const agt_identity *id,
                               const char *url)
{
    const char *prefs[AGT_MAX_LIST];
    const acme_challenge *ch;
    acme_authz *az = NULL;
    size_t n = agt_allowed_prefs(s, id, prefs);
    csa_err err = acme_authz_get(s->acme, url, &az);

    if (err != CSA_OK)
        return err;
    if (az->status == ACME_STATUS_VALID) {
        acme_authz_free(az);
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
                  ? agt_solve_standard(s, id, url, ch->type)
                  : agt_solve_draft(s, id, url, ch);
        if (err != CSA_OK)
            csa_err_context("authorization for %s (%s)", az->identifier_value,
                            ch->type);
    }
    acme_authz_free(az);
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
static csa_err agt_preauthorize(agt_session *s, const agt_identity *id,
                                const acme_identifier *ids, size_t n)
{
    const acme_directory *dir;
    acme_authz *az = NULL;
    csa_err err = acme_directory_get(s->acme, &dir);
    size_t i;

    if (err != CSA_OK || dir->new_authz == NULL)
        return err;
    for (i = 0; err == CSA_OK && i < n; i++) {
        csa_info("agent", "%s: pre-authorizing %s", id->name, ids[i].value);
        if ((err = acme_new_authz(s->acme, &ids[i], &az)) == CSA_OK)
            err = agt_solve_authz(s, id, az->url);
        acme_authz_free(az);
        az = NULL;
    }
    return err;
}

static csa_err agt_check_order(agt_session *s, const agt_identity *id)
{
    pol_identifier pids[2];
    pol_request req = {0};
    pol_verdict v;
    size_t n = 0;

    if (id->domain != NULL)
        pids[n++] = (pol_identifier){POL_ID_DNS, id->domain};
    if (id->email != NULL)
        pids[n++] = (pol_identifier){POL_ID_EMAIL, id->email};
    req.directory_url = s->cfg->directory;
    req.profile = id->profile;
    req.ids = pids;
    req.n_ids = n;
    req.key = agt_pol_key(id->key_type);
    req.challenges = (const char *const *)id->challenges;
    req.n_challenges = (size_t)id->n_challenges;
    req.has_eab = s->cfg->eab_kid != NULL;
    if (!pol_check_order(s->pol, &req, &v) ||
        !pol_check_rotation(s->pol, id->rotate, &v))
        return pol_verdict_raise(&v, CSA_ERR_POLICY);
    return CSA_OK;
}

static int agt_already_replaced(agt_session *s)
{
    const char *t = acme_client_last_problem(s->acme);

    return t != NULL && strstr(t, ":alreadyReplaced") != NULL;
}

/* Order, authorizations, finalize, download.  *pem is malloc'd. */
static csa_err agt_order(agt_session *s, const agt_identity *id, tok_key *key,
                         const char *replaces, char **pem)
{
    acme_identifier ids[2];
    acme_order *o = NULL;
    unsigned char *csr = NULL;
    size_t n, csr_len = 0, i;
    csa_err err;

    agt_identifiers(id, ids, &n);
    if ((err = agt_preauthorize(s, id, ids, n)) != CSA_OK)
        goto done;
    err = acme_order_new(s->acme, ids, n, replaces, &o);
    if (err != CSA_OK && replaces != NULL && agt_already_replaced(s)) {
        /* Someone (another agent, an earlier run) already renewed that
         * certificate: order without claiming to replace it. */
        csa_warn("agent",
                 "%s: the CA says the certificate was already "
                 "replaced; ordering without replaces",
                 id->name);
        err = acme_order_new(s->acme, ids, n, NULL, &o);
    }
    if (err != CSA_OK)
        goto done;
    for (i = 0; err == CSA_OK && i < o->n_authorizations; i++)
        err = agt_solve_authz(s, id, o->authorizations[i]);
    if (err != CSA_OK || (err = acme_order_wait(s->acme, o)) != CSA_OK ||
        (err = agt_csr_build(id, key, &csr, &csr_len)) != CSA_OK ||
        (err = acme_order_finalize(s->acme, o, csr, csr_len)) != CSA_OK ||
        (err = acme_order_wait(s->acme, o)) != CSA_OK)
        goto done;
    if (o->certificate == NULL) {
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "the order at %s is %s but has no "
                        "certificate URL",
                        o->url, acme_status_name(o->status));
        goto done;
    }
    err = acme_cert_download(s->acme, o->certificate, s->cfg->preferred_chain,
                             pem);
done:
    free(csr);
    acme_order_free(o);
    return err;
}

static char *agt_serial_hex(X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL, *out = hex ? strdup(hex) : NULL;

    OPENSSL_free(hex);
    BN_free(bn);
    return out;
}

/* Draft §4 recommends notifying the operator of each issuance; a failing
 * notifier is logged, never fatal. */
static void agt_notify(agt_session *s, const agt_identity *id, X509 *leaf)
{
    char e[5][320], *env[6], *serial = agt_serial_hex(leaf);
    pol_verdict v;
    struct tm tm;
    char when[32] = "";
    int status = 0, i;

    if (s->cfg->notify == NULL)
        goto done;
    if (!pol_check_hook(s->pol, &v)) {
        csa_warn("agent", "notify program not run: %s", v.reason);
        goto done;
    }
    if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(e[0], sizeof(e[0]), "CSAGENT_IDENTITY=%s", id->name);
    snprintf(e[1], sizeof(e[1]), "CSAGENT_LABEL=%s", id->label);
    snprintf(e[2], sizeof(e[2]), "CSAGENT_SERIAL=%s", serial ? serial : "");
    snprintf(e[3], sizeof(e[3]), "CSAGENT_NOT_AFTER=%s", when);
    snprintf(e[4], sizeof(e[4]), "CSAGENT_CHAIN_PATH=%s/%s.pem", s->state_dir,
             id->name);
    for (i = 0; i < 5; i++)
        env[i] = e[i];
    env[5] = NULL;
    if (agt_prog_run(s->cfg->notify, (const char *const *)s->cfg->hook_env, env,
                     60, NULL, 0, &status) != CSA_OK)
        csa_warn("agent", "notify program failed: %s", csa_errmsg());
    else if (status != 0)
        csa_warn("agent", "notify program %s exited with %d", s->cfg->notify,
                 status);
done:
    free(serial);
}

csa_err agt_enroll(agt_session *s, const agt_identity *id, const char *replaces,
                   char **serial)
{
    STACK_OF(X509) *chain = NULL, *anchors = NULL;
    tok_key *key = NULL;
    char *pem = NULL;
    int lock = -1;
    csa_err err;

    if (serial != NULL)
        *serial = NULL;
    if ((lock = agt_swap_lock(s->state_dir, id)) < 0)
        return csa_raise(CSA_ERR_BUSY,
                         "identity %s is being renewed by another csagent "
                         "(%s/%s.lock); try again later",
                         id->name, s->state_dir, id->name);
    /* Under the lock, what a crashed run left is finished first. */
    if ((err = agt_swap_recover(s->tok, s->state_dir, id)) != CSA_OK ||
        (err = agt_check_order(s, id)) != CSA_OK ||
        (err = agt_anchors_load(s->cfg, s->pol, &anchors)) != CSA_OK ||
        (err = agt_swap_begin(s->tok, s->state_dir, id, id->rotate, &key)) !=
            CSA_OK)
        goto done;
    if ((err = agt_order(s, id, key, replaces, &pem)) != CSA_OK ||
        (err = agt_chain_parse(pem, &chain)) != CSA_OK ||
        (err = agt_verify_issued(id, s->pol, key, chain, anchors,
                                 time(NULL))) != CSA_OK ||
        (err = agt_swap_commit(s->tok, s->state_dir, id, key, chain)) != CSA_OK)
        goto done;
    agt_notify(s, id, sk_X509_value(chain, 0));
    if (serial != NULL)
        *serial = agt_serial_hex(sk_X509_value(chain, 0));
    csa_info("agent", "%s: certificate swapped in under label '%s'", id->name,
             id->label);
done:
    if (err != CSA_OK && key != NULL) {
        /* Nothing was stored under the label: drop the pending objects. */
        csa_err saved = err;
        char msg[1024];

        snprintf(msg, sizeof(msg), "%s", csa_errmsg());
        if (agt_swap_abort(s->tok, s->state_dir, id) != CSA_OK)
            csa_warn("agent", "%s: rollback: %s", id->name, csa_errmsg());
        csa_raise(saved, "%s", msg);
    }
    tok_key_free(key);
    free(pem);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(anchors, X509_free);
    agt_swap_unlock(lock);
    return err;
}
