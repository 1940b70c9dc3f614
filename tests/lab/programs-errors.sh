#!/bin/sh
# Bad [programs] input gets a clear error per scenario and leaves nothing
# behind: an unknown placeholder (file:line, from check and run), a missing
# binary, a setup that fails, a server that exits at once, a client that
# exits at once, a client that floods stdout (its report stays bounded).
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-progerr.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; sed 's/^/  /' "$tmp/out"; exit 1; }
d=tests/lab/data/programs

"$O/punchlab" check "$d/bad-placeholder.topo" >"$tmp/out" 2>&1 && fail "check accepted {peer_address}"
grep -q "bad-placeholder.topo:5: client: unknown placeholder '{peer_address}': expected {server}" "$tmp/out" ||
	fail "no file:line error for the placeholder"
[ "$(id -u)" = 0 ] || { echo "SKIP: the rest needs root"; exit 0; }

"$O/punchlab" run --no-color --json "$tmp/r.json" "$d/bad-placeholder.topo" "$d/missing-binary.topo" \
	"$d/server-exits.topo" "$d/client-exits.topo" "$d/floods.topo" "$d/setup-fails.topo" >"$tmp/out" 2>&1 &&
	fail "bad input passed"
field() { jq -r ".scenarios[] | select(.name == \"$1\") | .$2" "$tmp/r.json"; }
field bad-placeholder error | grep -q "bad-placeholder.topo:5: client: unknown placeholder" ||
	fail "run: no error for the placeholder"
field missing-binary error | grep -q "alice: program 'punchlab-no-such-program' is not on PATH" ||
	fail "no error for the missing binary"
field server-exits error | grep -q "server exited 3 before it was ready" || fail "no error for the server"
field server-exits error | grep -q "cannot bind: no config" || fail "the server's stderr is not in the error"
field setup-fails error | grep -q "setup failed: exited 5" || fail "no error for the setup"
field setup-fails error | grep -q "cannot write keys" || fail "the setup's stderr is not in the error"
[ "$(field client-exits actual)" = failed ] || fail "client-exits: $(field client-exits actual), expected failed"
field client-exits detail | grep -q "failed: alice's program exited 2" || fail "client-exits: no reason"
field client-exits detail | grep -q "no such session" || fail "client-exits: its stderr is not in the report"
[ "$(field floods actual)" = failed ] || fail "floods: $(field floods actual), expected failed"
field floods detail | grep -q "did not finish within its time limit" || fail "floods: no reason"
# The flood is bounded: a tail of it in the report, and what was not kept counted.
len=$(jq -r '.scenarios[] | select(.name == "floods") | .peers[0].report | tostring | length' "$tmp/r.json")
[ "$len" -le 8192 ] || fail "floods: $len bytes of stdout in the report"
field floods detail | grep -q "bytes after this not kept" || fail "floods: the dropped output is not counted"
if pgrep -f 'yes flooding-the-lab' >/dev/null; then fail "the flood is still running"; fi
for n in missing-binary server-exits client-exits floods setup-fails; do
	ls -d /tmp/punchlab-$n.* >/dev/null 2>&1 && fail "work directory of $n left behind"
done
echo "ok: bad [programs] input gives a clear error per scenario, nothing left behind"
