/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pol_check_cert(): invariant 4 over the facts of an issued leaf.  Checks run
 * in a fixed order and the first failure is reported, so that an operator
 * always sees the same rule for the same certificate.
 */
#include "pol_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#define OID_SERVER_AUTH "1.3.6.1.5.5.7.3.1"
#define OID_CLIENT_AUTH "1.3.6.1.5.5.7.3.2"
#define OID_CODE_SIGNING "1.3.6.1.5.5.7.3.3"
#define OID_ANY_EKU "2.5.29.37.0"

/* What a profile requires of KU and EKU. */
struct pol_ext_rules {
    uint32_t ku_required;
    uint32_t ku_forbidden;
    const char *eku_required;     /* OID */
    const char *eku_forbidden[3]; /* OIDs; NULL-terminated list */
};

static const struct pol_ext_rules ext_rules[POL_PROFILE__MAX] = {
    [POL_PROFILE_CODESIGNING] = {KU_DIGITAL_SIGNATURE,
                                 KU_KEY_CERT_SIGN | KU_CRL_SIGN,
                                 OID_CODE_SIGNING,
                                 {OID_ANY_EKU, OID_SERVER_AUTH, NULL}},
    [POL_PROFILE_CLIENTAUTH] = {KU_DIGITAL_SIGNATURE,
                                KU_KEY_CERT_SIGN | KU_CRL_SIGN,
                                OID_CLIENT_AUTH,
                                {OID_ANY_EKU, OID_SERVER_AUTH,
                                 OID_CODE_SIGNING}},
    [POL_PROFILE_TEST_TLS] = {KU_DIGITAL_SIGNATURE,
                              KU_KEY_CERT_SIGN | KU_CRL_SIGN,
                              OID_SERVER_AUTH,
                              {OID_ANY_EKU, OID_CODE_SIGNING, NULL}},
};

static const char *eku_name(const char *oid)
{
    static const char *const names[][2] = {
        {OID_SERVER_AUTH, "serverAuth"},
        {OID_CLIENT_AUTH, "clientAuth"},
        {OID_CODE_SIGNING, "codeSigning"},
        {OID_ANY_EKU, "anyExtendedKeyUsage"},
        {"1.3.6.1.5.5.7.3.4", "emailProtection"},
        {"1.3.6.1.5.5.7.3.8", "timeStamping"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(names[i][0], oid) == 0)
            return names[i][1];
    }
    return oid;
}

static void ku_str(uint32_t bits, char *buf, size_t size)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        {KU_DIGITAL_SIGNATURE, "digitalSignature"},
        {KU_NON_REPUDIATION, "nonRepudiation"},
        {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
        {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
        {KU_KEY_AGREEMENT, "keyAgreement"},
        {KU_KEY_CERT_SIGN, "keyCertSign"},
        {KU_CRL_SIGN, "cRLSign"},
        {KU_ENCIPHER_ONLY, "encipherOnly"},
        {KU_DECIPHER_ONLY, "decipherOnly"},
    };
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if ((bits & names[i].bit) && len < size)
            len += (size_t)snprintf(buf + len, size - len, "%s%s",
                                    len ? ", " : "", names[i].name);
    }
    if (buf[0] == '\0')
        snprintf(buf, size, "none");
}

static void eku_str(const pol_cert_facts *f, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < f->n_eku && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
                                eku_name(f->eku_oids[i]));
    if (buf[0] == '\0')
        snprintf(buf, size, "no extendedKeyUsage");
}

static bool has_eku(const pol_cert_facts *f, const char *oid)
{
    for (size_t i = 0; i < f->n_eku; i++) {
        if (strcmp(f->eku_oids[i], oid) == 0)
            return true;
    }
    return false;
}

/* "SPKI sha256:<first 16 bytes hex>", enough for an operator to tell two
 * keys apart in a message. */
static void spki_str(const unsigned char *der, size_t len, char *buf,
                     size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t off;

    if (!EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL)) {
        snprintf(buf, size, "SPKI of %zu bytes", len);
        return;
    }
    off = (size_t)snprintf(buf, size, "SPKI sha256:");
    for (unsigned i = 0; i < 16 && i < mdlen && off + 3 <= size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%02x", md[i]);
}

