#!/bin/sh
# Sharding, merging and diffing as CI does them, with the very commands of the
# shipped workflows (ci/punchlab-shard.sh, ci/punchlab-merge.sh):
# - shards 1/3, 2/3 and 3/3 of a set of scenarios (a matrix with a cell
#   pattern and --only, two topologies) partition it, and their merge has the
#   same scenarios with the same verdicts and outcomes as the unsharded run,
#   its JSON, JUnit, Markdown and matrix picture well-formed;
# - overlapping shards are refused; a cell or file named twice runs once;
# - punchlab diff of the unsharded report against the merged one finds
#   nothing to report and exits 0; against a run where a scenario is broken
#   (its second NAT made symmetric while it still expects direct) it flags
#   that scenario as regressed and exits 1;
# - --repeat gives each repetition its own JUnit name and a rate with a
#   Wilson interval in the JSON report;
# - the workflow files parse as YAML and call these scripts.
# Nothing of the labs remains after.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-shard.XXXXXX) || exit 1
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 0; }
ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.before"

# The workflows run the scripts below; check they still say so, and parse.
grep -q 'ci/punchlab-shard.sh' ci/github/punchlab.yml || fail "the GitHub workflow does not run ci/punchlab-shard.sh"
grep -q 'ci/punchlab-merge.sh' ci/github/punchlab.yml || fail "the GitHub workflow does not run ci/punchlab-merge.sh"
grep -q 'ci/punchlab-shard.sh "$CI_NODE_INDEX" "$CI_NODE_TOTAL"' ci/gitlab/punchlab.gitlab-ci.yml ||
	fail "the GitLab job does not run ci/punchlab-shard.sh with its node index"
grep -q 'ci/punchlab-merge.sh' ci/gitlab/punchlab.gitlab-ci.yml || fail "the GitLab job does not merge"
if python3 -c 'import yaml' 2>/dev/null; then
	for y in ci/github/punchlab.yml ci/gitlab/punchlab.gitlab-ci.yml; do
		python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$y" || fail "$y is not YAML"
	done
fi

# 8 scenarios: the 6 cells of the cell pattern (which --only keeps: any
# pattern may match) and the 2 topologies. No globbing of the patterns here.
set -f
set -- 'matrices/classic.matrix:*-x-symmetric' topologies/pr-cone-vs-pr-cone.topo \
	topologies/pr-cone-vs-symmetric.topo
args="-j 2 --no-self-check --only classic/*-x-symmetric --only classic/*-x-port-restr --only pr-cone-*"

# A deliberately broken scenario: pr-cone-vs-pr-cone with bob's NAT made
# symmetric, still expecting direct: relayed, a regression against the base.
mkdir "$tmp/broken"
grep -q '^expect *= *direct$' topologies/pr-cone-vs-pr-cone.topo || fail "pr-cone-vs-pr-cone no longer expects direct"
sed -e 's/^\[nat home-b\]$/[nat home-b]\nmapping = apdm/' \
	-e 's/^\[lab\]$/[lab]\nexpect-why = deliberately broken by tests\/lab\/shard-merge.sh/' \
	topologies/pr-cone-vs-pr-cone.topo >"$tmp/broken/pr-cone-vs-pr-cone.topo"
"$O/punchlab" check "$tmp/broken/pr-cone-vs-pr-cone.topo" >"$tmp/check.out" 2>&1 || {
	cat "$tmp/check.out"
	fail "the broken topology does not parse"
}

# Every run below is independent of the others and mostly waits on its
# scenarios' timers: they all start here, side by side (bg NAME CMD... runs
# CMD with its output in $tmp/NAME.out and its status in $tmp/NAME.rc), and
# each is checked below as it was when they ran one after the other.
bg() {
	name=$1; shift
	{ "$@" >"$tmp/$name.out" 2>&1; echo $? >"$tmp/$name.rc"; } &
}
bg whole "$O/punchlab" run --no-color $args --json "$tmp/whole.json" "$@"
for i in 1 2 3; do
	bg "shard-$i" env PUNCHLAB="$O/punchlab" PUNCHLAB_ARGS="$args" ci/punchlab-shard.sh "$i" 3 "$tmp/out" "$@"
