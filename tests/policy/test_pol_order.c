/* SPDX-License-Identifier: Apache-2.0 */
/* Table tests: order, key, identifier, challenge, rotation, hook, renewal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/obj_mac.h>

#include "policy.h"

/* Parses text or fails the test. */
static pol_policy *policy_from(const char *text)
{
    pol_policy *p = NULL;

    if (text == NULL)
        p = pol_default();
    else if (pol_parse(text, "test.ini", &p) != CSA_OK)
        fail_msg("policy did not parse: %s", csa_errmsg());
    assert_non_null(p);
    return p;
}

/* Checks a verdict against the expected outcome (rule NULL = allowed). */
static void expect(const char *name, bool ok, const pol_verdict *v,
                   const char *rule)
{
    if (rule == NULL && !ok)
        fail_msg("%s: refused: %s", name, v->reason);
    if (rule != NULL && ok)
        fail_msg("%s: allowed, expected refusal by %s", name, rule);
    if (rule != NULL && strcmp(v->rule, rule) != 0)
        fail_msg("%s: refused by %s, expected %s (%s)", name, v->rule, rule,
                 v->reason);
    assert_true(ok == v->ok);
    if (!ok) {
        assert_true(v->expected[0] != '\0' && v->actual[0] != '\0');
        assert_non_null(strstr(v->reason, v->rule));
    }
}

static const char *const ED25519_OK = "[keys]\ntypes = rsa, ecdsa, ed25519\n";
static const char *const ONLY_P384 = "[keys]\nec_curves = P-384\n";

static void test_keys(void **state)
{
    static const struct {
        const char *name;
        const char *policy;
        pol_key key;
        const char *rule;
    } rows[] = {
        {"rsa 3071", NULL, {POL_KEY_RSA, 3071, 0}, "keys.rsa_min_bits"},
        {"rsa 3072", NULL, {POL_KEY_RSA, 3072, 0}, NULL},
        {"rsa 4096", NULL, {POL_KEY_RSA, 4096, 0}, NULL},
        {"rsa 2048", NULL, {POL_KEY_RSA, 2048, 0}, "keys.rsa_min_bits"},
        {"p-224", NULL, {POL_KEY_EC, 224, NID_secp224r1}, "keys.ec_curves"},
        {"p-256", NULL, {POL_KEY_EC, 256, NID_X9_62_prime256v1}, NULL},
        {"p-384", NULL, {POL_KEY_EC, 384, NID_secp384r1}, NULL},
        {"p-521", NULL, {POL_KEY_EC, 521, NID_secp521r1}, NULL},
        {"k-256", NULL, {POL_KEY_EC, 256, NID_secp256k1}, "keys.ec_curves"},
        {"ed25519 default", NULL, {POL_KEY_ED25519, 256, 0}, "keys.types"},
        {"ed25519 allowed", ED25519_OK, {POL_KEY_ED25519, 256, 0}, NULL},
        {"other", NULL, {POL_KEY_OTHER, 1024, 0}, "keys.types"},
        {"only p-384: p-256",
         ONLY_P384,
         {POL_KEY_EC, 256, NID_X9_62_prime256v1},
         "keys.ec_curves"},
        {"only p-384: p-384",
         ONLY_P384,
         {POL_KEY_EC, 384, NID_secp384r1},
         NULL},
        {"rsa min 4096: 3072",
         "[keys]\nrsa_min_bits = 4096\n",
         {POL_KEY_RSA, 3072, 0},
         "keys.rsa_min_bits"},
        {"types=ecdsa: rsa",
         "[keys]\ntypes = ecdsa\n",
         {POL_KEY_RSA, 4096, 0},
         "keys.types"},
    };
    pol_verdict v;

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pol_policy *p = policy_from(rows[i].policy);

        expect(rows[i].name, pol_check_key(p, &rows[i].key, &v), &v,
               rows[i].rule);
        pol_free(p);
    }
}

static const char *const DOMAINS = "[profile.codesigning]\n"
                                   "dns_domains = example.com, *.example.org\n"
                                   "[profile.clientauth]\n"
                                   "email_domains = example.com\n"
                                   "dns_domains = *.devices.example.com\n";

