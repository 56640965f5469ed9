/* The internal HTTP/1.1 parser and the character scanners it runs on.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/scan.h"
#include "h1/parser.h"

/* The scalar, SSE2 and AVX2 scanners agree on every start and length over
 * inputs dense in the bytes that stop them. */
static void test_scanners_agree(void **state) {
  (void)state;
  static const uint8_t alphabet[] = {'a',  'Z',  '0',  ' ',  '\t', '\r',
                                     '\n', 0x00, 0x1f, 0x20, 0x21, 0x7e,
                                     0x7f, 0x80, 0xff, ':',  '"',  '?'};
  uint8_t buf[200];
  uint32_t seed = 12345;
  for (int round = 0; round < 300; round++) {
    for (size_t i = 0; i < sizeof(buf); i++) {
      seed = seed * 1103515245u + 12345u;
      /* Long runs of allowed bytes, so the vector loops run. */
      buf[i] = (seed >> 16) % 8 != 0 ? 'x'
                                     : alphabet[(seed >> 8) % sizeof(alphabet)];
    }
    for (size_t start = 0; start < 40; start++) {
      for (size_t len = 0; start + len <= sizeof(buf); len += 7) {
        const uint8_t *p = buf + start;
        const uint8_t *e = p + len;
        const uint8_t *v = zttp_scan_value_scalar(p, e);
        const uint8_t *t = zttp_scan_target_scalar(p, e);
        assert_ptr_equal(zttp_scan_value_sse2(p, e), v);
        assert_ptr_equal(zttp_scan_target_sse2(p, e), t);
        assert_ptr_equal(zttp_scan_value(p, e), v);
        assert_ptr_equal(zttp_scan_target(p, e), t);
        if (zttp_scan_have_avx2) {
          assert_ptr_equal(zttp_scan_value_avx2(p, e), v);
          assert_ptr_equal(zttp_scan_target_avx2(p, e), t);
        }
      }
    }
  }
}

/* Every byte value is classified as RFC 9110 says. */
static void test_character_classes(void **state) {
  (void)state;
  static const char tchar_extra[] = "!#$%&'*+-.^_`|~";
  for (int c = 0; c < 256; c++) {
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    int digit = c >= '0' && c <= '9';
    int tchar = alpha || digit || (c != 0 && strchr(tchar_extra, c) != NULL);
    int vchar = c >= 0x21 && c <= 0x7e;
    int value = vchar || c >= 0x80 || c == ' ' || c == '\t';
    assert_int_equal((zttp_ctype[c] & ZTTP_CT_TOKEN) != 0, tchar);
    assert_int_equal((zttp_ctype[c] & ZTTP_CT_VALUE) != 0, value);
    assert_int_equal((zttp_ctype[c] & ZTTP_CT_TARGET) != 0, vchar);
    assert_int_equal((zttp_ctype[c] & ZTTP_CT_DIGIT) != 0, digit);
    int hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    assert_int_equal((zttp_ctype[c] & ZTTP_CT_HEX) != 0, hex);
    int host =
        alpha || digit || (c != 0 && strchr("-._~!$&'()*+,;=%:[]", c) != NULL);
    assert_int_equal((zttp_ctype[c] & ZTTP_CT_HOST) != 0, host);
  }
}

static zttp_settings defaults(void) {
  zttp_settings s;
  memset(&s, 0, sizeof(s));
  s.limits[ZTTP_LIMIT_INPUT_BUFFER] = 131072;
  s.limits[ZTTP_LIMIT_OUTPUT_BUFFER] = 262144;
  s.limits[ZTTP_LIMIT_MAX_HEADERS] = 128;
  s.limits[ZTTP_LIMIT_MAX_HEADER_BYTES] = 65536;
  s.limits[ZTTP_LIMIT_MAX_TRAILERS] = 32;
  s.limits[ZTTP_LIMIT_MAX_TRAILER_BYTES] = 8192;
  s.limits[ZTTP_LIMIT_H1_MAX_START_LINE] = 8192;
  s.limits[ZTTP_LIMIT_H1_MAX_CHUNK_EXT] = 1024;
  s.limits[ZTTP_LIMIT_H1_MAX_PIPELINE] = 32;
  return s;
}

/* Items come one per call and point into the caller's buffer; an
 * incomplete head consumes nothing and is parsed once it is whole. */
