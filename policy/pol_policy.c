/* SPDX-License-Identifier: Apache-2.0 */
/* The policy object: defaults, accessors, name tables, verdict helpers. */
#include "pol_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ec.h>
#include <openssl/obj_mac.h>

static const char *const chal_names[POL_CHAL__MAX] = {
    [POL_CHAL_HTTP01] = "http-01",        [POL_CHAL_DNS01] = "dns-01",
    [POL_CHAL_TLSALPN01] = "tls-alpn-01", [POL_CHAL_HOTP01] = "hotp-01",
    [POL_CHAL_TOTP01] = "totp-01",        [POL_CHAL_OTP01] = "otp-01",
    [POL_CHAL_CERT01] = "cert-01",        [POL_CHAL_PPKP01] = "ppkp-01",
};

static const char *const curve_names[POL_CURVE__MAX] = {
    [POL_CURVE_P256] = "P-256",
    [POL_CURVE_P384] = "P-384",
    [POL_CURVE_P521] = "P-521",
};

static const int curve_nids[POL_CURVE__MAX] = {
    [POL_CURVE_P256] = NID_X9_62_prime256v1,
    [POL_CURVE_P384] = NID_secp384r1,
    [POL_CURVE_P521] = NID_secp521r1,
};

static const char *const profile_names[POL_PROFILE__MAX] = {
    [POL_PROFILE_CODESIGNING] = "codesigning",
    [POL_PROFILE_CLIENTAUTH] = "clientauth",
    [POL_PROFILE_TEST_TLS] = "test-tls",
};

static const char *const key_type_names[POL_KEY__MAX] = {
    [POL_KEY_RSA] = "rsa",
    [POL_KEY_EC] = "ecdsa",
    [POL_KEY_ED25519] = "ed25519",
    [POL_KEY_OTHER] = "other",
};

const char *pol_chal_name(pol_chal c)
{
    return (unsigned)c < POL_CHAL__MAX ? chal_names[c] : NULL;
}

static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        if (strcasecmp(names[i], name) == 0)
            return i;
    }
    return -1;
}

int pol_chal_from_name(const char *name)
{
    return name ? name_index(chal_names, POL_CHAL__MAX, name) : -1;
}

const char *pol_curve_name(pol_curve c)
{
    return (unsigned)c < POL_CURVE__MAX ? curve_names[c] : NULL;
}

int pol_curve_from_name(const char *name)
{
    return name_index(curve_names, POL_CURVE__MAX, name);
}

int pol_curve_nid(pol_curve c)
{
    return (unsigned)c < POL_CURVE__MAX ? curve_nids[c] : 0;
}

const char *pol_key_type_name(pol_key_type t)
{
    return (unsigned)t < POL_KEY__MAX ? key_type_names[t] : NULL;
}

int pol_key_type_from_name(const char *name)
{
    /* "other" stands for what no policy allows: no type to ask for. */
    return name ? name_index(key_type_names, POL_KEY_OTHER, name) : -1;
}

const char *pol_profile_name(pol_profile profile)
{
    return (unsigned)profile < POL_PROFILE__MAX ? profile_names[profile] : NULL;
}

csa_err pol_profile_from_name(const char *name, pol_profile *out)
{
    int i = name ? name_index(profile_names, POL_PROFILE__MAX, name) : -1;

    if (i < 0)
        return csa_raise(CSA_ERR_INVALID,
                         "unknown certificate profile '%s' (expected "
                         "codesigning, clientauth or test-tls)",
                         name ? name : "(null)");
    *out = (pol_profile)i;
    return CSA_OK;
}

static void default_profiles(pol_policy *p)
{
    for (int i = 0; i < POL_PROFILE__MAX; i++)
        p->profiles[i].require_ku_critical = true;
    p->profiles[POL_PROFILE_CODESIGNING].enabled = true;
    p->profiles[POL_PROFILE_CLIENTAUTH].enabled = true;
    /* Pebble and other TLS test CAs: off unless the operator says so. */
    p->profiles[POL_PROFILE_TEST_TLS].enabled = false;
    p->profiles[POL_PROFILE_TEST_TLS].require_ku_critical = false;
}

pol_policy *pol_default(void)
{
    pol_policy *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->key_types = 1u << POL_KEY_RSA | 1u << POL_KEY_EC;
    p->rsa_min_bits = 3072;
    p->ec_curves = (1u << POL_CURVE__MAX) - 1;
    p->rotation_required = false;
    p->max_lifetime = (int64_t)460 * 86400;
    p->chal_allowed = 1u << POL_CHAL_HOTP01 | 1u << POL_CHAL_TOTP01 |
                      1u << POL_CHAL_OTP01 | 1u << POL_CHAL_CERT01 |
                      1u << POL_CHAL_PPKP01 | 1u << POL_CHAL_DNS01 |
                      1u << POL_CHAL_HTTP01;
    p->chal_automatic = p->chal_allowed & ~(1u << POL_CHAL_OTP01);
    p->renew_min_fraction = 0.5;
    p->renew_max_fraction = 0.9;
    p->ari_early = true;
    p->hooks_allowed = false;
    p->eph_min_lifetime = 60;
    p->eph_max_lifetime = 3600;
    default_profiles(p);
    return p;
}

