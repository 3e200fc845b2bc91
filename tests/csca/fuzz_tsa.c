/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for csca's time-stamp authority: every input is one
 * TimeStampReq given to csca_tsa_respond() (testca/tsa.c), the function
 * behind POST /tsa, with no HTTP in between.  Whatever the bytes, a reply
 * must come back, parse as one DER TimeStampResp with a known status, and
 * carry a TSTInfo exactly when it is granted.
 *
 * Set-up once: a state directory (on /dev/shm when there is one, since
 * every granted reply fsyncs tsa-serial) with csca's root and TSA
 * certificate, removed at exit.
 *
 * With clang (-fsanitize=fuzzer, CSCA_LIBFUZZER) a libFuzzer target;
 * otherwise main() checks the built-in seeds' outcomes (granted, badAlg,
 * unacceptedPolicy, badRequest, badDataFormat) and runs the deterministic
 * mutation loop over them (ctest, also under ASan/UBSan).  "seeds DIR"
 * writes the seeds for a libFuzzer corpus.
 */
#include "csca.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ts.h>

#ifndef CSCA_LIBFUZZER
#include "fuzz_mutate.h"
#endif

struct csca_ctx CS;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
    bool ready;
    char dir[256];
    unsigned long granted, rejected;
} fz;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void fz_cleanup(void)
{
    tsa_free();
    if (fz.dir[0] != '\0')
        nftw(fz.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static int fz_setup(void)
{
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    snprintf(fz.dir, sizeof(fz.dir), "%s/csca-fuzz-tsa.XXXXXX", tmp);
    if (mkdtemp(fz.dir) == NULL) {
        fz.dir[0] = '\0';
        return -1;
    }
    atexit(fz_cleanup);
    CS.o.state_dir = fz.dir;
    if (pki_init() != 0 || tsa_init() != 0)
        return -1;
    fz.ready = true;
    return 0;
}

/* The reply's invariants; abort() so that both libFuzzer and the ctest
 * loop report a violation as a crash. */
static void check_reply(const unsigned char *der, size_t n)
{
    const unsigned char *p = der;
    TS_RESP *r = d2i_TS_RESP(NULL, &p, (long)n);
    long st;

    if (r == NULL || p != der + n) {
        fprintf(stderr, "fuzz_tsa: the reply is not one TimeStampResp\n");
        abort();
    }
    st = ASN1_INTEGER_get(
        TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(r)));
    if ((st == TS_STATUS_GRANTED) != (TS_RESP_get_tst_info(r) != NULL) ||
        (st != TS_STATUS_GRANTED && st != TS_STATUS_REJECTION)) {
        fprintf(stderr, "fuzz_tsa: status %ld with%s a TSTInfo\n", st,
                TS_RESP_get_tst_info(r) ? "" : "out");
        abort();
    }
    if (st == TS_STATUS_GRANTED)
        fz.granted++;
    else
        fz.rejected++;
    TS_RESP_free(r);
}

/* outcome: the reply's summary, for the seed checks. */
static void respond(const uint8_t *data, size_t size, char *outcome,
                    size_t outlen)
{
    unsigned char *der = NULL;
    size_t n = 0;

    if (csca_tsa_respond(data, size, &der, &n, outcome, outlen) != 0) {
        fprintf(stderr, "fuzz_tsa: no reply for %zu bytes\n", size);
        abort();
    }
    check_reply(der, n);
    free(der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char outcome[128];

    if (!fz.ready && fz_setup() != 0) {
        fprintf(stderr, "fuzz_tsa: cannot set csca up\n");
        abort();
    }
    respond(data, size, outcome, sizeof(outcome));
    return 0;
}

#ifndef CSCA_LIBFUZZER
/* One seed: a TimeStampReq made with OpenSSL's TS API, and the outcome
 * csca must give it. */
struct seed {
    int nid;        /* imprint algorithm */
    int digest_len; /* imprint length; 0: the algorithm's */
    long version;
    const char *policy; /* NULL: none; "default": csca's */
    bool nonce, cert_req;
    const char *want; /* prefix of the outcome */
};

static const struct seed seeds[] = {
    {NID_sha256, 0, 1, NULL, true, true, "granted serial "},
    {NID_sha384, 0, 1, NULL, false, false, "granted serial "},
    {NID_sha512, 0, 1, "default", true, false, "granted serial "},
    {NID_sha1, 0, 1, NULL, true, true, "rejection badAlg"},
    {NID_md5, 0, 1, NULL, true, true, "rejection badAlg"},
    {NID_sha256, 0, 1, "1.2.3.4", true, true, "rejection unacceptedPolicy"},
    {NID_sha256, 0, 2, NULL, true, true, "rejection badRequest"},
    {NID_sha256, 20, 1, NULL, true, true, "rejection badDataFormat"},
};
#define NSEEDS (sizeof(seeds) / sizeof(seeds[0]))

static int imprint(TS_REQ *r, const struct seed *s)
{
    TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
    X509_ALGOR *alg = X509_ALGOR_new();
    unsigned char md[64];
    int len = s->digest_len ? s->digest_len
                            : EVP_MD_get_size(EVP_get_digestbynid(s->nid));
    int ok;

    memset(md, 0x5a, sizeof(md));
    ok = mi && alg &&
         X509_ALGOR_set0(alg, OBJ_nid2obj(s->nid), V_ASN1_NULL, NULL) &&
         TS_MSG_IMPRINT_set_algo(mi, alg) &&
         TS_MSG_IMPRINT_set_msg(mi, md, len) && TS_REQ_set_msg_imprint(r, mi);
    X509_ALGOR_free(alg);
    TS_MSG_IMPRINT_free(mi);
    return ok ? 0 : -1;
}

/* DER of seed s; the caller frees with OPENSSL_free. */
static int seed_der(const struct seed *s, unsigned char **der)
{
    TS_REQ *r = TS_REQ_new();
    ASN1_INTEGER *nonce = ASN1_INTEGER_new();
    ASN1_OBJECT *pol = NULL;
    int len = -1;

    *der = NULL;
    if (r == NULL || nonce == NULL || !TS_REQ_set_version(r, s->version) ||
        imprint(r, s) != 0 || !ASN1_INTEGER_set(nonce, 0x1234567) ||
        (s->nonce && !TS_REQ_set_nonce(r, nonce)) ||
        !TS_REQ_set_cert_req(r, s->cert_req))
        goto done;
    if (s->policy != NULL) {
        pol = OBJ_txt2obj(
            strcmp(s->policy, "default") == 0 ? CSCA_TSA_POLICY : s->policy, 1);
        if (pol == NULL || !TS_REQ_set_policy_id(r, pol))
            goto done;
    }
    len = i2d_TS_REQ(r, der);
done:
    ASN1_OBJECT_free(pol);
    ASN1_INTEGER_free(nonce);
    TS_REQ_free(r);
    return len;
}

/* The unmutated seeds get exactly their outcomes, in order, with serial
 * numbers that increase. */
static int run_seeds(unsigned char **ders, size_t *lens)
{
    unsigned long long last = 0, serial;
    char outcome[128];
    size_t i;

    for (i = 0; i < NSEEDS; i++) {
        respond(ders[i], lens[i], outcome, sizeof(outcome));
        if (strncmp(outcome, seeds[i].want, strlen(seeds[i].want)) != 0) {
            fprintf(stderr, "fuzz_tsa: seed %zu: want \"%s\", got \"%s\"\n", i,
                    seeds[i].want, outcome);
            return -1;
        }
        if (sscanf(outcome, "granted serial %llu", &serial) == 1) {
            if (serial <= last) {
                fprintf(stderr, "fuzz_tsa: serial %llu after %llu\n", serial,
                        last);
                return -1;
            }
            last = serial;
        }
    }
    respond((const uint8_t *)"garbage", 7, outcome, sizeof(outcome));
    if (strcmp(outcome, "rejection badDataFormat") != 0) {
        fprintf(stderr, "fuzz_tsa: garbage got \"%s\"\n", outcome);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000, it;
    unsigned char *ders[NSEEDS] = {0}, buf[4096];
    size_t lens[NSEEDS], i, len;
    unsigned state = 3161, k;
    int rc = 1, n;

    for (i = 0; i < NSEEDS; i++) {
        if ((n = seed_der(&seeds[i], &ders[i])) <= 0) {
            fprintf(stderr, "fuzz_tsa: cannot make seed %zu\n", i);
            goto done;
        }
        lens[i] = (size_t)n;
    }
    if (argc > 2 && strcmp(argv[1], "seeds") == 0) {
        rc = fz_write_seeds(argv[2], (const unsigned char *const *)ders, lens,
                            NSEEDS) == 0
                 ? 0
                 : 1;
        goto done;
    }
    if (fz_setup() != 0) {
        fprintf(stderr, "fuzz_tsa: cannot set csca up\n");
        goto done;
    }
    if (run_seeds(ders, lens) != 0)
        goto done;
    for (it = 0; it < iters; it++) {
        len = lens[it % NSEEDS];
        memcpy(buf, ders[it % NSEEDS], len);
        for (k = 0; k < 1 + it % 4; k++)
            fz_mutate(buf, &len, sizeof(buf), &state);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%lu mutated queries answered (granted %lu, rejected %lu)\n", iters,
           fz.granted, fz.rejected);
    rc = 0;
done:
    for (i = 0; i < NSEEDS; i++)
        OPENSSL_free(ders[i]);
    return rc;
}
#endif
