/* guard.c: see guard.h. */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "assume.h"
#include "guard.h"

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
		out->ede = conf->repair_ede ? WG_GUARD_EDE_REPAIRED : -1;
		break;
	case WG_GUARD_SERVE_STALE:
		out->ttl_cap = conf->repair_ttl;
		out->ede = conf->repair_ede ? WG_GUARD_EDE_STALE : -1;
		break;
	default:
		/* the local answer is unverified while the public resolver
		 * is away: keep it short-lived so it is checked again soon */
		if (v->category == WG_CMP_PUBLIC_UNAVAILABLE)
			out->ttl_cap = conf->repair_ttl;
		break;
	}
	/* an answer served early is fixed in the cache: the repair replaces
	 * it, an unverified one gets the TTL cap (marked like a repair when
	 * repair-ede is on, as the cache always did) */
	if (want == WG_GUARD_SERVE_PUBLIC)
		out->late = WG_GUARD_LATE_REPAIR;
	else if (want == WG_GUARD_SERVE_LOCAL && out->ttl_cap)
		out->late = WG_GUARD_LATE_CAP;
	if (out->late)
		out->late_ede = conf->repair_ede ? WG_GUARD_EDE_REPAIRED : -1;
	return 0;
}

int wg_guard_local_looks_clean(const uint8_t *reply, size_t len, const uint8_t *qname,
			       uint16_t qtype, const struct wg_compare_ctx *ctx)
{
	return wg_compare_reply_looks_clean(reply, len, qname, qtype, ctx);
}

const char *wg_guard_action_name(enum wg_guard_action a)
{
	static const char *const n[] = {"serve-local", "serve-public", "serve-stale"};
	_Static_assert(WG_NELEM(n) == WG_GUARD_SERVE_STALE + 1, "a name per action");
	return (unsigned)a < WG_NELEM(n) ? n[a] : "?";
}
