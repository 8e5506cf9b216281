/* guard.c: see guard.h. */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "assume.h"
#include "guard.h"

/* Text ids: 1 + category for a repair, 1 + WG_CMP__COUNT + category for a
 * stale answer. Each text names the category as `wuguardctl list
 * --category` spells it, then says in plain words what happened. */
#define TEXT_REPAIRED(c) (1 + (c))
#define TEXT_STALE(c) (1 + WG_CMP__COUNT + (c))

static const char *const repaired_text[WG_CMP__COUNT] = {
	[WG_CMP_LOCAL_TIMEOUT] = "wuguard: repaired local-timeout, public answer served",
	[WG_CMP_BLOCKED_EDE] = "wuguard: repaired blocked-ede (local filter), public answer served",
	[WG_CMP_SINKHOLE] = "wuguard: repaired sinkhole, public answer served",
	[WG_CMP_BLOCKED_RCODE] = "wuguard: repaired blocked-rcode (local NXDOMAIN/REFUSED), "
				 "public answer served",
	[WG_CMP_LOCAL_SERVFAIL] = "wuguard: repaired local-servfail, public answer served",
	[WG_CMP_AAAA_SUPPRESSED] = "wuguard: repaired aaaa-suppressed, public answer served",
	[WG_CMP_NODATA] = "wuguard: repaired nodata (local empty answer), public answer served",
	[WG_CMP_REWRITE] = "wuguard: repaired rewrite (local address differs), "
			   "public answer served",
};

/* A category whose hint is serve-stale but has no text of its own. */
static const char stale_text[] =
	"wuguard: local answer tampered, public resolver unreachable, stale answer served";
_Static_assert(TEXT_STALE(WG_CMP__COUNT) < 255, "text ids fit the cache's byte, 255 apart");
static const char repaired_generic[] = "wuguard: repaired, public answer served";

int wg_guard_decide(const struct wg_compare_result *v, const struct wg_guard_conf *conf,
		    struct wg_guard_decision *out)
{
	memset(out, 0, sizeof(*out));
	out->action = WG_GUARD_SERVE_LOCAL;
	out->ede = -1;
	out->late_ede = -1;
	out->record = 1;
	if (!v || !conf || (unsigned)v->category >= WG_CMP__COUNT)
		return -EINVAL;

	enum wg_guard_action want = WG_GUARD_SERVE_LOCAL;
	switch (v->hint) {
	case WG_HINT_SERVE_PUBLIC:
		want = WG_GUARD_SERVE_PUBLIC;
		break;
	case WG_HINT_SERVE_STALE:
		want = WG_GUARD_SERVE_STALE;
		break;
	default:
		break;
	}
	out->would_repair = want != WG_GUARD_SERVE_LOCAL;
	out->record = v->category != WG_CMP_MATCH;
	/* the local answer agreed with the public one and is what the client
	 * got: an AAAA of the name can be judged against it */
	out->verified = (v->category == WG_CMP_MATCH || v->category == WG_CMP_CDN_VARIANCE) &&
			(conf->monitor || want == WG_GUARD_SERVE_LOCAL);

	if (conf->monitor)
		return 0; /* observe only: the local answer, untouched */

	out->action = want;
	out->repaired = want != WG_GUARD_SERVE_LOCAL;
	switch (want) {
	case WG_GUARD_SERVE_PUBLIC:
		out->ttl_cap = conf->repair_ttl;
		out->ede = conf->repair_ede ? WG_GUARD_EDE(WG_GUARD_EDE_REPAIRED,
							   TEXT_REPAIRED(v->category))
					    : -1;
		break;
	case WG_GUARD_SERVE_STALE:
		out->ttl_cap = conf->repair_ttl;
		out->ede = conf->repair_ede
				   ? WG_GUARD_EDE(WG_GUARD_EDE_STALE, TEXT_STALE(v->category))
				   : -1;
		break;
	default:
		/* the local answer is unverified while the public resolver
		 * is away: keep it short-lived so it is checked again soon */
		if (v->category == WG_CMP_PUBLIC_UNAVAILABLE)
			out->ttl_cap = conf->repair_ttl;
		break;
	}
	/* an answer served early is fixed in the cache: the repair replaces
	 * it (with the repair's EDE and text), an unverified one gets the TTL
	 * cap and no EDE: it was not repaired, and "repaired" on it would
	 * mislead whoever reads the text */
	if (want == WG_GUARD_SERVE_PUBLIC) {
		out->late = WG_GUARD_LATE_REPAIR;
		out->late_ede = out->ede;
	} else if (want == WG_GUARD_SERVE_LOCAL && out->ttl_cap) {
		out->late = WG_GUARD_LATE_CAP;
	}
	return 0;
}

int wg_guard_local_looks_clean(const uint8_t *reply, size_t len, const uint8_t *qname,
			       uint16_t qtype, const struct wg_compare_ctx *ctx)
{
	return wg_compare_reply_looks_clean(reply, len, qname, qtype, ctx);
}

const char *wg_guard_ede_text(int ede)
{
	if (ede < 0)
		return NULL;
	int id = WG_GUARD_EDE_TEXT_ID(ede);
	if (id >= TEXT_REPAIRED(0) && id < TEXT_REPAIRED(WG_CMP__COUNT)) {
		const char *t = repaired_text[id - TEXT_REPAIRED(0)];
		return t ? t : repaired_generic;
	}
	if (id >= TEXT_STALE(0) && id < TEXT_STALE(WG_CMP__COUNT))
		return stale_text;
	if (id == WG_GUARD_EDE_TEXT_ID(WG_GUARD_EDE_UPSTREAM_STALE))
		return "wuguard: upstream slow or unreachable, stale answer served";
	return NULL;
}

const char *wg_guard_action_name(enum wg_guard_action a)
{
	static const char *const n[] = {"serve-local", "serve-public", "serve-stale"};
	_Static_assert(WG_NELEM(n) == WG_GUARD_SERVE_STALE + 1, "a name per action");
	return (unsigned)a < WG_NELEM(n) ? n[a] : "?";
}
