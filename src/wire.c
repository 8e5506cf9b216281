/* wire.c: see wire.h. Every bound is checked against the buffer length before
 * a byte is read; names are limited to 255 bytes and compression pointers to
 * strictly earlier offsets, which makes pointer loops impossible, and past
 * the header; a name pointed at must end before the pointer. A name read out
 * of the header, or out of bytes behind the last record, would change when
 * we rewrite the counts or drop those bytes (found by
 * tests/fuzz/fuzz_reply.c). */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "wire.h"

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

int wg_wire_name_skip(const uint8_t *pkt, size_t len, size_t *off)
{
	size_t o = *off;
	size_t total = 0;

	for (;;) {
		if (o >= len)
			return -EBADMSG;
		uint8_t l = pkt[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -EBADMSG;
			size_t target = ((size_t)(l & 0x3f) << 8) | pkt[o + 1];
			if (target >= o || target < WG_HDR_LEN)
				return -EBADMSG;
			*off = o + 2;
			/* validate the target chain too, so a caller that later
			 * expands the name cannot meet a loop; the name pointed
			 * at lies wholly before the pointer */
			uint8_t tmp[WG_NAME_MAX];
			return wg_wire_name_read(pkt, o, target, tmp) < 0 ? -EBADMSG : 0;
		}
		if (l & 0xc0)
			return -EBADMSG;
		total += (size_t)l + 1;
		if (total > WG_NAME_MAX)
			return -EBADMSG;
		o += (size_t)l + 1;
		if (l == 0) {
			*off = o;
			return 0;
		}
	}
}

static inline int name_read(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, int lower);

int wg_wire_name_read(const uint8_t *pkt, size_t len, size_t off, uint8_t *out)
{
	return name_read(pkt, len, off, out, 1);
}

/* wg_wire_name_read, optionally keeping the case. */
static inline int name_read(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, int lower)
{
	size_t o = off;
	size_t n = 0;
	size_t limit = off; /* pointers must go strictly backwards */

	for (;;) {
		if (o >= len)
			return -EBADMSG;
		uint8_t l = pkt[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -EBADMSG;
			size_t target = ((size_t)(l & 0x3f) << 8) | pkt[o + 1];
			if (target >= limit || target < WG_HDR_LEN)
				return -EBADMSG;
			/* an earlier name, written in full before this pointer:
			 * its bytes may not run on past it */
			len = o;
			limit = target;
			o = target;
			continue;
		}
		if (l & 0xc0)
			return -EBADMSG;
		if (n + l + 1 > WG_NAME_MAX || o + l + 1 > len)
			return -EBADMSG;
		out[n++] = l;
		for (size_t i = 0; i < l; i++)
			out[n++] = lower ? lc(pkt[o + 1 + i]) : pkt[o + 1 + i];
		if (l == 0)
			return (int)n;
		o += (size_t)l + 1;
	}
}

void wg_wire_iter_at(struct wg_wire_iter *it, const uint8_t *pkt, size_t len, size_t off,
		     unsigned index, unsigned total)
{
	it->pkt = pkt;
	it->len = len;
	it->off = off;
	it->index = index;
	it->total = total;
}

int wg_wire_iter_init(struct wg_wire_iter *it, const uint8_t *pkt, size_t len)
{
	if (len < WG_HDR_LEN)
		return -EBADMSG;
	unsigned qd = wg_get16(pkt + 4);
	size_t o = WG_HDR_LEN;
	for (unsigned i = 0; i < qd; i++) {
		if (wg_wire_name_skip(pkt, len, &o) < 0 || o + 4 > len)
			return -EBADMSG;
		o += 4;
	}
	wg_wire_iter_at(it, pkt, len, o, 0,
			(unsigned)wg_get16(pkt + 6) + wg_get16(pkt + 8) + wg_get16(pkt + 10));
	return 0;
}

int wg_wire_iter_next(struct wg_wire_iter *it, struct wg_wire_rr *rr)
{
	if (it->index >= it->total)
		return 0;
	size_t o = it->off;
	if (wg_wire_name_skip(it->pkt, it->len, &o) < 0 || o + 10 > it->len)
		return -EBADMSG;
	uint16_t rdlen = wg_get16(it->pkt + o + 8);
	if (o + 10 + rdlen > it->len)
		return -EBADMSG;
	rr->owner = it->off;
	rr->fixed = o;
	rr->rdata = o + 10;
	rr->type = wg_get16(it->pkt + o);
	rr->rclass = wg_get16(it->pkt + o + 2);
	rr->ttl = wg_get32(it->pkt + o + 4);
	rr->rdlen = rdlen;
	rr->index = it->index++;
	it->off = o + 10 + (size_t)rdlen;
	return 1;
}

