/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed getters for the members of what a client sent (JWS headers and
 * payloads).  json-c hands back NULL for a JSON null and converts other
 * types silently (json_object_get_string of 5 is "5", of null is NULL), so
 * every member a handler reads goes through here once: the code behind
 * sees the type it asked for, and the client hears which member was wrong
 * (RFC 8555 §6.7: malformed).
 */
#include "csca.h"

#include <stdio.h>
#include <string.h>

/* "a string", "an array"... for the sentences below. */
static const char *type_phrase(enum json_type t)
{
    switch (t) {
    case json_type_boolean:
        return "a boolean";
    case json_type_int:
        return "an integer";
    case json_type_double:
        return "a number";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    default:
        return "null";
    }
}

bool value_is(json_object *v, enum json_type type, const char *what, char *why,
              size_t whylen)
{
    if (json_object_is_type(v, type))
        return true;
    snprintf(why, whylen, "\"%s\" must be %s, not %s", what, type_phrase(type),
             type_phrase(json_object_get_type(v)));
    return false;
}

int member_why(json_object *o, const char *name, enum json_type type,
               bool required, json_object **out, char *why, size_t whylen)
{
    json_object *v = NULL;

    *out = NULL;
    /* get_ex is false for a NULL or non-object o, and true (with v NULL)
     * for a member whose value is JSON null. */
    if (!json_object_object_get_ex(o, name, &v)) {
        if (!required)
            return 0;
        snprintf(why, whylen, "\"%s\" is missing (%s wanted)", name,
                 type_phrase(type));
        return -1;
    }
    if (!value_is(v, type, name, why, whylen))
        return -1;
    *out = v;
    return 1;
}

int member(struct resp *rs, json_object *o, const char *name,
           enum json_type type, bool required, json_object **out)
{
    char why[200];
    int r = member_why(o, name, type, required, out, why, sizeof(why));

    if (r < 0)
        resp_problem(rs, 400, "malformed", "%s", why);
    return r;
}

int member_str_why(json_object *o, const char *name, bool required,
                   const char **out, char *why, size_t whylen)
{
    json_object *v;
    int r = member_why(o, name, json_type_string, required, &v, why, whylen);

    *out = r == 1 ? json_object_get_string(v) : NULL;
    return r;
}

int member_str(struct resp *rs, json_object *o, const char *name, bool required,
               const char **out)
{
    char why[200];
    int r = member_str_why(o, name, required, out, why, sizeof(why));

    if (r < 0)
        resp_problem(rs, 400, "malformed", "%s", why);
    return r;
}
