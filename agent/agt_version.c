/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csagent --version: csagent's own version and those of the libraries it
 * runs with, and, when a configuration names a PKCS#11 module, what that
 * module says of itself.  Runs in the process the operator started, never
 * in the network process; loading the module reads no PIN and opens no
 * session, so it works for any user who may read the configuration.
 */
#include <ctype.h>
#include <stdio.h>

#include <curl/curl.h>
#include <json-c/json_c_version.h>
#include <openssl/crypto.h>

#include "agt.h"

#ifndef CSA_VERSION
#define CSA_VERSION "unknown"
#endif

/* A module's strings are its own bytes: print only what a terminal shows
 * as text. */
static void agt_print_field(FILE *f, const char *name, const char *value)
{
    fprintf(f, "  %-18s ", name);
    for (; *value != '\0'; value++)
        fputc(isprint((unsigned char)*value) ? *value : '?', f);
    fputc('\n', f);
}

static void agt_print_libs(FILE *f)
{
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);

    fprintf(f, "csagent %s\n", CSA_VERSION);
    fprintf(f, "  %-18s %s\n", "OpenSSL", OpenSSL_version(OPENSSL_VERSION));
    fprintf(f, "  %-18s %s (%s)\n", "libcurl", curl->version,
            curl->ssl_version ? curl->ssl_version : "no TLS");
    fprintf(f, "  %-18s %s\n", "json-c", json_c_version());
}

/* The module named by --config or CSAGENT_CONFIG ([token] module, or the
 * URI's module-path / module-name); nothing when there is no
 * configuration. */
static int agt_print_module(agt_globals *g, FILE *f)
{
    tok_module_info mi;
    csa_err err = agt_load_config(g, 0);

    if (err != CSA_OK)
        return agt_fail_exit(err);
    if (g->cfg == NULL || (g->cfg->module == NULL && g->cfg->token_uri == NULL))
        return AGT_EXIT_OK;
    fprintf(f, "PKCS#11 module %s\n",
            g->cfg->module ? g->cfg->module : "(from [token] uri)");
    if ((err = tok_module_info_get(g->cfg->module, g->cfg->token_uri, &mi)) !=
        CSA_OK)
        return agt_fail_exit(err);
    agt_print_field(f, "manufacturer", mi.manufacturer);
    agt_print_field(f, "description", mi.description);
    fprintf(f, "  %-18s %u.%u\n", "library version", mi.lib_major,
            mi.lib_minor);
    fprintf(f, "  %-18s %u.%u\n", "cryptoki version", mi.cryptoki_major,
            mi.cryptoki_minor);
    return AGT_EXIT_OK;
}

int agt_print_version(agt_globals *g, FILE *f)
{
    agt_print_libs(f);
    fflush(f);
    return agt_print_module(g, f);
}
