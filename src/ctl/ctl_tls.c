/* ctl_tls.c: see ctl_tls.h.
 *
 * A connection runs connect -> (proxy CONNECT) -> TLS handshake on one
 * non-blocking socket watched by a uv_poll; one timer bounds the whole
 * connection. The handshake never verifies by itself (no
 * gnutls_session_set_verify_cert): it completes whatever the server
 * presents, and the chain is judged afterwards, so an intercepted chain is
 * described instead of ending in a bare handshake error. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ctl_out.h"
#include "ctl_tls.h"

#define TLS_CONCURRENCY 16        /* connections in flight */
#define TLS_DEFAULT_TIMEOUT 5000  /* ms per connection: connect, proxy, handshake */
#define TLS_PORT 443
#define PROXY_HDR_MAX 4096        /* bytes of a CONNECT answer's head */
#define DN_LEN 256

/* The HTTPS endpoints Windows reaches on 443 for a scan, its metadata,
 * Delivery Optimization and the Store. Keys are the #@source keys of
 * db/wu-domains.list (the MicrosoftDocs documents named there); every name
 * is in that file's set, as an entry or under one.
 *   fe3 / fe3cr.delivery.mp   WUTS (the client's scan URL in its log), MDAV;
 *                             W11 lists *.delivery.mp.microsoft.com as
 *                             TLSv1.2/HTTPS
 *   sls / slscr / fe2 / fe2cr.update   W11 WUTS (*.update.microsoft.com,
 *                             TLSv1.2/HTTPS): service list and scan
 *   geo / kv801.prod.do.dsp   under W11's *.prod.do.dsp.mp.microsoft.com
 *                             (TLSv1.2/HTTPS, Delivery Optimization); the
 *                             two concrete names are the ones DO clients
 *                             are seen asking in public traffic captures,
 *                             no Microsoft document names them
 *   tsfe.trafficshaping.dsp   W11 (TLSv1.2/HTTPS/HTTP) WUTS DOFAQ INTUNE
 *   displaycatalog.mp         W11 (*displaycatalog, TLSv1.2/HTTPS) INTUNE:
 *                             the Store's catalogue
 * login.live.com (W11, device authentication) is not in the WU set and is
 * left out; give it as a NAME to check it. */
const char *const wg_tls_default_names[] = {
	"fe3.delivery.mp.microsoft.com",
	"fe3cr.delivery.mp.microsoft.com",
	"sls.update.microsoft.com",
	"slscr.update.microsoft.com",
	"fe2.update.microsoft.com",
	"fe2cr.update.microsoft.com",
	"geo.prod.do.dsp.mp.microsoft.com",
	"kv801.prod.do.dsp.mp.microsoft.com",
	"tsfe.trafficshaping.dsp.mp.microsoft.com",
	"displaycatalog.mp.microsoft.com",
	NULL,
};

enum verdict { V_NONE = 0, V_OK, V_INTERCEPTED, V_INVALID, V_BLOCKED, V_PROXY_ONLY };
static const char *const verdict_names[] = {"-", "ok", "intercepted", "invalid", "blocked",
					    "proxy-only"};

enum kind { K_LOCAL = 0, K_PUBLIC = 1, K_PROXY = 2, K__COUNT };
static const char *const kind_names[] = {"local", "public", "proxy"};

enum state { S_IDLE = 0, S_CONNECT, S_PROXY_SEND, S_PROXY_RECV, S_HANDSHAKE, S_DONE };

/* One connection's outcome. */
struct judgement {
	enum verdict v;
	char addr[320];                   /* what was connected to */
	char reason[24];                  /* blocked: refused, reset, timeout ... */
	char detail[1024];                /* in words */
	char root[DN_LEN];                /* subject of the chain's root, "" none */
	char leaf_subject[DN_LEN];
	char leaf_issuer[DN_LEN];
	char version[16];                 /* TLS1.3 ... */
};

struct run;

struct conn {
	struct run *r;                    /* borrowed */
	size_t name_idx;
	enum kind kind;
	enum state state;
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd;
	uv_poll_t poll;
	uv_timer_t timer;
	int handles;                      /* of poll and timer, how many are open */
	uint8_t has_poll, has_timer;
	gnutls_session_t sess;            /* owned, NULL none */
	int sys_errno;                    /* the last recv/send error */
	int eof;
	char req[600];
	size_t req_len, req_off;
	struct judgement *j;              /* borrowed: the result slot */
};

struct nres {
	char host[256];                   /* the name without its trailing dot */
	struct judgement j[K__COUNT];
	enum verdict final;
};

struct run {
	uv_loop_t *loop;                  /* borrowed */
	const struct wg_tls_opts *o;      /* borrowed */
	const struct wg_tls_name *names;  /* borrowed */
	size_t n_names;
	struct nres *res;                 /* owned, n_names */
	struct conn *conns;               /* owned */
	size_t n_conns, next, active, open, closing;
	gnutls_certificate_credentials_t cred; /* owned */
	unsigned n_roots;
	char roots_path[1024];
	uint16_t port;
	struct sockaddr_storage proxy_sa;
	socklen_t proxy_salen;
	char proxy_addr[INET6_ADDRSTRLEN + 8]; /* "ADDR:PORT", "[ADDR]:PORT" */
	char proxy_text[300];             /* "proxy " and that, for messages */
	uv_timer_t deadline;
	int deadline_init;
	int timed_out;
	uint32_t timeout_ms;
	uint64_t deadline_ms;             /* the whole phase */
};

