#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Queries on the request log hostile_ca.py writes (one JSON object per
request), for tests/hostile/hostile.sh.

    calog.py LOG count [--method M] [--path P] [--prefix P] [--suffix S]
                       [--answers]
                       [--flaked] [--status N] [--post-as-get]
    calog.py LOG signed-contains TEXT   records whose signed content (JWS
                                        protected header or payload)
                                        contains TEXT
    calog.py LOG answers                one line per challenge answer:
                                        type otp step counter verdict
    calog.py LOG values KEY             the KEY of every record that has it
    calog.py LOG payload-max            longest signed payload (characters)
"""
import argparse
import json
import signal
import sys


def records(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return [r for r in out if "event" not in r]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("count")
    c.add_argument("--method")
    c.add_argument("--path")
    c.add_argument("--prefix")
    c.add_argument("--suffix")
    c.add_argument("--answers", action="store_true")
    c.add_argument("--flaked", action="store_true")
    c.add_argument("--post-as-get", action="store_true")
    c.add_argument("--status", type=int)
    s = sub.add_parser("signed-contains")
    s.add_argument("text")
    sub.add_parser("answers")
    v = sub.add_parser("values")
    v.add_argument("key")
    sub.add_parser("payload-max")
    a = ap.parse_args()
    recs = records(a.log)
    if a.cmd == "count":
        n = 0
        for r in recs:
            if a.method and r.get("method") != a.method:
                continue
            if a.path and r.get("path") != a.path:
                continue
            if a.prefix and not r.get("path", "").startswith(a.prefix):
                continue
            if a.suffix and not r.get("path", "").endswith(a.suffix):
                continue
            if a.answers and not r.get("answer"):
                continue
            if a.flaked and not r.get("flaked"):
                continue
            if a.post_as_get and r.get("kind") != "post-as-get":
                continue
            if a.status is not None and r.get("status") != a.status:
                continue
            n += 1
        print(n)
    elif a.cmd == "signed-contains":
        n = 0
        for r in recs:
            signed = json.dumps(r.get("protected", {})) + (r.get("payload")
                                                          or "")
            if a.text in signed:
                n += 1
        print(n)
    elif a.cmd == "answers":
        for r in recs:
            if r.get("answer"):
                print(r.get("challenge_type"), r.get("otp", "-"),
                      r.get("otp_step", "-"), r.get("otp_counter", "-"),
                      json.dumps(r.get("verdict")))
    elif a.cmd == "values":
        for r in recs:
            if a.key in r:
                print(json.dumps(r[a.key]))
    elif a.cmd == "payload-max":
        print(max([len(r.get("payload") or "") for r in recs] or [0]))
    return 0


if __name__ == "__main__":
    # "calog values token | head -1": a closed pipe ends it quietly
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
