/* replay.c: runs a fuzz target over saved inputs without libFuzzer, so
 * make check replays the corpus (and every crash found so far) with the
 * normal compiler, and under ASan/UBSan in an --enable-debug build.
 *
 *   replay_TARGET [DIR|FILE...]   prints TAP: one test point per argument;
 *                                 no argument: tests/fuzz/corpus/TARGET
 *
 * A target that breaks an invariant aborts, which fails the test. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "# %s: %s\n", path, strerror(errno));
		return -1;
	}
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return -1;
	/* a copy of exactly n bytes, so ASan sees reads past the input */
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy)
		return -1;
	memcpy(copy, buf, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the number of inputs run, or -1. */
static long run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "# %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path) == 0 ? 1 : -1;
	DIR *d = opendir(path);
	if (!d)
		return -1;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				abort();
			names = nn;
		}
		size_t len = strlen(path) + strlen(e->d_name) + 2;
		names[n] = malloc(len);
		if (!names[n])
			abort();
		snprintf(names[n], len, "%s/%s", path, e->d_name);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp); /* same order every run */
	long ran = 0;
	for (size_t i = 0; i < n; i++) {
		if (ran >= 0 && run_file(names[i]) == 0)
			ran++;
		else
			ran = -1;
		free(names[i]);
	}
	free(names);
	return ran;
}

int main(int argc, char **argv)
{
	char *def[2] = {argv[0], WG_FUZZ_CORPUS_DIR "/" WG_FUZZ_TARGET};
	if (argc < 2) {
		argc = 2;
		argv = def;
	}
	printf("1..%d\n", argc - 1);
	int failed = 0;
	for (int i = 1; i < argc; i++) {
		long n = run_path(argv[i]);
		/* an empty corpus is a packaging mistake, not a pass */
		if (n > 0) {
			printf("ok %d - %s: %ld inputs, no invariant broken\n", i, argv[i], n);
		} else {
			printf("not ok %d - %s: %s\n", i, argv[i], n == 0 ? "no inputs" : "unreadable");
			failed = 1;
		}
		fflush(stdout);
	}
	return failed;
}
