/* QUIC frames (src/quic/frame.c): hand-written bytes for every frame type
 * (decoded field by field and re-encoded to the same bytes), round trips of
 * edge values, every malformed case of RFC 9000 §19, truncations (also
 * flush against a guard page), the §12.4 packet-type table, and the
 * fitting encoders for STREAM, CRYPTO and ACK.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "quic/frame.h"

#include "quic_test_util.h"

#define MAXR 16

typedef struct dec {
  uint8_t buf[512];
  size_t len;
  zttp_quic_frame f;
  zttp_quic_ack_range ranges[MAXR];
  uint64_t err;
  int rv;
  size_t consumed;
} dec;

static void decode_hex(dec *d, const char *hex) {
  d->len = q_unhex(d->buf, sizeof(d->buf), hex);
  zttp_rd rd;
  zttp_rd_init(&rd, d->buf, d->len);
  d->err = 0xdead;
  d->rv = zttp_quic_frame_decode(&rd, &d->f, &d->err, d->ranges, MAXR);
  d->consumed = (size_t)(rd.p - d->buf);
  if (d->rv == ZTTP_QUIC_FRAME_ERROR) {
    assert_int_equal(d->consumed, 0);
  }
}

/* Decodes |hex| (one whole frame), checks it took everything, and that
 * encoding it gives the same bytes back. */
static void ok_hex(dec *d, const char *hex, uint64_t type) {
  decode_hex(d, hex);
  assert_int_equal(d->rv, ZTTP_QUIC_FRAME_OK);
  assert_int_equal(d->consumed, d->len);
  assert_true(d->f.type == type);
  uint8_t out[512];
  size_t n = zttp_quic_frame_encode(&d->f, out, sizeof(out));
  assert_int_equal(n, d->len);
  assert_memory_equal(out, d->buf, n);
  /* Every smaller buffer is refused. */
  for (size_t cap = 0; cap < n; cap++) {
    assert_int_equal(zttp_quic_frame_encode(&d->f, out, cap), 0);
  }
}

static void bad_hex(const char *hex, uint64_t err) {
  dec d;
  decode_hex(&d, hex);
  assert_int_equal(d.rv, ZTTP_QUIC_FRAME_ERROR);
  assert_true(d.err == err);
}

#define FEE ZTTP_QUIC_ERR_FRAME_ENCODING_ERROR

static const char token16[] = "000102030405060708090a0b0c0d0e0f";

/* ---- every frame type, exact bytes ----------------------------------------
 */

static void test_padding_ping_done(void **state) {
  (void)state;
  dec d;
  ok_hex(&d, "00", ZTTP_QUIC_FT_PADDING);
  assert_int_equal(d.f.u.padding.len, 1);
  ok_hex(&d, "00 00 00 00", ZTTP_QUIC_FT_PADDING);
  assert_int_equal(d.f.u.padding.len, 4);
  /* A run stops at the next frame. */
  decode_hex(&d, "00 00 01");
  assert_int_equal(d.rv, ZTTP_QUIC_FRAME_OK);
  assert_int_equal(d.f.u.padding.len, 2);
  assert_int_equal(d.consumed, 2);
  ok_hex(&d, "01", ZTTP_QUIC_FT_PING);
  ok_hex(&d, "1e", ZTTP_QUIC_FT_HANDSHAKE_DONE);
}

static void test_ack(void **state) {
  (void)state;
  dec d;
  /* largest 100, delay 5, 2 more ranges, first range 3: [97, 100]; gap 1,
   * length 2: [92, 94]; gap 0, length 4: [86, 90]. */
  ok_hex(&d, "02 40 64 05 02 03 01 02 00 04", ZTTP_QUIC_FT_ACK);
  assert_true(d.f.u.ack.ack_delay == 5);
  assert_int_equal(d.f.u.ack.num_ranges, 3);
  assert_true(d.f.u.ack.total_ranges == 3);
  assert_ptr_equal(d.f.u.ack.ranges, d.ranges);
  assert_true(d.ranges[0].smallest == 97 && d.ranges[0].largest == 100);
  assert_true(d.ranges[1].smallest == 92 && d.ranges[1].largest == 94);
  assert_true(d.ranges[2].smallest == 86 && d.ranges[2].largest == 90);
  /* RFC 9000 §19.3.2 */
  ok_hex(&d, "03 40 64 4100 00 00 01 02 03", ZTTP_QUIC_FT_ACK_ECN);
  assert_true(d.f.u.ack.ack_delay == 0x100);
  assert_int_equal(d.f.u.ack.num_ranges, 1);
  assert_true(d.ranges[0].smallest == 100 && d.ranges[0].largest == 100);
  assert_true(d.f.u.ack.ect0 == 1 && d.f.u.ack.ect1 == 2 && d.f.u.ack.ce == 3);
  /* Down to packet 0 exactly. */
  ok_hex(&d, "02 05 00 01 00 03 00", ZTTP_QUIC_FT_ACK);
  assert_true(d.ranges[1].smallest == 0 && d.ranges[1].largest == 0);
  ok_hex(&d, "02 05 00 00 05", ZTTP_QUIC_FT_ACK);
  assert_true(d.ranges[0].smallest == 0 && d.ranges[0].largest == 5);
}

