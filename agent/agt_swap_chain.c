/* SPDX-License-Identifier: Apache-2.0 */
/* The swap's issuing CAs: stored under "<label>.chain" with an id that
 * proves csagent stored them, and the chain file <identity>.pem. */
#include "agt_swap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "agt_status.h"
#include "csa_log.h"
#include "csa_util.h"

/* ---- the chain: issuing CAs under "<label>.chain" ---- */

/* Chain certificates get CKA_ID = the first 16 bytes of their SHA-256: the
 * id itself then proves that csagent stored the object. */
static void agt_chain_id(X509 *ca, unsigned char id[16])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    X509_digest(ca, EVP_sha256(), md, &mdlen);
    memcpy(id, md, 16);
}

void agt_cas_free(agt_cas *c)
{
    size_t i;

    for (i = 0; c->x != NULL && i < c->n; i++)
        X509_free(c->x[i]);
    free(c->x);
    free(c->h);
    free(c->id);
    free(c->id_len);
    free(c->used);
    memset(c, 0, sizeof(*c));
}

/* Room for cap certificates in c (handles, X509s, ids). */
static csa_err agt_cas_alloc(agt_cas *c, size_t cap)
{
    tok_handle *h;

    c->cap = cap;
    if ((h = realloc(c->h, cap * sizeof(*c->h))) != NULL)
        c->h = h;
    if (h == NULL || (c->x = calloc(cap, sizeof(*c->x))) == NULL ||
        (c->id = calloc(cap, sizeof(*c->id))) == NULL ||
        (c->id_len = calloc(cap, sizeof(*c->id_len))) == NULL ||
        (c->used = calloc(cap, sizeof(*c->used))) == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    return CSA_OK;
}

/* The certificates under "<label>.chain" the renewal's snapshot listed
 * (old), each checked and read in one C_GetAttributeValue
 * (tok_cert_get_if).  False, with c emptied, when none are known or one
 * no longer is what the snapshot listed: the caller searches. */
static bool agt_cas_known(tok_ctx *tok, const agt_labels *l,
                          const agt_swap_old *old, size_t extra, agt_cas *c)
{
    size_t i;
    csa_err err;

    if (old == NULL || !old->chain_known ||
        old->generation != tok_generation(tok) ||
        agt_cas_alloc(c, old->chain_n + extra + 1) != CSA_OK) {
        csa_err_clear();
        agt_cas_free(c);
        return false;
    }
    for (i = 0; i < old->chain_n; i++) {
        err = tok_cert_get_if(tok, old->chain_h[i], l->chain, old->chain_id[i],
                              old->chain_id_len[i], &c->x[c->n]);
        if (err == CSA_ERR_NOT_FOUND) {
            agt_cas_free(c);
            return false;
        }
        csa_err_clear(); /* unreadable: kept as NULL, as a search finds it */
        c->h[c->n] = old->chain_h[i];
        memcpy(c->id[c->n], old->chain_id[i], old->chain_id_len[i]);
        c->id_len[c->n++] = old->chain_id_len[i];
    }
    return true;
}

/* The certificates under "<label>.chain": those old knows (agt_cas_known),
 * else one search, then one C_GetAttributeValue each (CKA_ID and
 * CKA_VALUE).  Room for extra more. */
static csa_err agt_cas_read(tok_ctx *tok, const agt_labels *l, size_t extra,
                            const agt_swap_old *old, agt_cas *c)
{
    size_t i;
    csa_err err;

    if (agt_cas_known(tok, l, old, extra, c))
        return CSA_OK;
    if ((err = tok_find_handles(tok, l->chain, NULL, 0, TOK_CLASS_CERTIFICATE,
                                &c->h, &c->n)) != CSA_OK ||
        (err = agt_cas_alloc(c, c->n + extra + 1)) != CSA_OK)
        return err;
    for (i = 0; i < c->n; i++)
        if (tok_cert_get_id(tok, c->h[i], &c->x[i], c->id[i], &c->id_len[i]) !=
            CSA_OK)
            csa_err_clear();
    return CSA_OK;
}

/* Whether some certificate under "<label>.chain" has this CKA_ID. */
static bool agt_cas_has(const agt_cas *c, const unsigned char cid[16])
{
    size_t i;

    for (i = 0; i < c->n; i++)
        if (c->id_len[i] == 16 && memcmp(c->id[i], cid, 16) == 0)
            return true;
    return false;
}

/* Ones already there are kept (renewals rarely change the intermediate);
 * agt_swap_publish drops those the current leaf no longer uses.  cas
 * receives every certificate under "<label>.chain", those stored here
 * included (the caller frees it with agt_cas_free). */
csa_err agt_store_chain(tok_ctx *tok, const agt_labels *l,
                        STACK_OF(X509) * chain, const agt_swap_old *old,
                        agt_cas *cas)
{
    unsigned char cid[16];
    int i;
    csa_err err = agt_cas_read(tok, l, (size_t)sk_X509_num(chain), old, cas);

    for (i = 1; err == CSA_OK && i < sk_X509_num(chain); i++) {
        X509 *ca = sk_X509_value(chain, i);
        tok_handle h = 0;

        agt_chain_id(ca, cid);
        if (agt_cas_has(cas, cid) ||
            (err = tok_cert_store(tok, ca, l->chain, cid, sizeof(cid), &h)) !=
                CSA_OK)
            continue;
        X509_up_ref(ca);
        cas->h[cas->n] = h;
        cas->x[cas->n] = ca;
        memcpy(cas->id[cas->n], cid, sizeof(cid));
        cas->id_len[cas->n++] = sizeof(cid);
    }
    return err;
}

/* Builds leaf + issuers from the certificates under "<label>.chain"
 * (cas), so the file always matches the token, also after a recovery.
 * leaf: the certificate under the label, taken over. */
static void agt_cas_chain(X509 *leaf, agt_cas *cas, STACK_OF(X509) * out)
{
    X509 *cur = leaf;
    size_t i;
    int found = 1;

    sk_X509_push(out, cur);
    while (found && sk_X509_num(out) < 8) {
        found = 0;
        for (i = 0; i < cas->n && !found; i++) {
            if (cas->used[i] || cas->x[i] == NULL ||
                X509_check_issued(cas->x[i], cur) != X509_V_OK)
                continue;
            X509_up_ref(cas->x[i]);
            sk_X509_push(out, cas->x[i]);
            cas->used[i] = found = 1;
            cur = cas->x[i];
        }
    }
}

/* Deletes an unused chain certificate only if its id is the one csagent
 * gives (another program's certificate under the label stays); the id was
 * read from the object itself under this renewal's lock (agt_cas_read). */
static void agt_chain_drop(tok_ctx *tok, const agt_identity *id,
                           const agt_cas *cas, size_t i)
{
    unsigned char cid[16];

    if (cas->x[i] == NULL || cas->id_len[i] != sizeof(cid))
        return;
    agt_chain_id(cas->x[i], cid);
    if (memcmp(cas->id[i], cid, sizeof(cid)) == 0 &&
        tok_obj_destroy(tok, cas->h[i]) != CSA_OK)
        csa_warn("swap", "%s: unused chain certificate not deleted: %s",
                 id->name, csa_errmsg());
}

/* Writes <state_dir>/<identity>.pem from the token and removes issuing
 * certificates the current leaf no longer uses.  leaf and known: the
 * certificate this process just put under the label and the chain objects
 * it read and stored in the same locked renewal (agt_store_chain), or NULL
 * to read both from the token (a recovery). */
csa_err agt_swap_publish(tok_ctx *tok, const char *state_dir,
                         const agt_identity *id, X509 *leaf, agt_cas *known)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    agt_cas own = {0}, *cas = known != NULL ? known : &own;
    BIO *bio = BIO_new(BIO_s_mem());
    char *path = NULL, *data;
    agt_labels l;
    size_t i;
    long len;
    int k;
    csa_err err =
        chain && bio ? CSA_OK : csa_raise(CSA_ERR_NOMEM, "out of memory");

    agt_labels_of(id, &l);
    if (err == CSA_OK && leaf != NULL && known != NULL)
        X509_up_ref(leaf);
    else if (err == CSA_OK &&
             (err = agt_current_cert(tok, id, &leaf)) == CSA_OK &&
             (err = agt_cas_read(tok, &l, 0, NULL, cas)) != CSA_OK) {
        X509_free(leaf);
        leaf = NULL;
    }
    if (err == CSA_OK)
        agt_cas_chain(leaf, cas, chain);
    if (err == CSA_OK && asprintf(&path, "%s/%s.pem", state_dir, id->name) < 0)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    for (k = 0; err == CSA_OK && k < sk_X509_num(chain); k++)
        PEM_write_bio_X509(bio, sk_X509_value(chain, k));
    if (err == CSA_OK) {
        len = BIO_get_mem_data(bio, &data);
        err = csa_file_write_atomic(path, data, (size_t)len, 0644);
    }
    for (i = 0; err == CSA_OK && i < cas->n; i++)
        if (!cas->used[i])
            agt_chain_drop(tok, id, cas, i);
    agt_cas_free(&own);
    free(path);
    BIO_free(bio);
    sk_X509_pop_free(chain, X509_free);
    return err;
}
