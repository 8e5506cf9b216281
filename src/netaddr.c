/* netaddr.c: see netaddr.h. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	long v;
	if (!*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int wg_addr_parse(const char *s, uint16_t default_port, struct wg_addr *out)
{
	char host[64];
	const char *portstr = NULL;
	uint16_t port = default_port;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || (size_t)(rb - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = 0;
		if (rb[1] == ':')
			portstr = rb + 2;
		else if (rb[1])
			return -EINVAL;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* bare IPv6 address, no port */
		size_t hl = colon ? (size_t)(colon - s) : strlen(s);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
		host[hl] = 0;
		if (colon)
			portstr = colon + 1;
	}
	if (portstr && parse_port(portstr, &port) < 0)
		return -EINVAL;
	if (port == 0)
		return -EINVAL;
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		out->len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		out->len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

void wg_addr_format(const struct wg_addr *a, char *buf, size_t cap)
{
	char h[INET6_ADDRSTRLEN];
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
		inet_ntop(AF_INET, &sin->sin_addr, h, sizeof(h));
		snprintf(buf, cap, "%s:%u", h, ntohs(sin->sin_port));
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, h, sizeof(h));
		snprintf(buf, cap, "[%s]:%u", h, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, cap, "?");
	}
}

uint16_t wg_addr_port(const struct wg_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

int wg_addr_is_wildcard(const struct wg_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
	return 0;
}

int wg_addr_listen_dual(const struct wg_addr *list, size_t n, size_t i)
{
	if (list[i].ss.ss_family != AF_INET6 || !wg_addr_is_wildcard(&list[i]))
		return 0;
	for (size_t j = 0; j < n; j++)
		if (list[j].ss.ss_family == AF_INET && wg_addr_port(&list[j]) == wg_addr_port(&list[i]))
			return 0;
	return 1;
}

void wg_addr_unmap(struct sockaddr_storage *ss)
{
	if (ss->ss_family != AF_INET6)
		return;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	struct sockaddr_in s4;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, s6->sin6_addr.s6_addr + 12, 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

socklen_t wg_addr_map6(const struct sockaddr_storage *ss, struct sockaddr_storage *out)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
		memset(s6, 0, sizeof(*s6));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = s4->sin_port;
		s6->sin6_addr.s6_addr[10] = 0xff;
		s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(s6->sin6_addr.s6_addr + 12, &s4->sin_addr, 4);
		return sizeof(*s6);
	}
	memcpy(out, ss, sizeof(struct sockaddr_in6));
	return sizeof(struct sockaddr_in6);
}

int wg_addr_equal(const struct wg_addr *a, const struct wg_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return 0;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return 0;
}

int wg_cidr_parse(const char *s, struct wg_cidr *out)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	long prefix = -1;

	memset(out, 0, sizeof(*out));
	if (hl >= sizeof(host) || hl == 0)
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (slash) {
		char *end;
		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (errno || *end || slash[1] == 0 || prefix < 0)
			return -EINVAL;
	}
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		if (prefix > 32)
			return -EINVAL;
		out->prefix = (uint8_t)(prefix < 0 ? 32 : prefix);
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		if (prefix > 128)
			return -EINVAL;
		out->prefix = (uint8_t)(prefix < 0 ? 128 : prefix);
	} else {
		return -EINVAL;
	}
	return 0;
}

int wg_cidr_match_raw(const struct wg_cidr *c, int family, const uint8_t *addr)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (family == AF_INET6 && c->family == AF_INET && memcmp(addr, v4mapped, 12) == 0) {
		family = AF_INET;
		addr += 12;
	}
	if (family != c->family)
		return 0;
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(addr, c->addr, full) != 0)
		return 0;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((addr[full] & mask) != (c->addr[full] & mask))
			return 0;
	}
	return 1;
}

int wg_cidr_match(const struct wg_cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return wg_cidr_match_raw(c, AF_INET,
					 (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return wg_cidr_match_raw(c, AF_INET6,
					 (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

/* --- address lists --- */

int wg_addrlist_add(struct wg_addrlist *l, const char *text, int bogon)
{
	struct wg_cidr c;
	if (wg_cidr_parse(text, &c) < 0)
		return -EINVAL;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		void *nv = realloc(l->v, ncap * sizeof(*l->v));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n].cidr = c;
	l->v[l->n].bogon = bogon ? 1 : 0;
	l->n++;
	return 0;
}

int wg_addrlist_match(const struct wg_addrlist *l, const uint8_t *addr, size_t alen)
{
	if (!l || (alen != 4 && alen != 16))
		return -1;
	int fam = alen == 4 ? AF_INET : AF_INET6;
	for (size_t i = 0; i < l->n; i++)
		if (wg_cidr_match_raw(&l->v[i].cidr, fam, addr))
			return (int)i;
	return -1;
}

void wg_addrlist_clear(struct wg_addrlist *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}