static void terr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void terr(const char *fmt, ...)
{
	va_list ap;
	fputs("wuguardctl: probe --tls: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- options ------------------------------------------------------------ */

int wg_ctl_tls_set_timeout(struct wg_tls_opts *o, const char *text)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (errno || *end || text[0] == '-' || !text[0] || v < 1 || v > 60000) {
		terr("--tls-timeout: a number of milliseconds from 1 to 60000, not %s", text);
		return -EINVAL;
	}
	o->timeout_ms = (uint32_t)v;
	return 0;
}

/* The shipped roots: installed, or in $WUGUARD_DBDIR when the installed
 * file is not there (the test suite runs the build tree's binaries so; as
 * wulist.c finds the domains file). */
static void roots_path(const struct wg_tls_opts *o, char *path, size_t cap)
{
	const char *dbdir = getenv("WUGUARD_DBDIR");
	if (o->roots_file) {
		snprintf(path, cap, "%s", o->roots_file);
		return;
	}
	snprintf(path, cap, "%s/microsoft-roots.pem", WG_DATADIR);
	if (access(path, R_OK) != 0 && dbdir && *dbdir)
		snprintf(path, cap, "%s/microsoft-roots.pem", dbdir);
}

/* WUGUARDCTL_PROBE_TLS_PORT: the port to connect to instead of 443, for
 * tests (their servers cannot bind 443). Returns the port or -1. */
static int env_port(void)
{
	const char *env = getenv("WUGUARDCTL_PROBE_TLS_PORT");
	if (!env || !*env)
		return TLS_PORT;
	char *end;
	errno = 0;
	unsigned long v = strtoul(env, &end, 10);
	if (errno || *end || env[0] == '-' || v < 1 || v > 65535) {
		terr("WUGUARDCTL_PROBE_TLS_PORT: not a port from 1 to 65535: %s", env);
		return -1;
	}
	return (int)v;
}

/* WUGUARDCTL_PROBE_TLS_DEADLINE_MS: a shorter deadline for the TLS phase
 * (never longer), so a test can stop it with connections in flight.
 * Returns the milliseconds, 0 unset, or -1 (reported). */
static long long env_deadline(void)
{
	const char *env = getenv("WUGUARDCTL_PROBE_TLS_DEADLINE_MS");
	if (!env || !*env)
		return 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(env, &end, 10);
	if (errno || *end || env[0] == '-' || v < 1 || v > 3600000) {
		terr("WUGUARDCTL_PROBE_TLS_DEADLINE_MS: not a number of milliseconds from 1 to "
		     "3600000: %s", env);
		return -1;
	}
	return (long long)v;
}

/* "http://HOST[:PORT][/]" with HOST a name, an IPv4 address or [IPv6].
 * Resolves HOST (before the loop runs: a one-off look-up, as any client
 * resolves its proxy). Returns 0 or -1 (reported). */
static int parse_proxy(const char *url, struct sockaddr_storage *sa, socklen_t *salen)
{
	char host[256], port[8] = "80";
	const char *p = url, *hend, *pstart = NULL;
	if (strncasecmp(p, "http://", 7) != 0) {
		terr("--via-proxy: an http://HOST:PORT URL, not %s", url);
		return -1;
	}
	p += 7;
	if (strchr(p, '@')) {
		terr("--via-proxy: credentials in the URL are not supported: %s", url);
		return -1;
	}
	if (*p == '[') {
		hend = strchr(p, ']');
		if (!hend) {
			terr("--via-proxy: no ']' after the IPv6 address: %s", url);
			return -1;
		}
		p++;
		if (hend[1] == ':')
			pstart = hend + 2;
		else if (hend[1] && strcmp(hend + 1, "/") != 0) {
			terr("--via-proxy: unexpected text after the address: %s", url);
			return -1;
		}
	} else {
		hend = p + strcspn(p, ":/");
		if (*hend == ':')
			pstart = hend + 1;
		else if (*hend && strcmp(hend, "/") != 0) {
			terr("--via-proxy: only http://HOST:PORT, without a path: %s", url);
			return -1;
		}
	}
	if (hend == p || (size_t)(hend - p) >= sizeof(host)) {
		terr("--via-proxy: no host in %s", url);
		return -1;
	}
	memcpy(host, p, (size_t)(hend - p));
	host[hend - p] = 0;
	if (pstart) {
		size_t n = strcspn(pstart, "/");
		char *end;
		unsigned long v;
		if (n == 0 || n >= sizeof(port) || (pstart[n] && strcmp(pstart + n, "/") != 0)) {
			terr("--via-proxy: bad port in %s", url);
			return -1;
		}
		memcpy(port, pstart, n);
		port[n] = 0;
		v = strtoul(port, &end, 10);
		if (*end || v < 1 || v > 65535) {
			terr("--via-proxy: bad port in %s", url);
			return -1;
		}
	}
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0 || !ai) {
		terr("--via-proxy: cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	*salen = (socklen_t)ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int load_roots(const struct wg_tls_opts *o, gnutls_certificate_credentials_t *cred,
		      unsigned *n, char *path, size_t cap)
{
	roots_path(o, path, cap);
	if (access(path, R_OK) != 0) {
		terr("roots file %s: %s", path, strerror(errno));
		return -1;
	}
	if (gnutls_certificate_allocate_credentials(cred) < 0) {
		terr("out of memory");
		return -1;
	}
	int rc = gnutls_certificate_set_x509_trust_file(*cred, path, GNUTLS_X509_FMT_PEM);
	if (rc <= 0) {
		terr("roots file %s: %s", path,
		     rc == 0 ? "no PEM certificate in it" : gnutls_strerror(rc));
		gnutls_certificate_free_credentials(*cred);
		*cred = NULL;
		return -1;
	}
	*n = (unsigned)rc;
	return 0;
}

int wg_ctl_tls_check(const struct wg_tls_opts *o)
{
	gnutls_certificate_credentials_t cred = NULL;
	struct sockaddr_storage sa;
	socklen_t salen;
	char path[1024];
	unsigned n;
	if (env_port() < 0 || env_deadline() < 0)
		return -1;
	if (o->via_proxy && parse_proxy(o->via_proxy, &sa, &salen) < 0)
		return -1;
	if (load_roots(o, &cred, &n, path, sizeof(path)) < 0)
		return -1;
	gnutls_certificate_free_credentials(cred);
	return 0;
}

/* --- addresses ---------------------------------------------------------- */

/* The n-th (0-based) space-separated word of s into buf; 0 or -1. */
static int word_at(const char *s, size_t n, char *buf, size_t cap)
{
	while (*s == ' ')
		s++;
	for (; *s; n--) {
		size_t l = strcspn(s, " ");
		if (n == 0) {
			if (l >= cap)
				return -1;
			memcpy(buf, s, l);
			buf[l] = 0;
			return 0;
		}
		s += l;
		while (*s == ' ')
			s++;
	}
	return -1;
}

static int has_word(const char *s, const char *w)
{
	char buf[INET6_ADDRSTRLEN + 1];
	for (size_t i = 0; word_at(s, i, buf, sizeof(buf)) == 0; i++)
		if (strcmp(buf, w) == 0)
			return 1;
	return 0;
}

static int to_sockaddr(const char *text, uint16_t port, struct sockaddr_storage *sa,
		       socklen_t *salen)
{
	memset(sa, 0, sizeof(*sa));
	struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		*salen = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*salen = sizeof(*v6);
		return 0;
	}
	return -1;
}

static int unspecified(const char *text)
{
	struct sockaddr_storage sa;
	socklen_t l;
	if (to_sockaddr(text, 0, &sa, &l) < 0)
		return 1;
	if (sa.ss_family == AF_INET)
		return ((struct sockaddr_in *)&sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&sa)->sin6_addr);
}

