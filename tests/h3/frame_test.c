/* HTTP/3 frames (src/h3/frame.c): exact bytes of every encoder, decoding of
 * every frame kind, the incremental reader fed every split of a
 * multi-frame transcript, DATA passed through zero-copy, unknown and grease
 * frames of huge length skipped, every malformed case with its HTTP/3
 * error code, and a failing allocator for the payload buffer.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "common/varint.h"
#include "h3/frame.h"

/* ---- helpers -------------------------------------------------------------
 */

/* Decodes hex (spaces skipped) into |out|; aborts on bad input. */
static size_t unhex(uint8_t *out, size_t cap, const char *hex) {
  size_t n = 0;
  int half = -1;
  for (const char *c = hex; *c != '\0'; c++) {
    int v;
    if (*c == ' ') {
      continue;
    } else if (*c >= '0' && *c <= '9') {
      v = *c - '0';
    } else if (*c >= 'a' && *c <= 'f') {
      v = *c - 'a' + 10;
    } else {
      abort();
    }
    if (half < 0) {
      half = v;
    } else {
      if (n >= cap) {
        abort();
      }
      out[n++] = (uint8_t)(half << 4 | v);
      half = -1;
    }
  }
  if (half >= 0) {
    abort();
  }
  return n;
}

static void add_hex(h_str *s, const uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++) {
    h_str_addf(s, "%02x", p[i]);
  }
}

/* Asserts that |n| bytes at |p| are |hex|. */
static void expect_bytes(const uint8_t *p, size_t n, const char *hex) {
  uint8_t want[256];
  size_t wn = unhex(want, sizeof(want), hex);
  assert_int_equal(n, wn);
  assert_memory_equal(p, want, n);
}

/* An encoder under test, with a buffer of |cap| bytes. */
typedef size_t (*enc_fn)(uint8_t *p, size_t cap, const void *arg);

/* Checks |fn| writes exactly |hex| and refuses every smaller buffer. */
static void expect_encode(enc_fn fn, const void *arg, const char *hex) {
  uint8_t out[256];
  memset(out, 0xee, sizeof(out));
  size_t n = fn(out, sizeof(out), arg);
  expect_bytes(out, n, hex);
  for (size_t cap = 0; cap < n; cap++) {
    uint8_t *tight = malloc(cap != 0 ? cap : 1);
    assert_int_equal(fn(tight, cap, arg), 0);
    free(tight);
  }
}

typedef struct hdr_arg {
  uint64_t type;
  uint64_t length;
} hdr_arg;

static size_t enc_hdr(uint8_t *p, size_t cap, const void *arg) {
  const hdr_arg *a = arg;
  return zttp_h3_encode_frame_header(p, cap, a->type, a->length);
}

typedef struct settings_arg {
  const zttp_h3_setting *s;
  size_t n;
} settings_arg;

static size_t enc_settings(uint8_t *p, size_t cap, const void *arg) {
  const settings_arg *a = arg;
  return zttp_h3_encode_settings(p, cap, a->s, a->n);
}

typedef struct varint_arg {
  uint64_t type;
  uint64_t value;
} varint_arg;

static size_t enc_varint_frame(uint8_t *p, size_t cap, const void *arg) {
  const varint_arg *a = arg;
  return zttp_h3_encode_varint_frame(p, cap, a->type, a->value);
}

typedef struct pu_arg {
  uint64_t type;
  uint64_t id;
  const char *value;
} pu_arg;

static size_t enc_pu(uint8_t *p, size_t cap, const void *arg) {
  const pu_arg *a = arg;
  return zttp_h3_encode_priority_update(
      p, cap, a->type, a->id, (const uint8_t *)a->value, strlen(a->value));
}

static size_t enc_stream_type(uint8_t *p, size_t cap, const void *arg) {
  return zttp_h3_encode_stream_type(p, cap, *(const uint64_t *)arg);
}

static size_t enc_dgram(uint8_t *p, size_t cap, const void *arg) {
  return zttp_h3_encode_datagram_prefix(p, cap, *(const uint64_t *)arg);
}

typedef struct frame_arg {
  uint64_t type;
  const char *payload;
} frame_arg;

static size_t enc_frame(uint8_t *p, size_t cap, const void *arg) {
  const frame_arg *a = arg;
  return zttp_h3_encode_frame(p, cap, a->type, (const uint8_t *)a->payload,
                              strlen(a->payload));
}

#define VMAX ZTTP_VARINT_MAX

/* ---- names and numbers ---------------------------------------------------
 */

static void test_names(void **state) {
  (void)state;
  static const char *const names[] = {
      "H3_NO_ERROR",
      "H3_GENERAL_PROTOCOL_ERROR",
      "H3_INTERNAL_ERROR",
      "H3_STREAM_CREATION_ERROR",
      "H3_CLOSED_CRITICAL_STREAM",
      "H3_FRAME_UNEXPECTED",
      "H3_FRAME_ERROR",
      "H3_EXCESSIVE_LOAD",
      "H3_ID_ERROR",
      "H3_SETTINGS_ERROR",
      "H3_MISSING_SETTINGS",
      "H3_REQUEST_REJECTED",
      "H3_REQUEST_CANCELLED",
      "H3_REQUEST_INCOMPLETE",
      "H3_MESSAGE_ERROR",
      "H3_CONNECT_ERROR",
      "H3_VERSION_FALLBACK",
  };
  for (uint64_t c = 0x100; c <= 0x110; c++) {
    assert_string_equal(zttp_h3_error_name(c), names[c - 0x100]);
  }
  assert_int_equal(ZTTP_H3_VERSION_FALLBACK, 0x110);
  assert_string_equal(zttp_h3_error_name(0x33), "H3_DATAGRAM_ERROR");
  assert_string_equal(zttp_h3_error_name(0x21), "H3_RESERVED");
  assert_string_equal(zttp_h3_error_name(0x111), "UNKNOWN");
  assert_string_equal(zttp_h3_error_name(0), "UNKNOWN");

  assert_string_equal(zttp_h3_frame_name(0x00), "DATA");
  assert_string_equal(zttp_h3_frame_name(0x01), "HEADERS");
  assert_string_equal(zttp_h3_frame_name(0x03), "CANCEL_PUSH");
  assert_string_equal(zttp_h3_frame_name(0x04), "SETTINGS");
  assert_string_equal(zttp_h3_frame_name(0x05), "PUSH_PROMISE");
  assert_string_equal(zttp_h3_frame_name(0x07), "GOAWAY");
  assert_string_equal(zttp_h3_frame_name(0x0d), "MAX_PUSH_ID");
  assert_string_equal(zttp_h3_frame_name(0xf0700), "PRIORITY_UPDATE");
  assert_string_equal(zttp_h3_frame_name(0xf0701), "PRIORITY_UPDATE");
  for (uint64_t t = 0x02; t <= 0x09; t++) {
    int h2 = t == 2 || t == 6 || t == 8 || t == 9;
    assert_int_equal(zttp_h3_frame_is_h2_reserved(t), h2);
    if (h2) {
      assert_string_equal(zttp_h3_frame_name(t), "RESERVED");
    }
  }
  assert_string_equal(zttp_h3_frame_name(0x0a), "UNKNOWN");
  assert_string_equal(zttp_h3_frame_name(0x40), "RESERVED");

  /* 0x1f * N + 0x21 */
  assert_int_equal(zttp_h3_grease(0), 0x21);
  assert_int_equal(zttp_h3_grease(1), 0x40);
  assert_int_equal(zttp_h3_grease(2), 0x5f);
  uint64_t big = (VMAX - 0x21) / 0x1f;
  assert_true(zttp_h3_grease(big) <= VMAX);
  assert_true(zttp_h3_is_grease(zttp_h3_grease(big)));
  for (uint64_t v = 0; v < 0x200; v++) {
    assert_int_equal(zttp_h3_is_grease(v), v >= 0x21 && (v - 0x21) % 31 == 0);
  }
  for (uint64_t id = 0; id < 0x40; id++) {
    assert_int_equal(zttp_h3_settings_is_h2_reserved(id),
                     id == 0 || (id >= 2 && id <= 5));
  }
  assert_int_equal(ZTTP_H3_STREAM_CONTROL, 0);
  assert_int_equal(ZTTP_H3_STREAM_PUSH, 1);
  assert_int_equal(ZTTP_H3_STREAM_QPACK_ENCODER, 2);
  assert_int_equal(ZTTP_H3_STREAM_QPACK_DECODER, 3);
}

