#!/bin/sh
# The birthday method's success rate, measured against the one predicted.
# Not part of make check (it takes minutes): run it by hand, as root,
#
#   O=build sh tests/bench/predict-rate.sh [RUNS [PORTS [LO-HI]]]
#
# a behind an endpoint-independent, port-restricted NAT, b behind a NAT that
# draws a random port for every new flow (nftables masquerade fully-random)
# over LO-HI (default 1024-65535, every port a Linux NAT gives an ephemeral
# source port), namespaces from tests/lab/lib/nsnat.sh (prefix hrate-<pid>-).
# RUNS pairs (default 50) with --predict birthday --predict-ports PORTS
# (default 385, which the formula puts at 90% for 64512 ports), each on a
# fresh seed; then 5 pairs without prediction, which must all be relayed.
# Prints the formula's chance, the measured rate with its 95% Wilson
# interval, and whether the predicted chance lies inside it.
set -u
# shellcheck source=../lab/lib/punch.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lab/lib/punch.sh"
punch_setup predict-rate
[ "$(id -u)" = 0 ] || { echo "predict-rate: needs root"; exit 1; }
# shellcheck source=../lab/lib/nsnat.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../lab/lib/nsnat.sh"
nsnat_setup hrate

runs=${1:-50}
ports=${2:-385}
range=${3:-1024-65535}
lo=${range%-*}
hi=${range#*-}

pair() {
	name=$1
	shift
	ns_pair "$name" --server2 198.51.100.3 --timeout 10 --punch-timeout 5 "$@"
}

ns_start_server 198.51.100.3
nat na drop masquerade
nat nb drop "meta l4proto udp masquerade to :$lo-$hi fully-random"

direct=0 relayed=0 other=0 p=""
i=0
while [ "$i" -lt "$runs" ]; do
	i=$((i + 1))
	pair "r$i" --predict birthday --predict-ports "$ports" --predict-range "$lo-$hi" --predict-rate 400
	if [ "$ra" -eq 0 ] && [ "$rb" -eq 0 ]; then
		direct=$((direct + 1))
	elif [ "$ra" -eq 1 ] && [ "$rb" -eq 1 ]; then
		relayed=$((relayed + 1))
	else
		other=$((other + 1))
	fi
	[ -n "$p" ] || p=$(jq -r '.predict.p_expected // empty' "$tmp/r$i-a.json")
	steps="$(jq -r '.predict.my_step' "$tmp/r$i-a.json"),$(jq -r '.predict.my_step' "$tmp/r$i-b.json")"
	echo "run $i: exits $ra $rb, steps $steps, a sent $(jq -r '.predict.sent' "$tmp/r$i-a.json")," \
		"b sent $(jq -r '.predict.sent' "$tmp/r$i-b.json")"
done
nopred_relayed=0
for k in 1 2 3 4 5; do
	pair "n$k"
	[ "$ra" -eq 1 ] && [ "$rb" -eq 1 ] && nopred_relayed=$((nopred_relayed + 1))
done

# 95% Wilson score interval of direct/runs.
awk -v d="$direct" -v n="$runs" -v p="$p" -v r="$relayed" -v o="$other" -v nr="$nopred_relayed" 'BEGIN {
	z = 1.96; ph = d / n
	c = (ph + z * z / (2 * n)) / (1 + z * z / n)
	h = z * sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / (1 + z * z / n)
	printf "predicted %.4f; measured %d/%d direct = %.4f (95%% interval %.4f..%.4f), %d relayed, %d other\n",
		p, d, n, ph, c - h, c + h, r, o
	printf "predicted chance %s the interval\n", (p >= c - h && p <= c + h) ? "inside" : "OUTSIDE"
	printf "without prediction: %d/5 relayed\n", nr
}'
