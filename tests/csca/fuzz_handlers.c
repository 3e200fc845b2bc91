/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for csca's request handlers, driven in-process: csca_init()
 * sets csca up once in a temporary directory (registry, state, CA
 * material, management token, as `csca serve` does, but no port), then
 * every input becomes one request given to csca_dispatch(), the router
 * behind libmicrohttpd.
 *
 * Input: three parts split at the first two newlines.
 *   line 1  METHOD PATH[?certid=ID]
 *   line 2  headers "Name: value", separated by '|': Content-Type,
 *           Authorization, and X-Sign: kid|jwk, which makes the harness
 *           wrap the body as the payload of a valid ES256 JWS (fresh
 *           nonce, url of the request, signed with the key of the
 *           harness's account) so that mutations reach the handlers
 *           behind the signature check; without it the body goes as it is.
 *   rest    the body.
 * Placeholders in the path, the header values and the body name live
 * objects: $acct $order $authz $chall $cert (the newest id of each kind),
 * $hotp (the newest hotp-01 challenge), $certid (ARI CertID of the newest
 * certificate), $certder (its DER, base64url), $nonce (a fresh nonce),
 * $token (the management token), $jwk (the account's public key).
 *
 * The state is put back to the snapshot taken after set-up every
 * FZ_RESET_EVERY inputs, or sooner when it holds FZ_MAX_OBJECTS objects,
 * so it cannot grow without bound.  Everything csca writes stays in the
 * temporary directory (on /dev/shm when there is one: state.json is
 * fsync'd after each change), removed at exit.
 *
 * With clang (-fsanitize=fuzzer) this is a libFuzzer target; otherwise
 * main() runs the built-in seeds (checking that they reach issuance) and
 * a deterministic mutation loop over them (ctest, also under ASan/UBSan).
 * "seeds DIR" writes the seeds as files for a libFuzzer corpus.
 */
#include "csca.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

struct csca_ctx CS;

#define FZ_BASE "https://127.0.0.1:14000"
#define FZ_RESET_EVERY 256
#define FZ_MAX_OBJECTS 300

/* One organisation whose accounts need no EAB (--default-org); a factor of
 * alternatives so that dns-01 (valid on any answer, --always-valid) makes
 * orders ready while hotp-01 answers are still checked. */
static const char fz_registry[] =
    "{\"orgs\":[{\"name\":\"fuzz\",\"domains\":[\"fuzz.test\"],"
    "\"factors\":[[\"hotp-01\",\"dns-01\",\"http-01\"]],"
    "\"profiles\":[\"codesigning\",\"clientauth\"]}],"
    "\"eab\":[{\"kid\":\"kid-1\",\"org\":\"fuzz\","
    "\"hmac\":\"c2VjcmV0LWZ1enotZWFiLWtleS0zMi1ieXRlcyEhISE\"}],"
    "\"otp\":[{\"id\":\"hotp-1\",\"org\":\"fuzz\",\"type\":\"hotp\","
    "\"seed\":\"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\",\"digits\":6,"
    "\"algorithm\":\"SHA1\",\"counter\":0}]}\n";

static struct {
    bool ready;
    char dir[256];
    EVP_PKEY *key;    /* the account's key, P-256 */
    json_object *jwk; /* its public JWK */
    char *acct_url;   /* kid of the account */
    char token[600];  /* management token */
    json_object *snapshot;
    unsigned long inputs;
    unsigned long by_class[6]; /* responses by status / 100 */
} fz;

/* ---- set-up and reset ----------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fz_cleanup(void)
{
    if (fz.dir[0] != '\0')
        nftw(fz.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    fz.dir[0] = '\0';
}

static int fz_mkdir(void)
{
    const char *tmp = getenv("TMPDIR");
    struct stat st;

    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        tmp = "/dev/shm";
    snprintf(fz.dir, sizeof(fz.dir), "%s/csca-fuzz-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(fz.dir) == NULL) {
        fz.dir[0] = '\0';
        return -1;
    }
    atexit(fz_cleanup);
    return 0;
}

static int fz_write(const char *name, const char *text)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", fz.dir, name);
    return atomic_write(path, text, strlen(text), 0600);
}

static int fz_read_token(void)
{
    char *t = read_file(mgmt_token_path(), NULL);

    if (t == NULL)
        return -1;
    t[strcspn(t, "\n")] = '\0';
    snprintf(fz.token, sizeof(fz.token), "%s", t);
    free(t);
    return 0;
}

static int fz_make_key(void)
{
    uint8_t pub[65];
    size_t n = 0;
    char *x, *y;

    fz.key = EVP_EC_gen("P-256");
    if (fz.key == NULL ||
        !EVP_PKEY_get_octet_string_param(fz.key, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                         sizeof(pub), &n) ||
        n != 65)
        return -1;
    x = b64url_enc(pub + 1, 32);
    y = b64url_enc(pub + 33, 32);
    fz.jwk = json_object_new_object();
    json_object_object_add(fz.jwk, "kty", json_object_new_string("EC"));
    json_object_object_add(fz.jwk, "crv", json_object_new_string("P-256"));
    json_object_object_add(fz.jwk, "x", json_object_new_string(x));
    json_object_object_add(fz.jwk, "y", json_object_new_string(y));
    free(x);
    free(y);
    return 0;
}

static void fz_reset(void)
{
    json_object_put(CS.state);
    CS.state = NULL;
    json_object_deep_copy(fz.snapshot, &CS.state, NULL);
    CS.o.ari_past = false;
}

static size_t fz_objects(void)
{
    return (size_t)json_object_object_length(state_tab("accounts")) +
           (size_t)json_object_object_length(state_tab("orders")) +
           (size_t)json_object_object_length(state_tab("authzs")) +
           (size_t)json_object_object_length(state_tab("challs")) +
           (size_t)json_object_object_length(state_tab("certs"));
}

/* ---- seeds ---------------------------------------------------------- */

#define JOSE "Content-Type: application/jose+json"
#define KID JOSE "|X-Sign: kid\n"
/* CN=fuzz.test, P-256, extendedKeyUsage codeSigning, keyUsage
 * digitalSignature (openssl req ... -outform DER, base64url). */
#define FZ_CSR                                                                 \
    "MIIBBTCBrAIBADAUMRIwEAYDVQQDDAlmdXp6LnRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMB" \
    "BwNCAARb0cvxZ4BZ514_nDze1yFKr2Lf8xpC7SxDFCHHc4NEbf0j90LqpL_xZGK4nkGWVpVf" \
    "3iqdvj4krSQbKgvPGGs6oDYwNAYJKoZIhvcNAQkOMScwJTATBgNVHSUEDDAKBggrBgEFBQcD" \
    "AzAOBgNVHQ8BAf8EBAMCB4AwCgYIKoZIzj0EAwIDSAAwRQIhAIyfj0JDZ8_E7-eao5MhM3FZ" \
    "9gcuY7hU-WpYrhFFXVb-AiBG2cFs5scK4XBdb1tX1uwhGJoSOu_9mW353Pu-nigg0Q"

/* In order, the way a client goes; each one's status is checked once (0:
 * any).  The first FZ_FLOW run at set-up, so that the snapshot every reset
 * returns to holds an account, a certificate and a ready order for the
 * placeholders to name; main() runs the rest before its mutation loop. */
static const struct {
    const char *text;
    int want;
} fz_seeds[] = {
    {"GET /directory\n\n", 200},
    {"HEAD /new-nonce\n\n", 200},
    {"POST /new-account\n" JOSE "|X-Sign: jwk\n"
     "{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:a@fuzz.test\"]}",
     200},
    {"POST /acct/$acct\n" KID "{\"contact\":[\"mailto:b@fuzz.test\"]}", 200},
    {"POST /new-order\n" KID
     "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"fuzz.test\"}]}",
     201},
    {"POST /authz/$authz\n" KID, 200},
    {"POST /chall/$chall\n" KID "{}", 200},
    {"POST /order/$order\n" KID, 200},
    {"POST /order/$order/finalize\n" KID "{\"csr\":\"" FZ_CSR "\"}", 200},
    {"POST /cert/$cert\n" KID, 200},
    /* a second order left ready, for mutated finalize requests */
    {"POST /new-order\n" KID
     "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"fuzz.test\"}]}",
     201},
    {"POST /chall/$chall\n" KID "{}", 200},
    {"GET /renewal-info/$certid\n\n", 200},
    {"POST /acct/$acct/orders\n" KID, 200},
    {"POST /csca/ari-past?certid=$certid\nAuthorization: Bearer $token\n", 200},
    {"POST /revoke-cert\n" KID "{\"certificate\":\"$certder\",\"reason\":4}",
     200},
    {"POST /new-authz\n" KID
     "{\"identifier\":{\"type\":\"dns\",\"value\":\"fuzz.test\"}}",
     0},
    {"POST /chall/$hotp\n" KID "{\"otp\":\"123456\"}", 400},
    {"POST /authz/$authz\n" KID "{\"status\":\"deactivated\"}", 200},
    {"POST /key-change\n" KID
     "{\"protected\":\"e30\",\"payload\":\"e30\",\"signature\":\"AA\"}",
     400},
    {"POST /new-account\n" JOSE "\n"
     "{\"protected\":\"eyJhbGciOiJFUzI1NiIsIm5vbmNlIjoiQUFBQUFBQUFBQUFBQUFBQU"
     "FBQUFBQSIsInVybCI6Imh0dHBzOi8vMTI3LjAuMC4xOjE0MDAwL25ldy1hY2NvdW50Iiwi"
     "andrIjp7Imt0eSI6IkVDIiwiY3J2IjoiUC0yNTYiLCJ4IjoiQUFBQSIsInkiOiJBQUFBIn"
     "19\",\"payload\":\"e30\",\"signature\":\"AAAA\"}",
     400},
    {"GET /csca/stats\nAuthorization: Bearer $token\n", 200},
    {"POST /csca/registry/reload\nAuthorization: Bearer $token\n", 200},
    {"GET /order/$order\n\n", 405},
};
#define FZ_SEEDS (sizeof(fz_seeds) / sizeof(fz_seeds[0]))
#define FZ_FLOW 12 /* directory .. certificate, and a ready order */

static int fz_request(const char *text, size_t len, int *status);

/* Seeds [from, to) once, in order: the flow must reach issuance and
 * revocation, or the mutations would only ever meet the front door. */
static int fz_run_seeds(size_t from, size_t to)
{
    size_t i;
    int status, bad = 0;

    for (i = from; i < to; i++) {
        const char *t = fz_seeds[i].text;
        if (fz_request(t, strlen(t), &status) != 0 ||
            (fz_seeds[i].want != 0 && status != fz_seeds[i].want)) {
            fprintf(stderr, "fuzz_handlers: seed %zu: %d, want %d\n", i, status,
                    fz_seeds[i].want);
            bad = 1;
        }
    }
    return bad;
}

static int fz_setup(void)
{
    static const char new_account[] =
        "POST /new-account\nContent-Type: application/jose+json|X-Sign: jwk\n"
        "{\"termsOfServiceAgreed\":true}";
    int status = 0;

    if (fz_mkdir() != 0 || fz_write("registry.json", fz_registry) != 0)
        return -1;
    CS.o.state_dir = fz.dir;
    CS.o.default_org = "fuzz";
    CS.o.always_valid = true;
    CS.o.validity = 90L * 86400;
    CS.o.otp_rate = 50;
    if (csca_init() != 0 || fz_read_token() != 0 || fz_make_key() != 0)
        return -1;
    fz.ready = true;
    if (fz_request(new_account, sizeof(new_account) - 1, &status) != 0 ||
        status != 201 || fz.acct_url == NULL || fz_run_seeds(0, FZ_FLOW) != 0)
        return -1;
    json_object_deep_copy(CS.state, &fz.snapshot, NULL);
    /* from here on the state lives in memory only: the handlers are what
     * is fuzzed, not the writing of state.json after each of them */
    CS.o.memory_only = true;
    return fz.snapshot ? 0 : -1;
}

/* ---- building the request ------------------------------------------- */

/* Newest id of a state table ("none" when empty), of the given type when
 * type is not NULL; borrowed. */
static const char *fz_newest_of(const char *table, const char *type,
                                json_object **obj)
{
    const char *id = "none";

    *obj = NULL;
    json_object_object_foreach(state_tab(table), k, v)
    {
        if (type != NULL && (!jstr(v, "type") || strcmp(jstr(v, "type"), type)))
            continue;
        id = k;
        *obj = v;
    }
    return id;
}

static const char *fz_newest(const char *table, json_object **obj)
{
    return fz_newest_of(table, NULL, obj);
}

static char *fz_cert_der(json_object *cert)
{
    const char *pem = jstr(cert, "pem");
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int n = x ? i2d_X509(x, &der) : -1;
    char *out = n > 0 ? b64url_enc(der, (size_t)n) : strdup("none");

    OPENSSL_free(der);
    X509_free(x);
    BIO_free(b);
    return out;
}

/* The value of a placeholder at s (n bytes left), its length in *plen;
 * NULL when s starts none.  Returned string is the caller's. */
static char *fz_placeholder(const char *s, size_t n, size_t *plen)
{
    static const char *const tabs[][2] = {{"$acct", "accounts"},
                                          {"$order", "orders"},
                                          {"$authz", "authzs"},
                                          {"$chall", "challs"},
                                          {"$cert", "certs"}};
    json_object *o;
    size_t i;

#define FZ_IS(p) (n >= (*plen = strlen(p)) && memcmp(s, p, *plen) == 0)
    if (FZ_IS("$certder"))
        return fz_newest("certs", &o), fz_cert_der(o);
    if (FZ_IS("$certid"))
        return fz_newest("certs", &o),
               strdup(jstr(o, "certid") ? jstr(o, "certid") : "none");
    if (FZ_IS("$hotp"))
        return strdup(fz_newest_of("challs", "hotp-01", &o));
    if (FZ_IS("$nonce"))
        return nonce_new();
    if (FZ_IS("$token"))
        return strdup(fz.token);
    if (FZ_IS("$jwk"))
        return strdup(
            json_object_to_json_string_ext(fz.jwk, JSON_C_TO_STRING_PLAIN));
    for (i = 0; i < sizeof(tabs) / sizeof(tabs[0]); i++)
        if (FZ_IS(tabs[i][0]))
            return strdup(fz_newest(tabs[i][1], &o));
#undef FZ_IS
    return NULL;
}

/* in with placeholders replaced; NUL-terminated, length in *outlen.  The
 * caller frees. */
static char *fz_expand(const char *in, size_t len, size_t *outlen)
{
    size_t cap = len + 1, n = 0, i = 0, plen;
    char *out = malloc(cap), *v;

    while (out != NULL && i < len) {
        v = in[i] == '$' ? fz_placeholder(in + i, len - i, &plen) : NULL;
        size_t add = v ? strlen(v) : 1;
        if (n + add + 1 > cap) {
            char *nb = realloc(out, cap = 2 * (n + add + 1));
            if (nb == NULL) {
                free(out);
                out = NULL;
                free(v);
                break;
            }
            out = nb;
        }
        memcpy(out + n, v ? v : in + i, add);
        n += add;
        i += v ? plen : 1;
        free(v);
    }
    if (out != NULL)
        out[n] = '\0';
    *outlen = n;
    return out;
}

/* ES256: the raw r||s of RFC 7518 §3.4, base64url; caller frees. */
static char *fz_sign(const char *input)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80], raw[64];
    const uint8_t *p = der;
    size_t n = sizeof(der);
    ECDSA_SIG *sig = NULL;
    char *out = NULL;

    if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, fz.key) == 1 &&
        EVP_DigestSign(md, der, &n, (const uint8_t *)input, strlen(input)) ==
            1 &&
        (sig = d2i_ECDSA_SIG(NULL, &p, (long)n)) != NULL &&
        BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) == 32 &&
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) == 32)
        out = b64url_enc(raw, sizeof(raw));
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    return out;
}

