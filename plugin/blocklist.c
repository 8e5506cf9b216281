/* blocklist.c: a Pi-hole/AdGuard-style blocklist plugin for wuguard.
 *
 * [plugin:ads]
 * path = /usr/lib/wuguard/blocklist.so
 * list = /etc/wuguard/lists/hosts.txt     (repeatable)
 * mode = null | nxdomain | nodata | refused   (default null)
 *
 * List formats, mixed freely, one entry a line, read the way Pi-hole's
 * gravity reads them (FTL src/tools/gravity-parseList.c):
 *   hosts      "0.0.0.0 a.example b.example"  (any address; several names)
 *              blocks each name listed, that name only
 *   plain      "a.example"                     that name only
 *   adblock    "||a.example^"                  a.example and every name under it
 *              "||a.example^$important"        the same (AdGuard's modifier)
 *              "@@||a.example^"                exception: a.example and below
 *   wildcard   "*.a.example"                   only the names under a.example
 *   dnsmasq    ".a.example"                    a.example and every name under it
 * Comments: "#" (also after an entry), "!" and "[...]" header lines. Lines
 * in no such form (regex, "||x" without "^", other "$" modifiers, "@@"
 * without "||...^") are skipped and counted. An exception wins over any
 * block entry on the same name or a parent, as Pi-hole's antigravity does.
 *
 * Data structure: names are stored once, in lower-case wire form, in one
 * growing arena ([flags][length][wire name]); an open-addressing hash table
 * (linear probing, at most half full) holds 32-bit arena offsets. A lookup
 * hashes each suffix of the query name at label boundaries, so its cost
 * depends on the name (at most 127 labels), never on the list's size, and
 * memory is about 30 bytes per entry plus 4-8 bytes of table.
 *
 * Post-response: the CNAME targets of the answer are checked too (a blocked
 * tracker hiding behind a CNAME). The host overrides verdicts on WU names,
 * so this plugin does not need to know them. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wuguard-plugin.h"

#define F_EXACT 0x01 /* that name only: hosts and plain-domain lines */
#define F_TREE 0x02  /* the name and everything under it: "||name^" */
#define F_SUB 0x04   /* only names under it: "*.name" */
#define F_ALLOW 0x08 /* exception, the name and everything under it: "@@||name^" */

#define NAME_WIRE_MAX 255

struct blocklist {
	char tag[80];          /* "plugin:NAME" for log lines */
	int verdict;           /* WG_PV_BLOCK_* for the configured mode */
	uint8_t *arena;        /* owned: [flags][len][wire name]..., offset 0 unused */
	size_t alen, acap;
	uint32_t *tab;         /* owned: arena offsets, 0 = empty slot */
	size_t tcap;           /* power of two */
	size_t n_names;        /* distinct names in the table */
	uint64_t n_block, n_allow, n_skipped; /* list lines */
	uint64_t checked, blocked, excepted, cname_blocked; /* queries */
};

static const struct wg_host_api *host; /* borrowed: valid while loaded */

static uint32_t hash_name(const uint8_t *w, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= w[i];
		h *= 16777619u;
	}
	return h;
}

/* Find the slot of wire name w (len bytes): its arena offset, or the empty
 * slot where it belongs (*slot set either way). */
static uint32_t find(const struct blocklist *bl, const uint8_t *w, size_t len, size_t *slot)
{
	size_t mask = bl->tcap - 1;
	size_t i = hash_name(w, len) & mask;
	for (;;) {
		uint32_t off = bl->tab[i];
		if (off == 0 ||
		    (bl->arena[off + 1] == len && memcmp(bl->arena + off + 2, w, len) == 0)) {
			*slot = i;
			return off;
		}
		i = (i + 1) & mask;
	}
}

static int grow_table(struct blocklist *bl)
{
	size_t ncap = bl->tcap ? bl->tcap * 2 : 1024;
	uint32_t *nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	uint32_t *old = bl->tab;
	size_t ocap = bl->tcap;
	bl->tab = nt;
	bl->tcap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		uint32_t off = old[i];
		if (!off)
			continue;
		size_t slot;
		find(bl, bl->arena + off + 2, bl->arena[off + 1], &slot);
		bl->tab[slot] = off;
	}
	free(old);
	return 0;
}

