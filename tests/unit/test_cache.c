/* test_cache.c: the answer cache against real reply packets built here. */
#include "autoconfig.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "testutil.h"

#include "cache.h"
#include "wire.h"

#define T0 1000000000ull /* ms: an arbitrary monotonic start */
#define SEC 1000ull      /* ms */
#define A_RR_LEN 16      /* compressed owner(2) + fixed(10) + IPv4(4) */

struct reply {
	uint8_t b[WG_PKT_MAX];
	size_t len;
	size_t qend; /* offset past the question */
};

/* Build a reply for name/qtype: rcode, n A records with ttls[i] (ttls may be
 * NULL: all 300), and with soa != 0 an SOA in authority with the given TTL
 * and MINIMUM. Every owner name is a pointer to the question. */
static void build(struct reply *r, const char *name, uint16_t qtype, int rcode, int n,
		  const uint32_t *ttls, int soa, uint32_t soa_ttl, uint32_t soa_min)
{
	uint8_t *b = r->b;
	memset(r, 0, sizeof(*r));
	wg_put16(b, 0xbeef);
	wg_put16(b + 2, (uint16_t)(WG_F_QR | WG_F_RD | WG_F_RA | rcode));
	wg_put16(b + 4, 1);
	wg_put16(b + 6, (uint16_t)n);
	wg_put16(b + 8, (uint16_t)(soa ? 1 : 0));
	wg_put16(b + 10, 0);
	int nl = wg_wire_name_from_str(name, b + WG_HDR_LEN);
	assert_true(nl > 0);
	size_t o = WG_HDR_LEN + (size_t)nl;
	wg_put16(b + o, qtype);
	wg_put16(b + o + 2, 1);
	o += 4;
	r->qend = o;
	for (int i = 0; i < n; i++) {
		wg_put16(b + o, 0xc00c);
		wg_put16(b + o + 2, WG_TYPE_A);
		wg_put16(b + o + 4, 1);
		wg_put32(b + o + 6, ttls ? ttls[i] : 300);
		wg_put16(b + o + 10, 4);
		b[o + 12] = 192;
		b[o + 13] = 0;
		b[o + 14] = (uint8_t)(i >> 8);
		b[o + 15] = (uint8_t)i;
		o += A_RR_LEN;
	}
	if (soa) {
		wg_put16(b + o, 0xc00c);
		wg_put16(b + o + 2, WG_TYPE_SOA);
		wg_put16(b + o + 4, 1);
		wg_put32(b + o + 6, soa_ttl);
		wg_put16(b + o + 10, 24);
		o += 12;
		wg_put16(b + o, 0xc00c); /* mname */
		wg_put16(b + o + 2, 0xc00c); /* rname */
		wg_put32(b + o + 4, 2024010101); /* serial */
		wg_put32(b + o + 8, 7200);
		wg_put32(b + o + 12, 3600);
		wg_put32(b + o + 16, 1209600);
		wg_put32(b + o + 20, soa_min);
		o += 24;
	}
	r->len = o;
}

/* TTL field of the i-th record (A records first, then the SOA). */
static uint32_t ttl_at(const uint8_t *pkt, const struct reply *r, int i)
{
	return wg_get32(pkt + r->qend + (size_t)i * A_RR_LEN + 6);
}

struct key {
	struct wg_cache_key k;
	uint8_t name[WG_NAME_MAX];
};

static const struct wg_cache_key *mkkey(struct key *kk, const char *name, uint16_t qtype,
					uint8_t flags)
{
	int n = wg_wire_name_from_str(name, kk->name);
	assert_true(n > 0);
	kk->k.name = kk->name;
	kk->k.name_len = (uint16_t)n;
	kk->k.qtype = qtype;
	kk->k.qclass = 1;
	kk->k.flags = flags;
	kk->k.client = NULL;
	kk->k.client_len = 0;
	return &kk->k;
}

static struct wg_cache_params defaults(void)
{
	struct wg_cache_params p = {
		.max_entries = 1000,
		.max_bytes = 1 << 20,
		.min_ttl = 0,
		.max_ttl = 86400,
		.neg_max_ttl = 3600,
		.neg_default_ttl = 60,
		.servfail_ttl = 5,
		.stale_max_age = 0,
		.prefetch_min_hits = 0,
	};
	return p;
}

static enum wg_cache_result look(struct wg_cache *c, const struct wg_cache_key *k,
				 uint64_t now, uint8_t *out, size_t *outlen)
{
	return wg_cache_lookup(c, k, now, 0, 0, out, WG_PKT_MAX, outlen, NULL);
}

static uint8_t out[WG_PKT_MAX];
static struct reply R, R2;

static void test_hit_exact_bytes(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	assert_non_null(c);
	struct key kk, other;
	const uint32_t ttls[3] = {300, 100, 50};
	build(&R, "www.example.com", WG_TYPE_A, WG_RCODE_NOERROR, 3, ttls, 0, 0, 0);
	const struct wg_cache_key *k = mkkey(&kk, "www.example.com", WG_TYPE_A, 0);
	size_t len = 0;

	assert_int_equal(look(c, k, T0, out, &len), WG_CACHE_MISS);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	assert_int_equal(look(c, k, T0, out, &len), WG_CACHE_HIT);
	assert_int_equal(len, R.len);
	assert_memory_equal(out, R.b, R.len); /* no time passed: identical, ID kept */
	assert_int_equal(look(c, mkkey(&other, "www.example.org", WG_TYPE_A, 0), T0, out, &len),
			 WG_CACHE_MISS);

	/* later: identical except the three TTL fields */
	assert_int_equal(look(c, k, T0 + 7 * SEC + 999, out, &len), WG_CACHE_HIT);
	memcpy(R2.b, R.b, R.len);
	for (int i = 0; i < 3; i++)
		wg_put32(R2.b + R.qend + (size_t)i * A_RR_LEN + 6, ttls[i] - 7);
	assert_memory_equal(out, R2.b, R.len);

	/* too small a buffer: MISS, nothing written past cap */
	assert_int_equal(wg_cache_lookup(c, k, T0, 0, 0, out, R.len - 1, &len, NULL),
			 WG_CACHE_MISS);
	wg_cache_free(c);
}

