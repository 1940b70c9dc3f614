#include "client/predict.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

int predict_method_parse(const char *s, enum predict_method *m)
{
	if (!strcmp(s, "sequential"))
		*m = PREDICT_SEQUENTIAL;
	else if (!strcmp(s, "birthday"))
		*m = PREDICT_BIRTHDAY;
	else if (!strcmp(s, "none"))
		*m = PREDICT_NONE;
	else
		return -EINVAL;
	return 0;
}

const char *predict_method_name(enum predict_method m)
{
	switch (m) {
	case PREDICT_SEQUENTIAL:
		return "sequential";
	case PREDICT_BIRTHDAY:
		return "birthday";
	case PREDICT_NONE:
		break;
	}
	return "none";
}

int predict_step(uint16_t first, uint16_t second)
{
	int d = (int)second - (int)first;

	/* A NAT that wrapped around the top of its range looks like a huge
	 * negative step; the short way round is the real one. */
	if (d > 32767)
		d -= 65536;
	else if (d < -32767)
		d += 65536;
	return d;
}

size_t predict_sequential(uint16_t last, int step, size_t count, uint16_t lo, uint16_t hi, uint16_t *out)
{
	long span, pos;
	size_t n = 0;

	if (!step || lo > hi)
		return 0;
	span = (long)hi - lo + 1;
	pos = (long)last - lo;
	if (pos < 0 || pos >= span)
		pos = ((pos % span) + span) % span;
	for (size_t k = 0; k < count && (long)k < span; k++) {
		bool dup = false;
		uint16_t p;

		pos = ((pos + step) % span + span) % span;
		p = (uint16_t)(lo + pos);
		for (size_t i = 0; i < n && !dup; i++)
			dup = out[i] == p;
		if (dup) /* the step cycles through fewer ports than asked: all found */
			break;
		out[n++] = p;
	}
	return n;
}

void predict_rng_seed(struct predict_rng *r, uint64_t seed)
{
	r->s = seed;
}

static uint64_t rng_next(struct predict_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint32_t predict_rng_below(struct predict_rng *r, uint32_t bound)
{
	/* Reject the top sliver that would make small values likelier. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
	uint64_t x;

	do
		x = rng_next(r);
	while (x >= limit);
	return (uint32_t)(x % bound);
}

size_t predict_birthday(struct predict_rng *r, size_t count, uint16_t lo, uint16_t hi, uint16_t *out)
{
	uint32_t span;
	size_t n = 0;

	if (lo > hi)
		return 0;
	span = (uint32_t)hi - lo + 1;
	if (count > span)
		count = span;
	/* Rejection of repeats: count is at most PREDICT_PORTS_MAX in use and
	 * usually far below the span, so few draws are wasted; a partial
	 * Fisher-Yates over the span would need a 64k table. */
	while (n < count) {
		uint16_t p = (uint16_t)(lo + predict_rng_below(r, span));
		bool dup = false;

		for (size_t i = 0; i < n && !dup; i++)
			dup = out[i] == p;
		if (!dup)
			out[n++] = p;
	}
	return n;
}

double predict_birthday_p(unsigned n, unsigned m, unsigned range)
{
	double lq = 0;

	if (!n || !m || !range)
		return 0;
	if ((unsigned long)n + m > range)
		return 1;
	/* P(miss) = prod_{i<n} (R - m - i) / (R - i) */
	for (unsigned i = 0; i < n; i++)
		lq += log((double)(range - m - i)) - log((double)(range - i));
	return 1 - exp(lq);
}

double predict_birthday_approx(unsigned n, unsigned m, unsigned range)
{
	if (!range)
		return 0;
	return 1 - exp(-(double)n * m / range);
}

void predict_budget_init(struct predict_budget *b, unsigned budget, unsigned rate)
{
	memset(b, 0, sizeof(*b));
	b->budget = budget;
	b->rate = rate;
	b->last_ms = -1;
}

static double burst(const struct predict_budget *b)
{
	return b->rate >= 10 ? b->rate / 10.0 : 1.0;
}

static void refill(struct predict_budget *b, int64_t now_ms)
{
	if (!b->rate)
		return;
	if (b->last_ms < 0) {
		b->tokens = burst(b);
	} else if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
		if (b->tokens > burst(b))
			b->tokens = burst(b);
	}
	if (now_ms > b->last_ms)
		b->last_ms = now_ms;
}

unsigned predict_budget_allow(struct predict_budget *b, int64_t now_ms, unsigned want)
{
	unsigned left = b->budget - b->sent;

	if (want > left)
		want = left;
	refill(b, now_ms);
	if (b->rate && want > (unsigned)b->tokens)
		want = (unsigned)b->tokens;
	return want;
}

void predict_budget_spend(struct predict_budget *b, unsigned n)
{
	b->sent += n;
	if (b->rate)
		b->tokens = b->tokens > n ? b->tokens - n : 0;
}

int64_t predict_budget_next(const struct predict_budget *b, int64_t now_ms)
{
	double need;

	if (b->sent >= b->budget)
		return -1;
	if (!b->rate || b->last_ms < 0 || b->tokens >= 1)
		return now_ms;
	need = (1 - b->tokens) * 1000.0 / b->rate;
	return b->last_ms + (int64_t)ceil(need);
}
