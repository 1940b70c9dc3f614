#!/bin/sh
# A pair whose every datagram is dropped by the far router is `failed`, not
# `direct`, with the built-in pair: the internet carries the pair's datagrams
# both ways (what the old counters on its bridge counted), but neither host
# receives one. Each router drops them with its own rules
# (data/far-nat-drops.nft), which the self-check's probes do not meet, so it
# classifies as declared and then drops. A copy of the scenario that expects
# `direct` fails, and every report names the router and the dropped flow.
# The two runs are independent labs, and each mostly waits (the self-check's
# long waits on routers with their own rules, the pair's 4 s): they run side
# by side; the wrong one writes every report (TAP on stdout, the live lines
# on stderr) in one run.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-far-nat.XXXXXX) || exit 1
# shellcheck source=lib/bg.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/bg.sh"
fail() { echo "FAIL: $*"; sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
data=$(cd tests/lab/data && pwd)

# The same scenario, deliberately expected direct (its rules file beside it:
# a rules file comes only from the topology's own tree).
sed -e 's/^expect      = failed/expect      = direct/' \
	-e 's/^expect-why  = .*/expect-why  = deliberately wrong, to see the explanation/' \
	"$data/far-nat-drops.topo" >"$tmp/wrong.topo"
cp "$data/far-nat-drops.nft" "$tmp/" || fail "copying the rules file"
bg_run "$O/punchlab" run --no-color --tap --json "$tmp/r.json" --junit "$tmp/r.xml" --markdown "$tmp/r.md" \
	"$tmp/wrong.topo" >"$tmp/tap" 2>"$tmp/wrong.out"
wrong_pid=$bg_pid
"$O/punchlab" run --no-color --json "$tmp/ok.json" "$data/far-nat-drops.topo" >"$tmp/out" 2>&1
ok_rc=$?
reap "$wrong_pid"
wrong_rc=$rc
[ "$ok_rc" -eq 0 ] || fail "the far NAT's drops did not make a failed pair"
python3 - "$tmp/ok.json" <<'PY' >"$tmp/check" 2>&1 || { cat "$tmp/check"; fail "evidence in the JSON report"; }
import json, sys
s = json.load(open(sys.argv[1]))["scenarios"][0]
e = s["evidence"]
alice, bob = e["peers"]
assert s["actual"] == "failed" and e["verdict"] == "failed", (s["actual"], e["verdict"])
# attempts both ways (the internet carried them) ...
assert alice["sent_to_partner"] > 0 and bob["sent_to_partner"] > 0, e
# ... and none was delivered
assert bob["from_partner"] == 0 and alice["from_partner"] == 0, e
for name, src in (("home-b", "203.0.113.20:40001"), ("home-a", "203.0.113.21:40002")):
    r = [r for r in e["detail"]["routers"] if r["name"] == name][0]
    flow = [f for f in r["inbound"] if f["from"] == src][0]
    assert flow["passed"] == 0 and flow["dropped"] == flow["arrived"] > 0, (name, flow)
    assert flow["first_ms"] >= 0, flow
    m = [m for m in r["mappings"] if m["remote"] == src]
    assert m and m[0]["in_conntrack_at_end"] is True and m[0]["made_ms"] >= 0, (name, r["mappings"])
PY

# The wrong copy: its live lines (stderr) and every report.
cp "$tmp/wrong.out" "$tmp/out"
[ "$wrong_rc" -eq 1 ] || fail "a wrong expectation exited $wrong_rc, want 1"
why="bob's router home-b (line 16) dropped [0-9]* datagrams from 203.0.113.20:40001 to 203.0.113.21:40002"
grep -q "FAIL   wrong  *failed (expected direct)" "$tmp/out" || fail "no FAIL line"
grep -q "$why" "$tmp/out" || fail "the live detail does not name the router and the flow"
grep -q "alice's router home-a (line 12) dropped [0-9]* datagrams from 203.0.113.21:40002 to 203.0.113.20:40001" \
	"$tmp/out" || fail "the live detail does not name the other router"
grep -q "network: failed; alice received 0 of [1-9][0-9]* datagrams from bob and 0 relayed" "$tmp/out" ||
	fail "the live detail has no evidence line"
grep -q "router home-b (line 16) dropped [0-9]* datagrams from 203.0.113.20:40001" "$tmp/r.xml" || fail "JUnit: no explanation"
grep -q "$why" "$tmp/r.md" || fail "Markdown: no explanation"
grep -q "$why" "$tmp/r.json" || fail "JSON: no explanation"
cp "$tmp/tap" "$tmp/out"
grep -q "  explanation: \"$why" "$tmp/out" || fail "TAP: no explanation"
echo "ok: the far NATs' drops make a failed pair, and the explanation names each router and the dropped flow"
