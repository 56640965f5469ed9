/* QUIC packet headers: parsing without header protection, header-protection
 * masking given the mask, packet-number encoding and decoding, and the
 * builders of long, short, Version Negotiation, Retry and Stateless Reset
 * packets (RFC 8999, RFC 9000 §17, §10.3, RFC 9001 §5.4, RFC 9369 §3.2).
 * Pure encode/decode: no connection state, no keys; pointers handed out
 * borrow the caller's datagram. SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_PACKET_H
#define ZTTP_QUIC_PACKET_H

#include "zttp/zttp.h"

#include <stddef.h>
#include <stdint.h>

#include "common/varint.h"

/* RFC 9000 §15, RFC 9369 §3.1; 0 marks Version Negotiation (RFC 8999
 * §6). */
#define ZTTP_QUIC_VERSION_NEGOTIATION 0x00000000u
#define ZTTP_QUIC_VERSION_1 0x00000001u
#define ZTTP_QUIC_VERSION_2 0x6b3343cfu

#define ZTTP_QUIC_MAX_CID_LEN 20             /* RFC 9000 §17.2 */
#define ZTTP_QUIC_INVARIANT_MAX_CID_LEN 255  /* RFC 8999 §5.1 */
#define ZTTP_QUIC_RESET_TOKEN_LEN 16         /* RFC 9000 §10.3 */
#define ZTTP_QUIC_RETRY_TAG_LEN 16           /* RFC 9001 §5.8 */
#define ZTTP_QUIC_HP_SAMPLE_LEN 16           /* RFC 9001 §5.4.2 */
#define ZTTP_QUIC_HP_MASK_LEN 5              /* RFC 9001 §5.4.1 */
#define ZTTP_QUIC_MIN_STATELESS_RESET_LEN 21 /* RFC 9000 §10.3 */
#define ZTTP_QUIC_MIN_INITIAL_DATAGRAM 1200  /* RFC 9000 §14.1 */
#define ZTTP_QUIC_MAX_PN ZTTP_VARINT_MAX     /* RFC 9000 §12.3 */
/* "No packet acknowledged / received yet" for the packet-number helpers. */
#define ZTTP_QUIC_PN_NONE UINT64_MAX

/* First-byte bits (RFC 9000 §17.2, §17.3.1). */
#define ZTTP_QUIC_FORM_BIT 0x80
#define ZTTP_QUIC_FIXED_BIT 0x40
#define ZTTP_QUIC_SPIN_BIT 0x20
#define ZTTP_QUIC_KEY_PHASE_BIT 0x04
#define ZTTP_QUIC_LONG_RESERVED_BITS 0x0c
#define ZTTP_QUIC_SHORT_RESERVED_BITS 0x18
#define ZTTP_QUIC_PN_LEN_BITS 0x03

enum zttp_quic_pkt_type {
  ZTTP_QUIC_PKT_INITIAL = 0,
  ZTTP_QUIC_PKT_ZERO_RTT = 1,
  ZTTP_QUIC_PKT_HANDSHAKE = 2,
  ZTTP_QUIC_PKT_RETRY = 3,
  ZTTP_QUIC_PKT_SHORT = 4, /* 1-RTT */
  ZTTP_QUIC_PKT_VERSION_NEGOTIATION = 5
};

/* What zttp_quic_hdr_parse() makes of a packet. */
enum zttp_quic_hdr_result {
  ZTTP_QUIC_HDR_OK = 0,
  /* Not a valid packet of a version we know: drop it and, as its length is
   * unknown, the rest of the datagram (RFC 9000 §12.2, §17.2). */
  ZTTP_QUIC_HDR_MALFORMED = 1,
  /* A long header with a version we do not know: version, first, CIDs and
   * packet_len (the rest of the datagram) are set; a server may answer with
   * Version Negotiation (RFC 9000 §6.1, §5.2.2). */
  ZTTP_QUIC_HDR_UNKNOWN_VERSION = 2
};

/* A connection ID kept by value (RFC 9000 §5.1). */
typedef struct zttp_quic_cid {
  uint8_t len;
  uint8_t data[ZTTP_QUIC_MAX_CID_LEN];
} zttp_quic_cid;

/* zttp_quic_cid_set copies |len| bytes into |cid|. Returns 1, or 0 (|cid|
 * unchanged) when |len| > 20. */
