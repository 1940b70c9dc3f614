#!/bin/sh
# The self-check: punchlab classifies every router with punch-probe before a
# pair runs, refuses a scenario whose routers do not behave as declared, and
# leaves the routers as fresh as if they had never been probed.
# - `punchlab classify` on every shipped topology and matrix profile reports
#   exactly the declared behaviour;
# - rulesets that do something else than declared (tests/lab/data/
#   wrong-declared.topo) make `run` refuse, naming router, line and property,
#   before any client starts; `classify` says MISMATCH; with --no-self-check
#   the same file passes unnoticed (which is why the check exists); likewise
#   unsolicited UDP and, knocked with a SYN, tcp-unsolicited (data/
#   wrong-unsolicited.topo, wrong-tcp-unsolicited.topo), and TCP's mapping
#   and filtering (wrong-tcp-declared.topo);
# - after the check, a sequential-port NAT hands the pair the first port of
#   its pool: the probe's mappings were flushed;
# - nothing is left behind.
# Every punchlab command here builds a lab of its own and mostly waits (on
# the probes' waits, on the pair): they all start at once, the classification
# of the shipped files beside at most JOBS others (default 4), and their
# outputs are checked afterwards, in the order below.
set -u
O=${O:-build}
D=tests/lab/data
JOBS=${JOBS:-4}
tmp=$(mktemp -d /tmp/punchlab-selfcheck.XXXXXX) || exit 1
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; wait; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/out" ] && sed 's/^/  /' "$tmp/out" | head -40; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
command -v jq >/dev/null || fail "jq not found"
says() { grep -qF -- "$1" "$tmp/out" || fail "output lacks: $1"; }
# start NAME CMD...: run CMD in the background, its output into $tmp/NAME.out
# and its exit status into $tmp/NAME.rc, once one of JOBS slots is free.
mkfifo "$tmp/slots" || exit 1
exec 3<>"$tmp/slots"
i=0
while [ $i -lt "$JOBS" ]; do echo >&3; i=$((i + 1)); done
start() {
	name=$1
	shift
	read -r _ <&3
	( "$@" >"$tmp/$name.out" 2>&1 3>&-; echo $? >"$tmp/$name.rc"; echo >&3 ) &
	pids="$pids $!"
}
# result NAME: its output into $tmp/out (what says() and fail() read), its exit status into rc
result() {
	if ! cp "$tmp/$1.out" "$tmp/out" || ! rc=$(cat "$tmp/$1.rc"); then
		fail "$1 did not finish"
	fi
}
# refused WHAT NAME RUN1 RUN2 CLASSIFY1 CLASSIFY2: `run` of the file started
# as NAME-run (WHAT, for the failure) exited 1 saying RUN1 and RUN2, and its
# `classify`, NAME-classify, exited 1 saying CLASSIFY1 and CLASSIFY2
refused() {
	result "$2-run"
	[ "$rc" -eq 1 ] || fail "run of $1 exited $rc, want 1"
	says "$3"
	says "$4"
	result "$2-classify"
	[ "$rc" -eq 1 ] || fail "classify of $1 exited $rc, want 1"
	says "$5"
	says "$6"
}

