/* libFuzzer target: the QUIC wire codecs (src/quic/packet.c, frame.c,
 * tparams.c).
 *
 * Input layout: one selector byte, then a datagram.
 *   selector bits 0-4: the receiver's short-header DCID length (mod 21);
 *            bits 5-7: the ACK range cap given to the frame decoder
 *                      (ack_caps[]).
 *
 * The datagram goes through:
 *  - zttp_quic_invariant_parse(), and zttp_quic_hdr_parse() packet after
 *    packet (coalescing, RFC 9000 §12.2) until the end or a packet that is
 *    not OK. Each header must agree with the invariant view, stay inside
 *    the datagram, and rebuild (long headers with a Length field, short
 *    headers, VN, Retry) to a packet that parses to the same fields.
 *    Header protection is removed with a mask taken from the sample when
 *    there is one, re-applied, and must give the original bytes back; the
 *    packet's payload (after the packet number) is then decoded as frames.
 *  - the frame decoder on the whole datagram as a payload too;
 *  - the transport-parameter decoder, as sent by a client and by a server.
 * Every decoded frame is re-encoded, decoded again and compared field by
 * field, and checked against the STREAM / CRYPTO / ACK fitting encoders;
 * every decoded parameter set is re-encoded, decoded again and compared,
 * and the second encoding must equal the first. Packet numbers are checked
 * for the Appendix A.3 window property.
 *
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quic/frame.h"
#include "quic/packet.h"
#include "quic/tparams.h"

#define FUZZ_TARGET "quic_packet" /* names the CHECK failures */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t ack_caps[8] = {0, 1, 2, 3, 8, 32, 256, 256};

#define MAX_RANGES 256

static int is_stream(uint64_t t) {
  return t >= ZTTP_QUIC_FT_STREAM && t <= (ZTTP_QUIC_FT_STREAM | 7);
}

static int bytes_eq(const uint8_t *a, const uint8_t *b, size_t n) {
  return n == 0 || memcmp(a, b, n) == 0;
}

/* Field by field; |ranges_only| compares the stored ACK ranges but not the
 * wire count (after ACK_LIMIT). */
