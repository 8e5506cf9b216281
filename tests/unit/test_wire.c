/* test_wire.c: the allocation-free parser against good and hostile bytes. */
#include "autoconfig.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "testutil.h"

#include "wire.h"
#include "ctl/ctl_out.h"
#include "pktbuild.h"

static size_t make_query(uint8_t *buf, const char *name, uint16_t type)
{
	struct wg_query_info qi;
	wg_test_query_info(&qi, name, type);
	int len = wg_wire_build_query(buf, 512, &qi, 0x1234);
	assert_true(len > 0);
	return (size_t)len;
}

static void test_parse_good(void **state)
{
	uint8_t buf[512];
	size_t len = make_query(buf, "WWW.Example.COM.", WG_TYPE_AAAA);
	struct wg_query_info qi;
	assert_int_equal(wg_wire_parse_query(buf, len, &qi), 0);
	assert_int_equal(qi.id, 0x1234);
	assert_int_equal(qi.qtype, WG_TYPE_AAAA);
	assert_int_equal(qi.qname_len, 17);
	assert_memory_equal(qi.qname, "\3WWW\7Example\3COM", 16);
	assert_memory_equal(qi.qname_lc, "\3www\7example\3com", 16);
	assert_true(qi.has_edns);
	assert_int_equal(qi.udp_size, WG_EDNS_ADVERTISE);
}

static void test_parse_short(void **state)
{
	uint8_t buf[512];
	struct wg_query_info qi;
	size_t len = make_query(buf, "example.com", WG_TYPE_A);
	assert_int_equal(wg_wire_parse_query(buf, 5, &qi), -EMSGSIZE);
	for (size_t cut = WG_HDR_LEN; cut < len - WG_OPT_LEN; cut++)
		assert_int_equal(wg_wire_parse_query(buf, cut, &qi), -EBADMSG);
}

static void test_parse_bad_label(void **state)
{
	uint8_t buf[512];
	struct wg_query_info qi;
	size_t len = make_query(buf, "example.com", WG_TYPE_A);
	buf[WG_HDR_LEN] = 0x40; /* reserved label type */
	assert_int_equal(wg_wire_parse_query(buf, len, &qi), -EBADMSG);
	buf[WG_HDR_LEN] = 0xc0; /* compression pointer in a query question */
	buf[WG_HDR_LEN + 1] = WG_HDR_LEN;
	assert_int_equal(wg_wire_parse_query(buf, len, &qi), -EBADMSG);
	buf[WG_HDR_LEN] = 60; /* label runs past the end */
	assert_int_equal(wg_wire_parse_query(buf, 30, &qi), -EBADMSG);
}

static void test_parse_opcode_qr(void **state)
{
	uint8_t buf[512];
	struct wg_query_info qi;
	size_t len = make_query(buf, "example.com", WG_TYPE_A);
	buf[2] |= 0x80;
	assert_int_equal(wg_wire_parse_query(buf, len, &qi), -EPROTO);
	buf[2] = (uint8_t)(2 << 3); /* STATUS */
	assert_int_equal(wg_wire_parse_query(buf, len, &qi), -EOPNOTSUPP);
}

/* Errors keep what they can echo (RFC 6891 7): the question and the OPT of
 * an unknown opcode, the OPT of a QDCOUNT 0 or 2 query and of a malformed
 * OPT; NOTIMP echoes the opcode and no other flag. */
static void test_parse_meta_qtype(void **state)
{
	uint8_t q[512], r[512];
	struct wg_query_info qi;
	/* OPT, NXNAME, unassigned, TKEY, TSIG: FORMERR, question and OPT echoed */
	static const uint16_t meta[] = {WG_TYPE_OPT, 128, 129, 200, 248, 249, 250};
	for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
		size_t len = make_query(q, "example.com", meta[i]);
		assert_int_equal(wg_wire_parse_query(q, len, &qi), -EBADMSG);
		assert_int_equal(qi.qtype, meta[i]);
		assert_true(qi.has_edns);
		int n = wg_wire_build_error(r, sizeof(r), q, &qi, WG_RCODE_FORMERR);
		assert_int_equal(n, (int)len);
		assert_int_equal(wg_get16(r + 2) & 0xf, WG_RCODE_FORMERR);
		assert_int_equal(wg_get16(r + 4), 1);
		assert_int_equal(wg_get16(r + 10), 1);
	}
	/* query types next to them stay questions */
	static const uint16_t ok[] = {40, 42, 127, WG_TYPE_IXFR, WG_TYPE_AXFR, 253, 254,
				      WG_TYPE_ANY, 256, 65280};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		size_t len = make_query(q, "example.com", ok[i]);
		assert_int_equal(wg_wire_parse_query(q, len, &qi), 0);
	}
}

