#!/bin/sh
# Every ruleset lab/nat.c can generate, on the real kernel (root):
#  1. loads with nft -f into a throwaway network namespace (unshare -n, one
#     for all, flushed between) and lists back with its table and counters (a
#     ruleset is loaded where there is none: nat.c has no replace-the-table
#     preamble any more);
#  2. a set of behaviours is measured from the network: a client namespace,
#     a router namespace with the generated ruleset, a server namespace with two
#     addresses and two ports, RFC 5780 style (mapping: the port the server
#     observed towards 3 destinations; filtering: whether answers from another
#     address / port get in; hairpin: a LAN host reaching another through the
#     external address); a missing answer is proven by the router's drop
#     counters (lib/natlab.py), and three lanes of labs run side by side.
# Uses only 203.0.113.0/24, 198.51.100.0/24 and 10.0.1.0/24 inside namespaces
# named nat-<pid>-*; the host's namespace is never touched. Env O = build dir.
set -u
# shellcheck source=lib/natlab.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/natlab.sh"

O=${O:-build}
NATGEN=${NATGEN:-$O/tools/natgen}
WANIP=203.0.113.20
LANNET=10.0.1.0/24
fail=0

if [ "$(id -u)" != 0 ]; then
	echo "nat-rulesets: needs root" >&2
	exit 1
fi
for tool in nft ip unshare python3; do
	command -v $tool >/dev/null 2>&1 || { echo "nat-rulesets: $tool not found" >&2; exit 1; }
done
[ -x "$NATGEN" ] || { echo "nat-rulesets: $NATGEN not built" >&2; exit 1; }

tmp=$(mktemp -d /tmp/nat-rulesets.XXXXXX) || exit 1
lab=$tmp
NS0=nat-$$
lanes=""
cleanup() {
	# shellcheck disable=SC2086 # one PID a word
	natlab_end "$NS0" $lanes
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

bad() {
	echo "FAIL: $*"
	fail=$((fail + 1))
}

# --- 1. every combination loads -------------------------------------------

# load NAME FILE: queued for load_all
load() {
	echo "$1 $2" >> "$tmp/loadq"
}

# load_all: every queued ruleset, in turn, loaded into one throwaway namespace
# where there is none (the previous one flushed; a flush that fails ends the
# loop), listed back, its counters checked: one namespace for all, not one
# each (60 namespaces cost seconds on a loaded machine).
load_all() {
	unshare -n sh -c 'ip link add wan0 type veth peer name lan0 || exit 1
		while read -r name file; do
			if nft -f "$file" 2> "$1/$name.lerr" && nft list ruleset > "$1/$name.list" 2>> "$1/$name.lerr"; then
				echo "$name"
			fi
			nft flush ruleset || exit 1
		done < "$1/loadq"' sh "$tmp" > "$tmp/loaded" 2> "$tmp/err" || bad "loading: $(head -3 "$tmp/err")"
	# the checks of every listing in one awk (8 greps each were ~500
	# processes): what fails, one line each, for bad()
	awk -v dir="$tmp" '
	BEGIN { while ((getline n < (dir "/loaded")) > 0) loaded[n] = 1 }
	{
		name = $1
		if (!(name in loaded)) {
			why = ""
			for (i = 0; i < 3 && (getline l < (dir "/" name ".lerr")) > 0; i++)
				why = why (i ? " / " : "") l
			print name " does not load: " why
			next
		}
		split("udp_fwd_out udp_fwd_in udp_dropped_in udp_dropped_out udp_hairpin", want, " ")
		delete has
		punchlab = tables = 0
		list = dir "/" name ".list"
		while ((getline l < list) > 0) {
			if (match(l, /counter [a-z_]+ \{/))
				has[substr(l, RSTART + 8, RLENGTH - 10)] = 1
			if (l ~ /^table ip6? punchlab \{/)
				punchlab = 1
			if (l ~ /^table /)
				tables++
		}
		close(list)
		for (i = 1; i <= 5; i++)
			if (!(want[i] in has)) {
				print name ": counter " want[i] " missing after load"
				next
			}
		if (!punchlab)
			print name ": no punchlab table after load"
		if (tables > 2)
			print name ": more than one table per family"
	}' "$tmp/loadq" > "$tmp/loadcheck"
	while IFS= read -r line; do bad "$line"; done < "$tmp/loadcheck"
	: > "$tmp/loadq"
}

# gen NAME ARGS...: generate into $tmp/NAME.nft; returns natgen's status
gen() {
	name=$1
	shift
	"$NATGEN" "$@" > "$tmp/$name.nft" 2> "$tmp/$name.err"
}

built=0
refused=0
for m in eim adm apdm; do
	for f in eif adf apdf; do
		for p in preserve random sequential; do
			for h in "" --hairpin; do
				name=$m-$f-$p${h:+-hairpin}
				gen "$name" --mapping $m --filtering $f --ports $p $h --wan-ip $WANIP --lan-net $LANNET
				rc=$?
				case $rc in
				0) built=$((built + 1)); load "$name" "$tmp/$name.nft" ;;
				2) refused=$((refused + 1)) ;;
				*) bad "$name: natgen exit $rc: $(cat "$tmp/$name.err")" ;;
				esac
			done
		done
	done
