/* Numbers from the command line, strictly: digits only, no sign, no spaces. */
#ifndef PUNCH_NUM_H
#define PUNCH_NUM_H

/* A decimal number from 0 to max. Returns 0 and *out, or -EINVAL. */
int num_parse_uint(const char *s, unsigned long max, unsigned long *out);

#endif
