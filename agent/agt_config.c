/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

typedef struct {
    agt_config *cfg;
    char msg[512];
} agt_parse;

/* Keeps the first error only: libinih goes on parsing after one. */
static int agt_fail(agt_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int agt_fail(agt_parse *p, const char *fmt, ...)
{
    va_list ap;

    if (p->msg[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
        va_end(ap);
    }
    return 0;
}

static int agt_set_str(char **dst, const char *value)
{
    free(*dst);
    *dst = strdup(value);
    return *dst != NULL;
}

static int agt_parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
        *out = true;
        return 1;
    }
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
        *out = false;
        return 1;
    }
    return 0;
}

/* Splits a comma-separated list into trimmed, non-empty items. */
static int agt_parse_list(const char *v, char **items, int *n)
{
    char *copy = strdup(v), *save = NULL, *tok;
    int ok = copy != NULL;

    for (tok = ok ? strtok_r(copy, ",", &save) : NULL; tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        for (char *e = tok + strlen(tok); e > tok && (e[-1] == ' ');)
            *--e = '\0';
        if (*tok == '\0')
            continue;
        if (*n >= AGT_MAX_LIST) {
            ok = 0;
            break;
        }
        items[(*n)++] = strdup(tok);
    }
    free(copy);
    return ok;
}

static int agt_token_key(agt_parse *p, const char *k, const char *v)
{
    agt_config *c = p->cfg;

    if (!strcmp(k, "module"))
        return agt_set_str(&c->module, v);
    if (!strcmp(k, "uri"))
        return agt_set_str(&c->token_uri, v);
    if (!strcmp(k, "pin_file"))
        return agt_set_str(&c->pin_file, v);
    if (!strcmp(k, "pin"))
        return agt_fail(p,
                        "key '%s' is not allowed: a PIN never goes in the "
                        "configuration; use pin_file",
                        k);
    return agt_fail(p, "unknown key '%s' in [token]", k);
}

static int agt_ca_key(agt_parse *p, const char *k, const char *v)
{
    agt_config *c = p->cfg;

    if (!strcmp(k, "directory"))
        return agt_set_str(&c->directory, v);
    if (!strcmp(k, "ca_bundle"))
        return agt_set_str(&c->ca_bundle, v);
    if (!strcmp(k, "trust_anchor"))
        return agt_set_str(&c->trust_anchor, v);
    if (!strcmp(k, "contact"))
        return agt_parse_list(v, c->contact, &c->n_contact) ||
               agt_fail(p, "bad contact list '%s'", v);
    if (!strcmp(k, "terms_agreed"))
        return agt_parse_bool(v, &c->terms_agreed) ||
               agt_fail(p, "terms_agreed must be yes or no, not '%s'", v);
    if (!strcmp(k, "account_key"))
        return agt_set_str(&c->account_key, v);
    if (!strcmp(k, "account_key_type"))
        return agt_set_str(&c->account_key_type, v);
    if (!strcmp(k, "eab_kid"))
        return agt_set_str(&c->eab_kid, v);
    if (!strcmp(k, "eab_key_file"))
        return agt_set_str(&c->eab_key_file, v);
    if (!strcmp(k, "eab_alg")) {
        if (strcmp(v, "HS256") && strcmp(v, "HS384") && strcmp(v, "HS512"))
            return agt_fail(p,
                            "eab_alg must be HS256, HS384 or HS512, not "
                            "'%s'",
                            v);
        return agt_set_str(&c->eab_alg, v);
    }
    if (!strcmp(k, "preferred_chain"))
        return agt_set_str(&c->preferred_chain, v);
    if (!strcmp(k, "eab_key"))
        return agt_fail(p,
                        "key '%s' is not allowed: the EAB MAC key never "
                        "goes in the configuration; use eab_key_file",
                        k);
    return agt_fail(p, "unknown key '%s' in [ca]", k);
}

/* "90", "90s", "15m", "6h", "2d". */
int agt_parse_duration(const char *v, long *out)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || n <= 0 || n > 365L * 86400)
        return 0;
    if (*end == '\0' || !strcmp(end, "s"))
        *out = n;
    else if (!strcmp(end, "m"))
        *out = n * 60;
    else if (!strcmp(end, "h"))
        *out = n * 3600;
    else if (!strcmp(end, "d"))
        *out = n * 86400;
    else
        return 0;
    return 1;
}

