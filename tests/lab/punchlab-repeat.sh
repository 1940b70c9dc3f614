#!/bin/sh
# --repeat: success rates with a Wilson interval, never a retry.
# - topologies/lossy-link.topo 20 times: 20 runs, each its own JUnit test
#   (lossy-link#1..#20) and JSON repetition, a rate line with its 95%
#   interval on the terminal, the rates block in the JSON report, the
#   rate table in Markdown; the verdict over the runs is pass only if every
#   run passed (the topology declares no expect-rate), and the exit status
#   agrees.
# - tests/lab/data/coin-flip.topo (expect-rate = 0.5; direct only some of
#   the time) 10 times: however the coin falls, exactly 10 runs are reported
#   (none retried), the JSON's counts add up, the interval is the Wilson
#   interval of those counts worked out here independently (python3), and the
#   verdict and exit status follow the documented rule (pass when the upper
#   bound reaches 0.5). The outcome is chance; the checks are not.
# - tests/lab/data/tcp-rst-vs-rst.topo (a TCP race, expect-rate = 0.5) and
#   tcp-rst-vs-pr-cone.topo (one rarely lost, 0.75) 20 times each: the
#   verdict by the same rule.
# Nothing of the labs remains after.
# The four punchlab runs go side by side, each in its own labs (they mostly
# wait: coin-flip's runs on its lossy link, all 10 at once; the TCP races at
# -j 4 each, as before). Each is checked once it is done.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-repeat.XXXXXX) || exit 1
# shellcheck source=lib/bg.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/bg.sh"
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 0; }
ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.before"

bg_run "$O/punchlab" run --no-color -j 4 --repeat 20 --json "$tmp/rstpc.json" tests/lab/data/tcp-rst-vs-pr-cone.topo \
	>"$tmp/rstpc.out" 2>&1
rstpc_pid=$bg_pid
# A race of the network, not of the lab: two routers that answer an
# unsolicited SYN with a RST. Whatever the race gives, 20 runs, no errors,
# and the verdict by the rule.
bg_run "$O/punchlab" run --no-color -j 4 --repeat 20 --json "$tmp/rst.json" tests/lab/data/tcp-rst-vs-rst.topo \
	>"$tmp/rst.out" 2>&1
rst_pid=$bg_pid
bg_run "$O/punchlab" run --no-color --no-self-check -j 10 --repeat 10 --json "$tmp/coin.json" \
	tests/lab/data/coin-flip.topo >"$tmp/coin.out" 2>&1
coin_pid=$bg_pid
"$O/punchlab" run --no-color --no-self-check -j 2 --repeat 20 --json "$tmp/lossy.json" --junit "$tmp/lossy.xml" \
	--markdown "$tmp/lossy.md" topologies/lossy-link.topo >"$tmp/lossy.out" 2>&1
rc=$?
[ "$(jq '.scenarios | length' "$tmp/lossy.json")" -eq 20 ] || fail "not 20 runs in the JSON report"
[ "$(jq -c '[.scenarios[].repetition] | sort' "$tmp/lossy.json")" = "$(seq -s, 1 20 | sed 's/.*/[&]/')" ] ||
	fail "repetitions are not 1..20 once each"
for k in $(seq 1 20); do
	grep -q "<testcase name=\"lossy-link#$k\"" "$tmp/lossy.xml" || fail "no JUnit test lossy-link#$k"
done
passed=$(jq '[.scenarios[] | select(.verdict == "pass")] | length' "$tmp/lossy.json")
[ "$(jq -c '.rates[0] | [.name, .runs, .passed, .interval]' "$tmp/lossy.json")" = "[\"lossy-link\",20,$passed,\"wilson-95\"]" ] ||
	fail "the rates block does not count the runs: $(jq -c '.rates' "$tmp/lossy.json")"
line=$(grep '^[A-Z]* *lossy-link  [0-9]*/20 [0-9]*% \[[0-9.]*%, [0-9.]*%\]  D[0-9]* R[0-9]* F[0-9]*' "$tmp/lossy.out") ||
	fail "no rate line with an interval: $(tail -3 "$tmp/lossy.out")"
grep -q '^| lossy-link | ' "$tmp/lossy.md" || fail "no rate table in the Markdown report"
if [ "$passed" -eq 20 ]; then
	[ $rc -eq 0 ] || fail "20 of 20 passed but the exit status is $rc"
	echo "$line" | grep -q '^PASS   lossy-link  20/20 100% \[83.9%, 100.0%\]' || fail "wrong rate line: $line"
else
	[ $rc -eq 1 ] || fail "$passed of 20 passed without expect-rate, but the exit status is $rc, want 1"
	echo "$line" | grep -q '^FAIL' || fail "a failed run did not fail the scenario: $line"
fi
echo "lossy-link: $line"

# rule FILE.json RC NAME: the rate, interval, verdict and exit status of a
# repeated scenario with an expect-rate, worked out here independently
rule() {
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(dirname "$0")/lib" python3 - "$1" "$2" "$3" <<'PY' || fail "$3's rate, interval or verdict is not the documented rule"
import json, sys
from wilson import wilson95
doc = json.load(open(sys.argv[1]))
rc = int(sys.argv[2])
runs = doc["scenarios"]
k = sum(1 for r in runs if r["verdict"] == "pass")
n = len(runs)
errors = sum(1 for r in runs if r["verdict"] == "error")
r = doc["rates"][0]
lo, hi = wilson95(k, n)
assert r["runs"] == n and r["passed"] == k, r
e = r["expect_rate"]
assert e > 0, r
assert r["direct"] + r["relayed"] + r["failed"] + r["other"] == n, r
assert abs(r["lo"] - lo) < 1e-3 and abs(r["hi"] - hi) < 1e-3, (r, lo, hi)
want = "error" if errors else ("pass" if hi >= e else "fail")
assert r["verdict"] == want, (r, want)
assert rc == (0 if want == "pass" else 1), (rc, want)
print("%s: %d of %d as expected, 95%% interval [%.3f, %.3f], expect-rate %g: %s" % (sys.argv[3], k, n, lo, hi, e, want))
PY
}
reap $rst_pid
[ "$(jq '.scenarios | length' "$tmp/rst.json")" -eq 20 ] || fail "tcp-rst-vs-rst: not 20 runs"
[ "$(jq '[.scenarios[] | select(.actual == "relayed" or .actual == "direct")] | length' "$tmp/rst.json")" -eq 20 ] ||
	{ tail -5 "$tmp/rst.out"; fail "tcp-rst-vs-rst: a run neither direct nor relayed"; }
rule "$tmp/rst.json" "$rc" tcp-rst-vs-rst

reap $coin_pid
[ "$(jq '.scenarios | length' "$tmp/coin.json")" -eq 10 ] || fail "not exactly 10 runs of coin-flip: a retry?"
rule "$tmp/coin.json" "$rc" coin-flip

reap $rstpc_pid
[ "$(jq '.scenarios | length' "$tmp/rstpc.json")" -eq 20 ] || fail "tcp-rst-vs-pr-cone: not 20 runs"
rule "$tmp/rstpc.json" "$rc" tcp-rst-vs-pr-cone

ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.after"
cmp -s "$tmp/links.before" "$tmp/links.after" || fail "links left behind"
echo "ok: --repeat gives rates with Wilson intervals and verdicts by the rule, no retries"
