/* SPDX-License-Identifier: Apache-2.0 */
/* Decisions taken before and during an order, and the renewal window. */
#include "pol_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *id_type_name(pol_id_type t)
{
    return t == POL_ID_DNS ? "dns" : t == POL_ID_EMAIL ? "email" : "unknown";
}

static bool check_directory(const pol_policy *p, const char *url,
                            pol_verdict *v)
{
    char list[POL_TEXT_MAX];

    if (url == NULL)
        return pol_deny(v, "ca.directory_urls", "a directory URL", "none",
                        "the order names no CA");
    if (p->directory_urls.n == 0)
        return pol_ok(v);
    for (size_t i = 0; i < p->directory_urls.n; i++) {
        /* Exact match: a prefix match would let https://ca.example.evil
         * pass for https://ca.example. */
        if (strcmp(p->directory_urls.v[i], url) == 0)
            return pol_ok(v);
    }
    pol_list_str(&p->directory_urls, "any", list, sizeof(list));
    return pol_deny(v, "ca.directory_urls", list, url,
                    "the CA's directory URL is not allowed");
}

bool pol_check_key(const pol_policy *p, const pol_key *key, pol_verdict *v)
{
    char want[POL_TEXT_MAX], got[64];

    pol_key_mask_str(p, want, sizeof(want));
    pol_key_str(key, got, sizeof(got));
    if ((unsigned)key->type >= POL_KEY_OTHER ||
        !(p->key_types & (1u << key->type)))
        return pol_deny(v, "keys.types", want, got, "key type not allowed");
    if (key->type == POL_KEY_RSA && key->bits < p->rsa_min_bits)
        return pol_deny(v, "keys.rsa_min_bits", want, got, "RSA key too short");
    if (key->type == POL_KEY_EC) {
        for (int c = 0; c < POL_CURVE__MAX; c++) {
            if ((p->ec_curves & (1u << c)) &&
                pol_curve_nid((pol_curve)c) == key->curve_nid)
                return pol_ok(v);
        }
        return pol_deny(v, "keys.ec_curves", want, got,
                        "elliptic curve not allowed");
    }
    return pol_ok(v);
}

/* Which identifier types a profile may carry. */
static bool id_type_allowed(pol_profile profile, pol_id_type t)
{
    if (t == POL_ID_DNS)
        return true; /* device client certificates use dns too */
    return t == POL_ID_EMAIL && profile == POL_PROFILE_CLIENTAUTH;
}

/* A dns name or email domain: no wildcard, no empty label, no blank. */
static bool plausible_name(const char *s)
{
    return s[0] != '\0' && s[0] != '.' && strchr(s, '*') == NULL &&
           strstr(s, "..") == NULL && strpbrk(s, " \t\r\n") == NULL;
}

static bool check_domain(const struct pol_list *allowed, const char *rule,
                         const char *domain, const char *value, pol_verdict *v)
{
    char list[POL_TEXT_MAX];

    if (!plausible_name(domain))
        return pol_deny(v, rule, "a plain name without wildcards", value,
                        "malformed identifier");
    for (size_t i = 0; i < allowed->n; i++) {
        if (pol_domain_match(allowed->v[i], domain))
            return pol_ok(v);
    }
    if (allowed->n == 0)
        return pol_ok(v);
    pol_list_str(allowed, "any", list, sizeof(list));
    return pol_deny(v, rule, list, value,
                    "identifier outside the allowed domains");
}

bool pol_check_identifier(const pol_policy *p, pol_profile profile,
                          const pol_identifier *id, pol_verdict *v)
{
    const struct pol_profile_rules *r;
    const char *at;

    if ((unsigned)profile >= POL_PROFILE__MAX)
        return pol_deny(v, "profile", "a known profile", "out of range",
                        "unknown certificate profile");
    r = &p->profiles[profile];
    if (id->value == NULL || !id_type_allowed(profile, id->type))
        return pol_deny(
            v, "identifier.type",
            profile == POL_PROFILE_CLIENTAUTH ? "dns or email" : "dns",
            id_type_name(id->type), "identifier type not used by this profile");
    if (id->type == POL_ID_DNS)
        return check_domain(&r->dns_domains, "profile.dns_domains", id->value,
                            id->value, v);
    at = strrchr(id->value, '@');
    if (at == NULL || at == id->value)
        return pol_deny(v, "profile.email_domains", "local@domain", id->value,
                        "malformed email identifier");
    return check_domain(&r->email_domains, "profile.email_domains", at + 1,
                        id->value, v);
}

static bool check_profile(const pol_policy *p, pol_profile profile,
                          pol_verdict *v)
{
    const char *name = pol_profile_name(profile);

    if (name == NULL)
        return pol_deny(v, "profile", "codesigning, clientauth or test-tls",
                        "out of range", "unknown certificate profile");
    if (!p->profiles[profile].enabled)
        return pol_deny(v, "profile.enabled", "an enabled profile", name,
                        "profile disabled by policy");
    return pol_ok(v);
}

static bool check_ids(const pol_policy *p, const pol_request *req,
                      pol_verdict *v)
{
    if (req->n_ids == 0 || req->ids == NULL)
        return pol_deny(v, "identifier", "at least one identifier", "none",
                        "the order names no identifier");
    for (size_t i = 0; i < req->n_ids; i++) {
        if (!pol_check_identifier(p, req->profile, &req->ids[i], v))
            return false;
    }
    return pol_ok(v);
}

