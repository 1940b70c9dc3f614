# The three-namespace NAT lab of the ruleset tests (nat-rulesets.sh,
# classify-nats.sh); sourced, never run on its own.
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
