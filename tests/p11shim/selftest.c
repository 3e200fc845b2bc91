/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self-test of p11shim.so against a throwaway SoftHSM token.
 *
 * usage: p11shim_selftest <p11shim.so> <softhsm2-util> <libsofthsm2.so> <dir>
 *
 * <dir> is wiped and receives softhsm2.conf, the token and the count files.
 * Exits 77 when softhsm2-util or the SoftHSM module is missing.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dlfcn.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define PIN "123456"
#define LABEL "shimtest"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

#define CHECK_RV(expr, want)                                                   \
    do {                                                                       \
        CK_RV got_ = (expr);                                                   \
        if (got_ != (CK_RV)(want)) {                                           \
            fprintf(stderr, "%s:%d: %s returned 0x%lx, want %s (0x%lx)\n",     \
                    __FILE__, __LINE__, #expr, (unsigned long)got_, #want,     \
                    (unsigned long)(want));                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static char dir[2048];

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    return remove(path);
}

static int run(char *const argv[])
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void dir_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

/* A fresh softhsm2.conf and token under dir; false on failure. */
static bool make_token(const char *util)
{
    char conf[4096], tokens[4096];
    char *init[] = {(char *)util, "--init-token", "--free", "--label", LABEL,
                    "--so-pin",   "1234",         "--pin",  PIN,       NULL};
    FILE *f;

    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    dir_path(conf, sizeof(conf), "softhsm2.conf");
    dir_path(tokens, sizeof(tokens), "tokens");
    if (mkdir(dir, 0700) != 0 || mkdir(tokens, 0700) != 0)
        return false;
    f = fopen(conf, "w");
    if (!f)
        return false;
    fprintf(f,
            "directories.tokendir = %s\nobjectstore.backend = file\n"
            "log.level = ERROR\n",
            tokens);
    if (fclose(f) != 0 || setenv("SOFTHSM2_CONF", conf, 1) != 0)
        return false;
    return run(init) == 0;
}

/* The count of name in the count file, 0 when absent, -1 without a file. */
static long read_count(const char *file, const char *name)
{
    char path[4096], fn[64];
    long n, found = 0;
    FILE *f;

    dir_path(path, sizeof(path), file);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fscanf(f, "%63s %ld", fn, &n) == 2) {
        if (strcmp(fn, name) == 0)
            found = n;
    }
    fclose(f);
    return found;
}

#define CHECK_COUNT(file, name, want) CHECK(read_count(file, name) == (want))

static void set_env(const char *count_file, const char *fail,
                    const char *login_rv, const char *flags)
{
    char path[4096];

    dir_path(path, sizeof(path), count_file);
    setenv("P11SHIM_COUNT_FILE", path, 1);
    fail ? setenv("P11SHIM_FAIL", fail, 1) : unsetenv("P11SHIM_FAIL");
    login_rv ? setenv("P11SHIM_LOGIN_RV", login_rv, 1)
             : unsetenv("P11SHIM_LOGIN_RV");
    flags ? setenv("P11SHIM_TOKEN_FLAGS_ADD", flags, 1)
          : unsetenv("P11SHIM_TOKEN_FLAGS_ADD");
    unsetenv("P11SHIM_ATTR_LEN");
    unsetenv("P11SHIM_BARE_EC_POINT");
    unsetenv("P11SHIM_LATENCY_US");
}

static CK_FUNCTION_LIST_PTR load_shim(const char *shim)
{
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST_PTR list = NULL;
    void *handle = dlopen(shim, RTLD_NOW | RTLD_LOCAL);

    if (!handle) {
        fprintf(stderr, "cannot load %s: %s\n", shim, dlerror());
        exit(1);
    }
    get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (!get_list || get_list(&list) != CKR_OK || !list) {
        fprintf(stderr, "%s: no function list\n", shim);
        exit(1);
    }
    return list;
}

static CK_RV initialize(CK_FUNCTION_LIST_PTR f)
{
    CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};

    return f->C_Initialize(&args);
}

