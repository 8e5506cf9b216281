/* plugin.h: the plugin host. Loads filter plugins (plugin/wuguard-plugin.h)
 * into a chain, runs their hooks on a query, and builds the blocked replies.
 *
 * Life of a query, as the lead's query path uses it:
 *
 *   struct wg_qctx *ctx = &slot->pctx;            (embedded: no malloc)
 *   wg_plugin_qctx_begin(ctx, chain, pkt, len, &qi, client, clen);
 *   wg_plugin_run_pre(ctx, is_wu, &v);
 *   if (v.overridden) -> record a local-policy discrepancy (v.plugin, v.entry)
 *   if (v.action != WG_PV_CONTINUE) -> wg_plugin_build_reply(&v, ...), send
 *   ... resolve ...
 *   wg_plugin_run_post(ctx, resp, resp_len, is_wu_or_chain_from_wu, &v);  (same)
 *   wg_plugin_qctx_end(ctx);
 *
 * A chain is reference counted: the context holds a reference from begin to
 * end, so a reload (SIGHUP) that swaps in a new chain never frees plugins
 * that a query in flight still uses. Everything runs on the loop thread. */
#ifndef WG_PLUGIN_HOST_H
#define WG_PLUGIN_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "wuguard-plugin.h"
#include "config.h"
#include "wire.h"

#define WG_PLUGIN_MAX 16         /* plugins in one chain */
#define WG_PLUGIN_MAX_LOCAL 8    /* addresses in a WG_PV_ANSWER verdict */
#define WG_PLUGIN_REASON_MAX 256 /* bytes, NUL included */
#define WG_PLUGIN_BLOCK_TTL 10   /* seconds: blocked answers and their SOA */
#define WG_PLUGIN_TRIAL_MS 30000 /* default: a plugin set's trial in a child, then killed */

struct wg_plugin_chain; /* opaque */

struct wg_plugin_local_addr {
	int family;      /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint32_t ttl;    /* seconds */
};

/* The per-query context. Defined here so the caller can embed it in its
 * query slot; only plugin.c touches the fields. */
struct wg_qctx {
	struct wg_plugin_chain *chain;     /* one reference held, NULL: no plugins */
	const uint8_t *query;              /* borrowed: the client's query */
	size_t query_len;
	const struct wg_query_info *qi;    /* borrowed: parsed query */
	const struct sockaddr *client;     /* borrowed, may be NULL */
	socklen_t client_len;
	const uint8_t *resp;               /* borrowed: post-response only */
	size_t resp_len;
	uint16_t ans_off;                  /* first answer RR in resp, 0 if none */
	uint16_t ancount;
	unsigned cur;                      /* index of the plugin being called */
	int have_text;
	void *data[WG_PLUGIN_MAX];         /* owned by each plugin: set_data */
	char qname_text[4 * WG_NAME_MAX + 1];
	char reason[WG_PLUGIN_REASON_MAX];
	struct wg_plugin_local_addr local[WG_PLUGIN_MAX_LOCAL];
	unsigned n_local;
};

/* The outcome of a hook chain. */
struct wg_plugin_verdict {
	int action;       /* enum wg_plugin_verdict_code to apply: CONTINUE when
			     nobody objected or the guard overrode the verdict */
	int wanted;       /* what the deciding plugin returned */
	int overridden;   /* 1: a WU name; not applied, record local-policy */
	unsigned n_overridden; /* plugins whose verdict the guard set aside */
	const char *plugin; /* borrowed from the chain (valid until qctx_end):
			       instance name of the deciding plugin, NULL if none */
	char entry[WG_PLUGIN_REASON_MAX]; /* set_reason() of that plugin, "" if none */
	struct wg_plugin_local_addr local[WG_PLUGIN_MAX_LOCAL]; /* WG_PV_ANSWER */
	unsigned n_local;
};

/* Load every plugin of confs[0..n) in order into a new chain (one reference
 * for the caller). Each file is opened once and that descriptor is checked
 * (safefile.h: a regular file owned by root, the running user or
 * service_uid, not writable by group or others, in directories nobody else
 * can write) and loaded, through /proc/self/fd/N. The whole chain is first
 * tried in a forked child (load, init, fini, _exit), so a plugin that
 * crashes or hangs there takes down the child, not the caller. On error
 * nothing stays loaded, *out is untouched, a one-line reason is written to
 * err (cap bytes) and the result is: -ENOENT (no file), -EPERM (ownership
 * or mode of the file or a directory above it), -ELIBBAD (dlopen failed),
 * -ENOEXEC (no entry point, or it returned NULL, or required hooks
 * missing), -EPROTO (ABI version or struct size mismatch), -EINVAL (the
 * plugin's init refused its arguments; its message is in err), -EFAULT (it
 * crashed in the trial: err names the plugin, its path, the step and the
 * signal), -ETIMEDOUT (the trial did not end within the trial timeout and
 * was killed), -E2BIG (more than WG_PLUGIN_MAX plugins), -ENOMEM, or what
 * pipe or fork said. n == 0 gives an empty chain (no child). */
