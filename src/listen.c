/* listen.c: see listen.h.
 *
 * UDP sockets are plain non-blocking fds watched by a uv_poll: one
 * recvmmsg reads a batch into a shared buffer (one loop thread) and each
 * datagram goes straight to the query callback. Answers are queued per
 * socket and leave in one sendmmsg when the queue fills, when a read batch
 * ends, and before the loop waits again (a uv_prepare) for answers made in
 * upstream or timer callbacks; the UDP path allocates nothing. A read batch
 * shorter than the maximum ends the round without a final EAGAIN read:
 * epoll is level-triggered and reports what came in meanwhile.
 *
 * A wildcard socket asks for IP_PKTINFO / IPV6_PKTINFO with every datagram
 * (control buffers preallocated beside the batch) and hands the same
 * message back with the answer, so a host with several addresses answers
 * from the one the client asked; a reply from another address is dropped
 * by the client. No extra system call: the control data rides in the same
 * recvmmsg and sendmmsg.
 *
 * TCP connections carry RFC 7766 framing; several queries may be in flight
 * per connection and are answered in completion order. A connection is
 * freed only when it is closed and no query still holds it. Pipelining is
 * bounded (RFC 7766 6.2.1.1): with TCP_PIPELINE_MAX queries in flight, or
 * TCP_WQ_HIGH bytes of answers the client has not taken, the connection is
 * no longer read (frames already read wait in its buffer) until it drains;
 * otherwise a client that sends without reading would make us queue
 * answers without limit. Reading resumes from the uv_prepare, never from
 * inside the resolver's answer path.
 *
 * The TCP slots are shared, so a few clients must not be able to hold them
 * all (RFC 7766 6.2.3): a client the ACL refuses is closed at accept; one
 * client address (IPv6: one /64, which a single host fills with SLAAC and
 * temporary addresses) holds at most tcp-per-client connections, counted in
 * a keyed hash table; when every slot is taken the longest-idle connection
 * (the head of an LRU list, moved on every read and answer) is closed for
 * the new one; and once 3/4 of the slots are taken the idle timeout drops
 * to a tenth until fewer than half are. Idle timers are lazy: activity only
 * stamps the connection, and the timer, when it fires, re-arms for what is
 * left.
 *
 * libuv itself keeps a reserve descriptor to shed connections on EMFILE; on
 * top of that we accept-and-close beyond tcp-max-clients (when no
 * connection is idle) so a flood cannot starve the UDP side of
 * descriptors. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sodium.h>

#include "listen.h"
#include "log.h"
#include "wire.h"

#define TCP_FRAME_MAX (2 + WG_PKT_MAX)
#define UDP_BATCH 32      /* datagrams per recvmmsg / sendmmsg */
#define UDP_RSLOT 4096    /* bytes per received datagram; longer ones are dropped */
#define UDP_SLOT 1280     /* bytes: every UDP answer we build fits (1232 + OPT) */
#define UDP_READ_ROUNDS 4 /* full batches read per readiness before yielding */
#define TCP_PIPELINE_MAX 64           /* queries in flight per connection */
#define TCP_WQ_HIGH (256 * 1024)      /* bytes of answers queued per connection */
#define TCP_SRC_BUCKETS 1024          /* per-client table; chains stay short */
#define TCP_SRC_KEY 9                 /* family byte, then IPv4 or the IPv6 /64 */
#define TCP_EVICT_SCAN 16             /* LRU entries looked at for an idle victim */
#define TCP_PRESSURE_MIN_MS 200       /* shortest idle timeout under pressure */

/* Room for one IP_PKTINFO or IPV6_PKTINFO message, aligned for cmsghdr. */
union wg_ctl {
	struct cmsghdr hdr;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

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
	unsigned held;            /* queries being resolved (client_hold) */
	int paused;               /* not read: too much in flight */
	struct wg_conn *resume_next; /* on the listener's resume list (holds a ref) */
	int resume_queued;
	int counted;              /* in the LRU list, the source table and n_open */
	TAILQ_ENTRY(wg_conn) lru; /* open connections, least recently active first */
	struct wg_conn *src_next; /* same bucket of the source table */
	uint32_t src_bucket;
	uint8_t src_key[TCP_SRC_KEY];
	uint64_t last_ms;         /* last read or answer, uv_now */
	uint64_t due_ms;          /* when the idle timer fires */
};

