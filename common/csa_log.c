/* SPDX-License-Identifier: Apache-2.0 */
#include "csa_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static int log_level = -1;
static int log_syslog;

static void log_init_level(void)
{
    const char *env = getenv("CSA_LOG_LEVEL");

    log_level = CSA_LOG_INFO;
    if (env == NULL)
        return;
    if (strcmp(env, "error") == 0)
        log_level = CSA_LOG_ERROR;
    else if (strcmp(env, "warn") == 0)
        log_level = CSA_LOG_WARN;
    else if (strcmp(env, "debug") == 0)
        log_level = CSA_LOG_DEBUG;
}

void csa_log_set_level(csa_log_level level)
{
    if ((unsigned)level < CSA_LOG__MAX)
        log_level = (int)level;
}

csa_log_level csa_log_get_level(void)
{
    if (log_level < 0)
        log_init_level();
    return (csa_log_level)log_level;
}

void csa_log_use_syslog(const char *ident)
{
    openlog(ident, LOG_PID, LOG_DAEMON);
    log_syslog = 1;
}

void csa_log(csa_log_level level, const char *category, const char *fmt, ...)
{
    static const char *const names[CSA_LOG__MAX] = {"error", "warn", "info",
                                                    "debug"};
    static const int prio[CSA_LOG__MAX] = {LOG_ERR, LOG_WARNING, LOG_INFO,
                                           LOG_DEBUG};
    char msg[2048];
    va_list ap;

    if ((unsigned)level >= CSA_LOG__MAX || level > csa_log_get_level())
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_syslog) {
        syslog(prio[level], "[%s] %s", category, msg);
        return;
    }
    {
        char ts[32];
        struct timespec now;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ %s [%s] %s\n", ts, now.tv_nsec / 1000000L,
                names[level], category, msg);
    }
}
