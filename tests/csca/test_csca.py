# SPDX-License-Identifier: Apache-2.0
"""Conformance tests for csca, one group per ctest entry:

    test_csca.py CSCA_BINARY WORKDIR GROUP

Each group starts csca on 127.0.0.1 with port 0 in a throwaway state
directory under WORKDIR and stops it.  Exit 0 pass, 1 fail, 77 skip.
"""
import calendar
import json
import os
import shutil
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from acmelib import (Client, Key, Problem, b64u, b64u_dec, hotp, make_csr,
                     ossl, totp)
from fixtures import (DOMAIN, ORG, AdminPKI, account, add_eab, add_org,
                      add_otp, cert_text, chall_of, check, csr_for, der_b64,
                      expect_problem, new_server, order_challenges)

CSCA = None
WORK = None
GROUPS = {}


def group(fn):
    GROUPS[fn.__name__.replace("g_", "")] = fn
    return fn


def sign_jws_raw(c, url, payload, prot):
    p64 = b64u(json.dumps(prot))
    y64 = "" if payload is None else b64u(json.dumps(payload))
    sig = c.key.sign((p64 + "." + y64).encode())
    return {"protected": p64, "payload": y64, "signature": b64u(sig)}


def post_expect(c, url, body, ptype, status=None, ctype="application/jose+json"):
    st, h, b = c.post_raw(url, body, ctype)
    try:
        doc = json.loads(b)
    except ValueError:
        doc = {}
    want = "urn:ietf:params:acme:error:" + ptype
    check(doc.get("type") == want, "want %s, got %d %s" % (want, st, b[:300]))
    check(h.get("Content-Type") == "application/problem+json",
          "problem Content-Type is %s" % h.get("Content-Type"))
    if status:
        check(st == status, "want HTTP %d got %d" % (status, st))
    return st, h, doc


# ---------------------------------------------------------------- JWS --

@group
def g_jws():
    s = new_server(CSCA, WORK).start()
    try:
        c = account(s, WORK)
        url = c.dir["newOrder"]
        payload = {"identifiers": [{"type": "dns", "value": "x.test"}]}

        # replayed nonce: badNonce with a fresh Replay-Nonce
        n = c.new_nonce()
        c.post_raw(url, c.jws(url, payload, nonce=n))
        st, h, _ = post_expect(c, url, c.jws(url, payload, nonce=n),
                               "badNonce", 400)
        check(h.get("Replay-Nonce"), "badNonce without Replay-Nonce")
        post_expect(c, url, c.jws(url, payload, nonce="bm90LWlzc3VlZA"),
                    "badNonce", 400)
        # url in the header is not the request URL
        post_expect(c, url, c.jws(url, payload,
                                  sign_url=c.dir["newAccount"]),
                    "unauthorized", 401)
        # unknown kid
        saved = c.kid
        c.kid = s.base + "/acct/doesNotExist"
        post_expect(c, url, c.jws(url, payload), "accountDoesNotExist", 400)
        c.kid = saved
        # bad signature: valid JWS with one signature byte flipped
        body = c.jws(url, payload)
        sig = bytearray(b64u_dec(body["signature"]))
        sig[5] ^= 1
        body["signature"] = b64u(bytes(sig))
        post_expect(c, url, body, "malformed", 400)
        # algorithms outside the allowlist, and alg not fitting the key
        for alg in ("HS256", "none", "ES521", "RS384"):
            prot = {"alg": alg, "nonce": c.new_nonce(), "url": url,
                    "kid": c.kid}
            _, _, doc = post_expect(c, url, sign_jws_raw(c, url, payload, prot),
                                    "badSignatureAlgorithm", 400)
            check("ES256" in doc.get("algorithms", []),
                  "badSignatureAlgorithm without algorithms list")
        for alg in ("ES384", "ES512"):
            prot = {"alg": alg, "nonce": c.new_nonce(), "url": url,
                    "kid": c.kid}
            post_expect(c, url, sign_jws_raw(c, url, payload, prot),
                        "badSignatureAlgorithm", 400)
        # ES512: a P-521 account key signs r||s of 2 x 66 bytes
        c521 = account(s, WORK, kind="P-521")
        check(c521.get(c521.kid)["status"] == "valid", "ES512 account")
        _, _, a = c521.post(c521.kid, {"contact": ["mailto:a@example.com"]})
        check(a["contact"] == ["mailto:a@example.com"], "ES512 update")
        for cut in (1, 2, -1):
            body = c521.jws(url, payload)
            sig = b64u_dec(body["signature"])
            check(len(sig) == 132, "ES512 signature is %d bytes" % len(sig))
            sig = sig[:-cut] if cut > 0 else sig + b"\0"
            body["signature"] = b64u(sig)
            _, _, doc = post_expect(c521, url, body, "malformed", 400)
            check("132 bytes" in doc.get("detail", ""),
                  "wrong-length ES512 detail: %s" % doc)
        # jwk where a kid is required; kid on newAccount
        post_expect(c, url, c.jws(url, payload, use_jwk=True), "malformed")
        na = c.dir["newAccount"]
        post_expect(c, na, c.jws(na, {}, use_jwk=False), "malformed")
        # both jwk and kid
        post_expect(c, url, c.jws(url, payload, extra={"jwk": c.key.jwk}),
                    "malformed")
        # wrong content type
        post_expect(c, url, c.jws(url, payload), "malformed", 415,
                    ctype="application/json")
        # general serialization / unprotected header refused
        body = c.jws(url, payload)
        body["header"] = {"kid": c.kid}
        post_expect(c, url, body, "malformed", 400)
        post_expect(c, url, {"signatures": [body]}, "malformed", 400)
        # bounded body
        post_expect(c, url, b"{" + b" " * 70000 + b"}", "malformed", 413)
        # GET on a resource that needs POST-as-GET
        st, _, _ = s.http("GET", "/order/abc")
        check(st == 405, "GET /order/abc gave %d, want 405" % st)
        # every ACME response carries Replay-Nonce
        st, h, _ = s.http("GET", "/directory")
        check("Replay-Nonce" in h, "directory without Replay-Nonce")
        # a private JWK is refused
        k = Key(WORK)
        bad = Client(s, k)
        bad.key.jwk = dict(k.jwk, d="AAAA")
        na = bad.dir["newAccount"]
        post_expect(bad, na, bad.jws(na, {"termsOfServiceAgreed": True}),
                    "badPublicKey")
    finally:
        s.stop()


# ------------------------------------------------------------ accounts --

