/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The account key in the token, its lock and its rollover.
 *
 * Lock: <state_dir>/account.lock (agent/agt_lock.h, agent/agt_session.h).
 * A rollover holds it exclusive for its whole duration; everything that
 * signs with the account key holds it shared, so neither sees the other
 * half way.  Settling an interrupted rollover takes it exclusive.
 *
 * Journal: <state_dir>/account.journal, written (temp file, fsync, rename,
 * fsync of the directory) before the token is touched.  It is the only
 * proof that an object is ours: recovery deletes only the new pair
 * ("<label>.next" with the CKA_ID chosen and journalled before the key was
 * generated) and, once the CA accepted the new key, the old pair (its
 * CKA_ID journalled too).  Steps:
 *
 *   keygen    written before the new key is generated; the CA may or may
 *             not have accepted it yet: recovery asks the CA with the new
 *             key and rolls forward if it knows it, else deletes the new
 *             pair;
 *   changed   the CA accepted keyChange: the new key is the account's;
 *             recovery (and the rollover itself) relabels the old pair to
 *             "<label>.retired" (in place: it is worthless now), copies the
 *             new pair to "<label>" and deletes the ".next" originals;
 *   promoted  the new pair carries the label; the retired pair is deleted,
 *             then the journal.
 *
 * The CA stays the judge of which key is the account's.  Without a journal
 * nothing is deleted: a "<label>.next" key the CA gives our account to (an
 * interrupted rollover of an older csagent) is moved to the label and the
 * old key kept under "<label>.retired" for the operator to delete; any
 * other ".next"/".retired" object is reported as not attributable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agt_journal.h"
#include "agt_session.h"
#include "agt_swap.h"
#include "csa_log.h"
#include "csa_util.h"

#define AGT_ACCOUNT_LOCK "account.lock"
#define AGT_ACCOUNT_JOURNAL "account.journal"
#define AGT_ACCT_LABEL_MAX (AGT_LABEL_LEN_MAX + 16)
#define AGT_ACCT_HEX_MAX (2 * TOK_ID_MAX + 1)

typedef enum {
    AGT_ACCT_KEYGEN = 0,
    AGT_ACCT_CHANGED,
    AGT_ACCT_PROMOTED,
    AGT_ACCT__MAX
} agt_acct_step;

static const char *const agt_acct_step_names[AGT_ACCT__MAX] = {
    "keygen", "changed", "promoted"};

/* What the journal names: the labels, and the CKA_IDs of the old key (the
 * account's when the rollover began) and of the new one. */
typedef struct {
    agt_acct_step step;
    char label[AGT_ACCT_LABEL_MAX], next[AGT_ACCT_LABEL_MAX],
        retired[AGT_ACCT_LABEL_MAX];
    unsigned char old_id[TOK_ID_MAX], new_id[TOK_ID_MAX];
    size_t old_id_len, new_id_len;
    char account[1024]; /* the account URL, for the record and a check */
} agt_acct_journal;

static const char *agt_account_label(const agt_session *s)
{
    return s->cfg->account_key ? s->cfg->account_key
                               : AGT_DEFAULT_ACCOUNT_LABEL;
}

static void agt_acct_labels(const char *label, agt_acct_journal *j)
{
    snprintf(j->label, sizeof(j->label), "%s", label);
    snprintf(j->next, sizeof(j->next), "%s.next", label);
    snprintf(j->retired, sizeof(j->retired), "%s.retired", label);
}

/* Decodes 1 to TOK_ID_MAX bytes of hex; 0 when it is not that. */
static size_t agt_acct_unhex(const char *hex, unsigned char *out)
{
    int n = agt_unhex(hex, out, TOK_ID_MAX);

    return n > 0 ? (size_t)n : 0;
}

/* ------------------------------------------------------------------ */
/* Test-only stop points                                               */

/*
 * Test-only (tests/agent/rollover_concurrent.sh; never set these in
 * production):
 *   CSAGENT_ACCOUNT_CRASH_AT=<point>  abort()s at that point;
 *   CSAGENT_HOLD_AT=<point>:<fifo>    stops there: writes "held\n" into the
 *       FIFO (blocking until the test reads it), then blocks until the test
 *       writes into it, so that a test runs another csagent while this one
 *       stands at a known point, without sleeping and hoping.
 * Points: account-lock-wait (another process holds the account lock, just
 * before the bounded wait for it), keygen (journalled, before the new key
 * is generated), generated (before keyChange), accepted (the CA accepted
 * keyChange, not yet journalled), changed (journalled), retired (the old
 * pair relabelled), promoted (journalled: the new pair carries the label).
 */
