#!/bin/sh
# "direct" needs datagrams delivered both ways on ONE address pair of the two
# peers' public endpoints (issue #8). Under inbound-reply = new-mapping, in
# apdm-eif x apdm-eif and apdm-eif x apdm-adf each host receives the other's
# datagrams, but every answer leaves from a new mapping: the network's verdict
# is relayed, as the RFC model says, and the explanation lists the pairs each
# way. eim-eif x apdm-eif, whose EIM side answers from its one mapping, is
# direct on the pair the explanation and direct_pair name. The pairs in the
# JSON are checked here independently: no delivery one way has its reverse
# the other way, or the direct pair is there both ways.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-one-pair.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }

"$O/punchlab" run --no-color -j 2 --json "$tmp/r.json" --only 'rfc4787-new-mapping/apdm-eif-x-apdm-eif' \
	--only 'rfc4787-new-mapping/apdm-eif-x-apdm-adf' --only 'rfc4787-new-mapping/eim-eif-x-apdm-eif' \
	matrices/rfc4787-new-mapping.matrix >"$tmp/out" 2>&1 || fail "a cell was not as expected"
python3 - "$tmp/r.json" <<'PY' >"$tmp/check" 2>&1 || { cat "$tmp/check"; fail "the pairs"; }
import json, sys
cells = {s["name"].split("/")[1]: s for s in json.load(open(sys.argv[1]))["scenarios"]}
assert sorted(cells) == ["apdm-eif-x-apdm-adf", "apdm-eif-x-apdm-eif", "eim-eif-x-apdm-eif"], sorted(cells)
for name, s in cells.items():
    e, d = s["evidence"], s["evidence"]["detail"]
    a, b = ({(p["from"], p["to"]) for p in d["peers"][k]["delivered_pairs"]} for k in (0, 1))
    both = {(x, y) for (x, y) in b if (y, x) in a}  # to bob from x at y, to alice from y at x
    if name == "eim-eif-x-apdm-eif":
        assert s["actual"] == "direct" == e["verdict"], (name, s["actual"])
        x, y = d["direct_pair"]
        assert (x, y) in both, (name, d["direct_pair"], a, b)
        assert "both ways on one address pair: alice's %s and bob's %s." % (x, y) in e["explanation"], e["explanation"]
    else:
        # deliveries both ways, on many pairs, none of them both ways
        assert s["actual"] == "relayed" == e["verdict"], (name, s["actual"])
        assert e["peers"][0]["from_partner"] > 0 and e["peers"][1]["from_partner"] > 0, (name, e["peers"])
        assert len(a) >= 2 and len(b) >= 2, (name, a, b)
        assert not both and "direct_pair" not in d, (name, both)
        assert "never both ways on one address pair" in e["explanation"], e["explanation"]
print("ok")
PY
echo "ok: direct only on one address pair both ways (new-mapping cells relayed though both hosts received; eim-eif x apdm-eif direct on its pair)"
