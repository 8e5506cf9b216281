/* dnscrypt.c: see dnscrypt.h.
 *
 * One exchange slot (struct wg_dnscrypt_req) carries a query through its
 * tries: UDP to a server, maybe TCP to the same server, then the next
 * server. Sockets are fresh per try; because libuv frees a handle only in
 * its close callback, moving from one try to the next goes through
 * close_sockets(next_action): the action runs once every socket of the slot
 * is closed. Certificate fetches use the same machinery with one slot
 * embedded in each server. wg_dnscrypt_free closes every handle and the
 * last close callback frees the memory. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "dnscrypt.h"
#include "dnscrypt_proto.h"
#include "log.h"

#define TAG "dnscrypt"
#define POOL_SIZE 256              /* concurrent exchanges */
#define IN_CAP 4096                /* UDP replies: never longer than our query */
#define OUT_CAP 1536               /* 2-byte frame + sealed query */
#define TCP_CAP (2 + 65535)
#define UDP_MAX_QUERY 1216         /* cap of the growing minimum query length, 19 * 64 */
#define RECHECK_MS 3600000u        /* 1 h, as the spec asks */
#define RETRY_MIN_MS 2000u         /* first retry after a failed fetch */

const char *const wg_dnscrypt_default_stamps[] = {
	"sdns://AQYAAAAAAAAADTkuOS45LjEyOjg0NDMgZ8hHuMh1jNEgJFVDvnVnRt803x2EwAuMRwNo34Idhj4ZMi5kbnNjcnlwdC1jZXJ0LnF1YWQ5Lm5ldA",
	"sdns://AQYAAAAAAAAAEzE0OS4xMTIuMTEyLjEyOjg0NDMgZ8hHuMh1jNEgJFVDvnVnRt803x2EwAuMRwNo34Idhj4ZMi5kbnNjcnlwdC1jZXJ0LnF1YWQ5Lm5ldA",
	/* a second operator: one outage or filter must not leave WU names unverified */
	"sdns://AQcAAAAAAAAAEjk0LjE0MC4xNC4xNDA6NTQ0MyC16ETWuDo-PhJo62gfvqcN48X6aNvWiBQdvy7AZrLa-iUyLmRuc2NyeXB0LnVuZmlsdGVyZWQubnMxLmFkZ3VhcmQuY29t",
};
const size_t wg_dnscrypt_n_default_stamps =
	sizeof(wg_dnscrypt_default_stamps) / sizeof(wg_dnscrypt_default_stamps[0]);

enum xkind { X_QUERY, X_CERT };
enum xstate { X_FREE, X_WAIT, X_UDP, X_TCP, X_DONE };
enum xnext { N_NONE, N_UDP, N_TCP, N_RELEASE };

struct wg_dnscrypt_req {
	struct wg_dnscrypt *d;         /* borrowed */
	enum xkind kind;
	enum xstate state;
	enum xnext next;               /* what to do once the sockets are closed */
	int server;                    /* index of the server of this try */
	int tries;                     /* tries started */
	int max_tries;
	int avoid;                     /* server whose operator is not asked, -1: none */
	int last_err;
	int cancelled;
	wg_upstream_cb cb;
	void *arg;
	struct wg_query_info qi;       /* copy of the caller's question */
	uint16_t id;
	uint8_t nonce[WG_DC_HALF_NONCE];
	struct wg_dc_session sess;     /* copy: survives a rotation mid-flight */
	uint64_t t_start;              /* uv_hrtime, ns */
	uv_timer_t timer;              /* lives as long as the slot */
	uv_udp_t udp;
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_write_t wr;
	uint8_t udp_open, tcp_open;
	int nclosing;
	size_t out_len;
	uint8_t out[OUT_CAP];
	uint8_t *tcpbuf;               /* owned: allocated on a TCP retry */
	size_t tcp_have;
	uint8_t in[IN_CAP];
	struct wg_dnscrypt_req *next_free;
};

