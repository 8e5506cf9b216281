/* control.h: the control socket (wuguardctl status, stats, reload, flush,
 * cache).
 *
 * A Unix stream socket (libuv pipe; never TCP), mode 0660, owned by the
 * service user, so only that user, its group and root can connect. One
 * request per connection, a line protocol (man 1 wuguardctl, PROTOCOL):
 *
 *   request:  COMMAND [ARG ...] LF   at most WG_CONTROL_REQ_MAX bytes
 *   reply:    data lines (a line starting with "." gets another "." first)
 *             "." LF
 *             "ok" LF, or "error " MESSAGE LF
 *   then the daemon closes the connection.
 *
 * A slow or hostile client cannot stall the loop: every read and write is
 * libuv's (non-blocking); the request must be complete within
 * WG_CONTROL_REQ_MS of the accept and the reply written within
 * WG_CONTROL_WRITE_MS, or the connection is closed; at most
 * WG_CONTROL_MAX_CLIENTS connections are served at once (more are closed at
 * accept, and counted); a longer request gets "error request too long".
 * Loop thread only. */
#ifndef WG_CONTROL_H
#define WG_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#define WG_CONTROL_REQ_MAX 512     /* bytes, with the LF */
#define WG_CONTROL_REQ_MS 2000     /* accept to complete request */
#define WG_CONTROL_WRITE_MS 5000   /* reply queued to written */
#define WG_CONTROL_MAX_CLIENTS 8

struct wg_control;
struct wg_daemon;

struct wg_control_stats {
	uint64_t requests;   /* complete requests answered */
	uint64_t errors;     /* answered "error ..." */
	uint64_t rejected;   /* closed at accept: WG_CONTROL_MAX_CLIENTS busy */
	uint64_t timeouts;   /* closed: request or reply past its deadline */
	uint64_t too_long;   /* requests longer than WG_CONTROL_REQ_MAX */
};

/* Listen on path for d (borrowed; outlives the control socket). A stale
 * socket file (nobody listening) is replaced; a live one (another daemon)
 * or any other file is an error. The parent directory is made (0755) when
 * missing, and handed to uid when it is a "wuguard" directory made here,
 * so the service user can remove the socket at exit; the socket gets mode
 * 0660 and owner uid:gid (uid (uid_t)-1: left as it is). Returns 0, or a
 * negative errno with "PATH: reason" in err. */
int wg_control_open(uv_loop_t *loop, const char *path, struct wg_daemon *d, uid_t uid, gid_t gid,
		    struct wg_control **out, char *err, size_t errcap);
/* Stop listening, drop every connection, remove the socket file (when it
 * still is ours); memory goes once the loop has run the closes. Safe with
 * NULL. */
void wg_control_close(struct wg_control *c);
void wg_control_get_stats(const struct wg_control *c, struct wg_control_stats *s);
const char *wg_control_path(const struct wg_control *c);

#endif
