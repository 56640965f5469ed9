/* Character classes (RFC 9110 §5.6.2, RFC 9112) and the wide scanners the
 * HTTP/1.1 parser runs over header values and request targets.
 *
 * x86-64: the 16-byte loop uses SSE2, which every x86-64 CPU has, inline;
 * runs of 64 bytes or more go to an AVX2 loop when the CPU has AVX2, decided
 * once at load time. Other architectures, and the last bytes of a buffer,
 * use the 256-entry class table. (SSE4.2's pcmpestri, which
 * picohttpparser uses, is slower than compare + movemask on current cores,
 * so it is not used.)
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_SCAN_H
#define ZTTP_COMMON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#define ZTTP_SCAN_SSE2 1
#endif

/* Bits of zttp_ctype[]. */
#define ZTTP_CT_TOKEN 0x01u  /* tchar (RFC 9110 §5.6.2) */
#define ZTTP_CT_VALUE 0x02u  /* field-vchar, SP, HTAB (RFC 9110 §5.5) */
#define ZTTP_CT_TARGET 0x04u /* visible ASCII 0x21..0x7E */
#define ZTTP_CT_HEX 0x08u    /* HEXDIG */
#define ZTTP_CT_DIGIT 0x10u  /* DIGIT */
#define ZTTP_CT_OWS 0x20u    /* SP, HTAB */
#define ZTTP_CT_QDTEXT 0x40u /* qdtext (RFC 9110 §5.6.4) */
#define ZTTP_CT_HOST 0x80u   /* uri-host / port characters (RFC 3986 §3.2.2) */

extern const uint8_t zttp_ctype[256];

/* Nonzero when the AVX2 scanners may run (set once at load time). */
extern int zttp_scan_have_avx2;

/* Scalar and vector variants, exposed for tests that compare them. */
const uint8_t *zttp_scan_value_scalar(const uint8_t *p, const uint8_t *end);
const uint8_t *zttp_scan_target_scalar(const uint8_t *p, const uint8_t *end);
const uint8_t *zttp_scan_value_avx2(const uint8_t *p, const uint8_t *end);
const uint8_t *zttp_scan_target_avx2(const uint8_t *p, const uint8_t *end);
const uint8_t *zttp_scan_value_sse2(const uint8_t *p, const uint8_t *end);
const uint8_t *zttp_scan_target_sse2(const uint8_t *p, const uint8_t *end);

#if defined(ZTTP_SCAN_SSE2)
/* The bytes of the 16 at |p| that cannot appear in a field value (a CTL
 * other than HTAB, or DEL), as a bit mask. */
static inline unsigned zttp_scan_value_bad16(const uint8_t *p) {
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
  __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
  __m128i bad = _mm_or_si128(
      _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x09)), ctl),
      _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
  return (unsigned)_mm_movemask_epi8(bad);
}

/* The bytes of the 16 at |p| outside 0x21..0x7E, as a bit mask. */
static inline unsigned zttp_scan_target_bad16(const uint8_t *p) {
  /* x - 0x21 (wrapping) is below 0x5E exactly for 0x21..0x7E; compare as
   * signed after flipping the sign bit. */
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
  __m128i s = _mm_sub_epi8(v, _mm_set1_epi8((char)(0x21 + 0x80)));
  __m128i ok = _mm_cmplt_epi8(s, _mm_set1_epi8((char)(0x5e - 0x80)));
  return (unsigned)_mm_movemask_epi8(ok) ^ 0xffffu;
}
#endif

/* zttp_scan_value_sse2_inline: the 16-byte loop of zttp_scan_value. */
/* zttp_scan_value returns the first byte in [p, end) that cannot appear in a
 * field value (a CTL other than HTAB, or DEL), or |end|. */
static inline const uint8_t *zttp_scan_value_sse2_inline(const uint8_t *p,
                                                         const uint8_t *end) {
#if defined(ZTTP_SCAN_SSE2)
  while (end - p >= 16) {
    unsigned m = zttp_scan_value_bad16(p);
    if (m != 0) {
      return p + __builtin_ctz(m);
    }
    p += 16;
  }
#endif
  return zttp_scan_value_scalar(p, end);
}

/* zttp_scan_target returns the first byte in [p, end) outside 0x21..0x7E,
 * or |end|. */
static inline const uint8_t *zttp_scan_target_sse2_inline(const uint8_t *p,
                                                          const uint8_t *end) {
#if defined(ZTTP_SCAN_SSE2)
  while (end - p >= 16) {
    unsigned m = zttp_scan_target_bad16(p);
    if (m != 0) {
      return p + __builtin_ctz(m);
    }
    p += 16;
  }
#endif
  return zttp_scan_target_scalar(p, end);
}

