/* SPDX-License-Identifier: Apache-2.0 */
/* csca command line: `csca serve ...` and the registry subcommands. */
#include "csca.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json_c_version.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>

#ifndef CSA_VERSION
#define CSA_VERSION "unknown"
#endif

struct csca_ctx CS;

static void usage(FILE *f)
{
    fprintf(
        f, "usage: csca serve --state DIR [options]\n"
           "  --port N              TCP port on 127.0.0.1 (0: pick one)\n"
           "  --port-file FILE      write the bound port to FILE\n"
           "  --registry FILE       registry (default DIR/registry.json)\n"
           "  --validity DURATION   certificate lifetime: 460d, 90s, 2h...\n"
           "  --min-validity DUR    allow newOrder notAfter between now + DUR\n"
           "                        and now + --validity\n"
           "  --tsa-port N          also serve POST /tsa on plain HTTP,\n"
           "                        127.0.0.1:N (0: pick one)\n"
           "  --tsa-port-file FILE  write the TSA port to FILE\n"
           "  --tsa-policy OID      TSA policy (default 2.25.<csca's UUID>)\n"
           "  --require-eab         newAccount needs externalAccountBinding\n"
           "  --always-valid        dns-01/http-01 are valid on any answer\n"
           "  --ari-window-past     every suggestedWindow lies in the past\n"
           "  --misissue=KIND       wrong-eku | long-lifetime | other-key |\n"
           "                        late-not-after\n"
           "  --otp-program PATH    verifier for otp-01 (env CSCA_OTP_*)\n"
           "  --otp-rate N          OTP answers per account per minute (10)\n"
           "  --default-org NAME    organisation of accounts made without EAB\n"
           "  --mgmt-token-file F   bearer token of the /csca/ management\n"
           "                        endpoints (default DIR/mgmt.token; made\n"
           "                        mode 0600 when absent)\n"
           "       csca org add|eab add|otp add|ppkp add|admin add|list ...\n"
           "       csca --version\n"
           "       (see docs/csca.md)\n");
}

/* "90s", "15m", "2h", "460d"; a bare number means days. -1 when bad. */
static long parse_duration(const char *s)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || v <= 0 || v > 100000L * 86400)
        return -1;
    if (*end == '\0' || strcmp(end, "d") == 0)
        return v > 100000 ? -1 : v * 86400;
    if (strcmp(end, "s") == 0)
        return v;
    if (strcmp(end, "m") == 0)
        return v * 60;
    if (strcmp(end, "h") == 0)
        return v * 3600;
    return -1;
}

static int parse_misissue(const char *s)
{
    if (strcmp(s, "wrong-eku") == 0)
        CS.o.misissue = MIS_WRONG_EKU;
    else if (strcmp(s, "long-lifetime") == 0)
        CS.o.misissue = MIS_LONG_LIFETIME;
    else if (strcmp(s, "other-key") == 0)
        CS.o.misissue = MIS_OTHER_KEY;
    else if (strcmp(s, "late-not-after") == 0)
        CS.o.misissue = MIS_LATE_NOT_AFTER;
    else
        return -1;
    return 0;
}

enum {
    OPT_PORT = 256,
    OPT_PORT_FILE,
    OPT_REGISTRY,
    OPT_VALIDITY,
    OPT_REQUIRE_EAB,
    OPT_ALWAYS_VALID,
    OPT_ARI_PAST,
    OPT_MISISSUE,
    OPT_OTP_PROGRAM,
    OPT_OTP_RATE,
    OPT_DEFAULT_ORG,
    OPT_MGMT_TOKEN_FILE,
    OPT_MIN_VALIDITY,
    OPT_TSA_PORT,
    OPT_TSA_PORT_FILE,
    OPT_TSA_POLICY,
    OPT_STATE,
};

static const struct option serve_opts[] = {
    {"state", required_argument, NULL, OPT_STATE},
    {"port", required_argument, NULL, OPT_PORT},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"registry", required_argument, NULL, OPT_REGISTRY},
    {"validity", required_argument, NULL, OPT_VALIDITY},
    {"require-eab", no_argument, NULL, OPT_REQUIRE_EAB},
    {"always-valid", no_argument, NULL, OPT_ALWAYS_VALID},
    {"ari-window-past", no_argument, NULL, OPT_ARI_PAST},
    {"misissue", required_argument, NULL, OPT_MISISSUE},
    {"otp-program", required_argument, NULL, OPT_OTP_PROGRAM},
    {"otp-rate", required_argument, NULL, OPT_OTP_RATE},
    {"default-org", required_argument, NULL, OPT_DEFAULT_ORG},
    {"mgmt-token-file", required_argument, NULL, OPT_MGMT_TOKEN_FILE},
    {"min-validity", required_argument, NULL, OPT_MIN_VALIDITY},
    {"tsa-port", required_argument, NULL, OPT_TSA_PORT},
    {"tsa-port-file", required_argument, NULL, OPT_TSA_PORT_FILE},
    {"tsa-policy", required_argument, NULL, OPT_TSA_POLICY},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* A dotted OID that OpenSSL can encode (no names: the policy is ours). */
