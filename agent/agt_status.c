/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_status.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "acme.h"
#include "agt.h"
#include "csa_log.h"
#include "csa_util.h"

void agt_cert_index_make(tok_ctx *tok, agt_cert_index *ix, bool all)
{
    size_t unread = 0;

    ix->v = NULL;
    ix->n = 0;
    if (tok_labelled_find(tok, all ? TOK_CLASS_OTHER : TOK_CLASS_CERTIFICATE,
                          &ix->v, &ix->n, &unread) != CSA_OK) {
        csa_warn("agent",
                 "listing the token's objects: %s; looking each "
                 "identity's up alone",
                 csa_errmsg());
        csa_err_clear();
    } else if (unread > 0) {
        /* an incomplete list may lack an object of some identity */
        csa_warn("agent",
                 "listing the token's objects: %zu could not be read; "
                 "looking each identity's up alone",
                 unread);
        agt_cert_index_free(ix);
    }
}

void agt_cert_index_free(agt_cert_index *ix)
{
    free(ix->v);
    ix->v = NULL;
    ix->n = 0;
}

csa_err agt_current_cert(tok_ctx *tok, const agt_identity *id, X509 **out)
{
    return agt_current_cert_in(tok, NULL, id, out);
}

csa_err agt_current_cert_in(tok_ctx *tok, const agt_cert_index *ix,
                            const agt_identity *id, X509 **out)
{
    tok_handle *objs = NULL;
    size_t n = 0, i, first = 0;
    csa_err err = CSA_OK;

    if (ix == NULL || ix->v == NULL) {
        err = tok_find_handles(tok, id->label, NULL, 0, TOK_CLASS_CERTIFICATE,
                               &objs, &n);
    } else {
        size_t k = tok_labelled_range(ix->v, ix->n, id->label, &first);

        if ((objs = calloc(k ? k : 1, sizeof(*objs))) == NULL)
            return csa_raise(CSA_ERR_NOMEM, "out of memory");
        for (i = 0; i < k; i++)
            if (ix->v[first + i].cls == TOK_CLASS_CERTIFICATE)
                objs[n++] = ix->v[first + i].handle;
    }
    *out = NULL;
    if (err == CSA_OK && n == 0)
        err = csa_raise(CSA_ERR_NOT_FOUND,
                        "identity %s has no certificate labelled '%s'",
                        id->name, id->label);
    /* the latest notAfter when there are several (with a kept key, for
     * an instant of the swap) */
    for (i = 0; err == CSA_OK && i < n; i++) {
        X509 *x = NULL;

        if ((err = tok_cert_get(tok, objs[i], &x)) != CSA_OK)
            break;
        if (*out == NULL || ASN1_TIME_compare(X509_get0_notAfter(x),
                                              X509_get0_notAfter(*out)) > 0) {
            X509_free(*out);
            *out = x;
        } else {
            X509_free(x);
        }
    }
    if (err != CSA_OK) {
        X509_free(*out);
        *out = NULL;
    }
    free(objs);
    if (err != CSA_OK && err != CSA_ERR_NOT_FOUND && ix != NULL &&
        ix->v != NULL) {
        /* a certificate of the list is gone: the list is older than the
         * token, ask the token.  (None in the list is taken as none: a
         * first enrollment, which a search per identity would make cost
         * a walk of the token each; one enrolled by another process since
         * is found by its renewal, which looks under the lock.) */
        csa_err_clear();
        return agt_current_cert_in(tok, NULL, id, out);
    }
    return err;
}

void agt_serial_of(X509 *x, char *buf, size_t size)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;

    snprintf(buf, size, "%s", hex ? hex : "");
    OPENSSL_free(hex);
    BN_free(bn);
}

void agt_cert_id_of(X509 *x, char **out)
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);

    *out = NULL;
    if (len > 0 && acme_cert_id(der, (size_t)len, out) != CSA_OK) {
        csa_err_clear();
        *out = NULL;
    }
    OPENSSL_free(der);
}

