/* listen.h: UDP and TCP listeners; TCP framing, idle timeout, client caps.
 *
 * Every received query is handed to one callback with a wg_client that
 * says how to answer it. A client that must outlive the callback (the
 * answer comes later) is copied and pinned with wg_listen_client_hold; the
 * copy must be released once answered or abandoned.
 *
 * A wildcard listener (0.0.0.0, [::]) answers UDP from the address the
 * query was sent to. [::] is dual-stack unless an IPv4 address is listed on
 * its port (wg_addr_listen_dual); IPv4 clients it takes are reported as
 * AF_INET, never as ::ffff:a.b.c.d. */
#ifndef WG_LISTEN_H
#define WG_LISTEN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "netaddr.h"

struct wg_listen;
struct wg_conn;
struct wg_udp_sock;

struct wg_client {
	struct wg_udp_sock *udp;       /* borrowed: the socket it came in on (UDP) */
	struct wg_conn *conn;          /* borrowed, pinned by hold (TCP) */
	struct sockaddr_storage addr;  /* the client's address (IPv4 always AF_INET) */
	/* UDP on a wildcard socket: the address the query was sent to (IPv4 as
	 * ::ffff:a.b.c.d) and the interface it came in on; the answer leaves
	 * from it. dst_set 0: unknown, the kernel picks the source. */
	struct in6_addr dst;
	unsigned dst_ifindex;
	int dst_set;
};

typedef void (*wg_listen_query_cb)(void *arg, const struct wg_client *client,
				   const uint8_t *pkt, size_t len);
/* May this client use us? Asked once per TCP connection, at accept: a
 * refused one is closed before it can hold a slot. */
typedef int (*wg_listen_allow_cb)(void *arg, const struct sockaddr *client);

struct wg_listen_params {
	uint32_t tcp_idle_ms;     /* shortened under pressure, see listen.c */
	uint32_t tcp_max_clients; /* connections open at once */
	uint32_t tcp_per_client;  /* per client address; IPv6: per /64 */
};

struct wg_listen_stats {
	uint64_t udp_in, udp_too_long, tcp_in, tcp_accepted, tcp_rejected, tcp_idle_closed,
		send_errors;
	uint64_t tcp_paused;  /* times a connection stopped being read: too much in flight */
	uint64_t tcp_clients; /* now */
	uint64_t tcp_denied;     /* closed at accept: the ACL refuses the client */
	uint64_t tcp_per_client_closed; /* closed at accept: the client had tcp-per-client open */
	uint64_t tcp_evicted;    /* closed, longest idle, to make room (RFC 7766 6.2.3) */
	uint64_t tcp_pressure;   /* times 3/4 of the slots filled: short idle timeouts */
};

/* Bind UDP and TCP on every address; cb gets the queries, allow (NULL:
 * everyone) vets TCP clients, both with arg. Returns 0, or a negative errno
 * with "ADDR: reason" in err (nothing is left bound then). */
int wg_listen_open(uv_loop_t *loop, const struct wg_addr *addrs, size_t n,
		   const struct wg_listen_params *p, wg_listen_query_cb cb,
		   wg_listen_allow_cb allow, void *arg, struct wg_listen **out, char *err,
		   size_t errcap);
void wg_listen_set_params(struct wg_listen *l, const struct wg_listen_params *p);
/* Stop listening and close every client connection. */
void wg_listen_close(struct wg_listen *l);

/* Send a reply. UDP: queued and sent with others in one sendmmsg before
 * the loop next waits; dropped (and counted) when the socket would block. TCP: framed and queued; dropped when the connection has closed.
 * Returns 0 or a negative errno. */
int wg_listen_send(struct wg_listen *l, const struct wg_client *c, const uint8_t *pkt, size_t len);

/* Pin a TCP connection (no-op for UDP) so a later send is safe. */
void wg_listen_client_hold(const struct wg_client *c);
void wg_listen_client_release(const struct wg_client *c);

void wg_listen_get_stats(const struct wg_listen *l, struct wg_listen_stats *s);

#endif
