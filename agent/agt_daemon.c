/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csagent run: renews every configured identity on time and sleeps until
 * the next due time (no polling).  Signals: SIGHUP reloads the
 * configuration (a bad one is reported and the old one kept), SIGTERM and
 * SIGINT stop after the current step (a renewal in progress completes or
 * rolls back through the swap journal), SIGUSR1 renews everything now.
 *
 * While nothing is due for more than AGT_IDLE_RELEASE seconds the daemon
 * lets the token go (logout, C_Finalize, network process stopped) and
 * opens it again when something is due: the schedule is kept as it was,
 * only the token is reopened.  A login that fails then stops the daemon
 * (exit 4): a failed login is never tried again.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "agt_daemon.h"
#include "agt_session.h"
#include "agt_status.h"
#include "agt_swap.h"
#include "csa_log.h"

#ifdef CSA_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#else
static int sd_notifyf(int unset, const char *fmt, ...)
{
    (void)unset, (void)fmt;
    return 0;
}
#define sd_notify(u, s) sd_notifyf((u), "%s", (s))
static int sd_watchdog_enabled(int unset, uint64_t *usec)
{
    (void)unset, (void)usec;
    return 0;
}
#endif

typedef struct {
    agt_globals *g;
    agt_session s;
    int session_open;
    /* the token was let go while idle (agt_daemon_release): d->s keeps
     * its configuration, policy and state directory, not the token */
    int released;
    int reopen_failures; /* consecutive failed reopens */
    time_t reopen_at;    /* not before (back-off after a failure) */
    int fatal_rc;        /* non-zero: stop with this exit status */
    /* no renewalInfo requests for the rest of the round: the CA did not
     * answer one, or a stop is pending (planning stays token-only) */
    int ari_off;
    /* the token's certificates by label while many identities are
     * planned or started at once (agt_certs_begin), else NULL */
    agt_cert_index *certs;
    agt_sched *sched; /* one per identity of the configuration */
    int n;
    sigset_t sigs;
    uint64_t watchdog_usec;
} agt_daemon;

static double agt_rand01(void)
{
    unsigned int r = 0;

    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (unsigned int)rand();
    return (double)r / 4294967296.0;
}

static time_t agt_asn1_time(const ASN1_TIME *t)
{
    struct tm tm;

    return ASN1_TIME_to_tm(t, &tm) == 1 ? timegm(&tm) : 0;
}

/* ARI window if the CA offers it; returns 0 when not used. */
static int agt_sched_ari(agt_daemon *d, X509 *x, agt_sched *e, time_t now)
{
    acme_renewal *r = NULL;
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der), used = 0;
    csa_err err;

    if (len <= 0) {
        OPENSSL_free(der);
        return 0;
    }
    if (d->ari_off) {
        OPENSSL_free(der);
        return 0;
    }
    if ((err = agt_net_renewal_info(d->s.net, der, (size_t)len, &r)) ==
        CSA_OK) {
        time_t start = r->start, end = r->end;

        pol_clamp_window(d->s.pol, e->not_before, e->not_after, &start, &end);
        e->next = start + (time_t)(agt_rand01() * (double)(end - start));
        snprintf(e->why, sizeof(e->why),
                 "random time in the CA's ARI "
                 "window");
        if (r->retry_after > 0 && now + r->retry_after < e->next) {
            e->next = now + r->retry_after;
            e->recheck = 1;
            snprintf(e->why, sizeof(e->why),
                     "re-check ARI after Retry-After %lds", r->retry_after);
        }
        used = 1;
    } else if (err != CSA_ERR_UNSUPPORTED) {
        csa_warn("agent", "%s: renewalInfo failed, using the lifetime: %s",
                 e->name, csa_errmsg());
        /* A CA that cannot be reached is not asked again for each of the
         * other identities of this round (4 attempts each). */
        if (err == CSA_ERR_NETWORK || err == CSA_ERR_TLS ||
            err == CSA_ERR_TIMEOUT || err == CSA_ERR_IO) {
            d->ari_off = 1;
            csa_warn("agent", "not asking the CA for renewal information "
                              "again until the next round");
        }
    }
    acme_renewal_free(r);
    OPENSSL_free(der);
    return used;
}

