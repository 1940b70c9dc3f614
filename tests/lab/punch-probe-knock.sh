#!/bin/sh
# punch-probe knock tells, from outside, whether a router drops unsolicited
# UDP silently or refuses it with ICMP port unreachable, and checks it against
# the declared "unsolicited": a NAT and an IPv4 firewall, each both ways.
# Namespaces knock-<pid>-*, addresses as in lib/natlab.sh.
set -u
# shellcheck source=lib/natlab.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/natlab.sh"
O=${O:-build}
NATGEN=${NATGEN:-$O/tools/natgen}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
NS=knock-$$
tmp=$(mktemp -d /tmp/punch-probe-knock.XXXXXX) || exit 1
fail=0
down() { for n in cli rtr srv; do ip netns del $NS-$n 2>/dev/null; done; return 0; }
trap 'down; rm -rf "$tmp"' EXIT
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# case NAME "NATGEN ARGS" LANNET TARGET EXPECT: knock from the server side
case_() {
	down
	# shellcheck disable=SC2086
	"$NATGEN" $2 --wan-ip 203.0.113.20 --lan-net $3 > "$tmp/r.nft" || { bad "$1: natgen"; return; }
	natlab_net $NS-cli $NS-rtr $NS-srv 203.0.113.20 203.0.113.30 203.0.113.31 > "$tmp/up" 2>&1 ||
		{ bad "$1: lab: $(cat "$tmp/up")"; return; }
	ip netns exec $NS-rtr nft -f "$tmp/r.nft" || { bad "$1: load"; return; }
	for want in drop icmp-unreachable; do
		out=$(ip netns exec $NS-srv "$O/punch-probe" knock --to $4 --timeout-ms 1000 --expect-unsolicited $want)
		rc=$?
		if [ $want = $5 ]; then
			[ $rc -eq 0 ] && echo "ok: $1: $out" || bad "$1: declared $want, exit $rc: $out"
		else
			[ $rc -eq 3 ] && echo "ok: $1: $want declared, mismatch found: $out" ||
				bad "$1: declared $want wrongly, exit $rc: $out"
		fi
	done
}
case_ nat-drop "--mapping eim --filtering apdf" 10.0.1.0/24 203.0.113.20:5555 drop
case_ nat-icmp "--mapping eim --filtering apdf --icmp-unreachable" 10.0.1.0/24 203.0.113.20:5555 icmp-unreachable
case_ fw-drop "--mapping none --filtering apdf" 198.51.100.0/24 198.51.100.2:5555 drop
case_ fw-icmp "--mapping none --filtering apdf --icmp-unreachable" 198.51.100.0/24 198.51.100.2:5555 icmp-unreachable
[ $fail -eq 0 ] && echo "punch-probe-knock: all passed"
exit $fail
