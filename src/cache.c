/* cache.c: the bounded answer cache.
 *
 * Design. Each entry is ONE allocation: the header below, then the offsets
 * of the reply's TTL fields (uint16_t, 2-aligned because the header size is
 * a multiple of 8), then the serialized key, then the reply bytes. The
 * stored reply keeps its original TTLs; a lookup copies it out and writes
 * each TTL as min(original, ceiling) - elapsed seconds (floor 0), so the hit
 * path is one hash, one memcmp, one memcpy and a loop of wg_put32: no
 * allocation.
 *
 * The key is serialized as qtype(2) qclass(2) flags(1) lower-cased name and
 * hashed with SipHash-2-4 (libsodium crypto_shorthash) under a random key
 * made per cache, so crafted names cannot flood one bucket. The table is a
 * power of two of chained buckets (intrusive next pointer) sized from
 * max_entries (load factor <= 1). An intrusive doubly linked list keeps LRU
 * order, most recent at the head; eviction takes the tail until both the
 * entry count and the byte total (sum of allocation sizes) fit.
 *
 * An expired entry is kept for serve-stale until LRU pushes it out or it is
 * more than stale_max_age past expiry; lookups and inserts drop such dead
 * entries when they meet them. */
#include "autoconfig.h"

#include "assume.h"
#include "cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wire.h"

#define KEY_HDR 5 /* qtype, qclass, flags */
#define KEY_MAX (KEY_HDR + WG_NAME_MAX + 16)
/* Bits of the serialized flags byte (beside WG_CACHE_F_DO/CD): the key ends
 * with the client's address, 4 or 16 bytes, after the name (ECS answers
 * cached per client); the name stays at KEY_HDR in every key. */
#define KF_CLIENT4 0x40
#define KF_CLIENT6 0x80
#define TABLE_MIN 16u
#define TABLE_MAX (1u << 26) /* buckets; beyond this chains just grow */
#define NO_CEIL UINT32_MAX
#define TTL_MAX_RFC 0x7fffffffu /* RFC 2181 8: larger values mean 0 */

struct entry {
	struct entry *hnext; /* borrowed: next in the bucket chain */
	struct entry *prev;  /* borrowed: LRU neighbour towards the head */
	struct entry *next;  /* borrowed: LRU neighbour towards the tail */
	uint64_t inserted_ms;
	uint32_t lifetime_s; /* fresh for this long after inserted_ms */
	uint32_t ceil_ttl;   /* served TTLs never exceed this (seconds), NO_CEIL */
	uint32_t hash;
	uint32_t hits;       /* fresh hits since insert, for prefetch */
	uint32_t size;       /* allocation size, bytes */
	uint16_t pkt_len;
	uint16_t n_ttl;
	uint8_t key_len;     /* name length; the key is KEY_HDR + this, see key_size() */
	uint8_t rcode;
	uint8_t prefetched;  /* the prefetch signal already fired */
	uint8_t ede1;        /* EDE info code + 1 that every hit carries, 0: none */
	uint8_t ede_tag;     /* the caller's tag beside it (bits 16-23 of the
			      * EDE value: guard.h's text id) */
	uint8_t verified;    /* the guard found this answer agreeing with the public one */
	uint16_t ttl_off[];  /* n_ttl offsets, then the key, then the reply */
};

struct wg_cache {
	struct wg_cache_params p;
	struct entry **table; /* owned: mask + 1 bucket heads */
	uint32_t mask;
	struct entry *head;   /* borrowed from the table: most recently used */
	struct entry *tail;   /* least recently used */
	uint64_t count;
	uint64_t bytes;
	uint64_t inserts;
	uint64_t evictions;
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	int last_ede;         /* the EDE of the entry the last lookup returned */
};

static const uint8_t *entry_key_c(const struct entry *e)
{
	return (const uint8_t *)(e->ttl_off + e->n_ttl);
}

static uint8_t *entry_key(struct entry *e)
{
	return (uint8_t *)(e->ttl_off + e->n_ttl);
}

static size_t client_bytes(uint8_t kflags)
{
	return kflags & KF_CLIENT6 ? 16 : kflags & KF_CLIENT4 ? 4 : 0;
}

