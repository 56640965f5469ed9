/* QUIC packet headers (src/quic/packet.c): the RFC 9001 / RFC 9369
 * Appendix A packets parsed, unmasked and rebuilt byte for byte, packet
 * numbers (RFC 9000 Appendix A.2, A.3), coalescing, Version Negotiation,
 * Retry, Stateless Reset, and every malformed or truncated header (also
 * flush against a guard page).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "harness.h"
#include "quic/frame.h"
#include "quic/packet.h"

#include "quic_test_util.h"

static const char *vectors_path;
static char *vectors;

static size_t vec(const char *section, const char *obj, const char *key,
                  uint8_t *out, size_t cap) {
  size_t n = q_json_hex(vectors, section, obj, key, out, cap);
  assert_true(n != (size_t)-1);
  return n;
}

static const char *section_of(uint32_t version) {
  return version == ZTTP_QUIC_VERSION_1 ? "rfc9001_quic_v1" : "rfc9369_quic_v2";
}

static const uint8_t rfc_dcid[8] = {0x83, 0x94, 0xc8, 0xf0,
                                    0x3e, 0x51, 0x57, 0x08};
static const uint8_t rfc_scid[8] = {0xf0, 0x67, 0xa5, 0x50,
                                    0x2a, 0x42, 0x62, 0xb5};

/* ---- versions and type bits --------------------------------------------- */

static void test_type_bits(void **state) {
  (void)state;
  /* RFC 9000 §17.2 Table 5; RFC 9369 §3.2 */
  static const uint8_t v1[4] = {0, 1, 2, 3};
  static const uint8_t v2[4] = {1, 2, 3, 0};
  for (uint32_t t = ZTTP_QUIC_PKT_INITIAL; t <= ZTTP_QUIC_PKT_RETRY; t++) {
    uint8_t bits = 0xff;
    uint32_t back = 99;
    assert_int_equal(zttp_quic_long_type_bits(&bits, ZTTP_QUIC_VERSION_1, t),
                     1);
    assert_int_equal(bits, v1[t]);
    assert_int_equal(
        zttp_quic_long_type_from_bits(&back, ZTTP_QUIC_VERSION_1, bits), 1);
    assert_int_equal(back, t);
    assert_int_equal(zttp_quic_long_type_bits(&bits, ZTTP_QUIC_VERSION_2, t),
                     1);
    assert_int_equal(bits, v2[t]);
    assert_int_equal(
        zttp_quic_long_type_from_bits(&back, ZTTP_QUIC_VERSION_2, bits), 1);
    assert_int_equal(back, t);
  }
  uint8_t bits;
  uint32_t type;
  assert_int_equal(
      zttp_quic_long_type_bits(&bits, ZTTP_QUIC_VERSION_1, ZTTP_QUIC_PKT_SHORT),
      0);
  assert_int_equal(zttp_quic_long_type_bits(&bits, ZTTP_QUIC_VERSION_2,
                                            ZTTP_QUIC_PKT_VERSION_NEGOTIATION),
                   0);
  assert_int_equal(
      zttp_quic_long_type_bits(&bits, 0xff00001d, ZTTP_QUIC_PKT_INITIAL), 0);
  assert_int_equal(zttp_quic_long_type_from_bits(&type, 0, 0), 0);
  assert_int_equal(zttp_quic_version_supported(ZTTP_QUIC_VERSION_1), 1);
  assert_int_equal(zttp_quic_version_supported(ZTTP_QUIC_VERSION_2), 1);
  assert_int_equal(zttp_quic_version_supported(0), 0);
  assert_int_equal(zttp_quic_version_supported(0x1a2a3a4a), 0);
}

/* ---- packet numbers ------------------------------------------------------ */

static void test_pn_encode_len(void **state) {
  (void)state;
  /* RFC 9000 §17.1 / Appendix A.2 */
  assert_int_equal(zttp_quic_pn_encode_len(0xac5c02, 0xabe8b3), 2);
  assert_int_equal(zttp_quic_pn_encode_len(0xace8fe, 0xabe8b3), 3);
  /* Nothing acknowledged: the range is full_pn + 1. */
  assert_int_equal(zttp_quic_pn_encode_len(0, ZTTP_QUIC_PN_NONE), 1);
  assert_int_equal(zttp_quic_pn_encode_len(127, ZTTP_QUIC_PN_NONE), 1);
  assert_int_equal(zttp_quic_pn_encode_len(128, ZTTP_QUIC_PN_NONE), 2);
  /* num_unacked <= 2^(8n-1) */
  const uint64_t base = 1000000;
  assert_int_equal(zttp_quic_pn_encode_len(base + 1, base), 1);
  assert_int_equal(zttp_quic_pn_encode_len(base + 128, base), 1);
  assert_int_equal(zttp_quic_pn_encode_len(base + 129, base), 2);
  assert_int_equal(zttp_quic_pn_encode_len(base + 32768, base), 2);
  assert_int_equal(zttp_quic_pn_encode_len(base + 32769, base), 3);
  assert_int_equal(zttp_quic_pn_encode_len(base + (1u << 23), base), 3);
  assert_int_equal(zttp_quic_pn_encode_len(base + (1u << 23) + 1, base), 4);
  assert_int_equal(zttp_quic_pn_encode_len(base + (UINT64_C(1) << 31), base),
                   4);
  assert_int_equal(zttp_quic_pn_encode_len(base + (UINT64_C(1) << 40), base),
                   4);
  /* At the top of the space. */
  assert_int_equal(
      zttp_quic_pn_encode_len(ZTTP_QUIC_MAX_PN, ZTTP_QUIC_MAX_PN - 1), 1);
  assert_int_equal(zttp_quic_pn_encode_len(ZTTP_QUIC_MAX_PN, ZTTP_QUIC_PN_NONE),
                   4);
}

static void test_pn_decode(void **state) {
  (void)state;
  /* RFC 9000 Appendix A.3 */
  assert_true(zttp_quic_pn_decode(0xa82f30ea, 0x9b32, 16) == 0xa82f9b32);
  /* RFC 9001 A.5: 654360564 sent in 3 bytes. */
  assert_true(zttp_quic_pn_decode(654360563, 0x00bff4, 24) == 654360564);
  /* Nothing received yet: expected 0. */
  assert_true(zttp_quic_pn_decode(ZTTP_QUIC_PN_NONE, 0, 8) == 0);
  assert_true(zttp_quic_pn_decode(ZTTP_QUIC_PN_NONE, 0xff, 8) == 0xff);
  assert_true(zttp_quic_pn_decode(ZTTP_QUIC_PN_NONE, 0x12345678, 32) ==
              0x12345678);
  /* Wrapping up and down. */
  assert_true(zttp_quic_pn_decode(0xff, 0x01, 8) == 0x101);
  assert_true(zttp_quic_pn_decode(0x100, 0xff, 8) == 0xff);
  assert_true(zttp_quic_pn_decode(0x17f, 0x00, 8) == 0x200);
  assert_true(zttp_quic_pn_decode(0x180, 0x00, 8) == 0x200);
  /* Below the window there is nothing to subtract from. */
  assert_true(zttp_quic_pn_decode(0x10, 0xf0, 8) == 0xf0);
  /* The 2^62 edge: candidate + pn_win would pass 2^62 - 1, so it stays. */
  const uint64_t top = UINT64_C(1) << 62;
  assert_true(zttp_quic_pn_decode(top - 2, 0x00, 8) == top - 256);
  assert_true(zttp_quic_pn_decode(top - 2, 0xff, 8) == top - 1);
  assert_true(zttp_quic_pn_decode(top - 2, 0xfe, 8) == top - 2);
  assert_true(zttp_quic_pn_decode(top - 200, 0x10, 8) == top - 256 + 0x10);
  assert_true(zttp_quic_pn_decode(top - 2, 0x0000, 16) == top - 65536);
  assert_true(zttp_quic_pn_decode(top - 2, 0xffffffff, 32) == top - 1);
}

