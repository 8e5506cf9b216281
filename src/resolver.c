/* resolver.c: the per-query pipeline, see resolver.h.
 *
 * The hot path works on bytes: the query is parsed into a stack
 * wg_query_info, a cache hit is copied straight into r->out and patched
 * (ID, the client's question case, RD, OPT) before one UDP send. A miss
 * takes a waiter slot and joins or creates an in-flight exchange keyed like
 * the cache; slots and exchanges are recycled through free lists, so after
 * warm-up neither path calls malloc. */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/queue.h>
#include <sodium.h>

#include "cache.h"
#include "crosscheck.h"
#include "dlog.h"
#include "plugin.h"
#include "log.h"
#include "resolver.h"
#include "upstream.h"
#include "wire.h"

#define UDP_REPLY_MAX 1232 /* bytes: never send bigger UDP answers (no fragments) */

struct wg_waiter {
	struct wg_waiter *next;
	struct wg_client client;
	uint16_t id;
	uint16_t flags;
	uint16_t udp_size;
	uint16_t qname_len;
	uint8_t has_edns;
	uint8_t do_bit;
	uint8_t qname[WG_NAME_MAX]; /* the client's spelling */
};

struct wg_inflight {
	struct wg_resolver *r;          /* borrowed: owner */
	struct wg_inflight *hnext;      /* hash chain / free list */
	uint64_t hash;
	struct wg_waiter *waiters;      /* owned slots, returned to the pool */
	struct wg_waiter **tail;
	struct wg_upstream_req *req;    /* borrowed: live while the exchange runs */
	uint8_t key_flags;
	uint8_t guarded;                /* a WU name: crosscheck.c runs the exchange */
	struct wg_query_info qi;        /* the first asker's query */
	struct wg_pquery *pq;           /* owned, NULL: no plugins, or a prefetch */
	TAILQ_ENTRY(wg_inflight) slink; /* client response timer list (RFC 8767) */
	uint64_t stale_at;              /* ms when waiters get the stale answer, 0: not listed */
	uint8_t stale_sent;             /* the timer answered stale; later askers get it at once */
	uint8_t has_ecs;                /* [upstream] client-subnet: asked for ecs's client only */
	struct wg_ecs ecs;
};

/* The first asker's plugin context, carried from its pre-query hooks to the
 * exchange's post-response hooks and query_end, as the ABI promises. */
struct wg_pquery {
	struct wg_qctx ctx;             /* qi points at the exchange's, client below */
	struct sockaddr_storage client;
};

struct wg_resolver {
	uv_loop_t *loop;                 /* borrowed */
	const struct wg_config *cfg;     /* borrowed: swapped on reload */
	struct wg_listen *listen;        /* borrowed */
	struct wg_cache *cache;          /* owned */
	struct wg_upstream *local;       /* owned */
	struct wg_crosscheck *xc;        /* owned: the WU guard */
	struct wg_plugin_chain *plugins; /* owned reference, NULL: none */
	wg_xcheck_record_cb rec;         /* where verdicts go (kept across reloads) */
	void *rec_arg;
	struct wg_cidr *allow;           /* owned: built-in or configured */
	size_t n_allow;
	struct wg_inflight **table;      /* owned: in-flight hash, power of two */
	size_t mask;
	struct wg_inflight *free_inflight;
	TAILQ_HEAD(, wg_inflight) stale; /* borrowed: earliest stale_at first */
	uv_timer_t *stale_timer;        /* owned: freed by its close callback */
	struct wg_waiter *free_waiters;
	size_t n_waiters;                /* slots handed out */
	unsigned char hash_key[crypto_shorthash_KEYBYTES];
	struct wg_resolver_stats st;
	uint8_t out[WG_PKT_MAX + 64];    /* reply scratch */
	uint8_t scratch[WG_PKT_MAX + 64];/* upstream reply scratch */
};

/* Loopback, RFC 1918, CGNAT, link-local, ULA: who may ask by default. */
static const char *const default_allow[] = {
	"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	"169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10",
};

static uint64_t now_ms(const struct wg_resolver *r)
{
	return uv_now(r->loop);
}

/* [upstream] client-subnet: the ECS for this client in *e; 0 when off (or
 * an address family ECS has no code for). */
static int client_ecs(const struct wg_resolver *r, const struct sockaddr_storage *client,
		      const struct wg_query_info *qi, struct wg_ecs *e)
{
	return r->cfg->client_subnet && client && wg_ecs_for_query(client, qi, e) == 0;
}

static size_t ecs_bytes(const struct wg_ecs *e)
{
	return e->family == 1 ? 4 : 16;
}

/* ecs NULL: the exchange is shared by every client asking the question;
 * otherwise it is this client's alone (an ECS upstream may answer per
 * client, so two clients' queries are never merged). */
static uint64_t key_hash(const struct wg_resolver *r, const struct wg_query_info *qi, uint8_t flags,
			 const struct wg_ecs *ecs)
{
	uint8_t buf[WG_NAME_MAX + 5 + 17];
	size_t n = qi->qname_len + 5u;
	memcpy(buf, qi->qname_lc, qi->qname_len);
	wg_put16(buf + qi->qname_len, qi->qtype);
	wg_put16(buf + qi->qname_len + 2, qi->qclass);
	buf[qi->qname_len + 4] = flags;
	if (ecs) {
		buf[n++] = ecs->family;
		memcpy(buf + n, ecs->addr, ecs_bytes(ecs));
		n += ecs_bytes(ecs);
	}
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, buf, n, r->hash_key);
	return h;
}

/* The per-client cache key of f (only when f->has_ecs). */
static void client_key(const struct wg_inflight *f, struct wg_cache_key *k)
{
	wg_cache_key_of(&f->qi, f->key_flags, k);
	wg_cache_key_for_client(k, f->ecs.addr, (uint8_t)ecs_bytes(&f->ecs));
}

/* Look qi up as client ecs sees the cache: its own entry first, then the
 * shared one (ecs NULL: the shared one only). Never allocates. */
