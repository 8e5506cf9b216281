/* ctl_out.h: output pieces shared by wuguardctl's commands.
 *
 * One place for DNS number names and the JSON form of an answer side, so
 * `wuguardctl list --format json` and `wuguardctl probe --format json`
 * describe an answer with the same fields. */
#ifndef WG_CTL_OUT_H
#define WG_CTL_OUT_H

#include <stddef.h>
#include <stdio.h>

#include "dlog.h"

/* "A", "AAAA" ...; other types as "TYPE<n>" written into buf. */
const char *wg_ctl_type_name(unsigned t, char *buf, size_t cap);
/* "NOERROR" ... "REFUSED", "RCODE<n>" into buf, "-" for a negative rcode. */
const char *wg_ctl_rcode_name(int rc, char *buf, size_t cap);
/* The header flags word as "qr rd ra ..." into buf. */
void wg_ctl_flags_text(int flags, char *buf, size_t cap);

/* A JSON string literal, escaped. */
void wg_ctl_json_str(FILE *o, const char *s);
/* Space-separated words (at most WG_DLOG_CNAME_LEN bytes) as a JSON array. */
void wg_ctl_json_words(FILE *o, const char *s);
/* One side as a JSON object: rcode, flags, ede, cname, addresses, min_ttl,
 * upstream, latency_us, status. */
void wg_ctl_json_side(FILE *o, const struct wg_dlog_side *s);

#endif