@group
def g_account():
    s = new_server(CSCA, WORK, ["--require-eab"])
    add_org(s, ORG, ["ppkp-01"])
    eab = add_eab(s, "kid-1", ORG)
    eab2 = add_eab(s, "kid-2", ORG)
    s.start()
    try:
        st, _, d = s.get_json("/directory")
        check(d["meta"]["externalAccountRequired"] is True, "meta EAB")
        check(d["meta"]["termsOfService"] and d["meta"]["caaIdentities"],
              "meta ToS/caaIdentities")
        c = Client(s, Key(WORK))
        expect_problem(lambda: c.register(), "externalAccountRequired")
        expect_problem(lambda: c.register(eab=("kid-1", b64u(b"x" * 32))),
                       "unauthorized")
        expect_problem(lambda: c.register(eab=("nope", eab[1])), "unauthorized")
        for alg in ("HS384", "HS512"):
            cx = Client(s, Key(WORK))
            expect_problem(lambda: cx.post(cx.dir["newAccount"], {
                "externalAccountBinding": cx.eab(*eab, alg=alg,
                                                 url=s.base + "/x")},
                use_jwk=True), "malformed")
        st, body = c.register(eab=eab)
        check(st == 201 and body["status"] == "valid", "EAB account")
        st, _ = c.register(eab=eab)
        check(st == 200, "existing account gives 200")
        c2 = Client(s, Key(WORK))
        expect_problem(lambda: c2.register(eab=eab), "unauthorized")
        c3 = Client(s, Key(WORK))
        st, _ = c3.register(eab=(eab2[0], eab2[1], "HS512"))
        check(st == 201, "EAB with HS512")
        # onlyReturnExisting
        c4 = Client(s, Key(WORK))
        expect_problem(lambda: c4.post(c4.dir["newAccount"],
                                       {"onlyReturnExisting": True},
                                       use_jwk=True), "accountDoesNotExist")
        st, h, _ = c.post(c.dir["newAccount"], {"onlyReturnExisting": True},
                          use_jwk=True)
        check(h["Location"] == c.kid, "onlyReturnExisting finds account")
        # update contact; bad contact
        _, _, a = c.post(c.kid, {"contact": ["mailto:ops@example.com"]})
        check(a["contact"] == ["mailto:ops@example.com"], "contact update")
        expect_problem(lambda: c.post(c.kid, {"contact": ["tel:123"]}),
                       "unsupportedContact")
        # a null or wrong-typed status is refused, not a crash; the
        # server still answers afterwards
        for bad in (None, 1, ["deactivated"]):
            expect_problem(lambda: c.post(c.kid, {"status": bad}), "malformed")
        _, _, a = c.post(c.kid, {})
        check(a["status"] == "valid", "account still valid after bad updates")
        # keyChange to a fresh key, then the old key is unknown
        new = Key(WORK)
        inner = c.jws(c.dir["keyChange"], {"account": c.kid,
                                           "oldKey": c.key.jwk},
                      use_jwk=True, key=new, nonce="unused")
        prot = json.loads(b64u_dec(inner["protected"]))
        del prot["nonce"]
        p64 = b64u(json.dumps(prot))
        inner["protected"] = p64
        inner["signature"] = b64u(new.sign((p64 + "." + inner["payload"])
                                           .encode()))
        c.post(c.dir["keyChange"], inner)
        old = c.key
        c.key = new
        c.get(c.kid)
        c.key = old
        expect_problem(lambda: c.post(c.kid, None), "malformed")
        c.key = new
        # keyChange onto a key of another account: conflict
        inner = c.jws(c.dir["keyChange"], {"account": c.kid,
                                           "oldKey": c.key.jwk},
                      use_jwk=True, key=c3.key)
        prot = json.loads(b64u_dec(inner["protected"]))
        del prot["nonce"]
        inner["protected"] = b64u(json.dumps(prot))
        inner["signature"] = b64u(c3.key.sign(
            (inner["protected"] + "." + inner["payload"]).encode()))
        expect_problem(lambda: c.post(c.dir["keyChange"], inner), "conflict")
        # deactivate, then the account is refused
        c.post(c.kid, {"status": "deactivated"})
        expect_problem(lambda: c.get(c.kid), "unauthorized", 401)
    finally:
        s.stop()


# --------------------------------------------------------------- OTP --

def otp_setup(args=()):
    s = new_server(CSCA, WORK, ["--require-eab", *args])
    add_org(s, ORG, ["hotp-01"])
    add_org(s, "Totp Org", ["totp-01"], domain="totp.test")
    add_org(s, "Otp Org", ["otp-01"], domain="otp.test")
    eabs = [add_eab(s, "k%d" % i, o) for i, o in
            enumerate([ORG, ORG, "Totp Org", "Otp Org", ORG])]
    hseed = add_otp(s, "hotp-1", ORG, "hotp", digits=8, algorithm="SHA256")
    tseed = add_otp(s, "totp-1", "Totp Org", "totp")
    add_otp(s, "otp-1", "Otp Org", "otp")
    return s, eabs, hseed, tseed


def answer(c, ch, code):
    return c.post(ch["url"], {"otp": code})[2]


@group
def g_otp():
    prog = os.path.join(WORK, "otp-verifier.sh")
    with open(prog, "w") as f:
        f.write("#!/bin/sh\n[ \"$CSCA_OTP_CREDENTIAL\" = otp-1 ] && "
                "[ \"$CSCA_OTP_CODE\" = \"open-sesame\" ]\n")
    os.chmod(prog, 0o755)
    s, eabs, hseed, tseed = otp_setup(["--otp-program", prog])
    s.start()
    try:
        c = account(s, WORK, eabs[0])
        # HOTP happy path with look-ahead (counter 3 of the window)
        o, azs = order_challenges(c)
        ch = chall_of(azs[0][1], "hotp-01")
        check(ch["digits"] == 8 and ch["algorithm"] == "SHA256",
              "hotp hints %s" % ch)
        check(len(b64u_dec(ch["token"])) >= 16, "token < 128 bits")
        code3 = hotp(hseed, 3, 8, "sha256")
        r = answer(c, ch, code3)
        check(r["status"] == "valid", "hotp answer %s" % r)
        check(c.get(o["_url"])["status"] == "ready", "order ready")
        # HOTP reuse (same counter) and older counters refused
        o, azs = order_challenges(c)
        ch = chall_of(azs[0][1], "hotp-01")
        e = expect_problem(lambda: answer(c, ch, code3), "incorrectResponse")
        expect_problem(lambda: answer(c, ch, hotp(hseed, 1, 8, "sha256")),
                       "incorrectResponse")
        r = answer(c, ch, hotp(hseed, 4, 8, "sha256"))
        check(r["status"] == "valid", "next counter accepted")
        # brute force: third wrong answer makes the challenge invalid
        o, azs = order_challenges(c)
        ch = chall_of(azs[0][1], "hotp-01")
        for i in range(3):
            e = expect_problem(lambda: answer(c, ch, "00000000"),
                               "incorrectResponse")
        check("now invalid" in e.body["detail"], "3rd failure detail")
        r = answer(c, ch, hotp(hseed, 5, 8, "sha256"))
        check(r["status"] == "invalid", "right code after 3 failures: %s" % r)
        check(r["error"]["type"].endswith("incorrectResponse"), "chall error")
        check(c.get(ch["url"])["status"] == "invalid", "chall invalid")
        check(c.get(o["authorizations"][0])["status"] == "invalid",
              "authz invalid")
        check(c.get(o["_url"])["status"] == "invalid", "order invalid")

        # TOTP: current step, reuse refused, outside the window refused
        ct = account(s, WORK, eabs[2])
        o, azs = order_challenges(ct, "totp.test")
        ch = chall_of(azs[0][1], "totp-01")
        check(ch["period"] == 30 and ch["digits"] == 6, "totp hints")
        expect_problem(lambda: answer(ct, ch, totp(tseed, step_offset=3)),
                       "incorrectResponse")
        expect_problem(lambda: answer(ct, ch, totp(tseed, step_offset=-3)),
                       "incorrectResponse")
        now_code = totp(tseed)
        r = answer(ct, ch, now_code)
        check(r["status"] == "valid", "totp valid")
        o, azs = order_challenges(ct, "totp.test")
        ch = chall_of(azs[0][1], "totp-01")
        expect_problem(lambda: answer(ct, ch, now_code), "incorrectResponse")
        expect_problem(lambda: answer(ct, ch, totp(tseed, step_offset=-1)),
                       "incorrectResponse")
        r = answer(ct, ch, totp(tseed, step_offset=1))
        check(r["status"] == "valid", "totp +1 step accepted")

        # otp-01 through the operator's program
        co = account(s, WORK, eabs[3])
        o, azs = order_challenges(co, "otp.test")
        ch = chall_of(azs[0][1], "otp-01")
        expect_problem(lambda: answer(co, ch, "wrong"), "incorrectResponse")
        r = answer(co, ch, "open-sesame")
        check(r["status"] == "valid", "otp-01 valid")
        o, azs = order_challenges(co, "otp.test")
        ch = chall_of(azs[0][1], "otp-01")
        expect_problem(lambda: answer(co, ch, "open-sesame"),
                       "incorrectResponse")
        # an account of an org without the credential type
        expect_problem(lambda: c.post(ch["url"], {"otp": "1"}), "malformed")
    finally:
        s.stop()