static void test_ttl_decay(void **state)
{
	struct wg_cache_params p = defaults();
	p.min_ttl = 60;
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	const uint32_t ttls[2] = {300, 5};
	build(&R, "decay.example", WG_TYPE_A, WG_RCODE_NOERROR, 2, ttls, 0, 0, 0);
	const struct wg_cache_key *k = mkkey(&kk, "decay.example", WG_TYPE_A, 0);
	size_t len;
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);

	assert_int_equal(look(c, k, T0 + 3 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(ttl_at(out, &R, 0), 297);
	assert_int_equal(ttl_at(out, &R, 1), 2);
	/* min_ttl keeps the entry for 60 s; the 5 s record stops at 0 */
	assert_int_equal(look(c, k, T0 + 30 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(ttl_at(out, &R, 0), 270);
	assert_int_equal(ttl_at(out, &R, 1), 0);
	wg_cache_free(c);
}

static void test_expiry(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	const uint32_t ttls[2] = {300, 50};
	build(&R, "exp.example", WG_TYPE_A, WG_RCODE_NOERROR, 2, ttls, 0, 0, 0);
	const struct wg_cache_key *k = mkkey(&kk, "exp.example", WG_TYPE_A, 0);
	size_t len;
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	assert_int_equal(look(c, k, T0 + 50 * SEC - 1, out, &len), WG_CACHE_HIT);
	assert_int_equal(ttl_at(out, &R, 1), 1);
	assert_int_equal(ttl_at(out, &R, 0), 251);
	assert_int_equal(look(c, k, T0 + 50 * SEC, out, &len), WG_CACHE_MISS);
	/* without serve-stale the dead entry is dropped on the way */
	struct wg_cache_stats s;
	wg_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.bytes, 0);
	wg_cache_free(c);
}

static void test_clamps(void **state)
{
	struct wg_cache_params p = defaults();
	p.min_ttl = 60;
	p.max_ttl = 3600;
	struct wg_cache *c = wg_cache_new(&p);
	struct key k1, k2, k3;
	size_t len;
	uint32_t low = 5, high = 86400;

	build(&R, "low.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, &low, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&k1, "low.example", WG_TYPE_A, 0), R.b, R.len,
					 T0, 0), 0);
	assert_int_equal(look(c, &k1.k, T0 + 59 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(look(c, &k1.k, T0 + 60 * SEC, out, &len), WG_CACHE_MISS);

	build(&R, "high.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, &high, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&k2, "high.example", WG_TYPE_A, 0), R.b, R.len,
					 T0, 0), 0);
	assert_int_equal(look(c, &k2.k, T0 + 10 * SEC, out, &len), WG_CACHE_HIT);
	/* no served TTL outlives the clamped entry */
	assert_int_equal(ttl_at(out, &R, 0), 3590);
	assert_int_equal(look(c, &k2.k, T0 + 3600 * SEC - 1, out, &len), WG_CACHE_HIT);
	assert_int_equal(look(c, &k2.k, T0 + 3600 * SEC, out, &len), WG_CACHE_MISS);

	/* the caller's cap cuts further */
	build(&R, "cap.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, &high, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&k3, "cap.example", WG_TYPE_A, 0), R.b, R.len,
					 T0, 120), 0);
	assert_int_equal(look(c, &k3.k, T0, out, &len), WG_CACHE_HIT);
	assert_int_equal(ttl_at(out, &R, 0), 120);
	assert_int_equal(look(c, &k3.k, T0 + 120 * SEC, out, &len), WG_CACHE_MISS);
	wg_cache_free(c);
}

static void test_negative(void **state)
{
	struct wg_cache_params p = defaults();
	p.neg_max_ttl = 900;
	p.neg_default_ttl = 30;
	struct wg_cache *c = wg_cache_new(&p);
	struct key k1, k2, k3, k4;
	size_t len;

	/* NXDOMAIN: min(SOA TTL 3600, MINIMUM 300) = 300 */
	build(&R, "nx.example", WG_TYPE_A, WG_RCODE_NXDOMAIN, 0, NULL, 1, 3600, 300);
	assert_int_equal(wg_cache_insert(c, mkkey(&k1, "nx.example", WG_TYPE_A, 0), R.b, R.len,
					 T0, 0), 0);
	assert_int_equal(look(c, &k1.k, T0 + 10 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(WG_RCODE(wg_get16(out + 2)), WG_RCODE_NXDOMAIN);
	assert_int_equal(ttl_at(out, &R, 0), 290); /* SOA TTL served as the negative TTL */
	assert_int_equal(look(c, &k1.k, T0 + 300 * SEC - 1, out, &len), WG_CACHE_HIT);
	assert_int_equal(look(c, &k1.k, T0 + 300 * SEC, out, &len), WG_CACHE_MISS);

	/* NODATA, SOA TTL below MINIMUM, both above neg_max_ttl: capped at 900 */
	build(&R, "nodata.example", WG_TYPE_AAAA, WG_RCODE_NOERROR, 0, NULL, 1, 2000, 86400);
	assert_int_equal(wg_cache_insert(c, mkkey(&k2, "nodata.example", WG_TYPE_AAAA, 0), R.b,
					 R.len, T0, 0), 0);
	assert_int_equal(look(c, &k2.k, T0 + 1 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(wg_get16(out + 6), 0);
	assert_int_equal(ttl_at(out, &R, 0), 899);
	assert_int_equal(look(c, &k2.k, T0 + 900 * SEC - 1, out, &len), WG_CACHE_HIT);
	assert_int_equal(look(c, &k2.k, T0 + 900 * SEC, out, &len), WG_CACHE_MISS);

	/* SOA TTL smaller than MINIMUM wins */
	build(&R, "small.example", WG_TYPE_A, WG_RCODE_NXDOMAIN, 0, NULL, 1, 40, 300);
	assert_int_equal(wg_cache_insert(c, mkkey(&k3, "small.example", WG_TYPE_A, 0), R.b, R.len,
					 T0, 0), 0);
	assert_int_equal(look(c, &k3.k, T0 + 40 * SEC - 1, out, &len), WG_CACHE_HIT);
	assert_int_equal(look(c, &k3.k, T0 + 40 * SEC, out, &len), WG_CACHE_MISS);

	/* no SOA: neg_default_ttl */
	build(&R, "nosoa.example", WG_TYPE_A, WG_RCODE_NXDOMAIN, 0, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&k4, "nosoa.example", WG_TYPE_A, 0), R.b, R.len,
					 T0, 0), 0);
	assert_int_equal(look(c, &k4.k, T0 + 30 * SEC - 1, out, &len), WG_CACHE_HIT);
	assert_int_equal(look(c, &k4.k, T0 + 30 * SEC, out, &len), WG_CACHE_MISS);
	wg_cache_free(c);
}

static void test_servfail(void **state)
{
	struct wg_cache_params p = defaults();
	p.servfail_ttl = 5;
	struct wg_cache *c = wg_cache_new(&p);
	struct key k1, k2;
	size_t len;

	build(&R, "sf.example", WG_TYPE_A, WG_RCODE_SERVFAIL, 0, NULL, 0, 0, 0);
	const struct wg_cache_key *k = mkkey(&k1, "sf.example", WG_TYPE_A, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	assert_int_equal(look(c, k, T0 + 5 * SEC - 1, out, &len), WG_CACHE_HIT);
	assert_int_equal(WG_RCODE(wg_get16(out + 2)), WG_RCODE_SERVFAIL);
	assert_int_equal(look(c, k, T0 + 5 * SEC, out, &len), WG_CACHE_MISS);

	/* a positive answer replaces a SERVFAIL ... */
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	build(&R2, "sf.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, k, R2.b, R2.len, T0 + 1 * SEC, 0), 0);
	assert_int_equal(look(c, k, T0 + 2 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(WG_RCODE(wg_get16(out + 2)), WG_RCODE_NOERROR);
	/* ... but a SERVFAIL never replaces a positive answer */
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0 + 3 * SEC, 0), 0);
	assert_int_equal(look(c, k, T0 + 4 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(WG_RCODE(wg_get16(out + 2)), WG_RCODE_NOERROR);
	assert_int_equal(len, R2.len);

	/* REFUSED is never cached; with servfail_ttl 0 neither is SERVFAIL */
	build(&R, "rf.example", WG_TYPE_A, WG_RCODE_REFUSED, 0, NULL, 0, 0, 0);
	k = mkkey(&k2, "rf.example", WG_TYPE_A, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), -EINVAL);
	p.servfail_ttl = 0;
	wg_cache_set_params(c, &p);
	build(&R, "rf.example", WG_TYPE_A, WG_RCODE_SERVFAIL, 0, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), -EINVAL);
	assert_int_equal(look(c, k, T0, out, &len), WG_CACHE_MISS);
	wg_cache_free(c);
}

static void name_of(char *buf, size_t cap, int i)
{
	snprintf(buf, cap, "host%d.example.net", i);
}

static void test_lru_entries(void **state)
{
	struct wg_cache_params p = defaults();
	p.max_entries = 16;
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	char name[64];
	size_t len;

	for (int i = 0; i < 26; i++) {
		name_of(name, sizeof(name), i);
		build(&R, name, WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
		assert_int_equal(wg_cache_insert(c, mkkey(&kk, name, WG_TYPE_A, 0), R.b, R.len,
						 T0 + (uint64_t)i, 0), 0);
		/* keep host0 and host3 warm */
		if (i >= 3) {
			name_of(name, sizeof(name), 0);
			assert_int_equal(look(c, mkkey(&kk, name, WG_TYPE_A, 0), T0 + (uint64_t)i,
					      out, &len), WG_CACHE_HIT);
			name_of(name, sizeof(name), 3);
			assert_int_equal(look(c, mkkey(&kk, name, WG_TYPE_A, 0), T0 + (uint64_t)i,
					      out, &len), WG_CACHE_HIT);
		}
	}
	struct wg_cache_stats s;
	wg_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 16);
	assert_int_equal(s.inserts, 26);
	assert_int_equal(s.evictions, 10);
	int present = 0;
	for (int i = 0; i < 26; i++) {
		name_of(name, sizeof(name), i);
		int hit = look(c, mkkey(&kk, name, WG_TYPE_A, 0), T0 + 100, out, &len) ==
			  WG_CACHE_HIT;
		present += hit;
		if (i == 0 || i == 3 || i >= 12)
			assert_true(hit); /* warm ones and the 14 newest */
		else
			assert_false(hit);
	}
	assert_int_equal(present, 16);

	/* shrinking the limit evicts at once */
	p.max_entries = 4;
	wg_cache_set_params(c, &p);
	wg_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 4);
	/* growing it again resizes the table and keeps what is there */
	p.max_entries = 100000;
	wg_cache_set_params(c, &p);
	name_of(name, sizeof(name), 25);
	assert_int_equal(look(c, mkkey(&kk, name, WG_TYPE_A, 0), T0 + 100, out, &len),
			 WG_CACHE_HIT);
	wg_cache_free(c);
}

static void test_lru_bytes(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	char name[64];
	size_t len;
	struct wg_cache_stats s;

	/* all names the same length, so every entry has the same size */
	name_of(name, sizeof(name), 10);
	build(&R, name, WG_TYPE_A, WG_RCODE_NOERROR, 2, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&kk, name, WG_TYPE_A, 0), R.b, R.len, T0, 0), 0);
	wg_cache_get_stats(c, &s);
	uint64_t one = s.bytes;
	assert_true(one > R.len);
	wg_cache_free(c);

	p.max_bytes = 5 * one + one / 2;
	c = wg_cache_new(&p);
	for (int i = 10; i < 20; i++) {
		name_of(name, sizeof(name), i);
		build(&R, name, WG_TYPE_A, WG_RCODE_NOERROR, 2, NULL, 0, 0, 0);
		assert_int_equal(wg_cache_insert(c, mkkey(&kk, name, WG_TYPE_A, 0), R.b, R.len,
						 T0, 0), 0);
		wg_cache_get_stats(c, &s);
		assert_true(s.bytes <= p.max_bytes);
	}
	assert_int_equal(s.entries, 5);
	assert_int_equal(s.bytes, 5 * one);
	for (int i = 10; i < 20; i++) {
		name_of(name, sizeof(name), i);
		assert_int_equal(look(c, mkkey(&kk, name, WG_TYPE_A, 0), T0, out, &len),
				 i >= 15 ? WG_CACHE_HIT : WG_CACHE_MISS);
	}

	/* one entry larger than the whole budget */
	build(&R, "big.example", WG_TYPE_A, WG_RCODE_NOERROR, 60, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&kk, "big.example", WG_TYPE_A, 0), R.b, R.len,
					 T0, 0), -E2BIG);
	wg_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 5); /* nothing evicted for it */
	wg_cache_free(c);
}

