/* safefile.c: see safefile.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "safefile.h"

static int trusted(uid_t uid, uid_t extra_uid)
{
	return uid == 0 || uid == geteuid() || (extra_uid != (uid_t)-1 && uid == extra_uid);
}

/* "root" or "root or uid 1000 (the running user)" for messages. */
static void who(uid_t extra_uid, char *buf, size_t cap)
{
	uid_t me = geteuid();
	if (me != 0 && extra_uid != (uid_t)-1 && extra_uid != 0 && extra_uid != me)
		snprintf(buf, cap, "root, uid %u (the running user) or uid %u (the service user)",
			 (unsigned)me, (unsigned)extra_uid);
	else if (me != 0)
		snprintf(buf, cap, "root or uid %u (the running user)", (unsigned)me);
	else if (extra_uid != (uid_t)-1 && extra_uid != 0)
		snprintf(buf, cap, "root or uid %u (the service user)", (unsigned)extra_uid);
	else
		snprintf(buf, cap, "root");
}

/* Check one directory of the resolved path. lstat: the path was resolved,
 * so a symbolic link here means it changed under us. */
static int check_dir(const char *path, const char *dir, uid_t extra_uid, char *err, size_t cap)
{
	struct stat st;
	char w[96];
	if (lstat(dir, &st) < 0) {
		int e = errno;
		snprintf(err, cap, "%s: cannot check directory %s: %s", path, dir, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, cap, "%s: %s changed while it was checked; refusing it", path, dir);
		return -EPERM;
	}
	if (!trusted(st.st_uid, extra_uid)) {
		who(extra_uid, w, sizeof(w));
		snprintf(err, cap,
			 "%s: directory %s is owned by uid %u, not by %s, who could replace "
			 "what is in it; refusing it (chown root %s)",
			 path, dir, (unsigned)st.st_uid, w, dir);
		return -EPERM;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !((st.st_mode & S_ISVTX) && st.st_uid == 0)) {
		snprintf(err, cap,
			 "%s: directory %s is writable by group or others (mode %04o), who could "
			 "replace what is in it; refusing it (chmod go-w %s)",
			 path, dir, (unsigned)(st.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

/* Where the descriptor really is: /proc's link for it (no symbolic links
 * left, whatever path opened it), else realpath of the name. */
static int resolved(int fd, const char *path, char *out, size_t cap)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, out, cap - 1);
	if (n > 0 && (size_t)n < cap - 1 && out[0] == '/') {
		out[n] = 0;
		return 0;
	}
	char *r = realpath(path, NULL);
	if (!r || strlen(r) >= cap) {
		free(r);
		return -ENAMETOOLONG;
	}
	strcpy(out, r);
	free(r);
	return 0;
}

int wg_safefile_open(const char *path, uid_t extra_uid, char *err, size_t cap)
{
	char dummy[8];
	if (!err || cap == 0) {
		err = dummy;
		cap = sizeof(dummy);
	}
	/* O_NONBLOCK: a FIFO put in the file's place must not hang us */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		snprintf(err, cap, "%s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	char w[96];
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, cap, "%s: %s", path, strerror(-rc));
	} else if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
		/* /dev/null: "-c /dev/null" is the usual empty file, and nothing
		 * written to it can ever be read back */
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(err, cap, "%s: not a regular file", path);
		rc = -EPERM;
	} else if (!trusted(st.st_uid, extra_uid)) {
		who(extra_uid, w, sizeof(w));
		snprintf(err, cap,
			 "%s: owned by uid %u, not by %s; refusing it (chown root %s)", path,
			 (unsigned)st.st_uid, w, path);
		rc = -EPERM;
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, cap,
			 "%s: writable by group or others (mode %04o); refusing it "
			 "(chmod go-w %s)",
			 path, (unsigned)(st.st_mode & 07777), path);
		rc = -EPERM;
	} else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		rc = -errno;
		snprintf(err, cap, "%s: %s", path, strerror(-rc));
	}
	char real[PATH_MAX];
	if (rc == 0 && (rc = resolved(fd, path, real, sizeof(real))) < 0)
		snprintf(err, cap, "%s: cannot resolve the path: %s", path, strerror(-rc));
	/* every directory above the file, from / down: /a/b/f -> /, /a, /a/b */
	if (rc == 0)
		rc = check_dir(path, "/", extra_uid, err, cap);
	for (char *p = rc == 0 ? strchr(real + 1, '/') : NULL; rc == 0 && p;
	     p = strchr(p + 1, '/')) {
		*p = 0;
		rc = check_dir(path, real, extra_uid, err, cap);
		*p = '/';
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}
