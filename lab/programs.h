/* Programs under test ([programs]): a user's own server and peers run in the
 * lab in place of punch-server and punch-client.
 *
 * What the lab gives a program: its placeholders as arguments and as
 * PUNCHLAB_* environment variables (model/placeholders.h), the scenario's
 * work directory as its working directory, the lab's own programs first on
 * PATH. What it takes from it: whether the program succeeded, i.e. its exit
 * status, or that of the check run in each peer. Which path the data took
 * is not the program's to say: scenario.c judges that from the network.
 */
#ifndef PUNCH_PROGRAMS_H
#define PUNCH_PROGRAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "model/plan.h"
#include "common/mtime.h"
#include "report/result.h"

struct lab;
struct programs;

/* Whether the programs succeeded, and why not. */
struct programs_result {
	bool success;           /* both peers' programs (or checks) exited 0 in time */
	bool checked;           /* success came from a check run in both peers */
	mtime_ms started;       /* when the peers' programs were released (mtime_now()), 0 if never */
	char why[512];          /* on failure: which program, how it ended */
};

/* Does t run programs of its own (any of server, client, a peer's program)? */
bool programs_wanted(const struct topo *t);

/* Do t's peers speak punch's own protocol, i.e. run punch-client (the
 * built-in pair, or [programs] with only a server of the user's)? Then
 * RELAY messages can be told from other UDP by their type (witness.h). */
bool programs_speak_punch(const struct topo *t);

/* Check that every program exists, make the scenario's work directory
 * (named after session, the scenario's name in the protocol's alphabet) and
 * run the setup command in it (in our own network namespace, before the lab
 * exists). Returns 0 and *out, or -errno with what went wrong in err. */
int programs_prepare(const struct topo *t, const struct plan *p, const char *name, const char *bindir,
		     struct programs **out, char *err, size_t errsize);

/* Run the programs in lab l: the server (or punch-server) until ready, both
 * peers' programs, the check in each peer once both are ready; everything
 * ended by the time limit. Fills res->peers (exit code, -1 when a program
 * did not exit by itself; outcome NONE, since a program's word is not
 * taken; its stdout tail as the report, its stderr tail) and *out. Returns 0 when the programs ran (succeeded or not), or
 * -errno with res->error set when the scenario could not run them (a missing
 * binary, a server that never became ready). */
int programs_run(struct programs *pg, const struct topo *t, const struct plan *p, struct lab *l, bool verbose,
		 const char *session, struct result *res, struct programs_result *out);

/* Remove the work directory (unless keep) and free. NULL is fine. */
void programs_free(struct programs *pg, bool keep);

#endif
