/* blockall.c: a test plugin that blocks every name it sees (NXDOMAIN, with
 * the reason "everything"), in both hooks. The host must still let WU
 * names through. */
#include "autoconfig.h"

#include <stdlib.h>

#include "wuguard-plugin.h"

static const struct wg_host_api *host;
static int dummy;

static void *all_init(const char *instance, const struct wg_plugin_arg *args, size_t nargs,
		      char *err, size_t cap)
{
	return &dummy;
}

static void all_fini(void *inst)
{
}

static int all_hook(void *inst, struct wg_qctx *ctx)
{
	host->set_reason(ctx, "everything");
	return WG_PV_BLOCK_NXDOMAIN;
}

static const struct wg_plugin_v1 table = {
	.abi_version = WG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct wg_plugin_v1),
	.name = "blockall",
	.version = "0",
	.init = all_init,
	.fini = all_fini,
	.pre_query = all_hook,
	.post_response = all_hook,
};

const struct wg_plugin_v1 *wuguard_plugin_entry(const struct wg_host_api *h)
{
	host = h;
	return &table;
}