static int frames_equal(const zttp_quic_frame *a, const zttp_quic_frame *b,
                        int ranges_only) {
  if (a->type != b->type) {
    return 0;
  }
  uint64_t t = a->type;
  if (is_stream(t)) {
    return a->u.stream.stream_id == b->u.stream.stream_id &&
           a->u.stream.offset == b->u.stream.offset &&
           a->u.stream.len == b->u.stream.len &&
           bytes_eq(a->u.stream.data, b->u.stream.data, a->u.stream.len);
  }
  switch (t) {
  case ZTTP_QUIC_FT_PADDING:
    return a->u.padding.len == b->u.padding.len;
  case ZTTP_QUIC_FT_PING:
  case ZTTP_QUIC_FT_HANDSHAKE_DONE:
    return 1;
  case ZTTP_QUIC_FT_ACK:
  case ZTTP_QUIC_FT_ACK_ECN:
    if (a->u.ack.ack_delay != b->u.ack.ack_delay ||
        a->u.ack.num_ranges != b->u.ack.num_ranges ||
        (!ranges_only && a->u.ack.total_ranges != b->u.ack.total_ranges)) {
      return 0;
    }
    for (size_t i = 0; i < a->u.ack.num_ranges; i++) {
      if (a->u.ack.ranges[i].smallest != b->u.ack.ranges[i].smallest ||
          a->u.ack.ranges[i].largest != b->u.ack.ranges[i].largest) {
        return 0;
      }
    }
    return t == ZTTP_QUIC_FT_ACK ||
           (a->u.ack.ect0 == b->u.ack.ect0 && a->u.ack.ect1 == b->u.ack.ect1 &&
            a->u.ack.ce == b->u.ack.ce);
  case ZTTP_QUIC_FT_RESET_STREAM:
    return a->u.reset_stream.stream_id == b->u.reset_stream.stream_id &&
           a->u.reset_stream.error_code == b->u.reset_stream.error_code &&
           a->u.reset_stream.final_size == b->u.reset_stream.final_size;
  case ZTTP_QUIC_FT_STOP_SENDING:
    return a->u.stop_sending.stream_id == b->u.stop_sending.stream_id &&
           a->u.stop_sending.error_code == b->u.stop_sending.error_code;
  case ZTTP_QUIC_FT_CRYPTO:
    return a->u.crypto.offset == b->u.crypto.offset &&
           a->u.crypto.len == b->u.crypto.len &&
           bytes_eq(a->u.crypto.data, b->u.crypto.data, a->u.crypto.len);
  case ZTTP_QUIC_FT_NEW_TOKEN:
    return a->u.new_token.len == b->u.new_token.len &&
           bytes_eq(a->u.new_token.token, b->u.new_token.token,
                    a->u.new_token.len);
  case ZTTP_QUIC_FT_MAX_DATA:
  case ZTTP_QUIC_FT_MAX_STREAM_DATA:
  case ZTTP_QUIC_FT_MAX_STREAMS_BIDI:
  case ZTTP_QUIC_FT_MAX_STREAMS_UNI:
  case ZTTP_QUIC_FT_DATA_BLOCKED:
  case ZTTP_QUIC_FT_STREAM_DATA_BLOCKED:
  case ZTTP_QUIC_FT_STREAMS_BLOCKED_BIDI:
  case ZTTP_QUIC_FT_STREAMS_BLOCKED_UNI:
    return a->u.limit.stream_id == b->u.limit.stream_id &&
           a->u.limit.value == b->u.limit.value;
  case ZTTP_QUIC_FT_NEW_CONNECTION_ID:
    return a->u.new_connection_id.seq == b->u.new_connection_id.seq &&
           a->u.new_connection_id.retire_prior_to ==
               b->u.new_connection_id.retire_prior_to &&
           a->u.new_connection_id.cid_len == b->u.new_connection_id.cid_len &&
           bytes_eq(a->u.new_connection_id.cid, b->u.new_connection_id.cid,
                    a->u.new_connection_id.cid_len) &&
           bytes_eq(a->u.new_connection_id.reset_token,
                    b->u.new_connection_id.reset_token, 16);
  case ZTTP_QUIC_FT_RETIRE_CONNECTION_ID:
    return a->u.retire_connection_id.seq == b->u.retire_connection_id.seq;
  case ZTTP_QUIC_FT_PATH_CHALLENGE:
  case ZTTP_QUIC_FT_PATH_RESPONSE:
    return memcmp(a->u.path.data, b->u.path.data, 8) == 0;
  case ZTTP_QUIC_FT_CONNECTION_CLOSE:
  case ZTTP_QUIC_FT_CONNECTION_CLOSE_APP:
    return a->u.close.error_code == b->u.close.error_code &&
           a->u.close.frame_type == b->u.close.frame_type &&
           a->u.close.reason_len == b->u.close.reason_len &&
           bytes_eq(a->u.close.reason, b->u.close.reason,
                    a->u.close.reason_len);
  case ZTTP_QUIC_FT_DATAGRAM:
  case ZTTP_QUIC_FT_DATAGRAM_LEN:
    return a->u.datagram.len == b->u.datagram.len &&
           bytes_eq(a->u.datagram.data, b->u.datagram.data, a->u.datagram.len);
  default:
    return 0;
  }
}

static uint8_t enc_buf[70000];
static uint8_t enc_buf2[70000];

/* The fitting encoders on a decoded STREAM / CRYPTO / ACK frame, with a
 * cap taken from |salt|. */
