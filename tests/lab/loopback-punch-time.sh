#!/bin/sh
# lab-run: loopback (shares 127.0.0.x with the other loopback tests: tests/lab-run.sh runs them in turn)
# Time from introduction to a proven direct path, on loopback (0 RTT).
#
# Runs 20 pairs of punch-clients one after the other through one
# punch-server on 127.0.0.1 and reads each client's direct_ms (from the
# start of punching, right after PEER, to a path proven both ways). With
# triggered checks and both partners introduced in the same instant the
# punch takes one round trip; the target is 1.2 x RTT + 2 ms, at 0 RTT
# 2 ms. The median of the 40 figures must meet it (with PUNCH_TIME_STRICT=1,
# as make bench runs it; a loaded machine may
# delay a few), and all of them are printed. Loopback only.
set -u
O=${O:-build}
RUNS=${RUNS:-20}
srv=$O/punch-server
cli=$O/punch-client
tmp=
spid=

cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*"
	[ -n "$tmp" ] && [ -s "$tmp/server.log" ] && tail -n 20 "$tmp/server.log"
	exit 1
}

for b in "$srv" "$cli"; do
	[ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
done
tmp=$(mktemp -d /tmp/punch-time.XXXXXX) || exit 1
mkfifo "$tmp/ready" || fail "mkfifo"
"$srv" --listen 127.0.0.1 --port 0 --ready-fd 3 3>"$tmp/ready" 2>"$tmp/server.log" &
spid=$!
[ "$(timeout 20 head -n 1 "$tmp/ready")" = ready ] || fail "server did not become ready"
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) tcp\/udp.*/\1/p' "$tmp/server.log" | head -n 1)
[ -n "$port" ] || fail "no port in the server's log"

i=0
: >"$tmp/ms"
while [ "$i" -lt "$RUNS" ]; do
	i=$((i + 1))
	"$cli" --server "127.0.0.1:$port" --bind 127.0.0.2 --session "t$i-$$" --messages 1 --linger 0 -q \
		>"$tmp/a.json" 2>/dev/null &
	a=$!
	"$cli" --server "127.0.0.1:$port" --bind 127.0.0.3 --session "t$i-$$" --messages 1 --linger 0 -q \
		>"$tmp/b.json" 2>/dev/null
	sb=$?
	wait "$a"
	sa=$?
	[ "$sa" = 0 ] && [ "$sb" = 0 ] || fail "run $i: exit $sa and $sb, expected 0 (direct)"
	for f in a b; do
		ms=$(sed -n 's/.*"direct_ms":\([0-9]*\).*/\1/p' "$tmp/$f.json")
		[ -n "$ms" ] || fail "run $i: no direct_ms in $(cat "$tmp/$f.json")"
		echo "$ms" >>"$tmp/ms"
	done
done
sort -n "$tmp/ms" >"$tmp/sorted"
n=$(wc -l <"$tmp/sorted")
median=$(sed -n "$(((n + 1) / 2))p" "$tmp/sorted")
max=$(tail -n 1 "$tmp/sorted")
echo "direct_ms over $RUNS runs ($n clients): $(tr '\n' ' ' <"$tmp/sorted")"
echo "median $median ms, max $max ms; target at 0 RTT: 1.2 x 0 + 2 = 2 ms"
# An upper bound on time is a benchmark's target (make bench runs this with
# PUNCH_TIME_STRICT=1); under make check's own load it is noise.
if [ "${PUNCH_TIME_STRICT:-0}" = 1 ]; then
	[ "$median" -le 2 ] || fail "median direct_ms $median ms is above 2 ms"
else
	echo "(the 2 ms target is checked with PUNCH_TIME_STRICT=1, by make bench)"
fi
echo "PASS: loopback-punch-time"
