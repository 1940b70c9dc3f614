#!/bin/sh
# Port prediction in punchlab, against the model and the probe budget.
# - topologies/predict-birthday-symmetric-vs-pr-cone.topo (birthday, 400
#   ports of bob's NAT's 20000-29999) 50 times with --repeat 50: at least 45
#   runs (90%) direct, and the rate the model derived (in the report's
#   expect_rate, recomputed here from the formula) inside the 95% Wilson
#   interval of the measured rate; the verdict over the runs is pass.
# - the same pair without predict: relayed (derived, and on the wire).
# - the probe budget, counted by the routers (the evidence's per-flow
#   counters on each router's LAN side), not by the clients: in every one of
#   the 50 runs bob's NAT passed at most 800 datagrams (the default budget,
#   twice predict-ports) from his extra sockets towards alice, from at most
#   400 sockets; and in a run where the prediction cannot meet (alice aims at
#   40000-49999, the NAT gives 20000-29999: derived relayed, so both spend
#   their whole budget) alice's NAT passed at most 800 datagrams to bob's
#   address at ports of 40000-49999, at most 400 ports, and bob's at most 800
#   from his extra sockets; each side at least one full pass (400), so the
#   count is of something.
# - topologies/predict-sequential.topo once, on the wire: bob's NAT mapped
#   his registrations at the server's two addresses 2 ports apart (port-step)
#   and his first probe towards alice on one of the next ports; alice's NAT
#   passed her datagrams to the 8 ports after the second registration's, and
#   the direct path alice received is from one of them: the prediction from
#   what the server observed is what reached her.
# --no-self-check: make lab checks these NATs; here the 50 runs are about
# the pair. Nothing of the labs remains after.
# The 50 runs (-j 4: more gains nothing on 2 cores) and the prediction that
# cannot meet (5 s of spending its budget) run in the background while the
# rest runs; each is checked once it is done.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-predict.XXXXXX) || exit 1
# shellcheck source=lib/bg.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/bg.sh"
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 0; }
ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.before"
topo=topologies/predict-birthday-symmetric-vs-pr-cone.topo

# The pair's addresses, as the plan gives them (punchlab list).
"$O/punchlab" list "$topo" >"$tmp/list.out" 2>&1 || fail "punchlab list: $(cat "$tmp/list.out")"
alice=$(sed -n 's/^peer alice: \([0-9.]*\) port \([0-9]*\), seen on the internet as \([0-9.]*\)$/\1 \2 \3/p' "$tmp/list.out")
bob=$(sed -n 's/^peer bob: \([0-9.]*\) port \([0-9]*\), seen on the internet as \([0-9.]*\)$/\1 \2 \3/p' "$tmp/list.out")
[ -n "$alice" ] && [ -n "$bob" ] || fail "no peer lines in punchlab list: $(cat "$tmp/list.out")"
grep -q '^expected outcome: direct[^:]*: birthday: ' "$tmp/list.out" ||
	fail "the expectation is not the birthday derivation: $(grep '^expected' "$tmp/list.out")"

bg_run "$O/punchlab" run --no-color --no-self-check -j 4 --repeat 50 --json "$tmp/rate.json" "$topo" >"$tmp/rate.out" 2>&1
rate_pid=$bg_pid

# A prediction that cannot meet: both sides spend their whole budget.
sed 's/^predict-range = .*/predict-range = 40000-49999/; /^expect /d' "$topo" >"$tmp/miss.topo"
bg_run "$O/punchlab" run --no-color --no-self-check --json "$tmp/miss.json" "$tmp/miss.topo" >"$tmp/miss.out" 2>&1
miss_pid=$bg_pid

# Without prediction: relayed.
sed '/^predict/d; /^expect /d' "$topo" >"$tmp/nopredict.topo"
"$O/punchlab" run --no-color --no-self-check --json "$tmp/nopredict.json" "$tmp/nopredict.topo" \
	>"$tmp/nopredict.out" 2>&1 || fail "without predict: $(tail -5 "$tmp/nopredict.out")"
