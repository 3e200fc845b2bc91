# SPDX-License-Identifier: Apache-2.0
"""Print a real exchange with csca for docs/protocol.md: an organisation
that requires ppkp-01 and totp-01, one cert-01 answer, and a wrong OTP.
    example_exchange.py CSCA WORKDIR
Not a test; it regenerates the examples in the documentation."""
import json
import os
import shutil
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acmelib import Client, Key, Problem, b64u, b64u_dec, totp  # noqa: E402
from fixtures import (ORG, AdminPKI, add_eab, add_org, add_otp,  # noqa: E402
                      chall_of, der_b64, new_server, order_challenges)


class Tracing(Client):
    def post_raw(self, url, body, ctype="application/jose+json"):
        if isinstance(body, dict) and "protected" in body:
            prot = json.loads(b64u_dec(body["protected"]))
            if "jwk" in prot:
                prot["jwk"] = {"kty": prot["jwk"]["kty"], "...": "..."}
            pl = body["payload"]
            print("### POST", url.split(":", 2)[2].split("/", 1)[1])
            print("protected:", json.dumps(prot))
            print("payload:", json.dumps(json.loads(b64u_dec(pl))) if pl
                  else '""  (POST-as-GET)')
        st, h, b = super().post_raw(url, body, ctype)
        print("-> HTTP", st, h.get("Content-Type"))
        try:
            print(json.dumps(json.loads(b), indent=2))
        except ValueError:
            print(b[:200])
        print()
        return st, h, b


def main():
    csca, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    s = new_server(csca, work, ["--require-eab"])
    adm = AdminPKI(work)
    ak, ap = adm.leaf("admin")
    add_org(s, ORG, ["ppkp-01", "totp-01"])
    add_org(s, "Cert Org", ["cert-01"], domain="cert.example")
    eab = add_eab(s, "kid-1", ORG)
    eab2 = add_eab(s, "kid-2", "Cert Org")
    seed = add_otp(s, "totp-1", ORG, "totp")
    pk = Key(work)
    s.registry("ppkp", "add", "--org", ORG,
               stdin=json.dumps({"jwk": pk.jwk}).encode())
    s.registry("admin", "add", "--org", "Cert Org", "--anchor", adm.ca)
    s.registry("admin", "add", "--org", "Cert Org", "--cert", ap)
    s.start()
    try:
        c = Tracing(s, Key(work))
        c.register(eab=eab)
        o, azs = order_challenges(c)
        for az, challs in azs:
            ch = challs[0]
            ka = c.key_authorization(ch["token"])
            print("# keyAuthorization =", ka, "\n")
            if ch["type"] == "ppkp-01":
                c.post(ch["url"], {"kid": pk.thumbprint(), "alg": "ES256",
                                   "signature": b64u(pk.sign(ka))})
            else:
                try:
                    c.post(ch["url"], {"otp": "000000"})
                except Problem:
                    pass
                c.post(ch["url"], {"otp": totp(seed)})
        c.get(o["_url"])
        c2 = Tracing(s, Key(work))
        c2.register(eab=eab2)
        o, azs = order_challenges(c2, "cert.example")
        ch = chall_of(azs[0][1], "cert-01")
        ka = c2.key_authorization(ch["token"])
        print("# keyAuthorization =", ka, "\n")
        c2.post(ch["url"], {"x5c": [der_b64(ap)], "alg": "ES256",
                            "signature": b64u(ak.sign(ka))})
    finally:
        s.stop()


if __name__ == "__main__":
    main()
