/* HPACK decoder and encoder (src/hpack): RFC 7541 Appendix C (C.1
 * integers, C.2-C.6 decoded with the dynamic table and its size checked
 * after each block, C.2.4 and C.4 encoded byte for byte), every malformed
 * block we can name, the limits (and the table staying in sync past them,
 * HPACK bomb included), the encoder's indexing policy byte for byte, its
 * table size updates (RFC 7541 §4.2), its bound, and encoder -> decoder
 * round trips over small tables that wrap their rings.
 *
 * Usage: hpack_test STORIES (the file tests/hpack/stories.py writes).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/huffman.h"
#include "hpack/hpack.h"
#include "hpack/int.h"
#include "hpack/table.h"
#include "stories.h"

static hs_file vectors;

/* ---- helpers ----------------------------------------------------------- */

static size_t unhex(uint8_t *dst, const char *hex) {
  size_t n = 0;
  for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
    if (hex[0] == ' ') {
      hex--;
      continue;
    }
    unsigned v;
    sscanf(hex, "%2x", &v);
    dst[n++] = (uint8_t)v;
  }
  return n;
}

static zttp_header hdr(const char *name, const char *value, uint32_t flags) {
  zttp_header h;
  memset(&h, 0, sizeof(h));
  h.name = name;
  h.name_len = strlen(name);
  h.value = value;
  h.value_len = strlen(value);
  h.flags = flags;
  return h;
}

static void expect_fields(const zttp_hpack_fields *got, const zttp_header *want,
                          size_t num, const uint32_t *flags) {
  assert_int_equal(got->num_fields, num);
  for (size_t i = 0; i < num; i++) {
    const zttp_header *g = &got->fields[i];
    if (g->name_len != want[i].name_len ||
        memcmp(g->name, want[i].name, g->name_len) != 0 ||
        g->value_len != want[i].value_len ||
        memcmp(g->value, want[i].value, g->value_len) != 0) {
      fail_msg("field %zu: got %.*s: %.*s, want %.*s: %.*s", i,
               (int)g->name_len, g->name, (int)g->value_len, g->value,
               (int)want[i].name_len, want[i].name, (int)want[i].value_len,
               want[i].value);
    }
    assert_int_equal(g->flags, flags != NULL ? flags[i] : 0);
    assert_int_equal(g->reserved, 0);
  }
}

/* The flags the encoder's policy gives |h| (zttp_hpack_encode()). */
static uint32_t policy_flags(const zttp_header *h) {
  int sensitive =
      (h->name_len == 13 && memcmp(h->name, "authorization", 13) == 0) ||
      (h->name_len == 19 && memcmp(h->name, "proxy-authorization", 19) == 0) ||
      (h->name_len == 10 && memcmp(h->name, "set-cookie", 10) == 0) ||
      (h->name_len == 6 && memcmp(h->name, "cookie", 6) == 0 &&
       h->value_len < 20);
  return sensitive ? ZTTP_HEADER_NEVER_INDEX : h->flags;
}

/* Asserts that |t| holds |want| (newest first) and has RFC size |size|. */
static void expect_table(const zttp_hpack_table *t, const zttp_header *want,
                         size_t num, size_t size) {
  assert_int_equal(t->num, num);
  assert_int_equal(t->size, size);
  for (size_t i = 0; i < num; i++) {
    const zttp_hpack_entry *e = &t->ents[zttp_hpack_table_slot(t, i)];
    uint8_t buf[8192];
    assert_true((size_t)e->name_len + e->value_len <= sizeof(buf));
    zttp_hpack_table_copy(t, buf, e->off, (size_t)e->name_len + e->value_len);
    assert_int_equal(e->name_len, want[i].name_len);
    assert_int_equal(e->value_len, want[i].value_len);
    assert_memory_equal(buf, want[i].name, want[i].name_len);
    assert_memory_equal(buf + e->name_len, want[i].value, want[i].value_len);
  }
}

/* Asserts that two tables hold the same entries. */
static void expect_same_tables(const zttp_hpack_table *a,
                               const zttp_hpack_table *b) {
  assert_int_equal(a->num, b->num);
  assert_int_equal(a->size, b->size);
  for (size_t i = 0; i < a->num; i++) {
    const zttp_hpack_entry *ea = &a->ents[zttp_hpack_table_slot(a, i)];
    const zttp_hpack_entry *eb = &b->ents[zttp_hpack_table_slot(b, i)];
    size_t n = (size_t)ea->name_len + ea->value_len;
    assert_int_equal(ea->name_len, eb->name_len);
    assert_int_equal(ea->value_len, eb->value_len);
    uint8_t *x = malloc(n + 1);
    uint8_t *y = malloc(n + 1);
    zttp_hpack_table_copy(a, x, ea->off, n);
    zttp_hpack_table_copy(b, y, eb->off, n);
    assert_memory_equal(x, y, n);
    free(x);
    free(y);
  }
}

static int32_t decode_hex(zttp_hpack_decoder *d, zttp_hpack_fields *out,
                          const char *hex, size_t max_fields, size_t max_list) {
  uint8_t *buf = malloc(strlen(hex) / 2 + 1);
  size_t n = unhex(buf, hex);
  int32_t rv = zttp_hpack_decode(d, out, buf, n, max_fields, max_list);
  free(buf);
  return rv;
}

/* Encodes and returns the block (malloc'd) checking the bound. */
static uint8_t *encode(zttp_hpack_encoder *e, const zttp_header *f, size_t n,
                       size_t *len) {
  size_t bound = zttp_hpack_encode_bound(e, f, n);
  uint8_t *buf = malloc(bound + 16);
  memset(buf, 0xa5, bound + 16);
  *len = zttp_hpack_encode(e, buf, f, n);
  assert_true(*len <= bound);
  for (size_t i = *len; i < bound + 16; i++) {
    assert_int_equal(buf[i], 0xa5);
  }
  return buf;
}

