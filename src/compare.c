/* compare.c: see compare.h.
 *
 * Each reply is first reduced to a fixed-size summary (struct side): outcome,
 * rcode, flags, EDE, the CNAME chain followed from the query name, the set of
 * final records of the query type, SOA and marker facts. The rules of
 * doc/DESIGN.md section 5 then run on the two summaries in order. Parsing uses
 * only the bounded wire.h helpers: no allocation, so this may run on the
 * event loop; the summaries are a few KiB of stack. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "assume.h"
#include "compare.h"
#include "wire.h"

#define MAX_CHAIN 16 /* CNAME hops followed; longer chains are cut */
#define MAX_DATA 32  /* final records kept per side */
#define MAX_RR 128   /* answer records looked at per side */

struct datum {
	uint8_t len; /* 4 (A), 16 (AAAA), 8 (hash of other rdata) */
	uint8_t b[16];
};

struct rr_ref {
	uint16_t owner; /* offset of the owner name */
	uint16_t type;
	uint32_t ttl;
	uint16_t rdata; /* offset of the rdata */
	uint16_t rdlen;
};

struct side {
	enum wg_side_outcome outcome;
	int rcode;           /* -1 without a reply */
	uint16_t flags;
	int ede;             /* as in struct wg_compare_facts */
	uint8_t blocking_ede;
	uint8_t other_ede;
	uint16_t ancount;
	uint8_t chain[MAX_CHAIN + 1][WG_NAME_MAX]; /* [0] is the query name */
	unsigned n_chain;                          /* hops: names in chain - 1 */
	struct datum data[MAX_DATA];
	unsigned n_data;
	uint32_t min_ttl;
	uint8_t have_ttl;
	uint8_t has_soa;
	uint8_t soa_owner[WG_NAME_MAX];
	uint32_t soa_neg_ttl;
	uint8_t hinfo;
	uint8_t rpz_cname;
};

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static size_t wire_len(const uint8_t *name)
{
	size_t i = 0;
	for (;;) {
		uint8_t l = name[i];
		if ((l & 0xc0) || i + l + 1 > WG_NAME_MAX)
			return 0;
		i += (size_t)l + 1;
		if (l == 0)
			return i;
	}
}

/* ---- address classification ---- */

int wg_compare_ede_is_blocking(int ede)
{
	/* RFC 8914: 4 Forged Answer, 15 Blocked, 16 Censored, 17 Filtered,
	 * 18 Prohibited */
	return ede == 4 || ede == 15 || ede == 16 || ede == 17 || ede == 18;
}

static int v4_public(const uint8_t *a)
{
	/* RFC 6890 special-purpose ranges. The documentation ranges
	 * (192.0.2/24, 198.51.100/24, 203.0.113/24) count as public: they never
	 * occur in real answers, and tests use them for "real" addresses. */
	if (a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224)
		return 0;
	if (a[0] == 100 && (a[1] & 0xc0) == 64)
		return 0;
	if (a[0] == 169 && a[1] == 254)
		return 0;
	if (a[0] == 172 && (a[1] & 0xf0) == 16)
		return 0;
	if (a[0] == 192 && a[1] == 168)
		return 0;
	if (a[0] == 192 && a[1] == 0 && a[2] == 0)
		return 0;
	if (a[0] == 198 && (a[1] & 0xfe) == 18)
		return 0;
	return 1;
}

int wg_compare_addr_is_public(const uint8_t *addr, size_t alen)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t zero[16];
	if (alen == 4)
		return v4_public(addr);
	if (alen != 16)
		return 0;
	if (memcmp(addr, mapped, 12) == 0)
		return v4_public(addr + 12);
	if (memcmp(addr, zero, 15) == 0)
		return 0; /* :: and ::1 */
	if ((addr[0] & 0xfe) == 0xfc || addr[0] == 0xff)
		return 0; /* ULA, multicast */
	if (addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80)
		return 0; /* link-local */
	if (addr[0] == 0x01 && addr[1] == 0 && memcmp(addr + 2, zero, 6) == 0)
		return 0; /* 100::/64 discard-only */
	return 1;
}

/* The null answers every blocker uses; recognised even with an empty list:
 * 0.0.0.0/8, 127/8, :: and ::1 (also IPv4-mapped). */
