/* dnscrypt.h: DNSCrypt v2 client on libuv, with failover between stamps.
 *
 * Same reply shape and callback as the plain client (upstream.h); every
 * reply it hands over was opened with the resolver's certified key, so
 * reply.authenticated is 1.
 *
 * Certificates: at creation each stamp's certificate is fetched (TXT for the
 * provider name, plain UDP to the stamp's address, TCP when truncated or on
 * timeout), verified with the stamp's Ed25519 key, and the highest valid
 * serial is used. Every server is re-checked hourly; a higher serial replaces
 * the current one at once (exchanges in flight keep the session they started
 * with, so a rotation leaves no gap). A failed fetch is retried with backoff
 * (2 s doubling up to the re-check interval) while the old certificate, if
 * still valid, stays in use. A certificate that is well signed but outside
 * its validity window is logged as a possible clock problem.
 *
 * Queries: a fresh UDP socket per try (kernel-chosen source port), a random
 * 12-byte client nonce, a fresh random DNS ID, padding to the spec; a reply
 * whose magic, nonce, box, padding or question does not match is discarded
 * and counted, and the exchange keeps waiting. TC=1 after opening raises the
 * server's minimum UDP query length by 64 bytes and retries over TCP (2-byte
 * length framing in network byte order: the spec text says little-endian,
 * but dnsdist and dnscrypt-proxy use big-endian, checked against dnsdist). A
 * timeout moves to the next stamp that holds a certificate; later queries
 * start with the stamp that last answered, so a dead first stamp costs one
 * timeout, not one per query. Stamps with the same provider key are one
 * operator: wg_dnscrypt_query_other asks only the other operators (the
 * guard's second opinion when an answer looks filtered).
 *
 * Before any certificate is loaded, queries wait for one (bounded by the
 * slot pool and by timeout_ms times the number of tries); when every fetch
 * has failed they fail with -ENOKEY. Memory: a fixed pool of exchange slots
 * is allocated up front; only a TCP retry allocates (one 64 KiB buffer,
 * released with the slot). */
#ifndef WG_DNSCRYPT_H
#define WG_DNSCRYPT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "upstream.h"
#include "wire.h"

struct wg_dnscrypt;
struct wg_dnscrypt_req;

struct wg_dnscrypt_stats {
	uint64_t sent;                /* encrypted queries sent (UDP and TCP) */
	uint64_t replies;             /* replies accepted */
	uint64_t timeouts;            /* tries that timed out */
	uint64_t tcp_retries;         /* truncated UDP replies retried over TCP */
	uint64_t bad_replies;         /* discarded: magic, nonce, box, padding, question */
	uint64_t cert_fetches;        /* certificate fetches completed */
	uint64_t cert_fetch_failures; /* fetches that produced no usable certificate */
	uint64_t cert_rotations;      /* switches to a different certificate */
	uint64_t other_class;         /* records of another class than the question's, dropped */
};

/* Built-in public resolvers, in order: Quad9 unfiltered with ECS, whose CDN
 * answers are closer to the local ones (fewer cdn-variance rows), on its
 * primary (9.9.9.12:8443) and alternate (149.112.112.12:8443) anycast
 * addresses, provider 2.dnscrypt-cert.quad9.net; then a second operator,
 * AdGuard DNS non-filtering (94.140.14.140:5443, provider
 * 2.dnscrypt.unfiltered.ns1.adguard.com; "adguard-dns-unfiltered": no
 * logs, no filter, DNSSEC). Source: DNSCrypt/dnscrypt-resolvers
 * v3/public-resolvers.md. */
extern const char *const wg_dnscrypt_default_stamps[];
extern const size_t wg_dnscrypt_n_default_stamps;

/* Parse the stamps (tried in this order) and start fetching certificates.
 * timeout_ms applies per try. Returns NULL on a bad stamp (err names the
 * stamp and what is wrong), n == 0, or ENOMEM (err says so). */
struct wg_dnscrypt *wg_dnscrypt_new(uv_loop_t *loop, const char **stamps, size_t n,
				    uint32_t timeout_ms, char *err, size_t errcap);
/* Cancel everything (no more callbacks) and close the handles; the memory is
 * released once the loop has run the close callbacks. Safe with NULL. Do
 * not call from inside a wg_dnscrypt callback. */
void wg_dnscrypt_free(struct wg_dnscrypt *d);

/* Ask qi's question (RD/CD and DO kept; EDNS 1232 advertised inside the
 * box). On success *req (may be NULL) identifies the exchange for cancel.
 * Returns 0; -ENOSPC (every slot busy); -ENOKEY (no certificate and no fetch
 * in progress): then cb is never called. cb's status: 0, -ETIMEDOUT,
 * -ECONNREFUSED, -ENOKEY (the wait for a certificate ended without one). */
int wg_dnscrypt_query(struct wg_dnscrypt *d, const struct wg_query_info *qi, wg_upstream_cb cb,
		      void *arg, struct wg_dnscrypt_req **req);
/* As wg_dnscrypt_query, but only stamps of another operator than stamp
 * avoid's (a different provider key) are asked, in list order from the
 * preferred one, failing over among them. Returns also -ENOENT (no other
 * operator in the list) and -EINVAL (avoid out of range). */
int wg_dnscrypt_query_other(struct wg_dnscrypt *d, const struct wg_query_info *qi, int avoid,
			    wg_upstream_cb cb, void *arg, struct wg_dnscrypt_req **req);
/* Number of operators (distinct provider keys) among the stamps. */
int wg_dnscrypt_n_operators(const struct wg_dnscrypt *d);
/* The callback will not be called. Only for an exchange still in progress. */
void wg_dnscrypt_cancel(struct wg_dnscrypt_req *req);
void wg_dnscrypt_get_stats(const struct wg_dnscrypt *d, struct wg_dnscrypt_stats *s);

/* Number of stamps that hold a usable certificate now. */
int wg_dnscrypt_ready(const struct wg_dnscrypt *d);
/* Serial of the certificate in use for stamp i, 0 when none. */
uint32_t wg_dnscrypt_cert_serial(const struct wg_dnscrypt *d, size_t i);
/* One stamp's certificate state, for the control socket's status. */
struct wg_dnscrypt_server_info {
	const char *label;      /* borrowed: "addr (provider)" */
	int have_cert;          /* a usable certificate is loaded */
	int fetching;           /* a fetch is running now */
	int last_fetch_failed;  /* the last fetch produced no usable certificate */
	uint32_t serial;        /* of the certificate in use, 0: none */
	uint32_t ts_start, ts_end; /* its validity, Unix seconds */
};
size_t wg_dnscrypt_n_servers(const struct wg_dnscrypt *d);
/* State of stamp i. Returns 0 or -ENOENT. */
int wg_dnscrypt_server_info(const struct wg_dnscrypt *d, size_t i,
			    struct wg_dnscrypt_server_info *out);
/* Certificate re-check interval (default 3600000 ms = 1 h); for tests. */
void wg_dnscrypt_set_recheck(struct wg_dnscrypt *d, uint32_t ms);

#endif
