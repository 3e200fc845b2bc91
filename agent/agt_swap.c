/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_swap.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "csa_log.h"
#include "agt_status.h"
#include "csa_util.h"

#define AGT_LABEL_MAX 160

typedef struct {
    char step[16];
    char new_id[129]; /* hex CKA_ID of the new key */
    char new_fp[65];  /* hex SHA-256 of the new certificate */
    int rotate;
} agt_journal;

static void agt_hex(const unsigned char *in, size_t len, char *out)
{
    size_t i;

    for (i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
    out[2 * len] = '\0';
}

static char *agt_journal_path(const char *state_dir, const agt_identity *id)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s.journal", state_dir, id->name) < 0)
        return NULL;
    return p;
}

/* Test-only: CSAGENT_CRASH_AT=<step> aborts right after that step is
 * journalled, to prove recovery (tests/swap). */
static void agt_crash_point(const char *step)
{
    const char *at = getenv("CSAGENT_CRASH_AT");

    if (at != NULL && strcmp(at, step) == 0) {
        csa_error("swap", "CSAGENT_CRASH_AT=%s: aborting on purpose", step);
        abort();
    }
}

static csa_err agt_journal_write(const char *state_dir, const agt_identity *id,
                                 const agt_journal *j)
{
    json_object *o = json_object_new_object();
    char *path = agt_journal_path(state_dir, id);
    const char *text;
    csa_err err;

    json_object_object_add(o, "step", json_object_new_string(j->step));
    json_object_object_add(o, "label", json_object_new_string(id->label));
    json_object_object_add(o, "new_id", json_object_new_string(j->new_id));
    json_object_object_add(o, "new_fp", json_object_new_string(j->new_fp));
    json_object_object_add(o, "rotate", json_object_new_boolean(j->rotate));
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    err = path == NULL ? csa_raise(CSA_ERR_NOMEM, "out of memory")
                       : csa_file_write_atomic(path, text, strlen(text), 0600);
    json_object_put(o);
    free(path);
    if (err == CSA_OK) {
        csa_debug("swap", "%s: journal step %s", id->name, j->step);
        agt_crash_point(j->step);
    }
    return err;
}

static void agt_json_copy(json_object *o, const char *key, char *dst,
                          size_t size)
{
    json_object *v;

    dst[0] = '\0';
    if (json_object_object_get_ex(o, key, &v) &&
        json_object_is_type(v, json_type_string))
        snprintf(dst, size, "%s", json_object_get_string(v));
}

