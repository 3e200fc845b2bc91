/* SPDX-License-Identifier: Apache-2.0 */
/* JSON helpers over json-c, and the status names of RFC 8555 §7.1.6. */
#include <stdlib.h>
#include <string.h>

#include "acme_int.h"

csa_err acme_json_parse(const char *body, size_t len, json_object **out)
{
    json_tokener *tok = NULL;
    json_object *obj = NULL;
    csa_err err = CSA_OK;

    *out = NULL;
    if (len > ACME_MAX_JSON || len > (size_t)INT32_MAX)
        return csa_raise(CSA_ERR_PROTOCOL, "JSON body too large");
    tok = json_tokener_new();
    if (tok == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    obj = json_tokener_parse_ex(tok, body, (int)len);
    if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len) {
        err = csa_raise(CSA_ERR_PROTOCOL, "the CA sent malformed JSON (%s)",
                        json_tokener_error_desc(json_tokener_get_error(tok)));
        goto done;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        err = csa_raise(CSA_ERR_PROTOCOL,
                        "the CA sent JSON that is not an object");
        goto done;
    }
    *out = obj;
    obj = NULL;
done:
    json_object_put(obj);
    json_tokener_free(tok);
    return err;
}

const char *acme_json_str(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

char *acme_json_strdup(json_object *o, const char *key)
{
    const char *v = acme_json_str(o, key);

    return v != NULL ? strdup(v) : NULL;
}

void acme_strv_free(char **v, size_t n)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

csa_err acme_json_strv(json_object *o, const char *key, char ***out, size_t *n)
{
    json_object *arr = NULL;
    char **v = NULL;
    size_t i, len;

    *out = NULL;
    *n = 0;
    if (!json_object_object_get_ex(o, key, &arr))
        return CSA_OK;
    if (!json_object_is_type(arr, json_type_array))
        return csa_raise(CSA_ERR_PROTOCOL, "\"%s\" is not an array", key);
    len = json_object_array_length(arr);
    if (len == 0)
        return CSA_OK;
    v = calloc(len, sizeof(*v));
    if (v == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    for (i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(arr, i);

        if (!json_object_is_type(e, json_type_string) ||
            (v[i] = strdup(json_object_get_string(e))) == NULL) {
            acme_strv_free(v, len);
            return csa_raise(CSA_ERR_PROTOCOL,
                             "\"%s\" holds a non-string element", key);
        }
    }
    *out = v;
    *n = len;
    return CSA_OK;
}

static const char *const status_names[ACME_STATUS__MAX] = {
    [ACME_STATUS_UNKNOWN] = "unknown",
    [ACME_STATUS_PENDING] = "pending",
    [ACME_STATUS_READY] = "ready",
    [ACME_STATUS_PROCESSING] = "processing",
    [ACME_STATUS_VALID] = "valid",
    [ACME_STATUS_INVALID] = "invalid",
    [ACME_STATUS_EXPIRED] = "expired",
    [ACME_STATUS_DEACTIVATED] = "deactivated",
    [ACME_STATUS_REVOKED] = "revoked",
};

const char *acme_status_name(acme_status s)
{
    if ((unsigned)s >= ACME_STATUS__MAX)
        return "unknown";
    return status_names[s];
}

acme_status acme_status_parse(const char *s)
{
    unsigned i;

    if (s == NULL)
        return ACME_STATUS_UNKNOWN;
    for (i = 1; i < ACME_STATUS__MAX; i++)
        if (strcmp(s, status_names[i]) == 0)
            return (acme_status)i;
    return ACME_STATUS_UNKNOWN;
}
