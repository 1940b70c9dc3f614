/* Packet capture of a scenario (punchlab run --pcap DIR).
 *
 * While the pair runs, one capture process per scenario records what
 * crosses the lab's interesting interfaces, one file per interface, so a
 * user sees each datagram before and after every NAT:
 *
 *   inet-br0.pcap          the internet: its bridge, in promiscuous mode so
 *                          that it shows what it forwards between its ports
 *   server-eth0.pcap       the server's interface
 *   nat-NAME-wan0.pcap     each router's WAN side (after its NAT, outbound)
 *   nat-NAME-lan0.pcap     each router's LAN bridge (before it), promiscuous
 *                          too, so traffic between two hosts of one LAN shows
 *
 * in DIR/SCENARIO/ (a matrix cell's "matrix/a-x-b" becomes "matrix.a-x-b").
 * The files are written by libpcap (pcap_dump): classic pcap, Ethernet link
 * type, microsecond timestamps, which tcpdump, tshark and Wireshark read;
 * libpcap 1.10 cannot write pcapng. Each is bounded: CAPTURE_SNAPLEN bytes
 * of each frame, and a byte cap per file, after which that file takes no
 * more packets (the ones left out are counted). DIR/SCENARIO/capture.txt
 * says, per file, how many packets were written and how many were left out
 * (at the cap, or dropped by the kernel because the capture fell behind).
 *
 * The capture process is forked from the main thread and opens each libpcap
 * handle after setns() into the interface's namespace (a process of its
 * own, so the orchestrator's threads never leave theirs); it dies with us
 * (PR_SET_PDEATHSIG). capture_start() returns once every handle is active,
 * so the programs' first datagrams are in the files; capture_stop() drains
 * what the kernel holds, closes (flushes) the files and reaps it, and must
 * come before the lab is torn down.
 */
#ifndef PUNCH_CAPTURE_H
#define PUNCH_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/plan.h"

#define CAPTURE_SNAPLEN 256              /* Ethernet + IPv6 + UDP headers and the punch protocol's */
#define CAPTURE_CAP_DEFAULT (8u << 20)   /* bytes per file, header included */
#define CAPTURE_CAP_MIN 1024             /* a smaller cap would not hold a packet or two */
#define CAPTURE_CAP_MAX (1ull << 30)
#define CAPTURE_FILE_HDR 24              /* pcap's file header */
#define CAPTURE_REC_HDR 16               /* pcap's per-packet header */
#define CAPTURE_MAX_POINTS (2 * 32 + 2)  /* two per router (at most 32), the internet, the server */
#define CAPTURE_FILE_MAX 64

struct lab;
struct capture;

/* One interface to capture on. */
struct capture_point {
	int node;                        /* index into the plan's nodes */
	char ifname[PLAN_IFNAME];
	bool promisc;                    /* a bridge: see what it forwards, not only what is its own */
	char file[CAPTURE_FILE_MAX];     /* "nat-home-a-lan0.pcap" */
};

/* A file's byte budget: the file header, then a record header and the
 * captured bytes per packet, up to cap. */
struct capture_budget {
	uint64_t cap;
	uint64_t used;                   /* bytes the file holds */
	uint64_t packets;                /* packets written */
	uint64_t dropped;                /* packets left out at the cap */
};

/* Totals over every file of a capture. */
struct capture_stats {
	int files;
	uint64_t packets;                /* written */
	uint64_t dropped_cap;            /* left out: the file was full */
	uint64_t dropped_kernel;         /* dropped by the kernel (pcap_stats ps_drop) */
};

/* The interfaces of plan p to capture on, into out (at most max). Pure.
 * Returns how many, or -ENOSPC. */
int capture_points(const struct plan *p, struct capture_point *out, int max);

/* The file name for interface ifname of node node: "NODE-IFACE.pcap", with
 * anything but [A-Za-z0-9._-] made '_'. Pure. Returns 0, or -ENAMETOOLONG. */
int capture_file_name(const char *node, const char *ifname, char *buf, size_t size);

/* The scenario's directory: "BASE/NAME", where NAME is scenario with '/'
 * (a matrix cell) made '.', anything else outside [A-Za-z0-9._-] made '_',
 * and a leading '.' made '_' (so never "." or ".."). Pure. Returns 0,
 * -EINVAL for an empty name, or -ENAMETOOLONG. */
int capture_dir_name(const char *base, const char *scenario, char *buf, size_t size);

/* Start a budget of cap bytes; the file header is counted at once. Pure. */
void capture_budget_init(struct capture_budget *b, uint64_t cap);
/* May a packet of caplen captured bytes still go into the file? Counts it
 * as written (true) or left out (false); once one is left out, every later
 * one is too, so a file never has holes in the middle. Pure. */
bool capture_budget_admit(struct capture_budget *b, uint32_t caplen);

/* Start capturing plan p's points (capture_points) of lab l into the
 * directory capture_dir_name(base, scenario), made if needed (base too; any
 * *.pcap and capture.txt of an earlier run in it are replaced), each file
 * capped at cap bytes. Call from the main thread while no other thread
 * runs. Returns 0 and *out once every handle is active, or -errno with why
 * in err (libpcap's own message for a handle it could not open). */
int capture_start(struct lab *l, const struct plan *p, const char *base, const char *scenario, uint64_t cap,
		  struct capture **out, char *err, size_t errsize);

/* Stop: the capture process takes what the kernel still holds, writes
 * capture.txt, closes the files and exits; it is reaped and c freed. With
 * discard (--pcap-on-failure, for a scenario that passed) the files and the
 * directory are removed afterwards. st (may be NULL) gets the totals.
 * Returns 0, or -errno with err set (a file that could not be written, a
 * capture process that died, a directory that held something else). NULL
 * is fine. */
int capture_stop(struct capture *c, bool discard, struct capture_stats *st, char *err, size_t errsize);

#endif