int wg_wire_name_eq(const uint8_t *a, const uint8_t *b)
{
	size_t i = 0;
	for (;;) {
		uint8_t l = a[i];
		if (l != b[i])
			return 0;
		if (l == 0)
			return 1;
		for (size_t k = 1; k <= l; k++)
			if (lc(a[i + k]) != lc(b[i + k]))
				return 0;
		i += (size_t)l + 1;
		if (i >= WG_NAME_MAX)
			return 0;
	}
}

void wg_wire_name_to_str(const uint8_t *name, char *dst, size_t cap)
{
	size_t i = 0, n = 0;
	if (cap == 0)
		return;
	if (name[0] == 0) {
		snprintf(dst, cap, ".");
		return;
	}
	while (name[i] != 0 && i < WG_NAME_MAX) {
		uint8_t l = name[i];
		for (size_t k = 1; k <= l && i + k < WG_NAME_MAX; k++) {
			uint8_t c = name[i + k];
			char tmp[5];
			int w;
			if (c == '.' || c == '\\')
				w = snprintf(tmp, sizeof(tmp), "\\%c", c);
			else if (c <= 0x20 || c >= 0x7f)
				w = snprintf(tmp, sizeof(tmp), "\\%03u", c);
			else
				w = snprintf(tmp, sizeof(tmp), "%c", c);
			if (n + (size_t)w + 2 > cap)
				goto out;
			memcpy(dst + n, tmp, (size_t)w);
			n += (size_t)w;
		}
		dst[n++] = '.';
		i += (size_t)l + 1;
	}
out:
	dst[n] = 0;
}

int wg_wire_name_from_str(const char *s, uint8_t *out)
{
	size_t n = 0;
	size_t lab = 0; /* index of the current length byte */
	if (s[0] == '.' && s[1] == 0) {
		out[0] = 0;
		return 1;
	}
	out[0] = 0;
	n = 1;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (out[lab] == 0)
				return -EINVAL; /* empty label */
			if (p[1] == 0)
				break;
			if (n >= WG_NAME_MAX)
				return -EINVAL;
			lab = n;
			out[n++] = 0;
			continue;
		}
		uint8_t c = (uint8_t)*p;
		if (c == '\\') {
			if (p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
			    p[3] >= '0' && p[3] <= '9') {
				int v = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
				if (v > 255)
					return -EINVAL;
				c = (uint8_t)v;
				p += 3;
			} else if (p[1]) {
				c = (uint8_t)p[1];
				p++;
			} else {
				return -EINVAL;
			}
		}
		if (out[lab] >= 63 || n + 1 >= WG_NAME_MAX)
			return -EINVAL;
		out[lab]++;
		out[n++] = c;
	}
	if (out[lab] == 0 && n > 1)
		return -EINVAL;
	if (n + 1 > WG_NAME_MAX)
		return -EINVAL;
	out[n++] = 0;
	return (int)n;
}

/* An OPT's rdata is a sequence of options (code, length, data) that must
 * fill it exactly (RFC 6891 6.1.2). */
static int opt_rdata_ok(const uint8_t *rd, size_t rdlen)
{
	size_t q = 0;
	while (q + 4 <= rdlen)
		q += 4 + (size_t)wg_get16(rd + q + 2);
	return q == rdlen;
}

/* A meta-TYPE asks for no data: OPT, and 128-250 (RFC 6895 3.1: NXNAME,
 * TKEY, TSIG and the unassigned rest). A question for one is FORMERR and is
 * never forwarded (RFC 9824 3.5). IXFR, AXFR, MAILB, MAILA and ANY are
 * QTYPEs RFC 1035 defines for queries. */
static int is_meta_qtype(uint16_t t)
{
	return t == WG_TYPE_OPT || (t >= 128 && t <= 250);
}

/* Parse the OPT RR, if any, in the additional section of a query. A
 * malformed OPT still sets has_edns (and DO from the first one), so the
 * FORMERR it earns carries an OPT too (RFC 6891 7). */
static int parse_query_edns(const uint8_t *pkt, size_t len, size_t off,
			    struct wg_query_info *qi)
{
	unsigned an = wg_get16(pkt + 6), ns = wg_get16(pkt + 8);
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	int rc;

