/* test_dnscrypt.c: stamps, certificates, padding, sealing and opening, with
 * the test acting as the resolver through libsodium. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

#include <sodium.h>

#include <uv.h>

#include "dnscrypt.h"
#include "dnscrypt_proto.h"
#include "log.h"
#include "wire.h"

#define NOW 1700000000u

/* Real stamps from DNSCrypt/dnscrypt-resolvers v3/public-resolvers.md */
static const char *quad9_filter_pri =
	"sdns://AQMAAAAAAAAADDkuOS45Ljk6ODQ0MyBnyEe4yHWM0SAkVUO-dWdG3zTfHYTAC4xHA2jfgh2GPhkyLmRuc2NyeXB0LWNlcnQucXVhZDkubmV0";
static const char *quad9_nofilter_pri =
	"sdns://AQYAAAAAAAAADTkuOS45LjEwOjg0NDMgZ8hHuMh1jNEgJFVDvnVnRt803x2EwAuMRwNo34Idhj4ZMi5kbnNjcnlwdC1jZXJ0LnF1YWQ5Lm5ldA";
static const char *quad9_nofilter_ip6 =
	"sdns://AQYAAAAAAAAAElsyNjIwOmZlOjoxMF06ODQ0MyBnyEe4yHWM0SAkVUO-dWdG3zTfHYTAC4xHA2jfgh2GPhkyLmRuc2NyeXB0LWNlcnQucXVhZDkubmV0";
static const uint8_t quad9_pk[32] = {
	0x67, 0xc8, 0x47, 0xb8, 0xc8, 0x75, 0x8c, 0xd1, 0x20, 0x24, 0x55, 0x43, 0xbe, 0x75, 0x67, 0x46,
	0xdf, 0x34, 0xdf, 0x1d, 0x84, 0xc0, 0x0b, 0x8c, 0x47, 0x03, 0x68, 0xdf, 0x82, 0x1d, 0x86, 0x3e};

static int setup(void **state)
{
	(void)state;
	wg_log_set_level(WG_LOG_ERR); /* the transport tests warn on purpose */
	return sodium_init() < 0 ? -1 : 0;
}

static void test_stamp_quad9(void **state)
{
	struct wg_dc_stamp st;
	char err[128] = "";
	char buf[64];

	assert_int_equal(wg_dc_stamp_parse(quad9_filter_pri, &st, err, sizeof(err)), 0);
	wg_addr_format(&st.addr, buf, sizeof(buf));
	assert_string_equal(buf, "9.9.9.9:8443");
	assert_string_equal(st.provider_name, "2.dnscrypt-cert.quad9.net.");
	assert_memory_equal(st.provider_pk, quad9_pk, 32);
	assert_int_equal(st.props, 3); /* DNSSEC, no logs */

	assert_int_equal(wg_dc_stamp_parse(quad9_nofilter_pri, &st, err, sizeof(err)), 0);
	wg_addr_format(&st.addr, buf, sizeof(buf));
	assert_string_equal(buf, "9.9.9.10:8443");
	assert_int_equal(st.props, 6); /* no logs, no filter */
	assert_string_equal(st.provider_name, "2.dnscrypt-cert.quad9.net.");

	assert_int_equal(wg_dc_stamp_parse(quad9_nofilter_ip6, &st, err, sizeof(err)), 0);
	wg_addr_format(&st.addr, buf, sizeof(buf));
	assert_string_equal(buf, "[2620:fe::10]:8443");
}

/* AdGuard DNS non-filtering's provider key, from its stamp in
 * DNSCrypt/dnscrypt-resolvers v3/public-resolvers.md (adguard-dns-unfiltered) */
static const uint8_t adguard_pk[32] = {
	0xb5, 0xe8, 0x44, 0xd6, 0xb8, 0x3a, 0x3e, 0x3e, 0x12, 0x68, 0xeb, 0x68, 0x1f, 0xbe, 0xa7, 0x0d,
	0xe3, 0xc5, 0xfa, 0x68, 0xdb, 0xd6, 0x88, 0x14, 0x1d, 0xbf, 0x2e, 0xc0, 0x66, 0xb2, 0xda, 0xfa};

/* Two operators: Quad9 on two addresses, then AdGuard, all unfiltered. */
static void test_default_stamps(void **state)
{
	static const struct {
		const char *addr, *provider;
		const uint8_t *pk;
		uint64_t props;
	} want[] = {
		{"9.9.9.12:8443", "2.dnscrypt-cert.quad9.net.", quad9_pk, 6},
		{"149.112.112.12:8443", "2.dnscrypt-cert.quad9.net.", quad9_pk, 6},
		{"94.140.14.140:5443", "2.dnscrypt.unfiltered.ns1.adguard.com.", adguard_pk, 7},
	};
	struct wg_dc_stamp st;
	char err[128], buf[64];
	assert_int_equal(wg_dnscrypt_n_default_stamps, 3);
	for (size_t i = 0; i < wg_dnscrypt_n_default_stamps; i++) {
		assert_int_equal(wg_dc_stamp_parse(wg_dnscrypt_default_stamps[i], &st, err, sizeof(err)), 0);
		wg_addr_format(&st.addr, buf, sizeof(buf));
		assert_string_equal(buf, want[i].addr);
		assert_string_equal(st.provider_name, want[i].provider);
		assert_memory_equal(st.provider_pk, want[i].pk, 32);
		assert_int_equal(st.props, want[i].props);
		assert_true(st.props & 4); /* no filter */
		assert_true(st.props & 2); /* no logs */
	}
}

static void test_stamp_roundtrip_default_port(void **state)
{
	struct wg_dc_stamp st, back;
	char text[256], err[128];
	memset(&st, 0, sizeof(st));
	st.props = 7;
	randombytes_buf(st.provider_pk, 32);
	strcpy(st.provider_name, "2.dnscrypt-cert.example");
	assert_true(wg_dc_stamp_format(&st, "127.0.0.1", text, sizeof(text)) > 0);
	assert_int_equal(wg_dc_stamp_parse(text, &back, err, sizeof(err)), 0);
	assert_int_equal(wg_addr_port(&back.addr), 443);
	assert_memory_equal(back.provider_pk, st.provider_pk, 32);
	assert_string_equal(back.provider_name, "2.dnscrypt-cert.example.");
	assert_int_equal(back.props, 7);
}