# The labs, all started here and checked below.
"$O/punchlab" classify --no-color topologies/*.topo matrices/*.matrix "$D/tcp-rst-vs-pr-cone.topo" \
	>"$tmp/shipped.out" 2>&1 3>&- &
shipped_pid=$!
pids="$pids $shipped_pid"
# over IPv6 too: ipv6-server-only's firewall without its opt-out
sed 's/^self-check = no.*$//' topologies/ipv6-server-only.topo >"$tmp/v6-wrong.topo"
cp topologies/ipv6-server-only.nft "$tmp/"
cat >"$tmp/seq.topo" <<'EOT'
[lab]
description = sequential ports after the self-check
[nat seq]
mapping   = eim
filtering = apdf
ports     = sequential
port-start = 30000
[nat other]
preset = port-restricted
[peer alice]
behind = seq
[peer bob]
behind = other
EOT
# the slowest first (routers with their own rules: the long waits)
start tcp-declared-run "$O/punchlab" run --no-color "$D/wrong-tcp-declared.topo"
start tcp-declared-classify "$O/punchlab" classify --no-color "$D/wrong-tcp-declared.topo"
start tcp-unsolicited-run "$O/punchlab" run --no-color "$D/wrong-tcp-unsolicited.topo"
start tcp-unsolicited-classify "$O/punchlab" classify --no-color "$D/wrong-tcp-unsolicited.topo"
start declared-run "$O/punchlab" run --no-color --json "$tmp/w.json" "$D/wrong-declared.topo"
start declared-classify "$O/punchlab" classify --no-color "$D/wrong-declared.topo"
start v6-run "$O/punchlab" run --no-color "$tmp/v6-wrong.topo"
start unsolicited-run "$O/punchlab" run --no-color "$D/wrong-unsolicited.topo"
start unsolicited-classify "$O/punchlab" classify --no-color "$D/wrong-unsolicited.topo"
start unchecked-run "$O/punchlab" run --no-color --no-self-check "$D/wrong-declared.topo"
start seq-run "$O/punchlab" run --no-color --seed 5 --json "$tmp/seq.json" "$tmp/seq.topo"
wait "$shipped_pid"
echo $? >"$tmp/shipped.rc"
wait

# 1. every shipped router classifies as declared
result shipped
if [ "$rc" -ne 0 ]; then
	# the whole output is long: show what did not classify as declared
	grep -vE ' ok$|^topologies/|^matrices/|^$' "$tmp/out" | head -40
	grep -B3 -A12 -E 'MISMATCH|ERROR|error' "$tmp/out" | head -60
	rm -f "$tmp/out"
	fail "classify of the shipped files exited $rc"
fi
routers=$(grep -c ' declared ' "$tmp/out")
oks=$(grep -c ' ok$' "$tmp/out")
optout=$(grep -c 'not classified: self-check = no in the file$' "$tmp/out")
[ "$routers" -ge 30 ] || fail "only $routers routers classified"
[ "$optout" -eq 2 ] || fail "$optout lines of routers with self-check = no, want 2 (ipv6-server-only's fw-a, IPv4 and IPv6)"
[ "$oks" -eq $((routers - optout)) ] || fail "$oks of $routers routers as declared"
grep -E 'MISMATCH|ERROR' "$tmp/out" && fail "a shipped router is not as declared"
grep -A4 '^topologies/ipv6-firewall-pair.topo$' "$tmp/out" | grep -q 'fw-a (IPv6) .*observed firewall apdf *ok' ||
	fail "an IPv6 lab's firewall not classified over IPv6"
# spot checks of what was observed, not only that it matched
grep -A2 '^topologies/full-cone-vs-symmetric.topo$' "$tmp/out" >"$tmp/fcs"
grep -q 'home-a .*observed eim eif preserve hairpin=no *ok' "$tmp/fcs" || fail "full cone not observed as eim eif"
grep -q 'home-b .*observed apdm apdf random hairpin=no *ok' "$tmp/fcs" || fail "symmetric not observed as apdm apdf random"
grep -A2 '^topologies/udp-blocked.topo$' "$tmp/out" | grep -q 'office-b .*observed udp-blocked *ok' ||
	fail "udp-blocked router not observed as blocking UDP"
grep -A1 'profile firewall$' "$tmp/out" | grep -q 'observed firewall apdf *ok' || fail "firewall profile not observed"
grep -A2 '^topologies/icmp-unreachable-cones.topo$' "$tmp/out" >"$tmp/icmp"
grep -q 'home-a .*observed eim apdf preserve hairpin=no unsolicited=icmp-unreachable *ok' "$tmp/icmp" ||
	fail "icmp-unreachable router not observed answering with ICMP"
grep -q 'home-b .*observed eim apdf preserve hairpin=no *ok' "$tmp/icmp" || fail "silent router not observed silent"
# TCP (transport = tcp): an unsolicited SYN knocked from outside; a UDP lab's routers get no TCP knock (above: no tcp=)
grep -A2 "^$D/tcp-rst-vs-pr-cone.topo\$" "$tmp/out" >"$tmp/tcp"
grep -q 'home-a .*declared eim apdf preserve hairpin=no tcp=eim/apdf/rst *observed eim apdf preserve hairpin=no tcp=eim/apdf/rst *ok' \
	"$tmp/tcp" || fail "tcp-unsolicited = rst router not observed resetting an unsolicited SYN"
grep -q 'home-b .*observed eim apdf preserve hairpin=no tcp=eim/apdf/drop *ok' "$tmp/tcp" ||
	fail "silent TCP router not observed dropping an unsolicited SYN"
# TCP's own mapping and filtering (tcp-classify): each kind seen
for p in eim-eif:eim/eif eim-adf:eim/adf adm-apdf:adm/apdf apdm-eif:apdm/eif apdm-apdf:apdm/apdf firewall:apdf; do
	grep -A1 "^matrices/tcp.matrix: profile ${p%%:*}\$" "$tmp/out" | grep -q "observed .* tcp=${p#*:}/drop *ok\$" ||
		fail "tcp.matrix's ${p%%:*} profile not observed as tcp=${p#*:}/drop"
done
echo "ok: classify: $routers shipped routers behave as declared"

# 2. declared one thing, built another: refused before the pair runs
result declared-run
[ "$rc" -eq 1 ] || fail "run of a wrongly declared lab exited $rc, want 1"
says "self-check: refusing to run the pair"
says "router home-a (line 10) does not behave as declared: filtering declared eif, observed apdf"
says "router home-b (line 14) does not behave as declared: mapping declared apdm, observed eim; ports declared random, observed preserve"
[ "$(jq -r '.scenarios[0].actual' "$tmp/w.json")" = error ] || fail "not reported as an error"
[ "$(jq '.scenarios[0].peers | length' "$tmp/w.json")" -eq 0 ] || fail "the clients ran anyway"
result declared-classify
[ "$rc" -eq 1 ] || fail "classify of a wrongly declared lab exited $rc, want 1"
says "MISMATCH: filtering declared eif, observed apdf"
says "MISMATCH: mapping declared apdm, observed eim; ports declared random, observed preserve"
result unchecked-run
[ "$rc" -eq 0 ] || fail "--no-self-check: exited $rc (the pair of port-restricted cones should go direct)"
says "PASS   wrong-declared"
# over IPv6 too: ipv6-server-only's firewall without its opt-out is caught on its IPv6 side only
result v6-run
[ "$rc" -eq 1 ] || fail "run of an IPv6 router that is not as declared exited $rc, want 1"
says "over IPv6 does not behave as declared: mapping declared none, observed unknown"
grep -q 'router fw-a (line [0-9]*) does not behave' "$tmp/out" && fail "fw-a's IPv4 side reported as differing"
echo "ok: wrong declarations refused, naming router, line and property (IPv4 and IPv6); unnoticed without the check"

# 2b. unsolicited UDP answered otherwise than declared (knocked from outside)
refused "a router with the wrong unsolicited" unsolicited \
	"router home-a (line 11) does not behave as declared: unsolicited declared icmp-unreachable, observed drop" \
	"router home-b (line 16) does not behave as declared: unsolicited declared drop, observed icmp-unreachable" \
	"MISMATCH: unsolicited declared icmp-unreachable, observed drop" \
	"MISMATCH: unsolicited declared drop, observed icmp-unreachable"
echo "ok: a router declared icmp-unreachable but silent, and one declared silent but refusing, are refused"

# 2c. an unsolicited SYN answered otherwise than declared (knock --tcp from outside)
refused "a router with the wrong tcp-unsolicited" tcp-unsolicited \
	"router home-a (line 12) does not behave as declared: tcp-unsolicited declared rst, observed drop" \
	"router home-b (line 17) does not behave as declared: tcp-unsolicited declared drop, observed rst" \
	"MISMATCH: tcp-unsolicited declared rst, observed drop" \
	"MISMATCH: tcp-unsolicited declared drop, observed rst"
echo "ok: a router declared to reset an unsolicited SYN but silent, and one declared silent but resetting, are refused"
# 2d. TCP mapping and filtering not as declared, in a UDP lab (its routers' TCP declaration differs from UDP's)
refused "routers with the wrong tcp-mapping/tcp-filtering" tcp-declared \
	"router home-a (line 13) does not behave as declared: tcp-filtering declared eif, observed apdf" \
	"router home-b (line 18) does not behave as declared: tcp-mapping declared apdm, observed eim" \
	"declared eim apdf preserve hairpin=no tcp=eim/eif/drop observed eim apdf preserve hairpin=no tcp=eim/apdf/drop MISMATCH: tcp-filtering declared eif, observed apdf" \
	"MISMATCH: tcp-mapping declared apdm, observed eim"
echo "ok: TCP mapping and filtering not as declared are refused, naming tcp-mapping and tcp-filtering"

# 3. the routers are reset after the check: the pair gets the first sequential port
result seq-run
[ "$rc" -eq 0 ] || fail "sequential-port lab failed"
public=$(jq -r '.scenarios[0].peers[] | select(.name == "alice") | .report.public' "$tmp/seq.json")
[ "${public##*:}" = 30000 ] || fail "alice was mapped to $public, want port 30000 (the probe's mappings were not flushed)"
jq -e '[.scenarios[0].selfcheck[] | select(.name == "seq" and .family == 4 and .checked and .match and
	.observed == {nat: true, udp_blocked: false, mapping: "eim", filtering: "apdf", ports: "sequential",
		      hairpin: false} and .declared == .observed)] | length == 1' "$tmp/seq.json" >/dev/null ||
	fail "the JSON report lacks the self-check's line for router seq"
echo "ok: after the self-check the pair got port 30000, the sequential pool's port-start"

# labs are unnamed unless kept: nothing of ours may be pinned
ip netns list | grep -q '^punchlab-\(seq\|wrong-declared\)' && fail "namespaces left behind"
echo "punchlab-selfcheck: all passed"