done
# the supported set is part of the contract (lab/nat.h)
[ $built -eq 36 ] && [ $refused -eq 18 ] || bad "supported NAT combinations: $built built, $refused refused (want 36/18)"

extra() {
	name=$1
	shift
	if gen "$name" "$@"; then
		built=$((built + 1))
		load "$name" "$tmp/$name.nft"
	else
		bad "$name: natgen refused: $(cat "$tmp/$name.err")"
	fi
}
extra eim-apdf-t5 --mapping eim --filtering apdf --timeout-ms 5000 --wan-ip $WANIP --lan-net $LANNET
extra eim-eif-hairpin-t5 --mapping eim --filtering eif --hairpin --timeout-ms 5000 --wan-ip $WANIP --lan-net $LANNET
extra eim-apdf-udpblocked --mapping eim --filtering apdf --udp-blocked --wan-ip $WANIP --lan-net $LANNET
for m in eim adm apdm; do
	extra $m-eif-block --mapping $m --filtering eif --ports block --wan-ip $WANIP --lan-net $LANNET
done
for f in open eif adf apdf; do
	extra none-$f --mapping none --filtering $f --wan-ip $WANIP --lan-net 198.51.100.0/24
	extra none-$f-v6 --mapping none --filtering $f --wan-ip6 2001:db8::20 --lan-net6 2001:db8:1::/64
	extra none-$f-dual-t30 --mapping none --filtering $f --timeout-ms 30000 --wan-ip $WANIP \
		--lan-net 198.51.100.0/24 --wan-ip6 2001:db8::20 --lan-net6 2001:db8:1::/64
done
extra none-apdf-udpblocked --mapping none --filtering apdf --udp-blocked --wan-ip $WANIP --lan-net 198.51.100.0/24
# the rulesets of section 2's unsolicited and inbound-reply cases
gen eim-apdf-icmp --mapping eim --filtering apdf --icmp-unreachable --wan-ip $WANIP --lan-net $LANNET ||
	bad "eim-apdf-icmp: natgen: $(cat "$tmp/eim-apdf-icmp.err")"
load eim-apdf-icmp "$tmp/eim-apdf-icmp.nft"
for m in adm apdm; do
	for f in eif adf; do
		gen $m-$f-nm --mapping $m --filtering $f --ports random --inbound-reply new-mapping \
			--wan-ip $WANIP --lan-net $LANNET || bad "$m-$f-nm: natgen: $(cat "$tmp/$m-$f-nm.err")"
		load $m-$f-nm "$tmp/$m-$f-nm.nft"
	done
