/* SPDX-License-Identifier: MIT */
#include "quic/packet.h"

#include <string.h>

#include "common/reader.h"

int zttp_quic_version_supported(uint32_t version) {
  return version == ZTTP_QUIC_VERSION_1 || version == ZTTP_QUIC_VERSION_2;
}

/* RFC 9000 §17.2 Table 5; RFC 9369 §3.2. */
int zttp_quic_long_type_bits(uint8_t *bits, uint32_t version, uint32_t type) {
  if (!zttp_quic_version_supported(version)) {
    return 0;
  }
  switch ((enum zttp_quic_pkt_type)type) {
  case ZTTP_QUIC_PKT_INITIAL:
  case ZTTP_QUIC_PKT_ZERO_RTT:
  case ZTTP_QUIC_PKT_HANDSHAKE:
  case ZTTP_QUIC_PKT_RETRY:
    /* v1: Initial 0, 0-RTT 1, Handshake 2, Retry 3; v2 adds one mod 4. */
    *bits = (uint8_t)((type + (version == ZTTP_QUIC_VERSION_2)) & 3);
    return 1;
  case ZTTP_QUIC_PKT_SHORT:
  case ZTTP_QUIC_PKT_VERSION_NEGOTIATION:
    return 0;
  }
  return 0;
}

int zttp_quic_long_type_from_bits(uint32_t *type, uint32_t version,
                                  uint8_t bits) {
  if (!zttp_quic_version_supported(version)) {
    return 0;
  }
  *type = (uint32_t)((bits - (version == ZTTP_QUIC_VERSION_2)) & 3);
  return 1;
}

int zttp_quic_invariant_parse(zttp_quic_invariant *inv, const uint8_t *data,
                              size_t len, size_t short_dcid_len) {
  zttp_rd rd;
  zttp_rd_init(&rd, data, len);
  uint8_t first;
  if (!zttp_rd_u8(&rd, &first)) {
    return 0;
  }
  zttp_quic_invariant v;
  memset(&v, 0, sizeof(v));
  v.first = first;
  if (!(first & ZTTP_QUIC_FORM_BIT)) {
    /* RFC 8999 §5.2 */
    v.dcid_len = short_dcid_len;
    if (!zttp_rd_bytes(&rd, &v.dcid, short_dcid_len)) {
      return 0;
    }
    *inv = v;
    return 1;
  }
  /* RFC 8999 §5.1 */
  uint8_t dcid_len;
  uint8_t scid_len;
  v.is_long = 1;
  if (!zttp_rd_u32(&rd, &v.version) || !zttp_rd_u8(&rd, &dcid_len) ||
      !zttp_rd_bytes(&rd, &v.dcid, dcid_len) || !zttp_rd_u8(&rd, &scid_len) ||
      !zttp_rd_bytes(&rd, &v.scid, scid_len)) {
    return 0;
  }
  v.dcid_len = dcid_len;
  v.scid_len = scid_len;
  *inv = v;
  return 1;
}

/* RFC 9000 §17.2.1 */
static int parse_vn(zttp_quic_hdr *h, zttp_rd *rd) {
  size_t n = zttp_rd_len(rd);
  if (n == 0 || n % 4 != 0) {
    return ZTTP_QUIC_HDR_MALFORMED;
  }
  h->type = ZTTP_QUIC_PKT_VERSION_NEGOTIATION;
  h->versions = rd->p;
  h->num_versions = n / 4;
  return ZTTP_QUIC_HDR_OK;
}

/* RFC 9000 §17.2.5 */
static int parse_retry(zttp_quic_hdr *h, zttp_rd *rd) {
  size_t n = zttp_rd_len(rd);
  /* A client MUST discard a Retry with an empty token (§17.2.5.2). */
  if (n <= ZTTP_QUIC_RETRY_TAG_LEN) {
    return ZTTP_QUIC_HDR_MALFORMED;
  }
  h->token_len = n - ZTTP_QUIC_RETRY_TAG_LEN;
  if (!zttp_rd_bytes(rd, &h->token, h->token_len) ||
      !zttp_rd_bytes(rd, &h->retry_tag, ZTTP_QUIC_RETRY_TAG_LEN)) {
    return ZTTP_QUIC_HDR_MALFORMED;
  }
  return ZTTP_QUIC_HDR_OK;
}

