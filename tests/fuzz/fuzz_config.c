/* fuzz_config.c: the config file and the list files (WU set, CDN and
 * sinkhole lists) as an admin, or a config-management template gone wrong,
 * may write them. A bad file must give a reason that names the file (and
 * the line, when a line caused it); a good config must survive its own dump:
 * what `wuguard -n -v` prints loads again and prints the same.
 *
 * Input: byte 0 picks config (even) or list (odd); the rest is the file. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "domainset.h"
#include "fuzz.h"

/* The text in a memory file; *path names it. Returns the fd or -1. */
static int memfile(const uint8_t *d, size_t n, char *path, size_t cap)
{
	int fd = memfd_create("wg-fuzz", 0);
	if (fd < 0)
		return -1;
	/* a memfd is created 0777: the config and list rule refuses that */
	if (fchmod(fd, 0600) < 0) {
		close(fd);
		return -1;
	}
	if (write(fd, d, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

/* wg_config_dump into a malloc'd string (the header line, which names the
 * source file, is skipped). */
static char *dump(const struct wg_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	FUZZ_CHECK(f);
	wg_config_dump(c, f);
	FUZZ_CHECK(fclose(f) == 0);
	char *nl = strchr(buf, '\n');
	FUZZ_CHECK(nl);
	memmove(buf, nl + 1, strlen(nl + 1) + 1);
	return buf;
}

static void fuzz_config(const uint8_t *d, size_t n)
{
	char path[64], err[1024];
	int fd = memfile(d, n, path, sizeof(path));
	if (fd < 0)
		return;
	struct wg_config c;
	FUZZ_CHECK(wg_config_defaults(&c) == 0);
	err[0] = 0;
	int rc = wg_config_load(&c, path, err, sizeof(err));
	if (rc < 0) {
		FUZZ_CHECK(rc == -ENOENT || rc == -EINVAL || rc == -ENOMEM || rc == -E2BIG ||
			   rc == -ERANGE);
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0); /* names the file */
		wg_config_free(&c);
		close(fd);
		return;
	}
	char *first = dump(&c);
	wg_config_free(&c);
	close(fd);

	/* the dump is a config file that means the same */
	fd = memfile((const uint8_t *)first, strlen(first), path, sizeof(path));
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(wg_config_defaults(&c) == 0);
	rc = wg_config_load(&c, path, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "dump does not load: %s\n---\n%s---\n", err, first);
		FUZZ_CHECK(rc == 0);
	}
	char *second = dump(&c);
	if (strcmp(first, second) != 0) {
		fprintf(stderr, "dump changed on reload:\n---\n%s---\n%s---\n", first, second);
		FUZZ_CHECK(strcmp(first, second) == 0);
	}
	wg_config_free(&c);
	close(fd);
	free(first);
	free(second);
}

static void fuzz_list(uint8_t sel, const uint8_t *d, size_t n)
{
	char path[64], err[1024];
	int fd = memfile(d, n, path, sizeof(path));
	if (fd < 0)
		return;
	struct wg_domainset *set = wg_domainset_new();
	FUZZ_CHECK(set);
	static const char *const groups[] = {"optional", "-windows-update", NULL};
	err[0] = 0;
	int rc = wg_domainset_load_file(set, path, (sel & 2) ? groups : NULL, err, sizeof(err));
	if (rc < 0)
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
	/* whatever loaded answers lookups */
	(void)wg_domainset_match_str(set, "ctldl.windowsupdate.com");
	(void)wg_domainset_match_str(set, "a.b.c.d.e.f.g.h.example");
	wg_domainset_free(set);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 16)
		return 0;
	if (data[0] & 1)
		fuzz_list(data[0], data + 1, size - 1);
	else
		fuzz_config(data + 1, size - 1);
	return 0;
}