/* Returns CSA_ERR_NOT_FOUND when there is no journal. */
static csa_err agt_journal_read(const char *state_dir, const agt_identity *id,
                                agt_journal *j)
{
    char *path = agt_journal_path(state_dir, id), *text = NULL;
    json_object *o, *v;
    csa_err err;

    memset(j, 0, sizeof(*j));
    if (path == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (access(path, F_OK) != 0) {
        free(path);
        return CSA_ERR_NOT_FOUND;
    }
    err = csa_file_read(path, 65536, &text, NULL);
    o = err == CSA_OK ? json_tokener_parse(text) : NULL;
    if (err == CSA_OK && !json_object_is_type(o, json_type_object))
        err = csa_raise(CSA_ERR_IO,
                        "swap journal %s is not a JSON object; it was not "
                        "touched (inspect the token, then remove it)",
                        path);
    if (err == CSA_OK) {
        agt_json_copy(o, "step", j->step, sizeof(j->step));
        agt_json_copy(o, "new_id", j->new_id, sizeof(j->new_id));
        agt_json_copy(o, "new_fp", j->new_fp, sizeof(j->new_fp));
        j->rotate = json_object_object_get_ex(o, "rotate", &v) &&
                    json_object_get_boolean(v);
    }
    json_object_put(o);
    free(text);
    free(path);
    return err;
}

static csa_err agt_journal_remove(const char *state_dir, const agt_identity *id)
{
    char *path = agt_journal_path(state_dir, id);
    csa_err err = CSA_OK;

    if (path == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (unlink(path) != 0 && errno != ENOENT)
        err = csa_raise(CSA_ERR_IO, "cannot remove %s: %s", path,
                        strerror(errno));
    free(path);
    return err;
}

static void agt_label(char *out, const agt_identity *id, const char *suffix)
{
    snprintf(out, AGT_LABEL_MAX, "%s%s", id->label, suffix);
}

static void agt_cert_fp(X509 *x, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;

    X509_digest(x, EVP_sha256(), md, &len);
    agt_hex(md, len, out);
}

/* Is this object part of the new pair?  Keys by CKA_ID, certificates by
 * fingerprint (with a kept key old and new certificates share the id). */
static int agt_is_new(tok_ctx *tok, const tok_obj_info *o, const agt_journal *j)
{
    char hex[129], fp[65];
    X509 *x = NULL;

    if (o->cls != TOK_CLASS_CERTIFICATE) {
        agt_hex(o->id, o->id_len, hex);
        return strcmp(hex, j->new_id) == 0;
    }
    if (tok_cert_get(tok, o->handle, &x) != CSA_OK)
        return 0;
    agt_cert_fp(x, fp);
    X509_free(x);
    return strcmp(fp, j->new_fp) == 0;
}

/* Relabels the old objects labelled from (not the new pair's) to to.  A
 * crash inside may lose an old object; the new pair is whole by then. */
static csa_err agt_relabel_old(tok_ctx *tok, const agt_journal *j,
                               const char *from, const char *to)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    csa_err err = tok_objects(tok, from, NULL, 0, TOK_CLASS_OTHER, &objs, &n);

    for (i = 0; err == CSA_OK && i < n; i++) {
        if (objs[i].cls == TOK_CLASS_SECRET_KEY)
            continue;
        if (!agt_is_new(tok, &objs[i], j))
            err = tok_obj_relabel(tok, objs[i].handle, to);
    }
    free(objs);
    return err;
}

/*
 * Promotes the new pair from .next to the label by copy, then delete: the
 * new objects are never rewritten in place, so a crash cannot lose them
 * (SoftHSM's file store truncates an object file before rewriting it).
 * An object whose copy is already under the label (a promotion interrupted
 * between copy and delete) is not copied twice.  A module that refuses
 * copies gets a relabel in place; agt_swap_check_new covers what a crash
 * can then lose.
 */
static csa_err agt_promote_new(tok_ctx *tok, const agt_journal *j,
                               const char *next, const char *label)
{
    tok_obj_info *objs = NULL, *cur = NULL;
    size_t n = 0, ncur = 0, i;
    int have[TOK_CLASS__MAX] = {0};
    csa_err err =
        tok_objects(tok, label, NULL, 0, TOK_CLASS_OTHER, &cur, &ncur);

    for (i = 0; err == CSA_OK && i < ncur; i++)
        if (agt_is_new(tok, &cur[i], j))
            have[cur[i].cls] = 1;
    free(cur);
    if (err == CSA_OK)
        err = tok_objects(tok, next, NULL, 0, TOK_CLASS_OTHER, &objs, &n);
    for (i = 0; err == CSA_OK && i < n; i++) {
        if (objs[i].cls == TOK_CLASS_SECRET_KEY ||
            !agt_is_new(tok, &objs[i], j))
            continue;
        err = !have[objs[i].cls] ? tok_obj_move(tok, objs[i].handle, label)
                                 : tok_obj_destroy(tok, objs[i].handle);
    }
    free(objs);
    return err;
}

static csa_err agt_destroy_label(tok_ctx *tok, const char *label)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    csa_err err = tok_objects(tok, label, NULL, 0, TOK_CLASS_OTHER, &objs, &n);

    for (i = 0; err == CSA_OK && i < n; i++)
        err = tok_obj_destroy(tok, objs[i].handle);
    free(objs);
    return err;
}

static csa_err agt_swap_publish(tok_ctx *tok, const char *state_dir,
                                const agt_identity *id);

static char *agt_grace_path(const char *state_dir, const agt_identity *id)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s.retired", state_dir, id->name) < 0)
        return NULL;
    return p;
}

/* The retired pair goes at once, or after retire_grace: the time it may
 * be deleted is kept in <state>/<identity>.retired. */
