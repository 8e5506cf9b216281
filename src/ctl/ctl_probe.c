/* ctl_probe.c: see ctl_probe.h.
 *
 * A job is one name; its checks (A, then AAAA) run one after the other,
 * because the cross-check judges a local AAAA NODATA against the A it has
 * just verified in the cache (aaaa-suppressed), as in the daemon. The
 * answers the cross-check serves go into a private cache for that reason
 * only. The recorder, not the serve callback, ends a check: it is called
 * once per exchange, after the verdict, also when the local answer was
 * served early. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "cache.h"
#include "config.h"
#include "crosscheck.h"
#include "guardsets.h"
#include "ctl_out.h"
#include "ctl_probe.h"
#include "ctl_tls.h"
#include "dlog.h"
#include "domainset.h"
#include "log.h"
#include "verdict_log.h"
#include "upstream.h"
#include "wire.h"
#include "wulist.h"

#define PROBE_CONCURRENCY 16 /* names in flight: a small burst for any resolver */
#define PROBE_OVERRIDES 64
#define CLASS_IN 1
#define NAME_TEXT (4 * WG_NAME_MAX + 1)

enum check_state { CK_PENDING = 0, CK_RUNNING = 1, CK_DONE = 2 };

struct job;
struct probe;

/* One name and type. */
struct check {
	struct job *job;          /* borrowed: the job holding this check */
	uint16_t qtype;
	uint8_t state;            /* enum check_state */
	uint8_t have_verdict;
	uint8_t would_repair;     /* the guard would not serve the local answer */
	enum wg_compare_category category;
	struct wg_dlog_event ev;  /* the verdict as the daemon would record it */
	char error[160];          /* no verdict: why */
};

/* One name, its checks run in order. */
struct job {
	struct probe *p;          /* borrowed */
	char *text;               /* owned: presentation form, as the database has it */
	uint8_t wire[WG_NAME_MAX];/* lower-case wire form */
	uint16_t wire_len;
	uint8_t wu;               /* in the loaded WU set */
	char *group;              /* owned: the deciding entry's group, NULL outside the set */
	char *groups;             /* owned: every loaded group covering it, ", "-separated,
				   * "config" for [guard] add; NULL outside the set */
	struct check checks[2];
	size_t n_checks;
	size_t next;              /* the check running now, or to run next */
	uint8_t busy;             /* checks[next] is in flight */
	uint8_t step;             /* checks[next - 1] ended: go on at the next kick */
};

struct probe {
	uv_loop_t loop;
	int loop_ready;
	uv_timer_t kick;              /* starts work outside the cross-check's callbacks */
	uv_timer_t deadline;
	struct wg_config cfg;         /* owned */
	int cfg_ready;
	struct wg_upstream *local;    /* owned */
	struct wg_cache *cache;       /* owned: what an AAAA is judged against */
	struct wg_crosscheck *xc;     /* owned */
	struct job *jobs;             /* owned array */
	size_t n_jobs, cap_jobs;
	size_t started;               /* jobs[0, started) have begun */
	size_t active;                /* begun and not finished */
	size_t open_checks;           /* checks not yet done */
	uint64_t deadline_ms;
	uint8_t buf[WG_PKT_MAX];      /* a served answer on its way into the cache */
};

struct opts {
	struct wg_override ov[PROBE_OVERRIDES];
	size_t n_ov;
	int want_a, want_aaaa;
	int json;
	char **names;             /* borrowed from argv */
	size_t n_names;
	struct wg_tls_opts tls;   /* --tls and its options (ctl_tls.h) */
};

void wg_ctl_probe_usage(FILE *out)
{
	fputs("  probe [--local ADDR:PORT]... [--public ADDR:PORT|sdns://STAMP]...\n"
	      "        [--domains FILE] [--type A|AAAA|both] [--timeout MS]\n"
	      "        [--format table|json] [NAME...]\n"
	      "                                         ask the local upstream and the public\n"
	      "                                         resolver about the WU names (default:\n"
	      "                                         every exact name of the set), print the\n"
	      "                                         guard's verdicts; exit 0 clean,\n"
	      "                                         1 tampered, 2 nothing checked, 3 partial\n"
	      "  probe --tls [--via-proxy http://HOST:PORT] [--tls-roots FILE]\n"
	      "        [--tls-timeout MS] [probe's options] [NAME...]\n"
	      "                                         also connect to each WU HTTPS endpoint\n"
	      "                                         on 443 and judge its certificate chain\n"
	      "                                         against Microsoft's roots: ok,\n"
	      "                                         intercepted, invalid, blocked,\n"
	      "                                         proxy-only; exit 1 if any is not ok\n",
	      out);
}