static void set_blocked(struct judgement *j, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_blocked(struct judgement *j, const char *reason, const char *fmt, ...)
{
	va_list ap;
	j->v = V_BLOCKED;
	snprintf(j->reason, sizeof(j->reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(j->detail, sizeof(j->detail), fmt, ap);
	va_end(ap);
}

/* Pick the addresses of one name: the first usable local address (in the
 * order the types were asked), and the public answer's first address of
 * that type when the local answer does not hold it. Adds connections;
 * judges "no address" at once. */
/* Add a connection of kind to the address text for name i; an address
 * that does not parse adds nothing. Returns 0 or -EINVAL. */
static int plan_conn(struct run *r, enum kind kind, size_t i, const char *addr)
{
	struct conn *c = &r->conns[r->n_conns];
	if (to_sockaddr(addr, r->port, &c->sa, &c->salen) != 0)
		return -EINVAL;
	c->kind = kind;
	c->name_idx = i;
	r->n_conns++;
	return 0;
}

static void plan_name(struct run *r, size_t i)
{
	const struct wg_tls_name *n = &r->names[i];
	struct nres *res = &r->res[i];
	char a[INET6_ADDRSTRLEN + 1], pub[INET6_ADDRSTRLEN + 1] = "", sink[INET6_ADDRSTRLEN + 1] = "";
	const struct wg_tls_dns *chosen = NULL;
	size_t k;

	a[0] = 0;
	for (k = 0; k < n->n_dns && !chosen; k++) {
		const struct wg_tls_dns *d = &n->dns[k];
		for (size_t w = 0; word_at(d->local_addrs, w, a, sizeof(a)) == 0; w++) {
			if (!unspecified(a)) {
				chosen = d;
				break;
			}
			if (!sink[0])
				snprintf(sink, sizeof(sink), "%s", a);
		}
	}
	if (chosen) {
		plan_conn(r, K_LOCAL, i, a);
		snprintf(res->j[K_LOCAL].addr, sizeof(res->j[K_LOCAL].addr), "%s", a);
		if (word_at(chosen->public_addrs, 0, pub, sizeof(pub)) == 0 &&
		    has_word(chosen->local_addrs, pub))
			pub[0] = 0;
	} else {
		const char *st = "";
		for (k = 0; k < n->n_dns; k++)
			if (n->dns[k].local_status[0] && strcmp(n->dns[k].local_status, "NOERROR"))
				st = n->dns[k].local_status;
		if (sink[0])
			set_blocked(&res->j[K_LOCAL], "sinkhole-address",
				    "the local resolver answers %s: nothing to connect to", sink);
		else
			set_blocked(&res->j[K_LOCAL], "no-address",
				    "no address from the local resolver (%s)",
				    st[0] ? st : n->n_dns ? "NODATA" : "not asked");
		for (k = 0; k < n->n_dns && !pub[0]; k++)
			if (word_at(n->dns[k].public_addrs, 0, pub, sizeof(pub)) != 0)
				pub[0] = 0;
	}
	if (pub[0] && !unspecified(pub) && plan_conn(r, K_PUBLIC, i, pub) == 0)
		snprintf(res->j[K_PUBLIC].addr, sizeof(res->j[K_PUBLIC].addr), "%s", pub);
	if (r->o->via_proxy) {
		struct conn *c = &r->conns[r->n_conns++];
		c->kind = K_PROXY;
		c->name_idx = i;
		memcpy(&c->sa, &r->proxy_sa, r->proxy_salen);
		c->salen = r->proxy_salen;
		snprintf(res->j[K_PROXY].addr, sizeof(res->j[K_PROXY].addr), "%s",
			 r->proxy_addr);
	}
}

/* --- one connection ----------------------------------------------------- */

static void start_more(struct run *r);

static void on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->handles == 0) {
		if (c->fd >= 0)
			close(c->fd); /* only now: libuv may watch it until the close */
		c->fd = -1;
		c->r->closing--;
	}
}

static void conn_end(struct conn *c)
{
	struct run *r = c->r;
	if (c->state == S_DONE)
		return;
	c->state = S_DONE;
	if (c->sess) {
		gnutls_deinit(c->sess);
		c->sess = NULL;
	}
	if (c->handles) {
		r->closing++;
		if (c->has_poll)
			uv_close((uv_handle_t *)&c->poll, on_handle_closed);
		if (c->has_timer)
			uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	} else if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	r->active--;
	r->open--;
	start_more(r);
}

static void watch(struct conn *c, int events);

static const char *errno_reason(int e)
{
	switch (e) {
	case ECONNREFUSED: return "refused";
	case ECONNRESET: case EPIPE: return "reset";
	case ETIMEDOUT: return "timeout";
	case ENETUNREACH: case EHOSTUNREACH: return "unreachable";
	default: return "error";
	}
}

/* A DN of a certificate in its RFC 4514 text. */
static void dn_text(gnutls_x509_crt_t crt, int issuer, char *buf, size_t cap)
{
	gnutls_datum_t d = {NULL, 0};
	int rc = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &d, GNUTLS_X509_DN_FLAG_COMPAT)
			: gnutls_x509_crt_get_dn3(crt, &d, GNUTLS_X509_DN_FLAG_COMPAT);
	if (rc < 0)
		snprintf(buf, cap, "(unreadable: %s)", gnutls_strerror(rc));
	else
		snprintf(buf, cap, "%.*s", (int)d.size, (const char *)d.data);
	gnutls_free(d.data);
}

