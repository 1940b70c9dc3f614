/* One scenario result and its JSON codec. See result.h. */
#include "report/result.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "model/topo.h"
#include "report/textout.h"

static const char *const outcome_names[] = {
	[RESULT_NONE] = "none",         [RESULT_DIRECT] = "direct",     [RESULT_RELAYED] = "relayed",
	[RESULT_FAILED] = "failed",     [RESULT_MIXED] = "mixed",       [RESULT_UNPROVEN] = "unproven",
	[RESULT_ERROR] = "error",       [RESULT_UNKNOWN] = "unknown",
};

static const char *const verdict_names[] = {
	[VERDICT_PASS] = "pass", [VERDICT_FAIL] = "fail", [VERDICT_ERROR] = "error",
};

#define N_OUTCOMES (sizeof(outcome_names) / sizeof(outcome_names[0]))
#define N_VERDICTS (sizeof(verdict_names) / sizeof(verdict_names[0]))

const char *result_outcome_name(enum result_outcome o)
{
	return (unsigned)o < N_OUTCOMES ? outcome_names[o] : "unknown";
}

const char *result_verdict_name(enum result_verdict v)
{
	return (unsigned)v < N_VERDICTS ? verdict_names[v] : "error";
}

enum result_outcome result_outcome_parse(const char *s)
{
	for (size_t i = 0; s && i < N_OUTCOMES; i++)
		if (strcmp(s, outcome_names[i]) == 0)
			return (enum result_outcome)i;
	return RESULT_UNKNOWN;
}

enum result_outcome result_outcome_of(enum outcome o)
{
	switch (o) {
	case OUTCOME_DIRECT: return RESULT_DIRECT;
	case OUTCOME_RELAYED: return RESULT_RELAYED;
	case OUTCOME_FAILED: return RESULT_FAILED;
	default: return RESULT_NONE;
	}
}

const char *result_expected_name(const struct result *r)
{
	return r->expected == OUTCOME_UNSET ? "" : result_outcome_name(result_outcome_of(r->expected));
}

int result_set_error(struct result *r, const char *name, const char *file, const char *error)
{
	memset(r, 0, sizeof(*r));
	r->name = name ? strdup(name) : NULL;
	r->file = file ? strdup(file) : NULL;
	r->error = strdup(error ? error : "unknown error");
	r->actual = RESULT_ERROR;
	r->verdict = VERDICT_ERROR;
	return (name && !r->name) || (file && !r->file) || !r->error ? -ENOMEM : 0;
}

void result_behavior_describe(const struct result_behavior *b, char *buf, size_t size)
{
	const char *m = b->mapping < 0 ? "unknown" : nat_mapping_name((enum nat_mapping)b->mapping);
	const char *f = b->filtering < 0 ? "unknown" : nat_filtering_name((enum nat_filtering)b->filtering);
	const char *p = b->ports < 0 ? "unknown" : nat_ports_name((enum nat_ports)b->ports);
	const char *h = b->hairpin < 0 ? "unknown" : b->hairpin ? "yes" : "no";

	if (b->udp_blocked)
		snprintf(buf, size, "udp-blocked");
	else if (!b->nat)
		snprintf(buf, size, "firewall %s", f ? f : "?");
	else
		snprintf(buf, size, "%s %s %s hairpin=%s", m ? m : "?", f ? f : "?", p ? p : "?", h);
}

void result_evidence_clear(struct result_evidence *e)
{
	free(e->explanation);
	json_object_put(e->detail);
	memset(e, 0, sizeof(*e));
}

void result_clear(struct result *r)
{
	free(r->name);
	free(r->file);
	free(r->description);
	free(r->error);
	free(r->detail);
	free(r->routers);
	free(r->conntrack);
	result_evidence_clear(&r->evidence);
	for (int k = 0; k < 2; k++) {
		json_object_put(r->peers[k].report);
		free(r->peers[k].stderr_tail);
	}
	memset(r, 0, sizeof(*r));
}

/* ---- encoding ------------------------------------------------------------ */

/* Bytes as they come, but invalid UTF-8 replaced: json-c writes a string's
 * bytes as they are, and a report must stay valid JSON text. */
static void put_valid(FILE *f, uint32_t cp, const unsigned char *bytes, size_t len, bool last, void *ctx)
{
	(void)last;
	(void)ctx;
	if (cp == TEXT_INVALID)
		fputs(TEXT_REPLACEMENT, f);
	else
		fwrite(bytes, 1, len, f);
}

