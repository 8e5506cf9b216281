/* ctl_domains.c: see ctl_domains.h. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl_domains.h"
#include "ctl_out.h"
#include "domainset.h"
#include "guardsets.h"
#include "wire.h"
#include "wulist.h"

#define EX_USAGE_ 2

void wg_ctl_domains_usage(FILE *out)
{
	fputs("  domains [--domains FILE] [--group G] [--format table|json]\n"
	      "                                         the effective WU set: groups (on/off),\n"
	      "                                         entries and their sources\n",
	      out);
}

struct dopts {
	const char *domains; /* borrowed: --domains */
	const char *group;   /* borrowed: --group */
	int json;
};

static int parse_opts(int argc, char **argv, struct dopts *o)
{
	enum { D_DOMAINS = 1, D_GROUP, D_FORMAT };
	static const struct option lo[] = {
		{"domains", required_argument, NULL, D_DOMAINS},
		{"group", required_argument, NULL, D_GROUP},
		{"format", required_argument, NULL, D_FORMAT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case D_DOMAINS: o->domains = optarg; break;
		case D_GROUP: o->group = optarg; break;
		case D_FORMAT:
			if (strcmp(optarg, "json") == 0)
				o->json = 1;
			else if (strcmp(optarg, "table") == 0)
				o->json = 0;
			else {
				fprintf(stderr, "wuguardctl: domains: --format: table or json, not %s\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'h': wg_ctl_domains_usage(stdout); exit(0);
		default:
			fprintf(stderr, "wuguardctl: domains: unknown option %s\n", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wuguardctl: domains: unexpected argument %s\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Is this [guard] remove entry in effect, i.e. did it take something out
 * of the loaded set? Checked against a set of the loaded entries. */
static int is_removed(const struct wg_domainset *loaded, const char *text)
{
	uint8_t w[WG_NAME_MAX];
	const char *t = text;
	if (t[0] == '*' && t[1] == '.')
		t += 2;
	if (wg_wire_name_from_str(t, w) <= 1)
		return 0;
	if (t != text) {
		/* "*.x": probe a child name, "*" cannot be an entry label */
		uint8_t child[WG_NAME_MAX];
		size_t len = 0;
		while (w[len])
			len += (size_t)w[len] + 1;
		if (len + 3 > WG_NAME_MAX)
			return 0;
		child[0] = 1;
		child[1] = '*';
		memcpy(child + 2, w, len + 1);
		return wg_domainset_match_wire(loaded, child);
	}
	return wg_domainset_match_str(loaded, t);
}

static void print_sources_json(const struct wg_wulist *l, const struct wg_wulist_entry *e)
{
	fputc('[', stdout);
	for (size_t k = 0; k < e->n_sources; k++) {
		if (k)
			fputc(',', stdout);
		wg_ctl_json_str(stdout, l->sources[e->sources[k]].key);
	}
	fputc(']', stdout);
}

static void print_json(const struct wg_wulist *l, const struct wg_config *cfg,
		       const struct wg_domainset *loaded, const struct dopts *o)
{
	fputs("{\"file\":", stdout);
	wg_ctl_json_str(stdout, l->path);
	fputs(",\"groups\":[", stdout);
	int first = 1;
	for (size_t i = 0; i < l->n_groups; i++) {
		const struct wg_wulist_group *g = &l->groups[i];
		if (o->group && strcmp(o->group, g->name) != 0)
			continue;
		fprintf(stdout, "%s{\"name\":", first ? "" : ",");
		wg_ctl_json_str(stdout, g->name);
		fprintf(stdout, ",\"default\":\"%s\",\"on\":%s,\"entries\":%zu}",
			g->default_on ? "on" : "off", g->on ? "true" : "false", g->n_entries);
		first = 0;
	}
	fputs("],\"entries\":[", stdout);
	first = 1;
	for (size_t i = 0; i < l->n_entries; i++) {
		const struct wg_wulist_entry *e = &l->entries[i];
		const struct wg_wulist_group *g = &l->groups[e->group];
		if (o->group && strcmp(o->group, g->name) != 0)
			continue;
		fprintf(stdout, "%s{\"entry\":", first ? "" : ",");
		wg_ctl_json_str(stdout, e->text);
		fputs(",\"group\":", stdout);
		wg_ctl_json_str(stdout, g->name);
		fprintf(stdout, ",\"on\":%s,\"line\":%u,\"sources\":", g->on ? "true" : "false",
			e->lineno);
		print_sources_json(l, e);
		fputs(",\"comment\":", stdout);
		wg_ctl_json_str(stdout, e->comment);
		fputc('}', stdout);
		first = 0;
	}
	fputs("],\"sources\":[", stdout);
	for (size_t i = 0; i < l->n_sources; i++) {
		const struct wg_wulist_source *s = &l->sources[i];
		fputs(i ? ",{\"key\":" : "{\"key\":", stdout);
		wg_ctl_json_str(stdout, s->key);
		fputs(",\"repository\":", stdout);
		wg_ctl_json_str(stdout, s->repo);
		fputs(",\"path\":", stdout);
		wg_ctl_json_str(stdout, s->path);
		fputs(",\"detail\":", stdout);
		wg_ctl_json_str(stdout, s->detail);
		fprintf(stdout, ",\"entries\":%zu}", s->uses);
	}
	fputs("],\"added\":[", stdout);
	for (size_t i = 0; i < cfg->domains_add.n; i++) {
		fputs(i ? "," : "", stdout);
		wg_ctl_json_str(stdout, cfg->domains_add.v[i]);
	}
	fputs("],\"removed\":[", stdout);
	first = 1;
	for (size_t i = 0; i < cfg->domains_remove.n; i++) {
		if (!is_removed(loaded, cfg->domains_remove.v[i]))
			continue;
		fputs(first ? "" : ",", stdout);
		wg_ctl_json_str(stdout, cfg->domains_remove.v[i]);
		first = 0;
	}
	fputs("]}\n", stdout);
}

static void print_table(const struct wg_wulist *l, const struct wg_config *cfg,
			const struct wg_domainset *loaded, const struct dopts *o)
{
	int wg = 5, we = 5;
	for (size_t i = 0; i < l->n_groups; i++) {
		int n = (int)strlen(l->groups[i].name);
		wg = n > wg ? n : wg;
	}
	for (size_t i = 0; i < l->n_entries; i++) {
		int n = (int)strlen(l->entries[i].text);
		we = n > we ? n : we;
	}
	printf("WU set: %s\n\n", l->path);
	printf("%-*s %-4s %-7s %s\n", wg, "GROUP", "ON", "DEFAULT", "ENTRIES");
	for (size_t i = 0; i < l->n_groups; i++) {
		const struct wg_wulist_group *g = &l->groups[i];
		if (o->group && strcmp(o->group, g->name) != 0)
			continue;
		printf("%-*s %-4s %-7s %zu\n", wg, g->name[0] ? g->name : "-", g->on ? "on" : "off",
		       g->default_on ? "on" : "off", g->n_entries);
	}
	printf("\n%-*s %-*s %-4s %s\n", we, "ENTRY", wg, "GROUP", "ON", "SOURCES");
	for (size_t i = 0; i < l->n_entries; i++) {
		const struct wg_wulist_entry *e = &l->entries[i];
		const struct wg_wulist_group *g = &l->groups[e->group];
		if (o->group && strcmp(o->group, g->name) != 0)
			continue;
		printf("%-*s %-*s %-4s", we, e->text, wg, g->name[0] ? g->name : "-",
		       g->on ? "on" : "off");
		for (size_t k = 0; k < e->n_sources; k++)
			printf("%s%s", k ? "," : " ", l->sources[e->sources[k]].key);
		if (!e->n_sources)
			fputs(" -", stdout);
		fputc('\n', stdout);
	}
	if (l->n_sources) {
		puts("\nSOURCES");
		for (size_t i = 0; i < l->n_sources; i++) {
			const struct wg_wulist_source *s = &l->sources[i];
			printf("%s %s %s%s%s\n", s->key, s->repo, s->path, s->detail[0] ? " " : "",
			       s->detail);
		}
	}
	if (cfg->domains_add.n) {
		puts("\n[guard] add (group config):");
		for (size_t i = 0; i < cfg->domains_add.n; i++)
			printf("  %s\n", cfg->domains_add.v[i]);
	}
	int any = 0;
	for (size_t i = 0; i < cfg->domains_remove.n; i++) {
		if (!is_removed(loaded, cfg->domains_remove.v[i]))
			continue;
		if (!any)
			puts("\n[guard] remove (no longer guarded):");
		printf("  %s\n", cfg->domains_remove.v[i]);
		any = 1;
	}
}

int wg_ctl_domains(int argc, char **argv, const char *config_path)
{
	struct dopts o = {0};
	struct wg_config cfg;
	char err[512], path[1024];
	const char *groups[65];
	struct wg_wulist *l = NULL;
	struct wg_domainset *loaded = NULL;
	int rc = EX_USAGE_;

	if (parse_opts(argc, argv, &o) < 0)
		return EX_USAGE_;
	if (wg_config_defaults(&cfg) < 0) {
		fputs("wuguardctl: domains: out of memory\n", stderr);
		return EX_USAGE_;
	}
	if (config_path && wg_config_load(&cfg, config_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "wuguardctl: domains: %s\n", err);
		goto out;
	}
	if (o.domains)
		snprintf(path, sizeof(path), "%s", o.domains);
	else
		wg_guardsets_domains_path(&cfg, path, sizeof(path));
	wg_guardsets_groups(&cfg, groups, sizeof(groups) / sizeof(groups[0]));
	if (wg_wulist_load(path, groups, &l, err, sizeof(err)) < 0) {
		fprintf(stderr, "wuguardctl: domains: %s\n", err);
		goto out;
	}
	if (o.group) {
		int found = 0;
		for (size_t i = 0; i < l->n_groups; i++)
			found |= strcmp(l->groups[i].name, o.group) == 0;
		if (!found) {
			fprintf(stderr, "wuguardctl: domains: %s: no group %s\n", path, o.group);
			goto out;
		}
	}
	/* the loaded entries, to tell which removes take effect */
	if (!(loaded = wg_domainset_new()) ||
	    wg_domainset_load_file(loaded, path, groups, err, sizeof(err)) < 0) {
		fprintf(stderr, "wuguardctl: domains: %s\n", loaded ? err : "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg.domains_add.n; i++)
		wg_domainset_add(loaded, cfg.domains_add.v[i], "config");
	if (o.json)
		print_json(l, &cfg, loaded, &o);
	else
		print_table(l, &cfg, loaded, &o);
	rc = fflush(stdout) == 0 ? 0 : EX_USAGE_;
out:
	wg_domainset_free(loaded);
	wg_wulist_free(l);
	wg_config_free(&cfg);
	return rc;
}
