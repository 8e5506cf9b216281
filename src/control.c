/* control.c: the control socket; see control.h for the protocol and its
 * limits. Each connection is one struct with its pipe and deadline timer;
 * it is freed when both handles have closed (libuv's rule). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "control.h"
#include "crosscheck.h"
#include "ctl/ctl_out.h"
#include "daemon.h"
#include "dlog.h"
#include "listen.h"
#include "log.h"
#include "plugin.h"
#include "resolver.h"
#include "stats.h"
#include "upstream.h"
#include "wire.h"

struct ctl_client {
	struct wg_control *ctl;          /* borrowed: the owner */
	struct ctl_client *next, *prev;  /* ctl->clients */
	uv_pipe_t pipe;
	uv_timer_t timer;                /* the deadline */
	uv_write_t wr;
	int open_handles;                /* freed at 0 */
	int closing;
	size_t n;
	char req[WG_CONTROL_REQ_MAX + 1];
	struct wg_stats_buf out;         /* owned: the reply being written */
};

struct wg_control {
	uv_loop_t *loop;                 /* borrowed */
	struct wg_daemon *d;             /* borrowed */
	uv_pipe_t server;
	char *path;                      /* owned */
	dev_t dev;                       /* of the socket file we made */
	ino_t ino;
	struct ctl_client *clients;      /* owned, live connections */
	size_t n_clients;
	int closing;
	struct wg_stats_baseline base;   /* owned: counters at the last stats --reset */
	struct wg_control_stats st;
};

/* --- connection life cycle --- */

static void client_closed(uv_handle_t *h)
{
	struct ctl_client *k = h->data;
	if (--k->open_handles > 0)
		return;
	struct wg_control *c = k->ctl;
	if (k->prev)
		k->prev->next = k->next;
	else
		c->clients = k->next;
	if (k->next)
		k->next->prev = k->prev;
	c->n_clients--;
	wg_stats_buf_free(&k->out);
	free(k);
	if (c->closing && !c->clients && c->server.data == NULL) {
		free(c->path);
		wg_stats_baseline_free(&c->base);
		free(c);
	}
}

static void client_close(struct ctl_client *k)
{
	if (k->closing)
		return;
	k->closing = 1;
	uv_close((uv_handle_t *)&k->pipe, client_closed);
	uv_close((uv_handle_t *)&k->timer, client_closed);
}

static void on_deadline(uv_timer_t *t)
{
	struct ctl_client *k = t->data;
	k->ctl->st.timeouts++;
	wg_debug("control", "a control client missed its deadline: closed");
	client_close(k);
}

static void on_written(uv_write_t *w, int status)
{
	struct ctl_client *k = w->data;
	client_close(k);
}

/* --- reply building --- */

/* One data line; a leading "." is doubled so it cannot end the reply. */
static void line(struct ctl_client *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct ctl_client *k, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* one reply line per call: a newline inside would end it early */
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	wg_stats_buf_printf(&k->out, "%s%s\n", buf[0] == '.' ? "." : "", buf);
}

/* Text that already holds whole lines (stats): stuffed line by line. */
static void lines(struct ctl_client *k, const char *text, size_t len)
{
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		wg_stats_buf_printf(&k->out, "%s%.*s\n", text[i] == '.' ? "." : "", (int)(end - i),
				    text + i);
		i = end + 1;
	}
}

static void finish(struct ctl_client *k, const char *error)
{
	struct wg_control *c = k->ctl;
	c->st.requests++;
	if (error) {
		c->st.errors++;
		wg_stats_buf_printf(&k->out, ".\nerror %s\n", error);
	} else {
		wg_stats_buf_printf(&k->out, ".\nok\n");
	}
	if (k->out.oom) {
		wg_stats_buf_free(&k->out);
		wg_stats_buf_printf(&k->out, ".\nerror out of memory\n");
	}
	uv_read_stop((uv_stream_t *)&k->pipe);
	uv_timer_start(&k->timer, on_deadline, WG_CONTROL_WRITE_MS, 0);
	uv_buf_t b = uv_buf_init(k->out.p ? k->out.p : (char *)"", (unsigned)k->out.len);
	k->wr.data = k;
	if (uv_write(&k->wr, (uv_stream_t *)&k->pipe, &b, 1, on_written) < 0)
		client_close(k);
}

/* --- commands --- */

static void stats_src(struct wg_control *c, struct wg_stats_src *src)
{
	wg_daemon_stats_src(c->d, src);
}

