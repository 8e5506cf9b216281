/* noentry.c: a test shared object without wuguard_plugin_entry. */
#include "autoconfig.h"

int wg_test_not_a_plugin(int x);

int wg_test_not_a_plugin(int x)
{
	return x + 1;
}