/* The handshake is done: judge the chain the server presented. */
static void judge(struct conn *c)
{
	struct judgement *j = c->j;
	const char *host = c->r->res[c->name_idx].host;
	unsigned n = 0, status = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(c->sess, &n);
	gnutls_x509_crt_t leaf = NULL, last = NULL;

	snprintf(j->version, sizeof(j->version), "%s",
		 gnutls_protocol_get_name(gnutls_protocol_get_version(c->sess)) ?: "?");
	if (!certs || n == 0) {
		j->v = V_INVALID;
		snprintf(j->detail, sizeof(j->detail), "the server presented no certificate");
		return;
	}
	if (gnutls_x509_crt_init(&leaf) == 0 &&
	    gnutls_x509_crt_import(leaf, &certs[0], GNUTLS_X509_FMT_DER) == 0) {
		dn_text(leaf, 0, j->leaf_subject, sizeof(j->leaf_subject));
		dn_text(leaf, 1, j->leaf_issuer, sizeof(j->leaf_issuer));
	}
	/* the root: the last certificate if it is self-issued, else the one
	 * that issued it, which the server did not send */
	if (gnutls_x509_crt_init(&last) == 0 &&
	    gnutls_x509_crt_import(last, &certs[n - 1], GNUTLS_X509_FMT_DER) == 0)
		dn_text(last, !gnutls_x509_crt_check_issuer(last, last), j->root, sizeof(j->root));
	if (leaf)
		gnutls_x509_crt_deinit(leaf);
	if (last)
		gnutls_x509_crt_deinit(last);

	int rc = gnutls_certificate_verify_peers3(c->sess, host, &status);
	if (rc < 0) {
		j->v = V_INVALID;
		snprintf(j->detail, sizeof(j->detail), "the chain cannot be verified: %s",
			 gnutls_strerror(rc));
		return;
	}
	if (status == 0) {
		j->v = V_OK;
		snprintf(j->detail, sizeof(j->detail), "for %s, chain ends in %s", host, j->root);
		return;
	}
	const unsigned foreign = GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA;
	if (status & (foreign | GNUTLS_CERT_UNEXPECTED_OWNER)) {
		j->v = V_INTERCEPTED;
		if (status & foreign)
			snprintf(j->detail, sizeof(j->detail),
				 "chain ends in \"%s\", not a Microsoft root; leaf issued by \"%s\"%s",
				 j->root, j->leaf_issuer,
				 status & GNUTLS_CERT_UNEXPECTED_OWNER ? "; and not for the name" : "");
		else
			snprintf(j->detail, sizeof(j->detail),
				 "the certificate is not for %s (it is for \"%s\", issued by \"%s\")",
				 host, j->leaf_subject, j->leaf_issuer);
		return;
	}
	/* a Microsoft chain for the name that fails otherwise: expired, not yet
	 * valid (the machine's clock?), revoked, a weak algorithm */
	gnutls_datum_t out = {NULL, 0};
	j->v = V_INVALID;
	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0)
		snprintf(j->detail, sizeof(j->detail), "%.*s", (int)out.size,
			 (const char *)out.data);
	else
		snprintf(j->detail, sizeof(j->detail), "verification status 0x%x", status);
	gnutls_free(out.data);
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t n)
{
	struct conn *c = ptr;
	ssize_t r = recv(c->fd, buf, n, 0);
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			c->sys_errno = errno; /* the reason if the handshake fails */
		gnutls_transport_set_errno(c->sess, errno);
	} else if (r == 0) {
		c->eof = 1;
	}
	return r;
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *buf, size_t n)
{
	struct conn *c = ptr;
	ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			c->sys_errno = errno;
		gnutls_transport_set_errno(c->sess, errno);
	}
	return r;
}

