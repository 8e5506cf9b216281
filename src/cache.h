/* cache.h: the bounded answer cache.
 *
 * Entries are whole replies (OPT stripped) keyed by lower-cased qname, qtype,
 * qclass and the DO/CD bits. A lookup copies the reply into the caller's
 * buffer and rewrites each TTL to what is left of it, so the hit path never
 * allocates. LRU eviction keeps both the entry count and the byte total under
 * their limits. */
#ifndef WG_CACHE_H
#define WG_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct wg_cache;

struct wg_cache_params {
	uint32_t max_entries;     /* > 0 */
	uint64_t max_bytes;       /* total of entry allocations, > 0 */
	uint32_t min_ttl;         /* clamp for positive answers, seconds */
	uint32_t max_ttl;
	uint32_t neg_max_ttl;     /* cap on the RFC 2308 negative TTL */
	uint32_t neg_default_ttl; /* negative answer without SOA */
	uint32_t servfail_ttl;    /* 0: never cache SERVFAIL */
	uint32_t stale_max_age;   /* seconds past expiry an entry may still be served */
	uint32_t prefetch_min_hits; /* 0: prefetch off */
};

#define WG_CACHE_F_DO 0x01
#define WG_CACHE_F_CD 0x02

struct wg_cache_key {
	const uint8_t *name; /* borrowed: lower-cased uncompressed wire name */
	uint16_t name_len;
	uint16_t qtype;
	uint16_t qclass;
	uint8_t flags;       /* WG_CACHE_F_* */
	const uint8_t *client; /* borrowed, NULL: shared by all clients. The
				* address an answer is for (ECS, RFC 7871):
				* client_len 4 or 16 bytes */
	uint8_t client_len;
};

struct wg_query_info;

/* The WG_CACHE_F_* of a query: its DO bit and CD flag change the answer. */
uint8_t wg_cache_key_flags(const struct wg_query_info *qi);
/* The key of qi's answer under flags (from wg_cache_key_flags, or an
 * exchange's recorded ones); k borrows qi's name. The one way every caller
 * (resolver, crosscheck, wuguardctl probe) builds a key. */
void wg_cache_key_of(const struct wg_query_info *qi, uint8_t flags, struct wg_cache_key *k);
/* The key of an answer for one client only (an upstream asked with ECS that
 * may answer per client): k (from wg_cache_key_of) with addr (4 or 16
 * bytes, borrowed) added, a different entry from the shared one. */
void wg_cache_key_for_client(struct wg_cache_key *k, const uint8_t *addr, uint8_t len);

/* What a late verdict asks of the entry of its question: the crosscheck
 * reports it, the driver that owns the cache (the resolver; wuguardctl
 * probe's private cache) applies it with wg_cache_apply_fix(). */
struct wg_cache_fix {
	const uint8_t *pkt;  /* borrowed: the reply (as received, with OPT) that
				replaces the entry; NULL: the entry stays */
	size_t len;
	uint32_t ttl_cap;    /* seconds, 0: none: the replacement's lifetime cap */
	int ede;             /* EDE info code the replacement carries, -1: none */
	uint8_t verified;    /* mark the entry verified (after any replacement) */
};

enum wg_cache_result {
	WG_CACHE_MISS = 0,
	WG_CACHE_HIT = 1,   /* fresh */
	WG_CACHE_STALE = 2, /* expired, within stale_max_age, allow_stale was set */
};

struct wg_cache_stats {
	uint64_t entries;
	uint64_t bytes;
	uint64_t inserts;
	uint64_t evictions;
};

/* Returns NULL on allocation failure or when max_entries or max_bytes is 0.
 * The hash key is random per cache (SipHash via libsodium). */
struct wg_cache *wg_cache_new(const struct wg_cache_params *p);
void wg_cache_free(struct wg_cache *c);
/* Apply new limits (reload); evicts at once if the new limits are smaller.
 * Entries already stored keep their lifetimes. A 0 limit is taken as 1. */
void wg_cache_set_params(struct wg_cache *c, const struct wg_cache_params *p);

/* Look k up. On HIT or STALE the reply (with the stored ID) is copied into
 * out, *outlen set, and every TTL rewritten to the remaining lifetime (never
 * below 0); on STALE every TTL is stale_ttl. *prefetch (may be NULL) is set to
 * 1 once per entry lifetime when a fresh entry with at least prefetch_min_hits
 * hits has less than 10% of its TTL left. A hit moves the entry to the front
 * of the LRU. Never allocates. out too small: MISS. */
enum wg_cache_result wg_cache_lookup(struct wg_cache *c, const struct wg_cache_key *k,
				     uint64_t now_ms, int allow_stale, uint32_t stale_ttl,
				     uint8_t *out, size_t cap, size_t *outlen, int *prefetch);

