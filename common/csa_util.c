/* SPDX-License-Identifier: Apache-2.0 */
#include "csa_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *csa_b64url_encode(const unsigned char *in, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    size_t i, o = 0;

    if (out == NULL)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v =
            (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

csa_err csa_b64url_decode(const char *in, unsigned char **out, size_t *outlen)
{
    size_t len = strlen(in), i, o = 0;
    unsigned acc = 0;
    int bits = 0;
    unsigned char *buf;

    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return csa_raise(CSA_ERR_INVALID, "base64url input has a bad length");
    buf = malloc(len * 3 / 4 + 1);
    if (buf == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    for (i = 0; i < len; i++) {
        int v = b64url_value(in[i]);

        if (v < 0) {
            free(buf);
            return csa_raise(CSA_ERR_INVALID,
                             "invalid base64url character at offset %zu", i);
        }
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits);
        }
    }
    *out = buf;
    *outlen = o;
    return CSA_OK;
}

csa_err csa_file_read(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    csa_err err = CSA_OK;

    *out = NULL;
    if (len != NULL)
        *len = 0;
    if (f == NULL)
        return csa_raise(CSA_ERR_IO, "cannot open %s: %s", path,
                         strerror(errno));
    for (;;) {
        size_t got;

        if (n + 4096 + 1 > cap) {
            char *nb;

            cap = cap ? cap * 2 : 8192;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                err =
                    csa_raise(CSA_ERR_NOMEM, "out of memory reading %s", path);
                goto done;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, 4096, f);
        n += got;
        if (n > max) {
            err = csa_raise(CSA_ERR_INVALID, "%s is larger than %zu bytes",
                            path, max);
            goto done;
        }
        if (got < 4096) {
            if (ferror(f)) {
                err = csa_raise(CSA_ERR_IO, "cannot read %s: %s", path,
                                strerror(errno));
                goto done;
            }
            break;
        }
    }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
    if (len != NULL)
        *len = n;
done:
    free(buf);
    fclose(f);
    return err;
}

static csa_err fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    int fd;
    csa_err err = CSA_OK;

    if (copy == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        err = csa_raise(CSA_ERR_IO, "cannot fsync the directory of %s: %s",
                        path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return err;
}

csa_err csa_file_write_atomic(const char *path, const void *data, size_t len,
                              unsigned mode)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    const unsigned char *p = data;
    size_t off = 0;
    int fd = -1;
    csa_err err = CSA_OK;

    if (tmp == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        err = csa_raise(CSA_ERR_IO, "cannot create a temporary file for %s: %s",
                        path, strerror(errno));
        goto done;
    }
    if (fchmod(fd, mode) != 0) {
        err =
            csa_raise(CSA_ERR_IO, "cannot chmod %s: %s", tmp, strerror(errno));
        goto done;
    }
    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = csa_raise(CSA_ERR_IO, "cannot write %s: %s", tmp,
                            strerror(errno));
            goto done;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0) {
        err =
            csa_raise(CSA_ERR_IO, "cannot fsync %s: %s", tmp, strerror(errno));
        goto done;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        err = csa_raise(CSA_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
                        strerror(errno));
        goto done;
    }
    err = fsync_dir_of(path);
done:
    if (fd >= 0)
        close(fd);
    if (err != CSA_OK)
        unlink(tmp);
    free(tmp);
    return err;
}
