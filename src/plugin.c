/* plugin.c: see plugin.h.
 *
 * Loading follows the Redis module loader: dlopen(RTLD_NOW|RTLD_LOCAL) so
 * unresolved symbols fail at load time rather than mid-query and two
 * plugins never see each other's symbols; one entry point; a versioned
 * table checked before any other call. Plugins never link against the
 * daemon: everything they use comes through the host table below. */
#include "autoconfig.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include "log.h"
#include "plugin.h"
#include "safefile.h"

struct wg_plugin_slot {
	char *name;                    /* owned: instance name ([plugin:NAME]) */
	int fd;                        /* owned: the checked file, open while loaded */
	void *dl;                      /* owned: dlopen handle of /proc/self/fd/<fd> */
	const struct wg_plugin_v1 *t;  /* borrowed from the loaded object */
	void *inst;                    /* owned through t->fini */
};

struct wg_plugin_chain {
	unsigned refs;
	size_t n;
	struct wg_plugin_slot p[WG_PLUGIN_MAX];
};

/* ---- the host table ---------------------------------------------------- */

static void host_log(int level, const char *tag, const char *fmt, ...)
{
	if (level < WG_LOG_ERR)
		level = WG_LOG_ERR;
	if (level > WG_LOG_DEBUG)
		level = WG_LOG_DEBUG;
	if (level > wg_log_level_current)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wg_log_write((enum wg_log_level)level, tag ? tag : "plugin", "%s", msg);
}

static int host_log_enabled(int level)
{
	return level <= wg_log_level_current;
}

/* Text form without the trailing dot, the way list entries are written. */
static void name_text(const uint8_t *wire, char *buf, size_t cap)
{
	wg_wire_name_to_str(wire, buf, cap);
	size_t l = strlen(buf);
	if (l > 0 && buf[l - 1] == '.')
		buf[l - 1] = 0;
}

static const char *host_qname_text(struct wg_qctx *ctx)
{
	if (!ctx->qi)
		return "";
	if (!ctx->have_text) {
		name_text(ctx->qi->qname_lc, ctx->qname_text, sizeof(ctx->qname_text));
		ctx->have_text = 1;
	}
	return ctx->qname_text;
}

static const uint8_t *host_qname_wire(struct wg_qctx *ctx, size_t *len)
{
	if (len)
		*len = ctx->qi ? ctx->qi->qname_len : 0;
	return ctx->qi ? ctx->qi->qname_lc : NULL;
}

static uint16_t host_qtype(struct wg_qctx *ctx)
{
	return ctx->qi ? ctx->qi->qtype : 0;
}

static uint16_t host_qclass(struct wg_qctx *ctx)
{
	return ctx->qi ? ctx->qi->qclass : 0;
}

static const struct sockaddr *host_client_addr(struct wg_qctx *ctx, socklen_t *len)
{
	if (len)
		*len = ctx->client ? ctx->client_len : 0;
	return ctx->client;
}

static void host_set_data(struct wg_qctx *ctx, void *data)
{
	if (ctx->cur < WG_PLUGIN_MAX)
		ctx->data[ctx->cur] = data;
}

static void *host_get_data(struct wg_qctx *ctx)
{
	return ctx->cur < WG_PLUGIN_MAX ? ctx->data[ctx->cur] : NULL;
}

static void host_set_reason(struct wg_qctx *ctx, const char *entry)
{
	snprintf(ctx->reason, sizeof(ctx->reason), "%s", entry ? entry : "");
}

static int host_set_answer_addr(struct wg_qctx *ctx, int family, const void *addr, uint32_t ttl)
{
	if ((family != AF_INET && family != AF_INET6) || !addr)
		return -EINVAL;
	if (ctx->n_local >= WG_PLUGIN_MAX_LOCAL)
		return -ENOSPC;
	struct wg_plugin_local_addr *l = &ctx->local[ctx->n_local++];
	memset(l, 0, sizeof(*l));
	l->family = family;
	memcpy(l->addr, addr, family == AF_INET ? 4 : 16);
	l->ttl = ttl;
	return 0;
}

static int host_rcode(struct wg_qctx *ctx)
{
	if (!ctx->resp || ctx->resp_len < WG_HDR_LEN)
		return -1;
	return WG_RCODE(wg_get16(ctx->resp + 2));
}

/* Find the next answer RR of type want1 or want2 from the packed iterator
 * (index << 16 | offset of the next RR; 0: start). Fills the RR's type,
 * rdata offset and length. Returns 1 when found, 0 at the end or on bad
 * bytes. Offsets fit 16 bits: a DNS message is at most 65535 bytes. */