static enum wg_cache_result lookup_for(struct wg_resolver *r, const struct wg_query_info *qi,
				       uint8_t flags, const struct wg_ecs *ecs, int allow_stale,
				       uint8_t *out, size_t cap, size_t *outlen, int *prefetch)
{
	struct wg_cache_key k;
	enum wg_cache_result res;
	wg_cache_key_of(qi, flags, &k);
	if (ecs) {
		struct wg_cache_key kc = k;
		wg_cache_key_for_client(&kc, ecs->addr, (uint8_t)ecs_bytes(ecs));
		res = wg_cache_lookup(r->cache, &kc, now_ms(r), allow_stale, r->cfg->stale_ttl, out,
				      cap, outlen, prefetch);
		if (res != WG_CACHE_MISS)
			return res;
	}
	return wg_cache_lookup(r->cache, &k, now_ms(r), allow_stale, r->cfg->stale_ttl, out, cap,
			       outlen, prefetch);
}


static int acl_allows(const struct wg_resolver *r, const struct sockaddr *sa)
{
	const struct wg_config *c = r->cfg;
	for (size_t i = 0; i < c->n_deny; i++)
		if (wg_cidr_match(&c->deny[i], sa))
			return 0;
	for (size_t i = 0; i < r->n_allow; i++)
		if (wg_cidr_match(&r->allow[i], sa))
			return 1;
	return 0;
}

int wg_resolver_client_allowed(void *arg, const struct sockaddr *client)
{
	return acl_allows(arg, client);
}

static size_t udp_limit(const struct wg_waiter *w)
{
	if (!w->client.udp)
		return WG_PKT_MAX;
	if (!w->has_edns)
		return WG_UDP_MIN;
	return w->udp_size < UDP_REPLY_MAX ? w->udp_size : UDP_REPLY_MAX;
}

/* Turn the stored form in r->out (no OPT, any ID) into this client's reply
 * and send it. ede >= 0 adds an Extended DNS Error option (EDNS clients):
 * a WG_GUARD_EDE value, its EXTRA-TEXT from guard.c's static table. */
static void send_reply(struct wg_resolver *r, const struct wg_waiter *w, size_t len, int ede)
{
	uint8_t *p = r->out;
	wg_put16(p, w->id);
	uint16_t f = wg_get16(p + 2);
	/* we are not the authority: AA never passes through; RD and CD are
	 * the client's (RFC 4035 3.1.6), whatever the upstream echoed; Z is 0 */
	f = (uint16_t)((f & ~(WG_F_RD | WG_F_AA | WG_F_CD | WG_F_Z)) |
		       (w->flags & (WG_F_RD | WG_F_CD)) | WG_F_RA | WG_F_QR);
	wg_put16(p + 2, f);
	/* the question at offset 12 is never compressed (nothing precedes
	 * it), so the client's spelling fits byte for byte */
	if (wg_get16(p + 4) == 1 && len >= (size_t)WG_HDR_LEN + w->qname_len &&
	    wg_wire_name_eq(p + WG_HDR_LEN, w->qname))
		memcpy(p + WG_HDR_LEN, w->qname, w->qname_len);
	const char *text = wg_guard_ede_text(ede);
	int code = ede >= 0 ? WG_GUARD_EDE_CODE(ede) : -1;
	size_t opt = w->has_edns ? wg_wire_opt_size(code, text) : 0;
	size_t lim = udp_limit(w);
	if (len + opt > lim) {
		len = wg_wire_truncate(p, len, lim > opt ? lim - opt : 0, w->do_bit);
		if (wg_get16(p + 2) & WG_F_TC)
			r->st.truncated++;
		else
			r->st.trimmed++;
	}
	if (w->has_edns) {
		int n = wg_wire_append_opt_text(p, len, sizeof(r->out), w->do_bit, code, text);
		if (n > 0)
			len = (size_t)n;
	}
	if (WG_RCODE(f) == WG_RCODE_SERVFAIL)
		r->st.servfail++;
	wg_listen_send(r->listen, &w->client, p, len);
}

/* Build and send an error reply from what a waiter remembers. */
static void send_error(struct wg_resolver *r, const struct wg_waiter *w, uint16_t qtype,
		       uint16_t qclass, int rcode)
{
	uint8_t *p = r->out;
	wg_put16(p, w->id);
	wg_put16(p + 2, (uint16_t)(WG_F_QR | WG_F_RA | (w->flags & (WG_F_RD | WG_F_CD)) | rcode));
	wg_put16(p + 4, 1);
	wg_put16(p + 6, 0);
	wg_put16(p + 8, 0);
	wg_put16(p + 10, 0);
	memcpy(p + WG_HDR_LEN, w->qname, w->qname_len);
	size_t o = WG_HDR_LEN + w->qname_len;
	wg_put16(p + o, qtype);
	wg_put16(p + o + 2, qclass);
	send_reply(r, w, o + 4, -1);
}

static void waiter_fill(struct wg_waiter *w, const struct wg_client *c,
			const struct wg_query_info *qi)
{
	w->next = NULL;
	w->client = *c;
	w->id = qi->id;
	w->flags = qi->flags;
	w->udp_size = qi->udp_size;
	w->has_edns = qi->has_edns;
	w->do_bit = qi->do_bit;
	w->qname_len = qi->qname_len;
	memcpy(w->qname, qi->qname, qi->qname_len);
}

static struct wg_waiter *waiter_get(struct wg_resolver *r)
{
	if (r->n_waiters >= r->cfg->max_inflight)
		return NULL;
	struct wg_waiter *w = r->free_waiters;
	if (w)
		r->free_waiters = w->next;
	else
		w = malloc(sizeof(*w));
	if (w)
		r->n_waiters++;
	return w;
}

static void waiter_put(struct wg_resolver *r, struct wg_waiter *w)
{
	wg_listen_client_release(&w->client);
	w->next = r->free_waiters;
	r->free_waiters = w;
	r->n_waiters--;
}

