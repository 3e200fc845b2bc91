/* SPDX-License-Identifier: Apache-2.0 */
/* otp-import: an authenticator seed (base32) into the token as an HMAC
 * secret, from a file or standard input, never argv. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agt.h"

/* RFC 4648 base32, case-insensitive; spaces, dashes and '=' ignored, as
 * authenticator apps print seeds in groups. */
static csa_err agt_base32_decode(const csa_secret *in, csa_secret *out)
{
    unsigned char buf[512];
    size_t i, n = 0;
    unsigned acc = 0;
    int bits = 0;
    csa_err err = CSA_OK;

    for (i = 0; i < in->len && err == CSA_OK; i++) {
        int c = toupper(in->data[i]), v;

        if (c == ' ' || c == '-' || c == '=' || c == '\n' || c == '\r')
            continue;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= '2' && c <= '7')
            v = c - '2' + 26;
        else {
            err = csa_raise(CSA_ERR_INVALID,
                            "the seed is not base32 (bad character at "
                            "offset %zu)",
                            i);
            break;
        }
        acc = (acc << 5) | (unsigned)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (n == sizeof(buf))
                err = csa_raise(CSA_ERR_INVALID, "the seed is too long");
            else
                buf[n++] = (unsigned char)(acc >> bits);
        }
    }
    if (err == CSA_OK && n < 10)
        err = csa_raise(CSA_ERR_INVALID,
                        "the seed is %zu bytes; RFC 4226 asks for at least "
                        "16 (128 bits)",
                        n);
    if (err == CSA_OK)
        err = csa_secret_set(out, buf, n);
    csa_cleanse(buf, sizeof(buf));
    csa_cleanse(&acc, sizeof(acc));
    return err;
}

int agt_cmd_otp_import(agt_globals *g, int argc, char **argv)
{
    static const struct option opts[] = {
        AGT_TOKEN_OPTS,
        {"label", required_argument, NULL, 'l'},
        {"file", required_argument, NULL, 'f'},
        {"force", no_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    static const char usage[] =
        "usage: csagent otp-import --label LABEL [--file FILE] [--force]\n"
        "Imports an OTP seed (base32, as authenticator apps show it) from\n"
        "FILE or standard input into the token as an HMAC secret:\n"
        "sensitive, never extractable, sign-only.  Use the label as\n"
        "otp_secret of an identity for hotp-01/totp-01.\n"
        "  --force  replace an existing secret with this "
        "label\n" AGT_TOKEN_HELP;
    const char *label = NULL, *file = "fd:0";
    csa_secret text = {0}, seed = {0};
    tok_ctx *tok = NULL;
    bool force = false;
    csa_err err;
    int c;

    while ((c = agt_getopt(argc, argv, "h", opts)) != -1) {
        if (c == 'l')
            label = optarg;
        else if (c == 'f')
            file = optarg;
        else if (c == 'F')
            force = true;
        else if (c == 'h')
            return fputs(usage, stdout), AGT_EXIT_OK;
        else if (!agt_token_opt(g, c, optarg))
            return fputs(usage, stderr), AGT_EXIT_USAGE;
    }
    if (label == NULL)
        return fputs(usage, stderr), AGT_EXIT_USAGE;
    if ((err = csa_secret_read(file, &text)) == CSA_OK &&
        (err = agt_base32_decode(&text, &seed)) == CSA_OK &&
        (err = agt_open_token(g, 1, &tok)) == CSA_OK)
        err = tok_secret_import(tok, label, &seed, force);
    csa_secret_free(&text);
    csa_secret_free(&seed);
    tok_close(tok);
    if (err != CSA_OK)
        return agt_fail_exit(err);
    printf("imported OTP seed as \"%s\"\n", label);
    return AGT_EXIT_OK;
}
