#!/bin/sh
# The merge job of a sharded punchlab run (after ci/punchlab-shard.sh 1..N):
#
#   ci/punchlab-merge.sh OUT [BASE.json]
#
# joins OUT/shard-*.json into OUT/report.json, OUT/report.xml (JUnit),
# OUT/summary.md and the matrix pictures OUT/pictures/NAME.svg and .md
# (punchlab merge), appends the summary and the pictures' Markdown to the CI
# job summary ($GITHUB_STEP_SUMMARY on GitHub Actions, when set), and with
# BASE.json lists what regressed, improved or changed rate against it
# (punchlab diff) into OUT/diff.txt.
#
# Exit status: 0 when every scenario passed over its runs and nothing
# regressed against BASE; 1 otherwise; 2 when the reports cannot be read.
# Environment: PUNCHLAB (default: punchlab). No root needed.
set -u
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: ci/punchlab-merge.sh OUT [BASE.json]" >&2; exit 2; }
out=$1
base=${2:-}
pl=${PUNCHLAB:-punchlab}
set -- "$out"/shard-*.json
[ -f "$1" ] || { echo "punchlab-merge: no $out/shard-*.json" >&2; exit 2; }
mkdir -p "$out/pictures" || exit 2
"$pl" merge --no-color --json "$out/report.json" --junit "$out/report.xml" --markdown "$out/summary.md" \
	--picture "$out/pictures" "$@"
rc=$?
[ $rc -le 1 ] || exit $rc
if [ -n "$base" ]; then
	"$pl" diff "$base" "$out/report.json" >"$out/diff.txt"
	drc=$?
	cat "$out/diff.txt"
	[ $drc -le 1 ] || exit $drc
	[ $drc -eq 0 ] || rc=1
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
	{
		echo "## punchlab"
		echo
		for md in "$out"/pictures/*.md; do
			[ -f "$md" ] && cat "$md" && echo
		done
		cat "$out/summary.md"
		if [ -n "$base" ]; then
			printf '\n### Against the base report\n\n```\n'
			cat "$out/diff.txt"
			printf '```\n'
		fi
	} >>"$GITHUB_STEP_SUMMARY"
fi
exit $rc
