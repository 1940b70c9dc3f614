/* A user's own nftables ruleset (`rules = FILE`): where it may come from,
 * what it may contain, and what of nft's error text may be shown.
 *
 * The lab runs as root on topologies written by others, so a rules file
 * must not become a way to read another file: it must lie in the
 * topology's own directory tree (or under a path given with
 * `punchlab run --allow-rules PATH`), be a regular file of at most
 * RULESFILE_MAX bytes, include nothing, and nft's error text about it is cut
 * down to the first error's location, the one line it points at (taken from
 * the text the lab loaded, not from nft) and its marker.
 *
 * Pure apart from realpath() and getcwd() in rulesfile_allow() and
 * rulesfile_confine*().
 */
#ifndef PUNCH_RULESFILE_H
#define PUNCH_RULESFILE_H

#include <stdbool.h>
#include <stddef.h>

#define RULESFILE_MAX (1 << 20)    /* larger rules files are refused, not read */
#define RULESFILE_ALLOW_MAX 16     /* --allow-rules given at most this often */
#define RULESFILE_LINE_SHOWN 200   /* of the offending line, at most this many bytes are shown */

/* Allow rules files at path (a file, or a directory and everything under
 * it) besides the topology's own tree, for the rest of the process (forked
 * workers inherit it). path is resolved now. Returns 0, -ENOSPC after
 * RULESFILE_ALLOW_MAX, or -errno from realpath(). */
int rulesfile_allow(const char *path);

/* Is the resolved path real equal to, or inside, the resolved directory or
 * file root? Pure: compares whole path components ("/a/bc" is not in "/a/b"). */
bool rulesfile_under(const char *real, const char *root);

/* May the rules file path be read for the topology named topo_name (its
 * directory is the tree; a name without '/' lies in the working directory)?
 * Without --allow-rules, a path outside the tree as written (".." taken out
 * as text) is refused before the file system is asked anything; then both
 * are resolved (symbolic links and "..") and the file is checked against
 * the tree and the allowed paths. Returns 0; -EACCES with "rules file
 * 'PATH' is outside ..." in err; or -errno from realpath() with "rules file
 * 'PATH': why". Nothing is opened. */
int rulesfile_confine(const char *topo_name, const char *path, char *err, size_t errsize);

/* The same for the file open on fd (by /proc/self/fd/FD: what was opened,
 * after every link), named shown in messages. */
int rulesfile_confine_fd(const char *topo_name, int fd, const char *shown, char *err, size_t errsize);

/* Check a rules file's text before it goes to nft: no NUL byte, and no
 * `include` outside comments and strings (nft would read the named file as
 * root and could echo it). Returns 0, or -EINVAL with *line the 1-based line
 * and err saying what. */
int rulesfile_scan(const char *text, size_t len, int *line, char *err, size_t errsize);

/* Cut nft's error text about a rules file down to what may be shown: the
 * first "NAME:LINE:COL: Error: ..." line with NAME replaced by shown_name,
 * then line LINE of text (the file the lab loaded; at most
 * RULESFILE_LINE_SHOWN bytes, control characters as '?') and nft's marker
 * line when it is only blanks, '^' and '~'. Without a location: only the
 * first line that says "Error:". loaded_name is the name nft was given.
 * Returns a malloc'd string, or NULL when out of memory. */
char *rulesfile_nft_error(const char *nfterr, const char *loaded_name, const char *shown_name, const char *text,
			  size_t len);

#endif
