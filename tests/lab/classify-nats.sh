#!/bin/sh
# punch-probe classifies every NAT behaviour lab/nat.c can generate, on the
# real kernel (root): per behaviour a client namespace, a router namespace
# with the generated ruleset and a server namespace with two addresses
# running `punch-probe server`; `punch-probe classify --expect-...` from the
# client must find exactly the declared behaviour. Then rulesets that differ
# from their declaration: the mismatch must be found and name the property.
# Cases run JOBS at a time (default 6), each in namespaces cls-<pid>-<n>-*:
# the next starts as soon as one ends, the lossy (longest) ones first.
# Uses only 203.0.113.0/24, 198.51.100.0/24 and 10.0.1.0/24 inside those
# namespaces; the host's namespace is never touched. Env O = build dir.
set -u
# shellcheck source=lib/natlab.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/natlab.sh"

O=${O:-build}
NATGEN=${NATGEN:-$O/tools/natgen}
PROBE=${PROBE:-$O/punch-probe}
JOBS=${JOBS:-6}
WANIP=203.0.113.20
S1=203.0.113.30
S2=203.0.113.31
# Probe timing: an answer counts as absent after 1.5 s and 5 requests; on
# veths answers take well under a millisecond, so this is a wide margin.
PROBE_ARGS="--server $S1 --server2 $S2 --port 3479 --port2 3480 --local-port 61000 --timeout-ms 1500 --tries 5"
# Without loss, first the short wait the lab's own self-check uses (200 ms, 4
# requests; lab/selfcheck.h): its report stands only when the router's drop
# counters account for every request it found unanswered and the hairpin was
# answered or refused (selfcheck_fast_proven()): then nothing was merely
# late. Otherwise the case runs again, in fresh namespaces, with the wait
# above; the checks are the same either way.
SHORT_ARGS="--timeout-ms 200 --tries 4"

if [ "$(id -u)" != 0 ]; then
	echo "classify-nats: needs root" >&2
	exit 1
fi
for tool in nft ip jq; do
	command -v $tool >/dev/null 2>&1 || { echo "classify-nats: $tool not found" >&2; exit 1; }
done
for f in "$NATGEN" "$PROBE"; do
	[ -x "$f" ] || { echo "classify-nats: $f not built" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/classify-nats.XXXXXX) || exit 1
NS=cls-$$
jobpids=

