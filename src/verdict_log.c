/* verdict_log.c: see verdict_log.h. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "verdict_log.h"
#include "wire.h"

static const struct {
	uint32_t bit;
	const char *name;
} markers[] = {
	{WG_CMP_R_NXDOMAIN_NO_RA, "nxdomain-ra0"},
	{WG_CMP_R_SOA_NOT_ANCESTOR, "rpz-soa"},
	{WG_CMP_R_TTL_ANOMALY, "ttl-anomaly"},
	{WG_CMP_R_PUBLIC_AD, "public-ad"},
	{WG_CMP_R_HINFO_BLOCK, "hinfo"},
	{WG_CMP_R_RPZ_CNAME, "rpz-cname"},
	{WG_CMP_R_SINKHOLE_ADDR, "sinkhole-addr"},
	{WG_CMP_R_BOGON_ADDR, "bogon"},
	{WG_CMP_R_SINKHOLE_NAME, "sinkhole-name"},
	{WG_CMP_R_BLOCKING_EDE, "blocking-ede"},
	{WG_CMP_R_SHARED_CHAIN, "shared-chain"},
	{WG_CMP_R_CDN_SUFFIX, "cdn-suffix"},
	{WG_CMP_R_BARE_VS_CHAIN, "bare-vs-chain"},
	{WG_CMP_R_PARTIAL_OVERLAP, "partial-overlap"},
	{WG_CMP_R_LOCAL_TRUNCATED, "local-truncated"},
	{WG_CMP_R_PUBLIC_TRUNCATED, "public-truncated"},
	{WG_CMP_R_LOCAL_MALFORMED, "local-malformed"},
	{WG_CMP_R_PUBLIC_MALFORMED, "public-malformed"},
	{WG_CMP_R_PUBLIC_FILTERED, "public-filtered"},
	{WG_CMP_R_UNMISTAKABLE, "unmistakable"},
	{WG_CMP_R_SANCTIONED_ADDR, "sanctioned-addr"},
	{WG_CMP_R_SANCTIONED_NAME, "sanctioned-name"},
	{WG_CMP_R_SANCTIONED_BLOCK, "sanctioned-block"},
	{WG_CMP_R_NON_BLOCKING_EDE, "ede"},
	{WG_CMP_R_BARE_BOTH, "bare-both"},
	{WG_CMP_R_PUBLIC_NXDOMAIN_NO_RA, "public-nxdomain-ra0"},
};

/* Truncating copy: long chains and names are cut, never overflow. */
static void copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void side(const struct wg_compare_facts *f, uint32_t latency_us, const char *upstream,
		 struct wg_dlog_side *s)
{
	s->rcode = f->rcode;
	s->flags = f->flags;
	s->ede = f->ede;
	s->min_ttl = f->outcome == WG_OUT_ANSWER ? (int32_t)f->min_ttl : -1;
	s->latency_us = f->outcome == WG_OUT_ANSWER ? (int64_t)latency_us : -1;
	copy(s->cname, sizeof(s->cname), f->chain);
	copy(s->addrs, sizeof(s->addrs), f->addrs);
	snprintf(s->upstream, sizeof(s->upstream), "%s", upstream ? upstream : "");
	char rb[16];
	if (f->outcome == WG_OUT_ANSWER)
		snprintf(s->status, sizeof(s->status), "%s",
			 f->rcode >= 0 ? wg_wire_rcode_name(f->rcode, rb, sizeof(rb)) : "answer");
	else
		snprintf(s->status, sizeof(s->status), "%s",
			 wg_compare_outcome_name((enum wg_side_outcome)f->outcome));
}

static void client_text(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	buf[0] = 0;
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)cap);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, (socklen_t)cap);
}

/* A plugin wanted to block or rewrite a WU name and the guard set the
 * verdict aside: a local-policy row naming the plugin and its entry. */
static void fill_policy(const struct wg_xcheck_record *rec, struct wg_dlog_event *ev)
{
	copy(ev->category, sizeof(ev->category), "local-policy");
	copy(ev->severity, sizeof(ev->severity), "medium");
	copy(ev->action, sizeof(ev->action), "not-applied");
	ev->local.rcode = ev->public_.rcode = -1;
	ev->local.ede = ev->public_.ede = -1;
	ev->local.min_ttl = ev->public_.min_ttl = -1;
	ev->local.latency_us = ev->public_.latency_us = -1;
	snprintf(ev->local.upstream, sizeof(ev->local.upstream), "plugin:%.50s",
		 rec->policy_plugin);
	copy(ev->local.status, sizeof(ev->local.status),
	     rec->policy_wanted ? rec->policy_wanted : "?");
	snprintf(ev->markers, sizeof(ev->markers), "entry=%.100s",
		 rec->policy_entry && *rec->policy_entry ? rec->policy_entry : "?");
	ev->rule_version = WG_RULE_VERSION;
}

