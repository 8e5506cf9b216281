/* ctl_report.c: see ctl_report.h. */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_out.h"
#include "ctl_report.h"
#include "dlog.h"
#include "dlog_db.h"

#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define HOURLY_UP_TO (8 * DAY_MS) /* longer ranges get daily buckets */
#define MAX_BUCKETS 1000          /* daily: the last 1000 days of a longer range */
#define MAX_SERIES 8              /* more categories or upstreams fold into "other" */
#define TOP_N 10

/* The chart's geometry, in SVG user units (the page scales it). */
#define CW 1160
#define CH 260
#define PL 56   /* left: the value axis */
#define PR 12
#define PT 14
#define PB 34   /* bottom: the time axis */

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
				"#8c564b", "#e377c2", "#17becf", "#7f7f7f"};

struct series {
	char name[WG_DLOG_UPSTREAM_LEN];
	const char *color;  /* borrowed: palette */
	int64_t *v;         /* owned: one value per bucket */
	int64_t total;
};

struct rep {
	FILE *o;                        /* borrowed */
	sqlite3 *db;                    /* borrowed */
	const struct wg_ctl_report *r;  /* borrowed */
	int64_t *edge;                  /* owned: nb + 1 bucket edges, unix ms */
	int nb;
	int hourly;
	int64_t since, until;           /* the range the buckets cover */
	char *err;                      /* borrowed: the caller's message buffer */
	size_t errcap;
};

static int fail(struct rep *p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct rep *p, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errcap, fmt, ap);
	va_end(ap);
	return rc;
}

/* Text into HTML, for element content and quoted attributes alike: a name
 * with "<script>" in it stays text. Control bytes (never in a name the
 * daemon writes, but the file may be edited) become U+FFFD. */
static void esc(FILE *o, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '&': fputs("&amp;", o); break;
		case '<': fputs("&lt;", o); break;
		case '>': fputs("&gt;", o); break;
		case '"': fputs("&quot;", o); break;
		case '\'': fputs("&#39;", o); break;
		default:
			if (*c < 0x20 || *c == 0x7f)
				fputs("&#xfffd;", o);
			else
				fputc(*c, o);
		}
	}
}

enum tform { T_MINUTE, T_SECOND, T_HOUR_LABEL, T_DAY_LABEL };

