/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy file parser.  The caller read the file; we parse the buffer.
 *
 * inih's ini_parse_string() does not tell the handler the line number (the
 * distribution builds it without INI_HANDLER_LINENO), so we drive the same
 * parser through ini_parse_stream() with our own string reader: inih asks for
 * exactly one line per reader call, so the reader's counter is the line the
 * handler is looking at.  The reader also refuses lines longer than inih's
 * buffer instead of letting them be split silently.
 *
 * Only the first error is reported; every error names filename:line.
 */
#include "pol_internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#define POL_SECTION_GLOBAL (-1)

struct pol_parser;
typedef bool (*pol_setter)(struct pol_parser *ps, void *field,
                           const char *value);

/* One key of the file.  profile == true: the key lives in every
 * [profile.<name>] section and off is into struct pol_profile_rules;
 * otherwise off is into struct pol_policy. */
struct pol_keydef {
    const char *section;
    const char *name;
    pol_setter set;
    size_t off;
    bool profile;
};

#define N_KEYDEFS 28

struct pol_parser {
    const char *pos;      /* next unread byte of the text */
    const char *filename; /* for messages */
    int line;             /* line the handler is looking at */
    int err_line;         /* first error's line, 0 if none */
    const char *section;  /* key being set, for messages, or NULL */
    const char *name;
    csa_err err;
    pol_policy *p;
    /* Line where each key (per profile section) was set, 0 if not. */
    int seen[N_KEYDEFS][POL_PROFILE__MAX + 1];
};

/* Records the first error as "filename:line: message"; returns false. */
__attribute__((format(printf, 3, 4))) static bool
perr(struct pol_parser *ps, csa_err err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (ps->err_line != 0)
        return false;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ps->err_line = ps->line > 0 ? ps->line : 1;
    if (ps->name != NULL)
        ps->err = csa_raise(err, "%s:%d: [%s] %s: %s", ps->filename,
                            ps->err_line, ps->section, ps->name, msg);
    else
        ps->err = csa_raise(err, "%s:%d: %s", ps->filename, ps->err_line, msg);
    return false;
}

/* ---- value parsers ------------------------------------------------------ */

static bool set_bool(struct pol_parser *ps, void *field, const char *value)
{
    bool *b = field;

    if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0)
        *b = true;
    else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0)
        *b = false;
    else
        return perr(ps, CSA_ERR_CONFIG,
                    "bad value '%s': expected true or false", value);
    return true;
}

/* Parses a decimal integer in [min, max]. */
static bool parse_uint(struct pol_parser *ps, const char *value, long long min,
                       long long max, long long *out)
{
    char *end = NULL;
    long long n;

    errno = 0;
    n = strtoll(value, &end, 10);
    if (!isdigit((unsigned char)value[0]) || errno != 0 || *end != '\0')
        return perr(ps, CSA_ERR_CONFIG, "bad value '%s': not a number", value);
    if (n < min || n > max)
        return perr(ps, CSA_ERR_CONFIG,
                    "bad value '%s': must be between %lld and %lld", value, min,
                    max);
    *out = n;
    return true;
}

static bool set_rsa_bits(struct pol_parser *ps, void *field, const char *value)
{
    long long n;

    /* Below 2048 no CA issues any more; 16384 is the largest RSA a token
     * is known to generate.  Both ends catch typos. */
    if (!parse_uint(ps, value, 2048, 16384, &n))
        return false;
    *(unsigned *)field = (unsigned)n;
    return true;
}

/* "<n>[smhd]" to seconds, between 1 s and 3650 days. */
static bool set_duration(struct pol_parser *ps, void *field, const char *value)
{
    static const struct {
        char unit;
        long long mult;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    char num[32];
    size_t len = strlen(value);
    long long mult = 1, n;

    if (len > 0 && len < sizeof(num) &&
        isalpha((unsigned char)value[len - 1])) {
        mult = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (tolower((unsigned char)value[len - 1]) == units[i].unit)
                mult = units[i].mult;
        }
        if (mult == 0)
            return perr(ps, CSA_ERR_CONFIG,
                        "bad value '%s': unit must be s, m, h or d", value);
        len--;
    }
    if (len == 0 || len >= sizeof(num))
        return perr(ps, CSA_ERR_CONFIG, "bad value '%s': not a duration",
                    value);
    memcpy(num, value, len);
    num[len] = '\0';
    if (!parse_uint(ps, num, 1, 3650LL * 86400 / mult, &n))
        return false;
    *(int64_t *)field = n * mult;
    return true;
}