const char *agt_fmt_time(time_t t)
{
    static _Thread_local char buf[32];
    struct tm tm;

    if (t == 0 || gmtime_r(&t, &tm) == NULL)
        return "-";
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static json_object *agt_sched_json(const agt_sched *e)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "identity", json_object_new_string(e->name));
    json_object_object_add(o, "label", json_object_new_string(e->label));
    json_object_object_add(o, "serial", json_object_new_string(e->serial));
    json_object_object_add(o, "not_after",
                           json_object_new_int64((int64_t)e->not_after));
    json_object_object_add(o, "next_renewal",
                           json_object_new_int64((int64_t)e->next));
    json_object_object_add(o, "next_renewal_why",
                           json_object_new_string(e->why));
    json_object_object_add(o, "failures", json_object_new_int(e->failures));
    json_object_object_add(o, "failures_total",
                           json_object_new_int64(e->failures_total));
    json_object_object_add(o, "renewals_total",
                           json_object_new_int64(e->renewals_total));
    json_object_object_add(o, "last_error",
                           json_object_new_string(e->last_error));
    return o;
}

/* node_exporter textfile collector format. */
static void agt_metrics(FILE *f, const agt_sched *s, int n)
{
    static const char *const names[][2] = {
        {"csagent_certificate_not_after_seconds",
         "notAfter of the identity's current certificate (unix time)"},
        {"csagent_next_renewal_seconds", "when the agent acts next"},
        {"csagent_renewal_failures_total", "failed renewals since start"},
        {"csagent_renewals_total", "successful renewals since start"},
        {"csagent_consecutive_failures", "failures since the last success"},
    };
    int m, i;

    for (m = 0; m < 5; m++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", names[m][0], names[m][1],
                names[m][0], m == 2 || m == 3 ? "counter" : "gauge");
        for (i = 0; i < n; i++) {
            long long v = m == 0   ? (long long)s[i].not_after
                          : m == 1 ? (long long)s[i].next
                          : m == 2 ? s[i].failures_total
                          : m == 3 ? s[i].renewals_total
                                   : s[i].failures;

            fprintf(f, "%s{identity=\"%s\",label=\"%s\"} %lld\n", names[m][0],
                    s[i].name, s[i].label, v);
        }
    }
}

void agt_status_write(const agt_config *cfg, const char *state_dir,
                      const agt_sched *s, int n)
{
    json_object *arr = json_object_new_array();
    char path[4096], *buf = NULL;
    size_t len = 0;
    const char *text;
    FILE *f;
    int i;

    for (i = 0; i < n; i++)
        json_object_array_add(arr, agt_sched_json(&s[i]));
    text = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY);
    snprintf(path, sizeof(path), "%s/status.json", state_dir);
    if (csa_file_write_atomic(path, text, strlen(text), 0644) != CSA_OK)
        csa_warn("agent", "%s", csa_errmsg());
    json_object_put(arr);
    if (cfg->metrics_file == NULL || (f = open_memstream(&buf, &len)) == NULL)
        return;
    agt_metrics(f, s, n);
    fclose(f);
    if (csa_file_write_atomic(cfg->metrics_file, buf, len, 0644) != CSA_OK)
        csa_warn("agent", "%s", csa_errmsg());
    free(buf);
}

/* The daemon's last word on an identity, from status.json (if any). */
static json_object *agt_status_find(json_object *all, const char *name)
{
    size_t i, n = json_object_is_type(all, json_type_array)
                      ? json_object_array_length(all)
                      : 0;

    for (i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(all, i), *v;

        if (json_object_object_get_ex(o, "identity", &v) &&
            !strcmp(json_object_get_string(v), name))
            return o;
    }
    return NULL;
}

