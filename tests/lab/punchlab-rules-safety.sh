#!/bin/sh
# `rules = FILE` cannot be used to read another file (the lab runs as root on
# topologies written by others):
# - a rules file with a syntax error on line 3 and secret-looking text on
#   every other line: the terminal and the --json report hold line 3 and no
#   other line of it (nft's own text would show lines 5 and 6 as well);
# - /etc/shadow, a path with "..", a link leading out of the topology's
#   directory: refused with file:line by `check` and `run`, no content shown
#   (/etc/shadow not even looked at: strace);
#   --allow-rules DIR lets a file under DIR in;
# - a file over 1 MiB, a FIFO: refused from their metadata, without hanging;
# - `include` in a rules file: refused with the file and line (nft would
#   read the named file as root);
# - under sudo (SUDO_UID/SUDO_GID) the file is read with that user's rights:
#   a root-only file is refused, a readable one loads.
set -u
# shellcheck source=lib/expect.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/expect.sh"
expect_setup punchlab-rules-safety
never() { # file: no SECRET line of the rules file in it
	grep -q "SECRET" "$1" && { cp "$1" "$tmp/out"; fail "secret text in $1"; }
	grep -q "root:" "$1" && { cp "$1" "$tmp/out"; fail "a line of /etc/shadow in $1"; }
	return 0
}
topo() { # rules-file: a pair whose router a loads it
	printf '[lab]\nexpect = direct\n\n[nat a]\npreset = port-restricted\nrules = %s\n\n' "$1"
	printf '[nat b]\npreset = port-restricted\n\n[peer alice]\nbehind = a\n\n[peer bob]\nbehind = b\n'
}

t=$tmp/lab
mkdir "$t"
chmod 755 "$tmp" "$t"

# Line 3 is the offending one; every other line looks like a secret.
printf '# SECRET-1 password=hunter2\ntable ip t {\n  chain c { junk here }\n}\nSECRET-5 token=abcdef\n' \
	>"$t/mine.nft"
topo mine.nft >"$t/syntax.topo"
expect_exit 1 "$O/punchlab" run --no-color --json "$tmp/syntax.json" "$t/syntax.topo"
says "nat-a: loading the ruleset $t/mine.nft: $t/mine.nft:3:"
says "  chain c { junk here }"
never "$tmp/out"
never "$tmp/syntax.json"
jq -e '.scenarios[0].error | contains("chain c { junk here }")' "$tmp/syntax.json" >/dev/null ||
	fail "the report does not show line 3"
# nft itself echoes line 5 twice for this file: the lab must not pass that on.
[ "$(grep -c 'junk here' "$tmp/out")" -eq 1 ] || fail "line 3 shown more than once"

# Outside the tree: refused before anything is opened; --allow-rules lets it in.
topo /etc/shadow >"$t/shadow.topo"
expect_exit 1 "$O/punchlab" check "$t/shadow.topo"
says "$t/shadow.topo:6: rules file '/etc/shadow' is outside the topology's directory $t"
never "$tmp/out"
expect_exit 1 "$O/punchlab" run --no-color --json "$tmp/shadow.json" "$t/shadow.topo"
says "$t/shadow.topo:6: rules file '/etc/shadow' is outside"
never "$tmp/out"
never "$tmp/shadow.json"
# Not opened, not even looked at: no file system call of punchlab or of a
# worker names it.
command -v strace >/dev/null || fail "strace is not installed (ci/install-deps.sh lab)"
expect_exit 1 strace -f -qq -e trace=%file -o "$tmp/strace" "$O/punchlab" run --no-color "$t/shadow.topo"
says "rules file '/etc/shadow' is outside"
grep -q 'shadow\.topo' "$tmp/strace" || fail "strace saw nothing (not even the topology)"
grep '"/etc/shadow"' "$tmp/strace" && fail "punchlab asked the file system about /etc/shadow"

cp tests/lab/data/own-pr-cone.nft "$tmp/outside.nft"
topo ../outside.nft >"$t/dotdot.topo"
expect_exit 1 "$O/punchlab" check "$t/dotdot.topo"
says "$t/dotdot.topo:6: rules file '$tmp/outside.nft' is outside"
expect_exit 0 "$O/punchlab" check --allow-rules "$tmp" "$t/dotdot.topo"
says "ok (expect direct)"
# The workers that build the lab read it again, under the same allowance.
expect_exit 0 "$O/punchlab" run --no-color --allow-rules "$tmp/outside.nft" "$t/dotdot.topo"
says "1 passed, 0 failed"

ln -s /etc/shadow "$t/link.nft"
topo link.nft >"$t/link.topo"
expect_exit 1 "$O/punchlab" check "$t/link.topo"
says "$t/link.topo:6: rules file '/etc/shadow' is outside"
never "$tmp/out"

# Over the cap: refused from its size (a sparse file: nothing to read anyway).
truncate -s 2M "$t/big.nft"
topo big.nft >"$t/big.topo"
expect_exit 1 "$O/punchlab" run --no-color "$t/big.topo"
says "$t/big.topo:6: rules file '$t/big.nft' is larger than 1048576 bytes"

# A FIFO: refused at once, nothing waits for a writer.
mkfifo "$t/fifo.nft"
topo fifo.nft >"$t/fifo.topo"
expect_exit 1 timeout 20 "$O/punchlab" run --no-color "$t/fifo.topo"
says "$t/fifo.topo:6: rules file '$t/fifo.nft' is not a regular file"

# include: nft would read any file as root and show its lines in its errors.
printf 'table ip t {\n}\ninclude "/etc/shadow"\n' >"$t/inc.nft"
topo inc.nft >"$t/inc.topo"
expect_exit 1 "$O/punchlab" check "$t/inc.topo"
says "$t/inc.nft:3: include is not allowed"
expect_exit 1 "$O/punchlab" run --no-color --json "$tmp/inc.json" "$t/inc.topo"
says "$t/inc.nft:3: include is not allowed"
never "$tmp/out"
never "$tmp/inc.json"

# Under sudo: the invoking user's rights (nobody here). A file only root may
# read is refused; the same file readable by all loads (and fails on line 3).
id nobody >/dev/null 2>&1 || fail "no user nobody"
chmod 600 "$t/mine.nft"
expect_exit 1 env SUDO_UID="$(id -u nobody)" SUDO_GID="$(id -g nobody)" "$O/punchlab" run --no-color \
	"$t/syntax.topo"
says "nat-a: rules file '$t/mine.nft': Permission denied"
never "$tmp/out"
chmod 644 "$t/mine.nft"
expect_exit 1 env SUDO_UID="$(id -u nobody)" SUDO_GID="$(id -g nobody)" "$O/punchlab" run --no-color \
	"$t/syntax.topo"
says "$t/mine.nft:3:"
never "$tmp/out"
echo "ok: rules files stay in their tree, capped, and never echoed beyond the offending line"
