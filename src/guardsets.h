/* guardsets.h: what the guard judges against, loaded from the configuration.
 *
 * The WU set (the domains file, its groups, [guard] add and remove), the
 * sinkhole addresses and names (sinkhole.list beside it, [guard]
 * sinkhole-*), the CDN suffixes (cdn.list, [guard] cdn-suffix), the
 * sanctioned addresses, names and blocks, and the public-reference list
 * ([upstream] public). The daemon, `wuguard -n` and `wuguardctl probe` and
 * `domains` all read them through here, so they agree on what is loaded.
 * No I/O besides reading the list files; the public resolvers' clients are
 * crosscheck.c's. */
#ifndef WG_GUARDSETS_H
#define WG_GUARDSETS_H

#include <stddef.h>
#include <stdio.h>

#include "compare.h"
#include "config.h"
#include "domainset.h"
#include "netaddr.h"

struct wg_guardsets {
	struct wg_domainset *wu;                     /* owned */
	struct wg_domainset *sinkhole_names, *cdn;   /* owned */
	struct wg_domainset *sanct_names, *sanct_blocks; /* owned */
	struct wg_addrlist sinkhole_addrs, sanct_addrs;  /* owned */
	struct wg_compare_ctx ctx;                   /* points into the sets above */
};

/* Load every set cfg names into g (zeroed by the caller). Returns 0 or a
 * negative errno with "path:line: reason" (or another reason) in err; on
 * error g holds what was loaded so far: wg_guardsets_clear() frees it.
 * g->ctx points into g: do not copy g after loading. */
int wg_guardsets_load(struct wg_guardsets *g, const struct wg_config *cfg, char *err,
		      size_t errcap);
/* Free every set; g is left zeroed. */
void wg_guardsets_clear(struct wg_guardsets *g);

/* The domains file for cfg ([guard] domains), or, when the built-in default
 * is not installed and WUGUARD_DBDIR is set (the test suite runs the build
 * tree's binaries so), the copy there. */
void wg_guardsets_domains_path(const struct wg_config *cfg, char *path, size_t cap);
/* The groups switched on by cfg's [guard] groups, as a NULL-terminated
 * array in arr (cap entries, the last one kept for NULL). */
void wg_guardsets_groups(const struct wg_config *cfg, const char **arr, size_t cap);

/* Load a sinkhole list (db/sinkhole.list syntax): address lines go to
 * addrs ("bogon" word honoured), name lines to names. Returns 0 or a
 * negative errno with "path:line: reason" in err (see
 * wg_domainset_parse_file). */
int wg_guardsets_load_sinkholes(struct wg_addrlist *addrs, struct wg_domainset *names,
				const char *path, const char *const *enabled_groups, char *err,
				size_t errcap);

#define WG_PUBLIC_MAX 32 /* public resolvers in one list */

/* [upstream] public as the daemon uses it: the stamps (the built-in ones
 * when none is configured) or the plain addresses, never both. */
struct wg_public_list {
	int none;                             /* public = none */
	int builtin;                          /* the built-in stamps */
	const char *stamps[WG_PUBLIC_MAX];    /* borrowed: cfg's strings or the built-ins */
	size_t n_stamps;
	struct wg_addr addrs[WG_PUBLIC_MAX];  /* one per stamp or plain address */
	size_t n_addrs;
};

/* Read cfg's [upstream] public into pl: none alone, stamps or plain
 * addresses but not both, at most WG_PUBLIC_MAX, every stamp decodes. When
 * out is not NULL, one line per resolver says what will be used (a stamp's
 * address, provider name and provider key in hex, so it can be compared with
 * what the provider publishes). Returns 0 or -EINVAL with the reason in
 * err. No I/O. */
int wg_guardsets_public(const struct wg_config *cfg, struct wg_public_list *pl, FILE *out,
			char *err, size_t errcap);

#endif
