/* record.h: turn a guard verdict into a discrepancy-log row.
 *
 * The bridge between crosscheck.c (loop thread, compare results) and
 * dlog.c (a pointer-free record handed to the writer thread). */
#ifndef WG_RECORD_H
#define WG_RECORD_H

#include "config.h"
#include "crosscheck.h"
#include "dlog.h"
#include "domainset.h"

#define WG_RULE_VERSION 1 /* bump when compare.c's rules change meaning */

/* Where rows go and what is never written ([database] hide-name,
 * hide-client). Owned by main; rebuilt on reload. */
struct wg_record_ctx {
	struct wg_dlog *dl;                /* borrowed, NULL: no database */
	struct wg_domainset *hide_names;   /* owned, NULL: none */
	struct wg_cidr *hide_clients;      /* owned copy */
	size_t n_hide_clients;
};

/* Build the hide lists from cfg, replacing the old ones only on success.
 * Returns 0, -EINVAL (reason in err) or -ENOMEM. */
int wg_record_ctx_configure(struct wg_record_ctx *rc, const struct wg_config *cfg, char *err,
			    size_t errcap);
/* Free the hide lists (dl is not touched). */
void wg_record_ctx_clear(struct wg_record_ctx *rc);

/* Fill ev from rec. Never allocates. */
void wg_record_fill(const struct wg_xcheck_record *rec, struct wg_dlog_event *ev);

/* A wg_xcheck_record_cb: arg is the struct wg_record_ctx (its dl may be
 * NULL: no database, nothing written; hidden names and clients are not
 * written either). Counts every verdict in the hourly health
 * counters and submits the discrepancies; a full queue is counted by dlog. */
void wg_record_to_dlog(void *arg, const struct wg_xcheck_record *rec);

/* A plugin wanted to block or rewrite a WU name and the guard set the
 * verdict aside: write a local-policy row naming the plugin and its list
 * entry. rc may be NULL. */
void wg_record_policy(struct wg_record_ctx *rc, const struct wg_query_info *qi,
		      const struct sockaddr_storage *client, const char *plugin, const char *entry,
		      const char *wanted);

#endif
