# shellcheck shell=sh disable=SC2154,SC2034  # $tmp comes from the test, $rc goes to it
# Runs side by side in a lab test (punchlab-repeat.sh, punchlab-predict.sh,
# programs-nebula.sh, punchlab-far-nat.sh):
# independent punchlab runs that mostly wait go in the background and each
# is checked once it is done. Sourced after the test made $tmp, never run on
# its own, so it lives below tests/lab/ where make labtest does not pick it up.
#
#   . "$(dirname "$0")/lib/bg.sh"
#   bg_run CMD... >OUT 2>&1  start CMD in the background; its PID in $bg_pid
#   reap PID                 wait for that run; its exit status in $rc
#
# A run still going when the test ends (a failure, an interrupt) is stopped
# by its PID (punchlab takes its labs down on TERM) and waited for; then
# $tmp is removed. A reaped PID is forgotten, never signalled again.

bg_pids=""

bg_cleanup() {
	for p in $bg_pids; do kill "$p" 2>/dev/null; done
	wait
	rm -rf "$tmp"
}
trap bg_cleanup EXIT
trap 'exit 1' INT TERM HUP

bg_run() {
	"$@" &
	bg_pid=$!
	bg_pids="$bg_pids $bg_pid"
}

reap() {
	wait "$1"
	rc=$?
	bg_pids=$(echo "$bg_pids" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}
