#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small, deliberately hostile ACME server (RFC 8555) for csagent's
end-to-end tests (tests/hostile/hostile.sh).  Python 3 standard library
only, plus the openssl command line for its throwaway PKI.

It speaks just enough ACME for csagent to reach each misbehaviour: the
directory, newNonce, newAccount, newAuthz (pre-authorization), newOrder,
authorizations, challenges of draft-ietf-acme-client-05 (totp-01, hotp-01,
cert-01, ppkp-01), finalize, order polling and certificate download.  It
does not verify JWS signatures, but it does check what a CA must for the
flow to mean something: nonces are single-use (badNonce otherwise), the
protected "url" is the request URL, OTPs are checked against the seed when
--otp-seed-file is given (a TOTP step or HOTP counter is never accepted
twice), cert-01/ppkp-01 signatures are verified with openssl over the key
authorization token "." thumbprint(account key).  The certificate it
issues is a real one for the CSR's key (openssl x509 -req, the CSR's
keyUsage/extendedKeyUsage/SAN copied, basicConstraints CA:FALSE, 30 days)
signed by its own root, which the test gives csagent as trust_anchor.

Every request is written to --log as one JSON object per line: method,
path, HTTP status answered, the decoded protected header and payload of a
JWS, and notes (OTP checks, signatures, refusals).  The test asserts on it.

    hostile_ca.py --case NAME --pki DIR --work DIR --url-file F --log F
                  [--otp-seed-file F] [--ppkp-pub PEM] [--openssl BIN]

Listens on 127.0.0.1 on a port the kernel picks (port 0), HTTPS with a
certificate for IP 127.0.0.1 issued by DIR/tls-root.pem (csagent's
ca_bundle); writes the directory URL to --url-file once it listens.
Materials under --pki are made on first use and reused (so an old
certificate and a new one chain to the same root).  --list-cases prints
the cases.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOSTILE_TEXT = "I authorize transfer of account 42."
PENDING_DETAIL = "hostile CA: wrong one-time password, try again (1 of 3)"
HUGE_RETRY_AFTER = "99999999999999999999"

