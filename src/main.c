/* main.c: command line, configuration, binding, privilege drop, signals,
 * the run loop and teardown. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <uv.h>

#include "config.h"
#include "crosscheck.h"
#include "dlog.h"
#include "record.h"
#include "listen.h"
#include "log.h"
#include "plugin.h"
#include "resolver.h"

#define MAX_OVERRIDES 64

struct wg_main {
	uv_loop_t *loop;                 /* borrowed: the default loop */
	struct wg_config *cfg;           /* owned: the running configuration */
	const char *config_path;         /* borrowed from argv, NULL: none */
	struct wg_override ov[MAX_OVERRIDES];
	size_t n_ov;
	int verbose;
	struct wg_listen *listen;        /* owned */
	struct wg_resolver *resolver;    /* owned */
	struct wg_dlog *dlog;            /* owned, NULL: no database (logged) */
	struct wg_record_ctx rec;        /* rec.dl = dlog; hide lists from the config */
	uv_signal_t sig_hup, sig_term, sig_int, sig_usr1;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: wuguard [options]\n"
		"A caching DNS stub resolver that guards Windows Update names.\n"
		"\n"
		"  -c, --config FILE      configuration file (none: built-in defaults)\n"
		"  -n, --check            check the configuration and exit (0 good, 1 bad)\n"
		"  -f, --foreground       stay in the foreground, log to stderr\n"
		"  -u, --user USER        drop privileges to USER after binding\n"
		"  -v, --verbose          more logging (repeat for debug)\n"
		"  -V, --version          print the version and exit\n"
		"  -h, --help             this help\n"
		"      --listen ADDR:PORT listen here (repeatable; replaces the config list)\n"
		"      --local ADDR:PORT  local upstream resolver (repeatable; failover order)\n"
		"      --public ADDR:PORT|sdns://STAMP|none\n"
		"                         public reference for WU names (repeatable; default:\n"
		"                         Quad9, then AdGuard, unfiltered over DNSCrypt;\n"
		"                         none: no cross-check)\n"
		"      --db PATH          discrepancy database\n"
		"      --mode repair|monitor\n"
		"                         repair tampered WU answers, or only record them\n"
		"      --domains FILE     the WU domain set file\n"
		"\n"
		"IPv6 addresses are written in brackets: [::1]:5353.\n"
		"Signals: HUP reloads the configuration, USR1 logs counters, TERM/INT stop.\n");
}

/* Build a configuration from the file (if any) and the overrides. */
static struct wg_config *load_config(struct wg_main *m, char *err, size_t errcap)
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
	const char *path = m->config_path;
	if ((path && wg_config_load(c, path, err, errcap) < 0) ||
	    wg_config_apply_overrides(c, m->ov, m->n_ov, err, errcap) < 0 ||
	    wg_config_finalize(c, err, errcap) < 0) {
		wg_config_free(c);
		free(c);
		return NULL;
	}
	if (m->verbose) {
		int lvl = c->log_level + m->verbose;
		c->log_level = lvl > WG_LOG_DEBUG ? WG_LOG_DEBUG : lvl;
	}
	return c;
}

static void free_config(struct wg_config *c)
{
	if (c) {
		wg_config_free(c);
		free(c);
	}
}

static void on_sighup(uv_signal_t *s, int signum)
{
	struct wg_main *m = s->data;
	wg_dlog_kick(m->dlog); /* a database that could not be opened: try now */
	char err[512];
	struct wg_config *c = load_config(m, err, sizeof(err));
	if (!c) {
		wg_err("main", "reload failed, keeping the running configuration: %s", err);
		return;
	}
	struct wg_record_ctx rec = {0};
	if (wg_record_ctx_configure(&rec, c, err, sizeof(err)) < 0 ||
	    wg_resolver_reload(m->resolver, c, err, sizeof(err)) < 0) {
		wg_err("main", "reload failed, keeping the running configuration: %s", err);
		wg_record_ctx_clear(&rec);
		free_config(c);
		return;
	}
	/* the new hide lists replace the old ones; the database stays */
	wg_record_ctx_clear(&m->rec);
	m->rec.hide_names = rec.hide_names;
	m->rec.hide_clients = rec.hide_clients;
	m->rec.n_hide_clients = rec.n_hide_clients;
	struct wg_listen_params lp = {c->tcp_idle_ms, c->tcp_max_clients, c->tcp_per_client};
	wg_listen_set_params(m->listen, &lp);
	wg_log_set_level((enum wg_log_level)c->log_level);
	if ((c->db_path || m->cfg->db_path) &&
	    (!c->db_path || !m->cfg->db_path || strcmp(c->db_path, m->cfg->db_path) != 0))
		wg_warn("main", "database path changed: it takes effect at the next restart");
	if (c->n_listen != m->cfg->n_listen ||
	    memcmp(c->listen, m->cfg->listen, c->n_listen * sizeof(*c->listen)) != 0)
		wg_warn("main", "listen addresses changed: they take effect at the next restart");
	free_config(m->cfg);
	m->cfg = c;
	wg_info("main", "configuration reloaded");
}

