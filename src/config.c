/* config.c: see config.h.
 *
 * Every key lives in one table (section, name, kind, field offset, range),
 * so parsing, overrides, line tracking and the dump all walk the same list
 * and cannot drift apart.
 *
 * inih does the INI syntax, but Debian builds it without INI_HANDLER_LINENO
 * and with a 200-byte line buffer. We therefore feed it through our own
 * line reader (ini_parse_stream), which
 *   - counts lines, so every error is "FILE:LINE: reason";
 *   - checks section headers and "key = value" shape itself, so syntax
 *     errors carry a reason too;
 *   - strips leading whitespace, which switches off inih's continuation
 *     lines: an indented key is just a key;
 *   - hands an over-long "key = value" line to inih as "key = \1" and keeps
 *     the real value aside (long sdns:// stamps do exceed 200 bytes).
 * The first error stops the parse: the reader returns EOF from then on. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <syslog.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "events.h"
#include "log.h"
#include "safefile.h"

#ifndef WG_DATADIR
#define WG_DATADIR "/usr/local/share/wuguard"
#endif
#ifndef WG_LOCALSTATEDIR
#define WG_LOCALSTATEDIR "/usr/local/var"
#endif

#define LONG_VALUE_MARK "\001"
#define TTL_MAX 2147483647u /* RFC 2181 section 8 */

enum kind {
	K_ADDRS,    /* struct wg_addr array; min = default port, 0: port required */
	K_CIDRS,    /* struct wg_cidr array */
	K_PUBLIC,   /* strlist of ADDR:PORT or sdns:// */
	K_CIDRSTRS, /* strlist, each item a valid CIDR */
	K_NAMES,    /* strlist of domain names, "*." allowed in front */
	K_WORDS,    /* strlist of [a-z0-9_-] words */
	K_STR,      /* char *; min = 1: must not be empty; max: most bytes, 0: any */
	K_U32,      /* uint32_t in [min, max] */
	K_BYTES,    /* uint64_t with k/M/G suffix, at least min */
	K_BOOL,     /* int 0/1 */
	K_LOGLEVEL, /* int, enum wg_log_level */
	K_MODE,     /* enum wg_mode */
	K_PRIVACY,  /* enum wg_client_privacy */
	K_EVENTS,   /* char *: an events target (events.h), "none" stored as NULL */
	K_FACILITY, /* int: a syslog facility, LOG_DAEMON ... */
};

struct key {
	const char *section;
	const char *name;
	enum kind kind;
	size_t off;   /* the field */
	size_t off_n; /* the count, for K_ADDRS and K_CIDRS */
	uint64_t min, max;
};

#define OFF(f) offsetof(struct wg_config, f)