static void agt_account_point(const char *point)
{
    const char *crash = getenv("CSAGENT_ACCOUNT_CRASH_AT");
    const char *hold = getenv("CSAGENT_HOLD_AT");
    size_t n = strlen(point);
    char c;
    int fd;

    if (crash != NULL && strcmp(crash, point) == 0) {
        csa_error("agent", "CSAGENT_ACCOUNT_CRASH_AT=%s: aborting on purpose",
                  point);
        abort();
    }
    if (hold == NULL || strncmp(hold, point, n) != 0 || hold[n] != ':')
        return;
    csa_info("agent", "CSAGENT_HOLD_AT=%s: holding (test only)", point);
    if ((fd = open(hold + n + 1, O_WRONLY | O_CLOEXEC)) >= 0) {
        if (write(fd, "held\n", 5) != 5)
            csa_warn("agent", "CSAGENT_HOLD_AT: write: %s", strerror(errno));
        close(fd);
    }
    if ((fd = open(hold + n + 1, O_RDONLY | O_CLOEXEC)) >= 0) {
        while (read(fd, &c, 1) < 0 && errno == EINTR)
            ;
        close(fd);
    }
    csa_info("agent", "CSAGENT_HOLD_AT=%s: released", point);
}

/* ------------------------------------------------------------------ */
/* The journal                                                         */

static csa_err agt_acct_journal_path(const agt_session *s, char *path,
                                     size_t size)
{
    if ((size_t)snprintf(path, size, "%s/%s", s->state_dir,
                         AGT_ACCOUNT_JOURNAL) >= size)
        return csa_raise(CSA_ERR_IO, "state directory path too long");
    return CSA_OK;
}

static bool agt_account_journal_exists(const agt_session *s)
{
    char path[4096];

    return agt_acct_journal_path(s, path, sizeof(path)) == CSA_OK &&
           access(path, F_OK) == 0;
}

static void agt_json_add_hex(json_object *o, const char *key,
                             const unsigned char *id, size_t len)
{
    char hex[AGT_ACCT_HEX_MAX];

    agt_hex(id, len, hex);
    json_object_object_add(o, key, json_object_new_string(hex));
}

static csa_err agt_acct_journal_write(const agt_session *s,
                                      const agt_acct_journal *j)
{
    json_object *o = json_object_new_object();
    char path[4096];
    const char *text;
    csa_err err = agt_acct_journal_path(s, path, sizeof(path));

    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(
        o, "step", json_object_new_string(agt_acct_step_names[j->step]));
    json_object_object_add(o, "label", json_object_new_string(j->label));
    json_object_object_add(o, "new_label", json_object_new_string(j->next));
    json_object_object_add(o, "retired_label",
                           json_object_new_string(j->retired));
    agt_json_add_hex(o, "new_id", j->new_id, j->new_id_len);
    agt_json_add_hex(o, "old_id", j->old_id, j->old_id_len);
    json_object_object_add(o, "account", json_object_new_string(j->account));
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    if (err == CSA_OK)
        err = csa_file_write_atomic(path, text, strlen(text), 0600);
    json_object_put(o);
    if (err != CSA_OK) {
        csa_err_context("account journal");
        return err;
    }
    csa_debug("agent", "account journal: step %s",
              agt_acct_step_names[j->step]);
    return CSA_OK;
}

static csa_err agt_acct_journal_remove(const agt_session *s)
{
    char path[4096];
    csa_err err = agt_acct_journal_path(s, path, sizeof(path));

    if (err == CSA_OK && unlink(path) != 0 && errno != ENOENT)
        err = csa_raise(CSA_ERR_IO, "cannot remove %s: %s", path,
                        strerror(errno));
    return err;
}

