/* test_dnscrypt.c: stamps, certificates, padding, sealing and opening, with
 * the test acting as the resolver through libsodium. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "dnscrypt_proto.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stamp_quad9),
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
	};
	return cmocka_run_group_tests_name("dnscrypt", tests, setup, NULL);
}