static bool check_pubkey(const pol_policy *p, const pol_cert_facts *f,
                         const pol_expect *exp, pol_verdict *v)
{
    char want[80], got[80];

    if (exp->spki_der == NULL || exp->spki_len == 0)
        return pol_deny(v, "cert.public_key", "the token's public key",
                        "no expected key given", "nothing to compare with");
    if (f->spki_len != exp->spki_len ||
        memcmp(f->spki_der, exp->spki_der, f->spki_len) != 0) {
        spki_str(exp->spki_der, exp->spki_len, want, sizeof(want));
        spki_str(f->spki_der, f->spki_len, got, sizeof(got));
        return pol_deny(v, "cert.public_key", want, got,
                        "the certificate is not for the token key");
    }
    return pol_check_key(p, &f->key, v);
}

static bool check_ku(const struct pol_profile_rules *r,
                     const struct pol_ext_rules *x, const pol_cert_facts *f,
                     pol_verdict *v)
{
    char want[128], got[POL_TEXT_MAX];

    ku_str(f->has_ku ? f->ku_bits : 0, got, sizeof(got));
    ku_str(x->ku_required, want, sizeof(want));
    if (!f->has_ku || (f->ku_bits & x->ku_required) != x->ku_required)
        return pol_deny(v, "cert.key_usage", want,
                        f->has_ku ? got : "no keyUsage",
                        "required keyUsage missing");
    if (f->ku_bits & x->ku_forbidden) {
        ku_str(f->ku_bits & x->ku_forbidden, got, sizeof(got));
        return pol_deny(v, "cert.key_usage", "no keyCertSign, no cRLSign", got,
                        "keyUsage of a CA certificate");
    }
    if (r->require_ku_critical && !f->ku_critical)
        return pol_deny(v, "profile.require_ku_critical", "critical keyUsage",
                        "non-critical keyUsage", "keyUsage must be critical");
    return pol_ok(v);
}

static bool check_eku(const struct pol_profile_rules *r,
                      const struct pol_ext_rules *x, const pol_cert_facts *f,
                      pol_verdict *v)
{
    char got[POL_TEXT_MAX];

    eku_str(f, got, sizeof(got));
    if (!has_eku(f, x->eku_required))
        return pol_deny(v, "cert.extended_key_usage", eku_name(x->eku_required),
                        got, "required extendedKeyUsage missing");
    for (int i = 0; i < 3 && x->eku_forbidden[i] != NULL; i++) {
        const char *oid = x->eku_forbidden[i];

        if (strcmp(oid, OID_SERVER_AUTH) == 0 && r->accept_eku_serverauth)
            continue;
        if (has_eku(f, oid)) {
            char want[96];

            snprintf(want, sizeof(want), "no %s", eku_name(oid));
            return pol_deny(v,
                            strcmp(oid, OID_SERVER_AUTH) == 0
                                ? "profile.accept_eku_serverauth"
                                : "cert.extended_key_usage",
                            want, got, "forbidden extendedKeyUsage present");
        }
    }
    return pol_ok(v);
}

static bool check_extensions(const pol_policy *p, pol_profile profile,
                             const pol_cert_facts *f, pol_verdict *v)
{
    const struct pol_profile_rules *r = &p->profiles[profile];

    if (f->has_bc && f->bc_ca)
        return pol_deny(v, "cert.basic_constraints", "cA false or absent",
                        "cA true", "the certificate is a CA certificate");
    if (!check_ku(r, &ext_rules[profile], f, v))
        return false;
    return check_eku(r, &ext_rules[profile], f, v);
}

/* Is name among the expected identifiers of type t? */
static bool expected_id(const pol_expect *exp, pol_id_type t, const char *name)
{
    for (size_t i = 0; i < exp->n_ids; i++) {
        if (exp->ids[i].type == t && exp->ids[i].value != NULL &&
            strcasecmp(exp->ids[i].value, name) == 0)
            return true;
    }
    return false;
}

static bool in_list(char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(list[i], name) == 0)
            return true;
    }
    return false;
}

