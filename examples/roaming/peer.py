# A roaming UDP pair, as WireGuard and QUIC's connection migration keep a
# path alive: each peer sends to the endpoint it last heard its partner from
# (at first the partner's public address and local port: fixed-port mode),
# and follows the partner when its datagrams come from a new port, as they do
# after the partner's NAT rebinds. Runs SECONDS (argv[1]); exits 0 when it
# heard from its partner in the last second of that, else 1.
import os, socket, sys, time

secs = float(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((os.environ["PUNCHLAB_LOCAL_IP"], int(os.environ["PUNCHLAB_LOCAL_PORT"])))
s.settimeout(0.02)
peer = (os.environ["PUNCHLAB_PEER_IP"], int(os.environ["PUNCHLAB_PEER_PORT"]))
start = time.monotonic()
next_send, seq, heard = start, 0, None
while time.monotonic() < start + secs:
    if time.monotonic() >= next_send:
        s.sendto(b"%d" % seq, peer)
        seq, next_send = seq + 1, next_send + 0.1
    try:
        data, src = s.recvfrom(100)
    except socket.timeout:
        continue
    if src[0] != peer[0]:
        continue                  # not the partner's address: ignored
    if src != peer:
        print("partner moved from %s:%d to %s:%d" % (peer + src), flush=True)
        peer = src
    heard = time.monotonic()
ok = heard is not None and heard >= start + secs - 1
print("sent %d, last heard %s" % (seq, "%.1f s in" % (heard - start) if heard else "never"))
sys.exit(0 if ok else 1)