static const char *agt_json_str(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* Fills j from the parsed journal; returns the member that is wrong. */
static const char *agt_acct_journal_parse(json_object *o, const char *label,
                                          agt_acct_journal *j)
{
    const char *v;
    int i;

    agt_acct_labels(label, j);
    if ((v = agt_json_str(o, "step")) == NULL)
        return "step";
    for (i = 0; i < AGT_ACCT__MAX && strcmp(v, agt_acct_step_names[i]); i++)
        ;
    if (i == AGT_ACCT__MAX)
        return "step";
    j->step = (agt_acct_step)i;
    if ((v = agt_json_str(o, "label")) == NULL || strcmp(v, j->label))
        return "label (the configuration's account_key differs)";
    if ((v = agt_json_str(o, "new_label")) == NULL || strcmp(v, j->next))
        return "new_label";
    if ((v = agt_json_str(o, "retired_label")) == NULL || strcmp(v, j->retired))
        return "retired_label";
    if ((v = agt_json_str(o, "new_id")) == NULL ||
        (j->new_id_len = agt_acct_unhex(v, j->new_id)) == 0)
        return "new_id";
    if ((v = agt_json_str(o, "old_id")) == NULL ||
        (j->old_id_len = agt_acct_unhex(v, j->old_id)) == 0)
        return "old_id";
    if ((v = agt_json_str(o, "account")) != NULL)
        snprintf(j->account, sizeof(j->account), "%s", v);
    return NULL;
}

/* CSA_ERR_NOT_FOUND when there is none.  A journal that cannot be read is
 * an error naming the file, and the token is left alone. */
static csa_err agt_acct_journal_read(const agt_session *s, agt_acct_journal *j)
{
    char path[4096], *text = NULL;
    json_object *o = NULL;
    const char *bad = "JSON";
    csa_err err = agt_acct_journal_path(s, path, sizeof(path));

    memset(j, 0, sizeof(*j));
    if (err != CSA_OK)
        return err;
    if (access(path, F_OK) != 0)
        return CSA_ERR_NOT_FOUND;
    if ((err = csa_file_read(path, 1 << 16, &text, NULL)) != CSA_OK)
        return err;
    if ((o = json_tokener_parse(text)) != NULL)
        bad = agt_acct_journal_parse(o, agt_account_label(s), j);
    json_object_put(o);
    free(text);
    if (bad != NULL)
        return csa_raise(CSA_ERR_INVALID,
                         "account journal %s: bad or missing %s; the token is "
                         "left alone (move the file away only after checking "
                         "the '%s' keys with `csagent list`)",
                         path, bad, agt_account_label(s));
    return CSA_OK;
}

/* ------------------------------------------------------------------ */
/* Objects named by label and CKA_ID                                    */

static const char *agt_acct_class(tok_class cls)
{
    return cls == TOK_CLASS_PRIVATE_KEY  ? "private key"
           : cls == TOK_CLASS_PUBLIC_KEY ? "public key"
                                         : "object";
}

/* Deletes the objects labelled label with this CKA_ID: only ever called
 * with a label and id that the account journal named. */
static csa_err agt_destroy_named(tok_ctx *tok, const char *label,
                                 const unsigned char *id, size_t id_len)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    char hex[AGT_ACCT_HEX_MAX];
    csa_err err =
        tok_objects(tok, label, id, id_len, TOK_CLASS_OTHER, &objs, &n);

    agt_hex(id, id_len, hex);
    for (i = 0; err == CSA_OK && i < n; i++) {
        csa_info("agent",
                 "deleting the %s '%s' id %s (named by the account "
                 "journal)",
                 agt_acct_class(objs[i].cls), label, hex);
        err = tok_obj_destroy(tok, objs[i].handle);
    }
    free(objs);
    return err;
}

/* Relabels in place the objects labelled label with this CKA_ID. */
static csa_err agt_relabel_named(tok_ctx *tok, const char *label,
                                 const unsigned char *id, size_t id_len,
                                 const char *to)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    csa_err err =
        tok_objects(tok, label, id, id_len, TOK_CLASS_OTHER, &objs, &n);

    for (i = 0; err == CSA_OK && i < n; i++)
        err = tok_obj_relabel(tok, objs[i].handle, to);
    free(objs);
    return err;
}

/*
 * Moves the objects labelled from with this CKA_ID to label to by copy,
 * then delete: the source stays whole until its copy exists, so a crash
 * cannot lose the key the CA now knows (SoftHSM's file store rewrites an
 * object in place, and a process killed inside C_SetAttributeValue loses
 * it).  A copy already under to (a move interrupted between copy and
 * delete) is not made twice.  A module that refuses copies gets a relabel
 * in place (tok_obj_move).
 */
static csa_err agt_move_named(tok_ctx *tok, const char *from,
                              const unsigned char *id, size_t id_len,
                              const char *to)
{
    tok_obj_info *objs = NULL, *have = NULL;
    size_t n = 0, nhave = 0, i;
    csa_err err =
        tok_objects(tok, from, id, id_len, TOK_CLASS_OTHER, &objs, &n);

    for (i = 0; err == CSA_OK && i < n; i++) {
        err = tok_objects(tok, to, id, id_len, objs[i].cls, &have, &nhave);
        free(have);
        have = NULL;
        if (err == CSA_OK)
            err = nhave == 0 ? tok_obj_move(tok, objs[i].handle, to)
                             : tok_obj_destroy(tok, objs[i].handle);
    }
    free(objs);
    return err;
}

/* The private key labelled label with this CKA_ID (a pkcs11: URI with both
 * attributes percent-encoded, so any label works).  Caller frees. */
static csa_err agt_key_find_named(tok_ctx *tok, const char *label,
                                  const unsigned char *id, size_t id_len,
                                  tok_key **out)
{
    char uri[1024], *p = uri;
    size_t i, len = strlen(label);

    *out = NULL;
    if (len > 200 || id_len > TOK_ID_MAX)
        return csa_raise(CSA_ERR_INVALID, "label or id too long");
    p += sprintf(p, "pkcs11:object=");
    for (i = 0; i < len; i++)
        p += sprintf(p, "%%%02x", (unsigned char)label[i]);
    p += sprintf(p, ";id=");
    for (i = 0; i < id_len; i++)
        p += sprintf(p, "%%%02x", id[i]);
    return tok_key_find(tok, uri, out);
}

/* ------------------------------------------------------------------ */
/* The session's account key                                           */

