/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "csa_log.h"

static double agt_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * flock(2) has no timeout, so a bounded wait retries LOCK_NB with a delay
 * that grows from 10 ms to 250 ms: a signer's hold usually ends within a
 * few delays, and a long one costs at most four wake-ups a second.
 */
int agt_lock_file(const char *state_dir, const char *name, agt_lock_mode mode,
                  long wait_s, const char *what)
{
    char path[4096];
    int op = (mode == AGT_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH) | LOCK_NB;
    double deadline = agt_now() + (double)(wait_s > 0 ? wait_s : 0);
    long delay_ms = 10;
    int fd, logged = 0;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, name) >=
        sizeof(path)) {
        csa_raise(CSA_ERR_IO, "lock path %s/%s is too long", state_dir, name);
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        csa_raise(CSA_ERR_IO, "cannot open lock file %s: %s", path,
                  strerror(errno));
        return -1;
    }
    while (flock(fd, op) != 0) {
        struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};

        if ((errno != EWOULDBLOCK && errno != EINTR) || agt_now() >= deadline) {
            close(fd);
            csa_raise(CSA_ERR_BUSY, "%s: %s is held by another process%s", what,
                      path,
                      wait_s > 0 ? " for longer than the wait allowed" : "");
            return -1;
        }
        if (!logged++)
            csa_info("lock", "waiting up to %lds for %s (%s)", wait_s, what,
                     path);
        nanosleep(&ts, NULL);
        delay_ms = delay_ms * 2 > 250 ? 250 : delay_ms * 2;
    }
    if (logged)
        csa_info("lock", "%s: %s taken", what, path);
    return fd;
}

void agt_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

int agt_use_lock(const char *state_dir, const agt_identity *id,
                 agt_lock_mode mode, long wait_s)
{
    char name[512], what[512];

    snprintf(name, sizeof(name), "%s.use", id->name);
    snprintf(what, sizeof(what), "%s of identity '%s'",
             mode == AGT_LOCK_EXCLUSIVE ? "the signers" : "a swap-in",
             id->name);
    return agt_lock_file(state_dir, name, mode, wait_s, what);
}