static void fmt_time(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void status_public(void *arg, const char *name, const char *transport, const char *state)
{
	struct ctl_client *k = arg;
	line(k, "public: %s %s: %s", name, transport, state);
}

static const char *cmd_status(struct ctl_client *k)
{
	struct wg_control *c = k->ctl;
	const struct wg_config *cfg = wg_daemon_config(c->d);
	struct wg_resolver *r = wg_daemon_resolver(c->d);
	char t[64], a[80];
	int64_t up = wg_daemon_started(c->d);
	fmt_time(up, t, sizeof(t));
	line(k, "version: wuguard %s", PACKAGE_VERSION);
	line(k, "pid: %ld", (long)getpid());
	line(k, "up since: %s (%lld s)", t, (long long)(time(NULL) - up));
	line(k, "mode: %s", cfg->mode == WG_MODE_REPAIR ? "repair" : "monitor");
	line(k, "config: %s", cfg->source ? cfg->source : "(built-in defaults)");
	for (size_t i = 0; i < cfg->n_listen; i++) {
		wg_addr_format(&cfg->listen[i], a, sizeof(a));
		line(k, "listen: %s udp tcp", a);
	}
	const struct wg_upstream *u = wg_resolver_local(r);
	for (size_t i = 0; i < wg_upstream_n_servers(u); i++) {
		struct wg_upstream_server_stats ss;
		wg_upstream_server_name(u, (int)i, a, sizeof(a));
		if (wg_upstream_get_server_stats(u, i, &ss) < 0)
			continue;
		if (ss.fails_in_row)
			line(k, "upstream: %s down: %u tries failed since its last reply "
				"(sent %llu, replies %llu, timeouts %llu)",
			     a, (unsigned)ss.fails_in_row, (unsigned long long)ss.sent,
			     (unsigned long long)ss.replies, (unsigned long long)ss.timeouts);
		else
			line(k, "upstream: %s up (sent %llu, replies %llu, timeouts %llu)", a,
			     (unsigned long long)ss.sent, (unsigned long long)ss.replies,
			     (unsigned long long)ss.timeouts);
	}
	const struct wg_crosscheck *x = wg_resolver_crosscheck(r);
	if (x && wg_crosscheck_enabled(x))
		wg_crosscheck_public_each(x, status_public, k);
	else
		line(k, "public: none (WU names are forwarded unchecked)");
	struct wg_dlog *dl = wg_daemon_dlog(c->d);
	if (!dl) {
		line(k, "database: none");
	} else {
		struct wg_dlog_stats ds;
		wg_dlog_get_stats(dl, &ds);
		line(k, "database: %s %s (written %llu, queued %llu, dropped %llu, errors %llu)%s%s",
		     cfg->db_path, ds.unavailable ? "unavailable, rows wait" : "open",
		     (unsigned long long)ds.written, (unsigned long long)ds.queued,
		     (unsigned long long)ds.dropped, (unsigned long long)ds.errors,
		     ds.last_error[0] ? ": last error: " : "", ds.last_error);
	}
	struct wg_plugin_chain *pc = wg_resolver_plugins(r);
	for (size_t i = 0; pc && i < wg_plugin_chain_count(pc); i++)
		line(k, "plugin: %s", wg_plugin_chain_name(pc, i));
	struct wg_cache_stats cs;
	wg_cache_get_stats(wg_resolver_cache(r), &cs);
	line(k, "cache: %llu entries, %llu bytes", (unsigned long long)cs.entries,
	     (unsigned long long)cs.bytes);
	line(k, "control: %s", c->path);
	if (cfg->n_metrics_listen == 0)
		line(k, "metrics: off");
	for (size_t i = 0; i < cfg->n_metrics_listen; i++) {
		wg_addr_format(&cfg->metrics_listen[i], a, sizeof(a));
		line(k, "metrics: http://%s/metrics", a);
	}
	return NULL;
}

static const char *cmd_stats(struct ctl_client *k, char **argv, int argc)
{
	struct wg_control *c = k->ctl;
	int json = 0, reset = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "json") == 0)
			json = 1;
		else if (strcmp(argv[i], "reset") == 0)
			reset = 1;
		else
			return "usage: stats [json] [reset]";
	}
	struct wg_stats_src src;
	stats_src(c, &src);
	struct wg_stats_buf b = {0};
	wg_stats_format(&src, &c->base, json, &b);
	if (b.oom) {
		wg_stats_buf_free(&b);
		return "out of memory";
	}
	lines(k, b.p, b.len);
	wg_stats_buf_free(&b);
	/* after the output: the reply shows what was counted up to the reset */
	if (reset && wg_stats_baseline_set(&c->base, &src) < 0)
		return "out of memory (counters not reset)";
	return NULL;
}

