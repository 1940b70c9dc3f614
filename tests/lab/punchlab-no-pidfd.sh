#!/bin/sh
# The lab without pidfds, as on a kernel without pidfd_open (ENOSYS):
# PUNCHLAB_NO_PIDFD=1 makes the process runner watch its programs through a
# SIGCHLD pipe and reap them by PID, the namespace holders be killed and
# reaped by PID, and `punchlab down` kill a kept delay line's forwarder by
# PID (lab/kernel/childwatch.h). A direct pair and a delayed one (a delay
# line where there is no netem) must give their verdicts as with pidfds, and
# nothing of them may remain: no namespace, no forwarder, no child left.
set -u
O=${O:-build}
name=punchlab-no-pidfd-t
tmp=$(mktemp -d /tmp/punchlab-no-pidfd.XXXXXX) || exit 1
trap '"$O/punchlab" down "$name" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/out" ] && sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
[ -e "/run/netns/punchlab-$name.inet" ] && fail "a lab named $name is already kept here"
export PUNCHLAB_NO_PIDFD=1

"$O/punchlab" run --no-color topologies/pr-cone-vs-pr-cone.topo topologies/pr-cone-vs-symmetric.topo \
	>"$tmp/out" 2>&1 || fail "run without pidfds"
grep -q "2 passed, 0 failed" "$tmp/out" || fail "not 2 passed"

# A kept lab with a delay: its forwarder (without netem) is killed by PID.
printf '[lab]\nexpect = direct\n[nat home-a]\npreset = port-restricted\ndelay = 20ms\n' >"$tmp/$name.topo"
printf '[nat home-b]\npreset = port-restricted\n[peer alice]\nbehind = home-a\n[peer bob]\nbehind = home-b\n' \
	>>"$tmp/$name.topo"
"$O/punchlab" run --keep --no-color "$tmp/$name.topo" >"$tmp/out" 2>&1 || fail "run --keep without pidfds"
pidfile=/run/punchlab/$name.nat-home-a.dline
fwd=
if [ -f "$pidfile" ]; then
	fwd=$(cat "$pidfile")
	[ "$(cat "/proc/$fwd/comm" 2>/dev/null)" = punchlab-dline ] || fail "forwarder $fwd is not running"
fi
"$O/punchlab" down "$name" >"$tmp/out" 2>&1 || fail "down without pidfds"
ip netns list | grep -q "^punchlab-$name\." && fail "namespaces left after down"
if [ -n "$fwd" ]; then
	state=$(awk '{ print $3 }' "/proc/$fwd/stat" 2>/dev/null)
	# gone, or a zombie its new parent has not reaped yet: no devices either way
	[ -z "$state" ] || [ "$state" = Z ] || fail "forwarder $fwd still runs after down"
	echo "ok: forwarder $fwd killed by PID"
fi
echo "ok: the lab runs, reaps and cleans up without pidfds"
