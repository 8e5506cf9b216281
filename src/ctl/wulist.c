/* wulist.c: see wulist.h. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wulist.h"

void wg_wulist_free(struct wg_wulist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_groups; i++) {
		free(l->groups[i].name);
		wg_domainset_free(l->groups[i].set);
	}
	for (size_t i = 0; i < l->n_entries; i++) {
		free(l->entries[i].text);
		free(l->entries[i].comment);
	}
	for (size_t i = 0; i < l->n_sources; i++) {
		free(l->sources[i].key);
		free(l->sources[i].repo);
		free(l->sources[i].path);
		free(l->sources[i].detail);
	}
	free(l->groups);
	free(l->entries);
	free(l->sources);
	free(l->path);
	free(l);
}

/* Grow *arr (of elem-sized items, *cap of them) to hold one more. */
static int reserve(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *na = realloc(*arr, ncap * elem);
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = ncap;
	return 0;
}

struct loader {
	struct wg_wulist *l;
	size_t cap_groups, cap_entries, cap_sources;
	size_t cur; /* the current group's index, SIZE_MAX before the first line */
};

static long find_source(const struct wg_wulist *l, const char *key, size_t n)
{
	for (size_t i = 0; i < l->n_sources; i++)
		if (strlen(l->sources[i].key) == n && strncmp(l->sources[i].key, key, n) == 0)
			return (long)i;
	return -1;
}

static int add_group(struct loader *ld, const char *name, int default_on, int on)
{
	struct wg_wulist *l = ld->l;
	if (reserve((void **)&l->groups, &ld->cap_groups, l->n_groups, sizeof(*l->groups)) < 0)
		return -ENOMEM;
	struct wg_wulist_group *g = &l->groups[l->n_groups];
	memset(g, 0, sizeof(*g));
	g->default_on = default_on;
	g->on = on;
	if (!(g->name = strdup(name)) || !(g->set = wg_domainset_new())) {
		free(g->name);
		return -ENOMEM;
	}
	ld->cur = l->n_groups++;
	return 0;
}

/* "#@source KEY REPO PATH [DETAIL...]" */
static int add_source(struct loader *ld, const char *text, char *err, size_t errcap)
{
	struct wg_wulist *l = ld->l;
	char key[64], repo[256], path[512];
	int used = 0;
	if (sscanf(text, "%63s %255s %511s %n", key, repo, path, &used) < 3) {
		snprintf(err, errcap, "#@source wants KEY REPOSITORY PATH [DETAIL]");
		return -EINVAL;
	}
	if (find_source(l, key, strlen(key)) >= 0) {
		snprintf(err, errcap, "#@source %s defined twice", key);
		return -EINVAL;
	}
	if (reserve((void **)&l->sources, &ld->cap_sources, l->n_sources, sizeof(*l->sources)) <
	    0)
		return -ENOMEM;
	struct wg_wulist_source *s = &l->sources[l->n_sources];
	memset(s, 0, sizeof(*s));
	s->key = strdup(key);
	s->repo = strdup(repo);
	s->path = strdup(path);
	s->detail = strdup(used ? text + used : "");
	l->n_sources++;
	if (!s->key || !s->repo || !s->path || !s->detail)
		return -ENOMEM;
	return 0;
}

static int add_entry(struct loader *ld, const struct wg_domainset_line *ln, char *err,
		     size_t errcap)
{
	struct wg_wulist *l = ld->l;
	if (ln->rest[0]) {
		snprintf(err, errcap, "unexpected text after the name: \"%s\"", ln->rest);
		return -EINVAL;
	}
	if (ld->cur == SIZE_MAX && add_group(ld, "", 1, 1) < 0)
		return -ENOMEM;
	struct wg_wulist_group *g = &l->groups[ld->cur];
	int rc = wg_domainset_add(g->set, ln->entry, g->name);
	if (rc == -EINVAL)
		snprintf(err, errcap, "bad name \"%s\"", ln->entry);
	if (rc < 0)
		return rc;
	if (reserve((void **)&l->entries, &ld->cap_entries, l->n_entries, sizeof(*l->entries)) <
	    0)
		return -ENOMEM;
	struct wg_wulist_entry *e = &l->entries[l->n_entries];
	memset(e, 0, sizeof(*e));
	e->group = ld->cur;
	e->lineno = ln->lineno;
	e->text = strdup(ln->entry);
	e->comment = strdup(ln->comment);
	l->n_entries++;
	if (!e->text || !e->comment)
		return -ENOMEM;
	g->n_entries++;
	/* the comment's words that name a key ("W11", "W11:", "(W11)") */
	for (const char *p = ln->comment; *p && e->n_sources < WG_WULIST_MAX_SOURCES;) {
		while (*p && strchr(" \t,;:()", *p))
			p++;
		size_t n = strcspn(p, " \t,;:()");
		long k = n ? find_source(l, p, n) : -1;
		int dup = 0;
		for (size_t i = 0; k >= 0 && i < e->n_sources; i++)
			dup |= e->sources[i] == (size_t)k;
		if (k >= 0 && !dup) {
			e->sources[e->n_sources++] = (size_t)k;
			l->sources[k].uses++;
		}
		p += n;
	}
	return 0;
}

static int load_line(void *arg, const struct wg_domainset_line *ln, char *err, size_t errcap)
{
	struct loader *ld = arg;
	if (ln->header)
		return add_group(ld, ln->group, ln->group_default_on, ln->group_on);
	if (ln->entry)
		return add_entry(ld, ln, err, errcap);
	if (strncmp(ln->comment, "@source", 7) == 0 && (ln->comment[7] == ' ' ||
							 ln->comment[7] == '\t'))
		return add_source(ld, ln->comment + 8, err, errcap);
	return 0;
}

int wg_wulist_load(const char *path, const char *const *enabled_groups, struct wg_wulist **out,
		   char *err, size_t errcap)
{
	struct loader ld = {.cur = SIZE_MAX};
	*out = NULL;
	if (!(ld.l = calloc(1, sizeof(*ld.l))) || !(ld.l->path = strdup(path))) {
		free(ld.l);
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	int rc = wg_domainset_scan_file(path, enabled_groups, load_line, &ld, err, errcap);
	if (rc < 0) {
		wg_wulist_free(ld.l);
		return rc;
	}
	*out = ld.l;
	return 0;
}

size_t wg_wulist_groups_of(const struct wg_wulist *l, const uint8_t *name, int loaded_only,
			   size_t *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < l->n_groups; i++) {
		if (loaded_only && !l->groups[i].on)
			continue;
		if (!wg_domainset_match_wire(l->groups[i].set, name))
			continue;
		/* a group header may appear twice in a file: name it once */
		int seen = 0;
		for (size_t k = 0; k < n && k < cap; k++)
			seen |= strcmp(l->groups[out[k]].name, l->groups[i].name) == 0;
		if (seen)
			continue;
		if (n < cap)
			out[n] = i;
		n++;
	}
	return n;
}
