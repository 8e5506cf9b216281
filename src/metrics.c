/* metrics.c: GET /metrics; see metrics.h. One struct per connection with
 * its TCP handle and deadline timer, freed when both have closed. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "resolver.h"
#include "stats.h"

struct mx_client {
	struct wg_metrics *m;            /* borrowed: the owner */
	struct mx_client *next, *prev;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	int open_handles;
	int closing;
	size_t n;
	char req[WG_METRICS_REQ_MAX + 1];
	struct wg_stats_buf out;         /* owned: the reply */
};

struct wg_metrics {
	uv_loop_t *loop;                 /* borrowed */
	struct wg_daemon *d;             /* borrowed */
	uv_tcp_t *servers;               /* owned array, n */
	size_t n, n_open;                /* n_open: server handles not yet closed */
	struct mx_client *clients;       /* owned */
	size_t n_clients;
	int closing;
};

static void maybe_free(struct wg_metrics *m)
{
	if (m->closing && !m->clients && m->n_open == 0) {
		free(m->servers);
		free(m);
	}
}

static void client_closed(uv_handle_t *h)
{
	struct mx_client *k = h->data;
	if (--k->open_handles > 0)
		return;
	struct wg_metrics *m = k->m;
	if (k->prev)
		k->prev->next = k->next;
	else
		m->clients = k->next;
	if (k->next)
		k->next->prev = k->prev;
	m->n_clients--;
	wg_stats_buf_free(&k->out);
	free(k);
	maybe_free(m);
}

static void client_close(struct mx_client *k)
{
	if (k->closing)
		return;
	k->closing = 1;
	uv_close((uv_handle_t *)&k->tcp, client_closed);
	uv_close((uv_handle_t *)&k->timer, client_closed);
}

static void on_deadline(uv_timer_t *t)
{
	client_close(t->data);
}

static void on_written(uv_write_t *w, int status)
{
	client_close(w->data);
}

static void reply(struct mx_client *k, const char *status, const char *extra,
		  const struct wg_stats_buf *body, const char *text)
{
	size_t len = body ? body->len : strlen(text);
	wg_stats_buf_printf(&k->out,
			    "HTTP/1.1 %s\r\n"
			    "Content-Type: %s\r\n"
			    "Content-Length: %zu\r\n"
			    "%s"
			    "Connection: close\r\n\r\n",
			    status,
			    body ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8",
			    len, extra ? extra : "");
	if (body)
		wg_stats_buf_printf(&k->out, "%.*s", (int)body->len, body->p ? body->p : "");
	else
		wg_stats_buf_printf(&k->out, "%s", text);
	uv_read_stop((uv_stream_t *)&k->tcp);
	if (k->out.oom) {
		client_close(k);
		return;
	}
	uv_timer_start(&k->timer, on_deadline, WG_METRICS_WRITE_MS, 0);
	uv_buf_t b = uv_buf_init(k->out.p, (unsigned)k->out.len);
	k->wr.data = k;
	if (uv_write(&k->wr, (uv_stream_t *)&k->tcp, &b, 1, on_written) < 0)
		client_close(k);
}

static void handle(struct mx_client *k)
{
	/* request line: METHOD SP TARGET SP HTTP/x.y */
	char *eol = strstr(k->req, "\r\n");
	if (!eol)
		eol = strchr(k->req, '\n');
	if (eol)
		*eol = 0;
	char *sp1 = strchr(k->req, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		reply(k, "400 Bad Request", NULL, NULL, "bad request\n");
		return;
	}
	*sp1 = 0;
	*sp2 = 0;
	char *target = sp1 + 1;
	target[strcspn(target, "?")] = 0; /* a scraper's parameters are ignored */
	if (strcmp(target, "/metrics") != 0) {
		reply(k, "404 Not Found", NULL, NULL, "only /metrics is here\n");
		return;
	}
	if (strcmp(k->req, "GET") != 0) {
		reply(k, "405 Method Not Allowed", "Allow: GET\r\n", NULL, "only GET\n");
		return;
	}
	struct wg_stats_src src;
	struct wg_stats_buf body = {0};
	wg_daemon_stats_src(k->m->d, &src);
	wg_stats_prometheus(&src, &body);
	if (body.oom)
		reply(k, "503 Service Unavailable", NULL, NULL, "out of memory\n");
	else
		reply(k, "200 OK", NULL, &body, NULL);
	wg_stats_buf_free(&body);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct mx_client *k = h->data;
	buf->base = k->req + k->n;
	buf->len = WG_METRICS_REQ_MAX - k->n;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct mx_client *k = s->data;
	if (k->closing || nread == 0)
		return;
	if (nread < 0) {
		client_close(k);
		return;
	}
	k->n += (size_t)nread;
	k->req[k->n] = 0;
	if (strstr(k->req, "\r\n\r\n") || strstr(k->req, "\n\n")) {
		handle(k);
		return;
	}
	if (k->n >= WG_METRICS_REQ_MAX)
		reply(k, "431 Request Header Fields Too Large", NULL, NULL, "request too large\n");
}

