#!/bin/sh
# Every shipped topology and every cell of every shipped matrix runs with the
# verdict it declares, at punchlab's default -j, as `make lab` runs them (8 jobs
# per CPU: more jobs than cores, and a verdict must not depend on parallelism
# or load; -j 4 left the run waiting on timers with the cores idle: 88 s
# against 51, one after the other on a loaded 2-core machine), and every
# report format is well-formed: TAP through
# prove, JUnit and the matrix SVGs through xmllint, JSON and Markdown through
# jq and grep. Nothing of the labs remains after.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-shipped.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.before"
nft list ruleset >"$tmp/nft.before" 2>&1

files="topologies/*.topo matrices/*.matrix"
# shellcheck disable=SC2086
n=$("$O/punchlab" check $files | grep -c ': ok (expect')
[ "$n" -gt 60 ] || fail "only $n scenarios in the shipped files"
# Every shipped topology is there (20 of them, the two mapping-timeout, three IPv6
# and the lossy high-latency one included).
[ "$(ls topologies/*.topo | wc -l)" -ge 20 ] || fail "fewer than 20 shipped topologies"
for f in ipv6-firewall-pair ipv6-udp-blocked ipv6-server-only lossy-high-latency; do
	[ -f "topologies/$f.topo" ] || fail "topologies/$f.topo is missing"
done
mkdir "$tmp/pictures"
# shellcheck disable=SC2086
"$O/punchlab" run --tap --junit "$tmp/junit.xml" --json "$tmp/report.json" \
	--markdown "$tmp/report.md" --picture "$tmp/pictures" $files >"$tmp/tap" 2>"$tmp/live"
rc=$?
cat "$tmp/live"
[ $rc -eq 0 ] || fail "punchlab run exited $rc"

# TAP: prove reads it as a test script's output.
printf '#!/bin/sh\ncat "%s"\n' "$tmp/tap" >"$tmp/tap.sh"
prove "$tmp/tap.sh" >"$tmp/prove.out" 2>&1 || { cat "$tmp/prove.out"; fail "prove rejects the TAP"; }
grep -q "^1\.\.$n\$" "$tmp/tap" || fail "TAP plan is not 1..$n"

# JUnit: well-formed, one testcase per topology, no failures.
xmllint --noout "$tmp/junit.xml" || fail "JUnit XML is not well-formed"
[ "$(grep -c '<testcase' "$tmp/junit.xml")" -eq "$n" ] || fail "JUnit does not have $n testcases"
grep -q '<failure' "$tmp/junit.xml" && fail "JUnit reports a failure"

# JSON: every scenario passed, and each peer's own report is embedded.
jq -e "(.scenarios | length) == $n" "$tmp/report.json" >/dev/null || fail "JSON does not have $n scenarios"
jq -e '[.scenarios[] | select(.pass != true)] | length == 0' "$tmp/report.json" >/dev/null ||
	fail "JSON has a scenario that did not pass"
# (The built-in pair's: programs under test ([programs]) print what they like.)
jq -e '[.scenarios[] | select(.name | test("^(nebula/|your-program$|builtin-as-programs$|python-rendezvous$|rebinding-carrier$)") | not) | .peers[] |
	select(.report.outcome == null)] | length == 0' "$tmp/report.json" >/dev/null ||
	fail "JSON lacks a peer's own report"

# The mapping-timeout pair: the same NATs, and keepalive alone makes the difference.
jq -e '[.scenarios[] | select(.name == "mapping-timeout-no-keepalive" and .actual == "failed")] | length == 1' \
	"$tmp/report.json" >/dev/null || fail "mapping-timeout-no-keepalive did not end failed"
jq -e '[.scenarios[] | select(.name == "mapping-timeout-keepalive" and .actual == "direct")] | length == 1' \
	"$tmp/report.json" >/dev/null || fail "mapping-timeout-keepalive did not end direct"

# The matrix pictures: well-formed SVG and a Markdown table per matrix.
for m in matrices/*.matrix; do
	name=$(basename "$m" .matrix)
	xmllint --noout "$tmp/pictures/$name.svg" || fail "$name.svg is not well-formed"
	grep -q '^| ' "$tmp/pictures/$name.md" || fail "$name.md has no table"
done
# The RFC 4787 matrix under each inbound-reply rule (session, new-mapping).
[ "$(grep -c "45 cells: 45 passed, 0 failed" "$tmp/live")" -eq 2 ] ||
	fail "the two RFC 4787 matrices are not 45 cells each as expected"
grep -q "28 cells: 28 passed, 0 failed" "$tmp/live" || fail "the TCP matrix is not 28 cells as expected"

# Markdown: a table row per scenario.
[ "$(grep -c '^| ' "$tmp/report.md")" -ge "$n" ] || fail "Markdown has fewer than $n rows"

# Nothing left behind on the host.
ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.after"
nft list ruleset >"$tmp/nft.after" 2>&1
cmp -s "$tmp/links.before" "$tmp/links.after" || fail "host links changed"
cmp -s "$tmp/nft.before" "$tmp/nft.after" || fail "host ruleset changed"
echo "ok: $n scenarios as expected; TAP, JUnit, JSON, Markdown and the matrix pictures well-formed"
