/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nonce pool: every response's Replay-Nonce is kept (up to a few) and
 * used for the next signed request; when the pool is empty, one is fetched
 * from newNonce with HEAD (RFC 8555 §7.2).
 */
#include <stdlib.h>
#include <string.h>

#include "acme_int.h"
#include "csa_log.h"

void acme_nonce_put(acme_client *c, const char *nonce)
{
    char *copy;

    if (nonce == NULL || nonce[0] == '\0')
        return;
    copy = strdup(nonce);
    if (copy == NULL)
        return; /* a lost nonce only costs a HEAD request */
    if (c->n_nonces == ACME_NONCE_POOL) {
        /* drop the oldest: it is the likeliest to have expired */
        free(c->nonces[0]);
        memmove(c->nonces, c->nonces + 1,
                (ACME_NONCE_POOL - 1) * sizeof(c->nonces[0]));
        c->n_nonces--;
    }
    c->nonces[c->n_nonces++] = copy;
}

void acme_nonce_clear(acme_client *c)
{
    while (c->n_nonces > 0)
        free(c->nonces[--c->n_nonces]);
}

static csa_err nonce_fetch(acme_client *c, char **out)
{
    acme_http_resp r = {0};
    const acme_directory *dir;
    csa_err err;

    err = acme_directory_get(c, &dir);
    if (err != CSA_OK)
        return err;
    /* HEAD newNonce only hands out a nonce: safe to repeat (§7.2) */
    err = acme_get(c, "HEAD", dir->new_nonce, ACME_MAX_JSON, &r);
    if (err != CSA_OK)
        goto done;
    if ((r.status != 200 && r.status != 204) || r.nonce == NULL ||
        r.nonce[0] == '\0') {
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "newNonce %s answered HTTP %ld without a Replay-Nonce",
                        dir->new_nonce, r.status);
        acme_retry_context(&r);
        goto done;
    }
    *out = r.nonce;
    r.nonce = NULL;
done:
    acme_http_resp_clear(&r);
    return err;
}

/* Takes the newest pooled nonce, else fetches one.  *out is the caller's. */
csa_err acme_nonce_get(acme_client *c, char **out)
{
    *out = NULL;
    if (c->n_nonces > 0) {
        *out = c->nonces[--c->n_nonces];
        return CSA_OK;
    }
    return nonce_fetch(c, out);
}
