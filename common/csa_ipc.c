/* SPDX-License-Identifier: Apache-2.0 */
#include "csa_ipc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

static uint32_t csa_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

csa_err csa_ipc_parse(const unsigned char *body, size_t len, size_t max,
                      csa_ipc_msg *m)
{
    size_t off = 2, i;

    m->n = 0;
    if (len < 2 || len > max)
        return csa_raise(CSA_ERR_PROTOCOL, "message of %zu bytes (2 to %zu)",
                         len, max);
    m->type = (uint16_t)(body[0] << 8 | body[1]);
    while (off < len) {
        csa_ipc_field *f;
        uint32_t flen;

        if (len - off < 5)
            return csa_raise(CSA_ERR_PROTOCOL,
                             "message type %u: field header cut at byte %zu",
                             m->type, off);
        if (m->n == CSA_IPC_MAX_FIELDS)
            return csa_raise(CSA_ERR_PROTOCOL,
                             "message type %u: more than %d fields", m->type,
                             CSA_IPC_MAX_FIELDS);
        flen = csa_be32(body + off + 1);
        if (flen > len - off - 5)
            return csa_raise(CSA_ERR_PROTOCOL,
                             "message type %u: field %u of %u bytes runs "
                             "past the end",
                             m->type, body[off], flen);
        if (body[off] == 0)
            return csa_raise(CSA_ERR_PROTOCOL, "message type %u: tag 0",
                             m->type);
        for (i = 0; i < m->n; i++)
            if (m->f[i].tag == body[off])
                return csa_raise(CSA_ERR_PROTOCOL,
                                 "message type %u: field %u repeated", m->type,
                                 body[off]);
        f = &m->f[m->n++];
        f->tag = body[off];
        f->len = flen;
        f->p = body + off + 5;
        off += 5 + (size_t)flen;
    }
    return CSA_OK;
}

static csa_err csa_read_full(int fd, unsigned char *p, size_t len, bool *eof)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = read(fd, p + got, len - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return csa_raise(CSA_ERR_IO, "reading the other process: %s",
                             strerror(errno));
        if (r == 0) {
            if (eof != NULL)
                *eof = got == 0;
            return csa_raise(CSA_ERR_IO, "the other process closed the "
                                         "connection");
        }
        got += (size_t)r;
    }
    return CSA_OK;
}

csa_err csa_ipc_recv(int fd, size_t max, csa_ipc_msg *m)
{
    unsigned char hdr[4];
    uint32_t len;
    csa_err err;

    memset(m, 0, sizeof(*m));
    if ((err = csa_read_full(fd, hdr, 4, NULL)) != CSA_OK)
        return err;
    len = csa_be32(hdr);
    if (max > CSA_IPC_BIG)
        max = CSA_IPC_BIG;
    if (len < 2 || len > max)
        return csa_raise(CSA_ERR_PROTOCOL, "message of %u bytes (2 to %zu)",
                         len, max);
    if ((m->buf = malloc(len)) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    m->buf_len = len;
    if ((err = csa_read_full(fd, m->buf, len, NULL)) == CSA_OK)
        err = csa_ipc_parse(m->buf, len, max, m);
    if (err != CSA_OK)
        csa_ipc_msg_free(m);
    return err;
}

void csa_ipc_msg_free(csa_ipc_msg *m)
{
    /* Bodies can carry an EAB key or an OTP answer. */
    if (m->buf != NULL)
        OPENSSL_cleanse(m->buf, m->buf_len);
    free(m->buf);
    memset(m, 0, sizeof(*m));
}

csa_err csa_ipc_only(const csa_ipc_msg *m, const uint8_t *allowed)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (allowed == NULL ||
            strchr((const char *)allowed, m->f[i].tag) == NULL)
            return csa_raise(CSA_ERR_PROTOCOL,
                             "message type %u: field %u is not one it takes",
                             m->type, m->f[i].tag);
    return CSA_OK;
}

const csa_ipc_field *csa_ipc_get(const csa_ipc_msg *m, uint8_t tag)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (m->f[i].tag == tag)
            return &m->f[i];
    return NULL;
}

csa_err csa_ipc_bytes(const csa_ipc_msg *m, uint8_t tag, size_t max,
                      bool required, const unsigned char **p, size_t *len)
{
    const csa_ipc_field *f = csa_ipc_get(m, tag);

    *p = NULL;
    *len = 0;
    if (f == NULL)
        return required ? csa_raise(CSA_ERR_PROTOCOL,
                                    "message type %u: field %u missing",
                                    m->type, tag)
                        : CSA_OK;
    if (f->len > max)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "message type %u: field %u of %zu bytes (at most "
                         "%zu)",
                         m->type, tag, f->len, max);
    *p = f->p;
    *len = f->len;
    return CSA_OK;
}

