/* libFuzzer harness for reading the evidence back: nft's text answer to
 * "list set" (evidence_parse_set). Any bytes give a result or an error code,
 * never a crash, a leak, an unterminated key, or more keys than a key holds;
 * and each element expanded as a delivery of every kind gives six keys or none.
 * (A worker hands its evidence over inside its result: fuzz_result.) */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/evidence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evidence_elem *v = NULL;
	char *text = malloc(size + 1);
	int n = -1, rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	rc = evidence_parse_set(text, &v, &n);
	if (rc != 0 && rc != -EBADMSG && rc != -ENOMEM)
		abort();
	if (rc != 0 && (v || n != 0))
		abort();
	for (int i = 0; rc == 0 && i < n; i++) {
		if (v[i].n_keys < 1 || v[i].n_keys > 6)
			abort();
		for (int k = 0; k < v[i].n_keys; k++)
			if (!memchr(v[i].key[k], '\0', sizeof(v[i].key[k])))
				abort();
		if (v[i].expires_ms < -1 || v[i].expires_ms > 10 * EVIDENCE_TIMEOUT_MS)
			abort();
		for (int kind = EVIDENCE_DELIV_NAT; kind <= EVIDENCE_DELIV_STATELESS; kind++) {
			struct evidence_elem d = v[i];

			evidence_expand_delivery(&d, (enum evidence_deliv_kind)kind, "203.0.113.20");
			if (d.n_keys != 0 && d.n_keys != 6)
				abort();
			for (int k = 0; k < d.n_keys; k++)
				if (!memchr(d.key[k], '\0', sizeof(d.key[k])))
					abort();
		}
		evidence_expand_mapping(&v[i], "203.0.113.20");
		if (v[i].n_keys > 6)
			abort();
	}
	if (rc == 0)
		evidence_stamp(v, n, 1000);
	free(v);
	free(text);
	return 0;
}