/* A JSON string from arbitrary bytes; NULL gives NULL (JSON null). */
static struct json_object *jstr(const char *s)
{
	struct json_object *o = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!s)
		return NULL;
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	text_walk(f, s, put_valid, NULL);
	if (fclose(f) == 0)
		o = json_object_new_string_len(buf, (int)len);
	free(buf);
	return o;
}

/* Seconds rounded to milliseconds, written as such rather than as the
 * nearest double's 17 digits. */
static struct json_object *jseconds(double secs)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.3f", secs);
	return json_object_new_double_s(secs, buf);
}

/* Adds val under key; an add that fails has still taken val. */
static int jadd(struct json_object *obj, const char *key, struct json_object *val)
{
	return json_object_object_add(obj, key, val) == 0 ? 0 : -ENOMEM;
}

static struct json_object *jname(const char *name)
{
	return json_object_new_string(name ? name : "unknown");
}

static struct json_object *jbehavior(const struct result_behavior *b)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (jadd(o, "nat", json_object_new_boolean(b->nat)) ||
	    jadd(o, "udp_blocked", json_object_new_boolean(b->udp_blocked)) ||
	    jadd(o, "mapping", jname(b->mapping < 0 ? NULL : nat_mapping_name((enum nat_mapping)b->mapping))) ||
	    jadd(o, "filtering",
		 jname(b->filtering < 0 ? NULL : nat_filtering_name((enum nat_filtering)b->filtering))) ||
	    jadd(o, "ports", jname(b->ports < 0 ? NULL : nat_ports_name((enum nat_ports)b->ports))) ||
	    jadd(o, "hairpin", b->hairpin < 0 ? NULL : json_object_new_boolean(b->hairpin))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *jrouter(const struct result_router *rt)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (jadd(o, "name", jstr(rt->name)) || jadd(o, "family", json_object_new_int(rt->family)) ||
	    jadd(o, "checked", json_object_new_boolean(rt->checked)) ||
	    jadd(o, "match", json_object_new_boolean(rt->match)) ||
	    jadd(o, "declared", jbehavior(&rt->declared)) ||
	    jadd(o, "observed", rt->observed_valid ? jbehavior(&rt->observed) : NULL) ||
	    jadd(o, "note", jstr(rt->note))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *jselfcheck(const struct result *r)
{
	struct json_object *a;

	if (!r->selfcheck_ran)
		return NULL;
	a = json_object_new_array();
	for (int i = 0; a && i < r->n_routers; i++) {
		struct json_object *o = jrouter(&r->routers[i]);

		if (!o || json_object_array_add(a, o)) {
			json_object_put(o);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

/* One peer's counts, named like the result's peer k. */
static struct json_object *jevidence_peer(const struct result *r, int k)
{
	const struct result_evidence_peer *ep = &r->evidence.peers[k];
	struct json_object *o = json_object_new_object();

	if (o && (jadd(o, "name", jstr(r->peers[k].name)) ||
		  jadd(o, "from_partner", json_object_new_uint64(ep->from_partner)) ||
		  jadd(o, "from_server", json_object_new_uint64(ep->from_server)) ||
		  jadd(o, "relayed", json_object_new_uint64(ep->relayed)) ||
		  jadd(o, "sent_to_partner", json_object_new_uint64(ep->sent_to_partner)) ||
		  jadd(o, "endpoint", jstr(ep->endpoint[0] ? ep->endpoint : NULL)))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *jevidence(const struct result *r)
{
	const struct result_evidence *e = &r->evidence;
	struct json_object *o, *peers;

	if (!e->counted)
		return NULL;
	o = json_object_new_object();
	peers = json_object_new_array();
	if (!o || !peers || jadd(o, "verdict", json_object_new_string(result_outcome_name(e->verdict))))
		goto fail;
	for (int k = 0; k < 2; k++) {
		struct json_object *po = jevidence_peer(r, k);

		if (!po || json_object_array_add(peers, po)) {
			json_object_put(po);
			goto fail;
		}
	}
	if (jadd(o, "peers", peers)) {
		peers = NULL;
		goto fail;
	}
	peers = NULL;
	if (jadd(o, "explanation", jstr(e->explanation)) || jadd(o, "detail", json_object_get(e->detail)))
		goto fail;
	return o;
fail:
	json_object_put(peers);
	json_object_put(o);
	return NULL;
}

static struct json_object *jpeers(const struct result *r)
{
	struct json_object *a = json_object_new_array();

	for (size_t k = 0; a && k < 2; k++) {
		const struct result_peer *p = &r->peers[k];
		struct json_object *po;

		if (!p->name[0])
			continue;
		po = json_object_new_object();
		if (!po || json_object_array_add(a, po)) {
			json_object_put(po);
			goto fail;
		}
		if (jadd(po, "name", jstr(p->name)) ||
		    jadd(po, "outcome", json_object_new_string(result_outcome_name(p->outcome))) ||
		    jadd(po, "exit_code", json_object_new_int(p->exit_code)) ||
		    jadd(po, "report", json_object_get(p->report)) ||
		    jadd(po, "stderr_tail", jstr(p->stderr_tail)))
			goto fail;
	}
	return a;
fail:
	json_object_put(a);
	return NULL;
}

struct json_object *result_to_object(const struct result *r)
{
	struct json_object *o = json_object_new_object(), *v;
	const char *expected = result_expected_name(r);

	if (!o)
		return NULL;
	if (jadd(o, "name", jstr(text_str(r->name))) || jadd(o, "file", jstr(r->file)) ||
	    jadd(o, "description", jstr(r->description)) ||
	    jadd(o, "expected", *expected ? json_object_new_string(expected) : NULL) ||
	    jadd(o, "actual", json_object_new_string(result_outcome_name(r->actual))) ||
	    jadd(o, "verdict", json_object_new_string(result_verdict_name(r->verdict))) ||
	    jadd(o, "pass", json_object_new_boolean(r->verdict == VERDICT_PASS)) ||
	    jadd(o, "error", jstr(r->error)) || jadd(o, "detail", jstr(r->detail)))
		goto fail;
	v = jselfcheck(r);
	if ((r->selfcheck_ran && !v) || jadd(o, "selfcheck", v))
		goto fail;
	v = jevidence(r);
	if ((r->evidence.counted && !v) || jadd(o, "evidence", v))
		goto fail;
	if (jadd(o, "seed", json_object_new_uint64(r->seed)) || jadd(o, "conntrack", jstr(r->conntrack)) ||
	    jadd(o, "seconds", jseconds(r->seconds)))
		goto fail;
	v = jpeers(r);
	if (!v || jadd(o, "peers", v))
		goto fail;
	if (jadd(o, "repetition", r->repetition > 0 ? json_object_new_int(r->repetition) : NULL) ||
	    jadd(o, "expect_rate", r->expect_rate > 0 ? json_object_new_double(r->expect_rate) : NULL))
		goto fail;
	return o;
fail:
	json_object_put(o);
	return NULL;
}

char *result_to_json(const struct result *r)
{
	struct json_object *o = result_to_object(r);
	char *s = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE)) : NULL;

	json_object_put(o);
	return s;
}

struct json_object *result_peer_report(const char *text)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t len;

	if (!text)
		return NULL;
	len = strlen(text);
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r' ||
		       text[len - 1] == '\t'))
		len--;
	if (len > INT32_MAX)
		return jstr(text);
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = jstr(text);
	}
	json_tokener_free(tok);
	return o;
}

enum result_outcome result_peer_outcome(struct json_object *report)
{
	struct json_object *v;

	if (!report || !json_object_is_type(report, json_type_object) ||
	    !json_object_object_get_ex(report, "outcome", &v) || !json_object_is_type(v, json_type_string))
		return RESULT_NONE;
	return result_outcome_parse(json_object_get_string(v));
}

const char *result_peer_report_text(const struct result_peer *p)
{
	if (!p->report)
		return NULL;
	if (json_object_is_type(p->report, json_type_string))
		return json_object_get_string(p->report);
	return json_object_to_json_string_ext(p->report, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- decoding ------------------------------------------------------------ */

/* The value of key when it has type t; NULL when absent or null. Sets *bad
 * when present with another type. */
static struct json_object *jget(struct json_object *o, const char *key, enum json_type t, bool *bad)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	if (!json_object_is_type(v, t)) {
		*bad = true;
		return NULL;
	}
	return v;
}

static char *jdup(struct json_object *o, const char *key, bool *bad)
{
	struct json_object *v = jget(o, key, json_type_string, bad);
	char *s;

	if (!v)
		return NULL;
	s = strdup(json_object_get_string(v));
	if (!s)
		*bad = true;
	return s;
}

static void jcopy(struct json_object *o, const char *key, char *buf, size_t size, bool *bad)
{
	struct json_object *v = jget(o, key, json_type_string, bad);

	buf[0] = '\0';
	if (v && snprintf(buf, size, "%s", json_object_get_string(v)) >= (int)size)
		*bad = true;
}

static bool jbool(struct json_object *o, const char *key, bool *bad)
{
	struct json_object *v = jget(o, key, json_type_boolean, bad);

	return v && json_object_get_boolean(v);
}

static int64_t jint(struct json_object *o, const char *key, bool *bad)
{
	struct json_object *v = jget(o, key, json_type_int, bad);

	return v ? json_object_get_int64(v) : 0;
}

/* A short name through parse, -1 for "unknown"; anything else is bad. */
static int jword(struct json_object *o, const char *key, int (*parse)(const char *), bool *bad)
{
	struct json_object *v = jget(o, key, json_type_string, bad);
	int x;

	if (!v || strcmp(json_object_get_string(v), "unknown") == 0)
		return -1;
	x = parse(json_object_get_string(v));
	if (x < 0)
		*bad = true;
	return x;
}

static void behavior_from(struct json_object *o, struct result_behavior *b, bool *bad)
{
	struct json_object *h;

	if (!o) {
		*bad = true;
		return;
	}
	b->nat = jbool(o, "nat", bad);
	b->udp_blocked = jbool(o, "udp_blocked", bad);
	b->mapping = jword(o, "mapping", nat_mapping_parse, bad);
	b->filtering = jword(o, "filtering", nat_filtering_parse, bad);
	b->ports = jword(o, "ports", nat_ports_parse, bad);
	h = jget(o, "hairpin", json_type_boolean, bad);
	b->hairpin = h ? json_object_get_boolean(h) : -1;
}

static int selfcheck_from(struct json_object *a, struct result *r, bool *bad)
{
	size_t n = json_object_array_length(a);

	r->selfcheck_ran = true;
	if (n == 0)
		return 0;
	if (n > 4096) {
		*bad = true;
		return 0;
	}
	r->routers = calloc(n, sizeof(*r->routers));
	if (!r->routers)
		return -ENOMEM;
	r->n_routers = (int)n;
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i), *obs;
		struct result_router *rt = &r->routers[i];

		if (!json_object_is_type(o, json_type_object)) {
			*bad = true;
			return 0;
		}
		jcopy(o, "name", rt->name, sizeof(rt->name), bad);
		rt->family = (int)jint(o, "family", bad);
		rt->checked = jbool(o, "checked", bad);
		rt->match = jbool(o, "match", bad);
		behavior_from(jget(o, "declared", json_type_object, bad), &rt->declared, bad);
		obs = jget(o, "observed", json_type_object, bad);
		rt->observed_valid = obs != NULL;
		if (obs)
			behavior_from(obs, &rt->observed, bad);
		jcopy(o, "note", rt->note, sizeof(rt->note), bad);
	}
	return 0;
}

