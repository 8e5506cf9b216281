/* compare.h: judge a local answer against a public answer (doc/DESIGN.md 5).
 *
 * Pure: no I/O, no allocation, no globals; the same inputs always give the
 * same verdict. Replies are parsed with the bounded wire helpers, so a hostile
 * reply can only make a side "malformed".
 *
 * Normalisation: A and AAAA are judged separately (one call per type); a
 * truncated reply (TC=1) is never judged (the side becomes an error with the
 * TRUNCATED reason: the caller should have retried over TCP); the CNAME chain
 * is followed from the query name, case-insensitively; the final records of
 * the query type are compared as sets (order, TTL, case ignored). Types other
 * than A and AAAA are compared by their rdata bytes.
 *
 * Then the first matching rule wins, in the order of enum wg_compare_category.
 * Extra markers (NXDOMAIN with RA=0, RPZ-style SOA, TTL anomaly, public AD
 * bit, HINFO block) are recorded in the reasons without deciding anything. */
#ifndef WG_COMPARE_H
#define WG_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "domainset.h"
#include "netaddr.h"

/* The verdict, in rule order (the first rule that matches wins). */
enum wg_compare_category {
	WG_CMP_BOTH_FAIL = 0,          /* L and P both failed */
	WG_CMP_PUBLIC_UNAVAILABLE = 1, /* P failed or looks filtered itself */
	WG_CMP_SANCTIONED = 2,         /* an admin-sanctioned rewrite or block */
	WG_CMP_LOCAL_TIMEOUT = 3,      /* L timed out, P answered */
	WG_CMP_BLOCKED_EDE = 4,        /* L carries EDE 4, 15, 16, 17 or 18 */
	WG_CMP_SINKHOLE = 5,           /* L points at a sinkhole address or name */
	WG_CMP_BLOCKED_RCODE = 6,      /* L NXDOMAIN/REFUSED, P has data */
	WG_CMP_LOCAL_SERVFAIL = 7,     /* L SERVFAIL (or unusable), P answered */
	WG_CMP_AAAA_SUPPRESSED = 8,    /* AAAA: L NODATA, P has data, A agrees */
	WG_CMP_NODATA = 9,             /* L NODATA, P has data */
	WG_CMP_MATCH = 10,             /* shared address, or both empty */
	WG_CMP_CDN_VARIANCE = 11,      /* different public edges of one CDN */
	WG_CMP_REWRITE = 12,           /* L points somewhere else */
	WG_CMP_LOCAL_EXTRA = 13,       /* P empty, L has data (split horizon) */
	WG_CMP__COUNT
};

enum wg_compare_severity {
	WG_SEV_INFO = 0,
	WG_SEV_LOW = 1,
	WG_SEV_MEDIUM = 2,
	WG_SEV_HIGH = 3,
};

/* What the repair mode should serve (doc/DESIGN.md 5, last column). */
enum wg_compare_hint {
	WG_HINT_SERVE_LOCAL = 0,
	WG_HINT_SERVE_PUBLIC = 1,
	WG_HINT_SERVE_STALE = 2, /* P unavailable and L an unmistakable
				  * sinkhole: a stale good answer, else SERVFAIL */
};

/* How an exchange with one upstream ended, as the caller saw it. */
enum wg_side_status {
	WG_SIDE_OK = 0,      /* a reply arrived (reply/len hold it) */
	WG_SIDE_TIMEOUT = 1, /* no reply within the timeout */
	WG_SIDE_ERROR = 2,   /* network error, no usable reply */
};

/* What compare made of one side (struct wg_compare_facts.outcome). */
enum wg_side_outcome {
	WG_OUT_ANSWER = 0,    /* parsed; see rcode */
	WG_OUT_TIMEOUT = 1,
	WG_OUT_ERROR = 2,
	WG_OUT_TRUNCATED = 3, /* TC=1: not judged */
	WG_OUT_MALFORMED = 4, /* unparsable bytes */
};

