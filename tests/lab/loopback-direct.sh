#!/bin/sh
# lab-run: loopback (shares 127.0.0.x with the other loopback tests: tests/lab-run.sh runs them in turn)
# punch-server on 127.0.0.1 and two punch-clients on 127.0.0.2 and 127.0.0.3
# in one session: both must report a direct path to each other and every
# message exchanged. Also: a client whose server is not there exits 4.
# Loopback only; nothing outside this script's own processes is touched.
set -u
# shellcheck source=lib/punch.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/punch.sh"
punch_setup loopback-direct

punch_start_server

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