struct dc_server {
	struct wg_dc_stamp stamp;
	char label[128];               /* "addr (provider)" for logs */
	struct wg_dc_session sess;     /* current certificate */
	uint8_t have;
	uint8_t fetching;
	uint8_t failed;                /* the last fetch gave no certificate */
	size_t min_udp;                /* the spec's <min-query-len>, grows on TC */
	uint32_t retry_ms;
	uv_timer_t refresh;
	struct wg_dnscrypt_req fetch;
};

struct wg_dnscrypt {
	uv_loop_t *loop;               /* borrowed */
	struct dc_server *servers;     /* owned, n */
	size_t n;
	uint32_t timeout_ms;
	uint32_t recheck_ms;
	int cur;                       /* preferred server: the last that answered */
	uint8_t pk[WG_DC_KEY_LEN], sk[WG_DC_KEY_LEN]; /* client key pair, per process */
	struct wg_dnscrypt_req *pool;  /* owned, POOL_SIZE */
	struct wg_dnscrypt_req *free_list;
	int freeing;
	long nhandles;                 /* open handles; memory goes when 0 while freeing */
	struct wg_dnscrypt_stats st;
	uint8_t sbuf[WG_PKT_MAX];      /* a reply without its records of another class */
};

static void send_udp(struct wg_dnscrypt_req *r);
static void start_tcp(struct wg_dnscrypt_req *r);
static void try_failed(struct wg_dnscrypt_req *r, int err);
static void cert_start(struct wg_dnscrypt *d, struct dc_server *s);

/* --- handle life cycle --- */

static void maybe_free_all(struct wg_dnscrypt *d)
{
	if (!d->freeing || d->nhandles > 0)
		return;
	for (size_t i = 0; i < POOL_SIZE; i++)
		free(d->pool[i].tcpbuf);
	for (size_t i = 0; i < d->n; i++)
		free(d->servers[i].fetch.tcpbuf);
	sodium_memzero(d->sk, sizeof(d->sk));
	free(d->pool);
	free(d->servers);
	free(d);
}

static void d_close_cb(uv_handle_t *h)
{
	struct wg_dnscrypt *d = h->data;
	d->nhandles--;
	maybe_free_all(d);
}

static void release(struct wg_dnscrypt_req *r)
{
	struct wg_dnscrypt *d = r->d;
	free(r->tcpbuf);
	r->tcpbuf = NULL;
	r->state = X_FREE;
	if (r->kind == X_QUERY) {
		r->next_free = d->free_list;
		d->free_list = r;
	}
}

static void run_next(struct wg_dnscrypt_req *r)
{
	enum xnext next = r->next;
	r->next = N_NONE;
	if (r->d->freeing)
		return;
	switch (next) {
	case N_UDP:
		send_udp(r);
		break;
	case N_TCP:
		start_tcp(r);
		break;
	case N_RELEASE:
		release(r);
		break;
	case N_NONE:
		break;
	}
}

static void req_close_cb(uv_handle_t *h)
{
	struct wg_dnscrypt_req *r = h->data;
	struct wg_dnscrypt *d = r->d;
	d->nhandles--;
	if (--r->nclosing == 0)
		run_next(r);
	maybe_free_all(d);
}

/* Close the slot's sockets, then do next. */
static void close_sockets(struct wg_dnscrypt_req *r, enum xnext next)
{
	r->next = next;
	if (r->udp_open) {
		r->udp_open = 0;
		r->nclosing++;
		uv_close((uv_handle_t *)&r->udp, req_close_cb);
	}
	if (r->tcp_open) {
		r->tcp_open = 0;
		r->nclosing++;
		uv_close((uv_handle_t *)&r->tcp, req_close_cb);
	}
	if (r->nclosing == 0)
		run_next(r);
}

/* --- server choice --- */

static int server_usable(struct wg_dnscrypt *d, struct dc_server *s, uint32_t now)
{
	if (!s->have)
		return 0;
	if (s->sess.cert.ts_end < now) {
		wg_warn(TAG, "%s: certificate serial %u expired, fetching a new one", s->label,
			s->sess.cert.serial);
		s->have = 0;
		if (!s->fetching)
			cert_start(d, s);
		return 0;
	}
	return 1;
}

