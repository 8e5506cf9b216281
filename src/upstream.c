/* upstream.c: plain DNS exchanges with failover, see upstream.h.
 *
 * Each exchange owns one unconnected UDP socket bound to port 0, so the
 * kernel picks a random source port per exchange; the query ID comes from
 * libsodium's randombytes. A reply is accepted only from an address and port
 * we sent to during this exchange, with the ID used for that send and our
 * question. Retries move to the next server with a fresh ID; replies to an
 * earlier try still count (a slow server is not a wrong one). TC=1 restarts
 * the exchange over TCP to the server that truncated.
 *
 * Exchange structs are recycled through a free list, so after warm-up a miss
 * costs no allocation beyond libuv's own. A struct goes back on the list
 * only after all of its handles have been closed (libuv's rule). */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "log.h"
#include "upstream.h"

#define MAX_TRIES 8
#define TCP_BUF_MAX (2 + WG_PKT_MAX)

struct wg_upstream_req {
	struct wg_upstream *u;          /* borrowed: the owner */
	struct wg_upstream_req *next;   /* free list / pending list link */
	struct wg_upstream_req *prev;
	uv_udp_t udp;
	uv_timer_t timer;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	int open_handles;               /* closes still outstanding */
	int udp_open, tcp_open, timer_open;
	int done;                       /* callback delivered or cancelled */
	int on_free_list;
	struct wg_query_info qi;
	wg_upstream_cb cb;
	void *arg;
	uint64_t start_us;
	int tries;
	uint16_t ids[MAX_TRIES];
	struct wg_addr addrs[MAX_TRIES];/* where each try went */
	int server_idx[MAX_TRIES];
	int bad_replies;
	int tcp_server;                 /* index into addrs of the TCP peer */
	uint16_t tcp_id;
	uint8_t *tcp_buf;               /* owned: malloc'd on first TCP use */
	size_t tcp_len;
	uint8_t query[WG_HDR_LEN + WG_NAME_MAX + 4 + WG_OPT_LEN + 2];
	size_t query_len;
};

struct wg_upstream {
	uv_loop_t *loop;                /* borrowed */
	struct wg_addr *servers;        /* owned */
	size_t n;
	uint32_t timeout_ms;
	uint32_t retries;
	size_t preferred;               /* the server that last answered */
	struct wg_upstream_req *free_list;
	struct wg_upstream_req pending; /* sentinel of a circular list */
	size_t n_pending;
	size_t n_closing;               /* finished requests whose handles are closing */
	int freeing;                    /* wg_upstream_free ran: the last close frees u */
	struct wg_upstream_stats st;
	uint8_t rbuf[WG_PKT_MAX];       /* shared UDP receive buffer: one loop thread */
};

static uint64_t now_us(const struct wg_upstream *u)
{
	return uv_hrtime() / 1000;
}

static uint16_t random_id(void)
{
	return (uint16_t)randombytes_uniform(65536);
}

struct wg_upstream *wg_upstream_new(uv_loop_t *loop, const struct wg_addr *servers, size_t n,
				    uint32_t timeout_ms, uint32_t retries)
{
	struct wg_upstream *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->loop = loop;
	u->pending.next = u->pending.prev = &u->pending;
	if (wg_upstream_set_servers(u, servers, n, timeout_ms, retries) < 0) {
		free(u);
		return NULL;
	}
	return u;
}

int wg_upstream_set_servers(struct wg_upstream *u, const struct wg_addr *servers, size_t n,
			    uint32_t timeout_ms, uint32_t retries)
{
	struct wg_addr *copy = NULL;
	if (n) {
		copy = calloc(n, sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, servers, n * sizeof(*copy));
	}
	free(u->servers);
	u->servers = copy;
	u->n = n;
	u->timeout_ms = timeout_ms ? timeout_ms : 1000;
	u->retries = retries >= MAX_TRIES ? MAX_TRIES - 1 : retries;
	u->preferred = 0;
	return 0;
}

size_t wg_upstream_pending(const struct wg_upstream *u)
{
	return u->n_pending;
}

void wg_upstream_server_name(const struct wg_upstream *u, int idx, char *buf, size_t cap)
{
	if (idx < 0 || (size_t)idx >= u->n) {
		if (cap)
			buf[0] = 0;
		return;
	}
	wg_addr_format(&u->servers[idx], buf, cap);
}