static void perr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void perr(const char *fmt, ...)
{
	va_list ap;
	fputs("wuguardctl: probe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- options ------------------------------------------------------------ */

static int add_ov(struct opts *o, const char *section, const char *key, const char *value)
{
	if (o->n_ov >= PROBE_OVERRIDES) {
		perr("too many options");
		return -E2BIG;
	}
	o->ov[o->n_ov++] = (struct wg_override){section, key, value};
	return 0;
}

/* Returns 0, 1 for --help (printed), or -EINVAL (reported). */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { P_LOCAL = 256, P_PUBLIC, P_DOMAINS, P_TYPE, P_FORMAT, P_TIMEOUT, P_HELP,
	       P_TLS, P_VIA_PROXY, P_TLS_ROOTS, P_TLS_TIMEOUT };
	static const struct option popts[] = {
		{"local", required_argument, NULL, P_LOCAL},
		{"public", required_argument, NULL, P_PUBLIC},
		{"domains", required_argument, NULL, P_DOMAINS},
		{"type", required_argument, NULL, P_TYPE},
		{"format", required_argument, NULL, P_FORMAT},
		{"timeout", required_argument, NULL, P_TIMEOUT},
		{"help", no_argument, NULL, P_HELP},
		{"tls", no_argument, NULL, P_TLS},
		{"via-proxy", required_argument, NULL, P_VIA_PROXY},
		{"tls-roots", required_argument, NULL, P_TLS_ROOTS},
		{"tls-timeout", required_argument, NULL, P_TLS_TIMEOUT},
		{NULL, 0, NULL, 0},
	};
	int ch, rc = 0;

	memset(o, 0, sizeof(o[0]));
	o->want_a = o->want_aaaa = 1;
	optind = 0; /* glibc: start over for the command's own options */
	opterr = 0; /* our own message names the option */
	while ((ch = getopt_long(argc, argv, "", popts, NULL)) != -1) {
		switch (ch) {
		/* addresses, stamps, the file and the timeout are checked by the
		 * config parser, as for the daemon's flags */
		case P_LOCAL: rc = add_ov(o, "upstream", "local", optarg); break;
		case P_PUBLIC: rc = add_ov(o, "upstream", "public", optarg); break;
		case P_DOMAINS: rc = add_ov(o, "guard", "domains", optarg); break;
		case P_TIMEOUT:
			if ((rc = add_ov(o, "upstream", "timeout", optarg)) == 0)
				rc = add_ov(o, "upstream", "public-timeout", optarg);
			break;
		case P_TYPE:
			o->want_a = strcasecmp(optarg, "A") == 0 || strcasecmp(optarg, "both") == 0;
			o->want_aaaa = strcasecmp(optarg, "AAAA") == 0 ||
				       strcasecmp(optarg, "both") == 0;
			if (!o->want_a && !o->want_aaaa) {
				perr("--type: A, AAAA or both, not %s", optarg);
				rc = -EINVAL;
			}
			break;
		case P_FORMAT:
			if (strcmp(optarg, "table") == 0)
				o->json = 0;
			else if (strcmp(optarg, "json") == 0)
				o->json = 1;
			else {
				perr("--format: table or json, not %s", optarg);
				rc = -EINVAL;
			}
			break;
		case P_TLS: o->tls.enabled = 1; break;
		case P_VIA_PROXY: o->tls.via_proxy = optarg; break;
		case P_TLS_ROOTS: o->tls.roots_file = optarg; break;
		case P_TLS_TIMEOUT: rc = wg_ctl_tls_set_timeout(&o->tls, optarg); break;
		case P_HELP:
			fputs("usage: wuguardctl [-c CONFIG] probe [OPTIONS] [NAME...]\n", stdout);
			wg_ctl_probe_usage(stdout);
			return 1;
		default:
			perr("%s: unknown option or missing value (see wuguardctl probe --help)",
			     argv[optind - 1]);
			rc = -EINVAL;
			break;
		}
		if (rc < 0)
			return -EINVAL;
	}
	o->names = argv + optind;
	o->n_names = (size_t)(argc - optind);
	if (!o->tls.enabled && (o->tls.via_proxy || o->tls.roots_file || o->tls.timeout_ms)) {
		perr("--via-proxy, --tls-roots and --tls-timeout need --tls");
		return -EINVAL;
	}
	return 0;
}

/* The configuration the daemon would run with: defaults, the file, the
 * flags, then what finalize derives (resolv.conf upstreams without -c and
 * --local). */
static int load_config(struct probe *p, const char *path, const struct opts *o, char *err,
		       size_t cap)
{
	if (wg_config_defaults(&p->cfg) < 0) {
		snprintf(err, cap, "out of memory");
		return -ENOMEM;
	}
	p->cfg_ready = 1;
	int rc;
	if ((path && (rc = wg_config_load(&p->cfg, path, err, cap)) < 0) ||
	    (rc = wg_config_apply_overrides(&p->cfg, o->ov, o->n_ov, err, cap)) < 0 ||
	    (rc = wg_config_finalize(&p->cfg, err, cap)) < 0)
		return rc;
	return 0;
}

/* --- jobs --------------------------------------------------------------- */

/* A name a probe can ask: no "*" label, not the root. Lower-case wire form
 * into wire; returns its length or -EINVAL. */
static int name_wire(const char *text, uint8_t *wire)
{
	if (strchr(text, '*'))
		return -EINVAL;
	int n = wg_wire_name_from_str(text, wire);
	if (n <= 1)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (wire[i] >= 'A' && wire[i] <= 'Z')
			wire[i] = (uint8_t)(wire[i] + 32);
	return n;
}

/* Add a job for a lower-case wire name unless it is there already. */
static int add_job(struct probe *p, const uint8_t *wire, size_t len)
{
	char text[NAME_TEXT];
	for (size_t i = 0; i < p->n_jobs; i++)
		if (p->jobs[i].wire_len == len && memcmp(p->jobs[i].wire, wire, len) == 0)
			return 0;
	if (p->n_jobs == p->cap_jobs) {
		size_t ncap = p->cap_jobs ? 2 * p->cap_jobs : 32;
		struct job *nj = realloc(p->jobs, ncap * sizeof(*nj));
		if (!nj)
			return -ENOMEM;
		p->jobs = nj;
		p->cap_jobs = ncap;
	}
	struct job *j = &p->jobs[p->n_jobs];
	memset(j, 0, sizeof(*j));
	memcpy(j->wire, wire, len);
	j->wire_len = (uint16_t)len;
	wg_wire_name_to_str(wire, text, sizeof(text));
	if (!(j->text = strdup(text)))
		return -ENOMEM;
	p->n_jobs++;
	return 0;
}

static int add_exact_entry(void *arg, const uint8_t *name, int wild, const char *group)
{
	size_t len = 0;
	if (wild)
		return 0; /* "*.x" stands for names nobody can list */
	while (name[len])
		len += (size_t)name[len] + 1;
	return add_job(arg, name, len + 1);
}

static int cmp_job(const void *a, const void *b)
{
	return strcmp(((const struct job *)a)->text, ((const struct job *)b)->text);
}

/* Every group a name in the set belongs to: the loaded groups of the file
 * with an entry covering it (the set keeps one group a name), and "config"
 * for a [guard] add entry. */
static int name_groups(const struct wg_wulist *l, const struct wg_domainset *added,
		       const uint8_t *wire, char **out)
{
	size_t idx[64];
	size_t n = l ? wg_wulist_groups_of(l, wire, 1, idx, 64) : 0;
	size_t len = 1;
	n = n > 64 ? 64 : n;
	for (size_t k = 0; k < n; k++)
		len += strlen(l->groups[idx[k]].name) + 2;
	len += 8;
	if (!(*out = malloc(len)))
		return -ENOMEM;
	(*out)[0] = 0;
	for (size_t k = 0; k < n; k++) {
		if (k)
			strcat(*out, ", ");
		strcat(*out, l->groups[idx[k]].name[0] ? l->groups[idx[k]].name : "-");
	}
	if (added && wg_domainset_match_wire(added, wire))
		strcat(strcat(*out, n ? ", " : ""), "config");
	return 0;
}

/* After the array has its final place: set membership, checks, back
 * pointers. */
static int finish_jobs(struct probe *p, const struct opts *o)
{
	const struct wg_domainset *wu = wg_crosscheck_wu_set(p->xc);
	struct wg_wulist *l = NULL;
	struct wg_domainset *added = wg_domainset_new();
	char path[1024], err[512];
	const char *enabled[65];
	if (!added)
		return -ENOMEM;
	for (size_t i = 0; i < p->cfg.domains_add.n; i++)
		wg_domainset_add(added, p->cfg.domains_add.v[i], "config");
	/* the cross-check has read this file already: an error here is not
	 * expected, and costs only the group list */
	wg_guardsets_domains_path(&p->cfg, path, sizeof(path));
	wg_guardsets_groups(&p->cfg, enabled, sizeof(enabled) / sizeof(enabled[0]));
	if (wg_wulist_load(path, enabled, &l, err, sizeof(err)) < 0)
		perr("groups: %s", err);
	int rc = 0;
	for (size_t i = 0; i < p->n_jobs && rc == 0; i++) {
		struct job *j = &p->jobs[i];
		const char *g = wg_domainset_match_group(wu, j->wire);
		j->p = p;
		j->wu = g != NULL;
		if (g && (!(j->group = strdup(g)) || name_groups(l, added, j->wire, &j->groups) < 0))
			rc = -ENOMEM;
		if (o->want_a)
			j->checks[j->n_checks++].qtype = WG_TYPE_A;
		if (o->want_aaaa)
			j->checks[j->n_checks++].qtype = WG_TYPE_AAAA;
		for (size_t k = 0; k < j->n_checks; k++)
			j->checks[k].job = j;
		p->open_checks += j->n_checks;
	}
	wg_wulist_free(l);
	wg_domainset_free(added);
	return rc;
}

/* --- the run ------------------------------------------------------------ */

static void on_kick(uv_timer_t *t);

static void check_done(struct probe *p, struct check *c)
{
	c->state = CK_DONE;
	c->job->next++;
	p->open_checks--;
}

/* The question as a client would send it, parsed back so every field of
 * qi is what the resolver hands the cross-check. */
static int make_qi(const struct job *j, uint16_t qtype, struct wg_query_info *qi)
{
	struct wg_query_info t;
	uint8_t q[WG_HDR_LEN + WG_NAME_MAX + 4 + WG_OPT_LEN];
	memset(&t, 0, sizeof(t));
	memcpy(t.qname, j->wire, j->wire_len);
	t.qname_len = j->wire_len;
	t.qtype = qtype;
	t.qclass = CLASS_IN;
	t.flags = WG_F_RD;
	int n = wg_wire_build_query(q, sizeof(q), &t, 0);
	if (n < 0)
		return n;
	return wg_wire_parse_query(q, (size_t)n, qi);
}

/* The cross-check serves an answer: cache it as the resolver does, so the
 * verified mark a matching A gets lands on an entry. */
static void on_serve(void *arg, const struct wg_xcheck_answer *a)
{
	struct check *c = arg;
	struct job *j = c->job;
	struct probe *p = j->p;
	struct wg_query_info qi;
	struct wg_cache_key k;
	if (a->status != 0 || !a->pkt || make_qi(j, c->qtype, &qi) < 0)
		return;
	wg_cache_key_of(&qi, 0, &k);
	struct wg_cache_fix fix = {a->pkt, a->len, a->ttl_cap, -1, a->verified};
	wg_cache_apply_fix(p->cache, &k, &fix, p->buf, sizeof(p->buf), uv_now(&p->loop));
}

/* Start the job's next check; finish the job when none is left. */
static void job_step(struct probe *p, struct job *j)
{
	while (j->next < j->n_checks) {
		struct check *c = &j->checks[j->next];
		struct wg_query_info qi;
		struct sockaddr_storage nobody; /* no client: the row's client is "" */
		int rc;
		memset(&nobody, 0, sizeof(nobody));
		/* running before the call, so a verdict is found whenever it comes */
		c->state = CK_RUNNING;
		j->busy = 1;
		rc = make_qi(j, c->qtype, &qi);
		if (rc == 0)
			rc = wg_crosscheck_query(p->xc, &qi, 0, &nobody, on_serve, c);
		if (rc == 0)
			return;
		j->busy = 0;
		snprintf(c->error, sizeof(c->error), "the exchange did not start: %s",
			 strerror(-rc));
		check_done(p, c);
	}
	p->active--;
}

static void pump(struct probe *p)
{
	for (size_t i = 0; i < p->started; i++) {
		struct job *j = &p->jobs[i];
		if (j->step) {
			j->step = 0;
			job_step(p, j);
		}
	}
	while (p->active < PROBE_CONCURRENCY && p->started < p->n_jobs) {
		p->active++;
		job_step(p, &p->jobs[p->started++]);
	}
	if (p->open_checks == 0)
		uv_stop(&p->loop);
}

static void on_kick(uv_timer_t *t)
{
	pump(t->data);
}

static void on_deadline(uv_timer_t *t)
{
	struct probe *p = t->data;
	uv_stop(&p->loop); /* what is still open is reported as no-verdict */
}

/* The cross-check's verdict for one of our exchanges. */
static void on_record(void *arg, const struct wg_xcheck_record *rec)
{
	struct probe *p = arg;
	const struct wg_query_info *qi = rec->qi;
	/* what the verdict asks of an answer served early: the cross-check
	 * reports it, the cache's owner applies it, as in the resolver */
	if (rec->fix.pkt || rec->fix.verified) {
		struct wg_cache_key k;
		wg_cache_key_of(qi, rec->cache_flags, &k);
		wg_cache_apply_fix(p->cache, &k, &rec->fix, p->buf, sizeof(p->buf), uv_now(&p->loop));
	}
	for (size_t i = 0; i < p->started; i++) {
		struct job *j = &p->jobs[i];
		struct check *c = &j->checks[j->next < j->n_checks ? j->next : 0];
		if (!j->busy || c->state != CK_RUNNING || c->qtype != qi->qtype ||
		    j->wire_len != qi->qname_len || memcmp(j->wire, qi->qname_lc, j->wire_len) != 0)
			continue;
		wg_verdict_log_fill(rec, &c->ev);
		c->category = rec->verdict->category;
		c->would_repair = rec->decision->would_repair;
		c->have_verdict = 1;
		check_done(p, c);
		j->busy = 0;
		j->step = 1;
		/* the cross-check frees its request after this returns: start
		 * the next exchange from the loop, not from in here */
		uv_timer_start(&p->kick, on_kick, 0, 0);
		return;
	}
}

/* A bound on one check: both sides' tries, the wait for a DNSCrypt
 * certificate, public-wait, and a second to spare. Only a safety net: the
 * cross-check ends every exchange by its own timers. */
static uint64_t check_bound_ms(const struct wg_config *c)
{
	uint64_t n_public = c->public_.n < 2 ? 2 : c->public_.n;
	return (uint64_t)c->timeout_ms * (c->retries + 1) +
	       3 * (uint64_t)c->public_timeout_ms * n_public + c->public_wait_ms + 1000;
}

/* --- output ------------------------------------------------------------- */

/* "192.0.2.1", "192.0.2.1 +2", "NODATA", "NXDOMAIN", "timeout" ... with
 * " ede N" when the side carried an Extended DNS Error. */
static void side_summary(const struct wg_dlog_side *s, char *buf, size_t cap)
{
	if (strcmp(s->status, "NOERROR") != 0) {
		snprintf(buf, cap, "%s", s->status);
	} else if (!s->addrs[0]) {
		snprintf(buf, cap, "NODATA");
	} else {
		size_t first = strcspn(s->addrs, " "), more = 0;
		for (const char *q = s->addrs; (q = strchr(q, ' ')); q++)
			more++;
		if (more)
			snprintf(buf, cap, "%.*s +%zu", (int)first, s->addrs, more);
		else
			snprintf(buf, cap, "%s", s->addrs);
	}
	if (s->ede >= 0) {
		size_t l = strlen(buf);
		snprintf(buf + l, cap - l, " ede %d", (int)s->ede);
	}
}

static const char *verdict_name(const struct check *c)
{
	return c->have_verdict ? c->ev.category : "no-verdict";
}

static void print_table(const struct probe *p, FILE *o)
{
	char ls[WG_DLOG_ADDRS_LEN + 32], ps[WG_DLOG_ADDRS_LEN + 32], tb[16], nm[NAME_TEXT + 1];
	int wn = 4, wv = 7, wl = 5, outside = 0;
	size_t count[WG_CMP__COUNT] = {0}, none = 0, total = 0;

	for (size_t i = 0; i < p->n_jobs; i++) {
		const struct job *j = &p->jobs[i];
		int l = (int)strlen(j->text) + (j->wu ? 0 : 1);
		wn = l > wn ? l : wn;
		for (size_t k = 0; k < j->n_checks; k++) {
			const struct check *c = &j->checks[k];
			l = (int)strlen(verdict_name(c));
			wv = l > wv ? l : wv;
			if (c->have_verdict) {
				side_summary(&c->ev.local, ls, sizeof(ls));
				l = (int)strlen(ls);
				wl = l > wl ? l : wl;
			}
		}
	}
	fprintf(o, "%-*s %-4s %-*s %-*s %s\n", wn, "NAME", "TYPE", wv, "VERDICT", wl, "LOCAL",
		"PUBLIC");
	for (size_t i = 0; i < p->n_jobs; i++) {
		const struct job *j = &p->jobs[i];
		/* "*": outside the WU set, explained below the table */
		snprintf(nm, sizeof(nm), "%s%s", j->text, j->wu ? "" : "*");
		outside |= !j->wu;
		for (size_t k = 0; k < j->n_checks; k++) {
			const struct check *c = &j->checks[k];
			if (c->have_verdict) {
				side_summary(&c->ev.local, ls, sizeof(ls));
				side_summary(&c->ev.public_, ps, sizeof(ps));
				count[c->category < WG_CMP__COUNT ? c->category : 0]++;
			} else {
				snprintf(ls, sizeof(ls), "-");
				snprintf(ps, sizeof(ps), "-");
				none++;
			}
			total++;
			fprintf(o, "%-*s %-4s %-*s %-*s %s\n", wn, nm,
				wg_ctl_type_name(c->qtype, tb, sizeof(tb)), wv, verdict_name(c), wl, ls,
				ps);
		}
	}
	fprintf(o, "\n%zu check%s:", total, total == 1 ? "" : "s");
	const char *sep = " ";
	for (int cat = 0; cat < WG_CMP__COUNT; cat++)
		if (count[cat]) {
			fprintf(o, "%s%zu %s", sep, count[cat],
				wg_compare_category_name((enum wg_compare_category)cat));
			sep = ", ";
		}
	if (none)
		fprintf(o, "%s%zu no-verdict", sep, none);
	fputc('\n', o);
	if (outside)
		fputs("* not in the WU set: the daemon forwards it without a check\n", o);
	fputs("\ngroups:\n", o);
	for (size_t i = 0; i < p->n_jobs; i++)
		fprintf(o, "  %s %s\n", p->jobs[i].text,
			p->jobs[i].groups ? p->jobs[i].groups : "(not in the WU set)");
}

static void print_json(const struct job *j, const struct check *c, FILE *o)
{
	char tb[16];
	fputs("{\"name\":", o);
	wg_ctl_json_str(o, j->text);
	fprintf(o, ",\"type\":\"%s\",\"wu\":%s,\"group\":",
		wg_ctl_type_name(c->qtype, tb, sizeof(tb)), j->wu ? "true" : "false");
	if (j->group)
		wg_ctl_json_str(o, j->group);
	else
		fputs("null", o);
	fputs(",\"groups\":[", o);
	for (const char *g = j->groups; g && *g;) {
		size_t n = strcspn(g, ",");
		fprintf(o, "%s\"%.*s\"", g == j->groups ? "" : ",", (int)n, g);
		g += n;
		while (*g == ',' || *g == ' ')
			g++;
	}
	fputc(']', o);
	if (!c->have_verdict) {
		fputs(",\"category\":\"no-verdict\",\"severity\":null,\"action\":null,"
		      "\"would_repair\":false,\"local\":null,\"public\":null,\"markers\":[],"
		      "\"authenticated\":false,\"error\":", o);
		wg_ctl_json_str(o, c->error);
		fputs("}\n", o);
		return;
	}
	fputs(",\"category\":", o);
	wg_ctl_json_str(o, c->ev.category);
	fputs(",\"severity\":", o);
	wg_ctl_json_str(o, c->ev.severity);
	fputs(",\"action\":", o);
	wg_ctl_json_str(o, c->ev.action);
	fprintf(o, ",\"would_repair\":%s,\"local\":", c->would_repair ? "true" : "false");
	wg_ctl_json_side(o, &c->ev.local);
	fputs(",\"public\":", o);
	wg_ctl_json_side(o, &c->ev.public_);
	fputs(",\"markers\":", o);
	wg_ctl_json_words(o, c->ev.markers);
	fprintf(o, ",\"authenticated\":%s,\"error\":null}\n",
		c->ev.authenticated ? "true" : "false");
}

/* The exit status (ctl_probe.h): no comparison without a public answer,
 * so public-unavailable and both-fail count as unchecked. */
static int exit_status(const struct probe *p)
{
	size_t total = 0, unchecked = 0, tampered = 0;
	for (size_t i = 0; i < p->n_jobs; i++)
		for (size_t k = 0; k < p->jobs[i].n_checks; k++) {
			const struct check *c = &p->jobs[i].checks[k];
			total++;
			if (!c->have_verdict || c->category == WG_CMP_PUBLIC_UNAVAILABLE ||
			    c->category == WG_CMP_BOTH_FAIL)
				unchecked++;
			else if (c->would_repair)
				tampered++;
		}
	if (tampered)
		return WG_PROBE_EX_TAMPERED;
	if (unchecked == total)
		return WG_PROBE_EX_USAGE;
	return unchecked ? WG_PROBE_EX_PARTIAL : WG_PROBE_EX_CLEAN;
}

/* --- set-up and teardown ------------------------------------------------ */

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void probe_free(struct probe *p)
{
	/* cancels what is still in flight (deadline): no more callbacks */
	wg_crosscheck_free(p->xc, 1);
	wg_upstream_free(p->local);
	if (p->loop_ready) {
		uv_walk(&p->loop, close_walk, NULL);
		uv_run(&p->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&p->loop) != 0)
			perr("event loop not closed cleanly");
	}
	wg_cache_free(p->cache);
	for (size_t i = 0; i < p->n_jobs; i++) {
		free(p->jobs[i].text);
		free(p->jobs[i].group);
		free(p->jobs[i].groups);
	}
	free(p->jobs);
	if (p->cfg_ready)
		wg_config_free(&p->cfg);
	free(p);
}

