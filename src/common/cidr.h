/* Subnets written "ADDR/PREFIX", IPv4 or IPv6: the one parser for topology
 * files, the address plan, the ruleset generator and the link shell. */
#ifndef PUNCH_CIDR_H
#define PUNCH_CIDR_H

#include <stdbool.h>
#include <stdint.h>

struct cidr {
	int family;             /* AF_INET or AF_INET6 */
	uint8_t a[16];          /* network byte order; IPv4 uses the first 4 */
	int plen;               /* prefix length; the full length for a bare address */
};

#define CIDR_BARE 0x1u  /* also take a bare address, as a full-length prefix */

/* Parse "ADDR/PREFIX" of family (AF_INET, AF_INET6, or 0 for either): ADDR
 * as inet_pton() reads it, PREFIX one to three decimal digits, no sign, at
 * most the family's length. Host bits may be set (cidr_host_bits() tells).
 * Returns 0, or -EINVAL with *out unspecified. */
int cidr_parse(const char *s, int family, unsigned flags, struct cidr *out);
/* 32 or 128. */
int cidr_bits(const struct cidr *c);
/* Does p contain the address or subnet x: the same family, x no wider, and
 * the first p->plen bits the same? */
bool cidr_contains(const struct cidr *p, const struct cidr *x);
/* Are any bits after the prefix set (as in "10.0.1.1/24")? */
bool cidr_host_bits(const struct cidr *c);

#endif
