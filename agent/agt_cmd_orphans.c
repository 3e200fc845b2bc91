/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csagent orphans: objects with no label and no id.  No journal can name
 * them, so csagent never deletes them by itself (the token is shared: such
 * an object may be another program's, e.g. `pkcs11-tool --keypairgen`
 * without --label and --id).  They are listed under a name derived from
 * what the token shows of them, and deleted only when the operator names
 * them with --delete.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agt.h"
#include "agt_journal.h"

#define AGT_ORPHAN_MAX_DELETE 64

static int agt_is_orphan(const tok_obj_info *o)
{
    return o->label[0] == '\0' && o->id_len == 0;
}

/* "orphan-" and the first 16 hex digits of the object's fingerprint. */
static csa_err agt_orphan_name(tok_ctx *tok, const tok_obj_info *o,
                               char name[24])
{
    unsigned char fp[32];
    char hex[65];
    csa_err err = tok_obj_fingerprint(tok, o->handle, fp);

    if (err != CSA_OK)
        return err;
    agt_hex(fp, sizeof(fp), hex);
    snprintf(name, 24, "orphan-%.16s", hex);
    return CSA_OK;
}

static int agt_named_for_delete(char **names, int n, const char *name)
{
    int i;

    for (i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

/* Lists the orphans; deletes those named.  *unmatched counts names that
 * matched nothing. */
static csa_err agt_orphans_walk(tok_ctx *tok, char **del, int ndel,
                                int *deleted, int *unmatched)
{
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    int *hit = calloc((size_t)ndel + 1, sizeof(*hit)), k, count = 0;
    char name[24];
    csa_err err =
        hit ? tok_objects(tok, NULL, NULL, 0, TOK_CLASS_OTHER, &objs, &n)
            : csa_raise(CSA_ERR_NOMEM, "out of memory");

    for (i = 0; err == CSA_OK && i < n; i++) {
        if (!agt_is_orphan(&objs[i]))
            continue;
        if ((err = agt_orphan_name(tok, &objs[i], name)) != CSA_OK)
            break;
        count++;
        k = agt_named_for_delete(del, ndel, name);
        printf("%s  %-12s type=%s%s%s\n", name, agt_class_name(objs[i].cls),
               objs[i].type, objs[i].subject[0] ? " subject=" : "",
               objs[i].subject);
        if (k < 0)
            continue;
        if ((err = tok_obj_destroy(tok, objs[i].handle)) != CSA_OK)
            break;
        hit[k] = 1;
        (*deleted)++;
        printf("%s  deleted\n", name);
    }
    for (k = 0; err == CSA_OK && k < ndel; k++)
        if (!hit[k]) {
            fprintf(stderr,
                    "csagent: no object without label and id is "
                    "named %s on this token; nothing deleted for it\n",
                    del[k]);
            (*unmatched)++;
        }
    if (err == CSA_OK)
        printf("%d object(s) with no label and no id\n", count);
    free(hit);
    free(objs);
    return err;
}

int agt_cmd_orphans(agt_globals *g, int argc, char **argv)
{
    static const struct option opts[] = {
        AGT_TOKEN_OPTS,
        {"delete", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    static const char usage[] =
        "usage: csagent orphans [--delete NAME]... [--module M] [--token URI]"
        " [--pin-file F]\n"
        "Lists the token's objects that have no label and no id: a module\n"
        "killed while it created an object can leave one, and so can other\n"
        "programs.  csagent never deletes them by itself.  Each is shown\n"
        "under a name derived from what the token shows of it (objects\n"
        "that look alike share a name).\n" AGT_TOKEN_HELP
        "  --delete NAME   delete the objects with no label and no id\n"
        "                  listed under NAME (repeat for several)\n";
    char *del[AGT_ORPHAN_MAX_DELETE];
    int ndel = 0, deleted = 0, unmatched = 0, c;
    tok_ctx *tok = NULL;
    csa_err err;

    while ((c = agt_getopt(argc, argv, "h", opts)) != -1) {
        if (c == 'h')
            return fputs(usage, stdout), AGT_EXIT_OK;
        if (c == 'd' && ndel < AGT_ORPHAN_MAX_DELETE &&
            strncmp(optarg, "orphan-", 7) == 0) {
            del[ndel++] = optarg;
            continue;
        }
        if (c == 'd' || !agt_token_opt(g, c, optarg)) {
            fputs(usage, stderr);
            return AGT_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(usage, stderr);
        return AGT_EXIT_USAGE;
    }
    if ((err = agt_open_token(g, 1, &tok)) == CSA_OK)
        err = agt_orphans_walk(tok, del, ndel, &deleted, &unmatched);
    tok_close(tok);
    if (err != CSA_OK)
        return agt_fail_exit(err);
    return unmatched ? AGT_EXIT_FAIL : AGT_EXIT_OK;
}