static struct wg_inflight *inflight_find(struct wg_resolver *r, uint64_t h,
					 const struct wg_query_info *qi, uint8_t flags,
					 const struct wg_ecs *ecs)
{
	for (struct wg_inflight *f = r->table[h & r->mask]; f; f = f->hnext)
		if (f->hash == h && f->key_flags == flags && f->qi.qtype == qi->qtype &&
		    f->qi.qclass == qi->qclass && f->qi.qname_len == qi->qname_len &&
		    memcmp(f->qi.qname_lc, qi->qname_lc, qi->qname_len) == 0 &&
		    f->has_ecs == (ecs != NULL) &&
		    (!ecs || (f->ecs.family == ecs->family &&
			      memcmp(f->ecs.addr, ecs->addr, ecs_bytes(ecs)) == 0)))
			return f;
	return NULL;
}

/* End the carried plugin context: query_end runs also after a failed
 * exchange. */
static void pquery_end(struct wg_inflight *f)
{
	if (!f->pq)
		return;
	wg_plugin_qctx_end(&f->pq->ctx);
	free(f->pq);
	f->pq = NULL;
}

/* --- RFC 8767 client response timer ---
 * A miss on an expired entry that may still be served stale joins a list;
 * every entry waits the same time, so appending keeps it in deadline order
 * and one timer serves the list. */

static void stale_unlist(struct wg_resolver *r, struct wg_inflight *f)
{
	if (!f->stale_at)
		return;
	TAILQ_REMOVE(&r->stale, f, slink);
	f->stale_at = 0;
}

static void on_stale_timer(uv_timer_t *t);

static void stale_arm(struct wg_resolver *r)
{
	if (TAILQ_EMPTY(&r->stale)) {
		uv_timer_stop(r->stale_timer);
		return;
	}
	uint64_t now = now_ms(r);
	uint64_t at = TAILQ_FIRST(&r->stale)->stale_at;
	uv_timer_start(r->stale_timer, on_stale_timer, at > now ? at - now : 0, 0);
}

static void stale_list(struct wg_resolver *r, struct wg_inflight *f)
{
	f->stale_at = now_ms(r) + r->cfg->stale_client_ms;
	TAILQ_INSERT_TAIL(&r->stale, f, slink);
	if (TAILQ_FIRST(&r->stale) == f)
		stale_arm(r);
}

/* The stale form of f's answer into r->scratch; its length or 0. */
static size_t stale_lookup(struct wg_resolver *r, const struct wg_inflight *f)
{
	size_t len = 0;
	if (lookup_for(r, &f->qi, f->key_flags, f->has_ecs ? &f->ecs : NULL, 1, r->scratch,
		       sizeof(r->scratch) - 64, &len, NULL) != WG_CACHE_STALE)
		return 0;
	return len;
}

/* ede: RFC 8914 3, Stale Answer, with the text of why (guard.h) */
static void stale_answer(struct wg_resolver *r, const struct wg_waiter *w, size_t len, int ede)
{
	memcpy(r->out, r->scratch, len);
	send_reply(r, w, len, ede);
	r->st.stale_served++;
}

/* How the waiters of an exchange are answered when they are let go. */
enum drain {
	DRAIN_SILENT,   /* nobody (a drop verdict, shutdown) */
	DRAIN_REPLY,    /* the stored form in r->scratch, len bytes, with ede */
	DRAIN_STALE,    /* the stale form in r->scratch, len bytes, with ede (3) */
	DRAIN_SERVFAIL,
};

/* The one loop over an exchange's waiters: answer each as how says, return
 * its slot, and leave f with none. */
static void waiters_drain(struct wg_resolver *r, struct wg_inflight *f, enum drain how,
			  size_t len, int ede)
{
	struct wg_waiter *w = f->waiters;
	while (w) {
		struct wg_waiter *next = w->next;
		switch (how) {
		case DRAIN_REPLY:
			memcpy(r->out, r->scratch, len);
			send_reply(r, w, len, ede);
			break;
		case DRAIN_STALE:
			stale_answer(r, w, len, ede);
			break;
		case DRAIN_SERVFAIL:
			send_error(r, w, f->qi.qtype, f->qi.qclass, WG_RCODE_SERVFAIL);
			break;
		case DRAIN_SILENT:
		default:
			break;
		}
		waiter_put(r, w);
		w = next;
	}
	f->waiters = NULL;
	f->tail = &f->waiters;
}

static void on_stale_timer(uv_timer_t *t)
{
	struct wg_resolver *r = t->data;
	uint64_t now = now_ms(r);
	while (!TAILQ_EMPTY(&r->stale) && TAILQ_FIRST(&r->stale)->stale_at <= now) {
		struct wg_inflight *f = TAILQ_FIRST(&r->stale);
		stale_unlist(r, f);
		size_t len = f->waiters ? stale_lookup(r, f) : 0;
		if (!len)
			continue; /* gone meanwhile (evicted): wait for the upstream */
		f->stale_sent = 1;
		waiters_drain(r, f, DRAIN_STALE, len, WG_GUARD_EDE_UPSTREAM_STALE);
	}
	stale_arm(r);
}

static void on_stale_timer_closed(uv_handle_t *h)
{
	free(h);
}

static void inflight_unlink(struct wg_resolver *r, struct wg_inflight *f)
{
	stale_unlist(r, f);
	pquery_end(f);
	struct wg_inflight **pp = &r->table[f->hash & r->mask];
	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	f->hnext = r->free_inflight;
	r->free_inflight = f;
}

static void on_local_reply(void *arg, const struct wg_upstream_reply *rep);
static int run_post_hooks(struct wg_resolver *r, struct wg_inflight *f, const uint8_t *pkt,
			  size_t plen, size_t *len, int *ede);
static void on_guarded_reply(void *arg, const struct wg_xcheck_answer *a);

