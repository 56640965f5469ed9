/* Failing allocator (STYLE.md) for HPACK: decoder and encoder init, and the
 * growth of the decoded fields while a whole story is encoded and decoded.
 * Allocation k fails, for every k until a run sees no failure: each run
 * must end fully successful (every field checked) or with ZTTP_ERR_NOMEM
 * from the call whose allocation failed, and nothing may leak.
 *
 * Usage: failalloc_test STORIES (the file tests/hpack/stories.py writes).
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
#include "hpack/hpack.h"
#include "stories.h"

static hs_file vectors;

static int32_t init_decoder(h_fa_run *run) {
  zttp_hpack_decoder d;
  int32_t rv = zttp_hpack_decoder_init(&d, &run->fa->alloc, 4096);
  if (rv == ZTTP_ERR_NOMEM) {
    assert_true(run->fa->injected);
    zttp_hpack_decoder_free(&d); /* a failed init frees nothing twice */
    return rv;
  }
  assert_int_equal(rv, 0);
  zttp_hpack_decoder_free(&d);
  return 0;
}

static int32_t init_encoder(h_fa_run *run) {
  zttp_hpack_encoder e;
  int32_t rv = zttp_hpack_encoder_init(&e, &run->fa->alloc, 4096);
  if (rv == ZTTP_ERR_NOMEM) {
    assert_true(run->fa->injected);
    zttp_hpack_encoder_free(&e);
    return rv;
  }
  assert_int_equal(rv, 0);
  zttp_hpack_encoder_free(&e);
  return 0;
}

/* The story in run->arg: encoded and decoded case by case. */
static int32_t story(h_fa_run *run) {
  const hs_story *st = run->arg;
  const zttp_mem *mem = &run->fa->alloc;
  zttp_hpack_encoder e;
  zttp_hpack_decoder d;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  int32_t rv = zttp_hpack_encoder_init(&e, mem, 4096);
  if (rv != 0) {
    assert_int_equal(rv, ZTTP_ERR_NOMEM);
    return rv;
  }
  rv = zttp_hpack_decoder_init(&d, mem, 4096);
  if (rv != 0) {
    assert_int_equal(rv, ZTTP_ERR_NOMEM);
    zttp_hpack_encoder_free(&e);
    return rv;
  }
  for (size_t c = 0; c < st->num_cases && rv == 0; c++) {
    const hs_case *k = &st->cases[c];
    size_t bound = zttp_hpack_encode_bound(&e, k->headers, k->num_headers);
    uint8_t *buf = malloc(bound); /* not the failing allocator's */
    size_t len = zttp_hpack_encode(&e, buf, k->headers, k->num_headers);
    long before = run->fa->count;
    rv = zttp_hpack_decode(&d, &out, buf, len, 1000, 1 << 20);
    free(buf);
    if (rv == ZTTP_ERR_NOMEM) {
      /* Only the allocation of this call failed. */
      assert_true(run->fa->injected);
      assert_true(run->fa->fail_at >= before);
      assert_int_equal(out.num_fields, 0);
      break;
    }
    assert_int_equal(rv, 0);
    assert_int_equal(out.num_fields, k->num_headers);
    for (size_t i = 0; i < k->num_headers; i++) {
      assert_int_equal(out.fields[i].name_len, k->headers[i].name_len);
      assert_memory_equal(out.fields[i].name, k->headers[i].name,
                          k->headers[i].name_len);
      assert_int_equal(out.fields[i].value_len, k->headers[i].value_len);
      assert_memory_equal(out.fields[i].value, k->headers[i].value,
                          k->headers[i].value_len);
    }
  }
  zttp_hpack_fields_free(&out, mem);
  zttp_hpack_decoder_free(&d);
  zttp_hpack_encoder_free(&e);
  return rv;
}

static void test_init_decoder(void **state) {
  (void)state;
  /* The byte ring and the entry ring. */
  assert_int_equal(h_fa_drive(init_decoder, NULL), 2);
}

static void test_init_encoder(void **state) {
  (void)state;
  /* The byte ring, the entry ring and the hash buckets. */
  assert_int_equal(h_fa_drive(init_encoder, NULL), 3);
}

static void test_stories(void **state) {
  (void)state;
  size_t runs = 0;
  for (size_t i = 0; i < vectors.num_stories; i++) {
    const hs_story *st = &vectors.stories[i];
    if (strncmp(st->name, "raw-data/", 9) != 0) {
      continue;
    }
    long allocs = h_fa_drive(story, (void *)(uintptr_t)st);
    /* 5 for the tables, then at least one for the fields and the bytes. */
    assert_true(allocs >= 7);
    runs++;
  }
  assert_int_equal(runs, 22);
}

int main(int argc, char **argv) {
  if (argc < 2 || hs_load(&vectors, argv[1]) != 0) {
    fprintf(stderr, "usage: %s STORIES\n", argv[0]);
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_decoder),
      cmocka_unit_test(test_init_encoder),
      cmocka_unit_test(test_stories),
  };
  int rv = cmocka_run_group_tests(tests, NULL, NULL);
  hs_free(&vectors);
  return rv;
}