/* Many identities are about to be looked at on the token (n of them):
 * one search for all their certificates instead of one each.  With a
 * file-backed token every search reads every object, so n searches cost
 * in proportion to n times the objects on the token. */
static void agt_certs_begin(agt_daemon *d, agt_cert_index *ix, int n,
                            bool round)
{
    const agt_config *cfg = d->g->cfg;
    agt_pem_mark *pems = NULL;
    int i;

    d->certs = NULL;
    ix->v = NULL;
    ix->n = 0;
    if (n < 2 || d->s.tok == NULL)
        return;
    /* a round lists every object: its renewals find their labels' pairs
     * and chains there (agt_swap_begin), each handle read back first,
     * unless <identity>.pem, marked before the listing, changed since */
    if (round && (pems = calloc((size_t)cfg->n_ids + 1, sizeof(*pems))) != NULL)
        for (i = 0; i < cfg->n_ids; i++)
            agt_swap_pem_mark(d->s.state_dir, &cfg->ids[i], &pems[i]);
    agt_cert_index_make(d->s.tok, ix, round);
    if (ix->v == NULL) {
        free(pems);
        return;
    }
    d->certs = ix;
    if (pems != NULL) {
        d->s.snap = ix->v;
        d->s.n_snap = ix->n;
        d->s.snap_pems = pems;
    }
}

static void agt_certs_end(agt_daemon *d, agt_cert_index *ix)
{
    d->certs = NULL;
    d->s.snap = NULL;
    d->s.n_snap = 0;
    free((void *)d->s.snap_pems);
    d->s.snap_pems = NULL;
    agt_cert_index_free(ix);
}

/* Plans the identity from its certificate x, or from the one on the token
 * when x is NULL. */
static void agt_sched_plan(agt_daemon *d, const agt_identity *id, agt_sched *e,
                           time_t now, X509 *known)
{
    X509 *x = NULL;
    char *certid = NULL;
    pol_verdict v;

    e->recheck = 0;
    e->serial[0] = '\0';
    e->certid[0] = '\0';
    if (!pol_check_ephemeral(d->s.pol, id->name, false, &v)) {
        /* One key per signature (csagent exec --ephemeral): no long-lived
         * pair to keep renewed.  Looked at again after a year or a
         * reload. */
        e->not_before = e->not_after = 0;
        e->next = now + 365L * 86400;
        snprintf(e->why, sizeof(e->why),
                 "not renewed: the policy allows only ephemeral keys "
                 "(ephemeral.required)");
        return;
    }
    if (known != NULL && X509_up_ref(known))
        x = known;
    else if (agt_current_cert_in(d->s.tok, d->certs, id, &x) != CSA_OK)
        x = NULL;
    if (x == NULL) {
        csa_err_clear();
        e->not_before = e->not_after = 0;
        e->next = now;
        snprintf(e->why, sizeof(e->why), "no certificate on the token yet");
        return;
    }
    e->not_before = agt_asn1_time(X509_get0_notBefore(x));
    e->not_after = agt_asn1_time(X509_get0_notAfter(x));
    agt_serial_of(x, e->serial, sizeof(e->serial));
    agt_cert_id_of(x, &certid);
    if (certid != NULL && strlen(certid) < sizeof(e->certid))
        memcpy(e->certid, certid, strlen(certid) + 1);
    free(certid);
    if (now >= e->not_after) {
        e->next = now;
        snprintf(e->why, sizeof(e->why), "the certificate has expired");
    } else if (!agt_sched_ari(d, x, e, now)) {
        e->next = agt_sched_lifetime(d->g->cfg, d->s.pol, e->not_before,
                                     e->not_after, agt_rand01());
        snprintf(e->why, sizeof(e->why), "%.0f%% of the lifetime",
                 d->g->cfg->renew_at * 100.0);
    }
    X509_free(x);
}

static void agt_sched_compute(agt_daemon *d, const agt_identity *id,
                              agt_sched *e, time_t now)
{
    agt_sched_plan(d, id, e, now, NULL);
}

/* What a renewal's end means for the identity's schedule.  plan: work
 * out the next renewal of a renewed identity now (it may ask the CA for
 * renewal information, through the session's network process); without
 * it the caller does that later. */
