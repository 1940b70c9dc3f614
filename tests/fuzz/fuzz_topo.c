/* libFuzzer harness for the topology parser: any bytes must give either a
 * model or a "name:line: message" error, never a crash, a leak or a hang. A
 * parsed model is also described, so topo_describe() sees fuzzed graphs. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/topo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct topo *t = NULL;
	char err[256];
	int rc;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	/* The name has no directory: rules = FILE is looked up in the working
	 * directory, read-only (stat), so fuzzing touches nothing. */
	rc = topo_parse_buffer("fuzz.topo", (const char *)data, size, &t, err, sizeof(err));
	if (rc == 0) {
		if (!t || t->n_peers != 2)
			abort();
		if (devnull)
			topo_describe(t, devnull);
		topo_free(t);
	} else {
		/* Every error names the file and a line. */
		if (t || (rc != -ENOMEM && strncmp(err, "fuzz.topo:", 10) != 0))
			abort();
	}
	return 0;
}
