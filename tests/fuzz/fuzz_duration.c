/* libFuzzer harness for the duration grammar (src/common/duration.c), which
 * reads command-line options and topology values: any bytes must give a
 * duration within the range asked for, or -EINVAL / -ERANGE with the output
 * untouched; a parsed value must format and read back to itself; a string
 * the strict grammar takes must mean the same to the loose one. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[64], buf[DURATION_STRLEN];
	uint64_t lo = 100, hi = 3600000, ms = 42, strict = 43, back = 44;
	int rc;

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	rc = duration_parse(s, 0, lo, hi, &ms);
	if (rc != 0 && rc != -EINVAL && rc != -ERANGE)
		abort();
	if (rc != 0 && ms != 42)
		abort();
	if (rc == 0 && (ms < lo || ms > hi))
		abort();
	if (rc == 0 && (duration_parse(duration_fmt(ms, buf, sizeof(buf)), DURATION_UNIT | DURATION_WHOLE,
					 0, UINT64_MAX, &back) != 0 || back != ms))
		abort();
	/* Flags only narrow: the strict reading is the loose one, or a refusal. */
	if (duration_parse(s, DURATION_UNIT | DURATION_WHOLE, lo, hi, &strict) == 0 && (rc != 0 || strict != ms))
		abort();
	return 0;
}
