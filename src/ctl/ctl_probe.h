/* ctl_probe.h: `wuguardctl probe`, the seeds' manual nslookup check,
 * automated.
 *
 * Asks the local upstream and the public reference about WU names once and
 * prints the guard's verdict for each name and type. Nothing is compared
 * here: every name goes through the daemon's own cross-check
 * (wg_crosscheck_new with the configuration the daemon would load), and its
 * recorder hands over each verdict exactly as the daemon would record it.
 * One libuv loop, at most 16 names in flight, an overall deadline derived
 * from the timeouts.
 *
 * Exit status: 0 every name checked and none would be repaired; 1 at least
 * one answer the guard would repair (sinkhole, blocked-rcode, blocked-ede,
 * nodata, local-timeout, local-servfail, rewrite); 2 usage or configuration
 * error, or no name could be checked (public side unavailable for all);
 * 3 nothing to repair, but some names could not be checked. */
#ifndef WG_CTL_PROBE_H
#define WG_CTL_PROBE_H

#include <stdio.h>

#define WG_PROBE_EX_CLEAN 0
#define WG_PROBE_EX_TAMPERED 1
#define WG_PROBE_EX_USAGE 2   /* also: nothing could be checked */
#define WG_PROBE_EX_PARTIAL 3

/* The probe's lines of `wuguardctl -h` (and all of `probe --help`). */
void wg_ctl_probe_usage(FILE *out);

/* Run the command: argv[0] is "probe", then its options and NAMEs (getopt
 * order, options may follow names). config_path: wuguardctl's -c, NULL for
 * the built-in defaults. Results go to stdout, errors to stderr. Returns
 * the exit status above. */
int wg_ctl_probe(int argc, char **argv, const char *config_path);

#endif
