/* wuguardctl.c: the admin's review tool for the discrepancy database.
 *
 * Reads through a read-only connection, so it is safe while the daemon
 * writes (WAL); only prune opens the file for writing. Exit codes: 0 ok,
 * 1 verify failed or not found, 2 usage, bad filter value or bad database;
 * probe (ctl_probe.c) has its own, in the same spirit. See man/wuguardctl.1. */
#include "autoconfig.h"

/* strptime, timegm: _GNU_SOURCE comes from autoconfig.h */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <sqlite3.h>

#include <arpa/inet.h>

#include "compare.h"
#include "config.h"
#include "ctl_control.h"
#include "ctl_out.h"
#include "ctl_domains.h"
#include "ctl_probe.h"
#include "ctl_report.h"
#include "ctl_where.h"
#include "dlog.h"
#include "dlog_db.h"
#include "domainset.h"

#define EX_OK 0
#define EX_FAIL 1
#define EX_USAGE 2

#ifndef WG_LOCALSTATEDIR
#define WG_LOCALSTATEDIR "/var"
#endif
#define DEFAULT_DB WG_LOCALSTATEDIR "/lib/wuguard/wuguard.db"

#define NONE_LO INT64_MIN
#define NONE_HI INT64_MAX

struct filter {
	int64_t since, until;   /* unix ms; NONE_LO / NONE_HI: open */
	const char *category;   /* borrowed from argv, NULL: any */
	const char *severity;
	const char *name;       /* glob, case-insensitive */
	const char *client;     /* glob */
	const char *upstream;   /* glob on either side */
	int64_t before_id;      /* 0: none */
	int64_t after_id;       /* rows with a greater id only; 0: none */
	int64_t changed_since;  /* last_seen_ms greater than this; NONE_LO: none */
	int64_t limit;          /* 0: no limit */
};

static int opt_utc;
static const char *opt_db = DEFAULT_DB;
/* From the daemon's config (-c): events of these names and clients stay
 * hidden, as [database] hide-name / hide-client promise, even when they
 * were written before the entry was added. */
static struct wg_config opt_cfg;         /* owned; loaded only with -c */
static struct wg_domainset *hide_names;  /* owned, NULL: none */
static int opt_cfg_loaded;               /* opt_cfg holds the -c file */
#define WG_CTL_DEFAULT_AGGREGATE_S 300   /* config.c's [database] aggregate-window */

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("wuguardctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void usage(FILE *out)
{
	fputs("usage: wuguardctl [-c CONFIG] [--db PATH] [-s SOCKET] [--utc] COMMAND [OPTIONS]\n"
	      "       (-c, --db and --utc may also follow a database command)\n"
	      "commands:\n"
	      "  summary [FILTERS] [--format table|json]\n"
	      "                                         counts, top names/clients, histogram\n"
	      "  list [FILTERS] [--limit N] [--before-id ID] [--format table|json|csv]\n"
	      "       [--wide] [--follow]               newest first; --follow prints new rows\n"
	      "  show ID                                one event, both answers side by side\n"
	      "  export [FILTERS] [--after-id ID] [--changed-since MS] [--format json|csv]\n"
	      "                                         every matching row, oldest first;\n"
	      "                                         the resume cursor on stderr\n"
	      "  values FIELD [FILTERS] [--format table|json|csv]\n"
	      "                                         distinct values of a field\n"
	      "  verify                                 check the hash chain (exit 1: edited)\n"
	      "  prune --older-than AGE [--dry-run] [--force]\n"
	      "                                         delete rows last seen before AGE ago\n"
	      "  backup FILE                            consistent copy of the live database\n"
	      "  stats [--format table|json]            database facts and health counters\n"
	      "  report --html FILE [FILTERS] [--limit N]\n"
	      "                                         one HTML file: charts, top names and\n"
	      "                                         clients, the last N rows, chain state\n", out);
	wg_ctl_probe_usage(out);
	wg_ctl_domains_usage(out);
	wg_ctl_control_usage(out);
	fputs("filters: --since T --until T --category C --severity S --name GLOB\n"
	      "         --client GLOB --upstream GLOB\n"
	      "times: 10m 1h 24h 7d 30d (ago), today, yesterday, all, YYYY-MM-DD[ HH:MM[:SS]],\n"
	      "       @EPOCH; local time unless --utc\n"
	      "-c CONFIG: the daemon's config file: its [database] path (unless --db),\n"
	      "           and its hide-name / hide-client entries stay hidden; for probe,\n"
	      "           its upstreams, WU set, lists and timeouts; for domains, its\n"
	      "           [guard] domains, groups, add and remove\n", out);
}

/* --- time ------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static time_t mk_time(struct tm *tm)
{
	tm->tm_isdst = -1;
	return opt_utc ? timegm(tm) : mktime(tm);
}

static int64_t day_start(int64_t ms, int days_back)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (opt_utc)
		gmtime_r(&t, &tm);
	else
		localtime_r(&t, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mday -= days_back;
	return (int64_t)mk_time(&tm) * 1000;
}

/* Parse a duration "90d", "10m", "1h", "30s", "2w" into ms. Returns -1 if
 * it is not one. */
static int64_t parse_duration(const char *s)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (end == s || errno || n < 0 || end[0] == 0 || end[1] != 0)
		return -1;
	static const struct { char c; int64_t ms; } u[] = {
		{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}, {'w', 604800000}};
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (*end == u[i].c)
			return n > INT64_MAX / u[i].ms ? -1 : n * u[i].ms;
	return -1;
}

/* Parse a point in time. For a day ("today", "yesterday", "YYYY-MM-DD")
 * *day_end gets the end of that day, else NONE_HI. Returns 0 or -EINVAL. */
static int parse_time(const char *s, int64_t *out, int64_t *day_end)
{
	int64_t now = now_ms(), d;
	struct tm tm;
	char *end;
	*day_end = NONE_HI;
	if (strcmp(s, "all") == 0) {
		*out = NONE_LO;
		return 0;
	}
	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (strcmp(s, "today") == 0) {
		*out = day_start(now, 0);
		*day_end = day_start(now, -1);
		return 0;
	}
	if (strcmp(s, "yesterday") == 0) {
		*out = day_start(now, 1);
		*day_end = day_start(now, 0);
		return 0;
	}
	if ((d = parse_duration(s)) >= 0) {
		*out = now - d;
		return 0;
	}
	if (s[0] == '@') {
		errno = 0;
		long long v = strtoll(s + 1, &end, 10);
		if (end == s + 1 || *end || errno)
			return -EINVAL;
		*out = (int64_t)v * 1000;
		return 0;
	}
	static const char *forms[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
				      "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, forms[i], &tm);
		if (!end || *end)
			continue;
		*out = (int64_t)mk_time(&tm) * 1000;
		if (i == 4) {
			tm.tm_mday++;
			*day_end = (int64_t)mk_time(&tm) * 1000;
		}
		return 0;
	}
	return -EINVAL;
}

/* --- database ------------------------------------------------------------ */

static int hiding(void);
static void sql_hidden(sqlite3_context *ctx, int argc, sqlite3_value **argv);

