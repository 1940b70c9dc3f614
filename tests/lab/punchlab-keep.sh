#!/bin/sh
# --keep leaves a lab up under its name after the run (even though punchlab
# itself has exited), `punchlab shell` opens a node, `punchlab down` takes it
# away, and then nothing of it remains. A lab is up only once every link it
# made can carry packets: right after `punchlab up --no-self-check` (nothing
# sent yet, nothing waited for but lab_up()), every link of every node but lo
# is operationally up (the kernel gives a veth end whose carrier came late its
# queue in the same step; until then it drops all it is given).
set -u
O=${O:-build}
name=pr-cone-vs-pr-cone
tmp=$(mktemp -d /tmp/punchlab-keep.XXXXXX) || exit 1
# with our PID: kept labs are host-wide, and other runs of this test may share the host
fresh=punchlab-keep-links-$$
trap '"$O/punchlab" down "$name" >/dev/null 2>&1; "$O/punchlab" down "$fresh" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
[ -e "/run/netns/punchlab-$name.inet" ] && fail "a lab named $name is already kept here"

"$O/punchlab" run --keep "topologies/$name.topo" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "run --keep"; }
[ "$(ip netns list | grep -c "^punchlab-$name\.")" -eq 8 ] || fail "not 8 kept namespaces (6 nodes, 2 probe hosts): $(ip netns list)"

# The kept nodes are the lab's: alice has her LAN address, her router its ruleset.
"$O/punchlab" shell "$name" peer-alice ip -br -4 addr show dev eth0 >"$tmp/addr" || fail "shell peer-alice"
grep -q "192.168.1.10/24" "$tmp/addr" || fail "peer-alice: $(cat "$tmp/addr")"
"$O/punchlab" shell "$name" nat-home-a nft list tables >"$tmp/tables" || fail "shell nat-home-a"
grep -q "table ip punchlab" "$tmp/tables" || fail "nat-home-a has no punchlab table"
# Alice's way to the server leads through her NAT.
"$O/punchlab" shell "$name" peer-alice ip route get 203.0.113.10 >"$tmp/route" || fail "route"
grep -q "via 192.168.1.1 dev eth0" "$tmp/route" || fail "alice's route: $(cat "$tmp/route")"
# A second lab of the same name is refused rather than mixed in.
# (Exit status 2, usage: this refusal once crashed punchlab on its way out.)
"$O/punchlab" run --keep "topologies/$name.topo" >"$tmp/out2" 2>&1
rc=$?
[ $rc -eq 0 ] && fail "kept the same name twice"
[ $rc -eq 2 ] || fail "refusing a kept name: exit status $rc, want 2"
grep -q "already kept\|punchlab down it first" "$tmp/out2" || fail "no clear refusal: $(cat "$tmp/out2")"

"$O/punchlab" down "$name" || fail "down"
ip netns list | grep -q "^punchlab-$name\." && fail "namespaces left after down"
"$O/punchlab" down "$name" 2>/dev/null && fail "down of a lab that is not kept succeeded"

cp "topologies/$name.topo" "$tmp/$fresh.topo"
"$O/punchlab" up --no-self-check "$tmp/$fresh.topo" >"$tmp/up" 2>&1 || { cat "$tmp/up"; fail "up --no-self-check"; }
links=0
for ns in $(ip netns list | awk -v p="punchlab-$fresh." 'index($1, p) == 1 {print $1}'); do
	ip -n "$ns" -o link show >"$tmp/links" || fail "ip -n $ns link"
	while read -r _ dev rest; do
		dev=${dev%:}
		dev=${dev%@*}
		[ "$dev" = lo ] && continue
		links=$((links + 1))
		case "$rest" in
		*" state UP "*) ;;
		*) fail "$ns: $dev is not operationally up right after punchlab up: $rest" ;;
		esac
	done <"$tmp/links"
done
[ "$links" -ge 16 ] || fail "only $links links in the kept lab $fresh"
"$O/punchlab" down "$fresh" >/dev/null || fail "down $fresh"
echo "ok: kept, inspected, taken down; all $links links of a lab operationally up as punchlab up returns"
