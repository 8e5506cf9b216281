/* test_compare.c: every verdict category of doc/DESIGN.md 5 and the edge cases
 * the issue names, as one table of (local reply, public reply) -> verdict,
 * plus the extracted facts and hostile input. */
#include "autoconfig.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "testutil.h"

#include "compare.h"
#include "guardsets.h"
#include "wire.h"
#include "pktbuild.h"

#define Q "ctldl.windowsupdate.com."
/* the public resolver's view: a chain into EdgeCast */
#define PC1 Q " 3600 IN CNAME wu-b.ec.azureedge.net."
#define PC2 "wu-b.ec.azureedge.net. 300 IN CNAME cs11.wpc.v0cdn.net."
#define PA1 "cs11.wpc.v0cdn.net. 300 IN A 93.184.221.240"
#define PA2 "cs11.wpc.v0cdn.net. 300 IN A 93.184.221.241"
#define P6 "cs11.wpc.v0cdn.net. 300 IN AAAA 2606:2800:11f:17a5:191a:18d5:537:22f9"
#define SOA_WU "windowsupdate.com. 300 IN SOA ns1.msft.net. msnhst.microsoft.com. 1 900 600 86400 300"
#define SOA_RPZ "rpz.corp.example. 30 IN SOA localhost. root.localhost. 1 3600 900 86400 30"

#define P_GOOD {WG_SIDE_OK, {.an = {PC1, PC2, PA1}}, NULL, 0}
#define P_GOOD6 {WG_SIDE_OK, {.an = {PC1, PC2, P6}}, NULL, 0}
#define L_SAME {WG_SIDE_OK, {.an = {PC1, PC2, PA1}}, NULL, 0}
#define TIMEOUT {WG_SIDE_TIMEOUT, {0}, NULL, 0}
#define NETERR {WG_SIDE_ERROR, {0}, NULL, 0}
#define RC(r) {WG_SIDE_OK, {.rcode = (r)}, NULL, 0}

/* a reply that claims QR=1 but whose answer count runs past the end */
static const uint8_t garbage[] = {0x42, 0x42, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0,
				  3,    'f',  'o',  'o',  0, 0, 1, 0, 1};

struct side_case {
	enum wg_side_status st;
	struct pkt_spec pkt;
	const uint8_t *raw; /* when set, used instead of pkt */
	size_t rawlen;
};

struct cmp_case {
	const char *name;
	const char *qname; /* default Q */
	uint16_t qtype;    /* default A */
	int a_agree;       /* 0 unknown, 1 agree, 2 disagree */
	struct side_case l, p;
	enum wg_compare_category want;
	uint32_t must;    /* reasons that must be set */
	uint32_t mustnot; /* reasons that must be clear */
	int hint;         /* expected hint + 1; 0 = not checked */
};

#define HINT(h) ((h) + 1)

