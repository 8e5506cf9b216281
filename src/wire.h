/* wire.h: allocation-free DNS message helpers for the per-query hot path.
 *
 * Everything here works on caller-owned byte buffers and never allocates.
 * ldns is deliberately not used on this path: it allocates per record. */
#ifndef WG_WIRE_H
#define WG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WG_HDR_LEN 12
#define WG_NAME_MAX 255
#define WG_PKT_MAX 65535
#define WG_UDP_MIN 512
#define WG_EDNS_ADVERTISE 1232 /* bytes: the DNS flag day 2020 value */
#define WG_OPT_LEN 11          /* an OPT RR with no options */

/* header flag bits (second 16-bit word) */
#define WG_F_QR 0x8000
#define WG_F_AA 0x0400
#define WG_F_TC 0x0200
#define WG_F_RD 0x0100
#define WG_F_RA 0x0080
#define WG_F_Z 0x0040
#define WG_F_AD 0x0020
#define WG_F_CD 0x0010
#define WG_OPCODE(f) (((f) >> 11) & 0xf)
#define WG_RCODE(f) ((f)&0xf)

enum {
	WG_RCODE_NOERROR = 0,
	WG_RCODE_FORMERR = 1,
	WG_RCODE_SERVFAIL = 2,
	WG_RCODE_NXDOMAIN = 3,
	WG_RCODE_NOTIMP = 4,
	WG_RCODE_REFUSED = 5,
};

enum {
	WG_CLASS_IN = 1,
	WG_CLASS_CH = 3,
	WG_CLASS_ANY = 255,
};

enum {
	WG_TYPE_A = 1,
	WG_TYPE_NS = 2,
	WG_TYPE_CNAME = 5,
	WG_TYPE_SOA = 6,
	WG_TYPE_PTR = 12,
	WG_TYPE_HINFO = 13,
	WG_TYPE_TXT = 16,
	WG_TYPE_AAAA = 28,
	WG_TYPE_OPT = 41,
	WG_TYPE_RRSIG = 46,
	WG_TYPE_IXFR = 251,
	WG_TYPE_AXFR = 252,
	WG_TYPE_ANY = 255,
};

static inline uint16_t wg_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t wg_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void wg_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void wg_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* What the hot path needs to know about a query, parsed from its bytes. */
struct wg_query_info {
	uint16_t id;
	uint16_t flags;
	uint16_t qtype;
	uint16_t qclass;
	uint16_t qname_len;    /* wire length including the root label */
	uint16_t question_end; /* offset just past the question */
	uint16_t udp_size;     /* client's EDNS buffer size, WG_UDP_MIN without EDNS */
	uint8_t has_edns;
	uint8_t edns_version;
	uint8_t do_bit;
	uint8_t ecs_source;    /* SOURCE PREFIX-LENGTH of the client's own ECS
				* option (RFC 7871), WG_ECS_NONE without one */
	uint8_t qname[WG_NAME_MAX]; /* as received: case preserved */
	uint8_t qname_lc[WG_NAME_MAX]; /* lower-cased copy: cache and set keys */
};

/* Parse header and question of a query.
 * Returns 0; -EMSGSIZE when shorter than a header (drop: nothing to answer
 * with); -EBADMSG when the header is readable but the rest is not (answer
 * FORMERR: also for a QDCOUNT other than 1 and a malformed OPT); -EPROTO
 * for QR=1 (drop: never answer a response); -EOPNOTSUPP for an opcode other
 * than QUERY (answer NOTIMP, header valid). With -EBADMSG and -EOPNOTSUPP
 * qi still holds what could be read for the error reply: the question
 * (question_end != 0) when there is exactly one, and has_edns/do_bit when
 * an OPT was found, even a malformed one. */
int wg_wire_parse_query(const uint8_t *pkt, size_t len, struct wg_query_info *qi);

/* Skip a possibly compressed name starting at *off, bounded by len; pkt is
 * a whole message. On success *off points past the name (past the pointer
 * for a compressed one). Returns 0 or -EBADMSG (overrun, bad label type, a
 * pointer that does not go strictly backwards, points into the header, or
 * to a name that runs on past the pointer). */
int wg_wire_name_skip(const uint8_t *pkt, size_t len, size_t *off);

/* Expand a possibly compressed name into lower-case uncompressed wire form.
 * out must hold WG_NAME_MAX bytes. Returns the wire length or -EBADMSG. */
int wg_wire_name_read(const uint8_t *pkt, size_t len, size_t off, uint8_t *out);

/* Walking the records of a message. wg_wire_iter_init checks and skips the
 * question section; each wg_wire_iter_next then gives the next record of the
 * answer, authority and additional sections, checked to lie wholly inside
 * the message. Every walk over a message's records goes through here. */
struct wg_wire_rr {
	size_t owner;    /* offset of the owner name */
	size_t fixed;    /* offset of TYPE; CLASS, TTL and RDLENGTH follow */
	size_t rdata;    /* offset of the rdata */
	uint32_t ttl;    /* as on the wire */
	uint16_t type;
	uint16_t rclass;
	uint16_t rdlen;
	unsigned index;  /* 0-based over the three sections together */
};

