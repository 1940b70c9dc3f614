/* libFuzzer harness for the result codec (report/result.h), which reads a
 * worker's pipe and, later, report files: any bytes give a result or
 * -EBADMSG, never a crash or a leak; a result that decodes encodes again
 * and decodes to the same verdict and outcomes (the codec is its own
 * inverse on what it accepts). The same bytes go to the reader of a whole
 * --json report (report_json_read). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "report/result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result r, again, *list = NULL;
	size_t n = 0;
	char *text;
	int rc = report_json_read((const char *)data, size, &list, &n);

	/* the same bytes as a whole --json report */
	if (rc != 0 && rc != -EBADMSG && rc != -ENOMEM)
		abort();
	if (rc != 0 && (list || n))
		abort();
	report_results_free(list, n);
	rc = result_from_json((const char *)data, size, &r);

	if (rc == -EBADMSG || rc == -ENOMEM) {
		if (r.name || r.routers)
			abort(); /* refused input leaves nothing behind */
		return 0;
	}
	if (rc != 0)
		abort();
	text = result_to_json(&r);
	if (text) {
		if (result_from_json(text, strlen(text), &again) != 0 || again.verdict != r.verdict ||
		    again.actual != r.actual || again.expected != r.expected || again.n_routers != r.n_routers)
			abort();
		result_clear(&again);
		free(text);
	}
	result_clear(&r);
	return 0;
}
