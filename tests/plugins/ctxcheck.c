/* ctxcheck.c: a test plugin for the per-query context. pre_query stores a
 * value with set_data and answers "local.test" with local data;
 * post_response reads the value back and blocks answers that contain
 * 192.0.2.66 (block by answer address); query_end frees the value. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "wuguard-plugin.h"

static const struct wg_host_api *host;
static uint64_t ends, data_ok;
static int dummy;

static void *cc_init(const char *instance, const struct wg_plugin_arg *args, size_t nargs,
		     char *err, size_t cap)
{
	ends = data_ok = 0;
	return &dummy;
}

static void cc_fini(void *inst)
{
}

static int cc_pre(void *inst, struct wg_qctx *ctx)
{
	int *v = host->get_data(ctx) ? NULL : malloc(sizeof(*v));
	if (v) {
		*v = 42;
		host->set_data(ctx, v);
	}
	if (strcmp(host->qname_text(ctx), "local.test") == 0) {
		static const uint8_t a[4] = {10, 1, 2, 3};
		static const uint8_t a6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
		host->set_answer_addr(ctx, AF_INET, a, 300);
		host->set_answer_addr(ctx, AF_INET6, a6, 300);
		host->set_reason(ctx, "local.test");
		return WG_PV_ANSWER;
	}
	return WG_PV_CONTINUE;
}

static int cc_post(void *inst, struct wg_qctx *ctx)
{
	int *v = host->get_data(ctx);
	if (v && *v == 42)
		data_ok++;
	if (host->rcode(ctx) != 0)
		return WG_PV_CONTINUE;
	uint32_t it = 0;
	int fam;
	uint8_t addr[16];
	static const uint8_t bad[4] = {192, 0, 2, 66};
	while (host->answer_addr_next(ctx, &it, &fam, addr))
		if (fam == AF_INET && memcmp(addr, bad, 4) == 0) {
			host->set_reason(ctx, "192.0.2.66");
			return WG_PV_BLOCK_NULL;
		}
	return WG_PV_CONTINUE;
}

static void cc_end(void *inst, struct wg_qctx *ctx)
{
	free(host->get_data(ctx));
	ends++;
}

static void cc_stats(void *inst, void (*emit)(void *, const char *, uint64_t), void *arg)
{
	emit(arg, "ends", ends);
	emit(arg, "data_ok", data_ok);
}

static const struct wg_plugin_v1 table = {
	.abi_version = WG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct wg_plugin_v1),
	.name = "ctxcheck",
	.version = "0",
	.init = cc_init,
	.fini = cc_fini,
	.pre_query = cc_pre,
	.post_response = cc_post,
	.query_end = cc_end,
	.stats = cc_stats,
};

const struct wg_plugin_v1 *wuguard_plugin_entry(const struct wg_host_api *h)
{
	host = h;
	return &table;
}
