/* netaddr.h: socket address and CIDR parsing and matching. */
#ifndef WG_NETADDR_H
#define WG_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

struct wg_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct wg_cidr {
	int family;      /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;  /* bits */
};

/* Parse "1.2.3.4", "1.2.3.4:53", "::1", "[::1]:5353". Without a port,
 * default_port is used. Returns 0 or -EINVAL. */
int wg_addr_parse(const char *s, uint16_t default_port, struct wg_addr *out);
/* "addr:port" text; IPv6 in brackets. */
void wg_addr_format(const struct wg_addr *a, char *buf, size_t cap);
/* Same family, address and port. */
int wg_addr_equal(const struct wg_addr *a, const struct wg_addr *b);
uint16_t wg_addr_port(const struct wg_addr *a);
/* 0.0.0.0 or ::? */
int wg_addr_is_wildcard(const struct wg_addr *a);
/* Does listen address i, of the n in list, also take IPv4? Only the IPv6
 * wildcard [::] does (dual-stack), and only when no IPv4 address is listed
 * on the same port: then that socket takes the IPv4 queries, and a
 * dual-stack bind would collide with it (EADDRINUSE). */
int wg_addr_listen_dual(const struct wg_addr *list, size_t n, size_t i);
/* A v4-mapped IPv6 address (::ffff:a.b.c.d, as a dual-stack socket reports
 * IPv4 peers) becomes AF_INET in place, port kept; anything else is left. */
void wg_addr_unmap(struct sockaddr_storage *ss);
/* The reverse, for sending on an IPv6 socket: AF_INET becomes ::ffff:a.b.c.d
 * in out; an AF_INET6 ss is copied. Returns the length to give the kernel. */
socklen_t wg_addr_map6(const struct sockaddr_storage *ss, struct sockaddr_storage *out);

/* Parse "10.0.0.0/8", "fd00::/8", or a bare address (host prefix).
 * Returns 0 or -EINVAL. */
int wg_cidr_parse(const char *s, struct wg_cidr *out);
/* Does sa (AF_INET or AF_INET6; v4-mapped v6 is matched as v4) fall in c? */
int wg_cidr_match(const struct wg_cidr *c, const struct sockaddr *sa);
/* Same, for raw address bytes (4 or 16 bytes). */
int wg_cidr_match_raw(const struct wg_cidr *c, int family, const uint8_t *addr);

/* An address set with a "bogon" flag per entry (sinkhole and sanctioned
 * addresses, for compare.c). Small (tens of entries): matched by a linear scan. */
struct wg_addrlist_entry {
	struct wg_cidr cidr;
	uint8_t bogon; /* a sinkhole only when P did not return the address */
};

struct wg_addrlist {
	struct wg_addrlist_entry *v; /* owned array */
	size_t n, cap;
};

/* Add "1.2.3.4", "10.0.0.0/8", "::ffff:146.112.61.104/126" ... An IPv4 entry
 * also matches the IPv4-mapped IPv6 form. Returns 0, -EINVAL, -ENOMEM. */
int wg_addrlist_add(struct wg_addrlist *l, const char *text, int bogon);
/* Index of the first entry holding addr (4 or 16 bytes), or -1. */
int wg_addrlist_match(const struct wg_addrlist *l, const uint8_t *addr, size_t alen);
/* Frees the entries; l is left empty and reusable. */
void wg_addrlist_clear(struct wg_addrlist *l);

#endif