/* A flattened JWS (RFC 7515 §7.2.2) of payload for url; caller frees. */
static char *fz_jws(const char *url, bool kid, const char *payload, size_t plen)
{
    json_object *prot = json_object_new_object(), *jws;
    char *nonce = nonce_new(), *pb, *yb, *input = NULL, *sig = NULL, *out;
    const char *ptext;

    json_object_object_add(prot, "alg", json_object_new_string("ES256"));
    json_object_object_add(prot, "nonce", json_object_new_string(nonce));
    json_object_object_add(prot, "url", json_object_new_string(url));
    if (kid)
        json_object_object_add(prot, "kid",
                               json_object_new_string(fz.acct_url));
    else
        json_object_object_add(prot, "jwk", json_object_get(fz.jwk));
    ptext = json_object_to_json_string_ext(prot, JSON_C_TO_STRING_PLAIN);
    pb = b64url_enc((const uint8_t *)ptext, strlen(ptext));
    yb = b64url_enc((const uint8_t *)payload, plen);
    if (pb && yb && asprintf(&input, "%s.%s", pb, yb) >= 0)
        sig = fz_sign(input);
    jws = json_object_new_object();
    json_object_object_add(jws, "protected", json_object_new_string(pb));
    json_object_object_add(jws, "payload", json_object_new_string(yb));
    json_object_object_add(jws, "signature", json_object_new_string(sig));
    out = strdup(json_object_to_json_string_ext(jws, JSON_C_TO_STRING_PLAIN));
    json_object_put(prot);
    json_object_put(jws);
    free(nonce);
    free(pb);
    free(yb);
    free(input);
    free(sig);
    return out;
}