struct wg_wire_iter {
	const uint8_t *pkt; /* borrowed: the whole message */
	size_t len;
	size_t off;         /* the next record; after the last, just past it */
	unsigned index;     /* records given so far */
	unsigned total;     /* how many to give */
};

/* Start at the first record after the question. 0, or -EBADMSG for a
 * message shorter than a header or a question that does not fit. */
int wg_wire_iter_init(struct wg_wire_iter *it, const uint8_t *pkt, size_t len);

/* Start at off, where record number index of total begins (a walk begun
 * past an already parsed question, or resumed). */
void wg_wire_iter_at(struct wg_wire_iter *it, const uint8_t *pkt, size_t len, size_t off,
		     unsigned index, unsigned total);

/* 1 with rr filled; 0 after the last record; -EBADMSG for a record that does
 * not fit (the walk stays there). */
int wg_wire_iter_next(struct wg_wire_iter *it, struct wg_wire_rr *rr);

/* Case-insensitive comparison of two uncompressed wire names; 1 if equal. */
int wg_wire_name_eq(const uint8_t *a, const uint8_t *b);

/* Render an uncompressed wire name as text ("www.example.com."). dst must hold
 * at least 4*WG_NAME_MAX+1 bytes for names with escaped bytes. */
void wg_wire_name_to_str(const uint8_t *name, char *dst, size_t cap);

/* Parse a text name into wire form. Returns the wire length or -EINVAL. */
int wg_wire_name_from_str(const char *s, uint8_t *out);

/* Check that a reply answers our query: QR set, same ID, one question with
 * the same name (case-insensitively), type and class. 0 or -EBADMSG. */
int wg_wire_reply_matches(const uint8_t *reply, size_t len, uint16_t id,
			  const struct wg_query_info *qi);

/* Build an upstream query for qi with the given ID: RD and CD copied from the
 * client, the client's question (case kept), an OPT RR advertising
 * WG_EDNS_ADVERTISE with DO copied. Returns the length or -ENOSPC. */
int wg_wire_build_query(uint8_t *out, size_t cap, const struct wg_query_info *qi, uint16_t id);

struct wg_wire_ttls;

/* EDNS Client Subnet (RFC 7871) as wuguard sends it to a local upstream:
 * the client's whole address (source prefix /32 or /128, scope 0). */
#define WG_ECS_OPT_MAX (4 + 4 + 16) /* option code, length, family..address */
#define WG_ECS_NONE 0xff
struct wg_ecs {
	uint8_t family;   /* 1 IPv4, 2 IPv6 (IANA address family numbers) */
	uint8_t prefix;   /* SOURCE PREFIX-LENGTH sent: 32 or 128, less when
			   * the client asked for less (0: its opt-out) */
	uint8_t addr[16]; /* the whole address (4 or 16 bytes): the cache and
			   * in-flight keys; only prefix bits go on the wire */
};
/* The ECS for a client address (sockaddr_in or sockaddr_in6; an
 * IPv4-mapped IPv6 address counts as IPv4). Returns 0 or -EAFNOSUPPORT. */
int wg_ecs_from_sockaddr(const void *sa, struct wg_ecs *e);
/* The same for a query qi from sa: when the client sent ECS itself, its
 * SOURCE PREFIX-LENGTH bounds what is sent (RFC 7871 7.1.1: the shorter of
 * the two; 0 is the client's opt-out and sends no address bits); its
 * ADDRESS is never used, only the address the query came from. */
int wg_ecs_for_query(const void *sa, const struct wg_query_info *qi, struct wg_ecs *e);
/* wg_wire_build_query with an ECS option in its OPT (ecs NULL: none). */
int wg_wire_build_query_ecs(uint8_t *out, size_t cap, const struct wg_query_info *qi,
			    uint16_t id, const struct wg_ecs *ecs);
/* The SCOPE PREFIX-LENGTH of the reply's ECS option when it answers for
 * ecs (same family, source prefix and address, RFC 7871 7.3); -1 when the
 * reply has no ECS option or one for another address. t: wg_wire_scan of
 * pkt. */
int wg_wire_ecs_scope(const uint8_t *pkt, const struct wg_wire_ttls *t,
		      const struct wg_ecs *ecs);

/* Build an error reply (header + question, + OPT when the query had EDNS,
 * RFC 6891 7). rcode is one of WG_RCODE_*. RD and CD are echoed and RA set,
 * except for NOTIMP, which echoes the opcode and sets no other flag. Returns
 * the length or -ENOSPC. When the question could not be parsed
 * (qi->question_end == 0) only the header is echoed with QDCOUNT 0. */
int wg_wire_build_error(uint8_t *out, size_t cap, const uint8_t *query,
			const struct wg_query_info *qi, int rcode);

