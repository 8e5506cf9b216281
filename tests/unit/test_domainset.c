/* test_domainset.c: exact vs wildcard entries, label boundaries, case,
 * removal and exclusions, list-file syntax and errors, and the real
 * db/wu-domains.list. */
#include "autoconfig.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

#include "domainset.h"
#include "wire.h"

struct match_case {
	const char *name;
	int want;
};

static void check_cases(const struct wg_domainset *s, const struct match_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int got = wg_domainset_match_str(s, c[i].name);
		if (got != c[i].want)
			fail_msg("%s: got %d, want %d", c[i].name, got, c[i].want);
	}
}

static void test_exact_and_wildcard(void **state)
{
	struct wg_domainset *s = wg_domainset_new();
	assert_non_null(s);
	assert_int_equal(wg_domainset_add(s, "*.windowsupdate.com", "wu"), 0);
	assert_int_equal(wg_domainset_add(s, "download.microsoft.com", NULL), 0);
	assert_int_equal(wg_domainset_add(s, "*.update.microsoft.com", NULL), 0);
	assert_int_equal(wg_domainset_add(s, "update.microsoft.com", NULL), 0);
	static const struct match_case c[] = {
		{"ctldl.windowsupdate.com", 1},
		{"a.b.c.windowsupdate.com", 1},
		{"windowsupdate.com", 0},          /* *.x is strictly below x */
		{"xwindowsupdate.com", 0},         /* whole labels only */
		{"windowsupdate.com.evil.net", 0},
		{"com", 0},
		{"download.microsoft.com", 1},
		{"a.download.microsoft.com", 0},   /* bare name: itself only */
		{"microsoft.com", 0},
		{"update.microsoft.com", 1},
		{"sls.update.microsoft.com", 1},
		{"DOWNLOAD.WindowsUpdate.COM", 1}, /* case */
		{"download.windowsupdate.com.", 1}, /* trailing dot */
		{"Download.Microsoft.Com.", 1},
		{".", 0},
		{"", 0},
		{"a..b", 0},
	};
	check_cases(s, c, sizeof(c) / sizeof(c[0]));
	assert_int_equal(wg_domainset_count(s), 4);
	wg_domainset_free(s);
}

static void test_match_wire_and_group(void **state)
{
	struct wg_domainset *s = wg_domainset_new();
	assert_int_equal(wg_domainset_add(s, "*.windowsupdate.com", "windows-update"), 0);
	assert_int_equal(wg_domainset_add(s, "adl.windows.com", NULL), 0);
	uint8_t n[WG_NAME_MAX];
	assert_true(wg_wire_name_from_str("ctldl.windowsupdate.com", n) > 0);
	assert_true(wg_domainset_match_wire(s, n));
	assert_string_equal(wg_domainset_match_group(s, n), "windows-update");
	assert_true(wg_wire_name_from_str("adl.windows.com", n) > 0);
	assert_string_equal(wg_domainset_match_group(s, n), "");
	assert_true(wg_wire_name_from_str("windows.com", n) > 0);
	assert_null(wg_domainset_match_group(s, n));
	assert_false(wg_domainset_match_wire(s, n));
	/* a name and its subtree from different groups keep their own group */
	assert_int_equal(wg_domainset_add(s, "download.windowsupdate.com", "windows-update"), 0);
	assert_int_equal(wg_domainset_add(s, "*.download.windowsupdate.com", "delivery"), 0);
	assert_true(wg_wire_name_from_str("download.windowsupdate.com", n) > 0);
	assert_string_equal(wg_domainset_match_group(s, n), "windows-update");
	assert_true(wg_wire_name_from_str("x.download.windowsupdate.com", n) > 0);
	assert_string_equal(wg_domainset_match_group(s, n), "delivery");
	/* a malformed wire name (label type 0x40) never matches */
	uint8_t bad[] = {0x40, 'a', 0};
	assert_false(wg_domainset_match_wire(s, bad));
	wg_domainset_free(s);
}

