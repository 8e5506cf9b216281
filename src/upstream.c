/* upstream.c: plain DNS exchanges with failover, see upstream.h.
 *
 * Each exchange owns its UDP sockets (one per address family it needs),
 * so every exchange has its own random source port, and closes them when it
 * ends; the query ID comes from libsodium's randombytes. A reply is accepted only
 * from an address and port we sent to during this exchange, with the ID
 * used for that send and our question. Retries move to the next server with
 * a fresh ID; replies to an earlier try still count (a slow server is not a
 * wrong one). A try the kernel refuses to send (no route, a broadcast
 * address) times out at once instead of after the timeout. TC=1 restarts the exchange over TCP to the server that
 * truncated.
 *
 * The UDP sockets are plain non-blocking fds in a private epoll set that
 * libuv watches as one fd: a miss then costs socket, sendto, epoll_ctl,
 * recvfrom and close, with no libuv handle to open and close
 * (close also drops the fd from the epoll set). Timeouts share one libuv
 * timer: every UDP try waits the same time, so appending to a list keeps
 * it in deadline order (the TCP phase has its own list).
 *
 * Exchange structs are recycled through a free list, so after warm-up a miss
 * allocates nothing. A struct goes back on the list only after its TCP
 * handle (if any) has been closed (libuv's rule), and not while a batch of
 * epoll events that may still name it is being handled. */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sodium.h>

#include "log.h"
#include "upstream.h"

#define MAX_TRIES 8
#define TCP_BUF_MAX (2 + WG_PKT_MAX)
#define EPOLL_BATCH 64
#define READS_PER_EVENT 8 /* level-triggered: the rest comes next round */

enum { TL_UDP, TL_TCP, TL_N };

/* One UDP socket of an exchange; the epoll event points here. */
struct wg_upstream_sock {
	struct wg_upstream_req *r;      /* borrowed: the owner */
	int fd;                         /* -1: not open */
};

struct wg_upstream_req {
	struct wg_upstream *u;          /* borrowed: the owner */
	struct wg_upstream_req *next;   /* free list / pending list link */
	struct wg_upstream_req *prev;
	TAILQ_ENTRY(wg_upstream_req) tlink; /* timeout list link */
	uint64_t deadline;              /* uv_now() ms when the current try times out */
	int tlist;                      /* TL_UDP, TL_TCP, or -1: on none */
	struct wg_upstream_sock sock[2];/* [0] IPv4, [1] IPv6 */
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	int tcp_open;                   /* tcp handle initialised, not yet closing */
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
	int send_failed;                /* the current try was refused locally */
	int tcp_server;                 /* index into addrs of the TCP peer */
	uint16_t tcp_id;
	uint8_t *tcp_buf;               /* owned: malloc'd on first TCP use */
	size_t tcp_len;
	uint8_t query[WG_HDR_LEN + WG_NAME_MAX + 4 + WG_OPT_LEN + WG_ECS_OPT_MAX + 2];
	size_t query_len;
	uint8_t has_caps;               /* caps_name was drawn for this exchange */
	uint8_t caps_mismatch;          /* a reply in another case came for the current try */
	uint8_t caps_name[WG_NAME_MAX]; /* the question in random case (0x20) */
	uint8_t try_caps[MAX_TRIES];    /* try i went out with caps_name */
};

/* borrowed entries, earliest deadline first */
TAILQ_HEAD(wg_tlist, wg_upstream_req);

struct wg_upstream {
	uv_loop_t *loop;                /* borrowed */
	struct wg_addr *servers;        /* owned */
	struct wg_upstream_server_stats *sst; /* owned, parallel to servers */
	size_t n;
	uint32_t timeout_ms;
	uint32_t retries;
	size_t preferred;               /* the server that last answered */
	int epfd;                       /* owned: the exchanges' UDP sockets */
	uv_poll_t epoll_watch;          /* libuv's view of epfd */
	uv_timer_t timer;               /* fires at the earliest deadline */
	struct wg_tlist tl[TL_N];
	int in_batch;                   /* handling events: finished reqs wait in limbo */
	struct wg_upstream_req *limbo;
	struct wg_upstream_req *free_list;
	struct wg_upstream_req pending; /* sentinel of a circular list */
	size_t n_pending;
	size_t n_closing;               /* libuv handles whose close is outstanding */
	int freeing;                    /* wg_upstream_free ran: the last close frees u */
	struct wg_upstream_stats st;
	int caps;                       /* 0x20: randomise the question's case */
	uint8_t *caps_state;            /* owned, n: CAPS_* of server i */
	uint8_t rbuf[WG_PKT_MAX];       /* shared UDP receive buffer: one loop thread */
	uint8_t sbuf[WG_PKT_MAX];       /* a reply without its records of another class */
};

