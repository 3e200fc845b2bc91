/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11shim.so: a PKCS#11 module for tests that forwards every call to a real
 * module (SoftHSMv2 by default), counts calls and fails on purpose.
 *
 * The shim reads its environment at every C_Initialize, so one process can
 * test several settings with C_Finalize + setenv + C_Initialize.
 *
 * P11SHIM_MODULE=<path>
 *     The real module (default: SoftHSM found at configure time).  It is
 *     dlopen()ed at the first C_Initialize and never unloaded.
 *
 * P11SHIM_COUNT_FILE=<path>
 *     Write call counts there, one "C_Name count" line per function called at
 *     least once, in function-list order, e.g. "C_Login 1\nC_Sign 3\n".  The
 *     file is rewritten (write to <path>.tmp, then rename) on every C_Login,
 *     C_Sign, C_SignFinal, C_GenerateKeyPair and C_Finalize, and when the
 *     process exits or the shim is unloaded.  Counts are kept for the whole
 *     process and include calls whose failure was injected; they restart
 *     from zero when a C_Initialize sees a different path than the last one.
 *
 * P11SHIM_LOGIN_RV=<rv>
 *     Every C_Login returns <rv> without reaching the real module.
 *
 * P11SHIM_TOKEN_FLAGS_ADD=<flag>[,<flag>...]
 *     C_GetTokenInfo forwards, then ORs these flags into info->flags, e.g.
 *     CKF_USER_PIN_FINAL_TRY,CKF_USER_PIN_LOCKED (CKF_ names or numbers).
 *
 * P11SHIM_FAIL=<C_Function>:<rv>[:<n>[:close]][;...]
 *     The n-th call (1-based, default 1, "*" = every call) to C_Function
 *     after C_Initialize returns <rv> without reaching the real module;
 *     other calls are forwarded.  Note that an operation begun by the real
 *     module (C_SignInit) then stays active in that session.  With "close",
 *     the shim also closes the call's session in the real module, so the
 *     handle is really gone (use with CKR_SESSION_HANDLE_INVALID; if it was
 *     the application's last session, the token logs out as well).
 *     Example: P11SHIM_FAIL='C_Sign:CKR_SESSION_HANDLE_INVALID:1;
 *     C_SignInit:CKR_DEVICE_REMOVED:3'.  C_GetFunctionList never fails.
 *
 * P11SHIM_TEAR=<n>
 *     The n-th C_SetAttributeValue after C_Initialize destroys its object in
 *     the real module and kills the process with SIGKILL.  This is what
 *     SoftHSM's file object store does to a process killed inside
 *     C_SetAttributeValue: it truncates the object file before rewriting
 *     it, and the object is gone.
 *
 * P11SHIM_KILL_AFTER=<C_Function>:<n>
 *     The process is killed with SIGKILL right after the n-th call to
 *     C_Function (forwarded to the real module) returned, e.g.
 *     C_CopyObject:1 kills between a copy and whatever was to follow.
 *
 * P11SHIM_ATTR_LEN=<CKA_name>:<len>[:query|:value][,...]
 *     C_GetAttributeValue forwards, then reports <len> as the ulValueLen of
 *     that attribute wherever the real module returned a length (not
 *     CK_UNAVAILABLE_INFORMATION), and returns the real module's CK_RV:
 *     a module that misreports lengths.  Nothing is written past the
 *     caller's buffer.  With "query", only calls that ask for the length
 *     (pValue NULL) are changed; with "value", only calls that read the
 *     value; so the two calls of a length-then-value read can disagree.
 *     Example: P11SHIM_ATTR_LEN=CKA_ID:200,CKA_EC_POINT:100:value.
 *
 * P11SHIM_BARE_EC_POINT=1
 *     CKA_EC_POINT values that the real module returns in a DER OCTET
 *     STRING (as SoftHSM does, and PKCS#11 2.40 asks) are returned as the
 *     bare point, as some modules do: 04||X||Y, or the 32 bytes of an
 *     Ed25519 key.  A caller's buffer too small for the bare point gets
 *     CKR_BUFFER_TOO_SMALL and CK_UNAVAILABLE_INFORMATION.
 *
 * P11SHIM_LATENCY_US=<microseconds>
 *     Every call that is forwarded to the real module first sleeps that
 *     long (outside the shim's lock, so concurrent callers sleep side by
 *     side), as a network HSM or a smart card adds a round trip to every
 *     call.  Calls answered by an injected failure do not sleep;
 *     C_GetFunctionList never does.  Example: P11SHIM_LATENCY_US=2000
 *     (bench/scale.sh measures a renewal with 2 ms per call).
 *
 * <rv> is a CKR_ name from the table below or a number ("0xa0", "160").
 * A malformed setting makes C_Initialize print why on stderr and return
 * CKR_GENERAL_ERROR.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

#ifndef P11SHIM_DEFAULT_MODULE
#define P11SHIM_DEFAULT_MODULE ""
#endif

#define SHIM_MAX_FAULTS 16
#define SHIM_MAX_ATTR_LENS 8

/*
 * The PKCS#11 2.40 function list.  S: first parameter is the session "s",
 * N: no session, H: hand-written below.
 */
/* clang-format off */
#define SHIM_FUNCTIONS(S, N, H)                                               \
    H(C_Initialize, (CK_VOID_PTR a), (a))                                     \
    H(C_Finalize, (CK_VOID_PTR a), (a))                                       \
    N(C_GetInfo, (CK_INFO_PTR a), (a))                                        \
    H(C_GetFunctionList, (CK_FUNCTION_LIST_PTR_PTR a), (a))                   \
    N(C_GetSlotList, (CK_BBOOL a, CK_SLOT_ID_PTR b, CK_ULONG_PTR c),          \
      (a, b, c))                                                              \
    N(C_GetSlotInfo, (CK_SLOT_ID a, CK_SLOT_INFO_PTR b), (a, b))              \
    H(C_GetTokenInfo, (CK_SLOT_ID a, CK_TOKEN_INFO_PTR b), (a, b))            \
    N(C_GetMechanismList,                                                     \
      (CK_SLOT_ID a, CK_MECHANISM_TYPE_PTR b, CK_ULONG_PTR c), (a, b, c))     \
    N(C_GetMechanismInfo,                                                     \
      (CK_SLOT_ID a, CK_MECHANISM_TYPE b, CK_MECHANISM_INFO_PTR c),           \
      (a, b, c))                                                              \
    N(C_InitToken,                                                            \
      (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d),       \
      (a, b, c, d))                                                           \
    S(C_InitPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR a, CK_ULONG b),        \
      (s, a, b))                                                              \
    S(C_SetPIN,                                                               \
      (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR a, CK_ULONG b, CK_UTF8CHAR_PTR c, \
       CK_ULONG d),                                                           \
      (s, a, b, c, d))                                                        \
    N(C_OpenSession,                                                          \
      (CK_SLOT_ID a, CK_FLAGS b, CK_VOID_PTR c, CK_NOTIFY d,                  \
       CK_SESSION_HANDLE_PTR e),                                              \
      (a, b, c, d, e))                                                        \
    S(C_CloseSession, (CK_SESSION_HANDLE s), (s))                             \
    N(C_CloseAllSessions, (CK_SLOT_ID a), (a))                                \
    S(C_GetSessionInfo, (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR a), (s, a)) \
    S(C_GetOperationState,                                                    \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG_PTR b), (s, a, b))        \
    S(C_SetOperationState,                                                    \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_OBJECT_HANDLE c,    \
       CK_OBJECT_HANDLE d),                                                   \
      (s, a, b, c, d))                                                        \
    S(C_Login,                                                                \
      (CK_SESSION_HANDLE s, CK_USER_TYPE a, CK_UTF8CHAR_PTR b, CK_ULONG c),   \
      (s, a, b, c))                                                           \
    S(C_Logout, (CK_SESSION_HANDLE s), (s))                                   \
    S(C_CreateObject,                                                         \
      (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR a, CK_ULONG b,                   \
       CK_OBJECT_HANDLE_PTR c),                                               \
      (s, a, b, c))                                                           \
    S(C_CopyObject,                                                           \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_ATTRIBUTE_PTR b,           \
       CK_ULONG c, CK_OBJECT_HANDLE_PTR d),                                   \
      (s, a, b, c, d))                                                        \
    S(C_DestroyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a), (s, a))     \
    S(C_GetObjectSize,                                                        \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_ULONG_PTR b), (s, a, b))   \
    H(C_GetAttributeValue,                                                    \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_ATTRIBUTE_PTR b,           \
       CK_ULONG c),                                                           \
      (s, a, b, c))                                                           \
    H(C_SetAttributeValue,                                                    \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a, CK_ATTRIBUTE_PTR b,           \
       CK_ULONG c),                                                           \
      (s, a, b, c))                                                           \
    S(C_FindObjectsInit,                                                      \
      (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR a, CK_ULONG b), (s, a, b))       \
    S(C_FindObjects,                                                          \
      (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR a, CK_ULONG b,               \
       CK_ULONG_PTR c),                                                       \
      (s, a, b, c))                                                           \
    S(C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s))                         \
    SHIM_CRYPT(S, C_EncryptInit, C_Encrypt, C_EncryptUpdate, C_EncryptFinal)  \
    SHIM_CRYPT(S, C_DecryptInit, C_Decrypt, C_DecryptUpdate, C_DecryptFinal)  \
    S(C_DigestInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a), (s, a))        \
    S(C_Digest, SHIM_P_INOUT, SHIM_A_INOUT)                                   \
    S(C_DigestUpdate, SHIM_P_IN, SHIM_A_IN)                                   \
    S(C_DigestKey, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE a), (s, a))         \
    S(C_DigestFinal, SHIM_P_OUT, SHIM_A_OUT)                                  \
    S(C_SignInit, SHIM_P_INIT, SHIM_A_INIT)                                   \
    S(C_Sign, SHIM_P_INOUT, SHIM_A_INOUT)                                     \
    S(C_SignUpdate, SHIM_P_IN, SHIM_A_IN)                                     \
    S(C_SignFinal, SHIM_P_OUT, SHIM_A_OUT)                                    \
    S(C_SignRecoverInit, SHIM_P_INIT, SHIM_A_INIT)                            \
    S(C_SignRecover, SHIM_P_INOUT, SHIM_A_INOUT)                              \
    S(C_VerifyInit, SHIM_P_INIT, SHIM_A_INIT)                                 \
    S(C_Verify,                                                               \
      (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c,         \
       CK_ULONG d),                                                           \
      (s, a, b, c, d))                                                        \
    S(C_VerifyUpdate, SHIM_P_IN, SHIM_A_IN)                                   \
    S(C_VerifyFinal, SHIM_P_IN, SHIM_A_IN)                                    \
    S(C_VerifyRecoverInit, SHIM_P_INIT, SHIM_A_INIT)                          \
    S(C_VerifyRecover, SHIM_P_INOUT, SHIM_A_INOUT)                            \
    S(C_DigestEncryptUpdate, SHIM_P_INOUT, SHIM_A_INOUT)                      \
    S(C_DecryptDigestUpdate, SHIM_P_INOUT, SHIM_A_INOUT)                      \
    S(C_SignEncryptUpdate, SHIM_P_INOUT, SHIM_A_INOUT)                        \
    S(C_DecryptVerifyUpdate, SHIM_P_INOUT, SHIM_A_INOUT)                      \
    S(C_GenerateKey,                                                          \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_ATTRIBUTE_PTR b,           \
       CK_ULONG c, CK_OBJECT_HANDLE_PTR d),                                   \
      (s, a, b, c, d))                                                        \
    S(C_GenerateKeyPair,                                                      \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_ATTRIBUTE_PTR b,           \
       CK_ULONG c, CK_ATTRIBUTE_PTR d, CK_ULONG e, CK_OBJECT_HANDLE_PTR f,    \
       CK_OBJECT_HANDLE_PTR g),                                               \
      (s, a, b, c, d, e, f, g))                                               \
    S(C_WrapKey,                                                              \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b,           \
       CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG_PTR e),                    \
      (s, a, b, c, d, e))                                                     \
    S(C_UnwrapKey,                                                            \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b,           \
       CK_BYTE_PTR c, CK_ULONG d, CK_ATTRIBUTE_PTR e, CK_ULONG f,             \
       CK_OBJECT_HANDLE_PTR g),                                               \
      (s, a, b, c, d, e, f, g))                                               \
    S(C_DeriveKey,                                                            \
      (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b,           \
       CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e),               \
      (s, a, b, c, d, e))                                                     \
    S(C_SeedRandom, SHIM_P_IN, SHIM_A_IN)                                     \
    S(C_GenerateRandom, SHIM_P_IN, SHIM_A_IN)                                 \
    S(C_GetFunctionStatus, (CK_SESSION_HANDLE s), (s))                        \
    S(C_CancelFunction, (CK_SESSION_HANDLE s), (s))                           \
    N(C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c),      \
      (a, b, c))