static const struct key keys[] = {
	{"server", "listen", K_ADDRS, OFF(listen), OFF(n_listen), 0, 0},
	{"server", "user", K_STR, OFF(user), 0, 0, 0},
	{"server", "log-level", K_LOGLEVEL, OFF(log_level), 0, 0, 0},
	{"server", "mode", K_MODE, OFF(mode), 0, 0, 0},
	{"server", "tcp-idle-timeout", K_U32, OFF(tcp_idle_ms), 0, 1, 3600000},
	{"server", "plugin-timeout", K_U32, OFF(plugin_timeout_ms), 0, 100, 600000},
	{"server", "tcp-max-clients", K_U32, OFF(tcp_max_clients), 0, 1, 65535},
	{"server", "tcp-per-client", K_U32, OFF(tcp_per_client), 0, 1, 65535},
	{"server", "max-inflight", K_U32, OFF(max_inflight), 0, 1, 1048576},
	{"server", "pidfile", K_STR, OFF(pidfile), 0, 0, 0},
	{"server", "identity", K_STR, OFF(identity), 0, 0, 255},
	{"server", "version", K_STR, OFF(version), 0, 0, 255},

	{"upstream", "local", K_ADDRS, OFF(local), OFF(n_local), 53, 0},
	{"upstream", "public", K_PUBLIC, OFF(public_), 0, 0, 0},
	{"upstream", "timeout", K_U32, OFF(timeout_ms), 0, 1, 60000},
	{"upstream", "retries", K_U32, OFF(retries), 0, 0, 10},
	{"upstream", "public-timeout", K_U32, OFF(public_timeout_ms), 0, 1, 60000},
	{"upstream", "case-randomization", K_BOOL, OFF(caps), 0, 0, 0},
	{"upstream", "client-subnet", K_BOOL, OFF(client_subnet), 0, 0, 0},
	{"upstream", "resolv-conf", K_STR, OFF(resolv_conf), 0, 1, 0},

	{"cache", "size", K_U32, OFF(cache_entries), 0, 1, 100000000},
	{"cache", "max-bytes", K_BYTES, OFF(cache_bytes), 0, 65536, UINT64_C(1) << 40},
	{"cache", "min-ttl", K_U32, OFF(min_ttl), 0, 0, TTL_MAX},
	{"cache", "max-ttl", K_U32, OFF(max_ttl), 0, 1, TTL_MAX},
	{"cache", "negative-max-ttl", K_U32, OFF(neg_max_ttl), 0, 0, TTL_MAX},
	{"cache", "servfail-ttl", K_U32, OFF(servfail_ttl), 0, 0, 300},
	{"cache", "serve-stale", K_BOOL, OFF(serve_stale), 0, 0, 0},
	{"cache", "stale-ttl", K_U32, OFF(stale_ttl), 0, 1, 86400},
	{"cache", "stale-max-age", K_U32, OFF(stale_max_age), 0, 0, TTL_MAX},
	{"cache", "stale-client-timeout", K_U32, OFF(stale_client_ms), 0, 0, 60000},
	{"cache", "prefetch", K_BOOL, OFF(prefetch), 0, 0, 0},
	{"cache", "prefetch-min-hits", K_U32, OFF(prefetch_min_hits), 0, 1, 1000000},

	{"acl", "allow", K_CIDRS, OFF(allow), OFF(n_allow), 0, 0},
	{"acl", "deny", K_CIDRS, OFF(deny), OFF(n_deny), 0, 0},

	{"guard", "domains", K_STR, OFF(domains_file), 0, 1, 0},
	{"guard", "add", K_NAMES, OFF(domains_add), 0, 0, 0},
	{"guard", "remove", K_NAMES, OFF(domains_remove), 0, 0, 0},
	{"guard", "groups", K_WORDS, OFF(groups), 0, 0, 0},
	{"guard", "sanctioned-address", K_CIDRSTRS, OFF(sanctioned_addr), 0, 0, 0},
	{"guard", "sanctioned-name", K_NAMES, OFF(sanctioned_name), 0, 0, 0},
	{"guard", "sanctioned-block", K_NAMES, OFF(sanctioned_block), 0, 0, 0},
	{"guard", "sinkhole-address", K_CIDRSTRS, OFF(sinkhole_addr), 0, 0, 0},
	{"guard", "sinkhole-name", K_NAMES, OFF(sinkhole_name), 0, 0, 0},
	{"guard", "cdn-suffix", K_NAMES, OFF(cdn_suffix), 0, 0, 0},
	{"guard", "public-wait", K_U32, OFF(public_wait_ms), 0, 0, 60000},
	{"guard", "repair-ttl", K_U32, OFF(repair_ttl), 0, 0, TTL_MAX},
	{"guard", "repair-ede", K_BOOL, OFF(repair_ede), 0, 0, 0},

	{"database", "path", K_STR, OFF(db_path), 0, 1, 0},
	{"database", "client-address", K_PRIVACY, OFF(client_privacy), 0, 0, 0},
	{"database", "retention-days", K_U32, OFF(retention_days), 0, 1, 36500},
	{"database", "max-size-mb", K_U32, OFF(max_db_mb), 0, 1, 1048576},
	{"database", "aggregate-window", K_U32, OFF(aggregate_s), 0, 0, 86400},
	{"database", "queue-size", K_U32, OFF(queue_size), 0, 16, 1048576},
	{"database", "hide-name", K_NAMES, OFF(hide_name), 0, 0, 0},
	{"database", "hide-client", K_CIDRS, OFF(hide_client), OFF(n_hide_client), 0, 0},

	{"log", "events", K_EVENTS, OFF(events), 0, 0, 0},
	{"log", "site", K_STR, OFF(site), 0, 0, 128},
	{"log", "facility", K_FACILITY, OFF(facility), 0, 0, 0},

	{"control", "socket", K_STR, OFF(control_socket), 0, 1, 0},

	{"metrics", "listen", K_ADDRS, OFF(metrics_listen), OFF(n_metrics_listen), 0, 0},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {"server", "upstream", "cache", "acl", "guard", "database",
				       "log",    "control", "metrics"};

static const struct { const char *name; int value; } facilities[] = {
	{"daemon", LOG_DAEMON}, {"user", LOG_USER}, {"local0", LOG_LOCAL0},
	{"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
	{"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
	{"local7", LOG_LOCAL7}};
#define NFACILITIES (sizeof(facilities) / sizeof(facilities[0]))

#define FIELD(c, k, type) ((type *)(void *)((char *)(c) + (k)->off))
#define CFIELD(c, k, type) ((const type *)(const void *)((const char *)(c) + (k)->off))

static void errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	if (!err || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* ---- small containers ---- */

static int strlist_push(struct wg_strlist *l, const char *s)
{
	char *d = strdup(s);
	char **v;
	if (!d)
		return -ENOMEM;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(d);
		return -ENOMEM;
	}
	v[l->n++] = d;
	l->v = v;
	return 0;
}

static void strlist_clear(struct wg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Append one element of size sz to the array *arr of *n elements. */
static int array_push(void **arr, size_t *n, const void *elem, size_t sz)
{
	char *a = realloc(*arr, (*n + 1) * sz);
	if (!a)
		return -ENOMEM;
	memcpy(a + *n * sz, elem, sz);
	*arr = a;
	(*n)++;
	return 0;
}

static int set_str(char **dst, const char *s)
{
	char *d = NULL;
	if (s && !(d = strdup(s)))
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

/* ---- value parsers: 0 or -EINVAL with the reason in err ---- */

static int parse_u64(const char *s, uint64_t *out, const char **rest, char *err, size_t cap)
{
	const char *p = s;
	uint64_t v = 0;
	if (*p == '-') {
		errf(err, cap, "'%s': negative values are not allowed", s);
		return -EINVAL;
	}
	if (*p == '+')
		p++;
	if (!isdigit((unsigned char)*p)) {
		errf(err, cap, "'%s' is not a whole number", s);
		return -EINVAL;
	}
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10) {
			errf(err, cap, "'%s' is too large", s);
			return -EINVAL;
		}
		v = v * 10 + d;
	}
	*out = v;
	*rest = p;
	return 0;
}

static int parse_u32(const char *s, const struct key *k, uint32_t *out, char *err, size_t cap)
{
	uint64_t v;
	const char *rest;
	int rc = parse_u64(s, &v, &rest, err, cap);
	if (rc < 0)
		return rc;
	if (*rest) {
		errf(err, cap, "'%s' is not a whole number", s);
		return -EINVAL;
	}
	if (v > k->max) {
		errf(err, cap, "'%s' is too large (at most %" PRIu64 ")", s, k->max);
		return -EINVAL;
	}
	if (v < k->min) {
		errf(err, cap, "'%s' is too small (at least %" PRIu64 ")", s, k->min);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

/* "32M", "65536", "1g", "512kB": binary multiples. */
static int parse_bytes(const char *s, const struct key *k, uint64_t *out, char *err, size_t cap)
{
	uint64_t v, mult = 1;
	const char *rest;
	int rc = parse_u64(s, &v, &rest, err, cap);
	if (rc < 0)
		return rc;
	switch (*rest) {
	case 'k': case 'K': mult = UINT64_C(1) << 10; rest++; break;
	case 'm': case 'M': mult = UINT64_C(1) << 20; rest++; break;
	case 'g': case 'G': mult = UINT64_C(1) << 30; rest++; break;
	default: break;
	}
	if (*rest == 'b' || *rest == 'B')
		rest++;
	if (*rest) {
		errf(err, cap, "'%s' is not a size (a number with an optional k, M or G suffix)", s);
		return -EINVAL;
	}
	if (v > k->max / mult) {
		errf(err, cap, "'%s' is too large (at most %" PRIu64 "G)", s, k->max >> 30);
		return -EINVAL;
	}
	v *= mult;
	if (v < k->min) {
		errf(err, cap, "'%s' is too small (at least %" PRIu64 "k)", s, k->min >> 10);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int *out, char *err, size_t cap)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	errf(err, cap, "'%s' is not a boolean (yes/no, true/false, on/off, 1/0)", s);
	return -EINVAL;
}

/* A host name or suffix: labels of 1..63 letters, digits, '-' or '_',
 * at most 253 bytes, an optional "*." in front and trailing dot.
 * Stored lower case without the trailing dot. */
static int check_name(char *s, char *err, size_t cap)
{
	size_t len = strlen(s), label = 0;
	char *p = s;
	if (len > 1 && s[len - 1] == '.')
		s[--len] = 0;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	if (len == 0 || len > 253 || !*p)
		goto bad;
	for (; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				goto bad;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			goto bad;
		if (++label > 63)
			goto bad;
		*p = (char)tolower((unsigned char)*p);
	}
	if (label == 0)
		goto bad;
	return 0;
bad:
	errf(err, cap, "'%s' is not a domain name", s);
	return -EINVAL;
}

static int check_word(const char *s, char *err, size_t cap)
{
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
			errf(err, cap, "'%s' is not a group name (letters, digits, '-', '_')", s);
			return -EINVAL;
		}
	return 0;
}

int wg_config_public_item(const char *s, struct wg_addr *a)
{
	if (strcmp(s, "none") == 0)
		return WG_PUBLIC_ITEM_NONE;
	if (strncmp(s, "sdns://", 7) == 0) {
		const char *p = s + 7;
		if (!*p)
			return -EINVAL;
		for (; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
				return -EINVAL;
		return WG_PUBLIC_ITEM_STAMP;
	}
	return wg_addr_parse(s, 53, a) < 0 ? -EINVAL : WG_PUBLIC_ITEM_PLAIN;
}

/* ADDR[:PORT] is normalised to ADDR:PORT; a stamp is kept as it is (it is
 * decoded by guardsets.c, which says which one of the list is bad). */
static int parse_public(const char *s, char *out, size_t outcap, char *err, size_t cap)
{
	struct wg_addr a;
	int kind = wg_config_public_item(s, &a);
	if (kind < 0) {
		errf(err, cap,
		     "'%s' is neither ADDR[:PORT] (IPv6 as [::1]:53), an sdns:// stamp nor none", s);
		return -EINVAL;
	}
	if (kind == WG_PUBLIC_ITEM_PLAIN)
		wg_addr_format(&a, out, outcap);
	else
		snprintf(out, outcap, "%s", s);
	return 0;
}

/* ---- keys ---- */

static const struct key *key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strcmp(sections[i], section) == 0)
			return true;
	return false;
}

static bool is_list(const struct key *k)
{
	switch (k->kind) {
	case K_ADDRS: case K_CIDRS: case K_PUBLIC: case K_CIDRSTRS: case K_NAMES: case K_WORDS:
		return true;
	default:
		return false;
	}
}

static void key_clear(struct wg_config *c, const struct key *k)
{
	switch (k->kind) {
	case K_ADDRS:
	case K_CIDRS:
		free(*FIELD(c, k, void *));
		*FIELD(c, k, void *) = NULL;
		*(size_t *)(void *)((char *)c + k->off_n) = 0;
		break;
	case K_PUBLIC: case K_CIDRSTRS: case K_NAMES: case K_WORDS:
		strlist_clear(FIELD(c, k, struct wg_strlist));
		break;
	default:
		break;
	}
}

/* Append one item of a list value. */
static int list_add(struct wg_config *c, const struct key *k, char *item, char *err, size_t cap)
{
	size_t *n = (size_t *)(void *)((char *)c + k->off_n);
	struct wg_strlist *l = FIELD(c, k, struct wg_strlist);
	char buf[512];
	int rc;

	switch (k->kind) {
	case K_ADDRS: {
		struct wg_addr a;
		if (wg_addr_parse(item, (uint16_t)k->min, &a) < 0) {
			if (k->min)
				errf(err, cap, "'%s' is not ADDR[:PORT] (IPv6 as [::1]:%u)", item,
				     (unsigned)k->min);
			else
				errf(err, cap, "'%s' is not ADDR:PORT (IPv6 as [::1]:5353)", item);
			return -EINVAL;
		}
		return array_push(FIELD(c, k, void *), n, &a, sizeof(a));
	}
	case K_CIDRS: {
		struct wg_cidr r;
		if (wg_cidr_parse(item, &r) < 0) {
			errf(err, cap, "'%s' is not an address or ADDR/PREFIX", item);
			return -EINVAL;
		}
		return array_push(FIELD(c, k, void *), n, &r, sizeof(r));
	}
	case K_CIDRSTRS: {
		struct wg_cidr r;
		if (wg_cidr_parse(item, &r) < 0) {
			errf(err, cap, "'%s' is not an address or ADDR/PREFIX", item);
			return -EINVAL;
		}
		return strlist_push(l, item);
	}
	case K_PUBLIC:
		if ((rc = parse_public(item, buf, sizeof(buf), err, cap)) < 0)
			return rc;
		return strlist_push(l, buf);
	case K_NAMES:
		if ((rc = check_name(item, err, cap)) < 0)
			return rc;
		return strlist_push(l, item);
	case K_WORDS:
		if ((rc = check_word(item, err, cap)) < 0)
			return rc;
		return strlist_push(l, item);
	default:
		return -EINVAL;
	}
}

/* Set a known key; the reason (without the key name) goes to err. */
static int key_set(struct wg_config *c, const struct key *k, const char *value, char *err,
		   size_t cap)
{
	int rc = 0, v;

	if (is_list(k)) {
		/* Items separated by blanks or commas; an empty value empties the list. */
		char *copy = strdup(value), *save = NULL, *tok;
		if (!copy)
			return -ENOMEM;
		if (strspn(copy, " \t,") == strlen(copy))
			key_clear(c, k);
		for (tok = strtok_r(copy, " \t,", &save); tok && rc == 0;
		     tok = strtok_r(NULL, " \t,", &save))
			rc = list_add(c, k, tok, err, cap);
		free(copy);
		return rc;
	}
	switch (k->kind) {
	case K_STR:
		if (!*value && k->min) {
			errf(err, cap, "must not be empty");
			return -EINVAL;
		}
		if (k->max && strlen(value) > k->max) {
			errf(err, cap, "longer than %llu bytes", (unsigned long long)k->max);
			return -EINVAL;
		}
		return set_str(FIELD(c, k, char *), *value ? value : NULL);
	case K_U32:
		return parse_u32(value, k, FIELD(c, k, uint32_t), err, cap);
	case K_BYTES:
		return parse_bytes(value, k, FIELD(c, k, uint64_t), err, cap);
	case K_BOOL:
		return parse_bool(value, FIELD(c, k, int), err, cap);
	case K_LOGLEVEL:
		if ((v = wg_log_level_parse(value)) < 0) {
			errf(err, cap, "'%s' is not a log level (error, warning, info, debug)", value);
			return -EINVAL;
		}
		*FIELD(c, k, int) = v;
		return 0;
	case K_MODE:
		if (strcasecmp(value, "repair") == 0)
			*FIELD(c, k, enum wg_mode) = WG_MODE_REPAIR;
		else if (strcasecmp(value, "monitor") == 0)
			*FIELD(c, k, enum wg_mode) = WG_MODE_MONITOR;
		else {
			errf(err, cap, "'%s' is not a mode (repair, monitor)", value);
			return -EINVAL;
		}
		return 0;
	case K_PRIVACY:
		if (strcasecmp(value, "full") == 0)
			*FIELD(c, k, enum wg_client_privacy) = WG_CLIENT_FULL;
		else if (strcasecmp(value, "truncate") == 0)
			*FIELD(c, k, enum wg_client_privacy) = WG_CLIENT_TRUNCATE;
		else if (strcasecmp(value, "omit") == 0)
			*FIELD(c, k, enum wg_client_privacy) = WG_CLIENT_OMIT;
		else {
			errf(err, cap, "'%s' is not one of full, truncate, omit", value);
			return -EINVAL;
		}
		return 0;
	case K_EVENTS:
		if (wg_events_target_check(value) < 0) {
			errf(err, cap, "'%s' is not none, syslog, syslog:/SOCKET or file:/PATH", value);
			return -EINVAL;
		}
		return set_str(FIELD(c, k, char *), strcmp(value, "none") ? value : NULL);
	case K_FACILITY:
		for (size_t i = 0; i < NFACILITIES; i++)
			if (strcasecmp(value, facilities[i].name) == 0) {
				*FIELD(c, k, int) = facilities[i].value;
				return 0;
			}
		errf(err, cap, "'%s' is not a facility (daemon, user, local0 .. local7)", value);
		return -EINVAL;
	default:
		return -EINVAL;
	}
}

/* ---- plugins ---- */

static bool plugin_name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
	return true;
}

/* The [plugin:NAME] entry, created when missing. NULL on -ENOMEM. */
static struct wg_plugin_conf *plugin_get(struct wg_config *c, const char *name, unsigned line)
{
	struct wg_plugin_conf p, *arr;
	for (size_t i = 0; i < c->n_plugins; i++)
		if (strcmp(c->plugins[i].name, name) == 0)
			return &c->plugins[i];
	memset(&p, 0, sizeof(p));
	if (!(p.name = strdup(name)))
		return NULL;
	p.line = line;
	arr = realloc(c->plugins, (c->n_plugins + 1) * sizeof(*arr));
	if (!arr) {
		free(p.name);
		return NULL;
	}
	arr[c->n_plugins] = p;
	c->plugins = arr;
	return &c->plugins[c->n_plugins++];
}

static void plugin_free(struct wg_plugin_conf *p)
{
	free(p->name);
	free(p->path);
	strlist_clear(&p->keys);
	strlist_clear(&p->values);
}

static int plugin_set(struct wg_config *c, const char *name, const char *key, const char *value,
		      char *err, size_t cap)
{
	struct wg_plugin_conf *p;
	int rc;
	if (!plugin_name_ok(name)) {
		errf(err, cap, "bad plugin name '%s' (letters, digits, '-', '_')", name);
		return -EINVAL;
	}
	if (!(p = plugin_get(c, name, 0)))
		return -ENOMEM;
	if (strcmp(key, "path") == 0) {
		if (!*value) {
			errf(err, cap, "path: must not be empty");
			return -EINVAL;
		}
		return set_str(&p->path, value);
	}
	if ((rc = strlist_push(&p->keys, key)) < 0)
		return rc;
	if ((rc = strlist_push(&p->values, value)) < 0) {
		free(p->keys.v[--p->keys.n]);
		return rc;
	}
	return 0;
}

/* ---- public API ---- */

int wg_config_defaults(struct wg_config *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = WG_LOG_INFO;
	c->mode = WG_MODE_REPAIR;
	c->tcp_idle_ms = 10000;
	c->plugin_timeout_ms = 30000;
	c->tcp_max_clients = 256;
	c->tcp_per_client = 32;
	c->max_inflight = 4096;

	c->timeout_ms = 1000;
	c->retries = 2;
	c->public_timeout_ms = 1500;

	c->cache_entries = 10000;
	c->cache_bytes = UINT64_C(32) << 20;
	c->min_ttl = 0;
	c->caps = 1;
	c->max_ttl = 86400;
	c->neg_max_ttl = 3600;
	c->servfail_ttl = 5;
	c->serve_stale = 1;
	c->stale_ttl = 30;
	c->stale_max_age = 86400;
	c->stale_client_ms = 1800;
	c->prefetch = 1;
	c->prefetch_min_hits = 3;

	c->public_wait_ms = 1500;
	c->repair_ttl = 300;
	c->repair_ede = 1;

	c->client_privacy = WG_CLIENT_FULL;
	c->retention_days = 90;
	c->max_db_mb = 256;
	c->aggregate_s = 300;
	c->queue_size = 4096;
	c->facility = LOG_DAEMON;

	c->domains_file = strdup(WG_DATADIR "/wu-domains.list");
	c->db_path = strdup(WG_LOCALSTATEDIR "/lib/wuguard/wuguard.db");
	c->control_socket = strdup(WG_CONTROL_SOCKET_DEFAULT);
	c->resolv_conf = strdup("/etc/resolv.conf");
	c->key_line = calloc(NKEYS, sizeof(*c->key_line));
	if (!c->domains_file || !c->db_path || !c->control_socket || !c->resolv_conf ||
	    !c->key_line) {
		wg_config_free(c);
		return -ENOMEM;
	}
	return 0;
}

void wg_config_free(struct wg_config *c)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		if (is_list(k))
			key_clear(c, k);
		else if (k->kind == K_STR || k->kind == K_EVENTS)
			set_str(FIELD(c, k, char *), NULL);
	}
	for (size_t i = 0; i < c->n_plugins; i++)
		plugin_free(&c->plugins[i]);
	free(c->plugins);
	free(c->source);
	free(c->key_line);
	memset(c, 0, sizeof(*c));
}