static int parse_long(zttp_quic_hdr *h, const uint8_t *data, size_t len) {
  zttp_rd rd;
  zttp_rd_init(&rd, data, len);
  uint8_t first;
  uint8_t dcid_len;
  uint8_t scid_len;
  /* RFC 8999 §5.1: these fields are version independent; CIDs up to 255
   * bytes until the version is known. */
  if (!zttp_rd_u8(&rd, &first) || !zttp_rd_u32(&rd, &h->version) ||
      !zttp_rd_u8(&rd, &dcid_len) || !zttp_rd_bytes(&rd, &h->dcid, dcid_len) ||
      !zttp_rd_u8(&rd, &scid_len) || !zttp_rd_bytes(&rd, &h->scid, scid_len)) {
    return ZTTP_QUIC_HDR_MALFORMED;
  }
  h->dcid_len = dcid_len;
  h->scid_len = scid_len;
  if (h->version == ZTTP_QUIC_VERSION_NEGOTIATION) {
    return parse_vn(h, &rd);
  }
  if (!zttp_quic_version_supported(h->version)) {
    return ZTTP_QUIC_HDR_UNKNOWN_VERSION;
  }
  /* RFC 9000 §17.2: fixed bit 1, CIDs of at most 20 bytes in v1 (and v2,
   * RFC 9369 §3). */
  if (!(first & ZTTP_QUIC_FIXED_BIT) || dcid_len > ZTTP_QUIC_MAX_CID_LEN ||
      scid_len > ZTTP_QUIC_MAX_CID_LEN) {
    return ZTTP_QUIC_HDR_MALFORMED;
  }
  zttp_quic_long_type_from_bits(&h->type, h->version,
                                (uint8_t)((first >> 4) & 3));
  if (h->type == ZTTP_QUIC_PKT_RETRY) {
    return parse_retry(h, &rd);
  }
  if (h->type == ZTTP_QUIC_PKT_INITIAL) {
    /* RFC 9000 §17.2.2 */
    uint64_t token_len;
    if (!zttp_rd_varint(&rd, &token_len) || token_len > zttp_rd_len(&rd) ||
        !zttp_rd_bytes(&rd, &h->token, (size_t)token_len)) {
      return ZTTP_QUIC_HDR_MALFORMED;
    }
    h->token_len = (size_t)token_len;
  }
  /* RFC 9000 §17.2: Length covers the packet number and the payload. */
  if (!zttp_rd_varint(&rd, &h->length) || h->length > zttp_rd_len(&rd)) {
    return ZTTP_QUIC_HDR_MALFORMED;
  }
  h->pn_offset = len - zttp_rd_len(&rd);
  h->packet_len = h->pn_offset + (size_t)h->length;
  return ZTTP_QUIC_HDR_OK;
}

int zttp_quic_hdr_parse(zttp_quic_hdr *hdr, const uint8_t *data, size_t len,
                        size_t short_dcid_len) {
  zttp_quic_hdr h;
  memset(&h, 0, sizeof(h));
  if (len == 0) {
    *hdr = h;
    return ZTTP_QUIC_HDR_MALFORMED;
  }
  h.first = data[0];
  h.packet_len = len;
  int rv;
  if (h.first & ZTTP_QUIC_FORM_BIT) {
    rv = parse_long(&h, data, len);
  } else if (!(h.first & ZTTP_QUIC_FIXED_BIT) ||
             short_dcid_len > ZTTP_QUIC_MAX_CID_LEN ||
             len - 1 <= short_dcid_len) {
    /* RFC 9000 §17.3.1: fixed bit 1, the DCID and at least one byte of
     * packet number. */
    rv = ZTTP_QUIC_HDR_MALFORMED;
  } else {
    h.type = ZTTP_QUIC_PKT_SHORT;
    h.dcid = data + 1;
    h.dcid_len = short_dcid_len;
    h.pn_offset = 1 + short_dcid_len;
    rv = ZTTP_QUIC_HDR_OK;
  }
  *hdr = h;
  return rv;
}

