/* ctl_out.c: see ctl_out.h. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <time.h>

#include "ctl_out.h"
#include "wire.h"

/* wire.c's tables, so the database and the CLI name a code the same way */
const char *wg_ctl_type_name(unsigned t, char *buf, size_t cap)
{
	return wg_wire_type_str((uint16_t)t, buf, cap);
}

const char *wg_ctl_rcode_name(int rc, char *buf, size_t cap)
{
	return rc < 0 ? "-" : wg_wire_rcode_name(rc, buf, cap);
}

void wg_ctl_flags_text(int f, char *buf, size_t cap)
{
	static const struct { int bit; const char *n; } k[] = {
		{0x8000, "qr"}, {0x0400, "aa"}, {0x0200, "tc"}, {0x0100, "rd"},
		{0x0080, "ra"}, {0x0020, "ad"}, {0x0010, "cd"}};
	size_t len = 0;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (f & k[i].bit)
			len += (size_t)snprintf(buf + len, cap > len ? cap - len : 0, "%s%s",
						len ? " " : "", k[i].n);
}

const char *wg_ctl_ede_name(int e)
{
	static const char *n[] = {"Other", "Unsupported DNSKEY Algorithm",
		"Unsupported DS Digest Type", "Stale Answer", "Forged Answer",
		"DNSSEC Indeterminate", "DNSSEC Bogus", "Signature Expired",
		"Signature Not Yet Valid", "DNSKEY Missing", "RRSIGs Missing",
		"No Zone Key Bit Set", "NSEC Missing", "Cached Error", "Not Ready",
		"Blocked", "Censored", "Filtered", "Prohibited", "Stale NXDOMAIN Answer",
		"Not Authoritative", "Not Supported", "No Reachable Authority",
		"Network Error", "Invalid Data"};
	return e >= 0 && e < (int)(sizeof(n) / sizeof(n[0])) ? n[e] : "";
}

void wg_ctl_answer_short(const struct wg_dlog_side *s, char *buf, size_t cap)
{
	char rb[16];
	if (s->rcode < 0) {
		snprintf(buf, cap, "%s", s->status[0] ? s->status : "-");
		return;
	}
	if (s->rcode != 0) {
		snprintf(buf, cap, "%s", wg_ctl_rcode_name(s->rcode, rb, sizeof(rb)));
		return;
	}
	size_t first = strcspn(s->addrs, " ");
	if (first == 0) {
		snprintf(buf, cap, "NODATA");
		return;
	}
	int more = 0;
	for (const char *p = s->addrs + first; *p; p++)
		more += *p == ' ' && p[1] && p[1] != ' ';
	if (more)
		snprintf(buf, cap, "%.*s+%d", (int)first, s->addrs, more);
	else
		snprintf(buf, cap, "%.*s", (int)first, s->addrs);
}

void wg_ctl_json_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(o, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(o, "\\u%04x", *p);
		else
			fputc(*p, o);
	}
	fputc('"', o);
}

void wg_ctl_json_words(FILE *o, const char *s)
{
	char buf[WG_DLOG_CNAME_LEN];
	char *save, *tok;
	int first = 1;
	snprintf(buf, sizeof(buf), "%s", s);
	fputc('[', o);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (!first)
			fputc(',', o);
		wg_ctl_json_str(o, tok);
		first = 0;
	}
	fputc(']', o);
}

static void json_int_or_null(FILE *o, const char *key, int64_t v)
{
	if (v < 0)
		fprintf(o, ",\"%s\":null", key);
	else
		fprintf(o, ",\"%s\":%lld", key, (long long)v);
}

void wg_ctl_json_side(FILE *o, const struct wg_dlog_side *s)
{
	char b[32], fl[32];
	wg_ctl_flags_text(s->flags, fl, sizeof(fl));
	fputs("{\"rcode\":", o);
	if (s->rcode < 0)
		fputs("null", o);
	else
		wg_ctl_json_str(o, wg_ctl_rcode_name(s->rcode, b, sizeof(b)));
	fputs(",\"flags\":", o);
	wg_ctl_json_str(o, fl);
	json_int_or_null(o, "ede", s->ede);
	fputs(",\"cname\":", o);
	wg_ctl_json_words(o, s->cname);
	fputs(",\"addresses\":", o);
	wg_ctl_json_words(o, s->addrs);
	json_int_or_null(o, "min_ttl", s->min_ttl);
	fputs(",\"upstream\":", o);
	wg_ctl_json_str(o, s->upstream);
	json_int_or_null(o, "latency_us", s->latency_us);
	fputs(",\"status\":", o);
	wg_ctl_json_str(o, s->status);
	fputc('}', o);
}

