/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chain verification to the configured trust anchors at a given time.
 * Purposes are not checked here: OpenSSL 3.0 has no code-signing purpose and
 * "any" would say nothing; pol_check_cert() checks the EKU per profile.
 */
#include "pol_internal.h"

#include <stdio.h>

#include <openssl/x509_vfy.h>

/* A store trusting exactly the anchors (no default paths). */
static X509_STORE *anchor_store(STACK_OF(X509) * anchors)
{
    X509_STORE *store = X509_STORE_new();

    if (store == NULL)
        return NULL;
    for (int i = 0; i < sk_X509_num(anchors); i++) {
        if (!X509_STORE_add_cert(store, sk_X509_value(anchors, i))) {
            X509_STORE_free(store);
            return NULL;
        }
    }
    return store;
}

static bool verify_failed(X509_STORE_CTX *ctx, pol_verdict *v)
{
    char actual[POL_TEXT_MAX], subject[160] = "?";
    int err = X509_STORE_CTX_get_error(ctx);
    X509 *bad = X509_STORE_CTX_get_current_cert(ctx);

    if (bad != NULL)
        X509_NAME_oneline(X509_get_subject_name(bad), subject, sizeof(subject));
    snprintf(actual, sizeof(actual), "%s (depth %d, %s)",
             X509_verify_cert_error_string(err),
             X509_STORE_CTX_get_error_depth(ctx), subject);
    return pol_deny(v, "chain.verify", "a chain to a configured trust anchor",
                    actual, "the issued chain does not verify");
}

/* Runs X509_verify_cert; untrusted may be NULL. */
static bool run_verify(X509_STORE *store, X509 *leaf,
                       STACK_OF(X509) * untrusted, time_t now, pol_verdict *v)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_VERIFY_PARAM *param;
    bool ok = false;

    if (ctx == NULL || !X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
        X509_STORE_CTX_free(ctx);
        return pol_deny(v, "chain.verify", "a verification context",
                        "out of memory", "cannot verify");
    }
    param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, now);
    /* An anchor may be an issuing CA the operator pinned, not a root.
     * X509_V_FLAG_X509_STRICT is not set: it refuses test CAs' chains
     * (missing AKI) for reasons that are not the policy's. */
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_verify_cert(ctx) == 1)
        ok = pol_ok(v);
    else
        ok = verify_failed(ctx, v);
    X509_STORE_CTX_free(ctx);
    return ok;
}

bool pol_verify_chain(STACK_OF(X509) * chain, STACK_OF(X509) * anchors,
                      time_t now, pol_verdict *v)
{
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE *store;
    bool ok;

    if (chain == NULL || sk_X509_num(chain) < 1)
        return pol_deny(v, "chain.verify", "a leaf certificate", "none",
                        "empty chain");
    if (anchors == NULL || sk_X509_num(anchors) < 1)
        return pol_deny(v, "ca.trust_anchors", "at least one trust anchor",
                        "none", "no trust anchor configured");
    store = anchor_store(anchors);
    if (store == NULL)
        return pol_deny(v, "chain.verify", "a trust store", "out of memory",
                        "cannot verify");
    /* The intermediates are the chain minus its leaf; the stack shares the
     * certificates (no references taken) and is freed before returning. */
    untrusted = sk_X509_new_null();
    for (int i = 1; untrusted != NULL && i < sk_X509_num(chain); i++) {
        if (!sk_X509_push(untrusted, sk_X509_value(chain, i))) {
            sk_X509_free(untrusted);
            untrusted = NULL;
        }
    }
    if (untrusted == NULL)
        ok = pol_deny(v, "chain.verify", "a chain", "out of memory",
                      "cannot verify");
    else
        ok = run_verify(store, sk_X509_value(chain, 0), untrusted, now, v);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    return ok;
}