/* Start an exchange for qi. Returns the in-flight entry or NULL. */
static struct wg_inflight *inflight_start(struct wg_resolver *r, const struct wg_query_info *qi,
					  uint64_t h, uint8_t flags,
					  const struct sockaddr_storage *client,
					  const struct wg_ecs *ecs)
{
	struct wg_inflight *f = r->free_inflight;
	if (f)
		r->free_inflight = f->hnext;
	else if (!(f = malloc(sizeof(*f))))
		return NULL;
	f->r = r;
	f->hash = h;
	f->key_flags = flags;
	f->waiters = NULL;
	f->tail = &f->waiters;
	f->req = NULL;
	f->pq = NULL;
	f->stale_at = 0;
	f->stale_sent = 0;
	f->has_ecs = ecs != NULL;
	if (ecs)
		f->ecs = *ecs;
	f->qi = *qi;
	/* every exchange asks for recursion: its answer is cached and shared
	 * (a prefetch started by an RD=0 client's hit is one too) */
	f->qi.flags |= WG_F_RD;
	f->hnext = r->table[h & r->mask];
	r->table[h & r->mask] = f;
	f->guarded = wg_crosscheck_enabled(r->xc) && wg_crosscheck_is_wu(r->xc, qi->qname_lc);
	int rc;
	if (f->guarded)
		rc = wg_crosscheck_query(r->xc, &f->qi, flags, client, on_guarded_reply, f);
	else
		rc = wg_upstream_query_ecs(r->local, &f->qi, ecs, on_local_reply, f, &f->req);
	if (rc < 0) {
		inflight_unlink(r, f);
		return NULL;
	}
	return f;
}

/* Answer every waiter of f from the stored form in r->scratch (len bytes),
 * or with a stale answer / SERVFAIL when len is 0. */
static void inflight_answer(struct wg_resolver *r, struct wg_inflight *f, size_t len, int ede)
{
	size_t stale_len = 0;

	if (len) {
		waiters_drain(r, f, DRAIN_REPLY, len, ede);
		return;
	}
	if (f->waiters && r->cfg->serve_stale && (stale_len = stale_lookup(r, f)) > 0)
		/* RFC 8914 EDE 3: Stale Answer; the guard's own (the
		 * local answer was tampered) says so in its text */
		waiters_drain(r, f, DRAIN_STALE, stale_len,
			      ede >= 0 && WG_GUARD_EDE_CODE(ede) == WG_GUARD_EDE_STALE
				      ? ede
				      : WG_GUARD_EDE_UPSTREAM_STALE);
	else
		waiters_drain(r, f, DRAIN_SERVFAIL, 0, -1);
}

/* An exchange ended: cache what came back and answer every waiter. pkt is
 * the upstream's reply (with OPT) or NULL when the exchange failed. */
static void inflight_finish(struct wg_resolver *r, struct wg_inflight *f, const uint8_t *pkt,
			    size_t plen, uint32_t ttl_cap, int ede, int verified)
{
	size_t len = 0;
	int post = 0, post_ede = -1;
	if (pkt && plen <= WG_PKT_MAX)
		post = run_post_hooks(r, f, pkt, plen, &len, &post_ede);
	if (post == 1) {
		inflight_answer(r, f, len, post_ede);
		inflight_unlink(r, f);
		return;
	}
	if (post == 2) {
		/* a drop verdict: nobody gets an answer, nothing is cached */
		waiters_drain(r, f, DRAIN_SILENT, 0, -1);
		inflight_unlink(r, f);
		return;
	}
	if (pkt && plen <= WG_PKT_MAX) {
		struct wg_wire_ttls t;
		memcpy(r->scratch, pkt, plen);
		len = plen;
		if (wg_wire_scan(r->scratch, len, &t) == 0) {
			len = wg_wire_strip_opt(r->scratch, len, &t);
			int rc = WG_RCODE(wg_get16(r->scratch + 2));
			/* clients see the clamped TTLs the cache will honour, as
			 * unbound's cache-min-ttl / cache-max-ttl do */
			uint32_t max = r->cfg->max_ttl;
			if (ttl_cap && (!max || ttl_cap < max))
				max = ttl_cap;
			wg_wire_clamp_ttls(r->scratch, len, t.ancount ? r->cfg->min_ttl : 0, max);
			struct wg_cache_key k;
			wg_cache_key_of(&f->qi, f->key_flags, &k);
			/* asked with ECS: shared only when the upstream said
			 * so (scope 0, RFC 7871 7.3.1); no ECS in the reply
			 * (a Pi-hole answers per client without saying so),
			 * a scope above 0 or an echo for another address:
			 * this client's alone */
			if (f->has_ecs && wg_wire_ecs_scope(pkt, &t, &f->ecs) != 0)
				client_key(f, &k);
			if (wg_cache_insert(r->cache, &k, r->scratch, len, now_ms(r), ttl_cap) == 0) {
				if (ede >= 0)
					wg_cache_set_ede(r->cache, &k, ede);
				/* the guard found it genuine: an AAAA of the
				 * name is judged against it */
				if (verified)
					wg_cache_set_verified(r->cache, &k);
			}
			if (rc == WG_RCODE_SERVFAIL && r->cfg->serve_stale) {
				r->st.upstream_failures++;
				len = 0; /* try a stale answer first */
			}
		} else {
			len = 0;
			r->st.upstream_failures++;
		}
	} else {
		r->st.upstream_failures++;
	}
	inflight_answer(r, f, len, ede);
	inflight_unlink(r, f);
}

static void on_local_reply(void *arg, const struct wg_upstream_reply *rep)
{
	struct wg_inflight *f = arg;
	f->req = NULL;
	if (rep->status != 0)
		wg_debug("resolver", "upstream failed: %s", strerror(-rep->status));
	inflight_finish(f->r, f, rep->status == 0 ? rep->pkt : NULL, rep->len, 0, -1, 0);
}

static void on_guarded_reply(void *arg, const struct wg_xcheck_answer *a)
{
	struct wg_inflight *f = arg;
	inflight_finish(f->r, f, a->status == 0 ? a->pkt : NULL, a->len, a->ttl_cap, a->ede,
			a->verified);
}

/* The crosscheck's verdict on an exchange. It never writes the cache: what
 * the entry must become (a late repair, a TTL cap, the verified mark of an
 * answer served early) comes with the verdict and is applied here, by the
 * cache's only writer; then the verdict goes on to the discrepancy log. */