@group
def g_otp_rate():
    s, eabs, hseed, tseed = otp_setup(["--otp-rate", "4"])
    s.start()
    try:
        c = account(s, WORK, eabs[0])
        for i in range(2):
            o, azs = order_challenges(c)
            ch = chall_of(azs[0][1], "hotp-01")
            for j in range(2):
                expect_problem(lambda: answer(c, ch, "00000000"),
                               "incorrectResponse")
        o, azs = order_challenges(c)
        ch = chall_of(azs[0][1], "hotp-01")
        e = expect_problem(lambda: answer(c, ch, hotp(hseed, 0, 8, "sha256")),
                           "rateLimited", 429)
        check(int(e.headers.get("Retry-After", "0")) > 0, "Retry-After")
        # the rate limit is per account
        c2 = account(s, WORK, eabs[1])
        o, azs = order_challenges(c2)
        r = answer(c2, chall_of(azs[0][1], "hotp-01"),
                   hotp(hseed, 0, 8, "sha256"))
        check(r["status"] == "valid", "other account not limited")
    finally:
        s.stop()


# ------------------------------------------------------ cert-01, ppkp-01 --

def signed_answer(c, ch, key, **kw):
    data = kw.pop("data", None) or c.key_authorization(ch["token"])
    body = {"alg": key.alg, "signature": b64u(key.sign(data))}
    body.update(kw)
    return c.post(ch["url"], body)[2]


@group
def g_cert01():
    s = new_server(CSCA, WORK, ["--require-eab"])
    adm = AdminPKI(WORK)
    k_ok, p_ok = adm.leaf("admin-ok")
    k_unreg, p_unreg = adm.leaf("admin-unregistered")
    k_self, p_self = adm.leaf("admin-self", signer="self")
    k_old, p_old = adm.leaf("admin-expired", "20200101000000Z",
                            "20200201000000Z")
    add_org(s, ORG, ["cert-01"])
    eab = add_eab(s, "k1", ORG)
    s.registry("admin", "add", "--org", ORG, "--anchor", adm.ca)
    for p in (p_ok, p_self, p_old):
        s.registry("admin", "add", "--org", ORG, "--cert", p)
    s.start()
    try:
        c = account(s, WORK, eab)
        o, azs = order_challenges(c)
        ch = chall_of(azs[0][1], "cert-01")
        for key, pem, why in ((k_self, p_self, "untrusted"),
                              (k_old, p_old, "expired"),
                              (k_unreg, p_unreg, "not registered")):
            e = expect_problem(lambda: signed_answer(
                c, ch, key, x5c=[der_b64(pem)]), "incorrectResponse")
            print("  %s leaf: %s" % (why, e.body["detail"]))
        o, azs = order_challenges(c)
        ch = chall_of(azs[0][1], "cert-01")
        expect_problem(lambda: signed_answer(
            c, ch, k_ok, x5c=[der_b64(p_ok)], data="other-token." +
            c.key.thumbprint()), "incorrectResponse")
        expect_problem(lambda: c.post(ch["url"], {"x5c": ["!!"], "alg":
                                                  "ES256", "signature": ""}),
                       "malformed")
        r = signed_answer(c, ch, k_ok, x5c=[der_b64(p_ok), der_b64(adm.ca)])
        check(r["status"] == "valid", "cert-01 valid: %s" % r)
        check(c.get(o["_url"])["status"] == "ready", "cert-01 order ready")
    finally:
        s.stop()


@group
def g_ppkp():
    s = new_server(CSCA, WORK, ["--require-eab"])
    add_org(s, ORG, ["ppkp-01"])
    add_org(s, "Other", ["ppkp-01"], domain="other.test")
    eab = add_eab(s, "k1", ORG)
    keys = {}
    for kind in ("P-256", "P-384", "Ed25519", "RSA3072"):
        k = Key(WORK, kind)
        out = s.registry("ppkp", "add", "--org", ORG, stdin=json.dumps(
            {"jwk": k.jwk, "thumbprint": k.thumbprint()}).encode())
        check(out.strip() == k.thumbprint(), "ppkp add prints thumbprint")
        keys[kind] = k
    other = Key(WORK)
    s.registry("ppkp", "add", "--org", "Other",
               stdin=json.dumps({"jwk": other.jwk}).encode())
    bad = subprocess.run([CSCA, "ppkp", "add", "--org", ORG, "--state",
                          s.state], input=json.dumps(
                              {"jwk": other.jwk, "thumbprint": "x"}).encode(),
                         capture_output=True)
    check(bad.returncode != 0, "wrong thumbprint accepted by ppkp add")
    s.start()
    try:
        c = account(s, WORK, eab)
        o, azs = order_challenges(c)
        ch = chall_of(azs[0][1], "ppkp-01")
        e = expect_problem(lambda: signed_answer(c, ch, other,
                                                 kid=other.thumbprint()),
                           "incorrectResponse")
        check("not a key registered" in e.body["detail"], e.body["detail"])
        k = keys["P-256"]
        expect_problem(lambda: signed_answer(
            c, ch, k, kid=k.thumbprint(),
            data="bm90LXRoZS10b2tlbg." + c.key.thumbprint()),
            "incorrectResponse")
        r = signed_answer(c, ch, k, kid=k.thumbprint())
        check(r["status"] == "valid", "ppkp-01 ES256")
        for kind, alg in (("P-384", "ES384"), ("Ed25519", "EdDSA"),
                          ("RSA3072", "PS256"), ("RSA3072", "RS256")):
            o, azs = order_challenges(c)
            ch = chall_of(azs[0][1], "ppkp-01")
            k = keys[kind]
            data = c.key_authorization(ch["token"])
            r = c.post(ch["url"], {"kid": k.thumbprint(), "alg": alg,
                                   "signature": b64u(k.sign(data, alg))})[2]
            check(r["status"] == "valid", "ppkp-01 %s" % alg)
        # a key registered while csca runs counts after a registry reload;
        # a broken registry file is refused and the old one stays
        late = Key(WORK)
        s.registry("ppkp", "add", "--org", ORG,
                   stdin=json.dumps({"jwk": late.jwk}).encode())
        reg = os.path.join(s.state, "registry.json")
        good = open(reg).read()
        with open(reg, "w") as f:
            f.write('{"orgs":[{"name":"x","domains":["x"],"factors":["no"]}]}')
        st, _, _ = s.mgmt("POST", "/csca/registry/reload")
        check(st == 400, "broken registry accepted: %d" % st)
        with open(reg, "w") as f:
            f.write(good)
        o, azs = order_challenges(c)
        ch = chall_of(azs[0][1], "ppkp-01")
        expect_problem(lambda: signed_answer(c, ch, late,
                                             kid=late.thumbprint()),
                       "incorrectResponse")
        st, _, _ = s.mgmt("POST", "/csca/registry/reload")
        check(st == 200, "reload %d" % st)
        r = signed_answer(c, ch, late, kid=late.thumbprint())
        check(r["status"] == "valid", "key added at run time")
    finally:
        s.stop()


# ----------------------------------------------------------- issuance --

def ppkp_org(args=(), factors=("ppkp-01",), profiles=("codesigning",
                                                      "clientauth")):
    s = new_server(CSCA, WORK, ["--require-eab", *args])
    add_org(s, ORG, list(factors), profiles=profiles)
    eab = add_eab(s, "k1", ORG)
    pk = Key(WORK)
    s.registry("ppkp", "add", "--org", ORG,
               stdin=json.dumps({"jwk": pk.jwk}).encode())
    return s, eab, pk


