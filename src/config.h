/* config.h: the daemon's configuration, parsed once into an immutable struct.
 *
 * Reload builds a fresh struct and swaps it in only when it parsed and
 * validated completely, so a bad file never disturbs the running one. */
#ifndef WG_CONFIG_H
#define WG_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "netaddr.h"

enum wg_mode { WG_MODE_REPAIR = 0, WG_MODE_MONITOR = 1 };

#ifndef WG_LOCALSTATEDIR
#define WG_LOCALSTATEDIR "/usr/local/var"
#endif
/* the runtime directory, beside the pidfile's usual place */
#define WG_CONTROL_SOCKET_DEFAULT WG_LOCALSTATEDIR "/run/wuguard/control.sock"
enum wg_client_privacy { WG_CLIENT_FULL = 0, WG_CLIENT_TRUNCATE = 1, WG_CLIENT_OMIT = 2 };

struct wg_strlist {
	char **v; /* owned, each string owned */
	size_t n;
};

/* One [plugin:NAME] section. */
struct wg_plugin_conf {
	char *name;            /* owned: NAME from the section header */
	char *path;            /* owned: "path" key, the shared object */
	struct wg_strlist keys;   /* owned: every other key, in file order */
	struct wg_strlist values; /* owned: values parallel to keys */
	unsigned line;         /* line of the section header, 0: not from a file */
};

struct wg_config {
	/* [server] */
	struct wg_addr *listen;     /* owned array */
	size_t n_listen;
	char *user;                 /* owned, NULL: no privilege drop */
	int log_level;              /* enum wg_log_level */
	enum wg_mode mode;
	uint32_t tcp_idle_ms;       /* idle TCP client timeout */
	uint32_t plugin_timeout_ms; /* a plugin set's trial in a child, then killed */
	uint32_t tcp_max_clients;
	uint32_t tcp_per_client;    /* TCP connections per client address (IPv6: per /64) */
	uint32_t max_inflight;      /* query slots; beyond: SERVFAIL + counted */
	char *pidfile;              /* owned, NULL: none */
	char *identity;             /* owned, NULL: hostname.bind/id.server REFUSED */
	char *version;              /* owned, NULL: version.bind/version.server REFUSED */

	/* [upstream] */
	struct wg_addr *local;      /* owned array; empty before finalize: resolv.conf */
	size_t n_local;
	struct wg_strlist public_;  /* ADDR:PORT or sdns:// stamps, in failover order */
	uint32_t timeout_ms;        /* per try */
	uint32_t retries;           /* extra tries after the first, across servers */
	uint32_t public_timeout_ms;
	int caps;                   /* 0x20 case randomisation towards local upstreams */
	int client_subnet;          /* send the client's address as ECS to local upstreams */

	/* [cache] */
	uint32_t cache_entries;
	uint64_t cache_bytes;
	uint32_t min_ttl, max_ttl;
	uint32_t neg_max_ttl;       /* cap on RFC 2308 negative TTL */
	uint32_t servfail_ttl;      /* brief SERVFAIL caching */
	int serve_stale;            /* RFC 8767 */
	uint32_t stale_ttl;         /* TTL on a stale answer (RFC 8767: 30 s) */
	uint32_t stale_max_age;     /* how long past expiry an entry may be served */
	uint32_t stale_client_ms;   /* RFC 8767 client response timer, 0: off */
	int prefetch;
	uint32_t prefetch_min_hits;

	/* [acl] */
	struct wg_cidr *allow;      /* owned array; empty: the built-in private set */
	size_t n_allow;
	struct wg_cidr *deny;       /* owned array; checked before allow */
	size_t n_deny;

	/* [guard] */
	char *domains_file;         /* owned: the WU set file */
	struct wg_strlist domains_add, domains_remove;
	struct wg_strlist groups;   /* optional groups switched on */
	struct wg_strlist sanctioned_addr, sanctioned_name, sanctioned_block;
	struct wg_strlist sinkhole_addr, sinkhole_name, cdn_suffix;
	uint32_t public_wait_ms;    /* how long a suspicious local answer waits */
	uint32_t repair_ttl;        /* TTL cap on repaired answers */
	int repair_ede;             /* add EDE to repaired answers */

