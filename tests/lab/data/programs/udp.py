#!/usr/bin/env python3
"""Misbehaving programs for tests/lab/programs-judging.sh.

udp.py send LOCAL_IP LOCAL_PORT PEER_IP PEER_PORT: send 20 datagrams to the
peer, never read, and exit 0 (it claims success).
udp.py listen SECONDS: bind nothing, receive nothing, exit 0 after SECONDS.
"""
import socket
import sys
import time

if sys.argv[1] == "send":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[2], int(sys.argv[3])))
    for i in range(20):
        s.sendto(b"hello %d" % i, (sys.argv[4], int(sys.argv[5])))
        time.sleep(0.05)
    print("sent 20 datagrams: success")
elif sys.argv[1] == "listen":
    time.sleep(float(sys.argv[2]))
    print("waited: success")