/* Do servers a and b belong to one operator (the same provider key)? */
static int same_operator(const struct wg_dnscrypt *d, int a, int b)
{
	return memcmp(d->servers[a].stamp.provider_pk, d->servers[b].stamp.provider_pk,
		      WG_DC_KEY_LEN) == 0;
}

/* First usable server from index start, not of avoid's operator (avoid -1:
 * any), or -1. */
static int pick_server(struct wg_dnscrypt *d, int start, int avoid)
{
	uint32_t now = (uint32_t)time(NULL);
	for (size_t i = 0; i < d->n; i++) {
		int k = (int)(((size_t)start + i) % d->n);
		if (avoid >= 0 && same_operator(d, k, avoid))
			continue;
		if (server_usable(d, &d->servers[k], now))
			return k;
	}
	return -1;
}

static int any_fetching(const struct wg_dnscrypt *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->servers[i].fetching)
			return 1;
	return 0;
}

/* --- completion --- */

static void finish(struct wg_dnscrypt_req *r, int status, const uint8_t *pkt, size_t len, int tcp)
{
	struct wg_upstream_reply rep;
	uv_timer_stop(&r->timer);
	r->state = X_DONE;
	if (!r->cancelled && r->cb) {
		/* as for plain DNS (upstream.c): records of another class
		 * than the question's are never cached or compared */
		unsigned dropped;
		int n = status == 0 ? wg_wire_drop_other_class(pkt, len, r->d->sbuf,
							       sizeof(r->d->sbuf), &dropped)
				    : 0;
		if (n > 0) {
			pkt = r->d->sbuf;
			len = (size_t)n;
			r->d->st.other_class += dropped;
		} else if (n < 0) {
			status = -EBADMSG;
			pkt = NULL;
			len = 0;
			r->d->st.bad_replies++;
		}
		memset(&rep, 0, sizeof(rep));
		rep.status = status;
		rep.pkt = pkt;
		rep.len = len;
		rep.server = status == 0 ? r->server : -1;
		rep.latency_us = (uint32_t)((uv_hrtime() - r->t_start) / 1000);
		rep.tcp = (uint8_t)tcp;
		rep.authenticated = status == 0;
		r->cb(r->arg, &rep);
	}
	close_sockets(r, N_RELEASE);
}

/* No fetch is running: fail the waiters that no server can take any more. */
static void fail_waiters(struct wg_dnscrypt *d, int status)
{
	for (size_t i = 0; i < POOL_SIZE; i++)
		if (d->pool[i].state == X_WAIT && pick_server(d, 0, d->pool[i].avoid) < 0)
			finish(&d->pool[i], status, NULL, 0, 0);
}

static void kick_waiters(struct wg_dnscrypt *d)
{
	for (size_t i = 0; i < POOL_SIZE; i++) {
		struct wg_dnscrypt_req *r = &d->pool[i];
		if (r->state != X_WAIT)
			continue;
		int server = pick_server(d, d->cur, r->avoid);
		if (server < 0)
			continue;
		uv_timer_stop(&r->timer);
		r->server = server;
		send_udp(r);
	}
}

/* --- certificates --- */

static void cert_schedule(struct wg_dnscrypt *d, struct dc_server *s, uint32_t ms);