static void handshake_failed(struct conn *c, int rc)
{
	struct judgement *j = c->j;
	if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		set_blocked(j, "alert", "TLS alert from the server: %s",
			    gnutls_alert_get_name(gnutls_alert_get(c->sess)) ?: "unknown");
	} else if ((rc == GNUTLS_E_PULL_ERROR || rc == GNUTLS_E_PUSH_ERROR) && c->sys_errno) {
		set_blocked(j, errno_reason(c->sys_errno), "%s during the TLS handshake",
			    c->sys_errno == ECONNRESET ? "connection reset"
						       : strerror(c->sys_errno));
	} else if (c->eof || rc == GNUTLS_E_PREMATURE_TERMINATION) {
		set_blocked(j, "closed", "closed by the server during the TLS handshake");
	} else {
		set_blocked(j, "tls-error", "TLS handshake failed: %s", gnutls_strerror(rc));
	}
}

static void handshake_step(struct conn *c)
{
	int rc;
	do {
		rc = gnutls_handshake(c->sess);
	} while (rc < 0 && !gnutls_error_is_fatal(rc) && rc != GNUTLS_E_AGAIN);
	if (rc == GNUTLS_E_SUCCESS) {
		judge(c);
		conn_end(c);
	} else if (rc == GNUTLS_E_AGAIN) {
		watch(c, gnutls_record_get_direction(c->sess) ? UV_WRITABLE : UV_READABLE);
	} else {
		handshake_failed(c, rc);
		conn_end(c);
	}
}

static void handshake_start(struct conn *c)
{
	const char *host = c->r->res[c->name_idx].host;
	int rc;
	if ((rc = gnutls_init(&c->sess, GNUTLS_CLIENT | GNUTLS_NONBLOCK)) < 0 ||
	    (rc = gnutls_set_default_priority(c->sess)) < 0 ||
	    (rc = gnutls_credentials_set(c->sess, GNUTLS_CRD_CERTIFICATE, c->r->cred)) < 0 ||
	    (rc = gnutls_server_name_set(c->sess, GNUTLS_NAME_DNS, host, strlen(host))) < 0) {
		set_blocked(c->j, "tls-error", "TLS set-up failed: %s", gnutls_strerror(rc));
		conn_end(c);
		return;
	}
	gnutls_transport_set_ptr(c->sess, c);
	gnutls_transport_set_pull_function(c->sess, tls_pull);
	gnutls_transport_set_push_function(c->sess, tls_push);
	c->state = S_HANDSHAKE;
	handshake_step(c);
}

/* CONNECT sent: read the proxy's answer head, exactly to its end, so the
 * TLS bytes that follow stay in the socket. */
static void proxy_recv(struct conn *c)
{
	char buf[PROXY_HDR_MAX + 1];
	ssize_t n = recv(c->fd, buf, PROXY_HDR_MAX, MSG_PEEK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		set_blocked(c->j, errno_reason(errno), "proxy %s: %s", c->r->proxy_text,
			    strerror(errno));
		conn_end(c);
		return;
	}
	if (n == 0) {
		set_blocked(c->j, "closed", "the proxy %s closed the connection without answering",
			    c->r->proxy_text);
		conn_end(c);
		return;
	}
	buf[n] = 0;
	char *end = strstr(buf, "\r\n\r\n");
	if (!end) {
		if (n >= PROXY_HDR_MAX) {
			set_blocked(c->j, "proxy-error", "the proxy's answer head is too long");
			conn_end(c);
		}
		return; /* more to come */
	}
	size_t head = (size_t)(end - buf) + 4;
	if (recv(c->fd, buf, head, 0) != (ssize_t)head) {
		set_blocked(c->j, "proxy-error", "reading the proxy's answer failed");
		conn_end(c);
		return;
	}
	buf[head] = 0;
	size_t l = strcspn(buf, "\r\n");
	buf[l] = 0;
	int code = 0;
	if (strncmp(buf, "HTTP/1.", 7) != 0 || sscanf(buf + 8, " %3d", &code) != 1) {
		set_blocked(c->j, "proxy-error", "not an HTTP answer from the proxy: %.60s", buf);
		conn_end(c);
		return;
	}
	if (code != 200) {
		set_blocked(c->j, "proxy-refused", "the proxy answered CONNECT with: %.80s", buf);
		conn_end(c);
		return;
	}
	handshake_start(c);
}