static void agt_renew_end(agt_daemon *d, const agt_identity *id, agt_sched *e,
                          csa_err err, bool plan)
{
    time_t now = time(NULL);

    if (err == CSA_ERR_BUSY) {
        /* Another agent is renewing it: look again in a minute. */
        e->next = now + 60;
        snprintf(e->why, sizeof(e->why), "another agent holds the lock");
    } else if (err == CSA_OK) {
        e->failures = 0;
        e->renewals_total++;
        e->last_error[0] = '\0';
        if (plan)
            agt_sched_compute(d, id, e, now);
    } else {
        e->failures++;
        e->failures_total++;
        e->recheck = 0; /* a failed renewal is retried, not re-planned */
        snprintf(e->last_error, sizeof(e->last_error), "%s", csa_errmsg());
        e->next = now + agt_sched_backoff(d->g->cfg, e->failures);
        snprintf(e->why, sizeof(e->why), "back-off after %d failure(s)",
                 e->failures);
        csa_error("agent", "%s: renewal failed: %s; next try in %lds", id->name,
                  e->last_error, (long)(e->next - now));
    }
}

static void agt_renew_done(agt_daemon *d, const agt_identity *id, agt_sched *e,
                           csa_err err)
{
    agt_renew_end(d, id, e, err, true);
}

/* The CertID (RFC 9773) of the identity's current certificate, or NULL:
 * the one it was planned from.  Should another process have renewed it
 * since, the CA says the certificate was already replaced and the order
 * goes without "replaces" (agt_order). */
static char *agt_renew_start(agt_daemon *d, const agt_identity *id,
                             agt_sched *e)
{
    char *certid = NULL;
    X509 *x = NULL;

    sd_notifyf(0, "STATUS=renewing %s", id->name);
    csa_info("agent", "%s: renewing (%s)", id->name, e->why);
    if (e->certid[0] != '\0')
        return strdup(e->certid);
    if (agt_current_cert_in(d->s.tok, d->certs, id, &x) == CSA_OK)
        agt_cert_id_of(x, &certid);
    X509_free(x);
    csa_err_clear();
    return certid;
}

static void agt_renew(agt_daemon *d, const agt_identity *id, agt_sched *e)
{
    char *serial = NULL, *certid = agt_renew_start(d, id, e);
    csa_err err;

    /* The account lock is held shared only for the renewal (see
     * agt_daemon_open): it also re-reads the account key, which a rollover
     * may have changed while the daemon slept. */
    err = agt_account_lock(&d->s, AGT_LOCK_SHARED);
    if (err == CSA_OK)
        err = agt_account_ensure(&d->s, false, NULL);
    if (err == CSA_OK)
        err = agt_enroll(&d->s, id, certid, &serial);
    agt_account_unlock(&d->s);
    agt_renew_done(d, id, e, err);
    free(serial);
    free(certid);
}

/* The old entry of an identity of that name, to keep its counters and
 * back-off over a reload. */
static int agt_sched_find(const agt_sched *old, int n, const char *name)
{
    int i;

    for (i = 0; i < n; i++)
        if (!strcmp(old[i].name, name))
            return i;
    return -1;
}

static void agt_daemon_schedule_all(agt_daemon *d)
{
    const agt_config *cfg = d->g->cfg;
    agt_sched *old = d->sched;
    time_t now = time(NULL);
    int i, j, n_old = d->n;
    agt_cert_index ix;

    /* A new configuration keeps what was known of identities by name. */
    d->sched = calloc(cfg->n_ids ? (size_t)cfg->n_ids : 1, sizeof(*d->sched));
    if (d->sched == NULL) {
        csa_error("agent", "out of memory for %d identities", cfg->n_ids);
        d->sched = old;
        return;
    }
    d->n = cfg->n_ids;
    agt_certs_begin(d, &ix, d->n, false);
    for (i = 0; i < d->n; i++) {
        agt_sched *e = &d->sched[i];

        /* the same place first: a reload rarely reorders identities */
        if (i < n_old && !strcmp(old[i].name, cfg->ids[i].name))
            j = i;
        else
            j = agt_sched_find(old, n_old, cfg->ids[i].name);
        if (j >= 0)
            *e = old[j];
        if (j >= 0 && strcmp(e->label, cfg->ids[i].label) != 0) {
            /* another label: what was known of the old one's
             * certificate does not hold (its CertID for "replaces") */
            e->certid[0] = '\0';
            e->serial[0] = '\0';
            e->failures = 0;
        }
        snprintf(e->name, sizeof(e->name), "%s", cfg->ids[i].name);
        snprintf(e->label, sizeof(e->label), "%s", cfg->ids[i].label);
        if (e->failures == 0 || e->next <= now)
            agt_sched_compute(d, &cfg->ids[i], e, now);
        csa_info("agent", "%s: next action %s (%s)", e->name,
                 agt_fmt_time(e->next), e->why);
    }
    agt_certs_end(d, &ix);
    free(old);
}

