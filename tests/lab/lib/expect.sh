# Shared checks of the punchlab error tests (punchlab-errors.sh,
# punchlab-rules-safety.sh); sourced, never run on its own.
#
#   . "$(dirname "$0")/lib/expect.sh"
#   expect_setup NAME       $O, a private $tmp removed on exit; skips unless root
#   expect_exit WANT CMD... run CMD, its output in $tmp/out, fail unless it exits WANT
#   says TEXT               fail unless $tmp/out holds TEXT
#   fail MESSAGE            says FAIL with the last output, exits 1
O=${O:-build}

fail() { echo "FAIL: $*"; [ -f "$tmp/out" ] && sed 's/^/  /' "$tmp/out"; exit 1; }

expect_setup() {
	tmp=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1
	trap 'rm -rf "$tmp"' EXIT
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
}

expect_exit() { # want cmd...: run, keep output in $tmp/out, check the exit status
	want=$1; shift
	"$@" >"$tmp/out" 2>&1
	got=$?
	[ "$got" -eq "$want" ] || fail "'$*' exited $got, want $want"
}

says() { grep -qF -- "$1" "$tmp/out" || fail "output lacks: $1"; }