static inline int zttp_quic_cid_set(zttp_quic_cid *cid, const uint8_t *p,
                                    size_t len) {
  if (len > ZTTP_QUIC_MAX_CID_LEN) {
    return 0;
  }
  cid->len = (uint8_t)len;
  for (size_t i = 0; i < len; i++) {
    cid->data[i] = p[i];
  }
  return 1;
}

/* zttp_quic_cid_eq returns 1 when |cid| holds exactly |len| bytes |p|. */
static inline int zttp_quic_cid_eq(const zttp_quic_cid *cid, const uint8_t *p,
                                   size_t len) {
  if (cid->len != len) {
    return 0;
  }
  for (size_t i = 0; i < len; i++) {
    if (cid->data[i] != p[i]) {
      return 0;
    }
  }
  return 1;
}

/* One packet's header as read from the wire, header protection still on
 * (so the reserved bits, key phase and packet number length in |first| are
 * still masked). Every pointer borrows the datagram given to the parser. */
typedef struct zttp_quic_hdr {
  uint32_t type;    /* enum zttp_quic_pkt_type */
  uint32_t version; /* long headers; 0 for short headers and VN */
  uint8_t first;    /* the first byte as received */
  const uint8_t *dcid;
  size_t dcid_len;
  const uint8_t *scid; /* long headers */
  size_t scid_len;
  /* Initial: the Token field; Retry: the Retry Token. */
  const uint8_t *token;
  size_t token_len;
  const uint8_t *retry_tag; /* Retry: the 16-byte integrity tag */
  uint64_t length;          /* Initial, 0-RTT, Handshake: the Length field */
  size_t pn_offset;         /* from the packet start; 0 for Retry and VN */
  /* The whole packet: long headers with a Length field end where it says,
   * the others take the rest of the datagram (RFC 9000 §12.2). */
  size_t packet_len;
  /* Version Negotiation: the Supported Version list, |num_versions|
   * big-endian 4-byte entries (zttp_quic_vn_version()). */
  const uint8_t *versions;
  size_t num_versions;
} zttp_quic_hdr;

/* The version-independent view of a packet (RFC 8999 §5). */
typedef struct zttp_quic_invariant {
  uint8_t first;
  int is_long;
  uint32_t version; /* long headers only */
  const uint8_t *dcid;
  size_t dcid_len;
  const uint8_t *scid; /* long headers only */
  size_t scid_len;
} zttp_quic_invariant;

/* zttp_quic_version_supported returns 1 for QUIC v1 and v2. */
int zttp_quic_version_supported(uint32_t version);

/* zttp_quic_long_type_bits stores in |*bits| the 2-bit Long Packet Type of
 * packet |type| (Initial, 0-RTT, Handshake, Retry) in |version| (RFC 9000
 * §17.2: 0, 1, 2, 3; RFC 9369 §3.2: 1, 2, 3, 0). Returns 1, or 0 for
 * another type or an unknown version. */
int zttp_quic_long_type_bits(uint8_t *bits, uint32_t version, uint32_t type);

/* zttp_quic_long_type_from_bits is the inverse: |bits| (0-3) to enum
 * zttp_quic_pkt_type. Returns 1, or 0 for an unknown version. */
int zttp_quic_long_type_from_bits(uint32_t *type, uint32_t version,
                                  uint8_t bits);

/* zttp_quic_invariant_parse reads the version-independent fields (RFC 8999
 * §5.1, §5.2) of the packet at |data| (|len| bytes, the rest of the
 * datagram): form, version and connection IDs of up to 255 bytes in a long
 * header; a short header's DCID is |short_dcid_len| bytes (the receiver's
 * own length). Pointers borrow |data|. Returns 1, or 0 when the bytes are
 * too short. */
int zttp_quic_invariant_parse(zttp_quic_invariant *inv, const uint8_t *data,
                              size_t len, size_t short_dcid_len);

/* zttp_quic_hdr_parse reads the header of the first packet at |data| (|len|
 * bytes: the rest of the datagram) into |hdr|, without removing header
 * protection. |short_dcid_len| (<= 20) is the length of the receiver's
 * connection IDs, the DCID length of short headers. On ZTTP_QUIC_HDR_OK,
 * hdr->packet_len says where the next coalesced packet starts (RFC 9000
 * §12.2). Pointers in |hdr| borrow |data|.
 *
 * Returns enum zttp_quic_hdr_result. MALFORMED covers: an empty input, the
 * fixed bit 0 in v1/v2 (RFC 9000 §17.2; the grease bit of RFC 9287 is not
 * negotiated here), a connection ID over 20 bytes in v1/v2, any field cut
 * short, a Length past the end of the datagram, a Retry without room for
 * its tag or with an empty token (§17.2.5.2), a Version Negotiation list
 * that is empty or not a multiple of 4 bytes, a short header without a
 * packet number byte.
 *
 * Not checked here (the caller's, as they need keys or state): that the
 * packet is long enough for the header-protection sample
 * (zttp_quic_hp_sample_ok()), the reserved bits (after removal), a server
 * Initial's empty token, datagram sizes. */