static void on_verdict(void *arg, const struct wg_xcheck_record *rec)
{
	struct wg_resolver *r = arg;
	const struct wg_cache_fix *fix = &rec->fix;
	if (fix->pkt || fix->verified) {
		struct wg_cache_key k, kc;
		struct wg_ecs ecs;
		int rc = -ENOENT, per_client = client_ecs(r, rec->client, rec->qi, &ecs);
		wg_cache_key_of(rec->qi, rec->cache_flags, &k);
		if (per_client) {
			/* asked with ECS: the early-served answer may be the
			 * shared entry (scope 0) or this client's; a
			 * replacement drops the shared one and becomes this
			 * client's own; a mark goes where the answer is */
			kc = k;
			wg_cache_key_for_client(&kc, ecs.addr, (uint8_t)ecs_bytes(&ecs));
			if (fix->pkt)
				wg_cache_remove(r->cache, &k);
			rc = wg_cache_apply_fix(r->cache, &kc, fix, r->scratch, sizeof(r->scratch) - 64,
						now_ms(r));
		}
		if (rc == -ENOENT && !(fix->pkt && per_client))
			wg_cache_apply_fix(r->cache, &k, fix, r->scratch, sizeof(r->scratch) - 64,
					   now_ms(r));
	}
	if (r->rec)
		r->rec(r->rec_arg, rec);
}

static void policy_record(struct wg_resolver *r, const struct wg_query_info *qi,
			  const struct sockaddr_storage *client, const struct wg_plugin_verdict *v,
			  const char *hook)
{
	r->st.policy_overridden++;
	if (wg_log_level_current >= WG_LOG_INFO) {
		char name[1024];
		wg_wire_name_to_str(qi->qname, name, sizeof(name));
		wg_info("guard", "plugin %s wanted %s for WU name %s (%s, entry '%s'): not applied",
			v->plugin ? v->plugin : "?", wg_plugin_verdict_str(v->wanted), name, hook,
			v->entry);
	}
	if (!r->rec)
		return;
	/* through the same door as the guard's verdicts */
	struct wg_xcheck_record rec = {
		.qi = qi,
		.client = client,
		.policy_plugin = v->plugin ? v->plugin : "?",
		.policy_entry = v->entry,
		.policy_wanted = wg_plugin_verdict_str(v->wanted),
	};
	r->rec(r->rec_arg, &rec);
}

/* Post-response hooks, once per exchange, in the first asker's context
 * (carried from its pre-query hooks; a fresh one for a prefetch). Returns
 * 1 when a plugin blocked or answered: r->scratch then holds the stored
 * form of the reply (len in *len, its EDE in *ede) and it must not be
 * cached; 2 for a drop verdict; 0 to go on with the upstream's answer. */
static int run_post_hooks(struct wg_resolver *r, struct wg_inflight *f, const uint8_t *pkt,
			  size_t plen, size_t *len, int *ede)
{
	struct wg_plugin_chain *chain = f->pq ? f->pq->ctx.chain : r->plugins;
	if (!chain || wg_plugin_chain_count(chain) == 0)
		return 0;
	struct wg_query_info qi = f->qi;
	uint8_t q[WG_HDR_LEN + WG_NAME_MAX + 4 + WG_OPT_LEN];
	struct wg_qctx own, *ctx = &own;
	struct wg_plugin_verdict v;
	const struct sockaddr_storage *client = f->waiters ? &f->waiters->client.addr : NULL;
	int wu = f->guarded || wg_crosscheck_is_wu(r->xc, qi.qname_lc);
	int ret = 0;

	qi.has_edns = 0; /* the stored form carries no OPT: send_reply adds it */
	int qlen = wg_wire_build_query(q, sizeof(q), &qi, qi.id);
	if (qlen < 0)
		return 0;
	qlen -= WG_OPT_LEN;
	wg_put16(q + 10, 0);
	if (f->pq) {
		ctx = &f->pq->ctx;
		client = &f->pq->client;
	} else {
		wg_plugin_qctx_begin(ctx, chain, q, (size_t)qlen, &f->qi,
				     (const struct sockaddr *)client,
				     client ? (socklen_t)sizeof(*client) : 0);
	}
	wg_plugin_run_post(ctx, pkt, plen, wu, &v);
	if (v.overridden && client)
		policy_record(r, &qi, client, &v, "post-response");
	if (v.action == WG_PV_DROP) {
		r->st.policy_blocked++;
		ret = 2;
	} else if (v.action != WG_PV_CONTINUE) {
		int n = wg_plugin_build_reply(&v, q, &qi, r->scratch, sizeof(r->scratch) - 64);
		if (n > 0) {
			*len = (size_t)n;
			/* RFC 8914: 15 Blocked, 18 Prohibited; local data has none */
			*ede = v.action == WG_PV_REFUSE ? 18 : v.action == WG_PV_ANSWER ? -1 : 15;
			ret = 1;
			r->st.policy_blocked++;
		}
	}
	if (ctx == &own)
		wg_plugin_qctx_end(ctx);
	return ret;
}

static void reply_direct(struct wg_resolver *r, const struct wg_client *c, const uint8_t *pkt,
			 const struct wg_query_info *qi, int rcode)
{
	int n = wg_wire_build_error(r->out, sizeof(r->out), pkt, qi, rcode);
	if (n > 0)
		wg_listen_send(r->listen, c, r->out, (size_t)n);
}

/* Class CH is never forwarded: the upstream's software and host names are
 * not ours to give out. The identity names get the configured string, as
 * unbound's identity/version options do, or REFUSED like every other CH
 * question. */
