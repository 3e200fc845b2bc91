/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_swap.h"
#include "agt_swap_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "agt_journal.h"
#include "agt_lock.h"
#include "agt_status.h"
#include "csa_log.h"
#include "csa_util.h"

void agt_labels_of(const agt_identity *id, agt_labels *l)
{
    snprintf(l->cur, sizeof(l->cur), "%s", id->label);
    snprintf(l->next, sizeof(l->next), "%s.next", id->label);
    snprintf(l->retired, sizeof(l->retired), "%s.retired", id->label);
    snprintf(l->chain, sizeof(l->chain), "%s.chain", id->label);
}

static void agt_cert_fp(X509 *x, char out[AGT_HEX_FP_MAX])
{
    unsigned char md[32];
    unsigned int len = 0;

    X509_digest(x, EVP_sha256(), md, &len);
    agt_hex(md, len, out);
}

/*
 * Objects a journal names: a label, a CKA_ID and a class, and for a
 * certificate optionally its SHA-256 (with a kept key the old and the new
 * certificate share label and id).  These are the only objects the swap
 * ever deletes.
 */
typedef struct {
    const char *label;
    const char *id; /* hex, never empty */
    tok_class cls;
    const char *fp; /* certificates: hex SHA-256, or "" for any */
} agt_name;

/* The objects that match name; *out is malloc'd (caller frees). */
static csa_err agt_named(tok_ctx *tok, const agt_name *name, tok_handle **out,
                         size_t *n)
{
    unsigned char id[TOK_ID_MAX];
    char fp[AGT_HEX_FP_MAX];
    int id_len = agt_unhex(name->id, id, sizeof(id));
    size_t i, k = 0;
    csa_err err;

    *out = NULL;
    *n = 0;
    if (id_len <= 0)
        return csa_raise(CSA_ERR_INVALID, "journal names no usable id");
    /* one search; a certificate's value only when the name has its
     * SHA-256 (a kept key's old and new certificates share label and id) */
    err = tok_find_handles(tok, name->label, id, (size_t)id_len, name->cls, out,
                           n);
    if (err != CSA_OK || name->cls != TOK_CLASS_CERTIFICATE ||
        name->fp == NULL || name->fp[0] == '\0')
        return err;
    for (i = 0; i < *n; i++) {
        X509 *x = NULL;

        if (tok_cert_get(tok, (*out)[i], &x) != CSA_OK) {
            csa_err_clear();
            continue;
        }
        agt_cert_fp(x, fp);
        X509_free(x);
        if (strcmp(fp, name->fp) == 0)
            (*out)[k++] = (*out)[i];
    }
    *n = k;
    return CSA_OK;
}

/* agt_named of each of names[n], which share label and id (one pair, as
 * agt_pair_names gives it): one search of label and id, the class of each
 * object found read from it, instead of a search per name.  out[i] and
 * nout[i] as agt_named's. */
static csa_err agt_named_pair(tok_ctx *tok, const agt_name *names, int n,
                              tok_handle **out, size_t *nout)
{
    agt_name any = names[0];
    tok_handle *objs = NULL;
    size_t nobj = 0, k;
    int i;
    csa_err err;

    for (i = 0; i < n; i++) {
        out[i] = NULL;
        nout[i] = 0;
    }
    any.cls = TOK_CLASS_OTHER;
    any.fp = "";
    if ((err = agt_named(tok, &any, &objs, &nobj)) != CSA_OK)
        return err;
    for (i = 0; err == CSA_OK && i < n; i++)
        if ((out[i] = calloc(nobj ? nobj : 1, sizeof(**out))) == NULL)
            err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    for (k = 0; err == CSA_OK && k < nobj; k++) {
        tok_class cls;
        char fp[AGT_HEX_FP_MAX];

        if ((err = tok_obj_class(tok, objs[k], &cls)) != CSA_OK)
            break;
        for (i = 0; i < n && names[i].cls != cls; i++)
            ;
        if (i == n)
            continue; /* a class the pair has not: a secret key, data */
        if (cls == TOK_CLASS_CERTIFICATE && names[i].fp != NULL &&
            names[i].fp[0] != '\0') {
            X509 *x = NULL;

            if (tok_cert_get(tok, objs[k], &x) != CSA_OK) {
                csa_err_clear();
                continue;
            }
            agt_cert_fp(x, fp);
            X509_free(x);
            if (strcmp(fp, names[i].fp) != 0)
                continue;
        }
        out[i][nout[i]++] = objs[k];
    }
    free(objs);
    if (err != CSA_OK)
        for (i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
            nout[i] = 0;
        }
    return err;
}

static csa_err agt_named_count(tok_ctx *tok, const agt_name *name, size_t *n)
{
    tok_handle *objs = NULL;
    csa_err err = agt_named(tok, name, &objs, n);

    free(objs);
    return err;
}

static csa_err agt_named_destroy(tok_ctx *tok, const agt_name *name)
{
    tok_handle *objs = NULL;
    size_t n = 0, i;
    csa_err err = agt_named(tok, name, &objs, &n);

    for (i = 0; err == CSA_OK && i < n; i++) {
        csa_debug("swap", "deleting an object of class %d '%s' id %s",
                  (int)name->cls, name->label, name->id);
        err = tok_obj_destroy(tok, objs[i]);
    }
    free(objs);
    return err;
}

/*
 * Gives the object name a copy under to (C_CopyObject: a key's value never
 * leaves the token).  A copy already there (a step resumed after a crash)
 * is not made twice; a missing source is CSA_ERR_NOT_FOUND.  With
 * may_relabel, a module that refuses copies, or fails one, gets a relabel
 * in place: that needs no new space on the token, but a kill inside it may
 * lose the object (SoftHSM truncates an object file before rewriting it),
 * which recovery treats as an incomplete pair.
 */
