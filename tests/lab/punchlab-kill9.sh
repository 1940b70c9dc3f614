#!/bin/sh
# kill -9 of the punchlab process alone (not its process group), at random
# moments of a run, leaves nothing of the run alive 1 s later: no worker, no
# namespace holder, no delay line, no punch-server, -client or -probe, and no
# namespace of the labs; the host's links and ruleset are as they were.
#
# KILLS runs (default 5; KILLS=50 by hand), KILL_JOBS (default 3) side by
# side (5 at once beside make check's other lab tests left a worker alive
# 1 s after the kill once; probably a SIGKILL waiting for the process to
# leave an uninterruptible wait, such as one for the kernel's netlink lock,
# which a machine busy making namespaces holds long; not proven): each has its own marker, its own labs and its own clock, and mostly
# waits (for its moment, on its scenarios' timers), so one after the other
# they only added up their waits. The first is killed while both scenarios'
# clients run (the deepest moment: every kind of process exists); the others
# after a random 0-16 s (the run takes about 16), wherever it is: setting up,
# in a scenario, between two (the third starts in the slot of the first to
# end), tearing down.
#
# Each run carries a marker in its environment, which every process it starts
# inherits (the runner execs with the same environment), so its processes
# are found by the marker, not by name: other labs may run on this machine.
set -u
O=${O:-build}
KILLS=${KILLS:-5}
KILL_JOBS=${KILL_JOBS:-3}
tmp=$(mktemp -d /tmp/punchlab-kill9.XXXXXX) || exit 1
cleanup() {
	# the runs still going (a failure), and the punchlab each started
	for f in "$tmp"/sh-* "$tmp"/pl-*; do
		[ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
# shellcheck source=lib/killtest.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/killtest.sh"

ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.before"
nft list ruleset >"$tmp/nft.before" 2>&1



# Of the processes in FILE (marked's lines), those alive with the marker TAG
# now, as "PID/COMM" words: one grep reads their environments, in a few ms
# (marked reads every process's, which on a loaded machine takes up to 1.5 s).
still() {
	# shellcheck disable=SC2046 # one word per pid
	grep -lszxF "PUNCHLAB_KILLTEST=$1" $(awk '{ print "/proc/" $1 "/environ" }' "$2") /dev/null |
		while read -r e; do
			pid=${e#/proc/}; pid=${pid%/environ}
			printf '%s/%s ' "$pid" "$(awk -v p="$pid" '$1 == p { print $2 }' "$2")"
		done
}

# A random number of milliseconds in [0, $1).
random_ms() { echo $(( $(od -An -N4 -tu4 /dev/urandom) % $1 )); }

slow_copies "$tmp/slow" udp-blocked advertise-local-rewriting || fail "copying the slow scenarios"
# Run 1's udp-blocked has 30 s: the clients of lossy-high-latency start after
# its self-check (7 s alone, 11 s and more beside other lab tests) and run
# about 1 s; with 10 s they could miss udp-blocked's, and run 1 never had its
# moment. Run 1 is killed at that moment, so the 30 s are never waited out.
mkdir "$tmp/long" || fail "copying udp-blocked for run 1"
sed 's/^timeout = 10s$/timeout = 30s/' "$tmp/slow/udp-blocked.topo" >"$tmp/long/udp-blocked.topo"
grep -q '^timeout = 30s$' "$tmp/long/udp-blocked.topo" || fail "copying udp-blocked for run 1"

# One run, i: start, wait for its moment, kill, and check that all is gone
# within 1 s. Writes "PROCS NAMESPACES" to $tmp/res-$i; on failure says why
# and exits 1 (it runs in a subshell of its own).
one_run() {
	i=$1 mark="$$-$1" out="$tmp/out-$1" ub="$tmp/slow/udp-blocked.topo"
	[ "$1" -eq 1 ] && ub="$tmp/long/udp-blocked.topo"
	env PUNCHLAB_KILLTEST="$mark" "$O/punchlab" run -j 2 "$ub" \
		topologies/lossy-high-latency.topo "$tmp/slow/advertise-local-rewriting.topo" \
		>"$out" 2>&1 &
	pl=$!
	echo "$pl" >"$tmp/pl-$i"
	if [ "$i" -eq 1 ]; then
		deadline=$(( $(date +%s) + 30 ))
		until [ "$(marked "$mark" | grep -c ' punch-client ')" -ge 4 ]; do
			[ "$(date +%s)" -lt "$deadline" ] || { cat "$out"; fail "the clients never started"; }
			kill -0 "$pl" 2>/dev/null || { cat "$out"; fail "punchlab ended before the kill"; }
			sleep 0.05
		done
	else
		ms=$(random_ms 16000)
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	fi
	marked "$mark" >"$tmp/procs-$i"
	kill -9 "$pl" 2>/dev/null || echo "run $i: punchlab had already ended"
	killed=$(now_ms)
	wait "$pl" 2>/dev/null
	: >"$tmp/pl-$i"
	awk '$3 != "" { print $3 }' "$tmp/procs-$i" | sort -u >"$tmp/ns-$i"
	[ "$i" -eq 1 ] && ! grep -q ' punch-server ' "$tmp/procs-$i" && fail "run 1: no punch-server to kill"

	# Everything must be gone within 1 s of the kill: what a look that
	# began 1 s after it or later finds is a failure. First the processes
	# seen just before the kill, each by its pid (a look of a few ms), then
	# a whole scan for any other (marked: up to 1.5 s on a loaded machine;
	# what one that ends after 1 s finds is looked at again by pid).
	while t=$(now_ms) && still "$mark" "$tmp/procs-$i" >"$tmp/left-$i" && [ -s "$tmp/left-$i" ]; do
		[ $((t - killed)) -lt 1000 ] || fail "run $i: 1 s after kill -9, still alive: $(cat "$tmp/left-$i")"
		sleep 0.02
	done
	while t=$(now_ms) && marked "$mark" >"$tmp/found-$i" && [ -s "$tmp/found-$i" ]; do
		[ $((t - killed)) -lt 1000 ] ||
			fail "run $i: 1 s after kill -9, still alive: $(awk '{print $1 "/" $2}' "$tmp/found-$i" | tr '\n' ' ')"
		if [ $(( $(now_ms) - killed )) -ge 1000 ]; then
			still "$mark" "$tmp/found-$i" >"$tmp/left-$i"
			[ -s "$tmp/left-$i" ] && fail "run $i: 1 s after kill -9, still alive: $(cat "$tmp/left-$i")"
		fi
		sleep 0.02
	done
	gone=$(( $(now_ms) - killed ))
	# A namespace lives while a process, a mount or an open descriptor holds
	# it; a run without --keep mounts nothing and opens them only in its own
	# processes, so with every process of the run gone (above), so are its
	# namespaces. (A namespace's inode number says nothing here: the kernel
	# hands it to the next namespace made, and other labs run on this machine.)
	n=$(wc -l <"$tmp/procs-$i")
	echo "run $i: killed with $n processes in $(wc -l <"$tmp/ns-$i") namespaces; all gone after ${gone} ms"
	echo "$n $(wc -l <"$tmp/ns-$i")" >"$tmp/res-$i"
}

# At most KILL_JOBS runs at a time (KILLS=50 by hand would otherwise start 100
# scenarios at once): a batch starts, then its runs are collected in order.
total_procs=0 total_ns=0 failed=
first=1
while [ "$first" -le "$KILLS" ]; do
	last=$((first + KILL_JOBS - 1))
	[ "$last" -le "$KILLS" ] || last=$KILLS
	i=$first
	while [ "$i" -le "$last" ]; do
		( one_run "$i" ) >"$tmp/log-$i" 2>&1 &
		echo $! >"$tmp/sh-$i"
		i=$((i + 1))
	done
	i=$first
	while [ "$i" -le "$last" ]; do
		wait "$(cat "$tmp/sh-$i")" || failed="$failed $i"
		: >"$tmp/sh-$i"
		cat "$tmp/log-$i"
		if [ -s "$tmp/res-$i" ]; then
			read -r n ns <"$tmp/res-$i"
			total_procs=$((total_procs + n))
			total_ns=$((total_ns + ns))
		fi
		i=$((i + 1))
	done
	first=$((last + 1))
done
[ -z "$failed" ] || fail "run(s)$failed failed"

ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.after"
nft list ruleset >"$tmp/nft.after" 2>&1
cmp -s "$tmp/links.before" "$tmp/links.after" || fail "host links changed"
cmp -s "$tmp/nft.before" "$tmp/nft.after" || fail "host ruleset changed"
echo "ok: $KILLS kill -9 of punchlab alone took $total_procs processes and $total_ns namespaces with them"