static void log_dlog_stats(struct wg_dlog *d)
{
	struct wg_dlog_stats ds;
	if (!d)
		return;
	wg_dlog_get_stats(d, &ds);
	wg_info("stats",
		"database queued=%llu submitted=%llu written=%llu aggregated=%llu dropped=%llu "
		"errors=%llu%s%s",
		(unsigned long long)ds.queued, (unsigned long long)ds.submitted,
		(unsigned long long)ds.written, (unsigned long long)ds.aggregated,
		(unsigned long long)ds.dropped, (unsigned long long)ds.errors,
		ds.last_error[0] ? " last_error=" : "", ds.last_error);
}

static void log_listen_stats(const struct wg_listen *l)
{
	struct wg_listen_stats ls;
	if (!l)
		return;
	wg_listen_get_stats(l, &ls);
	wg_info("stats",
		"listen udp_in=%llu udp_too_long=%llu tcp_in=%llu tcp_accepted=%llu "
		"tcp_rejected=%llu tcp_denied=%llu tcp_per_client_closed=%llu tcp_evicted=%llu "
		"tcp_pressure=%llu tcp_idle_closed=%llu tcp_paused=%llu tcp_clients=%llu "
		"send_errors=%llu",
		(unsigned long long)ls.udp_in, (unsigned long long)ls.udp_too_long,
		(unsigned long long)ls.tcp_in, (unsigned long long)ls.tcp_accepted,
		(unsigned long long)ls.tcp_rejected, (unsigned long long)ls.tcp_denied,
		(unsigned long long)ls.tcp_per_client_closed, (unsigned long long)ls.tcp_evicted,
		(unsigned long long)ls.tcp_pressure, (unsigned long long)ls.tcp_idle_closed,
		(unsigned long long)ls.tcp_paused, (unsigned long long)ls.tcp_clients,
		(unsigned long long)ls.send_errors);
}

static void on_sigusr1(uv_signal_t *s, int signum)
{
	struct wg_main *m = s->data;
	wg_resolver_log_stats(m->resolver);
	log_listen_stats(m->listen);
	log_dlog_stats(m->dlog);
}

static void on_sigterm(uv_signal_t *s, int signum)
{
	struct wg_main *m = s->data;
	wg_info("main", "signal %d: stopping", signum);
	uv_stop(m->loop);
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
static struct wg_dlog *open_dlog(const struct wg_config *c)
{
	struct wg_dlog_params p;
	char err[512];
	memset(&p, 0, sizeof(p));
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

static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		wg_err("main", "user %s: no such user", user);
		return -ENOENT;
	}
	/* started as that user already (systemd's User=, with the bind
	 * capability given by the unit): nothing to drop */
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid && getgid() == pw->pw_gid &&
	    getegid() == pw->pw_gid)
		return 0;
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		wg_err("main", "dropping privileges to %s: %s", user, strerror(errno));
		return -errno;
	}
	if (setuid(0) == 0) {
		wg_err("main", "privileges could be regained after dropping them");
		return -EPERM;
	}
	return 0;
}

/* The write end of the readiness pipe: the command that started the daemon
 * waits on it, so it exits 0 only once the daemon serves, and 1 (with the
 * reason on its stderr) when start-up failed. -1: foreground. */
static int ready_fd = -1;

static int daemonize(void)
{
	int p[2];
	if (pipe(p) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		char c = 0;
		close(p[1]);
		/* EOF without a byte: the daemon exited before it was ready */
		ssize_t n;
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 && c == '0' ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -errno;
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (fd > 2)
			close(fd);
	}
	/* stderr stays the starter's until daemon_ready() */
	ready_fd = p[1];
	return 0;
}

/* Start-up is complete: let the starting command exit 0 and let go of its
 * stderr. */
