/* What the long-running programs (punch-server, punch-probe server) share:
 * signals through a signalfd, and the --ready-fd handshake with whoever
 * started them (punchlab waits on it instead of sleeping). */
#ifndef PUNCH_SVC_H
#define PUNCH_SVC_H

/* Ignore SIGPIPE, block SIGTERM, SIGINT and extra_sig (0: none) and return
 * a non-blocking signalfd for them, or -errno. */
int svc_signalfd(int extra_sig);
/* Parse a --ready-fd argument: an open descriptor above 2. Returns 0 and
 * *fd, or -EINVAL. */
int svc_ready_fd_parse(const char *arg, int *fd);
/* Write "ready\n" to fd and close it; nothing when fd < 0. */
void svc_ready(int fd);

#endif