static void fmt_time(const struct rep *p, int64_t ms, enum tform f, char *buf, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (p->r->utc)
		gmtime_r(&t, &tm);
	else
		localtime_r(&t, &tm);
	switch (f) {
	case T_MINUTE:
		strftime(buf, cap, p->r->utc ? "%Y-%m-%d %H:%M UTC" : "%Y-%m-%d %H:%M %Z", &tm);
		break;
	case T_SECOND:
		strftime(buf, cap, p->r->utc ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%d %H:%M:%S %Z", &tm);
		break;
	case T_HOUR_LABEL: strftime(buf, cap, "%m-%d %H:%M", &tm); break;
	case T_DAY_LABEL: strftime(buf, cap, "%Y-%m-%d", &tm); break;
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t q_int(sqlite3 *db, const char *sql, int64_t dflt)
{
	sqlite3_stmt *st;
	int64_t v = dflt;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return dflt;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Midnight (local or UTC) of the day ms falls in, days later. */
static int64_t day_edge(const struct rep *p, int64_t ms, int days)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (p->r->utc)
		gmtime_r(&t, &tm);
	else
		localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday += days;
	tm.tm_isdst = -1;
	return (int64_t)(p->r->utc ? timegm(&tm) : mktime(&tm)) * 1000;
}

/* The buckets: the range given, or (open) what the database holds; hourly
 * up to 7 days, daily beyond. */
static int make_buckets(struct rep *p)
{
	int64_t since = p->r->since, until = p->r->until;
	if (until == INT64_MAX)
		until = now_ms();
	if (since == INT64_MIN) {
		int64_t a = q_int(p->db, "SELECT min(time) FROM events", until);
		int64_t b = q_int(p->db, "SELECT min(hour) FROM counters", until / HOUR_MS) * HOUR_MS;
		since = a < b ? a : b;
		if (since >= until)
			since = until - DAY_MS;
	}
	/* a minute of slack: "--since 8d" is read a few ms before "now" */
	p->hourly = until - since <= HOURLY_UP_TO + 60000;
	int64_t first = p->hourly ? since - ((since % HOUR_MS) + HOUR_MS) % HOUR_MS
				  : day_edge(p, since, 0);
	if (!p->hourly && until - first > (int64_t)MAX_BUCKETS * DAY_MS)
		first = day_edge(p, until - (int64_t)(MAX_BUCKETS - 1) * DAY_MS, 0);
	int cap = MAX_BUCKETS + 2;
	p->edge = calloc((size_t)cap, sizeof(*p->edge));
	if (!p->edge)
		return fail(p, -ENOMEM, "out of memory");
	p->edge[0] = first;
	p->nb = 0;
	while (p->edge[p->nb] < until && p->nb < cap - 1) {
		int64_t e = p->edge[p->nb];
		p->edge[p->nb + 1] = p->hourly ? e + HOUR_MS : day_edge(p, e + DAY_MS / 2, 1);
		p->nb++;
	}
	if (p->nb == 0) { /* an empty range still draws one bucket */
		p->edge[1] = first + (p->hourly ? HOUR_MS : DAY_MS);
		p->nb = 1;
	}
	p->since = first;
	p->until = p->edge[p->nb];
	return 0;
}

static int bucket_of(const struct rep *p, int64_t ms)
{
	if (ms < p->edge[0] || ms >= p->edge[p->nb])
		return -1;
	int lo = 0, hi = p->nb - 1;
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (p->edge[mid] <= ms)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* A statement over the filtered events first seen within the buckets:
 * "SELECT cols FROM events WHERE <filters> AND time in range tail". */
static sqlite3_stmt *ev_stmt(struct rep *p, const char *cols, const char *tail)
{
	char sql[2048];
	const struct wg_ctl_where *w = p->r->where;
	sqlite3_stmt *st;
	snprintf(sql, sizeof(sql), "SELECT %s FROM events%s%stime >= ? AND time < ? %s", cols,
		 w->sql, w->sql[0] ? " AND " : " WHERE ", tail);
	if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) {
		fail(p, -EIO, "%s", sqlite3_errmsg(p->db));
		return NULL;
	}
	wg_ctl_where_bind(st, w, 0);
	sqlite3_bind_int64(st, w->n + 1, p->since);
	sqlite3_bind_int64(st, w->n + 2, p->until);
	return st;
}

static int series_alloc(struct rep *p, struct series *s, const char *name, int color)
{
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->color = palette[color % (int)(sizeof(palette) / sizeof(palette[0]))];
	s->total = 0;
	s->v = calloc((size_t)p->nb, sizeof(*s->v));
	return s->v ? 0 : fail(p, -ENOMEM, "out of memory");
}

static void series_free(struct series *s, int n)
{
	for (int i = 0; i < n; i++)
		free(s[i].v);
}

static void series_add(const struct rep *p, struct series *s, int64_t ms, int64_t v)
{
	int b = bucket_of(p, ms);
	if (b >= 0) {
		s->v[b] += v;
		s->total += v;
	}
}

/* Events per bucket split by a column (category, l_upstream): the
 * MAX_SERIES - 1 biggest keep their name, the rest is "other". */
static int group_series(struct rep *p, const char *col, struct series *s, int *ns)
{
	char tail[128], cols[128];
	const char *names[MAX_SERIES];
	int n = 0, other = 0;
	*ns = 0;
	snprintf(cols, sizeof(cols), "%s, sum(count)", col);
	snprintf(tail, sizeof(tail), "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %d", MAX_SERIES + 1);
	sqlite3_stmt *st = ev_stmt(p, cols, tail);
	if (!st)
		return -EIO;
	char found[MAX_SERIES + 1][WG_DLOG_UPSTREAM_LEN];
	int nf = 0;
	while (nf < MAX_SERIES + 1 && sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		snprintf(found[nf++], sizeof(found[0]), "%s", v && v[0] ? v : "(none)");
	}
	sqlite3_finalize(st);
	other = nf > MAX_SERIES;
	for (int i = 0; i < (other ? MAX_SERIES - 1 : nf); i++) {
		if (series_alloc(p, &s[n], found[i], n) < 0) {
			series_free(s, n);
			return -ENOMEM;
		}
		names[n] = s[n].name;
		n++;
	}
	if (other && series_alloc(p, &s[n++], "other", MAX_SERIES) < 0) {
		series_free(s, n - 1);
		return -ENOMEM;
	}
	*ns = n;
	snprintf(cols, sizeof(cols), "time, count, %s", col);
	if (!(st = ev_stmt(p, cols, ""))) {
		series_free(s, n);
		return -EIO;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 2);
		int k = other ? n - 1 : -1;
		if (!v || !v[0])
			v = "(none)";
		for (int i = 0; i < n - other; i++)
			if (strcmp(names[i], v) == 0)
				k = i;
		if (k >= 0)
			series_add(p, &s[k], sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
	}
	sqlite3_finalize(st);
	return 0;
}

/* 1, 2, 5 x 10^k at or above v: round axis labels. */
static int64_t nice_max(int64_t v)
{
	int64_t m = 1;
	if (v <= 0)
		return 1;
	for (;;) {
		if (v <= m)
			return m;
		if (v <= 2 * m)
			return 2 * m;
		if (v <= 5 * m)
			return 5 * m;
		if (m > INT64_MAX / 20)
			return v;
		m *= 10;
	}
}

static void bucket_label(const struct rep *p, int b, char *buf, size_t cap)
{
	fmt_time(p, p->edge[b], p->hourly ? T_HOUR_LABEL : T_DAY_LABEL, buf, cap);
}

/* One chart: lines (a point per bucket and series) or stacked bars (a
 * rect per bucket and series, zero-height ones too), then its legend. */
static void chart(struct rep *p, const char *id, const char *title, const char *note,
		  const struct series *s, int ns, int stacked)
{
	FILE *o = p->o;
	int64_t max = 0;
	for (int b = 0; b < p->nb; b++) {
		int64_t sum = 0;
		for (int i = 0; i < ns; i++) {
			sum += s[i].v[b];
			if (!stacked && s[i].v[b] > max)
				max = s[i].v[b];
		}
		if (stacked && sum > max)
			max = sum;
	}
	max = nice_max(max);
	double pw = CW - PL - PR, ph = CH - PT - PB, bw = pw / p->nb;
	fprintf(o, "<section class=\"panel\"><h2>%s</h2><p class=\"note\">%s</p>\n", title, note);
	fprintf(o, "<svg class=\"chart\" id=\"%s\" data-buckets=\"%d\" data-series=\"%d\" "
		"data-bucket-size=\"%s\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n",
		id, p->nb, ns, p->hourly ? "hour" : "day", CW, CH, title);
	/* whole-number ticks: max is 1, 2 or 5 times a power of ten */
	int ticks = max % 5 == 0 ? 5 : max % 4 == 0 ? 4 : (int)max;
	for (int t = 0; t <= ticks; t++) {
		double y = PT + ph - ph * t / ticks;
		fprintf(o, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
			"<text class=\"ylab\" x=\"%d\" y=\"%.1f\">%lld</text>\n", PL, CW - PR, y, y,
			PL - 6, y + 4, (long long)(max * t / ticks));
	}
	int step = (p->nb + 11) / 12;
	for (int b = 0; b < p->nb; b += step) {
		char l[32];
		bucket_label(p, b, l, sizeof(l));
		fprintf(o, "<text class=\"xlab\" x=\"%.1f\" y=\"%d\">%s</text>\n",
			PL + bw * (b + 0.5), CH - PB + 16, l);
	}
	double *base = stacked ? calloc((size_t)p->nb, sizeof(double)) : NULL;
	for (int i = 0; i < ns; i++) {
		fprintf(o, "<g class=\"series\" data-series=\"");
		esc(o, s[i].name);
		fprintf(o, "\" data-total=\"%lld\" fill=\"%s\" stroke=\"%s\">\n",
			(long long)s[i].total, s[i].color, s[i].color);
		if (!stacked) {
			fputs("<polyline fill=\"none\" stroke-width=\"1.5\" points=\"", o);
			for (int b = 0; b < p->nb; b++)
				fprintf(o, "%s%.1f,%.1f", b ? " " : "", PL + bw * (b + 0.5),
					PT + ph - ph * (double)s[i].v[b] / (double)max);
			fputs("\"/>\n", o);
		}
		for (int b = 0; b < p->nb; b++) {
			char l[32];
			double h = ph * (double)s[i].v[b] / (double)max;
			bucket_label(p, b, l, sizeof(l));
			if (stacked) {
				double y0 = base ? base[b] : 0;
				fprintf(o, "<rect class=\"pt\" data-series=\"");
				esc(o, s[i].name);
				fprintf(o, "\" data-bucket=\"%d\" data-value=\"%lld\" x=\"%.1f\" "
					"y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" stroke=\"none\">",
					b, (long long)s[i].v[b], PL + bw * b + (bw > 3 ? 0.5 : 0),
					PT + ph - y0 - h, bw > 3 ? bw - 1 : bw, h);
				if (base)
					base[b] += h;
				fputs("<title>", o);
			} else {
				fprintf(o, "<circle class=\"pt\" data-series=\"");
				esc(o, s[i].name);
				fprintf(o, "\" data-bucket=\"%d\" data-value=\"%lld\" cx=\"%.1f\" "
					"cy=\"%.1f\" r=\"%s\"><title>", b, (long long)s[i].v[b],
					PL + bw * (b + 0.5), PT + ph - h, s[i].v[b] ? "2.5" : "1");
			}
			fprintf(o, "%s: ", l);
			esc(o, s[i].name);
			fprintf(o, " %lld</title></%s>\n", (long long)s[i].v[b],
				stacked ? "rect" : "circle");
		}
		fputs("</g>\n", o);
	}
	free(base);
	fputs("</svg>\n<ul class=\"legend\">", o);
	for (int i = 0; i < ns; i++) {
		fprintf(o, "<li><span class=\"sw\" style=\"background:%s\"></span>", s[i].color);
		esc(o, s[i].name);
		fprintf(o, " <b>%lld</b></li>", (long long)s[i].total);
	}
	if (!ns)
		fputs("<li>(no discrepancies in this range)</li>", o);
	fputs("</ul></section>\n", o);
}

/* Guarded / repaired from the hourly counters (every query, the filters do
 * not apply) next to the discrepancies recorded (filtered events). */
static int health(struct rep *p, int64_t tot[5])
{
	struct series s[3];
	int n = 0, rc = -ENOMEM;
	if (series_alloc(p, &s[n++], "guarded", 0) < 0 || series_alloc(p, &s[n++], "repaired", 2) < 0 ||
	    series_alloc(p, &s[n++], "recorded", 1) < 0)
		goto out;
	sqlite3_stmt *st;
	rc = -EIO;
	if (sqlite3_prepare_v2(p->db, "SELECT hour, guarded, repaired, matched, cdn_variance, "
			       "public_unavailable FROM counters WHERE hour >= ? AND hour < ?",
			       -1, &st, NULL) != SQLITE_OK) {
		fail(p, rc, "%s", sqlite3_errmsg(p->db));
		goto out;
	}
	sqlite3_bind_int64(st, 1, p->since / HOUR_MS);
	sqlite3_bind_int64(st, 2, (p->until + HOUR_MS - 1) / HOUR_MS);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t ms = sqlite3_column_int64(st, 0) * HOUR_MS;
		if (bucket_of(p, ms) < 0)
			continue;
		series_add(p, &s[0], ms, sqlite3_column_int64(st, 1));
		series_add(p, &s[1], ms, sqlite3_column_int64(st, 2));
		for (int i = 0; i < 5; i++)
			tot[i] += sqlite3_column_int64(st, 1 + i);
	}
	sqlite3_finalize(st);
	if (!(st = ev_stmt(p, "time, count", "")))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW)
		series_add(p, &s[2], sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	chart(p, "chart-health", "Guarded, repaired and recorded",
	      "guarded and repaired: the daemon's hourly counters (every query, filters do not "
	      "apply); recorded: discrepancy events written to the log (filtered), by first seen",
	      s, 3, 0);
	rc = 0;
out:
	series_free(s, n);
	return rc;
}

static int over_time(struct rep *p, const char *col, const char *id, const char *title,
		     const char *note)
{
	struct series s[MAX_SERIES + 1];
	int ns, rc = group_series(p, col, s, &ns);
	if (rc < 0)
		return rc;
	chart(p, id, title, note, s, ns, 1);
	series_free(s, ns);
	return 0;
}

/* Top values of a column: a table with a bar per row. */
static int top(struct rep *p, const char *col, const char *id, const char *title,
	       const char *empty)
{
	char tail[96], cols[96];
	FILE *o = p->o;
	snprintf(cols, sizeof(cols), "%s, count(*), sum(count)", col);
	snprintf(tail, sizeof(tail), "GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT %d", TOP_N);
	sqlite3_stmt *st = ev_stmt(p, cols, tail);
	if (!st)
		return -EIO;
	fprintf(o, "<section class=\"panel half\"><h2>%s</h2>\n<table class=\"top\" id=\"%s\">"
		"<tr><th>%s</th><th class=\"n\">rows</th><th class=\"n\">events</th><th></th></tr>\n",
		title, id, col[0] == 'q' ? "name" : "client");
	int64_t first = -1;
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		int64_t ev = sqlite3_column_int64(st, 2);
		if (first < 0)
			first = ev > 0 ? ev : 1;
		fputs("<tr class=\"topv\" data-value=\"", o);
		esc(o, v ? v : "");
		fprintf(o, "\" data-events=\"%lld\"><td class=\"name\">", (long long)ev);
		esc(o, v && v[0] ? v : empty);
		fprintf(o, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
			"<td class=\"barc\"><span class=\"bar\" style=\"width:%d%%\"></span></td></tr>\n",
			(long long)sqlite3_column_int64(st, 1), (long long)ev, (int)(ev * 100 / first));
		n++;
	}
	sqlite3_finalize(st);
	if (!n)
		fputs("<tr><td colspan=\"4\">(none)</td></tr>\n", o);
	fputs("</table></section>\n", o);
	return 0;
}

static void answer_cell(FILE *o, const struct wg_dlog_side *s)
{
	char b[32];
	fputs("<td class=\"ans\"><b>", o);
	wg_ctl_answer_short(s, b, sizeof(b));
	if (s->rcode < 0)
		esc(o, b);
	else
		esc(o, wg_ctl_rcode_name(s->rcode, b, sizeof(b)));
	fputs("</b>", o);
	if (s->addrs[0]) {
		fputs(" <span class=\"addr\">", o);
		esc(o, s->addrs);
		fputs("</span>", o);
	}
	if (s->cname[0]) {
		fputs("<br><small>CNAME ", o);
		esc(o, s->cname);
		fputs("</small>", o);
	}
	fputs("<br><small>", o);
	if (s->ede >= 0) {
		fprintf(o, "EDE %d ", s->ede);
		esc(o, wg_ctl_ede_name(s->ede));
		fputs(" · ", o);
	}
	esc(o, s->upstream[0] ? s->upstream : "-");
	fputs(" · ", o);
	esc(o, s->status);
	if (s->latency_us >= 0)
		fprintf(o, " · %.1f ms", (double)s->latency_us / 1000.0);
	if (s->min_ttl >= 0)
		fprintf(o, " · TTL %d", s->min_ttl);
	fputs("</small></td>", o);
}

/* The newest rows (filters apply, not the range's buckets: the newest
 * matching rows), both answers side by side. */
static int last_rows(struct rep *p)
{
	char sql[2048], t[48], tb[16];
	const struct wg_ctl_where *w = p->r->where;
	FILE *o = p->o;
	sqlite3_stmt *st;
	snprintf(sql, sizeof(sql), "SELECT id, count, last_seen, " WG_DLOG_EVENT_COLUMNS
		 " FROM events%s ORDER BY id DESC LIMIT %d", w->sql, p->r->last_rows);
	if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail(p, -EIO, "%s", sqlite3_errmsg(p->db));
	wg_ctl_where_bind(st, w, 0);
	fprintf(o, "<section class=\"panel\"><h2>Last %d rows</h2>\n<table class=\"rows\" "
		"id=\"last-rows\"><tr><th>id</th><th>first seen</th><th>count</th><th>client</th>"
		"<th>name</th><th>type</th><th>category</th><th>served</th><th>local answer</th>"
		"<th>public answer</th></tr>\n", p->r->last_rows);
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct wg_dlog_event e;
		int64_t id = sqlite3_column_int64(st, 0), count = sqlite3_column_int64(st, 1);
		wg_dlog_db_read_event(st, 3, &e);
		fmt_time(p, e.time_ms, T_SECOND, t, sizeof(t));
		fputs("<tr class=\"row sev-", o);
		esc(o, e.severity);
		fprintf(o, "\" data-id=\"%lld\"><td class=\"n\">%lld</td><td>%s</td><td class=\"n\">"
			"%lld</td><td>", (long long)id, (long long)id, t, (long long)count);
		esc(o, e.client[0] ? e.client : "(omitted)");
		fputs("</td><td class=\"name\">", o);
		esc(o, e.qname);
		fprintf(o, "</td><td>%s</td><td>", wg_ctl_type_name(e.qtype, tb, sizeof(tb)));
		esc(o, e.category);
		fputs("<br><small>", o);
		esc(o, e.severity);
		if (e.markers[0]) {
			fputs(" · ", o);
			esc(o, e.markers);
		}
		fputs("</small></td><td>", o);
		esc(o, e.action);
		fputs("</td>", o);
		answer_cell(o, &e.local);
		answer_cell(o, &e.public_);
		fputs("</tr>\n", o);
		n++;
	}
	sqlite3_finalize(st);
	if (!n)
		fputs("<tr><td colspan=\"10\">(no rows)</td></tr>\n", o);
	fputs("</table></section>\n", o);
	return 0;
}