static csa_err agt_named_copy(tok_ctx *tok, const agt_name *name,
                              const char *to, bool may_relabel)
{
    agt_name dst = *name;
    tok_handle *objs = NULL;
    size_t n = 0;
    csa_err err;

    dst.label = to;
    if ((err = agt_named_count(tok, &dst, &n)) != CSA_OK || n > 0)
        return err;
    if ((err = agt_named(tok, name, &objs, &n)) == CSA_OK && n == 0)
        err = csa_raise(CSA_ERR_NOT_FOUND, "no object labelled '%s' with id %s",
                        name->label, name->id);
    if (err == CSA_OK &&
        (err = tok_obj_copy(tok, objs[0], to, NULL)) != CSA_OK && may_relabel) {
        csa_warn("swap", "copying '%s' to '%s' failed (%s); relabelling it",
                 name->label, to, csa_errmsg());
        csa_err_clear();
        err = tok_obj_relabel(tok, objs[0], to);
    }
    free(objs);
    return err;
}

/* The objects of one pair as a journal names them: the keys only when
 * with_keys (a rotated key), the certificate by fp when fp is set. */
static int agt_pair_names(const char *label, const char *id, const char *fp,
                          bool with_keys, agt_name out[3])
{
    int n = 0;

    if (with_keys) {
        out[n++] = (agt_name){label, id, TOK_CLASS_PUBLIC_KEY, ""};
        out[n++] = (agt_name){label, id, TOK_CLASS_PRIVATE_KEY, ""};
    }
    out[n++] = (agt_name){label, id, TOK_CLASS_CERTIFICATE, fp};
    return n;
}

/* Deletes a pair's objects under label (certificate first: a signer never
 * finds the old certificate without its key). */
static csa_err agt_pair_destroy(tok_ctx *tok, const char *label, const char *id,
                                const char *fp, bool with_keys)
{
    agt_name names[3];
    int n = agt_pair_names(label, id, fp, with_keys, names), i;
    csa_err err = CSA_OK;

    for (i = n - 1; err == CSA_OK && i >= 0; i--)
        err = agt_named_destroy(tok, &names[i]);
    return err;
}

/* Copies a pair from one label to another (keys first, certificate last:
 * a signer never finds the new certificate without its key).  Only the
 * promotion may fall back to moving the objects (may_relabel, see
 * agt_named_copy): moving the old pair aside would empty the label early. */
static csa_err agt_pair_copy(tok_ctx *tok, const char *from, const char *to,
                             const char *id, const char *fp, bool with_keys,
                             bool may_relabel)
{
    agt_name names[3];
    int n = agt_pair_names(from, id, fp, with_keys, names), i;
    csa_err err = CSA_OK;

    for (i = 0; err == CSA_OK && i < n; i++)
        err = agt_named_copy(tok, &names[i], to, may_relabel);
    return err;
}

/* ---- the grace period of a retired pair ---- */

static char *agt_grace_path(const char *state_dir, const agt_identity *id)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s.retired", state_dir, id->name) < 0)
        return NULL;
    return p;
}

/* <state>/<identity>.retired holds "<due> <id> <fp>": when the retired
 * pair may be deleted, and which objects under "<label>.retired" it is
 * (the record that they are ours).  Files of older versions hold only the
 * time: their objects are not deleted, only reported. */
static time_t agt_grace_read(const char *state_dir, const agt_identity *id,
                             char rid[AGT_HEX_ID_MAX])
{
    char *path = agt_grace_path(state_dir, id), *text = NULL;
    char idbuf[AGT_HEX_ID_MAX] = "";
    long long due = 0;

    rid[0] = '\0';
    /* %128s: AGT_HEX_ID_MAX - 1 hex digits at most */
    if (path != NULL && access(path, F_OK) == 0 &&
        csa_file_read(path, 512, &text, NULL) == CSA_OK &&
        sscanf(text, "%lld %128s", &due, idbuf) >= 1 &&
        agt_unhex(idbuf, (unsigned char[TOK_ID_MAX]){0}, TOK_ID_MAX) > 0)
        memcpy(rid, idbuf, sizeof(idbuf));
    csa_err_clear();
    free(text);
    free(path);
    return (time_t)due;
}

time_t agt_swap_reap_due(const char *state_dir, const agt_identity *id)
{
    char rid[AGT_HEX_ID_MAX];

    return agt_grace_read(state_dir, id, rid);
}

/* Deletes the retired pair the grace file names, and the file. */
static csa_err agt_grace_drop(tok_ctx *tok, const char *state_dir,
                              const agt_identity *id)
{
    static const tok_class classes[] = {
        TOK_CLASS_CERTIFICATE, TOK_CLASS_PRIVATE_KEY, TOK_CLASS_PUBLIC_KEY};
    char rid[AGT_HEX_ID_MAX], *path;
    agt_labels l;
    time_t due = agt_grace_read(state_dir, id, rid);
    csa_err err = CSA_OK;
    size_t i;

    if (due == 0)
        return CSA_OK;
    agt_labels_of(id, &l);
    if (rid[0] == '\0')
        csa_warn("swap",
                 "%s: %s/%s.retired names no object (written by an older "
                 "csagent); objects labelled '%s' are left for you to "
                 "delete",
                 id->name, state_dir, id->name, l.retired);
    for (i = 0; rid[0] != '\0' && err == CSA_OK && i < 3; i++)
        err =
            agt_named_destroy(tok, &(agt_name){l.retired, rid, classes[i], ""});
    if (err == CSA_OK && (path = agt_grace_path(state_dir, id)) != NULL) {
        if (unlink(path) != 0 && errno != ENOENT)
            err = csa_raise(CSA_ERR_IO, "cannot remove %s: %s", path,
                            strerror(errno));
        free(path);
    }
    return err;
}

csa_err agt_swap_reap(tok_ctx *tok, const char *state_dir,
                      const agt_identity *id, time_t now)
{
    char rid[AGT_HEX_ID_MAX];
    time_t due = agt_grace_read(state_dir, id, rid);
    csa_err err;

    if (due == 0 || now < due)
        return CSA_OK;
    if ((err = agt_grace_drop(tok, state_dir, id)) == CSA_OK)
        csa_info("swap", "%s: grace period over, retired pair deleted",
                 id->name);
    return err;
}