static void test_key_differences(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	size_t len;

	build(&R, "Mixed.Example.COM", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&kk, "mixed.example.com", WG_TYPE_A, 0), R.b,
					 R.len, T0, 0), 0);
	assert_int_equal(look(c, mkkey(&kk, "mixed.example.com", WG_TYPE_A, 0), T0, out, &len),
			 WG_CACHE_HIT);
	/* case-insensitive even if the caller did not lower-case */
	assert_int_equal(look(c, mkkey(&kk, "MIXED.example.Com", WG_TYPE_A, 0), T0, out, &len),
			 WG_CACHE_HIT);
	assert_int_equal(look(c, mkkey(&kk, "mixed.example.com", WG_TYPE_AAAA, 0), T0, out, &len),
			 WG_CACHE_MISS);
	assert_int_equal(look(c, mkkey(&kk, "mixed.example.com", WG_TYPE_A, WG_CACHE_F_DO), T0,
			      out, &len), WG_CACHE_MISS);
	assert_int_equal(look(c, mkkey(&kk, "mixed.example.com", WG_TYPE_A, WG_CACHE_F_CD), T0,
			      out, &len), WG_CACHE_MISS);
	mkkey(&kk, "mixed.example.com", WG_TYPE_A, 0);
	kk.k.qclass = 3; /* CH */
	assert_int_equal(look(c, &kk.k, T0, out, &len), WG_CACHE_MISS);
	assert_int_equal(look(c, mkkey(&kk, "mixed.example.co", WG_TYPE_A, 0), T0, out, &len),
			 WG_CACHE_MISS);

	/* the DO variant is a separate entry */
	build(&R2, "mixed.example.com", WG_TYPE_A, WG_RCODE_NOERROR, 2, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&kk, "mixed.example.com", WG_TYPE_A,
						  WG_CACHE_F_DO), R2.b, R2.len, T0, 0), 0);
	assert_int_equal(look(c, &kk.k, T0, out, &len), WG_CACHE_HIT);
	assert_int_equal(len, R2.len);
	assert_int_equal(look(c, mkkey(&kk, "mixed.example.com", WG_TYPE_A, 0), T0, out, &len),
			 WG_CACHE_HIT);
	assert_int_equal(len, R.len);

	/* an answer for one client (ECS) is its own entry: neither the
	 * shared one nor another client's, for IPv4 and IPv6 addresses */
	static const uint8_t a1[4] = {192, 0, 2, 1}, a2[4] = {192, 0, 2, 2};
	static const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	build(&R2, "client.example.com", WG_TYPE_A, WG_RCODE_NOERROR, 2, NULL, 0, 0, 0);
	mkkey(&kk, "client.example.com", WG_TYPE_A, 0);
	wg_cache_key_for_client(&kk.k, a1, 4);
	assert_int_equal(wg_cache_insert(c, &kk.k, R2.b, R2.len, T0, 0), 0);
	assert_int_equal(look(c, &kk.k, T0, out, &len), WG_CACHE_HIT);
	assert_int_equal(len, R2.len);
	wg_cache_key_for_client(&kk.k, a2, 4);
	assert_int_equal(look(c, &kk.k, T0, out, &len), WG_CACHE_MISS);
	wg_cache_key_for_client(&kk.k, a6, 16);
	assert_int_equal(look(c, &kk.k, T0, out, &len), WG_CACHE_MISS);
	assert_int_equal(wg_cache_insert(c, &kk.k, R2.b, R2.len, T0, 0), 0);
	assert_int_equal(look(c, &kk.k, T0, out, &len), WG_CACHE_HIT);
	assert_int_equal(look(c, mkkey(&kk, "client.example.com", WG_TYPE_A, 0), T0, out, &len),
			 WG_CACHE_MISS);
	/* removing one client's entry leaves the other's */
	wg_cache_key_for_client(&kk.k, a1, 4);
	wg_cache_remove(c, &kk.k);
	assert_int_equal(look(c, &kk.k, T0, out, &len), WG_CACHE_MISS);
	wg_cache_key_for_client(&kk.k, a6, 16);
	assert_int_equal(look(c, &kk.k, T0, out, &len), WG_CACHE_HIT);
	/* an address of another length is a bad key */
	wg_cache_key_for_client(&kk.k, a6, 8);
	assert_int_equal(wg_cache_insert(c, &kk.k, R2.b, R2.len, T0, 0), -EINVAL);
	/* the longest name with a 16-byte address fits */
	wg_cache_free(c);
}

