#!/bin/sh
# The layers the build enforces: src/ is compiled without lab/'s include path,
# so a lab/ header included from src/ fails to compile; lab/ builds on src/.
set -eu
O=${O:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cppflags=$(make -s --no-print-directory O="$O" print-CPPFLAGS)
labflags=$(make -s --no-print-directory O="$O" print-LAB_CPPFLAGS)

# How make really compiles a src/ object and a lab/ object.
srccmd=$(make -n -B --no-print-directory O="$O" "$O/obj/src/common/log.o" | grep -- ' -c ')
labcmd=$(make -n -B --no-print-directory O="$O" "$O/obj/lab/model/topo.o" | grep -- ' -c ')
case " $srccmd " in *" -Ilab "*) fail "src/ objects are compiled with -Ilab: $srccmd" ;; esac
case " $labcmd " in *" -Ilab "*) ;; *) fail "lab/ objects are compiled without -Ilab: $labcmd" ;; esac
echo "ok: src/ objects are compiled without lab/'s include path"

# A src/ file that includes a lab/ header does not compile with src/'s flags ...
printf '#include "model/topo.h"\nint layers_probe(void);\nint layers_probe(void) { return 0; }\n' > "$tmp/bad.c"
# shellcheck disable=SC2086
if cc $cppflags -fsyntax-only "$tmp/bad.c" 2> "$tmp/err"; then
	fail "a lab/ header compiled with src/'s flags"
fi
grep -q 'model/topo.h' "$tmp/err" || fail "the failure is not the missing lab header: $(cat "$tmp/err")"
echo "ok: a lab/ header included from src/ fails to compile"
# ... and the same file compiles with lab/'s flags (so the failure above is the layer, not the file).
# shellcheck disable=SC2086
cc $cppflags $labflags -fsyntax-only "$tmp/bad.c" || fail "the lab header does not compile with lab/'s flags"
echo "ok: it compiles with lab/'s flags"

# Every src/ file compiles with src/'s flags alone (the build does this; say so by name).
bad=$(grep -rlE '#include "(model|kernel|report)/' src || true)
[ -z "$bad" ] || fail "src/ files include lab/ headers: $bad"
echo "ok: no src/ file names a lab/ header"
