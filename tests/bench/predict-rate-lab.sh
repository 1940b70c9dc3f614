#!/bin/sh
# The birthday method's derived rate against the measured one, inside
# punchlab: the expectation comes from the model (lab/model/outcome.c), the
# verdict from the routers' evidence. Not part of make check (minutes); run
# by hand, as root:
#
#   O=build sh tests/bench/predict-rate-lab.sh [RUNS [PORTS...]]
#
# For each PORTS (default 128 256 400), the pair of
# topologies/predict-birthday-symmetric-vs-pr-cone.topo (bob's symmetric NAT
# hands out random ports of 20000-29999) with predict-ports = PORTS and the
# client's own predict-range (1024-65535), so that most of the aimed ports
# miss the NAT's range and the rate is well below 1; RUNS runs each
# (default 50) with punchlab run --repeat. Prints the derived rate, the
# measured one with its 95% Wilson interval, and whether the derived rate
# lies inside it (a 95% interval misses the true rate one time in twenty:
# a single OUTSIDE is chance, a pattern is a wrong model).
set -u
O=${O:-build}
[ "$(id -u)" = 0 ] || { echo "predict-rate-lab: needs root"; exit 1; }
tmp=$(mktemp -d /tmp/predict-rate-lab.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
runs=${1:-50}
[ $# -gt 0 ] && shift
ports=${*:-128 256 400}

for n in $ports; do
	sed "/^predict-range/d; /^expect /d; s/^predict-ports = .*/predict-ports = $n/" \
		topologies/predict-birthday-symmetric-vs-pr-cone.topo >"$tmp/p$n.topo"
	"$O/punchlab" run --no-color --no-self-check -j 2 --repeat "$runs" --json "$tmp/p$n.json" "$tmp/p$n.topo" \
		>"$tmp/p$n.out" 2>&1
	PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(dirname "$0")/../lab/lib" python3 - "$tmp/p$n.json" "$n" <<'PY'
import json, sys
from wilson import wilson95
doc = json.load(open(sys.argv[1]))
runs = doc["scenarios"]
N = len(runs)
d = sum(1 for s in runs if s["actual"] == "direct")
p = runs[0].get("expect_rate") or 1.0
ph = d / N
lo, hi = wilson95(d, N)
other = sum(1 for s in runs if s["actual"] not in ("direct", "relayed"))
print("predict-ports %s: derived %.4f; measured %d/%d direct = %.2f (95%% interval %.2f-%.2f), %d neither: %s"
      % (sys.argv[2], p, d, N, ph, lo, hi, other, "inside" if lo <= p <= hi else "OUTSIDE"))
PY
done
