/* The punchlab wire protocol, version 2 (1 had RELAY without a seq).
 *
 * One message format serves the TCP control connection (client <-> server),
 * UDP registration (client -> server), the relay (client -> server -> partner)
 * and the peer-to-peer path (client <-> client). All integers are big-endian.
 *
 * Every message starts with an 8-byte header:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  magic 'P' (0x50) | 'L' (0x4C)|  version = 2  |     type      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |      body length (bytes)      |         reserved = 0          |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    body (body length bytes)                 ...
 *
 * On TCP, messages follow each other on the stream; on UDP, a datagram holds
 * exactly one message. An endpoint is encoded in 20 bytes:
 *
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  family (4|6) |  reserved = 0 |             port              |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   address: 16 bytes; an IPv4 address in the first 4, rest 0  |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Bodies, by type (sizes in bytes; "str8" is a length byte then that many
 * bytes, no terminator; "ep" is an endpoint):
 *
 *  TCP client -> server
 *   HELLO     1  flags 1 | n_private 1 | local_port 2 | session str8 (0..64) | ep * n_private (0..4)
 *  TCP server -> client
 *   WELCOME   2  client_id 4 | token 16
 *   PEER      3  session_id 4 | role 1 | flags 1 | peer_step 2 | secret 16 |
 *                self_public ep | peer_public ep | n_private 1 | reserved 3 | ep * n_private (0..4)
 *   ERROR     4  code 2 | reason str8 (0..200)
 *  UDP client -> server
 *   REGISTER 16  token 16 | padding 48 (zero). The padding makes a REGISTER larger
 *                than any answer to it, so the server cannot amplify a spoofed one.
 *  UDP server -> client
 *   REG_ACK  17  client_id 4 | observed ep
 *  UDP client <-> client, authenticated (tag = SipHash-2-4 keyed with the
 *  session secret over everything before the tag, header included):
 *   PROBE    32  session_id 4 | role 1 | reserved 3 | seq 4 | ts 8 | to ep | tag 8
 *   PROBE_ACK 33 session_id 4 | role 1 | reserved 3 | seq 4 | ts 8 | seen_from ep | tag 8
 *   DATA     34  session_id 4 | role 1 | reserved 3 | seq 4 | ts 8 | payload str16 (0..1024) | tag 8
 *   DATA_ACK 35  session_id 4 | role 1 | reserved 3 | seq 4 | ts 8 | tag 8
 *   KEEPALIVE 36 session_id 4 | role 1 | reserved 3 | seq 4 | ts 8 | tag 8
 *   BYE      37  session_id 4 | role 1 | reserved 3 | seq 4 | ts 8 | tag 8
 *  UDP client -> server -> partner, authenticated the same way:
 *   RELAY    48  session_id 4 | role 1 | reserved 3 | seq 4 | inner str16 (a whole
 *                DATA, DATA_ACK, BYE or KEEPALIVE message, itself authenticated) | tag 8
 *
 * A RELAY's seq counts the sender's RELAYs in the session from 1 up; the
 * server forwards each seq at most once (a sliding window of 64 behind the
 * highest seen, as IPsec and WireGuard do), so a captured RELAY cannot be
 * replayed through it.
 *
 * ts is the sender's monotonic clock in milliseconds; an ACK echoes the ts of
 * what it answers so that the sender measures the round trip on its own clock.
 * TCP punching (HELLO flag TCP, both partners): the peer-to-peer messages
 * above travel on a TCP connection between the partners, one after the other
 * on the stream as on the control connection, still tagged; the server then
 * introduces each by the source endpoint of its control connection (PEER flag
 * TCP), which the client opened from the port it punches from. REGISTER and
 * RELAY stay on UDP: the relay is the fallback for both transports.
 *
 * Port prediction (HELLO flag PREDICT): the client REGISTERs at the server's
 * first address, then at a second one; the server keeps the first as the
 * client's endpoint and hands the partner peer_step, the signed difference
 * second port - first port (PEER flag PREDICT; 0 without the flag), so that
 * the partner can aim at the next ports of an endpoint-dependent NAT
 * (client/predict.h).
 *
 * "to" is the endpoint a probe was sent to; "seen_from" is the source address
 * the answerer saw the probe come from (how a peer learns its own mapping).
 */
#ifndef PUNCH_WIRE_H
#define PUNCH_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC0 0x50
#define WIRE_MAGIC1 0x4C
#define WIRE_VERSION 2 /* 2: RELAY carries a seq (the relay forwards each once) */
#define WIRE_HDR_LEN 8
#define WIRE_EP_LEN 20
#define WIRE_TAG_LEN 8
#define WIRE_KEY_LEN 16
#define WIRE_TOKEN_LEN 16
#define WIRE_SESSION_MAX 64
#define WIRE_REASON_MAX 200
#define WIRE_MAX_PRIVATE 4
#define WIRE_PAYLOAD_MAX 1024
#define WIRE_REGISTER_PAD 48
#define WIRE_INNER_MAX (WIRE_HDR_LEN + 20 + 2 + WIRE_PAYLOAD_MAX + WIRE_TAG_LEN)
#define WIRE_BODY_MAX (8 + 4 + 2 + WIRE_INNER_MAX + WIRE_TAG_LEN)
#define WIRE_MSG_MAX (WIRE_HDR_LEN + WIRE_BODY_MAX) /* the largest valid message */