/* reasons: evidence and markers, a bitmask */
#define WG_CMP_R_NXDOMAIN_NO_RA (1u << 0)  /* L NXDOMAIN with RA=0 (Quad9/RPZ) */
#define WG_CMP_R_SOA_NOT_ANCESTOR (1u << 1) /* L authority SOA not above qname */
#define WG_CMP_R_TTL_ANOMALY (1u << 2)     /* L min TTL 1-60 s, P's larger */
#define WG_CMP_R_PUBLIC_AD (1u << 3)       /* P had the AD bit */
#define WG_CMP_R_HINFO_BLOCK (1u << 4)     /* L answered HINFO (dnscrypt-proxy) */
#define WG_CMP_R_RPZ_CNAME (1u << 5)       /* L CNAME to "." or "*." */
#define WG_CMP_R_SINKHOLE_ADDR (1u << 6)   /* L address in the sinkhole set */
#define WG_CMP_R_BOGON_ADDR (1u << 7)      /* L bogon P did not return */
#define WG_CMP_R_SINKHOLE_NAME (1u << 8)   /* L chain name in the sinkhole set */
#define WG_CMP_R_BLOCKING_EDE (1u << 9)    /* L EDE 4/15/16/17/18 */
#define WG_CMP_R_SHARED_CHAIN (1u << 10)   /* the chains share a name */
#define WG_CMP_R_CDN_SUFFIX (1u << 11)     /* L chain into a known CDN */
#define WG_CMP_R_BARE_VS_CHAIN (1u << 12)  /* L bare address, P a CNAME chain */
#define WG_CMP_R_PARTIAL_OVERLAP (1u << 13) /* some addresses shared, not all */
#define WG_CMP_R_LOCAL_TRUNCATED (1u << 14)
#define WG_CMP_R_PUBLIC_TRUNCATED (1u << 15)
#define WG_CMP_R_LOCAL_MALFORMED (1u << 16)
#define WG_CMP_R_PUBLIC_MALFORMED (1u << 17)
#define WG_CMP_R_PUBLIC_FILTERED (1u << 18) /* P itself looks blocked */
#define WG_CMP_R_UNMISTAKABLE (1u << 19)   /* L is an unmistakable sinkhole */
#define WG_CMP_R_SANCTIONED_ADDR (1u << 20)
#define WG_CMP_R_SANCTIONED_NAME (1u << 21)
#define WG_CMP_R_SANCTIONED_BLOCK (1u << 22)
#define WG_CMP_R_NON_BLOCKING_EDE (1u << 23) /* L had an EDE of another code */
#define WG_CMP_R_BARE_BOTH (1u << 24)      /* neither side has a chain */
#define WG_CMP_R_PUBLIC_NXDOMAIN_NO_RA (1u << 25)

/* What compare needs to know besides the two replies. Every pointer is
 * borrowed and may be NULL (an empty set). */
struct wg_compare_ctx {
	const struct wg_addrlist *sinkhole_addrs;
	const struct wg_domainset *sinkhole_names;
	const struct wg_domainset *cdn_suffixes;
	const struct wg_addrlist *sanctioned_addrs;   /* e.g. a Lancache address */
	const struct wg_domainset *sanctioned_names;  /* a rewrite of these query
						       * names, or a chain through
						       * them, is sanctioned */
	const struct wg_domainset *sanctioned_blocks; /* a block of these query
						       * names is sanctioned */
};

struct wg_compare_side {
	enum wg_side_status status;
	const uint8_t *reply; /* borrowed; NULL unless status is OK */
	size_t len;
};

struct wg_compare_input {
	struct wg_compare_side local;
	struct wg_compare_side public_;
	const uint8_t *qname; /* borrowed: uncompressed wire name (any case) */
	uint16_t qtype;
	/* For AAAA: do the A answers of the same name agree? 1 yes, 0 no,
	 * -1 unknown (then a local AAAA NODATA is judged "nodata"). */
	int a_agree;
};

#define WG_CMP_TEXT 512 /* bytes for chain and address text, NUL included */

/* The per-side facts the discrepancy log records. Fixed size, no pointers:
 * copy it freely. */