static void expect_encode(zttp_hpack_encoder *e, const zttp_header *f, size_t n,
                          const uint8_t *want, size_t want_len) {
  size_t len;
  uint8_t *got = encode(e, f, n, &len);
  if (len != want_len || memcmp(got, want, len) != 0) {
    char gh[512] = "";
    char wh[512] = "";
    for (size_t i = 0; i < len && i < 200; i++) {
      snprintf(gh + 2 * i, 3, "%02x", got[i]);
    }
    for (size_t i = 0; i < want_len && i < 200; i++) {
      snprintf(wh + 2 * i, 3, "%02x", want[i]);
    }
    fail_msg("encoded %s\n    want %s", gh, wh);
  }
  free(got);
}

static void expect_encode_hex(zttp_hpack_encoder *e, const zttp_header *f,
                              size_t n, const char *hex) {
  uint8_t want[512];
  size_t wl = unhex(want, hex);
  expect_encode(e, f, n, want, wl);
}

/* An expected block, built from pieces: integers and strings (Huffman when
 * shorter, as RFC 7541 §5.2 allows and the encoder promises). */
typedef struct exp_buf {
  uint8_t b[32768];
  size_t n;
} exp_buf;

static void x_int(exp_buf *x, uint8_t first, unsigned prefix, uint64_t v) {
  uint8_t *o = zttp_hpack_int_put(x->b + x->n, first, prefix, v);
  x->n = (size_t)(o - x->b);
}

static void x_str(exp_buf *x, const char *s) {
  size_t n = strlen(s);
  size_t hn = zttp_huffman_encoded_len((const uint8_t *)s, n);
  if (hn < n) {
    x_int(x, 0x80, 7, hn);
    x->n += zttp_huffman_encode(x->b + x->n, (const uint8_t *)s, n);
  } else {
    x_int(x, 0, 7, n);
    memcpy(x->b + x->n, s, n);
    x->n += n;
  }
}

static void x_raw(exp_buf *x, const char *hex) {
  x->n += unhex(x->b + x->n, hex);
}

/* ---- C.1: integers ----------------------------------------------------- */

static void test_c1_integers(void **state) {
  (void)state;
  assert_int_equal(vectors.num_ints, 3);
  for (size_t i = 0; i < vectors.num_ints; i++) {
    const hs_int *x = &vectors.ints[i];
    uint8_t buf[16];
    uint8_t *end = zttp_hpack_int_put(buf, 0, x->prefix, x->value);
    assert_int_equal((size_t)(end - buf), x->wire_len);
    assert_memory_equal(buf, x->wire, x->wire_len);
    const uint8_t *p = x->wire;
    uint32_t v = 0;
    assert_int_equal(
        zttp_hpack_int_read(&p, x->wire + x->wire_len, x->prefix, &v), 1);
    assert_int_equal(v, x->value);
    assert_ptr_equal(p, x->wire + x->wire_len);
  }
}

static int read_hex_int(const char *hex, unsigned prefix, uint32_t *v,
                        size_t *used) {
  uint8_t buf[32];
  size_t n = unhex(buf, hex);
  const uint8_t *p = buf;
  int ok = zttp_hpack_int_read(&p, buf + n, prefix, v);
  *used = (size_t)(p - buf);
  return ok;
}

/* RFC 7541 §5.1 edges: the largest value, one past it, too many
 * continuation bytes, truncation (never advancing on failure). */
static void test_int_limits(void **state) {
  (void)state;
  uint32_t v;
  size_t used;
  assert_int_equal(read_hex_int("1e", 5, &v, &used), 1);
  assert_int_equal(v, 30);
  assert_int_equal(used, 1);
  assert_int_equal(read_hex_int("1f00", 5, &v, &used), 1);
  assert_int_equal(v, 31);
  assert_int_equal(used, 2);
  /* Redundant zero groups: five continuation bytes are accepted. */
  assert_int_equal(read_hex_int("1f8080808000", 5, &v, &used), 1);
  assert_int_equal(v, 31);
  assert_int_equal(used, 6);
  assert_int_equal(read_hex_int("1f808080808000", 5, &v, &used), 0);
  assert_int_equal(used, 0);
  /* 2^32 - 1 and 2^32 with a 5-bit prefix. */
  uint8_t buf[16];
  uint8_t *e = zttp_hpack_int_put(buf, 0, 5, UINT32_MAX);
  const uint8_t *p = buf;
  assert_int_equal(zttp_hpack_int_read(&p, e, 5, &v), 1);
  assert_int_equal(v, UINT32_MAX);
  assert_ptr_equal(p, e);
  e = zttp_hpack_int_put(buf, 0, 5, (uint64_t)UINT32_MAX + 1);
  p = buf;
  assert_int_equal(zttp_hpack_int_read(&p, e, 5, &v), 0);
  assert_ptr_equal(p, buf);
  assert_int_equal(read_hex_int("ffffffffff0f", 7, &v, &used), 0);
  /* Truncated. */
  assert_int_equal(read_hex_int("1f", 5, &v, &used), 0);
  assert_int_equal(read_hex_int("1f80", 5, &v, &used), 0);
  assert_int_equal(read_hex_int("ff9a", 8, &v, &used), 0);
  /* Every 8-bit-prefix value round trips; the bytes past the prefix bits
   * are kept by put and ignored by read. */
  for (uint64_t x = 0; x < 70000; x += 7) {
    for (unsigned pb = 1; pb <= 8; pb++) {
      uint8_t first = (uint8_t)(pb == 8 ? 0 : 0xff << pb);
      e = zttp_hpack_int_put(buf, first, pb, x);
      assert_int_equal(buf[0] & first, first);
      p = buf;
      assert_int_equal(zttp_hpack_int_read(&p, e, pb, &v), 1);
      assert_int_equal(v, x);
      assert_ptr_equal(p, e);
    }
  }
}

