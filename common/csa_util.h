/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the agent's modules: base64url, files. */
#ifndef CSA_UTIL_H
#define CSA_UTIL_H

#include <stddef.h>

#include "csa_err.h"

/* base64url without padding (RFC 7515 §2).  Returns a NUL-terminated string
 * the caller frees with free(), or NULL on allocation failure. */
char *csa_b64url_encode(const unsigned char *in, size_t len);
/* Decodes base64url (padding tolerated, rejected characters are an error).
 * *out is malloc'd; caller frees. */
csa_err csa_b64url_decode(const char *in, unsigned char **out, size_t *outlen);

/* Reads a whole file of at most max bytes; *out is NUL-terminated and
 * malloc'd, caller frees. */
csa_err csa_file_read(const char *path, size_t max, char **out, size_t *len);
/* Writes atomically: temp file in the same directory, fsync, rename, fsync
 * the directory.  mode is applied to the new file. */
csa_err csa_file_write_atomic(const char *path, const void *data, size_t len,
                              unsigned mode);

#endif