static sqlite3 *open_db(int writable)
{
	sqlite3 *db = NULL;
	char err[256];
	struct stat sb;
	if (strncmp(opt_db, "file:", 5) != 0 && stat(opt_db, &sb) != 0)
		die(EX_USAGE, "%s: %s", opt_db, strerror(errno));
	int rc = sqlite3_open_v2(opt_db, &db, (writable ? SQLITE_OPEN_READWRITE :
					       SQLITE_OPEN_READONLY) | SQLITE_OPEN_URI, NULL);
	if (rc != SQLITE_OK)
		die(EX_USAGE, "%s: %s", opt_db, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_busy_timeout(db, 5000); /* 5 s: the writer's transactions are short */
	int v = wg_dlog_db_check(db, err, sizeof(err));
	if (v == 0)
		die(EX_USAGE, "%s: not a wuguard database (empty)", opt_db);
	if (v < 0)
		die(EX_USAGE, "%s: %s", opt_db, err);
	if (v < wg_dlog_db_latest())
		die(EX_USAGE, "%s: schema version %d is older than %d; start wuguard once "
		    "to upgrade it", opt_db, v, wg_dlog_db_latest());
	if (hiding() && sqlite3_create_function(db, "wg_hidden", 2,
						SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
						sql_hidden, NULL, NULL) != SQLITE_OK)
		die(EX_USAGE, "%s: %s", opt_db, sqlite3_errmsg(db));
	return db;
}

static int hiding(void)
{
	return hide_names || opt_cfg.n_hide_client;
}

/* Does the stored client text ("a.b.c.d", "a.b.c.0/24", "x::/48", "")
 * overlap a hide-client CIDR? A truncated address is hidden when its
 * network and the CIDR share their common prefix. */
static int client_hidden(const char *client)
{
	char buf[64];
	uint8_t a[16];
	int plen = -1, fam;
	if (!client || !*client || strlen(client) >= sizeof(buf))
		return 0;
	strcpy(buf, client);
	char *slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		plen = atoi(slash + 1);
	}
	if (inet_pton(AF_INET, buf, a) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		fam = AF_INET6;
	else
		return 0;
	int bits = fam == AF_INET ? 32 : 128;
	if (plen < 0 || plen > bits)
		plen = bits;
	for (size_t i = 0; i < opt_cfg.n_hide_client; i++) {
		const struct wg_cidr *c = &opt_cfg.hide_client[i];
		if (c->family != fam)
			continue;
		int n = plen < c->prefix ? plen : c->prefix, k;
		for (k = 0; k < n; k++)
			if (((a[k / 8] ^ c->addr[k / 8]) >> (7 - k % 8)) & 1)
				break;
		if (k == n)
			return 1;
	}
	return 0;
}

/* SQL wg_hidden(qname, client): 1 when the config hides the event. */
static void sql_hidden(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *name = (const char *)sqlite3_value_text(argv[0]);
	const char *client = (const char *)sqlite3_value_text(argv[1]);
	(void)argc;
	int h = (hide_names && name && wg_domainset_match_str(hide_names, name)) ||
		client_hidden(client);
	sqlite3_result_int(ctx, h);
}

static void free_config(void)
{
	wg_domainset_free(hide_names);
	hide_names = NULL;
	wg_config_free(&opt_cfg);
}

static void load_config(const char *path)
{
	char err[512];
	atexit(free_config); /* exit() and die() both pass through it */
	if (wg_config_defaults(&opt_cfg) < 0)
		die(EX_USAGE, "out of memory");
	if (wg_config_load(&opt_cfg, path, err, sizeof(err)) < 0)
		die(EX_USAGE, "%s", err);
	opt_cfg_loaded = 1;
	if (opt_cfg.hide_name.n) {
		hide_names = wg_domainset_new();
		if (!hide_names)
			die(EX_USAGE, "out of memory");
		for (size_t i = 0; i < opt_cfg.hide_name.n; i++)
			if (wg_domainset_add(hide_names, opt_cfg.hide_name.v[i], "hide") < 0)
				die(EX_USAGE, "%s: hide-name '%s': not a name", path,
				    opt_cfg.hide_name.v[i]);
	}
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(EX_USAGE, "%s: %s", opt_db, sqlite3_errmsg(db));
	return st;
}

static int64_t q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = prep(db, sql);
	int64_t v = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* WHERE clause and its parameters from a filter: ctl_where.h. */

static void w_add(struct wg_ctl_where *w, const char *cond, const char *s, int64_t i)
{
	size_t len = strlen(w->sql);
	snprintf(w->sql + len, sizeof(w->sql) - len, "%s%s", len ? " AND " : " WHERE ", cond);
	w->p[w->n].s = s;
	w->p[w->n].i = i;
	w->n++;
}

static void build_where(const struct filter *f, struct wg_ctl_where *w)
{
	memset(w, 0, sizeof(*w));
	if (f->since != NONE_LO)
		w_add(w, "last_seen >= ?", NULL, f->since);
	if (f->until != NONE_HI)
		w_add(w, "time < ?", NULL, f->until);
	if (f->category)
		w_add(w, "category = ?", f->category, 0);
	if (f->severity)
		w_add(w, "severity = ?", f->severity, 0);
	if (f->name)
		w_add(w, "lower(qname) GLOB lower(?)", f->name, 0);
	if (f->client)
		w_add(w, "client GLOB ?", f->client, 0);
	if (f->upstream) {
		w_add(w, "(l_upstream GLOB ?", f->upstream, 0);
		size_t len = strlen(w->sql);
		snprintf(w->sql + len, sizeof(w->sql) - len, " OR p_upstream GLOB ?)");
		w->p[w->n].s = f->upstream;
		w->n++;
	}
	if (f->before_id)
		w_add(w, "id < ?", NULL, f->before_id);
	if (f->after_id)
		w_add(w, "id > ?", NULL, f->after_id);
	if (f->changed_since != NONE_LO)
		w_add(w, "last_seen > ?", NULL, f->changed_since);
	if (hiding()) {
		size_t len = strlen(w->sql);
		snprintf(w->sql + len, sizeof(w->sql) - len, "%sNOT wg_hidden(qname, client)",
			 len ? " AND " : " WHERE ");
	}
}

static void bind_where(sqlite3_stmt *st, const struct wg_ctl_where *w)
{
	wg_ctl_where_bind(st, w, 0);
}

#define ROW_COLUMNS "id, count, last_seen, " WG_DLOG_EVENT_COLUMNS

static void read_row(sqlite3_stmt *st, struct wg_ctl_row *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->count = sqlite3_column_int64(st, 1);
	r->last_seen = sqlite3_column_int64(st, 2);
	wg_dlog_db_read_event(st, 3, &r->ev);
}

/* --- output --------------------------------------------------------------- */

/* --- options ----------------------------------------------------------- */

enum {
	O_SINCE = 256, O_UNTIL, O_CATEGORY, O_SEVERITY, O_NAME, O_CLIENT, O_UPSTREAM,
	O_LIMIT, O_BEFORE, O_FORMAT, O_FOLLOW, O_OLDER, O_HELP, O_AFTER, O_CHANGED,
	O_DRY_RUN, O_FORCE, O_WIDE, O_HTML
};

static const struct option cmd_opts[] = {
	{"since", required_argument, NULL, O_SINCE},
	{"until", required_argument, NULL, O_UNTIL},
	{"category", required_argument, NULL, O_CATEGORY},
	{"severity", required_argument, NULL, O_SEVERITY},
	{"name", required_argument, NULL, O_NAME},
	{"client", required_argument, NULL, O_CLIENT},
	{"upstream", required_argument, NULL, O_UPSTREAM},
	{"limit", required_argument, NULL, O_LIMIT},
	{"before-id", required_argument, NULL, O_BEFORE},
	{"format", required_argument, NULL, O_FORMAT},
	{"follow", no_argument, NULL, O_FOLLOW},
	{"older-than", required_argument, NULL, O_OLDER},
	{"after-id", required_argument, NULL, O_AFTER},
	{"changed-since", required_argument, NULL, O_CHANGED},
	{"dry-run", no_argument, NULL, O_DRY_RUN},
	{"force", no_argument, NULL, O_FORCE},
	{"wide", no_argument, NULL, O_WIDE},
	{"html", required_argument, NULL, O_HTML},
	{"help", no_argument, NULL, O_HELP},
	{NULL, 0, NULL, 0},
};

struct cmdopts {
	struct filter f;
	enum wg_ctl_fmt fmt;
	int fmt_set;
	int follow;
	const char *older_than;
	int since_set, limit_set;
	int dry_run, force, wide;
	const char *html;       /* report --html FILE; borrowed from argv */
};

static int64_t parse_count(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno || v < 0)
		die(EX_USAGE, "%s: not a number: %s", opt, s);
	return v;
}