/* Parameter shapes shared by the operation functions. */
#define SHIM_P_INIT                                                           \
    (CK_SESSION_HANDLE s, CK_MECHANISM_PTR a, CK_OBJECT_HANDLE b)
#define SHIM_A_INIT (s, a, b)
#define SHIM_P_IN (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b)
#define SHIM_A_IN (s, a, b)
#define SHIM_P_OUT (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG_PTR b)
#define SHIM_A_OUT (s, a, b)
#define SHIM_P_INOUT                                                          \
    (CK_SESSION_HANDLE s, CK_BYTE_PTR a, CK_ULONG b, CK_BYTE_PTR c,           \
     CK_ULONG_PTR d)
#define SHIM_A_INOUT (s, a, b, c, d)
#define SHIM_CRYPT(S, init, one, update, final)                               \
    S(init, SHIM_P_INIT, SHIM_A_INIT)                                         \
    S(one, SHIM_P_INOUT, SHIM_A_INOUT)                                        \
    S(update, SHIM_P_INOUT, SHIM_A_INOUT)                                     \
    S(final, SHIM_P_OUT, SHIM_A_OUT)
/* clang-format on */

#define SHIM_ENUM(name, params, args) SHIM_FN_##name,
enum shim_fn { SHIM_FUNCTIONS(SHIM_ENUM, SHIM_ENUM, SHIM_ENUM) SHIM_FN__MAX };