	wg_wire_iter_at(&it, pkt, len, off, 0, an + ns + wg_get16(pkt + 10));
	while ((rc = wg_wire_iter_next(&it, &rr)) > 0) {
		if (rr.type != WG_TYPE_OPT)
			continue;
		int dup = qi->has_edns;
		if (!dup) {
			qi->has_edns = 1;
			qi->do_bit = (pkt[rr.fixed + 6] & 0x80) ? 1 : 0;
		}
		/* OPT only once, in additional, root owner, well-formed options */
		if (dup || rr.index < an + ns || pkt[rr.owner] != 0 ||
		    !opt_rdata_ok(pkt + rr.rdata, rr.rdlen))
			return -EBADMSG;
		/* CLASS is the UDP size, the TTL holds version and flags */
		qi->udp_size = rr.rclass < WG_UDP_MIN ? WG_UDP_MIN : rr.rclass;
		/* the client's own Client Subnet option: its SOURCE
		 * PREFIX-LENGTH, after the 2-byte FAMILY (options fill the
		 * rdata exactly: checked above) */
		for (size_t q = 0; q + 4 <= rr.rdlen;) {
			const uint8_t *op = pkt + rr.rdata + q;
			uint16_t olen = wg_get16(op + 2);
			if (wg_get16(op) == 8 && olen >= 4 && qi->ecs_source == WG_ECS_NONE)
				qi->ecs_source = op[6] < WG_ECS_NONE ? op[6] : WG_ECS_NONE - 1;
			q += 4 + (size_t)olen;
		}
		qi->edns_version = pkt[rr.fixed + 5];
	}
	/* an OPT whose rdata runs past the end stops the walk above: its
	 * fixed part alone tells that the query had EDNS */
	size_t o = it.off;
	if (rc < 0 && !qi->has_edns && o + 11 <= len && pkt[o] == 0 &&
	    wg_get16(pkt + o + 1) == WG_TYPE_OPT) {
		qi->has_edns = 1;
		qi->do_bit = (pkt[o + 7] & 0x80) ? 1 : 0;
	}
	return rc;
}

int wg_wire_parse_query(const uint8_t *pkt, size_t len, struct wg_query_info *qi)
{
	qi->question_end = 0;
	qi->has_edns = 0;
	qi->do_bit = 0;
	qi->ecs_source = WG_ECS_NONE;
	qi->edns_version = 0;
	qi->udp_size = WG_UDP_MIN;
	qi->qname_len = 0;
	if (len < WG_HDR_LEN)
		return -EMSGSIZE;
	qi->id = wg_get16(pkt);
	qi->flags = wg_get16(pkt + 2);
	if (qi->flags & WG_F_QR)
		return -EPROTO;
	/* an unknown opcode or a question count other than one is answered
	 * with an error, but the question and the OPT are still read where
	 * they can be: the error reply echoes them (RFC 6891 7) */
	int rc = WG_OPCODE(qi->flags) != 0 ? -EOPNOTSUPP : 0;
	size_t o = WG_HDR_LEN;
	if (wg_get16(pkt + 4) != 1) {
		struct wg_wire_iter it;
		if (wg_wire_iter_init(&it, pkt, len) == 0)
			parse_query_edns(pkt, len, it.off, qi);
		return rc ? rc : -EBADMSG;
	}
	size_t n = 0;
	for (;;) {
		if (o >= len)
			return rc ? rc : -EBADMSG;
		uint8_t l = pkt[o];
		if (l & 0xc0)
			return rc ? rc : -EBADMSG; /* no compression in a query's question */
		if (n + l + 1 > WG_NAME_MAX || o + l + 1 > len)
			return rc ? rc : -EBADMSG;
		qi->qname[n] = l;
		qi->qname_lc[n] = l;
		n++;
		for (size_t i = 1; i <= l; i++) {
			qi->qname[n] = pkt[o + i];
			qi->qname_lc[n] = lc(pkt[o + i]);
			n++;
		}
		o += (size_t)l + 1;
		if (l == 0)
			break;
	}
	if (o + 4 > len)
		return rc ? rc : -EBADMSG;
	qi->qname_len = (uint16_t)n;
	qi->qtype = wg_get16(pkt + o);
	qi->qclass = wg_get16(pkt + o + 2);
	o += 4;
	qi->question_end = (uint16_t)o;
	int erc = parse_query_edns(pkt, len, o, qi);
	if (!rc && !erc && is_meta_qtype(qi->qtype))
		return -EBADMSG;
	return rc ? rc : erc;
}

