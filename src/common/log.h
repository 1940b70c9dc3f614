/* Logging to stderr: one line per event, prefixed with the program name.
 * Verbs come in pairs: log_warn() appends strerror(errno), log_warnx() does not,
 * so every message says whether errno applies. */
#ifndef PUNCH_LOG_H
#define PUNCH_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set the program name shown in each line and the most verbose level printed. */
void log_init(const char *prog, enum log_level level);
enum log_level log_level(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Errors: same as warn but always printed. Only main() decides to exit. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
