/* SPDX-License-Identifier: Apache-2.0 */
/* Parser tests: every error names file:line; a good file round-trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/obj_mac.h>

#include "csa_util.h"
#include "policy.h"

static void test_errors(void **state)
{
    static const struct {
        const char *text;
        const char *msg; /* expected substring of the error */
    } rows[] = {
        {"[keys]\nfoo = 1\n", "t.ini:2: unknown key 'foo' in section [keys]"},
        {"[bogus]\nx = 1\n", "t.ini:2: unknown section [bogus]"},
        {"x = 1\n", "t.ini:1: unknown section []"},
        {"[profile.nope]\nenabled = true\n", "t.ini:2: unknown section"},
        {"[keys]\nrsa_min_bits = 2047\n",
         "t.ini:2: [keys] rsa_min_bits: bad value '2047': must be between "
         "2048"},
        {"[keys]\nrsa_min_bits = 3k\n", "t.ini:2: [keys] rsa_min_bits: bad "
                                        "value '3k': not a number"},
        {"[keys]\nrsa_min_bits = -3072\n", "t.ini:2: [keys] rsa_min_bits"},
        {"[keys]\nec_curves = P-256, P-224\n",
         "t.ini:2: [keys] ec_curves: unsupported curve 'P-224'"},
        {"[keys]\ntypes = rsa, dsa\n", "t.ini:2: [keys] types: unknown key"},
        {"[keys]\nrotation = sometimes\n", "t.ini:2: [keys] rotation: bad"},
        {"[ca]\neab_required = maybe\n", "t.ini:2: [ca] eab_required: bad "
                                         "value 'maybe': expected true or "
                                         "false"},
        {"[ca]\ndirectory_urls = ftp://x\n", "t.ini:2: [ca] directory_urls"},
        {"[ca]\ndirectory_urls =\n", "t.ini:2: [ca] directory_urls: empty "
                                     "list"},
        {"[ca]\ndirectory_urls = https://a, ,https://b\n",
         "t.ini:2: [ca] directory_urls: bad list"},
        {"[ca]\ndirectory_urls = https://a, https://a\n",
         "t.ini:2: [ca] directory_urls: 'https://a' is listed twice"},
        {"[ca]\ntrust_anchors = anchors/root.pem\n",
         "t.ini:2: [ca] trust_anchors: bad value 'anchors/root.pem'"},
        {"[certificate]\nmax_lifetime = 460x\n", "t.ini:2: [certificate] "
                                                 "max_lifetime: bad value "
                                                 "'460x': unit"},
        {"[certificate]\nmax_lifetime = 0d\n", "t.ini:2: [certificate] "
                                               "max_lifetime: bad value '0'"},
        {"[certificate]\nmax_lifetime = d\n", "t.ini:2: [certificate] "
                                              "max_lifetime: bad value 'd'"},
        {"[certificate]\nmax_lifetime = 3651d\n", "t.ini:2: [certificate]"},
        {"[renewal]\nmin_fraction = 1.5\n", "t.ini:2: [renewal] min_fraction"},
        {"[renewal]\nmin_fraction = abc\n", "t.ini:2: [renewal] min_fraction"},
        {"[challenges]\nallowed = dns-01, smoke-01\n",
         "t.ini:2: [challenges] allowed: unknown challenge type 'smoke-01'"},
        {"[profile.codesigning]\ndns_domains = exa mple.com\n",
         "t.ini:2: [profile.codesigning] dns_domains: bad value"},
        {"[profile.codesigning]\ndns_domains = *.\n",
         "t.ini:2: [profile.codesigning] dns_domains: bad value"},
        {"[profile.codesigning]\ndns_domains = -a.com\n",
         "t.ini:2: [profile.codesigning] dns_domains: bad value"},
        {"[profile.codesigning]\ndns_domains = a.*.com\n",
         "t.ini:2: [profile.codesigning] dns_domains: bad value"},
        /* duplicates, including an indented continuation line */
        {"[keys]\nrsa_min_bits = 3072\n\nrsa_min_bits = 4096\n",
         "t.ini:4: [keys] rsa_min_bits is already set on line 2"},
        {"[keys]\nrsa_min_bits = 3072\n  4096\n",
         "t.ini:3: [keys] rsa_min_bits is already set on line 2"},
        {"[keys]\n\ngarbage\n", "t.ini:3: syntax error"},
        {"[keys\n", "t.ini:1: syntax error"},
        /* contradictions: reported at the later key's line */
        {"[challenges]\nallowed = dns-01\n; c\nautomatic = dns-01, cert-01\n",
         "t.ini:4: [challenges] automatic lists cert-01, not in allowed"},
        {"[challenges]\nautomatic = dns-01, cert-01\nallowed = dns-01\n",
         "t.ini:3: [challenges] automatic lists cert-01, not in allowed"},
        {"[challenges]\nautomatic = otp-01\n",
         "t.ini:2: [challenges] automatic lists otp-01"},
        {"[renewal]\nmax_fraction = 0.4\n",
         "t.ini:2: [renewal] min_fraction (0.50) must be below max_fraction"},
        {"[renewal]\nmax_fraction = 0.6\nmin_fraction = 0.6\n",
         "t.ini:3: [renewal] min_fraction"},
        {"[profile.codesigning]\nemail_domains = example.com\n",
         "t.ini:2: [profile.codesigning] email_domains: code signing"},
        {"[ephemeral]\nmin_lifetime = 10m\nmax_lifetime = 5m\n",
         "t.ini:3: [ephemeral] min_lifetime (600 s) must not be above "
         "max_lifetime (300 s)"},
        {"[ephemeral]\nmax_lifetime = 2x\n",
         "t.ini:2: [ephemeral] max_lifetime: bad value '2x': unit"},
        {"[ephemeral]\nrequired =\n", "t.ini:2: [ephemeral] required: empty"},
        {"[profile.codesigning]\nenabled = false\n[profile.clientauth]\n"
         "enabled = false\n",
         "every profile is disabled"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pol_policy *p = (pol_policy *)1;
        csa_err err = pol_parse(rows[i].text, "t.ini", &p);

        if (err != CSA_ERR_CONFIG || strstr(csa_errmsg(), rows[i].msg) == NULL)
            fail_msg("row %zu: got %s \"%s\", expected \"%s\"", i,
                     csa_errname(err), csa_errmsg(), rows[i].msg);
        assert_null(p);
    }
}

