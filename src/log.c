/* log.c: see log.h. */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "assume.h"
#include "log.h"

int wg_log_level_current = WG_LOG_INFO;
static int log_syslog;
static int log_stderr_too; /* syslog, and stderr until the daemon is ready */

void wg_log_open(int use_syslog, enum wg_log_level level)
{
	log_syslog = use_syslog;
	wg_log_level_current = level;
	if (use_syslog)
		openlog("wuguard", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void wg_log_stderr_too(int on)
{
	log_stderr_too = on;
}

void wg_log_set_level(enum wg_log_level level)
{
	wg_log_level_current = level;
}

int wg_log_level_parse(const char *s)
{
	static const char *names[] = {"error", "warning", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0 || (s[0] == '0' + i && s[1] == 0))
			return i;
	if (strcasecmp(s, "warn") == 0)
		return WG_LOG_WARN;
	return -EINVAL;
}

void wg_log_write(enum wg_log_level level, const char *tag, const char *fmt, ...)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	static const char *lname[] = {"error", "warning", "info", "debug"};
	_Static_assert(WG_NELEM(prio) == WG_LOG_DEBUG + 1, "a syslog priority per level");
	_Static_assert(WG_NELEM(lname) == WG_LOG_DEBUG + 1, "a name per level");
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_syslog) {
		syslog(prio[level], "[%s] %s", tag, msg);
		if (!log_stderr_too)
			return;
	}
	struct timespec ts;
	struct tm tm;
	char tbuf[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld wuguard[%s] %s: %s\n", tbuf, ts.tv_nsec / 1000000L,
		tag, lname[level], msg);
}

unsigned long wg_assume_failures;
#ifdef WG_DEBUG
int wg_assume_abort = 1;
#else
int wg_assume_abort;
#endif

int wg_assume_failed(const char *cond, const char *file, int line, int *once)
{
	/* any thread may get here (the database writer too) */
	__atomic_add_fetch(&wg_assume_failures, 1, __ATOMIC_RELAXED);
	if (!__atomic_exchange_n(once, 1, __ATOMIC_RELAXED) || wg_assume_abort) {
		wg_log_write(WG_LOG_ERR, "assume", "%s:%d: '%s' is false; recovering%s", file, line,
			     cond, wg_assume_abort ? " (no: debug build, aborting)" : "");
	}
	if (wg_assume_abort)
		abort();
	return 0;
}

void wg_assert_failed(const char *cond, const char *file, int line)
{
	wg_log_write(WG_LOG_ERR, "assert", "%s:%d: '%s' is false", file, line, cond);
	abort();
}
