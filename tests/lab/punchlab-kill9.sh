#!/bin/sh
# kill -9 of punchlab in the middle of a run leaves nothing behind: its
# workers, the namespace holders, the servers and clients all die, the labs'
# namespaces are no longer referenced by anything, and the host's links and
# ruleset are as they were.
set -u
O=${O:-build}
tmp=$(mktemp -d /tmp/punchlab-kill9.XXXXXX) || exit 1
pl=
cleanup() {
	[ -n "$pl" ] && kill -9 "$pl" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 0; }

ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.before"
nft list ruleset >"$tmp/nft.before" 2>&1

# All descendants of $1 as "PID COMM" lines.
descendants() {
	ps -e -o pid=,ppid=,comm= | awk -v root="$1" '
		{ pid[NR] = $1; ppid[NR] = $2; comm[NR] = $3 }
		END {
			want[root] = 1
			do {
				added = 0
				for (i = 1; i <= NR; i++)
					if ((ppid[i] in want) && !(pid[i] in want)) { want[pid[i]] = 1; added = 1 }
			} while (added)
			for (i = 1; i <= NR; i++) if (pid[i] in want && pid[i] != root) print pid[i], comm[i]
		}'
}

# Two scenarios that run for their whole time limit (about 10 s).
"$O/punchlab" run -j 2 topologies/udp-blocked.topo topologies/advertise-local-rewriting.topo \
	>"$tmp/out" 2>&1 &
pl=$!

# Wait, up to 20 s, until both scenarios' clients are running.
deadline=$(( $(date +%s) + 20 ))
while :; do
	descendants "$pl" >"$tmp/desc"
	[ "$(grep -c ' punch-client$' "$tmp/desc")" -ge 4 ] && break
	[ "$(date +%s)" -lt "$deadline" ] || { cat "$tmp/out"; fail "the clients never started"; }
	kill -0 "$pl" 2>/dev/null || { cat "$tmp/out"; fail "punchlab ended before the kill"; }
done
grep -q ' punch-server$' "$tmp/desc" || fail "no punch-server among punchlab's processes"
: >"$tmp/inodes"
while read -r pid comm; do
	readlink "/proc/$pid/ns/net" 2>/dev/null >>"$tmp/inodes"
done <"$tmp/desc"
sort -u "$tmp/inodes" -o "$tmp/inodes"
[ "$(wc -l <"$tmp/inodes")" -ge 8 ] || fail "expected the labs' namespaces, found $(wc -l <"$tmp/inodes")"

kill -9 "$pl"
wait "$pl" 2>/dev/null
pl=

# Every process it had must be gone within 10 s (a PID reused meanwhile by
# another program would show another command name).
deadline=$(( $(date +%s) + 10 ))
while :; do
	left=0
	while read -r pid comm; do
		[ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$comm" ] && left=$((left + 1))
	done <"$tmp/desc"
	[ $left -eq 0 ] && break
	[ "$(date +%s)" -lt "$deadline" ] || fail "$left of punchlab's processes survived kill -9"
done

# No process of ours still holds one of the labs' namespaces. (Namespace
# inodes are recycled: only our own programs count.)
while read -r ns; do
	find /proc/[0-9]*/ns -maxdepth 1 -lname "$ns" 2>/dev/null | while read -r f; do
		pid=${f#/proc/}; pid=${pid%%/*}
		case "$(cat /proc/"$pid"/comm 2>/dev/null)" in
		punchlab|punch-server|punch-client) echo "$pid" ;;
		esac
	done
done <"$tmp/inodes" >"$tmp/holders"
[ -s "$tmp/holders" ] && fail "namespaces still held by: $(tr '\n' ' ' <"$tmp/holders")"

ip -o link show | awk -F': ' '{print $2}' | sort >"$tmp/links.after"
nft list ruleset >"$tmp/nft.after" 2>&1
cmp -s "$tmp/links.before" "$tmp/links.after" || fail "host links changed"
cmp -s "$tmp/nft.before" "$tmp/nft.after" || fail "host ruleset changed"
echo "ok: kill -9 mid-run took $(wc -l <"$tmp/desc") processes and $(wc -l <"$tmp/inodes") namespaces with it"