static bool set_fraction(struct pol_parser *ps, void *field, const char *value)
{
    char *end = NULL;
    double d;

    errno = 0;
    d = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || !(d >= 0.0 && d <= 1.0))
        return perr(ps, CSA_ERR_CONFIG,
                    "bad value '%s': expected a fraction between 0 and 1",
                    value);
    *(double *)field = d;
    return true;
}

static bool set_rotation(struct pol_parser *ps, void *field, const char *value)
{
    if (strcasecmp(value, "required") == 0)
        *(bool *)field = true;
    else if (strcasecmp(value, "allowed") == 0)
        *(bool *)field = false;
    else
        return perr(ps, CSA_ERR_CONFIG,
                    "bad value '%s': expected required or allowed", value);
    return true;
}

/* ---- lists -------------------------------------------------------------- */

typedef bool (*pol_item_fn)(struct pol_parser *ps, void *field,
                            const char *item);

/* Splits value at commas, trims blanks, calls fn for every item. */
static bool for_each_item(struct pol_parser *ps, void *field, const char *value,
                          pol_item_fn fn)
{
    char item[512];
    const char *s = value;

    if (*value == '\0')
        return perr(ps, CSA_ERR_CONFIG,
                    "empty list: remove the key to keep the default");
    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);

        while (len > 0 && isspace((unsigned char)*s))
            s++, len--;
        while (len > 0 && isspace((unsigned char)s[len - 1]))
            len--;
        if (len == 0 || len >= sizeof(item))
            return perr(ps, CSA_ERR_CONFIG,
                        "bad list '%s': empty or "
                        "over-long item",
                        value);
        memcpy(item, s, len);
        item[len] = '\0';
        if (!fn(ps, field, item))
            return false;
        s = comma ? comma + 1 : s + strlen(s);
    }
    return true;
}

static bool add_item(struct pol_parser *ps, struct pol_list *l,
                     const char *item)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], item) == 0)
            return perr(ps, CSA_ERR_CONFIG, "'%s' is listed twice", item);
    }
    if (pol_list_add(l, item, strlen(item)) != CSA_OK)
        return perr(ps, CSA_ERR_NOMEM, "out of memory");
    return true;
}

static bool url_item(struct pol_parser *ps, void *field, const char *item)
{
    if (strncmp(item, "https://", 8) != 0 && strncmp(item, "http://", 7) != 0)
        return perr(ps, CSA_ERR_CONFIG, "bad value '%s': not an http(s) URL",
                    item);
    return add_item(ps, field, item);
}

static bool path_item(struct pol_parser *ps, void *field, const char *item)
{
    if (item[0] != '/')
        return perr(ps, CSA_ERR_CONFIG,
                    "bad value '%s': trust anchor paths must be absolute",
                    item);
    return add_item(ps, field, item);
}

/* A domain or "*.domain": letters, digits, '-', '.', no empty label. */
static bool domain_item(struct pol_parser *ps, void *field, const char *item)
{
    const char *d = strncmp(item, "*.", 2) == 0 ? item + 2 : item;
    bool label_start = true;

    for (const char *c = d; *c != '\0'; c++) {
        if (*c == '.' && !label_start) {
            label_start = true;
            continue;
        }
        if (!(isalnum((unsigned char)*c) || (*c == '-' && !label_start)))
            return perr(ps, CSA_ERR_CONFIG,
                        "bad value '%s': expected a domain such as "
                        "example.com or *.example.com",
                        item);
        label_start = false;
    }
    if (label_start)
        return perr(ps, CSA_ERR_CONFIG, "bad value '%s': empty label", item);
    return add_item(ps, field, item);
}

static bool chal_item(struct pol_parser *ps, void *field, const char *item)
{
    int c = pol_chal_from_name(item);

    if (c < 0)
        return perr(ps, CSA_ERR_CONFIG, "unknown challenge type '%s'", item);
    *(unsigned *)field |= 1u << c;
    return true;
}

