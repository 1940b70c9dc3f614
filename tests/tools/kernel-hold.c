/* kernel-hold: build a small lab (namespaces a, r, b; veths a-r and r-b with
 * addresses and routes; forwarding and a ruleset with a counter in r), print
 * one line "ready PID:INODE PID:INODE PID:INODE" (each holder and its
 * namespace), then wait for EOF on stdin and exit - by default without any
 * cleanup, so that only the holders' death signal can clean up; with
 * --destroy, through netns_destroy(). tests/lab/kill9-cleanup.sh kills it
 * with SIGKILL instead and checks that nothing is left.
 *
 * --witness PATH: also create, in each namespace, a veth whose peer
 * "kh-N-PID" lives in the (existing) namespace at PATH. The kernel deletes
 * the pair when the namespace is dismantled, so the peers vanishing from
 * PATH proves the namespaces are really gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "kernel/link.h"
#include "kernel/netns.h"
#include "kernel/nft.h"

#define N 3

static const char ruleset[] =
	"table inet kh {\n"
	"	counter seen { }\n"
	"	chain forward {\n"
	"		type filter hook forward priority 0; policy accept;\n"
	"		counter name \"seen\"\n"
	"	}\n"
	"}\n";

static int check(int rc, const char *what, struct link_ctx *lc)
{
	if (rc < 0)
		log_errx("%s: %s%s%s", what, strerror(-rc), lc ? ": " : "", lc ? link_error(lc) : "");
	return rc;
}

int main(int argc, char **argv)
{
	static const char *const names[N] = { "kh-a", "kh-r", "kh-b" };
	struct netns *ns[N] = { NULL }, *witness = NULL;
	struct link_ctx *lc[N] = { NULL };
	const char *witness_path = NULL;
	bool destroy = false;
	char *errtext = NULL, buf[256];
	int status = 1;

	log_init("kernel-hold", LOG_LVL_WARN);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--destroy") == 0) {
			destroy = true;
		} else if (strcmp(argv[i], "--witness") == 0 && i + 1 < argc) {
			witness_path = argv[++i];
		} else {
			fprintf(stderr, "usage: kernel-hold [--witness NETNS-PATH] [--destroy]\n");
			return 2;
		}
	}
	if (geteuid() != 0 && netns_userns_enter(buf, sizeof(buf)) < 0) {
		log_errx("%s", buf);
		return 1;
	}
	if (witness_path && check(netns_open_path(witness_path, "witness", &witness), witness_path, NULL) < 0)
		goto cleanup;
	for (int i = 0; i < N; i++) {
		if (check(netns_create(names[i], &ns[i]), names[i], NULL) < 0 ||
		    check(link_open(ns[i], &lc[i]), names[i], NULL) < 0)
			goto cleanup;
	}
	if (check(link_veth(lc[1], "r-a", ns[0], "a-r"), "veth r-a", lc[1]) < 0 ||
	    check(link_veth(lc[1], "r-b", ns[2], "b-r"), "veth r-b", lc[1]) < 0 ||
	    check(link_addr(lc[0], "a-r", "192.0.2.2/24"), "addr", lc[0]) < 0 ||
	    check(link_addr(lc[1], "r-a", "192.0.2.1/24"), "addr", lc[1]) < 0 ||
	    check(link_addr(lc[1], "r-b", "198.51.100.1/24"), "addr", lc[1]) < 0 ||
	    check(link_addr(lc[2], "b-r", "198.51.100.2/24"), "addr", lc[2]) < 0 ||
	    check(link_up(lc[0], "a-r"), "up", lc[0]) < 0 ||
	    check(link_up(lc[1], "r-a"), "up", lc[1]) < 0 ||
	    check(link_up(lc[1], "r-b"), "up", lc[1]) < 0 ||
	    check(link_up(lc[2], "b-r"), "up", lc[2]) < 0 ||
	    check(link_route(lc[0], "default", "192.0.2.1", NULL), "route", lc[0]) < 0 ||
	    check(link_route(lc[2], "default", "198.51.100.1", NULL), "route", lc[2]) < 0 ||
	    check(netns_sysctl(ns[1], "net.ipv4.ip_forward", "1"), "sysctl", NULL) < 0)
		goto cleanup;
	if (nft_load(ns[1], ruleset, &errtext) < 0) {
		log_errx("nft: %s", errtext ? errtext : "failed");
		goto cleanup;
	}
	if (witness) {
		for (int i = 0; i < N; i++) {
			char peer[32];
			snprintf(peer, sizeof(peer), "kh-%d-%d", i, (int)getpid() % 100000);
			if (check(link_veth(lc[i], "w", witness, peer), "witness veth", lc[i]) < 0)
				goto cleanup;
		}
	}
	printf("ready");
	for (int i = 0; i < N; i++)
		printf(" %d:%lu", (int)netns_pid(ns[i]), netns_inode(ns[i]));
	printf("\n");
	fflush(stdout);

	while (fgets(buf, sizeof(buf), stdin) != NULL)
		;
	if (!destroy)
		_exit(0);       /* no cleanup at all: the holders' death signal must do it */
	status = 0;
cleanup:
	free(errtext);
	for (int i = 0; i < N; i++)
		link_close(lc[i]);
	for (int i = 0; i < N; i++)
		netns_destroy(ns[i]);
	netns_destroy(witness);
	return status;
}
