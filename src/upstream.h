/* upstream.h: plain DNS client for a set of servers tried with failover.
 *
 * Every exchange uses a fresh random query ID and a fresh UDP socket per
 * address family, whose source port the kernel picks at random; a reply is
 * accepted only when it comes from the server's address and port and
 * carries our ID and question.
 * TC=1 makes the exchange retry over TCP to the same server. Records of
 * another class than the question's are dropped from the reply the
 * callback gets (wg_wire_drop_other_class). */
#ifndef WG_UPSTREAM_H
#define WG_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "netaddr.h"
#include "wire.h"

struct wg_upstream;
struct wg_upstream_req;

/* What an exchange produced; handed to the callback. */
struct wg_upstream_reply {
	int status;           /* 0, -ETIMEDOUT (every try timed out), -ECONNREFUSED,
				 -EBADMSG (only malformed replies), -ECANCELED */
	const uint8_t *pkt;   /* borrowed: valid during the callback only */
	size_t len;
	int server;           /* index of the server that answered, -1 none */
	uint32_t latency_us;  /* from the first send to the accepted reply */
	uint8_t tcp;          /* the reply came over TCP */
	uint8_t authenticated;/* the channel authenticates the server (DNSCrypt) */
};

/* Called exactly once per started exchange (never after cancel). */
typedef void (*wg_upstream_cb)(void *arg, const struct wg_upstream_reply *r);

struct wg_upstream_stats {
	uint64_t sent, replies, timeouts, tcp_retries, bad_replies, failures, send_errors;
	uint64_t other_class; /* records of another class than the question's, dropped */
	uint64_t caps_mismatches; /* replies not in the 0x20 case we asked in, not taken */
};

/* servers is copied. timeout_ms per try; retries = extra tries beyond the
 * first, moving to the next server each time. Returns NULL on ENOMEM. */
struct wg_upstream *wg_upstream_new(uv_loop_t *loop, const struct wg_addr *servers, size_t n,
				    uint32_t timeout_ms, uint32_t retries);
/* Closes sockets; pending exchanges get no callback. Safe with NULL. */
void wg_upstream_free(struct wg_upstream *u);
/* Replace the server list and timing (reload). Exchanges in flight finish
 * with the servers they started with. Returns 0 or -ENOMEM. */
int wg_upstream_set_servers(struct wg_upstream *u, const struct wg_addr *servers, size_t n,
			    uint32_t timeout_ms, uint32_t retries);
/* 0x20 on or off (off after new). On: each exchange asks over UDP in a
 * random case of the question's letters and takes only a reply that echoes
 * it exactly; a server that answers in another case gets the client's
 * spelling from then on (until the server list is set again). */
void wg_upstream_set_caps(struct wg_upstream *u, int on);
/* Exchanges currently in flight. */
size_t wg_upstream_pending(const struct wg_upstream *u);

/* Ask qi's question (the client's case, or a random one with 0x20; RD/CD
 * and DO are kept; EDNS 1232 is advertised). On success *req (may be NULL) identifies the exchange for
 * cancel. Returns 0, -ENOMEM, -ENOSPC (too many exchanges), or -ENOENT (no
 * servers): then cb is never called. */
int wg_upstream_query(struct wg_upstream *u, const struct wg_query_info *qi, wg_upstream_cb cb,
		      void *arg, struct wg_upstream_req **req);
/* The same with an EDNS Client Subnet option (RFC 7871) for ecs in the
 * query (ecs NULL: none), on every try, UDP and TCP. */
int wg_upstream_query_ecs(struct wg_upstream *u, const struct wg_query_info *qi,
			  const struct wg_ecs *ecs, wg_upstream_cb cb, void *arg,
			  struct wg_upstream_req **req);
void wg_upstream_cancel(struct wg_upstream_req *req);
/* "addr:port" of server idx into buf; "" when out of range. */
void wg_upstream_server_name(const struct wg_upstream *u, int idx, char *buf, size_t cap);
void wg_upstream_get_stats(const struct wg_upstream *u, struct wg_upstream_stats *s);

/* Per server (kept across a reload for a server still listed). */
struct wg_upstream_server_stats {
	uint64_t sent;          /* UDP tries sent to it */
	uint64_t replies;       /* exchanges it answered */
	uint64_t timeouts;      /* tries it left unanswered */
	uint32_t fails_in_row;  /* tries failed since its last reply: 0 is healthy */
};
size_t wg_upstream_n_servers(const struct wg_upstream *u);
/* Counters of server idx (the order of the configuration). Returns 0 or
 * -ENOENT. */
int wg_upstream_get_server_stats(const struct wg_upstream *u, size_t idx,
				 struct wg_upstream_server_stats *s);

#endif
