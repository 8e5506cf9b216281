/* record.h: turn a guard verdict into a discrepancy-log row.
 *
 * The bridge between crosscheck.c (loop thread, compare results) and
 * dlog.c (a pointer-free record handed to the writer thread). */
#ifndef WG_RECORD_H
#define WG_RECORD_H

#include "crosscheck.h"
#include "dlog.h"

#define WG_RULE_VERSION 1 /* bump when compare.c's rules change meaning */

/* Fill ev from rec. Never allocates. */
void wg_record_fill(const struct wg_xcheck_record *rec, struct wg_dlog_event *ev);

/* A wg_xcheck_record_cb: arg is the struct wg_dlog (may be NULL: no
 * database, nothing written). Counts every verdict in the hourly health
 * counters and submits the discrepancies; a full queue is counted by dlog. */
void wg_record_to_dlog(void *arg, const struct wg_xcheck_record *rec);

/* A plugin wanted to block or rewrite a WU name and the guard set the
 * verdict aside: write a local-policy row naming the plugin and its list
 * entry. dl may be NULL. */
void wg_record_policy(struct wg_dlog *dl, const struct wg_query_info *qi,
		      const struct sockaddr_storage *client, const char *plugin, const char *entry,
		      const char *wanted);

#endif