uint32_t zttp_quic_vn_version(const zttp_quic_hdr *hdr, size_t i) {
  const uint8_t *v = hdr->versions + 4 * i;
  return (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 |
         v[3];
}

/* ---- header protection ----------------------------------------------------
 */

/* RFC 9001 §5.4.1: the long header protects 4 bits of the first byte, the
 * short header 5. */
static uint8_t first_mask(uint8_t first, const uint8_t *mask) {
  return (uint8_t)(mask[0] & ((first & ZTTP_QUIC_FORM_BIT) ? 0x0f : 0x1f));
}

int zttp_quic_hp_unmask(uint8_t *packet, size_t packet_len, size_t pn_offset,
                        const uint8_t *mask, size_t *pn_len,
                        uint64_t *truncated_pn) {
  if (packet_len == 0) {
    return 0;
  }
  uint8_t first = packet[0] ^ first_mask(packet[0], mask);
  size_t n = (size_t)(first & ZTTP_QUIC_PN_LEN_BITS) + 1;
  if (pn_offset >= packet_len || packet_len - pn_offset < n) {
    return 0;
  }
  packet[0] = first;
  uint64_t pn = 0;
  for (size_t i = 0; i < n; i++) {
    packet[pn_offset + i] ^= mask[1 + i];
    pn = pn << 8 | packet[pn_offset + i];
  }
  *pn_len = n;
  *truncated_pn = pn;
  return 1;
}

int zttp_quic_hp_mask_apply(uint8_t *packet, size_t packet_len,
                            size_t pn_offset, const uint8_t *mask) {
  if (packet_len == 0) {
    return 0;
  }
  size_t n = (size_t)(packet[0] & ZTTP_QUIC_PN_LEN_BITS) + 1;
  if (pn_offset >= packet_len || packet_len - pn_offset < n) {
    return 0;
  }
  packet[0] ^= first_mask(packet[0], mask);
  for (size_t i = 0; i < n; i++) {
    packet[pn_offset + i] ^= mask[1 + i];
  }
  return 1;
}

/* ---- packet numbers -------------------------------------------------------
 */

/* RFC 9000 Appendix A.2: min_bits = log2(num_unacked) + 1, bytes =
 * ceil(min_bits / 8); in integers, the smallest n with num_unacked <=
 * 2^(8n - 1). */
size_t zttp_quic_pn_encode_len(uint64_t full_pn, uint64_t largest_acked) {
  uint64_t num_unacked;
  if (largest_acked == ZTTP_QUIC_PN_NONE) {
    num_unacked = full_pn + 1;
  } else if (full_pn > largest_acked) {
    num_unacked = full_pn - largest_acked;
  } else {
    num_unacked = 1;
  }
  for (size_t n = 1; n < 4; n++) {
    if (num_unacked <= UINT64_C(1) << (8 * n - 1)) {
      return n;
    }
  }
  return 4;
}

/* RFC 9000 Appendix A.3, with the comparisons rearranged so that nothing
 * wraps: expected_pn - pn_hwin is negative when expected_pn < pn_hwin. */
uint64_t zttp_quic_pn_decode(uint64_t largest_pn, uint64_t truncated_pn,
                             unsigned pn_nbits) {
  uint64_t expected = largest_pn + 1; /* ZTTP_QUIC_PN_NONE + 1 == 0 */
  uint64_t win = UINT64_C(1) << pn_nbits;
  uint64_t hwin = win / 2;
  uint64_t mask = win - 1;
  uint64_t candidate = (expected & ~mask) | (truncated_pn & mask);
  if (expected >= hwin && candidate <= expected - hwin &&
      candidate < (UINT64_C(1) << 62) - win) {
    return candidate + win;
  }
  if (candidate > expected + hwin && candidate >= win) {
    return candidate - win;
  }
  return candidate;
}

/* ---- builders -------------------------------------------------------------
 */

static uint8_t *put_pn(uint8_t *p, uint64_t pn, size_t pn_len) {
  for (size_t i = pn_len; i-- > 0;) {
    p[i] = (uint8_t)pn;
    pn >>= 8;
  }
  return p + pn_len;
}

static uint8_t *put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
  return p + 4;
}