/* Uses key as the session's account key (the session takes ownership).
 * keep_kid: the key is the same account's (a rollover, or the same key
 * read again), so the client keeps the account URL. */
static csa_err agt_account_use(agt_session *s, tok_key *key, bool keep_kid)
{
    agt_jws_key *signer = NULL;
    char *kid = NULL;
    csa_err err = agt_jws_key_new(key, NULL, &signer);

    if (err != CSA_OK) {
        tok_key_free(key);
        return err;
    }
    if (keep_kid && s->net != NULL && agt_net_kid(s->net) != NULL &&
        (kid = strdup(agt_net_kid(s->net))) == NULL) {
        agt_jws_key_free(signer);
        tok_key_free(key);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    agt_jws_key_free(s->account_signer);
    tok_key_free(s->account_key);
    s->account_key = key;
    s->account_signer = signer;
    if (s->net != NULL)
        err = agt_net_set_account(s->net, agt_jws_key_signer(signer), kid);
    free(kid);
    return err;
}

/* Whether key k has this CKA_ID. */
static bool agt_key_has_id(const tok_key *k, const unsigned char *id,
                           size_t id_len)
{
    size_t len;
    const unsigned char *kid = tok_key_id(k, &len);

    return len == id_len && memcmp(kid, id, len) == 0;
}

static csa_err agt_account_generate(agt_session *s, tok_key **key)
{
    tok_key_type type = TOK_KEY_EC_P256;
    csa_err err;

    if (s->cfg->account_key_type != NULL &&
        (err = tok_key_type_parse(s->cfg->account_key_type, &type)) != CSA_OK)
        return err;
    return tok_key_generate(s->tok, agt_account_label(s), type, false, key);
}

csa_err agt_account_key_open(agt_session *s, bool create)
{
    const char *label = agt_account_label(s);
    agt_acct_journal j;
    tok_key *key = NULL;
    const unsigned char *id;
    size_t len;
    bool journal, same = false;
    csa_err err = agt_acct_journal_read(s, &j);

    if (err != CSA_OK && err != CSA_ERR_NOT_FOUND)
        return err;
    journal = err == CSA_OK;
    if (!journal)
        agt_acct_labels(label, &j);
    if (journal && j.step >= AGT_ACCT_CHANGED) {
        /* The CA accepted the journalled key: it is the account's, under
         * the label or still under ".next" (settled at the next contact). */
        err = agt_key_find_named(s->tok, label, j.new_id, j.new_id_len, &key);
        if (err == CSA_ERR_NOT_FOUND) {
            csa_err_clear();
            err = agt_key_find_named(s->tok, j.next, j.new_id, j.new_id_len,
                                     &key);
        }
    } else if ((err = tok_key_find(s->tok, label, &key)) == CSA_ERR_NOT_FOUND) {
        /* No key under the label: with a journal only its new key may
         * stand in; without one, a ".next" key an older csagent's rollover
         * left (agt_account_settle asks the CA whether it is ours before
         * anything is signed with it). */
        csa_err_clear();
        err = journal ? agt_key_find_named(s->tok, j.next, j.new_id,
                                           j.new_id_len, &key)
                      : tok_key_find(s->tok, j.next, &key);
        if (err == CSA_OK)
            csa_warn("agent",
                     "account key '%s' missing; using '%s' from an "
                     "interrupted rollover until the CA is asked",
                     label, j.next);
    }
    if (err == CSA_ERR_NOT_FOUND && create) {
        csa_err_clear();
        err = agt_account_generate(s, &key);
    }
    if (err != CSA_OK)
        return err;
    if (s->account_key != NULL) {
        id = tok_key_id(s->account_key, &len);
        same = agt_key_has_id(key, id, len);
    }
    return agt_account_use(s, key, same);
}

bool agt_account_settled(const agt_session *s)
{
    return s->account_key != NULL && !agt_account_journal_exists(s) &&
           strcmp(tok_key_label(s->account_key), agt_account_label(s)) == 0;
}

/* ------------------------------------------------------------------ */
/* The account lock                                                    */

/* The bounds of agt_session.h; CSAGENT_ACCOUNT_LOCK_WAIT=<seconds>
 * replaces both, for tests only (a wait that runs out). */
static long agt_account_wait(agt_lock_mode mode)
{
    const char *v = getenv("CSAGENT_ACCOUNT_LOCK_WAIT");
    char *end;
    long n;

    if (v != NULL && *v != '\0' && (n = strtol(v, &end, 10)) >= 0 &&
        *end == '\0')
        return n;
    return mode == AGT_LOCK_EXCLUSIVE ? AGT_ACCOUNT_WAIT_EXCLUSIVE
                                      : AGT_ACCOUNT_WAIT_SHARED;
}

void agt_account_unlock(agt_session *s)
{
    if (!s->account_locked)
        return;
    agt_unlock(s->account_lock);
    s->account_lock = -1;
    s->account_locked = false;
}

/* Takes the lock (letting a held one go first), without reading the key. */
static csa_err agt_account_take(agt_session *s, agt_lock_mode mode)
{
    const char *what = mode == AGT_LOCK_EXCLUSIVE
                           ? "the users of the account key (csagent "
                             "sessions, enrollments)"
                           : "an account key rollover or settle";
    long wait_s = agt_account_wait(mode);
    int fd;

    agt_account_unlock(s);
    fd = agt_lock_file(s->state_dir, AGT_ACCOUNT_LOCK, mode, 0, what);
    if (fd < 0 && wait_s > 0) {
        csa_err_clear();
        agt_account_point("account-lock-wait");
        fd = agt_lock_file(s->state_dir, AGT_ACCOUNT_LOCK, mode, wait_s, what);
    }
    if (fd < 0) {
        csa_err_context("the account lock (%s)",
                        mode == AGT_LOCK_EXCLUSIVE ? "exclusive" : "shared");
        return CSA_ERR_BUSY;
    }
    s->account_lock = fd;
    s->account_locked = true;
    s->account_lock_mode = mode;
    return CSA_OK;
}

csa_err agt_account_lock(agt_session *s, agt_lock_mode mode)
{
    csa_err err = agt_account_take(s, mode);

    if (err == CSA_OK)
        err = agt_account_key_open(s, false);
    if (err != CSA_ERR_NOT_FOUND || !s->create_account_key)
        return err;
    /* The first account key is generated under the exclusive lock, so
     * that two first enrollments do not make two. */
    csa_err_clear();
    if (mode == AGT_LOCK_EXCLUSIVE)
        return agt_account_key_open(s, true);
    if ((err = agt_account_take(s, AGT_LOCK_EXCLUSIVE)) != CSA_OK ||
        (err = agt_account_key_open(s, true)) != CSA_OK ||
        (err = agt_account_take(s, AGT_LOCK_SHARED)) != CSA_OK)
        return err;
    return agt_account_key_open(s, false);
}

/* ------------------------------------------------------------------ */
/* Asking the CA                                                       */

typedef enum { AGT_CA_KNOWS = 0, AGT_CA_UNKNOWN, AGT_CA_ERROR } agt_ca_says;

/* Asks the CA whose account key (newAccount with onlyReturnExisting, RFC
 * 8555 §7.3.1) is key.  *url (may be NULL) receives the account URL when
 * the CA knows it, malloc'd.  The client is given the session's key back
 * afterwards (without an account URL: the caller registers next). */
static agt_ca_says agt_ca_ask(agt_session *s, tok_key *key, char **url,
                              csa_err *err)
{
    agt_jws_key *ks = NULL;
    acme_account_opts o = {.only_return_existing = 1};
    const char *problem;
    agt_ca_says says = AGT_CA_ERROR;

    if (url != NULL)
        *url = NULL;
    if ((*err = agt_jws_key_new(key, NULL, &ks)) != CSA_OK ||
        (*err = agt_net_set_account(s->net, agt_jws_key_signer(ks), NULL)) !=
            CSA_OK)
        goto done;
    *err = agt_net_register(s->net, &o, NULL);
    problem = agt_net_last_problem(s->net);
    if (*err == CSA_OK) {
        says = AGT_CA_KNOWS;
        if (url != NULL && (*url = strdup(agt_net_kid(s->net))) == NULL) {
            *err = csa_raise(CSA_ERR_NOMEM, "out of memory");
            says = AGT_CA_ERROR;
        }
    } else if (problem != NULL && strstr(problem, ":accountDoesNotExist")) {
        csa_err_clear();
        *err = CSA_OK;
        says = AGT_CA_UNKNOWN;
    }
done:
    /* Never leave the client pointing at ks, which is freed here. */
    if (s->account_signer != NULL)
        (void)agt_net_set_account(s->net, agt_jws_key_signer(s->account_signer),
                                  NULL);
    agt_jws_key_free(ks);
    return says;
}

/* ------------------------------------------------------------------ */
/* Settling                                                            */

/* The CA accepted the journalled new key: the old pair is worthless.  Each
 * step is idempotent, so a crash anywhere is finished by running it again
 * (agt_account_settle). */
static csa_err agt_account_finish(agt_session *s, agt_acct_journal *j)
{
    char hex[AGT_ACCT_HEX_MAX];
    tok_key *key = NULL;
    csa_err err;

    /* The old pair leaves the label first (in place: a torn relabel loses
     * only a key the CA no longer accepts), so the label never shows two
     * keys; then the new pair is copied in. */
    if ((err = agt_relabel_named(s->tok, j->label, j->old_id, j->old_id_len,
                                 j->retired)) != CSA_OK)
        return err;
    agt_account_point("retired");
    if ((err = agt_move_named(s->tok, j->next, j->new_id, j->new_id_len,
                              j->label)) != CSA_OK)
        return err;
    j->step = AGT_ACCT_PROMOTED;
    if ((err = agt_acct_journal_write(s, j)) != CSA_OK)
        return err;
    agt_account_point("promoted");
    if ((err = agt_destroy_named(s->tok, j->retired, j->old_id,
                                 j->old_id_len)) != CSA_OK ||
        (err = agt_acct_journal_remove(s)) != CSA_OK ||
        (err = agt_key_find_named(s->tok, j->label, j->new_id, j->new_id_len,
                                  &key)) != CSA_OK)
        return err;
    agt_hex(j->new_id, j->new_id_len, hex);
    csa_info("agent", "account key rolled over; the new key is '%s' (id %s)",
             j->label, hex);
    return agt_account_use(s, key, true);
}

/* Rolls a journalled rollover forward or back (exclusive lock held). */
static csa_err agt_settle_journal(agt_session *s, agt_acct_journal *j)
{
    tok_key *nk = NULL;
    char *url = NULL;
    csa_err err = CSA_OK;
    agt_ca_says says;

    if (j->step >= AGT_ACCT_CHANGED) {
        csa_warn("agent",
                 "the CA accepted '%s' (account journal, step %s): finishing "
                 "an interrupted rollover",
                 j->next, agt_acct_step_names[j->step]);
        return agt_account_finish(s, j);
    }
    /* keygen: the key may not exist, or the CA may have accepted it
     * without the journal saying so. */
    err = agt_key_find_named(s->tok, j->next, j->new_id, j->new_id_len, &nk);
    if (err == CSA_ERR_NOT_FOUND) {
        csa_err_clear();
        csa_warn("agent", "an account key rollover stopped before its key "
                          "was generated: rolling it back");
        if ((err = agt_destroy_named(s->tok, j->next, j->new_id,
                                     j->new_id_len)) == CSA_OK)
            err = agt_acct_journal_remove(s);
        return err;
    }
    if (err != CSA_OK)
        return err;
    says = agt_ca_ask(s, nk, &url, &err);
    tok_key_free(nk);
    if (says == AGT_CA_KNOWS && j->account[0] != '\0' &&
        strcmp(url, j->account) != 0) {
        err = csa_raise(CSA_ERR_CA_PROBLEM,
                        "the CA gives the key '%s' of the interrupted "
                        "rollover to account %s, not to %s; nothing changed",
                        j->next, url, j->account);
        says = AGT_CA_ERROR;
    }
    free(url);
    if (says == AGT_CA_KNOWS) {
        csa_warn("agent",
                 "the CA knows '%s': finishing an interrupted "
                 "rollover",
                 j->next);
        j->step = AGT_ACCT_CHANGED;
        if ((err = agt_acct_journal_write(s, j)) != CSA_OK)
            return err;
        return agt_account_finish(s, j);
    }
    if (says == AGT_CA_UNKNOWN) {
        csa_warn("agent",
                 "the CA does not know '%s': deleting the key of a rollover "
                 "it never accepted",
                 j->next);
        if ((err = agt_destroy_named(s->tok, j->next, j->new_id,
                                     j->new_id_len)) == CSA_OK)
            err = agt_acct_journal_remove(s);
    }
    return err;
}

/* Warns about each object under label: no journal names it, so it is not
 * ours to delete. */
static csa_err agt_report_unattributable(agt_session *s, const char *label,
                                         tok_class cls)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    char hex[AGT_ACCT_HEX_MAX];
    csa_err err = tok_objects(s->tok, label, NULL, 0, cls, &objs, &n);

    for (i = 0; err == CSA_OK && i < n; i++) {
        agt_hex(objs[i].id, objs[i].id_len, hex);
        csa_warn("agent",
                 "%s '%s' id %s: no account journal names it, so csagent "
                 "cannot tell it is its own and leaves it alone; if it is "
                 "a leftover of csagent, delete it yourself (e.g. "
                 "pkcs11-tool --login --delete-object --type privkey "
                 "--label '%s' --id %s, and --type pubkey)",
                 agt_acct_class(objs[i].cls), label, hex, label, hex);
    }
    free(objs);
    return err;
}

