/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standard challenges (http-01, dns-01) are delegated to a hook program, as
 * uacme does: the request travels in the environment, never in argv, and
 * the hook's exit status says whether it accepted.  It is started by
 * csa_spawn_run, like every program csagent runs, either here or, in the
 * network process, by its hook runner (acme_hook_set_spawner).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_int.h"
#include "csa_log.h"
#include "csa_secret.h"
#include "csa_spawn.h"

#define HOOK_VARS ACME_HOOK_V__N

const char *const acme_hook_vars[ACME_HOOK_V__N + 1] = {
    "CSAGENT_HOOK_METHOD", "CSAGENT_CHALLENGE_TYPE", "CSAGENT_IDENTIFIER_TYPE",
    "CSAGENT_IDENTIFIER",  "CSAGENT_TOKEN",          "CSAGENT_KEY_AUTH",
    "CSAGENT_DNS01_NAME",  "CSAGENT_DNS01_TXT",      NULL};

/* Who starts hooks (acme_hook_set_spawner); NULL: csa_spawn_run here. */
static acme_hook_spawner hook_spawner;
static void *hook_spawner_ctx;

void acme_hook_set_spawner(acme_hook_spawner fn, void *ctx)
{
    hook_spawner = fn;
    hook_spawner_ctx = ctx;
}

static char *env_var(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s=%s", name, value ? value : "");
    return s;
}