#define TIME_FORMS "a time is an age (10m, 1h, 7d: a number and s, m, h, d or w), today, " \
	"yesterday, now, all, YYYY-MM-DD[ HH:MM[:SS]] (or with T) or @EPOCH"

/* The values --category takes: compare.c's categories and the plugin
 * policy rows (verdict_log.c). */
static void check_category(const char *v)
{
	if (strcmp(v, "local-policy") == 0 || wg_compare_category_parse(v) >= 0)
		return;
	fprintf(stderr, "wuguardctl: --category: unknown category '%s'; one of:", v);
	for (int i = 0; i < WG_CMP__COUNT; i++)
		fprintf(stderr, " %s", wg_compare_category_name((enum wg_compare_category)i));
	fputs(" local-policy\n", stderr);
	exit(EX_USAGE);
}

static void check_severity(const char *v)
{
	for (int i = 0; i <= WG_SEV_HIGH; i++)
		if (strcmp(v, wg_compare_severity_name((enum wg_compare_severity)i)) == 0)
			return;
	fprintf(stderr, "wuguardctl: --severity: unknown severity '%s'; one of:", v);
	for (int i = 0; i <= WG_SEV_HIGH; i++)
		fprintf(stderr, " %s", wg_compare_severity_name((enum wg_compare_severity)i));
	fputc('\n', stderr);
	exit(EX_USAGE);
}

/* Parse the command's options; allowed: the options this command takes
 * (by enum value), 0-terminated. */
static void parse_cmd(int argc, char **argv, struct cmdopts *c, const int *allowed)
{
	int64_t day_end_since = NONE_HI;
	int until_set = 0;
	memset(c, 0, sizeof(*c));
	c->f.since = NONE_LO;
	c->f.until = NONE_HI;
	c->f.changed_since = NONE_LO;
	c->f.limit = 50;
	optind = 0; /* glibc: start over for the command's own options */
	int ch;
	while ((ch = getopt_long(argc, argv, "", cmd_opts, NULL)) != -1) {
		int ok = 0;
		int64_t de;
		if (ch == O_HELP) {
			usage(stdout);
			exit(EX_OK);
		}
		for (const int *a = allowed; *a; a++)
			ok |= *a == ch;
		if (ch == '?' || !ok)
			die(EX_USAGE, "%s: option %s not valid here (see --help)", argv[0],
			    ch == '?' ? "given" : argv[optind - 1]);
		switch (ch) {
		case O_SINCE:
			if (parse_time(optarg, &c->f.since, &day_end_since) < 0)
				die(EX_USAGE, "--since: bad time '%s'; " TIME_FORMS, optarg);
			c->since_set = 1;
			break;
		case O_UNTIL:
			if (parse_time(optarg, &c->f.until, &de) < 0)
				die(EX_USAGE, "--until: bad time '%s'; " TIME_FORMS, optarg);
			/* "--until yesterday" means up to the end of that day. */
			if (de != NONE_HI)
				c->f.until = de;
			until_set = 1;
			break;
		case O_CATEGORY:
			check_category(optarg);
			c->f.category = optarg;
			break;
		case O_SEVERITY:
			check_severity(optarg);
			c->f.severity = optarg;
			break;
		case O_NAME: c->f.name = optarg; break;
		case O_CLIENT: c->f.client = optarg; break;
		case O_UPSTREAM: c->f.upstream = optarg; break;
		case O_LIMIT:
			c->f.limit = parse_count("--limit", optarg);
			c->limit_set = 1;
			break;
		case O_BEFORE:
			c->f.before_id = parse_count("--before-id", optarg);
			break;
		case O_AFTER:
			c->f.after_id = parse_count("--after-id", optarg);
			break;
		case O_CHANGED:
			c->f.changed_since = parse_count("--changed-since", optarg);
			break;
		case O_FORMAT:
			if (strcmp(optarg, "table") == 0)
				c->fmt = WG_CTL_TABLE;
			else if (strcmp(optarg, "json") == 0)
				c->fmt = WG_CTL_JSON;
			else if (strcmp(optarg, "csv") == 0)
				c->fmt = WG_CTL_CSV;
			else
				die(EX_USAGE, "--format: table, json or csv, not %s", optarg);
			c->fmt_set = 1;
			break;
		case O_FOLLOW: c->follow = 1; break;
		case O_DRY_RUN: c->dry_run = 1; break;
		case O_FORCE: c->force = 1; break;
		case O_WIDE: c->wide = 1; break;
		case O_HTML: c->html = optarg; break;
		case O_OLDER: c->older_than = optarg; break;
		}
	}
	/* "--since yesterday" alone is that day only, as in Pi-hole. */
	if (!until_set && day_end_since != NONE_HI && day_end_since <= now_ms())
		c->f.until = day_end_since;
	if (c->f.since != NONE_LO && c->f.until != NONE_HI && c->f.since >= c->f.until)
		die(EX_USAGE, "--since must be before --until");
}

/* --- commands ------------------------------------------------------------ */

static int64_t select_rows(sqlite3 *db, const struct filter *f, int ascending_after,
			   int64_t after_id, FILE *o, enum wg_ctl_fmt fmt)
{
	struct wg_ctl_where w;
	char sql[2048];
	int64_t n = 0, last = after_id;
	struct filter g = *f;
	build_where(&g, &w);
	if (ascending_after >= 0) {
		/* follow: rows after after_id, oldest first */
		size_t len = strlen(w.sql);
		snprintf(w.sql + len, sizeof(w.sql) - len, "%sid > %lld", len ? " AND " : " WHERE ",
			 (long long)after_id);
		snprintf(sql, sizeof(sql), "SELECT " ROW_COLUMNS " FROM events%s ORDER BY id",
			 w.sql);
	} else if (f->limit) {
		snprintf(sql, sizeof(sql), "SELECT " ROW_COLUMNS " FROM events%s "
			 "ORDER BY id DESC LIMIT %lld", w.sql, (long long)f->limit);
	} else {
		snprintf(sql, sizeof(sql), "SELECT " ROW_COLUMNS " FROM events%s "
			 "ORDER BY id DESC", w.sql);
	}
	sqlite3_stmt *st = prep(db, sql);
	bind_where(st, &w);
	struct wg_ctl_row r;
	while (sqlite3_step(st) == SQLITE_ROW) {
		read_row(st, &r);
		wg_ctl_row_print(o, fmt, &r);
		n++;
		if (r.id > last)
			last = r.id;
	}
	sqlite3_finalize(st);
	return ascending_after >= 0 ? last : n;
}

static volatile sig_atomic_t stop_follow;
static void on_signal(int sig)
{
	stop_follow = 1;
}

