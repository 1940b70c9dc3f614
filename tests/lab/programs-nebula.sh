#!/bin/sh
# A real third-party NAT-traversal program under the lab: Nebula (Debian's
# nebula 1.6.1) across four NAT types (matrices/nebula.matrix), three runs.
# Every cell must be as expected in each run, and the verdicts the same in
# all three.
#
# The three runs go side by side: a run is mostly waiting (its two failing
# cells wait out their check's ping deadline, 12 s, the rest end in about a
# second), each run has its own labs, seed and work directories, and their
# verdicts must still agree, now also under the load of the other two. In
# each run the cells with a symmetric NAT go first (the failing ones are
# among them: FILE.matrix:PATTERN, then the file for the rest, each cell
# once) and -j 3 runs the quick cells beside them, so a run lasts about as
# long as its slowest cell instead of queueing the slow ones last. What
# runs in a row also showed, that a run leaves nothing behind that changes
# the next, is checked directly: no nebula of ours outlives its run (below),
# and punchlab-shipped.sh checks that no lab leaves links or rules behind.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-prognebula.XXXXXX) || exit 1
# shellcheck source=lib/bg.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/bg.sh"
fail() { echo "FAIL: $*"; sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
command -v nebula >/dev/null || { : >"$tmp/out"; fail "nebula is not installed (ci/install-deps.sh lab)"; }

runs=
for run in 1 2 3; do
	bg_run env TMPDIR="$tmp" "$O/punchlab" run --no-color -j 3 --json "$tmp/r$run.json" "matrices/nebula.matrix:*-x-symmetric" matrices/nebula.matrix >"$tmp/out$run" 2>&1
	runs="$runs $bg_pid"
done
run=0
for p in $runs; do
	run=$((run + 1))
	reap "$p"
	cp "$tmp/out$run" "$tmp/out"
	[ "$rc" = 0 ] || fail "run $run: not every cell as expected (exit $rc)"
done
for run in 1 2 3; do
	cp "$tmp/out$run" "$tmp/out"
	jq -r '.scenarios[] | "\(.name) \(.actual)"' "$tmp/r$run.json" | sort >"$tmp/v$run"
	[ "$(wc -l <"$tmp/v$run")" -eq 10 ] || fail "run $run: $(wc -l <"$tmp/v$run") cells, expected 10"
done
cmp -s "$tmp/v1" "$tmp/v2" && cmp -s "$tmp/v1" "$tmp/v3" || { diff "$tmp/v1" "$tmp/v2" >"$tmp/out"; diff "$tmp/v1" "$tmp/v3" >>"$tmp/out"; fail "verdicts differ between runs"; }
grep -q "symmetric-x-symmetric failed" "$tmp/v1" || fail "symmetric x symmetric did not fail"
grep -q "full-cone-x-symmetric direct" "$tmp/v1" || fail "full cone x symmetric not direct"
# None of ours may outlive its run. Ours have their configuration in a work
# directory under $tmp (TMPDIR above); others' nebulas on this host (another
# punchlab run of this matrix, punchlab-shipped.sh beside this test) are not
# our business.
if pgrep -x nebula >"$tmp/out"; then
	for p in $(cat "$tmp/out"); do
		grep -qF "$tmp/" "/proc/$p/cmdline" 2>/dev/null && fail "a nebula of ours is still running: $p"
	done
fi
echo "ok: Nebula across 4 NAT types, 10 cells as expected, the same verdicts in 3 runs side by side"