static void check_fitting(const zttp_quic_frame *f, size_t salt) {
  uint64_t t = f->type;
  size_t cap = salt % 64;
  size_t taken = 0;
  zttp_quic_frame g;
  zttp_quic_ack_range r[MAX_RANGES];
  uint64_t err;
  zttp_rd rd;
  if (is_stream(t) || t == ZTTP_QUIC_FT_CRYPTO) {
    int st = is_stream(t);
    const uint8_t *d = st ? f->u.stream.data : f->u.crypto.data;
    size_t len = st ? f->u.stream.len : f->u.crypto.len;
    uint64_t off = st ? f->u.stream.offset : f->u.crypto.offset;
    int fin = st && (t & ZTTP_QUIC_STREAM_FIN);
    int with_len = !st || (salt & 64) != 0;
    size_t n =
        st ? zttp_quic_frame_encode_stream(enc_buf2, cap, f->u.stream.stream_id,
                                           off, d, len, fin, with_len, &taken)
           : zttp_quic_frame_encode_crypto(enc_buf2, cap, off, d, len, &taken);
    if (n == 0) {
      return;
    }
    CHECK(n <= cap && taken <= len, "n %zu cap %zu taken %zu", n, cap, taken);
    CHECK(len == 0 || taken > 0, "took nothing of %zu", len);
    zttp_rd_init(&rd, enc_buf2, n);
    CHECK(zttp_quic_frame_decode(&rd, &g, &err, NULL, 0) == ZTTP_QUIC_FRAME_OK,
          "fitted frame does not decode: 0x%llx", (unsigned long long)err);
    CHECK(zttp_rd_len(&rd) == 0, "fitted frame has leftovers");
    const uint8_t *gd = st ? g.u.stream.data : g.u.crypto.data;
    size_t glen = st ? g.u.stream.len : g.u.crypto.len;
    uint64_t goff = st ? g.u.stream.offset : g.u.crypto.offset;
    CHECK(glen == taken && goff == off && bytes_eq(gd, d, taken),
          "fitted frame differs");
    if (st) {
      CHECK(g.u.stream.stream_id == f->u.stream.stream_id, "stream id");
      CHECK(!!(g.type & ZTTP_QUIC_STREAM_FIN) == (fin && taken == len),
            "FIN bit");
    }
    return;
  }
  if (t == ZTTP_QUIC_FT_ACK || t == ZTTP_QUIC_FT_ACK_ECN) {
    if (f->u.ack.num_ranges == 0) {
      return;
    }
    size_t k = 0;
    size_t n = zttp_quic_frame_encode_ack(f, enc_buf2, cap + 3, &k);
    if (n == 0) {
      return;
    }
    CHECK(n <= cap + 3 && k >= 1 && k <= f->u.ack.num_ranges, "ack fit");
    zttp_rd_init(&rd, enc_buf2, n);
    CHECK(zttp_quic_frame_decode(&rd, &g, &err, r, MAX_RANGES) ==
              ZTTP_QUIC_FRAME_OK,
          "fitted ACK does not decode");
    CHECK(g.u.ack.num_ranges == k &&
              memcmp(r, f->u.ack.ranges, k * sizeof(r[0])) == 0,
          "fitted ACK differs");
  }
}

/* Decodes frames from |p| until the end or an error; every frame is
 * re-encoded, decoded again and compared. */
