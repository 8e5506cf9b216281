/* test_plugin.c: the plugin host with real shared objects: the blocklist
 * plugin (from the build dir), the example plugin, and the test plugins in
 * tests/plugins (bad ABI, no entry point, block-everything, context, a
 * crash in init); file and directory checks; the checked file is the one
 * loaded. */
#include "autoconfig.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "testutil.h"
#include <ldns/ldns.h>

#include "log.h"
#include "plugin.h"
#include "wire.h"

static char tmpdir[64];
static char list_path[128];
static char builddir[1024];

static const char *list_text =
	"# hosts format, like StevenBlack's list\n"
	"0.0.0.0 ads.example.com tracker.example.net\n"
	"127.0.0.1 localhost\n"
	"127.0.0.1 doubleclick.test   # trailing comment\n"
	":: ipv6-host.example\n"
	"0.0.0.0 settings-win.data.microsoft.com\n"
	"0.0.0.0 download.microsoft.com\n"
	"\n"
	"# plain domain list\n"
	"plain-ad.example.org\n"
	"*.prod.do.dsp.mp.microsoft.com\n"
	"download.windowsupdate.com\n"
	"*.wild.example\n"
	".dnsmasq.example\n"
	"||au.download.windowsupdate.com^\n"
	"not a valid line\n"
	"! adblock style\n"
	"[Adblock Plus 2.0]\n"
	"||adblock.example^\n"
	"||ads.example^\n"
	"||important.example^$important\n"
	"||commented.example^ # a comment\n"
	"||thirdparty.example^$third-party\n"
	"||mixed.example^$important,client=10.0.0.1\n"
	"||tree.ads.example.com^\n"
	"@@||ok.tree.ads.example.com^\n"
	"@@||allowed.example^\n"
	"||allowed.example^\n"
	"||noanchor.example\n"
	"||anchored.example^|\n"
	"/^regex[0-9]+\\.example$/\n"
	"@@plain-allow.example\n"
	"@@||ads.example.com^$badfilter\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void plugin_path(char *out, size_t cap, const char *rel)
{
	snprintf(out, cap, "%s/%s", builddir, rel);
}

static int setup(void **state)
{
	const char *b = getenv("WG_BUILDDIR");
	snprintf(builddir, sizeof(builddir), "%s", b ? b : ".");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wg_test_plugin_XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(list_path, sizeof(list_path), "%s/list.txt", tmpdir);
	write_file(list_path, list_text);
	wg_log_open(0, WG_LOG_WARN);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A [plugin:NAME] section with up to 4 key/value pairs. */
struct conf_buf {
	struct wg_plugin_conf c;
	char *keys[4], *values[4];
	char path[1200];
};

static void make_conf(struct conf_buf *cb, const char *name, const char *path, size_t n,
		      const char *const *kv)
{
	memset(cb, 0, sizeof(*cb));
	snprintf(cb->path, sizeof(cb->path), "%s", path);
	cb->c.name = (char *)name;
	cb->c.path = cb->path;
	for (size_t i = 0; i < n; i++) {
		cb->keys[i] = (char *)kv[2 * i];
		cb->values[i] = (char *)kv[2 * i + 1];
	}
	cb->c.keys.v = cb->keys;
	cb->c.keys.n = n;
	cb->c.values.v = cb->values;
	cb->c.values.n = n;
}

static struct wg_plugin_chain *load_blocklist(const char *mode, const char *list)
{
	char so[1100];
	plugin_path(so, sizeof(so), "plugin/.libs/blocklist.so");
	const char *kv[] = {"list", list, "mode", mode};
	struct conf_buf cb;
	make_conf(&cb, "ads", so, 2, kv);
	struct wg_plugin_chain *chain = NULL;
	char err[512] = "";
	int rc = wg_plugin_chain_load(&cb.c, 1, 0, &chain, err, sizeof(err));
	if (rc != 0)
		print_error("load failed: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(chain);
	return chain;
}

static int load_one(const char *rel_or_abs, const char *name, uid_t uid, size_t n,
		    const char *const *kv, struct wg_plugin_chain **chain, char *err, size_t cap)
{
	char so[1100];
	if (rel_or_abs[0] == '/')
		snprintf(so, sizeof(so), "%s", rel_or_abs);
	else
		plugin_path(so, sizeof(so), rel_or_abs);
	struct conf_buf cb;
	make_conf(&cb, name, so, n, kv);
	return wg_plugin_chain_load(&cb.c, 1, uid, chain, err, cap);
}

/* Query bytes and their parse. */
struct q {
	uint8_t pkt[512];
	size_t len;
	struct wg_query_info qi;
};

static void make_query(struct q *q, const char *name, uint16_t type, int edns)
{
	struct wg_query_info qi;
	wg_test_query_info(&qi, name, type);
	int len = wg_wire_build_query(q->pkt, sizeof(q->pkt), &qi, 0x4242);
	assert_true(len > 0);
	if (!edns) {
		len -= WG_OPT_LEN;
		wg_put16(q->pkt + 10, 0);
	}
	q->len = (size_t)len;
	assert_int_equal(wg_wire_parse_query(q->pkt, q->len, &q->qi), 0);
}

/* Run the pre-query chain on name; returns the applied action. */
static int run_pre(struct wg_plugin_chain *chain, const char *name, int is_wu,
		   struct wg_plugin_verdict *v)
{
	struct q q;
	struct wg_qctx ctx;
	make_query(&q, name, WG_TYPE_A, 1);
	wg_plugin_qctx_begin(&ctx, chain, q.pkt, q.len, &q.qi, NULL, 0);
	int a = wg_plugin_run_pre(&ctx, is_wu, v);
	assert_int_equal(a, v->action);
	/* the names in v are borrowed from the chain, which the caller holds */
	wg_plugin_qctx_end(&ctx);
	return a;
}

static int blocked(struct wg_plugin_chain *chain, const char *name)
{
	struct wg_plugin_verdict v;
	return run_pre(chain, name, 0, &v) != WG_PV_CONTINUE;
}

/* Decoded reply facts. */
struct reply {
	int rcode;
	int n_answer;
	int n_soa;
	char addr[8][64];
	uint32_t ttl[8];
	uint16_t ede; /* 0xffff: none */
	int has_opt;
	uint16_t id;
};

static void decode(const uint8_t *pkt, size_t len, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, pkt, len), LDNS_STATUS_OK);
	r->rcode = ldns_pkt_get_rcode(p);
	r->id = ldns_pkt_id(p);
	ldns_rr_list *an = ldns_pkt_answer(p);
	for (size_t i = 0; i < ldns_rr_list_rr_count(an) && i < 8; i++) {
		ldns_rr *rr = ldns_rr_list_rr(an, i);
		ldns_rdf *rd = ldns_rr_rdf(rr, 0);
		int fam = ldns_rr_get_type(rr) == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;
		inet_ntop(fam, ldns_rdf_data(rd), r->addr[i], sizeof(r->addr[i]));
		r->ttl[i] = ldns_rr_ttl(rr);
		r->n_answer++;
	}
	ldns_rr_list *ns = ldns_pkt_authority(p);
	for (size_t i = 0; i < ldns_rr_list_rr_count(ns); i++)
		if (ldns_rr_get_type(ldns_rr_list_rr(ns, i)) == LDNS_RR_TYPE_SOA)
			r->n_soa++;
	ldns_pkt_free(p);
	struct wg_wire_ttls t;
	assert_int_equal(wg_wire_scan(pkt, len, &t), 0);
	r->ede = t.ede;
	r->has_opt = t.opt_off != 0;
	if (r->n_soa)
		assert_int_equal(t.neg_ttl, WG_PLUGIN_BLOCK_TTL);
}