static uint64_t now_us(const struct wg_upstream *u)
{
	(void)u;
	return uv_hrtime() / 1000;
}

/* A server's 0x20 state: not known yet, echoes our case, does not. */
enum { CAPS_UNKNOWN = 0, CAPS_OK = 1, CAPS_OFF = 2 };

static void caps_off(struct wg_upstream *u, int sidx)
{
	char name[64];
	if (u->caps_state[sidx] == CAPS_OFF)
		return;
	u->caps_state[sidx] = CAPS_OFF;
	wg_addr_format(&u->servers[sidx], name, sizeof(name));
	wg_info("upstream", "%s does not echo the question's case: 0x20 off for it", name);
}

/* name in random case: each letter's case from one random bit. */
static void caps_spell(uint8_t *out, const uint8_t *name, size_t len)
{
	uint8_t bits[WG_NAME_MAX / 8 + 1];
	randombytes_buf(bits, len / 8 + 1);
	for (size_t i = 0, lab = 0; i < len; i++) {
		uint8_t c = name[i];
		if (i == lab) {
			lab = i + 1u + c; /* a length byte */
		} else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
			c = (bits[i / 8] >> (i % 8)) & 1 ? (uint8_t)(c & ~0x20) : (uint8_t)(c | 0x20);
		}
		out[i] = c;
	}
}

static uint16_t random_id(void)
{
	return (uint16_t)randombytes_uniform(65536);
}

static void on_epoll(uv_poll_t *p, int status, int events);
static void on_timer(uv_timer_t *t);
static void on_own_handle_closed(uv_handle_t *h);

struct wg_upstream *wg_upstream_new(uv_loop_t *loop, const struct wg_addr *servers, size_t n,
				    uint32_t timeout_ms, uint32_t retries)
{
	struct wg_upstream *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->loop = loop;
	u->pending.next = u->pending.prev = &u->pending;
	for (int i = 0; i < TL_N; i++)
		TAILQ_INIT(&u->tl[i]);
	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (u->epfd < 0) {
		free(u);
		return NULL;
	}
	if (wg_upstream_set_servers(u, servers, n, timeout_ms, retries) < 0 ||
	    uv_poll_init(loop, &u->epoll_watch, u->epfd) < 0) {
		close(u->epfd);
		free(u->servers);
		free(u->caps_state);
		free(u->sst);
		free(u);
		return NULL;
	}
	u->epoll_watch.data = u;
	uv_timer_init(loop, &u->timer);
	u->timer.data = u;
	uv_poll_start(&u->epoll_watch, UV_READABLE, on_epoll);
	return u;
}

int wg_upstream_set_servers(struct wg_upstream *u, const struct wg_addr *servers, size_t n,
			    uint32_t timeout_ms, uint32_t retries)
{
	struct wg_addr *copy = NULL;
	struct wg_upstream_server_stats *sst = NULL;
	if (n) {
		copy = calloc(n, sizeof(*copy));
		sst = calloc(n, sizeof(*sst));
		if (!copy || !sst) {
			free(copy);
			free(sst);
			return -ENOMEM;
		}
		memcpy(copy, servers, n * sizeof(*copy));
	}
	uint8_t *caps_state = n ? calloc(n, 1) : NULL;
	if (n && !caps_state) {
		free(copy);
		free(sst);
		return -ENOMEM;
	}
	/* a server kept across a reload keeps its counters and health */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < u->n; j++)
			if (memcmp(&copy[i], &u->servers[j], sizeof(copy[i])) == 0)
				sst[i] = u->sst[j];
	free(u->servers);
	free(u->sst);
	u->servers = copy;
	free(u->caps_state);
	u->caps_state = caps_state; /* a new list: each server is tried with 0x20 again */
	u->sst = sst;
	u->n = n;
	/* a changed timeout may leave a few deadlines out of order in the
	 * lists; those tries then time out up to one old timeout late */
	u->timeout_ms = timeout_ms ? timeout_ms : 1000;
	u->retries = retries >= MAX_TRIES ? MAX_TRIES - 1 : retries;
	u->preferred = 0;
	return 0;
}