static void reply_chaos(struct wg_resolver *r, const struct wg_client *c, const uint8_t *pkt,
			const struct wg_query_info *qi)
{
	static const uint8_t version_bind[] = "\7version\4bind";
	static const uint8_t version_server[] = "\7version\6server";
	static const uint8_t hostname_bind[] = "\10hostname\4bind";
	static const uint8_t id_server[] = "\2id\6server";
	const char *text = NULL;
#define IS(n) (qi->qname_len == sizeof(n) && memcmp(qi->qname_lc, n, sizeof(n)) == 0)
	if (qi->qtype == WG_TYPE_TXT || qi->qtype == WG_TYPE_ANY) {
		if (IS(version_bind) || IS(version_server))
			text = r->cfg->version;
		else if (IS(hostname_bind) || IS(id_server))
			text = r->cfg->identity;
	}
#undef IS
	if (!text) {
		r->st.refused++;
		reply_direct(r, c, pkt, qi, WG_RCODE_REFUSED);
		return;
	}
	struct wg_query_info q = *qi;
	q.has_edns = 0; /* the OPT goes after the answer */
	int n = wg_wire_build_error(r->out, sizeof(r->out), pkt, &q, WG_RCODE_NOERROR);
	size_t tlen = strlen(text); /* at most 255 bytes: config.c checks */
	if (n < 0 || (size_t)n + 12 + 1 + tlen + WG_OPT_LEN > sizeof(r->out))
		return;
	uint8_t *p = r->out + n;
	wg_put16(p, 0xc000 | WG_HDR_LEN); /* the owner is the question's name */
	wg_put16(p + 2, WG_TYPE_TXT);
	wg_put16(p + 4, WG_CLASS_CH);
	wg_put32(p + 6, 0);
	wg_put16(p + 10, (uint16_t)(1 + tlen));
	p[12] = (uint8_t)tlen;
	memcpy(p + 13, text, tlen);
	size_t len = (size_t)n + 13 + tlen;
	wg_put16(r->out + 6, 1);
	if (qi->has_edns) {
		int m = wg_wire_append_opt(r->out, len, sizeof(r->out), qi->do_bit, -1);
		if (m > 0)
			len = (size_t)m;
	}
	wg_listen_send(r->listen, c, r->out, len);
}

/* Stage 1: what is answered (or dropped) without looking further:
 * malformed, refused by the ACL, NOTIMP, FORMERR, BADVERS, zone transfers,
 * class CH. Parses pkt into *qi. Returns 1 when the query is done. */
static int query_screen(struct wg_resolver *r, const struct wg_client *c, const uint8_t *pkt,
			size_t len, struct wg_query_info *qi)
{
	int allowed = acl_allows(r, (const struct sockaddr *)&c->addr);
	int rc = wg_wire_parse_query(pkt, len, qi);

	r->st.queries++;
	if (rc == -EMSGSIZE || rc == -EPROTO) {
		r->st.dropped++;
		return 1;
	}
	if (!allowed) {
		r->st.refused++;
		reply_direct(r, c, pkt, qi, WG_RCODE_REFUSED);
		return 1;
	}
	if (rc == -EOPNOTSUPP) {
		r->st.notimp++;
		reply_direct(r, c, pkt, qi, WG_RCODE_NOTIMP);
		return 1;
	}
	if (rc < 0) {
		r->st.formerr++;
		reply_direct(r, c, pkt, qi, WG_RCODE_FORMERR);
		return 1;
	}
	if (qi->has_edns && qi->edns_version != 0) {
		/* RFC 6891 6.1.3: BADVERS (16) = extended rcode 1 in the OPT,
		 * header rcode 0; the OPT we append is the last 11 bytes */
		int n = wg_wire_build_error(r->out, sizeof(r->out), pkt, qi, WG_RCODE_NOERROR);
		r->st.formerr++;
		if (n >= WG_HDR_LEN + WG_OPT_LEN && wg_get16(r->out + 10) == 1) {
			r->out[n - WG_OPT_LEN + 5] = 1;
			wg_listen_send(r->listen, c, r->out, (size_t)n);
		}
		return 1;
	}
	if (qi->qtype == WG_TYPE_AXFR || qi->qtype == WG_TYPE_IXFR) {
		r->st.refused++;
		reply_direct(r, c, pkt, qi, WG_RCODE_REFUSED);
		return 1;
	}
	if (qi->qclass == WG_CLASS_CH) {
		reply_chaos(r, c, pkt, qi);
		return 1;
	}
	/* HS, NONE and the rest: a stub has nowhere to send them (as unbound,
	 * which has forwarders for IN only); forwarded, they came back as a
	 * REFUSED without a question, which must be dropped, and the client
	 * waited out the upstream timeout for a SERVFAIL */
	if (qi->qclass != WG_CLASS_IN && qi->qclass != WG_CLASS_ANY) {
		r->st.refused++;
		reply_direct(r, c, pkt, qi, WG_RCODE_REFUSED);
		return 1;
	}
	return 0;
}

/* Stage 2: the plugins' pre-query hooks. Returns -1 when a plugin answered
 * (the query is done), 1 when *ctx was begun (the caller ends it or hands
 * it on), 0 without plugins. */
static int query_pre_hooks(struct wg_resolver *r, const struct wg_client *c, const uint8_t *pkt,
			   size_t len, const struct wg_query_info *qi, struct wg_qctx *ctx)
{
	struct wg_plugin_verdict v;
	if (!r->plugins || wg_plugin_chain_count(r->plugins) == 0)
		return 0;
	int wu = wg_crosscheck_is_wu(r->xc, qi->qname_lc);
	wg_plugin_qctx_begin(ctx, r->plugins, pkt, len, qi, (const struct sockaddr *)&c->addr,
			     (socklen_t)sizeof(c->addr));
	wg_plugin_run_pre(ctx, wu, &v);
	if (v.overridden)
		policy_record(r, qi, &c->addr, &v, "pre-query");
	if (v.action == WG_PV_CONTINUE)
		return 1;
	int n = wg_plugin_build_reply(&v, pkt, qi, r->out, sizeof(r->out));
	r->st.policy_blocked++;
	if (n > 0)
		wg_listen_send(r->listen, c, r->out, (size_t)n);
	wg_plugin_qctx_end(ctx);
	return -1;
}

/* Stage 3: a fresh cache hit is copied, patched and sent (a prefetch may
 * start). Returns 1 when answered. */
static int query_from_cache(struct wg_resolver *r, const struct wg_client *c,
			    const struct wg_query_info *qi, uint8_t flags)
{
	struct wg_ecs ecs_buf;
	const struct wg_ecs *ecs = client_ecs(r, &c->addr, qi, &ecs_buf) ? &ecs_buf : NULL;
	size_t olen;
	int prefetch = 0;
	if (lookup_for(r, qi, flags, ecs, 0, r->out, sizeof(r->out) - 64, &olen, &prefetch) !=
	    WG_CACHE_HIT)
		return 0;
	struct wg_waiter w;
	r->st.cache_hits++;
	waiter_fill(&w, c, qi);
	/* e.g. a repaired WU answer keeps its EDE on every hit */
	send_reply(r, &w, olen, wg_cache_last_ede(r->cache));
	if (prefetch) {
		uint64_t h = key_hash(r, qi, flags, ecs);
		if (!inflight_find(r, h, qi, flags, ecs) &&
		    inflight_start(r, qi, h, flags, &c->addr, ecs))
			r->st.prefetches++;
	}
	return 1;
}

