#!/bin/sh
# Every endpoint a client reports is one the NATs really made: peer_used and
# public_seen_by_peer of each peer, against the routers' conntrack entries the
# report records after the run (tests/tools/check-endpoints.py). The
# topologies are single NATs each side, among them the cell in which nf_nat
# used to rewrite the remote side's port (doc/nat-notes.md item 10), run with
# seeds 1, 2 and 1 again: the same seed must hand out the same ports.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-faithful.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
fail=0
for seed in 1 2 1; do
	if ! "$O/punchlab" run --no-color -j 2 --seed $seed --json "$tmp/r$seed.json" \
		topologies/pr-cone-vs-symmetric-eif.topo topologies/full-cone-vs-symmetric.topo \
		topologies/pr-cone-vs-pr-cone.topo topologies/firewall-vs-firewall.topo >"$tmp/out" 2>&1; then
		echo "FAIL: seed $seed: a verdict not as expected"
		sed 's/^/  /' "$tmp/out"
		fail=1
	fi
	grep -q "\"seed\": $seed," "$tmp/r$seed.json" || { echo "FAIL: seed $seed not recorded in the report"; fail=1; }
	python3 tests/tools/check-endpoints.py "$tmp/r$seed.json" || fail=1
	# the symmetric NAT's first mapping (bob's registration): its pool's first port
	jq -r '.scenarios[] | select(.name == "full-cone-vs-symmetric") | .peers[1].report.public' \
		"$tmp/r$seed.json" >>"$tmp/ports.$seed"
done
# --seed replays the ports exactly; another seed gives others
[ "$(sed -n 1p "$tmp/ports.1")" = "$(sed -n 2p "$tmp/ports.1")" ] &&
	echo "ok: --seed 1 twice: bob mapped to $(sed -n 1p "$tmp/ports.1") both times" ||
	{ echo "FAIL: --seed 1 twice gave $(tr '\n' ' ' <"$tmp/ports.1")"; fail=1; }
[ "$(sed -n 1p "$tmp/ports.1")" != "$(cat "$tmp/ports.2")" ] &&
	echo "ok: --seed 2: bob mapped to $(cat "$tmp/ports.2")" ||
	{ echo "FAIL: --seed 1 and 2 gave the same port"; fail=1; }
[ $fail -eq 0 ] && echo "faithful-endpoints: all passed"
exit $fail
