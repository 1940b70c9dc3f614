#!/bin/sh
# Fails when a function in src/ or lab/ is longer than MAX lines (default
# 120), counted from the line of its name to its closing brace. A brace-depth
# scan: comments, string and character literals and preprocessor lines are
# skipped, and a top-level "{" opens a function when what precedes it since
# the last ";", "}" or "#" line holds a "(" and no "=" (an initialiser such
# as a table is not a function, so tables are never counted).
# A function named in tests/style/func-length.allow (FILE FUNCTION, with
# the reason) is reported but does not fail the check, until it is short:
# then its line there is stale, and that fails.
# Usage: tests/style/func-length.sh [FILE.c...]   (default: src/ and lab/)
# Env:   MAX=120
set -eu
cd "$(dirname "$0")/../.."
max=${MAX:-120}
allow=tests/style/func-length.allow
[ $# -gt 0 ] || set -- $(find src lab -name '*.c' | sort)

long=$(mktemp)
trap 'rm -f "$long" "$long.n"' EXIT
awk -v max="$max" '
FNR == 1 { depth = 0; incomment = 0; head = ""; headline = 0; fn = "" }
{
	line = $0
	if (!incomment && line ~ /^[ \t]*#/) { if (depth == 0) { head = ""; headline = 0 } ; cont = (line ~ /\\$/); next }
	if (cont) { cont = (line ~ /\\$/); next }
	out = ""
	n = length(line)
	for (i = 1; i <= n; i++) {
		c = substr(line, i, 1); c2 = substr(line, i, 2)
		if (incomment) { if (c2 == "*/") { incomment = 0; i++ } ; continue }
		if (c2 == "/*") { incomment = 1; i++; continue }
		if (c2 == "//") break
		if (c == "\"" || c == "\x27") {
			q = c
			for (i++; i <= n; i++) {
				d = substr(line, i, 1)
				if (d == "\\") { i++; continue }
				if (d == q) break
			}
			out = out "_"
			continue
		}
		if (c == "{") {
			if (depth == 0) {
				fn = ""
				if (head ~ /\(/ && head !~ /=/) {
					s = head
					gsub(/__attribute__[ \t]*\(\(([^()]|\([^()]*\))*\)\)/, "", s)
					sub(/\(.*/, "", s)
					if (match(s, /[A-Za-z_][A-Za-z0-9_]*[ \t]*$/)) {
						fn = substr(s, RSTART, RLENGTH); gsub(/[ \t]/, "", fn)
						start = headline ? headline : FNR
					}
				}
			}
			depth++
			continue
		}
		if (c == "}") {
			depth--
			if (depth == 0) {
				if (fn != "") {
					len = FNR - start + 1
					if (len > max) printf "%s %s %s:%d: %s is %d lines (at most %d)\n", FILENAME, fn, FILENAME, start, fn, len, max
					checked++
				}
				fn = ""; head = ""; headline = 0
			}
			continue
		}
		if (depth == 0) {
			if (c == ";") { head = ""; headline = 0; continue }
			if (c !~ /[ \t]/ && headline == 0) headline = FNR
			out = out c
			head = head c
		}
	}
	if (depth == 0 && head != "") head = head " "
}
END {
	if (checked == 0) { print "func-length: no function found: the scan is broken" > "/dev/stderr"; exit 2 }
	printf "%d\n", checked > "/dev/stderr"
}' "$@" >"$long" 2>"$long.n" || { cat "$long.n" >&2; rm -f "$long.n"; exit 2; }
checked=$(cat "$long.n"); rm -f "$long.n"

bad=0
while read -r file fn msg; do
	if [ -f "$allow" ] && grep -q "^$file $fn " "$allow"; then
		echo "$msg (allowed: $(grep "^$file $fn " "$allow" | cut -d' ' -f3-))"
	else
		echo "$msg" >&2
		bad=$((bad + 1))
	fi
done <"$long"
# An allowance for a function that is short now, or gone, is stale.
if [ -f "$allow" ] && [ $# -gt 0 ]; then
	while read -r file fn reason; do
		case "$file" in ''|'#'*) continue ;; esac
		case " $* " in *" $file "*) ;; *) continue ;; esac
		if ! grep -q "^$file $fn " "$long"; then
			echo "$allow: $file $fn is not over $max lines (any more): remove the line" >&2
			bad=$((bad + 1))
		fi
	done <"$allow"
fi
if [ "$bad" -gt 0 ]; then
	echo "func-length: $bad problem(s); at most $max lines a function" >&2
	exit 1
fi
echo "func-length: $checked functions, none over $max lines but those allowed"
