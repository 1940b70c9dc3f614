/* Unit tests for lab/kernel/userfile.c: reading capped, regular files only,
 * a FIFO opened without blocking; as root, SUDO_UID/SUDO_GID's rights
 * (nobody's: a root-only file is refused, a readable one opens). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kernel/userfile.h"

static char dir[] = "/tmp/test_userfile_XXXXXX";

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[128];
	FILE *f;

	path_of(path, sizeof(path), name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_read(void **state)
{
	char path[128], *text = NULL;
	size_t len = 0;
	int fd;

	(void)state;
	unsetenv("SUDO_UID");
	unsetenv("SUDO_GID");
	write_file("ok.nft", "table ip t {}\n", 0644);
	path_of(path, sizeof(path), "ok.nft");
	fd = userfile_open(path);
	assert_true(fd >= 0);
	assert_int_equal(userfile_read_fd(fd, 14, &text, &len), 0);
	assert_int_equal(len, 14);
	assert_string_equal(text, "table ip t {}\n");
	free(text);
	/* One byte over the cap: refused, nothing returned. */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(userfile_read_fd(fd, 13, &text, &len), -EFBIG);
	assert_null(text);
	close(fd);
	path_of(path, sizeof(path), "gone.nft");
	assert_int_equal(userfile_open(path), -ENOENT);
}

static void test_not_regular(void **state)
{
	char path[128], *text = NULL;
	size_t len;
	int fd;

	(void)state;
	path_of(path, sizeof(path), "fifo.nft");
	assert_int_equal(mkfifo(path, 0644), 0);
	/* No writer: a blocking open would hang here. */
	fd = userfile_open(path);
	assert_true(fd >= 0);
	assert_int_equal(userfile_read_fd(fd, 100, &text, &len), -EINVAL);
	assert_null(text);
	close(fd);
	unlink(path);
	fd = userfile_open(dir);
	assert_true(fd >= 0);
	assert_int_equal(userfile_read_fd(fd, 100, &text, &len), -EINVAL);
	close(fd);
}

static void test_sudo_user(void **state)
{
	struct passwd *pw = getpwnam("nobody");
	char path[128], num[32];
	int fd;

	(void)state;
	if (geteuid() != 0 || !pw)
		skip();
	snprintf(num, sizeof(num), "%u", (unsigned)pw->pw_uid);
	setenv("SUDO_UID", num, 1);
	snprintf(num, sizeof(num), "%u", (unsigned)pw->pw_gid);
	setenv("SUDO_GID", num, 1);
	write_file("root-only.nft", "SECRET\n", 0600);
	path_of(path, sizeof(path), "root-only.nft");
	assert_int_equal(userfile_open(path), -EACCES);
	write_file("public.nft", "table ip t {}\n", 0644);
	path_of(path, sizeof(path), "public.nft");
	fd = userfile_open(path);
	assert_true(fd >= 0);
	close(fd);
	/* Root's own rights are untouched by all this. */
	assert_int_equal(geteuid(), 0);
	unsetenv("SUDO_UID");
	unsetenv("SUDO_GID");
	path_of(path, sizeof(path), "root-only.nft");
	fd = userfile_open(path);
	assert_true(fd >= 0);
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	return chmod(dir, 0755);
}

static int teardown(void **state)
{
	const char *names[] = { "ok.nft", "root-only.nft", "public.nft" };
	char path[128];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_of(path, sizeof(path), names[i]);
		unlink(path);
	}
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_not_regular),
		cmocka_unit_test(test_sudo_user),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
