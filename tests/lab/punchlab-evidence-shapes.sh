#!/bin/sh
# The network's verdict in every shape of network a file can describe: the
# partner's datagrams reach a host from the partner's public address (across
# the internet), from its own address (a peer on the internet; the same LAN),
# or from the hairpinning NAT's WAN address (one NAT, or a carrier NAT both
# homes sit behind). Each case is direct, and the endpoint each host received
# from is the one that shape gives (topologies/README.md, "How the actual
# outcome is observed").
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-shapes.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }

"$O/punchlab" run --no-color -j 2 --json "$tmp/r.json" tests/lab/data/internet-peer.topo \
	topologies/pr-cone-vs-pr-cone.topo topologies/same-lan-no-hairpin.topo topologies/same-lan-hairpin.topo \
	topologies/cgn-two-subscribers.topo topologies/firewall-vs-firewall.topo >"$tmp/out" 2>&1 ||
	fail "a shape was not direct by the network"
python3 - "$tmp/r.json" <<'PY' >"$tmp/check" 2>&1 || { cat "$tmp/check"; fail "endpoints"; }
import json, sys
want = {
    # scenario: (what alice received bob's datagrams from, what bob received alice's from); a set
    # where a shape allows either (the hairpin: public or LAN, whichever answered first)
    "internet-peer": ({"203.0.113.20:40002"}, {"203.0.113.100:40001"}),
    "pr-cone-vs-pr-cone": ({"203.0.113.21:40002"}, {"203.0.113.20:40001"}),
    "same-lan-no-hairpin": ({"192.168.1.11:40002"}, {"192.168.1.10:40001"}),
    "same-lan-hairpin": ({"203.0.113.20:40002", "192.168.1.11:40002"}, {"203.0.113.20:40001", "192.168.1.10:40001"}),
    "cgn-two-subscribers": ({"203.0.113.20:40002"}, {"203.0.113.20:40001"}),
}
for s in json.load(open(sys.argv[1]))["scenarios"]:
    e = s["evidence"]
    assert s["actual"] == "direct" == e["verdict"], (s["name"], s["actual"], e["verdict"])
    a, b = e["peers"]
    assert a["from_partner"] > 0 and b["from_partner"] > 0, (s["name"], e)
    assert a["relayed"] == 0 and b["relayed"] == 0, (s["name"], e)
    if s["name"] in want:
        wa, wb = want[s["name"]]
        assert a["endpoint"] in wa and b["endpoint"] in wb, (s["name"], a["endpoint"], b["endpoint"])
print("ok")
PY
echo "ok: direct in every shape (internet peer, NATs, same LAN, hairpin, CGN, firewalls), from the endpoint each gives"
