/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hook runner (agt_hookrun.h): a child of the network process that
 * starts the hooks the network process, under its allow list, cannot.
 */
#include "agt_hookrun.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acme.h"
#include "agt.h"
#include "agt_sandbox.h"
#include "csa_log.h"
#include "csa_secret.h"

/* The largest request: a path and two lists, or the allowed list, with
 * framing to spare. */
#define AGT_HR_MSG_MAX                                                         \
    (AGT_HR_ALLOW_MAX + AGT_HR_PATH_MAX + 2 * AGT_HR_ENV_MAX + 256)
/* The largest result. */
#define AGT_HR_RESULT_MAX (AGT_HR_OUT_MAX + AGT_HR_WHY_MAX + 256)

/* ---- the network process's side ------------------------------------ */

/* A NULL-terminated list as one field, each string ended by its NUL. */
static void agt_hr_put_list(csa_ipc_out *o, uint8_t tag,
                            const char *const *list)
{
    size_t len = 0, i, at = 0;
    char *buf;

    if (list == NULL)
        return;
    for (i = 0; list[i] != NULL; i++)
        len += strlen(list[i]) + 1;
    if ((buf = malloc(len ? len : 1)) == NULL) {
        o->failed = true;
        return;
    }
    for (i = 0; list[i] != NULL; i++) {
        size_t n = strlen(list[i]) + 1;

        memcpy(buf + at, list[i], n);
        at += n;
    }
    csa_ipc_put(o, tag, buf, len);
    /* the key authorization travels here: wiped like the IPC buffers */
    csa_cleanse(buf, len);
    free(buf);
}

csa_err agt_hookrun_read_result(const csa_ipc_msg *m, const csa_spawn_req *req,
                                uint64_t *rc, int *status, char *why,
                                size_t whylen)
{
    static const uint8_t tags[] = {AGT_HR_T_RC, AGT_HR_T_STATUS, AGT_HR_T_OUT,
                                   AGT_HR_T_WHY, 0};
    char *out = NULL, *w = NULL;
    int64_t st = -1;
    csa_err err;

    if (m->type != AGT_HR_RESULT)
        return csa_raise(CSA_ERR_PROTOCOL, "answered with type %u", m->type);
    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = csa_ipc_u64(m, AGT_HR_T_RC, CSA_SPAWN__MAX - 1, true, rc)) !=
            CSA_OK ||
        (err = csa_ipc_i64(m, AGT_HR_T_STATUS, -1, 255, true, &st)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_HR_T_OUT, AGT_HR_OUT_MAX, false, &out)) !=
            CSA_OK ||
        (err = csa_ipc_str(m, AGT_HR_T_WHY, AGT_HR_WHY_MAX, false, &w)) !=
            CSA_OK)
        goto done;
    *status = (int)st;
    if (req->out != NULL && req->outsize > 0)
        snprintf(req->out, req->outsize, "%s", out != NULL ? out : "");
    snprintf(why, whylen, "%s", w != NULL ? w : "");
done:
    free(out);
    free(w);
    return err;
}

csa_spawn_rc agt_hookrun_spawn(void *ctx, const csa_spawn_req *req, int *status,
                               char *why, size_t whylen)
{
    agt_hookrun *hr = ctx;
    size_t outsize = req->out != NULL ? req->outsize : 0;
    long t = req->timeout_s;
    uint64_t rc = CSA_SPAWN_WAIT;
    csa_ipc_out o;
    csa_ipc_msg m;
    csa_err err;

    *status = -1;
    csa_ipc_begin(&o, AGT_HR_RUN);
    csa_ipc_put_str(&o, AGT_HR_T_PATH, req->path != NULL ? req->path : "");
    agt_hr_put_list(&o, AGT_HR_T_ENV, (const char *const *)req->env);
    agt_hr_put_list(&o, AGT_HR_T_KEEP, req->keep);
    csa_ipc_put_u64(&o, AGT_HR_T_TIMEOUT,
                    t <= 0                   ? 0
                    : t > AGT_HR_TIMEOUT_MAX ? AGT_HR_TIMEOUT_MAX
                                             : (uint64_t)t);
    csa_ipc_put_u64(&o, AGT_HR_T_OUTSIZE,
                    outsize > AGT_HR_OUT_MAX ? AGT_HR_OUT_MAX : outsize);
    if (hr == NULL || hr->fd < 0)
        err = csa_raise(CSA_ERR_IO, "not running");
    else if ((err = csa_ipc_send(hr->fd, &o)) == CSA_OK &&
             (err = csa_ipc_recv(hr->fd, AGT_HR_RESULT_MAX, &m)) == CSA_OK) {
        err = agt_hookrun_read_result(&m, req, &rc, status, why, whylen);
        csa_ipc_msg_free(&m);
    }
    csa_ipc_out_free(&o);
    if (err != CSA_OK) {
        snprintf(why, whylen, "the hook runner: %s", csa_errmsg());
        return CSA_SPAWN_WAIT;
    }
    return (csa_spawn_rc)rc;
}

