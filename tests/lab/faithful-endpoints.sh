#!/bin/sh
# Every endpoint a client reports is one the NATs really made: peer_used and
# public_seen_by_peer of each peer, against the routers' conntrack entries the
# report records after the run (tests/tools/check-endpoints.py). The
# topologies are single NATs each side, among them the cell in which nf_nat
# used to rewrite the remote side's port (doc/nat-notes.md item 10), run with
# two seeds.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-faithful.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
fail=0
for seed in 1 2; do
	if ! "$O/punchlab" run --no-color -j 2 --seed $seed --json "$tmp/r$seed.json" \
		topologies/pr-cone-vs-symmetric-eif.topo topologies/full-cone-vs-symmetric.topo \
		topologies/pr-cone-vs-pr-cone.topo topologies/firewall-vs-firewall.topo >"$tmp/out" 2>&1; then
		echo "FAIL: seed $seed: a verdict not as expected"
		sed 's/^/  /' "$tmp/out"
		fail=1
	fi
	grep -q "\"seed\": $seed," "$tmp/r$seed.json" || { echo "FAIL: seed $seed not recorded in the report"; fail=1; }
	python3 tests/tools/check-endpoints.py "$tmp/r$seed.json" || fail=1
done
[ $fail -eq 0 ] && echo "faithful-endpoints: all passed"
exit $fail
