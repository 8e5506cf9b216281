/* test_guard.c: every verdict category in both modes, the TTL cap and EDE
 * choices, and the latency rule (may a local answer go out before the public
 * one arrives?). */
#include "autoconfig.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "testutil.h"

#include "guard.h"
#include "wire.h"
#include "pktbuild.h"

#define Q "download.windowsupdate.com."

/* What repair mode must do per category (doc/DESIGN.md 5, last column). */
static const struct {
	enum wg_compare_category cat;
	enum wg_compare_hint hint;      /* as compare hands it over */
	enum wg_guard_action repair;    /* action in repair mode */
	int record;
} table[] = {
	{WG_CMP_BOTH_FAIL, WG_HINT_SERVE_LOCAL, WG_GUARD_SERVE_LOCAL, 1},
	{WG_CMP_PUBLIC_UNAVAILABLE, WG_HINT_SERVE_LOCAL, WG_GUARD_SERVE_LOCAL, 1},
	{WG_CMP_PUBLIC_UNAVAILABLE, WG_HINT_SERVE_STALE, WG_GUARD_SERVE_STALE, 1},
	{WG_CMP_SANCTIONED, WG_HINT_SERVE_LOCAL, WG_GUARD_SERVE_LOCAL, 1},
	{WG_CMP_LOCAL_TIMEOUT, WG_HINT_SERVE_PUBLIC, WG_GUARD_SERVE_PUBLIC, 1},
	{WG_CMP_BLOCKED_EDE, WG_HINT_SERVE_PUBLIC, WG_GUARD_SERVE_PUBLIC, 1},
	{WG_CMP_SINKHOLE, WG_HINT_SERVE_PUBLIC, WG_GUARD_SERVE_PUBLIC, 1},
	{WG_CMP_BLOCKED_RCODE, WG_HINT_SERVE_PUBLIC, WG_GUARD_SERVE_PUBLIC, 1},
	{WG_CMP_LOCAL_SERVFAIL, WG_HINT_SERVE_PUBLIC, WG_GUARD_SERVE_PUBLIC, 1},
	{WG_CMP_AAAA_SUPPRESSED, WG_HINT_SERVE_LOCAL, WG_GUARD_SERVE_LOCAL, 1},
	{WG_CMP_NODATA, WG_HINT_SERVE_PUBLIC, WG_GUARD_SERVE_PUBLIC, 1},
	{WG_CMP_MATCH, WG_HINT_SERVE_LOCAL, WG_GUARD_SERVE_LOCAL, 0},
	{WG_CMP_CDN_VARIANCE, WG_HINT_SERVE_LOCAL, WG_GUARD_SERVE_LOCAL, 1},
	{WG_CMP_REWRITE, WG_HINT_SERVE_PUBLIC, WG_GUARD_SERVE_PUBLIC, 1},
	{WG_CMP_LOCAL_EXTRA, WG_HINT_SERVE_LOCAL, WG_GUARD_SERVE_LOCAL, 1},
};

