/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Answers to the challenge types of draft-ietf-acme-client-05 (otp-01,
 * hotp-01, totp-01, cert-01, ppkp-01), following docs/protocol.md.
 */
#ifndef AGT_CHALLENGE_H
#define AGT_CHALLENGE_H

#include <stdbool.h>

#include "acme.h"
#include "agt_challenge_read.h"
#include "agt_session.h"

/* Builds the JSON response object for challenge ch of identity id, with
 * the hints h (hotp-01/totp-01).  *payload is malloc'd; caller frees. */
csa_err agt_challenge_payload(agt_session *s, const agt_identity *id,
                              const acme_challenge *ch, const agt_otp_hints *h,
                              char **payload);

/* The HOTP value (RFC 4226) of counter with the token secret label; TOTP
 * is HOTP of floor(time / period) (RFC 6238).  out gets digits digits. */
csa_err agt_otp_code(tok_ctx *tok, const char *label, tok_hmac_alg alg,
                     int digits, unsigned long long counter, char out[16]);

#endif
