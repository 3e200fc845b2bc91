/* SPDX-License-Identifier: Apache-2.0 */
/* ACME commands: account, enroll, revoke, status. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agt_session.h"
#include "agt_status.h"
#include "csa_log.h"

static int agt_usage_err(const char *usage)
{
    fputs(usage, stderr);
    return AGT_EXIT_USAGE;
}

/* Parses only --help; returns -1 to go on, else an exit code. */
static int agt_simple_opts(int argc, char **argv, const char *usage)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return fputs(usage, stdout), AGT_EXIT_OK;
        return agt_usage_err(usage);
    }
    return -1;
}

static void agt_print_account(const acme_account *a)
{
    size_t i;

    printf("account: %s\nstatus: %s\n", a->url, acme_status_name(a->status));
    for (i = 0; i < a->n_contact; i++)
        printf("contact: %s\n", a->contact[i]);
}

int agt_cmd_account(agt_globals *g, int argc, char **argv)
{
    static const char usage[] =
        "usage: csagent account register|show|update|rollover|deactivate\n"
        "  register    create the ACME account (or find the existing one)\n"
        "              with the account key in the token (generated if\n"
        "              missing), contact, terms and EAB from the config\n"
        "  show        print the account (never creates one)\n"
        "  update      replace the account's contacts with the config's\n"
        "  rollover    new account key in the token, keyChange, and the\n"
        "              old key deleted only after the CA accepted; waits\n"
        "              (up to 15 min) for other csagent commands using the\n"
        "              account key, which wait for it (up to 5 min)\n"
        "  deactivate  deactivate the account (irreversible)\n";
    const char *sub = argc > 1 ? argv[1] : NULL;
    acme_account *a = NULL;
    agt_session s;
    csa_err err;
    int rc = agt_simple_opts(argc, argv, usage);

    if (rc >= 0)
        return rc;
    if (sub == NULL || (strcmp(sub, "register") && strcmp(sub, "show") &&
                        strcmp(sub, "update") && strcmp(sub, "rollover") &&
                        strcmp(sub, "deactivate")))
        return agt_usage_err(usage);
    /* A rollover holds the account lock exclusive from the start, so it
     * waits for every other user of the account key and they wait for it
     * (bounded, see agt_session.h); the others hold it shared. */
    err = agt_session_open_mode(
        g, !strcmp(sub, "register"),
        !strcmp(sub, "rollover") ? AGT_LOCK_EXCLUSIVE : AGT_LOCK_SHARED, &s);
    if (err != CSA_OK)
        return agt_fail_exit(err);
    if (!strcmp(sub, "register") || !strcmp(sub, "show"))
        err = agt_account_ensure(&s, !strcmp(sub, "show"), &a);
    else if (!strcmp(sub, "rollover"))
        err = agt_account_rollover(&s);
    else if (!strcmp(sub, "update")) {
        if ((err = agt_account_ensure(&s, true, NULL)) == CSA_OK)
            err = agt_net_update(s.net, (const char *const *)s.cfg->contact,
                                 (size_t)s.cfg->n_contact, &a);
    } else if ((err = agt_account_ensure(&s, true, NULL)) == CSA_OK &&
               (err = agt_net_deactivate(s.net)) == CSA_OK)
        printf("account %s deactivated\n", agt_net_kid(s.net));
    if (err == CSA_OK && a != NULL)
        agt_print_account(a);
    acme_account_free(a);
    agt_session_close(&s);
    return err == CSA_OK ? AGT_EXIT_OK : agt_fail_exit(err);
}

int agt_cmd_enroll(agt_globals *g, int argc, char **argv)
{
    static const char usage[] =
        "usage: csagent enroll IDENTITY\n"
        "Enrolls (or renews now) one identity of the configuration: key\n"
        "generated in the token, ACME order, challenges, CSR signed in the\n"
        "token, issued chain verified against the key, profile, policy and\n"
        "trust anchor, then stored under the identity's label.\n";
    const agt_identity *id;
    char *serial = NULL;
    agt_session s;
    csa_err err;
    int rc = agt_simple_opts(argc, argv, usage);

    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return agt_usage_err(usage);
    if ((err = agt_session_open(g, true, &s)) != CSA_OK)
        return agt_fail_exit(err);
    id = agt_config_identity(s.cfg, argv[optind]);
    if (id == NULL)
        err = csa_raise(CSA_ERR_CONFIG, "%s: no identity named '%s'",
                        s.cfg->path, argv[optind]);
    if (err == CSA_OK &&
        (err = agt_account_ensure(&s, false, NULL)) == CSA_OK &&
        (err = agt_enroll(&s, id, NULL, &serial)) == CSA_OK)
        printf("enrolled %s: serial %s, label \"%s\" on token \"%s\"\n",
               id->name, serial, id->label, tok_token_label(s.tok));
    free(serial);
    agt_session_close(&s);
    return err == CSA_OK ? AGT_EXIT_OK : agt_fail_exit(err);
}

int agt_cmd_revoke(agt_globals *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"with-cert-key", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char usage[] =
        "usage: csagent revoke IDENTITY [--reason CODE] [--with-cert-key]\n"
        "Revokes the identity's current certificate, signed by the account\n"
        "key or, with --with-cert-key, by the certificate's own key in the\n"
        "token.  CODE is an RFC 5280 CRLReason (e.g. 1 keyCompromise,\n"
        "4 superseded, 5 cessationOfOperation).\n";
    const agt_identity *id;
    unsigned char *der = NULL;
    X509 *x = NULL;
    int c, reason = -1, len, with_key = 0;
    tok_key *ck = NULL;
    agt_jws_key *cs = NULL;
    agt_session s;
    csa_err err;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'r')
            reason = atoi(optarg);
        else if (c == 'k')
            with_key = 1;
        else if (c == 'h')
            return fputs(usage, stdout), AGT_EXIT_OK;
        else
            return agt_usage_err(usage);
    }
    if (optind >= argc)
        return agt_usage_err(usage);
    if ((err = agt_session_open(g, false, &s)) != CSA_OK)
        return agt_fail_exit(err);
    id = agt_config_identity(s.cfg, argv[optind]);
    if (id == NULL)
        err = csa_raise(CSA_ERR_CONFIG, "no identity named '%s'", argv[optind]);
    if (err == CSA_OK && (err = agt_current_cert(s.tok, id, &x)) == CSA_OK &&
        with_key && (err = tok_key_find(s.tok, id->label, &ck)) == CSA_OK)
        err = agt_jws_key_new(ck, NULL, &cs);
    if (err == CSA_OK && !with_key)
        err = agt_account_ensure(&s, true, NULL);
    if (err == CSA_OK) {
        len = i2d_X509(x, &der);
        err = agt_net_revoke(s.net, der, (size_t)len, reason,
                             cs ? agt_jws_key_signer(cs) : NULL);
    }
    agt_jws_key_free(cs);
    tok_key_free(ck);
    if (err == CSA_OK)
        printf("revoked the certificate of %s\n", id->name);
    OPENSSL_free(der);
    X509_free(x);
    agt_session_close(&s);
    return err == CSA_OK ? AGT_EXIT_OK : agt_fail_exit(err);
}
