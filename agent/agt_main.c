/* SPDX-License-Identifier: Apache-2.0 */
/* csagent: command-line entry, global options and dispatch. */
#include <getopt.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agt.h"
#include "agt_net.h"
#include "csa_log.h"

static const struct {
    const char *name;
    agt_cmd_fn fn;
    const char *summary;
} agt_cmds[] = {
    {"token-init", agt_cmd_token_init,
     "initialise an empty token (label, SO PIN and user PIN from files)"},
    {"list", agt_cmd_list, "list the token's keys, secrets and certificates"},
    {"keygen", agt_cmd_keygen, "generate a key pair in the token"},
    {"pubkey", agt_cmd_pubkey,
     "print a key's public JWK and thumbprint (for ppkp-01 registration)"},
    {"account", agt_cmd_account,
     "register, show, roll over or deactivate the ACME account"},
    {"enroll", agt_cmd_enroll, "enroll or renew one identity now"},
    {"revoke", agt_cmd_revoke, "revoke an identity's certificate"},
    {"run", agt_cmd_run,
     "the long-running agent: renew on time, swap in, sleep"},
    {"status", agt_cmd_status,
     "each identity's certificate and next renewal (--json)"},
    {"check", agt_cmd_check,
     "check the configuration against the policy (no token, no network)"},
    {"exec", agt_cmd_exec,
     "run a signing command with the identity's current pair, no swap"},
    {"sign", agt_cmd_sign,
     "run a signing command with a one-use key and certificate "
     "(= exec --ephemeral)"},
    {"orphans", agt_cmd_orphans,
     "list (or delete, when named) token objects with no label and no id"},
    {"otp-import", agt_cmd_otp_import,
     "import an OTP seed (base32) into the token for hotp/totp-01"},
};

static void agt_usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: csagent [--config FILE] [-v|-q] COMMAND [OPTIONS]\n"
               "       csagent [--config FILE] --version\n"
               "\n"
               "Enrollment agent that keeps every private key in a PKCS#11\n"
               "token and speaks ACME (RFC 8555) to a CA.\n"
               "\n"
               "Commands (csagent COMMAND --help for each):\n");
    for (i = 0; i < sizeof(agt_cmds) / sizeof(agt_cmds[0]); i++)
        fprintf(f, "  %-12s %s\n", agt_cmds[i].name, agt_cmds[i].summary);
    fprintf(f, "\n"
               "Global options:\n"
               "  -c, --config FILE  configuration (default: $CSAGENT_CONFIG)\n"
               "  -v, --verbose      debug logging (every PKCS#11 call)\n"
               "  -q, --quiet        errors only\n"
               "  -h, --help         this text\n"
               "  --version          versions of csagent, OpenSSL, libcurl,\n"
               "                     json-c and the configured PKCS#11\n"
               "                     module (C_GetInfo; no PIN needed)\n"
               "\n"
               "Exit codes: 0 ok, 1 failure, 2 usage, 3 configuration,\n"
               "4 token or PIN, 5 CA or network, 6 refused by policy or\n"
               "verification.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    agt_globals g = {0};
    struct rlimit no_core = {0, 0};
    size_t i;
    int c, rc, version = 0;

    /* A PIN passes through this process's memory: never into a core file
     * (and not readable through ptrace by other processes of the user). */
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    while ((c = getopt_long(argc, argv, "+c:vqh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            g.config_path = optarg;
            break;
        case 'v':
            csa_log_set_level(CSA_LOG_DEBUG);
            break;
        case 'q':
            csa_log_set_level(CSA_LOG_ERROR);
            break;
        case 'h':
            agt_usage(stdout);
            return AGT_EXIT_OK;
        case 'V':
            version = 1;
            break;
        default:
            agt_usage(stderr);
            return AGT_EXIT_USAGE;
        }
    }
    if (version) {
        /* After the loop, so that a -c after --version counts too. */
        rc = agt_print_version(&g, stdout);
        agt_config_free(g.cfg);
        return rc;
    }
    if (optind >= argc) {
        agt_usage(stderr);
        return AGT_EXIT_USAGE;
    }
    for (i = 0; i < sizeof(agt_cmds) / sizeof(agt_cmds[0]); i++) {
        if (strcmp(argv[optind], agt_cmds[i].name) == 0) {
            argc -= optind;
            argv += optind;
            optind = 0; /* reset getopt for the command */
            rc = agt_cmds[i].fn(&g, argc, argv);
            agt_config_free(g.cfg);
            return rc;
        }
    }
    if (strcmp(argv[optind], "__net") == 0) {
        /* The network process (agt_net.h), started by csagent itself. */
        argc -= optind;
        argv += optind;
        optind = 0;
        rc = agt_cmd_net(&g, argc, argv);
        agt_config_free(g.cfg);
        return rc;
    }
    fprintf(stderr, "csagent: unknown command '%s'\n", argv[optind]);
    agt_usage(stderr);
    return AGT_EXIT_USAGE;
}