struct wg_udp_sock {
	uv_poll_t poll;
	int fd;                        /* owned; -1: not open */
	struct wg_listen *l;           /* borrowed: owner */
	int family;                    /* of the socket */
	int pktinfo;                   /* wildcard: answer from the query's destination */
	int dual;                      /* [::] that also takes IPv4 */
	/* answers waiting for the next sendmmsg */
	unsigned nout;
	struct mmsghdr out[UDP_BATCH];
	struct iovec oiov[UDP_BATCH];
	struct sockaddr_storage oaddr[UDP_BATCH];
	union wg_ctl octl[UDP_BATCH];
	uint8_t obuf[UDP_BATCH][UDP_SLOT];
};

struct wg_tcp_sock {
	uv_tcp_t tcp;
	struct wg_listen *l;
};

struct wg_listen {
	uv_loop_t *loop;               /* borrowed */
	wg_listen_query_cb cb;
	wg_listen_allow_cb allow;      /* NULL: everyone */
	void *arg;
	struct wg_listen_params p;
	struct wg_udp_sock *udp;       /* owned array */
	struct wg_tcp_sock *tcp;       /* owned array */
	size_t n;
	size_t n_udp_open, n_tcp_open;
	struct wg_conn conns;          /* sentinel: every connection not yet freed */
	TAILQ_HEAD(, wg_conn) lru;     /* borrowed: the open ones, least recently active first */
	struct wg_conn *src[TCP_SRC_BUCKETS]; /* borrowed: open ones by client address */
	uint8_t src_hkey[crypto_shorthash_KEYBYTES];
	size_t n_open;                 /* open (not closing) connections */
	int pressure;                  /* short idle timeouts: the slots are filling up */
	size_t closing_handles;
	int closed;
	struct wg_listen_stats st;
	uv_prepare_t flush;            /* flushes every queue before the loop waits */
	int flush_open;
	struct wg_conn *resume;        /* paused connections that have drained */
	struct mmsghdr in[UDP_BATCH];
	struct iovec iiov[UDP_BATCH];
	struct sockaddr_storage iaddr[UDP_BATCH];
	union wg_ctl ictl[UDP_BATCH];
	uint8_t *rbuf;                 /* owned: UDP_BATCH slots of UDP_RSLOT */
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

static void udp_flush(struct wg_udp_sock *s)
{
	unsigned n = s->nout, done = 0;
	s->nout = 0;
	while (done < n) {
		int rc = sendmmsg(s->fd, s->out + done, n - done, MSG_DONTWAIT);
		if (rc > 0) {
			done += (unsigned)rc;
			continue;
		}
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			/* a full socket buffer drops the rest: UDP, the client retries */
			s->l->st.send_errors += n - done;
			break;
		}
		/* this one destination failed (unreachable, ...): skip it only */
		s->l->st.send_errors++;
		done++;
	}
}

/* The destination of a datagram read on a wildcard socket, from its
 * IP_PKTINFO / IPV6_PKTINFO message; dst_set stays 0 without one. */
static void udp_read_dst(struct msghdr *h, struct wg_client *c)
{
	c->dst_set = 0;
	if (h->msg_flags & MSG_CTRUNC)
		return;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			/* ipi_spec_dst, not ipi_addr: our own address even when
			 * the query went to a broadcast address */
			if (pi.ipi_spec_dst.s_addr == htonl(INADDR_ANY))
				continue;
			memset(&c->dst, 0, sizeof(c->dst));
			c->dst.s6_addr[10] = c->dst.s6_addr[11] = 0xff;
			memcpy(c->dst.s6_addr + 12, &pi.ipi_spec_dst, 4);
			c->dst_ifindex = (unsigned)pi.ipi_ifindex;
			c->dst_set = 1;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO &&
			   cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			/* a multicast destination is no source we may send from */
			if (IN6_IS_ADDR_MULTICAST(&pi.ipi6_addr) ||
			    IN6_IS_ADDR_UNSPECIFIED(&pi.ipi6_addr))
				continue;
			c->dst = pi.ipi6_addr;
			c->dst_ifindex = pi.ipi6_ifindex;
			c->dst_set = 1;
		}
	}
}

/* The control message that makes an answer to c leave from the address c
 * asked. Returns its length, 0 when there is none to send. */
