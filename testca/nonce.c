/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replay nonces (RFC 8555 §6.5): random, single use, expire after
 * NONCE_TTL seconds.  Kept in memory only: after a restart every old nonce
 * is refused with badNonce, which clients retry.  A fixed-size ring; when
 * it is full the oldest nonce is dropped (it would be refused anyway).
 */
#include "csca.h"

#include <stdlib.h>
#include <string.h>

#define NONCE_SLOTS 4096
#define NONCE_TTL 600

struct slot {
    char *value;
    time_t born;
};

static struct slot ring[NONCE_SLOTS];
static size_t next_slot;

char *nonce_new(void)
{
    char *n = rand_token(16);
    struct slot *s = &ring[next_slot];

    if (n == NULL)
        return NULL;
    free(s->value);
    s->value = strdup(n);
    s->born = time(NULL);
    next_slot = (next_slot + 1) % NONCE_SLOTS;
    return n;
}

/* True when the nonce was issued, is unexpired and unused; marks it used. */
bool nonce_use(const char *nonce)
{
    time_t now = time(NULL);
    size_t i;

    for (i = 0; i < NONCE_SLOTS; i++) {
        struct slot *s = &ring[i];
        if (s->value == NULL || strcmp(s->value, nonce) != 0)
            continue;
        free(s->value);
        s->value = NULL;
        return now - s->born <= NONCE_TTL;
    }
    return false;
}