static const struct cmp_case cases[] = {
	/* 1. both-fail */
	{"both time out", .l = TIMEOUT, .p = TIMEOUT, .want = WG_CMP_BOTH_FAIL,
	 .hint = HINT(WG_HINT_SERVE_LOCAL)},
	{"L servfail, P malformed", .l = RC(WG_RCODE_SERVFAIL),
	 .p = {WG_SIDE_OK, {0}, garbage, sizeof(garbage)}, .want = WG_CMP_BOTH_FAIL,
	 .must = WG_CMP_R_PUBLIC_MALFORMED},
	{"L network error, P servfail", .l = NETERR, .p = RC(WG_RCODE_SERVFAIL),
	 .want = WG_CMP_BOTH_FAIL},

	/* 2. public-unavailable */
	{"P times out, L clean", .l = L_SAME, .p = TIMEOUT, .want = WG_CMP_PUBLIC_UNAVAILABLE,
	 .mustnot = WG_CMP_R_UNMISTAKABLE, .hint = HINT(WG_HINT_SERVE_LOCAL)},
	{"public SERVFAIL", .l = L_SAME, .p = RC(WG_RCODE_SERVFAIL),
	 .want = WG_CMP_PUBLIC_UNAVAILABLE, .hint = HINT(WG_HINT_SERVE_LOCAL)},
	{"public REFUSED", .l = L_SAME, .p = RC(WG_RCODE_REFUSED),
	 .want = WG_CMP_PUBLIC_UNAVAILABLE},
	{"P down, L 0.0.0.0: unmistakable", .l = {WG_SIDE_OK, {.an = {Q " 2 IN A 0.0.0.0"}}},
	 .p = NETERR, .want = WG_CMP_PUBLIC_UNAVAILABLE,
	 .must = WG_CMP_R_UNMISTAKABLE | WG_CMP_R_SINKHOLE_ADDR, .hint = HINT(WG_HINT_SERVE_STALE)},
	{"P down, L NXDOMAIN: not unmistakable", .l = RC(WG_RCODE_NXDOMAIN), .p = TIMEOUT,
	 .want = WG_CMP_PUBLIC_UNAVAILABLE, .hint = HINT(WG_HINT_SERVE_LOCAL)},
	{"P filtered itself (0.0.0.0)", .l = L_SAME,
	 .p = {WG_SIDE_OK, {.an = {Q " 60 IN A 0.0.0.0"}}}, .want = WG_CMP_PUBLIC_UNAVAILABLE,
	 .must = WG_CMP_R_PUBLIC_FILTERED},
	{"P filtered itself (EDE 17)", .l = L_SAME,
	 .p = {WG_SIDE_OK, {.rcode = WG_RCODE_NXDOMAIN, .ede = PKT_EDE(17)}},
	 .want = WG_CMP_PUBLIC_UNAVAILABLE, .must = WG_CMP_R_PUBLIC_FILTERED},
	{"public truncated", .l = L_SAME, .p = {WG_SIDE_OK, {.tc = 1}},
	 .want = WG_CMP_PUBLIC_UNAVAILABLE, .must = WG_CMP_R_PUBLIC_TRUNCATED},

	/* 3. sanctioned */
	{"sanctioned Lancache address", .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 10.10.10.10"}}},
	 .p = P_GOOD, .want = WG_CMP_SANCTIONED, .must = WG_CMP_R_SANCTIONED_ADDR,
	 .hint = HINT(WG_HINT_SERVE_LOCAL)},
	{"sanctioned chain name",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN CNAME lancache.corp.example.",
				   "lancache.corp.example. 60 IN A 10.20.30.40"}}},
	 .p = P_GOOD, .want = WG_CMP_SANCTIONED, .must = WG_CMP_R_SANCTIONED_NAME},
	{"sanctioned block", .qname = "blocked-ok.windowsupdate.com.",
	 .l = RC(WG_RCODE_NXDOMAIN),
	 .p = {WG_SIDE_OK, {.an = {"blocked-ok.windowsupdate.com. 60 IN A 93.184.221.240"}}},
	 .want = WG_CMP_SANCTIONED, .must = WG_CMP_R_SANCTIONED_BLOCK},
	{"sanctioned-block name answered normally is not sanctioned",
	 .qname = "blocked-ok.windowsupdate.com.",
	 .l = {WG_SIDE_OK, {.an = {"blocked-ok.windowsupdate.com. 60 IN A 93.184.221.240"}}},
	 .p = {WG_SIDE_OK, {.an = {"blocked-ok.windowsupdate.com. 60 IN A 93.184.221.240"}}},
	 .want = WG_CMP_MATCH},

	/* 4. local-timeout */
	{"L times out (RPZ drop)", .l = TIMEOUT, .p = P_GOOD, .want = WG_CMP_LOCAL_TIMEOUT,
	 .hint = HINT(WG_HINT_SERVE_PUBLIC)},

	/* 5. blocked-ede */
	{"Pi-hole 0.0.0.0 with EDE 15",
	 .l = {WG_SIDE_OK, {.an = {Q " 2 IN A 0.0.0.0"}, .ede = PKT_EDE(15)}}, .p = P_GOOD,
	 .want = WG_CMP_BLOCKED_EDE, .must = WG_CMP_R_BLOCKING_EDE | WG_CMP_R_TTL_ANOMALY,
	 .hint = HINT(WG_HINT_SERVE_PUBLIC)},
	{"Cloudflare families :: with EDE 17", .qtype = WG_TYPE_AAAA,
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN AAAA ::"}, .ede = PKT_EDE(17)}}, .p = P_GOOD6,
	 .want = WG_CMP_BLOCKED_EDE},
	{"EDE 18 with NOERROR and real data",
	 .l = {WG_SIDE_OK, {.an = {PC1, PC2, PA1}, .ede = PKT_EDE(18)}}, .p = P_GOOD,
	 .want = WG_CMP_BLOCKED_EDE},
	{"EDE 4 forged", .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 198.51.100.9"}, .ede = PKT_EDE(4)}},
	 .p = P_GOOD, .want = WG_CMP_BLOCKED_EDE},
	{"EDE 16 with NXDOMAIN", .l = {WG_SIDE_OK, {.rcode = WG_RCODE_NXDOMAIN, .ede = PKT_EDE(16)}},
	 .p = P_GOOD, .want = WG_CMP_BLOCKED_EDE},
	{"non-blocking EDE (3, stale) with NOERROR: judged on data",
	 .l = {WG_SIDE_OK, {.an = {PC1, PC2, PA1}, .ede = PKT_EDE(3)}}, .p = P_GOOD,
	 .want = WG_CMP_MATCH, .must = WG_CMP_R_NON_BLOCKING_EDE, .mustnot = WG_CMP_R_BLOCKING_EDE},

	/* 6. sinkhole */
	{"Pi-hole 0.0.0.0 without EDE", .l = {WG_SIDE_OK, {.an = {Q " 2 IN A 0.0.0.0"}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE,
	 .must = WG_CMP_R_SINKHOLE_ADDR | WG_CMP_R_UNMISTAKABLE, .hint = HINT(WG_HINT_SERVE_PUBLIC)},
	{"AAAA ::", .qtype = WG_TYPE_AAAA, .l = {WG_SIDE_OK, {.an = {Q " 2 IN AAAA ::"}}},
	 .p = P_GOOD6, .want = WG_CMP_SINKHOLE, .must = WG_CMP_R_SINKHOLE_ADDR},
	{"127.0.0.1", .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 127.0.0.1"}}}, .p = P_GOOD,
	 .want = WG_CMP_SINKHOLE},
	{"Umbrella 146.112.61.106", .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 146.112.61.106"}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE, .must = WG_CMP_R_SINKHOLE_ADDR},
	{"Umbrella ::ffff:146.112.61.107", .qtype = WG_TYPE_AAAA,
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN AAAA ::ffff:146.112.61.107"}}}, .p = P_GOOD6,
	 .want = WG_CMP_SINKHOLE, .must = WG_CMP_R_SINKHOLE_ADDR},
	{"146.112.61.111 is not Umbrella's block page",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 146.112.61.111"}}},
	 .p = {WG_SIDE_OK, {.an = {Q " 60 IN A 93.184.221.240"}}}, .want = WG_CMP_CDN_VARIANCE,
	 .mustnot = WG_CMP_R_SINKHOLE_ADDR},
	{"Palo Alto CNAME sinkhole.paloaltonetworks.com",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN CNAME sinkhole.paloaltonetworks.com.",
				   "sinkhole.paloaltonetworks.com. 60 IN A 72.5.65.111"}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE,
	 .must = WG_CMP_R_SINKHOLE_NAME | WG_CMP_R_SINKHOLE_ADDR},
	{"Palo Alto CNAME only", .l = {WG_SIDE_OK, {.an = {Q " 60 IN CNAME sinkhole.paloaltonetworks.com."}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE, .must = WG_CMP_R_SINKHOLE_NAME},
	{"Palo Alto IPv6 2600:5200::1", .qtype = WG_TYPE_AAAA,
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN AAAA 2600:5200::1"}}}, .p = P_GOOD6,
	 .want = WG_CMP_SINKHOLE},
	{"Fortinet 208.91.112.55", .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 208.91.112.55"}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE},
	{"AdGuard 94.140.14.35", .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 94.140.14.35"}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE},
	{"bogon P did not return", .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 10.1.2.3"}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE, .must = WG_CMP_R_BOGON_ADDR,
	 .mustnot = WG_CMP_R_UNMISTAKABLE},
	{"bogon both sides return: not a sinkhole",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 10.1.2.3"}}},
	 .p = {WG_SIDE_OK, {.an = {Q " 60 IN A 10.1.2.3"}}}, .want = WG_CMP_MATCH,
	 .mustnot = WG_CMP_R_BOGON_ADDR},
	{"dnscrypt-proxy HINFO block",
	 .l = {WG_SIDE_OK, {.an = {Q " 1 IN HINFO \"This query has been locally blocked\" \"by dnscrypt-proxy\""}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE, .must = WG_CMP_R_HINFO_BLOCK},
	{"RPZ CNAME . leaking through", .l = {WG_SIDE_OK, {.an = {Q " 60 IN CNAME ."}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE, .must = WG_CMP_R_RPZ_CNAME},
	{"RPZ CNAME *. leaking through", .l = {WG_SIDE_OK, {.an = {Q " 60 IN CNAME *."}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE, .must = WG_CMP_R_RPZ_CNAME},
	{"sinkhole mixed with a good address",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 93.184.221.240", Q " 60 IN A 0.0.0.0"}}},
	 .p = P_GOOD, .want = WG_CMP_SINKHOLE},

	/* 7. blocked-rcode */
	{"Quad9-style NXDOMAIN RA=0", .l = {WG_SIDE_OK, {.rcode = WG_RCODE_NXDOMAIN, .no_ra = 1}},
	 .p = P_GOOD, .want = WG_CMP_BLOCKED_RCODE, .must = WG_CMP_R_NXDOMAIN_NO_RA,
	 .hint = HINT(WG_HINT_SERVE_PUBLIC)},
	{"RPZ NXDOMAIN with add-soa",
	 .l = {WG_SIDE_OK, {.rcode = WG_RCODE_NXDOMAIN, .ns = {SOA_RPZ}}}, .p = P_GOOD,
	 .want = WG_CMP_BLOCKED_RCODE,
	 .must = WG_CMP_R_SOA_NOT_ANCESTOR | WG_CMP_R_TTL_ANOMALY,
	 .mustnot = WG_CMP_R_NXDOMAIN_NO_RA},
	{"NXDOMAIN with the zone's own SOA: no RPZ marker",
	 .l = {WG_SIDE_OK, {.rcode = WG_RCODE_NXDOMAIN, .ns = {SOA_WU}}}, .p = P_GOOD,
	 .want = WG_CMP_BLOCKED_RCODE, .mustnot = WG_CMP_R_SOA_NOT_ANCESTOR},
	{"REFUSED", .l = RC(WG_RCODE_REFUSED), .p = P_GOOD, .want = WG_CMP_BLOCKED_RCODE},
	{"NXDOMAIN while P has a CNAME-only answer", .l = RC(WG_RCODE_NXDOMAIN),
	 .p = {WG_SIDE_OK, {.an = {PC1}}}, .want = WG_CMP_BLOCKED_RCODE},

	/* 8. local-servfail */
	{"L SERVFAIL", .l = RC(WG_RCODE_SERVFAIL), .p = P_GOOD, .want = WG_CMP_LOCAL_SERVFAIL,
	 .hint = HINT(WG_HINT_SERVE_PUBLIC)},
	{"L truncated is never judged", .l = {WG_SIDE_OK, {.tc = 1, .an = {Q " 60 IN A 0.0.0.0"}}},
	 .p = P_GOOD, .want = WG_CMP_LOCAL_SERVFAIL, .must = WG_CMP_R_LOCAL_TRUNCATED,
	 .mustnot = WG_CMP_R_SINKHOLE_ADDR},
	{"L malformed", .l = {WG_SIDE_OK, {0}, garbage, sizeof(garbage)}, .p = P_GOOD,
	 .want = WG_CMP_LOCAL_SERVFAIL, .must = WG_CMP_R_LOCAL_MALFORMED},
	{"L network error", .l = NETERR, .p = P_GOOD, .want = WG_CMP_LOCAL_SERVFAIL},

	/* 9. aaaa-suppressed */
	{"AAAA NODATA, A agrees", .qtype = WG_TYPE_AAAA, .a_agree = 1,
	 .l = {WG_SIDE_OK, {.ns = {SOA_WU}}}, .p = P_GOOD6, .want = WG_CMP_AAAA_SUPPRESSED,
	 .hint = HINT(WG_HINT_SERVE_LOCAL)},
	{"AAAA NODATA after the chain, A agrees", .qtype = WG_TYPE_AAAA, .a_agree = 1,
	 .l = {WG_SIDE_OK, {.an = {PC1, PC2}}}, .p = P_GOOD6, .want = WG_CMP_AAAA_SUPPRESSED},

	/* 10. nodata */
	{"AAAA NODATA, A disagrees", .qtype = WG_TYPE_AAAA, .a_agree = 2,
	 .l = {WG_SIDE_OK, {.ns = {SOA_WU}}}, .p = P_GOOD6, .want = WG_CMP_NODATA},
	{"AAAA NODATA, A unknown", .qtype = WG_TYPE_AAAA, .l = {WG_SIDE_OK, {.ns = {SOA_WU}}},
	 .p = P_GOOD6, .want = WG_CMP_NODATA},
	{"A NODATA (RPZ CNAME *.)", .l = {WG_SIDE_OK, {.ns = {SOA_RPZ}}}, .p = P_GOOD,
	 .want = WG_CMP_NODATA, .must = WG_CMP_R_SOA_NOT_ANCESTOR, .hint = HINT(WG_HINT_SERVE_PUBLIC)},
	{"A NODATA with a_agree set is still nodata", .a_agree = 1,
	 .l = {WG_SIDE_OK, {.ns = {SOA_WU}}}, .p = P_GOOD, .want = WG_CMP_NODATA},
	{"CNAME-only local answer, P has the address", .l = {WG_SIDE_OK, {.an = {PC1, PC2}}},
	 .p = P_GOOD, .want = WG_CMP_NODATA},

	/* 11. match */
	{"identical", .l = L_SAME, .p = P_GOOD, .want = WG_CMP_MATCH,
	 .mustnot = WG_CMP_R_PARTIAL_OVERLAP, .hint = HINT(WG_HINT_SERVE_LOCAL)},
	{"order, TTL and case ignored",
	 .l = {WG_SIDE_OK, {.an = {"CTLDL.WindowsUpdate.COM. 10 IN CNAME WU-B.EC.AzureEdge.NET.",
				   "wu-b.ec.azureedge.net. 20 IN CNAME CS11.wpc.v0cdn.net.",
				   "cs11.wpc.v0cdn.net. 5 IN A 93.184.221.241",
				   "cs11.wpc.v0cdn.net. 7 IN A 93.184.221.240"}}},
	 .p = {WG_SIDE_OK, {.an = {PC1, PC2, PA1, PA2}}}, .want = WG_CMP_MATCH,
	 .mustnot = WG_CMP_R_PARTIAL_OVERLAP},
	{"partial address overlap", .l = {WG_SIDE_OK, {.an = {PC1, PC2, PA1, PA2}}},
	 .p = {WG_SIDE_OK, {.an = {PC1, PC2, PA2, "cs11.wpc.v0cdn.net. 300 IN A 93.184.221.242"}}},
	 .want = WG_CMP_MATCH, .must = WG_CMP_R_PARTIAL_OVERLAP},
	{"both NXDOMAIN", .l = RC(WG_RCODE_NXDOMAIN), .p = RC(WG_RCODE_NXDOMAIN),
	 .want = WG_CMP_MATCH},
	{"both NODATA", .l = {WG_SIDE_OK, {.ns = {SOA_WU}}}, .p = {WG_SIDE_OK, {.ns = {SOA_WU}}},
	 .want = WG_CMP_MATCH},
	{"L NXDOMAIN, P NODATA", .l = RC(WG_RCODE_NXDOMAIN), .p = {WG_SIDE_OK, {.ns = {SOA_WU}}},
	 .want = WG_CMP_MATCH},
	{"both CNAME-only", .l = {WG_SIDE_OK, {.an = {PC1, PC2}}},
	 .p = {WG_SIDE_OK, {.an = {PC1, PC2}}}, .want = WG_CMP_MATCH},
	{"public AD bit recorded", .l = L_SAME, .p = {WG_SIDE_OK, {.ad = 1, .an = {PC1, PC2, PA1}}},
	 .want = WG_CMP_MATCH, .must = WG_CMP_R_PUBLIC_AD},
	{"A vs AAAA judged separately: stray A 0.0.0.0 in an AAAA answer",
	 .qtype = WG_TYPE_AAAA, .l = {WG_SIDE_OK, {.an = {PC1, PC2, P6, Q " 60 IN A 0.0.0.0"}}},
	 .p = P_GOOD6, .want = WG_CMP_MATCH, .mustnot = WG_CMP_R_SINKHOLE_ADDR},
	{"an unrelated owner's A is not part of the answer",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 93.184.221.240", "other.example. 60 IN A 0.0.0.0"}}},
	 .p = {WG_SIDE_OK, {.an = {Q " 60 IN A 93.184.221.240"}}}, .want = WG_CMP_MATCH,
	 .mustnot = WG_CMP_R_SINKHOLE_ADDR},
	{"TTL anomaly marker on a match", .l = {WG_SIDE_OK, {.an = {Q " 5 IN A 93.184.221.240"}}},
	 .p = {WG_SIDE_OK, {.an = {Q " 300 IN A 93.184.221.240"}}}, .want = WG_CMP_MATCH,
	 .must = WG_CMP_R_TTL_ANOMALY},
	{"public NXDOMAIN RA=0 marker", .l = RC(WG_RCODE_NXDOMAIN),
	 .p = {WG_SIDE_OK, {.rcode = WG_RCODE_NXDOMAIN, .no_ra = 1}}, .want = WG_CMP_MATCH,
	 .must = WG_CMP_R_PUBLIC_NXDOMAIN_NO_RA},

	/* 12. cdn-variance */
	{"CDN variance via a shared chain name",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN CNAME wu.dist.example.org.",
				   "wu.dist.example.org. 60 IN A 198.51.100.20"}}},
	 .p = {WG_SIDE_OK, {.an = {Q " 60 IN CNAME wu.dist.example.org.",
				   "wu.dist.example.org. 60 IN A 198.51.100.30"}}},
	 .want = WG_CMP_CDN_VARIANCE, .must = WG_CMP_R_SHARED_CHAIN,
	 .mustnot = WG_CMP_R_CDN_SUFFIX, .hint = HINT(WG_HINT_SERVE_LOCAL)},
	{"CDN variance via a CDN suffix (footprint vs edgecast)",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN CNAME wu.ec.footprint.net.",
				   "wu.ec.footprint.net. 60 IN A 8.238.1.1"}}},
	 .p = P_GOOD, .want = WG_CMP_CDN_VARIANCE, .must = WG_CMP_R_CDN_SUFFIX,
	 .mustnot = WG_CMP_R_SHARED_CHAIN},
	{"different addresses alone (no chains)",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 13.107.4.50"}}},
	 .p = {WG_SIDE_OK, {.an = {Q " 60 IN A 13.107.4.52"}}}, .want = WG_CMP_CDN_VARIANCE,
	 .must = WG_CMP_R_BARE_BOTH},

	/* 13. rewrite */
	{"bare address vs CDN chain", .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 203.0.113.50"}}},
	 .p = P_GOOD, .want = WG_CMP_REWRITE, .must = WG_CMP_R_BARE_VS_CHAIN,
	 .hint = HINT(WG_HINT_SERVE_PUBLIC)},
	{"chain into a walled garden",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN CNAME walled.garden.example.",
				   "walled.garden.example. 60 IN A 198.51.100.7"}}},
	 .p = P_GOOD, .want = WG_CMP_REWRITE, .mustnot = WG_CMP_R_CDN_SUFFIX},

	/* 14. local-extra */
	{"split horizon: P NXDOMAIN, L data",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 93.184.221.5"}}}, .p = RC(WG_RCODE_NXDOMAIN),
	 .want = WG_CMP_LOCAL_EXTRA, .hint = HINT(WG_HINT_SERVE_LOCAL)},
	{"split horizon with a private address, P NODATA",
	 .l = {WG_SIDE_OK, {.an = {Q " 60 IN A 10.0.0.5"}}}, .p = {WG_SIDE_OK, {.ns = {SOA_WU}}},
	 .want = WG_CMP_LOCAL_EXTRA, .mustnot = WG_CMP_R_BOGON_ADDR},

	/* hostile chains */
	{"CNAME loop is cut", .l = {WG_SIDE_OK, {.an = {Q " 60 IN CNAME b.example.",
							  "b.example. 60 IN CNAME " Q}}},
	 .p = P_GOOD, .want = WG_CMP_NODATA},
};

static struct wg_addrlist g_sink_addrs, g_sanct_addrs;
static struct wg_domainset *g_sink_names, *g_cdn, *g_sanct_names, *g_sanct_blocks;
static struct wg_compare_ctx g_ctx;

static int setup(void **state)
{
	char path[1024], err[512];
	const char *src = getenv("WG_SRCDIR");
	g_sink_names = wg_domainset_new();
	g_cdn = wg_domainset_new();
	g_sanct_names = wg_domainset_new();
	g_sanct_blocks = wg_domainset_new();
	snprintf(path, sizeof(path), "%s/db/sinkhole.list", src ? src : ".");
	if (wg_guardsets_load_sinkholes(&g_sink_addrs, g_sink_names, path, NULL, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/db/cdn.list", src ? src : ".");
	if (wg_domainset_load_file(g_cdn, path, NULL, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (wg_addrlist_add(&g_sanct_addrs, "10.10.10.10", 0) ||
	    wg_domainset_add(g_sanct_names, "lancache.corp.example", NULL) ||
	    wg_domainset_add(g_sanct_blocks, "blocked-ok.windowsupdate.com", NULL))
		return -1;
	g_ctx.sinkhole_addrs = &g_sink_addrs;
	g_ctx.sinkhole_names = g_sink_names;
	g_ctx.cdn_suffixes = g_cdn;
	g_ctx.sanctioned_addrs = &g_sanct_addrs;
	g_ctx.sanctioned_names = g_sanct_names;
	g_ctx.sanctioned_blocks = g_sanct_blocks;
	return 0;
}

static int teardown(void **state)
{
	wg_addrlist_clear(&g_sink_addrs);
	wg_addrlist_clear(&g_sanct_addrs);
	wg_domainset_free(g_sink_names);
	wg_domainset_free(g_cdn);
	wg_domainset_free(g_sanct_names);
	wg_domainset_free(g_sanct_blocks);
	return 0;
}

static void fill_side(const struct side_case *sc, const char *qname, uint16_t qtype,
		      uint8_t *buf, size_t cap, struct wg_compare_side *out)
{
	out->status = sc->st;
	out->reply = NULL;
	out->len = 0;
	if (sc->st != WG_SIDE_OK)
		return;
	if (sc->raw) {
		out->reply = sc->raw;
		out->len = sc->rawlen;
		return;
	}
	struct pkt_spec s = sc->pkt;
	s.qname = qname;
	s.qtype = qtype;
	out->reply = buf;
	out->len = pkt_build(&s, buf, cap);
}

static void run_case(const struct cmp_case *c, const struct wg_compare_ctx *ctx,
		     struct wg_compare_result *res)
{
	static uint8_t lbuf[4096], pbuf[4096];
	uint8_t qn[WG_NAME_MAX];
	const char *qname = c->qname ? c->qname : Q;
	uint16_t qtype = c->qtype ? c->qtype : WG_TYPE_A;
	pkt_name(qname, qn);
	struct wg_compare_input in;
	memset(&in, 0, sizeof(in));
	in.qname = qn;
	in.qtype = qtype;
	in.a_agree = c->a_agree == 0 ? -1 : c->a_agree == 1 ? 1 : 0;
	fill_side(&c->l, qname, qtype, lbuf, sizeof(lbuf), &in.local);
	fill_side(&c->p, qname, qtype, pbuf, sizeof(pbuf), &in.public_);
	assert_int_equal(wg_compare(&in, ctx, res), 0);
}

static void test_table(void **state)
{
	int seen[WG_CMP__COUNT] = {0};
	int failures = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cmp_case *c = &cases[i];
		struct wg_compare_result res;
		run_case(c, &g_ctx, &res);
		seen[res.category]++;
		if (res.category != c->want) {
			print_error("\"%s\": got %s, want %s (reasons 0x%x)\n", c->name,
				    wg_compare_category_name(res.category),
				    wg_compare_category_name(c->want), res.reasons);
			failures++;
			continue;
		}
		if ((res.reasons & c->must) != c->must) {
			print_error("\"%s\": reasons 0x%x lack 0x%x\n", c->name, res.reasons,
				    c->must & ~res.reasons);
			failures++;
		}
		if (res.reasons & c->mustnot) {
			print_error("\"%s\": reasons 0x%x have 0x%x\n", c->name, res.reasons,
				    res.reasons & c->mustnot);
			failures++;
		}
		if (c->hint && (int)res.hint + 1 != c->hint) {
			print_error("\"%s\": hint %s, want %s\n", c->name,
				    wg_compare_hint_name(res.hint),
				    wg_compare_hint_name((enum wg_compare_hint)(c->hint - 1)));
			failures++;
		}
	}
	assert_int_equal(failures, 0);
	/* the table covers every category */
	for (int k = 0; k < WG_CMP__COUNT; k++)
		if (!seen[k])
			fail_msg("no case yields %s", wg_compare_category_name(k));
}

static void test_without_lists(void **state)
{
	/* with no lists at all the null addresses are still sinkholes, and a
	 * CDN chain with different addresses is a rewrite (no CDN list) */
	struct wg_compare_result res;
	struct wg_compare_ctx empty;
	memset(&empty, 0, sizeof(empty));
	static const struct cmp_case pihole = {"x", .l = {WG_SIDE_OK, {.an = {Q " 2 IN A 0.0.0.0"}}},
					       .p = P_GOOD};
	run_case(&pihole, &empty, &res);
	assert_int_equal(res.category, WG_CMP_SINKHOLE);
	run_case(&pihole, NULL, &res);
	assert_int_equal(res.category, WG_CMP_SINKHOLE);
	static const struct cmp_case umbrella = {
		"x", .l = {WG_SIDE_OK, {.an = {Q " 2 IN A 146.112.61.104"}}}, .p = P_GOOD};
	run_case(&umbrella, NULL, &res);
	assert_int_equal(res.category, WG_CMP_REWRITE);
	run_case(&umbrella, &g_ctx, &res);
	assert_int_equal(res.category, WG_CMP_SINKHOLE);
}

static void test_facts(void **state)
{
	static const struct cmp_case c = {
		"facts",
		.l = {WG_SIDE_OK, {.an = {Q " 2 IN A 0.0.0.0"}, .ede = PKT_EDE(15), .no_ra = 1}},
		.p = {WG_SIDE_OK, {.an = {PC1, PC2, PA1, PA2}, .ad = 1}},
	};
	struct wg_compare_result res;
	run_case(&c, &g_ctx, &res);
	assert_int_equal(res.category, WG_CMP_BLOCKED_EDE);
	assert_string_equal(wg_compare_category_name(res.category), "blocked-ede");
	assert_string_equal(wg_compare_severity_name(res.severity), "high");
	assert_int_equal(res.qtype, WG_TYPE_A);
	assert_int_equal(res.local.outcome, WG_OUT_ANSWER);
	assert_int_equal(res.local.rcode, 0);
	assert_int_equal(res.local.ede, 15);
	assert_int_equal(res.local.min_ttl, 2);
	assert_false(res.local.flags & WG_F_RA);
	assert_string_equal(res.local.chain, "");
	assert_string_equal(res.local.addrs, "0.0.0.0");
	assert_int_equal(res.public_.ede, -1);
	assert_true(res.public_.flags & WG_F_AD);
	assert_int_equal(res.public_.n_chain, 2);
	assert_int_equal(res.public_.n_data, 2);
	assert_int_equal(res.public_.min_ttl, 300);
	assert_string_equal(res.public_.chain,
			    "ctldl.windowsupdate.com. -> wu-b.ec.azureedge.net. -> cs11.wpc.v0cdn.net.");
	assert_string_equal(res.public_.addrs, "93.184.221.240 93.184.221.241");

	/* a timed-out side: no rcode, no EDE; the struct is self-contained */
	static const struct cmp_case t = {"t", .l = TIMEOUT, .p = P_GOOD6, .qtype = WG_TYPE_AAAA};
	run_case(&t, &g_ctx, &res);
	struct wg_compare_result copy = res; /* fixed size: a plain copy is enough */
	assert_int_equal(copy.category, WG_CMP_LOCAL_TIMEOUT);
	assert_int_equal(copy.local.outcome, WG_OUT_TIMEOUT);
	assert_int_equal(copy.local.rcode, -1);
	assert_int_equal(copy.local.ede, -1);
	assert_string_equal(copy.public_.addrs, "2606:2800:11f:17a5:191a:18d5:537:22f9");
	assert_string_equal(wg_compare_outcome_name(copy.local.outcome), "timeout");

	/* an NXDOMAIN's min TTL comes from the SOA: min(TTL 30, MINIMUM 30) */
	static const struct cmp_case n = {
		"n", .l = {WG_SIDE_OK, {.rcode = WG_RCODE_NXDOMAIN, .ns = {SOA_RPZ}}}, .p = P_GOOD};
	run_case(&n, &g_ctx, &res);
	assert_int_equal(res.local.rcode, WG_RCODE_NXDOMAIN);
	assert_int_equal(res.local.min_ttl, 30);
	assert_true(res.local.has_soa);
}

static void test_names(void **state)
{
	for (int k = 0; k < WG_CMP__COUNT; k++) {
		const char *n = wg_compare_category_name(k);
		assert_string_not_equal(n, "?");
		assert_int_equal(wg_compare_category_parse(n), k);
	}
	assert_string_equal(wg_compare_category_name(WG_CMP__COUNT), "?");
	assert_string_equal(wg_compare_category_name(WG_CMP_AAAA_SUPPRESSED), "aaaa-suppressed");
	assert_string_equal(wg_compare_category_name(WG_CMP_CDN_VARIANCE), "cdn-variance");
	assert_int_equal(wg_compare_category_parse("nope"), -EINVAL);
	assert_string_equal(wg_compare_severity_name(WG_SEV_INFO), "info");
	assert_string_equal(wg_compare_severity_name(WG_SEV_MEDIUM), "medium");
	assert_string_equal(wg_compare_severity_name((enum wg_compare_severity)9), "?");
	assert_string_equal(wg_compare_hint_name(WG_HINT_SERVE_STALE), "serve-stale");
}

static void test_hostile(void **state)
{
	uint8_t qn[WG_NAME_MAX];
	pkt_name(Q, qn);
	struct wg_compare_result res;
	struct wg_compare_input in;
	memset(&in, 0, sizeof(in));
	in.qname = qn;
	in.qtype = WG_TYPE_A;
	in.a_agree = -1;
	/* a compression pointer pointing at itself in the answer */
	uint8_t loop[64] = {0x42, 0x42, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0,
			    0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4};
	in.local.status = WG_SIDE_OK;
	in.local.reply = loop;
	in.local.len = 28;
	in.public_.status = WG_SIDE_TIMEOUT;
	assert_int_equal(wg_compare(&in, &g_ctx, &res), 0);
	assert_int_equal(res.local.outcome, WG_OUT_MALFORMED);
	assert_int_equal(res.category, WG_CMP_BOTH_FAIL);
	/* every prefix of a good reply is handled (malformed, never a crash) */
	uint8_t buf[1024];
	struct pkt_spec s = {.qname = Q, .qtype = WG_TYPE_A, .an = {PC1, PC2, PA1}};
	size_t len = pkt_build(&s, buf, sizeof(buf));
	for (size_t cut = 0; cut < len; cut++) {
		in.local.reply = buf;
		in.local.len = cut;
		in.public_.status = WG_SIDE_OK;
		in.public_.reply = buf;
		in.public_.len = len;
		assert_int_equal(wg_compare(&in, &g_ctx, &res), 0);
		assert_int_equal(res.local.outcome, WG_OUT_MALFORMED);
		assert_int_equal(res.category, WG_CMP_LOCAL_SERVFAIL);
	}
	/* a bad qname */
	uint8_t badq[] = {0x40, 0};
	in.qname = badq;
	assert_int_equal(wg_compare(&in, &g_ctx, &res), -EINVAL);
	assert_int_equal(res.category, WG_CMP_BOTH_FAIL);
	assert_int_equal(wg_compare(NULL, &g_ctx, &res), -EINVAL);
}

static void test_addr_helpers(void **state)
{
	static const struct {
		const char *a;
		int pub;
	} c[] = {
		{"93.184.221.240", 1}, {"10.1.1.1", 0},     {"172.31.0.1", 0}, {"172.32.0.1", 1},
		{"192.168.1.1", 0},    {"100.64.0.1", 0},   {"100.128.0.1", 1}, {"169.254.1.1", 0},
		{"127.0.0.1", 0},      {"0.0.0.0", 0},      {"224.0.0.1", 0},  {"198.51.100.1", 1},
		{"::", 0},             {"::1", 0},          {"fd00::1", 0},    {"fe80::1", 0},
		{"2606:2800::1", 1},   {"::ffff:10.0.0.1", 0}, {"::ffff:93.184.221.240", 1},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint8_t b[16];
		size_t l = strchr(c[i].a, ':') ? 16 : 4;
		assert_int_equal(inet_pton(l == 4 ? AF_INET : AF_INET6, c[i].a, b), 1);
		if (wg_compare_addr_is_public(b, l) != c[i].pub)
			fail_msg("%s: want public=%d", c[i].a, c[i].pub);
	}
	struct wg_addrlist l = {0};
	assert_int_equal(wg_addrlist_add(&l, "146.112.61.104/30", 0), 0);
	assert_int_equal(wg_addrlist_add(&l, "not-an-address", 0), -EINVAL);
	uint8_t a4[4] = {146, 112, 61, 107}, a4n[4] = {146, 112, 61, 108};
	uint8_t m6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 146, 112, 61, 105};
	assert_int_equal(wg_addrlist_match(&l, a4, 4), 0);
	assert_int_equal(wg_addrlist_match(&l, a4n, 4), -1);
	assert_int_equal(wg_addrlist_match(&l, m6, 16), 0);
	wg_addrlist_clear(&l);
	assert_int_equal(l.n, 0);
	for (int e = 0; e < 30; e++)
		assert_int_equal(wg_compare_ede_is_blocking(e),
				 e == 4 || e == 15 || e == 16 || e == 17 || e == 18);
}

static void test_sinkhole_file_errors(void **state)
{
	struct wg_addrlist a = {0};
	struct wg_domainset *n = wg_domainset_new();
	char path[64], err[256];
	wg_test_write_tmp(path, sizeof(path),
			  "[x]\n0.0.0.0/8\n10.0.0.0/8 bogon\nsink.example\n10.0.0.0/8 maybe\n");
	assert_int_equal(wg_guardsets_load_sinkholes(&a, n, path, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":5: unexpected text after the address"));
	assert_int_equal(a.n, 2);
	assert_int_equal(a.v[0].bogon, 0);
	assert_int_equal(a.v[1].bogon, 1);
	assert_true(wg_domainset_match_str(n, "sink.example"));
	unlink(path);
	wg_addrlist_clear(&a);
	wg_domainset_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_without_lists),
		cmocka_unit_test(test_facts),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_addr_helpers),
		cmocka_unit_test(test_sinkhole_file_errors),
	};
	return cmocka_run_group_tests_name("compare", tests, setup, teardown);
}
