/* crosscheck.c: see crosscheck.h.
 *
 * One wg_xreq per guarded exchange. It is allocated (WU names are a small
 * share of the traffic and the replies must be kept until both sides are
 * in), holds copies of both replies, and is freed once its timer handle has
 * closed. The decision is made exactly once, in decide(); serve() is called
 * exactly once, either early (clean local answer) or from decide().
 *
 * An AAAA whose local answer is NODATA while the public side has AAAA is an
 * IPv6 filter (aaaa-suppressed) only when the name's A agrees, and that must
 * not depend on the order clients ask in. So such an AAAA waits for an A
 * verdict, within its own public-wait bound: the cache's "verified" mark when
 * the A was judged a match, else the verdict of an A exchange in flight
 * (joined: it lists its waiters), else the verdict of an internal A exchange
 * started here (both sides asked; nobody served, no row, no cache entry). */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crosscheck.h"
#include "domainset.h"
#include "guardsets.h"
#include "log.h"

#include "dnscrypt.h"
#include "dnscrypt_proto.h"

struct wg_crosscheck {
	uv_loop_t *loop;                 /* borrowed */
	struct wg_upstream *local;       /* borrowed: the resolver's */
	const struct wg_cache *cache;    /* borrowed: the resolver's, read only (the
					  * A's verified mark for an AAAA) */
	struct wg_upstream *public_plain;/* owned, NULL: none */
	struct wg_dnscrypt *public_dc;   /* owned, NULL: none */
	struct wg_addr *public_addrs;    /* owned: for recording which one answered */
	size_t n_public;
	struct wg_guardsets sets;        /* owned: the WU set and what compare
					  * judges against (sets.ctx) */
	struct wg_guard_conf gconf;
	uint32_t public_wait_ms;
	int client_subnet;               /* ECS towards the local side only */
	wg_xcheck_record_cb rec;
	void *rec_arg;
	struct wg_crosscheck_stats st;
	size_t live;                     /* requests not yet freed */
	struct wg_xreq *reqs;            /* live requests (decided ones are closing) */
	int freeing;
};

struct wg_xreq {
	struct wg_crosscheck *x;         /* borrowed */
	struct wg_xreq *next, *prev;     /* x->reqs list */
	struct wg_query_info qi;
	uint8_t cache_flags;
	struct sockaddr_storage client;
	wg_xcheck_serve_cb serve;
	void *arg;
	uv_timer_t timer;
	struct wg_upstream_req *lreq;    /* borrowed while the exchange runs */
	void *preq;                      /* wg_upstream_req or wg_dnscrypt_req */
	uint8_t l_done, p_done, served, decided, early;
	int l_status, p_status;
	uint8_t *l_pkt, *p_pkt;          /* owned copies */
	size_t l_len, p_len;
	uint32_t l_lat, p_lat;
	int l_server, p_server;
	uint8_t p_auth;
	uint8_t p_aside;                 /* enum wg_public_look of the first public
					    answer, set aside while another
					    operator is asked; 0: none */
	uint64_t start_ms;
	/* the A check of an AAAA (see the top of the file) */
	uint8_t internal;                /* an A exchange started for waiters only */
	uint8_t a_tried;                 /* a_check_start ran */
	uint8_t a_wait;                  /* waiting for an A verdict */
	uint8_t a_forced;                /* public-wait ran out: judge without it */
	int8_t a_agree;                  /* 1 the A agrees, 0 not, -1 unknown */
	struct wg_xreq *a_src;           /* borrowed: the A exchange waited on */
	struct wg_xreq *a_waiters;       /* borrowed: AAAA exchanges waiting on this A */
	struct wg_xreq *a_wnext;         /* borrowed: next in a_src's a_waiters */
};