static csa_err agt_retire(tok_ctx *tok, const char *state_dir,
                          const agt_identity *id)
{
    char retired[AGT_LABEL_MAX], buf[32], *path;
    csa_err err;

    agt_label(retired, id, ".retired");
    if (id->retire_grace <= 0)
        return agt_destroy_label(tok, retired);
    if ((path = agt_grace_path(state_dir, id)) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    snprintf(buf, sizeof(buf), "%lld\n",
             (long long)(time(NULL) + id->retire_grace));
    err = csa_file_write_atomic(path, buf, strlen(buf), 0600);
    free(path);
    csa_info("swap", "%s: keeping the retired pair as '%s' for %lds", id->name,
             retired, id->retire_grace);
    return err;
}

time_t agt_swap_reap_due(const char *state_dir, const agt_identity *id)
{
    char *path = agt_grace_path(state_dir, id), *text = NULL;
    time_t due = 0;

    if (path != NULL && access(path, F_OK) == 0 &&
        csa_file_read(path, 64, &text, NULL) == CSA_OK)
        due = (time_t)strtoll(text, NULL, 10);
    csa_err_clear();
    free(text);
    free(path);
    return due;
}

csa_err agt_swap_reap(tok_ctx *tok, const char *state_dir,
                      const agt_identity *id, time_t now)
{
    char retired[AGT_LABEL_MAX], *path;
    time_t due = agt_swap_reap_due(state_dir, id);
    csa_err err;

    if (due == 0 || now < due)
        return CSA_OK;
    agt_label(retired, id, ".retired");
    if ((err = agt_destroy_label(tok, retired)) != CSA_OK)
        return err;
    if ((path = agt_grace_path(state_dir, id)) != NULL && unlink(path) != 0 &&
        errno != ENOENT)
        err = csa_raise(CSA_ERR_IO, "cannot remove %s: %s", path,
                        strerror(errno));
    free(path);
    csa_info("swap", "%s: grace period over, retired pair deleted", id->name);
    return err;
}

/* The new pair's objects under the label or .next: with want_destroy 0
 * counts them into have[cls]; with 1 destroys them.  A kept key is not
 * part of the new pair, only its certificate is. */
static csa_err agt_new_objects(tok_ctx *tok, const agt_identity *id,
                               const agt_journal *j, int want_destroy,
                               int have[TOK_CLASS__MAX])
{
    char labels[2][AGT_LABEL_MAX];
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    int l;
    csa_err err = CSA_OK;

    agt_label(labels[0], id, "");
    agt_label(labels[1], id, ".next");
    for (l = 0; l < 2 && err == CSA_OK; l++) {
        err = tok_objects(tok, labels[l], NULL, 0, TOK_CLASS_OTHER, &objs, &n);
        for (i = 0; err == CSA_OK && i < n; i++) {
            if (objs[i].cls == TOK_CLASS_SECRET_KEY ||
                objs[i].cls == TOK_CLASS_OTHER ||
                (objs[i].cls != TOK_CLASS_CERTIFICATE && !j->rotate) ||
                !agt_is_new(tok, &objs[i], j))
                continue;
            if (want_destroy)
                err = tok_obj_destroy(tok, objs[i].handle);
            else
                have[objs[i].cls]++;
        }
        free(objs);
        objs = NULL;
    }
    return err;
}

/*
 * A swap interrupted at "stored" may have lost part of the new pair: a
 * module that rewrites an object in place (SoftHSM's file store truncates
 * the object file, then writes it) loses the object when the process is
 * killed inside C_SetAttributeValue (agt_promote_new copies instead, but
 * falls back to that relabel on modules that refuse copies).  Only the new
 * objects are moved at that step, so the old pair is whole: the renewal is
 * rolled back to it instead of promoting a certificate without its key.
 * (On a first enrollment there is no old pair and nothing to publish.)
 */
static csa_err agt_swap_check_new(tok_ctx *tok, const char *state_dir,
                                  const agt_identity *id, agt_journal *j,
                                  int *rolled_back)
{
    int have[TOK_CLASS__MAX] = {0};
    char next[AGT_LABEL_MAX];
    const char *missing = NULL;
    X509 *cur = NULL;
    csa_err err = agt_new_objects(tok, id, j, 0, have);

    *rolled_back = 0;
    if (err != CSA_OK)
        return err;
    if (have[TOK_CLASS_CERTIFICATE] == 0)
        missing = "certificate";
    else if (j->rotate && have[TOK_CLASS_PRIVATE_KEY] == 0)
        missing = "private key";
    else if (j->rotate && have[TOK_CLASS_PUBLIC_KEY] == 0)
        missing = "public key";
    if (missing == NULL)
        return CSA_OK;
    csa_warn("swap",
             "%s: the renewed %s (id %s) is gone from the token, lost while "
             "the swap was interrupted; rolling back to the previous "
             "certificate, the renewal will be made again",
             id->name, missing, j->new_id);
    agt_label(next, id, ".next");
    if ((err = agt_new_objects(tok, id, j, 1, have)) != CSA_OK ||
        (err = agt_destroy_label(tok, next)) != CSA_OK)
        return err;
    /* The chain file before the journal goes (see agt_swap_forward). */
    if ((err = agt_current_cert(tok, id, &cur)) == CSA_ERR_NOT_FOUND)
        csa_err_clear();
    else if (err != CSA_OK ||
             (err = agt_swap_publish(tok, state_dir, id)) != CSA_OK) {
        X509_free(cur);
        return err;
    }
    X509_free(cur);
    *rolled_back = 1;
    return agt_journal_remove(state_dir, id);
}

/* Roll forward from "stored": promote, retire, delete. */
static csa_err agt_swap_forward(tok_ctx *tok, const char *state_dir,
                                const agt_identity *id, agt_journal *j)
{
    char next[AGT_LABEL_MAX], retired[AGT_LABEL_MAX];
    csa_err err = CSA_OK;

    agt_label(next, id, ".next");
    agt_label(retired, id, ".retired");
    if (!strcmp(j->step, "stored")) {
        /* Both pairs carry the label for a moment; both are valid. */
        if ((err = agt_promote_new(tok, j, next, id->label)) != CSA_OK)
            return err;
        snprintf(j->step, sizeof(j->step), "promoted");
        if ((err = agt_journal_write(state_dir, id, j)) != CSA_OK)
            return err;
    }
    if (!strcmp(j->step, "promoted")) {
        /* A pair still in its grace period from the renewal before goes
         * now: only the latest retired pair is kept. */
        if ((err = agt_destroy_label(tok, retired)) != CSA_OK ||
            (err = agt_relabel_old(tok, j, id->label, retired)) != CSA_OK)
            return err;
        snprintf(j->step, sizeof(j->step), "retired");
        if ((err = agt_journal_write(state_dir, id, j)) != CSA_OK)
            return err;
    }
    /* The chain file follows the token, after a recovery too; it is
     * written before the journal goes, so that a crash in between is
     * finished (and the file rewritten) at the next start. */
    if ((err = agt_retire(tok, state_dir, id)) != CSA_OK ||
        (err = agt_destroy_label(tok, next)) != CSA_OK ||
        (err = agt_swap_publish(tok, state_dir, id)) != CSA_OK)
        return err;
    return agt_journal_remove(state_dir, id);
}

csa_err agt_swap_abort(tok_ctx *tok, const char *state_dir,
                       const agt_identity *id)
{
    char next[AGT_LABEL_MAX];
    agt_journal j;
    csa_err err = agt_journal_read(state_dir, id, &j);

    /* From "stored" on the swap only rolls forward, at the next start. */
    if (err == CSA_OK && strcmp(j.step, "keygen") != 0)
        return CSA_OK;
    agt_label(next, id, ".next");
    if ((err = agt_destroy_label(tok, next)) != CSA_OK)
        return err;
    return agt_journal_remove(state_dir, id);
}

/*
 * A kill -9 inside C_GenerateKeyPair can leave SoftHSM with a key object
 * whose label and id were never written.  No csagent object is ever
 * without both, and such a key cannot be addressed by any PKCS#11 URI, so
 * after an interrupted "keygen" those are deleted.
 */
static csa_err agt_drop_unnamed_keys(tok_ctx *tok, const agt_identity *id)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    csa_err err = tok_objects(tok, NULL, NULL, 0, TOK_CLASS_OTHER, &objs, &n);

    for (i = 0; err == CSA_OK && i < n; i++) {
        if ((objs[i].cls != TOK_CLASS_PRIVATE_KEY &&
             objs[i].cls != TOK_CLASS_PUBLIC_KEY) ||
            objs[i].label[0] != '\0' || objs[i].id_len != 0)
            continue;
        csa_warn("swap",
                 "%s: deleting a %s key with no label and no id, left by "
                 "the interrupted key generation",
                 id->name, objs[i].type);
        err = tok_obj_destroy(tok, objs[i].handle);
    }
    free(objs);
    return err;
}

