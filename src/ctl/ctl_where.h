/* ctl_where.h: a WHERE clause and its parameters, as wuguardctl's filter
 * options (--since, --category, --name ...) build it; shared by its
 * commands and the report (ctl_report.c), so every command filters alike. */
#ifndef WG_CTL_WHERE_H
#define WG_CTL_WHERE_H

#include <stdint.h>
#include <sqlite3.h>

struct wg_ctl_where {
	char sql[1024];  /* "" or " WHERE cond AND cond ..." */
	int n;           /* parameters, in the order of their '?' */
	struct {
		const char *s; /* borrowed (argv); NULL: the integer i */
		int64_t i;
	} p[16];
};

/* Bind w's parameters to st's '?' first+1 ... first+n. */
static inline void wg_ctl_where_bind(sqlite3_stmt *st, const struct wg_ctl_where *w, int first)
{
	for (int i = 0; i < w->n; i++) {
		if (w->p[i].s)
			sqlite3_bind_text(st, first + i + 1, w->p[i].s, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, first + i + 1, w->p[i].i);
	}
}

#endif
