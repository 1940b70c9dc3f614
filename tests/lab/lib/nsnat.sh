# shellcheck shell=sh disable=SC2154  # $tmp, $O, $pids come from lib/punch.sh
# Two clients behind two NATs and a server that also routes between the
# NATs' public sides, in namespaces named $ns-{s,na,nb,a,b} (tcp-punch.sh,
# predict.sh, tests/bench/predict-rate.sh); sourced after lib/punch.sh, never run on its own.
#
#   nsnat_setup PREFIX      the namespaces and links, deleted on exit
#   nat NS UNSOLICITED MASQ the NAT and stateful firewall of na or nb
#   ns_start_server [ADDR2] punch-server on 198.51.100.1 (and ADDR2), port 3478
#   ns_pair NAME ARGS...    punch-client in a and in b, session NAME; exits in ra, rb
#
# Addresses: a 10.0.1.2 behind na (10.0.1.1, public 198.51.100.2), b 10.0.2.2
# behind nb (10.0.2.1, public 203.0.113.2); the server's side 198.51.100.1
# and 203.0.113.1, plus 198.51.100.3 as its second address. The host's own
# namespace is not touched.

nsnat_setup() {
	ns="$1-$$"
	made=""
	trap nsnat_cleanup EXIT
	for n in s na nb a b; do
		ip netns add "$ns-$n" || fail "cannot create namespace $ns-$n"
		made="$made $ns-$n"
		ip -n "$ns-$n" link set lo up
	done
	nsnat_veth a eth0 10.0.1.2/24 na in 10.0.1.1/24
	nsnat_veth na out 198.51.100.2/24 s pa 198.51.100.1/24
	nsnat_veth b eth0 10.0.2.2/24 nb in 10.0.2.1/24
	nsnat_veth nb out 203.0.113.2/24 s pb 203.0.113.1/24
	ip -n "$ns-s" addr add 198.51.100.3/24 dev pa
	ip -n "$ns-a" route add default via 10.0.1.1
	ip -n "$ns-b" route add default via 10.0.2.1
	ip -n "$ns-na" route add default via 198.51.100.1
	ip -n "$ns-nb" route add default via 203.0.113.1
	for n in s na nb; do ip netns exec "$ns-$n" sysctl -qw net.ipv4.ip_forward=1; done
}

nsnat_cleanup() {
	# The processes first (punch_cleanup kills and reaps them), then the namespaces.
	punch_cleanup
	for n in $made; do ip netns del "$n" 2>/dev/null; done
}

# nsnat_veth NS1 IF1 ADDR1 NS2 IF2 ADDR2
nsnat_veth() {
	ip link add "$2" netns "$ns-$1" type veth peer name "$5" netns "$ns-$4" || fail "veth $2"
	ip -n "$ns-$1" addr add "$3" dev "$2"
	ip -n "$ns-$4" addr add "$6" dev "$5"
	ip -n "$ns-$1" link set "$2" up
	ip -n "$ns-$4" link set "$5" up
}

# nat NS UNSOLICITED MASQ: a NAT on "out" with a stateful firewall that lets
# in only what belongs to a flow from inside (to the very address and port it
# went to: port-restricted filtering); the unsolicited rest is dropped, TCP
# handled by UNSOLICITED ("drop", or "reject with tcp reset"). MASQ is
# "masquerade" (keeps the source port where it can: endpoint-independent
# mapping) or "masquerade random" (a random port per flow: endpoint-dependent),
# or e.g. "meta l4proto udp masquerade to :LO-HI random" (a port range needs
# the protocol; the rest then gets plain masquerade).
nat() {
	ip netns exec "$ns-$1" nft -f - <<NFT || fail "nft in $1"
flush ruleset
table ip nsnat {
	counter to_far { }
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "in" ip daddr 203.0.113.0/24 meta l4proto udp counter name to_far
		ct state established,related accept
		iifname "out" meta l4proto tcp $2
		iifname "out" drop
	}
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		iifname "out" drop
	}
	chain postrouting {
		type nat hook postrouting priority srcnat;
		oifname "out" $3
		oifname "out" masquerade
	}
}
NFT
}

# The UDP datagrams from inside NS to 203.0.113.0/24 (b's side) so far.
nat_counted() {
	ip netns exec "$ns-$1" nft list counter ip nsnat to_far | sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

# ns_start_server [ADDR2]: the server in $ns-s on 198.51.100.1 (and ADDR2).
ns_start_server() {
	rm -f "$tmp/ready" "$tmp/server.err"
	mkfifo "$tmp/ready" || fail "mkfifo"
	ip netns exec "$ns-s" "$O/punch-server" --listen 198.51.100.1 ${1:+--listen "$1"} --port 3478 \
		--ready-fd 3 3>"$tmp/ready" 2>"$tmp/server.err" &
	pids="$pids $!"
	[ "$(timeout 10 head -n 1 "$tmp/ready")" = ready ] || fail "server in $ns-s did not get ready"
}

# ns_pair NAME ARGS...: a client in a and one in b, both with the server
# 198.51.100.1:3478, session NAME and the same ARGS; their output in
# $tmp/NAME-{a,b}.{json,err}, their exit codes in ra and rb.
ns_pair() {
	name=$1
	shift
	ip netns exec "$ns-a" "$O/punch-client" --server 198.51.100.1:3478 --session "$name" "$@" \
		>"$tmp/$name-a.json" 2>"$tmp/$name-a.err" &
	pa=$!
	pids="$pids $pa"
	ip netns exec "$ns-b" "$O/punch-client" --server 198.51.100.1:3478 --session "$name" "$@" \
		>"$tmp/$name-b.json" 2>"$tmp/$name-b.err" &
	pb=$!
	pids="$pids $pb"
	wait "$pa"; ra=$?
	wait "$pb"; rb=$?
}