static int setup_public(struct wg_crosscheck *x, const struct wg_config *cfg, char *err,
			size_t errcap)
{
	struct wg_public_list pl;
	int rc = wg_guardsets_public(cfg, &pl, NULL, err, errcap);

	if (rc < 0 || pl.none)
		return rc;
	/* kept to name the resolver that answered in the verdict rows */
	x->public_addrs = calloc(pl.n_addrs, sizeof(*x->public_addrs));
	if (!x->public_addrs)
		return -ENOMEM;
	memcpy(x->public_addrs, pl.addrs, pl.n_addrs * sizeof(*x->public_addrs));
	x->n_public = pl.n_addrs;
	if (pl.n_stamps) {
		x->public_dc = wg_dnscrypt_new(x->loop, pl.stamps, pl.n_stamps,
					       cfg->public_timeout_ms, err, errcap);
		if (!x->public_dc)
			return -EINVAL;
		if (wg_dnscrypt_n_operators(x->public_dc) < 2)
			wg_info("guard", "the public reference is one operator: an answer of it "
					 "that looks filtered cannot be checked against another");
		return 0;
	}
	x->public_plain = wg_upstream_new(x->loop, x->public_addrs, x->n_public,
					  cfg->public_timeout_ms, 1);
	if (!x->public_plain)
		return -ENOMEM;
	wg_warn("guard", "the public reference is plain DNS: a network that intercepts port 53 "
			 "can forge it; prefer sdns:// DNSCrypt stamps");
	return 0;
}

int wg_crosscheck_new(uv_loop_t *loop, const struct wg_config *cfg, struct wg_upstream *local,
		      const struct wg_cache *cache, struct wg_crosscheck **out, char *err,
		      size_t errcap)
{
	struct wg_crosscheck *x = calloc(1, sizeof(*x));
	int rc;
	if (!x)
		return -ENOMEM;
	x->loop = loop;
	x->local = local;
	x->cache = cache;
	x->gconf.monitor = cfg->mode == WG_MODE_MONITOR;
	x->gconf.repair_ttl = cfg->repair_ttl;
	x->gconf.repair_ede = cfg->repair_ede;
	x->public_wait_ms = cfg->public_wait_ms;
	x->client_subnet = cfg->client_subnet;
	if ((rc = wg_guardsets_load(&x->sets, cfg, err, errcap)) < 0 || (rc = setup_public(x, cfg, err, errcap)) < 0) {
		wg_crosscheck_free(x, 1);
		return rc;
	}
	if (!wg_crosscheck_enabled(x))
		wg_warn("guard", "no public resolver configured: WU names are forwarded unchecked");
	*out = x;
	return 0;
}

static void xcheck_release(struct wg_crosscheck *x);

static void xreq_abort(struct wg_xreq *q);

void wg_crosscheck_free(struct wg_crosscheck *x, int now)
{
	if (!x)
		return;
	x->freeing = 1;
	if (now) {
		while (x->reqs)
			xreq_abort(x->reqs);
		/* nothing is in flight any more: close the public clients now,
		 * not from the last request's close callback, which runs after
		 * the caller's shutdown walk has closed their handles (a double
		 * uv_close aborts) */
		wg_upstream_free(x->public_plain);
		x->public_plain = NULL;
		wg_dnscrypt_free(x->public_dc);
		x->public_dc = NULL;
	}
	/* after a reload the old lists serve the exchanges still running and
	 * go with the last of them */
	if (x->live == 0)
		xcheck_release(x);
}

static void xcheck_release(struct wg_crosscheck *x)
{
	wg_upstream_free(x->public_plain);
	wg_dnscrypt_free(x->public_dc);
	wg_guardsets_clear(&x->sets);
	free(x->public_addrs);
	free(x);
}

void wg_crosscheck_set_recorder(struct wg_crosscheck *x, wg_xcheck_record_cb cb, void *arg)
{
	x->rec = cb;
	x->rec_arg = arg;
}

int wg_crosscheck_is_wu(const struct wg_crosscheck *x, const uint8_t *qname_lc)
{
	return x && wg_domainset_match_wire(x->sets.wu, qname_lc);
}

const struct wg_domainset *wg_crosscheck_wu_set(const struct wg_crosscheck *x)
{
	return x->sets.wu;
}

int wg_crosscheck_enabled(const struct wg_crosscheck *x)
{
	if (x && x->public_dc)
		return 1;
	return x && x->public_plain != NULL;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct wg_xreq *q = h->data;
	struct wg_crosscheck *x = q->x;
	free(q->l_pkt);
	free(q->p_pkt);
	free(q);
	x->live--;
	if (x->freeing && x->live == 0)
		xcheck_release(x);
}

static void xreq_free(struct wg_xreq *q)
{
	struct wg_crosscheck *x = q->x;
	if (q->prev)
		q->prev->next = q->next;
	else
		x->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	uv_close((uv_handle_t *)&q->timer, on_timer_closed);
}

