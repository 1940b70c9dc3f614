#!/bin/sh
# Port prediction (punch-client --predict) through namespaces this script
# builds itself (lib/nsnat.sh, prefix hpred-<pid>-): a behind an endpoint-
# independent, port-restricted NAT (na: masquerade keeps the port; only
# answers to a's own flows come in), b behind an endpoint-dependent one (nb:
# masquerade fully-random over 40000-43999, a range of R = 4000 so that the
# numbers below make the birthday method all but certain; same filtering).
# fully-random: a port drawn at random for every new flow, which is the model
# behind the birthday formula. (On this machine's kernel plain "random" spread
# 30 sockets' flows to one destination over the range just as well; it is
# documented as a hash-seeded search, so the test does not rely on it.)
#
#   none       no prediction: b's packets to a leave from a port a never sent
#              to, a's go to the port b used for the server: relayed (1, 1)
#   birthday   --predict birthday --predict-ports 300: a (the easy side) probes
#              300 random ports of b's address, b opens 300 mappings toward a;
#              the chance they miss is C(3700,300)/C(4000,300) < 1e-10: direct
#              (0, 0), and the report's p_expected says so
#   budget     the same with --predict-budget 40 --predict-rate 100: the UDP
#              datagrams a sent toward b's side, counted by an nftables counter
#              on na, are at most the 40 prediction probes plus what a's report
#              says it sent otherwise; a's own count of prediction probes is 40
#
#   sequential a NAT that allocates by a step, hand-written for the flows here:
#              relayed without prediction, direct with --predict sequential in
#              the first pass over the predicted ports
#
# The pairs that end relayed punch for 1 s (--punch-timeout 1s, what
# punchlab gives its clients in a lab with no delay or loss), not the
# client's default 3 s: the namespaces' round trip is well under a
# millisecond, and budget's 40 probes at 100/s are spent in 0.4 s (a client
# that overran its budget would send 100 in that second).
#
# Caveat: b's NAT gives its two registrations the same random port with
# chance 1/4000, in which case b looks endpoint-independent (step 0).
set -u
# shellcheck source=lib/punch.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/punch.sh"
punch_setup predict

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
# shellcheck source=lib/nsnat.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/nsnat.sh"
nsnat_setup hpred

jqf() { jq -r "$2" "$1"; }

# pair NAME ARGS...: a client in a and one in b with the same ARGS; exit codes in ra, rb.
pair() {
	name=$1
	shift
	ns_pair "$name" --server2 198.51.100.3 --timeout 8 "$@"
}

ns_start_server 198.51.100.3
nat na drop masquerade
nat nb drop "meta l4proto udp masquerade to :40000-43999 fully-random"

pair none --punch-timeout 1s
[ "$ra $rb" = "1 1" ] || fail "none: exits $ra $rb, want 1 1 (relayed)"

pair birthday --predict birthday --predict-ports 300 --predict-range 40000-43999
[ "$ra $rb" = "0 0" ] || fail "birthday: exits $ra $rb, want 0 0 (direct)"
j="$tmp/birthday-a.json"
[ "$(jqf "$j" .predict.my_step)" = 0 ] || fail "birthday: a's NAT should look endpoint-independent"
[ "$(jqf "$j" .predict.peer_step)" != 0 ] || fail "birthday: b's NAT should look endpoint-dependent"
[ "$(jqf "$j" .predict.targets)" = 300 ] || fail "birthday: a did not aim at 300 ports"
[ "$(jqf "$tmp/birthday-b.json" .predict.sockets)" = 300 ] || fail "birthday: b did not open 300 sockets"
jqf "$j" '.predict.p_expected > 0.9999999' | grep -qx true || fail "birthday: p_expected not near 1"
case "$(field "$j" peer_used)" in '"203.0.113.2:'4[0-9][0-9][0-9][0-9]'"') ;;
*) fail "birthday: a's path is not to one of b's NAT's ports" ;; esac

before=$(nat_counted na)
pair budget --predict birthday --predict-ports 300 --predict-range 40000-43999 --predict-budget 40 \
	--predict-rate 100 --punch-timeout 1s
after=$(nat_counted na)
j="$tmp/budget-a.json"
sent=$(jqf "$j" .predict.sent)
[ "$sent" -le 40 ] || fail "budget: a says it sent $sent prediction probes, over the budget of 40"
other=$(jqf "$j" '(.probes_sent - .predict.sent) + .acks_sent + .data_sent + 2')
counted=$((after - before))
[ "$counted" -le $((40 + other)) ] ||
	fail "budget: the network counted $counted datagrams from a toward b, more than 40 + $other"
[ "$counted" -ge "$sent" ] || fail "budget: the network counted $counted datagrams, fewer than the $sent a reports"

# A sequential NAT, written out for the flows of this test: each new
# destination of b gets the next port by a step of 2 (45000 for the server,
# 45002 for its second address, 45004 for a; 45010... in the second run;
# outside the random range above, whose flows' conntrack entries live on).
# Without prediction a aims at 45000 and b's probes come from 45004: relayed.
# With it a's first target is 45014: direct, and within the first pass.
# seq_nat BASE: b's flows to the server, its second address and a from BASE,
# BASE + 2, BASE + 4. Each run gets its own BASE: the last run's conntrack
# entries still hold its ports.
seq_nat() {
	nat nb drop "meta l4proto udp ip daddr 198.51.100.1 snat to 203.0.113.2:$1
		oifname \"out\" meta l4proto udp ip daddr 198.51.100.3 snat to 203.0.113.2:$(($1 + 2))
		oifname \"out\" meta l4proto udp ip daddr 198.51.100.2 snat to 203.0.113.2:$(($1 + 4))"
}
seq_nat 45000
pair seqnone --punch-timeout 1s
[ "$ra $rb" = "1 1" ] || fail "sequential NAT, no prediction: exits $ra $rb, want 1 1 (relayed)"
seq_nat 45010
pair seq --predict sequential
[ "$ra $rb" = "0 0" ] || fail "sequential: exits $ra $rb, want 0 0 (direct)"
j="$tmp/seq-a.json"
[ "$(jqf "$j" .predict.peer_step)" = 2 ] || fail "sequential: a was not told b's step of 2"
[ "$(field "$j" peer_used)" = '"203.0.113.2:45014"' ] || fail "sequential: a's path is not to b's next port"
[ "$(jqf "$j" .predict.passes)" = 1 ] || fail "sequential: predicted, but not in the first pass"

echo "predict: ok"
exit 0
