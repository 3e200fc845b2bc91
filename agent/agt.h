/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the csagent CLI's command files. */
#ifndef AGT_H
#define AGT_H

#include <stdio.h>

#include "agt_config.h"
#include "csa_err.h"
#include "tok.h"

/* Exit codes (documented in docs/cli.md and --help). */
enum {
    AGT_EXIT_OK = 0,
    AGT_EXIT_FAIL = 1,
    AGT_EXIT_USAGE = 2,
    AGT_EXIT_CONFIG = 3,
    AGT_EXIT_TOKEN = 4,
    AGT_EXIT_CA = 5,
    AGT_EXIT_POLICY = 6,
};

/* Options every command may take; each overrides the config file. */
typedef struct {
    const char *config_path;
    const char *module;
    const char *token_uri;
    const char *pin_file;
    agt_config *cfg; /* loaded lazily; NULL when no config */
} agt_globals;

typedef int (*agt_cmd_fn)(agt_globals *g, int argc, char **argv);

/* The token options every token command takes (see agt_token_opt). */
#define AGT_TOKEN_OPTS                                                         \
    {"module", required_argument, NULL, 'M'},                                  \
        {"token", required_argument, NULL, 'T'},                               \
        {"pin-file", required_argument, NULL, 'P'},                            \
    {                                                                          \
        "help", no_argument, NULL, 'h'                                         \
    }

#define AGT_TOKEN_HELP                                                         \
    "  --module PATH|NAME  PKCS#11 module file, or a p11-kit module name\n"    \
    "  --token URI         pkcs11: URI choosing the token (token=, serial=)\n" \
    "  --pin-file FILE     user PIN from FILE, or fd:N (never on argv)\n"

/* Loads the config named by --config or CSAGENT_CONFIG if not yet loaded.
 * required: fail when there is none. */
csa_err agt_load_config(agt_globals *g, int required);
/* Opens the token from the options or config; login when pin is set. */
csa_err agt_open_token(agt_globals *g, int login, tok_ctx **out);
/* Prints the current error and maps it to an exit code. */
int agt_fail_exit(csa_err err);
/* getopt_long with long options matched exactly (no abbreviations: a PIN
 * typed after `--pin` must never become a file name in an error) and an
 * explicit refusal of `--pin`.  Returns '?' once for a refused option. */
struct option;
int agt_getopt(int argc, char **argv, const char *shortopts,
               const struct option *opts);
/* Handles the token options; returns 1 if opt was one of them. */
int agt_token_opt(agt_globals *g, int opt, const char *arg);

/* "private-key", "certificate", ... as `list` and `orphans` print them. */
const char *agt_class_name(tok_class cls);

int agt_cmd_token_init(agt_globals *g, int argc, char **argv);
int agt_cmd_list(agt_globals *g, int argc, char **argv);
int agt_cmd_keygen(agt_globals *g, int argc, char **argv);
int agt_cmd_pubkey(agt_globals *g, int argc, char **argv);
int agt_cmd_account(agt_globals *g, int argc, char **argv);
int agt_cmd_enroll(agt_globals *g, int argc, char **argv);
int agt_cmd_revoke(agt_globals *g, int argc, char **argv);
int agt_cmd_status(agt_globals *g, int argc, char **argv);
int agt_cmd_otp_import(agt_globals *g, int argc, char **argv);
int agt_cmd_check(agt_globals *g, int argc, char **argv);
int agt_cmd_run(agt_globals *g, int argc, char **argv);
int agt_cmd_exec(agt_globals *g, int argc, char **argv);
int agt_cmd_sign(agt_globals *g, int argc, char **argv);
int agt_cmd_orphans(agt_globals *g, int argc, char **argv);

/* `csagent --version`: csagent's and its libraries' versions, then the
 * configured PKCS#11 module's C_GetInfo (no PIN, no session).  Returns an
 * exit code. */
int agt_print_version(agt_globals *g, FILE *f);

#endif