/* The slot holding the test token, or (CK_SLOT_ID)-1. */
static CK_SLOT_ID find_slot(CK_FUNCTION_LIST_PTR f)
{
    CK_SLOT_ID slots[16], found = (CK_SLOT_ID)-1;
    CK_ULONG n = 16;
    CK_TOKEN_INFO info;

    CHECK_RV(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    for (CK_ULONG i = 0; i < n && n <= 16; i++) {
        if (f->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
            memcmp(info.label, LABEL " ", strlen(LABEL) + 1) == 0)
            found = slots[i];
    }
    CHECK(found != (CK_SLOT_ID)-1);
    return found;
}

static CK_SESSION_HANDLE open_session(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;

    CHECK_RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
                              NULL, &s),
             CKR_OK);
    return s;
}

static CK_RV login(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s)
{
    return f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)PIN, strlen(PIN));
}

static CK_FLAGS token_flags(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot)
{
    CK_TOKEN_INFO info;

    CHECK_RV(f->C_GetTokenInfo(slot, &info), CKR_OK);
    return info.flags;
}

/* A P-256 session key pair; returns the private key. */
static CK_OBJECT_HANDLE make_key(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s)
{
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                             0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, p256, sizeof(p256)},
                          {CKA_TOKEN, &no, sizeof(no)},
                          {CKA_VERIFY, &yes, sizeof(yes)}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &no, sizeof(no)},
                           {CKA_PRIVATE, &yes, sizeof(yes)},
                           {CKA_SENSITIVE, &yes, sizeof(yes)},
                           {CKA_SIGN, &yes, sizeof(yes)}};
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;

    CHECK_RV(f->C_GenerateKeyPair(s, &mech, pub, 3, priv, 4, &hpub, &hpriv),
             CKR_OK);
    return hpriv;
}

/* A P-256 key pair with CKA_ID 01020304 and a public key on the token when
 * token; returns the public key. */
static CK_OBJECT_HANDLE make_pub(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
                                 CK_BBOOL token)
{
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                             0xce, 0x3d, 0x03, 0x01, 0x07};
    static CK_BYTE id[] = {1, 2, 3, 4};
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, p256, sizeof(p256)},
                          {CKA_TOKEN, &token, sizeof(token)},
                          {CKA_ID, id, sizeof(id)},
                          {CKA_VERIFY, &yes, sizeof(yes)}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &no, sizeof(no)},
                           {CKA_SIGN, &yes, sizeof(yes)}};
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;

    CHECK_RV(f->C_GenerateKeyPair(s, &mech, pub, 4, priv, 2, &hpub, &hpriv),
             CKR_OK);
    return hpub;
}

/* C_SignInit then C_Sign; the first CK_RV that is not CKR_OK. */
static CK_RV sign(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
                  CK_OBJECT_HANDLE key)
{
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    CK_BYTE digest[32] = {1, 2, 3}, sig[128];
    CK_ULONG len = sizeof(sig);
    CK_RV rv = f->C_SignInit(s, &mech, key);

    if (rv != CKR_OK)
        return rv;
    rv = f->C_Sign(s, digest, sizeof(digest), sig, &len);
    if (rv == CKR_OK && len != 64)
        return CKR_GENERAL_ERROR;
    return rv;
}

