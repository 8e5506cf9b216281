/* bad_abi.c: a test plugin that claims a future ABI version; the host must
 * refuse it before calling anything in the table. */
#include "autoconfig.h"

#include <stdlib.h>

#include "wuguard-plugin.h"

static void *bad_init(const char *instance, const struct wg_plugin_arg *args, size_t nargs,
		      char *err, size_t cap)
{
	abort(); /* never reached: the ABI check comes first */
}

static void bad_fini(void *inst)
{
	abort();
}

static const struct wg_plugin_v1 table = {
	.abi_version = 999,
	.struct_size = sizeof(struct wg_plugin_v1),
	.name = "bad_abi",
	.version = "0",
	.init = bad_init,
	.fini = bad_fini,
};

const struct wg_plugin_v1 *wuguard_plugin_entry(const struct wg_host_api *h)
{
	return &table;
}