def ready_order(c, pk, ident=DOMAIN, itype="dns"):
    o, azs = order_challenges(c, ident, itype)
    for az, challs in azs:
        signed_answer(c, chall_of(challs, "ppkp-01"), pk, kid=pk.thumbprint())
    return c.get(o["_url"]) | {"_url": o["_url"]}


@group
def g_issue():
    s, eab, pk = ppkp_org()
    s.start()
    try:
        c = account(s, WORK, eab)
        o = ready_order(c, pk)
        check(o["status"] == "ready", "ready")
        for kw, why in (({"eku": None}, "EKU"),
                        ({"eku": "serverAuth"}, "serverAuth"),
                        ({"eku": "codeSigning,serverAuth"}, "other EKUs"),
                        ({"cn": "evil.test"}, "CN"),
                        ({"kind": "RSA2048"}, "RSA"),
                        ({"ku": "critical,keyCertSign"}, "keyUsage"),
                        ({"ku": "critical,digitalSignature,keyEncipherment"},
                         "encipherment")):
            _, csr = csr_for(c, WORK, **kw)
            e = expect_problem(lambda: c.finalize(o, csr), "badCSR")
            print("  %s -> %s" % (why, e.body["detail"]))
        # tampered CSR signature
        _, csr = csr_for(c, WORK)
        bad = bytearray(csr)
        bad[-3] ^= 1
        expect_problem(lambda: c.finalize(o, bytes(bad)), "badCSR")
        expect_problem(lambda: c.finalize(o, b"junk"), "badCSR")
        key, csr = csr_for(c, WORK, kind="P-384")
        o = c.finalize(o, csr)
        check(o["status"] == "valid", "finalize valid")
        st, h, pem = c.post(o["certificate"], None)
        check(h["Content-Type"] == "application/pem-certificate-chain", "ct")
        pem = pem.decode()
        check(pem.count("BEGIN CERTIFICATE") == 2, "chain has 2 certs")
        t = cert_text(pem, WORK)
        for want in ("Code Signing", "Digital Signature", "CN = example.com",
                     "O = Example Corp", "2.23.140.1.4.1", "CA:FALSE",
                     "critical"):
            check(want in t, "leaf lacks %s" % want)
        check("Server Auth" not in t, "serverAuth in code-signing leaf")
        # chain verifies to /roots/0
        _, _, root = s.http("GET", "/roots/0")
        _, _, inter = s.http("GET", "/intermediates/0")
        for n, d in (("r.pem", root), ("i.pem", inter)):
            open(os.path.join(WORK, n), "wb").write(d)
        ossl("verify", "-CAfile", os.path.join(WORK, "r.pem"), "-untrusted",
             os.path.join(WORK, "i.pem"), os.path.join(WORK, "leaf.pem"))
        expect_problem(lambda: c.finalize(o, csr), "orderNotReady", 403)
        # clientauth for an email identifier
        o = ready_order(c, pk, "dev@example.com", "email")
        _, csr = csr_for(c, WORK, cn="dev@example.com", eku="clientAuth",
                         san="email:dev@example.com")
        o = c.finalize(o, csr)
        t = cert_text(c.download(o["certificate"]), WORK)
        check("TLS Web Client Authentication" in t and
              "email:dev@example.com" in t, "clientauth leaf:\n" + t)
        # identifiers outside the organisation
        expect_problem(lambda: c.new_order([{"type": "dns",
                                             "value": "evil.test"}]),
                       "rejectedIdentifier")
        expect_problem(lambda: c.new_order([{"type": "ip",
                                             "value": "127.0.0.1"}]),
                       "unsupportedIdentifier")
        # revocation: by account, then again; by certificate key
        der = ossl("x509", "-in", os.path.join(WORK, "leaf.pem"), "-outform",
                   "DER")
        c.post(c.dir["revokeCert"], {"certificate": b64u(der)})
        expect_problem(lambda: c.post(c.dir["revokeCert"],
                                      {"certificate": b64u(der)}),
                       "alreadyRevoked")
        o = ready_order(c, pk)
        key, csr = csr_for(c, WORK)
        o = c.finalize(o, csr)
        pem = c.download(o["certificate"])
        cert_text(pem, WORK)
        der = ossl("x509", "-in", os.path.join(WORK, "leaf.pem"), "-outform",
                   "DER")
        stranger = Client(s, Key(WORK))
        expect_problem(lambda: stranger.post(
            c.dir["revokeCert"], {"certificate": b64u(der)}, use_jwk=True),
            "unauthorized")
        kc = Client(s, key)
        kc.post(c.dir["revokeCert"], {"certificate": b64u(der), "reason": 1},
                use_jwk=True)
    finally:
        s.stop()


@group
def g_twofactor():
    s = new_server(CSCA, WORK, ["--require-eab"])
    adm = AdminPKI(WORK)
    k_ok, p_ok = adm.leaf("admin")
    add_org(s, ORG, ["cert-01", "totp-01"])
    eab = add_eab(s, "k1", ORG)
    seed = add_otp(s, "t1", ORG, "totp")
    s.registry("admin", "add", "--org", ORG, "--anchor", adm.ca)
    s.registry("admin", "add", "--org", ORG, "--cert", p_ok)
    s.start()
    try:
        c = account(s, WORK, eab)
        o, azs = order_challenges(c)
        check(len(azs) == 2, "two authorizations, got %d" % len(azs))
        types = sorted(ch[0]["type"] for _, ch in azs)
        check(types == ["cert-01", "totp-01"], "types %s" % types)
        cc = chall_of(azs[0][1] + azs[1][1], "cert-01")
        signed_answer(c, cc, k_ok, x5c=[der_b64(p_ok)])
        check(c.get(o["_url"])["status"] == "pending", "one factor: pending")
        tc = chall_of(azs[0][1] + azs[1][1], "totp-01")
        answer(c, tc, totp(seed))
        check(c.get(o["_url"])["status"] == "ready", "two factors: ready")
        # pre-authorization: newAuthz once per factor, then newOrder reuses
        ident = {"type": "dns", "value": "build.example.com"}
        a1 = c.post(c.dir["newAuthz"], {"identifier": ident})[2]
        a2 = c.post(c.dir["newAuthz"], {"identifier": ident})[2]
        check(a1["challenges"][0]["type"] != a2["challenges"][0]["type"],
              "newAuthz covers the next factor")
        for a in (a1, a2):
            ch = a["challenges"][0]
            if ch["type"] == "cert-01":
                signed_answer(c, ch, k_ok, x5c=[der_b64(p_ok)])
            else:
                answer(c, ch, totp(seed, step_offset=1))
        o = c.new_order([ident])
        check(o["status"] == "ready", "pre-authorized order ready: %s" % o)
        o2 = c.new_order([ident])
        check(o2["status"] == "pending", "pre-authorizations are single-use")
    finally:
        s.stop()


