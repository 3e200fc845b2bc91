/* SPDX-License-Identifier: Apache-2.0 */
/* Module loading, token selection by URI, the session and the login. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>

#include "csa_log.h"
#include "tok_internal.h"

static void tok_trim(char *dst, const unsigned char *src, size_t len)
{
    while (len > 0 && src[len - 1] == ' ')
        len--;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static csa_err tok_load_module(tok_ctx *t, const char *module)
{
    const char *name = module;

    if (module == NULL)
        module = p11_kit_uri_get_module_path(t->uri);
    if (module == NULL)
        name = p11_kit_uri_get_module_name(t->uri);
    else if (strchr(module, '/') != NULL) {
        t->fl = p11_kit_module_load(module, P11_KIT_MODULE_UNMANAGED);
        if (t->fl == NULL)
            return csa_raise(CSA_ERR_TOKEN,
                             "cannot load the PKCS#11 module %s: %s", module,
                             p11_kit_message() ? p11_kit_message() : "?");
        t->p11kit_managed = 1;
        return CSA_OK;
    }
    if (name == NULL)
        return csa_raise(CSA_ERR_CONFIG,
                         "no PKCS#11 module given (set a module path, a "
                         "p11-kit module name, or module-path= in the URI)");
    if (strncmp(name, "p11-kit:", 8) == 0)
        name += 8;
    t->all = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
    if (t->all != NULL)
        t->fl = p11_kit_module_for_name(t->all, name);
    if (t->fl == NULL)
        return csa_raise(CSA_ERR_TOKEN,
                         "no PKCS#11 module named '%s' is registered with "
                         "p11-kit (see p11-kit list-modules)",
                         name);
    return CSA_OK;
}

static csa_err tok_select_slot(tok_ctx *t)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64, i, matches = 0;
    CK_TOKEN_INFO ti;
    CK_RV rv = tok_ck_get_slot_list(t, slots, &n);

    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot list the module's slots");
    if (n > sizeof(slots) / sizeof(slots[0]))
        return csa_raise(CSA_ERR_TOKEN,
                         "the module reported %lu slots into room for %zu",
                         (unsigned long)n, sizeof(slots) / sizeof(slots[0]));
    for (i = 0; i < n; i++) {
        if (tok_ck_get_token_info(t, slots[i], &ti) != CKR_OK)
            continue;
        if (!p11_kit_uri_match_token_info(t->uri, &ti))
            continue;
        if (matches++ == 0) {
            t->slot = slots[i];
            t->info = ti;
            clock_gettime(CLOCK_MONOTONIC, &t->info_at);
            tok_trim(t->token_label, ti.label, sizeof(ti.label));
        }
    }
    if (matches == 0)
        return csa_raise(CSA_ERR_NOT_FOUND,
                         "no token matches the PKCS#11 URI (checked %lu "
                         "slots with a token)",
                         (unsigned long)n);
    if (matches > 1)
        return csa_raise(CSA_ERR_AMBIGUOUS,
                         "%lu tokens match the PKCS#11 URI; add token=, "
                         "serial= or manufacturer= to choose one",
                         (unsigned long)matches);
    return CSA_OK;
}

static csa_err tok_open_session(tok_ctx *t)
{
    CK_RV rv = tok_ck_open_session(t);

    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot open a session with the token");
    t->have_session = 1;
    return CSA_OK;
}

static csa_err tok_start(const char *module, const char *uri, tok_ctx **out)
{
    tok_ctx *t = calloc(1, sizeof(*t));
    csa_err err;
    CK_RV rv;
    int r;

    *out = t;
    if (t == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    t->pid = getpid();
    t->uri = p11_kit_uri_new();
    r = p11_kit_uri_parse(uri ? uri : "pkcs11:", P11_KIT_URI_FOR_ANY, t->uri);
    if (r != P11_KIT_URI_OK)
        return csa_raise(CSA_ERR_CONFIG, "bad PKCS#11 URI '%s': %s",
                         uri ? uri : "", p11_kit_uri_message(r));
    if ((err = tok_load_module(t, module)) != CSA_OK)
        return err;
    rv = tok_ck_initialize(t);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        /* Not initialised: tok_close must not finalize. */
        t->pid = 0;
        return tok_rv_raise(rv, "cannot initialise the PKCS#11 module");
    }
    return CSA_OK;
}

