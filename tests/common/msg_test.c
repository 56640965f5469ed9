/* Unit tests of src/common/msg.c (the HTTP/2 and HTTP/3 message rules of
 * RFC 9113 §8 and RFC 9114 §4, the RFC 9218 §4 priority field).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/msg.h"
#include "harness.h"

static void test_priority_field(void **state) {
  (void)state;
  struct {
    const char *v;
    uint8_t u, i;
  } cases[] = {
      {"", 3, 0},           {"u=0", 0, 0},          {"u=7, i", 7, 1},
      {"i", 3, 1},          {"i=?1", 3, 1},         {"i=?0", 3, 0},
      {"u=8", 3, 0},        {"u=-1", 3, 0},         {"u=12", 3, 0},
      {"u=2;x=1, i", 2, 1}, {" u=5 , i=?1 ", 5, 1}, {"x=1, u=1", 1, 0},
      {"u=1, u=6", 6, 0},   {"i=1", 3, 0},          {"u", 3, 0},
  };
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    uint8_t u = 3, i = 0;
    zttp_msg_priority_parse(&u, &i, cases[k].v, strlen(cases[k].v));
    if (u != cases[k].u || i != cases[k].i) {
      print_error("\"%s\": u=%u i=%u, want u=%u i=%u\n", cases[k].v, u, i,
                  cases[k].u, cases[k].i);
      fail();
    }
  }
}

static void test_request_rules(void **state) {
  (void)state;
  zttp_msg m;
  const char *why = NULL;
  zttp_header ok[] = {h_hdr(":method", "OPTIONS"),   h_hdr(":scheme", "https"),
                      h_hdr(":path", "*"),           h_hdr(":authority", "a"),
                      h_hdr("content-length", "12"), h_hdr("te", "Trailers")};
  assert_int_equal(zttp_msg_check(&m, &why, ok, 6, ZTTP_MSG_REQUEST, 0), 0);
  assert_int_equal(m.first_regular, 4);
  assert_int_equal(m.content_length, 12);
  assert_int_equal(m.path.len, 1);
  /* "*" is for OPTIONS only. */
  ok[0] = h_hdr(":method", "GET");
  assert_int_equal(zttp_msg_check(&m, &why, ok, 6, ZTTP_MSG_REQUEST, 0), -1);
  assert_string_equal(why, "invalid :path");
  zttp_header resp[] = {h_hdr(":status", "204"), h_hdr("x", "")};
  assert_int_equal(zttp_msg_check(&m, &why, resp, 2, ZTTP_MSG_RESPONSE, 0), 0);
  assert_int_equal(m.status, 204);
  resp[0] = h_hdr(":status", "2000");
  assert_int_equal(zttp_msg_check(&m, &why, resp, 2, ZTTP_MSG_RESPONSE, 0), -1);
  resp[0] = h_hdr(":status", "099");
  assert_int_equal(zttp_msg_check(&m, &why, resp, 2, ZTTP_MSG_RESPONSE, 0), -1);
  zttp_header tr[] = {h_hdr("x", "1"), h_hdr(":status", "200")};
  assert_int_equal(zttp_msg_check(&m, &why, tr, 1, ZTTP_MSG_TRAILERS, 0), 0);
  assert_int_equal(zttp_msg_check(&m, &why, tr, 2, ZTTP_MSG_TRAILERS, 0), -1);
  assert_int_equal(zttp_msg_check(&m, &why, tr + 1, 1, ZTTP_MSG_TRAILERS, 0),
                   -1);
  /* obs-text is allowed in values, CTLs and edge whitespace are not. */
  zttp_header v[] = {h_hdr(":status", "200"), h_hdr("x", "caf\xc3\xa9")};
  assert_int_equal(zttp_msg_check(&m, &why, v, 2, ZTTP_MSG_RESPONSE, 0), 0);
  v[1] = h_hdr("x", "a\tb");
  assert_int_equal(zttp_msg_check(&m, &why, v, 2, ZTTP_MSG_RESPONSE, 0), 0);
  v[1] = h_hdr("x", "a\x01"
                    "b");
  assert_int_equal(zttp_msg_check(&m, &why, v, 2, ZTTP_MSG_RESPONSE, 0), -1);
  v[1] = h_hdr("x", "ab\t");
  assert_int_equal(zttp_msg_check(&m, &why, v, 2, ZTTP_MSG_RESPONSE, 0), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_priority_field),
      cmocka_unit_test(test_request_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
