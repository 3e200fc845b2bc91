/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 3161 time-stamp authority: POST /tsa on the HTTPS listener and, with
 * --tsa-port, on a plain-HTTP listener (http.c).  The protocol work is
 * OpenSSL's TS_RESP_CTX: it parses the TimeStampReq, checks version,
 * digest algorithm, digest length, policy and extensions, and signs the
 * TSTInfo; this file configures it, hands out serial numbers and turns
 * the reply into bytes and a log line.
 *
 * Files in the state directory: tsa.pem / tsa-key.pem (pki.c) and
 * tsa-serial, the last serial number handed out (decimal), advanced with
 * atomic_write before a reply carrying it leaves, so a restart or a crash
 * never repeats a serial (RFC 3161 §2.4.2: unique per TSA).
 *
 * One TS_RESP_CTX serves every request: TS_RESP_create_response resets
 * its per-request part on entry and exit.  http.c serialises requests
 * from both listeners, so the context and the counter need no lock here.
 */
#include "csca.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ts.h>

static struct {
    X509 *cert;
    EVP_PKEY *key;
    ASN1_OBJECT *policy;
    TS_RESP_CTX *ctx;
    char *serial_path;
    uint64_t serial; /* last serial handed out (0: none yet) */
} T;

/* Message imprint algorithms a query may use (RFC 3161 §2.4.1); anything
 * else, SHA-1 and MD5 included, gets badAlg from OpenSSL's check. */
static const EVP_MD *(*const tsa_digests[])(void) = {EVP_sha256, EVP_sha384,
                                                     EVP_sha512};

/* PKIFailureInfo bits (RFC 3161 §2.4.2) by name, for the log. */
static const struct {
    int bit;
    const char *name;
} fail_names[] = {
    {TS_INFO_BAD_ALG, "badAlg"},
    {TS_INFO_BAD_REQUEST, "badRequest"},
    {TS_INFO_BAD_DATA_FORMAT, "badDataFormat"},
    {TS_INFO_TIME_NOT_AVAILABLE, "timeNotAvailable"},
    {TS_INFO_UNACCEPTED_POLICY, "unacceptedPolicy"},
    {TS_INFO_UNACCEPTED_EXTENSION, "unacceptedExtension"},
    {TS_INFO_ADD_INFO_NOT_AVAILABLE, "addInfoNotAvailable"},
    {TS_INFO_SYSTEM_FAILURE, "systemFailure"},
};

/* PKIStatus values (RFC 3161 §2.4.2) by value. */
static const char *const status_names[] = {
    "granted", "grantedWithMods",   "rejection",
    "waiting", "revocationWarning", "revocationNotification"};

/* tsa-serial: absent means no serial handed out yet; anything but one
 * decimal number (and a newline) stops the start, since guessing could
 * repeat a serial. */
static int serial_load(void)
{
    char *text, *end;
    unsigned long long v;

    if (asprintf(&T.serial_path, "%s/tsa-serial", CS.o.state_dir) < 0) {
        T.serial_path = NULL;
        return -1;
    }
    errno = 0;
    text = read_file(T.serial_path, NULL);
    if (text == NULL) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "csca: cannot read %s: %s\n", T.serial_path,
                strerror(errno));
        return -1;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || text[0] < '0' || text[0] > '9' ||
        (*end != '\0' && strcmp(end, "\n") != 0)) {
        fprintf(stderr, "csca: %s does not hold one serial number\n",
                T.serial_path);
        free(text);
        return -1;
    }
    T.serial = v;
    free(text);
    return 0;
}

/* TS_serial_cb: the next serial, persisted before OpenSSL puts it into
 * the TSTInfo.  A serial whose reply then fails is lost, never reused. */
