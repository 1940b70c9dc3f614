/* The expected outcome with port prediction (predict = sequential | birthday):
 * the birthday formula against hand-computed values and brute force, and
 * what the model derives, or refuses, for each kind of NAT. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/predict.h"
#include "model/outcome.h"
#include "model/plan.h"
#include "model/topo.h"
#include "outcome_derive.h"

#define CLOSE(got, want) assert_true(fabs((got) - (want)) < 1e-12)

/* Values worked out by hand: the easy side aims at n ports of C, the hard
 * NAT's m mappings are m ports of R. */
static void birthday_by_hand(void **state)
{
	(void)state;
	/* C = R = {1, 2}, one each: the same port half the time. */
	CLOSE(outcome_birthday_p(1, 1, 1, 2, 1, 2), 0.5);
	/* C = R = {1..4}, n = 2, m = 1: a miss is 3/4 * 2/3 = 1/2. */
	CLOSE(outcome_birthday_p(2, 1, 1, 4, 1, 4), 0.5);
	/* C = R = {1..3}, n = m = 2: two pairs of three always share one. */
	CLOSE(outcome_birthday_p(2, 2, 1, 3, 1, 3), 1.0);
	/* C = {1..4}, R = {3..6}: one port in R half the time, then 1/4. */
	CLOSE(outcome_birthday_p(1, 1, 1, 4, 3, 6), 1.0 / 8);
	/* n = 2 of C: j = 0, 1, 2 ports in R with 1/6, 4/6, 1/6; a hit
	 * given j is 0, 1/4, 1/2: 4/6 * 1/4 + 1/6 * 1/2 = 1/4. */
	CLOSE(outcome_birthday_p(2, 1, 1, 4, 3, 6), 0.25);
	/* Disjoint ranges, or nothing sent: never. */
	CLOSE(outcome_birthday_p(10, 10, 1, 100, 200, 300), 0.0);
	CLOSE(outcome_birthday_p(0, 10, 1, 100, 1, 100), 0.0);
	CLOSE(outcome_birthday_p(10, 0, 1, 100, 1, 100), 0.0);
	/* Equal ranges: the client's own exact formula (predict.c), and
	 * n = m = 385 over 1024-65535 is the documented 90%. */
	assert_true(fabs(outcome_birthday_p(385, 385, 1024, 65535, 1024, 65535) -
			 predict_birthday_p(385, 385, 64512)) < 1e-9);
	assert_true(fabs(outcome_birthday_p(385, 385, 1024, 65535, 1024, 65535) - 0.9010) < 5e-4);
	/* A narrow NAT range inside the client's: as if the client aimed at
	 * n r / c ports of it, so about 1 - exp(-n m / c) (c the client's). */
	assert_true(fabs(outcome_birthday_p(300, 301, 1024, 65535, 20000, 29999) -
			 (1 - exp(-300.0 * 301 / 64512))) < 0.01);
}

/* Every n-subset of C against every m-subset of R, counted. */
static double brute(unsigned n, unsigned m, unsigned clo, unsigned chi, unsigned rlo, unsigned rhi)
{
	unsigned long hit = 0, all = 0;

	for (unsigned a = 0; a < 1u << (chi + 1); a++) {
		if ((unsigned)__builtin_popcount(a) != n || (a & ((1u << clo) - 1)) || (a >> (chi + 1)))
			continue;
		for (unsigned b = 0; b < 1u << (rhi + 1); b++) {
			if ((unsigned)__builtin_popcount(b) != m || (b & ((1u << rlo) - 1)) || (b >> (rhi + 1)))
				continue;
			all++;
			hit += (a & b) != 0;
		}
	}
	return (double)hit / all;
}

static void birthday_brute_force(void **state)
{
	(void)state;
	for (unsigned n = 1; n <= 3; n++)
		for (unsigned m = 1; m <= 3; m++) {
			CLOSE(outcome_birthday_p(n, m, 1, 6, 1, 6), brute(n, m, 1, 6, 1, 6));
			CLOSE(outcome_birthday_p(n, m, 1, 6, 4, 9), brute(n, m, 1, 6, 4, 9));
			CLOSE(outcome_birthday_p(n, m, 2, 9, 4, 6), brute(n, m, 2, 9, 4, 6));
			CLOSE(outcome_birthday_p(n, m, 4, 6, 1, 8), brute(n, m, 4, 6, 1, 8));
		}
}

