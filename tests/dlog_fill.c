/* dlog_fill.c: write N synthetic discrepancy events through wg_dlog, for
 * the wuguardctl integration test.
 *
 * usage: dlog_fill DB N [STEP_S] [AGGREGATE_S] [LAST_NAME] [UPSTREAM2]
 * Event i is first seen at now - (N - i) * STEP_S seconds (STEP_S default
 * 60). Categories, names and clients cycle so that every filter has
 * something to find; see the table below. LAST_NAME: the last event's
 * name instead (the report test's "<script>" name); UPSTREAM2: the local
 * upstream of every third event (i % 3 == 2) instead of 10.0.0.53:53. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlog.h"

static const struct {
	const char *category, *severity, *action, *laddrs, *paddrs;
	int lrcode, lede;
} kinds[] = {
	{"sinkhole", "high", "public", "0.0.0.0", "93.184.215.201 93.184.215.202", 0, 15},
	{"blocked-rcode", "high", "public", "", "93.184.215.201", 3, -1},
	{"cdn-variance", "low", "local", "23.50.1.1", "93.184.215.201", 0, -1},
	{"rewrite", "medium", "public", "10.9.9.9", "93.184.215.203", 0, -1},
};

static const char *names[] = {
	"download.windowsupdate.com", "fe3cr.delivery.mp.microsoft.com",
	"ctldl.windowsupdate.com", "sls.update.microsoft.com", "adl.windows.com",
};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: dlog_fill DB N [STEP_S] [AGGREGATE_S] [LAST_NAME] "
			"[UPSTREAM2]\n");
		return 2;
	}
	int n = atoi(argv[2]);
	const char *last_name = argc > 5 && argv[5][0] ? argv[5] : NULL;
	const char *upstream2 = argc > 6 ? argv[6] : NULL;
	int64_t step = argc > 3 ? atoll(argv[3]) : 60;
	struct wg_dlog_params p = {.aggregate_s = argc > 4 ? (uint32_t)atoi(argv[4]) : 0};
	char err[256];
	struct wg_dlog *d = wg_dlog_open(argv[1], &p, err, sizeof(err));
	if (!d) {
		fprintf(stderr, "dlog_fill: %s\n", err);
		return 1;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (int i = 0; i < n; i++) {
		struct wg_dlog_event ev;
		int k = i % 4;
		memset(&ev, 0, sizeof(ev));
		ev.time_ms = now - (int64_t)(n - i) * step * 1000;
		snprintf(ev.client, sizeof(ev.client), "192.168.1.%d", 10 + i % 3);
		snprintf(ev.qname, sizeof(ev.qname), "%s",
			 last_name && i == n - 1 ? last_name : names[i % 5]);
		ev.qtype = i % 2 ? 28 : 1;
		snprintf(ev.category, sizeof(ev.category), "%s", kinds[k].category);
		snprintf(ev.severity, sizeof(ev.severity), "%s", kinds[k].severity);
		snprintf(ev.action, sizeof(ev.action), "%s", kinds[k].action);
		ev.local.rcode = kinds[k].lrcode;
		ev.local.flags = 0x8180;
		ev.local.ede = kinds[k].lede;
		snprintf(ev.local.addrs, sizeof(ev.local.addrs), "%s", kinds[k].laddrs);
		ev.local.min_ttl = kinds[k].laddrs[0] ? 10 : -1;
		snprintf(ev.local.upstream, sizeof(ev.local.upstream), "%s",
			 upstream2 && i % 3 == 2 ? upstream2 : "10.0.0.53:53");
		ev.local.latency_us = 800 + i;
		snprintf(ev.local.status, sizeof(ev.local.status), "ok");
		ev.public_.rcode = 0;
		ev.public_.flags = 0x81a0;
		ev.public_.ede = -1;
		snprintf(ev.public_.cname, sizeof(ev.public_.cname),
			 "%s. wu-b-net.trafficmanager.net. wu.ec.azureedge.net.", names[i % 5]);
		snprintf(ev.public_.addrs, sizeof(ev.public_.addrs), "%s", kinds[k].paddrs);
		ev.public_.min_ttl = 300;
		snprintf(ev.public_.upstream, sizeof(ev.public_.upstream), "quad9-dnscrypt");
		ev.public_.latency_us = 20000 + i;
		snprintf(ev.public_.status, sizeof(ev.public_.status), "ok");
		snprintf(ev.markers, sizeof(ev.markers), "%s", k == 0 ? "ttl-low" : "");
		ev.rule_version = 3;
		ev.authenticated = 1;
		while (wg_dlog_submit(d, &ev) == -ENOBUFS)
			wg_dlog_flush(d, 1000);
		wg_dlog_count(d, WG_DLOG_GUARDED);
		if (k == 2)
			wg_dlog_count(d, WG_DLOG_CDN_VARIANCE);
		if (kinds[k].action[0] == 'p')
			wg_dlog_count(d, WG_DLOG_REPAIRED);
	}
	wg_dlog_count(d, WG_DLOG_MATCHED);
	wg_dlog_close(d);
	return 0;
}
