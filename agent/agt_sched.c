/* SPDX-License-Identifier: Apache-2.0 */
/* Pure schedule arithmetic (table-tested in tests/agent_unit). */
#include "agt_daemon.h"

time_t agt_sched_lifetime(const agt_config *cfg, const pol_policy *pol,
                          time_t not_before, time_t not_after, double jitter)
{
    double life = difftime(not_after, not_before);
    time_t t, earliest = 0, latest = 0;

    if (life <= 0)
        return not_before;
    t = not_before + (time_t)(life * cfg->renew_at + life * 0.01 * jitter);
    pol_renewal_window(pol, not_before, not_after, &earliest, &latest);
    if (earliest != 0 && t < earliest)
        t = earliest;
    if (latest != 0 && t > latest)
        t = latest;
    return t;
}

long agt_sched_backoff(const agt_config *cfg, int failures)
{
    long delay = cfg->retry_base;
    int i;

    for (i = 1; i < failures && delay < cfg->retry_max; i++)
        delay *= 2;
    return delay < cfg->retry_max ? delay : cfg->retry_max;
}
