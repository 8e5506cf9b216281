/* test_assume.c: WG_ASSUME recovers, logs once per site and counts;
 * WG_ASSERT is compiled out of release builds. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "assume.h"

static int evaluated;

static int check(int v)
{
	evaluated++;
	return v;
}

/* one call site, reached as often as the caller likes */
static int guarded(int v)
{
	if (!WG_ASSUME(check(v)))
		return -1;
	return 0;
}

static void test_assume_true(void **state)
{
	unsigned long before = wg_assume_failures;
	evaluated = 0;
	assert_int_equal(guarded(1), 0);
	assert_int_equal(evaluated, 1); /* the condition runs exactly once */
	assert_int_equal(wg_assume_failures, before);
}

static void test_assume_false_recovers(void **state)
{
	unsigned long before = wg_assume_failures;
	wg_assume_abort = 0;
	evaluated = 0;
	assert_int_equal(guarded(0), -1);
	assert_int_equal(guarded(0), -1);
	assert_int_equal(evaluated, 2);
	assert_int_equal(wg_assume_failures, before + 2);
}

static void test_assume_logs_once(void **state)
{
	int once = 0;
	wg_assume_abort = 0;
	assert_int_equal(wg_assume_failed("x", "f.c", 1, &once), 0);
	assert_int_equal(once, 1);
	assert_int_equal(wg_assume_failed("x", "f.c", 1, &once), 0);
	assert_int_equal(once, 1);
}

static void test_assert_release(void **state)
{
	evaluated = 0;
	WG_ASSERT(check(1));
#ifdef WG_DEBUG
	assert_int_equal(evaluated, 1);
#else
	assert_int_equal(evaluated, 0); /* compiled out, not evaluated */
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assume_true),
		cmocka_unit_test(test_assume_false_recovers),
		cmocka_unit_test(test_assume_logs_once),
		cmocka_unit_test(test_assert_release),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
