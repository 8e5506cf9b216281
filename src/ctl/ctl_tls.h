/* ctl_tls.h: `wuguardctl probe --tls`, the TLS path to the WU endpoints.
 *
 * The documents this project comes from name TLS interception (a proxy,
 * firewall, VPN or security suite re-signing the update servers'
 * certificates) as the first cause of broken updates; Windows shows it as
 * 0x80072ee2 or 0x8024401c without saying why. After probe's DNS checks,
 * this module connects on TCP 443 to the address the local resolver gave
 * for each name (and to the public answer's when it differs, and through
 * an HTTP CONNECT proxy when one is given), does a TLS handshake with SNI
 * and judges the chain the server presents against Microsoft's roots
 * (db/microsoft-roots.pem, or --tls-roots FILE; the machine's own root
 * store is never trusted for this). GnuTLS does the handshake and the
 * verification; only wuguardctl links it.
 *
 * One libuv loop (probe's), non-blocking sockets watched with uv_poll, a
 * timer per connection and one for the whole phase. */
#ifndef WG_CTL_TLS_H
#define WG_CTL_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

/* The options; zero-initialised means --tls not given. */
struct wg_tls_opts {
	int enabled;
	const char *via_proxy;  /* borrowed from argv: http://HOST:PORT, NULL none */
	const char *roots_file; /* borrowed from argv, NULL: the shipped roots */
	uint32_t timeout_ms;    /* per connection; 0: the default (5000) */
};

/* What probe's DNS checks found for one name and type. */
struct wg_tls_dns {
	uint16_t qtype;
	const char *verdict;       /* borrowed: category name, or "no-verdict" */
	int would_repair;
	const char *local_status;  /* borrowed: "ok", "nxdomain", "timeout" ...; "" none */
	const char *local_addrs;   /* borrowed: space-separated, "" none */
	const char *public_addrs;  /* borrowed: space-separated, "" none */
};

/* One name of the run: filled by probe, borrowed by wg_ctl_tls_run. */
struct wg_tls_name {
	const char *name;          /* borrowed: presentation form, trailing dot */
	int wu;                    /* in the loaded WU set */
	struct wg_tls_dns dns[2];  /* in the order asked */
	size_t n_dns;
};

/* The names `probe --tls` checks without NAME arguments, NULL-terminated:
 * the HTTPS endpoints of the WU set that Windows reaches on 443 (scan,
 * metadata, Delivery Optimization, Store), each with its sources in
 * ctl_tls.c. */
extern const char *const wg_tls_default_names[];

/* Parse a --tls-timeout value (1 to 60000 ms) into o. Returns 0 or
 * -EINVAL (reported on stderr). */
int wg_ctl_tls_set_timeout(struct wg_tls_opts *o, const char *text);

/* Check the options that need no network (roots file readable and holding
 * certificates, proxy URL well-formed, WUGUARDCTL_PROBE_TLS_PORT) before
 * any DNS is asked. Returns 0 or -1 (reported on stderr). */
int wg_ctl_tls_check(const struct wg_tls_opts *o);

/* Run the TLS phase on loop (which must hold no handle of ours; other
 * handles may be active: the phase runs the loop with UV_RUN_ONCE until
 * its own work and handles are done), then print the table (or JSON lines,
 * json != 0) to out. dns_rc: probe's exit status for the DNS part. Returns
 * the exit status of the whole run: 1 when any name is not ok (or any DNS
 * answer would be repaired), 0 when all are ok and DNS is clean, 3 when
 * TLS is all ok but DNS was only partly checked, 2 on a set-up error
 * (reported). */
int wg_ctl_tls_run(uv_loop_t *loop, const struct wg_tls_opts *o, const struct wg_tls_name *names,
		   size_t n_names, int json, int dns_rc, FILE *out);

#endif