static void test_add_invalid(void **state)
{
	struct wg_domainset *s = wg_domainset_new();
	static const char *const bad[] = {
		"", ".", "*.", "*", "**.example.com", "a.*.example.com", "amupdatedl*.microsoft.com",
		"*example.com", "a..example.com", "bad name.com",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", /* 64 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (wg_domainset_add(s, bad[i], NULL) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(wg_domainset_count(s), 0);
	wg_domainset_free(s);
}

static void test_remove(void **state)
{
	struct wg_domainset *s = wg_domainset_new();
	assert_int_equal(wg_domainset_add(s, "*.example.com", NULL), 0);
	assert_int_equal(wg_domainset_add(s, "example.com", NULL), 0);
	assert_int_equal(wg_domainset_add(s, "exact.org", NULL), 0);

	/* plain removal of an entry */
	assert_int_equal(wg_domainset_remove(s, "exact.org"), 0);
	assert_false(wg_domainset_match_str(s, "exact.org"));
	assert_int_equal(wg_domainset_remove(s, "exact.org"), -ENOENT);
	assert_int_equal(wg_domainset_remove(s, "never.net"), -ENOENT);
	assert_int_equal(wg_domainset_remove(s, "*."), -EINVAL);

	/* a name covered by a wildcard becomes an exclusion, itself only */
	assert_int_equal(wg_domainset_remove(s, "a.example.com"), 0);
	static const struct match_case c1[] = {
		{"a.example.com", 0}, {"b.a.example.com", 1}, {"b.example.com", 1}, {"example.com", 1},
	};
	check_cases(s, c1, sizeof(c1) / sizeof(c1[0]));

	/* excluding a subtree */
	assert_int_equal(wg_domainset_remove(s, "*.x.example.com"), 0);
	static const struct match_case c2[] = {
		{"x.example.com", 1}, {"y.x.example.com", 0}, {"z.y.x.example.com", 0},
		{"y.example.com", 1},
	};
	check_cases(s, c2, sizeof(c2) / sizeof(c2[0]));

	/* adding back cancels the exclusion */
	assert_int_equal(wg_domainset_add(s, "a.example.com", NULL), 0);
	assert_true(wg_domainset_match_str(s, "a.example.com"));

	/* removing the wildcard: everything below goes, the bare name stays */
	assert_int_equal(wg_domainset_remove(s, "*.example.com"), 0);
	assert_false(wg_domainset_match_str(s, "b.example.com"));
	assert_true(wg_domainset_match_str(s, "example.com"));
	assert_true(wg_domainset_match_str(s, "a.example.com"));
	wg_domainset_free(s);
}

struct seen {
	char text[8][64]; /* "name" or "*.name", then " group" */
	int n;
	int stop_after;   /* > 0: return -EINTR after this many */
};

static int collect(void *arg, const uint8_t *name, int wild, const char *group)
{
	struct seen *s = arg;
	char t[1024];
	wg_wire_name_to_str(name, t, sizeof(t));
	if (s->n >= 8)
		return -ENOSPC;
	snprintf(s->text[s->n++], sizeof(s->text[0]), "%s%.40s %.16s", wild ? "*." : "",
		 t, group);
	return s->stop_after && s->n >= s->stop_after ? -EINTR : 0;
}

static int has_seen(const struct seen *s, const char *text)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->text[i], text) == 0)
			return 1;
	return 0;
}

