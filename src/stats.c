/* stats.c: the counter registry and its three renderings; see stats.h.
 *
 * The tables below are the only list of counters. Each row reads one
 * field of a module's stats struct (by offset), so adding a counter is one
 * row, and the log line, `wuguardctl stats` and /metrics all get it. */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "compare.h"
#include "crosscheck.h"
#include "dlog.h"
#include "dnscrypt.h"
#include "events.h"
#include "listen.h"
#include "log.h"
#include "plugin.h"
#include "resolver.h"
#include "stats.h"
#include "upstream.h"

#define C WG_STAT_COUNTER
#define G WG_STAT_GAUGE

struct field {
	struct wg_stat s;
	size_t off; /* uint64_t in the module's stats struct */
};

#define RS(key, metric, type, help, f) {{"", key, metric, help, type, NULL}, offsetof(struct wg_resolver_stats, f)}
static const struct field resolver_f[] = {
	RS("queries", "queries_total", C, "DNS queries received", queries),
	RS("cache_hits", "cache_hits_total", C, "queries answered from the cache", cache_hits),
	RS("cache_misses", "cache_misses_total", C, "queries not in the cache", cache_misses),
	RS("shared", "shared_total", C, "queries that joined an upstream exchange in flight", shared),
	RS("stale", "stale_served_total", C, "stale answers served (RFC 8767)", stale_served),
	RS("prefetch", "prefetches_total", C, "popular entries refreshed before they expired", prefetches),
	RS("upstream_failures", "upstream_failures_total", C, "exchanges the local upstream did not answer", upstream_failures),
	RS("servfail", "servfail_total", C, "SERVFAIL replies sent to clients", servfail),
	RS("formerr", "formerr_total", C, "FORMERR replies sent to clients", formerr),
	RS("notimp", "notimp_total", C, "NOTIMP replies sent to clients", notimp),
	RS("refused", "refused_total", C, "REFUSED replies (ACL, zone transfer, class CH, RD=0 miss)", refused),
	RS("norec_refused", "norec_refused_total", C, "RD=0 queries not in the cache (of refused)", norec_refused),
	RS("dropped", "dropped_total", C, "queries not answered (runt, QR=1, no slot)", dropped),
	RS("truncated", "truncated_total", C, "UDP replies sent with TC=1", truncated),
	RS("trimmed", "trimmed_total", C, "UDP replies fitted without TC", trimmed),
	RS("policy_blocked", "policy_blocked_total", C, "queries answered by a plugin verdict", policy_blocked),
	RS("policy_overridden", "policy_overridden_total", C, "plugin verdicts on WU names set aside", policy_overridden),
};

#define CS(key, type, help, f) {{"cache", key, "cache_" key, help, type, NULL}, offsetof(struct wg_cache_stats, f)}
static const struct field cache_f[] = {
	CS("entries", G, "answers in the cache", entries),
	CS("bytes", G, "bytes the cache holds", bytes),
	{{"cache", "evictions", "cache_evictions_total", "entries evicted to make room", C, NULL},
	 offsetof(struct wg_cache_stats, evictions)},
	{{"cache", "inserts", "cache_inserts_total", "answers stored", C, NULL},
	 offsetof(struct wg_cache_stats, inserts)},
};

#define US(key, help, f) {{"upstream", key, "upstream_" key "_total", help, C, NULL}, offsetof(struct wg_upstream_stats, f)}
static const struct field upstream_f[] = {
	US("sent", "tries sent to the local upstreams", sent),
	US("replies", "replies accepted from the local upstreams", replies),
	US("timeouts", "tries the local upstreams left unanswered", timeouts),
	US("tcp_retries", "truncated replies retried over TCP", tcp_retries),
	US("bad_replies", "replies discarded (wrong ID, address, question, case)", bad_replies),
	US("send_errors", "tries the kernel refused to send", send_errors),
	US("other_class", "records of another class than the question's, dropped", other_class),
	US("caps_mismatches", "replies not in the 0x20 case asked in, not taken", caps_mismatches),
	/* not "upstream_failures": the resolver's counter of that name */
	{{"upstream", "failures", "upstream_exchange_failures_total",
	  "exchanges with the local upstreams that ended without an answer", C, NULL},
	 offsetof(struct wg_upstream_stats, failures)},
};