static const char css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1c1e21}"
	"header{background:#1c2b3a;color:#fff;padding:14px 24px}"
	"header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#c9d3dd}"
	"main{padding:12px 24px;display:flex;flex-wrap:wrap;gap:12px}"
	".panel{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:10px 14px;"
	"flex:1 1 100%;box-sizing:border-box;min-width:0}"
	".half{flex:1 1 45%}h2{font-size:16px;margin:2px 0 4px}"
	".note{color:#5b6673;font-size:12px;margin:0 0 6px}"
	"svg.chart{width:100%;height:auto;display:block}"
	".grid{stroke:#e3e7eb}.ylab{font-size:11px;fill:#5b6673;text-anchor:end}"
	".xlab{font-size:11px;fill:#5b6673;text-anchor:middle}"
	".legend{list-style:none;padding:0;margin:4px 0 0;display:flex;flex-wrap:wrap;gap:14px}"
	".sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;"
	"vertical-align:-1px}"
	"table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 6px;"
	"border-bottom:1px solid #eceff2;vertical-align:top}th{font-size:12px;color:#5b6673}"
	".n{text-align:right;font-variant-numeric:tabular-nums}"
	".name{word-break:break-all;font-family:ui-monospace,monospace;font-size:13px}"
	".barc{width:30%}.bar{display:block;height:10px;background:#1f77b4;border-radius:2px}"
	".rows td{font-size:12px}.ans small{color:#5b6673}.addr{font-family:ui-monospace,monospace}"
	".sev-high td:first-child{border-left:3px solid #d62728}"
	".sev-medium td:first-child{border-left:3px solid #ff7f0e}"
	".ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:600}"
	".facts td:first-child{color:#5b6673;width:16em}";

