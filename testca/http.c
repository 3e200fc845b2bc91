/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTPS front end on libmicrohttpd (GnuTLS inside MHD terminates TLS).
 * Listens on 127.0.0.1 only; with --tsa-port a second, plain-HTTP daemon
 * on 127.0.0.1 answers POST /tsa and nothing else (signing tools speak
 * plain HTTP to a TSA; the reply is signed anyway).  Each daemon has one
 * internal polling thread; answer() holds one mutex around the handler,
 * so handlers still run one at a time and the state needs no other lock. Bodies
 * are bounded to CSCA_MAX_BODY; every request is logged (method, path, status,
 * problem type) and counted for GET /csca/stats.  The management endpoints
 * under /csca/ answer only requests that carry mgmt.c's bearer token.
 */
#include "csca.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

struct body {
    char *buf;
    size_t len;
    bool too_big;
};

static unsigned bound_port;
static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;

/* What a daemon's requests are told about where they came in. */
struct listener {
    bool plain;
};
static struct listener https_listener = {.plain = false};
static struct listener tsa_listener = {.plain = true};

char *url_of(const struct req *rq, const char *fmt, ...)
{
    char path[512], *out = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    if (asprintf(&out, "%s%s", rq->base, path) < 0)
        return NULL;
    return out;
}

/* Frees what a handler allocated in rs (not rs itself). */
void resp_free(struct resp *rs)
{
    free(rs->body);
    free(rs->location);
    free(rs->link_up);
    rs->body = rs->location = rs->link_up = NULL;
}