static csa_err agt_grace_write(const char *state_dir, const agt_identity *id,
                               const agt_journal *j)
{
    char buf[300], *path = agt_grace_path(state_dir, id);
    csa_err err;

    if (path == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    snprintf(buf, sizeof(buf), "%lld %s %s\n",
             (long long)(time(NULL) + id->retire_grace), j->old_id,
             j->old_fp[0] ? j->old_fp : "-");
    err = csa_file_write_atomic(path, buf, strlen(buf), 0600);
    free(path);
    return err;
}

/* ---- the steps ---- */

/*
 * A journal of csagent before version 2 names no old pair: it is found
 * under the label as the objects that are not the new ones.  (Such a
 * journal's "promoted" left both pairs under the label: it is resumed as
 * "aside"; its "retired" as "promoted".)
 */
static csa_err agt_legacy_old(tok_ctx *tok, const agt_labels *l, agt_journal *j)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    char hex[AGT_HEX_ID_MAX], fp[AGT_HEX_FP_MAX];
    csa_err err = tok_objects(tok, l->cur, NULL, 0, TOK_CLASS_OTHER, &objs, &n);

    for (i = 0; err == CSA_OK && i < n; i++) {
        X509 *x = NULL;

        if (objs[i].id_len == 0 || objs[i].id_len > TOK_ID_MAX)
            continue;
        agt_hex(objs[i].id, objs[i].id_len, hex);
        if (objs[i].cls == TOK_CLASS_PRIVATE_KEY && strcmp(hex, j->new_id))
            snprintf(j->old_id, sizeof(j->old_id), "%s", hex);
        if (objs[i].cls != TOK_CLASS_CERTIFICATE ||
            tok_cert_get(tok, objs[i].handle, &x) != CSA_OK)
            continue;
        agt_cert_fp(x, fp);
        X509_free(x);
        if (strcmp(fp, j->new_fp) && (j->rotate ? strcmp(hex, j->new_id) != 0
                                                : strcmp(hex, j->new_id) == 0))
            snprintf(j->old_fp, sizeof(j->old_fp), "%s", fp);
    }
    if (!j->rotate)
        snprintf(j->old_id, sizeof(j->old_id), "%s", j->new_id);
    free(objs);
    csa_err_clear();
    return CSA_OK;
}

/*
 * Puts the new pair back out of reach when part of it is gone (a module
 * that lost an object relabelled in place while the process was killed):
 * the journal's new objects are deleted, the old pair is restored under
 * the label from its copy under "<label>.retired" where one was made, and
 * the renewal is simply made again.
 */
static csa_err agt_swap_undo(tok_ctx *tok, const char *state_dir,
                             const agt_identity *id, const agt_journal *j,
                             const char *missing)
{
    agt_labels l;
    csa_err err;

    agt_labels_of(id, &l);
    csa_warn("swap",
             "%s: the renewed %s (id %s) is gone from the token, lost while "
             "the swap was interrupted; rolling back to the previous "
             "certificate, the renewal will be made again",
             id->name, missing, j->new_id);
    if ((err = agt_pair_destroy(tok, l.next, j->new_id, j->new_fp,
                                j->rotate)) != CSA_OK ||
        (err = agt_pair_destroy(tok, l.cur, j->new_id, j->new_fp, j->rotate)) !=
            CSA_OK)
        return err;
    if (j->old_id[0] != '\0' && j->old_fp[0] != '\0' &&
        (err = agt_pair_copy(tok, l.retired, l.cur, j->old_id, j->old_fp,
                             j->rotate, true)) == CSA_ERR_NOT_FOUND)
        csa_err_clear(); /* no copy was kept aside */
    else if (err != CSA_OK)
        return err;
    if (j->old_id[0] != '\0' &&
        (err = agt_pair_destroy(tok, l.retired, j->old_id, j->old_fp,
                                j->rotate)) != CSA_OK)
        return err;
    if ((err = agt_swap_publish(tok, state_dir, id, NULL, NULL)) ==
        CSA_ERR_NOT_FOUND)
        csa_err_clear(); /* a first enrollment: nothing to publish */
    else if (err != CSA_OK)
        return err;
    return agt_journal_remove(state_dir, id);
}

/* Step "stored" to "aside": the previous retired pair goes, and with a
 * grace period the current pair is copied under "<label>.retired".  The
 * label still resolves to the old pair. */
static csa_err agt_step_aside(tok_ctx *tok, const char *state_dir,
                              const agt_identity *id, agt_journal *j,
                              const agt_labels *l)
{
    csa_err err = agt_grace_drop(tok, state_dir, id);

    if (err == CSA_OK && j->old_id[0] != '\0' && j->old_fp[0] != '\0' &&
        id->retire_grace > 0 &&
        (err = agt_pair_copy(tok, l->cur, l->retired, j->old_id, j->old_fp,
                             j->rotate, false)) == CSA_ERR_UNSUPPORTED) {
        csa_warn("swap",
                 "%s: the token does not copy objects (%s); the retired "
                 "pair is not kept for retire_grace",
                 id->name, csa_errmsg());
        csa_err_clear();
        err = CSA_OK;
    }
    if (err != CSA_OK)
        return err;
    j->step = AGT_STEP_ASIDE;
    return agt_journal_write(state_dir, id, j);
}

/* The new objects as this process made them in this locked renewal
 * (agt_swap_commit): their handles in agt_pair_names order, and the
 * session generation they belong to.  A swap resumed from the journal
 * (another process, or an earlier attempt) has none (n == 0) and looks
 * every object up on the token. */
typedef struct {
    tok_handle h[3];
    int n;
    unsigned generation;
    X509 *leaf;              /* the new certificate; borrowed */
    agt_cas cas;             /* "<label>.chain" as agt_store_chain left it */
    const agt_swap_old *old; /* the old pair as the renewal found it */
} agt_made;

/* What the label step acts on, looked up before it starts so that the
 * step itself is nothing but C_DestroyObject and C_CopyObject calls. */
typedef struct {
    tok_handle *old[3]; /* per name: the old objects under the label */
    size_t n_old[3];
    tok_handle src[3]; /* per name: the new object under .next (0: none) */
    int done[3];       /* per name: its copy is already under the label */
    int moved[3];      /* per name: src itself was relabelled, not copied */
    int made;          /* src came from agt_made, not from a search */
} agt_plan;

static void agt_plan_free(agt_plan *p)
{
    int i;

    for (i = 0; i < 3; i++)
        free(p->old[i]);
}

/* Whether a handle kept since it was found or made still names that
 * object (class, label and id read back): another program may have
 * deleted ours meanwhile, and a module may give its handle to a new
 * object. */
