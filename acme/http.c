/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one file that calls libcurl.  Every request is HTTPS with peer and host
 * verification on (no option turns it off), a connect and a total timeout,
 * no redirects followed, and a body cap enforced while receiving.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme_int.h"
#include "csa_log.h"

void acme_http_resp_clear(acme_http_resp *r)
{
    size_t i;

    if (r == NULL)
        return;
    free(r->body);
    free(r->content_type);
    free(r->location);
    free(r->nonce);
    free(r->retry_after_raw);
    for (i = 0; i < r->n_links; i++)
        free(r->links[i]);
    memset(r, 0, sizeof(*r));
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    acme_http_resp *r = ud;
    size_t n = size * nmemb;
    char *nb;

    if (n > r->max || r->len > r->max - n)
        return 0; /* curl reports a write error; caught as "too large" */
    nb = realloc(r->body, r->len + n + 1);
    if (nb == NULL)
        return 0;
    memcpy(nb + r->len, data, n);
    r->len += n;
    nb[r->len] = '\0';
    r->body = nb;
    return n;
}

/* Copies a header value with surrounding blanks trimmed. */
static char *header_value(const char *v, size_t n)
{
    char *out;

    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)v[n - 1]))
        n--;
    out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, v, n);
    out[n] = '\0';
    return out;
}

static void set_field(char **field, char *value)
{
    free(*field);
    *field = value;
}

/* Keeps the media type only, lower-cased ("application/json"). */
static char *media_type(char *v)
{
    char *semi;
    size_t i;

    if (v == NULL)
        return NULL;
    semi = strchr(v, ';');
    if (semi != NULL)
        *semi = '\0';
    for (i = 0; v[i] != '\0'; i++)
        v[i] = (char)tolower((unsigned char)v[i]);
    while (i > 0 && (v[i - 1] == ' ' || v[i - 1] == '\t'))
        v[--i] = '\0';
    return v;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    acme_http_resp *r = ud;
    size_t n = size * nmemb;
    const char *colon = memchr(data, ':', n);
    size_t name_len, vlen;
    const char *v;

    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new response (e.g. after 100 Continue): forget the old one */
        size_t i;
        for (i = 0; i < r->n_links; i++)
            free(r->links[i]);
        r->n_links = 0;
        return n;
    }
    if (colon == NULL)
        return n;
    name_len = (size_t)(colon - data);
    v = colon + 1;
    vlen = n - name_len - 1;
#define IS(h) (name_len == strlen(h) && strncasecmp(data, h, name_len) == 0)
    if (IS("Replay-Nonce"))
        set_field(&r->nonce, header_value(v, vlen));
    else if (IS("Location"))
        set_field(&r->location, header_value(v, vlen));
    else if (IS("Retry-After"))
        set_field(&r->retry_after_raw, header_value(v, vlen));
    else if (IS("Content-Type"))
        set_field(&r->content_type, media_type(header_value(v, vlen)));
    else if (IS("Link") && r->n_links < ACME_MAX_LINKS) {
        char *l = header_value(v, vlen);
        if (l != NULL)
            r->links[r->n_links++] = l;
    }
#undef IS
    return n;
}

static csa_err setup(acme_client *c, const char *method, const char *url,
                     const char *body, acme_repeat repeat,
                     struct curl_slist **hdrs, acme_http_resp *r)
{
    CURL *h = c->curl;

    curl_easy_reset(h);
    if (strncasecmp(url, "https://", 8) != 0)
        return csa_raise(CSA_ERR_INVALID, "refusing a non-HTTPS ACME URL: %s",
                         url);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_bundle != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_bundle);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    /* libcurl re-sends a request whose reused connection died before any
     * answer; the CA may have read it all the same (retry.c). */
    if (repeat == ACME_SEND_ONCE)
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    *hdrs = curl_slist_append(*hdrs, "Expect:");
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0) {
        *hdrs = curl_slist_append(*hdrs, "Content-Type: application/jose+json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)strlen(body));
    }
    if (*hdrs == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    return CSA_OK;
}

/* Turns a curl failure into a sentence naming what went wrong. */
static csa_err curl_error(const acme_client *c, CURLcode rc, const char *url,
                          const char *errbuf, const acme_http_resp *r)
{
    const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);

    switch (rc) {
    case CURLE_SSL_CACERT_BADFILE:
        return csa_raise(
            CSA_ERR_TLS, "cannot load the CA bundle %s to verify %s (%s)",
            c->ca_bundle ? c->ca_bundle : "(system store)", url, why);
    case CURLE_SSL_CONNECT_ERROR:
        /* A handshake that broke off (reset, protocol error) is not a
         * verification verdict: say what curl saw. */
        return csa_raise(CSA_ERR_TLS, "TLS handshake with %s failed: %s", url,
                         why);
    case CURLE_PEER_FAILED_VERIFICATION:
        return csa_raise(CSA_ERR_TLS,
                         "TLS with %s failed: the server certificate does not "
                         "verify against %s (%s)",
                         url, c->ca_bundle ? c->ca_bundle : "the system store",
                         why);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return csa_raise(CSA_ERR_NETWORK, "cannot reach the CA at %s: %s", url,
                         why);
    case CURLE_OPERATION_TIMEDOUT:
        return csa_raise(CSA_ERR_NETWORK,
                         "the CA at %s did not answer within %ld s: %s", url,
                         c->timeout_s, why);
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        return csa_raise(CSA_ERR_PROTOCOL,
                         "response from %s is larger than %zu bytes", url,
                         r->max);
    default:
        return csa_raise(CSA_ERR_NETWORK, "request to %s failed: %s", url, why);
    }
}

csa_err acme_http_do(acme_client *c, const char *method, const char *url,
                     const char *body, size_t max, acme_repeat repeat,
                     acme_http_resp *r)
{
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    csa_err err;
    CURLcode rc;

    acme_http_resp_clear(r);
    r->max = max;
    err = setup(c, method, url, body, repeat, &hdrs, r);
    if (err != CSA_OK)
        goto done;
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    csa_debug("acme", "%s %s", method, url);
    rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        r->curl_rc = (int)rc; /* for retry.c: is this worth repeating? */
        err = curl_error(c, rc, url, errbuf, r);
        goto done;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->body == NULL) {
        r->body = calloc(1, 1);
        if (r->body == NULL)
            err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    csa_debug("acme", "%s %s -> HTTP %ld, %zu bytes, %s", method, url,
              r->status, r->len, r->content_type ? r->content_type : "-");
done:
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    return err;
}
