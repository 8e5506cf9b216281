/* domainset.c: see domainset.h.
 *
 * Design: one open-addressing hash table keyed by lower-cased wire names.
 * Each slot holds flags saying whether the name itself (EXACT), everything
 * strictly below it (WILD), or an exclusion of either is recorded. A lookup
 * walks the query name's suffixes from the longest to the shortest and stops
 * at the first slot with a flag relevant to that position, so the most
 * specific entry wins and the cost is one probe per label. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domainset.h"
#include "safefile.h"
#include "wire.h"

#define F_EXACT 0x01      /* the name itself */
#define F_WILD 0x02       /* every name strictly below */
#define F_EXCL_EXACT 0x04 /* removed: the name itself */
#define F_EXCL_WILD 0x08  /* removed: everything strictly below */

struct slot {
	uint8_t *name;  /* owned: lower-case wire name, NULL for a free slot */
	uint32_t hash;
	uint16_t group_exact; /* index into groups[]: of the F_EXACT entry */
	uint16_t group_wild;  /* of the F_WILD entry (a name may be both) */
	uint8_t len;    /* wire length, including the root label */
	uint8_t flags;
};

struct wg_domainset {
	struct slot *slots; /* owned array of cap entries */
	size_t cap;         /* power of two */
	size_t used;        /* slots with a name */
	char **groups;      /* owned array, each string owned; groups[0] is "" */
	size_t n_groups;
};

static inline uint8_t lc(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* FNV-1a over the lower-cased bytes of a wire name. */
static uint32_t name_hash(const uint8_t *name, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= lc(name[i]);
		h *= 16777619u;
	}
	return h;
}

/* Wire length of an uncompressed name, or 0 when malformed. */
static size_t wire_len(const uint8_t *name)
{
	size_t i = 0;
	for (;;) {
		uint8_t l = name[i];
		if (l & 0xc0)
			return 0;
		if (i + l + 1 > WG_NAME_MAX)
			return 0;
		i += (size_t)l + 1;
		if (l == 0)
			return i;
	}
}

static const struct slot *find(const struct wg_domainset *set, const uint8_t *name, size_t len,
			       uint32_t h)
{
	size_t mask = set->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct slot *s = &set->slots[i];
		if (!s->name)
			return NULL;
		if (s->hash == h && s->len == len && wg_wire_name_eq(s->name, name))
			return s;
	}
}

struct wg_domainset *wg_domainset_new(void)
{
	struct wg_domainset *set = calloc(1, sizeof(*set));
	if (!set)
		return NULL;
	set->cap = 64;
	set->slots = calloc(set->cap, sizeof(*set->slots));
	set->groups = calloc(1, sizeof(char *));
	if (set->groups)
		set->groups[0] = strdup("");
	if (!set->slots || !set->groups || !set->groups[0]) {
		wg_domainset_free(set);
		return NULL;
	}
	set->n_groups = 1;
	return set;
}

void wg_domainset_free(struct wg_domainset *set)
{
	if (!set)
		return;
	if (set->slots)
		for (size_t i = 0; i < set->cap; i++)
			free(set->slots[i].name);
	free(set->slots);
	if (set->groups)
		for (size_t i = 0; i < set->n_groups; i++)
			free(set->groups[i]);
	free(set->groups);
	free(set);
}

static int grow(struct wg_domainset *set)
{
	size_t ncap = set->cap * 2;
	struct slot *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < set->cap; i++) {
		struct slot *s = &set->slots[i];
		if (!s->name)
			continue;
		size_t j = s->hash & (ncap - 1);
		while (ns[j].name)
			j = (j + 1) & (ncap - 1);
		ns[j] = *s;
	}
	free(set->slots);
	set->slots = ns;
	set->cap = ncap;
	return 0;
}

/* The slot for name, created (with no flags) when absent. NULL on ENOMEM. */
static struct slot *get_slot(struct wg_domainset *set, const uint8_t *name, size_t len)
{
	uint32_t h = name_hash(name, len);
	struct slot *s = (struct slot *)find(set, name, len, h);
	if (s)
		return s;
	/* keep the load factor under 1/2 so probe runs stay short */
	if ((set->used + 1) * 2 > set->cap && grow(set) < 0)
		return NULL;
	uint8_t *copy = malloc(len);
	if (!copy)
		return NULL;
	for (size_t i = 0; i < len; i++)
		copy[i] = lc(name[i]);
	size_t mask = set->cap - 1;
	size_t i = h & mask;
	while (set->slots[i].name)
		i = (i + 1) & mask;
	s = &set->slots[i];
	s->name = copy;
	s->len = (uint8_t)len;
	s->hash = h;
	s->flags = 0;
	s->group_exact = s->group_wild = 0;
	set->used++;
	return s;
}

