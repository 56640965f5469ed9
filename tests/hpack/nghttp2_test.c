/* Interoperability with Debian's libnghttp2 HPACK (nghttp2_hd_*), for every
 * raw-data story of hpack-test-case, case by case with one context:
 *  - zttp's encoder -> nghttp2_hd_inflate_hd2(): exactly the input fields,
 *    in order, never-indexed exactly where zttp's policy or the caller's
 *    flag says;
 *  - nghttp2_hd_deflate_hd() -> zttp's decoder: the same fields, with the
 *    never-indexed flag wherever nghttp2's own inflater reports it;
 *  - both again with SETTINGS_HEADER_TABLE_SIZE changing mid-story (down,
 *    up, to 0, two changes before one block), and with some fields flagged
 *    never-indexed by the caller.
 *
 * Usage: nghttp2_test STORIES (the file tests/hpack/stories.py writes).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "hpack/hpack.h"
#include "stories.h"

static hs_file vectors;

/* The table size changes of a run: before case c, the SETTINGS values in
 * sizes[c % 8] (0 to 2 of them; -1 ends). */
static const int64_t schedule[8][2] = {
    {-1, -1},  {1024, -1}, {-1, -1},    {0, 4096},
    {256, -1}, {8192, -1}, {100, 2048}, {4096, -1},
};

typedef struct run_opts {
  int resize;     /* apply |schedule| */
  int flag_every; /* flag every n-th field never-indexed (0: none) */
} run_opts;

/* The list of case |k| with the caller flags of |o|. */
static zttp_header *case_fields(const hs_case *k, const run_opts *o) {
  zttp_header *f = calloc(k->num_headers + 1, sizeof(*f));
  assert_non_null(f);
  memcpy(f, k->headers, k->num_headers * sizeof(*f));
  for (size_t i = 0; i < k->num_headers; i++) {
    if (o->flag_every != 0 && i % (size_t)o->flag_every == 1) {
      f[i].flags = ZTTP_HEADER_NEVER_INDEX;
    }
  }
  return f;
}

/* The never-indexed flag zttp's encoder gives |h|. */
static int zttp_never(const zttp_header *h) {
  return (h->flags & ZTTP_HEADER_NEVER_INDEX) != 0 ||
         (h->name_len == 13 && memcmp(h->name, "authorization", 13) == 0) ||
         (h->name_len == 19 &&
          memcmp(h->name, "proxy-authorization", 19) == 0) ||
         (h->name_len == 10 && memcmp(h->name, "set-cookie", 10) == 0) ||
         (h->name_len == 6 && memcmp(h->name, "cookie", 6) == 0 &&
          h->value_len < 20);
}

static void same_field(const char *story, size_t c, size_t i,
                       const uint8_t *name, size_t name_len,
                       const uint8_t *value, size_t value_len,
                       const zttp_header *want) {
  if (name_len != want->name_len || memcmp(name, want->name, name_len) != 0 ||
      value_len != want->value_len ||
      memcmp(value, want->value, value_len) != 0) {
    fail_msg("%s case %zu field %zu: got %.*s: %.*s, want %.*s: %.*s", story, c,
             i, (int)name_len, (const char *)name, (int)value_len,
             (const char *)value, (int)want->name_len, want->name,
             (int)want->value_len, want->value);
  }
}

/* Inflates one block with nghttp2 and checks it against |want|; if
 * |never| is not NULL, the NO_INDEX flag must equal it, else the flags
 * are stored there... (see callers). Returns the number of fields. */
static size_t ng_inflate(nghttp2_hd_inflater *inf, const char *story, size_t c,
                         const uint8_t *in, size_t len, const zttp_header *want,
                         size_t num_want, uint8_t *flags_out) {
  size_t n = 0;
  for (;;) {
    nghttp2_nv nv;
    int fl = 0;
    ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, len, 1);
    if (rv < 0) {
      fail_msg("%s case %zu: nghttp2_hd_inflate_hd2: %s", story, c,
               nghttp2_strerror((int)rv));
    }
    in += rv;
    len -= (size_t)rv;
    if (fl & NGHTTP2_HD_INFLATE_EMIT) {
      assert_true(n < num_want);
      same_field(story, c, n, nv.name, nv.namelen, nv.value, nv.valuelen,
                 &want[n]);
      flags_out[n] = nv.flags & NGHTTP2_NV_FLAG_NO_INDEX;
      n++;
    }
    if (fl & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(inf);
      break;
    }
    assert_true(rv > 0 || (fl & NGHTTP2_HD_INFLATE_EMIT));
  }
  assert_int_equal(n, num_want);
  return n;
}