void wg_ctl_time_iso(int64_t ms, int utc, char *buf, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char a[32], z[8];
	int msec = (int)(ms % 1000);
	if (msec < 0)
		msec += 1000;
	if (utc) {
		gmtime_r(&t, &tm);
		strftime(a, sizeof(a), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf, cap, "%s.%03dZ", a, msec);
		return;
	}
	localtime_r(&t, &tm);
	strftime(a, sizeof(a), "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(z, sizeof(z), "%z", &tm);
	snprintf(buf, cap, "%s.%03d%.3s:%.2s", a, msec, z, z + 3);
}

void wg_ctl_json_row(FILE *o, int64_t id, int64_t count, int64_t last_seen,
		     const struct wg_dlog_event *e, int utc, const char *host, const char *site)
{
	char t1[48], t2[48], tb[16];
	wg_ctl_time_iso(e->time_ms, utc, t1, sizeof(t1));
	wg_ctl_time_iso(last_seen, utc, t2, sizeof(t2));
	fprintf(o, "{\"id\":%lld,\"time\":\"%s\",\"last_seen\":\"%s\",\"time_ms\":%lld,"
		"\"last_seen_ms\":%lld,\"count\":%lld,\"client\":",
		(long long)id, t1, t2, (long long)e->time_ms, (long long)last_seen,
		(long long)count);
	wg_ctl_json_str(o, e->client);
	fputs(",\"name\":", o);
	wg_ctl_json_str(o, e->qname);
	fputs(",\"type\":", o);
	wg_ctl_json_str(o, wg_ctl_type_name(e->qtype, tb, sizeof(tb)));
	fputs(",\"category\":", o);
	wg_ctl_json_str(o, e->category);
	fputs(",\"severity\":", o);
	wg_ctl_json_str(o, e->severity);
	fputs(",\"action\":", o);
	wg_ctl_json_str(o, e->action);
	fputs(",\"local\":", o);
	wg_ctl_json_side(o, &e->local);
	fputs(",\"public\":", o);
	wg_ctl_json_side(o, &e->public_);
	fputs(",\"markers\":", o);
	wg_ctl_json_words(o, e->markers);
	fprintf(o, ",\"rule_version\":%u,\"authenticated\":%s", e->rule_version,
		e->authenticated ? "true" : "false");
	if (host) {
		fputs(",\"host\":", o);
		wg_ctl_json_str(o, host);
	}
	if (site) {
		fputs(",\"site\":", o);
		wg_ctl_json_str(o, site);
	}
	fputs("}\n", o);
}

/* --- wuguardctl's formats: times, a discrepancy row as JSON, CSV, table --- */

static int show_utc; /* wuguardctl -u */

void wg_ctl_set_utc(int on)
{
	show_utc = on;
}

int wg_ctl_utc(void)
{
	return show_utc;
}

/* "2024-01-02 13:04:05 CET" (or "... UTC"); short: "01-02 13:04". */
void wg_ctl_time(int64_t ms, char *buf, size_t cap, int short_form)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (wg_ctl_utc())
		gmtime_r(&t, &tm);
	else
		localtime_r(&t, &tm);
	if (short_form)
		strftime(buf, cap, "%m-%d %H:%M", &tm);
	else
		strftime(buf, cap, wg_ctl_utc() ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%d %H:%M:%S %Z", &tm);
}

const char *wg_ctl_zone_name(void)
{
	static char z[16];
	if (wg_ctl_utc())
		return "UTC";
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(z, sizeof(z), "%Z", &tm);
	return z;
}

void wg_ctl_row_json(FILE *o, const struct wg_ctl_row *r)
{
	wg_ctl_json_row(o, r->id, r->count, r->last_seen, &r->ev, wg_ctl_utc(), NULL, NULL);
}

void wg_ctl_csv_str(FILE *o, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, o);
		return;
	}
	fputc('"', o);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', o);
		fputc(*s, o);
	}
	fputc('"', o);
}