csa_err tok_open_module_only(const char *module, tok_ctx **out)
{
    csa_err err = tok_start(module, NULL, out);

    if (err != CSA_OK) {
        tok_close(*out);
        *out = NULL;
    }
    return err;
}

csa_err tok_open(const char *module, const char *uri, tok_ctx **out)
{
    tok_ctx *t = NULL;
    csa_err err = tok_start(module, uri, &t);

    *out = NULL;
    if (err != CSA_OK || (err = tok_select_slot(t)) != CSA_OK ||
        (err = tok_open_session(t)) != CSA_OK) {
        tok_close(t);
        return err;
    }
    csa_debug("pkcs11", "selected token '%s' in slot %lu", t->token_label,
              (unsigned long)t->slot);
    *out = t;
    return CSA_OK;
}

csa_err tok_module_info_get(const char *module, const char *uri,
                            tok_module_info *out)
{
    tok_ctx *t = NULL;
    CK_INFO info;
    csa_err err = tok_start(module, uri, &t);
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    if (err != CSA_OK)
        goto done;
    rv = tok_ck_get_info(t, &info);
    if (rv != CKR_OK) {
        err = tok_rv_raise(rv, "the PKCS#11 module did not answer C_GetInfo");
        goto done;
    }
    /* Fixed-size, blank-padded fields: the sizes are the header's, so no
     * module-reported length is involved. */
    tok_trim(out->manufacturer, info.manufacturerID,
             sizeof(info.manufacturerID));
    tok_trim(out->description, info.libraryDescription,
             sizeof(info.libraryDescription));
    out->lib_major = info.libraryVersion.major;
    out->lib_minor = info.libraryVersion.minor;
    out->cryptoki_major = info.cryptokiVersion.major;
    out->cryptoki_minor = info.cryptokiVersion.minor;
done:
    tok_close(t);
    return err;
}

void tok_close(tok_ctx *t)
{
    if (t == NULL)
        return;
    if (t->fl != NULL && t->pid == getpid()) {
        if (t->logged_in)
            (void)tok_ck_logout(t);
        if (t->have_session)
            (void)tok_ck_close_session(t);
        (void)tok_ck_finalize(t);
    }
    if (t->all != NULL)
        p11_kit_modules_release(t->all);
    else if (t->p11kit_managed && t->fl != NULL)
        p11_kit_module_release(t->fl);
    if (t->uri != NULL)
        p11_kit_uri_free(t->uri);
    free(t->pin_source);
    free(t);
}

const char *tok_token_label(const tok_ctx *t)
{
    return t->token_label;
}

csa_err tok_check_usable(tok_ctx *t)
{
    /* PKCS#11 state does not survive fork(): the child must open its own. */
    if (t->pid != getpid())
        return csa_raise(CSA_ERR_TOKEN,
                         "PKCS#11 context used after fork(); open a new one");
    return CSA_OK;
}

/* The flags read when the token was chosen, if that was under a second
 * ago (opening the token and logging in follow each other); else read
 * again: a PIN may have been locked meanwhile. */
static CK_RV tok_token_info_fresh(tok_ctx *t, CK_TOKEN_INFO *ti)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (t->info_at.tv_sec != 0 &&
        (now.tv_sec - t->info_at.tv_sec) * 1000000000L +
                (now.tv_nsec - t->info_at.tv_nsec) <
            1000000000L) {
        *ti = t->info;
        t->info_at.tv_sec = 0; /* used once */
        return CKR_OK;
    }
    return tok_ck_get_token_info(t, t->slot, ti);
}

static csa_err tok_login_flags_ok(tok_ctx *t, CK_TOKEN_INFO *out)
{
    CK_TOKEN_INFO ti;
    CK_RV rv = tok_token_info_fresh(t, &ti);

    if (rv != CKR_OK)
        return tok_rv_raise(rv, "cannot read the token's flags");
    *out = ti;
    if (ti.flags & CKF_USER_PIN_LOCKED)
        return csa_raise(CSA_ERR_PIN,
                         "token '%s': the user PIN is locked; an "
                         "administrator must reset it with the SO PIN",
                         t->token_label);
    if (ti.flags & CKF_USER_PIN_FINAL_TRY)
        return csa_raise(CSA_ERR_PIN,
                         "token '%s': the next wrong PIN locks the token; "
                         "refusing to try automatically (log in once by hand "
                         "with a PIN you are sure of)",
                         t->token_label);
    if (ti.flags & CKF_USER_PIN_TO_BE_CHANGED)
        return csa_raise(CSA_ERR_PIN,
                         "token '%s': the user PIN must be changed before use",
                         t->token_label);
    if (!(ti.flags & CKF_USER_PIN_INITIALIZED))
        return csa_raise(CSA_ERR_PIN,
                         "token '%s': the user PIN is not initialised",
                         t->token_label);
    return CSA_OK;
}

