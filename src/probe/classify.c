/* NAT behaviour classification: the decision table of RFC 5780 section 4,
 * with RFC 4787's names, and the comparison with a declared behaviour. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nat/behavior.h"
#include "probe/classify.h"

static enum nat_mapping decide_mapping(const struct classify_obs *obs, bool translated, bool *known)
{
	const struct addr *m1 = &obs->mapping[CLASSIFY_A1P1].mapped;
	const struct addr *m2 = &obs->mapping[CLASSIFY_A2P1].mapped;
	const struct addr *m3 = &obs->mapping[CLASSIFY_A2P2].mapped;

	*known = obs->mapping[CLASSIFY_A2P1].answered && obs->mapping[CLASSIFY_A2P2].answered;
	if (!*known)
		return MAP_NONE;
	/* RFC 5780 4.3: T2 equal to T1 means endpoint-independent; otherwise T3
	 * equal to T2 means the mapping depends on the address only. A mapping
	 * equal for A1 and A2 but not for A2's other port still depends on the
	 * port: that is address-and-port-dependent too. */
	if (addr_equal(m1, m2) && addr_equal(m2, m3))
		return translated ? MAP_EIM : MAP_NONE;
	if (addr_equal(m2, m3))
		return MAP_ADM;
	return MAP_APDM;
}

static bool preserved(const struct classify_mapped *m)
{
	return m->answered && addr_port(&m->mapped) == addr_port(&m->local);
}

/* The lowest and highest external port that is not the socket's own, of
 * the sockets on the mapping socket's address. */
static void alloc_range(const struct classify_obs *obs, struct classify_result *res)
{
	const struct classify_mapped *all[CLASSIFY_NDEST + CLASSIFY_SAMPLES];
	int k = 0;

	for (int i = 0; i < CLASSIFY_NDEST; i++)
		all[k++] = &obs->mapping[i];
	for (int i = 0; i < obs->n_samples && i < CLASSIFY_SAMPLES; i++)
		all[k++] = &obs->samples[i];
	res->alloc_lo = 65535;
	for (int i = 0; i < k; i++) {
		unsigned p = addr_port(&all[i]->mapped);

		/* one subscriber's: a block NAT gives another address another block */
		if (!all[i]->answered || preserved(all[i]) || !addr_equal_ip(&all[i]->local, &all[0]->local))
			continue;
		res->alloc_lo = p < res->alloc_lo ? p : res->alloc_lo;
		res->alloc_hi = p > res->alloc_hi ? p : res->alloc_hi;
		res->n_alloc++;
	}
	if (!res->n_alloc)
		res->alloc_lo = 0;
}

static enum nat_ports decide_ports(const struct classify_obs *obs, bool *known, unsigned *step_out)
{
	const struct classify_mapped *t1 = &obs->mapping[CLASSIFY_A1P1];
	int answered = 0, kept = 0, t1_kept = preserved(t1), n = obs->n_samples;
	bool stepped = true;
	unsigned step = 0;

