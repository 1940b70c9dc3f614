#!/bin/sh
# --pcap: the files tcpdump reads hold the punch datagrams before and after
# each NAT (the peer's private address on the router's LAN, its public one
# on the WAN and the internet), from the peers' very first frame on; each
# file stays under its cap (--pcap-cap), the packets left out are counted;
# --pcap-on-failure keeps only the captures of verdicts not as expected;
# the capture process dies with punchlab; bad options are usage errors; a
# rootless run captures too.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-pcap.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/out" ] && sed 's/^/  /' "$tmp/out"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
command -v tcpdump >/dev/null || fail "tcpdump is not installed (ci/install-deps.sh lab)"
command -v tshark >/dev/null || fail "tshark is not installed (ci/install-deps.sh lab)"

# count FILE FILTER: how many packets of FILE match FILTER (tcpdump must read it).
count() {
	tcpdump -nr "$1" "$2" >"$tmp/td" 2>"$tmp/td.err" || fail "tcpdump -r $1: $(cat "$tmp/td.err")"
	wc -l <"$tmp/td"
}
# want N FILE FILTER WHAT: at least one match (N=+) or none (N=0).
want() {
	n=$(count "$2" "$3")
	case "$1" in
	+) [ "$n" -gt 0 ] || fail "${2##*/}: no $4 ($3)" ;;
	0) [ "$n" -eq 0 ] || fail "${2##*/}: $n packets of $4 ($3), want none" ;;
	esac
}

# Two scenarios at once: two capture processes side by side.
"$O/punchlab" run --no-color -j 2 --pcap "$tmp/pcap" topologies/pr-cone-vs-pr-cone.topo \
	topologies/same-lan-no-hairpin.topo >"$tmp/out" 2>&1 || fail "run --pcap"
d=$tmp/pcap/pr-cone-vs-pr-cone
for f in inet-br0 server-eth0 nat-home-a-lan0 nat-home-a-wan0 nat-home-b-lan0 nat-home-b-wan0; do
	[ -s "$d/$f.pcap" ] || fail "no $d/$f.pcap: $(ls "$d")"
done

# PROBE (type 32 at byte 3 of the UDP payload, wire.h) from alice
# (192.168.1.10:40001 behind home-a, public 203.0.113.20) to bob's public
# endpoint (203.0.113.21:40002), and back; both NATs preserve ports.
# A peer stops probing once it sees a path, so its probes may all have met
# the other NAT's filter before that NAT opened: what must have come through
# inbound is some peer-to-peer message (PROBE, PROBE_ACK, DATA, DATA_ACK).
probe='udp and udp[11] = 32'
p2p='udp and udp[11] >= 32 and udp[11] <= 35'
# Before home-a's NAT: alice's own address; after it: home-a's.
want + "$d/nat-home-a-lan0.pcap" "$probe and src host 192.168.1.10 and src port 40001 and dst host 203.0.113.21 and dst port 40002" "alice's probe to bob before her NAT"
want + "$d/nat-home-a-wan0.pcap" "$probe and src host 203.0.113.20 and src port 40001 and dst host 203.0.113.21 and dst port 40002" "alice's probe to bob after her NAT"
want 0 "$d/nat-home-a-wan0.pcap" "src host 192.168.1.10" "alice's private source address past her NAT"
want + "$d/inet-br0.pcap" "$probe and src host 203.0.113.20 and dst host 203.0.113.21 and dst port 40002" "alice's probe on the internet"
want 0 "$d/inet-br0.pcap" "src net 192.168.0.0/16" "a private source address on the internet"
# Arriving at bob: before home-b's NAT still to its public address, after it to bob's own.
want + "$d/nat-home-b-wan0.pcap" "$probe and src host 203.0.113.20 and src port 40001 and dst host 203.0.113.21 and dst port 40002" "alice's probe arriving at bob's NAT"
want + "$d/nat-home-b-lan0.pcap" "$p2p and src host 203.0.113.20 and src port 40001 and dst host 192.168.2.10 and dst port 40002" "alice's datagrams to bob after his NAT"
# And the other way.
want + "$d/nat-home-b-lan0.pcap" "$probe and src host 192.168.2.10 and src port 40002 and dst host 203.0.113.20 and dst port 40001" "bob's probe to alice before his NAT"
want + "$d/nat-home-b-wan0.pcap" "$probe and src host 203.0.113.21 and src port 40002 and dst host 203.0.113.20 and dst port 40001" "bob's probe to alice after his NAT"
want 0 "$d/nat-home-b-wan0.pcap" "src host 192.168.2.10" "bob's private source address past his NAT"
want + "$d/nat-home-a-lan0.pcap" "$p2p and src host 203.0.113.21 and src port 40002 and dst host 192.168.1.10 and dst port 40001" "bob's datagrams to alice after her NAT"
# The server saw the peers' REGISTER (type 16) from their public addresses only.
want + "$d/server-eth0.pcap" "udp and udp[11] = 16 and src host 203.0.113.20" "alice's REGISTER at the server"
want 0 "$d/server-eth0.pcap" "src net 192.168.0.0/16" "a private source address at the server"
# Ready before the programs: each peer's first IPv4 frame (an ARP request
# for its router: nothing in its namespace has talked to it before) is there.
want + "$d/nat-home-a-lan0.pcap" "arp and arp[6:2] = 1 and arp src host 192.168.1.10" "alice's first IPv4 frame (ARP for her router)"
want + "$d/nat-home-b-lan0.pcap" "arp and arp[6:2] = 1 and arp src host 192.168.2.10" "bob's first IPv4 frame (ARP for his router)"
# Wireshark's reader agrees: tshark -r reads every file, packet for packet,
# and finds alice's PROBE (0x20) after her NAT too.
for f in "$d"/*.pcap; do
	tshark -r "$f" >"$tmp/ts" 2>"$tmp/ts.err" || fail "tshark -r ${f##*/}: $(cat "$tmp/ts.err")"
	[ "$(wc -l <"$tmp/ts")" -eq "$(count "$f" "")" ] || fail "tshark and tcpdump disagree on ${f##*/}"