static void proxy_send(struct conn *c)
{
	while (c->req_off < c->req_len) {
		ssize_t n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			set_blocked(c->j, errno_reason(errno), "proxy %s: %s", c->r->proxy_text,
				    strerror(errno));
			conn_end(c);
			return;
		}
		c->req_off += (size_t)n;
	}
	c->state = S_PROXY_RECV;
	watch(c, UV_READABLE);
}

static void connected(struct conn *c)
{
	int err = 0;
	socklen_t l = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		err = errno;
	if (err) {
		if (c->kind == K_PROXY)
			set_blocked(c->j, errno_reason(err), "cannot reach the proxy %s: %s",
				    c->r->proxy_text, strerror(err));
		else
			set_blocked(c->j, errno_reason(err), "TCP connect: %s", strerror(err));
		conn_end(c);
		return;
	}
	if (c->kind != K_PROXY) {
		handshake_start(c);
		return;
	}
	const char *host = c->r->res[c->name_idx].host;
	int n = snprintf(c->req, sizeof(c->req),
			 "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: wuguardctl/"
			 PACKAGE_VERSION "\r\n\r\n",
			 host, (unsigned)c->r->port, host, (unsigned)c->r->port);
	c->req_len = (size_t)n;
	c->req_off = 0;
	c->state = S_PROXY_SEND;
	proxy_send(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct conn *c = h->data;
	switch (c->state) {
	case S_CONNECT: connected(c); break;
	case S_PROXY_SEND: proxy_send(c); break;
	case S_PROXY_RECV: proxy_recv(c); break;
	case S_HANDSHAKE: handshake_step(c); break;
	default: break;
	}
}

static void watch(struct conn *c, int events)
{
	uv_poll_start(&c->poll, events, on_poll);
}

static void on_conn_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;
	static const char *const during[] = {"", "the TCP connect", "sending CONNECT",
					     "the proxy's answer", "the TLS handshake", ""};
	set_blocked(c->j, "timeout", "no progress within %u ms (during %s)",
		    (unsigned)c->r->timeout_ms, during[c->state]);
	conn_end(c);
}

static void conn_start(struct conn *c)
{
	struct run *r = c->r;
	r->active++;
	c->fd = socket(c->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		set_blocked(c->j, "error", "socket: %s", strerror(errno));
		conn_end(c);
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&c->sa, c->salen) < 0 && errno != EINPROGRESS) {
		int e = errno;
		set_blocked(c->j, errno_reason(e), "TCP connect: %s", strerror(e));
		conn_end(c);
		return;
	}
	uv_timer_init(r->loop, &c->timer); /* cannot fail */
	c->timer.data = c;
	c->has_timer = 1;
	c->handles = 1;
	if (uv_poll_init_socket(r->loop, &c->poll, c->fd) < 0) {
		set_blocked(c->j, "error", "cannot watch the socket");
		conn_end(c);
		return;
	}
	c->poll.data = c;
	c->has_poll = 1;
	c->handles = 2;
	c->state = S_CONNECT;
	uv_timer_start(&c->timer, on_conn_timeout, r->timeout_ms, 0);
	watch(c, UV_WRITABLE);
}

static void start_more(struct run *r)
{
	while (r->active < TLS_CONCURRENCY && r->next < r->n_conns && !r->timed_out)
		conn_start(&r->conns[r->next++]);
}

static void on_deadline(uv_timer_t *t)
{
	struct run *r = t->data;
	r->timed_out = 1; /* the safety net: the connection timers end each one first */
	for (size_t i = 0; i < r->n_conns; i++) {
		struct conn *c = &r->conns[i];
		if (c->state == S_DONE)
			continue;
		set_blocked(c->j, "timeout", "not done within the TLS phase's deadline (%llu ms)",
			    (unsigned long long)r->deadline_ms);
		if (c->state == S_IDLE) {
			c->state = S_DONE;
			r->open--;
		} else {
			conn_end(c);
		}
	}
}

/* --- output ------------------------------------------------------------- */

static void final_verdicts(struct run *r)
{
	for (size_t i = 0; i < r->n_names; i++) {
		struct nres *n = &r->res[i];
		enum verdict l = n->j[K_LOCAL].v, p = n->j[K_PROXY].v;
		if (l == V_BLOCKED && (p == V_OK || p == V_INTERCEPTED || p == V_INVALID))
			n->final = V_PROXY_ONLY;
		else
			n->final = l;
	}
}

