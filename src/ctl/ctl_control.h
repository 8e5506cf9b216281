/* ctl_control.h: wuguardctl's commands for the running daemon (status,
 * stats --live, reload, flush, cache), over its control socket (control.h
 * has the protocol).
 *
 * Exit status: 0 done; 1 the daemon answered with an error (a reload that
 * failed, a bad name); 2 usage, or the daemon cannot be reached (not
 * running, no permission on the socket, the connection broke), said in one
 * line on stderr. */
#ifndef WG_CTL_CONTROL_H
#define WG_CTL_CONTROL_H

#include <stdio.h>

/* The commands' lines of `wuguardctl -h`. */
void wg_ctl_control_usage(FILE *out);

/* 1 when argv (argv[0] the command) is for the daemon: status, reload,
 * flush, cache, and stats with --live or --reset (or socket_given: -s). */
int wg_ctl_control_wants(int argc, char **argv, int socket_given);

/* Run the command against the socket at path. */
int wg_ctl_control(int argc, char **argv, const char *path);

#endif
