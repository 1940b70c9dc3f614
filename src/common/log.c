#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "punch";
static enum log_level log_max = LOG_LVL_INFO;

void log_init(const char *prog, enum log_level level)
{
	log_prog = prog;
	log_max = level;
}

enum log_level log_level(void)
{
	return log_max;
}

/* Build the whole line first and write it once, so that lines from several
 * processes sharing one stderr do not interleave. */
static void log_vline(enum log_level lvl, const char *tag, int errnum, const char *fmt, va_list ap)
{
	char line[1024];
	int n, m;

	if (lvl > log_max)
		return;
	n = snprintf(line, sizeof(line), "%s: %s", log_prog, tag);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m > 0)
		n = (size_t)(n + m) >= sizeof(line) ? (int)sizeof(line) - 1 : n + m;
	if (errnum)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(errnum));
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
}

#define LOG_FN(name, lvl, tag, with_errno)                                \
	void name(const char *fmt, ...)                                   \
	{                                                                 \
		int saved = errno;                                        \
		va_list ap;                                               \
		va_start(ap, fmt);                                        \
		log_vline(lvl, tag, with_errno ? saved : 0, fmt, ap);     \
		va_end(ap);                                               \
		errno = saved;                                            \
	}

LOG_FN(log_err, LOG_LVL_ERROR, "error: ", 1)
LOG_FN(log_errx, LOG_LVL_ERROR, "error: ", 0)
LOG_FN(log_warn, LOG_LVL_WARN, "warning: ", 1)
LOG_FN(log_warnx, LOG_LVL_WARN, "warning: ", 0)
LOG_FN(log_info, LOG_LVL_INFO, "", 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, "debug: ", 0)