/* A name's DNS verdicts: one word when the types agree, "A:x,AAAA:y". */
static void dns_text(const struct wg_tls_name *n, char *buf, size_t cap)
{
	char tb[16];
	int same = 1;
	for (size_t k = 1; k < n->n_dns; k++)
		same &= strcmp(n->dns[k].verdict, n->dns[0].verdict) == 0;
	buf[0] = 0;
	if (n->n_dns == 0) {
		snprintf(buf, cap, "-");
		return;
	}
	if (same) {
		snprintf(buf, cap, "%s", n->dns[0].verdict);
		return;
	}
	for (size_t k = 0; k < n->n_dns; k++) {
		size_t l = strlen(buf);
		snprintf(buf + l, cap - l, "%s%s:%s", k ? "," : "",
			 wg_ctl_type_name(n->dns[k].qtype, tb, sizeof(tb)), n->dns[k].verdict);
	}
}

static void print_table(const struct run *r, FILE *o)
{
	char dns[128], nm[300];
	int wn = 4, wd = 3, wa = 7;
	size_t count[V_PROXY_ONLY + 1] = {0};
	for (size_t i = 0; i < r->n_names; i++) {
		int l = (int)strlen(r->names[i].name) + (r->names[i].wu ? 0 : 1);
		wn = l > wn ? l : wn;
		dns_text(&r->names[i], dns, sizeof(dns));
		l = (int)strlen(dns);
		wd = l > wd ? l : wd;
		for (int k = 0; k < K__COUNT; k++) {
			l = (int)strlen(r->res[i].j[k].addr);
			wa = l > wa ? l : wa;
		}
	}
	fprintf(o, "%-*s %-*s %-11s %-*s %s\n", wn, "NAME", wd, "DNS", "TLS", wa, "ADDRESS",
		"DETAIL");
	int outside = 0;
	for (size_t i = 0; i < r->n_names; i++) {
		const struct nres *n = &r->res[i];
		const struct judgement *lj = &n->j[K_LOCAL];
		snprintf(nm, sizeof(nm), "%s%s", r->names[i].name, r->names[i].wu ? "" : "*");
		outside |= !r->names[i].wu;
		dns_text(&r->names[i], dns, sizeof(dns));
		count[n->final]++;
		fprintf(o, "%-*s %-*s %-11s %-*s %s\n", wn, nm, wd, dns, verdict_names[n->final],
			wa, lj->addr[0] ? lj->addr : "-", lj->detail);
		for (int k = K_PUBLIC; k < K__COUNT; k++) {
			const struct judgement *j = &n->j[k];
			if (j->v == V_NONE)
				continue;
			fprintf(o, "%-*s %-*s %-11s %-*s %s\n", wn,
				k == K_PUBLIC ? "  public answer" : "  via proxy", wd, "",
				verdict_names[j->v], wa, j->addr, j->detail);
		}
	}
	fprintf(o, "\n%zu name%s:", r->n_names, r->n_names == 1 ? "" : "s");
	const char *sep = " ";
	for (int v = V_OK; v <= V_PROXY_ONLY; v++)
		if (count[v]) {
			fprintf(o, "%s%zu %s", sep, count[v], verdict_names[v]);
			sep = ", ";
		}
	fprintf(o, "\nroots: %s (%u certificate%s)\n", r->roots_path, r->n_roots,
		r->n_roots == 1 ? "" : "s");
	if (outside)
		fputs("* not in the WU set: the daemon forwards it without a check\n", o);
}

static void json_str_or_null(FILE *o, const char *s)
{
	if (s && *s)
		wg_ctl_json_str(o, s);
	else
		fputs("null", o);
}

static void json_addrs(FILE *o, const char *s)
{
	char buf[INET6_ADDRSTRLEN + 1];
	fputc('[', o);
	for (size_t w = 0; word_at(s, w, buf, sizeof(buf)) == 0; w++) {
		if (w)
			fputc(',', o);
		wg_ctl_json_str(o, buf);
	}
	fputc(']', o);
}

static void json_judgement(FILE *o, const struct run *r, const struct judgement *j)
{
	if (j->v == V_NONE) {
		fputs("null", o);
		return;
	}
	fputs("{\"address\":", o);
	json_str_or_null(o, j->addr);
	fprintf(o, ",\"port\":%u,\"verdict\":\"%s\",\"reason\":", (unsigned)r->port,
		verdict_names[j->v]);
	json_str_or_null(o, j->reason);
	fputs(",\"detail\":", o);
	json_str_or_null(o, j->detail);
	fputs(",\"root\":", o);
	json_str_or_null(o, j->root);
	fputs(",\"leaf_subject\":", o);
	json_str_or_null(o, j->leaf_subject);
	fputs(",\"leaf_issuer\":", o);
	json_str_or_null(o, j->leaf_issuer);
	fputs(",\"tls_version\":", o);
	json_str_or_null(o, j->version);
	fputc('}', o);
}

