/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csagent exec IDENTITY -- COMMAND [ARGS...]
 *
 * Runs a signing command with the identity's current key pair pinned: the
 * identity's use lock (<state_dir>/<identity>.use) is held shared for as
 * long as COMMAND runs, and a swap-in takes it exclusive (bounded, logged)
 * for the steps that change what the label resolves to, so the pair the
 * command was given never changes under it.
 *
 * The lock is kept by inheritance, not by a waiting parent: its descriptor
 * loses close-on-exec and csagent execvp()s COMMAND in its own place, so the
 * flock lives exactly as long as COMMAND (and any child that inherits the
 * descriptor), COMMAND's exit status is exec's, and signals reach it
 * directly.  The token session is closed before that; the PIN stays in its
 * file (or descriptor) and never enters argv or the environment.
 *
 * Order: recover an interrupted swap (under the renewal lock, before the
 * use lock: recovery itself takes the use lock exclusive), take the use
 * lock, resolve and check the pair, check the chain file, export the
 * environment, close the token, exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "agt.h"
#include "agt_ephemeral.h"
#include "agt_journal.h"
#include "agt_lock.h"
#include "agt_session.h"
#include "agt_status.h"
#include "agt_swap.h"
#include "csa_log.h"
#include "csa_secret.h"

/* What exec found on the token, and what it hands to COMMAND. */
typedef struct {
    const agt_identity *id;
    const char *state_dir;
    unsigned char key_id[TOK_ID_MAX];
    size_t key_id_len;
    X509 *cert;              /* the pinned certificate */
    char pin_path[PATH_MAX]; /* what COMMAND reads the PIN from */
    int pin_fd;              /* fd:N sources: N, else -1 */
    char login_src[32];      /* fd:M of the in-memory PIN copy */
    int login_fd;            /* M: read and closed by the login */
    int lock_fd;             /* the use lock, held shared */
} agt_exec;

static const char agt_exec_usage[] =
    "usage: csagent [--config FILE] exec [TOKEN OPTIONS] IDENTITY -- COMMAND "
    "[ARGS...]\n"
    "       csagent [--config FILE] exec --ephemeral [--lifetime D] "
    "[--revoke]\n"
    "               [--artifact FILE]... [TOKEN OPTIONS] IDENTITY -- COMMAND "
    "[ARGS...]\n"
    "Runs COMMAND with the identity's current key pair pinned: the\n"
    "identity's use lock is held shared while COMMAND runs, so a renewal\n"
    "waits (at most [agent] signer_wait, logged) before it swaps a new\n"
    "pair in, and never breaks the hold (when the wait runs out, the\n"
    "renewal fails, its verified certificate waits under LABEL.next and\n"
    "the next csagent command swaps it in).  Before COMMAND runs, exec\n"
    "finishes an interrupted swap, then checks on the token (logged in)\n"
    "that exactly one private key carries the identity's label, exactly\n"
    "one certificate carries the label and the key's CKA_ID, that the\n"
    "certificate's public key is the key's, and that the chain file\n"
    "starts with that certificate.  COMMAND replaces csagent (execvp):\n"
    "its exit status is exec's and signals reach it directly.\n"
    "\n"
    "IDENTITY is an [identity NAME] of the configuration, or its "
    "label.\n" AGT_TOKEN_HELP "\n"
    "Environment given to COMMAND (never a PIN):\n"
    "  CSAGENT_IDENTITY   the identity's name\n"
    "  CSAGENT_LABEL      its label (CKA_LABEL)\n"
    "  CSAGENT_KEY_URI    pkcs11:token=T;object=L;id=%XX...;type=private\n"
    "  CSAGENT_CERT_URI   the same with type=cert\n"
    "  CSAGENT_KEY_ID     the pinned CKA_ID in hex\n"
    "  CSAGENT_SERIAL     the certificate's serial number in hex\n"
    "  CSAGENT_CHAIN_FILE state_dir/IDENTITY.pem: leaf, then issuers\n"
    "  CSAGENT_PIN_FILE   absolute path of the PIN file, or /dev/fd/N\n"
    "  CSAGENT_PIN_FD     N, when the PIN comes from fd:N (left open,\n"
    "                     as an in-memory copy readable from its start)\n"
    "  CSAGENT_MODULE     the PKCS#11 module, when configured as a path\n"
    "  CSAGENT_LOCK_FD    the descriptor that holds the use lock\n"
    "\n"
    "--ephemeral: one key and certificate for this COMMAND only.  A\n"
    "fresh key is generated in the token under LABEL.eph-RANDOM, a\n"
    "certificate ending after --lifetime (default 10m, within the\n"
    "policy's [ephemeral] min_lifetime..max_lifetime) is enrolled for it\n"
    "through the identity's challenges and policy, COMMAND runs as a\n"
    "child with the same variables (no CSAGENT_LOCK_FD), and afterwards\n"
    "the key, certificate and chain objects are destroyed, whatever\n"
    "COMMAND did (a killed csagent leaves a record the next csagent\n"
    "start finishes).  --revoke revokes the certificate afterwards\n"
    "(reason 4, superseded).  One JSON line per run goes to\n"
    "state_dir/audit.log, with the SHA-256 of each --artifact FILE.\n"
    "\n"
    "Exit status: COMMAND's; 127 if COMMAND is not found, 126 if it\n"
    "cannot be executed; before COMMAND runs, csagent's own codes: 2\n"
    "usage, 3 configuration, 4 token or PIN, 6 the certificate does not\n"
    "match the key or the chain file, 1 anything else (no pair, two\n"
    "pairs, the use lock not obtained within signer_wait).\n";