int wg_wire_reply_matches(const uint8_t *reply, size_t len, uint16_t id,
			  const struct wg_query_info *qi)
{
	if (len < WG_HDR_LEN)
		return -EBADMSG;
	uint16_t flags = wg_get16(reply + 2);
	if (!(flags & WG_F_QR) || wg_get16(reply) != id)
		return -EBADMSG;
	if (wg_get16(reply + 4) != 1)
		return -EBADMSG;
	if ((size_t)WG_HDR_LEN + qi->qname_len + 4 > len)
		return -EBADMSG;
	uint8_t name[WG_NAME_MAX];
	if (wg_wire_name_read(reply, len, WG_HDR_LEN, name) != qi->qname_len)
		return -EBADMSG;
	if (memcmp(name, qi->qname_lc, qi->qname_len) != 0)
		return -EBADMSG;
	size_t o = WG_HDR_LEN;
	if (wg_wire_name_skip(reply, len, &o) < 0 || o + 4 > len)
		return -EBADMSG;
	if (wg_get16(reply + o) != qi->qtype || wg_get16(reply + o + 2) != qi->qclass)
		return -EBADMSG;
	return 0;
}

static size_t put_opt(uint8_t *p, int do_bit, int ede, const uint8_t *text, size_t tlen)
{
	p[0] = 0;
	wg_put16(p + 1, WG_TYPE_OPT);
	wg_put16(p + 3, WG_EDNS_ADVERTISE);
	p[5] = 0; /* extended rcode */
	p[6] = 0; /* version */
	p[7] = do_bit ? 0x80 : 0;
	p[8] = 0;
	if (ede < 0) {
		wg_put16(p + 9, 0);
		return WG_OPT_LEN;
	}
	wg_put16(p + 9, (uint16_t)(6 + tlen));
	wg_put16(p + 11, 15); /* option code: Extended DNS Error, RFC 8914 */
	wg_put16(p + 13, (uint16_t)(2 + tlen));
	wg_put16(p + 15, (uint16_t)ede);
	if (tlen)
		memcpy(p + 17, text, tlen);
	return WG_OPT_LEN + 6 + tlen;
}

int wg_wire_build_query(uint8_t *out, size_t cap, const struct wg_query_info *qi, uint16_t id)
{
	return wg_wire_build_query_ecs(out, cap, qi, id, NULL);
}

static size_t ecs_addr_len(const struct wg_ecs *e)
{
	return ((size_t)e->prefix + 7) / 8;
}

int wg_ecs_from_sockaddr(const void *sa, struct wg_ecs *e)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const struct sockaddr *s = sa;
	memset(e, 0, sizeof(*e));
	if (s->sa_family == AF_INET) {
		memcpy(e->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		e->family = 1;
		e->prefix = 32;
		return 0;
	}
	if (s->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		memcpy(e->addr, a + 12, 4);
		e->family = 1;
		e->prefix = 32;
	} else {
		memcpy(e->addr, a, 16);
		e->family = 2;
		e->prefix = 128;
	}
	return 0;
}

int wg_ecs_for_query(const void *sa, const struct wg_query_info *qi, struct wg_ecs *e)
{
	int rc = wg_ecs_from_sockaddr(sa, e);
	if (rc == 0 && qi && qi->ecs_source < e->prefix)
		e->prefix = qi->ecs_source;
	return rc;
}

/* The address as it goes on the wire: prefix bits, the rest of the last
 * byte zero (RFC 7871 6). */
static void ecs_wire_addr(const struct wg_ecs *e, uint8_t *out)
{
	size_t n = ecs_addr_len(e);
	memcpy(out, e->addr, n);
	if (n && e->prefix % 8)
		out[n - 1] &= (uint8_t)(0xff << (8 - e->prefix % 8));
}

int wg_wire_ecs_scope(const uint8_t *pkt, const struct wg_wire_ttls *t,
		      const struct wg_ecs *ecs)
{
	if (!t->ecs_off || !ecs)
		return -1;
	const uint8_t *o = pkt + t->ecs_off;
	size_t alen = ecs_addr_len(ecs);
	/* RFC 7871 7.3: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS must be
	 * those of the query; anything else does not answer for this client */
	uint8_t want[16];
	ecs_wire_addr(ecs, want);
	if (t->ecs_len != 4 + alen || wg_get16(o) != ecs->family || o[2] != ecs->prefix ||
	    memcmp(o + 4, want, alen) != 0)
		return -1;
	return o[3];
}