void resp_json(struct resp *rs, int status, json_object *obj)
{
    rs->status = status;
    free(rs->body);
    rs->body = strdup(json_object_to_json_string_ext(
        obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    rs->ctype = "application/json";
    json_object_put(obj);
}

/* Consumes prob.  rs->ptype points at a static copy of the short type
 * (one handler thread, so one buffer is enough). */
void resp_problem_obj(struct resp *rs, int status, json_object *prob)
{
    static char ptype[64];
    const char *t = jstr(prob, "type");
    size_t pre = strlen("urn:ietf:params:acme:error:");

    snprintf(ptype, sizeof(ptype), "%s", t && strlen(t) > pre ? t + pre : "?");
    json_object_object_add(prob, "status", json_object_new_int(status));
    resp_json(rs, status, prob);
    rs->ctype = "application/problem+json";
    rs->ptype = ptype;
}

/* type is the suffix after urn:ietf:params:acme:error: */
void resp_problem(struct resp *rs, int status, const char *type,
                  const char *fmt, ...)
{
    json_object *p = json_object_new_object();
    char detail[1024], full[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(full, sizeof(full), "urn:ietf:params:acme:error:%s", type);
    json_object_object_add(p, "type", json_object_new_string(full));
    json_object_object_add(p, "detail", json_object_new_string(detail));
    resp_problem_obj(rs, status, p);
}

static void h_directory(const struct req *rq, struct resp *rs)
{
    json_object *d = json_object_new_object(), *m = json_object_new_object();
    json_object *caa = json_object_new_array();
    static const char *const eps[][2] = {
        {"newNonce", "/new-nonce"},      {"newAccount", "/new-account"},
        {"newOrder", "/new-order"},      {"newAuthz", "/new-authz"},
        {"revokeCert", "/revoke-cert"},  {"keyChange", "/key-change"},
        {"renewalInfo", "/renewal-info"}};
    size_t i;

    for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
        char *u = url_of(rq, "%s", eps[i][1]);
        json_object_object_add(d, eps[i][0], json_object_new_string(u));
        free(u);
    }
    char *tos = url_of(rq, "/terms");
    json_object_object_add(m, "termsOfService", json_object_new_string(tos));
    free(tos);
    json_object_object_add(m, "externalAccountRequired",
                           json_object_new_boolean(CS.o.require_eab));
    json_object_array_add(caa, json_object_new_string("csca.test"));
    json_object_object_add(m, "caaIdentities", caa);
    json_object_object_add(d, "meta", m);
    resp_json(rs, 200, d);
}

/* Counters so far (this request is counted after it is answered); {}
 * before the first one. */
static void h_stats(struct resp *rs)
{
    resp_json(rs, 200,
              CS.stats ? json_object_get(CS.stats) : json_object_new_object());
}

static void count(const char *endpoint, int status)
{
    json_object *by, *n;
    char code[8];

    if (CS.stats == NULL)
        CS.stats = json_object_new_object();
    snprintf(code, sizeof(code), "%d", status);
    const char *keys[2][2] = {{"by_endpoint", endpoint}, {"by_status", code}};
    for (int i = 0; i < 2; i++) {
        if (!json_object_object_get_ex(CS.stats, keys[i][0], &by)) {
            by = json_object_new_object();
            json_object_object_add(CS.stats, keys[i][0], by);
        }
        n = NULL;
        json_object_object_get_ex(by, keys[i][1], &n);
        json_object_object_add(
            by, keys[i][1],
            json_object_new_int64(n ? json_object_get_int64(n) + 1 : 1));
    }
    n = NULL;
    json_object_object_get_ex(CS.stats, "total", &n);
    json_object_object_add(
        CS.stats, "total",
        json_object_new_int64(n ? json_object_get_int64(n) + 1 : 1));
}

static void h_text(struct resp *rs, const char *text, const char *ctype)
{
    rs->status = 200;
    rs->body = strdup(text);
    rs->ctype = ctype;
}

/* "/prefix/<id>[suffix]": returns the id in buf, or NULL. */
static const char *match_id(const char *path, const char *prefix,
                            const char *suffix, char *buf, size_t buflen)
{
    size_t pl = strlen(prefix), n = 0;

    if (strncmp(path, prefix, pl) != 0)
        return NULL;
    path += pl;
    while (path[n] && (path[n] == '-' || path[n] == '_' || path[n] == '.' ||
                       (path[n] >= '0' && path[n] <= '9') ||
                       (path[n] >= 'a' && path[n] <= 'z') ||
                       (path[n] >= 'A' && path[n] <= 'Z')))
        n++;
    if (n == 0 || n >= buflen || strcmp(path + n, suffix) != 0)
        return NULL;
    memcpy(buf, path, n);
    buf[n] = '\0';
    return buf;
}

static bool is(const struct req *rq, const char *m, const char *p)
{
    return strcmp(rq->method, m) == 0 && strcmp(rq->path, p) == 0;
}

/* GET-able resources that need no JWS. */
static const char *route_get(const struct req *rq, struct resp *rs)
{
    char id[256];

    if (is(rq, "GET", "/directory"))
        return h_directory(rq, rs), "directory";
    if (is(rq, "GET", "/new-nonce") || is(rq, "HEAD", "/new-nonce")) {
        rs->status = strcmp(rq->method, "GET") == 0 ? 204 : 200;
        return "newNonce";
    }
    if (is(rq, "GET", "/roots/0"))
        return h_text(rs, CS.root_pem, "application/pem-certificate-chain"),
               "roots";
    if (is(rq, "GET", "/intermediates/0"))
        return h_text(rs, CS.inter_pem, "application/pem-certificate-chain"),
               "intermediates";
    if (is(rq, "GET", "/terms"))
        return h_text(rs, "csca test CA: no warranty, test use only.\n",
                      "text/plain"),
               "terms";
    if (strcmp(rq->method, "GET") == 0 &&
        match_id(rq->path, "/renewal-info/", "", id, sizeof(id)))
        return h_renewal_info(rq, rs, id), "renewalInfo";
    return NULL;
}

/* Management endpoints.  Checked before anything else under /csca/ is
 * looked at, so without the token nothing is done and an unknown
 * management path is not told apart from a known one. */
static const char *route_mgmt(const struct req *rq, struct resp *rs)
{
    if (strncmp(rq->path, "/csca/", 6) != 0)
        return NULL;
    if (!mgmt_authorized(rq->authorization)) {
        rs->www_authenticate = "Bearer realm=\"csca\"";
        resp_problem(rs, 401, "unauthorized",
                     "management endpoints need \"Authorization: Bearer "
                     "TOKEN\", TOKEN being the content of csca's "
                     "management token file (mgmt.token in the state "
                     "directory, or --mgmt-token-file)");
        return "mgmtUnauthorized";
    }
    if (is(rq, "GET", "/csca/stats"))
        return h_stats(rs), "stats";
    if (is(rq, "POST", "/csca/stats/reset")) {
        json_object_put(CS.stats);
        CS.stats = NULL;
        return h_text(rs, "{}", "application/json"), "statsReset";
    }
    if (is(rq, "POST", "/csca/registry/reload"))
        return h_registry_reload(rq, rs), "registryReload";
    if (is(rq, "POST", "/csca/ari-past"))
        return h_ari_past(rq, rs), "ariPast";
    resp_problem(rs, 404, "malformed", "no management resource %s %s",
                 rq->method, rq->path);
    return "notFound";
}

static const char *route_post(const struct req *rq, struct resp *rs)
{
    char id[256];

    if (strcmp(rq->method, "POST") != 0)
        return NULL;
    if (is(rq, "POST", "/new-account"))
        return h_new_account(rq, rs), "newAccount";
    if (is(rq, "POST", "/new-order"))
        return h_new_order(rq, rs), "newOrder";
    if (is(rq, "POST", "/new-authz"))
        return h_new_authz(rq, rs), "newAuthz";
    if (is(rq, "POST", "/revoke-cert"))
        return h_revoke(rq, rs), "revokeCert";
    if (is(rq, "POST", "/key-change"))
        return h_key_change(rq, rs), "keyChange";
    if (match_id(rq->path, "/acct/", "/orders", id, sizeof(id)))
        return h_account_orders(rq, rs, id), "orders";
    if (match_id(rq->path, "/acct/", "", id, sizeof(id)))
        return h_account(rq, rs, id), "account";
    if (match_id(rq->path, "/order/", "/finalize", id, sizeof(id)))
        return h_finalize(rq, rs, id), "finalize";
    if (match_id(rq->path, "/order/", "", id, sizeof(id)))
        return h_order(rq, rs, id), "order";
    if (match_id(rq->path, "/authz/", "", id, sizeof(id)))
        return h_authz(rq, rs, id), "authz";
    if (match_id(rq->path, "/chall/", "", id, sizeof(id)))
        return h_challenge(rq, rs, id), "challenge";
    if (match_id(rq->path, "/cert/", "", id, sizeof(id)))
        return h_cert(rq, rs, id), "certificate";
    return NULL;
}

/* Route one request to its handler; returns the endpoint's name for the
 * log and the counters.  No libmicrohttpd in here: answer() below and the
 * fuzz harness (tests/csca/fuzz_handlers.c) both call it. */
const char *csca_dispatch(const struct req *rq, struct resp *rs, bool too_big)
{
    const char *name;

    if (too_big) {
        resp_problem(rs, 413, "malformed", "request body exceeds %d bytes",
                     CSCA_MAX_BODY);
        return "tooBig";
    }
    if (strcmp(rq->path, "/tsa") == 0)
        return h_tsa(rq, rs), "tsa";
    if (rq->plain) {
        h_text(rs, "the plain-HTTP listener serves only POST /tsa\n",
               "text/plain");
        rs->status = 404;
        return "notFound";
    }
    name = route_mgmt(rq, rs);
    if (name == NULL)
        name = route_get(rq, rs);
    if (name == NULL)
        name = route_post(rq, rs);
    if (name != NULL)
        return name;
    if (strcmp(rq->method, "GET") == 0 && strncmp(rq->path, "/", 1) == 0 &&
        (match_id(rq->path, "/order/", "", (char[64]){0}, 64) ||
         match_id(rq->path, "/authz/", "", (char[64]){0}, 64) ||
         match_id(rq->path, "/cert/", "", (char[64]){0}, 64))) {
        resp_problem(rs, 405, "malformed",
                     "use POST-as-GET (RFC 8555 §6.3) for this resource");
        return "methodNotAllowed";
    }
    resp_problem(rs, 404, "malformed", "no resource %s %s", rq->method,
                 rq->path);
    return "notFound";
}

static void add_headers(struct MHD_Response *r, const struct req *rq,
                        const struct resp *rs)
{
    char buf[700];

    MHD_add_response_header(r, "Content-Type",
                            rs->ctype ? rs->ctype : "text/plain");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    /* ACME's headers on ACME resources only (not /csca/, not /tsa) */
    if (strncmp(rq->path, "/csca/", 6) != 0 && strcmp(rq->path, "/tsa") != 0 &&
        !rq->plain) {
        char *n = nonce_new();
        if (n != NULL)
            MHD_add_response_header(r, "Replay-Nonce", n);
        free(n);
        snprintf(buf, sizeof(buf), "<%s/directory>;rel=\"index\"", rq->base);
        MHD_add_response_header(r, "Link", buf);
    }
    if (rs->location)
        MHD_add_response_header(r, "Location", rs->location);
    if (rs->www_authenticate)
        MHD_add_response_header(r, "WWW-Authenticate", rs->www_authenticate);
    if (rs->link_up) {
        snprintf(buf, sizeof(buf), "<%s>;rel=\"up\"", rs->link_up);
        MHD_add_response_header(r, "Link", buf);
    }
    if (rs->retry_after >= 0) {
        snprintf(buf, sizeof(buf), "%ld", rs->retry_after);
        MHD_add_response_header(r, "Retry-After", buf);
    }
}

static void fill_base(struct MHD_Connection *c, struct req *rq)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    char want1[64], want2[64];

    snprintf(want1, sizeof(want1), "127.0.0.1:%u", bound_port);
    snprintf(want2, sizeof(want2), "localhost:%u", bound_port);
    if (host == NULL || (strcmp(host, want1) && strcmp(host, want2)))
        host = want1;
    snprintf(rq->base, sizeof(rq->base), "https://%s", host);
}

static enum MHD_Result answer(struct MHD_Connection *c, const char *url,
                              const char *method, struct body *b,
                              const struct listener *l)
{
    struct req rq = {.plain = l->plain, .method = method, .path = url};
    struct resp rs = {.retry_after = -1};
    struct MHD_Response *r;
    const char *name;
    enum MHD_Result ret;

    fill_base(c, &rq);
    rq.ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    rq.query_certid =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "certid");
    rq.authorization =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    rq.body = (const uint8_t *)(b->buf ? b->buf : "");
    rq.len = b->len;
    pthread_mutex_lock(&handler_lock);
    name = csca_dispatch(&rq, &rs, b->too_big);
    if (rs.status == 0)
        resp_problem(&rs, 500, "serverInternal", "handler set no response");
    count(name, rs.status);
    fprintf(stderr, "csca: %s %s -> %d%s%s\n", method, url, rs.status,
            rs.ptype ? " " : "", rs.ptype ? rs.ptype : "");
    if (rs.body != NULL && rs.len == 0)
        rs.len = strlen(rs.body);
    r = MHD_create_response_from_buffer(rs.len, rs.body ? rs.body : (char *)"",
                                        MHD_RESPMEM_MUST_COPY);
    add_headers(r, &rq, &rs);
    /* the log line used rs.ptype, possibly a handler's static buffer, and
     * add_headers takes a nonce: only now may another request run */
    pthread_mutex_unlock(&handler_lock);
    ret = MHD_queue_response(c, (unsigned)rs.status, r);
    MHD_destroy_response(r);
    resp_free(&rs);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    struct body *b = *con_cls;

    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        *con_cls = b;
        return b ? MHD_YES : MHD_NO;
    }
    if (*size != 0) {
        if (b->len + *size > CSCA_MAX_BODY) {
            b->too_big = true;
        } else if (!b->too_big) {
            char *nb = realloc(b->buf, b->len + *size + 1);
            if (nb == NULL)
                return MHD_NO;
            b->buf = nb;
            memcpy(b->buf + b->len, data, *size);
            b->len += *size;
            b->buf[b->len] = '\0';
        }
        *size = 0;
        return MHD_YES;
    }
    return answer(c, url, method, b, cls);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct body *b = *con_cls;

    if (b != NULL) {
        free(b->buf);
        free(b);
        *con_cls = NULL;
    }
}

