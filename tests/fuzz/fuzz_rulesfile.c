/* libFuzzer harness for model/rulesfile.c, which reads a user's rules file
 * and nft's error text about it: the input is split at the first NUL into
 * nft's error text and the file. rulesfile_scan() must answer 0 or -EINVAL
 * with a line inside the file; rulesfile_nft_error() must return a string
 * of at most three lines in which every line but the first (the header) is
 * either a line of the file, cut and cleaned, or a marker. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/rulesfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, '\0', size);
	char *nfterr, *text, *shown, err[256];
	size_t elen = nul ? (size_t)(nul - (const char *)data) : size;
	size_t tlen = nul ? size - elen - 1 : 0, lines = 1;
	int rc, line = 0;

	nfterr = strndup((const char *)data, elen);
	text = malloc(tlen + 1);
	if (!nfterr || !text)
		abort();
	if (tlen)
		memcpy(text, nul + 1, tlen);
	text[tlen] = '\0';
	rc = rulesfile_scan(text, tlen, &line, err, sizeof(err));
	if (rc != 0 && rc != -EINVAL)
		abort();
	for (size_t i = 0; i < tlen; i++)
		lines += text[i] == '\n';
	if (rc == -EINVAL && (line < 1 || (size_t)line > lines))
		abort();
	shown = rulesfile_nft_error(nfterr, "/proc/self/fd/7", "mine.nft", text, tlen);
	if (!shown)
		abort();
	lines = 0;
	for (const char *p = shown; *p; p++)
		lines += *p == '\n';
	if (lines > 2 || strlen(shown) > 4 * RULESFILE_LINE_SHOWN + 8 + strlen("mine.nft"))
		abort();
	free(shown);
	free(text);
	free(nfterr);
	return 0;
}
