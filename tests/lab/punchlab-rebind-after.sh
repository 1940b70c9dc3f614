#!/bin/sh
# rebind-after: topologies/rebinding-carrier.topo declares that the carrier
# rebinds 3 s into the run. On the wire, from the captures (--pcap): alice's
# datagrams leave the carrier from one external port and then, from the
# rebind on, from another, once, on the same address; the change lies inside
# the rebind as the runner timed it (wall clock, the captures' time base), and
# the runner started it no earlier than the declared 3 s and not much later.
# Nothing else changes: alice's own endpoint on the LAN, bob's external
# endpoint, the destination alice sends to. Bob follows her to the new port,
# and his datagrams reach her after the rebind.
set -u
O=${O:-build}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
tmp=$(mktemp -d /tmp/punchlab-rebind-after.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/out" ] && sed 's/^/  /' "$tmp/out"; exit 1; }
command -v tcpdump >/dev/null || fail "tcpdump is not installed (ci/install-deps.sh lab)"

topo=topologies/rebinding-carrier.topo
DECLARED_MS=3000
# How late the rebind may start on a loaded 2-core machine: the runner wakes
# at its deadline from poll(), a scheduling delay, nothing more.
LATE_MS=2000
# Alice sends every 100 ms: her first datagram after the rebind leaves within
# this (seconds) of its end, again with room for a loaded machine.
NEXT_S=1.0

"$O/punchlab" list "$topo" >"$tmp/list" 2>&1 || fail "punchlab list: $(cat "$tmp/list")"
alice=$(sed -n 's/^peer alice: \([0-9.]*\) port \([0-9]*\), seen on the internet as \([0-9.]*\)$/\1 \2 \3/p' "$tmp/list")
bob=$(sed -n 's/^peer bob: \([0-9.]*\) port \([0-9]*\), seen on the internet as \([0-9.]*\)$/\1 \2 \3/p' "$tmp/list")
[ -n "$alice" ] && [ -n "$bob" ] || fail "no peer addresses in punchlab list: $(cat "$tmp/list")"
set -- $alice
a_ip=$1 a_port=$2 carrier=$3
set -- $bob
b_pub=$3 b_port=$2

"$O/punchlab" run --no-color --pcap "$tmp/pcap" "$topo" >"$tmp/out" 2>&1 || fail "the run did not pass"
grep -q "^PASS *rebinding-carrier" "$tmp/out" || fail "no PASS line"
line=$(grep "carrier rebound" "$tmp/out") || fail "the runner did not say it rebound the carrier"
at_ms=$(echo "$line" | sed -n 's/.* rebound \([0-9]*\) ms after the start.*/\1/p')
w0=$(echo "$line" | sed -n 's/.*wall clock \([0-9.]*\) to \([0-9.]*\)).*/\1/p')
w1=$(echo "$line" | sed -n 's/.*wall clock \([0-9.]*\) to \([0-9.]*\)).*/\2/p')
[ -n "$at_ms" ] && [ -n "$w0" ] && [ -n "$w1" ] || fail "cannot read the rebind line: $line"
[ "$at_ms" -ge $DECLARED_MS ] || fail "rebound at $at_ms ms, before the declared $DECLARED_MS ms"
[ "$at_ms" -le $((DECLARED_MS + LATE_MS)) ] || fail "rebound at $at_ms ms, over $LATE_MS ms late"

d=$tmp/pcap/rebinding-carrier
# dump FILE FILTER: "TIME SRC DST" per UDP datagram (tcpdump -tt: epoch seconds).
dump() {
	tcpdump -tt -nr "$d/$1" "$2" 2>"$tmp/td.err" | awk '{ sub(":$", "", $5); print $1, $3, $5 }' ||
		fail "tcpdump -r $1: $(cat "$tmp/td.err")"
}

# Alice's datagrams after the carrier's NAT.
dump nat-carrier-wan0.pcap "udp and src host $carrier" >"$tmp/wan"
awk -v c="$carrier" -v dst="$b_pub.$b_port" -v w0="$w0" -v w1="$w1" -v next_s="$NEXT_S" -v at="$at_ms" '
	{
		n = split($2, s, "."); port = s[n]; ip = s[1] "." s[2] "." s[3] "." s[4]
		if (ip != c) { print "source address changed: " $2; bad = 1 }
		if ($3 != dst) { print "destination changed: " $3; bad = 1 }
		if (!(port in seen)) { seen[port] = 1; order[++ports] = port; first[port] = $1 }
		else if (port != cur) { print "port " port " came back at " $1; bad = 1 }
		cur = port; last[port] = $1; count[port]++
	}
	END {
		if (bad) exit 1
		if (ports != 2) { print ports " external ports, want 2 (one before the rebind, one after)"; exit 1 }
		old = order[1]; new = order[2]
		if (last[old] > w1) { print "old port " old " still used at " last[old] ", after the rebind (" w1 ")"; exit 1 }
		if (first[new] < w0) { print "new port " new " used at " first[new] ", before the rebind (" w0 ")"; exit 1 }
		if (first[new] - w1 > next_s) { print "new port first seen " first[new] - w1 " s after the rebind"; exit 1 }
		if (count[new] < 5) { print "only " count[new] " datagrams from the new port"; exit 1 }
		# alice cannot send before the start: on the wire, too, the change
		# comes no later than the runner says it rebound (plus her period)
		if (first[new] - first[old] > at / 1000 + next_s) {
			print "new port " first[new] - first[old] " s after alice'"'"'s first datagram, the rebind was at " at " ms"; exit 1
		}
		printf "ok: %d datagrams from %s:%s, then %d from :%s, switched %.3f s after the rebind ended\n",
			count[old], c, old, count[new], new, first[new] - w1
	}' "$tmp/wan" >"$tmp/wan.ok" || fail "alice's external port: $(cat "$tmp/wan.ok")"
cat "$tmp/wan.ok"
old=$(awk '{ n = split($2, s, "."); print s[n]; exit }' "$tmp/wan")
new=$(awk '{ n = split($2, s, "."); p = s[n] } END { print p }' "$tmp/wan")

# Alice's own endpoint and destination on the LAN: unchanged throughout.
dump nat-carrier-lan0.pcap "udp and src host $a_ip" >"$tmp/lan"
[ -s "$tmp/lan" ] || fail "no datagrams of alice on the carrier's LAN"
awk -v want="$a_ip.$a_port $b_pub.$b_port" '$2 " " $3 != want { print; exit 1 }' "$tmp/lan" >"$tmp/bad" ||
	fail "alice's endpoint changed on the LAN: $(cat "$tmp/bad")"
# Bob's datagrams leave home-b from one endpoint, to alice's old port, then
# (once he heard her from it) to the new one only.
dump nat-home-b-wan0.pcap "udp and src host $b_pub" >"$tmp/bob"
awk -v src="$b_pub.$b_port" -v o="$carrier.$old" -v n="$carrier.$new" '
	$2 != src { print "bob'"'"'s endpoint changed: " $2; exit 1 }
	$3 != o && $3 != n { print "bob sent to " $3; exit 1 }
	$3 == n { moved = 1 } moved && $3 == o { print "bob went back to the old port at " $1; exit 1 }
	END { if (!moved) { print "bob never followed alice to " n; exit 1 } }' "$tmp/bob" >"$tmp/bad" ||
	fail "$(cat "$tmp/bad")"
# ... and reach alice after the rebind (delivered on her LAN).
n=$(dump nat-carrier-lan0.pcap "udp and src host $b_pub and dst host $a_ip" |
	awk -v w1="$w1" '$1 > w1 { n++ } END { print n + 0 }')
[ "$n" -ge 5 ] || fail "only $n datagrams of bob reached alice after the rebind"
echo "ok: alice's LAN endpoint and bob's endpoint unchanged; $n datagrams of bob reached alice after the rebind"
echo "punchlab-rebind-after: all passed"