static int write_page(struct rep *p, int64_t bad, int64_t chain_rows, const char *why,
		      int64_t *rows_out)
{
	FILE *o = p->o;
	char t1[48], t2[48], tn[48];
	const struct wg_ctl_report *r = p->r;
	int64_t tot[5] = {0}, rows = 0, events = 0;
	int rc;
	fmt_time(p, p->since, T_MINUTE, t1, sizeof(t1));
	fmt_time(p, p->until, T_MINUTE, t2, sizeof(t2));
	fmt_time(p, now_ms(), T_SECOND, tn, sizeof(tn));
	sqlite3_stmt *st = ev_stmt(p, "count(*), coalesce(sum(count), 0)", "");
	if (!st)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		rows = sqlite3_column_int64(st, 0);
		events = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	*rows_out = rows;
	/* No script and no fetch: the policy forbids both, so even a page
	 * that escaped something wrongly could not run it. */
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>wuguard report ", o);
	fprintf(o, "%s to %s</title>\n<style>%s</style></head><body>\n", t1, t2, css);
	fprintf(o, "<header><h1>wuguard report</h1><p>%s to %s, %s buckets · generated %s</p>"
		"</header>\n<main>\n", t1, t2, p->hourly ? "hourly" : "daily", tn);
	fputs("<section class=\"panel\"><h2>Overview</h2><table class=\"facts\">\n<tr><td>database"
	      "</td><td>", o);
	esc(o, r->db_path);
	fputs("</td></tr>\n<tr><td>filters</td><td>", o);
	esc(o, r->filters && r->filters[0] ? r->filters : "(none)");
	fprintf(o, "</td></tr>\n<tr><td>discrepancies in range</td><td id=\"rows-in-range\" "
		"data-rows=\"%lld\" data-events=\"%lld\">%lld rows, %lld events</td></tr>\n",
		(long long)rows, (long long)events, (long long)rows, (long long)events);
	/* the counters' totals over the same buckets, filled in after the chart */
	fputs("<tr><td>hash chain</td><td id=\"verify\" ", o);
	if (bad > 0) {
		fprintf(o, "data-state=\"failed\" data-row=\"%lld\"><span class=\"bad\">FAILED at row "
			"%lld</span>: ", (long long)bad, (long long)bad);
		esc(o, why);
		fputs(" (the log was edited after it was written; see wuguardctl verify)", o);
	} else {
		fprintf(o, "data-state=\"ok\" data-rows=\"%lld\"><span class=\"ok\">intact</span>, "
			"%lld rows verified", (long long)chain_rows, (long long)chain_rows);
	}
	fputs("</td></tr>\n</table></section>\n", o);
	if ((rc = health(p, tot)) < 0)
		return rc;
	fprintf(o, "<section class=\"panel\"><h2>Health counters in range</h2><table class=\"facts\" "
		"id=\"health-totals\" data-guarded=\"%lld\" data-repaired=\"%lld\">\n"
		"<tr><td>guarded queries</td><td class=\"n\">%lld</td></tr>\n"
		"<tr><td>repaired (public answer served)</td><td class=\"n\">%lld</td></tr>\n"
		"<tr><td>matched</td><td class=\"n\">%lld</td></tr>\n"
		"<tr><td>CDN variance</td><td class=\"n\">%lld</td></tr>\n"
		"<tr><td>public reference unavailable</td><td class=\"n\">%lld</td></tr>\n"
		"</table></section>\n", (long long)tot[0], (long long)tot[1], (long long)tot[0],
		(long long)tot[1], (long long)tot[2], (long long)tot[3], (long long)tot[4]);
	if ((rc = over_time(p, "category", "chart-category", "Discrepancies per category",
			    "events (rows times their count) by first seen, stacked")) < 0)
		return rc;
	if ((rc = over_time(p, "l_upstream", "chart-upstream",
			    "Discrepancies per local upstream",
			    "events by the local upstream that gave the local answer, stacked")) < 0)
		return rc;
	if ((rc = top(p, "qname", "top-names", "Top names", "(empty)")) < 0 ||
	    (rc = top(p, "client", "top-clients", "Top clients", "(omitted)")) < 0)
		return rc;
	if ((rc = last_rows(p)) < 0)
		return rc;
	fputs("</main></body></html>\n", o);
	return 0;
}