static bool check_chal_list(const pol_policy *p, const pol_request *req,
                            pol_verdict *v)
{
    for (size_t i = 0; i < req->n_challenges; i++) {
        if (!pol_check_challenge(p, req->challenges[i], false, v))
            return false;
    }
    return pol_ok(v);
}

bool pol_check_order(const pol_policy *p, const pol_request *req,
                     pol_verdict *v)
{
    if (!check_directory(p, req->directory_url, v))
        return false;
    if (p->eab_required && !req->has_eab)
        return pol_deny(v, "ca.eab_required", "an EAB key", "none",
                        "External Account Binding is required");
    if (!check_profile(p, req->profile, v) || !check_ids(p, req, v))
        return false;
    if (!pol_check_key(p, &req->key, v))
        return false;
    return check_chal_list(p, req, v);
}

bool pol_check_challenge(const pol_policy *p, const char *type, bool automatic,
                         pol_verdict *v)
{
    char list[POL_TEXT_MAX];
    int c = pol_chal_from_name(type);

    pol_chal_mask_str(p->chal_allowed, list, sizeof(list));
    if (c < 0 || !(p->chal_allowed & (1u << c)))
        return pol_deny(v, "challenges.allowed", list, type ? type : "(none)",
                        "challenge type not allowed");
    if (!automatic)
        return pol_ok(v);
    pol_chal_mask_str(p->chal_automatic, list, sizeof(list));
    if (c == POL_CHAL_OTP01 || !(p->chal_automatic & (1u << c)))
        return pol_deny(v, "challenges.automatic", list, type,
                        "this challenge type needs a human to answer it");
    return pol_ok(v);
}

bool pol_check_rotation(const pol_policy *p, bool rotate, pol_verdict *v)
{
    if (p->rotation_required && !rotate)
        return pol_deny(v, "keys.rotation", "a new key (rotation = required)",
                        "renewal with the current key",
                        "key rotation is required at every renewal");
    return pol_ok(v);
}

bool pol_check_hook(const pol_policy *p, pol_verdict *v)
{
    if (!p->hooks_allowed)
        return pol_deny(v, "hooks.allowed", "no hook (allowed = false)",
                        "a hook to run", "hooks are disabled by policy");
    return pol_ok(v);
}

void pol_renewal_window(const pol_policy *p, time_t not_before,
                        time_t not_after, time_t *earliest, time_t *latest)
{
    /* Same lifetime definition as pol_check_cert (RFC 5280: inclusive). */
    double life = (double)not_after - (double)not_before + 1.0;

    if (life < 1.0)
        life = 1.0;
    *earliest = not_before + (time_t)(life * p->renew_min_fraction);
    *latest = not_before + (time_t)(life * p->renew_max_fraction);
}

static time_t clamp_time(time_t t, time_t lo, time_t hi)
{
    return t < lo ? lo : t > hi ? hi : t;
}

void pol_clamp_window(const pol_policy *p, time_t not_before, time_t not_after,
                      time_t *start, time_t *end)
{
    time_t earliest, latest;

    pol_renewal_window(p, not_before, not_after, &earliest, &latest);
    if (*end < *start) /* a broken window: treat as the single instant */
        *end = *start;
    if (p->ari_early && *start < earliest) {
        /* The CA asks for an early renewal (e.g. before a mass
         * revocation): honour it, only the late end is bounded. */
        *end = clamp_time(*end, *start, latest);
        return;
    }
    *start = clamp_time(*start, earliest, latest);
    *end = clamp_time(*end, *start, latest);
}

/* ---- [ephemeral] ---- */

static bool eph_required(const pol_policy *p, const char *identity)
{
    for (size_t i = 0; i < p->eph_required.n; i++)
        if (!strcmp(p->eph_required.v[i], "*") ||
            !strcmp(p->eph_required.v[i], identity))
            return true;
    return false;
}

bool pol_check_ephemeral(const pol_policy *p, const char *identity,
                         bool ephemeral, pol_verdict *v)
{
    if (!ephemeral && eph_required(p, identity))
        return pol_deny(v, "ephemeral.required",
                        "one key and certificate per signature "
                        "(csagent exec --ephemeral)",
                        "a long-lived pair",
                        "this identity signs only with ephemeral keys");
    return pol_ok(v);
}

bool pol_check_ephemeral_lifetime(const pol_policy *p, int64_t lifetime,
                                  pol_verdict *v)
{
    char want[64], got[64];

    snprintf(got, sizeof(got), "%" PRId64 " s", lifetime);
    if (lifetime < p->eph_min_lifetime) {
        snprintf(want, sizeof(want), ">= %" PRId64 " s", p->eph_min_lifetime);
        return pol_deny(v, "ephemeral.min_lifetime", want, got,
                        "ephemeral certificate lifetime too short");
    }
    if (lifetime > p->eph_max_lifetime) {
        snprintf(want, sizeof(want), "<= %" PRId64 " s", p->eph_max_lifetime);
        return pol_deny(v, "ephemeral.max_lifetime", want, got,
                        "ephemeral certificate lifetime too long");
    }
    return pol_ok(v);
}

void pol_ephemeral_lifetimes(const pol_policy *p, int64_t *min, int64_t *max)
{
    *min = p->eph_min_lifetime;
    *max = p->eph_max_lifetime;
}