static bool agt_handle_is(tok_ctx *tok, tok_handle h, const agt_name *name)
{
    unsigned char id[TOK_ID_MAX];
    int id_len = agt_unhex(name->id, id, sizeof(id));

    if (id_len <= 0 ||
        tok_obj_is(tok, h, name->cls, name->label, id, (size_t)id_len))
        return id_len > 0;
    csa_warn("swap",
             "an object '%s' found earlier is gone or changed; looking "
             "it up again",
             name->label);
    return false;
}

/* The new objects this process made a moment ago under the same lock:
 * their handles need no search (six of them, with a new key), and none
 * can have a copy under the label yet (the journal went from "keygen" to
 * "stored" in this process, and only a resumed step copies early). */
static bool agt_plan_made(tok_ctx *tok, const agt_made *made,
                          const agt_name *news, int nn, agt_plan *p)
{
    int i;

    if (made == NULL || made->n != nn ||
        made->generation != tok_generation(tok))
        return false;
    for (i = 0; i < nn; i++)
        if (!agt_handle_is(tok, made->h[i], &news[i]))
            return false;
    for (i = 0; i < nn; i++)
        p->src[i] = made->h[i];
    p->made = 1;
    return true;
}

/* The old pair's handles from the start of this renewal (agt_swap_old)
 * for the journal's names olds[no], when they are good for this session
 * and name the same pair the journal does. */
static bool agt_plan_old(tok_ctx *tok, const agt_journal *j,
                         const agt_made *made, const agt_name *olds, int no,
                         agt_plan *p)
{
    const agt_swap_old *o = made != NULL ? made->old : NULL;
    int i;

    if (o == NULL || !o->known || o->generation != tok_generation(tok) ||
        strcmp(o->id, j->old_id) != 0 || strcmp(o->fp, j->old_fp) != 0)
        return false;
    for (i = 0; i < no; i++) {
        size_t n = o->n[olds[i].cls], k;

        for (k = 0; k < n; k++)
            if (!agt_handle_is(tok, o->h[olds[i].cls][k], &olds[i])) {
                while (i-- > 0) {
                    free(p->old[i]);
                    p->old[i] = NULL;
                    p->n_old[i] = 0;
                }
                return false;
            }
        if ((p->old[i] = calloc(n ? n : 1, sizeof(*p->old[i]))) == NULL) {
            while (i-- > 0) {
                free(p->old[i]);
                p->old[i] = NULL;
                p->n_old[i] = 0;
            }
            return false;
        }
        memcpy(p->old[i], o->h[olds[i].cls], n * sizeof(*p->old[i]));
        p->n_old[i] = n;
    }
    return true;
}

/* Looks up every object the label step acts on.  A new object under
 * neither label is an error, or, with missing, named there (the caller
 * rolls back; *missing stays NULL when the new pair is whole).  made: the
 * new objects' handles when this process made them, or NULL. */
static csa_err agt_plan_make(tok_ctx *tok, const agt_journal *j,
                             const agt_labels *l, const agt_made *made,
                             agt_plan *p, const char **missing)
{
    static const char *const what[] = {"public key", "private key",
                                       "certificate"};
    agt_name olds[3], news[3];
    tok_handle *objs = NULL;
    size_t n = 0;
    int no = 0, nn, i;
    csa_err err = CSA_OK;

    memset(p, 0, sizeof(*p));
    if (j->old_id[0] != '\0' && (j->rotate || j->old_fp[0] != '\0'))
        no = agt_pair_names(l->cur, j->old_id, j->old_fp, j->rotate, olds);
    nn = agt_pair_names(l->next, j->new_id, j->new_fp, j->rotate, news);
    if (no > 0 && !agt_plan_old(tok, j, made, olds, no, p))
        err = agt_named_pair(tok, olds, no, p->old, p->n_old);
    if (err == CSA_OK && agt_plan_made(tok, made, news, nn, p))
        nn = 0;
    for (i = 0; err == CSA_OK && i < nn; i++) {
        agt_name there = news[i];

        there.label = l->cur;
        if ((err = agt_named_count(tok, &there, &n)) != CSA_OK)
            break;
        p->done[i] = n > 0;
        if ((err = agt_named(tok, &news[i], &objs, &n)) == CSA_OK && n > 0)
            p->src[i] = objs[0];
        else if (err == CSA_OK && !p->done[i] && missing != NULL &&
                 *missing == NULL)
            *missing = what[news[i].cls == TOK_CLASS_CERTIFICATE   ? 2
                            : news[i].cls == TOK_CLASS_PRIVATE_KEY ? 1
                                                                   : 0];
        else if (err == CSA_OK && !p->done[i] && missing == NULL)
            err = csa_raise(CSA_ERR_NOT_FOUND,
                            "the renewed object '%s' id %s is gone",
                            news[i].label, news[i].id);
        free(objs);
        objs = NULL;
    }
    return err;
}

static csa_err agt_plan_destroy_old(tok_ctx *tok, agt_plan *p)
{
    int i;
    size_t k;
    csa_err err = CSA_OK;

    /* certificate (index 2 with keys, 0 without) first, then the keys */
    for (i = 2; i >= 0; i--)
        for (k = 0; err == CSA_OK && k < p->n_old[i]; k++)
            err = tok_obj_destroy(tok, p->old[i][k]);
    return err;
}

/* Copies the new objects in: keys first, certificate last.  A module that
 * refuses (or fails) a copy gets a relabel in place (see agt_named_copy). */
static csa_err agt_plan_copy_new(tok_ctx *tok, agt_plan *p, const char *to)
{
    int i;
    csa_err err = CSA_OK;

    for (i = 0; err == CSA_OK && i < 3; i++) {
        if (p->done[i] || p->src[i] == 0)
            continue;
        if ((err = tok_obj_copy(tok, p->src[i], to, NULL)) != CSA_OK) {
            csa_warn("swap", "copying to '%s' failed (%s); relabelling", to,
                     csa_errmsg());
            csa_err_clear();
            err = tok_obj_relabel(tok, p->src[i], to);
            p->moved[i] = 1;
        }
    }
    return err;
}