/* alice behind a, bob behind b (nat keys, one a line), extra in [lab]. */
static int derive(const char *a, const char *b, const char *extra, enum outcome *o, double *rate, char *why,
		  size_t whysize)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "[lab]\ndescription = t\n%s\n[nat a]\n%s\n[nat b]\n%s\n[peer alice]\nbehind = a\n"
		 "[peer bob]\nbehind = b\n", extra, a, b);
	return outcome_derive_text(text, &outcome_punch_client, o, rate, why, whysize);
}

#define PRC "preset = port-restricted"
#define SYM "preset = symmetric"
#define SYM_SEQ "preset = symmetric\nports = sequential\nport-step = 2"
#define SYM_NARROW "preset = symmetric\nport-range = 20000-29999"

static void expect_outcome(const char *a, const char *b, const char *extra, enum outcome want, double rate)
{
	char why[512];
	enum outcome o;
	double r;

	if (derive(a, b, extra, &o, &r, why, sizeof(why)) < 0)
		fail_msg("%s x %s (%s): refused: %s", a, b, extra, why);
	if (o != want || fabs(r - rate) > 1e-12)
		fail_msg("%s x %s (%s): %s at %.9g, want %s at %.9g (%s)", a, b, extra, topo_outcome_name(o), r,
			 topo_outcome_name(want), rate, why);
}

static void expect_refused(const char *a, const char *b, const char *extra, const char *says)
{
	char why[512];
	enum outcome o;
	double r;

	assert_int_equal(derive(a, b, extra, &o, &r, why, sizeof(why)), -EINVAL);
	if (!strstr(why, says))
		fail_msg("%s x %s (%s): refused with '%s', want '%s'", a, b, extra, why, says);
}

static void birthday_cells(void **state)
{
	double p400 = outcome_birthday_p(400, 401, 20000, 29999, 20000, 29999);
	double p256 = outcome_birthday_p(256, 257, 1024, 65535, 20000, 29999);

	(void)state;
	/* Without prediction: relayed (pr-cone-vs-symmetric.topo). */
	expect_outcome(PRC, SYM, "", OUTCOME_RELAYED, 1);
	/* With it: direct at the formula's rate, either way round. */
	expect_outcome(PRC, SYM_NARROW, "predict = birthday\npredict-ports = 400\npredict-range = 20000-29999",
		       OUTCOME_DIRECT, p400);
	expect_outcome(SYM_NARROW, PRC, "predict = birthday\npredict-ports = 400\npredict-range = 20000-29999",
		       OUTCOME_DIRECT, p400);
	assert_true(p400 > 0.9999);
	/* The client's defaults: 256 ports of 1024-65535 against a NAT that
	 * hands out only 20000-29999. */
	expect_outcome(PRC, SYM_NARROW, "predict = birthday", OUTCOME_DIRECT, p256);
	assert_true(p256 > 0.6 && p256 < 0.7);
	/* Aiming where the NAT never gives ports: relayed. */
	expect_outcome(PRC, SYM_NARROW, "predict = birthday\npredict-range = 40000-49999", OUTCOME_RELAYED, 1);
	/* Direct without prediction stays direct, every run. */
	expect_outcome("preset = full-cone", SYM, "predict = birthday", OUTCOME_DIRECT, 1);
	expect_outcome(PRC, PRC, "predict = birthday", OUTCOME_DIRECT, 1);
	/* Both sides map per destination: both open sockets, none aims. */
	expect_outcome(SYM, SYM, "predict = birthday", OUTCOME_RELAYED, 1);
	/* What the formula does not cover. */
	expect_refused(PRC, SYM_SEQ, "predict = birthday", "ports = sequential");
	expect_refused(PRC, SYM "\nloss = 1%", "predict = birthday", "loss");
	expect_refused(PRC, SYM, "predict = birthday\npunch-timeout = 1s", "shorter than the prediction");
}