static void agt_daemon_publish(agt_daemon *d)
{
    agt_status_write(d->g->cfg, d->s.state_dir, d->sched, d->n);
    sd_notifyf(0, "STATUS=%d identities, next action %s", d->n,
               d->n ? agt_fmt_time(d->sched[0].next) : "-");
}

/* Runs what is due; returns the number of failures this round. */
/* SIGTERM/SIGINT stay blocked and pending while a renewal runs; no
 * further renewal starts once one is pending. */
static int agt_stop_pending(const agt_daemon *d)
{
    sigset_t pending;

    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) == 1 ||
            sigismember(&pending, SIGINT) == 1) &&
           sigismember(&d->sigs, SIGTERM) == 1;
}

/* Deletes retired pairs whose grace period is over (under the lock). */
static void agt_daemon_reap(agt_daemon *d, time_t now)
{
    int i;

    for (i = 0; i < d->n; i++) {
        const agt_identity *id = &d->g->cfg->ids[i];
        time_t due = agt_swap_reap_due(d->s.state_dir, id);
        int fd;

        if (due == 0 || due > now ||
            (fd = agt_swap_lock(d->s.state_dir, id)) < 0)
            continue;
        if (agt_swap_reap(d->s.tok, d->s.state_dir, id, now) != CSA_OK)
            csa_warn("agent", "%s: %s", id->name, csa_errmsg());
        agt_swap_unlock(fd);
    }
}

/* One renewal slot of a parallel round: a network process and the
 * renewal it carries. */
typedef struct {
    agt_net *net;
    agt_enrollment *e;
    int idx;
} agt_slot;

/* Starts the next due identity that begins well on slot; false when none
 * is left (or a stop or the CA's rate limit says not to start more). */
static bool agt_slot_fill(agt_daemon *d, agt_slot *slot, const int *due,
                          int n_due, int *next, bool *halt)
{
    while (*next < n_due && !*halt && !agt_stop_pending(d)) {
        int i = due[(*next)++];
        const agt_identity *id = &d->g->cfg->ids[i];
        agt_sched *e = &d->sched[i];
        char *certid = agt_renew_start(d, id, e);
        csa_err err = agt_enroll_begin(&d->s, id, certid, slot->net, &slot->e);

        free(certid);
        if (err == CSA_OK) {
            slot->idx = i;
            return true;
        }
        agt_renew_done(d, id, e, err);
    }
    return false;
}

/* The due identities, up to [agent] parallel at once: each renewal's
 * conversation with the CA runs in its own network process; this process
 * answers their requests as they come (token work is short and done one
 * at a time).  A renewal the CA refuses with rateLimited stops new starts
 * for the round; the rest are tried again after retry_base. */
