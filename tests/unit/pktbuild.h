/* pktbuild.h: build DNS replies for the compare and guard tests with ldns
 * (names compressed the way real servers send them) plus wire.h for the
 * OPT/EDE option. Header-only: included by each test binary. */
#ifndef WG_TEST_PKTBUILD_H
#define WG_TEST_PKTBUILD_H

#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define PKT_MAX_RR 8

/* One reply, described in zone-file text. */
struct pkt_spec {
	const char *qname;           /* "ctldl.windowsupdate.com." */
	uint16_t qtype;              /* WG_TYPE_A ... */
	int rcode;                   /* WG_RCODE_* */
	int no_ra;                   /* leave RA clear */
	int tc, ad;
	int ede;                     /* EDE info code to attach; 0 = none, use
				      * PKT_EDE(n) to attach code n (even 0) */
	const char *an[PKT_MAX_RR];  /* answer RRs, zone-file syntax */
	const char *ns[PKT_MAX_RR];  /* authority RRs */
	const char *ar[PKT_MAX_RR];  /* additional RRs */
};

#define PKT_EDE(n) ((n) + 1) /* so that a zero-initialised spec has no EDE */

/* Build the reply into buf; returns its length (fails the test on error). */
static inline size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	ldns_pkt *p = ldns_pkt_new();
	assert_non_null(p);
	ldns_pkt_set_id(p, 0x4242);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rd(p, true);
	ldns_pkt_set_ra(p, !s->no_ra);
	ldns_pkt_set_tc(p, s->tc != 0);
	ldns_pkt_set_ad(p, s->ad != 0);
	ldns_pkt_set_rcode(p, (uint8_t)s->rcode);

	char q[300];
	char type[32];
	ldns_rdf *t = ldns_native2rdf_int16(LDNS_RDF_TYPE_TYPE, s->qtype);
	char *ts = ldns_rdf2str(t);
	snprintf(type, sizeof(type), "%s", ts);
	free(ts);
	ldns_rdf_deep_free(t);
	snprintf(q, sizeof(q), "%s IN %s", s->qname, type);
	ldns_rr *rr = NULL;
	assert_int_equal(ldns_rr_new_question_frm_str(&rr, q, NULL, NULL), LDNS_STATUS_OK);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
	for (int i = 0; i < PKT_MAX_RR && s->an[i]; i++) {
		rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, s->an[i], 3600, NULL, NULL),
				 LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	for (int i = 0; i < PKT_MAX_RR && s->ns[i]; i++) {
		rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, s->ns[i], 3600, NULL, NULL),
				 LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr);
	}
	for (int i = 0; i < PKT_MAX_RR && s->ar[i]; i++) {
		rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, s->ar[i], 3600, NULL, NULL),
				 LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL, rr);
	}
	uint8_t *wire = NULL;
	size_t len = 0;
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	assert_true(len <= cap);
	memcpy(buf, wire, len);
	free(wire);
	ldns_pkt_free(p);
	if (s->ede) {
		int n = wg_wire_append_opt(buf, len, cap, 0, s->ede - 1);
		assert_true(n > 0);
		len = (size_t)n;
	}
	return len;
}

/* qname in lower-case wire form */
static inline void pkt_name(const char *text, uint8_t *out)
{
	int n = wg_wire_name_from_str(text, out);
	assert_true(n > 0);
	for (int i = 0; i < n; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (uint8_t)(out[i] + 32);
}

#endif