/* Every packet number in the window around expected survives encode
 * (truncate to pn_encode_len bytes) and decode. */
static void test_pn_round_trip(void **state) {
  (void)state;
  uint64_t rng = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 20000; i++) {
    rng = rng * 6364136223846793005u + 1442695040888963407u;
    uint64_t largest = (rng >> 3) % (UINT64_C(1) << 40);
    if (i % 7 == 0) {
      largest = (rng >> 40) % 1000; /* near 0 */
    }
    uint64_t span = (rng >> 20) % (UINT64_C(1) << (8 * (1 + (i % 4)) - 1));
    uint64_t pn = largest + 1 + span;
    size_t n = zttp_quic_pn_encode_len(pn, largest);
    unsigned bits = (unsigned)(8 * n);
    uint64_t trunc = pn & ((UINT64_C(1) << bits) - 1);
    assert_true(zttp_quic_pn_decode(largest, trunc, bits) == pn);
  }
}

/* ---- the RFC packets ------------------------------------------------------
 */

static void check_initial(uint32_t version, int client) {
  const char *sec = section_of(version);
  const char *obj = client ? "client_initial_packet" : "server_initial_packet";
  uint8_t pkt[1500];
  uint8_t want_hdr[64];
  uint8_t prot_hdr[64];
  uint8_t sample[16];
  uint8_t mask[5];
  size_t len = vec(sec, obj, "protected_packet", pkt, sizeof(pkt));
  size_t hlen = vec(sec, obj, "unprotected_header", want_hdr, sizeof(want_hdr));
  assert_int_equal(
      vec(sec, obj, "protected_header", prot_hdr, sizeof(prot_hdr)), hlen);
  assert_int_equal(vec(sec, obj, "sample", sample, sizeof(sample)), 16);
  assert_int_equal(vec(sec, obj, "mask", mask, sizeof(mask)), 5);

  zttp_quic_hdr h;
  /* The short-header DCID length plays no part in long headers. */
  assert_int_equal(zttp_quic_hdr_parse(&h, pkt, len, 5), ZTTP_QUIC_HDR_OK);
  assert_int_equal(h.type, ZTTP_QUIC_PKT_INITIAL);
  assert_int_equal(h.version, version);
  assert_int_equal(h.first, pkt[0]);
  assert_int_equal(h.token_len, 0);
  assert_int_equal(h.pn_offset, 18);
  if (client) {
    assert_int_equal(len, 1200);
    assert_int_equal(h.dcid_len, 8);
    assert_memory_equal(h.dcid, rfc_dcid, 8);
    assert_int_equal(h.scid_len, 0);
    assert_true(h.length == 1182);
  } else {
    assert_int_equal(len, 135);
    assert_int_equal(h.dcid_len, 0);
    assert_int_equal(h.scid_len, 8);
    assert_memory_equal(h.scid, rfc_scid, 8);
    assert_true(h.length == 117);
  }
  assert_int_equal(h.packet_len, len);
  assert_ptr_equal(h.token, pkt + 16);

  /* RFC 9001 §5.4.2 sample. */
  assert_int_equal(zttp_quic_hp_sample_ok(h.packet_len, h.pn_offset), 1);
  size_t so = zttp_quic_hp_sample_offset(h.pn_offset);
  assert_int_equal(so, 22);
  assert_memory_equal(pkt + so, sample, 16);

  /* Unmask to the unprotected header, and back. */
  size_t pn_len = 0;
  uint64_t pn = 0;
  assert_int_equal(
      zttp_quic_hp_unmask(pkt, h.packet_len, h.pn_offset, mask, &pn_len, &pn),
      1);
  assert_int_equal(pn_len, client ? 4 : 2);
  assert_true(pn == (client ? 2u : 1u));
  assert_int_equal(h.pn_offset + pn_len, hlen);
  assert_memory_equal(pkt, want_hdr, hlen);
  assert_int_equal(zttp_quic_hdr_reserved(pkt[0]), 0);
  assert_int_equal(
      zttp_quic_hp_mask_apply(pkt, h.packet_len, h.pn_offset, mask), 1);
  assert_memory_equal(pkt, prot_hdr, hlen);

  /* The builder writes the same unprotected header. */
  uint8_t out[64];
  zttp_quic_hdr in;
  memset(&in, 0, sizeof(in));
  in.type = ZTTP_QUIC_PKT_INITIAL;
  in.version = version;
  if (client) {
    in.dcid = rfc_dcid;
    in.dcid_len = 8;
  } else {
    in.scid = rfc_scid;
    in.scid_len = 8;
  }
  size_t loff = 0;
  size_t pnoff = 0;
  size_t n = zttp_quic_hdr_write_long(out, sizeof(out), &in, pn, pn_len, &loff,
                                      &pnoff);
  assert_int_equal(n, hlen);
  assert_int_equal(loff, 16);
  assert_int_equal(pnoff, 18);
  assert_int_equal(zttp_quic_length_patch(out, loff, h.length), 1);
  assert_memory_equal(out, want_hdr, hlen);
  /* Every smaller buffer is refused. */
  for (size_t cap = 0; cap < hlen; cap++) {
    assert_int_equal(
        zttp_quic_hdr_write_long(out, cap, &in, pn, pn_len, &loff, &pnoff), 0);
  }
}

static void test_rfc_initials(void **state) {
  (void)state;
  check_initial(ZTTP_QUIC_VERSION_1, 1);
  check_initial(ZTTP_QUIC_VERSION_1, 0);
  check_initial(ZTTP_QUIC_VERSION_2, 1);
  check_initial(ZTTP_QUIC_VERSION_2, 0);
}