[ "$(jq -r '.scenarios[0] | .expected + " " + .actual' "$tmp/nopredict.json")" = "relayed relayed" ] ||
	fail "without predict not relayed: $(jq -c '.scenarios[0] | [.expected, .actual]' "$tmp/nopredict.json")"


# Sequential, on the wire.
"$O/punchlab" list topologies/predict-sequential.topo >"$tmp/seq.list" 2>&1 || fail "list: $(cat "$tmp/seq.list")"
servers=$(sed -n 's/^  server *eth0=\([0-9.]*\)\/[0-9]*,\([0-9.]*\)\/.*/\1 \2/p' "$tmp/seq.list")
[ -n "$servers" ] || fail "no server addresses in punchlab list: $(cat "$tmp/seq.list")"
"$O/punchlab" run --no-color --no-self-check --json "$tmp/seq.json" topologies/predict-sequential.topo \
	>"$tmp/seq.out" 2>&1 || fail "predict-sequential: $(tail -5 "$tmp/seq.out")"
python3 - "$tmp/seq.json" "$alice" "$bob" "$servers" <<'PY' || fail "sequential prediction on the wire, see above"
import json, sys
run = json.load(open(sys.argv[1]))["scenarios"][0]
a_ip, a_port, a_pub = sys.argv[2].split()
b_ip, b_port, b_pub = sys.argv[3].split()
s1, s2 = sys.argv[4].split()
rt = {r["name"]: r for r in run["evidence"]["detail"]["routers"]}
maps = {m["remote"]: int(m["external"].rsplit(":", 1)[1]) for m in rt["home-b"]["mappings"]
        if m["internal"] == "%s:%s" % (b_ip, b_port)}
step = lambda p, k: (p - 1024 + 2 * k) % 64512 + 1024  # port-step 2 in 1024-65535
p1 = next(v for k, v in maps.items() if k.startswith(s1 + ":"))
p2 = next(v for k, v in maps.items() if k.startswith(s2 + ":"))
pa = maps.get("%s:%s" % (a_pub, a_port))
sent = {int(f["to"].rsplit(":", 1)[1]) for f in rt["home-a"]["outbound"]
        if f["from"] == "%s:%s" % (a_ip, a_port) and f["to"].startswith(b_pub + ":") and f["passed"]}
path = [e["from"] for p in run["evidence"]["detail"]["peers"] if p["name"] == "alice" for e in p["partner_endpoints"]]
print("sequential: bob's NAT mapped %d (server), %d (second address), %s (alice); alice's NAT passed datagrams "
      "to bob's ports %s; alice's direct path from %s; outcome %s"
      % (p1, p2, pa, sorted(sent), path, run["actual"]))
bad = []
if p2 != step(p1, 1):
    bad.append("the two registrations are not one step apart")
if pa not in (step(p2, 1), step(p2, 2)):
    bad.append("bob's mapping towards alice is not among the NAT's next ports")
if not {step(p2, k) for k in range(1, 9)} <= sent:
    bad.append("alice did not probe the 8 ports after the second registration's")
if run["actual"] != "direct" or path != ["%s:%d" % (b_pub, pa or 0)]:
    bad.append("alice's direct path is not from bob's predicted mapping")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY

reap $miss_pid
[ $rc -eq 0 ] || fail "the missing prediction: $(tail -5 "$tmp/miss.out")"
reap $rate_pid

PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(dirname "$0")/lib" python3 - "$tmp/rate.json" "$tmp/miss.json" "$rc" "$alice" "$bob" <<'PY' || fail "see above"
import json, math, sys
from wilson import wilson95

rate, miss = (json.load(open(f)) for f in sys.argv[1:3])
rc = int(sys.argv[3])
a_ip, a_port, a_pub = sys.argv[4].split()
b_ip, b_port, b_pub = sys.argv[5].split()
BUDGET, PORTS = 800, 400  # predict-ports = 400; the client's budget is twice that
bad = []

def router(run, name):
    return next(r for r in run["evidence"]["detail"]["routers"] if r["name"] == name)

def hard_spray(run):
    """Datagrams bob's NAT passed from his extra sockets (any port but his
    own) towards alice's public endpoint, and from how many sockets."""
    flows = [f for f in router(run, "home-b")["outbound"]
             if f["from"].startswith(b_ip + ":") and f["from"] != "%s:%s" % (b_ip, b_port)
             and f["to"].startswith(a_pub + ":")]
    return sum(f["passed"] for f in flows), len({f["from"] for f in flows})

