/* listen.c: see listen.h.
 *
 * UDP datagrams are read into one shared buffer (a single loop thread reads
 * them one at a time) and handed straight to the query callback, so the UDP
 * path allocates nothing. TCP connections carry RFC 7766 framing; several
 * queries may be in flight per connection and are answered in completion
 * order. A connection is freed only when it is closed and no query still
 * holds it. libuv itself keeps a reserve descriptor to shed connections on
 * EMFILE; on top of that we accept-and-close beyond tcp-max-clients so a
 * flood cannot starve the UDP side of descriptors. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "listen.h"
#include "log.h"
#include "wire.h"

#define TCP_FRAME_MAX (2 + WG_PKT_MAX)
/* recvmmsg/sendmmsg batch: libuv hands out one 64 KiB chunk per datagram */
#define UDP_BATCH 16
#define UDP_CHUNK 65536
#define UDP_SLOT 1280 /* bytes: every UDP answer we build fits (1232 + OPT) */

struct wg_conn {
	struct wg_listen *l;      /* borrowed: owner */
	uv_tcp_t tcp;
	uv_timer_t idle;
	struct wg_conn *next, *prev; /* list of open connections */
	int refs;                 /* 1 while open + one per held query */
	int closing;
	int handles_open;
	uint8_t *buf;             /* owned: frame assembly buffer */
	size_t len, cap;
	struct sockaddr_storage peer;
};

struct wg_udp_sock {
	uv_udp_t udp;
	struct wg_listen *l;
};

struct wg_tcp_sock {
	uv_tcp_t tcp;
	struct wg_listen *l;
};

struct wg_listen {
	uv_loop_t *loop;               /* borrowed */
	wg_listen_query_cb cb;
	void *arg;
	struct wg_listen_params p;
	struct wg_udp_sock *udp;       /* owned array */
	struct wg_tcp_sock *tcp;       /* owned array */
	size_t n;
	size_t n_udp_open, n_tcp_open;
	struct wg_conn conns;          /* sentinel */
	size_t closing_handles;
	int closed;
	struct wg_listen_stats st;
	/* replies to one recvmmsg batch go out in one sendmmsg */
	uv_udp_t *batch_sock;          /* borrowed: the socket being drained, NULL: none */
	unsigned nbatch;
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage baddr[UDP_BATCH];
	uint8_t bbuf[UDP_BATCH][UDP_SLOT];
	uint8_t *rbuf;                 /* owned: UDP_BATCH chunks; pages touched only
					  where datagrams land */
};

struct wg_tcp_write {
	uv_write_t req;
	struct wg_conn *conn;
	uint8_t data[];
};

static void listen_maybe_free(struct wg_listen *l)
{
	if (l->closed && l->closing_handles == 0 && l->conns.next == &l->conns) {
		free(l->rbuf);
		free(l->udp);
		free(l->tcp);
		free(l);
	}
}

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wg_udp_sock *s = h->data;
	buf->base = (char *)s->l->rbuf;
	buf->len = UDP_BATCH * UDP_CHUNK;
}

static void udp_flush(struct wg_listen *l)
{
	unsigned n = l->nbatch, done = 0;
	uv_os_fd_t fd;
	l->nbatch = 0;
	if (!n || !l->batch_sock || uv_fileno((uv_handle_t *)l->batch_sock, &fd) < 0) {
		l->st.send_errors += n;
		l->batch_sock = NULL;
		return;
	}
	while (done < n) {
		int rc = sendmmsg(fd, l->msgs + done, n - done, MSG_DONTWAIT);
		if (rc <= 0) {
			/* a full socket buffer drops the rest, as try_send would */
			l->st.send_errors += n - done;
			break;
		}
		done += (unsigned)rc;
	}
	l->batch_sock = NULL;
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
			const struct sockaddr *addr, unsigned flags)
{
	struct wg_udp_sock *s = h->data;
	struct wg_listen *l = s->l;
	/* the end of a recvmmsg batch (or nothing more to read) */
	if ((flags & UV_UDP_MMSG_FREE) || nread == 0) {
		udp_flush(l);
		return;
	}
	if (nread < 0 || !addr || (flags & UV_UDP_PARTIAL))
		return;
	if (l->batch_sock && l->batch_sock != h)
		udp_flush(l);
	l->batch_sock = (flags & UV_UDP_MMSG_CHUNK) ? h : NULL;
	struct wg_client c;
	c.udp = h;
	c.conn = NULL;
	memcpy(&c.addr, addr,
	       addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	l->st.udp_in++;
	l->cb(l->arg, &c, (const uint8_t *)buf->base, (size_t)nread);
}

static void conn_unref(struct wg_conn *c)
{
	if (--c->refs > 0 || c->handles_open > 0)
		return;
	struct wg_listen *l = c->l;
	c->prev->next = c->next;
	c->next->prev = c->prev;
	free(c->buf);
	free(c);
	listen_maybe_free(l);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct wg_conn *c = h->data;
	c->handles_open--;
	if (c->handles_open == 0) {
		c->l->st.tcp_clients--;
		c->refs++; /* conn_unref below balances this */
		conn_unref(c);
	}
}

static void conn_close(struct wg_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->idle, on_conn_handle_closed);
	c->refs--; /* the open reference */
}