static int agt_daemon_parallel(agt_daemon *d, const int *due, int n_due)
{
    int n = d->g->cfg->parallel < n_due ? d->g->cfg->parallel : n_due;
    agt_slot *slots = calloc((size_t)n, sizeof(*slots));
    struct pollfd *fds = calloc((size_t)n, sizeof(*fds));
    int *renewed = calloc((size_t)n_due, sizeof(*renewed));
    /* the certificate each renewal swapped in, to plan the next from */
    X509 **leaves = calloc((size_t)n_due, sizeof(*leaves));
    int i, next = 0, active = 0, failed = 0, n_renewed = 0;
    bool halt = false;
    agt_cert_index ix;
    csa_err err;

    if (slots == NULL || fds == NULL || renewed == NULL || leaves == NULL) {
        free(slots);
        free(fds);
        free(renewed);
        free(leaves);
        return -1;
    }
    err = agt_account_lock(&d->s, AGT_LOCK_SHARED);
    if (err == CSA_OK)
        err = agt_account_ensure(&d->s, false, NULL);
    for (i = 0; err == CSA_OK && i < n; i++) {
        if (i == 0)
            slots[i].net = d->s.net;
        else if ((err = agt_net_start(d->g->cfg, d->s.policy_text,
                                      &slots[i].net)) == CSA_OK)
            err = agt_net_set_account(slots[i].net,
                                      agt_jws_key_signer(d->s.account_signer),
                                      agt_net_kid(d->s.net));
    }
    if (err != CSA_OK) {
        /* Every due renewal fails the way the first would have. */
        char msg[1024];

        snprintf(msg, sizeof(msg), "%s", csa_errmsg());
        for (i = 0; i < n_due; i++) {
            csa_raise(err, "%s", msg);
            agt_renew_done(d, &d->g->cfg->ids[due[i]], &d->sched[due[i]], err);
        }
        failed = n_due;
        goto out;
    }
    csa_info("agent", "%d renewal(s) due, %d at a time", n_due, n);
    /* Each identity's certificate (for renewalInfo's "replaces") is read
     * before its renewal starts, from one list made now: its own renewal
     * is the only one that changes it, and a pair swapped in meanwhile by
     * another process sends the lookup back to the token. */
    agt_certs_begin(d, &ix, n_due, true);
    for (i = 0; i < n; i++)
        active += agt_slot_fill(d, &slots[i], due, n_due, &next, &halt);
    while (active > 0) {
        for (i = 0; i < n; i++) {
            fds[i].fd = slots[i].e ? agt_net_fd(slots[i].net) : -1;
            fds[i].events = POLLIN;
            fds[i].revents = 0;
        }
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            csa_error("agent", "poll: %s", strerror(errno));
            break;
        }
        for (i = 0; i < n; i++) {
            STACK_OF(X509) *chain = NULL;
            X509 *leaf;
            csa_ipc_msg done;
            bool finished = false;
            const char *problem;
            int idx = slots[i].idx;

            if (slots[i].e == NULL || fds[i].revents == 0)
                continue;
            err = agt_net_step(slots[i].net, &finished, &done);
            if (!finished && err == CSA_OK)
                continue;
            if (err == CSA_OK)
                err = agt_net_order_chain(&done, &chain);
            problem = agt_net_last_problem(slots[i].net);
            if (err != CSA_OK && problem != NULL &&
                strstr(problem, ":rateLimited") != NULL)
                halt = true;
            leaf = err == CSA_OK ? sk_X509_value(chain, 0) : NULL;
            if (leaf != NULL && !X509_up_ref(leaf))
                leaf = NULL;
            err = agt_enroll_end(slots[i].e, err, chain, NULL);
            slots[i].e = NULL;
            active--;
            /* planned after the round: the session's network process
             * (slot 0) may still be busy with another renewal */
            agt_renew_end(d, &d->g->cfg->ids[idx], &d->sched[idx], err, false);
            if (err == CSA_OK) {
                leaves[n_renewed] = leaf;
                renewed[n_renewed++] = idx;
            } else {
                X509_free(leaf);
            }
            failed += err != CSA_OK;
            active += agt_slot_fill(d, &slots[i], due, n_due, &next, &halt);
        }
    }
    agt_certs_end(d, &ix);
    for (i = 0; i < n_renewed; i++) {
        /* A pending stop: plan from the lifetime only, and be gone. */
        if (agt_stop_pending(d))
            d->ari_off = 1;
        /* from the certificate it swapped in: no need to read it back */
        agt_sched_plan(d, &d->g->cfg->ids[renewed[i]], &d->sched[renewed[i]],
                       time(NULL), leaves[i]);
        X509_free(leaves[i]);
        leaves[i] = NULL;
    }
    for (; halt && next < n_due; next++) {
        agt_sched *e = &d->sched[due[next]];

        e->next = time(NULL) + d->g->cfg->retry_base;
        snprintf(e->why, sizeof(e->why), "the CA is rate-limiting");
    }