/* ---- encoders: exact bytes -----------------------------------------------
 */

static void test_encode_frame_header(void **state) {
  (void)state;
  expect_encode(enc_hdr, &(hdr_arg){ZTTP_H3_FRAME_DATA, 5}, "00 05");
  expect_encode(enc_hdr, &(hdr_arg){ZTTP_H3_FRAME_DATA, 0}, "00 00");
  expect_encode(enc_hdr, &(hdr_arg){ZTTP_H3_FRAME_HEADERS, 300}, "01 41 2c");
  expect_encode(enc_hdr, &(hdr_arg){ZTTP_H3_FRAME_DATA, 16384},
                "00 80 00 40 00");
  expect_encode(enc_hdr, &(hdr_arg){ZTTP_H3_FRAME_DATA, 1u << 30},
                "00 c0 00 00 00 40 00 00 00");
  expect_encode(enc_hdr, &(hdr_arg){VMAX, VMAX},
                "ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff");
  expect_encode(enc_hdr, &(hdr_arg){ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST, 0},
                "80 0f 07 00 00");
  uint8_t out[32];
  /* Refused: HTTP/2 types, values over 2^62 - 1. */
  static const uint64_t h2[] = {2, 6, 8, 9};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(zttp_h3_encode_frame_header(out, sizeof(out), h2[i], 1),
                     0);
  }
  assert_int_equal(zttp_h3_encode_frame_header(out, sizeof(out), VMAX + 1, 0),
                   0);
  assert_int_equal(zttp_h3_encode_frame_header(out, sizeof(out), 0, VMAX + 1),
                   0);
  assert_true(ZTTP_H3_FRAME_HEADER_MAX >= 16);
}

