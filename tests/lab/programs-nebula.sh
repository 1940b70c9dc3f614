#!/bin/sh
# A real third-party NAT-traversal program under the lab: Nebula (Debian's
# nebula 1.6.1) across four NAT types (matrices/nebula.matrix), three times
# in a row. Every cell must be as expected, and the verdicts the same each
# time.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-prognebula.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
command -v nebula >/dev/null || fail "nebula is not installed (ci/install-deps.sh lab)"

for run in 1 2 3; do
	"$O/punchlab" run --no-color -j 2 --json "$tmp/r$run.json" matrices/nebula.matrix >"$tmp/out" 2>&1 ||
		fail "run $run: not every cell as expected"
	jq -r '.scenarios[] | "\(.name) \(.actual)"' "$tmp/r$run.json" | sort >"$tmp/v$run"
	[ "$(wc -l <"$tmp/v$run")" -eq 10 ] || fail "run $run: $(wc -l <"$tmp/v$run") cells, expected 10"
done
cmp -s "$tmp/v1" "$tmp/v2" && cmp -s "$tmp/v1" "$tmp/v3" || { diff "$tmp/v1" "$tmp/v2" >"$tmp/out"; diff "$tmp/v1" "$tmp/v3" >>"$tmp/out"; fail "verdicts differ between runs"; }
grep -q "symmetric-x-symmetric failed" "$tmp/v1" || fail "symmetric x symmetric did not fail"
grep -q "full-cone-x-symmetric direct" "$tmp/v1" || fail "full cone x symmetric not direct"
if pgrep -x nebula >"$tmp/out"; then
	# Only ours would be in a namespace that is gone; others' are not our business, but there should be none.
	for p in $(cat "$tmp/out"); do
		grep -q "punchlab-nebula" "/proc/$p/cmdline" 2>/dev/null && fail "a nebula of ours is still running: $p"
	done
fi
echo "ok: Nebula across 4 NAT types, 10 cells as expected, the same verdicts 3 times in a row"
