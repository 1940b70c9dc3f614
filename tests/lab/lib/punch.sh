# Shared set-up of the loopback punch-client tests (loopback-direct.sh,
# loopback-relayed.sh, fixed-port.sh); sourced, never run on its own, so it
# lives below tests/lab/ where `make labtest` does not pick it up.
#
#   . "$(dirname "$0")/lib/punch.sh"
#   punch_setup NAME        $O, a private $tmp, $pids, the cleanup traps
#   punch_start_server      punch-server on 127.0.0.1, its port in $port
#   fail MESSAGE            says NAME: FAIL, shows the logs in $tmp, exits 1
#   field FILE KEY          a top-level scalar of punch-client's JSON line
#
# Every process a test starts goes into $pids (pids="$pids $!"): on any exit
# they are killed and reaped and $tmp is removed.

# punch_setup NAME: NAME heads the failure messages.
punch_setup() {
	punch_name=$1
	O=${O:-build}
	tmp=$(mktemp -d /tmp/punch-client-test.XXXXXX) || exit 1
	pids=""
	trap punch_cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

punch_cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}

fail() {
	echo "$punch_name: FAIL: $*" >&2
	for f in "$tmp"/*.err "$tmp"/*.json; do [ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done
	exit 1
}

# The value of a top-level scalar field in punch-client's one-line JSON:
# a string with its quotes, or a number, true, false or null as written.
field() {
	sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" "$1"
}

# Start the server on a port of its choosing; --ready-fd says when it
# listens, and its log says which port it got.
punch_start_server() {
	mkfifo "$tmp/ready" || fail "mkfifo"
	"$O/punch-server" --listen 127.0.0.1 --port 0 --ready-fd 3 3>"$tmp/ready" 2>"$tmp/server.err" &
	pids="$pids $!"
	ready=$(timeout 10 head -n 1 "$tmp/ready")
	[ "$ready" = ready ] || fail "server did not get ready"
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\) tcp\/udp.*/\1/p' "$tmp/server.err" | head -n 1)
	[ -n "$port" ] || fail "no port in the server's output"
}
