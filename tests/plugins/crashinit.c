/* crashinit.c: a test plugin whose init crashes: it writes through NULL
 * (SIGSEGV). Arguments choose another fault:
 *   mode = hang    init never returns
 *   mode = fini    init succeeds, fini writes through NULL
 *   mode = fail    init refuses with a message (no crash)
 *   mode = spawn   init succeeds and leaves a helper process running for
 *                  10 s with every descriptor it inherited but stdio
 * The host must try it in a child and refuse it with a message, never die
 * with it. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wuguard-plugin.h"

static int dummy;
static int crash_in_fini;

/* not instrumented: a sanitizer build must fault like any other */
__attribute__((no_sanitize("undefined"), noinline)) static void write_null(void)
{
	volatile int *volatile p = NULL;
	*p = 42;
}

static void *crash_init(const char *instance, const struct wg_plugin_arg *args, size_t nargs,
			char *err, size_t cap)
{
	const char *mode = "segv";
	for (size_t i = 0; i < nargs; i++)
		if (strcmp(args[i].key, "mode") == 0)
			mode = args[i].value;
	if (strcmp(mode, "hang") == 0)
		for (;;)
			pause();
	if (strcmp(mode, "fail") == 0) {
		snprintf(err, cap, "crashinit refuses (mode = fail)");
		return NULL;
	}
	if (strcmp(mode, "spawn") == 0) {
		/* a helper that outlives init, the way a plugin's background
		 * updater would: it holds what it inherited (the host's trial
		 * report pipe too), not the test's output */
		if (fork() == 0) {
			close(0);
			close(1);
			close(2);
			sleep(10);
			_exit(0);
		}
		return &dummy;
	}
	if (strcmp(mode, "fini") == 0) {
		crash_in_fini = 1;
		return &dummy;
	}
	write_null();
	return &dummy;
}

static void crash_fini(void *inst)
{
	if (crash_in_fini)
		write_null();
}

static const struct wg_plugin_v1 table = {
	.abi_version = WG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct wg_plugin_v1),
	.name = "crashinit",
	.version = "0",
	.init = crash_init,
	.fini = crash_fini,
};

const struct wg_plugin_v1 *wuguard_plugin_entry(const struct wg_host_api *h)
{
	(void)h;
	return &table;
}