#define SHIM_NAME(name, params, args) #name,
static const char *const shim_fn_names[SHIM_FN__MAX] = {
    SHIM_FUNCTIONS(SHIM_NAME, SHIM_NAME, SHIM_NAME)};

/* P11SHIM_ATTR_LEN: which calls an entry changes. */
enum shim_attr_when { SHIM_ATTR_ALWAYS, SHIM_ATTR_QUERY, SHIM_ATTR_VALUE };

struct shim_attr_len {
    CK_ATTRIBUTE_TYPE type;
    CK_ULONG len;
    enum shim_attr_when when;
};

struct shim_fault {
    enum shim_fn fn;
    CK_RV rv;
    unsigned long nth; /* 0: every call */
    unsigned long seen;
    bool close;
};

/* All mutable state; guarded by shim_lock. */
static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    CK_FUNCTION_LIST_PTR real;
    char *module_path;
    char *count_path;
    unsigned long counts[SHIM_FN__MAX];
    struct shim_fault faults[SHIM_MAX_FAULTS];
    size_t nfaults;
    CK_FLAGS token_flags_add;
    unsigned long tear_nth, tear_seen; /* P11SHIM_TEAR */
    int kill_fn;                       /* P11SHIM_KILL_AFTER, -1: none */
    unsigned long kill_nth, kill_seen;
    struct shim_attr_len attr_lens[SHIM_MAX_ATTR_LENS]; /* P11SHIM_ATTR_LEN */
    size_t nattr_lens;
    bool bare_ec_point;       /* P11SHIM_BARE_EC_POINT */
    unsigned long latency_us; /* P11SHIM_LATENCY_US */
} shim;

struct shim_const {
    const char *name;
    unsigned long value;
};

