#!/bin/sh
# A verdict counts only if the network produced it: clients that claim an
# outcome without sending anything get the verdict of what each peer's host
# received (nothing: failed), whatever they print; and a claim that differs
# from the network's verdict fails the scenario even where that verdict is
# the expected one.
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
grep -q "FAIL   pr-cone-vs-pr-cone  *failed (expected direct)" "$tmp/out" || fail "not judged failed by the network"
grep -q "alice sent no UDP towards bob's addresses. bob sent no UDP towards alice's addresses." "$tmp/out" ||
	fail "no reason given"
grep -q "network: failed; alice received 0 of 0 datagrams from bob and 0 relayed; bob received 0 of 0 datagrams from alice and 0 relayed" "$tmp/out" ||
	fail "no evidence line"

"$O/punchlab" run --no-color --bindir "$tmp/relayed" topologies/pr-cone-vs-symmetric.topo >"$tmp/out" 2>&1 &&
	fail "a false 'relayed' claim passed"
grep -q "failed (expected relayed)" "$tmp/out" || fail "not judged failed by the network"
grep -q "The server delivered 0 RELAY messages to alice and 0 to bob." "$tmp/out" || fail "no reason given"

# Where the network's verdict is the expected one, a claim that differs still fails.
"$O/punchlab" run --no-color --bindir "$tmp/direct" topologies/udp-blocked.topo >"$tmp/out" 2>&1 &&
	fail "a 'direct' claim against a failed network passed"
grep -q "the network saw failed, but alice reported direct and bob reported direct" "$tmp/out" ||
	fail "the disagreement is not named"

# The same over IPv6: the counters match IPv6 headers then.
"$O/punchlab" run --no-color --bindir "$tmp/direct" topologies/ipv6-firewall-pair.topo >"$tmp/out" 2>&1 &&
	fail "a false IPv6 'direct' claim passed"
grep -q "failed (expected direct)" "$tmp/out" || fail "IPv6: not judged failed by the network"
"$O/punchlab" run --no-color --bindir "$tmp/relayed" topologies/ipv6-server-only.topo >"$tmp/out" 2>&1 &&
	fail "a false IPv6 'relayed' claim passed"
grep -q "The server delivered 0 RELAY messages to alice and 0 to bob." "$tmp/out" || fail "no IPv6 reason given"

# The real programs, on the same topologies, are believed.
"$O/punchlab" run --no-color topologies/pr-cone-vs-pr-cone.topo topologies/pr-cone-vs-symmetric.topo \
	topologies/ipv6-firewall-pair.topo topologies/ipv6-server-only.topo \
	>"$tmp/out" 2>&1 || fail "the real pair was not believed"
echo "ok: false claims judged by what the hosts received (IPv4 and IPv6), true ones confirmed"
