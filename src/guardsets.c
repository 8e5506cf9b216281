/* guardsets.c: see guardsets.h. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnscrypt.h"
#include "dnscrypt_proto.h"
#include "guardsets.h"
#include "log.h"

static int add_list(struct wg_domainset *set, const struct wg_strlist *l, const char *what,
		    char *err, size_t errcap)
{
	for (size_t i = 0; i < l->n; i++) {
		int rc = wg_domainset_add(set, l->v[i], "config");
		if (rc < 0) {
			snprintf(err, errcap, "%s: '%s': %s", what, l->v[i], strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int add_addrs(struct wg_addrlist *set, const struct wg_strlist *l, const char *what,
		     char *err, size_t errcap)
{
	for (size_t i = 0; i < l->n; i++) {
		int rc = wg_addrlist_add(set, l->v[i], 0);
		if (rc < 0) {
			snprintf(err, errcap, "%s: '%s': %s", what, l->v[i], strerror(-rc));
			return rc;
		}
	}
	return 0;
}

struct sink_load {
	struct wg_addrlist *addrs;
	struct wg_domainset *names;
};

static int sink_cb(void *arg, const char *group, const char *entry, const char *rest,
		   char *err, size_t errcap)
{
	struct sink_load *sl = arg;
	struct wg_cidr c;
	if (wg_cidr_parse(entry, &c) == 0) {
		int bogon = 0;
		if (strcmp(rest, "bogon") == 0) {
			bogon = 1;
		} else if (rest[0]) {
			snprintf(err, errcap, "unexpected text after the address: \"%s\"", rest);
			return -EINVAL;
		}
		return wg_addrlist_add(sl->addrs, entry, bogon);
	}
	if (rest[0]) {
		snprintf(err, errcap, "unexpected text after the name: \"%s\"", rest);
		return -EINVAL;
	}
	int rc = wg_domainset_add(sl->names, entry, group);
	if (rc == -EINVAL)
		snprintf(err, errcap, "neither an address, a CIDR nor a name: \"%s\"", entry);
	return rc;
}

int wg_guardsets_load_sinkholes(struct wg_addrlist *addrs, struct wg_domainset *names,
				const char *path, const char *const *enabled_groups, char *err,
				size_t errcap)
{
	struct sink_load sl = {addrs, names};
	return wg_domainset_parse_file(path, enabled_groups, sink_cb, &sl, err, errcap);
}

/* The environment, not a compiled-in path: an installed binary must never
 * read lists from the directory it was built in. */
void wg_guardsets_domains_path(const struct wg_config *cfg, char *path, size_t cap)
{
	const char *dbdir = getenv("WUGUARD_DBDIR");
	snprintf(path, cap, "%s", cfg->domains_file ? cfg->domains_file : "");
	if (access(path, R_OK) == 0 || !dbdir || !*dbdir)
		return;
	if (strcmp(path, WG_DATADIR "/wu-domains.list") == 0 || !*path)
		snprintf(path, cap, "%s/wu-domains.list", dbdir);
}

void wg_guardsets_groups(const struct wg_config *cfg, const char **arr, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->groups.n && n + 1 < cap; i++)
		arr[n++] = cfg->groups.v[i];
	arr[n] = NULL;
}

/* sinkhole.list and cdn.list live beside the domains file. */
static void sibling(const char *domains, const char *name, char *out, size_t cap)
{
	const char *slash = strrchr(domains, '/');
	if (!slash)
		snprintf(out, cap, "%s", name);
	else
		snprintf(out, cap, "%.*s/%s", (int)(slash - domains), domains, name);
}

int wg_guardsets_load(struct wg_guardsets *g, const struct wg_config *cfg, char *err,
		      size_t errcap)
{
	char path[1024], other[1100];
	const char *groups[65];
	int rc;

	wg_guardsets_groups(cfg, groups, sizeof(groups) / sizeof(groups[0]));

	g->wu = wg_domainset_new();
	g->sinkhole_names = wg_domainset_new();
	g->cdn = wg_domainset_new();
	g->sanct_names = wg_domainset_new();
	g->sanct_blocks = wg_domainset_new();
	if (!g->wu || !g->sinkhole_names || !g->cdn || !g->sanct_names || !g->sanct_blocks) {
		snprintf(err, errcap, "out of memory");
		return -ENOMEM;
	}
	wg_guardsets_domains_path(cfg, path, sizeof(path));
	if ((rc = wg_domainset_load_file(g->wu, path, groups, err, errcap)) < 0)
		return rc;
	if ((rc = add_list(g->wu, &cfg->domains_add, "[guard] add", err, errcap)) < 0)
		return rc;
	for (size_t i = 0; i < cfg->domains_remove.n; i++)
		wg_domainset_remove(g->wu, cfg->domains_remove.v[i]);

	sibling(path, "sinkhole.list", other, sizeof(other));
	if (access(other, R_OK) == 0 &&
	    (rc = wg_guardsets_load_sinkholes(&g->sinkhole_addrs, g->sinkhole_names, other, NULL,
					      err, errcap)) < 0)
		return rc;
	sibling(path, "cdn.list", other, sizeof(other));
	if (access(other, R_OK) == 0 &&
	    (rc = wg_domainset_load_file(g->cdn, other, NULL, err, errcap)) < 0)
		return rc;
	if ((rc = add_addrs(&g->sinkhole_addrs, &cfg->sinkhole_addr, "[guard] sinkhole-address",
			    err, errcap)) < 0 ||
	    (rc = add_list(g->sinkhole_names, &cfg->sinkhole_name, "[guard] sinkhole-name", err,
			   errcap)) < 0 ||
	    (rc = add_list(g->cdn, &cfg->cdn_suffix, "[guard] cdn-suffix", err, errcap)) < 0 ||
	    (rc = add_addrs(&g->sanct_addrs, &cfg->sanctioned_addr, "[guard] sanctioned-address",
			    err, errcap)) < 0 ||
	    (rc = add_list(g->sanct_names, &cfg->sanctioned_name, "[guard] sanctioned-name", err,
			   errcap)) < 0 ||
	    (rc = add_list(g->sanct_blocks, &cfg->sanctioned_block, "[guard] sanctioned-block",
			   err, errcap)) < 0)
		return rc;
	g->ctx.sinkhole_addrs = &g->sinkhole_addrs;
	g->ctx.sinkhole_names = g->sinkhole_names;
	g->ctx.cdn_suffixes = g->cdn;
	g->ctx.sanctioned_addrs = &g->sanct_addrs;
	g->ctx.sanctioned_names = g->sanct_names;
	g->ctx.sanctioned_blocks = g->sanct_blocks;
	wg_info("guard", "WU set %s: %zu entries", path, wg_domainset_count(g->wu));
	return 0;
}