static int insert(struct blocklist *bl, const uint8_t *w, size_t len, uint8_t flags)
{
	if ((bl->n_names + 1) * 2 > bl->tcap && grow_table(bl) < 0)
		return -ENOMEM;
	size_t slot;
	uint32_t off = find(bl, w, len, &slot);
	if (off) {
		bl->arena[off] |= flags;
		return 0;
	}
	if (bl->alen + len + 2 > bl->acap) {
		size_t ncap = bl->acap ? bl->acap * 2 : 65536;
		while (ncap < bl->alen + len + 2)
			ncap *= 2;
		if (ncap > UINT32_MAX)
			return -ENOMEM;
		uint8_t *na = realloc(bl->arena, ncap);
		if (!na)
			return -ENOMEM;
		bl->arena = na;
		bl->acap = ncap;
	}
	off = (uint32_t)bl->alen;
	bl->arena[off] = flags;
	bl->arena[off + 1] = (uint8_t)len;
	memcpy(bl->arena + off + 2, w, len);
	bl->alen += len + 2;
	bl->tab[slot] = off;
	bl->n_names++;
	return 0;
}

/* Text name ("Ads.Example", no trailing dot needed) to lower-case wire
 * form. Only host-name characters and '_' pass: list lines with anything
 * else are not names. Returns the wire length or -1. */
static int text_to_wire(const char *s, size_t n, uint8_t *out)
{
	size_t o = 1, lab = 0;
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return -1;
	out[0] = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (out[lab] == 0)
				return -1;
			lab = o;
			out[o++] = 0;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -1;
		if (out[lab] == 63)
			return -1;
		out[lab]++;
		out[o++] = (uint8_t)c;
	}
	if (out[lab] == 0)
		return -1;
	out[o++] = 0;
	return (int)o;
}

static void wire_to_text(const uint8_t *w, char *buf, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; w[i] && n + 1 < cap;) {
		uint8_t l = w[i];
		if (n && n + 1 < cap)
			buf[n++] = '.';
		for (size_t k = 1; k <= l && n + 1 < cap; k++)
			buf[n++] = (char)w[i + k];
		i += (size_t)l + 1;
	}
	buf[n] = 0;
}

/* Add one name from a list with the flag of its line's form; a "*." or
 * "." prefix is part of the text here ("*.x": below x only, ".x": x and
 * below, dnsmasq style) and only allowed for a plain-domain line (exact). */
static int add_name(struct blocklist *bl, const char *s, size_t n, uint8_t flags)
{
	uint8_t w[NAME_WIRE_MAX];
	if (flags == F_EXACT && n >= 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		n -= 2;
		flags = F_SUB;
	} else if (flags == F_EXACT && n >= 1 && s[0] == '.') {
		s++;
		n--;
		flags = F_TREE;
	}
	int wl = text_to_wire(s, n, w);
	if (wl < 0) {
		bl->n_skipped++;
		return 0;
	}
	if (insert(bl, w, (size_t)wl, flags) < 0)
		return -ENOMEM;
	if (flags == F_ALLOW)
		bl->n_allow++;
	else
		bl->n_block++;
	return 0;
}

static int is_address(const char *s, size_t n)
{
	int dots = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ':')
			return 1;
		if (s[i] == '.')
			dots++;
		else if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return dots == 3;
}

/* Host names every hosts file carries that are not blocklist entries. */
static int is_hosts_boilerplate(const char *s, size_t n)
{
	static const char *skip[] = {"localhost", "localhost.localdomain", "local",
				     "broadcasthost", "ip6-localhost", "ip6-loopback",
				     "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes",
				     "ip6-allrouters", "ip6-allhosts", "0.0.0.0", NULL};
	for (int i = 0; skip[i]; i++)
		if (strlen(skip[i]) == n && strncmp(skip[i], s, n) == 0)
			return 1;
	return 0;
}