void wg_ctl_row_csv_header(FILE *o)
{
	static const char *side[] = {"rcode", "flags", "ede", "cname", "addresses",
				     "min_ttl", "upstream", "latency_us", "status"};
	fputs("id,time,last_seen,count,client,name,type,category,severity,action", o);
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 9; i++)
			fprintf(o, ",%s_%s", s ? "public" : "local", side[i]);
	fputs(",markers,rule_version,authenticated\n", o);
}

static void csv_side(FILE *o, const struct wg_dlog_side *s)
{
	char b[32], fl[32];
	wg_ctl_flags_text(s->flags, fl, sizeof(fl));
	fprintf(o, ",%s,%s,", wg_ctl_rcode_name(s->rcode, b, sizeof(b)), fl);
	if (s->ede >= 0)
		fprintf(o, "%d", s->ede);
	fputc(',', o);
	wg_ctl_csv_str(o, s->cname);
	fputc(',', o);
	wg_ctl_csv_str(o, s->addrs);
	fputc(',', o);
	if (s->min_ttl >= 0)
		fprintf(o, "%d", s->min_ttl);
	fputc(',', o);
	wg_ctl_csv_str(o, s->upstream);
	fputc(',', o);
	if (s->latency_us >= 0)
		fprintf(o, "%lld", (long long)s->latency_us);
	fputc(',', o);
	wg_ctl_csv_str(o, s->status);
}

void wg_ctl_row_csv(FILE *o, const struct wg_ctl_row *r)
{
	char t1[48], t2[48], tb[16];
	const struct wg_dlog_event *e = &r->ev;
	wg_ctl_time_iso(e->time_ms, wg_ctl_utc(), t1, sizeof(t1));
	wg_ctl_time_iso(r->last_seen, wg_ctl_utc(), t2, sizeof(t2));
	fprintf(o, "%lld,%s,%s,%lld,", (long long)r->id, t1, t2, (long long)r->count);
	wg_ctl_csv_str(o, e->client);
	fputc(',', o);
	wg_ctl_csv_str(o, e->qname);
	fprintf(o, ",%s,", wg_ctl_type_name(e->qtype, tb, sizeof(tb)));
	wg_ctl_csv_str(o, e->category);
	fputc(',', o);
	wg_ctl_csv_str(o, e->severity);
	fputc(',', o);
	wg_ctl_csv_str(o, e->action);
	csv_side(o, &e->local);
	csv_side(o, &e->public_);
	fputc(',', o);
	wg_ctl_csv_str(o, e->markers);
	fprintf(o, ",%u,%d\n", e->rule_version, e->authenticated ? 1 : 0);
}

/* pre then n bytes of s into out, cut to cap (cap > strlen(pre)) */
static void fit_copy(char *out, size_t cap, const char *pre, const char *s, size_t n)
{
	size_t np = strlen(pre);
	if (np + n >= cap)
		n = cap - 1 - np;
	memcpy(out, pre, np);
	memcpy(out + np, s, n);
	out[np + n] = 0;
}

/* Fit s into width columns, keeping its end (the registered domain) when
 * too long: "..ivery.mp.microsoft.com". */
void wg_ctl_fit_left(char *out, size_t cap, const char *s, int width)
{
	size_t len = strlen(s);
	if ((int)len <= width)
		fit_copy(out, cap, "", s, len);
	else
		fit_copy(out, cap, "..", s + len - (size_t)(width - 2), (size_t)(width - 2));
}

void wg_ctl_fit_right(char *out, size_t cap, const char *s, int width)
{
	size_t len = strlen(s);
	if ((int)len <= width) {
		fit_copy(out, cap, "", s, len);
		return;
	}
	fit_copy(out, cap, "", s, (size_t)(width - 2));
	size_t n = strlen(out);
	fit_copy(out + n, cap - n, "", "..", 2);
}

/* The list table's columns, sized once from the output's width: ID, TIME,
 * CATEGORY, TYPE and ACTION always; then the NAME gets at least
 * NAME_MIN columns, and what is left goes to both answers (LOCAL, PUBLIC),
 * then to CLIENT; NAME takes the rest. --wide: every column, nothing cut. */