static void test_error_edns(void **state)
{
	uint8_t q[512], r[512];
	struct wg_query_info qi;
	size_t len = make_query(q, "example.com", WG_TYPE_A);
	size_t qend = len - WG_OPT_LEN;

	q[2] = (uint8_t)((15 << 3) | 0x07); /* opcode 15, AA, TC, RD */
	q[3] = 0xf0;                        /* RA, Z, AD, CD */
	assert_int_equal(wg_wire_parse_query(q, len, &qi), -EOPNOTSUPP);
	assert_int_equal(qi.question_end, qend);
	assert_true(qi.has_edns);
	int n = wg_wire_build_error(r, sizeof(r), q, &qi, WG_RCODE_NOTIMP);
	assert_int_equal(n, (int)len);
	assert_int_equal(wg_get16(r + 2), WG_F_QR | (15 << 11) | WG_RCODE_NOTIMP);
	assert_int_equal(wg_get16(r + 10), 1);
	assert_int_equal(wg_get16(r + n - WG_OPT_LEN + 1), WG_TYPE_OPT);

	/* QDCOUNT 0 and 2: FORMERR, no question echoed, the OPT found */
	uint8_t q0[64];
	memcpy(q0, q, WG_HDR_LEN);
	q0[2] = 0x01;
	q0[3] = 0;
	wg_put16(q0 + 4, 0);
	memcpy(q0 + WG_HDR_LEN, q + qend, WG_OPT_LEN);
	assert_int_equal(wg_wire_parse_query(q0, WG_HDR_LEN + WG_OPT_LEN, &qi), -EBADMSG);
	assert_int_equal(qi.question_end, 0);
	assert_true(qi.has_edns);
	n = wg_wire_build_error(r, sizeof(r), q0, &qi, WG_RCODE_FORMERR);
	assert_int_equal(n, WG_HDR_LEN + WG_OPT_LEN);
	assert_int_equal(wg_get16(r + 4), 0);
	assert_int_equal(wg_get16(r + 10), 1);
	assert_int_equal(wg_get16(r + 2), WG_F_QR | WG_F_RD | WG_F_RA | WG_RCODE_FORMERR);

	uint8_t q2[512];
	size_t ql = qend - WG_HDR_LEN;
	memcpy(q2, q, qend);
	q2[2] = 0x01;
	q2[3] = 0;
	wg_put16(q2 + 4, 2);
	memcpy(q2 + qend, q + WG_HDR_LEN, ql);
	memcpy(q2 + qend + ql, q + qend, WG_OPT_LEN);
	assert_int_equal(wg_wire_parse_query(q2, qend + ql + WG_OPT_LEN, &qi), -EBADMSG);
	assert_true(qi.has_edns);
	assert_int_equal(qi.question_end, 0);

	/* a malformed OPT: FORMERR still with an OPT */
	len = make_query(q, "example.com", WG_TYPE_A);
	memcpy(q + len, q + qend, WG_OPT_LEN); /* a second OPT */
	wg_put16(q + 10, 2);
	assert_int_equal(wg_wire_parse_query(q, len + WG_OPT_LEN, &qi), -EBADMSG);
	assert_true(qi.has_edns);
	n = wg_wire_build_error(r, sizeof(r), q, &qi, WG_RCODE_FORMERR);
	assert_int_equal(n, (int)len);
	assert_int_equal(wg_get16(r + 10), 1);

	/* options must fill the rdata exactly */
	len = make_query(q, "example.com", WG_TYPE_A);
	uint8_t opts[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
	memcpy(q + len, opts, sizeof(opts));
	wg_put16(q + len - 2, sizeof(opts));
	assert_int_equal(wg_wire_parse_query(q, len + sizeof(opts), &qi), 0);
	wg_put16(q + len + 2, 9); /* runs one byte past */
	assert_int_equal(wg_wire_parse_query(q, len + sizeof(opts), &qi), -EBADMSG);
	assert_true(qi.has_edns);
	wg_put16(q + len + 2, 7); /* one byte left over */
	assert_int_equal(wg_wire_parse_query(q, len + sizeof(opts), &qi), -EBADMSG);

	/* an OPT whose RDLENGTH runs past the end of the query */
	len = make_query(q, "example.com", WG_TYPE_A);
	q[len - WG_OPT_LEN + 7] = 0x80; /* DO */
	wg_put16(q + len - 2, 40);
	assert_int_equal(wg_wire_parse_query(q, len, &qi), -EBADMSG);
	assert_true(qi.has_edns);
	assert_true(qi.do_bit);
}

/* RFC 2181 9: whole RRsets of additional, then authority, go before TC;
 * a negative answer keeps its SOA (with DNSSEC its whole authority). */
static size_t trunc_case(const struct pkt_spec *sp, uint8_t *buf, size_t limit_cut, int dnssec,
			 unsigned *an, unsigned *ns, unsigned *ar, int *tc)
{
	size_t len = pkt_build(sp, buf, 4096);
	size_t n = wg_wire_truncate(buf, len, len - limit_cut, dnssec);
	struct wg_wire_ttls t;
	assert_true(n <= len);
	assert_int_equal(wg_wire_scan(buf, n, &t), 0);
	assert_int_equal(t.end, n); /* the counts and the bytes agree */
	*an = wg_get16(buf + 6);
	*ns = wg_get16(buf + 8);
	*ar = wg_get16(buf + 10);
	*tc = (wg_get16(buf + 2) & WG_F_TC) != 0;
	return n;
}

static void test_truncate(void **state)
{
	uint8_t buf[4096];
	unsigned an, ns, ar;
	int tc;
	struct pkt_spec pos = {
		.qname = "www.example.test.", .qtype = WG_TYPE_A,
		.an = {"www.example.test. 300 IN A 192.0.2.1"},
		.ns = {"example.test. 300 IN NS ns1.example.test.",
		       "example.test. 300 IN NS ns2.example.test."},
		.ar = {"ns1.example.test. 300 IN A 192.0.2.10",
		       "ns1.example.test. 300 IN A 192.0.2.11",
		       "ns2.example.test. 300 IN A 192.0.2.12"},
	};
	size_t full = pkt_build(&pos, buf, sizeof(buf));
	/* already fits: unchanged */
	assert_int_equal(wg_wire_truncate(buf, full, full, 0), full);
	assert_int_equal(wg_get16(buf + 10), 3);
	/* one byte short: ns2's glue RRset goes, nothing else */
	trunc_case(&pos, buf, 1, 0, &an, &ns, &ar, &tc);
	assert_int_equal(an, 1);
	assert_int_equal(ns, 2);
	assert_int_equal(ar, 2);
	assert_false(tc);
	/* 17 bytes short: ns1's two A records are one RRset, both go */
	trunc_case(&pos, buf, 17, 0, &an, &ns, &ar, &tc);
	assert_int_equal(ns, 2);
	assert_int_equal(ar, 0);
	assert_false(tc);
	/* the whole NS RRset goes with it, never one NS of two */
	trunc_case(&pos, buf, 60, 0, &an, &ns, &ar, &tc);
	assert_int_equal(an, 1);
	assert_int_equal(ns, 0);
	assert_int_equal(ar, 0);
	assert_false(tc);
	/* the answer itself does not fit: TC, header and question only */
	size_t qend = WG_HDR_LEN + 18 + 4;
	assert_int_equal(trunc_case(&pos, buf, full - qend - 4, 0, &an, &ns, &ar, &tc), qend);
	assert_int_equal(an + ns + ar, 0);
	assert_true(tc);

	/* NXDOMAIN: the SOA stays or TC is set */
	struct pkt_spec nx = {
		.qname = "nx.example.test.", .qtype = WG_TYPE_A, .rcode = WG_RCODE_NXDOMAIN,
		.ns = {"example.test. 300 IN SOA ns1.example.test. h.example.test. 1 2 3 4 60",
		       "example.test. 300 IN NS ns1.example.test."},
		.ar = {"ns1.example.test. 300 IN A 192.0.2.10"},
	};
	trunc_case(&nx, buf, 20, 0, &an, &ns, &ar, &tc);
	assert_int_equal(ns, 1);
	assert_int_equal(ar, 0);
	assert_false(tc);
	full = pkt_build(&nx, buf, sizeof(buf));
	trunc_case(&nx, buf, full - 40, 0, &an, &ns, &ar, &tc);
	assert_true(tc);
	/* the SOA after another authority RRset: needed all the same */
	struct pkt_spec nx2 = nx;
	nx2.ns[0] = nx.ns[1];
	nx2.ns[1] = nx.ns[0];
	trunc_case(&nx2, buf, 30, 0, &an, &ns, &ar, &tc);
	assert_true(tc);

	/* DNSSEC: a negative answer keeps its whole authority section, the
	 * denial proofs with it; without DO only the SOA (and its RRSIG) */
	struct pkt_spec sec = {
		.qname = "nx.example.test.", .qtype = WG_TYPE_A, .rcode = WG_RCODE_NXDOMAIN,
		.ns = {"example.test. 300 IN SOA ns1.example.test. h.example.test. 1 2 3 4 60",
		       "example.test. 300 IN RRSIG SOA 13 2 300 20300101000000 20200101000000 1 "
		       "example.test. AAAA",
		       "m.example.test. 300 IN NSEC z.example.test. A RRSIG NSEC",
		       "m.example.test. 300 IN RRSIG NSEC 13 3 300 20300101000000 20200101000000 1 "
		       "example.test. AAAA"},
	};
	trunc_case(&sec, buf, 1, 0, &an, &ns, &ar, &tc);
	assert_int_equal(ns, 2);
	assert_false(tc);
	trunc_case(&sec, buf, 1, 1, &an, &ns, &ar, &tc);
	assert_true(tc);
}

/* Records of another class go; names that pointed into them are written
 * out in full, so the message still reads the same. */
static void test_drop_other_class(void **state)
{
	uint8_t buf[2048], out[2048];
	unsigned dropped = 99;
	struct pkt_spec sp = {
		.qname = "www.example.test.", .qtype = WG_TYPE_A,
		.an = {"alias.www.example.test. 300 CH TXT \"chaos\"",
		       "www.example.test. 300 IN CNAME alias.www.example.test.",
		       "alias.www.example.test. 300 IN A 192.0.2.1"},
		.ns = {"example.test. 300 IN NS ns.alias.www.example.test.",
		       "example.test. 300 IN SOA ns.alias.www.example.test. h.alias.www.example.test. "
		       "1 2 3 4 5"},
		.ar = {"ns.alias.www.example.test. 300 CH TXT \"x\"",
		       "ns.alias.www.example.test. 300 IN MX 10 alias.www.example.test."},
	};
	size_t len = pkt_build(&sp, buf, sizeof(buf));
	int n = wg_wire_drop_other_class(buf, len, out, sizeof(out), &dropped);
	assert_true(n > 0);
	assert_int_equal(dropped, 2);
	assert_int_equal(wg_get16(out + 6), 2);
	assert_int_equal(wg_get16(out + 8), 2);
	assert_int_equal(wg_get16(out + 10), 1);
	struct wg_wire_ttls t;
	assert_int_equal(wg_wire_scan(out, (size_t)n, &t), 0);
	assert_int_equal(t.end, n);

	/* read back with ldns: the kept records, names and all, unchanged */
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, out, (size_t)n), LDNS_STATUS_OK);
	const char *want[] = {
		"www.example.test.\t300\tIN\tCNAME\talias.www.example.test.\n",
		"alias.www.example.test.\t300\tIN\tA\t192.0.2.1\n",
		"example.test.\t300\tIN\tNS\tns.alias.www.example.test.\n",
		"example.test.\t300\tIN\tSOA\tns.alias.www.example.test. h.alias.www.example.test. "
		"1 2 3 4 5\n",
		"ns.alias.www.example.test.\t300\tIN\tMX\t10 alias.www.example.test.\n",
	};
	ldns_rr_list *lists[3] = {ldns_pkt_answer(p), ldns_pkt_authority(p), ldns_pkt_additional(p)};
	size_t k = 0;
	for (int sec = 0; sec < 3; sec++)
		for (size_t i = 0; i < ldns_rr_list_rr_count(lists[sec]); i++) {
			char *text = ldns_rr2str(ldns_rr_list_rr(lists[sec], i));
			assert_true(k < 5);
			assert_string_equal(text, want[k++]);
			free(text);
		}
	assert_int_equal(k, 5);
	ldns_pkt_free(p);

	/* nothing to drop: 0, the packet stays */
	assert_int_equal(wg_wire_drop_other_class(out, (size_t)n, buf, sizeof(buf), &dropped), 0);
	assert_int_equal(dropped, 0);
	/* a class ANY question keeps everything */
	len = pkt_build(&sp, buf, sizeof(buf));
	wg_put16(buf + WG_HDR_LEN + 18 + 2, WG_CLASS_ANY);
	assert_int_equal(wg_wire_drop_other_class(buf, len, out, sizeof(out), &dropped), 0);
	/* out too small: -ENOSPC */
	wg_put16(buf + WG_HDR_LEN + 18 + 2, WG_CLASS_IN);
	assert_int_equal(wg_wire_drop_other_class(buf, len, out, 40, &dropped), -ENOSPC);
}

