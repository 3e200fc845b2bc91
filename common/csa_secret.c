/* SPDX-License-Identifier: Apache-2.0 */
#include "csa_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define SECRET_MAX 4096

void csa_cleanse(void *p, size_t len)
{
    if (p != NULL && len > 0)
        OPENSSL_cleanse(p, len);
}

void csa_secret_free(csa_secret *s)
{
    if (s == NULL)
        return;
    if (s->data != NULL)
        OPENSSL_clear_free(s->data, s->len + 1);
    s->data = NULL;
    s->len = 0;
}

csa_err csa_secret_set(csa_secret *s, const void *data, size_t len)
{
    s->data = OPENSSL_malloc(len + 1);
    if (s->data == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory for a secret");
    memcpy(s->data, data, len);
    s->data[len] = '\0';
    s->len = len;
    return CSA_OK;
}

static int secret_open(const char *path, int *owned)
{
    if (strncmp(path, "fd:", 3) == 0) {
        char *end;
        long fd = strtol(path + 3, &end, 10);

        *owned = 0;
        if (*end != '\0' || fd < 0 || fd > 65535) {
            errno = EBADF;
            return -1;
        }
        return (int)fd;
    }
    *owned = 1;
    return open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

csa_err csa_secret_read(const char *path, csa_secret *out)
{
    unsigned char buf[SECRET_MAX + 1];
    size_t len = 0;
    int owned = 0, fd;
    csa_err err = CSA_OK;

    out->data = NULL;
    out->len = 0;
    fd = secret_open(path, &owned);
    if (fd < 0)
        return csa_raise(CSA_ERR_IO, "cannot open secret file %s: %s", path,
                         strerror(errno));
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = csa_raise(CSA_ERR_IO, "cannot read secret file %s: %s", path,
                            strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > SECRET_MAX) {
            err = csa_raise(CSA_ERR_INVALID,
                            "secret file %s is larger than %d bytes", path,
                            SECRET_MAX);
            goto done;
        }
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    if (len == 0) {
        err = csa_raise(CSA_ERR_INVALID, "secret file %s is empty", path);
        goto done;
    }
    err = csa_secret_set(out, buf, len);
done:
    csa_cleanse(buf, sizeof(buf));
    if (owned && fd >= 0)
        close(fd);
    return err;
}