/* per local server: label "upstream" */
enum { SV_SENT, SV_REPLIES, SV_TIMEOUTS, SV_FAILS, SV_UP };
static const struct wg_stat server_s[] = {
	{"upstream", "sent", "upstream_server_sent_total", "tries sent to this local upstream", C, "upstream"},
	{"upstream", "replies", "upstream_server_replies_total", "exchanges this local upstream answered", C, "upstream"},
	{"upstream", "timeouts", "upstream_server_timeouts_total", "tries this local upstream left unanswered", C, "upstream"},
	{"upstream", "fails_in_row", "upstream_server_fails_in_row", "tries failed since its last reply", G, "upstream"},
	{"upstream", "up", "upstream_server_up", "1: its last try was answered (or none failed yet)", G, "upstream"},
};

#define XS(key, metric, help, f) {{"guard", key, "guard_" metric "_total", help, C, NULL}, offsetof(struct wg_crosscheck_stats, f)}
static const struct field guard_f[] = {
	XS("guarded", "guarded", "WU queries cross-checked", guarded),
	XS("matched", "matched", "guarded answers agreeing with the public one", matched),
	XS("cdn_variance", "cdn_variance", "guarded answers on other edges of one CDN", cdn_variance),
	XS("repaired", "repaired", "tampered answers replaced with the public one", repaired),
	XS("would_repair", "would_repair", "tampered answers recorded only (monitor mode)", would_repair),
	XS("public_unavailable", "public_unavailable", "checks without a usable public answer", public_unavailable),
	XS("early", "early_served", "local answers served before the verdict", early_served),
	XS("late_repairs", "late_repairs", "repairs stored after the local answer was served", late_repairs),
	XS("recorded", "recorded", "verdicts written to the discrepancy log", recorded),
	XS("public_second", "public_second", "public answers that looked filtered: another operator asked", public_second),
	XS("public_set_aside", "public_set_aside", "... and the other operator's answer used", public_set_aside),
};
static const struct wg_stat verdict_s = {
	"guard", "verdicts", "guard_verdicts_total", "guard verdicts by category", C, "category"};

#define PS(key, help, f) {{"public", key, "public_" key "_total", help, C, NULL}, offsetof(struct wg_dnscrypt_stats, f)}
static const struct field public_f[] = {
	PS("sent", "queries sent to the public references", sent),
	PS("replies", "replies accepted from the public references", replies),
	PS("timeouts", "tries the public references left unanswered", timeouts),
	PS("tcp_retries", "truncated public replies retried over TCP", tcp_retries),
	PS("bad_replies", "public replies discarded", bad_replies),
	PS("cert_fetches", "DNSCrypt certificate fetches completed", cert_fetches),
	PS("cert_fetch_failures", "certificate fetches without a usable certificate", cert_fetch_failures),
	PS("cert_rotations", "switches to another certificate", cert_rotations),
	PS("other_class", "public records of another class, dropped", other_class),
};
/* plain-DNS public references share the upstream struct's fields */
#define PU(key, help, f) {{"public", key, "public_" key "_total", help, C, NULL}, offsetof(struct wg_upstream_stats, f)}
static const struct field public_plain_f[] = {
	PU("sent", "queries sent to the public references", sent),
	PU("replies", "replies accepted from the public references", replies),
	PU("timeouts", "tries the public references left unanswered", timeouts),
	PU("tcp_retries", "truncated public replies retried over TCP", tcp_retries),
	PU("bad_replies", "public replies discarded", bad_replies),
	PU("other_class", "public records of another class, dropped", other_class),
};
static const struct wg_stat cert_s = {
	"public", "certificate", "public_certificate_valid",
	"1: this public reference holds a usable certificate (plain DNS: 0)", G, "public"};

