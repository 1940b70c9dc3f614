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

#define INIREAD_MSG_MAX 512

/* A parser's error state, shared with the reader: the first error wins and
 * reads "name:line: what". */
struct iniread_err {
	const char *name;       /* the file's name, for messages */
	int line;               /* lines read so far: the one being handled */
	bool failed;            /* reading stops */
	bool nomem;
	char msg[INIREAD_MSG_MAX];
};

/* A "[type name]" line, as read: the first word and the rest, trimmed. */
struct iniread_section {
	char type[16];          /* cut at 15 characters (no known type is that long) */
	char name[256];         /* "" when there is none */
	const char *inner;      /* the text between the brackets, for messages */
	int inner_len;
};

struct iniread_ops {
	/* A section header (the reader has refused a header without ']', with
	 * text after it, or too long). Returns 0, or -1 once it reported an error. */
	int (*section)(void *user, const struct iniread_section *sec);
	/* A key = value line (inih's handler contract: non-zero to go on). */
	int (*key)(void *user, const char *name, const char *value);
	/* The end of the file, when nothing failed: the checks of the whole.
	 * Returns 0, or -1 once it reported an error. */
	int (*finish)(void *user);
};

/* Parse text[0..len), counting lines in e->line and reporting the reader's
 * errors into e, then call ops->finish. Returns 0, or -EINVAL when the
 * reader or the caller reported an error (e->failed). */
int iniread_parse(const char *text, size_t len, struct iniread_err *e, const struct iniread_ops *ops, void *user);

/* Report an error on line (unless one was reported already). Returns -EINVAL. */
int iniread_fail(struct iniread_err *e, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Report running out of memory on the current line. Returns -ENOMEM. */
int iniread_oom(struct iniread_err *e);
/* How a parse ends: rc when nothing failed; else -ENOMEM or -EINVAL, with
 * the message copied to err (when there is room). */
int iniread_result(const struct iniread_err *e, int rc, char *err, size_t errsize);

/* Read a whole file of at most max bytes into a malloc'd, NUL-terminated
 * buffer. Returns 0, or -errno with "path: why" in err, when there is room
 * (what names the kind of file for "larger than N bytes, not a WHAT"). */
int iniread_load(const char *path, size_t max, const char *what, char **text, size_t *len, char *err,
		 size_t errsize);

/* One kind of file (topology, matrix): its parser's state, calloc'd, of
 * size bytes and beginning with its struct iniread_err (which is also the
 * user pointer of its ops), with the result a pointer at offset result; how
 * the result is made before the first line, and what is left freed. */
struct iniread_kind {
	size_t size;
	size_t result;                  /* offsetof() the result pointer in the state */
	const char *unnamed;            /* the name of a text that has none */
	int (*init)(void *state);       /* 0, or -ENOMEM through iniread_oom() */
	void (*done)(void *state);      /* free the state's leftovers (a result not handed over) */
	struct iniread_ops ops;
};

/* Parse text[0..len), named name, as kind k. Returns 0 with the result in
 * *out (out points to the caller's struct topo *, struct matrix *, ...), or
 * -ENOMEM or -EINVAL with "name:line: what" in err (when there is room) and
 * *out NULL. */
int iniread_text(const struct iniread_kind *k, const char *name, const char *text, size_t len, void *out,
		 char *err, size_t errsize);
/* iniread_load() path (at most max bytes, a WHAT), then iniread_text() it. */
int iniread_file(const struct iniread_kind *k, const char *path, size_t max, const char *what, void *out,
		 char *err, size_t errsize);

/* Is s a name a file may give a section's node or profile: 1 to max of
 * [a-z0-9-], not starting with '-' (it becomes part of interface and
 * namespace names)? Returns 0 or -EINVAL. */
int iniread_name_check(const char *s, size_t max);

/* The file's name without its directories and without suffix (".topo"),
 * malloc'd: what scenarios and matrices are called. NULL when out of memory. */
char *iniread_stem(const char *path, const char *suffix);

#endif