static void test_encode_frames(void **state) {
  (void)state;
  static const zttp_h3_setting s1[] = {
      {ZTTP_H3_SETTINGS_QPACK_MAX_TABLE_CAPACITY, 4096},
      {ZTTP_H3_SETTINGS_MAX_FIELD_SECTION_SIZE, 16384},
      {ZTTP_H3_SETTINGS_QPACK_BLOCKED_STREAMS, 100},
      {ZTTP_H3_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
      {ZTTP_H3_SETTINGS_H3_DATAGRAM, 1},
      {0x21, 0},
  };
  expect_encode(enc_settings, &(settings_arg){s1, 6},
                "04 11 01 50 00 06 80 00 40 00 07 40 64 08 01 33 01 21 00");
  expect_encode(enc_settings, &(settings_arg){NULL, 0}, "04 00");
  static const zttp_h3_setting s2[] = {{VMAX, VMAX}};
  expect_encode(enc_settings, &(settings_arg){s2, 1},
                "04 10 ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff");

  expect_encode(enc_varint_frame, &(varint_arg){ZTTP_H3_FRAME_GOAWAY, 0},
                "07 01 00");
  expect_encode(enc_varint_frame, &(varint_arg){ZTTP_H3_FRAME_GOAWAY, VMAX},
                "07 08 ff ff ff ff ff ff ff ff");
  expect_encode(enc_varint_frame, &(varint_arg){ZTTP_H3_FRAME_MAX_PUSH_ID, 100},
                "0d 02 40 64");
  expect_encode(enc_varint_frame, &(varint_arg){ZTTP_H3_FRAME_CANCEL_PUSH, 5},
                "03 01 05");
  expect_encode(enc_varint_frame,
                &(varint_arg){ZTTP_H3_FRAME_CANCEL_PUSH, 70000},
                "03 04 80 01 11 70");

  expect_encode(enc_pu,
                &(pu_arg){ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST, 4, "u=1"},
                "80 0f 07 00 04 04 75 3d 31");
  expect_encode(enc_pu,
                &(pu_arg){ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH, 3, "u=2, i"},
                "80 0f 07 01 07 03 75 3d 32 2c 20 69");
  expect_encode(enc_pu, &(pu_arg){ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST, 0, ""},
                "80 0f 07 00 01 00");

  expect_encode(enc_frame, &(frame_arg){0x21, "ab"}, "21 02 61 62");
  expect_encode(enc_frame, &(frame_arg){ZTTP_H3_FRAME_HEADERS, ""}, "01 00");

  static const uint64_t st[][2] = {
      {ZTTP_H3_STREAM_CONTROL, 0x00},
      {ZTTP_H3_STREAM_PUSH, 0x01},
      {ZTTP_H3_STREAM_QPACK_ENCODER, 0x02},
      {ZTTP_H3_STREAM_QPACK_DECODER, 0x03},
  };
  for (size_t i = 0; i < 4; i++) {
    char hex[4];
    snprintf(hex, sizeof(hex), "%02x", (unsigned)st[i][1]);
    expect_encode(enc_stream_type, &st[i][0], hex);
  }
  uint64_t g = zttp_h3_grease(100); /* 3133 = 0x0c3d */
  expect_encode(enc_stream_type, &g, "4c 3d");

  uint64_t sid = 0;
  expect_encode(enc_dgram, &sid, "00");
  sid = 4;
  expect_encode(enc_dgram, &sid, "01");
  sid = 256;
  expect_encode(enc_dgram, &sid, "40 40");
  sid = VMAX - 3;
  expect_encode(enc_dgram, &sid, "cf ff ff ff ff ff ff ff");
}

static void test_encode_refusals(void **state) {
  (void)state;
  uint8_t out[256];
  size_t cap = sizeof(out);
  /* SETTINGS: HTTP/2 ids, duplicates, 0/1 settings, huge values. */
  for (uint64_t id = 0; id <= 5; id++) {
    zttp_h3_setting s = {id, 0};
    assert_int_equal(zttp_h3_encode_settings(out, cap, &s, 1), id == 1 ? 4 : 0);
  }
  zttp_h3_setting dup[] = {{0x21, 1}, {6, 1}, {0x21, 2}};
  assert_int_equal(zttp_h3_encode_settings(out, cap, dup, 3), 0);
  zttp_h3_setting b1 = {ZTTP_H3_SETTINGS_ENABLE_CONNECT_PROTOCOL, 2};
  assert_int_equal(zttp_h3_encode_settings(out, cap, &b1, 1), 0);
  zttp_h3_setting b2 = {ZTTP_H3_SETTINGS_H3_DATAGRAM, 2};
  assert_int_equal(zttp_h3_encode_settings(out, cap, &b2, 1), 0);
  zttp_h3_setting big[] = {{VMAX + 1, 0}, {6, VMAX + 1}};
  assert_int_equal(zttp_h3_encode_settings(out, cap, &big[0], 1), 0);
  assert_int_equal(zttp_h3_encode_settings(out, cap, &big[1], 1), 0);
  zttp_h3_setting many[ZTTP_H3_MAX_SETTINGS + 1];
  for (size_t i = 0; i < ZTTP_H3_MAX_SETTINGS + 1; i++) {
    many[i].id = zttp_h3_grease(i);
    many[i].value = 0;
  }
  uint8_t large[4096];
  assert_true(zttp_h3_encode_settings(large, sizeof(large), many,
                                      ZTTP_H3_MAX_SETTINGS) > 0);
  assert_int_equal(zttp_h3_encode_settings(large, sizeof(large), many,
                                           ZTTP_H3_MAX_SETTINGS + 1),
                   0);

  /* One-varint frames: only GOAWAY, MAX_PUSH_ID, CANCEL_PUSH. */
  assert_int_equal(zttp_h3_encode_varint_frame(out, cap, 0x00, 1), 0);
  assert_int_equal(zttp_h3_encode_varint_frame(out, cap, 0x04, 1), 0);
  assert_int_equal(zttp_h3_encode_varint_frame(out, cap, 0x07, VMAX + 1), 0);

  /* PRIORITY_UPDATE: type, request id not client-bidi, bad bytes. */
  const uint8_t *v = (const uint8_t *)"u=1";
  assert_int_equal(zttp_h3_encode_priority_update(out, cap, 0x10, 0, v, 3), 0);
  for (uint64_t id = 1; id < 4; id++) {
    assert_int_equal(
        zttp_h3_encode_priority_update(
            out, cap, ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST, id, v, 3),
        0);
    assert_true(zttp_h3_encode_priority_update(
                    out, cap, ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH, id, v, 3) >
                0);
  }
  assert_int_equal(
      zttp_h3_encode_priority_update(
          out, cap, ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH, VMAX + 1, v, 3),
      0);
  const uint8_t bad[] = {'u', '=', 0x7f};
  assert_int_equal(zttp_h3_encode_priority_update(
                       out, cap, ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH, 0, bad, 3),
                   0);

  /* Generic frames and stream types. */
  assert_int_equal(zttp_h3_encode_frame(out, cap, 0x02, v, 3), 0);
  assert_int_equal(zttp_h3_encode_stream_type(out, cap, VMAX + 1), 0);

  /* Datagram prefix: only client-initiated bidirectional streams. */
  static const uint64_t not_bidi[] = {1, 2, 3, 5, 6, 7, 4097, VMAX};
  for (size_t i = 0; i < sizeof(not_bidi) / sizeof(not_bidi[0]); i++) {
    assert_int_equal(zttp_h3_encode_datagram_prefix(out, cap, not_bidi[i]), 0);
  }
  assert_int_equal(zttp_h3_encode_datagram_prefix(out, cap, VMAX + 1), 0);
}

/* ---- payload parsers -----------------------------------------------------
 */

/* Parses the payload |hex| as SETTINGS. */
static int32_t settings_hex(zttp_h3_settings *s, uint64_t *err,
                            const char *hex) {
  uint8_t buf[4096];
  size_t n = unhex(buf, sizeof(buf), hex);
  *err = 0xdead;
  return zttp_h3_settings_parse(s, err, buf, n);
}

static void settings_bad(const char *hex, int32_t rv, uint64_t code) {
  zttp_h3_settings s;
  zttp_h3_settings_defaults(&s);
  s.num_params = 77;
  uint64_t err;
  assert_int_equal(settings_hex(&s, &err, hex), rv);
  assert_true(err == code);
  assert_int_equal(s.num_params, 77); /* untouched on failure */
}

static void test_settings_parse(void **state) {
  (void)state;
  zttp_h3_settings s;
  uint64_t err;
  /* The payload of test_encode_frames's SETTINGS. */
  const char *hex = "01 50 00 06 80 00 40 00 07 40 64 08 01 33 01 21 00";
  assert_int_equal(settings_hex(&s, &err, hex), 0);
  assert_int_equal(s.qpack_max_table_capacity, 4096);
  assert_int_equal(s.max_field_section_size, 16384);
  assert_int_equal(s.qpack_blocked_streams, 100);
  assert_int_equal(s.enable_connect_protocol, 1);
  assert_int_equal(s.h3_datagram, 1);
  assert_int_equal(s.present, 0x1f);
  assert_int_equal(s.num_params, 6);
  assert_int_equal(s.num_unknown, 1);

  /* Iteration gives every parameter, unknown ones included, in order. */
  uint8_t buf[64];
  size_t n = unhex(buf, sizeof(buf), hex);
  zttp_rd rd;
  zttp_rd_init(&rd, buf, n);
  static const uint64_t want[][2] = {{1, 4096}, {6, 16384}, {7, 100},
                                     {8, 1},    {0x33, 1},  {0x21, 0}};
  uint64_t id;
  uint64_t value;
  for (size_t i = 0; i < 6; i++) {
    assert_int_equal(zttp_h3_settings_next(&rd, &id, &value), 1);
    assert_true(id == want[i][0] && value == want[i][1]);
  }
  assert_int_equal(zttp_h3_settings_next(&rd, &id, &value), 0);

  /* Empty: defaults. */
  assert_int_equal(settings_hex(&s, &err, ""), 0);
  assert_int_equal(s.present, 0);
  assert_true(s.max_field_section_size == UINT64_MAX);
  assert_int_equal(s.qpack_max_table_capacity, 0);
  assert_int_equal(s.num_params, 0);

  /* 0 is a valid value of the 0/1 settings; non-minimal varints are fine
   * (RFC 9000 §16); unknown and grease ids with any value are ignored. */
  assert_int_equal(
      settings_hex(&s, &err,
                   "40 08 40 00 33 00 ff ff ff ff ff ff ff ff 01 0a ff"
                   " ff ff ff ff ff ff ff"),
      0);
  assert_int_equal(s.present, ZTTP_H3_SETTINGS_HAS_ENABLE_CONNECT_PROTOCOL |
                                  ZTTP_H3_SETTINGS_HAS_H3_DATAGRAM);
  assert_int_equal(s.num_unknown, 2);

  /* Exactly ZTTP_H3_MAX_SETTINGS parameters. */
  h_str h = {0};
  for (unsigned i = 0; i < ZTTP_H3_MAX_SETTINGS; i++) {
    uint8_t p[16];
    uint8_t *q = zttp_varint_put(p, zttp_h3_grease(i));
    q = zttp_varint_put(q, i);
    add_hex(&h, p, (size_t)(q - p));
  }
  assert_int_equal(settings_hex(&s, &err, h_str_cstr(&h)), 0);
  assert_int_equal(s.num_params, ZTTP_H3_MAX_SETTINGS);
  /* One more is H3_EXCESSIVE_LOAD (RFC 9114 §10.5). */
  h_str_adds(&h, "0a00");
  settings_bad(h_str_cstr(&h), ZTTP_ERR_ENHANCE_YOUR_CALM,
               ZTTP_H3_EXCESSIVE_LOAD);
  h_str_free(&h);
}

static void test_settings_errors(void **state) {
  (void)state;
  /* Truncated: an id alone, a value cut short, an id cut short (§7.1). */
  settings_bad("06", ZTTP_ERR_FRAME_SIZE, ZTTP_H3_FRAME_ERROR);
  settings_bad("06 80 00 40", ZTTP_ERR_FRAME_SIZE, ZTTP_H3_FRAME_ERROR);
  settings_bad("01 00 40", ZTTP_ERR_FRAME_SIZE, ZTTP_H3_FRAME_ERROR);
  settings_bad("01 00 c0 00 00 00 00 00 00", ZTTP_ERR_FRAME_SIZE,
               ZTTP_H3_FRAME_ERROR);
  /* Reserved HTTP/2 ids (§7.2.4.1), also in non-minimal form. */
  static const char *const h2[] = {"00 00", "02 00", "03 24",
                                   "04 00", "05 00", "40 02 01"};
  for (size_t i = 0; i < sizeof(h2) / sizeof(h2[0]); i++) {
    settings_bad(h2[i], ZTTP_ERR_PROTOCOL, ZTTP_H3_SETTINGS_ERROR);
  }
  /* Duplicates (§7.2.4), known, unknown and via a non-minimal encoding. */
  settings_bad("06 01 07 00 06 01", ZTTP_ERR_PROTOCOL, ZTTP_H3_SETTINGS_ERROR);
  settings_bad("21 00 21 01", ZTTP_ERR_PROTOCOL, ZTTP_H3_SETTINGS_ERROR);
  settings_bad("01 00 40 01 00", ZTTP_ERR_PROTOCOL, ZTTP_H3_SETTINGS_ERROR);
  /* 0/1 settings (RFC 8441 §3 / RFC 9220, RFC 9297 §2.1.1). */
  settings_bad("08 02", ZTTP_ERR_PROTOCOL, ZTTP_H3_SETTINGS_ERROR);
  settings_bad("33 02", ZTTP_ERR_PROTOCOL, ZTTP_H3_SETTINGS_ERROR);
  settings_bad("33 ff ff ff ff ff ff ff ff", ZTTP_ERR_PROTOCOL,
               ZTTP_H3_SETTINGS_ERROR);
}

static void varint_payload_case(const char *hex, int32_t rv, uint64_t want) {
  uint8_t buf[32];
  size_t n = unhex(buf, sizeof(buf), hex);
  uint8_t *copy = malloc(n != 0 ? n : 1);
  memcpy(copy, buf, n);
  uint64_t v = 0x77;
  uint64_t err = 0xdead;
  assert_int_equal(zttp_h3_varint_payload_parse(&v, &err, n ? copy : NULL, n),
                   rv);
  if (rv == 0) {
    assert_true(v == want);
    assert_true(err == 0xdead);
  } else {
    assert_true(err == ZTTP_H3_FRAME_ERROR);
    assert_true(v == 0x77);
  }
  free(copy);
}

static void test_varint_payloads(void **state) {
  (void)state;
  varint_payload_case("00", 0, 0);
  varint_payload_case("3f", 0, 63);
  varint_payload_case("40 64", 0, 100);
  varint_payload_case("40 05", 0, 5); /* non-minimal is fine */
  varint_payload_case("80 01 11 70", 0, 70000);
  varint_payload_case("ff ff ff ff ff ff ff ff", 0, VMAX);
  /* Empty, truncated, trailing bytes (§7.1). */
  varint_payload_case("", ZTTP_ERR_FRAME_SIZE, 0);
  varint_payload_case("40", ZTTP_ERR_FRAME_SIZE, 0);
  varint_payload_case("c0 00 00 00 00 00 00", ZTTP_ERR_FRAME_SIZE, 0);
  varint_payload_case("05 00", ZTTP_ERR_FRAME_SIZE, 0);
  varint_payload_case("40 64 00", ZTTP_ERR_FRAME_SIZE, 0);
}

static void pu_case(uint64_t type, const char *hex, int32_t rv, uint64_t code,
                    uint64_t want_id, const char *want_value) {
  uint8_t buf[64];
  size_t n = unhex(buf, sizeof(buf), hex);
  zttp_h3_priority_update pu = {0};
  uint64_t err = 0xdead;
  assert_int_equal(zttp_h3_priority_update_parse(&pu, &err, type, buf, n), rv);
  if (rv != 0) {
    assert_true(err == code);
    return;
  }
  assert_true(pu.element_id == want_id);
  assert_int_equal(pu.field_value_len, strlen(want_value));
  if (pu.field_value_len != 0) {
    assert_memory_equal(pu.field_value, want_value, pu.field_value_len);
  }
}

static void test_priority_update_parse(void **state) {
  (void)state;
  const uint64_t req = ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST;
  const uint64_t push = ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH;
  pu_case(req, "04 75 3d 31", 0, 0, 4, "u=1");
  pu_case(push, "03 75 3d 32 2c 20 69", 0, 0, 3, "u=2, i");
  pu_case(req, "00", 0, 0, 0, "");
  pu_case(req, "44 00 09 75 3d 37 09", 0, 0, 0x400, "\tu=7\t");
  pu_case(push, "ff ff ff ff ff ff ff ff 7e 20", 0, 0, VMAX, "~ ");
  /* No complete element id (§7.1). */
  pu_case(req, "", ZTTP_ERR_FRAME_SIZE, ZTTP_H3_FRAME_ERROR, 0, "");
  pu_case(push, "40", ZTTP_ERR_FRAME_SIZE, ZTTP_H3_FRAME_ERROR, 0, "");
  /* RFC 9218 §7.2: the request variant names a client bidi stream. */
  pu_case(req, "01 75 3d 31", ZTTP_ERR_PROTOCOL, ZTTP_H3_ID_ERROR, 0, "");
  pu_case(req, "02", ZTTP_ERR_PROTOCOL, ZTTP_H3_ID_ERROR, 0, "");
  pu_case(req, "03", ZTTP_ERR_PROTOCOL, ZTTP_H3_ID_ERROR, 0, "");
  pu_case(push, "02 75 3d 31", 0, 0, 2, "u=1");
  /* Bytes no Priority Field Value can hold (RFC 9218 §7). */
  static const char *const bad[] = {"04 75 3d 31 00", "04 75 0d 0a",
                                    "04 7f",          "04 80",
                                    "04 ff 75",       "04 75 3d 1f"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    pu_case(req, bad[i], ZTTP_ERR_PROTOCOL, ZTTP_H3_GENERAL_PROTOCOL_ERROR, 0,
            "");
  }
}

static void test_push_promise_parse(void **state) {
  (void)state;
  uint8_t buf[16];
  size_t n = unhex(buf, sizeof(buf), "40 07 00 00 d1");
  uint64_t id = 0;
  const uint8_t *f = NULL;
  size_t flen = 99;
  uint64_t err = 0xdead;
  assert_int_equal(zttp_h3_push_promise_parse(&id, &f, &flen, &err, buf, n), 0);
  assert_int_equal(id, 7);
  assert_ptr_equal(f, buf + 2);
  assert_int_equal(flen, 3);
  n = unhex(buf, sizeof(buf), "09");
  assert_int_equal(zttp_h3_push_promise_parse(&id, &f, &flen, &err, buf, n), 0);
  assert_int_equal(id, 9);
  assert_null(f);
  assert_int_equal(flen, 0);
  assert_int_equal(zttp_h3_push_promise_parse(&id, &f, &flen, &err, buf, 0),
                   ZTTP_ERR_FRAME_SIZE);
  assert_true(err == ZTTP_H3_FRAME_ERROR);
  n = unhex(buf, sizeof(buf), "80 00 01");
  err = 0;
  assert_int_equal(zttp_h3_push_promise_parse(&id, &f, &flen, &err, buf, n),
                   ZTTP_ERR_FRAME_SIZE);
  assert_true(err == ZTTP_H3_FRAME_ERROR);
}

static void dgram_case(const char *hex, int32_t rv, uint64_t want_sid,
                       size_t want_payload) {
  uint8_t buf[32];
  size_t n = unhex(buf, sizeof(buf), hex);
  uint64_t sid = 0x77;
  const uint8_t *pl = NULL;
  size_t plen = 99;
  uint64_t err = 0xdead;
  assert_int_equal(
      zttp_h3_datagram_decode(&sid, &pl, &plen, &err, n ? buf : NULL, n), rv);
  if (rv != 0) {
    /* RFC 9297 §2.1 */
    assert_true(err == ZTTP_H3_DATAGRAM_ERROR);
    assert_true(sid == 0x77);
    return;
  }
  assert_true(sid == want_sid);
  assert_true((sid & 3) == 0);
  assert_int_equal(plen, want_payload);
  if (plen != 0) {
    assert_ptr_equal(pl, buf + n - plen);
  } else {
    assert_null(pl);
  }
}

static void test_datagram(void **state) {
  (void)state;
  dgram_case("00", 0, 0, 0);
  dgram_case("01 aa bb", 0, 4, 2);
  dgram_case("40 40 00", 0, 256, 1);
  dgram_case("40 01", 0, 4, 0); /* non-minimal */
  dgram_case("cf ff ff ff ff ff ff ff", 0, VMAX - 3, 0);
  /* Too short for the Quarter Stream ID. */
  dgram_case("", ZTTP_ERR_PROTOCOL, 0, 0);
  dgram_case("40", ZTTP_ERR_PROTOCOL, 0, 0);
  dgram_case("80 00 00", ZTTP_ERR_PROTOCOL, 0, 0);
  /* Over 2^60 - 1. */
  dgram_case("d0 00 00 00 00 00 00 00", ZTTP_ERR_PROTOCOL, 0, 0);
  dgram_case("ff ff ff ff ff ff ff ff 00", ZTTP_ERR_PROTOCOL, 0, 0);

  /* Round trip over a range of stream ids. */
  for (uint64_t sid = 0; sid < 100000; sid += 4) {
    uint8_t p[8];
    size_t n = zttp_h3_encode_datagram_prefix(p, sizeof(p), sid);
    assert_true(n > 0);
    uint64_t back;
    const uint8_t *pl;
    size_t plen;
    uint64_t err;
    assert_int_equal(zttp_h3_datagram_decode(&back, &pl, &plen, &err, p, n), 0);
    assert_true(back == sid);
    assert_int_equal(plen, 0);
  }
}

static void test_varint_reader(void **state) {
  (void)state;
  static const char *const cases[] = {"00",
                                      "3f",
                                      "40 64",
                                      "80 01 11 70",
                                      "ff ff ff ff ff ff ff ff",
                                      "c0 00 00 00 00 00 00 01"};
  static const uint64_t values[] = {0, 63, 100, 70000, VMAX, 1};
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    uint8_t buf[16];
    size_t n = unhex(buf, sizeof(buf), cases[c]);
    buf[n] = 0xaa; /* a following byte that must not be taken */
    /* Every cut into two pieces, the second with the trailing byte. */
    for (size_t cut = 0; cut <= n; cut++) {
      zttp_h3_varint_reader vr;
      zttp_h3_varint_reader_init(&vr);
      int done = -1;
      size_t t = zttp_h3_varint_read(&vr, &done, buf, cut);
      assert_int_equal(t, cut);
      assert_int_equal(done, cut == n);
      if (!done) {
        t = zttp_h3_varint_read(&vr, &done, buf + cut, n + 1 - cut);
        assert_int_equal(t, n - cut);
        assert_int_equal(done, 1);
      }
      assert_true(vr.value == values[c]);
      /* Complete: takes nothing more. */
      assert_int_equal(zttp_h3_varint_read(&vr, &done, buf + n, 1), 0);
      assert_int_equal(done, 1);
    }
    /* Byte at a time. */
    zttp_h3_varint_reader vr;
    zttp_h3_varint_reader_init(&vr);
    int done = 0;
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(done, 0);
      assert_int_equal(zttp_h3_varint_read(&vr, &done, buf + i, 1), 1);
    }
    assert_int_equal(done, 1);
    assert_true(vr.value == values[c]);
    /* Empty input: nothing. */
    zttp_h3_varint_reader_init(&vr);
    assert_int_equal(zttp_h3_varint_read(&vr, &done, NULL, 0), 0);
    assert_int_equal(done, 0);
  }
}