static void cancel_exchanges(struct wg_xreq *q)
{
	if (q->lreq) {
		wg_upstream_cancel(q->lreq);
		q->lreq = NULL;
	}
	if (q->preq) {
		if (q->x->public_dc)
			wg_dnscrypt_cancel(q->preq);
		else
			wg_upstream_cancel(q->preq);
		q->preq = NULL;
	}
}

static void a_unwait(struct wg_xreq *q);

/* Shutdown (or an internal A check nobody waits for): nobody is answered. */
static void xreq_abort(struct wg_xreq *q)
{
	q->decided = 1;
	q->served = 1;
	uv_timer_stop(&q->timer);
	cancel_exchanges(q);
	a_unwait(q);
	for (struct wg_xreq *w = q->a_waiters; w; w = w->a_wnext) {
		w->a_src = NULL;
		w->a_wait = 0;
	}
	q->a_waiters = NULL;
	xreq_free(q);
}

/* q stops waiting for its A verdict; an internal A check left without
 * waiters is dropped. */
static void a_unwait(struct wg_xreq *q)
{
	struct wg_xreq *src = q->a_src;
	q->a_wait = 0;
	if (!src)
		return;
	q->a_src = NULL;
	for (struct wg_xreq **pp = &src->a_waiters; *pp; pp = &(*pp)->a_wnext)
		if (*pp == q) {
			*pp = q->a_wnext;
			break;
		}
	q->a_wnext = NULL;
	if (src->internal && !src->a_waiters && !src->decided)
		xreq_abort(src);
}

static void serve_once(struct wg_xreq *q, int status, const uint8_t *pkt, size_t len,
		       uint32_t ttl_cap, int ede, int verified)
{
	if (q->served || !q->serve)
		return;
	q->served = 1;
	struct wg_xcheck_answer a = {status, pkt, len, ttl_cap, ede, (uint8_t)verified};
	q->serve(q->arg, &a);
}

static enum wg_side_status side_status(int done, int status)
{
	if (!done || status == -ETIMEDOUT)
		return WG_SIDE_TIMEOUT;
	return status == 0 ? WG_SIDE_OK : WG_SIDE_ERROR;
}

static void record(struct wg_xreq *q, const struct wg_compare_result *v,
		   const struct wg_guard_decision *d, const struct wg_cache_fix *fix)
{
	struct wg_crosscheck *x = q->x;
	char lu[80] = "", pu[80] = "";
	wg_upstream_server_name(x->local, q->l_server, lu, sizeof(lu));
	if (q->p_server >= 0 && (size_t)q->p_server < x->n_public)
		wg_addr_format(&x->public_addrs[q->p_server], pu, sizeof(pu));
	struct wg_xcheck_record r = {
		.qi = &q->qi,
		.client = &q->client,
		.verdict = v,
		.decision = d,
		.local_latency_us = q->l_lat,
		.public_latency_us = q->p_lat,
		.local_upstream = lu,
		.public_upstream = pu,
		.public_authenticated = q->p_auth,
		.early = q->early,
		.cache_flags = q->cache_flags,
		.fix = *fix,
	};
	if (d->record)
		x->st.recorded++;
	if (x->rec)
		x->rec(x->rec_arg, &r);
}

static void on_wait_timeout(uv_timer_t *t);
static void decide(struct wg_xreq *q);

/* An A verdict, as the AAAA of the name reads it. */
static int a_verdict_agrees(enum wg_compare_category c)
{
	if (c == WG_CMP_MATCH || c == WG_CMP_CDN_VARIANCE)
		return 1;
	return c == WG_CMP_PUBLIC_UNAVAILABLE || c == WG_CMP_BOTH_FAIL ? -1 : 0;
}

/* The A exchange q has its verdict: hand it to the AAAA exchanges waiting. */
static void a_notify(struct wg_xreq *q, enum wg_compare_category c)
{
	struct wg_xreq *w;
	while ((w = q->a_waiters)) {
		q->a_waiters = w->a_wnext;
		w->a_wnext = NULL;
		w->a_src = NULL;
		w->a_wait = 0;
		w->a_agree = (int8_t)a_verdict_agrees(c);
		if (w->l_done && w->p_done)
			decide(w);
	}
}

static int xreq_start(struct wg_xreq *q);
static struct wg_xreq *xreq_new(struct wg_crosscheck *x, const struct wg_query_info *qi,
				uint8_t cache_flags, const struct sockaddr_storage *client);