static void test_identifiers(void **state)
{
    static const struct {
        const char *name;
        const char *policy;
        pol_profile profile;
        pol_identifier id;
        const char *rule;
    } rows[] = {
        {"any domain by default",
         NULL,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "anything.test"},
         NULL},
        {"exact",
         DOMAINS,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "example.com"},
         NULL},
        {"exact, other case",
         DOMAINS,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "EXAMPLE.com"},
         NULL},
        {"exact is not a suffix",
         DOMAINS,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "sub.example.com"},
         "profile.dns_domains"},
        {"outside",
         DOMAINS,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "evil.test"},
         "profile.dns_domains"},
        {"suffix one label",
         DOMAINS,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "a.example.org"},
         NULL},
        {"suffix two labels",
         DOMAINS,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "a.b.example.org"},
         NULL},
        {"suffix not the apex",
         DOMAINS,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "example.org"},
         "profile.dns_domains"},
        {"suffix needs a dot",
         DOMAINS,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "badexample.org"},
         "profile.dns_domains"},
        {"wildcard identifier",
         NULL,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "*.example.com"},
         "profile.dns_domains"},
        {"empty label",
         NULL,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, "a..example.com"},
         "profile.dns_domains"},
        {"email on codesigning",
         NULL,
         POL_PROFILE_CODESIGNING,
         {POL_ID_EMAIL, "a@example.com"},
         "identifier.type"},
        {"email ok",
         DOMAINS,
         POL_PROFILE_CLIENTAUTH,
         {POL_ID_EMAIL, "alice@example.com"},
         NULL},
        {"email outside",
         DOMAINS,
         POL_PROFILE_CLIENTAUTH,
         {POL_ID_EMAIL, "alice@evil.test"},
         "profile.email_domains"},
        {"email no @",
         DOMAINS,
         POL_PROFILE_CLIENTAUTH,
         {POL_ID_EMAIL, "alice"},
         "profile.email_domains"},
        {"email trick",
         DOMAINS,
         POL_PROFILE_CLIENTAUTH,
         {POL_ID_EMAIL, "alice@example.com@evil.test"},
         "profile.email_domains"},
        {"device dns",
         DOMAINS,
         POL_PROFILE_CLIENTAUTH,
         {POL_ID_DNS, "pc1.devices.example.com"},
         NULL},
        {"device dns outside",
         DOMAINS,
         POL_PROFILE_CLIENTAUTH,
         {POL_ID_DNS, "pc1.example.com"},
         "profile.dns_domains"},
        {"null value",
         NULL,
         POL_PROFILE_CODESIGNING,
         {POL_ID_DNS, NULL},
         "identifier.type"},
        {"bad profile",
         NULL,
         POL_PROFILE__MAX,
         {POL_ID_DNS, "a.test"},
         "profile"},
    };
    pol_verdict v;

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pol_policy *p = policy_from(rows[i].policy);
        bool ok = pol_check_identifier(p, rows[i].profile, &rows[i].id, &v);

        expect(rows[i].name, ok, &v, rows[i].rule);
        pol_free(p);
    }
}

static void test_challenges(void **state)
{
    static const struct {
        const char *name;
        const char *policy;
        const char *type;
        bool automatic;
        const char *rule;
    } rows[] = {
        {"otp-01 by a human", NULL, "otp-01", false, NULL},
        {"otp-01 automatic", NULL, "otp-01", true, "challenges.automatic"},
        {"hotp-01 automatic", NULL, "hotp-01", true, NULL},
        {"totp-01 automatic", NULL, "totp-01", true, NULL},
        {"cert-01 automatic", NULL, "cert-01", true, NULL},
        {"ppkp-01 automatic", NULL, "ppkp-01", true, NULL},
        {"dns-01 automatic", NULL, "dns-01", true, NULL},
        {"http-01 automatic", NULL, "http-01", true, NULL},
        {"tls-alpn-01 not allowed", NULL, "tls-alpn-01", false,
         "challenges.allowed"},
        {"unknown type", NULL, "smoke-01", false, "challenges.allowed"},
        {"null type", NULL, NULL, false, "challenges.allowed"},
        {"restricted allowed",
         "[challenges]\nallowed = dns-01\nautomatic "
         "= dns-01\n",
         "http-01", false, "challenges.allowed"},
        {"automatic narrowed", "[challenges]\nautomatic = cert-01\n", "dns-01",
         true, "challenges.automatic"},
        {"automatic none", "[challenges]\nautomatic = none\n", "cert-01", true,
         "challenges.automatic"},
        {"automatic none, human", "[challenges]\nautomatic = none\n", "cert-01",
         false, NULL},
    };
    pol_verdict v;

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pol_policy *p = policy_from(rows[i].policy);
        bool ok = pol_check_challenge(p, rows[i].type, rows[i].automatic, &v);

        expect(rows[i].name, ok, &v, rows[i].rule);
        pol_free(p);
    }
}

