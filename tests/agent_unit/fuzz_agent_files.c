/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the files csagent reads from disk: the configuration
 * (libinih and our key handlers), the swap journal, the grace file of a
 * retired pair and the record of an ephemeral run.  A file someone edited by
 * hand, or one a full disk cut short, must give an error that names it, never a
 * crash.
 *
 * With clang (-fsanitize=fuzzer) this is a libFuzzer target; otherwise
 * main() runs a deterministic mutation loop over the seed files in the
 * directory given (tests/agent_unit/corpus-files), which ctest runs (under
 * ASan/UBSan in the sanitizer build).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agt_config.h"
#include "agt_ephemeral.h"
#include "agt_journal.h"
#include "agt_swap.h"
#include "csa_log.h"
#include "fuzz_mutate.h"

/* in memory where there is a tmpfs: the loop writes three files an input */
static char fz_dir[40];
static unsigned long fz_loaded; /* configurations that loaded */

static void fz_write(const char *name, const uint8_t *data, size_t size)
{
    char path[96];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", fz_dir, name);
    if ((f = fopen(path, "w")) == NULL)
        return;
    fwrite(data, 1, size, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agt_identity id = {.name = "fz", .label = "fz-key"};
    agt_config *cfg = NULL;
    agt_journal j;
    char path[96];

    if (fz_dir[0] == '\0') {
        snprintf(fz_dir, sizeof(fz_dir), "%s/csafzXXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (mkdtemp(fz_dir) == NULL)
            abort();
    }
    fz_write("agent.ini", data, size);
    snprintf(path, sizeof(path), "%s/agent.ini", fz_dir);
    if (agt_config_load(path, &cfg) == CSA_OK) {
        fz_loaded++;
        agt_config_free(cfg);
    }
    fz_write("fz.journal", data, size);
    (void)agt_journal_read(fz_dir, &id, &j);
    fz_write("fz.retired", data, size);
    (void)agt_swap_reap_due(fz_dir, &id);
    {
        /* an ephemeral run's record (agt_ephemeral.c) */
        char *text = malloc(size + 1), who[256], label[256];

        if (text != NULL) {
            memcpy(text, data, size);
            text[size] = '\0';
            if (agt_eph_parse(text,
                              "fz.eph-0123456789abcdef0123456789abcdef"
                              ".ephemeral",
                              who, sizeof(who), label, sizeof(label)) &&
                strstr(label, ".eph-0123456789abcdef0123456789abcdef") == NULL)
                abort(); /* accepted a label the file name does not name */
            free(text);
        }
    }
    csa_err_clear();
    return 0;
}

#ifndef CSA_LIBFUZZER
static void rmdir_all(void)
{
    static const char *const names[] = {"agent.ini", "fz.journal",
                                        "fz.retired"};
    char path[96];
    size_t i;

    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", fz_dir, names[i]);
        unlink(path);
    }
    rmdir(fz_dir);
}

/* Reads every file of dir as a seed; returns how many. */
static size_t fz_seeds(const char *dir, char **seeds, size_t max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    while (d != NULL && n < max && (e = readdir(d)) != NULL) {
        char path[4096];
        FILE *f;
        long len;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        rewind(f);
        if (len > 0 && len < 4096 && (seeds[n] = calloc(1, (size_t)len + 1)))
            n += fread(seeds[n], 1, (size_t)len, f) == (size_t)len;
        fclose(f);
    }
    if (d != NULL)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    unsigned long iters = argc > 2 ? strtoul(argv[2], NULL, 10) : 20000, it;
    char *seeds[64];
    size_t n = argc > 1 ? fz_seeds(argv[1], seeds, 64) : 0, i;
    unsigned seed = 12345, k;
    unsigned char buf[8192];

    if (n == 0) {
        fprintf(stderr, "usage: fuzz_agent_files CORPUS_DIR [ITERATIONS]\n");
        return 2;
    }
    csa_log_set_level(CSA_LOG_ERROR);
    for (it = 0; it < iters; it++) {
        size_t len = strlen(seeds[it % n]);

        memcpy(buf, seeds[it % n], len);
        for (k = 0; k < (it < n ? 0 : 1 + it % 8); k++)
            fz_mutate(buf, &len, sizeof(buf), &seed);
        LLVMFuzzerTestOneInput(buf, len);
    }
    for (i = 0; i < n; i++)
        free(seeds[i]);
    rmdir_all();
    printf("%lu inputs from %zu seeds parsed (%lu configurations loaded)\n",
           iters, n, fz_loaded);
    /* the seeds themselves must load: otherwise nothing was exercised */
    return fz_loaded > 0 ? 0 : 1;
    return 0;
}
#endif
