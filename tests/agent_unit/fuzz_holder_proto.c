/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the key holder's protocol decoder: what the network
 * process sends (agt_net.h) is checked by csa_ipc_parse and the typed
 * readers before the holder acts on it.  A network process taken over by a
 * hostile CA may send anything; the holder must refuse it with an error,
 * never crash or read out of bounds.  The same bytes also go to the
 * hook runner's reader of the network process's requests, and to the
 * network process's reader of the runner's answers (agt_hookrun.h): the
 * runner starts programs, so what reaches it is checked as strictly.
 *
 * With clang (-fsanitize=fuzzer) this is a libFuzzer target; otherwise
 * main() builds valid requests of every kind as seeds and runs a
 * deterministic mutation loop over them (ctest, also under ASan/UBSan).
 * "seeds" writes the seeds as files for a libFuzzer corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agt_hookrun.h"
#include "agt_net.h"
#include "csa_log.h"
#include "fuzz_mutate.h"

static unsigned long fz_accepted, fz_runner_accepted;

/* What the runner allows: the hook and the name of the run seed. */
static char fz_path[] = "/usr/local/bin/hook", fz_keep[] = "HTTP_PROXY";
static char *fz_paths[] = {fz_path, NULL}, *fz_keeps[] = {fz_keep, NULL};
static const agt_hookrun_allowed fz_allowed = {true, NULL, fz_paths, NULL,
                                               fz_keeps};

/* The hook runner's side: an allowed list read and freed, a run request
 * read and freed, an answer read. */
static void fz_runner(const uint8_t *data, size_t size)
{
    csa_ipc_msg m = {0}; /* fields point into data: nothing to free */
    agt_hookrun_allowed a = {0};
    agt_hookrun_req r;
    char out[64], why[128];
    csa_spawn_req q = {.out = out, .outsize = sizeof(out)};
    uint64_t rc = 0;
    int status = 0;

    if (csa_ipc_parse(data, size, CSA_IPC_MAX, &m) != CSA_OK)
        return;
    if (agt_hookrun_read_allowed(&m, &a) == CSA_OK)
        agt_hookrun_allowed_free(&a);
    if (agt_hookrun_read(&m, &fz_allowed, &r) == CSA_OK) {
        fz_runner_accepted++;
        agt_hookrun_req_free(&r);
    }
    (void)agt_hookrun_read_result(&m, &q, &rc, &status, why, sizeof(why));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (agt_net_check_request(data, size) == CSA_OK)
        fz_accepted++;
    csa_err_clear();
    fz_runner(data, size);
    csa_err_clear();
    return 0;
}

#ifndef CSA_LIBFUZZER
#define FZ_SEEDS 10
/* Seeds from here on are the hook runner's: the holder refuses them. */
#define FZ_RUNNER_SEEDS 8

