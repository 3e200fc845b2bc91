#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A scripted HTTPS ACME endpoint for the failure paths Pebble cannot show:
503 / rateLimited with Retry-After, endless badNonce, oversized and mistyped
bodies, newAuthz, renewalInfo (RFC 9773) and an order that stays
"processing" for a while.  It checks each JWS it gets (content type,
protected nonce and url), and answers on 127.0.0.1 only.

    mock_ca.py CERT KEY PORTFILE
"""
import base64
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {}
nonce_seq = [0]


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("mock_ca: " + (fmt % args) + "\n")

    def base(self):
        return "https://127.0.0.1:%d" % self.server.server_address[1]

    def send(self, status, ctype, body, headers=None):
        if isinstance(body, str):
            body = body.encode()
        nonce_seq[0] += 1
        self.send_response(status)
        self.send_header("Replay-Nonce", "nonce-%d" % nonce_seq[0])
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
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

    def do_HEAD(self):
        self.send(200, None, b"")

    def do_GET(self):
        if self.path == "/dir":
            b = self.base()
            self.send(200, "application/json", json.dumps({
                "newNonce": b + "/nonce", "newAccount": b + "/new-acct",
                "newOrder": b + "/new-order", "revokeCert": b + "/revoke",
                "keyChange": b + "/key-change", "newAuthz": b + "/new-authz",
                "renewalInfo": b + "/ari/",
                "meta": {"caaIdentities": ["mock.test", "example.org"],
                         "website": "https://mock.test/"}}))
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

    def do_POST(self):
        bad = self.check_jws()
        if bad:
            self.problem(400, "malformed", "mock: " + bad)
            return
        p = self.path
        c = counts[p] = counts.get(p, 0) + 1
        if p == "/new-acct":
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