/* q is an AAAA whose local answer is NODATA: get the A verdict of the name
 * unless the cache already says the A agrees. Joins an A exchange in flight,
 * else starts an internal one. Leaves q->a_wait 0 when there is nothing to
 * wait for (then the AAAA is judged as before: "nodata" unless verified). */
static void a_check_start(struct wg_xreq *q)
{
	struct wg_crosscheck *x = q->x;
	struct wg_cache_key ka;
	wg_cache_key_of(&q->qi, q->cache_flags, &ka);
	ka.qtype = WG_TYPE_A;
	q->a_tried = 1;
	if (x->cache && wg_cache_verified(x->cache, &ka, uv_now(x->loop)) == 1)
		return;
	struct wg_xreq *a;
	for (a = x->reqs; a; a = a->next)
		if (a->qi.qtype == WG_TYPE_A && a->qi.qclass == q->qi.qclass &&
		    a->cache_flags == q->cache_flags && !a->decided &&
		    a->qi.qname_len == q->qi.qname_len &&
		    memcmp(a->qi.qname_lc, q->qi.qname_lc, q->qi.qname_len) == 0)
			break;
	if (!a) {
		struct wg_query_info qa = q->qi;
		qa.qtype = WG_TYPE_A;
		if (!(a = xreq_new(x, &qa, q->cache_flags, &q->client)))
			return;
		a->internal = 1;
		if (xreq_start(a) < 0)
			return; /* freed by xreq_start */
	}
	q->a_src = a;
	q->a_wnext = a->a_waiters;
	a->a_waiters = q;
	q->a_wait = 1;
}