/*
 * A PIN whose length the token does not accept cannot be right, and some
 * tokens still count it as a wrong PIN: openCryptoki's soft token takes 4
 * to 8 characters, answers CKR_PIN_INCORRECT to a longer one and sets
 * CKF_USER_PIN_COUNT_LOW, a step towards the lock.  Refuse it before
 * C_Login.  Tokens that do not state their range are not checked.  The
 * message names the range, never the PIN or its length.
 */
static csa_err tok_pin_len_ok(const tok_ctx *t, const CK_TOKEN_INFO *ti,
                              size_t len)
{
    CK_ULONG min = ti->ulMinPinLen, max = ti->ulMaxPinLen;

    if (max == 0 || max == CK_UNAVAILABLE_INFORMATION || min > max)
        return CSA_OK;
    if (len >= min && len <= max)
        return CSA_OK;
    return csa_raise(CSA_ERR_PIN,
                     "token '%s' takes PINs of %lu to %lu characters and the "
                     "PIN from the PIN file is %s; not trying it (a wrong "
                     "PIN uses up one of the token's few tries)",
                     t->token_label, (unsigned long)min, (unsigned long)max,
                     len < min ? "shorter" : "longer");
}

static csa_err tok_do_login(tok_ctx *t)
{
    csa_secret pin = {0};
    CK_TOKEN_INFO ti;
    csa_err err;
    CK_RV rv;

    if (t->login_failed)
        return csa_raise(CSA_ERR_PIN,
                         "an earlier login to token '%s' failed; not retrying "
                         "(tokens lock after a few wrong PINs)",
                         t->token_label);
    memset(&ti, 0, sizeof(ti));
    if ((err = tok_login_flags_ok(t, &ti)) != CSA_OK)
        return err;
    if ((err = csa_secret_read(t->pin_source, &pin)) != CSA_OK)
        return err;
    if ((err = tok_pin_len_ok(t, &ti, pin.len)) != CSA_OK) {
        csa_secret_free(&pin);
        return err;
    }
    rv = tok_ck_login(t, pin.data, pin.len);
    csa_secret_free(&pin);
    if (rv == CKR_USER_ALREADY_LOGGED_IN)
        rv = CKR_OK;
    if (rv != CKR_OK) {
        t->login_failed = 1;
        return tok_rv_raise(rv, "login to the token failed");
    }
    t->logged_in = 1;
    return CSA_OK;
}

csa_err tok_login(tok_ctx *t, const char *pin_source)
{
    csa_err err = tok_check_usable(t);

    if (err != CSA_OK)
        return err;
    if (t->logged_in)
        return CSA_OK;
    if (pin_source == NULL)
        return csa_raise(CSA_ERR_CONFIG, "no PIN file configured");
    free(t->pin_source);
    t->pin_source = strdup(pin_source);
    if (t->pin_source == NULL)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    return tok_do_login(t);
}

csa_err tok_session_reopen(tok_ctx *t)
{
    CK_SESSION_INFO info;
    int was_logged_in = t->logged_in;
    csa_err err;

    csa_warn("pkcs11", "session with token '%s' lost; reopening it once",
             t->token_label);
    if (t->have_session)
        (void)tok_ck_close_session(t);
    t->have_session = 0;
    t->logged_in = 0;
    t->generation++;
    if ((err = tok_select_slot(t)) != CSA_OK ||
        (err = tok_open_session(t)) != CSA_OK)
        return err;
    if (!was_logged_in)
        return CSA_OK;
    /* Another session may have kept the login alive. */
    if (tok_ck_get_session_info(t, &info) == CKR_OK &&
        (info.state == CKS_RW_USER_FUNCTIONS ||
         info.state == CKS_RO_USER_FUNCTIONS)) {
        t->logged_in = 1;
        return CSA_OK;
    }
    if (t->pin_source == NULL || strncmp(t->pin_source, "fd:", 3) == 0)
        return csa_raise(CSA_ERR_PIN,
                         "the login to token '%s' was lost and the PIN came "
                         "from a descriptor that cannot be read again",
                         t->token_label);
    return tok_do_login(t);
}
