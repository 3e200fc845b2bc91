/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Persisted ACME state: one JSON document <state>/state.json with a table
 * per object kind (accounts, orders, authzs, challs, certs) plus OTP
 * counters and EAB bindings.  Saved after every change with
 * mkstemp / fsync / rename / fsync-dir, so a test can kill and restart
 * the CA and a crash never leaves a torn file.
 */
#include "csca.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const tables[] = {"accounts", "orders", "authzs",  "challs",
                                     "certs",    "otp",    "eab_used"};

const char *jstr(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

long long jint(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    return json_object_get_int64(v);
}

/* RFC 3339 UTC; the caller frees. */
char *time_str(time_t t)
{
    struct tm tm;
    char buf[32];

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return strdup(buf);
}

time_t time_parse(const char *s)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return (time_t)-1;
    return timegm(&tm);
}

/* n decimal digits at *p, advancing *p; false when there are fewer. */
static bool digits(const char **p, int n, int *v)
{
    *v = 0;
    for (; n > 0; n--, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        *v = *v * 10 + (**p - '0');
    }
    return true;
}

static bool sep(const char **p, const char *one_of)
{
    if (**p == '\0' || strchr(one_of, **p) == NULL)
        return false;
    (*p)++;
    return true;
}

/* RFC 3339 §5.6 date-time ("2030-01-02T03:04:05Z", "...05.25+02:00"):
 * strict, unlike time_parse; a fraction is dropped (the time is rounded
 * down to the second).  0 and *out, or -1. */
int time_parse_rfc3339(const char *s, time_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    const char *p = s;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (!digits(&p, 4, &y) || !sep(&p, "-") || !digits(&p, 2, &mo) ||
        !sep(&p, "-") || !digits(&p, 2, &d) || !sep(&p, "Tt") ||
        !digits(&p, 2, &h) || !sep(&p, ":") || !digits(&p, 2, &mi) ||
        !sep(&p, ":") || !digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        if (*++p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (!digits(&p, 2, &oh) || !sep(&p, ":") || !digits(&p, 2, &om) ||
            oh > 23 || om > 59)
            return -1;
    } else if (!sep(&p, "Zz")) {
        return -1;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec == 60 ? 59 : sec; /* a leap second, rounded down */
    t = timegm(&tm);
    /* timegm normalises 31 April to 1 May: such a date is not one */
    if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
        return -1;
    *out = t - sign * (oh * 3600 + om * 60);
    return 0;
}

/* Whole file, NUL-terminated; the caller frees. */
char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap + 65536);
            if (nb == NULL)
                break;
            buf = nb;
            cap += 65536;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

static int fsync_dir(const char *path)
{
    char *copy = strdup(path);
    int fd, rc = -1;

    if (copy == NULL)
        return -1;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        rc = fsync(fd);
        close(fd);
    }
    free(copy);
    return rc;
}

/* Write data to a fresh temporary file next to path: mkstemp's O_EXCL
 * and random name mean no other process can have prepared that name (a
 * predictable "path.tmp.PID" could be a planted symlink).  The file is
 * created 0600, then given its intended mode, written and fsync'd.  On
 * success *tmp is the temporary's name (the caller's, to rename or link
 * and free); on error nothing is left behind and errno says why. */
static int write_temp(const char *path, const char *data, size_t len, int mode,
                      char **tmp)
{
    size_t off = 0;
    int fd, err;

    if (asprintf(tmp, "%s.tmp.XXXXXX", path) < 0) {
        *tmp = NULL;
        return -1;
    }
    fd = mkostemp(*tmp, O_CLOEXEC);
    if (fd < 0)
        goto fail;
    if (fchmod(fd, (mode_t)mode) != 0)
        goto fail_fd;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            goto fail_fd;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail_fd;
    if (close(fd) != 0) {
        fd = -1;
        goto fail_fd;
    }
    return 0;
fail_fd:
    err = errno;
    if (fd >= 0)
        close(fd);
    unlink(*tmp);
    errno = err;
fail:
    free(*tmp);
    *tmp = NULL;
    return -1;
}

/* Write temp, fsync, rename over path, fsync the directory.  A crash
 * leaves either the old or the new file, never a torn one. */
int atomic_write(const char *path, const char *data, size_t len, int mode)
{
    char *tmp = NULL;
    int err;

    if (write_temp(path, data, len, mode, &tmp) != 0)
        return -1;
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        free(tmp);
        errno = err;
        return -1;
    }
    free(tmp);
    return fsync_dir(path);
}

/* Like atomic_write, but never replaces: link(2) fails with EEXIST when
 * path exists (even as a dangling symlink), so two processes creating the
 * same file cannot both win, and the file appears complete or not at
 * all. */
int atomic_create(const char *path, const char *data, size_t len, int mode)
{
    char *tmp = NULL;
    int rc, err;

    if (write_temp(path, data, len, mode, &tmp) != 0)
        return -1;
    rc = link(tmp, path);
    err = errno;
    unlink(tmp);
    free(tmp);
    errno = err;
    return rc == 0 ? fsync_dir(path) : -1;
}

static char *state_path(void)
{
    char *p = NULL;

    if (asprintf(&p, "%s/state.json", CS.o.state_dir) < 0)
        return NULL;
    return p;
}

int state_load(void)
{
    char *path = state_path(), *text;
    size_t i;

    text = path ? read_file(path, NULL) : NULL;
    CS.state = text ? json_tokener_parse(text) : json_object_new_object();
    free(text);
    free(path);
    if (!json_object_is_type(CS.state, json_type_object)) {
        fprintf(stderr, "csca: state.json is not a JSON object\n");
        return -1;
    }
    for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (!json_object_object_get_ex(CS.state, tables[i], NULL))
            json_object_object_add(CS.state, tables[i],
                                   json_object_new_object());
    return 0;
}

int state_save(void)
{
    char *path;
    const char *text;
    int rc;

    if (CS.o.memory_only)
        return 0;
    path = state_path();
    text = json_object_to_json_string_ext(
        CS.state, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    rc = path ? atomic_write(path, text, strlen(text), 0600) : -1;

    if (rc != 0)
        fprintf(stderr, "csca: cannot save state: %s\n", strerror(errno));
    free(path);
    return rc;
}

json_object *state_tab(const char *table)
{
    json_object *t = NULL;

    json_object_object_get_ex(CS.state, table, &t);
    return t;
}

json_object *state_get(const char *table, const char *id)
{
    json_object *o = NULL;

    json_object_object_get_ex(state_tab(table), id, &o);
    return o;
}

/* Insert obj under a fresh random id; returns the id (caller frees). */
char *state_add(const char *table, json_object *obj)
{
    char *id = rand_token(12);

    if (id == NULL) {
        json_object_put(obj);
        return NULL;
    }
    json_object_object_add(state_tab(table), id, obj);
    return id;
}
