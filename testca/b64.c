/* SPDX-License-Identifier: Apache-2.0 */
/* Encodings (base64, base64url, base32, hex) and random tokens. */
#include "csca.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Returns a NUL-terminated string the caller frees. */
char *b64std_enc(const uint8_t *in, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);

    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

char *b64url_enc(const uint8_t *in, size_t len)
{
    char *out = b64std_enc(in, len);
    char *p;

    if (out == NULL)
        return NULL;
    for (p = out; *p != '\0'; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
        else if (*p == '=') {
            *p = '\0';
            break;
        }
    }
    return out;
}

/* Decode padded standard base64 of n chars (n % 4 == 0). */
static int dec_padded(const char *in, size_t n, uint8_t **out, size_t *outlen)
{
    uint8_t *buf;
    int r;
    size_t pad = 0;

    if (n % 4 != 0)
        return -1;
    buf = malloc(n / 4 * 3 + 1);
    if (buf == NULL)
        return -1;
    r = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
    if (r < 0) {
        free(buf);
        return -1;
    }
    if (n > 0 && in[n - 1] == '=')
        pad++;
    if (n > 1 && in[n - 2] == '=')
        pad++;
    /* Always NUL-terminated (one spare byte), so a decoded JSON text can be
     * handed to a string parser. */
    buf[(size_t)r - pad] = '\0';
    *out = buf;
    *outlen = (size_t)r - pad;
    return 0;
}

/* The decoders take NULL (a member that was absent) as bad input. */
int b64url_dec(const char *in, uint8_t **out, size_t *outlen)
{
    size_t n, i;
    char *tmp;
    int r;

    if (in == NULL)
        return -1;
    n = strlen(in);
    if (n % 4 == 1)
        return -1;
    tmp = malloc(n + 4);
    if (tmp == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!isalnum((unsigned char)c)) {
            free(tmp);
            return -1;
        }
        tmp[i] = c;
    }
    while (i % 4 != 0)
        tmp[i++] = '=';
    r = dec_padded(tmp, i, out, outlen);
    free(tmp);
    return r;
}

int b64std_dec(const char *in, uint8_t **out, size_t *outlen)
{
    size_t n, i;

    if (in == NULL)
        return -1;
    n = strlen(in);

    for (i = 0; i < n; i++) {
        char c = in[i];
        if (!isalnum((unsigned char)c) && c != '+' && c != '/' && c != '=')
            return -1;
    }
    return dec_padded(in, n, out, outlen);
}

/* RFC 4648 base32 as authenticator apps show it: case and spaces ignored,
 * padding optional. */
int b32_dec(const char *in, uint8_t **out, size_t *outlen)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint8_t *buf = in ? malloc(strlen(in) * 5 / 8 + 1) : NULL;
    size_t n = 0;
    unsigned bits = 0, acc = 0;

    if (buf == NULL)
        return -1;
    for (; *in != '\0' && *in != '='; in++) {
        const char *p;
        if (isspace((unsigned char)*in) || *in == '-')
            continue;
        p = strchr(alpha, toupper((unsigned char)*in));
        if (p == NULL) {
            free(buf);
            return -1;
        }
        acc = (acc << 5) | (unsigned)(p - alpha);
        bits += 5;
        if (bits >= 8) {
            buf[n++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    *out = buf;
    *outlen = n;
    return 0;
}

/* Tokens may be secrets (the management token): the raw bytes are wiped
 * from the stack. */
char *rand_token(size_t nbytes)
{
    uint8_t buf[64];
    char *out = NULL;

    if (nbytes <= sizeof(buf) && RAND_bytes(buf, (int)nbytes) == 1)
        out = b64url_enc(buf, nbytes);
    OPENSSL_cleanse(buf, sizeof(buf));
    return out;
}

char *hex_enc(const uint8_t *in, size_t len)
{
    char *out = malloc(2 * len + 1);
    size_t i;

    if (out == NULL)
        return NULL;
    for (i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
    out[2 * len] = '\0';
    return out;
}