void wg_guardsets_clear(struct wg_guardsets *g)
{
	wg_domainset_free(g->wu);
	wg_domainset_free(g->sinkhole_names);
	wg_domainset_free(g->cdn);
	wg_domainset_free(g->sanct_names);
	wg_domainset_free(g->sanct_blocks);
	wg_addrlist_clear(&g->sinkhole_addrs);
	wg_addrlist_clear(&g->sanct_addrs);
	memset(g, 0, sizeof(*g));
}

static void describe_stamp(FILE *out, size_t i, const struct wg_dc_stamp *st, int builtin)
{
	char a[80], hex[2 * WG_DC_KEY_LEN + 1];
	wg_addr_format(&st->addr, a, sizeof(a));
	for (size_t k = 0; k < WG_DC_KEY_LEN; k++)
		snprintf(hex + 2 * k, 3, "%02x", st->provider_pk[k]);
	fprintf(out,
		"public %zu: DNSCrypt %s, provider %s, provider key %s%s%s%s%s\n", i + 1, a,
		st->provider_name, hex, (st->props & 1) ? ", dnssec" : "",
		(st->props & 2) ? ", no logs" : "", (st->props & 4) ? ", no filter" : "",
		builtin ? " (built-in default)" : "");
}

int wg_guardsets_public(const struct wg_config *cfg, struct wg_public_list *pl, FILE *out,
			char *err, size_t errcap)
{
	size_t n = cfg->public_.n;
	const char *const *v = (const char *const *)cfg->public_.v;
	size_t n_plain = 0;
	char why[160];

	memset(pl, 0, sizeof(*pl));
	if (n == 1 && strcmp(v[0], "none") == 0) {
		pl->none = 1;
		if (out)
			fprintf(out, "public: none (WU names are not cross-checked)\n");
		return 0;
	}
	if (n == 0) {
		v = wg_dnscrypt_default_stamps;
		n = wg_dnscrypt_n_default_stamps;
		pl->builtin = 1;
	}
	if (n > WG_PUBLIC_MAX) {
		snprintf(err, errcap, "public resolvers: at most %d", WG_PUBLIC_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = v[i];
		/* the syntax of one item is config.c's (checked when the file
		 * was read); here: what the list means as a whole */
		int kind = wg_config_public_item(s, &pl->addrs[pl->n_addrs]);
		if (kind == WG_PUBLIC_ITEM_NONE) {
			snprintf(err, errcap, "public resolvers: 'none' cannot be combined with others");
			return -EINVAL;
		}
		if (kind == WG_PUBLIC_ITEM_STAMP) {
			struct wg_dc_stamp st;
			if (wg_dc_stamp_parse(s, &st, why, sizeof(why)) < 0) {
				snprintf(err, errcap, "public resolver %zu (%.40s%s): %s", i + 1, s,
					 strlen(s) > 40 ? "..." : "", why);
				return -EINVAL;
			}
			pl->stamps[pl->n_stamps++] = s;
			pl->addrs[pl->n_addrs++] = st.addr;
			if (out)
				describe_stamp(out, i, &st, pl->builtin);
			continue;
		}
		if (kind < 0) {
			snprintf(err, errcap, "public resolver '%s': not ADDR:PORT or sdns://", s);
			return -EINVAL;
		}
		if (out) {
			char a[80];
			wg_addr_format(&pl->addrs[pl->n_addrs], a, sizeof(a));
			fprintf(out, "public %zu: plain DNS %s (not authenticated)\n", i + 1, a);
		}
		pl->n_addrs++;
		n_plain++;
	}
	if (n_plain && pl->n_stamps) {
		snprintf(err, errcap,
			 "public resolvers: use either sdns:// stamps or plain addresses, not both");
		return -EINVAL;
	}
	return 0;
}
