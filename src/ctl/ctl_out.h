/* ctl_out.h: output pieces shared by wuguardctl's commands and the
 * daemon's event stream (events.c), so it lives in the core library.
 *
 * One place for DNS number names, the JSON form of an answer side and of a
 * whole discrepancy row, so `wuguardctl list --format json`, `wuguardctl
 * probe --format json` and the [log] events lines describe an answer with
 * the same fields. */
#ifndef WG_CTL_OUT_H
#define WG_CTL_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dlog.h"

/* "A", "AAAA" ...; other types as "TYPE<n>" written into buf (wire.c's
 * table, which the database rows use too). */
const char *wg_ctl_type_name(unsigned t, char *buf, size_t cap);
/* "NOERROR" ... "NOTZONE", "RCODE<n>" into buf (wire.c's table), "-" for a
 * negative rcode. */
const char *wg_ctl_rcode_name(int rc, char *buf, size_t cap);
/* The header flags word as "qr rd ra ..." into buf. */
void wg_ctl_flags_text(int flags, char *buf, size_t cap);

/* The EDE info code's name (RFC 8914), "" when unknown. */
const char *wg_ctl_ede_name(int e);
/* One side's answer in short form: "0.0.0.0", "192.0.2.1+2" (first address
 * and how many more), "NXDOMAIN", "NODATA", or the status when there was no
 * answer ("timeout"). */
void wg_ctl_answer_short(const struct wg_dlog_side *s, char *buf, size_t cap);

/* A JSON string literal, escaped. */
void wg_ctl_json_str(FILE *o, const char *s);
/* Space-separated words (at most WG_DLOG_CNAME_LEN bytes) as a JSON array. */
void wg_ctl_json_words(FILE *o, const char *s);
/* One side as a JSON object: rcode, flags, ede, cname, addresses, min_ttl,
 * upstream, latency_us, status. */
void wg_ctl_json_side(FILE *o, const struct wg_dlog_side *s);

/* ISO 8601 with milliseconds: "...Z" when utc, else local time with its
 * offset ("+01:00"). */
void wg_ctl_time_iso(int64_t ms, int utc, char *buf, size_t cap);

/* One database row as the JSON object `wuguardctl list --format json`
 * prints, and a newline. host and site (NULL: left out) are added after
 * the row's fields, for the event stream. */
void wg_ctl_json_row(FILE *o, int64_t id, int64_t count, int64_t last_seen,
		     const struct wg_dlog_event *e, int utc, const char *host, const char *site);

/* --- wuguardctl's output formats, all of them here: times, a discrepancy
 * row as JSON, CSV and a table sized to the terminal --- */

/* --format table|json|csv */
enum wg_ctl_fmt { WG_CTL_TABLE, WG_CTL_JSON, WG_CTL_CSV };

/* One row of the events table: the first sighting and its repeats. */
struct wg_ctl_row {
	int64_t id, count, last_seen;
	struct wg_dlog_event ev;
};

/* Times are shown in local time, or in UTC after wg_ctl_set_utc(1) (-u). */
void wg_ctl_set_utc(int on);
int wg_ctl_utc(void);
/* "2024-01-02 13:04:05 CET" (or "... UTC"); short: "01-02 13:04". */
void wg_ctl_time(int64_t ms, char *buf, size_t cap, int short_form);
/* The zone times are shown in ("UTC", "CET"); a static buffer. */
const char *wg_ctl_zone_name(void);

/* A CSV field, quoted when it holds a comma, quote or line break. */
void wg_ctl_csv_str(FILE *o, const char *s);
/* Fit s into width table columns: fit_left keeps its end (the registered
 * domain: "..ivery.mp.microsoft.com"), fit_right its start. */
void wg_ctl_fit_left(char *out, size_t cap, const char *s, int width);
void wg_ctl_fit_right(char *out, size_t cap, const char *s, int width);

/* The table's columns for this terminal (COLUMNS, the tty's width, else
 * 80); wide: every column, nothing cut. Call before the header. */
void wg_ctl_table_layout(int wide);
/* A discrepancy row as one JSON object (wg_ctl_json_row), a CSV line
 * (after the header) or a table line (after the header);
 * wg_ctl_row_print picks by f. */
void wg_ctl_row_json(FILE *o, const struct wg_ctl_row *r);
void wg_ctl_row_csv_header(FILE *o);
void wg_ctl_row_csv(FILE *o, const struct wg_ctl_row *r);
void wg_ctl_row_table_header(FILE *o);
void wg_ctl_row_table(FILE *o, const struct wg_ctl_row *r);
void wg_ctl_row_print(FILE *o, enum wg_ctl_fmt f, const struct wg_ctl_row *r);

#endif
