/* daemon.c: build the serving parts from a configuration, reload them as
 * one, tear them down; see daemon.h. */
#include "autoconfig.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "metrics.h"
#include "daemon.h"
#include "dlog.h"
#include "events.h"
#include "listen.h"
#include "log.h"
#include "plugin.h"
#include "verdict_log.h"
#include "resolver.h"
#include "stats.h"

struct wg_daemon {
	uv_loop_t *loop;                 /* borrowed */
	const struct wg_daemon_args *args; /* borrowed: read again on reload */
	struct wg_config *cfg;           /* owned: the running configuration */
	struct wg_resolver *resolver;    /* owned */
	struct wg_listen *listen;        /* owned */
	struct wg_dlog *dlog;            /* owned, NULL: no database (logged) */
	struct wg_events *events;        /* owned, NULL: [log] events = none */
	struct wg_verdict_log rec;        /* rec.dl = dlog; hide lists from cfg */
	struct wg_control *control;      /* owned, NULL: off or could not be made (logged) */
	struct wg_metrics *metrics;      /* owned, NULL: off or could not listen (logged) */
	int64_t started;                 /* wall clock, s */
};

struct wg_config *wg_daemon_config_load(const struct wg_daemon_args *a, char *err,
					size_t errcap)
{
	struct wg_config *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	if (wg_config_defaults(c) < 0) {
		snprintf(err, errcap, "out of memory");
		free(c);
		return NULL;
	}
	/* no -c: built-in defaults only, so a stray file never surprises */
	if ((a->config_path && wg_config_load(c, a->config_path, err, errcap) < 0) ||
	    wg_config_apply_overrides(c, a->ov, a->n_ov, err, errcap) < 0 ||
	    wg_config_finalize(c, err, errcap) < 0) {
		wg_daemon_config_free(c);
		return NULL;
	}
	if (a->verbose) {
		int lvl = c->log_level + a->verbose;
		c->log_level = lvl > WG_LOG_DEBUG ? WG_LOG_DEBUG : lvl;
	}
	return c;
}

void wg_daemon_config_free(struct wg_config *c)
{
	if (c) {
		wg_config_free(c);
		free(c);
	}
}

/* mkdir -p for the database's directory (0750): a fresh install has none.
 * Returns 0, or a negative errno when the directory is still not usable
 * (a path component is a regular file, no permission ...), with the
 * directory's path left in dir, so the log can say why instead of SQLite's
 * bare "unable to open database file". */