static bool curve_item(struct pol_parser *ps, void *field, const char *item)
{
    int c = pol_curve_from_name(item);

    if (c < 0)
        return perr(ps, CSA_ERR_CONFIG,
                    "unsupported curve '%s' (allowed: P-256, P-384, P-521)",
                    item);
    *(unsigned *)field |= 1u << c;
    return true;
}

static bool keytype_item(struct pol_parser *ps, void *field, const char *item)
{
    int t = pol_key_type_from_name(item);

    if (t < 0)
        return perr(ps, CSA_ERR_CONFIG,
                    "unknown key type '%s' (expected rsa, ecdsa, ed25519)",
                    item);
    *(unsigned *)field |= 1u << t;
    return true;
}

static bool set_strlist(struct pol_parser *ps, void *field, const char *value,
                        pol_item_fn fn)
{
    pol_list_free(field);
    return for_each_item(ps, field, value, fn);
}

static bool set_urls(struct pol_parser *ps, void *field, const char *value)
{
    return set_strlist(ps, field, value, url_item);
}

static bool set_paths(struct pol_parser *ps, void *field, const char *value)
{
    return set_strlist(ps, field, value, path_item);
}

/* An identity name (the agent's [identity NAME]), or "*" for all. */
static bool name_item(struct pol_parser *ps, void *field, const char *item)
{
    for (const char *c = item; *c != '\0'; c++)
        if (iscntrl((unsigned char)*c) || isspace((unsigned char)*c))
            return perr(ps, CSA_ERR_CONFIG,
                        "bad value '%s': not an identity name", item);
    return add_item(ps, field, item);
}

static bool set_names(struct pol_parser *ps, void *field, const char *value)
{
    return set_strlist(ps, field, value, name_item);
}

static bool set_domains(struct pol_parser *ps, void *field, const char *value)
{
    return set_strlist(ps, field, value, domain_item);
}

static bool set_mask(struct pol_parser *ps, void *field, const char *value,
                     pol_item_fn fn)
{
    *(unsigned *)field = 0;
    return for_each_item(ps, field, value, fn);
}

static bool set_chals(struct pol_parser *ps, void *field, const char *value)
{
    return set_mask(ps, field, value, chal_item);
}

/* automatic may be empty: every challenge then waits for a human. */
static bool set_auto(struct pol_parser *ps, void *field, const char *value)
{
    if (strcasecmp(value, "none") == 0 || value[0] == '\0') {
        *(unsigned *)field = 0;
        return true;
    }
    return set_mask(ps, field, value, chal_item);
}

static bool set_curves(struct pol_parser *ps, void *field, const char *value)
{
    return set_mask(ps, field, value, curve_item);
}

static bool set_keytypes(struct pol_parser *ps, void *field, const char *value)
{
    return set_mask(ps, field, value, keytype_item);
}

/* ---- the key table ------------------------------------------------------ */

#define PK(sec, key, fn, member)                                               \
    {                                                                          \
        sec, key, fn, offsetof(struct pol_policy, member), false               \
    }
#define PR(key, fn, member)                                                    \
    {                                                                          \
        "profile", key, fn, offsetof(struct pol_profile_rules, member), true   \
    }

static const struct pol_keydef keydefs[] = {
    PK("ca", "directory_urls", set_urls, directory_urls),
    PK("ca", "eab_required", set_bool, eab_required),
    PK("ca", "trust_anchors", set_paths, trust_anchors),
    PK("keys", "types", set_keytypes, key_types),
    PK("keys", "rsa_min_bits", set_rsa_bits, rsa_min_bits),
    PK("keys", "ec_curves", set_curves, ec_curves),
    PK("keys", "rotation", set_rotation, rotation_required),
    PK("certificate", "max_lifetime", set_duration, max_lifetime),
    PK("challenges", "allowed", set_chals, chal_allowed),
    PK("challenges", "automatic", set_auto, chal_automatic),
    PK("renewal", "min_fraction", set_fraction, renew_min_fraction),
    PK("renewal", "max_fraction", set_fraction, renew_max_fraction),
    PK("renewal", "ari_early", set_bool, ari_early),
    PK("hooks", "allowed", set_bool, hooks_allowed),
    PK("ephemeral", "min_lifetime", set_duration, eph_min_lifetime),
    PK("ephemeral", "max_lifetime", set_duration, eph_max_lifetime),
    PK("ephemeral", "required", set_names, eph_required),
    PR("enabled", set_bool, enabled),
    PR("dns_domains", set_domains, dns_domains),
    PR("email_domains", set_domains, email_domains),
    PR("accept_eku_serverauth", set_bool, accept_eku_serverauth),
    PR("require_ku_critical", set_bool, require_ku_critical),
};

