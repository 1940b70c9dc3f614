#!/bin/sh
# lab-run: loopback (shares 127.0.0.x with the other loopback tests: tests/lab-run.sh runs them in turn)
# TCP hole punching (punch-client --tcp), first on loopback, then through
# namespaces this script builds itself (prefix htcp-<pid>-): two clients
# behind two NATs with stateful firewalls written here in nftables, and a
# server that also routes between the NATs' public sides.
#
#   loopback   two --tcp clients and a server: direct over TCP, each used the
#              other's TCP port; a --tcp client paired with a UDP one says so
#   drop/drop  both NATs port-preserving (plain masquerade, endpoint-
#              independent for TCP) and dropping every unsolicited packet
#              inbound: direct, by simultaneous open (no connection was
#              accepted on a listener: each SYN met the other's SYN_SENT socket)
#   drop/rst   the same with b's firewall answering an unsolicited SYN with a
#              RST (RFC 5382 allows either): still direct
#   random     b's NAT maps each connection to a random port (masquerade
#              random: endpoint-dependent for TCP): the port the server saw is
#              not the one b's SYNs leave from, so no direct path: relayed
#              through the server (UDP), exit 1
#
# The namespaces and addresses: lib/nsnat.sh. Everything is deleted on exit;
# the host's own namespace is not touched.
set -u
# shellcheck source=lib/punch.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/punch.sh"
punch_setup tcp-punch

# jq reads the nested "tcp" object of the report.
jqf() { jq -r "$2" "$1"; }

# --- loopback -----------------------------------------------------------------
punch_start_server
session="tcp-$$"
"$O/punch-client" --server "127.0.0.1:$port" --bind 127.0.0.2 --session "$session" --tcp --timeout 8 \
	>"$tmp/a.json" 2>"$tmp/a.err" &
pa=$!
pids="$pids $pa"
"$O/punch-client" --server "127.0.0.1:$port" --bind 127.0.0.3 --session "$session" --tcp --timeout 8 \
	>"$tmp/b.json" 2>"$tmp/b.err" &
pb=$!
pids="$pids $pb"
wait "$pa"; ra=$?
wait "$pb"; rb=$?
[ "$ra" -eq 0 ] || fail "loopback: client a exited $ra, want 0 (direct)"
[ "$rb" -eq 0 ] || fail "loopback: client b exited $rb, want 0 (direct)"
for s in a b; do
	j="$tmp/$s.json"
	[ "$(field "$j" transport)" = '"tcp"' ] || fail "loopback $s: transport not tcp"
	[ "$(field "$j" messages_received)" = 5 ] || fail "loopback $s: not all messages received"
	[ "$(field "$j" relayed_out)" = 0 ] || fail "loopback $s: used the relay"
	[ "$(jqf "$j" '.tcp.established + .tcp.accepted')" -ge 1 ] || fail "loopback $s: no TCP connection"
done
# The server introduced each by its control connection's source: the TCP port
# each punched from (its "local"), not its UDP port.
[ "$(field "$tmp/a.json" peer_used)" = "$(field "$tmp/b.json" local)" ] || fail "loopback: a did not use b's TCP endpoint"
[ "$(field "$tmp/b.json" peer_used)" = "$(field "$tmp/a.json" local)" ] || fail "loopback: b did not use a's TCP endpoint"
[ "$(field "$tmp/a.json" public)" = "$(field "$tmp/a.json" local)" ] || fail "loopback: a's public is not its TCP socket"

# One side TCP, the other UDP: the TCP side fails with a clear reason.
session="mixed-$$"
"$O/punch-client" --server "127.0.0.1:$port" --bind 127.0.0.2 --session "$session" --tcp --timeout 4 \
	>"$tmp/c.json" 2>"$tmp/c.err" &
pa=$!
pids="$pids $pa"
"$O/punch-client" --server "127.0.0.1:$port" --bind 127.0.0.3 --session "$session" --timeout 4 --punch-timeout 1 \
	>"$tmp/d.json" 2>"$tmp/d.err" &
pb=$!
pids="$pids $pb"
wait "$pa"; ra=$?
wait "$pb"
[ "$ra" -eq 2 ] || fail "mixed: the TCP client exited $ra, want 2"
grep -q 'partner does not punch TCP' "$tmp/c.json" || fail "mixed: no reason given"
rm -f "$tmp"/*.json "$tmp"/*.err

# --- namespaces ---------------------------------------------------------------
[ "$(id -u)" = 0 ] || { echo "SKIP: the namespace part needs root (loopback part ok)"; exit 0; }
# shellcheck source=lib/nsnat.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/nsnat.sh"
nsnat_setup htcp

ns_start_server

nat na drop masquerade
nat nb drop masquerade
ns_pair dropdrop --tcp --timeout 8
[ "$ra $rb" = "0 0" ] || fail "drop/drop: exits $ra $rb, want 0 0 (direct)"
for s in a b; do
	j="$tmp/dropdrop-$s.json"
	[ "$(jqf "$j" .tcp.established)" -ge 1 ] || fail "drop/drop $s: no connection of its own completed"
	[ "$(jqf "$j" .tcp.accepted)" -eq 0 ] || fail "drop/drop $s: a SYN reached the listener through a NAT"
	[ "$(field "$j" relayed_out)" = 0 ] || fail "drop/drop $s: used the relay"
done
[ "$(field "$tmp/dropdrop-a.json" peer_used)" = '"203.0.113.2:'"$(jqf "$tmp/dropdrop-b.json" .local | sed 's/.*://')"'"' ] ||
	fail "drop/drop: a did not reach b on b's own port through its port-preserving NAT"

nat nb "reject with tcp reset" masquerade
ns_pair droprst --tcp --timeout 8
[ "$ra $rb" = "0 0" ] || fail "drop/rst: exits $ra $rb, want 0 0 (direct)"

nat nb drop "masquerade random"
ns_pair random --tcp --timeout 8
[ "$ra $rb" = "1 1" ] || fail "random: exits $ra $rb, want 1 1 (relayed)"
for s in a b; do
	j="$tmp/random-$s.json"
	[ "$(field "$j" messages_received)" = 5 ] || fail "random $s: the relay did not carry all messages"
	[ "$(jqf "$j" '.tcp.established + .tcp.accepted')" -eq 0 ] || fail "random $s: a TCP connection formed"
done

echo "tcp-punch: ok"
exit 0
