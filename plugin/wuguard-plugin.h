/* wuguard-plugin.h: the wuguard filter plugin ABI, version 1.
 *
 * A plugin is a shared object exporting one function, wuguard_plugin_entry,
 * that returns a table of hooks (struct wg_plugin_v1). The host checks the
 * table's abi_version and struct_size before it calls anything else, so a
 * plugin built against another ABI fails to load with a clear message
 * instead of crashing. Everything the plugin learns about a query it learns
 * through accessor functions in the host table (struct wg_host_api), never
 * through struct fields, so the host can change its internals freely.
 *
 * Hooks run on the daemon's event loop thread, one query at a time: they
 * must not block (no network, no disk) and need no locking.
 *
 * The guard wins: a verdict other than WG_PV_CONTINUE on a Windows Update
 * name (or on an answer whose CNAME chain starts at one) is not applied;
 * the host records it as a "local-policy" discrepancy naming the plugin and
 * the entry it reported with set_reason(). Plugins need not know the WU set.
 *
 * This header includes only standard headers; see wuguard-plugin(3). */
#ifndef WUGUARD_PLUGIN_H
#define WUGUARD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WG_PLUGIN_ABI_VERSION 1u
#define WG_PLUGIN_ENTRY_SYMBOL "wuguard_plugin_entry"

#if defined(__GNUC__)
#define WG_PLUGIN_EXPORT __attribute__((visibility("default")))
#define WG_PLUGIN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define WG_PLUGIN_EXPORT
#define WG_PLUGIN_PRINTF(a, b)
#endif

/* What a hook returns. */
enum wg_plugin_verdict_code {
	WG_PV_CONTINUE = 0,       /* no opinion: the next plugin runs */
	WG_PV_BLOCK_NULL = 1,     /* A 0.0.0.0 / AAAA ::, NODATA for other types; EDE 15 */
	WG_PV_BLOCK_NXDOMAIN = 2, /* NXDOMAIN with a synthetic SOA; EDE 15 */
	WG_PV_BLOCK_NODATA = 3,   /* NOERROR, no answer, synthetic SOA; EDE 15 */
	WG_PV_BLOCK_REFUSED = 4,  /* REFUSED; EDE 15 */
	WG_PV_ANSWER = 5,         /* local data given with set_answer_addr() */
	WG_PV_DROP = 6,           /* send nothing */
	WG_PV_REFUSE = 7,         /* REFUSED by policy; EDE 18 (Prohibited) */
};
#define WG_PV_MAX WG_PV_REFUSE

/* Log levels, most severe first. */
enum wg_plugin_log_level {
	WG_PLUGIN_LOG_ERR = 0,
	WG_PLUGIN_LOG_WARN = 1,
	WG_PLUGIN_LOG_INFO = 2,
	WG_PLUGIN_LOG_DEBUG = 3,
};

/* The per-query context: opaque, reached only through the host's accessors.
 * The same context reaches pre_query, post_response and query_end of one
 * query. */
struct wg_qctx;

/* One "key = value" line of the plugin's [plugin:NAME] config section. */
struct wg_plugin_arg {
	const char *key;   /* borrowed: valid during init only */
	const char *value; /* borrowed: valid during init only */
};

/* Functions the host provides. Members may be added at the end in later
 * releases of ABI version 1: check struct_size before using a member that
 * is not in this header's first release. */
struct wg_host_api {
	uint32_t abi_version; /* WG_PLUGIN_ABI_VERSION */
	uint32_t struct_size; /* sizeof(struct wg_host_api) in the host */
	const char *version;  /* host version, e.g. "0.1.0" */

	/* Logging. tag names the plugin instance; the level is checked before
	 * formatting, but call log_enabled() first to skip costly arguments. */
	void (*log)(int level, const char *tag, const char *fmt, ...) WG_PLUGIN_PRINTF(3, 4);
	int (*log_enabled)(int level);