/* Block name in a fresh chain of the given mode and decode the reply. */
static void block_reply(const char *mode, const char *name, uint16_t type, int edns,
			struct reply *r)
{
	struct wg_plugin_chain *chain = load_blocklist(mode, list_path);
	struct q q;
	struct wg_qctx ctx;
	struct wg_plugin_verdict v;
	make_query(&q, name, type, edns);
	wg_plugin_qctx_begin(&ctx, chain, q.pkt, q.len, &q.qi, NULL, 0);
	assert_int_not_equal(wg_plugin_run_pre(&ctx, 0, &v), WG_PV_CONTINUE);
	assert_string_equal(v.plugin, "ads");
	assert_int_equal(v.overridden, 0);
	uint8_t out[512];
	int n = wg_plugin_build_reply(&v, q.pkt, &q.qi, out, sizeof(out));
	assert_true(n > 0);
	decode(out, (size_t)n, r);
	assert_int_equal(r->id, 0x4242);
	assert_memory_equal(out + WG_HDR_LEN, q.pkt + WG_HDR_LEN, q.qi.question_end - WG_HDR_LEN);
	wg_plugin_qctx_end(&ctx);
	wg_plugin_chain_unref(chain);
}

static void test_mode_null(void **state)
{
	struct reply r;
	block_reply("null", "ads.example.com.", WG_TYPE_A, 1, &r);
	assert_int_equal(r.rcode, WG_RCODE_NOERROR);
	assert_int_equal(r.n_answer, 1);
	assert_string_equal(r.addr[0], "0.0.0.0");
	assert_int_equal(r.ttl[0], WG_PLUGIN_BLOCK_TTL);
	assert_int_equal(r.ede, 15);

	block_reply("null", "ads.example.com.", WG_TYPE_AAAA, 1, &r);
	assert_int_equal(r.rcode, WG_RCODE_NOERROR);
	assert_int_equal(r.n_answer, 1);
	assert_string_equal(r.addr[0], "::");
	assert_int_equal(r.ede, 15);

	/* other types: NODATA with the synthetic SOA */
	block_reply("null", "ads.example.com.", WG_TYPE_TXT, 1, &r);
	assert_int_equal(r.rcode, WG_RCODE_NOERROR);
	assert_int_equal(r.n_answer, 0);
	assert_int_equal(r.n_soa, 1);
}

static void test_mode_nxdomain(void **state)
{
	struct reply r;
	block_reply("nxdomain", "tracker.example.net.", WG_TYPE_A, 1, &r);
	assert_int_equal(r.rcode, WG_RCODE_NXDOMAIN);
	assert_int_equal(r.n_answer, 0);
	assert_int_equal(r.n_soa, 1);
	assert_int_equal(r.ede, 15);
}

static void test_mode_nodata(void **state)
{
	struct reply r;
	block_reply("nodata", "plain-ad.example.org.", WG_TYPE_AAAA, 1, &r);
	assert_int_equal(r.rcode, WG_RCODE_NOERROR);
	assert_int_equal(r.n_answer, 0);
	assert_int_equal(r.n_soa, 1);
	assert_int_equal(r.ede, 15);
}

static void test_mode_refused(void **state)
{
	struct reply r;
	block_reply("refused", "adblock.example.", WG_TYPE_A, 1, &r);
	assert_int_equal(r.rcode, WG_RCODE_REFUSED);
	assert_int_equal(r.n_answer, 0);
	assert_int_equal(r.ede, 15);
}

static void test_no_edns_no_opt(void **state)
{
	struct reply r;
	block_reply("null", "ads.example.com.", WG_TYPE_A, 0, &r);
	assert_int_equal(r.has_opt, 0);
	assert_int_equal(r.ede, 0xffff);
	assert_string_equal(r.addr[0], "0.0.0.0");
}

static void test_build_reply_edges(void **state)
{
	struct q q;
	struct wg_plugin_verdict v;
	memset(&v, 0, sizeof(v));
	make_query(&q, "x.example.", WG_TYPE_A, 1);
	uint8_t out[512];
	v.action = WG_PV_CONTINUE;
	assert_int_equal(wg_plugin_build_reply(&v, q.pkt, &q.qi, out, sizeof(out)), -EINVAL);
	v.action = 99;
	assert_int_equal(wg_plugin_build_reply(&v, q.pkt, &q.qi, out, sizeof(out)), -EINVAL);
	v.action = WG_PV_DROP;
	assert_int_equal(wg_plugin_build_reply(&v, q.pkt, &q.qi, out, sizeof(out)), 0);
	v.action = WG_PV_BLOCK_NULL;
	assert_int_equal(wg_plugin_build_reply(&v, q.pkt, &q.qi, out, 20), -ENOSPC);
	/* room for everything but the OPT */
	int full = wg_plugin_build_reply(&v, q.pkt, &q.qi, out, sizeof(out));
	assert_true(full > 0);
	assert_int_equal(wg_plugin_build_reply(&v, q.pkt, &q.qi, out, (size_t)full - 1), -ENOSPC);
	v.action = WG_PV_REFUSE;
	int n = wg_plugin_build_reply(&v, q.pkt, &q.qi, out, sizeof(out));
	assert_true(n > 0);
	struct reply r;
	decode(out, (size_t)n, &r);
	assert_int_equal(r.rcode, WG_RCODE_REFUSED);
	assert_int_equal(r.ede, 18);
}

/* WU names in the list, the way telemetry lists carry them: the guard wins
 * and the verdict comes back as a record naming plugin and entry. */