int wg_plugin_chain_load(const struct wg_plugin_conf *confs, size_t n, uid_t service_uid,
			 struct wg_plugin_chain **out, char *err, size_t cap);

/* How long the trial child of wg_plugin_chain_load may take before it is
 * killed ([server] plugin-timeout), in ms; 0 restores WG_PLUGIN_TRIAL_MS.
 * Returns the previous value. */
unsigned wg_plugin_set_trial_timeout(unsigned ms);

/* Tests only: called, when set, after the files are opened and checked and
 * before anything is loaded, with the first plugin's path (a test swaps the
 * file there to show that the checked descriptor is what gets loaded). */
extern void (*wg_plugin_test_after_check)(const char *path);

/* Take / drop a reference. The last unref calls every fini (last plugin
 * first) and unloads the objects. NULL is accepted. */
void wg_plugin_chain_ref(struct wg_plugin_chain *chain);
void wg_plugin_chain_unref(struct wg_plugin_chain *chain);

/* Reload (SIGHUP): load a new chain from confs; only when every plugin
 * loads, drop the reference in *cur and store the new chain there. On error
 * *cur keeps the old chain and the error of wg_plugin_chain_load is
 * returned with its message in err. */
int wg_plugin_reload(struct wg_plugin_chain **cur, const struct wg_plugin_conf *confs,
		     size_t n, uid_t service_uid, char *err, size_t cap);

/* Number of plugins, and the instance name of the i-th (NULL out of range). */
size_t wg_plugin_chain_count(const struct wg_plugin_chain *chain);
const char *wg_plugin_chain_name(const struct wg_plugin_chain *chain, size_t i);

/* Collect counters: emit(arg, instance, key, value) for each plugin's
 * stats hook. */
void wg_plugin_chain_stats(struct wg_plugin_chain *chain,
			   void (*emit)(void *arg, const char *instance, const char *key,
					uint64_t value),
			   void *arg);

/* Start a query: bind ctx to chain (takes a reference; chain may be NULL)
 * and to the borrowed query, which must stay valid until qctx_end. */
void wg_plugin_qctx_begin(struct wg_qctx *ctx, struct wg_plugin_chain *chain,
			  const uint8_t *query, size_t query_len,
			  const struct wg_query_info *qi, const struct sockaddr *client,
			  socklen_t client_len);

/* Run the pre-query hooks in order until one returns a verdict other than
 * continue. When is_wu_name is set that verdict is not applied: out->action
 * stays WG_PV_CONTINUE, out->overridden = 1 names the first such plugin and
 * its entry, and the remaining plugins still run (their verdicts are set
 * aside too). Returns out->action. A hook returning an unknown code counts
 * as continue. */
int wg_plugin_run_pre(struct wg_qctx *ctx, int is_wu_name, struct wg_plugin_verdict *out);

/* The same for post-response hooks on the response resp (borrowed until
 * qctx_end). is_wu_name: the query name or the start of the answer's CNAME
 * chain is a WU name. Returns out->action; a response the host cannot
 * walk just has no answer records for the accessors. */
int wg_plugin_run_post(struct wg_qctx *ctx, const uint8_t *resp, size_t resp_len,
		       int is_wu_name, struct wg_plugin_verdict *out);

/* End a query: call each plugin's query_end, drop the chain reference. */
void wg_plugin_qctx_end(struct wg_qctx *ctx);

/* Build the reply for an applied verdict to the query (query bytes and its
 * parse qi): BLOCK_NULL -> A 0.0.0.0 / AAAA :: (TTL WG_PLUGIN_BLOCK_TTL),
 * NODATA for other types; BLOCK_NXDOMAIN / BLOCK_NODATA -> with a synthetic
 * SOA (negative TTL WG_PLUGIN_BLOCK_TTL); BLOCK_REFUSED -> REFUSED; all four
 * with EDE 15 (Blocked) when the query had EDNS. REFUSE -> REFUSED with EDE
 * 18 (Prohibited). ANSWER -> the local addresses of the query's type (NODATA
 * when none fit). Returns the length; 0 for DROP (send nothing); -EINVAL for
 * CONTINUE, an unknown verdict or an unparsed question; -ENOSPC when cap is
 * too small. */
int wg_plugin_build_reply(const struct wg_plugin_verdict *v, const uint8_t *query,
			  const struct wg_query_info *qi, uint8_t *out, size_t cap);

/* "continue", "block-null", ... for logs; "?" for unknown codes. */
const char *wg_plugin_verdict_str(int code);

#endif
