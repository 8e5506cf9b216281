/* crosscheck.h: the guarded exchange for a WU name.
 *
 * For a name in the WU set the local upstream and the public resolver are
 * asked in parallel. A local answer that shows no sign of tampering is
 * served at once; otherwise the answer waits for the public one (bounded by
 * public-wait). Once both sides are in (or timed out) compare.c judges them,
 * guard.c picks what to serve, and the verdict goes to the recorder. When the
 * local answer was already served and the verdict says it was wrong, the
 * record says what the cache must hold instead; the resolver, the only
 * writer of its cache, applies it. */
#ifndef WG_CROSSCHECK_H
#define WG_CROSSCHECK_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

#include "cache.h"
#include "compare.h"
#include "config.h"
#include "guard.h"
#include "upstream.h"
#include "wire.h"

struct wg_crosscheck;

/* What to serve the clients waiting for this exchange. */
struct wg_xcheck_answer {
	int status;          /* 0: pkt holds the reply; -EAGAIN: serve a stale
				answer or SERVFAIL; other <0: SERVFAIL */
	const uint8_t *pkt;  /* borrowed: valid during the callback */
	size_t len;
	uint32_t ttl_cap;    /* seconds, 0: none (cache lifetime cap) */
	int ede;             /* EDE info code for EDNS clients, -1: none */
	uint8_t verified;    /* the verdict found the local answer genuine: the
				cache marks the entry it stores (an AAAA of the
				name is judged against it) */
};

typedef void (*wg_xcheck_serve_cb)(void *arg, const struct wg_xcheck_answer *a);

/* Everything a recorder needs about one verdict (borrowed pointers valid
 * during the call only). */
struct wg_xcheck_record {
	const struct wg_query_info *qi;
	const struct sockaddr_storage *client;
	const struct wg_compare_result *verdict;
	const struct wg_guard_decision *decision;
	uint32_t local_latency_us;   /* 0 when no reply */
	uint32_t public_latency_us;
	const char *local_upstream;  /* "addr:port" text, "" when none */
	const char *public_upstream;
	int public_authenticated;
	int early;                   /* the local answer was served before the verdict */
	uint8_t cache_flags;         /* the WG_CACHE_F_* the exchange was asked under */
	/* What the cache entry of the question must become now that the
	 * verdict is in, when the answer was served before it (early): the
	 * public answer instead (repair, with the TTL cap and EDE), the local
	 * one with a TTL cap, or the verified mark. The crosscheck never writes
	 * the cache: the recorder's owner applies this (wg_cache_apply_fix). */
	struct wg_cache_fix fix;
	/* a plugin's verdict on a WU name that the guard set aside (verdict
	 * and decision are NULL then): which plugin wanted what, by which
	 * list entry. NULL: a guard verdict. */
	const char *policy_plugin;
	const char *policy_entry;
	const char *policy_wanted;
};

/* Called for every verdict; rec->decision->record says whether it is a
 * discrepancy worth a row (a plain match only feeds the health counters).
 * The resolver calls the same callback for plugin verdicts set aside
 * (rec->policy_plugin set): one door into the discrepancy log. */
typedef void (*wg_xcheck_record_cb)(void *arg, const struct wg_xcheck_record *rec);

struct wg_crosscheck_stats {
	uint64_t guarded, matched, cdn_variance, repaired, would_repair, public_unavailable;
	uint64_t early_served, late_repairs, recorded;
	uint64_t public_second;      /* a public answer looked filtered: another operator asked */
	uint64_t public_set_aside;   /* ... and its answer was used instead */
	uint64_t by_category[WG_CMP__COUNT];
};

/* Load the WU set, sinkhole, CDN and sanctioned lists named by cfg
 * (guardsets.c) and set up the public resolver. local and cache are
 * borrowed; the cache is only read (the A's verified mark, for an AAAA). Returns 0 or a
 * negative errno with "path:line: reason" (or another reason) in err. When
 * cfg names no public resolver the built-in DNSCrypt stamps are used; with
 * public = none, *out is a crosscheck that matches WU names but forwards
 * them unguarded (wg_crosscheck_enabled() says 0). */
int wg_crosscheck_new(uv_loop_t *loop, const struct wg_config *cfg, struct wg_upstream *local,
		      const struct wg_cache *cache, struct wg_crosscheck **out, char *err,
		      size_t errcap);
/* now = 0 (reload): exchanges in flight finish with the old lists, which
 * go with the last of them. now = 1 (shutdown): they are cancelled and
 * nobody is answered. Safe with NULL. */
void wg_crosscheck_free(struct wg_crosscheck *x, int now);
void wg_crosscheck_set_recorder(struct wg_crosscheck *x, wg_xcheck_record_cb cb, void *arg);

/* Is this lower-cased wire name in the WU set? Never allocates. */
int wg_crosscheck_is_wu(const struct wg_crosscheck *x, const uint8_t *qname_lc);
/* Is there a public resolver to check against? */
int wg_crosscheck_enabled(const struct wg_crosscheck *x);
/* The loaded WU set (file, groups, [guard] add and remove applied), owned by
 * x and valid until wg_crosscheck_free(); for wuguardctl probe, which asks
 * for its names. */
const struct wg_domainset *wg_crosscheck_wu_set(const struct wg_crosscheck *x);

/* Start the guarded exchange. serve is called exactly once (unless this
 * returns an error). cache_flags: the WG_CACHE_F_* of the key the late
 * repair is stored under. Returns 0, -ENOMEM, or the upstream's error. */
int wg_crosscheck_query(struct wg_crosscheck *x, const struct wg_query_info *qi,
			uint8_t cache_flags, const struct sockaddr_storage *client,
			wg_xcheck_serve_cb serve, void *arg);

void wg_crosscheck_get_stats(const struct wg_crosscheck *x, struct wg_crosscheck_stats *s);
/* Carry from's counters over to to (a reload replaces the crosscheck, and
 * counters must not start again at zero: Prometheus reads that as a reset). */
void wg_crosscheck_carry_stats(struct wg_crosscheck *to, const struct wg_crosscheck *from);

/* The public references, for the control socket's status: one call of cb
 * per reference with its name ("addr:port" or "addr (provider)"), its
 * transport ("dnscrypt", "plain") and its state in words (for DNSCrypt the
 * certificate: "certificate serial N valid until DATE", "no certificate
 * (last fetch failed)" ...; plain: "no certificate (plain DNS)"). */
typedef void (*wg_xcheck_public_cb)(void *arg, const char *name, const char *transport,
				    const char *state);
void wg_crosscheck_public_each(const struct wg_crosscheck *x, wg_xcheck_public_cb cb, void *arg);
/* The plain-DNS public upstream (NULL: DNSCrypt or none), for its
 * per-server counters. */
const struct wg_upstream *wg_crosscheck_public_plain(const struct wg_crosscheck *x);
struct wg_dnscrypt;
/* The DNSCrypt public references (NULL: plain or none), for their counters. */
const struct wg_dnscrypt *wg_crosscheck_public_dnscrypt(const struct wg_crosscheck *x);

#endif
