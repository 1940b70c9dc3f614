# The three-namespace NAT lab of the ruleset tests (nat-rulesets.sh,
# classify-nats.sh, tcp-nat.sh, punch-probe-knock.sh); sourced, never run on
# its own.
#
#   . "$(dirname "$0")/lib/natlab.sh"
#   natlab_net CLI RTR SRV WANIP S1 S2
#
# Makes namespaces CLI, RTR and SRV: CLI on the router's LAN with 10.0.1.2,
# 10.0.1.3 and the routed public 198.51.100.2 (a firewall's hosts); RTR
# forwarding, LAN lan0 (10.0.1.1, 198.51.100.1), WAN wan0 (WANIP/24); SRV on
# the WAN with S1 and S2, routing 198.51.100.0/24 through the router. No
# ruleset yet. Uses only 10.0.1.0/24, 198.51.100.0/24 and 203.0.113.0/24, in
# those namespaces. Returns non-zero at the first step that fails.
natlab_net() {
	ip -batch - <<-EOT || return 1
	netns add $1
	netns add $2
	netns add $3
	link add lan0 netns $2 type veth peer name eth0 netns $1
	link add wan0 netns $2 type veth peer name eth0 netns $3
	EOT
	ip -n "$1" -batch - <<-EOT || return 1
	addr add 10.0.1.2/24 dev eth0
	addr add 10.0.1.3/24 dev eth0
	addr add 198.51.100.2/24 dev eth0
	link set eth0 up
	link set lo up
	route add default via 10.0.1.1
	EOT
	ip -n "$2" -batch - <<-EOT || return 1
	addr add 10.0.1.1/24 dev lan0
	addr add 198.51.100.1/24 dev lan0
	addr add $4/24 dev wan0
	link set lan0 up
	link set wan0 up
	link set lo up
	EOT
	ip -n "$3" -batch - <<-EOT || return 1
	addr add $5/24 dev eth0
	addr add $6/24 dev eth0
	link set eth0 up
	link set lo up
	route add 198.51.100.0/24 via $4
	EOT
	ip netns exec "$2" sysctl -qw net.ipv4.ip_forward=1
}

# natlab_end PREFIX PID...: at the exit of a test whose labs are named
# PREFIX-* and run side by side (nat-rulesets.sh's lanes, tcp-nat.sh's
# cases): each PID is stopped and waited for, then every namespace PREFIX-*
# still there is deleted, whatever state the labs were left in.
natlab_end() {
	natlab_pfx=$1
	shift
	for p in "$@"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for n in /run/netns/"$natlab_pfx"-*; do [ -e "$n" ] && ip netns del "${n##*/}"; done
	return 0
}

# natlab_evidence RTR: the test's own counters in the router RTR (made by
# natlab_net), in a table of their own beside the ruleset under test; they
# count and accept, nothing else. natlab_icmp_unreach: ICMP destination
# unreachable the router sends itself (a reject's, or its stack's for a port
# nobody binds); natlab_tcp_rst: TCP resets it sends itself (a reject's);
# natlab_udp_local: UDP from the LAN delivered to the router itself (the
# input hook after every filter of the ruleset). lib/natlab.py reads them
# with the ruleset's own.
natlab_evidence() {
	ip netns exec "$1" nft -f - <<-'EOT'
	table ip natlab {
		counter natlab_icmp_unreach { }
		counter natlab_tcp_rst { }
		counter natlab_udp_local { }
		chain output {
			type filter hook output priority filter; policy accept;
			icmp type destination-unreachable counter name "natlab_icmp_unreach"
			tcp flags & rst == rst counter name "natlab_tcp_rst"
		}
		chain input {
			type filter hook input priority filter + 100; policy accept;
			iifname "lan0" meta l4proto udp counter name "natlab_udp_local"
		}
	}
	EOT
}