void pol_list_free(struct pol_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

csa_err pol_list_add(struct pol_list *l, const char *s, size_t len)
{
    char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    char *copy;

    if (nv == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    l->v = nv;
    copy = strndup(s, len);
    if (copy == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    l->v[l->n++] = copy;
    return CSA_OK;
}

void pol_free(pol_policy *p)
{
    if (p == NULL)
        return;
    pol_list_free(&p->directory_urls);
    pol_list_free(&p->trust_anchors);
    pol_list_free(&p->eph_required);
    for (int i = 0; i < POL_PROFILE__MAX; i++) {
        pol_list_free(&p->profiles[i].dns_domains);
        pol_list_free(&p->profiles[i].email_domains);
    }
    free(p);
}

const char *const *pol_trust_anchors(const pol_policy *p, size_t *n)
{
    *n = p->trust_anchors.n;
    return (const char *const *)p->trust_anchors.v;
}

bool pol_eab_required(const pol_policy *p)
{
    return p->eab_required;
}

bool pol_hooks_allowed(const pol_policy *p)
{
    return p->hooks_allowed;
}

bool pol_profile_enabled(const pol_policy *p, pol_profile profile)
{
    return (unsigned)profile < POL_PROFILE__MAX && p->profiles[profile].enabled;
}

bool pol_ok(pol_verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->ok = true;
    v->rule = "ok";
    return true;
}

bool pol_deny(pol_verdict *v, const char *rule, const char *expected,
              const char *actual, const char *what)
{
    memset(v, 0, sizeof(*v));
    v->ok = false;
    v->rule = rule;
    snprintf(v->expected, sizeof(v->expected), "%s", expected);
    snprintf(v->actual, sizeof(v->actual), "%s", actual);
    snprintf(v->reason, sizeof(v->reason), "%s: %s; expected %s, got %s", rule,
             what, v->expected, v->actual);
    return false;
}

csa_err pol_verdict_raise(const pol_verdict *v, csa_err err)
{
    if (v->ok)
        return CSA_OK;
    return csa_raise(err, "refused by policy rule %s", v->reason);
}

/* Appends s to buf with a ", " separator; truncates silently. */
static void append_item(char *buf, size_t size, const char *s)
{
    size_t len = strlen(buf);

    if (len >= size - 1)
        return;
    snprintf(buf + len, size - len, "%s%s", len ? ", " : "", s);
}

void pol_chal_mask_str(unsigned mask, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int i = 0; i < POL_CHAL__MAX; i++) {
        if (mask & (1u << i))
            append_item(buf, size, chal_names[i]);
    }
    if (buf[0] == '\0')
        snprintf(buf, size, "none");
}

void pol_curve_mask_str(unsigned mask, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int i = 0; i < POL_CURVE__MAX; i++) {
        if (mask & (1u << i))
            append_item(buf, size, curve_names[i]);
    }
    if (buf[0] == '\0')
        snprintf(buf, size, "none");
}

void pol_key_mask_str(const pol_policy *p, char *buf, size_t size)
{
    char item[128];
    char curves[64];

    buf[0] = '\0';
    if (p->key_types & (1u << POL_KEY_RSA)) {
        snprintf(item, sizeof(item), "RSA >= %u", p->rsa_min_bits);
        append_item(buf, size, item);
    }
    if (p->key_types & (1u << POL_KEY_EC)) {
        pol_curve_mask_str(p->ec_curves, curves, sizeof(curves));
        snprintf(item, sizeof(item), "ECDSA %s", curves);
        append_item(buf, size, item);
    }
    if (p->key_types & (1u << POL_KEY_ED25519))
        append_item(buf, size, "Ed25519");
    if (buf[0] == '\0')
        snprintf(buf, size, "none");
}

void pol_list_str(const struct pol_list *l, const char *empty, char *buf,
                  size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < l->n; i++)
        append_item(buf, size, l->v[i]);
    if (l->n == 0)
        snprintf(buf, size, "%s", empty);
}

void pol_key_str(const pol_key *k, char *buf, size_t size)
{
    const char *curve;

    switch (k->type) {
    case POL_KEY_RSA:
        snprintf(buf, size, "RSA %u", k->bits);
        break;
    case POL_KEY_EC:
        curve = k->curve_nid ? EC_curve_nid2nist(k->curve_nid) : NULL;
        if (curve == NULL && k->curve_nid)
            curve = OBJ_nid2sn(k->curve_nid);
        snprintf(buf, size, "ECDSA %s", curve ? curve : "(unknown curve)");
        break;
    case POL_KEY_ED25519:
        snprintf(buf, size, "Ed25519");
        break;
    default:
        snprintf(buf, size, "unsupported key type");
        break;
    }
}

bool pol_domain_match(const char *pattern, const char *name)
{
    size_t plen = strlen(pattern);
    size_t nlen = strlen(name);

    if (strncmp(pattern, "*.", 2) != 0)
        return strcasecmp(pattern, name) == 0;
    /* "*.example.com" matches any name below example.com, at any depth,
     * but not example.com itself: the suffix includes the leading dot. */
    pattern += 1;
    plen -= 1;
    return nlen > plen && strcasecmp(name + nlen - plen, pattern) == 0;
}
