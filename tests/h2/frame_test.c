/* Unit tests of src/h2/frame.c helpers. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "h2/frame.h"
#include "harness.h"

static void test_base64url(void **state) {
  (void)state;
  uint8_t out[16];
  assert_int_equal(zttp_h2_base64url_decode(out, "AAMAAABk", 8), 6);
  assert_memory_equal(out, "\0\x03\0\0\0\x64", 6);
  assert_int_equal(zttp_h2_base64url_decode(out, "_-8", 3), 2);
  assert_memory_equal(out, "\xff\xef", 2);
  assert_int_equal(zttp_h2_base64url_decode(out, "AAMAAABk==", 10), 6);
  assert_int_equal(zttp_h2_base64url_decode(out, "A", 1), -1);
  assert_int_equal(zttp_h2_base64url_decode(out, "AB", 2), -1); /* bits */
  assert_int_equal(zttp_h2_base64url_decode(out, "A+==", 4), -1);
  assert_int_equal(zttp_h2_base64url_decode(out, "", 0), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_base64url),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
