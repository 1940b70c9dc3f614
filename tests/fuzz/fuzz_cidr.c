/* libFuzzer harness for the ADDR/PREFIX parser (src/common/cidr.c), which
 * reads topology files and nat_ruleset()'s and link_addr()'s arguments: any
 * bytes must give a subnet whose prefix fits its family, or -EINVAL; the
 * subnet must contain itself and, formatted back, parse to the same. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[128], ip[INET6_ADDRSTRLEN], back[INET6_ADDRSTRLEN + 8];
	struct cidr c, again;
	int rc;

	if (size >= sizeof(s) || memchr(data, '\0', size))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	rc = cidr_parse(s, 0, data[0] & 1 ? CIDR_BARE : 0, &c);
	if (rc != 0 && rc != -EINVAL)
		abort();
	if (rc != 0)
		return 0;
	if ((c.family != AF_INET && c.family != AF_INET6) || c.plen < 0 || c.plen > cidr_bits(&c))
		abort();
	if (!cidr_contains(&c, &c))
		abort();
	if (cidr_parse(s, c.family == AF_INET ? AF_INET6 : AF_INET, CIDR_BARE, &again) == 0)
		abort(); /* one text, one family */
	inet_ntop(c.family, c.a, ip, sizeof(ip));
	snprintf(back, sizeof(back), "%s/%d", ip, c.plen);
	if (cidr_parse(back, c.family, 0, &again) != 0 || again.plen != c.plen ||
	    memcmp(again.a, c.a, sizeof(c.a)) != 0)
		abort();
	return 0;
}
