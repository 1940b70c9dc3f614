/* Reading an INI file through inih, line by line, for the topology and the
 * matrix parsers: lines are counted (inih's handler gets no line numbers in
 * Debian's build), a UTF-8 BOM and CRLF ends are accepted, NUL and control
 * characters and over-long lines are refused, [section] lines go to the
 * caller whole (inih would cut them at 49 bytes), and a line inih would
 * refuse gets a message that says what was expected. */
#ifndef PUNCH_INIREAD_H
#define PUNCH_INIREAD_H

#include <stdbool.h>
#include <stddef.h>

struct iniread_ops {
	/* A "[...]" line, indentation removed; returns 0, or -1 once it reported an error. */
	int (*section)(void *user, const char *s, size_t len);
	/* A key = value line (inih's handler contract: non-zero to go on). */
	int (*key)(void *user, const char *name, const char *value);
	/* An error the reader found on line. */
	void (*bad)(void *user, int line, const char *msg);
	/* Has the caller failed already? Reading stops then. */
	bool (*failed)(void *user);
};

/* Parse text[0..len). *line counts the lines read so far (the caller's
 * errors use it). Returns 0, or -EINVAL when the reader or the caller
 * reported an error. */
int iniread_parse(const char *text, size_t len, int *line, const struct iniread_ops *ops, void *user);

/* Read a whole file of at most max bytes into a malloc'd, NUL-terminated
 * buffer. Returns 0, or -errno with "path: why" in err (what names the kind
 * of file for "larger than N bytes, not a WHAT"). */
int iniread_load(const char *path, size_t max, const char *what, char **text, size_t *len, char *err,
		 size_t errsize);

/* The file's name without its directories and without suffix (".topo"),
 * malloc'd: what scenarios and matrices are called. NULL when out of memory. */
char *iniread_stem(const char *path, const char *suffix);

#endif
