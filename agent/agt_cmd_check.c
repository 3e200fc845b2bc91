/* SPDX-License-Identifier: Apache-2.0 */
/* check: the configuration against the policy, with no token and no
 * network, and each identity's effective rules explained. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "agt_challenge.h"
#include "agt_session.h"
#include "agt_verify.h"

static int agt_check_identity(const agt_config *cfg, const pol_policy *pol,
                              const agt_identity *id)
{
    pol_identifier ids[2];
    pol_request req = {0};
    pol_verdict v;
    size_t n = 0;
    int i, bad = 0;

    if (id->domain != NULL)
        ids[n++] = (pol_identifier){POL_ID_DNS, id->domain};
    if (id->email != NULL)
        ids[n++] = (pol_identifier){POL_ID_EMAIL, id->email};
    req.directory_url = cfg->directory;
    req.profile = id->profile;
    req.ids = ids;
    req.n_ids = n;
    req.key = agt_pol_key(id->key_type);
    req.challenges = (const char *const *)id->challenges;
    req.n_challenges = (size_t)id->n_challenges;
    req.has_eab = cfg->eab_kid != NULL;
    printf("[identity %s] label=%s profile=%s\n", id->name, id->label,
           pol_profile_name(id->profile));
    if (!pol_check_order(pol, &req, &v) && ++bad)
        printf("  REFUSED %s\n", v.reason);
    if (!pol_check_rotation(pol, id->rotate, &v) && ++bad)
        printf("  REFUSED %s\n", v.reason);
    for (i = 0; i < id->n_challenges; i++) {
        bool automatic = agt_challenge_automatic(id, id->challenges[i]);

        if (pol_check_challenge(pol, id->challenges[i], automatic, &v))
            printf("  challenge %s: allowed (%s)\n", id->challenges[i],
                   automatic ? "automatic" : "needs a person");
        else if (++bad)
            printf("  REFUSED challenge %s: %s\n", id->challenges[i], v.reason);
    }
    if (id->hook != NULL && !pol_check_hook(pol, &v) && ++bad)
        printf("  REFUSED hook %s: %s\n", id->hook, v.reason);
    return bad;
}

int agt_cmd_check(agt_globals *g, int argc, char **argv)
{
    static const char usage[] =
        "usage: csagent check\n"
        "Validates the configuration against the policy and explains every\n"
        "identity's effective rules; touches neither the token nor the\n"
        "network.  Exit 6 when the policy refuses something configured.\n";
    pol_policy *pol = NULL;
    char *text = NULL;
    int i, bad = 0, c;
    csa_err err;

    while ((c = getopt(argc, argv, "h")) != -1)
        return c == 'h' ? (fputs(usage, stdout), AGT_EXIT_OK)
                        : (fputs(usage, stderr), AGT_EXIT_USAGE);
    if ((err = agt_load_config(g, 1)) != CSA_OK ||
        (err = agt_policy_load(g->cfg, &pol)) != CSA_OK)
        return agt_fail_exit(err);
    printf("configuration %s, policy %s\n", g->cfg->path,
           g->cfg->policy ? g->cfg->policy : "(built-in defaults)");
    if (pol_eab_required(pol) && g->cfg->eab_kid == NULL && ++bad)
        printf("REFUSED policy requires EAB; configure eab_kid\n");
    for (i = 0; i < g->cfg->n_ids; i++) {
        const agt_identity *id = &g->cfg->ids[i];

        bad += agt_check_identity(g->cfg, pol, id);
        if (pol_explain(pol, id->profile, &text) == CSA_OK)
            printf("%s", text);
        free(text);
        text = NULL;
    }
    pol_free(pol);
    printf("%s\n", bad ? "check: REFUSED" : "check: ok");
    return bad ? AGT_EXIT_POLICY : AGT_EXIT_OK;
}