static void test_compression_loop(void **state)
{
	/* a reply whose answer name points at itself */
	uint8_t pkt[64] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
			   1, 'a', 0, 0, 1, 0, 1};
	size_t o = 19;
	pkt[o] = 0xc0;
	pkt[o + 1] = 19; /* points at itself */
	size_t off = o;
	assert_int_equal(wg_wire_name_skip(pkt, 40, &off), -EBADMSG);
	uint8_t name[WG_NAME_MAX];
	assert_int_equal(wg_wire_name_read(pkt, 40, o, name), -EBADMSG);
	struct wg_wire_ttls t;
	assert_int_equal(wg_wire_scan(pkt, 40, &t), -EBADMSG);

	/* a pointer into the header reads the counts as labels: refused */
	pkt[o + 1] = 5;
	off = o;
	assert_int_equal(wg_wire_name_skip(pkt, 40, &off), -EBADMSG);
	assert_int_equal(wg_wire_name_read(pkt, 40, o, name), -EBADMSG);
	/* the question name, right after the header, is fine */
	pkt[o + 1] = WG_HDR_LEN;
	off = o;
	assert_int_equal(wg_wire_name_skip(pkt, 40, &off), 0);
	assert_int_equal(wg_wire_name_read(pkt, 40, o, name), 3);

	/* a pointer at 15 to the name at 12 (a.b.), which runs on to 17:
	 * the name pointed at must end before the pointer */
	uint8_t p2[32] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0,
			  1, 'a', 1, 'b', 0, 0xc0, 12};
	off = 17;
	assert_int_equal(wg_wire_name_skip(p2, 19, &off), 0);
	assert_int_equal(off, 19);
	p2[15] = 0xc0; /* now a pointer sits inside the name it points at */
	p2[16] = 12;
	off = 15;
	assert_int_equal(wg_wire_name_skip(p2, 19, &off), -EBADMSG);
	assert_int_equal(wg_wire_name_read(p2, 19, 15, name), -EBADMSG);
}