static int agt_agent_key(agt_parse *p, const char *k, const char *v)
{
    agt_config *c = p->cfg;

    if (!strcmp(k, "state_dir"))
        return agt_set_str(&c->state_dir, v);
    if (!strcmp(k, "policy"))
        return agt_set_str(&c->policy, v);
    if (!strcmp(k, "notify"))
        return agt_set_str(&c->notify, v);
    if (!strcmp(k, "metrics_file"))
        return agt_set_str(&c->metrics_file, v);
    if (!strcmp(k, "hook_env"))
        return agt_parse_list(v, c->hook_env, &c->n_hook_env) ||
               agt_fail(p, "bad hook_env list '%s' (at most %d names)", v,
                        AGT_MAX_LIST);
    if (!strcmp(k, "renew_at")) {
        char *end;

        c->renew_at = strtod(v, &end);
        if (*end != '\0' || c->renew_at <= 0.0 || c->renew_at >= 1.0)
            return agt_fail(p,
                            "renew_at must be a fraction between 0 and 1 "
                            "of the lifetime, not '%s'",
                            v);
        return 1;
    }
    if (!strcmp(k, "retry_base"))
        return agt_parse_duration(v, &c->retry_base) ||
               agt_fail(p,
                        "retry_base must be a duration (60s, 5m, 1h), "
                        "not '%s'",
                        v);
    if (!strcmp(k, "retry_max"))
        return agt_parse_duration(v, &c->retry_max) ||
               agt_fail(p,
                        "retry_max must be a duration (60s, 5m, 6h), "
                        "not '%s'",
                        v);
    if (!strcmp(k, "signer_wait")) {
        if (!strcmp(v, "0")) {
            c->signer_wait = 0;
            return 1;
        }
        return agt_parse_duration(v, &c->signer_wait) ||
               agt_fail(p,
                        "signer_wait must be 0 or a duration (30s, 5m, "
                        "1h), not '%s'",
                        v);
    }
    if (!strcmp(k, "parallel")) {
        char *end = NULL;
        long n = strtol(v, &end, 10);

        if (end == v || *end != '\0' || n < 1 || n > AGT_PARALLEL_MAX)
            return agt_fail(p,
                            "parallel must be a number of renewals from 1 "
                            "to %d, not '%s'",
                            AGT_PARALLEL_MAX, v);
        c->parallel = (int)n;
        return 1;
    }
    return agt_fail(p, "unknown key '%s' in [agent]", k);
}

static int agt_identity_profile(agt_parse *p, agt_identity *id, const char *v)
{
    if (pol_profile_from_name(v, &id->profile) == CSA_OK)
        return 1;
    return agt_fail(p,
                    "profile must be codesigning, clientauth or test-tls, "
                    "not '%s'",
                    v);
}

static int agt_identity_key(agt_parse *p, agt_identity *id, const char *k,
                            const char *v)
{
    if (!strcmp(k, "label"))
        return agt_set_str(&id->label, v);
    if (!strcmp(k, "key_type"))
        return agt_set_str(&id->key_type, v);
    if (!strcmp(k, "profile"))
        return agt_identity_profile(p, id, v);
    if (!strcmp(k, "domain"))
        return agt_set_str(&id->domain, v);
    if (!strcmp(k, "email"))
        return agt_set_str(&id->email, v);
    if (!strcmp(k, "common_name"))
        return agt_set_str(&id->common_name, v);
    if (!strcmp(k, "organization"))
        return agt_set_str(&id->organization, v);
    if (!strcmp(k, "challenges"))
        return agt_parse_list(v, id->challenges, &id->n_challenges) ||
               agt_fail(p, "bad challenge list '%s'", v);
    if (!strcmp(k, "hook"))
        return agt_set_str(&id->hook, v);
    if (!strcmp(k, "otp_secret"))
        return agt_set_str(&id->otp_secret, v);
    if (!strcmp(k, "otp_program"))
        return agt_set_str(&id->otp_program, v);
    if (!strcmp(k, "cert_key"))
        return agt_set_str(&id->cert_key, v);
    if (!strcmp(k, "cert_chain"))
        return agt_set_str(&id->cert_chain, v);
    if (!strcmp(k, "ppkp_key"))
        return agt_set_str(&id->ppkp_key, v);
    if (!strcmp(k, "hotp_counter")) {
        char *end;

        errno = 0;
        id->hotp_counter = strtol(v, &end, 10);
        if (errno != 0 || *end != '\0' || id->hotp_counter < 0)
            return agt_fail(p, "hotp_counter must be a number >= 0, not '%s'",
                            v);
        return 1;
    }
    if (!strcmp(k, "retire_grace")) {
        if (!strcmp(v, "0")) {
            id->retire_grace = 0;
            return 1;
        }
        return agt_parse_duration(v, &id->retire_grace) ||
               agt_fail(p,
                        "retire_grace must be 0 or a duration (90s, 1h, "
                        "7d), not '%s'",
                        v);
    }
    if (!strcmp(k, "csr_san"))
        return agt_parse_bool(v, &id->csr_san_dns) ||
               agt_fail(p, "csr_san must be yes or no, not '%s'", v);
    if (!strcmp(k, "rotate"))
        return agt_parse_bool(v, &id->rotate) ||
               agt_fail(p, "rotate must be yes or no, not '%s'", v);
    return agt_fail(p, "unknown key '%s' in [identity %s]", k, id->name);
}