/* clang-format off */
#define SHIM_C(x) {#x, x}
/* clang-format on */
static const struct shim_const shim_rvs[] = {
    SHIM_C(CKR_OK),
    SHIM_C(CKR_CANCEL),
    SHIM_C(CKR_HOST_MEMORY),
    SHIM_C(CKR_SLOT_ID_INVALID),
    SHIM_C(CKR_GENERAL_ERROR),
    SHIM_C(CKR_FUNCTION_FAILED),
    SHIM_C(CKR_ARGUMENTS_BAD),
    SHIM_C(CKR_ATTRIBUTE_SENSITIVE),
    SHIM_C(CKR_ATTRIBUTE_VALUE_INVALID),
    SHIM_C(CKR_DATA_INVALID),
    SHIM_C(CKR_DATA_LEN_RANGE),
    SHIM_C(CKR_DEVICE_ERROR),
    SHIM_C(CKR_DEVICE_MEMORY),
    SHIM_C(CKR_DEVICE_REMOVED),
    SHIM_C(CKR_FUNCTION_CANCELED),
    SHIM_C(CKR_FUNCTION_NOT_SUPPORTED),
    SHIM_C(CKR_KEY_HANDLE_INVALID),
    SHIM_C(CKR_KEY_TYPE_INCONSISTENT),
    SHIM_C(CKR_MECHANISM_INVALID),
    SHIM_C(CKR_MECHANISM_PARAM_INVALID),
    SHIM_C(CKR_OBJECT_HANDLE_INVALID),
    SHIM_C(CKR_OPERATION_ACTIVE),
    SHIM_C(CKR_OPERATION_NOT_INITIALIZED),
    SHIM_C(CKR_PIN_INCORRECT),
    SHIM_C(CKR_PIN_INVALID),
    SHIM_C(CKR_PIN_LEN_RANGE),
    SHIM_C(CKR_PIN_EXPIRED),
    SHIM_C(CKR_PIN_LOCKED),
    SHIM_C(CKR_SESSION_CLOSED),
    SHIM_C(CKR_SESSION_COUNT),
    SHIM_C(CKR_SESSION_HANDLE_INVALID),
    SHIM_C(CKR_SESSION_READ_ONLY),
    SHIM_C(CKR_SIGNATURE_INVALID),
    SHIM_C(CKR_TEMPLATE_INCOMPLETE),
    SHIM_C(CKR_TOKEN_NOT_PRESENT),
    SHIM_C(CKR_TOKEN_NOT_RECOGNIZED),
    SHIM_C(CKR_TOKEN_WRITE_PROTECTED),
    SHIM_C(CKR_USER_ALREADY_LOGGED_IN),
    SHIM_C(CKR_USER_NOT_LOGGED_IN),
    SHIM_C(CKR_USER_PIN_NOT_INITIALIZED),
    SHIM_C(CKR_USER_TYPE_INVALID),
    SHIM_C(CKR_RANDOM_NO_RNG),
    SHIM_C(CKR_BUFFER_TOO_SMALL),
    SHIM_C(CKR_CRYPTOKI_NOT_INITIALIZED),
    SHIM_C(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    {NULL, 0},
};

static const struct shim_const shim_token_flags[] = {
    SHIM_C(CKF_RNG),
    SHIM_C(CKF_WRITE_PROTECTED),
    SHIM_C(CKF_LOGIN_REQUIRED),
    SHIM_C(CKF_USER_PIN_INITIALIZED),
    SHIM_C(CKF_PROTECTED_AUTHENTICATION_PATH),
    SHIM_C(CKF_TOKEN_INITIALIZED),
    SHIM_C(CKF_USER_PIN_COUNT_LOW),
    SHIM_C(CKF_USER_PIN_FINAL_TRY),
    SHIM_C(CKF_USER_PIN_LOCKED),
    SHIM_C(CKF_USER_PIN_TO_BE_CHANGED),
    SHIM_C(CKF_SO_PIN_COUNT_LOW),
    SHIM_C(CKF_SO_PIN_FINAL_TRY),
    SHIM_C(CKF_SO_PIN_LOCKED),
    SHIM_C(CKF_SO_PIN_TO_BE_CHANGED),
    {NULL, 0},
};

static const struct shim_const shim_attrs[] = {
    SHIM_C(CKA_CLASS),
    SHIM_C(CKA_TOKEN),
    SHIM_C(CKA_PRIVATE),
    SHIM_C(CKA_LABEL),
    SHIM_C(CKA_VALUE),
    SHIM_C(CKA_CERTIFICATE_TYPE),
    SHIM_C(CKA_ISSUER),
    SHIM_C(CKA_SERIAL_NUMBER),
    SHIM_C(CKA_KEY_TYPE),
    SHIM_C(CKA_SUBJECT),
    SHIM_C(CKA_ID),
    SHIM_C(CKA_SENSITIVE),
    SHIM_C(CKA_SIGN),
    SHIM_C(CKA_MODULUS),
    SHIM_C(CKA_MODULUS_BITS),
    SHIM_C(CKA_PUBLIC_EXPONENT),
    SHIM_C(CKA_EXTRACTABLE),
    SHIM_C(CKA_NEVER_EXTRACTABLE),
    SHIM_C(CKA_ALWAYS_SENSITIVE),
    SHIM_C(CKA_EC_PARAMS),
    SHIM_C(CKA_EC_POINT),
    {NULL, 0},
};

static const struct shim_const shim_no_names[] = {{NULL, 0}};

/* Parses a name from table or a number; false when it is neither. */
static bool shim_parse_const(const struct shim_const *table, const char *text,
                             size_t len, unsigned long *out)
{
    char buf[64], *end;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    for (; table->name; table++) {
        if (strcmp(table->name, buf) == 0) {
            *out = table->value;
            return true;
        }
    }
    if (buf[0] < '0' || buf[0] > '9')
        return false;
    errno = 0;
    *out = strtoul(buf, &end, 0);
    return errno == 0 && *end == '\0';
}

static bool shim_parse_fn(const char *text, size_t len, enum shim_fn *out)
{
    for (int i = 0; i < SHIM_FN__MAX; i++) {
        if (strlen(shim_fn_names[i]) == len &&
            memcmp(shim_fn_names[i], text, len) == 0) {
            *out = (enum shim_fn)i;
            return true;
        }
    }
    return false;
}

static bool shim_add_fault_locked(enum shim_fn fn, CK_RV rv, unsigned long nth,
                                  bool close)
{
    if (shim.nfaults == SHIM_MAX_FAULTS)
        return false;
    shim.faults[shim.nfaults++] =
        (struct shim_fault){.fn = fn, .rv = rv, .nth = nth, .close = close};
    return true;
}

/* One "C_Function:rv[:n[:close]]" of length len. */
static bool shim_parse_fault_locked(const char *spec, size_t len)
{
    const char *field[4] = {spec};
    size_t flen[4] = {0}, nfields = 1;
    enum shim_fn fn;
    unsigned long rv, nth = 1;

    for (size_t i = 0; i < len; i++) {
        if (spec[i] != ':') {
            flen[nfields - 1]++;
        } else if (nfields == 4) {
            return false;
        } else {
            field[nfields++] = spec + i + 1;
        }
    }
    if (nfields < 2 || !shim_parse_fn(field[0], flen[0], &fn) ||
        fn == SHIM_FN_C_GetFunctionList ||
        !shim_parse_const(shim_rvs, field[1], flen[1], &rv))
        return false;
    if (nfields >= 3 && !(flen[2] == 1 && field[2][0] == '*')) {
        if (!shim_parse_const(shim_no_names, field[2], flen[2], &nth) ||
            nth == 0)
            return false;
    } else if (nfields >= 3) {
        nth = 0;
    }
    if (nfields == 4 && (flen[3] != 5 || memcmp(field[3], "close", 5) != 0))
        return false;
    return shim_add_fault_locked(fn, rv, nth, nfields == 4);
}

static bool shim_parse_faults_locked(const char *env)
{
    while (env && *env) {
        size_t len = strcspn(env, ";");
        size_t skip = strspn(env, " \t\n");

        if (skip < len && !shim_parse_fault_locked(env + skip, len - skip)) {
            fprintf(stderr, "p11shim: bad P11SHIM_FAIL entry '%.*s'\n",
                    (int)len, env);
            return false;
        }
        env += len + (env[len] == ';');
    }
    return true;
}

static bool shim_parse_flags_locked(const char *env)
{
    shim.token_flags_add = 0;
    while (env && *env) {
        size_t len = strcspn(env, ",");
        unsigned long flag;

        if (!shim_parse_const(shim_token_flags, env, len, &flag)) {
            fprintf(stderr,
                    "p11shim: bad P11SHIM_TOKEN_FLAGS_ADD flag '%.*s'\n",
                    (int)len, env);
            return false;
        }
        shim.token_flags_add |= flag;
        env += len + (env[len] == ',');
    }
    return true;
}

static bool shim_parse_login_rv_locked(const char *env)
{
    unsigned long rv;

    if (!env || !*env)
        return true;
    if (!shim_parse_const(shim_rvs, env, strlen(env), &rv)) {
        fprintf(stderr, "p11shim: bad P11SHIM_LOGIN_RV '%s'\n", env);
        return false;
    }
    return shim_add_fault_locked(SHIM_FN_C_Login, rv, 0, false);
}

/* Switches to the count file named by the environment. */
static bool shim_set_count_path_locked(const char *env)
{
    char *copy = NULL;

    if (env && *env) {
        if (shim.count_path && strcmp(shim.count_path, env) == 0)
            return true;
        copy = strdup(env);
        if (!copy)
            return false;
        if (shim.count_path)
            memset(shim.counts, 0, sizeof(shim.counts));
    }
    free(shim.count_path);
    shim.count_path = copy;
    return true;
}

static CK_FUNCTION_LIST shim_list;

static bool shim_load_module_locked(const char *path)
{
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST_PTR list = NULL;
    void *handle;
    char *copy;

    if (shim.real && strcmp(shim.module_path, path) == 0)
        return true;
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "p11shim: cannot load '%s': %s\n", path, dlerror());
        return false;
    }
    get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (!get_list || get_list(&list) != CKR_OK || !list || list == &shim_list) {
        fprintf(stderr, "p11shim: '%s' is not a usable PKCS#11 module\n", path);
        return false; /* never dlclose: modules dislike it */
    }
    copy = strdup(path);
    if (!copy)
        return false;
    free(shim.module_path);
    shim.module_path = copy;
    shim.real = list;
    return true;
}

