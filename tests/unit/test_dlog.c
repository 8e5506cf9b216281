/* test_dlog.c: the discrepancy log: ring, writer, aggregation, migrations,
 * hash chain, flush on close, faults never blocking the caller. */
#include "autoconfig.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include <sqlite3.h>

#include "dlog.h"
#include "dlog_db.h"
#include "log.h"

static char dir[256];

static void db_path(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void make_event(struct wg_dlog_event *ev, int i)
{
	memset(ev, 0, sizeof(*ev));
	ev->time_ms = 1700000000000LL + i * 1000LL;
	snprintf(ev->client, sizeof(ev->client), "192.168.1.%d", 10 + i % 200);
	snprintf(ev->qname, sizeof(ev->qname), "n%d.download.windowsupdate.com", i);
	ev->qtype = 1;
	strcpy(ev->category, "sinkhole");
	strcpy(ev->severity, "high");
	strcpy(ev->action, "public");
	ev->local.rcode = 0;
	ev->local.flags = 0x8180;
	ev->local.ede = 15;
	strcpy(ev->local.addrs, "0.0.0.0");
	ev->local.min_ttl = 2;
	strcpy(ev->local.upstream, "10.0.0.53:53");
	ev->local.latency_us = 1200;
	strcpy(ev->local.status, "ok");
	ev->public_.rcode = 0;
	ev->public_.flags = 0x81a0;
	ev->public_.ede = -1;
	strcpy(ev->public_.cname, "download.windowsupdate.com. wu.ec.azureedge.net.");
	strcpy(ev->public_.addrs, "93.184.215.201 93.184.215.202");
	ev->public_.min_ttl = 300;
	strcpy(ev->public_.upstream, "quad9-dnscrypt");
	ev->public_.latency_us = 25000;
	strcpy(ev->public_.status, "ok");
	strcpy(ev->markers, "ttl-low");
	ev->rule_version = 7;
	ev->authenticated = 1;
}

static int64_t q_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int64_t verify(const char *path, char *why, size_t cap)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	int64_t r = wg_dlog_db_verify(db, NULL, why, cap);
	sqlite3_close(db);
	return r;
}

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static struct wg_dlog *open_ok(const char *path, const struct wg_dlog_params *p)
{
	char err[256] = "";
	struct wg_dlog *d = wg_dlog_open(path, p, err, sizeof(err));
	if (!d)
		fail_msg("open %s: %s", path, err);
	return d;
}

static void test_written_and_readable(void **state)
{
	char path[300];
	struct wg_dlog_event ev;
	struct wg_dlog_stats s;
	struct stat sb;
	db_path(path, sizeof(path), "rows.db");
	struct wg_dlog *d = open_ok(path, NULL);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	for (int i = 0; i < 100; i++) {
		make_event(&ev, i);
		assert_int_equal(wg_dlog_submit(d, &ev), 0);
	}
	wg_dlog_count(d, WG_DLOG_GUARDED);
	wg_dlog_count(d, WG_DLOG_GUARDED);
	wg_dlog_count(d, WG_DLOG_REPAIRED);
	assert_int_equal(wg_dlog_flush(d, 10000), 0);
	wg_dlog_get_stats(d, &s);
	assert_int_equal(s.written, 100);
	assert_int_equal(s.dropped, 0);
	assert_int_equal(s.queued, 0);
	/* Readable while the writer still has the database open (WAL). */
	assert_int_equal(q_int(path, "SELECT count(*) FROM events"), 100);
	wg_dlog_close(d);
	assert_int_equal(q_int(path, "SELECT count(*) FROM events WHERE "
			       "qname = 'n42.download.windowsupdate.com' AND l_ede = 15 "
			       "AND p_latency_us = 25000 AND authenticated = 1 AND "
			       "p_addrs = '93.184.215.201 93.184.215.202' AND count = 1"), 1);
	assert_int_equal(q_int(path, "SELECT sum(guarded) * 10 + sum(repaired) FROM counters"), 21);
	assert_int_equal(q_int(path, "PRAGMA user_version"), wg_dlog_db_latest());
	assert_int_equal(q_int(path, "SELECT count(*) FROM pragma_journal_mode "
			       "WHERE journal_mode = 'wal'"), 1);
}

