/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The account key in the token, and its rollover.  The CA is the judge of
 * which key is the account's: a rollover generates "<label>.next", sends
 * keyChange, and only once the CA accepted moves the old key to
 * "<label>.retired", copies the new one to "<label>" (then deletes
 * "<label>.next") and deletes the retired one.
 * Whatever a crash or a token error leaves behind is settled at the next
 * contact with the CA (agt_account_settle): a "<label>.next" key the CA
 * knows is promoted, one it does not know is deleted, a "<label>.retired"
 * key is deleted once "<label>" holds the current key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agt_session.h"
#include "csa_log.h"

#define AGT_DEFAULT_ACCOUNT_LABEL "csagent-account"

static const char *agt_account_label(const agt_session *s)
{
    return s->cfg->account_key ? s->cfg->account_key
                               : AGT_DEFAULT_ACCOUNT_LABEL;
}

static csa_err agt_label_each(tok_ctx *tok, const char *label, const char *to)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    csa_err err = tok_objects(tok, label, NULL, 0, TOK_CLASS_OTHER, &objs, &n);

    for (i = 0; err == CSA_OK && i < n; i++)
        err = to ? tok_obj_relabel(tok, objs[i].handle, to)
                 : tok_obj_destroy(tok, objs[i].handle);
    free(objs);
    return err;
}

/*
 * Moves the objects labelled from to label to by copy, then delete: the
 * source stays whole until its copy exists, so a crash cannot lose the key
 * the CA now knows (SoftHSM's file store rewrites an object in place, and
 * a process killed inside C_SetAttributeValue loses it).  A copy already
 * under to (a move interrupted between copy and delete) is not made twice.
 * A module that refuses copies gets a relabel in place.
 */
static csa_err agt_move_each(tok_ctx *tok, const char *from, const char *to)
{
    tok_obj_info *objs = NULL, *have = NULL;
    size_t n = 0, nhave = 0, i;
    csa_err err = tok_objects(tok, from, NULL, 0, TOK_CLASS_OTHER, &objs, &n);

    for (i = 0; err == CSA_OK && i < n; i++) {
        err = tok_objects(tok, to, objs[i].id, objs[i].id_len, objs[i].cls,
                          &have, &nhave);
        free(have);
        have = NULL;
        if (err == CSA_OK)
            err = nhave == 0 ? tok_obj_move(tok, objs[i].handle, to)
                             : tok_obj_destroy(tok, objs[i].handle);
    }
    free(objs);
    return err;
}

/* Relabels the objects labelled label to retired, except those that are
 * already copies of the key under next (a move interrupted half way). */
static csa_err agt_retire_old(tok_ctx *tok, const char *label, const char *next,
                              const char *retired)
{
    tok_obj_info *objs = NULL, *nobjs = NULL;
    size_t n = 0, nn = 0, i, k;
    csa_err err = tok_objects(tok, label, NULL, 0, TOK_CLASS_OTHER, &objs, &n);
    int is_new;

    if (err == CSA_OK)
        err = tok_objects(tok, next, NULL, 0, TOK_CLASS_OTHER, &nobjs, &nn);
    for (i = 0; err == CSA_OK && i < n; i++) {
        for (k = 0, is_new = 0; k < nn && !is_new; k++)
            is_new = nobjs[k].id_len == objs[i].id_len &&
                     memcmp(nobjs[k].id, objs[i].id, objs[i].id_len) == 0;
        if (!is_new)
            err = tok_obj_relabel(tok, objs[i].handle, retired);
    }
    free(nobjs);
    free(objs);
    return err;
}

/* Uses key as the session's account key (the session takes ownership). */
static csa_err agt_account_use(agt_session *s, tok_key *key)
{
    agt_jws_key *signer = NULL;
    csa_err err = agt_jws_key_new(key, NULL, s->cfg->directory, &signer);

    if (err != CSA_OK) {
        tok_key_free(key);
        return err;
    }
    agt_jws_key_free(s->account_signer);
    tok_key_free(s->account_key);
    s->account_key = key;
    s->account_signer = signer;
    if (s->acme != NULL)
        err =
            acme_client_set_account(s->acme, agt_jws_key_signer(signer), NULL);
    return err;
}

csa_err agt_account_key_open(agt_session *s, bool create)
{
    const char *label = agt_account_label(s);
    char next[160];
    tok_key_type type = TOK_KEY_EC_P256;
    tok_key *key = NULL;
    csa_err err = tok_key_find(s->tok, label, &key);

    snprintf(next, sizeof(next), "%s.next", label);
    if (err == CSA_ERR_NOT_FOUND) {
        /* A rollover stopped between retiring the old key and promoting
         * the new one: the new one is the account's (settled later). */
        err = tok_key_find(s->tok, next, &key);
        if (err == CSA_OK)
            csa_warn("agent",
                     "account key '%s' missing; using '%s' from an "
                     "interrupted rollover",
                     label, next);
    }
    if (err == CSA_ERR_NOT_FOUND && create) {
        csa_err_clear();
        if (s->cfg->account_key_type != NULL &&
            (err = tok_key_type_parse(s->cfg->account_key_type, &type)) !=
                CSA_OK)
            return err;
        err = tok_key_generate(s->tok, label, type, false, &key);
    }
    if (err != CSA_OK)
        return err;
    return agt_account_use(s, key);
}