/* Reads every P11SHIM_* variable; called by C_Initialize. */
static bool shim_parse_tear_locked(const char *env)
{
    unsigned long n = 0;

    shim.tear_nth = 0;
    shim.tear_seen = 0;
    if (!env || !*env)
        return true;
    if (!shim_parse_const(shim_no_names, env, strlen(env), &n) || n == 0) {
        fprintf(stderr, "p11shim: bad P11SHIM_TEAR '%s'\n", env);
        return false;
    }
    shim.tear_nth = n;
    return true;
}

static bool shim_parse_kill_locked(const char *env)
{
    const char *colon = env ? strchr(env, ':') : NULL;
    enum shim_fn fn;
    unsigned long n = 0;

    shim.kill_fn = -1;
    shim.kill_seen = 0;
    if (!env || !*env)
        return true;
    if (!colon || !shim_parse_fn(env, (size_t)(colon - env), &fn) ||
        !shim_parse_const(shim_no_names, colon + 1, strlen(colon + 1), &n) ||
        n == 0) {
        fprintf(stderr, "p11shim: bad P11SHIM_KILL_AFTER '%s'\n", env);
        return false;
    }
    shim.kill_fn = (int)fn;
    shim.kill_nth = n;
    return true;
}

/* One "CKA_name:len[:query|:value]" of length len. */
static bool shim_parse_attr_len_locked(const char *spec, size_t len)
{
    const char *c1 = memchr(spec, ':', len), *c2;
    struct shim_attr_len a = {.when = SHIM_ATTR_ALWAYS};
    size_t rest;

    if (!c1 || shim.nattr_lens == SHIM_MAX_ATTR_LENS ||
        !shim_parse_const(shim_attrs, spec, (size_t)(c1 - spec), &a.type))
        return false;
    rest = len - (size_t)(c1 + 1 - spec);
    c2 = memchr(c1 + 1, ':', rest);
    if (!shim_parse_const(shim_no_names, c1 + 1,
                          c2 ? (size_t)(c2 - c1 - 1) : rest, &a.len))
        return false;
    if (c2) {
        size_t wlen = rest - (size_t)(c2 - c1);

        if (wlen == 5 && memcmp(c2 + 1, "query", 5) == 0)
            a.when = SHIM_ATTR_QUERY;
        else if (wlen == 5 && memcmp(c2 + 1, "value", 5) == 0)
            a.when = SHIM_ATTR_VALUE;
        else
            return false;
    }
    shim.attr_lens[shim.nattr_lens++] = a;
    return true;
}

