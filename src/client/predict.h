/* Port prediction for a partner behind an endpoint-dependent ("symmetric")
 * NAT: which ports of the partner's public address to probe, and how likely
 * that is to work. Pure: numbers in, numbers out; the PRNG is seeded by the
 * caller, so a run can be repeated.
 *
 * An endpoint-dependent NAT gives each new destination a new public port, so
 * the port the server observed is not the one the partner's packets to us
 * will leave from. Two ways to find it (RFC 5128 section 3.4 describes both
 * under "port prediction"; the second is the "birthday paradox" method of
 * Takeda's and Ford's measurements):
 *
 *  sequential  the NAT allocates ports one after the other, by a step. The
 *              client registers at the server's two addresses; the server
 *              tells the partner the difference of the two observed ports.
 *              The next mappings are at last + step, last + 2 step, ...: the
 *              easy side probes those few ports and is right at once, as long
 *              as nobody else behind that NAT opened a mapping in between.
 *              Cost: N probes per round to N ports.
 *  birthday    the NAT picks ports at random from a range of R. The hard side
 *              opens m mappings toward the easy side (m sockets, one probe
 *              each); the easy side probes n random ports of the hard side's
 *              address. Any of the n hitting any of the m is a path. With
 *              both sets uniform and distinct, the chance is
 *                  P = 1 - C(R - m, n) / C(R, n)
 *                    = 1 - prod_{i=0}^{n-1} (R - m - i) / (R - i)
 *                    ~ 1 - exp(-n m / R)
 *              so n = m = sqrt(2.3 R) gives 90%: about 385 each for the
 *              64512 ports of 1024-65535. Cost: n probes from the easy side,
 *              m from the hard side (and m sockets, m NAT mappings held for
 *              the UDP timeout), per pass.
 *
 * Both are opt-in (punch-client --predict) and capped: a probe budget (most
 * prediction probes in all) and a rate (most per second). */
#ifndef PUNCH_PREDICT_H
#define PUNCH_PREDICT_H

#include <stddef.h>
#include <stdint.h>

enum predict_method { PREDICT_NONE = 0, PREDICT_SEQUENTIAL, PREDICT_BIRTHDAY };

#define PREDICT_PORTS_MAX 1024 /* ports (or sockets) one side uses at most */

/* "sequential", "birthday" or "none" to the enum. Returns 0, or -EINVAL. */
int predict_method_parse(const char *s, enum predict_method *m);
const char *predict_method_name(enum predict_method m);

/* The NAT's step from two ports it allocated one after the other (first,
 * then second): second - first, taken modulo the 16-bit port space into
 * -32767..32767. 0: the same port both times (an endpoint-independent
 * mapping, nothing to predict). */
int predict_step(uint16_t first, uint16_t second);

/* The next count ports after last by step: last + step, last + 2 step, ...,
 * wrapped into [lo, hi] (a NAT's range) and without repeats. Returns how
 * many were written to out (at most count; fewer when the range runs out),
 * 0 when step is 0. */
size_t predict_sequential(uint16_t last, int step, size_t count, uint16_t lo, uint16_t hi, uint16_t *out);

/* A small PRNG (splitmix64), seeded by the caller. */
struct predict_rng {
	uint64_t s;
};
void predict_rng_seed(struct predict_rng *r, uint64_t seed);
/* Uniform in [0, bound), bound > 0, without modulo bias. */
uint32_t predict_rng_below(struct predict_rng *r, uint32_t bound);

/* count distinct ports drawn uniformly from [lo, hi] (count is cut to the
 * range's size). Returns how many were written to out. */
size_t predict_birthday(struct predict_rng *r, size_t count, uint16_t lo, uint16_t hi, uint16_t *out);

/* The chance that n distinct uniform ports of a range of size range meet m
 * distinct uniform ports of it: 1 - C(range - m, n) / C(range, n), exact
 * (computed as a sum of logarithms). 1 when n + m > range, 0 when either is 0. */
double predict_birthday_p(unsigned n, unsigned m, unsigned range);
/* The usual approximation 1 - exp(-n m / range), for comparison. */
double predict_birthday_approx(unsigned n, unsigned m, unsigned range);

/* A cap on the prediction probes of one run: at most `budget` in all, and
 * at most `rate` per second (a token bucket with a burst of one tenth of a
 * second's worth, at least one). */
struct predict_budget {
	unsigned budget;   /* 0: none may be sent */
	unsigned rate;     /* per second; 0: no rate limit */
	unsigned sent;
	double tokens;
	int64_t last_ms;   /* -1: not started */
};
void predict_budget_init(struct predict_budget *b, unsigned budget, unsigned rate);
/* How many probes may go out at now_ms (at most want); the caller sends
 * that many and reports them with predict_budget_spend(). */
unsigned predict_budget_allow(struct predict_budget *b, int64_t now_ms, unsigned want);
void predict_budget_spend(struct predict_budget *b, unsigned n);
/* When the next probe may go (now_ms when one may go now); -1 when the
 * budget is spent. */
int64_t predict_budget_next(const struct predict_budget *b, int64_t now_ms);

#endif