/* As wg_config_set, and the key's table index in *idx (-1 for plugins). */
static int config_set(struct wg_config *c, const char *section, const char *key,
		      const char *value, char *err, size_t cap, long *idx)
{
	const struct key *k;
	char reason[512];
	int rc;

	*idx = -1;
	if (strncmp(section, "plugin:", 7) == 0)
		return plugin_set(c, section + 7, key, value, err, cap);
	if (!*section) {
		errf(err, cap, "key '%s' outside any section", key);
		return -ENOENT;
	}
	if (!section_known(section)) {
		errf(err, cap, "unknown section [%s]", section);
		return -ENOENT;
	}
	if (!(k = key_find(section, key))) {
		errf(err, cap, "unknown key '%s' in [%s]", key, section);
		return -ENOENT;
	}
	*idx = k - keys;
	reason[0] = 0;
	rc = key_set(c, k, value, reason, sizeof(reason));
	if (rc == -ENOMEM)
		errf(err, cap, "%s: out of memory", key);
	else if (rc < 0)
		errf(err, cap, "%s: %s", key, reason);
	return rc;
}

int wg_config_set(struct wg_config *c, const char *section, const char *key, const char *value,
		  char *err, size_t errcap)
{
	long idx;
	return config_set(c, section, key, value, err, errcap, &idx);
}

