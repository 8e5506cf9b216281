/* alloc_count.c: an LD_PRELOAD shim for tests/integration/test_alloc.py.
 *
 * Counts the heap allocations made on the thread that loaded it (the
 * daemon's event loop; the database writer thread is not counted) and, on
 * SIGUSR2, writes the count to the file named by WG_ALLOC_COUNT_FILE. The
 * real allocator is glibc's, reached through its __libc_* entry points. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
void *memalign(size_t align, size_t n);

static volatile unsigned long long count;
static __thread int counted __attribute__((tls_model("initial-exec")));
static char path[4096];

void *malloc(size_t n)
{
	if (counted)
		count++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	if (counted)
		count++;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	if (counted)
		count++;
	return __libc_realloc(p, n);
}

void *memalign(size_t align, size_t n)
{
	if (counted)
		count++;
	return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p = memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/* async-signal-safe: open, write, close and hand-made digits */
static void on_usr2(int sig)
{
	char buf[32];
	unsigned long long v = count;
	int i = (int)sizeof(buf);
	(void)sig;
	buf[--i] = '\n';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	ssize_t w = write(fd, buf + i, sizeof(buf) - (size_t)i);
	(void)w;
	close(fd);
}

__attribute__((constructor)) static void init(void)
{
	const char *p = getenv("WG_ALLOC_COUNT_FILE");
	if (!p || strlen(p) >= sizeof(path))
		return;
	memcpy(path, p, strlen(p) + 1);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	counted = 1; /* this (the main) thread only */
}