static int next_rr(struct wg_qctx *ctx, uint32_t *iter, uint16_t want1, uint16_t want2,
		   uint16_t *type_out, size_t *rd, uint16_t *rdlen)
{
	if (!ctx->resp || !ctx->ans_off)
		return 0;
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	wg_wire_iter_at(&it, ctx->resp, ctx->resp_len, *iter ? (*iter & 0xffff) : ctx->ans_off,
			*iter >> 16, ctx->ancount);
	while (wg_wire_iter_next(&it, &rr) > 0) {
		*iter = (uint32_t)(it.index << 16) | (uint32_t)it.off;
		if ((rr.type == want1 || rr.type == want2) && rr.rclass == 1) {
			*type_out = rr.type;
			*rd = rr.rdata;
			*rdlen = rr.rdlen;
			return 1;
		}
	}
	return 0;
}

static int host_answer_addr_next(struct wg_qctx *ctx, uint32_t *iter, int *family,
				 uint8_t addr[16])
{
	uint16_t type, rl;
	size_t rd;
	while (next_rr(ctx, iter, WG_TYPE_A, WG_TYPE_AAAA, &type, &rd, &rl)) {
		if (rl != (type == WG_TYPE_A ? 4 : 16))
			continue; /* malformed address record: skip it */
		memset(addr, 0, 16);
		memcpy(addr, ctx->resp + rd, rl);
		*family = type == WG_TYPE_A ? AF_INET : AF_INET6;
		return 1;
	}
	return 0;
}

static int host_answer_cname_next(struct wg_qctx *ctx, uint32_t *iter, char *buf, size_t cap)
{
	size_t rd;
	uint16_t rl, type;
	while (next_rr(ctx, iter, WG_TYPE_CNAME, WG_TYPE_CNAME, &type, &rd, &rl)) {
		uint8_t name[WG_NAME_MAX];
		if (wg_wire_name_read(ctx->resp, ctx->resp_len, rd, name) < 0)
			continue;
		if (cap)
			name_text(name, buf, cap);
		return 1;
	}
	return 0;
}

static const uint8_t *host_response_wire(struct wg_qctx *ctx, size_t *len)
{
	if (len)
		*len = ctx->resp ? ctx->resp_len : 0;
	return ctx->resp;
}

static const struct wg_host_api host_api = {
	.abi_version = WG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct wg_host_api),
	.version = PACKAGE_VERSION,
	.log = host_log,
	.log_enabled = host_log_enabled,
	.qname_text = host_qname_text,
	.qname_wire = host_qname_wire,
	.qtype = host_qtype,
	.qclass = host_qclass,
	.client_addr = host_client_addr,
	.set_data = host_set_data,
	.get_data = host_get_data,
	.set_reason = host_set_reason,
	.set_answer_addr = host_set_answer_addr,
	.rcode = host_rcode,
	.answer_addr_next = host_answer_addr_next,
	.answer_cname_next = host_answer_cname_next,
	.response_wire = host_response_wire,
};

/* ---- loading ----------------------------------------------------------- */

/* The trial child's report pipe (-1 in the daemon): load_one and chain_free
 * write a progress record into it before each step that runs plugin code,
 * so the parent can name the plugin and the step a crash happened in. */
static int trial_fd = -1;

static unsigned trial_ms = WG_PLUGIN_TRIAL_MS;

unsigned wg_plugin_set_trial_timeout(unsigned ms)
{
	unsigned old = trial_ms;
	trial_ms = ms ? ms : WG_PLUGIN_TRIAL_MS;
	return old;
}

enum trial_step { STEP_LOAD = 'l', STEP_ENTRY = 'e', STEP_INIT = 'i', STEP_FINI = 'f' };

static void trial_progress(enum trial_step step, size_t i)
{
	if (trial_fd < 0)
		return;
	unsigned char rec[2] = {(unsigned char)step, (unsigned char)i};
	ssize_t n = write(trial_fd, rec, sizeof(rec));
	(void)n; /* a short pipe write only makes the report vaguer */
}

static void chain_free(struct wg_plugin_chain *c)
{
	for (size_t i = c->n; i-- > 0;) {
		struct wg_plugin_slot *s = &c->p[i];
		if (s->inst && s->t && s->t->fini) {
			trial_progress(STEP_FINI, i);
			s->t->fini(s->inst);
		}
		if (s->dl)
			dlclose(s->dl);
		if (s->fd >= 0)
			close(s->fd);
		free(s->name);
	}
	free(c);
}