static int public_is_none(const struct wg_config *c)
{
	return c->public_.n == 1 && strcmp(c->public_.v[0], "none") == 0;
}

/* Everything up to the first exchange. Returns 0 or -1 (reported). */
static int setup(struct probe *p, const struct opts *o, const char *config_path)
{
	char err[512];
	struct wg_public_list pl;
	uint8_t wire[WG_NAME_MAX];
	int rc;

	if (load_config(p, config_path, o, err, sizeof(err)) < 0) {
		perr("%s", err);
		return -1;
	}
	if (public_is_none(&p->cfg)) {
		perr("no public resolver to compare with (public = none): give --public");
		return -1;
	}
	if (wg_guardsets_public(&p->cfg, &pl, NULL, err, sizeof(err)) < 0) {
		perr("%s", err);
		return -1;
	}
	if (o->tls.enabled && wg_ctl_tls_check(&o->tls) < 0)
		return -1;
	/* --tls without names: the HTTPS endpoints, not the whole set */
	for (size_t i = 0; o->tls.enabled && o->n_names == 0 && wg_tls_default_names[i]; i++) {
		rc = name_wire(wg_tls_default_names[i], wire);
		if (rc < 0 || add_job(p, wire, (size_t)rc) < 0) {
			perr("out of memory");
			return -1;
		}
	}
	for (size_t i = 0; i < o->n_names; i++) {
		rc = name_wire(o->names[i], wire);
		if (rc < 0) {
			perr("'%s' is not a name that can be asked", o->names[i]);
			return -1;
		}
		if (add_job(p, wire, (size_t)rc) < 0) {
			perr("out of memory");
			return -1;
		}
	}
	/* the verdicts are the output: the daemon's info lines would be noise */
	wg_log_set_level(p->cfg.log_level < WG_LOG_WARN ? (enum wg_log_level)p->cfg.log_level
						       : WG_LOG_WARN);
	if (uv_loop_init(&p->loop) != 0) {
		perr("cannot create the event loop");
		return -1;
	}
	p->loop_ready = 1;
	uv_timer_init(&p->loop, &p->kick);
	uv_timer_init(&p->loop, &p->deadline);
	p->kick.data = p->deadline.data = p;

	/* the A answers an AAAA is judged against; a few per name in flight */
	struct wg_cache_params cp = {
		.max_entries = 4 * PROBE_CONCURRENCY + 64,
		.max_bytes = 4u << 20,
		.min_ttl = p->cfg.min_ttl,
		.max_ttl = p->cfg.max_ttl,
		.neg_max_ttl = p->cfg.neg_max_ttl,
		.neg_default_ttl = 60,
	};
	p->local = wg_upstream_new(&p->loop, p->cfg.local, p->cfg.n_local, p->cfg.timeout_ms,
				   p->cfg.retries);
	p->cache = wg_cache_new(&cp);
	if (!p->local || !p->cache) {
		perr("out of memory");
		return -1;
	}
	if (wg_crosscheck_new(&p->loop, &p->cfg, p->local, p->cache, &p->xc, err, sizeof(err)) <
	    0) {
		perr("%s", err);
		return -1;
	}
	wg_crosscheck_set_recorder(p->xc, on_record, p);
	if (o->n_names == 0 && !o->tls.enabled) {
		if (wg_domainset_foreach(wg_crosscheck_wu_set(p->xc), add_exact_entry, p) < 0) {
			perr("out of memory");
			return -1;
		}
		if (p->n_jobs == 0) {
			perr("the WU set has no exact names to ask (only *.name entries): give "
			     "NAMEs");
			return -1;
		}
		qsort(p->jobs, p->n_jobs, sizeof(*p->jobs), cmp_job);
	}
	if (finish_jobs(p, o) < 0) {
		perr("out of memory");
		return -1;
	}
	size_t waves = (p->n_jobs + PROBE_CONCURRENCY - 1) / PROBE_CONCURRENCY;
	p->deadline_ms = check_bound_ms(&p->cfg) * waves * (size_t)(o->want_a + o->want_aaaa);
	/* Shorter only: lets a test stop a run with exchanges in flight. */
	const char *env = getenv("WUGUARDCTL_PROBE_DEADLINE_MS");
	if (env && *env) {
		char *end;
		errno = 0;
		unsigned long long ms = strtoull(env, &end, 10);
		if (errno || *end || ms < 1 || ms > 3600000 || env[0] == '-') {
			perr("WUGUARDCTL_PROBE_DEADLINE_MS: not a number of milliseconds from 1 "
			     "to 3600000: %s", env);
			return -1;
		}
		if (ms < p->deadline_ms)
			p->deadline_ms = ms;
	}
	return 0;
}