/* zttp_scan_class returns the first byte in [p, end) whose class lacks
 * |mask|, or |end|: four bytes per step while they last (names and hosts
 * are short and mostly letters, so one combined test per step beats a
 * branch per byte). */
static inline const uint8_t *zttp_scan_class(const uint8_t *p,
                                             const uint8_t *end, uint8_t mask) {
  while (end - p >= 4 && (zttp_ctype[p[0]] & zttp_ctype[p[1]] &
                          zttp_ctype[p[2]] & zttp_ctype[p[3]] & mask)) {
    p += 4;
  }
  while (p < end && (zttp_ctype[*p] & mask)) {
    p++;
  }
  return p;
}

/* zttp_scan_token returns the first byte in [p, end) that is not a tchar
 * (RFC 9110 §5.6.2), or |end|. It stays scalar on purpose: measured on the
 * bench/h1 workloads, a 16-byte SSE2 classifier (VCHAR minus four single
 * delimiters and three ranges) was 10-15% slower than this table loop,
 * because field names are short. */
static inline const uint8_t *zttp_scan_token(const uint8_t *p,
                                             const uint8_t *end) {
  return zttp_scan_class(p, end, ZTTP_CT_TOKEN);
}

/* Most values and targets are short: the first 32 bytes are examined
 * inline, and only a longer run that has 64 bytes or more left goes to the
 * AVX2 loop (whose call is worth it only then). */
static inline const uint8_t *zttp_scan_value(const uint8_t *p,
                                             const uint8_t *end) {
#if defined(ZTTP_SCAN_SSE2)
  for (int k = 0; k < 2 && end - p >= 16; k++) {
    unsigned m = zttp_scan_value_bad16(p);
    if (m != 0) {
      return p + __builtin_ctz(m);
    }
    p += 16;
  }
  if (end - p >= 64 && zttp_scan_have_avx2) {
    return zttp_scan_value_avx2(p, end);
  }
#endif
  return zttp_scan_value_sse2_inline(p, end);
}

/* zttp_scan_value_in is zttp_scan_value for a run that lies in a buffer
 * starting at |lo|: the last bytes before |end| are examined with one
 * 16-byte load that ends at |end| (and so stays inside the buffer) instead
 * of a byte loop. */
static inline const uint8_t *
zttp_scan_value_in(const uint8_t *lo, const uint8_t *p, const uint8_t *end) {
#if defined(ZTTP_SCAN_SSE2)
  for (int k = 0; k < 2 && end - p >= 16; k++) {
    unsigned m = zttp_scan_value_bad16(p);
    if (m != 0) {
      return p + __builtin_ctz(m);
    }
    p += 16;
  }
  if (end - p >= 64 && zttp_scan_have_avx2) {
    return zttp_scan_value_avx2(p, end);
  }
  while (end - p >= 16) {
    unsigned m = zttp_scan_value_bad16(p);
    if (m != 0) {
      return p + __builtin_ctz(m);
    }
    p += 16;
  }
  if (p < end && end - lo >= 16) {
    unsigned skip = (unsigned)(16 - (end - p));
    unsigned m = zttp_scan_value_bad16(end - 16) >> skip;
    return m != 0 ? p + __builtin_ctz(m) : end;
  }
#else
  (void)lo;
#endif
  return zttp_scan_value_scalar(p, end);
}

#if defined(ZTTP_SCAN_SSE2)
/* zttp_scan_value_in16 and zttp_scan_target_in16 are zttp_scan_value and
 * zttp_scan_target for a run in a buffer of at least 16 bytes starting at
 * |lo| (end - lo >= 16), entirely inline: 16 bytes at a time, the last
 * ones with one load that ends at |end|. They call nothing, so that a
 * parser loop using them needs no registers saved around a call. */
static inline __attribute__((always_inline)) const uint8_t *
zttp_scan_value_in16(const uint8_t *lo, const uint8_t *p, const uint8_t *end) {
  while (end - p >= 16) {
    unsigned m = zttp_scan_value_bad16(p);
    if (m != 0) {
      return p + __builtin_ctz(m);
    }
    p += 16;
  }
  if (p < end) {
    (void)lo;
    unsigned m = zttp_scan_value_bad16(end - 16) >> (16 - (end - p));
    return m != 0 ? p + __builtin_ctz(m) : end;
  }
  return end;
}

