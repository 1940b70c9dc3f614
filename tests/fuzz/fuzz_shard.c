/* libFuzzer harness for --shard I/N (report/stats.c), read from the command
 * line: any bytes give 1 <= I <= N <= 10000 or -EINVAL with the outputs
 * untouched; what parses prints back to itself (no leading zeros aside),
 * and its shard holds exactly the indexes that are I-1 modulo N. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[64], back[64];
	unsigned i = 7, n = 9, i2, n2;
	int rc;

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	rc = stats_shard_parse(s, &i, &n);
	if (rc != 0 && rc != -EINVAL)
		abort();
	if (rc != 0) {
		if (i != 7 || n != 9)
			abort();
		return 0;
	}
	if (i < 1 || i > n || n > 10000)
		abort();
	snprintf(back, sizeof(back), "%u/%u", i, n);
	if (stats_shard_parse(back, &i2, &n2) != 0 || i2 != i || n2 != n)
		abort();
	for (size_t idx = 0; idx < 3 * (size_t)n; idx++)
		if (stats_shard_has(idx, i, n) != (idx % n == i - 1))
			abort();
	return 0;
}
