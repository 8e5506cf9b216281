/* dnscrypt_proto.h: the DNSCrypt v2 protocol without I/O.
 *
 * Stamps (sdns://, protocol 0x01), certificates (the TXT rdata a resolver
 * serves for its provider name), padding, and the sealing of queries and
 * opening of replies. Everything works on caller-provided buffers and never
 * allocates, so it can run on the per-query path and be tested exhaustively.
 *
 * Sources: DNSCrypt/dnscrypt-protocol DNSCRYPT-V2-PROTOCOL.txt and
 * dnscrypt.info stamps-specifications. */
#ifndef WG_DNSCRYPT_PROTO_H
#define WG_DNSCRYPT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

#define WG_DC_KEY_LEN 32         /* X25519 and Ed25519 public keys, shared keys */
#define WG_DC_SIG_LEN 64         /* Ed25519 signature */
#define WG_DC_MAGIC_LEN 8        /* client magic and resolver magic */
#define WG_DC_HALF_NONCE 12      /* the client's half of the 24-byte nonce */
#define WG_DC_NONCE_LEN 24
#define WG_DC_MAC_LEN 16         /* Poly1305 tag, prepended to the ciphertext */
#define WG_DC_QUERY_HDR (WG_DC_MAGIC_LEN + WG_DC_KEY_LEN + WG_DC_HALF_NONCE) /* 52 bytes */
#define WG_DC_REPLY_HDR (WG_DC_MAGIC_LEN + WG_DC_NONCE_LEN)                  /* 32 bytes */
#define WG_DC_QUERY_OVERHEAD (WG_DC_QUERY_HDR + WG_DC_MAC_LEN)               /* 68 bytes */
#define WG_DC_REPLY_OVERHEAD (WG_DC_REPLY_HDR + WG_DC_MAC_LEN)               /* 48 bytes */
#define WG_DC_BLOCK 64           /* padded lengths are multiples of this */
#define WG_DC_UDP_MIN 256        /* initial minimum padded query length over UDP */
#define WG_DC_TCP_MAX_PAD 256    /* TCP padding is 1..256 bytes including 0x80 */
#define WG_DC_CERT_MIN_LEN 124   /* a certificate without extensions */
#define WG_DC_CERT_MAX 8         /* certificates kept from one TXT answer */

#define WG_DC_ES_XSALSA20 1      /* X25519-XSalsa20Poly1305 */
#define WG_DC_ES_XCHACHA20 2     /* X25519-XChaCha20Poly1305 */

extern const uint8_t wg_dc_resolver_magic[WG_DC_MAGIC_LEN]; /* "r6fnvWj8" */

/* A decoded DNSCrypt stamp. */
struct wg_dc_stamp {
	uint64_t props;                      /* bit 0 DNSSEC, 1 no logs, 2 no filter */
	struct wg_addr addr;                 /* port 443 when the stamp names none */
	uint8_t provider_pk[WG_DC_KEY_LEN];  /* Ed25519: verifies certificates only */
	char provider_name[256];             /* "2.dnscrypt-cert.example.", NUL-terminated */
};

/* Decode "sdns://..." (base64url without padding, protocol 0x01). On error
 * returns -EINVAL and writes a message naming what is wrong to err (bad
 * base64, not a DNSCrypt stamp, truncated, bad address, bad key length,
 * missing provider name, trailing bytes). err may be NULL. */
int wg_dc_stamp_parse(const char *s, struct wg_dc_stamp *out, char *err, size_t errcap);

/* Encode a stamp (for tests and tools). Returns the text length or -ENOSPC. */
int wg_dc_stamp_format(const struct wg_dc_stamp *st, const char *addr_text, char *out, size_t cap);

/* A certificate whose signature has been verified. */
struct wg_dc_cert {
	uint16_t es_version;                 /* WG_DC_ES_* */
	uint16_t minor;
	uint8_t resolver_pk[WG_DC_KEY_LEN];
	uint8_t client_magic[WG_DC_MAGIC_LEN];
	uint32_t serial;
	uint32_t ts_start, ts_end;           /* Unix seconds, ts_end inclusive */
};