/* Open a plugin's file once and check that descriptor and the directories
 * above it (safefile.h): root, the running user or the service user only.
 * Returns the descriptor or a negative errno with the reason in err. */
static int open_checked(const struct wg_plugin_conf *conf, uid_t service_uid, char *err,
			size_t cap)
{
	const char *name = conf->name ? conf->name : "?";
	if (!conf->path || !conf->path[0]) {
		snprintf(err, cap, "plugin %s: no path given", name);
		return -EINVAL;
	}
	char why[600];
	int fd = wg_safefile_open(conf->path, service_uid, why, sizeof(why));
	if (fd < 0) {
		snprintf(err, cap, "plugin %s: %s", name, why);
		return fd;
	}
	return fd;
}

void (*wg_plugin_test_after_check)(const char *path);

/* dlopen the checked descriptor itself, through /proc/self/fd/N, never the
 * path again. glibc matches the name against the objects already loaded
 * before it opens anything, and an object keeps the name it was first
 * loaded under after that descriptor is closed: when dlclose could not
 * unload it (RTLD_NODELETE, unique symbols), or when a later load of the
 * same file found it again (a reload). Our descriptor N is fresh, so an
 * object named /proc/self/fd/N is such a leftover, whatever file it is: it
 * shows up with RTLD_NOLOAD under exactly that name, and a duplicate of the
 * descriptor under another number avoids it. *fd may be replaced by that
 * duplicate. */
