/* SPDX-License-Identifier: Apache-2.0 */
/* Identity status: the token's view, the daemon's schedule, status.json
 * and the Prometheus textfile. */
#ifndef AGT_STATUS_H
#define AGT_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "agt_config.h"
#include "agt_daemon.h"
#include "tok.h"

/* The certificate currently under the identity's label (the newest when a
 * swap left two for a moment).  Caller frees with X509_free. */
csa_err agt_current_cert(tok_ctx *tok, const agt_identity *id, X509 **out);

/* The token's certificates by label, for looking up many identities'
 * certificates with one search (a daemon with a thousand identities
 * planning its renewals) instead of one search each: on a file-backed
 * token every search reads every object.  A snapshot: good for planning,
 * never for a swap. */
typedef struct {
    tok_labelled *v;
    size_t n;
} agt_cert_index;

/* Fills ix (tok_labelled_find of the certificates, or with all of every
 * object: a renewal round's snapshot, agt_session.snap); ix->v NULL when
 * the search failed or an object could not be read (logged), and lookups
 * then search one by one. */
void agt_cert_index_make(tok_ctx *tok, agt_cert_index *ix, bool all);
void agt_cert_index_free(agt_cert_index *ix);
/* agt_current_cert through ix (NULL, or one without entries after a failed
 * search: a search of its own).  No certificate under the label in ix is
 * CSA_ERR_NOT_FOUND without a search; one of ix that is gone sends the
 * lookup to the token. */
csa_err agt_current_cert_in(tok_ctx *tok, const agt_cert_index *ix,
                            const agt_identity *id, X509 **out);
/* Serial in upper-case hex into buf. */
void agt_serial_of(X509 *x, char *buf, size_t size);
/* RFC 9773 CertID of x; *out malloc'd or NULL when x has no AKI. */
void agt_cert_id_of(X509 *x, char **out);
/* "2026-11-29T14:00:00Z" in a static buffer (one per thread). */
const char *agt_fmt_time(time_t t);
/* Writes <state_dir>/status.json and, when configured, the metrics
 * textfile; both atomically.  Failures are logged. */
void agt_status_write(const agt_config *cfg, const char *state_dir,
                      const agt_sched *s, int n);

#endif
