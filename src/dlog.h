/* dlog.h: the discrepancy log. The event loop fills a fixed-size record and
 * hands it over with wg_dlog_submit(), which copies it into a bounded ring
 * and never waits for more than the ring's mutex; a writer thread owns the
 * only sqlite3 connection and writes many rows per transaction.
 *
 * Durability: a row is on disk once its batch committed (WAL,
 * synchronous=NORMAL: a committed batch survives a killed process; a power
 * cut can lose the transactions since the last checkpoint). After SIGKILL at
 * most the rows still queued (queue_size) plus the batch being written
 * (batch_max) are lost. wg_dlog_close() writes every queued row first.
 *
 * Faults (locked by a reader, read-only file, disk full, corrupt): the batch
 * stays queued and is retried with back-off (reopening the database), and is
 * dropped and counted after retry_max failures; meanwhile a full ring drops
 * and counts new rows. A database that cannot be opened at all (at start or
 * on a reopen) is tried again with back-off, open_retry_ms doubling to
 * open_retry_max_ms, or at once on wg_dlog_kick(); the rows wait in the ring
 * meanwhile (no batch is given up: none was tried), a full ring drops and
 * counts new ones, and rows still waiting at close are dropped and counted.
 * A database deleted or renamed while open (the path no longer names the
 * open file) is noticed at the next batch or tick, warned about once, and
 * replaced by a fresh database at the path: migrations, and a hash chain that
 * starts anew in the new file. Nothing here ever stops resolution. */
#ifndef WG_DLOG_H
#define WG_DLOG_H

#include <stddef.h>
#include <stdint.h>

/* Sizes of the text fields, NUL included. Longer text is truncated. */
#define WG_DLOG_CLIENT_LEN 48
#define WG_DLOG_NAME_LEN 256
#define WG_DLOG_WORD_LEN 24    /* category, severity, action, status */
#define WG_DLOG_CNAME_LEN 512  /* chain, names separated by spaces */
#define WG_DLOG_ADDRS_LEN 400  /* addresses separated by spaces */
#define WG_DLOG_UPSTREAM_LEN 64
#define WG_DLOG_MARKERS_LEN 128

/* One side's answer (local upstream or public resolver). */
struct wg_dlog_side {
	int32_t rcode;       /* -1: no answer (timeout, error) */
	int32_t flags;       /* DNS header flags word (QR AA TC RD RA AD CD) */
	int32_t ede;         /* Extended DNS Error INFO-CODE, -1: none */
	int32_t min_ttl;     /* seconds, -1: no records */
	int64_t latency_us;  /* -1: no answer */
	char cname[WG_DLOG_CNAME_LEN];
	char addrs[WG_DLOG_ADDRS_LEN];
	char upstream[WG_DLOG_UPSTREAM_LEN]; /* "addr:port" or the stamp's name */
	char status[WG_DLOG_WORD_LEN];       /* ok, timeout, servfail, malformed ... */
};

/* A discrepancy event: pointer-free, so it is copied whole into the ring. */
struct wg_dlog_event {
	int64_t time_ms;                     /* unix ms */
	char client[WG_DLOG_CLIENT_LEN];     /* address text, no port */
	char qname[WG_DLOG_NAME_LEN];        /* presentation form */
	uint16_t qtype;
	char category[WG_DLOG_WORD_LEN];     /* compare.c's category name */
	char severity[WG_DLOG_WORD_LEN];     /* info, low, medium, high */
	char action[WG_DLOG_WORD_LEN];       /* what was served: local, public ... */
	struct wg_dlog_side local;
	struct wg_dlog_side public_;
	char markers[WG_DLOG_MARKERS_LEN];   /* space separated observations */
	uint32_t rule_version;
	uint8_t authenticated;               /* public answer authenticated (DNSCrypt) */
};

/* Same values as config.h's enum wg_client_privacy. */
enum wg_dlog_privacy {
	WG_DLOG_CLIENT_FULL = 0,
	WG_DLOG_CLIENT_TRUNCATE = 1, /* IPv4 /24, IPv6 /48 */
	WG_DLOG_CLIENT_OMIT = 2,
};