/* Store a reply (its OPT already removed). The lifetime: NOERROR with
 * answers: min answer TTL clamped to [min_ttl, max_ttl]; NXDOMAIN or NODATA:
 * min(SOA TTL, SOA MINIMUM) capped at neg_max_ttl (neg_default_ttl without a
 * SOA); SERVFAIL: servfail_ttl, and never replacing an existing entry of
 * another rcode (it may still be needed as a stale answer). ttl_cap > 0 caps
 * the lifetime further. Replaces an existing entry for the same key.
 * Served TTLs decay per record from the stored originals; when a clamp or cap
 * cut the lifetime below the records' TTLs (and always for negative and
 * SERVFAIL entries) they are also capped at the lifetime. An OPT RR still
 * present as the last record is removed; replies with any number of records
 * are stored (beyond WG_WIRE_MAX_TTLS the offsets are collected here).
 * Returns 0 (also when nothing is stored on purpose: a zero lifetime with
 * stale_max_age 0, or a SERVFAIL meeting an entry of another rcode), -EINVAL
 * (unparsable, QR clear, TC set, opcode not QUERY, OPT not last, an rcode
 * that is not cached, a bad key), -E2BIG (larger than max_bytes allows),
 * -ENOMEM (the old entry, if any, is kept). */
int wg_cache_insert(struct wg_cache *c, const struct wg_cache_key *k, const uint8_t *pkt,
		    size_t len, uint64_t now_ms, uint32_t ttl_cap);

/* Mark k's entry so every hit carries this EDE (RFC 8914; -1: none), e.g.
 * the guard's "repaired" on a public answer that replaced a tampered local
 * one. ede: the info code (below 255) in bits 0-15 and a tag in bits 16-23
 * that comes back with it (guard.h's WG_GUARD_EDE text id). A later insert
 * for k clears it. Returns 0, -ENOENT (not cached) or -EINVAL. */
int wg_cache_set_ede(struct wg_cache *c, const struct wg_cache_key *k, int ede);
/* The EDE (code | tag << 16, as set) of the entry the last HIT or STALE
 * lookup returned, -1: none. */
int wg_cache_last_ede(const struct wg_cache *c);

/* Mark k's entry as checked by the guard and found agreeing with the public
 * answer; a later insert clears the mark. Returns 0, -ENOENT or -EINVAL. */
int wg_cache_set_verified(struct wg_cache *c, const struct wg_cache_key *k);
/* For a fresh entry: 1 marked verified, 0 not; -1 not cached (or expired).
 * Does not count as a hit. */
int wg_cache_verified(const struct wg_cache *c, const struct wg_cache_key *k, uint64_t now_ms);

/* Make every entry expired now: the next lookup of each misses (and the
 * answer is fetched and judged again), while the entries stay usable as
 * stale answers for stale_max_age (with stale_max_age 0 they are gone). */
void wg_cache_expire_all(struct wg_cache *c, uint64_t now_ms);

/* Drop one key (e.g. after the guard decided a cached answer was wrong). */
void wg_cache_remove(struct wg_cache *c, const struct wg_cache_key *k);
/* Remove every entry (counted in neither stale nor evictions). */
void wg_cache_clear(struct wg_cache *c);
void wg_cache_get_stats(const struct wg_cache *c, struct wg_cache_stats *s);

/* Apply f to k's entry: a replacement is scanned, its OPT stripped in
 * scratch (cap bytes) and stored with f->ttl_cap and f->ede; then the
 * verified mark. Returns 0 (also for an empty fix), -EMSGSIZE (the reply is
 * larger than scratch), -EINVAL (malformed), -ENOENT (nothing to mark) or
 * the insert's error. */
int wg_cache_apply_fix(struct wg_cache *c, const struct wg_cache_key *k,
		       const struct wg_cache_fix *f, uint8_t *scratch, size_t cap, uint64_t now_ms);

/* One entry, as wg_cache_visit_name shows it (borrowed during the call). */
struct wg_cache_entry_info {
	uint16_t qtype, qclass;
	uint8_t flags;          /* WG_CACHE_F_* of the key */
	uint8_t rcode;
	int64_t ttl_left_ms;    /* < 0: expired, kept as a stale answer */
	uint32_t lifetime_s;
	int verified;           /* the guard found it agreeing with the public answer */
	int ede;                /* EDE code every hit carries (a repair), -1: none */
	uint32_t hits;
	const uint8_t *pkt;     /* the stored reply, original TTLs */
	size_t len;
};
typedef void (*wg_cache_visit_cb)(void *arg, const struct wg_cache_entry_info *e);

/* Call cb for every entry of the wire name (any case), every type, class
 * and flag set, most recently used first. A walk over all entries: for the
 * control socket, never the query path. Returns the count or -EINVAL. */
int wg_cache_visit_name(struct wg_cache *c, const uint8_t *name, size_t len, uint64_t now_ms,
			wg_cache_visit_cb cb, void *arg);
/* Remove every entry of the wire name (qtype 0: of every type). Returns the
 * count removed or -EINVAL. */
int wg_cache_remove_name(struct wg_cache *c, const uint8_t *name, size_t len, uint16_t qtype);

#endif