struct fz_req {
    char *method, *path, *certid, *ctype, *auth, *body;
    size_t len;
    int sign; /* 0 none, 1 kid, 2 jwk */
};

static void fz_req_free(struct fz_req *r)
{
    free(r->method);
    free(r->path);
    free(r->certid);
    free(r->ctype);
    free(r->auth);
    free(r->body);
}

/* "Name: value|Name: value"; unknown names are ignored. */
static void fz_headers(struct fz_req *r, const char *h, size_t len)
{
    while (len > 0) {
        const char *end = memchr(h, '|', len), *colon;
        size_t n = end ? (size_t)(end - h) : len, vl;
        colon = memchr(h, ':', n);
        if (colon != NULL) {
            const char *v = colon + 1;
            size_t nl = (size_t)(colon - h);
            while (v < h + n && *v == ' ')
                v++;
            vl = (size_t)(h + n - v);
            if (nl == 12 && strncasecmp(h, "Content-Type", nl) == 0) {
                free(r->ctype);
                r->ctype = fz_expand(v, vl, &vl);
            } else if (nl == 13 && strncasecmp(h, "Authorization", nl) == 0) {
                free(r->auth);
                r->auth = fz_expand(v, vl, &vl);
            } else if (nl == 6 && strncasecmp(h, "X-Sign", nl) == 0) {
                r->sign = vl >= 3 && !memcmp(v, "kid", 3)   ? 1
                          : vl >= 3 && !memcmp(v, "jwk", 3) ? 2
                                                            : 0;
            }
        }
        h += n + (end ? 1 : 0);
        len -= n + (end ? 1 : 0);
    }
}