static void *dlopen_fd(int *fd, char *dlerr, size_t cap)
{
	int tried[8];
	size_t ntried = 0;
	void *dl = NULL;
	dlerr[0] = 0;
	for (;;) {
		char name[64];
		snprintf(name, sizeof(name), "/proc/self/fd/%d", *fd);
		void *old = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
		struct link_map *lm = NULL;
		int stale = old && dlinfo(old, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name &&
			    strcmp(lm->l_name, name) == 0;
		if (old)
			dlclose(old);
		if (!stale) {
			dlerror();
			dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
			if (!dl) {
				const char *e = dlerror();
				snprintf(dlerr, cap, "%s", e ? e : "unknown error");
			}
			break;
		}
		int nfd = ntried < sizeof(tried) / sizeof(tried[0])
				  ? fcntl(*fd, F_DUPFD_CLOEXEC, 0)
				  : -1;
		if (nfd < 0) {
			snprintf(dlerr, cap, "no descriptor name free of a stale loaded object");
			break;
		}
		tried[ntried++] = *fd;
		*fd = nfd;
	}
	/* the first of the tried descriptors is the caller's: keep the last */
	for (size_t i = 0; i < ntried; i++)
		close(tried[i]);
	return dl;
}

/* Load slot i from its checked descriptor fd (owned by the slot from now
 * on) and run its entry point and init. */
static int load_one(struct wg_plugin_slot *s, size_t i, const struct wg_plugin_conf *conf,
		    int fd, char *err, size_t cap)
{
	const char *name = conf->name ? conf->name : "?";
	s->fd = fd;
	s->name = strdup(name);
	if (!s->name)
		return -ENOMEM;
	char dlerr[512];
	trial_progress(STEP_LOAD, i);
	s->dl = dlopen_fd(&s->fd, dlerr, sizeof(dlerr));
	if (!s->dl) {
		snprintf(err, cap, "plugin %s: cannot load %s: %s", name, conf->path, dlerr);
		return -ELIBBAD;
	}
	wg_plugin_entry_fn entry;
	void *sym = dlsym(s->dl, WG_PLUGIN_ENTRY_SYMBOL);
	if (!sym) {
		snprintf(err, cap,
			 "plugin %s: %s has no entry point %s(): not a wuguard plugin", name,
			 conf->path, WG_PLUGIN_ENTRY_SYMBOL);
		return -ENOEXEC;
	}
	/* POSIX guarantees a function pointer survives the round trip through
	 * void * for dlsym; memcpy keeps -Wpedantic quiet about it */
	memcpy(&entry, &sym, sizeof(entry));
	trial_progress(STEP_ENTRY, i);
	const struct wg_plugin_v1 *t = entry(&host_api);
	if (!t) {
		snprintf(err, cap, "plugin %s: %s refused to load (entry point returned NULL)",
			 name, conf->path);
		return -ENOEXEC;
	}
	if (t->abi_version != WG_PLUGIN_ABI_VERSION) {
		snprintf(err, cap,
			 "plugin %s: %s speaks plugin ABI version %u, this wuguard speaks %u: "
			 "rebuild it against this version's wuguard-plugin.h",
			 name, conf->path, (unsigned)t->abi_version, WG_PLUGIN_ABI_VERSION);
		return -EPROTO;
	}
	/* a larger table is a newer release of the same ABI (members are only
	 * appended); a smaller one would make us read past its end */
	if (t->struct_size < sizeof(struct wg_plugin_v1)) {
		snprintf(err, cap,
			 "plugin %s: %s has a plugin table of %u bytes, expected at least %zu: "
			 "rebuild it against this version's wuguard-plugin.h",
			 name, conf->path, (unsigned)t->struct_size, sizeof(struct wg_plugin_v1));
		return -EPROTO;
	}
	if (!t->init || !t->fini) {
		snprintf(err, cap, "plugin %s: %s lacks the required init or fini hook", name,
			 conf->path);
		return -ENOEXEC;
	}
	s->t = t;

	size_t nargs = conf->keys.n < conf->values.n ? conf->keys.n : conf->values.n;
	struct wg_plugin_arg *args = calloc(nargs ? nargs : 1, sizeof(*args));
	if (!args)
		return -ENOMEM;
	for (size_t k = 0; k < nargs; k++) {
		args[k].key = conf->keys.v[k];
		args[k].value = conf->values.v[k];
	}
	char perr[512] = "";
	trial_progress(STEP_INIT, i);
	s->inst = t->init(name, args, nargs, perr, sizeof(perr));
	free(args);
	if (!s->inst) {
		snprintf(err, cap, "plugin %s (%s): %s", name, t->name ? t->name : conf->path,
			 perr[0] ? perr : "init failed");
		return -EINVAL;
	}
	wg_info("plugin", "loaded %s (%s %s) from %s", name, t->name ? t->name : "?",
		t->version ? t->version : "?", conf->path);
	return 0;
}

/* Load every plugin from its descriptor into a new chain; fds[] pass to
 * the chain (closed on error too). */
static int chain_build(const struct wg_plugin_conf *confs, int *fds, size_t n,
		       struct wg_plugin_chain **out, char *err, size_t cap)
{
	struct wg_plugin_chain *c = calloc(1, sizeof(*c));
	if (!c) {
		for (size_t i = 0; i < n; i++)
			close(fds[i]);
		return -ENOMEM;
	}
	c->refs = 1;
	for (size_t i = 0; i < n; i++)
		c->p[i].fd = -1;
	for (size_t i = 0; i < n; i++) {
		/* count the slot first so chain_free cleans up a half-loaded one */
		c->n = i + 1;
		int rc = load_one(&c->p[i], i, &confs[i], fds[i], err, cap);
		if (rc < 0) {
			for (size_t k = i + 1; k < n; k++)
				close(fds[k]);
			if (rc == -ENOMEM && !err[0])
				snprintf(err, cap, "plugin %s: out of memory",
					 confs[i].name ? confs[i].name : "?");
			chain_free(c);
			return rc;
		}
	}
	*out = c;
	return 0;
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGILL: return "SIGILL";
	case SIGFPE: return "SIGFPE";
	case SIGABRT: return "SIGABRT";
	case SIGTRAP: return "SIGTRAP";
	case SIGSYS: return "SIGSYS";
	case SIGKILL: return "SIGKILL";
	case SIGTERM: return "SIGTERM";
	case SIGALRM: return "SIGALRM";
	case SIGPIPE: return "SIGPIPE";
	case SIGXCPU: return "SIGXCPU";
	case SIGXFSZ: return "SIGXFSZ";
	default: return NULL;
	}
}