/* Parse "name" or "*.name" into lower-case wire form. Returns the wire
 * length and sets *wild, or -EINVAL. */
static int parse_entry(const char *text, uint8_t *out, int *wild)
{
	*wild = 0;
	if (text[0] == '*') {
		if (text[1] != '.')
			return -EINVAL;
		*wild = 1;
		text += 2;
	}
	if (text[0] == 0 || (text[0] == '.' && text[1] == 0))
		return -EINVAL; /* the root: would cover every name */
	for (const char *p = text; *p; p++)
		if (*p == '*' || *p == ' ' || *p == '\t')
			return -EINVAL;
	int n = wg_wire_name_from_str(text, out);
	if (n <= 1)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		out[i] = lc(out[i]);
	return n;
}

static int intern_group(struct wg_domainset *set, const char *group, uint16_t *idx)
{
	if (!group || !group[0]) {
		*idx = 0;
		return 0;
	}
	for (size_t i = 0; i < set->n_groups; i++)
		if (strcmp(set->groups[i], group) == 0) {
			*idx = (uint16_t)i;
			return 0;
		}
	if (set->n_groups >= UINT16_MAX)
		return -ENOMEM;
	char **ng = realloc(set->groups, (set->n_groups + 1) * sizeof(char *));
	if (!ng)
		return -ENOMEM;
	set->groups = ng;
	if (!(ng[set->n_groups] = strdup(group)))
		return -ENOMEM;
	*idx = (uint16_t)set->n_groups++;
	return 0;
}

int wg_domainset_add(struct wg_domainset *set, const char *text, const char *group)
{
	uint8_t name[WG_NAME_MAX];
	int wild;
	int n = parse_entry(text, name, &wild);
	if (n < 0)
		return n;
	uint16_t g;
	if (intern_group(set, group, &g) < 0)
		return -ENOMEM;
	struct slot *s = get_slot(set, name, (size_t)n);
	if (!s)
		return -ENOMEM;
	if (wild) {
		s->flags = (uint8_t)((s->flags | F_WILD) & ~F_EXCL_WILD);
		s->group_wild = g;
	} else {
		s->flags = (uint8_t)((s->flags | F_EXACT) & ~F_EXCL_EXACT);
		s->group_exact = g;
	}
	return 0;
}

/* The slot deciding membership of name, or NULL when none does; *group
 * (may be NULL) gets the group of the deciding entry. */
static const struct slot *decide(const struct wg_domainset *set, const uint8_t *name,
				 uint16_t *group)
{
	size_t len = wire_len(name);
	if (len == 0)
		return NULL;
	size_t off = 0;
	int first = 1;
	while (name[off] != 0) {
		const uint8_t *suffix = name + off;
		size_t slen = len - off;
		const struct slot *s = find(set, suffix, slen, name_hash(suffix, slen));
		if (s) {
			uint8_t pos = first ? F_EXACT : F_WILD;
			uint8_t neg = first ? F_EXCL_EXACT : F_EXCL_WILD;
			if (s->flags & pos) {
				if (group)
					*group = first ? s->group_exact : s->group_wild;
				return s;
			}
			if (s->flags & neg)
				return NULL;
		}
		first = 0;
		off += (size_t)name[off] + 1;
	}
	return NULL;
}

int wg_domainset_match_wire(const struct wg_domainset *set, const uint8_t *name)
{
	return decide(set, name, NULL) != NULL;
}

const char *wg_domainset_match_group(const struct wg_domainset *set, const uint8_t *name)
{
	uint16_t g = 0;
	return decide(set, name, &g) ? set->groups[g] : NULL;
}

int wg_domainset_match_str(const struct wg_domainset *set, const char *text)
{
	uint8_t name[WG_NAME_MAX];
	int n = wg_wire_name_from_str(text, name);
	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		name[i] = lc(name[i]);
	return wg_domainset_match_wire(set, name);
}

