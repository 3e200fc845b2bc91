/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Levelled logging with a category per module.  Output goes to stderr or
 * syslog, chosen once at start.  Never log a PIN, an EAB/HMAC key or a
 * private JWS payload: callers pass redacted data only.
 */
#ifndef CSA_LOG_H
#define CSA_LOG_H

typedef enum {
    CSA_LOG_ERROR = 0,
    CSA_LOG_WARN,
    CSA_LOG_INFO,
    CSA_LOG_DEBUG,
    CSA_LOG__MAX
} csa_log_level;

/* Sets the threshold; messages above it are dropped.  Default: INFO, or the
 * value of CSA_LOG_LEVEL (error|warn|info|debug) in the environment. */
void csa_log_set_level(csa_log_level level);
csa_log_level csa_log_get_level(void);
/* Switches output to syslog (ident = program name). */
void csa_log_use_syslog(const char *ident);

void csa_log(csa_log_level level, const char *category, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define csa_debug(cat, ...) csa_log(CSA_LOG_DEBUG, (cat), __VA_ARGS__)
#define csa_info(cat, ...) csa_log(CSA_LOG_INFO, (cat), __VA_ARGS__)
#define csa_warn(cat, ...) csa_log(CSA_LOG_WARN, (cat), __VA_ARGS__)
#define csa_error(cat, ...) csa_log(CSA_LOG_ERROR, (cat), __VA_ARGS__)

#endif
