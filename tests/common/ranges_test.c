/* src/common/ranges.c: merging, the cap, removal, lookups, checked against
 * a bitmap model over random operations. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/ranges.h"
#include "harness.h"

static const char *text(const zttp_ranges *s) {
  static char buf[512];
  size_t n = 0;
  buf[0] = 0;
  for (size_t i = 0; i < s->num && n < sizeof(buf) - 40; i++) {
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s[%llu,%llu)",
                          i ? " " : "", (unsigned long long)s->r[i].start,
                          (unsigned long long)s->r[i].end);
  }
  return buf;
}

static void test_merge(void **state) {
  (void)state;
  const zttp_mem *m = zttp_mem_default();
  zttp_ranges s;
  zttp_ranges_init(&s, 16);
  assert_int_equal(zttp_ranges_add(&s, m, 10, 20), 0);
  assert_int_equal(zttp_ranges_add(&s, m, 30, 40), 0);
  assert_int_equal(zttp_ranges_add(&s, m, 0, 5), 0);
  assert_string_equal(text(&s), "[0,5) [10,20) [30,40)");
  /* Adjacent on both sides: one range. */
  assert_int_equal(zttp_ranges_add(&s, m, 20, 30), 0);
  assert_string_equal(text(&s), "[0,5) [10,40)");
  assert_int_equal(zttp_ranges_add(&s, m, 3, 12), 0);
  assert_string_equal(text(&s), "[0,40)");
  assert_int_equal(zttp_ranges_add(&s, m, 50, 51), 0);
  assert_int_equal(zttp_ranges_add(&s, m, 45, 46), 0);
  assert_int_equal(zttp_ranges_add(&s, m, 1, 2), 0);
  assert_string_equal(text(&s), "[0,40) [45,46) [50,51)");
  assert_true(zttp_ranges_contains(&s, 0));
  assert_true(zttp_ranges_contains(&s, 39));
  assert_false(zttp_ranges_contains(&s, 40));
  assert_true(zttp_ranges_contains(&s, 45));
  assert_false(zttp_ranges_contains(&s, 49));
  assert_int_equal(zttp_ranges_covered(&s, 0), 40);
  assert_int_equal(zttp_ranges_covered(&s, 17), 40);
  assert_int_equal(zttp_ranges_covered(&s, 41), 41);
  assert_int_equal(zttp_ranges_max(&s), 50);
  zttp_ranges_remove_below(&s, 20);
  assert_string_equal(text(&s), "[20,40) [45,46) [50,51)");
  zttp_ranges_remove_below(&s, 46);
  assert_string_equal(text(&s), "[50,51)");
  zttp_ranges_remove_first(&s);
  assert_true(zttp_ranges_empty(&s));
  zttp_ranges_free(&s, m);
}

static void test_cap(void **state) {
  (void)state;
  const zttp_mem *m = zttp_mem_default();
  zttp_ranges s;
  zttp_ranges_init(&s, 3);
  assert_int_equal(zttp_ranges_add(&s, m, 0, 1), 0);
  assert_int_equal(zttp_ranges_add(&s, m, 2, 3), 0);
  assert_int_equal(zttp_ranges_add(&s, m, 4, 5), 0);
  /* A fourth hole is refused and changes nothing; merges still work. */
  assert_int_equal(zttp_ranges_add(&s, m, 6, 7), ZTTP_ERR_BUFFER_FULL);
  assert_string_equal(text(&s), "[0,1) [2,3) [4,5)");
  assert_int_equal(zttp_ranges_add(&s, m, 1, 2), 0);
  assert_string_equal(text(&s), "[0,3) [4,5)");
  assert_int_equal(zttp_ranges_add(&s, m, 6, 7), 0);
  zttp_ranges_free(&s, m);
}

static void test_failalloc(void **state) {
  (void)state;
  h_failalloc fa;
  h_failalloc_init(&fa, 0);
  zttp_ranges s;
  zttp_ranges_init(&s, 100);
  assert_int_equal(zttp_ranges_add(&s, &fa.alloc, 0, 1), ZTTP_ERR_NOMEM);
  assert_true(zttp_ranges_empty(&s));
  fa.fail_at = -1;
  assert_int_equal(zttp_ranges_add(&s, &fa.alloc, 0, 1), 0);
  zttp_ranges_free(&s, &fa.alloc);
  assert_int_equal(fa.live_allocs, 0);
}

/* Random adds and removals against a bitmap over [0, 512). */
static void test_model(void **state) {
  (void)state;
  const zttp_mem *m = zttp_mem_default();
  uint64_t rng = 12345;
  for (int round = 0; round < 200; round++) {
    uint8_t bits[512] = {0};
    zttp_ranges s;
    zttp_ranges_init(&s, 1000);
    uint64_t floor = 0;
    for (int op = 0; op < 300; op++) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      uint64_t a = (rng >> 33) % 512;
      uint64_t len = 1 + (rng >> 20) % 24;
      uint64_t b = a + len > 512 ? 512 : a + len;
      if ((rng >> 10) % 17 == 0) {
        floor = a;
        zttp_ranges_remove_below(&s, floor);
        memset(bits, 0, (size_t)floor);
        continue;
      }
      assert_int_equal(zttp_ranges_add(&s, m, a, b), 0);
      for (uint64_t k = a; k < b; k++) {
        bits[k] = 1;
      }
      if (floor > 0) {
        zttp_ranges_remove_below(&s, floor);
        memset(bits, 0, (size_t)floor);
      }
    }
    for (uint64_t x = 0; x < 512; x++) {
      assert_int_equal(zttp_ranges_contains(&s, x), bits[x]);
    }
    /* Canonical: sorted, disjoint, not adjacent, non-empty. */
    for (size_t i = 0; i < s.num; i++) {
      assert_true(s.r[i].start < s.r[i].end);
      if (i > 0) {
        assert_true(s.r[i - 1].end < s.r[i].start);
      }
    }
    zttp_ranges_free(&s, m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_merge),
      cmocka_unit_test(test_cap),
      cmocka_unit_test(test_failalloc),
      cmocka_unit_test(test_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