static agt_identity *agt_identity_for(agt_parse *p, const char *section)
{
    agt_config *c = p->cfg;
    const char *name = section + strlen("identity ");
    int i;

    /* libinih calls once per key: the section of the last key first. */
    if (c->n_ids > 0 && !strcmp(c->ids[c->n_ids - 1].name, name))
        return &c->ids[c->n_ids - 1];
    for (i = 0; i < c->n_ids; i++)
        if (!strcmp(c->ids[i].name, name))
            return &c->ids[i];
    if (*name == '\0')
        return NULL;
    if (c->n_ids == c->cap_ids) {
        int cap = c->cap_ids ? c->cap_ids * 2 : 8;
        agt_identity *ids = realloc(c->ids, (size_t)cap * sizeof(*ids));

        if (ids == NULL)
            return NULL;
        c->ids = ids;
        c->cap_ids = cap;
    }
    memset(&c->ids[c->n_ids], 0, sizeof(c->ids[0]));
    c->ids[c->n_ids].name = strdup(name);
    c->ids[c->n_ids].rotate = true;
    return &c->ids[c->n_ids++];
}

/* Debian's libinih is built without INI_HANDLER_LINENO: ini_parse_file
 * returns the line of the first error, which names the place. */
static int agt_ini_handler(void *user, const char *section, const char *key,
                           const char *value)
{
    agt_parse *p = user;

    if (!strcmp(section, "token"))
        return agt_token_key(p, key, value);
    if (!strcmp(section, "ca"))
        return agt_ca_key(p, key, value);
    if (!strcmp(section, "agent"))
        return agt_agent_key(p, key, value);
    if (!strncmp(section, "identity ", 9)) {
        agt_identity *id = agt_identity_for(p, section);

        if (id == NULL)
            return agt_fail(p,
                            "an empty identity name (or no memory) in "
                            "[%s]",
                            section);
        return agt_identity_key(p, id, key, value);
    }
    return agt_fail(p, "unknown section [%s]", section);
}

/* A label the swap derives "<label>.next", ".retired" and ".chain" from
 * must leave room for them; one with a NUL could not be matched. */
static csa_err agt_check_label(const agt_config *c, const char *where,
                               const char *label)
{
    if (*label == '\0')
        return csa_raise(CSA_ERR_CONFIG, "%s: %s: the label is empty", c->path,
                         where);
    if (strlen(label) > AGT_LABEL_LEN_MAX)
        return csa_raise(CSA_ERR_CONFIG,
                         "%s: %s: the label is %zu bytes long; at most %d "
                         "leave room for '<label>.retired'",
                         c->path, where, strlen(label), AGT_LABEL_LEN_MAX);
    return CSA_OK;
}

/* The labels the configuration gives objects, sorted, to find the ones
 * that collide (agt_check_labels). */
typedef struct {
    const char *label;
    const char *owner; /* identity name, or NULL for the account key */
} agt_owned;

static int agt_owned_cmp(const void *a, const void *b)
{
    return strcmp(((const agt_owned *)a)->label, ((const agt_owned *)b)->label);
}

