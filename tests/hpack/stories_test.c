/* hpack-test-case (tests/hpack/vectors/hpack-test-case): one cmocka test per
 * story. A story with wire blocks (nghttp2, nghttp2-change-table-size,
 * go-hpack, python-hpack, swift-nio-hpack-plain-text) is decoded case by
 * case with one decoder, the table carried across cases and
 * header_table_size applied as the SETTINGS value acknowledged before the
 * case; every case must give exactly the listed headers. Every story
 * (raw-data included) is also encoded by zttp and decoded again, with the
 * same table size changes.
 *
 * Usage: stories_test STORIES (the file tests/hpack/stories.py writes).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hpack/hpack.h"
#include "stories.h"

static hs_file vectors;

static void expect_headers(const hs_story *st, size_t c,
                           const zttp_hpack_fields *got) {
  const hs_case *k = &st->cases[c];
  if (got->num_fields != k->num_headers) {
    fail_msg("%s case %s: %zu fields, want %zu", st->name, k->name,
             got->num_fields, k->num_headers);
  }
  for (size_t i = 0; i < k->num_headers; i++) {
    const zttp_header *g = &got->fields[i];
    const zttp_header *w = &k->headers[i];
    if (g->name_len != w->name_len ||
        memcmp(g->name, w->name, g->name_len) != 0 ||
        g->value_len != w->value_len ||
        memcmp(g->value, w->value, g->value_len) != 0) {
      fail_msg("%s case %s field %zu: got %.*s: %.*s, want %.*s: %.*s",
               st->name, k->name, i, (int)g->name_len, g->name,
               (int)g->value_len, g->value, (int)w->name_len, w->name,
               (int)w->value_len, w->value);
    }
  }
}

static void test_decode_story(void **state) {
  const hs_story *st = *state;
  zttp_hpack_decoder d;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
  for (size_t c = 0; c < st->num_cases; c++) {
    const hs_case *k = &st->cases[c];
    assert_non_null(k->wire);
    if (k->table_size >= 0) {
      d.settings_max = (size_t)k->table_size;
    }
    int32_t rv =
        zttp_hpack_decode(&d, &out, k->wire, k->wire_len, SIZE_MAX, SIZE_MAX);
    if (rv != 0) {
      fail_msg("%s case %s: %s", st->name, k->name, zttp_strerror(rv));
    }
    expect_headers(st, c, &out);
  }
  zttp_hpack_decoder_free(&d);
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

static void test_roundtrip_story(void **state) {
  const hs_story *st = *state;
  zttp_hpack_encoder e;
  zttp_hpack_decoder d;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), 4096), 0);
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
  size_t wire = 0;
  size_t plain = 0;
  for (size_t c = 0; c < st->num_cases; c++) {
    const hs_case *k = &st->cases[c];
    if (k->table_size >= 0) {
      zttp_hpack_encoder_set_peer_max(&e, (size_t)k->table_size);
      d.settings_max = (size_t)k->table_size;
    }
    size_t bound = zttp_hpack_encode_bound(&e, k->headers, k->num_headers);
    uint8_t *buf = malloc(bound);
    assert_non_null(buf);
    size_t len = zttp_hpack_encode(&e, buf, k->headers, k->num_headers);
    assert_true(len <= bound);
    int32_t rv = zttp_hpack_decode(&d, &out, buf, len, SIZE_MAX, SIZE_MAX);
    if (rv != 0) {
      fail_msg("%s case %s: %s", st->name, k->name, zttp_strerror(rv));
    }
    expect_headers(st, c, &out);
    assert_int_equal(d.table.num, e.table.num);
    assert_int_equal(d.table.size, e.table.size);
    wire += len;
    for (size_t i = 0; i < k->num_headers; i++) {
      plain += k->headers[i].name_len + k->headers[i].value_len;
    }
    free(buf);
  }
  /* The stories repeat most fields: the table must be doing its job. */
  if (st->num_cases > 5) {
    assert_true(wire * 2 < plain);
  }
  zttp_hpack_encoder_free(&e);
  zttp_hpack_decoder_free(&d);
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

int main(int argc, char **argv) {
  if (argc < 2 || hs_load(&vectors, argv[1]) != 0) {
    fprintf(stderr, "usage: %s STORIES\n", argv[0]);
    return 2;
  }
  struct CMUnitTest *tests =
      calloc(2 * vectors.num_stories, sizeof(struct CMUnitTest));
  char **names = calloc(2 * vectors.num_stories, sizeof(char *));
  size_t n = 0;
  size_t decoded = 0;
  for (size_t i = 0; i < vectors.num_stories; i++) {
    hs_story *st = &vectors.stories[i];
    if (strncmp(st->name, "rfc7541/", 8) == 0) {
      continue; /* hpack_test.c */
    }
    const char *kinds[2] = {"decode", "roundtrip"};
    for (int k = 0; k < 2; k++) {
      if (k == 0 && st->cases[0].wire == NULL) {
        continue; /* raw-data */
      }
      size_t len = strlen(st->name) + 16;
      names[n] = malloc(len);
      snprintf(names[n], len, "%s %s", kinds[k], st->name);
      tests[n].name = names[n];
      tests[n].test_func = k == 0 ? test_decode_story : test_roundtrip_story;
      tests[n].initial_state = st;
      decoded += k == 0;
      n++;
    }
  }
  /* 5 encoders and raw-data, 22 stories each. */
  if (decoded != 5 * 22 || n != 6 * 22 + 5 * 22) {
    fprintf(stderr, "unexpected vectors: %zu tests\n", n);
    return 2;
  }
  int rv = _cmocka_run_group_tests("hpack-stories", tests, n, NULL, NULL);
  for (size_t i = 0; i < n; i++) {
    free(names[i]);
  }
  free(names);
  free(tests);
  hs_free(&vectors);
  return rv;
}
