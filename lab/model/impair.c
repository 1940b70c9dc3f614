/* Packet loss with nftables on a device. See impair.h. */
#include "model/impair.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PPM 1000000u

/* Interface names as the lab makes them: no quoting needed inside "...". */
static int ifname_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len >= IFNAMSIZ)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

/* One base chain: count every IP packet, then drop loss_ppm of a million.
 * numgen random mod 1000000 is uniform over 0..999999, so "< ppm" drops
 * with probability ppm / 1000000 exactly, independently per packet. */
static void put_chain(FILE *f, const char *hook, const char *dir, const char *ifname, uint32_t ppm)
{
	fprintf(f,
		"\tchain %s {\n"
		"\t\ttype filter hook %s device \"%s\" priority filter; policy accept;\n"
		"\t\tmeta protocol { ip, ip6 } counter name seen_%s\n"
		"\t\tmeta protocol { ip, ip6 } numgen random mod %u < %u counter name lost_%s drop\n"
		"\t}\n",
		hook, hook, ifname, dir, PPM, ppm, dir);
}

int impair_loss_ruleset(const char *ifname, uint32_t loss_ppm, unsigned dirs, char **out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	*out = NULL;
	if (!ifname_ok(ifname) || loss_ppm == 0 || loss_ppm > PPM || dirs == 0 ||
	    (dirs & ~(unsigned)(IMPAIR_IN | IMPAIR_OUT)))
		return -EINVAL;
	f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	/* No "table; delete table" to replace an older one: the delete waits for
	 * a grace period, and the lab loads this into a fresh namespace or after
	 * "flush ruleset" (lab_reset_routers()). */
	fprintf(f,
		"# punchlab: %u.%04u%% loss on %s (%s)\n"
		"table " IMPAIR_FAMILY " " IMPAIR_TABLE " {\n",
		loss_ppm / 10000, loss_ppm % 10000, ifname,
		dirs == (IMPAIR_IN | IMPAIR_OUT) ? "both ways" : dirs == IMPAIR_IN ? "inbound" : "outbound");
	if (dirs & IMPAIR_IN)
		fprintf(f, "\tcounter seen_in { }\n\tcounter lost_in { }\n");
	if (dirs & IMPAIR_OUT)
		fprintf(f, "\tcounter seen_out { }\n\tcounter lost_out { }\n");
	if (dirs & IMPAIR_IN)
		put_chain(f, "ingress", "in", ifname, loss_ppm);
	if (dirs & IMPAIR_OUT)
		put_chain(f, "egress", "out", ifname, loss_ppm);
	fprintf(f, "}\n");
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		return -ENOMEM;
	}
	*out = text;
	return 0;
}
