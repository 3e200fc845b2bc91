# SPDX-License-Identifier: Apache-2.0
"""csca's RFC 3161 time-stamp authority, end to end with the tools a
signing setup uses: `openssl ts` makes the queries and verifies the
replies, curl posts them to POST /tsa on the HTTPS listener and on the
plain-HTTP listener of --tsa-port.

    test_tsa.py CSCA_BINARY WORKDIR

csca runs on 127.0.0.1, ports 0, in a throwaway state directory under
WORKDIR; readiness is its port files.  Exit 0 pass, 1 fail, 77 skip (no
curl).
"""
import os
import re
import shutil
import stat
import subprocess
import sys
import traceback

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from acmelib import OPENSSL, Server, ossl  # noqa: E402

QUERY = "application/timestamp-query"
REPLY = "application/timestamp-reply"
DEFAULT_POLICY = "2.25.312079365800634580884430775926010371072"
# how `openssl ts -reply -text` prints each PKIFailureInfo bit
FAIL_TEXT = {
    "badAlg": "unrecognized or unsupported algorithm identifier",
    "badRequest": "transaction not permitted or supported",
    "badDataFormat": "the data submitted has the wrong format",
    "unacceptedPolicy": "the requested TSA policy is not supported by the TSA",
}


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class TSA:
    """csca serve with --tsa-port 0, and the paths a test needs."""

    def __init__(self, csca, work, args=()):
        self.work = work
        self.tsa_port_file = os.path.join(work, "tsa.port")
        self.srv = Server(csca, work, ["--tsa-port", "0", "--tsa-port-file",
                                       self.tsa_port_file, *args])
        self.state = self.srv.state
        self.n = 0

    def start(self):
        if os.path.exists(self.tsa_port_file):
            os.unlink(self.tsa_port_file)
        # Server.start waits for --port-file, written after the TSA's
        self.srv.start()
        with open(self.tsa_port_file) as f:
            self.plain = "http://127.0.0.1:%d/tsa" % int(f.read())
        self.https = self.srv.base + "/tsa"
        return self

    def stop(self):
        check(self.srv.stop() == 0, "csca did not stop cleanly")

    def log(self):
        with open(os.path.join(self.work, "csca.log")) as f:
            return f.read()

    def path(self, name):
        self.n += 1
        return os.path.join(self.work, "%d-%s" % (self.n, name))

    def post(self, url, body_file, ctype=QUERY, method="POST"):
        """curl; returns (status, content type, reply file)."""
        out = self.path("reply.tsr")
        cmd = ["curl", "-sS", "-o", out, "-w", "%{http_code} %{content_type}",
               "--cacert", os.path.join(self.state, "tls-root.pem"),
               "-X", method]
        if body_file is not None:
            cmd += ["--data-binary", "@" + body_file]
        if ctype is not None:
            cmd += ["-H", "Content-Type: " + ctype]
        r = subprocess.run(cmd + [url], capture_output=True, check=True)
        code, _, ct = r.stdout.decode().partition(" ")
        return int(code), ct, out

    def stamp(self, url, query):
        """POST a query that must be answered 200 with a reply."""
        code, ct, out = self.post(url, query)
        check(code == 200, "%s: HTTP %d" % (url, code))
        check(ct == REPLY, "%s: Content-Type %r" % (url, ct))
        return out


def query(t, data, *opts):
    q = t.path("query.tsq")
    ossl("ts", "-query", "-data", data, *opts, "-out", q)
    return q


def reply_text(reply):
    return ossl("ts", "-reply", "-in", reply, "-text").decode()


def field(text, name):
    m = re.search(r"^%s: (.*)$" % re.escape(name), text, re.M)
    return m.group(1).strip() if m else None


def serial(text):
    return int(field(text, "Serial number"), 16)


def verify(data, reply, *opts):
    r = subprocess.run([OPENSSL, "ts", "-verify", "-data", data, "-in", reply,
                        *opts], capture_output=True)
    return (r.stdout + r.stderr).decode()


