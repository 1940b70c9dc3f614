#!/bin/sh
# The TCP behaviour of the generated rulesets (RFC 5382), on real namespaces
# (tcpnat-<pid>-*, addresses as in lib/natlab.sh): a client 10.0.1.2 behind
# the router, two servers 203.0.113.30 and .31 outside.
#
#   mapping     two connections from one client port to the two servers leave
#               from one external port with endpoint-independent mapping
#               (REQ-1), from two with tcp-mapping = apdm (UDP's mapping
#               unchanged: endpoint-independent)
#   filtering   a SYN from the second server to the port the first one saw
#               reaches the client's listener with tcp-filtering = eif, and
#               is dropped with apdf
#   unsolicited a SYN to an unmapped port of the NAT (and to a firewall's
#               host) is dropped silently, answered with a RST, or with ICMP
#               port unreachable, as tcp-unsolicited says (REQ-4), seen by a
#               raw ICMP socket and by punch-probe knock --tcp
#   timeouts    tcp-timeout / tcp-transitory-timeout: the ct timeout object is
#               on the connection (its conntrack entry counts down from it)
#
# Each case has a lab of its own (tcpnat-<pid>-<case>-*), and the cases run
# side by side; a SYN that gets nothing back is concluded once the router has
# counted its drop and sent no RST or ICMP (lib/natlab.py), not after a
# timeout.
set -u
# shellcheck source=lib/natlab.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib/natlab.sh"
O=${O:-build}
NATGEN=${NATGEN:-$O/tools/natgen}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 0; }
NS0=tcpnat-$$
tmp=$(mktemp -d /tmp/tcp-nat.XXXXXX) || exit 1
fail=0
pids=""
cases=""
# a case's lab: its namespaces ($NS, set by run_case) and programs
down() {
	for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	pids=""
	for n in cli rtr srv; do ip netns del $NS-$n 2>/dev/null; done
	return 0
}
# the whole test: every case still running, and every lab of this run
cleanup() {
	# shellcheck disable=SC2086 # one PID a word
	natlab_end "$NS0" $cases
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# in a case (a subshell): counted from its output, "FAIL: " lines
bad() { echo "FAIL: $*"; }
PYTHONPATH=$(cd "$(dirname "$0")/lib" && pwd) || exit 1
export PYTHONPATH

# The helper: "syn IP PORT": what a SYN gets (silent | rst | icmp | connected);
# "serve IP PORT FILE": accept connections, one line "PEERIP PEERPORT" each, in
# FILE; "connect SRCIP SRCPORT IP PORT": connect from that port (SO_REUSEADDR
# and SO_REUSEPORT, as punch-client) and print "ok" or the error;
# "listen IP PORT FILE": like serve, bound as connect binds.
cat > "$tmp/t.py" <<'EOF'
import errno, os, select, socket, sys, time
import natlab
cmd = sys.argv[1]
def bound(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((ip, port))
    return s
def port_unreachable(icmp):
    pkt = icmp.recv(2048)
    ihl = (pkt[0] & 15) * 4
    return pkt[ihl] == 3 and pkt[ihl + 1] == 3
# A SYN the router drops without a word: proven once it has counted the drop
# (tcp_unsolicited_in) and, on a later read, sent no RST or ICMP since.
def quiet():
    return natlab.Drops(("tcp_unsolicited_in",), also=("natlab_icmp_unreach", "natlab_tcp_rst"))
if cmd == "syn":
    icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    d = quiet()
    s.connect_ex((sys.argv[2], int(sys.argv[3])))
    deadline = time.monotonic() + 1.5
    seen_icmp = False
    answer = "silent"
    while time.monotonic() < deadline:
        left = max(0.0, deadline - time.monotonic())
        r, w, _ = select.select([icmp], [s], [], min(left, natlab.POLL) if d.r else left)
        if icmp in r and port_unreachable(icmp):
            seen_icmp = True
        if s in w:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                answer = "connected"
            elif err == errno.ECONNREFUSED:
                # an ICMP error's packet is on the raw socket: 0.1 s at most
                end = time.monotonic() + 0.1
                while not seen_icmp and select.select([icmp], [], [], max(0.0, end - time.monotonic()))[0]:
                    seen_icmp = port_unreachable(icmp)
                answer = "icmp" if seen_icmp else "rst"
            else:
                answer = os.strerror(err)
            break
        if not r and d.r and d.silent(1):
            break
    print(answer)
elif cmd == "synfrom":
    # "synfrom SRCIP IP PORT": a SYN from SRCIP; "in" when it connects within
    # a second, "silent" when nothing comes back (proven as for syn), else
    # the error
    s = socket.socket()
    s.bind((sys.argv[2], 0))
    s.setblocking(False)
    d = quiet()
    s.connect_ex((sys.argv[3], int(sys.argv[4])))
    deadline = time.monotonic() + 1.0
    answer = "silent"
    while time.monotonic() < deadline:
        left = max(0.0, deadline - time.monotonic())
        if select.select([], [s], [], min(left, natlab.POLL) if d.r else left)[1]:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            answer = "in" if err == 0 else os.strerror(err)
            break
        if d.r and d.silent(1):
            break
    print(answer)
elif cmd in ("serve", "listen"):
    s = bound(sys.argv[2], int(sys.argv[3])) if cmd == "listen" else socket.socket()
    if cmd == "serve":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((sys.argv[2], int(sys.argv[3])))
    s.listen(8)
    conns = []
    while True:
        c, a = s.accept()
        conns.append(c)
        with open(sys.argv[4], "a") as f:
            f.write("%s %d\n" % a)
elif cmd == "connect":
    s = bound(sys.argv[2], int(sys.argv[3]))
    s.settimeout(2)
    try:
        s.connect((sys.argv[4], int(sys.argv[5])))
        print("ok")
        time.sleep(float(sys.argv[6]) if len(sys.argv) > 6 else 0)
    except OSError as e:
        print(e.strerror or str(e))
EOF
# Always in a subshell ($(...) or &): exec makes a background one's $! python's.
# -S: no site (~25 ms of CPU a start here); the helper needs the standard
# library and lib/ only.
helper=$tmp/t.py
py() { ns=$1; shift; exec ip netns exec "$ns" python3 -S "$helper" "$@"; }

# up NAME NATGEN-ARGS...: the three namespaces with that ruleset loaded
up() {
	name=$1
	shift
	down
	rm -f "$tmp"/s1 "$tmp"/s2 "$tmp"/cl
	"$NATGEN" "$@" --wan-ip 203.0.113.20 --lan-net 10.0.1.0/24 > "$tmp/r.nft" || { bad "$name: natgen"; return 1; }
	natlab_net $NS-cli $NS-rtr $NS-srv 203.0.113.20 203.0.113.30 203.0.113.31 > "$tmp/up" 2>&1 ||
		{ bad "$name: lab: $(cat "$tmp/up")"; return 1; }
	ip netns exec $NS-rtr nft -f "$tmp/r.nft" 2> "$tmp/err" || { bad "$name: load: $(cat "$tmp/err")"; return 1; }
	natlab_evidence $NS-rtr 2> "$tmp/err" || { bad "$name: natlab table: $(cat "$tmp/err")"; return 1; }
	rm -f "$NATLAB_TAINT"
}

# serve: listeners on both servers, port 7001, each writing the peers it saw.
serve() {
	py $NS-srv serve 203.0.113.30 7001 "$tmp/s1" & pids="$pids $!"
	py $NS-srv serve 203.0.113.31 7001 "$tmp/s2" & pids="$pids $!"
	# ready when both are listening (state 0A in the namespace's table)
	for _ in $(seq 100); do
		[ "$(ip netns exec $NS-srv cat /proc/net/tcp | awk '$4 == "0A"' | wc -l)" -ge 2 ] && return 0
		sleep 0.05
	done
	bad "servers did not listen"
	return 1
}

# waitfor FILE LINES: poll until FILE has LINES lines (5 s at most)
waitfor() {
	for _ in $(seq 100); do
		[ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# --- mapping ----------------------------------------------------------------------
mapping_case() { # NAME WANT(preserved|same|different) NATGEN-ARGS...
	name=$1 want=$2
	shift 2
	up "$name" "$@" || return
	serve || return
	a=$(py $NS-cli connect 10.0.1.2 5000 203.0.113.30 7001)
	b=$(py $NS-cli connect 10.0.1.2 5000 203.0.113.31 7001)
	[ "$a $b" = "ok ok" ] || { bad "$name: connects: $a / $b"; return; }
	waitfor "$tmp/s1" 1 && waitfor "$tmp/s2" 1 || { bad "$name: servers saw no connection"; return; }
	p1=$(awk '{print $2}' "$tmp/s1") p2=$(awk '{print $2}' "$tmp/s2")
	if [ "$want" = preserved ]; then
		[ "$p1" = "$p2" ] && [ "$p1" = 5000 ] && echo "ok: $name: both connections from 203.0.113.20:$p1" ||
			bad "$name: external ports $p1 and $p2, want 5000 both (EIM, preserved)"
	elif [ "$want" = same ]; then
		[ "$p1" = "$p2" ] && echo "ok: $name: both connections from 203.0.113.20:$p1" ||
			bad "$name: external ports $p1 and $p2, want one (EIM)"
	else
		[ "$p1" != "$p2" ] && echo "ok: $name: two connections, two external ports ($p1, $p2)" ||
			bad "$name: one external port $p1 for two destinations, want two (APDM)"
	fi
}

# --- filtering ----------------------------------------------------------------------
filtering_case() { # NAME WANT(in|silent) NATGEN-ARGS...
	name=$1 want=$2
	shift 2
	up "$name" "$@" || return
	serve || return
	py $NS-cli listen 10.0.1.2 5000 "$tmp/cl" & pids="$pids $!"
	for _ in $(seq 100); do
		ip netns exec $NS-cli cat /proc/net/tcp | awk '$4 == "0A"' | grep -q . && break
		sleep 0.05
	done
	py $NS-cli connect 10.0.1.2 5000 203.0.113.30 7001 10 > /dev/null & pids="$pids $!"
	waitfor "$tmp/s1" 1 || { bad "$name: the first server saw no connection"; return; }
	p=$(awk '{print $2}' "$tmp/s1")
	# from the other server, to the port the first one saw
	got=$(py $NS-srv synfrom 203.0.113.31 203.0.113.20 "$p")
	[ "$got" = "$want" ] && echo "ok: $name: a SYN from elsewhere to the mapped port: $got" ||
		bad "$name: a SYN from elsewhere to the mapped port: $got, want $want"
	if [ "$want" = in ]; then
		waitfor "$tmp/cl" 1 && grep -q '^203.0.113.31 ' "$tmp/cl" && echo "ok: $name: the client's listener accepted it" ||
			bad "$name: the client's listener did not see 203.0.113.31"
	fi
}

# --- unsolicited SYN ---------------------------------------------------------------
unsolicited_case() { # NAME TARGET WANT NATGEN-ARGS...
	name=$1 target=$2 want=$3
	shift 3
	up "$name" "$@" || return
	got=$(py $NS-srv syn "$target" 5555)
	[ "$got" = "$want" ] && echo "ok: $name: an unsolicited SYN to $target: $got" ||
		bad "$name: an unsolicited SYN to $target: $got, want $want"
	# punch-probe's view from outside (knock --tcp), against the declaration
	case $want in silent) decl=drop ;; *) decl=$want ;; esac
	out=$(ip netns exec $NS-srv "$O/punch-probe" knock --tcp --to "$target:5556" --timeout-ms 1500 \
		--expect-unsolicited $decl)
	[ $? -eq 0 ] && echo "ok: $name: punch-probe knock --tcp: $out" || bad "$name: punch-probe knock --tcp: $out"
	n=$(ip netns exec $NS-rtr nft list counter ip punchlab tcp_unsolicited_in | awk '/packets/ {print $2}')
	[ "${n:-0}" -ge 1 ] && echo "ok: $name: counted in tcp_unsolicited_in ($n)" || bad "$name: tcp_unsolicited_in is ${n:-?}"
}
# fw-icmp, then in its lab a wrong declaration: a mismatch (exit 3), and a
# usage error
fw_icmp_case() {
	unsolicited_case fw-icmp 198.51.100.2 icmp --mapping none --filtering apdf --tcp-unsolicited icmp
	ip netns exec $NS-srv "$O/punch-probe" knock --tcp --to 198.51.100.2:5557 --expect-unsolicited rst > "$tmp/k" 2>&1
	rc=$?
	[ $rc -eq 3 ] && grep -q '"match":false' "$tmp/k" && echo "ok: knock --tcp: rst declared, ICMP seen: mismatch" ||
		bad "knock --tcp with a wrong declaration: exit $rc: $(cat "$tmp/k")"
	# a UDP word with --tcp is a usage error (2); in the lab too, so that
	# nothing could leave the host's namespace were it not refused
	ip netns exec $NS-srv "$O/punch-probe" knock --tcp --to 198.51.100.2:5558 \
		--expect-unsolicited icmp-unreachable > "$tmp/k" 2>&1
	rc=$?
	[ $rc -eq 2 ] && grep -q 'drop, rst or icmp' "$tmp/k" && echo "ok: knock --tcp: icmp-unreachable is UDP's word" ||
		bad "knock --tcp --expect-unsolicited icmp-unreachable: exit $rc: $(cat "$tmp/k")"
}

# --- timeouts ----------------------------------------------------------------------
timeouts_case() {
	up timeouts --mapping eim --filtering apdf --tcp-timeout-ms 7440000 --tcp-transitory-ms 240000 && serve && {
		py $NS-cli connect 10.0.1.2 5000 203.0.113.30 7001 10 > "$tmp/c" &
		pids="$pids $!"
		waitfor "$tmp/s1" 1 || bad "timeouts: no connection"
		# an established entry counts down from 7440 s (the kernel's default: 432000)
		left=$(ip netns exec $NS-rtr awk '$3 == "tcp" && /ESTABLISHED/ && /dport=7001/ {print $5; exit}' /proc/net/nf_conntrack)
		[ -n "$left" ] && [ "$left" -le 7440 ] && [ "$left" -gt 7400 ] &&
			echo "ok: timeouts: the established connection's entry expires in $left s (tcp-timeout 7440 s)" ||
			bad "timeouts: established entry timeout ${left:-none}, want about 7440"
		# an unanswered SYN's entry (to an address nobody has) counts down from the
		# transitory 240 s (kernel: 120)
		py $NS-cli connect 10.0.1.2 5001 203.0.113.99 7999 0 > /dev/null 2>&1 &
		pids="$pids $!"
		left=""
		for _ in $(seq 100); do
			left=$(ip netns exec $NS-rtr awk '$3 == "tcp" && /SYN_SENT/ && /dport=7999/ {print $5; exit}' /proc/net/nf_conntrack)
			[ -n "$left" ] && break
			sleep 0.05
		done
		[ -n "$left" ] && [ "$left" -le 240 ] && [ "$left" -gt 200 ] &&
			echo "ok: timeouts: the SYN_SENT entry expires in $left s (tcp-transitory-timeout 240 s)" ||
			bad "timeouts: SYN_SENT entry timeout ${left:-none}, want about 240"
	}
}

# run_case K COMMAND...: COMMAND in the background, in a lab of its own
# (namespaces $NS0-K-*, files in $tmp/K), its output to $tmp/K.out
run_case() {
	k=$1
	shift
	(
		NS=$NS0-$k tmp=$tmp/$k
		NATLAB_RTR=$NS-rtr NATLAB_TAINT=$tmp/taint
		export NATLAB_RTR NATLAB_TAINT
		mkdir "$tmp" || exit 1
		# stopped (cleanup's kill): its programs and namespaces go too
		trap down EXIT
		trap 'exit 1' INT TERM HUP
		"$@"
	) > "$tmp/$k.out" 2>&1 &
	cases="$cases $!"
	order="${order:-} $k"
}
run_case m1 mapping_case eim preserved --mapping eim --filtering apdf
run_case m2 mapping_case eim-random same --mapping eim --filtering apdf --ports random
run_case m3 mapping_case tcp-apdm different --mapping eim --filtering apdf --tcp-mapping apdm
run_case m4 mapping_case apdm different --mapping apdm --filtering apdf --ports random
run_case f1 filtering_case eif in --mapping eim --filtering apdf --tcp-filtering eif
run_case f2 filtering_case adf-other silent --mapping eim --filtering eif --tcp-filtering adf
run_case f3 filtering_case apdf silent --mapping eim --filtering eif --tcp-filtering apdf
run_case u1 unsolicited_case nat-drop 203.0.113.20 silent --mapping eim --filtering apdf
run_case u2 unsolicited_case nat-rst 203.0.113.20 rst --mapping eim --filtering apdf --tcp-unsolicited rst
run_case u3 unsolicited_case nat-icmp 203.0.113.20 icmp --mapping eim --filtering apdf --tcp-unsolicited icmp
run_case u4 unsolicited_case fw-drop 198.51.100.2 silent --mapping none --filtering apdf
run_case u5 unsolicited_case fw-rst 198.51.100.2 rst --mapping none --filtering apdf --tcp-unsolicited rst
run_case u6 fw_icmp_case
run_case t1 timeouts_case
for p in $cases; do wait "$p"; done
cases=""
for k in $order; do
	cat "$tmp/$k.out"
	[ -s "$tmp/$k.out" ] || { echo "FAIL: case $k said nothing"; fail=$((fail + 1)); }
	[ ! -e "$tmp/$k/taint" ] || echo "note: case $k: a probe waited its full time (its count not attributable)"
	fail=$((fail + $(grep -c '^FAIL: ' "$tmp/$k.out")))
done
[ $fail -eq 0 ] && echo "ok: TCP mapping, filtering, unsolicited SYNs and timeouts as declared" && exit 0
echo "$fail failure(s)"
exit 1
