/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one type for secrets (PINs, EAB MAC keys, OTP seeds in transit to the
 * token).  Its free always wipes.  Secrets are read from a file or an
 * inherited file descriptor, never from argv.
 */
#ifndef CSA_SECRET_H
#define CSA_SECRET_H

#include <stddef.h>

#include "csa_err.h"

typedef struct {
    unsigned char *data; /* NUL-terminated for convenience; len excludes it */
    size_t len;
} csa_secret;

/* Reads a secret from "path", or from an inherited descriptor when path is
 * "fd:N".  One trailing newline (\n or \r\n) is removed.  The caller frees
 * with csa_secret_free(). */
csa_err csa_secret_read(const char *path, csa_secret *out);
/* Copies len bytes into a new secret. */
csa_err csa_secret_set(csa_secret *s, const void *data, size_t len);
/* Wipes and frees; accepts an empty secret. */
void csa_secret_free(csa_secret *s);
/* Wipes a buffer in a way the compiler keeps. */
void csa_cleanse(void *p, size_t len);

#endif