/* An older csagent's interrupted rollover: the CA gives the account to
 * the ".next" key nk.  It is moved to the label (copied, then the ".next"
 * original removed: the key itself stays), and the old key is kept under
 * ".retired" for the operator, since no journal proves it is ours. */
static csa_err agt_settle_legacy_promote(agt_session *s,
                                         const agt_acct_journal *j, tok_key *nk)
{
    size_t id_len, old_len = 0;
    const unsigned char *id = tok_key_id(nk, &id_len);
    unsigned char new_id[TOK_ID_MAX], old_id[TOK_ID_MAX];
    char hex[AGT_ACCT_HEX_MAX], oldhex[AGT_ACCT_HEX_MAX];
    tok_key *key = NULL;
    csa_err err;

    memcpy(new_id, id, id_len);
    if (strcmp(tok_key_label(s->account_key), j->label) == 0) {
        id = tok_key_id(s->account_key, &old_len);
        memcpy(old_id, id, old_len);
    }
    csa_warn("agent",
             "the CA knows '%s' (left by an interrupted rollover of an older "
             "csagent): making it the account key '%s'",
             j->next, j->label);
    if ((old_len > 0 &&
         (err = agt_relabel_named(s->tok, j->label, old_id, old_len,
                                  j->retired)) != CSA_OK) ||
        (err = agt_move_named(s->tok, j->next, new_id, id_len, j->label)) !=
            CSA_OK ||
        (err = agt_key_find_named(s->tok, j->label, new_id, id_len, &key)) !=
            CSA_OK)
        return err;
    agt_hex(new_id, id_len, hex);
    csa_info("agent", "account key rolled over; the new key is '%s' (id %s)",
             j->label, hex);
    if (old_len > 0) {
        agt_hex(old_id, old_len, oldhex);
        csa_warn("agent",
                 "the previous account key is kept as '%s' id %s: the CA no "
                 "longer accepts it and no journal proves csagent made it; "
                 "delete it yourself (e.g. pkcs11-tool --login "
                 "--delete-object --type privkey --label '%s' --id %s, and "
                 "--type pubkey)",
                 j->retired, oldhex, j->retired, oldhex);
    }
    return agt_account_use(s, key, false);
}