/* Line 1: method and path, the path split at "?certid=" as MHD would. */
static void fz_request_line(struct fz_req *r, const char *l, size_t len)
{
    const char *sp = memchr(l, ' ', len), *q;
    size_t ml = sp ? (size_t)(sp - l) : len, pl;

    r->method = strndup(l, ml);
    r->path = sp ? fz_expand(sp + 1, len - ml - 1, &pl) : strdup("/");
    if (r->path != NULL && (q = strchr(r->path, '?')) != NULL) {
        const char *c = strstr(q, "certid=");
        if (c != NULL)
            r->certid = strdup(c + 7);
        r->path[q - r->path] = '\0';
    }
}

static int fz_parse(struct fz_req *r, const char *text, size_t len)
{
    const char *nl1 = memchr(text, '\n', len), *nl2, *body;
    size_t l1 = nl1 ? (size_t)(nl1 - text) : len;

    memset(r, 0, sizeof(*r));
    fz_request_line(r, text, l1);
    nl2 = nl1 ? memchr(nl1 + 1, '\n', len - l1 - 1) : NULL;
    if (nl1 != NULL)
        fz_headers(r, nl1 + 1, nl2 ? (size_t)(nl2 - nl1 - 1) : len - l1 - 1);
    body = nl2 ? nl2 + 1 : text + len;
    r->body = fz_expand(body, (size_t)(text + len - body), &r->len);
    if (r->method == NULL || r->path == NULL || r->body == NULL)
        return -1;
    if (r->sign != 0) {
        char url[1200], *jws;
        snprintf(url, sizeof(url), "%s%s", FZ_BASE, r->path);
        jws = fz_jws(url, r->sign == 1, r->body, r->len);
        if (jws == NULL)
            return -1;
        free(r->body);
        r->body = jws;
        r->len = strlen(jws);
    }
    return 0;
}

