import os, socket, sys                                    # your program in ten lines: punch, then prove it
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
s.bind((os.environ["PUNCHLAB_LOCAL_IP"], int(os.environ["PUNCHLAB_LOCAL_PORT"])))
peer, data = (os.environ["PUNCHLAB_PEER_IP"], int(os.environ["PUNCHLAB_PEER_PORT"])), None
for _ in range(40):                                       # at most 8 s of punching
    s.sendto(b"ack" if data else b"hi", peer)             # once heard from, say so
    try: data = s.recv(100)
    except socket.timeout: continue
    if data == b"ack": s.sendto(b"ack", peer); print("direct to %s:%d" % peer); sys.exit(0)
sys.exit(1)                                               # never heard back: failed
