#!/bin/sh
# Run lab tests (make labtest): LABTEST_JOBS at a time, since they mostly
# wait (on timers, on the kernel). Those on network namespaces each take a
# slot; those on the host's loopback (marked "# lab-run: loopback" in their
# head) share 127.0.0.x and fixed ports, and run one after the
# other in one slot, queued last, so that they meet the fewest others
# (loopback-punch-time measures milliseconds). The others start longest
# first, by tests/lab/times (a test not listed there counts as the longest),
# so that no long test starts last and runs alone: the slots end together.
# Each test's output is printed
# whole when it ends, under its name. A test that fails is named; the exit
# status is 0 only when every test passed.
#
# Usage: O=build LABTEST_JOBS=4 sh tests/lab-run.sh TEST.sh...
set -u
O=${O:-build}
JOBS=${LABTEST_JOBS:-4}
tmp=$(mktemp -d /tmp/lab-run.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
export O tmp

# one TEST: run it, then print its output and its result in one piece
one() {
	name=$(basename "$1" .sh)
	t0=$(date +%s%N)
	# with its CPU time (user + system, all its processes) where time(1) is
	cpu=
	if [ -x /usr/bin/time ]; then
		if /usr/bin/time -f %U+%S -o "$tmp/$name.cpu" sh "$1" < /dev/null > "$tmp/$name.log" 2>&1; then
			r=ok; else r=FAILED; fi
		cpu=$(tail -n 1 "$tmp/$name.cpu" | grep -x '[0-9.]*+[0-9.]*' | awk -F+ '{ printf ", %.1f s CPU", $1 + $2 }')
	elif sh "$1" < /dev/null > "$tmp/$name.log" 2>&1; then r=ok; else r=FAILED; fi
	echo "$r" > "$tmp/$name.rc"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	{
		flock 9
		echo "== $1"
		cat "$tmp/$name.log"
		[ "$r" = ok ] || echo "FAILED: $1"
		echo "-- $1: $r in $ms ms$cpu"
	} 9>"$tmp/lock"
}

# one item of the queue: a test, or @loopback, the loopback tests in turn
item() {
	if [ "$1" = @loopback ]; then
		while read -r t; do one "$t"; done < "$tmp/lo"
	else
		one "$1"
	fi
}

: > "$tmp/ns"
: > "$tmp/lo"
times=$(dirname "$0")/lab/times
for t in "$@"; do
	if grep -q '^# lab-run: loopback' "$t"; then
		echo "$t" >> "$tmp/lo"
	else
		ms=$(awk -v n="$(basename "$t" .sh)" '$2 == n { print $1; exit }' "$times" 2>/dev/null)
		echo "${ms:-999999999} $t" >> "$tmp/ns.w"
	fi
done
[ -s "$tmp/ns.w" ] && sort -k1,1rn -k2 "$tmp/ns.w" | cut -d' ' -f2- > "$tmp/ns"
[ -s "$tmp/lo" ] && echo @loopback >> "$tmp/ns"
# xargs runs a fresh sh per item: hand it the functions' text.
body=$(sed -n '/^one() {$/,/^}$/p; /^item() {$/,/^}$/p' "$0")
xargs -P "$JOBS" -I{} sh -c "$body"'
item "$1"' sh {} < "$tmp/ns"

pass=$(grep -l '^ok$' "$tmp"/*.rc 2>/dev/null | wc -l)
fail=$(grep -l '^FAILED$' "$tmp"/*.rc 2>/dev/null | wc -l)
missing=$(( $# - pass - fail ))
echo "lab: $pass passed, $fail failed$([ $missing -eq 0 ] || echo ", $missing did not report")"
[ "$fail" -eq 0 ] && [ "$missing" -eq 0 ]
