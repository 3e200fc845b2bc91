#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A scripted HTTPS ACME endpoint for the failure paths Pebble cannot show:
503 / rateLimited with Retry-After, endless badNonce, oversized and mistyped
bodies, newAuthz, renewalInfo (RFC 9773) and an order that stays
"processing" for a while.  It checks each JWS it gets (content type,
protected nonce and url), and answers on 127.0.0.1 only.

Transient failures: a request to /flaky/MODE/N/NAME fails N times, then
is answered as NAME.  MODE is 500 (HTTP 500), close (the connection is
closed without an answer) or hang (no answer for 4 s).  /fin-lost,
/chal-lost and /revoke-lost act on their first request but answer it with
500, as a CA whose answer was lost.  GET /count/PATH says how many
requests PATH got.

    mock_ca.py CERT KEY PORTFILE
"""
import base64
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {}
nonce_seq = [0]
lock = threading.Lock()
state = {}


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("mock_ca: " + (fmt % args) + "\n")

    def base(self):
        return "https://127.0.0.1:%d" % self.server.server_address[1]

    def send(self, status, ctype, body, headers=None, nonce=True):
        if isinstance(body, str):
            body = body.encode()
        nonce_seq[0] += 1
        self.send_response(status)
        if nonce:
            self.send_header("Replay-Nonce", "nonce-%d" % nonce_seq[0])
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def problem(self, status, ptype, detail, headers=None):
        doc = {"type": "urn:ietf:params:acme:error:" + ptype, "detail": detail}
        self.send(status, "application/problem+json", json.dumps(doc), headers)

    def authz(self, status="valid"):
        return json.dumps({
            "status": status,
            "identifier": {"type": "dns", "value": "mock.test"},
            "challenges": [{"type": "http-01", "url": self.base() + "/chal",
                            "token": "tok", "status": status}]})

    def count(self):
        with lock:
            c = counts[self.path] = counts.get(self.path, 0) + 1
        return c

    def flaky(self):
        """For /flaky/MODE/N/NAME: fails this request and returns None,
        or returns NAME once N requests have failed."""
        parts = self.path.split("/")
        if len(parts) != 5 or parts[1] != "flaky":
            return self.path
        mode, n, name = parts[2], int(parts[3]), parts[4]
        if self.count() > n:
            return name
        if mode == "500":
            self.send(500, "text/html", "<h1>oops</h1>")
        elif mode == "hang":
            time.sleep(4)
            self.close_connection = True
        else:
            self.close_connection = True
        return None

    def directory(self, variant):
        b = self.base()
        d = {"newNonce": b + "/nonce", "newAccount": b + "/new-acct",
             "newOrder": b + "/new-order", "revokeCert": b + "/revoke",
             "keyChange": b + "/key-change", "newAuthz": b + "/new-authz",
             "renewalInfo": b + "/ari/",
             "meta": {"caaIdentities": ["mock.test", "example.org"],
                      "website": "https://mock.test/"}}
        if variant == "dir":
            d["newNonce"] = b + "/flaky/500/2/nonce"
            d["newOrder"] = b + "/flaky/500/9/new-order"
            d["revokeCert"] = b + "/revoke-lost"
        elif variant == "/dir-close":
            d["newOrder"] = b + "/flaky/close/9/new-order"
        # without a nonce here, the first signed request asks newNonce
        self.send(200, "application/json", json.dumps(d),
                  nonce=variant == "/dir")

    def do_HEAD(self):
        if self.flaky() is not None:
            self.send(200, None, b"")

    def do_GET(self):
        if self.path.startswith("/count/"):
            with lock:
                n = counts.get(self.path[len("/count"):], 0)
            self.send(200, "text/plain", str(n))
            return
        name = self.flaky()
        if name is None:
            return
        if name in ("/dir", "dir", "/dir-close"):
            self.directory(name)
        elif self.path.startswith("/ari/"):
            counts["ari_path"] = self.path
            self.send(200, "application/json", json.dumps({
                "suggestedWindow": {"start": "2030-01-02T03:04:05Z",
                                    "end": "2030-01-03T03:04:05.5Z"},
                "explanationURL": "https://mock.test/why"}),
                {"Retry-After": "21600"})
        else:
            self.send(404, "text/plain", "no")

    def check_jws(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.payload = None
        if self.headers.get("Content-Type") != "application/jose+json":
            return "wrong content type"
        jws = json.loads(body)
        prot = json.loads(b64d(jws["protected"]))
        if prot.get("url") != self.base() + self.path:
            return "url %s does not match" % prot.get("url")
        if not prot.get("nonce", "").startswith("nonce-"):
            return "no nonce"
        if ("jwk" in prot) == ("kid" in prot):
            return "exactly one of jwk and kid"
        if jws["payload"]:
            self.payload = json.loads(b64d(jws["payload"]))
        return None

    def order(self, status, finalize, cert=False):
        doc = {"status": status, "finalize": self.base() + finalize,
               "identifiers": [{"type": "dns", "value": "mock.test"}],
               "authorizations": []}
        if cert:
            doc["certificate"] = self.base() + "/cert"
        return json.dumps(doc)

    def challenge(self, status):
        return json.dumps({"type": "http-01", "url": self.base() + self.path,
                           "token": "tok", "status": status})

    def retried(self, name):
        """Answers /flaky/.../NAME once its failures are over."""
        if name in ("authz", "authz-cancel"):
            self.send(200, "application/json", self.authz())
        elif name == "order-ready":
            self.send(200, "application/json",
                      self.order("ready", "/flaky/500/2/fin"))
        elif name == "fin":
            self.send(200, "application/json",
                      self.order("processing", "/flaky/500/2/fin"))
        elif name in ("chal", "chal-otp"):
            self.send(200, "application/json", self.challenge("processing"))
        else:
            self.problem(404, "malformed", "no such resource " + name)

    def lost(self, p, c):
        """The CA acted on the first request but its answer was lost."""
        if c == 1 and not (p == "/chal-lost" and self.payload is None):
            state[p] = True
            self.send(500, "text/html", "<h1>lost</h1>")
        elif p == "/fin-lost":
            self.problem(403, "orderNotReady", "order is not ready")
        elif p == "/revoke-lost":
            self.problem(400, "alreadyRevoked", "already revoked")
        elif self.payload is None:
            self.send(200, "application/json", self.challenge(
                "valid" if state.get(p) else "pending"))
        else:
            self.problem(400, "malformed", "challenge is not pending")

    def do_POST(self):
        bad = self.check_jws()
        if bad:
            self.problem(400, "malformed", "mock: " + bad)
            return
        p = self.path
        if p.startswith("/flaky/"):
            name = self.flaky()
            if name is not None:
                self.retried(name)
            return
        c = self.count()
        if p in ("/fin-lost", "/chal-lost", "/revoke-lost"):
            self.lost(p, c)
        elif p == "/order/lost":
            done = state.get("/fin-lost", False)
            self.send(200, "application/json", self.order(
                "valid" if done else "ready", "/fin-lost", done))
        elif p in ("/chal-valid", "/chal-pending"):
            # a CA that validates at once, and one that does not
            self.send(200, "application/json", self.challenge(p[6:]))
        elif p == "/new-acct":
            self.send(201, "application/json", '{"status":"valid"}',
                      {"Location": self.base() + "/acct/1"})
        elif p == "/retry503":
            if c == 1:
                self.send(503, "text/html", "<h1>busy</h1>",
                          {"Retry-After": "1"})
            else:
                self.send(200, "application/json", self.authz())
        elif p == "/ratelimited-short":
            if c == 1:
                self.problem(429, "rateLimited", "slow down",
                             {"Retry-After": "1"})
            else:
                self.send(200, "application/json", self.authz())
        elif p == "/ratelimited-long":
            self.problem(429, "rateLimited", "come back tomorrow",
                         {"Retry-After": "86400"})
        elif p == "/badnonce":
            self.problem(400, "badNonce", "mock rejects every nonce (%d)" % c)
        elif p == "/badnonce-once":
            if c == 1:
                self.problem(400, "badNonce", "mock rejects the first nonce")
            else:
                self.send(200, "application/json", self.authz())
        elif p == "/huge":
            self.send(200, "application/json", b" " * (2 * 1024 * 1024))
        elif p == "/html":
            self.send(200, "text/html", "<html></html>")
        elif p == "/new-order":
            want = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
            if (self.payload or {}).get("replaces") != want:
                self.problem(400, "malformed", "replaces missing or wrong")
                return
            self.send(201, "application/json", json.dumps({
                "status": "pending", "finalize": self.base() + "/fin",
                "identifiers": self.payload["identifiers"],
                "authorizations": [self.base() + "/authz/pre"]}),
                {"Location": self.base() + "/order/new"})
        elif p == "/new-authz":
            self.send(201, "application/json", self.authz(),
                      {"Location": self.base() + "/authz/pre"})
        elif p in ("/order/slow", "/order/forever"):
            st = "processing" if c <= 2 or "forever" in p else "valid"
            doc = {"status": st, "finalize": self.base() + "/fin",
                   "identifiers": [{"type": "dns", "value": "mock.test"}],
                   "authorizations": []}
            if st == "valid":
                doc["certificate"] = self.base() + "/cert"
            self.send(200, "application/json", json.dumps(doc),
                      {"Retry-After": "1"})
        else:
            self.problem(404, "malformed", "no such resource " + p)


def main():
    cert, key, portfile = sys.argv[1:4]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
