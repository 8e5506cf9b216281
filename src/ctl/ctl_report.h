/* ctl_report.h: `wuguardctl report --html FILE`, one self-contained HTML
 * page for people who review the guard: health over time (the hourly
 * counters), discrepancies per category and per local upstream over time,
 * top names and clients, the last rows with both answers, and the hash
 * chain's verify state.
 *
 * The charts are inline SVG written here (no script, no external asset, a
 * Content-Security-Policy that allows neither); every text from the
 * database is HTML-escaped. Each chart is an <svg class="chart"> with
 * data-buckets and data-series; each point an element of class "pt" with
 * data-series, data-bucket and data-value, so a test (or a script) can
 * read the numbers back from the DOM. */
#ifndef WG_CTL_REPORT_H
#define WG_CTL_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "ctl_where.h"

struct wg_ctl_report {
	const char *path;                 /* borrowed: the HTML file, "-": stdout */
	const char *db_path;              /* borrowed: named in the header */
	int64_t since, until;             /* unix ms; INT64_MIN / INT64_MAX: open */
	const struct wg_ctl_where *where; /* borrowed: the filters, for events */
	const char *filters;              /* borrowed: the options as given ("" none) */
	int utc;                          /* times in UTC, else local time */
	int last_rows;                    /* rows in the "last rows" table */
};

/* Write the report from db (the caller holds a read transaction, so the
 * page is one snapshot). The file is written to PATH.tmp and renamed, so a
 * reader never sees half a page. Returns 0 (chain intact) or 1 (chain
 * verify failed: the page says where) with a one-line summary in msg, or
 * a negative errno with the reason in msg. */
int wg_ctl_report_html(sqlite3 *db, const struct wg_ctl_report *r, char *msg, size_t cap);

#endif
