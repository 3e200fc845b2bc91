/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsers for what arrives in HTTP headers and timestamps: Retry-After
 * (RFC 9110 §10.2.3), Link (RFC 8288) and RFC 3339 dates.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme_int.h"

/*
 * Delta-seconds or an HTTP-date, clamped to ACME_RETRY_AFTER_MAX: a CA
 * that says 99999999999999999999 gets a day, not an overflow in the
 * arithmetic that follows (seconds to milliseconds, now + delay).
 */
long acme_retry_after_parse(const char *value, time_t now)
{
    time_t when;
    const char *p;
    unsigned long long secs = 0;

    if (value == NULL || value[0] == '\0')
        return -1;
    if (isdigit((unsigned char)value[0])) {
        for (p = value; isdigit((unsigned char)*p); p++)
            if (secs < ACME_RETRY_AFTER_MAX)
                secs = secs * 10 + (unsigned)(*p - '0');
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0')
            return -1;
        return secs > ACME_RETRY_AFTER_MAX ? ACME_RETRY_AFTER_MAX : (long)secs;
    }
    when = curl_getdate(value, NULL);
    if (when == (time_t)-1)
        return -1;
    if (when <= now)
        return 0;
    return when - now > ACME_RETRY_AFTER_MAX ? ACME_RETRY_AFTER_MAX
                                             : (long)(when - now);
}

/* Resolves ref against base with curl's URL parser. */
static char *resolve(const char *base, const char *ref)
{
    CURLU *u = curl_url();
    char *tmp = NULL, *out = NULL;

    if (u == NULL)
        return NULL;
    if ((base == NULL ||
         curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK) &&
        curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &tmp, 0) == CURLUE_OK)
        out = strdup(tmp);
    curl_free(tmp);
    curl_url_cleanup(u);
    return out;
}

/* Does the parameter list (";rel=x; foo=bar") carry rel with value rel? A
 * rel value may list several relation types separated by spaces. */
static int params_have_rel(const char *p, const char *end, const char *rel)
{
    size_t rl = strlen(rel);

    while (p < end) {
        const char *v, *ve;

        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(end - p) < 4 || strncasecmp(p, "rel=", 4) != 0) {
            while (p < end && *p != ';')
                p++;
            continue;
        }
        v = p + 4;
        if (v < end && *v == '"') {
            v++;
            ve = memchr(v, '"', (size_t)(end - v));
            if (ve == NULL)
                return 0;
        } else {
            for (ve = v; ve < end && *ve != ';' && *ve != ' '; ve++)
                ;
        }
        while (v < ve) {
            const char *w = v;

            while (w < ve && *w != ' ')
                w++;
            if ((size_t)(w - v) == rl && strncasecmp(v, rel, rl) == 0)
                return 1;
            v = w + 1;
        }
        p = ve + 1;
    }
    return 0;
}

/* Scans one header value holding comma-separated links. */
static size_t link_scan(const char *s, const char *rel, const char *base,
                        char **out, size_t n, size_t max)
{
    while (*s != '\0' && n < max) {
        const char *lt = strchr(s, '<'), *gt, *next;
        char *ref;

        if (lt == NULL || (gt = strchr(lt, '>')) == NULL)
            break;
        next = gt + 1;
        while (*next != '\0' && *next != ',') {
            if (*next == '"') { /* skip quoted strings, they may hold ',' */
                const char *q = strchr(next + 1, '"');
                next = q != NULL ? q : next + strlen(next) - 1;
            }
            next++;
        }
        if (params_have_rel(gt + 1, next, rel)) {
            ref = strndup(lt + 1, (size_t)(gt - lt - 1));
            if (ref != NULL && (out[n] = resolve(base, ref)) != NULL)
                n++;
            free(ref);
        }
        s = *next == ',' ? next + 1 : next;
    }
    return n;
}

size_t acme_link_find(char *const *links, size_t n_links, const char *rel,
                      const char *base, char **out, size_t max)
{
    size_t i, n = 0;

    for (i = 0; i < n_links && n < max; i++)
        n = link_scan(links[i], rel, base, out, n, max);
    return n;
}

/* "2025-01-02T03:04:05Z", fractional seconds and +hh:mm offsets accepted. */
time_t acme_time_parse(const char *s)
{
    struct tm tm = {0};
    int used = 0, oh = 0, om = 0;
    const char *p;
    time_t t;

    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) < 6 ||
        used == 0)
        return (time_t)-1;
    p = s + used;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return (time_t)-1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm);
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0' ? t : (time_t)-1;
    if ((*p != '+' && *p != '-') || sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 ||
        strlen(p) != 6)
        return (time_t)-1;
    return *p == '+' ? t - (oh * 3600 + om * 60) : t + (oh * 3600 + om * 60);
}
