/* SPDX-License-Identifier: Apache-2.0 */
#include "csa_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_msg[1024];
static _Thread_local char err_where[256];

csa_err csa_raise_at(const char *file, int line, const char *func, csa_err err,
                     const char *fmt, ...)
{
    va_list ap;
    const char *base = strrchr(file, '/');

    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    snprintf(err_where, sizeof(err_where), "%s:%d %s", base ? base + 1 : file,
             line, func);
    return err;
}

void csa_err_context(const char *fmt, ...)
{
    char prefix[512];
    char old[sizeof(err_msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, sizeof(old));
    /* Truncation is acceptable for a message; keep the prefix whole. */
    {
        size_t plen = strnlen(prefix, sizeof(prefix));
        size_t room = sizeof(err_msg) - 1;

        if (plen > room)
            plen = room;
        memcpy(err_msg, prefix, plen);
        if (old[0] != '\0' && plen + 2 < room) {
            size_t olen = strnlen(old, room - plen - 2);

            memcpy(err_msg + plen, ": ", 2);
            memcpy(err_msg + plen + 2, old, olen);
            plen += 2 + olen;
        }
        err_msg[plen] = '\0';
    }
}

const char *csa_errmsg(void)
{
    return err_msg;
}

const char *csa_errwhere(void)
{
    return err_where;
}

void csa_err_clear(void)
{
    err_msg[0] = '\0';
    err_where[0] = '\0';
}

const char *csa_errname(csa_err err)
{
    static const char *const names[CSA_ERR__MAX] = {
        [CSA_OK] = "ok",
        [CSA_ERR_INVALID] = "invalid",
        [CSA_ERR_NOMEM] = "nomem",
        [CSA_ERR_IO] = "io",
        [CSA_ERR_CONFIG] = "config",
        [CSA_ERR_TOKEN] = "token",
        [CSA_ERR_PIN] = "pin",
        [CSA_ERR_NOT_FOUND] = "not-found",
        [CSA_ERR_EXISTS] = "exists",
        [CSA_ERR_AMBIGUOUS] = "ambiguous",
        [CSA_ERR_NETWORK] = "network",
        [CSA_ERR_TLS] = "tls",
        [CSA_ERR_PROTOCOL] = "protocol",
        [CSA_ERR_CA_PROBLEM] = "ca-problem",
        [CSA_ERR_POLICY] = "policy",
        [CSA_ERR_VERIFY] = "verify",
        [CSA_ERR_UNSUPPORTED] = "unsupported",
        [CSA_ERR_TIMEOUT] = "timeout",
        [CSA_ERR_INTERRUPTED] = "interrupted",
        [CSA_ERR_BUSY] = "busy",
    };
    if ((unsigned)err >= CSA_ERR__MAX)
        return "unknown";
    return names[err];
}