/* ---- one request ----------------------------------------------------- */

/* A JSON response must parse: a client reads every one of them. */
static void fz_check(const struct resp *rs)
{
    json_object *o;

    if (rs->status < 100 || rs->status > 599) {
        fprintf(stderr, "fuzz_handlers: status %d\n", rs->status);
        abort();
    }
    if (rs->ctype == NULL || strstr(rs->ctype, "json") == NULL)
        return;
    o = rs->body ? json_tokener_parse(rs->body) : NULL;
    if (o == NULL) {
        fprintf(stderr, "fuzz_handlers: %d %s is not JSON: %s\n", rs->status,
                rs->ctype, rs->body ? rs->body : "(no body)");
        abort();
    }
    json_object_put(o);
}

static int fz_request(const char *text, size_t len, int *status)
{
    struct fz_req r;
    struct req rq = {.base = FZ_BASE};
    struct resp rs = {.retry_after = -1};
    size_t pre = strlen(FZ_BASE "/acct/");

    if (fz_parse(&r, text, len) != 0) {
        fz_req_free(&r);
        return -1;
    }
    rq.method = r.method;
    rq.path = r.path;
    rq.query_certid = r.certid;
    rq.authorization = r.auth;
    rq.ctype = r.ctype;
    rq.body = (const uint8_t *)r.body;
    rq.len = r.len;
    csca_dispatch(&rq, &rs, r.len > CSCA_MAX_BODY);
    if (rs.status == 0) /* as answer() does */
        resp_problem(&rs, 500, "serverInternal", "handler set no response");
    fz_check(&rs);
    if (fz.acct_url == NULL && rs.location &&
        strncmp(rs.location, FZ_BASE "/acct/", pre) == 0)
        fz.acct_url = strdup(rs.location);
    *status = rs.status;
    fz.by_class[rs.status / 100]++;
    resp_free(&rs);
    fz_req_free(&r);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int status;

    if (!fz.ready && fz_setup() != 0) {
        fprintf(stderr, "fuzz_handlers: cannot set csca up in %s\n", fz.dir);
        abort();
    }
    if (++fz.inputs % FZ_RESET_EVERY == 0 || fz_objects() > FZ_MAX_OBJECTS)
        fz_reset();
    fz_request((const char *)data, size, &status);
    return 0;
}