static const char agt_sign_usage[] =
    "usage: csagent [--config FILE] sign IDENTITY [--ephemeral] [--lifetime "
    "D]\n"
    "               [--revoke] [--artifact FILE]... [TOKEN OPTIONS] -- "
    "COMMAND [ARGS...]\n"
    "The same as csagent exec --ephemeral (see csagent exec --help): a\n"
    "one-use key and certificate for COMMAND, destroyed afterwards.\n"
    "Options may come before or after IDENTITY; \"--\" is required.\n";

/*
 * RFC 7512 §2.3: a path attribute value is pchar or pct-encoded.  Every
 * byte outside RFC 3986's unreserved set is percent-encoded: always valid,
 * and safe for parsers that split on ';', '?' and '&' before decoding
 * (libp11).  With all set, every byte is encoded (the id).
 */
static void agt_pct_encode(const unsigned char *in, size_t len, int all,
                           char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = in[i];

        if (!all && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                     c == '_' || c == '~')) {
            *out++ = (char)c;
            continue;
        }
        *out++ = '%';
        *out++ = hex[c >> 4];
        *out++ = hex[c & 15];
    }
    *out = '\0';
}

/* pkcs11:token=...;object=...;id=...;type=TYPE, malloc'd (NULL: no
 * memory). */
static char *agt_exec_uri(const char *token, const char *label,
                          const unsigned char *id, size_t id_len,
                          const char *type)
{
    char *t = malloc(3 * strlen(token) + 1), *l = malloc(3 * strlen(label) + 1);
    char *i = malloc(3 * id_len + 1), *uri = NULL;

    if (t != NULL && l != NULL && i != NULL) {
        agt_pct_encode((const unsigned char *)token, strlen(token), 0, t);
        agt_pct_encode((const unsigned char *)label, strlen(label), 0, l);
        agt_pct_encode(id, id_len, 1, i);
        if (asprintf(&uri, "pkcs11:token=%s;object=%s;id=%s;type=%s", t, l, i,
                     type) < 0)
            uri = NULL;
    }
    free(t);
    free(l);
    free(i);
    return uri;
}

/*
 * The PIN source.  A path is handed to COMMAND as its absolute path.  For
 * fd:N, reading consumes a pipe (and csa_secret_read closes N, so that no
 * other child inherits it), so the PIN is put once into an in-memory file
 * (memfd, never on disk) that takes N's place at once (N stays reserved)
 * but close-on-exec, so that no program csagent starts meanwhile (the
 * network process, hooks) inherits it; agt_exec_pin_handover gives it to
 * COMMAND alone: COMMAND can read /dev/fd/N from the start, as often as
 * it needs (each open of /dev/fd/N of a memfd starts at offset 0).  exec
 * logs in from a second, close-on-exec descriptor of it (x->login_src),
 * which the login reads and closes.
 */
static csa_err agt_exec_pin(agt_exec *x, const char *src)
{
    csa_secret pin = {0};
    csa_err err;
    int mfd = -1, n;
    char *end;
    long v;

    if (src == NULL)
        return csa_raise(CSA_ERR_CONFIG,
                         "exec logs in to check the private key: set "
                         "pin_file in [token] or give --pin-file");
    if (strncmp(src, "fd:", 3) != 0) {
        if (realpath(src, x->pin_path) == NULL)
            return csa_raise(CSA_ERR_CONFIG, "PIN file %s: %s", src,
                             strerror(errno));
        return CSA_OK;
    }
    v = strtol(src + 3, &end, 10);
    if (*end != '\0' || end == src + 3 || v < 0 || v > 65535)
        return csa_raise(CSA_ERR_CONFIG, "PIN source '%s' is not fd:N", src);
    n = (int)v;
    if ((err = csa_secret_read(src, &pin)) != CSA_OK)
        return err;
    /* N may be closed now, and memfd_create may even return N. */
    mfd = memfd_create("csagent-pin", MFD_CLOEXEC);
    if (mfd < 0 || write(mfd, pin.data, pin.len) != (ssize_t)pin.len ||
        lseek(mfd, 0, SEEK_SET) != 0 ||
        (mfd != n && dup3(mfd, n, O_CLOEXEC) < 0) ||
        (x->login_fd = fcntl(n, F_DUPFD_CLOEXEC, 3)) < 0)
        err = csa_raise(CSA_ERR_IO,
                        "cannot keep the PIN of %s in memory for the "
                        "command: %s",
                        src, strerror(errno));
    if (mfd >= 0 && mfd != n)
        close(mfd);
    csa_secret_free(&pin);
    if (err != CSA_OK)
        return err;
    x->pin_fd = n;
    snprintf(x->pin_path, sizeof(x->pin_path), "/dev/fd/%d", n);
    snprintf(x->login_src, sizeof(x->login_src), "fd:%d", x->login_fd);
    return CSA_OK;
}

