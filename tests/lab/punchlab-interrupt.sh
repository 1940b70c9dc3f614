#!/bin/sh
# The job pool as the user sees it: results come as they end, and an
# interrupt stops the run cleanly.
#
#  1. A fast scenario's line appears while a slow one still runs (its
#     clients are alive): the pool refills a slot the moment a worker ends,
#     it does not wait for the whole batch.
#  2. SIGINT to the punchlab process alone, mid-run: exit status 130, the
#     summary says it was interrupted, every report is written and holds the
#     scenarios that finished (and only those), and 1 s later nothing of the
#     run is alive: no process, no namespace.
#  3. The same with SIGTERM.
#
# The run's processes are found by a marker in their environment (see
# punchlab-kill9.sh): other labs may run on this machine.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-interrupt.XXXXXX) || exit 1
pl=
cleanup() {
	[ -n "$pl" ] && kill -9 "$pl" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/out" ] && sed 's/^/  | /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
# shellcheck source=lib/killtest.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/killtest.sh"


slow_copies "$tmp/slow" udp-blocked ipv6-udp-blocked || fail "copying the slow scenarios"

# One run, interrupted by signal $1 once the fast scenario has reported.
interrupted_run() {
	sig=$1 mark="$$-$1"
	rm -f "$tmp/r.json" "$tmp/r.xml" "$tmp/r.md"
	# The slow one first: it takes a slot before the fast one, and runs its
	# whole time limit (about 10 s); the fast one is done in about 2 s.
	env PUNCHLAB_KILLTEST="$mark" "$O/punchlab" run -j 2 --no-color --json "$tmp/r.json" \
		--junit "$tmp/r.xml" --markdown "$tmp/r.md" "$tmp/slow/udp-blocked.topo" \
		topologies/fixed-port-preserving.topo "$tmp/slow/ipv6-udp-blocked.topo" >"$tmp/out" 2>&1 &
	pl=$!
	deadline=$(( $(date +%s) + 60 ))
	until grep -q '^PASS *fixed-port-preserving ' "$tmp/out"; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "$sig: no line for the fast scenario"
		kill -0 "$pl" 2>/dev/null || fail "$sig: punchlab ended early"
		sleep 0.05
	done
	# The slow one still runs: its clients are alive (or about to be: it may
	# still be checking its routers when the fast one is done).
	until marked "$mark" >"$tmp/procs" && grep -q ' punch-client ' "$tmp/procs"; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "$sig: the slow scenario's clients never ran"
		kill -0 "$pl" 2>/dev/null || fail "$sig: punchlab ended early"
		sleep 0.05
	done
	grep -q 'udp-blocked' "$tmp/out" && fail "$sig: the slow scenario ended before the interrupt"
	awk '$3 != "" { print $3 }' "$tmp/procs" | sort -u >"$tmp/ns"
	kill -s "$sig" "$pl"
	sent=$(now_ms)
	wait "$pl"
	rc=$?
	pl=
	[ "$rc" -eq 130 ] || fail "$sig: exit status $rc, not 130"
	while marked "$mark" >"$tmp/left" && [ -s "$tmp/left" ]; do
		[ $(( $(now_ms) - sent )) -lt 1000 ] ||
			fail "$sig: 1 s after the interrupt, still alive: $(awk '{print $1 "/" $2}' "$tmp/left" | tr '\n' ' ')"
		sleep 0.02
	done
	# A namespace lives while a process, a mount or an open descriptor holds
	# it; a run without --keep mounts nothing and opens them only in its own
	# processes, so with every process of the run gone (above), so are its
	# namespaces. (A namespace's inode number says nothing here: the kernel
	# hands it to the next namespace made, and other labs run on this machine.)
	grep -q '^interrupted: 1 of 3 scenarios finished' "$tmp/out" || fail "$sig: no 'interrupted' summary"
	grep -q '^1 passed, 0 failed$' "$tmp/out" || fail "$sig: no count line"
	python3 - "$tmp/r.json" <<'EOF' || fail "$sig: the JSON report is not what finished"
import json, sys
d = json.load(open(sys.argv[1]))
names = [s["name"] for s in d["scenarios"]]
assert names == ["fixed-port-preserving"], names
assert d["summary"]["total"] == 1 and d["summary"]["passed"] == 1, d["summary"]
EOF
	grep -q 'testcase name="fixed-port-preserving"' "$tmp/r.xml" || fail "$sig: JUnit report lacks the finished scenario"
	grep -q 'udp-blocked' "$tmp/r.xml" && fail "$sig: JUnit report holds a scenario that did not finish"
	grep -q '| fixed-port-preserving |' "$tmp/r.md" || fail "$sig: Markdown report lacks the finished scenario"
	echo "ok: $sig: exit 130, reports of the 1 finished scenario, $(wc -l <"$tmp/procs") processes and $(wc -l <"$tmp/ns") namespaces gone"
}

interrupted_run INT
interrupted_run TERM
