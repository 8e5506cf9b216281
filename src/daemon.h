/* daemon.h: the running daemon's parts and the one owner of reload.
 *
 * wg_daemon_start builds, from a validated configuration, everything that
 * serves: resolver (cache, upstreams, guard, plugins), listeners, the
 * discrepancy log and the verdict context that feeds it. wg_daemon_reload
 * is the only reload there is (SIGHUP and the control socket's "reload"
 * both call it), done the way OpenBSD unwind's main_reload is: load and
 * validate a complete new configuration and everything derived from it
 * first, then swap, so a failure at any step keeps everything running as
 * it was. main.c keeps argv, daemonising, the privilege drop and signals.
 * Loop thread only. */
#ifndef WG_DAEMON_H
#define WG_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

struct wg_daemon;
struct wg_resolver;
struct wg_listen;
struct wg_dlog;
struct wg_events;

/* Where a configuration comes from: the file and the command line. */
struct wg_daemon_args {
	const char *config_path;      /* borrowed, NULL: built-in defaults only */
	const struct wg_override *ov; /* borrowed: the command-line overrides */
	size_t n_ov;
	int verbose;                  /* -v count, raises the configured log level */
};

/* Build and validate a configuration from args. Returns it (owned by the
 * caller, free with wg_daemon_config_free) or NULL with "FILE:LINE: reason"
 * (or another reason) in err. */
struct wg_config *wg_daemon_config_load(const struct wg_daemon_args *a, char *err,
					size_t errcap);
void wg_daemon_config_free(struct wg_config *c);

/* Start serving cfg (taken over, also on failure). args is borrowed and
 * must outlive the daemon (reload reads it again). Before the privilege
 * drop: binds, creates the database and the control socket. Returns 0 or a
 * negative errno with the reason in err; on failure everything made is
 * released (call wg_daemon_close, run the loop, then wg_daemon_free). */
int wg_daemon_start(uv_loop_t *loop, const struct wg_daemon_args *args, struct wg_config *cfg,
		    struct wg_daemon **out, char *err, size_t errcap);

/* Reload: the configuration file, the hide lists, the WU and other lists,
 * the public references, the plugins (tried in a forked child first), the
 * upstreams, ACL, cache limits, listener limits and log level. Cached
 * answers are expired (kept as stale) so each is judged again. Returns 0,
 * or a negative errno with the reason ("FILE:LINE: ..." when a line caused
 * it) in err; then nothing changed. Also logs the outcome. */
int wg_daemon_reload(struct wg_daemon *d, char *err, size_t errcap);

/* The running parts, borrowed (valid until wg_daemon_close). */
const struct wg_config *wg_daemon_config(const struct wg_daemon *d);
struct wg_resolver *wg_daemon_resolver(const struct wg_daemon *d);
struct wg_listen *wg_daemon_listen(const struct wg_daemon *d);
struct wg_dlog *wg_daemon_dlog(const struct wg_daemon *d);
/* The [log] events stream (events.h: wg_events_get_stats), NULL: none. */
struct wg_events *wg_daemon_events(const struct wg_daemon *d);
/* The wall clock (seconds since the epoch) when it started serving. */
int64_t wg_daemon_started(const struct wg_daemon *d);

/* Log every counter (SIGUSR1, exit). */
void wg_daemon_log_stats(const struct wg_daemon *d);
struct wg_stats_src;
/* Where the counter registry reads this daemon's counters (stats.h). */
void wg_daemon_stats_src(const struct wg_daemon *d, struct wg_stats_src *src);

/* Stop serving: close the listeners, the control socket and cancel every
 * exchange; the handles close when the loop runs next. Safe with NULL. */
void wg_daemon_close(struct wg_daemon *d);
/* After the loop has run the closes: write every queued row (2 s at most),
 * close the database, free the configuration and d. Safe with NULL. */
void wg_daemon_free(struct wg_daemon *d);

#endif