static void daemon_ready(void)
{
	if (ready_fd < 0)
		return;
	ssize_t n = write(ready_fd, "0", 1);
	(void)n;
	close(ready_fd);
	ready_fd = -1;
	wg_log_stderr_too(0);
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static void write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		wg_warn("main", "pidfile %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* A start-up failure after the loop exists: release everything (so a
 * sanitizer build reports nothing) and exit 1. */
static int startup_fail(struct wg_main *m)
{
	wg_listen_close(m->listen);
	wg_resolver_free(m->resolver);
	uv_walk(m->loop, close_walk, NULL);
	uv_run(m->loop, UV_RUN_DEFAULT);
	uv_loop_close(m->loop);
	wg_dlog_close(m->dlog);
	wg_record_ctx_clear(&m->rec);
	free_config(m->cfg);
	return 1;
}

static int add_override(struct wg_main *m, const char *section, const char *key, const char *value)
{
	if (m->n_ov >= MAX_OVERRIDES) {
		fprintf(stderr, "wuguard: too many command-line options\n");
		return -E2BIG;
	}
	m->ov[m->n_ov].section = section;
	m->ov[m->n_ov].key = key;
	m->ov[m->n_ov].value = value;
	m->n_ov++;
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_LISTEN = 256, OPT_LOCAL, OPT_PUBLIC, OPT_DB, OPT_MODE, OPT_DOMAINS };
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'n'},
		{"foreground", no_argument, NULL, 'f'},
		{"user", required_argument, NULL, 'u'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"local", required_argument, NULL, OPT_LOCAL},
		{"public", required_argument, NULL, OPT_PUBLIC},
		{"db", required_argument, NULL, OPT_DB},
		{"mode", required_argument, NULL, OPT_MODE},
		{"domains", required_argument, NULL, OPT_DOMAINS},
		{NULL, 0, NULL, 0},
	};
	struct wg_main m;
	int check = 0, foreground = 0, opt, rc;
	char err[512];

	memset(&m, 0, sizeof(m));
	while ((opt = getopt_long(argc, argv, "c:nfu:vVh", opts, NULL)) != -1) {
		rc = 0;
		switch (opt) {
		case 'c': m.config_path = optarg; break;
		case 'n': check = 1; break;
		case 'f': foreground = 1; break;
		case 'u': rc = add_override(&m, "server", "user", optarg); break;
		case 'v': m.verbose++; break;
		case 'V': printf("wuguard %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		case OPT_LISTEN: rc = add_override(&m, "server", "listen", optarg); break;
		case OPT_LOCAL: rc = add_override(&m, "upstream", "local", optarg); break;
		case OPT_PUBLIC: rc = add_override(&m, "upstream", "public", optarg); break;
		case OPT_DB: rc = add_override(&m, "database", "path", optarg); break;
		case OPT_MODE: rc = add_override(&m, "server", "mode", optarg); break;
		case OPT_DOMAINS: rc = add_override(&m, "guard", "domains", optarg); break;
		default: usage(stderr); return 2;
		}
		if (rc < 0)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "wuguard: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "wuguard: libsodium failed to initialise\n");
		return 1;
	}
	wg_log_open(0, WG_LOG_INFO);
	m.cfg = load_config(&m, err, sizeof(err));
	if (!m.cfg) {
		fprintf(stderr, "wuguard: %s\n", err);
		return 1;
	}
	if (check) {
		/* only loading the plugins shows that their files, ABI and
		 * arguments are good: a config that cannot start is not valid */
		struct wg_plugin_chain *chain = NULL;
		struct passwd *pw = m.cfg->user ? getpwnam(m.cfg->user) : NULL;
		if (!m.verbose)
			wg_log_set_level(WG_LOG_WARN);
		if (m.cfg->n_plugins &&
		    wg_plugin_chain_load(m.cfg->plugins, m.cfg->n_plugins, pw ? pw->pw_uid : 0,
					 &chain, err, sizeof(err)) < 0) {
			fprintf(stderr, "wuguard: %s\n", err);
			free_config(m.cfg);
			return 1;
		}
		wg_plugin_chain_unref(chain);
		if (m.verbose)
			wg_config_dump(m.cfg, stdout);
		/* stamps are decoded here so a bad one fails the check, and the
		 * decoded key can be compared with the provider's */
		if (wg_crosscheck_check_public(m.cfg, stdout, err, sizeof(err)) < 0) {
			fprintf(stderr, "wuguard: %s\n", err);
			free_config(m.cfg);
			return 1;
		}
		printf("wuguard: configuration %s is valid\n",
		       m.cfg->source ? m.cfg->source : "(built-in defaults)");
		free_config(m.cfg);
		return 0;
	}
	if (!foreground) {
		if ((rc = daemonize()) < 0) {
			fprintf(stderr, "wuguard: daemonize: %s\n", strerror(-rc));
			return 1;
		}
		wg_log_open(1, (enum wg_log_level)m.cfg->log_level);
		wg_log_stderr_too(1);
	} else {
		wg_log_set_level((enum wg_log_level)m.cfg->log_level);
	}
	/* a client that vanishes mid-write must not kill us */
	signal(SIGPIPE, SIG_IGN);

	raise_nofile(m.cfg);
	m.loop = uv_default_loop();
	if ((rc = wg_resolver_new(m.loop, m.cfg, &m.resolver, err, sizeof(err))) < 0) {
		wg_err("main", "%s", err);
		return startup_fail(&m);
	}
	struct wg_listen_params lp = {m.cfg->tcp_idle_ms, m.cfg->tcp_max_clients,
				      m.cfg->tcp_per_client};
	if ((rc = wg_listen_open(m.loop, m.cfg->listen, m.cfg->n_listen, &lp, wg_resolver_on_query,
				 wg_resolver_client_allowed, m.resolver, &m.listen, err,
				 sizeof(err))) < 0) {
		wg_err("main", "cannot listen on %s", err);
		return startup_fail(&m);
	}
	wg_resolver_set_listener(m.resolver, m.listen);
	/* the writer thread owns the only SQLite handle; opened before the
	 * privilege drop so the file can be created where root can write */
	m.dlog = open_dlog(m.cfg);
	m.rec.dl = m.dlog;
	if (wg_record_ctx_configure(&m.rec, m.cfg, err, sizeof(err)) < 0) {
		wg_err("main", "%s", err);
		return startup_fail(&m);
	}
	wg_resolver_set_recorder(m.resolver, wg_record_to_dlog, &m.rec);
	wg_resolver_set_record_ctx(m.resolver, &m.rec);
	if (m.cfg->pidfile)
		write_pidfile(m.cfg->pidfile);
	if (m.cfg->user && drop_privileges(m.cfg->user) < 0)
		return startup_fail(&m);

	uv_signal_init(m.loop, &m.sig_hup);
	uv_signal_init(m.loop, &m.sig_term);
	uv_signal_init(m.loop, &m.sig_int);
	uv_signal_init(m.loop, &m.sig_usr1);
	m.sig_hup.data = m.sig_term.data = m.sig_int.data = m.sig_usr1.data = &m;
	uv_signal_start(&m.sig_hup, on_sighup, SIGHUP);
	uv_signal_start(&m.sig_term, on_sigterm, SIGTERM);
	uv_signal_start(&m.sig_int, on_sigterm, SIGINT);
	uv_signal_start(&m.sig_usr1, on_sigusr1, SIGUSR1);

	for (size_t i = 0; i < m.cfg->n_listen; i++) {
		char a[80];
		wg_addr_format(&m.cfg->listen[i], a, sizeof(a));
		wg_info("main", "listening on %s (udp, tcp)", a);
	}
	for (size_t i = 0; i < m.cfg->n_local; i++) {
		char a[80];
		wg_addr_format(&m.cfg->local[i], a, sizeof(a));
		wg_info("main", "local upstream %s", a);
	}
	wg_info("main", "wuguard %s started, mode %s", PACKAGE_VERSION,
		m.cfg->mode == WG_MODE_REPAIR ? "repair" : "monitor");
	daemon_ready();

	uv_run(m.loop, UV_RUN_DEFAULT);

	wg_resolver_log_stats(m.resolver);
	log_listen_stats(m.listen);
	wg_listen_close(m.listen);
	wg_resolver_free(m.resolver);
	uv_walk(m.loop, close_walk, NULL);
	uv_run(m.loop, UV_RUN_DEFAULT);
	uv_loop_close(m.loop);
	/* SIGTERM flushes every queued row before exit */
	if (m.dlog) {
		wg_dlog_flush(m.dlog, 2000); /* 2 s: a broken database must not hold up exit */
		log_dlog_stats(m.dlog);
	}
	wg_dlog_close(m.dlog);
	wg_record_ctx_clear(&m.rec);
	if (m.cfg->pidfile)
		unlink(m.cfg->pidfile);
	free_config(m.cfg);
	wg_info("main", "stopped");
	return 0;
}
