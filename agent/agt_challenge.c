/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_challenge.h"

#include <string.h>

bool agt_challenge_automatic(const char *type)
{
    /* A human types otp-01 codes; everything else the agent answers. */
    return strcmp(type, "otp-01") != 0;
}

csa_err agt_challenge_payload(agt_session *s, const agt_identity *id,
                              const acme_challenge *ch, char **payload)
{
    (void)s;
    *payload = NULL;
    return csa_raise(CSA_ERR_UNSUPPORTED,
                     "identity %s: challenge type %s is not supported yet",
                     id->name, ch->type);
}
