/* dlog.c: the discrepancy log writer. See dlog.h.
 *
 * Design. The ring is an array of fixed-size records. Producers (the event
 * loop) copy a record into slot head under the mutex and bump count; the
 * writer thread reads slots tail .. tail + n - 1 WITHOUT holding the mutex
 * (producers never touch occupied slots) and only after the batch committed
 * takes the mutex to advance tail and lower count. So a batch that fails
 * stays queued for the retry at no cost, and the loop only ever waits for a
 * memcpy. The writer owns the only sqlite3 connection: it opens it at
 * start, closes it after a fault that a fresh connection may cure
 * (read-only, I/O, corrupt, full) and opens it again before the retry.
 *
 * A database that cannot be opened (at start or after a fault) is tried
 * again with its own back-off, open_retry_ms doubling to open_retry_max_ms,
 * or at once on wg_dlog_kick(); meanwhile rows wait in the ring (a full ring
 * drops and counts new ones) and no batch is given up, since nothing was
 * tried. Before and after every batch the writer checks that the path still
 * names the file it has open (st_dev, st_ino): a database deleted or renamed
 * under it is closed with one warning and a fresh one is created at the path
 * (migrations, a new hash chain), and a batch that went into the old file is
 * written again into the new one.
 *
 * Aggregation: an event identical to a row first seen within aggregate_s
 * (same client, name, type, category, local and public addresses) bumps that
 * row's count and last_seen instead of adding a row; those two columns are
 * outside the hash chain (dlog_db.h). Rows get id = previous id + 1 and
 * hash = BLAKE2b(previous hash || row); meta 'chain_head' moves in the same
 * transaction. Health counters are atomics, added to the current hour's
 * counters row every tick.
 *
 * Event stream (p.events): write_batch notes each slot's row id, count and
 * last_seen; once the batch committed for good (not written again into a
 * replaced file) and before its slots go back to the producers, every slot
 * becomes one line: an inserted row from the slot itself, an occurrence
 * folded into a row from that row as stored, with the count it reached. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <sqlite3.h>

#include "dlog.h"
#include "dlog_db.h"
#include "events.h"
#include "log.h"

#define TAG "dlog"
#define LOG_EVERY_MS 10000 /* at most one fault line per 10 s */

struct wg_dlog {
	pthread_mutex_t mu;
	pthread_cond_t wake;   /* writer: rows queued or stop */
	pthread_cond_t done;   /* flush waiters: rows finished */
	pthread_t thread;
	struct wg_dlog_params p;
	char *path;            /* owned */

	/* under mu */
	struct wg_dlog_event *ring; /* owned, p.queue_size slots */
	size_t head, tail, count;
	int stopping;
	int kick;              /* wg_dlog_kick/flush: try to open now */
	int unavailable;       /* no database open after a failed open */
	uint64_t open_tries;   /* failed opens so far (flush waits for one) */
	uint64_t submitted, finished; /* finished: written, aggregated or given up */
	struct wg_dlog_stats st;

	_Atomic uint64_t counters[WG_DLOG_NCOUNTERS];

