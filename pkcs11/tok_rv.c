/* SPDX-License-Identifier: Apache-2.0 */
/* CK_RV at the module's edge: names for debug logs, sentences for people. */
#include <stdio.h>

#include "tok_internal.h"

const char *tok_rv_name(CK_RV rv)
{
    static _Thread_local char unknown[32];

    switch (rv) {
#define RV(x)                                                                  \
    case x:                                                                    \
        return #x;
        RV(CKR_OK)
        RV(CKR_CANCEL)
        RV(CKR_HOST_MEMORY)
        RV(CKR_SLOT_ID_INVALID)
        RV(CKR_GENERAL_ERROR)
        RV(CKR_FUNCTION_FAILED)
        RV(CKR_ARGUMENTS_BAD)
        RV(CKR_ATTRIBUTE_READ_ONLY)
        RV(CKR_ATTRIBUTE_SENSITIVE)
        RV(CKR_ATTRIBUTE_TYPE_INVALID)
        RV(CKR_ATTRIBUTE_VALUE_INVALID)
        RV(CKR_DATA_INVALID)
        RV(CKR_DATA_LEN_RANGE)
        RV(CKR_DEVICE_ERROR)
        RV(CKR_DEVICE_MEMORY)
        RV(CKR_DEVICE_REMOVED)
        RV(CKR_FUNCTION_NOT_SUPPORTED)
        RV(CKR_KEY_HANDLE_INVALID)
        RV(CKR_KEY_SIZE_RANGE)
        RV(CKR_KEY_TYPE_INCONSISTENT)
        RV(CKR_KEY_FUNCTION_NOT_PERMITTED)
        RV(CKR_KEY_UNEXTRACTABLE)
        RV(CKR_MECHANISM_INVALID)
        RV(CKR_MECHANISM_PARAM_INVALID)
        RV(CKR_OBJECT_HANDLE_INVALID)
        RV(CKR_OPERATION_ACTIVE)
        RV(CKR_OPERATION_NOT_INITIALIZED)
        RV(CKR_PIN_INCORRECT)
        RV(CKR_PIN_INVALID)
        RV(CKR_PIN_LEN_RANGE)
        RV(CKR_PIN_EXPIRED)
        RV(CKR_PIN_LOCKED)
        RV(CKR_SESSION_CLOSED)
        RV(CKR_SESSION_COUNT)
        RV(CKR_SESSION_HANDLE_INVALID)
        RV(CKR_SESSION_READ_ONLY)
        RV(CKR_SIGNATURE_INVALID)
        RV(CKR_TEMPLATE_INCOMPLETE)
        RV(CKR_TEMPLATE_INCONSISTENT)
        RV(CKR_TOKEN_NOT_PRESENT)
        RV(CKR_TOKEN_NOT_RECOGNIZED)
        RV(CKR_TOKEN_WRITE_PROTECTED)
        RV(CKR_USER_ALREADY_LOGGED_IN)
        RV(CKR_USER_NOT_LOGGED_IN)
        RV(CKR_USER_PIN_NOT_INITIALIZED)
        RV(CKR_USER_TYPE_INVALID)
        RV(CKR_BUFFER_TOO_SMALL)
        RV(CKR_CRYPTOKI_NOT_INITIALIZED)
        RV(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef RV
    default:
        snprintf(unknown, sizeof(unknown), "CKR_0x%08lx", (unsigned long)rv);
        return unknown;
    }
}

int tok_rv_session_lost(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
           rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT;
}

static const char *tok_rv_sentence(CK_RV rv)
{
    switch (rv) {
    case CKR_PIN_INCORRECT:
        return "the token refused the PIN (not retried: tokens lock after a "
               "few wrong PINs)";
    case CKR_PIN_LOCKED:
        return "the user PIN is locked; an administrator must unlock it with "
               "the SO PIN";
    case CKR_PIN_EXPIRED:
        return "the user PIN has expired and must be changed";
    case CKR_USER_NOT_LOGGED_IN:
        return "not logged in to the token";
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
        return "the token was removed or is not present";
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
        return "the session with the token was lost";
    case CKR_MECHANISM_INVALID:
        return "the token does not support this mechanism";
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
        return "the key is not allowed to do this";
    case CKR_ATTRIBUTE_SENSITIVE:
        return "the token refused to reveal a sensitive attribute";
    case CKR_DEVICE_MEMORY:
        return "the token is out of memory (full?)";
    case CKR_TOKEN_WRITE_PROTECTED:
        return "the token is write-protected";
    case CKR_HOST_MEMORY:
        return "the PKCS#11 module ran out of memory";
    default:
        return "the PKCS#11 module reported an error";
    }
}

csa_err tok_rv_raise(CK_RV rv, const char *what)
{
    csa_err err = CSA_ERR_TOKEN;

    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ||
        rv == CKR_PIN_EXPIRED || rv == CKR_PIN_INVALID ||
        rv == CKR_PIN_LEN_RANGE)
        err = CSA_ERR_PIN;
    else if (rv == CKR_MECHANISM_INVALID || rv == CKR_FUNCTION_NOT_SUPPORTED)
        err = CSA_ERR_UNSUPPORTED;
    return csa_raise(err, "%s: %s (%s)", what, tok_rv_sentence(rv),
                     tok_rv_name(rv));
}