/* The login read (and closed) the copy: its number is no longer ours. */
static void agt_exec_pin_used(agt_globals *g, agt_exec *x)
{
    if (x->login_fd >= 0) {
        x->login_fd = -1;
        g->pin_file = NULL;
    }
}

/* For COMMAND only, just before it runs (also between fork and exec: only
 * async-signal-safe calls): descriptor N inherited, read from its start. */
static int agt_exec_pin_handover(const agt_exec *x)
{
    if (x->pin_fd < 0)
        return 0;
    if (fcntl(x->pin_fd, F_SETFD, 0) != 0 || lseek(x->pin_fd, 0, SEEK_SET) != 0)
        return -1;
    return 0;
}

/*
 * An interrupted renewal left a journal: finish it now, under the renewal
 * lock, unless a renewal is live (it holds that lock and will respect our
 * shared use lock).  Signers already running may hold the use lock: exec
 * does not wait for them (signer_wait 0 for this attempt), it signs with
 * the pair the label still resolves to and leaves the swap to the next
 * csagent command.
 */
static csa_err agt_exec_recover(tok_ctx *tok, const agt_exec *x)
{
    agt_identity nowait = *x->id;
    char path[PATH_MAX];
    csa_err err;
    int fd;

    snprintf(path, sizeof(path), "%s/%s.journal", x->state_dir, x->id->name);
    if (access(path, F_OK) != 0)
        return CSA_OK;
    if ((fd = agt_swap_lock(x->state_dir, x->id)) < 0) {
        csa_info("exec",
                 "%s: a renewal is in progress (%s); it waits for this "
                 "command before it swaps the new pair in",
                 x->id->name, path);
        return CSA_OK;
    }
    nowait.signer_wait = 0;
    err = agt_swap_recover(tok, x->state_dir, &nowait);
    agt_swap_unlock(fd);
    if (err == CSA_ERR_BUSY) {
        csa_warn("exec",
                 "%s: an interrupted swap is left for later, signers hold "
                 "the identity: %s",
                 x->id->name, csa_errmsg());
        csa_err_clear();
        err = CSA_OK;
    }
    return err;
}

/* Lists the ids of objs into buf ("a1b2, c3d4"), for error messages. */
static const char *agt_ids(const tok_obj_info *objs, size_t n, char *buf,
                           size_t size)
{
    char hex[2 * TOK_ID_MAX + 1];
    size_t i, used = 0;

    buf[0] = '\0';
    for (i = 0; i < n && used + 4 < size; i++) {
        agt_hex(objs[i].id, objs[i].id_len, hex);
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                                 objs[i].id_len ? hex : "-");
    }
    return buf;
}

/* For errors: a swap left pending (signers held the identity when it
 * could have been finished) explains a label that resolves to no pair. */
static const char *agt_exec_pending(const agt_exec *x)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s.journal", x->state_dir, x->id->name);
    return access(path, F_OK) == 0
               ? "; a swap of this identity is pending (its journal is in "
                 "state_dir) and is finished by the next csagent command "
                 "that finds no signer running"
               : "";
}

/* Exactly one private key carries the label; its CKA_ID into x. */
static csa_err agt_exec_key(tok_ctx *tok, agt_exec *x, tok_key **key)
{
    tok_obj_info *objs = NULL;
    size_t n = 0;
    char ids[512];
    const unsigned char *kid;
    csa_err err = tok_objects(tok, x->id->label, NULL, 0, TOK_CLASS_PRIVATE_KEY,
                              &objs, &n);

    if (err == CSA_OK && n == 0)
        err = csa_raise(CSA_ERR_NOT_FOUND,
                        "identity %s: no private key is labelled '%s' on "
                        "token '%s' (not enrolled yet? csagent enroll %s)%s",
                        x->id->name, x->id->label, tok_token_label(tok),
                        x->id->name, agt_exec_pending(x));
    else if (err == CSA_OK && n > 1)
        err =
            csa_raise(CSA_ERR_AMBIGUOUS,
                      "identity %s: %zu private keys are labelled '%s' on "
                      "token '%s' (ids %s); a signer needs exactly one%s",
                      x->id->name, n, x->id->label, tok_token_label(tok),
                      agt_ids(objs, n, ids, sizeof(ids)), agt_exec_pending(x));
    free(objs);
    if (err != CSA_OK || (err = tok_key_find(tok, x->id->label, key)) != CSA_OK)
        return err;
    kid = tok_key_id(*key, &x->key_id_len);
    if (x->key_id_len == 0 || x->key_id_len > sizeof(x->key_id))
        return csa_raise(CSA_ERR_NOT_FOUND,
                         "identity %s: the private key labelled '%s' has %s "
                         "CKA_ID; a URI cannot pin it",
                         x->id->name, x->id->label,
                         x->key_id_len ? "an over-long" : "no");
    memcpy(x->key_id, kid, x->key_id_len);
    return CSA_OK;
}