static const char *step_name(int step)
{
	switch (step) {
	case STEP_LOAD: return "while being loaded (its constructors)";
	case STEP_ENTRY: return "in its entry point";
	case STEP_INIT: return "in its init";
	case STEP_FINI: return "in its fini";
	default: return "while being tried";
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The child: load, init, fini, _exit, and report through fd. Only the
 * forking thread exists here, so nothing may take a lock another thread of
 * the daemon (the database writer, libuv's pool) could have held at fork:
 * no logging (stdio, syslog), no SQLite. malloc is safe: glibc's fork
 * takes and reinitialises its arenas' locks, and resets the dynamic
 * loader's lock in the child, so dlopen works; the daemon loads plugins
 * from the loop thread only. */
static void __attribute__((noreturn))
trial_child(const struct wg_plugin_conf *confs, int *fds, size_t n, int fd)
{
	/* default actions: a crash must end us with its signal, not in a
	 * sanitizer's or the daemon's handler, and a HUP or TERM must not
	 * reach the parent's loop through libuv's shared signal pipe */
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS,
				   SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGPIPE, SIGCHLD};
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	wg_log_level_current = -1;
	trial_fd = fd;
	char err[1024] = "";
	struct wg_plugin_chain *c = NULL;
	int rc = chain_build(confs, fds, n, &c, err, sizeof(err));
	if (rc == 0) {
		chain_free(c);
		_exit(0);
	}
	size_t len = strlen(err);
	unsigned char tag = 'E';
	if (write(fd, &tag, 1) == 1 && write(fd, err, len) != (ssize_t)len)
		rc = -EIO;
	_exit(-rc > 0 && -rc < 256 ? -rc : EIO);
}

/* Try the whole chain in a forked child first: a plugin that crashes or
 * hangs in its loading, init or fini takes the child down, not the daemon.
 * Returns 0 when the child loaded and unloaded everything, else the
 * child's error (its message in err), -EFAULT for a crash or -ETIMEDOUT
 * for a child killed after trial_ms. */
static int chain_trial(const struct wg_plugin_conf *confs, int *fds, size_t n, char *err,
		       size_t cap)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		int e = errno;
		snprintf(err, cap, "cannot try the plugins in a child: pipe: %s", strerror(e));
		return -e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		snprintf(err, cap, "cannot try the plugins in a child: fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		close(p[0]);
		trial_child(confs, fds, n, p[1]);
	}
	close(p[1]);

	/* read the report until the child has exited, or the deadline; the
	 * last progress record names the plugin and step a crash happened in.
	 * The child's exit ends the trial, not the pipe's EOF: a helper process
	 * a plugin started keeps its copy of the pipe open. */
	int64_t deadline = mono_ms() + trial_ms;
	int step = 0, idx = -1, eof = 0, exited = 0, timed_out = 0, status = 0;
	char msg[1024];
	size_t mlen = 0;
	int in_msg = 0;
	unsigned char buf[512], pend = 0;
	int have_pend = 0;
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (!exited && left <= 0) {
			timed_out = 1;
			break;
		}
		ssize_t got = 0;
		if (!eof) {
			/* 10 ms slices: how soon an exit is seen; once it is, only
			 * what the child wrote before it is left to read */
			struct pollfd pf = {p[0], POLLIN, 0};
			if (poll(&pf, 1, exited ? 0 : left < 10 ? (int)left : 10) > 0) {
				got = read(p[0], buf, sizeof(buf));
				if (got == 0 || (got < 0 && errno != EINTR))
					eof = 1;
			}
		} else if (!exited) {
			struct timespec nap = {0, 10 * 1000000L}; /* 10 ms */
			nanosleep(&nap, NULL);
		}
		for (ssize_t k = 0; k < got; k++) {
			if (in_msg) {
				if (mlen + 1 < sizeof(msg))
					msg[mlen++] = (char)buf[k];
			} else if (have_pend) {
				step = pend;
				idx = buf[k];
				have_pend = 0;
			} else if (buf[k] == 'E') {
				in_msg = 1;
			} else {
				pend = buf[k];
				have_pend = 1;
			}
		}
		if (got > 0)
			continue;
		if (exited)
			break; /* and nothing left to read */
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			exited = 1;
		} else if (w < 0 && errno != EINTR) {
			int e = errno;
			close(p[0]);
			snprintf(err, cap, "cannot try the plugins in a child: waitpid: %s",
				 strerror(e));
			return -e;
		}
	}
	close(p[0]);
	msg[mlen] = 0;
	if (timed_out) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}

	const struct wg_plugin_conf *pc = idx >= 0 && (size_t)idx < n ? &confs[idx] : NULL;
	const char *pname = pc && pc->name ? pc->name : "?";
	const char *ppath = pc && pc->path ? pc->path : "?";
	if (timed_out) {
		snprintf(err, cap,
			 "plugin %s (%s) hung %s when tried in a child: killed it after %u ms "
			 "([server] plugin-timeout); refusing to load it",
			 pname, ppath, step_name(step), trial_ms);
		return -ETIMEDOUT;
	}
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		const char *sn = signal_name(sig);
		char num[24];
		if (!sn) {
			snprintf(num, sizeof(num), "signal %d", sig);
			sn = num;
		}
		snprintf(err, cap,
			 "plugin %s (%s) crashed %s with %s (%s) when tried in a child; "
			 "refusing to load it",
			 pname, ppath, step_name(step), sn, strsignal(sig));
		return -EFAULT;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (mlen) {
		snprintf(err, cap, "%s", msg);
	} else {
		snprintf(err, cap, "plugin %s (%s): the trial in a child failed (exit status %d)",
			 pname, ppath, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) ? -WEXITSTATUS(status) : -EIO;
}

