#!/bin/sh
# `delay` and `jitter` on an uplink really delay, outbound only, also without
# netem (a TAP delay line): topologies/lossy-high-latency.topo (150 ms +/- 20
# ms and 2% loss on home-a's uplink) is run under another name with --keep
# and must end direct; then 40 UDP round trips from the delayed router to the
# server (paced, numbered, beside 10 from the other router) each take at
# least delay - jitter (the line never releases a frame
# earlier: a bound that cannot flake), spread over more than 10 ms (40
# uniform samples over 40 ms all within 10 ms: about 1e-22), with a median
# under two delays (only one direction is delayed); the undelayed router
# answers faster. `punchlab down` kills the kept forwarder by its PID. A
# kill -9 of punchlab takes the forwarder along; rootless, a delay line is
# either built or refused with a clear error.
set -u
O=${O:-build}
# with our PID: kept labs are host-wide, and other runs of this test may share the host
name=punchlab-delay-$$
tmp=$(mktemp -d /tmp/punchlab-delay.XXXXXX) || exit 1
echo_pid=
run_pid=
rtt_b=
rl_pid=
cleanup() {
	[ -n "$rl_pid" ] && kill "$rl_pid" 2>/dev/null && wait "$rl_pid" 2>/dev/null
	[ -n "$rtt_b" ] && kill "$rtt_b" 2>/dev/null && wait "$rtt_b" 2>/dev/null
	[ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null && wait "$echo_pid" 2>/dev/null
	[ -n "$run_pid" ] && kill -9 "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
	"$O/punchlab" down "$name" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
# alive PID: a forwarder that still runs (a zombie holds no device: its reaping
# is up to whichever process inherited it).
alive() {
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = punchlab-dline ] &&
		[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
[ -e "/run/netns/punchlab-$name.inet" ] && fail "a lab named $name is already kept here"

delay=150000 jitter=20000 # µs, as in the topology
grep -q '^delay  = 150ms$' topologies/lossy-high-latency.topo &&
	grep -q '^jitter = 20ms$' topologies/lossy-high-latency.topo || fail "the topology's delay is not 150ms +/- 20ms"
cp topologies/lossy-high-latency.topo "$tmp/$name.topo"

# --no-self-check: classifying these routers through the delay line (6 to 8
# s of probes and their timeouts) is what punchlab-shipped.sh (this topology
# run with its self-check, every router as declared) and
# punchlab-selfcheck.sh (punchlab classify of every shipped topology)
# already check; here it is the delay that is measured.
"$O/punchlab" run --no-self-check --keep --json "$tmp/run.json" "$tmp/$name.topo" >"$tmp/out" 2>&1
jq -e '.scenarios[0].actual == "direct" and .scenarios[0].pass == true' "$tmp/run.json" >/dev/null ||
	{ cat "$tmp/out"; fail "the verdict is not direct"; }

# Without netem the uplink is a TAP device, with a forwarder that outlived punchlab.
pidfile=/run/punchlab/$name.nat-home-a.dline
fwd=
if ip netns exec "punchlab-$name.nat-home-a" ip -d link show wan0 | grep -q 'tun type tap'; then
	[ -f "$pidfile" ] || fail "no $pidfile"
	fwd=$(cat "$pidfile")
	alive "$fwd" || fail "forwarder $fwd is not running"
	what="delay line (forwarder $fwd)"
else
	ip netns exec "punchlab-$name.nat-home-a" tc qdisc show dev wan0 | grep -q netem ||
		fail "wan0 is neither a delay line nor under netem"
	what=netem
fi

mkfifo "$tmp/ready"
ip netns exec "punchlab-$name.server" "$O/tools/udp-count" echo 203.0.113.10 9999 >"$tmp/ready" 2>"$tmp/echo.err" &
echo_pid=$!
read -r line <"$tmp/ready"
[ "$line" = ready ] || fail "echo server: $(cat "$tmp/echo.err")"
# Paced 2 * jitter + 10 ms apart: the line never reorders, so a frame waits
# behind the one ahead only when it came less than 2 * jitter after it;
# farther apart, every sample is the line's own, as if sent one at a time.
gap=$((2 * jitter / 1000 + 10))
ip netns exec "punchlab-$name.nat-home-b" "$O/tools/udp-count" rtt 203.0.113.10 9999 10 "$gap" >"$tmp/rtt-b" &
rtt_b=$!
ip netns exec "punchlab-$name.nat-home-a" "$O/tools/udp-count" rtt 203.0.113.10 9999 40 "$gap" >"$tmp/rtt-a" ||
	fail "udp-count rtt: $(cat "$tmp/rtt-a")"
wait "$rtt_b" || { rtt_b=; fail "udp-count rtt: $(cat "$tmp/rtt-b")"; }
rtt_b=
kill "$echo_pid" && wait "$echo_pid" 2>/dev/null
echo_pid=

# 2% loss each way: 30 of 40 answers at least (missing more: about 1e-8).
awk -v d="$delay" -v j="$jitter" '
	$1 == "rtt" { v[n++] = $3 }
	END {
		if (n < 30) { print "only " n " of 40 answers"; exit 1 }
		min = max = v[0]
		for (i = 0; i < n; i++) {
			if (v[i] < d - j - 1000) { print "an RTT of " v[i] " us, below delay - jitter"; exit 1 }
			if (v[i] > d + j + 1000000) { print "an RTT of " v[i] " us, over a second too long"; exit 1 }
			if (v[i] < min) min = v[i]
			if (v[i] > max) max = v[i]
		}
		# the median, by counting
		for (i = 0; i < n; i++) { below = 0; for (k = 0; k < n; k++) below += v[k] < v[i]; if (below == int(n / 2)) med = v[i] }
		if (max - min <= 10000) { print "no jitter: RTTs " min " to " max " us"; exit 1 }
		if (med >= 2 * (d - j)) { print "median RTT " med " us: delayed both ways?"; exit 1 }
		printf "%d answers, RTT min %.1f ms, median %.1f ms, max %.1f ms\n", n, min / 1000, med / 1000, max / 1000
	}' "$tmp/rtt-a" >"$tmp/stats-a" || fail "home-a: $(cat "$tmp/stats-a")"
min_b=$(awk '$1 == "sent" { print $6 }' "$tmp/rtt-b")
[ "$min_b" -ge 0 ] && [ "$min_b" -lt $((delay - jitter)) ] || fail "home-b's uplink is slow too: min RTT $min_b us"
echo "home-a (delayed, $what): $(cat "$tmp/stats-a"); home-b: min RTT $min_b us"

"$O/punchlab" down "$name" >/dev/null || fail "down"
ip netns list | grep -q "^punchlab-$name\." && fail "namespaces left after down"
[ -e "$pidfile" ] && fail "$pidfile left after down"
if [ -n "$fwd" ]; then
	i=0
	while alive "$fwd"; do
		i=$((i + 1))
		[ $i -lt 50 ] || fail "forwarder $fwd still runs after down"
		sleep 0.1
	done
fi

# Rootless: a delay line needs /dev/net/tun; either it works or the error
# says why. Its own lab, beside the kill -9 run below; judged at the end.
rl_pid=
if command -v setpriv >/dev/null; then
	mkdir "$tmp/rl"
	cp "$O/punchlab" "$O/punch-server" "$O/punch-client" "$O/punch-probe" "$tmp/$name.topo" "$tmp/rl/"
	chmod 755 "$tmp"
	chmod 1777 "$tmp/rl"
	chmod a+r "$tmp/rl"/*
	(cd "$tmp/rl" && exec setpriv --reuid=65534 --regid=65534 --clear-groups ./punchlab run --json run.json \
		"$name.topo") >"$tmp/rl.out" 2>&1 &
	rl_pid=$!
fi

# kill -9 of punchlab mid-run: its forwarder dies with it (PR_SET_PDEATHSIG).
if [ -n "$fwd" ]; then
	"$O/punchlab" run "$tmp/$name.topo" >"$tmp/out9" 2>&1 &
	run_pid=$!
	i=0 kid=
	while [ -z "$kid" ]; do
		for p in $(pgrep -x punchlab-dline); do
			# ours: a descendant of run_pid (directly, or through a worker)
			pp=$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null)
			ppp=$(awk '{ print $4 }' "/proc/$pp/stat" 2>/dev/null)
			if [ "$pp" = "$run_pid" ] || [ "$ppp" = "$run_pid" ]; then kid=$p; fi
		done
		i=$((i + 1))
		[ $i -lt 100 ] || fail "no forwarder appeared during the run"
		[ -n "$kid" ] || sleep 0.05
	done
	kill -9 "$run_pid"
	wait "$run_pid" 2>/dev/null
	run_pid=
	i=0
	while alive "$kid"; do
		i=$((i + 1))
		[ $i -lt 50 ] || fail "forwarder $kid outlived a kill -9 of punchlab"
		sleep 0.1
	done
	killed="kill -9 took forwarder $kid along"
else
	killed="(netem: no forwarder to kill)"
fi

rootless=skipped
if [ -n "$rl_pid" ]; then
	wait "$rl_pid"
	rl_pid=
	if grep -q "rootless mode is not possible here" "$tmp/rl.out"; then
		rootless="rootless mode impossible here"
	elif jq -e '.scenarios[0].actual == "direct"' "$tmp/rl/run.json" >/dev/null 2>&1; then
		rootless="rootless: direct"
	else
		jq -r '.scenarios[0].error' "$tmp/rl/run.json" 2>/dev/null | grep -q '/dev/net/tun: .*rootless' ||
			{ cat "$tmp/rl.out"; fail "rootless: neither a run nor a clear error"; }
		rootless="rootless refused: $(jq -r '.scenarios[0].error' "$tmp/rl/run.json")"
	fi
fi
echo "ok: direct with $what; RTTs as configured; down killed the forwarder; $killed; $rootless"