static void test_every_category_both_modes(void **state)
{
	int covered[WG_CMP__COUNT] = {0};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct wg_compare_result v;
		memset(&v, 0, sizeof(v));
		v.category = table[i].cat;
		v.hint = table[i].hint;
		covered[v.category] = 1;
		const char *name = wg_compare_category_name(v.category);

		struct wg_guard_conf rep = {0, 300, 1};
		struct wg_guard_decision d;
		assert_int_equal(wg_guard_decide(&v, &rep, &d), 0);
		if (d.action != table[i].repair)
			fail_msg("%s repair: %s, want %s", name, wg_guard_action_name(d.action),
				 wg_guard_action_name(table[i].repair));
		assert_int_equal(d.record, table[i].record);
		assert_int_equal(d.repaired, table[i].repair != WG_GUARD_SERVE_LOCAL);
		assert_int_equal(d.would_repair, table[i].repair != WG_GUARD_SERVE_LOCAL);
		if (d.action == WG_GUARD_SERVE_PUBLIC) {
			assert_int_equal(d.ttl_cap, 300);
			assert_int_equal(WG_GUARD_EDE_CODE(d.ede), WG_GUARD_EDE_REPAIRED);
			/* the EXTRA-TEXT names the category as the CLI spells it */
			const char *t = wg_guard_ede_text(d.ede);
			char want[128];
			snprintf(want, sizeof(want), "wuguard: repaired %s", name);
			if (!t || strncmp(t, want, strlen(want)) != 0 ||
			    !strstr(t, ", public answer served"))
				fail_msg("%s: EDE text '%s'", name, t ? t : "(none)");
		} else if (d.action == WG_GUARD_SERVE_STALE) {
			assert_int_equal(d.ttl_cap, 300);
			assert_int_equal(WG_GUARD_EDE_CODE(d.ede), WG_GUARD_EDE_STALE);
			const char *t = wg_guard_ede_text(d.ede);
			assert_non_null(t);
			assert_non_null(strstr(t, "stale answer served"));
		} else {
			assert_int_equal(d.ede, -1);
			/* an unverified local answer is kept short-lived */
			assert_int_equal(d.ttl_cap,
					 v.category == WG_CMP_PUBLIC_UNAVAILABLE ? 300 : 0);
		}
		/* the EDE is never one that says "blocked" */
		assert_false(wg_compare_ede_is_blocking(d.ede < 0 ? d.ede : WG_GUARD_EDE_CODE(d.ede)));

		struct wg_guard_conf mon = {1, 300, 1};
		assert_int_equal(wg_guard_decide(&v, &mon, &d), 0);
		if (d.action != WG_GUARD_SERVE_LOCAL)
			fail_msg("%s monitor: %s", name, wg_guard_action_name(d.action));
		assert_int_equal(d.repaired, 0);
		assert_int_equal(d.ttl_cap, 0);
		assert_int_equal(d.ede, -1);
		assert_int_equal(d.record, table[i].record);
		assert_int_equal(d.would_repair, table[i].repair != WG_GUARD_SERVE_LOCAL);
	}
	for (int k = 0; k < WG_CMP__COUNT; k++)
		if (!covered[k])
			fail_msg("category %s not in the table", wg_compare_category_name(k));
}

/* What the cache keeps after a late verdict (the local answer was served
 * early) and which answers get the verified mark: decided here, applied by
 * the resolver. */
static void test_late_and_verified(void **state)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct wg_compare_result v;
		struct wg_guard_decision d;
		memset(&v, 0, sizeof(v));
		v.category = table[i].cat;
		v.hint = table[i].hint;
		const char *name = wg_compare_category_name(v.category);
		int genuine = v.category == WG_CMP_MATCH || v.category == WG_CMP_CDN_VARIANCE;

		struct wg_guard_conf rep = {0, 300, 1};
		assert_int_equal(wg_guard_decide(&v, &rep, &d), 0);
		int want = d.action == WG_GUARD_SERVE_PUBLIC ? WG_GUARD_LATE_REPAIR
			   : d.action == WG_GUARD_SERVE_LOCAL && d.ttl_cap ? WG_GUARD_LATE_CAP
									 : WG_GUARD_LATE_NONE;
		if (d.late != want)
			fail_msg("%s repair: late %d, want %d", name, d.late, want);
		/* the repair's EDE and text; an unverified local answer that
		 * only gets the cap carries none (it was not repaired) */
		if (want == WG_GUARD_LATE_REPAIR)
			assert_int_equal(d.late_ede, d.ede);
		else
			assert_int_equal(d.late_ede, -1);
		if (want == WG_GUARD_LATE_REPAIR)
			assert_int_equal(WG_GUARD_EDE_CODE(d.late_ede), WG_GUARD_EDE_REPAIRED);
		assert_int_equal(d.verified, genuine);

		struct wg_guard_conf noede = {0, 300, 0};
		assert_int_equal(wg_guard_decide(&v, &noede, &d), 0);
		assert_int_equal(d.late, want);
		assert_int_equal(d.late_ede, -1);

		/* monitor mode never changes what is served or cached, but a
		 * match is still marked */
		struct wg_guard_conf mon = {1, 300, 1};
		assert_int_equal(wg_guard_decide(&v, &mon, &d), 0);
		assert_int_equal(d.late, WG_GUARD_LATE_NONE);
		assert_int_equal(d.late_ede, -1);
		assert_int_equal(d.verified, genuine);
	}
	/* repair without a TTL cap: an unverified local answer stays as it is */
	struct wg_compare_result v;
	struct wg_guard_decision d;
	memset(&v, 0, sizeof(v));
	v.category = WG_CMP_PUBLIC_UNAVAILABLE;
	v.hint = WG_HINT_SERVE_LOCAL;
	struct wg_guard_conf nocap = {0, 0, 1};
	assert_int_equal(wg_guard_decide(&v, &nocap, &d), 0);
	assert_int_equal(d.late, WG_GUARD_LATE_NONE);
	assert_int_equal(d.verified, 0);
}

