/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operator's registry: one JSON file (mode 0600, it holds EAB MAC keys
 * and OTP seeds) with arrays "orgs", "eab", "otp", "ppkp", "anchors" and
 * "admin_certs".  Format in docs/csca.md.  The subcommands below append to
 * it; secrets come from a file or stdin, never from argv.  The server reads
 * it once at start.
 */
#include "csca.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

static const char *const kinds[] = {"orgs", "ppkp",    "eab",
                                    "otp",  "anchors", "admin_certs"};

static bool known_type(const char *t)
{
    static const char *const types[] = {"hotp-01", "totp-01", "otp-01",
                                        "cert-01", "ppkp-01", "dns-01",
                                        "http-01"};
    size_t i;

    for (i = 0; t && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(t, types[i]) == 0)
            return true;
    return false;
}

/* A factor may be written as "totp-01" or as ["cert-01","ppkp-01"] (any
 * one of them); store the list form, and refuse unknown types. */
static int normalize_factor(json_object *factors, size_t i)
{
    json_object *f = json_object_array_get_idx(factors, i), *list;
    size_t k;

    if (json_object_is_type(f, json_type_string)) {
        list = json_object_new_array();
        json_object_array_add(list, json_object_get(f));
        json_object_array_put_idx(factors, i, list);
        f = list;
    }
    if (!json_object_is_type(f, json_type_array) ||
        json_object_array_length(f) == 0)
        return -1;
    for (k = 0; k < json_object_array_length(f); k++)
        if (!known_type(
                json_object_get_string(json_object_array_get_idx(f, k))))
            return -1;
    return 0;
}

static int normalize_orgs(void)
{
    json_object *orgs = NULL, *fs;
    size_t i, k;

    json_object_object_get_ex(CS.registry, "orgs", &orgs);
    for (i = 0; i < json_object_array_length(orgs); i++) {
        json_object *o = json_object_array_get_idx(orgs, i);
        if (!jstr(o, "name") || !json_object_object_get_ex(o, "domains", &fs) ||
            !json_object_is_type(fs, json_type_array)) {
            fprintf(stderr, "csca: registry org needs name and domains[]\n");
            return -1;
        }
        if (!json_object_object_get_ex(o, "profiles", &fs) ||
            !json_object_is_type(fs, json_type_array))
            json_object_object_add(o, "profiles",
                                   json_tokener_parse("[\"codesigning\"]"));
        if (json_object_object_get_ex(o, "factors", &fs) &&
            !json_object_is_type(fs, json_type_array)) {
            fprintf(stderr, "csca: org %s: factors must be an array\n",
                    jstr(o, "name"));
            return -1;
        }
        if (!json_object_object_get_ex(o, "factors", &fs))
            continue;
        for (k = 0; k < json_object_array_length(fs); k++)
            if (normalize_factor(fs, k) != 0) {
                fprintf(stderr,
                        "csca: org %s: factor %zu names an unknown "
                        "challenge type\n",
                        jstr(o, "name"), k + 1);
                return -1;
            }
    }
    return 0;
}

static int registry_check(const char *path)
{
    size_t i;

    if (!json_object_is_type(CS.registry, json_type_object)) {
        fprintf(stderr, "csca: registry %s is not a JSON object\n", path);
        return -1;
    }
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        json_object *a;
        if (!json_object_object_get_ex(CS.registry, kinds[i], &a))
            json_object_object_add(CS.registry, kinds[i],
                                   json_object_new_array());
        else if (!json_object_is_type(a, json_type_array)) {
            fprintf(stderr, "csca: registry \"%s\" must be an array\n",
                    kinds[i]);
            return -1;
        }
    }
    return normalize_orgs();
}

/* Replace CS.registry with the file's content; on error the old registry
 * stays in place. */
static int registry_read(const char *path)
{
    char *text = read_file(path, NULL);
    json_object *old = CS.registry;

    CS.registry = text ? json_tokener_parse(text) : json_object_new_object();
    if (text != NULL)
        OPENSSL_clear_free(text, strlen(text));
    if (registry_check(path) != 0) {
        json_object_put(CS.registry);
        CS.registry = old;
        return -1;
    }
    json_object_put(old);
    return 0;
}

/* Management: POST /csca/registry/reload re-reads the registry file, so a
 * test can add credentials without restarting csca.  Runs on the handler
 * thread like every other request, so no lock is needed. */
void h_registry_reload(const struct req *rq, struct resp *rs)
{
    if (registry_load() != 0) {
        resp_problem(rs, 400, "malformed",
                     "registry file is invalid; the old registry stays "
                     "(see csca's log)");
        return;
    }
    rs->status = 200;
    rs->body = strdup("{\"reloaded\":true}");
    rs->ctype = "application/json";
}