static void on_idle(uv_timer_t *t)
{
	struct wg_conn *c = t->data;
	c->l->st.tcp_idle_closed++;
	conn_close(c);
}

static void on_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wg_conn *c = h->data;
	if (c->cap - c->len < 4096 && c->cap < TCP_FRAME_MAX) {
		size_t ncap = c->cap ? c->cap * 2 : 4096;
		if (ncap > TCP_FRAME_MAX)
			ncap = TCP_FRAME_MAX;
		uint8_t *nb = realloc(c->buf, ncap);
		if (nb) {
			c->buf = nb;
			c->cap = ncap;
		}
	}
	buf->base = (char *)c->buf + c->len;
	buf->len = c->cap - c->len;
}

static void on_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct wg_conn *c = s->data;
	struct wg_listen *l = c->l;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	c->len += (size_t)nread;
	uv_timer_again(&c->idle);
	size_t off = 0;
	/* hold the connection while dispatching: a callback may close it */
	c->refs++;
	while (!c->closing && c->len - off >= 2) {
		size_t flen = wg_get16(c->buf + off);
		if (c->len - off < 2 + flen)
			break;
		struct wg_client cl;
		cl.udp = NULL;
		cl.conn = c;
		cl.addr = c->peer;
		l->st.tcp_in++;
		if (flen > 0)
			l->cb(l->arg, &cl, c->buf + off + 2, flen);
		off += 2 + flen;
	}
	if (off > 0 && !c->closing) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
	if (!c->buf || c->len == c->cap)
		conn_close(c); /* out of memory for the frame */
	conn_unref(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct wg_tcp_sock *s = server->data;
	struct wg_listen *l = s->l;
	if (status < 0) {
		wg_warn("listen", "accept: %s", uv_strerror(status));
		return;
	}
	struct wg_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->l = l;
	uv_tcp_init(l->loop, &c->tcp);
	uv_timer_init(l->loop, &c->idle);
	c->tcp.data = c;
	c->idle.data = c;
	c->handles_open = 2;
	c->refs = 1;
	c->next = l->conns.next;
	c->prev = &l->conns;
	l->conns.next->prev = c;
	l->conns.next = c;
	l->st.tcp_clients++;
	int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
	if (rc < 0 || l->st.tcp_clients > l->p.tcp_max_clients) {
		l->st.tcp_rejected++;
		conn_close(c);
		return;
	}
	l->st.tcp_accepted++;
	int plen = sizeof(c->peer);
	uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &plen);
	uv_tcp_nodelay(&c->tcp, 1);
	uv_timer_start(&c->idle, on_idle, l->p.tcp_idle_ms, l->p.tcp_idle_ms);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_conn_alloc, on_conn_read) < 0)
		conn_close(c);
}

static void on_sock_closed(uv_handle_t *h)
{
	struct wg_listen *l = h->data;
	l->closing_handles--;
	listen_maybe_free(l);
}

int wg_listen_open(uv_loop_t *loop, const struct wg_addr *addrs, size_t n,
		   const struct wg_listen_params *p, wg_listen_query_cb cb, void *arg,
		   struct wg_listen **out, char *err, size_t errcap)
{
	struct wg_listen *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->cb = cb;
	l->arg = arg;
	l->p = *p;
	l->conns.next = l->conns.prev = &l->conns;
	l->rbuf = malloc((size_t)UDP_BATCH * UDP_CHUNK);
	l->udp = calloc(n ? n : 1, sizeof(*l->udp));
	l->tcp = calloc(n ? n : 1, sizeof(*l->tcp));
	l->n = n;
	if (!l->udp || !l->tcp || !l->rbuf) {
		free(l->rbuf);
		free(l->udp);
		free(l->tcp);
		free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		char as[80];
		int rc;
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[i].ss;
		unsigned v6only = sa->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0;
		wg_addr_format(&addrs[i], as, sizeof(as));

		l->udp[i].l = l;
		uv_udp_init_ex(loop, &l->udp[i].udp, (unsigned)sa->sa_family | UV_UDP_RECVMMSG);
		l->udp[i].udp.data = &l->udp[i];
		l->n_udp_open++;
		rc = uv_udp_bind(&l->udp[i].udp, sa, v6only | UV_UDP_REUSEADDR);
		if (rc == 0)
			rc = uv_udp_recv_start(&l->udp[i].udp, on_udp_alloc, on_udp_recv);
		if (rc < 0) {
			snprintf(err, errcap, "%s (udp): %s", as, uv_strerror(rc));
			wg_listen_close(l);
			return rc;
		}
		/* a bigger receive buffer rides out bursts (dnsperf, storms) */
		int rcv = 4 << 20;
		uv_recv_buffer_size((uv_handle_t *)&l->udp[i].udp, &rcv);

		l->tcp[i].l = l;
		uv_tcp_init(loop, &l->tcp[i].tcp);
		l->tcp[i].tcp.data = &l->tcp[i];
		l->n_tcp_open++;
		rc = uv_tcp_bind(&l->tcp[i].tcp, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&l->tcp[i].tcp, 128, on_connection);
		if (rc < 0) {
			snprintf(err, errcap, "%s (tcp): %s", as, uv_strerror(rc));
			wg_listen_close(l);
			return rc;
		}
	}
	*out = l;
	return 0;
}