/* Parse and check one certificate (one TXT rdata, character-strings already
 * joined). now is the local Unix time in seconds. Returns 0 or:
 * -EBADMSG short or bad magic; -EPROTONOSUPPORT unknown es-version (skip it);
 * -EKEYREJECTED the signature does not verify with provider_pk;
 * -EKEYREVOKED weak resolver key (all zero or of small order);
 * -EKEYEXPIRED ts_end < now; -ERANGE ts_start > now (not yet valid).
 * On -EKEYEXPIRED and -ERANGE out is filled (the signature was good), so a
 * caller can tell that the local clock may be off. err may be NULL. */
int wg_dc_cert_parse(const uint8_t *c, size_t len, const uint8_t provider_pk[WG_DC_KEY_LEN],
		     uint32_t now, struct wg_dc_cert *out, char *err, size_t errcap);

/* Index of the certificate to use among n valid ones: the highest serial; on
 * an equal serial the higher es-version (XChaCha20 over XSalsa20, as
 * dnscrypt-proxy does). Returns -ENOENT when n == 0. */
int wg_dc_cert_pick(const struct wg_dc_cert *certs, size_t n);

/* Everything a query needs from a certificate, computed once per certificate
 * and copied by value into each exchange so a rotation never strands one. */
struct wg_dc_session {
	struct wg_dc_cert cert;
	uint8_t client_pk[WG_DC_KEY_LEN];
	uint8_t shared[WG_DC_KEY_LEN];       /* crypto_box_beforenm for the es-version */
};

/* Returns 0 or -EKEYREVOKED (the key agreement produced zero: weak key) or
 * -EPROTONOSUPPORT (unknown es-version). */
int wg_dc_session_init(struct wg_dc_session *s, const struct wg_dc_cert *c,
		       const uint8_t client_pk[WG_DC_KEY_LEN], const uint8_t client_sk[WG_DC_KEY_LEN]);

/* Padded length for a UDP query of len bytes: at least min_len (a multiple
 * of 64), at least len + 1, rounded up to 64. */
size_t wg_dc_padded_len_udp(size_t len, size_t min_len);
/* Padded length for TCP: a multiple of 64 with 1..256 padding bytes, chosen
 * with rnd (any random value). */
size_t wg_dc_padded_len_tcp(size_t len, uint32_t rnd);

/* ISO/IEC 7816-4 padding in place: buf[len] = 0x80, zeros up to padded_len.
 * Returns 0 or -ENOSPC (padded_len <= len or > cap). */
int wg_dc_pad(uint8_t *buf, size_t len, size_t padded_len, size_t cap);
/* Length of the message before its padding, or -EBADMSG when the padding is
 * malformed (no 0x80 delimiter after trailing zeros). */
int wg_dc_unpad(const uint8_t *buf, size_t len);

/* Seal a DNS query: client magic, client pk, nonce half, box(query + pad).
 * The query is copied, so it may not overlap out. padded_len comes from
 * wg_dc_padded_len_*. Returns the packet length or -ENOSPC. */
int wg_dc_seal(const struct wg_dc_session *s, const uint8_t nonce_half[WG_DC_HALF_NONCE],
	       const uint8_t *query, size_t qlen, size_t padded_len, uint8_t *out, size_t cap);

/* Open a reply in place. On success *msg points into pkt at the DNS reply
 * and the return value is its length. Returns -EBADMSG for a short packet,
 * wrong resolver magic, a nonce that does not start with nonce_half, a box
 * that does not open, or bad padding. */
int wg_dc_open(const struct wg_dc_session *s, const uint8_t nonce_half[WG_DC_HALF_NONCE],
	       uint8_t *pkt, size_t len, const uint8_t **msg);

/* Build the plain TXT query for a provider name. Returns the length or
 * -ENOSPC / -EINVAL (bad name). */
int wg_dc_cert_query(const char *provider_name, uint16_t id, uint8_t *out, size_t cap);

/* Certificates from a TXT reply: every answer TXT record is parsed with
 * wg_dc_cert_parse; good ones are stored in certs (up to max). *n_good
 * counts them, *n_clock counts certs with a good signature outside their
 * validity window. Returns 0 or -EBADMSG (unparseable reply). err receives
 * the reason of the last rejected record. */
int wg_dc_certs_from_reply(const uint8_t *pkt, size_t len, const uint8_t provider_pk[WG_DC_KEY_LEN],
			   uint32_t now, struct wg_dc_cert *certs, size_t max, size_t *n_good,
			   size_t *n_clock, char *err, size_t errcap);

#endif