@group
def g_ari():
    s, eab, pk = ppkp_org(["--validity", "90s"])
    s.start()
    try:
        c = account(s, WORK, eab)
        o = ready_order(c, pk)
        o = c.finalize(o, csr_for(c, WORK)[1])
        pem = c.download(o["certificate"])
        cert_text(pem, WORK)
        leaf = os.path.join(WORK, "leaf.pem")
        aki = ossl("x509", "-in", leaf, "-noout", "-ext",
                   "authorityKeyIdentifier").decode()
        aki_hex = aki.split("\n")[1].strip().replace("keyid:", "").replace(
            ":", "")
        serial = ossl("x509", "-in", leaf, "-noout", "-serial").decode()
        serial = serial.strip().split("=")[1]
        sb = bytes.fromhex(serial)
        if sb[0] & 0x80:
            sb = b"\0" + sb
        certid = b64u(bytes.fromhex(aki_hex)) + "." + b64u(sb)
        st, h, ri = s.get_json("/renewal-info/" + certid)
        check(st == 200, "renewalInfo %d" % st)
        check(int(h["Retry-After"]) > 0, "Retry-After")
        start = time.mktime(time.strptime(ri["suggestedWindow"]["start"],
                                          "%Y-%m-%dT%H:%M:%SZ"))
        check(start > time.mktime(time.gmtime()), "window in the future")
        st, _, _ = s.get_json("/renewal-info/bad")
        check(st == 400, "bad CertID gives 400")
        # management: move this certificate's window into the past
        st, _, _ = s.mgmt("POST", "/csca/ari-past?certid=" + certid)
        check(st == 200, "ari-past")
        st, h, ri = s.get_json("/renewal-info/" + certid)
        end = time.mktime(time.strptime(ri["suggestedWindow"]["end"],
                                        "%Y-%m-%dT%H:%M:%SZ"))
        check(end < time.mktime(time.gmtime()), "window now in the past")
        # replaces, then alreadyReplaced
        o2 = c.new_order([{"type": "dns", "value": DOMAIN}], replaces=certid)
        check(o2.get("replaces") == certid, "order echoes replaces")
        expect_problem(lambda: c.new_order([{"type": "dns", "value": DOMAIN}],
                                           replaces=certid),
                       "alreadyReplaced", 409)
        expect_problem(lambda: c.new_order([{"type": "dns", "value": DOMAIN}],
                                           replaces="AAAA.AAAA"), "malformed")
        # stats endpoint counts requests by endpoint
        st, _, stats = s.mgmt("GET", "/csca/stats")
        check(stats["by_endpoint"]["newOrder"] >= 3, "stats %s" % stats)
    finally:
        s.stop()


@group
def g_restart():
    s, eab, pk = ppkp_org(factors=("hotp-01",))
    seed = add_otp(s, "h1", ORG, "hotp")
    s.start()
    try:
        c = account(s, WORK, eab)
        o, azs = order_challenges(c)
        answer(c, chall_of(azs[0][1], "hotp-01"), hotp(seed, 0))
        check(s.stop() == 0, "clean exit on SIGTERM")
        s.start()
        c.dir = s.get_json("/directory")[2]
        c.nonce = None
        c.kid = s.base + c.kid[c.kid.index("/acct/"):]
        c.get(c.kid)
        o, azs = order_challenges(c)
        ch = chall_of(azs[0][1], "hotp-01")
        expect_problem(lambda: answer(c, ch, hotp(seed, 0)),
                       "incorrectResponse")
        r = answer(c, ch, hotp(seed, 1))
        check(r["status"] == "valid", "counter survives restart")
        check(oct(os.stat(os.path.join(s.state, "state.json")).st_mode)[-3:]
              == "600", "state.json mode")
        check(oct(os.stat(os.path.join(s.state, "registry.json")).st_mode)
              [-3:] == "600", "registry.json mode")
        left = [f for f in os.listdir(s.state) if ".tmp." in f]
        check(not left, "temporary files left in the state dir: %s" % left)
        log = open(os.path.join(WORK, "csca.log")).read()
        check(base64_seed_absent(seed, log), "OTP seed in the log")
    finally:
        s.stop()


def base64_seed_absent(seed, log):
    import base64
    return base64.b32encode(seed).decode() not in log


# ------------------------------------------------- short-lived orders --

def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def cert_times(pem):
    """(notBefore, notAfter) of a PEM leaf, as Unix times."""
    p = os.path.join(WORK, "times.pem")
    with open(p, "w") as f:
        f.write(pem)
    out = ossl("x509", "-in", p, "-noout", "-startdate", "-enddate").decode()
    t = dict(line.split("=", 1) for line in out.splitlines())
    return tuple(calendar.timegm(time.strptime(t[k], "%b %d %H:%M:%S %Y GMT"))
                 for k in ("notBefore", "notAfter"))


def short_order(c, pk, **extra):
    """A ready order for DOMAIN with extra newOrder members."""
    o = c.new_order([{"type": "dns", "value": DOMAIN}], **extra)
    for url in o["authorizations"]:
        az = c.get(url)
        signed_answer(c, chall_of(az["challenges"], "ppkp-01"), pk,
                      kid=pk.thumbprint())
    return c.get(o["_url"]) | {"_url": o["_url"]}


def short_issue(c, o):
    _, csr = csr_for(c, WORK)
    o = c.finalize(o, csr)
    check(o["status"] == "valid", "finalize: %s" % o)
    return cert_times(c.download(o["certificate"]))


def short_server(s, kid, args):
    """csca again on the same state, with other options and a new account
    (a new EAB key: one key binds one account)."""
    s2 = new_server(CSCA, WORK, ["--require-eab", *args])
    eab = add_eab(s2, kid, ORG)
    s2.start()
    return s2, account(s2, WORK, eab)


@group
def g_shortlived():
    ident = [{"type": "dns", "value": DOMAIN}]
    s, eab, pk = ppkp_org()
    s.start()
    try:
        # without --min-validity, notAfter is refused as before
        c = account(s, WORK, eab)
        expect_problem(lambda: c.new_order(
            ident, notAfter=rfc3339(time.time() + 120)), "malformed", 400)
    finally:
        s.stop()
    s, c = short_server(s, "k2", ["--min-validity", "60s", "--validity",
                                  "1h"])
    try:
        want = rfc3339(time.time() + 120)
        o = short_order(c, pk, notAfter=want)
        check(o.get("notAfter") == want, "order echoes %r" % o.get("notAfter"))
        before = int(time.time())
        nb, na = short_issue(c, o)
        check(na == calendar.timegm(time.strptime(want, "%Y-%m-%dT%H:%M:%SZ")),
              "notAfter %s, asked %s" % (rfc3339(na), want))
        check(before <= nb <= int(time.time()) and nb <= na,
              "notBefore %s is not the issuance time" % rfc3339(nb))
        # another zone and a fraction: the same instant, echoed in UTC
        t = int(time.time()) + 300
        local = time.strftime("%Y-%m-%dT%H:%M:%S.750+01:00",
                              time.gmtime(t + 3600))
        o = short_order(c, pk, notAfter=local)
        check(o["notAfter"] == rfc3339(t), "%s -> %s" % (local, o["notAfter"]))
        check(short_issue(c, o)[1] == t, "offset notAfter")
        # outside now + 60 s .. now + 1 h, or not a date-time
        for bad in (rfc3339(time.time() + 30), rfc3339(time.time() + 7200),
                    rfc3339(time.time() - 10), "tomorrow",
                    "2030-02-30T00:00:00Z", "2030-01-02 03:04:05"):
            e = expect_problem(lambda: c.new_order(ident, notAfter=bad),
                               "malformed", 400)
            print("  notAfter %s -> %s" % (bad, e.body["detail"]))
        e = expect_problem(lambda: c.new_order(
            ident, notAfter=rfc3339(time.time() + 30)), "malformed")
        check("between now + 60 s and now + 3600 s" in e.body["detail"],
              "detail does not name the range: " + e.body["detail"])
        expect_problem(lambda: c.new_order(ident, notAfter=120), "malformed")
        expect_problem(lambda: c.new_order(
            ident, notBefore=rfc3339(time.time())), "malformed")
        # without notAfter: --validity, to the second (RFC 5280 both ends)
        nb, na = short_issue(c, short_order(c, pk))
        check(na - nb == 3599, "lifetime %d s" % (na - nb))
        # an order accepted now, finalized when too little time is left
        late = short_order(c, pk, notAfter=rfc3339(time.time() + 90))
    finally:
        s.stop()
    key, old = c.key, s.base
    s, _ = short_server(s, "k3", ["--min-validity", "100s", "--validity",
                                  "1h"])
    try:
        # the late order's account, at the new port
        owner = Client(s, key)
        _, h, _ = owner.post(owner.dir["newAccount"],
                             {"onlyReturnExisting": True}, use_jwk=True)
        owner.kid = h["Location"]
        late = {k: v.replace(old, s.base) if isinstance(v, str) else v
                for k, v in late.items()}
        _, csr = csr_for(owner, WORK)
        e = expect_problem(lambda: owner.finalize(late, csr), "malformed", 400)
        check("create a new order" in e.body["detail"], e.body["detail"])
        o = owner.get(late["_url"])
        check(o["status"] == "invalid" and "error" in o,
              "late order is %s" % o["status"])
    finally:
        s.stop()
    # --validity may be seconds short
    s, c = short_server(s, "k4", ["--validity", "5s"])
    try:
        nb, na = short_issue(c, short_order(c, pk))
        check(na - nb == 4, "5 s validity gave %d s" % (na - nb + 1))
    finally:
        s.stop()


