#!/bin/sh
# A verdict counts only if the network produced it: clients that claim an
# outcome without sending anything are caught by the counters on the
# internet's bridge, whatever they print.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-evidence.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }

# A server that only says it is ready, and clients that only claim.
cat >"$tmp/punch-server" <<'SH'
#!/bin/sh
echo ready >&3
exec sleep 60
SH
for outcome in direct relayed; do
	mkdir -p "$tmp/$outcome"
	cp "$tmp/punch-server" "$tmp/$outcome/punch-server"
	printf '#!/bin/sh\necho %s\n' "'{\"outcome\":\"$outcome\"}'" >"$tmp/$outcome/punch-client"
	chmod +x "$tmp/$outcome/punch-server" "$tmp/$outcome/punch-client"
	cp "$O/punch-probe" "$tmp/$outcome/" # the self-check is real: only the pair lies
done

"$O/punchlab" run --no-color --bindir "$tmp/direct" topologies/pr-cone-vs-pr-cone.topo >"$tmp/out" 2>&1 &&
	fail "a false 'direct' claim passed"
grep -q "unproven" "$tmp/out" || fail "not marked unproven"
grep -q "both report direct, but the internet carried 0 and 0 UDP packets" "$tmp/out" || fail "no reason given"

"$O/punchlab" run --no-color --bindir "$tmp/relayed" topologies/pr-cone-vs-symmetric.topo >"$tmp/out" 2>&1 &&
	fail "a false 'relayed' claim passed"
grep -q "both report relayed, but the internet carried 0 RELAY messages" "$tmp/out" || fail "no reason given"

# The same over IPv6: the counters match IPv6 headers then.
"$O/punchlab" run --no-color --bindir "$tmp/direct" topologies/ipv6-firewall-pair.topo >"$tmp/out" 2>&1 &&
	fail "a false IPv6 'direct' claim passed"
grep -q "both report direct, but the internet carried 0 and 0 UDP packets" "$tmp/out" || fail "no IPv6 reason given"
"$O/punchlab" run --no-color --bindir "$tmp/relayed" topologies/ipv6-server-only.topo >"$tmp/out" 2>&1 &&
	fail "a false IPv6 'relayed' claim passed"
grep -q "both report relayed, but the internet carried 0 RELAY messages" "$tmp/out" || fail "no IPv6 reason given"

# The real programs, on the same topologies, are believed.
"$O/punchlab" run --no-color topologies/pr-cone-vs-pr-cone.topo topologies/pr-cone-vs-symmetric.topo \
	topologies/ipv6-firewall-pair.topo topologies/ipv6-server-only.topo \
	>"$tmp/out" 2>&1 || fail "the real pair was not believed"
echo "ok: false claims caught by the network's counters (IPv4 and IPv6), true ones confirmed"
