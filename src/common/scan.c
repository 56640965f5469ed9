/* SPDX-License-Identifier: MIT */
#include "common/scan.h"

#if defined(ZTTP_SCAN_SSE2)
#include <immintrin.h>
#endif

#define T ZTTP_CT_TOKEN
#define V ZTTP_CT_VALUE
#define G ZTTP_CT_TARGET
#define H ZTTP_CT_HEX
#define D ZTTP_CT_DIGIT
#define W ZTTP_CT_OWS
#define Q ZTTP_CT_QDTEXT
#define Hs ZTTP_CT_HOST

/* RFC 9110 §5.6.2 tchar, §5.5 field-vchar, §5.6.4 qdtext; RFC 9112 §3.2. */
const uint8_t zttp_ctype[256] = {
    ['\t'] = V | W | Q,
    [' '] = V | W | Q,
    ['!'] = T | V | G | Q | Hs,
    ['"'] = V | G,
    ['#'] = T | V | G | Q,
    ['$'] = T | V | G | Q | Hs,
    ['%'] = T | V | G | Q | Hs,
    ['&'] = T | V | G | Q | Hs,
    ['\''] = T | V | G | Q | Hs,
    ['('] = V | G | Q | Hs,
    [')'] = V | G | Q | Hs,
    ['*'] = T | V | G | Q | Hs,
    ['+'] = T | V | G | Q | Hs,
    [','] = V | G | Q | Hs,
    ['-'] = T | V | G | Q | Hs,
    ['.'] = T | V | G | Q | Hs,
    ['/'] = V | G | Q,
    ['0'] = T | V | G | H | D | Q | Hs,
    ['1'] = T | V | G | H | D | Q | Hs,
    ['2'] = T | V | G | H | D | Q | Hs,
    ['3'] = T | V | G | H | D | Q | Hs,
    ['4'] = T | V | G | H | D | Q | Hs,
    ['5'] = T | V | G | H | D | Q | Hs,
    ['6'] = T | V | G | H | D | Q | Hs,
    ['7'] = T | V | G | H | D | Q | Hs,
    ['8'] = T | V | G | H | D | Q | Hs,
    ['9'] = T | V | G | H | D | Q | Hs,
    [':'] = V | G | Q | Hs,
    [';'] = V | G | Q | Hs,
    ['<'] = V | G | Q,
    ['='] = V | G | Q | Hs,
    ['>'] = V | G | Q,
    ['?'] = V | G | Q,
    ['@'] = V | G | Q,
    ['A'] = T | V | G | H | Q | Hs,
    ['B'] = T | V | G | H | Q | Hs,
    ['C'] = T | V | G | H | Q | Hs,
    ['D'] = T | V | G | H | Q | Hs,
    ['E'] = T | V | G | H | Q | Hs,
    ['F'] = T | V | G | H | Q | Hs,
    ['G'] = T | V | G | Q | Hs,
    ['H'] = T | V | G | Q | Hs,
    ['I'] = T | V | G | Q | Hs,
    ['J'] = T | V | G | Q | Hs,
    ['K'] = T | V | G | Q | Hs,
    ['L'] = T | V | G | Q | Hs,
    ['M'] = T | V | G | Q | Hs,
    ['N'] = T | V | G | Q | Hs,
    ['O'] = T | V | G | Q | Hs,
    ['P'] = T | V | G | Q | Hs,
    ['Q'] = T | V | G | Q | Hs,
    ['R'] = T | V | G | Q | Hs,
    ['S'] = T | V | G | Q | Hs,
    ['T'] = T | V | G | Q | Hs,
    ['U'] = T | V | G | Q | Hs,
    ['V'] = T | V | G | Q | Hs,
    ['W'] = T | V | G | Q | Hs,
    ['X'] = T | V | G | Q | Hs,
    ['Y'] = T | V | G | Q | Hs,
    ['Z'] = T | V | G | Q | Hs,
    ['['] = V | G | Q | Hs,
    ['\\'] = V | G,
    [']'] = V | G | Q | Hs,
    ['^'] = T | V | G | Q,
    ['_'] = T | V | G | Q | Hs,
    ['`'] = T | V | G | Q,
    ['a'] = T | V | G | H | Q | Hs,
    ['b'] = T | V | G | H | Q | Hs,
    ['c'] = T | V | G | H | Q | Hs,
    ['d'] = T | V | G | H | Q | Hs,
    ['e'] = T | V | G | H | Q | Hs,
    ['f'] = T | V | G | H | Q | Hs,
    ['g'] = T | V | G | Q | Hs,
    ['h'] = T | V | G | Q | Hs,
    ['i'] = T | V | G | Q | Hs,
    ['j'] = T | V | G | Q | Hs,
    ['k'] = T | V | G | Q | Hs,
    ['l'] = T | V | G | Q | Hs,
    ['m'] = T | V | G | Q | Hs,
    ['n'] = T | V | G | Q | Hs,
    ['o'] = T | V | G | Q | Hs,
    ['p'] = T | V | G | Q | Hs,
    ['q'] = T | V | G | Q | Hs,
    ['r'] = T | V | G | Q | Hs,
    ['s'] = T | V | G | Q | Hs,
    ['t'] = T | V | G | Q | Hs,
    ['u'] = T | V | G | Q | Hs,
    ['v'] = T | V | G | Q | Hs,
    ['w'] = T | V | G | Q | Hs,
    ['x'] = T | V | G | Q | Hs,
    ['y'] = T | V | G | Q | Hs,
    ['z'] = T | V | G | Q | Hs,
    ['{'] = V | G | Q,
    ['|'] = T | V | G | Q,
    ['}'] = V | G | Q,
    ['~'] = T | V | G | Q | Hs,
/* obs-text (0x80..0xFF) is allowed in values and quoted strings. */
#define OBS8(b)                                                                \
  [b] = V | Q, [b + 1] = V | Q, [b + 2] = V | Q, [b + 3] = V | Q,              \
  [b + 4] = V | Q, [b + 5] = V | Q, [b + 6] = V | Q, [b + 7] = V | Q
    OBS8(0x80),
    OBS8(0x88),
    OBS8(0x90),
    OBS8(0x98),
    OBS8(0xa0),
    OBS8(0xa8),
    OBS8(0xb0),
    OBS8(0xb8),
    OBS8(0xc0),
    OBS8(0xc8),
    OBS8(0xd0),
    OBS8(0xd8),
    OBS8(0xe0),
    OBS8(0xe8),
    OBS8(0xf0),
    OBS8(0xf8),
#undef OBS8
};