static void cert_done(struct wg_dnscrypt_req *r, const uint8_t *pkt, size_t len)
{
	struct wg_dnscrypt *d = r->d;
	struct dc_server *s = &d->servers[r->server];
	struct wg_dc_cert certs[WG_DC_CERT_MAX];
	size_t good = 0, clock = 0;
	char err[160] = "no reply";
	uint32_t now = (uint32_t)time(NULL);
	int ok = 0;

	uv_timer_stop(&r->timer);
	r->state = X_DONE;
	s->fetching = 0;
	d->st.cert_fetches++;
	if (pkt && wg_dc_certs_from_reply(pkt, len, s->stamp.provider_pk, now, certs, WG_DC_CERT_MAX,
					  &good, &clock, err, sizeof(err)) == 0 &&
	    good > 0) {
		int best = wg_dc_cert_pick(certs, good);
		struct wg_dc_cert *c = &certs[best];
		if (s->have && s->sess.cert.serial == c->serial &&
		    s->sess.cert.es_version == c->es_version &&
		    memcmp(s->sess.cert.resolver_pk, c->resolver_pk, WG_DC_KEY_LEN) == 0) {
			ok = 1; /* unchanged */
		} else {
			struct wg_dc_session ns;
			if (wg_dc_session_init(&ns, c, d->pk, d->sk) == 0) {
				if (s->have) {
					d->st.cert_rotations++;
					wg_info(TAG, "%s: certificate serial %u -> %u (es-version %u)",
						s->label, s->sess.cert.serial, c->serial, c->es_version);
				} else {
					wg_info(TAG, "%s: certificate serial %u, es-version %u, valid %u..%u",
						s->label, c->serial, c->es_version, c->ts_start,
						c->ts_end);
				}
				s->sess = ns;
				s->have = 1;
				ok = 1;
			} else {
				snprintf(err, sizeof(err), "key agreement failed (weak resolver key)");
			}
		}
	}
	if (clock && !good)
		wg_warn(TAG,
			"%s: %zu well-signed certificate(s) but none valid at local time %u: "
			"is the clock off?",
			s->label, clock, now);
	if (ok) {
		s->failed = 0;
		s->retry_ms = RETRY_MIN_MS;
		cert_schedule(d, s, d->recheck_ms);
		close_sockets(r, N_NONE);
		kick_waiters(d);
		return;
	}
	d->st.cert_fetch_failures++;
	s->failed = 1;
	wg_warn(TAG, "%s: no usable certificate: %s%s", s->label, err,
		s->have ? " (keeping the current one)" : "");
	cert_schedule(d, s, s->retry_ms);
	if (s->retry_ms < d->recheck_ms / 2)
		s->retry_ms *= 2;
	close_sockets(r, N_NONE);
	if (!any_fetching(d))
		fail_waiters(d, -ENOKEY);
}

static void refresh_cb(uv_timer_t *t)
{
	struct dc_server *s = t->data;
	struct wg_dnscrypt *d = s->fetch.d;
	if (!s->fetching && !d->freeing)
		cert_start(d, s);
}

static void cert_schedule(struct wg_dnscrypt *d, struct dc_server *s, uint32_t ms)
{
	uv_timer_start(&s->refresh, refresh_cb, ms, 0);
}

static void cert_start(struct wg_dnscrypt *d, struct dc_server *s)
{
	struct wg_dnscrypt_req *r = &s->fetch;
	uint16_t id;

	if (r->state != X_FREE && r->state != X_DONE)
		return;
	if (r->nclosing > 0) { /* previous sockets still closing: try shortly */
		cert_schedule(d, s, 10);
		return;
	}
	randombytes_buf(&id, sizeof(id));
	int n = wg_dc_cert_query(s->stamp.provider_name, id, r->out + 2, OUT_CAP - 2);
	if (n < 0 || wg_wire_parse_query(r->out + 2, (size_t)n, &r->qi) < 0) {
		wg_err(TAG, "%s: cannot build the certificate query", s->label);
		return;
	}
	wg_put16(r->out, (uint16_t)n);
	r->out_len = (size_t)n + 2;
	r->id = id;
	r->tries = 0;
	r->max_tries = 1;
	r->t_start = uv_hrtime();
	s->fetching = 1;
	send_udp(r);
}

/* --- exchange mechanics --- */

static void timer_cb(uv_timer_t *t)
{
	struct wg_dnscrypt_req *r = t->data;
	if (r->state == X_WAIT) {
		finish(r, any_fetching(r->d) ? -ETIMEDOUT : -ENOKEY, NULL, 0, 0);
		return;
	}
	r->d->st.timeouts++;
	try_failed(r, -ETIMEDOUT);
}