static int parse_oid(const char *s)
{
    ASN1_OBJECT *o = OBJ_txt2obj(s, 1);

    ASN1_OBJECT_free(o);
    return o != NULL ? 0 : -1;
}

/* The options of csca's time-stamp authority and short-lived orders. */
static int serve_opt_tsa(int c, const char *arg)
{
    char *end;

    switch (c) {
    case OPT_MIN_VALIDITY:
        CS.o.min_validity = parse_duration(arg);
        return CS.o.min_validity < 0 ? -1 : 0;
    case OPT_TSA_PORT:
        CS.o.tsa_listen = true;
        CS.o.tsa_port = (unsigned)strtoul(arg, &end, 10);
        return (*end || *arg == '\0' || CS.o.tsa_port > 65535) ? -1 : 0;
    case OPT_TSA_PORT_FILE:
        CS.o.tsa_port_file = arg;
        return 0;
    case OPT_TSA_POLICY:
        CS.o.tsa_policy = arg;
        return parse_oid(arg);
    default:
        return -1;
    }
}

static int serve_opt(int c, const char *arg)
{
    char *end;

    switch (c) {
    case OPT_STATE:
        CS.o.state_dir = arg;
        return 0;
    case OPT_PORT:
        CS.o.port = (unsigned)strtoul(arg, &end, 10);
        return (*end || CS.o.port > 65535) ? -1 : 0;
    case OPT_PORT_FILE:
        CS.o.port_file = arg;
        return 0;
    case OPT_REGISTRY:
        CS.o.registry = arg;
        return 0;
    case OPT_VALIDITY:
        CS.o.validity = parse_duration(arg);
        return CS.o.validity < 0 ? -1 : 0;
    case OPT_REQUIRE_EAB:
        CS.o.require_eab = true;
        return 0;
    case OPT_ALWAYS_VALID:
        CS.o.always_valid = true;
        return 0;
    case OPT_ARI_PAST:
        CS.o.ari_past = true;
        return 0;
    case OPT_MISISSUE:
        return parse_misissue(arg);
    case OPT_OTP_PROGRAM:
        CS.o.otp_program = arg;
        return 0;
    case OPT_OTP_RATE:
        CS.o.otp_rate = strtol(arg, &end, 10);
        return (*end || CS.o.otp_rate <= 0) ? -1 : 0;
    case OPT_DEFAULT_ORG:
        CS.o.default_org = arg;
        return 0;
    case OPT_MGMT_TOKEN_FILE:
        CS.o.mgmt_token_file = arg;
        return 0;
    default:
        return serve_opt_tsa(c, arg);
    }
}

/* csca --version: its own version and the libraries it runs with. */
static int print_version(void)
{
    printf("csca %s\n", CSA_VERSION);
    printf("  %-18s %s\n", "OpenSSL", OpenSSL_version(OPENSSL_VERSION));
    printf("  %-18s %s\n", "json-c", json_c_version());
    printf("  %-18s %s\n", "libmicrohttpd", MHD_get_version());
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    int c;

    CS.o.validity = 460L * 86400;
    CS.o.otp_rate = 10;
    while ((c = getopt_long(argc, argv, "h", serve_opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (serve_opt(c, optarg) != 0) {
            fprintf(stderr, "csca: bad option or value%s%s\n",
                    optarg ? ": " : "", optarg ? optarg : "");
            return 2;
        }
    }
    if (CS.o.state_dir == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (CS.o.min_validity > CS.o.validity) {
        fprintf(stderr, "csca: --min-validity exceeds --validity\n");
        return 2;
    }
    if (CS.o.tsa_port_file != NULL && !CS.o.tsa_listen) {
        fprintf(stderr, "csca: --tsa-port-file needs --tsa-port\n");
        return 2;
    }
    if (csca_init() != 0)
        return 1;
    return http_serve() == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return print_version();
    return registry_cli(argc - 1, argv + 1);
}
