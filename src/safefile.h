/* safefile.h: open a file that nobody but root (or us) could have written.
 *
 * The daemon runs code (plugins) and takes orders (the configuration: its
 * upstreams, the pidfile it writes as root, the plugin paths; the lists)
 * from files. A file that another user could have written, or swapped by
 * writing a directory above it, hands that user the daemon. The rule,
 * after OpenSSH's safe_path():
 *   - the file is a regular file, owned by root, the running user or the
 *     extra user given (the service user), and not writable by group or
 *     others (or it is /dev/null: "-c /dev/null" is an empty config);
 *   - every directory of its resolved path, from / down, is owned by one of
 *     those users and not writable by group or others -- except a sticky
 *     directory owned by root (/tmp): there nobody can rename or remove an
 *     entry they do not own, and the entry below is checked in its turn.
 * The file is opened once and the checks are made on that descriptor, so
 * what the caller reads (or loads, through /proc/self/fd/N) is the file
 * that was checked, whatever happens to the path afterwards. */
#ifndef WG_SAFEFILE_H
#define WG_SAFEFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Open path read-only (O_CLOEXEC) and check it and its directories as
 * above; extra_uid is also trusted ((uid_t)-1: nobody extra). Returns the
 * descriptor (the caller closes it) or a negative errno: what open(2) or
 * stat(2) said (-ENOENT, -EACCES, ...), or -EPERM when the rule refuses the
 * file. err (cap bytes) then holds "PATH: reason", and for -EPERM the
 * command that fixes it ("chmod go-w DIR", "chown root FILE"). */
int wg_safefile_open(const char *path, uid_t extra_uid, char *err, size_t cap);

#endif