/* --tls: hand each name's DNS findings to ctl_tls.c, which connects,
 * judges and prints. Returns the exit status. */
static int tls_phase(struct probe *p, const struct opts *o)
{
	struct wg_tls_name *tn = calloc(p->n_jobs ? p->n_jobs : 1, sizeof(*tn));
	if (!tn) {
		perr("out of memory");
		return WG_PROBE_EX_USAGE;
	}
	for (size_t i = 0; i < p->n_jobs; i++) {
		const struct job *j = &p->jobs[i];
		tn[i].name = j->text;
		tn[i].wu = j->wu;
		for (size_t k = 0; k < j->n_checks; k++) {
			const struct check *c = &j->checks[k];
			struct wg_tls_dns *d = &tn[i].dns[tn[i].n_dns++];
			d->qtype = c->qtype;
			d->verdict = verdict_name(c);
			d->would_repair = c->would_repair;
			d->local_status = c->have_verdict ? c->ev.local.status : "";
			d->local_addrs = c->have_verdict ? c->ev.local.addrs : "";
			d->public_addrs = c->have_verdict ? c->ev.public_.addrs : "";
		}
	}
	uv_timer_stop(&p->deadline); /* the DNS phase's; the TLS phase has its own */
	int rc = wg_ctl_tls_run(&p->loop, &o->tls, tn, p->n_jobs, o->json, exit_status(p),
				stdout);
	free(tn);
	return rc;
}