static int parse_line(struct blocklist *bl, char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	size_t n = strcspn(line, "\r\n");
	line[n] = 0;
	if (!line[0] || line[0] == '#' || line[0] == '!' || line[0] == '[')
		return 0;

	uint8_t flags;
	if (strncmp(line, "@@||", 4) == 0) {
		flags = F_ALLOW;
		line += 4;
	} else if (strncmp(line, "||", 2) == 0) {
		flags = F_TREE;
		line += 2;
	} else if (line[0] == '@' || line[0] == '|' || line[0] == '/') {
		bl->n_skipped++; /* other adblock rules, regex: not domain entries */
		return 0;
	} else {
		goto hosts_or_plain;
	}
	/* adblock: name, then "^" (required, as in Pi-hole: "||x" alone is a
	 * prefix pattern, not a domain), an optional "|" end anchor and
	 * "$important" */
	size_t end = strcspn(line, "^$| \t");
	const char *rest = line + end;
	if (*rest != '^') {
		bl->n_skipped++;
		return 0;
	}
	rest++;
	if (*rest == '|')
		rest++;
	/* modifiers other than $important change the rule's meaning (client,
	 * type, ...): skip such lines rather than over-block */
	if (strncmp(rest, "$important", 10) == 0)
		rest += 10;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (*rest && *rest != '#') {
		bl->n_skipped++;
		return 0;
	}
	return add_name(bl, line, end, flags);

hosts_or_plain:;
	/* cut a trailing comment */
	for (char *p = line; *p; p++)
		if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
			*p = 0;
			break;
		}
	const char *tok[64];
	size_t tlen[64];
	size_t nt = 0;
	for (char *p = line; *p && nt < 64;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		tok[nt] = p;
		tlen[nt] = strcspn(p, " \t");
		p += tlen[nt++];
	}
	if (nt == 0)
		return 0;
	if (is_address(tok[0], tlen[0])) {
		for (size_t i = 1; i < nt; i++) {
			if (is_hosts_boilerplate(tok[i], tlen[i]))
				continue;
			if (add_name(bl, tok[i], tlen[i], F_EXACT) < 0)
				return -ENOMEM;
		}
		return 0;
	}
	if (nt != 1) {
		bl->n_skipped++;
		return 0;
	}
	return add_name(bl, tok[0], tlen[0], F_EXACT);
}