#define LS(key, type, help) {{"listen", #key, "listen_" #key "_total", help, type, NULL}, offsetof(struct wg_listen_stats, key)}
static const struct field listen_f[] = {
	LS(udp_in, C, "UDP queries read"),
	LS(udp_too_long, C, "UDP datagrams longer than a DNS message, dropped"),
	LS(tcp_in, C, "TCP queries read"),
	LS(tcp_accepted, C, "TCP connections accepted"),
	LS(tcp_rejected, C, "TCP connections refused: every slot busy or no descriptor"),
	LS(tcp_denied, C, "TCP connections closed at accept: the ACL refuses the client"),
	LS(tcp_per_client_closed, C, "TCP connections closed: the client had tcp-per-client open"),
	LS(tcp_evicted, C, "idle TCP connections closed to make room"),
	LS(tcp_pressure, C, "times 3/4 of the TCP slots filled"),
	LS(tcp_idle_closed, C, "TCP connections closed when idle"),
	LS(tcp_paused, C, "times a TCP connection stopped being read"),
	{{"listen", "tcp_clients", "listen_tcp_clients", "TCP connections open now", G, NULL},
	 offsetof(struct wg_listen_stats, tcp_clients)},
	LS(send_errors, C, "replies that could not be sent"),
};

#define DS(key, type, help) {{"database", #key, "database_" #key "_total", help, type, NULL}, offsetof(struct wg_dlog_stats, key)}
static const struct field dlog_f[] = {
	{{"database", "queued", "database_queued", "rows waiting for the writer", G, NULL},
	 offsetof(struct wg_dlog_stats, queued)},
	DS(submitted, C, "rows handed to the writer"),
	DS(written, C, "rows inserted"),
	DS(aggregated, C, "events folded into an existing row"),
	DS(dropped, C, "rows lost: queue full, or given up after errors"),
	DS(errors, C, "failed database operations"),
	DS(pruned, C, "rows removed by retention"),
	DS(reopened, C, "databases made again after the file went away"),
	{{"database", "unavailable", "database_unavailable", "1: no database open now (rows wait)", G, NULL},
	 offsetof(struct wg_dlog_stats, unavailable)},
};

#define ES(key, help) {{"events", #key, "events_" #key "_total", help, C, NULL}, offsetof(struct wg_events_stats, key)}
static const struct field events_f[] = {
	ES(written, "event lines handed to the file or syslog"),
	ES(dropped, "event lines lost: full disk, receiver busy or gone, no file"),
	ES(errors, "failed opens and connects of the event target"),
	ES(reopened, "reopens of the event file (SIGHUP, reload)"),
};

/* A field added to a module's stats struct without a row here fails the
 * build, so the three renderings can never miss it. */
#define ROWS(t) (sizeof(t) / sizeof(t[0]))
_Static_assert(sizeof(struct wg_resolver_stats) == ROWS(resolver_f) * 8, "a row per resolver counter");
_Static_assert(sizeof(struct wg_cache_stats) == ROWS(cache_f) * 8, "a row per cache counter");
_Static_assert(sizeof(struct wg_upstream_stats) == ROWS(upstream_f) * 8, "a row per upstream counter");
_Static_assert(sizeof(struct wg_crosscheck_stats) == (ROWS(guard_f) + WG_CMP__COUNT) * 8,
	       "a row per guard counter");
_Static_assert(sizeof(struct wg_dnscrypt_stats) == ROWS(public_f) * 8, "a row per public counter");
_Static_assert(sizeof(struct wg_listen_stats) == ROWS(listen_f) * 8, "a row per listener counter");
_Static_assert(offsetof(struct wg_dlog_stats, last_error) == ROWS(dlog_f) * 8,
	       "a row per database counter");
_Static_assert(sizeof(struct wg_events_stats) == ROWS(events_f) * 8, "a row per events counter");

static const struct wg_stat plugin_s = {
	"plugin", NULL, "plugin_value", "a plugin's own counter, by its stats hook", G, "plugin"};