int wg_wire_build_query_ecs(uint8_t *out, size_t cap, const struct wg_query_info *qi,
			    uint16_t id, const struct wg_ecs *ecs)
{
	size_t ecs_len = ecs ? 4 + 4 + ecs_addr_len(ecs) : 0;
	size_t need = WG_HDR_LEN + qi->qname_len + 4 + WG_OPT_LEN + ecs_len;
	if (need > cap)
		return -ENOSPC;
	wg_put16(out, id);
	wg_put16(out + 2, (uint16_t)(qi->flags & (WG_F_RD | WG_F_CD)));
	wg_put16(out + 4, 1);
	wg_put16(out + 6, 0);
	wg_put16(out + 8, 0);
	wg_put16(out + 10, 1);
	size_t o = WG_HDR_LEN;
	memcpy(out + o, qi->qname, qi->qname_len);
	o += qi->qname_len;
	wg_put16(out + o, qi->qtype);
	wg_put16(out + o + 2, qi->qclass);
	o += 4;
	size_t opt = o;
	o += put_opt(out + o, qi->do_bit, -1, NULL, 0);
	if (ecs) {
		uint8_t *p = out + o;
		size_t alen = ecs_addr_len(ecs);
		wg_put16(p, 8); /* option code: edns-client-subnet, RFC 7871 */
		wg_put16(p + 2, (uint16_t)(4 + alen));
		wg_put16(p + 4, ecs->family);
		p[6] = ecs->prefix;
		p[7] = 0; /* SCOPE PREFIX-LENGTH: 0 in queries */
		ecs_wire_addr(ecs, p + 8);
		o += ecs_len;
		wg_put16(out + opt + 9, (uint16_t)ecs_len); /* the OPT's RDLEN */
	}
	return (int)o;
}

int wg_wire_build_error(uint8_t *out, size_t cap, const uint8_t *query,
			const struct wg_query_info *qi, int rcode)
{
	size_t qlen = qi->question_end ? (size_t)qi->question_end - WG_HDR_LEN : 0;
	size_t need = WG_HDR_LEN + qlen + (qi->has_edns ? WG_OPT_LEN : 0);
	if (need > cap)
		return -ENOSPC;
	/* RD, RA, CD are defined for QUERY only: a NOTIMP echoes the opcode
	 * and nothing else (genreport "opcode", "opcodeflg") */
	uint16_t flags = rcode == WG_RCODE_NOTIMP
		? (uint16_t)(WG_F_QR | (qi->flags & 0x7800) | WG_RCODE_NOTIMP)
		: (uint16_t)(WG_F_QR | (qi->flags & (WG_F_RD | WG_F_CD | 0x7800)) | WG_F_RA |
			     (rcode & 0xf));
	wg_put16(out, qi->id);
	wg_put16(out + 2, flags);
	wg_put16(out + 4, qlen ? 1 : 0);
	wg_put16(out + 6, 0);
	wg_put16(out + 8, 0);
	wg_put16(out + 10, 0);
	if (qlen)
		memcpy(out + WG_HDR_LEN, query + WG_HDR_LEN, qlen);
	size_t o = WG_HDR_LEN + qlen;
	/* RFC 6891 7: a query with an OPT gets one back, errors included */
	if (qi->has_edns) {
		o += put_opt(out + o, qi->do_bit, -1, NULL, 0);
		wg_put16(out + 10, 1);
	}
	return (int)o;
}

int wg_wire_opt_next_ede(const uint8_t *pkt, size_t end, size_t *pos)
{
	size_t q = *pos;
	while (q + 4 <= end) {
		uint16_t code = wg_get16(pkt + q), olen = wg_get16(pkt + q + 2);
		if (q + 4 + olen > end)
			break;
		size_t opt = q;
		q += 4 + (size_t)olen;
		if (code == 15 && olen >= 2) {
			*pos = q;
			return wg_get16(pkt + opt + 4);
		}
	}
	*pos = end;
	return -1;
}

