/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Problem documents (RFC 7807; RFC 8555 §6.7): the CA's sentence for what
 * went wrong, with subproblems per identifier, turned into one line for the
 * operator.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_int.h"

/* Appends printf output to a growing string; on failure frees it. */
static char *append(char *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *append(char *s, const char *fmt, ...)
{
    va_list ap;
    size_t old = s != NULL ? strlen(s) : 0;
    int n;
    char *ns;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (ns = realloc(s, old + (size_t)n + 1)) == NULL) {
        free(s);
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(ns + old, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return ns;
}

static const char *or_dash(const char *s)
{
    return s != NULL ? s : "(none)";
}

static char *append_subproblems(char *s, json_object *obj)
{
    json_object *subs = NULL;
    size_t i, n;

    if (!json_object_object_get_ex(obj, "subproblems", &subs) ||
        !json_object_is_type(subs, json_type_array))
        return s;
    n = json_object_array_length(subs);
    for (i = 0; i < n && s != NULL; i++) {
        json_object *sp = json_object_array_get_idx(subs, i), *id = NULL;

        if (!json_object_is_type(sp, json_type_object))
            continue;
        json_object_object_get_ex(sp, "identifier", &id);
        s = append(s, "; subproblem %s:%s: %s: %s",
                   or_dash(acme_json_str(id, "type")),
                   or_dash(acme_json_str(id, "value")),
                   or_dash(acme_json_str(sp, "type")),
                   or_dash(acme_json_str(sp, "detail")));
    }
    return s;
}

/* The CA's text ends up in logs and error messages: no control
 * characters (a newline could forge a log line). */
static char *sanitize(char *s)
{
    unsigned char *p;

    for (p = (unsigned char *)s; p != NULL && *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
    return s;
}

char *acme_problem_summary(json_object *obj)
{
    char *s = append(NULL, "%s: %s", or_dash(acme_json_str(obj, "type")),
                     or_dash(acme_json_str(obj, "detail")));

    return s != NULL ? sanitize(append_subproblems(s, obj)) : NULL;
}

csa_err acme_problem_parse(const char *body, size_t len, acme_problem *p)
{
    json_object *obj = NULL, *st = NULL;
    csa_err err;

    memset(p, 0, sizeof(*p));
    err = acme_json_parse(body, len, &obj);
    if (err != CSA_OK)
        return err;
    p->type = acme_json_strdup(obj, "type");
    p->detail = acme_json_strdup(obj, "detail");
    if (json_object_object_get_ex(obj, "status", &st) &&
        json_object_is_type(st, json_type_int))
        p->status = (long)json_object_get_int64(st);
    p->summary = acme_problem_summary(obj);
    json_object_put(obj);
    if (p->summary == NULL) {
        acme_problem_clear(p);
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    }
    return CSA_OK;
}

void acme_problem_clear(acme_problem *p)
{
    if (p == NULL)
        return;
    free(p->type);
    free(p->detail);
    free(p->summary);
    memset(p, 0, sizeof(*p));
}