out:
    /* A poll failure leaves renewals in flight: they end as failures. */
    for (i = 0; i < n; i++) {
        if (slots[i].e != NULL) {
            int idx = slots[i].idx;

            err = agt_enroll_end(
                slots[i].e,
                csa_raise(CSA_ERR_INTERRUPTED, "the renewal was abandoned"),
                NULL, NULL);
            agt_renew_done(d, &d->g->cfg->ids[idx], &d->sched[idx], err);
            failed++;
        }
        if (i > 0)
            agt_net_stop(slots[i].net);
    }
    agt_account_unlock(&d->s);
    free(slots);
    free(fds);
    free(renewed);
    free(leaves);
    return failed;
}

/* When the next action is due: a renewal, an ARI re-check or the end of a
 * retired pair's grace period; (time_t)-1 when there is none.  A released
 * token is not reopened before its back-off ran out. */
static time_t agt_daemon_next(const agt_daemon *d)
{
    time_t next = (time_t)-1;
    int i;

    for (i = 0; i < d->n; i++) {
        time_t reap = agt_swap_reap_due(d->s.state_dir, &d->g->cfg->ids[i]);

        if (next == (time_t)-1 || d->sched[i].next < next)
            next = d->sched[i].next;
        if (reap != 0 && reap < next)
            next = reap;
    }
    if (d->released && next != (time_t)-1 && next < d->reopen_at)
        next = d->reopen_at;
    return next;
}

/* Opens the released token again for a round (something is due, or
 * SIGUSR1): the session as agt_session_open leaves it (recovery, reaping,
 * network process; the account lock let go as agt_daemon_open does), the
 * schedule kept as it is: planning every identity again would read every
 * certificate and ask the CA for each. */
static csa_err agt_daemon_resume(agt_daemon *d, int force)
{
    csa_err err = agt_session_resume(d->g, &d->s);

    if (err != CSA_OK)
        return err;
    agt_account_unlock(&d->s);
    d->session_open = 1;
    d->released = 0;
    d->reopen_failures = 0;
    d->reopen_at = 0;
    csa_info("agent", "token reopened (%s)",
             force ? "SIGUSR1" : "an action is due");
    return CSA_OK;
}

/* A reopen that failed.  At the login: stop (exit 4) and never try the
 * PIN again: tokens lock after a few wrong PINs.  Anything else (token
 * absent, module error): a failed round, the due identities back off as
 * a failed renewal does and the token is not tried again before the
 * daemon's own back-off ran out. */
static void agt_daemon_resume_failed(agt_daemon *d, int force, csa_err err)
{
    time_t now = time(NULL);
    char msg[1024];
    int i;

    snprintf(msg, sizeof(msg), "%s", csa_errmsg());
    if (d->s.login_failed) {
        csa_error("agent",
                  "cannot log in to the token again: %s; stopping (a "
                  "failed login is never retried: fix the PIN and "
                  "restart csagent)",
                  msg);
        d->fatal_rc = AGT_EXIT_TOKEN;
        return;
    }
    d->reopen_failures++;
    d->reopen_at = now + agt_sched_backoff(d->g->cfg, d->reopen_failures);
    csa_error("agent", "cannot reopen the token: %s; next try at %s", msg,
              agt_fmt_time(d->reopen_at));
    for (i = 0; i < d->n; i++) {
        agt_sched *e = &d->sched[i];
        int recheck = e->recheck;

        if (!force && e->next > now)
            continue;
        csa_raise(err, "%s", msg);
        agt_renew_end(d, &d->g->cfg->ids[i], e, err, false);
        /* A due ARI re-check stays one; a renewal SIGUSR1 asked for is
         * retried as a renewal, as when the renewal itself failed. */
        if (!force)
            e->recheck = recheck;
    }
}

/* A PIN from a descriptor (fd:N) can be read once: a token released then
 * could not log in again, so it is kept.  Asked each time: a reload may
 * change pin_file. */
static bool agt_pin_from_fd(const agt_globals *g)
{
    const char *pin = agt_session_pin_source(g);

    return pin != NULL && strncmp(pin, "fd:", 3) == 0;
}

/* After a round, before the sleep: with nothing due for more than
 * AGT_IDLE_RELEASE seconds the token is let go (see agt_session_release)
 * and the freed heap given back to the kernel.  A software token keeps
 * the token's objects in this process's memory while it is initialised;
 * an HSM's sessions and logins are shared with other users. */