static void decide(struct wg_xreq *q)
{
	struct wg_crosscheck *x = q->x;
	struct wg_compare_input in;
	struct wg_compare_result v;
	struct wg_guard_decision d;

	if (q->decided)
		return;
	memset(&in, 0, sizeof(in));
	in.local.status = side_status(q->l_done, q->l_status);
	in.local.reply = in.local.status == WG_SIDE_OK ? q->l_pkt : NULL;
	in.local.len = q->l_len;
	in.public_.status = side_status(q->p_done, q->p_status);
	in.public_.reply = in.public_.status == WG_SIDE_OK ? q->p_pkt : NULL;
	in.public_.len = q->p_len;
	in.qname = q->qi.qname_lc;
	in.qtype = q->qi.qtype;
	/* A and AAAA are separate exchanges: for an AAAA, the A of the same
	 * name agrees when the cache holds it marked verified (below) */
	in.a_agree = q->a_agree;
	if (q->qi.qtype == WG_TYPE_AAAA && in.a_agree < 0 && x->cache) {
		struct wg_cache_key ka;
		wg_cache_key_of(&q->qi, q->cache_flags, &ka);
		ka.qtype = WG_TYPE_A;
		in.a_agree = wg_cache_verified(x->cache, &ka, uv_now(x->loop));
	}
	wg_compare(&in, &x->sets.ctx, &v);
	/* nodata for an AAAA: first find out whether the A agrees (started
	 * here when both answers came before the check could start) */
	if (v.category == WG_CMP_NODATA && q->qi.qtype == WG_TYPE_AAAA && !q->internal &&
	    !q->a_tried && !q->a_forced)
		a_check_start(q);
	if (v.category == WG_CMP_NODATA && q->a_wait && !q->a_forced) {
		/* it would be nodata, but the A verdict is still out: wait for
		 * it within public-wait (the timer may not run yet when the
		 * public answer came first) */
		if (!uv_is_active((uv_handle_t *)&q->timer))
			uv_timer_start(&q->timer, on_wait_timeout, x->public_wait_ms, 0);
		return;
	}
	q->decided = 1;
	uv_timer_stop(&q->timer);
	cancel_exchanges(q);
	a_unwait(q);
	if (q->internal) {
		if (wg_log_level_current >= WG_LOG_DEBUG) {
			char name[1024];
			wg_wire_name_to_str(q->qi.qname, name, sizeof(name));
			wg_debug("guard", "%s type 1 (A check for its AAAA): %s", name,
				 wg_compare_category_name(v.category));
		}
		a_notify(q, v.category);
		xreq_free(q);
		return;
	}
	wg_guard_decide(&v, &x->gconf, &d);

	x->st.guarded++;
	x->st.by_category[v.category < WG_CMP__COUNT ? v.category : 0]++;
	if (v.category == WG_CMP_MATCH)
		x->st.matched++;
	else if (v.category == WG_CMP_CDN_VARIANCE)
		x->st.cdn_variance++;
	else if (v.category == WG_CMP_PUBLIC_UNAVAILABLE || v.category == WG_CMP_BOTH_FAIL)
		x->st.public_unavailable++;
	if (d.repaired)
		x->st.repaired++;
	if (d.would_repair)
		x->st.would_repair++;

	if (wg_log_level_current >= WG_LOG_DEBUG) {
		char name[1024];
		wg_wire_name_to_str(q->qi.qname, name, sizeof(name));
		wg_debug("guard", "%s type %u: %s (%s), %s%s", name, q->qi.qtype,
			 wg_compare_category_name(v.category), wg_compare_severity_name(v.severity),
			 wg_guard_action_name(d.action), q->early ? " (local served early)" : "");
	}

	/* what is served now, or, when the local answer went out early, what
	 * the cache must hold instead: reported with the verdict, applied by
	 * the resolver (the cache's only writer) */
	int local_ok = q->l_done && q->l_status == 0;
	int verified = d.verified && local_ok;
	struct wg_cache_fix fix = {NULL, 0, 0, -1, 0};
	if (q->served) {
		if (d.late == WG_GUARD_LATE_REPAIR) {
			fix = (struct wg_cache_fix){q->p_pkt, q->p_len, d.ttl_cap, d.late_ede, 0};
			x->st.late_repairs++;
		} else if (d.late == WG_GUARD_LATE_CAP && local_ok) {
			fix = (struct wg_cache_fix){q->l_pkt, q->l_len, d.ttl_cap, d.late_ede, 0};
		}
		fix.verified = (uint8_t)verified;
	}
	switch (d.action) {
	case WG_GUARD_SERVE_PUBLIC:
		serve_once(q, 0, q->p_pkt, q->p_len, d.ttl_cap, d.ede, 0);
		break;
	case WG_GUARD_SERVE_STALE:
		serve_once(q, -EAGAIN, NULL, 0, 0, d.ede, 0);
		break;
	case WG_GUARD_SERVE_LOCAL:
	default:
		/* an unverified local answer (public-unavailable) comes with a
		 * TTL cap so it is checked again soon, also when served early */
		if (local_ok)
			serve_once(q, 0, q->l_pkt, q->l_len, d.ttl_cap, -1, verified);
		else
			serve_once(q, q->l_done ? q->l_status : -ETIMEDOUT, NULL, 0, 0, -1, 0);
		break;
	}
	record(q, &v, &d, &fix);
	if (q->qi.qtype == WG_TYPE_A)
		a_notify(q, v.category);
	xreq_free(q);
}

static void on_wait_timeout(uv_timer_t *t)
{
	struct wg_xreq *q = t->data;
	q->a_forced = 1; /* the A verdict is not waited for any longer */
	/* whichever side is still out counts as timed out; a public answer
	 * set aside is judged as it is when the other operator is late */
	if (!q->l_done) {
		q->l_done = 1;
		q->l_status = -ETIMEDOUT;
	}
	if (!q->p_done) {
		q->p_done = 1;
		if (!q->p_aside)
			q->p_status = -ETIMEDOUT;
	}
	decide(q);
}

static int keep_reply(uint8_t **dst, size_t *dlen, const struct wg_upstream_reply *rep)
{
	if (rep->status != 0)
		return rep->status;
	*dst = malloc(rep->len);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, rep->pkt, rep->len);
	*dlen = rep->len;
	return 0;
}

