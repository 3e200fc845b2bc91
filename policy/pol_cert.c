/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Facts of an issued leaf and the checks of invariant 4 over them (the chain
 * is pol_chain.c).  OpenSSL parses; we only read what it parsed.
 */
#include "pol_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

void pol_cert_facts_free(pol_cert_facts *f)
{
    if (f == NULL)
        return;
    OPENSSL_free(f->spki_der);
    for (size_t i = 0; i < f->n_eku; i++)
        free(f->eku_oids[i]);
    free(f->eku_oids);
    for (size_t i = 0; i < f->n_san_dns; i++)
        free(f->san_dns[i]);
    free(f->san_dns);
    for (size_t i = 0; i < f->n_san_email; i++)
        free(f->san_email[i]);
    free(f->san_email);
    free(f->cn);
    free(f->org);
    free(f->serial_hex);
    free(f);
}

/* Appends a copy of s (len bytes) to a string array. */
static csa_err push_str(char ***arr, size_t *n, const char *s, size_t len)
{
    struct pol_list l = {.v = *arr, .n = *n};
    csa_err err;

    if (memchr(s, '\0', len) != NULL)
        return csa_raise(CSA_ERR_INVALID,
                         "certificate name contains a NUL byte");
    err = pol_list_add(&l, s, len);
    *arr = l.v;
    *n = l.n;
    return err;
}

static csa_err facts_key(X509 *leaf, pol_cert_facts *f)
{
    EVP_PKEY *pk = X509_get0_pubkey(leaf);
    char curve[64];
    size_t len = 0;
    int der_len;

    if (pk == NULL)
        return csa_raise(CSA_ERR_INVALID, "certificate public key unreadable");
    f->key.type = POL_KEY_OTHER;
    f->key.bits = (unsigned)EVP_PKEY_get_bits(pk);
    if (EVP_PKEY_is_a(pk, "RSA")) {
        f->key.type = POL_KEY_RSA;
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        f->key.type = POL_KEY_EC;
        if (EVP_PKEY_get_utf8_string_param(pk, "group", curve, sizeof(curve),
                                           &len))
            f->key.curve_nid = OBJ_sn2nid(curve);
    } else if (EVP_PKEY_is_a(pk, "ED25519")) {
        f->key.type = POL_KEY_ED25519;
    }
    der_len = i2d_PUBKEY(pk, &f->spki_der);
    if (der_len <= 0)
        return csa_raise(CSA_ERR_INVALID, "certificate public key unreadable");
    f->spki_len = (size_t)der_len;
    return CSA_OK;
}

/* Reads whether extension nid is present and critical. */
static bool ext_critical(X509 *leaf, int nid, bool *present)
{
    int idx = X509_get_ext_by_NID(leaf, nid, -1);

    *present = idx >= 0;
    return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(leaf, idx));
}

static csa_err facts_ku_bc(X509 *leaf, pol_cert_facts *f)
{
    BASIC_CONSTRAINTS *bc;
    int crit = 0;

    /* X509_get_extension_flags() makes OpenSSL decode the extensions;
     * one it cannot decode must not read as "absent". */
    if (X509_get_extension_flags(leaf) & EXFLAG_INVALID)
        return csa_raise(CSA_ERR_INVALID,
                         "certificate has a malformed or repeated extension");
    f->ku_critical = ext_critical(leaf, NID_key_usage, &f->has_ku);
    if (f->has_ku)
        f->ku_bits = X509_get_key_usage(leaf);
    bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
    if (bc == NULL && crit != -1)
        return csa_raise(CSA_ERR_INVALID,
                         "certificate basicConstraints malformed or repeated");
    f->has_bc = bc != NULL;
    f->bc_ca = bc != NULL && bc->ca;
    BASIC_CONSTRAINTS_free(bc);
    return CSA_OK;
}

static csa_err facts_eku(X509 *leaf, pol_cert_facts *f)
{
    EXTENDED_KEY_USAGE *eku;
    char oid[128];
    csa_err err = CSA_OK;
    int crit = 0;

    f->eku_critical = ext_critical(leaf, NID_ext_key_usage, &f->has_eku);
    eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, &crit, NULL);
    if (eku == NULL)
        return crit == -1
                   ? CSA_OK
                   : csa_raise(CSA_ERR_INVALID, "certificate extendedKeyUsage "
                                                "malformed or repeated");
    for (int i = 0; err == CSA_OK && i < sk_ASN1_OBJECT_num(eku); i++) {
        int len =
            OBJ_obj2txt(oid, sizeof(oid), sk_ASN1_OBJECT_value(eku, i), 1);
        if (len <= 0 || (size_t)len >= sizeof(oid))
            err = csa_raise(CSA_ERR_INVALID, "certificate EKU OID unreadable");
        else
            err = push_str(&f->eku_oids, &f->n_eku, oid, (size_t)len);
    }
    EXTENDED_KEY_USAGE_free(eku);
    return err;
}