static void on_connection(uv_stream_t *server, int status)
{
	struct wg_metrics *m = server->data;
	if (status < 0 || m->closing)
		return;
	struct mx_client *k = calloc(1, sizeof(*k));
	if (!k)
		return;
	k->m = m;
	uv_tcp_init(m->loop, &k->tcp);
	uv_timer_init(m->loop, &k->timer);
	k->tcp.data = k->timer.data = k;
	k->open_handles = 2;
	k->next = m->clients;
	if (m->clients)
		m->clients->prev = k;
	m->clients = k;
	m->n_clients++;
	if (uv_accept(server, (uv_stream_t *)&k->tcp) < 0) {
		client_close(k);
		return;
	}
	struct sockaddr_storage peer;
	int plen = sizeof(peer);
	/* the [acl] as for DNS: a refused client gets nothing at all */
	if (m->n_clients > WG_METRICS_MAX_CLIENTS ||
	    uv_tcp_getpeername(&k->tcp, (struct sockaddr *)&peer, &plen) < 0 ||
	    !wg_resolver_client_allowed(wg_daemon_resolver(m->d), (struct sockaddr *)&peer)) {
		client_close(k);
		return;
	}
	uv_timer_start(&k->timer, on_deadline, WG_METRICS_REQ_MS, 0);
	uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
}

static void server_closed(uv_handle_t *h)
{
	struct wg_metrics *m = h->data;
	m->n_open--;
	maybe_free(m);
}

void wg_metrics_close(struct wg_metrics *m)
{
	if (!m || m->closing)
		return;
	m->closing = 1;
	for (struct mx_client *k = m->clients; k; k = k->next)
		client_close(k);
	for (size_t i = 0; i < m->n; i++)
		uv_close((uv_handle_t *)&m->servers[i], server_closed);
	if (m->n == 0)
		maybe_free(m);
}

int wg_metrics_open(uv_loop_t *loop, const struct wg_addr *addrs, size_t n, struct wg_daemon *d,
		    struct wg_metrics **out, char *err, size_t errcap)
{
	*out = NULL;
	struct wg_metrics *m = calloc(1, sizeof(*m));
	if (m)
		m->servers = calloc(n ? n : 1, sizeof(*m->servers));
	if (!m || !m->servers) {
		if (m)
			free(m);
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	m->loop = loop;
	m->d = d;
	for (size_t i = 0; i < n; i++) {
		char a[80];
		uv_tcp_init(loop, &m->servers[i]);
		m->servers[i].data = m;
		m->n++;
		m->n_open++;
		int rc = uv_tcp_bind(&m->servers[i], (const struct sockaddr *)&addrs[i].ss, 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&m->servers[i], 64, on_connection);
		if (rc < 0) {
			wg_addr_format(&addrs[i], a, sizeof(a));
			snprintf(err, errcap, "%s: %s", a, uv_strerror(rc));
			wg_metrics_close(m);
			return rc;
		}
		wg_addr_format(&addrs[i], a, sizeof(a));
		wg_info("metrics", "metrics on http://%s/metrics", a);
	}
	*out = m;
	return 0;
}
