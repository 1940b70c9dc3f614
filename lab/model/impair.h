/* Packet loss on a node's uplink without netem: an nftables netdev table.
 *
 * Pure: builds the ruleset text; kernel/build.c loads it into the node's namespace.
 * The kernel's netem qdisc (sch_netem) is not always there; nftables' netdev
 * family can drop at the device itself, on ingress and (since Linux 5.16) on
 * egress, with the kernel's per-packet random numbers (numgen random). Each
 * direction has two named counters, so the lab and its tests can read what
 * crossed the device and what was dropped:
 *
 *   table netdev punchlab_loss
 *     seen_in, lost_in     IPv4/IPv6 packets arriving on the device, and dropped of them
 *     seen_out, lost_out   the same for packets leaving it
 *
 * Only IPv4 and IPv6 packets are dropped, not ARP or other link-layer
 * frames: the loss models datagrams lost on a path, and keeps neighbour
 * resolution (with its own one-second retries) out of the reckoning.
 */
#ifndef PUNCH_IMPAIR_H
#define PUNCH_IMPAIR_H

#include <stdint.h>

#define IMPAIR_FAMILY "netdev"
#define IMPAIR_TABLE "punchlab_loss"

/* Which directions of the device lose packets. */
enum impair_dir {
	IMPAIR_IN = 1,          /* ingress: packets arriving on the device */
	IMPAIR_OUT = 2,         /* egress: packets leaving it */
};

/* The ruleset that drops loss_ppm parts per million (1 to 1000000) of the
 * IPv4 and IPv6 packets crossing ifname in the directions dirs (IMPAIR_IN,
 * IMPAIR_OUT or both). The table is deleted and created again, so loading
 * the text twice gives the same state. *out is malloc'd text for nft_load().
 * Returns 0, -EINVAL (bad name, ppm or dirs; *out NULL), or -ENOMEM. */
int impair_loss_ruleset(const char *ifname, uint32_t loss_ppm, unsigned dirs, char **out);

#endif
