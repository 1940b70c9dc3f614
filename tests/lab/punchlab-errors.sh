#!/bin/sh
# Bad input gets a clear error that says what and where, a non-zero exit,
# and never a crash or a half-built lab:
# - a malformed topology: file:line in `check` and in `run`;
# - a user's ruleset that nft refuses: the router, the file and nft's own
#   message pointing at the user's line, after the lab built so far was torn down;
# - a user's own ruleset that loads: runs as declared;
# - a missing file, an unknown command, a bad option;
# - bad --repeat, --shard, cell patterns; merge and diff of what is not a report.
set -u
D=tests/lab/data
# shellcheck source=lib/expect.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/expect.sh"
expect_setup punchlab-errors

expect_exit 0 "$O/punchlab" check topologies/*.topo
says "ok (expect"

printf '[lab]\nexpect = sideways\n[peer a]\nbehind = internet\n' >"$tmp/bad-value.topo"
expect_exit 1 "$O/punchlab" check "$tmp/bad-value.topo"
says "$tmp/bad-value.topo:2: bad value 'sideways' for expect"
expect_exit 1 "$O/punchlab" run "$tmp/bad-value.topo"
says "$tmp/bad-value.topo:2:"
says "0 passed, 0 failed, 1 error"

# A FIFO or a device as a topology or a matrix: refused at once, never read (it would hang).
mkfifo "$tmp/fifo.topo" "$tmp/fifo.matrix"
expect_exit 1 timeout 10 "$O/punchlab" check "$tmp/fifo.topo"
says "$tmp/fifo.topo: not a regular file, not a topology"
expect_exit 2 timeout 10 "$O/punchlab" run "$tmp/fifo.matrix"
says "$tmp/fifo.matrix: not a regular file, not a matrix"
expect_exit 1 timeout 10 "$O/punchlab" check /dev/zero
says "/dev/zero: not a regular file"

printf '[lab]\ncolour = blue\n' >"$tmp/unknown-key.topo"
expect_exit 1 "$O/punchlab" check "$tmp/unknown-key.topo"
says "$tmp/unknown-key.topo:2:"
says "colour"

links_before=$(ip -o link show | wc -l)
expect_exit 1 "$O/punchlab" run "$D/bad-rules.topo"
says "nat-home-a: loading the ruleset"
says "$D/bad.nft:3:"
says "bogus keyword"
[ "$(ip -o link show | wc -l)" -eq "$links_before" ] || fail "links appeared on the host"

expect_exit 0 "$O/punchlab" run "$D/own-rules.topo"
says "1 passed, 0 failed"

expect_exit 2 "$O/punchlab" run "$tmp/does-not-exist.topo"
says "does-not-exist.topo: No such file or directory"
expect_exit 2 "$O/punchlab" frobnicate x.topo
says "unknown command 'frobnicate'"
expect_exit 2 "$O/punchlab" run -j 0 topologies/pr-cone-vs-pr-cone.topo
says "-j 0: a number of jobs from 1 to 256"
expect_exit 2 "$O/punchlab" run
says "no topology files given"

expect_exit 2 "$O/punchlab" run --repeat 0 topologies/pr-cone-vs-pr-cone.topo
says "--repeat 0: a number of runs from 1 to 10000"
for bad in 0/3 4/3 3 1/0 x/2; do
	expect_exit 2 "$O/punchlab" run --shard "$bad" topologies/pr-cone-vs-pr-cone.topo
	says "--shard $bad: I/N, the I-th of N parts (1 <= I <= N)"
done
expect_exit 2 "$O/punchlab" run --keep --repeat 2 topologies/pr-cone-vs-pr-cone.topo
says "--keep keeps one lab per scenario: not with --repeat"
expect_exit 2 "$O/punchlab" run 'matrices/classic.matrix:nothing-x-here'
says "matrices/classic.matrix: no cell matches 'nothing-x-here'"
expect_exit 2 "$O/punchlab" run "$tmp/nope.matrix:open-x-open"
says "nope.matrix: No such file or directory"
printf '[lab]\nexpect-rate = 1.5\n[peer a]\nbehind = internet\n' >"$tmp/bad-rate.topo"
expect_exit 1 "$O/punchlab" check "$tmp/bad-rate.topo"
says "$tmp/bad-rate.topo:2: expect-rate = 1.5 is out of range: 0.01 to 1"
printf '{"scenarios": [{"name": "x"}]}' >"$tmp/not-a-report.json"
expect_exit 2 "$O/punchlab" merge "$tmp/not-a-report.json"
says "not-a-report.json: not a punchlab JSON report"
expect_exit 2 "$O/punchlab" merge "$tmp/absent.json"
says "absent.json: No such file or directory"
expect_exit 2 "$O/punchlab" merge
says "merge: no reports given"
expect_exit 2 "$O/punchlab" diff "$tmp/not-a-report.json"
says "diff: BASE.json NEW.json"
expect_exit 2 "$O/punchlab" diff "$tmp/not-a-report.json" "$tmp/not-a-report.json"
says "not a punchlab JSON report"
echo "ok: errors say what and where"
