/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the command files: config, token, exit codes. */
#include <stdio.h>
#include <stdlib.h>

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