int wg_config_apply_overrides(struct wg_config *c, const struct wg_override *ov, size_t n,
			      char *err, size_t errcap)
{
	bool cleared[NKEYS] = {false};
	char reason[600];

	for (size_t i = 0; i < n; i++) {
		const struct key *k = key_find(ov[i].section, ov[i].key);
		long idx;
		int rc;
		if (k && is_list(k) && !cleared[k - keys]) {
			key_clear(c, k);
			cleared[k - keys] = true;
		}
		reason[0] = 0;
		rc = config_set(c, ov[i].section, ov[i].key, ov[i].value, reason, sizeof(reason),
				&idx);
		if (rc < 0) {
			errf(err, errcap, "command line: %s", reason);
			return rc;
		}
		if (idx >= 0 && c->key_line)
			c->key_line[idx] = 0;
	}
	return 0;
}

/* ---- loading ---- */

struct parse_ctx {
	struct wg_config *c;
	FILE *f;
	const char *path;
	unsigned line;  /* the line last handed to inih, 1-based */
	char *buf;      /* owned: getline buffer */
	size_t bufcap;
	char *stash;    /* owned: the value of an over-long line */
	int rc;         /* first error, 0: none */
	char *err;      /* borrowed: caller's buffer */
	size_t errcap;
};

static void ctx_fail(struct parse_ctx *x, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void ctx_fail(struct parse_ctx *x, int rc, const char *fmt, ...)
{
	char reason[600];
	va_list ap;
	if (x->rc)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	x->rc = rc;
	errf(x->err, x->errcap, "%s:%u: %s", x->path, x->line, reason);
}

static char *rtrim(char *s)
{
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

/* inih's inline comment: ';' at the start or after whitespace. */
static void cut_comment(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == ';' && (p == s || isspace((unsigned char)p[-1]))) {
			*p = 0;
			break;
		}
}

/* A section header line: check it, register plugins. 0 or -errno. */
static int reader_section(struct parse_ctx *x, char *s)
{
	char *end = strchr(s, ']'), *rest;
	if (!end) {
		ctx_fail(x, -EINVAL, "section header without ']'");
		return x->rc;
	}
	*end = 0;
	rest = end + 1;
	while (isspace((unsigned char)*rest))
		rest++;
	if (*rest && *rest != ';' && *rest != '#') {
		ctx_fail(x, -EINVAL, "unexpected text after ']'");
		return x->rc;
	}
	s++;
	if (strlen(s) >= 50) { /* inih's section buffer */
		ctx_fail(x, -EINVAL, "section name too long");
		return x->rc;
	}
	if (strncmp(s, "plugin:", 7) == 0) {
		if (!plugin_name_ok(s + 7)) {
			ctx_fail(x, -EINVAL, "bad plugin name '%s' (letters, digits, '-', '_')",
				 s + 7);
			return x->rc;
		}
		if (!plugin_get(x->c, s + 7, x->line)) {
			ctx_fail(x, -ENOMEM, "out of memory");
			return x->rc;
		}
	} else if (!section_known(s)) {
		ctx_fail(x, -ENOENT, "unknown section [%s]", s);
		return x->rc;
	}
	end[0] = ']';
	end[1] = 0;
	return 0;
}

static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *x = stream;
	ssize_t n;
	char *s, *eq;
	size_t len;

	if (x->rc)
		return NULL;
	n = getline(&x->buf, &x->bufcap, x->f);
	if (n < 0)
		return NULL;
	x->line++;
	s = x->buf;
	if ((size_t)n != strlen(s)) {
		ctx_fail(x, -EINVAL, "NUL byte in line");
		return NULL;
	}
	if (x->line == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3; /* UTF-8 byte order mark */
	while (isspace((unsigned char)*s))
		s++; /* no continuation lines: an indented key is a key */
	rtrim(s);
	if (!*s || *s == '#' || *s == ';') {
		str[0] = 0;
		return str;
	}
	if (*s == '[') {
		if (reader_section(x, s) < 0)
			return NULL;
	} else {
		eq = s + strcspn(s, "=:");
		if (!*eq) {
			ctx_fail(x, -EINVAL, "expected 'key = value' or '[section]'");
			return NULL;
		}
		if (eq == s) {
			ctx_fail(x, -EINVAL, "missing key name before '%c'", *eq);
			return NULL;
		}
		/* a ';' that starts the value starts a comment, as one after
		 * a blank does: "key=;x" means "key = ;x", and what
		 * wg_config_dump writes ("key = value") loads back the same */
		char *v = eq + 1;
		while (isspace((unsigned char)*v))
			v++;
		if (*v == ';')
			*v = 0;
	}
	len = strlen(s);
	if (len + 3 <= (size_t)num) { /* room for inih's '\n' and NUL */
		memcpy(str, s, len + 1);
		return str;
	}
	/* Too long for inih's buffer: pass "key=\1" and keep the value. The
	 * short form is the shortest a line with that key can be ("key=" when
	 * the value is empty), so whether a line fits depends on its key
	 * alone, never on its blanks or its value: what wg_config_dump writes
	 * ("key = value") loads whenever the file it came from did. */
	if (*s == '[') {
		ctx_fail(x, -EINVAL, "line too long");
		return NULL;
	}
	eq = s + strcspn(s, "=:");
	*eq = 0;
	rtrim(s);
	eq++;
	while (isspace((unsigned char)*eq))
		eq++;
	cut_comment(eq);
	rtrim(eq);
	if (strlen(s) + (*eq ? 2 : 1) + 3 > (size_t)num) {
		ctx_fail(x, -EINVAL, "line too long (a key name of %zu bytes)", strlen(s));
		return NULL;
	}
	if (!*eq) {
		snprintf(str, (size_t)num, "%s=", s);
		return str;
	}
	free(x->stash);
	if (!(x->stash = strdup(eq))) {
		ctx_fail(x, -ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(str, (size_t)num, "%s=%s", s, LONG_VALUE_MARK);
	return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *x = user;
	char reason[600];
	long idx;
	int rc;

	if (x->rc)
		return 0;
	if (strcmp(value, LONG_VALUE_MARK) == 0 && x->stash)
		value = x->stash;
	reason[0] = 0;
	rc = config_set(x->c, section, name, value, reason, sizeof(reason), &idx);
	if (rc < 0) {
		ctx_fail(x, rc, "%s", reason);
		return 0;
	}
	if (idx >= 0 && x->c->key_line)
		x->c->key_line[idx] = x->line;
	return 1;
}

int wg_config_load(struct wg_config *c, const char *path, char *err, size_t errcap)
{
	struct parse_ctx x;
	int r, rc;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.path = path;
	x.err = err;
	x.errcap = errcap;
	/* the file sets the upstreams, the pidfile written as root and the
	 * plugin paths: only root (or the user running us) may have written
	 * it, or the directories above it (safefile.h) */
	int fd = wg_safefile_open(path, (uid_t)-1, err, errcap);
	if (fd < 0)
		return fd;
	if (!(x.f = fdopen(fd, "r"))) {
		rc = -errno;
		errf(err, errcap, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if ((rc = set_str(&c->source, path)) < 0) {
		fclose(x.f);
		errf(err, errcap, "%s: out of memory", path);
		return rc;
	}
	r = ini_parse_stream(reader, &x, handler, &x);
	if (!x.rc && ferror(x.f)) {
		rc = -EIO;
		errf(err, errcap, "%s: read error after line %u", path, x.line);
	} else if (x.rc) {
		rc = x.rc;
	} else if (r == -2) {
		rc = -ENOMEM;
		errf(err, errcap, "%s: out of memory", path);
	} else if (r != 0) {
		rc = -EINVAL; /* inih saw something our reader let through */
		errf(err, errcap, "%s:%d: syntax error", path, r);
	} else {
		rc = 0;
	}
	fclose(x.f);
	free(x.buf);
	free(x.stash);
	return rc;
}

/* ---- finalize ---- */

/* "FILE:LINE: " for the key if the file set it, else "". */
static const char *where(const struct wg_config *c, const char *name, char *buf, size_t cap)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0 && c->key_line && c->key_line[i] && c->source) {
			snprintf(buf, cap, "%s:%u: ", c->source, c->key_line[i]);
			return buf;
		}
	buf[0] = 0;
	return buf;
}

/* The location of whichever of keys a and b the file set last. */
static const char *where2(const struct wg_config *c, const char *a, const char *b, char *buf,
			  size_t cap)
{
	unsigned la = 0, lb = 0;
	for (size_t i = 0; c->key_line && i < NKEYS; i++) {
		if (strcmp(keys[i].name, a) == 0)
			la = c->key_line[i];
		if (strcmp(keys[i].name, b) == 0)
			lb = c->key_line[i];
	}
	return where(c, lb > la ? b : a, buf, cap);
}

static const uint8_t *addr_bytes(const struct wg_addr *a, int *family)
{
	*family = a->ss.ss_family;
	if (*family == AF_INET)
		return (const uint8_t *)&((const struct sockaddr_in *)(const void *)&a->ss)->sin_addr;
	return (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_addr;
}

static bool addr_is_wildcard(const struct wg_addr *a)
{
	static const uint8_t zero[16];
	int fam;
	const uint8_t *b = addr_bytes(a, &fam);
	return memcmp(b, zero, fam == AF_INET ? 4 : 16) == 0;
}

static bool addr_is_loopback(const struct wg_addr *a)
{
	static const uint8_t v6lo[16] = {[15] = 1};
	static const uint8_t v4mapped[12] = {[10] = 0xff, [11] = 0xff};
	int fam;
	const uint8_t *b = addr_bytes(a, &fam);
	if (fam == AF_INET)
		return b[0] == 127;
	return memcmp(b, v6lo, 16) == 0 || (memcmp(b, v4mapped, 12) == 0 && b[12] == 127);
}

static bool addr_is_local_if(const struct wg_addr *a, const struct ifaddrs *ifs)
{
	int fam;
	const uint8_t *b = addr_bytes(a, &fam);
	for (const struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != fam)
			continue;
		if (fam == AF_INET &&
		    memcmp(&((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr, b, 4) == 0)
			return true;
		if (fam == AF_INET6 &&
		    memcmp(&((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr, b,
			   16) == 0)
			return true;
	}
	return false;
}

/* Loop guard: would a query to ns come back to one of our listeners?
 * Same address and port; or we listen on a wildcard address on ns's port
 * and ns is a loopback or local interface address. [::] counts for IPv4
 * too when it is dual-stack (wg_addr_listen_dual), since it then receives
 * IPv4 as well. */
static bool is_self(const struct wg_config *c, const struct wg_addr *ns, const struct ifaddrs *ifs)
{
	for (size_t i = 0; i < c->n_listen; i++) {
		const struct wg_addr *l = &c->listen[i];
		if (wg_addr_equal(l, ns))
			return true;
		if (wg_addr_port(l) != wg_addr_port(ns) || !addr_is_wildcard(l))
			continue;
		if (l->ss.ss_family == AF_INET && ns->ss.ss_family != AF_INET)
			continue;
		if (ns->ss.ss_family == AF_INET && !wg_addr_listen_dual(c->listen, c->n_listen, i) &&
		    l->ss.ss_family != AF_INET)
			continue; /* an IPv6-only [::]: IPv4 goes to another socket */
		if (addr_is_loopback(ns) || addr_is_local_if(ns, ifs))
			return true;
	}
	return false;
}

static int add_default_listen(struct wg_config *c)
{
	uint16_t port = geteuid() == 0 ? 53 : 5353;
	const char *hosts[] = {"127.0.0.1", "::1"};
	for (size_t i = 0; i < 2; i++) {
		struct wg_addr a;
		if (wg_addr_parse(hosts[i], port, &a) < 0)
			return -EINVAL;
		if (array_push((void **)&c->listen, &c->n_listen, &a, sizeof(a)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Local upstreams from resolv.conf's nameserver lines, minus ourselves. */
static int locals_from_resolv(struct wg_config *c, char *err, size_t cap)
{
	const char *path = c->resolv_conf ? c->resolv_conf : "/etc/resolv.conf";
	static const char *const hint = "no local upstream: set [upstream] local or --local";
	struct ifaddrs *ifs = NULL;
	char *line = NULL;
	size_t linecap = 0;
	unsigned found = 0;
	int rc = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		errf(err, cap, "%s (cannot read %s: %s)", hint, path, strerror(errno));
		return -EINVAL;
	}
	if (getifaddrs(&ifs) < 0)
		ifs = NULL; /* then only loopback counts as local */
	while (rc == 0 && getline(&line, &linecap, f) >= 0) {
		char *save = NULL, *word = strtok_r(line, " \t\r\n", &save), *addr;
		struct wg_addr a;
		bool dup = false;
		if (!word || strcmp(word, "nameserver") != 0)
			continue;
		if (!(addr = strtok_r(NULL, " \t\r\n", &save)))
			continue;
		addr[strcspn(addr, "%")] = 0; /* IPv6 scope id */
		if (wg_addr_parse(addr, 53, &a) < 0)
			continue;
		found++;
		if (is_self(c, &a, ifs))
			continue;
		for (size_t i = 0; i < c->n_local; i++)
			dup = dup || wg_addr_equal(&c->local[i], &a);
		if (!dup && array_push((void **)&c->local, &c->n_local, &a, sizeof(a)) < 0)
			rc = -ENOMEM;
	}
	free(line);
	fclose(f);
	if (ifs)
		freeifaddrs(ifs);
	if (rc < 0) {
		errf(err, cap, "out of memory");
		return rc;
	}
	if (c->n_local == 0) {
		if (found)
			errf(err, cap, "%s (every nameserver in %s is wuguard's own listen address)",
			     hint, path);
		else
			errf(err, cap, "%s (%s lists no nameserver)", hint, path);
		return -EINVAL;
	}
	return 0;
}

int wg_config_finalize(struct wg_config *c, char *err, size_t errcap)
{
	char loc[300];
	int rc;

	if (c->n_listen == 0 && (rc = add_default_listen(c)) < 0) {
		errf(err, errcap, "out of memory");
		return rc;
	}
	for (size_t i = 0; i < c->n_listen; i++)
		for (size_t j = i + 1; j < c->n_listen; j++)
			if (wg_addr_equal(&c->listen[i], &c->listen[j])) {
				char a[80];
				wg_addr_format(&c->listen[i], a, sizeof(a));
				errf(err, errcap, "%slisten address %s given twice",
				     where(c, "listen", loc, sizeof(loc)), a);
				return -EINVAL;
			}
	if (c->min_ttl > c->max_ttl) {
		errf(err, errcap, "%smin-ttl (%" PRIu32 ") is greater than max-ttl (%" PRIu32 ")",
		     where2(c, "min-ttl", "max-ttl", loc, sizeof(loc)), c->min_ttl, c->max_ttl);
		return -EINVAL;
	}
	if (c->serve_stale && c->stale_ttl > c->stale_max_age) {
		errf(err, errcap,
		     "%sstale-ttl (%" PRIu32 ") is greater than stale-max-age (%" PRIu32 ")",
		     where2(c, "stale-ttl", "stale-max-age", loc, sizeof(loc)), c->stale_ttl,
		     c->stale_max_age);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_plugins; i++)
		if (!c->plugins[i].path) {
			if (c->source && c->plugins[i].line)
				snprintf(loc, sizeof(loc), "%s:%u: ", c->source, c->plugins[i].line);
			else
				loc[0] = 0;
			errf(err, errcap, "%s[plugin:%s] has no path", loc, c->plugins[i].name);
			return -EINVAL;
		}
	if (c->n_local == 0)
		return locals_from_resolv(c, err, errcap);
	return 0;
}

/* ---- dump ---- */

static void dump_bytes(FILE *out, uint64_t v)
{
	if (v && v % (UINT64_C(1) << 30) == 0)
		fprintf(out, "%" PRIu64 "G\n", v >> 30);
	else if (v && v % (UINT64_C(1) << 20) == 0)
		fprintf(out, "%" PRIu64 "M\n", v >> 20);
	else if (v && v % (UINT64_C(1) << 10) == 0)
		fprintf(out, "%" PRIu64 "k\n", v >> 10);
	else
		fprintf(out, "%" PRIu64 "\n", v);
}

static void dump_key(const struct wg_config *c, const struct key *k, FILE *out)
{
	static const char *const levels[] = {"error", "warning", "info", "debug"};
	static const char *const privacy[] = {"full", "truncate", "omit"};
	size_t n = k->off_n ? *(const size_t *)(const void *)((const char *)c + k->off_n) : 0;
	char buf[128];
	int lvl;

	switch (k->kind) {
	case K_ADDRS:
		if (n == 0)
			fprintf(out, "%s =\n", k->name);
		for (size_t i = 0; i < n; i++) {
			wg_addr_format(&(*CFIELD(c, k, struct wg_addr *))[i], buf, sizeof(buf));
			fprintf(out, "%s = %s\n", k->name, buf);
		}
		break;
	case K_CIDRS:
		if (n == 0)
			fprintf(out, "%s =\n", k->name);
		for (size_t i = 0; i < n; i++) {
			const struct wg_cidr *r = &(*CFIELD(c, k, struct wg_cidr *))[i];
			char h[INET6_ADDRSTRLEN];
			inet_ntop(r->family, r->addr, h, sizeof(h));
			fprintf(out, "%s = %s/%u\n", k->name, h, r->prefix);
		}
		break;
	case K_PUBLIC: case K_CIDRSTRS: case K_NAMES: case K_WORDS: {
		const struct wg_strlist *l = CFIELD(c, k, struct wg_strlist);
		if (l->n == 0)
			fprintf(out, "%s =\n", k->name);
		for (size_t i = 0; i < l->n; i++)
			fprintf(out, "%s = %s\n", k->name, l->v[i]);
		break;
	}
	case K_STR: {
		const char *s = *CFIELD(c, k, char *);
		fprintf(out, "%s =%s%s\n", k->name, s ? " " : "", s ? s : "");
		break;
	}
	case K_U32:
		fprintf(out, "%s = %" PRIu32 "\n", k->name, *CFIELD(c, k, uint32_t));
		break;
	case K_BYTES:
		fprintf(out, "%s = ", k->name);
		dump_bytes(out, *CFIELD(c, k, uint64_t));
		break;
	case K_BOOL:
		fprintf(out, "%s = %s\n", k->name, *CFIELD(c, k, int) ? "yes" : "no");
		break;
	case K_LOGLEVEL:
		lvl = *CFIELD(c, k, int);
		fprintf(out, "%s = %s\n", k->name, levels[lvl < 0 ? 0 : lvl > 3 ? 3 : lvl]);
		break;
	case K_MODE:
		fprintf(out, "%s = %s\n", k->name,
			*CFIELD(c, k, enum wg_mode) == WG_MODE_MONITOR ? "monitor" : "repair");
		break;
	case K_PRIVACY:
		fprintf(out, "%s = %s\n", k->name, privacy[*CFIELD(c, k, enum wg_client_privacy) % 3]);
		break;
	case K_EVENTS: {
		const char *s = *CFIELD(c, k, char *);
		fprintf(out, "%s = %s\n", k->name, s ? s : "none");
		break;
	}
	case K_FACILITY:
		for (size_t i = 0; i < NFACILITIES; i++)
			if (facilities[i].value == *CFIELD(c, k, int))
				fprintf(out, "%s = %s\n", k->name, facilities[i].name);
		break;
	}
}

void wg_config_dump(const struct wg_config *c, FILE *out)
{
	fprintf(out, "# wuguard effective configuration%s%s\n", c->source ? " from " : "",
		c->source ? c->source : " (built-in defaults)");
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		fprintf(out, "\n[%s]\n", sections[s]);
		for (size_t i = 0; i < NKEYS; i++)
			if (strcmp(keys[i].section, sections[s]) == 0)
				dump_key(c, &keys[i], out);
	}
	for (size_t i = 0; i < c->n_plugins; i++) {
		const struct wg_plugin_conf *p = &c->plugins[i];
		fprintf(out, "\n[plugin:%s]\n", p->name);
		if (p->path)
			fprintf(out, "path = %s\n", p->path);
		for (size_t j = 0; j < p->keys.n; j++)
			fprintf(out, "%s = %s\n", p->keys.v[j], p->values.v[j]);
	}
}