static uint64_t jcount(struct json_object *o, const char *key, bool *bad)
{
	int64_t n = jint(o, key, bad);

	if (n < 0)
		*bad = true;
	return n < 0 ? 0 : (uint64_t)n;
}

static void evidence_from(struct json_object *o, struct result_evidence *e, bool *bad)
{
	struct json_object *v, *peers;

	e->counted = true;
	v = jget(o, "verdict", json_type_string, bad);
	e->verdict = v ? result_outcome_parse(json_object_get_string(v)) : RESULT_NONE;
	if (e->verdict != RESULT_DIRECT && e->verdict != RESULT_RELAYED && e->verdict != RESULT_FAILED &&
	    e->verdict != RESULT_UNPROVEN)
		*bad = true;
	peers = jget(o, "peers", json_type_array, bad);
	if (!peers || json_object_array_length(peers) != 2) {
		*bad = true;
		return;
	}
	for (size_t k = 0; k < 2; k++) {
		struct json_object *p = json_object_array_get_idx(peers, k);
		struct result_evidence_peer *ep = &e->peers[k];

		if (!json_object_is_type(p, json_type_object)) {
			*bad = true;
			return;
		}
		ep->from_partner = jcount(p, "from_partner", bad);
		ep->from_server = jcount(p, "from_server", bad);
		ep->relayed = jcount(p, "relayed", bad);
		ep->sent_to_partner = jcount(p, "sent_to_partner", bad);
		jcopy(p, "endpoint", ep->endpoint, sizeof(ep->endpoint), bad);
	}
	e->explanation = jdup(o, "explanation", bad);
	if ((v = jget(o, "detail", json_type_object, bad)) != NULL)
		e->detail = json_object_get(v);
}