	/* The question. qname_text: lower case, no trailing dot ("" for the
	 * root), escaped like a zone file; valid until the query ends.
	 * qname_wire: lower-case uncompressed wire form, *len set to its length. */
	const char *(*qname_text)(struct wg_qctx *ctx);
	const uint8_t *(*qname_wire)(struct wg_qctx *ctx, size_t *len);
	uint16_t (*qtype)(struct wg_qctx *ctx);
	uint16_t (*qclass)(struct wg_qctx *ctx);
	/* The client's address; NULL when unknown. */
	const struct sockaddr *(*client_addr)(struct wg_qctx *ctx, socklen_t *len);

	/* Per-plugin, per-query data: what pre_query stores, post_response and
	 * query_end of the same plugin get back. NULL until set. */
	void (*set_data)(struct wg_qctx *ctx, void *data);
	void *(*get_data)(struct wg_qctx *ctx);

	/* Name the rule that produced the verdict (e.g. the list entry
	 * "*.ads.example"); copied, truncated to 255 bytes. Logged by the host
	 * and recorded when the guard overrides the verdict. */
	void (*set_reason)(struct wg_qctx *ctx, const char *entry);

	/* Local data for WG_PV_ANSWER: family AF_INET (addr 4 bytes) or
	 * AF_INET6 (16 bytes), ttl in seconds. At most 8 addresses.
	 * Returns 0, -22 (EINVAL) for a bad family, -28 (ENOSPC) when full. */
	int (*set_answer_addr)(struct wg_qctx *ctx, int family, const void *addr, uint32_t ttl);

	/* Post-response only (pre_query gets -1 / 0 / NULL):
	 * rcode of the response about to be sent. */
	int (*rcode)(struct wg_qctx *ctx);
	/* Iterate the A and AAAA records of the answer section. Start with
	 * *iter = 0; returns 1 and fills family (AF_INET/AF_INET6) and addr
	 * (16 bytes; 4 used for IPv4) while there is one, then 0. */
	int (*answer_addr_next)(struct wg_qctx *ctx, uint32_t *iter, int *family, uint8_t addr[16]);
	/* Iterate the CNAME targets of the answer section in order, as text
	 * like qname_text. Returns 1 while there is one, then 0. */
	int (*answer_cname_next)(struct wg_qctx *ctx, uint32_t *iter, char *buf, size_t cap);
	/* The whole response in wire format; NULL before a response exists. */
	const uint8_t *(*response_wire)(struct wg_qctx *ctx, size_t *len);
};

/* The plugin's table, returned by the entry point. */
struct wg_plugin_v1 {
	uint32_t abi_version; /* must be WG_PLUGIN_ABI_VERSION */
	uint32_t struct_size; /* sizeof(struct wg_plugin_v1) */
	const char *name;     /* e.g. "blocklist" */
	const char *version;  /* the plugin's own version */

	/* Create an instance for one [plugin:NAME] section (the same shared
	 * object may be loaded under several names). Called at start-up and on
	 * every reload (SIGHUP): read lists here. Return the instance (any
	 * non-NULL pointer, even for a plugin without state), or NULL with a
	 * message in err (cap bytes) to fail the load. Required. */
	void *(*init)(const char *instance, const struct wg_plugin_arg *args, size_t nargs,
		      char *err, size_t cap);
	/* Destroy an instance. Required. */
	void (*fini)(void *inst);

	/* Before the cache lookup. Returns a verdict. Optional (NULL). */
	int (*pre_query)(void *inst, struct wg_qctx *ctx);
	/* Before the response is sent; the answer accessors work. Returns a
	 * verdict. Optional (NULL). */
	int (*post_response)(void *inst, struct wg_qctx *ctx);
	/* When the query is finished, whatever happened (also after drop or a
	 * timeout): free what set_data() holds. Optional (NULL). */
	void (*query_end)(void *inst, struct wg_qctx *ctx);
	/* Report counters: call emit once per counter. Optional (NULL). */
	void (*stats)(void *inst, void (*emit)(void *arg, const char *key, uint64_t value),
		      void *arg);
};

/* The one exported symbol. host stays valid for as long as the plugin is
 * loaded; keep the pointer. Return NULL to refuse to load. */
typedef const struct wg_plugin_v1 *(*wg_plugin_entry_fn)(const struct wg_host_api *host);
WG_PLUGIN_EXPORT const struct wg_plugin_v1 *wuguard_plugin_entry(const struct wg_host_api *host);

#ifdef __cplusplus
}
#endif

#endif