static void test_name_roundtrip(void **state)
{
	uint8_t w[WG_NAME_MAX];
	char s[1024];
	assert_int_equal(wg_wire_name_from_str("a.b.c", w), 7);
	wg_wire_name_to_str(w, s, sizeof(s));
	assert_string_equal(s, "a.b.c.");
	assert_int_equal(wg_wire_name_from_str(".", w), 1);
	assert_int_equal(wg_wire_name_from_str("a..b", w), -EINVAL);
	char big[300];
	memset(big, 'x', 64);
	big[64] = 0;
	assert_int_equal(wg_wire_name_from_str(big, w), -EINVAL);
	uint8_t a[] = "\3FoO\3bar", b[] = "\3foo\3BAR";
	assert_true(wg_wire_name_eq(a, b));
}

static void test_error_reply(void **state)
{
	uint8_t q[512], r[512];
	struct wg_query_info qi;
	size_t len = make_query(q, "example.com", WG_TYPE_A);
	assert_int_equal(wg_wire_parse_query(q, len, &qi), 0);
	int n = wg_wire_build_error(r, sizeof(r), q, &qi, WG_RCODE_SERVFAIL);
	assert_true(n > 0);
	assert_int_equal(wg_get16(r), 0x1234);
	assert_true(wg_get16(r + 2) & WG_F_QR);
	assert_int_equal(WG_RCODE(wg_get16(r + 2)), WG_RCODE_SERVFAIL);
	assert_int_equal(wg_get16(r + 10), 1); /* OPT echoed */
	assert_int_equal(wg_wire_reply_matches(r, (size_t)n, 0x1234, &qi), 0);
	assert_int_equal(wg_wire_reply_matches(r, (size_t)n, 0x1235, &qi), -EBADMSG);
}

