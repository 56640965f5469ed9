/* The bounds-checked reader (common/reader.h) and QUIC varints
 * (common/varint.h, RFC 9000 §16 and Appendix A.1).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/reader.h"
#include "common/varint.h"
#include "harness.h"

#include "quic_test_util.h"

static void expect_varint(const char *hex, uint64_t want) {
  uint8_t buf[16];
  size_t n = q_unhex(buf, sizeof(buf), hex);
  zttp_rd rd;
  zttp_rd_init(&rd, buf, n);
  uint64_t v = 0;
  assert_int_equal(zttp_rd_varint(&rd, &v), 1);
  assert_true(v == want);
  assert_int_equal(zttp_rd_len(&rd), 0);
  /* Every truncation fails and leaves the reader alone. */
  for (size_t k = 0; k < n; k++) {
    zttp_rd_init(&rd, buf, k);
    assert_int_equal(zttp_rd_varint(&rd, &v), 0);
    assert_ptr_equal(rd.p, buf);
  }
}

/* RFC 9000 Appendix A.1 */
static void test_rfc9000_a1_examples(void **state) {
  (void)state;
  expect_varint("c2197c5eff14e88c", UINT64_C(151288809941952652));
  expect_varint("9d7f3e7d", 494878333);
  expect_varint("7bbd", 15293);
  expect_varint("25", 37);
  /* §16: "the two-byte sequence 0x40 0x25 also decodes to 37". */
  expect_varint("4025", 37);
  expect_varint("8000 0025", 37);
  expect_varint("c000 0000 0000 0025", 37);
}

static void expect_put(uint64_t v, const char *hex) {
  uint8_t want[8];
  uint8_t got[8];
  size_t n = q_unhex(want, sizeof(want), hex);
  assert_int_equal(zttp_varint_len(v), n);
  assert_ptr_equal(zttp_varint_put(got, v), got + n);
  assert_memory_equal(got, want, n);
}

static void test_varint_put(void **state) {
  (void)state;
  expect_put(UINT64_C(151288809941952652), "c2197c5eff14e88c");
  expect_put(494878333, "9d7f3e7d");
  expect_put(15293, "7bbd");
  expect_put(37, "25");
  /* The boundaries of each length. */
  expect_put(0, "00");
  expect_put(63, "3f");
  expect_put(64, "4040");
  expect_put(16383, "7fff");
  expect_put(16384, "80004000");
  expect_put((UINT64_C(1) << 30) - 1, "bfffffff");
  expect_put(UINT64_C(1) << 30, "c000000040000000");
  expect_put(ZTTP_VARINT_MAX, "ffffffffffffffff");
  assert_true(ZTTP_VARINT_MAX == UINT64_C(4611686018427387903));

  /* Fixed-length writes (the Length placeholder). */
  uint8_t b[8];
  zttp_varint_put_n(b, 37, 2);
  assert_memory_equal(b, "\x40\x25", 2);
  zttp_varint_put_n(b, 0, 4);
  assert_memory_equal(b, "\x80\x00\x00\x00", 4);
  zttp_varint_put_n(b, 1, 8);
  assert_memory_equal(b, "\xc0\x00\x00\x00\x00\x00\x00\x01", 8);
}

/* Every value near each boundary survives a round trip. */
static void test_varint_round_trip(void **state) {
  (void)state;
  const uint64_t edges[] = {0,
                            63,
                            64,
                            16383,
                            16384,
                            (UINT64_C(1) << 30) - 1,
                            UINT64_C(1) << 30,
                            ZTTP_VARINT_MAX};
  for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
    for (int d = -2; d <= 2; d++) {
      uint64_t v = edges[i] + (uint64_t)(int64_t)d;
      if (v > ZTTP_VARINT_MAX) {
        continue;
      }
      uint8_t b[8];
      uint8_t *e = zttp_varint_put(b, v);
      zttp_rd rd;
      zttp_rd_init(&rd, b, (size_t)(e - b));
      uint64_t got;
      assert_int_equal(zttp_rd_varint(&rd, &got), 1);
      assert_true(got == v);
      assert_int_equal(zttp_rd_len(&rd), 0);
    }
  }
}

