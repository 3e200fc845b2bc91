# SPDX-License-Identifier: Apache-2.0
"""A small, independent ACME test client for csca.

Python standard library plus the `openssl` command line only: keys, CSRs,
certificates and signatures come from openssl(1), JSON/HTTP from the
standard library.  It shares nothing with the agent or with csca, so it is
a third opinion on the wire format.  Every request goes to 127.0.0.1.
"""
import base64
import hashlib
import hmac
import json
import os
import signal
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

OPENSSL = os.environ.get("OPENSSL", "openssl")


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def ossl(*args, data=None):
    r = subprocess.run([OPENSSL, *args], input=data, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
    return r.stdout


def der_to_raw(der, width):
    """DER ECDSA-Sig-Value to JWS r||s, each padded to the curve width."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\0")
        out += v.rjust(width, b"\0")
        i += 2 + n
    return out


EC_WIDTH = {"P-256": 32, "P-384": 48, "P-521": 66}
EC_ALG = {"P-256": ("ES256", "-sha256"), "P-384": ("ES384", "-sha384"),
          "P-521": ("ES512", "-sha512")}


class Key:
    """A private key in a PEM file, made by openssl genpkey."""

    def __init__(self, workdir, kind="P-256", path=None):
        self.kind = kind
        if path is None:
            fd, path = tempfile.mkstemp(suffix=".pem", dir=workdir)
            os.close(fd)
            if kind in EC_WIDTH:
                ossl("genpkey", "-algorithm", "EC", "-pkeyopt",
                     "ec_paramgen_curve:" + kind, "-out", path)
            elif kind == "Ed25519":
                ossl("genpkey", "-algorithm", "ED25519", "-out", path)
            elif kind.startswith("RSA"):
                bits = kind[3:] or "2048"
                ossl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                     "rsa_keygen_bits:" + bits, "-out", path)
        self.path = path
        self.jwk = self._jwk()

    def _jwk(self):
        der = ossl("pkey", "-in", self.path, "-pubout", "-outform", "DER")
        if self.kind in EC_WIDTH:
            # SubjectPublicKeyInfo ends with the point 04 || x || y
            w = EC_WIDTH[self.kind]
            pt = der[-2 * w:]
            return {"kty": "EC", "crv": self.kind, "x": b64u(pt[:w]),
                    "y": b64u(pt[w:])}
        if self.kind == "Ed25519":
            return {"kty": "OKP", "crv": "Ed25519", "x": b64u(der[-32:])}
        n = self._rsa_modulus()
        return {"kty": "RSA", "n": b64u(n), "e": b64u(b"\x01\x00\x01")}

    def _rsa_modulus(self):
        out = ossl("rsa", "-in", self.path, "-noout", "-modulus").decode()
        hexn = out.strip().split("=", 1)[1]
        return bytes.fromhex(hexn)

    @property
    def alg(self):
        if self.kind in EC_ALG:
            return EC_ALG[self.kind][0]
        return "EdDSA" if self.kind == "Ed25519" else "RS256"

    def thumbprint(self):
        members = {k: self.jwk[k] for k in sorted(self.jwk)}
        canon = json.dumps(members, separators=(",", ":"), sort_keys=True)
        return b64u(hashlib.sha256(canon.encode()).digest())

    def sign(self, data, alg=None):
        alg = alg or self.alg
        if isinstance(data, str):
            data = data.encode()
        if alg == "EdDSA":
            with tempfile.NamedTemporaryFile() as f:
                f.write(data)
                f.flush()
                return ossl("pkeyutl", "-sign", "-rawin", "-inkey", self.path,
                            "-in", f.name)
        for crv, (es, md) in EC_ALG.items():
            if alg == es:
                der = ossl("dgst", md, "-sign", self.path, data=data)
                return der_to_raw(der, EC_WIDTH[crv])
        if alg == "PS256":
            return ossl("dgst", "-sha256", "-sign", self.path, "-sigopt",
                        "rsa_padding_mode:pss", "-sigopt",
                        "rsa_pss_saltlen:digest", data=data)
        return ossl("dgst", "-sha256", "-sign", self.path, data=data)


class Problem(Exception):
    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers
        self.type = (body or {}).get("type", "")
        super().__init__("%d %s: %s" % (status, self.type,
                                        (body or {}).get("detail")))


class Server:
    """csca serve in a throwaway state directory, on a free port."""

    def __init__(self, csca, workdir, args=(), state=None, token_file=None):
        self.csca = csca
        self.workdir = workdir
        self.state = state or os.path.join(workdir, "state")
        self.args = list(args)
        self.proc = None
        # the management endpoints' bearer token (csca makes it at start)
        self.token_file = token_file or os.path.join(self.state, "mgmt.token")
        if token_file:
            self.args += ["--mgmt-token-file", token_file]
        os.makedirs(self.state, exist_ok=True)

    def registry(self, *args, stdin=None):
        r = subprocess.run([self.csca, *args, "--state", self.state],
                           input=stdin, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError("csca %s failed: %s" % (args, r.stderr.decode()))
        return r.stdout.decode()

    def start(self):
        portfile = os.path.join(self.workdir, "port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.log = open(os.path.join(self.workdir, "csca.log"), "ab")
        self.proc = subprocess.Popen(
            [self.csca, "serve", "--state", self.state, "--port", "0",
             "--port-file", portfile, *self.args],
            stdout=subprocess.DEVNULL, stderr=self.log)
        for _ in range(200):
            if os.path.exists(portfile):
                break
            if self.proc.poll() is not None:
                raise RuntimeError("csca exited %d" % self.proc.returncode)
            time.sleep(0.05)
        self.port = int(open(portfile).read())
        self.base = "https://127.0.0.1:%d" % self.port
        self.ctx = ssl.create_default_context(
            cafile=os.path.join(self.state, "tls-root.pem"))
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            rc = self.proc.returncode
            self.proc = None
            self.log.close()
            return rc
        return 0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def http(self, method, url, body=None, ctype=None, headers=None):
        if url.startswith("/"):
            url = self.base + url
        req = urllib.request.Request(url, data=body, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=20) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get_json(self, path, headers=None):
        st, h, b = self.http("GET", path, headers=headers)
        return st, h, json.loads(b) if b else None

    def mgmt_auth(self):
        with open(self.token_file) as f:
            return {"Authorization": "Bearer " + f.read().strip()}

    def mgmt(self, method, path):
        """A /csca/ management request with the bearer token."""
        st, h, b = self.http(method, path, headers=self.mgmt_auth())
        return st, h, json.loads(b) if b else None


class Client:
    """One ACME account on a Server."""

    def __init__(self, server, key):
        self.s = server
        self.key = key
        self.kid = None
        st, _, self.dir = server.get_json("/directory")
        assert st == 200
        self.nonce = None

    def new_nonce(self):
        st, h, _ = self.s.http("HEAD", self.dir["newNonce"])
        return h["Replay-Nonce"]

    def jws(self, url, payload, use_jwk=None, nonce=None, alg=None,
            extra=None, key=None, sign_url=None):
        key = key or self.key
        prot = {"alg": alg or key.alg, "nonce": nonce or self.take_nonce(),
                "url": sign_url or url}
        if use_jwk or (use_jwk is None and self.kid is None):
            prot["jwk"] = key.jwk
        else:
            prot["kid"] = self.kid
        if extra:
            prot.update(extra)
        p64 = b64u(json.dumps(prot))
        y64 = "" if payload is None else b64u(json.dumps(payload))
        sig = key.sign((p64 + "." + y64).encode(), alg if alg in (
            "ES256", "ES384", "ES512", "EdDSA", "RS256", "PS256") else None)
        return {"protected": p64, "payload": y64, "signature": b64u(sig)}

    def take_nonce(self):
        n, self.nonce = self.nonce, None
        return n or self.new_nonce()

    def post_raw(self, url, body, ctype="application/jose+json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        st, h, b = self.s.http("POST", url, data, ctype)
        if "Replay-Nonce" in h:
            self.nonce = h["Replay-Nonce"]
        return st, h, b

    def post(self, url, payload, **kw):
        st, h, b = self.post_raw(url, self.jws(url, payload, **kw))
        ct = h.get("Content-Type", "")
        body = json.loads(b) if b and "json" in ct else b
        if st >= 400:
            raise Problem(st, body if isinstance(body, dict) else None, h)
        return st, h, body

    def register(self, eab=None, contact=None, **kw):
        payload = {"termsOfServiceAgreed": True}
        if contact:
            payload["contact"] = contact
        if eab:
            payload["externalAccountBinding"] = self.eab(*eab)
        st, h, body = self.post(self.dir["newAccount"], payload, use_jwk=True,
                                **kw)
        self.kid = h["Location"]
        return st, body

    def eab(self, kid, hmac_key_b64u, alg="HS256", url=None):
        prot = {"alg": alg, "kid": kid, "url": url or self.dir["newAccount"]}
        p64 = b64u(json.dumps(prot))
        y64 = b64u(json.dumps(self.key.jwk))
        md = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}[alg]
        mac = hmac.new(b64u_dec(hmac_key_b64u), (p64 + "." + y64).encode(),
                       md).digest()
        return {"protected": p64, "payload": y64, "signature": b64u(mac)}

    def new_order(self, identifiers, **extra):
        payload = {"identifiers": identifiers}
        payload.update(extra)
        st, h, body = self.post(self.dir["newOrder"], payload)
        body["_url"] = h["Location"]
        return body

    def get(self, url):
        return self.post(url, None)[2]

    def key_authorization(self, token):
        return token + "." + self.key.thumbprint()

    def finalize(self, order, csr_der):
        st, h, body = self.post(order["finalize"], {"csr": b64u(csr_der)})
        return body

    def wait_order(self, url, want=("valid", "invalid"), tries=50):
        for _ in range(tries):
            o = self.get(url)
            if o["status"] in want:
                return o
            time.sleep(0.1)
        return o

    def download(self, cert_url):
        st, h, body = self.post(cert_url, None)
        return body.decode() if isinstance(body, bytes) else body


def totp(seed, t=None, period=30, digits=6, algo="sha1", step_offset=0):
    t = time.time() if t is None else t
    return hotp(seed, int(t // period) + step_offset, digits, algo)


def hotp(seed, counter, digits=6, algo="sha1"):
    mac = hmac.new(seed, struct.pack(">Q", counter), algo).digest()
    off = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return str(code % 10 ** digits).zfill(digits)


def make_csr(workdir, key, cn=None, eku=None, ku="critical,digitalSignature",
             san=None):
    """A DER CSR by openssl req; eku e.g. 'codeSigning' or None."""
    cfg = os.path.join(workdir, "req.cnf")
    lines = ["[req]", "distinguished_name=dn", "prompt=no",
             "req_extensions=ext", "[dn]"]
    lines.append("CN=%s" % cn if cn else "O=csca test")
    lines.append("[ext]")
    if ku:
        lines.append("keyUsage=" + ku)
    if eku:
        lines.append("extendedKeyUsage=" + eku)
    if san:
        lines.append("subjectAltName=" + san)
    with open(cfg, "w") as f:
        f.write("\n".join(lines) + "\n")
    return ossl("req", "-new", "-key", key.path, "-config", cfg, "-outform",
                "DER")