static void test_replace(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	size_t len;
	const struct wg_cache_key *k = mkkey(&kk, "r.example", WG_TYPE_A, 0);
	build(&R, "r.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	build(&R2, "r.example", WG_TYPE_A, WG_RCODE_NOERROR, 3, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, k, R2.b, R2.len, T0 + 10 * SEC, 0), 0);
	assert_int_equal(look(c, k, T0 + 10 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(len, R2.len);
	assert_memory_equal(out, R2.b, R2.len);
	struct wg_cache_stats s;
	wg_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 1);
	wg_cache_free(c);
}

/* An EDE or "verified" mark on an entry holds until the entry is replaced;
 * the EDE comes back with every hit. */
static void test_ede_mark(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk, ko;
	size_t len;
	const struct wg_cache_key *k = mkkey(&kk, "ede.example", WG_TYPE_A, 0);
	const struct wg_cache_key *other = mkkey(&ko, "plain.example", WG_TYPE_A, 0);
	assert_int_equal(wg_cache_set_ede(c, k, 0), -ENOENT);
	build(&R, "ede.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	build(&R2, "plain.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, other, R2.b, R2.len, T0, 0), 0);
	assert_int_equal(look(c, k, T0 + SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(wg_cache_last_ede(c), -1);
	assert_int_equal(wg_cache_set_ede(c, k, 0), 0);
	assert_int_equal(look(c, k, T0 + SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(wg_cache_last_ede(c), 0);
	assert_int_equal(look(c, other, T0 + SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(wg_cache_last_ede(c), -1);
	assert_int_equal(look(c, k, T0 + 2 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(wg_cache_last_ede(c), 0);
	/* the guard's "verified" mark: fresh entries only, not a hit */
	assert_int_equal(wg_cache_verified(c, k, T0 + SEC), 0);
	assert_int_equal(wg_cache_set_verified(c, k), 0);
	assert_int_equal(wg_cache_verified(c, k, T0 + SEC), 1);
	assert_int_equal(wg_cache_verified(c, other, T0 + SEC), 0);
	assert_int_equal(wg_cache_verified(c, k, T0 + 301 * SEC), -1);
	assert_int_equal(wg_cache_set_verified(c, mkkey(&ko, "none.example", WG_TYPE_A, 0)),
			 -ENOENT);
	/* a new answer for the key starts unmarked */
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0 + 3 * SEC, 0), 0);
	assert_int_equal(look(c, k, T0 + 3 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(wg_cache_last_ede(c), -1);
	assert_int_equal(wg_cache_verified(c, k, T0 + 3 * SEC), 0);
	wg_cache_free(c);
}

/* The key helper every caller uses, and a late verdict's fix as the
 * resolver applies it: the replacement (its OPT stripped, TTL capped, EDE
 * set), then the verified mark; an oversized or malformed reply leaves the
 * entry alone. */
static void test_key_and_fix(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	struct wg_query_info qi;
	struct wg_cache_key k;
	uint8_t scratch[WG_PKT_MAX];
	size_t len;

	memset(&qi, 0, sizeof(qi));
	int n = wg_wire_name_from_str("fix.example", qi.qname_lc);
	assert_true(n > 0);
	qi.qname_len = (uint16_t)n;
	qi.qtype = WG_TYPE_A;
	qi.qclass = 1;
	qi.do_bit = 1;
	qi.flags = WG_F_CD;
	assert_int_equal(wg_cache_key_flags(&qi), WG_CACHE_F_DO | WG_CACHE_F_CD);
	qi.do_bit = 0;
	qi.flags = 0;
	assert_int_equal(wg_cache_key_flags(&qi), 0);
	wg_cache_key_of(&qi, WG_CACHE_F_DO, &k);
	assert_ptr_equal(k.name, qi.qname_lc);
	assert_int_equal(k.name_len, n);
	assert_int_equal(k.qtype, WG_TYPE_A);
	assert_int_equal(k.qclass, 1);
	assert_int_equal(k.flags, WG_CACHE_F_DO);

	/* the local answer, served early, is in the cache */
	build(&R, "fix.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, &k, R.b, R.len, T0, 0), 0);
	/* an empty fix changes nothing */
	struct wg_cache_fix none = {NULL, 0, 0, -1, 0};
	assert_int_equal(wg_cache_apply_fix(c, &k, &none, scratch, sizeof(scratch), T0), 0);
	assert_int_equal(wg_cache_verified(c, &k, T0), 0);
	/* the verified mark alone */
	struct wg_cache_fix mark = {NULL, 0, 0, -1, 1};
	assert_int_equal(wg_cache_apply_fix(c, &k, &mark, scratch, sizeof(scratch), T0), 0);
	assert_int_equal(wg_cache_verified(c, &k, T0), 1);

	/* the repair: another answer (with an OPT, as received), TTL cap 60,
	 * EDE 0; it replaces the entry and starts unmarked */
	uint32_t ttl = 3600;
	build(&R2, "fix.example", WG_TYPE_A, WG_RCODE_NOERROR, 2, (uint32_t[]){ttl, ttl}, 0, 0, 0);
	static uint8_t withopt[WG_PKT_MAX];
	memcpy(withopt, R2.b, R2.len);
	int wl = wg_wire_append_opt(withopt, R2.len, sizeof(withopt), 1, -1);
	assert_true(wl > (int)R2.len);
	struct wg_cache_fix repair = {withopt, (size_t)wl, 60, 0, 0};
	assert_int_equal(wg_cache_apply_fix(c, &k, &repair, scratch, sizeof(scratch), T0), 0);
	assert_int_equal(look(c, &k, T0 + SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(len, R2.len);
	assert_int_equal(wg_get16(out + 6), 2);
	assert_true(ttl_at(out, &R2, 0) <= 60);
	assert_int_equal(wg_cache_last_ede(c), 0);
	assert_int_equal(wg_cache_verified(c, &k, T0 + SEC), 0);
	assert_int_equal(look(c, &k, T0 + 61 * SEC, out, &len), WG_CACHE_MISS);

	/* too large for the scratch, or malformed: the entry stays */
	assert_int_equal(wg_cache_insert(c, &k, R.b, R.len, T0, 0), 0);
	struct wg_cache_fix big = {withopt, (size_t)wl, 60, 0, 1};
	assert_int_equal(wg_cache_apply_fix(c, &k, &big, scratch, 10, T0), -EMSGSIZE);
	struct wg_cache_fix bad = {withopt, 5, 60, 0, 1};
	assert_int_equal(wg_cache_apply_fix(c, &k, &bad, scratch, sizeof(scratch), T0), -EINVAL);
	assert_int_equal(look(c, &k, T0 + SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(len, R.len);
	assert_int_equal(wg_cache_verified(c, &k, T0 + SEC), 0);
	/* nothing to mark */
	struct key ko;
	assert_int_equal(wg_cache_apply_fix(c, mkkey(&ko, "gone.example", WG_TYPE_A, 0), &mark,
					    scratch, sizeof(scratch), T0),
			 -ENOENT);
	wg_cache_free(c);
}

static void test_stale(void **state)
{
	struct wg_cache_params p = defaults();
	p.stale_max_age = 3600;
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	size_t len;
	const uint32_t ttls[2] = {60, 600};
	const struct wg_cache_key *k = mkkey(&kk, "stale.example", WG_TYPE_A, 0);
	build(&R, "stale.example", WG_TYPE_A, WG_RCODE_NOERROR, 2, ttls, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);

	/* fresh: allow_stale changes nothing */
	assert_int_equal(wg_cache_lookup(c, k, T0 + 1 * SEC, 1, 30, out, sizeof(out), &len, NULL),
			 WG_CACHE_HIT);
	assert_int_equal(ttl_at(out, &R, 0), 59);
	/* expired: MISS without allow_stale, entry kept */
	assert_int_equal(look(c, k, T0 + 61 * SEC, out, &len), WG_CACHE_MISS);
	assert_int_equal(wg_cache_lookup(c, k, T0 + 61 * SEC, 1, 30, out, sizeof(out), &len, NULL),
			 WG_CACHE_STALE);
	assert_int_equal(ttl_at(out, &R, 0), 30);
	assert_int_equal(ttl_at(out, &R, 1), 30);
	memcpy(R2.b, R.b, R.len);
	wg_put32(R2.b + R.qend + 6, 30);
	wg_put32(R2.b + R.qend + A_RR_LEN + 6, 30);
	assert_memory_equal(out, R2.b, R.len);
	/* last ms of the stale window, then gone */
	uint64_t end = T0 + 60 * SEC + 3600 * SEC;
	assert_int_equal(wg_cache_lookup(c, k, end - 1, 1, 30, out, sizeof(out), &len, NULL),
			 WG_CACHE_STALE);
	assert_int_equal(wg_cache_lookup(c, k, end, 1, 30, out, sizeof(out), &len, NULL),
			 WG_CACHE_MISS);
	struct wg_cache_stats s;
	wg_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 0);

	/* a stale SERVFAIL is never served */
	build(&R, "stale.example", WG_TYPE_A, WG_RCODE_SERVFAIL, 0, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	assert_int_equal(wg_cache_lookup(c, k, T0 + 6 * SEC, 1, 30, out, sizeof(out), &len, NULL),
			 WG_CACHE_MISS);
	/* a SERVFAIL does not replace a positive answer that is only stale */
	build(&R, "stale2.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, ttls, 0, 0, 0);
	k = mkkey(&kk, "stale2.example", WG_TYPE_A, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	build(&R2, "stale2.example", WG_TYPE_A, WG_RCODE_SERVFAIL, 0, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, k, R2.b, R2.len, T0 + 100 * SEC, 0), 0);
	assert_int_equal(wg_cache_lookup(c, k, T0 + 101 * SEC, 1, 30, out, sizeof(out), &len,
					 NULL), WG_CACHE_STALE);
	assert_int_equal(WG_RCODE(wg_get16(out + 2)), WG_RCODE_NOERROR);
	wg_cache_free(c);
}

/* A reload expires every entry: fresh lookups miss, stale ones still work
 * within stale_max_age. */
static void test_expire_all(void **state)
{
	struct wg_cache_params p = defaults();
	p.stale_max_age = 3600;
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	size_t len;
	const struct wg_cache_key *k = mkkey(&kk, "exp.example", WG_TYPE_A, 0);
	build(&R, "exp.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	assert_int_equal(look(c, k, T0 + 10 * SEC, out, &len), WG_CACHE_HIT);
	wg_cache_expire_all(c, T0 + 10 * SEC + 500);
	assert_int_equal(look(c, k, T0 + 10 * SEC + 500, out, &len), WG_CACHE_MISS);
	assert_int_equal(wg_cache_lookup(c, k, T0 + 11 * SEC, 1, 30, out, sizeof(out), &len, NULL),
			 WG_CACHE_STALE);
	/* a fresh insert is fresh again */
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0 + 12 * SEC, 0), 0);
	assert_int_equal(look(c, k, T0 + 12 * SEC, out, &len), WG_CACHE_HIT);
	wg_cache_free(c);

	/* without serve-stale the expired entries are gone */
	p.stale_max_age = 0;
	c = wg_cache_new(&p);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	wg_cache_expire_all(c, T0 + 2 * SEC);
	assert_int_equal(wg_cache_lookup(c, k, T0 + 2 * SEC, 1, 30, out, sizeof(out), &len, NULL),
			 WG_CACHE_MISS);
	wg_cache_free(c);
}

static void test_prefetch(void **state)
{
	struct wg_cache_params p = defaults();
	p.prefetch_min_hits = 3;
	struct wg_cache *c = wg_cache_new(&p);
	struct key k1, k2;
	size_t len;
	int pf = -1;
	uint32_t ttl = 100;

	build(&R, "pf.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, &ttl, 0, 0, 0);
	const struct wg_cache_key *k = mkkey(&k1, "pf.example", WG_TYPE_A, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	assert_int_equal(wg_cache_lookup(c, k, T0 + 1 * SEC, 0, 0, out, sizeof(out), &len, &pf),
			 WG_CACHE_HIT);
	assert_int_equal(pf, 0);
	assert_int_equal(wg_cache_lookup(c, k, T0 + 2 * SEC, 0, 0, out, sizeof(out), &len, &pf),
			 WG_CACHE_HIT);
	assert_int_equal(pf, 0);
	/* 10 s of 100 left: not yet below 10% */
	assert_int_equal(wg_cache_lookup(c, k, T0 + 90 * SEC, 0, 0, out, sizeof(out), &len, &pf),
			 WG_CACHE_HIT);
	assert_int_equal(pf, 0);
	assert_int_equal(wg_cache_lookup(c, k, T0 + 91 * SEC, 0, 0, out, sizeof(out), &len, &pf),
			 WG_CACHE_HIT);
	assert_int_equal(pf, 1);
	/* once per lifetime */
	assert_int_equal(wg_cache_lookup(c, k, T0 + 92 * SEC, 0, 0, out, sizeof(out), &len, &pf),
			 WG_CACHE_HIT);
	assert_int_equal(pf, 0);
	/* the refreshed entry may fire again */
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0 + 92 * SEC, 0), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(wg_cache_lookup(c, k, T0 + 185 * SEC, 0, 0, out, sizeof(out), &len,
						 &pf), WG_CACHE_HIT);
	assert_int_equal(pf, 1);

	/* an unpopular entry never fires */
	build(&R, "cold.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, &ttl, 0, 0, 0);
	k = mkkey(&k2, "cold.example", WG_TYPE_A, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	assert_int_equal(wg_cache_lookup(c, k, T0 + 95 * SEC, 0, 0, out, sizeof(out), &len, &pf),
			 WG_CACHE_HIT);
	assert_int_equal(wg_cache_lookup(c, k, T0 + 96 * SEC, 0, 0, out, sizeof(out), &len, &pf),
			 WG_CACHE_HIT);
	assert_int_equal(pf, 0);
	wg_cache_free(c);
}

static void test_remove_clear(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	struct key k1, k2;
	size_t len;
	struct wg_cache_stats s;
	build(&R, "a.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&k1, "a.example", WG_TYPE_A, 0), R.b, R.len,
					 T0, 0), 0);
	build(&R, "b.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&k2, "b.example", WG_TYPE_A, 0), R.b, R.len,
					 T0, 0), 0);
	wg_cache_remove(c, &k1.k);
	wg_cache_remove(c, &k1.k); /* absent: no-op */
	assert_int_equal(look(c, &k1.k, T0, out, &len), WG_CACHE_MISS);
	assert_int_equal(look(c, &k2.k, T0, out, &len), WG_CACHE_HIT);
	wg_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 1);
	wg_cache_clear(c);
	wg_cache_get_stats(c, &s);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.bytes, 0);
	assert_int_equal(look(c, &k2.k, T0, out, &len), WG_CACHE_MISS);
	/* usable after clear */
	assert_int_equal(wg_cache_insert(c, &k2.k, R.b, R.len, T0, 0), 0);
	assert_int_equal(look(c, &k2.k, T0, out, &len), WG_CACHE_HIT);
	wg_cache_free(c);
}

/* By name, for the control socket: every type and flag set of one name is
 * visited and removed; other names, and with a type other types, stay. */
struct seen {
	int n, a, aaaa, do_a, verified, ede0;
	int64_t ttl_ms;
};

static void count_entry(void *arg, const struct wg_cache_entry_info *e)
{
	struct seen *s = arg;
	s->n++;
	if (e->qtype == WG_TYPE_A && !(e->flags & WG_CACHE_F_DO)) {
		s->a++;
		s->ttl_ms = e->ttl_left_ms;
		assert_int_equal(e->lifetime_s, 300);
		assert_non_null(e->pkt);
		assert_true(e->len > WG_HDR_LEN);
	}
	if (e->qtype == WG_TYPE_A && (e->flags & WG_CACHE_F_DO))
		s->do_a++;
	if (e->qtype == WG_TYPE_AAAA)
		s->aaaa++;
	s->verified += e->verified;
	s->ede0 += e->ede == 0;
}

static void test_by_name(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	struct key k1, k2, k3, k4;
	size_t len;
	uint8_t wire[WG_NAME_MAX];
	struct seen s;
	build(&R, "n.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&k1, "n.example", WG_TYPE_A, 0), R.b, R.len,
					 T0, 0), 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&k2, "n.example", WG_TYPE_A, WG_CACHE_F_DO),
					 R.b, R.len, T0, 0), 0);
	build(&R2, "n.example", WG_TYPE_AAAA, WG_RCODE_NOERROR, 0, NULL, 1, 300, 300);
	assert_int_equal(wg_cache_insert(c, mkkey(&k3, "n.example", WG_TYPE_AAAA, 0), R2.b,
					 R2.len, T0, 0), 0);
	build(&R, "sub.n.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	assert_int_equal(wg_cache_insert(c, mkkey(&k4, "sub.n.example", WG_TYPE_A, 0), R.b,
					 R.len, T0, 0), 0);
	assert_int_equal(wg_cache_set_verified(c, &k1.k), 0);
	assert_int_equal(wg_cache_set_ede(c, &k2.k, 0), 0);
	int n = wg_wire_name_from_str("N.Example.", wire);
	memset(&s, 0, sizeof(s));
	assert_int_equal(wg_cache_visit_name(c, wire, (size_t)n, T0 + 10 * SEC, count_entry, &s), 3);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.a, 1);
	assert_int_equal(s.do_a, 1);
	assert_int_equal(s.aaaa, 1);
	assert_int_equal(s.verified, 1);
	assert_int_equal(s.ede0, 1);
	assert_true(s.ttl_ms == 290 * (int64_t)SEC);
	/* one type of the name */
	assert_int_equal(wg_cache_remove_name(c, wire, (size_t)n, WG_TYPE_A), 2);
	assert_int_equal(look(c, &k1.k, T0, out, &len), WG_CACHE_MISS);
	assert_int_equal(look(c, &k2.k, T0, out, &len), WG_CACHE_MISS);
	assert_int_equal(look(c, &k3.k, T0, out, &len), WG_CACHE_HIT);
	assert_int_equal(look(c, &k4.k, T0, out, &len), WG_CACHE_HIT);
	/* every type */
	assert_int_equal(wg_cache_remove_name(c, wire, (size_t)n, 0), 1);
	assert_int_equal(look(c, &k3.k, T0, out, &len), WG_CACHE_MISS);
	assert_int_equal(look(c, &k4.k, T0, out, &len), WG_CACHE_HIT);
	assert_int_equal(wg_cache_remove_name(c, wire, (size_t)n, 0), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(wg_cache_visit_name(c, wire, (size_t)n, T0, count_entry, &s), 0);
	struct wg_cache_stats st;
	wg_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(wg_cache_remove_name(c, wire, 0, 0), -EINVAL);
	wg_cache_free(c);
}

/* More records than wg_wire_scan's fixed offset array holds: every one of
 * them must still decay. */
static void test_many_records(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	size_t len;
	enum { N = 300 };
	static uint32_t ttls[N];
	for (int i = 0; i < N; i++)
		ttls[i] = 1000 + (uint32_t)i;
	build(&R, "many.example", WG_TYPE_A, WG_RCODE_NOERROR, N, ttls, 1, 5000, 5000);
	struct wg_wire_ttls t;
	assert_int_equal(wg_wire_scan(R.b, R.len, &t), 0);
	assert_true(t.truncated); /* the case under test */
	const struct wg_cache_key *k = mkkey(&kk, "many.example", WG_TYPE_A, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	assert_int_equal(look(c, k, T0 + 7 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(len, R.len);
	for (int i = 0; i < N; i++)
		assert_int_equal(ttl_at(out, &R, i), ttls[i] - 7);
	assert_int_equal(ttl_at(out, &R, N), 5000 - 7); /* the SOA */
	/* and nothing else changed */
	memcpy(R2.b, out, len);
	for (int i = 0; i <= N; i++)
		wg_put32(R2.b + R.qend + (size_t)i * A_RR_LEN + 6, ttl_at(R.b, &R, i));
	assert_memory_equal(R2.b, R.b, R.len);

	/* the same from an upstream that speaks EDNS: the OPT at the end is
	 * stripped and every other record still decays */
	k = mkkey(&kk, "many.example", WG_TYPE_A, 1);
	memcpy(R2.b, R.b, R.len);
	int n = wg_wire_append_opt(R2.b, R.len, sizeof(R2.b), 0, -1);
	assert_true(n > (int)R.len);
	assert_int_equal(wg_wire_scan(R2.b, (size_t)n, &t), 0);
	assert_true(t.truncated && t.opt_off);
	assert_int_equal(wg_cache_insert(c, k, R2.b, (size_t)n, T0, 0), 0);
	assert_int_equal(look(c, k, T0 + 9 * SEC, out, &len), WG_CACHE_HIT);
	assert_int_equal(len, R.len);
	for (int i = 0; i < N; i++)
		assert_int_equal(ttl_at(out, &R, i), ttls[i] - 9);
	assert_int_equal(ttl_at(out, &R, N), 5000 - 9);
	wg_cache_free(c);
}

static void test_opt_and_bad_input(void **state)
{
	struct wg_cache_params p = defaults();
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	size_t len;
	const struct wg_cache_key *k = mkkey(&kk, "opt.example", WG_TYPE_A, 0);
	build(&R, "opt.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, NULL, 0, 0, 0);
	memcpy(R2.b, R.b, R.len);
	int n = wg_wire_append_opt(R2.b, R.len, sizeof(R2.b), 1, -1);
	assert_true(n > (int)R.len);
	/* an OPT left at the end is stripped: the per-hop record is not cached */
	assert_int_equal(wg_cache_insert(c, k, R2.b, (size_t)n, T0, 0), 0);
	assert_int_equal(look(c, k, T0, out, &len), WG_CACHE_HIT);
	assert_int_equal(len, R.len);
	assert_memory_equal(out, R.b, R.len);

	/* garbage, short, truncated, not a response, TC set */
	assert_int_equal(wg_cache_insert(c, k, R.b, 5, T0, 0), -EINVAL);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len - 3, T0, 0), -EINVAL);
	memcpy(R2.b, R.b, R.len);
	R2.b[2] &= 0x7f;
	assert_int_equal(wg_cache_insert(c, k, R2.b, R.len, T0, 0), -EINVAL);
	memcpy(R2.b, R.b, R.len);
	R2.b[2] |= 0x02;
	assert_int_equal(wg_cache_insert(c, k, R2.b, R.len, T0, 0), -EINVAL);
	/* bad key */
	struct wg_cache_key bad = *k;
	bad.name_len = 0;
	assert_int_equal(wg_cache_insert(c, &bad, R.b, R.len, T0, 0), -EINVAL);
	assert_int_equal(look(c, &bad, T0, out, &len), WG_CACHE_MISS);

	/* a zero TTL without serve-stale is not stored */
	uint32_t zero = 0;
	build(&R, "zero.example", WG_TYPE_A, WG_RCODE_NOERROR, 1, &zero, 0, 0, 0);
	k = mkkey(&kk, "zero.example", WG_TYPE_A, 0);
	assert_int_equal(wg_cache_insert(c, k, R.b, R.len, T0, 0), 0);
	assert_int_equal(look(c, k, T0, out, &len), WG_CACHE_MISS);

	struct wg_cache_params z = defaults();
	z.max_entries = 0;
	assert_null(wg_cache_new(&z));
	wg_cache_free(c);
}

/* Many entries through a small table, with removals in between: chains and
 * LRU stay consistent (counts match, every survivor is found). */
static void test_churn(void **state)
{
	struct wg_cache_params p = defaults();
	p.max_entries = 500;
	struct wg_cache *c = wg_cache_new(&p);
	struct key kk;
	char name[64];
	size_t len;
	for (int i = 0; i < 5000; i++) {
		name_of(name, sizeof(name), i);
		build(&R, name, WG_TYPE_A, WG_RCODE_NOERROR, 1 + i % 4, NULL, 0, 0, 0);
		assert_int_equal(wg_cache_insert(c, mkkey(&kk, name, WG_TYPE_A, 0), R.b, R.len,
						 T0, 0), 0);
		if (i % 7 == 0) {
			name_of(name, sizeof(name), i / 2);
			wg_cache_remove(c, mkkey(&kk, name, WG_TYPE_A, 0));
		}
	}
	struct wg_cache_stats s;
	wg_cache_get_stats(c, &s);
	assert_true(s.entries <= 500);
	uint64_t found = 0;
	for (int i = 0; i < 5000; i++) {
		name_of(name, sizeof(name), i);
		if (look(c, mkkey(&kk, name, WG_TYPE_A, 0), T0, out, &len) == WG_CACHE_HIT) {
			found++;
			assert_int_equal(wg_get16(out + 6), 1 + i % 4);
		}
	}
	assert_int_equal(found, s.entries);
	wg_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_exact_bytes),
		cmocka_unit_test(test_by_name),
		cmocka_unit_test(test_ttl_decay),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_clamps),
		cmocka_unit_test(test_negative),
		cmocka_unit_test(test_servfail),
		cmocka_unit_test(test_lru_entries),
		cmocka_unit_test(test_lru_bytes),
		cmocka_unit_test(test_key_differences),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_ede_mark),
		cmocka_unit_test(test_key_and_fix),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_expire_all),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_remove_clear),
		cmocka_unit_test(test_many_records),
		cmocka_unit_test(test_opt_and_bad_input),
		cmocka_unit_test(test_churn),
	};
	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