static bool check_cn_o(pol_profile profile, const pol_cert_facts *f,
                       const pol_expect *exp, pol_verdict *v)
{
    /* A dns name compares case-insensitively; a user name does not. */
    bool dns = profile != POL_PROFILE_CLIENTAUTH;

    if (exp->cn != NULL &&
        (f->cn == NULL ||
         (dns ? strcasecmp(f->cn, exp->cn) : strcmp(f->cn, exp->cn)) != 0))
        return pol_deny(v, "cert.subject_cn", exp->cn, f->cn ? f->cn : "no CN",
                        "subject CN differs from the request");
    if (exp->org != NULL && (f->org == NULL || strcmp(f->org, exp->org) != 0))
        return pol_deny(v, "cert.subject_o", exp->org, f->org ? f->org : "no O",
                        "subject O differs from the request");
    return pol_ok(v);
}

/* Every SAN was asked for and is allowed; every identifier is present. */
static bool check_san(const pol_policy *p, pol_profile profile,
                      const pol_cert_facts *f, const pol_expect *exp,
                      pol_verdict *v)
{
    pol_identifier id;

    if (f->n_san_other > 0)
        return pol_deny(v, "cert.san", "dns or email names only",
                        "another kind of subjectAltName",
                        "the certificate names something not requested");
    for (size_t i = 0; i < f->n_san_dns + f->n_san_email; i++) {
        bool is_dns = i < f->n_san_dns;

        id.type = is_dns ? POL_ID_DNS : POL_ID_EMAIL;
        id.value = is_dns ? f->san_dns[i] : f->san_email[i - f->n_san_dns];
        if (!expected_id(exp, id.type, id.value))
            return pol_deny(v, "cert.san", "only the requested identifiers",
                            id.value, "subjectAltName not requested");
        if (!pol_check_identifier(p, profile, &id, v))
            return false;
    }
    for (size_t i = 0; i < exp->n_ids; i++) {
        const pol_identifier *e = &exp->ids[i];
        bool found = e->type == POL_ID_DNS
                         ? in_list(f->san_dns, f->n_san_dns, e->value) ||
                               (f->cn && strcasecmp(f->cn, e->value) == 0)
                         : in_list(f->san_email, f->n_san_email, e->value);
        if (!found)
            return pol_deny(v, "cert.san", e->value, "absent",
                            "requested identifier missing from the "
                            "certificate");
    }
    return pol_ok(v);
}

static void fmt_time(time_t t, char *buf, size_t size)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)t);
}

static bool check_validity(const pol_policy *p, const pol_cert_facts *f,
                           time_t now, pol_verdict *v)
{
    char want[128], got[128];
    int64_t life = (int64_t)f->not_after - (int64_t)f->not_before + 1;

    fmt_time(now, got, sizeof(got));
    if (now < f->not_before) {
        fmt_time(f->not_before, want, sizeof(want));
        return pol_deny(v, "cert.not_yet_valid", want, got,
                        "certificate not yet valid (notBefore vs now)");
    }
    if (now >= f->not_after) {
        fmt_time(f->not_after, want, sizeof(want));
        return pol_deny(v, "cert.expired", want, got,
                        "certificate expired (notAfter vs now)");
    }
    if (life > p->max_lifetime) {
        snprintf(want, sizeof(want), "<= %" PRId64 " s", p->max_lifetime);
        snprintf(got, sizeof(got), "%" PRId64 " s", life);
        return pol_deny(v, "certificate.max_lifetime", want, got,
                        "validity period too long");
    }
    return pol_ok(v);
}

bool pol_check_cert(const pol_policy *p, pol_profile profile,
                    const pol_cert_facts *facts, const pol_expect *exp,
                    time_t now, pol_verdict *v)
{
    if (facts == NULL || exp == NULL)
        return pol_deny(v, "cert", "a certificate", "none", "nothing to check");
    if ((unsigned)profile >= POL_PROFILE__MAX)
        return pol_deny(v, "profile", "a known profile", "out of range",
                        "unknown certificate profile");
    if (!p->profiles[profile].enabled)
        return pol_deny(v, "profile.enabled", "an enabled profile",
                        pol_profile_name(profile), "profile disabled");
    if (!check_pubkey(p, facts, exp, v) ||
        !check_extensions(p, profile, facts, v) ||
        !check_cn_o(profile, facts, exp, v) ||
        !check_san(p, profile, facts, exp, v))
        return false;
    return check_validity(p, facts, now, v);
}