int wg_domainset_remove(struct wg_domainset *set, const char *text)
{
	uint8_t name[WG_NAME_MAX];
	int wild;
	int n = parse_entry(text, name, &wild);
	if (n < 0)
		return n;
	uint8_t pos = wild ? F_WILD : F_EXACT;
	uint8_t neg = wild ? F_EXCL_WILD : F_EXCL_EXACT;
	int changed = 0;
	struct slot *s = (struct slot *)find(set, name, (size_t)n, name_hash(name, (size_t)n));
	if (s && (s->flags & pos)) {
		s->flags &= (uint8_t)~pos;
		changed = 1;
	}
	/* Still covered by a wider wildcard? Probe with the name itself, or for
	 * "*.name" with the one-label child "*.name" (no entry can hold a "*"
	 * label, so only the wildcards above decide). */
	int covered;
	if (wild) {
		uint8_t child[WG_NAME_MAX];
		if ((size_t)n + 2 > WG_NAME_MAX) {
			covered = 0;
		} else {
			child[0] = 1;
			child[1] = '*';
			memcpy(child + 2, name, (size_t)n);
			covered = wg_domainset_match_wire(set, child);
		}
	} else {
		covered = wg_domainset_match_wire(set, name);
	}
	if (covered) {
		s = get_slot(set, name, (size_t)n);
		if (!s)
			return -ENOMEM;
		s->flags |= neg;
		changed = 1;
	}
	return changed ? 0 : -ENOENT;
}

size_t wg_domainset_count(const struct wg_domainset *set)
{
	size_t n = 0;
	for (size_t i = 0; i < set->cap; i++) {
		if (!set->slots[i].name)
			continue;
		n += (set->slots[i].flags & F_EXACT) ? 1 : 0;
		n += (set->slots[i].flags & F_WILD) ? 1 : 0;
	}
	return n;
}

int wg_domainset_foreach(const struct wg_domainset *set, wg_domainset_entry_cb cb, void *arg)
{
	for (size_t i = 0; i < set->cap; i++) {
		const struct slot *s = &set->slots[i];
		int rc;
		if (!s->name)
			continue;
		if ((s->flags & F_EXACT) &&
		    (rc = cb(arg, s->name, 0, set->groups[s->group_exact])) < 0)
			return rc;
		if ((s->flags & F_WILD) && (rc = cb(arg, s->name, 1, set->groups[s->group_wild])) < 0)
			return rc;
	}
	return 0;
}

static int group_enabled(const char *group, int default_on, const char *const *enabled)
{
	int on = default_on;
	for (size_t i = 0; enabled && enabled[i]; i++) {
		if (strcmp(enabled[i], group) == 0)
			on = 1;
		else if (enabled[i][0] == '-' && strcmp(enabled[i] + 1, group) == 0)
			on = 0;
	}
	return on;
}

static int valid_group_name(const char *g)
{
	if (!*g)
		return 0;
	for (; *g; g++)
		if (!((*g >= 'a' && *g <= 'z') || (*g >= '0' && *g <= '9') || *g == '-' ||
		      *g == '_'))
			return 0;
	return 1;
}

/* Parse "[name]" or "[name default=off|on]" (already trimmed) into group.
 * Returns 0 or -EINVAL with a reason. */
static int parse_header(char *line, char *group, size_t gcap, int *default_on,
			const char **why)
{
	size_t l = strlen(line);
	if (line[l - 1] != ']') {
		*why = "group header without closing ']'";
		return -EINVAL;
	}
	line[l - 1] = 0;
	char *p = line + 1;
	char *name = strtok(p, " \t");
	char *opt = name ? strtok(NULL, " \t") : NULL;
	char *extra = opt ? strtok(NULL, " \t") : NULL;
	if (!name || !valid_group_name(name) || strlen(name) >= gcap) {
		*why = "bad group name (use a-z, 0-9, '-', '_')";
		return -EINVAL;
	}
	*default_on = 1;
	if (opt) {
		if (strcmp(opt, "default=off") == 0)
			*default_on = 0;
		else if (strcmp(opt, "default=on") != 0) {
			*why = "unknown group option (default=on or default=off)";
			return -EINVAL;
		}
	}
	if (extra) {
		*why = "trailing words after the group option";
		return -EINVAL;
	}
	strcpy(group, name);
	return 0;
}