/* ---- C.2 - C.6: decoding ----------------------------------------------- */

static void test_rfc_decode(void **state) {
  (void)state;
  size_t stories = 0;
  size_t cases = 0;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  for (size_t s = 0; s < vectors.num_stories; s++) {
    const hs_story *st = &vectors.stories[s];
    if (strncmp(st->name, "rfc7541/", 8) != 0) {
      continue;
    }
    stories++;
    zttp_hpack_decoder d;
    assert_int_equal(
        zttp_hpack_decoder_init(&d, zttp_mem_default(), st->max_table_size), 0);
    for (size_t c = 0; c < st->num_cases; c++) {
      const hs_case *k = &st->cases[c];
      cases++;
      assert_int_equal(
          zttp_hpack_decode(&d, &out, k->wire, k->wire_len, SIZE_MAX, SIZE_MAX),
          0);
      uint32_t flags[16] = {0};
      assert_true(k->num_headers <= 16);
      if (strcmp(k->name, "C.2.3") == 0) {
        flags[0] = ZTTP_HEADER_NEVER_INDEX; /* §6.2.3 */
      }
      expect_fields(&out, k->headers, k->num_headers, flags);
      expect_table(&d.table, k->table, (size_t)k->num_table,
                   (size_t)k->table_size_after);
    }
    zttp_hpack_decoder_free(&d);
  }
  assert_int_equal(stories, 8); /* C.2.1-4, C.3, C.4, C.5, C.6 */
  assert_int_equal(cases, 16);
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

/* ---- C.2.4, C.3, C.4: encoding ------------------------------------------ */

static void test_rfc_encode(void **state) {
  (void)state;
  zttp_hpack_encoder e;
  zttp_header m = hdr(":method", "GET", 0);
  assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), 4096), 0);
  expect_encode_hex(&e, &m, 1, "82"); /* C.2.4 */
  zttp_hpack_encoder_free(&e);

  /* C.4: our choices are the RFC's (Huffman when shorter, :authority and
   * cache-control inserted, custom-key literal), byte for byte; C.3 is the
   * same list without Huffman, so only its tables are compared. */
  const hs_story *c4 = hs_find(&vectors, "rfc7541/C.4");
  const hs_story *c3 = hs_find(&vectors, "rfc7541/C.3");
  assert_non_null(c4);
  assert_non_null(c3);
  assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), 4096), 0);
  for (size_t c = 0; c < c4->num_cases; c++) {
    const hs_case *k = &c4->cases[c];
    expect_encode(&e, k->headers, k->num_headers, k->wire, k->wire_len);
    expect_table(&e.table, k->table, (size_t)k->num_table,
                 (size_t)k->table_size_after);
    const hs_case *k3 = &c3->cases[c];
    expect_table(&e.table, k3->table, (size_t)k3->num_table,
                 (size_t)k3->table_size_after);
  }
  zttp_hpack_encoder_free(&e);
}

/* C.5 and C.6 (responses, 256-byte table): our policy differs from the
 * RFC's (date and location are not indexed), so they round trip through a
 * decoder instead, with the encoder's and decoder's tables compared. */
static void test_rfc_responses_roundtrip(void **state) {
  (void)state;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  const char *names[] = {"rfc7541/C.5", "rfc7541/C.6"};
  for (size_t s = 0; s < 2; s++) {
    const hs_story *st = hs_find(&vectors, names[s]);
    assert_non_null(st);
    zttp_hpack_encoder e;
    zttp_hpack_decoder d;
    assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), 256), 0);
    assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
    for (size_t c = 0; c < st->num_cases; c++) {
      const hs_case *k = &st->cases[c];
      size_t len;
      uint8_t *blk = encode(&e, k->headers, k->num_headers, &len);
      if (c == 0) {
        /* The 256-byte cap is announced first: 3f e1 01. */
        assert_int_equal(blk[0], 0x3f);
        assert_int_equal(blk[1], 0xe1);
        assert_int_equal(blk[2], 0x01);
      }
      assert_int_equal(
          zttp_hpack_decode(&d, &out, blk, len, SIZE_MAX, SIZE_MAX), 0);
      uint32_t flags[16];
      for (size_t i = 0; i < k->num_headers; i++) {
        flags[i] = policy_flags(&k->headers[i]);
      }
      expect_fields(&out, k->headers, k->num_headers, flags);
      expect_same_tables(&e.table, &d.table);
      assert_int_equal(d.table.max_size, 256);
      free(blk);
    }
    zttp_hpack_encoder_free(&e);
    zttp_hpack_decoder_free(&d);
  }
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

/* ---- malformed blocks -------------------------------------------------- */

typedef struct reject_case {
  const char *what;
  const char *hex;
  int32_t want;
} reject_case;

