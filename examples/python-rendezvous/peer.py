#!/usr/bin/env python3
"""A minimal rendezvous peer: registers with the server until it learns its
partner's endpoint, then punches towards it and proves a two-way path
(exit 0), or gives up (exit 1). Everything it needs is in PUNCHLAB_*."""
import os, socket, sys

env = os.environ
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((env["PUNCHLAB_LOCAL_IP"], int(env["PUNCHLAB_LOCAL_PORT"])))
s.settimeout(0.2)
server = (env["PUNCHLAB_SERVER_IP"], int(env["PUNCHLAB_SERVER_PORT"]))
peer, heard = None, False
for _ in range(50):                            # at most 10 s
    if peer is None:
        s.sendto(b"REG " + env["PUNCHLAB_SESSION"].encode(), server)
    else:
        s.sendto(b"ACK" if heard else b"HI", peer)
    try:
        data, addr = s.recvfrom(200)
    except socket.timeout:
        continue
    if addr == server and data.startswith(b"PEER "):
        _, ip, port = data.split()
        peer = (ip.decode(), int(port))
    elif addr == peer:
        heard = True
        if data == b"ACK":
            s.sendto(b"ACK", peer)
            print("direct to %s:%d" % peer)
            sys.exit(0)
print("no path to", peer)
sys.exit(1)
