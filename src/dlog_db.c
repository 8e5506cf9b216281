/* dlog_db.c: see dlog_db.h. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "dlog_db.h"

int wg_dlog_db_latest(void)
{
	int n = 0;
	while (wg_dlog_schema_sql[n])
		n++;
	return n;
}

static int db_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		*out = 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

int wg_dlog_db_check(sqlite3 *db, char *err, size_t errcap)
{
	int64_t ver, ntables, ours;
	int rc = db_int(db, "PRAGMA user_version", &ver);
	if (rc == SQLITE_OK)
		rc = db_int(db, "SELECT count(*) FROM sqlite_master", &ntables);
	if (rc == SQLITE_NOTADB) {
		snprintf(err, errcap, "not a wuguard database (not SQLite)");
		return -EMEDIUMTYPE;
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errcap, "%s", sqlite3_errmsg(db));
		return -EIO;
	}
	if (ver == 0 && ntables == 0)
		return 0;
	rc = db_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
			"AND name = 'meta'", &ours);
	if (rc == SQLITE_OK && ours)
		rc = db_int(db, "SELECT count(*) FROM meta WHERE key = 'application' "
				"AND value = 'wuguard'", &ours);
	if (rc != SQLITE_OK) {
		snprintf(err, errcap, "%s", sqlite3_errmsg(db));
		return -EIO;
	}
	if (ver == 0 || !ours) {
		snprintf(err, errcap, "not a wuguard database");
		return -EMEDIUMTYPE;
	}
	if (ver > wg_dlog_db_latest()) {
		snprintf(err, errcap, "database schema version %lld is newer than this "
			 "build knows (%d)", (long long)ver, wg_dlog_db_latest());
		return -EPROTO;
	}
	return (int)ver;
}

int wg_dlog_db_migrate(sqlite3 *db, char *err, size_t errcap)
{
	int ver = wg_dlog_db_check(db, err, errcap);
	if (ver < 0)
		return ver;
	int latest = wg_dlog_db_latest();
	for (int v = ver; v < latest; v++) {
		char *msg = NULL;
		char tail[64];
		/* IMMEDIATE: take the write lock first, so two starting
		 * processes cannot both apply the same step. */
		int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
		if (rc == SQLITE_OK) {
			/* A second process may have migrated meanwhile. */
			int64_t now;
			rc = db_int(db, "PRAGMA user_version", &now);
			if (rc == SQLITE_OK && now > v) {
				sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
				v = (int)now - 1;
				continue;
			}
		}
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, wg_dlog_schema_sql[v], NULL, NULL, &msg);
		snprintf(tail, sizeof(tail), "PRAGMA user_version = %d", v + 1);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, tail, NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			snprintf(err, errcap, "schema %s: %s", wg_dlog_schema_name[v],
				 msg ? msg : sqlite3_errmsg(db));
			sqlite3_free(msg);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -EIO;
		}
	}
	return latest;
}

static void h_int(crypto_generichash_state *h, int64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
	crypto_generichash_update(h, b, sizeof(b));
}

