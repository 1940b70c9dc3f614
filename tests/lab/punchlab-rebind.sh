#!/bin/sh
# NAT rebinding on demand: in a kept lab, `punchlab rebind NAME ROUTER` makes
# the router forget its mappings; the same socket's next datagram to the same
# server then leaves from another external port, and the old one is not
# handed out again while it is still busy.
set -u
O=${O:-build}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
tmp=$(mktemp -d /tmp/punchlab-rebind.XXXXXX) || exit 1
name=hnat-rebind-$$
cleanup() {
	"$O/punchlab" down "$name" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

cp topologies/pr-cone-vs-pr-cone.topo "$tmp/$name.topo"
"$O/punchlab" run --no-color --no-self-check --seed 9 --keep "$tmp/$name.topo" >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "the kept run failed"; }

# a server in the server node that answers with the source it saw
cat >"$tmp/udp.py" <<'PY'
import socket, sys
if sys.argv[1] == "serve":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 5999))
    print("ready", flush=True)
    while True:
        d, a = s.recvfrom(100)
        s.sendto(("%s:%d" % a).encode(), a)
else:
    # ask, wait for the line "again" on stdin, ask again, from one socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 41000))
    s.settimeout(2)
    for i in range(2):
        s.sendto(b"?", (sys.argv[2], 5999))
        print(s.recv(100).decode(), flush=True)
        if i == 0:
            sys.stdin.readline()
PY
server_ip=$("$O/punchlab" list "$tmp/$name.topo" | sed -n 's/^  server *eth0=\([0-9.]*\)\/.*/\1/p')
[ -n "$server_ip" ] || fail "no server address in punchlab list"
"$O/punchlab" shell "$name" server python3 "$tmp/udp.py" serve >"$tmp/srv" 2>&1 &
srv=$!
i=0
until grep -q ready "$tmp/srv"; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "server did not start: $(cat "$tmp/srv")"
	sleep 0.1
done
mkfifo "$tmp/go"
"$O/punchlab" shell "$name" peer-alice python3 "$tmp/udp.py" ask "$server_ip" <"$tmp/go" >"$tmp/cli" 2>&1 &
cli=$!
exec 3>"$tmp/go"
i=0
until [ -s "$tmp/cli" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "no first answer: $(cat "$tmp/cli")"
	sleep 0.1
done
"$O/punchlab" rebind "$name" home-a >"$tmp/rb" 2>&1 || fail "rebind failed: $(cat "$tmp/rb")"
echo again >&3
exec 3>&-
wait $cli
kill $srv 2>/dev/null
wait $srv 2>/dev/null
first=$(sed -n 1p "$tmp/cli")
second=$(sed -n 2p "$tmp/cli")
[ -n "$first" ] && [ -n "$second" ] || fail "answers missing: $(cat "$tmp/cli")"
[ "${first%:*}" = "${second%:*}" ] || fail "the address changed: $first, $second"
[ "$first" != "$second" ] || fail "the same mapping after rebind: $first"
grep -q "nat-home-a rebound" "$tmp/rb" || fail "rebind said nothing: $(cat "$tmp/rb")"
echo "ok: one socket seen as $first, after punchlab rebind as $second"
"$O/punchlab" rebind "$name" no-such >"$tmp/rb" 2>&1 && fail "rebind of a router that is not there succeeded"
echo "punchlab-rebind: all passed"