/* Stage 4, a miss: take a waiter slot and join the exchange in flight for
 * the key or start one. ctx (NULL: no plugins) is handed to a new
 * exchange, for its post-response hooks. Returns 1 when ctx was taken. */
static int query_join(struct wg_resolver *r, const struct wg_client *c, const uint8_t *pkt,
		      const struct wg_query_info *qi, uint8_t flags, struct wg_qctx *ctx)
{
	r->st.cache_misses++;
	if (!(qi->flags & WG_F_RD)) {
		/* RD=0 is answered from the cache only, as unbound's allow_snoop
		 * does: forwarding it would cache (and share with RD=1 clients)
		 * whatever an upstream says to a non-recursive query, a referral
		 * or a REFUSED */
		r->st.refused++;
		r->st.norec_refused++;
		reply_direct(r, c, pkt, qi, WG_RCODE_REFUSED);
		return 0;
	}
	struct wg_waiter *w = waiter_get(r);
	if (!w) {
		r->st.dropped++;
		r->st.servfail++;
		reply_direct(r, c, pkt, qi, WG_RCODE_SERVFAIL);
		return 0;
	}
	waiter_fill(w, c, qi);
	wg_listen_client_hold(c);
	struct wg_ecs ecs_buf;
	const struct wg_ecs *ecs = client_ecs(r, &c->addr, qi, &ecs_buf) ? &ecs_buf : NULL;
	uint64_t h = key_hash(r, qi, flags, ecs);
	struct wg_inflight *f = inflight_find(r, h, qi, flags, ecs);
	int taken = 0;
	if (f) {
		r->st.shared++;
		size_t slen;
		if (f->stale_sent && (slen = stale_lookup(r, f)) > 0) {
			/* the client response timer already ran for this exchange */
			stale_answer(r, w, slen, WG_GUARD_EDE_UPSTREAM_STALE);
			waiter_put(r, w);
			return 0;
		}
	} else if (!(f = inflight_start(r, qi, h, flags, &c->addr, ecs))) {
		r->st.upstream_failures++;
		send_error(r, w, qi->qtype, qi->qclass, WG_RCODE_SERVFAIL);
		waiter_put(r, w);
		return 0;
	} else if (ctx) {
		/* carry the context to post-response; without memory the
		 * exchange runs its hooks in a fresh one */
		f->pq = malloc(sizeof(*f->pq));
		if (f->pq) {
			f->pq->ctx = *ctx;
			memcpy(&f->pq->client, &c->addr, sizeof(f->pq->client));
			f->pq->ctx.qi = &f->qi;
			f->pq->ctx.query = NULL; /* the client's packet is gone by then */
			f->pq->ctx.query_len = 0;
			f->pq->ctx.client = (const struct sockaddr *)&f->pq->client;
			taken = 1;
		}
	}
	*f->tail = w;
	f->tail = &w->next;
	if (!f->stale_at && !f->stale_sent && r->cfg->serve_stale && r->cfg->stale_client_ms &&
	    stale_lookup(r, f))
		stale_list(r, f);
	return taken;
}

/* Screen, pre-query hooks, cache, then join or start an exchange. The
 * plugin context lives until the query is answered, or is handed to the
 * exchange it starts; it is ended here otherwise, in one place. */
void wg_resolver_on_query(void *arg, const struct wg_client *c, const uint8_t *pkt, size_t len)
{
	struct wg_resolver *r = arg;
	struct wg_query_info qi;
	struct wg_qctx ctx;

	if (query_screen(r, c, pkt, len, &qi))
		return;
	int have_ctx = query_pre_hooks(r, c, pkt, len, &qi, &ctx);
	if (have_ctx < 0)
		return;
	uint8_t flags = wg_cache_key_flags(&qi);
	if (query_from_cache(r, c, &qi, flags) ||
	    !query_join(r, c, pkt, &qi, flags, have_ctx ? &ctx : NULL)) {
		if (have_ctx)
			wg_plugin_qctx_end(&ctx);
	}
}

static int build_allow(struct wg_resolver *r, const struct wg_config *cfg)
{
	size_t n = cfg->n_allow ? cfg->n_allow : sizeof(default_allow) / sizeof(default_allow[0]);
	struct wg_cidr *a = calloc(n, sizeof(*a));
	if (!a)
		return -ENOMEM;
	if (cfg->n_allow) {
		memcpy(a, cfg->allow, n * sizeof(*a));
	} else {
		for (size_t i = 0; i < n; i++)
			wg_cidr_parse(default_allow[i], &a[i]);
	}
	free(r->allow);
	r->allow = a;
	r->n_allow = n;
	return 0;
}

/* Plugin files may be owned by root or by the user we drop to. */
static uid_t service_uid(const struct wg_config *cfg)
{
	struct passwd *pw = cfg->user ? getpwnam(cfg->user) : NULL;
	return pw ? pw->pw_uid : 0;
}

static void cache_params(const struct wg_config *c, struct wg_cache_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_entries = c->cache_entries;
	p->max_bytes = c->cache_bytes;
	p->min_ttl = c->min_ttl;
	p->max_ttl = c->max_ttl;
	p->neg_max_ttl = c->neg_max_ttl;
	p->neg_default_ttl = c->neg_max_ttl < 60 ? c->neg_max_ttl : 60;
	p->servfail_ttl = c->servfail_ttl;
	p->stale_max_age = c->serve_stale ? c->stale_max_age : 0;
	p->prefetch_min_hits = c->prefetch ? c->prefetch_min_hits : 0;
}