/* A child process checks the count file written at exit. */
static void test_count_at_exit(const char *shim)
{
    int status = -1;
    pid_t pid;

    set_env("counts-exit", NULL, NULL, NULL);
    pid = fork();
    if (pid == 0) {
        CK_FUNCTION_LIST_PTR f;
        CK_INFO info;

        unsetenv("P11SHIM_MODULE"); /* the default built in */
        f = load_shim(shim);
        if (initialize(f) != CKR_OK || f->C_Finalize(NULL) != CKR_OK)
            _exit(1);
        f->C_GetInfo(&info); /* not initialised: only counted */
        exit(0);
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_COUNT("counts-exit", "C_GetFunctionList", 1);
    CHECK_COUNT("counts-exit", "C_Initialize", 1);
    CHECK_COUNT("counts-exit", "C_Finalize", 1);
    CHECK_COUNT("counts-exit", "C_GetInfo", 1);
}

static void test_forward(CK_FUNCTION_LIST_PTR f)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE key;
    CK_SLOT_ID slot;
    CK_FLAGS flags;

    set_env("counts-forward", NULL, NULL, NULL);
    CHECK_RV(initialize(f), CKR_OK);
    slot = find_slot(f);
    s = open_session(f, slot);
    CHECK_RV(login(f, s), CKR_OK);
    flags = token_flags(f, slot);
    CHECK(flags & CKF_TOKEN_INITIALIZED);
    CHECK(!(flags & (CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)));
    key = make_key(f, s);
    CHECK_RV(sign(f, s, key), CKR_OK);
    CHECK_RV(sign(f, s, key), CKR_OK);
    CHECK_RV(f->C_CloseSession(s), CKR_OK);
    CHECK_RV(f->C_Finalize(NULL), CKR_OK);
    CHECK_COUNT("counts-forward", "C_GetFunctionList", 1);
    CHECK_COUNT("counts-forward", "C_Initialize", 1);
    CHECK_COUNT("counts-forward", "C_Login", 1);
    CHECK_COUNT("counts-forward", "C_GenerateKeyPair", 1);
    CHECK_COUNT("counts-forward", "C_SignInit", 2);
    CHECK_COUNT("counts-forward", "C_Sign", 2);
    CHECK_COUNT("counts-forward", "C_Logout", 0);
    CHECK_COUNT("counts-forward", "C_Finalize", 1);
}

static void test_login_and_flags(CK_FUNCTION_LIST_PTR f)
{
    CK_SESSION_INFO info;
    CK_SESSION_HANDLE s;
    CK_SLOT_ID slot;
    CK_FLAGS flags;

    set_env("counts-login", NULL, "CKR_PIN_INCORRECT",
            "CKF_USER_PIN_FINAL_TRY,CKF_USER_PIN_COUNT_LOW");
    CHECK_RV(initialize(f), CKR_OK);
    slot = find_slot(f);
    s = open_session(f, slot);
    CHECK_RV(login(f, s), CKR_PIN_INCORRECT);
    CHECK_RV(login(f, s), CKR_PIN_INCORRECT);
    CHECK_RV(f->C_GetSessionInfo(s, &info), CKR_OK);
    CHECK(info.state == CKS_RW_PUBLIC_SESSION); /* never reached SoftHSM */
    flags = token_flags(f, slot);
    CHECK(flags & CKF_TOKEN_INITIALIZED);
    CHECK(flags & CKF_USER_PIN_FINAL_TRY);
    CHECK(flags & CKF_USER_PIN_COUNT_LOW);
    CHECK(!(flags & CKF_USER_PIN_LOCKED));
    CHECK_RV(f->C_Finalize(NULL), CKR_OK);
    CHECK_COUNT("counts-login", "C_GetFunctionList", 0); /* new file */
    CHECK_COUNT("counts-login", "C_Login", 2);

    set_env("counts-login", NULL, "0xa4", "CKF_USER_PIN_LOCKED");
    CHECK_RV(initialize(f), CKR_OK);
    slot = find_slot(f);
    s = open_session(f, slot);
    CHECK_RV(login(f, s), CKR_PIN_LOCKED);
    flags = token_flags(f, slot);
    CHECK(flags & CKF_USER_PIN_LOCKED);
    CHECK(!(flags & CKF_USER_PIN_FINAL_TRY));
    CHECK_RV(f->C_Finalize(NULL), CKR_OK);
    CHECK_COUNT("counts-login", "C_Login", 3); /* same file: counts go on */
}