/* Bytes after the last record are dropped with the OPT, so an OPT appended
 * later is really the last record (found by tests/fuzz/fuzz_reply.c). */
static void test_strip_opt_trailing(void **state)
{
	uint8_t q[512], r[512];
	struct wg_query_info qi;
	struct wg_wire_ttls t;
	size_t len = make_query(q, "example.com", WG_TYPE_A);
	assert_int_equal(wg_wire_parse_query(q, len, &qi), 0);
	int n = wg_wire_build_error(r, sizeof(r), q, &qi, WG_RCODE_SERVFAIL);
	assert_true(n > 0);
	size_t msg = (size_t)n, opt = msg - WG_OPT_LEN;

	memcpy(r + msg, "junk!", 5); /* OPT last, then junk */
	assert_int_equal(wg_wire_scan(r, msg + 5, &t), 0);
	assert_int_equal(t.end, msg);
	assert_int_equal(wg_wire_strip_opt(r, msg + 5, &t), opt);
	assert_int_equal(wg_get16(r + 10), 0);

	memcpy(r + opt, "junk!", 5); /* no OPT, then junk */
	assert_int_equal(wg_wire_scan(r, opt + 5, &t), 0);
	assert_int_equal(wg_wire_strip_opt(r, opt + 5, &t), opt);
	int al = wg_wire_append_opt(r, opt, sizeof(r), 1, 17);
	assert_true(al > 0);
	assert_int_equal(wg_wire_scan(r, (size_t)al, &t), 0);
	assert_int_equal(t.opt_off, opt);
	assert_int_equal(t.end, al);
	assert_int_equal(t.ede, 17);

	/* without trailing bytes only the OPT goes */
	assert_int_equal(wg_wire_strip_opt(r, (size_t)al, &t), opt);
	assert_int_equal(wg_wire_scan(r, opt, &t), 0);
	assert_int_equal(wg_wire_strip_opt(r, opt, &t), opt);
}

