/* natgen: print the router ruleset lab/model/nat.c generates for a behaviour.
 *
 *   natgen --mapping eim --filtering apdf --ports preserve [--hairpin] [--udp-blocked]
 *          [--timeout-ms N] --wan-ip 203.0.113.20 --lan-net 10.0.1.0/24
 *          [--wan-ip6 2001:db8::20 --lan-net6 2001:db8:1::/64] [--wan-if wan0] [--lan-if lan0]
 *          [--seed N] [--router NAME] [--port-range LO-HI] [--port-step N] [--port-start N]
 *          [--inbound-reply session|new-mapping] [--block-size N] [--icmp-unreachable]
 *          [--tcp-mapping M] [--tcp-filtering F] [--tcp-unsolicited drop|rst|icmp]
 *          [--tcp-timeout-ms N] [--tcp-transitory-ms N]
 *
 * The router's seed is nat_router_seed(--seed, --router), as punchlab makes it.
 *
 * --mapping none means no translation (a firewall, or an open router with
 * --filtering open). Exit status: 0 printed, 2 the combination cannot be built
 * (the reason on stderr), 1 a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/num.h"
#include "model/nat.h"

static void usage(void)
{
	fprintf(stderr, "usage: natgen --mapping none|eim|adm|apdm --filtering open|eif|adf|apdf\n"
		"              [--ports preserve|random|sequential|block] [--hairpin] [--udp-blocked]\n"
		"              [--timeout-ms N] [--wan-if IF] [--lan-if IF] [--wan-ip A] [--lan-net N]\n"
		"              [--wan-ip6 A] [--lan-net6 N] [--seed N] [--router NAME]\n"
		"              [--port-range LO-HI] [--port-step N] [--port-start N]\n"
		"              [--inbound-reply session|new-mapping] [--block-size N] [--icmp-unreachable]\n"
		"              [--tcp-mapping M] [--tcp-filtering F] [--tcp-unsolicited drop|rst|icmp]\n"
		"              [--tcp-timeout-ms N] [--tcp-transitory-ms N]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mapping", required_argument, NULL, 'm' },
		{ "filtering", required_argument, NULL, 'f' },
		{ "ports", required_argument, NULL, 'p' },
		{ "hairpin", no_argument, NULL, 'H' },
		{ "udp-blocked", no_argument, NULL, 'U' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "wan-if", required_argument, NULL, 'w' },
		{ "lan-if", required_argument, NULL, 'l' },
		{ "wan-ip", required_argument, NULL, 'a' },
		{ "lan-net", required_argument, NULL, 'n' },
		{ "wan-ip6", required_argument, NULL, 'A' },
		{ "lan-net6", required_argument, NULL, 'N' },
		{ "seed", required_argument, NULL, 's' },
		{ "router", required_argument, NULL, 'r' },
		{ "port-range", required_argument, NULL, 'R' },
		{ "port-step", required_argument, NULL, 'S' },
		{ "port-start", required_argument, NULL, 'B' },
		{ "inbound-reply", required_argument, NULL, 'I' },
		{ "block-size", required_argument, NULL, 'K' },
		{ "icmp-unreachable", no_argument, NULL, 'C' },
		{ "tcp-mapping", required_argument, NULL, 'M' },
		{ "tcp-filtering", required_argument, NULL, 'F' },
		{ "tcp-unsolicited", required_argument, NULL, 'Q' },
		{ "tcp-timeout-ms", required_argument, NULL, 'T' },
		{ "tcp-transitory-ms", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nat_behavior b = { .mapping = MAP_NONE, .filtering = FILTER_APDF, .ports = PORTS_PRESERVE };
	struct nat_ifaces ifc = { .wan_if = "wan0", .lan_if = "lan0" };
	char err[256];
	char *text = NULL;
	int c, v, ret;
	unsigned long long seed = 0;
	const char *router = "router";
	unsigned long num;
	unsigned lo, hi;
	char tail;

	log_init("natgen", LOG_LVL_INFO);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if ((v = nat_mapping_parse(optarg)) < 0)
				goto bad;
			b.mapping = (enum nat_mapping)v;
			break;
		case 'f':
			if ((v = nat_filtering_parse(optarg)) < 0)
				goto bad;
			b.filtering = (enum nat_filtering)v;
			break;
		case 'p':
			if ((v = nat_ports_parse(optarg)) < 0)
				goto bad;
			b.ports = (enum nat_ports)v;
			break;
		case 'H':
			b.hairpin = true;
			break;
		case 'U':
			b.udp_blocked = true;
			break;
		case 't':
		case 'T':
		case 'X':
			if (num_parse_uint(optarg, UINT32_MAX, &num) < 0)
				goto bad;
			*(c == 't' ? &b.udp_timeout_ms : c == 'T' ? &b.tcp_timeout_ms : &b.tcp_transitory_ms) =
				(uint32_t)num;
			break;
		case 'M':
			if ((v = nat_mapping_parse(optarg)) < 0)
				goto bad;
			b.tcp_mapping_own = true;
			b.tcp_mapping = (enum nat_mapping)v;
			break;
		case 'F':
			if ((v = nat_filtering_parse(optarg)) < 0)
				goto bad;
			b.tcp_filtering_own = true;
			b.tcp_filtering = (enum nat_filtering)v;
			break;
		case 'Q':
			if ((v = nat_tcp_unsolicited_parse(optarg)) < 0)
				goto bad;
			b.tcp_unsolicited = (enum nat_tcp_unsolicited)v;
			break;
		case 'w': ifc.wan_if = optarg; break;
		case 'l': ifc.lan_if = optarg; break;
		case 'a': ifc.wan_ip = optarg; break;
		case 'n': ifc.lan_net = optarg; break;
		case 'A': ifc.wan_ip6 = optarg; break;
		case 'N': ifc.lan_net6 = optarg; break;
		case 's':
			if (num_parse_uint(optarg, ULONG_MAX, &num) < 0)
				goto bad;
			seed = num;
			break;
		case 'r': router = optarg; break;
		case 'I':
			if ((v = nat_inbound_reply_parse(optarg)) < 0)
				goto bad;
			b.inbound_reply = (enum nat_inbound_reply)v;
			break;
		case 'R':
			if (sscanf(optarg, "%u-%u%c", &lo, &hi, &tail) != 2 || lo > 65535 || hi > 65535)
				goto bad;
			b.port_min = (uint16_t)lo;
			b.port_max = (uint16_t)hi;
			break;
		case 'C':
			b.icmp_unreachable = true;
			break;
		case 'K':
			if (num_parse_uint(optarg, 65535, &num) < 0)
				goto bad;
			b.block_size = (uint16_t)num;
			break;
		case 'S':
		case 'B':
			if (num_parse_uint(optarg, 65535, &num) < 0)
				goto bad;
			*(c == 'S' ? &b.port_step : &b.port_start) = (uint16_t)num;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 1;
		}
	}
	if (optind != argc) {
		usage();
		return 1;
	}
	ifc.seed = nat_router_seed(seed, router);
	ret = nat_ruleset(&b, b.mapping != MAP_NONE, &ifc, &text, err, sizeof(err));
	if (ret == -EINVAL) {
		log_warnx("cannot build: %s", err);
		return 2;
	}
	if (ret < 0) {
		errno = -ret;
		log_warn("nat_ruleset");
		return 1;
	}
	fputs(text, stdout);
	free(text);
	return fflush(stdout) == 0 ? 0 : 1;
bad:
	log_warnx("bad value for -%c: \"%s\"", c, optarg);
	usage();
	return 1;
}