static csa_err agt_no_account_key(const agt_acct_journal *j)
{
    return csa_raise(CSA_ERR_NOT_FOUND,
                     "no account key '%s' in the token, and the CA knows "
                     "no '%s' key",
                     j->label, j->next);
}

/*
 * No journal: deletes nothing.  When ".next" private keys exist, the CA
 * says which key is the account's: the one under the label (then the
 * ".next" keys are not attributable), or a ".next" one (promoted, see
 * above).  *promote is set, and nothing done, when a promotion is needed
 * but the lock is held shared.
 */
static csa_err agt_settle_legacy(agt_session *s, bool *promote)
{
    agt_acct_journal j;
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    tok_key *nk = NULL;
    bool under_label, used = false;
    agt_ca_says says;
    csa_err err;

    *promote = false;
    agt_acct_labels(agt_account_label(s), &j);
    under_label = strcmp(tok_key_label(s->account_key), j.label) == 0;
    if ((err = agt_report_unattributable(s, j.retired, TOK_CLASS_OTHER)) !=
            CSA_OK ||
        (err = agt_label_used(s->tok, j.next, &used)) != CSA_OK)
        return err;
    /* The usual case: nothing under ".next", so no key to ask the CA
     * about and nothing to report (one search instead of two). */
    if (!used)
        return under_label ? CSA_OK : agt_no_account_key(&j);
    if ((err = tok_objects(s->tok, j.next, NULL, 0, TOK_CLASS_PRIVATE_KEY,
                           &objs, &n)) != CSA_OK)
        return err;
    if (n > 0 && under_label) {
        says = agt_ca_ask(s, s->account_key, NULL, &err);
        if (says == AGT_CA_KNOWS)
            n = 0; /* the label's key is the account's: none is ours */
        else if (says == AGT_CA_ERROR)
            goto done;
    }
    for (i = 0; i < n; i++) {
        if ((err = tok_key_find_id(s->tok, objs[i].id, objs[i].id_len, &nk)) !=
            CSA_OK) {
            csa_err_clear();
            continue; /* an id another object shares: not ours to judge */
        }
        says = agt_ca_ask(s, nk, NULL, &err);
        if (says == AGT_CA_ERROR)
            goto done;
        if (says == AGT_CA_KNOWS) {
            if (s->account_lock_mode == AGT_LOCK_EXCLUSIVE)
                err = agt_settle_legacy_promote(s, &j, nk);
            else
                *promote = true;
            goto done;
        }
        tok_key_free(nk);
        nk = NULL;
    }
    err = agt_report_unattributable(s, j.next, TOK_CLASS_OTHER);
    if (err == CSA_OK && !under_label)
        err = agt_no_account_key(&j);
done:
    tok_key_free(nk);
    free(objs);
    return err;
}