/* The record iterator every walk goes through: fields, end, resumption,
 * and a record that runs past the message. */
static void test_rr_iter(void **state)
{
	/* question example.com A; answer: CNAME to www.example.com (the
	 * target partly compressed), A 192.0.2.7; additional: OPT */
	static const uint8_t m[] = {
		0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 1,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
		0xc0, 12, 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, 6, 3, 'w', 'w', 'w', 0xc0, 12,
		0xc0, 41, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 4, 192, 0, 2, 7,
		0, 0, 41, 4, 0xd0, 0, 0, 0x80, 0, 0, 0,
	};
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	assert_int_equal(wg_wire_iter_init(&it, m, sizeof(m)), 0);
	assert_int_equal(it.off, 29);
	assert_int_equal(it.total, 3);

	assert_int_equal(wg_wire_iter_next(&it, &rr), 1);
	assert_int_equal(rr.owner, 29);
	assert_int_equal(rr.fixed, 31);
	assert_int_equal(rr.rdata, 41);
	assert_int_equal(rr.type, WG_TYPE_CNAME);
	assert_int_equal(rr.rclass, 1);
	assert_int_equal(rr.ttl, 3600);
	assert_int_equal(rr.rdlen, 6);
	assert_int_equal(rr.index, 0);
	size_t resume = it.off;

	assert_int_equal(wg_wire_iter_next(&it, &rr), 1);
	assert_int_equal(rr.owner, 47);
	assert_int_equal(rr.type, WG_TYPE_A);
	assert_int_equal(rr.ttl, 0xffffffffu); /* as on the wire */
	assert_memory_equal(m + rr.rdata, "\xc0\x00\x02\x07", 4);
	assert_int_equal(rr.index, 1);

	assert_int_equal(wg_wire_iter_next(&it, &rr), 1);
	assert_int_equal(rr.type, WG_TYPE_OPT);
	assert_int_equal(rr.rclass, 1232); /* the UDP size */
	assert_int_equal(rr.index, 2);
	assert_int_equal(wg_wire_iter_next(&it, &rr), 0);
	assert_int_equal(it.off, sizeof(m));
	assert_int_equal(wg_wire_iter_next(&it, &rr), 0); /* stays at the end */

	/* resumed at the second record, answer section only */
	wg_wire_iter_at(&it, m, sizeof(m), resume, 1, 2);
	assert_int_equal(wg_wire_iter_next(&it, &rr), 1);
	assert_int_equal(rr.owner, 47);
	assert_int_equal(rr.index, 1);
	assert_int_equal(wg_wire_iter_next(&it, &rr), 0);

	/* one byte short: the OPT no longer fits, the walk stops there */
	assert_int_equal(wg_wire_iter_init(&it, m, sizeof(m) - 1), 0);
	assert_int_equal(wg_wire_iter_next(&it, &rr), 1);
	assert_int_equal(wg_wire_iter_next(&it, &rr), 1);
	assert_int_equal(wg_wire_iter_next(&it, &rr), -EBADMSG);
	assert_int_equal(wg_wire_iter_next(&it, &rr), -EBADMSG);
	/* an rdata running past the end */
	assert_int_equal(wg_wire_iter_init(&it, m, 60), 0);
	assert_int_equal(wg_wire_iter_next(&it, &rr), 1);
	assert_int_equal(wg_wire_iter_next(&it, &rr), -EBADMSG);
	/* a header, a question that does not fit */
	assert_int_equal(wg_wire_iter_init(&it, m, 11), -EBADMSG);
	assert_int_equal(wg_wire_iter_init(&it, m, 28), -EBADMSG);
}

/* The one walk over an OPT's options: every EDE in order, other options
 * skipped, a short EDE ignored, an option running past the end stops it. */
