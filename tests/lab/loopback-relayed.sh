#!/bin/sh
# lab-run: loopback (shares 127.0.0.x with the other loopback tests: tests/lab-run.sh runs them in turn)
# Like loopback-direct, but both punch-clients drop every direct packet
# (--drop-direct): after the punch timeout both must fall back to the
# server's relay, report "relayed" and still exchange every message.
# Loopback only; nothing outside this script's own processes is touched.
set -u
# shellcheck source=lib/punch.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/punch.sh"
punch_setup loopback-relayed

punch_start_server

session="relayed-$$"
"$O/punch-client" --server "127.0.0.1:$port" --bind 127.0.0.2 --session "$session" --drop-direct \
	--punch-timeout 500ms --timeout 8 >"$tmp/a.json" 2>"$tmp/a.err" &
pa=$!
pids="$pids $pa"
"$O/punch-client" --server "127.0.0.1:$port" --bind 127.0.0.3 --session "$session" --drop-direct \
	--punch-timeout 500ms --timeout 8 >"$tmp/b.json" 2>"$tmp/b.err" &
pb=$!
pids="$pids $pb"
wait "$pa"; ra=$?
wait "$pb"; rb=$?
[ "$ra" -eq 1 ] || fail "client a exited $ra, want 1 (relayed)"
[ "$rb" -eq 1 ] || fail "client b exited $rb, want 1 (relayed)"

for s in a b; do
	j="$tmp/$s.json"
	[ "$(wc -l <"$j")" -eq 1 ] || fail "$s: want exactly one JSON line"
	[ "$(field "$j" outcome)" = '"relayed"' ] || fail "$s: outcome not relayed"
	[ "$(field "$j" messages_sent)" = 5 ] || fail "$s: not all messages delivered"
	[ "$(field "$j" messages_received)" = 5 ] || fail "$s: not all messages received"
	[ "$(field "$j" relayed_in)" -ge 5 ] || fail "$s: fewer than 5 relayed messages in"
	[ "$(field "$j" dropped)" -gt 0 ] || fail "$s: dropped no direct probe"
	[ "$(field "$j" peer_used)" = null ] || fail "$s: claims a direct path"
	[ "$(field "$j" probes_received)" = 0 ] || fail "$s: a direct probe got through"
	[ "$(field "$j" forged)" = 0 ] || fail "$s: forged packets seen"
done
[ "$(field "$tmp/a.json" session_id)" = "$(field "$tmp/b.json" session_id)" ] || fail "session ids differ"

# --no-relay as well: nothing can carry the messages, both fail (exit 2).
session="norelay-$$"
"$O/punch-client" --server "127.0.0.1:$port" --bind 127.0.0.2 --session "$session" --drop-direct --no-relay \
	--punch-timeout 300ms --timeout 1500ms >"$tmp/c.json" 2>"$tmp/c.err" &
pa=$!
pids="$pids $pa"
"$O/punch-client" --server "127.0.0.1:$port" --bind 127.0.0.3 --session "$session" --drop-direct --no-relay \
	--punch-timeout 300ms --timeout 1500ms >"$tmp/d.json" 2>"$tmp/d.err" &
pb=$!
pids="$pids $pb"
wait "$pa"; ra=$?
wait "$pb"; rb=$?
[ "$ra" -eq 2 ] && [ "$rb" -eq 2 ] || fail "with --no-relay: exited $ra and $rb, want 2 and 2"
[ "$(field "$tmp/c.json" outcome)" = '"failed"' ] || fail "with --no-relay: outcome not failed"
[ "$(field "$tmp/c.json" reason)" != null ] || fail "with --no-relay: no reason"

echo "loopback-relayed: ok"
exit 0