/* zttp encodes, nghttp2 inflates. */
static void zttp_to_nghttp2(const hs_story *st, const run_opts *o) {
  zttp_hpack_encoder e;
  nghttp2_hd_inflater *inf;
  assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), 4096), 0);
  assert_int_equal(nghttp2_hd_inflate_new(&inf), 0);
  for (size_t c = 0; c < st->num_cases; c++) {
    const hs_case *k = &st->cases[c];
    for (int j = 0; o->resize && j < 2 && schedule[c % 8][j] >= 0; j++) {
      size_t sz = (size_t)schedule[c % 8][j];
      assert_int_equal(nghttp2_hd_inflate_change_table_size(inf, sz), 0);
      zttp_hpack_encoder_set_peer_max(&e, sz);
    }
    zttp_header *f = case_fields(k, o);
    size_t bound = zttp_hpack_encode_bound(&e, f, k->num_headers);
    uint8_t *buf = malloc(bound);
    size_t len = zttp_hpack_encode(&e, buf, f, k->num_headers);
    uint8_t *flags = calloc(k->num_headers + 1, 1);
    ng_inflate(inf, st->name, c, buf, len, f, k->num_headers, flags);
    for (size_t i = 0; i < k->num_headers; i++) {
      if ((flags[i] != 0) != zttp_never(&f[i])) {
        fail_msg("%s case %zu field %zu (%.*s): nghttp2 NO_INDEX %d", st->name,
                 c, i, (int)f[i].name_len, f[i].name, flags[i]);
      }
    }
    assert_int_equal(nghttp2_hd_inflate_get_num_table_entries(inf) -
                         61 /* nghttp2 counts the static table */,
                     e.table.num);
    assert_int_equal(nghttp2_hd_inflate_get_dynamic_table_size(inf),
                     e.table.size);
    free(flags);
    free(buf);
    free(f);
  }
  nghttp2_hd_inflate_del(inf);
  zttp_hpack_encoder_free(&e);
}