static uint8_t *put_cid(uint8_t *p, const uint8_t *cid, size_t len) {
  *p++ = (uint8_t)len;
  if (len != 0) {
    memcpy(p, cid, len);
  }
  return p + len;
}

/* RFC 9000 §17.2, §17.2.2-§17.2.4 */
size_t zttp_quic_hdr_write_long(uint8_t *p, size_t cap,
                                const zttp_quic_hdr *hdr, uint64_t pn,
                                size_t pn_len, size_t *length_offset,
                                size_t *pn_offset) {
  uint8_t bits;
  if (hdr->type == ZTTP_QUIC_PKT_RETRY ||
      !zttp_quic_long_type_bits(&bits, hdr->version, hdr->type) ||
      hdr->dcid_len > ZTTP_QUIC_MAX_CID_LEN ||
      hdr->scid_len > ZTTP_QUIC_MAX_CID_LEN || pn_len < 1 || pn_len > 4) {
    return 0;
  }
  size_t token_len = hdr->type == ZTTP_QUIC_PKT_INITIAL ? hdr->token_len : 0;
  if (token_len > ZTTP_VARINT_MAX) {
    return 0;
  }
  /* first, version, 2 CID lengths, Length (2) */
  size_t need = 1 + 4 + 1 + hdr->dcid_len + 1 + hdr->scid_len + 2 + pn_len;
  if (hdr->type == ZTTP_QUIC_PKT_INITIAL) {
    if (token_len > cap) {
      return 0;
    }
    need += zttp_varint_len(token_len) + token_len;
  }
  if (need > cap) {
    return 0;
  }
  uint8_t *q = p;
  *q++ = (uint8_t)(ZTTP_QUIC_FORM_BIT | ZTTP_QUIC_FIXED_BIT | bits << 4 |
                   (pn_len - 1));
  q = put32(q, hdr->version);
  q = put_cid(q, hdr->dcid, hdr->dcid_len);
  q = put_cid(q, hdr->scid, hdr->scid_len);
  if (hdr->type == ZTTP_QUIC_PKT_INITIAL) {
    q = zttp_varint_put(q, token_len);
    if (token_len != 0) {
      memcpy(q, hdr->token, token_len);
      q += token_len;
    }
  }
  *length_offset = (size_t)(q - p);
  q = zttp_varint_put_n(q, 0, 2);
  *pn_offset = (size_t)(q - p);
  q = put_pn(q, pn, pn_len);
  return (size_t)(q - p);
}

int zttp_quic_length_patch(uint8_t *p, size_t length_offset, uint64_t length) {
  if (length >= 16384) {
    return 0;
  }
  zttp_varint_put_n(p + length_offset, length, 2);
  return 1;
}

/* RFC 9000 §17.3.1 */
size_t zttp_quic_hdr_write_short(uint8_t *p, size_t cap, const uint8_t *dcid,
                                 size_t dcid_len, int spin, int key_phase,
                                 uint64_t pn, size_t pn_len,
                                 size_t *pn_offset) {
  if (dcid_len > ZTTP_QUIC_MAX_CID_LEN || pn_len < 1 || pn_len > 4 ||
      1 + dcid_len + pn_len > cap) {
    return 0;
  }
  p[0] = (uint8_t)(ZTTP_QUIC_FIXED_BIT | (spin ? ZTTP_QUIC_SPIN_BIT : 0) |
                   (key_phase ? ZTTP_QUIC_KEY_PHASE_BIT : 0) | (pn_len - 1));
  if (dcid_len != 0) {
    memcpy(p + 1, dcid, dcid_len);
  }
  *pn_offset = 1 + dcid_len;
  put_pn(p + 1 + dcid_len, pn, pn_len);
  return 1 + dcid_len + pn_len;
}

