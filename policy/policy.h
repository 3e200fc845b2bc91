/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy/: what the agent may do, decided from parsed data alone.
 *
 * Every function here is pure: structs and `now` in, a verdict out.  No file,
 * network or token I/O and no globals; the only side effect is csa_raise()
 * (the thread-local error of common/) where a function returns csa_err.
 * The caller (agent/) reads the policy file and the trust anchor files and
 * hands their contents in.
 *
 * Defaults (pol_default) are the CA/Browser Forum Code Signing Baseline
 * Requirements v3.10; docs/policy.md lists every key.
 */
#ifndef POL_POLICY_H
#define POL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "csa_err.h"

/* The parsed policy.  Opaque; built by pol_parse()/pol_default(), freed by
 * pol_free().  Immutable once built, so it may be shared between threads. */
typedef struct pol_policy pol_policy;

/* Certificate profiles (DESIGN.md "Certificate profiles"). */
typedef enum {
    POL_PROFILE_CODESIGNING = 0, /* KU digitalSignature, EKU codeSigning */
    POL_PROFILE_CLIENTAUTH,      /* KU digitalSignature, EKU clientAuth */
    POL_PROFILE_TEST_TLS,        /* test CAs only (Pebble): EKU serverAuth */
    POL_PROFILE__MAX
} pol_profile;

typedef enum {
    POL_KEY_RSA = 0,
    POL_KEY_EC, /* ECDSA; curve in pol_key.curve_nid */
    POL_KEY_ED25519,
    POL_KEY_OTHER, /* anything else a certificate may carry (always refused) */
    POL_KEY__MAX
} pol_key_type;

/* A public key's shape: type, size and curve (no key material). */
typedef struct {
    pol_key_type type;
    unsigned bits; /* modulus bits for RSA, field bits for EC */
    int curve_nid; /* OpenSSL NID of the curve for POL_KEY_EC, else 0 */
} pol_key;

typedef enum { POL_ID_DNS = 0, POL_ID_EMAIL, POL_ID__MAX } pol_id_type;

/* An ACME identifier (RFC 8555 §7.1.4); value is borrowed. */
typedef struct {
    pol_id_type type;
    const char *value;
} pol_identifier;

/* What the agent is about to ask a CA for.  All pointers are borrowed. */
typedef struct {
    const char *directory_url;
    pol_profile profile;
    const pol_identifier *ids;
    size_t n_ids;
    pol_key key;                   /* the token key the CSR will carry */
    const char *const *challenges; /* preference list, e.g. "dns-01" */
    size_t n_challenges;
    bool has_eab; /* an External Account Binding key is configured */
} pol_request;

/*
 * The outcome of a decision.  ok == true means allowed; otherwise rule names
 * the policy key (or certificate property) that refused, expected/actual
 * carry the two values, and reason is one sentence for the operator:
 * "<rule>: <what>; expected <expected>, got <actual>".
 * rule points to a static string; it is "ok" when ok is true.
 */
#define POL_TEXT_MAX 256
typedef struct {
    bool ok;
    const char *rule;
    char expected[POL_TEXT_MAX];
    char actual[POL_TEXT_MAX];
    char reason[2 * POL_TEXT_MAX + 128];
} pol_verdict;

/* Returns CSA_OK if v->ok, else raises err with v->reason and returns it
 * (CSA_ERR_POLICY for policy checks, CSA_ERR_VERIFY for chains). */
csa_err pol_verdict_raise(const pol_verdict *v, csa_err err);

/* ---- building a policy ------------------------------------------------- */

/* The CA/B Forum Code Signing BR defaults.  Caller frees with pol_free().
 * Returns NULL only when out of memory. */
pol_policy *pol_default(void);

/*
 * Parses an INI policy held in memory (the caller read the file).  filename
 * only names the source in messages.  Keys not given keep their default.
 * Every unknown section or key, bad value, duplicate key or contradiction
 * raises CSA_ERR_CONFIG with "filename:line: ..." and returns it; *out is
 * then NULL.  On success *out is the caller's, freed with pol_free().
 */
csa_err pol_parse(const char *text, const char *filename, pol_policy **out);

/* Frees a policy; accepts NULL. */
void pol_free(pol_policy *p);

/* ---- accessors for the agent (all borrow from p) ----------------------- */

/* Trust anchor file paths, in file order; the caller loads them. */
const char *const *pol_trust_anchors(const pol_policy *p, size_t *n);
bool pol_eab_required(const pol_policy *p);
bool pol_hooks_allowed(const pol_policy *p);
bool pol_profile_enabled(const pol_policy *p, pol_profile profile);
/* "codesigning", "clientauth", "test-tls"; NULL if out of range. */
const char *pol_profile_name(pol_profile profile);
/* Looks a profile up by name; CSA_ERR_INVALID (raised) if unknown. */
csa_err pol_profile_from_name(const char *name, pol_profile *out);
/* The key type the policy file calls name ("rsa", "ecdsa", "ed25519", in
 * any case); -1 for any other name.  The agent maps its token key types
 * through these names. */
int pol_key_type_from_name(const char *name);

/* ---- decisions before and during an order ------------------------------ */

/* Directory URL, EAB, profile, identifiers, key and challenge preference
 * list.  Returns v->ok; v is always filled. */
bool pol_check_order(const pol_policy *p, const pol_request *req,
                     pol_verdict *v);
