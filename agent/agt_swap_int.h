/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the swap (agt_swap.c, agt_swap_chain.c) only: the labels of an
 * identity's objects and the issuing CAs stored under "<label>.chain".
 */
#ifndef AGT_SWAP_INT_H
#define AGT_SWAP_INT_H

#include <stdbool.h>

#include <openssl/x509.h>

#include "agt_config.h"
#include "agt_swap.h"
#include "tok.h"

#define AGT_LABEL_MAX 160

/* The labels of one identity's objects. */
typedef struct {
    char cur[AGT_LABEL_MAX];     /* "<label>": what signers use */
    char next[AGT_LABEL_MAX];    /* "<label>.next": the pending pair */
    char retired[AGT_LABEL_MAX]; /* "<label>.retired": the old pair */
    char chain[AGT_LABEL_MAX];   /* "<label>.chain": issuing CAs */
} agt_labels;

void agt_labels_of(const agt_identity *id, agt_labels *l);

/* The certificates under "<label>.chain", read once per renewal, under
 * the identity's lock: handles, X509s (NULL where unreadable) and
 * CKA_IDs; certificates this process stores are added as it stores them. */
typedef struct {
    tok_handle *h;
    X509 **x;
    unsigned char (*id)[TOK_ID_MAX];
    size_t *id_len;
    int *used;
    size_t n, cap;
} agt_cas;

void agt_cas_free(agt_cas *c);
/* Stores the issuers of chain (all but its first) under "<label>.chain"
 * unless there already; cas receives every certificate there, those
 * stored here included (the caller frees it with agt_cas_free).  old (may
 * be NULL): the renewal's start, whose snapshot of "<label>.chain" spares
 * the search when each certificate in it reads back the same. */
csa_err agt_store_chain(tok_ctx *tok, const agt_labels *l,
                        STACK_OF(X509) * chain, const agt_swap_old *old,
                        agt_cas *cas);
/* Writes <state_dir>/<identity>.pem from the token and removes issuing
 * certificates the current leaf no longer uses (see agt_swap_chain.c). */
csa_err agt_swap_publish(tok_ctx *tok, const char *state_dir,
                         const agt_identity *id, X509 *leaf, agt_cas *known);

#endif