int wg_resolver_new(uv_loop_t *loop, const struct wg_config *cfg, struct wg_resolver **out,
		    char *err, size_t errcap)
{
	struct wg_resolver *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->cfg = cfg;
	TAILQ_INIT(&r->stale);
	crypto_shorthash_keygen(r->hash_key);
	size_t slots = 1024;
	while (slots < (size_t)cfg->max_inflight * 2 && slots < (1u << 20))
		slots <<= 1;
	r->table = calloc(slots, sizeof(*r->table));
	r->mask = slots - 1;
	struct wg_cache_params cp;
	cache_params(cfg, &cp);
	r->cache = wg_cache_new(&cp);
	r->local = wg_upstream_new(loop, cfg->local, cfg->n_local, cfg->timeout_ms, cfg->retries);
	if (r->local)
		wg_upstream_set_caps(r->local, cfg->caps);
	r->stale_timer = malloc(sizeof(*r->stale_timer));
	if (r->stale_timer) {
		uv_timer_init(loop, r->stale_timer);
		r->stale_timer->data = r;
		uv_unref((uv_handle_t *)r->stale_timer);
	}
	if (!r->table || !r->cache || !r->local || !r->stale_timer || build_allow(r, cfg) < 0) {
		snprintf(err, errcap, "out of memory");
		wg_resolver_free(r);
		return -ENOMEM;
	}
	int rc = wg_crosscheck_new(loop, cfg, r->local, r->cache, &r->xc, err, errcap);
	if (rc == 0)
		wg_crosscheck_set_recorder(r->xc, on_verdict, r);
	if (rc == 0 && cfg->n_plugins)
		rc = wg_plugin_chain_load(cfg->plugins, cfg->n_plugins, service_uid(cfg), &r->plugins,
					  err, errcap);
	if (rc < 0) {
		wg_resolver_free(r);
		return rc;
	}
	for (size_t i = 0; r->plugins && i < wg_plugin_chain_count(r->plugins); i++)
		wg_info("plugin", "loaded %s", wg_plugin_chain_name(r->plugins, i));
	*out = r;
	return 0;
}

void wg_resolver_set_recorder(struct wg_resolver *r, wg_xcheck_record_cb cb, void *arg)
{
	r->rec = cb;
	r->rec_arg = arg;
}

int wg_resolver_reload(struct wg_resolver *r, const struct wg_config *cfg, char *err, size_t errcap)
{
	struct wg_crosscheck *xc;
	int rc = wg_crosscheck_new(r->loop, cfg, r->local, r->cache, &xc, err, errcap);
	if (rc < 0)
		return rc;
	wg_crosscheck_set_recorder(xc, on_verdict, r);
	/* plugins and their lists: a failed reload keeps the old chain and
	 * fails the whole reload, so the running set stays consistent */
	struct wg_plugin_chain *chain = NULL;
	if (cfg->n_plugins &&
	    (rc = wg_plugin_chain_load(cfg->plugins, cfg->n_plugins, service_uid(cfg), &chain, err,
				       errcap)) < 0) {
		wg_crosscheck_free(xc, 1);
		return rc;
	}
	if (wg_upstream_set_servers(r->local, cfg->local, cfg->n_local, cfg->timeout_ms,
				    cfg->retries) < 0 ||
	    build_allow(r, cfg) < 0) {
		snprintf(err, errcap, "out of memory");
		wg_crosscheck_free(xc, 1);
		if (chain)
			wg_plugin_chain_unref(chain);
		return -ENOMEM;
	}
	wg_upstream_set_caps(r->local, cfg->caps);
	struct wg_cache_params cp;
	cache_params(cfg, &cp);
	wg_cache_set_params(r->cache, &cp);
	/* cached answers were judged under the old WU set, plugins and lists
	 * (a name newly in the WU set was cached unguarded): expire them all,
	 * so each is fetched and judged again on its next query, but keep them
	 * as stale answers, which the guard's fallback and serve-stale need
	 * when an upstream or the public reference is down after the reload */
	wg_cache_expire_all(r->cache, now_ms(r));
	/* the counters go on; exchanges in flight finish against the old
	 * lists (what they count after this point is not carried) */
	wg_crosscheck_carry_stats(xc, r->xc);
	wg_crosscheck_free(r->xc, 0);
	r->xc = xc;
	/* queries in flight hold their own reference to the old chain */
	if (r->plugins)
		wg_plugin_chain_unref(r->plugins);
	r->plugins = chain;
	r->cfg = cfg;
	return 0;
}

void wg_resolver_set_listener(struct wg_resolver *r, struct wg_listen *l)
{
	r->listen = l;
}

void wg_resolver_get_stats(const struct wg_resolver *r, struct wg_resolver_stats *s)
{
	*s = r->st;
}

struct wg_cache *wg_resolver_cache(const struct wg_resolver *r)
{
	return r->cache;
}

const struct wg_upstream *wg_resolver_local(const struct wg_resolver *r)
{
	return r->local;
}

const struct wg_crosscheck *wg_resolver_crosscheck(const struct wg_resolver *r)
{
	return r->xc;
}

struct wg_plugin_chain *wg_resolver_plugins(const struct wg_resolver *r)
{
	return r->plugins;
}

uint64_t wg_resolver_now_ms(const struct wg_resolver *r)
{
	return now_ms(r);
}

void wg_resolver_free(struct wg_resolver *r)
{
	if (!r)
		return;
	/* answer nobody: the listeners are closing too */
	for (size_t i = 0; r->table && i <= r->mask; i++) {
		struct wg_inflight *f = r->table[i];
		while (f) {
			struct wg_inflight *next = f->hnext;
			waiters_drain(r, f, DRAIN_SILENT, 0, -1);
			pquery_end(f);
			free(f);
			f = next;
		}
	}
	wg_crosscheck_free(r->xc, 1);
	if (r->plugins)
		wg_plugin_chain_unref(r->plugins);
	wg_upstream_free(r->local);
	while (r->free_inflight) {
		struct wg_inflight *f = r->free_inflight;
		r->free_inflight = f->hnext;
		free(f);
	}
	while (r->free_waiters) {
		struct wg_waiter *w = r->free_waiters;
		r->free_waiters = w->next;
		free(w);
	}
	if (r->stale_timer)
		uv_close((uv_handle_t *)r->stale_timer, on_stale_timer_closed);
	wg_cache_free(r->cache);
	free(r->table);
	free(r->allow);
	free(r);
}