/* ---- the frame reader: transcripts ---------------------------------------
 */

typedef struct tr_opts {
  uint64_t max_control;
  uint64_t max_fields;
  const zttp_mem *mem; /* NULL: zttp_mem_default() */
} tr_opts;

static const tr_opts default_opts = {ZTTP_H3_DEFAULT_MAX_CONTROL_PAYLOAD,
                                     ZTTP_H3_DEFAULT_MAX_FIELD_SECTION, NULL};

/* Appends what the payload parser makes of a buffered payload. */
static void describe_payload(h_str *t, uint64_t type, const uint8_t *p,
                             size_t len) {
  uint64_t err = 0;
  int32_t rv = 0;
  switch (type) {
  case ZTTP_H3_FRAME_SETTINGS: {
    zttp_h3_settings s;
    rv = zttp_h3_settings_parse(&s, &err, p, len);
    if (rv == 0) {
      zttp_rd rd;
      zttp_rd_init(&rd, p, len);
      uint64_t id;
      uint64_t v;
      h_str_adds(t, "  settings");
      while (zttp_h3_settings_next(&rd, &id, &v)) {
        h_str_addf(t, " %llx=%llx", (unsigned long long)id,
                   (unsigned long long)v);
      }
      h_str_addf(t, " present=%x unknown=%zu\n", (unsigned)s.present,
                 s.num_unknown);
    }
    break;
  }
  case ZTTP_H3_FRAME_GOAWAY:
  case ZTTP_H3_FRAME_MAX_PUSH_ID:
  case ZTTP_H3_FRAME_CANCEL_PUSH: {
    uint64_t v;
    rv = zttp_h3_varint_payload_parse(&v, &err, p, len);
    if (rv == 0) {
      h_str_addf(t, "  id=%llu\n", (unsigned long long)v);
    }
    break;
  }
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST:
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH: {
    zttp_h3_priority_update pu;
    rv = zttp_h3_priority_update_parse(&pu, &err, type, p, len);
    if (rv == 0) {
      h_str_addf(t, "  element=%llu value=", (unsigned long long)pu.element_id);
      h_str_add_escaped(t, pu.field_value, pu.field_value_len);
      h_str_adds(t, "\n");
    }
    break;
  }
  case ZTTP_H3_FRAME_PUSH_PROMISE: {
    uint64_t id;
    const uint8_t *f;
    size_t flen;
    rv = zttp_h3_push_promise_parse(&id, &f, &flen, &err, p, len);
    if (rv == 0) {
      h_str_addf(t, "  push=%llu fields=", (unsigned long long)id);
      add_hex(t, f, flen);
      h_str_adds(t, "\n");
    }
    break;
  }
  default:
    break;
  }
  if (rv != 0) {
    h_str_addf(t, "  PARSE %s %s\n", h_errname(rv), zttp_h3_error_name(err));
  }
}

