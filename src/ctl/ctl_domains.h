/* ctl_domains.h: `wuguardctl domains`, the effective WU set.
 *
 * Shows the domains file the daemon would read with its configuration:
 * every group, whether it is on, its entries and their sources (the
 * "#@source" keys of db/wu-domains.list), and what [guard] add and remove
 * change. Exit status 0, or 2 for a usage or configuration error. */
#ifndef WG_CTL_DOMAINS_H
#define WG_CTL_DOMAINS_H

#include <stdio.h>

/* The command's lines of `wuguardctl -h`. */
void wg_ctl_domains_usage(FILE *out);

/* argv[0] is "domains"; config_path: wuguardctl's -c or NULL. */
int wg_ctl_domains(int argc, char **argv, const char *config_path);

#endif
