/* The punch-probe message format: NAT behaviour probes (RFC 5780 style).
 *
 * Separate from the punchlab wire protocol (proto/wire.h) on purpose: a
 * different magic, so neither program ever mistakes the other's datagrams.
 * All integers are big-endian. Every message is one UDP datagram:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  magic 'P' (0x50) | 'B' (0x42)|  version = 1  |     type      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |      body length (bytes)      |         reserved = 0          |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    transaction id (8 bytes)                   |
 *  +                                                               +
 *  |                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     flags     |            reserved = 0 (3 bytes)             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                  rest of the body, by type                  ...
 *
 * Bodies (sizes in bytes; "ep" is an endpoint in the 20-byte encoding of
 * proto/wire.h: family 1 (4|6) | reserved 1 | port 2 | address 16):
 *
 *   REQUEST  1  txid 8 | flags 1 | reserved 3 | padding 48 (zero)     = 60
 *   ANSWER   2  txid 8 | flags 1 | reserved 3 | observed ep | responder ep = 52
 *   HAIRPIN  3  txid 8 | flags 1 (0) | reserved 3                     = 12
 *
 * REQUEST flags, as in RFC 5780's CHANGE-REQUEST: PROBEMSG_CHANGE_IP asks
 * for the answer from the server's other address, PROBEMSG_CHANGE_PORT from
 * its other port. ANSWER echoes the request's txid and flags; "observed" is
 * the source address the server saw the request come from, "responder" is
 * the address of the socket that sends the answer. The padding makes a
 * REQUEST (68 bytes) larger than its ANSWER (60 bytes), so the server never
 * sends a spoofed sender more than it got. HAIRPIN travels between two
 * sockets of the classifying client, never to or from the server.
 */
#ifndef PUNCH_PROBEMSG_H
#define PUNCH_PROBEMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

#define PROBEMSG_MAGIC0 0x50
#define PROBEMSG_MAGIC1 0x42
#define PROBEMSG_VERSION 1
#define PROBEMSG_HDR_LEN 8
#define PROBEMSG_PAD 48
#define PROBEMSG_REQUEST_LEN (PROBEMSG_HDR_LEN + 12 + PROBEMSG_PAD) /* 68 */
#define PROBEMSG_ANSWER_LEN (PROBEMSG_HDR_LEN + 12 + 2 * WIRE_EP_LEN) /* 60 */
#define PROBEMSG_HAIRPIN_LEN (PROBEMSG_HDR_LEN + 12)                  /* 20 */
#define PROBEMSG_MAX PROBEMSG_REQUEST_LEN

#define PROBEMSG_CHANGE_IP 0x04
#define PROBEMSG_CHANGE_PORT 0x02

enum probemsg_type {
	PROBEMSG_REQUEST = 1,
	PROBEMSG_ANSWER = 2,
	PROBEMSG_HAIRPIN = 3,
};

/* A decoded message; fields are copies. */
struct probemsg {
	uint8_t type;
	uint64_t txid;
	uint8_t flags;
	struct wire_endpoint observed;  /* ANSWER only */
	struct wire_endpoint responder; /* ANSWER only */
};

/* Decode one datagram buf[0..len); the message must fill it exactly.
 * Returns 0, or -1 for anything else (bad magic, version, type, length,
 * a non-zero reserved or padding byte, unknown flags, a bad endpoint).
 * Never reads past len. */
int probemsg_parse(const uint8_t *buf, size_t len, struct probemsg *msg);

/* Encode msg into buf[0..size). Returns the bytes written, or -1 when msg
 * is invalid or size too small. */
int probemsg_build(uint8_t *buf, size_t size, const struct probemsg *msg);

/* The server's decision, pure: given a valid REQUEST received by socket
 * `sock` of the 2 x 2 grid (sock = address index * 2 + port index), return
 * the index of the socket that must answer it. */
int probemsg_answer_socket(int sock, uint8_t flags);

#endif
