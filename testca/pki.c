/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CA and TLS material, generated at first start into the state directory:
 *   root.pem / root-key.pem                  issuing root (P-384)
 *   intermediate.pem / intermediate-key.pem  issues end-entity certs (P-256)
 *   tls-root.pem / tls-root-key.pem          separate root for the HTTPS side
 *   tls-cert.pem / tls-key.pem               HTTPS leaf, IP:127.0.0.1,
 *                                            DNS:localhost
 *   tsa.pem / tsa-key.pem                    time-stamping (tsa.c), issued
 *                                            by the root (P-256)
 * Clients trust the HTTPS side through tls-root.pem (a CA bundle).
 */
#include "csca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static int add_ext(X509 *x, X509 *issuer, int nid, const char *val)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, val);
    if (ext == NULL)
        return -1;
    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static int set_serial(X509 *x)
{
    uint8_t b[16];
    BIGNUM *bn;
    int ok;

    if (RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    b[0] &= 0x7f; /* positive, 128 bits of randomness minus one */
    b[0] |= 0x40; /* and a fixed length of 16 bytes */
    bn = BN_bin2bn(b, sizeof(b), NULL);
    ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    return ok ? 0 : -1;
}

/* A certificate never outlives its issuer: RFC 5280 path validation would
 * reject it after the issuer expires anyway, so say so in the cert. */
static int cap_at_issuer(X509 *x, X509 *issuer)
{
    if (issuer == NULL || ASN1_TIME_compare(X509_get0_notAfter(x),
                                            X509_get0_notAfter(issuer)) <= 0)
        return 0;
    return X509_set1_notAfter(x, X509_get0_notAfter(issuer)) ? 0 : -1;
}

/* A CA, TLS or TSA certificate; issuer NULL for self-signed; eku and san
 * may be NULL.  Caller frees. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *ikey, long days, const char *bc,
                       const char *ku, const char *eku, const char *san)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();

    if (x == NULL || n == NULL)
        goto fail;
    X509_set_version(x, 2);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                               (const unsigned char *)"csca test CA", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    if (set_serial(x) != 0 || !X509_set_subject_name(x, n) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), days * 86400) ||
        cap_at_issuer(x, issuer) != 0 || !X509_set_pubkey(x, key))
        goto fail;
    if (add_ext(x, issuer, NID_basic_constraints, bc) ||
        add_ext(x, issuer, NID_key_usage, ku) ||
        (eku && add_ext(x, issuer, NID_ext_key_usage, eku)) ||
        add_ext(x, issuer, NID_subject_key_identifier, "hash") ||
        (issuer &&
         add_ext(x, issuer, NID_authority_key_identifier, "keyid:always")) ||
        (san && add_ext(x, issuer, NID_subject_alt_name, san)))
        goto fail;
    if (!X509_sign(x, ikey ? ikey : key, EVP_sha256()))
        goto fail;
    X509_NAME_free(n);
    return x;
fail:
    X509_NAME_free(n);
    X509_free(x);
    return NULL;
}

static char *path_in(const char *name)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s", CS.o.state_dir, name) < 0)
        return NULL;
    return p;
}

static char *pem_of_cert(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;

    if (b != NULL && PEM_write_bio_X509(b, x)) {
        n = BIO_get_mem_data(b, &data);
        out = strndup(data, (size_t)n);
    }
    BIO_free(b);
    return out;
}

static char *pem_of_key(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;

    if (b != NULL &&
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
        n = BIO_get_mem_data(b, &data);
        out = strndup(data, (size_t)n);
    }
    BIO_free(b);
    return out;
}

static int save_pair(const char *name, X509 *x, EVP_PKEY *k)
{
    char *cp = NULL, *kp = NULL, *c = pem_of_cert(x), *kk = pem_of_key(k);
    int rc = -1;

    if (asprintf(&cp, "%s/%s.pem", CS.o.state_dir, name) < 0)
        cp = NULL;
    if (asprintf(&kp, "%s/%s-key.pem", CS.o.state_dir, name) < 0)
        kp = NULL;
    if (cp && kp && c && kk && atomic_write(kp, kk, strlen(kk), 0600) == 0 &&
        atomic_write(cp, c, strlen(c), 0644) == 0)
        rc = 0;
    if (kk != NULL)
        OPENSSL_cleanse(kk, strlen(kk));
    free(cp);
    free(kp);
    free(c);
    free(kk);
    return rc;
}

static int load_pair(const char *name, X509 **x, EVP_PKEY **k)
{
    char *cp = NULL, *kp = NULL;
    FILE *f;

    *x = NULL;
    *k = NULL;
    if (asprintf(&cp, "%s/%s.pem", CS.o.state_dir, name) < 0 ||
        asprintf(&kp, "%s/%s-key.pem", CS.o.state_dir, name) < 0)
        return -1;
    if ((f = fopen(cp, "r")) != NULL) {
        *x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if ((f = fopen(kp, "r")) != NULL) {
        *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    free(cp);
    free(kp);
    return (*x && *k) ? 0 : -1;
}

static int generate_all(void)
{
    EVP_PKEY *rk = EVP_EC_gen("P-384"), *ik = EVP_EC_gen("P-256");
    EVP_PKEY *tk = EVP_EC_gen("P-256"), *lk = EVP_EC_gen("P-256");
    X509 *r = NULL, *i = NULL, *t = NULL, *l = NULL;
    int rc = -1;

    if (!rk || !ik || !tk || !lk)
        goto done;
    r = make_cert("csca root", rk, NULL, NULL, 3650, "critical,CA:TRUE",
                  "critical,keyCertSign,cRLSign", NULL, NULL);
    i = make_cert("csca intermediate", ik, r, rk, 1825,
                  "critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign",
                  NULL, NULL);
    t = make_cert("csca TLS root", tk, NULL, NULL, 3650, "critical,CA:TRUE",
                  "critical,keyCertSign,cRLSign", NULL, NULL);
    l = make_cert("localhost", lk, t, tk, 825, "critical,CA:FALSE",
                  "critical,digitalSignature", NULL,
                  "IP:127.0.0.1,DNS:localhost");
    if (r && i && t && l && save_pair("root", r, rk) == 0 &&
        save_pair("intermediate", i, ik) == 0 &&
        save_pair("tls-root", t, tk) == 0 && save_pair("tls", l, lk) == 0)
        rc = 0;
done:
    X509_free(r);
    X509_free(i);
    X509_free(t);
    X509_free(l);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(tk);
    EVP_PKEY_free(lk);
    return rc;
}

/* Load (generating on first start) everything the server needs. */
int pki_init(void)
{
    char *tls = path_in("tls.pem");
    struct stat st;
    EVP_PKEY *rk = NULL, *tk = NULL, *lk = NULL;
    X509 *l = NULL;
    int rc = -1;

    if (tls && stat(tls, &st) != 0 && generate_all() != 0) {
        fprintf(stderr, "csca: cannot generate CA material in %s\n",
                CS.o.state_dir);
        goto done;
    }
    if (load_pair("root", &CS.root, &rk) ||
        load_pair("intermediate", &CS.inter, &CS.inter_key) ||
        load_pair("tls-root", &CS.tls_root, &tk) || load_pair("tls", &l, &lk)) {
        fprintf(stderr, "csca: CA material in %s is unreadable\n",
                CS.o.state_dir);
        goto done;
    }
    CS.root_pem = pem_of_cert(CS.root);
    CS.inter_pem = pem_of_cert(CS.inter);
    CS.tls_cert_pem = pem_of_cert(l);
    CS.tls_key_pem = pem_of_key(lk);
    rc = CS.root_pem && CS.inter_pem && CS.tls_cert_pem && CS.tls_key_pem ? 0
                                                                          : -1;
done:
    free(tls);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(tk);
    EVP_PKEY_free(lk);
    X509_free(l);
    return rc;
}

/* The TSA's certificate (RFC 3161 §2.3): issued by the root, so that
 * `openssl ts -verify -CAfile root.pem` needs nothing else; the only EKU
 * is id-kp-timeStamping, critical, as §2.3 requires and as OpenSSL's
 * TS_RESP_CTX_set_signer_cert checks.  Ten years, capped by the root's
 * notAfter.  Generated at the first start that lacks tsa.pem (also for a
 * state directory made before csca had a TSA). */
static int generate_tsa(void)
{
    EVP_PKEY *rk = NULL, *k = EVP_EC_gen("P-256");
    X509 *r = NULL, *x = NULL;
    int rc = -1;

    if (k == NULL || load_pair("root", &r, &rk) != 0)
        goto done;
    x = make_cert("csca time-stamping", k, r, rk, 3650, "critical,CA:FALSE",
                  "critical,digitalSignature", "critical,timeStamping", NULL);
    if (x != NULL && save_pair("tsa", x, k) == 0)
        rc = 0;
done:
    X509_free(r);
    X509_free(x);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(k);
    return rc;
}

/* Load (generating when absent) tsa.pem / tsa-key.pem.  On success the
 * caller owns *x and *k. */
int pki_tsa_load(X509 **x, EVP_PKEY **k)
{
    char *p = path_in("tsa.pem");
    struct stat st;
    int rc = -1;

    *x = NULL;
    *k = NULL;
    if (p == NULL)
        return -1;
    if (stat(p, &st) != 0 && generate_tsa() != 0)
        fprintf(stderr, "csca: cannot generate the TSA certificate in %s\n",
                CS.o.state_dir);
    else if (load_pair("tsa", x, k) != 0) {
        fprintf(stderr, "csca: %s or tsa-key.pem is unreadable\n", p);
        X509_free(*x);
        EVP_PKEY_free(*k);
        *x = NULL;
        *k = NULL;
    } else
        rc = 0;
    free(p);
    return rc;
}