/* Exactly one certificate with the label and the key's CKA_ID. */
static csa_err agt_exec_cert(tok_ctx *tok, agt_exec *x)
{
    tok_obj_info *objs = NULL, *all = NULL;
    size_t n = 0, nall = 0;
    char hex[2 * TOK_ID_MAX + 1], ids[512];
    csa_err err = tok_objects(tok, x->id->label, x->key_id, x->key_id_len,
                              TOK_CLASS_CERTIFICATE, &objs, &n);

    agt_hex(x->key_id, x->key_id_len, hex);
    if (err == CSA_OK && n == 0 &&
        (err = tok_objects(tok, x->id->label, NULL, 0, TOK_CLASS_CERTIFICATE,
                           &all, &nall)) == CSA_OK)
        err = csa_raise(
            CSA_ERR_NOT_FOUND,
            "identity %s: no certificate labelled '%s' carries "
            "the key's id %s (%zu certificate(s) with that label%s"
            "%s)%s",
            x->id->name, x->id->label, hex, nall, nall ? ", ids " : "",
            agt_ids(all, nall, ids, sizeof(ids)), agt_exec_pending(x));
    else if (err == CSA_OK && n > 1)
        err = csa_raise(CSA_ERR_AMBIGUOUS,
                        "identity %s: %zu certificates labelled '%s' carry "
                        "the key's id %s; a signer needs exactly one%s",
                        x->id->name, n, x->id->label, hex, agt_exec_pending(x));
    if (err == CSA_OK)
        err = tok_cert_get(tok, objs[0].handle, &x->cert);
    free(objs);
    free(all);
    return err;
}

/* The certificate certifies the key: their public keys are equal. */
static csa_err agt_exec_match(tok_key *key, const agt_exec *x)
{
    EVP_PKEY *pub = NULL;
    char serial[128], hex[2 * TOK_ID_MAX + 1];
    csa_err err = tok_key_public(key, &pub);

    if (err == CSA_OK && EVP_PKEY_eq(pub, X509_get0_pubkey(x->cert)) != 1) {
        agt_serial_of(x->cert, serial, sizeof(serial));
        agt_hex(x->key_id, x->key_id_len, hex);
        err = csa_raise(CSA_ERR_VERIFY,
                        "identity %s: the certificate labelled '%s' (serial "
                        "%s) is not for the private key with id %s: their "
                        "public keys differ",
                        x->id->name, x->id->label, serial, hex);
    }
    EVP_PKEY_free(pub);
    return err;
}

/* The chain file's first certificate is the pinned one. */
static csa_err agt_exec_chain(const agt_exec *x, const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *leaf = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    char want[128], got[128];
    csa_err err = CSA_OK;

    if (f == NULL)
        err = csa_raise(CSA_ERR_NOT_FOUND, "identity %s: chain file %s: %s",
                        x->id->name, path, strerror(errno));
    else if (leaf == NULL)
        err = csa_raise(CSA_ERR_VERIFY,
                        "identity %s: chain file %s holds no PEM "
                        "certificate",
                        x->id->name, path);
    else if (X509_cmp(leaf, x->cert) != 0) {
        agt_serial_of(x->cert, want, sizeof(want));
        agt_serial_of(leaf, got, sizeof(got));
        err = csa_raise(CSA_ERR_VERIFY,
                        "identity %s: chain file %s starts with certificate "
                        "serial %s, but the token's certificate labelled "
                        "'%s' is serial %s; the file is stale (csagent run "
                        "--once rewrites it)",
                        x->id->name, path, got, x->id->label, want);
    }
    X509_free(leaf);
    if (f != NULL)
        fclose(f);
    return err;
}

static csa_err agt_setenv(const char *name, const char *value)
{
    if (value == NULL ? unsetenv(name) : setenv(name, value, 1))
        return csa_raise(CSA_ERR_NOMEM, "cannot set %s: %s", name,
                         strerror(errno));
    return CSA_OK;
}

