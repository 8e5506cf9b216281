/* metrics.h: the Prometheus endpoint, GET /metrics ([metrics] listen).
 *
 * A minimal HTTP/1.x server on libuv TCP that serves the counter registry
 * (stats.h) in the text exposition format and nothing else: another path
 * gets 404, another method 405, a request head over WG_METRICS_REQ_MAX
 * bytes 431, each followed by closing the connection. A client the [acl]
 * refuses is closed at accept with no reply. The request head must arrive
 * within WG_METRICS_REQ_MS of the accept and the reply be taken within
 * WG_METRICS_WRITE_MS, or the connection is closed; at most
 * WG_METRICS_MAX_CLIENTS are open at once. Everything is non-blocking on the
 * loop thread, so a slow scraper never holds up resolution. */
#ifndef WG_METRICS_H
#define WG_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "netaddr.h"

#define WG_METRICS_REQ_MAX 4096
#define WG_METRICS_REQ_MS 2000
#define WG_METRICS_WRITE_MS 5000
#define WG_METRICS_MAX_CLIENTS 16

struct wg_metrics;
struct wg_daemon;

/* Listen on every address for d (borrowed, outlives the endpoint).
 * Returns 0, or a negative errno with "ADDR: reason" in err (nothing is
 * left listening then). */
int wg_metrics_open(uv_loop_t *loop, const struct wg_addr *addrs, size_t n, struct wg_daemon *d,
		    struct wg_metrics **out, char *err, size_t errcap);
/* Stop listening, drop every connection; memory goes once the loop has run
 * the closes. Safe with NULL. */
void wg_metrics_close(struct wg_metrics *m);

#endif
