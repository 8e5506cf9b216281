/* wulist.h: the WU list file as a document, for wuguardctl.
 *
 * The daemon loads only the entries of the groups it guards into one
 * domain set (domainset.h), where a name keeps one group. `wuguardctl
 * domains` shows every group with its state and every entry with its
 * sources, and `wuguardctl probe` names every group a name belongs to; this
 * module reads the file for them: groups (on or off for a configuration),
 * entries with the source keys of their comment, and the "#@source KEY
 * REPOSITORY PATH [DETAIL]" lines that define the keys. Not for the hot
 * path: it allocates freely. */
#ifndef WG_WULIST_H
#define WG_WULIST_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "domainset.h"

#define WG_WULIST_MAX_SOURCES 12 /* source keys kept per entry */

struct wg_wulist_group {
	char *name;               /* owned */
	int default_on;           /* the header's default */
	int on;                   /* loaded with the configuration's groups */
	size_t n_entries;
	struct wg_domainset *set; /* owned: this group's entries alone */
};

struct wg_wulist_entry {
	char *text;               /* owned: "name" or "*.name", as written */
	size_t group;             /* index into groups[] */
	unsigned lineno;
	char *comment;            /* owned: the line's comment, "" when none */
	size_t n_sources;
	size_t sources[WG_WULIST_MAX_SOURCES]; /* indexes into sources[] */
};

struct wg_wulist_source {
	char *key;                /* owned */
	char *repo;               /* owned: "owner/name", or a tool name */
	char *path;               /* owned */
	char *detail;             /* owned: the rest of the line (commit, notes), "" */
	size_t uses;              /* entries that name it */
};

struct wg_wulist {
	char *path;                       /* owned: the file read */
	struct wg_wulist_group *groups;   /* owned array */
	size_t n_groups;
	struct wg_wulist_entry *entries;  /* owned array, in file order */
	size_t n_entries;
	struct wg_wulist_source *sources; /* owned array */
	size_t n_sources;
};

/* Read path. enabled_groups as for wg_domainset_parse_file(), deciding
 * each group's "on". Entries before any header go into a group named "".
 * An entry's sources are the words of its comment that name a key defined
 * above it; other words are text for people. Returns 0 with *out owned by the caller, or a negative errno with a
 * "path:line: reason" in err. */
int wg_wulist_load(const char *path, const char *const *enabled_groups, struct wg_wulist **out,
		   char *err, size_t errcap);
void wg_wulist_free(struct wg_wulist *l);

/* The groups (loaded ones only, or all) with an entry covering name
 * (lower-case wire form), in file order: up to cap indexes into
 * groups[]. Returns how many there are (may exceed cap). */
size_t wg_wulist_groups_of(const struct wg_wulist *l, const uint8_t *name, int loaded_only,
			   size_t *out, size_t cap);

#endif