static void test_options(void **state)
{
	struct wg_compare_result v;
	memset(&v, 0, sizeof(v));
	v.category = WG_CMP_SINKHOLE;
	v.hint = WG_HINT_SERVE_PUBLIC;
	struct wg_guard_decision d;
	/* no EDE, no TTL cap */
	struct wg_guard_conf c = {0, 0, 0};
	assert_int_equal(wg_guard_decide(&v, &c, &d), 0);
	assert_int_equal(d.action, WG_GUARD_SERVE_PUBLIC);
	assert_int_equal(d.ede, -1);
	assert_int_equal(d.ttl_cap, 0);
	/* bad input: serve local and record */
	v.category = WG_CMP__COUNT;
	assert_int_equal(wg_guard_decide(&v, &c, &d), -EINVAL);
	assert_int_equal(d.action, WG_GUARD_SERVE_LOCAL);
	assert_int_equal(d.record, 1);
	assert_int_equal(wg_guard_decide(NULL, &c, &d), -EINVAL);
	assert_string_equal(wg_guard_action_name(WG_GUARD_SERVE_STALE), "serve-stale");
	/* texts: none for -1, a bare code, or an unknown id */
	assert_null(wg_guard_ede_text(-1));
	assert_null(wg_guard_ede_text(15));
	assert_null(wg_guard_ede_text(WG_GUARD_EDE(0, 200)));
	assert_string_equal(wg_guard_ede_text(WG_GUARD_EDE_UPSTREAM_STALE),
			    "wuguard: upstream slow or unreachable, stale answer served");
	assert_int_equal(WG_GUARD_EDE_CODE(WG_GUARD_EDE_UPSTREAM_STALE), 3);
	assert_string_equal(wg_guard_action_name((enum wg_guard_action)5), "?");
}

/* End to end: compare a real pair of replies, then decide. */
static void test_compare_then_guard(void **state)
{
	uint8_t lb[1024], pb[1024], qn[WG_NAME_MAX];
	pkt_name(Q, qn);
	struct pkt_spec l = {.qname = Q, .qtype = WG_TYPE_A, .an = {Q " 2 IN A 0.0.0.0"}};
	struct pkt_spec p = {.qname = Q, .qtype = WG_TYPE_A,
			     .an = {Q " 300 IN CNAME wu.ec.azureedge.net.",
				    "wu.ec.azureedge.net. 60 IN A 93.184.221.240"}};
	struct wg_compare_input in = {
		{WG_SIDE_OK, lb, pkt_build(&l, lb, sizeof(lb))},
		{WG_SIDE_OK, pb, pkt_build(&p, pb, sizeof(pb))},
		qn, WG_TYPE_A, -1};
	struct wg_compare_result v;
	assert_int_equal(wg_compare(&in, NULL, &v), 0);
	assert_int_equal(v.category, WG_CMP_SINKHOLE);
	struct wg_guard_decision d;
	struct wg_guard_conf rep = {0, 300, 0};
	assert_int_equal(wg_guard_decide(&v, &rep, &d), 0);
	assert_int_equal(d.action, WG_GUARD_SERVE_PUBLIC);
	/* public resolver down, local an unmistakable sinkhole: stale/SERVFAIL */
	in.public_.status = WG_SIDE_TIMEOUT;
	in.public_.reply = NULL;
	assert_int_equal(wg_compare(&in, NULL, &v), 0);
	assert_int_equal(v.category, WG_CMP_PUBLIC_UNAVAILABLE);
	assert_int_equal(wg_guard_decide(&v, &rep, &d), 0);
	assert_int_equal(d.action, WG_GUARD_SERVE_STALE);
	/* ... but never worse than no guard: a plausible local answer is served */
	struct pkt_spec ok = {.qname = Q, .qtype = WG_TYPE_A,
			      .an = {Q " 300 IN A 93.184.221.240"}};
	in.local.len = pkt_build(&ok, lb, sizeof(lb));
	assert_int_equal(wg_compare(&in, NULL, &v), 0);
	assert_int_equal(wg_guard_decide(&v, &rep, &d), 0);
	assert_int_equal(d.action, WG_GUARD_SERVE_LOCAL);
}