static int cmd_list(int argc, char **argv)
{
	static const int allowed[] = {O_SINCE, O_UNTIL, O_CATEGORY, O_SEVERITY, O_NAME,
				      O_CLIENT, O_UPSTREAM, O_LIMIT, O_BEFORE, O_FORMAT,
				      O_FOLLOW, O_WIDE, 0};
	struct cmdopts c;
	parse_cmd(argc, argv, &c, allowed);
	if (optind != argc)
		die(EX_USAGE, "list: unexpected argument %s", argv[optind]);
	sqlite3 *db = open_db(0);
	if (c.fmt == WG_CTL_CSV)
		wg_ctl_row_csv_header(stdout);
	if (c.fmt == WG_CTL_TABLE) {
		wg_ctl_table_layout(c.wide);
		wg_ctl_row_table_header(stdout);
	}
	if (!c.follow) {
		int64_t n = select_rows(db, &c.f, -1, 0, stdout, c.fmt);
		if (c.fmt == WG_CTL_TABLE && c.f.limit && n == c.f.limit) {
			/* the cursor for the next page: stable while rows arrive */
			struct wg_ctl_where w;
			char sql[2048];
			build_where(&c.f, &w);
			snprintf(sql, sizeof(sql), "SELECT min(id) FROM (SELECT id FROM events%s "
				 "ORDER BY id DESC LIMIT %lld)", w.sql, (long long)c.f.limit);
			sqlite3_stmt *st = prep(db, sql);
			bind_where(st, &w);
			if (sqlite3_step(st) == SQLITE_ROW)
				fprintf(stderr, "more: --before-id %lld\n",
					(long long)sqlite3_column_int64(st, 0));
			sqlite3_finalize(st);
		}
		sqlite3_close(db);
		return EX_OK;
	}
	/* Follow: the last --limit rows (10 unless given) oldest first, then
	 * new rows as the daemon commits them. */
	int64_t limit = c.limit_set ? c.f.limit : 10, start = 0;
	{
		struct wg_ctl_where w;
		char sql[2048];
		build_where(&c.f, &w);
		snprintf(sql, sizeof(sql), "SELECT min(id) FROM (SELECT id FROM events%s "
			 "ORDER BY id DESC LIMIT %lld)", w.sql, (long long)(limit ? limit : -1));
		sqlite3_stmt *st = prep(db, sql);
		bind_where(st, &w);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
			start = sqlite3_column_int64(st, 0) - 1;
		else
			start = q_int(db, "SELECT coalesce(max(id), 0) FROM events");
		sqlite3_finalize(st);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	c.f.limit = 0;
	int64_t last = start;
	while (!stop_follow) {
		last = select_rows(db, &c.f, 1, last, stdout, c.fmt);
		fflush(stdout);
		usleep(500 * 1000); /* 0.5 s: the writer commits about once a second */
	}
	sqlite3_close(db);
	return EX_OK;
}

/* A batch pull resumes from the cursor line on standard error:
 * "export: last-id N last-seen-ms M" (the highest id and last_seen_ms in
 * the database when the snapshot was taken, whatever the filters): the
 * next pull passes --after-id N for new rows and --changed-since M for
 * rows whose count grew since (aggregation). */
static int cmd_export(int argc, char **argv)
{
	static const int allowed[] = {O_SINCE, O_UNTIL, O_CATEGORY, O_SEVERITY, O_NAME,
				      O_CLIENT, O_UPSTREAM, O_FORMAT, O_AFTER, O_CHANGED, 0};
	struct cmdopts c;
	parse_cmd(argc, argv, &c, allowed);
	if (!c.fmt_set)
		c.fmt = WG_CTL_JSON;
	if (c.fmt == WG_CTL_TABLE)
		die(EX_USAGE, "export: --format json or csv");
	if (optind != argc)
		die(EX_USAGE, "export: unexpected argument %s", argv[optind]);
	sqlite3 *db = open_db(0);
	if (c.fmt == WG_CTL_CSV)
		wg_ctl_row_csv_header(stdout);
	c.f.limit = 0;
	/* One read transaction: a consistent snapshot, oldest first, and the
	 * cursor from the same snapshot. */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	select_rows(db, &c.f, 0, 0, stdout, c.fmt);
	int64_t last_id = q_int(db, "SELECT coalesce(max(id), 0) FROM events");
	int64_t last_seen = q_int(db, "SELECT coalesce(max(last_seen), 0) FROM events");
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	if (fflush(stdout) != 0)
		return EX_FAIL;
	/* After the rows: a puller that saw the cursor saw every row. */
	fprintf(stderr, "export: last-id %lld last-seen-ms %lld\n", (long long)last_id,
		(long long)last_seen);
	return EX_OK;
}

/* Word-wrap s into lines of width columns; returns the count (max cap). */
static int wrap(const char *s, int width, char lines[][40], int cap)
{
	int n = 0;
	char buf[WG_DLOG_CNAME_LEN];
	char *save, *tok;
	snprintf(buf, sizeof(buf), "%s", s);
	lines[0][0] = 0;
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		while ((int)strlen(tok) > width) {
			if (lines[n][0] && ++n >= cap)
				return cap;
			snprintf(lines[n], 40, "%.*s", width, tok);
			tok += width;
			if (++n >= cap)
				return cap;
			lines[n][0] = 0;
		}
		size_t len = strlen(lines[n]);
		if (len && (int)(len + 1 + strlen(tok)) > width) {
			if (++n >= cap)
				return cap;
			lines[n][0] = 0;
			len = 0;
		}
		snprintf(lines[n] + len, 40 - len, "%s%s", len ? " " : "", tok);
	}
	return lines[n][0] ? n + 1 : n;
}

static void side_by_side(const char *label, const char *l, const char *p)
{
	char a[16][40], b[16][40];
	int na = wrap(l[0] ? l : "-", 33, a, 16);
	int nb = wrap(p[0] ? p : "-", 33, b, 16);
	int n = na > nb ? na : nb;
	for (int i = 0; i < n; i++)
		printf("%-12s %-33s %s\n", i ? "" : label, i < na ? a[i] : "",
		       i < nb ? b[i] : "");
}

static int cmd_show(int argc, char **argv)
{
	static const int allowed[] = {O_FORMAT, 0};
	struct cmdopts c;
	parse_cmd(argc, argv, &c, allowed);
	if (optind + 1 != argc)
		die(EX_USAGE, "show: exactly one event ID");
	int64_t id = parse_count("show", argv[optind]);
	sqlite3 *db = open_db(0);
	sqlite3_stmt *st = prep(db, hiding() ? "SELECT " ROW_COLUMNS ", hash FROM events WHERE id = ? "
				       "AND NOT wg_hidden(qname, client)"
				     : "SELECT " ROW_COLUMNS ", hash FROM events WHERE id = ?");
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		fprintf(stderr, "wuguardctl: no event %lld\n", (long long)id);
		sqlite3_finalize(st);
		sqlite3_close(db);
		return EX_FAIL;
	}
	struct wg_ctl_row r;
	read_row(st, &r);
	char hex[2 * WG_DLOG_HASH_LEN + 1] = "";
	if (sqlite3_column_bytes(st, 3 + WG_DLOG_EVENT_NCOLUMNS) == WG_DLOG_HASH_LEN)
		sodium_bin2hex(hex, sizeof(hex), sqlite3_column_blob(st, 3 + WG_DLOG_EVENT_NCOLUMNS),
			       WG_DLOG_HASH_LEN);
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (c.fmt == WG_CTL_JSON) {
		wg_ctl_row_json(stdout, &r);
		return EX_OK;
	}
	if (c.fmt == WG_CTL_CSV) {
		wg_ctl_row_csv_header(stdout);
		wg_ctl_row_csv(stdout, &r);
		return EX_OK;
	}
	const struct wg_dlog_event *e = &r.ev;
	const struct wg_dlog_side *s[2] = {&e->local, &e->public_};
	char t[48], tb[16], v[2][64];
	printf("event %lld\n", (long long)r.id);
	printf("%-12s %s\n", "name", e->qname);
	printf("%-12s %s\n", "type", wg_ctl_type_name(e->qtype, tb, sizeof(tb)));
	printf("%-12s %s\n", "client", e->client[0] ? e->client : "(omitted)");
	printf("%-12s %s\n", "category", e->category);
	printf("%-12s %s\n", "severity", e->severity);
	printf("%-12s %s\n", "served", e->action);
	wg_ctl_time(e->time_ms, t, sizeof(t), 0);
	printf("%-12s %s\n", "first seen", t);
	wg_ctl_time(r.last_seen, t, sizeof(t), 0);
	printf("%-12s %s\n", "last seen", t);
	printf("%-12s %lld\n", "count", (long long)r.count);
	printf("%-12s %s\n", "markers", e->markers[0] ? e->markers : "-");
	printf("%-12s %u\n", "rules", e->rule_version);
	printf("%-12s %s\n", "reference", e->authenticated ? "authenticated (DNSCrypt)"
							   : "not authenticated");
	printf("%-12s %.32s\n%-12s %.32s\n", "hash", hex, "", hex + 32);
	printf("\n%-12s %-33s %s\n", "", "LOCAL", "PUBLIC");
	side_by_side("upstream", s[0]->upstream, s[1]->upstream);
	side_by_side("status", s[0]->status, s[1]->status);
	for (int i = 0; i < 2; i++)
		snprintf(v[i], sizeof(v[i]), "%s", wg_ctl_rcode_name(s[i]->rcode, tb, sizeof(tb)));
	side_by_side("rcode", v[0], v[1]);
	for (int i = 0; i < 2; i++)
		wg_ctl_flags_text(s[i]->flags, v[i], sizeof(v[i]));
	side_by_side("flags", v[0], v[1]);
	for (int i = 0; i < 2; i++) {
		if (s[i]->ede >= 0)
			snprintf(v[i], sizeof(v[i]), "%d %s", s[i]->ede, wg_ctl_ede_name(s[i]->ede));
		else
			snprintf(v[i], sizeof(v[i]), "-");
	}
	side_by_side("EDE", v[0], v[1]);
	for (int i = 0; i < 2; i++) {
		if (s[i]->latency_us >= 0)
			snprintf(v[i], sizeof(v[i]), "%.1f ms", (double)s[i]->latency_us / 1000.0);
		else
			snprintf(v[i], sizeof(v[i]), "-");
	}
	side_by_side("latency", v[0], v[1]);
	for (int i = 0; i < 2; i++) {
		if (s[i]->min_ttl >= 0)
			snprintf(v[i], sizeof(v[i]), "%d s", s[i]->min_ttl);
		else
			snprintf(v[i], sizeof(v[i]), "-");
	}
	side_by_side("min TTL", v[0], v[1]);
	side_by_side("CNAME chain", s[0]->cname, s[1]->cname);
	side_by_side("addresses", s[0]->addrs, s[1]->addrs);
	return EX_OK;
}