/* Build raw stamp bytes and encode them, so each field can be broken. */
static void enc(const uint8_t *b, size_t n, char *out, size_t cap)
{
	strcpy(out, "sdns://");
	sodium_bin2base64(out + 7, cap - 7, b, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static size_t raw_stamp(uint8_t *b, uint8_t proto, const char *addr, size_t pklen, const char *name)
{
	size_t o = 0;
	b[o++] = proto;
	memset(b + o, 0, 8);
	o += 8;
	b[o++] = (uint8_t)strlen(addr);
	memcpy(b + o, addr, strlen(addr));
	o += strlen(addr);
	b[o++] = (uint8_t)pklen;
	memset(b + o, 0x42, pklen);
	o += pklen;
	if (name) {
		b[o++] = (uint8_t)strlen(name);
		memcpy(b + o, name, strlen(name));
		o += strlen(name);
	}
	return o;
}

static void expect_bad(const char *text, const char *needle)
{
	struct wg_dc_stamp st;
	char err[160] = "";
	assert_int_equal(wg_dc_stamp_parse(text, &st, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_stamp_malformed(void **state)
{
	uint8_t b[512];
	char t[1024];
	size_t n;

	expect_bad("https://example.com", "sdns://");
	expect_bad("sdns://", "empty");
	expect_bad("sdns://AQ!!AAAA", "base64");
	expect_bad("sdns://AQMAAAAAAAAADDkuOS45Ljk6ODQ0My==", "base64"); /* padding not allowed */
	n = raw_stamp(b, 0x02, "9.9.9.9", 32, "2.dnscrypt-cert.x");
	enc(b, n, t, sizeof(t));
	expect_bad(t, "not a DNSCrypt stamp");
	n = raw_stamp(b, 0x01, "9.9.9.9", 31, "2.dnscrypt-cert.x");
	enc(b, n, t, sizeof(t));
	expect_bad(t, "key length");
	n = raw_stamp(b, 0x01, "9.9.9.9:8443", 32, NULL);
	enc(b, n, t, sizeof(t));
	expect_bad(t, "missing the provider name");
	n = raw_stamp(b, 0x01, "9.9.9.9", 32, "");
	enc(b, n, t, sizeof(t));
	expect_bad(t, "missing the provider name");
	n = raw_stamp(b, 0x01, "not-an-ip", 32, "2.dnscrypt-cert.x");
	enc(b, n, t, sizeof(t));
	expect_bad(t, "bad address");
	n = raw_stamp(b, 0x01, "9.9.9.9:99999", 32, "2.dnscrypt-cert.x");
	enc(b, n, t, sizeof(t));
	expect_bad(t, "bad address");
	n = raw_stamp(b, 0x01, "9.9.9.9", 32, "2.dnscrypt-cert.x");
	b[n++] = 0xff;
	enc(b, n, t, sizeof(t));
	expect_bad(t, "trailing");
	n = raw_stamp(b, 0x01, "9.9.9.9", 32, "2.dnscrypt-cert.x");
	enc(b, n - 5, t, sizeof(t));
	expect_bad(t, "truncated");
	enc(b, 5, t, sizeof(t));
	expect_bad(t, "truncated");
}

/* --- certificates: the test is the provider and signs its own --- */

struct provider {
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

static size_t make_cert(uint8_t *c, const struct provider *p, uint16_t es, const uint8_t rpk[32],
			const char *magic, uint32_t serial, uint32_t start, uint32_t end)
{
	memcpy(c, "DNSC", 4);
	wg_put16(c + 4, es);
	wg_put16(c + 6, 0);
	uint8_t *s = c + 72;
	memcpy(s, rpk, 32);
	memcpy(s + 32, magic, 8);
	wg_put32(s + 40, serial);
	wg_put32(s + 44, start);
	wg_put32(s + 48, end);
	crypto_sign_detached(c + 8, NULL, s, 52, p->sk);
	return 124;
}

static void test_cert_checks(void **state)
{
	struct provider p, other;
	uint8_t rpk[32], rsk[32], c[200];
	struct wg_dc_cert cert;
	char err[160];
	size_t n;

	crypto_sign_keypair(p.pk, p.sk);
	crypto_sign_keypair(other.pk, other.sk);
	crypto_box_keypair(rpk, rsk);

	n = make_cert(c, &p, 1, rpk, "ABCDEFGH", 7, NOW - 10, NOW + 10);
	assert_int_equal(wg_dc_cert_parse(c, n, p.pk, NOW, &cert, err, sizeof(err)), 0);
	assert_int_equal(cert.es_version, 1);
	assert_int_equal(cert.serial, 7);
	assert_memory_equal(cert.client_magic, "ABCDEFGH", 8);
	assert_memory_equal(cert.resolver_pk, rpk, 32);
	/* ts_end is inclusive */
	assert_int_equal(wg_dc_cert_parse(c, n, p.pk, NOW + 10, &cert, err, sizeof(err)), 0);

	/* bad magic */
	c[0] = 'X';
	assert_int_equal(wg_dc_cert_parse(c, n, p.pk, NOW, &cert, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "magic"));
	c[0] = 'D';
	/* too short */
	assert_int_equal(wg_dc_cert_parse(c, 100, p.pk, NOW, &cert, err, sizeof(err)), -EBADMSG);
	/* signed by someone else */
	assert_int_equal(wg_dc_cert_parse(c, n, other.pk, NOW, &cert, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "signature"));
	/* a flipped bit in the signed part */
	c[100] ^= 1;
	assert_int_equal(wg_dc_cert_parse(c, n, p.pk, NOW, &cert, err, sizeof(err)), -EKEYREJECTED);
	c[100] ^= 1;
	/* expired, not yet valid */
	assert_int_equal(wg_dc_cert_parse(c, n, p.pk, NOW + 11, &cert, err, sizeof(err)), -EKEYEXPIRED);
	assert_non_null(strstr(err, "expired"));
	assert_int_equal(cert.serial, 7); /* filled: the caller can report the clock */
	assert_int_equal(wg_dc_cert_parse(c, n, p.pk, NOW - 11, &cert, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "not valid before"));
	/* unknown es-version is skipped, even when well signed */
	n = make_cert(c, &p, 3, rpk, "ABCDEFGH", 7, NOW - 10, NOW + 10);
	assert_int_equal(wg_dc_cert_parse(c, n, p.pk, NOW, &cert, err, sizeof(err)), -EPROTONOSUPPORT);
	/* weak keys: all zero, and a point of small order */
	uint8_t zero[32] = {0};
	n = make_cert(c, &p, 2, zero, "ABCDEFGH", 7, NOW - 10, NOW + 10);
	assert_int_equal(wg_dc_cert_parse(c, n, p.pk, NOW, &cert, err, sizeof(err)), -EKEYREVOKED);
	assert_non_null(strstr(err, "weak"));
	uint8_t one[32] = {1};
	n = make_cert(c, &p, 2, one, "ABCDEFGH", 7, NOW - 10, NOW + 10);
	assert_int_equal(wg_dc_cert_parse(c, n, p.pk, NOW, &cert, err, sizeof(err)), -EKEYREVOKED);
	/* extensions are covered by the signature and otherwise ignored */
	memcpy(c, "DNSC", 4);
	wg_put16(c + 4, 2);
	memcpy(c + 72, rpk, 32);
	memcpy(c + 104, "ABCDEFGH", 8);
	wg_put32(c + 112, 9);
	wg_put32(c + 116, NOW - 1);
	wg_put32(c + 120, NOW + 1);
	memcpy(c + 124, "ext!", 4);
	crypto_sign_detached(c + 8, NULL, c + 72, 56, p.sk);
	assert_int_equal(wg_dc_cert_parse(c, 128, p.pk, NOW, &cert, err, sizeof(err)), 0);
	assert_int_equal(cert.serial, 9);
	assert_int_equal(wg_dc_cert_parse(c, 124, p.pk, NOW, &cert, err, sizeof(err)), -EKEYREJECTED);
}

static void test_cert_pick(void **state)
{
	struct wg_dc_cert c[4];
	memset(c, 0, sizeof(c));
	assert_int_equal(wg_dc_cert_pick(c, 0), -ENOENT);
	c[0].serial = 5, c[0].es_version = 1;
	c[1].serial = 9, c[1].es_version = 1;
	c[2].serial = 9, c[2].es_version = 2;
	c[3].serial = 3, c[3].es_version = 2;
	assert_int_equal(wg_dc_cert_pick(c, 4), 2);
	assert_int_equal(wg_dc_cert_pick(c, 2), 1);
	c[1].es_version = 2, c[2].es_version = 1;
	assert_int_equal(wg_dc_cert_pick(c, 4), 1);
}

/* A TXT reply with several certificates: bad ones are skipped, and the
 * highest valid serial wins; expired ones are counted for the clock check. */
static void test_certs_from_reply(void **state)
{
	struct provider p;
	uint8_t rpk[32], rsk[32], pkt[2048], c[200];
	crypto_sign_keypair(p.pk, p.sk);
	crypto_box_keypair(rpk, rsk);

	int ql = wg_dc_cert_query("2.dnscrypt-cert.example.", 0x4242, pkt, sizeof(pkt));
	assert_true(ql > 0);
	size_t o = (size_t)ql - WG_OPT_LEN; /* drop the OPT, append answers */
	struct {
		uint16_t es;
		uint32_t serial, start, end;
	} set[] = {
		{1, 10, NOW - 5, NOW + 5},   /* good */
		{2, 12, NOW - 5, NOW + 5},   /* good, highest serial */
		{1, 50, NOW - 50, NOW - 20}, /* expired */
		{9, 60, NOW - 5, NOW + 5},   /* unknown version */
	};
	for (size_t i = 0; i < 4; i++) {
		size_t n = make_cert(c, &p, set[i].es, rpk, "MAGICMAG", set[i].serial, set[i].start,
				     set[i].end);
		pkt[o++] = 0xc0, pkt[o++] = 12;
		wg_put16(pkt + o, WG_TYPE_TXT), wg_put16(pkt + o + 2, 1), wg_put32(pkt + o + 4, 60);
		wg_put16(pkt + o + 8, (uint16_t)(n + 1));
		o += 10;
		pkt[o++] = (uint8_t)n;
		memcpy(pkt + o, c, n);
		o += n;
	}
	wg_put16(pkt + 2, WG_F_QR);
	wg_put16(pkt + 6, 4);
	wg_put16(pkt + 10, 0);
	struct wg_dc_cert certs[WG_DC_CERT_MAX];
	size_t good, clock;
	char err[160];
	assert_int_equal(wg_dc_certs_from_reply(pkt, o, p.pk, NOW, certs, WG_DC_CERT_MAX, &good,
						&clock, err, sizeof(err)),
			 0);
	assert_int_equal(good, 2);
	assert_int_equal(clock, 1);
	int best = wg_dc_cert_pick(certs, good);
	assert_int_equal(certs[best].serial, 12);
	assert_int_equal(certs[best].es_version, 2);
	/* truncated reply */
	assert_int_equal(wg_dc_certs_from_reply(pkt, o - 3, p.pk, NOW, certs, WG_DC_CERT_MAX, &good,
						&clock, err, sizeof(err)),
			 -EBADMSG);
}

static void test_padding(void **state)
{
	uint8_t buf[1024];

	/* UDP: minimum 256, multiples of 64, always at least one byte of padding */
	assert_int_equal(wg_dc_padded_len_udp(30, 256), 256);
	assert_int_equal(wg_dc_padded_len_udp(255, 256), 256);
	assert_int_equal(wg_dc_padded_len_udp(256, 256), 320);
	assert_int_equal(wg_dc_padded_len_udp(300, 256), 320);
	assert_int_equal(wg_dc_padded_len_udp(30, 320), 320);
	/* TCP: 1..256 bytes of padding and a multiple of 64 */
	for (size_t len = 12; len < 600; len += 7) {
		for (uint32_t r = 0; r < 10; r++) {
			size_t p = wg_dc_padded_len_tcp(len, r);
			assert_int_equal(p % 64, 0);
			assert_true(p > len && p - len <= 256);
		}
	}
	assert_int_equal(wg_dc_padded_len_tcp(56, 0), 64);
	assert_int_equal(wg_dc_padded_len_tcp(56, 3), 256);
	assert_int_equal(wg_dc_padded_len_tcp(56, 4), 64);

	/* round trips */
	for (size_t len = 0; len < 300; len++) {
		memset(buf, 0xaa, len);
		size_t p = wg_dc_padded_len_udp(len, 256);
		assert_int_equal(wg_dc_pad(buf, len, p, sizeof(buf)), 0);
		assert_int_equal(buf[len], 0x80);
		assert_int_equal(wg_dc_unpad(buf, p), (int)len);
	}
	/* message ending in 0x80 and 0x00 bytes survives */
	buf[0] = 0x80, buf[1] = 0;
	assert_int_equal(wg_dc_pad(buf, 2, 64, sizeof(buf)), 0);
	assert_int_equal(wg_dc_unpad(buf, 64), 2);
	/* no room */
	assert_int_equal(wg_dc_pad(buf, 64, 64, sizeof(buf)), -ENOSPC);
	assert_int_equal(wg_dc_pad(buf, 10, 2048, sizeof(buf)), -ENOSPC);
	/* malformed: all zero, a stray byte after the delimiter, empty */
	memset(buf, 0, 64);
	assert_int_equal(wg_dc_unpad(buf, 64), -EBADMSG);
	buf[10] = 0x80, buf[40] = 0x01;
	assert_int_equal(wg_dc_unpad(buf, 64), -EBADMSG);
	assert_int_equal(wg_dc_unpad(buf, 0), -EBADMSG);
	buf[63] = 0x7f;
	assert_int_equal(wg_dc_unpad(buf, 64), -EBADMSG);
}

/* --- seal/open: the test plays the resolver --- */

struct server {
	uint8_t pk[32], sk[32];
	struct wg_dc_cert cert;
};

static void server_init(struct server *s, uint16_t es)
{
	crypto_box_keypair(s->pk, s->sk);
	memset(&s->cert, 0, sizeof(s->cert));
	s->cert.es_version = es;
	memcpy(s->cert.resolver_pk, s->pk, 32);
	memcpy(s->cert.client_magic, "qmagic!!", 8);
	s->cert.serial = 1;
}

/* Decrypt a sealed query as the resolver; returns the query length. */
static int server_open_query(const struct server *s, const uint8_t *pkt, size_t len, uint8_t *q,
			     uint8_t client_pk[32], uint8_t nonce[24])
{
	uint8_t k[32];
	assert_memory_equal(pkt, "qmagic!!", 8);
	memcpy(client_pk, pkt + 8, 32);
	memcpy(nonce, pkt + 40, 12);
	memset(nonce + 12, 0, 12);
	if (s->cert.es_version == 2) {
		assert_int_equal(crypto_box_curve25519xchacha20poly1305_beforenm(k, client_pk, s->sk), 0);
		assert_int_equal(crypto_box_curve25519xchacha20poly1305_open_easy_afternm(
					 q, pkt + 52, len - 52, nonce, k),
				 0);
	} else {
		assert_int_equal(crypto_box_beforenm(k, client_pk, s->sk), 0);
		assert_int_equal(crypto_box_open_easy_afternm(q, pkt + 52, len - 52, nonce, k), 0);
	}
	return wg_dc_unpad(q, len - 52 - 16);
}

/* Encrypt a reply as the resolver. */
static size_t server_seal_reply(const struct server *s, const uint8_t client_pk[32],
				const uint8_t cnonce[12], const uint8_t *msg, size_t mlen, uint8_t *out)
{
	uint8_t k[32], nonce[24], plain[1024];
	memcpy(nonce, cnonce, 12);
	randombytes_buf(nonce + 12, 12);
	size_t p = mlen + 1 + 64 - ((mlen + 1) % 64 ? (mlen + 1) % 64 : 64);
	memcpy(plain, msg, mlen);
	assert_int_equal(wg_dc_pad(plain, mlen, p, sizeof(plain)), 0);
	memcpy(out, wg_dc_resolver_magic, 8);
	memcpy(out + 8, nonce, 24);
	if (s->cert.es_version == 2) {
		assert_int_equal(crypto_box_curve25519xchacha20poly1305_beforenm(k, client_pk, s->sk), 0);
		crypto_box_curve25519xchacha20poly1305_easy_afternm(out + 32, plain, p, nonce, k);
	} else {
		assert_int_equal(crypto_box_beforenm(k, client_pk, s->sk), 0);
		crypto_box_easy_afternm(out + 32, plain, p, nonce, k);
	}
	return 32 + 16 + p;
}

static void roundtrip(uint16_t es)
{
	struct server srv;
	struct wg_dc_session sess;
	uint8_t cpk[32], csk[32], nonce[12], query[64], pkt[2048], q[2048], rpk[32], rn[24];
	const uint8_t *msg;

	server_init(&srv, es);
	crypto_box_keypair(cpk, csk);
	assert_int_equal(wg_dc_session_init(&sess, &srv.cert, cpk, csk), 0);
	for (size_t i = 0; i < sizeof(query); i++)
		query[i] = (uint8_t)i;
	randombytes_buf(nonce, sizeof(nonce));

	int n = wg_dc_seal(&sess, nonce, query, sizeof(query), wg_dc_padded_len_udp(64, 256), pkt,
			   sizeof(pkt));
	assert_int_equal(n, 52 + 16 + 256);
	int ql = server_open_query(&srv, pkt, (size_t)n, q, rpk, rn);
	assert_int_equal(ql, sizeof(query));
	assert_memory_equal(q, query, sizeof(query));
	assert_memory_equal(rpk, cpk, 32);

	const uint8_t reply[] = "a DNS reply, pretend";
	size_t rl = server_seal_reply(&srv, rpk, rn, reply, sizeof(reply), pkt);
	uint8_t copy[2048];
	memcpy(copy, pkt, rl);
	assert_int_equal(wg_dc_open(&sess, nonce, pkt, rl, &msg), (int)sizeof(reply));
	assert_memory_equal(msg, reply, sizeof(reply));

	/* wrong resolver magic */
	memcpy(pkt, copy, rl);
	pkt[0] ^= 1;
	assert_int_equal(wg_dc_open(&sess, nonce, pkt, rl, &msg), -EBADMSG);
	/* a nonce that is not ours */
	memcpy(pkt, copy, rl);
	uint8_t other[12];
	memcpy(other, nonce, 12);
	other[3] ^= 0x10;
	assert_int_equal(wg_dc_open(&sess, other, pkt, rl, &msg), -EBADMSG);
	/* a tampered ciphertext */
	memcpy(pkt, copy, rl);
	pkt[rl - 1] ^= 1;
	assert_int_equal(wg_dc_open(&sess, nonce, pkt, rl, &msg), -EBADMSG);
	/* short */
	memcpy(pkt, copy, rl);
	assert_int_equal(wg_dc_open(&sess, nonce, pkt, 40, &msg), -EBADMSG);
	/* sealed by another resolver key */
	struct server evil;
	server_init(&evil, es);
	rl = server_seal_reply(&evil, rpk, rn, reply, sizeof(reply), pkt);
	assert_int_equal(wg_dc_open(&sess, nonce, pkt, rl, &msg), -EBADMSG);
	/* no room for the padded query */
	assert_int_equal(wg_dc_seal(&sess, nonce, query, sizeof(query), 256, pkt, 300), -ENOSPC);
}

static void test_seal_open_v1(void **state)
{
	roundtrip(WG_DC_ES_XSALSA20);
}

static void test_seal_open_v2(void **state)
{
	roundtrip(WG_DC_ES_XCHACHA20);
}

/* A reply whose plaintext padding is bad is rejected even though it opens. */
static void test_open_bad_padding(void **state)
{
	struct server srv;
	struct wg_dc_session sess;
	uint8_t cpk[32], csk[32], nonce[24], k[32], plain[64], pkt[256];
	const uint8_t *msg;

	server_init(&srv, 1);
	crypto_box_keypair(cpk, csk);
	assert_int_equal(wg_dc_session_init(&sess, &srv.cert, cpk, csk), 0);
	randombytes_buf(nonce, 24);
	memset(plain, 0x11, sizeof(plain)); /* no 0x80 delimiter at all */
	assert_int_equal(crypto_box_beforenm(k, cpk, srv.sk), 0);
	memcpy(pkt, wg_dc_resolver_magic, 8);
	memcpy(pkt + 8, nonce, 24);
	crypto_box_easy_afternm(pkt + 32, plain, sizeof(plain), nonce, k);
	assert_int_equal(wg_dc_open(&sess, nonce, pkt, 32 + 16 + 64, &msg), -EBADMSG);
}

static void test_session_weak(void **state)
{
	struct wg_dc_cert c;
	struct wg_dc_session s;
	uint8_t cpk[32], csk[32];
	memset(&c, 0, sizeof(c));
	crypto_box_keypair(cpk, csk);
	c.es_version = 1;
	assert_int_equal(wg_dc_session_init(&s, &c, cpk, csk), -EKEYREVOKED);
	c.es_version = 2;
	assert_int_equal(wg_dc_session_init(&s, &c, cpk, csk), -EKEYREVOKED);
	c.es_version = 7;
	assert_int_equal(wg_dc_session_init(&s, &c, cpk, csk), -EPROTONOSUPPORT);
}


/* --- the transport against an in-process fake resolver on loopback --- */

/* FAKE_CERT_TCP: certificate queries over UDP go unanswered, so the
 * client must fetch them over TCP */
enum fake_mode { FAKE_OK, FAKE_GARBAGE_FIRST, FAKE_SILENT, FAKE_TC, FAKE_CERT_TCP };

struct fake {
	uv_udp_t udp;
	uv_tcp_t tcp;
	uint16_t port;
	int tcp_queries;
	enum fake_mode mode;
	struct provider prov;
	uint8_t pk[32], sk[32];
	uint32_t serial;
	int32_t valid_from, valid_to; /* relative to now, seconds */
	int cert_queries, dc_queries, tcp_cert_queries;
	size_t last_query_len;
};

struct outcome {
	int called;
	struct wg_upstream_reply rep;
	uint8_t pkt[512];
};

static void fake_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	static uint8_t buf[4096];
	b->base = (char *)buf;
	b->len = sizeof(buf);
}

static void fake_send(struct fake *f, const uint8_t *p, size_t n, const struct sockaddr *to)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	assert_true(uv_udp_try_send(&f->udp, &b, 1, to) == (int)n);
}

/* The TXT answer with one certificate to the query q; its length. */
static size_t fake_cert_build(struct fake *f, const uint8_t *q, size_t n, uint8_t *out)
{
	struct wg_query_info qi;
	uint8_t c[200];
	assert_int_equal(wg_wire_parse_query(q, n, &qi), 0);
	size_t o = qi.question_end;
	memcpy(out, q, o);
	wg_put16(out + 2, WG_F_QR | WG_F_AA);
	wg_put16(out + 6, 1), wg_put16(out + 8, 0), wg_put16(out + 10, 0);
	uint32_t now = (uint32_t)time(NULL);
	size_t cl = make_cert(c, &f->prov, 2, f->pk, "fakemagc", f->serial,
			      (uint32_t)((int64_t)now + f->valid_from), (uint32_t)((int64_t)now + f->valid_to));
	out[o++] = 0xc0, out[o++] = 12;
	wg_put16(out + o, WG_TYPE_TXT), wg_put16(out + o + 2, 1), wg_put32(out + o + 4, 60);
	wg_put16(out + o + 8, (uint16_t)(cl + 1));
	o += 10;
	out[o++] = (uint8_t)cl;
	memcpy(out + o, c, cl);
	return o + cl;
}

static void fake_cert_reply(struct fake *f, const uint8_t *q, size_t n, const struct sockaddr *to)
{
	uint8_t out[1024];
	if (f->mode == FAKE_CERT_TCP)
		return;
	fake_send(f, out, fake_cert_build(f, q, n, out), to);
}

/* Seal msg for the client as the resolver with the given client nonce half. */
static size_t fake_seal(struct fake *f, const uint8_t cpk[32], const uint8_t cn[12], const uint8_t *msg,
			size_t ml, uint8_t *out)
{
	struct server s;
	memcpy(s.pk, f->pk, 32);
	memcpy(s.sk, f->sk, 32);
	s.cert.es_version = 2;
	return server_seal_reply(&s, cpk, cn, msg, ml, out);
}

/* Open a sealed query as the resolver and build the A answer (or, with
 * truncate, an empty TC=1 reply). Fills cpk and nonce for sealing. */
static size_t fake_answer(struct fake *f, const uint8_t *p, size_t n, int truncate, uint8_t cpk[32],
			  uint8_t nonce[24], uint8_t *ans)
{
	uint8_t k[32], plain[2048];
	memcpy(cpk, p + 8, 32);
	memcpy(nonce, p + 40, 12);
	memset(nonce + 12, 0, 12);
	assert_int_equal(crypto_box_curve25519xchacha20poly1305_beforenm(k, cpk, f->sk), 0);
	assert_int_equal(crypto_box_curve25519xchacha20poly1305_open_easy_afternm(plain, p + 52, n - 52,
										   nonce, k),
			 0);
	int ql = wg_dc_unpad(plain, n - 52 - 16);
	assert_true(ql > 0);
	struct wg_query_info qi;
	assert_int_equal(wg_wire_parse_query(plain, (size_t)ql, &qi), 0);
	size_t o = qi.question_end;
	memcpy(ans, plain, o);
	wg_put16(ans + 2, (uint16_t)(WG_F_QR | WG_F_RD | WG_F_RA | (truncate ? WG_F_TC : 0)));
	wg_put16(ans + 6, truncate ? 0 : 1), wg_put16(ans + 8, 0), wg_put16(ans + 10, 0);
	if (truncate)
		return o;
	ans[o++] = 0xc0, ans[o++] = 12;
	wg_put16(ans + o, WG_TYPE_A), wg_put16(ans + o + 2, 1), wg_put32(ans + o + 4, 4);
	wg_put16(ans + o + 8, 4);
	o += 10;
	memcpy(ans + o, "\xc0\x00\x02\x01", 4);
	return o + 4;
}

static void fake_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
		      unsigned flags)
{
	struct fake *f = h->data;
	const uint8_t *p = (const uint8_t *)buf->base;
	uint8_t cpk[32], nonce[24], ans[512], plain[512], out[1024];
	if (n <= 0 || !from)
		return;
	if ((size_t)n < 60 || memcmp(p, "fakemagc", 8) != 0) {
		f->cert_queries++;
		fake_cert_reply(f, p, (size_t)n, from);
		return;
	}
	f->dc_queries++;
	f->last_query_len = (size_t)n;
	if (f->mode == FAKE_SILENT)
		return;
	size_t o = fake_answer(f, p, (size_t)n, f->mode == FAKE_TC, cpk, nonce, ans);
	if (f->mode == FAKE_GARBAGE_FIRST) {
		uint8_t other[12];
		memcpy(other, nonce, 12);
		other[0] ^= 0x55; /* not our nonce */
		size_t l = fake_seal(f, cpk, other, ans, o, out);
		fake_send(f, out, l, from);
		randombytes_buf(out, 200); /* noise */
		fake_send(f, out, 200, from);
		memcpy(plain, ans, o); /* a well-sealed reply to another question */
		wg_put16(plain, (uint16_t)(wg_get16(ans) ^ 1));
		l = fake_seal(f, cpk, nonce, plain, o, out);
		fake_send(f, out, l, from);
	}
	size_t l = fake_seal(f, cpk, nonce, ans, o, out);
	fake_send(f, out, l, from);
}

/* TCP side: one framed query per connection, one framed reply. */
struct fake_conn {
	uv_tcp_t h;
	uv_write_t w;
	struct fake *f;
	size_t have;
	uint8_t in[2048];
	uint8_t out[1024];
};

static void conn_closed(uv_handle_t *h)
{
	free(h->data);
}

static void conn_written(uv_write_t *w, int status)
{
	struct fake_conn *c = w->data;
	uv_close((uv_handle_t *)&c->h, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	struct fake_conn *c = h->data;
	b->base = (char *)c->in + c->have;
	b->len = sizeof(c->in) - c->have;
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct fake_conn *c = s->data;
	uint8_t cpk[32], nonce[24], ans[512];
	if (n < 0) {
		uv_close((uv_handle_t *)&c->h, conn_closed);
		return;
	}
	c->have += (size_t)n;
	if (c->have < 2 || c->have < 2 + (size_t)wg_get16(c->in))
		return;
	uv_read_stop(s);
	size_t ql = wg_get16(c->in), l;
	if (ql < 60 || memcmp(c->in + 2, "fakemagc", 8) != 0) {
		/* a plain certificate query */
		c->f->tcp_cert_queries++;
		l = fake_cert_build(c->f, c->in + 2, ql, c->out + 2);
	} else {
		c->f->tcp_queries++;
		assert_int_equal((ql - 68) % 64, 0); /* TCP padding: a multiple of 64 */
		size_t o = fake_answer(c->f, c->in + 2, ql, 0, cpk, nonce, ans);
		l = fake_seal(c->f, cpk, nonce, ans, o, c->out + 2);
	}
	wg_put16(c->out, (uint16_t)l);
	uv_buf_t wb = uv_buf_init((char *)c->out, (unsigned)(l + 2));
	c->w.data = c;
	assert_int_equal(uv_write(&c->w, s, &wb, 1, conn_written), 0);
}

static void fake_accept(uv_stream_t *srv, int status)
{
	struct fake *f = srv->data;
	struct fake_conn *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->f = f;
	uv_tcp_init(srv->loop, &c->h);
	c->h.data = c;
	assert_int_equal(uv_accept(srv, (uv_stream_t *)&c->h), 0);
	uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read);
}

static void fake_start(uv_loop_t *loop, struct fake *f, enum fake_mode mode)
{
	struct sockaddr_in sin;
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->serial = 3;
	f->valid_from = -60;
	f->valid_to = 3600;
	crypto_sign_keypair(f->prov.pk, f->prov.sk);
	crypto_box_keypair(f->pk, f->sk);
	/* UDP and TCP on the same port number, as a DNSCrypt server has. A
	 * port free for UDP may be taken for TCP by another test running in
	 * parallel: draw again until both bind. */
	int tfd = -1, ufd = -1;
	for (int tries = 0; tries < 50; tries++) {
		socklen_t sl = sizeof(sin);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		tfd = socket(AF_INET, SOCK_STREAM, 0);
		ufd = socket(AF_INET, SOCK_DGRAM, 0);
		assert_true(tfd >= 0 && ufd >= 0);
		if (bind(tfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    getsockname(tfd, (struct sockaddr *)&sin, &sl) == 0 &&
		    bind(ufd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			break;
		close(tfd);
		close(ufd);
		tfd = ufd = -1;
	}
	assert_true(tfd >= 0);
	f->port = ntohs(sin.sin_port);
	assert_int_equal(uv_udp_init(loop, &f->udp), 0);
	f->udp.data = f;
	assert_int_equal(uv_udp_open(&f->udp, ufd), 0);
	assert_int_equal(uv_udp_recv_start(&f->udp, fake_alloc, fake_recv), 0);
	assert_int_equal(uv_tcp_init(loop, &f->tcp), 0);
	f->tcp.data = f;
	assert_int_equal(uv_tcp_open(&f->tcp, tfd), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&f->tcp, 8, fake_accept), 0);
}

static void fake_stamp(const struct fake *f, const uint8_t *pk, char *out, size_t cap)
{
	struct wg_dc_stamp st;
	char addr[32];
	memset(&st, 0, sizeof(st));
	memcpy(st.provider_pk, pk, 32);
	strcpy(st.provider_name, "2.dnscrypt-cert.fake.test");
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", f->port);
	assert_true(wg_dc_stamp_format(&st, addr, out, cap) > 0);
}

static void on_outcome(void *arg, const struct wg_upstream_reply *r)
{
	struct outcome *o = arg;
	o->called++;
	o->rep = *r;
	if (r->pkt && r->len <= sizeof(o->pkt)) {
		memcpy(o->pkt, r->pkt, r->len);
		o->rep.pkt = o->pkt;
	}
}

static void make_qi(struct wg_query_info *qi)
{
	struct wg_query_info t;
	uint8_t q[512];
	memset(&t, 0, sizeof(t));
	t.qname_len = (uint16_t)wg_wire_name_from_str("www.Example.test.", t.qname);
	t.qtype = WG_TYPE_A, t.qclass = 1, t.flags = WG_F_RD;
	int n = wg_wire_build_query(q, sizeof(q), &t, 7);
	assert_true(n > 0);
	assert_int_equal(wg_wire_parse_query(q, (size_t)n, qi), 0);
}

static void run_until(uv_loop_t *loop, const int *flag, int want)
{
	for (int i = 0; i < 2000 && *flag < want; i++)
		uv_run(loop, UV_RUN_ONCE);
}

static void teardown_loop(uv_loop_t *loop, struct wg_dnscrypt *d, struct fake *f)
{
	wg_dnscrypt_free(d);
	uv_close((uv_handle_t *)&f->udp, NULL);
	uv_close((uv_handle_t *)&f->tcp, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0); /* every handle was closed */
}

/* A loop, the fake resolver in mode and a client of it (its stamp names
 * the fake's provider key). */
static struct wg_dnscrypt *fake_client(uv_loop_t *loop, struct fake *f, enum fake_mode mode,
				       uint32_t timeout_ms)
{
	char stamp[256], err[200];
	const char *stamps[1] = {stamp};
	uv_loop_init(loop);
	fake_start(loop, f, mode);
	fake_stamp(f, f->prov.pk, stamp, sizeof(stamp));
	struct wg_dnscrypt *d = wg_dnscrypt_new(loop, stamps, 1, timeout_ms, err, sizeof(err));
	assert_non_null(d);
	return d;
}

static void test_transport_answer_and_discard(void **state)
{
	uv_loop_t loop;
	struct fake f;
	struct outcome o = {0};
	struct wg_query_info qi;
	struct wg_dnscrypt_stats st;

	struct wg_dnscrypt *d = fake_client(&loop, &f, FAKE_OK, 1000);
	make_qi(&qi);
	/* the certificate is still being fetched: the query waits for it */
	assert_int_equal(wg_dnscrypt_query(d, &qi, on_outcome, &o, NULL), 0);
	run_until(&loop, &o.called, 1);
	assert_int_equal(o.called, 1);
	assert_int_equal(o.rep.status, 0);
	assert_int_equal(o.rep.authenticated, 1);
	assert_int_equal(o.rep.tcp, 0);
	assert_int_equal(o.rep.server, 0);
	assert_int_equal(wg_wire_reply_matches(o.rep.pkt, o.rep.len, wg_get16(o.rep.pkt), &qi), 0);
	assert_int_equal(wg_dnscrypt_cert_serial(d, 0), 3);
	assert_int_equal(wg_dnscrypt_ready(d), 1);
	/* UDP queries are padded to at least 256 bytes: 68 + 256 on the wire */
	assert_int_equal(f.last_query_len, 68 + 256);

	/* forged and stray replies are discarded and counted; the good one wins */
	f.mode = FAKE_GARBAGE_FIRST;
	o.called = 0;
	assert_int_equal(wg_dnscrypt_query(d, &qi, on_outcome, &o, NULL), 0);
	run_until(&loop, &o.called, 1);
	assert_int_equal(o.called, 1);
	assert_int_equal(o.rep.status, 0);
	wg_dnscrypt_get_stats(d, &st);
	assert_int_equal(st.bad_replies, 3);
	assert_int_equal(st.replies, 2);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.cert_fetch_failures, 0);
	assert_int_equal(f.cert_queries, 1);
	teardown_loop(&loop, d, &f);
}

static void test_transport_timeout_and_cancel(void **state)
{
	uv_loop_t loop;
	struct fake f;
	struct outcome o = {0}, never = {0};
	struct wg_query_info qi;
	struct wg_dnscrypt_req *req = NULL;
	struct wg_dnscrypt_stats st;

	struct wg_dnscrypt *d = fake_client(&loop, &f, FAKE_SILENT, 100);
	make_qi(&qi);
	assert_int_equal(wg_dnscrypt_query(d, &qi, on_outcome, &never, &req), 0);
	assert_non_null(req);
	wg_dnscrypt_cancel(req);
	assert_int_equal(wg_dnscrypt_query(d, &qi, on_outcome, &o, NULL), 0);
	run_until(&loop, &o.called, 1);
	assert_int_equal(o.called, 1);
	assert_int_equal(o.rep.status, -ETIMEDOUT);
	assert_int_equal(o.rep.server, -1);
	assert_int_equal(never.called, 0);
	wg_dnscrypt_get_stats(d, &st);
	assert_int_equal(st.timeouts, 2); /* one server: two tries */
	assert_int_equal(f.dc_queries, 2);
	teardown_loop(&loop, d, &f);
}

static void test_transport_wrong_key(void **state)
{
	uv_loop_t loop;
	struct fake f;
	struct outcome o = {0};
	struct wg_query_info qi;
	struct wg_dnscrypt_stats st;
	struct provider other;
	char stamp[256], err[200];
	const char *stamps[1] = {stamp};

	uv_loop_init(&loop);
	fake_start(&loop, &f, FAKE_OK);
	crypto_sign_keypair(other.pk, other.sk);
	fake_stamp(&f, other.pk, stamp, sizeof(stamp));
	struct wg_dnscrypt *d = wg_dnscrypt_new(&loop, stamps, 1, 1000, err, sizeof(err));
	assert_non_null(d);
	make_qi(&qi);
	assert_int_equal(wg_dnscrypt_query(d, &qi, on_outcome, &o, NULL), 0);
	run_until(&loop, &o.called, 1);
	assert_int_equal(o.rep.status, -ENOKEY);
	/* no certificate and no fetch in progress: refused at once */
	assert_int_equal(wg_dnscrypt_query(d, &qi, on_outcome, &o, NULL), -ENOKEY);
	wg_dnscrypt_get_stats(d, &st);
	assert_int_equal(st.cert_fetch_failures, 1);
	assert_int_equal(st.sent, 0);
	assert_int_equal(f.dc_queries, 0);
	teardown_loop(&loop, d, &f);
}

/* TC=1 over UDP: the same question goes over TCP, and later UDP queries are
 * padded 64 bytes more (the spec's growing minimum query length). */
static void test_transport_truncated_to_tcp(void **state)
{
	uv_loop_t loop;
	struct fake f;
	struct outcome o = {0};
	struct wg_query_info qi;
	struct wg_dnscrypt_stats st;

	struct wg_dnscrypt *d = fake_client(&loop, &f, FAKE_TC, 1000);
	make_qi(&qi);
	assert_int_equal(wg_dnscrypt_query(d, &qi, on_outcome, &o, NULL), 0);
	run_until(&loop, &o.called, 1);
	assert_int_equal(o.rep.status, 0);
	assert_int_equal(o.rep.tcp, 1);
	assert_int_equal(wg_get16(o.rep.pkt + 6), 1); /* the whole answer */
	assert_int_equal(f.last_query_len, 68 + 256);
	assert_int_equal(f.tcp_queries, 1);
	f.mode = FAKE_OK;
	o.called = 0;
	assert_int_equal(wg_dnscrypt_query(d, &qi, on_outcome, &o, NULL), 0);
	run_until(&loop, &o.called, 1);
	assert_int_equal(o.rep.status, 0);
	assert_int_equal(o.rep.tcp, 0);
	assert_int_equal(f.last_query_len, 68 + 320);
	wg_dnscrypt_get_stats(d, &st);
	assert_int_equal(st.tcp_retries, 1);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.replies, 2);
	teardown_loop(&loop, d, &f);
}

/* Certificates that do not come over UDP are fetched over TCP, and the
 * sealed queries then go over UDP as usual. */
static void test_transport_cert_over_tcp(void **state)
{
	uv_loop_t loop;
	struct fake f;
	struct outcome o = {0};
	struct wg_query_info qi;

	struct wg_dnscrypt *d = fake_client(&loop, &f, FAKE_CERT_TCP, 300);
	make_qi(&qi);
	assert_int_equal(wg_dnscrypt_query(d, &qi, on_outcome, &o, NULL), 0);
	run_until(&loop, &o.called, 1);
	assert_int_equal(o.rep.status, 0);
	assert_int_equal(o.rep.authenticated, 1);
	assert_int_equal(o.rep.tcp, 0);
	assert_true(f.cert_queries >= 1);     /* asked over UDP, unanswered */
	assert_int_equal(f.tcp_cert_queries, 1);
	assert_int_equal(f.dc_queries, 1);
	assert_int_equal(f.tcp_queries, 0);
	teardown_loop(&loop, d, &f);
}

/* A well-signed certificate that is not valid yet: no answer, and the log
 * says the local clock may be off. */
static void test_transport_clock_off(void **state)
{
	uv_loop_t loop;
	struct fake f;
	struct outcome o = {0};
	struct wg_query_info qi;
	char stamp[256], err[200], logged[4096] = "";
	const char *stamps[1] = {stamp};

	uv_loop_init(&loop);
	fake_start(&loop, &f, FAKE_OK);
	f.valid_from = 86400;
	f.valid_to = 2 * 86400;
	fake_stamp(&f, f.prov.pk, stamp, sizeof(stamp));
	/* capture stderr, where the log goes */
	FILE *cap = tmpfile();
	assert_non_null(cap);
	fflush(stderr);
	int saved = dup(2);
	dup2(fileno(cap), 2);
	wg_log_set_level(WG_LOG_WARN);
	struct wg_dnscrypt *d = wg_dnscrypt_new(&loop, stamps, 1, 1000, err, sizeof(err));
	assert_non_null(d);
	make_qi(&qi);
	assert_int_equal(wg_dnscrypt_query(d, &qi, on_outcome, &o, NULL), 0);
	run_until(&loop, &o.called, 1);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	wg_log_set_level(WG_LOG_ERR);
	rewind(cap);
	size_t n = fread(logged, 1, sizeof(logged) - 1, cap);
	logged[n] = 0;
	fclose(cap);
	assert_int_equal(o.rep.status, -ENOKEY);
	assert_non_null(strstr(logged, "is the clock off?"));
	assert_non_null(strstr(logged, "not valid before"));
	teardown_loop(&loop, d, &f);
}

static void test_transport_bad_stamp(void **state)
{
	uv_loop_t loop;
	char err[200] = "";
	const char *stamps[2] = {quad9_filter_pri, "sdns://AgAAAAAAAAAAAAA"};
	uv_loop_init(&loop);
	assert_null(wg_dnscrypt_new(&loop, stamps, 2, 1000, err, sizeof(err)));
	assert_non_null(strstr(err, "stamp 2"));
	assert_non_null(strstr(err, "not a DNSCrypt stamp"));
	assert_null(wg_dnscrypt_new(&loop, stamps, 0, 1000, err, sizeof(err)));
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stamp_quad9),
		cmocka_unit_test(test_default_stamps),
		cmocka_unit_test(test_stamp_roundtrip_default_port),
		cmocka_unit_test(test_stamp_malformed),
		cmocka_unit_test(test_cert_checks),
		cmocka_unit_test(test_cert_pick),
		cmocka_unit_test(test_certs_from_reply),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_seal_open_v1),
		cmocka_unit_test(test_seal_open_v2),
		cmocka_unit_test(test_open_bad_padding),
		cmocka_unit_test(test_session_weak),
		cmocka_unit_test(test_transport_answer_and_discard),
		cmocka_unit_test(test_transport_timeout_and_cancel),
		cmocka_unit_test(test_transport_wrong_key),
		cmocka_unit_test(test_transport_truncated_to_tcp),
		cmocka_unit_test(test_transport_cert_over_tcp),
		cmocka_unit_test(test_transport_clock_off),
		cmocka_unit_test(test_transport_bad_stamp),
	};
	return cmocka_run_group_tests_name("dnscrypt", tests, setup, NULL);
}