int agt_swap_lock(const char *state_dir, const agt_identity *id)
{
    char path[4096];
    int fd;

    snprintf(path, sizeof(path), "%s/%s.lock", state_dir, id->name);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

void agt_swap_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

csa_err agt_swap_recover(tok_ctx *tok, const char *state_dir,
                         const agt_identity *id)
{
    agt_journal j;
    int rolled_back = 0;
    csa_err err = agt_journal_read(state_dir, id, &j);

    if (err == CSA_ERR_NOT_FOUND)
        return CSA_OK;
    if (err != CSA_OK)
        return err;
    if (!strcmp(j.step, "keygen")) {
        csa_warn("swap",
                 "%s: rolling back a renewal interrupted before "
                 "its certificate was stored",
                 id->name);
        if ((err = agt_drop_unnamed_keys(tok, id)) != CSA_OK)
            return err;
        return agt_swap_abort(tok, state_dir, id);
    }
    if (!strcmp(j.step, "stored") || !strcmp(j.step, "promoted") ||
        !strcmp(j.step, "retired")) {
        if (!strcmp(j.step, "stored") &&
            ((err = agt_swap_check_new(tok, state_dir, id, &j, &rolled_back)) !=
                 CSA_OK ||
             rolled_back))
            return err;
        csa_warn("swap", "%s: finishing a swap interrupted at step %s",
                 id->name, j.step);
        return agt_swap_forward(tok, state_dir, id, &j);
    }
    return csa_raise(CSA_ERR_IO,
                     "swap journal of %s names an unknown step '%s'; "
                     "nothing was changed",
                     id->name, j.step);
}

csa_err agt_swap_begin(tok_ctx *tok, const char *state_dir,
                       const agt_identity *id, bool rotate, tok_key **key)
{
    char next[AGT_LABEL_MAX];
    agt_journal j = {.rotate = rotate};
    tok_key_type type = TOK_KEY_EC_P256;
    csa_err err;

    *key = NULL;
    if (id->key_type != NULL &&
        (err = tok_key_type_parse(id->key_type, &type)) != CSA_OK)
        return err;
    /* "keygen" also covers a kept key: whatever appears under .next before
     * "stored" is rolled back. */
    snprintf(j.step, sizeof(j.step), "keygen");
    agt_label(next, id, ".next");
    if ((err = agt_journal_write(state_dir, id, &j)) != CSA_OK)
        return err;
    if (!rotate) {
        err = tok_key_find(tok, id->label, key);
        if (err != CSA_ERR_NOT_FOUND)
            return err;
        csa_err_clear(); /* first enrollment: a key is generated */
    }
    return tok_key_generate(tok, next, type, false, key);
}

/* Issuing CA certificates go under "<label>.chain" with their own ids so
 * that they never compete with the leaf for the key's CKA_ID.  Ones
 * already there are kept (renewals rarely change the intermediate);
 * agt_swap_publish drops those the current leaf no longer uses. */
static csa_err agt_store_chain(tok_ctx *tok, const agt_identity *id,
                               STACK_OF(X509) * chain)
{
    char label[AGT_LABEL_MAX], fp[65], have[65];
    tok_obj_info *objs = NULL;
    unsigned char md[32];
    unsigned int mdlen = 0;
    size_t n = 0, j;
    int i, dup;
    csa_err err;

    agt_label(label, id, ".chain");
    err = tok_objects(tok, label, NULL, 0, TOK_CLASS_CERTIFICATE, &objs, &n);
    for (i = 1; err == CSA_OK && i < sk_X509_num(chain); i++) {
        X509 *ca = sk_X509_value(chain, i);

        agt_cert_fp(ca, fp);
        for (j = 0, dup = 0; j < n && !dup; j++) {
            X509 *x = NULL;

            if (tok_cert_get(tok, objs[j].handle, &x) == CSA_OK) {
                agt_cert_fp(x, have);
                dup = !strcmp(fp, have);
            }
            X509_free(x);
        }
        if (dup)
            continue;
        X509_digest(ca, EVP_sha256(), md, &mdlen);
        err = tok_cert_store(tok, ca, label, md, 16, NULL);
    }
    free(objs);
    return err;
}

/* Builds leaf + issuers from the token's objects, so the file always
 * matches the token, also after a recovery. */
static csa_err agt_token_chain(tok_ctx *tok, const agt_identity *id,
                               STACK_OF(X509) * out, tok_obj_info **cas,
                               size_t *n, int **used)
{
    char label[AGT_LABEL_MAX];
    X509 *cur = NULL;
    size_t i;
    int found = 1;
    csa_err err = agt_current_cert(tok, id, &cur);

    if (err != CSA_OK)
        return err;
    sk_X509_push(out, cur);
    agt_label(label, id, ".chain");
    if ((err = tok_objects(tok, label, NULL, 0, TOK_CLASS_CERTIFICATE, cas,
                           n)) != CSA_OK)
        return err;
    *used = calloc(*n + 1, sizeof(**used));
    if (*used == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    while (found && sk_X509_num(out) < 8) {
        found = 0;
        for (i = 0; i < *n && !found; i++) {
            X509 *ca = NULL;

            if ((*used)[i] ||
                tok_cert_get(tok, (*cas)[i].handle, &ca) != CSA_OK)
                continue;
            if (X509_check_issued(ca, cur) == X509_V_OK) {
                sk_X509_push(out, ca);
                (*used)[i] = found = 1;
                cur = ca;
            } else {
                X509_free(ca);
            }
        }
    }
    return CSA_OK;
}

/* Writes <state_dir>/<identity>.pem from the token and removes issuing
 * certificates the current leaf no longer uses. */
static csa_err agt_swap_publish(tok_ctx *tok, const char *state_dir,
                                const agt_identity *id)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    tok_obj_info *cas = NULL;
    int *used = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    char *path = NULL, *data;
    size_t n = 0, i;
    long len;
    int k;
    csa_err err = chain && bio
                      ? agt_token_chain(tok, id, chain, &cas, &n, &used)
                      : csa_raise(CSA_ERR_NOMEM, "out of memory");

    if (err == CSA_OK && asprintf(&path, "%s/%s.pem", state_dir, id->name) < 0)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    for (k = 0; err == CSA_OK && k < sk_X509_num(chain); k++)
        PEM_write_bio_X509(bio, sk_X509_value(chain, k));
    if (err == CSA_OK) {
        len = BIO_get_mem_data(bio, &data);
        err = csa_file_write_atomic(path, data, (size_t)len, 0644);
    }
    for (i = 0; err == CSA_OK && i < n; i++)
        if (!used[i] && tok_obj_destroy(tok, cas[i].handle) != CSA_OK)
            csa_warn("swap", "%s: unused chain certificate not deleted: %s",
                     id->name, csa_errmsg());
    free(used);
    free(cas);
    free(path);
    BIO_free(bio);
    sk_X509_pop_free(chain, X509_free);
    return err;
}

csa_err agt_swap_commit(tok_ctx *tok, const char *state_dir,
                        const agt_identity *id, tok_key *key,
                        STACK_OF(X509) * chain)
{
    char next[AGT_LABEL_MAX];
    agt_journal j = {0};
    const unsigned char *kid;
    size_t kid_len;
    csa_err err;

    kid = tok_key_id(key, &kid_len);
    agt_hex(kid, kid_len, j.new_id);
    agt_cert_fp(sk_X509_value(chain, 0), j.new_fp);
    j.rotate = strcmp(tok_key_label(key), id->label) != 0;
    agt_label(next, id, ".next");
    if ((err = tok_cert_store(tok, sk_X509_value(chain, 0), next, kid, kid_len,
                              NULL)) != CSA_OK ||
        (err = agt_store_chain(tok, id, chain)) != CSA_OK)
        return err;
    snprintf(j.step, sizeof(j.step), "stored");
    if ((err = agt_journal_write(state_dir, id, &j)) != CSA_OK)
        return err;
    return agt_swap_forward(tok, state_dir, id, &j);
}