static const pol_identifier ORDER_IDS[] = {{POL_ID_DNS, "sign.example.com"}};
static const char *const ORDER_CHALS[] = {"cert-01", "dns-01"};
static const char *const BAD_CHALS[] = {"dns-01", "tls-alpn-01"};
static const pol_identifier EMAIL_IDS[] = {{POL_ID_EMAIL, "a@example.com"}};
static const char *const LIMITED =
    "[ca]\ndirectory_urls = https://ca.example.com/dir\neab_required = yes\n"
    "[profile.codesigning]\ndns_domains = *.example.com\n";

/* A request that passes LIMITED; rows change one field. */
static pol_request good_request(void)
{
    pol_request r = {
        .directory_url = "https://ca.example.com/dir",
        .profile = POL_PROFILE_CODESIGNING,
        .ids = ORDER_IDS,
        .n_ids = 1,
        .key = {POL_KEY_EC, 256, NID_X9_62_prime256v1},
        .challenges = ORDER_CHALS,
        .n_challenges = 2,
        .has_eab = true,
    };
    return r;
}

static void test_order(void **state)
{
    pol_policy *lim = policy_from(LIMITED);
    pol_policy *def = policy_from(NULL);
    pol_request r;
    pol_verdict v;

    (void)state;
    r = good_request();
    expect("good", pol_check_order(lim, &r, &v), &v, NULL);
    expect("default, any CA", pol_check_order(def, &r, &v), &v, NULL);
    r.directory_url = "https://ca.example.com/dir2";
    expect("other CA", pol_check_order(lim, &r, &v), &v, "ca.directory_urls");
    r.directory_url = NULL;
    expect("no CA", pol_check_order(def, &r, &v), &v, "ca.directory_urls");
    r = good_request();
    r.has_eab = false;
    expect("no EAB", pol_check_order(lim, &r, &v), &v, "ca.eab_required");
    expect("no EAB, default", pol_check_order(def, &r, &v), &v, NULL);
    r = good_request();
    r.ids = (const pol_identifier[]){{POL_ID_DNS, "sign.evil.test"}};
    expect("identifier", pol_check_order(lim, &r, &v), &v,
           "profile.dns_domains");
    r.n_ids = 0;
    expect("no identifier", pol_check_order(lim, &r, &v), &v, "identifier");
    r = good_request();
    r.key.bits = 3071;
    r.key.type = POL_KEY_RSA;
    expect("weak key", pol_check_order(lim, &r, &v), &v, "keys.rsa_min_bits");
    r = good_request();
    r.challenges = BAD_CHALS;
    expect("challenge list", pol_check_order(lim, &r, &v), &v,
           "challenges.allowed");
    r = good_request();
    r.profile = POL_PROFILE_TEST_TLS;
    expect("test-tls off", pol_check_order(lim, &r, &v), &v, "profile.enabled");
    r.profile = POL_PROFILE_CLIENTAUTH;
    r.ids = EMAIL_IDS;
    expect("clientauth email", pol_check_order(def, &r, &v), &v, NULL);
    r.profile = POL_PROFILE__MAX;
    expect("profile range", pol_check_order(def, &r, &v), &v, "profile");
    assert_int_equal(pol_verdict_raise(&v, CSA_ERR_POLICY), CSA_ERR_POLICY);
    assert_non_null(strstr(csa_errmsg(), "profile"));
    pol_free(lim);
    pol_free(def);
}