/* Valid messages of each kind the holder reads, body only. */
static size_t fz_seed(int i, unsigned char *out, size_t max)
{
    csa_ipc_out o;
    size_t len;

    switch (i) {
    case 0: /* a newOrder, as agt_net_check_request's order job takes it */
        csa_ipc_begin(&o, AGT_NET_C_JWS);
        csa_ipc_put_u64(&o, AGT_NET_T_KEYSEL, AGT_NET_KEY_ACCOUNT);
        csa_ipc_put_str(&o, AGT_NET_T_URL, "https://127.0.0.1:14000/order");
        csa_ipc_put_str(&o, AGT_NET_T_NONCE, "bm9uY2UtMQ");
        csa_ipc_put_str(&o, AGT_NET_T_KID, "https://127.0.0.1:14000/acct/1");
        csa_ipc_put_str(&o, AGT_NET_T_PAYLOAD,
                        "{\"identifiers\":[{\"type\":\"dns\","
                        "\"value\":\"a.test\"}],\"notAfter\":\"x\"}");
        break;
    case 6: /* a POST-as-GET */
        csa_ipc_begin(&o, AGT_NET_C_JWS);
        csa_ipc_put_u64(&o, AGT_NET_T_KEYSEL, AGT_NET_KEY_ACCOUNT);
        csa_ipc_put_str(&o, AGT_NET_T_URL, "https://127.0.0.1:14000/authz/7");
        csa_ipc_put_str(&o, AGT_NET_T_NONCE, "n-2_");
        csa_ipc_put_str(&o, AGT_NET_T_KID, "https://127.0.0.1:14000/acct/1");
        break;
    case 7: /* a finalize with the job's CSR */
        csa_ipc_begin(&o, AGT_NET_C_JWS);
        csa_ipc_put_u64(&o, AGT_NET_T_KEYSEL, AGT_NET_KEY_ACCOUNT);
        csa_ipc_put_str(&o, AGT_NET_T_URL, "https://127.0.0.1:14000/fin/7");
        csa_ipc_put_str(&o, AGT_NET_T_NONCE, "n3");
        csa_ipc_put_str(&o, AGT_NET_T_KID, "https://127.0.0.1:14000/acct/1");
        csa_ipc_put_str(&o, AGT_NET_T_PAYLOAD, "{\"csr\":\"QUJD\"}");
        break;
    case 1:
        csa_ipc_begin(&o, AGT_NET_C_CHALLENGE);
        csa_ipc_put_str(&o, AGT_NET_T_TYPE, "totp-01");
        csa_ipc_put_str(&o, AGT_NET_T_URL, "https://127.0.0.1/chall/1");
        csa_ipc_put_str(&o, AGT_NET_T_TOKEN, "AAAAAAAAAAAAAAAAAAAAAAAA");
        csa_ipc_put_u64(&o, AGT_NET_T_DIGITS, 8);
        csa_ipc_put_u64(&o, AGT_NET_T_PERIOD, 30);
        csa_ipc_put_u64(&o, AGT_NET_T_HMAC, 1);
        break;
    case 2:
        csa_ipc_begin(&o, AGT_NET_C_CSR);
        break;
    case 3:
        csa_ipc_begin(&o, AGT_NET_R_DONE);
        csa_ipc_put_u64(&o, AGT_NET_T_ERR, 0);
        csa_ipc_put_str(&o, AGT_NET_T_KID, "https://127.0.0.1/acct/1");
        csa_ipc_put_u64(&o, AGT_NET_T_STATUS, 4);
        csa_ipc_put_str(&o, AGT_NET_T_CONTACT, "mailto:a@example.com\nb");
        break;
    case 4:
        csa_ipc_begin(&o, AGT_NET_R_DONE);
        csa_ipc_put_u64(&o, AGT_NET_T_ERR, 13);
        csa_ipc_put_str(&o, AGT_NET_T_MSG, "the CA said no");
        csa_ipc_put_str(&o, AGT_NET_T_PROBLEM,
                        "urn:ietf:params:acme:error:unauthorized");
        break;
    case 5:
        csa_ipc_begin(&o, AGT_NET_R_DONE);
        csa_ipc_put_u64(&o, AGT_NET_T_ERR, 0);
        csa_ipc_put(&o, AGT_NET_T_CHAIN, "\x30\x82\x01\x00", 4);
        csa_ipc_put_i64(&o, AGT_NET_T_START, -5);
        break;
    case 8: /* a hook run request */
        csa_ipc_begin(&o, AGT_HR_RUN);
        csa_ipc_put_str(&o, AGT_HR_T_PATH, "/usr/local/bin/hook");
        csa_ipc_put(&o, AGT_HR_T_ENV,
                    "CSAGENT_HOOK_METHOD=begin\0CSAGENT_KEY_AUTH=a.b\0", 47);
        csa_ipc_put(&o, AGT_HR_T_KEEP, "HTTP_PROXY\0", 11);
        csa_ipc_put_u64(&o, AGT_HR_T_TIMEOUT, 60);
        csa_ipc_put_u64(&o, AGT_HR_T_OUTSIZE, 256);
        break;
    case 9: /* the runner's answer */
        csa_ipc_begin(&o, AGT_HR_RESULT);
        csa_ipc_put_u64(&o, AGT_HR_T_RC, 0);
        csa_ipc_put_i64(&o, AGT_HR_T_STATUS, 0);
        csa_ipc_put_str(&o, AGT_HR_T_OUT, "first line");
        break;
    default:
        abort();
    }
    len = o.len - 4;
    if (o.failed || len > max)
        abort();
    memcpy(out, o.buf + 4, len);
    csa_ipc_out_free(&o);
    return len;
}

int main(int argc, char **argv)
{
    unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000, it;
    unsigned char seeds[FZ_SEEDS][512], buf[4096];
    size_t lens[FZ_SEEDS];
    unsigned seed = 12345, k;
    int i;

    for (i = 0; i < FZ_SEEDS; i++)
        lens[i] = fz_seed(i, seeds[i], sizeof(seeds[i]));
    if (argc > 2 && !strcmp(argv[1], "seeds")) {
        const unsigned char *p[FZ_SEEDS];

        for (i = 0; i < FZ_SEEDS; i++)
            p[i] = seeds[i];
        return fz_write_seeds(argv[2], p, lens, FZ_SEEDS) == 0 ? 0 : 1;
    }
    csa_log_set_level(CSA_LOG_ERROR);
    /* Every seed is accepted as it is by its reader: the loop starts from
     * valid input. */
    for (i = 0; i < FZ_RUNNER_SEEDS; i++)
        if (agt_net_check_request(seeds[i], lens[i]) != CSA_OK) {
            fprintf(stderr, "seed %d refused: %s\n", i, csa_errmsg());
            return 1;
        }
    fz_runner(seeds[8], lens[8]);
    if (fz_runner_accepted != 1) {
        fprintf(stderr, "the hook run seed was refused: %s\n", csa_errmsg());
        return 1;
    }
    fz_runner_accepted = 0;
    for (it = 0; it < iters; it++) {
        size_t len = lens[it % FZ_SEEDS];

        memcpy(buf, seeds[it % FZ_SEEDS], len);
        for (k = 0; k < 1 + it % 6; k++)
            fz_mutate(buf, &len, sizeof(buf), &seed);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%lu mutated messages checked, %lu accepted by the holder, %lu "
           "run requests accepted by the hook runner\n",
           iters, fz_accepted, fz_runner_accepted);
    /* Mutations must also be refused, or nothing was checked. */
    return fz_accepted < iters && fz_runner_accepted < iters ? 0 : 1;
}
#endif