/* RFC 9001 A.4, RFC 9369 A.4 */
static void check_retry(uint32_t version) {
  uint8_t pkt[128];
  size_t len =
      vec(section_of(version), "retry_packet", "packet", pkt, sizeof(pkt));
  assert_int_equal(len, 36);
  zttp_quic_hdr h;
  assert_int_equal(zttp_quic_hdr_parse(&h, pkt, len, 0), ZTTP_QUIC_HDR_OK);
  assert_int_equal(h.type, ZTTP_QUIC_PKT_RETRY);
  assert_int_equal(h.version, version);
  assert_int_equal(h.dcid_len, 0);
  assert_int_equal(h.scid_len, 8);
  assert_memory_equal(h.scid, rfc_scid, 8);
  assert_int_equal(h.token_len, 5);
  assert_memory_equal(h.token, "token", 5);
  assert_ptr_equal(h.retry_tag, pkt + 20);
  assert_int_equal(h.packet_len, 36);

  uint8_t out[64];
  size_t n = zttp_quic_retry_write(out, sizeof(out), version, 0x0f, NULL, 0,
                                   rfc_scid, 8, (const uint8_t *)"token", 5);
  assert_int_equal(n, 20);
  assert_memory_equal(out, pkt, 20);
  /* The caller appends the tag (RFC 9001 §5.8). */
  uint8_t tag[16];
  assert_int_equal(zttp_crypto_retry_tag(tag, version, rfc_dcid, 8, out, n), 1);
  assert_memory_equal(tag, h.retry_tag, 16);
  for (size_t cap = 0; cap < 20; cap++) {
    assert_int_equal(zttp_quic_retry_write(out, cap, version, 0x0f, NULL, 0,
                                           rfc_scid, 8,
                                           (const uint8_t *)"token", 5),
                     0);
  }
  /* An empty token, a long CID, an unknown version are refused. */
  assert_int_equal(zttp_quic_retry_write(out, sizeof(out), version, 0, NULL, 0,
                                         rfc_scid, 8, NULL, 0),
                   0);
  assert_int_equal(zttp_quic_retry_write(out, sizeof(out), version, 0, pkt, 21,
                                         rfc_scid, 8, pkt, 3),
                   0);
  assert_int_equal(zttp_quic_retry_write(out, sizeof(out), 7, 0, NULL, 0,
                                         rfc_scid, 8, pkt, 3),
                   0);

  /* Every truncation that leaves no token or no tag is malformed; past
   * that the token just gets shorter. */
  for (size_t k = 0; k < len; k++) {
    int rv = zttp_quic_hdr_parse(&h, pkt, k, 0);
    if (k < 15 + 17) {
      assert_int_equal(rv, ZTTP_QUIC_HDR_MALFORMED);
    } else {
      assert_int_equal(rv, ZTTP_QUIC_HDR_OK);
      assert_int_equal(h.token_len, k - 15 - 16);
    }
  }
}

static void test_rfc_retry(void **state) {
  (void)state;
  check_retry(ZTTP_QUIC_VERSION_1);
  check_retry(ZTTP_QUIC_VERSION_2);
}

/* RFC 9001 A.5, RFC 9369 A.5: the ChaCha20 short-header packet. */
static void check_short(uint32_t version) {
  const char *sec = section_of(version);
  uint8_t pkt[64];
  uint8_t want[8];
  uint8_t prot[8];
  uint8_t sample[16];
  uint8_t mask[5];
  size_t len = vec(sec, "chacha20_short_header", "packet", pkt, sizeof(pkt));
  assert_int_equal(
      vec(sec, "chacha20_short_header", "unprotected_header", want, 8), 4);
  assert_int_equal(
      vec(sec, "chacha20_short_header", "protected_header", prot, 8), 4);
  assert_int_equal(vec(sec, "chacha20_short_header", "sample", sample, 16), 16);
  assert_int_equal(vec(sec, "chacha20_short_header", "mask", mask, 5), 5);
  assert_int_equal(len, 21);

  zttp_quic_hdr h;
  assert_int_equal(zttp_quic_hdr_parse(&h, pkt, len, 0), ZTTP_QUIC_HDR_OK);
  assert_int_equal(h.type, ZTTP_QUIC_PKT_SHORT);
  assert_int_equal(h.version, 0);
  assert_int_equal(h.dcid_len, 0);
  assert_int_equal(h.pn_offset, 1);
  assert_int_equal(h.packet_len, 21);
  assert_int_equal(zttp_quic_hp_sample_ok(h.packet_len, h.pn_offset), 1);
  assert_memory_equal(pkt + zttp_quic_hp_sample_offset(h.pn_offset), sample,
                      16);
  size_t pn_len;
  uint64_t trunc;
  assert_int_equal(
      zttp_quic_hp_unmask(pkt, len, h.pn_offset, mask, &pn_len, &trunc), 1);
  assert_int_equal(pn_len, 3);
  assert_memory_equal(pkt, want, 4);
  assert_true(zttp_quic_pn_decode(654360563, trunc, 24) == 654360564);
  assert_int_equal(zttp_quic_hdr_reserved(pkt[0]), 0);
  assert_int_equal(zttp_quic_hp_mask_apply(pkt, len, h.pn_offset, mask), 1);
  assert_memory_equal(pkt, prot, 4);

  uint8_t out[8];
  size_t pnoff = 0;
  assert_int_equal(zttp_quic_hdr_write_short(out, sizeof(out), NULL, 0, 0, 0,
                                             654360564, 3, &pnoff),
                   4);
  assert_int_equal(pnoff, 1);
  assert_memory_equal(out, want, 4);
}

static void test_rfc_short(void **state) {
  (void)state;
  check_short(ZTTP_QUIC_VERSION_1);
  check_short(ZTTP_QUIC_VERSION_2);
}

/* ---- builders -------------------------------------------------------------
 */

