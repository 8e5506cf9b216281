/* fuzz_query.c: a client's datagram, as the listener hands it to the
 * resolver: parse it, and build every reply the resolver may send for it
 * (the error replies, the upstream query, the truncated form). */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "wire.h"

static void check_error_reply(const uint8_t *q, size_t qlen, const struct wg_query_info *qi,
			      int rcode)
{
	uint8_t out[WG_PKT_MAX];
	int n = wg_wire_build_error(out, sizeof(out), q, qi, rcode);
	FUZZ_CHECK(n >= WG_HDR_LEN);
	FUZZ_CHECK(wg_get16(out) == wg_get16(q)); /* the client's ID */
	FUZZ_CHECK(wg_get16(out + 2) & WG_F_QR);
	FUZZ_CHECK(WG_RCODE(wg_get16(out + 2)) == rcode);
	if (qi->question_end) {
		/* header + question (+ OPT): never longer than what came in
		 * plus one OPT, so it always fits the client's buffer */
		FUZZ_CHECK((size_t)n <= (size_t)qi->question_end + WG_OPT_LEN);
		FUZZ_CHECK(wg_wire_reply_matches(out, (size_t)n, qi->id, qi) == 0);
	} else {
		FUZZ_CHECK(wg_get16(out + 4) == 0);
	}
	(void)qlen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wg_query_info qi;
	int rc = wg_wire_parse_query(data, size, &qi);
	FUZZ_CHECK(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG || rc == -EPROTO ||
		   rc == -EOPNOTSUPP);
	if (rc == -EMSGSIZE || rc == -EPROTO)
		return 0; /* dropped without an answer */
	if (rc == -EBADMSG) {
		check_error_reply(data, size, &qi, WG_RCODE_FORMERR);
		return 0;
	}
	if (rc == -EOPNOTSUPP) {
		check_error_reply(data, size, &qi, WG_RCODE_NOTIMP);
		return 0;
	}

	FUZZ_CHECK(qi.qname_len >= 1 && qi.qname_len <= WG_NAME_MAX);
	FUZZ_CHECK(qi.question_end <= size);
	FUZZ_CHECK(qi.udp_size >= WG_UDP_MIN);
	for (size_t i = 0; i < qi.qname_len; i++) {
		uint8_t c = qi.qname[i];
		uint8_t lc = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
		FUZZ_CHECK(qi.qname_lc[i] == lc);
	}
	/* the wire name is well formed: labels add up to qname_len */
	size_t off = 0;
	while (qi.qname[off]) {
		FUZZ_CHECK(qi.qname[off] < 64);
		off += 1u + qi.qname[off];
		FUZZ_CHECK(off < qi.qname_len);
	}
	FUZZ_CHECK(off + 1 == qi.qname_len);
	char text[4 * WG_NAME_MAX + 1];
	wg_wire_name_to_str(qi.qname, text, sizeof(text));
	FUZZ_CHECK(memchr(text, 0, sizeof(text)) != NULL);

	check_error_reply(data, size, &qi, WG_RCODE_SERVFAIL);
	check_error_reply(data, size, &qi, WG_RCODE_REFUSED);

	/* what goes upstream asks the same question */
	uint8_t up[WG_PKT_MAX];
	int n = wg_wire_build_query(up, sizeof(up), &qi, 0xbeef);
	FUZZ_CHECK(n > WG_HDR_LEN);
	struct wg_query_info uq;
	FUZZ_CHECK(wg_wire_parse_query(up, (size_t)n, &uq) == 0);
	FUZZ_CHECK(uq.id == 0xbeef && uq.qtype == qi.qtype && uq.qclass == qi.qclass);
	FUZZ_CHECK(uq.qname_len == qi.qname_len && !memcmp(uq.qname, qi.qname, qi.qname_len));
	FUZZ_CHECK(uq.do_bit == qi.do_bit);

	/* the truncated form of a reply to it */
	uint8_t tr[WG_PKT_MAX];
	memcpy(tr, data, size);
	tr[2] |= 0x80;
	int tc_before = (tr[2] & 0x02) != 0;
	size_t tl = wg_wire_truncate(tr, size, 0, qi.do_bit);
	FUZZ_CHECK(tl <= size && tl >= WG_HDR_LEN);
	if (!tc_before && (wg_get16(tr + 2) & WG_F_TC))
		FUZZ_CHECK(wg_get16(tr + 6) == 0 && wg_get16(tr + 8) == 0 && wg_get16(tr + 10) == 0);
	return 0;
}