static void on_local(void *arg, const struct wg_upstream_reply *rep)
{
	struct wg_xreq *q = arg;
	struct wg_crosscheck *x = q->x;
	q->lreq = NULL;
	q->l_done = 1;
	q->l_status = keep_reply(&q->l_pkt, &q->l_len, rep);
	q->l_lat = rep->latency_us;
	q->l_server = rep->server;
	/* an AAAA NODATA: check the A in parallel with the public AAAA (with
	 * the public answer already in, decide() starts it only if needed) */
	if (q->qi.qtype == WG_TYPE_AAAA && q->l_status == 0 && !q->internal && !q->p_done &&
	    wg_compare_reply_is_nodata(q->l_pkt, q->l_len, q->qi.qname_lc, WG_TYPE_AAAA))
		a_check_start(q);
	if (q->p_done) {
		decide(q);
		return;
	}
	if (q->l_status == 0 &&
	    wg_guard_local_looks_clean(q->l_pkt, q->l_len, q->qi.qname_lc, q->qi.qtype, &x->sets.ctx)) {
		/* the latency rule: nothing suspicious, serve now, judge later */
		if (!q->internal) {
			q->early = 1;
			x->st.early_served++;
			serve_once(q, 0, q->l_pkt, q->l_len, 0, -1, 0);
		}
		return;
	}
	/* suspicious: wait for the public answer, but not forever */
	uv_timer_start(&q->timer, on_wait_timeout, x->public_wait_ms, 0);
}

static void on_public(void *arg, const struct wg_upstream_reply *rep);

/* The answer of another operator, asked because the first looked filtered:
 * it replaces the first unless it looks filtered too (a NEGATIVE one only
 * replaces a FILTERED one); a failed exchange leaves the first. */
static void second_opinion(struct wg_xreq *q, const struct wg_upstream_reply *rep)
{
	struct wg_crosscheck *x = q->x;
	int look = rep->status == 0 ? wg_compare_public_suspect(rep->pkt, rep->len,
								q->qi.qname_lc, q->qi.qtype,
								&x->sets.ctx)
				    : -1;
	uint8_t *pkt = NULL;
	size_t len = 0;

	if ((look == WG_PUB_CLEAN || (look == WG_PUB_NEGATIVE && q->p_aside == WG_PUB_FILTERED)) &&
	    keep_reply(&pkt, &len, rep) == 0) {
		free(q->p_pkt);
		q->p_pkt = pkt;
		q->p_len = len;
		q->p_lat += rep->latency_us;
		q->p_server = rep->server;
		q->p_auth = rep->authenticated;
		x->st.public_set_aside++;
	}
	if (wg_log_level_current >= WG_LOG_DEBUG) {
		char name[1024];
		wg_wire_name_to_str(q->qi.qname, name, sizeof(name));
		wg_debug("guard", "%s type %u: public answer looked %s, another operator %s", name,
			 q->qi.qtype, q->p_aside == WG_PUB_FILTERED ? "filtered" : "negative",
			 pkt ? "answered: used" : "did not help: first kept");
	}
	q->p_aside = 0;
}

static void on_public(void *arg, const struct wg_upstream_reply *rep)
{
	struct wg_xreq *q = arg;
	struct wg_crosscheck *x = q->x;
	q->preq = NULL;
	if (q->p_aside) {
		second_opinion(q, rep);
	} else {
		q->p_status = keep_reply(&q->p_pkt, &q->p_len, rep);
		q->p_lat = rep->latency_us;
		q->p_server = rep->server;
		q->p_auth = rep->authenticated;
		/* a filtered-looking reference is never the truth while another
		 * operator may answer: set it aside and ask that one */
		int look = q->p_status == 0 && x->public_dc
				   ? wg_compare_public_suspect(q->p_pkt, q->p_len, q->qi.qname_lc,
							       q->qi.qtype, &x->sets.ctx)
				   : WG_PUB_CLEAN;
		if (look != WG_PUB_CLEAN &&
		    wg_dnscrypt_query_other(x->public_dc, &q->qi, rep->server, on_public, q,
					    (struct wg_dnscrypt_req **)&q->preq) == 0) {
			q->p_aside = (uint8_t)look;
			x->st.public_second++;
			return;
		}
		q->preq = NULL;
	}
	q->p_done = 1;
	if (q->l_done) {
		decide(q);
		return;
	}
	/* in repair mode a local upstream that stays silent (an RPZ drop) is
	 * given public-wait more, then judged local-timeout; monitor mode
	 * never changes what clients get, so it waits for the local side */
	if (!x->gconf.monitor && !q->served)
		uv_timer_start(&q->timer, on_wait_timeout, x->public_wait_ms, 0);
}

