# Shared set-up of the punch-server abuse tests (server-abuse.sh,
# server-flood.sh); sourced, never run on its own.
#
#   fail_logs="server.log ..."          the files of $tmp fail() shows
#   . "$(dirname "$0")/lib/server.sh"
#   server_setup NAME                   $O, $srv, $cli, $abuse, a private $tmp, the traps
#   fail MESSAGE                        says FAIL, shows the logs, exits 1
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
