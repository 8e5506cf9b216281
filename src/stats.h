/* stats.h: the counter registry.
 *
 * One table names every counter and gauge the daemon keeps (queries, cache,
 * local upstream and each of its servers, guard and its verdicts per
 * category, public references, plugins, listeners, database, event
 * stream) with its help
 * text, type and label. The SIGUSR1 log lines, the control socket's
 * `stats` (text and JSON) and the Prometheus /metrics page are all written
 * from it, so they cannot drift apart. Loop thread only; never on the
 * query path. */
#ifndef WG_STATS_H
#define WG_STATS_H

#include <stddef.h>
#include <stdint.h>

struct wg_resolver;
struct wg_listen;
struct wg_dlog;
struct wg_events;

enum wg_stat_type { WG_STAT_COUNTER, WG_STAT_GAUGE };

struct wg_stat {
	const char *group;  /* the log line: "" (the first), "cache", "upstream", ... */
	const char *key;    /* key=value in that line; NULL: given per value (plugins) */
	const char *metric; /* the Prometheus name after "wuguard_" */
	const char *help;
	enum wg_stat_type type;
	const char *label;  /* NULL; "category" (the log key gets "_CATEGORY"); or an
			     * object label ("upstream", "public", "plugin") whose
			     * values get a log line "GROUP VALUE ..." of their own */
};

/* Where the values are read (borrowed; any may be NULL). */
struct wg_stats_src {
	const struct wg_resolver *resolver;
	const struct wg_listen *listen;
	struct wg_dlog *dlog;
	struct wg_events *events;
};

/* One value: label_value is NULL without a label; key is s->key, or the
 * plugin's own counter name. Called stat by stat, so every value of one
 * metric comes together. */
typedef void (*wg_stats_cb)(void *arg, const struct wg_stat *s, const char *label_value,
			    const char *key, uint64_t value);
void wg_stats_walk(const struct wg_stats_src *src, wg_stats_cb cb, void *arg);

/* A growable text buffer; oom is set (and text kept short) when memory ran
 * out. */
struct wg_stats_buf {
	char *p;   /* owned, NUL-terminated when len > 0 */
	size_t len, cap;
	int oom;
};
void wg_stats_buf_printf(struct wg_stats_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void wg_stats_buf_free(struct wg_stats_buf *b);

/* Counter values at the last `stats --reset` (names as in the text form). */
struct wg_stats_baseline {
	char **names;       /* owned, each owned */
	uint64_t *values;   /* owned */
	size_t n;
};
/* Take the counters now as the new baseline. Returns 0 or -ENOMEM (the old
 * baseline stays). */
int wg_stats_baseline_set(struct wg_stats_baseline *b, const struct wg_stats_src *src);
void wg_stats_baseline_free(struct wg_stats_baseline *b);

/* The SIGUSR1 lines, at info level with the tag "stats". */
void wg_stats_log(const struct wg_stats_src *src);
/* `NAME VALUE` lines (json = 0) or one JSON object {"NAME": VALUE, ...}
 * (json = 1). NAME: KEY for the first group, GROUP.KEY otherwise, with
 * [LABEL VALUE] after the group for labelled values, e.g. cache.entries,
 * upstream[127.0.0.1:53].replies, guard.verdicts[sinkhole]. Counters count
 * from the baseline (NULL or empty: from the start); gauges are as they
 * are. */
void wg_stats_format(const struct wg_stats_src *src, const struct wg_stats_baseline *base,
		     int json, struct wg_stats_buf *out);
/* The Prometheus text exposition format (version 0.0.4): # HELP and # TYPE
 * per metric, names wuguard_*, labels escaped. */
void wg_stats_prometheus(const struct wg_stats_src *src, struct wg_stats_buf *out);

#endif
