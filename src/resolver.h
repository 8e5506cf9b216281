/* resolver.h: the per-query pipeline.
 *
 * ACL -> parse -> cache -> in-flight table (identical queries share one
 * upstream exchange) -> upstream -> cache insert -> reply to every waiter.
 * Runs on the loop thread only. */
#ifndef WG_RESOLVER_H
#define WG_RESOLVER_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "config.h"
#include "crosscheck.h"
#include "listen.h"

struct wg_resolver;

struct wg_resolver_stats {
	uint64_t queries;
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t stale_served;
	uint64_t prefetches;
	uint64_t shared;          /* answered by joining an exchange in flight */
	uint64_t upstream_failures;
	uint64_t servfail;        /* SERVFAIL sent to clients */
	uint64_t formerr;
	uint64_t notimp;
	uint64_t refused;         /* denied by the ACL, zone transfer, class CH, RD=0 miss */
	uint64_t norec_refused;   /* RD=0 query not in the cache (of refused) */
	uint64_t dropped;         /* not answered: runt, QR=1, no slot */
	uint64_t truncated;       /* answered TC=1 to a UDP client */
	uint64_t trimmed;         /* too big for a UDP client, fitted without TC */
	uint64_t policy_blocked;  /* answered by a plugin verdict */
	uint64_t policy_overridden; /* plugin verdicts on WU names set aside */
};

/* Build the pipeline for cfg (borrowed; must outlive the resolver or be
 * replaced with wg_resolver_reload). Returns 0 or a negative errno with a
 * reason in err. */
int wg_resolver_new(uv_loop_t *loop, const struct wg_config *cfg, struct wg_resolver **out,
		    char *err, size_t errcap);
/* Swap in a new configuration (already validated). Cache contents are kept;
 * upstream lists, ACL and limits change at once. Returns 0 or a negative
 * errno (the old configuration stays). */
int wg_resolver_reload(struct wg_resolver *r, const struct wg_config *cfg, char *err, size_t errcap);
/* The listener callback (arg = the resolver). */
void wg_resolver_on_query(void *arg, const struct wg_client *client, const uint8_t *pkt, size_t len);
/* The ACL's verdict on a client (arg: the resolver), for the listener to
 * close a TCP connection the resolver would only answer REFUSED. Returns 1
 * when allowed. */
int wg_resolver_client_allowed(void *arg, const struct sockaddr *client);
/* Tell the resolver which listener answers go out through. */
void wg_resolver_set_listener(struct wg_resolver *r, struct wg_listen *l);
/* Hand every guard verdict, and every plugin verdict on a WU name set
 * aside (rec->policy_plugin), to cb (the discrepancy log): one door. */
void wg_resolver_set_recorder(struct wg_resolver *r, wg_xcheck_record_cb cb, void *arg);
void wg_resolver_get_stats(const struct wg_resolver *r, struct wg_resolver_stats *s);
/* The resolver's parts, borrowed until the next reload or free: for the
 * counter registry (stats.c) and the control socket. */
struct wg_cache *wg_resolver_cache(const struct wg_resolver *r);
const struct wg_upstream *wg_resolver_local(const struct wg_resolver *r);
const struct wg_crosscheck *wg_resolver_crosscheck(const struct wg_resolver *r);
struct wg_plugin_chain *wg_resolver_plugins(const struct wg_resolver *r);
/* uv_now() of the resolver's loop, ms (cache ages). */
uint64_t wg_resolver_now_ms(const struct wg_resolver *r);
/* Cancel exchanges in flight and free everything. */
void wg_resolver_free(struct wg_resolver *r);

#endif