static char reload_err[600];

static const char *cmd_reload(struct ctl_client *k)
{
	/* wg_daemon_reload logs the outcome too */
	if (wg_daemon_reload(k->ctl->d, reload_err, sizeof(reload_err)) < 0)
		return reload_err;
	return NULL;
}

static int parse_type(const char *s, uint16_t *out)
{
	char buf[32];
	char *end;
	if (strncasecmp(s, "TYPE", 4) == 0 && s[4])
		s += 4;
	if (*s >= '0' && *s <= '9') {
		unsigned long v = strtoul(s, &end, 10);
		if (*end || v > 65535)
			return -EINVAL;
		*out = (uint16_t)v;
		return 0;
	}
	/* the names wuguardctl prints, so what it shows can be typed back */
	for (unsigned t = 1; t < 300; t++) {
		const char *n = wg_ctl_type_name(t, buf, sizeof(buf));
		if (n != buf && strcasecmp(n, s) == 0) {
			*out = (uint16_t)t;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_name(const char *s, uint8_t *wire)
{
	char buf[WG_NAME_MAX * 4 + 2];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf) - 1)
		return -EINVAL;
	/* "example.com" and "example.com." name the same entries */
	snprintf(buf, sizeof(buf), "%s%s", s, s[n - 1] == '.' ? "" : ".");
	return wg_wire_name_from_str(buf, wire);
}

static char msg[300];

static const char *cmd_flush(struct ctl_client *k, char **argv, int argc)
{
	struct wg_cache *cache = wg_resolver_cache(wg_daemon_resolver(k->ctl->d));
	if (argc == 2 && strcmp(argv[1], "--all") == 0) {
		struct wg_cache_stats cs;
		wg_cache_get_stats(cache, &cs);
		wg_cache_clear(cache);
		line(k, "removed %llu entries", (unsigned long long)cs.entries);
		wg_info("control", "cache flushed: %llu entries", (unsigned long long)cs.entries);
		return NULL;
	}
	if (argc < 2 || argc > 3)
		return "usage: flush NAME [TYPE] | flush --all";
	uint8_t wire[WG_NAME_MAX];
	uint16_t qtype = 0;
	int n = parse_name(argv[1], wire);
	if (n < 0) {
		snprintf(msg, sizeof(msg), "'%.200s' is not a domain name", argv[1]);
		return msg;
	}
	if (argc == 3 && parse_type(argv[2], &qtype) < 0) {
		snprintf(msg, sizeof(msg), "'%.100s' is not a record type (A, AAAA, TYPE65 ...)",
			 argv[2]);
		return msg;
	}
	int removed = wg_cache_remove_name(cache, wire, (size_t)n, qtype);
	if (removed < 0)
		return "bad name";
	line(k, "removed %d entries", removed);
	wg_info("control", "cache flushed: %s %s, %d entries", argv[1], argc == 3 ? argv[2] : "(all types)",
		removed);
	return NULL;
}

/* The addresses and CNAME targets of an entry's answer section, short. */
static void answer_text(const struct wg_cache_entry_info *e, char *buf, size_t cap)
{
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	size_t n = 0;
	unsigned an = e->len >= WG_HDR_LEN ? wg_get16(e->pkt + 6) : 0;
	buf[0] = 0;
	if (wg_wire_iter_init(&it, e->pkt, e->len) < 0)
		return;
	while (wg_wire_iter_next(&it, &rr) == 1 && rr.index < an && n + 2 < cap) {
		char v[WG_NAME_MAX * 4 + 16], tb[16];
		int fam = rr.type == 1 && rr.rdlen == 4 ? AF_INET
			: rr.type == 28 && rr.rdlen == 16 ? AF_INET6 : 0;
		if (fam) {
			inet_ntop(fam, e->pkt + rr.rdata, v, sizeof(v));
		} else if (rr.type == 5) {
			uint8_t nm[WG_NAME_MAX];
			if (wg_wire_name_read(e->pkt, e->len, rr.rdata, nm) < 0)
				continue;
			char t[WG_NAME_MAX * 4 + 2];
			wg_wire_name_to_str(nm, t, sizeof(t));
			snprintf(v, sizeof(v), "CNAME %s", t);
		} else {
			snprintf(v, sizeof(v), "%s (%u bytes)", wg_ctl_type_name(rr.type, tb, sizeof(tb)),
				 (unsigned)rr.rdlen);
		}
		int w = snprintf(buf + n, cap - n, "%s%s", n ? " " : "", v);
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
}

static void cache_entry(void *arg, const struct wg_cache_entry_info *e)
{
	struct ctl_client *k = arg;
	char tb[16], rb[16], ans[600], ede[32] = "";
	char ttl[64];
	if (e->ttl_left_ms >= 0)
		snprintf(ttl, sizeof(ttl), "ttl %lld of %u", (long long)(e->ttl_left_ms / 1000),
			 (unsigned)e->lifetime_s);
	else
		snprintf(ttl, sizeof(ttl), "stale for %lld s", (long long)(-e->ttl_left_ms / 1000));
	if (e->ede >= 0)
		snprintf(ede, sizeof(ede), " ede %d", e->ede);
	answer_text(e, ans, sizeof(ans));
	line(k, "%s %s %s%s%s %s%s%s hits %u%s%s", wg_ctl_type_name(e->qtype, tb, sizeof(tb)),
	     wg_ctl_rcode_name(e->rcode, rb, sizeof(rb)), ttl,
	     (e->flags & WG_CACHE_F_DO) ? " do" : "", (e->flags & WG_CACHE_F_CD) ? " cd" : "",
	     e->verified ? "verified" : "unverified", e->ede >= 0 ? " repaired" : "", ede,
	     (unsigned)e->hits, ans[0] ? ": " : "", ans);
}

static const char *cmd_cache(struct ctl_client *k, char **argv, int argc)
{
	struct wg_resolver *r = wg_daemon_resolver(k->ctl->d);
	uint8_t wire[WG_NAME_MAX];
	if (argc != 2)
		return "usage: cache NAME";
	int n = parse_name(argv[1], wire);
	if (n < 0) {
		snprintf(msg, sizeof(msg), "'%.200s' is not a domain name", argv[1]);
		return msg;
	}
	int found = wg_cache_visit_name(wg_resolver_cache(r), wire, (size_t)n,
					wg_resolver_now_ms(r), cache_entry, k);
	if (found == 0)
		line(k, "%s: not cached", argv[1]);
	return NULL;
}

#define MAX_ARGS 8

static void handle(struct ctl_client *k)
{
	char *argv[MAX_ARGS] = {NULL}, *save = NULL;
	int argc = 0;
	for (char *t = strtok_r(k->req, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (argc == MAX_ARGS) {
			finish(k, "too many arguments");
			return;
		}
		argv[argc++] = t;
	}
	const char *err;
	if (argc == 0)
		err = "empty request (commands: status, stats, reload, flush, cache)";
	else if (strcmp(argv[0], "status") == 0 && argc == 1)
		err = cmd_status(k);
	else if (strcmp(argv[0], "stats") == 0)
		err = cmd_stats(k, argv, argc);
	else if (strcmp(argv[0], "reload") == 0 && argc == 1)
		err = cmd_reload(k);
	else if (strcmp(argv[0], "flush") == 0)
		err = cmd_flush(k, argv, argc);
	else if (strcmp(argv[0], "cache") == 0)
		err = cmd_cache(k, argv, argc);
	else {
		snprintf(msg, sizeof(msg), "unknown command '%.64s' (commands: status, stats, "
					   "reload, flush, cache)", argv[0]);
		err = msg;
	}
	if (err)
		wg_debug("control", "request '%s': %s", argc ? argv[0] : "", err);
	finish(k, err);
}

/* --- reading --- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_client *k = h->data;
	/* one byte over the limit shows a request that is too long */
	buf->base = k->req + k->n;
	buf->len = sizeof(k->req) - k->n;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct ctl_client *k = s->data;
	if (k->closing)
		return;
	if (nread < 0) {
		client_close(k); /* EOF before a whole request, or an error */
		return;
	}
	size_t old = k->n;
	k->n += (size_t)nread;
	char *nl = memchr(k->req + old, '\n', k->n - old);
	if (nl) {
		*nl = 0;
		if (nl > k->req && nl[-1] == '\r')
			nl[-1] = 0;
		if (memchr(k->req, 0, (size_t)(nl - k->req))) {
			finish(k, "a NUL byte in the request");
			return;
		}
		handle(k);
		return;
	}
	if (k->n >= WG_CONTROL_REQ_MAX) {
		k->ctl->st.too_long++;
		k->req[0] = 0;
		finish(k, "request too long");
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	struct wg_control *c = server->data;
	if (status < 0 || c->closing)
		return;
	struct ctl_client *k = calloc(1, sizeof(*k));
	if (!k || c->n_clients >= WG_CONTROL_MAX_CLIENTS) {
		/* take it off the backlog and close it at once */
		uv_pipe_t *tmp = malloc(sizeof(*tmp));
		free(k);
		if (!tmp)
			return;
		uv_pipe_init(c->loop, tmp, 0);
		if (uv_accept(server, (uv_stream_t *)tmp) == 0)
			c->st.rejected++;
		uv_close((uv_handle_t *)tmp, (uv_close_cb)free);
		return;
	}
	k->ctl = c;
	uv_pipe_init(c->loop, &k->pipe, 0);
	uv_timer_init(c->loop, &k->timer);
	k->pipe.data = k->timer.data = k;
	k->open_handles = 2;
	k->next = c->clients;
	if (c->clients)
		c->clients->prev = k;
	c->clients = k;
	c->n_clients++;
	if (uv_accept(server, (uv_stream_t *)&k->pipe) < 0) {
		client_close(k);
		return;
	}
	uv_timer_start(&k->timer, on_deadline, WG_CONTROL_REQ_MS, 0);
	uv_read_start((uv_stream_t *)&k->pipe, on_alloc, on_read);
}

/* --- the socket file --- */

/* 1: someone accepts connections on path now. */
static int socket_live(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live;
}

static int make_dir(const char *path, uid_t uid, gid_t gid, char *err, size_t errcap)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(dir, 0755);
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errcap, "%s: cannot create directory %s: %s", path, dir, strerror(e));
		return -e;
	}
	/* ours, made for the service user: it may remove the socket at exit */
	const char *base = strrchr(dir, '/');
	if (uid != (uid_t)-1 && base && strcmp(base + 1, "wuguard") == 0 &&
	    chown(dir, uid, gid) < 0)
		wg_warn("control", "chown %s: %s", dir, strerror(errno));
	return 0;
}

