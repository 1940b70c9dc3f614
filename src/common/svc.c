#include "common/svc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/num.h"

int svc_signalfd(int extra_sig)
{
	sigset_t mask;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (extra_sig)
		sigaddset(&mask, extra_sig);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int svc_ready_fd_parse(const char *arg, int *fd)
{
	unsigned long v;

	if (num_parse_uint(arg, INT_MAX, &v) < 0 || v <= 2 || fcntl((int)v, F_GETFD) < 0)
		return -EINVAL;
	*fd = (int)v;
	return 0;
}

void svc_ready(int fd)
{
	if (fd < 0)
		return;
	if (write(fd, "ready\n", 6) != 6)
		log_warn("--ready-fd %d", fd);
	close(fd);
}