	/* [database] */
	char *db_path;              /* owned */
	enum wg_client_privacy client_privacy;
	uint32_t retention_days;
	uint32_t max_db_mb;
	uint32_t aggregate_s;       /* identical events within this window aggregate */
	uint32_t queue_size;        /* records waiting for the writer */
	struct wg_strlist hide_name;   /* never written: "name" or "*.name" */
	struct wg_cidr *hide_client;   /* owned array: never written for these clients */
	size_t n_hide_client;

	/* [log] */
	char *events;               /* owned: events target (events.h), NULL: none */
	char *site;                 /* owned: site label in every event, NULL: none */
	int facility;               /* syslog facility of the events, LOG_DAEMON */

	/* [control] */
	char *control_socket;       /* owned: the control socket's path, "none": off */

	/* [metrics] */
	struct wg_addr *metrics_listen; /* owned array; empty: no metrics endpoint */
	size_t n_metrics_listen;

	/* [plugin:NAME] sections, in file order */
	struct wg_plugin_conf *plugins; /* owned array */
	size_t n_plugins;

	char *source;               /* owned: the file it came from, NULL for defaults */
	char *resolv_conf;          /* owned: where default local upstreams come from */
	unsigned *key_line;         /* owned: per key of config.c's table, the file line
				     * that last set it (0: default or override), so
				     * finalize can name a line in cross-field errors */
};

/* One command-line override: replaces (for lists: the whole list of) the key. */
struct wg_override {
	const char *section; /* borrowed */
	const char *key;     /* borrowed */
	const char *value;   /* borrowed */
};

/* Fill c with the built-in defaults. Returns 0 or -ENOMEM. */
int wg_config_defaults(struct wg_config *c);

/* Parse path into c (which holds defaults). The file must pass
 * wg_safefile_open() with root or the running user as owner. On error
 * returns a negative errno (-ENOENT unknown section/key or missing file,
 * -EPERM a file or directory others could have written, -EINVAL bad value
 * or syntax, -ENOMEM) and writes "path:line: reason" (or "path: reason" when the file
 * cannot be opened) into err; c is then half-updated and should be freed. */
int wg_config_load(struct wg_config *c, const char *path, char *err, size_t errcap);

/* Set one key as the file would (lists append; an empty value empties a
 * list). Returns 0, -ENOENT for an unknown section/key, -EINVAL for a bad
 * value, -ENOMEM; the reason, starting with the key name, goes into err. */
int wg_config_set(struct wg_config *c, const char *section, const char *key,
		  const char *value, char *err, size_t errcap);

/* Apply command-line overrides: each list key named is emptied the first time
 * it appears, then appended to. Errors as wg_config_set, with err prefixed
 * "command line: ". */
int wg_config_apply_overrides(struct wg_config *c, const struct wg_override *ov, size_t n,
			      char *err, size_t errcap);

/* Derive what the user left unset: listen (127.0.0.1 and ::1, port 53 as root,
 * 5353 otherwise), local upstreams from resolv_conf minus our own listen
 * addresses (loop guard); cross-field checks (listen duplicates, min-ttl <=
 * max-ttl, stale-ttl <= stale-max-age, plugin path). Returns 0 or -EINVAL
 * (-ENOMEM) with the reason, "FILE:LINE: " first when a file line caused it. */
int wg_config_finalize(struct wg_config *c, char *err, size_t errcap);

/* Free everything c owns and zero it; safe on a zeroed or freed struct. */
void wg_config_free(struct wg_config *c);

/* Print the effective configuration in file syntax (wuguard -n -v). */
void wg_config_dump(const struct wg_config *c, FILE *out);

/* One [upstream] public item, as config parsing and guardsets.c both read
 * it: "none", an sdns:// stamp (base64url after the prefix; not decoded
 * here) or ADDR[:PORT] (into *a, port 53 by default). Returns the
 * WG_PUBLIC_ITEM_* kind or -EINVAL. */
enum { WG_PUBLIC_ITEM_NONE, WG_PUBLIC_ITEM_STAMP, WG_PUBLIC_ITEM_PLAIN };
int wg_config_public_item(const char *s, struct wg_addr *a);

#endif