	/* writer thread only */
	sqlite3 *db;           /* owned; NULL while faulted */
	sqlite3_stmt *s_insert, *s_find, *s_update; /* owned, with db */
	sqlite3_stmt *s_row;   /* owned, with db: a row by id, for events */
	struct emit_rec { int64_t id, count, last_seen; int folded; } *emit;
			       /* owned, p.batch_max, NULL: no events */
	dev_t db_dev;          /* the file db has open; has_id: known */
	ino_t db_ino;
	int has_id;
	int64_t last_id;
	uint8_t last_hash[WG_DLOG_HASH_LEN];
	uint64_t last_log_ms;
	uint64_t suppressed;
	uint64_t open_at;      /* next open try (mono ms) while db is NULL */
	uint64_t open_backoff; /* ms until the try after that */
	uint32_t open_fails;   /* in a row, for the recovery line */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void wg_dlog_client_privacy(char *client, size_t cap, int privacy)
{
	uint8_t a[16];
	if (privacy == WG_DLOG_CLIENT_OMIT) {
		client[0] = 0;
		return;
	}
	if (privacy != WG_DLOG_CLIENT_TRUNCATE || client[0] == 0)
		return;
	if (inet_pton(AF_INET6, client, a) == 1) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a, mapped, 12) == 0) {
			snprintf(client, cap, "%u.%u.%u.0/24", a[12], a[13], a[14]);
			return;
		}
		char txt[INET6_ADDRSTRLEN];
		memset(a + 6, 0, 10);
		inet_ntop(AF_INET6, a, txt, sizeof(txt));
		snprintf(client, cap, "%s/48", txt);
	} else if (inet_pton(AF_INET, client, a) == 1) {
		snprintf(client, cap, "%u.%u.%u.0/24", a[0], a[1], a[2]);
	} else {
		/* Not an address: keep nothing rather than something identifying. */
		client[0] = 0;
	}
}

/* Record a fault: counted always, logged at most every LOG_EVERY_MS. */
static void fault(struct wg_dlog *d, const char *what, const char *msg)
{
	uint64_t now = mono_ms();
	pthread_mutex_lock(&d->mu);
	d->st.errors++;
	snprintf(d->st.last_error, sizeof(d->st.last_error), "%s: %s", what, msg);
	pthread_mutex_unlock(&d->mu);
	if (d->last_log_ms && now - d->last_log_ms < LOG_EVERY_MS) {
		d->suppressed++;
		return;
	}
	if (d->suppressed)
		wg_warn(TAG, "%s: %s (%llu similar errors not logged)", what, msg,
			(unsigned long long)d->suppressed);
	else
		wg_warn(TAG, "%s: %s", what, msg);
	d->last_log_ms = now;
	d->suppressed = 0;
}

static void db_close(struct wg_dlog *d)
{
	sqlite3_finalize(d->s_insert);
	sqlite3_finalize(d->s_find);
	sqlite3_finalize(d->s_update);
	sqlite3_finalize(d->s_row);
	d->s_insert = d->s_find = d->s_update = d->s_row = NULL;
	if (d->db)
		sqlite3_close_v2(d->db);
	d->db = NULL;
}

/* Where the chain continues: the newest row, or the head recorded in meta
 * if rows at the end went missing (verify then reports the gap), or the
 * anchor left by pruning everything. */
static int load_chain(struct wg_dlog *d)
{
	sqlite3_stmt *st;
	int64_t id = 0, hid;
	uint8_t h[WG_DLOG_HASH_LEN];

	memset(d->last_hash, 0, sizeof(d->last_hash));
	if (sqlite3_prepare_v2(d->db, "SELECT id, hash FROM events ORDER BY id DESC "
			       "LIMIT 1", -1, &st, NULL))
		return -EIO;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == WG_DLOG_HASH_LEN) {
		id = sqlite3_column_int64(st, 0);
		memcpy(d->last_hash, sqlite3_column_blob(st, 1), WG_DLOG_HASH_LEN);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -EIO;
	if (wg_dlog_db_meta_link(d->db, "chain_head", &hid, h) == 1 && hid > id) {
		id = hid;
		memcpy(d->last_hash, h, sizeof(h));
	}
	if (wg_dlog_db_meta_link(d->db, "chain_anchor", &hid, h) == 1 && hid > id) {
		id = hid;
		memcpy(d->last_hash, h, sizeof(h));
	}
	d->last_id = id;
	return 0;
}