int wg_plugin_chain_load(const struct wg_plugin_conf *confs, size_t n, uid_t service_uid,
			 struct wg_plugin_chain **out, char *err, size_t cap)
{
	char dummy[8];
	if (!err || cap == 0) {
		err = dummy;
		cap = sizeof(dummy);
	}
	err[0] = 0;
	if (n > WG_PLUGIN_MAX) {
		snprintf(err, cap, "%zu plugins configured, at most %d are supported", n,
			 WG_PLUGIN_MAX);
		return -E2BIG;
	}
	/* open and check each file once: the trial and the real load both
	 * load these descriptors, so they load what was checked */
	int fds[WG_PLUGIN_MAX];
	for (size_t i = 0; i < n; i++) {
		int fd = open_checked(&confs[i], service_uid, err, cap);
		if (fd < 0) {
			for (size_t k = 0; k < i; k++)
				close(fds[k]);
			return fd;
		}
		fds[i] = fd;
	}
	if (n && wg_plugin_test_after_check)
		wg_plugin_test_after_check(confs[0].path);
	int rc = n ? chain_trial(confs, fds, n, err, cap) : 0;
	if (rc < 0) {
		for (size_t k = 0; k < n; k++)
			close(fds[k]);
		return rc;
	}
	return chain_build(confs, fds, n, out, err, cap);
}

void wg_plugin_chain_ref(struct wg_plugin_chain *chain)
{
	if (chain)
		chain->refs++;
}

void wg_plugin_chain_unref(struct wg_plugin_chain *chain)
{
	if (chain && --chain->refs == 0)
		chain_free(chain);
}

int wg_plugin_reload(struct wg_plugin_chain **cur, const struct wg_plugin_conf *confs,
		     size_t n, uid_t service_uid, char *err, size_t cap)
{
	struct wg_plugin_chain *fresh = NULL;
	int rc = wg_plugin_chain_load(confs, n, service_uid, &fresh, err, cap);
	if (rc < 0)
		return rc;
	wg_plugin_chain_unref(*cur);
	*cur = fresh;
	return 0;
}

size_t wg_plugin_chain_count(const struct wg_plugin_chain *chain)
{
	return chain ? chain->n : 0;
}

const char *wg_plugin_chain_name(const struct wg_plugin_chain *chain, size_t i)
{
	return chain && i < chain->n ? chain->p[i].name : NULL;
}

struct stats_tramp {
	void (*emit)(void *arg, const char *instance, const char *key, uint64_t value);
	void *arg;
	const char *instance;
};

static void stats_emit(void *arg, const char *key, uint64_t value)
{
	struct stats_tramp *st = arg;
	st->emit(st->arg, st->instance, key, value);
}

void wg_plugin_chain_stats(struct wg_plugin_chain *chain,
			   void (*emit)(void *arg, const char *instance, const char *key,
					uint64_t value),
			   void *arg)
{
	if (!chain || !emit)
		return;
	for (size_t i = 0; i < chain->n; i++) {
		struct wg_plugin_slot *s = &chain->p[i];
		if (!s->t->stats)
			continue;
		struct stats_tramp st = {emit, arg, s->name};
		s->t->stats(s->inst, stats_emit, &st);
	}
}

/* ---- per query ----------------------------------------------------------- */

void wg_plugin_qctx_begin(struct wg_qctx *ctx, struct wg_plugin_chain *chain,
			  const uint8_t *query, size_t query_len,
			  const struct wg_query_info *qi, const struct sockaddr *client,
			  socklen_t client_len)
{
	wg_plugin_chain_ref(chain);
	ctx->chain = chain;
	ctx->query = query;
	ctx->query_len = query_len;
	ctx->qi = qi;
	ctx->client = client;
	ctx->client_len = client_len;
	ctx->resp = NULL;
	ctx->resp_len = 0;
	ctx->ans_off = 0;
	ctx->ancount = 0;
	ctx->cur = 0;
	ctx->have_text = 0;
	ctx->reason[0] = 0;
	ctx->n_local = 0;
	memset(ctx->data, 0, sizeof(ctx->data));
}

const char *wg_plugin_verdict_str(int code)
{
	static const char *names[] = {"continue",     "block-null", "block-nxdomain",
				      "block-nodata", "block-refused", "answer",
				      "drop",         "refuse"};
	return code >= 0 && code <= WG_PV_MAX ? names[code] : "?";
}