static void test_wu_names_not_blocked(void **state)
{
	static const struct {
		const char *name, *entry;
	} wu[] = {
		{"kv601.prod.do.dsp.mp.microsoft.com.", "*.prod.do.dsp.mp.microsoft.com"},
		{"settings-win.data.microsoft.com.", "settings-win.data.microsoft.com"},
		{"download.windowsupdate.com.", "download.windowsupdate.com"},
		{"au.download.windowsupdate.com.", "||au.download.windowsupdate.com^"},
		{"x.au.download.windowsupdate.com.", "||au.download.windowsupdate.com^"},
	};
	static const char *modes[] = {"null", "nxdomain", "nodata", "refused"};
	for (size_t m = 0; m < 4; m++) {
		struct wg_plugin_chain *chain = load_blocklist(modes[m], list_path);
		for (size_t i = 0; i < sizeof(wu) / sizeof(wu[0]); i++) {
			struct wg_plugin_verdict v;
			/* the list does hold them: without the guard they are blocked */
			assert_int_not_equal(run_pre(chain, wu[i].name, 0, &v), WG_PV_CONTINUE);
			assert_int_equal(run_pre(chain, wu[i].name, 1, &v), WG_PV_CONTINUE);
			assert_int_equal(v.overridden, 1);
			assert_int_equal(v.n_overridden, 1);
			assert_int_equal(v.wanted, WG_PV_BLOCK_NULL + (int)m);
			assert_non_null(v.plugin);
			assert_string_equal(v.plugin, "ads");
			assert_string_equal(v.entry, wu[i].entry);
		}
		wg_plugin_chain_unref(chain);
	}
}

static void test_list_formats(void **state)
{
	struct wg_plugin_chain *chain = load_blocklist("null", list_path);
	/* hosts: several names a line, trailing comment, IPv6 address */
	assert_true(blocked(chain, "ads.example.com."));
	assert_true(blocked(chain, "tracker.example.net."));
	assert_true(blocked(chain, "doubleclick.test."));
	assert_true(blocked(chain, "ipv6-host.example."));
	assert_false(blocked(chain, "localhost."));
	/* plain */
	assert_true(blocked(chain, "plain-ad.example.org."));
	assert_false(blocked(chain, "valid."));
	assert_false(blocked(chain, "line."));
	/* adblock */
	assert_true(blocked(chain, "adblock.example."));
	assert_true(blocked(chain, "important.example."));
	assert_true(blocked(chain, "commented.example."));
	assert_false(blocked(chain, "thirdparty.example.")); /* modifier: skipped */
	assert_false(blocked(chain, "mixed.example."));
	/* exceptions win over blocks on the same name and on parents */
	assert_true(blocked(chain, "tree.ads.example.com."));
	assert_true(blocked(chain, "other.tree.ads.example.com."));
	assert_false(blocked(chain, "ok.tree.ads.example.com."));
	assert_false(blocked(chain, "deep.ok.tree.ads.example.com."));
	assert_false(blocked(chain, "allowed.example."));
	assert_false(blocked(chain, "www.allowed.example."));
	/* not domain entries in Pi-hole's reading: skipped, block nothing */
	assert_false(blocked(chain, "noanchor.example."));
	assert_true(blocked(chain, "anchored.example."));
	assert_false(blocked(chain, "regex1.example."));
	assert_false(blocked(chain, "plain-allow.example."));
	assert_true(blocked(chain, "ads.example.com.")); /* $badfilter exception skipped */

	struct wg_plugin_verdict v;
	run_pre(chain, "ads.example.com.", 0, &v);
	assert_string_equal(v.entry, "ads.example.com");
	wg_plugin_chain_unref(chain);
}

static void test_subdomains(void **state)
{
	struct wg_plugin_chain *chain = load_blocklist("null", list_path);
	struct wg_plugin_verdict v;
	/* "||x^" covers x and every name under it; the entry is its line form */
	assert_int_equal(run_pre(chain, "tree.ads.example.com.", 0, &v), WG_PV_BLOCK_NULL);
	assert_string_equal(v.entry, "||tree.ads.example.com^");
	assert_int_equal(run_pre(chain, "a.b.c.tree.ads.example.com.", 0, &v), WG_PV_BLOCK_NULL);
	assert_string_equal(v.entry, "||tree.ads.example.com^");
	assert_int_equal(run_pre(chain, "a.adblock.example.", 0, &v), WG_PV_BLOCK_NULL);
	assert_string_equal(v.entry, "||adblock.example^");
	/* ".x" (dnsmasq style): x and below */
	assert_true(blocked(chain, "dnsmasq.example."));
	assert_true(blocked(chain, "a.dnsmasq.example."));
	assert_int_equal(run_pre(chain, "ADS.Example.COM.", 0, &v), WG_PV_BLOCK_NULL);
	assert_false(blocked(chain, "example.com."));
	assert_false(blocked(chain, "notads.example.com."));
	assert_false(blocked(chain, "ads.example.com.evil.test."));
	/* "*.x": below x only */
	assert_false(blocked(chain, "wild.example."));
	assert_int_equal(run_pre(chain, "a.wild.example.", 0, &v), WG_PV_BLOCK_NULL);
	assert_string_equal(v.entry, "*.wild.example");
	/* a label holding a dot is not a subdomain of what follows the dot */
	assert_false(blocked(chain, "x\\.ads.example.com.evil."));
	wg_plugin_chain_unref(chain);
}

/* Pi-hole's reading (FTL gravity-parseList.c): a hosts or plain-domain line
 * is an exact entry; only "||x^" (and here "*.x", ".x") reach below. */
static void test_pihole_exact_entries(void **state)
{
	struct wg_plugin_chain *chain = load_blocklist("null", list_path);
	struct wg_plugin_verdict v;
	/* the WindowsSpyBlocker line that blocked every Microsoft download */
	assert_true(blocked(chain, "download.microsoft.com."));
	assert_false(blocked(chain, "x.download.microsoft.com."));
	assert_false(blocked(chain, "a.b.download.microsoft.com."));
	/* hosts lines, every name of the line, each exact */
	assert_false(blocked(chain, "www.ads.example.com."));
	assert_false(blocked(chain, "x.tracker.example.net."));
	assert_false(blocked(chain, "a.doubleclick.test."));
	assert_false(blocked(chain, "sub.ipv6-host.example."));
	/* plain-domain lines */
	assert_false(blocked(chain, "x.plain-ad.example.org."));
	assert_false(blocked(chain, "au.download.windowsupdate.com.evil."));
	assert_int_equal(run_pre(chain, "download.windowsupdate.com.", 0, &v), WG_PV_BLOCK_NULL);
	assert_string_equal(v.entry, "download.windowsupdate.com");
	assert_false(blocked(chain, "n5.download.windowsupdate.com."));
	/* adblock lines cover the name and its subdomains */
	assert_true(blocked(chain, "ads.example."));
	assert_int_equal(run_pre(chain, "a.ads.example.", 0, &v), WG_PV_BLOCK_NULL);
	assert_string_equal(v.entry, "||ads.example^");
	assert_false(blocked(chain, "notads.example."));
	/* wildcards cover the names below only */
	assert_false(blocked(chain, "prod.do.dsp.mp.microsoft.com."));
	assert_true(blocked(chain, "geo.prod.do.dsp.mp.microsoft.com."));
	wg_plugin_chain_unref(chain);
}