static const struct { const char *name; const char *expr; } value_fields[] = {
	{"category", "category"}, {"severity", "severity"}, {"action", "action"},
	{"client", "client"}, {"name", "qname"}, {"type", "qtype"},
	{"local-upstream", "l_upstream"}, {"public-upstream", "p_upstream"},
	{"local-status", "l_status"}, {"public-status", "p_status"},
	{"local-rcode", "l_rcode"}, {"public-rcode", "p_rcode"},
	{"markers", "markers"}, {"rule-version", "rule_version"},
};

static int cmd_values(int argc, char **argv)
{
	static const int allowed[] = {O_SINCE, O_UNTIL, O_CATEGORY, O_SEVERITY, O_NAME,
				      O_CLIENT, O_UPSTREAM, O_FORMAT, O_LIMIT, 0};
	struct cmdopts c;
	parse_cmd(argc, argv, &c, allowed);
	if (optind + 1 != argc)
		die(EX_USAGE, "values: exactly one FIELD");
	const char *field = argv[optind], *expr = NULL;
	for (size_t i = 0; i < sizeof(value_fields) / sizeof(value_fields[0]); i++)
		if (strcmp(field, value_fields[i].name) == 0)
			expr = value_fields[i].expr;
	if (strcmp(field, "upstream") == 0)
		expr = "upstream";
	if (!expr) {
		fprintf(stderr, "wuguardctl: values: unknown field %s; one of: upstream", field);
		for (size_t i = 0; i < sizeof(value_fields) / sizeof(value_fields[0]); i++)
			fprintf(stderr, " %s", value_fields[i].name);
		fputc('\n', stderr);
		return EX_USAGE;
	}
	sqlite3 *db = open_db(0);
	struct wg_ctl_where w;
	char sql[3072], tb[16];
	build_where(&c.f, &w);
	if (strcmp(expr, "upstream") == 0) {
		/* both sides' upstreams: the WHERE parameters are bound twice */
		snprintf(sql, sizeof(sql),
			 "SELECT v, count(*), sum(c) FROM (SELECT l_upstream AS v, count AS c "
			 "FROM events%s UNION ALL SELECT p_upstream, count FROM events%s) "
			 "WHERE v != '' GROUP BY v ORDER BY 3 DESC, 1", w.sql, w.sql);
	} else {
		snprintf(sql, sizeof(sql), "SELECT %s, count(*), sum(count) FROM events%s "
			 "GROUP BY 1 ORDER BY 3 DESC, 1", expr, w.sql);
	}
	if (c.limit_set && c.f.limit) {
		size_t len = strlen(sql);
		snprintf(sql + len, sizeof(sql) - len, " LIMIT %lld", (long long)c.f.limit);
	}
	sqlite3_stmt *st = prep(db, sql);
	bind_where(st, &w);
	if (strcmp(expr, "upstream") == 0) {
		for (int i = 0; i < w.n; i++) {
			if (w.p[i].s)
				sqlite3_bind_text(st, w.n + i + 1, w.p[i].s, -1, SQLITE_STATIC);
			else
				sqlite3_bind_int64(st, w.n + i + 1, w.p[i].i);
		}
	}
	if (c.fmt == WG_CTL_TABLE)
		printf("%-50s %10s %10s\n", field, "ROWS", "EVENTS");
	if (c.fmt == WG_CTL_CSV)
		printf("value,rows,events\n");
	while (sqlite3_step(st) == SQLITE_ROW) {
		char val[WG_DLOG_NAME_LEN + 16];
		const char *txt = (const char *)sqlite3_column_text(st, 0);
		snprintf(val, sizeof(val), "%s", txt ? txt : "");
		if (strcmp(expr, "qtype") == 0)
			snprintf(val, sizeof(val), "%s",
				 wg_ctl_type_name((unsigned)sqlite3_column_int(st, 0), tb, sizeof(tb)));
		else if (strstr(expr, "rcode"))
			snprintf(val, sizeof(val), "%s",
				 wg_ctl_rcode_name(sqlite3_column_int(st, 0), tb, sizeof(tb)));
		long long rows = sqlite3_column_int64(st, 1), ev = sqlite3_column_int64(st, 2);
		if (c.fmt == WG_CTL_JSON) {
			fputs("{\"value\":", stdout);
			wg_ctl_json_str(stdout, val);
			printf(",\"rows\":%lld,\"events\":%lld}\n", rows, ev);
		} else if (c.fmt == WG_CTL_CSV) {
			wg_ctl_csv_str(stdout, val);
			printf(",%lld,%lld\n", rows, ev);
		} else {
			char fit[64];
			wg_ctl_fit_left(fit, sizeof(fit), val[0] ? val : "(empty)", 50);
			printf("%-50s %10lld %10lld\n", fit, rows, ev);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return EX_OK;
}

static int cmd_verify(int argc, char **argv)
{
	static const int allowed[] = {0};
	struct cmdopts c;
	char why[256] = "";
	int64_t rows = 0;
	parse_cmd(argc, argv, &c, allowed);
	if (optind != argc)
		die(EX_USAGE, "verify: unexpected argument %s", argv[optind]);
	sqlite3 *db = open_db(0);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL); /* one snapshot */
	int64_t r = wg_dlog_db_verify(db, &rows, why, sizeof(why));
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (r < 0)
		die(EX_USAGE, "%s: %s", opt_db, sqlite3_errmsg(db));
	sqlite3_close(db);
	if (r > 0) {
		printf("verify: FAILED at row %lld: %s\n", (long long)r, why);
		return EX_FAIL;
	}
	printf("verify: ok, %lld rows, hash chain intact\n", (long long)rows);
	return EX_OK;
}

static int cmd_prune(int argc, char **argv)
{
	static const int allowed[] = {O_OLDER, O_DRY_RUN, O_FORCE, 0};
	struct cmdopts c;
	parse_cmd(argc, argv, &c, allowed);
	if (optind != argc || !c.older_than)
		die(EX_USAGE, "prune: --older-than AGE (e.g. 90d) is required");
	int64_t age = parse_duration(c.older_than);
	if (age < 0)
		die(EX_USAGE, "--older-than: bad age %s (e.g. 90d, 12h)", c.older_than);
	/* A row last seen within the aggregation window may still be counted
	 * into: cutting it splits one event's count over two rows. The window
	 * is the config's (-c), else the daemon's default. */
	uint32_t window = opt_cfg_loaded ? opt_cfg.aggregate_s : WG_CTL_DEFAULT_AGGREGATE_S;
	if (age < (int64_t)window * 1000 && !c.force)
		die(EX_USAGE, "prune: --older-than %s is below the aggregation window (%u s, "
		    "[database] aggregate-window%s): rows still being counted would be cut; "
		    "--force prunes anyway", c.older_than, window,
		    opt_cfg_loaded ? "" : " default; -c CONFIG reads the daemon's");
	sqlite3 *db = open_db(!c.dry_run);
	if (sqlite3_exec(db, c.dry_run ? "BEGIN" : "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		die(EX_USAGE, "%s: %s", opt_db, sqlite3_errmsg(db));
	int64_t n;
	if (c.dry_run) {
		/* what wg_dlog_db_prune_age would delete: the oldest rows up to
		 * the first one last seen at or after the cutoff */
		sqlite3_stmt *st = prep(db, "SELECT count(*) FROM events WHERE id < coalesce("
					"(SELECT min(id) FROM events WHERE last_seen >= ?1), "
					"(SELECT max(id) + 1 FROM events), 0)");
		sqlite3_bind_int64(st, 1, now_ms() - age);
		n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
		sqlite3_finalize(st);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(db);
		if (n < 0)
			die(EX_USAGE, "prune: %s", opt_db);
		printf("would prune %lld rows last seen more than %s ago (dry run: nothing "
		       "deleted)\n", (long long)n, c.older_than);
		return EX_OK;
	}
	n = wg_dlog_db_prune_age(db, now_ms() - age);
	if (n < 0 || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "wuguardctl: prune: %s\n", sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(db);
		return EX_USAGE;
	}
	sqlite3_close(db);
	printf("pruned %lld rows last seen more than %s ago\n", (long long)n, c.older_than);
	return EX_OK;
}

static int cmd_backup(int argc, char **argv)
{
	static const int allowed[] = {0};
	struct cmdopts c;
	parse_cmd(argc, argv, &c, allowed);
	if (optind + 1 != argc)
		die(EX_USAGE, "backup: exactly one FILE");
	const char *dst_path = argv[optind];
	sqlite3 *src = open_db(0), *dst = NULL;
	int fd = open(dst_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		die(EX_USAGE, "backup: %s: %s", dst_path, strerror(errno));
	close(fd);
	if (sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		die(EX_USAGE, "backup: %s: %s", dst_path, sqlite3_errmsg(dst));
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b)
		die(EX_USAGE, "backup: %s", sqlite3_errmsg(dst));
	int rc;
	/* All pages in one step: a consistent snapshot even while the daemon
	 * writes; retry when a checkpoint holds a lock for a moment. */
	for (int tries = 0; tries < 100; tries++) {
		rc = sqlite3_backup_step(b, -1);
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		sqlite3_sleep(50);
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "wuguardctl: backup: %s\n", sqlite3_errstr(rc));
		sqlite3_close(dst);
		unlink(dst_path);
		return EX_USAGE;
	}
	int64_t rows = q_int(dst, "SELECT count(*) FROM events");
	sqlite3_close(dst);
	sqlite3_close(src);
	printf("backup: %lld rows copied to %s\n", (long long)rows, dst_path);
	return EX_OK;
}

/* The health counters since a time, as text or (json) as a "health"
 * member. */
static void print_counters_fmt(sqlite3 *db, int64_t since, int json)
{
	sqlite3_stmt *st = prep(db, "SELECT coalesce(sum(guarded), 0), coalesce(sum(matched), 0), "
			  "coalesce(sum(cdn_variance), 0), coalesce(sum(repaired), 0), "
			  "coalesce(sum(public_unavailable), 0) FROM counters WHERE hour >= ?");
	sqlite3_bind_int64(st, 1, since == NONE_LO ? INT64_MIN : since / 3600000);
	int ok = sqlite3_step(st) == SQLITE_ROW;
	if (json) {
		printf("\"health\":{\"guarded\":%lld,\"matched\":%lld,\"cdn_variance\":%lld,"
		       "\"repaired\":%lld,\"public_unavailable\":%lld}",
		       ok ? (long long)sqlite3_column_int64(st, 0) : 0,
		       ok ? (long long)sqlite3_column_int64(st, 1) : 0,
		       ok ? (long long)sqlite3_column_int64(st, 2) : 0,
		       ok ? (long long)sqlite3_column_int64(st, 3) : 0,
		       ok ? (long long)sqlite3_column_int64(st, 4) : 0);
	} else if (ok)
		printf("  guarded %lld  matched %lld  cdn-variance %lld  repaired %lld  "
		       "public-unavailable %lld\n",
		       (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 1),
		       (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 3),
		       (long long)sqlite3_column_int64(st, 4));
	sqlite3_finalize(st);
}

static void print_counters(sqlite3 *db, int64_t since)
{
	print_counters_fmt(db, since, 0);
}

/* The top n values of expr with their rows and events, under filter w. */
static sqlite3_stmt *summary_group_query(sqlite3 *db, const struct wg_ctl_where *w,
					 const char *expr, int n)
{
	char sql[2048];
	snprintf(sql, sizeof(sql), "SELECT %s, count(*), sum(count) FROM events%s "
		 "GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT %d", expr, w->sql, n);
	sqlite3_stmt *st = prep(db, sql);
	bind_where(st, w);
	return st;
}

/* A summary group as a JSON member "key":[{"value","rows","events"} ...]. */
static void summary_group_json(sqlite3 *db, const struct wg_ctl_where *w, const char *key,
			       const char *expr, int n)
{
	sqlite3_stmt *st = summary_group_query(db, w, expr, n);
	printf(",\"%s\":[", key);
	for (int i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		printf("%s{\"value\":", i ? "," : "");
		wg_ctl_json_str(stdout, v ? v : "");
		printf(",\"rows\":%lld,\"events\":%lld}", (long long)sqlite3_column_int64(st, 1),
		       (long long)sqlite3_column_int64(st, 2));
	}
	putchar(']');
	sqlite3_finalize(st);
}

/* The same group as a "label rows events" table. */
static void summary_group(sqlite3 *db, const struct wg_ctl_where *w, const char *title,
			  const char *expr, int n)
{
	sqlite3_stmt *st = summary_group_query(db, w, expr, n);
	printf("\n%-56s %10s %10s\n", title, "ROWS", "EVENTS");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		char fit[64];
		wg_ctl_fit_left(fit, sizeof(fit), v && v[0] ? v : "(omitted)", 54);
		printf("  %-54s %10lld %10lld\n", fit, (long long)sqlite3_column_int64(st, 1),
		       (long long)sqlite3_column_int64(st, 2));
	}
	sqlite3_finalize(st);
}

#define BUCKET_MS 600000  /* 10 minutes */
#define MAX_BUCKETS 144   /* 24 hours */

static void histogram(sqlite3 *db, const struct wg_ctl_where *w, int64_t from, int64_t to, int json)
{
	int64_t counts[MAX_BUCKETS] = {0}, max = 0;
	char sql[2048];
	int64_t first = (to / BUCKET_MS - MAX_BUCKETS + 1) * BUCKET_MS;
	if (from != NONE_LO && from > first)
		first = from / BUCKET_MS * BUCKET_MS;
	snprintf(sql, sizeof(sql), "SELECT time / %d, sum(count) FROM events%s GROUP BY 1",
		 BUCKET_MS, w->sql);
	sqlite3_stmt *st = prep(db, sql);
	bind_where(st, w);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t b = sqlite3_column_int64(st, 0) * BUCKET_MS;
		if (b < first || b > to)
			continue;
		int64_t i = (b - first) / BUCKET_MS;
		if (i >= 0 && i < MAX_BUCKETS) {
			counts[i] += sqlite3_column_int64(st, 1);
			if (counts[i] > max)
				max = counts[i];
		}
	}
	sqlite3_finalize(st);
	int nb = (int)((to - first) / BUCKET_MS) + 1;
	if (nb > MAX_BUCKETS)
		nb = MAX_BUCKETS;
	if (json) {
		/* every bucket of the chart, empty ones too */
		printf(",\"histogram\":{\"bucket_s\":%d,\"buckets\":[", BUCKET_MS / 1000);
		for (int i = 0; i < nb; i++) {
			char t[48];
			int64_t b = first + (int64_t)i * BUCKET_MS;
			wg_ctl_time_iso(b, wg_ctl_utc(), t, sizeof(t));
			printf("%s{\"start\":\"%s\",\"start_ms\":%lld,\"events\":%lld}", i ? "," : "",
			       t, (long long)b, (long long)counts[i]);
		}
		fputs("]}", stdout);
		return;
	}
	printf("\nDiscrepancies per 10 minutes (%s, by first seen; at most the last 24 h)\n",
	       wg_ctl_zone_name());
	if (!max) {
		printf("  (none)\n");
		return;
	}
	int lo = 0, hi = nb - 1;
	while (lo < nb && !counts[lo])
		lo++;
	while (hi > lo && !counts[hi])
		hi--;
	/* 11 (time) + 2 + 56 (bar) + 1 + 10 (count) = 80 columns */
	for (int i = lo; i <= hi; i++) {
		if (!counts[i]) {
			int j = i;
			while (j <= hi && !counts[j])
				j++;
			if (j - i > 2) {
				printf("%11s  :\n", "");
				i = j - 1;
				continue;
			}
		}
		char t[24], bar[64];
		int len = (int)((counts[i] * 56 + max - 1) / max);
		memset(bar, '#', (size_t)len);
		bar[len] = 0;
		wg_ctl_time(first + (int64_t)i * BUCKET_MS, t, sizeof(t), 1);
		printf("%-11s |%-56s %lld\n", t, bar, (long long)counts[i]);
	}
}

static int cmd_summary(int argc, char **argv)
{
	static const int allowed[] = {O_SINCE, O_UNTIL, O_CATEGORY, O_SEVERITY, O_NAME,
				      O_CLIENT, O_UPSTREAM, O_FORMAT, 0};
	struct cmdopts c;
	parse_cmd(argc, argv, &c, allowed);
	if (optind != argc)
		die(EX_USAGE, "summary: unexpected argument %s", argv[optind]);
	if (c.fmt == WG_CTL_CSV)
		die(EX_USAGE, "summary: --format table or json");
	if (!c.since_set)
		c.f.since = now_ms() - 86400000LL; /* 24 h */
	sqlite3 *db = open_db(0);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL); /* one snapshot */
	struct wg_ctl_where w;
	char sql[2048], t1[48], t2[48];
	build_where(&c.f, &w);
	snprintf(sql, sizeof(sql), "SELECT count(*), coalesce(sum(count), 0), min(time), "
		 "max(last_seen) FROM events%s", w.sql);
	sqlite3_stmt *st = prep(db, sql);
	bind_where(st, &w);
	int64_t rows = 0, events = 0, first = 0, last = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		rows = sqlite3_column_int64(st, 0);
		events = sqlite3_column_int64(st, 1);
		first = sqlite3_column_int64(st, 2);
		last = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (c.fmt == WG_CTL_JSON) {
		/* one object: the range, totals, health, groups, histogram */
		printf("{\"since\":");
		if (c.f.since == NONE_LO)
			fputs("null", stdout);
		else {
			wg_ctl_time_iso(c.f.since, wg_ctl_utc(), t1, sizeof(t1));
			printf("\"%s\"", t1);
		}
		printf(",\"until\":");
		if (c.f.until == NONE_HI)
			fputs("null", stdout);
		else {
			wg_ctl_time_iso(c.f.until, wg_ctl_utc(), t2, sizeof(t2));
			printf("\"%s\"", t2);
		}
		printf(",\"rows\":%lld,\"events\":%lld,\"first_seen\":", (long long)rows,
		       (long long)events);
		if (rows) {
			wg_ctl_time_iso(first, wg_ctl_utc(), t1, sizeof(t1));
			wg_ctl_time_iso(last, wg_ctl_utc(), t2, sizeof(t2));
			printf("\"%s\",\"last_seen\":\"%s\",", t1, t2);
		} else {
			fputs("null,\"last_seen\":null,", stdout);
		}
		print_counters_fmt(db, c.f.since, 1);
		summary_group_json(db, &w, "category", "category", 20);
		summary_group_json(db, &w, "severity", "severity", 10);
		summary_group_json(db, &w, "top_names", "qname", 10);
		summary_group_json(db, &w, "top_clients", "client", 10);
		histogram(db, &w, c.f.since, c.f.until == NONE_HI ? now_ms() : c.f.until - 1, 1);
		fputs("}\n", stdout);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(db);
		return EX_OK;
	}
	if (c.f.since == NONE_LO)
		snprintf(t1, sizeof(t1), "the beginning");
	else
		wg_ctl_time(c.f.since, t1, sizeof(t1), 0);
	if (c.f.until == NONE_HI)
		snprintf(t2, sizeof(t2), "now");
	else
		wg_ctl_time(c.f.until, t2, sizeof(t2), 0);
	printf("wuguard discrepancies from %s to %s\n", t1, t2);
	printf("  %lld rows, %lld events\n", (long long)rows, (long long)events);
	if (rows) {
		wg_ctl_time(first, t1, sizeof(t1), 0);
		wg_ctl_time(last, t2, sizeof(t2), 0);
		printf("  first seen %s\n  last seen  %s\n", t1, t2);
	}
	printf("\nHealth (hourly counters)\n");
	print_counters(db, c.f.since);
	if (rows) {
		summary_group(db, &w, "Category", "category", 20);
		summary_group(db, &w, "Severity", "severity", 10);
		summary_group(db, &w, "Top names", "qname", 10);
		summary_group(db, &w, "Top clients", "client", 10);
	}
	histogram(db, &w, c.f.since, c.f.until == NONE_HI ? now_ms() : c.f.until - 1, 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	return EX_OK;
}

static int cmd_stats(int argc, char **argv)
{
	static const int allowed[] = {O_FORMAT, 0};
	struct cmdopts c;
	char t[48];
	struct stat sb;
	parse_cmd(argc, argv, &c, allowed);
	if (optind != argc)
		die(EX_USAGE, "stats: unexpected argument %s", argv[optind]);
	if (c.fmt == WG_CTL_CSV)
		die(EX_USAGE, "stats: --format table or json");
	int json = c.fmt == WG_CTL_JSON;
	sqlite3 *db = open_db(0);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	int64_t rows = q_int(db, "SELECT count(*) FROM events");
	int64_t size = stat(opt_db, &sb) == 0 ? (int64_t)sb.st_size : -1;
	int64_t version = q_int(db, "PRAGMA user_version");
	int64_t in_use = (q_int(db, "PRAGMA page_count") - q_int(db, "PRAGMA freelist_count")) *
			 q_int(db, "PRAGMA page_size");
	int64_t events = q_int(db, "SELECT coalesce(sum(count), 0) FROM events");
	int64_t id, min_id = 0, max_id = 0, oldest = 0, newest = 0, anchor = -1;
	uint8_t h[WG_DLOG_HASH_LEN];
	if (rows) {
		min_id = q_int(db, "SELECT min(id) FROM events");
		max_id = q_int(db, "SELECT max(id) FROM events");
		oldest = q_int(db, "SELECT min(time) FROM events");
		newest = q_int(db, "SELECT max(last_seen) FROM events");
	}
	if (wg_dlog_db_meta_link(db, "chain_anchor", &id, h) == 1)
		anchor = id;
	if (json) {
		fputs("{\"database\":", stdout);
		wg_ctl_json_str(stdout, opt_db);
		printf(",\"file_size\":");
		if (size >= 0)
			printf("%lld", (long long)size);
		else
			fputs("null", stdout);
		printf(",\"schema_version\":%lld,\"bytes_in_use\":%lld,\"rows\":%lld,"
		       "\"events\":%lld", (long long)version, (long long)in_use, (long long)rows,
		       (long long)events);
		if (rows) {
			char t2[48];
			wg_ctl_time_iso(oldest, wg_ctl_utc(), t, sizeof(t));
			wg_ctl_time_iso(newest, wg_ctl_utc(), t2, sizeof(t2));
			printf(",\"first_id\":%lld,\"last_id\":%lld,\"oldest\":\"%s\",\"newest\":\"%s\"",
			       (long long)min_id, (long long)max_id, t, t2);
		} else {
			fputs(",\"first_id\":null,\"last_id\":null,\"oldest\":null,\"newest\":null",
			      stdout);
		}
		printf(",\"chain_anchor\":");
		if (anchor >= 0)
			printf("%lld", (long long)anchor);
		else
			fputs("null", stdout);
		putchar(',');
		print_counters_fmt(db, NONE_LO, 1);
		fputs("}\n", stdout);
	} else {
		printf("%-16s %s\n", "database", opt_db);
		if (size >= 0)
			printf("%-16s %lld bytes\n", "file size", (long long)size);
		printf("%-16s %lld\n", "schema version", (long long)version);
		printf("%-16s %lld bytes in use\n", "pages", (long long)in_use);
		printf("%-16s %lld\n", "rows", (long long)rows);
		printf("%-16s %lld\n", "events", (long long)events);
		if (rows) {
			printf("%-16s %lld .. %lld\n", "ids", (long long)min_id, (long long)max_id);
			wg_ctl_time(oldest, t, sizeof(t), 0);
			printf("%-16s %s\n", "oldest", t);
			wg_ctl_time(newest, t, sizeof(t), 0);
			printf("%-16s %s\n", "newest", t);
		}
		if (anchor >= 0)
			printf("%-16s rows up to %lld pruned\n", "chain anchor", (long long)anchor);
		printf("health, all time:\n");
		print_counters(db, NONE_LO);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	return EX_OK;
}

/* The picture (ctl_report.c): the filters as every command reads them;
 * the range defaults to the last 7 days. */
static int cmd_report(int argc, char **argv)
{
	static const int allowed[] = {O_SINCE, O_UNTIL, O_CATEGORY, O_SEVERITY, O_NAME,
				      O_CLIENT, O_UPSTREAM, O_LIMIT, O_HTML, 0};
	struct cmdopts c;
	char err[512], filters[512] = "";
	parse_cmd(argc, argv, &c, allowed);
	if (optind != argc)
		die(EX_USAGE, "report: unexpected argument %s", argv[optind]);
	if (!c.html)
		die(EX_USAGE, "report: --html FILE is required");
	if (!c.since_set)
		c.f.since = now_ms() - 7 * 86400000LL;
	for (int i = 1; i < argc; i++) /* the options as given, for the page's header */
		if (strcmp(argv[i - 1], "--html") != 0 && strcmp(argv[i], "--html") != 0 &&
		    strncmp(argv[i], "--html=", 7) != 0) {
			size_t len = strlen(filters);
			snprintf(filters + len, sizeof(filters) - len, "%s%s", len ? " " : "", argv[i]);
		}
	sqlite3 *db = open_db(0);
	struct wg_ctl_where w;
	build_where(&c.f, &w);
	struct wg_ctl_report r = {
		.path = c.html, .db_path = opt_db, .since = c.f.since, .until = c.f.until,
		.where = &w, .filters = filters, .utc = opt_utc,
		.last_rows = c.limit_set ? (int)c.f.limit : 25,
	};
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL); /* one snapshot */
	int rc = wg_ctl_report_html(db, &r, err, sizeof(err));
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	if (rc < 0)
		die(EX_USAGE, "report: %s", err);
	/* with "-" the page is standard output: the summary goes aside */
	fprintf(strcmp(c.html, "-") ? stdout : stderr, "report: %s written: %s\n", c.html, err);
	return rc ? EX_FAIL : EX_OK;
}

/* The global options may follow a database command too ("list --utc"):
 * take them out of the command's arguments (argv[first] on, up to "--"),
 * so the command's own parser never sees them. Returns the new argc. */
static int take_globals(int argc, char **argv, int first, const char **db_flag,
			const char **config)
{
	int out = first;
	for (int i = first; i < argc; i++) {
		const char *a = argv[i], **dst = NULL, *val = NULL;
		if (strcmp(a, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(a, "--utc") == 0) {
			opt_utc = 1;
			wg_ctl_set_utc(1);
			continue;
		}
		if (strcmp(a, "--db") == 0 || strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
			dst = a[2] == 'd' ? db_flag : config;
			if (i + 1 >= argc)
				die(EX_USAGE, "%s needs a value", a);
			val = argv[++i];
		} else if (strncmp(a, "--db=", 5) == 0) {
			dst = db_flag;
			val = a + 5;
		} else if (strncmp(a, "--config=", 9) == 0) {
			dst = config;
			val = a + 9;
		} else if (strncmp(a, "-c", 2) == 0) {
			dst = config;
			val = a + 2;
		}
		if (dst) {
			*dst = val;
			continue;
		}
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	return out;
}

int main(int argc, char **argv)
{
	static const struct option gopts[] = {
		{"db", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"utc", no_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
		{"summary", cmd_summary}, {"list", cmd_list}, {"show", cmd_show},
		{"export", cmd_export}, {"values", cmd_values}, {"verify", cmd_verify},
		{"prune", cmd_prune}, {"backup", cmd_backup}, {"stats", cmd_stats},
		{"report", cmd_report},
	};
	int ch;
	const char *env = getenv("WUGUARD_DB"), *db_flag = NULL, *config = NULL, *sock = NULL;
	/* "+": stop at the command; its options are parsed by the command. */
	while ((ch = getopt_long(argc, argv, "+hVc:s:", gopts, NULL)) != -1) {
		switch (ch) {
		case 'd': db_flag = optarg; break;
		case 'c': config = optarg; break;
		case 's': sock = optarg; break;
		case 'u': opt_utc = 1; wg_ctl_set_utc(1); break;
		case 'h': usage(stdout); return EX_OK;
		case 'V': printf("wuguardctl %s\n", PACKAGE_VERSION); return EX_OK;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	/* probe reads the config as the daemon does (with its own flags on
	 * top); it needs no database */
	int probe = strcmp(argv[optind], "probe") == 0;
	if (strcmp(argv[optind], "domains") == 0)
		return wg_ctl_domains(argc - optind, argv + optind, config);
	if (!probe)
		argc = take_globals(argc, argv, optind + 1, &db_flag, &config);
	if (config && !probe)
		load_config(config);
	/* the running daemon: -s, then the config's [control] socket */
	if (wg_ctl_control_wants(argc - optind, argv + optind, sock != NULL))
		return wg_ctl_control(argc - optind, argv + optind,
				      sock ? sock : config ? opt_cfg.control_socket
							   : WG_CONTROL_SOCKET_DEFAULT);
	/* --db, then WUGUARD_DB, then the config's [database] path */
	if (db_flag)
		opt_db = db_flag;
	else if (env && *env)
		opt_db = env;
	else if (config && opt_cfg.db_path)
		opt_db = opt_cfg.db_path;
	if (sodium_init() < 0)
		die(EX_USAGE, "libsodium failed to initialise");
	if (probe)
		return wg_ctl_probe(argc - optind, argv + optind, config);
	if (opt_utc)
		setenv("TZ", "UTC", 1);
	tzset();
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[optind], cmds[i].name) == 0)
			return cmds[i].fn(argc - optind, argv + optind);
	fprintf(stderr, "wuguardctl: unknown command %s\n", argv[optind]);
	usage(stderr);
	return EX_USAGE;
}