/* Settles under the exclusive lock. */
static csa_err agt_settle_locked(agt_session *s)
{
    agt_acct_journal j;
    bool promote;
    csa_err err = agt_acct_journal_read(s, &j);

    if (err == CSA_OK)
        return agt_settle_journal(s, &j);
    if (err != CSA_ERR_NOT_FOUND)
        return err;
    csa_err_clear();
    err = agt_settle_legacy(s, &promote);
    /* A ".next" key the CA does not know stood in for a missing label
     * key: the first enrollment generates a key of its own. */
    if (err == CSA_ERR_NOT_FOUND && s->create_account_key &&
        strcmp(tok_key_label(s->account_key), agt_account_label(s)) != 0) {
        tok_key *key = NULL;

        csa_err_clear();
        if ((err = agt_account_generate(s, &key)) == CSA_OK)
            err = agt_account_use(s, key, false);
    }
    return err;
}

csa_err agt_account_settle(agt_session *s)
{
    bool promote = false;
    csa_err err;

    if (!s->account_locked)
        return csa_raise(CSA_ERR_INVALID,
                         "internal: settling without the account lock");
    if (s->account_lock_mode == AGT_LOCK_EXCLUSIVE)
        return agt_settle_locked(s);
    /* Shared: nothing pending but perhaps ".next" keys: report them and
     * ask the CA, which changes nothing in the token. */
    if (agt_account_settled(s)) {
        if ((err = agt_settle_legacy(s, &promote)) != CSA_OK || !promote)
            return err;
    }
    /* Acting needs the lock exclusive: no other user of the key may see a
     * settle half way, nor settle the same journal at once.  The key is
     * read again each time the lock is taken. */
    if ((err = agt_account_take(s, AGT_LOCK_EXCLUSIVE)) != CSA_OK ||
        (err = agt_account_key_open(s, false)) != CSA_OK ||
        (err = agt_settle_locked(s)) != CSA_OK)
        return err;
    return agt_account_lock(s, AGT_LOCK_SHARED);
}