static void test_ack_limit(void **state) {
  (void)state;
  uint8_t b[16];
  size_t n = q_unhex(b, sizeof(b), "02 40 64 05 02 03 01 02 00 04 01");
  zttp_quic_ack_range r[2];
  zttp_quic_frame f;
  uint64_t err = 0;
  zttp_rd rd;
  zttp_rd_init(&rd, b, n);
  assert_int_equal(zttp_quic_frame_decode(&rd, &f, &err, r, 2),
                   ZTTP_QUIC_FRAME_ACK_LIMIT);
  /* Consumed, the highest two stored, the count known. */
  assert_int_equal(zttp_rd_len(&rd), 1);
  assert_int_equal(f.u.ack.num_ranges, 2);
  assert_true(f.u.ack.total_ranges == 3);
  assert_true(r[0].smallest == 97 && r[1].smallest == 92);
  /* No array at all. */
  zttp_rd_init(&rd, b, n);
  assert_int_equal(zttp_quic_frame_decode(&rd, &f, &err, NULL, 0),
                   ZTTP_QUIC_FRAME_ACK_LIMIT);
  assert_int_equal(f.u.ack.num_ranges, 0);
  assert_int_equal(zttp_rd_len(&rd), 1);
  /* Exactly enough is OK. */
  zttp_quic_ack_range r3[3];
  zttp_rd_init(&rd, b, n);
  assert_int_equal(zttp_quic_frame_decode(&rd, &f, &err, r3, 3),
                   ZTTP_QUIC_FRAME_OK);
  /* Ranges past the cap are still validated. */
  n = q_unhex(b, sizeof(b), "02 40 64 05 02 03 01 02 40 5b 00");
  zttp_rd_init(&rd, b, n);
  assert_int_equal(zttp_quic_frame_decode(&rd, &f, &err, r, 1),
                   ZTTP_QUIC_FRAME_ERROR);
  assert_true(err == FEE);
  assert_int_equal(zttp_rd_len(&rd), n);
}

static void test_stream_frames(void **state) {
  (void)state;
  dec d;
  /* 0x08-0x0f: OFF 0x04, LEN 0x02, FIN 0x01 (RFC 9000 §19.8). */
  static const char *hex[8] = {
      "08 04 6869",         "09 04 6869",         "0a 04 02 6869",
      "0b 04 02 6869",      "0c 04 40c8 6869",    "0d 04 40c8 6869",
      "0e 04 40c8 02 6869", "0f 04 40c8 02 6869",
  };
  for (unsigned t = 0; t < 8; t++) {
    ok_hex(&d, hex[t], ZTTP_QUIC_FT_STREAM | t);
    assert_true(d.f.u.stream.stream_id == 4);
    assert_true(d.f.u.stream.offset == ((t & 4) ? 200u : 0u));
    assert_int_equal(d.f.u.stream.len, 2);
    assert_memory_equal(d.f.u.stream.data, "hi", 2);
    assert_ptr_equal(d.f.u.stream.data, d.buf + d.len - 2);
  }
  /* Empty with FIN, with and without Length. */
  ok_hex(&d, "0b 04 00", ZTTP_QUIC_FT_STREAM | 3);
  assert_int_equal(d.f.u.stream.len, 0);
  ok_hex(&d, "09 04", ZTTP_QUIC_FT_STREAM | 1);
  assert_int_equal(d.f.u.stream.len, 0);
  /* The largest offset possible with no data; the largest stream ID. */
  ok_hex(&d, "0e ffffffffffffffff ffffffffffffffff 00",
         ZTTP_QUIC_FT_STREAM | 6);
  assert_true(d.f.u.stream.stream_id == ZTTP_VARINT_MAX);
  assert_true(d.f.u.stream.offset == ZTTP_VARINT_MAX);
  ok_hex(&d, "0e 00 bffffffe 01 61", ZTTP_QUIC_FT_STREAM | 6);
  /* Without LEN, the data runs to the end even after more frames. */
  decode_hex(&d, "08 00 01 01");
  assert_int_equal(d.rv, ZTTP_QUIC_FRAME_OK);
  assert_int_equal(d.f.u.stream.len, 2);
}

