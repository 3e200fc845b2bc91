/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What one PKCS#11 call costs on a token holding many objects (issue 12):
 * a search by label, C_GetAttributeValue, C_CreateObject and
 * C_DestroyObject of a data object, each timed over REPEAT calls on the
 * first slot's token.  bench/softhsm-ops.sh runs it on a SoftHSM token
 * with few and with many objects and prints the ratios.
 *
 *   softhsm-ops MODULE PIN_FILE REPEAT     prints "op ms-per-call" lines
 *   softhsm-ops MODULE PIN_FILE fill N     first stores N data objects
 *
 * Never a pass/fail.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what, CK_RV rv)
{
    fprintf(stderr, "softhsm-ops: %s: 0x%lx\n", what, (unsigned long)rv);
    exit(1);
}

int main(int argc, char **argv)
{
    CK_FUNCTION_LIST_PTR f;
    CK_C_GetFunctionList gfl;
    CK_SLOT_ID slot[64];
    CK_ULONG nslot = 64, k = 0;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE found[16], obj = 0;
    CK_OBJECT_CLASS cls = CKO_DATA, got = 0;
    CK_BBOOL yes = CK_TRUE;
    char label[] = "softhsm-ops-probe", pin[256];
    CK_ATTRIBUTE find[] = {{CKA_LABEL, label, sizeof(label) - 1}};
    CK_ATTRIBUTE data[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_TOKEN, &yes, sizeof(yes)},
                           {CKA_LABEL, label, sizeof(label) - 1}};
    CK_ATTRIBUTE read[] = {{CKA_CLASS, &got, sizeof(got)}};
    double t, create = 0, destroy = 0, search = 0, attr = 0;
    FILE *pf;
    void *lib;
    int i, repeat;
    CK_RV rv;

    int fill = argc == 5 && strcmp(argv[3], "fill") == 0;

    if ((argc != 4 && !fill) || (repeat = atoi(argv[argc - 1])) < 1) {
        fprintf(stderr, "usage: softhsm-ops MODULE PIN_FILE REPEAT\n"
                        "       softhsm-ops MODULE PIN_FILE fill N\n");
        return 2;
    }
    if ((lib = dlopen(argv[1], RTLD_NOW)) == NULL ||
        (gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) == NULL)
        die("loading the module", 0);
    if ((pf = fopen(argv[2], "r")) == NULL || !fgets(pin, sizeof(pin), pf))
        die("reading the PIN file", 0);
    fclose(pf);
    pin[strcspn(pin, "\r\n")] = '\0';
    if ((rv = gfl(&f)) != CKR_OK || (rv = f->C_Initialize(NULL)) != CKR_OK)
        die("C_Initialize", rv);
    if ((rv = f->C_GetSlotList(CK_TRUE, slot, &nslot)) != CKR_OK || !nslot)
        die("C_GetSlotList", rv);
    if ((rv = f->C_OpenSession(slot[0], CKF_SERIAL_SESSION | CKF_RW_SESSION,
                               NULL, NULL, &s)) != CKR_OK)
        die("C_OpenSession", rv);
    if ((rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))) !=
        CKR_OK)
        die("C_Login", rv);
    memset(pin, 0, sizeof(pin));
    for (i = 0; fill && i < repeat; i++) {
        char name[32];
        CK_ATTRIBUTE one[] = {{CKA_CLASS, &cls, sizeof(cls)},
                              {CKA_TOKEN, &yes, sizeof(yes)},
                              {CKA_LABEL, name, 0}};

        one[2].ulValueLen =
            (CK_ULONG)snprintf(name, sizeof(name), "fill-%d", i);
        if ((rv = f->C_CreateObject(s, one, 3, &obj)) != CKR_OK)
            die("C_CreateObject (fill)", rv);
    }
    for (i = 0; !fill && i < repeat; i++) {
        t = now_ms();
        if ((rv = f->C_CreateObject(s, data, 3, &obj)) != CKR_OK)
            die("C_CreateObject", rv);
        create += now_ms() - t;
        t = now_ms();
        if ((rv = f->C_FindObjectsInit(s, find, 1)) != CKR_OK ||
            (rv = f->C_FindObjects(s, found, 16, &k)) != CKR_OK ||
            (rv = f->C_FindObjectsFinal(s)) != CKR_OK)
            die("a search", rv);
        search += now_ms() - t;
        t = now_ms();
        if ((rv = f->C_GetAttributeValue(s, obj, read, 1)) != CKR_OK)
            die("C_GetAttributeValue", rv);
        attr += now_ms() - t;
        t = now_ms();
        if ((rv = f->C_DestroyObject(s, obj)) != CKR_OK)
            die("C_DestroyObject", rv);
        destroy += now_ms() - t;
    }
    if (!fill)
        printf("search %.3f\nget_attribute %.3f\ncreate %.3f\ndestroy "
               "%.3f\n",
               search / repeat, attr / repeat, create / repeat,
               destroy / repeat);
    f->C_Logout(s);
    f->C_CloseSession(s);
    f->C_Finalize(NULL);
    return 0;
}
