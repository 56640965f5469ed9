/* The Huffman code (src/common/huffman.c): RFC 7541 Appendix C strings byte
 * for byte, round trips, and the table-driven decoder against a bit-by-bit
 * reference decoder built from the encoder's code table (exhaustively for
 * all 1- and 2-byte inputs, and on random inputs), including every
 * malformed case of RFC 7541 §5.2.
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
#include "common/huffman_table.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static size_t unhex(uint8_t *dst, const char *hex) {
  size_t n = strlen(hex) / 2;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    dst[i] = (uint8_t)v;
  }
  return n;
}

/* Room zttp_huffman_decode() needs. */
static size_t dec_room(size_t len) {
  return len * 8 / 5 + 1;
}

/* Reference decoder: one bit at a time, matching the accumulated bits
 * against every code of the encoder's table. Returns the length or -1 with
 * the same rules (EOS, padding over 7 bits or not all 1s). */
static uint8_t by_len[31][256]; /* the symbols of each code length */
static unsigned num_by_len[31];

static void ref_init(void) {
  if (num_by_len[5] != 0) {
    return;
  }
  for (unsigned s = 0; s < 256; s++) {
    by_len[huff_len[s]][num_by_len[huff_len[s]]++] = (uint8_t)s;
  }
}

static int64_t ref_decode(uint8_t *dst, const uint8_t *src, size_t len) {
  ref_init();
  uint32_t code = 0;
  unsigned n = 0;
  size_t out = 0;
  for (size_t i = 0; i < len * 8; i++) {
    code = (code << 1) | ((src[i / 8] >> (7 - i % 8)) & 1);
    n++;
    if (n == 30 && code == 0x3fffffff) {
      return -1; /* EOS */
    }
    for (unsigned k = 0; k < num_by_len[n]; k++) {
      uint8_t s = by_len[n][k];
      if (huff_code[s] == code) {
        dst[out++] = s;
        code = 0;
        n = 0;
        break;
      }
    }
  }
  if (n > 7 || code != (1u << n) - 1) {
    return -1;
  }
  return (int64_t)out;
}

static void check_rfc(const char *text, const char *hex) {
  uint8_t want[128];
  size_t want_len = unhex(want, hex);
  size_t len = strlen(text);
  assert_int_equal(zttp_huffman_encoded_len((const uint8_t *)text, len),
                   want_len);
  uint8_t enc[128];
  assert_int_equal(zttp_huffman_encode(enc, (const uint8_t *)text, len),
                   want_len);
  assert_memory_equal(enc, want, want_len);
  uint8_t dec[256];
  assert_int_equal(zttp_huffman_decode(dec, want, want_len), (int64_t)len);
  assert_memory_equal(dec, text, len);
}

/* RFC 7541 C.4 and C.6: every Huffman-coded string of the examples. */
static void test_rfc_strings(void **state) {
  (void)state;
  check_rfc("www.example.com", "f1e3c2e5f23a6ba0ab90f4ff");
  check_rfc("no-cache", "a8eb10649cbf");
  check_rfc("custom-key", "25a849e95ba97d7f");
  check_rfc("custom-value", "25a849e95bb8e8b4bf");
  check_rfc("302", "6402");
  check_rfc("307", "640eff");
  check_rfc("private", "aec3771a4b");
  check_rfc("Mon, 21 Oct 2013 20:13:21 GMT",
            "d07abe941054d444a8200595040b8166e082a62d1bff");
  check_rfc("Mon, 21 Oct 2013 20:13:22 GMT",
            "d07abe941054d444a8200595040b8166e084a62d1bff");
  check_rfc("https://www.example.com", "9d29ad171863c78f0b97c8e9ae82ae43d3");
  check_rfc("gzip", "9bd9ab");
  check_rfc("foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            "94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587"
            "316065c003ed4ee5b1063d5007");
}

/* A few codes straight from RFC 7541 Appendix B, independent of the
 * generated table: each octet alone, padded with 1s. */
