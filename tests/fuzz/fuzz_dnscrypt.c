/* fuzz_dnscrypt.c: what a DNSCrypt resolver (or anyone on the path) can
 * send us: certificate TXT replies, certificates that do carry a good
 * signature (signed here with a fixed provider key, so the checks behind
 * the signature are reached too), sealed replies opened with a real
 * session, and stamps from the config file.
 *
 * Input: byte 0 picks the mode, the rest is its data. */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <sodium.h>

#include "dnscrypt_proto.h"
#include "fuzz.h"
#include "wire.h"

static uint8_t provider_pk[crypto_sign_PUBLICKEYBYTES], provider_sk[crypto_sign_SECRETKEYBYTES];
static uint8_t client_pk[WG_DC_KEY_LEN], client_sk[WG_DC_KEY_LEN];
static int ready;

static void setup(void)
{
	if (ready)
		return;
	FUZZ_CHECK(sodium_init() >= 0);
	uint8_t seed[crypto_sign_SEEDBYTES];
	memset(seed, 7, sizeof(seed)); /* fixed keys: replays are reproducible */
	crypto_sign_seed_keypair(provider_pk, provider_sk, seed);
	memset(seed, 9, sizeof(seed));
	crypto_box_seed_keypair(client_pk, client_sk, seed);
	ready = 1;
}

/* "DNSC" es-version minor signature signed-part: the signed part comes from
 * the input (padded to the 52 bytes a certificate needs). */
static size_t make_cert(const uint8_t *d, size_t n, uint8_t *cert, size_t cap)
{
	size_t body = n < 52 ? 52 : n;
	if (8 + WG_DC_SIG_LEN + body > cap)
		return 0;
	memcpy(cert, "DNSC", 4);
	wg_put16(cert + 4, (uint16_t)(n ? 1 + (d[0] & 1) : 2)); /* 1 or 2; 3 is tried below */
	wg_put16(cert + 6, 0);
	uint8_t *sp = cert + 8 + WG_DC_SIG_LEN;
	memset(sp, 0, body);
	memcpy(sp, d, n);
	crypto_sign_detached(cert + 8, NULL, sp, body, provider_sk);
	return 8 + WG_DC_SIG_LEN + body;
}

