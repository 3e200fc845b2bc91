# SPDX-License-Identifier: Apache-2.0
"""Test fixtures for csca: a registry with one organisation per scenario,
an administrator PKI for cert-01 made with openssl(1), and helpers."""
import base64
import os
import secrets
import subprocess

from acmelib import Client, Key, Problem, Server, b64u, ossl

ORG = "Example Corp"
DOMAIN = "example.com"


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def expect_problem(fn, ptype, status=None):
    """Run fn; it must fail with the given ACME problem type."""
    try:
        fn()
    except Problem as e:
        want = "urn:ietf:params:acme:error:" + ptype
        check(e.type == want, "want %s, got %s (%s)" % (want, e.type, e))
        if status is not None:
            check(e.status == status, "want HTTP %d, got %d" % (status, e.status))
        check((e.body or {}).get("detail"), "problem without detail")
        return e
    raise AssertionError("request succeeded, want %s" % ptype)


class AdminPKI:
    """Administrator trust anchor plus leaves for cert-01."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "admin")
        os.makedirs(self.dir, exist_ok=True)
        self.ca_key = Key(self.dir)
        self.ca = self.path("ca.pem")
        ossl("req", "-x509", "-new", "-key", self.ca_key.path, "-subj",
             "/CN=Admin Root", "-days", "30", "-out", self.ca, "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign")

    def path(self, name):
        return os.path.join(self.dir, name)

    def leaf(self, name, start=None, end=None, signer=None):
        """A leaf signed by the admin root (or self-signed if signer is
        'self'); start/end as YYYYMMDDHHMMSSZ for expired leaves."""
        key = Key(self.dir)
        csr = self.path(name + ".csr")
        ossl("req", "-new", "-key", key.path, "-subj", "/CN=" + name, "-out",
             csr)
        out = self.path(name + ".pem")
        if signer == "self":
            ossl("req", "-x509", "-key", key.path, "-subj", "/CN=" + name,
                 "-days", "30", "-out", out)
        elif start is None:
            ossl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey",
                 self.ca_key.path, "-days", "30", "-out", out,
                 "-CAcreateserial")
        else:
            self._ca_sign(csr, out, start, end)
        return key, out

    def _ca_sign(self, csr, out, start, end):
        db = self.path("index.txt")
        open(db, "w").close()
        cnf = self.path("ca.cnf")
        with open(cnf, "w") as f:
            f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s\nnew_certs_dir=%s\n"
                    "serial=%s\ndefault_md=sha256\npolicy=p\n"
                    "[p]\ncommonName=supplied\n" % (db, self.dir,
                                                     self.path("serial")))
        with open(self.path("serial"), "w") as f:
            f.write("1000\n")
        ossl("ca", "-batch", "-config", cnf, "-cert", self.ca, "-keyfile",
             self.ca_key.path, "-in", csr, "-out", out, "-startdate", start,
             "-enddate", end, "-notext")


def der_b64(pem_path):
    der = ossl("x509", "-in", pem_path, "-outform", "DER")
    return base64.b64encode(der).decode()


def new_server(csca, workdir, args=(), name="state"):
    return Server(csca, workdir, args, state=os.path.join(workdir, name))


def add_org(srv, name, factors, profiles=("codesigning",), domain=DOMAIN):
    args = ["org", "add", "--name", name, "--domain", domain]
    for f in factors:
        args += ["--factor", f]
    for p in profiles:
        args += ["--profile", p]
    srv.registry(*args)


def add_eab(srv, kid, org):
    key = b64u(secrets.token_bytes(32))
    srv.registry("eab", "add", "--kid", kid, "--org", org,
                 stdin=key.encode())
    return (kid, key)


def add_otp(srv, cred_id, org, kind, seed=None, **kw):
    seed = seed or secrets.token_bytes(20)
    b32 = base64.b32encode(seed).decode()
    args = ["otp", "add", "--id", cred_id, "--org", org, "--type", kind]
    for k, v in kw.items():
        args += ["--" + k, str(v)]
    srv.registry(*args, stdin=b32.encode() if kind != "otp" else b"")
    return seed


def account(srv, workdir, eab=None, kind="P-256"):
    c = Client(srv, Key(workdir, kind))
    c.register(eab=eab)
    return c


def order_challenges(c, ident_value=DOMAIN, ident_type="dns"):
    """newOrder and a list of (authz, challenge) for every authorization."""
    o = c.new_order([{"type": ident_type, "value": ident_value}])
    out = []
    for url in o["authorizations"]:
        az = c.get(url)
        out.append((az, az["challenges"]))
    return o, out


def chall_of(challs, ctype):
    for ch in challs:
        if ch["type"] == ctype:
            return ch
    raise AssertionError("no %s challenge in %s" % (ctype, challs))


def csr_for(c, workdir, cn=DOMAIN, eku="codeSigning", kind="P-256", **kw):
    from acmelib import make_csr
    key = Key(workdir, kind)
    return key, make_csr(workdir, key, cn=cn, eku=eku, **kw)


def cert_text(pem, workdir):
    p = os.path.join(workdir, "leaf.pem")
    with open(p, "w") as f:
        f.write(pem)
    return ossl("x509", "-in", p, "-noout", "-text").decode()