static void test_appendix_b_samples(void **state) {
  (void)state;
  static const struct {
    uint8_t sym;
    const char *hex;
  } cases[] = {
      {'0', "07"},       /* 00000 + 111 */
      {'a', "1f"},       /* 00011 + 111 */
      {' ', "53"},       /* 010100 + 11 */
      {'/', "63"},       /* 011000 + 11 */
      {'{', "fffd"},     /* 111111111111110 + 1 (15 bits) */
      {'\\', "fffe1f"},  /* 1111111111111110000 (19 bits) */
      {0, "ffc7"},       /* 1111111111000 (13 bits) */
      {10, "fffffff3"},  /* 111111111111111111111111111100 (30) */
      {255, "fffffbbf"}, /* 11111111111111111111101110 (26) */
      {'+', "ff7f"},     /* 11111111011 (11 bits) */
      {'>', "ffbf"},     /* 111111111011 (12 bits) */
      {'#', "ffaf"},     /* 111111111010 (12 bits) */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint8_t want[8];
    size_t n = unhex(want, cases[i].hex);
    uint8_t enc[8];
    assert_int_equal(zttp_huffman_encoded_len(&cases[i].sym, 1), n);
    assert_int_equal(zttp_huffman_encode(enc, &cases[i].sym, 1), n);
    assert_memory_equal(enc, want, n);
    uint8_t dec[16];
    assert_int_equal(zttp_huffman_decode(dec, want, n), 1);
    assert_int_equal(dec[0], cases[i].sym);
  }
}

static void roundtrip(const uint8_t *s, size_t len) {
  size_t hl = zttp_huffman_encoded_len(s, len);
  uint8_t *enc = malloc(hl + 1);
  uint8_t *dec = malloc(dec_room(hl));
  assert_non_null(enc);
  assert_non_null(dec);
  enc[hl] = 0xa5;
  assert_int_equal(zttp_huffman_encode(enc, s, len), hl);
  assert_int_equal(enc[hl], 0xa5);
  assert_int_equal(zttp_huffman_decode(dec, enc, hl), (int64_t)len);
  assert_memory_equal(dec, s, len);
  free(enc);
  free(dec);
}

/* Every octet alone, all 256 in a row (the long codes in the fast loop),
 * each long-coded octet at every position of a short string (the tail),
 * and random strings of every length up to 600. */
static void test_roundtrip(void **state) {
  (void)state;
  uint8_t buf[600] = {0};
  assert_int_equal(zttp_huffman_encoded_len(buf, 0), 0);
  assert_int_equal(zttp_huffman_encode(buf, buf, 0), 0);
  for (unsigned s = 0; s < 256; s++) {
    buf[0] = (uint8_t)s;
    roundtrip(buf, 1);
  }
  for (unsigned s = 0; s < 256; s++) {
    buf[s] = (uint8_t)s;
    buf[511 - s] = (uint8_t)s;
  }
  roundtrip(buf, 512);
  for (unsigned s = 0; s < 256; s++) {
    if (huff_len[s] <= 12) {
      continue;
    }
    for (size_t pos = 0; pos < 20; pos++) {
      memset(buf, 'e', 20);
      buf[pos] = (uint8_t)s;
      roundtrip(buf, 20);
      roundtrip(buf, pos + 1);
    }
  }
  for (size_t len = 0; len <= sizeof(buf); len++) {
    for (size_t i = 0; i < len; i++) {
      uint64_t r = rng();
      /* Mostly text, sometimes any octet. */
      buf[i] =
          (r & 7) == 0 ? (uint8_t)(r >> 8) : (uint8_t)(' ' + (r >> 8) % 95);
    }
    roundtrip(buf, len);
  }
}

static void compare_with_ref(const uint8_t *in, size_t len) {
  uint8_t got[128];
  uint8_t want[128];
  assert_true(dec_room(len) <= sizeof(got));
  int64_t g = zttp_huffman_decode(got, in, len);
  int64_t w = ref_decode(want, in, len);
  if (g != w) {
    char hex[64] = "";
    for (size_t i = 0; i < len && i < 16; i++) {
      snprintf(hex + 2 * i, 3, "%02x", in[i]);
    }
    fail_msg("input %s: decoded %lld, reference %lld", hex, (long long)g,
             (long long)w);
  }
  if (g > 0) {
    assert_memory_equal(got, want, (size_t)g);
  }
}

/* Every 1- and 2-byte input: the decoder's result and verdict (EOS,
 * padding) equal the reference decoder's. */
static void test_exhaustive_short(void **state) {
  (void)state;
  uint8_t in[2];
  for (unsigned a = 0; a < 256; a++) {
    in[0] = (uint8_t)a;
    compare_with_ref(in, 1);
    for (unsigned b = 0; b < 256; b++) {
      in[1] = (uint8_t)b;
      compare_with_ref(in, 2);
    }
  }
}

/* Random inputs of 3..24 bytes: mostly valid strings with their last bytes
 * changed, and random bytes; biased to 1s so that long codes, EOS and
 * padding show up. */