static const char *default_registry(void)
{
    static char buf[4096];

    if (CS.o.registry != NULL)
        return CS.o.registry;
    if (CS.o.state_dir == NULL)
        return NULL;
    snprintf(buf, sizeof(buf), "%s/registry.json", CS.o.state_dir);
    return CS.o.registry = buf;
}

int registry_load(void)
{
    const char *p = default_registry();

    return p ? registry_read(p) : -1;
}

json_object *reg_list(const char *kind)
{
    json_object *a = NULL;

    json_object_object_get_ex(CS.registry, kind, &a);
    return a;
}

static json_object *find_by(const char *kind, const char *key, const char *v)
{
    json_object *a = reg_list(kind);
    size_t i;

    for (i = 0; a && i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        if (jstr(e, key) && strcmp(jstr(e, key), v) == 0)
            return e;
    }
    return NULL;
}

json_object *reg_org(const char *name)
{
    return name ? find_by("orgs", "name", name) : NULL;
}

json_object *reg_eab(const char *kid)
{
    return find_by("eab", "kid", kid);
}

/* ---- subcommands -------------------------------------------------- */

struct cli {
    const char *name, *kid, *org, *id, *type, *alg, *secret_file;
    const char *anchor, *cert, *eab_kid, *file;
    json_object *domains, *factors, *profiles;
    int digits, period;
    long long counter;
};

static char *read_secret(const char *file)
{
    char *s = read_file(file ? file : "/dev/stdin", NULL);
    size_t n;

    if (s == NULL)
        return NULL;
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static json_object *split_list(const char *s)
{
    json_object *a = json_object_new_array();
    char *copy = strdup(s), *save = NULL, *t;

    for (t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_object_array_add(a, json_object_new_string(t));
    free(copy);
    return a;
}

static int org_add(struct cli *c)
{
    json_object *o;

    if (!c->name || json_object_array_length(c->domains) == 0) {
        fprintf(stderr, "csca org add: --name and --domain are required\n");
        return -1;
    }
    if (reg_org(c->name) != NULL) {
        fprintf(stderr, "csca org add: %s exists\n", c->name);
        return -1;
    }
    o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(c->name));
    json_object_object_add(o, "domains", json_object_get(c->domains));
    json_object_object_add(o, "factors", json_object_get(c->factors));
    if (json_object_array_length(c->profiles) == 0)
        json_object_array_add(c->profiles,
                              json_object_new_string("codesigning"));
    json_object_object_add(o, "profiles", json_object_get(c->profiles));
    return json_object_array_add(reg_list("orgs"), o);
}

static int need_org(const struct cli *c, const char *cmd)
{
    if (c->org == NULL || reg_org(c->org) == NULL) {
        fprintf(stderr, "csca %s: --org must name a registered organisation\n",
                cmd);
        return -1;
    }
    return 0;
}

static int eab_add(struct cli *c)
{
    char *key;
    uint8_t *raw = NULL;
    size_t n = 0;
    json_object *o;

    if (need_org(c, "eab add") || !c->kid || reg_eab(c->kid)) {
        fprintf(stderr, "csca eab add: --kid (new) and --org required\n");
        return -1;
    }
    key = read_secret(c->secret_file);
    if (key == NULL || b64url_dec(key, &raw, &n) != 0 || n < 16) {
        fprintf(stderr, "csca eab add: the MAC key (stdin or --key-file) must "
                        "be base64url, >= 16 bytes\n");
        free(key);
        free(raw);
        return -1;
    }
    OPENSSL_clear_free(raw, n);
    o = json_object_new_object();
    json_object_object_add(o, "kid", json_object_new_string(c->kid));
    json_object_object_add(o, "org", json_object_new_string(c->org));
    json_object_object_add(o, "hmac", json_object_new_string(key));
    OPENSSL_clear_free(key, strlen(key));
    return json_object_array_add(reg_list("eab"), o);
}

static int otp_params_ok(const struct cli *c)
{
    if (!c->id || !c->type || find_by("otp", "id", c->id))
        return 0;
    if (strcmp(c->type, "hotp") && strcmp(c->type, "totp") &&
        strcmp(c->type, "otp"))
        return 0;
    if (c->digits != 6 && c->digits != 8)
        return 0;
    return strcmp(c->alg, "SHA1") == 0 || strcmp(c->alg, "SHA256") == 0 ||
           strcmp(c->alg, "SHA512") == 0;
}

static int otp_add(struct cli *c)
{
    json_object *o;
    char *seed = NULL;
    uint8_t *raw = NULL;
    size_t n = 0;

    if (need_org(c, "otp add") || !otp_params_ok(c)) {
        fprintf(stderr, "csca otp add: needs --id (new) --org --type "
                        "hotp|totp|otp, --digits 6|8, --algorithm "
                        "SHA1|SHA256|SHA512\n");
        return -1;
    }
    if (strcmp(c->type, "otp") != 0) {
        seed = read_secret(c->secret_file);
        if (seed == NULL || b32_dec(seed, &raw, &n) != 0 || n < 10) {
            fprintf(stderr, "csca otp add: seed (stdin or --seed-file) must "
                            "be base32, >= 80 bits\n");
            free(seed);
            free(raw);
            return -1;
        }
        OPENSSL_clear_free(raw, n);
    }
    o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(c->id));
    json_object_object_add(o, "org", json_object_new_string(c->org));
    json_object_object_add(o, "type", json_object_new_string(c->type));
    if (seed != NULL) {
        json_object_object_add(o, "seed", json_object_new_string(seed));
        OPENSSL_clear_free(seed, strlen(seed));
    }
    json_object_object_add(o, "digits", json_object_new_int(c->digits));
    json_object_object_add(o, "algorithm", json_object_new_string(c->alg));
    json_object_object_add(o, "period", json_object_new_int(c->period));
    json_object_object_add(o, "counter", json_object_new_int64(c->counter));
    if (c->eab_kid)
        json_object_object_add(o, "eab_kid",
                               json_object_new_string(c->eab_kid));
    return json_object_array_add(reg_list("otp"), o);
}

