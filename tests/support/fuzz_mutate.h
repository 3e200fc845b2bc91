/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The deterministic mutation loop the fuzz harnesses run under ctest (the
 * same harnesses are libFuzzer targets with clang): one mutation of an
 * input, and the seeds written out as a libFuzzer corpus.
 */
#ifndef FUZZ_MUTATE_H
#define FUZZ_MUTATE_H

#include <stddef.h>

/* One mutation of buf[0..*len) (capacity cap, *len >= 1): set a byte,
 * cut the input short, repeat a slice, flip a byte's high bit (lengths
 * and tags), or put in a byte parsers care about ('%', '.', '"', '{',
 * NUL, newline).  *state is the generator's state (any start value). */
void fz_mutate(unsigned char *buf, size_t *len, size_t cap, unsigned *state);

/* Writes seed i (lens[i] bytes) as DIR/seed-i; 0, or -1 naming the file
 * on stderr. */
int fz_write_seeds(const char *dir, const unsigned char *const *seeds,
                   const size_t *lens, size_t n);

#endif