static int make_parent_dirs(const char *path, char *dir, size_t cap)
{
	struct stat st;
	snprintf(dir, cap, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(dir, 0755);
		*p = '/';
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* A database that cannot be opened never stops resolution: the guard runs
 * and counts, and the reason is logged. */
static struct wg_dlog *open_dlog(const struct wg_config *c, struct wg_events *events)
{
	struct wg_dlog_params p;
	char err[512];
	memset(&p, 0, sizeof(p));
	p.events = events;
	p.client_privacy = (int)c->client_privacy;
	p.queue_size = c->queue_size;
	p.aggregate_s = c->aggregate_s;
	p.retention_days = c->retention_days;
	p.max_db_mb = c->max_db_mb;
	if (!c->db_path || !*c->db_path)
		return NULL;
	char dir[1024] = "";
	/* a "file:" SQLite URI is no file system path: nothing to create */
	int rc = strncmp(c->db_path, "file:", 5) == 0 ? 0
						      : make_parent_dirs(c->db_path, dir, sizeof(dir));
	if (rc < 0)
		wg_err("main", "discrepancy database %s: cannot create directory %s: %s "
			       "(resolution goes on; rows wait in memory and opening is retried)",
		       c->db_path, dir, strerror(-rc));
	struct wg_dlog *d = wg_dlog_open(c->db_path, &p, err, sizeof(err));
	/* the writer may have to reopen the database after a fault, by then as
	 * the service user: hand it the files (and a directory we made for
	 * it), never a shared directory such as /tmp or /var/lib */
	struct passwd *pw = c->user ? getpwnam(c->user) : NULL;
	/* already that user (the unit's User=): the files are its own, and the
	 * unit's system call filter refuses chown */
	if (pw && geteuid() == pw->pw_uid)
		pw = NULL;
	if (d && pw && strncmp(c->db_path, "file:", 5) != 0) {
		static const char *const sfx[] = {"", "-wal", "-shm"};
		char f[1100];
		for (size_t i = 0; i < 3; i++) {
			snprintf(f, sizeof(f), "%s%s", c->db_path, sfx[i]);
			if (chown(f, pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT)
				wg_warn("main", "chown %s: %s", f, strerror(errno));
		}
		const char *base = strrchr(dir, '/');
		if (base && strcmp(base + 1, "wuguard") == 0 && chown(dir, pw->pw_uid, pw->pw_gid) < 0)
			wg_warn("main", "chown %s: %s", dir, strerror(errno));
	}
	if (!d)
		wg_err("main", "discrepancy database %s: %s (resolution goes on without it)",
		       c->db_path, err);
	else if (err[0] && rc == 0)
		wg_err("main", "discrepancy database %s: %s (resolution goes on; rows wait in "
			       "memory and opening is retried)", c->db_path, err);
	else if (!err[0])
		wg_info("main", "discrepancy database %s", c->db_path);
	return d;
}

/* Every TCP client and every upstream exchange (two for a guarded name)
 * holds a descriptor. Raise the soft limit towards what the configuration
 * can use, up to the hard limit, and say so when that is still short:
 * beyond it, TCP clients are shed and misses fail. */
static void raise_nofile(const struct wg_config *c)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = (rlim_t)c->tcp_max_clients + 2 * (rlim_t)c->max_inflight + 64;
	if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want)
		wg_warn("main",
			"only %llu file descriptors (RLIMIT_NOFILE) for tcp-max-clients %u and "
			"max-inflight %u, which may use %llu: raise the hard limit (ulimit -Hn, "
			"systemd LimitNOFILE=)",
			(unsigned long long)rl.rlim_cur, c->tcp_max_clients, c->max_inflight,
			(unsigned long long)want);
}

static void listen_params(const struct wg_config *c, struct wg_listen_params *lp)
{
	lp->tcp_idle_ms = c->tcp_idle_ms;
	lp->tcp_max_clients = c->tcp_max_clients;
	lp->tcp_per_client = c->tcp_per_client;
}

/* NULL: the control socket is switched off */
static const char *control_path(const struct wg_config *c)
{
	const char *p = c->control_socket;
	return p && *p && strcmp(p, "none") != 0 ? p : NULL;
}

/* Like the database, a control socket that cannot be made never stops
 * resolution: the reason is logged and signals still work. Made before the
 * privilege drop, handed to the service user. */
static void open_control(struct wg_daemon *d)
{
	const char *path = control_path(d->cfg);
	char err[512];
	if (!path)
		return;
	struct passwd *pw = d->cfg->user ? getpwnam(d->cfg->user) : NULL;
	uid_t uid = pw && geteuid() == 0 ? pw->pw_uid : (uid_t)-1;
	gid_t gid = pw && geteuid() == 0 ? pw->pw_gid : (gid_t)-1;
	if (wg_control_open(d->loop, path, d, uid, gid, &d->control, err, sizeof(err)) < 0)
		wg_err("main", "control socket %s (wuguardctl status, reload ... will not "
			       "work; signals do)", err);
}

int wg_daemon_start(uv_loop_t *loop, const struct wg_daemon_args *args, struct wg_config *cfg,
		    struct wg_daemon **out, char *err, size_t errcap)
{
	struct wg_daemon *d = calloc(1, sizeof(*d));
	*out = d;
	if (!d) {
		wg_daemon_config_free(cfg);
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	d->loop = loop;
	d->args = args;
	d->cfg = cfg;
	d->started = (int64_t)time(NULL);
	raise_nofile(cfg);
	int rc = wg_resolver_new(loop, cfg, &d->resolver, err, errcap);
	if (rc < 0)
		return rc;
	struct wg_listen_params lp;
	listen_params(cfg, &lp);
	char why[400];
	if ((rc = wg_listen_open(loop, cfg->listen, cfg->n_listen, &lp, wg_resolver_on_query,
				 wg_resolver_client_allowed, d->resolver, &d->listen, why,
				 sizeof(why))) < 0) {
		snprintf(err, errcap, "cannot listen on %s", why);
		return rc;
	}
	wg_resolver_set_listener(d->resolver, d->listen);
	/* the writer thread owns the only SQLite handle; opened before the
	 * privilege drop so the file can be created where root can write */
	if (cfg->events) {
		/* before the database, which feeds it; a target that cannot be
		 * opened yet drops and counts lines and is retried */
		struct passwd *pw = cfg->user ? getpwnam(cfg->user) : NULL;
		struct wg_events_params ep = {cfg->events, cfg->site, cfg->facility,
					      pw ? pw->pw_uid : (uid_t)-1,
					      pw ? pw->pw_gid : (gid_t)-1};
		d->events = wg_events_open(&ep, err, errcap);
		if (!d->events)
			return -ENOMEM;
		if (err[0])
			wg_err("main", "%s", err);
		else
			wg_info("main", "events to %s", cfg->events);
	}
	d->dlog = open_dlog(cfg, d->events);
	d->rec.dl = d->dlog;
	if ((rc = wg_verdict_log_configure(&d->rec, cfg, err, errcap)) < 0)
		return rc;
	wg_resolver_set_recorder(d->resolver, wg_verdict_log_submit, &d->rec);
	open_control(d);
	if (cfg->n_metrics_listen &&
	    wg_metrics_open(loop, cfg->metrics_listen, cfg->n_metrics_listen, d, &d->metrics, why,
			    sizeof(why)) < 0)
		wg_err("main", "metrics endpoint %s (resolution goes on without it)", why);
	return 0;
}

static int str_same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

int wg_daemon_reload(struct wg_daemon *d, char *err, size_t errcap)
{
	wg_dlog_kick(d->dlog); /* a database that could not be opened: try now */
	wg_events_reopen(d->events); /* logrotate moved the file */
	/* 1. everything that can fail, built beside the running parts */
	struct wg_config *c = wg_daemon_config_load(d->args, err, errcap);
	if (!c) {
		wg_err("main", "reload failed, keeping the running configuration: %s", err);
		return -EINVAL;
	}
	struct wg_verdict_log rec = {0};
	int rc = wg_verdict_log_configure(&rec, c, err, errcap);
	/* the resolver builds its new lists, public references and plugin
	 * chain first and swaps only when all of them loaded; the plugins are
	 * tried with the new file's plugin-timeout */
	unsigned old_timeout = wg_plugin_set_trial_timeout(c->plugin_timeout_ms);
	if (rc == 0 && (rc = wg_resolver_reload(d->resolver, c, err, errcap)) < 0)
		wg_verdict_log_clear(&rec);
	if (rc < 0) {
		wg_plugin_set_trial_timeout(old_timeout);
		wg_err("main", "reload failed, keeping the running configuration: %s", err);
		wg_daemon_config_free(c);
		return rc;
	}
	/* 2. nothing below can fail: the new hide lists replace the old ones
	 * (the database stays), then limits and log level */
	wg_verdict_log_clear(&d->rec);
	d->rec.hide_names = rec.hide_names;
	d->rec.hide_clients = rec.hide_clients;
	d->rec.n_hide_clients = rec.n_hide_clients;
	struct wg_listen_params lp;
	listen_params(c, &lp);
	wg_listen_set_params(d->listen, &lp);
	wg_log_set_level((enum wg_log_level)c->log_level);
	if ((c->db_path || d->cfg->db_path) &&
	    (!c->db_path || !d->cfg->db_path || strcmp(c->db_path, d->cfg->db_path) != 0))
		wg_warn("main", "database path changed: it takes effect at the next restart");
	if (!str_same(c->events, d->cfg->events) || !str_same(c->site, d->cfg->site) ||
	    c->facility != d->cfg->facility)
		wg_warn("main", "[log] events, site or facility changed: they take effect at the "
			"next restart");
	const char *np = control_path(c), *op = control_path(d->cfg);
	if ((np || op) && (!np || !op || strcmp(np, op) != 0))
		wg_warn("main", "control socket changed: it takes effect at the next restart");
	/* memcmp's pointers must not be NULL, even for 0 bytes (UBSan) */
	if (c->n_metrics_listen != d->cfg->n_metrics_listen ||
	    (c->n_metrics_listen &&
	     memcmp(c->metrics_listen, d->cfg->metrics_listen,
		    c->n_metrics_listen * sizeof(*c->metrics_listen)) != 0))
		wg_warn("main", "metrics listen addresses changed: they take effect at the next "
				"restart");
	if (c->n_listen != d->cfg->n_listen ||
	    memcmp(c->listen, d->cfg->listen, c->n_listen * sizeof(*c->listen)) != 0)
		wg_warn("main", "listen addresses changed: they take effect at the next restart");
	wg_daemon_config_free(d->cfg);
	d->cfg = c;
	if (errcap)
		err[0] = 0;
	wg_info("main", "configuration reloaded");
	return 0;
}

const struct wg_config *wg_daemon_config(const struct wg_daemon *d)
{
	return d->cfg;
}

struct wg_resolver *wg_daemon_resolver(const struct wg_daemon *d)
{
	return d->resolver;
}

struct wg_listen *wg_daemon_listen(const struct wg_daemon *d)
{
	return d->listen;
}

struct wg_dlog *wg_daemon_dlog(const struct wg_daemon *d)
{
	return d->dlog;
}

struct wg_events *wg_daemon_events(const struct wg_daemon *d)
{
	return d->events;
}

int64_t wg_daemon_started(const struct wg_daemon *d)
{
	return d->started;
}

static void stats_src(const struct wg_daemon *d, struct wg_stats_src *src)
{
	src->resolver = d->resolver;
	src->listen = d->listen;
	src->dlog = d->dlog;
	src->events = d->events;
}

void wg_daemon_stats_src(const struct wg_daemon *d, struct wg_stats_src *src)
{
	stats_src(d, src);
}

void wg_daemon_log_stats(const struct wg_daemon *d)
{
	struct wg_stats_src src;
	stats_src(d, &src);
	wg_stats_log(&src);
}

void wg_daemon_close(struct wg_daemon *d)
{
	if (!d)
		return;
	/* the last counters; the database's follow once its queue is written */
	struct wg_stats_src src;
	stats_src(d, &src);
	src.dlog = NULL;
	src.events = NULL;
	wg_stats_log(&src);
	wg_control_close(d->control);
	d->control = NULL;
	wg_metrics_close(d->metrics);
	d->metrics = NULL;
	wg_listen_close(d->listen);
	d->listen = NULL;
	wg_resolver_free(d->resolver);
	d->resolver = NULL;
}

void wg_daemon_free(struct wg_daemon *d)
{
	if (!d)
		return;
	/* SIGTERM flushes every queued row before exit */
	if (d->dlog) {
		wg_dlog_flush(d->dlog, 2000); /* 2 s: a broken database must not hold up exit */
		struct wg_stats_src src = {NULL, NULL, d->dlog, NULL};
		wg_stats_log(&src);
	}
	wg_dlog_close(d->dlog);
	struct wg_stats_src es = {NULL, NULL, NULL, d->events};
	wg_stats_log(&es);
	wg_events_close(d->events); /* after the writer that feeds it */
	wg_verdict_log_clear(&d->rec);
	wg_daemon_config_free(d->cfg);
	free(d);
}
