/* events.h: the event stream ([log] events): a copy of every discrepancy
 * row, as one JSON object per line, for the systems a fleet aggregates with
 * (syslog/journald forwarding, Splunk, Elastic, Loki).
 *
 * The database stays the source of truth: the stream is fed by the dlog
 * writer thread after a batch committed, so every line carries the row's id
 * (an occurrence folded into an existing row repeats that id with the new
 * count and last_seen), and a row that never reached the database (dropped
 * by a full queue or given up after errors) gives no line either.
 *
 * Nothing here may hold up resolution or the database writer: the file is
 * written with O_APPEND|O_NONBLOCK and syslog through our own non-blocking
 * AF_UNIX datagram socket (MSG_DONTWAIT), so a full disk, a stalled syslog
 * receiver or a missing socket costs one failed system call: the line is
 * dropped and counted. The file is reopened after wg_events_reopen() (the
 * SIGHUP path), at the next line, on the writer thread. */
#ifndef WG_EVENTS_H
#define WG_EVENTS_H

#include <stdint.h>
#include <sys/types.h>

#include "dlog.h"

#define WG_EVENTS_TAG "wuguard-events"         /* syslog identifier */
#define WG_EVENTS_SYSLOG_PATH "/dev/log"

struct wg_events_params {
	const char *target;  /* borrowed: "syslog", "syslog:PATH" or "file:PATH" */
	const char *site;    /* borrowed: the site label, NULL: none */
	int facility;        /* syslog facility as <syslog.h> (LOG_DAEMON ...) */
	uid_t uid;           /* owner for a file we open as root; (uid_t)-1: keep */
	gid_t gid;
};

struct wg_events_stats {
	uint64_t written;  /* lines handed to the file or the socket */
	uint64_t dropped;  /* lines lost: full disk, receiver busy or gone, no file */
	uint64_t errors;   /* failed opens/connects */
	uint64_t reopened; /* reopens after wg_events_reopen() */
};

struct wg_events;

/* Does s name a target ("none", "syslog", "syslog:/PATH", "file:/PATH")?
 * Returns 0, 1 for "none", or -EINVAL. */
int wg_events_target_check(const char *s);

/* Open the target (a file is created 0640 and given to uid/gid when we are
 * root). A file or socket that cannot be opened now is not fatal: lines are
 * dropped and counted, and the open is tried again (at most once a second,
 * and at once after wg_events_reopen()); err then says why. Returns NULL
 * only for no memory or a bad target, with the reason in err. */
struct wg_events *wg_events_open(const struct wg_events_params *p, char *err, size_t errcap);

/* Write one row (already through the client-address privacy) as a line.
 * For one thread at a time (the dlog writer). Never blocks. */
void wg_events_emit(struct wg_events *e, int64_t id, int64_t count, int64_t last_seen,
		    const struct wg_dlog_event *ev);

/* Reopen the file (logrotate moved it) or reconnect the socket before the
 * next line. Safe from any thread and from the event loop: it only sets a
 * flag. NULL is a no-op. */
void wg_events_reopen(struct wg_events *e);

/* Snapshot of the counters. Any thread. */
void wg_events_get_stats(struct wg_events *e, struct wg_events_stats *out);

/* Close and free; call after the dlog writer stopped. NULL is a no-op. */
void wg_events_close(struct wg_events *e);

#endif