csa_err agt_hookrun_set_allowed(agt_hookrun *hr, const char *const *paths,
                                const char *const *keep)
{
    char why[AGT_HR_WHY_MAX] = "";
    csa_spawn_req none = {0};
    uint64_t rc = CSA_SPAWN_START;
    int status = -1;
    csa_ipc_out o;
    csa_ipc_msg m;
    csa_err err;

    csa_ipc_begin(&o, AGT_HR_ALLOW);
    agt_hr_put_list(&o, AGT_HR_T_PATHS, paths);
    agt_hr_put_list(&o, AGT_HR_T_KEEP, keep);
    if (hr == NULL || hr->fd < 0)
        err = csa_raise(CSA_ERR_IO, "the hook runner: not running");
    else if ((err = csa_ipc_send(hr->fd, &o)) == CSA_OK &&
             (err = csa_ipc_recv(hr->fd, AGT_HR_RESULT_MAX, &m)) == CSA_OK) {
        err =
            agt_hookrun_read_result(&m, &none, &rc, &status, why, sizeof(why));
        csa_ipc_msg_free(&m);
        if (err == CSA_OK && rc != CSA_SPAWN_OK)
            err = csa_raise(CSA_ERR_PROTOCOL,
                            "the hook runner refused the hooks: %s", why);
    }
    csa_ipc_out_free(&o);
    return err;
}

void agt_hookrun_stop(agt_hookrun *hr)
{
    int status;

    if (hr->fd >= 0)
        close(hr->fd); /* the runner reads EOF and exits */
    hr->fd = -1;
    if (hr->pid > 0)
        while (waitpid(hr->pid, &status, 0) < 0 && errno == EINTR)
            ;
    hr->pid = -1;
}

/* ---- the runner's side ---------------------------------------------- */

/* What the entries of a list are. */
enum { AGT_HR_NAMES, AGT_HR_ENVS, AGT_HR_PATHS };

/* A list field as the NULL-terminated array csa_spawn_req takes (*list
 * NULL when absent; *buf holds the strings), at most max bytes and max_n
 * entries.  Entries are non-empty; env entries are NAME=value, names
 * bare, paths anything. */
static csa_err agt_hr_list(const csa_ipc_msg *m, uint8_t tag, int kind,
                           size_t max, size_t max_n, char **buf, char ***list)
{
    const unsigned char *p;
    size_t len, n = 0, i, at;
    csa_err err;

    *buf = NULL;
    *list = NULL;
    if ((err = csa_ipc_bytes(m, tag, max, false, &p, &len)) != CSA_OK ||
        p == NULL)
        return err;
    if (len > 0 && p[len - 1] != '\0')
        return csa_raise(CSA_ERR_PROTOCOL, "field %u not NUL-terminated", tag);
    for (i = 0; i < len; i++)
        n += p[i] == '\0';
    if (n > max_n)
        return csa_raise(CSA_ERR_PROTOCOL, "field %u: %zu entries", tag, n);
    if ((*buf = malloc(len ? len : 1)) == NULL ||
        (*list = calloc(n + 1, sizeof(**list))) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    memcpy(*buf, p, len);
    for (i = 0, at = 0; i < n; i++) {
        char *s = *buf + at;
        bool has_eq = strchr(s, '=') != NULL;

        if (*s == '\0' || (kind != AGT_HR_PATHS &&
                           (*s == '=' || has_eq != (kind == AGT_HR_ENVS))))
            return csa_raise(CSA_ERR_PROTOCOL, "field %u: bad entry %zu", tag,
                             i);
        (*list)[i] = s;
        at += strlen(s) + 1;
    }
    return CSA_OK;
}

void agt_hookrun_req_free(agt_hookrun_req *r)
{
    free(r->path);
    if (r->envbuf != NULL) /* CSAGENT_KEY_AUTH */
        csa_cleanse(r->envbuf, r->envlen);
    free(r->envbuf);
    free(r->keepbuf);
    free(r->env);
    free(r->keep);
    memset(r, 0, sizeof(*r));
}

void agt_hookrun_allowed_free(agt_hookrun_allowed *a)
{
    free(a->pathbuf);
    free(a->paths);
    free(a->keepbuf);
    free(a->keep);
    memset(a, 0, sizeof(*a));
}

csa_err agt_hookrun_read_allowed(const csa_ipc_msg *m, agt_hookrun_allowed *a)
{
    static const uint8_t tags[] = {AGT_HR_T_PATHS, AGT_HR_T_KEEP, 0};
    agt_hookrun_allowed n = {0};
    csa_err err;

    if (m->type != AGT_HR_ALLOW)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "refused: message of type %u "
                         "before the allowed hooks",
                         m->type);
    if (a->set)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "refused: a second list of allowed hooks");
    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = agt_hr_list(m, AGT_HR_T_PATHS, AGT_HR_PATHS, AGT_HR_ALLOW_MAX,
                           AGT_HR_ALLOW_PATHS_MAX, &n.pathbuf, &n.paths)) !=
            CSA_OK ||
        (err = agt_hr_list(m, AGT_HR_T_KEEP, AGT_HR_NAMES, AGT_HR_ENV_MAX,
                           AGT_HR_ENTRIES_MAX, &n.keepbuf, &n.keep)) != CSA_OK)
        goto fail;
    n.set = true;
    *a = n;
    return CSA_OK;