static void test_rotation_hooks(void **state)
{
    pol_policy *def = policy_from(NULL);
    pol_policy *strict = policy_from("[keys]\nrotation = required\n"
                                     "[hooks]\nallowed = true\n");
    pol_verdict v;

    (void)state;
    expect("keep key, allowed", pol_check_rotation(def, false, &v), &v, NULL);
    expect("rotate, allowed", pol_check_rotation(def, true, &v), &v, NULL);
    expect("keep key, required", pol_check_rotation(strict, false, &v), &v,
           "keys.rotation");
    expect("rotate, required", pol_check_rotation(strict, true, &v), &v, NULL);
    expect("hook default", pol_check_hook(def, &v), &v, "hooks.allowed");
    expect("hook allowed", pol_check_hook(strict, &v), &v, NULL);
    assert_false(pol_hooks_allowed(def));
    assert_true(pol_hooks_allowed(strict));
    assert_int_equal(pol_verdict_raise(&v, CSA_ERR_POLICY), CSA_OK);
    pol_free(def);
    pol_free(strict);
}

static void test_ephemeral(void **state)
{
    pol_policy *def = policy_from(NULL);
    pol_policy *p = policy_from("[ephemeral]\nmin_lifetime = 30s\n"
                                "max_lifetime = 10m\nrequired = rel, ci\n");
    pol_policy *all = policy_from("[ephemeral]\nrequired = *\n");
    pol_verdict v;
    int64_t min, max;

    (void)state;
    pol_ephemeral_lifetimes(def, &min, &max);
    assert_int_equal(min, 60);
    assert_int_equal(max, 3600);
    expect("default: long-lived allowed",
           pol_check_ephemeral(def, "rel", false, &v), &v, NULL);
    expect("listed, long-lived", pol_check_ephemeral(p, "rel", false, &v), &v,
           "ephemeral.required");
    expect("listed, ephemeral", pol_check_ephemeral(p, "ci", true, &v), &v,
           NULL);
    expect("not listed", pol_check_ephemeral(p, "relx", false, &v), &v, NULL);
    expect("*", pol_check_ephemeral(all, "anything", false, &v), &v,
           "ephemeral.required");
    expect("29 s", pol_check_ephemeral_lifetime(p, 29, &v), &v,
           "ephemeral.min_lifetime");
    expect("30 s", pol_check_ephemeral_lifetime(p, 30, &v), &v, NULL);
    expect("600 s", pol_check_ephemeral_lifetime(p, 600, &v), &v, NULL);
    expect("601 s", pol_check_ephemeral_lifetime(p, 601, &v), &v,
           "ephemeral.max_lifetime");
    pol_free(def);
    pol_free(p);
    pol_free(all);
}

static void test_renewal_window(void **state)
{
    pol_policy *def = policy_from(NULL);
    pol_policy *late = policy_from("[renewal]\nari_early = false\n");
    const time_t nb = 1000000, na = nb + 999; /* lifetime 1000 s */
    time_t e, l, s, t;

    (void)state;
    pol_renewal_window(def, nb, na, &e, &l);
    assert_int_equal(e, nb + 500);
    assert_int_equal(l, nb + 900);
    /* An ARI window inside ours is kept. */
    s = nb + 600, t = nb + 700;
    pol_clamp_window(def, nb, na, &s, &t);
    assert_int_equal(s, nb + 600);
    assert_int_equal(t, nb + 700);
    /* Past our latest: pulled back to it. */
    s = nb + 950, t = nb + 990;
    pol_clamp_window(def, nb, na, &s, &t);
    assert_int_equal(s, nb + 900);
    assert_int_equal(t, nb + 900);
    /* Early (e.g. revocation ahead): honoured with ari_early... */
    s = nb + 10, t = nb + 20;
    pol_clamp_window(def, nb, na, &s, &t);
    assert_int_equal(s, nb + 10);
    assert_int_equal(t, nb + 20);
    /* ...and pushed to our earliest without it. */
    s = nb + 10, t = nb + 600;
    pol_clamp_window(late, nb, na, &s, &t);
    assert_int_equal(s, nb + 500);
    assert_int_equal(t, nb + 600);
    /* A reversed window becomes one instant. */
    s = nb + 700, t = nb + 600;
    pol_clamp_window(late, nb, na, &s, &t);
    assert_int_equal(s, nb + 700);
    assert_int_equal(t, nb + 700);
    pol_free(def);
    pol_free(late);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_challenges),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_rotation_hooks),
        cmocka_unit_test(test_renewal_window),
        cmocka_unit_test(test_ephemeral),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
