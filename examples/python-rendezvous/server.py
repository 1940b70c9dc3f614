#!/usr/bin/env python3
"""A minimal rendezvous server: each peer sends "REG SESSION"; once two
peers of a session registered, each is told the other's endpoint as this
server observed it ("PEER IP PORT"). No relay. Usage: server.py IP PORT"""
import socket, sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)               # what server-ready waits for
sessions = {}
while True:
    data, addr = s.recvfrom(200)
    words = data.decode(errors="replace").split()
    if len(words) != 2 or words[0] != "REG":
        continue
    peers = sessions.setdefault(words[1], [])
    if addr not in peers:
        peers.append(addr)
    if len(peers) >= 2:                      # introduce (again, for a lost answer)
        a, b = peers[-2], peers[-1]
        s.sendto(b"PEER %s %d" % (b[0].encode(), b[1]), a)
        s.sendto(b"PEER %s %d" % (a[0].encode(), a[1]), b)
