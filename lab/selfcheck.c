/* The self-check: punch-probe against every router before a scenario. See selfcheck.h. */
#include "selfcheck.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/argv.h"
#include "common/log.h"
#include "common/mtime.h"
#include "kernel/build.h"
#include "model/nat.h"
#include "kernel/netns.h"
#include "kernel/run.h"

#define READY_MS 5000
/* A classification asks its questions one after the other; the slowest waits
 * out SELFCHECK_ABSENT_MS for each of a few absent answers. */
#define CLASSIFY_LIMIT_MS (24 * SELFCHECK_ABSENT_MS)

int selfcheck_expect_args(const struct topo_nat *nat, const char *out[9])
{
	const struct nat_behavior *b = &nat->behavior;
	int n = 0;

	out[n++] = "--expect-mapping";
	out[n++] = nat_mapping_name(nat->nat ? b->mapping : MAP_NONE);
	out[n++] = "--expect-filtering";
	out[n++] = nat_filtering_name(b->filtering);
	out[n++] = "--expect-ports";
	out[n++] = nat_ports_name(nat->nat ? b->ports : PORTS_PRESERVE);
	out[n++] = "--expect-hairpin";
	out[n++] = b->hairpin ? "yes" : "no";
	if (b->udp_blocked)
		out[n++] = "--expect-udp-blocked";
	return n;
}

