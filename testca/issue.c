/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Issuance: the CSR checks, the certificate profiles and revocation.
 *
 * Profiles, chosen by the EKU the CSR asks for (extensionRequest):
 *   codesigning  EKU codeSigning; CN = the dns identifier; O = organisation
 *   clientauth   EKU clientAuth; SAN rfc822Name (email) or dNSName (dns)
 *   tls          no EKU or serverAuth; only for interop with standard
 *                clients (accounts without an organisation in
 *                --always-valid mode, or organisations that list "tls")
 * The CSR must ask for what the profile gives; anything else is badCSR with
 * a detail that says why.
 */
#include "csca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), -1)

static int key_ok(EVP_PKEY *pk, char *why, size_t whylen)
{
    int bits = EVP_PKEY_get_bits(pk);

    if (EVP_PKEY_is_a(pk, "RSA"))
        return bits >= 3072
                   ? 0
                   : WHY("RSA key of %d bits; at least 3072 needed", bits);
    if (EVP_PKEY_is_a(pk, "ED25519"))
        return 0;
    if (EVP_PKEY_is_a(pk, "EC")) {
        char grp[64] = "";
        EVP_PKEY_get_group_name(pk, grp, sizeof(grp), NULL);
        if (strcmp(grp, "prime256v1") == 0 || strcmp(grp, "secp384r1") == 0 ||
            strcmp(grp, "secp521r1") == 0)
            return 0;
        return WHY("EC curve %s not allowed (P-256, P-384, P-521 only)", grp);
    }
    return WHY("key type not allowed (RSA>=3072, P-256/384/521, Ed25519)");
}

/* Bit set of the EKUs the CSR asks for. */
enum { EKU_CODE = 1, EKU_CLIENT = 2, EKU_SERVER = 4, EKU_OTHER = 8 };

static int csr_ekus(STACK_OF(X509_EXTENSION) * exts)
{
    EXTENDED_KEY_USAGE *eku =
        X509V3_get_d2i(exts, NID_ext_key_usage, NULL, NULL);
    int i, set = 0;

    for (i = 0; eku && i < sk_ASN1_OBJECT_num(eku); i++) {
        int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
        set |= nid == NID_code_sign     ? EKU_CODE
               : nid == NID_client_auth ? EKU_CLIENT
               : nid == NID_server_auth ? EKU_SERVER
                                        : EKU_OTHER;
    }
    EXTENDED_KEY_USAGE_free(eku);
    return set;
}

static int ku_ok(STACK_OF(X509_EXTENSION) * exts, const char *profile,
                 char *why, size_t whylen)
{
    ASN1_BIT_STRING *ku = X509V3_get_d2i(exts, NID_key_usage, NULL, NULL);
    BASIC_CONSTRAINTS *bc =
        X509V3_get_d2i(exts, NID_basic_constraints, NULL, NULL);
    int rc = 0;

    if (bc != NULL && bc->ca)
        rc = WHY("CSR asks for a CA certificate (basicConstraints cA)");
    else if (ku != NULL && !ASN1_BIT_STRING_get_bit(ku, 0))
        rc = WHY("CSR keyUsage lacks digitalSignature");
    else if (ku != NULL &&
             (ASN1_BIT_STRING_get_bit(ku, 5) || ASN1_BIT_STRING_get_bit(ku, 6)))
        rc = WHY("CSR keyUsage asks for keyCertSign/cRLSign");
    else if (ku != NULL && strcmp(profile, "tls") != 0 &&
             (ASN1_BIT_STRING_get_bit(ku, 2) ||
              ASN1_BIT_STRING_get_bit(ku, 3) || ASN1_BIT_STRING_get_bit(ku, 4)))
        rc = WHY("CSR keyUsage asks for encipherment/key agreement; profile "
                 "%s gives digitalSignature only",
                 profile);
    ASN1_BIT_STRING_free(ku);
    BASIC_CONSTRAINTS_free(bc);
    return rc;
}