int wg_ctl_report_html(sqlite3 *db, const struct wg_ctl_report *r, char *msg, size_t cap)
{
	struct rep p = {.db = db, .r = r, .err = msg, .errcap = cap};
	char why[256] = "", tmp[4096];
	int64_t chain_rows = 0, rows = 0;
	int rc, to_stdout = strcmp(r->path, "-") == 0;
	msg[0] = 0;
	/* the verify code of `wuguardctl verify`, on the same snapshot */
	int64_t bad = wg_dlog_db_verify(db, &chain_rows, why, sizeof(why));
	if (bad < 0)
		return fail(&p, -EIO, "verify: %s", sqlite3_errmsg(db));
	if ((rc = make_buckets(&p)) < 0)
		return rc;
	if (to_stdout) {
		p.o = stdout;
	} else {
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", r->path) >= sizeof(tmp)) {
			free(p.edge);
			return fail(&p, -ENAMETOOLONG, "%s: name too long", r->path);
		}
		p.o = fopen(tmp, "w");
		if (!p.o) {
			rc = -errno;
			free(p.edge);
			return fail(&p, rc, "%s: %s", tmp, strerror(-rc));
		}
	}
	rc = write_page(&p, bad, chain_rows, why, &rows);
	int werr = fflush(p.o) != 0 || ferror(p.o) ? errno : 0;
	if (!to_stdout && fclose(p.o) != 0 && !werr)
		werr = errno;
	if (rc == 0 && werr)
		rc = fail(&p, -(werr ? werr : EIO), "%s: %s", to_stdout ? "stdout" : tmp,
			  strerror(werr ? werr : EIO));
	if (!to_stdout) {
		if (rc == 0 && rename(tmp, r->path) != 0)
			rc = fail(&p, -errno, "%s: %s", r->path, strerror(errno));
		if (rc < 0)
			unlink(tmp);
	}
	if (rc == 0)
		snprintf(msg, cap, "%lld rows in range, %d %s buckets, hash chain %s", (long long)rows,
			 p.nb, p.hourly ? "hourly" : "daily", bad > 0 ? "FAILED" : "intact");
	free(p.edge);
	return rc < 0 ? rc : bad > 0;
}