static void agt_daemon_release(agt_daemon *d)
{
    time_t next = agt_daemon_next(d), now = time(NULL);

    if (!d->session_open || agt_pin_from_fd(d->g) ||
        (next != (time_t)-1 && next - now <= AGT_IDLE_RELEASE))
        return;
    agt_session_release(&d->s);
    d->session_open = 0;
    d->released = 1;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    if (next == (time_t)-1)
        csa_info("agent", "token released until a signal (no identity)");
    else
        csa_info("agent", "token released until %s", agt_fmt_time(next));
}

static int agt_daemon_round(agt_daemon *d, int force)
{
    time_t now = time(NULL);
    int i, failed = 0, n_due = 0, *due;

    /* No session at all after a reload that could reopen neither
     * configuration: nothing can be done until the next reload. */
    if (!d->session_open && !d->released)
        return 0;
    if (!d->session_open) {
        time_t next = agt_daemon_next(d);
        csa_err err;

        if (!force && (next == (time_t)-1 || next > now)) {
            agt_daemon_publish(d); /* nothing due: the token stays closed */
            return 0;
        }
        if ((err = agt_daemon_resume(d, force)) != CSA_OK) {
            agt_daemon_resume_failed(d, force, err);
            agt_daemon_publish(d);
            return 1;
        }
    }
    d->ari_off = 0;
    agt_daemon_reap(d, now);
    if ((due = calloc(d->n ? (size_t)d->n : 1, sizeof(*due))) == NULL) {
        csa_error("agent", "out of memory for %d identities", d->n);
        return 1;
    }
    for (i = 0; i < d->n; i++) {
        agt_sched *e = &d->sched[i];
        const agt_identity *id = &d->g->cfg->ids[i];

        if (!force && e->next > now)
            continue;
        if (!force && e->recheck) {
            agt_sched_compute(d, id, e, now);
            if (e->next > now)
                continue;
        }
        due[n_due++] = i;
    }
    if (d->g->cfg->parallel > 1 && n_due > 1) {
        failed = agt_daemon_parallel(d, due, n_due);
    } else {
        for (i = 0; i < n_due && !agt_stop_pending(d); i++) {
            agt_renew(d, &d->g->cfg->ids[due[i]], &d->sched[due[i]]);
            failed += d->sched[due[i]].failures > 0;
        }
    }
    free(due);
    agt_daemon_publish(d);
    return failed;
}

/* The session stays open between wake-ups (token, login, ACME client), but
 * not the account lock: agt_session_open takes it shared to read the
 * account key and it is let go here, then taken again around each renewal
 * (agt_renew).  Holding it through the sleep would make an `account
 * rollover` wait for the next renewal, hours away. */
static csa_err agt_daemon_open(agt_daemon *d)
{
    csa_err err = agt_session_open(d->g, true, &d->s);

    d->session_open = err == CSA_OK;
    if (err == CSA_OK) {
        agt_account_unlock(&d->s);
        agt_daemon_schedule_all(d);
    }
    return err;
}

/* A new configuration replaces the old one only once a session opens with
 * it (policy, token, login); otherwise the old one is reopened and kept.
 * One module cannot be initialised twice in a process, so the old session
 * is closed first. */
static void agt_daemon_reload(agt_daemon *d)
{
    agt_config *fresh = NULL, *old = d->g->cfg;
    csa_err err = agt_config_load(old->path, &fresh);

    if (err != CSA_OK) {
        csa_error("agent",
                  "SIGHUP: the new configuration is refused, "
                  "keeping the old one: %s",
                  csa_errmsg());
        return;
    }
    agt_session_close(&d->s);
    d->session_open = 0;
    d->released = 0;
    d->g->cfg = fresh;
    if (agt_daemon_open(d) == CSA_OK) {
        agt_config_free(old);
        csa_info("agent", "SIGHUP: configuration reloaded");
        return;
    }
    if (d->s.login_failed) {
        /* Reopening the old configuration would try a PIN again. */
        csa_error("agent",
                  "SIGHUP: cannot log in to the token: %s; stopping (a "
                  "failed login is never retried: fix the PIN and "
                  "restart csagent)",
                  csa_errmsg());
        agt_config_free(old);
        d->fatal_rc = AGT_EXIT_TOKEN;
        return;
    }
    csa_error("agent",
              "SIGHUP: the new configuration cannot be used, "
              "keeping the old one: %s",
              csa_errmsg());
    agt_config_free(fresh);
    d->g->cfg = old;
    if (agt_daemon_open(d) != CSA_OK)
        csa_error("agent",
                  "SIGHUP: reopening the old configuration failed "
                  "too: %s",
                  csa_errmsg());
}

