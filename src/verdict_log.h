/* verdict_log.h: guard verdicts and plugin overrides -> discrepancy-log rows.
 *
 * The bridge between crosscheck.c (loop thread, compare results) and
 * dlog.c (a pointer-free record handed to the writer thread). */
#ifndef WG_VERDICT_LOG_H
#define WG_VERDICT_LOG_H

#include "config.h"
#include "crosscheck.h"
#include "dlog.h"
#include "domainset.h"

#define WG_RULE_VERSION 1 /* bump when compare.c's rules change meaning */

/* Where rows go and what is never written ([database] hide-name,
 * hide-client). Owned by main; rebuilt on reload. */
struct wg_verdict_log {
	struct wg_dlog *dl;                /* borrowed, NULL: no database */
	struct wg_domainset *hide_names;   /* owned, NULL: none */
	struct wg_cidr *hide_clients;      /* owned copy */
	size_t n_hide_clients;
};

/* Build the hide lists from cfg, replacing the old ones only on success.
 * Returns 0, -EINVAL (reason in err) or -ENOMEM. */
int wg_verdict_log_configure(struct wg_verdict_log *rc, const struct wg_config *cfg, char *err,
			    size_t errcap);
/* Free the hide lists (dl is not touched). */
void wg_verdict_log_clear(struct wg_verdict_log *rc);

/* Fill ev from rec (a guard verdict or a plugin verdict set aside). Never
 * allocates. */
void wg_verdict_log_fill(const struct wg_xcheck_record *rec, struct wg_dlog_event *ev);

/* The one entry point, a wg_xcheck_record_cb: arg is the struct
 * wg_verdict_log (its dl may be NULL: no database, nothing written; hidden
 * names and clients are not written either). A guard verdict is counted in
 * the hourly health counters and submitted when it is a discrepancy; a
 * plugin verdict set aside (rec->policy_plugin) is written as a
 * local-policy row naming the plugin and its list entry. A full queue is
 * counted by dlog. */
void wg_verdict_log_submit(void *arg, const struct wg_xcheck_record *rec);

#endif