static const reject_case rejects[] = {
    {"index 0", "80", ZTTP_ERR_COMPRESSION},
    {"index 0 after a field", "8280", ZTTP_ERR_COMPRESSION},
    {"index 62, empty table", "be", ZTTP_ERR_COMPRESSION},
    {"index 2^32-1", "ff80ffffff0f", ZTTP_ERR_COMPRESSION},
    {"index over 2^32-1", "ffffffffff0f", ZTTP_ERR_COMPRESSION},
    {"index, 6 continuation bytes", "ff808080808000", ZTTP_ERR_COMPRESSION},
    {"truncated index", "ff", ZTTP_ERR_COMPRESSION},
    {"truncated index continuation", "ff80", ZTTP_ERR_COMPRESSION},
    {"literal name index 62, empty table", "7e0161", ZTTP_ERR_COMPRESSION},
    {"never-indexed name index 62", "1f2f0161", ZTTP_ERR_COMPRESSION},
    {"literal without name", "40", ZTTP_ERR_COMPRESSION},
    {"truncated name", "40056162", ZTTP_ERR_COMPRESSION},
    {"missing value", "400161", ZTTP_ERR_COMPRESSION},
    {"truncated value", "40016105616263", ZTTP_ERR_COMPRESSION},
    {"truncated value, indexed name", "0405616263", ZTTP_ERR_COMPRESSION},
    {"name length over 2^32-1", "407fffffffff0f", ZTTP_ERR_COMPRESSION},
    {"value length past the input", "04ff80ffffff07", ZTTP_ERR_COMPRESSION},
    {"truncated literal index", "0f", ZTTP_ERR_COMPRESSION},
    {"Huffman padding of 0s", "048100", ZTTP_ERR_COMPRESSION},
    {"Huffman padding over 7 bits", "048207ff", ZTTP_ERR_COMPRESSION},
    {"Huffman padding: a whole byte", "0481ff", ZTTP_ERR_COMPRESSION},
    {"Huffman EOS", "0484ffffffff", ZTTP_ERR_COMPRESSION},
    {"Huffman EOS after a symbol", "04851fffffffff", ZTTP_ERR_COMPRESSION},
    {"Huffman name padding", "40811e0161", ZTTP_ERR_COMPRESSION},
    {"size update above the maximum", "3fe21f", ZTTP_ERR_COMPRESSION},
    {"size update near 2^32", "3fe0ffffff0f", ZTTP_ERR_COMPRESSION},
    {"size update after a field", "8220", ZTTP_ERR_COMPRESSION},
    {"size update after a literal", "04003fe11f", ZTTP_ERR_COMPRESSION},
    {"truncated size update", "3f", ZTTP_ERR_COMPRESSION},
    {"fields then index past the table", "4001610162bf", ZTTP_ERR_COMPRESSION},
};

static void test_reject(void **state) {
  (void)state;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
    zttp_hpack_decoder d;
    assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
    int32_t rv = decode_hex(&d, &out, rejects[i].hex, 100, 65536);
    if (rv != rejects[i].want) {
      fail_msg("%s (%s): got %d, want %d", rejects[i].what, rejects[i].hex, rv,
               rejects[i].want);
    }
    assert_int_equal(out.num_fields, 0);
    zttp_hpack_decoder_free(&d);
  }
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

/* Blocks that look odd but are valid. */
static void test_accept_edges(void **state) {
  (void)state;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  zttp_hpack_decoder d;
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
  /* Empty block. */
  assert_int_equal(decode_hex(&d, &out, "", 100, 65536), 0);
  assert_int_equal(out.num_fields, 0);
  /* Empty name and value, never-indexed; Huffman-coded empty string. */
  assert_int_equal(decode_hex(&d, &out, "100000", 100, 65536), 0);
  zttp_header want[2] = {hdr("", "", 0), hdr("", "", 0)};
  uint32_t fl[2] = {ZTTP_HEADER_NEVER_INDEX, 0};
  expect_fields(&out, want, 1, fl);
  assert_int_equal(decode_hex(&d, &out, "108080", 100, 65536), 0);
  expect_fields(&out, want, 1, fl);
  /* Index 61, the last static entry. */
  assert_int_equal(decode_hex(&d, &out, "bd", 100, 65536), 0);
  want[0] = hdr("www-authenticate", "", 0);
  expect_fields(&out, want, 1, NULL);
  /* Two size updates (0 then 4096) then a field; an entry with an empty
   * name and value has size 32. */
  assert_int_equal(decode_hex(&d, &out, "203fe11f400000be", 100, 65536), 0);
  want[0] = hdr("", "", 0);
  want[1] = hdr("", "", 0);
  expect_fields(&out, want, 2, NULL);
  expect_table(&d.table, want, 1, 32);
  /* An entry larger than the table empties it (RFC 7541 §4.4). */
  char big[5000];
  memset(big, 'v', sizeof(big));
  exp_buf x = {{0}, 0};
  x_raw(&x, "40");
  x_str(&x, "n");
  x_int(&x, 0, 7, 4070);
  memcpy(x.b + x.n, big, 4070);
  x.n += 4070;
  assert_int_equal(zttp_hpack_decode(&d, &out, x.b, x.n, 100, 65536), 0);
  assert_int_equal(d.table.num, 0);
  assert_int_equal(d.table.size, 0);
  /* Exactly 4096 fits. */
  x.n = 0;
  x_raw(&x, "40");
  x_str(&x, "n");
  x_int(&x, 0, 7, 4063);
  memcpy(x.b + x.n, big, 4063);
  x.n += 4063;
  assert_int_equal(zttp_hpack_decode(&d, &out, x.b, x.n, 100, 65536), 0);
  assert_int_equal(d.table.num, 1);
  assert_int_equal(d.table.size, 4096);
  zttp_hpack_decoder_free(&d);
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

/* RFC 7541 §4.2: after SETTINGS lowered the size, the next block must start
 * with a size update within it; none may exceed it (nor the capacity). */
static void test_size_update_rules(void **state) {
  (void)state;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  zttp_hpack_decoder d;
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
  assert_int_equal(d.table.max_size, 4096);
  assert_int_equal(decode_hex(&d, &out, "4001610162", 100, 65536), 0);
  d.settings_max = 100;
  assert_int_equal(decode_hex(&d, &out, "82", 100, 65536),
                   ZTTP_ERR_COMPRESSION);
  assert_int_equal(decode_hex(&d, &out, "3f4682", 100, 65536),
                   ZTTP_ERR_COMPRESSION);                            /* 101 */
  assert_int_equal(decode_hex(&d, &out, "3f4582be", 100, 65536), 0); /* 100 */
  assert_int_equal(d.table.max_size, 100);
  assert_int_equal(d.table.num, 1);
  /* Raising SETTINGS needs no update; an update up to it is fine. */
  d.settings_max = 4096;
  assert_int_equal(decode_hex(&d, &out, "be", 100, 65536), 0);
  assert_int_equal(decode_hex(&d, &out, "3fe11fbe", 100, 65536), 0);
  assert_int_equal(d.table.max_size, 4096);
  /* Shrinking to 0 evicts everything. */
  assert_int_equal(decode_hex(&d, &out, "20be", 100, 65536),
                   ZTTP_ERR_COMPRESSION);
  zttp_hpack_decoder_free(&d);

  /* settings_max above the preallocated capacity: the capacity rules. */
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 1024), 0);
  assert_int_equal(d.table.max_size, 1024);
  d.settings_max = 8192;
  assert_int_equal(decode_hex(&d, &out, "3fe10f", 100, 65536),
                   ZTTP_ERR_COMPRESSION);                          /* 2048 */
  assert_int_equal(decode_hex(&d, &out, "3fe107", 100, 65536), 0); /* 1024 */
  zttp_hpack_decoder_free(&d);

  /* A zero-capacity decoder: only size 0. */
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 0), 0);
  assert_int_equal(decode_hex(&d, &out, "2082", 100, 65536), 0);
  assert_int_equal(decode_hex(&d, &out, "2182", 100, 65536),
                   ZTTP_ERR_COMPRESSION);
  assert_int_equal(decode_hex(&d, &out, "4001610162", 100, 65536), 0);
  assert_int_equal(d.table.num, 0);
  zttp_hpack_decoder_free(&d);
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