static uint64_t at(const void *base, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

static void walk_fields(const struct field *f, size_t n, const void *base, wg_stats_cb cb,
			void *arg)
{
	for (size_t i = 0; i < n; i++)
		cb(arg, &f[i].s, NULL, f[i].s.key, at(base, f[i].off));
}

#define WALK(tab, base) walk_fields(tab, sizeof(tab) / sizeof(tab[0]), base, cb, arg)

struct plugin_walk {
	wg_stats_cb cb;
	void *arg;
};

static void plugin_emit(void *arg, const char *instance, const char *key, uint64_t value)
{
	struct plugin_walk *w = arg;
	w->cb(w->arg, &plugin_s, instance, key, value);
}

static void walk_public(const struct wg_crosscheck *x, wg_stats_cb cb, void *arg)
{
	const struct wg_dnscrypt *dc = wg_crosscheck_public_dnscrypt(x);
	const struct wg_upstream *pu = wg_crosscheck_public_plain(x);
	if (dc) {
		struct wg_dnscrypt_stats ds;
		wg_dnscrypt_get_stats(dc, &ds);
		WALK(public_f, &ds);
		for (size_t i = 0; i < wg_dnscrypt_n_servers(dc); i++) {
			struct wg_dnscrypt_server_info in;
			if (wg_dnscrypt_server_info(dc, i, &in) == 0)
				cb(arg, &cert_s, in.label, cert_s.key, (uint64_t)in.have_cert);
		}
	} else if (pu) {
		struct wg_upstream_stats us;
		wg_upstream_get_stats(pu, &us);
		WALK(public_plain_f, &us);
	}
}

void wg_stats_walk(const struct wg_stats_src *src, wg_stats_cb cb, void *arg)
{
	const struct wg_resolver *r = src->resolver;
	if (r) {
		struct wg_resolver_stats rs;
		struct wg_cache_stats cs;
		struct wg_upstream_stats us;
		wg_resolver_get_stats(r, &rs);
		WALK(resolver_f, &rs);
		wg_cache_get_stats(wg_resolver_cache(r), &cs);
		WALK(cache_f, &cs);
		const struct wg_upstream *u = wg_resolver_local(r);
		wg_upstream_get_stats(u, &us);
		WALK(upstream_f, &us);
		for (size_t k = 0; k < sizeof(server_s) / sizeof(server_s[0]); k++) {
			for (size_t i = 0; i < wg_upstream_n_servers(u); i++) {
				struct wg_upstream_server_stats ss;
				char name[80];
				if (wg_upstream_get_server_stats(u, i, &ss) < 0)
					continue;
				wg_upstream_server_name(u, (int)i, name, sizeof(name));
				uint64_t v = k == SV_SENT ? ss.sent : k == SV_REPLIES ? ss.replies
					   : k == SV_TIMEOUTS ? ss.timeouts
					   : k == SV_FAILS ? ss.fails_in_row : ss.fails_in_row == 0;
				cb(arg, &server_s[k], name, server_s[k].key, v);
			}
		}
		const struct wg_crosscheck *x = wg_resolver_crosscheck(r);
		if (x) {
			struct wg_crosscheck_stats xs;
			wg_crosscheck_get_stats(x, &xs);
			WALK(guard_f, &xs);
			for (int c = 0; c < WG_CMP__COUNT; c++)
				cb(arg, &verdict_s, wg_compare_category_name((enum wg_compare_category)c),
				   verdict_s.key, xs.by_category[c]);
			walk_public(x, cb, arg);
		}
		struct plugin_walk pw = {cb, arg};
		wg_plugin_chain_stats(wg_resolver_plugins(r), plugin_emit, &pw);
	}
	if (src->listen) {
		struct wg_listen_stats ls;
		wg_listen_get_stats(src->listen, &ls);
		WALK(listen_f, &ls);
	}
	if (src->dlog) {
		struct wg_dlog_stats ds;
		wg_dlog_get_stats(src->dlog, &ds);
		WALK(dlog_f, &ds);
	}
	if (src->events) {
		struct wg_events_stats es;
		wg_events_get_stats(src->events, &es);
		WALK(events_f, &es);
	}
}

/* --- buffer --- */

void wg_stats_buf_printf(struct wg_stats_buf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void wg_stats_buf_free(struct wg_stats_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* --- names --- */

/* KEY, GROUP.KEY, GROUP[LABEL].KEY, or GROUP.KEY[LABEL] for categories */
static void text_name(const struct wg_stat *s, const char *label, const char *key, char *buf,
		      size_t cap)
{
	if (!label)
		snprintf(buf, cap, "%s%s%s", s->group, *s->group ? "." : "", key);
	else if (strcmp(s->label, "category") == 0)
		snprintf(buf, cap, "%s.%s[%s]", s->group, key, label);
	else
		snprintf(buf, cap, "%s[%s].%s", s->group, label, key);
}

/* --- baseline --- */

struct base_walk {
	struct wg_stats_baseline nb;
	int oom;
};

static void base_add(void *arg, const struct wg_stat *s, const char *label, const char *key,
		     uint64_t v)
{
	struct base_walk *w = arg;
	char name[300];
	if (w->oom || s->type != WG_STAT_COUNTER)
		return;
	text_name(s, label, key, name, sizeof(name));
	char **nn = realloc(w->nb.names, (w->nb.n + 1) * sizeof(*nn));
	if (nn)
		w->nb.names = nn;
	uint64_t *nv = realloc(w->nb.values, (w->nb.n + 1) * sizeof(*nv));
	if (nv)
		w->nb.values = nv;
	char *dup = strdup(name);
	if (!nn || !nv || !dup) {
		free(dup);
		w->oom = 1;
		return;
	}
	w->nb.names[w->nb.n] = dup;
	w->nb.values[w->nb.n] = v;
	w->nb.n++;
}

void wg_stats_baseline_free(struct wg_stats_baseline *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->names[i]);
	free(b->names);
	free(b->values);
	memset(b, 0, sizeof(*b));
}

int wg_stats_baseline_set(struct wg_stats_baseline *b, const struct wg_stats_src *src)
{
	struct base_walk w;
	memset(&w, 0, sizeof(w));
	wg_stats_walk(src, base_add, &w);
	if (w.oom) {
		wg_stats_baseline_free(&w.nb);
		return -ENOMEM;
	}
	wg_stats_baseline_free(b);
	*b = w.nb;
	return 0;
}

static uint64_t base_of(const struct wg_stats_baseline *b, const char *name, uint64_t v)
{
	/* linear: a few hundred names, asked by an operator, never per query */
	for (size_t i = 0; b && i < b->n; i++)
		if (strcmp(b->names[i], name) == 0)
			return b->values[i] <= v ? v - b->values[i] : v; /* a reload restarted it */
	return v;
}

/* --- text and JSON --- */

struct fmt_walk {
	const struct wg_stats_baseline *base;
	int json;
	int n;
	struct wg_stats_buf *out;
};

static void json_str(struct wg_stats_buf *b, const char *s)
{
	wg_stats_buf_printf(b, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			wg_stats_buf_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			wg_stats_buf_printf(b, "\\u%04x", ch);
		else
			wg_stats_buf_printf(b, "%c", ch);
	}
	wg_stats_buf_printf(b, "\"");
}

static void fmt_one(void *arg, const struct wg_stat *s, const char *label, const char *key,
		    uint64_t v)
{
	struct fmt_walk *w = arg;
	char name[300];
	text_name(s, label, key, name, sizeof(name));
	if (s->type == WG_STAT_COUNTER)
		v = base_of(w->base, name, v);
	if (w->json) {
		wg_stats_buf_printf(w->out, "%s", w->n ? "," : "");
		json_str(w->out, name);
		wg_stats_buf_printf(w->out, ":%llu", (unsigned long long)v);
	} else {
		wg_stats_buf_printf(w->out, "%s %llu\n", name, (unsigned long long)v);
	}
	w->n++;
}

void wg_stats_format(const struct wg_stats_src *src, const struct wg_stats_baseline *base,
		     int json, struct wg_stats_buf *out)
{
	struct fmt_walk w = {base, json, 0, out};
	if (json)
		wg_stats_buf_printf(out, "{");
	wg_stats_walk(src, fmt_one, &w);
	if (json)
		wg_stats_buf_printf(out, "}\n");
}

/* --- Prometheus --- */

struct prom_walk {
	const struct wg_stat *last; /* the family whose HELP/TYPE went out */
	const char *last_key;
	struct wg_stats_buf *out;
};

static void prom_label(struct wg_stats_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			wg_stats_buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			wg_stats_buf_printf(b, "\\n");
		else
			wg_stats_buf_printf(b, "%c", *s);
	}
}

static void prom_one(void *arg, const struct wg_stat *s, const char *label, const char *key,
		     uint64_t v)
{
	struct prom_walk *w = arg;
	if (w->last != s) {
		wg_stats_buf_printf(w->out, "# HELP wuguard_%s %s\n# TYPE wuguard_%s %s\n", s->metric,
				    s->help, s->metric,
				    s->type == WG_STAT_COUNTER ? "counter" : "gauge");
		w->last = s;
	}
	wg_stats_buf_printf(w->out, "wuguard_%s", s->metric);
	if (label) {
		wg_stats_buf_printf(w->out, "{%s=\"", s->label);
		prom_label(w->out, label);
		if (!s->key) {
			wg_stats_buf_printf(w->out, "\",key=\"");
			prom_label(w->out, key);
		}
		wg_stats_buf_printf(w->out, "\"}");
	}
	wg_stats_buf_printf(w->out, " %llu\n", (unsigned long long)v);
}

void wg_stats_prometheus(const struct wg_stats_src *src, struct wg_stats_buf *out)
{
	struct prom_walk w = {NULL, NULL, out};
	wg_stats_walk(src, prom_one, &w);
}

/* --- the SIGUSR1 lines --- */

#define LOG_LINES 64

struct log_line {
	char head[120]; /* "GROUP" or "GROUP LABEL" */
	char buf[1024];
	size_t n;
};

struct log_walk {
	struct log_line l[LOG_LINES];
	size_t n;
};

static struct log_line *log_line_for(struct log_walk *w, const char *head)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->l[i].head, head) == 0)
			return &w->l[i];
	if (w->n == LOG_LINES)
		return NULL;
	struct log_line *l = &w->l[w->n++];
	snprintf(l->head, sizeof(l->head), "%s", head);
	l->buf[0] = 0;
	l->n = 0;
	return l;
}