static void fuzz_frames(const uint8_t *p, size_t n, size_t cap,
                        uint32_t pkt_type) {
  zttp_rd rd;
  zttp_rd_init(&rd, p, n);
  static zttp_quic_ack_range ranges[MAX_RANGES];
  static zttp_quic_ack_range ranges2[MAX_RANGES];
  size_t salt = n;
  while (zttp_rd_len(&rd) != 0) {
    zttp_quic_frame f;
    uint64_t err = 0;
    const uint8_t *at = rd.p;
    int rv = zttp_quic_frame_decode(&rd, &f, &err, ranges, cap);
    if (rv == ZTTP_QUIC_FRAME_ERROR) {
      CHECK(rd.p == at, "reader moved on error");
      CHECK(err == ZTTP_QUIC_ERR_FRAME_ENCODING_ERROR ||
                err == ZTTP_QUIC_ERR_PROTOCOL_VIOLATION,
            "error 0x%llx", (unsigned long long)err);
      return;
    }
    CHECK(rd.p > at && rd.p <= p + n, "reader did not advance in bounds");
    CHECK(rv == ZTTP_QUIC_FRAME_OK || rv == ZTTP_QUIC_FRAME_ACK_LIMIT, "rv %d",
          rv);
    int limited = rv == ZTTP_QUIC_FRAME_ACK_LIMIT;
    if (limited) {
      CHECK(f.u.ack.num_ranges == cap && f.u.ack.total_ranges > cap,
            "ACK_LIMIT with %zu of %llu ranges", f.u.ack.num_ranges,
            (unsigned long long)f.u.ack.total_ranges);
    } else if (f.type == ZTTP_QUIC_FT_ACK || f.type == ZTTP_QUIC_FT_ACK_ECN) {
      CHECK(f.u.ack.num_ranges == f.u.ack.total_ranges, "ranges count");
    }
    (void)zttp_quic_frame_allowed(f.type, pkt_type);
    (void)zttp_quic_frame_ack_eliciting(f.type);
    (void)zttp_quic_frame_name(f.type);
    /* Re-encode and decode again. An ACK whose ranges were all dropped by
     * a cap of 0 has nothing to encode. */
    if (!(limited && f.u.ack.num_ranges == 0)) {
      size_t len = zttp_quic_frame_encode(&f, enc_buf, sizeof(enc_buf));
      CHECK(len > 0, "frame type 0x%llx does not re-encode",
            (unsigned long long)f.type);
      CHECK(len <= (size_t)(rd.p - at) || f.type == ZTTP_QUIC_FT_PADDING,
            "re-encoding grew: %zu > %zu", len, (size_t)(rd.p - at));
      zttp_rd rd2;
      zttp_rd_init(&rd2, enc_buf, len);
      zttp_quic_frame g;
      uint64_t err2;
      int rv2 = zttp_quic_frame_decode(&rd2, &g, &err2, ranges2, MAX_RANGES);
      CHECK(rv2 == ZTTP_QUIC_FRAME_OK, "re-decode rv %d err 0x%llx", rv2,
            (unsigned long long)err2);
      CHECK(zttp_rd_len(&rd2) == 0, "re-decode left %zu", zttp_rd_len(&rd2));
      CHECK(frames_equal(&f, &g, limited), "frame 0x%llx differs",
            (unsigned long long)f.type);
      salt = salt * 31 + len;
      check_fitting(&f, salt);
    }
  }
}

/* Rebuilds a parsed header with the builders and checks it parses back to
 * the same fields. |pkt| is the packet with header protection removed. */