static void test_opt_next_ede(void **state)
{
	uint8_t rd[64];
	size_t o = 0;
	/* option 10 (cookie, 8 bytes), EDE 17, EDE with 1 byte (too short),
	 * EDE 3 with extra text, then an option claiming 40 bytes */
	wg_put16(rd + o, 10); wg_put16(rd + o + 2, 8); o += 12;
	wg_put16(rd + o, 15); wg_put16(rd + o + 2, 2); wg_put16(rd + o + 4, 17); o += 6;
	wg_put16(rd + o, 15); wg_put16(rd + o + 2, 1); rd[o + 4] = 9; o += 5;
	wg_put16(rd + o, 15); wg_put16(rd + o + 2, 4); wg_put16(rd + o + 4, 3);
	rd[o + 6] = 'h'; rd[o + 7] = 'i'; o += 8;
	size_t end_ok = o;
	wg_put16(rd + o, 15); wg_put16(rd + o + 2, 40); wg_put16(rd + o + 4, 18); o += 6;

	size_t pos = 0;
	assert_int_equal(wg_wire_opt_next_ede(rd, o, &pos), 17);
	assert_int_equal(wg_wire_opt_next_ede(rd, o, &pos), 3);
	assert_int_equal(pos, end_ok);
	assert_int_equal(wg_wire_opt_next_ede(rd, o, &pos), -1);
	assert_int_equal(pos, o);
	assert_int_equal(wg_wire_opt_next_ede(rd, o, &pos), -1);
	pos = 0;
	assert_int_equal(wg_wire_opt_next_ede(rd, 12, &pos), -1); /* the cookie only */
	pos = 0;
	assert_int_equal(wg_wire_opt_next_ede(rd, 3, &pos), -1);  /* not even a header */
}

/* One table of names: what the database rows say (wire.c) and what
 * wuguardctl prints (ctl_out.c) are the same for every type and rcode. */
/* EDNS Client Subnet (RFC 7871): what goes out for IPv4, IPv6 and an
 * IPv4-mapped client, and the scope read back from a reply. */
static void test_ecs(void **state)
{
	struct wg_query_info qi;
	uint8_t q[WG_HDR_LEN + WG_NAME_MAX + 4 + WG_OPT_LEN + WG_ECS_OPT_MAX];
	uint8_t qp[512];
	struct wg_ecs e4, e6, em;
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6}, sm = {.sin6_family = AF_INET6};
	struct sockaddr un = {.sa_family = AF_UNIX};
	inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr);
	inet_pton(AF_INET6, "2001:db8::7", &s6.sin6_addr);
	inet_pton(AF_INET6, "::ffff:198.51.100.9", &sm.sin6_addr);
	assert_int_equal(wg_ecs_from_sockaddr(&s4, &e4), 0);
	assert_int_equal(wg_ecs_from_sockaddr(&s6, &e6), 0);
	assert_int_equal(wg_ecs_from_sockaddr(&sm, &em), 0);
	struct wg_ecs eu;
	assert_int_equal(wg_ecs_from_sockaddr(&un, &eu), -EAFNOSUPPORT);
	assert_int_equal(e4.family, 1);
	assert_int_equal(e4.prefix, 32);
	assert_int_equal(e6.family, 2);
	assert_int_equal(e6.prefix, 128);
	assert_int_equal(em.family, 1); /* mapped: the IPv4 address */
	assert_memory_equal(em.addr, "\xc6\x33\x64\x09", 4);

	size_t qlen = make_query(qp, "x.example.", WG_TYPE_A);
	assert_int_equal(wg_wire_parse_query(qp, qlen, &qi), 0);
	int n0 = wg_wire_build_query(q, sizeof(q), &qi, 7);
	int n = wg_wire_build_query_ecs(q, sizeof(q), &qi, 7, &e6);
	assert_int_equal(n, n0 + 4 + 4 + 16);
	/* the OPT is last: its RDLEN covers the one option */
	const uint8_t *opt = q + n0 - WG_OPT_LEN;
	assert_int_equal(wg_get16(opt + 1), WG_TYPE_OPT);
	assert_int_equal(wg_get16(opt + 9), 24);
	const uint8_t *o = opt + WG_OPT_LEN;
	assert_int_equal(wg_get16(o), 8);      /* edns-client-subnet */
	assert_int_equal(wg_get16(o + 2), 20); /* family..address */
	assert_int_equal(wg_get16(o + 4), 2);
	assert_int_equal(o[6], 128);
	assert_int_equal(o[7], 0);             /* scope 0 in a query */
	assert_memory_equal(o + 8, e6.addr, 16);
	n = wg_wire_build_query_ecs(q, sizeof(q), &qi, 7, &e4);
	assert_int_equal(n, n0 + 12);
	assert_int_equal(wg_wire_build_query_ecs(q, (size_t)n - 1, &qi, 7, &e4), -ENOSPC);

	/* the query, made a reply, read back: scope 0; then 24; then for
	 * another address or family: -1; without ECS: -1 */
	struct wg_wire_ttls t;
	q[2] |= 0x80;
	assert_int_equal(wg_wire_scan(q, (size_t)n, &t), 0);
	assert_int_equal(wg_wire_ecs_scope(q, &t, &e4), 0);
	q[n - 5] = 24;
	assert_int_equal(wg_wire_scan(q, (size_t)n, &t), 0);
	assert_int_equal(wg_wire_ecs_scope(q, &t, &e4), 24);
	assert_int_equal(wg_wire_ecs_scope(q, &t, &e6), -1);
	struct wg_ecs other = e4;
	other.addr[3] ^= 1;
	assert_int_equal(wg_wire_ecs_scope(q, &t, &other), -1);
	assert_int_equal(wg_wire_ecs_scope(q, &t, NULL), -1);
	n = wg_wire_build_query(q, sizeof(q), &qi, 7);
	q[2] |= 0x80;
	assert_int_equal(wg_wire_scan(q, (size_t)n, &t), 0);
	assert_int_equal(wg_wire_ecs_scope(q, &t, &e4), -1);

	/* a client that sent ECS itself: its SOURCE PREFIX-LENGTH bounds what
	 * goes out (the shorter of the two, RFC 7871 7.1.1), its ADDRESS is
	 * never used; /0 is its opt-out: no address bits at all */
	struct wg_ecs claimed = e6; /* 2001:db8::7 claimed; the source is 192.0.2.7 */
	assert_int_equal(qi.ecs_source, WG_ECS_NONE);
	static const int srcs[] = {0, 12, 30, 32, 64};
	for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
		int src = srcs[i];
		claimed.prefix = (uint8_t)src;
		int m = wg_wire_build_query_ecs(qp, sizeof(qp), &qi, 9, &claimed);
		qp[2] &= (uint8_t)~0x80;
		struct wg_query_info qc;
		assert_int_equal(wg_wire_parse_query(qp, (size_t)m, &qc), 0);
		assert_int_equal(qc.ecs_source, src);
		struct wg_ecs sent;
		assert_int_equal(wg_ecs_for_query(&s4, &qc, &sent), 0);
		assert_int_equal(sent.family, 1);
		assert_int_equal(sent.prefix, src < 32 ? src : 32);
		assert_memory_equal(sent.addr, e4.addr, 4); /* keys keep the whole address */
		m = wg_wire_build_query_ecs(q, sizeof(q), &qc, 7, &sent);
		assert_int_equal(m, n0 + 8 + (sent.prefix + 7) / 8);
		const uint8_t *so = q + n0 + 4;
		assert_int_equal(so[2], sent.prefix);
		if (src == 30) /* 192.0.2.7/30: the last byte's low 2 bits zero */
			assert_memory_equal(so + 4, "\xc0\x00\x02\x04", 4);
		/* the scope check matches the masked form */
		q[2] |= 0x80;
		so = q + n0 + 4;
		assert_int_equal(wg_wire_scan(q, (size_t)m, &t), 0);
		assert_int_equal(wg_wire_ecs_scope(q, &t, &sent), 0);
	}
}