static ASN1_INTEGER *next_serial(TS_RESP_CTX *ctx, void *data)
{
    uint64_t n = T.serial + 1;
    ASN1_INTEGER *s = NULL;
    char buf[32];

    (void)data;
    snprintf(buf, sizeof(buf), "%" PRIu64 "\n", n);
    if (n == 0 || atomic_write(T.serial_path, buf, strlen(buf), 0600) != 0) {
        fprintf(stderr, "csca: cannot advance %s: %s\n", T.serial_path,
                strerror(errno));
        goto fail;
    }
    T.serial = n;
    s = ASN1_INTEGER_new();
    if (s != NULL && ASN1_INTEGER_set_uint64(s, n))
        return s;
    ASN1_INTEGER_free(s);
fail:
    TS_RESP_CTX_set_status_info(ctx, TS_STATUS_REJECTION,
                                "Error during serial number generation.");
    TS_RESP_CTX_add_failure_info(ctx, TS_INFO_SYSTEM_FAILURE);
    return NULL;
}

/* The response context: signer (the checks in set_signer_cert refuse a
 * certificate without the critical timeStamping-only EKU), SHA-256 for
 * the signature and the ESSCertIDv2, the default policy (a query naming
 * another gets unacceptedPolicy), accuracy 1 s, ordering false (the
 * default), nonce echoed (always, by OpenSSL). */
static TS_RESP_CTX *ctx_new(void)
{
    TS_RESP_CTX *c = TS_RESP_CTX_new();
    size_t i;

    if (c == NULL || !TS_RESP_CTX_set_signer_cert(c, T.cert) ||
        !TS_RESP_CTX_set_signer_key(c, T.key) ||
        !TS_RESP_CTX_set_signer_digest(c, EVP_sha256()) ||
        !TS_RESP_CTX_set_ess_cert_id_digest(c, EVP_sha256()) ||
        !TS_RESP_CTX_set_def_policy(c, T.policy) ||
        !TS_RESP_CTX_set_accuracy(c, 1, 0, 0))
        goto fail;
    for (i = 0; i < sizeof(tsa_digests) / sizeof(tsa_digests[0]); i++)
        if (!TS_RESP_CTX_add_md(c, tsa_digests[i]()))
            goto fail;
    TS_RESP_CTX_set_serial_cb(c, next_serial, NULL);
    return c;
fail:
    TS_RESP_CTX_free(c);
    return NULL;
}

int tsa_init(void)
{
    const char *oid = CS.o.tsa_policy ? CS.o.tsa_policy : CSCA_TSA_POLICY;

    if (pki_tsa_load(&T.cert, &T.key) != 0 || serial_load() != 0)
        return -1;
    if ((T.policy = OBJ_txt2obj(oid, 1)) == NULL) {
        fprintf(stderr, "csca: TSA policy %s is not a dotted OID\n", oid);
        return -1;
    }
    if ((T.ctx = ctx_new()) == NULL) {
        fprintf(stderr,
                "csca: cannot set up the TSA with %s/tsa.pem (its only "
                "extendedKeyUsage must be timeStamping, critical)\n",
                CS.o.state_dir);
        return -1;
    }
    return 0;
}

void tsa_free(void)
{
    TS_RESP_CTX_free(T.ctx);
    ASN1_OBJECT_free(T.policy);
    X509_free(T.cert);
    EVP_PKEY_free(T.key);
    free(T.serial_path);
    memset(&T, 0, sizeof(T));
}

/* "granted serial N", or the status and the failInfo names. */
static void describe(TS_RESP *r, char *buf, size_t len)
{
    TS_STATUS_INFO *si = TS_RESP_get_status_info(r);
    const ASN1_BIT_STRING *fi = TS_STATUS_INFO_get0_failure_info(si);
    TS_TST_INFO *tst = TS_RESP_get_tst_info(r);
    long st = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));
    uint64_t serial = 0;
    size_t i, off;

    if (st >= 0 && st <= TS_STATUS_GRANTED_WITH_MODS && tst != NULL &&
        ASN1_INTEGER_get_uint64(&serial, TS_TST_INFO_get_serial(tst))) {
        snprintf(buf, len, "%s serial %" PRIu64, status_names[st], serial);
        return;
    }
    snprintf(buf, len, "%s",
             st >= 0 && st <= TS_STATUS_REVOCATION_NOTIFICATION
                 ? status_names[st]
                 : "status?");
    for (i = 0; i < sizeof(fail_names) / sizeof(fail_names[0]); i++) {
        off = strlen(buf);
        if (fi != NULL && ASN1_BIT_STRING_get_bit(fi, fail_names[i].bit))
            snprintf(buf + off, len - off, " %s", fail_names[i].name);
    }
}