static struct wg_xreq *xreq_new(struct wg_crosscheck *x, const struct wg_query_info *qi,
				uint8_t cache_flags, const struct sockaddr_storage *client)
{
	struct wg_xreq *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->x = x;
	q->qi = *qi;
	q->cache_flags = cache_flags;
	q->client = *client;
	q->l_server = q->p_server = -1;
	q->a_agree = -1;
	q->start_ms = uv_now(x->loop);
	uv_timer_init(x->loop, &q->timer);
	q->timer.data = q;
	x->live++;
	q->next = x->reqs;
	if (x->reqs)
		x->reqs->prev = q;
	x->reqs = q;
	return q;
}

/* Ask both sides. Returns 0, or the local upstream's error (q freed). */
static int xreq_start(struct wg_xreq *q)
{
	struct wg_crosscheck *x = q->x;
	/* [upstream] client-subnet: the local side learns the client's
	 * address (a Pi-hole behind filters per client); the public side,
	 * asked below, never does */
	struct wg_ecs ecs;
	int with_ecs = x->client_subnet && wg_ecs_for_query(&q->client, &q->qi, &ecs) == 0;
	int rc = wg_upstream_query_ecs(x->local, &q->qi, with_ecs ? &ecs : NULL, on_local, q,
				       &q->lreq);
	if (rc < 0) {
		q->decided = 1;
		xreq_free(q);
		return rc;
	}
	if (x->public_dc)
		rc = wg_dnscrypt_query(x->public_dc, &q->qi, on_public, q,
				       (struct wg_dnscrypt_req **)&q->preq);
	else
		rc = wg_upstream_query(x->public_plain, &q->qi, on_public, q,
				       (struct wg_upstream_req **)&q->preq);
	if (rc < 0) {
		/* no public exchange: judged public-unavailable when local ends */
		q->p_done = 1;
		q->p_status = rc;
		q->preq = NULL;
	}
	return 0;
}

int wg_crosscheck_query(struct wg_crosscheck *x, const struct wg_query_info *qi,
			uint8_t cache_flags, const struct sockaddr_storage *client,
			wg_xcheck_serve_cb serve, void *arg)
{
	struct wg_xreq *q = xreq_new(x, qi, cache_flags, client);
	if (!q)
		return -ENOMEM;
	q->serve = serve;
	q->arg = arg;
	return xreq_start(q);
}

void wg_crosscheck_get_stats(const struct wg_crosscheck *x, struct wg_crosscheck_stats *s)
{
	*s = x->st;
}

void wg_crosscheck_carry_stats(struct wg_crosscheck *to, const struct wg_crosscheck *from)
{
	to->st = from->st;
}

void wg_crosscheck_public_each(const struct wg_crosscheck *x, wg_xcheck_public_cb cb, void *arg)
{
	char name[160], state[200];
	if (x->public_dc) {
		for (size_t i = 0; i < wg_dnscrypt_n_servers(x->public_dc); i++) {
			struct wg_dnscrypt_server_info in;
			if (wg_dnscrypt_server_info(x->public_dc, i, &in) < 0)
				continue;
			if (in.have_cert) {
				char until[40];
				time_t t = (time_t)in.ts_end;
				struct tm tm;
				gmtime_r(&t, &tm);
				strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
				snprintf(state, sizeof(state), "certificate serial %u valid until %s%s",
					 (unsigned)in.serial, until,
					 in.last_fetch_failed ? " (last re-check failed)" : "");
			} else {
				snprintf(state, sizeof(state), "no certificate (%s)",
					 in.fetching ? "fetching" :
					 in.last_fetch_failed ? "last fetch failed" : "not fetched");
			}
			cb(arg, in.label, "dnscrypt", state);
		}
		return;
	}
	for (size_t i = 0; x->public_plain && i < x->n_public; i++) {
		struct wg_upstream_server_stats ss;
		wg_addr_format(&x->public_addrs[i], name, sizeof(name));
		if (wg_upstream_get_server_stats(x->public_plain, i, &ss) == 0 && ss.fails_in_row)
			snprintf(state, sizeof(state), "plain DNS, no certificate; %u tries failed "
							"since its last reply", (unsigned)ss.fails_in_row);
		else
			snprintf(state, sizeof(state), "plain DNS, no certificate");
		cb(arg, name, "plain", state);
	}
}

const struct wg_upstream *wg_crosscheck_public_plain(const struct wg_crosscheck *x)
{
	return x->public_plain;
}

const struct wg_dnscrypt *wg_crosscheck_public_dnscrypt(const struct wg_crosscheck *x)
{
	return x->public_dc;
}

