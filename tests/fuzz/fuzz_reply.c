/* fuzz_reply.c: an upstream's reply, as the resolver and the guard handle
 * it: match it to the question, scan and rewrite its TTLs, strip and append
 * OPT, truncate it, judge it (alone and against a second reply) and cache
 * it, then check that what the cache serves back is still a sound message.
 *
 * Input: byte 0 picks the query type and flags, byte 1 where the input is
 * split into a local and a public reply for wg_compare; the rest is the
 * reply. The question is taken from the reply itself when it has one, so
 * most inputs get past the question check. */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "cache.h"
#include "compare.h"
#include "domainset.h"
#include "fuzz.h"
#include "wire.h"

static struct wg_compare_ctx ctx;
static struct wg_addrlist sink_addrs;
static struct wg_domainset *sink_names, *cdn;
static struct wg_cache *cache;

static void setup(void)
{
	if (cache)
		return;
	FUZZ_CHECK(wg_addrlist_add(&sink_addrs, "0.0.0.0", 0) == 0);
	FUZZ_CHECK(wg_addrlist_add(&sink_addrs, "::", 0) == 0);
	FUZZ_CHECK(wg_addrlist_add(&sink_addrs, "10.0.0.0/8", 1) == 0);
	sink_names = wg_domainset_new();
	cdn = wg_domainset_new();
	FUZZ_CHECK(sink_names && cdn);
	FUZZ_CHECK(wg_domainset_add(sink_names, "*.sinkhole.example", NULL) == 0);
	FUZZ_CHECK(wg_domainset_add(cdn, "*.akamaiedge.net", NULL) == 0);
	ctx.sinkhole_addrs = &sink_addrs;
	ctx.sinkhole_names = sink_names;
	ctx.cdn_suffixes = cdn;
	struct wg_cache_params p = {
		.max_entries = 64, .max_bytes = 1 << 20, .min_ttl = 0, .max_ttl = 86400,
		.neg_max_ttl = 3600, .neg_default_ttl = 60, .servfail_ttl = 5,
		.stale_max_age = 3600, .prefetch_min_hits = 1,
	};
	cache = wg_cache_new(&p);
	FUZZ_CHECK(cache);
}

static void check_scan(const uint8_t *pkt, size_t len, struct wg_wire_ttls *t)
{
	FUZZ_CHECK(t->n <= WG_WIRE_MAX_TTLS);
	for (unsigned i = 0; i < t->n; i++)
		FUZZ_CHECK((size_t)t->off[i] + 4 <= len);
	if (t->opt_off)
		FUZZ_CHECK((size_t)t->opt_off + t->opt_len <= len);
	(void)pkt;
}