static int run_chain(struct wg_qctx *ctx, int post, int is_wu_name,
		     struct wg_plugin_verdict *out)
{
	out->action = WG_PV_CONTINUE;
	out->wanted = WG_PV_CONTINUE;
	out->overridden = 0;
	out->n_overridden = 0;
	out->plugin = NULL;
	out->entry[0] = 0;
	out->n_local = 0;
	struct wg_plugin_chain *c = ctx->chain;
	if (!c)
		return WG_PV_CONTINUE;

	for (size_t i = 0; i < c->n; i++) {
		struct wg_plugin_slot *s = &c->p[i];
		int (*hook)(void *, struct wg_qctx *) = post ? s->t->post_response : s->t->pre_query;
		if (!hook)
			continue;
		ctx->cur = (unsigned)i;
		ctx->reason[0] = 0;
		ctx->n_local = 0;
		int v = hook(s->inst, ctx);
		if (v == WG_PV_CONTINUE)
			continue;
		if (v < 0 || v > WG_PV_MAX) {
			wg_debug("plugin", "%s returned unknown verdict %d: treated as continue",
				 s->name, v);
			continue;
		}
		if (is_wu_name) {
			/* the guard wins: set the verdict aside and let the rest
			 * run as if this plugin had said continue */
			if (!out->overridden) {
				out->overridden = 1;
				out->wanted = v;
				out->plugin = s->name;
				memcpy(out->entry, ctx->reason, sizeof(out->entry));
			}
			out->n_overridden++;
			wg_debug("plugin", "%s wanted %s for WU name %s (entry %s): not applied",
				 s->name, wg_plugin_verdict_str(v), host_qname_text(ctx),
				 ctx->reason[0] ? ctx->reason : "-");
			continue;
		}
		out->action = v;
		out->wanted = v;
		out->plugin = s->name;
		memcpy(out->entry, ctx->reason, sizeof(out->entry));
		out->n_local = ctx->n_local;
		memcpy(out->local, ctx->local, sizeof(out->local[0]) * ctx->n_local);
		wg_debug("plugin", "%s: %s %s (entry %s)", s->name, wg_plugin_verdict_str(v),
			 host_qname_text(ctx), ctx->reason[0] ? ctx->reason : "-");
		break;
	}
	return out->action;
}

int wg_plugin_run_pre(struct wg_qctx *ctx, int is_wu_name, struct wg_plugin_verdict *out)
{
	return run_chain(ctx, 0, is_wu_name, out);
}

int wg_plugin_run_post(struct wg_qctx *ctx, const uint8_t *resp, size_t resp_len,
		       int is_wu_name, struct wg_plugin_verdict *out)
{
	ctx->resp = resp;
	ctx->resp_len = resp_len > WG_PKT_MAX ? WG_PKT_MAX : resp_len;
	ctx->ans_off = 0;
	ctx->ancount = 0;
	struct wg_wire_iter it;
	if (resp && wg_wire_iter_init(&it, resp, ctx->resp_len) == 0 && it.off < ctx->resp_len) {
		ctx->ans_off = (uint16_t)it.off;
		ctx->ancount = wg_get16(resp + 6);
	}
	return run_chain(ctx, 1, is_wu_name, out);
}

void wg_plugin_qctx_end(struct wg_qctx *ctx)
{
	struct wg_plugin_chain *c = ctx->chain;
	if (c) {
		for (size_t i = 0; i < c->n; i++) {
			if (!c->p[i].t->query_end)
				continue;
			ctx->cur = (unsigned)i;
			c->p[i].t->query_end(c->p[i].inst, ctx);
			ctx->data[i] = NULL;
		}
	}
	ctx->chain = NULL;
	ctx->resp = NULL;
	wg_plugin_chain_unref(c);
}

/* ---- blocked replies ------------------------------------------------------ */

static size_t put_rr_head(uint8_t *p, uint16_t type, uint16_t cls, uint32_t ttl, uint16_t rdlen)
{
	p[0] = 0xc0; /* owner: pointer to the question name at offset 12 */
	p[1] = WG_HDR_LEN;
	wg_put16(p + 2, type);
	wg_put16(p + 4, cls);
	wg_put32(p + 6, ttl);
	wg_put16(p + 10, rdlen);
	return 12;
}