static void print_json(const struct run *r, FILE *o)
{
	char tb[16];
	for (size_t i = 0; i < r->n_names; i++) {
		const struct wg_tls_name *n = &r->names[i];
		fputs("{\"name\":", o);
		wg_ctl_json_str(o, n->name);
		fprintf(o, ",\"wu\":%s,\"dns\":[", n->wu ? "true" : "false");
		for (size_t k = 0; k < n->n_dns; k++) {
			const struct wg_tls_dns *d = &n->dns[k];
			fprintf(o, "%s{\"type\":\"%s\",\"verdict\":", k ? "," : "",
				wg_ctl_type_name(d->qtype, tb, sizeof(tb)));
			wg_ctl_json_str(o, d->verdict);
			fprintf(o, ",\"would_repair\":%s,\"local\":",
				d->would_repair ? "true" : "false");
			json_addrs(o, d->local_addrs);
			fputs(",\"public\":", o);
			json_addrs(o, d->public_addrs);
			fputc('}', o);
		}
		fprintf(o, "],\"tls\":\"%s\"", verdict_names[r->res[i].final]);
		for (int k = 0; k < K__COUNT; k++) {
			fprintf(o, ",\"%s\":", kind_names[k]);
			json_judgement(o, r, &r->res[i].j[k]);
		}
		fputs("}\n", o);
	}
}

static int exit_status(const struct run *r, int dns_rc)
{
	int bad = dns_rc == 1;
	for (size_t i = 0; i < r->n_names; i++) {
		enum verdict f = r->res[i].final;
		if (f == V_INTERCEPTED || f == V_INVALID || f == V_BLOCKED || f == V_NONE ||
		    (f == V_PROXY_ONLY && r->res[i].j[K_PROXY].v != V_OK))
			bad = 1;
	}
	if (bad)
		return 1;
	return dns_rc == 0 ? 0 : 3;
}

/* --- the run ------------------------------------------------------------ */

int wg_ctl_tls_run(uv_loop_t *loop, const struct wg_tls_opts *o, const struct wg_tls_name *names,
		   size_t n_names, int json, int dns_rc, FILE *out)
{
	struct run r;
	int rc = 2, port;
	memset(&r, 0, sizeof(r));
	r.loop = loop;
	r.o = o;
	r.names = names;
	r.n_names = n_names;
	r.timeout_ms = o->timeout_ms ? o->timeout_ms : TLS_DEFAULT_TIMEOUT;
	if ((port = env_port()) < 0)
		return 2;
	r.port = (uint16_t)port;
	if (o->via_proxy) {
		if (parse_proxy(o->via_proxy, &r.proxy_sa, &r.proxy_salen) < 0)
			return 2;
		char h[INET6_ADDRSTRLEN] = "?";
		const void *a = r.proxy_sa.ss_family == AF_INET
					? (const void *)&((struct sockaddr_in *)&r.proxy_sa)->sin_addr
					: (const void *)&((struct sockaddr_in6 *)&r.proxy_sa)->sin6_addr;
		inet_ntop(r.proxy_sa.ss_family, a, h, sizeof(h));
		snprintf(r.proxy_addr, sizeof(r.proxy_addr),
			 r.proxy_sa.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", h,
			 (unsigned)ntohs(((struct sockaddr_in *)&r.proxy_sa)->sin_port));
		snprintf(r.proxy_text, sizeof(r.proxy_text), "proxy %s", r.proxy_addr);
	}
	if (load_roots(o, &r.cred, &r.n_roots, r.roots_path, sizeof(r.roots_path)) < 0)
		return 2;
	r.res = calloc(n_names ? n_names : 1, sizeof(*r.res));
	r.conns = calloc(3 * (n_names ? n_names : 1), sizeof(*r.conns));
	if (!r.res || !r.conns) {
		terr("out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_names; i++) {
		size_t l = strlen(names[i].name);
		if (l && names[i].name[l - 1] == '.')
			l--;
		snprintf(r.res[i].host, sizeof(r.res[i].host), "%.*s", (int)l, names[i].name);
		plan_name(&r, i);
	}
	for (size_t i = 0; i < r.n_conns; i++) {
		struct conn *c = &r.conns[i];
		c->r = &r;
		c->fd = -1;
		c->j = &r.res[c->name_idx].j[c->kind];
	}
	r.open = r.n_conns;
	if (r.n_conns) {
		uint64_t waves = (r.n_conns + TLS_CONCURRENCY - 1) / TLS_CONCURRENCY;
		uint64_t ms = waves * r.timeout_ms + 1000;
		long long env = env_deadline();
		if (env > 0 && (uint64_t)env < ms)
			ms = (uint64_t)env;
		r.deadline_ms = ms;
		uv_timer_init(loop, &r.deadline);
		r.deadline.data = &r;
		r.deadline_init = 1;
		uv_timer_start(&r.deadline, on_deadline, ms, 0);
		start_more(&r);
		/* other modules' handles may stay active: run until our own
		 * connections are done and their handles closed */
		while (r.open > 0 || r.closing > 0)
			uv_run(loop, UV_RUN_ONCE);
	}
	final_verdicts(&r);
	if (json)
		print_json(&r, out);
	else
		print_table(&r, out);
	fflush(out);
	rc = exit_status(&r, dns_rc);
out:
	if (r.deadline_init) {
		uv_close((uv_handle_t *)&r.deadline, NULL);
		uv_run(loop, UV_RUN_NOWAIT); /* the close callback runs: the timer is ours */
	}
	free(r.conns);
	free(r.res);
	if (r.cred)
		gnutls_certificate_free_credentials(r.cred);
	return rc;
}