int wg_ctl_probe(int argc, char **argv, const char *config_path)
{
	struct opts o;
	int rc = parse_opts(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? WG_PROBE_EX_CLEAN : WG_PROBE_EX_USAGE;
	struct probe *p = calloc(1, sizeof(*p));
	if (!p) {
		perr("out of memory");
		return WG_PROBE_EX_USAGE;
	}
	if (setup(p, &o, config_path) < 0) {
		probe_free(p);
		return WG_PROBE_EX_USAGE;
	}
	uv_timer_start(&p->deadline, on_deadline, p->deadline_ms, 0);
	uv_timer_start(&p->kick, on_kick, 0, 0);
	uv_run(&p->loop, UV_RUN_DEFAULT);

	for (size_t i = 0; i < p->n_jobs; i++)
		for (size_t k = 0; k < p->jobs[i].n_checks; k++) {
			struct check *c = &p->jobs[i].checks[k];
			if (c->state != CK_DONE)
				snprintf(c->error, sizeof(c->error),
					 "no verdict within the probe's deadline (%llu ms)",
					 (unsigned long long)p->deadline_ms);
			if (!c->have_verdict) {
				char tb[16];
				perr("%s %s: %s", p->jobs[i].text,
				     wg_ctl_type_name(c->qtype, tb, sizeof(tb)), c->error);
			}
		}
	if (o.tls.enabled) {
		rc = tls_phase(p, &o);
		probe_free(p);
		return rc;
	}
	if (o.json) {
		for (size_t i = 0; i < p->n_jobs; i++)
			for (size_t k = 0; k < p->jobs[i].n_checks; k++)
				print_json(&p->jobs[i], &p->jobs[i].checks[k], stdout);
	} else {
		print_table(p, stdout);
	}
	fflush(stdout);
	rc = exit_status(p);
	probe_free(p);
	return rc;
}