_Static_assert(sizeof(keydefs) / sizeof(keydefs[0]) <= N_KEYDEFS,
               "raise N_KEYDEFS");
#define KEYDEF_COUNT ((int)(sizeof(keydefs) / sizeof(keydefs[0])))

/* Maps "profile.<name>" to a profile index, anything else to
 * POL_SECTION_GLOBAL; *is_profile tells which. */
static int section_profile(const char *section, bool *is_profile)
{
    pol_profile prof;

    *is_profile = strncmp(section, "profile.", 8) == 0;
    if (!*is_profile)
        return POL_SECTION_GLOBAL;
    for (int i = 0; i < POL_PROFILE__MAX; i++) {
        prof = (pol_profile)i;
        if (strcmp(section + 8, pol_profile_name(prof)) == 0)
            return i;
    }
    return -2;
}

static bool known_section(const char *section)
{
    for (int i = 0; i < KEYDEF_COUNT; i++) {
        if (!keydefs[i].profile && strcmp(keydefs[i].section, section) == 0)
            return true;
    }
    return false;
}

static int find_key(bool is_profile, const char *section, const char *name)
{
    for (int i = 0; i < KEYDEF_COUNT; i++) {
        if (keydefs[i].profile != is_profile ||
            strcmp(keydefs[i].name, name) != 0)
            continue;
        if (is_profile || strcmp(keydefs[i].section, section) == 0)
            return i;
    }
    return -1;
}

static int handler(void *user, const char *section, const char *name,
                   const char *value)
{
    struct pol_parser *ps = user;
    bool is_profile;
    int prof = section_profile(section, &is_profile);
    int k, slot;
    char *base;

    if (ps->err_line != 0)
        return 0;
    if (prof == -2 || (!is_profile && !known_section(section)))
        return perr(ps, CSA_ERR_CONFIG, "unknown section [%s]", section);
    k = find_key(is_profile, section, name);
    if (k < 0)
        return perr(ps, CSA_ERR_CONFIG, "unknown key '%s' in section [%s]",
                    name, section);
    slot = is_profile ? prof : POL_PROFILE__MAX;
    if (ps->seen[k][slot] != 0)
        return perr(ps, CSA_ERR_CONFIG,
                    "[%s] %s is already set on line %d (an indented line "
                    "continues the previous key)",
                    section, name, ps->seen[k][slot]);
    ps->seen[k][slot] = ps->line;
    base = is_profile ? (char *)&ps->p->profiles[prof] : (char *)ps->p;
    ps->section = section;
    ps->name = name;
    if (!keydefs[k].set(ps, base + keydefs[k].off, value))
        return 0;
    ps->section = ps->name = NULL;
    return 1;
}

/* The ini_reader: one line per call, counted. */
static char *reader(char *str, int num, void *stream)
{
    struct pol_parser *ps = stream;
    const char *nl;
    size_t len;

    if (*ps->pos == '\0')
        return NULL;
    nl = strchr(ps->pos, '\n');
    len = nl ? (size_t)(nl - ps->pos) + 1 : strlen(ps->pos);
    ps->line++;
    if (len + 1 > (size_t)num) {
        perr(ps, CSA_ERR_CONFIG, "line longer than %d characters", num - 3);
        len = (size_t)num - 1;
    }
    memcpy(str, ps->pos, len);
    str[len] = '\0';
    ps->pos = nl ? nl + 1 : ps->pos + strlen(ps->pos);
    return str;
}

/* Line of key k in the global sections (0 if unset). */
static int line_of(const struct pol_parser *ps, const char *section,
                   const char *name)
{
    int k = find_key(false, section, name);

    return k < 0 ? 0 : ps->seen[k][POL_PROFILE__MAX];
}

static int max_line(int a, int b)
{
    return a > b ? a : b;
}