done
tshark -r "$d/nat-home-a-wan0.pcap" -Y 'ip.src == 203.0.113.20 && udp.srcport == 40001 && ip.dst == 203.0.113.21 &&
	udp.dstport == 40002 && udp.payload[3:1] == 20' >"$tmp/ts" 2>/dev/null
[ -s "$tmp/ts" ] || fail "tshark finds no PROBE from alice after her NAT"
# The summary counts what each file holds.
n=$(count "$d/inet-br0.pcap" "")
grep -q "^inet-br0.pcap inet br0 $n [0-9]* 0 0$" "$d/capture.txt" || fail "capture.txt does not say $n packets: $(cat "$d/capture.txt")"

# Two peers on one LAN without hairpinning punch through the LAN bridge:
# only a promiscuous capture of the bridge shows that.
d2=$tmp/pcap/same-lan-no-hairpin
want + "$d2/nat-home-lan0.pcap" "$probe and src host 192.168.1.10 and dst host 192.168.1.11" "alice's probe to bob across the LAN bridge"

# The cap: each file at most 2 KiB, cut between packets (tcpdump reads them
# to the end), and what did not fit is counted.
"$O/punchlab" run --no-color --pcap "$tmp/small" --pcap-cap 2K topologies/pr-cone-vs-pr-cone.topo \
	>"$tmp/out" 2>&1 || fail "run --pcap-cap 2K"
grep -q "packets left out at the cap" "$tmp/out" || fail "no warning about packets left out"
d=$tmp/small/pr-cone-vs-pr-cone
for f in "$d"/*.pcap; do
	size=$(stat -c %s "$f")
	[ "$size" -le 2048 ] || fail "${f##*/}: $size bytes, over the 2048-byte cap"
	n=$(count "$f" "")
	grep -q "^${f##*/} [^ ]* [^ ]* $n $size [0-9]* 0$" "$d/capture.txt" ||
		fail "capture.txt does not say ${f##*/} has $n packets in $size bytes: $(cat "$d/capture.txt")"
done
awk '!/^#/ && $6 > 0 { found = 1 } END { exit !found }' "$d/capture.txt" ||
	fail "no file says packets were left out: $(cat "$d/capture.txt")"
"$O/punchlab" run --no-color --pcap "$tmp/small" --pcap-cap 1000 topologies/pr-cone-vs-pr-cone.topo \
	>"$tmp/out" 2>&1 && fail "a cap of 1000 bytes was taken"
grep -q "pcap-cap 1000: bytes per file, from 1024" "$tmp/out" || fail "no clear refusal of --pcap-cap 1000"

# --pcap-on-failure: a passing scenario leaves nothing...
"$O/punchlab" run --no-color --pcap "$tmp/onfail" --pcap-on-failure topologies/pr-cone-vs-pr-cone.topo \
	>"$tmp/out" 2>&1 || fail "run --pcap-on-failure"
[ -z "$(ls -A "$tmp/onfail")" ] || fail "a passing scenario left $(ls -R "$tmp/onfail")"
# ... and one whose verdict is not the expected one keeps its capture:
# clients that claim direct without sending anything (the network disagrees).
mkdir "$tmp/liars"
printf '#!/bin/sh\necho ready >&3\nexec sleep 60\n' >"$tmp/liars/punch-server"
printf '#!/bin/sh\necho %s\n' "'{\"outcome\":\"direct\"}'" >"$tmp/liars/punch-client"
chmod +x "$tmp/liars/punch-server" "$tmp/liars/punch-client"
"$O/punchlab" run --no-color --no-self-check --bindir "$tmp/liars" --pcap "$tmp/onfail" --pcap-on-failure \
	topologies/pr-cone-vs-pr-cone.topo >"$tmp/out" 2>&1 && fail "the false claim passed"
