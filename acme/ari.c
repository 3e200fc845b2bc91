/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ACME Renewal Information (RFC 9773): the CertID of a certificate and the
 * CA's suggested renewal window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme_int.h"
#include "csa_log.h"
#include "csa_util.h"

/* The content octets of the serial's DER INTEGER (sign byte included). */
static csa_err serial_content(const X509 *x, unsigned char **der,
                              const unsigned char **content, size_t *len)
{
    int n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), der);
    size_t hdr = 2;

    if (n < 3 || (*der)[0] != 0x02)
        return csa_raise(CSA_ERR_PROTOCOL, "the certificate serial is bad");
    if ((*der)[1] & 0x80)
        hdr += (*der)[1] & 0x7f;
    if ((size_t)n <= hdr)
        return csa_raise(CSA_ERR_PROTOCOL, "the certificate serial is bad");
    *content = *der + hdr;
    *len = (size_t)n - hdr;
    return CSA_OK;
}

csa_err acme_cert_id(const unsigned char *cert_der, size_t len, char **out)
{
    const unsigned char *p = cert_der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    const ASN1_OCTET_STRING *aki;
    unsigned char *der = NULL;
    const unsigned char *serial = NULL;
    char *a = NULL, *s = NULL;
    size_t slen = 0;
    csa_err err = CSA_OK;

    *out = NULL;
    if (x == NULL)
        return csa_raise(CSA_ERR_INVALID, "the certificate is not DER X.509");
    aki = X509_get0_authority_key_id(x);
    if (aki == NULL) {
        err = csa_raise(CSA_ERR_INVALID,
                        "the certificate has no authority "
                        "key identifier, so it has no ARI CertID");
        goto done;
    }
    if ((err = serial_content(x, &der, &serial, &slen)) != CSA_OK)
        goto done;
    a = csa_b64url_encode(ASN1_STRING_get0_data(aki),
                          (size_t)ASN1_STRING_length(aki));
    s = csa_b64url_encode(serial, slen);
    if (a == NULL || s == NULL ||
        (*out = malloc(strlen(a) + strlen(s) + 2)) == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    sprintf(*out, "%s.%s", a, s);
done:
    OPENSSL_free(der);
    free(a);
    free(s);
    X509_free(x);
    return err;
}

void acme_renewal_free(acme_renewal *r)
{
    if (r == NULL)
        return;
    free(r->explanation);
    free(r);
}

static csa_err renewal_parse(const acme_http_resp *resp, acme_renewal *r)
{
    json_object *obj = NULL, *win = NULL;
    csa_err err = acme_json_parse(resp->body, resp->len, &obj);

    if (err != CSA_OK)
        return err;
    json_object_object_get_ex(obj, "suggestedWindow", &win);
    r->start = acme_time_parse(acme_json_str(win, "start"));
    r->end = acme_time_parse(acme_json_str(win, "end"));
    r->explanation = acme_json_strdup(obj, "explanationURL");
    r->retry_after = acme_retry_after_parse(resp->retry_after_raw, time(NULL));
    if (r->start == (time_t)-1 || r->end == (time_t)-1 || r->end < r->start)
        err =
            csa_raise(CSA_ERR_PROTOCOL, "the renewal information has no valid "
                                        "suggestedWindow");
    json_object_put(obj);
    return err;
}

csa_err acme_renewal_info(acme_client *c, const unsigned char *cert_der,
                          size_t len, acme_renewal **out)
{
    const acme_directory *dir;
    acme_http_resp resp = {0};
    acme_renewal *r = NULL;
    char *id = NULL, *url = NULL;
    csa_err err;

    *out = NULL;
    if ((err = acme_directory_get(c, &dir)) != CSA_OK)
        return err;
    if (dir->renewal_info == NULL)
        return csa_raise(CSA_ERR_UNSUPPORTED,
                         "the CA offers no renewal information (ARI)");
    if ((err = acme_cert_id(cert_der, len, &id)) != CSA_OK)
        return err;
    url = malloc(strlen(dir->renewal_info) + strlen(id) + 2);
    r = calloc(1, sizeof(*r));
    if (url == NULL || r == NULL) {
        err = csa_raise(CSA_ERR_NOMEM, "out of memory");
        goto done;
    }
    sprintf(url, "%s%s%s", dir->renewal_info,
            dir->renewal_info[strlen(dir->renewal_info) - 1] == '/' ? "" : "/",
            id);
    if ((err = acme_get(c, "GET", url, ACME_MAX_JSON, &resp)))
        goto done;
    if (resp.status != 200 || resp.content_type == NULL ||
        strcmp(resp.content_type, ACME_CT_JSON) != 0) {
        err = csa_raise(CSA_ERR_PROTOCOL, "renewal information %s: HTTP %ld",
                        url, resp.status);
        acme_retry_context(&resp);
        goto done;
    }
    if ((err = renewal_parse(&resp, r)) != CSA_OK)
        goto done;
    *out = r;
    r = NULL;
done:
    acme_renewal_free(r);
    acme_http_resp_clear(&resp);
    free(id);
    free(url);
    return err;
}
