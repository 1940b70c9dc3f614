/* Opening a file named by a user with that user's rights, not root's.
 *
 * punchlab runs as root (often under sudo) on files written by others; a
 * file a topology names must be opened as the user who invoked it: under
 * sudo the one in SUDO_UID and SUDO_GID, with that user's groups. The open
 * happens in a short-lived child that dropped root's rights for good
 * (setgroups, setresgid, setresuid), which hands the open descriptor back
 * over a socket pair; the caller's own rights never change. Without sudo
 * (plain root, or an unprivileged user) the file is opened directly.
 */
#ifndef PUNCH_USERFILE_H
#define PUNCH_USERFILE_H

#include <stddef.h>

/* Open path read-only, without blocking (O_NONBLOCK: a FIFO does not hang),
 * close-on-exec and never as a controlling terminal, as the invoking user.
 * Returns the descriptor, or -errno (-EPERM also when the user's rights
 * could not be taken). */
int userfile_open(const char *path);

/* Read the regular file open on fd, of at most max bytes, into a malloc'd,
 * NUL-terminated buffer. Returns 0 with *text and *len, -EINVAL when fd is
 * not a regular file, -EFBIG when it holds more than max bytes (nothing
 * beyond max + 1 bytes is read), or -errno. */
int userfile_read_fd(int fd, size_t max, char **text, size_t *len);

#endif