static void test_reader_ints(void **state) {
  (void)state;
  const uint8_t b[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                       0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12};
  zttp_rd rd;
  zttp_rd_init(&rd, b, sizeof(b));
  uint8_t u8;
  uint16_t u16;
  uint32_t u24;
  uint32_t u32;
  uint64_t u64;
  assert_int_equal(zttp_rd_u8(&rd, &u8), 1);
  assert_int_equal(u8, 0x01);
  assert_int_equal(zttp_rd_u16(&rd, &u16), 1);
  assert_int_equal(u16, 0x0203);
  assert_int_equal(zttp_rd_u24(&rd, &u24), 1);
  assert_int_equal(u24, 0x040506);
  assert_int_equal(zttp_rd_u32(&rd, &u32), 1);
  assert_int_equal(u32, 0x0708090a);
  assert_int_equal(zttp_rd_len(&rd), 8);
  /* 8 left: u64 works, then everything fails without moving. */
  assert_int_equal(zttp_rd_u64(&rd, &u64), 1);
  assert_true(u64 == UINT64_C(0x0b0c0d0e0f101112));
  assert_int_equal(zttp_rd_len(&rd), 0);
  const uint8_t *end = rd.p;
  assert_int_equal(zttp_rd_u8(&rd, &u8), 0);
  assert_int_equal(zttp_rd_u16(&rd, &u16), 0);
  assert_int_equal(zttp_rd_u24(&rd, &u24), 0);
  assert_int_equal(zttp_rd_u32(&rd, &u32), 0);
  assert_int_equal(zttp_rd_u64(&rd, &u64), 0);
  assert_int_equal(zttp_rd_varint(&rd, &u64), 0);
  assert_ptr_equal(rd.p, end);

  /* Short reads do not advance. */
  zttp_rd_init(&rd, b, 3);
  assert_int_equal(zttp_rd_u32(&rd, &u32), 0);
  assert_ptr_equal(rd.p, b);
  zttp_rd_init(&rd, b, 1);
  assert_int_equal(zttp_rd_u16(&rd, &u16), 0);
  assert_int_equal(zttp_rd_u24(&rd, &u24), 0);
  assert_int_equal(zttp_rd_u64(&rd, &u64), 0);
  assert_ptr_equal(rd.p, b);
}

static void test_reader_bytes_skip(void **state) {
  (void)state;
  const uint8_t b[] = "abcdef";
  zttp_rd rd;
  const uint8_t *out = NULL;
  zttp_rd_init(&rd, b, 6);
  assert_int_equal(zttp_rd_bytes(&rd, &out, 2), 1);
  assert_ptr_equal(out, b);
  assert_int_equal(zttp_rd_skip(&rd, 1), 1);
  assert_int_equal(zttp_rd_bytes(&rd, &out, 0), 1);
  assert_ptr_equal(out, b + 3);
  assert_int_equal(zttp_rd_bytes(&rd, &out, 4), 0);
  assert_ptr_equal(out, b + 3);
  assert_int_equal(zttp_rd_skip(&rd, 4), 0);
  assert_int_equal(zttp_rd_len(&rd), 3);
  assert_int_equal(zttp_rd_skip(&rd, 3), 1);
  assert_int_equal(zttp_rd_len(&rd), 0);
  assert_int_equal(zttp_rd_bytes(&rd, &out, 1), 0);
  assert_int_equal(zttp_rd_bytes(&rd, &out, 0), 1);

  /* An empty reader over NULL. */
  zttp_rd_init(&rd, NULL, 0);
  assert_int_equal(zttp_rd_len(&rd), 0);
  assert_int_equal(zttp_rd_skip(&rd, 0), 1);
  assert_int_equal(zttp_rd_skip(&rd, 1), 0);
  uint8_t u8;
  assert_int_equal(zttp_rd_u8(&rd, &u8), 0);
}

/* Varints flush against an unreadable page: the length prefix says more
 * than what is there. */
static void test_varint_guard(void **state) {
  (void)state;
  h_guard g;
  h_guard_init(&g, 16);
  const uint8_t prefixes[] = {0x40, 0x80, 0xc0};
  for (size_t i = 0; i < 3; i++) {
    size_t need = (size_t)1 << (prefixes[i] >> 6);
    for (size_t have = 1; have < need; have++) {
      uint8_t buf[8] = {0};
      buf[0] = prefixes[i];
      const uint8_t *p = h_guard_place(&g, buf, have);
      zttp_rd rd;
      zttp_rd_init(&rd, p, have);
      uint64_t v;
      assert_int_equal(zttp_rd_varint(&rd, &v), 0);
    }
  }
  h_guard_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc9000_a1_examples),
      cmocka_unit_test(test_varint_put),
      cmocka_unit_test(test_varint_round_trip),
      cmocka_unit_test(test_reader_ints),
      cmocka_unit_test(test_reader_bytes_skip),
      cmocka_unit_test(test_varint_guard),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