/* COMMAND's environment (see the usage text); no secret in it. */
static csa_err agt_exec_env(const agt_exec *x, tok_ctx *tok, const char *module,
                            const char *chain)
{
    char *key_uri, *cert_uri, hex[2 * TOK_ID_MAX + 1], serial[128];
    char fdnum[16], lockfd[16];
    csa_err err;

    key_uri = agt_exec_uri(tok_token_label(tok), x->id->label, x->key_id,
                           x->key_id_len, "private");
    cert_uri = agt_exec_uri(tok_token_label(tok), x->id->label, x->key_id,
                            x->key_id_len, "cert");
    agt_hex(x->key_id, x->key_id_len, hex);
    agt_serial_of(x->cert, serial, sizeof(serial));
    snprintf(fdnum, sizeof(fdnum), "%d", x->pin_fd);
    snprintf(lockfd, sizeof(lockfd), "%d", x->lock_fd);
    if (key_uri == NULL || cert_uri == NULL)
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
    else if ((err = agt_setenv("CSAGENT_IDENTITY", x->id->name)) == CSA_OK &&
             (err = agt_setenv("CSAGENT_LABEL", x->id->label)) == CSA_OK &&
             (err = agt_setenv("CSAGENT_KEY_URI", key_uri)) == CSA_OK &&
             (err = agt_setenv("CSAGENT_CERT_URI", cert_uri)) == CSA_OK &&
             (err = agt_setenv("CSAGENT_KEY_ID", hex)) == CSA_OK &&
             (err = agt_setenv("CSAGENT_SERIAL", serial)) == CSA_OK &&
             (err = agt_setenv("CSAGENT_CHAIN_FILE", chain)) == CSA_OK &&
             (err = agt_setenv("CSAGENT_PIN_FILE", x->pin_path)) == CSA_OK &&
             (err = agt_setenv("CSAGENT_PIN_FD",
                               x->pin_fd >= 0 ? fdnum : NULL)) == CSA_OK &&
             (err = agt_setenv("CSAGENT_MODULE", module && strchr(module, '/')
                                                     ? module
                                                     : NULL)) == CSA_OK)
        err = agt_setenv("CSAGENT_LOCK_FD", x->lock_fd >= 0 ? lockfd : NULL);
    free(key_uri);
    free(cert_uri);
    return err;
}

/* Takes the use lock and keeps it across execve (no close-on-exec). */
static csa_err agt_exec_lock(agt_exec *x)
{
    x->lock_fd =
        agt_use_lock(x->state_dir, x->id, AGT_LOCK_SHARED, x->id->signer_wait);
    if (x->lock_fd < 0)
        return CSA_ERR_BUSY; /* raised by agt_lock_file */
    if (fcntl(x->lock_fd, F_SETFD, 0) != 0)
        return csa_raise(CSA_ERR_IO,
                         "cannot keep the use lock open for the "
                         "command: %s",
                         strerror(errno));
    return CSA_OK;
}

/* Everything before execvp; on success the token is closed and the lock
 * held. */
static csa_err agt_exec_prepare(agt_globals *g, agt_exec *x)
{
    const agt_config *c = g->cfg;
    const char *module = g->module ? g->module : c->module;
    char *chain = NULL;
    tok_ctx *tok = NULL;
    tok_key *key = NULL;
    csa_err err;

    if (asprintf(&chain, "%s/%s.pem", x->state_dir, x->id->name) < 0)
        return csa_raise(CSA_ERR_NOMEM, "out of memory");
    if ((err = agt_exec_pin(x, g->pin_file ? g->pin_file : c->pin_file)) !=
        CSA_OK)
        goto done;
    if (x->login_fd >= 0)
        g->pin_file = x->login_src;
    err = agt_open_token(g, 1, &tok);
    agt_exec_pin_used(g, x);
    if (err != CSA_OK || (err = agt_exec_recover(tok, x)) != CSA_OK ||
        (err = agt_exec_lock(x)) != CSA_OK ||
        (err = agt_exec_key(tok, x, &key)) != CSA_OK ||
        (err = agt_exec_cert(tok, x)) != CSA_OK ||
        (err = agt_exec_match(key, x)) != CSA_OK ||
        (err = agt_exec_chain(x, chain)) != CSA_OK ||
        (err = agt_exec_env(x, tok, module, chain)) != CSA_OK)
        goto done;
    csa_debug("exec", "%s: pinned %s, serial %s", x->id->name,
              getenv("CSAGENT_KEY_URI"), getenv("CSAGENT_SERIAL"));
done:
    tok_key_free(key);
    tok_close(tok); /* before COMMAND runs: it opens its own session */
    /* The login read the shared offset to the end: rewound for a COMMAND
     * that reads descriptor N itself, which it now inherits. */
    if (err == CSA_OK && agt_exec_pin_handover(x) != 0)
        err = csa_raise(CSA_ERR_IO,
                        "cannot hand the PIN copy to the "
                        "command: %s",
                        strerror(errno));
    free(chain);
    return err;
}

static csa_err agt_exec_state_dir(const agt_config *c, const char **out)
{
    const char *dir = c->state_dir ? c->state_dir : "/var/lib/csagent";

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return csa_raise(CSA_ERR_IO, "cannot create state directory %s: %s",
                         dir, strerror(errno));
    *out = dir;
    return CSA_OK;
}

/* ---- --ephemeral ---- */

typedef struct {
    bool on, revoke;
    long lifetime; /* seconds; 0: the default */
    char **artifacts;
    size_t n_artifacts;
} agt_eph_opts;