static bool profile_allowed(json_object *acct, const char *profile)
{
    json_object *org = reg_org(jstr(acct, "org")), *ps;
    size_t i;

    if (org == NULL)
        return strcmp(profile, "tls") == 0 && CS.o.always_valid;
    json_object_object_get_ex(org, "profiles", &ps);
    for (i = 0; i < json_object_array_length(ps); i++) {
        json_object *p = json_object_array_get_idx(ps, i);
        if (json_object_is_type(p, json_type_string) &&
            strcmp(json_object_get_string(p), profile) == 0)
            return true;
    }
    return false;
}

static int pick_profile(int ekus, json_object *acct, const char **profile,
                        char *why, size_t whylen)
{
    if (ekus & EKU_CODE) {
        if (ekus != EKU_CODE)
            return WHY("CSR asks for codeSigning together with other EKUs");
        *profile = "codesigning";
    } else if (ekus & EKU_CLIENT) {
        if (ekus != EKU_CLIENT && !(ekus == (EKU_CLIENT | EKU_SERVER) &&
                                    profile_allowed(acct, "tls")))
            return WHY("CSR asks for clientAuth together with other EKUs");
        *profile = ekus == EKU_CLIENT ? "clientauth" : "tls";
    } else if (ekus & EKU_OTHER) {
        return WHY("CSR asks for an EKU no profile gives");
    } else {
        *profile = "tls";
    }
    if (!profile_allowed(acct, *profile))
        return WHY("CSR asks for the %s profile (EKU %s), which this "
                   "account's organisation does not allow; a code-signing "
                   "CSR must request extendedKeyUsage codeSigning",
                   *profile, ekus ? "as requested" : "missing");
    return 0;
}

static bool is_identifier(json_object *order, const char *type, const char *v)
{
    json_object *ids;
    size_t i;

    json_object_object_get_ex(order, "identifiers", &ids);
    for (i = 0; i < json_object_array_length(ids); i++) {
        json_object *id = json_object_array_get_idx(ids, i);
        if ((type == NULL || strcmp(jstr(id, "type"), type) == 0) &&
            strcasecmp(jstr(id, "value"), v) == 0)
            return true;
    }
    return false;
}

static char *csr_cn(X509_REQ *req)
{
    X509_NAME *n = X509_REQ_get_subject_name(req);
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    unsigned char *utf = NULL;
    char *out;

    if (i < 0 || ASN1_STRING_to_UTF8(&utf, X509_NAME_ENTRY_get_data(
                                               X509_NAME_get_entry(n, i))) < 0)
        return NULL;
    out = strdup((char *)utf);
    OPENSSL_free(utf);
    return out;
}

/* Does some dNSName/rfc822Name of san equal an identifier of the order? */
static int san_names_order(GENERAL_NAMES *san, json_object *order)
{
    int i;

    for (i = 0; san != NULL && i < sk_GENERAL_NAME_num(san); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);

        if ((g->type == GEN_DNS || g->type == GEN_EMAIL) &&
            is_identifier(order, NULL,
                          (const char *)ASN1_STRING_get0_data(g->d.ia5)))
            return 1;
    }
    return 0;
}

/* Every name in the CSR is an identifier, every identifier is named.  A
 * clientauth CN is the user's or device's name (draft §3); its identifier
 * is carried in the subjectAltName instead. */
static int names_ok(X509_REQ *req, STACK_OF(X509_EXTENSION) * exts,
                    json_object *order, const char *profile, char *why,
                    size_t whylen)
{
    GENERAL_NAMES *san = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
    char *cn = csr_cn(req);
    json_object *ids;
    int i, rc = 0, n_ids;

    json_object_object_get_ex(order, "identifiers", &ids);
    n_ids = (int)json_object_array_length(ids);
    if (strcmp(profile, "tls") != 0 && n_ids != 1)
        rc = WHY("profile %s certifies exactly one identifier", profile);
    else if (strcmp(profile, "codesigning") == 0 &&
             (cn == NULL || !is_identifier(order, "dns", cn)))
        rc = WHY("CSR subject CN \"%s\" is not the order's dns identifier",
                 cn ? cn : "(none)");
    else if (strcmp(profile, "clientauth") == 0 && cn == NULL)
        rc = WHY("CSR has no subject CN (the user or device name)");
    else if (strcmp(profile, "clientauth") == 0 && !san_names_order(san, order))
        rc = WHY("CSR subjectAltName does not name the order's identifier");
    else if (strcmp(profile, "clientauth") != 0 && cn != NULL &&
             !is_identifier(order, NULL, cn))
        rc = WHY("CSR subject CN \"%s\" is not an identifier of the order", cn);
    for (i = 0; rc == 0 && san && i < sk_GENERAL_NAME_num(san); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
        const char *v = (g->type == GEN_DNS || g->type == GEN_EMAIL)
                            ? (const char *)ASN1_STRING_get0_data(g->d.ia5)
                            : NULL;
        if (v == NULL || !is_identifier(order, NULL, v))
            rc = WHY("CSR subjectAltName %s is not an identifier of the order",
                     v ? v : "(non-DNS/email name)");
    }
    GENERAL_NAMES_free(san);
    free(cn);
    return rc;
}