/* TTL facts of a reply, for caching and decay. */
#define WG_WIRE_MAX_TTLS 96
struct wg_wire_ttls {
	uint16_t off[WG_WIRE_MAX_TTLS]; /* offsets of TTL fields (OPT excluded) */
	uint16_t n;
	uint16_t opt_off;   /* start of the OPT RR, 0 if none */
	uint16_t opt_len;   /* its full length */
	uint32_t min_ttl;   /* minimum TTL over answer RRs (0 if none) */
	uint32_t neg_ttl;   /* for negative answers: min(SOA TTL, SOA MINIMUM) */
	uint16_t ancount;
	uint8_t has_soa;    /* authority section holds an SOA */
	uint8_t truncated;  /* more TTL fields than WG_WIRE_MAX_TTLS */
	uint16_t ede;       /* first Extended DNS Error info code, 0xffff if none */
	uint16_t ecs_off;   /* start of the first Client Subnet option's data
			     * (RFC 7871: FAMILY onwards), 0 if none */
	uint16_t ecs_len;
	uint16_t end;       /* offset just past the last record: bytes after it
			     * are not part of the message */
};

/* The Extended DNS Error info codes (RFC 8914, option 15) of an OPT RR, one
 * per call: *pos starts at the OPT's rdata, end is rdata + rdlen. Returns
 * the next code, or -1 when no EDE option is left (an option that runs past
 * end ends the walk). The one walk over OPT options; never allocates. */
int wg_wire_opt_next_ede(const uint8_t *pkt, size_t end, size_t *pos);

/* Walk every RR of a reply; fill t. Returns 0 or -EBADMSG (also for an OPT
 * outside the additional section, or a second OPT: RFC 6891 6.1.1). */
int wg_wire_scan(const uint8_t *pkt, size_t len, struct wg_wire_ttls *t);

/* Clamp every TTL (OPT excluded) into [min_ttl, max_ttl]; max_ttl 0 means
 * no upper bound. Returns 0 or -EBADMSG (the packet is unchanged then only
 * up to the bad record). */
int wg_wire_clamp_ttls(uint8_t *pkt, size_t len, uint32_t min_ttl, uint32_t max_ttl);

/* Drop any bytes after the last record (an OPT appended later would land
 * behind them and the client would read them as the OPT), and remove the OPT
 * RR when it is the last record (the normal place). Returns the new length;
 * an OPT that is not last stays. t comes from wg_wire_scan of this packet. */
size_t wg_wire_strip_opt(uint8_t *pkt, size_t len, const struct wg_wire_ttls *t);

/* Append an OPT RR (udp size WG_EDNS_ADVERTISE, DO as given, optionally one
 * EDE option with info code ede, ede < 0 for none). Returns the new length or
 * -ENOSPC. */
int wg_wire_append_opt(uint8_t *pkt, size_t len, size_t cap, int do_bit, int ede);
/* The same, the EDE option carrying EXTRA-TEXT text (RFC 8914 2: UTF-8,
 * not NUL-terminated on the wire; NULL or "" for none). ede is the bare
 * info code (0..65535); a text over 200 bytes is cut there. Returns the
 * new length, -ENOSPC or -EINVAL (ede above 65535). */
int wg_wire_append_opt_text(uint8_t *pkt, size_t len, size_t cap, int do_bit, int ede,
			    const char *text);
/* Bytes wg_wire_append_opt_text adds. */
size_t wg_wire_opt_size(int ede, const char *text);

/* Fit the reply pkt (no OPT) into limit bytes, as RFC 2181 9 asks: whole
 * RRsets of the additional section are left out first, then of the
 * authority section, and TC is not set when the answer section is whole.
 * A negative answer keeps its authority SOA (with dnssec, its whole
 * authority section: the denial proofs); an RRSIG stays with the RRset it
 * follows. When that cannot fit, pkt becomes header + question with TC=1
 * and the other counts zeroed. Returns the new length (len when it already
 * fits; never less than header + question). */
size_t wg_wire_truncate(uint8_t *pkt, size_t len, size_t limit, int dnssec);

/* Records whose class is not the question's (OPT aside; a class ANY
 * question keeps everything) are dropped, as Unbound's scrubber does: a
 * reply to an IN question carrying CH records is not cached or compared
 * with them. When pkt has some, the reply without them is written to out
 * (cap bytes; names in full, since a record kept may have pointed into one
 * dropped), *dropped says how many went, and the new length is returned.
 * Returns 0 when there is nothing to drop (pkt stays as it is; also for a
 * message without exactly one question, left to the caller's checks),
 * -EBADMSG for a record that does not parse, -ENOSPC when out is short. */
int wg_wire_drop_other_class(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap,
			     unsigned *dropped);

/* The one table of type names and the one of rcode names, for logs, the
 * database and wuguardctl alike: "A", "HINFO" ... or "TYPE<n>" written into
 * buf; "NOERROR" ... "NOTZONE" or "RCODE<n>" into buf. wg_wire_rcode_str
 * needs no buffer: "RCODE?" for a code without a name (log lines). */
const char *wg_wire_type_str(uint16_t type, char *buf, size_t cap);
const char *wg_wire_rcode_name(int rcode, char *buf, size_t cap);
const char *wg_wire_rcode_str(int rcode);

#endif
