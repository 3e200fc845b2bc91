/* SPDX-License-Identifier: Apache-2.0 */
/* One key and certificate per signature: the one-use identity, its record,
 * its destruction, the reaper and the audit log (see agt_ephemeral.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "agt_ephemeral.h"
#include "agt_journal.h"
#include "agt_status.h"
#include "csa_log.h"

#define AGT_EPH_MAGIC "csagent-ephemeral 1\n"
#define AGT_EPH_EXT ".ephemeral"

csa_err agt_eph_init(agt_eph *e, const agt_identity *base, int64_t lifetime)
{
    unsigned char rnd[16];
    char hex[33];

    memset(e, 0, sizeof(*e));
    e->fd = -1;
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return csa_raise(CSA_ERR_INVALID, "no random bytes for an ephemeral "
                                          "label");
    agt_hex(rnd, sizeof(rnd), hex);
    /* "<label>.eph-X.retired" must still fit the swap's label buffer. */
    if ((size_t)snprintf(e->name, sizeof(e->name), "%s.eph-%s", base->name,
                         hex) >= sizeof(e->name) ||
        (size_t)snprintf(e->label, sizeof(e->label), "%s.eph-%s", base->label,
                         hex) >= sizeof(e->label) - 16)
        return csa_raise(CSA_ERR_CONFIG,
                         "identity %s: name or label too long for an "
                         "ephemeral copy (%zu more characters are added)",
                         base->name, (size_t)AGT_EPH_SUFFIX_LEN);
    e->id = *base;
    e->id.name = e->name;
    e->id.label = e->label;
    e->id.rotate = true;
    e->id.retire_grace = 0;
    e->id.ephemeral = true;
    e->id.base = base->name;
    /* RFC 5280 counts both ends: notBefore is issuance, at the earliest
     * now, so the certificate lives at most lifetime seconds. */
    e->id.not_after = (int64_t)time(NULL) + lifetime - 1;
    return CSA_OK;
}

static csa_err agt_dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    csa_err err = CSA_OK;

    if (fd < 0 || fsync(fd) != 0)
        err = csa_raise(CSA_ERR_IO, "cannot sync directory %s: %s", dir,
                        strerror(errno));
    if (fd >= 0)
        close(fd);
    return err;
}

