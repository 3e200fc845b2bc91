/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the command files: config, token, exit codes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agt.h"

csa_err agt_load_config(agt_globals *g, int required)
{
    const char *path =
        g->config_path ? g->config_path : getenv("CSAGENT_CONFIG");

    if (g->cfg != NULL)
        return CSA_OK;
    if (path == NULL || *path == '\0') {
        if (required)
            return csa_raise(CSA_ERR_CONFIG,
                             "no configuration: use --config FILE or set "
                             "CSAGENT_CONFIG");
        return CSA_OK;
    }
    return agt_config_load(path, &g->cfg);
}

int agt_token_opt(agt_globals *g, int opt, const char *arg)
{
    switch (opt) {
    case 'M':
        g->module = arg;
        return 1;
    case 'T':
        g->token_uri = arg;
        return 1;
    case 'P':
        g->pin_file = arg;
        return 1;
    default:
        return 0;
    }
}

csa_err agt_open_token(agt_globals *g, int login, tok_ctx **out)
{
    const char *module = g->module, *uri = g->token_uri, *pin = g->pin_file;
    csa_err err = agt_load_config(g, 0);

    *out = NULL;
    if (err != CSA_OK)
        return err;
    if (g->cfg != NULL) {
        module = module ? module : g->cfg->module;
        uri = uri ? uri : g->cfg->token_uri;
        pin = pin ? pin : g->cfg->pin_file;
    }
    if (uri == NULL)
        return csa_raise(CSA_ERR_CONFIG,
                         "no token chosen: set uri in [token] or --token URI");
    if ((err = tok_open(module, uri, out)) != CSA_OK)
        return err;
    if (login && (err = tok_login(*out, pin)) != CSA_OK) {
        tok_close(*out);
        *out = NULL;
    }
    return err;
}

int agt_fail_exit(csa_err err)
{
    fprintf(stderr, "csagent: error: %s\n", csa_errmsg());
    switch (err) {
    case CSA_OK:
        return AGT_EXIT_OK;
    case CSA_ERR_CONFIG:
        return AGT_EXIT_CONFIG;
    case CSA_ERR_TOKEN:
    case CSA_ERR_PIN:
        return AGT_EXIT_TOKEN;
    case CSA_ERR_NETWORK:
    case CSA_ERR_TLS:
    case CSA_ERR_PROTOCOL:
    case CSA_ERR_CA_PROBLEM:
    case CSA_ERR_TIMEOUT:
        return AGT_EXIT_CA;
    case CSA_ERR_POLICY:
    case CSA_ERR_VERIFY:
        return AGT_EXIT_POLICY;
    default:
        return AGT_EXIT_FAIL;
    }
}

/*
 * getopt_long takes any unambiguous prefix of a long option: `--pin 1234`
 * would become `--pin-file 1234`, and the error about the file would print
 * the PIN.  Long options are therefore matched exactly, and `--pin` gets a
 * refusal of its own; neither message repeats a value.
 */
static int agt_opts_exact(int argc, char **argv, const char *shortopts,
                          const struct option *opts)
{
    int i;
    size_t n;
    const struct option *o;

    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (argv[i][0] != '-' && shortopts[0] == '+')
            break; /* options end at the first operand */
        if (strncmp(argv[i], "--", 2) != 0)
            continue;
        n = strcspn(argv[i] + 2, "=");
        if (n == 3 && strncmp(argv[i] + 2, "pin", 3) == 0) {
            fprintf(stderr, "csagent: --pin is refused: a PIN never goes on "
                            "the command line; use --pin-file FILE (mode "
                            "0600) or fd:N\n");
            return 0;
        }
        for (o = opts; o->name != NULL; o++)
            if (strlen(o->name) == n && !strncmp(o->name, argv[i] + 2, n))
                break;
        if (o->name == NULL) {
            fprintf(stderr,
                    "csagent: unknown option '--%.*s' (options are never "
                    "abbreviated)\n",
                    (int)(n > 64 ? 64 : n), argv[i] + 2);
            return 0;
        }
        if (o->has_arg == required_argument && argv[i][2 + n] == '\0')
            i++; /* its value is not an option */
    }
    return 1;
}

int agt_getopt(int argc, char **argv, const char *shortopts,
               const struct option *opts)
{
    if (optind <= 1 && !agt_opts_exact(argc, argv, shortopts, opts)) {
        optind = argc; /* what follows is not parsed */
        return '?';
    }
    return getopt_long(argc, argv, shortopts, opts, NULL);
}