done
load_all
echo "nat-rulesets: $built rulesets loaded and listed, $refused combinations refused"

# --- 2. behaviour on the wire ---------------------------------------------

# The probes read the router's counters (lib/natlab.py): a missing answer is
# concluded once the router has counted its drop, not after a timeout.
# Each lane below sets NATLAB_RTR, NATLAB_SRV and NATLAB_TAINT for its labs.
# Pythons start with -S (no site: its .pth files cost ~25 ms of CPU a start
# here, ~60 starts): the probes need the standard library and lib/ only.
PYTHONPATH=$(cd "$(dirname "$0")/lib" && pwd) || exit 1
waited=0
export PYTHONPATH NATLAB_RTR NATLAB_SRV NATLAB_TAINT

cat > "$tmp/probe.py" <<'EOF'
import os, socket, sys, select, threading, time
import natlab
S1, S2, P1, P2 = "203.0.113.30", "203.0.113.31", 3478, 3479

# The server: S1 and S2, ports P1 and P2, made in the server's namespace
# (NATLAB_SRV) and answered from a thread of the probe's own process: one
# python per measurement instead of two, ready once its sockets are bound.
def serve():
    def bind_all():
        socks = {}
        for ip in (S1, S2):
            for p in (P1, P2):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((ip, p))
                socks[(ip, p)] = s
        return socks
    socks = natlab.in_netns(os.environ["NATLAB_SRV"], bind_all)
    threading.Thread(target=server, args=(socks,), daemon=True).start()

def server(socks):
    while True:
        for s in select.select(list(socks.values()), [], [])[0]:
            data, peer = s.recvfrom(2048)
            me = s.getsockname()
            words = data.decode(errors="replace").split()
            mode, tag = words[-1], words[1] if len(words) > 2 else "-"
            ip = me[0] if mode in ("same", "port") else (S2 if me[0] == S1 else S1)
            port = me[1] if mode in ("same", "ip") else (P2 if me[1] == P1 else P1)
            socks[(ip, port)].sendto(("%s:%d %s" % (peer[0], peer[1], tag)).encode(), peer)

