#!/bin/sh
# Namespaces die with the program that made them, however it ends.
#
# $O/tools/kernel-hold builds three namespaces with veths, addresses, routes
# and a ruleset, prints its holders' PIDs and namespace inodes, and waits on
# stdin. Three endings: kill -9; a plain exit with no cleanup at all; an exit
# through netns_destroy(). After each: no holder is left, no process of ours
# references the namespaces, the veth ends the tool put into a witness
# namespace (made here, named kern-w-PID) were deleted by the kernel - which
# happens only when the namespaces are really dismantled - and the host's
# links and ruleset are as they were.
set -u
O=${O:-build}
tool=$O/tools/kernel-hold
witness=kern-w-$$
tmp=
toolpid=

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: kill9-cleanup needs root (ip netns add for the witness)"
	exit 0
fi
[ -x "$tool" ] || { echo "FAIL: $tool not built"; exit 1; }

cleanup() {
	if [ -n "$toolpid" ]; then kill -9 "$toolpid" 2>/dev/null; wait "$toolpid" 2>/dev/null; fi
	exec 3>&-
	ip netns del "$witness" 2>/dev/null
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*"
	[ -n "$tmp" ] && [ -s "$tmp/err" ] && sed 's/^/  kernel-hold: /' "$tmp/err"
	exit 1
}

tmp=$(mktemp -d /tmp/kern-kill9.XXXXXX) || exit 1
host_links() { ip -o link show | awk -F': ' '{print $2}' | sort; }
host_links >"$tmp/links.before"
nft list ruleset >"$tmp/nft.before" 2>&1
ip netns add "$witness" || fail "ip netns add $witness"

# Seconds since the epoch; the loops below poll a condition until a deadline.
now() { date +%s; }

# Which processes reference net:[$1]? Prints "PID COMM" for each. Namespace
# inode numbers are recycled, so a namespace made meanwhile by someone else
# may carry the same number: only our own programs (comm kernel-hold) count
# as a leak.
referencing() {
	find /proc/[0-9]*/ns /proc/[0-9]*/fd -maxdepth 1 -lname "net:\\[$1\\]" 2>/dev/null |
	while read -r f; do
		pid=${f#/proc/}; pid=${pid%%/*}
		echo "$pid $(cat /proc/"$pid"/comm 2>/dev/null)"
	done | sort -u
}

run_case() {
	mode=$1
	rm -f "$tmp/in" "$tmp/out"
	mkfifo "$tmp/in" "$tmp/out" || fail "mkfifo"
	if [ "$mode" = destroy ]; then flag=--destroy; else flag=; fi
	"$tool" --witness "/run/netns/$witness" $flag <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
	toolpid=$!
	exec 3>"$tmp/in"
	line=$(timeout 60 head -n1 "$tmp/out")
	case "$line" in
	ready\ *) ;;
	*) fail "$mode: kernel-hold did not get ready: '$line'" ;;
	esac
	pairs=${line#ready }

	# While it runs: holders alive, in their namespaces, witness ends present.
	for pair in $pairs; do
		pid=${pair%%:*}; ino=${pair#*:}
		[ "$(readlink /proc/"$pid"/ns/net 2>/dev/null)" = "net:[$ino]" ] ||
			fail "$mode: holder $pid is not in net:[$ino]"
	done
	n=$(ip -n "$witness" -o link show | grep -c ": kh-[0-9]-")
	[ "$n" = 3 ] || fail "$mode: expected 3 witness veth ends, found $n"

	case "$mode" in
	kill9)
		kill -9 "$toolpid"
		wait "$toolpid" 2>/dev/null; st=$?
		[ "$st" = 137 ] || fail "kill9: exit status $st, expected 137"
		;;
	exit|destroy)
		exec 3>&-
		wait "$toolpid"; st=$?
		[ "$st" = 0 ] || fail "$mode: exit status $st"
		;;
	esac
	toolpid=
	exec 3>&-

	# The kernel kills the holders and dismantles the namespaces
	# asynchronously: poll until everything is gone, or a deadline.
	deadline=$(( $(now) + 30 ))
	while :; do
		left=
		for pair in $pairs; do
			pid=${pair%%:*}; ino=${pair#*:}
			state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/"$pid"/status 2>/dev/null)
			if [ -n "$state" ] && [ "$state" != Z ] &&
			   [ "$(readlink /proc/"$pid"/ns/net 2>/dev/null)" = "net:[$ino]" ]; then
				left="$left holder $pid alive;"
			fi
		done
		n=$(ip -n "$witness" -o link show | grep -c ": kh-[0-9]-")
		[ "$n" = 0 ] || left="$left $n witness veth ends;"
		[ -z "$left" ] && break
		[ "$(now)" -ge "$deadline" ] && fail "$mode: still there after 30 s:$left"
		sleep 0.1
	done
	for pair in $pairs; do
		ino=${pair#*:}
		referencing "$ino" >"$tmp/refs"
		if grep -q " kernel-hold$" "$tmp/refs"; then
			fail "$mode: net:[$ino] still referenced: $(tr '\n' ' ' <"$tmp/refs")"
		fi
		[ -s "$tmp/refs" ] && echo "note: net:[$ino] recycled by another program: $(tr '\n' ' ' <"$tmp/refs")"
	done
	host_links | cmp -s - "$tmp/links.before" || fail "$mode: the host's links changed"
	nft list ruleset 2>&1 | cmp -s - "$tmp/nft.before" || fail "$mode: the host's ruleset changed"
	echo "ok: $mode leaves nothing behind"
}

run_case kill9
run_case exit
run_case destroy
echo "PASS: kill9-cleanup"
