/* libFuzzer harness for [programs] commands: any bytes must be either
 * refused by ph_check() with a message, or accepted and then expanded by
 * ph_argv() into a non-empty vector; never a crash, leak or hang. The two
 * must agree: what the parser accepts, the runner can start. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/placeholders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ph_values v;
	char *cmd = malloc(size + 1), **argv = NULL, err[512];
	int rc;

	if (!cmd)
		return 0;
	memcpy(cmd, data, size);
	cmd[size] = '\0'; /* a command is a C string: stop at the first NUL */
	for (int i = 0; i < PH_COUNT; i++)
		v.v[i] = ph_name(i); /* each value its own name: "{a}" -> "a" */
	rc = ph_check(cmd, PH_ALL_MASK, err, sizeof(err));
	if (rc < 0 && (rc != -EINVAL || !err[0]))
		abort();
	if (rc == 0) {
		if (ph_argv(cmd, &v, &argv, err, sizeof(err)) != 0 || !argv || !argv[0])
			abort();
		ph_argv_free(argv);
		argv = NULL;
		if (ph_env(&v, &argv) != 0 || !argv[PH_COUNT - 1] || argv[PH_COUNT])
			abort();
		ph_argv_free(argv);
	} else if (ph_argv(cmd, &v, &argv, err, sizeof(err)) == 0) {
		abort(); /* refused by the parser, accepted by the runner */
	}
	free(cmd);
	return 0;
}