#define FIXED_COLS (6 + 1 + 11 + 1 + 14 + 1 + 5 + 1 + 6 + 1)
#define NAME_MIN 24
#define ANS_COLS 16
#define CLIENT_COLS 15
static struct {
	int wide, answers, client, name; /* name: 0 = not cut */
} tbl = {0, 0, 1, 23};

/* COLUMNS, else the terminal's width, else 80. */
static int out_width(void)
{
	const char *c = getenv("COLUMNS");
	struct winsize ws;
	if (c && atoi(c) > 0)
		return atoi(c);
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col)
		return ws.ws_col;
	return 80;
}

void wg_ctl_table_layout(int wide)
{
	int rest = out_width() - FIXED_COLS;
	tbl.wide = wide;
	tbl.answers = wide || rest >= NAME_MIN + 2 * (ANS_COLS + 1);
	if (tbl.answers && !wide)
		rest -= 2 * (ANS_COLS + 1);
	tbl.client = wide || rest >= NAME_MIN + CLIENT_COLS + 1;
	if (tbl.client && !wide)
		rest -= CLIENT_COLS + 1;
	tbl.name = wide ? 0 : rest < NAME_MIN ? NAME_MIN : rest;
}

/* What was served, in at most 6 columns. */
static const char *action_short(const char *a)
{
	if (strcmp(a, "local-monitor") == 0)
		return "mon";  /* monitor mode: would have served the public answer */
	if (strcmp(a, "not-applied") == 0)
		return "n/a";  /* a plugin's block set aside */
	return a;        /* public, local, stale */
}

void wg_ctl_row_table_header(FILE *o)
{
	char t[32];
	snprintf(t, sizeof(t), "TIME %s", wg_ctl_zone_name());
	fprintf(o, "%6s %-11.11s %-14s %-5s %-6s ", "ID", t, "CATEGORY", "TYPE", "ACTION");
	if (tbl.client)
		fprintf(o, "%-*s ", CLIENT_COLS, "CLIENT");
	if (tbl.answers)
		fprintf(o, "%-*s %-*s ", ANS_COLS, "LOCAL", ANS_COLS, "PUBLIC");
	fputs("NAME\n", o);
}

/* A cell: cut to width (keeping the start) unless --wide. */
static void cell(FILE *o, const char *s, int width)
{
	char b[WG_DLOG_NAME_LEN + 8];
	if (tbl.wide) {
		fprintf(o, "%-*s ", width, s);
		return;
	}
	wg_ctl_fit_right(b, sizeof(b), s, width);
	fprintf(o, "%-*s ", width, b);
}

void wg_ctl_row_table(FILE *o, const struct wg_ctl_row *r)
{
	char t[24], tb[16], a[WG_DLOG_ADDRS_LEN], nm[WG_DLOG_NAME_LEN + 8];
	wg_ctl_time(r->ev.time_ms, t, sizeof(t), 1);
	fprintf(o, "%6lld %-11s ", (long long)r->id, t);
	cell(o, r->ev.category, 14);
	fprintf(o, "%-5.5s ", wg_ctl_type_name(r->ev.qtype, tb, sizeof(tb)));
	cell(o, action_short(r->ev.action), 6);
	if (tbl.client)
		cell(o, r->ev.client[0] ? r->ev.client : "-", CLIENT_COLS);
	if (tbl.answers) {
		wg_ctl_answer_short(&r->ev.local, a, sizeof(a));
		cell(o, a, ANS_COLS);
		wg_ctl_answer_short(&r->ev.public_, a, sizeof(a));
		cell(o, a, ANS_COLS);
	}
	if (tbl.name)
		wg_ctl_fit_left(nm, sizeof(nm), r->ev.qname, tbl.name);
	else
		snprintf(nm, sizeof(nm), "%s", r->ev.qname);
	fprintf(o, "%s\n", nm);
}

void wg_ctl_row_print(FILE *o, enum wg_ctl_fmt f, const struct wg_ctl_row *r)
{
	if (f == WG_CTL_JSON)
		wg_ctl_row_json(o, r);
	else if (f == WG_CTL_CSV)
		wg_ctl_row_csv(o, r);
	else
		wg_ctl_row_table(o, r);
}
