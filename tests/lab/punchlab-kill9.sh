#!/bin/sh
# kill -9 of the punchlab process alone (not its process group), at random
# moments of a run, leaves nothing of the run alive 1 s later: no worker, no
# namespace holder, no delay line, no punch-server, -client or -probe, and no
# namespace of the labs; the host's links and ruleset are as they were.
#
# KILLS runs (default 5; KILLS=50 by hand). The first is killed while both
# scenarios' clients run (the deepest moment: every kind of process exists);
# the others after a random 0-16 s (the run takes about 16), wherever it is:
# setting up, in a scenario, between two (the third starts in the slot of the
# first to end), tearing down.
#
# Each run carries a marker in its environment, which every process it starts
# inherits (the runner execs with the same environment), so its processes
# are found by the marker, not by name: other labs may run on this machine.
set -u
O=${O:-build}
KILLS=${KILLS:-5}
tmp=$(mktemp -d /tmp/punchlab-kill9.XXXXXX) || exit 1
pl=
cleanup() {
	[ -n "$pl" ] && kill -9 "$pl" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
# shellcheck source=lib/killtest.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/killtest.sh"

ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.before"
nft list ruleset >"$tmp/nft.before" 2>&1



# A random number of milliseconds in [0, $1).
random_ms() { echo $(( $(od -An -N4 -tu4 /dev/urandom) % $1 )); }

slow_copies "$tmp/slow" udp-blocked advertise-local-rewriting || fail "copying the slow scenarios"

total_procs=0 total_ns=0
i=1
while [ "$i" -le "$KILLS" ]; do
	mark="$$-$i"
	# Two scenarios that run for their whole time limit (about 10 s), one
	# through delay lines, on two workers.
	env PUNCHLAB_KILLTEST="$mark" "$O/punchlab" run -j 2 "$tmp/slow/udp-blocked.topo" \
		topologies/lossy-high-latency.topo "$tmp/slow/advertise-local-rewriting.topo" \
		>"$tmp/out" 2>&1 &
	pl=$!
	if [ "$i" -eq 1 ]; then
		deadline=$(( $(date +%s) + 30 ))
		until [ "$(marked "$mark" | grep -c ' punch-client ')" -ge 4 ]; do
			[ "$(date +%s)" -lt "$deadline" ] || { cat "$tmp/out"; fail "the clients never started"; }
			kill -0 "$pl" 2>/dev/null || { cat "$tmp/out"; fail "punchlab ended before the kill"; }
			sleep 0.05
		done
	else
		ms=$(random_ms 16000)
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	fi
	marked "$mark" >"$tmp/procs"
	kill -9 "$pl" 2>/dev/null || echo "run $i: punchlab had already ended"
	killed=$(now_ms)
	wait "$pl" 2>/dev/null
	pl=
	awk '$3 != "" { print $3 }' "$tmp/procs" | sort -u >"$tmp/ns"
	[ "$i" -eq 1 ] && ! grep -q ' punch-server ' "$tmp/procs" && fail "run 1: no punch-server to kill"

	# Everything must be gone within 1 s of the kill.
	while marked "$mark" >"$tmp/left" && [ -s "$tmp/left" ]; do
		[ $(( $(now_ms) - killed )) -lt 1000 ] ||
			fail "run $i: 1 s after kill -9, still alive: $(awk '{print $1 "/" $2}' "$tmp/left" | tr '\n' ' ')"
		sleep 0.02
	done
	gone=$(( $(now_ms) - killed ))
	# A namespace lives while a process, a mount or an open descriptor holds
	# it; a run without --keep mounts nothing and opens them only in its own
	# processes, so with every process of the run gone (above), so are its
	# namespaces. (A namespace's inode number says nothing here: the kernel
	# hands it to the next namespace made, and other labs run on this machine.)
	n=$(wc -l <"$tmp/procs")
	echo "run $i: killed with $n processes in $(wc -l <"$tmp/ns") namespaces; all gone after ${gone} ms"
	total_procs=$((total_procs + n))
	total_ns=$((total_ns + $(wc -l <"$tmp/ns")))
	i=$((i + 1))
done

ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.after"
nft list ruleset >"$tmp/nft.after" 2>&1
cmp -s "$tmp/links.before" "$tmp/links.after" || fail "host links changed"
cmp -s "$tmp/nft.before" "$tmp/nft.after" || fail "host ruleset changed"
echo "ok: $KILLS kill -9 of punchlab alone took $total_procs processes and $total_ns namespaces with them"