static bool shim_parse_attr_lens_locked(const char *env)
{
    shim.nattr_lens = 0;
    while (env && *env) {
        size_t len = strcspn(env, ",");

        if (!shim_parse_attr_len_locked(env, len)) {
            fprintf(stderr, "p11shim: bad P11SHIM_ATTR_LEN entry '%.*s'\n",
                    (int)len, env);
            shim.nattr_lens = 0;
            return false;
        }
        env += len + (env[len] == ',');
    }
    return true;
}

static bool shim_parse_bare_locked(const char *env)
{
    shim.bare_ec_point = false;
    if (!env || !*env || strcmp(env, "0") == 0)
        return true;
    if (strcmp(env, "1") != 0) {
        fprintf(stderr, "p11shim: bad P11SHIM_BARE_EC_POINT '%s' (0 or 1)\n",
                env);
        return false;
    }
    shim.bare_ec_point = true;
    return true;
}

static bool shim_parse_latency_locked(const char *env)
{
    unsigned long us = 0;

    shim.latency_us = 0;
    if (!env || !*env)
        return true;
    /* at most 10 s a call: a typo must not hang a test for hours */
    if (!shim_parse_const(shim_no_names, env, strlen(env), &us) ||
        us > 10000000) {
        fprintf(stderr,
                "p11shim: bad P11SHIM_LATENCY_US '%s' (0 to 10000000)\n", env);
        return false;
    }
    shim.latency_us = us;
    return true;
}

/* P11SHIM_LATENCY_US before a forwarded call (no lock held). */
static void shim_delay(unsigned long us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000),
                          .tv_nsec = (long)(us % 1000000) * 1000};

    while (us && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void shim_write_counts_locked(void);

/* After a forwarded call returned: P11SHIM_KILL_AFTER. */
static void shim_after(enum shim_fn fn)
{
    bool kill;

    pthread_mutex_lock(&shim_lock);
    kill = shim.kill_fn == (int)fn && ++shim.kill_seen == shim.kill_nth;
    if (kill)
        shim_write_counts_locked();
    pthread_mutex_unlock(&shim_lock);
    if (kill) {
        fprintf(stderr, "p11shim: P11SHIM_KILL_AFTER: SIGKILL\n");
        raise(SIGKILL);
    }
}

static bool shim_configure_locked(void)
{
    const char *module = getenv("P11SHIM_MODULE");

    shim.nfaults = 0;
    if (!module || !*module)
        module = P11SHIM_DEFAULT_MODULE;
    if (!*module) {
        fprintf(stderr, "p11shim: set P11SHIM_MODULE\n");
        return false;
    }
    return shim_set_count_path_locked(getenv("P11SHIM_COUNT_FILE")) &&
           shim_parse_faults_locked(getenv("P11SHIM_FAIL")) &&
           shim_parse_login_rv_locked(getenv("P11SHIM_LOGIN_RV")) &&
           shim_parse_flags_locked(getenv("P11SHIM_TOKEN_FLAGS_ADD")) &&
           shim_parse_tear_locked(getenv("P11SHIM_TEAR")) &&
           shim_parse_kill_locked(getenv("P11SHIM_KILL_AFTER")) &&
           shim_parse_attr_lens_locked(getenv("P11SHIM_ATTR_LEN")) &&
           shim_parse_bare_locked(getenv("P11SHIM_BARE_EC_POINT")) &&
           shim_parse_latency_locked(getenv("P11SHIM_LATENCY_US")) &&
           shim_load_module_locked(module);
}

static void shim_write_counts_locked(void)
{
    char tmp[4096];
    FILE *f;
    bool ok;

    if (!shim.count_path || snprintf(tmp, sizeof(tmp), "%s.tmp",
                                     shim.count_path) >= (int)sizeof(tmp))
        return;
    f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "p11shim: cannot write '%s'\n", tmp);
        return;
    }
    for (int i = 0; i < SHIM_FN__MAX; i++) {
        if (shim.counts[i])
            fprintf(f, "%s %lu\n", shim_fn_names[i], shim.counts[i]);
    }
    ok = fflush(f) == 0 && !ferror(f);
    if (fclose(f) != 0 || !ok || rename(tmp, shim.count_path) != 0)
        fprintf(stderr, "p11shim: cannot write '%s'\n", shim.count_path);
}