/* ------------------------------------------------------------------ */
/* Rollover                                                            */

/* The CA refused (a problem document): the new pair goes with the
 * journal.  No answer: both stay for agt_account_settle to ask the CA. */
static void agt_rollover_refused(agt_session *s, const agt_acct_journal *j)
{
    if (agt_net_last_problem(s->net) == NULL) {
        csa_err_context("the CA's answer to keyChange is unknown; the next "
                        "contact with the CA settles it");
        return;
    }
    csa_err_context("the CA refused the rollover; the old key stays");
    if (agt_destroy_named(s->tok, j->next, j->new_id, j->new_id_len) == CSA_OK)
        (void)agt_acct_journal_remove(s);
}

csa_err agt_account_rollover(agt_session *s)
{
    agt_acct_journal j;
    const unsigned char *old;
    tok_key *nk = NULL;
    agt_jws_key *ns = NULL;
    char *kid = NULL;
    csa_err err;

    if (!s->account_locked || s->account_lock_mode != AGT_LOCK_EXCLUSIVE)
        return csa_raise(CSA_ERR_INVALID, "internal: a rollover needs the "
                                          "account lock exclusive");
    memset(&j, 0, sizeof(j));
    agt_acct_labels(agt_account_label(s), &j);
    if ((err = agt_account_ensure(s, true, NULL)) != CSA_OK)
        return err;
    if (strcmp(tok_key_label(s->account_key), j.label) != 0)
        return csa_raise(CSA_ERR_NOT_FOUND, "no account key '%s' to roll over",
                         j.label);
    if ((kid = strdup(agt_net_kid(s->net))) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    /* The new key's CKA_ID is chosen and journalled before the key exists:
     * whatever a crash leaves can be told from another program's objects. */
    old = tok_key_id(s->account_key, &j.old_id_len);
    memcpy(j.old_id, old, j.old_id_len);
    j.new_id_len = TOK_ID_LEN;
    snprintf(j.account, sizeof(j.account), "%s", kid);
    if ((err = tok_random_id(s->tok, j.new_id, j.new_id_len)) != CSA_OK ||
        (err = agt_acct_journal_write(s, &j)) != CSA_OK)
        goto done;
    agt_account_point("keygen");
    /* A ".next" key of another program is no reason to refuse, nor ours to
     * delete: ours is told apart by its CKA_ID. */
    if ((err = tok_key_generate_id(s->tok, j.next,
                                   tok_key_get_type(s->account_key), j.new_id,
                                   j.new_id_len, true, &nk)) != CSA_OK) {
        if (agt_destroy_named(s->tok, j.next, j.new_id, j.new_id_len) == CSA_OK)
            (void)agt_acct_journal_remove(s);
        goto done;
    }
    agt_account_point("generated");
    if ((err = agt_jws_key_new(nk, NULL, &ns)) != CSA_OK)
        goto done;
    if ((err = agt_net_key_change(s->net, agt_jws_key_signer(ns))) != CSA_OK) {
        agt_rollover_refused(s, &j);
        goto done;
    }
    agt_account_point("accepted");
    j.step = AGT_ACCT_CHANGED;
    if ((err = agt_acct_journal_write(s, &j)) != CSA_OK)
        goto done;
    agt_account_point("changed");
    err = agt_account_finish(s, &j);
done:
    /* The client may still point at ns: give it the session's key (the new
     * one after a success) and the account URL, which does not change. */
    if (s->account_signer != NULL)
        (void)agt_net_set_account(s->net, agt_jws_key_signer(s->account_signer),
                                  kid);
    free(kid);
    agt_jws_key_free(ns);
    tok_key_free(nk);
    return err;
}