static void test_other_frames(void **state) {
  (void)state;
  dec d;
  ok_hex(&d, "04 04 4100 80010000", ZTTP_QUIC_FT_RESET_STREAM);
  assert_true(d.f.u.reset_stream.stream_id == 4);
  assert_true(d.f.u.reset_stream.error_code == 0x100);
  assert_true(d.f.u.reset_stream.final_size == 65536);
  ok_hex(&d, "05 08 0a", ZTTP_QUIC_FT_STOP_SENDING);
  assert_true(d.f.u.stop_sending.stream_id == 8);
  assert_true(d.f.u.stop_sending.error_code == 10);
  ok_hex(&d, "06 00 05 68656c6c6f", ZTTP_QUIC_FT_CRYPTO);
  assert_true(d.f.u.crypto.offset == 0);
  assert_int_equal(d.f.u.crypto.len, 5);
  assert_memory_equal(d.f.u.crypto.data, "hello", 5);
  ok_hex(&d, "06 4fa0 03 616263", ZTTP_QUIC_FT_CRYPTO);
  assert_true(d.f.u.crypto.offset == 4000);
  ok_hex(&d, "06 00 00", ZTTP_QUIC_FT_CRYPTO);
  ok_hex(&d, "07 03 010203", ZTTP_QUIC_FT_NEW_TOKEN);
  assert_int_equal(d.f.u.new_token.len, 3);
  assert_memory_equal(d.f.u.new_token.token, "\x01\x02\x03", 3);
  ok_hex(&d, "10 80100000", ZTTP_QUIC_FT_MAX_DATA);
  assert_true(d.f.u.limit.value == 1048576);
  ok_hex(&d, "11 04 4400", ZTTP_QUIC_FT_MAX_STREAM_DATA);
  assert_true(d.f.u.limit.stream_id == 4 && d.f.u.limit.value == 1024);
  ok_hex(&d, "12 4064", ZTTP_QUIC_FT_MAX_STREAMS_BIDI);
  assert_true(d.f.u.limit.value == 100);
  ok_hex(&d, "13 d000000000000000", ZTTP_QUIC_FT_MAX_STREAMS_UNI);
  assert_true(d.f.u.limit.value == ZTTP_QUIC_MAX_STREAMS);
  ok_hex(&d, "14 4400", ZTTP_QUIC_FT_DATA_BLOCKED);
  assert_true(d.f.u.limit.value == 1024);
  ok_hex(&d, "15 08 4400", ZTTP_QUIC_FT_STREAM_DATA_BLOCKED);
  assert_true(d.f.u.limit.stream_id == 8 && d.f.u.limit.value == 1024);
  ok_hex(&d, "16 0a", ZTTP_QUIC_FT_STREAMS_BLOCKED_BIDI);
  assert_true(d.f.u.limit.value == 10);
  ok_hex(&d, "17 d000000000000000", ZTTP_QUIC_FT_STREAMS_BLOCKED_UNI);
  char h[128];
  snprintf(h, sizeof(h), "18 02 01 04 a1a2a3a4 %s", token16);
  ok_hex(&d, h, ZTTP_QUIC_FT_NEW_CONNECTION_ID);
  assert_true(d.f.u.new_connection_id.seq == 2);
  assert_true(d.f.u.new_connection_id.retire_prior_to == 1);
  assert_int_equal(d.f.u.new_connection_id.cid_len, 4);
  assert_memory_equal(d.f.u.new_connection_id.cid, "\xa1\xa2\xa3\xa4", 4);
  assert_ptr_equal(d.f.u.new_connection_id.reset_token, d.buf + 8);
  snprintf(h, sizeof(h),
           "18 05 05 14 000102030405060708090a0b0c0d0e0f10111213 %s", token16);
  ok_hex(&d, h, ZTTP_QUIC_FT_NEW_CONNECTION_ID);
  assert_int_equal(d.f.u.new_connection_id.cid_len, 20);
  ok_hex(&d, "19 05", ZTTP_QUIC_FT_RETIRE_CONNECTION_ID);
  assert_true(d.f.u.retire_connection_id.seq == 5);
  ok_hex(&d, "1a 0102030405060708", ZTTP_QUIC_FT_PATH_CHALLENGE);
  assert_memory_equal(d.f.u.path.data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  ok_hex(&d, "1b 1112131415161718", ZTTP_QUIC_FT_PATH_RESPONSE);
  assert_memory_equal(d.f.u.path.data, "\x11\x12\x13\x14\x15\x16\x17\x18", 8);
  ok_hex(&d, "1c 0a 08 03 626164", ZTTP_QUIC_FT_CONNECTION_CLOSE);
  assert_true(d.f.u.close.error_code == ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  assert_true(d.f.u.close.frame_type == 8);
  assert_int_equal(d.f.u.close.reason_len, 3);
  assert_memory_equal(d.f.u.close.reason, "bad", 3);
  ok_hex(&d, "1d 4100 00", ZTTP_QUIC_FT_CONNECTION_CLOSE_APP);
  assert_true(d.f.u.close.error_code == 0x100);
  assert_int_equal(d.f.u.close.reason_len, 0);
  ok_hex(&d, "30 616263", ZTTP_QUIC_FT_DATAGRAM);
  assert_int_equal(d.f.u.datagram.len, 3);
  assert_memory_equal(d.f.u.datagram.data, "abc", 3);
  ok_hex(&d, "30", ZTTP_QUIC_FT_DATAGRAM);
  assert_int_equal(d.f.u.datagram.len, 0);
  ok_hex(&d, "31 03 616263", ZTTP_QUIC_FT_DATAGRAM_LEN);
  assert_int_equal(d.f.u.datagram.len, 3);
  ok_hex(&d, "31 00", ZTTP_QUIC_FT_DATAGRAM_LEN);
}

/* A packet payload of many frames, decoded in order. */
static void test_frame_soup(void **state) {
  (void)state;
  uint8_t b[256];
  char h[512];
  snprintf(h, sizeof(h),
           "01 00 00 02 05 00 00 05 06 00 02 6869 18 01 00 01 aa %s"
           "1c 00 00 00 31 01 7a 0a 00 01 78 1e 08 04 797a",
           token16);
  size_t n = q_unhex(b, sizeof(b), h);
  static const uint64_t want[] = {
      ZTTP_QUIC_FT_PING,
      ZTTP_QUIC_FT_PADDING,
      ZTTP_QUIC_FT_ACK,
      ZTTP_QUIC_FT_CRYPTO,
      ZTTP_QUIC_FT_NEW_CONNECTION_ID,
      ZTTP_QUIC_FT_CONNECTION_CLOSE,
      ZTTP_QUIC_FT_DATAGRAM_LEN,
      ZTTP_QUIC_FT_STREAM | 2,
      ZTTP_QUIC_FT_HANDSHAKE_DONE,
      ZTTP_QUIC_FT_STREAM,
  };
  zttp_rd rd;
  zttp_rd_init(&rd, b, n);
  zttp_quic_ack_range r[4];
  size_t i = 0;
  while (zttp_rd_len(&rd) != 0) {
    zttp_quic_frame f;
    uint64_t err;
    assert_int_equal(zttp_quic_frame_decode(&rd, &f, &err, r, 4),
                     ZTTP_QUIC_FRAME_OK);
    assert_true(i < sizeof(want) / sizeof(want[0]));
    assert_true(f.type == want[i]);
    i++;
  }
  assert_int_equal(i, sizeof(want) / sizeof(want[0]));
}

/* ---- malformed frames ---------------------------------------------------- */

static void test_unknown_and_nonminimal_types(void **state) {
  (void)state;
  /* RFC 9000 §12.4: unknown types are FRAME_ENCODING_ERROR. */
  bad_hex("1f", FEE);
  bad_hex("20", FEE);
  bad_hex("2f", FEE);
  bad_hex("32", FEE);
  bad_hex("3f", FEE);
  bad_hex("4040", FEE);
  bad_hex("80004000 00", FEE);
  /* A known type in a longer encoding than needed: PROTOCOL_VIOLATION. */
  bad_hex("4001", ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  bad_hex("4000", ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  bad_hex("80000006 00 00", ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  bad_hex("c00000000000001e", ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  /* Truncated type. */
  bad_hex("40", FEE);
  bad_hex("", FEE);
  dec d;
  decode_hex(&d, "1f");
  assert_true(d.f.type == 0x1f);
}

static void test_value_errors(void **state) {
  (void)state;
  char h[256];
  /* STREAM: offset + length over 2^62 - 1 (RFC 9000 §19.8). */
  bad_hex("0e 04 ffffffffffffffff 01 61", FEE);
  bad_hex("0c 04 ffffffffffffffff 61", FEE);
  bad_hex("0e 04 fffffffffffffffe 02 6161", FEE);
  /* CRYPTO likewise (§19.6). */
  bad_hex("06 ffffffffffffffff 01 61", FEE);
  /* MAX_STREAMS / STREAMS_BLOCKED over 2^60 (§19.11, §19.14). */
  bad_hex("12 d000000000000001", FEE);
  bad_hex("13 ffffffffffffffff", FEE);
  bad_hex("16 d000000000000001", FEE);
  bad_hex("17 d000000000000001", FEE);
  /* NEW_CONNECTION_ID length 0 or 21; Retire Prior To > Sequence (§19.15). */
  snprintf(h, sizeof(h), "18 02 01 00 %s", token16);
  bad_hex(h, FEE);
  snprintf(h, sizeof(h),
           "18 02 01 15 000102030405060708090a0b0c0d0e0f1011121314 %s",
           token16);
  bad_hex(h, FEE);
  snprintf(h, sizeof(h), "18 01 02 04 a1a2a3a4 %s", token16);
  bad_hex(h, FEE);
  snprintf(h, sizeof(h), "18 02 02 04 a1a2a3a4 %s", token16);
  dec d;
  ok_hex(&d, h, ZTTP_QUIC_FT_NEW_CONNECTION_ID);
  /* Empty NEW_TOKEN (§19.7). */
  bad_hex("07 00", FEE);
  /* ACK ranges below 0 (§19.3.1). */
  bad_hex("02 05 00 00 06", FEE);
  bad_hex("02 05 00 01 00 04 00", FEE);
  bad_hex("02 05 00 01 00 03 01", FEE);
  bad_hex("02 01 00 01 00 00 00", FEE);
  bad_hex("02 00 00 01 00 00 00", FEE);
  bad_hex("02 ffffffffffffffff 00 01 ffffffffffffffff ffffffffffffffff 00",
          FEE);
  /* A range count the packet cannot carry. */
  bad_hex("02 05 00 ffffffffffffffff 00", FEE);
  bad_hex("02 40 64 05 03 03 01 02 00 04", FEE);
  /* Lengths past the end. */
  bad_hex("1c 00 00 05 6161", FEE);
  bad_hex("1d 00 01", FEE);
  bad_hex("31 04 616263", FEE);
  bad_hex("0a 04 03 6869", FEE);
  bad_hex("06 00 ffffffffffffffff 61", FEE);
  bad_hex("07 ffffffffffffffff 61", FEE);
}

/* Hand-written frames whose every truncation must fail without reading
 * past the end (flush against a guard page); for the ones that run to the
 * end of the packet, truncations past their header are shorter valid
 * frames. */
static void test_truncations_guard(void **state) {
  (void)state;
  static const struct {
    const char *hex;
    size_t open_from; /* truncations from here on decode; 0: none */
  } cases[] = {
      {"01", 0},
      {"02 40 64 05 02 03 01 02 00 04", 0},
      {"03 40 64 4100 00 00 01 02 03", 0},
      {"04 04 4100 80010000", 0},
      {"05 08 0a", 0},
      {"06 4fa0 03 616263", 0},
      {"07 03 010203", 0},
      {"08 04 6869", 2},
      {"0a 04 02 6869", 0},
      {"0d 04 40c8 6869", 4},
      {"0f 04 40c8 02 6869", 0},
      {"10 80100000", 0},
      {"11 04 4400", 0},
      {"12 4064", 0},
      {"15 08 4400", 0},
      {"17 d000000000000000", 0},
      {"18 02 01 04 a1a2a3a4 000102030405060708090a0b0c0d0e0f", 0},
      {"19 4005", 0},
      {"1a 0102030405060708", 0},
      {"1b 1112131415161718", 0},
      {"1c 0a 08 03 626164", 0},
      {"1d 4100 02 6869", 0},
      {"30 616263", 1},
      {"31 03 616263", 0},
  };
  h_guard g;
  h_guard_init(&g, 128);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint8_t b[128];
    size_t n = q_unhex(b, sizeof(b), cases[i].hex);
    for (size_t k = 0; k <= n; k++) {
      const uint8_t *p = h_guard_place(&g, b, k);
      zttp_rd rd;
      zttp_rd_init(&rd, p, k);
      zttp_quic_frame f;
      zttp_quic_ack_range r[4];
      uint64_t err = 0;
      int rv = zttp_quic_frame_decode(&rd, &f, &err, r, 4);
      int open = cases[i].open_from != 0 && k >= cases[i].open_from;
      if (k == n || open) {
        assert_int_equal(rv, ZTTP_QUIC_FRAME_OK);
        assert_ptr_equal(rd.p, p + k);
      } else {
        assert_int_equal(rv, ZTTP_QUIC_FRAME_ERROR);
        assert_true(err == FEE);
        assert_ptr_equal(rd.p, p);
      }
    }
  }
  h_guard_free(&g);
}

/* ---- round trips of built frames ------------------------------------------
 */

static void expect_same(const zttp_quic_frame *a, const zttp_quic_frame *b) {
  assert_true(a->type == b->type);
  uint64_t t = a->type;
  if (t >= ZTTP_QUIC_FT_STREAM && t <= (ZTTP_QUIC_FT_STREAM | 7)) {
    assert_true(a->u.stream.stream_id == b->u.stream.stream_id);
    assert_true(a->u.stream.offset == b->u.stream.offset);
    assert_int_equal(a->u.stream.len, b->u.stream.len);
    assert_memory_equal(a->u.stream.data, b->u.stream.data, a->u.stream.len);
    return;
  }
  switch (t) {
  case ZTTP_QUIC_FT_PADDING:
    assert_int_equal(a->u.padding.len, b->u.padding.len);
    break;
  case ZTTP_QUIC_FT_ACK:
  case ZTTP_QUIC_FT_ACK_ECN:
    assert_true(a->u.ack.ack_delay == b->u.ack.ack_delay);
    assert_int_equal(a->u.ack.num_ranges, b->u.ack.num_ranges);
    for (size_t i = 0; i < a->u.ack.num_ranges; i++) {
      assert_true(a->u.ack.ranges[i].smallest == b->u.ack.ranges[i].smallest);
      assert_true(a->u.ack.ranges[i].largest == b->u.ack.ranges[i].largest);
    }
    if (t == ZTTP_QUIC_FT_ACK_ECN) {
      assert_true(a->u.ack.ect0 == b->u.ack.ect0);
      assert_true(a->u.ack.ect1 == b->u.ack.ect1);
      assert_true(a->u.ack.ce == b->u.ack.ce);
    }
    break;
  case ZTTP_QUIC_FT_RESET_STREAM:
    assert_memory_equal(&a->u.reset_stream, &b->u.reset_stream,
                        sizeof(a->u.reset_stream));
    break;
  case ZTTP_QUIC_FT_STOP_SENDING:
    assert_memory_equal(&a->u.stop_sending, &b->u.stop_sending,
                        sizeof(a->u.stop_sending));
    break;
  case ZTTP_QUIC_FT_CRYPTO:
    assert_true(a->u.crypto.offset == b->u.crypto.offset);
    assert_int_equal(a->u.crypto.len, b->u.crypto.len);
    assert_memory_equal(a->u.crypto.data, b->u.crypto.data, a->u.crypto.len);
    break;
  case ZTTP_QUIC_FT_NEW_TOKEN:
    assert_int_equal(a->u.new_token.len, b->u.new_token.len);
    assert_memory_equal(a->u.new_token.token, b->u.new_token.token,
                        a->u.new_token.len);
    break;
  case ZTTP_QUIC_FT_NEW_CONNECTION_ID:
    assert_true(a->u.new_connection_id.seq == b->u.new_connection_id.seq);
    assert_true(a->u.new_connection_id.retire_prior_to ==
                b->u.new_connection_id.retire_prior_to);
    assert_int_equal(a->u.new_connection_id.cid_len,
                     b->u.new_connection_id.cid_len);
    assert_memory_equal(a->u.new_connection_id.cid, b->u.new_connection_id.cid,
                        a->u.new_connection_id.cid_len);
    assert_memory_equal(a->u.new_connection_id.reset_token,
                        b->u.new_connection_id.reset_token, 16);
    break;
  case ZTTP_QUIC_FT_RETIRE_CONNECTION_ID:
    assert_true(a->u.retire_connection_id.seq == b->u.retire_connection_id.seq);
    break;
  case ZTTP_QUIC_FT_PATH_CHALLENGE:
  case ZTTP_QUIC_FT_PATH_RESPONSE:
    assert_memory_equal(a->u.path.data, b->u.path.data, 8);
    break;
  case ZTTP_QUIC_FT_CONNECTION_CLOSE:
  case ZTTP_QUIC_FT_CONNECTION_CLOSE_APP:
    assert_true(a->u.close.error_code == b->u.close.error_code);
    if (t == ZTTP_QUIC_FT_CONNECTION_CLOSE) {
      assert_true(a->u.close.frame_type == b->u.close.frame_type);
    }
    assert_int_equal(a->u.close.reason_len, b->u.close.reason_len);
    assert_memory_equal(a->u.close.reason, b->u.close.reason,
                        a->u.close.reason_len);
    break;
  case ZTTP_QUIC_FT_DATAGRAM:
  case ZTTP_QUIC_FT_DATAGRAM_LEN:
    assert_int_equal(a->u.datagram.len, b->u.datagram.len);
    assert_memory_equal(a->u.datagram.data, b->u.datagram.data,
                        a->u.datagram.len);
    break;
  default: /* PING, HANDSHAKE_DONE, the limit frames */
    assert_true(a->u.limit.stream_id == b->u.limit.stream_id);
    assert_true(a->u.limit.value == b->u.limit.value);
    break;
  }
}

static void round_trip(const zttp_quic_frame *f) {
  uint8_t out[4096];
  size_t n = zttp_quic_frame_encode(f, out, sizeof(out));
  assert_true(n > 0);
  zttp_rd rd;
  zttp_rd_init(&rd, out, n);
  zttp_quic_frame g;
  zttp_quic_ack_range r[MAXR];
  uint64_t err;
  assert_int_equal(zttp_quic_frame_decode(&rd, &g, &err, r, MAXR),
                   ZTTP_QUIC_FRAME_OK);
  assert_int_equal(zttp_rd_len(&rd), 0);
  expect_same(f, &g);
}

static void test_round_trips(void **state) {
  (void)state;
  static const uint8_t data[300] = {1, 2, 3};
  static const uint8_t tok[16] = {9, 8, 7};
  const uint64_t vals[] = {
      0, 1, 63, 64, 16383, 16384, (1u << 30) - 1, 1u << 30, ZTTP_VARINT_MAX};
  const size_t nv = sizeof(vals) / sizeof(vals[0]);
  zttp_quic_frame f;
  for (size_t i = 0; i < nv; i++) {
    uint64_t v = vals[i];
    uint64_t w = vals[nv - 1 - i];
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_RESET_STREAM;
    f.u.reset_stream.stream_id = v;
    f.u.reset_stream.error_code = w;
    f.u.reset_stream.final_size = v;
    round_trip(&f);
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_STOP_SENDING;
    f.u.stop_sending.stream_id = w;
    f.u.stop_sending.error_code = v;
    round_trip(&f);
    static const uint64_t limit_types[] = {
        ZTTP_QUIC_FT_MAX_DATA, ZTTP_QUIC_FT_MAX_STREAM_DATA,
        ZTTP_QUIC_FT_DATA_BLOCKED, ZTTP_QUIC_FT_STREAM_DATA_BLOCKED};
    for (size_t k = 0; k < 4; k++) {
      memset(&f, 0, sizeof(f));
      f.type = limit_types[k];
      f.u.limit.value = v;
      if (k % 2 == 1) {
        f.u.limit.stream_id = w;
      }
      round_trip(&f);
    }
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_RETIRE_CONNECTION_ID;
    f.u.retire_connection_id.seq = v;
    round_trip(&f);
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_CONNECTION_CLOSE;
    f.u.close.error_code = v;
    f.u.close.frame_type = w;
    f.u.close.reason = data;
    f.u.close.reason_len = i * 30;
    round_trip(&f);
    f.type = ZTTP_QUIC_FT_CONNECTION_CLOSE_APP;
    f.u.close.frame_type = 0;
    round_trip(&f);
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_NEW_CONNECTION_ID;
    f.u.new_connection_id.seq = v;
    f.u.new_connection_id.retire_prior_to = v / 2;
    f.u.new_connection_id.cid = data;
    f.u.new_connection_id.cid_len = 1 + i * 2;
    f.u.new_connection_id.reset_token = tok;
    round_trip(&f);
    for (unsigned t = 0; t < 8; t++) {
      memset(&f, 0, sizeof(f));
      f.type = ZTTP_QUIC_FT_STREAM | t;
      f.u.stream.stream_id = w;
      f.u.stream.offset = (t & ZTTP_QUIC_STREAM_OFF) ? v - (v != 0) : 0;
      f.u.stream.data = data;
      f.u.stream.len = (f.u.stream.offset == ZTTP_VARINT_MAX - 1) ? 1 : i * 33;
      round_trip(&f);
    }
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_CRYPTO;
    f.u.crypto.offset = v == ZTTP_VARINT_MAX ? v - 300 : v;
    f.u.crypto.data = data;
    f.u.crypto.len = 300;
    round_trip(&f);
    memset(&f, 0, sizeof(f));
    f.type = i % 2 ? ZTTP_QUIC_FT_DATAGRAM : ZTTP_QUIC_FT_DATAGRAM_LEN;
    f.u.datagram.data = data;
    f.u.datagram.len = i * 37;
    round_trip(&f);
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_NEW_TOKEN;
    f.u.new_token.token = data;
    f.u.new_token.len = 1 + i * 37;
    round_trip(&f);
    memset(&f, 0, sizeof(f));
    f.type = i % 2 ? ZTTP_QUIC_FT_MAX_STREAMS_BIDI
                   : ZTTP_QUIC_FT_STREAMS_BLOCKED_UNI;
    f.u.limit.value = v > ZTTP_QUIC_MAX_STREAMS ? ZTTP_QUIC_MAX_STREAMS : v;
    round_trip(&f);
    memset(&f, 0, sizeof(f));
    f.type = ZTTP_QUIC_FT_PADDING;
    f.u.padding.len = 1 + i * 50;
    round_trip(&f);
  }
  memset(&f, 0, sizeof(f));
  f.type = ZTTP_QUIC_FT_PATH_CHALLENGE;
  memcpy(f.u.path.data, "abcdefgh", 8);
  round_trip(&f);
  f.type = ZTTP_QUIC_FT_PATH_RESPONSE;
  round_trip(&f);
  memset(&f, 0, sizeof(f));
  f.type = ZTTP_QUIC_FT_PING;
  round_trip(&f);
  f.type = ZTTP_QUIC_FT_HANDSHAKE_DONE;
  round_trip(&f);

  /* ACK: ranges down to 0 and up to 2^62 - 1. */
  zttp_quic_ack_range r[4] = {{ZTTP_VARINT_MAX - 10, ZTTP_VARINT_MAX},
                              {1000, ZTTP_VARINT_MAX - 12},
                              {2, 998},
                              {0, 0}};
  memset(&f, 0, sizeof(f));
  f.type = ZTTP_QUIC_FT_ACK_ECN;
  f.u.ack.ranges = r;
  f.u.ack.num_ranges = 4;
  f.u.ack.ack_delay = ZTTP_VARINT_MAX;
  f.u.ack.ect0 = 1;
  f.u.ack.ect1 = ZTTP_VARINT_MAX;
  f.u.ack.ce = 16384;
  round_trip(&f);
  f.type = ZTTP_QUIC_FT_ACK;
  round_trip(&f);
  f.u.ack.num_ranges = 1;
  round_trip(&f);
}

/* ---- encoder refusals -------------------------------------------------------
 */

static void test_encode_refusals(void **state) {
  (void)state;
  uint8_t out[256];
  zttp_quic_frame f;
  memset(&f, 0, sizeof(f));
  f.type = 0x1f;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  f.type = 0x4000;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  f.type = ZTTP_QUIC_FT_PADDING;
  f.u.padding.len = 0;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  f.type = ZTTP_QUIC_FT_NEW_TOKEN;
  f.u.new_token.len = 0;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  memset(&f, 0, sizeof(f));
  f.type = ZTTP_QUIC_FT_MAX_STREAMS_UNI;
  f.u.limit.value = ZTTP_QUIC_MAX_STREAMS + 1;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  f.type = ZTTP_QUIC_FT_MAX_DATA;
  f.u.limit.value = ZTTP_VARINT_MAX + 1;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  /* STREAM: an offset without the OFF bit; past 2^62 - 1. */
  memset(&f, 0, sizeof(f));
  f.type = ZTTP_QUIC_FT_STREAM | ZTTP_QUIC_STREAM_LEN;
  f.u.stream.offset = 5;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  f.type |= ZTTP_QUIC_STREAM_OFF;
  f.u.stream.offset = ZTTP_VARINT_MAX;
  f.u.stream.data = out;
  f.u.stream.len = 1;
  assert_int_equal(zttp_quic_frame_encode(&f, out + 8, 64), 0);
  /* NEW_CONNECTION_ID: CID length 0 or 21, retire_prior_to > seq. */
  static const uint8_t tok[16];
  memset(&f, 0, sizeof(f));
  f.type = ZTTP_QUIC_FT_NEW_CONNECTION_ID;
  f.u.new_connection_id.cid = tok;
  f.u.new_connection_id.reset_token = tok;
  f.u.new_connection_id.cid_len = 0;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  f.u.new_connection_id.cid_len = 21;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  f.u.new_connection_id.cid_len = 4;
  f.u.new_connection_id.retire_prior_to = 1;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  /* ACK: overlapping, adjacent (gap below one packet), inverted ranges,
   * none at all. */
  zttp_quic_ack_range r[2] = {{10, 20}, {5, 9}};
  memset(&f, 0, sizeof(f));
  f.type = ZTTP_QUIC_FT_ACK;
  f.u.ack.ranges = r;
  f.u.ack.num_ranges = 2;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  r[1].largest = 8;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 7);
  assert_memory_equal(out, "\x02\x14\x00\x01\x0a\x00\x03", 7);
  r[1].smallest = 9;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  r[1].smallest = 5;
  r[0].smallest = 21;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  r[0].smallest = 10;
  f.u.ack.num_ranges = 0;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  f.u.ack.num_ranges = 1;
  f.u.ack.ranges = NULL;
  assert_int_equal(zttp_quic_frame_encode(&f, out, sizeof(out)), 0);
  /* The generic encoder does not truncate ACKs. */
  f.u.ack.ranges = r;
  f.u.ack.num_ranges = 2;
  assert_int_equal(zttp_quic_frame_encode(&f, out, 6), 0);
}

/* ---- fitting encoders ------------------------------------------------------
 */

static void test_encode_stream_fit(void **state) {
  (void)state;
  static const uint8_t hello[] = "hello";
  uint8_t out[256];
  size_t taken = 99;
  /* Everything fits: FIN. */
  assert_int_equal(zttp_quic_frame_encode_stream(out, sizeof(out), 4, 0, hello,
                                                 5, 1, 1, &taken),
                   8);
  assert_int_equal(taken, 5);
  assert_memory_equal(out, "\x0b\x04\x05hello", 8);
  /* 7 bytes: 4 data bytes, no FIN. */
  assert_int_equal(
      zttp_quic_frame_encode_stream(out, 7, 4, 0, hello, 5, 1, 1, &taken), 7);
  assert_int_equal(taken, 4);
  assert_memory_equal(out, "\x0a\x04\x04hell", 7);
  /* Without Length: the frame ends the packet. */
  assert_int_equal(
      zttp_quic_frame_encode_stream(out, 5, 4, 300, hello, 5, 1, 0, &taken), 5);
  assert_int_equal(taken, 1);
  assert_memory_equal(out, "\x0c\x04\x41\x2ch", 5);
  assert_int_equal(
      zttp_quic_frame_encode_stream(out, 9, 4, 300, hello, 5, 1, 0, &taken), 9);
  assert_int_equal(taken, 5);
  assert_memory_equal(out, "\x0d\x04\x41\x2chello", 9);
  /* Only FIN. */
  assert_int_equal(
      zttp_quic_frame_encode_stream(out, 3, 8, 0, NULL, 0, 1, 1, &taken), 3);
  assert_int_equal(taken, 0);
  assert_memory_equal(out, "\x0b\x08\x00", 3);
  assert_int_equal(
      zttp_quic_frame_encode_stream(out, 2, 8, 0, NULL, 0, 1, 0, &taken), 2);
  assert_memory_equal(out, "\x09\x08", 2);
  /* No room for a data byte, or for the header. */
  assert_int_equal(
      zttp_quic_frame_encode_stream(out, 3, 4, 0, hello, 5, 0, 1, &taken), 0);
  assert_int_equal(
      zttp_quic_frame_encode_stream(out, 2, 4, 0, hello, 5, 0, 0, &taken), 0);
  assert_int_equal(
      zttp_quic_frame_encode_stream(out, 1, 4, 0, NULL, 0, 1, 0, &taken), 0);
  assert_int_equal(
      zttp_quic_frame_encode_stream(out, 2, 4, 0, NULL, 0, 1, 1, &taken), 0);
  /* Past 2^62 - 1. */
  assert_int_equal(zttp_quic_frame_encode_stream(out, sizeof(out), 4,
                                                 ZTTP_VARINT_MAX, hello, 1, 0,
                                                 1, &taken),
                   0);
  assert_int_equal(zttp_quic_frame_encode_stream(out, sizeof(out), 4,
                                                 ZTTP_VARINT_MAX, hello, 0, 1,
                                                 1, &taken),
                   11);

  /* The Length field grows from 1 to 2 bytes at 64: for every room, the
   * most data that fits is taken and the frame decodes. */
  static uint8_t big[200];
  for (size_t cap = 0; cap < 120; cap++) {
    size_t n =
        zttp_quic_frame_encode_stream(out, cap, 4, 0, big, 200, 0, 1, &taken);
    if (cap < 4) {
      assert_int_equal(n, 0);
      continue;
    }
    size_t avail = cap - 2;
    size_t want = avail - 1 <= 63 ? avail - 1 : avail - 2;
    if (avail == 65) {
      want = 63; /* 64 would need a 2-byte Length: 66 bytes */
    }
    assert_int_equal(taken, want);
    assert_true(n <= cap);
    zttp_rd rd;
    zttp_rd_init(&rd, out, n);
    zttp_quic_frame f;
    uint64_t err;
    assert_int_equal(zttp_quic_frame_decode(&rd, &f, &err, NULL, 0),
                     ZTTP_QUIC_FRAME_OK);
    assert_int_equal(f.u.stream.len, taken);
    assert_int_equal(zttp_rd_len(&rd), 0);
  }
}

static void test_encode_crypto_fit(void **state) {
  (void)state;
  static const uint8_t hello[] = "hello";
  uint8_t out[64];
  size_t taken;
  assert_int_equal(
      zttp_quic_frame_encode_crypto(out, sizeof(out), 1000, hello, 5, &taken),
      9);
  assert_int_equal(taken, 5);
  assert_memory_equal(out, "\x06\x43\xe8\x05hello", 9);
  assert_int_equal(
      zttp_quic_frame_encode_crypto(out, 6, 1000, hello, 5, &taken), 6);
  assert_int_equal(taken, 2);
  assert_int_equal(
      zttp_quic_frame_encode_crypto(out, 4, 1000, hello, 5, &taken), 0);
  assert_int_equal(
      zttp_quic_frame_encode_crypto(out, sizeof(out), 0, NULL, 0, &taken), 3);
  assert_memory_equal(out, "\x06\x00\x00", 3);
  assert_int_equal(zttp_quic_frame_encode_crypto(
                       out, sizeof(out), ZTTP_VARINT_MAX, hello, 1, &taken),
                   0);
}

static void test_encode_ack_fit(void **state) {
  (void)state;
  zttp_quic_ack_range r[MAXR];
  /* Ranges [1000 - 10 i - 3, 1000 - 10 i]. */
  for (size_t i = 0; i < MAXR; i++) {
    r[i].largest = 1000 - 10 * i;
    r[i].smallest = r[i].largest - 3;
  }
  zttp_quic_frame f;
  memset(&f, 0, sizeof(f));
  f.type = ZTTP_QUIC_FT_ACK;
  f.u.ack.ranges = r;
  f.u.ack.num_ranges = MAXR;
  f.u.ack.ack_delay = 7;
  uint8_t out[128];
  size_t k = 0;
  /* type, largest (2), delay, count, first: 6 bytes; each more range 2. */
  const size_t full = zttp_quic_frame_encode_ack(&f, out, sizeof(out), &k);
  assert_int_equal(k, MAXR);
  assert_int_equal(full, 6 + 2 * (MAXR - 1));
  for (size_t cap = 0; cap < full; cap++) {
    size_t n = zttp_quic_frame_encode_ack(&f, out, cap, &k);
    if (cap < 6) {
      assert_int_equal(n, 0);
      continue;
    }
    assert_int_equal(k, 1 + (cap - 6) / 2);
    assert_int_equal(n, 6 + 2 * (k - 1));
    zttp_rd rd;
    zttp_rd_init(&rd, out, n);
    zttp_quic_frame g;
    zttp_quic_ack_range gr[MAXR];
    uint64_t err;
    assert_int_equal(zttp_quic_frame_decode(&rd, &g, &err, gr, MAXR),
                     ZTTP_QUIC_FRAME_OK);
    assert_int_equal(g.u.ack.num_ranges, k);
    assert_memory_equal(gr, r, k * sizeof(r[0]));
  }
}

/* ---- RFC 9000 §12.4 Table 3 -----------------------------------------------
 */

static void test_allowed_table(void **state) {
  (void)state;
  /* The "Pkts" column: I, H, 0, 1. */
  static const struct {
    uint64_t type;
    const char *pkts;
  } table[] = {
      {0x00, "IH01"}, {0x01, "IH01"}, {0x02, "IH_1"}, {0x03, "IH_1"},
      {0x04, "__01"}, {0x05, "__01"}, {0x06, "IH_1"}, {0x07, "___1"},
      {0x08, "__01"}, {0x09, "__01"}, {0x0a, "__01"}, {0x0b, "__01"},
      {0x0c, "__01"}, {0x0d, "__01"}, {0x0e, "__01"}, {0x0f, "__01"},
      {0x10, "__01"}, {0x11, "__01"}, {0x12, "__01"}, {0x13, "__01"},
      {0x14, "__01"}, {0x15, "__01"}, {0x16, "__01"}, {0x17, "__01"},
      {0x18, "__01"}, {0x19, "__01"}, {0x1a, "__01"}, {0x1b, "___1"},
      {0x1c, "IH01"}, {0x1d, "__01"}, {0x1e, "___1"}, {0x1f, "____"},
      {0x30, "__01"}, {0x31, "__01"}, {0x32, "____"}, {0x4000, "____"},
  };
  static const uint32_t pkts[4] = {ZTTP_QUIC_PKT_INITIAL,
                                   ZTTP_QUIC_PKT_HANDSHAKE,
                                   ZTTP_QUIC_PKT_ZERO_RTT, ZTTP_QUIC_PKT_SHORT};
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    for (size_t k = 0; k < 4; k++) {
      assert_int_equal(zttp_quic_frame_allowed(table[i].type, pkts[k]),
                       table[i].pkts[k] != '_');
    }
    assert_int_equal(
        zttp_quic_frame_allowed(table[i].type, ZTTP_QUIC_PKT_RETRY), 0);
    assert_int_equal(zttp_quic_frame_allowed(table[i].type,
                                             ZTTP_QUIC_PKT_VERSION_NEGOTIATION),
                     0);
  }
  /* RFC 9000 §13.2 / Table 3 "N"; DATAGRAM is ack-eliciting (RFC 9221 §5.2). */
  for (uint64_t t = 0; t <= 0x31; t++) {
    int n = t == 0x00 || t == 0x02 || t == 0x03 || t == 0x1c || t == 0x1d;
    assert_int_equal(zttp_quic_frame_ack_eliciting(t), !n);
  }
  assert_int_equal(zttp_quic_frame_probing(ZTTP_QUIC_FT_PATH_CHALLENGE), 1);
  assert_int_equal(zttp_quic_frame_probing(ZTTP_QUIC_FT_PATH_RESPONSE), 1);
  assert_int_equal(zttp_quic_frame_probing(ZTTP_QUIC_FT_NEW_CONNECTION_ID), 1);
  assert_int_equal(zttp_quic_frame_probing(ZTTP_QUIC_FT_PADDING), 1);
  assert_int_equal(zttp_quic_frame_probing(ZTTP_QUIC_FT_PING), 0);
  assert_string_equal(zttp_quic_frame_name(0x0d), "STREAM");
  assert_string_equal(zttp_quic_frame_name(0x1e), "HANDSHAKE_DONE");
  assert_string_equal(zttp_quic_frame_name(0x31), "DATAGRAM");
  assert_string_equal(zttp_quic_frame_name(0x1f), "UNKNOWN");
  assert_string_equal(zttp_quic_error_name(0x07), "FRAME_ENCODING_ERROR");
  assert_string_equal(zttp_quic_error_name(0x11), "VERSION_NEGOTIATION_ERROR");
  assert_string_equal(zttp_quic_error_name(zttp_quic_error_crypto(40)),
                      "CRYPTO_ERROR");
  assert_true(zttp_quic_error_crypto(40) == 0x128);
  assert_string_equal(zttp_quic_error_name(0x12), "UNKNOWN");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_padding_ping_done),
      cmocka_unit_test(test_ack),
      cmocka_unit_test(test_ack_limit),
      cmocka_unit_test(test_stream_frames),
      cmocka_unit_test(test_other_frames),
      cmocka_unit_test(test_frame_soup),
      cmocka_unit_test(test_unknown_and_nonminimal_types),
      cmocka_unit_test(test_value_errors),
      cmocka_unit_test(test_truncations_guard),
      cmocka_unit_test(test_round_trips),
      cmocka_unit_test(test_encode_refusals),
      cmocka_unit_test(test_encode_stream_fit),
      cmocka_unit_test(test_encode_crypto_fit),
      cmocka_unit_test(test_encode_ack_fit),
      cmocka_unit_test(test_allowed_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