static void log_one(void *arg, const struct wg_stat *s, const char *label, const char *key,
		    uint64_t v)
{
	struct log_walk *w = arg;
	char head[120], k[200];
	int cat = label && strcmp(s->label, "category") == 0;
	if (label && !cat)
		snprintf(head, sizeof(head), "%s %s", s->group, label);
	else
		snprintf(head, sizeof(head), "%s", s->group);
	if (cat)
		snprintf(k, sizeof(k), "%s_%s", key, label);
	else
		snprintf(k, sizeof(k), "%s", key);
	struct log_line *l = log_line_for(w, head);
	if (!l)
		return;
	int n = snprintf(l->buf + l->n, sizeof(l->buf) - l->n, "%s%s=%llu", l->n || *head ? " " : "",
			 k, (unsigned long long)v);
	if (n > 0 && (size_t)n < sizeof(l->buf) - l->n)
		l->n += (size_t)n;
}

void wg_stats_log(const struct wg_stats_src *src)
{
	struct log_walk *w = calloc(1, sizeof(*w)); /* 70 KiB: not on the stack */
	if (!w)
		return;
	wg_stats_walk(src, log_one, w);
	struct wg_dlog_stats ds;
	if (src->dlog)
		wg_dlog_get_stats(src->dlog, &ds);
	for (size_t i = 0; i < w->n; i++) {
		const char *err = src->dlog && strcmp(w->l[i].head, "database") == 0 &&
					  ds.last_error[0] ? ds.last_error : NULL;
		wg_info("stats", "%s%s%s%s", w->l[i].head, w->l[i].buf, err ? " last_error=" : "",
			err ? err : "");
	}
	free(w);
}
