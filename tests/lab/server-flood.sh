#!/bin/sh
# punch-server while one address floods it, on loopback only.
#
# 1. $O/tools/punch-abuse --flood keeps 1,000 connections from 127.0.0.66
#    busy (stalling, sending garbage, flooding) and sprays garbage datagrams.
#    Meanwhile ten legitimate pairs from other addresses must all report
#    "direct", and the server's log must stay short (it is rate-limited).
# 2. The same flood against a server with only 200 descriptors: the server
#    runs out, must say so a bounded number of times (not once per
#    connection), keep running and exit 0 on SIGTERM.
set -u
fail_logs="server.log"
# shellcheck source=lib/server.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/server.sh"
server_setup srv-flood

stop_server() {
	kill -0 "$spid" 2>/dev/null || fail "server died"
	kill -TERM "$spid"
	wait "$spid"
	st=$?
	spid=
	[ "$st" = 0 ] || fail "server exited with status $st on SIGTERM"
	grep -q 'totals:' "$tmp/server.log" || fail "server did not log its totals"
}

# --- 1. legitimate pairs under a one-address flood ---------------------------
wrap=
start_server --pair-timeout 10
"$abuse" --server "127.0.0.1:$port" --bind 127.0.0.66 --flood 1000 --seconds 15 >"$tmp/abuse.out" 2>&1 &
apid=$!
sleep 2 # the flood is under way
i=0
ok=0
while [ "$i" -lt 10 ]; do
	i=$((i + 1))
	"$cli" --server "127.0.0.1:$port" --bind "127.0.1.$i" --session "f$i-$$" -q --linger 0 >"$tmp/a$i.json" 2>&1 &
	a=$!
	"$cli" --server "127.0.0.1:$port" --bind "127.0.2.$i" --session "f$i-$$" -q --linger 0 >"$tmp/b$i.json" 2>&1
	sb=$?
	wait "$a"
	sa=$?
	[ "$sa" = 0 ] && [ "$sb" = 0 ] && ok=$((ok + 1))
done
wait "$apid"
apid=
sed 's/^/  /' "$tmp/abuse.out"
lines=$(wc -l <"$tmp/server.log")
stop_server
echo "legitimate pairs direct: $ok of 10; server log: $lines lines during the flood"
[ "$ok" = 10 ] || fail "only $ok of 10 legitimate pairs paired directly during the flood"
[ "$lines" -le 200 ] || fail "the server wrote $lines log lines during a 15 s flood"
grep -q 'left out' "$tmp/server.log" || fail "no rate-limited log line says how many lines it left out"
echo "ok - ten legitimate pairs pair during a one-address flood, and the log stays short"

# --- 2. out of descriptors ----------------------------------------------------
wrap="prlimit --nofile=200:200"
start_server --pair-timeout 10
"$abuse" --server "127.0.0.1:$port" --bind 127.0.0.66 --flood 1000 --seconds 8 >"$tmp/abuse.out" 2>&1
sed 's/^/  /' "$tmp/abuse.out"
emfile=$(grep -c 'out of descriptors' "$tmp/server.log")
stop_server
refused=$(sed -n 's/.*, \([0-9]*\) refused for lack of descriptors.*/\1/p' "$tmp/server.log" | tail -n 1)
echo "out of descriptors: $refused connections refused, $emfile log lines"
[ "${refused:-0}" -gt 0 ] || fail "the server never ran out of descriptors (the test did not test it)"
[ "$emfile" -le 25 ] || fail "$emfile 'out of descriptors' lines in 8 s"
echo "ok - out of descriptors, the server counts instead of logging each, and carries on"
echo "PASS: server-flood"