fail:
    agt_hookrun_allowed_free(&n);
    return err;
}

/* Whether s is one of list (NULL-terminated; NULL: none). */
static bool agt_hr_in(const char *const *list, const char *s, size_t len)
{
    size_t i;

    for (i = 0; list != NULL && list[i] != NULL; i++)
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
            return true;
    return false;
}

/* What a allows of r: a configured hook, csagent's variables, configured
 * names passed on. */
static csa_err agt_hr_check(const agt_hookrun_allowed *a,
                            const agt_hookrun_req *r)
{
    size_t i;

    if (a == NULL || !a->set)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "refused: a hook before the allowed hooks");
    if (!agt_hr_in((const char *const *)a->paths, r->path, strlen(r->path)))
        return csa_raise(CSA_ERR_PROTOCOL,
                         "refused: %s is not a configured hook", r->path);
    for (i = 0; r->env != NULL && r->env[i] != NULL; i++)
        if (!agt_hr_in(acme_hook_vars, r->env[i], strcspn(r->env[i], "=")))
            return csa_raise(CSA_ERR_PROTOCOL,
                             "refused: variable %.*s is not csagent's",
                             (int)strcspn(r->env[i], "="), r->env[i]);
    for (i = 0; r->keep != NULL && r->keep[i] != NULL; i++)
        if (!agt_hr_in((const char *const *)a->keep, r->keep[i],
                       strlen(r->keep[i])))
            return csa_raise(CSA_ERR_PROTOCOL,
                             "refused: %s is not a hook_env name", r->keep[i]);
    return CSA_OK;
}

csa_err agt_hookrun_read(const csa_ipc_msg *m, const agt_hookrun_allowed *a,
                         agt_hookrun_req *r)
{
    static const uint8_t tags[] = {AGT_HR_T_PATH,    AGT_HR_T_ENV,
                                   AGT_HR_T_KEEP,    AGT_HR_T_TIMEOUT,
                                   AGT_HR_T_OUTSIZE, 0};
    const csa_ipc_field *env;
    csa_err err;

    memset(r, 0, sizeof(*r));
    if (m->type != AGT_HR_RUN)
        return csa_raise(CSA_ERR_PROTOCOL, "request of type %u", m->type);
    env = csa_ipc_get(m, AGT_HR_T_ENV);
    r->envlen = env != NULL ? env->len : 0;
    if ((err = csa_ipc_only(m, tags)) != CSA_OK ||
        (err = csa_ipc_str(m, AGT_HR_T_PATH, AGT_HR_PATH_MAX, true,
                           &r->path)) != CSA_OK ||
        (err = agt_hr_list(m, AGT_HR_T_ENV, AGT_HR_ENVS, AGT_HR_ENV_MAX,
                           AGT_HR_ENTRIES_MAX, &r->envbuf, &r->env)) !=
            CSA_OK ||
        (err = agt_hr_list(m, AGT_HR_T_KEEP, AGT_HR_NAMES, AGT_HR_ENV_MAX,
                           AGT_HR_ENTRIES_MAX, &r->keepbuf, &r->keep)) !=
            CSA_OK ||
        (err = csa_ipc_u64(m, AGT_HR_T_TIMEOUT, AGT_HR_TIMEOUT_MAX, true,
                           &r->timeout)) != CSA_OK ||
        (err = csa_ipc_u64(m, AGT_HR_T_OUTSIZE, AGT_HR_OUT_MAX, true,
                           &r->outsize)) != CSA_OK ||
        (err = agt_hr_check(a, r)) != CSA_OK)
        agt_hookrun_req_free(r);
    return err;
}

