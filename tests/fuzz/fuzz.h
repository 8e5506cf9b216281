/* fuzz.h: what every fuzz target shares.
 *
 * Each target defines LLVMFuzzerTestOneInput and checks invariants with
 * FUZZ_CHECK, which aborts: libFuzzer reports the input, and replay.c (the
 * make check driver) fails the test. abort() rather than assert() so a
 * -DNDEBUG build still checks. */
#ifndef WG_FUZZ_H
#define WG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                     \
			abort();                                                      \
		}                                                                     \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
