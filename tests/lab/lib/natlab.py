# The router's evidence in the NAT lab of lib/natlab.sh, for the probes the
# tests run in its namespaces: the router's nftables counters (the generated
# ruleset's, table punchlab, and the test's own, table natlab: see
# natlab_evidence), read from inside the client's or server's namespace.
#
# A probe that waits for an answer the router drops would wait for its whole
# timeout; with these counts it concludes as soon as the router has counted
# the drop. The environment names the router (NATLAB_RTR) and a marker file
# (NATLAB_TAINT, see Drops); without them every probe waits its full time,
# as it did before.
import ctypes
import json
import os
import select
import subprocess
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(name, fn):
    """fn() run in network namespace NAME (/run/netns/NAME), then back: the
    sockets it makes stay in NAME. Only while the process has one thread."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + name)
        try:
            return fn()
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back from " + name)
    finally:
        os.close(fd)
        os.close(own)

# How often a waiting probe looks at the counts: one read is a line to a
# running nft, a few ms.
POLL = 0.01


class Router:
    """The router's counters, through one `nft -j -i` in its namespace."""

    def __init__(self, ns):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, "nft", "-j", "-i"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        self.buf = b""
        self.reads = 0

    def read(self):
        """{counter name: packets} over every table of the router."""
        os.write(self.p.stdin.fileno(), b"list counters\n")
        while b"\n" not in self.buf:
            if not select.select([self.p.stdout], [], [], 10)[0]:
                raise RuntimeError("natlab: nft -i in the router did not answer in 10 s")
            chunk = os.read(self.p.stdout.fileno(), 1 << 16)
            if not chunk:
                raise RuntimeError("natlab: nft -i in the router ended")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        self.reads += 1
        out = {}
        for o in json.loads(line)["nftables"]:
            c = o.get("counter")
            if c:
                out[c["name"]] = out.get(c["name"], 0) + c["packets"]
        return out


_router = None


def router():
    """The lab's Router, or None when its counts cannot be attributed (no
    NATLAB_RTR, or a probe before gave up: Drops.give_up())."""
    global _router
    taint = os.environ.get("NATLAB_TAINT")
    if not os.environ.get("NATLAB_RTR") or not taint or os.path.exists(taint):
        return None
    if _router is None:
        _router = Router(os.environ["NATLAB_RTR"])
    return _router


class Drops:
    """Did the router drop every packet a probe sent (or every answer to it)?

    NAMES are counters each of which counts a packet that goes no further
    (udp_dropped_in / udp_dropped_out, nat.h), or one that can no longer reach
    the probe's socket (natlab_udp_local: delivered to the router itself).
    Sound because the tests' probes run one after the other and each request
    brings at most one such count (the request itself dropped on the way out,
    or its one answer on the way in): when the counts have risen by as many
    as the probe sent since its baseline, every one of its requests or
    answers is proven gone and nothing can arrive. A probe that gives up
    after its full wait, or is answered only after sending again, may leave
    counts still to come, unaccounted: give_up() then marks the lab
    (NATLAB_TAINT, removed when the test builds its next lab) and every later
    probe there waits its full time, as without counters."""

    def __init__(self, names, also=()):
        self.r = router() if names else None
        self.names = names
        self.also = also
        self.proven_at = None
        if self.r:
            self.base = self.r.read()

    def _rise(self, now, names):
        return sum(now.get(n, 0) - self.base.get(n, 0) for n in names)

    def all_gone(self, sent):
        """True when the counts prove all SENT packets (or answers) gone."""
        if not self.r:
            return False
        now = self.r.read()
        self.last = now
        if self._rise(now, self.names) >= sent:
            if self.proven_at is None:
                self.proven_at = self.r.reads
            return True
        return False

    def silent(self, sent):
        """all_gone(SENT), and on a read after the one that proved it the
        ALSO counters have not risen since the baseline: the router sent
        nothing back (a reject increments the drop counter first, then sends
        its ICMP or RST, which a later read shows). Never without the ALSO
        counters (no natlab table: nothing proves the router silent)."""
        if not self.all_gone(sent):
            return False
        if self.r.reads <= self.proven_at or any(n not in self.last for n in self.also):
            return False
        return self._rise(self.last, self.also) == 0

    def give_up(self):
        """The probe waited its full time, or was answered only after sending
        again: counts of its packets may still come (also when it did not
        read them itself)."""
        taint = os.environ.get("NATLAB_TAINT")
        if taint:
            open(taint, "w").close()


def wait(socks, drops, sent, end, icmp_too=False):
    """Wait until a socket of SOCKS is readable (returns it), DROPS proves all
    SENT gone (returns "gone"; with icmp_too, Drops.silent()), or time END
    passes (None)."""
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        r = select.select(socks, [], [], min(left, POLL) if drops.r else left)[0]
        if r:
            return r[0]
        if drops.r and (drops.silent(sent) if icmp_too else drops.all_gone(sent)):
            return "gone"