def sock(local, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((local, port))
    return s

# Requests are retransmitted (UDP); a missing answer means filtered: as soon as
# the router has counted the drop of each request or its answer (natlab.py),
# else after 3 x 0.5 s.
# Without EVIDENCE (where an answer is due: a missing one fails the test) the
# counters are not read: 200 reads would cost more than they save.
# Each ask's requests carry a tag of their own, which the answer repeats: a
# late answer to an earlier ask on the same socket (one that had to send
# again on a loaded machine) is not taken for this one's.
DROPS = ("udp_dropped_in", "udp_dropped_out")
TAGS = iter(range(1, 1 << 30))

# ask(), and the address the answer came from
def ask_from(s, dst, mode, evidence=True):
    d = natlab.Drops(DROPS if evidence else None)
    tag = str(next(TAGS))
    for sent in (1, 2, 3):
        s.sendto(("req %s %s" % (tag, mode)).encode(), dst)
        end = time.monotonic() + 0.5
        while True:
            got = natlab.wait([s], d, sent, end)
            if got == "gone":
                return None, None
            if not got:
                break
            data, src = s.recvfrom(2048)
            words = data.decode().split()
            if words[-1] == tag:
                if sent > 1:
                    d.give_up()
                return words[0], src
    d.give_up()
    return None, None

def ask(s, dst, mode, evidence=True):
    return ask_from(s, dst, mode, evidence)[0]

def client(local, base):
    base = int(base)
    s = sock(local, base)
    obs = [ask(s, d, "same") for d in ((S1, P1), (S2, P1), (S1, P2))]
    if None in obs: m = "NOREPLY"
    elif obs[0] == obs[1] == obs[2] == "%s:%d" % (local, base): m = "NONE"
    elif obs[0] == obs[1] == obs[2]: m = "EIM"
    elif obs[0] == obs[2]: m = "ADM"
    else: m = "APDM"
    got = {}
    for i, mode in enumerate(("ip", "port", "same")):
        t = sock(local, base + 1 + i)
        got[mode] = ask(t, (S1, P1), mode) is not None
        t.close()
    if not got["same"]: f = "BLOCKED"
    elif got["ip"]: f = "EIF"
    elif got["port"]: f = "ADF"
    else: f = "APDF"
    print("%s %s %s" % (m, f, " ".join(str(o) for o in obs)))

def hairpin(a, b, base):
    base = int(base)
    sa, sb = sock(a, base), sock(b, base + 50)
    ma, mb = ask(sa, (S1, P1), "same"), ask(sb, (S1, P1), "same")
    if not ma or not mb:
        print("NOREPLY"); return
    ip, port = ma.split(":")
    # not hairpinned: dropped, or delivered to the router itself; on SA only
    # the hello counts (not a late answer to its ask)
    d = natlab.Drops(DROPS + ("natlab_udp_local",))
    for sent in (1, 2, 3):
        sb.sendto(b"hello", (ip, int(port)))
        end = time.monotonic() + 0.5
        while True:
            got = natlab.wait([sa], d, sent, end)
            if got == "gone":
                print("NO"); return
            if not got:
                break
            data, src = sa.recvfrom(2048)
            if data == b"hello":
                if sent > 1:
                    d.give_up()
                print("YES" if "%s:%d" % src == mb else "WRONGSRC %s:%d want %s" % (src[0], src[1], mb))
                return
    d.give_up()
    print("NO")

# The tuple clash of doc/nat-notes.md item 10, provoked every time: an
# outbound flow LOCAL:BASE -> S2:P2 (mapping E1), then S2:P2 sends, unsolicited,
# to the mapping S1:P1 saw (E0). The inside reply tuple of that inbound flow is
# the outbound flow's own tuple. Prints where the inbound packet came from as
# delivered to the host, and which mapping the host's next packet to S2:P2
# leaves from ("session": E0, "mapping": E1).
# HOW "ip": E0 is the mapping towards S1:P1 (answered from S2:P2, another
# address); "port": towards S2:P1 (answered from S2:P2, another port).
# "fresh": no flow to S2:P2 before; "new" then says the reply took a new
# mapping (neither E0 nor E1).
def clash(local, base, how):
    s = sock(local, int(base))
    fresh = how == "fresh"
    if fresh: how = "ip"
    e1 = "none" if fresh else ask(s, (S2, P2), "same")
    if how == "ip":
        e0, src = ask_from(s, (S1, P1), "both")
    else:
        e0, src = ask_from(s, (S2, P1), "port")
    if e1 is None or e0 is None:
        print("NOREPLY %s %s" % (e1, e0)); return
    via = ask(s, (S2, P2), "same")
    how = "session" if via == e0 else "mapping" if via == e1 else "new" if fresh and via else "other"
    print("FROM %s:%d %s e0 %s e1 %s next %s" % (src[0], src[1], how, e0, e1, via))

# COUNT internal endpoints LOCAL:BASE.. each ask S1:P1 once: the external
# ports, in order.
def many(local, base, count):
    out = []
    for i in range(int(count)):
        s = sock(local, int(base) + i)
        got = ask(s, (S1, P1), "same", evidence=False)
        out.append(got.split(":")[1] if got else "NOREPLY")
        s.close()
    print(" ".join(out))

# From outside: one unsolicited datagram to IP:PORT; "REFUSED" when an ICMP
# port unreachable comes back (a connected socket reports it), "SILENT" when
# nothing does: once the router has counted the datagram dropped and, on a
# later read, has sent no ICMP destination unreachable since (a reject counts
# the same drop, then sends one); else after 3 x 1 s.
def knock(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((S2, 0))
    s.connect((ip, int(port)))
    d = natlab.Drops(("udp_dropped_in",), also=("natlab_icmp_unreach",))
    for sent in (1, 2, 3):
        s.send(b"knock")
        got = natlab.wait([s], d, sent, time.monotonic() + 1.0, icmp_too=True)
        if got == "gone":
            break
        if got:
            if sent > 1:
                d.give_up()
            try:
                s.recv(2048)
                print("ANSWERED"); return
            except ConnectionRefusedError:
                print("REFUSED"); return
    else:
        d.give_up()
    print("SILENT")

if sys.argv[1] != "knock":
    serve()
{"client": client, "hairpin": hairpin, "clash": clash, "many": many,
 "knock": knock}[sys.argv[1]](*sys.argv[2:])
EOF

# A fresh lab per ruleset: conntrack entries and numgen counters must not carry
# over from one measurement to the next (NAT-NOTES pitfall 7).
topo_down() {
	for n in cli rtr srv; do ip netns del $NS-$n 2>/dev/null; done
	return 0
}

# topo_up RULESET: client(s) - router with RULESET - server with two addresses
# (its program is in each probe: serve() in probe.py)
topo_up() {
	topo_down
	natlab_net $NS-cli $NS-rtr $NS-srv $WANIP 203.0.113.30 203.0.113.31 || return 1
	if ! ip netns exec $NS-rtr nft -f "$tmp/$1.nft" 2> "$lab/err"; then
		echo "$1 does not load in the router: $(head -3 "$lab/err")"
		return 1
	fi
	natlab_evidence $NS-rtr 2> "$lab/err" || { echo "$1: natlab table: $(head -3 "$lab/err")"; return 1; }
	# a lab whose probes had to wait their full time (lib/natlab.py): counted
	[ -e "$NATLAB_TAINT" ] && waited=$((waited + 1))
	rm -f "$NATLAB_TAINT"
}

counter() {
	ip netns exec $NS-rtr nft list counter ip punchlab $1 | sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

# Ports come from the router's pool, drawn from the seed (natgen --seed 0
# --router router here), handed out in turn: pool N is the Nth.
pool() {
	sed -n '/map port_pool {/,/}/p' "$tmp/$2.nft" | tr ',' '\n' |
		sed -n "s/^[[:space:]]*$1 : \([0-9]*\)$/\1/p"
}
# pools N NAME: pool 1..N of NAME, one a line (pool() N times, in one pass)
pools() {
	sed -n '/map port_pool {/,/}/p' "$tmp/$2.nft" | tr ',' '\n' |
		sed -n 's/^[[:space:]]*\([0-9]*\) : \([0-9]*\)$/\1 \2/p' |
		awk -v n="$1" '{ p[$1] = $2 } END { for (i = 1; i <= n; i++) print p[i] }'
}

# expect RULESET SOURCE EXPECTED: the mapping and filtering seen from SOURCE:40000
expect() {
	topo_up "$1" > "$lab/up" 2>&1 || { bad "$1: lab setup: $(cat "$lab/up")"; return 1; }
	got=$(ip netns exec $NS-cli python3 -S "$tmp/probe.py" client $2 40000)
	case "$got" in
	"$3"*) echo "ok: $1: $got" ;;
	*) bad "$1: want $3, got $got"; return 1 ;;
	esac
}

# hairpin: a LAN host reaches another through its external address and sees
# the sender's external address; only where asked for
hp() {
	topo_up "$1" > "$lab/up" 2>&1 || { bad "$1: lab setup: $(cat "$lab/up")"; return 1; }
	got=$(ip netns exec $NS-cli python3 -S "$tmp/probe.py" hairpin 10.0.1.2 10.0.1.3 41000)
	[ "$got" = "$2" ] && echo "ok: $1: hairpin $got" || bad "$1: hairpin want $2, got $got"
}

# The remote endpoint is what the sender's NAT used, always (doc/nat-notes.md
# item 10): the inbound flow's inside tuple is made to equal an outbound flow's
# on every run, and the host must see 203.0.113.31:3479, then its reply must
# leave from the mapping the packet arrived on (inbound-reply = session).
clash() {
	topo_up "$1" > "$lab/up" 2>&1 || { bad "$1: lab setup: $(cat "$lab/up")"; return 1; }
	got=$(ip netns exec $NS-cli python3 -S "$tmp/probe.py" clash 10.0.1.2 40000 $2)
	case "$got" in
	"FROM 203.0.113.31:3479 $3 "*) echo "ok: $1: clash: $got" ;;
	*) bad "$1: clash: want FROM 203.0.113.31:3479 $3, got $got" ;;
	esac
}