/* Open, configure and migrate. Returns 0 or a negative errno with err set. */
static int db_open(struct wg_dlog *d, char *err, size_t errcap)
{
	int rc;
	if (strncmp(d->path, "file:", 5) != 0) {
		/* sqlite would create the file 0644; make it 0640 first. */
		int fd = open(d->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (fd >= 0)
			close(fd);
	}
	rc = sqlite3_open_v2(d->path, &d->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errcap, "%s: %s", d->path,
			 d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
		db_close(d);
		return -EIO;
	}
	sqlite3_busy_timeout(d->db, (int)d->p.busy_timeout_ms);
	int v = wg_dlog_db_check(d->db, err, errcap);
	if (v < 0) {
		db_close(d);
		return v;
	}
	/* WAL: readers (wuguardctl) never block the writer, and a commit needs
	 * no fsync with synchronous=NORMAL. A read-only file may refuse the
	 * switch; the first write then reports the fault. */
	sqlite3_exec(d->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	sqlite3_exec(d->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	v = wg_dlog_db_migrate(d->db, err, errcap);
	if (v < 0) {
		db_close(d);
		return v;
	}
	static const char ins[] =
		"INSERT INTO events (id, " WG_DLOG_EVENT_COLUMNS ", hash, count, last_seen) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
		"?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, "
		"?30, 1, ?2)";
	rc = sqlite3_prepare_v2(d->db, ins, -1, &d->s_insert, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(d->db,
			"SELECT id FROM events WHERE qname = ?1 AND qtype = ?2 AND "
			"client = ?3 AND category = ?4 AND l_addrs = ?5 AND p_addrs = ?6 "
			"AND time >= ?7 ORDER BY id DESC LIMIT 1", -1, &d->s_find, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(d->db,
			"UPDATE events SET count = count + 1, last_seen = max(last_seen, ?1) "
			"WHERE id = ?2 RETURNING count, last_seen", -1, &d->s_update, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(d->db, "SELECT " WG_DLOG_EVENT_COLUMNS " FROM events "
					"WHERE id = ?1", -1, &d->s_row, NULL);
	if (rc != SQLITE_OK || load_chain(d) < 0) {
		snprintf(err, errcap, "%s: %s", d->path, sqlite3_errmsg(d->db));
		db_close(d);
		return -EIO;
	}
	/* What the path names now: the file SQLite opened moments ago (the
	 * schema was just read through it). A URI names no file to watch. */
	struct stat sb;
	d->has_id = strncmp(d->path, "file:", 5) != 0 && stat(d->path, &sb) == 0;
	if (d->has_id) {
		d->db_dev = sb.st_dev;
		d->db_ino = sb.st_ino;
	}
	return 0;
}

/* Does the path still name the open database? A deleted or renamed file
 * keeps taking commits that vanish with it (or land under another name). */
static int db_moved(struct wg_dlog *d)
{
	struct stat sb;
	if (!d->db || !d->has_id)
		return 0;
	if (stat(d->path, &sb) < 0)
		return errno == ENOENT || errno == ENOTDIR;
	return sb.st_dev != d->db_dev || sb.st_ino != d->db_ino;
}

/* A failed open: count it and schedule the next try, the back-off
 * doubling up to open_retry_max_ms. */
static void open_later(struct wg_dlog *d)
{
	d->open_fails++;
	d->open_at = mono_ms() + d->open_backoff;
	d->open_backoff = d->open_backoff * 2 > d->p.open_retry_max_ms ? d->p.open_retry_max_ms
									: d->open_backoff * 2;
}

/* Open the database now. On failure count it, mark the log unavailable
 * (rows wait in the ring) and schedule the next try with back-off. */
static int try_open(struct wg_dlog *d)
{
	char err[256];
	if (db_open(d, err, sizeof(err)) == 0) {
		pthread_mutex_lock(&d->mu);
		d->unavailable = 0;
		pthread_mutex_unlock(&d->mu);
		if (d->open_fails)
			wg_info(TAG, "database %s open after %u failed attempts", d->path,
				d->open_fails);
		d->open_fails = 0;
		d->open_backoff = d->p.open_retry_ms;
		return 0;
	}
	fault(d, "open", err);
	open_later(d);
	pthread_mutex_lock(&d->mu);
	d->unavailable = 1;
	d->open_tries++;
	pthread_cond_broadcast(&d->done); /* a flush waiting for it gives up */
	pthread_mutex_unlock(&d->mu);
	return -EIO;
}

/* The database was deleted or renamed: close it and make a fresh one at
 * the path, whose hash chain starts anew. Returns 0 when one is open. */
static int db_replace(struct wg_dlog *d)
{
	struct stat sb;
	wg_warn(TAG, "%s was deleted or renamed while open: writing to a new database "
		"at that path (its hash chain starts anew)", d->path);
	/* SQLite skips the checkpoint at close for a moved file, leaving the
	 * committed rows in the WAL at the old name: move them into the file
	 * (a renamed copy stays whole) before the WAL is let go. */
	sqlite3_wal_checkpoint_v2(d->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	db_close(d);
	if (stat(d->path, &sb) < 0 && errno == ENOENT) {
		/* The old file's WAL and index, left if the close could not
		 * remove them, would be replayed into the new file. */
		static const char *const sfx[] = {"-wal", "-shm", "-journal"};
		char f[4200];
		for (size_t i = 0; i < 3; i++) {
			snprintf(f, sizeof(f), "%s%s", d->path, sfx[i]);
			unlink(f);
		}
	}
	pthread_mutex_lock(&d->mu);
	d->st.reopened++;
	pthread_mutex_unlock(&d->mu);
	return try_open(d);
}

/* Faults a fresh connection may cure. BUSY/LOCKED only need a later retry. */
static int needs_reopen(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return 0;
	default:
		return 1;
	}
}

/* Aggregate into an existing row: 1 done (the row's id, count and
 * last_seen now in *er), 0 no such row, or a sqlite error (negated). */
static int try_aggregate(struct wg_dlog *d, const struct wg_dlog_event *ev, struct emit_rec *er)
{
	sqlite3_stmt *f = d->s_find;
	int64_t id = -1;
	sqlite3_reset(f);
	sqlite3_bind_text(f, 1, ev->qname, (int)strnlen(ev->qname, sizeof(ev->qname)), SQLITE_STATIC);
	sqlite3_bind_int(f, 2, ev->qtype);
	sqlite3_bind_text(f, 3, ev->client, (int)strnlen(ev->client, sizeof(ev->client)), SQLITE_STATIC);
	sqlite3_bind_text(f, 4, ev->category, (int)strnlen(ev->category, sizeof(ev->category)), SQLITE_STATIC);
	sqlite3_bind_text(f, 5, ev->local.addrs, (int)strnlen(ev->local.addrs, sizeof(ev->local.addrs)), SQLITE_STATIC);
	sqlite3_bind_text(f, 6, ev->public_.addrs, (int)strnlen(ev->public_.addrs, sizeof(ev->public_.addrs)), SQLITE_STATIC);
	sqlite3_bind_int64(f, 7, ev->time_ms - (int64_t)d->p.aggregate_s * 1000);
	int rc = sqlite3_step(f);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(f, 0);
	sqlite3_reset(f);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -rc;
	if (id < 0)
		return 0;
	sqlite3_stmt *u = d->s_update;
	sqlite3_reset(u);
	sqlite3_bind_int64(u, 1, ev->time_ms);
	sqlite3_bind_int64(u, 2, id);
	rc = sqlite3_step(u);
	if (rc == SQLITE_ROW) {
		er->id = id;
		er->count = sqlite3_column_int64(u, 0);
		er->last_seen = sqlite3_column_int64(u, 1);
		er->folded = 1;
		rc = sqlite3_step(u);
	}
	sqlite3_reset(u);
	return rc == SQLITE_DONE ? 1 : -rc;
}

/* Write ring slots tail .. tail + n - 1 in one transaction. Returns
 * SQLITE_OK or the failing result code (rolled back; chain state kept). */
static int write_batch(struct wg_dlog *d, size_t tail, size_t n,
		       uint64_t *written, uint64_t *aggregated)
{
	int64_t id = d->last_id;
	uint8_t hash[WG_DLOG_HASH_LEN];
	uint64_t w = 0, a = 0;
	int rc = sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc;
	memcpy(hash, d->last_hash, sizeof(hash));
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		struct wg_dlog_event ev = d->ring[(tail + i) % d->p.queue_size];
		ev.client[sizeof(ev.client) - 1] = 0;
		wg_dlog_client_privacy(ev.client, sizeof(ev.client), d->p.client_privacy);
		struct emit_rec er;
		if (d->p.aggregate_s) {
			int r = try_aggregate(d, &ev, &er);
			if (r == 1) {
				if (d->emit)
					d->emit[i] = er;
				a++;
				continue;
			}
			if (r < 0) {
				rc = -r;
				break;
			}
		}
		id++;
		wg_dlog_hash(hash, id, &ev, hash);
		sqlite3_stmt *s = d->s_insert;
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, id);
		rc = wg_dlog_db_bind_event(s, 2, &ev);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_blob(s, 30, hash, sizeof(hash), SQLITE_TRANSIENT);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(s);
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
		sqlite3_reset(s);
		if (d->emit)
			d->emit[i] = (struct emit_rec){id, 1, ev.time_ms, 0};
		w++;
	}
	if (rc == SQLITE_OK && w)
		rc = wg_dlog_db_set_link(d->db, "chain_head", id, hash);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlite3_extended_errcode(d->db) ? sqlite3_extended_errcode(d->db) : rc;
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	d->last_id = id;
	memcpy(d->last_hash, hash, sizeof(hash));
	*written = w;
	*aggregated = a;
	return SQLITE_OK;
}

/* Add the counters gathered since the last tick to the current hour. */
static void flush_counters(struct wg_dlog *d)
{
	uint64_t c[WG_DLOG_NCOUNTERS];
	int any = 0;
	for (int i = 0; i < WG_DLOG_NCOUNTERS; i++) {
		c[i] = atomic_exchange(&d->counters[i], 0);
		any |= c[i] != 0;
	}
	if (!any)
		return;
	int rc = d->db ? SQLITE_OK : SQLITE_CANTOPEN;
	sqlite3_stmt *st = NULL;
	int64_t hour = real_ms() / 3600000;
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		char sql[128];
		snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO counters (hour) VALUES (%lld)",
			 (long long)hour);
		rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(d->db,
			"UPDATE counters SET guarded = guarded + ?1, matched = matched + ?2, "
			"cdn_variance = cdn_variance + ?3, repaired = repaired + ?4, "
			"public_unavailable = public_unavailable + ?5 WHERE hour = ?6",
			-1, &st, NULL);
	if (rc == SQLITE_OK) {
		for (int i = 0; i < WG_DLOG_NCOUNTERS; i++)
			sqlite3_bind_int64(st, i + 1, (int64_t)c[i]);
		sqlite3_bind_int64(st, 6, hour);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		if (d->db) {
			fault(d, "counters", sqlite3_errmsg(d->db));
			sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
		}
		/* Keep them for the next tick. */
		for (int i = 0; i < WG_DLOG_NCOUNTERS; i++)
			atomic_fetch_add(&d->counters[i], c[i]);
	}
}

static void prune(struct wg_dlog *d)
{
	int64_t n1 = 0, n2 = 0;
	if (!d->db || (!d->p.retention_days && !d->p.max_db_mb))
		return;
	if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		fault(d, "prune", sqlite3_errmsg(d->db));
		return;
	}
	if (d->p.retention_days)
		n1 = wg_dlog_db_prune_age(d->db, real_ms() -
					  (int64_t)d->p.retention_days * 86400000);
	if (n1 >= 0 && d->p.max_db_mb)
		n2 = wg_dlog_db_prune_size(d->db, (int64_t)d->p.max_db_mb << 20);
	if (n1 < 0 || n2 < 0 ||
	    sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		fault(d, "prune", sqlite3_errmsg(d->db));
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	if (n1 + n2) {
		wg_info(TAG, "retention removed %lld rows", (long long)(n1 + n2));
		pthread_mutex_lock(&d->mu);
		d->st.pruned += (uint64_t)(n1 + n2);
		pthread_mutex_unlock(&d->mu);
	}
}

static void deadline_ts(struct timespec *ts, uint64_t wait_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(wait_ms / 1000);
	ts->tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The lines of a committed batch, slots tail .. tail + n - 1 (still ours:
 * called before finish_rows hands them back). */
static void emit_batch(struct wg_dlog *d, size_t tail, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct emit_rec *er = &d->emit[i];
		struct wg_dlog_event ev = d->ring[(tail + i) % d->p.queue_size];
		ev.client[sizeof(ev.client) - 1] = 0;
		wg_dlog_client_privacy(ev.client, sizeof(ev.client), d->p.client_privacy);
		if (er->folded) {
			/* the row as stored: its first occurrence's answers */
			sqlite3_reset(d->s_row);
			sqlite3_bind_int64(d->s_row, 1, er->id);
			if (sqlite3_step(d->s_row) == SQLITE_ROW)
				wg_dlog_db_read_event(d->s_row, 0, &ev);
			sqlite3_reset(d->s_row);
		}
		wg_events_emit(d->p.events, er->id, er->count, er->last_seen, &ev);
	}
}

/* Take n rows off the ring as finished (w written, a aggregated, dropped
 * given up). */
static void finish_rows(struct wg_dlog *d, size_t n, uint64_t w, uint64_t a, int dropped)
{
	pthread_mutex_lock(&d->mu);
	d->tail = (d->tail + n) % d->p.queue_size;
	d->count -= n;
	d->finished += n;
	d->st.written += w;
	d->st.aggregated += a;
	if (dropped)
		d->st.dropped += n;
	pthread_cond_broadcast(&d->done);
	pthread_mutex_unlock(&d->mu);
}

static void *writer_main(void *arg)
{
	struct wg_dlog *d = arg;
	uint64_t now = mono_ms();
	uint64_t next_tick = now + d->p.tick_ms;
	uint64_t next_prune = now; /* once at start-up */
	uint64_t retry_at = 0, backoff = d->p.retry_ms;
	uint32_t fails = 0, stop_opens = 0;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		now = mono_ms();
		for (;;) {
			/* due: a batch to write, or (no database) an open to try */
			int due = d->db ? d->count && retry_at <= now : d->open_at <= now;
			if (d->stopping || d->kick || due || now >= next_tick)
				break;
			uint64_t until = next_tick;
			if (d->db && d->count && retry_at < until)
				until = retry_at;
			if (!d->db && d->open_at < until)
				until = d->open_at;
			struct timespec ts;
			deadline_ts(&ts, until - now);
			pthread_cond_timedwait(&d->wake, &d->mu, &ts);
			now = mono_ms();
		}
		int stopping = d->stopping, kick = d->kick;
		d->kick = 0;
		size_t n = d->count < d->p.batch_max ? d->count : d->p.batch_max;
		size_t tail = d->tail;
		if (stopping && n == 0)
			break;
		pthread_mutex_unlock(&d->mu);

		if (!d->db && (kick || d->open_at <= now || (stopping && stop_opens < 3))) {
			if (try_open(d) < 0 && stopping) {
				stop_opens++;
				usleep(100 * 1000);
			}
		}
		if (!d->db && stopping && stop_opens >= 3) {
			/* Closing and still no database: nothing can be kept. */
			pthread_mutex_lock(&d->mu);
			n = d->count;
			pthread_mutex_unlock(&d->mu);
			finish_rows(d, n, 0, 0, 1);
			wg_warn(TAG, "gave up on %zu rows: the database could not be opened", n);
		}

		if (d->db && n && (retry_at <= now || stopping)) {
			uint64_t w = 0, a = 0;
			int rc = SQLITE_OK, again = 0;
			if (db_moved(d))
				db_replace(d);
			if (!d->db) {
				again = 1; /* the rows wait for the next open */
			} else {
				rc = write_batch(d, tail, n, &w, &a);
				if (rc == SQLITE_OK && db_moved(d)) {
					/* Committed into the file that just went
					 * away: write the batch again into the new
					 * one (a renamed file keeps a copy). */
					again = 1;
					db_replace(d);
				} else if (rc != SQLITE_OK) {
					/* errstr: write_batch's ROLLBACK already
					 * reset errmsg to "not an error" */
					fault(d, "write", sqlite3_errstr(rc));
				}
			}
			int give_up = 0;
			if (again) {
				retry_at = 0;
			} else if (rc == SQLITE_OK) {
				if (fails)
					wg_info(TAG, "database writable again after %u failures", fails);
				fails = 0;
				retry_at = 0;
				backoff = d->p.retry_ms;
			} else {
				fails++;
				/* At close, do not hold the daemon's exit for long. */
				give_up = fails >= d->p.retry_max || (stopping && fails >= 3);
				if (stopping && backoff > 100)
					backoff = 100;
				retry_at = mono_ms() + backoff;
				backoff = backoff * 2 > d->p.retry_max_ms ? d->p.retry_max_ms : backoff * 2;
				if (needs_reopen(rc)) {
					/* reopened when the retry is due */
					db_close(d);
					d->open_at = retry_at;
				}
				if (stopping)
					usleep(100 * 1000);
			}
			if (!again && (rc == SQLITE_OK || give_up)) {
				if (rc == SQLITE_OK && d->emit)
					emit_batch(d, tail, n);
				if (give_up && stopping) {
					pthread_mutex_lock(&d->mu);
					n = d->count; /* the fault persists: drop the rest too */
					pthread_mutex_unlock(&d->mu);
				}
				finish_rows(d, n, w, a, give_up);
				if (give_up) {
					fails = 0;
					retry_at = 0;
					wg_warn(TAG, "gave up on %zu rows after repeated errors", n);
				}
			}
		}

		now = mono_ms();
		if (now >= next_tick || stopping) {
			if (db_moved(d))
				db_replace(d);
			flush_counters(d);
			next_tick = now + d->p.tick_ms;
			if (now >= next_prune && d->db) {
				prune(d);
				next_prune = now + (uint64_t)d->p.prune_interval_s * 1000;
			}
		}
		pthread_mutex_lock(&d->mu);
	}
	int unavailable = d->unavailable;
	pthread_mutex_unlock(&d->mu);
	/* closed after a write fault: once more for the counters */
	if (!d->db && !unavailable)
		try_open(d);
	flush_counters(d);
	db_close(d);
	return NULL;
}

static void set_defaults(struct wg_dlog_params *p)
{
#define DEF(f, v) if (!p->f) p->f = (v)
	DEF(queue_size, 4096);
	DEF(batch_max, 512);
	DEF(prune_interval_s, 600);
	DEF(tick_ms, 1000);
	DEF(retry_ms, 100);
	DEF(retry_max_ms, 5000);
	DEF(retry_max, 8);
	DEF(busy_timeout_ms, 200);
	DEF(open_retry_ms, 1000);
	DEF(open_retry_max_ms, 60000);
#undef DEF
}

struct wg_dlog *wg_dlog_open(const char *path, const struct wg_dlog_params *p,
			     char *err, size_t errcap)
{
	if (sodium_init() < 0) {
		snprintf(err, errcap, "libsodium failed to initialise");
		return NULL;
	}
	struct wg_dlog *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	if (p)
		d->p = *p;
	set_defaults(&d->p);
	d->path = strdup(path);
	d->ring = calloc(d->p.queue_size, sizeof(*d->ring));
	if (d->p.events)
		d->emit = calloc(d->p.batch_max, sizeof(*d->emit));
	if (!d->path || !d->ring || (d->p.events && !d->emit)) {
		snprintf(err, errcap, "out of memory for %u queued records", d->p.queue_size);
		goto fail;
	}
	for (int i = 0; i < WG_DLOG_NCOUNTERS; i++)
		atomic_init(&d->counters[i], 0);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &ca);
	pthread_cond_init(&d->done, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&d->mu, NULL);
	/* Opened here so the caller hears at once about a wrong path or a
	 * foreign file; from pthread_create on, only the writer touches d->db.
	 * A database that cannot be opened yet is the writer's to retry. */
	err[0] = 0;
	d->open_backoff = d->p.open_retry_ms;
	if (db_open(d, err, errcap) < 0) {
		d->unavailable = 1;
		d->open_tries = 1;
		open_later(d);
		d->st.errors = 1;
		snprintf(d->st.last_error, sizeof(d->st.last_error), "open: %s", err);
		d->last_log_ms = mono_ms(); /* the caller logs this one */
		if (!err[0])
			snprintf(err, errcap, "%s: cannot open", path);
	}
	int rc = pthread_create(&d->thread, NULL, writer_main, d);
	if (rc != 0) {
		snprintf(err, errcap, "writer thread: %s", strerror(rc));
		pthread_cond_destroy(&d->wake);
		pthread_cond_destroy(&d->done);
		pthread_mutex_destroy(&d->mu);
		db_close(d);
		goto fail;
	}
	return d;
fail:
	free(d->emit);
	free(d->ring);
	free(d->path);
	free(d);
	return NULL;
}

int wg_dlog_submit(struct wg_dlog *d, const struct wg_dlog_event *ev)
{
	int rc = 0;
	pthread_mutex_lock(&d->mu);
	if (d->stopping) {
		rc = -ESHUTDOWN;
	} else if (d->count == d->p.queue_size) {
		d->st.dropped++;
		rc = -ENOBUFS;
	} else {
		d->ring[d->head] = *ev;
		d->head = (d->head + 1) % d->p.queue_size;
		d->count++;
		d->submitted++;
		/* Only the first row of a burst needs to wake the writer. */
		if (d->count == 1)
			pthread_cond_signal(&d->wake);
	}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

void wg_dlog_count(struct wg_dlog *d, enum wg_dlog_counter which)
{
	if ((unsigned)which < WG_DLOG_NCOUNTERS)
		atomic_fetch_add_explicit(&d->counters[which], 1, memory_order_relaxed);
}

void wg_dlog_get_stats(struct wg_dlog *d, struct wg_dlog_stats *out)
{
	pthread_mutex_lock(&d->mu);
	*out = d->st;
	out->queued = d->count;
	out->submitted = d->submitted;
	out->unavailable = (uint64_t)d->unavailable;
	pthread_mutex_unlock(&d->mu);
}

int wg_dlog_flush(struct wg_dlog *d, uint32_t timeout_ms)
{
	struct timespec ts;
	int rc = 0;
	deadline_ts(&ts, timeout_ms);
	pthread_mutex_lock(&d->mu);
	uint64_t target = d->submitted, tries = d->open_tries;
	d->kick = 1; /* and try to open now if there is no database */
	pthread_cond_signal(&d->wake);
	while (d->finished < target && rc == 0) {
		if (d->unavailable && d->open_tries > tries) {
			rc = -EIO; /* cannot be opened: the rows stay queued */
			break;
		}
		if (timeout_ms)
			rc = pthread_cond_timedwait(&d->done, &d->mu, &ts) == ETIMEDOUT ? -ETIMEDOUT : 0;
		else
			pthread_cond_wait(&d->done, &d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

void wg_dlog_kick(struct wg_dlog *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->kick = 1;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->mu);
}

void wg_dlog_close(struct wg_dlog *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->stopping = 1;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	if (d->st.dropped || d->st.errors)
		wg_info(TAG, "closed: %llu rows written, %llu dropped, %llu errors",
			(unsigned long long)d->st.written, (unsigned long long)d->st.dropped,
			(unsigned long long)d->st.errors);
	pthread_cond_destroy(&d->wake);
	pthread_cond_destroy(&d->done);
	pthread_mutex_destroy(&d->mu);
	free(d->emit);
	free(d->ring);
	free(d->path);
	free(d);
}
