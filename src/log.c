/* log.c: see log.h. */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
