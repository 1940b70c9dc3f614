#!/bin/sh
# One shard of a punchlab run in CI, the same command on GitHub Actions, on
# GitLab CI and in tests/lab/shard-merge.sh:
#
#   ci/punchlab-shard.sh I N OUT FILE...
#
# runs the I-th of N deterministic parts of the scenarios of FILE...
# (punchlab run --shard I/N) and leaves OUT/shard-I.json and OUT/shard-I.xml
# (JUnit) for the merge job (ci/punchlab-merge.sh). Every shard must be given
# the same FILE... in the same order and the same options: the shards are cut
# from that list.
#
# Environment: PUNCHLAB (default: punchlab), PUNCHLAB_ARGS (more run options,
# e.g. "--repeat 5 -j 4"), SUDO ("sudo" on a hosted runner where the lab needs
# root: see README.md, "CI").
# Exit status: punchlab run's (0 all as expected, 1 some mismatch, 2 usage,
# 3 setup); the reports are written in every case but a usage error.
set -u
[ $# -ge 4 ] || { echo "usage: ci/punchlab-shard.sh I N OUT FILE..." >&2; exit 2; }
i=$1 n=$2 out=$3
shift 3
mkdir -p "$out" || exit 2
set -f # PUNCHLAB_ARGS may hold --only GLOB: for punchlab, not the shell
# shellcheck disable=SC2086
${SUDO:-} "${PUNCHLAB:-punchlab}" run --no-color --shard "$i/$n" --json "$out/shard-$i.json" \
	--junit "$out/shard-$i.xml" ${PUNCHLAB_ARGS:-} "$@"
rc=$?
# Under sudo the reports belong to root: let the runner's user upload them.
[ -n "${SUDO:-}" ] && $SUDO chown -R "$(id -u):$(id -g)" "$out"
exit $rc
