/* SPDX-License-Identifier: Apache-2.0 */
/* Identity status: the token's view, the daemon's schedule, status.json
 * and the Prometheus textfile. */
#ifndef AGT_STATUS_H
#define AGT_STATUS_H

#include <stddef.h>

#include <openssl/x509.h>

#include "agt_config.h"
#include "agt_daemon.h"
#include "tok.h"

/* The certificate currently under the identity's label (the newest when a
 * swap left two for a moment).  Caller frees with X509_free. */
csa_err agt_current_cert(tok_ctx *tok, const agt_identity *id, X509 **out);
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
