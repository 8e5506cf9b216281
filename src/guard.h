/* guard.h: verdict + mode + configuration -> what the client is served,
 * and what the cache keeps.
 *
 * Pure: no I/O, no allocation. The daemon calls wg_guard_local_looks_clean()
 * when the local answer arrives first (may it be served at once?), and
 * wg_guard_decide() once compare has a verdict.
 *
 * Repair mode serves the public answer for sinkhole, blocked-rcode,
 * blocked-ede, nodata, local-timeout, local-servfail and rewrite, with its
 * TTLs capped at repair_ttl so the verdict is re-examined soon. Monitor mode
 * always serves the local answer. In both modes every verdict but a plain
 * match is handed to the discrepancy log.
 *
 * The EDE added to a repaired answer (repair_ede) is 0, "Other Error"
 * (RFC 8914 4.1): the answer is genuine, so none of the "blocked" codes
 * (4 Forged, 15 Blocked, 16 Censored, 17 Filtered, 18 Prohibited) fits, and
 * any of them would make a downstream filter-aware resolver - or a second
 * wuguard - treat the repaired answer as a block. A stale answer served
 * because the public resolver is down carries 3, "Stale Answer".
 *
 * Both carry an EXTRA-TEXT (RFC 8914 2) a help-desk reads in dig's "EDE:"
 * line or Resolve-DnsName: "wuguard: repaired sinkhole, public answer
 * served", one per category. The EDE travels as one int (WG_GUARD_EDE):
 * the info code in the low 16 bits, a text id above it, so the cache keeps
 * both in two bytes and the hit path looks the text up in a static table. */
#ifndef WG_GUARD_H
#define WG_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "compare.h"

#define WG_GUARD_EDE_REPAIRED 0 /* RFC 8914 "Other Error" */
#define WG_GUARD_EDE_STALE 3    /* RFC 8914 "Stale Answer" */

/* An EDE as handed on: info code | text id << 16; -1 (any < 0): none. A
 * text id 0 means no EXTRA-TEXT (e.g. a plugin's plain 15 or 18). */
#define WG_GUARD_EDE(code, text) ((int)((unsigned)(code) | ((unsigned)(text) << 16)))
#define WG_GUARD_EDE_CODE(e) ((e) & 0xffff)
#define WG_GUARD_EDE_TEXT_ID(e) (((e) >> 16) & 0xff)
/* The resolver's own serve-stale (RFC 8767: the upstream is slow or down),
 * for any name: EDE 3 with a text saying so. */
#define WG_GUARD_EDE_UPSTREAM_STALE WG_GUARD_EDE(WG_GUARD_EDE_STALE, 255)

enum wg_guard_action {
	WG_GUARD_SERVE_LOCAL = 0,  /* the local upstream's reply as it came
				    * (no reply at all: SERVFAIL) */
	WG_GUARD_SERVE_PUBLIC = 1, /* the public resolver's reply */
	WG_GUARD_SERVE_STALE = 2,  /* last known good answer from the cache,
				    * SERVFAIL when there is none */
};

struct wg_guard_conf {
	int monitor;         /* 1: monitor mode (config's WG_MODE_MONITOR),
			      * 0: repair mode; kept apart from config.h so
			      * this module stays free of the config module */
	uint32_t repair_ttl; /* seconds: TTL cap on repaired answers; 0 = none */
	int repair_ede;      /* add an EDE option to repaired / stale answers */
};

/* When the local answer was served before the verdict (the latency rule),
 * what its cache entry must become. */
enum wg_guard_late {
	WG_GUARD_LATE_NONE = 0,   /* the entry stands */
	WG_GUARD_LATE_REPAIR = 1, /* the public answer replaces it (ttl_cap, late_ede) */
	WG_GUARD_LATE_CAP = 2,    /* it stays, its lifetime capped at ttl_cap, no EDE */
};

struct wg_guard_decision {
	enum wg_guard_action action;
	uint32_t ttl_cap;     /* seconds; 0 = leave the TTLs alone */
	int ede;              /* EDE to add (WG_GUARD_EDE), -1 for none */
	uint8_t repaired;     /* the client gets something other than local */
	uint8_t would_repair; /* repair mode would not serve local (set in both
			       * modes: what monitor mode records) */
	uint8_t record;       /* hand the verdict to the discrepancy log */
	uint8_t late;         /* enum wg_guard_late */
	int late_ede;         /* EDE the entry carries after a late change, -1: none */
	uint8_t verified;     /* the local answer is genuine and served: its cache
			       * entry is marked, for the AAAA of the name */
};

/* Decide for verdict v under conf: what is served (action, ttl_cap, ede),
 * and what the cache must hold when the local answer was served before the
 * verdict (late, late_ede) or was found genuine (verified). Always fills out. Returns 0, or -EINVAL
 * for NULL input or an out-of-range category (out then says: serve local,
 * record). */
int wg_guard_decide(const struct wg_compare_result *v, const struct wg_guard_conf *conf,
		    struct wg_guard_decision *out);

/* The latency rule: may this local reply for (qname, qtype) be served before
 * the public answer arrives? 1 when it shows no local sign of tampering (a
 * NOERROR reply with data of qtype, no sinkhole/bogon address unless
 * sanctioned, no sinkhole name, no blocking EDE, no HINFO or RPZ CNAME, not
 * truncated); 0 otherwise, also for NULL or malformed input. qname:
 * uncompressed wire form. Never allocates. */
int wg_guard_local_looks_clean(const uint8_t *reply, size_t len, const uint8_t *qname,
			       uint16_t qtype, const struct wg_compare_ctx *ctx);

/* The EXTRA-TEXT of an EDE made by WG_GUARD_EDE, NULL when it has none
 * (text id 0 or unknown). Static strings, ASCII, under 80 bytes. */
const char *wg_guard_ede_text(int ede);

/* "serve-local", "serve-public", "serve-stale"; "?" out of range. */
const char *wg_guard_action_name(enum wg_guard_action a);

#endif