static void sequential_cells(void **state)
{
	(void)state;
	/* A sequential NAT is predicted at once, from the step the server saw. */
	expect_outcome(PRC, SYM_SEQ, "predict = sequential", OUTCOME_DIRECT, 1);
	expect_outcome(SYM_SEQ, PRC, "predict = sequential", OUTCOME_DIRECT, 1);
	expect_outcome(PRC, SYM_SEQ, "predict = sequential\npredict-ports = 1", OUTCOME_DIRECT, 1);
	expect_outcome(PRC, "preset = symmetric\nports = sequential\nport-step = 7", "predict = sequential",
		       OUTCOME_DIRECT, 1);
	/* Without prediction the same pair relays. */
	expect_outcome(PRC, SYM_SEQ, "", OUTCOME_RELAYED, 1);
	/* Random ports: the prediction misses. */
	expect_outcome(PRC, SYM, "predict = sequential", OUTCOME_RELAYED, 1);
	/* A narrow range that wraps where the client does not, from a start
	 * only the run's seed knows: refused; with port-start it is known. */
	expect_refused(PRC, SYM_SEQ "\nport-range = 30000-30099", "predict = sequential", "port-start");
	expect_outcome(PRC, SYM_SEQ "\nport-range = 30000-30099\nport-start = 30010", "predict = sequential",
		       OUTCOME_DIRECT, 1);
	/* A start so close to the top that the NAT wraps into 30000 while the
	 * client's next ports run on above 30099, outside the NAT's range:
	 * the prediction misses, which the simulation sees. */
	expect_outcome(PRC, SYM_SEQ "\nport-range = 30000-30099\nport-start = 30096",
		       "predict = sequential\npredict-ports = 2", OUTCOME_RELAYED, 1);
	/* Two sequential NATs, or a block NAT's 512 ports: not modelled. */
	expect_refused(SYM_SEQ, SYM_SEQ, "predict = sequential", "both peers");
	expect_refused(PRC, "preset = symmetric\nports = block", "predict = sequential", "chance");
}

static void topo_rate(void **state)
{
	const char *text = "[lab]\ndescription = t\npredict = birthday\npredict-ports = 400\n"
			   "predict-range = 20000-29999\n[nat a]\npreset = port-restricted\n"
			   "[nat b]\npreset = symmetric\nport-range = 20000-29999\n"
			   "[peer alice]\nbehind = a\n[peer bob]\nbehind = b\n";
	struct topo *t = NULL;
	char err[256];

	(void)state;
	assert_int_equal(topo_parse_buffer("t.topo", text, strlen(text), &t, err, sizeof(err)), 0);
	CLOSE(outcome_topo_rate(t), outcome_birthday_p(400, 401, 20000, 29999, 20000, 29999));
	/* The lab's punch timeout leaves room for both passes: 2 x 400 at 200/s. */
	assert_int_equal(topo_predict_ms(t), 4000);
	topo_free(t);
}

static void topo_rejects(void **state)
{
	const char *bad[] = {
		"[lab]\npredict-range = 1-2\n",
		"[lab]\npredict = birthday\npredict-range = 3000-2000\n",
		"[lab]\npredict = birthday\npredict-range = 0-100\n",
		"[lab]\npredict = birthday\nexpect-rate = 0.9\n",
	};
	const char *says[] = { "predict-range without predict", "LOW is above HIGH", "bad value",
			       "the rate is derived" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512], err[256];
		struct topo *t = NULL;

		snprintf(text, sizeof(text), "%s[nat a]\npreset = port-restricted\n[peer alice]\nbehind = a\n"
			 "[peer bob]\nbehind = internet\n", bad[i]);
		assert_int_equal(topo_parse_buffer("t.topo", text, strlen(text), &t, err, sizeof(err)), -EINVAL);
		if (!strstr(err, says[i]))
			fail_msg("%s: '%s', want '%s'", bad[i], err, says[i]);
		assert_null(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(birthday_by_hand), cmocka_unit_test(birthday_brute_force),
		cmocka_unit_test(birthday_cells),   cmocka_unit_test(sequential_cells),
		cmocka_unit_test(topo_rate),        cmocka_unit_test(topo_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