/* Every prefix of a valid block decodes or fails with COMPRESSION. */
static void test_truncations(void **state) {
  (void)state;
  const hs_story *c4 = hs_find(&vectors, "rfc7541/C.4");
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  size_t ok = 0;
  for (size_t c = 0; c < c4->num_cases; c++) {
    const hs_case *k = &c4->cases[c];
    for (size_t n = 0; n <= k->wire_len; n++) {
      zttp_hpack_decoder d;
      assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096),
                       0);
      for (size_t p = 0; p < c; p++) {
        assert_int_equal(zttp_hpack_decode(&d, &out, c4->cases[p].wire,
                                           c4->cases[p].wire_len, 100, 65536),
                         0);
      }
      uint8_t *copy = malloc(n + 1);
      memcpy(copy, k->wire, n);
      int32_t rv = zttp_hpack_decode(&d, &out, copy, n, 100, 65536);
      free(copy);
      assert_true(rv == 0 || rv == ZTTP_ERR_COMPRESSION);
      ok += rv == 0;
      zttp_hpack_decoder_free(&d);
    }
  }
  /* The prefixes ending between fields: 0..4 fields of C.4.1 (5), 0..5 of
   * C.4.2 (6) and of C.4.3 (6). */
  assert_int_equal(ok, 17);
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

/* ---- limits ------------------------------------------------------------ */