/* Runs the reader over |data| cut at |cuts| (increasing, in 1..len-1) and
 * returns the transcript (caller frees). Each piece is copied flush against
 * a guard page, so that any read past it faults. DATA pieces are merged per
 * frame. */
static char *transcript(const tr_opts *o, const uint8_t *data, size_t len,
                        const size_t *cuts, size_t num_cuts) {
  zttp_h3_frame_reader r;
  zttp_h3_frame_reader_init(&r, o->mem ? o->mem : zttp_mem_default(),
                            o->max_control, o->max_fields);
  h_str t = {0};
  h_str dat = {0};
  int failed = 0;
  size_t start = 0;
  h_guard g;
  h_guard_init(&g, len != 0 ? len : 1);
  for (size_t i = 0; i <= num_cuts && !failed; i++) {
    size_t end = i < num_cuts ? cuts[i] : len;
    size_t plen = end - start;
    const uint8_t *piece = h_guard_place(&g, data + start, plen);
    size_t off = 0;
    for (;;) {
      zttp_h3_frame_event ev;
      uint64_t err = 0;
      int64_t n = zttp_h3_frame_read(&r, &ev, &err, piece + off, plen - off);
      if (n < 0) {
        h_str_addf(&t, "ERROR %s %s\n", h_errname(n), zttp_h3_error_name(err));
        failed = 1;
        break;
      }
      assert_true((size_t)n <= plen - off);
      const uint8_t *here = piece + off;
      off += (size_t)n;
      if (ev.kind == ZTTP_H3_FEV_NEED_DATA) {
        assert_int_equal(off, plen);
        break;
      }
      switch (ev.kind) {
      case ZTTP_H3_FEV_HEADER:
        h_str_addf(&t, "HEADER %s %llx len=%llu\n", zttp_h3_frame_name(ev.type),
                   (unsigned long long)ev.type, (unsigned long long)ev.length);
        break;
      case ZTTP_H3_FEV_DATA:
        /* Zero-copy: the piece is a span of this call's input. */
        assert_true(ev.len >= 1);
        assert_true(ev.data >= here && ev.data + ev.len <= piece + off);
        assert_true(ev.type == ZTTP_H3_FRAME_DATA);
        h_str_add(&dat, ev.data, ev.len);
        if (ev.end) {
          h_str_adds(&t, "DATA ");
          add_hex(&t, (const uint8_t *)dat.p, dat.len);
          h_str_adds(&t, "\n");
          dat.len = 0;
        }
        break;
      case ZTTP_H3_FEV_PAYLOAD:
        assert_true(ev.len == ev.length);
        assert_true(ev.len == 0 || ev.data != NULL);
        h_str_addf(&t, "PAYLOAD %s ", zttp_h3_frame_name(ev.type));
        add_hex(&t, ev.data, ev.len);
        h_str_adds(&t, "\n");
        describe_payload(&t, ev.type, ev.data, ev.len);
        break;
      default:
        fail_msg("bad event kind %u", ev.kind);
      }
    }
    start = end;
  }
  h_guard_free(&g);
  if (!failed) {
    uint64_t err = 0;
    int32_t rv = zttp_h3_frame_reader_finish(&r, &err);
    if (rv == 0) {
      h_str_adds(&t, "FIN ok\n");
    } else {
      h_str_addf(&t, "FIN %s %s\n", h_errname(rv), zttp_h3_error_name(err));
    }
  }
  zttp_h3_frame_reader_free(&r);
  h_str_free(&dat);
  const char *c = h_str_cstr(&t);
  char *out = malloc(strlen(c) + 1);
  memcpy(out, c, strlen(c) + 1);
  h_str_free(&t);
  return out;
}

/* Asserts that |data| gives the same transcript whole, byte at a time, cut
 * once at every position and twice at every pair of positions (when
 * |pairs|), and that it is |expected| (when not NULL). */