struct wg_compare_facts {
	uint8_t outcome;   /* enum wg_side_outcome */
	int8_t rcode;      /* -1 when there was no parsable reply */
	uint16_t flags;    /* header flags word, 0 without a reply */
	int32_t ede;       /* first blocking EDE code, else the first EDE, else -1 */
	uint32_t min_ttl;  /* seconds: minimum over chain and final records; for
			    * an empty answer the negative TTL from the SOA;
			    * 0 when neither */
	uint16_t n_chain;  /* CNAME hops followed */
	uint16_t n_data;   /* final records of the query type */
	uint16_t ancount;
	uint8_t has_soa;
	char chain[WG_CMP_TEXT]; /* "a.example. -> b.cdn.net." or "" */
	char addrs[WG_CMP_TEXT]; /* "192.0.2.1 192.0.2.2" or "" */
};

struct wg_compare_result {
	enum wg_compare_category category;
	enum wg_compare_severity severity;
	enum wg_compare_hint hint;
	uint32_t reasons; /* WG_CMP_R_* */
	uint16_t qtype;
	struct wg_compare_facts local;
	struct wg_compare_facts public_;
};

/* Judge in against ctx and fill out (always fully written). Returns 0, or
 * -EINVAL when in or its qname is unusable (out then says both-fail). */
int wg_compare(const struct wg_compare_input *in, const struct wg_compare_ctx *ctx,
	       struct wg_compare_result *out);

/* Is an EDE info code one that means "blocked" (4, 15, 16, 17, 18)? */
int wg_compare_ede_is_blocking(int ede);

/* Is this address outside the special-purpose ranges (RFC 6890)? 4 or 16
 * bytes; IPv4-mapped IPv6 is judged as IPv4. */
int wg_compare_addr_is_public(const uint8_t *addr, size_t alen);

/* Facts about one reply, without a second side to compare with: what the
 * latency rule and the guard need. Returns 1 when the reply shows no local
 * sign of tampering: a parsable untruncated NOERROR reply with at least one
 * record of qtype at the end of its chain, no sinkhole or bogon address (a
 * sanctioned address is fine), no sinkhole name, no blocking EDE, no HINFO
 * or RPZ CNAME. Returns 0 otherwise (also for NULL). Never allocates. */
int wg_compare_reply_looks_clean(const uint8_t *reply, size_t len, const uint8_t *qname,
				 uint16_t qtype, const struct wg_compare_ctx *ctx);

/* Is this reply a NODATA for (qname, qtype): parsable, untruncated, NOERROR,
 * no record of qtype at the end of its chain? 0 otherwise (also for NULL).
 * The guard uses it to start checking the A of a name whose AAAA is empty.
 * Never allocates. */
int wg_compare_reply_is_nodata(const uint8_t *reply, size_t len, const uint8_t *qname,
			       uint16_t qtype);

/* How a public answer looks on its own (wg_compare_public_suspect). */
enum wg_public_look {
	WG_PUB_CLEAN = 0,    /* nothing against it (also: unparsable, truncated) */
	WG_PUB_NEGATIVE = 1, /* NXDOMAIN or REFUSED: true, or a filter's block */
	WG_PUB_FILTERED = 2, /* a sinkhole address or name, an RPZ CNAME, HINFO,
			      * a blocking EDE: never the truth */
};

/* Does a public reference's reply look filtered? The guard then asks a
 * reference of another operator: a FILTERED reply is never used when the
 * other has a usable one, a NEGATIVE one gives way to an answer with data.
 * Never allocates. */
int wg_compare_public_suspect(const uint8_t *reply, size_t len, const uint8_t *qname,
			      uint16_t qtype, const struct wg_compare_ctx *ctx);

/* "both-fail", "sinkhole" ...; "?" out of range. */
const char *wg_compare_category_name(enum wg_compare_category c);
/* Parse a category name; returns the category or -EINVAL. */
int wg_compare_category_parse(const char *s);
/* "info", "low", "medium", "high"; "?" out of range. */
const char *wg_compare_severity_name(enum wg_compare_severity s);
/* "serve-local", "serve-public", "serve-stale". */
const char *wg_compare_hint_name(enum wg_compare_hint h);
/* "answer", "timeout", "error", "truncated", "malformed". */
const char *wg_compare_outcome_name(enum wg_side_outcome o);

#endif
