#!/bin/sh
# lab-run: loopback (shares 127.0.0.x with the other loopback tests: tests/lab-run.sh runs them in turn)
# punch-server under abuse, on loopback only.
#
# $O/tools/punch-abuse throws garbage, truncated and oversized messages (TCP
# with huge lengths, 64 KiB datagrams), replayed REGISTER and RELAY messages
# from other ports, forged relays and slow-loris connections at both server
# ports, and checks each answer (or its absence). While it runs, a legitimate
# pair of punch-clients arrives and must still report "direct", and a second
# pair that drops every direct packet must get through the server's relay.
# The server must not crash or stall, and exits 0 on SIGTERM. A second server
# with a tiny --max-clients checks ERROR(SESSION), ERROR(FULL), ERROR(TIMEOUT).
set -u
fail_logs="server.log abuse.out c1.json c2.json r1.json r2.json c1.err r1.err"
# shellcheck source=lib/server.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/server.sh"
server_setup srv-abuse

# SIGTERM must end the server with status 0 within a deadline.
stop_server() {
	kill -0 "$spid" 2>/dev/null || fail "server died"
	kill -TERM "$spid"
	end=$(($(date +%s) + 20))
	while kill -0 "$spid" 2>/dev/null; do
		[ "$(date +%s)" -lt "$end" ] || fail "server did not exit on SIGTERM"
		sleep 0.1
	done
	wait "$spid"
	st=$?
	spid=
	[ "$st" = 0 ] || fail "server exited with status $st on SIGTERM"
	grep -q 'totals:' "$tmp/server.log" || fail "server did not log its totals"
}

# --- 1. abuse while legitimate clients pair ----------------------------------
start_server --pair-timeout 5 --session-timeout 30
echo "server on 127.0.0.1:$port"
"$abuse" --server "127.0.0.1:$port" --rounds 5 --loris 64 >"$tmp/abuse.out" 2>&1 &
apid=$!

# The abuser's first round is under way (its slow-loris connections are open
# from the start); the legitimate pairs arrive in the middle of it.
"$cli" --server "127.0.0.1:$port" --bind 127.0.0.2 --session "legit-$$" >"$tmp/c1.json" 2>"$tmp/c1.err" &
c1=$!
"$cli" --server "127.0.0.1:$port" --bind 127.0.0.3 --session "legit-$$" >"$tmp/c2.json" 2>"$tmp/c2.err" &
c2=$!
"$cli" --server "127.0.0.1:$port" --bind 127.0.0.4 --session "relay-$$" --drop-direct >"$tmp/r1.json" 2>"$tmp/r1.err" &
r1=$!
"$cli" --server "127.0.0.1:$port" --bind 127.0.0.5 --session "relay-$$" --drop-direct >"$tmp/r2.json" 2>"$tmp/r2.err" &
r2=$!
cpids="$c1 $c2 $r1 $r2"

wait "$c1"; s1=$?
wait "$c2"; s2=$?
wait "$r1"; s3=$?
wait "$r2"; s4=$?
cpids=
[ "$s1" = 0 ] && [ "$s2" = 0 ] || fail "legitimate pair: exit $s1 and $s2, expected 0 (direct)"
grep -q '"outcome":"direct"' "$tmp/c1.json" && grep -q '"outcome":"direct"' "$tmp/c2.json" ||
	fail "legitimate pair did not report direct"
echo "ok - a legitimate pair arriving during the abuse reports direct"
[ "$s3" = 1 ] && [ "$s4" = 1 ] || fail "relay pair: exit $s3 and $s4, expected 1 (relayed)"
grep -q '"outcome":"relayed"' "$tmp/r1.json" && grep -q '"outcome":"relayed"' "$tmp/r2.json" ||
	fail "relay pair did not report relayed"
echo "ok - a pair with direct traffic dropped talks through the server's relay during the abuse"

wait "$apid"; sa=$?
apid=
sed 's/^/  /' "$tmp/abuse.out"
[ "$sa" = 0 ] || fail "punch-abuse reported failures (status $sa)"
stop_server
grep -q "introduced client" "$tmp/server.log" || fail "no introduction in the server's log"
grep -q 'relay [1-9][0-9]* forwarded' "$tmp/server.log" || fail "the server's totals show no relayed datagram"
echo "ok - the server survived the abuse and exited 0 on SIGTERM"

# --- 2. limits ---------------------------------------------------------------
start_server --pair-timeout 1 --max-clients 4
"$abuse" --server "127.0.0.1:$port" --limits 4 >"$tmp/abuse.out" 2>&1
sa=$?
sed 's/^/  /' "$tmp/abuse.out"
[ "$sa" = 0 ] || fail "limits checks failed (status $sa)"
stop_server
echo "ok - session, client and pair-timeout limits"

# --- 3. bad options are refused ----------------------------------------------
"$srv" --port 70000 2>/dev/null && fail "--port 70000 accepted"
"$srv" --listen 127.0.0.1:99 2>/dev/null && fail "--listen with a port accepted"
"$srv" --pair-timeout -1 2>/dev/null && fail "--pair-timeout -1 accepted"
"$srv" --help | grep -q -- '--session-timeout' || fail "--help does not document --session-timeout"
echo "ok - bad options refused, --help documents the options"
echo "PASS: server-abuse"