/* The hook's variables; dns-01 adds the record name and TXT value. */
static csa_err hook_vars(const acme_hook_call *call, char **v, size_t *n)
{
    char *txt = NULL, *name = NULL;
    csa_err err = CSA_OK;

    *n = 0;
    v[(*n)++] = env_var(acme_hook_vars[ACME_HOOK_V_METHOD], call->method);
    v[(*n)++] = env_var(acme_hook_vars[ACME_HOOK_V_CHALLENGE_TYPE], call->type);
    v[(*n)++] = env_var(acme_hook_vars[ACME_HOOK_V_IDENTIFIER_TYPE],
                        call->identifier_type);
    v[(*n)++] =
        env_var(acme_hook_vars[ACME_HOOK_V_IDENTIFIER], call->identifier_value);
    v[(*n)++] = env_var(acme_hook_vars[ACME_HOOK_V_TOKEN], call->token);
    v[(*n)++] = env_var(acme_hook_vars[ACME_HOOK_V_KEY_AUTH], call->key_auth);
    if (strcmp(call->type, "dns-01") == 0) {
        if ((err = acme_dns01_txt(call->key_auth, &txt)) != CSA_OK)
            return err;
        name = malloc(strlen(call->identifier_value) + 17);
        if (name != NULL)
            sprintf(name, "_acme-challenge.%s", call->identifier_value);
        v[(*n)++] =
            env_var(acme_hook_vars[ACME_HOOK_V_DNS01_NAME], name ? name : "");
        v[(*n)++] = env_var(acme_hook_vars[ACME_HOOK_V_DNS01_TXT], txt);
        free(name);
        free(txt);
    }
    while (err == CSA_OK && *n > 0 && v[*n - 1] == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    return err;
}

csa_err acme_hook_run(const char *hook, const acme_hook_call *call,
                      long timeout_s, int *status)
{
    char *vars[HOOK_VARS + 1] = {NULL}, why[512];
    csa_spawn_req req = {hook, vars, call->env_keep, timeout_s, NULL, 0};
    size_t n = 0, i;
    csa_spawn_rc rc;
    csa_err err;

    *status = -1;
    if (hook == NULL || hook[0] != '/')
        return csa_raise(CSA_ERR_CONFIG,
                         "the challenge hook must be an absolute path");
    if ((err = hook_vars(call, vars, &n)) != CSA_OK)
        goto done;
    rc = hook_spawner != NULL
             ? hook_spawner(hook_spawner_ctx, &req, status, why, sizeof(why))
             : csa_spawn_run(&req, status, why, sizeof(why));
    if (rc == CSA_SPAWN_START)
        err = csa_raise(CSA_ERR_CONFIG, "the challenge hook: %s", why);
    else if (rc == CSA_SPAWN_TIMEOUT)
        err = csa_raise(CSA_ERR_TIMEOUT,
                        "the challenge hook %s ran past %ld s "
                        "and was killed",
                        hook, timeout_s > 0 ? timeout_s : 60);
    else if (rc != CSA_SPAWN_OK)
        err = csa_raise(CSA_ERR_IO, "the challenge hook: %s", why);
    csa_debug("acme", "hook %s %s %s %s -> %d", hook, call->method, call->type,
              call->identifier_value, *status);
done:
    for (i = 0; i < HOOK_VARS; i++) {
        if (vars[i] != NULL)
            csa_cleanse(vars[i], strlen(vars[i]));
        free(vars[i]);
    }
    return err;
}

/* Runs the "done"/"failed" hook; its own result never changes the
 * outcome, and the first error's message is kept. */
static csa_err hook_cleanup(const char *hook, const acme_hook_call *call,
                            csa_err err)
{
    char *saved = err != CSA_OK ? strdup(csa_errmsg()) : NULL;
    int st = -1;

    if (acme_hook_run(hook, call, 0, &st) != CSA_OK || st != 0)
        csa_warn("acme", "the %s hook for %s failed", call->method,
                 call->identifier_value);
    if (err != CSA_OK)
        csa_raise(err, "%s", saved != NULL ? saved : "challenge failed");
    else
        csa_err_clear();
    free(saved);
    return err;
}

/* Runs "begin" for ch; *accepted = exit status 0. */
static csa_err solve_one(acme_client *c, const acme_authz *a,
                         const acme_challenge *ch, const char *hook,
                         int *accepted)
{
    acme_hook_call call = {
        "begin",   ch->type, a->identifier_type, a->identifier_value,
        ch->token, NULL,     c->hook_env};
    char *ka = NULL;
    int st = -1;
    acme_status cst;
    csa_err err;

    *accepted = 0;
    if ((err = acme_key_authorization(c->key, ch->token, &ka)) != CSA_OK)
        return err;
    call.key_auth = ka;
    if ((err = acme_hook_run(hook, &call, 0, &st)) != CSA_OK || st != 0)
        goto done;
    *accepted = 1;
    err = acme_challenge_answer(c, ch->url, "{}", &cst);
    if (err == CSA_OK && cst != ACME_STATUS_VALID)
        err = acme_authz_wait(c, a->url, NULL);
    call.method = err == CSA_OK ? "done" : "failed";
    err = hook_cleanup(hook, &call, err);
done:
    free(ka);
    return err;
}

csa_err acme_authz_solve_hook(acme_client *c, const char *authz_url,
                              const char *hook, const char *const *prefs,
                              size_t n_prefs)
{
    acme_authz *a = NULL;
    csa_err err;

    if ((err = acme_authz_get(c, authz_url, &a)) != CSA_OK)
        return err;
    err = acme_authz_solve_hook_known(c, a, hook, prefs, n_prefs);
    acme_authz_free(a);
    return err;
}

csa_err acme_authz_solve_hook_known(acme_client *c, const acme_authz *a,
                                    const char *hook, const char *const *prefs,
                                    size_t n_prefs)
{
    size_t i;
    int accepted = 0;
    csa_err err = CSA_OK;

    if (a->status == ACME_STATUS_VALID)
        return CSA_OK;
    for (i = 0; i < n_prefs && !accepted; i++) {
        const acme_challenge *ch = acme_challenge_select(a, &prefs[i], 1);

        if (ch == NULL)
            continue;
        if ((err = solve_one(c, a, ch, hook, &accepted)) != CSA_OK)
            goto done;
        if (!accepted)
            csa_info("acme", "hook declined %s for %s", ch->type,
                     a->identifier_value);
    }
    if (!accepted)
        err = csa_raise(CSA_ERR_UNSUPPORTED,
                        "no challenge for %s:%s was both offered by the CA "
                        "and accepted by the hook",
                        a->identifier_type, a->identifier_value);
done:
    return err;
}