int wg_domainset_scan_file(const char *path, const char *const *enabled_groups,
			   wg_domainset_scan_cb cb, void *arg, char *err, size_t errcap)
{
	/* a list decides what is guarded: the config file's rule applies */
	int fd = wg_safefile_open(path, (uid_t)-1, err, errcap);
	if (fd < 0)
		return fd;
	FILE *f = fdopen(fd, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errcap, "%s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	char line[1024];
	char group[64] = "";
	struct wg_domainset_line l = {.group = group, .group_default_on = 1, .group_on = 1};
	int rc = 0;
	char why[256];
	why[0] = 0;

	while (fgets(line, sizeof(line), f)) {
		l.lineno++;
		size_t n = strlen(line);
		if (n == sizeof(line) - 1 && line[n - 1] != '\n' && !feof(f)) {
			snprintf(why, sizeof(why), "line too long (over %zu bytes)",
				 sizeof(line) - 1);
			rc = -EINVAL;
			break;
		}
		char *comment = strchr(line, '#');
		if (comment) {
			*comment++ = 0;
			while (*comment == ' ' || *comment == '\t' || *comment == '#')
				comment++;
			size_t cl = strlen(comment);
			while (cl && (comment[cl - 1] == '\n' || comment[cl - 1] == '\r' ||
				      comment[cl - 1] == ' ' || comment[cl - 1] == '\t'))
				comment[--cl] = 0;
		}
		l.comment = comment ? comment : "";
		l.header = 0;
		l.entry = NULL;
		l.rest = "";
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		n = strlen(p);
		while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' ||
			     p[n - 1] == '\t'))
			p[--n] = 0;
		if (n == 0) {
			if (!comment)
				continue;
		} else if (p[0] == '[') {
			const char *r = "";
			if (parse_header(p, group, sizeof(group), &l.group_default_on, &r) < 0) {
				snprintf(why, sizeof(why), "%s", r);
				rc = -EINVAL;
				break;
			}
			l.group_on = group_enabled(group, l.group_default_on, enabled_groups);
			l.header = 1;
		} else {
			char *rest = p;
			while (*rest && *rest != ' ' && *rest != '\t')
				rest++;
			if (*rest) {
				*rest++ = 0;
				while (*rest == ' ' || *rest == '\t')
					rest++;
			}
			l.entry = p;
			l.rest = rest;
		}
		why[0] = 0;
		rc = cb(arg, &l, why, sizeof(why));
		if (rc < 0) {
			if (!why[0])
				snprintf(why, sizeof(why), "%s", strerror(-rc));
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		rc = -EIO;
		snprintf(err, errcap, "%s: read error", path);
	} else if (rc < 0) {
		snprintf(err, errcap, "%s:%u: %s", path, l.lineno, why);
	}
	fclose(f);
	return rc;
}

struct parse_adapter {
	wg_domainset_line_cb cb;
	void *arg;
};

/* The entries of loaded groups, as wg_domainset_parse_file() promises. */
static int parse_adapt(void *arg, const struct wg_domainset_line *l, char *err, size_t errcap)
{
	const struct parse_adapter *a = arg;
	if (!l->entry || !l->group_on)
		return 0;
	return a->cb(a->arg, l->group, l->entry, l->rest, err, errcap);
}

int wg_domainset_parse_file(const char *path, const char *const *enabled_groups,
			    wg_domainset_line_cb cb, void *arg, char *err, size_t errcap)
{
	struct parse_adapter a = {cb, arg};
	return wg_domainset_scan_file(path, enabled_groups, parse_adapt, &a, err, errcap);
}

static int load_cb(void *arg, const char *group, const char *entry, const char *rest,
		   char *err, size_t errcap)
{
	struct wg_domainset *set = arg;
	if (rest[0]) {
		snprintf(err, errcap, "unexpected text after the name: \"%s\"", rest);
		return -EINVAL;
	}
	int rc = wg_domainset_add(set, entry, group);
	if (rc == -EINVAL)
		snprintf(err, errcap,
			 "bad name \"%s\" (want name or *.name; '*' only as the whole first label)",
			 entry);
	return rc;
}

int wg_domainset_load_file(struct wg_domainset *set, const char *path,
			   const char *const *enabled_groups, char *err, size_t errcap)
{
	return wg_domainset_parse_file(path, enabled_groups, load_cb, set, err, errcap);
}