/* name_len <= 255 fits the uint8_t; the serialized key does not. */
static size_t key_size(const struct entry *e)
{
	return (size_t)e->key_len + KEY_HDR + client_bytes(entry_key_c(e)[4]);
}

static uint8_t *entry_pkt(struct entry *e)
{
	return entry_key(e) + key_size(e);
}

/* Serialize k into buf (KEY_MAX bytes), lower-casing the name so a caller
 * that forgot to cannot split the cache by case. Returns the size or -EINVAL. */
static int key_build(const struct wg_cache_key *k, uint8_t *buf)
{
	if (!k || !k->name || k->name_len == 0 || k->name_len > WG_NAME_MAX)
		return -EINVAL;
	wg_put16(buf, k->qtype);
	wg_put16(buf + 2, k->qclass);
	if (k->client && k->client_len != 4 && k->client_len != 16)
		return -EINVAL;
	buf[4] = k->flags & (WG_CACHE_F_DO | WG_CACHE_F_CD);
	for (size_t i = 0; i < k->name_len; i++) {
		uint8_t ch = k->name[i];
		buf[KEY_HDR + i] = (ch >= 'A' && ch <= 'Z') ? (uint8_t)(ch + 32) : ch;
	}
	if (!k->client)
		return KEY_HDR + k->name_len;
	buf[4] |= k->client_len == 4 ? KF_CLIENT4 : KF_CLIENT6;
	memcpy(buf + KEY_HDR + k->name_len, k->client, k->client_len);
	return KEY_HDR + k->name_len + k->client_len;
}

static uint32_t key_hash(const struct wg_cache *c, const uint8_t *key, size_t len)
{
	unsigned char h[crypto_shorthash_BYTES];
	crypto_shorthash(h, key, len, c->hkey);
	return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
}

static struct entry *find(const struct wg_cache *c, const uint8_t *key, size_t klen,
			  uint32_t h)
{
	for (struct entry *e = c->table[h & c->mask]; e; e = e->hnext)
		if (e->hash == h && key_size(e) == klen && memcmp(entry_key(e), key, klen) == 0)
			return e;
	return NULL;
}

/* The entry for k in *out. Returns 0, -EINVAL (a bad key) or -ENOENT. */
static int find_key(const struct wg_cache *c, const struct wg_cache_key *k, struct entry **out)
{
	uint8_t key[KEY_MAX];
	int klen = key_build(k, key);
	if (klen < 0)
		return -EINVAL;
	*out = find(c, key, (size_t)klen, key_hash(c, key, (size_t)klen));
	return *out ? 0 : -ENOENT;
}

