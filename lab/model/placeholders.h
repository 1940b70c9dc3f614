/* Placeholders of [programs] commands: what the lab tells a program under
 * test, as {words} in its command line and as PUNCHLAB_* environment
 * variables. Pure: validation at parse time (topo.c), expansion into an
 * argument vector and an environment when the runner starts each program.
 *
 * A command is split into words at blanks; '...' or "..." group a word
 * (no escapes inside; the quotes are removed). Placeholders are expanded
 * everywhere, inside quotes too, after splitting: a value never splits into
 * two words. No shell is involved: `sh -c '...'` is how to get one.
 */
#ifndef PUNCH_PLACEHOLDERS_H
#define PUNCH_PLACEHOLDERS_H

#include <stddef.h>

enum ph_id {
	PH_SERVER = 0,  /* the server's endpoint IP:PORT ([IPv6]:PORT) */
	PH_SERVER_IP,
	PH_SERVER_PORT,
	PH_SESSION,     /* an identifier both peers of the run share */
	PH_WORKDIR,     /* the scenario's own directory, made before setup runs */
	PH_DIR,         /* the directory of the topology (or matrix) file */
	PH_PEER,        /* per peer from here on: the name of this peer */
	PH_ROLE,        /* 1 for the first [peer], 2 for the second */
	PH_LOCAL_IP,    /* this peer's own address */
	PH_LOCAL_PORT,  /* the UDP port this peer should bind */
	PH_PEER_IP,     /* the other peer's public address */
	PH_PEER_PORT,   /* ... and its local port */
	PH_OTHER,       /* the other peer's name */
	PH_OTHER_ROLE,  /* ... and its role */
	PH_COUNT,
};

/* Which placeholders a command may use: the lab-wide ones (setup, server)
 * or all of them (client, program, check). */
#define PH_LAB_MASK ((1u << PH_PEER) - 1)
#define PH_ALL_MASK ((1u << PH_COUNT) - 1)

/* The values of one program's placeholders; NULL: not available. */
struct ph_values {
	const char *v[PH_COUNT];
};

/* The name of placeholder id ("server_ip"), or NULL. */
const char *ph_name(int id);

/* Validate a command: quotes balanced, at least one word, every {word} a
 * known placeholder allowed by mask. Returns 0, or -EINVAL with a message
 * ("unknown placeholder '{x}': expected {server} ...") in err. */
int ph_check(const char *cmd, unsigned mask, char *err, size_t errsize);

/* Split cmd into words and expand its placeholders from vals. Returns 0 and
 * a NULL-terminated vector (free with ph_argv_free), -EINVAL with err set
 * (a bad command, or a placeholder whose value is NULL), or -ENOMEM. */
int ph_argv(const char *cmd, const struct ph_values *vals, char ***out, char *err, size_t errsize);
void ph_argv_free(char **argv);

/* The environment entries for vals: "PUNCHLAB_SERVER_IP=203.0.113.10", one
 * per non-NULL value, the name upper-cased. Returns 0 and a NULL-terminated
 * vector (free with ph_argv_free), or -ENOMEM. */
int ph_env(const struct ph_values *vals, char ***out);

#endif