static void test_long_line(void **state)
{
    char text[600];
    pol_policy *p = NULL;

    (void)state;
    snprintf(text, sizeof(text), "[ca]\n; %0500d\n", 0);
    assert_int_equal(pol_parse(text, "t.ini", &p), CSA_ERR_CONFIG);
    assert_non_null(strstr(csa_errmsg(), "t.ini:2: line longer than"));
    assert_null(p);
}

static const char *const GOOD =
    "# a full policy\n"
    "[ca]\n"
    "directory_urls = https://a.example/dir, https://b.example/dir ; two\n"
    "eab_required = yes\n"
    "trust_anchors = /etc/a.pem,/etc/b.pem\n"
    "[keys]\n"
    "types = ecdsa, ed25519\n"
    "rsa_min_bits = 4096\n"
    "ec_curves = P-384\n"
    "rotation = required\n"
    "[certificate]\n"
    "max_lifetime = 90d\n"
    "[challenges]\n"
    "allowed = dns-01, cert-01, otp-01\n"
    "automatic = cert-01\n"
    "[renewal]\n"
    "min_fraction = 0.25\n"
    "max_fraction = 0.75\n"
    "ari_early = no\n"
    "[hooks]\n"
    "allowed = true\n"
    "[profile.codesigning]\n"
    "dns_domains = example.com\n"
    "[profile.test-tls]\n"
    "enabled = true\n"
    "accept_eku_serverauth = true\n";