static void shim_write_counts(void)
{
    pthread_mutex_lock(&shim_lock);
    shim_write_counts_locked();
    pthread_mutex_unlock(&shim_lock);
}

/* Returns the fault that fires on this call of fn, or NULL. */
static const struct shim_fault *shim_fault_locked(enum shim_fn fn)
{
    const struct shim_fault *hit = NULL;

    for (size_t i = 0; i < shim.nfaults; i++) {
        struct shim_fault *f = &shim.faults[i];

        if (f->fn != fn)
            continue;
        f->seen++;
        if (!hit && (f->nth == 0 || f->nth == f->seen))
            hit = f;
    }
    return hit;
}

/*
 * Counts a call and decides its fate: true to forward to *real, false to
 * return *rv at once.  s is the call's session when has_session.
 */
static bool shim_enter(enum shim_fn fn, bool has_session, CK_SESSION_HANDLE s,
                       CK_RV *rv, CK_FUNCTION_LIST_PTR *real)
{
    const struct shim_fault *fault;
    unsigned long delay = 0;
    bool close = false;

    pthread_mutex_lock(&shim_lock);
    shim.counts[fn]++;
    *real = shim.real;
    fault = shim_fault_locked(fn);
    if (fault) {
        *rv = fault->rv;
        close = fault->close && has_session && shim.real;
    } else if (!shim.real) {
        *rv = CKR_CRYPTOKI_NOT_INITIALIZED;
    } else {
        delay = shim.latency_us;
    }
    if (fn == SHIM_FN_C_Login || fn == SHIM_FN_C_Sign ||
        fn == SHIM_FN_C_SignFinal || fn == SHIM_FN_C_GenerateKeyPair)
        shim_write_counts_locked();
    pthread_mutex_unlock(&shim_lock);
    if (close)
        (*real)->C_CloseSession(s);
    shim_delay(delay);
    return !fault && *real;
}

#define SHIM_FORWARD(name, params, args, has_session, session)                 \
    static CK_RV shim_##name params                                            \
    {                                                                          \
        CK_FUNCTION_LIST_PTR real;                                             \
        CK_RV rv;                                                              \
        if (!shim_enter(SHIM_FN_##name, has_session, session, &rv, &real))     \
            return rv;                                                         \
        if (!real->name)                                                       \
            return CKR_FUNCTION_NOT_SUPPORTED;                                 \
        rv = real->name args;                                                  \
        shim_after(SHIM_FN_##name);                                            \
        return rv;                                                             \
    }
#define SHIM_FORWARD_S(name, params, args)                                     \
    SHIM_FORWARD(name, params, args, true, s)
#define SHIM_FORWARD_N(name, params, args)                                     \
    SHIM_FORWARD(name, params, args, false, 0)
#define SHIM_DECLARE_H(name, params, args) static CK_RV shim_##name params;
SHIM_FUNCTIONS(SHIM_FORWARD_S, SHIM_FORWARD_N, SHIM_DECLARE_H)

#define SHIM_ENTRY(name, params, args) .name = shim_##name,
static CK_FUNCTION_LIST shim_list = {
    .version = {2, 40}, SHIM_FUNCTIONS(SHIM_ENTRY, SHIM_ENTRY, SHIM_ENTRY)};

static CK_RV shim_C_Initialize(CK_VOID_PTR args)
{
    CK_FUNCTION_LIST_PTR real;
    CK_RV rv;
    bool ok;

    pthread_mutex_lock(&shim_lock);
    ok = shim_configure_locked();
    if (!ok) {
        shim.nfaults = 0;
        shim.token_flags_add = 0;
        shim.nattr_lens = 0;
        shim.bare_ec_point = false;
        shim.latency_us = 0;
    }
    pthread_mutex_unlock(&shim_lock);
    if (!ok)
        return CKR_GENERAL_ERROR;
    if (!shim_enter(SHIM_FN_C_Initialize, false, 0, &rv, &real))
        return rv;
    return real->C_Initialize(args);
}

static CK_RV shim_C_Finalize(CK_VOID_PTR args)
{
    CK_FUNCTION_LIST_PTR real;
    CK_RV rv;

    if (shim_enter(SHIM_FN_C_Finalize, false, 0, &rv, &real))
        rv = real->C_Finalize(args);
    shim_write_counts();
    return rv;
}

static CK_RV shim_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    CK_FUNCTION_LIST_PTR real;
    CK_RV rv;

    if (!shim_enter(SHIM_FN_C_GetTokenInfo, false, 0, &rv, &real))
        return rv;
    rv = real->C_GetTokenInfo(slot, info);
    if (rv == CKR_OK && info) {
        pthread_mutex_lock(&shim_lock);
        info->flags |= shim.token_flags_add;
        pthread_mutex_unlock(&shim_lock);
    }
    return rv;
}

static CK_RV shim_C_SetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                                      CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
    CK_FUNCTION_LIST_PTR real;
    CK_RV rv;
    bool tear;

    if (!shim_enter(SHIM_FN_C_SetAttributeValue, true, s, &rv, &real))
        return rv;
    pthread_mutex_lock(&shim_lock);
    tear = shim.tear_nth != 0 && ++shim.tear_seen == shim.tear_nth;
    if (tear)
        shim_write_counts_locked();
    pthread_mutex_unlock(&shim_lock);
    if (tear) {
        rv = real->C_DestroyObject(s, o);
        fprintf(stderr,
                "p11shim: P11SHIM_TEAR: object %lu destroyed (rv 0x%lx) "
                "inside C_SetAttributeValue; SIGKILL\n",
                (unsigned long)o, (unsigned long)rv);
        raise(SIGKILL);
    }
    return real->C_SetAttributeValue(s, o, t, n);
}

/* The length of the DER OCTET STRING header around in[len], or 0 when in
 * is not exactly one OCTET STRING. */
static size_t shim_octet_header(const CK_BYTE *in, CK_ULONG len)
{
    if (len >= 2 && in[0] == 0x04 && in[1] < 0x80 && in[1] + 2UL == len)
        return 2;
    if (len >= 3 && in[0] == 0x04 && in[1] == 0x81 && in[2] >= 0x80 &&
        in[2] + 3UL == len)
        return 3;
    return 0;
}

/*
 * P11SHIM_BARE_EC_POINT for one CKA_EC_POINT entry: reads the real value
 * into a buffer of the shim's own and hands the caller the bare point.
 */
static CK_RV shim_bare_point(CK_FUNCTION_LIST_PTR real, CK_SESSION_HANDLE s,
                             CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR out)
{
    CK_ATTRIBUTE a = {CKA_EC_POINT, NULL, 0};
    CK_RV rv = real->C_GetAttributeValue(s, o, &a, 1);
    CK_ULONG cap = out->ulValueLen;
    size_t hdr;

    out->ulValueLen = CK_UNAVAILABLE_INFORMATION;
    if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return rv;
    if (!(a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1)))
        return CKR_HOST_MEMORY;
    rv = real->C_GetAttributeValue(s, o, &a, 1);
    if (rv == CKR_OK) {
        hdr = shim_octet_header(a.pValue, a.ulValueLen);
        if (!out->pValue) {
            out->ulValueLen = a.ulValueLen - hdr;
        } else if (cap < a.ulValueLen - hdr) {
            rv = CKR_BUFFER_TOO_SMALL;
        } else {
            memcpy(out->pValue, (CK_BYTE *)a.pValue + hdr, a.ulValueLen - hdr);
            out->ulValueLen = a.ulValueLen - hdr;
        }
    }
    free(a.pValue);
    return rv;
}

