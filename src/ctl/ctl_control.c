/* ctl_control.c: wuguardctl's side of the control socket; see
 * ctl_control.h, and control.h for the protocol. */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "ctl_control.h"

#define EX_OK 0
#define EX_ERR 1
#define EX_USAGE 2
/* a reload may try plugins in a child for up to 5 s and read big lists */
#define REPLY_TIMEOUT_MS 30000

void wg_ctl_control_usage(FILE *out)
{
	fputs("the running daemon (over its control socket, -s SOCKET):\n"
	      "  status                                 version, uptime, listeners, upstreams,\n"
	      "                                         public references, database\n"
	      "  stats --live [--format text|json] [--reset]\n"
	      "                                         every counter, live (--reset: count\n"
	      "                                         from now on)\n"
	      "  reload                                 reload the configuration: ok, or the\n"
	      "                                         error (FILE:LINE) and exit 1\n"
	      "  flush NAME [TYPE] | flush --all        drop cached answers\n"
	      "  cache NAME                             what is cached for NAME\n", out);
}

int wg_ctl_control_wants(int argc, char **argv, int socket_given)
{
	static const char *const cmds[] = {"status", "reload", "flush", "cache"};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i]) == 0)
			return 1;
	if (strcmp(argv[0], "stats") != 0)
		return 0;
	if (socket_given)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--live") == 0 || strcmp(argv[i], "--reset") == 0)
			return 1;
	return 0;
}

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "wuguardctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EX_USAGE;
}

/* A word of the request: no blank, no control byte (it would split the
 * line). */
static int word_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

/* argv -> the request line. Returns 0 or EX_USAGE (said). */
static int build_request(int argc, char **argv, char *req, size_t cap)
{
	const char *cmd = argv[0];
	size_t n = 0;
	n += (size_t)snprintf(req, cap, "%s", cmd);
	if (strcmp(cmd, "stats") == 0) {
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--live") == 0)
				continue;
			if (strcmp(argv[i], "--reset") == 0)
				n += (size_t)snprintf(req + n, cap - n, " reset");
			else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
				i++;
				if (strcmp(argv[i], "json") == 0)
					n += (size_t)snprintf(req + n, cap - n, " json");
				else if (strcmp(argv[i], "text") != 0)
					return usage_err("stats --format: '%s' is not text or json",
							 argv[i]);
			} else if (strncmp(argv[i], "--format=", 9) == 0) {
				if (strcmp(argv[i] + 9, "json") == 0)
					n += (size_t)snprintf(req + n, cap - n, " json");
				else if (strcmp(argv[i] + 9, "text") != 0)
					return usage_err("stats --format: '%s' is not text or json",
							 argv[i] + 9);
			} else {
				return usage_err("stats: unknown option '%s' (--live, --format "
						 "text|json, --reset)", argv[i]);
			}
		}
	} else {
		int max = strcmp(cmd, "flush") == 0 ? 3 : strcmp(cmd, "cache") == 0 ? 2 : 1;
		int min = max == 1 ? 1 : 2;
		if (argc < min || argc > max) {
			if (strcmp(cmd, "flush") == 0)
				return usage_err("%s", "usage: wuguardctl flush NAME [TYPE] | flush --all");
			if (strcmp(cmd, "cache") == 0)
				return usage_err("%s", "usage: wuguardctl cache NAME");
			return usage_err("%s takes no arguments", cmd);
		}
		if (strcmp(cmd, "flush") == 0 && strcmp(argv[1], "--all") == 0 && argc != 2)
			return usage_err("%s", "usage: wuguardctl flush NAME [TYPE] | flush --all");
		for (int i = 1; i < argc; i++) {
			if (!word_ok(argv[i]))
				return usage_err("'%s' has a blank or control character", argv[i]);
			n += (size_t)snprintf(req + n, cap - n, " %s", argv[i]);
		}
	}
	if (n + 2 > cap || n + 1 > WG_CONTROL_REQ_MAX)
		return usage_err("%s", "the request is too long");
	req[n++] = '\n';
	req[n] = 0;
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int unreachable(const char *path, int e)
{
	const char *hint = e == ENOENT || e == ECONNREFUSED ? " (is wuguard running? -s SOCKET, or "
							      "-c CONFIG for its [control] socket)"
			 : e == EACCES || e == EPERM ? " (the socket is for its owner and group only)"
						     : "";
	fprintf(stderr, "wuguardctl: cannot reach the daemon at %s: %s%s\n", path, strerror(e),
		hint);
	return EX_USAGE;
}

int wg_ctl_control(int argc, char **argv, const char *path)
{
	char req[WG_CONTROL_REQ_MAX + 64];
	int rc = build_request(argc, argv, req, sizeof(req));
	if (rc)
		return rc;
	if (!path || !*path || strcmp(path, "none") == 0) {
		fprintf(stderr, "wuguardctl: the control socket is switched off ([control] socket "
				"= none); -s SOCKET names another\n");
		return EX_USAGE;
	}
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return unreachable(path, ENAMETOOLONG);
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return unreachable(path, errno);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return unreachable(path, e);
	}
	size_t len = strlen(req), off = 0;
	while (off < len) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;
			close(fd);
			return unreachable(path, e);
		}
		off += (size_t)w;
	}
	/* the whole reply, until the daemon closes */
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int64_t deadline = mono_ms() + REPLY_TIMEOUT_MS;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 16384;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				close(fd);
				fprintf(stderr, "wuguardctl: out of memory\n");
				return EX_USAGE;
			}
			buf = nb;
		}
		int64_t left = deadline - mono_ms();
		struct pollfd p = {fd, POLLIN, 0};
		int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			free(buf);
			close(fd);
			fprintf(stderr, "wuguardctl: no complete reply from the daemon at %s within "
					"%d s\n", path, REPLY_TIMEOUT_MS / 1000);
			return EX_USAGE;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	/* data lines, ".", then the status line */
	char *p = buf, *status = NULL;
	while (p < buf + n) {
		char *nl = memchr(p, '\n', (size_t)(buf + n - p));
		if (!nl)
			break;
		*nl = 0;
		if (strcmp(p, ".") == 0) {
			status = nl + 1;
			break;
		}
		fputs(p[0] == '.' ? p + 1 : p, stdout);
		fputc('\n', stdout);
		p = nl + 1;
	}
	char *end = status ? strchr(status, '\n') : NULL;
	if (!end) {
		free(buf);
		fprintf(stderr, "wuguardctl: the daemon at %s closed the connection before the end "
				"of its reply (too many control clients?)\n", path);
		return EX_USAGE;
	}
	*end = 0;
	rc = EX_OK;
	if (strcmp(status, "ok") == 0) {
		if (strcmp(argv[0], "reload") == 0)
			puts("ok");
	} else if (strncmp(status, "error ", 6) == 0) {
		fprintf(stderr, "wuguardctl: %s: %s\n", argv[0], status + 6);
		rc = EX_ERR;
	} else {
		fprintf(stderr, "wuguardctl: the daemon's reply ended with '%.80s', not ok or "
				"error\n", status);
		rc = EX_USAGE;
	}
	free(buf);
	fflush(stdout);
	return rc;
}