/* nghttp2 deflates; zttp and nghttp2 inflate the same block. */
static void nghttp2_to_zttp(const hs_story *st, const run_opts *o) {
  nghttp2_hd_deflater *def;
  nghttp2_hd_inflater *inf;
  zttp_hpack_decoder d;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  assert_int_equal(nghttp2_hd_deflate_new(&def, 4096), 0);
  assert_int_equal(nghttp2_hd_inflate_new(&inf), 0);
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 65536), 0);
  d.settings_max = 4096;
  size_t never = 0;
  for (size_t c = 0; c < st->num_cases; c++) {
    const hs_case *k = &st->cases[c];
    for (int j = 0; o->resize && j < 2 && schedule[c % 8][j] >= 0; j++) {
      size_t sz = (size_t)schedule[c % 8][j];
      assert_int_equal(nghttp2_hd_deflate_change_table_size(def, sz), 0);
      assert_int_equal(nghttp2_hd_inflate_change_table_size(inf, sz), 0);
      d.settings_max = sz;
    }
    zttp_header *f = case_fields(k, o);
    nghttp2_nv *nva = calloc(k->num_headers + 1, sizeof(*nva));
    for (size_t i = 0; i < k->num_headers; i++) {
      nva[i].name = (uint8_t *)(uintptr_t)f[i].name;
      nva[i].namelen = f[i].name_len;
      nva[i].value = (uint8_t *)(uintptr_t)f[i].value;
      nva[i].valuelen = f[i].value_len;
      nva[i].flags = (f[i].flags & ZTTP_HEADER_NEVER_INDEX)
                         ? NGHTTP2_NV_FLAG_NO_INDEX
                         : NGHTTP2_NV_FLAG_NONE;
    }
    size_t bound = nghttp2_hd_deflate_bound(def, nva, k->num_headers);
    uint8_t *buf = malloc(bound);
    ssize_t len = nghttp2_hd_deflate_hd(def, buf, bound, nva, k->num_headers);
    assert_true(len >= 0);
    int32_t rv =
        zttp_hpack_decode(&d, &out, buf, (size_t)len, SIZE_MAX, SIZE_MAX);
    if (rv != 0) {
      fail_msg("%s case %zu: zttp: %s", st->name, c, zttp_strerror(rv));
    }
    assert_int_equal(out.num_fields, k->num_headers);
    uint8_t *flags = calloc(k->num_headers + 1, 1);
    ng_inflate(inf, st->name, c, buf, (size_t)len, f, k->num_headers, flags);
    for (size_t i = 0; i < k->num_headers; i++) {
      const zttp_header *g = &out.fields[i];
      same_field(st->name, c, i, (const uint8_t *)g->name, g->name_len,
                 (const uint8_t *)g->value, g->value_len, &f[i]);
      if ((g->flags == ZTTP_HEADER_NEVER_INDEX) != (flags[i] != 0) ||
          (g->flags & ~ZTTP_HEADER_NEVER_INDEX) != 0) {
        fail_msg("%s case %zu field %zu: zttp flags %u, nghttp2 %u", st->name,
                 c, i, g->flags, flags[i]);
      }
      if ((f[i].flags & ZTTP_HEADER_NEVER_INDEX) != 0) {
        assert_int_equal(g->flags, ZTTP_HEADER_NEVER_INDEX);
      }
      never += g->flags != 0;
    }
    assert_int_equal(nghttp2_hd_inflate_get_num_table_entries(inf) - 61,
                     d.table.num);
    assert_int_equal(nghttp2_hd_inflate_get_dynamic_table_size(inf),
                     d.table.size);
    free(flags);
    free(buf);
    free(nva);
    free(f);
  }
  if (o->flag_every != 0) {
    assert_true(never > 0);
  }
  zttp_hpack_fields_free(&out, zttp_mem_default());
  zttp_hpack_decoder_free(&d);
  nghttp2_hd_inflate_del(inf);
  nghttp2_hd_deflate_del(def);
}

static void test_zttp_to_nghttp2(void **state) {
  const hs_story *st = *state;
  const run_opts plain = {0, 0};
  const run_opts resize = {1, 0};
  const run_opts flagged = {1, 5};
  zttp_to_nghttp2(st, &plain);
  zttp_to_nghttp2(st, &resize);
  zttp_to_nghttp2(st, &flagged);
}

static void test_nghttp2_to_zttp(void **state) {
  const hs_story *st = *state;
  const run_opts plain = {0, 0};
  const run_opts resize = {1, 0};
  const run_opts flagged = {1, 5};
  nghttp2_to_zttp(st, &plain);
  nghttp2_to_zttp(st, &resize);
  nghttp2_to_zttp(st, &flagged);
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
  for (size_t i = 0; i < vectors.num_stories; i++) {
    hs_story *st = &vectors.stories[i];
    if (strncmp(st->name, "raw-data/", 9) != 0) {
      continue;
    }
    for (int k = 0; k < 2; k++) {
      size_t len = strlen(st->name) + 32;
      names[n] = malloc(len);
      snprintf(names[n], len, "%s %s",
               k == 0 ? "zttp->nghttp2" : "nghttp2->zttp", st->name);
      tests[n].name = names[n];
      tests[n].test_func = k == 0 ? test_zttp_to_nghttp2 : test_nghttp2_to_zttp;
      tests[n].initial_state = st;
      n++;
    }
  }
  if (n != 2 * 22) {
    fprintf(stderr, "unexpected vectors: %zu tests\n", n);
    return 2;
  }
  int rv = _cmocka_run_group_tests("hpack-nghttp2", tests, n, NULL, NULL);
  for (size_t i = 0; i < n; i++) {
    free(names[i]);
  }
  free(names);
  free(tests);
  hs_free(&vectors);
  return rv;
}
