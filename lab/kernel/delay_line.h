/* A delay line between two network namespaces where the kernel has no
 * netem: a TAP device in each, and a forwarder process that moves Ethernet
 * frames between them.
 *
 * The node's side is its uplink; the frames it sends out (read from its TAP)
 * wait in a delay schedule (model/delay_sched.h) for delay +/- jitter before they are written to
 * the peer's TAP, where the kernel receives them; the frames coming in pass
 * at once. This is what netem on the uplink's root qdisc does: outbound
 * only. Everything about the devices after their creation (bridge, addresses,
 * up, routes, nftables on their hooks) is as for a veth.
 *
 * The TAP devices are not persistent: they exist while the forwarder holds
 * their fds, and it dies with the thread that forked it (PR_SET_PDEATHSIG),
 * so a kill -9 of punchlab leaves nothing behind. delay_line_detach() makes it
 * outlive us for --keep.
 */
#ifndef PUNCH_TAPLINE_H
#define PUNCH_TAPLINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/delay_sched.h"
#include "kernel/netns.h"

#define DELAY_LINE_QUEUE 1000      /* frames waiting at most; more are dropped and counted */
#define DELAY_LINE_COMM "punchlab-dline"   /* the forwarder's process name */

struct delay_line;

struct delay_line_stats {
	struct delay_sched_stats out;    /* the node's outbound frames, through the delay line */
	uint64_t in;               /* inbound frames passed straight on */
	uint64_t write_errors;     /* frames the kernel refused (a device down), both ways */
};

/* Create TAP node_if in node_ns and peer_if in peer_ns (both down, no
 * packet-information header) and fork the forwarder. Call from the main
 * thread (PR_SET_PDEATHSIG belongs to the forking thread). seed: of the
 * jitter's PRNG. Returns 0 and *out, or -errno with why in err
 * (-ENOENT/-EACCES: /dev/net/tun missing or not ours to open). */
int delay_line_start(struct netns *node_ns, const char *node_if, struct netns *peer_ns, const char *peer_if,
		  uint32_t delay_ms, uint32_t jitter_ms, uint64_t seed, struct delay_line **out, char *err,
		  size_t errsize);
/* The forwarder's PID. */
pid_t delay_line_pid(const struct delay_line *t);
/* Its counters so far. Returns 0, or -errno (it died). */
int delay_line_stats(struct delay_line *t, struct delay_line_stats *st);
/* --keep: write the forwarder's PID to pidfile, then make it outlive us (it
 * stops dying with its parent and with our end of its control socket).
 * delay_line_stop() still kills it; delay_line_leave() leaves it running.
 * Returns 0 or -errno with err set. */
int delay_line_detach(struct delay_line *t, const char *pidfile, char *err, size_t errsize);
/* Kill the forwarder by its PID and reap it (the TAP devices go with it), and
 * free t. NULL is fine. */
void delay_line_stop(struct delay_line *t);
/* Free t, leaving a detached forwarder running. */
void delay_line_leave(struct delay_line *t);
/* `punchlab down`: kill the detached forwarder whose PID pidfile holds, if
 * that process is still a forwarder (its name is DELAY_LINE_COMM), and remove
 * pidfile. Returns 1 if it was killed, 0 if it was already gone, -errno. */
int delay_line_kill_kept(const char *pidfile);

#endif
