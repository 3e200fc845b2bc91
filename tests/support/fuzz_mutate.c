/* SPDX-License-Identifier: Apache-2.0 */
#include "fuzz_mutate.h"

#include <stdio.h>
#include <string.h>

void fz_mutate(unsigned char *buf, size_t *len, size_t cap, unsigned *state)
{
    static const unsigned char special[] = {'%', '.', '"', '{', 0, '\n'};
    unsigned s = *state = *state * 1103515245u + 12345u;
    size_t at = (s >> 4) % *len;

    switch ((s >> 16) % 5) {
    case 0: /* set a byte */
        buf[at] = (unsigned char)(s >> 20);
        break;
    case 1: /* cut short */
        *len = 1 + at;
        break;
    case 2: /* repeat a slice */
        if (*len + (*len - at) <= cap) {
            memcpy(buf + *len, buf + at, *len - at);
            *len += *len - at;
        }
        break;
    case 3: /* a length or tag byte out of range */
        buf[at] ^= 0x80;
        break;
    default: /* a byte parsers care about */
        if (*len < cap) {
            memmove(buf + at + 1, buf + at, *len - at);
            buf[at] = special[(s >> 24) % sizeof(special)];
            (*len)++;
        }
    }
}

int fz_write_seeds(const char *dir, const unsigned char *const *seeds,
                   const size_t *lens, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/seed-%zu", dir, i);
        if ((f = fopen(path, "wb")) == NULL ||
            fwrite(seeds[i], 1, lens[i], f) != lens[i]) {
            fprintf(stderr, "cannot write %s\n", path);
            if (f != NULL)
                fclose(f);
            return -1;
        }
        fclose(f);
    }
    return 0;
}