static void test_items_point_into_input(void **state) {
  (void)state;
  zttp_settings s = defaults();
  zttp_h1_parser p;
  zttp_h1_item it;
  zttp_h1_parser_init(&p, zttp_mem_default(), &s, 0);
  static const char msg[] =
      "\r\nPOST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;ext=\"q\\\"v\"\r\nabc\r\n0\r\nT: 1\r\n\r\n";
  uint8_t buf[sizeof(msg)];
  memcpy(buf, msg, sizeof(msg) - 1);
  size_t len = sizeof(msg) - 1;
  /* Only the leading empty line can be consumed before the head is whole. */
  assert_int_equal(zttp_h1_parse(&p, &it, buf, 20), 2);
  assert_int_equal(it.kind, ZTTP_H1_ITEM_NONE);
  assert_int_equal(zttp_h1_parse(&p, &it, buf + 2, 30), 0);
  assert_int_equal(it.kind, ZTTP_H1_ITEM_NONE);
  assert_int_equal(zttp_h1_parser_idle(&p), 0);
  size_t off = 2;
  int64_t n = zttp_h1_parse(&p, &it, buf + off, len - off);
  assert_int_equal(n, 57);
  assert_int_equal(it.kind, ZTTP_H1_ITEM_HEAD);
  assert_ptr_equal(it.head.method.base, (const char *)buf + 2);
  assert_int_equal(it.head.body, ZTTP_H1_BODY_CHUNKED);
  assert_int_equal(it.head.num_headers, 2);
  off += (size_t)n;
  n = zttp_h1_parse(&p, &it, buf + off, len - off);
  assert_int_equal(it.kind, ZTTP_H1_ITEM_DATA);
  assert_int_equal(it.len, 3);
  assert_memory_equal(it.data, "abc", 3);
  assert_ptr_equal(it.data, buf + off + 14);
  off += (size_t)n;
  n = zttp_h1_parse(&p, &it, buf + off, len - off);
  assert_int_equal(it.kind, ZTTP_H1_ITEM_END);
  assert_int_equal(it.num_trailers, 1);
  off += (size_t)n;
  assert_int_equal(off, len);
  assert_int_equal(zttp_h1_parser_idle(&p), 1);
  assert_int_equal(zttp_h1_parse_eof(&p, &it), 0);
  zttp_h1_parser_free(&p);
}

/* A start line over its limit fails while it is still arriving, one byte
 * at a time, with no line end ever sent. */
static void test_start_line_limit_as_bytes_arrive(void **state) {
  (void)state;
  zttp_settings s = defaults();
  s.limits[ZTTP_LIMIT_H1_MAX_START_LINE] = 64;
  zttp_h1_parser p;
  zttp_h1_item it;
  zttp_h1_parser_init(&p, zttp_mem_default(), &s, 0);
  uint8_t buf[200];
  memcpy(buf, "GET /", 5);
  memset(buf + 5, 'a', sizeof(buf) - 5);
  size_t len;
  int64_t n = 0;
  for (len = 1; len <= sizeof(buf); len++) {
    n = zttp_h1_parse(&p, &it, buf, len);
    if (n != 0) {
      break;
    }
  }
  assert_int_equal(n, ZTTP_ERR_LIMIT_START_LINE);
  assert_int_equal(len, 64);
  zttp_h1_parser_free(&p);
}

/* A response parser applies what the request was (RFC 9112 §6.3). */
static void test_response_body_rules(void **state) {
  (void)state;
  zttp_settings s = defaults();
  zttp_h1_parser p;
  zttp_h1_item it;
  zttp_h1_parser_init(&p, zttp_mem_default(), &s, 1);
  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  uint8_t buf[64];
  memcpy(buf, resp, sizeof(resp) - 1);
  zttp_h1_parser_expect_response(&p, 1, 0);
  assert_int_equal(zttp_h1_parse(&p, &it, buf, sizeof(resp) - 1),
                   (int64_t)sizeof(resp) - 1);
  assert_int_equal(it.head.body, ZTTP_H1_BODY_NONE);
  assert_int_equal(zttp_h1_parse(&p, &it, buf, 0), 0);
  assert_int_equal(it.kind, ZTTP_H1_ITEM_END);
  zttp_h1_parser_expect_response(&p, 0, 1);
  assert_int_equal(zttp_h1_parse(&p, &it, buf, sizeof(resp) - 1),
                   (int64_t)sizeof(resp) - 1);
  assert_int_equal(it.head.body, ZTTP_H1_BODY_NONE);
  zttp_h1_parser_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scanners_agree),
      cmocka_unit_test(test_character_classes),
      cmocka_unit_test(test_items_point_into_input),
      cmocka_unit_test(test_start_line_limit_as_bytes_arrive),
      cmocka_unit_test(test_response_body_rules),
  };
  return cmocka_run_group_tests_name("h1-parser", tests, NULL, NULL);
}