static void every_split(const tr_opts *o, const uint8_t *data, size_t len,
                        const char *expected, int pairs) {
  char *whole = transcript(o, data, len, NULL, 0);
  if (expected != NULL && strcmp(whole, expected) != 0) {
    fail_msg("transcript:\n%s\nexpected:\n%s", whole, expected);
  }
  size_t *cuts = calloc(len + 1, sizeof(*cuts));
  for (size_t i = 1; i < len; i++) {
    cuts[i - 1] = i;
  }
  char *bytes = transcript(o, data, len, cuts, len > 0 ? len - 1 : 0);
  if (strcmp(whole, bytes) != 0) {
    fail_msg("byte at a time:\n%s\nwhole:\n%s", bytes, whole);
  }
  free(bytes);
  for (size_t a = 1; a < len; a++) {
    char *t = transcript(o, data, len, &a, 1);
    if (strcmp(whole, t) != 0) {
      fail_msg("cut at %zu:\n%s\nwhole:\n%s", a, t, whole);
    }
    free(t);
    for (size_t b = a + 1; pairs && b < len; b++) {
      size_t two[2] = {a, b};
      t = transcript(o, data, len, two, 2);
      if (strcmp(whole, t) != 0) {
        fail_msg("cut at %zu, %zu:\n%s\nwhole:\n%s", a, b, t, whole);
      }
      free(t);
    }
  }
  free(cuts);
  free(whole);
}

static size_t build_hex(uint8_t *buf, size_t cap, const char *const *parts) {
  h_str h = {0};
  for (size_t i = 0; parts[i] != NULL; i++) {
    h_str_adds(&h, parts[i]);
    h_str_adds(&h, " ");
  }
  size_t n = unhex(buf, cap, h_str_cstr(&h));
  h_str_free(&h);
  return n;
}

/* A control stream and a request stream's frames in one transcript: every
 * frame kind, grease and unknown frames, empty frames. */
static const char *const transcript_parts[] = {
    /* SETTINGS */
    "04 0c 01 50 00 06 44 00 08 01 33 01 21 02",
    /* grease frame 0x40 with 3 bytes */
    "40 40 03 aa bb cc",
    /* HEADERS, 4 bytes */
    "01 04 00 00 d1 d7",
    /* DATA, 10 bytes */
    "00 0a 30 31 32 33 34 35 36 37 38 39",
    /* unknown 0x1234 (2-byte type), 2 bytes */
    "52 34 02 ee ff",
    /* PRIORITY_UPDATE request stream 8 "u=3" */
    "80 0f 07 00 04 08 75 3d 33",
    /* PRIORITY_UPDATE push 1 "" */
    "80 0f 07 01 01 01",
    /* DATA, empty */
    "00 00",
    /* GOAWAY 12 with a 2-byte varint */
    "07 02 40 0c",
    /* PUSH_PROMISE push 2, 2 bytes of fields */
    "05 03 02 00 00",
    /* MAX_PUSH_ID 100 */
    "0d 02 40 64",
    /* CANCEL_PUSH 3 */
    "03 01 03",
    /* unknown, empty */
    "21 00",
    /* HEADERS, empty */
    "01 00",
    /* SETTINGS, empty */
    "04 00",
    /* DATA, 1 byte, 8-byte length encoding */
    "00 c0 00 00 00 00 00 00 01 7a",
    NULL,
};

static const char transcript_expected[] =
    "HEADER SETTINGS 4 len=12\n"
    "PAYLOAD SETTINGS 0150000644000801330121"
    "02\n"
    "  settings 1=1000 6=400 8=1 33=1 21=2 present=1b unknown=1\n"
    "HEADER RESERVED 40 len=3\n"
    "HEADER HEADERS 1 len=4\n"
    "PAYLOAD HEADERS 0000d1d7\n"
    "HEADER DATA 0 len=10\n"
    "DATA 30313233343536373839\n"
    "HEADER UNKNOWN 1234 len=2\n"
    "HEADER PRIORITY_UPDATE f0700 len=4\n"
    "PAYLOAD PRIORITY_UPDATE 08753d33\n"
    "  element=8 value=u=3\n"
    "HEADER PRIORITY_UPDATE f0701 len=1\n"
    "PAYLOAD PRIORITY_UPDATE 01\n"
    "  element=1 value=\n"
    "HEADER DATA 0 len=0\n"
    "HEADER GOAWAY 7 len=2\n"
    "PAYLOAD GOAWAY 400c\n"
    "  id=12\n"
    "HEADER PUSH_PROMISE 5 len=3\n"
    "PAYLOAD PUSH_PROMISE 020000\n"
    "  push=2 fields=0000\n"
    "HEADER MAX_PUSH_ID d len=2\n"
    "PAYLOAD MAX_PUSH_ID 4064\n"
    "  id=100\n"
    "HEADER CANCEL_PUSH 3 len=1\n"
    "PAYLOAD CANCEL_PUSH 03\n"
    "  id=3\n"
    "HEADER RESERVED 21 len=0\n"
    "HEADER HEADERS 1 len=0\n"
    "PAYLOAD HEADERS \n"
    "HEADER SETTINGS 4 len=0\n"
    "PAYLOAD SETTINGS \n"
    "  settings present=0 unknown=0\n"
    "HEADER DATA 0 len=1\n"
    "DATA 7a\n"
    "FIN ok\n";

static void test_reader_every_split(void **state) {
  (void)state;
  uint8_t buf[512];
  size_t n = build_hex(buf, sizeof(buf), transcript_parts);
  every_split(&default_opts, buf, n, transcript_expected, 1);
}

/* Malformed payloads pass the reader and fail in the parser, identically
 * for every split; truncated streams fail at FIN. */
