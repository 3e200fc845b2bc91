/* SPDX-License-Identifier: Apache-2.0 */
/* Enrollment of one identity: order, challenges, CSR, verify, swap-in. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "agt_challenge.h"
#include "agt_csr.h"
#include "agt_ephemeral.h"
#include "agt_prog.h"
#include "agt_session.h"
#include "agt_swap.h"
#include "agt_verify.h"
#include "csa_log.h"

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
    if (!pol_check_ephemeral(s->pol, agt_identity_base(id), id->ephemeral,
                             &v) ||
        !pol_check_order(s->pol, &req, &v) ||
        !pol_check_rotation(s->pol, id->rotate, &v))
        return pol_verdict_raise(&v, CSA_ERR_POLICY);
    return CSA_OK;
}

/* What the key holder answers while the network process orders. */
typedef struct {
    agt_session *s;
    const agt_identity *id;
    tok_key *key;
} agt_order_ctx;

/* A draft challenge, answered only if the identity lists its type and the
 * policy allows it now (the network process chose it; this is checked
 * again here). */
static csa_err agt_order_challenge(void *ctx, const acme_challenge *ch,
                                   const agt_otp_hints *h, char **payload)
{
    agt_order_ctx *c = ctx;
    pol_verdict v;
    int i;

    for (i = 0; i < c->id->n_challenges; i++)
        if (!strcmp(c->id->challenges[i], ch->type))
            break;
    if (i == c->id->n_challenges)
        return csa_raise(CSA_ERR_POLICY,
                         "identity %s does not answer %.16s (challenges = "
                         "in the configuration)",
                         c->id->name, ch->type);
    if (!pol_check_challenge(c->s->pol, ch->type,
                             agt_challenge_automatic(c->id, ch->type), &v))
        return pol_verdict_raise(&v, CSA_ERR_POLICY);
    return agt_challenge_payload(c->s, c->id, ch, h, payload);
}

static csa_err agt_order_csr(void *ctx, unsigned char **der, size_t *len)
{
    agt_order_ctx *c = ctx;

    return agt_csr_build(c->id, c->key, der, len);
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

/* One renewal in progress (agt_enroll_begin .. agt_enroll_end). */
struct agt_enrollment {
    agt_session *s;
    const agt_identity *id;
    int lock;
    tok_key *key;
    agt_swap_old old; /* the pair under the label at the start */
    STACK_OF(X509) * anchors;
    agt_order_ctx octx;
    agt_net_order_cb ocb;
};

/* The mark of <identity>.pem the round took before its listing (NULL:
 * none, e.g. an identity not of the round's configuration). */
static const agt_pem_mark *agt_snap_pem_of(const agt_session *s,
                                           const agt_identity *id)
{
    int i;

    for (i = 0; s->snap_pems != NULL && i < s->cfg->n_ids; i++)
        if (&s->cfg->ids[i] == id)
            return &s->snap_pems[i];
    return NULL;
}

csa_err agt_enroll_begin(agt_session *s, const agt_identity *id,
                         const char *replaces, agt_net *net,
                         agt_enrollment **out)
{
    agt_enrollment *e = calloc(1, sizeof(*e));
    const tok_labelled *snap = s->snap;
    csa_err err;

    *out = NULL;
    if (e == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    e->s = s;
    e->id = id;
    if ((e->lock = agt_swap_lock(s->state_dir, id)) < 0) {
        free(e);
        return csa_raise(CSA_ERR_BUSY,
                         "identity %s is being renewed by another csagent "
                         "(%s/%s.lock); try again later",
                         id->name, s->state_dir, id->name);
    }
    /* The round's listing of the token is of no use for this label if a
     * swap of it by another csagent is half-done or ended since. */
    if (snap != NULL &&
        !agt_swap_snap_usable(s->state_dir, id, agt_snap_pem_of(s, id)))
        snap = NULL;
    /* Under the lock, what a crashed run left is finished first. */
    if ((err = agt_swap_recover(s->tok, s->state_dir, id)) != CSA_OK ||
        (err = agt_check_order(s, id)) != CSA_OK ||
        (err = agt_anchors_load(s->cfg, s->pol, &e->anchors)) != CSA_OK ||
        (err = agt_swap_begin(s->tok, s->state_dir, id, id->rotate, snap,
                              s->n_snap, &e->key, &e->old)) != CSA_OK) {
        agt_enroll_end(e, err, NULL, NULL);
        return err;
    }
    e->octx = (agt_order_ctx){s, id, e->key};
    e->ocb = (agt_net_order_cb){agt_order_challenge, agt_order_csr, &e->octx};
    if ((err = agt_net_order_submit(net, agt_identity_base(id), replaces,
                                    id->not_after, &e->ocb)) != CSA_OK) {
        agt_enroll_end(e, err, NULL, NULL);
        return err;
    }
    *out = e;
    return CSA_OK;
}

csa_err agt_enroll_end(agt_enrollment *e, csa_err err, STACK_OF(X509) * chain,
                       char **serial)
{
    agt_session *s = e->s;
    const agt_identity *id = e->id;

    if (serial != NULL)
        *serial = NULL;
    if (err == CSA_OK)
        err = agt_verify_issued(id, s->pol, e->key, chain, e->anchors,
                                time(NULL));
    if (err == CSA_OK && id->ephemeral)
        err = agt_ephemeral_check(s->pol, id, sk_X509_value(chain, 0));
    if (err == CSA_OK)
        err = agt_swap_commit(s->tok, s->state_dir, id, e->key, chain, &e->old);
    if (err != CSA_OK)
        goto done;
    agt_notify(s, id, sk_X509_value(chain, 0));
    if (serial != NULL)
        *serial = agt_serial_hex(sk_X509_value(chain, 0));
    csa_info("agent", "%s: certificate swapped in under label '%s'", id->name,
             id->label);
done:
    if (err != CSA_OK && e->key != NULL) {
        /* Nothing was stored under the label: drop the pending objects. */
        csa_err saved = err;
        char msg[1024];

        snprintf(msg, sizeof(msg), "%s", csa_errmsg());
        if (agt_swap_abort(s->tok, s->state_dir, id) != CSA_OK)
            csa_warn("agent", "%s: rollback: %s", id->name, csa_errmsg());
        csa_raise(saved, "%s", msg);
    }
    tok_key_free(e->key);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(e->anchors, X509_free);
    agt_swap_unlock(e->lock);
    free(e);
    return err;
}

csa_err agt_enroll(agt_session *s, const agt_identity *id, const char *replaces,
                   char **serial)
{
    STACK_OF(X509) *chain = NULL;
    agt_enrollment *e = NULL;
    csa_ipc_msg done;
    bool finished = false;
    csa_err err;

    if (serial != NULL)
        *serial = NULL;
    if ((err = agt_enroll_begin(s, id, replaces, s->net, &e)) != CSA_OK)
        return err;
    do
        err = agt_net_step(s->net, &finished, &done);
    while (err == CSA_OK && !finished);
    if (err == CSA_OK)
        err = agt_net_order_chain(&done, &chain);
    return agt_enroll_end(e, err, chain, serial);
}