/* A try ended without an accepted reply: go on or give up. */
static void try_failed(struct wg_dnscrypt_req *r, int err)
{
	struct wg_dnscrypt *d = r->d;
	uv_timer_stop(&r->timer);
	r->last_err = err;
	if (r->kind == X_CERT) {
		/* certificates: UDP first, then TCP on failure or timeout */
		if (r->state == X_UDP) {
			r->state = X_TCP;
			close_sockets(r, N_TCP);
		} else {
			cert_done(r, NULL, 0);
		}
		return;
	}
	if (r->tries >= r->max_tries) {
		finish(r, r->last_err, NULL, 0, 0);
		return;
	}
	int next = pick_server(d, r->server + 1, r->avoid);
	if (next < 0) {
		finish(r, r->last_err, NULL, 0, 0);
		return;
	}
	r->server = next;
	r->state = X_UDP;
	close_sockets(r, N_UDP);
}

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wg_dnscrypt_req *r = h->data;
	buf->base = (char *)r->in;
	buf->len = sizeof(r->in);
}

/* A plain or opened reply: check that it answers our question. 0 accepted. */
static int check_reply(struct wg_dnscrypt_req *r, const uint8_t *pkt, size_t len)
{
	if (wg_wire_reply_matches(pkt, len, r->id, &r->qi) < 0) {
		r->d->st.bad_replies++;
		return -EBADMSG;
	}
	return 0;
}

static void on_reply(struct wg_dnscrypt_req *r, uint8_t *pkt, size_t len, int tcp)
{
	struct wg_dnscrypt *d = r->d;
	const uint8_t *msg = pkt;
	int ml = (int)len;

	if (r->kind == X_QUERY) {
		ml = wg_dc_open(&r->sess, r->nonce, pkt, len, &msg);
		if (ml < 0) {
			d->st.bad_replies++;
			wg_debug(TAG, "%s: discarded a reply that does not open",
				 d->servers[r->server].label);
			if (tcp)
				try_failed(r, -EBADMSG);
			return;
		}
	}
	if (check_reply(r, msg, (size_t)ml) < 0) {
		if (tcp)
			try_failed(r, -EBADMSG);
		return;
	}
	if (!tcp && (wg_get16(msg + 2) & WG_F_TC)) {
		struct dc_server *s = &d->servers[r->server];
		if (r->kind == X_QUERY && s->min_udp + WG_DC_BLOCK <= UDP_MAX_QUERY)
			s->min_udp += WG_DC_BLOCK;
		d->st.tcp_retries++;
		uv_timer_stop(&r->timer);
		r->state = X_TCP;
		close_sockets(r, N_TCP);
		return;
	}
	if (r->kind == X_CERT) {
		cert_done(r, msg, (size_t)ml);
		return;
	}
	d->st.replies++;
	/* a second opinion does not move the preferred server: filtering is
	 * per name, a timeout is what says a server is gone */
	if (r->avoid < 0)
		d->cur = r->server;
	finish(r, 0, msg, (size_t)ml, tcp);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
		     unsigned flags)
{
	struct wg_dnscrypt_req *r = h->data;
	if (r->state != X_UDP || r->d->freeing)
		return;
	if (nread == 0 && !addr)
		return;
	if (nread < 0) {
		try_failed(r, nread == UV_ECONNREFUSED ? -ECONNREFUSED : -ETIMEDOUT);
		return;
	}
	if (flags & UV_UDP_PARTIAL) {
		r->d->st.bad_replies++;
		return;
	}
	on_reply(r, r->in, (size_t)nread, 0);
}

static const struct sockaddr *srv_addr(struct wg_dnscrypt_req *r)
{
	return (const struct sockaddr *)&r->d->servers[r->server].stamp.addr.ss;
}

/* Seal the question for this try's server; tcp selects the padding rule. */
static int build_query(struct wg_dnscrypt_req *r, int tcp)
{
	struct dc_server *s = &r->d->servers[r->server];
	uint8_t inner[WG_HDR_LEN + WG_NAME_MAX + 4 + WG_OPT_LEN];
	uint32_t rnd;

	r->sess = s->sess;
	randombytes_buf(&r->id, sizeof(r->id));
	randombytes_buf(r->nonce, sizeof(r->nonce));
	int n = wg_wire_build_query(inner, sizeof(inner), &r->qi, r->id);
	if (n < 0)
		return n;
	size_t padded;
	if (tcp) {
		randombytes_buf(&rnd, sizeof(rnd));
		padded = wg_dc_padded_len_tcp((size_t)n, rnd);
	} else {
		padded = wg_dc_padded_len_udp((size_t)n, s->min_udp);
	}
	int sl = wg_dc_seal(&r->sess, r->nonce, inner, (size_t)n, padded, r->out + 2, OUT_CAP - 2);
	if (sl < 0)
		return sl;
	wg_put16(r->out, (uint16_t)sl);
	r->out_len = (size_t)sl + 2;
	return 0;
}