int wg_wire_scan(const uint8_t *pkt, size_t len, struct wg_wire_ttls *t)
{
	memset(t, 0, sizeof(*t));
	t->ede = 0xffff;
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	if (wg_wire_iter_init(&it, pkt, len) < 0)
		return -EBADMSG;
	unsigned an = wg_get16(pkt + 6), ns = wg_get16(pkt + 8);
	int have_min = 0, rc;

	t->ancount = (uint16_t)an;
	while ((rc = wg_wire_iter_next(&it, &rr)) > 0) {
		size_t rd = rr.rdata, rdlen = rr.rdlen;
		uint32_t ttl = rr.ttl > 0x7fffffffu ? 0 : rr.ttl; /* RFC 2181 8: treat as zero */
		if (rr.type == WG_TYPE_OPT) {
			/* RFC 6891 6.1.1: one OPT, in the additional section;
			 * anything else is a malformed message */
			if (rr.index < an + ns || t->opt_off)
				return -EBADMSG;
			t->opt_off = (uint16_t)rr.owner;
			t->opt_len = (uint16_t)(rd + rdlen - rr.owner);
			/* the first EDE option's info code */
			size_t q = rd;
			int ede = wg_wire_opt_next_ede(pkt, rd + rdlen, &q);
			if (ede >= 0)
				t->ede = (uint16_t)ede;
			/* the first Client Subnet option (RFC 7871) */
			for (size_t e = rd; e + 4 <= rd + rdlen;) {
				uint16_t code = wg_get16(pkt + e), olen = wg_get16(pkt + e + 2);
				if (e + 4 + olen > rd + rdlen)
					break;
				if (code == 8 && olen >= 4) {
					t->ecs_off = (uint16_t)(e + 4);
					t->ecs_len = olen;
					break;
				}
				e += 4 + (size_t)olen;
			}
		} else {
			if (t->n < WG_WIRE_MAX_TTLS)
				t->off[t->n++] = (uint16_t)(rr.fixed + 4);
			else
				t->truncated = 1;
			if (rr.index < an) {
				if (!have_min || ttl < t->min_ttl)
					t->min_ttl = ttl;
				have_min = 1;
			} else if (rr.index < an + ns && rr.type == WG_TYPE_SOA) {
				/* SOA MINIMUM is the last 4 bytes of the rdata */
				if (rdlen >= 22) {
					uint32_t min = wg_get32(pkt + rd + rdlen - 4);
					t->neg_ttl = ttl < min ? ttl : min;
					t->has_soa = 1;
				}
			}
		}
	}
	if (rc < 0)
		return -EBADMSG;
	t->end = (uint16_t)(it.off <= WG_PKT_MAX ? it.off : WG_PKT_MAX);
	return 0;
}

int wg_wire_clamp_ttls(uint8_t *pkt, size_t len, uint32_t min_ttl, uint32_t max_ttl)
{
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	int rc;
	if (wg_wire_iter_init(&it, pkt, len) < 0)
		return -EBADMSG;
	while ((rc = wg_wire_iter_next(&it, &rr)) > 0) {
		if (rr.type == WG_TYPE_OPT)
			continue;
		uint32_t ttl = rr.ttl > 0x7fffffffu ? 0 : rr.ttl;
		if (ttl < min_ttl)
			ttl = min_ttl;
		if (max_ttl && ttl > max_ttl)
			ttl = max_ttl;
		wg_put32(pkt + rr.fixed + 4, ttl);
	}
	return rc;
}

size_t wg_wire_strip_opt(uint8_t *pkt, size_t len, const struct wg_wire_ttls *t)
{
	size_t end = t->end && t->end <= len ? t->end : len;
	if (!t->opt_off || (size_t)t->opt_off + t->opt_len != end)
		return end;
	/* scan took it for the OPT only in the additional section: ARCOUNT >= 1 */
	wg_put16(pkt + 10, (uint16_t)(wg_get16(pkt + 10) - 1));
	return t->opt_off;
}

/* An EXTRA-TEXT longer than this is cut: the option must stay small
 * beside the answer (UDP replies are kept under 1232 bytes). */
#define EDE_TEXT_MAX 200

static size_t text_len(int ede, const char *text)
{
	if (ede < 0 || !text)
		return 0;
	size_t n = strlen(text);
	return n < EDE_TEXT_MAX ? n : EDE_TEXT_MAX;
}

size_t wg_wire_opt_size(int ede, const char *text)
{
	return WG_OPT_LEN + (ede >= 0 ? 6 + text_len(ede, text) : 0);
}

int wg_wire_append_opt_text(uint8_t *pkt, size_t len, size_t cap, int do_bit, int ede,
			    const char *text)
{
	size_t tlen = text_len(ede, text);
	size_t need = wg_wire_opt_size(ede, text);
	if (ede > 0xffff)
		return -EINVAL;
	if (len + need > cap)
		return -ENOSPC;
	size_t n = put_opt(pkt + len, do_bit, ede, (const uint8_t *)text, tlen);
	wg_put16(pkt + 10, (uint16_t)(wg_get16(pkt + 10) + 1));
	return (int)(len + n);
}

int wg_wire_append_opt(uint8_t *pkt, size_t len, size_t cap, int do_bit, int ede)
{
	return wg_wire_append_opt_text(pkt, len, cap, do_bit, ede, NULL);
}

