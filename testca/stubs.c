/* SPDX-License-Identifier: Apache-2.0 */
#include "csca.h"
#define STUB(n)                                                                \
    void n(const struct req *rq, struct resp *rs)                              \
    {                                                                          \
        resp_problem(rs, 501, "serverInternal", "not yet");                    \
    }
#define STUBI(n)                                                               \
    void n(const struct req *rq, struct resp *rs, const char *id)              \
    {                                                                          \
        resp_problem(rs, 501, "serverInternal", "not yet");                    \
    }
STUB(h_new_order)
STUB(h_new_authz) STUBI(h_order) STUBI(h_finalize) STUBI(h_authz) STUBI(h_cert)
    STUBI(h_renewal_info) STUB(h_ari_past) STUBI(h_challenge) STUB(h_revoke)