static size_t udp_put_ctl(const struct wg_udp_sock *s, const struct wg_client *c,
			  union wg_ctl *ctl)
{
	if (!s->pktinfo || !c->dst_set)
		return 0;
	memset(ctl, 0, sizeof(*ctl));
	struct cmsghdr *cm = &ctl->hdr;
	if (s->family == AF_INET) {
		struct in_pktinfo pi;
		memset(&pi, 0, sizeof(pi));
		/* the source only: ifindex 0 leaves the way out to the routing
		 * table, which may differ from the way in (as unbound and
		 * dnsmasq do) */
		memcpy(&pi.ipi_spec_dst, c->dst.s6_addr + 12, 4);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	struct in6_pktinfo pi;
	memset(&pi, 0, sizeof(pi));
	/* the interface only where our address needs it to be unique
	 * (link-local); a v4-mapped source makes the kernel send IPv4 */
	pi.ipi6_addr = c->dst;
	if (IN6_IS_ADDR_LINKLOCAL(&c->dst))
		pi.ipi6_ifindex = c->dst_ifindex;
	cm->cmsg_level = IPPROTO_IPV6;
	cm->cmsg_type = IPV6_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	return CMSG_SPACE(sizeof(pi));
}

/* c's address as s's family wants it (IPv4 as ::ffff:a.b.c.d on [::]).
 * Returns its length. */
static socklen_t udp_put_dest(const struct wg_udp_sock *s, const struct wg_client *c,
			      struct sockaddr_storage *out)
{
	if (s->family == AF_INET6)
		return wg_addr_map6(&c->addr, out);
	memcpy(out, &c->addr, sizeof(struct sockaddr_in));
	return sizeof(struct sockaddr_in);
}

/* Fill one outgoing message: name, iovec and control in the caller's
 * storage. */
static void udp_put_msg(const struct wg_udp_sock *s, const struct wg_client *c,
			struct msghdr *h, struct sockaddr_storage *name, struct iovec *iov,
			union wg_ctl *ctl)
{
	memset(h, 0, sizeof(*h));
	h->msg_name = name;
	h->msg_namelen = udp_put_dest(s, c, name);
	h->msg_iov = iov;
	h->msg_iovlen = 1;
	size_t cl = udp_put_ctl(s, c, ctl);
	if (cl) {
		h->msg_control = ctl;
		h->msg_controllen = cl;
	}
}

static void run_resumes(struct wg_listen *l);

static void on_flush(uv_prepare_t *h)
{
	struct wg_listen *l = h->data;
	if (l->resume)
		run_resumes(l);
	for (size_t i = 0; i < l->n_udp_open; i++)
		if (l->udp[i].nout)
			udp_flush(&l->udp[i]);
}

static void on_udp_readable(uv_poll_t *p, int status, int events)
{
	struct wg_udp_sock *s = p->data;
	struct wg_listen *l = s->l;
	(void)events;
	if (status < 0)
		return;
	for (int round = 0; round < UDP_READ_ROUNDS && s->fd >= 0; round++) {
		for (unsigned i = 0; i < UDP_BATCH; i++) {
			l->iiov[i].iov_base = l->rbuf + (size_t)i * UDP_RSLOT;
			l->iiov[i].iov_len = UDP_RSLOT;
			memset(&l->in[i].msg_hdr, 0, sizeof(l->in[i].msg_hdr));
			l->in[i].msg_hdr.msg_name = &l->iaddr[i];
			l->in[i].msg_hdr.msg_namelen = sizeof(l->iaddr[i]);
			l->in[i].msg_hdr.msg_iov = &l->iiov[i];
			l->in[i].msg_hdr.msg_iovlen = 1;
			if (s->pktinfo) {
				l->in[i].msg_hdr.msg_control = &l->ictl[i];
				l->in[i].msg_hdr.msg_controllen = sizeof(l->ictl[i]);
			}
		}
		int n = recvmmsg(s->fd, l->in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break; /* EAGAIN, or an error the next datagram will not repeat */
		for (int i = 0; i < n && s->fd >= 0; i++) {
			struct msghdr *h = &l->in[i].msg_hdr;
			l->st.udp_in++;
			if (h->msg_flags & MSG_TRUNC) {
				l->st.udp_too_long++;
				continue;
			}
			struct wg_client c;
			c.udp = s;
			c.conn = NULL;
			memcpy(&c.addr, &l->iaddr[i], h->msg_namelen <= sizeof(c.addr)
							     ? h->msg_namelen : sizeof(c.addr));
			c.dst_set = 0;
			if (s->pktinfo)
				udp_read_dst(h, &c);
			if (s->dual)
				wg_addr_unmap(&c.addr); /* the ACL, the log, plugins see IPv4 */
			l->cb(l->arg, &c, l->rbuf + (size_t)i * UDP_RSLOT, l->in[i].msg_len);
		}
		if (s->fd >= 0 && s->nout)
			udp_flush(s);
		if (n < UDP_BATCH)
			break;
	}
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

/* --- TCP slots: per-client table, LRU list, pressure --- */

static void on_idle(uv_timer_t *t);

/* The idle timeout now: a tenth (at least TCP_PRESSURE_MIN_MS) under
 * pressure, so idle connections make room before new ones must evict. */
static uint64_t idle_timeout(const struct wg_listen *l)
{
	uint64_t ms = l->p.tcp_idle_ms, brief = ms / 10;
	if (!l->pressure)
		return ms;
	if (brief < TCP_PRESSURE_MIN_MS)
		brief = TCP_PRESSURE_MIN_MS;
	return brief < ms ? brief : ms;
}

static void conn_arm(struct wg_conn *c, uint64_t due)
{
	uint64_t now = uv_now(c->l->loop);
	c->due_ms = due;
	uv_timer_start(&c->idle, on_idle, due > now ? due - now : 0, 0);
}

/* Under pressure from 3/4 of the slots (checked at accept) until fewer
 * than half are taken (checked at close); the gap keeps a count near one
 * mark from flapping. Entering it pulls every armed deadline in; leaving
 * it needs nothing: an early timer finds the connection was active and
 * re-arms for the rest. */
static void pressure_on(struct wg_listen *l)
{
	if (l->pressure || (uint64_t)l->n_open * 4 < (uint64_t)l->p.tcp_max_clients * 3)
		return;
	l->pressure = 1;
	l->st.tcp_pressure++;
	uint64_t t = idle_timeout(l);
	struct wg_conn *c;
	TAILQ_FOREACH(c, &l->lru, lru)
		if (c->last_ms + t < c->due_ms)
			conn_arm(c, c->last_ms + t);
}

static void pressure_off(struct wg_listen *l)
{
	if (l->pressure && (uint64_t)l->n_open * 2 < l->p.tcp_max_clients)
		l->pressure = 0;
}

/* A client's table key: its IPv4 address, or the /64 of its IPv6 one (a
 * host has a /64 of SLAAC and temporary addresses to spread over). */
static void src_key(const struct sockaddr_storage *ss, uint8_t key[TCP_SRC_KEY])
{
	memset(key, 0, TCP_SRC_KEY);
	if (ss->ss_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		key[0] = 6;
		memcpy(key + 1, ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr, 8);
	}
}

/* Open connections with c's key, c not counted yet. */
static uint64_t src_count(const struct wg_listen *l, const struct wg_conn *c)
{
	uint64_t n = 0;
	for (const struct wg_conn *o = l->src[c->src_bucket]; o; o = o->src_next)
		n += memcmp(o->src_key, c->src_key, TCP_SRC_KEY) == 0;
	return n;
}

static void conn_count_in(struct wg_conn *c)
{
	struct wg_listen *l = c->l;
	c->counted = 1;
	c->src_next = l->src[c->src_bucket];
	l->src[c->src_bucket] = c;
	TAILQ_INSERT_TAIL(&l->lru, c, lru);
	l->n_open++;
}

static void conn_count_out(struct wg_conn *c)
{
	struct wg_listen *l = c->l;
	if (!c->counted)
		return;
	c->counted = 0;
	struct wg_conn **pp = &l->src[c->src_bucket];
	while (*pp != c)
		pp = &(*pp)->src_next;
	*pp = c->src_next;
	TAILQ_REMOVE(&l->lru, c, lru);
	l->n_open--;
	pressure_off(l);
}

/* A read or an answer: the connection is not idle. The timer is left
 * alone (lazy: it re-arms when it fires). */
static void conn_touch(struct wg_conn *c)
{
	c->last_ms = uv_now(c->l->loop);
	if (c->counted && TAILQ_NEXT(c, lru)) {
		TAILQ_REMOVE(&c->l->lru, c, lru);
		TAILQ_INSERT_TAIL(&c->l->lru, c, lru);
	}
}

static void conn_close(struct wg_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	conn_count_out(c);
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->idle, on_conn_handle_closed);
	c->refs--; /* the open reference */
}

/* Every slot is taken: close the least recently active connection that
 * has no query being resolved, among the TCP_EVICT_SCAN oldest. Returns 1
 * when one was closed. */
static int evict_idle(struct wg_listen *l)
{
	unsigned k = 0;
	struct wg_conn *c;
	TAILQ_FOREACH(c, &l->lru, lru) {
		if (k++ == TCP_EVICT_SCAN)
			break;
		if (c->held == 0) {
			l->st.tcp_evicted++;
			conn_close(c);
			return 1;
		}
	}
	return 0;
}

static void on_idle(uv_timer_t *t)
{
	struct wg_conn *c = t->data;
	struct wg_listen *l = c->l;
	uint64_t now = uv_now(l->loop), tmo = idle_timeout(l);
	if (c->held > 0) {
		conn_arm(c, now + tmo); /* a query is being resolved: not idle */
	} else if (now - c->last_ms < tmo) {
		conn_arm(c, c->last_ms + tmo);
	} else {
		l->st.tcp_idle_closed++;
		conn_close(c);
	}
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

static int conn_congested(struct wg_conn *c)
{
	return c->held >= TCP_PIPELINE_MAX ||
	       uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >= TCP_WQ_HIGH;
}

/* Hand every complete frame in the buffer to the resolver, unless the
 * connection is congested: then stop reading it until it drains. */
static void conn_dispatch(struct wg_conn *c)
{
	struct wg_listen *l = c->l;
	size_t off = 0;
	/* hold the connection while dispatching: a callback may close it */
	c->refs++;
	while (!c->closing && c->len - off >= 2) {
		size_t flen = wg_get16(c->buf + off);
		if (c->len - off < 2 + flen)
			break;
		if (conn_congested(c)) {
			if (!c->paused) {
				c->paused = 1;
				l->st.tcp_paused++;
				uv_read_stop((uv_stream_t *)&c->tcp);
			}
			break;
		}
		struct wg_client cl;
		cl.udp = NULL;
		cl.conn = c;
		cl.addr = c->peer;
		cl.dst_set = 0;
		l->st.tcp_in++;
		if (flen > 0)
			l->cb(l->arg, &cl, c->buf + off + 2, flen);
		off += 2 + flen;
	}
	if (off > 0 && !c->closing) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
	if (!c->paused && !c->closing && (!c->buf || c->len == c->cap))
		conn_close(c); /* out of memory for the frame */
	conn_unref(c);
}

static void on_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct wg_conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	c->len += (size_t)nread;
	conn_touch(c);
	conn_dispatch(c);
}

/* A paused connection that has drained goes on the resume list; the
 * uv_prepare picks it up (we may be deep inside the resolver here). */
static void conn_maybe_resume(struct wg_conn *c)
{
	if (!c->paused || c->closing || c->resume_queued || conn_congested(c))
		return;
	c->resume_queued = 1;
	c->refs++;
	c->resume_next = c->l->resume;
	c->l->resume = c;
}

static void run_resumes(struct wg_listen *l)
{
	while (l->resume) {
		struct wg_conn *c = l->resume;
		l->resume = c->resume_next;
		c->resume_queued = 0;
		if (!c->closing && c->paused && !conn_congested(c)) {
			c->paused = 0;
			conn_dispatch(c); /* the frames read before the pause */
			if (!c->paused && !c->closing &&
			    uv_read_start((uv_stream_t *)&c->tcp, on_conn_alloc, on_conn_read) < 0)
				conn_close(c);
		}
		conn_unref(c);
	}
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
	int plen = sizeof(c->peer);
	int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
	if (rc == 0)
		rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &plen);
	if (rc < 0) {
		l->st.tcp_rejected++;
		conn_close(c);
		return;
	}
	wg_addr_unmap(&c->peer); /* IPv4 on a dual-stack [::] */
	if (l->allow && !l->allow(l->arg, (const struct sockaddr *)&c->peer)) {
		/* it would only ever get REFUSED: not worth a slot */
		l->st.tcp_denied++;
		conn_close(c);
		return;
	}
	uint64_t h;
	src_key(&c->peer, c->src_key);
	crypto_shorthash((unsigned char *)&h, c->src_key, TCP_SRC_KEY, l->src_hkey);
	c->src_bucket = (uint32_t)(h % TCP_SRC_BUCKETS);
	if (src_count(l, c) >= l->p.tcp_per_client) {
		l->st.tcp_per_client_closed++;
		conn_close(c);
		return;
	}
	while (l->n_open >= l->p.tcp_max_clients && evict_idle(l))
		;
	if (l->n_open >= l->p.tcp_max_clients) {
		l->st.tcp_rejected++; /* every slot is busy resolving */
		conn_close(c);
		return;
	}
	l->st.tcp_accepted++;
	conn_count_in(c);
	c->last_ms = uv_now(l->loop);
	c->due_ms = UINT64_MAX;
	pressure_on(l);
	conn_arm(c, c->last_ms + idle_timeout(l));
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_conn_alloc, on_conn_read) < 0)
		conn_close(c);
}