void wg_upstream_get_stats(const struct wg_upstream *u, struct wg_upstream_stats *s)
{
	*s = u->st;
}

static void req_release(struct wg_upstream_req *r)
{
	struct wg_upstream *u = r->u;
	if (u->freeing) {
		free(r->tcp_buf);
		free(r);
		if (u->n_closing == 0) {
			free(u->servers);
			free(u);
		}
		return;
	}
	r->on_free_list = 1;
	r->next = u->free_list;
	u->free_list = r;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct wg_upstream_req *r = h->data;
	if (--r->open_handles == 0) {
		r->u->n_closing--;
		req_release(r);
	}
}

/* Take r off the pending list and close its handles; it is recycled once
 * the last close callback has run. */
static void req_finish(struct wg_upstream_req *r)
{
	struct wg_upstream *u = r->u;
	r->done = 1;
	r->prev->next = r->next;
	r->next->prev = r->prev;
	u->n_pending--;
	r->open_handles = 0;
	if (r->udp_open) {
		r->open_handles++;
		r->udp_open = 0;
		uv_close((uv_handle_t *)&r->udp, on_handle_closed);
	}
	if (r->tcp_open) {
		r->open_handles++;
		r->tcp_open = 0;
		uv_close((uv_handle_t *)&r->tcp, on_handle_closed);
	}
	if (r->timer_open) {
		r->open_handles++;
		r->timer_open = 0;
		uv_close((uv_handle_t *)&r->timer, on_handle_closed);
	}
	if (r->open_handles == 0)
		req_release(r);
	else
		u->n_closing++;
}

static void deliver(struct wg_upstream_req *r, int status, const uint8_t *pkt, size_t len,
		    int server, int tcp)
{
	struct wg_upstream_reply rep = {
		.status = status,
		.pkt = pkt,
		.len = len,
		.server = server,
		.latency_us = (uint32_t)(now_us(r->u) - r->start_us),
		.tcp = (uint8_t)tcp,
		.authenticated = 0,
	};
	if (status == 0) {
		r->u->st.replies++;
		if (server >= 0)
			r->u->preferred = (size_t)server;
	} else {
		r->u->st.failures++;
	}
	wg_upstream_cb cb = r->cb;
	void *arg = r->arg;
	req_finish(r);
	cb(arg, &rep);
}

static int send_try(struct wg_upstream_req *r);
static void start_tcp(struct wg_upstream_req *r, int try_idx);

static void on_timeout(uv_timer_t *t)
{
	struct wg_upstream_req *r = t->data;
	struct wg_upstream *u = r->u;
	u->st.timeouts++;
	if (r->tries < (int)u->retries + 1 && r->tries < MAX_TRIES && u->n > 0) {
		if (send_try(r) == 0)
			return;
	}
	deliver(r, r->bad_replies ? -EBADMSG : -ETIMEDOUT, NULL, 0, -1, 0);
}

/* Which try, if any, does a reply from addr with this ID belong to? */
static int match_try(const struct wg_upstream_req *r, const struct sockaddr *addr, uint16_t id)
{
	struct wg_addr from;
	memset(&from, 0, sizeof(from));
	memcpy(&from.ss, addr,
	       addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	for (int i = 0; i < r->tries; i++)
		if (r->ids[i] == id && wg_addr_equal(&from, &r->addrs[i]))
			return i;
	return -1;
}

/* A reply is usable as an answer unless it is a SERVFAIL or REFUSED while an
 * untried server remains: then the next server is asked at once. */
static int want_failover(const struct wg_upstream_req *r, const uint8_t *pkt)
{
	int rc = WG_RCODE(wg_get16(pkt + 2));
	if (rc != WG_RCODE_SERVFAIL && rc != WG_RCODE_REFUSED)
		return 0;
	return r->u->n > 1 && (size_t)r->tries < r->u->n && r->tries < (int)r->u->retries + 1;
}

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wg_upstream_req *r = h->data;
	buf->base = (char *)r->u->rbuf;
	buf->len = sizeof(r->u->rbuf);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
			const struct sockaddr *addr, unsigned flags)
{
	struct wg_upstream_req *r = h->data;
	if (r->done || nread <= 0 || !addr)
		return;
	const uint8_t *pkt = (const uint8_t *)buf->base;
	size_t len = (size_t)nread;
	if (len < WG_HDR_LEN) {
		r->bad_replies++;
		r->u->st.bad_replies++;
		return;
	}
	int t = match_try(r, addr, wg_get16(pkt));
	if (t < 0 || wg_wire_reply_matches(pkt, len, r->ids[t], &r->qi) < 0) {
		/* spoofed, stray or malformed: ignore and keep waiting */
		r->bad_replies++;
		r->u->st.bad_replies++;
		return;
	}
	if (wg_get16(pkt + 2) & WG_F_TC) {
		r->u->st.tcp_retries++;
		uv_udp_recv_stop(&r->udp);
		start_tcp(r, t);
		return;
	}
	if (want_failover(r, pkt)) {
		uv_timer_stop(&r->timer);
		if (send_try(r) == 0)
			return;
	}
	deliver(r, 0, pkt, len, r->server_idx[t], 0);
}