int wg_plugin_build_reply(const struct wg_plugin_verdict *v, const uint8_t *query,
			  const struct wg_query_info *qi, uint8_t *out, size_t cap)
{
	if (!v || !qi || !query || qi->question_end <= WG_HDR_LEN)
		return -EINVAL;
	int rcode = WG_RCODE_NOERROR, ede = -1, soa = 0;
	const struct wg_plugin_local_addr *ans[WG_PLUGIN_MAX_LOCAL];
	unsigned nans = 0;
	static const struct wg_plugin_local_addr null4 = {AF_INET, {0}, WG_PLUGIN_BLOCK_TTL};
	static const struct wg_plugin_local_addr null6 = {AF_INET6, {0}, WG_PLUGIN_BLOCK_TTL};
	int in = qi->qclass == 1;

	switch (v->action) {
	case WG_PV_DROP:
		return 0;
	case WG_PV_BLOCK_NULL:
		ede = 15;
		if (in && qi->qtype == WG_TYPE_A)
			ans[nans++] = &null4;
		else if (in && qi->qtype == WG_TYPE_AAAA)
			ans[nans++] = &null6;
		else
			soa = 1;
		break;
	case WG_PV_BLOCK_NXDOMAIN:
		rcode = WG_RCODE_NXDOMAIN;
		ede = 15;
		soa = 1;
		break;
	case WG_PV_BLOCK_NODATA:
		ede = 15;
		soa = 1;
		break;
	case WG_PV_BLOCK_REFUSED:
		rcode = WG_RCODE_REFUSED;
		ede = 15;
		break;
	case WG_PV_REFUSE:
		rcode = WG_RCODE_REFUSED;
		ede = 18; /* Prohibited, RFC 8914 */
		break;
	case WG_PV_ANSWER:
		for (unsigned i = 0; i < v->n_local && i < WG_PLUGIN_MAX_LOCAL; i++) {
			const struct wg_plugin_local_addr *l = &v->local[i];
			if (in && ((qi->qtype == WG_TYPE_A && l->family == AF_INET) ||
				   (qi->qtype == WG_TYPE_AAAA && l->family == AF_INET6)))
				ans[nans++] = l;
		}
		if (nans == 0)
			soa = 1;
		break;
	default:
		return -EINVAL;
	}

	size_t qlen = (size_t)qi->question_end - WG_HDR_LEN;
	size_t need = WG_HDR_LEN + qlen + nans * (12 + 16) + (soa ? 12 + 22 : 0);
	if (need > cap)
		return -ENOSPC;
	uint16_t flags = (uint16_t)(WG_F_QR | (qi->flags & (0x7800 | WG_F_RD | WG_F_CD)) |
				    WG_F_RA | rcode);
	wg_put16(out, qi->id);
	wg_put16(out + 2, flags);
	wg_put16(out + 4, 1);
	wg_put16(out + 6, (uint16_t)nans);
	wg_put16(out + 8, (uint16_t)soa);
	wg_put16(out + 10, 0);
	memcpy(out + WG_HDR_LEN, query + WG_HDR_LEN, qlen);
	size_t o = WG_HDR_LEN + qlen;
	for (unsigned i = 0; i < nans; i++) {
		uint16_t alen = ans[i]->family == AF_INET ? 4 : 16;
		o += put_rr_head(out + o, ans[i]->family == AF_INET ? WG_TYPE_A : WG_TYPE_AAAA,
				 qi->qclass, ans[i]->ttl, alen);
		memcpy(out + o, ans[i]->addr, alen);
		o += alen;
	}
	if (soa) {
		/* minimal synthetic SOA owned by the name itself, so downstream
		 * caches hold the negative answer for WG_PLUGIN_BLOCK_TTL only
		 * (RFC 2308: min of SOA TTL and MINIMUM) */
		o += put_rr_head(out + o, WG_TYPE_SOA, qi->qclass, WG_PLUGIN_BLOCK_TTL, 22);
		out[o++] = 0; /* MNAME: root */
		out[o++] = 0; /* RNAME: root */
		wg_put32(out + o, 1);                   /* serial */
		wg_put32(out + o + 4, 3600);            /* refresh, s */
		wg_put32(out + o + 8, 600);             /* retry, s */
		wg_put32(out + o + 12, 86400);          /* expire, s */
		wg_put32(out + o + 16, WG_PLUGIN_BLOCK_TTL); /* minimum, s */
		o += 20;
	}
	if (qi->has_edns) {
		int n = wg_wire_append_opt(out, o, cap, qi->do_bit, ede);
		if (n < 0)
			return n;
		o = (size_t)n;
	}
	return (int)o;
}
