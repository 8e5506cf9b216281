/* domainset.h: a set of DNS names with exact and "*.suffix" entries.
 *
 * Used for the WU domain set, sinkhole names, CDN suffixes and sanctioned
 * names. An entry "name" matches that name only; "*.name" matches every name
 * strictly below it (not name itself). Matching is by whole labels,
 * case-insensitive, and ignores a trailing dot, so "xwindowsupdate.com" is
 * not matched by "*.windowsupdate.com".
 *
 * Membership costs one hash probe per label of the query name (at most 127),
 * independent of the set's size, and never allocates: the hot path may call
 * wg_domainset_match_wire() on every query.
 *
 * Removing a name that is only covered by a wildcard records an exclusion:
 * the most specific entry decides, so "*.example.com" plus a removed
 * "a.example.com" matches b.example.com but not a.example.com.
 *
 * List files (db/wu-domains.list, db/cdn.list, db/sinkhole.list) share one
 * syntax, parsed by wg_domainset_parse_file():
 *   # comment              to the end of the line, anywhere
 *   [group]                a group header; the group is loaded by default
 *   [group default=off]    a group loaded only when enabled by name
 *   entry [words...]       one entry a line; words after it are handed on
 * Lines before the first header belong to no group and are always loaded. */
#ifndef WG_DOMAINSET_H
#define WG_DOMAINSET_H

#include <stddef.h>
#include <stdint.h>

struct wg_domainset;

/* Returns an empty set, or NULL on allocation failure. */
struct wg_domainset *wg_domainset_new(void);
/* NULL is allowed. */
void wg_domainset_free(struct wg_domainset *set);

/* Add "name" (exact) or "*.name" (every name strictly below name).
 * group (may be NULL) is copied and reported by wg_domainset_match_group().
 * Adding again is harmless; it also cancels an exclusion from remove.
 * Returns 0; -EINVAL for a malformed name, a "*" anywhere but as the whole
 * first label, or the root ("." and "*." would cover everything);
 * -ENOMEM. */
int wg_domainset_add(struct wg_domainset *set, const char *text, const char *group);

/* Remove "name" or "*.name". When the name stays covered by a wider
 * wildcard, an exclusion is recorded so it no longer matches.
 * Returns 0; -ENOENT when the entry was neither present nor covered;
 * -EINVAL for a malformed name; -ENOMEM. */
int wg_domainset_remove(struct wg_domainset *set, const char *text);

/* Does the set hold this name? name: uncompressed wire form, lower case
 * (struct wg_query_info.qname_lc, wg_wire_name_read() output). Returns 1 or
 * 0. Never allocates. A malformed name never matches. */
int wg_domainset_match_wire(const struct wg_domainset *set, const uint8_t *name);

/* Same, for text ("Download.WindowsUpdate.com." or without the dot).
 * Returns 1, 0, or 0 for text that is not a valid name. */
int wg_domainset_match_str(const struct wg_domainset *set, const char *text);

/* The group of the entry that matched name (wire, lower case), "" for an
 * entry added without a group, or NULL when the name is not in the set.
 * The string is owned by the set and valid until it is freed. */
const char *wg_domainset_match_group(const struct wg_domainset *set, const uint8_t *name);

/* Number of positive entries ("x" and "*.x" count as two). */
size_t wg_domainset_count(const struct wg_domainset *set);

/* One positive entry for wg_domainset_foreach(): name in lower-case wire
 * form (borrowed, valid during the call), wild 1 for "*.name", group as
 * wg_domainset_match_group() reports it. Return 0 to go on, or a negative
 * errno to stop. */
typedef int (*wg_domainset_entry_cb)(void *arg, const uint8_t *name, int wild,
				     const char *group);

/* Call cb for every positive entry ("x" and "*.x" are two calls; an
 * exclusion left by wg_domainset_remove() is none), in no particular order.
 * The set must not change meanwhile. Returns 0 or the callback's error. */
int wg_domainset_foreach(const struct wg_domainset *set, wg_domainset_entry_cb cb, void *arg);

/* One parsed line of a list file: entry is the first word, rest the words
 * after it (whitespace-trimmed, may be ""), group the current group ("" before
 * any header). Return 0 to go on, or a negative errno to stop; a reason
 * written into err (errcap bytes) is prefixed with "path:line: ". */
typedef int (*wg_domainset_line_cb)(void *arg, const char *group, const char *entry,
				    const char *rest, char *err, size_t errcap);

/* One line of a list file as wg_domainset_scan_file() hands it over. All
 * strings are borrowed, valid during the call. */
struct wg_domainset_line {
	unsigned lineno;
	const char *group;    /* the current group ("" before any header) */
	int group_default_on; /* its header says default=on (or none: "" group) */
	int group_on;         /* it is loaded with the given enabled_groups */
	int header;           /* this line is the group's header (entry NULL) */
	const char *entry;    /* the first word; NULL for a header or a comment line */
	const char *rest;     /* the words after entry, "" */
	const char *comment;  /* the text after '#', trimmed, "" when none */
};
typedef int (*wg_domainset_scan_cb)(void *arg, const struct wg_domainset_line *l, char *err,
				    size_t errcap);

/* Read a list file whole, for tools that show it (`wuguardctl domains`):
 * cb gets every group header, every entry of every group, loaded or not,
 * and every line that holds only a comment. Errors as
 * wg_domainset_parse_file(). */
int wg_domainset_scan_file(const char *path, const char *const *enabled_groups,
			   wg_domainset_scan_cb cb, void *arg, char *err, size_t errcap);

/* Parse a list file and call cb for each entry of each loaded group.
 * enabled_groups: NULL or a NULL-terminated array of group names; a name
 * switches on a default=off group, "-name" switches off a default-on group.
 * The file must pass wg_safefile_open() (root or the running user only).
 * Returns 0; -errno when the file cannot be read ("path: reason" in err);
 * -EPERM when someone else could have written it or a directory above it
 * (the fix, chmod or chown, in err); -EINVAL for a syntax error or the callback's error ("path:line: reason").
 * Lines longer than 1023 bytes are an error. */
int wg_domainset_parse_file(const char *path, const char *const *enabled_groups,
			    wg_domainset_line_cb cb, void *arg, char *err, size_t errcap);

/* Load a domain list file into set (entries of the loaded groups; any words
 * after an entry are an error). Returns as wg_domainset_parse_file(); on
 * error the set may hold the entries before the failing line. */
int wg_domainset_load_file(struct wg_domainset *set, const char *path,
			   const char *const *enabled_groups, char *err, size_t errcap);

#endif
