/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agt_ephemeral.h"
#include "agt_swap.h"
#include "csa_log.h"
#include "csa_util.h"

csa_err agt_policy_load_text(const agt_config *cfg, pol_policy **out,
                             char **text)
{
    csa_err err;

    *out = NULL;
    *text = NULL;
    if (cfg->policy == NULL) {
        *out = pol_default();
        return *out ? CSA_OK : csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    if ((err = csa_file_read(cfg->policy, 1 << 20, text, NULL)) != CSA_OK) {
        csa_err_context("policy file");
        return CSA_ERR_CONFIG;
    }
    if ((err = pol_parse(*text, cfg->policy, out)) != CSA_OK) {
        free(*text);
        *text = NULL;
    }
    return err;
}

csa_err agt_policy_load(const agt_config *cfg, pol_policy **out)
{
    char *text = NULL;
    csa_err err = agt_policy_load_text(cfg, out, &text);

    free(text);
    return err;
}

static csa_err agt_state_dir(const agt_config *cfg, const char **out)
{
    const char *dir = cfg->state_dir ? cfg->state_dir : "/var/lib/csagent";

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return csa_raise(CSA_ERR_IO, "cannot create state directory %s: %s",
                         dir, strerror(errno));
    *out = dir;
    return CSA_OK;
}

static csa_err agt_acme_open(agt_session *s)
{
    csa_err err;

    if (s->cfg->directory == NULL)
        return csa_raise(CSA_ERR_CONFIG, "%s: no CA: set directory in [ca]",
                         s->cfg->path);
    if ((err = agt_net_start(s->cfg, s->policy_text, &s->net)) != CSA_OK)
        return err;
    return agt_net_set_account(s->net, agt_jws_key_signer(s->account_signer),
                               NULL);
}

csa_err agt_session_open(agt_globals *g, bool create_account_key,
                         agt_session *s)
{
    return agt_session_open_mode(g, create_account_key, AGT_LOCK_SHARED, s);
}

const char *agt_session_pin_source(const agt_globals *g)
{
    if (g->pin_file != NULL)
        return g->pin_file;
    return g->cfg != NULL ? g->cfg->pin_file : NULL;
}

/* The token and the login, as agt_open_token(g, 1, ...) does, in two steps
 * so that a failure of the login is told apart (s->login_failed) from a
 * token that cannot be opened: the daemon must never try a failed login
 * again, but may retry a token that was absent. */
static csa_err agt_session_login(agt_globals *g, agt_session *s)
{
    csa_err err = agt_open_token(g, 0, &s->tok);

    if (err == CSA_OK &&
        (err = tok_login(s->tok, agt_session_pin_source(g))) != CSA_OK)
        s->login_failed = true;
    return err;
}

/* The half of a session that holds the token: login, recovery of what
 * crashes left, the account lock and key, the network process.  On
 * failure the caller releases what was taken (agt_session_release). */
static csa_err agt_session_token(agt_globals *g, agt_lock_mode mode,
                                 agt_session *s)
{
    csa_err err;
    int i;

    s->login_failed = false;
    if ((err = agt_session_login(g, s)) != CSA_OK)
        return err;
    for (i = 0; i < s->cfg->n_ids; i++) {
        const agt_identity *id = &s->cfg->ids[i];
        int fd = agt_swap_lock(s->state_dir, id);

        /* A locked identity is being renewed right now by another agent:
         * its journal is live, not the remains of a crash. */
        if (fd < 0) {
            csa_info("agent",
                     "%s: another csagent holds its lock; not "
                     "recovering it",
                     id->name);
            continue;
        }
        err = agt_swap_recover(s->tok, s->state_dir, id);
        if (err == CSA_OK)
            err = agt_swap_reap(s->tok, s->state_dir, id, time(NULL));
        agt_swap_unlock(fd);
        if (err != CSA_OK)
            return err;
    }
    /* What killed `exec --ephemeral` runs left: never survives a start. */
    if ((err = agt_ephemeral_reap(s->tok, s->state_dir)) != CSA_OK)
        return err;
    /* The account key is read under the account lock: not while a
     * rollover changes it (the swap recovery above needs no account). */
    if ((err = agt_account_lock(s, mode)) != CSA_OK)
        return err;
    return agt_acme_open(s);
}

csa_err agt_session_open_mode(agt_globals *g, bool create_account_key,
                              agt_lock_mode mode, agt_session *s)
{
    bool login_failed;
    csa_err err;

    memset(s, 0, sizeof(*s));
    s->account_lock = -1;
    s->create_account_key = create_account_key;
    if ((err = agt_load_config(g, 1)) != CSA_OK)
        return err;
    s->cfg = g->cfg;
    if ((err = agt_policy_load_text(s->cfg, &s->pol, &s->policy_text)) !=
            CSA_OK ||
        (err = agt_state_dir(s->cfg, &s->state_dir)) != CSA_OK ||
        (err = agt_session_token(g, mode, s)) != CSA_OK)
        goto fail;
    return CSA_OK;
fail:
    login_failed = s->login_failed;
    agt_session_close(s);
    s->login_failed = login_failed;
    return err;
}

csa_err agt_session_resume(agt_globals *g, agt_session *s)
{
    csa_err err = agt_session_token(g, AGT_LOCK_SHARED, s);

    if (err != CSA_OK)
        agt_session_release(s);
    return err;
}

void agt_session_release(agt_session *s)
{
    agt_account_unlock(s);
    agt_net_stop(s->net);
    s->net = NULL;
    agt_jws_key_free(s->account_signer);
    s->account_signer = NULL;
    tok_key_free(s->account_key);
    s->account_key = NULL;
    tok_close(s->tok);
    s->tok = NULL;
}

void agt_session_close(agt_session *s)
{
    agt_session_release(s);
    pol_free(s->pol);
    free(s->policy_text);
    memset(s, 0, sizeof(*s));
    s->account_lock = -1;
}

csa_err agt_account_ensure(agt_session *s, bool only_existing,
                           acme_account **out)
{
    const agt_config *c = s->cfg;
    acme_account_opts o = {0};
    csa_secret eab = {0};
    csa_err err;

    /* Once this session knows its account (settled and registered), a
     * caller that wants no account object needs no further round trip:
     * the daemon renews many times over one session.  Not when a rollover
     * was interrupted since (its journal is there to be settled). */
    if (out == NULL && agt_net_kid(s->net) != NULL && agt_account_settled(s))
        return CSA_OK;
    if ((err = agt_net_directory(s->net)) != CSA_OK ||
        (err = agt_account_settle(s)) != CSA_OK)
        return err;
    if (pol_eab_required(s->pol) && c->eab_kid == NULL)
        return csa_raise(CSA_ERR_POLICY,
                         "policy requires External Account Binding but the "
                         "configuration has no eab_kid/eab_key_file");
    o.contact = (const char *const *)c->contact;
    o.n_contact = (size_t)c->n_contact;
    o.terms_agreed = c->terms_agreed;
    o.only_return_existing = only_existing;
    if (c->eab_kid != NULL && !only_existing) {
        if (c->eab_key_file == NULL)
            return csa_raise(CSA_ERR_CONFIG,
                             "%s: eab_kid without "
                             "eab_key_file",
                             c->path);
        if ((err = csa_secret_read(c->eab_key_file, &eab)) != CSA_OK)
            return err;
        o.eab_kid = c->eab_kid;
        o.eab_key = &eab;
        o.eab_alg = c->eab_alg;
    }
    err = agt_net_register(s->net, &o, out);
    csa_secret_free(&eab);
    return err;
}