static void fuzz_signed_cert(const uint8_t *d, size_t n)
{
	uint8_t cert[4096];
	size_t cl = make_cert(d, n, cert, sizeof(cert));
	if (!cl)
		return;
	struct wg_dc_cert c;
	char err[256];
	uint32_t now = 1700000000u;
	int rc = wg_dc_cert_parse(cert, cl, provider_pk, now, &c, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -EKEYREVOKED || rc == -EKEYEXPIRED || rc == -ERANGE);
	if (rc != 0) {
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) && err[0]);
		return;
	}
	FUZZ_CHECK(c.ts_start <= now && c.ts_end >= now);
	/* one bit flipped anywhere in the signed part: rejected */
	cert[cl - 1] ^= 1;
	FUZZ_CHECK(wg_dc_cert_parse(cert, cl, provider_pk, now, &c, NULL, 0) == -EKEYREJECTED);
	cert[cl - 1] ^= 1;
	FUZZ_CHECK(wg_dc_cert_parse(cert, cl, provider_pk, now, &c, NULL, 0) == 0);

	struct wg_dc_session s;
	rc = wg_dc_session_init(&s, &c, client_pk, client_sk);
	FUZZ_CHECK(rc == 0 || rc == -EKEYREVOKED);
	if (rc)
		return;
	/* a reply sealed the way a resolver seals it: the input's bytes are
	 * the padded plaintext, so the padding may be good or bad */
	uint8_t half[WG_DC_HALF_NONCE], nonce[WG_DC_NONCE_LEN];
	memset(half, 0x5a, sizeof(half));
	memcpy(nonce, half, sizeof(half));
	memset(nonce + WG_DC_HALF_NONCE, 0xa5, WG_DC_NONCE_LEN - WG_DC_HALF_NONCE);
	size_t plen = n > 52 ? n - 52 : 0;
	const uint8_t *plain = d + (n - plen);
	static uint8_t pkt[WG_DC_REPLY_OVERHEAD + 4096];
	if (plen == 0 || WG_DC_REPLY_OVERHEAD + plen > sizeof(pkt))
		return;
	memcpy(pkt, wg_dc_resolver_magic, WG_DC_MAGIC_LEN);
	memcpy(pkt + WG_DC_MAGIC_LEN, nonce, WG_DC_NONCE_LEN);
	if (c.es_version == WG_DC_ES_XCHACHA20)
		crypto_box_curve25519xchacha20poly1305_easy_afternm(pkt + WG_DC_REPLY_HDR, plain,
								    plen, nonce, s.shared);
	else
		crypto_box_easy_afternm(pkt + WG_DC_REPLY_HDR, plain, plen, nonce, s.shared);
	size_t len = WG_DC_REPLY_OVERHEAD + plen;
	const uint8_t *msg = NULL;
	int ml = wg_dc_open(&s, half, pkt, len, &msg);
	int want = wg_dc_unpad(plain, plen);
	FUZZ_CHECK(ml == (want < 0 ? -EBADMSG : want));
	if (ml >= 0)
		FUZZ_CHECK(msg && memcmp(msg, plain, (size_t)ml) == 0);
	/* and a query sealed with the session has the promised length */
	uint8_t q[4096 + WG_DC_QUERY_OVERHEAD + 256];
	size_t padded = wg_dc_padded_len_udp(plen, WG_DC_UDP_MIN);
	int sl = wg_dc_seal(&s, half, plain, plen, padded, q, sizeof(q));
	FUZZ_CHECK(sl < 0 || (size_t)sl == WG_DC_QUERY_OVERHEAD + padded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	setup();
	const uint8_t *d = data + 1;
	size_t n = size - 1;
	switch (data[0] & 3) {
	case 0: { /* a TXT reply to the certificate query */
		struct wg_dc_cert certs[WG_DC_CERT_MAX];
		size_t good = 0, clock = 0;
		char err[256] = "";
		int rc = wg_dc_certs_from_reply(d, n, provider_pk, 1700000000u, certs,
						WG_DC_CERT_MAX, &good, &clock, err, sizeof(err));
		FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
		FUZZ_CHECK(good <= WG_DC_CERT_MAX);
		if (good)
			FUZZ_CHECK(wg_dc_cert_pick(certs, good) >= 0);
		FUZZ_CHECK(memchr(err, 0, sizeof(err)));
		break;
	}
	case 1:
		fuzz_signed_cert(d, n);
		break;
	case 2: { /* a stamp from the config file or the command line */
		char s[2048];
		if (n >= sizeof(s))
			return 0;
		memcpy(s, d, n);
		s[n] = 0;
		struct wg_dc_stamp st;
		char err[256];
		if (wg_dc_stamp_parse(s, &st, err, sizeof(err)) == 0) {
			FUZZ_CHECK(memchr(st.provider_name, 0, sizeof(st.provider_name)));
			char addr[64], again[2048];
			wg_addr_format(&st.addr, addr, sizeof(addr));
			int fl = wg_dc_stamp_format(&st, addr, again, sizeof(again));
			if (fl > 0) {
				struct wg_dc_stamp st2;
				FUZZ_CHECK(wg_dc_stamp_parse(again, &st2, NULL, 0) == 0);
				FUZZ_CHECK(wg_addr_equal(&st.addr, &st2.addr));
				FUZZ_CHECK(!memcmp(st.provider_pk, st2.provider_pk, WG_DC_KEY_LEN));
				FUZZ_CHECK(!strcmp(st.provider_name, st2.provider_name));
				FUZZ_CHECK(st.props == st2.props);
			}
		} else {
			FUZZ_CHECK(memchr(err, 0, sizeof(err)) && err[0]);
		}
		break;
	}
	default: { /* a reply that does not come from the resolver */
		struct wg_dc_cert c;
		uint8_t cert[256];
		uint8_t body[52];
		memset(body, 1, sizeof(body));
		wg_put32(body + 44, 0);
		wg_put32(body + 48, 0xffffffffu);
		size_t cl = make_cert(body, sizeof(body), cert, sizeof(cert));
		FUZZ_CHECK(wg_dc_cert_parse(cert, cl, provider_pk, 1700000000u, &c, NULL, 0) == 0);
		struct wg_dc_session s;
		FUZZ_CHECK(wg_dc_session_init(&s, &c, client_pk, client_sk) == 0);
		static uint8_t pkt[1 << 16];
		if (n > sizeof(pkt))
			return 0;
		memcpy(pkt, d, n);
		uint8_t half[WG_DC_HALF_NONCE];
		memcpy(half, n >= 20 ? d + 8 : (const uint8_t *)"000000000000", sizeof(half));
		const uint8_t *msg;
		/* without the shared key nothing opens: a forged reply never does */
		FUZZ_CHECK(wg_dc_open(&s, half, pkt, n, &msg) == -EBADMSG);
		break;
	}
	}
	return 0;
}