def rejected(t, url, q, fail):
    text = reply_text(t.stamp(url, q))
    check(field(text, "Status") == "Rejected.", "not rejected:\n" + text)
    check(field(text, "Failure info") == FAIL_TEXT[fail],
          "want %s, got:\n%s" % (fail, text))
    check("TST info" not in text or "Not included" in text,
          "a rejection with a TSTInfo")


def check_tsa_cert(t):
    """RFC 3161 §2.3: timeStamping the only EKU, critical."""
    pem = os.path.join(t.state, "tsa.pem")
    text = ossl("x509", "-in", pem, "-noout", "-text").decode()
    m = re.search(r"X509v3 Extended Key Usage:( critical)?\n\s*(.*)\n", text)
    check(m and m.group(1), "EKU missing or not critical:\n" + text)
    check(m.group(2).strip() == "Time Stamping", "EKU is %r" % m.group(2))
    m = re.search(r"X509v3 Key Usage:( critical)?\n\s*(.*)\n", text)
    check(m and m.group(1) and m.group(2).strip() == "Digital Signature",
          "keyUsage is not critical digitalSignature only")
    check("CA:FALSE" in text and "prime256v1" in text, "not a P-256 leaf")
    ossl("verify", "-CAfile", os.path.join(t.state, "root.pem"),
         "-purpose", "timestampsign", pem)
    root_end = ossl("x509", "-in", os.path.join(t.state, "root.pem"),
                    "-noout", "-enddate")
    check(ossl("x509", "-in", pem, "-noout", "-enddate") == root_end,
          "tsa.pem does not end with the root (10 years, capped)")
    mode = stat.S_IMODE(os.stat(os.path.join(t.state, "tsa-key.pem")).st_mode)
    check(mode == 0o600, "tsa-key.pem mode %o" % mode)


def check_granted(t, data, url):
    """Both verification paths of a granted reply, and the nonce."""
    q = query(t, data, "-sha256", "-cert")
    qtext = ossl("ts", "-query", "-in", q, "-text").decode()
    reply = t.stamp(url, q)
    text = reply_text(reply)
    check(field(text, "Status") == "Granted.", "not granted:\n" + text)
    check(field(text, "Policy OID") == DEFAULT_POLICY, "policy:\n" + text)
    check(field(text, "Hash Algorithm") == "sha256", "hash:\n" + text)
    check(field(text, "Ordering") == "no", "ordering:\n" + text)
    check(field(text, "Accuracy").startswith("0x01 seconds"), text)
    check(field(text, "Nonce") == field(qtext, "Nonce") is not None,
          "nonce %r not echoed: %r" % (field(qtext, "Nonce"),
                                       field(text, "Nonce")))
    root = os.path.join(t.state, "root.pem")
    # -cert asked for the TSA certificate: the reply verifies on its own
    out = verify(data, reply, "-CAfile", root)
    check("Verification: OK" in out, "with the cert in the reply: " + out)
    # without -cert the certificate comes from the state directory
    q2 = query(t, data, "-sha512", "-no_nonce")
    reply2 = t.stamp(url, q2)
    out = verify(data, reply2, "-CAfile", root, "-untrusted",
                 os.path.join(t.state, "tsa.pem"))
    check("Verification: OK" in out, "with -untrusted tsa.pem: " + out)
    out = verify(data, reply2, "-CAfile", root)
    check("Verification: OK" not in out, "verified without any certificate")
    # the reply is bound to the data
    other = t.path("other.txt")
    with open(other, "w") as f:
        f.write("not the stamped data\n")
    out = verify(other, reply, "-CAfile", root)
    check("Verification: OK" not in out, "verified other data")
    return serial(text), serial(reply_text(reply2))


def check_rejections(t, data, garbage):
    rejected(t, t.plain, query(t, data, "-sha1"), "badAlg")
    rejected(t, t.https, query(t, data, "-md5"), "badAlg")
    rejected(t, t.plain, garbage, "badDataFormat")
    # a valid query with trailing bytes is not one TimeStampReq
    q = query(t, data, "-sha256")
    trailing = t.path("trailing.tsq")
    with open(q, "rb") as f, open(trailing, "wb") as g:
        g.write(f.read() + b"\0")
    rejected(t, t.plain, trailing, "badDataFormat")
    truncated = t.path("truncated.tsq")
    with open(q, "rb") as f, open(truncated, "wb") as g:
        g.write(f.read()[:-5])
    rejected(t, t.https, truncated, "badDataFormat")
    rejected(t, t.plain, query(t, data, "-sha256", "-tspolicy", "1.2.3.4"),
             "unacceptedPolicy")
    log = t.log()
    for fail in ("badAlg", "badDataFormat", "unacceptedPolicy"):
        check("csca: POST /tsa -> 200 rejection %s" % fail in log,
              "no log line for %s" % fail)


