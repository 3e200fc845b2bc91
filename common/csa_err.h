/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one error type that crosses module boundaries.  Every module converts
 * its own codes (CK_RV, CURLcode, HTTP problem documents) into a csa_err and
 * records a sentence for the operator with csa_raise(); the top level prints
 * csa_errmsg().  The message buffer is thread-local.
 */
#ifndef CSA_ERR_H
#define CSA_ERR_H

#include <stddef.h>

typedef enum {
    CSA_OK = 0,
    CSA_ERR_INVALID,     /* bad argument or malformed input */
    CSA_ERR_NOMEM,       /* allocation failed */
    CSA_ERR_IO,          /* file or descriptor I/O */
    CSA_ERR_CONFIG,      /* configuration or policy file */
    CSA_ERR_TOKEN,       /* PKCS#11 module or token failure */
    CSA_ERR_PIN,         /* login refused, PIN locked / final try */
    CSA_ERR_NOT_FOUND,   /* object, token or account not found */
    CSA_ERR_EXISTS,      /* object already exists */
    CSA_ERR_AMBIGUOUS,   /* a URI or label matches more than one object */
    CSA_ERR_NETWORK,     /* connection, DNS, timeout on the wire */
    CSA_ERR_TLS,         /* TLS verification failed */
    CSA_ERR_PROTOCOL,    /* peer broke the protocol (bad JSON, size, type) */
    CSA_ERR_CA_PROBLEM,  /* CA answered with a problem document */
    CSA_ERR_POLICY,      /* refused by policy */
    CSA_ERR_VERIFY,      /* signature/chain/certificate verification */
    CSA_ERR_UNSUPPORTED, /* mechanism, algorithm or feature not offered */
    CSA_ERR_TIMEOUT,     /* an overall deadline passed */
    CSA_ERR_INTERRUPTED, /* a signal asked us to stop */
    CSA_ERR_BUSY,        /* another process holds the identity's lock */
    CSA_ERR__MAX
} csa_err;

/* Records "file:line func: message" as the current error and returns err. */
csa_err csa_raise_at(const char *file, int line, const char *func, csa_err err,
                     const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define csa_raise(err, ...)                                                    \
    csa_raise_at(__FILE__, __LINE__, __func__, (err), __VA_ARGS__)

/* Prefixes context to the current message ("context: old message"). */
void csa_err_context(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The operator-facing message of the last raised error ("" if none). */
const char *csa_errmsg(void);
/* Where the last error was raised (file:line func), for debug logs. */
const char *csa_errwhere(void);
/* Short, stable name of an error code ("token", "pin", ...). */
const char *csa_errname(csa_err err);
/* Clears the current error. */
void csa_err_clear(void);

#endif