static void test_local_looks_clean(void **state)
{
	struct wg_addrlist sink = {0}, sanct = {0};
	struct wg_domainset *names = wg_domainset_new();
	assert_int_equal(wg_addrlist_add(&sink, "146.112.61.104/30", 0), 0);
	assert_int_equal(wg_addrlist_add(&sanct, "10.10.10.10", 0), 0);
	assert_int_equal(wg_domainset_add(names, "sinkhole.paloaltonetworks.com", NULL), 0);
	struct wg_compare_ctx ctx = {.sinkhole_addrs = &sink, .sinkhole_names = names,
				     .sanctioned_addrs = &sanct};
	static const struct {
		const char *name;
		struct pkt_spec s;
		uint16_t qtype; /* 0: A */
		int clean;
	} c[] = {
		{"plain address", {.an = {Q " 300 IN A 93.184.221.240"}}, 0, 1},
		{"CDN chain", {.an = {Q " 300 IN CNAME a.c.footprint.net.",
				      "a.c.footprint.net. 60 IN A 8.238.1.1"}}, 0, 1},
		{"AAAA", {.an = {Q " 300 IN AAAA 2606:2800:11f::1"}}, WG_TYPE_AAAA, 1},
		{"non-blocking EDE", {.an = {Q " 300 IN A 93.184.221.240"}, .ede = PKT_EDE(3)}, 0, 1},
		{"sanctioned Lancache", {.an = {Q " 300 IN A 10.10.10.10"}}, 0, 1},
		{"0.0.0.0", {.an = {Q " 2 IN A 0.0.0.0"}}, 0, 0},
		{"::", {.an = {Q " 2 IN AAAA ::"}}, WG_TYPE_AAAA, 0},
		{"Umbrella", {.an = {Q " 2 IN A 146.112.61.105"}}, 0, 0},
		{"bogon", {.an = {Q " 300 IN A 192.168.1.1"}}, 0, 0},
		{"sinkhole name", {.an = {Q " 300 IN CNAME sinkhole.paloaltonetworks.com.",
					  "sinkhole.paloaltonetworks.com. 60 IN A 72.5.65.111"}}, 0, 0},
		{"NXDOMAIN", {.rcode = WG_RCODE_NXDOMAIN}, 0, 0},
		{"REFUSED", {.rcode = WG_RCODE_REFUSED}, 0, 0},
		{"SERVFAIL", {.rcode = WG_RCODE_SERVFAIL}, 0, 0},
		{"NODATA", {.rcode = 0}, 0, 0},
		{"CNAME only", {.an = {Q " 300 IN CNAME a.c.footprint.net."}}, 0, 0},
		{"blocking EDE with data", {.an = {Q " 300 IN A 93.184.221.240"}, .ede = PKT_EDE(15)}, 0, 0},
		{"HINFO", {.an = {Q " 1 IN HINFO \"blocked\" \"dnscrypt-proxy\""}}, 0, 0},
		{"truncated", {.tc = 1, .an = {Q " 300 IN A 93.184.221.240"}}, 0, 0},
	};
	uint8_t buf[1024], qn[WG_NAME_MAX];
	pkt_name(Q, qn);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct pkt_spec s = c[i].s;
		s.qname = Q;
		s.qtype = c[i].qtype ? c[i].qtype : WG_TYPE_A;
		size_t len = pkt_build(&s, buf, sizeof(buf));
		int got = wg_guard_local_looks_clean(buf, len, qn, s.qtype, &ctx);
		if (got != c[i].clean)
			fail_msg("%s: clean=%d, want %d", c[i].name, got, c[i].clean);
	}
	/* without any lists the null addresses still count */
	struct pkt_spec z = {.qname = Q, .qtype = WG_TYPE_A, .an = {Q " 2 IN A 0.0.0.0"}};
	size_t len = pkt_build(&z, buf, sizeof(buf));
	assert_false(wg_guard_local_looks_clean(buf, len, qn, WG_TYPE_A, NULL));
	assert_false(wg_guard_local_looks_clean(NULL, 0, qn, WG_TYPE_A, NULL));
	assert_false(wg_guard_local_looks_clean(buf, 5, qn, WG_TYPE_A, NULL));
	wg_addrlist_clear(&sink);
	wg_addrlist_clear(&sanct);
	wg_domainset_free(names);
}

/* How the guard reads one reply alone: a public reference's answer that
 * looks filtered (asked again of another operator), and a local AAAA
 * NODATA (the A of the name is checked). */
static void test_public_suspect_and_nodata(void **state)
{
	struct wg_addrlist sink = {0};
	assert_int_equal(wg_addrlist_add(&sink, "146.112.61.104/30", 0), 0);
	struct wg_compare_ctx ctx = {.sinkhole_addrs = &sink};
	static const struct {
		const char *name;
		struct pkt_spec s;
		uint16_t qtype; /* 0: A */
		int look, nodata;
	} c[] = {
		{"address", {.an = {Q " 300 IN A 93.184.221.240"}}, 0, WG_PUB_CLEAN, 0},
		{"bogon (not unmistakable)", {.an = {Q " 300 IN A 192.168.1.1"}}, 0, WG_PUB_CLEAN, 0},
		{"NODATA", {.rcode = 0}, 0, WG_PUB_CLEAN, 1},
		{"AAAA NODATA", {.rcode = 0}, WG_TYPE_AAAA, WG_PUB_CLEAN, 1},
		{"AAAA NODATA, A in the answer", {.an = {Q " 300 IN A 93.184.221.240"}},
		 WG_TYPE_AAAA, WG_PUB_CLEAN, 1},
		{"AAAA data", {.an = {Q " 300 IN AAAA 2001:db8::1"}}, WG_TYPE_AAAA, WG_PUB_CLEAN, 0},
		{"SERVFAIL", {.rcode = WG_RCODE_SERVFAIL}, 0, WG_PUB_CLEAN, 0},
		{"truncated", {.tc = 1}, 0, WG_PUB_CLEAN, 0},
		{"NXDOMAIN", {.rcode = WG_RCODE_NXDOMAIN}, 0, WG_PUB_NEGATIVE, 0},
		{"REFUSED", {.rcode = WG_RCODE_REFUSED}, 0, WG_PUB_NEGATIVE, 0},
		{"0.0.0.0", {.an = {Q " 2 IN A 0.0.0.0"}}, 0, WG_PUB_FILTERED, 0},
		{"Umbrella", {.an = {Q " 2 IN A 146.112.61.105"}}, 0, WG_PUB_FILTERED, 0},
		{"NXDOMAIN with EDE 15", {.rcode = WG_RCODE_NXDOMAIN, .ede = PKT_EDE(15)}, 0,
		 WG_PUB_FILTERED, 0},
		{"NODATA with EDE 17", {.rcode = 0, .ede = PKT_EDE(17)}, 0, WG_PUB_FILTERED, 1},
		{"NXDOMAIN with EDE 3", {.rcode = WG_RCODE_NXDOMAIN, .ede = PKT_EDE(3)}, 0,
		 WG_PUB_NEGATIVE, 0},
	};
	uint8_t buf[1024], qn[WG_NAME_MAX];
	pkt_name(Q, qn);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct pkt_spec s = c[i].s;
		s.qname = Q;
		s.qtype = c[i].qtype ? c[i].qtype : WG_TYPE_A;
		size_t len = pkt_build(&s, buf, sizeof(buf));
		int got = wg_compare_public_suspect(buf, len, qn, s.qtype, &ctx);
		if (got != c[i].look)
			fail_msg("%s: look=%d, want %d", c[i].name, got, c[i].look);
		got = wg_compare_reply_is_nodata(buf, len, qn, s.qtype);
		if (got != c[i].nodata)
			fail_msg("%s: nodata=%d, want %d", c[i].name, got, c[i].nodata);
	}
	assert_int_equal(wg_compare_public_suspect(NULL, 0, qn, WG_TYPE_A, &ctx), WG_PUB_CLEAN);
	assert_int_equal(wg_compare_public_suspect(buf, 5, qn, WG_TYPE_A, NULL), WG_PUB_CLEAN);
	assert_false(wg_compare_reply_is_nodata(NULL, 0, qn, WG_TYPE_AAAA));
	assert_false(wg_compare_reply_is_nodata(buf, 5, qn, WG_TYPE_AAAA));
	wg_addrlist_clear(&sink);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_category_both_modes),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_late_and_verified),
		cmocka_unit_test(test_compare_then_guard),
		cmocka_unit_test(test_local_looks_clean),
		cmocka_unit_test(test_public_suspect_and_nodata),
	};
	return cmocka_run_group_tests_name("guard", tests, NULL, NULL);
}