# Kill what we started (by PID: the case subshells, then the probe servers
# they recorded), then remove every namespace of ours.
cleanup() {
	for p in $jobpids; do kill "$p" 2>/dev/null; done
	for p in $jobpids; do wait "$p" 2>/dev/null; done
	for f in "$tmp"/*.srvpid; do
		[ -f "$f" ] || continue
		p=$(cat "$f")
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	for n in $(ip netns list 2>/dev/null | sed -n "s/^\($NS-[0-9]*-[crs]\)\( .*\)\{0,1\}$/\1/p"); do
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# lab_up N RULESET: namespaces $NS-N-{c,r,s}, RULESET on the router, the probe
# server running (its PID in $tmp/N.srvpid). Output: what went wrong.
lab_up() {
	c=$NS-$1-c r=$NS-$1-r s=$NS-$1-s # lab_up runs in a case's own subshell
	natlab_net $c $r $s $WANIP $S1 $S2 || return 1
	ip netns exec $r nft -f "$2" || return 1
	# The server says "ready" on a pipe once its four sockets are bound: the
	# read returns then, or at EOF if it died first. No polling.
	mkfifo "$tmp/$1.ready" || return 1
	ip netns exec $s "$PROBE" server --listen $S1 --listen2 $S2 --port 3479 --port2 3480 -q \
		--ready-fd 3 3> "$tmp/$1.ready" 2> "$tmp/$1.srv" &
	echo $! > "$tmp/$1.srvpid"
	read -r line < "$tmp/$1.ready"
	[ "$line" = ready ] || { echo "probe server did not start: $(cat "$tmp/$1.srv")"; return 1; }
}

lab_down() {
	if [ -s "$tmp/$1.srvpid" ]; then
		p=$(cat "$tmp/$1.srvpid")
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		: > "$tmp/$1.srvpid"
	fi
	for node in c r s; do ip netns del $NS-$1-$node 2>/dev/null; done
	return 0
}

# Loss on the client host, both ways, from its own table (netem may be missing):
# every 7th UDP datagram in and every 7th out is dropped, the first one of each
# way among them. A fixed pattern, not a random one: the loss is certain to
# happen (so the drop count below can be asserted), and the same in every run.
# 7 is prime and above the most questions punch-probe has in flight at once (5)
# plus the hairpin copy, so no question loses two tries in a row either way.
LOSSY_RULES='table inet lossy {
	chain out { type filter hook output priority 0; meta l4proto udp numgen inc mod 7 == 0 counter drop; }
	chain in { type filter hook input priority 0; meta l4proto udp numgen inc mod 7 == 0 counter drop; }
}'

# proven N: case N's short-wait report ($tmp/N.json) stands on its router's
# counts (see SHORT_ARGS).
proven() {
	d=$(ip netns exec "$NS-$1-r" nft -j list counters 2>/dev/null | jq '[.nftables[] | select(.counter) |
		.counter | select(.name == "udp_dropped_in" or .name == "udp_dropped_out") | .packets] | add // -1')
	[ -n "$d" ] && jq -e --argjson d "$d" '.absent_requests == $d and
		(.udp_blocked or .hairpin_refused or .observations.hairpin == "yes")' "$tmp/$1.json" > /dev/null 2>&1
}

# run_case N NAME "NATGEN ARGS" BIND "EXPECT ARGS" WANT_RC [WANT_MISMATCHES] [lossy]
# Writes the verdict line to $tmp/N.res ("ok: ..." or "FAIL: ...").
run_case() {
	n=$1 name=$2 gargs=$3 bind=$4 eargs=$5 want_rc=$6 want_mis=${7:-} lossy=${8:-}
	res="$tmp/$n.res"
	# shellcheck disable=SC2086
	if ! "$NATGEN" $gargs --wan-ip $WANIP --lan-net "${bind%.*}.0/24" > "$tmp/$n.nft" 2> "$tmp/$n.err"; then
		echo "FAIL: $name: natgen $gargs: $(cat "$tmp/$n.err")" > "$res"
		return
	fi
	if ! lab_up "$n" "$tmp/$n.nft" > "$tmp/$n.up" 2>&1; then
		echo "FAIL: $name: lab setup: $(head -3 "$tmp/$n.up")" > "$res"
		lab_down "$n"
		return
	fi
	hb=$bind
	[ "$bind" = 10.0.1.2 ] && hb=10.0.1.3
	pargs=$PROBE_ARGS
	if [ -n "$lossy" ]; then
		# the tries and wait the lab's own self-check uses in a lossy lab
		pargs="$pargs --timeout-ms 3000 --tries 10"
		if ! echo "$LOSSY_RULES" | ip netns exec $NS-$n-c nft -f - 2> "$tmp/$n.err"; then
			echo "FAIL: $name: loss rules: $(cat "$tmp/$n.err")" > "$res"
			lab_down "$n"
			return
		fi
	fi
	wait_how=
	if [ -z "$lossy" ]; then
		# shellcheck disable=SC2086
		ip netns exec $NS-$n-c "$PROBE" classify $pargs $SHORT_ARGS --bind $bind --hairpin-bind $hb $eargs \
			> "$tmp/$n.json" 2> "$tmp/$n.log"
		rc=$?
		if proven "$n"; then
			wait_how=" [short wait, proven by the router's drop counts]"
		else
			wait_how=" [long wait: the short one was not proven]"
			lab_down "$n"
			rm -f "$tmp/$n.ready"
			if ! lab_up "$n" "$tmp/$n.nft" > "$tmp/$n.up" 2>&1; then
				echo "FAIL: $name: lab setup: $(head -3 "$tmp/$n.up")" > "$res"
				lab_down "$n"
				return
			fi
		fi
	fi
	if [ -z "$wait_how" ] || [ "${wait_how#*long}" != "$wait_how" ]; then
		# shellcheck disable=SC2086
		ip netns exec $NS-$n-c "$PROBE" classify $pargs --bind $bind --hairpin-bind $hb $eargs \
			> "$tmp/$n.json" 2> "$tmp/$n.log"
		rc=$?
	fi
	dropped=
	[ -n "$lossy" ] && dropped=$(ip netns exec $NS-$n-c nft list table inet lossy |
		sed -n 's/.*packets \([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
	lab_down "$n"
	got=$(jq -r '"\(.mapping) \(.filtering) \(.ports) hairpin=\(.hairpin) blocked=\(.udp_blocked) \(.elapsed_ms)ms"' \
		"$tmp/$n.json" 2>/dev/null)
	mis=$(jq -r '[.mismatches[].property] | join(",")' "$tmp/$n.json" 2>/dev/null)
	if [ -n "$lossy" ] && [ "${dropped:-0}" -eq 0 ]; then
		echo "FAIL: $name: the loss rules dropped nothing" > "$res"
	elif [ "$rc" != "$want_rc" ]; then
		echo "FAIL: $name: exit $rc, want $want_rc: $got; mismatches: $mis; $(cat "$tmp/$n.log")" > "$res"
	elif [ "$mis" != "$want_mis" ]; then
		echo "FAIL: $name: mismatches \"$mis\", want \"$want_mis\"" > "$res"
	elif [ -n "$want_mis" ] && ! grep -q "mismatch: ${want_mis%%,*} declared" "$tmp/$n.log"; then
		echo "FAIL: $name: no mismatch message for ${want_mis%%,*}: $(cat "$tmp/$n.log")" > "$res"
	else
		echo "ok: $name: $got${want_mis:+ (mismatch found: $mis)}${lossy:+ ($dropped datagrams lost)}$wait_how" > "$res"
	fi
}

# --- the cases ------------------------------------------------------------

: > "$tmp/cases"
add() { printf '%s|%s|%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "${7:-}" >> "$tmp/cases"; }

for m in eim adm apdm; do
	for f in eif adf apdf; do
		for p in preserve random sequential; do
			for h in no yes; do
				g="--mapping $m --filtering $f --ports $p"
				[ $h = yes ] && g="$g --hairpin"
				# only what the generator builds (it refuses 18 combinations)
				"$NATGEN" $g --wan-ip $WANIP --lan-net 10.0.1.0/24 > /dev/null 2>&1 || continue
				suffix=
				[ $h = yes ] && suffix=-hairpin
				add "$m-$f-$p$suffix" "$g" 10.0.1.2 \
					"--expect-mapping $m --expect-filtering $f --expect-ports $p --expect-hairpin $h" 0 ""
			done
		done
	done
done
for f in open eif adf apdf; do
	add "firewall-$f" "--mapping none --filtering $f" 198.51.100.2 \
		"--expect-mapping none --expect-filtering $f --expect-ports preserve --expect-hairpin no" 0 ""
done
add eim-apdf-udpblocked "--mapping eim --filtering apdf --udp-blocked" 10.0.1.2 \
	"--expect-mapping eim --expect-filtering apdf --expect-udp-blocked" 0 ""
add firewall-udpblocked "--mapping none --filtering apdf --udp-blocked" 198.51.100.2 \
	"--expect-mapping none --expect-filtering apdf --expect-udp-blocked" 0 ""
# Loss must not change the verdict: retransmissions, and absence concluded only at the deadline.
for g in "eim adf sequential yes" "adm eif preserve no" "apdm apdf sequential no" "eim eif random yes"; do
	set -- $g
	h=
	[ $4 = yes ] && h=" --hairpin"
	add "lossy: $1-$2-$3${h:+-hairpin}" "--mapping $1 --filtering $2 --ports $3$h" 10.0.1.2 \
		"--expect-mapping $1 --expect-filtering $2 --expect-ports $3 --expect-hairpin $4" 0 "" lossy
done
# Port allocation as declared: a sequential NAT's step, the port range.
add "step 2" "--mapping apdm --filtering apdf --ports sequential --port-step 2" 10.0.1.2 \
	"--expect-mapping apdm --expect-filtering apdf --expect-ports sequential --expect-hairpin no --expect-port-step 2" 0 ""
add "block 256" "--mapping apdm --filtering adf --ports block --block-size 256" 10.0.1.2 \
	"--expect-mapping apdm --expect-filtering adf --expect-ports block --expect-hairpin no --expect-block-size 256" 0 ""
add "range 20000-20999" "--mapping eim --filtering apdf --ports random --port-range 20000-20999" 10.0.1.2 \
	"--expect-mapping eim --expect-filtering apdf --expect-ports random --expect-hairpin no --expect-port-range 20000-20999" 0 ""
add "wrong: step 1 declared, step 2 loaded" "--mapping eim --filtering apdf --ports sequential --port-step 2" 10.0.1.2 \
	"--expect-mapping eim --expect-filtering apdf --expect-ports sequential --expect-hairpin no" 3 "port_step"
add "wrong: range declared, another loaded" "--mapping apdm --filtering apdf --ports random --port-range 30000-30999" 10.0.1.2 \
	"--expect-mapping apdm --expect-filtering apdf --expect-ports random --expect-hairpin no --expect-port-range 20000-20999" 3 "port_range"
# inbound-reply as declared: session (the default, every case above) or new-mapping.
for g in "apdm eif" "adm eif" "apdm adf"; do
	set -- $g
	add "new-mapping: $1-$2" "--mapping $1 --filtering $2 --ports random --inbound-reply new-mapping" 10.0.1.2 \
		"--expect-mapping $1 --expect-filtering $2 --expect-ports random --expect-hairpin no --expect-inbound-reply new-mapping" 0 ""
done
add "wrong: session declared, new-mapping loaded" "--mapping apdm --filtering eif --ports random --inbound-reply new-mapping" 10.0.1.2 \
	"--expect-mapping apdm --expect-filtering eif --expect-ports random --expect-hairpin no" 3 "inbound_reply"
add "wrong: new-mapping declared, session loaded" "--mapping adm --filtering eif --ports random" 10.0.1.2 \
	"--expect-mapping adm --expect-filtering eif --expect-ports random --expect-hairpin no --expect-inbound-reply new-mapping" 3 "inbound_reply"
# Declared one thing, built another: each must be caught, naming what differs.
add "wrong: full cone declared, symmetric loaded" "--mapping apdm --filtering apdf --ports random" 10.0.1.2 \
	"--expect-mapping eim --expect-filtering eif --expect-ports preserve --expect-hairpin no" 3 \
	"mapping,filtering,ports"
add "wrong: hairpin declared, none loaded" "--mapping eim --filtering adf --ports preserve" 10.0.1.2 \
	"--expect-mapping eim --expect-filtering adf --expect-ports preserve --expect-hairpin yes" 3 "hairpin"
add "wrong: sequential declared, random loaded" "--mapping eim --filtering apdf --ports random" 10.0.1.2 \
	"--expect-mapping eim --expect-filtering apdf --expect-ports sequential --expect-hairpin no" 3 "ports"
add "wrong: ADM declared, EIM loaded" "--mapping eim --filtering apdf --ports preserve" 10.0.1.2 \
	"--expect-mapping adm --expect-filtering apdf --expect-ports preserve --expect-hairpin no" 3 "mapping"
add "wrong: UDP declared open, blocked loaded" "--mapping eim --filtering apdf --udp-blocked" 10.0.1.2 \
	"--expect-mapping eim --expect-filtering apdf --expect-ports preserve" 3 "udp_blocked"
add "wrong: firewall declared, NAT loaded" "--mapping eim --filtering apdf" 10.0.1.2 \
	"--expect-mapping none --expect-filtering apdf --expect-ports preserve" 3 "nat,mapping"

# --- run them, JOBS at a time ---------------------------------------------

# A new case starts as soon as one ends (a slot back in the FIFO), not
# when a whole batch has ended: most cases wait out the probe's 1.5 s for
# what never comes, the lossy ones twice that, so the longest start first.
start=$(date +%s)
mkfifo "$tmp/slots" || exit 1
exec 3<>"$tmp/slots"
i=0
while [ $i -lt "$JOBS" ]; do echo >&3; i=$((i + 1)); done
for pass in lossy other; do
	n=0
	while IFS='|' read -r name gargs bind eargs want_rc want_mis lossy; do
		n=$((n + 1))
		if [ "$pass" = lossy ]; then [ -n "$lossy" ] || continue; else [ -z "$lossy" ] || continue; fi
		read -r _ <&3
		{
			run_case $n "$name" "$gargs" "$bind" "$eargs" "$want_rc" "$want_mis" "$lossy" < /dev/null 3>&-
			echo >&3
		} &
		jobpids="$jobpids $!"
	done < "$tmp/cases"
done
for p in $jobpids; do wait "$p"; done
jobpids=

fail=0
i=1
while [ $i -le "$n" ]; do
	if [ -s "$tmp/$i.res" ]; then
		cat "$tmp/$i.res"
		grep -q '^FAIL' "$tmp/$i.res" && fail=$((fail + 1))
	else
		echo "FAIL: case $i gave no result"
		fail=$((fail + 1))
	fi
	i=$((i + 1))
done
[ "$n" -eq 62 ] || { echo "FAIL: $n cases, want 62 (36 NATs, 4 firewalls, 2 UDP-blocked, 4 lossy, 3 port allocation, 3 new-mapping, 10 wrong)"; fail=$((fail + 1)); }
left=$(ip netns list | grep -c "^$NS-" || true)
[ "$left" -eq 0 ] || { echo "FAIL: $left namespaces left behind by the cases"; fail=$((fail + 1)); }
echo "classify-nats: $n cases in $(( $(date +%s) - start )) s ($(cat "$tmp"/*.res | grep -c 'short wait, proven') with the short wait proven, $(cat "$tmp"/*.res | grep -c 'long wait:') again with the long wait)"
if [ $fail -ne 0 ]; then
	echo "classify-nats: $fail failures"
	exit 1
fi
echo "classify-nats: all passed"
exit 0