static csa_err facts_san(X509 *leaf, pol_cert_facts *f)
{
    GENERAL_NAMES *gens;
    csa_err err = CSA_OK;
    int crit = 0;

    gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL)
        return crit == -1 ? CSA_OK
                          : csa_raise(CSA_ERR_INVALID,
                                      "certificate subjectAltName malformed "
                                      "or repeated");
    for (int i = 0; err == CSA_OK && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_IA5STRING *s = g->d.ia5;

        if (g->type == GEN_DNS)
            err = push_str(&f->san_dns, &f->n_san_dns,
                           (const char *)ASN1_STRING_get0_data(s),
                           (size_t)ASN1_STRING_length(s));
        else if (g->type == GEN_EMAIL)
            err = push_str(&f->san_email, &f->n_san_email,
                           (const char *)ASN1_STRING_get0_data(s),
                           (size_t)ASN1_STRING_length(s));
        else
            f->n_san_other++;
    }
    GENERAL_NAMES_free(gens);
    return err;
}

/* The single value of attribute nid in name as UTF-8; more than one is an
 * error (which CN would a verifier look at?). */
static csa_err name_attr(const X509_NAME *name, int nid, char **out)
{
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    unsigned char *utf8 = NULL;
    csa_err err = CSA_OK;
    int len;

    if (idx < 0)
        return CSA_OK;
    if (X509_NAME_get_index_by_NID(name, nid, idx) >= 0)
        return csa_raise(CSA_ERR_INVALID, "certificate subject repeats %s",
                         OBJ_nid2sn(nid));
    len = ASN1_STRING_to_UTF8(
        &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    if (len < 0)
        return csa_raise(CSA_ERR_INVALID, "certificate subject %s unreadable",
                         OBJ_nid2sn(nid));
    if (memchr(utf8, '\0', (size_t)len) != NULL)
        err = csa_raise(CSA_ERR_INVALID, "certificate subject %s has a NUL",
                        OBJ_nid2sn(nid));
    else if ((*out = strndup((const char *)utf8, (size_t)len)) == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    OPENSSL_free(utf8);
    return err;
}

static csa_err facts_time(X509 *leaf, pol_cert_facts *f)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(X509_get0_notBefore(leaf), &tm) != 1)
        return csa_raise(CSA_ERR_INVALID, "certificate notBefore unreadable");
    f->not_before = timegm(&tm);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1)
        return csa_raise(CSA_ERR_INVALID, "certificate notAfter unreadable");
    f->not_after = timegm(&tm);
    return CSA_OK;
}

static csa_err facts_serial(X509 *leaf, pol_cert_facts *f)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;

    BN_free(bn);
    if (hex == NULL)
        return csa_raise(CSA_ERR_NOMEM, "certificate serial unreadable");
    f->serial_hex = strdup(hex);
    OPENSSL_free(hex);
    return f->serial_hex ? CSA_OK : csa_raise(CSA_ERR_NOMEM, "out of memory");
}

csa_err pol_cert_facts_from_x509(X509 *leaf, pol_cert_facts **out)
{
    pol_cert_facts *f = NULL;
    const X509_NAME *subj;
    csa_err err;

    *out = NULL;
    if (leaf == NULL)
        return csa_raise(CSA_ERR_INVALID, "no certificate");
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    subj = X509_get_subject_name(leaf);
    err = facts_key(leaf, f);
    if (err == CSA_OK)
        err = facts_ku_bc(leaf, f);
    if (err == CSA_OK)
        err = facts_eku(leaf, f);
    if (err == CSA_OK)
        err = facts_san(leaf, f);
    if (err == CSA_OK)
        err = name_attr(subj, NID_commonName, &f->cn);
    if (err == CSA_OK)
        err = name_attr(subj, NID_organizationName, &f->org);
    if (err == CSA_OK)
        err = facts_time(leaf, f);
    if (err == CSA_OK)
        err = facts_serial(leaf, f);
    if (err != CSA_OK) {
        pol_cert_facts_free(f);
        return err;
    }
    *out = f;
    return CSA_OK;
}