int zttp_scan_have_avx2;

const uint8_t *zttp_scan_value_scalar(const uint8_t *p, const uint8_t *end) {
  while (end - p >= 4) {
    if (!(zttp_ctype[p[0]] & ZTTP_CT_VALUE)) {
      return p;
    }
    if (!(zttp_ctype[p[1]] & ZTTP_CT_VALUE)) {
      return p + 1;
    }
    if (!(zttp_ctype[p[2]] & ZTTP_CT_VALUE)) {
      return p + 2;
    }
    if (!(zttp_ctype[p[3]] & ZTTP_CT_VALUE)) {
      return p + 3;
    }
    p += 4;
  }
  while (p < end && (zttp_ctype[*p] & ZTTP_CT_VALUE)) {
    p++;
  }
  return p;
}

const uint8_t *zttp_scan_target_scalar(const uint8_t *p, const uint8_t *end) {
  while (end - p >= 4) {
    if (!(zttp_ctype[p[0]] & ZTTP_CT_TARGET)) {
      return p;
    }
    if (!(zttp_ctype[p[1]] & ZTTP_CT_TARGET)) {
      return p + 1;
    }
    if (!(zttp_ctype[p[2]] & ZTTP_CT_TARGET)) {
      return p + 2;
    }
    if (!(zttp_ctype[p[3]] & ZTTP_CT_TARGET)) {
      return p + 3;
    }
    p += 4;
  }
  while (p < end && (zttp_ctype[*p] & ZTTP_CT_TARGET)) {
    p++;
  }
  return p;
}

#if defined(ZTTP_SCAN_SSE2)

const uint8_t *zttp_scan_value_sse2(const uint8_t *p, const uint8_t *end) {
  return zttp_scan_value_sse2_inline(p, end);
}

const uint8_t *zttp_scan_target_sse2(const uint8_t *p, const uint8_t *end) {
  return zttp_scan_target_sse2_inline(p, end);
}

__attribute__((target("avx2"))) const uint8_t *
zttp_scan_value_avx2(const uint8_t *p, const uint8_t *end) {
  const __m256i c1f = _mm256_set1_epi8(0x1f);
  const __m256i tab = _mm256_set1_epi8(0x09);
  const __m256i del = _mm256_set1_epi8(0x7f);
  while (end - p >= 32) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i ctl = _mm256_cmpeq_epi8(_mm256_min_epu8(v, c1f), v);
    __m256i bad =
        _mm256_or_si256(_mm256_andnot_si256(_mm256_cmpeq_epi8(v, tab), ctl),
                        _mm256_cmpeq_epi8(v, del));
    unsigned m = (unsigned)_mm256_movemask_epi8(bad);
    if (m != 0) {
      return p + __builtin_ctz(m);
    }
    p += 32;
  }
  /* A tail call would skip the vzeroupper that the return path has, and
   * the SSE code after it would pay the AVX-SSE transition penalty. */
  _mm256_zeroupper();
  return zttp_scan_value_scalar(p, end);
}

__attribute__((target("avx2"))) const uint8_t *
zttp_scan_target_avx2(const uint8_t *p, const uint8_t *end) {
  const __m256i off = _mm256_set1_epi8((char)(0x21 + 0x80));
  const __m256i lim = _mm256_set1_epi8((char)(0x5e - 0x80));
  while (end - p >= 32) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i ok = _mm256_cmpgt_epi8(lim, _mm256_sub_epi8(v, off));
    unsigned m = ~(unsigned)_mm256_movemask_epi8(ok);
    if (m != 0) {
      return p + __builtin_ctz(m);
    }
    p += 32;
  }
  /* A tail call would skip the vzeroupper that the return path has, and
   * the SSE code after it would pay the AVX-SSE transition penalty. */
  _mm256_zeroupper();
  return zttp_scan_target_scalar(p, end);
}

__attribute__((constructor)) static void scan_init(void) {
  __builtin_cpu_init();
  zttp_scan_have_avx2 = __builtin_cpu_supports("avx2") != 0;
}

#else

const uint8_t *zttp_scan_value_sse2(const uint8_t *p, const uint8_t *end) {
  return zttp_scan_value_scalar(p, end);
}
const uint8_t *zttp_scan_target_sse2(const uint8_t *p, const uint8_t *end) {
  return zttp_scan_target_scalar(p, end);
}
const uint8_t *zttp_scan_value_avx2(const uint8_t *p, const uint8_t *end) {
  return zttp_scan_value_scalar(p, end);
}
const uint8_t *zttp_scan_target_avx2(const uint8_t *p, const uint8_t *end) {
  return zttp_scan_target_scalar(p, end);
}

#endif