void selfcheck_describe_declared(const struct topo_nat *nat, char *buf, size_t size)
{
	const struct nat_behavior *b = &nat->behavior;

	if (b->udp_blocked)
		snprintf(buf, size, "udp-blocked");
	else if (!nat->nat)
		snprintf(buf, size, "firewall %s", nat_filtering_name(b->filtering));
	else
		snprintf(buf, size, "%s %s %s hairpin=%s", nat_mapping_name(b->mapping),
			 nat_filtering_name(b->filtering), nat_ports_name(b->ports), b->hairpin ? "yes" : "no");
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int jbool(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
		return -1;
	return json_object_get_boolean(v);
}

int selfcheck_read_report(const char *json, struct selfcheck_nat *e)
{
	json_object *o = json ? json_tokener_parse(json) : NULL, *mis;
	const char *mapping, *filtering, *ports, *hairpin;
	int blocked, nat, match, rc = -EBADMSG;
	size_t len = 0;

	e->observed[0] = e->differs[0] = '\0';
	if (!o || !json_object_is_type(o, json_type_object))
		goto cleanup;
	mapping = jstr(o, "mapping");
	filtering = jstr(o, "filtering");
	ports = jstr(o, "ports");
	hairpin = jstr(o, "hairpin");
	blocked = jbool(o, "udp_blocked");
	nat = jbool(o, "nat");
	match = jbool(o, "match");
	if (!mapping || !filtering || !ports || !hairpin || blocked < 0 || nat < 0 || match < 0 ||
	    !json_object_object_get_ex(o, "mismatches", &mis) || !json_object_is_type(mis, json_type_array))
		goto cleanup;
	if (blocked)
		snprintf(e->observed, sizeof(e->observed), "udp-blocked");
	else if (!nat)
		snprintf(e->observed, sizeof(e->observed), "firewall %s", filtering);
	else
		snprintf(e->observed, sizeof(e->observed), "%s %s %s hairpin=%s", mapping, filtering, ports, hairpin);
	for (size_t i = 0; i < json_object_array_length(mis); i++) {
		json_object *d = json_object_array_get_idx(mis, i);
		const char *prop = jstr(d, "property"), *dec = jstr(d, "declared"), *obs = jstr(d, "observed");
		int w;

		if (!prop || !dec || !obs)
			goto cleanup;
		w = snprintf(e->differs + len, sizeof(e->differs) - len, "%s%s declared %s, observed %s",
			     len ? "; " : "", prop, dec, obs);
		if (w < 0 || (size_t)w >= sizeof(e->differs) - len) {
			e->differs[len] = '\0'; /* whole entries only: the report has the rest */
			break;
		}
		len += (size_t)w;
	}
	/* "match" and the list must agree, or this is not punch-probe talking */
	if ((match != 0) != (json_object_array_length(mis) == 0))
		goto cleanup;
	e->match = match;
	rc = 0;
cleanup:
	if (rc < 0)
		snprintf(e->why, sizeof(e->why), "punch-probe's report is not what it documents: %.180s",
			 json ? json : "(nothing)");
	json_object_put(o);
	return rc;
}


/* Where the probe server for router i runs: node and two addresses of the
 * family. -1 when the router above has no probe host. */
static int server_for(const struct topo *t, const struct plan *p, int i, int family, const char **ip,
		      const char **ip2)
{
	int up = t->nats[i].uplink, node = up < 0 ? p->server_node : plan_probe_node(p, up);

	if (node < 0)
		return -1;
	*ip = family == 6 ? p->nodes[node].ip6 : p->nodes[node].ip;
	*ip2 = family == 6 ? p->nodes[node].ip2_6 : p->nodes[node].ip2;
	return node;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

int selfcheck_run(const struct topo *t, const struct plan *p, struct lab *l, const char *bindir, bool verbose,
		  struct selfcheck **out, char *err, size_t errsize)
{
	struct selfcheck *sc = calloc(1, sizeof(*sc));
	struct run_group *g = NULL;
	struct run_proc **srv = NULL, **cls = NULL;
	mtime_ms start = mtime_now();
	struct argv_buf a;
	bool lossy = false;
	int rc = -ENOMEM;

	*out = NULL;
	err[0] = '\0';
	if (sc)
		sc->nats = calloc(2 * (size_t)t->n_nats + 1, sizeof(*sc->nats));
	srv = calloc(2 * (size_t)p->n_nodes, sizeof(*srv)); /* [2 * node + (IPv6)] */
	cls = calloc(2 * (size_t)t->n_nats + 1, sizeof(*cls));
	if (!sc || !sc->nats || !srv || !cls) {
		snprintf(err, errsize, "self-check: out of memory");
		goto cleanup;
	}
	sc->n = t->ipv6 ? 2 * t->n_nats : t->n_nats;
	rc = run_group_create(&g);
	if (rc < 0) {
		snprintf(err, errsize, "self-check: %s", strerror(-rc));
		goto cleanup;
	}

	/* Probe servers first: one per node that some router needs outside it. */
	for (int k = 0; k < sc->n; k++) {
		struct selfcheck_nat *e = &sc->nats[k];
		const char *ip = "", *ip2 = "";
		int i = k % t->n_nats, fam = k < t->n_nats ? 4 : 6, node = server_for(t, p, i, fam, &ip, &ip2);
		struct run_proc **sp;

		e->nat = i;
		e->family = fam;
		selfcheck_describe_declared(&t->nats[i], e->declared, sizeof(e->declared));
		if (t->nats[i].unchecked) {
			snprintf(e->why, sizeof(e->why), "self-check = no in the file");
			continue;
		}
		if (plan_probe_node(p, i) < 0 || node < 0) {
			snprintf(e->why, sizeof(e->why), "no room for a probe host on the LAN of %s",
				 plan_probe_node(p, i) < 0 ? t->nats[i].name : t->nats[t->nats[i].uplink].name);
			continue;
		}
		e->checked = true;
		sp = &srv[2 * node + (fam == 6)];
		if (*sp)
			continue;
		argv_init(&a);
		argv_add(&a, "%s/punch-probe", bindir);
		argv_add(&a, "server");
		argv_add(&a, "--listen");
		argv_add(&a, "%s", ip);
		argv_add(&a, "--listen2");
		argv_add(&a, "%s", ip2);
		argv_add(&a, "--port");
		argv_add(&a, "%u", SELFCHECK_PORT);
		argv_add(&a, "--port2");
		argv_add(&a, "%u", SELFCHECK_PORT2);
		argv_add(&a, "--ready-fd");
		argv_add(&a, "3");
		argv_add(&a, verbose ? "-v" : "-q");
		rc = a.overflow ? -E2BIG : run_add(g, p->nodes[node].name, netns_fd(lab_ns(l, node)), a.v, sp);
		if (rc == 0)
			rc = run_set_ready_fd(*sp, 3);
		if (rc == 0) {
			run_set_background(*sp, true);
			rc = run_start(g, *sp);
		}
		if (rc < 0) {
			snprintf(err, errsize, "self-check: starting the probe server on %s: %s", p->nodes[node].name,
				 strerror(-rc));
			goto cleanup;
		}
	}
	rc = run_release(g);
	for (int s = 0; rc >= 0 && s < 2 * p->n_nodes; s++) {
		if (!srv[s])
			continue;
		rc = run_wait_ready(g, srv[s], mtime_now() + READY_MS);
		if (rc < 0) {
			char how[256];

			snprintf(err, errsize, "self-check: the probe server on %s did not become ready: %s (%s) %s",
				 p->nodes[s / 2].name, strerror(-rc), run_describe(srv[s], how, sizeof(how)),
				 run_result(srv[s])->err);
			goto cleanup;
		}
	}
	if (rc < 0) {
		snprintf(err, errsize, "self-check: %s", strerror(-rc));
		goto cleanup;
	}

	for (int node = 0; node < p->n_nodes; node++)
		if (p->nodes[node].impair.loss_ppm)
			lossy = true;
	/* Then every classifier at once. */
	for (int k = 0; k < sc->n; k++) {
		const char *ip = "", *ip2 = "", *exp[9];
		int i = sc->nats[k].nat, fam = sc->nats[k].family, probe = plan_probe_node(p, i), n;

		if (!sc->nats[k].checked)
			continue;
		server_for(t, p, i, fam, &ip, &ip2);
		argv_init(&a);
		argv_add(&a, "%s/punch-probe", bindir);
		argv_add(&a, "classify");
		argv_add(&a, "--server");
		argv_add(&a, "%s", ip);
		argv_add(&a, "--server2");
		argv_add(&a, "%s", ip2);
		argv_add(&a, "--port");
		argv_add(&a, "%u", SELFCHECK_PORT);
		argv_add(&a, "--port2");
		argv_add(&a, "%u", SELFCHECK_PORT2);
		argv_add(&a, "--bind");
		argv_add(&a, "%s", fam == 6 ? p->nodes[probe].ip6 : p->nodes[probe].ip);
		argv_add(&a, "--hairpin-bind");
		argv_add(&a, "%s", fam == 6 ? p->nodes[probe].ip2_6 : p->nodes[probe].ip2);
		argv_add(&a, "--local-port");
		argv_add(&a, "%u", SELFCHECK_LOCAL_PORT);
		/* On a lossy lab, twice the wait and the requests: all of 5 round trips
		 * lost at 2% each way is 1e-7 per question, all of 10 is 1e-14. */
		argv_add(&a, "--timeout-ms");
		argv_add(&a, "%u", lossy ? 2 * SELFCHECK_ABSENT_MS : SELFCHECK_ABSENT_MS);
		argv_add(&a, "--tries");
		argv_add(&a, "%d", lossy ? 10 : 5);
		{
			/* A dual-stack NAT is, over IPv6, a firewall with its filtering. */
			struct topo_nat as6 = t->nats[i];

			if (fam == 6 && as6.nat) {
				as6.nat = false;
				as6.behavior.mapping = MAP_NONE;
				as6.behavior.ports = PORTS_PRESERVE;
			}
			n = selfcheck_expect_args(fam == 6 ? &as6 : &t->nats[i], exp);
		}
		for (int x = 0; x < n; x++)
			argv_add(&a, "%s", exp[x]);
		if (t->nats[i].nat && fam != 6) {
			/* the declared inbound-reply rule and port allocation, observed too */
			const struct nat_behavior *b = &t->nats[i].behavior;

			argv_add(&a, "--expect-inbound-reply");
			argv_add(&a, "%s", nat_inbound_reply_name(b->inbound_reply));
			if (b->port_step) {
				argv_add(&a, "--expect-port-step");
				argv_add(&a, "%u", b->port_step);
			}
			if (b->ports == PORTS_BLOCK && b->block_size) {
				argv_add(&a, "--expect-block-size");
				argv_add(&a, "%u", b->block_size);
			}
			if (b->port_min) {
				argv_add(&a, "--expect-port-range");
				argv_add(&a, "%u-%u", b->port_min, b->port_max);
			}
		}
		if (verbose)
			argv_add(&a, "-v");
		rc = a.overflow ? -E2BIG : run_add(g, p->nodes[probe].name, netns_fd(lab_ns(l, probe)), a.v, &cls[k]);
		if (rc == 0)
			rc = run_start(g, cls[k]);
		if (rc < 0) {
			snprintf(err, errsize, "self-check: starting the classifier on %s: %s", p->nodes[probe].name,
				 strerror(-rc));
			goto cleanup;
		}
	}
	rc = run_release(g);
	if (rc >= 0)
		rc = run_wait(g, mtime_now() + CLASSIFY_LIMIT_MS);
	if (rc < 0) {
		snprintf(err, errsize, "self-check: waiting for the classifiers: %s", strerror(-rc));
		goto cleanup;
	}
	for (int k = 0; k < sc->n; k++) {
		struct selfcheck_nat *e = &sc->nats[k];
		const struct run_result *r;
		char how[256];

		if (!cls[k])
			continue;
		r = run_result(cls[k]);
		e->report = r->out_len ? xstrdup(r->out) : NULL;
		if (r->exit_code != 0 && r->exit_code != 3) {
			const char *last = r->err ? r->err : "";
			size_t len = strlen(last);

			while (len && last[len - 1] == '\n')
				len--;
			snprintf(e->why, sizeof(e->why), "punch-probe %s: %.*s", run_describe(cls[k], how, sizeof(how)),
				 (int)(len > 160 ? 160 : len), len > 160 ? last + strlen(last) - 160 : last);
			continue;
		}
		if (selfcheck_read_report(e->report, e) < 0)
			continue;
		if (e->match != (r->exit_code == 0)) {
			snprintf(e->why, sizeof(e->why), "punch-probe exited %d but its report says match=%s",
				 r->exit_code, e->match ? "true" : "false");
			e->match = false;
		}
	}
	for (int s = 0; s < 2 * p->n_nodes; s++)
		if (srv[s])
			run_stop(g, srv[s]);
	sc->elapsed_ms = (int)(mtime_now() - start);
	*out = sc;
	sc = NULL;
	rc = 0;
cleanup:
	run_group_destroy(g);
	selfcheck_free(sc);
	free(srv);
	free(cls);
	return rc;
}

void selfcheck_free(struct selfcheck *sc)
{
	if (!sc)
		return;
	for (int i = 0; sc->nats && i < sc->n; i++)
		free(sc->nats[i].report);
	free(sc->nats);
	free(sc);
}

char *selfcheck_refusal(const struct topo *t, const struct selfcheck *sc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int bad = 0;

	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	for (int i = 0; i < sc->n; i++) {
		const struct selfcheck_nat *e = &sc->nats[i];
		const struct topo_nat *nat = &t->nats[e->nat];

		if (!e->checked)
			continue;
		const char *v6 = e->family == 6 ? " over IPv6" : "";

		if (e->why[0]) {
			fprintf(f, "%srouter %s (line %d)%s: could not be classified: %s", bad++ ? "\n" : "", nat->name,
				nat->line, v6, e->why);
		} else if (!e->match) {
			fprintf(f, "%srouter %s (line %d)%s does not behave as declared: %s (declared %s, observed %s)",
				bad++ ? "\n" : "", nat->name, nat->line, v6, e->differs, e->declared, e->observed);
		}
	}
	if (fclose(f) != 0 || !bad) {
		free(text);
		return NULL;
	}
	return text;
}
