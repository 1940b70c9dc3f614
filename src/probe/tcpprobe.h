/* TCP mapping and filtering (RFC 5382 sections 4.1, 4.3), classified from a
 * host behind the router against punch-probe's server (`punch-probe server
 * --tcp`), as RFC 5780 does for UDP:
 *  - mapping: one local port (SO_REUSEADDR, SO_REUSEPORT) connects to A1:P1,
 *    A2:P1 and A2:P2; each connection's first line from the server is the
 *    source endpoint it saw; the three compared (classify_decide());
 *  - filtering: a second local port listens and connects to A1:P1 only,
 *    asking "BACK MS": the server then connects back to the endpoint it saw
 *    from A1:P2 (change port) and from A2:P2 (change address and port) for
 *    MS; which of them the listener accepts tells EIF, ADF or APDF (a SYN
 *    from outside that arrives is admitted).
 * The decisions are classify.c's; this file adds the sockets and the
 * comparison with a declared TCP mapping and filtering. */
#ifndef PUNCH_TCPPROBE_H
#define PUNCH_TCPPROBE_H

#include <stdbool.h>

#include "common/addr.h"
#include "nat/behavior.h"
#include "probe/classify.h"

#define TCPPROBE_LINE 96 /* a server line: "IP:PORT\n" */

/* The three mapped endpoints and the two connect-backs (CLASSIFY_YES /
 * CLASSIFY_NO, CLASSIFY_UNKNOWN when the filtering connection itself got no
 * answer) into mapping and filtering, with classify_decide(). */
void tcpprobe_decide(const struct classify_mapped mapped[CLASSIFY_NDEST], bool filter_answered,
		     enum classify_tri change_port, enum classify_tri change_ip_port, struct classify_result *res);

/* Compare a declared TCP mapping (MAP_NONE for a router that does not
 * translate) and filtering (open is seen as EIF from inside) with res:
 * fills diffs ("tcp-mapping", "tcp-filtering") and returns their number. */
int tcpprobe_compare(enum nat_mapping mapping, enum nat_filtering filtering, const struct classify_result *res,
		     struct classify_diff diffs[2]);

/* Read the server's first line ("IP:PORT\n", nothing else) into *out.
 * Returns 0 or -EBADMSG. */
int tcpprobe_parse_line(const char *line, size_t len, struct addr *out);

/* Server side: a listening socket on a (SO_REUSEADDR, SO_REUSEPORT, so that
 * the connect-backs can leave from its port), or -errno. */
int tcpprobe_listen(const struct addr *a);
/* Serve one accepted connection fd in a thread of its own: the line with
 * the peer's endpoint, and on "BACK MS" the connect-backs from a[1] (A1:P2)
 * and a[3] (A2:P2), a[] as the server's four endpoints (A1:P1, A1:P2, A2:P1,
 * A2:P2). Takes fd. Returns 0 or -errno (fd closed). */
int tcpprobe_serve(int fd, const struct addr a[4]);

/* punch-probe tcp-classify --server A1 --server2 A2 [--port P1 --port2 P2]
 * --bind IP --local-port N [--timeout-ms N] [--expect-mapping M
 * --expect-filtering F]: one JSON line ({"transport":"tcp","nat":..,
 * "mapping":..,"filtering":..,"absent_backs":N[,"match":..,"mismatches":
 * [..]]}), exit 0, 3 when the expectation does not hold, 1 on a local
 * failure, 2 on usage. Uses local ports N and N+1. */
int tcpprobe_classify_main(int argc, char **argv);

#endif
