#!/bin/sh
# punchlab up builds a lab, self-checks it and keeps it without running any
# pair; exec runs a command in one of its nodes; down takes it away with
# every process still running in its namespaces, even one that left its
# process group (a daemon), naming each one it ends.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-progup.XXXXXX) || exit 1
name=hprogs-updown-$$
cleanup() { "$O/punchlab" down "$name" >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }

cp topologies/pr-cone-vs-pr-cone.topo "$tmp/$name.topo"
"$O/punchlab" up "$tmp/$name.topo" >"$tmp/out" 2>&1 || fail "up failed"
grep -q "lab '$name' is up (self-check passed)" "$tmp/out" || fail "up did not say the lab is up"
[ -e "/run/netns/punchlab-$name.peer-alice" ] || fail "the lab is not kept"
# No pair ran: the server node has no punch-server.
"$O/punchlab" exec "$name" server sh -c 'ss -uln' >"$tmp/out" 2>&1 || fail "exec failed"
grep -q ":3478" "$tmp/out" && fail "up ran a server"
# A reply across the lab from a node, by hand.
"$O/punchlab" exec "$name" peer-alice ping -c 1 -w 5 203.0.113.10 >"$tmp/out" 2>&1 || fail "no ping from peer-alice"
# A daemon left running in two nodes, out of any process group of ours.
"$O/punchlab" exec "$name" peer-alice sh -c 'setsid sleep 3600.91 >/dev/null 2>&1 &' >"$tmp/out" 2>&1 || fail "exec"
"$O/punchlab" exec "$name" server sh -c 'setsid sleep 3600.92 >/dev/null 2>&1 &' >"$tmp/out" 2>&1 || fail "exec"
pgrep -f 'sleep 3600.9[12]' >/dev/null || fail "the daemons did not start"
"$O/punchlab" down "$name" >"$tmp/out" 2>&1 || fail "down failed"
grep -q "ending sleep (pid [0-9]*), still running in node peer-alice" "$tmp/out" || fail "down did not name alice's daemon"
grep -q "ending sleep (pid [0-9]*), still running in node server" "$tmp/out" || fail "down did not name the server's"
# pidfd-waited by down, but a zombie may linger until its parent (init) reaps it.
for i in 1 2 3 4 5 6 7 8 9 10; do
	left=$(pgrep -f 'sleep 3600.9[12]' | while read -r p; do
		[ "$(awk '{print $3}' /proc/$p/stat 2>/dev/null)" = Z ] || echo "$p"; done)
	[ -z "$left" ] && break
	sleep 0.2
done
[ -z "$left" ] || fail "daemons left running after down: $left"
ls /run/netns | grep -q "punchlab-$name\." && fail "namespaces left"
echo "ok: up keeps a self-checked lab with no pair; exec runs in a node; down ends what runs in it"
