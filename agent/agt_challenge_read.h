/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A challenge of draft-ietf-acme-client-05 as both processes read it,
 * without a token (agt_challenge_read.c); the answers are agt_challenge.h.
 */
#ifndef AGT_CHALLENGE_READ_H
#define AGT_CHALLENGE_READ_H

#include <stdbool.h>

#include "acme.h"
#include "agt_config.h"
#include "agt_net.h"

/* Reads and range-checks the hints of challenge ch (its JSON); bad hints
 * are the CA's protocol error, naming the challenge and the member.  The
 * network process reads them; the key holder gets them typed. */
csa_err agt_otp_hints_parse(const acme_challenge *ch, agt_otp_hints *h);

/* RFC 8555 §8.1/§8.3: 22 to 128 base64url characters, the only tokens
 * whose key authorization a token key signs (cert-01, ppkp-01). */
bool agt_challenge_token_ok(const char *t);

/* otp-01, hotp-01 or totp-01. */
bool agt_challenge_is_otp(const char *type);

/* Whether the agent answers this type without a human (for the policy's
 * "automatic" rule). */
bool agt_challenge_automatic(const agt_identity *id, const char *type);

#endif