static void check_rebuild(const zttp_quic_hdr *h, const uint8_t *pkt,
                          size_t short_dcid_len, size_t pn_len,
                          uint64_t trunc_pn) {
  static uint8_t out[70000];
  size_t n = 0;
  size_t loff = 0;
  size_t pnoff = 0;
  zttp_quic_hdr g;
  switch ((enum zttp_quic_pkt_type)h->type) {
  case ZTTP_QUIC_PKT_INITIAL:
  case ZTTP_QUIC_PKT_ZERO_RTT:
  case ZTTP_QUIC_PKT_HANDSHAKE: {
    if (h->length < pn_len) {
      return;
    }
    n = zttp_quic_hdr_write_long(out, sizeof(out), h, trunc_pn, pn_len, &loff,
                                 &pnoff);
    CHECK(n > 0, "long header does not rebuild");
    if (h->length >= 16384) {
      return;
    }
    CHECK(zttp_quic_length_patch(out, loff, h->length), "length patch");
    size_t body = (size_t)h->length - pn_len;
    memcpy(out + n, pkt + h->pn_offset + pn_len, body);
    n += body;
    CHECK(zttp_quic_hdr_parse(&g, out, n, short_dcid_len) == ZTTP_QUIC_HDR_OK,
          "rebuilt long header does not parse");
    CHECK(g.type == h->type && g.version == h->version &&
              g.length == h->length && g.packet_len == n &&
              g.token_len == h->token_len &&
              bytes_eq(g.token, h->token, h->token_len),
          "rebuilt long header differs");
    break;
  }
  case ZTTP_QUIC_PKT_SHORT:
    n = zttp_quic_hdr_write_short(
        out, sizeof(out), h->dcid, h->dcid_len, (pkt[0] & ZTTP_QUIC_SPIN_BIT),
        (pkt[0] & ZTTP_QUIC_KEY_PHASE_BIT), trunc_pn, pn_len, &pnoff);
    CHECK(n > 0 && pnoff == h->pn_offset, "short header does not rebuild");
    /* Same bytes but the reserved bits, which the builder clears. */
    CHECK((out[0] | (pkt[0] & ZTTP_QUIC_SHORT_RESERVED_BITS)) == pkt[0] &&
              memcmp(out + 1, pkt + 1, n - 1) == 0,
          "short header differs");
    return;
  case ZTTP_QUIC_PKT_RETRY:
    n = zttp_quic_retry_write(out, sizeof(out), h->version, pkt[0], h->dcid,
                              h->dcid_len, h->scid, h->scid_len, h->token,
                              h->token_len);
    CHECK(n > 0 && memcmp(out, pkt, n) == 0, "Retry differs");
    return;
  case ZTTP_QUIC_PKT_VERSION_NEGOTIATION: {
    static uint32_t versions[70000 / 4];
    for (size_t i = 0; i < h->num_versions; i++) {
      versions[i] = zttp_quic_vn_version(h, i);
    }
    n = zttp_quic_vn_write(out, sizeof(out), pkt[0], h->dcid, h->dcid_len,
                           h->scid, h->scid_len, versions, h->num_versions);
    CHECK(n == h->packet_len, "VN length");
    /* The builder sets 0x40; the rest is the same. */
    CHECK((out[0] & 0xbf) == (pkt[0] & 0xbf) &&
              memcmp(out + 1, pkt + 1, n - 1) == 0,
          "VN differs");
    return;
  }
  }
}

static void fuzz_packet(const uint8_t *pkt_in, const zttp_quic_hdr *h,
                        size_t short_dcid_len, size_t cap) {
  static uint8_t pkt[70000];
  size_t len = h->packet_len;
  memcpy(pkt, pkt_in, len);
  if (h->type == ZTTP_QUIC_PKT_RETRY ||
      h->type == ZTTP_QUIC_PKT_VERSION_NEGOTIATION) {
    check_rebuild(h, pkt, short_dcid_len, 0, 0);
    return;
  }
  CHECK(h->pn_offset <= len, "pn_offset %zu past %zu", h->pn_offset, len);
  /* A mask from the sample (as if it were the cipher's output) or, without
   * one, from the first bytes. */
  uint8_t mask[5] = {0};
  if (zttp_quic_hp_sample_ok(len, h->pn_offset)) {
    memcpy(mask, pkt + zttp_quic_hp_sample_offset(h->pn_offset), 5);
  } else {
    memcpy(mask, pkt, len < 5 ? len : 5);
  }
  size_t pn_len = 0;
  uint64_t trunc = 0;
  if (!zttp_quic_hp_unmask(pkt, len, h->pn_offset, mask, &pn_len, &trunc)) {
    CHECK(memcmp(pkt, pkt_in, len) == 0, "failed unmask changed the packet");
    return;
  }
  CHECK(pn_len >= 1 && pn_len <= 4 && h->pn_offset + pn_len <= len &&
            trunc < (UINT64_C(1) << (8 * pn_len)),
        "unmask: pn_len %zu", pn_len);
  (void)zttp_quic_hdr_reserved(pkt[0]);
  check_rebuild(h, pkt, short_dcid_len, pn_len, trunc);
  CHECK(zttp_quic_hp_mask_apply(pkt, len, h->pn_offset, mask), "re-mask");
  CHECK(memcmp(pkt, pkt_in, len) == 0, "mask does not undo unmask");
  /* The payload after the packet number is untouched by the masks. */
  fuzz_frames(pkt + h->pn_offset + pn_len, len - h->pn_offset - pn_len, cap,
              h->type);
}

