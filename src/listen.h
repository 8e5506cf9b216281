/* listen.h: UDP and TCP listeners; TCP framing, idle timeout, client cap.
 *
 * Every received query is handed to one callback with a wg_client that
 * says how to answer it. A client that must outlive the callback (the
 * answer comes later) is copied and pinned with wg_listen_client_hold; the
 * copy must be released once answered or abandoned. */
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
	struct sockaddr_storage addr;  /* the client's address */
};

typedef void (*wg_listen_query_cb)(void *arg, const struct wg_client *client,
				   const uint8_t *pkt, size_t len);

struct wg_listen_params {
	uint32_t tcp_idle_ms;
	uint32_t tcp_max_clients;
};

struct wg_listen_stats {
	uint64_t udp_in, udp_too_long, tcp_in, tcp_accepted, tcp_rejected, tcp_idle_closed,
		send_errors;
	uint64_t tcp_paused;  /* times a connection stopped being read: too much in flight */
	uint64_t tcp_clients; /* now */
};

/* Bind UDP and TCP on every address. Returns 0, or a negative errno with
 * "ADDR: reason" in err (nothing is left bound then). */
int wg_listen_open(uv_loop_t *loop, const struct wg_addr *addrs, size_t n,
		   const struct wg_listen_params *p, wg_listen_query_cb cb, void *arg,
		   struct wg_listen **out, char *err, size_t errcap);
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