static void h_str(crypto_generichash_state *h, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	uint8_t b[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	crypto_generichash_update(h, b, sizeof(b));
	crypto_generichash_update(h, (const uint8_t *)s, n);
}

#define H_STR(h, f) h_str((h), (f), sizeof(f))

static void h_side(crypto_generichash_state *h, const struct wg_dlog_side *s)
{
	h_int(h, s->rcode);
	h_int(h, s->flags);
	h_int(h, s->ede);
	H_STR(h, s->cname);
	H_STR(h, s->addrs);
	h_int(h, s->min_ttl);
	H_STR(h, s->upstream);
	h_int(h, s->latency_us);
	H_STR(h, s->status);
}

void wg_dlog_hash(const uint8_t prev[WG_DLOG_HASH_LEN], int64_t id,
		  const struct wg_dlog_event *ev, uint8_t out[WG_DLOG_HASH_LEN])
{
	static const char domain[] = "wuguard-dlog-v1";
	crypto_generichash_state h;

	crypto_generichash_init(&h, NULL, 0, WG_DLOG_HASH_LEN);
	crypto_generichash_update(&h, prev, WG_DLOG_HASH_LEN);
	crypto_generichash_update(&h, (const uint8_t *)domain, sizeof(domain) - 1);
	h_int(&h, id);
	h_int(&h, ev->time_ms);
	H_STR(&h, ev->client);
	H_STR(&h, ev->qname);
	h_int(&h, ev->qtype);
	H_STR(&h, ev->category);
	H_STR(&h, ev->severity);
	H_STR(&h, ev->action);
	h_side(&h, &ev->local);
	h_side(&h, &ev->public_);
	H_STR(&h, ev->markers);
	h_int(&h, ev->rule_version);
	h_int(&h, ev->authenticated);
	crypto_generichash_final(&h, out, WG_DLOG_HASH_LEN);
}

static void col_str(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	snprintf(dst, cap, "%s", s ? (const char *)s : "");
}

static int read_side(sqlite3_stmt *st, int c, struct wg_dlog_side *s)
{
	s->rcode = sqlite3_column_int(st, c++);
	s->flags = sqlite3_column_int(st, c++);
	s->ede = sqlite3_column_int(st, c++);
	col_str(st, c++, s->cname, sizeof(s->cname));
	col_str(st, c++, s->addrs, sizeof(s->addrs));
	s->min_ttl = sqlite3_column_int(st, c++);
	col_str(st, c++, s->upstream, sizeof(s->upstream));
	s->latency_us = sqlite3_column_int64(st, c++);
	col_str(st, c++, s->status, sizeof(s->status));
	return c;
}

void wg_dlog_db_read_event(sqlite3_stmt *st, int c, struct wg_dlog_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->time_ms = sqlite3_column_int64(st, c++);
	col_str(st, c++, ev->client, sizeof(ev->client));
	col_str(st, c++, ev->qname, sizeof(ev->qname));
	ev->qtype = (uint16_t)sqlite3_column_int(st, c++);
	col_str(st, c++, ev->category, sizeof(ev->category));
	col_str(st, c++, ev->severity, sizeof(ev->severity));
	col_str(st, c++, ev->action, sizeof(ev->action));
	c = read_side(st, c, &ev->local);
	c = read_side(st, c, &ev->public_);
	col_str(st, c++, ev->markers, sizeof(ev->markers));
	ev->rule_version = (uint32_t)sqlite3_column_int64(st, c++);
	ev->authenticated = (uint8_t)sqlite3_column_int(st, c++);
}

static int bind_str(sqlite3_stmt *st, int i, const char *s, size_t cap)
{
	return sqlite3_bind_text(st, i, s, (int)strnlen(s, cap), SQLITE_TRANSIENT);
}

#define BIND_STR(st, i, f) bind_str((st), (i), (f), sizeof(f))

static int bind_side(sqlite3_stmt *st, int *i, const struct wg_dlog_side *s)
{
	int rc = 0;
	rc |= sqlite3_bind_int(st, (*i)++, s->rcode);
	rc |= sqlite3_bind_int(st, (*i)++, s->flags);
	rc |= sqlite3_bind_int(st, (*i)++, s->ede);
	rc |= BIND_STR(st, (*i)++, s->cname);
	rc |= BIND_STR(st, (*i)++, s->addrs);
	rc |= sqlite3_bind_int(st, (*i)++, s->min_ttl);
	rc |= BIND_STR(st, (*i)++, s->upstream);
	rc |= sqlite3_bind_int64(st, (*i)++, s->latency_us);
	rc |= BIND_STR(st, (*i)++, s->status);
	return rc;
}

int wg_dlog_db_bind_event(sqlite3_stmt *st, int i, const struct wg_dlog_event *ev)
{
	int rc = 0;
	rc |= sqlite3_bind_int64(st, i++, ev->time_ms);
	rc |= BIND_STR(st, i++, ev->client);
	rc |= BIND_STR(st, i++, ev->qname);
	rc |= sqlite3_bind_int(st, i++, ev->qtype);
	rc |= BIND_STR(st, i++, ev->category);
	rc |= BIND_STR(st, i++, ev->severity);
	rc |= BIND_STR(st, i++, ev->action);
	rc |= bind_side(st, &i, &ev->local);
	rc |= bind_side(st, &i, &ev->public_);
	rc |= BIND_STR(st, i++, ev->markers);
	rc |= sqlite3_bind_int64(st, i++, ev->rule_version);
	rc |= sqlite3_bind_int(st, i++, ev->authenticated);
	return rc ? SQLITE_ERROR : SQLITE_OK;
}

int wg_dlog_db_meta_link(sqlite3 *db, const char *key, int64_t *id,
			 uint8_t hash[WG_DLOG_HASH_LEN])
{
	sqlite3_stmt *st;
	int found = 0;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL))
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		long long lid;
		char hex[2 * WG_DLOG_HASH_LEN + 1];
		size_t bin_len = 0;
		if (v && sscanf(v, "%lld %64s", &lid, hex) == 2 &&
		    sodium_hex2bin(hash, WG_DLOG_HASH_LEN, hex, strlen(hex), NULL,
				   &bin_len, NULL) == 0 && bin_len == WG_DLOG_HASH_LEN) {
			*id = lid;
			found = 1;
		} else {
			found = -EINVAL;
		}
	} else if (rc != SQLITE_DONE) {
		found = -EIO;
	}
	sqlite3_finalize(st);
	return found;
}

