/* Durations, as the command lines and the topology files write them. One
 * grammar for all:
 *
 *     DIGITS [ "." DIGITS ] [ "ms" | "s" | "m" ]
 *
 * A number without a unit is seconds. No sign, no spaces, no exponent; a
 * fraction finer than a millisecond is dropped. Flags narrow the grammar
 * where a file must be explicit. */
#ifndef PUNCH_DURATION_H
#define PUNCH_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_UNIT  0x1u /* the unit must be written: "10" is refused */
#define DURATION_WHOLE 0x2u /* no fraction: "1.5s" is refused */

#define DURATION_STRLEN 24  /* duration_fmt() of any uint64_t, with its unit */

/* Parse s into *ms. Returns 0; -EINVAL when s is not a duration of the
 * grammar (as narrowed by flags); -ERANGE when it is one but not within
 * [min_ms, max_ms] (*ms is left alone on failure). */
int duration_parse(const char *s, unsigned flags, uint64_t min_ms, uint64_t max_ms, uint64_t *ms);
/* Format ms in the largest unit that holds it whole ("2m", "3s", "1500ms",
 * "0s"), which duration_parse() reads back to the same value with any flags.
 * Returns buf. */
const char *duration_fmt(uint64_t ms, char *buf, size_t size);

#endif
