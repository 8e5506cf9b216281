/* log.h: levelled logging to stderr (foreground) or syslog (daemon).
 *
 * The level is checked before any formatting happens, so a debug line on
 * the hot path costs one comparison when debug is off. */
#ifndef WG_LOG_H
#define WG_LOG_H

#include <syslog.h>

enum wg_log_level {
	WG_LOG_ERR = 0,
	WG_LOG_WARN = 1,
	WG_LOG_INFO = 2,
	WG_LOG_DEBUG = 3,
};

extern int wg_log_level_current;

/* Send output to syslog (1) or stderr (0). */
void wg_log_open(int use_syslog, enum wg_log_level level);
void wg_log_set_level(enum wg_log_level level);
/* With syslog on: also write to stderr (a daemon before it is ready, so the
 * command that started it shows why it could not). */
void wg_log_stderr_too(int on);
/* Parse "error|warning|info|debug" or "0".."3"; returns the level or -EINVAL. */
int wg_log_level_parse(const char *s);
void wg_log_write(enum wg_log_level level, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define WG_LOG(lvl, tag, ...)                                                  \
	do {                                                                   \
		if ((int)(lvl) <= wg_log_level_current)                        \
			wg_log_write((lvl), (tag), __VA_ARGS__);               \
	} while (0)
#define wg_err(tag, ...) WG_LOG(WG_LOG_ERR, tag, __VA_ARGS__)
#define wg_warn(tag, ...) WG_LOG(WG_LOG_WARN, tag, __VA_ARGS__)
#define wg_info(tag, ...) WG_LOG(WG_LOG_INFO, tag, __VA_ARGS__)
#define wg_debug(tag, ...) WG_LOG(WG_LOG_DEBUG, tag, __VA_ARGS__)

#endif