static void test_foreach(void **state)
{
	/* every positive entry once, with its kind and group; exclusions and
	 * removed entries are not entries */
	struct wg_domainset *s = wg_domainset_new();
	struct seen seen;
	assert_int_equal(wg_domainset_add(s, "Example.COM", "g1"), 0);
	assert_int_equal(wg_domainset_add(s, "*.example.com", "g1"), 0);
	assert_int_equal(wg_domainset_add(s, "exact.org", NULL), 0);
	assert_int_equal(wg_domainset_add(s, "*.exact.org", "g3"), 0);
	assert_int_equal(wg_domainset_add(s, "gone.org", "g2"), 0);
	assert_int_equal(wg_domainset_remove(s, "gone.org"), 0);
	assert_int_equal(wg_domainset_remove(s, "a.example.com"), 0); /* an exclusion */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(wg_domainset_foreach(s, collect, &seen), 0);
	assert_int_equal(seen.n, 4);
	assert_true(has_seen(&seen, "example.com. g1"));
	assert_true(has_seen(&seen, "*.example.com. g1"));
	assert_true(has_seen(&seen, "exact.org. "));
	assert_true(has_seen(&seen, "*.exact.org. g3"));
	/* the callback's error stops the walk */
	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 1;
	assert_int_equal(wg_domainset_foreach(s, collect, &seen), -EINTR);
	assert_int_equal(seen.n, 1);
	wg_domainset_free(s);
}

static void test_many_entries(void **state)
{
	/* growth keeps every entry; membership still by whole labels */
	struct wg_domainset *s = wg_domainset_new();
	char buf[64];
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "*.n%d.example.net", i);
		assert_int_equal(wg_domainset_add(s, buf, NULL), 0);
	}
	assert_int_equal(wg_domainset_count(s), 5000);
	for (int i = 0; i < 5000; i += 97) {
		snprintf(buf, sizeof(buf), "host.n%d.example.net", i);
		assert_true(wg_domainset_match_str(s, buf));
		snprintf(buf, sizeof(buf), "n%d.example.net", i);
		assert_false(wg_domainset_match_str(s, buf));
	}
	assert_false(wg_domainset_match_str(s, "host.n5000.example.net"));
	wg_domainset_free(s);
}

struct file_case {
	const char *text;
	int rc;
	const char *err_part; /* expected in the "path:line: reason" text */
};