int issue_check_csr(X509_REQ *req, json_object *order, json_object *acct,
                    const char **profile, char *why, size_t whylen)
{
    EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
    STACK_OF(X509_EXTENSION) *exts = NULL;
    int rc = -1;

    if (pk == NULL || X509_REQ_verify(req, pk) != 1)
        return WHY("CSR self-signature does not verify");
    if (key_ok(pk, why, whylen) != 0)
        return -1;
    exts = X509_REQ_get_extensions(req);
    if (pick_profile(csr_ekus(exts), acct, profile, why, whylen) == 0 &&
        ku_ok(exts, *profile, why, whylen) == 0 &&
        names_ok(req, exts, order, *profile, why, whylen) == 0)
        rc = 0;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

/* ---- building the certificate ----------------------------------------- */

static int add_ext(X509 *x, int nid, const char *val)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, CS.inter, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, val);
    if (ext == NULL)
        return -1;
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static int set_subject(X509 *x, X509_REQ *req, json_object *order,
                       json_object *acct, const char *profile)
{
    X509_NAME *n = X509_NAME_new();
    char *cn = csr_cn(req);
    json_object *org = reg_org(jstr(acct, "org")), *ids;
    int ok;

    json_object_object_get_ex(order, "identifiers", &ids);
    if (cn == NULL)
        cn = strdup(jstr(json_object_array_get_idx(ids, 0), "value"));
    if (org != NULL && strcmp(profile, "tls") != 0)
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                   (const unsigned char *)jstr(org, "name"), -1,
                                   -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (unsigned char *)cn, -1,
                               -1, 0);
    ok = X509_set_subject_name(x, n);
    X509_NAME_free(n);
    free(cn);
    return ok ? 0 : -1;
}

static char *san_value(json_object *order)
{
    json_object *ids;
    size_t i;
    char *out = strdup(""), *t;

    json_object_object_get_ex(order, "identifiers", &ids);
    for (i = 0; out && i < json_object_array_length(ids); i++) {
        json_object *id = json_object_array_get_idx(ids, i);
        if (asprintf(&t, "%s%s%s:%s", out, i ? "," : "",
                     strcmp(jstr(id, "type"), "email") ? "DNS" : "email",
                     jstr(id, "value")) < 0)
            t = NULL;
        free(out);
        out = t;
    }
    return out;
}

/* certificatePolicies 2.23.140.1.4.1 (CA/B Forum code signing).  Built by
 * hand: the config-string parser wants a config database for policies. */
static int add_cs_policy(X509 *x)
{
    CERTIFICATEPOLICIES *cp = sk_POLICYINFO_new_null();
    POLICYINFO *pi = POLICYINFO_new();
    int ok = 0;

    if (cp != NULL && pi != NULL &&
        (pi->policyid = OBJ_txt2obj("2.23.140.1.4.1", 1)) != NULL &&
        sk_POLICYINFO_push(cp, pi) > 0) {
        pi = NULL;
        ok = X509_add1_ext_i2d(x, NID_certificate_policies, cp, 0,
                               X509V3_ADD_DEFAULT) == 1;
    }
    POLICYINFO_free(pi);
    sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
    return ok ? 0 : -1;
}