csa_err agt_eph_record(agt_eph *e, const char *state_dir)
{
    char tmp[4096 + 16], text[1024];
    size_t len;
    csa_err err = CSA_OK;

    if ((size_t)snprintf(e->record, sizeof(e->record), "%s/%s" AGT_EPH_EXT,
                         state_dir, e->name) >= sizeof(e->record))
        return csa_raise(CSA_ERR_CONFIG, "state_dir %s: path too long",
                         state_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", e->record);
    len = (size_t)snprintf(text, sizeof(text),
                           AGT_EPH_MAGIC "identity %s\nlabel %s\n", e->id.base,
                           e->label);
    /* Locked before it has its name: a reaper only ever sees a complete
     * record, and finds it locked while this run lives.  The descriptor
     * is close-on-exec: COMMAND does not keep it. */
    e->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (e->fd < 0)
        return csa_raise(CSA_ERR_IO, "cannot create %s: %s", tmp,
                         strerror(errno));
    if (flock(e->fd, LOCK_EX | LOCK_NB) != 0 ||
        write(e->fd, text, len) != (ssize_t)len || fsync(e->fd) != 0 ||
        rename(tmp, e->record) != 0)
        err = csa_raise(CSA_ERR_IO, "cannot write the ephemeral record %s: %s",
                        e->record, strerror(errno));
    if (err == CSA_OK)
        err = agt_dir_sync(state_dir);
    if (err != CSA_OK) {
        unlink(tmp);
        unlink(e->record);
        close(e->fd);
        e->fd = -1;
    }
    return err;
}

/* Every object under the run's labels; all carry the random suffix. */
static csa_err agt_eph_objects_destroy(tok_ctx *tok, const char *label,
                                       size_t *count)
{
    static const char *const ext[] = {"", ".next", ".retired", ".chain"};
    char name[256];
    tok_handle *h = NULL;
    size_t n = 0, i, k;
    csa_err err = CSA_OK;

    for (k = 0; err == CSA_OK && k < sizeof(ext) / sizeof(ext[0]); k++) {
        snprintf(name, sizeof(name), "%s%s", label, ext[k]);
        if ((err = tok_find_handles(tok, name, NULL, 0, TOK_CLASS_OTHER, &h,
                                    &n)) != CSA_OK)
            break;
        for (i = 0; err == CSA_OK && i < n; i++)
            if ((err = tok_obj_destroy(tok, h[i])) == CSA_OK)
                (*count)++;
        free(h);
        h = NULL;
    }
    if (err != CSA_OK)
        csa_err_context("destroying the ephemeral objects labelled '%s'",
                        label);
    return err;
}

/* The files a one-use identity leaves in state_dir (not the record):
 * "<name>.pem", ".journal", ".lock", ".use", ".grace", and the temporary
 * files of an atomic write a kill cut short ("<name>.pem.tmpXXXXXX"). */
static void agt_eph_files_remove(const char *state_dir, const char *name)
{
    static const char *const ext[] = {".pem", ".journal", ".lock", ".use",
                                      ".grace"};
    char path[4096];
    size_t k, len = strlen(name);
    DIR *d;
    struct dirent *de;

    for (k = 0; k < sizeof(ext) / sizeof(ext[0]); k++) {
        snprintf(path, sizeof(path), "%s/%s%s", state_dir, name, ext[k]);
        if (unlink(path) != 0 && errno != ENOENT)
            csa_warn("ephemeral", "cannot remove %s: %s", path,
                     strerror(errno));
    }
    if ((d = opendir(state_dir)) == NULL)
        return;
    while ((de = readdir(d)) != NULL)
        if (!strncmp(de->d_name, name, len) && de->d_name[len] == '.' &&
            strstr(de->d_name + len, ".tmp") != NULL &&
            strcmp(de->d_name + len, AGT_EPH_EXT) != 0) {
            snprintf(path, sizeof(path), "%s/%s", state_dir, de->d_name);
            if (unlink(path) != 0 && errno != ENOENT)
                csa_warn("ephemeral", "cannot remove %s: %s", path,
                         strerror(errno));
        }
    closedir(d);
}

csa_err agt_eph_destroy(agt_eph *e, tok_ctx *tok, const char *state_dir,
                        size_t *n)
{
    csa_err err;

    *n = 0;
    if (e->fd < 0)
        return CSA_OK;
    if ((err = agt_eph_objects_destroy(tok, e->label, n)) != CSA_OK)
        return err; /* the record stays: the next start tries again */
    agt_eph_files_remove(state_dir, e->name);
    if (unlink(e->record) != 0 && errno != ENOENT)
        csa_warn("ephemeral", "cannot remove %s: %s", e->record,
                 strerror(errno));
    close(e->fd);
    e->fd = -1;
    return CSA_OK;
}

bool agt_eph_parse(const char *text, const char *file, char *identity,
                   size_t isize, char *label, size_t lsize)
{
    const char *p, *nl, *hex;
    size_t len, i;

    if (strncmp(text, AGT_EPH_MAGIC, strlen(AGT_EPH_MAGIC)) != 0)
        return false;
    if ((p = strstr(text, "\nidentity ")) != NULL &&
        (nl = strchr(p + 10, '\n')) != NULL && (size_t)(nl - p - 10) < isize)
        snprintf(identity, isize, "%.*s", (int)(nl - p - 10), p + 10);
    if ((p = strstr(text, "\nlabel ")) == NULL ||
        (nl = strchr(p + 7, '\n')) == NULL)
        return false;
    len = (size_t)(nl - p - 7);
    if (len >= lsize || len <= AGT_EPH_SUFFIX_LEN)
        return false;
    snprintf(label, lsize, "%.*s", (int)len, p + 7);
    /* The label ends in ".eph-" and 32 hex digits, and the record's file
     * name ends in the same suffix: nothing else is ever destroyed. */
    hex = label + len - 32;
    if (strncmp(hex - 5, ".eph-", 5) != 0)
        return false;
    for (i = 0; i < 32; i++)
        if (!strchr("0123456789abcdef", hex[i]))
            return false;
    len = strlen(file);
    if (len < strlen(AGT_EPH_EXT) + 32 ||
        strcmp(file + len - strlen(AGT_EPH_EXT), AGT_EPH_EXT) != 0)
        return false;
    len -= strlen(AGT_EPH_EXT);
    return strncmp(file + len - 32, hex, 32) == 0;
}

static csa_err agt_eph_reap_one(tok_ctx *tok, const char *state_dir,
                                const char *file)
{
    char path[4096], identity[256] = "", label[256], name[300], *text = NULL;
    agt_audit a = {0};
    size_t n = 0;
    ssize_t got;
    struct stat st;
    csa_err err = CSA_OK;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", state_dir, file);
    if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return CSA_OK; /* gone meanwhile: its run finished */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 ||
        st.st_nlink == 0) {
        /* a live run, or one that just finished and removed it */
        close(fd);
        return CSA_OK;
    }
    if ((text = calloc(1, 4096)) == NULL) {
        close(fd);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    got = read(fd, text, 4095);
    if (got <= 0 || !agt_eph_parse(text, file, identity, sizeof(identity),
                                   label, sizeof(label))) {
        csa_warn("ephemeral",
                 "%s is not an ephemeral record csagent wrote; left alone",
                 path);
        goto out;
    }
    csa_warn("ephemeral",
             "%s: an ephemeral run was interrupted; destroying the objects "
             "labelled '%s'",
             identity, label);
    if ((err = agt_eph_objects_destroy(tok, label, &n)) != CSA_OK)
        goto out;
    snprintf(name, sizeof(name), "%.*s", (int)(strlen(file) - 10), file);
    agt_eph_files_remove(state_dir, name);
    a.identity = identity;
    a.label = label;
    a.outcome = "interrupted";
    a.exit_code = -1;
    a.destroyed = n;
    if (agt_audit_append(state_dir, &a, NULL) != CSA_OK) {
        csa_warn("ephemeral", "%s", csa_errmsg());
        csa_err_clear();
    }
    if (unlink(path) != 0 && errno != ENOENT)
        csa_warn("ephemeral", "cannot remove %s: %s", path, strerror(errno));
    csa_info("ephemeral", "%s: %zu object(s) of an interrupted run destroyed",
             identity, n);
out:
    free(text);
    close(fd);
    return err;
}

/* A record killed before it got its name: no object exists yet (they are
 * made after the rename); dropped unless its run still holds it. */
static void agt_eph_tmp_drop(const char *state_dir, const char *file)
{
    char path[4096];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", state_dir, file);
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(path) != 0 &&
        errno != ENOENT)
        csa_warn("ephemeral", "cannot remove %s: %s", path, strerror(errno));
    close(fd);
}

