/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_prog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char **agt_env_merge(char *const *extra)
{
    size_t n = 0, m = 0, i;
    char **env;

    while (environ[n] != NULL)
        n++;
    while (extra != NULL && extra[m] != NULL)
        m++;
    env = calloc(n + m + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    for (i = 0; i < m; i++)
        env[i] = extra[i];
    for (i = 0; i < n; i++)
        env[m + i] = environ[i];
    return env;
}

/* Reads the child's stdout until EOF or the deadline. */
static void agt_read_out(int fd, char *out, size_t outsize, time_t deadline)
{
    size_t len = 0;
    char sink[256];

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        long left = (long)(deadline - time(NULL));
        ssize_t r;

        if (left <= 0 || poll(&p, 1, (int)left * 1000) <= 0)
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
    if (out != NULL) {
        out[len] = '\0';
        out[strcspn(out, "\r\n")] = '\0';
    }
}

static csa_err agt_wait(pid_t pid, const char *path, time_t deadline,
                        int *status)
{
    int st = 0;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);

        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return csa_raise(CSA_ERR_IO, "waiting for %s: %s", path,
                             strerror(errno));
        if (time(NULL) >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return csa_raise(CSA_ERR_TIMEOUT, "program %s timed out", path);
        }
        usleep(20000);
    }
    if (!WIFEXITED(st))
        return csa_raise(CSA_ERR_IO, "program %s was killed by a signal", path);
    *status = WEXITSTATUS(st);
    return CSA_OK;
}

csa_err agt_prog_run(const char *path, char *const *env, long timeout_s,
                     char *out, size_t outsize, int *status)
{
    posix_spawn_file_actions_t fa;
    char *argv[] = {(char *)path, NULL};
    char **envp = agt_env_merge(env);
    time_t deadline = time(NULL) + (timeout_s > 0 ? timeout_s : 60);
    int pipefd[2] = {-1, -1}, rc;
    pid_t pid;
    csa_err err;

    if (envp == NULL || pipe2(pipefd, O_CLOEXEC) != 0) {
        free(envp);
        return csa_raise(CSA_ERR_IO, "cannot start %s", path);
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    rc = posix_spawn(&pid, path, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        return csa_raise(CSA_ERR_CONFIG, "cannot run %s: %s", path,
                         strerror(rc));
    }
    agt_read_out(pipefd[0], out, outsize, deadline);
    close(pipefd[0]);
    err = agt_wait(pid, path, deadline, status);
    return err;
}