# 200 internal endpoints through an EIM ports = random NAT (range 1024-65535):
# 200 distinct ports (no two endpoints meet on one), spread over the range
# (chi-square over 16 bins below 37.7, p = 0.001), the pool's first 200 in
# turn; another seed gives others, the same seed the same.
spread() {
	"$NATGEN" --mapping eim --filtering apdf --ports random --seed $2 --wan-ip $WANIP \
		--lan-net $LANNET > "$tmp/$1.nft" || { bad "$1: natgen"; return 1; }
	topo_up "$1" > "$lab/up" 2>&1 || { bad "$1: lab setup: $(cat "$lab/up")"; return 1; }
	ip netns exec $NS-cli python3 -S "$tmp/probe.py" many 10.0.1.2 42000 200 > "$tmp/$1.ports"
	want=$(pools 200 "$1" | tr '\n' ' ')
	[ "$(cat "$tmp/$1.ports") " = "$want" ] || bad "$1: ports are not the pool's in turn"
	python3 -S - "$tmp/$1.ports" <<-'PYEOF' || bad "$1: ports not distinct or not spread"
	import sys
	p = [int(x) for x in open(sys.argv[1]).read().split()]
	bins = [0] * 16
	for x in p: bins[(x - 1024) * 16 // 64512] += 1
	chi = sum((b - len(p) / 16) ** 2 / (len(p) / 16) for b in bins)
	print("ok: %d ports, %d distinct, %d..%d, chi-square %.1f" % (len(p), len(set(p)), min(p), max(p), chi))
	sys.exit(0 if len(p) == 200 and len(set(p)) == 200 and chi < 37.7 else 1)
	PYEOF
}
# ports = block (RFC 7422): two subscribers, 10 endpoints each, through
# blocks of 64 ports: each subscriber's ports in one aligned block of its own.
blocks() {
	"$NATGEN" --mapping apdm --filtering apdf --ports block --block-size 64 --port-range 20000-29999 \
		--seed 4 --wan-ip $WANIP --lan-net $LANNET > "$tmp/block.nft" || { bad "block: natgen"; return 1; }
	topo_up block > "$lab/up" 2>&1 || { bad "block: lab setup: $(cat "$lab/up")"; return 1; }
	for h in 2 3; do
		ip netns exec $NS-cli python3 -S "$tmp/probe.py" many 10.0.1.$h 43000 10 > "$tmp/block.$h"
	done
	python3 -S - "$tmp/block.2" "$tmp/block.3" <<-'PYEOF' || bad "block: subscribers' ports not one block each"
	import sys
	blk = []
	for f in sys.argv[1:]:
	    p = [int(x) for x in open(f).read().split()]
	    b = {(x - 20000) // 64 for x in p}
	    print("ok: subscriber %d: %d ports, distinct %d, block(s) %s" % (len(blk) + 1, len(p), len(set(p)), sorted(b)))
	    if len(p) != 10 or len(set(p)) != 10 or len(b) != 1: sys.exit(1)
	    blk.append(b.pop())
	sys.exit(0 if blk[0] != blk[1] else 1)
	PYEOF
}

# The three lanes run side by side, each in labs of its own (namespaces
# nat-<pid>-<lane>-*, scratch files in $tmp/<lane>), one lab after another in
# a lane: the probes of one lab stay sequential (lib/natlab.py). Outputs in
# lane order; a lane's failures are its FAIL lines.
lane_mappings() {
	expect eim-apdf-preserve 10.0.1.2 "EIM APDF $WANIP:40000 "
	# counters tell from the network what went where: 3 mapping probes out, the
	# answers from the other address and port of the filtering probes dropped
	c=$(counter udp_fwd_out)
	[ "${c:-0}" -ge 3 ] && echo "ok: udp_fwd_out counted $c" || bad "udp_fwd_out did not count ($c)"
	c=$(counter udp_dropped_in)
	[ "${c:-0}" -ge 2 ] && echo "ok: udp_dropped_in counted $c" || bad "udp_dropped_in did not count ($c)"
	expect eim-adf-preserve 10.0.1.2 "EIM ADF $WANIP:40000 "
	expect eim-eif-preserve 10.0.1.2 "EIM EIF $WANIP:40000 "
	c=$(counter udp_fwd_in)
	[ "${c:-0}" -ge 5 ] && echo "ok: udp_fwd_in counted $c" || bad "udp_fwd_in did not count ($c)"
	p1=$(pool 1 eim-apdf-random)
	[ -n "$p1" ] && [ "$p1" != 40000 ] || bad "eim-apdf-random: no pool port 1 ($p1)"
	expect eim-apdf-random 10.0.1.2 "EIM APDF $WANIP:$p1 $WANIP:$p1 $WANIP:$p1"
	p1=$(pool 1 eim-eif-sequential)
	expect eim-eif-sequential 10.0.1.2 "EIM EIF $WANIP:$p1 "
	expect eim-apdf-sequential 10.0.1.2 "EIM APDF $WANIP:$p1 "
	# ADM: a pool index per (endpoint, remote address) in turn, the same port again
	# for the other port of a known address. APDM below: the next index per flow.
	expect adm-apdf-random 10.0.1.2 "ADM APDF $WANIP:$(pool 1 adm-apdf-random) $WANIP:$(pool 2 adm-apdf-random) $WANIP:$(pool 1 adm-apdf-random)"
	p1=$(pool 1 adm-apdf-sequential)
	expect adm-apdf-sequential 10.0.1.2 "ADM APDF $WANIP:$p1 $WANIP:$((p1 + 1)) $WANIP:$p1"
	expect adm-adf-preserve 10.0.1.2 "ADM ADF $WANIP:40000 $WANIP:$(pool 1 adm-adf-preserve) $WANIP:40000"
	expect adm-eif-random 10.0.1.2 "ADM EIF"
	expect apdm-apdf-preserve 10.0.1.2 "APDM APDF $WANIP:40000 $WANIP:$(pool 1 apdm-apdf-preserve) $WANIP:$(pool 2 apdm-apdf-preserve)"
	expect apdm-apdf-random 10.0.1.2 "APDM APDF $WANIP:$(pool 1 apdm-apdf-random) $WANIP:$(pool 2 apdm-apdf-random) $WANIP:$(pool 3 apdm-apdf-random)"
	p1=$(pool 1 apdm-eif-sequential)
	expect apdm-eif-sequential 10.0.1.2 "APDM EIF $WANIP:$p1 $WANIP:$((p1 + 1)) $WANIP:$((p1 + 2))"
	expect apdm-adf-random 10.0.1.2 "APDM ADF $WANIP:$(pool 1 apdm-adf-random) $WANIP:$(pool 2 apdm-adf-random) $WANIP:$(pool 3 apdm-adf-random)"
	expect eim-apdf-udpblocked 10.0.1.2 "NOREPLY BLOCKED"
	c=$(counter udp_dropped_out)
	[ "${c:-0}" -ge 3 ] && echo "ok: udp_dropped_out counted $c" || bad "udp_dropped_out did not count ($c)"
	expect none-apdf 198.51.100.2 "NONE APDF"
	expect none-adf 198.51.100.2 "NONE ADF"
	expect none-eif 198.51.100.2 "NONE EIF"
	expect none-open 198.51.100.2 "NONE EIF"
	expect none-apdf-udpblocked 198.51.100.2 "NOREPLY BLOCKED"
}
lane_hairpin_clash() {
	hp eim-apdf-preserve-hairpin YES
	hp eim-eif-random-hairpin YES
	c=$(counter udp_hairpin)
	[ "${c:-0}" -ge 1 ] && echo "ok: udp_hairpin counted $c" || bad "udp_hairpin did not count ($c)"
	hp eim-adf-sequential-hairpin YES
	hp eim-apdf-preserve NO
	for p in preserve random sequential; do
		clash apdm-eif-$p ip session
		clash adm-eif-$p ip session
		clash apdm-adf-$p port session
	done
	clash eim-eif-random ip session
	clash eim-adf-random port session
	# unsolicited = icmp-unreachable: an unsolicited datagram is refused out loud,
	# to the NAT's address and to a port it filters; the default stays silent;
	# the mapping works the same.
	for r in eim-apdf-icmp eim-apdf-preserve; do
		want=SILENT
		[ $r = eim-apdf-icmp ] && want=REFUSED
		expect $r 10.0.1.2 "EIM APDF $WANIP:40000 " || continue
		got=$(ip netns exec $NS-srv python3 -S "$tmp/probe.py" knock $WANIP 40000)
		[ "$got" = $want ] && echo "ok: $r: unsolicited to a filtered mapping: $got" ||
			bad "$r: unsolicited to a filtered mapping: want $want, got $got"
		got=$(ip netns exec $NS-srv python3 -S "$tmp/probe.py" knock $WANIP 5555)
		[ "$got" = $want ] && echo "ok: $r: unsolicited to no mapping: $got" ||
			bad "$r: unsolicited to no mapping: want $want, got $got"
	done
}
lane_inbound_ports() {
	# inbound-reply, declared: "session" answers from the mapping the packet
	# arrived on; "new-mapping" from the mapping towards the sender, the existing
	# one or a new one; the sender's endpoint arrives unchanged either way.
	for m in adm apdm; do
		clash $m-eif-nm ip mapping
		clash $m-eif-nm fresh new
		clash $m-eif-random fresh session
	done
	clash apdm-adf-nm port mapping
	blocks
	spread seed11 11
	spread seed12 12
	spread seed11again 11
	cmp -s "$tmp/seed11.ports" "$tmp/seed11again.ports" && echo "ok: --seed 11 twice: the same 200 ports" ||
		bad "--seed 11 twice gave different ports"
	cmp -s "$tmp/seed11.ports" "$tmp/seed12.ports" && bad "--seed 11 and 12 gave the same ports" ||
		echo "ok: --seed 11 and 12: different ports"
}
lanes=""
for l in lane_mappings lane_hairpin_clash lane_inbound_ports; do
	(
		NS=$NS0-${l#lane_} lab=$tmp/${l#lane_}
		NATLAB_RTR=$NS-rtr NATLAB_SRV=$NS-srv NATLAB_TAINT=$lab/taint
		mkdir "$lab" || exit 1
		$l
		[ -e "$NATLAB_TAINT" ] && waited=$((waited + 1))
		topo_down
		# not a failure: the counts could not prove some drop at once (a loaded machine)
		[ $waited -eq 0 ] || echo "nat-rulesets: in $waited labs, probes after an unproven one waited their full time"
	) > "$tmp/$l.out" 2>&1 &
	lanes="$lanes $!"
done
for p in $lanes; do wait "$p"; done
lanes=""
for l in lane_mappings lane_hairpin_clash lane_inbound_ports; do
	cat "$tmp/$l.out"
	fail=$((fail + $(grep -c '^FAIL: ' "$tmp/$l.out")))
done

if [ $fail -ne 0 ]; then
	echo "nat-rulesets: $fail failures"
	exit 1
fi
echo "nat-rulesets: all passed"
exit 0