void wg_verdict_log_fill(const struct wg_xcheck_record *rec, struct wg_dlog_event *ev)
{
	const struct wg_compare_result *v = rec->verdict;
	const struct wg_guard_decision *d = rec->decision;
	struct timeval tv;

	memset(ev, 0, sizeof(*ev));
	gettimeofday(&tv, NULL);
	ev->time_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	client_text(rec->client, ev->client, sizeof(ev->client));
	char name[4 * WG_NAME_MAX + 1];
	wg_wire_name_to_str(rec->qi->qname_lc, name, sizeof(name));
	copy(ev->qname, sizeof(ev->qname), name);
	ev->qtype = rec->qi->qtype;
	if (rec->policy_plugin || !v || !d) {
		fill_policy(rec, ev);
		return;
	}
	snprintf(ev->category, sizeof(ev->category), "%s", wg_compare_category_name(v->category));
	snprintf(ev->severity, sizeof(ev->severity), "%s", wg_compare_severity_name(v->severity));
	/* what the client got; in monitor mode say what repair would have done */
	const char *action = d->action == WG_GUARD_SERVE_PUBLIC ? "public"
			     : d->action == WG_GUARD_SERVE_STALE ? "stale"
								 : "local";
	if (!d->repaired && d->would_repair)
		action = "local-monitor";
	snprintf(ev->action, sizeof(ev->action), "%s", action);
	side(&v->local, rec->local_latency_us, rec->local_upstream, &ev->local);
	side(&v->public_, rec->public_latency_us, rec->public_upstream, &ev->public_);
	size_t n = 0;
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		if (!(v->reasons & markers[i].bit))
			continue;
		int w = snprintf(ev->markers + n, sizeof(ev->markers) - n, "%s%s", n ? " " : "",
				 markers[i].name);
		if (w < 0 || (size_t)w >= sizeof(ev->markers) - n)
			break;
		n += (size_t)w;
	}
	if (rec->early) {
		int w = snprintf(ev->markers + n, sizeof(ev->markers) - n, "%searly", n ? " " : "");
		(void)w;
	}
	ev->rule_version = WG_RULE_VERSION;
	ev->authenticated = (uint8_t)rec->public_authenticated;
}

int wg_verdict_log_configure(struct wg_verdict_log *rc, const struct wg_config *cfg, char *err,
			    size_t errcap)
{
	struct wg_domainset *names = NULL;
	struct wg_cidr *clients = NULL;
	if (cfg->hide_name.n) {
		names = wg_domainset_new();
		if (!names)
			return -ENOMEM;
		for (size_t i = 0; i < cfg->hide_name.n; i++) {
			int rc2 = wg_domainset_add(names, cfg->hide_name.v[i], "hide");
			if (rc2 < 0) {
				snprintf(err, errcap, "[database] hide-name '%s': %s", cfg->hide_name.v[i],
					 strerror(-rc2));
				wg_domainset_free(names);
				return rc2;
			}
		}
	}
	if (cfg->n_hide_client) {
		clients = malloc(cfg->n_hide_client * sizeof(*clients));
		if (!clients) {
			wg_domainset_free(names);
			return -ENOMEM;
		}
		memcpy(clients, cfg->hide_client, cfg->n_hide_client * sizeof(*clients));
	}
	wg_verdict_log_clear(rc);
	rc->hide_names = names;
	rc->hide_clients = clients;
	rc->n_hide_clients = cfg->n_hide_client;
	return 0;
}

void wg_verdict_log_clear(struct wg_verdict_log *rc)
{
	wg_domainset_free(rc->hide_names);
	free(rc->hide_clients);
	rc->hide_names = NULL;
	rc->hide_clients = NULL;
	rc->n_hide_clients = 0;
}

static int hidden(const struct wg_verdict_log *rc, const uint8_t *qname_lc,
		  const struct sockaddr_storage *client)
{
	if (rc->hide_names && wg_domainset_match_wire(rc->hide_names, qname_lc))
		return 1;
	for (size_t i = 0; i < rc->n_hide_clients; i++)
		if (wg_cidr_match(&rc->hide_clients[i], (const struct sockaddr *)client))
			return 1;
	return 0;
}

void wg_verdict_log_submit(void *arg, const struct wg_xcheck_record *rec)
{
	struct wg_verdict_log *rc = arg;
	struct wg_dlog *dl = rc ? rc->dl : NULL;
	if (!dl)
		return;
	const struct wg_compare_result *v = rec->verdict;
	int policy = rec->policy_plugin || !v || !rec->decision;
	if (!policy) {
		wg_dlog_count(dl, WG_DLOG_GUARDED);
		if (v->category == WG_CMP_MATCH)
			wg_dlog_count(dl, WG_DLOG_MATCHED);
		else if (v->category == WG_CMP_CDN_VARIANCE)
			wg_dlog_count(dl, WG_DLOG_CDN_VARIANCE);
		else if (v->category == WG_CMP_PUBLIC_UNAVAILABLE || v->category == WG_CMP_BOTH_FAIL)
			wg_dlog_count(dl, WG_DLOG_PUBLIC_UNAVAILABLE);
		if (rec->decision->repaired)
			wg_dlog_count(dl, WG_DLOG_REPAIRED);
	}
	if ((!policy && !rec->decision->record) || hidden(rc, rec->qi->qname_lc, rec->client))
		return;
	struct wg_dlog_event ev;
	wg_verdict_log_fill(rec, &ev);
	wg_dlog_submit(dl, &ev);
}
