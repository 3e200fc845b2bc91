/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between policy/ files only: the policy struct and small helpers. */
#ifndef POL_INTERNAL_H
#define POL_INTERNAL_H

#include "policy.h"

/* Challenge types known to the policy (RFC 8555, RFC 8737, draft-05). */
typedef enum {
    POL_CHAL_HTTP01 = 0,
    POL_CHAL_DNS01,
    POL_CHAL_TLSALPN01,
    POL_CHAL_HOTP01,
    POL_CHAL_TOTP01,
    POL_CHAL_OTP01,
    POL_CHAL_CERT01,
    POL_CHAL_PPKP01,
    POL_CHAL__MAX
} pol_chal;

/* The curves the parser accepts: the BR set. */
typedef enum {
    POL_CURVE_P256 = 0,
    POL_CURVE_P384,
    POL_CURVE_P521,
    POL_CURVE__MAX
} pol_curve;

/* An owned list of strings; n == 0 means "not restricted" where noted. */
struct pol_list {
    char **v;
    size_t n;
};

struct pol_profile_rules {
    bool enabled;
    struct pol_list dns_domains;   /* empty: any dns identifier */
    struct pol_list email_domains; /* empty: any email identifier */
    bool accept_eku_serverauth;    /* test CAs only */
    bool require_ku_critical;
};

struct pol_policy {
    struct pol_list directory_urls; /* empty: any CA */
    bool eab_required;
    struct pol_list trust_anchors;
    unsigned key_types; /* bit (1u << pol_key_type) */
    unsigned rsa_min_bits;
    unsigned ec_curves; /* bit (1u << pol_curve) */
    bool rotation_required;
    int64_t max_lifetime;    /* seconds */
    unsigned chal_allowed;   /* bit (1u << pol_chal) */
    unsigned chal_automatic; /* subset of chal_allowed, never otp-01 */
    double renew_min_fraction;
    double renew_max_fraction;
    bool ari_early;
    bool hooks_allowed;
    /* [ephemeral]: one certificate per signature (csagent exec --ephemeral) */
    int64_t eph_min_lifetime;     /* seconds */
    int64_t eph_max_lifetime;     /* seconds */
    struct pol_list eph_required; /* identity names, or "*"; empty: none */
    struct pol_profile_rules profiles[POL_PROFILE__MAX];
};

/* Name tables; return NULL / -1 when out of range / unknown. */
const char *pol_chal_name(pol_chal c);
int pol_chal_from_name(const char *name);
const char *pol_curve_name(pol_curve c);
int pol_curve_from_name(const char *name);
int pol_curve_nid(pol_curve c);
const char *pol_key_type_name(pol_key_type t);

void pol_list_free(struct pol_list *l);
csa_err pol_list_add(struct pol_list *l, const char *s, size_t len);

/* Verdict helpers: pol_ok() fills an allowing verdict and returns true;
 * pol_deny() fills rule/expected/actual and the reason, returns false. */
bool pol_ok(pol_verdict *v);
bool pol_deny(pol_verdict *v, const char *rule, const char *expected,
              const char *actual, const char *what);

/* Appends the names of the set bits of mask, ", "-separated, to buf. */
void pol_chal_mask_str(unsigned mask, char *buf, size_t size);
void pol_curve_mask_str(unsigned mask, char *buf, size_t size);
void pol_key_mask_str(const pol_policy *p, char *buf, size_t size);
void pol_list_str(const struct pol_list *l, const char *empty, char *buf,
                  size_t size);
/* The textual shape of a key: "RSA 3072", "ECDSA P-256", "Ed25519". */
void pol_key_str(const pol_key *k, char *buf, size_t size);

/* Case-insensitive match of a dns name against "name" or "*.suffix". */
bool pol_domain_match(const char *pattern, const char *name);

#endif
