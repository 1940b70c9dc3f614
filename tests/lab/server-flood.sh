#!/bin/sh
# lab-run: loopback (shares 127.0.0.x with the other loopback tests: tests/lab-run.sh runs them in turn)
# punch-server while one address floods it, on loopback only.
#
# 1. $O/tools/punch-abuse --flood keeps 1,000 connections from 127.0.0.66
#    busy (stalling, sending garbage, flooding) and sprays garbage datagrams.
#    Once the server refuses that address (its per-address limit: the flood
#    is under way), ten legitimate pairs from other addresses must all
#    report "direct", and the server's log must stay short: rate-limited, a
#    line during the flood says how many lines it left out.
# 2. The same flood against a server with only 200 descriptors: the server
#    runs out, must say so a bounded number of times (not once per
#    connection: at most 25 lines for more refusals than that, and a line
#    that says how many it left out), keep running and exit 0 on SIGTERM.
#
# Part 1's flood lasts until the server's log shows what it is there for
# (the first line that says how many lines were left out comes when the
# log's rate limit lets one more through) and the pairs are done, polled, at
# most 30 s; part 2's its 8 s, the window of its bound. A flood that ends
# before that evidence fails the test. The two parts run side by side, each
# with its own server and flood.
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

# alive PID: running, not a zombie waiting to be reaped
alive() {
	[ -e "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# wait_log ERE WHAT: until a line of the server's log matches ERE, while the
# flood lasts; fail saying WHAT when it ended first.
wait_log() {
	while ! grep -Eq "$1" "$tmp/server.log"; do
		if ! alive "$apid"; then
			grep -Eq "$1" "$tmp/server.log" || fail "$2 (the flood ended first)"
			return 0
		fi
		sleep 0.1
	done
}

# stop_flood [--wait]: SIGTERM ends it (with --wait: it ends by itself); it
# must exit 0 and have made more connections than the log lines allowed
# (else a log line per connection would pass too).
stop_flood() {
	[ "${1:-}" = --wait ] || kill -TERM "$apid" 2>/dev/null
	wait "$apid"
	st=$?
	apid=
	sed 's/^/  /' "$tmp/abuse.out"
	[ "$st" = 0 ] || fail "punch-abuse exited with status $st"
	conns=$(sed -n 's/^flood: \([0-9]*\) connections.*/\1/p' "$tmp/abuse.out")
	[ "${conns:-0}" -gt 200 ] || fail "the flood made only ${conns:-0} connections"
}

# --- 1. legitimate pairs under a one-address flood ---------------------------
part1() {
	wrap=
	start_server --pair-timeout 10
	"$abuse" --server "127.0.0.1:$port" --bind 127.0.0.66 --flood 1000 --seconds 30 >"$tmp/abuse.out" 2>&1 &
	apid=$!
	wait_log 'refused: too many connections from your address' "the flood never reached the per-address limit"
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
	alive "$apid" || fail "the flood ended before the ten pairs did"
	wait_log 'similar lines left out before' "no rate-limited log line says how many lines it left out"
	stop_flood
	lines=$(wc -l <"$tmp/server.log")
	stop_server
	echo "legitimate pairs direct: $ok of 10; server log: $lines lines during the flood"
	[ "$ok" = 10 ] || fail "only $ok of 10 legitimate pairs paired directly during the flood"
	[ "$lines" -le 200 ] || fail "the server wrote $lines log lines during the flood"
	echo "ok - ten legitimate pairs pair during a one-address flood, and the log stays short"
}

# --- 2. out of descriptors ----------------------------------------------------
part2() {
	wrap="prlimit --nofile=200:200"
	start_server --pair-timeout 10
	# 8 s, the window the bound below is for (a rate: 25 lines allow the
	# burst and a slow refill, not a fast one), run whole.
	"$abuse" --server "127.0.0.1:$port" --bind 127.0.0.66 --flood 1000 --seconds 8 >"$tmp/abuse.out" 2>&1 &
	apid=$!
	wait_log 'out of descriptors.*similar lines left out before' \
		"no 'out of descriptors' line says how many it left out (did the server run out?)"
	stop_flood --wait
	emfile=$(grep -c 'out of descriptors' "$tmp/server.log")
	stop_server
	refused=$(sed -n 's/.*, \([0-9]*\) refused for lack of descriptors.*/\1/p' "$tmp/server.log" | tail -n 1)
	echo "out of descriptors: $refused connections refused, $emfile log lines"
	[ "${refused:-0}" -gt 0 ] || fail "the server never ran out of descriptors (the test did not test it)"
	[ "$emfile" -le 25 ] || fail "$emfile 'out of descriptors' lines in 8 s"
	# more refusals than the bound lets lines through, or a line per refusal would pass
	[ "$refused" -gt 25 ] || fail "only $refused refusals: too few to tell a rate limit from a line per refusal"
	echo "ok - out of descriptors, the server counts instead of logging each, and carries on"
}

# --- both side by side --------------------------------------------------------
# Each part in a background subshell with its own directory, server and
# flood, which its own traps end: the two mostly wait on the server's log
# rate limit, so they wait together.
# own PART: run function PART in $tmp/PART (a subshell of its own: run it with &)
own() {
	tmp=$tmp/$1 spid='' apid='' cpids=''
	trap server_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	mkdir "$tmp" || exit 1
	"$1"
}
own part1 >"$tmp/part1.out" 2>&1 &
p1=$!
own part2 >"$tmp/part2.out" 2>&1 &
p2=$!
trap 'kill -TERM $p1 $p2 2>/dev/null; wait; server_cleanup' EXIT
wait "$p1"
s1=$?
wait "$p2"
s2=$?
p1='' p2=''
cat "$tmp/part1.out" "$tmp/part2.out"
[ "$s1" = 0 ] && [ "$s2" = 0 ] || exit 1
echo "PASS: server-flood"