/* The old key is retired only after the CA took the new one. */
static csa_err agt_account_promote(agt_session *s, const char *label)
{
    char next[160], retired[160];
    csa_err err;

    snprintf(next, sizeof(next), "%s.next", label);
    snprintf(retired, sizeof(retired), "%s.retired", label);
    if ((err = agt_retire_old(s->tok, label, next, retired)) != CSA_OK ||
        (err = agt_move_each(s->tok, next, label)) != CSA_OK ||
        (err = agt_label_each(s->tok, retired, NULL)) != CSA_OK)
        return err;
    csa_info("agent", "account key rolled over; the new key is '%s'", label);
    return CSA_OK;
}

csa_err agt_account_settle(agt_session *s)
{
    const char *label = agt_account_label(s);
    char next[160], retired[160];
    tok_key *nk = NULL;
    agt_jws_key *ns = NULL;
    const char *problem;
    csa_err err;
    acme_account_opts o = {.only_return_existing = 1};

    snprintf(next, sizeof(next), "%s.next", label);
    snprintf(retired, sizeof(retired), "%s.retired", label);
    err = tok_key_find(s->tok, next, &nk);
    if (err == CSA_ERR_NOT_FOUND) {
        csa_err_clear();
        /* No pending key: a retired one is a leftover of a finished
         * rollover (it exists only after the CA accepted). */
        return strcmp(tok_key_label(s->account_key), label) == 0
                   ? agt_label_each(s->tok, retired, NULL)
                   : CSA_OK;
    }
    if (err != CSA_OK ||
        (err = agt_jws_key_new(nk, NULL, s->cfg->directory, &ns)) != CSA_OK ||
        (err = acme_client_set_account(s->acme, agt_jws_key_signer(ns),
                                       NULL)) != CSA_OK)
        goto done;
    err = acme_account_register(s->acme, &o, NULL);
    problem = acme_client_last_problem(s->acme);
    if (err == CSA_OK) {
        csa_warn("agent",
                 "the CA knows '%s': finishing an interrupted "
                 "rollover",
                 next);
        tok_key_free(nk); /* found again under the label below */
        nk = NULL;
        if ((err = agt_account_promote(s, label)) == CSA_OK &&
            (err = tok_key_find(s->tok, label, &nk)) == CSA_OK) {
            err = agt_account_use(s, nk);
            nk = NULL;
        }
    } else if (problem != NULL && strstr(problem, ":accountDoesNotExist")) {
        csa_err_clear();
        csa_warn("agent",
                 "the CA does not know '%s': deleting the key of "
                 "a rollover it never accepted",
                 next);
        err = agt_label_each(s->tok, next, NULL);
    }
done:
    /* Never leave the client pointing at ns, which is freed here. */
    if (s->account_signer != NULL)
        (void)acme_client_set_account(
            s->acme, agt_jws_key_signer(s->account_signer), NULL);
    agt_jws_key_free(ns);
    tok_key_free(nk);
    return err;
}

csa_err agt_account_rollover(agt_session *s)
{
    const char *label = agt_account_label(s);
    char next[160];
    tok_key *nk = NULL;
    agt_jws_key *ns = NULL;
    char *kid = NULL;
    csa_err err;

    snprintf(next, sizeof(next), "%s.next", label);
    if ((err = agt_account_ensure(s, true, NULL)) != CSA_OK)
        return err;
    if ((kid = strdup(acme_client_kid(s->acme))) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if ((err = tok_key_generate(s->tok, next, tok_key_get_type(s->account_key),
                                false, &nk)) != CSA_OK ||
        (err = agt_jws_key_new(nk, NULL, s->cfg->directory, &ns)) != CSA_OK)
        goto done;
    if ((err = acme_key_change(s->acme, agt_jws_key_signer(ns))) != CSA_OK) {
        csa_err_context("the CA refused the rollover; the old key stays");
        /* The CA did not take it: the pending key goes (a lost answer is
         * settled at the next contact instead). */
        if (acme_client_last_problem(s->acme) != NULL)
            (void)agt_label_each(s->tok, next, NULL);
        goto done;
    }
    if ((err = agt_account_promote(s, label)) != CSA_OK)
        goto done;
    tok_key_free(nk); /* the same key, now under the label */
    nk = NULL;
    if ((err = tok_key_find(s->tok, label, &nk)) == CSA_OK) {
        err = agt_account_use(s, nk);
        nk = NULL;
    }
done:
    /* The client may still point at ns: give it the session's key (the new
     * one after a success) and the account URL, which does not change. */
    if (s->account_signer != NULL)
        (void)acme_client_set_account(
            s->acme, agt_jws_key_signer(s->account_signer), kid);
    free(kid);
    agt_jws_key_free(ns);
    tok_key_free(nk);
    return err;
}