void wg_upstream_set_caps(struct wg_upstream *u, int on)
{
	u->caps = on;
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

size_t wg_upstream_n_servers(const struct wg_upstream *u)
{
	return u->n;
}

int wg_upstream_get_server_stats(const struct wg_upstream *u, size_t idx,
				 struct wg_upstream_server_stats *s)
{
	if (idx >= u->n)
		return -ENOENT;
	*s = u->sst[idx];
	return 0;
}

/* --- timeouts --- */

static void tl_unlink(struct wg_upstream_req *r)
{
	if (r->tlist < 0)
		return;
	TAILQ_REMOVE(&r->u->tl[r->tlist], r, tlink);
	r->tlist = -1;
}

static void arm_timer(struct wg_upstream *u)
{
	uint64_t due = UINT64_MAX;
	for (int i = 0; i < TL_N; i++)
		if (!TAILQ_EMPTY(&u->tl[i]) && TAILQ_FIRST(&u->tl[i])->deadline < due)
			due = TAILQ_FIRST(&u->tl[i])->deadline;
	if (due == UINT64_MAX) {
		uv_timer_stop(&u->timer);
		return;
	}
	uint64_t now = uv_now(u->loop);
	uv_timer_start(&u->timer, on_timer, due > now ? due - now : 0, 0);
}

/* Put r on list which with this deadline: at the tail (deadlines grow),
 * or at the head for a try that is due at once. */
static void tl_link(struct wg_upstream_req *r, int which, uint64_t deadline, int at_head)
{
	struct wg_tlist *l = &r->u->tl[which];
	tl_unlink(r);
	r->deadline = deadline;
	r->tlist = which;
	if (at_head)
		TAILQ_INSERT_HEAD(l, r, tlink);
	else
		TAILQ_INSERT_TAIL(l, r, tlink);
}

/* (Re)start r's timeout: ms from now, at the tail of list which. The timer
 * is re-armed only when r becomes a head; a head that leaves early makes
 * the timer fire early once, and on_timer re-arms it. */
static void tl_start(struct wg_upstream_req *r, int which, uint32_t ms)
{
	struct wg_upstream *u = r->u;
	tl_link(r, which, uv_now(u->loop) + ms, 0);
	if (TAILQ_FIRST(&u->tl[which]) == r && (!uv_is_active((uv_handle_t *)&u->timer) ||
				       uv_timer_get_due_in(&u->timer) > ms))
		arm_timer(u);
}

/* Time r's current try out at once (its send failed locally): at the head
 * of the UDP list, which only entries already due may precede. */
static void tl_start_now(struct wg_upstream_req *r)
{
	tl_link(r, TL_UDP, uv_now(r->u->loop), 1);
	uv_timer_start(&r->u->timer, on_timer, 0, 0);
}

/* --- recycling --- */

static void free_u(struct wg_upstream *u)
{
	free(u->caps_state);
	free(u->servers);
	free(u->sst);
	free(u);
}

static void req_release(struct wg_upstream_req *r)
{
	struct wg_upstream *u = r->u;
	if (u->freeing) {
		free(r->tcp_buf);
		free(r);
		if (u->n_closing == 0)
			free_u(u);
		return;
	}
	r->on_free_list = 1;
	if (u->in_batch) {
		r->next = u->limbo;
		u->limbo = r;
		return;
	}
	r->next = u->free_list;
	u->free_list = r;
}

static void flush_limbo(struct wg_upstream *u)
{
	while (u->limbo) {
		struct wg_upstream_req *r = u->limbo;
		u->limbo = r->next;
		r->next = u->free_list;
		u->free_list = r;
	}
}

static void on_tcp_closed(uv_handle_t *h)
{
	struct wg_upstream_req *r = h->data;
	r->u->n_closing--;
	req_release(r);
}

static void close_udp(struct wg_upstream_req *r)
{
	for (int i = 0; i < 2; i++)
		if (r->sock[i].fd >= 0) {
			close(r->sock[i].fd); /* also leaves the epoll set */
			r->sock[i].fd = -1;
		}
}

/* Take r off the pending and timeout lists and close its sockets; it is
 * recycled at once, or once its TCP handle has closed. */
static void req_finish(struct wg_upstream_req *r)
{
	struct wg_upstream *u = r->u;
	r->done = 1;
	r->prev->next = r->next;
	r->next->prev = r->prev;
	u->n_pending--;
	tl_unlink(r);
	close_udp(r);
	if (r->tcp_open) {
		r->tcp_open = 0;
		u->n_closing++;
		uv_close((uv_handle_t *)&r->tcp, on_tcp_closed);
		return;
	}
	req_release(r);
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
		/* records of another class than the question's are never
		 * cached or compared (Unbound's scrubber drops them too) */
		unsigned dropped;
		int n = wg_wire_drop_other_class(pkt, len, r->u->sbuf, sizeof(r->u->sbuf), &dropped);
		if (n > 0) {
			rep.pkt = r->u->sbuf;
			rep.len = (size_t)n;
			r->u->st.other_class += dropped;
		} else if (n < 0) {
			rep.status = status = -EBADMSG;
			rep.pkt = NULL;
			rep.len = 0;
			rep.server = -1;
			r->u->st.bad_replies++;
		}
	}
	if (status == 0) {
		r->u->st.replies++;
		if (server >= 0 && (size_t)server < r->u->n) {
			r->u->preferred = (size_t)server;
			r->u->sst[server].replies++;
			r->u->sst[server].fails_in_row = 0;
		}
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

static void try_timed_out(struct wg_upstream_req *r)
{
	struct wg_upstream *u = r->u;
	/* the try's server, unless a reload moved it */
	int last = r->tries > 0 ? r->server_idx[r->tries - 1] : -1;
	struct wg_upstream_server_stats *ss =
		last >= 0 && (size_t)last < u->n &&
				memcmp(&u->servers[last], &r->addrs[r->tries - 1],
				       sizeof(u->servers[last])) == 0
			? &u->sst[last]
			: NULL;
	if (ss)
		ss->fails_in_row++;
	if (r->send_failed) {
		r->send_failed = 0; /* counted as a send error, not a timeout */
	} else {
		u->st.timeouts++;
		if (ss)
			ss->timeouts++;
	}
	if (r->caps_mismatch && r->tries > 0) {
		/* only replies in another case came: the server stopped
		 * echoing it (a forger cannot stop the real answer) */
		r->caps_mismatch = 0;
		caps_off(u, r->server_idx[r->tries - 1]);
	}
	if (r->tries < (int)u->retries + 1 && r->tries < MAX_TRIES && u->n > 0) {
		if (send_try(r) == 0)
			return;
	}
	deliver(r, r->bad_replies ? -EBADMSG : -ETIMEDOUT, NULL, 0, -1, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct wg_upstream *u = t->data;
	uint64_t now = uv_now(u->loop);
	u->in_batch++;
	for (int i = 0; i < TL_N; i++)
		/* a retry goes back to a tail with a later deadline, a delivery
		 * leaves the list: either way the head moves on */
		while (!TAILQ_EMPTY(&u->tl[i]) && TAILQ_FIRST(&u->tl[i])->deadline <= now)
			try_timed_out(TAILQ_FIRST(&u->tl[i]));
	u->in_batch--;
	flush_limbo(u);
	arm_timer(u);
}

/* Which try, if any, does a reply from addr with this ID belong to? */
static int match_try(const struct wg_upstream_req *r, const struct sockaddr_storage *addr,
		     uint16_t id)
{
	struct wg_addr from;
	memset(&from, 0, sizeof(from));
	memcpy(&from.ss, addr,
	       addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
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

static void on_udp_reply(struct wg_upstream_req *r, const uint8_t *pkt, size_t len,
			 const struct sockaddr_storage *from)
{
	if (len < WG_HDR_LEN) {
		r->bad_replies++;
		r->u->st.bad_replies++;
		return;
	}
	int t = match_try(r, from, wg_get16(pkt));
	if (t < 0 || wg_wire_reply_matches(pkt, len, r->ids[t], &r->qi) < 0) {
		/* spoofed, stray or malformed: ignore and keep waiting */
		r->bad_replies++;
		r->u->st.bad_replies++;
		return;
	}
	/* the question at offset 12 is never compressed (nothing precedes it) */
	int sidx = r->server_idx[t];
	if (r->try_caps[t] && memcmp(pkt + WG_HDR_LEN, r->caps_name, r->qi.qname_len) != 0) {
		/* right ID, port and name but not our case: a forgery, or a
		 * server that does not echo the case; never taken */
		r->u->st.caps_mismatches++;
		r->bad_replies++;
		if (r->u->caps_state[sidx] == CAPS_OK) {
			/* it echoed before: a forgery; wait for the real one
			 * (a timeout still turns 0x20 off for the server) */
			if (t == r->tries - 1)
				r->caps_mismatch = 1;
			return;
		}
		caps_off(r->u, sidx);
		if (r->tries < MAX_TRIES && send_try(r) == 0)
			return;
		deliver(r, -EBADMSG, NULL, 0, -1, 0);
		return;
	}
	if (r->try_caps[t])
		r->u->caps_state[sidx] = CAPS_OK;
	if (wg_get16(pkt + 2) & WG_F_TC) {
		r->u->st.tcp_retries++;
		close_udp(r);
		start_tcp(r, t);
		return;
	}
	if (want_failover(r, pkt)) {
		if (send_try(r) == 0)
			return;
	}
	deliver(r, 0, pkt, len, r->server_idx[t], 0);
}

static void sock_read(struct wg_upstream_sock *s)
{
	struct wg_upstream_req *r = s->r;
	struct wg_upstream *u = r->u;
	for (int k = 0; k < READS_PER_EVENT && !r->done && s->fd >= 0; k++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s->fd, u->rbuf, sizeof(u->rbuf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN; other errors: the timer decides */
		}
		on_udp_reply(r, u->rbuf, (size_t)n, &from);
	}
}

static void on_epoll(uv_poll_t *p, int status, int events)
{
	struct wg_upstream *u = p->data;
	struct epoll_event ev[EPOLL_BATCH];
	int n;
	(void)events;
	if (status < 0)
		return;
	/* finished exchanges wait in limbo until the batch is done, so an
	 * event later in ev[] never names a recycled struct; a closed socket
	 * has fd -1 and is skipped */
	u->in_batch++;
	do {
		n = epoll_wait(u->epfd, ev, EPOLL_BATCH, 0);
		for (int i = 0; i < n; i++) {
			struct wg_upstream_sock *s = ev[i].data.ptr;
			if (s->fd >= 0 && !s->r->done)
				sock_read(s);
		}
	} while (n == EPOLL_BATCH);
	u->in_batch--;
	flush_limbo(u);
}

/* r's socket for family fam, opened on first use. Returns the fd or -errno. */
static int sock_for(struct wg_upstream_req *r, int fam)
{
	struct wg_upstream_sock *s = &r->sock[fam == AF_INET6];
	if (s->fd >= 0)
		return s->fd;
	int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* no bind: sendto gives the socket a port the kernel draws from its
	 * CSPRNG within net.ipv4.ip_local_port_range. An explicit bind to a
	 * port drawn here cost a syscall, about 15% of a miss (bench/run.sh). */
	struct epoll_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = s;
	if (epoll_ctl(r->u->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	s->r = r;
	s->fd = fd;
	return fd;
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
	/* 0x20 (draft-vixie-dnsext-dns0x20): a forger must also guess the
	 * case of every letter; servers that do not echo it get the
	 * client's spelling */
	r->try_caps[i] = (uint8_t)(r->has_caps && u->caps_state[sidx] != CAPS_OFF);
	r->caps_mismatch = 0;
	memcpy(r->query + WG_HDR_LEN, r->try_caps[i] ? r->caps_name : r->qi.qname, r->qi.qname_len);
	const struct sockaddr_storage *to = &r->addrs[i].ss;
	int fd = sock_for(r, to->ss_family);
	ssize_t rc = fd;
	if (fd >= 0) {
		socklen_t tl = to->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							 : sizeof(struct sockaddr_in);
		rc = sendto(fd, r->query, r->query_len, 0, (const struct sockaddr *)to, tl);
		if (rc < 0)
			rc = -errno;
	}
	u->st.sent++;
	u->sst[sidx].sent++;
	if (rc < 0 && rc != -EAGAIN && rc != -ENOBUFS && rc != -ENOMEM) {
		/* refused locally (no route, no address of that family, a
		 * broadcast address, no descriptor): nothing went out, so the
		 * next server is tried at once rather than after the timeout */
		wg_debug("upstream", "send failed: %s", strerror((int)-rc));
		u->st.send_errors++;
		r->send_failed = 1;
		tl_start_now(r);
		return 0;
	}
	/* a full buffer may still drain: give the try its time */
	tl_start(r, TL_UDP, u->timeout_ms);
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
	tl_start(r, TL_TCP, u->timeout_ms * 2);
	/* no further UDP tries after truncation: a timeout now ends it */
	r->tries = MAX_TRIES;
	if (uv_tcp_connect(&r->connect, &r->tcp, (const struct sockaddr *)&r->addrs[try_idx].ss,
			   on_tcp_connect) < 0)
		deliver(r, -ECONNREFUSED, NULL, 0, -1, 1);
}

int wg_upstream_query(struct wg_upstream *u, const struct wg_query_info *qi, wg_upstream_cb cb,
		      void *arg, struct wg_upstream_req **out)
{
	return wg_upstream_query_ecs(u, qi, NULL, cb, arg, out);
}

int wg_upstream_query_ecs(struct wg_upstream *u, const struct wg_query_info *qi,
			  const struct wg_ecs *ecs, wg_upstream_cb cb, void *arg,
			  struct wg_upstream_req **out)
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
	r->tlist = -1;
	r->sock[0].fd = r->sock[1].fd = -1;
	r->qi = *qi;
	r->cb = cb;
	r->arg = arg;
	r->tries = 0;
	r->bad_replies = 0;
	r->send_failed = 0;
	r->tcp_len = 0;
	int n = wg_wire_build_query_ecs(r->query, sizeof(r->query), qi, 0, ecs);
	if (n < 0) {
		r->next = u->free_list;
		u->free_list = r;
		return -ENOSPC;
	}
	r->query_len = (size_t)n;
	r->has_caps = (uint8_t)u->caps;
	r->caps_mismatch = 0;
	if (u->caps)
		caps_spell(r->caps_name, qi->qname, qi->qname_len);
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
}

void wg_upstream_cancel(struct wg_upstream_req *r)
{
	if (!r || r->done)
		return;
	req_finish(r);
}

static void on_own_handle_closed(uv_handle_t *h)
{
	struct wg_upstream *u = h->data;
	if (--u->n_closing == 0)
		free_u(u);
}

void wg_upstream_free(struct wg_upstream *u)
{
	if (!u)
		return;
	flush_limbo(u);
	while (u->free_list) {
		struct wg_upstream_req *r = u->free_list;
		u->free_list = r->next;
		free(r->tcp_buf);
		free(r);
	}
	u->freeing = 1;
	/* requests whose TCP handle is still closing free themselves; the
	 * last close, ours or theirs, frees u */
	u->n_closing += 2;
	while (u->pending.next != &u->pending)
		req_finish(u->pending.next);
	uv_close((uv_handle_t *)&u->epoll_watch, on_own_handle_closed);
	uv_close((uv_handle_t *)&u->timer, on_own_handle_closed);
	close(u->epfd); /* uv_close stopped the watcher already */
}