def easy_spray(run, lo, hi):
    """Datagrams alice's NAT passed from her to bob's address at ports lo..hi."""
    flows = [f for f in router(run, "home-a")["outbound"]
             if f["from"] == "%s:%s" % (a_ip, a_port) and f["to"].startswith(b_pub + ":")
             and lo <= int(f["to"].rsplit(":", 1)[1]) <= hi]
    return sum(f["passed"] for f in flows), len({f["to"] for f in flows})

# The formula, worked out here: alice's 400 ports and bob's 401 mappings,
# both of the same 10000.
n, m, r = 400, 401, 10000
p = 1 - math.exp(sum(math.log(r - m - i) - math.log(r - i) for i in range(n)))

runs = rate["scenarios"]
if len(runs) != 50:
    bad.append("%d runs, not 50" % len(runs))
direct = sum(1 for s in runs if s["actual"] == "direct")
k = sum(1 for s in runs if s["verdict"] == "pass")
N = len(runs) or 1
ph = direct / N
lo, hi = wilson95(direct, N)
rt = rate["rates"][0]
print("birthday, 50 runs: %d direct (%.0f%%), 95%% interval [%.4f, %.4f]; predicted %.9f (report: %.9f); "
      "verdict %s, exit %d" % (direct, 100 * ph, lo, hi, p, runs[0].get("expect_rate") or 0, rt["verdict"], rc))
if direct < 45:
    bad.append("%d of 50 direct, under 90%%" % direct)
if not lo <= p <= hi:
    bad.append("the predicted %.9f is outside the measured interval [%.4f, %.4f]" % (p, lo, hi))
# Each run carries the derived rate at full precision (the rates block rounds to 4 places).
for s in runs:
    if abs((s.get("expect_rate") or 0) - p) > 1e-12:
        bad.append("run %s: the derived rate %s is not the formula's %.12f" % (s["repetition"], s.get("expect_rate"), p))
        break
if k != direct or rt["passed"] != k or rt["runs"] != N:
    bad.append("runs as expected %d, direct %d, rates block %s" % (k, direct, rt))
want = "pass" if hi >= p else "fail"
if rt["verdict"] != want or rc != (0 if want == "pass" else 1):
    bad.append("verdict %s, exit %d; the rule gives %s" % (rt["verdict"], rc, want))

worst = (0, 0)
for s in runs:
    sent, socks = hard_spray(s)
    worst = max(worst, (sent, socks))
    if sent > BUDGET or socks > PORTS:
        bad.append("run %s: bob's NAT passed %d datagrams from %d extra sockets, over %d from %d"
                   % (s["repetition"], sent, socks, BUDGET, PORTS))
print("birthday, 50 runs: bob's extra sockets, most in one run: %d datagrams from %d sockets (cap %d, %d)"
      % (worst[0], worst[1], BUDGET, PORTS))

s = miss["scenarios"][0]
if (s["expected"], s["actual"]) != ("relayed", "relayed"):
    bad.append("the missing prediction: expected %s, actual %s" % (s["expected"], s["actual"]))
bs, bk = hard_spray(s)
as_, ak = easy_spray(s, 40000, 49999)
print("missing prediction (relayed): alice's NAT passed %d datagrams to %d of bob's ports in 40000-49999, "
      "bob's %d from %d extra sockets (cap %d each, %d ports or sockets)" % (as_, ak, bs, bk, BUDGET, PORTS))
for who, sent, count in (("alice", as_, ak), ("bob", bs, bk)):
    if sent > BUDGET or count > PORTS:
        bad.append("%s sent %d prediction datagrams (%d ports or sockets): over the budget" % (who, sent, count))
    if sent < PORTS or count != PORTS:
        bad.append("%s sent %d prediction datagrams over %d ports or sockets: not even one pass of %d"
                   % (who, sent, count, PORTS))
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY

ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.after"
cmp -s "$tmp/links.before" "$tmp/links.after" || fail "links left behind"
echo "ok"
