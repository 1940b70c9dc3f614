#!/bin/sh
# lab-run: loopback (shares 127.0.0.x with the other loopback tests: tests/lab-run.sh runs them in turn)
# The classic serverless proof of concept: two punch-clients on loopback,
# each with a fixed --local-port and the other's address in --peer, must both
# report a direct path and every message exchanged. Then the same with
# different --session names (so different derived secrets): every packet is
# rejected as forged and both fail. Loopback only.
set -u
# shellcheck source=lib/punch.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/punch.sh"
punch_setup fixed-port

# run_pair SESSION_A SESSION_B EXTRA...: both clients, ports chosen here; a
# port found busy (exit 3, "in use") is retried with another pair.
run_pair() {
	sa=$1 sb=$2
	shift 2
	for try in 1 2 3 4 5; do
		pa_port=$((20000 + ($$ * 7 + try * 131) % 30000))
		pb_port=$((pa_port + 1))
		"$O/punch-client" --peer "127.0.0.3:$pb_port" --bind 127.0.0.2 --local-port "$pa_port" \
			--session "$sa" "$@" >"$tmp/a.json" 2>"$tmp/a.err" &
		pa=$!
		pids="$pids $pa"
		"$O/punch-client" --peer "127.0.0.2:$pa_port" --bind 127.0.0.3 --local-port "$pb_port" \
			--session "$sb" "$@" >"$tmp/b.json" 2>"$tmp/b.err" &
		pb=$!
		pids="$pids $pb"
		wait "$pa"; ra=$?
		wait "$pb"; rb=$?
		if [ "$ra" -eq 3 ] || [ "$rb" -eq 3 ]; then
			grep -q "in use" "$tmp/a.err" "$tmp/b.err" && continue
		fi
		return 0
	done
	fail "no free port pair found"
}

run_pair "fixed-$$" "fixed-$$" --timeout 8
[ "$ra" -eq 0 ] || fail "client a exited $ra, want 0 (direct)"
[ "$rb" -eq 0 ] || fail "client b exited $rb, want 0 (direct)"
for s in a b; do
	j="$tmp/$s.json"
	[ "$(wc -l <"$j")" -eq 1 ] || fail "$s: want exactly one JSON line"
	[ "$(field "$j" outcome)" = '"direct"' ] || fail "$s: outcome not direct"
	[ "$(field "$j" mode)" = '"peer"' ] || fail "$s: mode not peer"
	[ "$(field "$j" messages_sent)" = 5 ] || fail "$s: not all messages delivered"
	[ "$(field "$j" messages_received)" = 5 ] || fail "$s: not all messages received"
	[ "$(field "$j" forged)" = 0 ] || fail "$s: forged packets seen"
done
[ "$(field "$tmp/a.json" peer_used)" = "\"127.0.0.3:$pb_port\"" ] || fail "a did not use b's fixed port"
[ "$(field "$tmp/b.json" peer_used)" = "\"127.0.0.2:$pa_port\"" ] || fail "b did not use a's fixed port"
[ "$(field "$tmp/a.json" session_id)" = "$(field "$tmp/b.json" session_id)" ] || fail "derived session ids differ"

# Different sessions: different secrets; nothing authenticates, both fail.
run_pair "fixed-a-$$" "fixed-b-$$" --timeout 1500ms
[ "$ra" -eq 2 ] && [ "$rb" -eq 2 ] || fail "mismatched sessions: exited $ra and $rb, want 2 and 2"
for s in a b; do
	j="$tmp/$s.json"
	[ "$(field "$j" outcome)" = '"failed"' ] || fail "$s: mismatched sessions not failed"
	[ "$(field "$j" forged)" -gt 0 ] || fail "$s: no forged packet counted"
	[ "$(field "$j" probes_received)" = 0 ] || fail "$s: accepted a probe of another session"
done

echo "fixed-port: ok"
exit 0