static void test_reader_malformed_payloads(void **state) {
  (void)state;
  static const struct {
    const char *hex;
    const char *expected;
  } cases[] = {
      /* GOAWAY with a trailing byte (§7.1). */
      {"07 02 05 00", "HEADER GOAWAY 7 len=2\nPAYLOAD GOAWAY 0500\n"
                      "  PARSE FRAME_SIZE H3_FRAME_ERROR\nFIN ok\n"},
      /* MAX_PUSH_ID whose varint says 2 bytes in a 1-byte payload. */
      {"0d 01 40", "HEADER MAX_PUSH_ID d len=1\nPAYLOAD MAX_PUSH_ID 40\n"
                   "  PARSE FRAME_SIZE H3_FRAME_ERROR\nFIN ok\n"},
      /* SETTINGS ending mid-varint. */
      {"04 03 06 80 00", "HEADER SETTINGS 4 len=3\nPAYLOAD SETTINGS 068000\n"
                         "  PARSE FRAME_SIZE H3_FRAME_ERROR\nFIN ok\n"},
      /* SETTINGS ending after an id. */
      {"04 01 06", "HEADER SETTINGS 4 len=1\nPAYLOAD SETTINGS 06\n"
                   "  PARSE FRAME_SIZE H3_FRAME_ERROR\nFIN ok\n"},
      /* Duplicate and reserved settings. */
      {"04 04 06 01 06 02", "HEADER SETTINGS 4 len=4\nPAYLOAD SETTINGS "
                            "06010602\n  PARSE PROTOCOL H3_SETTINGS_ERROR\n"
                            "FIN ok\n"},
      {"04 02 02 00", "HEADER SETTINGS 4 len=2\nPAYLOAD SETTINGS 0200\n"
                      "  PARSE PROTOCOL H3_SETTINGS_ERROR\nFIN ok\n"},
      /* PRIORITY_UPDATE with a control byte, with a push-ish request id,
       * without an element id. */
      {"80 0f 07 00 03 00 75 0a",
       "HEADER PRIORITY_UPDATE f0700 len=3\nPAYLOAD PRIORITY_UPDATE 00750a\n"
       "  PARSE PROTOCOL H3_GENERAL_PROTOCOL_ERROR\nFIN ok\n"},
      {"80 0f 07 00 01 01",
       "HEADER PRIORITY_UPDATE f0700 len=1\nPAYLOAD PRIORITY_UPDATE 01\n"
       "  PARSE PROTOCOL H3_ID_ERROR\nFIN ok\n"},
      {"80 0f 07 01 00", "HEADER PRIORITY_UPDATE f0701 len=0\n"
                         "PAYLOAD PRIORITY_UPDATE \n"
                         "  PARSE FRAME_SIZE H3_FRAME_ERROR\nFIN ok\n"},
      /* PUSH_PROMISE without a push id. */
      {"05 00", "HEADER PUSH_PROMISE 5 len=0\nPAYLOAD PUSH_PROMISE \n"
                "  PARSE FRAME_SIZE H3_FRAME_ERROR\nFIN ok\n"},
      /* Truncated at FIN (§7.1): inside a type, a length, a payload. */
      {"40", "FIN FRAME_SIZE H3_FRAME_ERROR\n"},
      {"00", "FIN FRAME_SIZE H3_FRAME_ERROR\n"},
      {"00 40", "FIN FRAME_SIZE H3_FRAME_ERROR\n"},
      {"00 02 61", "HEADER DATA 0 len=2\nFIN FRAME_SIZE H3_FRAME_ERROR\n"},
      {"01 02 61", "HEADER HEADERS 1 len=2\nFIN FRAME_SIZE H3_FRAME_ERROR\n"},
      {"21 02 61", "HEADER RESERVED 21 len=2\nFIN FRAME_SIZE H3_FRAME_ERROR\n"},
      {"07 01", "HEADER GOAWAY 7 len=1\nFIN FRAME_SIZE H3_FRAME_ERROR\n"},
      {"", "FIN ok\n"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint8_t buf[64];
    size_t n = unhex(buf, sizeof(buf), cases[i].hex);
    every_split(&default_opts, buf, n, cases[i].expected, 1);
  }
}

/* Reader-level errors: exact codes, sticky, same for every split. */
static void test_reader_errors(void **state) {
  (void)state;
  tr_opts small = {16, 32, NULL};
  static const struct {
    const char *hex;
    const char *expected;
  } cases[] = {
      /* Reserved HTTP/2 frame types (§7.2.8), also with a 2-byte type. */
      {"02 00", "ERROR PROTOCOL H3_FRAME_UNEXPECTED\n"},
      {"06 08 00 00 00 00 00 00 00 00", "ERROR PROTOCOL H3_FRAME_UNEXPECTED\n"},
      {"08 04 00 00 00 01", "ERROR PROTOCOL H3_FRAME_UNEXPECTED\n"},
      {"09 00", "ERROR PROTOCOL H3_FRAME_UNEXPECTED\n"},
      {"40 09 00", "ERROR PROTOCOL H3_FRAME_UNEXPECTED\n"},
      {"00 01 61 02 00", "HEADER DATA 0 len=1\nDATA 61\n"
                         "ERROR PROTOCOL H3_FRAME_UNEXPECTED\n"},
      /* One-varint frames of impossible length. */
      {"07 00", "ERROR FRAME_SIZE H3_FRAME_ERROR\n"},
      {"07 03 00 00 00", "ERROR FRAME_SIZE H3_FRAME_ERROR\n"},
      {"0d 09 00", "ERROR FRAME_SIZE H3_FRAME_ERROR\n"},
      {"03 05", "ERROR FRAME_SIZE H3_FRAME_ERROR\n"},
      {"03 c0 00 00 01 00 00 00 00", "ERROR FRAME_SIZE H3_FRAME_ERROR\n"},
      /* Control frames over the cap (16): H3_EXCESSIVE_LOAD (§10.5). */
      {"04 11", "ERROR ENHANCE_YOUR_CALM H3_EXCESSIVE_LOAD\n"},
      {"80 0f 07 00 11", "ERROR ENHANCE_YOUR_CALM H3_EXCESSIVE_LOAD\n"},
      {"80 0f 07 01 ff ff ff ff ff ff ff ff",
       "ERROR ENHANCE_YOUR_CALM H3_EXCESSIVE_LOAD\n"},
      /* HEADERS / PUSH_PROMISE over the field cap (32). */
      {"01 21", "ERROR LIMIT_HEADER_BYTES H3_EXCESSIVE_LOAD\n"},
      {"05 40 21", "ERROR LIMIT_HEADER_BYTES H3_EXCESSIVE_LOAD\n"},
      /* At the caps: fine. */
      {"04 10 21 00 21 01 21 02 21 03 21 04 21 05 21 06 21 07",
       "HEADER SETTINGS 4 len=16\n"
       "PAYLOAD SETTINGS 21002101210221032104210521062107\n"
       "  PARSE PROTOCOL H3_SETTINGS_ERROR\nFIN ok\n"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint8_t buf[128];
    size_t n = unhex(buf, sizeof(buf), cases[i].hex);
    every_split(&small, buf, n, cases[i].expected, 1);
  }

  /* DATA and unknown frames have no cap. */
  uint8_t big[3 + 100];
  memset(big, 0x61, sizeof(big));
  for (int i = 0; i < 2; i++) {
    big[0] = i == 0 ? 0x00 : 0x2f;
    big[1] = 0x40;
    big[2] = 100;
    every_split(&small, big, sizeof(big),
                i == 0 ? NULL : "HEADER UNKNOWN 2f len=100\nFIN ok\n", 0);
  }

  /* Sticky: every later call fails the same way and takes nothing. */
  zttp_h3_frame_reader r;
  zttp_h3_frame_reader_init(&r, zttp_mem_default(), 16, 16);
  zttp_h3_frame_event ev;
  uint64_t err = 0;
  const uint8_t bad[] = {0x06, 0x00, 0x00, 0x00};
  assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, bad, 4),
                   ZTTP_ERR_PROTOCOL);
  assert_true(err == ZTTP_H3_FRAME_UNEXPECTED);
  err = 0;
  assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, bad + 2, 2),
                   ZTTP_ERR_PROTOCOL);
  assert_true(err == ZTTP_H3_FRAME_UNEXPECTED);
  err = 0;
  assert_int_equal(zttp_h3_frame_reader_finish(&r, &err), ZTTP_ERR_PROTOCOL);
  assert_true(err == ZTTP_H3_FRAME_UNEXPECTED);
  zttp_h3_frame_reader_free(&r);
  zttp_h3_frame_reader_free(&r); /* twice is fine */
}

/* ---- the frame reader: zero-copy and skipping ----------------------------
 */

static void test_reader_data_zero_copy(void **state) {
  (void)state;
  /* Every allocation fails: DATA, unknown frames and whole buffered
   * payloads need none. */
  h_failalloc fa;
  h_failalloc_init(&fa, 0);
  zttp_h3_frame_reader r;
  zttp_h3_frame_reader_init(&r, &fa.alloc, 4096, 4096);
  uint8_t in[1 + 4 + 100000];
  in[0] = 0x00;
  zttp_varint_put_n(in + 1, 100000, 4);
  for (size_t i = 0; i < 100000; i++) {
    in[5 + i] = (uint8_t)(i * 7);
  }
  zttp_h3_frame_event ev;
  uint64_t err;
  /* The header in two pieces. */
  assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, in, 3), 3);
  assert_int_equal(ev.kind, ZTTP_H3_FEV_NEED_DATA);
  assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, in + 3, 10), 2);
  assert_int_equal(ev.kind, ZTTP_H3_FEV_HEADER);
  assert_true(ev.type == 0 && ev.length == 100000);
  /* Then the payload in pieces of 1, 999, 3000, ...: each handed through
   * in place, exactly as given. */
  size_t off = 5;
  size_t step = 1;
  while (off < sizeof(in)) {
    size_t n = sizeof(in) - off < step ? sizeof(in) - off : step;
    assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, in + off, n), n);
    assert_int_equal(ev.kind, ZTTP_H3_FEV_DATA);
    assert_ptr_equal(ev.data, in + off);
    assert_int_equal(ev.len, n);
    off += n;
    assert_int_equal(ev.end, off == sizeof(in));
    assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, in + off, 0), 0);
    assert_int_equal(ev.kind, ZTTP_H3_FEV_NEED_DATA);
    step = step * 3 + 996;
  }
  /* A DATA frame and a following frame in one input: the DATA piece stops
   * at the frame's end. */
  const uint8_t two[] = {0x00, 0x02, 'h', 'i', 0x04, 0x02, 0x06, 0x05};
  assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, two, 8), 2);
  assert_int_equal(ev.kind, ZTTP_H3_FEV_HEADER);
  assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, two + 2, 6), 2);
  assert_int_equal(ev.kind, ZTTP_H3_FEV_DATA);
  assert_ptr_equal(ev.data, two + 2);
  assert_int_equal(ev.len, 2);
  assert_int_equal(ev.end, 1);
  assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, two + 4, 4), 2);
  assert_int_equal(ev.kind, ZTTP_H3_FEV_HEADER);
  /* A whole buffered payload is handed out in place. */
  assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, two + 6, 2), 2);
  assert_int_equal(ev.kind, ZTTP_H3_FEV_PAYLOAD);
  assert_ptr_equal(ev.data, two + 6);
  assert_int_equal(ev.len, 2);
  assert_int_equal(zttp_h3_frame_reader_finish(&r, &err), 0);
  zttp_h3_frame_reader_free(&r);
  assert_int_equal(fa.count, 0);
  assert_int_equal(fa.live_allocs, 0);
}