done
bg new "$O/punchlab" run --no-color -j 2 --no-self-check --json "$tmp/new.json" \
	"$tmp/broken/pr-cone-vs-pr-cone.topo" topologies/pr-cone-vs-symmetric.topo
bg twice "$O/punchlab" run --no-color --no-self-check --json "$tmp/twice.json" 'matrices/classic.matrix:open-x-open' \
	'matrices/classic.matrix:open-x-op*' topologies/pr-cone-vs-pr-cone.topo topologies/pr-cone-vs-pr-cone.topo
bg rep "$O/punchlab" run --no-color -j 2 --no-self-check --repeat 3 --junit "$tmp/rep.xml" --json "$tmp/rep.json" \
	topologies/pr-cone-vs-pr-cone.topo
wait

rc=$(cat "$tmp/whole.rc")
[ "$rc" -eq 0 ] || { cat "$tmp/whole.out"; fail "the unsharded run exited $rc"; }
total=$(jq '.scenarios | length' "$tmp/whole.json")
# the cell pattern leaves 6 symmetric cells, --only keeps them and both topologies
[ "$total" -eq 8 ] || fail "the unsharded run has $total scenarios, want 8 (6 cells, 2 topologies)"

for i in 1 2 3; do
	rc=$(cat "$tmp/shard-$i.rc")
	[ "$rc" -eq 0 ] || { cat "$tmp/shard-$i.out"; fail "shard $i/3 exited $rc"; }
	n=$(jq '.scenarios | length' "$tmp/out/shard-$i.json")
	# round robin: 8 over 3 gives 3, 3, 2
	[ "$n" -eq $((i < 3 ? 3 : 2)) ] || fail "shard $i/3 ran $n scenarios"
done
: >"$tmp/step-summary.md"
GITHUB_STEP_SUMMARY=$tmp/step-summary.md PUNCHLAB=$O/punchlab ci/punchlab-merge.sh "$tmp/out" "$tmp/whole.json" \
	>"$tmp/merge.out" 2>&1
rc=$?
[ $rc -eq 0 ] || { cat "$tmp/merge.out"; fail "the merge (and diff against the whole) exited $rc"; }
key='[.scenarios[] | [.name, .verdict, .actual, .expected]] | sort'
jq -c "$key" "$tmp/whole.json" >"$tmp/whole.keys"
jq -c "$key" "$tmp/out/report.json" >"$tmp/merged.keys"
cmp -s "$tmp/whole.keys" "$tmp/merged.keys" || {
	diff "$tmp/whole.keys" "$tmp/merged.keys"
	fail "the merged shards differ from the unsharded run"
}
grep -q "^8 scenarios: 0 regressed, 0 rate down, 0 improved, 0 rate up, 0 changed, 0 new, 0 gone, 8 same" \
	"$tmp/out/diff.txt" || { cat "$tmp/out/diff.txt"; fail "diff of whole and merged is not all same"; }
xmllint --noout "$tmp/out/report.xml" "$tmp/out/pictures/classic.svg" || fail "merged JUnit or SVG not well-formed"
[ "$(grep -c '<testcase ' "$tmp/out/report.xml")" -eq 8 ] || fail "merged JUnit does not have 8 tests"
grep -q '| \*\*port-restr\*\* |' "$tmp/out/pictures/classic.md" || fail "no matrix picture in the merge"
grep -q "columns: bob's router" "$tmp/out/pictures/classic.svg" || fail "the picture does not say whose NAT"
grep -q '^\*\*8 passed, 0 failed\*\*' "$tmp/out/summary.md" || fail "the merged summary does not count 8"
# The GitHub job summary: the picture, the summary, the diff against the base.
grep -q '^### Matrix classic' "$tmp/step-summary.md" || fail "no picture in the job summary"
grep -q '^\*\*8 passed, 0 failed\*\*' "$tmp/step-summary.md" || fail "no summary in the job summary"
grep -q '^8 scenarios: 0 regressed' "$tmp/step-summary.md" || fail "no diff in the job summary"

