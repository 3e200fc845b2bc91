/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The typed messages between the key holder and the network process
 * (docs/security.md, "Two processes").  A message on the socket is a 4-byte
 * big-endian length, then the body: a 2-byte big-endian type and up to
 * CSA_IPC_MAX_FIELDS fields, each a 1-byte tag, a 4-byte big-endian length
 * and that many bytes.  A tag appears at most once.  Bodies are at most
 * CSA_IPC_MAX bytes one way, CSA_IPC_BIG the other.  Everything read is checked
 * against these rules (csa_ipc_parse) before a field is looked at, and every
 * field is then read through a typed getter that checks its length and
 * contents.
 */
#ifndef CSA_IPC_H
#define CSA_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csa_err.h"

/* What the key holder reads from the network process; the network process
 * reads the configuration, so up to CSA_IPC_BIG. */
#define CSA_IPC_MAX (1u << 20)
#define CSA_IPC_BIG (40u << 20)
#define CSA_IPC_MAX_FIELDS 16

typedef struct {
    uint8_t tag;
    size_t len;
    const unsigned char *p; /* into the message's body */
} csa_ipc_field;

typedef struct {
    uint16_t type;
    size_t n;
    csa_ipc_field f[CSA_IPC_MAX_FIELDS];
    unsigned char *buf; /* the body when read by csa_ipc_recv (owned) */
    size_t buf_len;
} csa_ipc_msg;

/* Splits body into fields (pointers into body).  CSA_ERR_PROTOCOL names
 * what is wrong: short body, a field running past the end, a zero or
 * repeated tag, too many fields. */
csa_err csa_ipc_parse(const unsigned char *body, size_t len, size_t max,
                      csa_ipc_msg *m);

/* Reads one message of at most max bytes (at most CSA_IPC_BIG) from fd
 * (blocking).  EOF is CSA_ERR_IO "closed".  The caller frees with
 * csa_ipc_msg_free(). */
csa_err csa_ipc_recv(int fd, size_t max, csa_ipc_msg *m);
void csa_ipc_msg_free(csa_ipc_msg *m);

/* Refuses a message with a tag outside allowed (a 0-terminated list). */
csa_err csa_ipc_only(const csa_ipc_msg *m, const uint8_t *allowed);
/* The field with this tag, or NULL. */
const csa_ipc_field *csa_ipc_get(const csa_ipc_msg *m, uint8_t tag);
/* A text field: no NUL byte, at most max bytes.  Absent: *out NULL, an
 * error only when required.  *out malloc'd. */
csa_err csa_ipc_str(const csa_ipc_msg *m, uint8_t tag, size_t max,
                    bool required, char **out);
/* An opaque field of at most max bytes (borrowed from m).  Absent: *p
 * NULL, an error only when required. */
csa_err csa_ipc_bytes(const csa_ipc_msg *m, uint8_t tag, size_t max,
                      bool required, const unsigned char **p, size_t *len);
/* An unsigned number sent as 8 big-endian bytes, at most max.  Absent:
 * *out unchanged, an error only when required. */
csa_err csa_ipc_u64(const csa_ipc_msg *m, uint8_t tag, uint64_t max,
                    bool required, uint64_t *out);
/* A signed number (two's complement in 8 bytes) in [min, max]. */
csa_err csa_ipc_i64(const csa_ipc_msg *m, uint8_t tag, int64_t min, int64_t max,
                    bool required, int64_t *out);

/* Building a message.  Allocation failures are remembered and reported
 * by csa_ipc_send, so callers chain puts without checks. */
typedef struct {
    unsigned char *buf;
    size_t len, cap;
    bool failed;
} csa_ipc_out;

void csa_ipc_begin(csa_ipc_out *o, uint16_t type);
void csa_ipc_put(csa_ipc_out *o, uint8_t tag, const void *p, size_t len);
/* NULL s: the field is left out. */
void csa_ipc_put_str(csa_ipc_out *o, uint8_t tag, const char *s);
void csa_ipc_put_u64(csa_ipc_out *o, uint8_t tag, uint64_t v);
void csa_ipc_put_i64(csa_ipc_out *o, uint8_t tag, int64_t v);
/* Writes the message to fd and frees o (also on error). */
csa_err csa_ipc_send(int fd, csa_ipc_out *o);
void csa_ipc_out_free(csa_ipc_out *o);

#endif
