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

static char *slurp(void)
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
    acme_hook_call call = {"begin",       "dns-01", "dns",
                           "example.org", "tok",    "tok.thumb"};
    char body[512], *s, *txt = NULL;
    int st = -1, fd;

    (void)state;
    snprintf(body, sizeof(body),
             "{ echo \"argc=$#\"; env | grep '^CSAGENT_' | sort;"
             " ls /proc/self/fd/ | tr '\\n' ' '; echo; } > %s; exit 3",
             out);
    write_hook(body);
    setenv("CSAGENT_LEAK", "parent", 1);
    fd = open("/dev/null", O_RDONLY); /* must not reach the hook */
    assert_int_equal(acme_hook_run(hook, &call, 5, &st), CSA_OK);
    close(fd);
    unsetenv("CSAGENT_LEAK");
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
    /* "ls" itself opens one descriptor (3) for the directory listing;
     * ours would show up as an extra one */
    assert_null(strstr(s, " 4 "));
    free(txt);
    free(s);
}

static void test_hook_http01_has_no_dns_vars(void **state)
{
    acme_hook_call call = {"done", "http-01", "dns", "example.org", "t", "t.k"};
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
    acme_hook_call call = {"begin", "http-01", "dns", "x.org", "t", "t.k"};
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