int wg_dlog_db_set_link(sqlite3 *db, const char *key, int64_t id,
			const uint8_t hash[WG_DLOG_HASH_LEN])
{
	char hex[2 * WG_DLOG_HASH_LEN + 1];
	char val[128];
	sqlite3_stmt *st;
	sodium_bin2hex(hex, sizeof(hex), hash, WG_DLOG_HASH_LEN);
	snprintf(val, sizeof(val), "%lld %s", (long long)id, hex);
	int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta (key, value) "
				    "VALUES (?, ?)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int64_t wg_dlog_db_delete_before(sqlite3 *db, int64_t keep_from)
{
	sqlite3_stmt *st;
	int64_t last_id = 0;
	uint8_t last_hash[WG_DLOG_HASH_LEN];
	int have = 0;

	if (sqlite3_prepare_v2(db, "SELECT id, hash FROM events WHERE id < ? "
			       "ORDER BY id DESC LIMIT 1", -1, &st, NULL))
		return -EIO;
	sqlite3_bind_int64(st, 1, keep_from);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == WG_DLOG_HASH_LEN) {
		last_id = sqlite3_column_int64(st, 0);
		memcpy(last_hash, sqlite3_column_blob(st, 1), WG_DLOG_HASH_LEN);
		have = 1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -EIO;
	if (!have)
		return 0;
	if (sqlite3_prepare_v2(db, "DELETE FROM events WHERE id < ?", -1, &st, NULL))
		return -EIO;
	sqlite3_bind_int64(st, 1, keep_from);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	int64_t n = sqlite3_changes(db);
	if (wg_dlog_db_set_link(db, "chain_anchor", last_id, last_hash) != SQLITE_OK)
		return -EIO;
	return n;
}

int64_t wg_dlog_db_prune_age(sqlite3 *db, int64_t cutoff_ms)
{
	sqlite3_stmt *st;
	int64_t keep = INT64_MAX;
	/* The oldest row still in use (last seen after the cutoff) and every
	 * row after it stay, so only a prefix of the chain goes. */
	if (sqlite3_prepare_v2(db, "SELECT min(id) FROM events WHERE last_seen >= ?",
			       -1, &st, NULL))
		return -EIO;
	sqlite3_bind_int64(st, 1, cutoff_ms);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		keep = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return -EIO;
	return wg_dlog_db_delete_before(db, keep);
}

int64_t wg_dlog_db_prune_size(sqlite3 *db, int64_t max_bytes)
{
	int64_t total = 0;
	for (int round = 0; round < 64; round++) {
		int64_t pages, freep, psize, minid, rows;
		if (db_int(db, "PRAGMA page_count", &pages) ||
		    db_int(db, "PRAGMA freelist_count", &freep) ||
		    db_int(db, "PRAGMA page_size", &psize) ||
		    db_int(db, "SELECT min(id) FROM events", &minid) ||
		    db_int(db, "SELECT count(*) FROM events", &rows))
			return -EIO;
		if ((pages - freep) * psize <= max_bytes || rows == 0)
			break;
		int64_t n = wg_dlog_db_delete_before(db, minid + (rows + 9) / 10);
		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

int64_t wg_dlog_db_verify(sqlite3 *db, int64_t *rows, char *why, size_t whycap)
{
	uint8_t prev[WG_DLOG_HASH_LEN] = {0}, h[WG_DLOG_HASH_LEN];
	int64_t prev_id = 0, hid, n = 0, bad = 0;
	sqlite3_stmt *st;
	struct wg_dlog_event ev;

	int r = wg_dlog_db_meta_link(db, "chain_anchor", &prev_id, prev);
	if (r < 0 && r != -EINVAL)
		return -EIO;
	if (r == -EINVAL) {
		snprintf(why, whycap, "meta chain_anchor is malformed");
		return 1;
	}
	if (sqlite3_prepare_v2(db, "SELECT id, hash, " WG_DLOG_EVENT_COLUMNS
			       " FROM events ORDER BY id", -1, &st, NULL))
		return -EIO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		n++;
		if (id != prev_id + 1) {
			snprintf(why, whycap, "rows %lld..%lld are missing",
				 (long long)prev_id + 1, (long long)id - 1);
			bad = id;
			break;
		}
		wg_dlog_db_read_event(st, 2, &ev);
		wg_dlog_hash(prev, id, &ev, h);
		if (sqlite3_column_bytes(st, 1) != WG_DLOG_HASH_LEN ||
		    sodium_memcmp(h, sqlite3_column_blob(st, 1), WG_DLOG_HASH_LEN) != 0) {
			snprintf(why, whycap, "row %lld was modified (hash mismatch)",
				 (long long)id);
			bad = id;
			break;
		}
		memcpy(prev, h, sizeof(prev));
		prev_id = id;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -EIO;
	if (rows)
		*rows = n;
	if (bad)
		return bad;
	r = wg_dlog_db_meta_link(db, "chain_head", &hid, h);
	if (r < 0 && r != -EINVAL)
		return -EIO;
	if (r == -EINVAL || (r == 1 && (hid != prev_id ||
					  sodium_memcmp(h, prev, WG_DLOG_HASH_LEN) != 0))) {
		if (r == 1 && hid > prev_id)
			snprintf(why, whycap, "rows %lld..%lld at the end are missing",
				 (long long)prev_id + 1, (long long)hid);
		else
			snprintf(why, whycap, "chain head does not match row %lld",
				 (long long)prev_id);
		return prev_id + 1;
	}
	return 0;
}