static void peers_from(struct json_object *a, struct result *r, bool *bad)
{
	for (size_t k = 0; k < 2 && k < json_object_array_length(a); k++) {
		struct json_object *p = json_object_array_get_idx(a, k), *v;
		struct result_peer *rp = &r->peers[k];

		if (!json_object_is_type(p, json_type_object)) {
			*bad = true;
			return;
		}
		jcopy(p, "name", rp->name, sizeof(rp->name), bad);
		v = jget(p, "outcome", json_type_string, bad);
		rp->outcome = v ? result_outcome_parse(json_object_get_string(v)) : RESULT_NONE;
		rp->exit_code = (int)jint(p, "exit_code", bad);
		if (json_object_object_get_ex(p, "report", &v) && v) {
			if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_string))
				rp->report = json_object_get(v);
			else
				*bad = true;
		}
		rp->stderr_tail = jdup(p, "stderr_tail", bad);
	}
}

/* Required words: actual and verdict must be ours, expected one of the three or null. */
static void words_from(struct json_object *o, struct result *r, bool *bad)
{
	struct json_object *v;
	const char *s;

	v = jget(o, "actual", json_type_string, bad);
	r->actual = v ? result_outcome_parse(json_object_get_string(v)) : RESULT_UNKNOWN;
	if (!v || (r->actual == RESULT_UNKNOWN && strcmp(json_object_get_string(v), "unknown") != 0))
		*bad = true;
	v = jget(o, "verdict", json_type_string, bad);
	s = v ? json_object_get_string(v) : "";
	if (strcmp(s, "pass") == 0)
		r->verdict = VERDICT_PASS;
	else if (strcmp(s, "fail") == 0)
		r->verdict = VERDICT_FAIL;
	else if (strcmp(s, "error") == 0)
		r->verdict = VERDICT_ERROR;
	else
		*bad = true;
	v = jget(o, "expected", json_type_string, bad);
	if (v && (topo_outcome_parse(json_object_get_string(v), &r->expected) < 0 ||
		  r->expected == OUTCOME_UNSET))
		*bad = true;
}