/* P11SHIM_ATTR_LEN on the entries of a template the module answered. */
static void shim_misreport(CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
    pthread_mutex_lock(&shim_lock);
    for (CK_ULONG i = 0; i < n; i++) {
        for (size_t k = 0; k < shim.nattr_lens; k++) {
            const struct shim_attr_len *a = &shim.attr_lens[k];

            if (a->type != t[i].type ||
                t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION ||
                (a->when == SHIM_ATTR_QUERY && t[i].pValue) ||
                (a->when == SHIM_ATTR_VALUE && !t[i].pValue))
                continue;
            t[i].ulValueLen = a->len;
        }
    }
    pthread_mutex_unlock(&shim_lock);
}

/* The real module answers a copy of the template in which CKA_EC_POINT
 * only asks for the length; the shim then reads the point itself. */
static CK_RV shim_get_bare(CK_FUNCTION_LIST_PTR real, CK_SESSION_HANDLE s,
                           CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
    CK_ATTRIBUTE_PTR copy = calloc(n ? n : 1, sizeof(*copy));
    CK_RV rv, prv = CKR_OK;

    if (!copy)
        return CKR_HOST_MEMORY;
    memcpy(copy, t, n * sizeof(*copy));
    for (CK_ULONG i = 0; i < n; i++) {
        if (copy[i].type == CKA_EC_POINT)
            copy[i] = (CK_ATTRIBUTE){CKA_EC_POINT, NULL, 0};
    }
    rv = real->C_GetAttributeValue(s, o, copy, n);
    for (CK_ULONG i = 0; i < n; i++) {
        if (t[i].type != CKA_EC_POINT) {
            t[i].ulValueLen = copy[i].ulValueLen;
        } else if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL ||
                   rv == CKR_ATTRIBUTE_SENSITIVE ||
                   rv == CKR_ATTRIBUTE_TYPE_INVALID) {
            CK_RV r = shim_bare_point(real, s, o, &t[i]);

            if (r != CKR_OK && prv == CKR_OK)
                prv = r;
        }
    }
    free(copy);
    return rv != CKR_OK ? rv : prv;
}

static CK_RV shim_C_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                                      CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
    CK_FUNCTION_LIST_PTR real;
    CK_RV rv;
    bool bare;

    if (!shim_enter(SHIM_FN_C_GetAttributeValue, true, s, &rv, &real))
        return rv;
    pthread_mutex_lock(&shim_lock);
    bare = shim.bare_ec_point && t;
    pthread_mutex_unlock(&shim_lock);
    if (bare)
        rv = shim_get_bare(real, s, o, t, n);
    else
        rv = real->C_GetAttributeValue(s, o, t, n);
    if (t)
        shim_misreport(t, n);
    shim_after(SHIM_FN_C_GetAttributeValue);
    return rv;
}

static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    pthread_mutex_lock(&shim_lock);
    shim.counts[SHIM_FN_C_GetFunctionList]++;
    pthread_mutex_unlock(&shim_lock);
    if (!list)
        return CKR_ARGUMENTS_BAD;
    *list = &shim_list;
    return CKR_OK;
}

__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    return shim_C_GetFunctionList(list);
}

__attribute__((destructor)) static void shim_at_exit(void)
{
    shim_write_counts();
}