static const char *agt_owner_name(const agt_owned *o, char *buf, size_t size)
{
    if (o->owner == NULL)
        snprintf(buf, size, "[ca] account_key");
    else
        snprintf(buf, size, "[identity %.200s]", o->owner);
    return buf;
}

/* Every label names one owner's objects: no two identities (or an
 * identity and the account key) share a label, and none is another's
 * "<label>.next", ".retired" or ".chain" (the swap's own names).  Two
 * swaps under one label, each under its own identity's lock, could leave
 * two pairs there; a swap's ".next" under another's label could have it
 * deleted as that one's leftovers.  Sorted, so 10,000 identities cost
 * milliseconds. */
static csa_err agt_check_labels(const agt_config *c)
{
    static const char *const suffixes[] = {".next", ".retired", ".chain"};
    const char *acct =
        c->account_key != NULL ? c->account_key : AGT_DEFAULT_ACCOUNT_LABEL;
    agt_owned *v = calloc((size_t)c->n_ids + 1, sizeof(*v)), key, *hit;
    char derived[AGT_LABEL_LEN_MAX + 16], a[260], b[260];
    size_t n = 0, i, k;
    csa_err err = CSA_OK;

    if (v == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    v[n++] = (agt_owned){acct, NULL};
    for (i = 0; i < (size_t)c->n_ids; i++)
        v[n++] = (agt_owned){c->ids[i].label, c->ids[i].name};
    qsort(v, n, sizeof(*v), agt_owned_cmp);
    for (i = 1; i < n && err == CSA_OK; i++)
        if (strcmp(v[i - 1].label, v[i].label) == 0)
            err = csa_raise(CSA_ERR_CONFIG,
                            "%s: %s and %s both use the label '%s'; each "
                            "needs its own",
                            c->path, agt_owner_name(&v[i - 1], a, sizeof(a)),
                            agt_owner_name(&v[i], b, sizeof(b)), v[i].label);
    for (i = 0; i < n && err == CSA_OK; i++)
        for (k = 0; k < 3 && err == CSA_OK; k++) {
            snprintf(derived, sizeof(derived), "%s%s", v[i].label, suffixes[k]);
            key.label = derived;
            hit = bsearch(&key, v, n, sizeof(*v), agt_owned_cmp);
            if (hit != NULL)
                err = csa_raise(
                    CSA_ERR_CONFIG,
                    "%s: %s uses the label '%s', which is the name %s's "
                    "renewals give their objects; choose another",
                    c->path, agt_owner_name(hit, a, sizeof(a)), derived,
                    agt_owner_name(&v[i], b, sizeof(b)));
        }
    free(v);
    return err;
}

/* Whole-file checks that need every key: required keys per identity. */
static csa_err agt_config_check(agt_config *c)
{
    char where[300];
    int i;

    if (c->account_key != NULL &&
        agt_check_label(c, "[ca] account_key", c->account_key) != CSA_OK)
        return CSA_ERR_CONFIG;
    for (i = 0; i < c->n_ids; i++) {
        agt_identity *id = &c->ids[i];

        if (id->label == NULL)
            return csa_raise(CSA_ERR_CONFIG, "%s: [identity %s] has no label",
                             c->path, id->name);
        id->signer_wait = c->signer_wait;
        snprintf(where, sizeof(where), "[identity %.200s] label", id->name);
        if (agt_check_label(c, where, id->label) != CSA_OK)
            return CSA_ERR_CONFIG;
        if (strlen(id->name) > 200 || strchr(id->name, '/') != NULL)
            return csa_raise(CSA_ERR_CONFIG,
                             "%s: [identity %.200s]: an identity name names "
                             "files in state_dir: at most 200 bytes and no "
                             "'/'",
                             c->path, id->name);
        if (id->domain == NULL && id->email == NULL)
            return csa_raise(CSA_ERR_CONFIG,
                             "%s: [identity %s] needs domain or email", c->path,
                             id->name);
        if (id->profile == POL_PROFILE_CODESIGNING && id->domain == NULL)
            return csa_raise(CSA_ERR_CONFIG,
                             "%s: [identity %s]: the codesigning profile "
                             "needs domain (the registered domain, draft "
                             "section 4)",
                             c->path, id->name);
    }
    return agt_check_labels(c);
}

csa_err agt_config_load(const char *path, agt_config **out)
{
    char *text = NULL, *grown;
    size_t len = 0, cap = 0, got;
    FILE *f = fopen(path, "r");
    csa_err err;

    *out = NULL;
    if (f == NULL)
        return csa_raise(CSA_ERR_CONFIG, "cannot open %s: %s", path,
                         strerror(errno));
    /* Grown as the file needs, up to one byte past AGT_CONFIG_MAX. */
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 16384;
            if (cap > AGT_CONFIG_MAX + 1)
                cap = AGT_CONFIG_MAX + 1;
            if ((grown = realloc(text, cap + 1)) == NULL) {
                free(text);
                fclose(f);
                return csa_raise(CSA_ERR_NOMEM, "out of memory");
            }
            text = grown;
        }
        got = fread(text + len, 1, cap - len, f);
        len += got;
    } while (got > 0 && len <= AGT_CONFIG_MAX);
    err = ferror(f) ? csa_raise(CSA_ERR_CONFIG, "cannot read %s", path)
          : len > AGT_CONFIG_MAX
              ? csa_raise(CSA_ERR_CONFIG, "%s is larger than %d bytes", path,
                          AGT_CONFIG_MAX)
              : CSA_OK;
    fclose(f);
    if (err == CSA_OK) {
        text[len] = '\0';
        err = agt_config_parse(path, text, out);
    }
    free(text);
    return err;
}