static void fuzz_datagram(const uint8_t *dg, size_t len, size_t short_dcid_len,
                          size_t cap) {
  zttp_quic_invariant inv;
  int inv_ok = zttp_quic_invariant_parse(&inv, dg, len, short_dcid_len);
  (void)zttp_quic_stateless_reset_token(dg, len);
  size_t off = 0;
  int first = 1;
  while (off < len) {
    const uint8_t *p = dg + off;
    size_t rest = len - off;
    zttp_quic_hdr h;
    int rv = zttp_quic_hdr_parse(&h, p, rest, short_dcid_len);
    CHECK(rv == ZTTP_QUIC_HDR_OK || rv == ZTTP_QUIC_HDR_MALFORMED ||
              rv == ZTTP_QUIC_HDR_UNKNOWN_VERSION,
          "rv %d", rv);
    if (first && rv != ZTTP_QUIC_HDR_MALFORMED) {
      /* Whatever parses satisfies the invariants, with the same CIDs. */
      CHECK(inv_ok && inv.dcid == h.dcid && inv.dcid_len == h.dcid_len,
            "header and invariants disagree");
      if (inv.is_long) {
        CHECK(inv.version == h.version && inv.scid == h.scid &&
                  inv.scid_len == h.scid_len,
              "long header and invariants disagree");
      }
    }
    first = 0;
    if (rv != ZTTP_QUIC_HDR_OK) {
      if (rv == ZTTP_QUIC_HDR_UNKNOWN_VERSION) {
        CHECK(!zttp_quic_version_supported(h.version) && h.version != 0,
              "unknown version 0x%08x", h.version);
      }
      return;
    }
    CHECK(h.packet_len > 0 && h.packet_len <= rest, "packet_len %zu of %zu",
          h.packet_len, rest);
    CHECK(h.dcid_len == 0 || (h.dcid >= p && h.dcid + h.dcid_len <= p + rest),
          "dcid out of the packet");
    CHECK(h.token_len == 0 ||
              (h.token >= p && h.token + h.token_len <= p + h.packet_len),
          "token out of the packet");
    if (h.type == ZTTP_QUIC_PKT_VERSION_NEGOTIATION) {
      CHECK(h.num_versions > 0 && 4 * h.num_versions <= rest, "VN list");
      for (size_t i = 0; i < h.num_versions; i++) {
        (void)zttp_quic_vn_version(&h, i);
      }
    } else if (h.type != ZTTP_QUIC_PKT_SHORT) {
      CHECK(zttp_quic_version_supported(h.version), "version");
      CHECK(h.dcid_len <= 20 && h.scid_len <= 20, "CID length");
    }
    fuzz_packet(p, &h, short_dcid_len, cap);
    off += h.packet_len;
  }
}

