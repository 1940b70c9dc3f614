#!/bin/sh
# punchlab as an unprivileged user: it enters a user namespace and runs the
# lab rootless where the kernel allows it, or says exactly what is missing.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-rootless.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to become another user"; exit 0; }
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 0; }

# The unprivileged user must be able to read the programs and the topologies.
cp "$O/punchlab" "$O/punch-server" "$O/punch-client" "$O/punch-probe" topologies/pr-cone-vs-pr-cone.topo \
	topologies/pr-cone-vs-symmetric.topo "$tmp/"
chmod 755 "$tmp"
chmod a+r "$tmp"/*
cd "$tmp" || exit 1

setpriv --reuid=65534 --regid=65534 --clear-groups ./punchlab run -j 2 \
	pr-cone-vs-pr-cone.topo pr-cone-vs-symmetric.topo >"$tmp/out" 2>&1
rc=$?
if grep -q "rootless mode is not possible here" "$tmp/out"; then
	# Allowed outcome on kernels that forbid it, if the reason is precise.
	[ $rc -eq 3 ] || fail "exit $rc with a rootless refusal, want 3"
	echo "ok (refused): $(grep 'rootless' "$tmp/out")"
	exit 0
fi
[ $rc -eq 0 ] || fail "rootless run exited $rc"
grep -q "running rootless in a user namespace" "$tmp/out" || fail "did not say it runs rootless"
grep -q "^2 passed, 0 failed" "$tmp/out" || fail "the rootless verdicts are not as expected"
echo "ok: rootless run as uid 65534, 2 scenarios as expected"