static double agt_ms_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * Step "aside" to "promoted": the only moment the label changes.
 * - Kept key: the new certificate is added, then the old one deleted; both
 *   match the key, so a signer never goes without a pair.
 * - New key: the old certificate goes first, then the old keys (from here
 *   the label has no certificate: signers find nothing to pair), then the
 *   new keys are copied in and the new certificate last.  The label never
 *   holds two keys, two certificates of different keys, or a key with
 *   another's certificate; a kill leaves it in one of those states, and
 *   recovery resumes the same list.
 * Every lookup happens before the first change (the plan pp, made by the
 * caller), so the moment lasts six PKCS#11 calls.
 */
static csa_err agt_step_promote(tok_ctx *tok, const char *state_dir,
                                const agt_identity *id, agt_journal *j,
                                const agt_labels *l, agt_plan *pp)
{
    struct timespec t0;
    csa_err err;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!j->rotate) {
        if ((err = agt_plan_copy_new(tok, pp, l->cur)) == CSA_OK)
            err = agt_plan_destroy_old(tok, pp);
    } else if ((err = agt_plan_destroy_old(tok, pp)) == CSA_OK) {
        err = agt_plan_copy_new(tok, pp, l->cur);
    }
    if (err != CSA_OK)
        return err;
    /* docs/operations.md states this window; the log lets operators see
     * it on their own token. */
    csa_info("swap", "%s: label '%s' changed in %.1f ms (%s)", id->name, l->cur,
             agt_ms_since(&t0),
             j->rotate ? "new key: no complete pair meanwhile"
                       : "kept key: a pair all along");
    j->step = AGT_STEP_PROMOTED;
    return agt_journal_write(state_dir, id, j);
}

/* The ".next" originals the plan found (by the journal's label, id and
 * fingerprint) and copied: deleted by handle, certificate first.  One
 * relabelled in place is the promoted object now and stays. */
static csa_err agt_plan_destroy_src(tok_ctx *tok, const agt_plan *p)
{
    int i;
    csa_err err = CSA_OK;

    for (i = 2; err == CSA_OK && i >= 0; i--)
        if (p->src[i] != 0 && !p->moved[i])
            err = tok_obj_destroy(tok, p->src[i]);
    return err;
}

csa_err agt_label_used(tok_ctx *tok, const char *label, bool *used)
{
    tok_handle *objs = NULL;
    size_t n = 0;
    csa_err err =
        tok_find_handles(tok, label, NULL, 0, TOK_CLASS_OTHER, &objs, &n);

    free(objs);
    *used = err != CSA_OK || n > 0;
    return err;
}

/* After "promoted": the pending originals and (without a grace period)
 * the copy kept aside go; the chain file follows the token, written before
 * the journal goes so that a crash in between rewrites it.  p: the plan
 * the promotion followed in this process, or NULL (resumed at "promoted"). */
static csa_err agt_step_finish(tok_ctx *tok, const char *state_dir,
                               const agt_identity *id, const agt_journal *j,
                               const agt_labels *l, const agt_plan *p,
                               agt_made *made)
{
    bool used = true;
    csa_err err = p != NULL ? agt_plan_destroy_src(tok, p)
                            : agt_pair_destroy(tok, l->next, j->new_id,
                                               j->new_fp, j->rotate);

    if (err == CSA_OK && j->old_id[0] != '\0' && j->old_fp[0] != '\0') {
        /* No copy under ".retired" to look for when this process ran
         * every step without a grace period: step aside made none, and
         * any earlier one went with the grace file (agt_grace_drop) or
         * with the roll-back that restored it (agt_swap_undo). */
        if (id->retire_grace == 0 && p != NULL && p->made)
            used = false;
        if (id->retire_grace > 0) {
            err = agt_grace_write(state_dir, id, j);
            csa_info("swap", "%s: keeping the retired pair as '%s' for %lds",
                     id->name, l->retired, id->retire_grace);
        } else if (used &&
                   (err = agt_label_used(tok, l->retired, &used)) == CSA_OK &&
                   used) {
            err = agt_pair_destroy(tok, l->retired, j->old_id, j->old_fp,
                                   j->rotate);
        }
    }
    if (err == CSA_OK)
        err = p != NULL && p->made && made->generation == tok_generation(tok)
                  ? agt_swap_publish(tok, state_dir, id, made->leaf, &made->cas)
                  : agt_swap_publish(tok, state_dir, id, NULL, NULL);
    if (err == CSA_OK)
        err = agt_journal_remove(state_dir, id);
    return err;
}

/* Roll forward from "stored", "aside" or "promoted", holding the use lock
 * (signers under `csagent exec` are waited for, never interrupted). */
static csa_err agt_swap_forward(tok_ctx *tok, const char *state_dir,
                                const agt_identity *id, agt_journal *j,
                                agt_made *made)
{
    const char *missing = NULL;
    agt_labels l;
    agt_plan p = {0};
    bool planned = false;
    int use;
    csa_err err = CSA_OK;

    agt_labels_of(id, &l);
    if ((use = agt_use_lock(state_dir, id, AGT_LOCK_EXCLUSIVE,
                            id->signer_wait)) < 0) {
        char msg[1024];

        snprintf(msg, sizeof(msg), "%s", csa_errmsg());
        return csa_raise(CSA_ERR_BUSY,
                         "%s: the renewed certificate is stored under '%s' "
                         "and will be swapped in at the next attempt",
                         msg, l.next);
    }
    /* The plan is made before step aside (which touches only
     * "<label>.retired"), and it is also the check that the new pair is
     * whole under ".next" or the label. */
    if (j->step < AGT_STEP_PROMOTED) {
        planned = true;
        err = agt_plan_make(tok, j, &l, made, &p, &missing);
    }
    if (err == CSA_OK && missing != NULL) {
        agt_plan_free(&p);
        err = agt_swap_undo(tok, state_dir, id, j, missing);
        agt_unlock(use);
        return err;
    }
    if (err == CSA_OK && j->step == AGT_STEP_STORED)
        err = agt_step_aside(tok, state_dir, id, j, &l);
    if (err == CSA_OK && j->step == AGT_STEP_ASIDE &&
        (err = agt_step_promote(tok, state_dir, id, j, &l, &p)) != CSA_OK) {
        /* The label may hold no complete pair now: one more try at once
         * rather than after the next back-off (a token hiccup), with the
         * objects looked up again. */
        csa_warn("swap", "%s: swap-in step failed (%s); trying it again",
                 id->name, csa_errmsg());
        csa_err_clear();
        agt_plan_free(&p);
        if ((err = agt_plan_make(tok, j, &l, NULL, &p, NULL)) == CSA_OK)
            err = agt_step_promote(tok, state_dir, id, j, &l, &p);
    }
    if (err == CSA_OK)
        err = agt_step_finish(tok, state_dir, id, j, &l, planned ? &p : NULL,
                              made);
    if (planned)
        agt_plan_free(&p);
    agt_unlock(use);
    return err;
}