/* Post-response: a blocked name hiding behind a CNAME. */
static size_t make_response(struct q *q, uint8_t *out, const char *cname_target,
			    const uint8_t a[4])
{
	memcpy(out, q->pkt, q->qi.question_end);
	wg_put16(out + 2, (uint16_t)(wg_get16(out + 2) | WG_F_QR | WG_F_RA));
	wg_put16(out + 10, 0);
	size_t o = q->qi.question_end;
	uint16_t an = 0;
	uint8_t target[WG_NAME_MAX];
	int tl = 0;
	if (cname_target) {
		tl = wg_wire_name_from_str(cname_target, target);
		assert_true(tl > 0);
		out[o++] = 0xc0;
		out[o++] = 12;
		wg_put16(out + o, WG_TYPE_CNAME);
		wg_put16(out + o + 2, 1);
		wg_put32(out + o + 4, 60);
		wg_put16(out + o + 8, (uint16_t)tl);
		o += 10;
		memcpy(out + o, target, (size_t)tl);
		size_t toff = o;
		o += (size_t)tl;
		an++;
		out[o++] = (uint8_t)(0xc0 | (toff >> 8));
		out[o++] = (uint8_t)toff;
	} else {
		out[o++] = 0xc0;
		out[o++] = 12;
	}
	wg_put16(out + o, WG_TYPE_A);
	wg_put16(out + o + 2, 1);
	wg_put32(out + o + 4, 60);
	wg_put16(out + o + 8, 4);
	memcpy(out + o + 10, a, 4);
	o += 14;
	an++;
	wg_put16(out + 6, an);
	return o;
}

static void test_post_cname(void **state)
{
	struct wg_plugin_chain *chain = load_blocklist("nxdomain", list_path);
	static const uint8_t a[4] = {192, 0, 2, 1};
	struct q q;
	struct wg_qctx ctx;
	struct wg_plugin_verdict v;
	uint8_t resp[512];
	make_query(&q, "www.news.example.", WG_TYPE_A, 1);
	size_t rl = make_response(&q, resp, "tracker.example.net.", a);

	wg_plugin_qctx_begin(&ctx, chain, q.pkt, q.len, &q.qi, NULL, 0);
	assert_int_equal(wg_plugin_run_pre(&ctx, 0, &v), WG_PV_CONTINUE);
	assert_int_equal(wg_plugin_run_post(&ctx, resp, rl, 0, &v), WG_PV_BLOCK_NXDOMAIN);
	assert_string_equal(v.entry, "tracker.example.net");
	/* a chain that starts at a WU name is guarded as a whole */
	assert_int_equal(wg_plugin_run_post(&ctx, resp, rl, 1, &v), WG_PV_CONTINUE);
	assert_int_equal(v.overridden, 1);
	assert_string_equal(v.entry, "tracker.example.net");
	wg_plugin_qctx_end(&ctx);

	/* no CNAME: nothing to block */
	rl = make_response(&q, resp, NULL, a);
	wg_plugin_qctx_begin(&ctx, chain, q.pkt, q.len, &q.qi, NULL, 0);
	assert_int_equal(wg_plugin_run_post(&ctx, resp, rl, 0, &v), WG_PV_CONTINUE);
	/* garbage response: accessors see nothing, no crash */
	assert_int_equal(wg_plugin_run_post(&ctx, resp, 5, 0, &v), WG_PV_CONTINUE);
	wg_plugin_qctx_end(&ctx);
	wg_plugin_chain_unref(chain);
}

static void test_abi_mismatch(void **state)
{
	struct wg_plugin_chain *chain = NULL;
	char err[512] = "";
	int rc = load_one("tests/plugins/.libs/bad_abi.so", "bad", 0, 0, NULL, &chain, err,
			  sizeof(err));
	assert_int_equal(rc, -EPROTO);
	assert_null(chain);
	assert_non_null(strstr(err, "ABI version 999"));
	assert_non_null(strstr(err, "plugin bad"));
}

static void test_no_entry_point(void **state)
{
	struct wg_plugin_chain *chain = NULL;
	char err[512] = "";
	int rc = load_one("tests/plugins/.libs/noentry.so", "noentry", 0, 0, NULL, &chain, err,
			  sizeof(err));
	assert_int_equal(rc, -ENOEXEC);
	assert_null(chain);
	assert_non_null(strstr(err, "wuguard_plugin_entry"));
}