size_t wg_wire_truncate(uint8_t *pkt, size_t len, size_t limit, int dnssec)
{
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	if (len < WG_HDR_LEN)
		return len;
	if (wg_wire_iter_init(&it, pkt, len) < 0) {
		/* not a message we can walk: the header alone, TC=1 */
		wg_put16(pkt + 4, 0);
		goto tc;
	}
	size_t qend = it.off;
	unsigned an = wg_get16(pkt + 6), ns = wg_get16(pkt + 8);
	uint16_t flags = wg_get16(pkt + 2);
	/* what a negative answer needs from the authority section: its SOA
	 * (RFC 2308 5), and with DNSSEC the whole section, the denial proofs
	 * and their signatures (RFC 4035 3.1.3) */
	int negative = an == 0 || WG_RCODE(flags) == WG_RCODE_NXDOMAIN;
	unsigned need = an;
	uint8_t prev[WG_NAME_MAX], cur[WG_NAME_MAX];
	int prev_len = -1;
	uint16_t prev_type = 0, prev_class = 0;
	unsigned keep_n = 0;
	size_t keep_off = qend;
	int rc, over = 0;
	/* walk every record: the SOA a negative answer needs may lie past
	 * the limit */
	while ((rc = wg_wire_iter_next(&it, &rr)) > 0) {
		int cl = wg_wire_name_read(pkt, len, rr.owner, cur);
		if (cl < 0) {
			rc = -EBADMSG;
			break;
		}
		/* a cut may fall only between RRsets (RFC 2181 9: no partial
		 * RRset without TC), and an RRSIG stays with what it signs */
		int boundary = rr.index == an || rr.index == an + ns || prev_len != cl ||
			       memcmp(prev, cur, (size_t)cl) != 0 || rr.rclass != prev_class ||
			       (rr.type != prev_type && rr.type != WG_TYPE_RRSIG);
		if (!over && boundary) {
			keep_n = rr.index;
			keep_off = rr.owner;
		}
		if (it.off > limit)
			over = 1;
		if (negative && rr.index >= an && rr.index < an + ns &&
		    (dnssec || rr.type == WG_TYPE_SOA))
			need = rr.index + 1;
		memcpy(prev, cur, (size_t)cl);
		prev_len = cl;
		prev_type = rr.type;
		prev_class = rr.rclass;
	}
	if (rc == 0 && !over) {
		keep_n = it.total; /* everything fits (bytes after the last record go) */
		keep_off = it.off;
	}
	if (rc >= 0 && keep_n >= need && keep_n >= an) {
		/* only whole RRsets of the authority and additional sections
		 * are left out: no TC (RFC 2181 9) */
		wg_put16(pkt + 8, (uint16_t)(keep_n - an < ns ? keep_n - an : ns));
		wg_put16(pkt + 10, (uint16_t)(keep_n > an + ns ? keep_n - an - ns : 0));
		return keep_off;
	}
	len = qend;
tc:
	wg_put16(pkt + 2, (uint16_t)(wg_get16(pkt + 2) | WG_F_TC));
	wg_put16(pkt + 6, 0);
	wg_put16(pkt + 8, 0);
	wg_put16(pkt + 10, 0);
	return wg_get16(pkt + 4) ? len : WG_HDR_LEN;
}

/* --- dropping records of another class --- */

/* Where a type's rdata holds domain names that may be compressed (RFC 3597
 * 4: the RFC 1035 types, and those receivers decompress): bytes before the
 * first name, how many names, then the fixed tail follows. */
static int rdata_names(uint16_t type, size_t *skip, int *names)
{
	*skip = 0;
	switch (type) {
	case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: case 39:
		*names = 1; /* NS MD MF CNAME MB MG MR PTR DNAME */
		return 1;
	case 6: case 14: case 17:
		*names = 2; /* SOA (+20 bytes), MINFO, RP */
		return 1;
	case 15: case 18: case 21: case 36:
		*skip = 2; /* MX AFSDB RT KX: preference, name */
		*names = 1;
		return 1;
	case 26:
		*skip = 2; /* PX: preference, two names */
		*names = 2;
		return 1;
	case 33:
		*skip = 6; /* SRV: priority, weight, port, target */
		*names = 1;
		return 1;
	default:
		return 0;
	}
}