csa_err agt_swap_abort(tok_ctx *tok, const char *state_dir,
                       const agt_identity *id)
{
    agt_journal j;
    agt_labels l;
    csa_err err = agt_journal_read(state_dir, id, &j);

    if (err == CSA_ERR_NOT_FOUND) {
        csa_err_clear();
        return CSA_OK;
    }
    if (err != CSA_OK)
        return err;
    /* From "stored" on the swap only rolls forward, at the next start. */
    if (j.step >= AGT_STEP_STORED)
        return CSA_OK;
    agt_labels_of(id, &l);
    if (j.new_id[0] == '\0')
        csa_warn("swap",
                 "%s: the interrupted renewal's journal (from an older "
                 "csagent) names no object; anything it left under '%s' "
                 "stays (see csagent list)",
                 id->name, l.next);
    else if (j.rotate)
        err = agt_pair_destroy(tok, l.next, j.new_id, j.new_fp, true);
    else if (j.new_fp[0] != '\0')
        err = agt_pair_destroy(tok, l.next, j.new_id, j.new_fp, false);
    if (err != CSA_OK)
        return err;
    return agt_journal_remove(state_dir, id);
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
    agt_labels l;
    csa_err err = agt_journal_read(state_dir, id, &j);

    if (err == CSA_ERR_NOT_FOUND) {
        csa_err_clear();
        return CSA_OK;
    }
    if (err != CSA_OK)
        return err;
    agt_labels_of(id, &l);
    if (j.step < AGT_STEP_STORED) {
        csa_warn("swap",
                 "%s: rolling back a renewal interrupted before "
                 "its certificate was stored",
                 id->name);
        return agt_swap_abort(tok, state_dir, id);
    }
    if (j.legacy && (err = agt_legacy_old(tok, &l, &j)) != CSA_OK)
        return err;
    csa_warn("swap", "%s: finishing a swap interrupted at step %s", id->name,
             agt_step_name(j.step));
    return agt_swap_forward(tok, state_dir, id, &j, NULL);
}

/* The pair under the label now: the key's id, and its certificate's
 * SHA-256 (the one with the latest notAfter when there are several),
 * found with a search per object. */
static csa_err agt_current_pair_search(tok_ctx *tok, const agt_identity *id,
                                       agt_journal *j)
{
    tok_handle *objs = NULL;
    tok_key *cur = NULL;
    X509 *best = NULL;
    const unsigned char *kid;
    size_t kid_len, n = 0, i;
    csa_err err = tok_key_find(tok, id->label, &cur);

    if (err == CSA_ERR_NOT_FOUND) {
        csa_err_clear(); /* a first enrollment */
        return CSA_OK;
    }
    if (err != CSA_OK)
        return err;
    kid = tok_key_id(cur, &kid_len);
    agt_hex(kid, kid_len, j->old_id);
    err = tok_find_handles(tok, id->label, kid, kid_len, TOK_CLASS_CERTIFICATE,
                           &objs, &n);
    for (i = 0; err == CSA_OK && i < n; i++) {
        X509 *x = NULL;

        if (tok_cert_get(tok, objs[i], &x) != CSA_OK) {
            csa_err_clear();
            continue;
        }
        if (best == NULL || ASN1_TIME_compare(X509_get0_notAfter(x),
                                              X509_get0_notAfter(best)) > 0) {
            X509_free(best);
            best = x;
        } else {
            X509_free(x);
        }
    }
    if (best != NULL)
        agt_cert_fp(best, j->old_fp);
    X509_free(best);
    free(objs);
    tok_key_free(cur);
    return err;
}

void agt_swap_pem_mark(const char *state_dir, const agt_identity *id,
                       agt_pem_mark *out)
{
    char path[4096];
    struct stat st;

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "%s/%s.pem", state_dir, id->name);
    if (lstat(path, &st) != 0) {
        out->unknown = errno != ENOENT;
        return;
    }
    out->exists = true;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    out->mtime = st.st_mtim;
}

bool agt_swap_snap_usable(const char *state_dir, const agt_identity *id,
                          const agt_pem_mark *before)
{
    char path[4096];
    struct stat st;
    agt_pem_mark now;

    snprintf(path, sizeof(path), "%s/%s.journal", state_dir, id->name);
    if (before == NULL || lstat(path, &st) == 0 || errno != ENOENT)
        return false;
    agt_swap_pem_mark(state_dir, id, &now);
    return !before->unknown && !now.unknown && now.exists == before->exists &&
           now.dev == before->dev && now.ino == before->ino &&
           now.mtime.tv_sec == before->mtime.tv_sec &&
           now.mtime.tv_nsec == before->mtime.tv_nsec;
}

/* The label's objects as tok_label_census lists them, from the snapshot
 * snap[n_snap] without a search when it lists nothing there (a first
 * enrollment), or exactly one private key there with a certificate of its
 * id, and each object it lists there other than a certificate still reads
 * back as listed (class, label, id: one C_GetAttributeValue each, as the
 * census's own reads; certificates are checked as they are read,
 * agt_current_pair).  Else (no snapshot, a key without a certificate,
 * several keys, an object gone or changed since: another process renewed
 * meanwhile) one search.  *from_snap tells which. */