static void test_reader_skip_huge(void **state) {
  (void)state;
  h_failalloc fa;
  h_failalloc_init(&fa, 0);
  static const uint64_t types[] = {
      0x21, 0x40, 0x0a, 0x1234, 0x1f * 1000000 + 0x21, VMAX};
  static const uint64_t lengths[] = {VMAX, UINT64_C(1) << 40, 1u << 20};
  uint8_t junk[65536];
  memset(junk, 0x04, sizeof(junk)); /* would be SETTINGS if misparsed */
  for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
    for (size_t li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
      zttp_h3_frame_reader r;
      zttp_h3_frame_reader_init(&r, &fa.alloc, 16, 16);
      uint8_t hdr[16];
      size_t hn =
          zttp_h3_encode_frame_header(hdr, sizeof(hdr), types[ti], lengths[li]);
      assert_true(hn > 0);
      zttp_h3_frame_event ev;
      uint64_t err;
      assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, hdr, hn), hn);
      assert_int_equal(ev.kind, ZTTP_H3_FEV_HEADER);
      assert_true(ev.type == types[ti] && ev.length == lengths[li]);
      /* 16 MiB of payload: nothing reported, nothing buffered. */
      uint64_t fed = 0;
      for (int i = 0; i < 256 && fed < lengths[li]; i++) {
        size_t n = sizeof(junk);
        if (lengths[li] - fed < n) {
          n = (size_t)(lengths[li] - fed);
        }
        assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, junk, n), n);
        assert_int_equal(ev.kind, ZTTP_H3_FEV_NEED_DATA);
        fed += n;
      }
      if (fed < lengths[li]) {
        /* Cut short at FIN: a truncated frame (§7.1). */
        assert_int_equal(zttp_h3_frame_reader_finish(&r, &err),
                         ZTTP_ERR_FRAME_SIZE);
        assert_true(err == ZTTP_H3_FRAME_ERROR);
      } else {
        /* Skipped to the end: the next frame is read normally. */
        const uint8_t next[] = {0x07, 0x01, 0x08};
        assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, next, 3), 2);
        assert_int_equal(ev.kind, ZTTP_H3_FEV_HEADER);
        assert_true(ev.type == ZTTP_H3_FRAME_GOAWAY);
        assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, next + 2, 1), 1);
        assert_int_equal(ev.kind, ZTTP_H3_FEV_PAYLOAD);
        assert_int_equal(zttp_h3_frame_reader_finish(&r, &err), 0);
      }
      zttp_h3_frame_reader_free(&r);
    }
  }
  assert_int_equal(fa.count, 0);
}

/* ---- the frame reader: the payload buffer --------------------------------
 */

/* A SETTINGS and a HEADERS payload arriving in pieces are copied into the
 * reader's buffer, which is allocated once and reused. */
static void test_reader_buffer_reuse(void **state) {
  (void)state;
  h_failalloc fa;
  h_failalloc_init(&fa, -1);
  zttp_h3_frame_reader r;
  zttp_h3_frame_reader_init(&r, &fa.alloc, 64, 100);
  zttp_h3_frame_event ev;
  uint64_t err;
  for (int round = 0; round < 5; round++) {
    const uint8_t st[] = {0x04, 0x05, 0x06, 0x40, 0x64, 0x21};
    const uint8_t st2[] = {0x00};
    assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, st, sizeof(st)), 2);
    assert_int_equal(ev.kind, ZTTP_H3_FEV_HEADER);
    assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, st + 2, 4), 4);
    assert_int_equal(ev.kind, ZTTP_H3_FEV_NEED_DATA);
    assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, st2, 1), 1);
    assert_int_equal(ev.kind, ZTTP_H3_FEV_PAYLOAD);
    assert_int_equal(ev.len, 5);
    assert_ptr_equal(ev.data, r.buf);
    expect_bytes(ev.data, ev.len, "06 40 64 21 00");
    /* HEADERS of 100 bytes (the cap): 99 in pieces of 30, then 1. */
    uint8_t h[3 + 99] = {0x01, 0x40, 0x64};
    for (size_t i = 0; i < 99; i++) {
      h[3 + i] = (uint8_t)i;
    }
    assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, h, 3), 3);
    assert_int_equal(ev.kind, ZTTP_H3_FEV_HEADER);
    assert_true(ev.length == 100);
    size_t off = 3;
    uint8_t tail = 99;
    for (;;) {
      size_t n = 102 - off < 30 ? 102 - off : 30;
      assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, h + off, n), n);
      off += n;
      assert_int_equal(ev.kind, ZTTP_H3_FEV_NEED_DATA);
      if (off == 102) {
        break;
      }
    }
    assert_int_equal(zttp_h3_frame_read(&r, &ev, &err, &tail, 1), 1);
    assert_int_equal(ev.kind, ZTTP_H3_FEV_PAYLOAD);
    assert_int_equal(ev.len, 100);
    assert_ptr_equal(ev.data, r.buf);
    for (size_t i = 0; i < 100; i++) {
      assert_int_equal(ev.data[i], (uint8_t)i);
    }
    assert_true(r.buf_cap <= 100);
  }
  /* One malloc for SETTINGS, one realloc for HEADERS, then reused. */
  assert_int_equal(fa.count, 2);
  assert_int_equal(fa.live_allocs, 1);
  assert_true(fa.peak_bytes <= 100);
  zttp_h3_frame_reader_free(&r);
  assert_int_equal(fa.live_allocs, 0);
  assert_int_equal(fa.bad_frees, 0);
}

/* Failing allocator: allocation k fails for every k; each run either
 * succeeds with the full transcript or fails with NOMEM/H3_INTERNAL_ERROR,
 * and nothing leaks. */
static void test_reader_failalloc(void **state) {
  (void)state;
  uint8_t buf[512];
  size_t n = build_hex(buf, sizeof(buf), transcript_parts);
  /* Byte at a time, so that every buffered payload needs the buffer. */
  size_t cuts[512];
  for (size_t i = 1; i < n; i++) {
    cuts[i - 1] = i;
  }
  long clean = -1;
  for (long k = 0; k < 100; k++) {
    h_failalloc fa;
    h_failalloc_init(&fa, k);
    tr_opts o = default_opts;
    o.mem = &fa.alloc;
    char *t = transcript(&o, buf, n, cuts, n - 1);
    assert_int_equal(fa.live_allocs, 0);
    assert_int_equal(fa.bad_frees, 0);
    if (!fa.injected) {
      assert_string_equal(t, transcript_expected);
      free(t);
      clean = k;
      break;
    }
    /* The failure ends the transcript with the error, after a prefix of
     * the clean one. */
    const char *e = strstr(t, "ERROR NOMEM H3_INTERNAL_ERROR\n");
    assert_non_null(e);
    assert_int_equal(strlen(e), strlen("ERROR NOMEM H3_INTERNAL_ERROR\n"));
    assert_memory_equal(t, transcript_expected, (size_t)(e - t));
    free(t);
  }
  /* The transcript needs the buffer: at least one allocation was failed. */
  assert_true(clean >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_encode_frame_header),
      cmocka_unit_test(test_encode_frames),
      cmocka_unit_test(test_encode_refusals),
      cmocka_unit_test(test_settings_parse),
      cmocka_unit_test(test_settings_errors),
      cmocka_unit_test(test_varint_payloads),
      cmocka_unit_test(test_priority_update_parse),
      cmocka_unit_test(test_push_promise_parse),
      cmocka_unit_test(test_datagram),
      cmocka_unit_test(test_varint_reader),
      cmocka_unit_test(test_reader_every_split),
      cmocka_unit_test(test_reader_malformed_payloads),
      cmocka_unit_test(test_reader_errors),
      cmocka_unit_test(test_reader_data_zero_copy),
      cmocka_unit_test(test_reader_skip_huge),
      cmocka_unit_test(test_reader_buffer_reuse),
      cmocka_unit_test(test_reader_failalloc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