	if (n > CLASSIFY_SAMPLES)
		n = CLASSIFY_SAMPLES;
	for (int i = 0; i < n; i++) {
		if (!obs->samples[i].answered)
			continue;
		answered++;
		if (preserved(&obs->samples[i]))
			kept++;
	}
	/* The same small distance between every two consecutive fresh
	 * sockets' ports: a NAT that hands out every step-th port (real ones use
	 * 1 and 2). */
	for (int i = 1; i < n; i++) {
		unsigned d;

		if (!obs->samples[i - 1].answered || !obs->samples[i].answered) {
			stepped = false;
			break;
		}
		d = (uint16_t)(addr_port(&obs->samples[i].mapped) - addr_port(&obs->samples[i - 1].mapped));
		if (d == 0 || d > CLASSIFY_MAX_STEP || (step && d != step))
			stepped = false;
		step = d;
	}
	*step_out = stepped && n >= 2 ? step : 0;
	*known = true;
	/* A preserving NAT keeps a socket's port unless another internal
	 * endpoint's mapping holds it already (no overloading, RFC 4787 REQ-3);
	 * then it falls back to another port. The classifier's own flows put
	 * a few such ports in use, so one socket of the four may meet one by
	 * chance: three kept of four still means preserving, since a NAT that
	 * does not preserve keeps a port by chance about once in its range. */
	if ((t1_kept && kept == answered) ||
	    (kept + t1_kept >= 3 && kept + t1_kept + 1 >= answered + (int)t1->answered))
		return PORTS_PRESERVE;
	/* Fresh sockets made one after the other got ports one apart: a NAT that
	 * hands out the next port. Random ports do that by chance about once in
	 * pool size squared; it takes every sample and no preserved port. */
	if (answered == n && n >= 2 && kept == 0 && stepped)
		return PORTS_SEQUENTIAL;
	if (answered >= 2)
		return PORTS_RANDOM;
	*known = false;
	return PORTS_RANDOM;
}

static enum nat_filtering decide_filtering(const struct classify_obs *obs, bool *known)
{
	*known = false;
	if (obs->filter_same != CLASSIFY_YES)
		return FILTER_APDF;
	/* RFC 5780 4.4: an answer from the other address and port means
	 * endpoint-independent; else one from the other port only means
	 * address-dependent; else address-and-port-dependent. */
	if (obs->filter_change_ip_port == CLASSIFY_YES) {
		*known = true;
		return FILTER_EIF;
	}
	if (obs->filter_change_ip_port != CLASSIFY_NO)
		return FILTER_APDF;
	if (obs->filter_change_port == CLASSIFY_YES) {
		*known = true;
		return FILTER_ADF;
	}
	*known = obs->filter_change_port == CLASSIFY_NO;
	return FILTER_APDF;
}

void classify_decide(const struct classify_obs *obs, struct classify_result *res)
{
	const struct classify_mapped *t1 = &obs->mapping[CLASSIFY_A1P1];

	memset(res, 0, sizeof(*res));
	res->hairpin = CLASSIFY_UNKNOWN;
	if (!t1->answered) {
		res->udp_blocked = true;
		return;
	}
	res->translated = !addr_equal(&t1->mapped, &t1->local);
	res->mapping = decide_mapping(obs, res->translated, &res->mapping_known);
	res->filtering = decide_filtering(obs, &res->filtering_known);
	if (res->translated) {
		res->ports = decide_ports(obs, &res->ports_known, &res->port_step);
		res->port_preserving = preserved(t1);
		alloc_range(obs, res);
	} else {
		res->ports = PORTS_PRESERVE;
		res->ports_known = true;
	}
	res->hairpin = obs->hairpin;
	/* The reply to the admitted packet: from the filtering socket's own
	 * mapping (the session it arrived on) or from another one (a mapping
	 * towards the sender). Telling them apart needs a mapping that differs
	 * towards the sender: EIM never does, ADM not for another port only. */
	if (res->translated && obs->reply.answered && obs->samples[0].answered && res->mapping_known &&
	    (res->mapping == MAP_APDM || (res->mapping == MAP_ADM && obs->reply_other_address))) {
		res->inbound_reply_known = true;
		res->inbound_reply = addr_equal(&obs->reply.mapped, &obs->samples[0].mapped)
					     ? INBOUND_REPLY_SESSION
					     : INBOUND_REPLY_NEW_MAPPING;
	}
}

const char *classify_inbound_reply_name(const struct classify_result *res)
{
	return res->inbound_reply_known ? nat_inbound_reply_name(res->inbound_reply) : "unknown";
}

const char *classify_mapping_name(const struct classify_result *res)
{
	return res->mapping_known && !res->udp_blocked ? nat_mapping_name(res->mapping) : "unknown";
}

