# Shared set-up of the punch-server abuse tests (server-abuse.sh,
# server-flood.sh); sourced, never run on its own.
#
#   fail_logs="server.log ..."          the files of $tmp fail() shows
#   . "$(dirname "$0")/lib/server.sh"
#   server_setup NAME                   $O, $srv, $cli, $abuse, a private $tmp, the traps
#   fail MESSAGE                        says FAIL, shows the logs, exits 1
#   start_server ARGS...                punch-server on 127.0.0.1 with ARGS; sets $spid, $port
#
# The server's PID goes into $spid, punch-abuse's into $apid, the clients'
# into $cpids: on any exit they are killed and reaped and $tmp is removed.
O=${O:-build}
srv=$O/punch-server
cli=$O/punch-client
abuse=$O/tools/punch-abuse
tmp=
spid=
apid=
cpids=

server_cleanup() {
	for p in $cpids $apid $spid; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$tmp" ] && rm -rf "$tmp"
}

fail() {
	echo "FAIL: $*"
	for f in ${fail_logs:-server.log}; do
		[ -n "$tmp" ] && [ -s "$tmp/$f" ] && { echo "--- $f"; tail -n 30 "$tmp/$f"; }
	done
	exit 1
}

# server_setup NAME: the binaries must be built; NAME names the temporary directory.
server_setup() {
	trap server_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	for b in "$srv" "$cli" "$abuse"; do
		[ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }
	done
	tmp=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1
}

# start_server ARGS...: punch-server on 127.0.0.1 with a port of its choosing
# and ARGS (prefixed by $wrap if set); waits on its ready fd (no sleeping),
# then reads the port it printed. Sets spid and port; its log is
# $tmp/server.log.
start_server() {
	rm -f "$tmp/ready"
	mkfifo "$tmp/ready" || fail "mkfifo"
	${wrap-} "$srv" --listen 127.0.0.1 --port 0 --ready-fd 3 "$@" 3>"$tmp/ready" 2>"$tmp/server.log" &
	spid=$!
	[ "$(timeout 20 head -n 1 "$tmp/ready")" = ready ] || fail "server did not become ready"
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) tcp\/udp.*/\1/p' "$tmp/server.log" | head -n 1)
	[ -n "$port" ] || fail "no port in the server's log"
}