csa_err agt_hookrun_serve(agt_hookrun_allowed *a, const csa_ipc_msg *m,
                          csa_ipc_out *o)
{
    agt_hookrun_req r;
    char *out = NULL, why[AGT_HR_WHY_MAX] = "";
    csa_spawn_req req;
    csa_spawn_rc rc;
    int status = -1;
    csa_err err;

    if (m->type == AGT_HR_ALLOW || !a->set) {
        if ((err = agt_hookrun_read_allowed(m, a)) != CSA_OK)
            return err;
        csa_ipc_begin(o, AGT_HR_RESULT);
        csa_ipc_put_u64(o, AGT_HR_T_RC, CSA_SPAWN_OK);
        csa_ipc_put_i64(o, AGT_HR_T_STATUS, 0);
        return CSA_OK;
    }
    if ((err = agt_hookrun_read(m, a, &r)) != CSA_OK)
        return err;
    if (r.outsize > 0 && (out = calloc(1, (size_t)r.outsize)) == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    req = (csa_spawn_req){r.path,          r.env, (const char *const *)r.keep,
                          (long)r.timeout, out,   (size_t)r.outsize};
    rc = csa_spawn_run(&req, &status, why, sizeof(why));
    csa_ipc_begin(o, AGT_HR_RESULT);
    csa_ipc_put_u64(o, AGT_HR_T_RC, (uint64_t)rc);
    csa_ipc_put_i64(o, AGT_HR_T_STATUS, status);
    if (out != NULL)
        csa_ipc_put_str(o, AGT_HR_T_OUT, out);
    if (rc != CSA_SPAWN_OK)
        csa_ipc_put_str(o, AGT_HR_T_WHY, why);
done:
    agt_hookrun_req_free(&r);
    free(out);
    return err;
}

/* The runner's life: never returns to the network process's code. */
static int agt_hr_main(int fd, pid_t parent)
{
    agt_hookrun_allowed allowed = {0};
    csa_ipc_msg m;
    csa_ipc_out o;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        return AGT_EXIT_FAIL;
    /* nothing of the network process's: not the holder's socket (3) */
    if (fd > 3)
        close_range(3, (unsigned)fd - 1, 0);
    closefrom(fd + 1);
    (void)prctl(PR_SET_NAME, "csagent-hooks", 0, 0, 0);
    if (agt_sandbox_hooks() != CSA_OK) {
        csa_error("agent", "hook runner: %s", csa_errmsg());
        return AGT_EXIT_FAIL;
    }
    while (csa_ipc_recv(fd, AGT_HR_MSG_MAX, &m) == CSA_OK) {
        csa_err_clear();
        if (agt_hookrun_serve(&allowed, &m, &o) != CSA_OK) {
            /* malformed or refused: a bug of the network process, or a
             * network process taken over; answer, so it can say so */
            csa_error("agent", "hook runner: %s", csa_errmsg());
            csa_ipc_begin(&o, AGT_HR_RESULT);
            csa_ipc_put_u64(&o, AGT_HR_T_RC, CSA_SPAWN_START);
            csa_ipc_put_i64(&o, AGT_HR_T_STATUS, -1);
            csa_ipc_put_str(&o, AGT_HR_T_WHY, csa_errmsg());
        }
        csa_ipc_msg_free(&m);
        if (csa_ipc_send(fd, &o) != CSA_OK)
            break;
    }
    close(fd);
    agt_hookrun_allowed_free(&allowed);
    return AGT_EXIT_OK; /* the network process closed: done */
}

csa_err agt_hookrun_start(agt_hookrun *hr)
{
    pid_t parent = getpid();
    int sv[2];

    hr->fd = -1;
    hr->pid = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return csa_raise(CSA_ERR_IO, "socketpair: %s", strerror(errno));
    fflush(NULL); /* nothing buffered is written twice */
    if ((hr->pid = fork()) < 0) {
        close(sv[0]);
        close(sv[1]);
        return csa_raise(CSA_ERR_IO, "fork: %s", strerror(errno));
    }
    if (hr->pid == 0) {
        close(sv[0]);
        /* exit, not _exit: the sanitizer build checks its leaks too */
        exit(agt_hr_main(sv[1], parent));
    }
    close(sv[1]);
    hr->fd = sv[0];
    csa_debug("agent", "hook runner %ld started", (long)hr->pid);
    return CSA_OK;
}