/* Accepts the agent's key JSON as is: {"jwk":{...},"thumbprint":"..."}. */
static int ppkp_add(struct cli *c)
{
    char *text = read_file(c->file ? c->file : "/dev/stdin", NULL), why[200];
    json_object *in = text ? json_tokener_parse(text) : NULL, *jwk, *o;
    EVP_PKEY *pk = NULL;
    char *thumb = NULL;
    int rc = -1;

    if (need_org(c, "ppkp add"))
        goto done;
    if (!json_object_object_get_ex(in, "jwk", &jwk) ||
        (pk = jwk_to_pkey(jwk, why, sizeof(why))) == NULL ||
        (thumb = jwk_thumbprint(jwk)) == NULL) {
        fprintf(stderr, "csca ppkp add: input needs a public \"jwk\"\n");
        goto done;
    }
    if (jstr(in, "thumbprint") && strcmp(jstr(in, "thumbprint"), thumb) != 0) {
        fprintf(stderr,
                "csca ppkp add: thumbprint does not match the jwk "
                "(computed %s)\n",
                thumb);
        goto done;
    }
    o = json_object_new_object();
    json_object_object_add(o, "org", json_object_new_string(c->org));
    json_object_object_add(o, "thumbprint", json_object_new_string(thumb));
    json_object_object_add(o, "jwk", json_object_get(jwk));
    if (c->eab_kid)
        json_object_object_add(o, "eab_kid",
                               json_object_new_string(c->eab_kid));
    rc = json_object_array_add(reg_list("ppkp"), o);
    printf("%s\n", thumb);
done:
    EVP_PKEY_free(pk);
    json_object_put(in);
    free(text);
    free(thumb);
    return rc;
}

static int admin_add(struct cli *c)
{
    const char *path = c->anchor ? c->anchor : c->cert;
    char *pem = path ? read_file(path, NULL) : NULL;
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    json_object *o;
    int rc = -1;

    if (need_org(c, "admin add") || (c->anchor != NULL) == (c->cert != NULL) ||
        x == NULL) {
        fprintf(stderr, "csca admin add: --org and one of --anchor FILE / "
                        "--cert FILE (PEM) required\n");
        goto done;
    }
    o = json_object_new_object();
    json_object_object_add(o, "org", json_object_new_string(c->org));
    json_object_object_add(o, "pem", json_object_new_string(pem));
    if (c->eab_kid)
        json_object_object_add(o, "eab_kid",
                               json_object_new_string(c->eab_kid));
    rc = json_object_array_add(reg_list(c->anchor ? "anchors" : "admin_certs"),
                               o);
done:
    X509_free(x);
    BIO_free(b);
    free(pem);
    return rc;
}