/* The optional repetition (1..1000000) and expect_rate (0, 1]. */
static void repeat_from(struct json_object *o, struct result *r, bool *bad)
{
	struct json_object *v;

	if ((v = jget(o, "repetition", json_type_int, bad)) != NULL) {
		int64_t k = json_object_get_int64(v);

		if (k < 1 || k > 1000000)
			*bad = true;
		else
			r->repetition = (int)k;
	}
	if (json_object_object_get_ex(o, "expect_rate", &v) && v) {
		double x = json_object_get_double(v);

		if (!(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) ||
		    !(x > 0 && x <= 1))
			*bad = true;
		else
			r->expect_rate = x;
	}
}

int result_from_object(struct json_object *o, struct result *r)
{
	struct json_object *v;
	bool bad = false;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (!json_object_is_type(o, json_type_object))
		return -EBADMSG;
	r->name = jdup(o, "name", &bad);
	r->file = jdup(o, "file", &bad);
	r->description = jdup(o, "description", &bad);
	r->error = jdup(o, "error", &bad);
	r->detail = jdup(o, "detail", &bad);
	words_from(o, r, &bad);
	if ((v = jget(o, "selfcheck", json_type_array, &bad)) != NULL)
		rc = selfcheck_from(v, r, &bad);
	if ((v = jget(o, "evidence", json_type_object, &bad)) != NULL)
		evidence_from(v, &r->evidence, &bad);
	if ((v = jget(o, "seed", json_type_int, &bad)) != NULL)
		r->seed = json_object_get_uint64(v);
	r->conntrack = jdup(o, "conntrack", &bad);
	if (json_object_object_get_ex(o, "seconds", &v) && v) {
		if (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int))
			r->seconds = json_object_get_double(v);
		else
			bad = true;
	}
	if ((v = jget(o, "peers", json_type_array, &bad)) != NULL)
		peers_from(v, r, &bad);
	repeat_from(o, r, &bad);
	if (!r->name || (r->verdict == VERDICT_ERROR) != (r->error != NULL))
		bad = true;
	if (rc == 0 && bad)
		rc = -EBADMSG;
	if (rc < 0)
		result_clear(r);
	return rc;
}

int result_from_json(const char *text, size_t len, struct result *r)
{
	struct json_tokener *tok;
	struct json_object *o;
	int rc = -EBADMSG;

	memset(r, 0, sizeof(*r));
	if (!text || len > INT32_MAX)
		return -EBADMSG;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == len)
		rc = result_from_object(o, r);
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}
