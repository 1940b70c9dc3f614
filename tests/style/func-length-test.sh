#!/bin/sh
# Shows that tests/style/func-length.sh can fail: on generated C files it must
# flag a 121-line function (counted from the line of its name), pass one of
# 120 lines, and not take a long table, a struct, strings or comments with
# braces, or a K&R-style brace on the name's line for anything else.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# body N: a function whose name line to closing brace is N lines.
body() {
	echo "static int $1(int x)"
	echo "{"
	i=0
	while [ "$i" -lt $(($2 - 3)) ]; do echo "	x += $i; /* { */"; i=$((i + 1)); done
	echo "}"
}
{
	body fits 120
	echo 'static const char *const table[] = {'
	i=0; while [ "$i" -lt 300 ]; do echo '	"{ not a function }",'; i=$((i + 1)); done
	echo '};'
	echo 'struct s {'
	i=0; while [ "$i" -lt 200 ]; do echo "	int f$i;"; i=$((i + 1)); done
	echo '};'
	echo 'static char brace(void) { return '"'"'{'"'"'; }'
} >"$tmp/ok.c"
{
	echo '#define X(a) { a }'
	body too_long 121
} >"$tmp/long.c"

out=$("$here/func-length.sh" "$tmp/ok.c" 2>&1) || { echo "FAIL: a 120-line function, a table or a struct was refused: $out"; exit 1; }
echo "$out" | grep -q '^func-length: 2 functions' || { echo "FAIL: expected 2 functions in ok.c: $out"; exit 1; }
if out=$("$here/func-length.sh" "$tmp/long.c" 2>&1); then
	echo "FAIL: a 121-line function passed: $out"
	exit 1
fi
echo "$out" | grep -q "long.c:2: too_long is 121 lines" || { echo "FAIL: not named: $out"; exit 1; }
echo "ok - func-length.sh passes 120 lines and fails 121"