@group
def g_misissue():
    for mode, want in (("wrong-eku", "TLS Web Server Authentication"),
                       ("long-lifetime", None), ("other-key", None)):
        work = os.path.join(WORK, mode)
        os.makedirs(work, exist_ok=True)
        s = new_server(CSCA, work, ["--require-eab", "--misissue=" + mode])
        add_org(s, ORG, ["ppkp-01"])
        eab = add_eab(s, "k1", ORG)
        pk = Key(work)
        s.registry("ppkp", "add", "--org", ORG,
                   stdin=json.dumps({"jwk": pk.jwk}).encode())
        s.start()
        try:
            c = account(s, work, eab)
            o = ready_order(c, pk)
            key, csr = csr_for(c, work)
            o = c.finalize(o, csr)
            pem = c.download(o["certificate"])
            t = cert_text(pem, work)
            leaf = os.path.join(work, "leaf.pem")
            if want:
                check(want in t, "%s: %s missing" % (mode, want))
            if mode == "long-lifetime":
                r = subprocess.run(["openssl", "x509", "-in", leaf, "-noout",
                                    "-checkend", str(460 * 86400)],
                                   capture_output=True)
                check(r.returncode == 0, "long-lifetime not longer than 460d")
            if mode == "other-key":
                a = ossl("x509", "-in", leaf, "-noout", "-pubkey")
                b = ossl("pkey", "-in", key.path, "-pubout")
                check(a != b, "other-key issued for the CSR key")
        finally:
            s.stop()


@group
def g_alwaysvalid():
    s = new_server(CSCA, WORK, ["--always-valid"])
    s.start()
    try:
        c = account(s, WORK)  # no EAB, no organisation
        o, azs = order_challenges(c, "web.test")
        types = sorted(ch["type"] for ch in azs[0][1])
        check(types == ["dns-01", "http-01"], "types %s" % types)
        r = c.post(chall_of(azs[0][1], "http-01")["url"], {})[2]
        check(r["status"] == "valid", "http-01 always valid")
        o = c.get(o["_url"]) | {"_url": o["_url"]}
        key, csr = csr_for(c, WORK, cn="web.test", eku=None,
                           ku="critical,digitalSignature,keyEncipherment",
                           san="DNS:web.test")
        o = c.finalize(o, csr)
        t = cert_text(c.download(o["certificate"]), WORK)
        check("TLS Web Server Authentication" in t and "DNS:web.test" in t,
              "tls profile leaf:\n" + t)
        o, azs = order_challenges(c, "web.test")
        _, csr = csr_for(c, WORK, cn="web.test", eku="codeSigning")
        c.post(chall_of(azs[0][1], "dns-01")["url"], {})
        expect_problem(lambda: c.finalize(c.get(o["_url"]) | {}, csr),
                       "badCSR")
        expect_problem(lambda: c.new_order([{"type": "email",
                                             "value": "a@web.test"}]),
                       "unauthorized")
    finally:
        s.stop()
    # Without --always-valid, dns-01 is never validated.
    s = new_server(CSCA, WORK, ["--default-org", ORG], name="state2")
    add_org(s, ORG, [])
    s.start()
    try:
        c = account(s, WORK)  # no EAB: joins the default organisation
        o, azs = order_challenges(c)
        expect_problem(lambda: c.post(chall_of(azs[0][1], "dns-01")["url"],
                                      {}), "malformed")
        check(c.get(o["_url"])["status"] == "pending", "still pending")
    finally:
        s.stop()


# ---------------------------------------------------------- management --

def start_fails(s, why):
    """csca must refuse to start; its log must say why."""
    logpath = os.path.join(s.workdir, "csca.log")
    before = os.path.getsize(logpath) if os.path.exists(logpath) else 0
    try:
        s.start()
    except RuntimeError:
        s.proc = None
        s.log.close()
        with open(logpath) as f:
            f.seek(before)
            log = f.read()
        check(why in log, "start refused, but the log lacks %r:\n%s"
              % (why, log))
        return log
    s.stop()
    raise AssertionError("csca started although %s" % why)