csa_err csa_ipc_str(const csa_ipc_msg *m, uint8_t tag, size_t max,
                    bool required, char **out)
{
    const unsigned char *p;
    size_t len;
    csa_err err = csa_ipc_bytes(m, tag, max, required, &p, &len);

    *out = NULL;
    if (err != CSA_OK || p == NULL)
        return err;
    if (memchr(p, '\0', len) != NULL)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "message type %u: field %u holds a NUL byte", m->type,
                         tag);
    if ((*out = malloc(len + 1)) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    memcpy(*out, p, len);
    (*out)[len] = '\0';
    return CSA_OK;
}

csa_err csa_ipc_u64(const csa_ipc_msg *m, uint8_t tag, uint64_t max,
                    bool required, uint64_t *out)
{
    const unsigned char *p;
    size_t len, i;
    uint64_t v = 0;
    csa_err err = csa_ipc_bytes(m, tag, 8, required, &p, &len);

    if (err != CSA_OK || p == NULL)
        return err;
    if (len != 8)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "message type %u: number field %u of %zu bytes",
                         m->type, tag, len);
    for (i = 0; i < 8; i++)
        v = v << 8 | p[i];
    if (v > max)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "message type %u: field %u is out of range", m->type,
                         tag);
    *out = v;
    return CSA_OK;
}

csa_err csa_ipc_i64(const csa_ipc_msg *m, uint8_t tag, int64_t min, int64_t max,
                    bool required, int64_t *out)
{
    uint64_t u = 0;
    int64_t v;
    csa_err err = csa_ipc_u64(m, tag, UINT64_MAX, required, &u);

    if (err != CSA_OK || csa_ipc_get(m, tag) == NULL)
        return err;
    memcpy(&v, &u, sizeof(v));
    if (v < min || v > max)
        return csa_raise(CSA_ERR_PROTOCOL,
                         "message type %u: field %u is out of range", m->type,
                         tag);
    *out = v;
    return CSA_OK;
}

static void csa_ipc_grow(csa_ipc_out *o, size_t more)
{
    unsigned char *n;
    size_t cap;

    if (o->failed)
        return;
    if (more > CSA_IPC_BIG + 4 - o->len) {
        o->failed = true;
        return;
    }
    if (o->len + more <= o->cap)
        return;
    cap = o->cap ? o->cap : 256;
    while (cap < o->len + more)
        cap *= 2;
    if ((n = malloc(cap)) == NULL) {
        o->failed = true;
        return;
    }
    if (o->buf != NULL) {
        memcpy(n, o->buf, o->len);
        OPENSSL_cleanse(o->buf, o->len);
    }
    free(o->buf);
    o->buf = n;
    o->cap = cap;
}

void csa_ipc_begin(csa_ipc_out *o, uint16_t type)
{
    memset(o, 0, sizeof(*o));
    csa_ipc_grow(o, 6);
    if (o->failed)
        return;
    memset(o->buf, 0, 4);
    o->buf[4] = (unsigned char)(type >> 8);
    o->buf[5] = (unsigned char)type;
    o->len = 6;
}

void csa_ipc_put(csa_ipc_out *o, uint8_t tag, const void *p, size_t len)
{
    csa_ipc_grow(o, 5 + len);
    if (o->failed)
        return;
    o->buf[o->len] = tag;
    o->buf[o->len + 1] = (unsigned char)(len >> 24);
    o->buf[o->len + 2] = (unsigned char)(len >> 16);
    o->buf[o->len + 3] = (unsigned char)(len >> 8);
    o->buf[o->len + 4] = (unsigned char)len;
    if (len > 0)
        memcpy(o->buf + o->len + 5, p, len);
    o->len += 5 + len;
}

void csa_ipc_put_str(csa_ipc_out *o, uint8_t tag, const char *s)
{
    if (s != NULL)
        csa_ipc_put(o, tag, s, strlen(s));
}

void csa_ipc_put_u64(csa_ipc_out *o, uint8_t tag, uint64_t v)
{
    unsigned char b[8];
    int i;

    for (i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)v;
    csa_ipc_put(o, tag, b, 8);
}

void csa_ipc_put_i64(csa_ipc_out *o, uint8_t tag, int64_t v)
{
    uint64_t u;

    memcpy(&u, &v, sizeof(u));
    csa_ipc_put_u64(o, tag, u);
}

void csa_ipc_out_free(csa_ipc_out *o)
{
    if (o->buf != NULL)
        OPENSSL_cleanse(o->buf, o->len);
    free(o->buf);
    memset(o, 0, sizeof(*o));
}

csa_err csa_ipc_send(int fd, csa_ipc_out *o)
{
    size_t off = 0, body;
    csa_err err = CSA_OK;

    if (o->failed || o->buf == NULL) {
        csa_ipc_out_free(o);
        return csa_raise(CSA_ERR_NOMEM, "message too large or out of memory");
    }
    body = o->len - 4;
    o->buf[0] = (unsigned char)(body >> 24);
    o->buf[1] = (unsigned char)(body >> 16);
    o->buf[2] = (unsigned char)(body >> 8);
    o->buf[3] = (unsigned char)body;
    while (off < o->len) {
        ssize_t w = send(fd, o->buf + off, o->len - off, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            err = csa_raise(CSA_ERR_IO, "writing to the other process: %s",
                            strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    csa_ipc_out_free(o);
    return err;
}