static void send_udp(struct wg_dnscrypt_req *r)
{
	struct wg_dnscrypt *d = r->d;
	int rc;

	r->state = X_UDP;
	r->tries++;
	if (r->kind == X_QUERY && build_query(r, 0) < 0) {
		finish(r, -EINVAL, NULL, 0, 0);
		return;
	}
	uv_timer_start(&r->timer, timer_cb, d->timeout_ms, 0);
	rc = uv_udp_init(d->loop, &r->udp);
	if (rc < 0) {
		try_failed(r, rc);
		return;
	}
	d->nhandles++;
	r->udp.data = r;
	r->udp_open = 1;
	uv_buf_t b = uv_buf_init((char *)r->out + 2, (unsigned)(r->out_len - 2));
	/* connect: the kernel then drops datagrams from any other address */
	if ((rc = uv_udp_connect(&r->udp, srv_addr(r))) < 0 ||
	    (rc = uv_udp_recv_start(&r->udp, udp_alloc, udp_recv)) < 0 ||
	    (rc = uv_udp_try_send(&r->udp, &b, 1, NULL)) < 0) {
		wg_debug(TAG, "%s: UDP send failed: %s", d->servers[r->server].label, uv_strerror(rc));
		try_failed(r, rc == UV_ECONNREFUSED ? -ECONNREFUSED : -ETIMEDOUT);
		return;
	}
	if (r->kind == X_QUERY)
		d->st.sent++;
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wg_dnscrypt_req *r = h->data;
	buf->base = (char *)r->tcpbuf + r->tcp_have;
	buf->len = TCP_CAP - r->tcp_have;
}

static void tcp_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct wg_dnscrypt_req *r = h->data;
	if (r->state != X_TCP || r->d->freeing)
		return;
	if (nread < 0) {
		try_failed(r, nread == UV_ECONNREFUSED ? -ECONNREFUSED : -ETIMEDOUT);
		return;
	}
	r->tcp_have += (size_t)nread;
	if (r->tcp_have < 2)
		return;
	size_t want = wg_get16(r->tcpbuf);
	if (r->tcp_have < 2 + want)
		return;
	uv_read_stop(h);
	on_reply(r, r->tcpbuf + 2, want, 1);
}

static void tcp_written(uv_write_t *w, int status)
{
	struct wg_dnscrypt_req *r = w->data;
	if (status < 0 && status != UV_ECANCELED && r->state == X_TCP && !r->d->freeing)
		try_failed(r, -ECONNREFUSED);
}

static void tcp_connected(uv_connect_t *c, int status)
{
	struct wg_dnscrypt_req *r = c->data;
	if (status == UV_ECANCELED || r->state != X_TCP || r->d->freeing)
		return;
	if (status < 0) {
		try_failed(r, status == UV_ECONNREFUSED ? -ECONNREFUSED : -ETIMEDOUT);
		return;
	}
	uv_buf_t b = uv_buf_init((char *)r->out, (unsigned)r->out_len);
	r->wr.data = r;
	int rc = uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, tcp_written);
	if (rc == 0)
		rc = uv_read_start((uv_stream_t *)&r->tcp, tcp_alloc, tcp_read);
	if (rc < 0) {
		try_failed(r, -ECONNREFUSED);
		return;
	}
	if (r->kind == X_QUERY)
		r->d->st.sent++;
}