static void test_limits(void **state) {
  (void)state;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  zttp_hpack_decoder d;
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
  /* :method GET (42), :scheme http (43), :path / (38): 123 in all. */
  assert_int_equal(decode_hex(&d, &out, "828684", 3, 123), 0);
  assert_int_equal(out.num_fields, 3);
  assert_int_equal(decode_hex(&d, &out, "828684", 2, 123),
                   ZTTP_ERR_LIMIT_HEADERS);
  assert_int_equal(out.num_fields, 0);
  assert_int_equal(decode_hex(&d, &out, "828684", 3, 122),
                   ZTTP_ERR_LIMIT_HEADER_BYTES);
  assert_int_equal(decode_hex(&d, &out, "828684", 0, 1000),
                   ZTTP_ERR_LIMIT_HEADERS);
  /* The first limit hit is the one reported. */
  assert_int_equal(decode_hex(&d, &out, "828684", 1, 50),
                   ZTTP_ERR_LIMIT_HEADERS);
  assert_int_equal(decode_hex(&d, &out, "828684", 2, 50),
                   ZTTP_ERR_LIMIT_HEADER_BYTES);
  /* Past a limit, literals with indexing still enter the table, and a
   * malformed rest is still a COMPRESSION error. */
  assert_int_equal(decode_hex(&d, &out,
                              "82 4003616161 0161 4003626262 0162 "
                              "4003636363 0163",
                              1, 1000),
                   ZTTP_ERR_LIMIT_HEADERS);
  assert_int_equal(d.table.num, 3);
  assert_int_equal(decode_hex(&d, &out, "82 be", 1, 1000),
                   ZTTP_ERR_LIMIT_HEADERS);
  assert_int_equal(decode_hex(&d, &out, "82 80", 1, 1000),
                   ZTTP_ERR_COMPRESSION);
  /* In sync: the three entries are there, newest first. */
  assert_int_equal(decode_hex(&d, &out, "be bf c0", 10, 1000), 0);
  zttp_header want[3] = {hdr("ccc", "c", 0), hdr("bbb", "b", 0),
                         hdr("aaa", "a", 0)};
  expect_fields(&out, want, 3, NULL);
  zttp_hpack_decoder_free(&d);
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

/* The HPACK bomb: one 2037-byte entry referenced 20000 times in a block
 * of 20 KB. The decoder stops storing at the list limit, returns
 * LIMIT_HEADER_BYTES after processing the whole block (a field inserted
 * after the references is in the table) and its output stays bounded. */
static void test_hpack_bomb(void **state) {
  (void)state;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  zttp_hpack_decoder d;
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
  static char v[2000];
  memset(v, 'b', sizeof(v) - 1);
  exp_buf *x = calloc(1, sizeof(exp_buf));
  x_raw(x, "40");
  x_str(x, "x-bomb");
  x_str(x, v);
  assert_int_equal(zttp_hpack_decode(&d, &out, x->b, x->n, 100, 65536), 0);
  assert_int_equal(d.table.num, 1);
  x->n = 0;
  for (int i = 0; i < 20000; i++) {
    x->b[x->n++] = 0xbe;
  }
  x_raw(x, "40");
  x_str(x, "x-after");
  x_str(x, "1");
  size_t list_max = 16384;
  assert_int_equal(zttp_hpack_decode(&d, &out, x->b, x->n, 100000, list_max),
                   ZTTP_ERR_LIMIT_HEADER_BYTES);
  assert_int_equal(out.num_fields, 0);
  /* Stored at most up to the limit (8 copies of 2005 bytes). */
  assert_true(out.cap_bytes <= 2 * list_max);
  assert_int_equal(d.table.num, 2);
  /* The table is in sync: the next block sees both entries. */
  assert_int_equal(decode_hex(&d, &out, "bebf", 10, 65536), 0);
  assert_int_equal(out.num_fields, 2);
  assert_int_equal(out.fields[0].name_len, 7);
  assert_memory_equal(out.fields[0].name, "x-after", 7);
  assert_memory_equal(out.fields[0].value, "1", 1);
  assert_int_equal(out.fields[1].value_len, 1999);
  assert_memory_equal(out.fields[1].value, v, 1999);
  /* Too many fields, same story. */
  assert_int_equal(zttp_hpack_decode(&d, &out, x->b, x->n, 100, SIZE_MAX),
                   ZTTP_ERR_LIMIT_HEADERS);
  assert_int_equal(d.table.num, 3);
  free(x);
  zttp_hpack_decoder_free(&d);
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

/* Decoding the same blocks again reuses the output arrays. */
static void test_steady_state(void **state) {
  (void)state;
  const hs_story *st = hs_find(&vectors, "nghttp2/story_19");
  assert_non_null(st);
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  for (int round = 0; round < 2; round++) {
    zttp_hpack_decoder d;
    assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
    const void *fields = out.fields;
    const void *bytes = out.bytes;
    for (size_t c = 0; c < st->num_cases; c++) {
      assert_int_equal(zttp_hpack_decode(&d, &out, st->cases[c].wire,
                                         st->cases[c].wire_len, 1000, 1 << 20),
                       0);
    }
    if (round == 1) {
      assert_ptr_equal(out.fields, fields);
      assert_ptr_equal(out.bytes, bytes);
    }
    zttp_hpack_decoder_free(&d);
  }
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

/* ---- encoder ----------------------------------------------------------- */

static void test_encode_policy(void **state) {
  (void)state;
  zttp_hpack_encoder e;
  assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), 4096), 0);
  exp_buf *x = malloc(sizeof(*x));
  zttp_header f;

#define ENC_CASE(field, build)                                                 \
  do {                                                                         \
    f = field;                                                                 \
    x->n = 0;                                                                  \
    build;                                                                     \
    expect_encode(&e, &f, 1, x->b, x->n);                                      \
  } while (0)

  /* Static exact matches. */
  ENC_CASE(hdr(":method", "GET", 0), x_raw(x, "82"));
  ENC_CASE(hdr(":status", "200", 0), x_raw(x, "88"));
  ENC_CASE(hdr("accept-encoding", "gzip, deflate", 0), x_raw(x, "90"));
  ENC_CASE(hdr(":path", "/", 0), x_raw(x, "84"));
  /* Static name, inserted: literal with indexing, name index. */
  ENC_CASE(hdr(":status", "302", 0), (x_raw(x, "48"), x_str(x, "302")));
  ENC_CASE(hdr(":authority", "example.com", 0),
           (x_raw(x, "41"), x_str(x, "example.com")));
  /* ... and now an exact dynamic match (newest is 62). */
  ENC_CASE(hdr(":authority", "example.com", 0), x_raw(x, "be"));
  ENC_CASE(hdr(":status", "302", 0), x_raw(x, "bf"));
  /* Never-indexed by policy: authorization, proxy-authorization,
   * set-cookie, cookie under 20 bytes. */
  ENC_CASE(hdr("authorization", "Basic xyz", 0),
           (x_raw(x, "1f08"), x_str(x, "Basic xyz")));
  ENC_CASE(hdr("proxy-authorization", "p", 0),
           (x_raw(x, "1f22"), x_str(x, "p")));
  ENC_CASE(hdr("set-cookie", "id=a3fWa; Expires=Wed, 21 Oct 2015", 0),
           (x_raw(x, "1f28"), x_str(x, "id=a3fWa; Expires=Wed, 21 Oct 2015")));
  ENC_CASE(hdr("cookie", "a=b", 0), (x_raw(x, "1f11"), x_str(x, "a=b")));
  /* A long cookie is inserted, then found. */
  ENC_CASE(hdr("cookie", "session=0123456789abcdef", 0),
           (x_raw(x, "60"), x_str(x, "session=0123456789abcdef")));
  ENC_CASE(hdr("cookie", "session=0123456789abcdef", 0), x_raw(x, "be"));
  /* Even an exact static match is a never-indexed literal when the caller
   * flags it. */
  ENC_CASE(hdr(":method", "GET", ZTTP_HEADER_NEVER_INDEX),
           (x_raw(x, "12"), x_str(x, "GET")));
  ENC_CASE(hdr("x-secret", "v", ZTTP_HEADER_NEVER_INDEX),
           (x_raw(x, "10"), x_str(x, "x-secret"), x_str(x, "v")));
  /* Literals without indexing. */
  ENC_CASE(hdr(":path", "/index.html?x=1", 0),
           (x_raw(x, "04"), x_str(x, "/index.html?x=1")));
  ENC_CASE(hdr("content-length", "1234", 0),
           (x_raw(x, "0f0d"), x_str(x, "1234")));
  ENC_CASE(hdr("etag", "\"abc\"", 0), (x_raw(x, "0f13"), x_str(x, "\"abc\"")));
  ENC_CASE(hdr("if-modified-since", "Mon, 21 Oct 2013 20:13:21 GMT", 0),
           (x_raw(x, "0f19"), x_str(x, "Mon, 21 Oct 2013 20:13:21 GMT")));
  ENC_CASE(hdr("if-none-match", "\"x\"", 0),
           (x_raw(x, "0f1a"), x_str(x, "\"x\"")));
  ENC_CASE(hdr("location", "/a", 0), (x_raw(x, "0f1f"), x_str(x, "/a")));
  ENC_CASE(hdr("age", "10", 0), (x_raw(x, "0f06"), x_str(x, "10")));
  ENC_CASE(hdr("date", "Mon, 21 Oct 2013 20:13:21 GMT", 0),
           (x_raw(x, "0f12"), x_str(x, "Mon, 21 Oct 2013 20:13:21 GMT")));
  ENC_CASE(hdr("last-modified", "Mon, 21 Oct 2013 20:13:21 GMT", 0),
           (x_raw(x, "0f1d"), x_str(x, "Mon, 21 Oct 2013 20:13:21 GMT")));
  /* A new name: literal with indexing, literal name; then exact; then a
   * new value with the dynamic name; then the older one at 63. */
  ENC_CASE(hdr("x-custom", "v1", 0),
           (x_raw(x, "40"), x_str(x, "x-custom"), x_str(x, "v1")));
  ENC_CASE(hdr("x-custom", "v1", 0), x_raw(x, "be"));
  ENC_CASE(hdr("x-custom", "v2", 0), (x_raw(x, "7e"), x_str(x, "v2")));
  ENC_CASE(hdr("x-custom", "v1", 0), x_raw(x, "bf"));
  /* An entry over 3/4 of the table is not inserted. */
  static char big[3100];
  memset(big, 'q', sizeof(big) - 1);
  size_t before = e.table.num;
  ENC_CASE(hdr("x-big", big, 0),
           (x_raw(x, "00"), x_str(x, "x-big"), x_str(x, big)));
  assert_int_equal(e.table.num, before);
  /* Exactly 3/4 (3072) is. */
  big[3072 - 32 - 5] = '\0';
  ENC_CASE(hdr("x-big", big, 0),
           (x_raw(x, "40"), x_str(x, "x-big"), x_str(x, big)));
  /* With x-custom v2 and v1 (42 each), the cookie (62), :authority (53)
   * and :status (42). */
  assert_int_equal(e.table.num, 6);
  assert_int_equal(e.table.size, 3072 + 42 + 42 + 62 + 53 + 42);
#undef ENC_CASE

  /* Every block decodes to its fields with the right flags. */
  zttp_hpack_decoder d;
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
  zttp_hpack_encoder_free(&e);
  assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), 4096), 0);
  zttp_header list[] = {
      hdr(":method", "GET", 0),
      hdr(":path", "/x", 0),
      hdr("authorization", "a", 0),
      hdr("cookie", "short", 0),
      hdr("cookie", "a-much-longer-cookie-value", 0),
      hdr("x-secret", "s", ZTTP_HEADER_NEVER_INDEX),
      hdr("x-custom", "v1", 0),
      hdr("x-custom", "v1", 0),
  };
  uint32_t flags[] = {0,
                      0,
                      ZTTP_HEADER_NEVER_INDEX,
                      ZTTP_HEADER_NEVER_INDEX,
                      0,
                      ZTTP_HEADER_NEVER_INDEX,
                      0,
                      0};
  size_t n = sizeof(list) / sizeof(list[0]);
  for (int r = 0; r < 3; r++) {
    size_t len;
    uint8_t *blk = encode(&e, list, n, &len);
    assert_int_equal(zttp_hpack_decode(&d, &out, blk, len, 100, 65536), 0);
    expect_fields(&out, list, n, flags);
    expect_same_tables(&e.table, &d.table);
    free(blk);
  }
  zttp_hpack_decoder_free(&d);
  zttp_hpack_fields_free(&out, zttp_mem_default());
  zttp_hpack_encoder_free(&e);
  free(x);
}