/* OpenSSL reads one DER object from the BIO and ignores what follows it;
 * a query with trailing bytes is not one TimeStampReq, so it is given no
 * input at all, which OpenSSL answers with rejection/badDataFormat. */
static bool one_req(const unsigned char *q, size_t n)
{
    const unsigned char *p = q;
    TS_REQ *r;

    if (n == 0 || n > LONG_MAX)
        return false;
    r = d2i_TS_REQ(NULL, &p, (long)n);
    TS_REQ_free(r);
    return r != NULL && p == q + n;
}

int csca_tsa_respond(const unsigned char *q, size_t n, unsigned char **out,
                     size_t *outlen, char *outcome, size_t outcomelen)
{
    bool whole = n <= INT_MAX && one_req(q, n);
    BIO *in = BIO_new_mem_buf(whole ? q : (const unsigned char *)"",
                              whole ? (int)n : 0);
    TS_RESP *r = NULL;
    unsigned char *der = NULL;
    int len;
    int rc = -1;

    *out = NULL;
    *outlen = 0;
    if (T.ctx == NULL || in == NULL)
        goto done;
    if ((r = TS_RESP_create_response(T.ctx, in)) == NULL)
        goto done;
    if ((len = i2d_TS_RESP(r, &der)) <= 0 ||
        (*out = malloc((size_t)len + 1)) == NULL)
        goto done;
    memcpy(*out, der, (size_t)len);
    (*out)[len] = '\0'; /* for code that treats bodies as strings */
    *outlen = (size_t)len;
    if (outcome != NULL)
        describe(r, outcome, outcomelen);
    rc = 0;
done:
    OPENSSL_free(der);
    TS_RESP_free(r);
    BIO_free(in);
    return rc;
}

/* "type/subtype" with optional parameters, case-insensitive. */
static bool media_type_is(const char *ctype, const char *want)
{
    size_t l = strlen(want);

    return ctype != NULL && strncasecmp(ctype, want, l) == 0 &&
           (ctype[l] == '\0' || ctype[l] == ';' || ctype[l] == ' ' ||
            ctype[l] == '\t');
}

static void tsa_text(struct resp *rs, int status, const char *ptype,
                     const char *text)
{
    rs->status = status;
    rs->body = strdup(text);
    rs->ctype = "text/plain";
    rs->ptype = ptype;
}

/* RFC 3161 §3.4: the query and the reply travel as
 * application/timestamp-query and application/timestamp-reply.  A
 * rejection is still a 200: its status is inside the signed reply. */
void h_tsa(const struct req *rq, struct resp *rs)
{
    static char outcome[128]; /* one handler at a time (http.c) */
    unsigned char *der;
    size_t n;

    if (strcmp(rq->method, "POST") != 0) {
        tsa_text(rs, 405, "methodNotAllowed",
                 "POST an application/timestamp-query here\n");
        return;
    }
    if (!media_type_is(rq->ctype, "application/timestamp-query")) {
        tsa_text(rs, 415, "unsupportedMediaType",
                 "Content-Type must be application/timestamp-query\n");
        return;
    }
    if (csca_tsa_respond(rq->body, rq->len, &der, &n, outcome,
                         sizeof(outcome)) != 0) {
        tsa_text(rs, 500, "systemFailure", "no time-stamp reply was made\n");
        return;
    }
    rs->status = 200;
    rs->body = (char *)der;
    rs->len = n;
    rs->ctype = "application/timestamp-reply";
    rs->ptype = outcome;
}
