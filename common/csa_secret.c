/* SPDX-License-Identifier: Apache-2.0 */
#include "csa_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* An inherited descriptor ("fd:N", e.g. from systemd) is read once and
 * closed, so that no child ever inherits it. */
static int secret_open(const char *path)
{
    if (strncmp(path, "fd:", 3) == 0) {
        char *end;
        long fd = strtol(path + 3, &end, 10);

        if (end == path + 3 || *end != '\0' || fd < 0 || fd > 65535) {
            errno = EBADF;
            return -1;
        }
        return (int)fd;
    }
    return open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
}

/*
 * A secret file must be a regular file of this user that nobody else can
 * read: a PIN in a world-readable file is a PIN others have.  The error
 * names the file and the fix, never the contents.
 */
static csa_err secret_check(const char *path, int fd)
{
    struct stat st;

    if (strncmp(path, "fd:", 3) == 0)
        return CSA_OK;
    if (fstat(fd, &st) != 0)
        return csa_raise(CSA_ERR_IO, "cannot stat secret file %s: %s", path,
                         strerror(errno));
    if (!S_ISREG(st.st_mode))
        return csa_raise(CSA_ERR_CONFIG,
                         "secret file %s is not a regular file; name the "
                         "file itself (or use fd:N)",
                         path);
    if (st.st_uid != geteuid())
        return csa_raise(CSA_ERR_CONFIG,
                         "secret file %s belongs to uid %lu, not to this "
                         "user (uid %lu); refusing it (chown it, or pass it "
                         "as fd:N)",
                         path, (unsigned long)st.st_uid,
                         (unsigned long)geteuid());
    if ((st.st_mode & 077) != 0)
        return csa_raise(CSA_ERR_CONFIG,
                         "secret file %s can be read or written by group or "
                         "others (mode %04o); refusing it: chmod 600 %s",
                         path, (unsigned)(st.st_mode & 07777), path);
    return CSA_OK;
}

csa_err csa_secret_read(const char *path, csa_secret *out)
{
    unsigned char buf[SECRET_MAX + 1];
    size_t len = 0;
    int owned = 0, fd;
    csa_err err = CSA_OK;

    out->data = NULL;
    out->len = 0;
    fd = secret_open(path);
    if (fd < 0 && errno == ELOOP)
        return csa_raise(CSA_ERR_CONFIG,
                         "secret file %s is a symbolic link; refusing it: "
                         "name the file itself",
                         path);
    if (fd < 0)
        return csa_raise(CSA_ERR_IO, "cannot open secret file %s: %s", path,
                         strerror(errno));
    owned = 1;
    if ((err = secret_check(path, fd)) != CSA_OK)
        goto done;
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