const char *classify_filtering_name(const struct classify_result *res)
{
	return res->filtering_known && !res->udp_blocked ? nat_filtering_name(res->filtering) : "unknown";
}

const char *classify_ports_name(const struct classify_result *res)
{
	return res->ports_known && !res->udp_blocked ? nat_ports_name(res->ports) : "unknown";
}

const char *classify_tri_name(enum classify_tri t)
{
	return t == CLASSIFY_YES ? "yes" : t == CLASSIFY_NO ? "no" : "unknown";
}

static const char *yesno(bool b)
{
	return b ? "yes" : "no";
}

/* A step as a static string, for a diff. */
static const char *step_name(unsigned step)
{
	static const char *const names[] = { "none", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
					     "11", "12", "13", "14", "15", "16" };

	return step < sizeof(names) / sizeof(names[0]) ? names[step] : "more than 16";
}

static void add_diff(struct classify_diff *diffs, int *n, const char *prop, const char *declared,
		     const char *observed)
{
	if (*n >= CLASSIFY_MAX_DIFFS)
		return;
	diffs[*n].property = prop;
	diffs[*n].declared = declared;
	diffs[*n].observed = observed;
	(*n)++;
}

int classify_compare(const struct nat_behavior *declared, bool nat, const struct classify_result *res,
		     struct classify_diff *diffs)
{
	enum nat_mapping want_map = nat ? declared->mapping : MAP_NONE;
	enum nat_filtering want_filter = declared->filtering == FILTER_OPEN ? FILTER_EIF : declared->filtering;
	int n = 0;

	if (declared->udp_blocked != res->udp_blocked) {
		add_diff(diffs, &n, "udp_blocked", yesno(declared->udp_blocked), yesno(res->udp_blocked));
		return n;
	}
	if (res->udp_blocked)
		return 0;
	if (nat != res->translated)
		add_diff(diffs, &n, "nat", yesno(nat), yesno(res->translated));
	if (!res->mapping_known || res->mapping != want_map)
		add_diff(diffs, &n, "mapping", nat_mapping_name(want_map), classify_mapping_name(res));
	if (!res->filtering_known || res->filtering != want_filter)
		add_diff(diffs, &n, "filtering", nat_filtering_name(declared->filtering),
			 classify_filtering_name(res));
	if (nat && declared->ports == PORTS_BLOCK) {
		/* From one host a block NAT hands out random ports inside one block. */
		unsigned bs = declared->block_size ? declared->block_size : NAT_BLOCK_SIZE_DEFAULT;

		if (!res->ports_known || res->ports != PORTS_RANDOM)
			add_diff(diffs, &n, "ports", "block", classify_ports_name(res));
		else if (!res->n_alloc || res->alloc_hi - res->alloc_lo >= bs)
			add_diff(diffs, &n, "ports", "block", "random, wider than a block");
	} else if (!res->ports_known || res->ports != (nat ? declared->ports : PORTS_PRESERVE)) {
		add_diff(diffs, &n, "ports", nat_ports_name(nat ? declared->ports : PORTS_PRESERVE),
			 classify_ports_name(res));
	}
	if (nat && res->translated && res->inbound_reply_known && res->inbound_reply != declared->inbound_reply)
		add_diff(diffs, &n, "inbound_reply", nat_inbound_reply_name(declared->inbound_reply),
			 classify_inbound_reply_name(res));
	if (nat && res->translated && res->ports_known && declared->ports == PORTS_SEQUENTIAL &&
	    res->ports == PORTS_SEQUENTIAL && res->port_step != (declared->port_step ? declared->port_step : 1u))
		add_diff(diffs, &n, "port_step", step_name(declared->port_step ? declared->port_step : 1u),
			 step_name(res->port_step));
	if (nat && res->translated && res->n_alloc) {
		unsigned lo = declared->port_min ? declared->port_min : NAT_PORT_MIN_DEFAULT;
		unsigned hi = declared->port_max ? declared->port_max : NAT_PORT_MAX_DEFAULT;

		if (res->alloc_lo < lo || res->alloc_hi > hi)
			add_diff(diffs, &n, "port_range", "inside", "outside");
	}
	/* Behind a firewall hosts have their own routed addresses and reach each
	 * other directly: hairpinning means nothing there. */
	if (nat && res->translated && res->hairpin != (declared->hairpin ? CLASSIFY_YES : CLASSIFY_NO))
		add_diff(diffs, &n, "hairpin", yesno(declared->hairpin), classify_tri_name(res->hairpin));
	return n;
}

