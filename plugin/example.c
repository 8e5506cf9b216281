/* example.c: the smallest useful wuguard plugin, a template for your own.
 *
 * [plugin:lan]
 * path = /usr/lib/wuguard/example.so
 * suffix = lan          answer NXDOMAIN for "lan" and every name under it
 * log = yes             log each query at debug level
 *
 * Build: cc -shared -fPIC -o example.so example.c   (needs wuguard-plugin.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wuguard-plugin.h"

struct example {
	char tag[64];    /* "plugin:NAME", for log lines */
	char suffix[256]; /* lower case, no dots around it; "" blocks nothing */
	int log;
	unsigned long blocked;
};

static const struct wg_host_api *host;

static void *ex_init(const char *instance, const struct wg_plugin_arg *args, size_t nargs,
		     char *err, size_t cap)
{
	struct example *ex = calloc(1, sizeof(*ex));
	if (!ex)
		return NULL;
	snprintf(ex->tag, sizeof(ex->tag), "plugin:%s", instance);
	for (size_t i = 0; i < nargs; i++) {
		if (strcmp(args[i].key, "suffix") == 0) {
			snprintf(ex->suffix, sizeof(ex->suffix), "%s", args[i].value);
		} else if (strcmp(args[i].key, "log") == 0) {
			ex->log = strcmp(args[i].value, "yes") == 0;
		} else {
			snprintf(err, cap, "unknown key %s (expected suffix, log)", args[i].key);
			free(ex);
			return NULL;
		}
	}
	return ex;
}

static void ex_fini(void *inst)
{
	free(inst);
}

static int ex_pre_query(void *inst, struct wg_qctx *ctx)
{
	struct example *ex = inst;
	const char *name = host->qname_text(ctx); /* "www.example.lan" */
	if (ex->log && host->log_enabled(WG_PLUGIN_LOG_DEBUG))
		host->log(WG_PLUGIN_LOG_DEBUG, ex->tag, "query %s type %u", name,
			  (unsigned)host->qtype(ctx));
	size_t n = strlen(name), s = strlen(ex->suffix);
	if (s == 0 || n < s || strcmp(name + n - s, ex->suffix) != 0)
		return WG_PV_CONTINUE;
	if (n > s && name[n - s - 1] != '.')
		return WG_PV_CONTINUE; /* "notlan" does not end in the label "lan" */
	ex->blocked++;
	host->set_reason(ctx, ex->suffix); /* names the rule in logs and records */
	return WG_PV_BLOCK_NXDOMAIN;
}

static void ex_stats(void *inst, void (*emit)(void *, const char *, uint64_t), void *arg)
{
	emit(arg, "blocked", ((struct example *)inst)->blocked);
}

static const struct wg_plugin_v1 table = {
	.abi_version = WG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct wg_plugin_v1),
	.name = "example",
	.version = "1.0",
	.init = ex_init,
	.fini = ex_fini,
	.pre_query = ex_pre_query,
	.stats = ex_stats,
};

const struct wg_plugin_v1 *wuguard_plugin_entry(const struct wg_host_api *h)
{
	if (h->abi_version != WG_PLUGIN_ABI_VERSION)
		return NULL;
	host = h;
	return &table;
}
