#include "common/addr.h"
#include "proto/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int addr_parse(const char *s, uint16_t default_port, struct addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s = NULL;
	uint16_t port = default_port;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || (close[1] && close[1] != ':'))
			return -EINVAL;
		hlen = (size_t)(close - s - 1);
		if (hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (close[1] == ':')
			port_s = close + 2;
	} else {
		const char *colon = strchr(s, ':');

		/* Several colons without brackets: a bare IPv6 address. */
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (colon)
			port_s = colon + 1;
	}
	if (port_s && parse_port(port_s, &port) < 0)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &out->u.in.sin_addr) == 1) {
		out->u.in.sin_family = AF_INET;
		out->u.in.sin_port = htons(port);
		out->len = sizeof(out->u.in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &out->u.in6.sin6_addr) == 1) {
		out->u.in6.sin6_family = AF_INET6;
		out->u.in6.sin6_port = htons(port);
		out->len = sizeof(out->u.in6);
		return 0;
	}
	return -EINVAL;
}

int addr_from_sa(struct addr *out, const struct sockaddr *sa, socklen_t len)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		memcpy(&out->u.in, sa, sizeof(out->u.in));
		out->len = sizeof(out->u.in);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		memcpy(&out->u.in6, sa, sizeof(out->u.in6));
		out->len = sizeof(out->u.in6);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int addr_local(int fd, struct addr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	return addr_from_sa(out, (struct sockaddr *)&ss, len);
}

const char *addr_fmt_ip(const struct addr *a, char *buf, size_t size)
{
	const void *src = a->u.sa.sa_family == AF_INET6 ? (const void *)&a->u.in6.sin6_addr
							 : (const void *)&a->u.in.sin_addr;

	if ((a->u.sa.sa_family != AF_INET && a->u.sa.sa_family != AF_INET6) ||
	    !inet_ntop(a->u.sa.sa_family, src, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

const char *addr_fmt(const struct addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	addr_fmt_ip(a, ip, sizeof(ip));
	if (a->u.sa.sa_family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", ip, addr_port(a));
	else
		snprintf(buf, size, "%s:%u", ip, addr_port(a));
	return buf;
}

uint16_t addr_port(const struct addr *a)
{
	if (a->u.sa.sa_family == AF_INET6)
		return ntohs(a->u.in6.sin6_port);
	if (a->u.sa.sa_family == AF_INET)
		return ntohs(a->u.in.sin_port);
	return 0;
}

void addr_set_port(struct addr *a, uint16_t port)
{
	if (a->u.sa.sa_family == AF_INET6)
		a->u.in6.sin6_port = htons(port);
	else if (a->u.sa.sa_family == AF_INET)
		a->u.in.sin_port = htons(port);
}

int addr_family(const struct addr *a)
{
	return a->u.sa.sa_family;
}

bool addr_equal_ip(const struct addr *a, const struct addr *b)
{
	if (a->u.sa.sa_family != b->u.sa.sa_family)
		return false;
	if (a->u.sa.sa_family == AF_INET)
		return a->u.in.sin_addr.s_addr == b->u.in.sin_addr.s_addr;
	if (a->u.sa.sa_family == AF_INET6)
		return memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16) == 0;
	return false;
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
	return addr_equal_ip(a, b) && addr_port(a) == addr_port(b);
}

void addr_any(struct addr *out, int family, uint16_t port)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET6) {
		out->u.in6.sin6_family = AF_INET6;
		out->u.in6.sin6_addr = in6addr_any;
		out->u.in6.sin6_port = htons(port);
		out->len = sizeof(out->u.in6);
	} else {
		out->u.in.sin_family = AF_INET;
		out->u.in.sin_addr.s_addr = htonl(INADDR_ANY);
		out->u.in.sin_port = htons(port);
		out->len = sizeof(out->u.in);
	}
}

void addr_to_wire(const struct addr *a, struct wire_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (a->u.sa.sa_family == AF_INET) {
		ep->family = 4;
		memcpy(ep->addr, &a->u.in.sin_addr, 4);
	} else if (a->u.sa.sa_family == AF_INET6) {
		ep->family = 6;
		memcpy(ep->addr, &a->u.in6.sin6_addr, 16);
	}
	ep->port = addr_port(a);
}

int addr_from_wire(struct addr *a, const struct wire_endpoint *ep)
{
	memset(a, 0, sizeof(*a));
	if (ep->family == 4) {
		a->u.in.sin_family = AF_INET;
		memcpy(&a->u.in.sin_addr, ep->addr, 4);
		a->u.in.sin_port = htons(ep->port);
		a->len = sizeof(a->u.in);
		return 0;
	}
	if (ep->family == 6) {
		a->u.in6.sin6_family = AF_INET6;
		memcpy(&a->u.in6.sin6_addr, ep->addr, 16);
		a->u.in6.sin6_port = htons(ep->port);
		a->len = sizeof(a->u.in6);
		return 0;
	}
	return -EINVAL;
}