/* Zero means the default given. */
struct wg_dlog_params {
	int client_privacy;          /* enum wg_dlog_privacy */
	uint32_t queue_size;         /* records in the ring; 4096 */
	uint32_t batch_max;          /* rows per transaction; 512 */
	uint32_t aggregate_s;        /* identical events within it aggregate; 0: never */
	uint32_t retention_days;     /* 0: keep forever */
	uint32_t max_db_mb;          /* 0: no size bound */
	uint32_t prune_interval_s;   /* how often retention runs; 600 */
	uint32_t tick_ms;            /* counter flush and idle wake-up; 1000 */
	uint32_t retry_ms;           /* first back-off after an error, doubling; 100 */
	uint32_t retry_max_ms;       /* back-off ceiling; 5000 */
	uint32_t retry_max;          /* failures before a batch is dropped; 8 */
	uint32_t busy_timeout_ms;    /* sqlite busy_timeout; 200 */
	uint32_t open_retry_ms;      /* first wait after a failed open, doubling; 1000 */
	uint32_t open_retry_max_ms;  /* its ceiling; 60000 */
	struct wg_events *events;    /* borrowed, NULL: no event stream; fed by the
				      * writer after each commit (events.h), and
				      * must outlive the log */
};

/* Health counters kept per hour (table counters). */
enum wg_dlog_counter {
	WG_DLOG_GUARDED = 0,        /* WU queries compared */
	WG_DLOG_MATCHED,
	WG_DLOG_CDN_VARIANCE,
	WG_DLOG_REPAIRED,
	WG_DLOG_PUBLIC_UNAVAILABLE,
	WG_DLOG_NCOUNTERS
};

struct wg_dlog_stats {
	uint64_t queued;     /* in the ring now */
	uint64_t submitted;  /* accepted by wg_dlog_submit */
	uint64_t written;    /* rows inserted */
	uint64_t aggregated; /* events folded into an existing row */
	uint64_t dropped;    /* ring full, or batch given up after errors */
	uint64_t errors;     /* failed database operations */
	uint64_t pruned;     /* rows removed by retention */
	uint64_t reopened;   /* new databases made after the file went away */
	uint64_t unavailable; /* 1: no database open now (rows wait) */
	char last_error[160];
};

struct wg_dlog;
struct wg_events;

/* Open (create with mode 0640, or migrate in place) the database at path
 * and start the writer thread, which owns the connection from then on. A
 * path starting with "file:" is a SQLite URI. err is left empty when the
 * database is open. When it cannot be opened (cannot create, not a wuguard
 * database, a newer schema, I/O) the log is returned all the same, with the
 * reason in err, and the writer keeps trying (see above). Returns NULL, with
 * the reason in err, only for no memory or no thread. */
struct wg_dlog *wg_dlog_open(const char *path, const struct wg_dlog_params *p,
			     char *err, size_t errcap);

/* Copy ev into the ring. Never blocks beyond the ring's mutex (a memcpy).
 * Returns 0, or -ENOBUFS when the ring is full (counted as dropped), or
 * -ESHUTDOWN after close began. Safe from any thread. */
int wg_dlog_submit(struct wg_dlog *d, const struct wg_dlog_event *ev);

/* Count one occurrence for the hourly health counters (lock-free). */
void wg_dlog_count(struct wg_dlog *d, enum wg_dlog_counter which);

/* Snapshot of the counters. */
void wg_dlog_get_stats(struct wg_dlog *d, struct wg_dlog_stats *out);

/* Wait until every row submitted before the call has been written or given
 * up. Returns 0, -ETIMEDOUT after timeout_ms (0: wait forever), or -EIO when
 * there is no database and one more try to open it (made at once) failed:
 * the rows stay queued. For tests and for the exit. */
int wg_dlog_flush(struct wg_dlog *d, uint32_t timeout_ms);

/* Try to open a database that could not be opened now, not at the end of
 * the back-off (SIGHUP: the operator may have fixed it). Never waits
 * beyond the ring's mutex. NULL is a no-op. */
void wg_dlog_kick(struct wg_dlog *d);

/* Write every queued row and the counters, stop the writer, close the
 * database and free d. NULL is a no-op. */
void wg_dlog_close(struct wg_dlog *d);

/* Apply a privacy setting to client address text in place. */
void wg_dlog_client_privacy(char *client, size_t cap, int privacy);

#endif