/* Contradictions between keys, reported at the later key's line. */
static bool check_challenges(struct pol_parser *ps)
{
    const pol_policy *p = ps->p;
    char extra[128];

    ps->line = max_line(line_of(ps, "challenges", "allowed"),
                        line_of(ps, "challenges", "automatic"));
    if (p->chal_automatic & (1u << POL_CHAL_OTP01)) {
        ps->line = line_of(ps, "challenges", "automatic");
        return perr(ps, CSA_ERR_CONFIG,
                    "[challenges] automatic lists otp-01, which always needs "
                    "a human to read the code");
    }
    if (p->chal_automatic & ~p->chal_allowed) {
        pol_chal_mask_str(p->chal_automatic & ~p->chal_allowed, extra,
                          sizeof(extra));
        return perr(ps, CSA_ERR_CONFIG,
                    "[challenges] automatic lists %s, not in allowed", extra);
    }
    return true;
}

static bool check_profiles(struct pol_parser *ps)
{
    const pol_policy *p = ps->p;
    int k = find_key(true, "", "email_domains");
    bool any = false;

    for (int i = 0; i < POL_PROFILE__MAX; i++)
        any = any || p->profiles[i].enabled;
    if (!any) {
        ps->line = max_line(ps->line, 1);
        return perr(ps, CSA_ERR_CONFIG, "every profile is disabled");
    }
    ps->line = ps->seen[k][POL_PROFILE_CODESIGNING];
    if (ps->line != 0)
        return perr(ps, CSA_ERR_CONFIG,
                    "[profile.codesigning] email_domains: code signing "
                    "certificates name dns identifiers only");
    return true;
}

static bool check_consistency(struct pol_parser *ps)
{
    const pol_policy *p = ps->p;
    int last = ps->line;

    if (!check_challenges(ps) || !check_profiles(ps))
        return false;
    if (p->renew_min_fraction >= p->renew_max_fraction) {
        ps->line = max_line(line_of(ps, "renewal", "min_fraction"),
                            line_of(ps, "renewal", "max_fraction"));
        return perr(ps, CSA_ERR_CONFIG,
                    "[renewal] min_fraction (%.2f) must be below "
                    "max_fraction (%.2f)",
                    p->renew_min_fraction, p->renew_max_fraction);
    }
    if (p->eph_min_lifetime > p->eph_max_lifetime) {
        ps->line = max_line(line_of(ps, "ephemeral", "min_lifetime"),
                            line_of(ps, "ephemeral", "max_lifetime"));
        return perr(ps, CSA_ERR_CONFIG,
                    "[ephemeral] min_lifetime (%" PRId64
                    " s) must not be above max_lifetime (%" PRId64 " s)",
                    p->eph_min_lifetime, p->eph_max_lifetime);
    }
    if ((p->key_types & ~(1u << POL_KEY_OTHER)) == 0) {
        ps->line = line_of(ps, "keys", "types");
        return perr(ps, CSA_ERR_CONFIG, "[keys] types allows no key");
    }
    ps->line = last;
    return true;
}

csa_err pol_parse(const char *text, const char *filename, pol_policy **out)
{
    struct pol_parser ps = {.pos = text, .filename = filename};
    int rc;

    *out = NULL;
    if (text == NULL || filename == NULL)
        return csa_raise(CSA_ERR_INVALID, "pol_parse: no text or filename");
    ps.p = pol_default();
    if (ps.p == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    rc = ini_parse_stream(reader, &ps, handler, &ps);
    /* They pointed into libinih's buffers, gone with its frame: an error
     * after the parse names no key (a syntax error used to print them). */
    ps.section = NULL;
    ps.name = NULL;
    if (rc > 0 && (ps.err_line == 0 || rc < ps.err_line)) {
        ps.err_line = 0;
        ps.line = rc;
        perr(&ps, CSA_ERR_CONFIG,
             "syntax error: expected [section], key = value or a comment");
    } else if (rc < 0 && ps.err_line == 0) {
        perr(&ps, CSA_ERR_NOMEM, "out of memory");
    }
    if (ps.err_line == 0)
        check_consistency(&ps);
    if (ps.err_line != 0) {
        pol_free(ps.p);
        return ps.err;
    }
    *out = ps.p;
    return CSA_OK;
}
