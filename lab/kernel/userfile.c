/* Opening a file with the invoking user's rights. See userfile.h. */
#include "kernel/userfile.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define USERFILE_GROUPS_MAX 256
#define USERFILE_FLAGS (O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)

struct who {
	uid_t uid;
	gid_t gid;
	gid_t groups[USERFILE_GROUPS_MAX];
	int n_groups;
};

/* Under sudo as root: the invoking user, from SUDO_UID/SUDO_GID, and that
 * user's groups. Returns 1 with *w, 0 when there is no one else to be. */
static int invoker(struct who *w)
{
	const char *su = getenv("SUDO_UID"), *sg = getenv("SUDO_GID");
	char *end;
	unsigned long u, g;
	struct passwd *pw;

	if (geteuid() != 0 || !su || !sg || !*su || !*sg)
		return 0;
	errno = 0;
	u = strtoul(su, &end, 10);
	if (errno || *end || u == 0 || u > 0xfffffffeUL)
		return 0;
	g = strtoul(sg, &end, 10);
	if (errno || *end || g > 0xfffffffeUL)
		return 0;
	w->uid = (uid_t)u;
	w->gid = (gid_t)g;
	w->groups[0] = w->gid;
	w->n_groups = 1;
	/* The user's supplementary groups, as their own login would have them;
	 * without a name for the uid, the primary group alone. */
	pw = getpwuid(w->uid);
	if (pw) {
		int n = USERFILE_GROUPS_MAX;

		if (getgrouplist(pw->pw_name, w->gid, w->groups, &n) >= 0)
			w->n_groups = n;
		else
			w->groups[0] = w->gid, w->n_groups = 1;
	}
	return 1;
}

/* In the child: become w for good, open path, send the descriptor (or the
 * errno) back on sock. Never returns. */
static void child_open(const struct who *w, const char *path, int sock)
{
	char cmsgbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr msg = { 0 };
	struct iovec iov;
	int err = 0, fd = -1;

	if (setgroups((size_t)w->n_groups, w->groups) < 0 || setresgid(w->gid, w->gid, w->gid) < 0 ||
	    setresuid(w->uid, w->uid, w->uid) < 0 || geteuid() != w->uid)
		err = EPERM;
	else if ((fd = open(path, USERFILE_FLAGS)) < 0)
		err = errno;
	iov.iov_base = &err;
	iov.iov_len = sizeof(err);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf;
		msg.msg_controllen = sizeof(cmsgbuf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	_exit(sendmsg(sock, &msg, 0) < 0 ? 1 : 0);
}

/* The parent's side: the child's errno, or the descriptor it sent. */
static int receive_fd(int sock)
{
	char cmsgbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr msg = { 0 };
	struct cmsghdr *c;
	struct iovec iov;
	int err = 0, fd = -1;
	ssize_t n;

	iov.iov_base = &err;
	iov.iov_len = sizeof(err);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf;
	msg.msg_controllen = sizeof(cmsgbuf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(err))
		return -EPERM; /* the child died before it could say anything */
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (err)
		return fd >= 0 ? (close(fd), -err) : -err;
	return fd >= 0 ? fd : -EPERM;
}

int userfile_open(const char *path)
{
	struct who w;
	int sv[2], fd, status;
	pid_t pid;

	if (!invoker(&w)) {
		fd = open(path, USERFILE_FLAGS);
		return fd < 0 ? -errno : fd;
	}
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		fd = -errno;
		close(sv[0]);
		close(sv[1]);
		return fd;
	}
	if (pid == 0) {
		close(sv[0]);
		child_open(&w, path, sv[1]);
	}
	close(sv[1]);
	fd = receive_fd(sv[0]);
	close(sv[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return fd;
}

int userfile_read_fd(int fd, size_t max, char **text, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;

	*text = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((unsigned long long)st.st_size > max)
		return -EFBIG;
	buf = malloc(max + 2);
	if (!buf)
		return -ENOMEM;
	/* One byte more than allowed tells a full file from one that grew. */
	while (got < max + 1) {
		ssize_t n = read(fd, buf + got, max + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			return -e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > max) {
		free(buf);
		return -EFBIG;
	}
	buf[got] = '\0';
	*text = buf;
	*len = got;
	return 0;
}