static void test_random_vs_reference(void **state) {
  (void)state;
  uint8_t in[64];
  for (int iter = 0; iter < 40000; iter++) {
    size_t len = 3 + (size_t)(rng() % 22);
    int mode = (int)(rng() % 3);
    for (size_t i = 0; i < len; i++) {
      uint64_t r = rng();
      if (mode == 0) {
        in[i] = (uint8_t)r;
      } else {
        in[i] = (uint8_t)(r | (r >> 8) | (mode == 2 ? (r >> 16) : 0));
      }
    }
    compare_with_ref(in, len);
    /* A valid string, then its padding damaged. */
    uint8_t s[8];
    size_t sl = 1 + (size_t)(rng() % sizeof(s));
    for (size_t i = 0; i < sl; i++) {
      s[i] = (uint8_t)rng();
    }
    size_t hl = zttp_huffman_encode(in, s, sl);
    compare_with_ref(in, hl);
    in[hl - 1] ^= (uint8_t)(1u << (rng() % 8));
    compare_with_ref(in, hl);
    in[hl] = (uint8_t)rng();
    compare_with_ref(in, hl + 1);
  }
}

/* RFC 7541 §5.2 errors, one by one. */
static void test_malformed(void **state) {
  (void)state;
  uint8_t in[16];
  uint8_t out[64];
  /* 'a' (00011) then EOS (30 1s) then 5 bits of padding. */
  size_t n = unhex(in, "1fffffffff");
  assert_int_equal(zttp_huffman_decode(out, in, n), -1);
  /* EOS alone with 2 bits of padding. */
  n = unhex(in, "ffffffff");
  assert_int_equal(zttp_huffman_decode(out, in, n), -1);
  /* EOS inside a long string (fast loop): 10 x 'a', EOS, 'a'. */
  memset(in, 0, sizeof(in));
  {
    const uint8_t a10[] = "aaaaaaaaaa";
    size_t hl = zttp_huffman_encode(in, a10, 10); /* 50 bits + 6 pad */
    assert_int_equal(hl, 7);
    /* Rebuild by hand: 50 bits of 'a', 30 bits of EOS, 'a', 3 pad. */
    uint8_t b[16] = {0};
    size_t pos = 0;
    for (int k = 0; k < 10; k++) {
      for (int j = 4; j >= 0; j--) {
        b[pos / 8] |= (uint8_t)(((0x3u >> j) & 1) << (7 - pos % 8));
        pos++;
      }
    }
    for (int j = 0; j < 30; j++, pos++) {
      b[pos / 8] |= (uint8_t)(1u << (7 - pos % 8));
    }
    for (int j = 4; j >= 0; j--, pos++) {
      b[pos / 8] |= (uint8_t)(((0x3u >> j) & 1) << (7 - pos % 8));
    }
    while (pos % 8 != 0) {
      b[pos / 8] |= (uint8_t)(1u << (7 - pos % 8));
      pos++;
    }
    assert_int_equal(pos / 8, 11);
    assert_int_equal(zttp_huffman_decode(out, b, pos / 8), -1);
    assert_int_equal(ref_decode(out, b, pos / 8), -1);
  }
  /* Padding longer than 7 bits: '0' (00000) then 11 1s. */
  n = unhex(in, "07ff");
  assert_int_equal(zttp_huffman_decode(out, in, n), -1);
  /* A whole byte of padding. */
  n = unhex(in, "ff");
  assert_int_equal(zttp_huffman_decode(out, in, n), -1);
  /* Padding that is not all 1s: 'a' then 110, then 'a' then 000. */
  n = unhex(in, "1e");
  assert_int_equal(zttp_huffman_decode(out, in, n), -1);
  n = unhex(in, "00");
  assert_int_equal(zttp_huffman_decode(out, in, n), -1);
  /* The same strings correctly padded decode. */
  n = unhex(in, "1f");
  assert_int_equal(zttp_huffman_decode(out, in, n), 1);
  assert_int_equal(out[0], 'a');
  n = unhex(in, "07");
  assert_int_equal(zttp_huffman_decode(out, in, n), 1);
  assert_int_equal(out[0], '0');
  /* 7 bits of padding are fine: '0' '0' '0' (15 bits) then 1. */
  n = unhex(in, "0001");
  assert_int_equal(zttp_huffman_decode(out, in, n), 3);
  assert_memory_equal(out, "000", 3);
  /* 'a' (00011) then 11 1s. */
  n = unhex(in, "1fff");
  assert_int_equal(zttp_huffman_decode(out, in, n), -1);
  /* Empty. */
  assert_int_equal(zttp_huffman_decode(out, in, 0), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc_strings),
      cmocka_unit_test(test_appendix_b_samples),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_exhaustive_short),
      cmocka_unit_test(test_random_vs_reference),
      cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