static int write_port(const char *file, unsigned port)
{
    char buf[16];

    if (file == NULL)
        return 0;
    snprintf(buf, sizeof(buf), "%u\n", port);
    if (atomic_write(file, buf, strlen(buf), 0644) == 0)
        return 0;
    fprintf(stderr, "csca: cannot write port file %s\n", file);
    return -1;
}

/* The plain-HTTP listener of --tsa-port, 127.0.0.1 only.  Its port file
 * is written before --port-file, so a caller that waits for the latter
 * finds both. */
static struct MHD_Daemon *tsa_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct MHD_Daemon *d;
    unsigned port;

    sa.sin_port = htons((uint16_t)CS.o.tsa_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
                         NULL, NULL, on_request, &tsa_listener,
                         MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
                         on_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)30, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)64, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "csca: cannot listen on 127.0.0.1:%u (--tsa-port)\n",
                CS.o.tsa_port);
        return NULL;
    }
    port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    write_port(CS.o.tsa_port_file, port);
    fprintf(stderr, "csca: time-stamp authority on http://127.0.0.1:%u/tsa\n",
            port);
    return d;
}

/* Serve until SIGINT/SIGTERM.  Signals are blocked before MHD starts its
 * thread so that only sigwait() here sees them. */
int http_serve(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct MHD_Daemon *d, *tsa = NULL;
    sigset_t set;
    int sig;

    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        fprintf(stderr, "csca: libmicrohttpd was built without TLS\n");
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sa.sin_port = htons((uint16_t)CS.o.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, &https_listener, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_HTTPS_MEM_KEY, CS.tls_key_pem, MHD_OPTION_HTTPS_MEM_CERT,
        CS.tls_cert_pem, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "csca: cannot listen on 127.0.0.1:%u\n", CS.o.port);
        return -1;
    }
    bound_port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    if (CS.o.tsa_listen && (tsa = tsa_start()) == NULL) {
        MHD_stop_daemon(d);
        return -1;
    }
    write_port(CS.o.port_file, bound_port);
    fprintf(stderr, "csca: listening on https://127.0.0.1:%u/directory\n",
            bound_port);
    printf("%u\n", bound_port);
    fflush(stdout);
    sigwait(&set, &sig);
    fprintf(stderr, "csca: signal %d, stopping\n", sig);
    if (tsa != NULL)
        MHD_stop_daemon(tsa);
    MHD_stop_daemon(d);
    return 0;
}