static int load_list(struct blocklist *bl, const char *path, char *err, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, cap, "list %s: %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t lcap = 0;
	int rc = 0;
	while (getline(&line, &lcap, f) >= 0) {
		if (parse_line(bl, line) < 0) {
			snprintf(err, cap, "list %s: out of memory", path);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, cap, "list %s: read error", path);
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

/* Match the wire name w. Returns the flag of the deciding block entry
 * (F_EXACT, F_TREE or F_SUB) with *hit pointing to its stored name, F_ALLOW
 * when an exception covers it, 0 when nothing matches. */
static int match(const struct blocklist *bl, const uint8_t *w, size_t len, const uint8_t **hit)
{
	int verdict = 0;
	*hit = NULL;
	for (size_t i = 0; i < len && w[i] != 0; i += (size_t)w[i] + 1) {
		size_t slot;
		uint32_t off = find(bl, w + i, len - i, &slot);
		if (!off)
			continue;
		uint8_t f = bl->arena[off];
		if (f & F_ALLOW)
			return F_ALLOW;
		if (verdict)
			continue; /* keep the most specific block entry; still look for exceptions */
		if (i == 0) /* the name itself */
			verdict = (f & F_EXACT) ? F_EXACT : (f & F_TREE) ? F_TREE : 0;
		else /* a parent: only entries that reach below it */
			verdict = (f & F_TREE) ? F_TREE : (f & F_SUB) ? F_SUB : 0;
		if (verdict)
			*hit = bl->arena + off + 2;
	}
	return verdict;
}

/* Check w; on a block, set the reason to the list entry in its line's form
 * ("name", "||name^", "*.name"). */
static int check(struct blocklist *bl, struct wg_qctx *ctx, const uint8_t *w, size_t len)
{
	const uint8_t *hit;
	int m = match(bl, w, len, &hit);
	if (m == F_ALLOW) {
		bl->excepted++;
		return WG_PV_CONTINUE;
	}
	if (!m)
		return WG_PV_CONTINUE;
	char entry[300];
	size_t pre = 0;
	if (m == F_SUB) {
		memcpy(entry, "*.", 2);
		pre = 2;
	} else if (m == F_TREE) {
		memcpy(entry, "||", 2);
		pre = 2;
	}
	wire_to_text(hit, entry + pre, sizeof(entry) - pre - 1);
	if (m == F_TREE)
		strcat(entry, "^");
	host->set_reason(ctx, entry);
	return bl->verdict;
}

static int bl_pre_query(void *inst, struct wg_qctx *ctx)
{
	struct blocklist *bl = inst;
	size_t len;
	const uint8_t *w = host->qname_wire(ctx, &len);
	bl->checked++;
	if (!w)
		return WG_PV_CONTINUE;
	int v = check(bl, ctx, w, len);
	if (v != WG_PV_CONTINUE)
		bl->blocked++;
	return v;
}

static int bl_post_response(void *inst, struct wg_qctx *ctx)
{
	struct blocklist *bl = inst;
	uint32_t it = 0;
	char name[1024];
	while (host->answer_cname_next(ctx, &it, name, sizeof(name))) {
		uint8_t w[NAME_WIRE_MAX];
		int wl = text_to_wire(name, strlen(name), w);
		if (wl < 0)
			continue;
		int v = check(bl, ctx, w, (size_t)wl);
		if (v != WG_PV_CONTINUE) {
			bl->cname_blocked++;
			return v;
		}
	}
	return WG_PV_CONTINUE;
}

static void bl_fini(void *inst)
{
	struct blocklist *bl = inst;
	if (!bl)
		return;
	free(bl->arena);
	free(bl->tab);
	free(bl);
}

static void *bl_init(const char *instance, const struct wg_plugin_arg *args, size_t nargs,
		     char *err, size_t cap)
{
	struct blocklist *bl = calloc(1, sizeof(*bl));
	if (!bl) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	snprintf(bl->tag, sizeof(bl->tag), "plugin:%s", instance);
	bl->verdict = WG_PV_BLOCK_NULL;
	bl->alen = 1; /* offset 0 marks an empty table slot */
	if (grow_table(bl) < 0)
		goto nomem;
	bl->arena = malloc(65536);
	if (!bl->arena)
		goto nomem;
	bl->acap = 65536;

	size_t lists = 0;
	for (size_t i = 0; i < nargs; i++) {
		const char *k = args[i].key, *v = args[i].value;
		if (strcmp(k, "mode") == 0) {
			static const char *modes[] = {"null", "nxdomain", "nodata", "refused"};
			static const int codes[] = {WG_PV_BLOCK_NULL, WG_PV_BLOCK_NXDOMAIN,
						    WG_PV_BLOCK_NODATA, WG_PV_BLOCK_REFUSED};
			int found = 0;
			for (int m = 0; m < 4; m++)
				if (strcmp(v, modes[m]) == 0) {
					bl->verdict = codes[m];
					found = 1;
				}
			if (!found) {
				snprintf(err, cap,
					 "mode = %s: expected null, nxdomain, nodata or refused", v);
				goto fail;
			}
		} else if (strcmp(k, "list") != 0) {
			snprintf(err, cap, "unknown key %s (expected list, mode)", k);
			goto fail;
		}
	}
	for (size_t i = 0; i < nargs; i++) {
		if (strcmp(args[i].key, "list") != 0)
			continue;
		if (load_list(bl, args[i].value, err, cap) < 0)
			goto fail;
		lists++;
	}
	if (lists == 0) {
		snprintf(err, cap, "no list given (list = PATH)");
		goto fail;
	}
	host->log(WG_PLUGIN_LOG_INFO, bl->tag,
		  "%zu names from %zu lists (%llu block, %llu exception entries, %llu lines skipped)",
		  bl->n_names, lists, (unsigned long long)bl->n_block,
		  (unsigned long long)bl->n_allow, (unsigned long long)bl->n_skipped);
	return bl;
nomem:
	snprintf(err, cap, "out of memory");
fail:
	bl_fini(bl);
	return NULL;
}

static void bl_stats(void *inst, void (*emit)(void *arg, const char *key, uint64_t value),
		     void *arg)
{
	struct blocklist *bl = inst;
	emit(arg, "names", bl->n_names);
	emit(arg, "exceptions", bl->n_allow);
	emit(arg, "skipped_lines", bl->n_skipped);
	emit(arg, "checked", bl->checked);
	emit(arg, "blocked", bl->blocked);
	emit(arg, "excepted", bl->excepted);
	emit(arg, "cname_blocked", bl->cname_blocked);
}

static const struct wg_plugin_v1 table = {
	.abi_version = WG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct wg_plugin_v1),
	.name = "blocklist",
	.version = PACKAGE_VERSION,
	.init = bl_init,
	.fini = bl_fini,
	.pre_query = bl_pre_query,
	.post_response = bl_post_response,
	.stats = bl_stats,
};

const struct wg_plugin_v1 *wuguard_plugin_entry(const struct wg_host_api *h)
{
	if (!h || h->abi_version != WG_PLUGIN_ABI_VERSION ||
	    h->struct_size < sizeof(struct wg_host_api))
		return NULL;
	host = h;
	return &table;
}