static int is_null_addr(const uint8_t *a, size_t alen)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t zero[16];
	if (alen == 16 && memcmp(a, mapped, 12) == 0) {
		a += 12;
		alen = 4;
	}
	if (alen == 4)
		return a[0] == 0 || a[0] == 127;
	return alen == 16 && memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1);
}

/* ---- parsing one reply into a summary ---- */

static void ttl_min(struct side *s, uint32_t ttl)
{
	if (ttl > 0x7fffffffu)
		ttl = 0; /* RFC 2181 8 */
	if (!s->have_ttl || ttl < s->min_ttl)
		s->min_ttl = ttl;
	s->have_ttl = 1;
}

static uint64_t fnv64(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void add_datum(struct side *s, const uint8_t *b, uint8_t len)
{
	for (unsigned i = 0; i < s->n_data; i++)
		if (s->data[i].len == len && memcmp(s->data[i].b, b, len) == 0)
			return; /* a set: duplicates collapse */
	if (s->n_data >= MAX_DATA)
		return;
	s->data[s->n_data].len = len;
	memcpy(s->data[s->n_data].b, b, len);
	s->n_data++;
}

/* Is anc (wire, lower case) equal to name or one of its ancestors? */
static int is_ancestor(const uint8_t *anc, const uint8_t *name)
{
	size_t al = wire_len(anc), nl = wire_len(name);
	if (!al || !nl || al > nl)
		return 0;
	size_t off = 0;
	for (;;) {
		if (nl - off == al)
			return memcmp(name + off, anc, al) == 0;
		if (name[off] == 0)
			return 0;
		off += (size_t)name[off] + 1;
	}
}

static void parse_side(const struct wg_compare_side *in, const uint8_t *qname, uint16_t qtype,
		       struct side *s)
{
	memset(s, 0, sizeof(*s));
	s->rcode = -1;
	s->ede = -1;
	memcpy(s->chain[0], qname, wire_len(qname));

	if (in->status == WG_SIDE_TIMEOUT) {
		s->outcome = WG_OUT_TIMEOUT;
		return;
	}
	if (in->status != WG_SIDE_OK || !in->reply) {
		s->outcome = WG_OUT_ERROR;
		return;
	}
	const uint8_t *p = in->reply;
	size_t len = in->len;
	if (len < WG_HDR_LEN || !(wg_get16(p + 2) & WG_F_QR)) {
		s->outcome = WG_OUT_MALFORMED;
		return;
	}
	s->flags = wg_get16(p + 2);
	s->rcode = WG_RCODE(s->flags);
	if (s->flags & WG_F_TC) {
		s->outcome = WG_OUT_TRUNCATED;
		return;
	}
	unsigned an = wg_get16(p + 6), ns = wg_get16(p + 8);
	s->ancount = (uint16_t)an;
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	int rc;
	if (wg_wire_iter_init(&it, p, len) < 0)
		goto bad;
	/* the question's class: records of another are not data (the
	 * upstream clients drop them already; this keeps the rule here) */
	uint16_t qclass = wg_get16(p + 4) == 1 ? wg_get16(p + it.off - 2) : WG_CLASS_IN;

	struct rr_ref rrs[MAX_RR];
	unsigned n_rr = 0;
	while ((rc = wg_wire_iter_next(&it, &rr)) > 0) {
		size_t start = rr.owner, rd = rr.rdata;
		uint16_t type = rr.type, rdlen = rr.rdlen;
		uint32_t ttl = rr.ttl;
		unsigned i = rr.index;
		if (type != WG_TYPE_OPT && rr.rclass != qclass && qclass != WG_CLASS_ANY)
			continue;
		if (i < an) {
			if (n_rr < MAX_RR) {
				rrs[n_rr].owner = (uint16_t)start;
				rrs[n_rr].type = type;
				rrs[n_rr].ttl = ttl;
				rrs[n_rr].rdata = (uint16_t)rd;
				rrs[n_rr].rdlen = rdlen;
				n_rr++;
			}
			if (type == WG_TYPE_HINFO && qtype != WG_TYPE_HINFO)
				s->hinfo = 1;
		} else if (i < an + ns) {
			if (type == WG_TYPE_SOA && !s->has_soa) {
				if (wg_wire_name_read(p, len, start, s->soa_owner) < 0)
					goto bad;
				/* MINIMUM is the last 4 bytes of the SOA rdata */
				if (rdlen >= 22) {
					uint32_t mn = wg_get32(p + rd + rdlen - 4);
					if (ttl > 0x7fffffffu)
						ttl = 0;
					s->soa_neg_ttl = mn < ttl ? mn : ttl;
				}
				s->has_soa = 1;
			}
		} else if (type == WG_TYPE_OPT) {
			size_t q = rd;
			int ede;
			while ((ede = wg_wire_opt_next_ede(p, rd + rdlen, &q)) >= 0) {
				/* a blocking code wins over any other as the side's EDE */
				if (wg_compare_ede_is_blocking(ede)) {
					if (!s->blocking_ede)
						s->ede = ede;
					s->blocking_ede = 1;
				} else {
					if (s->ede < 0)
						s->ede = ede;
					s->other_ede = 1;
				}
			}
		}
	}
	if (rc < 0)
		goto bad;

	/* follow the CNAME chain from the query name */
	uint8_t owner[WG_NAME_MAX];
	if (qtype != WG_TYPE_CNAME) {
		while (s->n_chain < MAX_CHAIN) {
			const uint8_t *cur = s->chain[s->n_chain];
			int found = 0;
			for (unsigned i = 0; i < n_rr; i++) {
				if (rrs[i].type != WG_TYPE_CNAME)
					continue;
				if (wg_wire_name_read(p, len, rrs[i].owner, owner) < 0)
					goto bad;
				if (!wg_wire_name_eq(owner, cur))
					continue;
				uint8_t *next = s->chain[s->n_chain + 1];
				if (wg_wire_name_read(p, len, rrs[i].rdata, next) < 0)
					goto bad;
				ttl_min(s, rrs[i].ttl);
				/* RPZ policy encodings leaking through: "CNAME ."
				 * (NXDOMAIN) and "CNAME *." (NODATA) */
				if (next[0] == 0 || (next[0] == 1 && next[1] == '*'))
					s->rpz_cname = 1;
				s->n_chain++;
				found = 1;
				break;
			}
			if (!found)
				break;
		}
	}
	const uint8_t *final = s->chain[s->n_chain];
	for (unsigned i = 0; i < n_rr; i++) {
		if (rrs[i].type != qtype)
			continue;
		if (wg_wire_name_read(p, len, rrs[i].owner, owner) < 0)
			goto bad;
		if (!wg_wire_name_eq(owner, final))
			continue;
		ttl_min(s, rrs[i].ttl);
		if (qtype == WG_TYPE_A && rrs[i].rdlen == 4) {
			add_datum(s, p + rrs[i].rdata, 4);
		} else if (qtype == WG_TYPE_AAAA && rrs[i].rdlen == 16) {
			add_datum(s, p + rrs[i].rdata, 16);
		} else if (qtype != WG_TYPE_A && qtype != WG_TYPE_AAAA) {
			uint8_t h[8];
			uint64_t v = fnv64(p + rrs[i].rdata, rrs[i].rdlen);
			for (int k = 0; k < 8; k++)
				h[k] = (uint8_t)(v >> (56 - 8 * k));
			add_datum(s, h, 8);
		}
	}
	if (!s->have_ttl && s->has_soa) {
		s->min_ttl = s->soa_neg_ttl;
		s->have_ttl = 1;
	}
	s->outcome = WG_OUT_ANSWER;
	return;
bad:
	s->outcome = WG_OUT_MALFORMED;
	s->n_chain = 0;
	s->n_data = 0;
	s->hinfo = s->rpz_cname = 0;
}

/* ---- per-side predicates ---- */

static int side_has_datum(const struct side *s, const struct datum *d)
{
	for (unsigned i = 0; i < s->n_data; i++)
		if (s->data[i].len == d->len && memcmp(s->data[i].b, d->b, d->len) == 0)
			return 1;
	return 0;
}

static int is_addr(const struct datum *d)
{
	return d->len == 4 || d->len == 16;
}

/* A usable answer: parsed, NOERROR or NXDOMAIN. */
static int answered(const struct side *s)
{
	return s->outcome == WG_OUT_ANSWER &&
	       (s->rcode == WG_RCODE_NOERROR || s->rcode == WG_RCODE_NXDOMAIN);
}

/* The name exists on this side with something in the answer section. */
static int has_answer(const struct side *s)
{
	return answered(s) && s->rcode == WG_RCODE_NOERROR && (s->n_data > 0 || s->n_chain > 0);
}

static int has_data(const struct side *s)
{
	return answered(s) && s->rcode == WG_RCODE_NOERROR && s->n_data > 0;
}

/* NXDOMAIN, or NOERROR without a record of the type */
static int is_empty(const struct side *s)
{
	return answered(s) && s->n_data == 0;
}

static int chain_in_set(const struct side *s, const struct wg_domainset *set, int from)
{
	if (!set)
		return 0;
	for (unsigned i = (unsigned)from; i <= s->n_chain; i++)
		if (wg_domainset_match_wire(set, s->chain[i]))
			return 1;
	return 0;
}

/* Sinkhole evidence on side s; other (may be NULL) is the other side, whose
 * addresses clear a bogon. Sets WG_CMP_R_* bits; returns them. */
static uint32_t sinkhole_reasons(const struct side *s, const struct side *other,
				 const struct wg_compare_ctx *ctx, int check_sanctioned)
{
	uint32_t r = 0;
	if (s->outcome != WG_OUT_ANSWER)
		return 0;
	for (unsigned i = 0; i < s->n_data; i++) {
		const struct datum *d = &s->data[i];
		if (!is_addr(d))
			continue;
		if (check_sanctioned && ctx && wg_addrlist_match(ctx->sanctioned_addrs, d->b, d->len) >= 0)
			continue;
		int idx = ctx ? wg_addrlist_match(ctx->sinkhole_addrs, d->b, d->len) : -1;
		if (is_null_addr(d->b, d->len) || (idx >= 0 && !ctx->sinkhole_addrs->v[idx].bogon)) {
			r |= WG_CMP_R_SINKHOLE_ADDR;
		} else if (idx >= 0 || !wg_compare_addr_is_public(d->b, d->len)) {
			/* a bogon: a sinkhole only when the other side has data
			 * and did not return it too */
			if (!other || (has_data(other) && !side_has_datum(other, d)))
				r |= WG_CMP_R_BOGON_ADDR;
		}
	}
	if (ctx && chain_in_set(s, ctx->sinkhole_names, 1))
		r |= WG_CMP_R_SINKHOLE_NAME;
	if (s->rpz_cname)
		r |= WG_CMP_R_RPZ_CNAME;
	if (s->hinfo)
		r |= WG_CMP_R_HINFO_BLOCK;
	if (s->blocking_ede)
		r |= WG_CMP_R_BLOCKING_EDE;
	return r;
}

#define UNMISTAKABLE_BITS                                                      \
	(WG_CMP_R_SINKHOLE_ADDR | WG_CMP_R_SINKHOLE_NAME | WG_CMP_R_RPZ_CNAME |  \
	 WG_CMP_R_HINFO_BLOCK | WG_CMP_R_BLOCKING_EDE)

/* ---- text facts ---- */

static void append(char *dst, size_t cap, size_t *n, const char *s)
{
	size_t l = strlen(s);
	if (*n + l + 1 > cap) {
		/* mark the cut so a reader knows the text is incomplete */
		if (cap >= 4 && *n + 4 <= cap) {
			memcpy(dst + *n, "...", 3);
			*n += 3;
		}
		dst[*n] = 0;
		return;
	}
	memcpy(dst + *n, s, l);
	*n += l;
	dst[*n] = 0;
}

static void fill_facts(const struct side *s, struct wg_compare_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->outcome = (uint8_t)s->outcome;
	f->rcode = (int8_t)s->rcode;
	f->flags = s->flags;
	f->ede = s->ede;
	f->min_ttl = s->have_ttl ? s->min_ttl : 0;
	f->n_chain = (uint16_t)s->n_chain;
	f->n_data = (uint16_t)s->n_data;
	f->ancount = s->ancount;
	f->has_soa = s->has_soa;
	size_t n = 0;
	char buf[4 * WG_NAME_MAX + 1];
	for (unsigned i = 0; s->n_chain && i <= s->n_chain; i++) {
		if (i)
			append(f->chain, sizeof(f->chain), &n, " -> ");
		wg_wire_name_to_str(s->chain[i], buf, sizeof(buf));
		append(f->chain, sizeof(f->chain), &n, buf);
	}
	n = 0;
	for (unsigned i = 0; i < s->n_data; i++) {
		const struct datum *d = &s->data[i];
		char a[INET6_ADDRSTRLEN + 1];
		if (d->len == 4)
			inet_ntop(AF_INET, d->b, a, sizeof(a));
		else if (d->len == 16)
			inet_ntop(AF_INET6, d->b, a, sizeof(a));
		else
			snprintf(a, sizeof(a), "#%02x%02x%02x%02x", d->b[0], d->b[1], d->b[2],
				 d->b[3]);
		if (i)
			append(f->addrs, sizeof(f->addrs), &n, " ");
		append(f->addrs, sizeof(f->addrs), &n, a);
	}
}

/* ---- the rules ---- */

static void set_verdict(struct wg_compare_result *out, enum wg_compare_category c,
			enum wg_compare_severity sev, enum wg_compare_hint h)
{
	out->category = c;
	out->severity = sev;
	out->hint = h;
}

static int lc_name(const uint8_t *in, uint8_t *out)
{
	size_t l = wire_len(in);
	if (!l)
		return -EINVAL;
	for (size_t i = 0; i < l; i++)
		out[i] = lc(in[i]);
	return 0;
}

static void judge(const struct wg_compare_input *in, const struct wg_compare_ctx *ctx,
		  const struct side *L, const struct side *P, struct wg_compare_result *out)
{
	uint32_t r = 0;

	if (L->outcome == WG_OUT_TRUNCATED)
		r |= WG_CMP_R_LOCAL_TRUNCATED;
	if (P->outcome == WG_OUT_TRUNCATED)
		r |= WG_CMP_R_PUBLIC_TRUNCATED;
	if (L->outcome == WG_OUT_MALFORMED)
		r |= WG_CMP_R_LOCAL_MALFORMED;
	if (P->outcome == WG_OUT_MALFORMED)
		r |= WG_CMP_R_PUBLIC_MALFORMED;

	/* markers: recorded, never deciding */
	if (L->outcome == WG_OUT_ANSWER && L->rcode == WG_RCODE_NXDOMAIN && !(L->flags & WG_F_RA))
		r |= WG_CMP_R_NXDOMAIN_NO_RA;
	if (P->outcome == WG_OUT_ANSWER && P->rcode == WG_RCODE_NXDOMAIN && !(P->flags & WG_F_RA))
		r |= WG_CMP_R_PUBLIC_NXDOMAIN_NO_RA;
	if (L->outcome == WG_OUT_ANSWER && L->has_soa && !is_ancestor(L->soa_owner, L->chain[0]) &&
	    !is_ancestor(L->soa_owner, L->chain[L->n_chain]))
		r |= WG_CMP_R_SOA_NOT_ANCESTOR;
	if (L->have_ttl && P->have_ttl && L->min_ttl >= 1 && L->min_ttl <= 60 &&
	    P->min_ttl > L->min_ttl)
		r |= WG_CMP_R_TTL_ANOMALY;
	if (P->outcome == WG_OUT_ANSWER && (P->flags & WG_F_AD))
		r |= WG_CMP_R_PUBLIC_AD;
	if (L->other_ede)
		r |= WG_CMP_R_NON_BLOCKING_EDE;

	uint32_t lsink = sinkhole_reasons(L, P, ctx, 0);
	uint32_t psink = sinkhole_reasons(P, NULL, ctx, 0) & UNMISTAKABLE_BITS;
	int l_unmistakable = (lsink & UNMISTAKABLE_BITS) != 0;
	if (l_unmistakable)
		r |= WG_CMP_R_UNMISTAKABLE;

	/* REFUSED is a local answer (a policy), not a failure */
	int l_fail = !(answered(L) || (L->outcome == WG_OUT_ANSWER && L->rcode == WG_RCODE_REFUSED));
	int p_fail = !answered(P);

	/* 1. both-fail */
	if (l_fail && p_fail) {
		out->reasons = r;
		set_verdict(out, WG_CMP_BOTH_FAIL, WG_SEV_LOW, WG_HINT_SERVE_LOCAL);
		return;
	}
	/* 2. public-unavailable: no reference to judge against */
	if (p_fail || psink) {
		if (psink)
			r |= WG_CMP_R_PUBLIC_FILTERED;
		out->reasons = r | lsink;
		if (l_unmistakable)
			set_verdict(out, WG_CMP_PUBLIC_UNAVAILABLE, WG_SEV_HIGH, WG_HINT_SERVE_STALE);
		else
			set_verdict(out, WG_CMP_PUBLIC_UNAVAILABLE, WG_SEV_LOW, WG_HINT_SERVE_LOCAL);
		return;
	}
	/* 3. sanctioned */
	if (ctx) {
		uint32_t sr = 0;
		if (has_data(L)) {
			for (unsigned i = 0; i < L->n_data; i++)
				if (wg_addrlist_match(ctx->sanctioned_addrs, L->data[i].b,
						      L->data[i].len) >= 0)
					sr |= WG_CMP_R_SANCTIONED_ADDR;
			if (chain_in_set(L, ctx->sanctioned_names, 0))
				sr |= WG_CMP_R_SANCTIONED_NAME;
		}
		int l_blockish = L->outcome == WG_OUT_TIMEOUT ||
				 (L->outcome == WG_OUT_ANSWER &&
				  (L->rcode == WG_RCODE_NXDOMAIN || L->rcode == WG_RCODE_REFUSED ||
				   (L->rcode == WG_RCODE_NOERROR && L->n_data == 0))) ||
				 lsink != 0;
		if (l_blockish && chain_in_set(L, ctx->sanctioned_blocks, 0))
			sr |= WG_CMP_R_SANCTIONED_BLOCK;
		if (sr) {
			out->reasons = r | sr | lsink;
			set_verdict(out, WG_CMP_SANCTIONED, WG_SEV_INFO, WG_HINT_SERVE_LOCAL);
			return;
		}
	}
	out->reasons = r | lsink;
	/* 4. local-timeout */
	if (L->outcome == WG_OUT_TIMEOUT) {
		set_verdict(out, WG_CMP_LOCAL_TIMEOUT, WG_SEV_MEDIUM, WG_HINT_SERVE_PUBLIC);
		return;
	}
	/* 5. blocked-ede */
	if (L->blocking_ede) {
		set_verdict(out, WG_CMP_BLOCKED_EDE, WG_SEV_HIGH, WG_HINT_SERVE_PUBLIC);
		return;
	}
	/* 6. sinkhole */
	if (lsink & (WG_CMP_R_SINKHOLE_ADDR | WG_CMP_R_BOGON_ADDR | WG_CMP_R_SINKHOLE_NAME |
		     WG_CMP_R_RPZ_CNAME | WG_CMP_R_HINFO_BLOCK)) {
		set_verdict(out, WG_CMP_SINKHOLE, WG_SEV_HIGH, WG_HINT_SERVE_PUBLIC);
		return;
	}
	/* 7. blocked-rcode: a REFUSED is a refusal whatever P says; an
	 * NXDOMAIN only when P shows the name exists */
	if (L->outcome == WG_OUT_ANSWER &&
	    ((L->rcode == WG_RCODE_NXDOMAIN && has_answer(P)) || L->rcode == WG_RCODE_REFUSED)) {
		set_verdict(out, WG_CMP_BLOCKED_RCODE, has_answer(P) ? WG_SEV_HIGH : WG_SEV_MEDIUM,
			    WG_HINT_SERVE_PUBLIC);
		return;
	}
	/* 8. local-servfail: SERVFAIL or any other unusable local reply, while
	 * P answered (P is the better answer even when it is negative) */
	if (l_fail) {
		set_verdict(out, WG_CMP_LOCAL_SERVFAIL, WG_SEV_MEDIUM, WG_HINT_SERVE_PUBLIC);
		return;
	}
	/* 9. aaaa-suppressed, 10. nodata */
	if (L->rcode == WG_RCODE_NOERROR && L->n_data == 0 && has_data(P)) {
		if (in->qtype == WG_TYPE_AAAA && in->a_agree == 1)
			set_verdict(out, WG_CMP_AAAA_SUPPRESSED, WG_SEV_INFO, WG_HINT_SERVE_LOCAL);
		else
			set_verdict(out, WG_CMP_NODATA, WG_SEV_HIGH, WG_HINT_SERVE_PUBLIC);
		return;
	}
	/* 11. match */
	if (is_empty(L) && is_empty(P)) {
		set_verdict(out, WG_CMP_MATCH, WG_SEV_INFO, WG_HINT_SERVE_LOCAL);
		return;
	}
	unsigned shared = 0;
	for (unsigned i = 0; i < L->n_data; i++)
		shared += side_has_datum(P, &L->data[i]) ? 1 : 0;
	if (shared) {
		if (shared != L->n_data || shared != P->n_data)
			out->reasons |= WG_CMP_R_PARTIAL_OVERLAP;
		set_verdict(out, WG_CMP_MATCH, WG_SEV_INFO, WG_HINT_SERVE_LOCAL);
		return;
	}
	if (has_data(L) && has_data(P)) {
		/* 12. cdn-variance */
		int l_public = 1;
		for (unsigned i = 0; i < L->n_data; i++)
			if (is_addr(&L->data[i]) &&
			    !wg_compare_addr_is_public(L->data[i].b, L->data[i].len))
				l_public = 0;
		uint32_t cr = 0;
		for (unsigned i = 1; i <= L->n_chain && !(cr & WG_CMP_R_SHARED_CHAIN); i++)
			for (unsigned k = 1; k <= P->n_chain; k++)
				if (wg_wire_name_eq(L->chain[i], P->chain[k])) {
					cr |= WG_CMP_R_SHARED_CHAIN;
					break;
				}
		if (ctx && chain_in_set(L, ctx->cdn_suffixes, 1))
			cr |= WG_CMP_R_CDN_SUFFIX;
		/* different addresses alone are never a rewrite: with no chain
		 * on either side, the authority itself varies its answer */
		if (L->n_chain == 0 && P->n_chain == 0)
			cr |= WG_CMP_R_BARE_BOTH;
		if (L->n_chain == 0 && P->n_chain > 0)
			cr |= WG_CMP_R_BARE_VS_CHAIN;
		out->reasons |= cr;
		if (l_public && (cr & (WG_CMP_R_SHARED_CHAIN | WG_CMP_R_CDN_SUFFIX | WG_CMP_R_BARE_BOTH))) {
			set_verdict(out, WG_CMP_CDN_VARIANCE, WG_SEV_LOW, WG_HINT_SERVE_LOCAL);
			return;
		}
		/* 13. rewrite */
		set_verdict(out, WG_CMP_REWRITE, WG_SEV_HIGH, WG_HINT_SERVE_PUBLIC);
		return;
	}
	/* 14. local-extra: P has nothing, L has data */
	if (has_data(L) && is_empty(P)) {
		set_verdict(out, WG_CMP_LOCAL_EXTRA, WG_SEV_LOW, WG_HINT_SERVE_LOCAL);
		return;
	}
	/* unreachable with the rules above; the safe default */
	set_verdict(out, WG_CMP_MATCH, WG_SEV_INFO, WG_HINT_SERVE_LOCAL);
}

int wg_compare(const struct wg_compare_input *in, const struct wg_compare_ctx *ctx,
	       struct wg_compare_result *out)
{
	memset(out, 0, sizeof(*out));
	uint8_t qname[WG_NAME_MAX];
	if (!in || !in->qname || lc_name(in->qname, qname) < 0) {
		out->category = WG_CMP_BOTH_FAIL;
		out->severity = WG_SEV_LOW;
		out->hint = WG_HINT_SERVE_LOCAL;
		out->local.rcode = out->public_.rcode = -1;
		out->local.ede = out->public_.ede = -1;
		return -EINVAL;
	}
	struct side L, P;
	parse_side(&in->local, qname, in->qtype, &L);
	parse_side(&in->public_, qname, in->qtype, &P);
	out->qtype = in->qtype;
	judge(in, ctx, &L, &P, out);
	fill_facts(&L, &out->local);
	fill_facts(&P, &out->public_);
	return 0;
}

int wg_compare_reply_looks_clean(const uint8_t *reply, size_t len, const uint8_t *qname,
				 uint16_t qtype, const struct wg_compare_ctx *ctx)
{
	uint8_t q[WG_NAME_MAX];
	if (!reply || !qname || lc_name(qname, q) < 0)
		return 0;
	struct wg_compare_side in = {WG_SIDE_OK, reply, len};
	struct side s;
	parse_side(&in, q, qtype, &s);
	if (s.outcome != WG_OUT_ANSWER || s.rcode != WG_RCODE_NOERROR || s.n_data == 0)
		return 0;
	if (ctx && chain_in_set(&s, ctx->sanctioned_names, 0))
		return !s.blocking_ede;
	/* no second side: a bogon counts against the reply (other == NULL) */
	return sinkhole_reasons(&s, NULL, ctx, 1) == 0;
}

int wg_compare_reply_is_nodata(const uint8_t *reply, size_t len, const uint8_t *qname,
			       uint16_t qtype)
{
	uint8_t q[WG_NAME_MAX];
	if (!reply || !qname || lc_name(qname, q) < 0)
		return 0;
	struct wg_compare_side in = {WG_SIDE_OK, reply, len};
	struct side s;
	parse_side(&in, q, qtype, &s);
	return s.outcome == WG_OUT_ANSWER && s.rcode == WG_RCODE_NOERROR && s.n_data == 0;
}

int wg_compare_public_suspect(const uint8_t *reply, size_t len, const uint8_t *qname,
			      uint16_t qtype, const struct wg_compare_ctx *ctx)
{
	uint8_t q[WG_NAME_MAX];
	if (!reply || !qname || lc_name(qname, q) < 0)
		return WG_PUB_CLEAN;
	struct wg_compare_side in = {WG_SIDE_OK, reply, len};
	struct side s;
	parse_side(&in, q, qtype, &s);
	if (s.outcome != WG_OUT_ANSWER)
		return WG_PUB_CLEAN;
	/* the same marks that make judge() call a public answer filtered */
	if (sinkhole_reasons(&s, NULL, ctx, 0) & UNMISTAKABLE_BITS)
		return WG_PUB_FILTERED;
	if (s.rcode == WG_RCODE_NXDOMAIN || s.rcode == WG_RCODE_REFUSED)
		return WG_PUB_NEGATIVE;
	return WG_PUB_CLEAN;
}

static const char *const category_names[] = {
	"both-fail", "public-unavailable", "sanctioned", "local-timeout", "blocked-ede",
	"sinkhole",  "blocked-rcode",      "local-servfail", "aaaa-suppressed", "nodata",
	"match",     "cdn-variance",       "rewrite",        "local-extra",
};
_Static_assert(WG_NELEM(category_names) == WG_CMP__COUNT, "a name per category, in enum order");

const char *wg_compare_category_name(enum wg_compare_category c)
{
	return (unsigned)c < WG_CMP__COUNT ? category_names[c] : "?";
}

int wg_compare_category_parse(const char *s)
{
	for (int i = 0; i < WG_CMP__COUNT; i++)
		if (strcmp(s, category_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *wg_compare_severity_name(enum wg_compare_severity s)
{
	static const char *const n[] = {"info", "low", "medium", "high"};
	_Static_assert(WG_NELEM(n) == WG_SEV_HIGH + 1, "a name per severity");
	return (unsigned)s < WG_NELEM(n) ? n[s] : "?";
}

const char *wg_compare_hint_name(enum wg_compare_hint h)
{
	static const char *const n[] = {"serve-local", "serve-public", "serve-stale"};
	_Static_assert(WG_NELEM(n) == WG_HINT_SERVE_STALE + 1, "a name per hint");
	return (unsigned)h < WG_NELEM(n) ? n[h] : "?";
}

const char *wg_compare_outcome_name(enum wg_side_outcome o)
{
	static const char *const n[] = {"answer", "timeout", "error", "truncated", "malformed"};
	_Static_assert(WG_NELEM(n) == WG_OUT_MALFORMED + 1, "a name per outcome");
	return (unsigned)o < WG_NELEM(n) ? n[o] : "?";
}
