#include "common/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

int cidr_parse(const char *s, int family, unsigned flags, struct cidr *out)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	int plen = 0, digits = 0;

	memset(out, 0, sizeof(*out));
	if ((!slash && !(flags & CIDR_BARE)) || len == 0 || len >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, len);
	ip[len] = '\0';
	if ((family == 0 || family == AF_INET) && inet_pton(AF_INET, ip, out->a) == 1)
		out->family = AF_INET;
	else if ((family == 0 || family == AF_INET6) && inet_pton(AF_INET6, ip, out->a) == 1)
		out->family = AF_INET6;
	else
		return -EINVAL;
	out->plen = cidr_bits(out);
	if (!slash)
		return 0;
	/* Digits only: strtol would take spaces, a sign and "0x". */
	for (const char *p = slash + 1; *p; p++, digits++) {
		if (*p < '0' || *p > '9' || digits == 3)
			return -EINVAL;
		plen = plen * 10 + (*p - '0');
	}
	if (digits == 0 || plen > out->plen)
		return -EINVAL;
	out->plen = plen;
	return 0;
}

int cidr_bits(const struct cidr *c)
{
	return c->family == AF_INET ? 32 : 128;
}

bool cidr_contains(const struct cidr *p, const struct cidr *x)
{
	int full = p->plen / 8, rest = p->plen % 8;

	if (p->family != x->family || x->plen < p->plen)
		return false;
	if (memcmp(p->a, x->a, (size_t)full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((p->a[full] & mask) != (x->a[full] & mask))
			return false;
	}
	return true;
}

bool cidr_host_bits(const struct cidr *c)
{
	for (int i = c->plen; i < cidr_bits(c); i++)
		if (c->a[i / 8] & (0x80 >> (i % 8)))
			return true;
	return false;
}