static void test_round_trip(void **state)
{
    pol_policy *p = NULL;
    pol_verdict v;
    size_t n = 0;
    const char *const *anchors;
    pol_key p384 = {POL_KEY_EC, 384, NID_secp384r1};
    pol_key p256 = {POL_KEY_EC, 256, NID_X9_62_prime256v1};
    time_t e, l;

    (void)state;
    if (pol_parse(GOOD, "good.ini", &p) != CSA_OK)
        fail_msg("%s", csa_errmsg());
    anchors = pol_trust_anchors(p, &n);
    assert_int_equal(n, 2);
    assert_string_equal(anchors[0], "/etc/a.pem");
    assert_string_equal(anchors[1], "/etc/b.pem");
    assert_true(pol_eab_required(p));
    assert_true(pol_hooks_allowed(p));
    assert_true(pol_profile_enabled(p, POL_PROFILE_TEST_TLS));
    assert_true(pol_check_key(p, &p384, &v));
    assert_false(pol_check_key(p, &p256, &v));
    assert_false(pol_check_rotation(p, false, &v));
    assert_true(pol_check_challenge(p, "cert-01", true, &v));
    assert_false(pol_check_challenge(p, "dns-01", true, &v));
    assert_false(pol_check_challenge(p, "http-01", false, &v));
    pol_renewal_window(p, 0, 999, &e, &l);
    assert_int_equal(e, 250);
    assert_int_equal(l, 750);
    pol_free(p);
}

static void test_explain(void **state)
{
    pol_policy *p = NULL;
    char *text = NULL;

    (void)state;
    assert_int_equal(pol_parse(GOOD, "good.ini", &p), CSA_OK);
    assert_int_equal(pol_explain(p, POL_PROFILE_CODESIGNING, &text), CSA_OK);
    assert_non_null(strstr(text, "https://a.example/dir, https://b.example"));
    assert_non_null(strstr(text, "ECDSA P-384, Ed25519"));
    assert_non_null(strstr(text, "7776000 s (90 days)"));
    assert_non_null(strstr(text, "dns identifiers: example.com"));
    assert_non_null(strstr(text, "Answered without a human: cert-01\n"));
    free(text);
    assert_int_equal(pol_explain(p, POL_PROFILE__MAX, &text), CSA_ERR_INVALID);
    assert_null(text);
    pol_free(p);
    p = pol_default();
    assert_int_equal(pol_explain(p, POL_PROFILE_CLIENTAUTH, &text), CSA_OK);
    assert_non_null(strstr(text, "RSA >= 3072, ECDSA P-256, P-384, P-521"));
    assert_non_null(strstr(text, "39744000 s (460 days)"));
    assert_non_null(strstr(text, "CA directory URLs: any"));
    free(text);
    pol_free(p);
}

static void test_defaults(void **state)
{
    pol_policy *d = pol_default(), *e = NULL;
    char *a = NULL, *b = NULL;
    pol_profile prof;

    (void)state;
    /* An empty file is the default policy. */
    assert_int_equal(pol_parse("", "empty.ini", &e), CSA_OK);
    assert_int_equal(pol_explain(d, POL_PROFILE_CODESIGNING, &a), CSA_OK);
    assert_int_equal(pol_explain(e, POL_PROFILE_CODESIGNING, &b), CSA_OK);
    assert_string_equal(a, b);
    assert_false(pol_eab_required(d));
    assert_false(pol_profile_enabled(d, POL_PROFILE_TEST_TLS));
    assert_int_equal(pol_profile_from_name("clientauth", &prof), CSA_OK);
    assert_int_equal(prof, POL_PROFILE_CLIENTAUTH);
    assert_int_equal(pol_profile_from_name("tls", &prof), CSA_ERR_INVALID);
    assert_null(pol_profile_name(POL_PROFILE__MAX));
    free(a);
    free(b);
    pol_free(d);
    pol_free(e);
    pol_free(NULL);
}

/* The shipped example must parse: docs and parser cannot drift apart. */
static void test_example_file(void **state)
{
    char *text = NULL;
    size_t len = 0;
    pol_policy *p = NULL;
    pol_verdict v;
    pol_identifier id = {POL_ID_DNS, "sign.example.com"};

    (void)state;
    assert_int_equal(csa_file_read(POL_EXAMPLE_INI, 1 << 20, &text, &len),
                     CSA_OK);
    if (pol_parse(text, POL_EXAMPLE_INI, &p) != CSA_OK)
        fail_msg("%s", csa_errmsg());
    assert_true(pol_eab_required(p));
    assert_true(pol_check_identifier(p, POL_PROFILE_CODESIGNING, &id, &v));
    id.value = "evil.test";
    assert_false(pol_check_identifier(p, POL_PROFILE_CODESIGNING, &id, &v));
    pol_free(p);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_explain),
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_example_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