/* HELLO flags */
#define WIRE_HELLO_ADVERTISE_LOCAL 0x01 /* report my public endpoint as observed IP + my local_port */
#define WIRE_HELLO_TCP 0x02 /* I punch TCP from this connection's local port: introduce me by the
			       source endpoint of this control connection, not of my REGISTER */
#define WIRE_HELLO_PREDICT 0x04 /* I will REGISTER at a second server address too: keep that
				   observation apart and tell my partner my NAT's port step */
#define WIRE_HELLO_FLAGS (WIRE_HELLO_ADVERTISE_LOCAL | WIRE_HELLO_TCP | WIRE_HELLO_PREDICT)

/* PEER flags */
#define WIRE_PEER_TCP 0x01 /* both punch TCP: the public endpoints are the control connections' sources */
#define WIRE_PEER_PREDICT 0x02 /* peer_step is set: the partner registered at two server addresses */

enum wire_type {
	WIRE_HELLO = 1,
	WIRE_WELCOME = 2,
	WIRE_PEER = 3,
	WIRE_ERROR = 4,
	WIRE_REGISTER = 16,
	WIRE_REG_ACK = 17,
	WIRE_PROBE = 32,
	WIRE_PROBE_ACK = 33,
	WIRE_DATA = 34,
	WIRE_DATA_ACK = 35,
	WIRE_KEEPALIVE = 36,
	WIRE_BYE = 37,
	WIRE_RELAY = 48,
};

/* ERROR codes */
enum wire_error {
	WIRE_ERR_PROTOCOL = 1, /* malformed or unexpected message */
	WIRE_ERR_FULL = 2,     /* server at its client limit */
	WIRE_ERR_TIMEOUT = 3,  /* no partner arrived in time */
	WIRE_ERR_SESSION = 4,  /* session name already has two clients */
};

struct wire_endpoint {
	uint8_t family; /* 4 or 6; 0 = none */
	uint16_t port;
	uint8_t addr[16];
};

/* A decoded message. Fields are copies; nothing points into the input buffer. */
struct wire_msg {
	uint8_t type;
	union {
		struct {
			uint8_t flags;
			uint16_t local_port;
			char session[WIRE_SESSION_MAX + 1]; /* NUL-terminated; "" = pair with anyone */
			uint8_t n_private;
			struct wire_endpoint private_eps[WIRE_MAX_PRIVATE];
		} hello;
		struct {
			uint32_t client_id;
			uint8_t token[WIRE_TOKEN_LEN];
		} welcome;
		struct {
			uint32_t session_id;
			uint8_t role; /* 1 or 2 */
			uint8_t flags;
			int16_t peer_step; /* with WIRE_PEER_PREDICT: the partner's NAT's port step */
			uint8_t secret[WIRE_KEY_LEN];
			struct wire_endpoint self_public;
			struct wire_endpoint peer_public;
			uint8_t n_private;
			struct wire_endpoint peer_private[WIRE_MAX_PRIVATE];
		} peer;
		struct {
			uint16_t code;
			char reason[WIRE_REASON_MAX + 1]; /* NUL-terminated */
		} error;
		struct {
			uint8_t token[WIRE_TOKEN_LEN];
		} reg;
		struct {
			uint32_t client_id;
			struct wire_endpoint observed;
		} reg_ack;
		/* PROBE, PROBE_ACK, DATA, DATA_ACK, KEEPALIVE, BYE */
		struct {
			uint32_t session_id;
			uint8_t role;
			uint32_t seq;
			uint64_t ts;
			struct wire_endpoint ep; /* PROBE: to; PROBE_ACK: seen_from; others: unused */
			uint16_t payload_len;    /* DATA only */
			uint8_t payload[WIRE_PAYLOAD_MAX];
		} p2p;
		struct {
			uint32_t session_id;
			uint8_t role;
			uint32_t seq; /* the sender's RELAY counter, from 1 */
			uint16_t inner_len;
			uint8_t inner[WIRE_INNER_MAX];
		} relay;
	} u;
};

/* Decode one message from buf[0..len).
 * Returns the number of bytes it occupies, 0 when buf holds only a prefix of a
 * message that could still be valid (read more from the stream), or -1 when the
 * bytes are not a valid message (bad magic, version, type, length or field).
 * Does not check the tag: see wire_verify(). Never reads past len. */
int wire_parse(const uint8_t *buf, size_t len, struct wire_msg *msg);

/* Decode a datagram: like wire_parse() but the message must fill it exactly.
 * Returns 0 or -1. */
int wire_parse_datagram(const uint8_t *buf, size_t len, struct wire_msg *msg);

/* Encode msg into buf[0..size). Authenticated types are tagged with key
 * (WIRE_KEY_LEN bytes; ignored, may be NULL, for other types).
 * Returns the number of bytes written, or -1 if msg is invalid or size too small. */
int wire_build(uint8_t *buf, size_t size, const struct wire_msg *msg, const uint8_t *key);

/* True when the encoded message in buf[0..len) is of an authenticated type and
 * its tag is right for key. Constant time in the tag comparison. */
bool wire_verify(const uint8_t *buf, size_t len, const uint8_t *key);

/* True for the types that carry a tag. */
bool wire_is_authenticated(uint8_t type);

/* A short name for a type ("PROBE"), "?" if unknown. */
const char *wire_type_name(uint8_t type);

#endif