/* RFC 9000 §17.2.1, RFC 8999 §6 */
size_t zttp_quic_vn_write(uint8_t *p, size_t cap, uint8_t unused,
                          const uint8_t *dcid, size_t dcid_len,
                          const uint8_t *scid, size_t scid_len,
                          const uint32_t *versions, size_t num_versions) {
  if (dcid_len > ZTTP_QUIC_INVARIANT_MAX_CID_LEN ||
      scid_len > ZTTP_QUIC_INVARIANT_MAX_CID_LEN || num_versions == 0 ||
      num_versions > cap / 4) {
    return 0;
  }
  size_t need = 1 + 4 + 1 + dcid_len + 1 + scid_len + 4 * num_versions;
  if (need > cap) {
    return 0;
  }
  uint8_t *q = p;
  *q++ = (uint8_t)(ZTTP_QUIC_FORM_BIT | ZTTP_QUIC_FIXED_BIT | (unused & 0x3f));
  q = put32(q, ZTTP_QUIC_VERSION_NEGOTIATION);
  q = put_cid(q, dcid, dcid_len);
  q = put_cid(q, scid, scid_len);
  for (size_t i = 0; i < num_versions; i++) {
    q = put32(q, versions[i]);
  }
  return (size_t)(q - p);
}

/* RFC 9000 §17.2.5 */
size_t zttp_quic_retry_write(uint8_t *p, size_t cap, uint32_t version,
                             uint8_t unused, const uint8_t *dcid,
                             size_t dcid_len, const uint8_t *scid,
                             size_t scid_len, const uint8_t *token,
                             size_t token_len) {
  uint8_t bits;
  if (!zttp_quic_long_type_bits(&bits, version, ZTTP_QUIC_PKT_RETRY) ||
      dcid_len > ZTTP_QUIC_MAX_CID_LEN || scid_len > ZTTP_QUIC_MAX_CID_LEN ||
      token_len == 0 || token_len > cap) {
    return 0;
  }
  size_t need = 1 + 4 + 1 + dcid_len + 1 + scid_len + token_len;
  if (need > cap) {
    return 0;
  }
  uint8_t *q = p;
  *q++ = (uint8_t)(ZTTP_QUIC_FORM_BIT | ZTTP_QUIC_FIXED_BIT | bits << 4 |
                   (unused & 0x0f));
  q = put32(q, version);
  q = put_cid(q, dcid, dcid_len);
  q = put_cid(q, scid, scid_len);
  memcpy(q, token, token_len);
  q += token_len;
  return (size_t)(q - p);
}

/* RFC 9000 §10.3 Figure 10 */
size_t zttp_quic_stateless_reset_write(uint8_t *p, size_t len,
                                       const uint8_t *random,
                                       const uint8_t *token) {
  if (len < ZTTP_QUIC_MIN_STATELESS_RESET_LEN) {
    return 0;
  }
  size_t nrand = len - ZTTP_QUIC_RESET_TOKEN_LEN;
  p[0] = (uint8_t)(ZTTP_QUIC_FIXED_BIT | (random[0] & 0x3f));
  memcpy(p + 1, random + 1, nrand - 1);
  memcpy(p + nrand, token, ZTTP_QUIC_RESET_TOKEN_LEN);
  return len;
}

/* RFC 9000 §10.3, §10.3.1: whatever the header form ("other QUIC versions
 * might allow the use of a long header"). */
const uint8_t *zttp_quic_stateless_reset_token(const uint8_t *data,
                                               size_t len) {
  if (len < ZTTP_QUIC_MIN_STATELESS_RESET_LEN) {
    return NULL;
  }
  return data + len - ZTTP_QUIC_RESET_TOKEN_LEN;
}
