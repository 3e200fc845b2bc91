/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The credential of the management endpoints (/csca/...: stats, reset,
 * registry reload, ARI time travel).  They change what the CA says, so a
 * client that only reaches the ACME port must not use them: every /csca/
 * request carries "Authorization: Bearer <token>" (RFC 6750 §2.1), the
 * token being the content of <state>/mgmt.token (or --mgmt-token-file).
 *
 * At start csca reads the file, or creates it: 32 random bytes
 * (RAND_bytes) as base64url, mode 0600.  A file that another user owns,
 * that group or others may read or write, or that is a symbolic link is
 * refused: anyone who can read or plant it could drive the CA.
 */
#include "csca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define MGMT_TOKEN_BYTES 32
#define MGMT_TOKEN_MAX 512 /* longest token file we read */

static char *token;      /* base64url; wiped at exit */
static size_t token_len; /* strlen(token) */
static char default_path[4096];

const char *mgmt_token_path(void)
{
    if (CS.o.mgmt_token_file != NULL)
        return CS.o.mgmt_token_file;
    snprintf(default_path, sizeof(default_path), "%s/mgmt.token",
             CS.o.state_dir);
    return default_path;
}

static void token_wipe(void)
{
    if (token != NULL)
        OPENSSL_clear_free(token, token_len);
    token = NULL;
    token_len = 0;
}

/* The token is base64url of at least MGMT_TOKEN_BYTES bytes; one trailing
 * newline (an editor's) is allowed. */
static int token_take(char *buf, size_t n, const char *path)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    int ok;

    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    ok = n > 0 && memchr(buf, '\0', n) == NULL &&
         b64url_dec(buf, &raw, &rawlen) == 0 && rawlen >= MGMT_TOKEN_BYTES;
    if (raw != NULL)
        OPENSSL_clear_free(raw, rawlen);
    if (!ok) {
        fprintf(stderr,
                "csca: management token file %s does not hold base64url "
                "of at least %d bytes\n",
                path, MGMT_TOKEN_BYTES);
        return -1;
    }
    token = strndup(buf, n);
    token_len = n;
    return token != NULL ? 0 : -1;
}

/* Is the opened file one we may trust?  Regular, ours, mode 0600 or
 * stricter (no group/other bits at all). */
static int token_file_ok(int fd, const char *path)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        fprintf(stderr, "csca: management token file %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr,
                "csca: management token file %s is not a regular file\n", path);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        fprintf(stderr,
                "csca: management token file %s is owned by uid %ld, not "
                "by csca's user (uid %ld); refusing it\n",
                path, (long)st.st_uid, (long)geteuid());
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        fprintf(stderr,
                "csca: management token file %s has mode %03o; group and "
                "others must have no access (chmod 600 %s)\n",
                path, (unsigned)(st.st_mode & 0777), path);
        return -1;
    }
    return 0;
}

/* 0 read, 1 absent, -1 refused (message printed). */
static int token_read(const char *path)
{
    char buf[MGMT_TOKEN_MAX + 2];
    ssize_t n;
    int fd, rc = -1;

    /* O_NOFOLLOW: a symlink in the last component fails with ELOOP
     * instead of leading us to a file someone else chose. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 1;
    if (fd < 0) {
        fprintf(stderr, "csca: management token file %s: %s\n", path,
                errno == ELOOP ? "is a symbolic link; refusing it"
                               : strerror(errno));
        return -1;
    }
    if (token_file_ok(fd, path) == 0) {
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
            fprintf(stderr, "csca: management token file %s: %s\n", path,
                    strerror(errno));
        else if ((size_t)n > MGMT_TOKEN_MAX)
            fprintf(stderr, "csca: management token file %s is too long\n",
                    path);
        else {
            buf[n] = '\0';
            rc = token_take(buf, (size_t)n, path);
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    close(fd);
    return rc;
}

/* A new token file; loses gracefully to another process creating the
 * same file at the same moment (then that file is read). */
static int token_create(const char *path)
{
    char *t = rand_token(MGMT_TOKEN_BYTES), line[128];
    int n, rc = -1;

    if (t == NULL)
        return -1;
    n = snprintf(line, sizeof(line), "%s\n", t);
    if (atomic_create(path, line, (size_t)n, 0600) == 0) {
        token = t;
        token_len = strlen(t);
        t = NULL;
        rc = 0;
    } else if (errno == EEXIST) {
        rc = token_read(path) == 0 ? 0 : -1;
    } else {
        fprintf(stderr, "csca: cannot create management token file %s: %s\n",
                path, strerror(errno));
    }
    OPENSSL_cleanse(line, sizeof(line));
    if (t != NULL)
        OPENSSL_clear_free(t, strlen(t));
    return rc;
}

/* Read or create the token; 0 on success, -1 with a message on stderr. */
int mgmt_init(void)
{
    const char *path = mgmt_token_path();
    int r;

    token_wipe();
    r = token_read(path);
    if (r == 1)
        r = token_create(path);
    if (r != 0)
        return -1;
    atexit(token_wipe);
    fprintf(stderr, "csca: management endpoints need the bearer token in %s\n",
            path);
    return 0;
}

/* "Bearer <token>", the scheme case-insensitive (RFC 9110 §11.1).  The
 * token is compared in constant time; its length is no secret. */
bool mgmt_authorized(const char *authorization)
{
    const char *t;

    if (token == NULL || authorization == NULL ||
        strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    t = authorization + 7;
    while (*t == ' ')
        t++;
    if (strlen(t) != token_len)
        return false;
    return CRYPTO_memcmp(t, token, token_len) == 0;
}
