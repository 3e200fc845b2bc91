# SPDX-License-Identifier: Apache-2.0
"""A do-nothing DNS responder on 127.0.0.1 for the lego interop test.

lego (without complete-propagation checks) still sends one recursive query
for the TXT record and only needs an answer of any kind; this replies
NXDOMAIN to everything so that no query ever leaves the machine.
    fakedns.py PORTFILE
"""
import socket
import sys

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % sock.getsockname()[1])
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    data, peer = sock.recvfrom(4096)
    if len(data) < 12:
        continue
    qd = data[4:6]
    # end of the first question: QNAME labels then QTYPE, QCLASS
    i = 12
    while i < len(data) and data[i] != 0:
        i += data[i] + 1
    question = data[12:i + 5]
    flags = bytes([0x80 | (data[2] & 0x01), 0x83])  # QR, RD copy, RA, NXDOMAIN
    sock.sendto(data[:2] + flags + qd + b"\0\0\0\0\0\0" + question, peer)