static void test_write_long_types(void **state) {
  (void)state;
  static const uint8_t dcid[4] = {0xd0, 0xd1, 0xd2, 0xd3};
  static const uint8_t scid[2] = {0x50, 0x51};
  uint8_t out[64];
  zttp_quic_hdr in;
  memset(&in, 0, sizeof(in));
  in.dcid = dcid;
  in.dcid_len = 4;
  in.scid = scid;
  in.scid_len = 2;
  in.token = (const uint8_t *)"tok";
  in.token_len = 3;
  size_t loff;
  size_t pnoff;
  uint8_t want[64];
  size_t wn;

  /* v1 Initial with a token, 1-byte packet number. */
  in.type = ZTTP_QUIC_PKT_INITIAL;
  in.version = ZTTP_QUIC_VERSION_1;
  wn = q_unhex(want, sizeof(want),
               "c0 00000001 04d0d1d2d3 025051 03746f6b 4000 2a");
  assert_int_equal(
      zttp_quic_hdr_write_long(out, sizeof(out), &in, 0x12a, 1, &loff, &pnoff),
      wn);
  assert_int_equal(loff, 17);
  assert_int_equal(pnoff, 19);
  assert_memory_equal(out, want, wn);
  assert_int_equal(zttp_quic_length_patch(out, loff, 16383), 1);
  assert_memory_equal(out + loff, "\x7f\xff", 2);
  assert_int_equal(zttp_quic_length_patch(out, loff, 16384), 0);
  assert_memory_equal(out + loff, "\x7f\xff", 2);

  /* 0-RTT and Handshake ignore the token. v1: types 1, 2. */
  in.type = ZTTP_QUIC_PKT_ZERO_RTT;
  wn = q_unhex(want, sizeof(want), "d1 00000001 04d0d1d2d3 025051 4000 0102");
  assert_int_equal(
      zttp_quic_hdr_write_long(out, sizeof(out), &in, 0x102, 2, &loff, &pnoff),
      wn);
  assert_memory_equal(out, want, wn);
  in.type = ZTTP_QUIC_PKT_HANDSHAKE;
  wn = q_unhex(want, sizeof(want),
               "e3 00000001 04d0d1d2d3 025051 4000 01020304");
  assert_int_equal(zttp_quic_hdr_write_long(out, sizeof(out), &in, 0x01020304,
                                            4, &loff, &pnoff),
                   wn);
  assert_memory_equal(out, want, wn);
  /* v2: Initial 1, 0-RTT 2, Handshake 3 (RFC 9369 §3.2). */
  in.version = ZTTP_QUIC_VERSION_2;
  wn = q_unhex(want, sizeof(want), "f2 6b3343cf 04d0d1d2d3 025051 4000 030405");
  assert_int_equal(zttp_quic_hdr_write_long(out, sizeof(out), &in, 0x030405, 3,
                                            &loff, &pnoff),
                   wn);
  assert_memory_equal(out, want, wn);
  in.type = ZTTP_QUIC_PKT_ZERO_RTT;
  wn = q_unhex(want, sizeof(want), "e0 6b3343cf 04d0d1d2d3 025051 4000 07");
  assert_int_equal(
      zttp_quic_hdr_write_long(out, sizeof(out), &in, 7, 1, &loff, &pnoff), wn);
  assert_memory_equal(out, want, wn);
  in.type = ZTTP_QUIC_PKT_INITIAL;
  wn = q_unhex(want, sizeof(want),
               "d0 6b3343cf 04d0d1d2d3 025051 03746f6b 4000 07");
  assert_int_equal(
      zttp_quic_hdr_write_long(out, sizeof(out), &in, 7, 1, &loff, &pnoff), wn);
  assert_memory_equal(out, want, wn);

  /* What a header of ours parses to. */
  assert_int_equal(zttp_quic_length_patch(out, loff, 1), 1);
  zttp_quic_hdr h;
  assert_int_equal(zttp_quic_hdr_parse(&h, out, wn, 0), ZTTP_QUIC_HDR_OK);
  assert_int_equal(h.type, ZTTP_QUIC_PKT_INITIAL);
  assert_int_equal(h.version, ZTTP_QUIC_VERSION_2);
  assert_int_equal(h.token_len, 3);
  assert_int_equal(h.pn_offset, wn - 1);
  assert_int_equal(h.packet_len, wn);

  /* Refused arguments. */
  in.type = ZTTP_QUIC_PKT_RETRY;
  assert_int_equal(
      zttp_quic_hdr_write_long(out, sizeof(out), &in, 7, 1, &loff, &pnoff), 0);
  in.type = ZTTP_QUIC_PKT_SHORT;
  assert_int_equal(
      zttp_quic_hdr_write_long(out, sizeof(out), &in, 7, 1, &loff, &pnoff), 0);
  in.type = ZTTP_QUIC_PKT_HANDSHAKE;
  in.version = 0x1a2a3a4a;
  assert_int_equal(
      zttp_quic_hdr_write_long(out, sizeof(out), &in, 7, 1, &loff, &pnoff), 0);
  in.version = ZTTP_QUIC_VERSION_1;
  assert_int_equal(
      zttp_quic_hdr_write_long(out, sizeof(out), &in, 7, 0, &loff, &pnoff), 0);
  assert_int_equal(
      zttp_quic_hdr_write_long(out, sizeof(out), &in, 7, 5, &loff, &pnoff), 0);
  in.dcid_len = 21;
  assert_int_equal(
      zttp_quic_hdr_write_long(out, sizeof(out), &in, 7, 1, &loff, &pnoff), 0);
}