static void test_missing_and_not_so(void **state)
{
	struct wg_plugin_chain *chain = NULL;
	char err[512] = "";
	char path[256];
	snprintf(path, sizeof(path), "%s/nonexistent.so", tmpdir);
	assert_int_equal(load_one(path, "gone", 0, 0, NULL, &chain, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nonexistent.so"));
	/* a text file is not a shared object */
	assert_int_equal(load_one(list_path, "text", 0, 0, NULL, &chain, err, sizeof(err)),
			 -ELIBBAD);
	assert_null(chain);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[2600];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

static void test_file_permissions(void **state)
{
	char so[1100], copy[256];
	plugin_path(so, sizeof(so), "plugin/.libs/blocklist.so");
	snprintf(copy, sizeof(copy), "%s/blocklist-copy.so", tmpdir);
	copy_file(so, copy);
	const char *kv[] = {"list", list_path};
	struct wg_plugin_chain *chain = NULL;
	char err[512] = "";

	assert_int_equal(chmod(copy, 0757), 0);
	assert_int_equal(load_one(copy, "ww", 0, 1, kv, &chain, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "writable by group or others"));
	assert_int_equal(chmod(copy, 0775), 0);
	assert_int_equal(load_one(copy, "gw", 0, 1, kv, &chain, err, sizeof(err)), -EPERM);
	assert_null(chain);

	/* owner: root or the service user only (the tests run as root, who
	 * may chown) */
	assert_int_equal(chmod(copy, 0755), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(copy, 12345, 0), 0);
		assert_int_equal(load_one(copy, "own", 0, 1, kv, &chain, err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "owned by uid 12345"));
		assert_int_equal(load_one(copy, "svc", 12345, 1, kv, &chain, err, sizeof(err)), 0);
		assert_non_null(chain);
		wg_plugin_chain_unref(chain);
		chain = NULL;
		assert_int_equal(chown(copy, 0, 0), 0);
	}
	assert_int_equal(load_one(copy, "ok", 0, 1, kv, &chain, err, sizeof(err)), 0);
	assert_true(blocked(chain, "ads.example.com."));
	wg_plugin_chain_unref(chain);
}

static void test_blockall_leaves_wu_alone(void **state)
{
	struct wg_plugin_chain *chain = NULL;
	char err[512] = "";
	assert_int_equal(load_one("tests/plugins/.libs/blockall.so", "all", 0, 0, NULL, &chain,
				  err, sizeof(err)),
			 0);
	struct wg_plugin_verdict v;
	assert_int_equal(run_pre(chain, "www.example.com.", 0, &v), WG_PV_BLOCK_NXDOMAIN);
	assert_string_equal(v.plugin, "all");

	static const char *wu[] = {"fe3cr.delivery.mp.microsoft.com.",
				   "ctldl.windowsupdate.com.", "sls.update.microsoft.com."};
	for (size_t i = 0; i < 3; i++) {
		struct q q;
		struct wg_qctx ctx;
		uint8_t resp[512];
		static const uint8_t a[4] = {203, 0, 113, 5};
		make_query(&q, wu[i], WG_TYPE_A, 1);
		size_t rl = make_response(&q, resp, NULL, a);
		wg_plugin_qctx_begin(&ctx, chain, q.pkt, q.len, &q.qi, NULL, 0);
		assert_int_equal(wg_plugin_run_pre(&ctx, 1, &v), WG_PV_CONTINUE);
		assert_int_equal(v.overridden, 1);
		assert_int_equal(v.wanted, WG_PV_BLOCK_NXDOMAIN);
		assert_string_equal(v.plugin, "all");
		assert_string_equal(v.entry, "everything");
		assert_int_equal(wg_plugin_run_post(&ctx, resp, rl, 1, &v), WG_PV_CONTINUE);
		assert_int_equal(v.overridden, 1);
		assert_string_equal(v.plugin, "all");
		wg_plugin_qctx_end(&ctx);
	}
	wg_plugin_chain_unref(chain);
}

/* Two plugins in order: the first verdict wins; continue passes on; with a
 * WU name every verdict is set aside and counted. */
static void test_chain_order(void **state)
{
	char bl[1100], all[1100];
	plugin_path(bl, sizeof(bl), "plugin/.libs/blocklist.so");
	plugin_path(all, sizeof(all), "tests/plugins/.libs/blockall.so");
	const char *kv[] = {"list", list_path, "mode", "refused"};
	struct conf_buf cb[2];
	make_conf(&cb[0], "ads", bl, 2, kv);
	make_conf(&cb[1], "all", all, 0, NULL);
	struct wg_plugin_conf confs[2] = {cb[0].c, cb[1].c};
	struct wg_plugin_chain *chain = NULL;
	char err[512] = "";
	assert_int_equal(wg_plugin_chain_load(confs, 2, 0, &chain, err, sizeof(err)), 0);
	assert_int_equal(wg_plugin_chain_count(chain), 2);
	assert_string_equal(wg_plugin_chain_name(chain, 0), "ads");
	assert_string_equal(wg_plugin_chain_name(chain, 1), "all");
	assert_null(wg_plugin_chain_name(chain, 2));

	struct wg_plugin_verdict v;
	assert_int_equal(run_pre(chain, "ads.example.com.", 0, &v), WG_PV_BLOCK_REFUSED);
	assert_string_equal(v.plugin, "ads");
	assert_int_equal(run_pre(chain, "www.example.com.", 0, &v), WG_PV_BLOCK_NXDOMAIN);
	assert_string_equal(v.plugin, "all");
	assert_int_equal(run_pre(chain, "download.windowsupdate.com.", 1, &v), WG_PV_CONTINUE);
	assert_int_equal(v.n_overridden, 2);
	assert_string_equal(v.plugin, "ads"); /* the first one is named */
	assert_string_equal(v.entry, "download.windowsupdate.com");
	wg_plugin_chain_unref(chain);

	/* more plugins than supported */
	struct wg_plugin_conf many[WG_PLUGIN_MAX + 1];
	for (size_t i = 0; i <= WG_PLUGIN_MAX; i++)
		many[i] = cb[1].c;
	chain = NULL;
	assert_int_equal(wg_plugin_chain_load(many, WG_PLUGIN_MAX + 1, 0, &chain, err, sizeof(err)),
			 -E2BIG);
	assert_null(chain);
	/* an empty chain is fine */
	assert_int_equal(wg_plugin_chain_load(NULL, 0, 0, &chain, err, sizeof(err)), 0);
	assert_int_equal(run_pre(chain, "ads.example.com.", 0, &v), WG_PV_CONTINUE);
	assert_null(v.plugin);
	wg_plugin_chain_unref(chain);
}

static void test_reload(void **state)
{
	char so[1100];
	plugin_path(so, sizeof(so), "plugin/.libs/blocklist.so");
	struct wg_plugin_chain *cur = load_blocklist("null", list_path);
	struct wg_plugin_chain *orig = cur;
	char err[512] = "", missing[256], list2[256];
	snprintf(missing, sizeof(missing), "%s/missing.txt", tmpdir);

	/* a query in flight keeps its chain across a reload */
	struct q q;
	struct wg_qctx ctx;
	struct wg_plugin_verdict v;
	make_query(&q, "ads.example.com.", WG_TYPE_A, 1);
	wg_plugin_qctx_begin(&ctx, cur, q.pkt, q.len, &q.qi, NULL, 0);

	const char *bad[] = {"list", missing};
	struct conf_buf cb;
	make_conf(&cb, "ads", so, 1, bad);
	assert_int_equal(wg_plugin_reload(&cur, &cb.c, 1, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "missing.txt"));
	assert_ptr_equal(cur, orig);
	assert_true(blocked(cur, "ads.example.com."));

	const char *badmode[] = {"list", list_path, "mode", "sinkhole"};
	make_conf(&cb, "ads", so, 2, badmode);
	assert_int_equal(wg_plugin_reload(&cur, &cb.c, 1, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "mode = sinkhole"));
	assert_ptr_equal(cur, orig);

	/* a good reload swaps in the new list */
	snprintf(list2, sizeof(list2), "%s/list2.txt", tmpdir);
	write_file(list2, "other.example\n");
	const char *good[] = {"list", list2};
	make_conf(&cb, "ads", so, 1, good);
	assert_int_equal(wg_plugin_reload(&cur, &cb.c, 1, 0, err, sizeof(err)), 0);
	assert_ptr_not_equal(cur, orig);
	assert_true(blocked(cur, "other.example."));
	assert_false(blocked(cur, "ads.example.com."));

	/* the old chain still serves the query that started on it */
	assert_int_equal(wg_plugin_run_pre(&ctx, 0, &v), WG_PV_BLOCK_NULL);
	assert_string_equal(v.plugin, "ads");
	wg_plugin_qctx_end(&ctx); /* drops the last reference to orig */
	wg_plugin_chain_unref(cur);
}

struct stat_seen {
	uint64_t ends, data_ok, blocked, names;
};

static void collect(void *arg, const char *instance, const char *key, uint64_t value)
{
	struct stat_seen *s = arg;
	if (strcmp(key, "ends") == 0)
		s->ends = value;
	else if (strcmp(key, "data_ok") == 0)
		s->data_ok = value;
	else if (strcmp(key, "blocked") == 0)
		s->blocked = value;
	else if (strcmp(key, "names") == 0)
		s->names = value;
}

static void test_context_and_local_answer(void **state)
{
	struct wg_plugin_chain *chain = NULL;
	char err[512] = "";
	assert_int_equal(load_one("tests/plugins/.libs/ctxcheck.so", "cc", 0, 0, NULL, &chain,
				  err, sizeof(err)),
			 0);
	struct q q;
	struct wg_qctx ctx;
	struct wg_plugin_verdict v;
	uint8_t out[512];
	struct reply r;

	/* local data, per type */
	static const struct {
		uint16_t type;
		int n;
		const char *addr;
	} cases[] = {{WG_TYPE_A, 1, "10.1.2.3"}, {WG_TYPE_AAAA, 1, "fd00::1"}, {WG_TYPE_TXT, 0, NULL}};
	for (size_t i = 0; i < 3; i++) {
		make_query(&q, "Local.Test.", cases[i].type, 1);
		wg_plugin_qctx_begin(&ctx, chain, q.pkt, q.len, &q.qi, NULL, 0);
		assert_int_equal(wg_plugin_run_pre(&ctx, 0, &v), WG_PV_ANSWER);
		assert_int_equal(v.n_local, 2);
		int n = wg_plugin_build_reply(&v, q.pkt, &q.qi, out, sizeof(out));
		assert_true(n > 0);
		decode(out, (size_t)n, &r);
		assert_int_equal(r.rcode, WG_RCODE_NOERROR);
		assert_int_equal(r.n_answer, cases[i].n);
		assert_int_equal(r.ede, 0xffff); /* local data is not a block */
		if (cases[i].addr) {
			assert_string_equal(r.addr[0], cases[i].addr);
			assert_int_equal(r.ttl[0], 300);
		} else {
			assert_int_equal(r.n_soa, 1);
		}
		/* a WU name never gets local data */
		assert_int_equal(wg_plugin_run_pre(&ctx, 1, &v), WG_PV_CONTINUE);
		assert_int_equal(v.overridden, 1);
		assert_int_equal(v.n_local, 0);
		wg_plugin_qctx_end(&ctx);
	}

	/* set_data reaches post_response; answer addresses; query_end frees */
	static const uint8_t bad[4] = {192, 0, 2, 66}, good[4] = {192, 0, 2, 67};
	uint8_t resp[512];
	make_query(&q, "www.example.com.", WG_TYPE_A, 1);
	size_t rl = make_response(&q, resp, "edge.cdn.example.", bad);
	wg_plugin_qctx_begin(&ctx, chain, q.pkt, q.len, &q.qi, NULL, 0);
	assert_int_equal(wg_plugin_run_pre(&ctx, 0, &v), WG_PV_CONTINUE);
	assert_int_equal(wg_plugin_run_post(&ctx, resp, rl, 0, &v), WG_PV_BLOCK_NULL);
	assert_string_equal(v.entry, "192.0.2.66");
	wg_plugin_qctx_end(&ctx);

	rl = make_response(&q, resp, NULL, good);
	wg_plugin_qctx_begin(&ctx, chain, q.pkt, q.len, &q.qi, NULL, 0);
	assert_int_equal(wg_plugin_run_pre(&ctx, 0, &v), WG_PV_CONTINUE);
	assert_int_equal(wg_plugin_run_post(&ctx, resp, rl, 0, &v), WG_PV_CONTINUE);
	wg_plugin_qctx_end(&ctx);

	struct stat_seen s = {0};
	wg_plugin_chain_stats(chain, collect, &s);
	assert_int_equal(s.ends, 5);
	assert_int_equal(s.data_ok, 2);
	wg_plugin_chain_unref(chain);
}

static void test_example_plugin(void **state)
{
	struct wg_plugin_chain *chain = NULL;
	char err[512] = "";
	const char *kv[] = {"suffix", "lan", "log", "yes"};
	assert_int_equal(load_one("plugin/.libs/example.so", "lan", 0, 2, kv, &chain, err,
				  sizeof(err)),
			 0);
	struct wg_plugin_verdict v;
	assert_int_equal(run_pre(chain, "printer.lan.", 0, &v), WG_PV_BLOCK_NXDOMAIN);
	assert_string_equal(v.entry, "lan");
	assert_true(blocked(chain, "lan."));
	assert_false(blocked(chain, "plan."));
	assert_false(blocked(chain, "lan.example.com."));
	struct stat_seen s = {0};
	wg_plugin_chain_stats(chain, collect, &s);
	assert_int_equal(s.blocked, 2);
	wg_plugin_chain_unref(chain);

	const char *bad[] = {"color", "blue"};
	assert_int_equal(load_one("plugin/.libs/example.so", "lan", 0, 1, bad, &chain, err,
				  sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "unknown key color"));
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 200k entries, like a big Pi-hole list: loads in well under the budget
 * and a lookup costs the same as with a tiny list. */
static void test_big_list(void **state)
{
	char big[256];
	snprintf(big, sizeof(big), "%s/big.txt", tmpdir);
	FILE *f = fopen(big, "w");
	assert_non_null(f);
	for (int i = 0; i < 200000; i++)
		fprintf(f, "0.0.0.0 host%d.ad-network%d.example\n", i, i % 997);
	fclose(f);

	double t0 = now_s();
	struct wg_plugin_chain *chain = load_blocklist("null", big);
	double load = now_s() - t0;
	struct stat_seen s = {0};
	wg_plugin_chain_stats(chain, collect, &s);
	assert_int_equal(s.names, 200000);
	assert_true(load < 5.0); /* seconds; about 0.1 s on a laptop */
	assert_true(blocked(chain, "host199999.ad-network599.example."));
	assert_false(blocked(chain, "x.host5.ad-network5.example.")); /* hosts line: exact */
	assert_false(blocked(chain, "host5.ad-network6.example."));

	struct wg_plugin_chain *small = load_blocklist("null", list_path);
	struct q q;
	make_query(&q, "a.b.c.d.e.f.www.example.com.", WG_TYPE_A, 1);
	double per[2];
	for (int k = 0; k < 2; k++) {
		struct wg_plugin_chain *c = k ? small : chain;
		struct wg_qctx ctx;
		struct wg_plugin_verdict v;
		double t = now_s();
		for (int i = 0; i < 200000; i++) {
			wg_plugin_qctx_begin(&ctx, c, q.pkt, q.len, &q.qi, NULL, 0);
			wg_plugin_run_pre(&ctx, 0, &v);
			wg_plugin_qctx_end(&ctx);
		}
		per[k] = (now_s() - t) / 200000 * 1e9;
	}
	print_message("# 200k names: load %.3f s; miss lookup %.0f ns (200k list) vs %.0f ns "
		      "(small list)\n",
		      load, per[0], per[1]);
	/* generous bound: the same order of magnitude, not a list scan */
	assert_true(per[0] < per[1] * 10 + 2000);
	wg_plugin_chain_unref(small);
	wg_plugin_chain_unref(chain);
}

/* A plugin that crashes in its init (tests/plugins/crashinit.c writes
 * through NULL) is tried in a child: the load fails with a message naming
 * the plugin, its path, the step and the signal, and we are still here. */
static void test_crash_in_init(void **state)
{
	char so[1100], all[1100];
	plugin_path(so, sizeof(so), "tests/plugins/.libs/crashinit.so");
	plugin_path(all, sizeof(all), "tests/plugins/.libs/blockall.so");
	struct wg_plugin_chain *chain = NULL;
	char err[1024] = "";
	assert_int_equal(load_one(so, "crash", 0, 0, NULL, &chain, err, sizeof(err)), -EFAULT);
	assert_null(chain);
	assert_non_null(strstr(err, "plugin crash "));
	assert_non_null(strstr(err, so));
	assert_non_null(strstr(err, "in its init"));
	assert_non_null(strstr(err, "SIGSEGV"));

	/* second in a chain: the report names the one that crashed */
	struct conf_buf cb[2];
	make_conf(&cb[0], "first", all, 0, NULL);
	make_conf(&cb[1], "second", so, 0, NULL);
	struct wg_plugin_conf confs[2] = {cb[0].c, cb[1].c};
	assert_int_equal(wg_plugin_chain_load(confs, 2, 0, &chain, err, sizeof(err)), -EFAULT);
	assert_non_null(strstr(err, "plugin second "));
	assert_null(strstr(err, "plugin first"));

	/* a crash in fini is caught the same way */
	const char *fini[] = {"mode", "fini"};
	assert_int_equal(load_one(so, "crashfini", 0, 1, fini, &chain, err, sizeof(err)),
			 -EFAULT);
	assert_non_null(strstr(err, "in its fini"));
	assert_non_null(strstr(err, "SIGSEGV"));

	/* an init that refuses without crashing: its own message, its errno */
	const char *fail[] = {"mode", "fail"};
	assert_int_equal(load_one(so, "refuses", 0, 1, fail, &chain, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "crashinit refuses (mode = fail)"));
	assert_null(chain);
}

/* An init that never returns: the child is killed after the trial timeout
 * (1500 ms here, room for a starved machine to reach the init; the default
 * is WG_PLUGIN_TRIAL_MS). */
static void test_hang_in_init(void **state)
{
	char so[1100];
	plugin_path(so, sizeof(so), "tests/plugins/.libs/crashinit.so");
	const char *hang[] = {"mode", "hang"};
	struct wg_plugin_chain *chain = NULL;
	char err[1024] = "";
	assert_int_equal(wg_plugin_set_trial_timeout(1500), WG_PLUGIN_TRIAL_MS);
	int rc = load_one(so, "hangs", 0, 1, hang, &chain, err, sizeof(err));
	assert_int_equal(wg_plugin_set_trial_timeout(0), 1500);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_null(chain);
	assert_non_null(strstr(err, "plugin hangs "));
	assert_non_null(strstr(err, so));
	assert_non_null(strstr(err, "hung in its init"));
	assert_non_null(strstr(err, "killed it after 1500 ms ([server] plugin-timeout)"));
	/* 0 restored the default */
	assert_int_equal(wg_plugin_set_trial_timeout(0), WG_PLUGIN_TRIAL_MS);
}

/* An init that leaves a helper process running: the helper keeps the
 * trial's report pipe open after the trial child has exited, so the end of
 * the trial is the child's exit, not the pipe's EOF. Waiting for EOF would
 * call it hung after the timeout (5000 ms here, the helper lives 10 s). */
static void test_helper_outlives_trial(void **state)
{
	char so[1100];
	plugin_path(so, sizeof(so), "tests/plugins/.libs/crashinit.so");
	const char *spawn[] = {"mode", "spawn"};
	struct wg_plugin_chain *chain = NULL;
	char err[1024] = "";
	wg_plugin_set_trial_timeout(5000);
	int rc = load_one(so, "spawns", 0, 1, spawn, &chain, err, sizeof(err));
	wg_plugin_set_trial_timeout(0);
	assert_string_equal(err, "");
	assert_int_equal(rc, 0);
	assert_non_null(chain);
	wg_plugin_chain_unref(chain);
}

/* The directories above a plugin count too: one that others can write (or
 * that another user owns) lets them swap the file. */
static void test_dir_permissions(void **state)
{
	char so[1100], dir[256], copy[300];
	plugin_path(so, sizeof(so), "tests/plugins/.libs/blockall.so");
	snprintf(dir, sizeof(dir), "%s/plugdir", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(copy, sizeof(copy), "%s/blockall.so", dir);
	copy_file(so, copy);
	assert_int_equal(chmod(copy, 0644), 0);
	struct wg_plugin_chain *chain = NULL;
	char err[1024] = "";

	assert_int_equal(load_one(copy, "ok", 0, 0, NULL, &chain, err, sizeof(err)), 0);
	wg_plugin_chain_unref(chain);
	chain = NULL;

	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(load_one(copy, "wwdir", 0, 0, NULL, &chain, err, sizeof(err)), -EPERM);
	assert_null(chain);
	assert_non_null(strstr(err, "plugin wwdir: "));
	assert_non_null(strstr(err, "writable by group or others (mode 0777)"));
	char want[400];
	snprintf(want, sizeof(want), "chmod go-w %s)", dir);
	assert_non_null(strstr(err, want));
	assert_int_equal(chmod(dir, 0775), 0);
	assert_int_equal(load_one(copy, "gwdir", 0, 0, NULL, &chain, err, sizeof(err)), -EPERM);

	/* sticky and owned by root, like /tmp: nobody can rename what they
	 * do not own there, so it passes (the file itself is checked) */
	if (geteuid() == 0) {
		assert_int_equal(chmod(dir, 01777), 0);
		assert_int_equal(load_one(copy, "sticky", 0, 0, NULL, &chain, err, sizeof(err)), 0);
		wg_plugin_chain_unref(chain);
		chain = NULL;
		/* another user's directory: refused, unless that is the
		 * service user */
		assert_int_equal(chmod(dir, 0755), 0);
		assert_int_equal(chown(dir, 65534, 65534), 0);
		assert_int_equal(load_one(copy, "nobodydir", 0, 0, NULL, &chain, err, sizeof(err)),
				 -EPERM);
		assert_non_null(strstr(err, "owned by uid 65534"));
		snprintf(want, sizeof(want), "chown root %s)", dir);
		assert_non_null(strstr(err, want));
		assert_int_equal(load_one(copy, "svcdir", 65534, 0, NULL, &chain, err, sizeof(err)),
				 0);
		wg_plugin_chain_unref(chain);
		chain = NULL;
		assert_int_equal(chown(dir, 0, 0), 0);
		/* the file owned by another user (nobody) */
		assert_int_equal(chown(copy, 65534, 65534), 0);
		assert_int_equal(load_one(copy, "nobodyfile", 0, 0, NULL, &chain, err, sizeof(err)),
				 -EPERM);
		assert_non_null(strstr(err, "owned by uid 65534"));
		snprintf(want, sizeof(want), "chown root %s)", copy);
		assert_non_null(strstr(err, want));
		assert_int_equal(chown(copy, 0, 0), 0);
	}
	assert_int_equal(chmod(dir, 0755), 0);
}

/* The file loaded is the file checked. The hook runs between the check
 * and the load, where the race was: it points the symlink at a file that
 * is not a plugin. Loading the path again would load that file (no entry
 * point, -ENOEXEC); loading the checked descriptor loads blockall. */
static char swap_link[300], swap_to[1100];
static int swaps;

static void swap_hook(const char *path)
{
	if (strcmp(path, swap_link) != 0)
		return;
	char tmp[320];
	snprintf(tmp, sizeof(tmp), "%s.new", swap_link);
	unlink(tmp);
	assert_int_equal(symlink(swap_to, tmp), 0);
	assert_int_equal(rename(tmp, swap_link), 0);
	swaps++;
}

static void test_checked_file_is_loaded(void **state)
{
	char all[1100];
	plugin_path(all, sizeof(all), "tests/plugins/.libs/blockall.so");
	plugin_path(swap_to, sizeof(swap_to), "tests/plugins/.libs/noentry.so");
	char abs_all[PATH_MAX]; /* realpath's size: _FORTIFY_SOURCE aborts on less */
	assert_non_null(realpath(all, abs_all));
	snprintf(swap_link, sizeof(swap_link), "%s/swap.so", tmpdir);
	unlink(swap_link);
	assert_int_equal(symlink(abs_all, swap_link), 0);
	struct wg_plugin_chain *chain = NULL;
	char err[1024] = "";
	swaps = 0;
	wg_plugin_test_after_check = swap_hook;
	int rc = load_one(swap_link, "swapped", 0, 0, NULL, &chain, err, sizeof(err));
	wg_plugin_test_after_check = NULL;
	assert_int_equal(swaps, 1);
	if (rc != 0)
		print_error("load failed: %s\n", err);
	assert_int_equal(rc, 0);
	assert_true(blocked(chain, "www.example.org."));
	wg_plugin_chain_unref(chain);
	chain = NULL;
	/* and the path now names the other file, which is refused */
	assert_int_equal(load_one(swap_link, "after", 0, 0, NULL, &chain, err, sizeof(err)),
			 -ENOEXEC);
	unlink(swap_link);
}

/* Loading through /proc/self/fd/N: glibc matches a name against the loaded
 * objects first, so an object that could not be unloaded under the name
 * /proc/self/fd/N must not be handed back for the next file opened as N. */
static void test_stale_fd_name(void **state)
{
	char all[1100], bad[1100];
	plugin_path(all, sizeof(all), "tests/plugins/.libs/blockall.so");
	plugin_path(bad, sizeof(bad), "tests/plugins/.libs/bad_abi.so");
	int fd = open(all, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	char name[64];
	snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
	void *dl = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	assert_non_null(dl);
	dlclose(dl);
	close(fd); /* the lowest free descriptor again: the next open gets it */
	struct wg_plugin_chain *chain = NULL;
	char err[1024] = "";
	assert_int_equal(load_one(bad, "bad", 0, 0, NULL, &chain, err, sizeof(err)), -EPROTO);
	assert_null(chain);
	assert_non_null(strstr(err, "ABI version 999"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_null),
		cmocka_unit_test(test_mode_nxdomain),
		cmocka_unit_test(test_mode_nodata),
		cmocka_unit_test(test_mode_refused),
		cmocka_unit_test(test_no_edns_no_opt),
		cmocka_unit_test(test_build_reply_edges),
		cmocka_unit_test(test_wu_names_not_blocked),
		cmocka_unit_test(test_list_formats),
		cmocka_unit_test(test_subdomains),
		cmocka_unit_test(test_pihole_exact_entries),
		cmocka_unit_test(test_post_cname),
		cmocka_unit_test(test_abi_mismatch),
		cmocka_unit_test(test_no_entry_point),
		cmocka_unit_test(test_missing_and_not_so),
		cmocka_unit_test(test_file_permissions),
		cmocka_unit_test(test_blockall_leaves_wu_alone),
		cmocka_unit_test(test_chain_order),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_context_and_local_answer),
		cmocka_unit_test(test_example_plugin),
		cmocka_unit_test(test_big_list),
		cmocka_unit_test(test_crash_in_init),
		cmocka_unit_test(test_hang_in_init),
		cmocka_unit_test(test_helper_outlives_trial),
		cmocka_unit_test(test_dir_permissions),
		cmocka_unit_test(test_checked_file_is_loaded),
		cmocka_unit_test(test_stale_fd_name),
	};
	return cmocka_run_group_tests_name("plugin", tests, setup, teardown);
}
