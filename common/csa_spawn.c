/* SPDX-License-Identifier: Apache-2.0 */
#include "csa_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *const csa_spawn_base[] = {
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", NULL};

static int csa_spawn_allowed(const char *var, const char *const *keep)
{
    size_t n = strcspn(var, "=");
    const char *const *k;

    if (strncmp(var, "LC_", 3) == 0)
        return 1;
    for (k = csa_spawn_base; *k != NULL; k++)
        if (strlen(*k) == n && strncmp(*k, var, n) == 0)
            return 1;
    for (k = keep; k != NULL && *k != NULL; k++)
        if (strlen(*k) == n && strncmp(*k, var, n) == 0)
            return 1;
    return 0;
}

/* The child's environment: the request's variables, then the allowed
 * ones of ours that it does not set.  Strings are borrowed. */
static char **csa_spawn_env(const csa_spawn_req *r)
{
    size_t n = 0, m = 0, i, k = 0;
    char **env;
    int have_path = 0;

    while (environ != NULL && environ[n] != NULL)
        n++;
    while (r->env != NULL && r->env[m] != NULL)
        m++;
    if ((env = calloc(n + m + 2, sizeof(*env))) == NULL)
        return NULL;
    for (i = 0; i < m; i++) {
        env[k++] = r->env[i];
        have_path |= strncmp(r->env[i], "PATH=", 5) == 0;
    }
    for (i = 0; i < n; i++) {
        size_t len = strcspn(environ[i], "="), j;
        int dup = 0;

        if (!csa_spawn_allowed(environ[i], r->keep))
            continue;
        for (j = 0; j < m && !dup; j++)
            dup = strncmp(r->env[j], environ[i], len + 1) == 0;
        if (dup)
            continue;
        have_path |= strncmp(environ[i], "PATH=", 5) == 0;
        env[k++] = environ[i];
    }
    if (!have_path)
        env[k++] = "PATH=/usr/local/bin:/usr/bin:/bin";
    return env;
}

static int csa_spawn_attrs(posix_spawnattr_t *a, posix_spawn_file_actions_t *fa,
                           int out_fd)
{
    sigset_t none, all;
    int rc;

    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    rc = posix_spawnattr_setflags(a, POSIX_SPAWN_SETPGROUP |
                                         POSIX_SPAWN_SETSIGMASK |
                                         POSIX_SPAWN_SETSIGDEF);
    if (rc == 0)
        rc = posix_spawnattr_setpgroup(a, 0);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(a, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(a, &all);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = out_fd >= 0 ? posix_spawn_file_actions_adddup2(fa, out_fd, 1)
                         : posix_spawn_file_actions_addopen(fa, 1, "/dev/null",
                                                            O_WRONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(fa, 3);
    return rc;
}

static double csa_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads the first line of the child's stdout (the rest is drained) until
 * EOF or the deadline. */
static void csa_spawn_read(int fd, char *out, size_t outsize, double deadline)
{
    size_t len = 0;
    char sink[256];

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        double left = deadline - csa_now();
        ssize_t r;

        if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            break;
        if (out != NULL && len + 1 < outsize)
            r = read(fd, out + len, outsize - 1 - len);
        else
            r = read(fd, sink, sizeof(sink));
        if (r <= 0)
            break;
        if (out != NULL && len + 1 < outsize)
            len += (size_t)r;
    }
    if (out != NULL && outsize > 0) {
        out[len] = '\0';
        out[strcspn(out, "\r\n")] = '\0';
    }
}

static csa_spawn_rc csa_spawn_reap(pid_t pid, double deadline, int *status,
                                   const char *path, char *why, size_t whylen)
{
    struct timespec tick = {0, 20 * 1000 * 1000};
    int ws = 0;
    pid_t got;

    while ((got = waitpid(pid, &ws, WNOHANG)) == 0 ||
           (got < 0 && errno == EINTR)) {
        if (csa_now() >= deadline) {
            kill(-pid, SIGKILL); /* the whole process group */
            waitpid(pid, &ws, 0);
            snprintf(why, whylen, "%s ran past its time limit and was killed",
                     path);
            return CSA_SPAWN_TIMEOUT;
        }
        nanosleep(&tick, NULL);
    }
    if (got < 0) {
        snprintf(why, whylen, "waiting for %s: %s", path, strerror(errno));
        return CSA_SPAWN_WAIT;
    }
    if (WIFSIGNALED(ws)) {
        snprintf(why, whylen, "%s died of signal %d", path, WTERMSIG(ws));
        return CSA_SPAWN_SIGNAL;
    }
    *status = WEXITSTATUS(ws);
    return CSA_SPAWN_OK;
}

csa_spawn_rc csa_spawn_run(const csa_spawn_req *r, int *status, char *why,
                           size_t whylen)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char *argv[2] = {(char *)r->path, NULL}, **env = NULL;
    double deadline =
        csa_now() + (double)(r->timeout_s > 0 ? r->timeout_s : 60);
    int pipefd[2] = {-1, -1}, rc;
    pid_t pid = -1;

    *status = -1;
    if (r->path == NULL || r->path[0] != '/') {
        snprintf(why, whylen, "%s is not an absolute path",
                 r->path ? r->path : "(none)");
        return CSA_SPAWN_START;
    }
    /* checked up front: posix_spawn may not report a failed exec */
    if (access(r->path, X_OK) != 0) {
        snprintf(why, whylen, "%s is not executable: %s", r->path,
                 strerror(errno));
        return CSA_SPAWN_START;
    }
    if ((env = csa_spawn_env(r)) == NULL || pipe2(pipefd, O_CLOEXEC) != 0) {
        free(env);
        snprintf(why, whylen, "cannot start %s: %s", r->path, strerror(errno));
        return CSA_SPAWN_START;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    rc = csa_spawn_attrs(&attr, &fa, pipefd[1]);
    if (rc == 0)
        rc = posix_spawn(&pid, r->path, &fa, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        snprintf(why, whylen, "cannot run %s: %s", r->path, strerror(rc));
        return CSA_SPAWN_START;
    }
    csa_spawn_read(pipefd[0], r->out, r->outsize, deadline);
    close(pipefd[0]);
    return csa_spawn_reap(pid, deadline, status, r->path, why, whylen);
}