int zttp_quic_hdr_parse(zttp_quic_hdr *hdr, const uint8_t *data, size_t len,
                        size_t short_dcid_len);

/* zttp_quic_vn_version returns entry |i| (< num_versions) of a parsed
 * Version Negotiation packet's list. */
uint32_t zttp_quic_vn_version(const zttp_quic_hdr *hdr, size_t i);

/* zttp_quic_hdr_reserved returns the reserved bits of an unprotected first
 * byte (RFC 9000 §17.2, §17.3.1: non-zero after removing protection is a
 * PROTOCOL_VIOLATION). */
static inline uint8_t zttp_quic_hdr_reserved(uint8_t first) {
  return (first & ZTTP_QUIC_FORM_BIT) ? (first & ZTTP_QUIC_LONG_RESERVED_BITS)
                                      : (first & ZTTP_QUIC_SHORT_RESERVED_BITS);
}

/* ---- header protection (RFC 9001 §5.4) --------------------------------- */

/* zttp_quic_hp_sample_offset returns where the 16-byte sample starts: the
 * packet number is assumed 4 bytes long (RFC 9001 §5.4.2). */
static inline size_t zttp_quic_hp_sample_offset(size_t pn_offset) {
  return pn_offset + 4;
}

/* zttp_quic_hp_sample_ok returns 1 when a packet of |packet_len| bytes
 * holds the whole sample; packets that do not MUST be dropped (RFC 9001
 * §5.4.2). */
static inline int zttp_quic_hp_sample_ok(size_t packet_len, size_t pn_offset) {
  return pn_offset <= packet_len &&
         packet_len - pn_offset >= 4 + ZTTP_QUIC_HP_SAMPLE_LEN;
}

/* zttp_quic_hp_unmask removes header protection in place (RFC 9001 §5.4.1)
 * from the packet at |packet| (|packet_len| bytes) with the 5-byte |mask|
 * computed from its sample: the low 4 (long) or 5 (short) bits of the first
 * byte, then the packet number. Stores the packet number length (1-4) in
 * |*pn_len| and the truncated packet number in |*truncated_pn|. Returns 1,
 * or 0 (nothing changed) when the packet number does not fit in the
 * packet. */
int zttp_quic_hp_unmask(uint8_t *packet, size_t packet_len, size_t pn_offset,
                        const uint8_t *mask, size_t *pn_len,
                        uint64_t *truncated_pn);

/* zttp_quic_hp_mask_apply adds header protection in place: the packet
 * number length is read from the still unprotected first byte. Returns 1,
 * or 0 (nothing changed) when the packet number does not fit. */
int zttp_quic_hp_mask_apply(uint8_t *packet, size_t packet_len,
                            size_t pn_offset, const uint8_t *mask);

/* ---- packet numbers (RFC 9000 §17.1) ------------------------------------ */

/* zttp_quic_pn_encode_len returns how many bytes (1-4) to send |full_pn|
 * in: enough to represent more than twice the range of unacknowledged
 * packets (RFC 9000 §17.1, Appendix A.2). |largest_acked| is
 * ZTTP_QUIC_PN_NONE before anything was acknowledged. 4 when even that does
 * not suffice. */
size_t zttp_quic_pn_encode_len(uint64_t full_pn, uint64_t largest_acked);

/* zttp_quic_pn_decode recovers the full packet number from the
 * |pn_nbits|-bit (8, 16, 24 or 32) |truncated_pn| and the largest packet
 * number received in the space, |largest_pn| (ZTTP_QUIC_PN_NONE when none),
 * exactly as RFC 9000 Appendix A.3. Near 2^62 the result can exceed
 * ZTTP_QUIC_MAX_PN; such a packet cannot be valid and is the caller's to
 * drop. */
uint64_t zttp_quic_pn_decode(uint64_t largest_pn, uint64_t truncated_pn,
                             unsigned pn_nbits);

/* ---- builders ------------------------------------------------------------ */