/* Sleeps until the next due time or a signal; returns the signal or 0. */
static int agt_daemon_sleep(agt_daemon *d)
{
    time_t next = agt_daemon_next(d), now = time(NULL);
    struct timespec ts;
    long secs;
    int sig;

    secs = next == (time_t)-1 ? 3600 : (long)(next - now);
    if (secs < 0)
        secs = 0;
    if (secs > 3600)
        secs = 3600; /* re-evaluate at least hourly (clock changes) */
    if (d->watchdog_usec > 0 && secs > (long)(d->watchdog_usec / 2000000))
        secs = (long)(d->watchdog_usec / 2000000);
    ts.tv_sec = secs;
    ts.tv_nsec = secs == 0 ? 10000000 : 0;
    sig = sigtimedwait(&d->sigs, NULL, &ts);
    if (d->watchdog_usec > 0)
        sd_notify(0, "WATCHDOG=1");
    return sig < 0 ? 0 : sig;
}

static int agt_daemon_loop(agt_daemon *d)
{
    int force = 0, sig;

    sd_notify(0, "READY=1");
    for (;;) {
        agt_daemon_round(d, force);
        force = 0;
        if (d->fatal_rc != 0)
            return d->fatal_rc;
        agt_daemon_release(d);
        sig = agt_daemon_sleep(d);
        if (sig == SIGTERM || sig == SIGINT) {
            csa_info("agent", "signal %d: stopping", sig);
            sd_notify(0, "STOPPING=1");
            return AGT_EXIT_OK;
        }
        if (sig == SIGHUP) {
            agt_daemon_reload(d);
            if (d->fatal_rc != 0)
                return d->fatal_rc;
        } else if (sig == SIGUSR1) {
            csa_info("agent", "SIGUSR1: renewing every identity now");
            force = 1;
        }
    }
}

int agt_cmd_run(agt_globals *g, int argc, char **argv)
{
    static const struct option opts[] = {{"once", no_argument, NULL, 'o'},
                                         {"syslog", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char usage[] =
        "usage: csagent run [--once] [--syslog]\n"
        "Renews every identity on time: at a random time in the CA's ARI\n"
        "window (RFC 9773) when offered, else at renew_at of the lifetime\n"
        "with jitter; failures back off exponentially (retry_base..\n"
        "retry_max).  Foreground, for systemd (Type=notify).\n"
        "  --once    renew what is due now, then exit (cron, timers)\n"
        "  --syslog  log to syslog instead of stderr\n"
        "Signals: HUP reload, TERM/INT stop, USR1 renew all now.\n";
    agt_daemon d = {0};
    int c, once = 0, rc;
    csa_err err;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'o')
            once = 1;
        else if (c == 's')
            csa_log_use_syslog("csagent");
        else
            return c == 'h' ? (fputs(usage, stdout), AGT_EXIT_OK)
                            : (fputs(usage, stderr), AGT_EXIT_USAGE);
    }
    d.g = g;
    sigemptyset(&d.sigs);
    sigaddset(&d.sigs, SIGHUP);
    sigaddset(&d.sigs, SIGTERM);
    sigaddset(&d.sigs, SIGINT);
    sigaddset(&d.sigs, SIGUSR1);
    sigprocmask(SIG_BLOCK, &d.sigs, NULL);
    if (sd_watchdog_enabled(0, &d.watchdog_usec) <= 0)
        d.watchdog_usec = 0;
    if ((err = agt_daemon_open(&d)) != CSA_OK) {
        free(d.sched);
        return agt_fail_exit(err);
    }
    if (!once && agt_pin_from_fd(g))
        csa_info("agent", "the token stays open while idle: the PIN "
                          "comes from a descriptor (fd:N), which can be "
                          "read only once");
    rc = once ? (agt_daemon_round(&d, 0) ? AGT_EXIT_CA : AGT_EXIT_OK)
              : agt_daemon_loop(&d);
    agt_session_close(&d.s);
    free(d.sched);
    return rc;
}