static void agt_status_one(tok_ctx *tok, const agt_identity *id,
                           json_object *daemon, json_object *out)
{
    json_object *o = json_object_new_object(), *v;
    tok_obj_info info;
    tok_key *key = NULL;
    X509 *x = NULL;
    char serial[80] = "", hex[129] = "";
    size_t i;

    json_object_object_add(o, "identity", json_object_new_string(id->name));
    json_object_object_add(o, "label", json_object_new_string(id->label));
    if (tok_key_find(tok, id->label, &key) == CSA_OK &&
        tok_key_info(key, &info) == CSA_OK)
        for (i = 0; i < info.id_len && i < 64; i++)
            snprintf(hex + 2 * i, 3, "%02x", info.id[i]);
    json_object_object_add(o, "key_id", json_object_new_string(hex));
    if (agt_current_cert(tok, id, &x) == CSA_OK)
        agt_serial_of(x, serial, sizeof(serial));
    csa_err_clear();
    json_object_object_add(o, "serial", json_object_new_string(serial));
    if (x != NULL) {
        struct tm tm;

        ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm);
        json_object_object_add(
            o, "not_after", json_object_new_string(agt_fmt_time(timegm(&tm))));
    }
    if (daemon != NULL) {
        if (json_object_object_get_ex(daemon, "next_renewal", &v))
            json_object_object_add(
                o, "next_renewal",
                json_object_new_string(agt_fmt_time(json_object_get_int64(v))));
        if (json_object_object_get_ex(daemon, "next_renewal_why", &v))
            json_object_object_add(o, "why", json_object_get(v));
        if (json_object_object_get_ex(daemon, "last_error", &v))
            json_object_object_add(o, "last_error", json_object_get(v));
    }
    json_object_array_add(out, o);
    tok_key_free(key);
    X509_free(x);
}

static void agt_status_print(json_object *arr)
{
    size_t i;

    for (i = 0; i < json_object_array_length(arr); i++) {
        json_object *o = json_object_array_get_idx(arr, i), *v;
        static const char *const keys[] = {
            "label",        "key_id", "serial",    "not_after",
            "next_renewal", "why",    "last_error"};
        size_t k;

        json_object_object_get_ex(o, "identity", &v);
        printf("%s:\n", json_object_get_string(v));
        for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if (json_object_object_get_ex(o, keys[k], &v) &&
                *json_object_get_string(v))
                printf("  %-13s %s\n", keys[k], json_object_get_string(v));
    }
}

/* Objects no journal can name (no label, no id) are reported, never
 * deleted: see csagent orphans. */
static void agt_status_orphans(tok_ctx *tok, FILE *f)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i, count = 0;

    if (tok_objects(tok, NULL, NULL, 0, TOK_CLASS_OTHER, &objs, &n) != CSA_OK)
        csa_err_clear();
    for (i = 0; i < n; i++)
        count += objs[i].label[0] == '\0' && objs[i].id_len == 0;
    free(objs);
    if (count > 0)
        fprintf(f,
                "token: %zu unattributed object(s) with no label and no id "
                "(csagent orphans lists them)\n",
                count);
}

int agt_cmd_status(agt_globals *g, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char usage[] =
        "usage: csagent status [--json]\n"
        "Per identity: label, key id, serial, notAfter, and from the\n"
        "running agent (state_dir/status.json) the next renewal time, why,\n"
        "and the last error.\n";
    json_object *daemon = NULL, *out = json_object_new_array();
    char path[4096];
    tok_ctx *tok = NULL;
    int c, json = 0, i;
    csa_err err;

    while ((c = agt_getopt(argc, argv, "h", opts)) != -1) {
        if (c == 'j')
            json = 1;
        else
            return json_object_put(out),
                   c == 'h' ? (fputs(usage, stdout), AGT_EXIT_OK)
                            : (fputs(usage, stderr), AGT_EXIT_USAGE);
    }
    if ((err = agt_load_config(g, 1)) != CSA_OK ||
        (err = agt_open_token(g, 1, &tok)) != CSA_OK) {
        json_object_put(out);
        return agt_fail_exit(err);
    }
    snprintf(path, sizeof(path), "%s/status.json",
             g->cfg->state_dir ? g->cfg->state_dir : "/var/lib/csagent");
    daemon = json_object_from_file(path);
    for (i = 0; i < g->cfg->n_ids; i++)
        agt_status_one(tok, &g->cfg->ids[i],
                       agt_status_find(daemon, g->cfg->ids[i].name), out);
    if (json)
        printf("%s\n",
               json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY));
    else
        agt_status_print(out);
    agt_status_orphans(tok, json ? stderr : stdout);
    json_object_put(out);
    json_object_put(daemon);
    tok_close(tok);
    return AGT_EXIT_OK;
}
