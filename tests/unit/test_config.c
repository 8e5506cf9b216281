/* test_config.c: every key from a file, lists, overrides, errors with
 * their line numbers, and finalize against a fake resolv.conf. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "testutil.h"

#include "config.h"
#include "log.h"

/* Load text into c (defaults first); returns wg_config_load's result. */
static int load_text(struct wg_config *c, const char *text, char *path, char *err, size_t cap)
{
	char p[64];
	assert_int_equal(wg_config_defaults(c), 0);
	wg_test_write_tmp(p, sizeof(p), text);
	err[0] = 0;
	int rc = wg_config_load(c, p, err, cap);
	unlink(p);
	if (path)
		strcpy(path, p);
	return rc;
}

static void assert_addr(const struct wg_addr *a, const char *want)
{
	char buf[80];
	wg_addr_format(a, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_defaults(void **state)
{
	struct wg_config c;
	assert_int_equal(wg_config_defaults(&c), 0);
	assert_int_equal(c.n_listen, 0);
	assert_int_equal(c.n_local, 0);
	assert_int_equal(c.mode, WG_MODE_REPAIR);
	assert_int_equal(c.log_level, WG_LOG_INFO);
	assert_int_equal(c.tcp_idle_ms, 10000);
	assert_int_equal(c.plugin_timeout_ms, 30000);
	assert_int_equal(c.tcp_max_clients, 256);
	assert_int_equal(c.tcp_per_client, 32);
	assert_int_equal(c.max_inflight, 4096);
	assert_int_equal(c.timeout_ms, 1000);
	assert_int_equal(c.retries, 2);
	assert_int_equal(c.public_timeout_ms, 1500);
	assert_int_equal(c.cache_entries, 10000);
	assert_true(c.cache_bytes == 32u << 20);
	assert_int_equal(c.min_ttl, 0);
	assert_int_equal(c.max_ttl, 86400);
	assert_int_equal(c.neg_max_ttl, 3600);
	assert_int_equal(c.servfail_ttl, 5);
	assert_true(c.serve_stale);
	assert_int_equal(c.stale_ttl, 30);
	assert_int_equal(c.stale_max_age, 86400);
	assert_int_equal(c.stale_client_ms, 1800);
	assert_int_equal(c.client_subnet, 0); /* ECS is off unless asked for */
	assert_true(c.prefetch);
	assert_int_equal(c.prefetch_min_hits, 3);
	assert_non_null(strstr(c.domains_file, "/wu-domains.list"));
	assert_int_equal(c.public_wait_ms, 1500);
	assert_int_equal(c.repair_ttl, 300);
	assert_true(c.repair_ede);
	assert_non_null(strstr(c.db_path, "/lib/wuguard/wuguard.db"));
	assert_non_null(strstr(c.control_socket, "/run/wuguard/control.sock"));
	assert_int_equal(c.n_metrics_listen, 0);
	assert_int_equal(c.client_privacy, WG_CLIENT_FULL);
	assert_int_equal(c.retention_days, 90);
	assert_int_equal(c.max_db_mb, 256);
	assert_int_equal(c.aggregate_s, 300);
	assert_int_equal(c.queue_size, 4096);
	assert_null(c.events);
	assert_null(c.site);
	assert_int_equal(c.facility, LOG_DAEMON);
	assert_string_equal(c.resolv_conf, "/etc/resolv.conf");
	assert_null(c.user);
	assert_null(c.pidfile);
	assert_null(c.source);
	wg_config_free(&c);
}

static const char every_key[] =
	"# every key once\n"
	"[server]\n"
	"listen = 127.0.0.1:5300\n"
	"user = nobody\n"
	"log-level = debug\n"
	"mode = monitor\n"
	"tcp-idle-timeout = 2500\n"
	"plugin-timeout = 4500\n"
	"tcp-max-clients = 17\n"
	"tcp-per-client = 3\n"
	"max-inflight = 99\n"
	"pidfile = /run/wuguard.pid\n"
	"identity = resolver one\n"
	"version = not telling\n"
	"\n"
	"[upstream]\n"
	"local = 192.0.2.1 [2001:db8::1]:5353\n"
	"public = 9.9.9.9:53\n"
	"public = sdns://AQcAAAAAAAAAFDE3Ni4xMDMuMTMwLjEzMDo1NDQz\n"
	"timeout = 700\n"
	"retries = 4\n"
	"public-timeout = 2000\n"
	"case-randomization = no\n"
	"client-subnet = yes\n"
	"resolv-conf = /tmp/nowhere\n"
	"[cache]\n"
	"size = 500\n"
	"max-bytes = 8M\n"
	"min-ttl = 10\n"
	"max-ttl = 3600\n"
	"negative-max-ttl = 600\n"
	"servfail-ttl = 2\n"
	"serve-stale = off\n"
	"stale-ttl = 15\n"
	"stale-max-age = 7200\n"
	"stale-client-timeout = 500\n"
	"prefetch = false\n"
	"prefetch-min-hits = 7\n"
	"[acl]\n"
	"allow = 10.0.0.0/8, fd00::/8\n"
	"deny = 10.1.2.3\n"
	"[guard]\n"
	"domains = /tmp/wu.list\n"
	"add = *.Example.COM. foo.example.net\n"
	"remove = bar.example.org\n"
	"groups = office store\n"
	"sanctioned-address = 10.10.10.10 192.168.0.0/16\n"
	"sanctioned-name = lancache.lan\n"
	"sanctioned-block = blocked.example\n"
	"sinkhole-address = 0.0.0.0/8\n"
	"sinkhole-name = sinkhole.example\n"
	"cdn-suffix = akamaiedge.net\n"
	"public-wait = 900\n"
	"repair-ttl = 60\n"
	"repair-ede = no\n"
	"[database]\n"
	"path = /tmp/wg.db\n"
	"client-address = truncate\n"
	"retention-days = 30\n"
	"max-size-mb = 64\n"
	"aggregate-window = 120\n"
	"queue-size = 1024\n"
	"hide-name = *.private.example\n"
	"hide-client = 192.168.7.0/24\n"
	"[log]\n"
	"events = file:/var/log/wuguard/events.json\n"
	"site = branch 12\n"
	"facility = local5\n"
	"[control]\n"
	"socket = /run/wuguard-test/control.sock\n"
	"[metrics]\n"
	"listen = 127.0.0.1:9153\n"
	"[plugin:block]\n"
	"path = /usr/lib/wuguard/block.so\n"
	"list = /etc/a.list\n"
	"list = /etc/b.list\n"
	"mode = nxdomain\n";

static void test_every_key(void **state)
{
	struct wg_config c;
	char err[512], path[64];
	assert_int_equal(load_text(&c, every_key, path, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(c.source, path);

	assert_int_equal(c.n_listen, 1);
	assert_addr(&c.listen[0], "127.0.0.1:5300");
	assert_string_equal(c.user, "nobody");
	assert_int_equal(c.log_level, WG_LOG_DEBUG);
	assert_int_equal(c.mode, WG_MODE_MONITOR);
	assert_int_equal(c.tcp_idle_ms, 2500);
	assert_int_equal(c.plugin_timeout_ms, 4500);
	assert_int_equal(c.tcp_max_clients, 17);
	assert_int_equal(c.tcp_per_client, 3);
	assert_int_equal(c.max_inflight, 99);
	assert_string_equal(c.pidfile, "/run/wuguard.pid");
	assert_string_equal(c.identity, "resolver one");
	assert_string_equal(c.version, "not telling");

	assert_int_equal(c.n_local, 2);
	assert_addr(&c.local[0], "192.0.2.1:53");
	assert_addr(&c.local[1], "[2001:db8::1]:5353");
	assert_int_equal(c.public_.n, 2);
	assert_string_equal(c.public_.v[0], "9.9.9.9:53");
	assert_string_equal(c.public_.v[1], "sdns://AQcAAAAAAAAAFDE3Ni4xMDMuMTMwLjEzMDo1NDQz");
	assert_int_equal(c.timeout_ms, 700);
	assert_int_equal(c.retries, 4);
	assert_int_equal(c.public_timeout_ms, 2000);
	assert_int_equal(c.caps, 0);
	assert_int_equal(c.client_subnet, 1);
	assert_string_equal(c.resolv_conf, "/tmp/nowhere");

	assert_int_equal(c.cache_entries, 500);
	assert_true(c.cache_bytes == 8u << 20);
	assert_int_equal(c.min_ttl, 10);
	assert_int_equal(c.max_ttl, 3600);
	assert_int_equal(c.neg_max_ttl, 600);
	assert_int_equal(c.servfail_ttl, 2);
	assert_false(c.serve_stale);
	assert_int_equal(c.stale_ttl, 15);
	assert_int_equal(c.stale_max_age, 7200);
	assert_int_equal(c.stale_client_ms, 500);
	assert_false(c.prefetch);
	assert_int_equal(c.prefetch_min_hits, 7);

	assert_int_equal(c.n_allow, 2);
	assert_int_equal(c.allow[0].family, AF_INET);
	assert_int_equal(c.allow[0].prefix, 8);
	assert_int_equal(c.allow[1].family, AF_INET6);
	assert_int_equal(c.allow[1].prefix, 8);
	assert_int_equal(c.n_deny, 1);
	assert_int_equal(c.deny[0].prefix, 32);

	assert_string_equal(c.domains_file, "/tmp/wu.list");
	assert_int_equal(c.domains_add.n, 2);
	assert_string_equal(c.domains_add.v[0], "*.example.com");
	assert_string_equal(c.domains_add.v[1], "foo.example.net");
	assert_int_equal(c.domains_remove.n, 1);
	assert_string_equal(c.domains_remove.v[0], "bar.example.org");
	assert_int_equal(c.groups.n, 2);
	assert_string_equal(c.groups.v[1], "store");
	assert_int_equal(c.sanctioned_addr.n, 2);
	assert_string_equal(c.sanctioned_addr.v[1], "192.168.0.0/16");
	assert_string_equal(c.sanctioned_name.v[0], "lancache.lan");
	assert_string_equal(c.sanctioned_block.v[0], "blocked.example");
	assert_string_equal(c.sinkhole_addr.v[0], "0.0.0.0/8");
	assert_string_equal(c.sinkhole_name.v[0], "sinkhole.example");
	assert_string_equal(c.cdn_suffix.v[0], "akamaiedge.net");
	assert_int_equal(c.public_wait_ms, 900);
	assert_int_equal(c.repair_ttl, 60);
	assert_false(c.repair_ede);

	assert_string_equal(c.db_path, "/tmp/wg.db");
	assert_int_equal(c.client_privacy, WG_CLIENT_TRUNCATE);
	assert_int_equal(c.retention_days, 30);
	assert_int_equal(c.max_db_mb, 64);
	assert_int_equal(c.aggregate_s, 120);
	assert_int_equal(c.queue_size, 1024);
	assert_int_equal(c.hide_name.n, 1);
	assert_string_equal(c.hide_name.v[0], "*.private.example");
	assert_int_equal(c.n_hide_client, 1);
	assert_string_equal(c.control_socket, "/run/wuguard-test/control.sock");
	assert_int_equal(c.n_metrics_listen, 1);
	assert_addr(&c.metrics_listen[0], "127.0.0.1:9153");
	assert_int_equal(c.hide_client[0].prefix, 24);
	assert_string_equal(c.events, "file:/var/log/wuguard/events.json");
	assert_string_equal(c.site, "branch 12");
	assert_int_equal(c.facility, LOG_LOCAL5);

	assert_int_equal(c.n_plugins, 1);
	assert_string_equal(c.plugins[0].name, "block");
	assert_string_equal(c.plugins[0].path, "/usr/lib/wuguard/block.so");
	assert_int_equal(c.plugins[0].keys.n, 3);
	assert_string_equal(c.plugins[0].keys.v[0], "list");
	assert_string_equal(c.plugins[0].values.v[0], "/etc/a.list");
	assert_string_equal(c.plugins[0].keys.v[1], "list");
	assert_string_equal(c.plugins[0].values.v[1], "/etc/b.list");
	assert_string_equal(c.plugins[0].keys.v[2], "mode");
	assert_string_equal(c.plugins[0].values.v[2], "nxdomain");
	wg_config_free(&c);
}

static void test_lists_append(void **state)
{
	struct wg_config c;
	char err[512];
	assert_int_equal(load_text(&c,
				   "[server]\n"
				   "listen = 127.0.0.1:53\n"
				   "  listen = [::1]:5353 127.0.0.2:53 ; indented, two items, comment\n"
				   "[acl]\n"
				   "deny = 192.0.2.0/24\n"
				   "deny = 198.51.100.1\n"
				   "[server]\n"
				   "listen = 127.0.0.3:53\n",
				   NULL, err, sizeof(err)),
			 0);
	assert_int_equal(c.n_listen, 4);
	assert_addr(&c.listen[0], "127.0.0.1:53");
	assert_addr(&c.listen[1], "[::1]:5353");
	assert_addr(&c.listen[2], "127.0.0.2:53");
	assert_addr(&c.listen[3], "127.0.0.3:53");
	assert_int_equal(c.n_deny, 2);
	wg_config_free(&c);
}

static void test_empty_value_clears_list(void **state)
{
	struct wg_config c;
	char err[512];
	assert_int_equal(load_text(&c,
				   "[acl]\nallow = 10.0.0.0/8\nallow =\nallow = 192.0.2.1\n"
				   "[server]\nuser = x\nuser =\n",
				   NULL, err, sizeof(err)),
			 0);
	assert_int_equal(c.n_allow, 1);
	assert_int_equal(c.allow[0].prefix, 32);
	assert_null(c.user);
	wg_config_free(&c);
}

static void test_overrides_replace_lists(void **state)
{
	struct wg_config c;
	char err[512];
	assert_int_equal(load_text(&c,
				   "[server]\nlisten = 127.0.0.1:53\nlisten = 127.0.0.2:53\n"
				   "mode = repair\n[upstream]\nlocal = 192.0.2.1\n",
				   NULL, err, sizeof(err)),
			 0);
	const struct wg_override ov[] = {
		{"server", "listen", "127.0.0.9:5353"},
		{"server", "listen", "[::1]:5353"},
		{"server", "mode", "monitor"},
		{"database", "path", "/tmp/other.db"},
	};
	assert_int_equal(wg_config_apply_overrides(&c, ov, 4, err, sizeof(err)), 0);
	assert_int_equal(c.n_listen, 2);
	assert_addr(&c.listen[0], "127.0.0.9:5353");
	assert_addr(&c.listen[1], "[::1]:5353");
	assert_int_equal(c.mode, WG_MODE_MONITOR);
	assert_string_equal(c.db_path, "/tmp/other.db");
	assert_int_equal(c.n_local, 1); /* not overridden: kept */

	const struct wg_override bad[] = {{"upstream", "local", "not-an-address"}};
	assert_int_equal(wg_config_apply_overrides(&c, bad, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "command line: local: 'not-an-address'"));
	const struct wg_override unknown[] = {{"server", "nope", "1"}};
	assert_int_equal(wg_config_apply_overrides(&c, unknown, 1, err, sizeof(err)), -ENOENT);
	wg_config_free(&c);
}

struct bad_case {
	const char *section, *line, *reason;
};

static const struct bad_case bad_cases[] = {
	{"server", "tcp-idle-timeout = 12x", "'12x' is not a whole number"},
	{"server", "plugin-timeout = 99", "too small (at least 100)"},
	{"server", "tcp-max-clients = -5", "negative values are not allowed"},
	{"server", "max-inflight = 99999999999999999999999", "too large"},
	{"server", "max-inflight = 4294967296", "too large (at most 1048576)"},
	{"server", "tcp-max-clients = 0", "too small (at least 1)"},
	{"server", "tcp-max-clients =", "'' is not a whole number"},
	{"server", "tcp-per-client = 0", "too small (at least 1)"},
	{"server", "tcp-per-client = 65536", "too large (at most 65535)"},
	{"server", "log-level = loud", "not a log level"},
	{"server", "mode = fix", "not a mode"},
	{"server", "listen = 127.0.0.1", "is not ADDR:PORT"},
	{"server", "listen = 127.0.0.1:70000", "is not ADDR:PORT"},
	{"server", "listen = ::1:53", "is not ADDR:PORT"},
	{"upstream", "local = 300.1.1.1", "'300.1.1.1' is not ADDR[:PORT]"},
	{"upstream", "public = dns.example:53", "neither ADDR[:PORT]"},
	{"upstream", "public = sdns://", "neither ADDR[:PORT]"},
	{"upstream", "retries = 11", "too large (at most 10)"},
	{"cache", "max-bytes = 32X", "not a size"},
	{"cache", "max-bytes = 1k", "too small"},
	{"cache", "max-bytes = 99999999999G", "too large"},
	{"cache", "serve-stale = maybe", "not a boolean"},
	{"acl", "allow = 10.0.0.0/33", "'10.0.0.0/33' is not an address"},
	{"acl", "deny = 10.0.0.0/8 nope", "'nope' is not an address"},
	{"guard", "add = bad..name", "not a domain name"},
	{"guard", "groups = a/b", "not a group name"},
	{"guard", "sinkhole-address = 1.2.3", "not an address"},
	{"guard", "domains =", "must not be empty"},
	{"database", "client-address = hashed", "not one of full, truncate, omit"},
	{"database", "queue-size = 1", "too small (at least 16)"},
	{"log", "events = journal", "not none, syslog, syslog:/SOCKET or file:/PATH"},
	{"log", "events = file:relative.json", "not none, syslog"},
	{"log", "events = syslog:", "not none, syslog"},
	{"log", "facility = local8", "not a facility (daemon, user, local0 .. local7)"},
};

static void test_bad_values_have_lines(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		struct wg_config c;
		char text[512], err[512], path[64], want[128];
		/* The bad line is line 5. */
		snprintf(text, sizeof(text), "; comment\n[%s]\n\n# another\n%s\n", b->section,
			 b->line);
		int rc = load_text(&c, text, path, err, sizeof(err));
		if (rc != -EINVAL || !strstr(err, b->reason))
			print_error("case %zu '%s': rc %d err '%s'\n", i, b->line, rc, err);
		assert_int_equal(rc, -EINVAL);
		snprintf(want, sizeof(want), "%s:5: ", path);
		assert_true(strncmp(err, want, strlen(want)) == 0);
		assert_non_null(strstr(err, b->reason));
		wg_config_free(&c);
	}
}

static void expect_error(const char *text, int want_rc, unsigned line, const char *reason)
{
	struct wg_config c;
	char err[512], path[64], want[128];
	int rc = load_text(&c, text, path, err, sizeof(err));
	if (rc != want_rc || !strstr(err, reason))
		print_error("rc %d err '%s'\n", rc, err);
	assert_int_equal(rc, want_rc);
	snprintf(want, sizeof(want), "%s:%u: ", path, line);
	assert_true(strncmp(err, want, strlen(want)) == 0);
	assert_non_null(strstr(err, reason));
	wg_config_free(&c);
}

static void test_unknown_and_syntax(void **state)
{
	expect_error("[server]\nmode = repair\nfrobnicate = 1\n", -ENOENT, 3,
		     "unknown key 'frobnicate' in [server]");
	expect_error("[server]\n\n[bogus]\nx = 1\n", -ENOENT, 3, "unknown section [bogus]");
	/* An empty unknown section is still reported. */
	expect_error("[cache]\n[nothing]\n", -ENOENT, 2, "unknown section [nothing]");
	expect_error("mode = repair\n", -ENOENT, 1, "outside any section");
	expect_error("[server]\njust words\n", -EINVAL, 2, "expected 'key = value'");
	expect_error("[server\nmode = repair\n", -EINVAL, 1, "without ']'");
	expect_error("[server] junk\n", -EINVAL, 1, "after ']'");
	expect_error("[server]\n= x\n", -EINVAL, 2, "missing key name");
	expect_error("[plugin:]\npath = /x.so\n", -EINVAL, 1, "bad plugin name");
	/* The first error wins; later lines are not looked at. */
	expect_error("[server]\nmode = x\nmode = y\n", -EINVAL, 2, "'x' is not a mode");
}

static void test_missing_file(void **state)
{
	struct wg_config c;
	char err[512];
	assert_int_equal(wg_config_defaults(&c), 0);
	assert_int_equal(wg_config_load(&c, "/tmp/wgconf-does-not-exist.conf", err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "/tmp/wgconf-does-not-exist.conf: No such file or directory");
	wg_config_free(&c);
}

static void test_long_line(void **state)
{
	struct wg_config c;
	char err[512], stamp[400], text[600];
	strcpy(stamp, "sdns://");
	for (int i = 0; i < 300; i++)
		stamp[7 + i] = "ABCDEFGHabcdefgh0123456789-_"[i % 28];
	stamp[307] = 0;
	snprintf(text, sizeof(text),
		 "[upstream]\npublic = %s ; a comment\npublic = 192.0.2.7\ntimeout = 9\n", stamp);
	assert_int_equal(load_text(&c, text, NULL, err, sizeof(err)), 0);
	assert_int_equal(c.public_.n, 2);
	assert_string_equal(c.public_.v[0], stamp);
	assert_string_equal(c.public_.v[1], "192.0.2.7:53");
	assert_int_equal(c.timeout_ms, 9);
	wg_config_free(&c);

	/* And an error on a long line still names it. */
	snprintf(text, sizeof(text), "[upstream]\n\npublic = %s!\n", stamp);
	expect_error(text, -EINVAL, 3, "neither ADDR[:PORT]");
}

static void test_plugins(void **state)
{
	struct wg_config c;
	char err[512], path[64], want[128];
	assert_int_equal(load_text(&c,
				   "[plugin:a]\npath = /a.so\nx = 1\n[plugin:b]\npath = /b.so\n"
				   "[plugin:a]\ny = 2 3\n",
				   NULL, err, sizeof(err)),
			 0);
	assert_int_equal(c.n_plugins, 2);
	assert_string_equal(c.plugins[0].name, "a");
	assert_int_equal(c.plugins[0].keys.n, 2);
	assert_string_equal(c.plugins[0].keys.v[1], "y");
	assert_string_equal(c.plugins[0].values.v[1], "2 3");
	assert_string_equal(c.plugins[1].path, "/b.so");
	wg_config_free(&c);

	/* A ';' starting the value is a comment with or without a blank
	 * before it, so the dump ("key = value") means what the file did
	 * (found by tests/fuzz/fuzz_config.c). */
	assert_int_equal(load_text(&c, "[plugin:a]\npath = /a.so\nx=;y\nz = ;w\nv = a;b\n", NULL,
				   err, sizeof(err)),
			 0);
	assert_int_equal(c.plugins[0].keys.n, 3);
	assert_string_equal(c.plugins[0].values.v[0], "");
	assert_string_equal(c.plugins[0].values.v[1], "");
	assert_string_equal(c.plugins[0].values.v[2], "a;b");
	wg_config_free(&c);

	/* No path: finalize names the section's line. */
	assert_int_equal(load_text(&c,
				   "[upstream]\nlocal = 192.0.2.1\n[plugin:nopath]\nx = 1\n",
				   path, err, sizeof(err)),
			 0);
	assert_int_equal(wg_config_finalize(&c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: [plugin:nopath] has no path", path);
	assert_string_equal(err, want);
	wg_config_free(&c);
}

/* Finalize with resolv.conf text; returns its result, err filled. */
static int finalize_with(struct wg_config *c, const char *resolv, char *err, size_t cap)
{
	char p[64];
	wg_test_write_tmp(p, sizeof(p), resolv);
	free(c->resolv_conf);
	c->resolv_conf = strdup(p);
	assert_non_null(c->resolv_conf);
	err[0] = 0;
	int rc = wg_config_finalize(c, err, cap);
	unlink(p);
	return rc;
}

static void test_finalize_resolv(void **state)
{
	struct wg_config c;
	char err[512];
	assert_int_equal(load_text(&c, "[server]\nlisten = 127.0.0.1:53\n", NULL, err, sizeof(err)),
			 0);
	assert_int_equal(finalize_with(&c,
				       "# generated\nsearch example.org\n"
				       "nameserver 127.0.0.1\n"
				       "nameserver 192.0.2.53\n"
				       "nameserver fe80::1%eth0\n"
				       "nameserver 192.0.2.53\n"
				       "options edns0\n",
				       err, sizeof(err)),
			 0);
	/* 127.0.0.1 is ourselves (loop guard); the duplicate is dropped. */
	assert_int_equal(c.n_local, 2);
	assert_addr(&c.local[0], "192.0.2.53:53");
	assert_addr(&c.local[1], "[fe80::1]:53");
	wg_config_free(&c);
}

static void test_finalize_other_port_kept(void **state)
{
	struct wg_config c;
	char err[512];
	assert_int_equal(load_text(&c, "[server]\nlisten = 127.0.0.1:5353\n", NULL, err,
				   sizeof(err)),
			 0);
	assert_int_equal(finalize_with(&c, "nameserver 127.0.0.1\n", err, sizeof(err)), 0);
	assert_int_equal(c.n_local, 1);
	assert_addr(&c.local[0], "127.0.0.1:53");
	wg_config_free(&c);
}

static void test_finalize_none_remain(void **state)
{
	struct wg_config c;
	char err[512];
	/* Wildcard listen on 53 is also 127.0.0.1:53 (and any loopback). */
	assert_int_equal(load_text(&c, "[server]\nlisten = 0.0.0.0:53\n", NULL, err, sizeof(err)),
			 0);
	assert_int_equal(finalize_with(&c, "nameserver 127.0.0.1\nnameserver 127.0.0.53\n", err,
				       sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "no local upstream: set [upstream] local or --local"));
	assert_non_null(strstr(err, "own listen address"));
	wg_config_free(&c);

	assert_int_equal(load_text(&c, "[server]\nlisten = [::1]:53\n", NULL, err, sizeof(err)),
			 0);
	assert_int_equal(finalize_with(&c, "nameserver ::1\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no local upstream"));
	wg_config_free(&c);

	assert_int_equal(load_text(&c, "[server]\nlisten = 127.0.0.1:53\n", NULL, err, sizeof(err)),
			 0);
	assert_int_equal(finalize_with(&c, "# empty\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no local upstream: set [upstream] local or --local"));
	wg_config_free(&c);

	/* An unreadable resolv.conf is the same error, with the reason. */
	assert_int_equal(wg_config_defaults(&c), 0);
	free(c.resolv_conf);
	c.resolv_conf = strdup("/tmp/wgconf-no-resolv.conf");
	assert_int_equal(wg_config_finalize(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no local upstream"));
	assert_non_null(strstr(err, "No such file"));
	wg_config_free(&c);
}

/* Which [::] takes IPv4 (wg_addr_listen_dual), and the loop guard on it. */
static void test_listen_dual_stack(void **state)
{
	struct wg_addr a[3];
	assert_int_equal(wg_addr_parse("[::]:53", 0, &a[0]), 0);
	assert_int_equal(wg_addr_parse("0.0.0.0:53", 0, &a[1]), 0);
	assert_int_equal(wg_addr_parse("127.0.0.1:5353", 0, &a[2]), 0);
	assert_true(wg_addr_listen_dual(a, 1, 0));      /* [::] alone */
	assert_false(wg_addr_listen_dual(a, 2, 0));     /* 0.0.0.0 on its port */
	assert_true(wg_addr_listen_dual((struct wg_addr[]){a[0], a[2]}, 2, 0)); /* other port */
	assert_false(wg_addr_listen_dual(a, 2, 1));     /* IPv4 never */
	assert_int_equal(wg_addr_parse("127.0.0.1:53", 0, &a[1]), 0);
	assert_false(wg_addr_listen_dual(a, 2, 0));     /* any IPv4 address on 53 */
	assert_int_equal(wg_addr_parse("[::1]:53", 0, &a[2]), 0);
	assert_false(wg_addr_listen_dual(a, 3, 2));     /* not the wildcard */
	assert_true(wg_addr_is_wildcard(&a[0]));
	assert_false(wg_addr_is_wildcard(&a[1]));

	/* ::ffff:192.0.2.7 <-> 192.0.2.7, port kept; others untouched */
	struct wg_addr m, v4;
	struct sockaddr_storage back;
	assert_int_equal(wg_addr_parse("[::ffff:192.0.2.7]:4242", 0, &m), 0);
	assert_int_equal(wg_addr_parse("192.0.2.7:4242", 0, &v4), 0);
	wg_addr_unmap(&m.ss);
	m.len = sizeof(struct sockaddr_in);
	assert_true(wg_addr_equal(&m, &v4));
	assert_int_equal(wg_addr_map6(&m.ss, &back), sizeof(struct sockaddr_in6));
	struct wg_addr b = {.len = sizeof(struct sockaddr_in6)};
	memcpy(&b.ss, &back, sizeof(back));
	assert_int_equal(wg_addr_parse("[::ffff:192.0.2.7]:4242", 0, &m), 0);
	assert_true(wg_addr_equal(&b, &m));
	struct wg_addr six = a[2];
	wg_addr_unmap(&six.ss);
	assert_true(wg_addr_equal(&six, &a[2]));

	/* loop guard: a dual-stack [::]:53 is 127.0.0.1:53 too; beside an IPv4
	 * listener on 53 it is IPv6 only, and 127.0.0.1 is another server */
	struct wg_config c;
	char err[512];
	assert_int_equal(load_text(&c, "[server]\nlisten = [::]:53\n", NULL, err, sizeof(err)), 0);
	assert_int_equal(finalize_with(&c, "nameserver 127.0.0.1\nnameserver 192.0.2.53\n", err,
				       sizeof(err)),
			 0);
	assert_int_equal(c.n_local, 1);
	assert_addr(&c.local[0], "192.0.2.53:53");
	wg_config_free(&c);
	assert_int_equal(load_text(&c, "[server]\nlisten = [::]:53 127.0.0.2:53\n", NULL, err,
				   sizeof(err)),
			 0);
	assert_int_equal(finalize_with(&c, "nameserver 127.0.0.1\n", err, sizeof(err)), 0);
	assert_int_equal(c.n_local, 1);
	assert_addr(&c.local[0], "127.0.0.1:53");
	wg_config_free(&c);
}

static void test_finalize_default_listen(void **state)
{
	struct wg_config c;
	char err[512], want[32];
	unsigned port = geteuid() == 0 ? 53 : 5353;
	assert_int_equal(wg_config_defaults(&c), 0);
	assert_int_equal(finalize_with(&c, "nameserver 192.0.2.1\n", err, sizeof(err)), 0);
	assert_int_equal(c.n_listen, 2);
	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	assert_addr(&c.listen[0], want);
	snprintf(want, sizeof(want), "[::1]:%u", port);
	assert_addr(&c.listen[1], want);
	assert_int_equal(c.n_local, 1);
	wg_config_free(&c);
}

static void test_finalize_explicit_local_skips_resolv(void **state)
{
	struct wg_config c;
	char err[512];
	assert_int_equal(load_text(&c, "[upstream]\nlocal = 192.0.2.9:5300\n", NULL, err,
				   sizeof(err)),
			 0);
	free(c.resolv_conf);
	c.resolv_conf = strdup("/tmp/wgconf-no-resolv.conf"); /* would fail if read */
	assert_int_equal(wg_config_finalize(&c, err, sizeof(err)), 0);
	assert_int_equal(c.n_local, 1);
	assert_addr(&c.local[0], "192.0.2.9:5300");
	wg_config_free(&c);
}

static void test_finalize_cross_checks(void **state)
{
	struct wg_config c;
	char err[512], path[64], want[160];
	assert_int_equal(load_text(&c,
				   "[upstream]\nlocal = 192.0.2.1\n[cache]\nmax-ttl = 300\n"
				   "min-ttl = 600\n",
				   path, err, sizeof(err)),
			 0);
	assert_int_equal(wg_config_finalize(&c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:5: min-ttl (600) is greater than max-ttl (300)", path);
	assert_string_equal(err, want);
	wg_config_free(&c);

	assert_int_equal(load_text(&c,
				   "[upstream]\nlocal = 192.0.2.1\n[server]\n"
				   "listen = 127.0.0.1:5300 127.0.0.1:5300\n",
				   path, err, sizeof(err)),
			 0);
	assert_int_equal(wg_config_finalize(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":4: listen address 127.0.0.1:5300 given twice"));
	wg_config_free(&c);

	assert_int_equal(load_text(&c,
				   "[upstream]\nlocal = 192.0.2.1\n[cache]\nstale-ttl = 600\n"
				   "stale-max-age = 60\n",
				   path, err, sizeof(err)),
			 0);
	assert_int_equal(wg_config_finalize(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":5: stale-ttl (600) is greater than stale-max-age (60)"));
	wg_config_free(&c);
}

/* Every key the dump knows appears in every_key, so a key added to
 * config.c without a test here fails. */
static void test_every_key_is_covered(void **state)
{
	struct wg_config c;
	char *text = NULL, *save = NULL, section[64] = "";
	size_t n = 0;
	unsigned seen = 0;
	assert_int_equal(wg_config_defaults(&c), 0);
	FILE *f = open_memstream(&text, &n);
	wg_config_dump(&c, f);
	fclose(f);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char want[128];
		if (line[0] == '#')
			continue;
		if (line[0] == '[') {
			snprintf(section, sizeof(section), "%s", line);
			continue;
		}
		line[strcspn(line, " ")] = 0;
		snprintf(want, sizeof(want), "\n%s = ", line);
		if (!strstr(every_key, want))
			print_error("%s %s not in every_key\n", section, line);
		assert_non_null(strstr(every_key, want));
		seen++;
	}
	assert_true(seen >= 40);
	free(text);
	wg_config_free(&c);
}

/* dump -> load -> dump gives the same text. */
static void test_dump_round_trip(void **state)
{
	struct wg_config c, d;
	char err[512], *one = NULL, *two = NULL;
	size_t n1 = 0, n2 = 0;
	assert_int_equal(load_text(&c, every_key, NULL, err, sizeof(err)), 0);
	free(c.source);
	c.source = NULL;
	FILE *f = open_memstream(&one, &n1);
	wg_config_dump(&c, f);
	fclose(f);
	assert_non_null(strstr(one, "max-bytes = 8M\n"));
	assert_non_null(strstr(one, "listen = 127.0.0.1:5300\n"));
	assert_non_null(strstr(one, "[plugin:block]\npath = /usr/lib/wuguard/block.so\n"));

	assert_int_equal(load_text(&d, one, NULL, err, sizeof(err)), 0);
	free(d.source);
	d.source = NULL;
	f = open_memstream(&two, &n2);
	wg_config_dump(&d, f);
	fclose(f);
	assert_string_equal(one, two);
	free(one);
	free(two);
	wg_config_free(&c);
	wg_config_free(&d);
}

/* Load text, dump it, load the dump, dump again: both loads succeed and
 * the dumps are equal. */
static void assert_round_trip(const char *text)
{
	struct wg_config c, d;
	char err[512], *one = NULL, *two = NULL;
	size_t n1 = 0, n2 = 0;
	assert_int_equal(load_text(&c, text, NULL, err, sizeof(err)), 0);
	free(c.source);
	c.source = NULL;
	FILE *f = open_memstream(&one, &n1);
	wg_config_dump(&c, f);
	fclose(f);
	if (load_text(&d, one, NULL, err, sizeof(err)) != 0)
		fail_msg("the dump does not load: %s", err);
	free(d.source);
	d.source = NULL;
	f = open_memstream(&two, &n2);
	wg_config_dump(&d, f);
	fclose(f);
	assert_string_equal(one, two);
	free(one);
	free(two);
	wg_config_free(&c);
	wg_config_free(&d);
}

/* A [plugin:...] key of 194-196 bytes written "key=value" fits inih's
 * 200-byte line, but the dump writes "key = value", 2 bytes longer: that
 * line went the long-value way, whose key limit was shorter, and the dump
 * was refused ("line too long"; found by tests/fuzz/fuzz_config.c). Now
 * whether a line fits depends on its key alone, not on its blanks. */
static void test_dump_long_plugin_key(void **state)
{
	char key[260], text[700], err[512];
	for (size_t len = 180; len <= 200; len++) {
		memset(key, 'k', len);
		key[len] = 0;
		struct wg_config c;
		/* with a value */
		snprintf(text, sizeof(text), "[plugin:p]\npath = /p.so\n%s=v\n", key);
		int rc = load_text(&c, text, NULL, err, sizeof(err));
		wg_config_free(&c);
		if (rc == 0)
			assert_round_trip(text);
		else
			assert_true(len > 194); /* 194 and 195 are the reported cases */
		/* with an empty value */
		snprintf(text, sizeof(text), "[plugin:p]\npath = /p.so\n%s=\n", key);
		rc = load_text(&c, text, NULL, err, sizeof(err));
		wg_config_free(&c);
		if (rc == 0)
			assert_round_trip(text);
		else
			assert_true(len > 195);
		/* spaced the dump's way, with a long value too */
		snprintf(text, sizeof(text), "[plugin:p]\npath = /p.so\n%s = %0300d\n", key, 7);
		rc = load_text(&c, text, NULL, err, sizeof(err));
		wg_config_free(&c);
		if (rc == 0)
			assert_round_trip(text);
	}
	/* the exact case from the report: a 194-byte key loads and round-trips */
	memset(key, 'a', 194);
	key[194] = 0;
	snprintf(text, sizeof(text), "[plugin:p]\npath = /p.so\n%s=x\n", key);
	assert_round_trip(text);
	memset(key, 'b', 195);
	key[195] = 0;
	snprintf(text, sizeof(text), "[plugin:p]\npath = /p.so\n%s=x\n", key);
	assert_round_trip(text);
}

/* The config sets the upstreams, the pidfile written as root and the plugin
 * paths: a file (or a directory above it) that another user could have
 * written is refused, with the fix in the message. Files written by
 * write_tmp are 0600 in /tmp, which is sticky and root-owned: accepted. */
static void test_unsafe_file(void **state)
{
	struct wg_config c;
	char p[64], err[1024], want[400];
	wg_test_write_tmp(p, sizeof(p), "[server]\nmode = monitor\n");
	assert_int_equal(wg_config_defaults(&c), 0);
	assert_int_equal(wg_config_load(&c, p, err, sizeof(err)), 0);
	wg_config_free(&c);

	assert_int_equal(chmod(p, 0666), 0);
	assert_int_equal(wg_config_defaults(&c), 0);
	assert_int_equal(wg_config_load(&c, p, err, sizeof(err)), -EPERM);
	wg_config_free(&c);
	snprintf(want, sizeof(want), "%s: writable by group or others (mode 0666)", p);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "chmod go-w %s)", p);
	assert_non_null(strstr(err, want));
	assert_int_equal(chmod(p, 0620), 0);
	assert_int_equal(wg_config_defaults(&c), 0);
	assert_int_equal(wg_config_load(&c, p, err, sizeof(err)), -EPERM);
	wg_config_free(&c);
	assert_int_equal(chmod(p, 0644), 0);

	if (geteuid() == 0) {
		assert_int_equal(chown(p, 65534, 65534), 0);
		assert_int_equal(wg_config_defaults(&c), 0);
		assert_int_equal(wg_config_load(&c, p, err, sizeof(err)), -EPERM);
		wg_config_free(&c);
		snprintf(want, sizeof(want), "%s: owned by uid 65534, not by root", p);
		assert_non_null(strstr(err, want));
		snprintf(want, sizeof(want), "chown root %s)", p);
		assert_non_null(strstr(err, want));
		assert_int_equal(chown(p, 0, 0), 0);
	}
	unlink(p);

	/* a directory above it that anyone can write */
	char dir[64], f[128];
	snprintf(dir, sizeof(dir), "/tmp/wgconf-dir-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(f, sizeof(f), "%s/wuguard.conf", dir);
	FILE *fp = fopen(f, "w");
	assert_non_null(fp);
	fputs("[server]\nmode = monitor\n", fp);
	fclose(fp);
	assert_int_equal(chmod(f, 0644), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(wg_config_defaults(&c), 0);
	assert_int_equal(wg_config_load(&c, f, err, sizeof(err)), -EPERM);
	wg_config_free(&c);
	snprintf(want, sizeof(want), "%s: directory %s is writable by group or others", f, dir);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "chmod go-w %s)", dir);
	assert_non_null(strstr(err, want));
	/* sticky, like /tmp: accepted */
	assert_int_equal(chmod(dir, 01777), 0);
	assert_int_equal(wg_config_defaults(&c), 0);
	assert_int_equal(wg_config_load(&c, f, err, sizeof(err)), geteuid() == 0 ? 0 : -EPERM);
	assert_int_equal(c.mode, geteuid() == 0 ? WG_MODE_MONITOR : WG_MODE_REPAIR);
	wg_config_free(&c);
	unlink(f);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_lists_append),
		cmocka_unit_test(test_empty_value_clears_list),
		cmocka_unit_test(test_overrides_replace_lists),
		cmocka_unit_test(test_bad_values_have_lines),
		cmocka_unit_test(test_unknown_and_syntax),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_plugins),
		cmocka_unit_test(test_finalize_resolv),
		cmocka_unit_test(test_finalize_other_port_kept),
		cmocka_unit_test(test_finalize_none_remain),
		cmocka_unit_test(test_finalize_default_listen),
		cmocka_unit_test(test_finalize_explicit_local_skips_resolv),
		cmocka_unit_test(test_listen_dual_stack),
		cmocka_unit_test(test_finalize_cross_checks),
		cmocka_unit_test(test_every_key_is_covered),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_dump_long_plugin_key),
		cmocka_unit_test(test_unsafe_file),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
