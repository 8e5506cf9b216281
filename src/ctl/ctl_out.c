/* ctl_out.c: see ctl_out.h. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl_out.h"
#include "wire.h"

/* wire.c's tables, so the database and the CLI name a code the same way */
const char *wg_ctl_type_name(unsigned t, char *buf, size_t cap)
{
	return wg_wire_type_str((uint16_t)t, buf, cap);
}

const char *wg_ctl_rcode_name(int rc, char *buf, size_t cap)
{
	return rc < 0 ? "-" : wg_wire_rcode_name(rc, buf, cap);
}

void wg_ctl_flags_text(int f, char *buf, size_t cap)
{
	static const struct { int bit; const char *n; } k[] = {
		{0x8000, "qr"}, {0x0400, "aa"}, {0x0200, "tc"}, {0x0100, "rd"},
		{0x0080, "ra"}, {0x0020, "ad"}, {0x0010, "cd"}};
	size_t len = 0;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (f & k[i].bit)
			len += (size_t)snprintf(buf + len, cap > len ? cap - len : 0, "%s%s",
						len ? " " : "", k[i].n);
}

const char *wg_ctl_ede_name(int e)
{
	static const char *n[] = {"Other", "Unsupported DNSKEY Algorithm",
		"Unsupported DS Digest Type", "Stale Answer", "Forged Answer",
		"DNSSEC Indeterminate", "DNSSEC Bogus", "Signature Expired",
		"Signature Not Yet Valid", "DNSKEY Missing", "RRSIGs Missing",
		"No Zone Key Bit Set", "NSEC Missing", "Cached Error", "Not Ready",
		"Blocked", "Censored", "Filtered", "Prohibited", "Stale NXDOMAIN Answer",
		"Not Authoritative", "Not Supported", "No Reachable Authority",
		"Network Error", "Invalid Data"};
	return e >= 0 && e < (int)(sizeof(n) / sizeof(n[0])) ? n[e] : "";
}

void wg_ctl_answer_short(const struct wg_dlog_side *s, char *buf, size_t cap)
{
	char rb[16];
	if (s->rcode < 0) {
		snprintf(buf, cap, "%s", s->status[0] ? s->status : "-");
		return;
	}
	if (s->rcode != 0) {
		snprintf(buf, cap, "%s", wg_ctl_rcode_name(s->rcode, rb, sizeof(rb)));
		return;
	}
	size_t first = strcspn(s->addrs, " ");
	if (first == 0) {
		snprintf(buf, cap, "NODATA");
		return;
	}
	int more = 0;
	for (const char *p = s->addrs + first; *p; p++)
		more += *p == ' ' && p[1] && p[1] != ' ';
	if (more)
		snprintf(buf, cap, "%.*s+%d", (int)first, s->addrs, more);
	else
		snprintf(buf, cap, "%.*s", (int)first, s->addrs);
}

void wg_ctl_json_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(o, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(o, "\\u%04x", *p);
		else
			fputc(*p, o);
	}
	fputc('"', o);
}

void wg_ctl_json_words(FILE *o, const char *s)
{
	char buf[WG_DLOG_CNAME_LEN];
	char *save, *tok;
	int first = 1;
	snprintf(buf, sizeof(buf), "%s", s);
	fputc('[', o);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (!first)
			fputc(',', o);
		wg_ctl_json_str(o, tok);
		first = 0;
	}
	fputc(']', o);
}

static void json_int_or_null(FILE *o, const char *key, int64_t v)
{
	if (v < 0)
		fprintf(o, ",\"%s\":null", key);
	else
		fprintf(o, ",\"%s\":%lld", key, (long long)v);
}

void wg_ctl_json_side(FILE *o, const struct wg_dlog_side *s)
{
	char b[32], fl[32];
	wg_ctl_flags_text(s->flags, fl, sizeof(fl));
	fputs("{\"rcode\":", o);
	if (s->rcode < 0)
		fputs("null", o);
	else
		wg_ctl_json_str(o, wg_ctl_rcode_name(s->rcode, b, sizeof(b)));
	fputs(",\"flags\":", o);
	wg_ctl_json_str(o, fl);
	json_int_or_null(o, "ede", s->ede);
	fputs(",\"cname\":", o);
	wg_ctl_json_words(o, s->cname);
	fputs(",\"addresses\":", o);
	wg_ctl_json_words(o, s->addrs);
	json_int_or_null(o, "min_ttl", s->min_ttl);
	fputs(",\"upstream\":", o);
	wg_ctl_json_str(o, s->upstream);
	json_int_or_null(o, "latency_us", s->latency_us);
	fputs(",\"status\":", o);
	wg_ctl_json_str(o, s->status);
	fputc('}', o);
}

void wg_ctl_time_iso(int64_t ms, int utc, char *buf, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char a[32], z[8];
	int msec = (int)(ms % 1000);
	if (msec < 0)
		msec += 1000;
	if (utc) {
		gmtime_r(&t, &tm);
		strftime(a, sizeof(a), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf, cap, "%s.%03dZ", a, msec);
		return;
	}
	localtime_r(&t, &tm);
	strftime(a, sizeof(a), "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(z, sizeof(z), "%z", &tm);
	snprintf(buf, cap, "%s.%03d%.3s:%.2s", a, msec, z, z + 3);
}

void wg_ctl_json_row(FILE *o, int64_t id, int64_t count, int64_t last_seen,
		     const struct wg_dlog_event *e, int utc, const char *host, const char *site)
{
	char t1[48], t2[48], tb[16];
	wg_ctl_time_iso(e->time_ms, utc, t1, sizeof(t1));
	wg_ctl_time_iso(last_seen, utc, t2, sizeof(t2));
	fprintf(o, "{\"id\":%lld,\"time\":\"%s\",\"last_seen\":\"%s\",\"time_ms\":%lld,"
		"\"last_seen_ms\":%lld,\"count\":%lld,\"client\":",
		(long long)id, t1, t2, (long long)e->time_ms, (long long)last_seen,
		(long long)count);
	wg_ctl_json_str(o, e->client);
	fputs(",\"name\":", o);
	wg_ctl_json_str(o, e->qname);
	fputs(",\"type\":", o);
	wg_ctl_json_str(o, wg_ctl_type_name(e->qtype, tb, sizeof(tb)));
	fputs(",\"category\":", o);
	wg_ctl_json_str(o, e->category);
	fputs(",\"severity\":", o);
	wg_ctl_json_str(o, e->severity);
	fputs(",\"action\":", o);
	wg_ctl_json_str(o, e->action);
	fputs(",\"local\":", o);
	wg_ctl_json_side(o, &e->local);
	fputs(",\"public\":", o);
	wg_ctl_json_side(o, &e->public_);
	fputs(",\"markers\":", o);
	wg_ctl_json_words(o, e->markers);
	fprintf(o, ",\"rule_version\":%u,\"authenticated\":%s", e->rule_version,
		e->authenticated ? "true" : "false");
	if (host) {
		fputs(",\"host\":", o);
		wg_ctl_json_str(o, host);
	}
	if (site) {
		fputs(",\"site\":", o);
		wg_ctl_json_str(o, site);
	}
	fputs("}\n", o);
}