@group
def g_mgmt():
    s = new_server(CSCA, WORK)
    tok_path = os.path.join(s.state, "mgmt.token")
    s.start()
    try:
        st = os.stat(tok_path)
        check(oct(st.st_mode)[-3:] == "600", "mgmt.token mode %o" % st.st_mode)
        token = open(tok_path).read().strip()
        check(len(b64u_dec(token)) == 32, "token is not 32 bytes base64url")
        c = account(s, WORK)
        ok, _, stats = s.mgmt("GET", "/csca/stats")
        check(ok == 200 and stats["total"] > 0, "stats with token: %d" % ok)
        bad = [None, "Bearer", "Bearer " + token[:-1], "Bearer " + token + "x",
               "Basic " + token, "Bearer " + token[:-1] + "A"
               if token[-1] != "A" else "Bearer " + token[:-1] + "B"]
        for method, path in (("GET", "/csca/stats"),
                             ("POST", "/csca/stats/reset"),
                             ("POST", "/csca/ari-past"),
                             ("POST", "/csca/registry/reload"),
                             ("GET", "/csca/no-such-thing")):
            for auth in bad:
                hdr = {"Authorization": auth} if auth else {}
                st, h, b = s.http(method, path, headers=hdr)
                check(st == 401, "%s %s with %r gave %d" % (method, path,
                                                           auth, st))
                doc = json.loads(b)
                check(doc["type"] == "urn:ietf:params:acme:error:unauthorized"
                      and h.get("Content-Type") == "application/problem+json",
                      "401 without a problem document: %s" % b[:200])
                check(h.get("WWW-Authenticate", "").startswith("Bearer"),
                      "401 without WWW-Authenticate")
        # nothing was done: the counters were not reset
        _, _, stats = s.mgmt("GET", "/csca/stats")
        check(stats["by_endpoint"].get("newAccount") == 1,
              "stats reset without the token: %s" % stats)
        check(stats["by_endpoint"].get("mgmtUnauthorized", 0) >= 30,
              "refused requests not counted: %s" % stats)
        # the scheme is case-insensitive; an unknown path with the token 404
        st, _, _ = s.http("GET", "/csca/stats",
                          headers={"Authorization": "bearer " + token})
        check(st == 200, "lower-case scheme refused: %d" % st)
        st, _, _ = s.mgmt("GET", "/csca/no-such-thing")
        check(st == 404, "unknown management path with token: %d" % st)
        st, _, _ = s.mgmt("POST", "/csca/stats/reset")
        check(st == 200, "reset with token: %d" % st)
        _, _, stats = s.mgmt("GET", "/csca/stats")
        check(stats["by_endpoint"] == {"statsReset": 1},
              "reset did nothing: %s" % stats)
        # ACME endpoints need no token
        c.get(c.kid)
        log = open(os.path.join(WORK, "csca.log")).read()
        check(token not in log, "token in csca's log")
        check(s.stop() == 0, "clean exit")
        # a restart keeps the token
        s.start()
        check(open(tok_path).read().strip() == token, "token changed")
        check(s.mgmt("GET", "/csca/stats")[0] == 200, "token after restart")
        s.stop()
        # refused token files: group-readable, symlink, junk, another owner
        os.chmod(tok_path, 0o640)
        start_fails(s, tok_path)
        start_fails(s, "mode 640")
        os.chmod(tok_path, 0o600)
        real = os.path.join(WORK, "elsewhere.token")
        shutil.copy(tok_path, real)
        os.chmod(real, 0o600)
        os.unlink(tok_path)
        os.symlink(real, tok_path)
        start_fails(s, "symbolic link")
        os.unlink(tok_path)
        with open(os.open(tok_path, os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write("too-short\n")
        start_fails(s, "base64url")
        if os.geteuid() == 0:
            shutil.copy(real, tok_path)
            os.chown(tok_path, 65534, 65534)
            start_fails(s, "not by csca's user")
        os.unlink(tok_path)
        # --mgmt-token-file: made there, and the default file is not
        other = os.path.join(WORK, "tok", "m.token")
        os.makedirs(os.path.dirname(other))
        s2 = new_server(CSCA, WORK, name="state2")
        s2.token_file = other
        s2.args += ["--mgmt-token-file", other]
        s2.start()
        try:
            check(os.path.exists(other) and not os.path.exists(
                os.path.join(s2.state, "mgmt.token")), "--mgmt-token-file")
            check(oct(os.stat(other).st_mode)[-3:] == "600", "custom mode")
            check(s2.mgmt("GET", "/csca/stats")[0] == 200, "custom token")
            st, _, _ = s2.http("GET", "/csca/stats",
                               headers={"Authorization": "Bearer " + token})
            check(st == 401, "another csca's token accepted: %d" % st)
        finally:
            s2.stop()
        left = [f for f in os.listdir(s.state) + os.listdir(
            os.path.dirname(other)) if ".tmp." in f]
        check(not left, "temporary files left: %s" % left)
    finally:
        s.stop()


# ------------------------------------------------- wrong-typed members --

def key_change_body(c, new, payload, prot_extra=None, drop=()):
    """An inner keyChange JWS by key new, header members changed at will."""
    prot = {"alg": new.alg, "jwk": new.jwk, "url": c.dir["keyChange"]}
    prot.update(prot_extra or {})
    for k in drop:
        prot.pop(k, None)
    p64 = b64u(json.dumps(prot))
    y64 = b64u(json.dumps(payload) if not isinstance(payload, bytes)
               else payload)
    sig = new.sign((p64 + "." + y64).encode())
    return {"protected": p64, "payload": y64, "signature": b64u(sig)}


def refused(c, url, payload, name=None, ptype="malformed", **kw):
    """A well-signed request whose payload (or header) is wrong must get a
    4xx problem of ptype; with name, the detail must name the member."""
    try:
        st, _, body = c.post(url, payload, **kw)
    except Problem as e:
        check(400 <= e.status < 500, "%s %s: HTTP %d" % (url, payload,
                                                         e.status))
        want = "urn:ietf:params:acme:error:" + ptype
        check(e.type == want, "%s %s: want %s, got %s" % (url, payload, want,
                                                          e))
        detail = (e.body or {}).get("detail", "")
        if name:
            check(name in detail, "%s %s: detail does not name %s: %s"
                  % (url, payload, name, detail))
        return
    raise AssertionError("%s accepted %s: %d %s" % (url, payload, st, body))


@group
def g_members():
    s = new_server(CSCA, WORK, ["--require-eab"])
    add_org(s, ORG, ["ppkp-01"])
    add_org(s, "Other", ["hotp-01", "cert-01"], domain="other.test")
    eab = add_eab(s, "k1", ORG)
    eab2 = add_eab(s, "k2", "Other")
    add_otp(s, "h1", "Other", "hotp")
    pk = Key(WORK)
    s.registry("ppkp", "add", "--org", ORG,
               stdin=json.dumps({"jwk": pk.jwk}).encode())
    s.start()
    try:
        c = account(s, WORK, eab)
        # newAccount, by a key without an account
        n = Client(s, Key(WORK))
        na = n.dir["newAccount"]
        for p, name in (({"termsOfServiceAgreed": "yes"},
                         "termsOfServiceAgreed"),
                        ({"termsOfServiceAgreed": None},
                         "termsOfServiceAgreed"),
                        ({"onlyReturnExisting": None}, "onlyReturnExisting"),
                        ({"onlyReturnExisting": "false"},
                         "onlyReturnExisting"),
                        ({"contact": None}, "contact"),
                        ({"contact": "mailto:a@example.com"}, "contact"),
                        ({"contact": [None]}, "contact[0]"),
                        ({"contact": ["mailto:a@example.com", 5]},
                         "contact[1]"),
                        ({"externalAccountBinding": None},
                         "externalAccountBinding"),
                        ({"externalAccountBinding": [1]},
                         "externalAccountBinding")):
            refused(n, na, p, name, use_jwk=True)
        e = n.eab(*eab2)
        prot = json.loads(b64u_dec(e["protected"]))
        prot["kid"] = 5
        e["protected"] = b64u(json.dumps(prot))
        refused(n, na, {"externalAccountBinding": e}, "kid", use_jwk=True)
        refused(n, na, None, use_jwk=True)
        # JWS header members
        refused(n, na, {}, "jwk", use_jwk=True, extra={"jwk": None})
        refused(n, na, {}, "jwk", use_jwk=True, extra={"jwk": "x"})
        refused(n, na, {}, "kid", use_jwk=True, extra={"kid": 5})
        refused(n, na, {}, "nonce", "badNonce", use_jwk=True, nonce=5)
        refused(n, na, {}, "url", "unauthorized", use_jwk=True,
                extra={"url": None})
        # account update
        for p, name in (({"status": None}, "status"), ({"status": 1}, "status"),
                        ({"contact": None}, "contact"),
                        ({"contact": [{}]}, "contact[0]"),
                        ({"termsOfServiceAgreed": 1}, "termsOfServiceAgreed")):
            refused(c, c.kid, p, name)
        # newOrder and newAuthz
        ident = {"type": "dns", "value": DOMAIN}
        for p, name in (({}, "identifiers"), ({"identifiers": None},
                                              "identifiers"),
                        ({"identifiers": "x"}, "identifiers"),
                        ({"identifiers": [None]}, "identifiers[0]"),
                        ({"identifiers": [ident, 5]}, "identifiers[1]"),
                        ({"identifiers": [{"type": None, "value": DOMAIN}]},
                         "type"),
                        ({"identifiers": [{"type": "dns"}]}, "value"),
                        ({"identifiers": [{"type": "dns", "value": 7}]},
                         "value"),
                        ({"identifiers": [ident], "replaces": None},
                         "replaces"),
                        ({"identifiers": [ident], "replaces": 3}, "replaces")):
            refused(c, c.dir["newOrder"], p, name)
        refused(c, c.dir["newOrder"], None, "identifiers")
        for p, name in (({"identifier": None}, "identifier"),
                        ({"identifier": "x"}, "identifier"),
                        ({"identifier": {"type": 1, "value": DOMAIN}},
                         "type")):
            refused(c, c.dir["newAuthz"], p, name)
        # challenge responses: hotp-01, cert-01 (account of "Other"),
        # ppkp-01; malformed answers do not count as wrong ones
        c2 = account(s, WORK, eab2)
        o2, azs = order_challenges(c2, "other.test")
        challs = [ch for _, chs in azs for ch in chs]
        hc, cc = chall_of(challs, "hotp-01"), chall_of(challs, "cert-01")
        for p, name in (({}, "otp"), ({"otp": None}, "otp"),
                        ({"otp": 123456}, "otp"), ({"otp": ["1"]}, "otp")):
            refused(c2, hc["url"], p, name)
        for p, name in (({}, "x5c"), ({"x5c": None}, "x5c"),
                        ({"x5c": "x"}, "x5c"), ({"x5c": [None]}, "x5c[0]"),
                        ({"x5c": [5]}, "x5c[0]")):
            refused(c2, cc["url"], p, name)
        o, azs = order_challenges(c)
        pc = chall_of(azs[0][1], "ppkp-01")
        for p, name in (({}, "kid"), ({"kid": None}, "kid"),
                        ({"kid": pk.thumbprint(), "alg": None,
                          "signature": "AA"}, "alg"),
                        ({"kid": pk.thumbprint(), "alg": "ES256",
                          "signature": 5}, "signature")):
            refused(c, pc["url"], p, name)
        for cl, ch in ((c2, hc), (c2, cc), (c, pc)):
            check(cl.get(ch["url"])["status"] == "pending",
                  "a malformed answer changed the challenge: %s" % ch)
        # authorization deactivation
        for p in ({"status": None}, {"status": 5}, {}):
            refused(c, o["authorizations"][0], p, "status")
        # finalize: a ready order, then malformed csr members
        signed_answer(c, pc, pk, kid=pk.thumbprint())
        for p, name in (({}, "csr"), ({"csr": None}, "csr"),
                        ({"csr": 5}, "csr"), (None, "csr")):
            refused(c, o["finalize"], p, name)
        o = c.finalize(o, csr_for(c, WORK)[1])
        pem = c.download(o["certificate"])
        cert_text(pem, WORK)
        der = b64u(ossl("x509", "-in", os.path.join(WORK, "leaf.pem"),
                        "-outform", "DER"))
        # revokeCert
        rc = c.dir["revokeCert"]
        for p, name in (({}, "certificate"), ({"certificate": None},
                                              "certificate"),
                        ({"certificate": 5}, "certificate"),
                        ({"certificate": der, "reason": None}, "reason"),
                        ({"certificate": der, "reason": "1"}, "reason"),
                        ({"certificate": der, "reason": 1.0}, "reason")):
            refused(c, rc, p, name)
        for r in (7, -1, 11, 2 ** 32 + 1):
            refused(c, rc, {"certificate": der, "reason": r}, None,
                    "badRevocationReason")
        refused(c, rc, None, "certificate")
        # keyChange: the outer payload, the inner header and payload
        kc = c.dir["keyChange"]
        new = Key(WORK)
        good = {"account": c.kid, "oldKey": c.key.jwk}
        refused(c, kc, None)
        refused(c, kc, {})
        for extra, drop, name in (({"jwk": None}, (), "jwk"),
                                  ({"jwk": "x"}, (), "jwk"),
                                  ({}, ("jwk",), "jwk"),
                                  ({"alg": 5}, (), "alg"),
                                  ({"url": None}, (), "url")):
            refused(c, kc, key_change_body(c, new, good, extra, drop), name)
        for inner, name in (({"account": None, "oldKey": c.key.jwk},
                             "account"),
                            ({"account": 5, "oldKey": c.key.jwk}, "account"),
                            ({"account": c.kid, "oldKey": None}, "oldKey"),
                            ({"account": c.kid, "oldKey": "x"}, "oldKey"),
                            ({"account": c.kid}, "oldKey"),
                            ([], "payload"), (b"null", "payload")):
            refused(c, kc, key_change_body(c, new, inner), name)
        # still alive, still working, and the key did not change
        check(s.alive(), "csca died")
        c.get(c.kid)
        c.post(rc, {"certificate": der, "reason": 1})
        c.post(kc, key_change_body(c, new, good))
        c.key = new
        check(c.get(c.kid)["status"] == "valid", "keyChange after all that")
        st, _, stats = s.mgmt("GET", "/csca/stats")
        check(st == 200 and stats["by_status"].get("500") is None,
              "a server error among the answers: %s" % stats)
    finally:
        s.stop()


# ---------------------------------------------------------- robustness --

@group
def g_fuzz():
    import random
    rnd = random.Random(1234)
    s, eab, pk = ppkp_org()
    s.start()
    try:
        c = account(s, WORK, eab)
        o, azs = order_challenges(c)
        ch = chall_of(azs[0][1], "ppkp-01")
        urls = [c.dir[k] for k in ("newAccount", "newOrder", "newAuthz",
                                   "revokeCert", "keyChange")]
        urls += [c.kid, o["_url"], o["finalize"], ch["url"],
                 o["authorizations"][0], s.base + "/cert/x"]
        good = c.jws(urls[1], {"identifiers": [{"type": "dns",
                                                "value": DOMAIN}]})
        samples = [b"", b"{", b"[]", b"null", b"\x00\xff" * 50,
                   b'{"protected":1,"payload":2,"signature":3}',
                   b'{"protected":"","payload":"","signature":""}',
                   b'{"protected":"e30","payload":"","signature":""}',
                   json.dumps(good).encode()[:-7], b'{"a":' * 5000]
        for _ in range(150):
            g = json.loads(json.dumps(good))
            k = rnd.choice(list(g))
            v = list(g[k])
            for _ in range(rnd.randint(1, 6)):
                if v:
                    v[rnd.randrange(len(v))] = rnd.choice(
                        "AZaz09-_=.+/\"\\{}\x00")
            g[k] = "".join(v)
            samples.append(json.dumps(g).encode())
        # well-signed JWS with hostile payloads and headers
        hostile = [[], "x", 1, None, {"identifiers": "x"},
                   {"identifiers": [{}]}, {"identifiers": [1]},
                   {"csr": 5}, {"csr": "!!"}, {"csr": b64u(b"\x30\x03\x02")},
                   {"certificate": "AAAA"}, {"x5c": "x"},
                   {"x5c": [1, 2]}, {"otp": {}}, {"kid": 7},
                   {"identifier": []}, {"status": 1}, {"contact": 5},
                   {"externalAccountBinding": "x"},
                   {"externalAccountBinding": {"protected": "e30",
                                               "payload": "", "signature": ""}},
                   {"replaces": 3}, {"oldKey": 1, "account": 2}]
        for url in urls:
            for body in samples[:40]:
                c.post_raw(url, body)
            for p in hostile:
                try:
                    c.post(url, p)
                except Problem:
                    pass
                try:
                    c.post(url, p, use_jwk=True)
                except Problem:
                    pass
        for body in samples:
            st, _, _ = c.post_raw(urls[1], body)
            check(400 <= st < 500, "fuzz body gave %d" % st)
        check(s.alive(), "csca died")
        st, _, _ = s.http("GET", "/directory")
        check(st == 200, "csca unhealthy after fuzz")
    finally:
        s.stop()


def main():
    global CSCA, WORK
    if len(sys.argv) != 4 or sys.argv[3] not in GROUPS:
        print("usage: test_csca.py CSCA WORKDIR {%s}" % "|".join(GROUPS))
        return 2
    CSCA = sys.argv[1]
    WORK = os.path.join(sys.argv[2], sys.argv[3])
    if not os.access(CSCA, os.X_OK) or shutil.which("openssl") is None:
        print("csca or openssl missing")
        return 77
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    try:
        GROUPS[sys.argv[3]]()
    except Exception:
        traceback.print_exc()
        log = os.path.join(WORK, "csca.log")
        if os.path.exists(log):
            print("---- csca.log (tail) ----")
            print("".join(open(log).readlines()[-40:]))
        return 1
    # A sanitizer build reports in csca's log (and at exit, for leaks).
    for root, _, files in os.walk(WORK):
        if "csca.log" in files:
            text = open(os.path.join(root, "csca.log"), errors="replace").read()
            if "Sanitizer" in text or "runtime error" in text:
                print(text[-6000:])
                return 1
    print("PASS", sys.argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