static void lru_unlink(struct wg_cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct wg_cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

/* Unlink e from its bucket and the LRU list, account and free it. */
static void drop(struct wg_cache *c, struct entry *e)
{
	struct entry **pp = &c->table[e->hash & c->mask];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->count--;
	c->bytes -= e->size;
	free(e);
}

static uint64_t expiry_ms(const struct entry *e)
{
	return e->inserted_ms + (uint64_t)e->lifetime_s * 1000;
}

/* Past expiry and past the serve-stale window: of no use any more. */
static int is_dead(const struct wg_cache *c, const struct entry *e, uint64_t now_ms)
{
	return now_ms >= expiry_ms(e) + (uint64_t)c->p.stale_max_age * 1000;
}

/* Evict from the LRU tail until one more entry of `size` bytes fits. */
static void make_room(struct wg_cache *c, uint64_t size)
{
	while (c->tail && (c->count + 1 > c->p.max_entries || c->bytes + size > c->p.max_bytes)) {
		drop(c, c->tail);
		c->evictions++;
	}
}

static void enforce_limits(struct wg_cache *c)
{
	while (c->tail && (c->count > c->p.max_entries || c->bytes > c->p.max_bytes)) {
		drop(c, c->tail);
		c->evictions++;
	}
}

static uint32_t table_size_for(uint32_t max_entries)
{
	uint32_t n = TABLE_MIN;
	while (n < max_entries && n < TABLE_MAX)
		n <<= 1;
	return n;
}

/* Rebuild the table with n buckets. On allocation failure the old table
 * stays (longer chains, still correct). */
static void table_resize(struct wg_cache *c, uint32_t n)
{
	struct entry **t = calloc(n, sizeof(*t));
	if (!t)
		return;
	for (uint32_t i = 0; i <= c->mask; i++) {
		struct entry *e = c->table[i];
		while (e) {
			struct entry *nx = e->hnext;
			e->hnext = t[e->hash & (n - 1)];
			t[e->hash & (n - 1)] = e;
			e = nx;
		}
	}
	free(c->table);
	c->table = t;
	c->mask = n - 1;
}

static void params_sane(struct wg_cache_params *p)
{
	if (p->max_entries == 0)
		p->max_entries = 1;
	if (p->max_bytes == 0)
		p->max_bytes = 1;
	if (p->max_ttl < p->min_ttl)
		p->max_ttl = p->min_ttl;
}

struct wg_cache *wg_cache_new(const struct wg_cache_params *p)
{
	if (!p || p->max_entries == 0 || p->max_bytes == 0)
		return NULL;
	if (sodium_init() < 0)
		return NULL;
	struct wg_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->p = *p;
	params_sane(&c->p);
	uint32_t n = table_size_for(c->p.max_entries);
	c->table = calloc(n, sizeof(*c->table));
	if (!c->table) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	c->last_ede = -1;
	crypto_shorthash_keygen(c->hkey);
	return c;
}

void wg_cache_free(struct wg_cache *c)
{
	if (!c)
		return;
	wg_cache_clear(c);
	free(c->table);
	sodium_memzero(c->hkey, sizeof(c->hkey));
	free(c);
}

void wg_cache_set_params(struct wg_cache *c, const struct wg_cache_params *p)
{
	c->p = *p;
	params_sane(&c->p);
	uint32_t n = table_size_for(c->p.max_entries);
	if (n > c->mask + 1)
		table_resize(c, n);
	enforce_limits(c);
}

/* Copy e into out and write its TTLs: remaining lifetime, or stale_ttl. */
static void copy_out(struct entry *e, uint8_t *out, uint32_t elapsed_s, int stale,
		     uint32_t stale_ttl)
{
	const uint8_t *pkt = entry_pkt(e);
	memcpy(out, pkt, e->pkt_len);
	for (uint16_t i = 0; i < e->n_ttl; i++) {
		uint16_t off = e->ttl_off[i];
		uint32_t v;
		if (stale) {
			v = stale_ttl;
		} else {
			v = wg_get32(pkt + off);
			if (v > TTL_MAX_RFC)
				v = 0;
			if (v > e->ceil_ttl)
				v = e->ceil_ttl;
			v = v > elapsed_s ? v - elapsed_s : 0;
		}
		wg_put32(out + off, v);
	}
}

enum wg_cache_result wg_cache_lookup(struct wg_cache *c, const struct wg_cache_key *k,
				     uint64_t now_ms, int allow_stale, uint32_t stale_ttl,
				     uint8_t *out, size_t cap, size_t *outlen, int *prefetch)
{
	struct entry *e;
	if (prefetch)
		*prefetch = 0;
	if (find_key(c, k, &e) < 0)
		return WG_CACHE_MISS;

	uint64_t exp = expiry_ms(e);
	int stale = now_ms >= exp;
	if (stale) {
		if (is_dead(c, e, now_ms)) {
			drop(c, e);
			c->evictions++;
			return WG_CACHE_MISS;
		}
		/* a stale SERVFAIL helps nobody */
		if (!allow_stale || e->rcode == WG_RCODE_SERVFAIL)
			return WG_CACHE_MISS;
	}
	if (cap < e->pkt_len)
		return WG_CACHE_MISS;

	uint64_t elapsed_ms = now_ms > e->inserted_ms ? now_ms - e->inserted_ms : 0;
	copy_out(e, out, (uint32_t)(elapsed_ms / 1000), stale, stale_ttl);
	*outlen = e->pkt_len;
	c->last_ede = e->ede1 ? (int)(e->ede1 - 1u) | (int)e->ede_tag << 16 : -1;
	if (c->head != e) {
		lru_unlink(c, e);
		lru_push_front(c, e);
	}
	if (stale)
		return WG_CACHE_STALE;

	if (e->hits < UINT32_MAX)
		e->hits++;
	/* less than 10% left: remaining * 10 < lifetime, in ms */
	if (c->p.prefetch_min_hits && !e->prefetched && e->hits >= c->p.prefetch_min_hits &&
	    (exp - now_ms) * 10 < (uint64_t)e->lifetime_s * 1000) {
		e->prefetched = 1;
		if (prefetch)
			*prefetch = 1;
	}
	return WG_CACHE_HIT;
}

/* Collect the TTL offsets of every RR but OPT when wg_wire_scan's fixed
 * array overflowed. out may be NULL to count. Returns the count or -EBADMSG
 * (cannot happen after a successful scan of the same bytes: WG_ASSUME). */
static int walk_ttls(const uint8_t *pkt, size_t len, uint16_t *out)
{
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	int n = 0, rc;
	if (wg_wire_iter_init(&it, pkt, len) < 0)
		return -EBADMSG;
	while ((rc = wg_wire_iter_next(&it, &rr)) > 0) {
		if (rr.type == WG_TYPE_OPT)
			continue;
		if (out)
			out[n] = (uint16_t)(rr.fixed + 4);
		n++;
	}
	return rc < 0 ? rc : n;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

int wg_cache_insert(struct wg_cache *c, const struct wg_cache_key *k, const uint8_t *pkt,
		    size_t len, uint64_t now_ms, uint32_t ttl_cap)
{
	uint8_t key[KEY_MAX];
	int klen = key_build(k, key);
	if (klen < 0 || !pkt || len < WG_HDR_LEN || len > WG_PKT_MAX)
		return -EINVAL;
	uint16_t flags = wg_get16(pkt + 2);
	/* only complete answers to standard queries */
	if (!(flags & WG_F_QR) || (flags & WG_F_TC) || WG_OPCODE(flags) != 0)
		return -EINVAL;
	struct wg_wire_ttls t;
	if (wg_wire_scan(pkt, len, &t) < 0)
		return -EINVAL;

	int rcode = WG_RCODE(flags);
	uint32_t lifetime, ceil_ttl;
	if (rcode == WG_RCODE_NOERROR && t.ancount > 0) {
		lifetime = t.min_ttl;
		if (lifetime < c->p.min_ttl)
			lifetime = c->p.min_ttl;
		if (lifetime > c->p.max_ttl)
			lifetime = c->p.max_ttl;
		if (ttl_cap)
			lifetime = min32(lifetime, ttl_cap);
		/* cut below the records' own TTLs: no served TTL may outlive
		 * the entry; otherwise each record decays on its own */
		ceil_ttl = lifetime < t.min_ttl ? lifetime : NO_CEIL;
	} else if (rcode == WG_RCODE_NOERROR || rcode == WG_RCODE_NXDOMAIN) {
		lifetime = t.has_soa ? min32(t.neg_ttl, c->p.neg_max_ttl) : c->p.neg_default_ttl;
		if (ttl_cap)
			lifetime = min32(lifetime, ttl_cap);
		ceil_ttl = lifetime; /* the SOA's own TTL may exceed MINIMUM */
	} else if (rcode == WG_RCODE_SERVFAIL && c->p.servfail_ttl) {
		lifetime = c->p.servfail_ttl;
		if (ttl_cap)
			lifetime = min32(lifetime, ttl_cap);
		ceil_ttl = lifetime;
	} else {
		return -EINVAL;
	}
	/* nothing fresh to serve and no stale use: do not store */
	if (lifetime == 0 && c->p.stale_max_age == 0)
		return 0;

	/* the OPT RR is per hop: store without it */
	/* bytes after the last record are not stored: an OPT appended on the
	 * way out would land behind them */
	size_t plen = t.end;
	if (t.opt_off) {
		if ((size_t)t.opt_off + t.opt_len != t.end)
			return -EINVAL;
		plen = t.opt_off;
	}
	int n = t.n;
	/* walk to t.end, not plen: ARCOUNT still counts the OPT, which is
	 * last and skipped */
	if (t.truncated) {
		n = walk_ttls(pkt, t.end, NULL);
		if (!WG_ASSUME(n >= 0))
			return -EINVAL;
	}

	uint64_t size = sizeof(struct entry) + (uint64_t)n * sizeof(uint16_t) + (uint64_t)klen + plen;
	if (size > c->p.max_bytes)
		return -E2BIG;

	uint32_t h = key_hash(c, key, (size_t)klen);
	struct entry *old = find(c, key, (size_t)klen, h);
	if (old && is_dead(c, old, now_ms)) {
		drop(c, old);
		c->evictions++;
		old = NULL;
	}
	/* keep a real answer: it may still be needed as a stale one */
	if (old && rcode == WG_RCODE_SERVFAIL && old->rcode != WG_RCODE_SERVFAIL)
		return 0;

	struct entry *e = malloc((size_t)size);
	if (!e)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	e->inserted_ms = now_ms;
	e->lifetime_s = lifetime;
	e->ceil_ttl = ceil_ttl;
	e->hash = h;
	e->size = (uint32_t)size;
	e->pkt_len = (uint16_t)plen;
	e->n_ttl = (uint16_t)n;
	e->key_len = (uint8_t)k->name_len;
	e->rcode = (uint8_t)rcode;
	e->ede1 = 0;
	e->ede_tag = 0;
	e->verified = 0;
	if (t.truncated) {
		if (!WG_ASSUME(walk_ttls(pkt, t.end, e->ttl_off) == n)) {
			free(e);
			return -EINVAL;
		}
	} else
		memcpy(e->ttl_off, t.off, (size_t)n * sizeof(uint16_t));
	memcpy(entry_key(e), key, (size_t)klen);
	uint8_t *dst = entry_pkt(e);
	memcpy(dst, pkt, plen);
	if (t.opt_off)
		wg_put16(dst + 10, (uint16_t)(wg_get16(dst + 10) - 1));

	if (old)
		drop(c, old);
	/* a dead tail costs nothing to drop; then make room by LRU */
	for (int i = 0; i < 2 && c->tail && is_dead(c, c->tail, now_ms); i++) {
		drop(c, c->tail);
		c->evictions++;
	}
	make_room(c, size);

	uint32_t b = h & c->mask;
	e->hnext = c->table[b];
	c->table[b] = e;
	lru_push_front(c, e);
	c->count++;
	c->bytes += size;
	c->inserts++;
	return 0;
}

void wg_cache_remove(struct wg_cache *c, const struct wg_cache_key *k)
{
	struct entry *e;
	if (find_key(c, k, &e) == 0)
		drop(c, e);
}

void wg_cache_clear(struct wg_cache *c)
{
	struct entry *e = c->head;
	while (e) {
		struct entry *nx = e->next;
		free(e);
		e = nx;
	}
	memset(c->table, 0, ((size_t)c->mask + 1) * sizeof(*c->table));
	c->head = c->tail = NULL;
	c->count = 0;
	c->bytes = 0;
}

int wg_cache_set_ede(struct wg_cache *c, const struct wg_cache_key *k, int ede)
{
	struct entry *e;
	int rc = find_key(c, k, &e);
	if (rc == 0) {
		int code = ede & 0xffff;
		int ok = ede >= 0 && code < 255;
		e->ede1 = ok ? (uint8_t)(code + 1) : 0;
		e->ede_tag = ok ? (uint8_t)((ede >> 16) & 0xff) : 0;
	}
	return rc;
}

int wg_cache_set_verified(struct wg_cache *c, const struct wg_cache_key *k)
{
	struct entry *e;
	int rc = find_key(c, k, &e);
	if (rc == 0)
		e->verified = 1;
	return rc;
}

int wg_cache_verified(const struct wg_cache *c, const struct wg_cache_key *k, uint64_t now_ms)
{
	struct entry *e;
	if (find_key(c, k, &e) < 0 || now_ms >= expiry_ms(e))
		return -1;
	return e->verified;
}

void wg_cache_expire_all(struct wg_cache *c, uint64_t now_ms)
{
	for (struct entry *e = c->head; e; e = e->next) {
		if (expiry_ms(e) <= now_ms)
			continue;
		uint64_t age = now_ms > e->inserted_ms ? now_ms - e->inserted_ms : 0;
		e->lifetime_s = (uint32_t)(age / 1000); /* expiry <= now */
		e->prefetched = 0;
	}
}

int wg_cache_last_ede(const struct wg_cache *c)
{
	return c->last_ede;
}

void wg_cache_get_stats(const struct wg_cache *c, struct wg_cache_stats *s)
{
	s->entries = c->count;
	s->bytes = c->bytes;
	s->inserts = c->inserts;
	s->evictions = c->evictions;
}

uint8_t wg_cache_key_flags(const struct wg_query_info *qi)
{
	return (uint8_t)((qi->do_bit ? WG_CACHE_F_DO : 0) |
			 ((qi->flags & WG_F_CD) ? WG_CACHE_F_CD : 0));
}

void wg_cache_key_of(const struct wg_query_info *qi, uint8_t flags, struct wg_cache_key *k)
{
	k->name = qi->qname_lc;
	k->name_len = qi->qname_len;
	k->qtype = qi->qtype;
	k->qclass = qi->qclass;
	k->flags = flags;
	k->client = NULL;
	k->client_len = 0;
}

void wg_cache_key_for_client(struct wg_cache_key *k, const uint8_t *addr, uint8_t len)
{
	k->client = addr;
	k->client_len = len;
}

int wg_cache_apply_fix(struct wg_cache *c, const struct wg_cache_key *k,
		       const struct wg_cache_fix *f, uint8_t *scratch, size_t cap, uint64_t now_ms)
{
	if (f->pkt) {
		struct wg_wire_ttls t;
		if (f->len > cap)
			return -EMSGSIZE;
		memcpy(scratch, f->pkt, f->len);
		if (wg_wire_scan(scratch, f->len, &t) != 0)
			return -EINVAL;
		size_t len = wg_wire_strip_opt(scratch, f->len, &t);
		int rc = wg_cache_insert(c, k, scratch, len, now_ms, f->ttl_cap);
		if (rc < 0)
			return rc;
		if (f->ede >= 0)
			wg_cache_set_ede(c, k, f->ede);
	}
	if (f->verified)
		return wg_cache_set_verified(c, k) < 0 ? -ENOENT : 0;
	return 0;
}

/* --- by name, for the control socket: a walk over the LRU list, so the
 * hot path keeps its one-hash lookup and gains nothing to maintain --- */

static int name_is(struct entry *e, const uint8_t *key_name, size_t len)
{
	return e->key_len == len && memcmp(entry_key(e) + KEY_HDR, key_name, len) == 0;
}

static int name_lower(const uint8_t *name, size_t len, uint8_t *out)
{
	if (!name || len == 0 || len > WG_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		out[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (uint8_t)(name[i] + 32) : name[i];
	return 0;
}

int wg_cache_visit_name(struct wg_cache *c, const uint8_t *name, size_t len, uint64_t now_ms,
			wg_cache_visit_cb cb, void *arg)
{
	uint8_t lc[WG_NAME_MAX];
	int n = 0;
	if (name_lower(name, len, lc) < 0)
		return -EINVAL;
	for (struct entry *e = c->head; e; e = e->next) {
		if (!name_is(e, lc, len))
			continue;
		const uint8_t *key = entry_key(e);
		struct wg_cache_entry_info in = {
			.qtype = wg_get16(key),
			.qclass = wg_get16(key + 2),
			.flags = key[4],
			.rcode = e->rcode,
			.ttl_left_ms = (int64_t)expiry_ms(e) - (int64_t)now_ms,
			.lifetime_s = e->lifetime_s,
			.verified = e->verified,
			.ede = e->ede1 ? e->ede1 - 1 : -1,
			.hits = e->hits,
			.pkt = entry_pkt(e),
			.len = e->pkt_len,
		};
		cb(arg, &in);
		n++;
	}
	return n;
}

int wg_cache_remove_name(struct wg_cache *c, const uint8_t *name, size_t len, uint16_t qtype)
{
	uint8_t lc[WG_NAME_MAX];
	int n = 0;
	if (name_lower(name, len, lc) < 0)
		return -EINVAL;
	struct entry *e = c->head;
	while (e) {
		struct entry *nx = e->next;
		if (name_is(e, lc, len) && (qtype == 0 || wg_get16(entry_key(e)) == qtype)) {
			drop(c, e);
			n++;
		}
		e = nx;
	}
	return n;
}