static inline __attribute__((always_inline)) const uint8_t *
zttp_scan_target_in16(const uint8_t *lo, const uint8_t *p, const uint8_t *end) {
  while (end - p >= 16) {
    unsigned m = zttp_scan_target_bad16(p);
    if (m != 0) {
      return p + __builtin_ctz(m);
    }
    p += 16;
  }
  if (p < end) {
    (void)lo;
    unsigned m = zttp_scan_target_bad16(end - 16) >> (16 - (end - p));
    return m != 0 ? p + __builtin_ctz(m) : end;
  }
  return end;
}
#else
#define zttp_scan_value_in16(lo, p, end) zttp_scan_value_scalar((p), (end))
#define zttp_scan_target_in16(lo, p, end) zttp_scan_target_scalar((p), (end))
#endif

static inline const uint8_t *zttp_scan_target(const uint8_t *p,
                                              const uint8_t *end) {
#if defined(ZTTP_SCAN_SSE2)
  for (int k = 0; k < 2 && end - p >= 16; k++) {
    unsigned m = zttp_scan_target_bad16(p);
    if (m != 0) {
      return p + __builtin_ctz(m);
    }
    p += 16;
  }
  if (end - p >= 64 && zttp_scan_have_avx2) {
    return zttp_scan_target_avx2(p, end);
  }
#endif
  return zttp_scan_target_sse2_inline(p, end);
}

/* zttp_scan_host_valid returns 1 when the |n| bytes at |p|, which lie in
 * a buffer starting at |lo|, all have class ZTTP_CT_HOST. A value of at
 * most 16 letters, digits, '-', '.' and ':' (most Host values) is checked
 * with one 16-byte load that ends where it ends. */
static inline __attribute__((always_inline)) int
zttp_scan_host_valid(const uint8_t *lo, const uint8_t *p, size_t n) {
#if defined(ZTTP_SCAN_SSE2)
  if (n <= 16 && p + n - lo >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + n - 16));
    __m128i l = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i alpha =
        _mm_cmplt_epi8(_mm_sub_epi8(l, _mm_set1_epi8((char)('a' + 0x80))),
                       _mm_set1_epi8((char)(26 - 0x80)));
    /* '0'..'9' and ':' */
    __m128i digit =
        _mm_cmplt_epi8(_mm_sub_epi8(v, _mm_set1_epi8((char)('0' + 0x80))),
                       _mm_set1_epi8((char)(11 - 0x80)));
    __m128i punct = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')),
                                 _mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
    __m128i ok = _mm_or_si128(_mm_or_si128(alpha, digit), punct);
    unsigned bad = ((unsigned)_mm_movemask_epi8(ok) ^ 0xffffu) >> (16 - n);
    if (bad == 0) {
      return 1;
    }
  }
#else
  (void)lo;
#endif
  return zttp_scan_class(p, p + n, ZTTP_CT_HOST) == p + n;
}

/* zttp_scan_name_fast returns the ':' that ends a field name at |s| when
 * the name is made of letters, digits and '-' only (as nearly all are) and
 * it and its colon lie in 16-byte blocks readable before |end|; otherwise
 * NULL, and the caller classifies the name byte by byte. */
static inline const uint8_t *zttp_scan_name_fast(const uint8_t *s,
                                                 const uint8_t *end) {
#if defined(ZTTP_SCAN_SSE2)
  while (end - s >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
    unsigned colon =
        (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')));
    /* OR 0x20 lowercases letters and maps nothing else onto a..z. */
    __m128i l = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i alpha =
        _mm_cmplt_epi8(_mm_sub_epi8(l, _mm_set1_epi8((char)('a' + 0x80))),
                       _mm_set1_epi8((char)(26 - 0x80)));
    __m128i digit =
        _mm_cmplt_epi8(_mm_sub_epi8(v, _mm_set1_epi8((char)('0' + 0x80))),
                       _mm_set1_epi8((char)(10 - 0x80)));
    __m128i ok = _mm_or_si128(_mm_or_si128(alpha, digit),
                              _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    unsigned bad = (unsigned)_mm_movemask_epi8(ok) ^ 0xffffu;
    if (colon != 0) {
      /* Every byte before the first colon must be a fast name byte. */
      return (bad & ((colon & (0u - colon)) - 1)) == 0
                 ? s + __builtin_ctz(colon)
                 : NULL;
    }
    if (bad != 0) {
      return NULL;
    }
    s += 16;
  }
#else
  (void)s;
  (void)end;
#endif
  return NULL;
}

#endif