static const struct option reg_opts[] = {
    {"state", required_argument, NULL, 'S'},
    {"registry", required_argument, NULL, 'R'},
    {"name", required_argument, NULL, 'n'},
    {"domain", required_argument, NULL, 'd'},
    {"factor", required_argument, NULL, 'f'},
    {"profile", required_argument, NULL, 'p'},
    {"kid", required_argument, NULL, 'k'},
    {"org", required_argument, NULL, 'o'},
    {"id", required_argument, NULL, 'i'},
    {"type", required_argument, NULL, 't'},
    {"digits", required_argument, NULL, 'D'},
    {"algorithm", required_argument, NULL, 'a'},
    {"period", required_argument, NULL, 'P'},
    {"counter", required_argument, NULL, 'c'},
    {"key-file", required_argument, NULL, 'K'},
    {"seed-file", required_argument, NULL, 'K'},
    {"anchor", required_argument, NULL, 'A'},
    {"cert", required_argument, NULL, 'C'},
    {"eab-kid", required_argument, NULL, 'E'},
    {NULL, 0, NULL, 0}};

static void cli_opt(struct cli *c, int ch, const char *arg)
{
    switch (ch) {
    case 'S':
        CS.o.state_dir = arg;
        break;
    case 'R':
        CS.o.registry = arg;
        break;
    case 'n':
        c->name = arg;
        break;
    case 'd':
        json_object_array_add(c->domains, json_object_new_string(arg));
        break;
    case 'f':
        json_object_array_add(c->factors, split_list(arg));
        break;
    case 'p':
        json_object_array_add(c->profiles, json_object_new_string(arg));
        break;
    case 'k':
        c->kid = arg;
        break;
    case 'o':
        c->org = arg;
        break;
    case 'i':
        c->id = arg;
        break;
    case 't':
        c->type = arg;
        break;
    case 'D':
        c->digits = atoi(arg);
        break;
    case 'a':
        c->alg = arg;
        break;
    case 'P':
        c->period = atoi(arg);
        break;
    case 'c':
        c->counter = atoll(arg);
        break;
    case 'K':
        c->secret_file = arg;
        break;
    case 'A':
        c->anchor = arg;
        break;
    case 'C':
        c->cert = arg;
        break;
    case 'E':
        c->eab_kid = arg;
        break;
    default:
        break;
    }
}

static int list_redacted(void)
{
    json_object *copy = NULL, *a;
    size_t i;
    const char *sec[][2] = {{"eab", "hmac"}, {"otp", "seed"}};

    json_object_deep_copy(CS.registry, &copy, NULL);
    for (int k = 0; k < 2; k++) {
        json_object_object_get_ex(copy, sec[k][0], &a);
        for (i = 0; i < json_object_array_length(a); i++)
            json_object_object_add(json_object_array_get_idx(a, i), sec[k][1],
                                   json_object_new_string("(secret)"));
    }
    printf("%s\n",
           json_object_to_json_string_ext(
               copy, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(copy);
    return 0;
}

static int run_cmd(const char *kind, const char *verb, struct cli *c)
{
    if (strcmp(kind, "list") == 0)
        return list_redacted();
    if (verb == NULL || strcmp(verb, "add") != 0)
        return -2;
    if (strcmp(kind, "org") == 0)
        return org_add(c);
    if (strcmp(kind, "eab") == 0)
        return eab_add(c);
    if (strcmp(kind, "otp") == 0)
        return otp_add(c);
    if (strcmp(kind, "ppkp") == 0)
        return ppkp_add(c);
    if (strcmp(kind, "admin") == 0)
        return admin_add(c);
    return -2;
}

static int registry_write(void)
{
    const char *text = json_object_to_json_string_ext(
        CS.registry, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);

    return atomic_write(CS.o.registry, text, strlen(text), 0600);
}

/* argv[0] is the kind (org, eab, otp, ppkp, admin, list), argv[1] "add". */
int registry_cli(int argc, char **argv)
{
    struct cli c = {.digits = 6, .alg = "SHA1", .period = 30};
    const char *kind = argv[0], *verb = argc > 1 ? argv[1] : NULL;
    int ch, rc;

    c.domains = json_object_new_array();
    c.factors = json_object_new_array();
    c.profiles = json_object_new_array();
    optind = strcmp(kind, "list") == 0 ? 1 : 2;
    while ((ch = getopt_long(argc, argv, "", reg_opts, NULL)) != -1)
        cli_opt(&c, ch, optarg);
    if (optind < argc)
        c.file = argv[optind];
    rc = registry_load() == 0 ? run_cmd(kind, verb, &c) : -1;
    if (rc == -2)
        fprintf(stderr, "csca: unknown command; see csca --help\n");
    else if (rc == 0 && strcmp(kind, "list") != 0 && registry_write() != 0) {
        fprintf(stderr, "csca: cannot write %s\n", CS.o.registry);
        rc = -1;
    }
    json_object_put(c.domains);
    json_object_put(c.factors);
    json_object_put(c.profiles);
    return rc == 0 ? 0 : 1;
}
