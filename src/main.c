/* main.c: command line, -n, daemonising, pidfile, privilege drop, signals
 * and the run loop; what serves (and its reload) is daemon.c's. */
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
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <uv.h>

#include "config.h"
#include "crosscheck.h"
#include "guardsets.h"
#include "daemon.h"
#include "log.h"
#include "plugin.h"

#define MAX_OVERRIDES 64

struct wg_main {
	uv_loop_t *loop;                 /* borrowed: the default loop */
	struct wg_override ov[MAX_OVERRIDES];
	struct wg_daemon_args args;      /* config_path borrowed from argv, ov above */
	struct wg_daemon *daemon;        /* owned: everything that serves */
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
		"Signals: HUP reloads the configuration (and reopens the events file), USR1 logs\n"
		"counters, TERM/INT stop. The control socket ([control] socket) does the same\n"
		"with an answer: wuguardctl status, reload, stats --live, flush, cache.\n");
}

static void on_sighup(uv_signal_t *s, int signum)
{
	struct wg_main *m = s->data;
	char err[512];
	/* wg_daemon_reload logs the outcome; a failure keeps everything */
	(void)wg_daemon_reload(m->daemon, err, sizeof(err));
}

static void on_sigusr1(uv_signal_t *s, int signum)
{
	struct wg_main *m = s->data;
	wg_daemon_log_stats(m->daemon);
}