int classify_parse_expect(const char *what, const char *v, struct nat_behavior *b)
{
	unsigned lo, hi;
	char tail;

	if (strcmp(what, "inbound-reply") == 0) {
		int r = nat_inbound_reply_parse(v);

		if (r < 0)
			return -EINVAL;
		b->inbound_reply = (enum nat_inbound_reply)r;
		return 0;
	}
	if (strcmp(what, "port-step") == 0) {
		if (sscanf(v, "%u%c", &lo, &tail) != 1 || lo < 1 || lo > CLASSIFY_MAX_STEP || v[0] == '-')
			return -EINVAL;
		b->port_step = (uint16_t)lo;
		return 0;
	}
	if (strcmp(what, "block-size") == 0) {
		if (sscanf(v, "%u%c", &lo, &tail) != 1 || lo < 1 || lo > 65535 || v[0] == '-')
			return -EINVAL;
		b->block_size = (uint16_t)lo;
		return 0;
	}
	if (strcmp(what, "port-range") != 0)
		return -EINVAL;
	if (sscanf(v, "%u-%u%c", &lo, &hi, &tail) != 2 || lo < 1 || hi > 65535 || lo > hi || v[0] == '-')
		return -EINVAL;
	b->port_min = (uint16_t)lo;
	b->port_max = (uint16_t)hi;
	return 0;
}

/* --- JSON ------------------------------------------------------------------ */

static json_object *addr_json(const struct addr *a)
{
	char buf[ADDR_STRLEN];

	return json_object_new_string(addr_fmt(a, buf, sizeof(buf)));
}

static json_object *mapped_json(const struct classify_mapped *m)
{
	return m->answered ? addr_json(&m->mapped) : NULL;
}

/* json_object_object_add() that keeps track of failure; a NULL value is JSON null. */
static void put(json_object *o, const char *key, json_object *v, bool *ok)
{
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		*ok = false;
	}
}

static json_object *str(const char *s, bool *ok)
{
	json_object *v = json_object_new_string(s);

	if (!v)
		*ok = false;
	return v;
}