static int add_profile_exts(X509 *x, json_object *order, const char *profile)
{
    bool cs = strcmp(profile, "codesigning") == 0;
    const char *eku = cs ? "codeSigning"
                      : strcmp(profile, "clientauth") == 0
                          ? "clientAuth"
                          : "serverAuth,clientAuth";
    char *san;
    int rc;

    if (CS.o.misissue == MIS_WRONG_EKU)
        eku = cs ? "serverAuth" : "codeSigning";
    if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(x, NID_key_usage, "critical,digitalSignature") ||
        add_ext(x, NID_ext_key_usage, eku) ||
        add_ext(x, NID_subject_key_identifier, "hash") ||
        add_ext(x, NID_authority_key_identifier, "keyid:always"))
        return -1;
    if (cs)
        return add_cs_policy(x);
    san = san_value(order);
    rc = san ? add_ext(x, NID_subject_alt_name, san) : -1;
    free(san);
    return rc;
}

/* notBefore = now; notAfter = the order's notAfter when it names one
 * (newOrder checked it against --min-validity/--validity, finalize that
 * it still lies ahead), else now + --validity - 1 s. */
static int set_serial_and_time(X509 *x, json_object *order)
{
    uint8_t b[16];
    BIGNUM *bn;
    long life = CS.o.validity;
    time_t now = time(NULL), na = (time_t)-1;
    int ok;

    if (RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    /* 128 random bits as an unsigned number; DER adds a 0x00 when the top
     * bit is set, so the serial is 16 or 17 bytes (at most 20 allowed). */
    bn = BN_bin2bn(b, sizeof(b), NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    if (jstr(order, "notAfter") != NULL &&
        ((na = time_parse(jstr(order, "notAfter"))) == (time_t)-1 || na < now))
        return -1;
    /* RFC 5280 §4.1.2.5: the validity period includes both ends, so a
     * lifetime of N seconds ends at notBefore + N - 1. */
    if (na == (time_t)-1)
        na = now + life - 1;
    if (CS.o.misissue == MIS_LONG_LIFETIME)
        na += 1000L * 86400;
    /* a minute past the notAfter the order asked for, still a short
     * lifetime */
    if (CS.o.misissue == MIS_LATE_NOT_AFTER && jstr(order, "notAfter") != NULL)
        na += 60;
    return ok && ASN1_TIME_set(X509_getm_notBefore(x), now) &&
                   ASN1_TIME_set(X509_getm_notAfter(x), na)
               ? 0
               : -1;
}

static json_object *cert_record(X509 *x, const char *profile)
{
    json_object *r = json_object_new_object();
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *certid = ari_certid(x), *serial;
    long n;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    struct tm tm;

    PEM_write_bio_X509(b, x);
    n = BIO_get_mem_data(b, &data);
    json_object_object_add(r, "pem", json_object_new_string_len(data, (int)n));
    serial = BN_bn2hex(bn);
    json_object_object_add(r, "serial", json_object_new_string(serial));
    json_object_object_add(r, "certid", json_object_new_string(certid));
    json_object_object_add(r, "profile", json_object_new_string(profile));
    ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm);
    json_object_object_add(r, "notBefore", json_object_new_int64(timegm(&tm)));
    ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm);
    json_object_object_add(r, "notAfter", json_object_new_int64(timegm(&tm)));
    OPENSSL_free(serial);
    BN_free(bn);
    BIO_free(b);
    free(certid);
    return r;
}

/* Issue from a checked CSR.  Returns the new certificate's id (caller
 * frees) and borrows its state record through *certrec. */
char *issue_cert(X509_REQ *req, json_object *order, json_object *acct,
                 const char *profile, json_object **certrec)
{
    X509 *x = X509_new();
    EVP_PKEY *other = NULL, *pk = X509_REQ_get0_pubkey(req);
    char *id = NULL;

    if (CS.o.misissue == MIS_OTHER_KEY)
        pk = other = EVP_EC_gen("P-256");
    if (x == NULL || pk == NULL || !X509_set_version(x, 2) ||
        set_serial_and_time(x, order) ||
        !X509_set_issuer_name(x, X509_get_subject_name(CS.inter)) ||
        set_subject(x, req, order, acct, profile) || !X509_set_pubkey(x, pk) ||
        add_profile_exts(x, order, profile) ||
        !X509_sign(x, CS.inter_key, EVP_sha256()))
        goto done;
    *certrec = cert_record(x, profile);
    id = state_add("certs", *certrec);
    fprintf(stderr, "csca: issued %s certificate serial %s\n", profile,
            jstr(*certrec, "serial"));
done:
    X509_free(x);
    EVP_PKEY_free(other);
    return id;
}

/* RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial DER
 * content octets).  Caller frees. */
char *ari_certid(X509 *x)
{
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    unsigned char *der = NULL;
    int n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
    char *a, *s, *out = NULL;

    if (aki == NULL || n < 3 || der[1] >= 0x80) {
        OPENSSL_free(der);
        return NULL;
    }
    a = b64url_enc(ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki));
    s = b64url_enc(der + 2, (size_t)n - 2);
    if (a && s && asprintf(&out, "%s.%s", a, s) < 0)
        out = NULL;
    free(a);
    free(s);
    OPENSSL_free(der);
    return out;
}

/* ---- revocation (RFC 8555 §7.6) ------------------------------------- */

static json_object *cert_by_der(const uint8_t *der, size_t n, X509 **x)
{
    const unsigned char *p = der;
    char *certid;
    json_object *found = NULL;

    *x = d2i_X509(NULL, &p, (long)n);
    if (*x == NULL || p != der + n)
        return NULL;
    certid = ari_certid(*x);
    json_object_object_foreach(state_tab("certs"), k, v)
    {
        (void)k;
        if (certid && jstr(v, "certid") && !strcmp(jstr(v, "certid"), certid))
            found = v;
    }
    free(certid);
    return found;
}

static int revoke_allowed(struct resp *rs, struct jws *j, json_object *rec,
                          X509 *x)
{
    if (j->acct != NULL && strcmp(jstr(rec, "account"), j->acct_id) == 0)
        return 0;
    if (j->acct == NULL && EVP_PKEY_eq(j->key, X509_get0_pubkey(x)) == 1)
        return 0;
    resp_problem(rs, 403, "unauthorized",
                 "neither the issuing account nor the certificate's key "
                 "signed this request");
    return -1;
}

void h_revoke(const struct req *rq, struct resp *rs)
{
    struct jws j;
    json_object *rec, *reason = NULL;
    const char *cert;
    uint8_t *der = NULL;
    size_t n;
    X509 *x = NULL;
    int r = 0;
    char *now;

    if (jws_check(rq, rs, JWS_EITHER, &j) != 0)
        return;
    if (member_str(rs, j.payload, "certificate", true, &cert) < 0 ||
        member(rs, j.payload, "reason", json_type_int, false, &reason) < 0)
        goto done;
    if (b64url_dec(cert, &der, &n) != 0) {
        resp_problem(rs, 400, "malformed",
                     "revokeCert certificate is not base64url");
        goto done;
    }
    /* RFC 5280 §5.3.1 CRLReason; 7 is unused.  Range-checked as int64 so
     * a huge value cannot wrap into the allowed range. */
    if (reason != NULL) {
        int64_t v = json_object_get_int64(reason);
        if (v < 0 || v > 10 || v == 7) {
            resp_problem(rs, 400, "badRevocationReason",
                         "reason %lld not allowed", (long long)v);
            goto done;
        }
        r = (int)v;
    }
    if ((rec = cert_by_der(der, n, &x)) == NULL) {
        resp_problem(rs, 404, "malformed", "certificate not issued by csca");
        goto done;
    }
    if (revoke_allowed(rs, &j, rec, x) != 0)
        goto done;
    if (jstr(rec, "revoked")) {
        resp_problem(rs, 400, "alreadyRevoked", "certificate already revoked");
        goto done;
    }
    now = time_str(time(NULL));
    json_object_object_add(rec, "revoked", json_object_new_string(now));
    json_object_object_add(rec, "reason", json_object_new_int(r));
    free(now);
    state_save();
    rs->status = 200;
done:
    X509_free(x);
    free(der);
    jws_clear(&j);
}