static void test_one_name_table(void **state)
{
	char a[24], b[24];
	for (int rc = 0; rc < 24; rc++)
		assert_string_equal(wg_ctl_rcode_name(rc, a, sizeof(a)),
				    wg_wire_rcode_name(rc, b, sizeof(b)));
	assert_string_equal(wg_wire_rcode_name(6, a, sizeof(a)), "YXDOMAIN");
	assert_string_equal(wg_wire_rcode_name(12, a, sizeof(a)), "RCODE12");
	assert_string_equal(wg_wire_rcode_str(2), "SERVFAIL");
	assert_string_equal(wg_ctl_rcode_name(-1, a, sizeof(a)), "-");
	for (unsigned t = 0; t < 300; t++)
		assert_string_equal(wg_ctl_type_name(t, a, sizeof(a)),
				    wg_wire_type_str((uint16_t)t, b, sizeof(b)));
	assert_string_equal(wg_ctl_type_name(WG_TYPE_HINFO, a, sizeof(a)), "HINFO");
	assert_string_equal(wg_ctl_type_name(99, a, sizeof(a)), "TYPE99");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_short),
		cmocka_unit_test(test_parse_bad_label),
		cmocka_unit_test(test_parse_opcode_qr),
		cmocka_unit_test(test_parse_meta_qtype),
		cmocka_unit_test(test_error_edns),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_drop_other_class),
		cmocka_unit_test(test_compression_loop),
		cmocka_unit_test(test_name_roundtrip),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_strip_opt_trailing),
		cmocka_unit_test(test_rr_iter),
		cmocka_unit_test(test_opt_next_ede),
		cmocka_unit_test(test_ecs),
		cmocka_unit_test(test_one_name_table),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
