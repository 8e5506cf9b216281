/* events.c: the [log] events stream. See events.h.
 *
 * Lines are formatted into one owned buffer (through a fmemopen stream, so
 * the JSON is ctl_out.c's, the same as `wuguardctl list --format json`) and
 * written with a single write(2) or send(2): a line is never split between
 * two calls, and a partial write (disk full half-way) is cut off again with
 * ftruncate so a reader never sees half a JSON object.
 *
 * syslog: RFC 3164 as glibc's syslog(3) sends it to /dev/log
 * ("<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG"), which rsyslog, syslog-ng and
 * journald all parse; our own socket, because syslog(3) blocks as long as
 * the receiver's queue is full. Ours waits BUSY_WAIT_MS for room, and after
 * one such wait ran out not again until a line went through: a receiver
 * that reads loses nothing to a burst, one that is stuck holds the writer
 * BUSY_WAIT_MS once. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl_out.h"
#include "events.h"
#include "log.h"

#define TAG "events"
#define BUF_CAP 32768       /* a row's JSON with every field full and escaped */
#define RETRY_MS 1000       /* a target that cannot be opened: once a second */
#define LOG_EVERY_MS 10000  /* at most one fault line per 10 s */
#define BUSY_WAIT_MS 250    /* a busy syslog receiver: wait this long, once (it
				 * holds the database writer, not the event loop;
				 * 50 ms lost lines to a reader on a busy machine) */

enum kind { K_SYSLOG, K_FILE };

struct wg_events {
	enum kind kind;
	char *path;          /* owned: the file, or the syslog socket */
	char *site;          /* owned, NULL: none */
	char host[256];
	int facility;
	uid_t uid;
	gid_t gid;
	pid_t pid;

	/* writer thread only */
	int fd;              /* -1: not open */
	uint64_t retry_at;   /* mono ms of the next open try while fd < 0 */
	uint64_t last_log_ms;
	int stalled;         /* the receiver let a wait run out: no more waits
			      * until a line goes through */
	char *buf;           /* owned, BUF_CAP */
	FILE *mf;            /* owned: fmemopen over buf */