json_object *classify_to_json(const struct classify_obs *obs, const struct classify_result *res)
{
	json_object *o = json_object_new_object(), *ob = json_object_new_object();
	json_object *map = json_object_new_object(), *samples = json_object_new_array();
	json_object *filt = json_object_new_object();
	bool ok = o && ob && map && samples && filt;
	int n = obs->n_samples > CLASSIFY_SAMPLES ? CLASSIFY_SAMPLES : obs->n_samples;

	if (!ok) {
		json_object_put(o);
		json_object_put(ob);
		json_object_put(map);
		json_object_put(samples);
		json_object_put(filt);
		return NULL;
	}
	put(o, "udp_blocked", json_object_new_boolean(res->udp_blocked), &ok);
	put(o, "nat", json_object_new_boolean(res->translated), &ok);
	put(o, "mapping", str(res->udp_blocked ? "unknown" : classify_mapping_name(res), &ok), &ok);
	put(o, "filtering", str(res->udp_blocked ? "unknown" : classify_filtering_name(res), &ok), &ok);
	put(o, "ports", str(res->udp_blocked ? "unknown" : classify_ports_name(res), &ok), &ok);
	put(o, "hairpin", str(classify_tri_name(res->hairpin), &ok), &ok);
	put(o, "inbound_reply", str(classify_inbound_reply_name(res), &ok), &ok);
	put(o, "port_preserving", json_object_new_boolean(res->port_preserving), &ok);
	put(o, "port_step", res->port_step ? json_object_new_int((int)res->port_step) : NULL, &ok);
	put(o, "allocated_ports", json_object_new_int(res->n_alloc), &ok);
	put(o, "allocated_lo", res->n_alloc ? json_object_new_int((int)res->alloc_lo) : NULL, &ok);
	put(o, "allocated_hi", res->n_alloc ? json_object_new_int((int)res->alloc_hi) : NULL, &ok);

	put(ob, "local", addr_json(&obs->mapping[CLASSIFY_A1P1].local), &ok);
	put(map, "a1p1", mapped_json(&obs->mapping[CLASSIFY_A1P1]), &ok);
	put(map, "a2p1", mapped_json(&obs->mapping[CLASSIFY_A2P1]), &ok);
	put(map, "a2p2", mapped_json(&obs->mapping[CLASSIFY_A2P2]), &ok);
	put(ob, "mapping", map, &ok);
	for (int i = 0; i < n; i++) {
		json_object *s = json_object_new_object();

		if (!s || json_object_array_add(samples, s) < 0) {
			json_object_put(s);
			ok = false;
			break;
		}
		put(s, "local", addr_json(&obs->samples[i].local), &ok);
		put(s, "mapped", mapped_json(&obs->samples[i]), &ok);
	}
	put(ob, "port_samples", samples, &ok);
	put(filt, "same", str(classify_tri_name(obs->filter_same), &ok), &ok);
	put(filt, "change_port", str(classify_tri_name(obs->filter_change_port), &ok), &ok);
	put(filt, "change_ip_port", str(classify_tri_name(obs->filter_change_ip_port), &ok), &ok);
	put(ob, "filtering", filt, &ok);
	put(ob, "hairpin", str(classify_tri_name(obs->hairpin), &ok), &ok);
	put(ob, "hairpin_from_mapped", json_object_new_boolean(obs->hairpin_from_mapped), &ok);
	put(ob, "reply_mapping", mapped_json(&obs->reply), &ok);
	put(o, "observations", ob, &ok);
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int classify_json_add_compare(json_object *o, const struct nat_behavior *declared, bool nat,
			      const struct classify_diff *diffs, int n)
{
	json_object *exp = json_object_new_object(), *arr = json_object_new_array();
	bool ok = exp && arr;

	if (!ok) {
		json_object_put(exp);
		json_object_put(arr);
		return -ENOMEM;
	}
	put(exp, "udp_blocked", json_object_new_boolean(declared->udp_blocked), &ok);
	put(exp, "nat", json_object_new_boolean(nat), &ok);
	put(exp, "mapping", str(nat_mapping_name(nat ? declared->mapping : MAP_NONE), &ok), &ok);
	put(exp, "filtering", str(nat_filtering_name(declared->filtering), &ok), &ok);
	put(exp, "ports", str(nat_ports_name(nat ? declared->ports : PORTS_PRESERVE), &ok), &ok);
	put(exp, "hairpin", str(yesno(declared->hairpin), &ok), &ok);
	for (int i = 0; i < n; i++) {
		json_object *d = json_object_new_object();

		if (!d || json_object_array_add(arr, d) < 0) {
			json_object_put(d);
			ok = false;
			break;
		}
		put(d, "property", str(diffs[i].property, &ok), &ok);
		put(d, "declared", str(diffs[i].declared, &ok), &ok);
		put(d, "observed", str(diffs[i].observed, &ok), &ok);
	}
	put(o, "expected", exp, &ok);
	put(o, "match", json_object_new_boolean(n == 0), &ok);
	put(o, "mismatches", arr, &ok);
	return ok ? 0 : -ENOMEM;
}