static void on_sigterm(uv_signal_t *s, int signum)
{
	struct wg_main *m = s->data;
	wg_info("main", "signal %d: stopping", signum);
	uv_stop(m->loop);
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

/* Stop everything and release it (so a sanitizer build reports nothing). */
static void teardown(struct wg_main *m)
{
	wg_daemon_close(m->daemon);
	uv_walk(m->loop, close_walk, NULL);
	uv_run(m->loop, UV_RUN_DEFAULT);
	uv_loop_close(m->loop);
	wg_daemon_free(m->daemon);
	m->daemon = NULL;
}

/* A start-up failure after the loop exists: release everything and exit 1. */
static int startup_fail(struct wg_main *m)
{
	teardown(m);
	return 1;
}

static int add_override(struct wg_main *m, const char *section, const char *key, const char *value)
{
	if (m->args.n_ov >= MAX_OVERRIDES) {
		fprintf(stderr, "wuguard: too many command-line options\n");
		return -E2BIG;
	}
	m->ov[m->args.n_ov].section = section;
	m->ov[m->args.n_ov].key = key;
	m->ov[m->args.n_ov].value = value;
	m->args.n_ov++;
	return 0;
}

/* Stage 1: argv into m's overrides and the -n/-f switches. Returns -1 to
 * go on, else the exit code (-V, -h, a usage error). */
static int parse_args(int argc, char **argv, struct wg_main *m, int *check, int *foreground)
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
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "c:nfu:vVh", opts, NULL)) != -1) {
		rc = 0;
		switch (opt) {
		case 'c': m->args.config_path = optarg; break;
		case 'n': *check = 1; break;
		case 'f': *foreground = 1; break;
		case 'u': rc = add_override(m, "server", "user", optarg); break;
		case 'v': m->args.verbose++; break;
		case 'V': printf("wuguard %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		case OPT_LISTEN: rc = add_override(m, "server", "listen", optarg); break;
		case OPT_LOCAL: rc = add_override(m, "upstream", "local", optarg); break;
		case OPT_PUBLIC: rc = add_override(m, "upstream", "public", optarg); break;
		case OPT_DB: rc = add_override(m, "database", "path", optarg); break;
		case OPT_MODE: rc = add_override(m, "server", "mode", optarg); break;
		case OPT_DOMAINS: rc = add_override(m, "guard", "domains", optarg); break;
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
	return -1;
}

/* wuguard -n: everything that can be checked without starting (the
 * plugins load, the stamps decode), and -v dumps the result. Frees cfg;
 * returns the exit code. */
static int check_config(struct wg_main *m, struct wg_config *cfg)
{
	char err[512];
	/* only loading the plugins shows that their files, ABI and
	 * arguments are good: a config that cannot start is not valid */
	struct wg_plugin_chain *chain = NULL;
	struct passwd *pw = cfg->user ? getpwnam(cfg->user) : NULL;
	if (!m->args.verbose)
		wg_log_set_level(WG_LOG_WARN);
	if (cfg->n_plugins &&
	    wg_plugin_chain_load(cfg->plugins, cfg->n_plugins, pw ? pw->pw_uid : 0,
				 &chain, err, sizeof(err)) < 0) {
		fprintf(stderr, "wuguard: %s\n", err);
		wg_daemon_config_free(cfg);
		return 1;
	}
	wg_plugin_chain_unref(chain);
	if (m->args.verbose)
		wg_config_dump(cfg, stdout);
	/* stamps are decoded here so a bad one fails the check, and the
	 * decoded key can be compared with the provider's */
	struct wg_public_list pl;
	if (wg_guardsets_public(cfg, &pl, stdout, err, sizeof(err)) < 0) {
		fprintf(stderr, "wuguard: %s\n", err);
		wg_daemon_config_free(cfg);
		return 1;
	}
	printf("wuguard: configuration %s is valid\n",
	       cfg->source ? cfg->source : "(built-in defaults)");
	wg_daemon_config_free(cfg);
	return 0;
}

/* HUP reload, TERM/INT stop, USR1 counters. */
static void signals_start(struct wg_main *m)
{
	uv_signal_init(m->loop, &m->sig_hup);
	uv_signal_init(m->loop, &m->sig_term);
	uv_signal_init(m->loop, &m->sig_int);
	uv_signal_init(m->loop, &m->sig_usr1);
	m->sig_hup.data = m->sig_term.data = m->sig_int.data = m->sig_usr1.data = m;
	uv_signal_start(&m->sig_hup, on_sighup, SIGHUP);
	uv_signal_start(&m->sig_term, on_sigterm, SIGTERM);
	uv_signal_start(&m->sig_int, on_sigterm, SIGINT);
	uv_signal_start(&m->sig_usr1, on_sigusr1, SIGUSR1);
}

static void log_started(const struct wg_config *c)
{
	for (size_t i = 0; i < c->n_listen; i++) {
		char a[80];
		wg_addr_format(&c->listen[i], a, sizeof(a));
		wg_info("main", "listening on %s (udp, tcp)", a);
	}
	for (size_t i = 0; i < c->n_local; i++) {
		char a[80];
		wg_addr_format(&c->local[i], a, sizeof(a));
		wg_info("main", "local upstream %s", a);
	}
	wg_info("main", "wuguard %s started, mode %s", PACKAGE_VERSION,
		c->mode == WG_MODE_REPAIR ? "repair" : "monitor");
}

/* main keeps argv, daemonising and signals; the daemon module builds and
 * reloads the serving parts. */
int main(int argc, char **argv)
{
	struct wg_main m;
	int check = 0, foreground = 0, rc;
	char err[512];

	memset(&m, 0, sizeof(m));
	m.args.ov = m.ov;
	if ((rc = parse_args(argc, argv, &m, &check, &foreground)) >= 0)
		return rc;
	if (sodium_init() < 0) {
		fprintf(stderr, "wuguard: libsodium failed to initialise\n");
		return 1;
	}
	wg_log_open(0, WG_LOG_INFO);
	struct wg_config *cfg = wg_daemon_config_load(&m.args, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "wuguard: %s\n", err);
		return 1;
	}
	wg_plugin_set_trial_timeout(cfg->plugin_timeout_ms);
	if (check)
		return check_config(&m, cfg);
	if (!foreground) {
		if ((rc = daemonize()) < 0) {
			fprintf(stderr, "wuguard: daemonize: %s\n", strerror(-rc));
			return 1;
		}
		wg_log_open(1, (enum wg_log_level)cfg->log_level);
		wg_log_stderr_too(1);
	} else {
		wg_log_set_level((enum wg_log_level)cfg->log_level);
	}
	/* a client that vanishes mid-write must not kill us */
	signal(SIGPIPE, SIG_IGN);

	m.loop = uv_default_loop();
	if ((rc = wg_daemon_start(m.loop, &m.args, cfg, &m.daemon, err, sizeof(err))) < 0) {
		wg_err("main", "%s", err);
		return startup_fail(&m);
	}
	/* from here on the daemon owns the configuration */
	cfg = NULL;
	const struct wg_config *c = wg_daemon_config(m.daemon);
	char *pidfile = c->pidfile ? strdup(c->pidfile) : NULL; /* a reload may change c */
	if (pidfile)
		write_pidfile(pidfile);
	if (c->user && drop_privileges(c->user) < 0) {
		free(pidfile);
		return startup_fail(&m);
	}

	signals_start(&m);
	log_started(c);
	daemon_ready();

	uv_run(m.loop, UV_RUN_DEFAULT);

	teardown(&m);
	if (pidfile)
		unlink(pidfile);
	free(pidfile);
	wg_info("main", "stopped");
	return 0;
}