int wg_wire_drop_other_class(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap,
			     unsigned *dropped)
{
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	int rc;
	*dropped = 0;
	if (wg_wire_iter_init(&it, pkt, len) < 0 || wg_get16(pkt + 4) != 1)
		return 0; /* nothing we can judge: the callers' checks handle it */
	size_t qend = it.off;
	uint16_t qclass = wg_get16(pkt + qend - 2);
	if (qclass == WG_CLASS_ANY)
		return 0;
	unsigned n = 0;
	while ((rc = wg_wire_iter_next(&it, &rr)) > 0)
		if (rr.rclass != qclass && rr.type != WG_TYPE_OPT)
			n++;
	if (rc < 0 || n == 0)
		return 0;

	/* rebuild without them; names are written out in full, as a record
	 * left may point into one that goes */
	if (qend > cap)
		return -ENOSPC;
	memcpy(out, pkt, qend);
	unsigned an = wg_get16(pkt + 6), ns = wg_get16(pkt + 8);
	unsigned kept[3] = {0, 0, 0};
	size_t o = qend;
	wg_wire_iter_init(&it, pkt, len);
	while ((rc = wg_wire_iter_next(&it, &rr)) > 0) {
		unsigned sec = rr.index < an ? 0 : rr.index < an + ns ? 1 : 2;
		if (rr.rclass != qclass && rr.type != WG_TYPE_OPT)
			continue;
		uint8_t name[WG_NAME_MAX];
		int nl = name_read(pkt, len, rr.owner, name, 0);
		if (nl < 0 || o + (size_t)nl + 10 > cap)
			return nl < 0 ? -EBADMSG : -ENOSPC;
		memcpy(out + o, name, (size_t)nl);
		o += (size_t)nl;
		memcpy(out + o, pkt + rr.fixed, 8); /* type, class, TTL */
		size_t rdlen_at = o + 8;
		o += 10;
		size_t skip;
		int names;
		if (!rdata_names(rr.type, &skip, &names) || rr.rdlen < skip) {
			if (o + rr.rdlen > cap)
				return -ENOSPC;
			memcpy(out + o, pkt + rr.rdata, rr.rdlen);
			o += rr.rdlen;
			wg_put16(out + rdlen_at, rr.rdlen);
		} else {
			size_t start = o, in = rr.rdata, end = rr.rdata + rr.rdlen;
			if (o + skip > cap)
				return -ENOSPC;
			memcpy(out + o, pkt + in, skip);
			o += skip;
			in += skip;
			for (int i = 0; i < names; i++) {
				size_t after = in;
				if (wg_wire_name_skip(pkt, end, &after) < 0 ||
				    (nl = name_read(pkt, len, in, name, 0)) < 0)
					return -EBADMSG;
				if (o + (size_t)nl > cap)
					return -ENOSPC;
				memcpy(out + o, name, (size_t)nl);
				o += (size_t)nl;
				in = after;
			}
			if (o + (end - in) > cap)
				return -ENOSPC;
			memcpy(out + o, pkt + in, end - in); /* SOA's counters, or none */
			o += end - in;
			if (o - start > 0xffff)
				return -ENOSPC;
			wg_put16(out + rdlen_at, (uint16_t)(o - start));
		}
		kept[sec]++;
	}
	if (rc < 0)
		return -EBADMSG;
	wg_put16(out + 6, (uint16_t)kept[0]);
	wg_put16(out + 8, (uint16_t)kept[1]);
	wg_put16(out + 10, (uint16_t)kept[2]);
	*dropped = n;
	return (int)o;
}

const char *wg_wire_type_str(uint16_t type, char *buf, size_t cap)
{
	switch (type) {
	case WG_TYPE_A: return "A";
	case WG_TYPE_NS: return "NS";
	case WG_TYPE_CNAME: return "CNAME";
	case WG_TYPE_SOA: return "SOA";
	case WG_TYPE_PTR: return "PTR";
	case WG_TYPE_HINFO: return "HINFO";
	case 15: return "MX";
	case WG_TYPE_TXT: return "TXT";
	case WG_TYPE_AAAA: return "AAAA";
	case 33: return "SRV";
	case 64: return "SVCB";
	case 65: return "HTTPS";
	case WG_TYPE_ANY: return "ANY";
	default:
		snprintf(buf, cap, "TYPE%u", type);
		return buf;
	}
}

/* The one rcode table: logs, the database rows and wuguardctl. */
static const char *const rcode_names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					  "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					  "NXRRSET", "NOTAUTH", "NOTZONE"};

const char *wg_wire_rcode_name(int rcode, char *buf, size_t cap)
{
	if (rcode >= 0 && (size_t)rcode < sizeof(rcode_names) / sizeof(rcode_names[0]))
		return rcode_names[rcode];
	snprintf(buf, cap, "RCODE%d", rcode);
	return buf;
}

const char *wg_wire_rcode_str(int rcode)
{
	if (rcode >= 0 && (size_t)rcode < sizeof(rcode_names) / sizeof(rcode_names[0]))
		return rcode_names[rcode];
	return "RCODE?";
}
