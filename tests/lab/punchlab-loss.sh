#!/bin/sh
# `loss` on an uplink really drops, in both directions, at the rate asked
# for, without netem: a lab with 20% loss on a router's uplink and 10% on a
# host's own is built and kept; 1000 UDP datagrams are echoed across both
# lossy links; the loss tables' named counters must show drops in every
# direction at the configured rates (within six standard deviations) and
# account for every datagram that did not come back. The lab is then taken
# down and nothing of it remains. Also: delay runs, with or without netem
# (tests/lab/punchlab-delay.sh measures it). The delay run is a lab of its
# own that mostly waits (its self-check's long waits on a lossy lab): it runs
# beside the loss measurement.
set -u
O=${O:-build}
# with our PID: kept labs are host-wide, and other runs of this test may share the host
name=punchlab-loss-$$
tmp=$(mktemp -d /tmp/punchlab-loss.XXXXXX) || exit 1
echo_pid=
delay_pid=
cleanup() {
	[ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null && wait "$echo_pid" 2>/dev/null
	[ -n "$delay_pid" ] && kill "$delay_pid" 2>/dev/null && wait "$delay_pid" 2>/dev/null
	"$O/punchlab" down "$name" >/dev/null 2>&1
	"$O/punchlab" down "$name-delay" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
[ -e "/run/netns/punchlab-$name.inet" ] && fail "a lab named $name is already kept here"

cat >"$tmp/$name.topo" <<'TOPO'
[lab]
description = loss test: 20% on home-a's uplink, 10% on alice's own, both ways
timeout = 40s
punch-timeout = 10s

[nat home-a]
preset = port-restricted
loss = 20%

[nat home-b]
preset = port-restricted

[peer alice]
behind = home-a
loss = 10%

[peer bob]
behind = home-b
TOPO

# delay on home-a next to loss on alice: netem, or without it a delay line.
sed 's/^loss = 20%/delay = 10ms/' "$tmp/$name.topo" >"$tmp/$name-delay.topo"
"$O/punchlab" run --json "$tmp/delay.json" "$tmp/$name-delay.topo" >"$tmp/delay.out" 2>&1 &
delay_pid=$!

# The scenario itself must run (its verdict at this much loss is not the point;
# nor is the self-check, whose probes would cross the same lossy links).
"$O/punchlab" run --no-self-check --keep --json "$tmp/run.json" "$tmp/$name.topo" >"$tmp/out" 2>&1
jq -e '.scenarios[0].actual != "error"' "$tmp/run.json" >/dev/null ||
	{ cat "$tmp/out"; fail "the lossy lab did not run"; }
[ "$(ip netns list | grep -c "^punchlab-$name\.")" -eq 8 ] || fail "not 8 kept namespaces (6 nodes, 2 probe hosts)"

# counter NODE NAME: packets of a loss-table counter in that node.
counter() {
	ip netns exec "punchlab-$name.$1" nft -j list counter netdev punchlab_loss "$2" |
		jq -e '.nftables[] | select(.counter) | .counter.packets'
}
snap() {
	for c in seen_out lost_out seen_in lost_in; do
		echo "a_$c=$(counter peer-alice $c) h_$c=$(counter nat-home-a $c)"
	done >"$tmp/$1" || fail "reading the counters"
}

# Echo server on the server node, 1000 datagrams from alice.
mkfifo "$tmp/ready"
ip netns exec "punchlab-$name.server" "$O/tools/udp-count" echo 203.0.113.10 9999 >"$tmp/ready" 2>"$tmp/echo.err" &
echo_pid=$!
read -r line <"$tmp/ready"
[ "$line" = ready ] || fail "echo server: $(cat "$tmp/echo.err")"
snap before
ip netns exec "punchlab-$name.peer-alice" "$O/tools/udp-count" send 203.0.113.10 9999 1000 >"$tmp/send" ||
	fail "udp-count send: $(cat "$tmp/send")"
snap after
read -r _ sent _ received <"$tmp/send"
[ "$sent" -eq 1000 ] || fail "sent $sent of 1000"
# shellcheck disable=SC1091
. "$tmp/before"
for v in a_seen_out a_lost_out a_seen_in a_lost_in h_seen_out h_lost_out h_seen_in h_lost_in; do
	eval "b_$v=\$$v"
done
# shellcheck disable=SC1091
. "$tmp/after"
d() { eval "echo \$(( $1 - b_$1 ))"; }
echo "sent 1000, received $received; alice out $(d a_lost_out)/$(d a_seen_out) in $(d a_lost_in)/$(d a_seen_in); home-a out $(d h_lost_out)/$(d h_seen_out) in $(d h_lost_in)/$(d h_seen_in) (lost/seen)"

# Each direction drops its share: lost/seen within 6 standard deviations of
# the rate (a false failure about once in 5e8).
within() { # lost seen ppm
	awk -v l="$1" -v n="$2" -v p="$3" 'BEGIN { p /= 1e6; sd = sqrt(n * p * (1 - p));
		exit !(n >= 200 && l >= n * p - 6 * sd && l <= n * p + 6 * sd) }'
}
within "$(d a_lost_out)" "$(d a_seen_out)" 100000 || fail "alice's uplink outbound: not 10% lost"
within "$(d a_lost_in)" "$(d a_seen_in)" 100000 || fail "alice's uplink inbound: not 10% lost"
within "$(d h_lost_out)" "$(d h_seen_out)" 200000 || fail "home-a's uplink outbound: not 20% lost"
within "$(d h_lost_in)" "$(d h_seen_in)" 200000 || fail "home-a's uplink inbound: not 20% lost"
# Nothing else loses packets in a lab: every datagram that did not come back
# was dropped by one of the four rules (a few other packets, such as TCP
# retransmissions of the run, may cross too, hence the slack of 20).
lost=$(( $(d a_lost_out) + $(d h_lost_out) + $(d h_lost_in) + $(d a_lost_in) ))
[ "$lost" -ge $((1000 - received)) ] || fail "$((1000 - received)) datagrams lost, only $lost drops counted"
[ "$lost" -le $((1000 - received + 20)) ] || fail "$lost drops counted, but only $((1000 - received)) datagrams lost"
# The share that comes back: 0.9 * 0.8 each way, 51.8% (6 sd: 424 to 613).
if [ "$received" -lt 424 ] || [ "$received" -gt 613 ]; then
	fail "received $received of 1000, expected about 518"
fi

kill "$echo_pid" && wait "$echo_pid" 2>/dev/null
echo_pid=
"$O/punchlab" down "$name" >/dev/null || fail "down"
ip netns list | grep -q "^punchlab-$name\." && fail "namespaces left after down"

# the delay run, started above
wait "$delay_pid"
delay_pid=
jq -e '.scenarios[0].actual != "error"' "$tmp/delay.json" >/dev/null ||
	fail "delay: $(jq -r '.scenarios[0].error' "$tmp/delay.json")"
msg="delay ran"
ip netns list | grep -q "^punchlab-$name" && fail "namespaces left after the delay run"
echo "ok: loss dropped at the configured rates both ways, every lost datagram counted; $msg"
