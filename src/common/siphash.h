/* SipHash-2-4 (Aumasson & Bernstein): a keyed 64-bit pseudorandom function,
 * used as the message tag of the peer-to-peer protocol. */
#ifndef PUNCH_SIPHASH_H
#define PUNCH_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* SipHash-2-4 of data[0..len) under the 128-bit key. The result is the value
 * the reference implementation writes little-endian into its 8 output bytes. */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len);

#endif