grep -q "failed (expected direct)" "$tmp/out" || fail "not judged failed by the network"
grep -q "packet capture: $tmp/onfail/pr-cone-vs-pr-cone/" "$tmp/out" || fail "the failure does not say where its capture is"
[ -s "$tmp/onfail/pr-cone-vs-pr-cone/inet-br0.pcap" ] && [ -s "$tmp/onfail/pr-cone-vs-pr-cone/capture.txt" ] ||
	fail "the failing scenario's capture is not kept: $(ls -R "$tmp/onfail")"
want 0 "$tmp/onfail/pr-cone-vs-pr-cone/inet-br0.pcap" "udp" "UDP on the internet from clients that send nothing"

# kill -9 of punchlab takes the capture process with it (it dies with its
# parent, the worker, which dies with punchlab). udp-blocked runs ~10 s.
"$O/punchlab" run --no-color --no-self-check --pcap "$tmp/k9" topologies/udp-blocked.topo >"$tmp/out" 2>&1 &
pl=$!
deadline=$(( $(date +%s) + 20 ))
cap=
while [ -z "$cap" ]; do
	# The capture process: a punchlab-pcap whose parent is one of punchlab's workers.
	cap=$(ps -e -o pid=,ppid=,comm= | awk -v root="$pl" '
		{ pid[NR] = $1; ppid[NR] = $2; comm[NR] = $3 }
		END {
			for (i = 1; i <= NR; i++) if (ppid[i] == root) worker[pid[i]] = 1
			for (i = 1; i <= NR; i++) if ((ppid[i] in worker) && comm[i] == "punchlab-pcap") print pid[i]
		}')
	[ "$(date +%s)" -lt "$deadline" ] || { kill -9 "$pl"; fail "no capture process appeared"; }
	kill -0 "$pl" 2>/dev/null || fail "punchlab ended before the kill"
done
kill -9 "$pl"
wait "$pl" 2>/dev/null
# Gone, or a zombie waiting for init to reap it (dead all the same); the
# command name guards against a PID used again meanwhile.
deadline=$(( $(date +%s) + 10 ))
while :; do
	state=$(awk '{ print $2, $3 }' "/proc/$cap/stat" 2>/dev/null)
	case "$state" in
	"(punchlab-pcap) Z" | "(punchlab-pcap) X" | "") break ;;
	"(punchlab-pcap) "*) ;;
	*) break ;;
	esac
	[ "$(date +%s)" -lt "$deadline" ] || fail "the capture process $cap survived kill -9 of punchlab"
done

# Usage errors are found before any lab is built.
"$O/punchlab" run --pcap-on-failure topologies/pr-cone-vs-pr-cone.topo >"$tmp/out" 2>&1
[ $? -eq 2 ] || fail "--pcap-on-failure without --pcap: not a usage error"
grep -q "go with --pcap DIR" "$tmp/out" || fail "no clear message for --pcap-on-failure alone"
: >"$tmp/afile"
"$O/punchlab" run --pcap "$tmp/afile" topologies/pr-cone-vs-pr-cone.topo >"$tmp/out" 2>&1
[ $? -eq 2 ] || fail "--pcap FILE: not a usage error"
grep -q -- "--pcap $tmp/afile: Not a directory" "$tmp/out" || fail "no clear message for --pcap FILE"

# Rootless (where the kernel allows it): the capture opens its sockets in
# the user namespace's network namespaces, and the files are the user's.
if command -v setpriv >/dev/null; then
	chmod 755 "$tmp"
	mkdir "$tmp/rl"
	cp "$O/punchlab" "$O/punch-server" "$O/punch-client" "$O/punch-probe" topologies/pr-cone-vs-pr-cone.topo "$tmp/rl/"
	chmod 777 "$tmp/rl"
	chmod a+r "$tmp/rl"/*
	(cd "$tmp/rl" && setpriv --reuid=65534 --regid=65534 --clear-groups ./punchlab run --no-color --pcap caps \
		pr-cone-vs-pr-cone.topo) >"$tmp/out" 2>&1
	rc=$?
	if ! grep -q "rootless mode is not possible here" "$tmp/out"; then
		[ $rc -eq 0 ] || fail "rootless run --pcap exited $rc"
		d=$tmp/rl/caps/pr-cone-vs-pr-cone
		[ "$(stat -c %u "$d/inet-br0.pcap")" = 65534 ] || fail "the rootless capture is not the user's"
		want + "$d/nat-home-a-wan0.pcap" "$probe and src host 203.0.113.20 and dst host 203.0.113.21" "a rootless capture of alice's probe after her NAT"
	fi
fi

echo "ok: captures before and after each NAT, ready before the first frame, capped and counted, kept on failure only, rootless too"