static void test_bad_settings(CK_FUNCTION_LIST_PTR f)
{
    static const char *fails[] = {"C_Bogus:CKR_OK", "C_Sign:CKR_BOGUS",
                                  "C_Sign", "C_Sign:CKR_OK:0",
                                  "C_Sign:CKR_OK:1:open"};
    static const char *lens[] = {"CKA_BOGUS:1", "CKA_ID", "CKA_ID:x",
                                 "CKA_ID:1:sometimes",
                                 /* a second item without a length */
                                 "CKA_ID:1,CKA_LABEL"};

    for (size_t i = 0; i < sizeof(fails) / sizeof(fails[0]); i++) {
        set_env("counts-bad", fails[i], NULL, NULL);
        CHECK_RV(initialize(f), CKR_GENERAL_ERROR);
    }
    set_env("counts-bad", NULL, "PIN_INCORRECT", NULL);
    CHECK_RV(initialize(f), CKR_GENERAL_ERROR);
    set_env("counts-bad", NULL, NULL, "CKF_BOGUS");
    CHECK_RV(initialize(f), CKR_GENERAL_ERROR);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        set_env("counts-bad", NULL, NULL, NULL);
        setenv("P11SHIM_ATTR_LEN", lens[i], 1);
        CHECK_RV(initialize(f), CKR_GENERAL_ERROR);
    }
    set_env("counts-bad", NULL, NULL, NULL);
    setenv("P11SHIM_BARE_EC_POINT", "yes", 1);
    CHECK_RV(initialize(f), CKR_GENERAL_ERROR);
}

/* The public key with CKA_ID 01020304 on the token. */
static CK_OBJECT_HANDLE find_pub(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s)
{
    static CK_BYTE id[] = {1, 2, 3, 4};
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_ID, id, sizeof(id)}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;

    CHECK_RV(f->C_FindObjectsInit(s, t, 2), CKR_OK);
    CHECK_RV(f->C_FindObjects(s, &h, 1, &n), CKR_OK);
    CHECK_RV(f->C_FindObjectsFinal(s), CKR_OK);
    CHECK(n == 1);
    return h;
}

static void read_point(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
                       CK_OBJECT_HANDLE pub, CK_BYTE *point, CK_ULONG *len)
{
    CK_ATTRIBUTE a = {CKA_EC_POINT, point, *len};

    CHECK_RV(f->C_GetAttributeValue(s, pub, &a, 1), CKR_OK);
    *len = a.ulValueLen;
}

/* P11SHIM_ATTR_LEN misreports lengths, never writes past the buffer;
 * P11SHIM_BARE_EC_POINT strips the OCTET STRING. */
