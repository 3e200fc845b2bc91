/* SPDX-License-Identifier: Apache-2.0 */
/* pol_explain(): the effective rules in words, for `csagent check`. */
#include "pol_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing malloc'd string; failed stays set after the first error. */
struct pol_text {
    char *s;
    size_t len;
    size_t cap;
    bool failed;
};

__attribute__((format(printf, 2, 3))) static void add(struct pol_text *t,
                                                      const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->failed)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt,
                  ap);
    va_end(ap);
    if (n < 0 || (t->s && (size_t)n < t->cap - t->len)) {
        t->failed = n < 0;
        t->len += n < 0 ? 0 : (size_t)n;
        return;
    }
    size_t cap = (t->cap + (size_t)n + 1) * 2;
    char *ns = realloc(t->s, cap);
    if (ns == NULL) {
        t->failed = true;
        return;
    }
    t->s = ns;
    t->cap = cap;
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static void explain_ca(const pol_policy *p, struct pol_text *t)
{
    char buf[1024];

    pol_list_str(&p->directory_urls, "any (not restricted)", buf, sizeof(buf));
    add(t, "CA directory URLs: %s\n", buf);
    add(t, "External Account Binding: %s\n",
        p->eab_required ? "required" : "optional");
    pol_list_str(&p->trust_anchors, "none configured (no chain can verify)",
                 buf, sizeof(buf));
    add(t, "Trust anchors: %s\n", buf);
}

static void explain_keys(const pol_policy *p, struct pol_text *t)
{
    char buf[256];

    pol_key_mask_str(p, buf, sizeof(buf));
    add(t, "Keys: %s\n", buf);
    add(t, "Key rotation: %s\n",
        p->rotation_required ? "required at every renewal"
                             : "allowed (renewing with the same key is "
                               "permitted)");
    pol_chal_mask_str(p->chal_allowed, buf, sizeof(buf));
    add(t, "Challenges allowed: %s\n", buf);
    pol_chal_mask_str(p->chal_automatic, buf, sizeof(buf));
    add(t, "Answered without a human: %s\n", buf);
    add(t, "Hooks (external programs): %s\n",
        p->hooks_allowed ? "may run" : "never run");
}

static void explain_cert(const pol_policy *p, pol_profile profile,
                         struct pol_text *t)
{
    static const char *const ext[POL_PROFILE__MAX] = {
        [POL_PROFILE_CODESIGNING] = "codeSigning; never serverAuth or "
                                    "anyExtendedKeyUsage",
        [POL_PROFILE_CLIENTAUTH] = "clientAuth; never serverAuth, "
                                   "codeSigning or anyExtendedKeyUsage",
        [POL_PROFILE_TEST_TLS] = "serverAuth; never codeSigning or "
                                 "anyExtendedKeyUsage (test CAs only)",
    };
    const struct pol_profile_rules *r = &p->profiles[profile];
    char buf[1024];

    add(t, "Profile %s: %s\n", pol_profile_name(profile),
        r->enabled ? "enabled" : "DISABLED");
    add(t, "  keyUsage: digitalSignature%s; never keyCertSign or cRLSign\n",
        r->require_ku_critical ? ", critical" : " (critical not required)");
    add(t, "  extendedKeyUsage: %s%s\n", ext[profile],
        r->accept_eku_serverauth ? " (serverAuth accepted: test CAs only)"
                                 : "");
    add(t, "  basicConstraints: cA false or absent\n");
    pol_list_str(&r->dns_domains, "any", buf, sizeof(buf));
    add(t, "  dns identifiers: %s\n", buf);
    if (profile == POL_PROFILE_CLIENTAUTH) {
        pol_list_str(&r->email_domains, "any", buf, sizeof(buf));
        add(t, "  email identifier domains: %s\n", buf);
    }
    add(t,
        "  maximum lifetime: %" PRId64 " s (%" PRId64 " days), "
        "notAfter - notBefore + 1 s\n",
        p->max_lifetime, p->max_lifetime / 86400);
    add(t, "  renewal window: %.0f%% to %.0f%% of the lifetime elapsed%s\n",
        p->renew_min_fraction * 100, p->renew_max_fraction * 100,
        p->ari_early ? " (a CA's ARI window may start earlier)" : "");
}

csa_err pol_explain(const pol_policy *p, pol_profile profile, char **text)
{
    struct pol_text t = {0};

    *text = NULL;
    if ((unsigned)profile >= POL_PROFILE__MAX)
        return csa_raise(CSA_ERR_INVALID, "unknown certificate profile %d",
                         (int)profile);
    explain_ca(p, &t);
    explain_keys(p, &t);
    explain_cert(p, profile, &t);
    if (t.failed || t.s == NULL) {
        free(t.s);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    *text = t.s;
    return CSA_OK;
}
