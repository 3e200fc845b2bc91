/* SPDX-License-Identifier: Apache-2.0 */
/* The long-running agent: schedule, renew, swap in, sleep. */
#ifndef AGT_DAEMON_H
#define AGT_DAEMON_H

#include <time.h>

#include "agt_config.h"
#include "policy.h"

/* csagent run lets the token go while it sleeps (docs/operations.md, "The
 * daemon at rest") when its next action is more than this many seconds
 * away: a software token such as SoftHSM keeps every object of the token
 * in the memory of the process that initialised the module (about 8 kB
 * each), and an HSM's sessions are a shared resource.  Five minutes: a
 * renewal due sooner keeps the session (a reopen costs a C_Initialize, a
 * login and the start-up recovery), hours of idling give it back. */
#define AGT_IDLE_RELEASE 300

/* One identity's schedule as the daemon keeps it (and status shows). */
typedef struct {
    char name[64];
    char label[129];
    char serial[80];
    /* RFC 9773 CertID of that certificate ("" when unknown), for the
     * renewal's "replaces" without reading the token again */
    char certid[160];
    time_t not_before, not_after;
    time_t next;   /* when to act */
    int recheck;   /* at next: re-read ARI instead of renewing */
    char why[200]; /* why next is what it is */
    int failures;  /* consecutive */
    long failures_total, renewals_total;
    char last_error[512];
} agt_sched;

/* Lifetime-based renewal time: notBefore + renew_at of the lifetime, with
 * up to 1% jitter (jitter in [0,1)), kept inside the policy's window. */
time_t agt_sched_lifetime(const agt_config *cfg, const pol_policy *pol,
                          time_t not_before, time_t not_after, double jitter);
/* Back-off after n consecutive failures: retry_base * 2^(n-1), capped at
 * retry_max. */
long agt_sched_backoff(const agt_config *cfg, int failures);

#endif