static void test_attr_len_and_bare(CK_FUNCTION_LIST_PTR f)
{
    CK_BYTE wrapped[80], bare[80], id[8];
    CK_ULONG wlen = sizeof(wrapped), blen = sizeof(bare);
    CK_OBJECT_CLASS cls = 0;
    CK_ATTRIBUTE a[2];
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE pub;

    /* A token public key, read as the real module returns it. */
    set_env("counts-attr", NULL, NULL, NULL);
    CHECK_RV(initialize(f), CKR_OK);
    s = open_session(f, find_slot(f));
    CHECK_RV(login(f, s), CKR_OK);
    pub = make_pub(f, s, CK_TRUE);
    read_point(f, s, pub, wrapped, &wlen);
    CHECK(wlen == 67 && wrapped[0] == 0x04 && wrapped[1] == 0x41);
    CHECK_RV(f->C_Finalize(NULL), CKR_OK);

    set_env("counts-attr", NULL, NULL, NULL);
    setenv("P11SHIM_ATTR_LEN", "CKA_ID:200,CKA_CLASS:3:value", 1);
    CHECK_RV(initialize(f), CKR_OK);
    s = open_session(f, find_slot(f));
    CHECK_RV(login(f, s), CKR_OK);
    pub = make_pub(f, s, CK_FALSE);
    memset(id, 0xee, sizeof(id));
    a[0] = (CK_ATTRIBUTE){CKA_ID, NULL, 0};
    a[1] = (CK_ATTRIBUTE){CKA_CLASS, NULL, 0};
    CHECK_RV(f->C_GetAttributeValue(s, pub, a, 2), CKR_OK);
    CHECK(a[0].ulValueLen == 200);
    CHECK(a[1].ulValueLen == sizeof(cls)); /* "value" only */
    a[0] = (CK_ATTRIBUTE){CKA_ID, id, 2};  /* too small for the real 4 */
    a[1] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
    CHECK_RV(f->C_GetAttributeValue(s, pub, a, 2), CKR_BUFFER_TOO_SMALL);
    CHECK(a[0].ulValueLen == CK_UNAVAILABLE_INFORMATION); /* left alone */
    CHECK(a[1].ulValueLen == 3 && cls == CKO_PUBLIC_KEY);
    CHECK(id[2] == 0xee); /* nothing past the buffer */
    a[0] = (CK_ATTRIBUTE){CKA_ID, id, sizeof(id)};
    CHECK_RV(f->C_GetAttributeValue(s, pub, a, 1), CKR_OK);
    CHECK(a[0].ulValueLen == 200 && memcmp(id, "\1\2\3\4", 4) == 0);
    CHECK(id[4] == 0xee);
    CHECK_RV(f->C_Finalize(NULL), CKR_OK);

    /* The same token key, its point bare. */
    set_env("counts-attr", NULL, NULL, NULL);
    setenv("P11SHIM_BARE_EC_POINT", "1", 1);
    setenv("P11SHIM_ATTR_LEN", "CKA_ID:9:query", 1);
    CHECK_RV(initialize(f), CKR_OK);
    s = open_session(f, find_slot(f));
    pub = find_pub(f, s);
    a[0] = (CK_ATTRIBUTE){CKA_EC_POINT, NULL, 0};
    a[1] = (CK_ATTRIBUTE){CKA_ID, NULL, 0};
    CHECK_RV(f->C_GetAttributeValue(s, pub, a, 2), CKR_OK);
    CHECK(a[0].ulValueLen == 65 && a[1].ulValueLen == 9);
    a[0] = (CK_ATTRIBUTE){CKA_EC_POINT, bare, 64};
    CHECK_RV(f->C_GetAttributeValue(s, pub, a, 1), CKR_BUFFER_TOO_SMALL);
    CHECK(a[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    a[0] = (CK_ATTRIBUTE){CKA_EC_POINT, bare, sizeof(bare)};
    a[1] = (CK_ATTRIBUTE){CKA_ID, id, sizeof(id)};
    CHECK_RV(f->C_GetAttributeValue(s, pub, a, 2), CKR_OK);
    CHECK(a[0].ulValueLen == 65 && memcmp(bare, wrapped + 2, 65) == 0);
    CHECK(a[1].ulValueLen == 4); /* "query" only */
    blen = sizeof(bare);
    read_point(f, s, pub, bare, &blen);
    CHECK(blen == 65 && memcmp(bare, wrapped + 2, 65) == 0);
    CHECK_RV(f->C_DestroyObject(s, pub), CKR_OK);
    CHECK_RV(f->C_Finalize(NULL), CKR_OK);
}

static void test_fail(CK_FUNCTION_LIST_PTR f)
{
    CK_SESSION_INFO info;
    CK_SESSION_HANDLE s1, s2;
    CK_OBJECT_HANDLE key;
    CK_SLOT_ID slot;
    CK_BYTE rnd[8];

    set_env("counts-fail",
            "C_Login:CKR_PIN_LOCKED; C_Sign:CKR_SESSION_HANDLE_INVALID:2;"
            "C_SignInit:0x32:3;"
            "C_GenerateRandom:CKR_SESSION_HANDLE_INVALID:1:close",
            NULL, NULL);
    CHECK_RV(initialize(f), CKR_OK);
    slot = find_slot(f);
    s1 = open_session(f, slot);
    s2 = open_session(f, slot);
    CHECK_RV(login(f, s1), CKR_PIN_LOCKED);
    CHECK_RV(login(f, s1), CKR_OK);
    CHECK(!(token_flags(f, slot) & CKF_USER_PIN_FINAL_TRY));
    key = make_key(f, s1);
    CHECK_RV(sign(f, s1, key), CKR_OK);
    CHECK_COUNT("counts-fail", "C_Sign", 1); /* rewritten at C_Sign */
    CHECK_RV(sign(f, s1, key), CKR_SESSION_HANDLE_INVALID);
    CHECK_RV(sign(f, s2, key), CKR_DEVICE_REMOVED);
    CHECK_RV(sign(f, s2, key), CKR_OK);
    CHECK_RV(sign(f, s2, key), CKR_OK);
    CHECK_RV(f->C_GenerateRandom(s1, rnd, sizeof(rnd)),
             CKR_SESSION_HANDLE_INVALID);
    CHECK_RV(f->C_GenerateRandom(s1, rnd, sizeof(rnd)),
             CKR_SESSION_HANDLE_INVALID); /* closed in SoftHSM */
    CHECK_RV(f->C_GenerateRandom(s2, rnd, sizeof(rnd)), CKR_OK);
    CHECK_RV(f->C_GetSessionInfo(s2, &info), CKR_OK);
    CHECK(info.state == CKS_RW_USER_FUNCTIONS);
    CHECK_RV(f->C_Finalize(NULL), CKR_OK);
    CHECK_COUNT("counts-fail", "C_Initialize", 1);
    CHECK_COUNT("counts-fail", "C_OpenSession", 2);
    CHECK_COUNT("counts-fail", "C_Login", 2);
    CHECK_COUNT("counts-fail", "C_SignInit", 5);
    CHECK_COUNT("counts-fail", "C_Sign", 4);
    CHECK_COUNT("counts-fail", "C_GenerateRandom", 3);
    CHECK_COUNT("counts-fail", "C_CloseSession", 0);
    CHECK_COUNT("counts-fail", "C_Finalize", 1);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* P11SHIM_LATENCY_US delays forwarded calls, not injected failures. */
static void test_latency(CK_FUNCTION_LIST_PTR f)
{
    CK_INFO info;
    double t0;

    set_env("counts-latency", NULL, NULL, NULL);
    setenv("P11SHIM_LATENCY_US", "1e3", 1);
    CHECK_RV(initialize(f), CKR_GENERAL_ERROR);
    setenv("P11SHIM_LATENCY_US", "20000000", 1);
    CHECK_RV(initialize(f), CKR_GENERAL_ERROR);
    set_env("counts-latency", "C_GetSlotInfo:CKR_DEVICE_ERROR:*", NULL, NULL);
    setenv("P11SHIM_LATENCY_US", "30000", 1);
    CHECK_RV(initialize(f), CKR_OK);
    t0 = now_ms();
    CHECK_RV(f->C_GetInfo(&info), CKR_OK);
    CHECK(now_ms() - t0 >= 30.0);
    t0 = now_ms();
    CHECK_RV(f->C_GetSlotInfo(0, NULL), CKR_DEVICE_ERROR);
    CHECK(now_ms() - t0 < 30.0);
    CHECK_RV(f->C_Finalize(NULL), CKR_OK);
    CHECK_COUNT("counts-latency", "C_GetInfo", 1);
}

int main(int argc, char **argv)
{
    CK_FUNCTION_LIST_PTR f;

    if (argc != 5) {
        fprintf(stderr, "usage: %s SHIM SOFTHSM2_UTIL SOFTHSM2_MODULE DIR\n",
                argv[0]);
        return 2;
    }
    if (access(argv[2], X_OK) != 0 || access(argv[3], R_OK) != 0) {
        printf("SKIP: softhsm2-util ('%s') or SoftHSM module ('%s') "
               "missing\n",
               argv[2], argv[3]);
        return 77;
    }
    snprintf(dir, sizeof(dir), "%s", argv[4]);
    if (!make_token(argv[2])) {
        fprintf(stderr, "cannot create the SoftHSM token in %s\n", dir);
        return 1;
    }
    test_count_at_exit(argv[1]);
    setenv("P11SHIM_MODULE", argv[3], 1);
    f = load_shim(argv[1]);
    test_forward(f);
    test_login_and_flags(f);
    test_bad_settings(f);
    test_fail(f);
    test_attr_len_and_bare(f);
    test_latency(f);
    printf("%s: %d failure(s)\n", argv[0], failures);
    return failures ? 1 : 0;
}
