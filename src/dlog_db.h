/* dlog_db.h: the discrepancy database's schema, hash chain and pruning,
 * shared by the daemon's writer thread (dlog.c) and wuguardctl.
 *
 * Schema: the ordered migrations in db/schema/NNN-*.sql, embedded into the
 * binary at build time (src/dlog_schema.c is generated from them), so the
 * daemon needs no installed files. PRAGMA user_version = number applied.
 *
 * Hash chain: row N's hash = BLAKE2b-256(hash of row N-1 || canonical(row N)),
 * where canonical() covers the row id and every field written when the event
 * was first seen (struct wg_dlog_event), in a fixed order, integers as 8-byte
 * big-endian, strings as a 4-byte big-endian length and the bytes. The
 * aggregation columns (count, last_seen) change after the row is written and
 * are NOT covered: the chain proves what was first seen and that no row was
 * edited, inserted or deleted; it does not prove how often an event repeated.
 * The first row's predecessor is 32 zero bytes, or after pruning the last
 * deleted row (meta 'chain_anchor' = "ID HEX"); meta 'chain_head' = "ID HEX"
 * names the newest row, so deleting rows at the end is also seen. The chain
 * has no secret key: it shows edits made with sqlite3 or by accident, not
 * those of someone who recomputes every hash. */
#ifndef WG_DLOG_DB_H
#define WG_DLOG_DB_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "dlog.h"

#define WG_DLOG_HASH_LEN 32

/* Generated from db/schema: NULL-terminated, migration i is version i + 1. */
extern const char *const wg_dlog_schema_sql[];
extern const char *const wg_dlog_schema_name[];

/* Number of migrations compiled in (the latest user_version). */
int wg_dlog_db_latest(void);

/* Is db a wuguard database (or an empty file)? Returns its user_version
 * (0: empty, to be created), -EMEDIUMTYPE for a database that is not ours
 * ("not a wuguard database" in err), -EPROTO for a newer schema than this
 * build knows, -EIO on a sqlite error. */
int wg_dlog_db_check(sqlite3 *db, char *err, size_t errcap);

/* Apply every migration newer than the database, each in its own
 * transaction with its user_version. Returns the new version or a negative
 * errno (see wg_dlog_db_check; -EIO with the sqlite message in err). */
int wg_dlog_db_migrate(sqlite3 *db, char *err, size_t errcap);

/* The chain hash of event ev stored as row id after the row whose hash is
 * prev (32 bytes). */
void wg_dlog_hash(const uint8_t prev[WG_DLOG_HASH_LEN], int64_t id,
		  const struct wg_dlog_event *ev, uint8_t out[WG_DLOG_HASH_LEN]);

/* The columns wg_dlog_db_read_event reads, in order, for a SELECT list. */
#define WG_DLOG_EVENT_COLUMNS \
	"time, client, qname, qtype, category, severity, action, " \
	"l_rcode, l_flags, l_ede, l_cname, l_addrs, l_min_ttl, l_upstream, " \
	"l_latency_us, l_status, " \
	"p_rcode, p_flags, p_ede, p_cname, p_addrs, p_min_ttl, p_upstream, " \
	"p_latency_us, p_status, markers, rule_version, authenticated"
#define WG_DLOG_EVENT_NCOLUMNS 28

/* Fill ev from columns col .. col + WG_DLOG_EVENT_NCOLUMNS - 1 of a row
 * selected with WG_DLOG_EVENT_COLUMNS (strings truncated to the fields). */
void wg_dlog_db_read_event(sqlite3_stmt *st, int col, struct wg_dlog_event *ev);

/* Bind ev to parameters idx .. idx + WG_DLOG_EVENT_NCOLUMNS - 1.
 * Returns a sqlite result code. */
int wg_dlog_db_bind_event(sqlite3_stmt *st, int idx, const struct wg_dlog_event *ev);

/* Read "ID HEX" meta key into id/hash. Returns 1 found, 0 absent, -EIO. */
int wg_dlog_db_meta_link(sqlite3 *db, const char *key, int64_t *id,
			 uint8_t hash[WG_DLOG_HASH_LEN]);
/* Write "ID HEX" under key. Returns a sqlite result code. */
int wg_dlog_db_set_link(sqlite3 *db, const char *key, int64_t id,
			const uint8_t hash[WG_DLOG_HASH_LEN]);

/* Delete the rows with id < keep_from (a prefix, so the chain stays whole)
 * and move the chain anchor to the last deleted row. Call inside a
 * transaction. Returns the rows deleted or -EIO. */
int64_t wg_dlog_db_delete_before(sqlite3 *db, int64_t keep_from);

/* Retention by age: delete the oldest rows up to the first one last seen at
 * or after cutoff_ms. Inside a transaction. Returns rows deleted or -EIO. */
int64_t wg_dlog_db_prune_age(sqlite3 *db, int64_t cutoff_ms);

/* Retention by size: while the pages in use exceed max_bytes, delete the
 * oldest tenth of the rows. Inside a transaction. Returns rows deleted or
 * -EIO. */
int64_t wg_dlog_db_prune_size(sqlite3 *db, int64_t max_bytes);

/* Walk the hash chain from the anchor to the head. Returns 0 when intact;
 * the id of the first bad row (> 0, or the id after the last row when rows
 * at the end are missing) with the reason in why; -EIO on a sqlite error. */
int64_t wg_dlog_db_verify(sqlite3 *db, int64_t *rows, char *why, size_t whycap);

#endif
