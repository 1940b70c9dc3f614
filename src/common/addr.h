/* Socket addresses: parse "IP:PORT", "[IPv6]:PORT" or "IP", format, compare. */
#ifndef PUNCH_ADDR_H
#define PUNCH_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_STRLEN 64 /* "[" INET6_ADDRSTRLEN "]:" 5 digits, with room */

struct addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} u;
	socklen_t len;
};

/* Parse a numeric address with an optional port ("198.51.100.1:3478", "[2001:db8::1]:3478",
 * "198.51.100.1"); default_port is used when none is given. Returns 0 or -EINVAL. */
int addr_parse(const char *s, uint16_t default_port, struct addr *out);
/* Copy a kernel-provided sockaddr; returns 0 or -EAFNOSUPPORT for anything but IPv4/IPv6. */
int addr_from_sa(struct addr *out, const struct sockaddr *sa, socklen_t len);
/* The local address of socket fd (getsockname). Returns 0, -errno or -EAFNOSUPPORT. */
int addr_local(int fd, struct addr *out);
/* Format as "IP:PORT" or "[IPv6]:PORT" into buf (at least ADDR_STRLEN); returns buf. */
const char *addr_fmt(const struct addr *a, char *buf, size_t size);
/* Format only the IP part. */
const char *addr_fmt_ip(const struct addr *a, char *buf, size_t size);
uint16_t addr_port(const struct addr *a);
void addr_set_port(struct addr *a, uint16_t port);
int addr_family(const struct addr *a);
/* Same family, IP and port. */
bool addr_equal(const struct addr *a, const struct addr *b);
/* Same family and IP, any port. */
bool addr_equal_ip(const struct addr *a, const struct addr *b);
struct wire_endpoint;
/* Convert to and from the wire protocol's endpoint; addr_from_wire() returns 0 or -EINVAL. */
void addr_to_wire(const struct addr *a, struct wire_endpoint *ep);
int addr_from_wire(struct addr *a, const struct wire_endpoint *ep);
/* The unspecified ("any") address of a family, with a port. */
void addr_any(struct addr *out, int family, uint16_t port);

#endif