# Shards given twice overlap: refused, not counted twice.
cp "$tmp/out/shard-1.json" "$tmp/again.json"
"$O/punchlab" merge "$tmp/out/shard-1.json" "$tmp/again.json" >"$tmp/dup.out" 2>&1
rc=$?
[ $rc -eq 2 ] || fail "merging a shard twice exited $rc, want 2"
grep -q "is in two of the reports" "$tmp/dup.out" || fail "no word on overlapping shards"

# The broken scenario (above) fails its run and is a regression against the base.
[ "$(cat "$tmp/new.rc")" -eq 1 ] || { cat "$tmp/new.out"; fail "the broken scenario did not fail its run"; }
"$O/punchlab" diff "$tmp/whole.json" "$tmp/new.json" >"$tmp/diff.out" 2>&1
rc=$?
[ $rc -eq 1 ] || { cat "$tmp/diff.out"; fail "diff exited $rc on a regression, want 1"; }
grep -q '^regressed  pr-cone-vs-pr-cone: pass 1/1 direct -> fail 0/1 relayed' "$tmp/diff.out" ||
	{ cat "$tmp/diff.out"; fail "diff does not flag the broken scenario"; }
grep -q '^gone       classic/' "$tmp/diff.out" || fail "diff does not list what the new report lacks"
grep -q 'pr-cone-vs-symmetric' "$tmp/diff.out" && fail "diff lists an unchanged scenario"
"$O/punchlab" diff "$tmp/new.json" "$tmp/whole.json" >"$tmp/diff2.out" 2>&1
[ $? -eq 0 ] || fail "diff in the other direction (an improvement) did not exit 0"
grep -q '^improved   pr-cone-vs-pr-cone' "$tmp/diff2.out" || fail "the fix is not an improvement"
"$O/punchlab" diff "$tmp/whole.json" "$tmp/nonexistent.json" >/dev/null 2>&1
[ $? -eq 2 ] || fail "diff of a missing report did not exit 2"

# One cell named by two patterns, and one file twice: each runs once, one picture.
[ "$(cat "$tmp/twice.rc")" -eq 0 ] || { cat "$tmp/twice.out"; fail "the run of a cell named twice failed"; }
[ "$(jq -c '[.scenarios[].name]' "$tmp/twice.json")" = '["classic/open-x-open","pr-cone-vs-pr-cone"]' ] ||
	fail "a scenario named twice did not run once: $(jq -c '[.scenarios[].name]' "$tmp/twice.json")"
[ "$(grep -c '^classic: ' "$tmp/twice.out")" -eq 1 ] || fail "not one picture of the matrix named twice"

# Repetitions: unique JUnit names, a rate and an interval.
[ "$(cat "$tmp/rep.rc")" -eq 0 ] || { cat "$tmp/rep.out"; fail "--repeat 3 failed"; }
for k in 1 2 3; do
	grep -q "<testcase name=\"pr-cone-vs-pr-cone#$k\"" "$tmp/rep.xml" || fail "no JUnit test pr-cone-vs-pr-cone#$k"
done
[ "$(jq -c '.rates[0] | [.runs, .passed, .direct, .verdict, .interval]' "$tmp/rep.json")" = '[3,3,3,"pass","wilson-95"]' ] ||
	fail "the rate of 3 runs is not 3/3: $(jq -c '.rates' "$tmp/rep.json")"
jq -e '.rates[0].lo > 0.43 and .rates[0].lo < 0.44 and .rates[0].hi == 1' "$tmp/rep.json" >/dev/null ||
	fail "the Wilson interval of 3/3 is not [0.438, 1]"
grep -q '^PASS   pr-cone-vs-pr-cone  3/3 100% \[43.9%, 100.0%\]' "$tmp/rep.out" || fail "no rate line"

ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.after"
cmp -s "$tmp/links.before" "$tmp/links.after" || fail "links left behind"
echo "ok: 3 shards merge to the unsharded report (8 scenarios), diff flags the broken scenario, --repeat rates"
