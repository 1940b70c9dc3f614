#!/bin/sh
# lab-run: loopback (shares 127.0.0.x with the other loopback tests: tests/lab-run.sh runs them in turn)
# punch-probe tcp-classify against punch-probe server --tcp with no router
# between them (the loopback of a namespace of its own, two addresses): the
# endpoints seen are the local ones (mapping none) and both connect-backs get
# in (EIF); an expectation that differs exits 3 naming tcp-mapping and
# tcp-filtering; usage errors exit 2. Through real routers: the self-check
# (punchlab-selfcheck.sh: the tcp-* labs, tcp.matrix, wrong-tcp-declared).
# Namespace tcpcls-<pid>.
set -u
O=${O:-build}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
NS=tcpcls-$$
tmp=$(mktemp -d /tmp/punch-probe-tcp-classify.XXXXXX) || exit 1
srv=
cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	ip netns del $NS 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/out" ] && sed 's/^/  /' "$tmp/out" | head -20; exit 1; }
in_ns() { ip netns exec $NS "$@"; }

# usage
for args in "" "--server 127.0.0.1 --server2 127.0.0.2 --bind 127.0.0.1" \
	"--server 127.0.0.1 --server2 127.0.0.2 --bind 127.0.0.1 --local-port 40000 --expect-mapping eim" \
	"--server 127.0.0.1 --server2 127.0.0.2 --bind 127.0.0.1 --local-port 40000 --expect-mapping eim --expect-filtering sideways" \
	"--server 127.0.0.1 --server2 127.0.0.1 --bind 127.0.0.1 --local-port 40000"; do
	# shellcheck disable=SC2086
	"$O/punch-probe" tcp-classify $args >"$tmp/out" 2>&1
	rc=$?
	[ $rc -eq 2 ] || fail "tcp-classify $args: exit $rc, want 2"
done

ip netns add $NS || fail "netns add"
in_ns ip link set lo up || fail "lo up"
in_ns ip addr add 127.0.0.2/8 dev lo 2>/dev/null # 127.0.0.2 answers on lo anyway: no error if it is there
mkfifo "$tmp/ready" || fail "mkfifo"
ip netns exec $NS "$O/punch-probe" server --listen 127.0.0.1 --listen2 127.0.0.2 --port 3479 --port2 3480 --tcp \
	--ready-fd 3 -q 3>"$tmp/ready" 2>"$tmp/srv.err" &
srv=$!
# the server says "ready" on a pipe once it listens: the read returns then,
# or at EOF if it exited first (as lib/server.sh and classify-nats.sh wait)
[ "$(timeout 10 head -n 1 "$tmp/ready")" = ready ] || { cp "$tmp/srv.err" "$tmp/out"; fail "the server did not become ready"; }

in_ns "$O/punch-probe" tcp-classify --server 127.0.0.1 --server2 127.0.0.2 --bind 127.0.0.1 --local-port 40000 \
	--timeout-ms 1500 --expect-mapping none --expect-filtering eif >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "no router, declared none/eif: exit $rc"
[ "$(jq -r '[.transport, .nat, .mapping, .filtering, .absent_backs, .match] | map(tostring) | join(" ")' \
	"$tmp/out")" = "tcp false none eif 0 true" ] || fail "no router: not tcp/none/eif with both connect-backs in"
[ "$(jq -r '.mapped | unique | join(" ")' "$tmp/out")" = "127.0.0.1:40000" ] ||
	fail "the endpoints seen are not the local one"

in_ns "$O/punch-probe" tcp-classify --server 127.0.0.1 --server2 127.0.0.2 --bind 127.0.0.1 --local-port 40002 \
	--timeout-ms 1500 --expect-mapping eim --expect-filtering apdf >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 3 ] || fail "declared eim/apdf: exit $rc, want 3"
[ "$(jq -r '.mismatches | map(.property + ":" + .declared + ":" + .observed) | join(" ")' "$tmp/out")" = \
	"tcp-mapping:eim:none tcp-filtering:apdf:eif" ] || fail "the mismatches are not tcp-mapping and tcp-filtering"
echo "punch-probe-tcp-classify: all passed"