/* Send the next try: next server in rotation, fresh ID. */
static int send_try(struct wg_upstream_req *r)
{
	struct wg_upstream *u = r->u;
	int i = r->tries;
	size_t sidx = (u->preferred + (size_t)i) % u->n;
	uint16_t id = random_id();

	r->ids[i] = id;
	r->addrs[i] = u->servers[sidx];
	r->server_idx[i] = (int)sidx;
	r->tries++;
	wg_put16(r->query, id);
	uv_buf_t b = uv_buf_init((char *)r->query, (unsigned)r->query_len);
	int rc = uv_udp_try_send(&r->udp, &b, 1, (const struct sockaddr *)&r->addrs[i].ss);
	u->st.sent++;
	if (rc < 0)
		wg_debug("upstream", "send failed: %s", uv_strerror(rc));
	/* even when the send failed (e.g. ENETUNREACH), let the timer drive
	 * the next try so that a dead route behaves like a dead server */
	uv_timer_start(&r->timer, on_timeout, u->timeout_ms, 0);
	return 0;
}

static void on_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wg_upstream_req *r = h->data;
	buf->base = (char *)r->tcp_buf + r->tcp_len;
	buf->len = TCP_BUF_MAX - r->tcp_len;
}

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct wg_upstream_req *r = s->data;
	if (r->done)
		return;
	if (nread < 0) {
		deliver(r, -ECONNRESET, NULL, 0, -1, 1);
		return;
	}
	r->tcp_len += (size_t)nread;
	if (r->tcp_len < 2)
		return;
	size_t want = wg_get16(r->tcp_buf);
	if (r->tcp_len < want + 2) {
		if (r->tcp_len >= TCP_BUF_MAX)
			deliver(r, -EBADMSG, NULL, 0, -1, 1);
		return;
	}
	const uint8_t *pkt = r->tcp_buf + 2;
	if (wg_wire_reply_matches(pkt, want, r->tcp_id, &r->qi) < 0) {
		r->u->st.bad_replies++;
		deliver(r, -EBADMSG, NULL, 0, -1, 1);
		return;
	}
	deliver(r, 0, pkt, want, r->server_idx[r->tcp_server], 1);
}

static void on_tcp_written(uv_write_t *w, int status)
{
	struct wg_upstream_req *r = w->data;
	if (status < 0 && !r->done)
		deliver(r, -ECONNRESET, NULL, 0, -1, 1);
}

static void on_tcp_connect(uv_connect_t *c, int status)
{
	struct wg_upstream_req *r = c->data;
	if (r->done)
		return;
	if (status < 0) {
		deliver(r, status == UV_ECONNREFUSED ? -ECONNREFUSED : -ECONNRESET, NULL, 0, -1, 1);
		return;
	}
	r->tcp_id = random_id();
	/* length prefix + the query, in tcp_buf's tail which reading never reaches */
	uint8_t *out = r->tcp_buf + TCP_BUF_MAX;
	wg_put16(out, (uint16_t)r->query_len);
	memcpy(out + 2, r->query, r->query_len);
	wg_put16(out + 2, r->tcp_id);
	uv_buf_t b = uv_buf_init((char *)out, (unsigned)(r->query_len + 2));
	r->write.data = r;
	if (uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, on_tcp_written) < 0 ||
	    uv_read_start((uv_stream_t *)&r->tcp, on_tcp_alloc, on_tcp_read) < 0)
		deliver(r, -ECONNRESET, NULL, 0, -1, 1);
}