csa_err agt_config_parse(const char *path, const char *text, agt_config **out)
{
    agt_parse p = {0};
    int r;

    *out = NULL;
    p.cfg = calloc(1, sizeof(*p.cfg));
    if (p.cfg == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    p.cfg->path = strdup(path);
    p.cfg->text = strdup(text);
    p.cfg->renew_at = 2.0 / 3.0;
    p.cfg->retry_base = 60;
    p.cfg->retry_max = 6 * 3600;
    p.cfg->signer_wait = 300;
    p.cfg->parallel = AGT_PARALLEL_DEFAULT;
    if (p.cfg->path == NULL || p.cfg->text == NULL) {
        agt_config_free(p.cfg);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    r = ini_parse_string(text, agt_ini_handler, &p);
    if (r != 0) {
        csa_err err = csa_raise(CSA_ERR_CONFIG, "%s:%d: %s", path, r,
                                p.msg[0] ? p.msg : "syntax error");
        agt_config_free(p.cfg);
        return err;
    }
    if (agt_config_check(p.cfg) != CSA_OK) {
        agt_config_free(p.cfg);
        return CSA_ERR_CONFIG;
    }
    *out = p.cfg;
    return CSA_OK;
}

static void agt_identity_free(agt_identity *id)
{
    int i;

    free(id->name);
    free(id->label);
    free(id->key_type);
    free(id->domain);
    free(id->email);
    free(id->common_name);
    free(id->organization);
    free(id->hook);
    free(id->otp_secret);
    free(id->otp_program);
    free(id->cert_key);
    free(id->cert_chain);
    free(id->ppkp_key);
    for (i = 0; i < id->n_challenges; i++)
        free(id->challenges[i]);
}

void agt_config_free(agt_config *c)
{
    int i;

    if (c == NULL)
        return;
    for (i = 0; i < c->n_ids; i++)
        agt_identity_free(&c->ids[i]);
    free(c->ids);
    for (i = 0; i < c->n_contact; i++)
        free(c->contact[i]);
    for (i = 0; i < c->n_hook_env; i++)
        free(c->hook_env[i]);
    free(c->path);
    free(c->text);
    free(c->module);
    free(c->token_uri);
    free(c->pin_file);
    free(c->directory);
    free(c->ca_bundle);
    free(c->trust_anchor);
    free(c->account_key);
    free(c->account_key_type);
    free(c->eab_kid);
    free(c->eab_key_file);
    free(c->eab_alg);
    free(c->preferred_chain);
    free(c->state_dir);
    free(c->policy);
    free(c->notify);
    free(c->metrics_file);
    free(c);
}

const agt_identity *agt_config_identity(const agt_config *c, const char *name)
{
    int i;

    for (i = 0; i < c->n_ids; i++)
        if (!strcmp(c->ids[i].name, name) || !strcmp(c->ids[i].label, name))
            return &c->ids[i];
    return NULL;
}