	atomic_int reopen;
	_Atomic uint64_t written, dropped, errors, reopened;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int wg_events_target_check(const char *s)
{
	if (strcmp(s, "none") == 0)
		return 1;
	if (strcmp(s, "syslog") == 0)
		return 0;
	if (strncmp(s, "syslog:/", 8) == 0 && strlen(s + 7) < sizeof(((struct sockaddr_un *)0)->sun_path))
		return 0;
	if (strncmp(s, "file:/", 6) == 0 && s[6])
		return 0;
	return -EINVAL;
}

/* A fault: counted always, logged at most every LOG_EVERY_MS. */
static void fault(struct wg_events *e, const char *what, int err)
{
	uint64_t now = mono_ms();
	atomic_fetch_add(&e->errors, 1);
	if (e->last_log_ms && now - e->last_log_ms < LOG_EVERY_MS)
		return;
	e->last_log_ms = now;
	wg_warn(TAG, "%s %s: %s (event lines are dropped and counted until it works)", what,
		e->path, strerror(err));
}

/* Open the file or connect the socket. Returns 0 or a negative errno. */
static int target_open(struct wg_events *e)
{
	int fd, err;
	if (e->kind == K_FILE) {
		fd = open(e->path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
			  0640);
		if (fd < 0)
			return -errno;
		struct stat sb;
		/* opened as root before the privilege drop: the service user
		 * must be able to reopen a rotated file and keep writing */
		if (e->uid != (uid_t)-1 && geteuid() == 0 && fstat(fd, &sb) == 0 &&
		    S_ISREG(sb.st_mode) && sb.st_uid != e->uid &&
		    fchown(fd, e->uid, e->gid) < 0)
			wg_warn(TAG, "chown %s: %s", e->path, strerror(errno));
		e->fd = fd;
		return 0;
	}
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	e->fd = fd;
	e->stalled = 0;
	return 0;
}

static void target_close(struct wg_events *e)
{
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
}

static int try_open(struct wg_events *e, const char *what)
{
	int rc = target_open(e);
	if (rc < 0) {
		e->retry_at = mono_ms() + RETRY_MS;
		fault(e, what, -rc);
	}
	return rc;
}

struct wg_events *wg_events_open(const struct wg_events_params *p, char *err, size_t errcap)
{
	err[0] = 0;
	if (!p->target || wg_events_target_check(p->target) != 0) {
		snprintf(err, errcap, "events: not a target: %s", p->target ? p->target : "(none)");
		return NULL;
	}
	struct wg_events *e = calloc(1, sizeof(*e));
	if (!e)
		goto nomem;
	e->fd = -1;
	e->uid = p->uid;
	e->gid = p->gid;
	e->facility = p->facility;
	e->pid = getpid();
	if (strncmp(p->target, "file:", 5) == 0) {
		e->kind = K_FILE;
		e->path = strdup(p->target + 5);
	} else {
		e->kind = K_SYSLOG;
		e->path = strdup(p->target[6] == ':' ? p->target + 7 : WG_EVENTS_SYSLOG_PATH);
	}
	e->site = p->site && *p->site ? strdup(p->site) : NULL;
	e->buf = malloc(BUF_CAP);
	if (!e->path || (p->site && *p->site && !e->site) || !e->buf)
		goto nomem;
	e->mf = fmemopen(e->buf, BUF_CAP, "w");
	if (!e->mf)
		goto nomem;
	if (gethostname(e->host, sizeof(e->host)) < 0)
		e->host[0] = 0;
	e->host[sizeof(e->host) - 1] = 0;
	atomic_init(&e->reopen, 0);
	atomic_init(&e->written, 0);
	atomic_init(&e->dropped, 0);
	atomic_init(&e->errors, 0);
	atomic_init(&e->reopened, 0);
	int rc = target_open(e);
	if (rc < 0) {
		snprintf(err, errcap, "events: %s %s: %s (lines are dropped and counted; "
			 "retried)", e->kind == K_FILE ? "open" : "connect", e->path, strerror(-rc));
		atomic_store(&e->errors, 1);
		e->retry_at = mono_ms() + RETRY_MS;
		e->last_log_ms = mono_ms(); /* the caller logs this one */
	}
	return e;
nomem:
	snprintf(err, errcap, "events: out of memory");
	wg_events_close(e);
	return NULL;
}

/* syslog severity from the row's: a high one is worth a warning. */
static int severity_pri(const char *s)
{
	if (strcmp(s, "high") == 0)
		return LOG_WARNING;
	if (strcmp(s, "medium") == 0)
		return LOG_NOTICE;
	return LOG_INFO;
}

void wg_events_emit(struct wg_events *e, int64_t id, int64_t count, int64_t last_seen,
		    const struct wg_dlog_event *ev)
{
	if (atomic_exchange(&e->reopen, 0)) {
		target_close(e);
		atomic_fetch_add(&e->reopened, 1);
		e->retry_at = 0;
		if (try_open(e, e->kind == K_FILE ? "reopen" : "reconnect") == 0)
			wg_info(TAG, "%s %s", e->kind == K_FILE ? "reopened" : "reconnected", e->path);
	}
	if (e->fd < 0 && (mono_ms() < e->retry_at ||
			  try_open(e, e->kind == K_FILE ? "open" : "connect") < 0)) {
		atomic_fetch_add(&e->dropped, 1);
		return;
	}
	rewind(e->mf);
	if (e->kind == K_SYSLOG) {
		char ts[32];
		struct tm tm;
		time_t now = time(NULL);
		localtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
		fprintf(e->mf, "<%d>%s %s[%d]: ", e->facility | severity_pri(ev->severity), ts,
			WG_EVENTS_TAG, (int)e->pid);
	}
	wg_ctl_json_row(e->mf, id, count, last_seen, ev, 1, e->host, e->site);
	fflush(e->mf);
	long len = ftell(e->mf);
	if (len <= 0 || len >= BUF_CAP - 1 || e->buf[len - 1] != '\n') {
		atomic_fetch_add(&e->dropped, 1); /* did not fit: never half a line */
		return;
	}
	ssize_t w;
	if (e->kind == K_FILE) {
		w = write(e->fd, e->buf, (size_t)len);
		if (w > 0 && w < len) {
			/* disk full half-way: take the piece back */
			off_t end = lseek(e->fd, 0, SEEK_END);
			if (end >= w && ftruncate(e->fd, end - w) < 0)
				wg_debug(TAG, "ftruncate %s: %s", e->path, strerror(errno));
		}
	} else {
		/* no newline in a syslog message */
		w = send(e->fd, e->buf, (size_t)len - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !e->stalled) {
			/* The receiver's queue is full (net.unix.max_dgram_qlen is
			 * often 10, less than one batch): a syslog daemon that
			 * reads gets a moment to catch up; one that does not read
			 * costs this wait once, then lines drop until it reads. */
			struct pollfd pfd = {e->fd, POLLOUT, 0};
			if (poll(&pfd, 1, BUSY_WAIT_MS) == 1 && (pfd.revents & POLLOUT))
				w = send(e->fd, e->buf, (size_t)len - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				e->stalled = 1;
		}
		if (w == len - 1) {
			w = len;
			e->stalled = 0;
		}
		else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			target_close(e); /* receiver gone (restarted): connect again */
	}
	if (w == len)
		atomic_fetch_add(&e->written, 1);
	else
		atomic_fetch_add(&e->dropped, 1);
}

void wg_events_reopen(struct wg_events *e)
{
	if (e)
		atomic_store(&e->reopen, 1);
}

void wg_events_get_stats(struct wg_events *e, struct wg_events_stats *out)
{
	out->written = atomic_load(&e->written);
	out->dropped = atomic_load(&e->dropped);
	out->errors = atomic_load(&e->errors);
	out->reopened = atomic_load(&e->reopened);
}

void wg_events_close(struct wg_events *e)
{
	if (!e)
		return;
	target_close(e);
	if (e->mf)
		fclose(e->mf);
	free(e->buf);
	free(e->path);
	free(e->site);
	free(e);
}