#define AGT_EPH_LIFETIME_DEFAULT 600
#define AGT_EPH_ARTIFACTS_MAX 256

static volatile sig_atomic_t agt_child = 0;

/* While COMMAND runs, a signal csagent gets is passed on to it; csagent
 * itself stays to destroy the key once COMMAND ended. */
static void agt_forward(int sig)
{
    if (agt_child > 0)
        kill((pid_t)agt_child, sig);
}

static const int agt_eph_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static void agt_eph_sigset(sigset_t *set)
{
    size_t i;

    sigemptyset(set);
    for (i = 0; i < sizeof(agt_eph_signals) / sizeof(agt_eph_signals[0]); i++)
        sigaddset(set, agt_eph_signals[i]);
}

/* The first of the signals pending (blocked meanwhile), or 0. */
static int agt_eph_pending(void)
{
    sigset_t p;
    size_t i;

    if (sigpending(&p) != 0)
        return 0;
    for (i = 0; i < sizeof(agt_eph_signals) / sizeof(agt_eph_signals[0]); i++)
        if (sigismember(&p, agt_eph_signals[i]) == 1)
            return agt_eph_signals[i];
    return 0;
}

/* Runs cmd as a child and waits for it: its exit status, 128+N for a
 * signal, 127/126 when it could not be executed. */
