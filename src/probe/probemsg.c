/* The punch-probe message codec: pure functions over (buffer, length). */
#include <string.h>

#include "probe/probemsg.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static bool ep_valid(const struct wire_endpoint *ep)
{
	if (ep->family == 6)
		return true;
	return ep->family == 4 && all_zero(ep->addr + 4, 12);
}

static void put_ep(uint8_t *p, const struct wire_endpoint *ep)
{
	p[0] = ep->family;
	p[1] = 0;
	put16(p + 2, ep->port);
	memcpy(p + 4, ep->addr, 16);
}

static int get_ep(const uint8_t *p, struct wire_endpoint *ep)
{
	if (p[1] != 0)
		return -1;
	ep->family = p[0];
	ep->port = get16(p + 2);
	memcpy(ep->addr, p + 4, 16);
	return ep_valid(ep) ? 0 : -1;
}

static size_t type_len(uint8_t type)
{
	switch (type) {
	case PROBEMSG_REQUEST:
		return PROBEMSG_REQUEST_LEN;
	case PROBEMSG_ANSWER:
		return PROBEMSG_ANSWER_LEN;
	case PROBEMSG_HAIRPIN:
		return PROBEMSG_HAIRPIN_LEN;
	default:
		return 0;
	}
}

static uint8_t flags_allowed(uint8_t type)
{
	return type == PROBEMSG_HAIRPIN ? 0 : PROBEMSG_CHANGE_IP | PROBEMSG_CHANGE_PORT;
}

int probemsg_parse(const uint8_t *buf, size_t len, struct probemsg *msg)
{
	size_t want;

	memset(msg, 0, sizeof(*msg));
	if (len < PROBEMSG_HDR_LEN + 12)
		return -1;
	if (buf[0] != PROBEMSG_MAGIC0 || buf[1] != PROBEMSG_MAGIC1 || buf[2] != PROBEMSG_VERSION)
		return -1;
	want = type_len(buf[3]);
	if (want == 0 || len != want || get16(buf + 4) != want - PROBEMSG_HDR_LEN || get16(buf + 6) != 0)
		return -1;
	msg->type = buf[3];
	msg->txid = get64(buf + 8);
	msg->flags = buf[16];
	if ((msg->flags & ~flags_allowed(msg->type)) || !all_zero(buf + 17, 3))
		return -1;
	switch (msg->type) {
	case PROBEMSG_REQUEST:
		if (!all_zero(buf + 20, PROBEMSG_PAD))
			return -1;
		break;
	case PROBEMSG_ANSWER:
		if (get_ep(buf + 20, &msg->observed) < 0 || get_ep(buf + 20 + WIRE_EP_LEN, &msg->responder) < 0)
			return -1;
		break;
	default:
		break;
	}
	return 0;
}

int probemsg_build(uint8_t *buf, size_t size, const struct probemsg *msg)
{
	size_t n = type_len(msg->type);

	if (n == 0 || size < n || (msg->flags & ~flags_allowed(msg->type)))
		return -1;
	if (msg->type == PROBEMSG_ANSWER && (!ep_valid(&msg->observed) || !ep_valid(&msg->responder)))
		return -1;
	memset(buf, 0, n);
	buf[0] = PROBEMSG_MAGIC0;
	buf[1] = PROBEMSG_MAGIC1;
	buf[2] = PROBEMSG_VERSION;
	buf[3] = msg->type;
	put16(buf + 4, (uint16_t)(n - PROBEMSG_HDR_LEN));
	put64(buf + 8, msg->txid);
	buf[16] = msg->flags;
	if (msg->type == PROBEMSG_ANSWER) {
		put_ep(buf + 20, &msg->observed);
		put_ep(buf + 20 + WIRE_EP_LEN, &msg->responder);
	}
	return (int)n;
}

int probemsg_answer_socket(int sock, uint8_t flags)
{
	int ip = (sock >> 1) & 1, port = sock & 1;

	if (flags & PROBEMSG_CHANGE_IP)
		ip ^= 1;
	if (flags & PROBEMSG_CHANGE_PORT)
		port ^= 1;
	return ip * 2 + port;
}