static void on_sock_closed(uv_handle_t *h)
{
	struct wg_listen *l = h->data;
	l->closing_handles--;
	listen_maybe_free(l);
}

/* Socket, options and bind for one UDP address; s->fd stays -1 on failure.
 * s->pktinfo and s->dual are set by the caller. Returns 0 or a negative
 * errno. */
static int udp_open(uv_loop_t *loop, struct wg_udp_sock *s, const struct sockaddr *sa)
{
	int one = 1, zero = 0;
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	s->family = sa->sa_family;
	/* no SO_REUSEADDR: on Linux it would let another socket (another
	 * user's, on an unprivileged port) bind the same UDP address and take
	 * a share of the queries; UDP has no TIME_WAIT to wait out anyway.
	 * A bigger receive buffer rides out bursts (dnsperf, storms). */
	int rcv = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	/* answers never exceed 1232 bytes: send them unfragmented (DF) as DNS
	 * flag day 2020 asks; it also spares the kernel an IP ID hash per
	 * packet. On [::] it applies to the IPv4 it takes. */
	int pmtu = IP_PMTUDISC_PROBE;
	socklen_t len;
	int rc = 0;
	if (sa->sa_family == AF_INET6) {
		/* set either way: net.ipv6.bindv6only must not decide */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, s->dual ? &zero : &one, sizeof(int)) < 0 ||
		    (s->pktinfo &&
		     setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0))
			rc = -errno;
		if (s->dual)
			setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
		len = sizeof(struct sockaddr_in6);
	} else {
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
		if (s->pktinfo && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
			rc = -errno;
		len = sizeof(struct sockaddr_in);
	}
	if (rc == 0 && bind(fd, sa, len) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	rc = uv_poll_init(loop, &s->poll, fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	s->fd = fd;
	s->poll.data = s;
	s->l->n_udp_open++;
	return uv_poll_start(&s->poll, UV_READABLE, on_udp_readable);
}

/* The error text for a failed bind; a dual-stack [::] also needs the IPv4
 * port, which is the usual reason it is in use. */
static void bind_error(char *err, size_t errcap, const char *as, const char *proto, int dual,
		       int rc)
{
	if (dual && rc == -EADDRINUSE)
		snprintf(err, errcap,
			 "%s (%s): %s: [::] also takes IPv4 and the IPv4 port is taken; "
			 "list an IPv4 address on this port too to keep [::] to IPv6",
			 as, proto, strerror(EADDRINUSE));
	else
		snprintf(err, errcap, "%s (%s): %s", as, proto, strerror(-rc));
}

int wg_listen_open(uv_loop_t *loop, const struct wg_addr *addrs, size_t n,
		   const struct wg_listen_params *p, wg_listen_query_cb cb,
		   wg_listen_allow_cb allow, void *arg, struct wg_listen **out, char *err,
		   size_t errcap)
{
	struct wg_listen *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->cb = cb;
	l->allow = allow;
	l->arg = arg;
	l->p = *p;
	l->conns.next = l->conns.prev = &l->conns;
	TAILQ_INIT(&l->lru);
	randombytes_buf(l->src_hkey, sizeof(l->src_hkey));
	l->rbuf = malloc((size_t)UDP_BATCH * UDP_RSLOT);
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
	uv_prepare_init(loop, &l->flush);
	l->flush.data = l;
	l->flush_open = 1;
	uv_prepare_start(&l->flush, on_flush);
	uv_unref((uv_handle_t *)&l->flush); /* it must not keep the loop alive */
	for (size_t i = 0; i < n; i++) {
		char as[80];
		int rc;
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[i].ss;
		int dual = wg_addr_listen_dual(addrs, n, i);
		wg_addr_format(&addrs[i], as, sizeof(as));

		l->udp[i].l = l;
		l->udp[i].fd = -1;
		l->udp[i].pktinfo = wg_addr_is_wildcard(&addrs[i]);
		l->udp[i].dual = dual;
		rc = udp_open(loop, &l->udp[i], sa);
		if (rc < 0) {
			bind_error(err, errcap, as, "udp", dual, rc);
			wg_listen_close(l);
			return rc;
		}

		l->tcp[i].l = l;
		uv_tcp_init(loop, &l->tcp[i].tcp);
		l->tcp[i].tcp.data = &l->tcp[i];
		l->n_tcp_open++;
		/* libuv sets IPV6_V6ONLY either way; a dual-stack [::] takes
		 * IPv4 connections as UDP does */
		rc = uv_tcp_bind(&l->tcp[i].tcp, sa,
				 sa->sa_family == AF_INET6 && !dual ? UV_TCP_IPV6ONLY : 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&l->tcp[i].tcp, 128, on_connection);
		if (rc < 0) {
			bind_error(err, errcap, as, "tcp", dual, rc);
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
	/* the uv_prepare goes: drop the resume list's references first, while
	 * the listener cannot be freed under us (not closed yet) */
	while (l->resume) {
		struct wg_conn *c = l->resume;
		l->resume = c->resume_next;
		c->resume_queued = 0;
		conn_unref(c);
	}
	l->closed = 1;
	for (size_t i = 0; i < l->n_udp_open; i++) {
		struct wg_udp_sock *s = &l->udp[i];
		if (s->nout)
			udp_flush(s);
		s->poll.data = l;
		l->closing_handles++;
		uv_close((uv_handle_t *)&s->poll, on_sock_closed);
		close(s->fd); /* uv_close stopped watching it already */
		s->fd = -1;
	}
	if (l->flush_open) {
		l->flush_open = 0;
		l->flush.data = l;
		l->closing_handles++;
		uv_close((uv_handle_t *)&l->flush, on_sock_closed);
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
	conn_maybe_resume(c);
	conn_unref(c);
}

int wg_listen_send(struct wg_listen *l, const struct wg_client *c, const uint8_t *pkt, size_t len)
{
	if (c->udp) {
		struct wg_udp_sock *s = c->udp;
		if (s->fd < 0)
			return -EBADF;
		if (len > UDP_SLOT) {
			/* never built by the resolver (answers are capped); kept
			 * correct for any caller */
			struct msghdr h;
			struct sockaddr_storage name;
			union wg_ctl ctl;
			struct iovec iov = {(void *)pkt, len};
			udp_put_msg(s, c, &h, &name, &iov, &ctl);
			if (sendmsg(s->fd, &h, MSG_DONTWAIT) < 0) {
				l->st.send_errors++;
				return -errno;
			}
			return 0;
		}
		if (s->nout == UDP_BATCH)
			udp_flush(s);
		unsigned i = s->nout++;
		memcpy(s->obuf[i], pkt, len);
		s->oiov[i].iov_base = s->obuf[i];
		s->oiov[i].iov_len = len;
		s->out[i].msg_len = 0;
		udp_put_msg(s, c, &s->out[i].msg_hdr, &s->oaddr[i], &s->oiov[i], &s->octl[i]);
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
	conn_touch(conn);
	return 0;
}

void wg_listen_client_hold(const struct wg_client *c)
{
	if (c->conn) {
		c->conn->refs++;
		c->conn->held++;
	}
}

void wg_listen_client_release(const struct wg_client *c)
{
	if (c->conn) {
		c->conn->held--;
		conn_maybe_resume(c->conn);
		conn_unref(c->conn);
	}
}

void wg_listen_get_stats(const struct wg_listen *l, struct wg_listen_stats *s)
{
	*s = l->st;
}
