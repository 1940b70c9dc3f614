#!/bin/sh
# Programs under test are judged by their exit status (or check) for
# success and by the network for the path: a program that claims success
# without traffic is unproven, one whose datagrams cross one way only has
# failed, one that hangs past its time limit has failed; each with its
# reason, and none leaves a process behind (not even a child that left its
# process group with setsid).
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-progjudge.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
d=tests/lab/data/programs

"$O/punchlab" run --no-color --json "$tmp/r.json" "$d/claims.topo" "$d/sends-only.topo" "$d/hangs.topo" \
	>"$tmp/out" 2>&1 && fail "misbehaving programs passed"
verdict() { jq -r ".scenarios[] | select(.name == \"$1\") | .actual" "$tmp/r.json"; }
[ "$(verdict claims)" = unproven ] || fail "claims: $(verdict claims), expected unproven"
[ "$(verdict sends-only)" = failed ] || fail "sends-only: $(verdict sends-only), expected failed"
[ "$(verdict hangs)" = failed ] || fail "hangs: $(verdict hangs), expected failed"
grep -q "unproven: the programs exited 0, but no UDP went between the peers" "$tmp/out" ||
	fail "claims: no reason"
grep -q "failed: the programs exited 0, but UDP between them was delivered one way at most: alice->bob 20 sent, 0 delivered" \
	"$tmp/out" || fail "sends-only: no reason"
grep -q "failed: alice's program did not finish within its time limit (2000 ms)" "$tmp/out" ||
	fail "hangs: no reason"
# What the programs printed is in the report, as they printed it.
grep -q "connected to bob: success" "$tmp/out" || fail "claims: the program's stdout is not in the report"
# Nothing left: the hanging programs (and the setsid child) are gone, and so are the work directories.
if pgrep -f 'sleep 3600\.[12][78]' >"$tmp/left"; then
	cat "$tmp/left" >>"$tmp/out"
	fail "processes left behind"
fi
for n in claims sends-only hangs; do
	ls -d /tmp/punchlab-$n.* >/dev/null 2>&1 && fail "work directory of $n left behind"
done
# Honest programs are believed: a server of the user's with punch-clients, relayed (its
# attempts at a direct path crossed the internet both ways, but none arrived).
"$O/punchlab" run --no-color --json "$tmp/r2.json" "$d/own-server.topo" >"$tmp/out" 2>&1 ||
	fail "own-server: not relayed"
jq -r '.scenarios[0].detail' "$tmp/r2.json" |
	grep -q "relayed: no direct path, but RELAY messages from the server were delivered to both: [1-9][0-9]* to alice" ||
	fail "own-server: no reason in the report"
echo "ok: unproven, one-way and hung programs judged with their reasons; nothing left running; relayed believed"
