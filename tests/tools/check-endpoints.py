#!/usr/bin/env python3
"""check-endpoints: every endpoint a client reports is one the NATs really made.

    python3 tests/tools/check-endpoints.py REPORT.json...

Reads punchlab's JSON reports (punchlab run --json) and, for every scenario
in which a peer reports `peer_used` (the partner endpoint its direct path
used) or `public_seen_by_peer` (its own endpoint as the partner saw it),
checks that endpoint against the routers' conntrack entries recorded after
the run (the report's "conntrack" evidence):

  E, an endpoint of peer Y as X saw or used it, must be a mapping of Y's
  local endpoint on Y's router, towards a remote endpoint R, and R must in
  turn be a mapping of X's local endpoint on X's router towards E (or X's
  own address when X has no NAT). A NAT that rewrote the remote side's port
  (doc/nat-notes.md item 10) leaves an E or R that no such pair explains.

A conntrack entry gives a mapping either way: an outbound flow (original
source = the host, reply destination = its mapping) or an admitted inbound
session (reply source = the host, original destination = its mapping). A NAT
with inbound-reply = new-mapping lets admitted packets in untracked: then R
need only be a mapping of X's (towards another remote).
Prints one line per checked endpoint; exit status 1 if any is unexplained.
"""
import json
import re
import sys

ENTRY = re.compile(r"^(\S+): udp\s+\d+\s+\d+\s+src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)\s.*?"
                   r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)")


def entries(text):
    """(router, host endpoint, mapping, remote endpoint) for every entry."""
    out = []
    for line in (text or "").splitlines():
        m = ENTRY.match(line)
        if not m:
            continue
        r, osrc, odst, osp, odp, rsrc, rdst, rsp, rdp = m.groups()
        o_s, o_d = "%s:%s" % (osrc, osp), "%s:%s" % (odst, odp)
        r_s, r_d = "%s:%s" % (rsrc, rsp), "%s:%s" % (rdst, rdp)
        out.append((r, o_s, r_d, o_d))  # outbound: host o_s mapped to r_d, towards o_d
        out.append((r, r_s, o_d, o_s))  # inbound: host r_s reached at o_d, from o_s
    return out


def mapped(es, host, mapping, remote):
    """Does some router map host to mapping towards remote (or is host itself mapping)?"""
    if host == mapping:  # untranslated: no router maps host to anything else towards remote
        return not any(e[1] == host and e[3] == remote and e[2] != host for e in es)
    return any(e[1] == host and e[2] == mapping and e[3] == remote for e in es)


def check(scn):
    peers = scn.get("peers") or []
    reps = [p.get("report") or {} for p in peers]
    if len(reps) != 2 or not all(reps):
        return []
    es = entries(scn.get("conntrack"))
    results = []
    for x in range(2):
        y = 1 - x
        claims = []
        if reps[x].get("peer_used"):
            claims.append(("%s peer_used" % peers[x]["name"], reps[x]["peer_used"]))
        if reps[y].get("public_seen_by_peer"):
            claims.append(("%s public_seen_by_peer" % peers[y]["name"], reps[y]["public_seen_by_peer"]))
        for what, e in claims:
            xl, yl = reps[x]["local"], reps[y]["local"]
            # R: the endpoint of X that Y's mapping E talks to, which must be X's own mapping towards E
            rs = {r for (_, h, m, r) in es if h == yl and m == e}
            if yl == e:
                rs |= {m for (_, h, m, r) in es if h == xl and r == e} | {xl}
            ok = any(mapped(es, xl, r, e) for r in rs)
            how = "a mapping of %s on its router (conntrack)" % yl
            if not ok and any(e2[1] == xl and e2[2] in rs for e2 in es):
                # X's router let E's packets in untracked (inbound-reply =
                # new-mapping): R is still a mapping of X's, towards others
                ok = True
                how += ", towards %s's mapping %s (admitted untracked)" % (peers[x]["name"], "/".join(sorted(rs)))
            results.append((ok, "%s %s = %s: %s" % (scn["name"], what, e,
                            how if ok else "NOT a mapping conntrack shows for %s" % yl)))
    return results


def main():
    bad = total = 0
    for path in sys.argv[1:]:
        with open(path) as f:
            report = json.load(f)
        for scn in report.get("scenarios", []):
            for ok, line in check(scn):
                total += 1
                bad += not ok
                print(("ok: " if ok else "FAIL: ") + line)
    print("check-endpoints: %d endpoints checked, %d unexplained" % (total, bad))
    return 1 if bad or not total else 0


if __name__ == "__main__":
    sys.exit(main())
