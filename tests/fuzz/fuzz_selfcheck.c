/* libFuzzer harness for reading punch-probe's report in the self-check: any
 * bytes give either a classification or -EBADMSG with a reason, never a
 * crash, a leak, an unterminated string, or "match" with differences; and
 * the short wait's evidence check (selfcheck_fast_proven) reads the same
 * bytes without a crash, proving nothing from a report without its counts;
 * and a knock's report (selfcheck_read_knock) is one of its four answers (a
 * reset from knock --tcp) or -EBADMSG. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "selfcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct selfcheck_nat e;
	char *text = malloc(size + 1);
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&e, 0x5a, sizeof(e)); /* no field may be read unset */
	e.report = NULL;
	rc = selfcheck_read_report(text, &e);
	if (rc != 0 && rc != -EBADMSG)
		abort();
	if (memchr(e.observed, '\0', sizeof(e.observed)) == NULL || memchr(e.differs, '\0', sizeof(e.differs)) == NULL)
		abort();
	if (rc == 0 && e.match && e.differs[0])
		abort();
	if (rc != 0 && memchr(e.why, '\0', sizeof(e.why)) == NULL)
		abort();
	if (!strstr(text, "absent_requests") && selfcheck_fast_proven(text, 0))
		abort();
	(void)selfcheck_fast_proven(text, UINT64_MAX);
	{
		enum selfcheck_unsolicited u = (enum selfcheck_unsolicited)-1;
		int sent = -1;

		rc = selfcheck_read_knock(text, &u, &sent);
		if (rc != 0 && rc != -EBADMSG)
			abort();
		if (rc == 0 && ((u != SELFCHECK_UNSOL_DROP && u != SELFCHECK_UNSOL_ICMP && u != SELFCHECK_UNSOL_ANSWERED &&
				  u != SELFCHECK_UNSOL_RST) ||
				sent < 0 || sent > 1000))
			abort();
	}
	free(text);
	return 0;
}