void wg_listen_set_params(struct wg_listen *l, const struct wg_listen_params *p)
{
	l->p = *p;
}

void wg_listen_close(struct wg_listen *l)
{
	if (!l)
		return;
	l->closed = 1;
	for (size_t i = 0; i < l->n_udp_open; i++) {
		l->udp[i].udp.data = l;
		l->closing_handles++;
		uv_close((uv_handle_t *)&l->udp[i].udp, on_sock_closed);
	}
	for (size_t i = 0; i < l->n_tcp_open; i++) {
		l->tcp[i].tcp.data = l;
		l->closing_handles++;
		uv_close((uv_handle_t *)&l->tcp[i].tcp, on_sock_closed);
	}
	l->n_udp_open = l->n_tcp_open = 0;
	for (struct wg_conn *c = l->conns.next; c != &l->conns;) {
		struct wg_conn *next = c->next;
		conn_close(c);
		c = next;
	}
	listen_maybe_free(l);
}

static void on_tcp_written(uv_write_t *w, int status)
{
	struct wg_tcp_write *tw = (struct wg_tcp_write *)w;
	struct wg_conn *c = tw->conn;
	if (status < 0)
		c->l->st.send_errors++;
	free(tw);
	conn_unref(c);
}

int wg_listen_send(struct wg_listen *l, const struct wg_client *c, const uint8_t *pkt, size_t len)
{
	if (c->udp && c->udp == l->batch_sock && len <= UDP_SLOT) {
		if (l->nbatch == UDP_BATCH) {
			uv_udp_t *sock = l->batch_sock;
			udp_flush(l);
			l->batch_sock = sock;
		}
		unsigned i = l->nbatch++;
		memcpy(l->bbuf[i], pkt, len);
		l->iov[i].iov_base = l->bbuf[i];
		l->iov[i].iov_len = len;
		socklen_t alen = c->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							       : sizeof(struct sockaddr_in);
		memcpy(&l->baddr[i], &c->addr, alen);
		memset(&l->msgs[i], 0, sizeof(l->msgs[i]));
		l->msgs[i].msg_hdr.msg_name = &l->baddr[i];
		l->msgs[i].msg_hdr.msg_namelen = alen;
		l->msgs[i].msg_hdr.msg_iov = &l->iov[i];
		l->msgs[i].msg_hdr.msg_iovlen = 1;
		return 0;
	}
	if (c->udp) {
		uv_buf_t b = uv_buf_init((char *)pkt, (unsigned)len);
		int rc = uv_udp_try_send(c->udp, &b, 1, (const struct sockaddr *)&c->addr);
		if (rc < 0) {
			l->st.send_errors++;
			return rc;
		}
		return 0;
	}
	struct wg_conn *conn = c->conn;
	if (!conn || conn->closing)
		return -EPIPE;
	struct wg_tcp_write *tw = malloc(sizeof(*tw) + 2 + len);
	if (!tw)
		return -ENOMEM;
	tw->conn = conn;
	wg_put16(tw->data, (uint16_t)len);
	memcpy(tw->data + 2, pkt, len);
	uv_buf_t b = uv_buf_init((char *)tw->data, (unsigned)(len + 2));
	conn->refs++;
	int rc = uv_write(&tw->req, (uv_stream_t *)&conn->tcp, &b, 1, on_tcp_written);
	if (rc < 0) {
		free(tw);
		conn_unref(conn);
		l->st.send_errors++;
		return rc;
	}
	return 0;
}

void wg_listen_client_hold(const struct wg_client *c)
{
	if (c->conn)
		c->conn->refs++;
}

void wg_listen_client_release(const struct wg_client *c)
{
	if (c->conn)
		conn_unref(c->conn);
}

void wg_listen_get_stats(const struct wg_listen *l, struct wg_listen_stats *s)
{
	*s = l->st;
}