# name: (what it does, settings).  Settings:
#   challenge  the one challenge type every authorization offers
#   extra      members merged into that challenge object (hints)
#   token      the token, when the CA chooses a hostile one
#   newauthz   the directory offers newAuthz
#   reuse      newOrder consumes valid pre-authorizations (RFC 8555 §7.4.1)
#   token      an int: that many random base64url characters
#   misissue   "other-key": the leaf is for a fresh key, not the CSR's;
#              "garbage": the certificate URL answers a broken PEM block
#   foreign_url  challenge URLs name https://localhost:PORT, not the
#              directory's origin https://127.0.0.1:PORT
#   flaky      "all": the first two requests to every resource answer 500;
#              "safe": the same, except for the requests a client must
#              not repeat (newOrder, newAuthz, a challenge answer)
CASES = {
    "normal": ("well-behaved: ppkp-01, newAuthz offered, pre-authorization "
               "reused by the order", dict(challenge="ppkp-01")),
    "normal-totp": ("well-behaved with totp-01 (hints 6, SHA1, 30)",
                    dict(challenge="totp-01")),
    "normal-cert": ("well-behaved with cert-01 (signature verified "
                    "against the x5c leaf)", dict(challenge="cert-01")),
    "null-algorithm": ('totp-01 with "algorithm": null',
                       dict(challenge="totp-01", extra={"algorithm": None})),
    "null-algorithm-hotp": ('hotp-01 with "algorithm": null',
                            dict(challenge="hotp-01",
                                 extra={"algorithm": None})),
    "digits-string": ('totp-01 with "digits": "8"',
                      dict(challenge="totp-01", extra={"digits": "8"})),
    "digits-wrap": ('totp-01 with "digits": 4294967302 (2^32 + 6)',
                    dict(challenge="totp-01",
                         extra={"digits": 4294967302})),
    "digits-float": ('hotp-01 with "digits": 6.0',
                     dict(challenge="hotp-01", extra={"digits": 6.0})),
    "period-huge": ('totp-01 with "period": 99999999999',
                    dict(challenge="totp-01",
                         extra={"period": 99999999999})),
    "period-negative": ('totp-01 with "period": -30',
                        dict(challenge="totp-01", extra={"period": -30})),
    "account-status-null": ('newAccount answers an account with '
                            '"status": null', dict(challenge="ppkp-01")),
    "retry-after-huge": ("after finalize the order stays processing with "
                         "Retry-After: " + HUGE_RETRY_AFTER,
                         dict(challenge="ppkp-01")),
    "token-text": ("cert-01 whose token is the sentence '%s'" % HOSTILE_TEXT,
                   dict(challenge="cert-01", token=HOSTILE_TEXT)),
    "token-text-ppkp": ("ppkp-01 whose token is the sentence '%s'"
                        % HOSTILE_TEXT,
                        dict(challenge="ppkp-01", token=HOSTILE_TEXT)),
    "token-long": ("ppkp-01 whose token is 4000 base64url characters",
                   dict(challenge="ppkp-01", token="long")),
    "token-long-cert": ("cert-01 whose token is 4000 base64url characters",
                        dict(challenge="cert-01", token="long")),
    "token-short": ("ppkp-01 whose token is 21 base64url characters "
                    "(less than 128 bits)",
                    dict(challenge="ppkp-01", token="A" * 21)),
    "token-128": ("ppkp-01 whose token is 128 random base64url characters "
                  "(the longest a client signs: must succeed)",
                  dict(challenge="ppkp-01", token=128)),
    "token-129": ("ppkp-01 whose token is 129 random base64url characters "
                  "(one too many)", dict(challenge="ppkp-01", token=129)),
    "misissue-other-key": ("the certificate issued is for another key than "
                           "the CSR's", dict(challenge="ppkp-01",
                                             misissue="other-key")),
    "chain-garbage": ("the certificate URL answers a PEM block that is not "
                      "a certificate", dict(challenge="ppkp-01",
                                            misissue="garbage")),
    "foreign-url": ("the challenge URL is on another origin "
                    "(https://localhost:PORT, the same server under another "
                    "name)", dict(challenge="ppkp-01", foreign_url=True)),
    "pending-error": ("the challenge answer gets HTTP 200 with the "
                      "challenge still pending and an error (RFC 8555 "
                      "§8.2 style); the authorization stays pending",
                      dict(challenge="totp-01")),
    "no-preauth-reuse": ("newAuthz offered, but newOrder returns fresh "
                         "pending authorizations (totp-01, 10-second "
                         "steps: the second answer waits for the next "
                         "step, at most 10 s instead of 30)",
                         dict(challenge="totp-01", reuse=False,
                              extra={"period": 10})),
    "flaky-5xx": ("the first two requests to each resource answer HTTP "
                  "500, then it behaves", dict(challenge="ppkp-01",
                                               newauthz=False, flaky="all")),
    "flaky-5xx-safe": ("the first two requests to each resource answer "
                       "HTTP 500, except newOrder, newAuthz and challenge "
                       "answers (which a client must not repeat)",
                       dict(challenge="ppkp-01", newauthz=False,
                            flaky="safe")),
}
DEFAULTS = dict(challenge="ppkp-01", extra={}, token=None, newauthz=True,
                reuse=True, flaky=None, misissue=None, foreign_url=False)


def b64u(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rand_id(n=12):
    return b64u(secrets.token_bytes(n))


def thumbprint(jwk):
    """RFC 7638 thumbprint of a public JWK."""
    req = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"),
           "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canon = json.dumps({k: jwk[k] for k in req}, sort_keys=True,
                       separators=(",", ":"))
    return b64u(hashlib.sha256(canon.encode()).digest())


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + der_len(len(b)) + b


def ecdsa_raw_to_der(sig):
    half = len(sig) // 2
    body = der_int(sig[:half]) + der_int(sig[half:])
    return b"\x30" + der_len(len(body)) + body


