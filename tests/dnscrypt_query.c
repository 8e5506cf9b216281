/* dnscrypt_query.c: wg-dnscrypt-query, a small client over the DNSCrypt
 * transport for the integration tests.
 *
 *   wg-dnscrypt-query [-t timeout_ms] [-n count] [-i interval_ms]
 *                     [-R recheck_ms] [-v] STAMP [STAMP...] NAME TYPE
 *
 * Prints one "status=... rcode=... tcp=... server=..." line per query and
 * the answer records, then a "stats ..." line. Exits 0 when every query got
 * an answer, 1 otherwise, 2 on usage or stamp errors. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <uv.h>

#include "dnscrypt.h"
#include "log.h"
#include "wire.h"

struct run {
	struct wg_dnscrypt *d;
	struct wg_query_info qi;
	uv_timer_t next;
	int left, failures;
	uint32_t interval_ms;
};

static void start_one(struct run *r);

static void print_reply(const struct wg_upstream_reply *rep)
{
	ldns_pkt *p = NULL;
	if (ldns_wire2pkt(&p, rep->pkt, rep->len) != LDNS_STATUS_OK) {
		printf("status=0 unparseable reply\n");
		return;
	}
	printf("status=0 rcode=%s tcp=%u server=%d authenticated=%u answers=%u len=%zu\n",
	       wg_wire_rcode_str(ldns_pkt_get_rcode(p)), rep->tcp, rep->server,
	       rep->authenticated, (unsigned)ldns_pkt_ancount(p), rep->len);
	ldns_rr_list *an = ldns_pkt_answer(p);
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		char *s = ldns_rr2str(ldns_rr_list_rr(an, i));
		printf("%s", s ? s : "?\n");
		free(s);
	}
	ldns_pkt_free(p);
}

static void next_cb(uv_timer_t *t)
{
	start_one(t->data);
}

static void on_reply(void *arg, const struct wg_upstream_reply *rep)
{
	struct run *r = arg;
	if (rep->status == 0) {
		print_reply(rep);
	} else {
		printf("status=%d error=%s\n", rep->status, strerror(-rep->status));
		r->failures++;
	}
	fflush(stdout);
	if (--r->left > 0)
		uv_timer_start(&r->next, next_cb, r->interval_ms, 0);
}

static void start_one(struct run *r)
{
	int rc = wg_dnscrypt_query(r->d, &r->qi, on_reply, r, NULL);
	if (rc < 0) {
		printf("status=%d error=%s\n", rc, strerror(-rc));
		fflush(stdout);
		r->failures++;
		if (--r->left > 0)
			uv_timer_start(&r->next, next_cb, r->interval_ms, 0);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: wg-dnscrypt-query [-t timeout_ms] [-n count] [-i interval_ms] "
			"[-R recheck_ms] [-v] STAMP [STAMP...] NAME TYPE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint32_t timeout = 1000, recheck = 0;
	int c, count = 1, verbose = 0;
	struct run r;
	char err[256];

	memset(&r, 0, sizeof(r));
	while ((c = getopt(argc, argv, "t:n:i:R:v")) != -1) {
		switch (c) {
		case 't': timeout = (uint32_t)atoi(optarg); break;
		case 'n': count = atoi(optarg); break;
		case 'i': r.interval_ms = (uint32_t)atoi(optarg); break;
		case 'R': recheck = (uint32_t)atoi(optarg); break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (argc - optind < 3 || count < 1)
		usage();
	wg_log_open(0, verbose ? WG_LOG_DEBUG : WG_LOG_INFO);
	const char *name = argv[argc - 2], *type = argv[argc - 1];
	size_t nstamps = (size_t)(argc - optind - 2);

	struct wg_query_info tmpl;
	uint8_t q[512];
	memset(&tmpl, 0, sizeof(tmpl));
	int nl = wg_wire_name_from_str(name, tmpl.qname);
	ldns_rr_type t = ldns_get_rr_type_by_name(type);
	if (nl < 0 || t == 0) {
		fprintf(stderr, "bad name or type\n");
		return 2;
	}
	tmpl.qname_len = (uint16_t)nl;
	tmpl.qtype = (uint16_t)t;
	tmpl.qclass = 1;
	tmpl.flags = WG_F_RD;
	int ql = wg_wire_build_query(q, sizeof(q), &tmpl, 1);
	if (ql < 0 || wg_wire_parse_query(q, (size_t)ql, &r.qi) < 0) {
		fprintf(stderr, "cannot build the query\n");
		return 2;
	}

	uv_loop_t loop;
	uv_loop_init(&loop);
	r.d = wg_dnscrypt_new(&loop, (const char **)argv + optind, nstamps, timeout, err, sizeof(err));
	if (!r.d) {
		fprintf(stderr, "error: %s\n", err);
		uv_loop_close(&loop);
		return 2;
	}
	if (recheck)
		wg_dnscrypt_set_recheck(r.d, recheck);
	uv_timer_init(&loop, &r.next);
	r.next.data = &r;
	r.left = count;
	start_one(&r);
	/* run until every query has been answered; the re-check timers would keep
	 * the loop alive forever, so stop by hand */
	while (r.left > 0)
		uv_run(&loop, UV_RUN_ONCE);

	struct wg_dnscrypt_stats st;
	wg_dnscrypt_get_stats(r.d, &st);
	printf("stats sent=%llu replies=%llu timeouts=%llu tcp_retries=%llu bad=%llu "
	       "cert_fetches=%llu cert_failures=%llu rotations=%llu serial=%u\n",
	       (unsigned long long)st.sent, (unsigned long long)st.replies,
	       (unsigned long long)st.timeouts, (unsigned long long)st.tcp_retries,
	       (unsigned long long)st.bad_replies, (unsigned long long)st.cert_fetches,
	       (unsigned long long)st.cert_fetch_failures, (unsigned long long)st.cert_rotations,
	       wg_dnscrypt_cert_serial(r.d, 0));
	wg_dnscrypt_free(r.d);
	uv_close((uv_handle_t *)&r.next, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	int rc = uv_loop_close(&loop);
	if (rc != 0)
		fprintf(stderr, "loop not closed cleanly: %s\n", uv_strerror(rc));
	return r.failures ? 1 : (rc != 0 ? 3 : 0);
}