static void start_tcp(struct wg_dnscrypt_req *r)
{
	struct wg_dnscrypt *d = r->d;
	r->state = X_TCP;
	if (!r->tcpbuf && !(r->tcpbuf = malloc(TCP_CAP))) {
		try_failed(r, -ENOMEM);
		return;
	}
	r->tcp_have = 0;
	/* a TCP retry is a new query: new nonce, TCP padding */
	if (r->kind == X_QUERY && build_query(r, 1) < 0) {
		finish(r, -EINVAL, NULL, 0, 0);
		return;
	}
	uv_timer_start(&r->timer, timer_cb, d->timeout_ms, 0);
	int rc = uv_tcp_init(d->loop, &r->tcp);
	if (rc < 0) {
		try_failed(r, -ENOMEM);
		return;
	}
	d->nhandles++;
	r->tcp.data = r;
	r->tcp_open = 1;
	r->conn.data = r;
	rc = uv_tcp_connect(&r->conn, &r->tcp, srv_addr(r), tcp_connected);
	if (rc < 0)
		try_failed(r, -ECONNREFUSED);
}

/* --- public API --- */

static void init_slot(struct wg_dnscrypt *d, struct wg_dnscrypt_req *r, enum xkind kind)
{
	r->d = d;
	r->kind = kind;
	r->state = X_FREE;
	uv_timer_init(d->loop, &r->timer);
	r->timer.data = r;
	d->nhandles++;
}

struct wg_dnscrypt *wg_dnscrypt_new(uv_loop_t *loop, const char **stamps, size_t n,
				    uint32_t timeout_ms, char *err, size_t errcap)
{
	struct wg_dnscrypt *d;
	char why[160];

	if (n == 0) {
		snprintf(err, errcap, "no DNSCrypt stamp given");
		return NULL;
	}
	if (sodium_init() < 0) {
		snprintf(err, errcap, "libsodium failed to initialise");
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->servers = calloc(n, sizeof(*d->servers))) ||
	    !(d->pool = calloc(POOL_SIZE, sizeof(*d->pool)))) {
		if (d)
			free(d->servers);
		free(d);
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	d->n = n;
	for (size_t i = 0; i < n; i++) {
		struct dc_server *s = &d->servers[i];
		if (wg_dc_stamp_parse(stamps[i], &s->stamp, why, sizeof(why)) < 0) {
			snprintf(err, errcap, "stamp %zu: %s", i + 1, why);
			free(d->pool);
			free(d->servers);
			free(d);
			return NULL;
		}
		char a[64];
		wg_addr_format(&s->stamp.addr, a, sizeof(a));
		snprintf(s->label, sizeof(s->label), "%s (%.40s)", a, s->stamp.provider_name);
		s->min_udp = WG_DC_UDP_MIN;
		s->retry_ms = RETRY_MIN_MS;
	}
	d->loop = loop;
	d->timeout_ms = timeout_ms ? timeout_ms : 1000;
	d->recheck_ms = RECHECK_MS;
	crypto_box_keypair(d->pk, d->sk);
	for (size_t i = 0; i < POOL_SIZE; i++) {
		init_slot(d, &d->pool[i], X_QUERY);
		d->pool[i].next_free = d->free_list;
		d->free_list = &d->pool[i];
	}
	for (size_t i = 0; i < n; i++) {
		struct dc_server *s = &d->servers[i];
		init_slot(d, &s->fetch, X_CERT);
		s->fetch.server = (int)i;
		uv_timer_init(loop, &s->refresh);
		s->refresh.data = s;
		d->nhandles++;
		cert_start(d, s);
	}
	return d;
}

void wg_dnscrypt_free(struct wg_dnscrypt *d)
{
	if (!d)
		return;
	d->freeing = 1;
	for (size_t i = 0; i < POOL_SIZE; i++) {
		struct wg_dnscrypt_req *r = &d->pool[i];
		r->cancelled = 1;
		close_sockets(r, N_NONE);
		uv_close((uv_handle_t *)&r->timer, req_close_cb);
		r->nclosing++;
	}
	for (size_t i = 0; i < d->n; i++) {
		struct dc_server *s = &d->servers[i];
		close_sockets(&s->fetch, N_NONE);
		uv_close((uv_handle_t *)&s->fetch.timer, req_close_cb);
		s->fetch.nclosing++;
		s->refresh.data = d;
		uv_close((uv_handle_t *)&s->refresh, d_close_cb);
	}
}