static void test_file_errors(void **state)
{
	static const struct file_case cases[] = {
		{"# ok\n\nexample.com\n*.example.net # trailing comment\n", 0, NULL},
		{"a.com\nb.com\nbad..name\n", -EINVAL, ":3: bad name \"bad..name\""},
		{"[grp\nx.com\n", -EINVAL, ":1: group header without closing ']'"},
		{"[bad group]\n", -EINVAL, ":1: unknown group option (default=on or default=off)"},
		{"[BAD]\n", -EINVAL, ":1: bad group name (use a-z, 0-9, '-', '_')"},
		{"[g default=maybe]\n", -EINVAL, ":1: unknown group option (default=on or default=off)"},
		{"\n\n\n\nok.com\nwild*.com\n", -EINVAL, ":6: bad name \"wild*.com\" (want name or *.name; '*' only as the whole first label)"},
		{"x.com extra words\n", -EINVAL, ":1: unexpected text after the name: \"extra words\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[64], err[512];
		err[0] = 0;
		wg_test_write_tmp(path, sizeof(path), cases[i].text);
		struct wg_domainset *s = wg_domainset_new();
		int rc = wg_domainset_load_file(s, path, NULL, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err);
		if (cases[i].err_part) {
			assert_true(strncmp(err, path, strlen(path)) == 0);
			if (!strstr(err + strlen(path), cases[i].err_part))
				fail_msg("case %zu: err \"%s\", want \"%s\"", i, err,
					 cases[i].err_part);
		}
		wg_domainset_free(s);
		unlink(path);
	}
	/* a missing file: -ENOENT and "path: reason" */
	char err[256];
	struct wg_domainset *s = wg_domainset_new();
	assert_int_equal(wg_domainset_load_file(s, "/nonexistent/wg.list", NULL, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/wg.list: "));
	wg_domainset_free(s);
}

static void test_file_long_line(void **state)
{
	char *text = malloc(3000);
	memset(text, 'a', 2000);
	strcpy(text + 2000, "\n");
	char path[64], err[256];
	wg_test_write_tmp(path, sizeof(path), text);
	struct wg_domainset *s = wg_domainset_new();
	assert_int_equal(wg_domainset_load_file(s, path, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":1: line too long"));
	wg_domainset_free(s);
	unlink(path);
	free(text);
}

static void test_file_groups(void **state)
{
	const char *text = "always.com\n"
			   "[one]\n*.one.com\n"
			   "[two default=off]\ntwo.com\n"
			   "[three default=on]\nthree.com\n";
	char path[64], err[256];
	wg_test_write_tmp(path, sizeof(path), text);
	struct {
		const char *const *groups;
		int always, one, two, three;
	} cases[] = {
		{NULL, 1, 1, 0, 1},
		{(const char *const[]){"two", NULL}, 1, 1, 1, 1},
		{(const char *const[]){"-one", "-three", NULL}, 1, 0, 0, 0},
		{(const char *const[]){"two", "-two", NULL}, 1, 1, 0, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wg_domainset *s = wg_domainset_new();
		assert_int_equal(wg_domainset_load_file(s, path, cases[i].groups, err, sizeof(err)), 0);
		assert_int_equal(wg_domainset_match_str(s, "always.com"), cases[i].always);
		assert_int_equal(wg_domainset_match_str(s, "x.one.com"), cases[i].one);
		assert_int_equal(wg_domainset_match_str(s, "two.com"), cases[i].two);
		assert_int_equal(wg_domainset_match_str(s, "three.com"), cases[i].three);
		wg_domainset_free(s);
	}
	unlink(path);
}

static void real_list_path(char *path, size_t cap, const char *file)
{
	const char *src = getenv("WG_SRCDIR");
	snprintf(path, cap, "%s/db/%s", src ? src : ".", file);
}

static void test_real_wu_list(void **state)
{
	char path[1024], err[512];
	real_list_path(path, sizeof(path), "wu-domains.list");
	struct wg_domainset *s = wg_domainset_new();
	int rc = wg_domainset_load_file(s, path, NULL, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	static const struct match_case c[] = {
		/* the names blocklists keep catching by accident */
		{"ctldl.windowsupdate.com", 1},
		{"sls.update.microsoft.com", 1},
		{"slscr.update.microsoft.com", 1},
		{"fe3.delivery.mp.microsoft.com", 1},
		{"fe3cr.delivery.mp.microsoft.com", 1},
		{"download.windowsupdate.com", 1},
		{"adl.windows.com", 1},
		/* seed 000 firewall list and the documents named in db/wu-domains.list */
		{"windowsupdate.microsoft.com", 1},
		{"x.windowsupdate.microsoft.com", 1},
		{"fe2cr.update.microsoft.com", 1},
		{"windowsupdate.com", 1},
		{"au.download.windowsupdate.com", 1},
		{"x.b1.download.windowsupdate.com", 1},
		{"download.microsoft.com", 1},
		{"wustat.windows.com", 1},
		{"ntservicepack.microsoft.com", 1},
		{"go.microsoft.com", 1},
		{"dl.delivery.mp.microsoft.com", 1},
		{"tlu.dl.delivery.mp.microsoft.com", 1},
		{"x.tlu.dl.delivery.mp.microsoft.com", 1},
		{"geo.prod.do.dsp.mp.microsoft.com", 1},
		{"kv801.prod.do.dsp.mp.microsoft.com", 1},
		{"tsfe.trafficshaping.dsp.mp.microsoft.com", 1},
		{"emdl.ws.microsoft.com", 1},
		{"x.emdl.ws.microsoft.com", 1},
		{"definitionupdates.microsoft.com", 1},
		{"amupdatedl.microsoft.com", 1},
		{"amupdatedl2.microsoft.com", 1},
		{"amupdatedl5.microsoft.com", 1},
		{"officecdn.microsoft.com", 1},
		{"x.officecdn.microsoft.com", 1},
		{"officecdn.microsoft.com.edgesuite.net", 1},
		{"catalog.update.microsoft.com", 1},
		/* issue 17: patterns Microsoft documents that the set missed */
		{"licensing.mp.microsoft.com", 1},
		{"purchase.md.mp.microsoft.com", 1},
		{"livetileedge.dsx.mp.microsoft.com", 1},
		{"cdn.storeedgefd.dsx.mp.microsoft.com", 1},
		{"x.displaycatalog.mp.microsoft.com", 1},
		{"crl.microsoft.com", 1},
		{"x.download.microsoft.com", 1},
		{"win1910.ipv6.microsoft.com", 1},
		{"x.cdn.office.net", 1},
		{"x.statics.teams.cdn.office.net", 1},
		{"do.dsp.mp.microsoft.com", 1},
		/* broader than any document: now in the off-by-default
		 * cache-appliance group */
		{"a.microsoft.com.edgesuite.net", 0},
		{"microsoft.com.edgesuite.net", 0},
		{"cdn.office.net", 0},
		{"ipv6.microsoft.com", 0},
		{"mp.microsoft.com", 0},
		{"dsx.mp.microsoft.com", 0},
		/* not WU names */
		{"microsoft.com", 0},
		{"www.microsoft.com", 0},
		{"settings-win.data.microsoft.com", 0},
		{"xwindowsupdate.com", 0},
		{"edgesuite.net", 0},
		{"cs11.wpc.v0cdn.net", 0},
		{"amupdatedl6.microsoft.com", 0},
		{"example.com", 0},
	};
	check_cases(s, c, sizeof(c) / sizeof(c[0]));
	uint8_t n[WG_NAME_MAX];
	assert_true(wg_wire_name_from_str("ctldl.windowsupdate.com", n) > 0);
	assert_non_null(wg_domainset_match_group(s, n));
	wg_domainset_free(s);

	/* the optional group, switched on */
	s = wg_domainset_new();
	const char *const groups[] = {"optional", NULL};
	assert_int_equal(wg_domainset_load_file(s, path, groups, err, sizeof(err)), 0);
	assert_true(wg_domainset_match_str(s, "settings-win.data.microsoft.com"));
	assert_false(wg_domainset_match_str(s, "microsoft.com"));
	assert_true(wg_domainset_match_str(s, "ctldl.windowsupdate.com"));
	wg_domainset_free(s);

	/* the generic Microsoft hosts: download.microsoft.com and
	 * go.microsoft.com on by default in a group that can be switched off,
	 * www.microsoft.com off by default, crl.microsoft.com in crl */
	s = wg_domainset_new();
	const char *const generic_off[] = {"-microsoft-download", "microsoft-www",
					   "cache-appliance", NULL};
	assert_int_equal(wg_domainset_load_file(s, path, generic_off, err, sizeof(err)), 0);
	assert_false(wg_domainset_match_str(s, "download.microsoft.com"));
	assert_false(wg_domainset_match_str(s, "x.download.microsoft.com"));
	assert_false(wg_domainset_match_str(s, "go.microsoft.com"));
	assert_true(wg_domainset_match_str(s, "www.microsoft.com"));
	assert_true(wg_domainset_match_str(s, "crl.microsoft.com"));
	assert_true(wg_domainset_match_str(s, "a.microsoft.com.edgesuite.net"));
	/* what the groups do not cover stays guarded */
	assert_true(wg_domainset_match_str(s, "download.windowsupdate.com"));
	assert_true(wg_domainset_match_str(s, "officecdn.microsoft.com.edgesuite.net"));
	wg_domainset_free(s);
	s = wg_domainset_new();
	assert_int_equal(wg_domainset_load_file(s, path, NULL, err, sizeof(err)), 0);
	assert_true(wg_domainset_match_str(s, "download.microsoft.com"));
	assert_true(wg_domainset_match_str(s, "go.microsoft.com"));
	assert_true(wg_domainset_match_str(s, "crl.microsoft.com"));
	assert_false(wg_domainset_match_str(s, "www.microsoft.com"));
	assert_true(wg_domainset_match_str(s, "ctldl.windowsupdate.com"));
	wg_domainset_free(s);
}

/* Every entry of db/wu-domains.list names its source: a key of a
 * "#@source KEY REPOSITORY PATH" line above it, in the entry's comment. */
struct source_check {
	char keys[32][16];
	size_t n_keys;
	size_t entries, unsourced;
	unsigned unsourced_line[8];
	size_t microsoft_keys; /* keys of MicrosoftDocs repositories */
	size_t marked_keys;    /* other keys, each marked "NOT Microsoft" */
	size_t unmarked_keys;
};

static int has_key(const struct source_check *c, const char *w, size_t n)
{
	for (size_t i = 0; i < c->n_keys; i++)
		if (strlen(c->keys[i]) == n && strncmp(c->keys[i], w, n) == 0)
			return 1;
	return 0;
}

static int source_line(void *arg, const struct wg_domainset_line *l, char *err, size_t errcap)
{
	struct source_check *c = arg;
	(void)err;
	(void)errcap;
	if (!l->entry && !l->header && strncmp(l->comment, "@source ", 8) == 0) {
		char key[16], repo[128];
		assert_int_equal(sscanf(l->comment + 8, "%15s %127s", key, repo), 2);
		assert_true(c->n_keys < 32);
		snprintf(c->keys[c->n_keys++], sizeof(c->keys[0]), "%s", key);
		if (strncmp(repo, "MicrosoftDocs/", 14) == 0)
			c->microsoft_keys++;
		else if (strstr(l->comment, "NOT Microsoft"))
			c->marked_keys++;
		else
			c->unmarked_keys++;
		return 0;
	}
	if (!l->entry)
		return 0;
	c->entries++;
	int found = 0;
	for (const char *p = l->comment; *p && !found;) {
		while (*p && strchr(" \t,;:()", *p))
			p++;
		size_t n = strcspn(p, " \t,;:()");
		found = n && has_key(c, p, n);
		p += n;
	}
	if (!found && c->unsourced < 8)
		c->unsourced_line[c->unsourced] = l->lineno;
	c->unsourced += !found;
	return 0;
}

static void test_real_wu_list_sources(void **state)
{
	char path[1024], err[512];
	real_list_path(path, sizeof(path), "wu-domains.list");
	struct source_check c;
	memset(&c, 0, sizeof(c));
	int rc = wg_domainset_scan_file(path, NULL, source_line, &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_true(c.entries > 50);
	assert_true(c.microsoft_keys >= 7); /* the documents of issue 17 */
	assert_int_equal(c.unmarked_keys, 0);
	if (c.unsourced)
		fail_msg("%zu entries without a source key, first at lines %u %u %u", c.unsourced,
			 c.unsourced_line[0], c.unsourced_line[1], c.unsourced_line[2]);

	/* the check itself catches an entry without a source */
	const char *text = "#@source K MicrosoftDocs/x a.md\n[g]\na.example # K\n"
			   "b.example # a comment naming nothing\nc.example\n";
	wg_test_write_tmp(path, sizeof(path), text);
	memset(&c, 0, sizeof(c));
	assert_int_equal(wg_domainset_scan_file(path, NULL, source_line, &c, err, sizeof(err)), 0);
	assert_int_equal(c.entries, 3);
	assert_int_equal(c.unsourced, 2);
	assert_int_equal(c.unsourced_line[0], 4);
	assert_int_equal(c.unsourced_line[1], 5);
	unlink(path);
}

/* Issue 17: the core endpoint patterns Microsoft documents for Windows
 * Update, Delivery Optimization, Defender updates, the Store and CRL (the
 * keys are db/wu-domains.list's #@source keys), measured against the set
 * with its default groups: every one guarded but www.microsoft.com, which
 * only its off-by-default group holds. "*.x" counts as guarded when a name
 * below x is. */
static void test_real_wu_list_documented(void **state)
{
	static const struct {
		const char *pattern, *docs;
	} doc[] = {
		{"*.update.microsoft.com", "W11 WUTS WSUS MDAV INTUNE"},
		{"*.windowsupdate.com", "W11 DOFAQ WUTS WSUS MDAV INTUNE"},
		{"*.delivery.mp.microsoft.com", "W11 WUTS DOFAQ MDAV INTUNE"},
		{"*.dl.delivery.mp.microsoft.com", "W11 WUTS DOEP DOFAQ INTUNE"},
		{"*.download.windowsupdate.com", "WSUS WUTS DOEP MDAV"},
		{"download.windowsupdate.com", "WSUS DOFAQ"},
		{"windowsupdate.microsoft.com", "WSUS"},
		{"*.windowsupdate.microsoft.com", "WSUS"},
		{"wustat.windows.com", "WSUS"},
		{"ntservicepack.microsoft.com", "WSUS"},
		{"download.microsoft.com", "WSUS"},
		{"go.microsoft.com", "WSUS MDAV"},
		{"dl.delivery.mp.microsoft.com", "WSUS"},
		{"adl.windows.com", "W11 INTUNE"},
		{"tsfe.trafficshaping.dsp.mp.microsoft.com", "W11 WUTS DOFAQ INTUNE"},
		{"emdl.ws.microsoft.com", "WUTS"},
		{"*.prod.do.dsp.mp.microsoft.com", "W11 WUTS DOFAQ INTUNE"},
		{"*.do.dsp.mp.microsoft.com", "DOEP INTUNE20"},
		{"*.b1.download.windowsupdate.com", "DOEP"},
		{"*.au.download.windowsupdate.com", "DOEP"},
		{"*.au.b1.download.windowsupdate.com", "DOEP"},
		{"*.tlu.dl.delivery.mp.microsoft.com", "DOEP"},
		{"*.ctldl.windowsupdate.com", "DOEP"},
		{"*.emdl.ws.microsoft.com", "DOEP22 INTUNE20"},
		{"win1910.ipv6.microsoft.com", "DOFAQ"},
		{"*.officecdn.microsoft.com", "DOEP"},
		{"*.officecdn.microsoft.com.edgesuite.net", "DOEP"},
		{"*.cdn.office.net", "DOEP"},
		{"definitionupdates.microsoft.com", "W11 MDAV"},
		{"*.download.microsoft.com", "MDAV"},
		{"fe3cr.delivery.mp.microsoft.com", "MDAV"},
		{"ctldl.windowsupdate.com", "W11 MDAV"},
		{"www.microsoft.com", "MDAV"},
		{"displaycatalog.mp.microsoft.com", "W11 INTUNE"},
		{"storeedgefd.dsx.mp.microsoft.com", "W11 INTUNE"},
		{"livetileedge.dsx.mp.microsoft.com", "W11"},
		{"storecatalogrevocation.storequality.microsoft.com", "W11"},
		{"licensing.mp.microsoft.com", "W11 INTUNE"},
		{"purchase.md.mp.microsoft.com", "INTUNE"},
		{"cdn.storeedgefd.dsx.mp.microsoft.com", "INTUNE"},
		{"crl.microsoft.com", "MDAV"},
	};
	char path[1024], err[512], probe[300];
	real_list_path(path, sizeof(path), "wu-domains.list");
	for (int www = 0; www < 2; www++) {
		struct wg_domainset *s = wg_domainset_new();
		const char *const groups[] = {www ? "microsoft-www" : "-none", NULL};
		assert_int_equal(wg_domainset_load_file(s, path, groups, err, sizeof(err)), 0);
		size_t guarded = 0, n = sizeof(doc) / sizeof(doc[0]);
		for (size_t i = 0; i < n; i++) {
			const char *p = doc[i].pattern;
			if (p[0] == '*')
				snprintf(probe, sizeof(probe), "wgcov%s", p + 1);
			else
				snprintf(probe, sizeof(probe), "%s", p);
			int g = wg_domainset_match_str(s, probe);
			if (!g && !(www == 0 && strcmp(p, "www.microsoft.com") == 0))
				fail_msg("documented pattern %s (%s) not guarded", p, doc[i].docs);
			guarded += (size_t)g;
		}
		print_message("documented patterns guarded%s: %zu / %zu\n",
			      www ? " (microsoft-www on)" : "", guarded, n);
		assert_int_equal(guarded, www ? n : n - 1);
		wg_domainset_free(s);
	}
}

/* wg_domainset_scan_file() hands over every group, loaded or not, its
 * header, entries with their comments, and comment lines. */
struct scan_seen {
	char lines[16][96];
	size_t n;
};

static int scan_line(void *arg, const struct wg_domainset_line *l, char *err, size_t errcap)
{
	struct scan_seen *s = arg;
	(void)err;
	(void)errcap;
	assert_true(s->n < 16);
	snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%u %s %d%d%d %s|%s|%s", l->lineno,
		 l->group[0] ? l->group : "-", l->header, l->group_default_on, l->group_on,
		 l->entry ? l->entry : "(none)", l->rest, l->comment);
	return 0;
}

static void test_scan_file(void **state)
{
	const char *text = "top.example\n"
			   "# a comment line\n"
			   "\n"
			   "[on]\n"
			   "a.example   # src A\n"
			   "[off default=off] # why\n"
			   "*.b.example\n"
			   "c.example extra words\n";
	char path[64], err[256];
	wg_test_write_tmp(path, sizeof(path), text);
	struct scan_seen s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(wg_domainset_scan_file(path, NULL, scan_line, &s, err, sizeof(err)), 0);
	static const char *want[] = {
		"1 - 011 top.example||",
		"2 - 011 (none)||a comment line",
		"4 on 111 (none)||",
		"5 on 011 a.example||src A",
		"6 off 100 (none)||why",
		"7 off 000 *.b.example||",
		"8 off 000 c.example|extra words|",
	};
	assert_int_equal(s.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < s.n; i++)
		assert_string_equal(s.lines[i], want[i]);
	/* switched on, the off group's lines say so */
	memset(&s, 0, sizeof(s));
	const char *const on[] = {"off", NULL};
	assert_int_equal(wg_domainset_scan_file(path, on, scan_line, &s, err, sizeof(err)), 0);
	assert_string_equal(s.lines[5], "7 off 001 *.b.example||");
	unlink(path);
}

static void test_real_cdn_list(void **state)
{
	char path[1024], err[512];
	real_list_path(path, sizeof(path), "cdn.list");
	struct wg_domainset *s = wg_domainset_new();
	int rc = wg_domainset_load_file(s, path, NULL, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	static const struct match_case c[] = {
		{"cs11.wpc.v0cdn.net", 1},      {"a1.c.footprint.net", 1},
		{"c-0001.c-msedge.net", 1},     {"x.cedexis.net", 1},
		{"a767.dspw65.akamai.net", 1},  {"wu.ec.azureedge.net", 1},
		{"x.trafficmanager.net", 1},    {"akamai.net", 0},
		{"windowsupdate.com", 0},
	};
	check_cases(s, c, sizeof(c) / sizeof(c[0]));
	wg_domainset_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_and_wildcard),
		cmocka_unit_test(test_match_wire_and_group),
		cmocka_unit_test(test_add_invalid),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_many_entries),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_file_long_line),
		cmocka_unit_test(test_file_groups),
		cmocka_unit_test(test_scan_file),
		cmocka_unit_test(test_real_wu_list_sources),
		cmocka_unit_test(test_real_wu_list_documented),
		cmocka_unit_test(test_real_wu_list),
		cmocka_unit_test(test_real_cdn_list),
	};
	return cmocka_run_group_tests_name("domainset", tests, NULL, NULL);
}