def hotp(seed, counter, digits=6, alg="SHA1"):
    mac = hmac.new(seed, struct.pack(">Q", counter),
                   getattr(hashlib, alg.lower())).digest()
    off = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return "%0*d" % (digits, code % (10 ** digits))


class PKI:
    """The CA's throwaway keys and certificates (openssl CLI)."""

    def __init__(self, directory, openssl):
        self.dir = directory
        self.openssl = openssl
        os.makedirs(directory, exist_ok=True)
        self.lock = threading.Lock()
        self.root = os.path.join(directory, "root.pem")
        self.root_key = os.path.join(directory, "root-key.pem")
        self.tls_root = os.path.join(directory, "tls-root.pem")
        self.tls_root_key = os.path.join(directory, "tls-root-key.pem")
        self.tls_cert = os.path.join(directory, "tls-server.pem")
        self.tls_key = os.path.join(directory, "tls-server-key.pem")
        if not os.path.exists(self.root):
            self._ca(self.root, self.root_key, "Hostile Test Issuing Root")
        if not os.path.exists(self.tls_root):
            self._ca(self.tls_root, self.tls_root_key, "Hostile Test TLS Root")
        if not os.path.exists(self.tls_cert):
            self._tls_server()

    def run(self, *args, data=None):
        p = subprocess.run([self.openssl] + list(args), input=data,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           check=False)
        if p.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (args[0],
                                                   p.stderr.decode()[-400:]))
        return p.stdout

    def _ca(self, cert, key, cn):
        self.run("req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                 "-out", cert, "-subj", "/O=Hostile Test/CN=" + cn,
                 "-days", "3650",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _tls_server(self):
        with tempfile.TemporaryDirectory() as t:
            csr = os.path.join(t, "s.csr")
            ext = os.path.join(t, "s.ext")
            self.run("req", "-new", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                     self.tls_key, "-out", csr, "-subj", "/CN=127.0.0.1")
            with open(ext, "w") as f:
                f.write("basicConstraints=critical,CA:FALSE\n"
                        "keyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=serverAuth\n"
                        "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
            self.run("x509", "-req", "-in", csr, "-CA", self.tls_root,
                     "-CAkey", self.tls_root_key, "-set_serial",
                     "0x" + secrets.token_hex(12), "-days", "3650",
                     "-extfile", ext, "-out", self.tls_cert)

    def issue(self, csr_der, workdir, other_key=False):
        """A leaf for the CSR's key: its KU/EKU/SAN, CA:FALSE, 30 days
        (other_key: for a fresh key instead, a misissuance)."""
        with self.lock:
            name = os.path.join(workdir, "csr-" + rand_id(6))
            with open(name + ".der", "wb") as f:
                f.write(csr_der)
            # -verify: the CSR is signed by the key it carries
            self.run("req", "-inform", "DER", "-in", name + ".der",
                     "-verify", "-out", name + ".pem")
            with open(name + ".ext", "w") as f:
                f.write("basicConstraints=critical,CA:FALSE\n")
            force = []
            if other_key:
                self.run("genpkey", "-algorithm", "EC", "-pkeyopt",
                         "ec_paramgen_curve:P-256", "-out", name + ".other")
                self.run("pkey", "-in", name + ".other", "-pubout", "-out",
                         name + ".otherpub")
                force = ["-force_pubkey", name + ".otherpub"]
            self.run(*(["x509", "-req", "-in", name + ".pem", "-CA",
                        self.root, "-CAkey", self.root_key, "-set_serial",
                        "0x" + secrets.token_hex(12), "-days", "30",
                        "-copy_extensions", "copy", "-extfile",
                        name + ".ext", "-out", name + ".crt"] + force))
            with open(name + ".crt") as f:
                leaf = f.read()
            with open(self.root) as f:
                root = f.read()
            return leaf + root

    def verify(self, pub_pem, alg, data, sig):
        """Verifies a JWS-encoded signature (raw r||s for ES*) over data."""
        digest = {"ES256": "-sha256", "ES384": "-sha384", "ES512": "-sha512",
                  "RS256": "-sha256", "PS256": "-sha256"}.get(alg)
        if digest is None:
            return "unsupported alg %r" % alg
        if alg.startswith("ES"):
            sig = ecdsa_raw_to_der(sig)
        with tempfile.TemporaryDirectory() as t:
            files = {}
            for n, v in (("pub", pub_pem), ("data", data), ("sig", sig)):
                files[n] = os.path.join(t, n)
                with open(files[n], "wb") as f:
                    f.write(v if isinstance(v, bytes) else v.encode())
            args = ["dgst", digest, "-verify", files["pub"], "-signature",
                    files["sig"]]
            if alg == "PS256":
                args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt",
                         "rsa_pss_saltlen:32"]
            try:
                self.run(*(args + [files["data"]]))
                return "ok"
            except RuntimeError as e:
                return "bad: " + str(e)[-120:]

    def cert_pubkey(self, der):
        return self.run("x509", "-inform", "DER", "-noout", "-pubkey",
                        data=der).decode()


def spki_p256_thumbprint(pem):
    """Thumbprint of a P-256 public key PEM (SPKI: the point is last)."""
    der = base64.b64decode("".join(l for l in pem.splitlines()
                                   if l and not l.startswith("-----")))
    point = der[-65:]
    if point[0] != 4:
        return None
    return thumbprint({"kty": "EC", "crv": "P-256", "x": b64u(point[1:33]),
                       "y": b64u(point[33:])})


class CA:
    def __init__(self, args):
        self.case = args.case
        self.cfg = dict(DEFAULTS)
        self.cfg.update(CASES[args.case][1])
        self.pki = PKI(args.pki, args.openssl)
        self.work = args.work
        os.makedirs(self.work, exist_ok=True)
        self.logf = open(args.log, "a")
        self.lock = threading.RLock()
        self.base = None
        self.seq = 0
        self.nonces = set()
        self.used_nonces = set()
        self.accounts = {}      # id -> {jwk, thumb, status}
        self.by_thumb = {}
        self.authzs = {}        # id -> authz dict
        self.challenges = {}    # id -> challenge dict
        self.orders = {}        # id -> order dict
        self.certs = {}         # id -> PEM chain
        self.hits = {}          # path -> count (flaky)
        self.totp_used = set()  # steps accepted
        self.hotp_next = 0
        self.seed = None
        if args.otp_seed_file:
            with open(args.otp_seed_file) as f:
                s = f.read().strip().replace(" ", "").upper()
            self.seed = base64.b32decode(s + "=" * (-len(s) % 8))
        self.ppkp_thumb = None
        self.ppkp_pub = None
        if args.ppkp_pub:
            with open(args.ppkp_pub) as f:
                self.ppkp_pub = f.read()
            self.ppkp_thumb = spki_p256_thumbprint(self.ppkp_pub)

    # ---- log ---------------------------------------------------------
    def log(self, rec):
        with self.lock:
            self.seq += 1
            rec = dict(rec, seq=self.seq, t=round(time.time(), 3),
                       case=self.case)
            self.logf.write(json.dumps(rec, sort_keys=True) + "\n")
            self.logf.flush()

    def nonce(self):
        n = rand_id(16)
        with self.lock:
            self.nonces.add(n)
        return n

    # ---- objects -----------------------------------------------------
    def url(self, kind, oid):
        return "%s/%s/%s" % (self.base, kind, oid)

    def token(self):
        t = self.cfg["token"]
        if t is None:
            return rand_id(16)          # 22 characters, 128 bits
        if t == "long":
            return (rand_id(3000))[:4000]
        if isinstance(t, int):
            return rand_id(t)[:t]
        return t

    def new_authz(self, acct, ident):
        aid = rand_id()
        cid = rand_id()
        curl = self.url("chall", cid)
        if self.cfg["foreign_url"]:
            curl = curl.replace("https://127.0.0.1:", "https://localhost:", 1)
        ch = {"type": self.cfg["challenge"], "url": curl,
              "status": "pending", "token": self.token()}
        if ch["type"] in ("totp-01", "hotp-01"):
            ch.update({"digits": 6, "algorithm": "SHA1"})
            if ch["type"] == "totp-01":
                ch["period"] = 30
        ch.update(self.cfg["extra"])
        self.challenges[cid] = dict(obj=ch, authz=aid)
        self.authzs[aid] = dict(
            acct=acct, consumed=False,
            obj={"identifier": dict(ident), "status": "pending",
                 "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                          time.gmtime(time.time() + 86400)),
                 "challenges": [ch]})
        return aid

    def order_obj(self, oid):
        o = self.orders[oid]
        obj = {"status": o["status"], "expires": o["expires"],
               "identifiers": o["identifiers"],
               "authorizations": [self.url("authz", a) for a in o["authz"]],
               "finalize": self.url("order", oid) + "/finalize"}
        if o.get("cert"):
            obj["certificate"] = self.url("cert", o["cert"])
        return obj

    def update_orders(self):
        for o in self.orders.values():
            if o["status"] == "pending" and all(
                    self.authzs[a]["obj"]["status"] == "valid"
                    for a in o["authz"]):
                o["status"] = "ready"

    # ---- flakiness ---------------------------------------------------
    def flake(self, method, path, payload):
        mode = self.cfg["flaky"]
        if mode is None:
            return False
        if mode == "safe":
            if path in ("/new-order", "/new-authz"):
                return False
            if path.startswith("/chall/") and payload:
                return False
        with self.lock:
            n = self.hits.get(path, 0) + 1
            self.hits[path] = n
        return n <= 2


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile-ca/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("hostile_ca: %s\n" % (fmt % args))

    @property
    def ca(self):
        return self.server.ca

    def send(self, status, ctype, body, headers=None, rec=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Replay-Nonce", self.ca.nonce())
        self.send_header("Cache-Control", "no-store")
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if rec is not None:
            rec["status"] = status
            if headers:
                rec["headers"] = headers
            self.ca.log(rec)

    def problem(self, status, ptype, detail, rec, headers=None):
        rec["problem"] = ptype
        self.send(status, "application/problem+json",
                  {"type": "urn:ietf:params:acme:error:" + ptype,
                   "detail": detail, "status": status}, headers, rec)

    # ---- GET / HEAD --------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        rec = {"method": self.command, "path": self.path}
        if self.ca.flake(self.command, self.path, None):
            rec["flaked"] = True
            return self.send(500, "text/plain", "flaky\n", rec=rec)
        if self.path == "/directory" and self.command == "GET":
            b = self.ca.base
            d = {"newNonce": b + "/new-nonce", "newAccount": b + "/new-acct",
                 "newOrder": b + "/new-order", "revokeCert": b + "/revoke",
                 "keyChange": b + "/key-change",
                 "meta": {"termsOfService": b + "/terms"}}
            if self.ca.cfg["newauthz"]:
                d["newAuthz"] = b + "/new-authz"
            return self.send(200, "application/json", d, rec=rec)
        if self.path == "/new-nonce":
            return self.send(200 if self.command == "HEAD" else 204, None,
                             b"", rec=rec)
        self.send(404, "text/plain", "not here\n", rec=rec)

    # ---- POST --------------------------------------------------------
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        rec = {"method": "POST", "path": self.path,
               "host": self.headers.get("Host"),
               "content_type": self.headers.get("Content-Type")}
        try:
            jws = json.loads(raw)
            prot = json.loads(b64u_dec(jws["protected"]))
            payload = b64u_dec(jws["payload"]).decode()
        except Exception as e:  # noqa: BLE001 - anything malformed
            rec["raw"] = raw[:2000].decode(errors="replace")
            return self.problem(400, "malformed", "not a JWS: %s" % e, rec)
        rec["protected"] = prot
        rec["payload"] = payload
        try:
            rec["payload_json"] = json.loads(payload) if payload else None
        except ValueError:
            rec["payload_json"] = None
        rec["kind"] = "post-as-get" if payload == "" else "post"
        ca = self.ca
        # nonce: single use, and one we issued
        with ca.lock:
            nonce = prot.get("nonce")
            fresh = nonce in ca.nonces and nonce not in ca.used_nonces
            if nonce is not None:
                ca.used_nonces.add(nonce)
        if ca.flake("POST", self.path, payload):
            rec["flaked"] = True
            return self.send(500, "text/plain", "flaky\n", rec=rec)
        if not fresh:
            rec["note"] = "nonce reused or unknown"
            return self.problem(400, "badNonce", "nonce reused or unknown",
                                rec)
        if prot.get("url") != ca.base + self.path and prot.get("url") != (
                ca.base.replace("127.0.0.1", "localhost") + self.path):
            rec["note"] = "protected url %r" % prot.get("url")
            return self.problem(401, "unauthorized",
                                "protected url is not the request URL", rec)
        if self.path == "/new-acct":
            return self.new_account(prot, payload, rec)
        acct = None
        kid = prot.get("kid") or ""
        if kid.startswith(ca.base + "/acct/"):
            acct = kid[len(ca.base + "/acct/"):]
        if acct not in ca.accounts:
            return self.problem(400, "accountDoesNotExist",
                                "no account %r" % kid, rec)
        p = self.path
        with ca.lock:
            if p == "/new-order":
                return self.new_order(acct, rec)
            if p == "/new-authz" and ca.cfg["newauthz"]:
                return self.new_authz(acct, rec)
            if p.startswith("/authz/"):
                return self.authz(p[7:], acct, rec)
            if p.startswith("/chall/"):
                return self.challenge(p[7:], acct, payload, rec)
            if p.startswith("/order/") and p.endswith("/finalize"):
                return self.finalize(p[7:-9], acct, rec)
            if p.startswith("/order/"):
                return self.order(p[7:], acct, rec)
            if p.startswith("/cert/"):
                return self.cert(p[6:], rec)
            if p.startswith("/acct/"):
                a = ca.accounts.get(p[6:])
                return self.send(200, "application/json",
                                 {"status": a["status"], "contact": [],
                                  "orders": self.path + "/orders"}, rec=rec)
        self.problem(404, "malformed", "no such resource", rec)

    def new_account(self, prot, payload, rec):
        ca = self.ca
        jwk = prot.get("jwk")
        if not isinstance(jwk, dict):
            return self.problem(400, "malformed", "newAccount needs jwk", rec)
        th = thumbprint(jwk)
        with ca.lock:
            aid = ca.by_thumb.get(th)
            created = aid is None
            if created:
                aid = rand_id()
                ca.by_thumb[th] = aid
                ca.accounts[aid] = {"jwk": jwk, "thumb": th,
                                    "status": "valid"}
        rec["account_thumbprint"] = th
        body = json.loads(payload) if payload else {}
        obj = {"status": "valid", "contact": body.get("contact", []),
               "orders": ca.url("acct", aid) + "/orders"}
        if ca.case == "account-status-null":
            obj["status"] = None
        self.send(201 if created else 200, "application/json", obj,
                  {"Location": ca.url("acct", aid)}, rec)

    def new_authz(self, acct, rec):
        ca = self.ca
        ident = (rec["payload_json"] or {}).get("identifier")
        if not isinstance(ident, dict):
            return self.problem(400, "malformed", "no identifier", rec)
        aid = ca.new_authz(acct, ident)
        ca.authzs[aid]["preauth"] = True
        rec["authz"] = aid
        rec["token"] = ca.authzs[aid]["obj"]["challenges"][0]["token"]
        self.send(201, "application/json", ca.authzs[aid]["obj"],
                  {"Location": ca.url("authz", aid)}, rec)

    def new_order(self, acct, rec):
        ca = self.ca
        ids = (rec["payload_json"] or {}).get("identifiers")
        if not isinstance(ids, list) or not ids:
            return self.problem(400, "malformed", "no identifiers", rec)
        azs = []
        for ident in ids:
            found = None
            if ca.cfg["reuse"]:
                for aid, a in ca.authzs.items():
                    if (a.get("preauth") and not a["consumed"]
                            and a["acct"] == acct
                            and a["obj"]["status"] == "valid"
                            and a["obj"]["identifier"] == ident):
                        found = aid
                        a["consumed"] = True
                        break
            azs.append(found or ca.new_authz(acct, ident))
        oid = rand_id()
        ca.orders[oid] = {
            "acct": acct, "status": "pending", "identifiers": ids,
            "authz": azs, "expires": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))}
        ca.update_orders()
        rec["order"] = oid
        rec["authz_reused"] = [a for a in azs if ca.authzs[a].get("preauth")]
        self.send(201, "application/json", ca.order_obj(oid),
                  {"Location": ca.url("order", oid)}, rec)

    def authz(self, aid, acct, rec):
        a = self.ca.authzs.get(aid)
        if a is None or a["acct"] != acct:
            return self.problem(404, "malformed", "no such authorization", rec)
        pj = rec["payload_json"]
        if isinstance(pj, dict) and pj.get("status") == "deactivated":
            a["obj"]["status"] = "deactivated"
        rec["token"] = a["obj"]["challenges"][0]["token"]
        self.send(200, "application/json", a["obj"], rec=rec)

    def challenge(self, cid, acct, payload, rec):
        ca = self.ca
        c = ca.challenges.get(cid)
        if c is None or ca.authzs[c["authz"]]["acct"] != acct:
            return self.problem(404, "malformed", "no such challenge", rec)
        ch = c["obj"]
        az = ca.authzs[c["authz"]]
        link = {"Link": '<%s>;rel="up"' % ca.url("authz", c["authz"])}
        rec["challenge_type"] = ch["type"]
        rec["token"] = ch["token"]
        if payload == "" or ch["status"] != "pending":
            return self.send(200, "application/json", ch, link, rec)
        resp = rec["payload_json"]
        rec["answer"] = True
        verdict = self.check_answer(ch, acct, resp, rec)
        if ca.case == "pending-error":
            # RFC 8555 §8.2: the CA may keep the challenge pending and say
            # why; the authorization stays pending too.
            ch["error"] = {"type": "urn:ietf:params:acme:error:"
                                   "incorrectResponse",
                           "detail": PENDING_DETAIL, "status": 400}
            rec["verdict"] = verdict
            return self.send(200, "application/json", ch, link, rec)
        if verdict != "ok":
            rec["verdict"] = verdict
            return self.problem(400, "incorrectResponse", verdict, rec)
        ch["status"] = "valid"
        ch["validated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        az["obj"]["status"] = "valid"
        ca.update_orders()
        rec["verdict"] = "ok"
        self.send(200, "application/json", ch, link, rec)

    def check_answer(self, ch, acct, resp, rec):
        """What a real CA checks (docs/protocol.md §4)."""
        ca = self.ca
        if not isinstance(resp, dict):
            return "response is not an object"
        t = ch["type"]
        ka = "%s.%s" % (ch["token"], ca.accounts[acct]["thumb"])
        if t in ("totp-01", "hotp-01"):
            otp = resp.get("otp")
            rec["otp"] = otp
            if ca.seed is None:
                return "ok"
            digits, alg = 6, "SHA1"
            if t == "totp-01":
                # the period this challenge offered (a sane one; the
                # hostile values are refused before any answer)
                period = ch.get("period", 30)
                if not isinstance(period, int) or not 1 <= period <= 3600:
                    period = 30
                now = int(time.time()) // period
                for step in range(now - 3, now + 4):
                    if hotp(ca.seed, step, digits, alg) == otp:
                        rec["otp_step"] = step
                        rec["otp_step_offset"] = step - now
                        if step in ca.totp_used:
                            return "TOTP step %d was accepted before" % step
                        if abs(step - now) > 1:
                            return "TOTP step %d is out of window" % step
                        ca.totp_used.add(step)
                        return "ok"
                return "wrong TOTP"
            for ctr in range(ca.hotp_next, ca.hotp_next + 10):
                if hotp(ca.seed, ctr, digits, alg) == otp:
                    rec["otp_counter"] = ctr
                    ca.hotp_next = ctr + 1
                    return "ok"
            return "wrong HOTP"
        if t in ("cert-01", "ppkp-01"):
            rec["signed_text_expected"] = ka[:200]
            try:
                sig = b64u_dec(resp["signature"])
                alg = resp["alg"]
                if t == "cert-01":
                    pub = ca.pki.cert_pubkey(base64.b64decode(resp["x5c"][0]))
                else:
                    if ca.ppkp_pub is None:
                        return "ok"
                    if resp.get("kid") != ca.ppkp_thumb:
                        return "kid %r is not registered" % resp.get("kid")
                    pub = ca.ppkp_pub
            except Exception as e:  # noqa: BLE001
                return "malformed %s response: %s" % (t, e)
            v = ca.pki.verify(pub, alg, ka.encode(), sig)
            rec["signature_check"] = v
            return "ok" if v == "ok" else "signature does not verify: " + v
        return "ok"

    def finalize(self, oid, acct, rec):
        ca = self.ca
        o = ca.orders.get(oid)
        if o is None or o["acct"] != acct:
            return self.problem(404, "malformed", "no such order", rec)
        if o["status"] != "ready":
            return self.problem(403, "orderNotReady",
                                "order is %s" % o["status"], rec)
        try:
            csr = b64u_dec((rec["payload_json"] or {})["csr"])
            chain = ca.pki.issue(csr, ca.work,
                                 ca.cfg["misissue"] == "other-key")
        except Exception as e:  # noqa: BLE001
            return self.problem(400, "badCSR", "cannot issue: %s" % e, rec)
        cid = rand_id()
        ca.certs[cid] = chain
        headers = {"Location": ca.url("order", oid)}
        if ca.case == "retry-after-huge":
            o["status"] = "processing"
            o["held_cert"] = cid
            headers["Retry-After"] = HUGE_RETRY_AFTER
        else:
            o["status"] = "valid"
            o["cert"] = cid
        self.send(200, "application/json", ca.order_obj(oid), headers, rec)

    def order(self, oid, acct, rec):
        ca = self.ca
        o = ca.orders.get(oid)
        if o is None or o["acct"] != acct:
            return self.problem(404, "malformed", "no such order", rec)
        headers = None
        if o["status"] == "processing" and ca.case == "retry-after-huge":
            headers = {"Retry-After": HUGE_RETRY_AFTER}
        self.send(200, "application/json", ca.order_obj(oid), headers, rec)

    def cert(self, cid, rec):
        chain = self.ca.certs.get(cid)
        if chain is None:
            return self.problem(404, "malformed", "no such certificate", rec)
        if self.ca.cfg["misissue"] == "garbage":
            chain = ("-----BEGIN CERTIFICATE-----\n%s\n"
                     "-----END CERTIFICATE-----\n" % HOSTILE_TEXT)
        self.send(200, "application/pem-certificate-chain", chain, rec=rec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", default="normal")
    ap.add_argument("--pki")
    ap.add_argument("--work")
    ap.add_argument("--url-file")
    ap.add_argument("--log")
    ap.add_argument("--otp-seed-file")
    ap.add_argument("--ppkp-pub")
    ap.add_argument("--openssl", default=os.environ.get("OPENSSL_BIN")
                    or "openssl")
    ap.add_argument("--list-cases", action="store_true")
    args = ap.parse_args()
    if args.list_cases:
        for k, (what, _) in CASES.items():
            print("%-20s %s" % (k, what))
        return 0
    if args.case not in CASES:
        ap.error("unknown case %r (--list-cases)" % args.case)
    for a in ("pki", "work", "url_file", "log"):
        if getattr(args, a) is None:
            ap.error("--%s is required" % a.replace("_", "-"))
    ca = CA(args)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ca.pki.tls_cert, ca.pki.tls_key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.ca = ca
    ca.base = "https://127.0.0.1:%d" % srv.server_address[1]
    ca.log({"event": "start", "directory": ca.base + "/directory",
            "what": CASES[args.case][0]})
    tmp = args.url_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(ca.base + "/directory\n")
    os.rename(tmp, args.url_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
