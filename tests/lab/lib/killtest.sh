# Shared helpers of the tests that kill or interrupt punchlab mid-run
# (punchlab-kill9.sh, punchlab-interrupt.sh); sourced, never run on its own.
#
#   marked TAG        "PID COMM NETNS" of every live process whose environment
#                     holds PUNCHLAB_KILLTEST=TAG (the run's own processes:
#                     other labs on the machine reuse namespace inodes at once)
#   now_ms            milliseconds since the epoch
#   slow_copies DIR NAME...  topologies/NAME.topo with `timeout = 10s` written in, in DIR

marked() {
	grep -lszxF "PUNCHLAB_KILLTEST=$1" /proc/[0-9]*/environ | while read -r e; do
		pid=${e#/proc/}; pid=${pid%/environ}
		printf '%s %s %s\n' "$pid" "$(cat /proc/"$pid"/comm 2>/dev/null)" \
			"$(readlink /proc/"$pid"/ns/net 2>/dev/null)"
	done
}

now_ms() { date +%s%3N; }

# The slow scenarios as they were written before the lab picked its own
# shorter timers (topologies/README.md): with timeout = 10s given, each runs
# its whole 10 s, whatever the machine's load.
slow_copies() {
	dir=$1; shift
	mkdir "$dir" || return 1
	for f in "$@"; do
		sed '/^\[lab\]$/a timeout = 10s' "topologies/$f.topo" > "$dir/$f.topo"
	done
}