static void start_tcp(struct wg_upstream_req *r, int try_idx)
{
	struct wg_upstream *u = r->u;
	r->tcp_server = try_idx;
	if (!r->tcp_buf)
		r->tcp_buf = malloc(TCP_BUF_MAX + sizeof(r->query) + 2);
	r->tcp_len = 0;
	if (!r->tcp_buf || uv_tcp_init(u->loop, &r->tcp) < 0) {
		deliver(r, -ENOMEM, NULL, 0, -1, 1);
		return;
	}
	r->tcp.data = r;
	r->tcp_open = 1;
	r->connect.data = r;
	uv_timer_start(&r->timer, on_timeout, u->timeout_ms * 2, 0);
	/* no further UDP tries after truncation: a timeout now ends it */
	r->tries = MAX_TRIES;
	if (uv_tcp_connect(&r->connect, &r->tcp, (const struct sockaddr *)&r->addrs[try_idx].ss,
			   on_tcp_connect) < 0)
		deliver(r, -ECONNREFUSED, NULL, 0, -1, 1);
}

int wg_upstream_query(struct wg_upstream *u, const struct wg_query_info *qi, wg_upstream_cb cb,
		      void *arg, struct wg_upstream_req **out)
{
	if (u->n == 0)
		return -ENOENT;
	struct wg_upstream_req *r = u->free_list;
	if (r) {
		u->free_list = r->next;
	} else {
		r = malloc(sizeof(*r));
		if (!r)
			return -ENOMEM;
		r->tcp_buf = NULL;
	}
	uint8_t *keep_buf = r->tcp_buf;
	memset(r, 0, offsetof(struct wg_upstream_req, qi));
	r->tcp_buf = keep_buf;
	r->u = u;
	r->qi = *qi;
	r->cb = cb;
	r->arg = arg;
	r->tries = 0;
	r->bad_replies = 0;
	r->tcp_len = 0;
	int n = wg_wire_build_query(r->query, sizeof(r->query), qi, 0);
	if (n < 0)
		goto fail;
	r->query_len = (size_t)n;

	struct sockaddr_storage any;
	memset(&any, 0, sizeof(any));
	int fam = u->servers[u->preferred % u->n].ss.ss_family;
	/* one socket per family in the list would be nicer; a mixed list
	 * uses an IPv6 socket, which also reaches IPv4 via mapped addresses
	 * only when the servers are written as ::ffff:a.b.c.d */
	any.ss_family = (sa_family_t)fam;
	if (uv_udp_init(u->loop, &r->udp) < 0)
		goto fail;
	r->udp.data = r;
	r->udp_open = 1;
	if (uv_timer_init(u->loop, &r->timer) < 0)
		goto fail_handles;
	r->timer.data = r;
	r->timer_open = 1;
	int rc = uv_udp_bind(&r->udp, (const struct sockaddr *)&any, 0);
	if (rc == 0)
		rc = uv_udp_recv_start(&r->udp, on_udp_alloc, on_udp_recv);
	if (rc < 0)
		goto fail_handles;
	/* link into pending before the first send */
	r->next = u->pending.next;
	r->prev = &u->pending;
	u->pending.next->prev = r;
	u->pending.next = r;
	u->n_pending++;
	r->start_us = now_us(u);
	send_try(r);
	if (out)
		*out = r;
	return 0;

fail_handles:
	/* not on the pending list yet: close what was opened, no callback */
	r->done = 1;
	r->prev = r->next = r;
	u->n_pending++;
	req_finish(r);
	return -ENOMEM;
fail:
	r->next = u->free_list;
	u->free_list = r;
	return -ENOSPC;
}

void wg_upstream_cancel(struct wg_upstream_req *r)
{
	if (!r || r->done)
		return;
	req_finish(r);
}

void wg_upstream_free(struct wg_upstream *u)
{
	if (!u)
		return;
	while (u->free_list) {
		struct wg_upstream_req *r = u->free_list;
		u->free_list = r->next;
		free(r->tcp_buf);
		free(r);
	}
	while (u->pending.next != &u->pending)
		req_finish(u->pending.next);
	u->freeing = 1;
	/* requests whose handles are still closing free themselves, and the
	 * last of them frees u */
	if (u->n_closing == 0) {
		free(u->servers);
		free(u);
	}
}