static int query_start(struct wg_dnscrypt *d, const struct wg_query_info *qi, int avoid,
		       wg_upstream_cb cb, void *arg, struct wg_dnscrypt_req **req)
{
	struct wg_dnscrypt_req *r = d->free_list;
	int server = pick_server(d, d->cur, avoid);
	int others = 0;

	for (size_t i = 0; i < d->n; i++)
		others += avoid < 0 || !same_operator(d, (int)i, avoid);
	if (others == 0)
		return -ENOENT;
	if (server < 0 && !any_fetching(d))
		return -ENOKEY;
	if (!r)
		return -ENOSPC;
	d->free_list = r->next_free;
	r->qi = *qi;
	r->cb = cb;
	r->arg = arg;
	r->cancelled = 0;
	r->tries = 0;
	r->max_tries = others < 2 ? 2 : others;
	r->avoid = avoid;
	r->last_err = -ETIMEDOUT;
	r->t_start = uv_hrtime();
	r->server = server;
	if (req)
		*req = r;
	if (server < 0) {
		r->state = X_WAIT;
		uv_timer_start(&r->timer, timer_cb, (uint64_t)d->timeout_ms * (uint64_t)r->max_tries,
			       0);
		return 0;
	}
	send_udp(r);
	return 0;
}

int wg_dnscrypt_query(struct wg_dnscrypt *d, const struct wg_query_info *qi, wg_upstream_cb cb,
		      void *arg, struct wg_dnscrypt_req **req)
{
	return query_start(d, qi, -1, cb, arg, req);
}

int wg_dnscrypt_query_other(struct wg_dnscrypt *d, const struct wg_query_info *qi, int avoid,
			    wg_upstream_cb cb, void *arg, struct wg_dnscrypt_req **req)
{
	if (avoid < 0 || (size_t)avoid >= d->n)
		return -EINVAL;
	return query_start(d, qi, avoid, cb, arg, req);
}

int wg_dnscrypt_n_operators(const struct wg_dnscrypt *d)
{
	int n = 0;
	for (size_t i = 0; i < d->n; i++) {
		size_t k = 0;
		while (k < i && !same_operator(d, (int)k, (int)i))
			k++;
		n += k == i;
	}
	return n;
}

void wg_dnscrypt_cancel(struct wg_dnscrypt_req *r)
{
	if (!r || r->state == X_FREE || r->state == X_DONE)
		return;
	r->cancelled = 1;
	uv_timer_stop(&r->timer);
	r->state = X_DONE;
	close_sockets(r, N_RELEASE);
}

void wg_dnscrypt_get_stats(const struct wg_dnscrypt *d, struct wg_dnscrypt_stats *s)
{
	*s = d->st;
}

int wg_dnscrypt_ready(const struct wg_dnscrypt *d)
{
	int k = 0;
	for (size_t i = 0; i < d->n; i++)
		k += d->servers[i].have;
	return k;
}

uint32_t wg_dnscrypt_cert_serial(const struct wg_dnscrypt *d, size_t i)
{
	return i < d->n && d->servers[i].have ? d->servers[i].sess.cert.serial : 0;
}

size_t wg_dnscrypt_n_servers(const struct wg_dnscrypt *d)
{
	return d->n;
}

int wg_dnscrypt_server_info(const struct wg_dnscrypt *d, size_t i,
			    struct wg_dnscrypt_server_info *out)
{
	if (i >= d->n)
		return -ENOENT;
	const struct dc_server *s = &d->servers[i];
	memset(out, 0, sizeof(*out));
	out->label = s->label;
	out->have_cert = s->have;
	out->fetching = s->fetching;
	out->last_fetch_failed = s->failed;
	if (s->have) {
		out->serial = s->sess.cert.serial;
		out->ts_start = s->sess.cert.ts_start;
		out->ts_end = s->sess.cert.ts_end;
	}
	return 0;
}

void wg_dnscrypt_set_recheck(struct wg_dnscrypt *d, uint32_t ms)
{
	d->recheck_ms = ms ? ms : RECHECK_MS;
	for (size_t i = 0; i < d->n; i++)
		if (d->servers[i].have && !d->servers[i].fetching)
			cert_schedule(d, &d->servers[i], d->recheck_ms);
}
