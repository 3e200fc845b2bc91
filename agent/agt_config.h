/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's configuration file (INI, parsed with libinih), documented in
 * docs/config.md.  Unknown sections and keys and bad values are errors that
 * name file:line.
 */
#ifndef AGT_CONFIG_H
#define AGT_CONFIG_H

#include <stdbool.h>

#include "csa_err.h"
#include "policy.h"

#define AGT_MAX_LIST 16
/* The longest label: "<label>.retired" must still fit the 128 bytes a
 * listing keeps of a label (tok_obj_info). */
#define AGT_LABEL_LEN_MAX 120
/* The account key's label when [ca] account_key names none. */
#define AGT_DEFAULT_ACCOUNT_LABEL "csagent-account"

typedef struct {
    char *name;     /* section name after "identity " */
    char *label;    /* CKA_LABEL of key and certificate */
    char *key_type; /* rsa3072, p256, ... */
    pol_profile profile;
    char *domain;       /* dns identifier (codesigning, device clientauth) */
    char *email;        /* email identifier (clientauth users) */
    char *common_name;  /* CN; defaults to domain or email */
    char *organization; /* optional O */
    char *challenges[AGT_MAX_LIST];
    int n_challenges;
    char *hook;        /* program for http-01/dns-01 */
    bool rotate;       /* new key each renewal (default) */
    bool csr_san_dns;  /* codesigning: also put the domain in a SAN */
    long retire_grace; /* seconds the retired pair is kept (0: none) */
    long signer_wait;  /* [agent] signer_wait, copied for the swap */
    /* draft-ietf-acme-client challenge material (docs/protocol.md) */
    char *otp_secret;  /* label of the HMAC seed in the token */
    char *otp_program; /* prints a human-held OTP on stdout */
    long hotp_counter; /* first HOTP counter when no state exists */
    char *cert_key;    /* cert-01: administrator key (label or URI) */
    char *cert_chain;  /* cert-01: PEM of leaf [+ chain]; else token */
    char *ppkp_key;    /* ppkp-01: registered key (label or URI) */
    /* Never from the configuration: set only on the one-use copy that
     * `csagent exec --ephemeral` makes of an identity (agt_ephemeral.c),
     * whose name and label are unique to that run. */
    bool ephemeral;
    const char *base;  /* the configured identity's name (CA side, OTPs) */
    int64_t not_after; /* newOrder notAfter, seconds since the epoch */
} agt_identity;

/* [agent] parallel: renewals whose CA conversations run at once. */
#define AGT_PARALLEL_DEFAULT 4
#define AGT_PARALLEL_MAX 64

/* The largest configuration file read (10,000 identities are ~2 MB). */
#define AGT_CONFIG_MAX (16 * 1024 * 1024)

typedef struct {
    char *path;
    /* The file as read (the network process parses the same text). */
    char *text;
    /* [token] */
    char *module;
    char *token_uri;
    char *pin_file;
    /* [ca] */
    char *directory;
    char *ca_bundle;
    char *trust_anchor; /* issued chains must verify to this */
    char *contact[AGT_MAX_LIST];
    int n_contact;
    bool terms_agreed;
    char *account_key; /* label of the account key */
    char *account_key_type;
    char *eab_kid;
    char *eab_key_file;
    char *eab_alg;
    char *preferred_chain;
    /* [agent] */
    char *state_dir;
    char *policy;
    char *notify;
    char *metrics_file; /* Prometheus textfile (node_exporter) */
    /* variables passed on to hooks, notify and otp_program besides the
     * base allowlist (csa_spawn.h); NULL-terminated */
    char *hook_env[AGT_MAX_LIST + 1];
    int n_hook_env;
    double renew_at;   /* fraction of the lifetime (default 2/3) */
    long retry_base;   /* first back-off after a failure, seconds */
    long retry_max;    /* back-off cap, seconds */
    long signer_wait;  /* how long a swap waits for `csagent exec` */
    int parallel;      /* renewals at once in a round of `run` */
    agt_identity *ids; /* n_ids of them, allocated as the file needs */
    int n_ids;
    int cap_ids;
} agt_config;

/* Parses path into a new config; the caller frees with agt_config_free.
 * On error the message names path:line and the key. */
csa_err agt_config_load(const char *path, agt_config **out);
/* The same from text already read; path names it in messages. */
csa_err agt_config_parse(const char *path, const char *text, agt_config **out);
void agt_config_free(agt_config *cfg);
/* "90", "90s", "15m", "6h", "2d" (1 s to 365 days) into seconds; 0 when
 * it is not such a duration. */
int agt_parse_duration(const char *v, long *out);
/* The configured identity id stands for (itself, or the base of a one-use
 * copy). */
static inline const char *agt_identity_base(const agt_identity *id)
{
    return id->base != NULL ? id->base : id->name;
}
const agt_identity *agt_config_identity(const agt_config *cfg,
                                        const char *name);

#endif