#ifdef CSCA_LIBFUZZER
/* libFuzzer reads its flags after this.  The harness keeps csca's state
 * across inputs on purpose, so nearly every input allocates more than it
 * frees and libFuzzer's per-input leak check would run a LeakSanitizer
 * scan after each (about 40 times slower).  -detect_leaks=0 goes first, so
 * a -detect_leaks=1 on the command line still wins; LeakSanitizer still
 * checks at exit, and the mutation loop under ctest checks too. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char flag[] = "-detect_leaks=0";
    char **nv = calloc((size_t)*argc + 2, sizeof(*nv));

    if (nv == NULL)
        return 0;
    nv[0] = (*argv)[0];
    nv[1] = flag;
    memcpy(nv + 2, *argv + 1, (size_t)(*argc - 1) * sizeof(*nv));
    *argv = nv;
    (*argc)++;
    return 0;
}
#else
/* ---- the mutation loop ---------------------------------------------- */

/* Fragments a mutation may splice in: JSON shapes and the placeholders. */
static const char *const fz_dict[] = {
    "$acct",   "$order",   "$authz", "$chall", "$hotp",   "$cert",
    "$certid", "$certder", "$nonce", "$jwk",   "null",    "[]",
    "{}",      "\"",       "-1",     "1e999",  "\\u0000", "/",
    "\n",      "|",        "%00",    "..",
};