csa_err agt_ephemeral_reap(tok_ctx *tok, const char *state_dir)
{
    DIR *d = opendir(state_dir);
    struct dirent *de;
    size_t len, el = strlen(AGT_EPH_EXT);
    csa_err err = CSA_OK;

    if (d == NULL)
        return CSA_OK; /* no state yet: nothing was left */
    while (err == CSA_OK && (de = readdir(d)) != NULL) {
        len = strlen(de->d_name);
        if (len > el && !strcmp(de->d_name + len - el, AGT_EPH_EXT))
            err = agt_eph_reap_one(tok, state_dir, de->d_name);
        else if (len > el + 4 &&
                 !strcmp(de->d_name + len - el - 4, AGT_EPH_EXT ".tmp"))
            agt_eph_tmp_drop(state_dir, de->d_name);
    }
    closedir(d);
    return err;
}

static int64_t agt_asn1_epoch(const ASN1_TIME *t)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    return (int64_t)timegm(&tm);
}

csa_err agt_ephemeral_check(const pol_policy *pol, const agt_identity *id,
                            X509 *leaf)
{
    int64_t nb = agt_asn1_epoch(X509_get0_notBefore(leaf));
    int64_t na = agt_asn1_epoch(X509_get0_notAfter(leaf));
    pol_verdict v;

    if (nb < 0 || na < 0)
        return csa_raise(CSA_ERR_VERIFY, "%s: unreadable validity dates",
                         id->name);
    /* Not one second longer than asked for (newOrder notAfter). */
    if (id->not_after > 0 && na > id->not_after)
        return csa_raise(CSA_ERR_VERIFY,
                         "%s: the CA issued a certificate valid until %lld, "
                         "after the notAfter asked for (%lld): refused",
                         id->name, (long long)na, (long long)id->not_after);
    if (!pol_check_ephemeral_lifetime(pol, na - nb + 1, &v))
        return pol_verdict_raise(&v, CSA_ERR_POLICY);
    return CSA_OK;
}

/* ---- the audit log ---- */

