/* assume.h: the two kinds of assertion (Knot Resolver's kr_require and
 * kr_assume, the kernel's BUG_ON and WARN_ON_ONCE).
 *
 * WG_ASSERT(cond): an invariant whose failure leaves no safe way on, for
 * example a pointer the next line dereferences. Debug builds
 * (--enable-debug) abort with the condition and file:line; release builds
 * compile it out (cond is not evaluated), as assert(3) does.
 *
 * WG_ASSUME(cond): an invariant the daemon can survive. It evaluates cond
 * once and yields its truth, so the caller recovers in place:
 *     if (!WG_ASSUME(n <= cap)) return -EINVAL;
 * A failure is logged once per call site at error level (a daemon that
 * keeps hitting one site must not flood syslog) and counted in
 * wg_assume_failures. Debug builds also abort, so the test suite notices,
 * unless wg_assume_abort was cleared (the unit test of the recovery path).
 *
 * Both use GNU statement expressions (gcc and clang). */
#ifndef WG_ASSUME_H
#define WG_ASSUME_H

/* Failures of WG_ASSUME since start (all sites). */
extern unsigned long wg_assume_failures;
/* 1: WG_ASSUME aborts after logging (default in debug builds). */
extern int wg_assume_abort;

/* Log (once per site: *once is the site's flag), count, maybe abort.
 * Returns 0, the value WG_ASSUME yields. */
int wg_assume_failed(const char *cond, const char *file, int line, int *once);
/* Log and abort. */
void wg_assert_failed(const char *cond, const char *file, int line) __attribute__((noreturn));

#define WG_ASSUME(cond)                                                        \
	({                                                                     \
		static int wg_assume_once_;                                    \
		int wg_assume_ok_ = !!(cond);                                  \
		if (__builtin_expect(!wg_assume_ok_, 0))                       \
			wg_assume_failed(#cond, __FILE__, __LINE__, &wg_assume_once_); \
		wg_assume_ok_;                                                 \
	})

#ifdef WG_DEBUG
#define WG_ASSERT(cond)                                                        \
	do {                                                                   \
		if (__builtin_expect(!(cond), 0))                              \
			wg_assert_failed(#cond, __FILE__, __LINE__);           \
	} while (0)
#else
#define WG_ASSERT(cond) ((void)0)
#endif

/* The number of entries of an array (not a pointer). */
#define WG_NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif
