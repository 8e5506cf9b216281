/* dnscrypt_proto.c: see dnscrypt_proto.h. */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "dnscrypt_proto.h"
#include "wire.h"

const uint8_t wg_dc_resolver_magic[WG_DC_MAGIC_LEN] = {0x72, 0x36, 0x66, 0x6e, 0x76, 0x57, 0x6a, 0x38};
static const uint8_t cert_magic[4] = {0x44, 0x4e, 0x53, 0x43}; /* "DNSC" */

#define STAMP_PREFIX "sdns://"
#define STAMP_MAX 1024 /* decoded bytes; a DNSCrypt stamp is ~100 */

static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
{
	if (err && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int wg_dc_stamp_parse(const char *s, struct wg_dc_stamp *out, char *err, size_t errcap)
{
	uint8_t b[STAMP_MAX];
	size_t blen = 0;
	const char *end = NULL;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, STAMP_PREFIX, strlen(STAMP_PREFIX)) != 0)
		return fail(err, errcap, -EINVAL, "stamp does not start with sdns://");
	s += strlen(STAMP_PREFIX);
	if (!*s)
		return fail(err, errcap, -EINVAL, "stamp is empty after sdns://");
	if (sodium_base642bin(b, sizeof(b), s, strlen(s), NULL, &blen, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    *end)
		return fail(err, errcap, -EINVAL,
			    "stamp is not valid base64url without padding (at offset %zu)",
			    (size_t)(end ? end - s : 0));
	if (blen < 1 || b[0] != 0x01)
		return fail(err, errcap, -EINVAL,
			    "not a DNSCrypt stamp (protocol 0x%02x, want 0x01)", blen ? b[0] : 0);
	size_t o = 1;
	if (blen < o + 8)
		return fail(err, errcap, -EINVAL, "stamp truncated in the properties");
	out->props = 0;
	for (int i = 7; i >= 0; i--)
		out->props = (out->props << 8) | b[o + (size_t)i]; /* little-endian */
	o += 8;

	/* LP(addr) */
	if (o >= blen)
		return fail(err, errcap, -EINVAL, "stamp truncated before the address");
	size_t l = b[o++];
	if (l == 0 || o + l > blen)
		return fail(err, errcap, -EINVAL, l ? "stamp truncated in the address"
						    : "stamp has an empty address");
	char addr[256];
	memcpy(addr, b + o, l);
	addr[l] = 0;
	o += l;
	if (addr[0] == ':' || wg_addr_parse(addr, 443, &out->addr) < 0)
		return fail(err, errcap, -EINVAL, "stamp has a bad address \"%s\"", addr);

	/* LP(pk) */
	if (o >= blen)
		return fail(err, errcap, -EINVAL, "stamp truncated before the provider key");
	l = b[o++];
	if (o + l > blen)
		return fail(err, errcap, -EINVAL, "stamp truncated in the provider key");
	if (l != WG_DC_KEY_LEN)
		return fail(err, errcap, -EINVAL,
			    "bad provider key length %zu in stamp (want 32 bytes)", l);
	memcpy(out->provider_pk, b + o, WG_DC_KEY_LEN);
	o += l;

	/* LP(providerName) */
	if (o >= blen)
		return fail(err, errcap, -EINVAL, "stamp is missing the provider name");
	l = b[o++];
	if (l == 0)
		return fail(err, errcap, -EINVAL, "stamp is missing the provider name");
	if (o + l > blen)
		return fail(err, errcap, -EINVAL, "stamp truncated in the provider name");
	if (l > sizeof(out->provider_name) - 2)
		return fail(err, errcap, -EINVAL, "provider name too long");
	memcpy(out->provider_name, b + o, l);
	out->provider_name[l] = 0;
	o += l;
	if (memchr(out->provider_name, 0, l))
		return fail(err, errcap, -EINVAL, "provider name contains a NUL byte");
	if (out->provider_name[l - 1] != '.') {
		out->provider_name[l] = '.';
		out->provider_name[l + 1] = 0;
	}
	uint8_t wire[WG_NAME_MAX];
	if (wg_wire_name_from_str(out->provider_name, wire) < 0)
		return fail(err, errcap, -EINVAL, "bad provider name \"%s\"", out->provider_name);
	if (o != blen)
		return fail(err, errcap, -EINVAL, "stamp has %zu trailing bytes", blen - o);
	return 0;
}

int wg_dc_stamp_format(const struct wg_dc_stamp *st, const char *addr_text, char *out, size_t cap)
{
	uint8_t b[STAMP_MAX];
	size_t o = 0, al = strlen(addr_text), nl = strlen(st->provider_name);

	if (nl > 1 && st->provider_name[nl - 1] == '.')
		nl--; /* stamps carry the name without the root dot */
	if (al > 255 || nl > 255 || 1 + 8 + 3 + al + WG_DC_KEY_LEN + nl > sizeof(b))
		return -ENOSPC;
	b[o++] = 0x01;
	for (int i = 0; i < 8; i++)
		b[o++] = (uint8_t)(st->props >> (8 * i));
	b[o++] = (uint8_t)al;
	memcpy(b + o, addr_text, al);
	o += al;
	b[o++] = WG_DC_KEY_LEN;
	memcpy(b + o, st->provider_pk, WG_DC_KEY_LEN);
	o += WG_DC_KEY_LEN;
	b[o++] = (uint8_t)nl;
	memcpy(b + o, st->provider_name, nl);
	o += nl;
	size_t need = strlen(STAMP_PREFIX) +
		      sodium_base64_ENCODED_LEN(o, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (need > cap)
		return -ENOSPC;
	memcpy(out, STAMP_PREFIX, strlen(STAMP_PREFIX));
	sodium_bin2base64(out + strlen(STAMP_PREFIX), cap - strlen(STAMP_PREFIX), b, o,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return (int)strlen(out);
}

/* A point of small order (including zero) gives an all-zero product for any
 * clamped scalar; crypto_scalarmult reports that as -1. */
static int key_is_weak(const uint8_t pk[WG_DC_KEY_LEN])
{
	static const uint8_t scalar[WG_DC_KEY_LEN] = {
		0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1,
		0x72, 0x51, 0xb2, 0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0,
		0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a};
	uint8_t q[WG_DC_KEY_LEN];
	if (sodium_is_zero(pk, WG_DC_KEY_LEN))
		return 1;
	int rc = crypto_scalarmult_curve25519(q, scalar, pk);
	sodium_memzero(q, sizeof(q));
	return rc != 0;
}

int wg_dc_cert_parse(const uint8_t *c, size_t len, const uint8_t provider_pk[WG_DC_KEY_LEN],
		     uint32_t now, struct wg_dc_cert *out, char *err, size_t errcap)
{
	memset(out, 0, sizeof(*out));
	if (len < WG_DC_CERT_MIN_LEN)
		return fail(err, errcap, -EBADMSG, "certificate too short (%zu bytes, want >= %d)",
			    len, WG_DC_CERT_MIN_LEN);
	if (memcmp(c, cert_magic, sizeof(cert_magic)) != 0)
		return fail(err, errcap, -EBADMSG, "certificate has a bad magic (not \"DNSC\")");
	out->es_version = wg_get16(c + 4);
	out->minor = wg_get16(c + 6);
	if (out->es_version != WG_DC_ES_XSALSA20 && out->es_version != WG_DC_ES_XCHACHA20)
		return fail(err, errcap, -EPROTONOSUPPORT,
			    "certificate es-version %u is not supported (skipped)", out->es_version);
	const uint8_t *sig = c + 8;
	const uint8_t *signed_part = c + 8 + WG_DC_SIG_LEN;
	size_t signed_len = len - 8 - WG_DC_SIG_LEN;
	if (crypto_sign_verify_detached(sig, signed_part, signed_len, provider_pk) != 0)
		return fail(err, errcap, -EKEYREJECTED,
			    "certificate signature does not verify with the stamp's provider key");
	memcpy(out->resolver_pk, signed_part, WG_DC_KEY_LEN);
	memcpy(out->client_magic, signed_part + 32, WG_DC_MAGIC_LEN);
	out->serial = wg_get32(signed_part + 40);
	out->ts_start = wg_get32(signed_part + 44);
	out->ts_end = wg_get32(signed_part + 48);
	/* extensions (signed_part + 52 ...) are covered by the signature and ignored */
	if (key_is_weak(out->resolver_pk))
		return fail(err, errcap, -EKEYREVOKED, "certificate serial %u has a weak resolver key",
			    out->serial);
	if (out->ts_end < now)
		return fail(err, errcap, -EKEYEXPIRED,
			    "certificate serial %u expired at %u (local time %u)", out->serial,
			    out->ts_end, now);
	if (out->ts_start > now)
		return fail(err, errcap, -ERANGE,
			    "certificate serial %u is not valid before %u (local time %u)",
			    out->serial, out->ts_start, now);
	return 0;
}

int wg_dc_cert_pick(const struct wg_dc_cert *certs, size_t n)
{
	int best = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (best < 0 || certs[i].serial > certs[best].serial ||
		    (certs[i].serial == certs[best].serial &&
		     certs[i].es_version > certs[best].es_version))
			best = (int)i;
	}
	return best;
}

int wg_dc_session_init(struct wg_dc_session *s, const struct wg_dc_cert *c,
		       const uint8_t client_pk[WG_DC_KEY_LEN], const uint8_t client_sk[WG_DC_KEY_LEN])
{
	int rc;
	memset(s, 0, sizeof(*s));
	s->cert = *c;
	memcpy(s->client_pk, client_pk, WG_DC_KEY_LEN);
	if (c->es_version == WG_DC_ES_XSALSA20)
		rc = crypto_box_beforenm(s->shared, c->resolver_pk, client_sk);
	else if (c->es_version == WG_DC_ES_XCHACHA20)
		rc = crypto_box_curve25519xchacha20poly1305_beforenm(s->shared, c->resolver_pk,
								     client_sk);
	else
		return -EPROTONOSUPPORT;
	return rc == 0 ? 0 : -EKEYREVOKED;
}

static size_t round_up(size_t n, size_t m)
{
	return (n + m - 1) / m * m;
}

size_t wg_dc_padded_len_udp(size_t len, size_t min_len)
{
	size_t p = round_up(len + 1, WG_DC_BLOCK);
	return p < min_len ? round_up(min_len, WG_DC_BLOCK) : p;
}

size_t wg_dc_padded_len_tcp(size_t len, uint32_t rnd)
{
	size_t p = round_up(len + 1, WG_DC_BLOCK);
	size_t extra_blocks = (WG_DC_TCP_MAX_PAD - (p - len)) / WG_DC_BLOCK;
	return p + (rnd % (extra_blocks + 1)) * WG_DC_BLOCK;
}

int wg_dc_pad(uint8_t *buf, size_t len, size_t padded_len, size_t cap)
{
	if (padded_len <= len || padded_len > cap)
		return -ENOSPC;
	buf[len] = 0x80;
	memset(buf + len + 1, 0, padded_len - len - 1);
	return 0;
}

int wg_dc_unpad(const uint8_t *buf, size_t len)
{
	while (len > 0) {
		len--;
		if (buf[len] == 0x80)
			return (int)len;
		if (buf[len] != 0)
			return -EBADMSG;
	}
	return -EBADMSG;
}

int wg_dc_seal(const struct wg_dc_session *s, const uint8_t nonce_half[WG_DC_HALF_NONCE],
	       const uint8_t *query, size_t qlen, size_t padded_len, uint8_t *out, size_t cap)
{
	uint8_t nonce[WG_DC_NONCE_LEN];
	if (padded_len <= qlen || WG_DC_QUERY_OVERHEAD + padded_len > cap)
		return -ENOSPC;
	uint8_t *plain = out + WG_DC_QUERY_OVERHEAD;
	memcpy(plain, query, qlen);
	wg_dc_pad(plain, qlen, padded_len, padded_len);
	memcpy(out, s->cert.client_magic, WG_DC_MAGIC_LEN);
	memcpy(out + WG_DC_MAGIC_LEN, s->client_pk, WG_DC_KEY_LEN);
	memcpy(out + WG_DC_MAGIC_LEN + WG_DC_KEY_LEN, nonce_half, WG_DC_HALF_NONCE);
	memcpy(nonce, nonce_half, WG_DC_HALF_NONCE);
	memset(nonce + WG_DC_HALF_NONCE, 0, WG_DC_NONCE_LEN - WG_DC_HALF_NONCE);
	/* libsodium's easy functions handle the overlap (tag in front of plain) */
	int rc;
	if (s->cert.es_version == WG_DC_ES_XCHACHA20)
		rc = crypto_box_curve25519xchacha20poly1305_easy_afternm(out + WG_DC_QUERY_HDR, plain,
									  padded_len, nonce, s->shared);
	else
		rc = crypto_box_easy_afternm(out + WG_DC_QUERY_HDR, plain, padded_len, nonce, s->shared);
	if (rc != 0)
		return -EINVAL;
	return (int)(WG_DC_QUERY_OVERHEAD + padded_len);
}

int wg_dc_open(const struct wg_dc_session *s, const uint8_t nonce_half[WG_DC_HALF_NONCE],
	       uint8_t *pkt, size_t len, const uint8_t **msg)
{
	uint8_t nonce[WG_DC_NONCE_LEN];
	if (len < WG_DC_REPLY_OVERHEAD + 1)
		return -EBADMSG;
	if (memcmp(pkt, wg_dc_resolver_magic, WG_DC_MAGIC_LEN) != 0)
		return -EBADMSG;
	if (sodium_memcmp(pkt + WG_DC_MAGIC_LEN, nonce_half, WG_DC_HALF_NONCE) != 0)
		return -EBADMSG;
	memcpy(nonce, pkt + WG_DC_MAGIC_LEN, WG_DC_NONCE_LEN);
	uint8_t *c = pkt + WG_DC_REPLY_HDR;
	size_t clen = len - WG_DC_REPLY_HDR;
	int rc;
	if (s->cert.es_version == WG_DC_ES_XCHACHA20)
		rc = crypto_box_curve25519xchacha20poly1305_open_easy_afternm(c, c, clen, nonce,
									       s->shared);
	else
		rc = crypto_box_open_easy_afternm(c, c, clen, nonce, s->shared);
	if (rc != 0)
		return -EBADMSG;
	int ml = wg_dc_unpad(c, clen - WG_DC_MAC_LEN);
	if (ml < 0)
		return -EBADMSG;
	*msg = c;
	return ml;
}

int wg_dc_cert_query(const char *provider_name, uint16_t id, uint8_t *out, size_t cap)
{
	uint8_t name[WG_NAME_MAX];
	int nl = wg_wire_name_from_str(provider_name, name);
	if (nl < 0)
		return -EINVAL;
	size_t need = WG_HDR_LEN + (size_t)nl + 4 + WG_OPT_LEN;
	if (need > cap)
		return -ENOSPC;
	memset(out, 0, WG_HDR_LEN);
	wg_put16(out, id);
	wg_put16(out + 2, WG_F_RD);
	wg_put16(out + 4, 1);
	wg_put16(out + 10, 1);
	size_t o = WG_HDR_LEN;
	memcpy(out + o, name, (size_t)nl);
	o += (size_t)nl;
	wg_put16(out + o, WG_TYPE_TXT);
	wg_put16(out + o + 2, 1);
	o += 4;
	/* OPT: root name, type 41, class = UDP size, TTL 0, rdlen 0 */
	out[o++] = 0;
	wg_put16(out + o, WG_TYPE_OPT);
	wg_put16(out + o + 2, WG_EDNS_ADVERTISE);
	memset(out + o + 4, 0, 6);
	o += 10;
	return (int)o;
}

int wg_dc_certs_from_reply(const uint8_t *pkt, size_t len, const uint8_t provider_pk[WG_DC_KEY_LEN],
			   uint32_t now, struct wg_dc_cert *certs, size_t max, size_t *n_good,
			   size_t *n_clock, char *err, size_t errcap)
{
	uint8_t joined[512];
	*n_good = 0;
	*n_clock = 0;
	if (len < WG_HDR_LEN)
		return fail(err, errcap, -EBADMSG, "certificate reply too short");
	uint16_t an = wg_get16(pkt + 6);
	struct wg_wire_iter it;
	struct wg_wire_rr rr;
	int next;
	if (wg_wire_iter_init(&it, pkt, len) < 0)
		return fail(err, errcap, -EBADMSG, "certificate reply: bad question");
	if (an == 0)
		fail(err, errcap, 0, "certificate reply has no answer (rcode %s)",
		     wg_wire_rcode_str(WG_RCODE(wg_get16(pkt + 2))));
	wg_wire_iter_at(&it, pkt, len, it.off, 0, an); /* the answer section only */
	while ((next = wg_wire_iter_next(&it, &rr)) != 0) {
		if (next < 0)
			return fail(err, errcap, -EBADMSG, "certificate reply: bad record");
		if (rr.type != WG_TYPE_TXT)
			continue;
		/* join the character-strings of one TXT record */
		size_t jl = 0, r = rr.rdata, rend = rr.rdata + rr.rdlen;
		int bad = 0;
		while (r < rend) {
			size_t sl = pkt[r++];
			if (r + sl > rend || jl + sl > sizeof(joined)) {
				bad = 1;
				break;
			}
			memcpy(joined + jl, pkt + r, sl);
			jl += sl;
			r += sl;
		}
		if (bad) {
			fail(err, errcap, 0, "certificate TXT record malformed or too long");
			continue;
		}
		struct wg_dc_cert c;
		int rc = wg_dc_cert_parse(joined, jl, provider_pk, now, &c, err, errcap);
		if (rc == -EKEYEXPIRED || rc == -ERANGE)
			(*n_clock)++;
		if (rc == 0 && *n_good < max)
			certs[(*n_good)++] = c;
	}
	return 0;
}