static csa_err agt_label_objects(tok_ctx *tok, const char *label,
                                 const tok_labelled *snap, size_t n_snap,
                                 tok_census **objs, size_t *n, bool *from_snap)
{
    size_t first = 0,
           k = snap ? tok_labelled_range(snap, n_snap, label, &first) : 0, i,
           privs = 0, certs = 0;
    const tok_labelled *priv = NULL;

    *from_snap = false;
    /* nothing under the label (a first enrollment), where the list would
     * show the label and its derived ones (128 bytes at most) */
    if (snap != NULL && k == 0 && strlen(label) + strlen(".retired") <= 128) {
        if ((*objs = calloc(1, sizeof(**objs))) == NULL)
            return csa_raise(CSA_ERR_NOMEM, "out of memory");
        *n = 0;
        *from_snap = true;
        return CSA_OK;
    }
    for (i = 0; i < k; i++)
        if (snap[first + i].cls == TOK_CLASS_PRIVATE_KEY && privs++ == 0)
            priv = &snap[first + i];
    /* and a certificate of that key: a listing made while another swap
     * was between its steps may show a pair under way, whose missing half
     * this renewal would then not know of */
    for (i = 0; privs == 1 && priv->id_len > 0 && i < k; i++)
        certs += snap[first + i].cls == TOK_CLASS_CERTIFICATE &&
                 snap[first + i].id_len == priv->id_len &&
                 memcmp(snap[first + i].id, priv->id, priv->id_len) == 0;
    if (privs != 1 || certs == 0)
        return tok_label_census(tok, label, objs, n);
    if ((*objs = calloc(k, sizeof(**objs))) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    for (i = 0; i < k; i++) {
        const tok_labelled *e = &snap[first + i];

        /* certificates are checked as agt_current_pair reads them
         * (tok_cert_get_if); those of another key are not used */
        if (e->cls != TOK_CLASS_CERTIFICATE &&
            !tok_obj_is(tok, e->handle, e->cls, label, e->id, e->id_len)) {
            free(*objs);
            *objs = NULL;
            return tok_label_census(tok, label, objs, n);
        }
        (*objs)[i].handle = e->handle;
        (*objs)[i].cls = e->cls;
        memcpy((*objs)[i].id, e->id, e->id_len);
        (*objs)[i].id_len = e->id_len;
    }
    *n = k;
    *from_snap = true;
    return CSA_OK;
}

/* The certificates under "<label>.chain" in the snapshot, into old (no
 * token call: the swap reads each back before it uses it). */
static void agt_snap_chain(const agt_identity *id, const tok_labelled *snap,
                           size_t n_snap, agt_swap_old *old)
{
    agt_labels l;
    size_t first = 0, k, i;

    agt_labels_of(id, &l);
    k = tok_labelled_range(snap, n_snap, l.chain, &first);
    old->chain_known = 1;
    for (i = 0; i < k && old->chain_known; i++) {
        const tok_labelled *e = &snap[first + i];

        if (e->cls != TOK_CLASS_CERTIFICATE)
            continue;
        if (old->chain_n == AGT_OLD_MAX) {
            old->chain_known = 0;
            break;
        }
        old->chain_h[old->chain_n] = e->handle;
        memcpy(old->chain_id[old->chain_n], e->id, e->id_len);
        old->chain_id_len[old->chain_n++] = e->id_len;
    }
}

/* The same from one search of the label (tok_label_census), or from the
 * round's snapshot (agt_label_objects), keeping the handles of the pair in
 * old.  No private key under the label is a first enrollment; several go
 * the way of agt_current_pair_search, and its error that names the
 * ambiguity. */
static csa_err agt_current_pair(tok_ctx *tok, const agt_identity *id,
                                const tok_labelled *snap, size_t n_snap,
                                agt_journal *j, agt_swap_old *old)
{
    tok_census *objs = NULL, *priv = NULL;
    char(*fps)[AGT_HEX_FP_MAX] = NULL;
    X509 *best = NULL;
    size_t n = 0, i, privs = 0;
    bool from_snap = false;
    csa_err err;

    memset(old, 0, sizeof(*old));
    err =
        agt_label_objects(tok, id->label, snap, n_snap, &objs, &n, &from_snap);
    if (err != CSA_OK)
        return err;
    for (i = 0; i < n; i++)
        if (objs[i].cls == TOK_CLASS_PRIVATE_KEY && privs++ == 0)
            priv = &objs[i];
    if (privs == 0) {
        /* a first enrollment; "<label>.chain" from the same list */
        if (from_snap) {
            old->generation = tok_generation(tok);
            agt_snap_chain(id, snap, n_snap, old);
        }
        free(objs);
        return CSA_OK;
    }
    if (privs != 1 || priv->id_len == 0) {
        free(objs);
        return agt_current_pair_search(tok, id, j);
    }
    agt_hex(priv->id, priv->id_len, j->old_id);
    /* the certificates of that key: the newest one's SHA-256, and each
     * one's (fps[i]: "" for other objects and unreadable certificates) */
    if ((fps = calloc(n, sizeof(*fps))) == NULL) {
        free(objs);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        X509 *x = NULL;

        if (objs[i].cls != TOK_CLASS_CERTIFICATE ||
            objs[i].id_len != priv->id_len ||
            memcmp(objs[i].id, priv->id, priv->id_len) != 0)
            continue;
        /* from the snapshot: checked as read (one call for both) */
        err = from_snap ? tok_cert_get_if(tok, objs[i].handle, id->label,
                                          objs[i].id, objs[i].id_len, &x)
                        : tok_cert_get(tok, objs[i].handle, &x);
        if (err == CSA_ERR_NOT_FOUND && from_snap) {
            /* changed since the listing: the label is searched */
            X509_free(best);
            free(fps);
            free(objs);
            j->old_id[0] = j->old_fp[0] = '\0';
            return agt_current_pair(tok, id, NULL, 0, j, old);
        }
        if (err != CSA_OK) {
            csa_err_clear();
            err = CSA_OK;
            continue;
        }
        agt_cert_fp(x, fps[i]);
        if (best == NULL || ASN1_TIME_compare(X509_get0_notAfter(x),
                                              X509_get0_notAfter(best)) > 0) {
            X509_free(best);
            best = x;
            snprintf(j->old_fp, sizeof(j->old_fp), "%s", fps[i]);
        } else {
            X509_free(x);
        }
    }
    X509_free(best);
    /* What agt_plan_make would find by the journal's names: the keys and
     * certificates of that id, a certificate only with that SHA-256 (any,
     * when none could be read). */
    old->known = 1;
    old->generation = tok_generation(tok);
    snprintf(old->id, sizeof(old->id), "%s", j->old_id);
    snprintf(old->fp, sizeof(old->fp), "%s", j->old_fp);
    for (i = 0; i < n && old->known; i++) {
        tok_census *c = &objs[i];

        if ((c->cls != TOK_CLASS_PUBLIC_KEY &&
             c->cls != TOK_CLASS_PRIVATE_KEY &&
             c->cls != TOK_CLASS_CERTIFICATE) ||
            c->id_len != priv->id_len ||
            memcmp(c->id, priv->id, priv->id_len) != 0)
            continue;
        if (c->cls == TOK_CLASS_CERTIFICATE && j->old_fp[0] != '\0' &&
            strcmp(fps[i], j->old_fp) != 0)
            continue;
        if (old->n[c->cls] == AGT_OLD_MAX)
            old->known = 0;
        else
            old->h[c->cls][old->n[c->cls]++] = c->handle;
    }
    /* the label read back as the snapshot listed it: nobody renewed it
     * since, so "<label>.chain" is as listed too */
    if (from_snap && old->known)
        agt_snap_chain(id, snap, n_snap, old);
    free(fps);
    free(objs);
    return CSA_OK;
}

/* The current key as agt_current_pair found it, without a search. */
static csa_err agt_old_key(tok_ctx *tok, const agt_identity *id,
                           const agt_swap_old *old, tok_key **key)
{
    if (old->known && old->n[TOK_CLASS_PRIVATE_KEY] == 1 &&
        old->generation == tok_generation(tok))
        return tok_key_from_handles(tok, old->h[TOK_CLASS_PRIVATE_KEY][0],
                                    old->n[TOK_CLASS_PUBLIC_KEY] == 1
                                        ? old->h[TOK_CLASS_PUBLIC_KEY][0]
                                        : 0,
                                    key);
    return tok_key_find(tok, id->label, key);
}

csa_err agt_swap_begin(tok_ctx *tok, const char *state_dir,
                       const agt_identity *id, bool rotate,
                       const tok_labelled *snap, size_t n_snap, tok_key **key,
                       agt_swap_old *old_out)
{
    agt_swap_old old_here, *old = old_out != NULL ? old_out : &old_here;
    unsigned char nid[TOK_ID_LEN];
    agt_journal j = {.step = AGT_STEP_KEYGEN};
    tok_key_type type = TOK_KEY_EC_P256;
    agt_labels l;
    csa_err err;

    *key = NULL;
    agt_labels_of(id, &l);
    if ((id->key_type != NULL &&
         (err = tok_key_type_parse(id->key_type, &type)) != CSA_OK) ||
        (err = agt_current_pair(tok, id, snap, n_snap, &j, old)) != CSA_OK)
        return err;
    j.rotate = rotate || j.old_id[0] == '\0';
    if (!j.rotate) {
        /* The key stays; only a certificate is added. */
        snprintf(j.new_id, sizeof(j.new_id), "%s", j.old_id);
        if ((err = agt_journal_write(state_dir, id, &j)) != CSA_OK)
            return err;
        return agt_old_key(tok, id, old, key);
    }
    /* The new key's id is chosen and journalled before the key exists, so
     * that whatever a crash inside C_GenerateKeyPair leaves is ours by
     * label and id, and nothing else ever is. */
    if ((err = tok_random_id(tok, nid, sizeof(nid))) != CSA_OK)
        return err;
    agt_hex(nid, sizeof(nid), j.new_id);
    if ((err = agt_journal_write(state_dir, id, &j)) != CSA_OK)
        return err;
    return tok_key_generate_id(tok, l.next, type, nid, sizeof(nid), true, key);
}

csa_err agt_swap_commit(tok_ctx *tok, const char *state_dir,
                        const agt_identity *id, tok_key *key,
                        STACK_OF(X509) * chain, const agt_swap_old *old)
{
    char kid_hex[AGT_HEX_ID_MAX];
    const unsigned char *kid;
    size_t kid_len;
    agt_made made = {.generation = tok_generation(tok),
                     .leaf = sk_X509_value(chain, 0),
                     .old = old};
    tok_handle cert = 0;
    agt_journal j;
    agt_labels l;
    csa_err err = agt_journal_read(state_dir, id, &j);

    if (err == CSA_ERR_NOT_FOUND)
        return csa_raise(CSA_ERR_INVALID,
                         "%s: no swap journal: the renewal was not begun",
                         id->name);
    if (err != CSA_OK)
        return err;
    kid = tok_key_id(key, &kid_len);
    agt_hex(kid, kid_len > TOK_ID_MAX ? TOK_ID_MAX : kid_len, kid_hex);
    if (j.step != AGT_STEP_KEYGEN || strcmp(kid_hex, j.new_id) != 0)
        return csa_raise(CSA_ERR_INVALID,
                         "%s: the swap journal names another key (%s) or "
                         "step (%s)",
                         id->name, j.new_id, agt_step_name(j.step));
    agt_labels_of(id, &l);
    agt_cert_fp(sk_X509_value(chain, 0), j.new_fp);
    j.step = AGT_STEP_STORING;
    if ((err = agt_journal_write(state_dir, id, &j)) != CSA_OK ||
        (err = tok_cert_store(tok, sk_X509_value(chain, 0), l.next, kid,
                              kid_len, &cert)) != CSA_OK ||
        (err = agt_store_chain(tok, &l, chain, old, &made.cas)) != CSA_OK)
        goto done;
    j.step = AGT_STEP_STORED;
    if ((err = agt_journal_write(state_dir, id, &j)) != CSA_OK)
        goto done;
    /* The new pair as agt_pair_names lists it: with a new key, the key
     * this process generated under ".next" (agt_swap_begin), then the
     * certificate it just stored. */
    if (cert != 0 && !j.rotate) {
        made.h[0] = cert;
        made.n = 1;
    } else if (cert != 0 && tok_key_handles(key, &made.h[1], &made.h[0])) {
        made.h[2] = cert;
        made.n = 3;
    }
    err = agt_swap_forward(tok, state_dir, id, &j, &made);
done:
    agt_cas_free(&made.cas);
    return err;
}