/* The key shape alone (RSA bits, EC curve, Ed25519). */
bool pol_check_key(const pol_policy *p, const pol_key *key, pol_verdict *v);
/* One identifier against the profile's allowed domains. */
bool pol_check_identifier(const pol_policy *p, pol_profile profile,
                          const pol_identifier *id, pol_verdict *v);
/* May this challenge type be answered, and without a human (automatic)? */
bool pol_check_challenge(const pol_policy *p, const char *type, bool automatic,
                         pol_verdict *v);
/* rotate == false means "renew keeping the current key". */
bool pol_check_rotation(const pol_policy *p, bool rotate, pol_verdict *v);
/* May external programs (hooks) run? */
bool pol_check_hook(const pol_policy *p, pol_verdict *v);

/*
 * [ephemeral]: one key and certificate per signature.  pol_check_ephemeral
 * refuses a long-lived pair (ephemeral false) for an identity the policy
 * lists in `required`.  pol_check_ephemeral_lifetime checks a requested or
 * issued lifetime (notAfter - notBefore + 1 s) against min_lifetime and
 * max_lifetime.
 */
bool pol_check_ephemeral(const pol_policy *p, const char *identity,
                         bool ephemeral, pol_verdict *v);
bool pol_check_ephemeral_lifetime(const pol_policy *p, int64_t lifetime,
                                  pol_verdict *v);
void pol_ephemeral_lifetimes(const pol_policy *p, int64_t *min, int64_t *max);

/*
 * Renewal window for a certificate valid [not_before, not_after]: the
 * moments at which min_fraction and max_fraction of its lifetime have
 * elapsed.  pol_clamp_window() narrows a CA's ARI suggested window
 * [*start, *end] into it (see docs/policy.md for ari_early).  Pure arithmetic.
 */
void pol_renewal_window(const pol_policy *p, time_t not_before,
                        time_t not_after, time_t *earliest, time_t *latest);
void pol_clamp_window(const pol_policy *p, time_t not_before, time_t not_after,
                      time_t *start, time_t *end);

/* ---- decisions about an issued certificate ----------------------------- */

/* What a leaf certificate says, extracted once.  Owned by the caller of
 * pol_cert_facts_from_x509() and freed with pol_cert_facts_free(). */
typedef struct {
    pol_key key;
    unsigned char *spki_der; /* SubjectPublicKeyInfo, DER */
    size_t spki_len;
    bool has_ku;
    bool ku_critical;
    uint32_t ku_bits; /* X509v3_KU_* bits (openssl/x509v3.h) */
    bool has_eku;
    bool eku_critical;
    char **eku_oids; /* dotted OIDs, n_eku entries */
    size_t n_eku;
    bool has_bc;
    bool bc_ca;
    char *cn;  /* subject commonName (UTF-8) or NULL */
    char *org; /* subject organizationName (UTF-8) or NULL */
    char **san_dns;
    size_t n_san_dns;
    char **san_email;
    size_t n_san_email;
    size_t n_san_other; /* SAN entries of any other kind (IP, URI, ...) */
    time_t not_before;
    time_t not_after;
    char *serial_hex; /* upper-case hex */
} pol_cert_facts;

/* Extracts the facts of leaf (borrowed; OpenSSL may cache its extensions).
 * No I/O.  Returns CSA_ERR_INVALID/NOMEM (raised) on a malformed leaf. */
csa_err pol_cert_facts_from_x509(X509 *leaf, pol_cert_facts **out);
/* Frees facts; accepts NULL. */
void pol_cert_facts_free(pol_cert_facts *f);

/* What the issued certificate must match.  All pointers are borrowed. */
typedef struct {
    const unsigned char *spki_der; /* the token key, SubjectPublicKeyInfo */
    size_t spki_len;
    const char *cn;            /* expected subject CN, or NULL to skip */
    const char *org;           /* expected subject O, or NULL to skip */
    const pol_identifier *ids; /* the order's identifiers */
    size_t n_ids;
} pol_expect;

/*
 * Invariant 4 minus the chain: public key equals the token key, key shape
 * allowed, KU/EKU/basicConstraints per profile, subject and SAN match the
 * request and the profile's allowed domains, currently valid
 * (not_before <= now < not_after) and lifetime within max_lifetime, where
 * lifetime = not_after - not_before + 1 s (RFC 5280 §4.1.2.5: both ends are
 * inclusive).  The first failing rule is reported.
 */
bool pol_check_cert(const pol_policy *p, pol_profile profile,
                    const pol_cert_facts *facts, const pol_expect *exp,
                    time_t now, pol_verdict *v);

/*
 * Verifies chain (leaf first, then intermediates; borrowed) to one of
 * anchors (borrowed) at time now.  No purpose is checked (OpenSSL 3.0 has
 * no code-signing purpose): pol_check_cert checks EKU.  An anchor need not be
 * self-signed (an operator may pin an issuing CA).  On failure v->actual
 * holds OpenSSL's verify error string and the depth.
 */
bool pol_verify_chain(STACK_OF(X509) * chain, STACK_OF(X509) * anchors,
                      time_t now, pol_verdict *v);

/* A human explanation of the effective rules for profile, for the agent's
 * `check` subcommand.  *text is malloc'd, caller frees. */
csa_err pol_explain(const pol_policy *p, pol_profile profile, char **text);

#endif