static csa_err agt_sha256_file(const char *path, char hex[65])
{
    unsigned char buf[65536], md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    FILE *f = fopen(path, "rb");
    size_t n;
    csa_err err = CSA_OK;

    if (f == NULL)
        err = csa_raise(CSA_ERR_IO, "artifact %s: %s", path, strerror(errno));
    else if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
        err = csa_raise(CSA_ERR_INVALID, "SHA-256 unavailable");
    while (err == CSA_OK && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (EVP_DigestUpdate(c, buf, n) != 1)
            err = csa_raise(CSA_ERR_INVALID, "SHA-256 failed");
    if (err == CSA_OK && ferror(f))
        err = csa_raise(CSA_ERR_IO, "artifact %s: read error", path);
    if (err == CSA_OK && EVP_DigestFinal_ex(c, md, &mdlen) != 1)
        err = csa_raise(CSA_ERR_INVALID, "SHA-256 failed");
    if (err == CSA_OK)
        agt_hex(md, mdlen, hex);
    EVP_MD_CTX_free(c);
    if (f != NULL)
        fclose(f);
    return err;
}

static json_object *agt_jstr(const char *s)
{
    return s != NULL ? json_object_new_string(s) : NULL;
}

csa_err agt_audit_append(const char *state_dir, const agt_audit *a,
                         bool *artifact_err)
{
    json_object *o = json_object_new_object(), *arr;
    char when[32], hex[65], path[4096];
    const char *line;
    struct tm tm;
    time_t now = time(NULL);
    size_t len, i;
    csa_err err = CSA_OK;
    int fd;

    if (artifact_err != NULL)
        *artifact_err = false;
    if (o == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_object_add(o, "time", json_object_new_string(when));
    json_object_object_add(o, "identity", agt_jstr(a->identity));
    json_object_object_add(o, "ephemeral", json_object_new_boolean(1));
    json_object_object_add(o, "label", agt_jstr(a->label));
    json_object_object_add(o, "outcome", agt_jstr(a->outcome));
    json_object_object_add(o, "key_id", agt_jstr(a->key_id));
    json_object_object_add(o, "serial", agt_jstr(a->serial));
    if (a->cert != NULL) {
        unsigned char md[32];
        unsigned int mdlen = 0;

        X509_digest(a->cert, EVP_sha256(), md, &mdlen);
        agt_hex(md, mdlen, hex);
        json_object_object_add(o, "cert_sha256", json_object_new_string(hex));
    }
    if (a->command != NULL) {
        arr = json_object_new_array();
        for (i = 0; a->command[i] != NULL; i++)
            json_object_array_add(arr, json_object_new_string(a->command[i]));
        json_object_object_add(o, "command", arr);
    }
    arr = json_object_new_array();
    for (i = 0; a->artifacts != NULL && a->artifacts[i] != NULL; i++) {
        json_object *f = json_object_new_object();

        json_object_object_add(f, "path",
                               json_object_new_string(a->artifacts[i]));
        if (agt_sha256_file(a->artifacts[i], hex) == CSA_OK)
            json_object_object_add(f, "sha256", json_object_new_string(hex));
        else {
            json_object_object_add(f, "error",
                                   json_object_new_string(csa_errmsg()));
            csa_warn("ephemeral", "%s", csa_errmsg());
            csa_err_clear();
            if (artifact_err != NULL)
                *artifact_err = true;
        }
        json_object_array_add(arr, f);
    }
    json_object_object_add(o, "artifacts", arr);
    json_object_object_add(o, "exit",
                           a->exit_code >= 0 ? json_object_new_int(a->exit_code)
                                             : NULL);
    json_object_object_add(o, "revoked", json_object_new_boolean(a->revoked));
    json_object_object_add(o, "objects_destroyed",
                           json_object_new_int64((int64_t)a->destroyed));
    line = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    snprintf(path, sizeof(path), "%s/audit.log", state_dir);
    /* One write(2) of the whole line with O_APPEND: lines of concurrent
     * runs never interleave. */
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0)
        err = csa_raise(CSA_ERR_IO, "audit log %s: %s", path, strerror(errno));
    else {
        char *buf;

        len = strlen(line);
        buf = malloc(len + 1);
        if (buf == NULL)
            err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        else {
            memcpy(buf, line, len);
            buf[len] = '\n';
            if (write(fd, buf, len + 1) != (ssize_t)(len + 1) || fsync(fd) != 0)
                err = csa_raise(CSA_ERR_IO, "audit log %s: %s", path,
                                strerror(errno));
            free(buf);
        }
        close(fd);
    }
    json_object_put(o);
    return err;
}