static void open_failed_closed(uv_handle_t *h)
{
	struct wg_control *c = h->data;
	free(c->path);
	free(c);
}

int wg_control_open(uv_loop_t *loop, const char *path, struct wg_daemon *d, uid_t uid, gid_t gid,
		    struct wg_control **out, char *err, size_t errcap)
{
	struct stat st;
	*out = NULL;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errcap, "%s: longer than a socket path may be (%zu bytes)", path,
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	int rc = make_dir(path, uid, gid, err, errcap);
	if (rc < 0) {
		if (rc == -ENOTDIR)
			snprintf(err, errcap, "%s: the parent is not a directory", path);
		return rc;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errcap, "%s: exists and is not a socket (not removed)", path);
			return -EEXIST;
		}
		if (socket_live(path)) {
			snprintf(err, errcap, "%s: another daemon is listening on it", path);
			return -EADDRINUSE;
		}
		unlink(path); /* left by a daemon that did not exit cleanly */
	}
	struct wg_control *c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	c->loop = loop;
	c->d = d;
	uv_pipe_init(loop, &c->server, 0);
	c->server.data = c;
	/* no moment with a wider mode: bind under a umask that gives 0660 */
	mode_t old = umask(0117);
	rc = uv_pipe_bind(&c->server, path);
	umask(old);
	if (rc == 0 && stat(path, &st) == 0) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	if (rc == 0 && chmod(path, 0660) < 0)
		rc = -errno;
	if (rc == 0 && uid != (uid_t)-1 && geteuid() == 0 && chown(path, uid, gid) < 0)
		rc = -errno;
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&c->server, 16, on_connection);
	if (rc < 0) {
		snprintf(err, errcap, "%s: %s", path, uv_strerror(rc));
		if (c->ino)
			unlink(path);
		uv_close((uv_handle_t *)&c->server, open_failed_closed);
		return rc;
	}
	wg_info("control", "control socket %s", path);
	*out = c;
	return 0;
}

static void server_closed(uv_handle_t *h)
{
	struct wg_control *c = h->data;
	c->server.data = NULL;
	if (!c->clients) {
		free(c->path);
		wg_stats_baseline_free(&c->base);
		free(c);
	}
}

void wg_control_close(struct wg_control *c)
{
	struct stat st;
	if (!c || c->closing)
		return;
	c->closing = 1;
	/* only the file we made: a new daemon may already have replaced it */
	if (c->path && stat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino &&
	    unlink(c->path) < 0)
		wg_debug("control", "%s: %s (left for the next start)", c->path, strerror(errno));
	for (struct ctl_client *k = c->clients; k; k = k->next)
		client_close(k);
	uv_close((uv_handle_t *)&c->server, server_closed);
}

void wg_control_get_stats(const struct wg_control *c, struct wg_control_stats *s)
{
	*s = c->st;
}

const char *wg_control_path(const struct wg_control *c)
{
	return c->path;
}
