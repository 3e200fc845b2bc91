/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the challenge hook runner: the request travels in the
 * environment (never argv), a CSAGENT_* variable of the parent never leaks
 * through, descriptors above 2 are closed, exit status and timeouts are
 * reported.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "acme_int.h"
#include "csa_util.h"

static char dir[] = "/tmp/acme-hook-XXXXXX";
static char hook[256], out[256];

static void write_hook(const char *body)
{
    FILE *f = fopen(hook, "w");

    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(hook, 0700);
}

__attribute__((noinline)) static char *slurp(void)
{
    char *s = NULL;

    assert_int_equal(csa_file_read(out, 65536, &s, NULL), CSA_OK);
    return s;
}

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(hook, sizeof(hook), "%s/hook", dir);
    snprintf(out, sizeof(out), "%s/out", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(hook);
    unlink(out);
    rmdir(dir);
    return 0;
}

static void test_hook_env(void **state)
{
    static const char *const keep[] = {"KEEP_ME", NULL};
    acme_hook_call call = {"begin", "dns-01",    "dns", "example.org",
                           "tok",   "tok.thumb", keep};
    char body[768], *s, *txt = NULL;
    sigset_t block, old;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_usr2;
    int st = -1, fd;

    (void)state;
    snprintf(body, sizeof(body),
             "{ echo \"argc=$#\"; env | grep '^CSAGENT_' | sort;"
             " echo \"keep=$KEEP_ME other=${OTHER_SECRET:-unset}\";"
             " grep -E '^(SigBlk|SigIgn)' /proc/self/status;"
             " echo \"pgid=$(ps -o pgid= $$ | tr -d ' ') pid=$$\";"
             " ls /proc/self/fd/ | tr '\\n' ' '; echo; } > %s; exit 3",
             out);
    write_hook(body);
    setenv("CSAGENT_LEAK", "parent", 1);
    setenv("OTHER_SECRET", "not-for-hooks", 1);
    setenv("KEEP_ME", "kept", 1);
    /* what the daemon does: signals blocked, one ignored */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    sigaction(SIGUSR2, &ign, &old_usr2);
    fd = open("/dev/null", O_RDONLY); /* must not reach the hook */
    assert_int_equal(acme_hook_run(hook, &call, 5, &st), CSA_OK);
    close(fd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGUSR2, &old_usr2, NULL);
    unsetenv("CSAGENT_LEAK");
    unsetenv("OTHER_SECRET");
    unsetenv("KEEP_ME");
    assert_int_equal(st, 3);
    s = slurp();
    assert_non_null(strstr(s, "argc=0\n"));
    assert_non_null(strstr(s, "CSAGENT_HOOK_METHOD=begin\n"));
    assert_non_null(strstr(s, "CSAGENT_CHALLENGE_TYPE=dns-01\n"));
    assert_non_null(strstr(s, "CSAGENT_IDENTIFIER=example.org\n"));
    assert_non_null(strstr(s, "CSAGENT_IDENTIFIER_TYPE=dns\n"));
    assert_non_null(strstr(s, "CSAGENT_TOKEN=tok\n"));
    assert_non_null(strstr(s, "CSAGENT_KEY_AUTH=tok.thumb\n"));
    assert_non_null(strstr(s, "CSAGENT_DNS01_NAME=_acme-challenge."
                              "example.org\n"));
    assert_int_equal(acme_dns01_txt("tok.thumb", &txt), CSA_OK);
    {
        char want[128];
        snprintf(want, sizeof(want), "CSAGENT_DNS01_TXT=%s\n", txt);
        assert_non_null(strstr(s, want));
    }
    assert_null(strstr(s, "CSAGENT_LEAK"));
    /* an allowlisted environment: only what hook_env names is passed */
    assert_non_null(strstr(s, "keep=kept other=unset\n"));
    /* an empty signal mask and default dispositions */
    assert_non_null(strstr(s, "SigBlk:\t0000000000000000\n"));
    {
        /* standard signals only: glibc keeps two of its own realtime
         * signals (32, 33: bits 31, 32) out of reach of any spawn */
        const char *sigign = strstr(s, "SigIgn:\t");

        assert_non_null(sigign);
        assert_int_equal(strtoull(sigign + 8, NULL, 16) & 0x7fffffffULL, 0);
    }
    /* its own process group (killed whole at the time limit) */
    {
        long pgid = -1, pid = -2;

        assert_non_null(strstr(s, "pgid="));
        assert_int_equal(
            sscanf(strstr(s, "pgid="), "pgid=%ld pid=%ld", &pgid, &pid), 2);
        assert_int_equal(pgid, pid);
    }
    /* "ls" itself opens one descriptor (3) for the directory listing;
     * ours would show up as an extra one */
    assert_null(strstr(s, " 4 "));
    free(txt);
    free(s);
}

static void test_hook_http01_has_no_dns_vars(void **state)
{
    acme_hook_call call = {"done", "http-01", "dns", "example.org",
                           "t",    "t.k",     NULL};
    char body[512], *s;
    int st = -1;

    (void)state;
    snprintf(body, sizeof(body), "env | grep '^CSAGENT_' > %s", out);
    write_hook(body);
    assert_int_equal(acme_hook_run(hook, &call, 5, &st), CSA_OK);
    assert_int_equal(st, 0);
    s = slurp();
    assert_null(strstr(s, "DNS01"));
    assert_non_null(strstr(s, "CSAGENT_HOOK_METHOD=done"));
    free(s);
}

static void test_hook_failures(void **state)
{
    acme_hook_call call = {"begin", "http-01", "dns", "x.org",
                           "t",     "t.k",     NULL};
    int st = -1;

    (void)state;
    /* the hook and what it started are killed at the timeout: a sleep
     * left behind would hold ctest's output pipe open for 30 s */
    write_hook("sleep 30; echo late");
    assert_int_equal(acme_hook_run(hook, &call, 1, &st), CSA_ERR_TIMEOUT);
    write_hook("kill -9 $$");
    assert_int_equal(acme_hook_run(hook, &call, 5, &st), CSA_ERR_IO);
    assert_int_equal(acme_hook_run("/nonexistent/hook", &call, 5, &st),
                     CSA_ERR_CONFIG);
    assert_int_equal(acme_hook_run("relative/hook", &call, 5, &st),
                     CSA_ERR_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_env),
        cmocka_unit_test(test_hook_http01_has_no_dns_vars),
        cmocka_unit_test(test_hook_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
