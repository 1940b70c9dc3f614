#!/bin/sh
# punch-server on 127.0.0.1 and two punch-clients on 127.0.0.2 and 127.0.0.3
# in one session: both must report a direct path to each other and every
# message exchanged. Also: a client whose server is not there exits 4.
# Loopback only; nothing outside this script's own processes is touched.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punch-client-test.XXXXXX) || exit 1
pids=""

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "loopback-direct: FAIL: $*" >&2
	for f in "$tmp"/*.err "$tmp"/*.json; do [ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done
	exit 1
}

# The value of a top-level scalar field in punch-client's one-line JSON.
field() {
	sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" "$1"
}

# Start the server on a port of its choosing; --ready-fd says when it listens.
mkfifo "$tmp/ready" || fail "mkfifo"
"$O/punch-server" --listen 127.0.0.1 --port 0 --ready-fd 3 3>"$tmp/ready" 2>"$tmp/server.err" &
pids="$pids $!"
ready=$(timeout 10 head -n 1 "$tmp/ready")
[ "$ready" = ready ] || fail "server did not get ready"
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\) tcp\/udp.*/\1/p' "$tmp/server.err" | head -n 1)
[ -n "$port" ] || fail "no port in the server's output"

session="direct-$$"
"$O/punch-client" --server "127.0.0.1:$port" --bind 127.0.0.2 --session "$session" --timeout 8 \
	>"$tmp/a.json" 2>"$tmp/a.err" &
pa=$!
pids="$pids $pa"
"$O/punch-client" --server "127.0.0.1:$port" --bind 127.0.0.3 --session "$session" --timeout 8 \
	>"$tmp/b.json" 2>"$tmp/b.err" &
pb=$!
pids="$pids $pb"
wait "$pa"; ra=$?
wait "$pb"; rb=$?
[ "$ra" -eq 0 ] || fail "client a exited $ra, want 0 (direct)"
[ "$rb" -eq 0 ] || fail "client b exited $rb, want 0 (direct)"

for s in a b; do
	j="$tmp/$s.json"
	[ "$(wc -l <"$j")" -eq 1 ] || fail "$s: want exactly one JSON line"
	[ "$(field "$j" outcome)" = '"direct"' ] || fail "$s: outcome not direct"
	[ "$(field "$j" session)" = "\"$session\"" ] || fail "$s: wrong session"
	[ "$(field "$j" messages_sent)" = 5 ] || fail "$s: not all messages delivered"
	[ "$(field "$j" messages_received)" = 5 ] || fail "$s: not all messages received"
	[ "$(field "$j" relayed_out)" = 0 ] || fail "$s: used the relay"
	[ "$(field "$j" forged)" = 0 ] || fail "$s: forged packets seen"
	[ "$(field "$j" direct_ms)" != null ] || fail "$s: no time to direct"
done
[ "$(field "$tmp/a.json" session_id)" = "$(field "$tmp/b.json" session_id)" ] || fail "session ids differ"
roles="$(field "$tmp/a.json" role)$(field "$tmp/b.json" role)"
[ "$roles" = 12 ] || [ "$roles" = 21 ] || fail "roles are $roles"
# Each used the other's real socket, and the server saw each where it is.
[ "$(field "$tmp/a.json" peer_used)" = "$(field "$tmp/b.json" local)" ] || fail "a did not use b's endpoint"
[ "$(field "$tmp/b.json" peer_used)" = "$(field "$tmp/a.json" local)" ] || fail "b did not use a's endpoint"
[ "$(field "$tmp/a.json" public)" = "$(field "$tmp/a.json" local)" ] || fail "a: public differs on loopback"
case "$(field "$tmp/a.json" local)" in '"127.0.0.2:'*) ;; *) fail "a not bound to 127.0.0.2" ;; esac

# No server listening: exit 4 at once, and still one JSON object.
"$O/punch-client" --server "127.0.0.1:1" --timeout 3 >"$tmp/c.json" 2>"$tmp/c.err"
rc=$?
[ "$rc" -eq 4 ] || fail "client without a server exited $rc, want 4"
[ "$(field "$tmp/c.json" outcome)" = '"failed"' ] || fail "client without a server: outcome not failed"

echo "loopback-direct: ok"
exit 0