def check_http(t, data):
    q = query(t, data, "-sha256")
    code, _, _ = t.post(t.plain, q, ctype="application/octet-stream")
    check(code == 415, "wrong Content-Type: HTTP %d" % code)
    code, _, _ = t.post(t.https, q, ctype=None)
    check(code == 415, "no Content-Type: HTTP %d" % code)
    code, ct, _ = t.post(t.plain, q, ctype=QUERY + "; charset=binary")
    check(code == 200 and ct == REPLY, "parameters refused: %d" % code)
    big = t.path("big.tsq")
    with open(big, "wb") as f:
        f.write(b"\x30" * (64 * 1024 + 1))
    code, _, _ = t.post(t.plain, big)
    check(code == 413, "oversized query: HTTP %d" % code)
    code, _, _ = t.post(t.plain, None, ctype=None, method="GET")
    check(code == 405, "GET /tsa: HTTP %d" % code)
    # the plain listener serves /tsa only
    code, _, _ = t.post(t.plain.replace("/tsa", "/directory"), None,
                        ctype=None, method="GET")
    check(code == 404, "GET /directory on the plain listener: HTTP %d" % code)


def check_policy_option(csca, work, data):
    t = TSA(csca, work, ["--tsa-policy", "1.2.3.4"]).start()
    try:
        text = reply_text(t.stamp(t.plain, query(t, data, "-sha256")))
        check(field(text, "Policy OID") == "1.2.3.4", "--tsa-policy ignored")
        text = reply_text(t.stamp(t.plain, query(
            t, data, "-sha256", "-tspolicy", "1.2.3.4")))
        check(field(text, "Status") == "Granted.", "own policy refused")
        rejected(t, t.plain, query(t, data, "-sha256", "-tspolicy",
                                   DEFAULT_POLICY), "unacceptedPolicy")
    finally:
        t.stop()


def main():
    if len(sys.argv) != 3:
        print("usage: test_tsa.py CSCA WORKDIR")
        return 2
    csca, work = sys.argv[1], os.path.join(sys.argv[2], "tsa")
    if shutil.which("curl") is None:
        print("SKIP: curl not found")
        return 77
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data = os.path.join(work, "data.txt")
    with open(data, "w") as f:
        f.write("one signature's worth of data\n")
    garbage = os.path.join(work, "garbage.tsq")
    with open(garbage, "wb") as f:
        f.write(b"this is not DER at all\n")
    t = TSA(csca, work).start()
    try:
        check_tsa_cert(t)
        s1, s2 = check_granted(t, data, t.plain)
        s3, s4 = check_granted(t, data, t.https)
        check(s1 < s2 < s3 < s4, "serials %s" % [s1, s2, s3, s4])
        check("csca: POST /tsa -> 200 granted serial %d" % s4 in t.log(),
              "no log line for serial %d" % s4)
        check_rejections(t, data, garbage)
        check_http(t, data)
        t.stop()
        with open(os.path.join(t.state, "tsa-serial")) as f:
            persisted = int(f.read())
        check(persisted >= s4, "tsa-serial %d < %d" % (persisted, s4))
        # a restart continues after the persisted serial
        t.start()
        s5 = serial(reply_text(t.stamp(t.https, query(t, data, "-sha384"))))
        check(s5 > persisted, "serial %d after restart, had %d" % (s5,
                                                                    persisted))
        t.stop()
        check_policy_option(csca, os.path.join(work, "policy"), data)
    except Exception:
        traceback.print_exc()
        if t.srv.alive():
            t.srv.stop()
        print("FAIL")
        return 1
    print("PASS tsa")
    return 0


if __name__ == "__main__":
    sys.exit(main())
