/* SPDX-License-Identifier: Apache-2.0 */
#include "agt_journal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "csa_log.h"
#include "csa_util.h"

#define AGT_JOURNAL_VERSION 2

static const char *const agt_step_names[AGT_STEP__MAX] = {
    [AGT_STEP_KEYGEN] = "keygen",     [AGT_STEP_STORING] = "storing",
    [AGT_STEP_STORED] = "stored",     [AGT_STEP_ASIDE] = "aside",
    [AGT_STEP_PROMOTED] = "promoted",
};

const char *agt_step_name(agt_step step)
{
    return (unsigned)step < AGT_STEP__MAX ? agt_step_names[step] : "?";
}

void agt_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int agt_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int agt_unhex(const char *hex, unsigned char *out, size_t max)
{
    size_t len = strlen(hex), i;

    if (len % 2 != 0 || len / 2 > max)
        return -1;
    for (i = 0; i < len / 2; i++) {
        int hi = agt_hexval(hex[2 * i]), lo = agt_hexval(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return (int)(len / 2);
}

static char *agt_journal_path(const char *state_dir, const agt_identity *id)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s.journal", state_dir, id->name) < 0)
        return NULL;
    return p;
}

/* Test-only fault injection at a named point (tests/agent/swap_crash.sh,
 * tests/daemon/crash.sh, tests/agent/foreign_objects.sh): never a watcher
 * that polls the journal and hopes to be in time. */
static void agt_crash_point(const char *step)
{
    const char *at = getenv("CSAGENT_CRASH_AT");
    size_t n = strlen(step);

    if (at == NULL || strncmp(at, step, n) != 0)
        return;
    if (at[n] == '\0') {
        csa_error("swap", "CSAGENT_CRASH_AT=%s: aborting on purpose", step);
        abort();
    }
    if (strcmp(at + n, ":kill") == 0) {
        csa_error("swap", "CSAGENT_CRASH_AT=%s:kill: killing myself", step);
        raise(SIGKILL);
    }
}

csa_err agt_journal_write(const char *state_dir, const agt_identity *id,
                          const agt_journal *j)
{
    json_object *o = json_object_new_object();
    char *path = agt_journal_path(state_dir, id);
    const char *text;
    csa_err err;

    json_object_object_add(o, "version",
                           json_object_new_int(AGT_JOURNAL_VERSION));
    json_object_object_add(o, "step",
                           json_object_new_string(agt_step_name(j->step)));
    json_object_object_add(o, "label", json_object_new_string(id->label));
    json_object_object_add(o, "rotate", json_object_new_boolean(j->rotate));
    json_object_object_add(o, "old_id", json_object_new_string(j->old_id));
    json_object_object_add(o, "old_fp", json_object_new_string(j->old_fp));
    json_object_object_add(o, "new_id", json_object_new_string(j->new_id));
    json_object_object_add(o, "new_fp", json_object_new_string(j->new_fp));
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    err = path == NULL ? csa_raise(CSA_ERR_NOMEM, "out of memory")
                       : csa_file_write_atomic(path, text, strlen(text), 0600);
    json_object_put(o);
    free(path);
    if (err == CSA_OK) {
        csa_debug("swap", "%s: journal step %s", id->name,
                  agt_step_name(j->step));
        agt_crash_point(agt_step_name(j->step));
    }
    return err;
}

/* Copies a string member that must be hex of at most size - 1 digits. */
static int agt_json_hex(json_object *o, const char *key, char *dst, size_t size)
{
    json_object *v;
    const char *s;
    size_t i;

    dst[0] = '\0';
    if (!json_object_object_get_ex(o, key, &v))
        return 1; /* absent: empty */
    if (!json_object_is_type(v, json_type_string))
        return 0;
    s = json_object_get_string(v);
    if (strlen(s) >= size)
        return 0;
    for (i = 0; s[i] != '\0'; i++)
        if (agt_hexval(s[i]) < 0)
            return 0;
    memcpy(dst, s, i + 1);
    return 1;
}

/* Journal version 1 (csagent before the never-mixed swap) had the steps
 * keygen, stored, promoted (both pairs under the label) and retired (the
 * old pair under "<label>.retired"), and no old_id. */
static int agt_journal_step(json_object *o, agt_journal *j)
{
    json_object *v;
    const char *s;
    int i;

    if (!json_object_object_get_ex(o, "step", &v) ||
        !json_object_is_type(v, json_type_string))
        return 0;
    s = json_object_get_string(v);
    j->legacy = !json_object_object_get_ex(o, "version", &v);
    if (j->legacy && !strcmp(s, "promoted"))
        s = "aside";
    if (j->legacy && !strcmp(s, "retired"))
        s = "promoted";
    for (i = 0; i < AGT_STEP__MAX; i++) {
        if (!strcmp(s, agt_step_names[i])) {
            j->step = (agt_step)i;
            return 1;
        }
    }
    return 0;
}

static csa_err agt_journal_parse(json_object *o, agt_journal *j)
{
    json_object *v;

    if (!json_object_is_type(o, json_type_object) || !agt_journal_step(o, j) ||
        !agt_json_hex(o, "old_id", j->old_id, sizeof(j->old_id)) ||
        !agt_json_hex(o, "old_fp", j->old_fp, sizeof(j->old_fp)) ||
        !agt_json_hex(o, "new_id", j->new_id, sizeof(j->new_id)) ||
        !agt_json_hex(o, "new_fp", j->new_fp, sizeof(j->new_fp)))
        return CSA_ERR_PROTOCOL;
    j->rotate = json_object_object_get_ex(o, "rotate", &v) &&
                json_object_is_type(v, json_type_boolean) &&
                json_object_get_boolean(v);
    return CSA_OK;
}

csa_err agt_journal_read(const char *state_dir, const agt_identity *id,
                         agt_journal *j)
{
    char *path = agt_journal_path(state_dir, id), *text = NULL;
    json_object *o = NULL;
    csa_err err;

    memset(j, 0, sizeof(*j));
    if (path == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (access(path, F_OK) != 0) {
        free(path);
        return CSA_ERR_NOT_FOUND;
    }
    err = csa_file_read(path, 65536, &text, NULL);
    if (err == CSA_OK)
        o = json_tokener_parse(text);
    if (err == CSA_OK && agt_journal_parse(o, j) != CSA_OK)
        err = csa_raise(CSA_ERR_IO,
                        "swap journal %s is not one csagent wrote (a JSON "
                        "object with a known step and hex ids); the token "
                        "was not touched: inspect it, then remove the file",
                        path);
    json_object_put(o);
    free(text);
    free(path);
    return err;
}

csa_err agt_journal_remove(const char *state_dir, const agt_identity *id)
{
    char *path = agt_journal_path(state_dir, id);
    csa_err err = CSA_OK;

    if (path == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if (unlink(path) != 0 && errno != ENOENT)
        err = csa_raise(CSA_ERR_IO, "cannot remove %s: %s", path,
                        strerror(errno));
    free(path);
    return err;
}