static void fuzz_tparams(const uint8_t *p, size_t n, uint32_t sender) {
  zttp_quic_tparams tp;
  uint64_t err = 0;
  const char *why = NULL;
  if (!zttp_quic_tparams_decode(&tp, sender, p, n, &err, &why)) {
    CHECK(err == ZTTP_QUIC_ERR_TRANSPORT_PARAMETER_ERROR && why != NULL,
          "error 0x%llx", (unsigned long long)err);
    return;
  }
  if (tp.num_available_versions > ZTTP_QUIC_TP_MAX_VERSIONS) {
    return; /* the struct holds only the first ones */
  }
  int64_t len = zttp_quic_tparams_encode(&tp, sender, enc_buf, sizeof(enc_buf));
  CHECK(len >= 0, "decoded parameters do not encode: %lld", (long long)len);
  CHECK((size_t)len <= n, "re-encoding grew: %lld > %zu", (long long)len, n);
  zttp_quic_tparams back;
  CHECK(
      zttp_quic_tparams_decode(&back, sender, enc_buf, (size_t)len, &err, &why),
      "re-encoded parameters rejected: %s", why);
  CHECK(back.version_info_len == tp.version_info_len, "version_info length");
  back.version_info = tp.version_info;
  CHECK(memcmp(&back, &tp, sizeof(tp)) == 0, "parameters differ");
  int64_t len2 =
      zttp_quic_tparams_encode(&back, sender, enc_buf2, sizeof(enc_buf2));
  CHECK(len2 == len && memcmp(enc_buf, enc_buf2, (size_t)len) == 0,
        "second encoding differs");
  /* The CID checks only read. */
  zttp_quic_cid c;
  zttp_quic_cid_set(&c, p, n < 20 ? n : 20);
  (void)zttp_quic_tparams_check_cids(&tp, ZTTP_CLIENT, &c, &c,
                                     (n & 1) ? &c : NULL, &err, &why);
  (void)zttp_quic_tparams_check_cids(&tp, ZTTP_SERVER, &c, NULL, NULL, &err,
                                     NULL);
}

/* RFC 9000 Appendix A.3: the decoded number has the truncated bits and,
 * away from the edges, sits within half a window of the expected one. */
static void fuzz_pn(const uint8_t *p, size_t n) {
  if (n < 13) {
    return;
  }
  uint64_t largest = 0;
  uint64_t trunc = 0;
  for (int i = 0; i < 8; i++) {
    largest = largest << 8 | p[i];
  }
  for (int i = 8; i < 12; i++) {
    trunc = trunc << 8 | p[i];
  }
  unsigned bits = 8u * (1u + (p[12] & 3u));
  largest &= ZTTP_VARINT_MAX;
  uint64_t mask = (UINT64_C(1) << bits) - 1;
  uint64_t pn = zttp_quic_pn_decode(largest, trunc & mask, bits);
  CHECK((pn & mask) == (trunc & mask), "pn bits");
  uint64_t expected = largest + 1;
  uint64_t hwin = (mask + 1) / 2;
  if (expected >= hwin && expected + 2 * (mask + 1) < (UINT64_C(1) << 62)) {
    CHECK(pn + hwin >= expected && pn <= expected + hwin, "pn window");
    /* And encoding it again needs no more than it had. */
    if (pn > largest) {
      size_t need = zttp_quic_pn_encode_len(pn, largest);
      CHECK(need >= 1 && need <= 4, "pn len");
      if (8 * need <= bits) {
        uint64_t m2 = (UINT64_C(1) << (8 * need)) - 1;
        CHECK(zttp_quic_pn_decode(largest, pn & m2, (unsigned)(8 * need)) == pn,
              "pn round trip");
      }
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536) {
    return 0;
  }
  size_t short_dcid_len = (size_t)(data[0] & 0x1f) % 21;
  size_t cap = ack_caps[data[0] >> 5];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  /* A copy of exactly the input's length, so that ASan sees overreads. */
  uint8_t *dg = malloc(n != 0 ? n : 1);
  if (dg == NULL) {
    return 0;
  }
  if (n != 0) {
    memcpy(dg, p, n);
  }
  fuzz_datagram(dg, n, short_dcid_len, cap);
  fuzz_frames(dg, n, cap, ZTTP_QUIC_PKT_SHORT);
  fuzz_tparams(dg, n, ZTTP_CLIENT);
  fuzz_tparams(dg, n, ZTTP_SERVER);
  fuzz_pn(dg, n);
  free(dg);
  return 0;
}