static void test_ring_full_drops(void **state)
{
	char path[300];
	struct wg_dlog_event ev;
	struct wg_dlog_stats s;
	sqlite3 *lock;
	struct wg_dlog_params p = {.queue_size = 8, .retry_ms = 10, .retry_max_ms = 20,
				   .retry_max = 100000, .busy_timeout_ms = 5};
	db_path(path, sizeof(path), "full.db");
	struct wg_dlog *d = open_ok(path, &p);
	/* Another process holds the write lock: nothing can be written. */
	assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
	assert_int_equal(sqlite3_exec(lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	int ok = 0, nobufs = 0;
	uint64_t worst = 0;
	for (int i = 0; i < 20; i++) {
		make_event(&ev, i);
		uint64_t t0 = now_us();
		int rc = wg_dlog_submit(d, &ev);
		uint64_t dt = now_us() - t0;
		worst = dt > worst ? dt : worst;
		if (rc == 0)
			ok++;
		else if (rc == -ENOBUFS)
			nobufs++;
	}
	assert_int_equal(ok, 8);
	assert_int_equal(nobufs, 12);
	assert_true(worst < 50000); /* 50 ms: never waits for the database */
	assert_int_equal(wg_dlog_flush(d, 300), -ETIMEDOUT);
	wg_dlog_get_stats(d, &s);
	assert_int_equal(s.dropped, 12);
	assert_int_equal(s.queued, 8);
	assert_true(s.errors > 0);
	assert_non_null(strstr(s.last_error, "locked"));
	/* The lock goes away: the queued rows are written. */
	sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(lock);
	assert_int_equal(wg_dlog_flush(d, 10000), 0);
	wg_dlog_get_stats(d, &s);
	assert_int_equal(s.written, 8);
	wg_dlog_close(d);
	assert_int_equal(q_int(path, "SELECT count(*) FROM events"), 8);
}

static void test_aggregation(void **state)
{
	char path[300];
	struct wg_dlog_event ev;
	struct wg_dlog_stats s;
	struct wg_dlog_params p = {.aggregate_s = 60};
	db_path(path, sizeof(path), "agg.db");
	struct wg_dlog *d = open_ok(path, &p);
	make_event(&ev, 1);
	for (int i = 0; i < 5; i++) {
		ev.time_ms = 1700000000000LL + i * 10000; /* every 10 s */
		assert_int_equal(wg_dlog_submit(d, &ev), 0);
	}
	/* Different public addresses: a separate row. */
	strcpy(ev.public_.addrs, "93.184.215.203");
	assert_int_equal(wg_dlog_submit(d, &ev), 0);
	/* Same as the first, but outside the 60 s window: a new row. */
	make_event(&ev, 1);
	ev.time_ms = 1700000000000LL + 120000;
	assert_int_equal(wg_dlog_submit(d, &ev), 0);
	wg_dlog_close(d);
	(void)s;
	assert_int_equal(q_int(path, "SELECT count(*) FROM events"), 3);
	assert_int_equal(q_int(path, "SELECT count FROM events WHERE id = 1"), 5);
	assert_int_equal(q_int(path, "SELECT last_seen - time FROM events WHERE id = 1"), 40000);
	assert_int_equal(q_int(path, "SELECT sum(count) FROM events"), 7);
	char why[200];
	assert_int_equal(verify(path, why, sizeof(why)), 0);
}

static void test_migration_from_001(void **state)
{
	char path[300], sql[512], why[200];
	struct wg_dlog_event ev;
	uint8_t zero[WG_DLOG_HASH_LEN] = {0}, h[WG_DLOG_HASH_LEN];
	sqlite3 *db;
	sqlite3_stmt *st;
	db_path(path, sizeof(path), "old.db");
	unlink(path);
	/* A database made by the first schema version, with one row in it. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, wg_dlog_schema_sql[0], NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	make_event(&ev, 5);
	wg_dlog_hash(zero, 1, &ev, h);
	snprintf(sql, sizeof(sql), "INSERT INTO events (id, " WG_DLOG_EVENT_COLUMNS
		 ", hash) VALUES (1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
		 "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, "
		 "?28, ?29, ?30)");
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(wg_dlog_db_bind_event(st, 2, &ev), SQLITE_OK);
	sqlite3_bind_blob(st, 30, h, sizeof(h), SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(q_int(path, "PRAGMA user_version"), 1);

	struct wg_dlog *d = open_ok(path, NULL);
	make_event(&ev, 6);
	assert_int_equal(wg_dlog_submit(d, &ev), 0);
	wg_dlog_count(d, WG_DLOG_MATCHED);
	wg_dlog_close(d);

	assert_int_equal(q_int(path, "PRAGMA user_version"), wg_dlog_db_latest());
	assert_true(wg_dlog_db_latest() >= 2);
	assert_int_equal(q_int(path, "SELECT count(*) FROM events"), 2);
	/* The old row survived and got its aggregation columns. */
	assert_int_equal(q_int(path, "SELECT count(*) FROM events WHERE id = 1 AND "
			       "qname = 'n5.download.windowsupdate.com' AND count = 1 "
			       "AND last_seen = time"), 1);
	assert_int_equal(q_int(path, "SELECT id FROM events WHERE "
			       "qname = 'n6.download.windowsupdate.com'"), 2);
	assert_int_equal(q_int(path, "SELECT matched FROM counters"), 1);
	/* And the new row continues the old chain. */
	assert_int_equal(verify(path, why, sizeof(why)), 0);
}

static void test_chain_detects_edits(void **state)
{
	char path[300], why[200] = "";
	struct wg_dlog_event ev;
	int64_t rows = 0;
	db_path(path, sizeof(path), "chain.db");
	struct wg_dlog *d = open_ok(path, NULL);
	for (int i = 0; i < 10; i++) {
		make_event(&ev, i);
		assert_int_equal(wg_dlog_submit(d, &ev), 0);
	}
	wg_dlog_close(d);
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(wg_dlog_db_verify(db, &rows, why, sizeof(why)), 0);
	assert_int_equal(rows, 10);
	sqlite3_close(db);

	/* Aggregation columns are outside the chain. */
	exec_sql(path, "UPDATE events SET count = 99 WHERE id = 3");
	assert_int_equal(verify(path, why, sizeof(why)), 0);
	/* An edited field is found at its row. */
	exec_sql(path, "UPDATE events SET p_addrs = '6.6.6.6' WHERE id = 4");
	assert_int_equal(verify(path, why, sizeof(why)), 4);
	assert_non_null(strstr(why, "row 4"));
	exec_sql(path, "UPDATE events SET p_addrs = '93.184.215.201 93.184.215.202' WHERE id = 4");
	assert_int_equal(verify(path, why, sizeof(why)), 0);
	/* A deleted row is found at the row after it. */
	exec_sql(path, "DELETE FROM events WHERE id = 6");
	assert_int_equal(verify(path, why, sizeof(why)), 7);
	assert_non_null(strstr(why, "missing"));
}

static void test_chain_after_prune(void **state)
{
	char path[300], why[200] = "";
	struct wg_dlog_event ev;
	db_path(path, sizeof(path), "prune.db");
	struct wg_dlog *d = open_ok(path, NULL);
	for (int i = 0; i < 20; i++) {
		make_event(&ev, i);
		assert_int_equal(wg_dlog_submit(d, &ev), 0);
	}
	wg_dlog_close(d);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	/* Rows first seen before the 8th event go. */
	assert_int_equal(wg_dlog_db_prune_age(db, 1700000000000LL + 7000), 7);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(verify(path, why, sizeof(why)), 0);
	/* Writing continues the chain after the pruned rows. */
	d = open_ok(path, NULL);
	make_event(&ev, 99);
	assert_int_equal(wg_dlog_submit(d, &ev), 0);
	wg_dlog_close(d);
	assert_int_equal(q_int(path, "SELECT min(id) * 100 + max(id) FROM events"), 821);
	assert_int_equal(verify(path, why, sizeof(why)), 0);
	/* Deleting the newest row is seen through the chain head. */
	exec_sql(path, "DELETE FROM events WHERE id = 21");
	assert_int_equal(verify(path, why, sizeof(why)), 21);
}

static void test_prune_by_size(void **state)
{
	char path[300], why[200] = "";
	struct wg_dlog_event ev;
	db_path(path, sizeof(path), "size.db");
	struct wg_dlog *d = open_ok(path, NULL);
	for (int i = 0; i < 3000; i++) {
		make_event(&ev, i);
		assert_int_equal(wg_dlog_submit(d, &ev), 0);
	}
	wg_dlog_close(d);
	int64_t before = q_int(path, "SELECT (page_count - freelist_count) * page_size "
			       "FROM pragma_page_count, pragma_freelist_count, pragma_page_size");
	assert_true(before > 512 * 1024);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	int64_t n = wg_dlog_db_prune_size(db, 256 * 1024);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_true(n > 1000 && n < 3000);
	int64_t after = q_int(path, "SELECT (page_count - freelist_count) * page_size "
			      "FROM pragma_page_count, pragma_freelist_count, pragma_page_size");
	assert_true(after <= 256 * 1024);
	/* the newest rows stay, and the chain still verifies */
	assert_int_equal(q_int(path, "SELECT max(id) FROM events"), 3000);
	assert_int_equal(q_int(path, "SELECT count(*) FROM events"), 3000 - n);
	assert_int_equal(verify(path, why, sizeof(why)), 0);
}

static void test_writer_retention(void **state)
{
	char path[300], why[200] = "";
	struct wg_dlog_event ev;
	struct wg_dlog_stats s;
	db_path(path, sizeof(path), "retain.db");
	struct wg_dlog_params p = {.retention_days = 1, .tick_ms = 20};
	struct wg_dlog *d = open_ok(path, &p);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000;
	for (int i = 0; i < 10; i++) {
		make_event(&ev, i);
		/* 5 events 3 days old, 5 from the last minutes */
		ev.time_ms = i < 5 ? now - 3 * 86400000LL + i : now - 60000 + i;
		assert_int_equal(wg_dlog_submit(d, &ev), 0);
	}
	assert_int_equal(wg_dlog_flush(d, 10000), 0);
	/* The writer prunes at its first tick, then every prune_interval_s. */
	for (int i = 0; i < 200; i++) {
		wg_dlog_get_stats(d, &s);
		if (s.pruned)
			break;
		usleep(10000);
	}
	wg_dlog_close(d);
	assert_int_equal(s.pruned, 5);
	assert_int_equal(q_int(path, "SELECT min(id) * 100 + count(*) FROM events"), 605);
	assert_int_equal(verify(path, why, sizeof(why)), 0);
}

static void test_close_flushes(void **state)
{
	char path[300];
	struct wg_dlog_event ev;
	struct wg_dlog_params p = {.queue_size = 4096, .batch_max = 100};
	db_path(path, sizeof(path), "close.db");
	struct wg_dlog *d = open_ok(path, &p);
	int accepted = 0;
	for (int i = 0; i < 3000; i++) {
		make_event(&ev, i);
		accepted += wg_dlog_submit(d, &ev) == 0;
	}
	assert_int_equal(accepted, 3000);
	wg_dlog_close(d); /* no flush first: close must write them all */
	assert_int_equal(q_int(path, "SELECT count(*) FROM events"), 3000);
	assert_int_equal(q_int(path, "SELECT max(id) FROM events"), 3000);
}

static void test_readonly_never_blocks(void **state)
{
	char path[300], uri[340];
	struct wg_dlog_event ev;
	struct wg_dlog_stats s;
	db_path(path, sizeof(path), "ro.db");
	struct wg_dlog *d = open_ok(path, NULL);
	wg_dlog_close(d);
	assert_int_equal(chmod(path, 0440), 0);
	/* root ignores file modes: open the same file read-only through a
	 * URI so the writes fail as they would for the daemon's user. */
	if (geteuid() == 0)
		snprintf(uri, sizeof(uri), "file:%s?mode=ro", path);
	else
		snprintf(uri, sizeof(uri), "%s", path);
	struct wg_dlog_params p = {.queue_size = 16, .retry_ms = 10, .retry_max_ms = 50,
				   .retry_max = 3, .batch_max = 4};
	d = open_ok(uri, &p);
	uint64_t worst = 0;
	int ok = 0;
	for (int i = 0; i < 200; i++) {
		make_event(&ev, i);
		uint64_t t0 = now_us();
		ok += wg_dlog_submit(d, &ev) == 0;
		uint64_t dt = now_us() - t0;
		worst = dt > worst ? dt : worst;
		if (i % 20 == 0)
			usleep(5000);
	}
	assert_true(worst < 50000);
	assert_true(ok >= 16);
	/* Every accepted row is given up after retry_max failures. */
	assert_int_equal(wg_dlog_flush(d, 20000), 0);
	wg_dlog_get_stats(d, &s);
	assert_int_equal(s.written, 0);
	assert_int_equal(s.dropped, 200);
	assert_true(s.errors >= 3);
	assert_true(s.last_error[0] != 0);
	uint64_t t0 = now_us();
	wg_dlog_close(d);
	assert_true(now_us() - t0 < 5000000); /* 5 s */
	chmod(path, 0640);
	assert_int_equal(q_int(path, "SELECT count(*) FROM events"), 0);
}

/* Poll the writer's counters until written reaches n (bounded by a
 * generous deadline: a busy machine only makes it slower). */
static int wait_written(struct wg_dlog *d, uint64_t n)
{
	struct wg_dlog_stats s;
	uint64_t t0 = now_us();
	for (;;) {
		wg_dlog_get_stats(d, &s);
		if (s.written >= n)
			return 1;
		if (now_us() - t0 > 30000000u)
			return 0;
		usleep(10000);
	}
}

static void test_not_ours(void **state)
{
	char path[300], err[256] = "";
	struct wg_dlog_event ev;
	struct wg_dlog_stats s;
	db_path(path, sizeof(path), "foreign.db");
	exec_sql(path, "CREATE TABLE t (x)");
	/* A foreign file is never written to, but the log waits for the path
	 * to be fixed instead of being off for good. */
	struct wg_dlog *d = wg_dlog_open(path, NULL, err, sizeof(err));
	assert_non_null(d);
	assert_non_null(strstr(err, "not a wuguard database"));
	make_event(&ev, 1);
	assert_int_equal(wg_dlog_submit(d, &ev), 0);
	assert_int_equal(wg_dlog_flush(d, 10000), -EIO);
	wg_dlog_get_stats(d, &s);
	assert_int_equal(s.unavailable, 1);
	assert_int_equal(s.queued, 1);
	assert_non_null(strstr(s.last_error, "not a wuguard database"));
	wg_dlog_close(d);
	assert_int_equal(q_int(path, "SELECT count(*) FROM sqlite_master"), 1);
	assert_int_equal(q_int(path, "PRAGMA user_version"), 0);
}

/* Issue 15 item 5: a database that cannot be opened at start (its
 * directory does not exist yet) keeps the rows in the ring (bounded: the
 * rest is dropped and counted), is retried with back-off, and is written
 * as soon as it can be opened. */
static void test_open_retried(void **state)
{
	char sub[300], path[340], err[256] = "";
	struct wg_dlog_event ev;
	struct wg_dlog_stats s;
	db_path(sub, sizeof(sub), "later");
	snprintf(path, sizeof(path), "%s/retry.db", sub);
	struct wg_dlog_params p = {.queue_size = 4, .open_retry_ms = 20, .open_retry_max_ms = 40};
	struct wg_dlog *d = wg_dlog_open(path, &p, err, sizeof(err));
	assert_non_null(d);
	assert_true(err[0] != 0);
	int accepted = 0;
	for (int i = 0; i < 6; i++) {
		make_event(&ev, i);
		accepted += wg_dlog_submit(d, &ev) == 0;
	}
	assert_int_equal(accepted, 4);
	assert_int_equal(wg_dlog_flush(d, 10000), -EIO);
	wg_dlog_get_stats(d, &s);
	assert_int_equal(s.queued, 4);
	assert_int_equal(s.dropped, 2);
	assert_int_equal(s.written, 0);
	assert_int_equal(s.unavailable, 1);
	assert_true(s.errors >= 2);
	assert_non_null(strstr(s.last_error, "open: "));
	assert_int_equal(mkdir(sub, 0750), 0);
	assert_true(wait_written(d, 4)); /* the back-off alone, no kick */
	make_event(&ev, 7);
	assert_int_equal(wg_dlog_submit(d, &ev), 0);
	assert_int_equal(wg_dlog_flush(d, 10000), 0);
	wg_dlog_get_stats(d, &s);
	assert_int_equal(s.written, 5);
	assert_int_equal(s.dropped, 2);
	assert_int_equal(s.unavailable, 0);
	wg_dlog_close(d);
	char why[128] = "";
	assert_int_equal(verify(path, why, sizeof(why)), 0);
	assert_int_equal(q_int(path, "SELECT count(*) FROM events"), 5);
	assert_int_equal(q_int(path, "PRAGMA user_version"), wg_dlog_db_latest());
}

/* wg_dlog_kick (SIGHUP) opens at once, not at the end of a long back-off;
 * rows still waiting at close are dropped and close does not hang. */
static void test_open_kick(void **state)
{
	char sub[300], path[340], err[256] = "";
	struct wg_dlog_event ev;
	struct wg_dlog_stats s;
	db_path(sub, sizeof(sub), "kicked");
	snprintf(path, sizeof(path), "%s/kick.db", sub);
	struct wg_dlog_params p = {.open_retry_ms = 3600000, .open_retry_max_ms = 3600000};
	struct wg_dlog *d = wg_dlog_open(path, &p, err, sizeof(err));
	assert_non_null(d);
	make_event(&ev, 1);
	assert_int_equal(wg_dlog_submit(d, &ev), 0);
	assert_int_equal(mkdir(sub, 0750), 0);
	wg_dlog_kick(d);
	assert_true(wait_written(d, 1));
	wg_dlog_close(d);
	assert_int_equal(q_int(path, "SELECT count(*) FROM events"), 1);

	/* never openable: close drops what waits, promptly */
	db_path(path, sizeof(path), "nowhere/x.db");
	d = wg_dlog_open(path, &p, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(wg_dlog_submit(d, &ev), 0);
	uint64_t t0 = now_us();
	wg_dlog_close(d);
	assert_true(now_us() - t0 < 5000000); /* 5 s */
	(void)s;
}

/* Issue 15 item 6: the database deleted (or renamed) under the writer is
 * replaced by a fresh one at the path, so later rows are not lost. */
static void check_replaced(const char *name, int rename_it)
{
	char path[300], old[340], why[128] = "";
	struct wg_dlog_event ev;
	struct wg_dlog_stats s;
	db_path(path, sizeof(path), name);
	struct wg_dlog *d = open_ok(path, NULL);
	for (int i = 0; i < 3; i++) {
		make_event(&ev, i);
		assert_int_equal(wg_dlog_submit(d, &ev), 0);
	}
	assert_int_equal(wg_dlog_flush(d, 10000), 0);
	snprintf(old, sizeof(old), "%s.old", path);
	if (rename_it)
		assert_int_equal(rename(path, old), 0);
	else
		assert_int_equal(unlink(path), 0);
	for (int i = 3; i < 5; i++) {
		make_event(&ev, i);
		assert_int_equal(wg_dlog_submit(d, &ev), 0);
	}
	assert_int_equal(wg_dlog_flush(d, 10000), 0);
	wg_dlog_get_stats(d, &s);
	assert_int_equal(s.reopened, 1);
	assert_int_equal(s.written, 5);
	assert_int_equal(s.dropped, 0);
	/* readable while the writer still has it open */
	assert_int_equal(q_int(path, "SELECT count(*) FROM events"), 2);
	wg_dlog_close(d);
	assert_int_equal(q_int(path, "SELECT count(*) FROM events WHERE "
			       "qname IN ('n3.download.windowsupdate.com', "
			       "'n4.download.windowsupdate.com')"), 2);
	assert_int_equal(q_int(path, "SELECT min(id) FROM events"), 1); /* a new chain */
	assert_int_equal(q_int(path, "PRAGMA user_version"), wg_dlog_db_latest());
	assert_int_equal(verify(path, why, sizeof(why)), 0);
	if (rename_it) {
		assert_int_equal(q_int(old, "SELECT count(*) FROM events WHERE qname = "
				       "'n2.download.windowsupdate.com'"), 1);
		assert_int_equal(verify(old, why, sizeof(why)), 0);
	}
}

static void test_deleted_replaced(void **state)
{
	check_replaced("deleted.db", 0);
}

static void test_renamed_replaced(void **state)
{
	check_replaced("renamed.db", 1);
}

static void test_privacy(void **state)
{
	char c[WG_DLOG_CLIENT_LEN];
	strcpy(c, "192.168.7.99");
	wg_dlog_client_privacy(c, sizeof(c), WG_DLOG_CLIENT_TRUNCATE);
	assert_string_equal(c, "192.168.7.0/24");
	strcpy(c, "2001:db8:aa:bb:cc::1");
	wg_dlog_client_privacy(c, sizeof(c), WG_DLOG_CLIENT_TRUNCATE);
	assert_string_equal(c, "2001:db8:aa::/48");
	strcpy(c, "::ffff:10.1.2.3");
	wg_dlog_client_privacy(c, sizeof(c), WG_DLOG_CLIENT_TRUNCATE);
	assert_string_equal(c, "10.1.2.0/24");
	strcpy(c, "10.1.2.3");
	wg_dlog_client_privacy(c, sizeof(c), WG_DLOG_CLIENT_FULL);
	assert_string_equal(c, "10.1.2.3");
	wg_dlog_client_privacy(c, sizeof(c), WG_DLOG_CLIENT_OMIT);
	assert_string_equal(c, "");
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/wg_dlog_XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	wg_log_set_level(WG_LOG_ERR);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_written_and_readable),
		cmocka_unit_test(test_ring_full_drops),
		cmocka_unit_test(test_aggregation),
		cmocka_unit_test(test_migration_from_001),
		cmocka_unit_test(test_chain_detects_edits),
		cmocka_unit_test(test_chain_after_prune),
		cmocka_unit_test(test_prune_by_size),
		cmocka_unit_test(test_writer_retention),
		cmocka_unit_test(test_close_flushes),
		cmocka_unit_test(test_readonly_never_blocks),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_open_retried),
		cmocka_unit_test(test_open_kick),
		cmocka_unit_test(test_deleted_replaced),
		cmocka_unit_test(test_renamed_replaced),
		cmocka_unit_test(test_privacy),
	};
	return cmocka_run_group_tests_name("dlog", tests, setup, teardown);
}