static int fz_write_seeds(const char *dir)
{
    size_t i;

    for (i = 0; i < FZ_SEEDS; i++) {
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/seed-%02zu", dir, i);
        if ((f = fopen(path, "wb")) == NULL)
            return 1;
        fwrite(fz_seeds[i].text, 1, strlen(fz_seeds[i].text), f);
        fclose(f);
    }
    return 0;
}

static unsigned fz_rand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

static size_t fz_mutate(char *buf, size_t len, size_t cap, unsigned *seed)
{
    unsigned r = fz_rand(seed), at = len ? fz_rand(seed) % len : 0;
    const char *d;
    size_t n;

    switch (r % 5) {
    case 0: /* set a byte */
        if (len > 0)
            buf[at] = (char)(fz_rand(seed) & 0xff);
        return len;
    case 1: /* truncate */
        return len > 0 ? 1 + at : 0;
    case 2: /* delete a slice */
        n = fz_rand(seed) % 8;
        n = at + n > len ? len - at : n;
        memmove(buf + at, buf + at + n, len - at - n);
        return len - n;
    case 3: /* splice in a dictionary word */
        d = fz_dict[fz_rand(seed) % (sizeof(fz_dict) / sizeof(fz_dict[0]))];
        n = strlen(d);
        if (len + n > cap)
            return len;
        memmove(buf + at + n, buf + at, len - at);
        memcpy(buf + at, d, n);
        return len + n;
    default: /* duplicate a slice */
        n = len - at < cap - len ? len - at : cap - len;
        memmove(buf + len, buf + at, n);
        return len + n;
    }
}

int main(int argc, char **argv)
{
    unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000, it;
    unsigned seed = 12345, k;
    char buf[8192];

    if (argc > 2 && strcmp(argv[1], "seeds") == 0)
        return fz_write_seeds(argv[2]);
    if (fz_setup() != 0) {
        fprintf(stderr, "fuzz_handlers: cannot set csca up\n");
        return 1;
    }
    if (fz_run_seeds(FZ_FLOW, FZ_SEEDS) != 0)
        return 1;
    for (it = 0; it < iters; it++) {
        const char *t = fz_seeds[it % FZ_SEEDS].text;
        size_t len = strlen(t);

        memcpy(buf, t, len);
        for (k = 0; k < 1 + it % 4; k++)
            len = fz_mutate(buf, len, sizeof(buf), &seed);
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    }
    printf("%lu mutated requests dispatched (2xx %lu, 4xx %lu, 5xx %lu); "
           "state reset %lu times\n",
           iters, fz.by_class[2], fz.by_class[4], fz.by_class[5],
           fz.inputs / FZ_RESET_EVERY);
    return 0;
}
#endif
