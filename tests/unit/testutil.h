/* testutil.h: what the unit tests share. Include it first: cmocka needs
 * setjmp.h, stdarg.h and stddef.h before cmocka.h. */
#ifndef WG_TESTUTIL_H
#define WG_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "wire.h"

/* Write text to a fresh file under /tmp; path (cap bytes) receives its
 * name. The caller unlinks it. */
static inline void wg_test_write_tmp(char *path, size_t cap, const char *text)
{
	snprintf(path, cap, "/tmp/wg_test_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* A recursive IN query for name/type, as a client sends it (RD set, no
 * EDNS), in qi. */
static inline void wg_test_query_info(struct wg_query_info *qi, const char *name, uint16_t type)
{
	memset(qi, 0, sizeof(*qi));
	int n = wg_wire_name_from_str(name, qi->qname);
	assert_true(n > 0);
	qi->qname_len = (uint16_t)n;
	qi->qtype = type;
	qi->qclass = 1;
	qi->flags = WG_F_RD;
}

#endif