static void check_result(const struct wg_compare_result *r)
{
	FUZZ_CHECK((unsigned)r->category < WG_CMP__COUNT);
	FUZZ_CHECK((unsigned)r->severity <= WG_SEV_HIGH);
	FUZZ_CHECK((unsigned)r->hint <= WG_HINT_SERVE_STALE);
	FUZZ_CHECK(memchr(r->local.chain, 0, WG_CMP_TEXT) && memchr(r->local.addrs, 0, WG_CMP_TEXT));
	FUZZ_CHECK(memchr(r->public_.chain, 0, WG_CMP_TEXT) &&
		   memchr(r->public_.addrs, 0, WG_CMP_TEXT));
	FUZZ_CHECK(strcmp(wg_compare_category_name(r->category), "?") != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = {0, WG_TYPE_A, WG_TYPE_AAAA, WG_TYPE_CNAME,
					 WG_TYPE_TXT, WG_TYPE_SOA, WG_TYPE_HINFO, WG_TYPE_ANY};
	static uint8_t pkt[WG_PKT_MAX], out[WG_PKT_MAX], tmp[WG_PKT_MAX + 64];
	static uint64_t now_ms = 1000000;
	if (size < 2)
		return 0;
	setup();
	uint8_t sel = data[0], split = data[1];
	const uint8_t *reply = data + 2;
	size_t len = size - 2;
	if (len > sizeof(pkt))
		return 0;

	/* the question: the reply's own, or a fixed one */
	struct wg_query_info qi;
	memcpy(tmp, reply, len);
	if (len >= WG_HDR_LEN)
		tmp[2] &= 0x7f; /* parse it as the query it answers */
	if (wg_wire_parse_query(tmp, len, &qi) != 0) {
		memset(&qi, 0, sizeof(qi));
		int n = wg_wire_name_from_str("www.Example.com", qi.qname);
		FUZZ_CHECK(n > 0);
		qi.qname_len = (uint16_t)n;
		FUZZ_CHECK(wg_wire_name_from_str("www.example.com", qi.qname_lc) == n);
		qi.qclass = 1;
		qi.qtype = WG_TYPE_A;
		qi.udp_size = WG_UDP_MIN;
	}
	if (types[sel & 7])
		qi.qtype = types[sel & 7];
	uint16_t id = len >= 2 ? wg_get16(reply) : 0;
	int m = wg_wire_reply_matches(reply, len, id, &qi);
	FUZZ_CHECK(m == 0 || m == -EBADMSG);

	/* strip and append OPT, as the resolver does: only the header counts
	 * and the bytes after the last record change, so the message must
	 * still scan (no name may point into either) */
	memcpy(pkt, reply, len);
	struct wg_wire_ttls t;
	if (wg_wire_scan(pkt, len, &t) == 0) {
		check_scan(pkt, len, &t);
		size_t sl = wg_wire_strip_opt(pkt, len, &t);
		FUZZ_CHECK(sl <= t.end && t.end <= len);
		struct wg_wire_ttls t3;
		FUZZ_CHECK(wg_wire_scan(pkt, sl, &t3) == 0);
		FUZZ_CHECK(t3.end == sl); /* nothing after the last record */
		if (sl < t.end)
			FUZZ_CHECK(t3.opt_off == 0);
		int al = wg_wire_append_opt(pkt, sl, sizeof(pkt), sel & 8, (sel & 16) ? 17 : -1);
		if (al > 0 && !t3.opt_off) {
			FUZZ_CHECK(wg_wire_scan(pkt, (size_t)al, &t3) == 0);
			FUZZ_CHECK(t3.opt_off == sl && t3.end == al);
			if (sel & 16)
				FUZZ_CHECK(t3.ede == 17);
		}
		/* TTL clamping: a name pointing into a TTL field (garbage an
		 * upstream may send; we forward it as dnsmasq does) changes
		 * with it, so only the TTLs are checked, and only when the
		 * message still scans */
		memcpy(pkt, reply, len);
		int cr = wg_wire_clamp_ttls(pkt, len, 30, 3600);
		FUZZ_CHECK(cr == 0 || cr == -EBADMSG);
		struct wg_wire_ttls t2;
		if (cr == 0 && wg_wire_scan(pkt, len, &t2) == 0)
			for (unsigned i = 0; i < t2.n; i++) {
				uint32_t ttl = wg_get32(pkt + t2.off[i]);
				FUZZ_CHECK(ttl >= 30 && ttl <= 3600);
			}
	}
	memcpy(pkt, reply, len);
	if (len >= WG_HDR_LEN && qi.question_end && qi.question_end <= len) {
		/* fitted into a limit from the input: whatever is left is a
		 * whole message within the limit, or TC with no records */
		size_t limit = (size_t)split * len / 255;
		int tc_before = (wg_get16(pkt + 2) & WG_F_TC) != 0;
		size_t tl = wg_wire_truncate(pkt, len, limit, sel & 1);
		FUZZ_CHECK(tl <= len);
		struct wg_wire_ttls t4;
		if (!tc_before && (wg_get16(pkt + 2) & WG_F_TC)) {
			FUZZ_CHECK(wg_get16(pkt + 6) == 0 && wg_get16(pkt + 8) == 0 &&
				   wg_get16(pkt + 10) == 0);
		} else if (tl < len && wg_wire_scan(pkt, tl, &t4) == 0) {
			FUZZ_CHECK(t4.end == tl);
		}
	}

	/* without records of another class: a message that walks to its end,
	 * with nothing left to drop */
	{
		static uint8_t sc[WG_PKT_MAX], sc2[WG_PKT_MAX];
		unsigned dropped;
		int dn = wg_wire_drop_other_class(reply, len, sc, sizeof(sc), &dropped);
		FUZZ_CHECK(dn >= 0 || dn == -EBADMSG || dn == -ENOSPC);
		if (dn > 0) {
			struct wg_wire_ttls t5;
			FUZZ_CHECK(dropped > 0);
			if (wg_wire_scan(reply, len, &t5) == 0)
				FUZZ_CHECK(wg_wire_scan(sc, (size_t)dn, &t5) == 0 && t5.end == dn);
			FUZZ_CHECK(wg_wire_drop_other_class(sc, (size_t)dn, sc2, sizeof(sc2),
							    &dropped) == 0);
		}
	}

	/* judged alone (the early-serve check) and against a second reply */
	(void)wg_compare_reply_looks_clean(reply, len, qi.qname, qi.qtype, &ctx);
	size_t cut = len ? (size_t)split * len / 255 : 0;
	struct wg_compare_input in = {
		.local = {.status = WG_SIDE_OK, .reply = reply, .len = cut},
		.public_ = {.status = WG_SIDE_OK, .reply = reply + cut, .len = len - cut},
		.qname = qi.qname,
		.qtype = qi.qtype,
		.a_agree = (int)(sel >> 6) - 1,
	};
	struct wg_compare_result r;
	FUZZ_CHECK(wg_compare(&in, &ctx, &r) == 0);
	check_result(&r);
	in.local.len = len;
	in.public_.reply = reply;
	in.public_.len = len;
	FUZZ_CHECK(wg_compare(&in, &ctx, &r) == 0);
	check_result(&r);
	in.public_.status = (sel & 32) ? WG_SIDE_TIMEOUT : WG_SIDE_ERROR;
	in.public_.reply = NULL;
	in.public_.len = 0;
	FUZZ_CHECK(wg_compare(&in, &ctx, &r) == 0);
	check_result(&r);

	/* cached and served back: still a message that scans, same ID */
	struct wg_cache_key k = {.name = qi.qname_lc, .name_len = qi.qname_len,
				 .qtype = qi.qtype, .qclass = qi.qclass, .flags = sel & 3};
	now_ms += 1000;
	/* usually start from an empty slot, so what comes back must be this
	 * reply; otherwise exercise replacing (a SERVFAIL keeps the old one) */
	int fresh = !(sel & 32);
	if (fresh)
		wg_cache_remove(cache, &k);
	int ci = wg_cache_insert(cache, &k, reply, len, now_ms, (sel & 4) ? 10 : 0);
	FUZZ_CHECK(ci == 0 || ci == -EINVAL || ci == -E2BIG);
	size_t ol = 0;
	int pf = 0;
	enum wg_cache_result cr =
		wg_cache_lookup(cache, &k, now_ms + 500, 1, 30, out, sizeof(out), &ol, &pf);
	if (cr != WG_CACHE_MISS) {
		FUZZ_CHECK(ol >= WG_HDR_LEN);
		if (fresh) {
			/* this reply, OPT and trailing bytes gone, counts to match */
			FUZZ_CHECK(ci == 0 && ol <= len && wg_get16(out) == wg_get16(reply));
			struct wg_wire_ttls ti;
			FUZZ_CHECK(wg_wire_scan(reply, len, &ti) == 0);
			FUZZ_CHECK(ol == (ti.opt_off ? ti.opt_off : ti.end));
			FUZZ_CHECK(wg_get16(out + 10) == wg_get16(reply + 10) - (ti.opt_off ? 1 : 0));
			FUZZ_CHECK(!memcmp(out + 2, reply + 2, 8));
		}
	}
	if (sel & 128) {
		wg_cache_expire_all(cache, now_ms);
		cr = wg_cache_lookup(cache, &k, now_ms + 1, 1, 30, out, sizeof(out), &ol, NULL);
		struct wg_wire_ttls to;
		if (cr == WG_CACHE_STALE && wg_wire_scan(out, ol, &to) == 0)
			for (unsigned i = 0; i < to.n; i++)
				FUZZ_CHECK(wg_get32(out + to.off[i]) == 30);
	}
	return 0;
}
