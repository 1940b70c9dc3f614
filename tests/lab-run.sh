#!/bin/sh
# Run lab tests (make labtest): those on network namespaces LABTEST_JOBS at
# a time, since they mostly wait (on timers, on the kernel); then those on
# the host's loopback alone and one after the other, since they share
# 127.0.0.1 and loopback-punch-time measures milliseconds. Each test's output
# is printed whole when it ends, under its name. A test that fails is named;
# the exit status is 0 only when every test passed.
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
	if sh "$1" > "$tmp/$name.log" 2>&1; then r=ok; else r=FAILED; fi
	echo "$r" > "$tmp/$name.rc"
	{
		flock 9
		echo "== $1"
		cat "$tmp/$name.log"
		[ "$r" = ok ] || echo "FAILED: $1"
	} 9>"$tmp/lock"
}

: > "$tmp/ns"
: > "$tmp/lo"
for t in "$@"; do
	if grep -q '127\.0\.0\.' "$t"; then echo "$t" >> "$tmp/lo"; else echo "$t" >> "$tmp/ns"; fi
done
# xargs runs a fresh sh per test: hand it the function's text.
body=$(sed -n '/^one() {$/,/^}$/p' "$0")
xargs -P "$JOBS" -I{} sh -c "$body"'
one "$1"' sh {} < "$tmp/ns"
while read -r t; do
	sh -c "$body"'
one "$1"' sh "$t"
done < "$tmp/lo"

pass=$(grep -l '^ok$' "$tmp"/*.rc 2>/dev/null | wc -l)
fail=$(grep -l '^FAILED$' "$tmp"/*.rc 2>/dev/null | wc -l)
missing=$(( $# - pass - fail ))
echo "lab: $pass passed, $fail failed$([ $missing -eq 0 ] || echo ", $missing did not report")"
[ "$fail" -eq 0 ] && [ "$missing" -eq 0 ]