static int agt_eph_run(const agt_exec *x, char **cmd)
{
    struct sigaction sa = {0}, old[4];
    siginfo_t info;
    sigset_t set;
    int status = 0, e;
    size_t i, ns = sizeof(agt_eph_signals) / sizeof(agt_eph_signals[0]);
    pid_t pid;

    agt_eph_sigset(&set);
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        csa_raise(CSA_ERR_IO, "cannot start '%s': %s", cmd[0], strerror(errno));
        return -1;
    }
    if (pid == 0) {
        for (i = 0; i < ns; i++)
            signal(agt_eph_signals[i], SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        if (agt_exec_pin_handover(x) != 0)
            _exit(126);
        execvp(cmd[0], cmd);
        e = errno;
        fprintf(stderr, "csagent: error: cannot execute '%s': %s\n", cmd[0],
                strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    agt_child = pid;
    sa.sa_handler = agt_forward;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < ns; i++)
        sigaction(agt_eph_signals[i], &sa, &old[i]);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    /* Waited for without reaping (WNOWAIT): until the signals are blocked
     * again the pid stays the exited child's and cannot be reused. */
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0 &&
           errno == EINTR)
        ;
    sigprocmask(SIG_BLOCK, &set, NULL);
    agt_child = 0;
    for (i = 0; i < ns; i++)
        sigaction(agt_eph_signals[i], &old[i], NULL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* The lifetime asked of the CA, within the policy's [ephemeral] range. */
static csa_err agt_eph_lifetime(const pol_policy *pol, long want, long *out)
{
    int64_t min, max;
    pol_verdict v;

    pol_ephemeral_lifetimes(pol, &min, &max);
    if (want == 0) {
        want = AGT_EPH_LIFETIME_DEFAULT;
        if (want > max)
            want = (long)max;
        if (want < min)
            want = (long)min;
    }
    if (!pol_check_ephemeral_lifetime(pol, want, &v))
        return pol_verdict_raise(&v, CSA_ERR_POLICY);
    *out = want;
    return CSA_OK;
}

/* Revokes the run's certificate (reason superseded), signed by the
 * account key. */
static csa_err agt_eph_revoke(agt_session *s, X509 *cert)
{
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    csa_err err;

    if (len <= 0)
        return csa_raise(CSA_ERR_NOMEM, "cannot encode the certificate");
    if ((err = agt_account_lock(s, AGT_LOCK_SHARED)) == CSA_OK)
        err = agt_net_revoke(s->net, der, (size_t)len, 4, NULL);
    OPENSSL_free(der);
    return err;
}

/*
 * Everything of --ephemeral: the session (which also finishes what killed
 * runs left), the record, the enrollment, the checks exec makes of any
 * pair, COMMAND as a child, the revocation, the destruction and the audit
 * line.  COMMAND never runs when a step before it failed; the objects are
 * destroyed in every case this process lives to see.
 */
static int agt_exec_ephemeral(agt_globals *g, agt_exec *x,
                              const agt_eph_opts *o, char **cmd)
{
    const agt_identity *base = x->id;
    const char *module = g->module ? g->module : g->cfg->module;
    agt_session s = {0};
    agt_eph e = {.fd = -1};
    agt_audit a = {0};
    tok_key *key = NULL;
    char *chain = NULL, *serial = NULL, hex[2 * TOK_ID_MAX + 1] = "";
    bool opened = false, art_err = false, revoked = false;
    size_t destroyed = 0;
    sigset_t set;
    long lifetime = 0;
    int status = -1, sig = 0, rc;
    char msg[2048] = "";
    csa_err err, derr = CSA_OK, rerr = CSA_OK;

    /* Until COMMAND runs (and again after it), a signal waits: the run
     * then stops before COMMAND and still destroys what it made. */
    agt_eph_sigset(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    s.account_lock = -1;
    if ((err = agt_exec_pin(x, g->pin_file ? g->pin_file : g->cfg->pin_file)) !=
        CSA_OK)
        goto done;
    if (x->login_fd >= 0)
        g->pin_file = x->login_src;
    err = agt_session_open(g, true, &s);
    agt_exec_pin_used(g, x);
    if (err != CSA_OK)
        goto done;
    opened = true;
    if ((err = agt_eph_lifetime(s.pol, o->lifetime, &lifetime)) != CSA_OK ||
        (err = agt_eph_init(&e, base, lifetime)) != CSA_OK ||
        (err = agt_eph_record(&e, s.state_dir)) != CSA_OK)
        goto done;
    csa_info("exec", "%s: ephemeral key '%s', certificate for %ld s",
             base->name, e.label, lifetime);
    x->id = &e.id;
    if ((err = agt_account_ensure(&s, false, NULL)) != CSA_OK ||
        (err = agt_enroll(&s, &e.id, NULL, &serial)) != CSA_OK)
        goto done;
    if (asprintf(&chain, "%s/%s.pem", s.state_dir, e.name) < 0) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((err = agt_exec_key(s.tok, x, &key)) != CSA_OK ||
        (err = agt_exec_cert(s.tok, x)) != CSA_OK ||
        (err = agt_exec_match(key, x)) != CSA_OK ||
        (err = agt_exec_chain(x, chain)) != CSA_OK ||
        (err = agt_exec_env(x, s.tok, module, chain)) != CSA_OK ||
        (err = agt_setenv("CSAGENT_IDENTITY", base->name)) != CSA_OK)
        goto done;
    agt_hex(x->key_id, x->key_id_len, hex);
    if ((sig = agt_eph_pending()) != 0) {
        err =
            csa_raise(CSA_ERR_INTERRUPTED,
                      "signal %d before the command ran; it was not run", sig);
        goto done;
    }
    /* The account lock is not held while COMMAND runs (a rollover may
     * proceed); the token session stays open for the destruction. */
    agt_account_unlock(&s);
    status = agt_eph_run(x, cmd);
    if (status < 0) {
        err = CSA_ERR_IO;
        goto done;
    }
    if (o->revoke) {
        if ((rerr = agt_eph_revoke(&s, x->cert)) == CSA_OK)
            revoked = true;
        else
            csa_warn("exec", "%s: revocation of serial %s failed: %s",
                     base->name, serial, csa_errmsg());
    }
done:
    if (err != CSA_OK)
        snprintf(msg, sizeof(msg), "%s", csa_errmsg());
    tok_key_free(key);
    key = NULL;
    if (e.fd >= 0 && opened) {
        derr = agt_eph_destroy(&e, s.tok, s.state_dir, &destroyed);
        if (derr != CSA_OK)
            csa_error("exec",
                      "%s: the ephemeral objects were not all destroyed (the "
                      "next csagent start finishes it): %s",
                      base->name, csa_errmsg());
        else
            csa_info("exec",
                     "%s: ephemeral key and certificate destroyed "
                     "(%zu objects)",
                     base->name, destroyed);
    }
    if (e.label[0] != '\0' && opened) {
        a.identity = base->name;
        a.label = e.label;
        a.outcome =
            status >= 0 ? (status == 0 ? "ok" : "command failed") : "not run";
        a.key_id = hex[0] ? hex : NULL;
        a.serial = serial;
        a.cert = x->cert;
        a.command = cmd;
        a.artifacts = status >= 0 ? o->artifacts : NULL;
        a.exit_code = status;
        a.revoked = revoked;
        a.destroyed = destroyed;
        if (agt_audit_append(s.state_dir, &a, &art_err) != CSA_OK)
            csa_error("exec", "%s", csa_errmsg());
    }
    if (opened)
        agt_session_close(&s);
    free(chain);
    free(serial);
    X509_free(x->cert);
    x->cert = NULL;
    if (status < 0) {
        /* COMMAND did not run: csagent's own failure, as exec reports it */
        rc = agt_fail_exit(csa_raise(err, "%s", msg));
        return err == CSA_ERR_INTERRUPTED ? 128 + sig : rc;
    }
    /* COMMAND ran: its status, unless the run could not finish cleanly
     * after a successful COMMAND (its output must not be trusted as a
     * complete, recorded release then). */
    if (status == 0 && (derr != CSA_OK || rerr != CSA_OK || art_err))
        return AGT_EXIT_FAIL;
    return status;
}

/* exec, and sign (sign: --ephemeral implied; options may also follow
 * IDENTITY, up to the "--" that sign requires). */
static int agt_exec_main(agt_globals *g, int argc, char **argv, bool sign)
{
    enum { O_EPH = 1000, O_LIFE, O_REVOKE, O_ART };
    static const struct option opts[] = {
        AGT_TOKEN_OPTS,
        {"ephemeral", no_argument, NULL, O_EPH},
        {"lifetime", required_argument, NULL, O_LIFE},
        {"revoke", no_argument, NULL, O_REVOKE},
        {"artifact", required_argument, NULL, O_ART},
        {NULL, 0, NULL, 0}};
    agt_exec x = {.pin_fd = -1, .lock_fd = -1, .login_fd = -1};
    char *artifacts[AGT_EPH_ARTIFACTS_MAX + 1] = {NULL};
    agt_eph_opts eo = {0};
    pol_policy *pol = NULL;
    pol_verdict v;
    csa_err err;
    int c, e, cmd, dd = argc;

    eo.artifacts = artifacts;
    eo.on = sign;
    if (sign) {
        /* Options are read up to "--" only, in any order around
         * IDENTITY; what follows is COMMAND's. */
        for (dd = 1; dd < argc && strcmp(argv[dd], "--") != 0; dd++)
            ;
        if (dd >= argc - 1)
            return fputs(agt_sign_usage, stderr), AGT_EXIT_USAGE;
    }
    /* '+': options stop at IDENTITY, COMMAND's own options are its. */
    while ((c = agt_getopt(sign ? dd : argc, argv, sign ? "h" : "+h", opts)) !=
           -1) {
        if (c == 'h')
            return fputs(sign ? agt_sign_usage : agt_exec_usage, stdout),
                   AGT_EXIT_OK;
        if (c == O_EPH)
            eo.on = true;
        else if (c == O_REVOKE)
            eo.revoke = true;
        else if (c == O_ART) {
            if (eo.n_artifacts == AGT_EPH_ARTIFACTS_MAX) {
                fprintf(stderr, "csagent: error: at most %d --artifact files\n",
                        AGT_EPH_ARTIFACTS_MAX);
                return AGT_EXIT_USAGE;
            }
            eo.artifacts[eo.n_artifacts++] = optarg;
        } else if (c == O_LIFE) {
            if (!agt_parse_duration(optarg, &eo.lifetime)) {
                fprintf(stderr,
                        "csagent: error: --lifetime '%s' is not a duration "
                        "(90s, 15m, 1h)\n",
                        optarg);
                return AGT_EXIT_USAGE;
            }
        } else if (!agt_token_opt(g, c, optarg))
            return fputs(agt_exec_usage, stderr), AGT_EXIT_USAGE;
    }
    if (!eo.on && (eo.revoke || eo.lifetime || eo.n_artifacts)) {
        fputs("csagent: error: --lifetime, --revoke and --artifact go with "
              "--ephemeral\n",
              stderr);
        return AGT_EXIT_USAGE;
    }
    if (sign && optind != dd - 1)
        return fputs(agt_sign_usage, stderr), AGT_EXIT_USAGE;
    cmd = optind + 1;
    if (cmd < argc && strcmp(argv[cmd], "--") == 0)
        cmd++;
    if (cmd >= argc)
        return fputs(agt_exec_usage, stderr), AGT_EXIT_USAGE;
    if ((err = agt_load_config(g, 1)) != CSA_OK)
        return agt_fail_exit(err);
    if ((x.id = agt_config_identity(g->cfg, argv[optind])) == NULL)
        return agt_fail_exit(csa_raise(CSA_ERR_CONFIG,
                                       "%s: no identity named '%s'",
                                       g->cfg->path, argv[optind]));
    if (eo.on) {
        if ((err = agt_exec_state_dir(g->cfg, &x.state_dir)) != CSA_OK)
            return agt_fail_exit(err);
        return agt_exec_ephemeral(g, &x, &eo, argv + cmd);
    }
    /* An identity the policy keeps to one key per signature has no
     * long-lived pair to lend. */
    if ((err = agt_policy_load(g->cfg, &pol)) != CSA_OK)
        return agt_fail_exit(err);
    if (!pol_check_ephemeral(pol, x.id->name, false, &v))
        err = pol_verdict_raise(&v, CSA_ERR_POLICY);
    pol_free(pol);
    if (err != CSA_OK)
        return agt_fail_exit(err);
    if ((err = agt_exec_state_dir(g->cfg, &x.state_dir)) != CSA_OK ||
        (err = agt_exec_prepare(g, &x)) != CSA_OK) {
        X509_free(x.cert);
        agt_unlock(x.lock_fd);
        return agt_fail_exit(err);
    }
    X509_free(x.cert);
    fflush(NULL);
    execvp(argv[cmd], argv + cmd);
    e = errno;
    fprintf(stderr, "csagent: error: cannot execute '%s': %s\n", argv[cmd],
            strerror(e));
    agt_unlock(x.lock_fd);
    return e == ENOENT ? 127 : 126;
}

int agt_cmd_exec(agt_globals *g, int argc, char **argv)
{
    return agt_exec_main(g, argc, argv, false);
}

int agt_cmd_sign(agt_globals *g, int argc, char **argv)
{
    return agt_exec_main(g, argc, argv, true);
}