static void test_encoder_size_updates(void **state) {
  (void)state;
  zttp_hpack_encoder e;
  zttp_header m = hdr(":method", "GET", 0);
  zttp_header c = hdr("x-custom", "v", 0);

  assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), 4096), 0);
  expect_encode_hex(&e, &m, 1, "82"); /* nothing pending */
  /* Down to 0 and back: both, smallest first (RFC 7541 §4.2). */
  zttp_hpack_encoder_set_peer_max(&e, 0);
  zttp_hpack_encoder_set_peer_max(&e, 4096);
  expect_encode_hex(&e, &m, 1, "203fe11f82");
  expect_encode_hex(&e, &m, 1, "82");
  /* One change: one update. */
  zttp_hpack_encoder_set_peer_max(&e, 1000);
  expect_encode_hex(&e, &m, 1, "3fc90782");
  assert_int_equal(e.table.max_size, 1000);
  /* Above our cap: our cap. */
  zttp_hpack_encoder_set_peer_max(&e, 8192);
  expect_encode_hex(&e, &m, 1, "3fe11f82");
  assert_int_equal(e.table.max_size, 4096);
  /* 100, 50, 200: 50 then 200. */
  zttp_hpack_encoder_set_peer_max(&e, 100);
  zttp_hpack_encoder_set_peer_max(&e, 50);
  zttp_hpack_encoder_set_peer_max(&e, 200);
  expect_encode_hex(&e, &m, 1, "3f133fa90182");
  /* Shrinking evicts: the field is sent as a literal again. */
  size_t len;
  free(encode(&e, &c, 1, &len));
  assert_int_equal(e.table.num, 1);
  expect_encode_hex(&e, &c, 1, "be");
  zttp_hpack_encoder_set_peer_max(&e, 0);
  zttp_hpack_encoder_set_peer_max(&e, 200);
  exp_buf x = {{0}, 0};
  x_raw(&x, "203fa901");
  x_raw(&x, "40");
  x_str(&x, "x-custom");
  x_str(&x, "v");
  expect_encode(&e, &c, 1, x.b, x.n);
  zttp_hpack_encoder_free(&e);

  /* A cap under 4096 is announced in the first block. */
  assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), 256), 0);
  expect_encode_hex(&e, &m, 1, "3fe10182");
  expect_encode_hex(&e, &m, 1, "82");
  zttp_hpack_encoder_free(&e);

  /* No table at all: nothing is inserted. */
  assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), 0), 0);
  x.n = 0;
  x_raw(&x, "20");
  x_raw(&x, "00");
  x_str(&x, "x-custom");
  x_str(&x, "v");
  expect_encode(&e, &c, 1, x.b, x.n);
  assert_int_equal(e.table.num, 0);
  x.n = 0;
  x_raw(&x, "00");
  x_str(&x, "x-custom");
  x_str(&x, "v");
  expect_encode(&e, &c, 1, x.b, x.n);
  zttp_hpack_encoder_free(&e);
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Random lists over a small vocabulary (so that fields repeat and names
 * match) through encoders with small tables (rings wrap often, entries
 * straddle the ring's end), decoded; fields, flags and both tables must
 * agree after every block. Table size changes now and then. */
static void test_roundtrip_random(void **state) {
  (void)state;
  static const char *names[] = {"a",          "x-custom",
                                "cookie",     ":path",
                                "accept",     "x-long-name-for-testing",
                                "set-cookie", ":authority",
                                "date",       ""};
  static char values[16][200];
  static size_t value_lens[16];
  for (int i = 0; i < 16; i++) {
    value_lens[i] = (size_t)(i * i * 3 % 190);
    for (size_t j = 0; j < value_lens[i]; j++) {
      values[i][j] =
          (char)(i % 4 == 3 ? (int)(rng() & 0xff) : 'a' + (int)(rng() % 26));
    }
  }
  zttp_hpack_fields out;
  memset(&out, 0, sizeof(out));
  size_t straddled = 0; /* entries seen wrapping around the ring's end */
  for (int run = 0; run < 60; run++) {
    size_t cap = (size_t)(rng() % 700);
    zttp_hpack_encoder e;
    zttp_hpack_decoder d;
    assert_int_equal(zttp_hpack_encoder_init(&e, zttp_mem_default(), cap), 0);
    assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
    for (int blk = 0; blk < 80; blk++) {
      zttp_header list[12];
      uint32_t flags[12];
      size_t n = (size_t)(rng() % 12);
      for (size_t i = 0; i < n; i++) {
        const char *nm = names[rng() % (sizeof(names) / sizeof(names[0]))];
        int vi = (int)(rng() % 16);
        memset(&list[i], 0, sizeof(list[i]));
        list[i].name = nm;
        list[i].name_len = strlen(nm);
        list[i].value = values[vi];
        list[i].value_len = value_lens[vi];
        list[i].flags = (rng() % 10) == 0 ? ZTTP_HEADER_NEVER_INDEX : 0;
        flags[i] = policy_flags(&list[i]);
      }
      if (rng() % 10 == 0) {
        size_t peer = (size_t)(rng() % 5000);
        zttp_hpack_encoder_set_peer_max(&e, peer);
        if (rng() % 2) {
          zttp_hpack_encoder_set_peer_max(&e, (size_t)(rng() % 5000));
        }
      }
      size_t len;
      uint8_t *b = encode(&e, list, n, &len);
      assert_int_equal(zttp_hpack_decode(&d, &out, b, len, 100, 1 << 20), 0);
      expect_fields(&out, list, n, flags);
      expect_same_tables(&e.table, &d.table);
      free(b);
      for (size_t i = 0; i < e.table.num; i++) {
        const zttp_hpack_entry *en =
            &e.table.ents[zttp_hpack_table_slot(&e.table, i)];
        straddled +=
            (size_t)en->off + en->name_len + en->value_len > e.table.capacity;
      }
    }
    zttp_hpack_encoder_free(&e);
    zttp_hpack_decoder_free(&d);
  }
  assert_true(straddled > 100);
  zttp_hpack_fields_free(&out, zttp_mem_default());
}

/* Free functions accept zeroed and failed objects. */
static void test_free_zeroed(void **state) {
  (void)state;
  zttp_hpack_decoder d;
  zttp_hpack_encoder e;
  zttp_hpack_fields f;
  memset(&d, 0, sizeof(d));
  memset(&e, 0, sizeof(e));
  memset(&f, 0, sizeof(f));
  zttp_hpack_decoder_free(&d);
  zttp_hpack_encoder_free(&e);
  zttp_hpack_fields_free(&f, zttp_mem_default());
  assert_int_equal(zttp_hpack_decoder_init(&d, zttp_mem_default(), 4096), 0);
  zttp_hpack_decoder_free(&d);
  zttp_hpack_decoder_free(&d);
}

int main(int argc, char **argv) {
  if (argc < 2 || hs_load(&vectors, argv[1]) != 0) {
    fprintf(stderr, "usage: %s STORIES\n", argv[0]);
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_c1_integers),
      cmocka_unit_test(test_int_limits),
      cmocka_unit_test(test_rfc_decode),
      cmocka_unit_test(test_rfc_encode),
      cmocka_unit_test(test_rfc_responses_roundtrip),
      cmocka_unit_test(test_reject),
      cmocka_unit_test(test_accept_edges),
      cmocka_unit_test(test_size_update_rules),
      cmocka_unit_test(test_truncations),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_hpack_bomb),
      cmocka_unit_test(test_steady_state),
      cmocka_unit_test(test_encode_policy),
      cmocka_unit_test(test_encoder_size_updates),
      cmocka_unit_test(test_roundtrip_random),
      cmocka_unit_test(test_free_zeroed),
  };
  int rv = cmocka_run_group_tests(tests, NULL, NULL);
  hs_free(&vectors);
  return rv;
}
