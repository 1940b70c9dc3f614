/* libFuzzer harness for reading punch-probe's report in the self-check: any
 * bytes give either a classification or -EBADMSG with a reason, never a
 * crash, a leak, an unterminated string, or "match" with differences; and
 * the short wait's evidence check (selfcheck_fast_proven) reads the same
 * bytes without a crash, proving nothing from a report without its counts;
 * and a knock's report (selfcheck_read_knock) is one of its four answers (a
 * reset from knock --tcp) or -EBADMSG; and tcp-classify's report
 * (selfcheck_read_tcp_report) is read or refused without a crash, leaves
 * terminated strings, and on -EBADMSG changes neither match nor the words. */
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
	{
		struct selfcheck_nat t;
		int absent = -1;

		memset(&t, 0, sizeof(t));
		t.match = true;
		rc = selfcheck_read_tcp_report(text, "eim/apdf", &t, &absent);
		if (rc != 0 && rc != -EBADMSG)
			abort();
		if (memchr(t.observed, '\0', sizeof(t.observed)) == NULL ||
		    memchr(t.differs, '\0', sizeof(t.differs)) == NULL ||
		    memchr(t.declared, '\0', sizeof(t.declared)) == NULL || memchr(t.why, '\0', sizeof(t.why)) == NULL)
			abort();
		if (rc != 0 && (!t.match || t.tcp_valid || t.observed[0] || t.differs[0]))
			abort();
		if (rc == 0 && (absent < 0 || absent > 2 || !t.tcp_valid))
			abort();
	}
	free(text);
	return 0;
}