/* zttp_quic_hdr_write_long writes at |p| (|cap| bytes) the long header of
 * an Initial, 0-RTT or Handshake packet of hdr->version (1 or 2) with
 * hdr->dcid, hdr->scid, for Initial hdr->token, a 2-byte Length
 * placeholder (patch it with zttp_quic_length_patch()) and the low
 * |pn_len| (1-4) bytes of |pn|. The reserved bits are 0. Stores the Length
 * field's offset in |*length_offset| and the packet number's in
 * |*pn_offset|. Returns the header length (*pn_offset + pn_len), or 0 when
 * it does not fit or an argument is invalid (type, version, CID > 20). */
size_t zttp_quic_hdr_write_long(uint8_t *p, size_t cap,
                                const zttp_quic_hdr *hdr, uint64_t pn,
                                size_t pn_len, size_t *length_offset,
                                size_t *pn_offset);

/* zttp_quic_length_patch writes |length| (the packet number, payload and
 * AEAD tag length; < 16384) as a 2-byte varint at |p| + |length_offset|.
 * Returns 1, or 0 when it does not fit in 2 bytes. */
int zttp_quic_length_patch(uint8_t *p, size_t length_offset, uint64_t length);

/* zttp_quic_hdr_write_short writes a 1-RTT header (RFC 9000 §17.3.1):
 * fixed bit, |spin| and |key_phase| (0 or 1), reserved bits 0, |dcid| and
 * the low |pn_len| (1-4) bytes of |pn|. Stores the packet number's offset
 * in |*pn_offset|. Returns the header length, or 0 when it does not fit or
 * an argument is invalid. */
size_t zttp_quic_hdr_write_short(uint8_t *p, size_t cap, const uint8_t *dcid,
                                 size_t dcid_len, int spin, int key_phase,
                                 uint64_t pn, size_t pn_len, size_t *pn_offset);

/* zttp_quic_vn_write writes a Version Negotiation packet (RFC 9000 §17.2.1,
 * RFC 8999 §6): first byte 0x80 | 0x40 | (|unused| & 0x3f) (the 0x40 bit
 * is set as §17.2.1 recommends), version 0, |dcid| and |scid| (up to 255
 * bytes each: the client's SCID and DCID, swapped by the caller) and the
 * |num_versions| (>= 1) |versions|. Returns the packet length, or 0 when it
 * does not fit or an argument is invalid. */
size_t zttp_quic_vn_write(uint8_t *p, size_t cap, uint8_t unused,
                          const uint8_t *dcid, size_t dcid_len,
                          const uint8_t *scid, size_t scid_len,
                          const uint32_t *versions, size_t num_versions);

/* zttp_quic_retry_write writes a Retry packet of |version| (RFC 9000
 * §17.2.5) without its integrity tag: first byte with the Retry type bits
 * and |unused| & 0x0f, |dcid| (the client's SCID), |scid| (the server's new
 * CID), the non-empty |token|. The caller appends the 16-byte tag
 * (zttp_crypto_retry_tag() over the client's original DCID and these
 * bytes). Returns the length written, or 0 when it does not fit or an
 * argument is invalid. */
size_t zttp_quic_retry_write(uint8_t *p, size_t cap, uint32_t version,
                             uint8_t unused, const uint8_t *dcid,
                             size_t dcid_len, const uint8_t *scid,
                             size_t scid_len, const uint8_t *token,
                             size_t token_len);

/* zttp_quic_stateless_reset_write lays out a Stateless Reset of |len| (>=
 * 21) bytes at |p| (RFC 9000 §10.3): a short-header first byte (0b01 then
 * the low 6 bits of random[0]), the other |len| - 17 bytes of |random| (|len|
 * - 16 bytes in all) and the 16-byte |token| last. Returns |len|, or 0 when
 * |len| < 21. Choosing |len| (smaller than the packet that triggers it,
 * §10.3.3) is the caller's. */
size_t zttp_quic_stateless_reset_write(uint8_t *p, size_t len,
                                       const uint8_t *random,
                                       const uint8_t *token);

/* zttp_quic_stateless_reset_token returns where the candidate Stateless
 * Reset Token of a datagram starts (its last 16 bytes, RFC 9000 §10.3.1;
 * with either header form, §10.3), or NULL when the datagram is shorter
 * than 21 bytes. Borrowed from |data|. The caller compares it in constant
 * time with the tokens it knows. */
const uint8_t *zttp_quic_stateless_reset_token(const uint8_t *data, size_t len);

#endif
