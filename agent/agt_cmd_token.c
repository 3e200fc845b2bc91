/* SPDX-License-Identifier: Apache-2.0 */
/* Token commands: token-init, list, keygen, pubkey. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agt.h"
#include <openssl/pem.h>

#include "csa_jwk.h"

static int agt_bad_usage(const char *usage)
{
    fputs(usage, stderr);
    return AGT_EXIT_USAGE;
}

int agt_cmd_token_init(agt_globals *g, int argc, char **argv)
{
    static const struct option opts[] = {
        AGT_TOKEN_OPTS,
        {"label", required_argument, NULL, 'l'},
        {"so-pin-file", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    static const char usage[] =
        "usage: csagent token-init --label LABEL --so-pin-file FILE "
        "--pin-file FILE [--module M]\n"
        "Initialises the first uninitialised token of the module (for\n"
        "SoftHSM test tokens and first set-up).  PINs come from "
        "files.\n" AGT_TOKEN_HELP
        "  --label LABEL       token label (at most 32 bytes)\n"
        "  --so-pin-file FILE  security officer PIN\n";
    const char *label = NULL, *so = NULL, *module;
    csa_err err;
    int c;

    while ((c = agt_getopt(argc, argv, "h", opts)) != -1) {
        if (c == 'l')
            label = optarg;
        else if (c == 'S')
            so = optarg;
        else if (c == 'h')
            return fputs(usage, stdout), AGT_EXIT_OK;
        else if (!agt_token_opt(g, c, optarg))
            return agt_bad_usage(usage);
    }
    if (label == NULL || so == NULL || g->pin_file == NULL)
        return agt_bad_usage(usage);
    if ((err = agt_load_config(g, 0)) != CSA_OK)
        return agt_fail_exit(err);
    module = g->module ? g->module : g->cfg ? g->cfg->module : NULL;
    err = tok_init_token(module, label, so, g->pin_file);
    if (err != CSA_OK)
        return agt_fail_exit(err);
    printf("initialised token '%s'\n", label);
    return AGT_EXIT_OK;
}

const char *agt_class_name(tok_class cls)
{
    static const char *const names[TOK_CLASS__MAX] = {
        [TOK_CLASS_OTHER] = "other",
        [TOK_CLASS_PRIVATE_KEY] = "private-key",
        [TOK_CLASS_PUBLIC_KEY] = "public-key",
        [TOK_CLASS_SECRET_KEY] = "secret-key",
        [TOK_CLASS_CERTIFICATE] = "certificate",
    };
    return (unsigned)cls < TOK_CLASS__MAX ? names[cls] : "?";
}

static const char *agt_tri(int v)
{
    return v < 0 ? "?" : v ? "yes" : "no";
}

static void agt_print_object(const tok_obj_info *o)
{
    char id[2 * sizeof(o->id) + 1];
    size_t i;

    for (i = 0; i < o->id_len; i++)
        snprintf(id + 2 * i, 3, "%02x", o->id[i]);
    id[2 * o->id_len] = '\0';
    printf("%-12s label=\"%s\" id=%s type=%s\n", agt_class_name(o->cls),
           o->label, o->id_len ? id : "-", o->type);
    if (o->label[0] == '\0' && o->id_len == 0)
        printf("             unattributed: no label and no id (see "
               "csagent orphans)\n");
    if (o->cls == TOK_CLASS_PRIVATE_KEY || o->cls == TOK_CLASS_SECRET_KEY)
        printf("             sensitive=%s extractable=%s "
               "always-sensitive=%s never-extractable=%s token=%s "
               "private=%s\n",
               agt_tri(o->sensitive), agt_tri(o->extractable),
               agt_tri(o->always_sensitive), agt_tri(o->never_extractable),
               agt_tri(o->token), agt_tri(o->private_));
    if (o->cls == TOK_CLASS_CERTIFICATE) {
        char when[32] = "?";
        struct tm tm;

        if (o->not_after != 0 && gmtime_r(&o->not_after, &tm) != NULL)
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("             subject=%s notAfter=%s\n", o->subject, when);
    }
}

int agt_cmd_list(agt_globals *g, int argc, char **argv)
{
    static const struct option opts[] = {AGT_TOKEN_OPTS, {NULL, 0, NULL, 0}};
    static const char usage[] =
        "usage: csagent list [--module M] [--token URI] [--pin-file F]\n"
        "Lists keys, secrets and certificates: label, id, type, size or\n"
        "curve, the security attributes, certificate subject and "
        "notAfter.\n" AGT_TOKEN_HELP;
    tok_ctx *tok = NULL;
    tok_obj_info *objs = NULL;
    size_t n = 0, i;
    csa_err err;
    int c;

    while ((c = agt_getopt(argc, argv, "h", opts)) != -1) {
        if (c == 'h')
            return fputs(usage, stdout), AGT_EXIT_OK;
        if (!agt_token_opt(g, c, optarg))
            return agt_bad_usage(usage);
    }
    if ((err = agt_open_token(g, 1, &tok)) != CSA_OK ||
        (err = tok_objects(tok, NULL, NULL, 0, TOK_CLASS_OTHER, &objs, &n)) !=
            CSA_OK) {
        tok_close(tok);
        return agt_fail_exit(err);
    }
    printf("token \"%s\": %zu object(s)\n", tok_token_label(tok), n);
    for (i = 0; i < n; i++)
        agt_print_object(&objs[i]);
    free(objs);
    tok_close(tok);
    return AGT_EXIT_OK;
}

int agt_cmd_keygen(agt_globals *g, int argc, char **argv)
{
    static const struct option opts[] = {
        AGT_TOKEN_OPTS,
        {"label", required_argument, NULL, 'l'},
        {"type", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    static const char usage[] =
        "usage: csagent keygen --label LABEL --type TYPE [--force]\n"
        "Generates a key pair inside the token: sensitive, never\n"
        "extractable, sign-only.\n" AGT_TOKEN_HELP
        "  --label LABEL  CKA_LABEL of the pair\n"
        "  --type TYPE    rsa3072, rsa4096, p256, p384, p521 or ed25519\n"
        "  --force        add a key even if the label already has one\n";
    const char *label = NULL, *type_name = "p256";
    tok_key_type type;
    tok_ctx *tok = NULL;
    tok_key *key = NULL;
    bool force = false;
    csa_err err;
    int c;

    while ((c = agt_getopt(argc, argv, "h", opts)) != -1) {
        if (c == 'l')
            label = optarg;
        else if (c == 't')
            type_name = optarg;
        else if (c == 'f')
            force = true;
        else if (c == 'h')
            return fputs(usage, stdout), AGT_EXIT_OK;
        else if (!agt_token_opt(g, c, optarg))
            return agt_bad_usage(usage);
    }
    if (label == NULL)
        return agt_bad_usage(usage);
    if ((err = tok_key_type_parse(type_name, &type)) != CSA_OK)
        return agt_fail_exit(err);
    if ((err = agt_open_token(g, 1, &tok)) == CSA_OK)
        err = tok_key_generate(tok, label, type, force, &key);
    if (err == CSA_OK)
        printf("generated %s key \"%s\" in token \"%s\"\n", type_name, label,
               tok_token_label(tok));
    tok_key_free(key);
    tok_close(tok);
    return err == CSA_OK ? AGT_EXIT_OK : agt_fail_exit(err);
}

static csa_err agt_print_pem(tok_key *key)
{
    EVP_PKEY *pub = NULL;
    csa_err err = tok_key_public(key, &pub);

    if (err == CSA_OK && !PEM_write_PUBKEY(stdout, pub))
        err = csa_raise(CSA_ERR_IO, "cannot write the public key");
    EVP_PKEY_free(pub);
    return err;
}

int agt_cmd_pubkey(agt_globals *g, int argc, char **argv)
{
    static const struct option opts[] = {
        AGT_TOKEN_OPTS,
        {"label", required_argument, NULL, 'l'},
        {"pem", no_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    static const char usage[] =
        "usage: csagent pubkey --label LABEL|URI [--pem]\n"
        "Prints {\"jwk\":{...},\"thumbprint\":\"...\"} for the key: what\n"
        "a CA registers for ppkp-01 (csca ppkp add takes it as is).\n"
        "With --pem, prints the SubjectPublicKeyInfo as PEM "
        "instead.\n" AGT_TOKEN_HELP;
    const char *label = NULL;
    bool pem = false;
    char *jwk = NULL, *thumb = NULL;
    tok_ctx *tok = NULL;
    tok_key *key = NULL;
    csa_err err;
    int c;

    while ((c = agt_getopt(argc, argv, "h", opts)) != -1) {
        if (c == 'l')
            label = optarg;
        else if (c == 'p')
            pem = true;
        else if (c == 'h')
            return fputs(usage, stdout), AGT_EXIT_OK;
        else if (!agt_token_opt(g, c, optarg))
            return agt_bad_usage(usage);
    }
    if (label == NULL)
        return agt_bad_usage(usage);
    if ((err = agt_open_token(g, 1, &tok)) == CSA_OK)
        err = tok_key_find(tok, label, &key);
    if (err == CSA_OK && pem)
        err = agt_print_pem(key);
    else if (err == CSA_OK && (err = tok_key_jwk(key, &jwk)) == CSA_OK &&
             (err = csa_jwk_thumbprint(jwk, &thumb)) == CSA_OK)
        printf("{\"jwk\":%s,\"thumbprint\":\"%s\"}\n", jwk, thumb);
    free(jwk);
    free(thumb);
    tok_key_free(key);
    tok_close(tok);
    return err == CSA_OK ? AGT_EXIT_OK : agt_fail_exit(err);
}