static void test_write_short(void **state) {
  (void)state;
  static const uint8_t dcid[3] = {0xaa, 0xbb, 0xcc};
  uint8_t out[32];
  size_t pnoff;
  assert_int_equal(zttp_quic_hdr_write_short(out, sizeof(out), dcid, 3, 1, 1,
                                             0x1234, 2, &pnoff),
                   6);
  assert_int_equal(pnoff, 4);
  assert_memory_equal(out, "\x65\xaa\xbb\xcc\x12\x34", 6);
  for (size_t cap = 0; cap < 6; cap++) {
    assert_int_equal(
        zttp_quic_hdr_write_short(out, cap, dcid, 3, 1, 1, 0x1234, 2, &pnoff),
        0);
  }
  assert_int_equal(
      zttp_quic_hdr_write_short(out, sizeof(out), dcid, 21, 0, 0, 1, 1, &pnoff),
      0);
  assert_int_equal(
      zttp_quic_hdr_write_short(out, sizeof(out), dcid, 3, 0, 0, 1, 0, &pnoff),
      0);
  zttp_quic_hdr h;
  assert_int_equal(zttp_quic_hdr_parse(&h, out, 6, 3), ZTTP_QUIC_HDR_OK);
  assert_int_equal(h.type, ZTTP_QUIC_PKT_SHORT);
  assert_int_equal(h.dcid_len, 3);
  assert_ptr_equal(h.dcid, out + 1);
  assert_int_equal(h.pn_offset, 4);
  assert_int_equal(h.first, 0x65);
  /* The DCID and no packet number byte: malformed. */
  assert_int_equal(zttp_quic_hdr_parse(&h, out, 4, 3), ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(zttp_quic_hdr_parse(&h, out, 6, 5), ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(zttp_quic_hdr_parse(&h, out, 6, 21),
                   ZTTP_QUIC_HDR_MALFORMED);
}

/* ---- coalescing (RFC 9000 §12.2) ---------------------------------------- */

static void test_coalesced(void **state) {
  (void)state;
  uint8_t dg[1500];
  size_t n = vec("rfc9001_quic_v1", "server_initial_packet", "protected_packet",
                 dg, sizeof(dg));
  assert_int_equal(n, 135);
  /* A Handshake packet with 30 bytes after the Length field. */
  zttp_quic_hdr in;
  memset(&in, 0, sizeof(in));
  in.type = ZTTP_QUIC_PKT_HANDSHAKE;
  in.version = ZTTP_QUIC_VERSION_1;
  in.scid = rfc_scid;
  in.scid_len = 8;
  size_t loff;
  size_t pnoff;
  size_t hn = zttp_quic_hdr_write_long(dg + n, sizeof(dg) - n, &in, 0, 1, &loff,
                                       &pnoff);
  assert_int_equal(hn, 1 + 4 + 1 + 1 + 8 + 2 + 1);
  memset(dg + n + hn, 0x5a, 29);
  assert_int_equal(zttp_quic_length_patch(dg + n, loff, 30), 1);
  size_t hs_at = n;
  n += hn + 29;
  /* A 1-RTT packet takes the rest. */
  size_t short_at = n;
  size_t sn = zttp_quic_hdr_write_short(dg + n, sizeof(dg) - n, NULL, 0, 0, 0,
                                        3, 1, &pnoff);
  assert_int_equal(sn, 2);
  memset(dg + n + sn, 0x33, 40);
  n += sn + 40;

  zttp_quic_hdr h;
  size_t off = 0;
  uint32_t types[3];
  size_t starts[3];
  size_t count = 0;
  while (off < n) {
    assert_true(count < 3);
    assert_int_equal(zttp_quic_hdr_parse(&h, dg + off, n - off, 0),
                     ZTTP_QUIC_HDR_OK);
    types[count] = h.type;
    starts[count] = off;
    count++;
    off += h.packet_len;
  }
  assert_int_equal(off, n);
  assert_int_equal(count, 3);
  assert_int_equal(types[0], ZTTP_QUIC_PKT_INITIAL);
  assert_int_equal(types[1], ZTTP_QUIC_PKT_HANDSHAKE);
  assert_int_equal(types[2], ZTTP_QUIC_PKT_SHORT);
  assert_int_equal(starts[1], hs_at);
  assert_int_equal(starts[2], short_at);

  /* Zero padding after the last long-header packet is not a packet. */
  n = short_at;
  memset(dg + n, 0, 10);
  n += 10;
  assert_int_equal(zttp_quic_hdr_parse(&h, dg + hs_at, n - hs_at, 0),
                   ZTTP_QUIC_HDR_OK);
  assert_int_equal(hs_at + h.packet_len, short_at);
  assert_int_equal(zttp_quic_hdr_parse(&h, dg + short_at, 10, 0),
                   ZTTP_QUIC_HDR_MALFORMED);
}

/* ---- Version Negotiation (RFC 9000 §17.2.1, RFC 8999 §6) --------------- */

static void test_version_negotiation(void **state) {
  (void)state;
  static const uint32_t versions[3] = {ZTTP_QUIC_VERSION_1, ZTTP_QUIC_VERSION_2,
                                       0x1a2a3a4a};
  uint8_t out[600];
  uint8_t want[64];
  size_t wn = q_unhex(want, sizeof(want),
                      "ea 00000000 04d0d1d2d3 08f067a5502a4262b5"
                      "00000001 6b3343cf 1a2a3a4a");
  static const uint8_t dcid[4] = {0xd0, 0xd1, 0xd2, 0xd3};
  size_t n = zttp_quic_vn_write(out, sizeof(out), 0xaa, dcid, 4, rfc_scid, 8,
                                versions, 3);
  assert_int_equal(n, wn);
  assert_memory_equal(out, want, wn);
  for (size_t cap = 0; cap < wn; cap++) {
    assert_int_equal(
        zttp_quic_vn_write(out, cap, 0xaa, dcid, 4, rfc_scid, 8, versions, 3),
        0);
  }
  assert_int_equal(zttp_quic_vn_write(out, sizeof(out), 0, dcid, 4, rfc_scid, 8,
                                      versions, 0),
                   0);

  zttp_quic_hdr h;
  assert_int_equal(zttp_quic_hdr_parse(&h, out, n, 0), ZTTP_QUIC_HDR_OK);
  assert_int_equal(h.type, ZTTP_QUIC_PKT_VERSION_NEGOTIATION);
  assert_int_equal(h.version, 0);
  assert_int_equal(h.dcid_len, 4);
  assert_memory_equal(h.dcid, dcid, 4);
  assert_int_equal(h.scid_len, 8);
  assert_int_equal(h.num_versions, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(zttp_quic_vn_version(&h, i), versions[i]);
  }
  assert_int_equal(h.packet_len, n);

  /* The list must be whole 4-byte entries, and not empty. */
  for (size_t k = 0; k < n; k++) {
    int rv = zttp_quic_hdr_parse(&h, out, k, 0);
    if (k > 19 && (k - 19) % 4 == 0) {
      assert_int_equal(rv, ZTTP_QUIC_HDR_OK);
      assert_int_equal(h.num_versions, (k - 19) / 4);
    } else {
      assert_int_equal(rv, ZTTP_QUIC_HDR_MALFORMED);
    }
  }

  /* The unused bits are arbitrary: fixed bit 0 is fine in VN. */
  out[0] = 0x80;
  assert_int_equal(zttp_quic_hdr_parse(&h, out, n, 0), ZTTP_QUIC_HDR_OK);

  /* RFC 8999: CIDs of up to 255 bytes. */
  static uint8_t big[255];
  memset(big, 0xbb, sizeof(big));
  n = zttp_quic_vn_write(out, sizeof(out), 0, big, 255, big, 200, versions, 1);
  assert_int_equal(n, 1 + 4 + 1 + 255 + 1 + 200 + 4);
  assert_int_equal(out[0], 0xc0);
  assert_int_equal(zttp_quic_hdr_parse(&h, out, n, 0), ZTTP_QUIC_HDR_OK);
  assert_int_equal(h.dcid_len, 255);
  assert_int_equal(h.scid_len, 200);
  assert_int_equal(h.num_versions, 1);
  zttp_quic_invariant inv;
  assert_int_equal(zttp_quic_invariant_parse(&inv, out, n, 0), 1);
  assert_int_equal(inv.is_long, 1);
  assert_int_equal(inv.version, 0);
  assert_int_equal(inv.dcid_len, 255);
  assert_int_equal(inv.scid_len, 200);
  assert_int_equal(
      zttp_quic_vn_write(out, sizeof(out), 0, big, 256, big, 1, versions, 1),
      0);
}

/* ---- the version-independent view (RFC 8999 §5) ------------------------ */

static void test_invariant(void **state) {
  (void)state;
  uint8_t p[64];
  size_t n = q_unhex(p, sizeof(p),
                     "c5 1a2a3a4a 1e" /* 30-byte DCID */
                     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b"
                     "1c1d 03 aabbcc ff");
  zttp_quic_invariant inv;
  assert_int_equal(zttp_quic_invariant_parse(&inv, p, n, 0), 1);
  assert_int_equal(inv.first, 0xc5);
  assert_int_equal(inv.is_long, 1);
  assert_int_equal(inv.version, 0x1a2a3a4a);
  assert_int_equal(inv.dcid_len, 30);
  assert_ptr_equal(inv.dcid, p + 6);
  assert_int_equal(inv.scid_len, 3);
  assert_ptr_equal(inv.scid, p + 37);
  for (size_t k = 0; k < 40; k++) {
    assert_int_equal(zttp_quic_invariant_parse(&inv, p, k, 0), 0);
  }
  /* An unknown version: the header parser says so, with the CIDs. */
  zttp_quic_hdr h;
  assert_int_equal(zttp_quic_hdr_parse(&h, p, n, 0),
                   ZTTP_QUIC_HDR_UNKNOWN_VERSION);
  assert_int_equal(h.version, 0x1a2a3a4a);
  assert_int_equal(h.dcid_len, 30);
  assert_int_equal(h.scid_len, 3);
  assert_int_equal(h.packet_len, n);
  for (size_t k = 0; k < 40; k++) {
    assert_int_equal(zttp_quic_hdr_parse(&h, p, k, 0), ZTTP_QUIC_HDR_MALFORMED);
  }
  /* Short header: the receiver's DCID length. */
  p[0] = 0x41;
  assert_int_equal(zttp_quic_invariant_parse(&inv, p, 5, 4), 1);
  assert_int_equal(inv.is_long, 0);
  assert_int_equal(inv.dcid_len, 4);
  assert_ptr_equal(inv.dcid, p + 1);
  assert_int_equal(zttp_quic_invariant_parse(&inv, p, 4, 4), 0);
  /* The invariants ignore the fixed bit. */
  p[0] = 0x01;
  assert_int_equal(zttp_quic_invariant_parse(&inv, p, 5, 4), 1);
  assert_int_equal(zttp_quic_invariant_parse(&inv, p, 0, 0), 0);
}

/* ---- malformed headers --------------------------------------------------- */

static int parse_hex(const char *hex, size_t short_dcid_len) {
  uint8_t p[256];
  size_t n = q_unhex(p, sizeof(p), hex);
  zttp_quic_hdr h;
  return zttp_quic_hdr_parse(&h, p, n, short_dcid_len);
}

static void test_malformed(void **state) {
  (void)state;
  zttp_quic_hdr h;
  assert_int_equal(zttp_quic_hdr_parse(&h, NULL, 0, 0),
                   ZTTP_QUIC_HDR_MALFORMED);
  /* A valid Handshake packet for reference. */
  assert_int_equal(parse_hex("e0 00000001 0101 0102 02 0000", 0),
                   ZTTP_QUIC_HDR_OK);
  /* Fixed bit 0 (RFC 9000 §17.2), in v1 and v2. */
  assert_int_equal(parse_hex("a0 00000001 0101 0102 02 0000", 0),
                   ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(parse_hex("b0 6b3343cf 0101 0102 02 0000", 0),
                   ZTTP_QUIC_HDR_MALFORMED);
  /* 21-byte DCID / SCID. */
  assert_int_equal(
      parse_hex("e0 00000001 15 000102030405060708090a0b0c0d0e0f1011121314"
                " 00 02 0000",
                0),
      ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(
      parse_hex("e0 00000001 00 15 000102030405060708090a0b0c0d0e0f1011121314"
                " 02 0000",
                0),
      ZTTP_QUIC_HDR_MALFORMED);
  /* 20 bytes are fine. */
  assert_int_equal(
      parse_hex("e0 00000001 14 000102030405060708090a0b0c0d0e0f10111213"
                " 00 02 0000",
                0),
      ZTTP_QUIC_HDR_OK);
  /* Length past the datagram; exactly to its end is fine. */
  assert_int_equal(parse_hex("e0 00000001 00 00 03 0000", 0),
                   ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(parse_hex("e0 00000001 00 00 4003 0000", 0),
                   ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(parse_hex("e0 00000001 00 00 ffffffffffffffff 0000", 0),
                   ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(parse_hex("e0 00000001 00 00 4002 0000", 0),
                   ZTTP_QUIC_HDR_OK);
  /* Token length past the datagram (and one that wraps size_t). */
  assert_int_equal(parse_hex("c0 00000001 00 00 05 0000 01 00", 0),
                   ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(parse_hex("c0 00000001 00 00 ffffffffffffffff 01 00", 0),
                   ZTTP_QUIC_HDR_MALFORMED);
  /* Retry: an empty token, no room for the tag. */
  assert_int_equal(
      parse_hex("f0 00000001 00 00 000102030405060708090a0b0c0d0e0f", 0),
      ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(
      parse_hex("f0 00000001 00 00 0102030405060708090a0b0c0d0e0f", 0),
      ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(
      parse_hex("f0 00000001 00 00 aa 000102030405060708090a0b0c0d0e0f", 0),
      ZTTP_QUIC_HDR_OK);
  /* Short header: fixed bit 0. */
  assert_int_equal(parse_hex("01 aabb 01", 2), ZTTP_QUIC_HDR_MALFORMED);
  assert_int_equal(parse_hex("41 aabb 01", 2), ZTTP_QUIC_HDR_OK);
  /* A long header cut inside the version: malformed, not unknown. */
  assert_int_equal(parse_hex("c0 0000", 0), ZTTP_QUIC_HDR_MALFORMED);
}

/* Every truncation of a long-header packet is malformed: the Length (or,
 * before it, the header itself) no longer fits. */
static void test_every_truncation(void **state) {
  (void)state;
  static const char *objs[2] = {"client_initial_packet",
                                "server_initial_packet"};
  h_guard g;
  h_guard_init(&g, 1500);
  for (int v = 0; v < 2; v++) {
    for (int o = 0; o < 2; o++) {
      uint8_t pkt[1500];
      size_t len =
          vec(section_of(v == 0 ? ZTTP_QUIC_VERSION_1 : ZTTP_QUIC_VERSION_2),
              objs[o], "protected_packet", pkt, sizeof(pkt));
      for (size_t k = 0; k <= len; k++) {
        const uint8_t *p = h_guard_place(&g, pkt, k);
        zttp_quic_hdr h;
        int rv = zttp_quic_hdr_parse(&h, p, k, 8);
        assert_int_equal(rv,
                         k == len ? ZTTP_QUIC_HDR_OK : ZTTP_QUIC_HDR_MALFORMED);
        zttp_quic_invariant inv;
        assert_int_equal(zttp_quic_invariant_parse(&inv, p, k, 8), k >= 15u);
      }
    }
  }
  h_guard_free(&g);
}

/* Headers flush against an unreadable page: VN, Retry, short, unknown
 * version, 255-byte CIDs. */
static void test_guard_page(void **state) {
  (void)state;
  static const char *hexes[] = {
      "ea 00000000 04d0d1d2d3 08f067a5502a4262b5 00000001 6b3343cf",
      "f0 00000001 00 00 aa 000102030405060708090a0b0c0d0e0f",
      "41 aabbccdd 01 02 03",
      "c5 1a2a3a4a ff",
      "c5 1a2a3a4a 02 aabb ff",
      "c0 00000001 00 00 4005 01",
      "c0 00000001 00 00 c0000000 00000001 01",
      "c0 00000001 00 00 05 00 ",
      "e0 00000001 00 00 80000002 0000",
  };
  h_guard g;
  h_guard_init(&g, 256);
  for (size_t i = 0; i < sizeof(hexes) / sizeof(hexes[0]); i++) {
    uint8_t buf[256];
    size_t n = q_unhex(buf, sizeof(buf), hexes[i]);
    for (size_t k = 0; k <= n; k++) {
      const uint8_t *p = h_guard_place(&g, buf, k);
      zttp_quic_hdr h;
      zttp_quic_invariant inv;
      int rv = zttp_quic_hdr_parse(&h, p, k, 4);
      assert_true(rv == ZTTP_QUIC_HDR_OK || rv == ZTTP_QUIC_HDR_MALFORMED ||
                  rv == ZTTP_QUIC_HDR_UNKNOWN_VERSION);
      if (rv == ZTTP_QUIC_HDR_OK) {
        assert_true(h.packet_len <= k);
        assert_true(h.pn_offset <= h.packet_len);
      }
      (void)zttp_quic_invariant_parse(&inv, p, k, 4);
    }
  }
  h_guard_free(&g);
}

/* ---- header protection edges --------------------------------------------- */

static void test_hp_edges(void **state) {
  (void)state;
  /* RFC 9001 §5.4.2: pn_offset + 4 + 16 bytes at least. */
  assert_int_equal(zttp_quic_hp_sample_ok(38, 18), 1);
  assert_int_equal(zttp_quic_hp_sample_ok(37, 18), 0);
  assert_int_equal(zttp_quic_hp_sample_ok(10, 18), 0);
  assert_int_equal(zttp_quic_hp_sample_ok(SIZE_MAX, SIZE_MAX - 19), 0);
  assert_int_equal(zttp_quic_hp_sample_ok(SIZE_MAX, SIZE_MAX - 20), 1);

  /* The packet number length comes out of the unmasked first byte; when
   * that many bytes are not there, nothing changes. */
  uint8_t p[4] = {0x43, 0x11, 0x22, 0x33};
  const uint8_t mask[5] = {0x00, 0xff, 0xff, 0xff, 0xff};
  size_t pn_len = 9;
  uint64_t pn = 9;
  assert_int_equal(zttp_quic_hp_unmask(p, 4, 1, mask, &pn_len, &pn), 0);
  assert_memory_equal(p, "\x43\x11\x22\x33", 4);
  assert_int_equal(pn_len, 9);
  assert_int_equal(zttp_quic_hp_mask_apply(p, 4, 1, mask), 0);
  assert_int_equal(zttp_quic_hp_unmask(p, 4, 4, mask, &pn_len, &pn), 0);
  assert_int_equal(zttp_quic_hp_unmask(p, 0, 0, mask, &pn_len, &pn), 0);
  /* A mask that turns the length into 3 bytes (0x43 ^ 0x01 = 0x42). */
  const uint8_t mask2[5] = {0xe1, 0x01, 0x02, 0x03, 0x04};
  assert_int_equal(zttp_quic_hp_unmask(p, 4, 1, mask2, &pn_len, &pn), 1);
  /* Short header: 5 bits of the first byte (0xe1 & 0x1f = 0x01). */
  assert_int_equal(p[0], 0x42);
  assert_int_equal(pn_len, 3);
  assert_true(pn == 0x102030u);
  assert_memory_equal(p, "\x42\x10\x20\x30", 4);
  assert_int_equal(zttp_quic_hp_mask_apply(p, 4, 1, mask2), 1);
  assert_memory_equal(p, "\x43\x11\x22\x33", 4);
  /* Long header: only 4 bits (0xff & 0x0f). */
  uint8_t l[3] = {0xc0, 0x00, 0x00};
  const uint8_t mask3[5] = {0xff, 0xaa, 0xbb, 0, 0};
  assert_int_equal(zttp_quic_hp_unmask(l, 3, 1, mask3, &pn_len, &pn), 0);
  const uint8_t mask4[5] = {0xf1, 0xaa, 0xbb, 0, 0};
  assert_int_equal(zttp_quic_hp_unmask(l, 3, 1, mask4, &pn_len, &pn), 1);
  assert_int_equal(l[0], 0xc1);
  assert_int_equal(pn_len, 2);
  assert_true(pn == 0xaabbu);
  /* Reserved bits. */
  assert_int_equal(zttp_quic_hdr_reserved(0xcc), 0x0c);
  assert_int_equal(zttp_quic_hdr_reserved(0xc3), 0);
  assert_int_equal(zttp_quic_hdr_reserved(0x58), 0x18);
  assert_int_equal(zttp_quic_hdr_reserved(0x67), 0);
}

/* ---- Stateless Reset (RFC 9000 §10.3) ------------------------------------ */

static void test_stateless_reset(void **state) {
  (void)state;
  uint8_t random[64];
  uint8_t token[16];
  for (size_t i = 0; i < sizeof(random); i++) {
    random[i] = (uint8_t)(0xc0 + i);
  }
  for (size_t i = 0; i < 16; i++) {
    token[i] = (uint8_t)(0x10 + i);
  }
  uint8_t out[64];
  assert_int_equal(zttp_quic_stateless_reset_write(out, 20, random, token), 0);
  assert_int_equal(zttp_quic_stateless_reset_write(out, 21, random, token), 21);
  uint8_t want[21];
  size_t wn = q_unhex(want, sizeof(want),
                      "40 c1c2c3c4 101112131415161718191a1b1c1d1e1f");
  assert_int_equal(wn, 21);
  assert_memory_equal(out, want, 21);
  assert_ptr_equal(zttp_quic_stateless_reset_token(out, 21), out + 5);
  assert_ptr_equal(zttp_quic_stateless_reset_token(out, 20), NULL);

  assert_int_equal(zttp_quic_stateless_reset_write(out, 43, random, token), 43);
  assert_int_equal(out[0], 0x40);
  assert_memory_equal(out + 1, random + 1, 26);
  assert_memory_equal(out + 27, token, 16);
  assert_ptr_equal(zttp_quic_stateless_reset_token(out, 43), out + 27);
  /* It parses as a short header. */
  zttp_quic_hdr h;
  assert_int_equal(zttp_quic_hdr_parse(&h, out, 43, 8), ZTTP_QUIC_HDR_OK);
  assert_int_equal(h.type, ZTTP_QUIC_PKT_SHORT);
  /* Any datagram ending in a token counts, long header or not (§10.3). */
  out[0] = 0xc0;
  assert_ptr_equal(zttp_quic_stateless_reset_token(out, 43), out + 27);
  random[0] = 0xff;
  zttp_quic_stateless_reset_write(out, 30, random, token);
  assert_int_equal(out[0], 0x7f);
}

/* ---- end to end with the crypto seam ------------------------------------- */

/* Builds the RFC 9001 A.2 / A.3 (RFC 9369 A.2 / A.3) Initial packets from
 * scratch with the builders and frame encoders, protects them through
 * src/crypto, and gets the RFC's protected packets byte for byte; then
 * opens them again and decodes the frames. */
static void check_protect(uint32_t version, int client) {
  const char *sec = section_of(version);
  const char *obj = client ? "client_initial_packet" : "server_initial_packet";
  uint8_t want[1500];
  size_t want_len = vec(sec, obj, "protected_packet", want, sizeof(want));
  uint8_t cs[32];
  uint8_t ss[32];
  assert_int_equal(
      zttp_crypto_initial_secrets(cs, ss, version, rfc_dcid, sizeof(rfc_dcid)),
      1);
  zttp_crypto_keys *keys = NULL;
  assert_int_equal(zttp_crypto_keys_new(&keys, zttp_mem_default(),
                                        ZTTP_CRYPTO_BORINGSSL,
                                        ZTTP_CIPHER_AES_128_GCM_SHA256, version,
                                        client ? cs : ss, 32),
                   0);

  /* The plaintext payload: client: CRYPTO(ClientHello) + PADDING to 1162;
   * server: ACK of packet 0 + CRYPTO(ServerHello). */
  uint8_t crypto[512];
  size_t crypto_len;
  uint8_t payload[1500];
  size_t plen = 0;
  size_t taken = 0;
  if (client) {
    uint8_t cf[512];
    size_t cfl = vec(sec, obj, "crypto_frame", cf, sizeof(cf));
    crypto_len = cfl - 4; /* 06 00 40f1 */
    memcpy(crypto, cf + 4, crypto_len);
    plen = zttp_quic_frame_encode_crypto(payload, sizeof(payload), 0, crypto,
                                         crypto_len, &taken);
    assert_int_equal(taken, crypto_len);
    assert_memory_equal(payload, cf, cfl);
    zttp_quic_frame pad;
    memset(&pad, 0, sizeof(pad));
    pad.type = ZTTP_QUIC_FT_PADDING;
    pad.u.padding.len = 1162 - plen;
    plen +=
        zttp_quic_frame_encode(&pad, payload + plen, sizeof(payload) - plen);
    assert_int_equal(plen, 1162);
  } else {
    uint8_t sp[256];
    size_t spl = vec(sec, obj, "payload", sp, sizeof(sp));
    zttp_quic_ack_range r = {0, 0};
    zttp_quic_frame ack;
    memset(&ack, 0, sizeof(ack));
    ack.type = ZTTP_QUIC_FT_ACK;
    ack.u.ack.ranges = &r;
    ack.u.ack.num_ranges = 1;
    plen = zttp_quic_frame_encode(&ack, payload, sizeof(payload));
    crypto_len = spl - plen - 4; /* 06 00 405a */
    memcpy(crypto, sp + plen + 4, crypto_len);
    plen += zttp_quic_frame_encode_crypto(
        payload + plen, sizeof(payload) - plen, 0, crypto, crypto_len, &taken);
    assert_int_equal(plen, spl);
    assert_memory_equal(payload, sp, spl);
  }

  /* Header, Length, seal, header protection. */
  uint8_t pkt[1500];
  zttp_quic_hdr in;
  memset(&in, 0, sizeof(in));
  in.type = ZTTP_QUIC_PKT_INITIAL;
  in.version = version;
  if (client) {
    in.dcid = rfc_dcid;
    in.dcid_len = 8;
  } else {
    in.scid = rfc_scid;
    in.scid_len = 8;
  }
  uint64_t pn = client ? 2 : 1;
  size_t pn_len = zttp_quic_pn_encode_len(pn, ZTTP_QUIC_PN_NONE);
  assert_int_equal(pn_len, 1);
  pn_len = client ? 4 : 2; /* what the RFC examples chose */
  size_t loff;
  size_t pnoff;
  size_t hl = zttp_quic_hdr_write_long(pkt, sizeof(pkt), &in, pn, pn_len, &loff,
                                       &pnoff);
  assert_true(hl > 0);
  assert_int_equal(
      zttp_quic_length_patch(pkt, loff, pn_len + plen + ZTTP_CRYPTO_TAG_LEN),
      1);
  assert_int_equal(zttp_crypto_seal(keys, pkt + hl, pn, pkt, hl, payload, plen),
                   1);
  size_t len = hl + plen + ZTTP_CRYPTO_TAG_LEN;
  assert_int_equal(zttp_quic_hp_sample_ok(len, pnoff), 1);
  uint8_t mask[5];
  assert_int_equal(
      zttp_crypto_hp_mask(keys, mask, pkt + zttp_quic_hp_sample_offset(pnoff)),
      1);
  assert_int_equal(zttp_quic_hp_mask_apply(pkt, len, pnoff, mask), 1);
  assert_int_equal(len, want_len);
  assert_memory_equal(pkt, want, len);

  /* And back: parse, unmask, decode the packet number, open, frames. */
  zttp_quic_hdr h;
  assert_int_equal(zttp_quic_hdr_parse(&h, pkt, len, 0), ZTTP_QUIC_HDR_OK);
  assert_int_equal(
      zttp_crypto_hp_mask(keys, mask,
                          pkt + zttp_quic_hp_sample_offset(h.pn_offset)),
      1);
  size_t got_pn_len;
  uint64_t trunc;
  assert_int_equal(zttp_quic_hp_unmask(pkt, h.packet_len, h.pn_offset, mask,
                                       &got_pn_len, &trunc),
                   1);
  assert_int_equal(got_pn_len, pn_len);
  uint64_t full =
      zttp_quic_pn_decode(ZTTP_QUIC_PN_NONE, trunc, (unsigned)(8 * got_pn_len));
  assert_true(full == pn);
  size_t hdr_len = h.pn_offset + got_pn_len;
  assert_int_equal(zttp_crypto_open(keys, pkt + hdr_len, full, pkt, hdr_len,
                                    pkt + hdr_len, h.packet_len - hdr_len),
                   1);
  zttp_rd rd;
  zttp_rd_init(&rd, pkt + hdr_len, h.packet_len - hdr_len - 16);
  zttp_quic_frame f;
  zttp_quic_ack_range r[4];
  uint64_t err;
  size_t nframes = 0;
  while (zttp_rd_len(&rd) != 0) {
    assert_int_equal(zttp_quic_frame_decode(&rd, &f, &err, r, 4),
                     ZTTP_QUIC_FRAME_OK);
    assert_int_equal(zttp_quic_frame_allowed(f.type, h.type), 1);
    if (f.type == ZTTP_QUIC_FT_CRYPTO) {
      assert_int_equal(f.u.crypto.len, crypto_len);
      assert_memory_equal(f.u.crypto.data, crypto, crypto_len);
    } else if (f.type == ZTTP_QUIC_FT_ACK) {
      assert_true(r[0].smallest == 0 && r[0].largest == 0);
    } else {
      assert_true(f.type == ZTTP_QUIC_FT_PADDING);
      assert_int_equal(f.u.padding.len, 1162 - 245);
    }
    nframes++;
  }
  assert_int_equal(nframes, 2);
  zttp_crypto_keys_free(keys);
}

static void test_protect_rfc_initials(void **state) {
  (void)state;
  check_protect(ZTTP_QUIC_VERSION_1, 1);
  check_protect(ZTTP_QUIC_VERSION_1, 0);
  check_protect(ZTTP_QUIC_VERSION_2, 1);
  check_protect(ZTTP_QUIC_VERSION_2, 0);
}

static int setup(void **state) {
  (void)state;
  vectors = q_read_file(vectors_path);
  return vectors == NULL ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  free(vectors);
  return 0;
}

int main(int argc, char **argv) {
  vectors_path =
      argc > 1
          ? argv[1]
          : "tests/crypto/vectors/quic-packet-protection-rfc9001-rfc9369.json";
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_type_bits),
      cmocka_unit_test(test_pn_encode_len),
      cmocka_unit_test(test_pn_decode),
      cmocka_unit_test(test_pn_round_trip),
      cmocka_unit_test(test_rfc_initials),
      cmocka_unit_test(test_rfc_retry),
      cmocka_unit_test(test_rfc_short),
      cmocka_unit_test(test_write_long_types),
      cmocka_unit_test(test_write_short),
      cmocka_unit_test(test_coalesced),
      cmocka_unit_test(test_version_negotiation),
      cmocka_unit_test(test_invariant),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_every_truncation),
      cmocka_unit_test(test_guard_page),
      cmocka_unit_test(test_hp_edges),
      cmocka_unit_test(test_stateless_reset),
      cmocka_unit_test(test_protect_rfc_initials),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
