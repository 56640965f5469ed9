/* N-bit prefix integers (RFC 7541 §5.1; RFC 9204 §4.1.1 uses the same
 * encoding), shared by src/hpack and src/qpack. The codecs differ only in
 * the largest value they accept: each wraps these with its own cap.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_PREFIX_INT_H
#define ZTTP_COMMON_PREFIX_INT_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes zttp_prefix_int_put() writes: the prefix byte and ten
 * 7-bit groups of a 64-bit value. */
#define ZTTP_PREFIX_INT_MAX_LEN 11

/* Results of zttp_prefix_int_read_more() and zttp_prefix_int_read(). */
#define ZTTP_PREFIX_INT_OK 1
#define ZTTP_PREFIX_INT_SHORT 0  /* the input ends inside the integer */
#define ZTTP_PREFIX_INT_BAD (-1) /* above the cap */

/* zttp_prefix_int_read_more finishes an integer whose prefix bits were all
 * 1s: |v| is the prefix value, *pp the first continuation byte (<= end).
 * A value above |max| (< 2^63) or a continuation byte after the one whose
 * group is shifted by |max_shift| (a multiple of 7, at most 56) is
 * ZTTP_PREFIX_INT_BAD; input that ends first is ZTTP_PREFIX_INT_SHORT. On
 * ZTTP_PREFIX_INT_OK *pp is advanced, otherwise it is unchanged. */
static inline int zttp_prefix_int_read_more(const uint8_t **pp,
                                            const uint8_t *end, uint64_t v,
                                            uint64_t max, unsigned max_shift,
                                            uint64_t *out) {
  const uint8_t *p = *pp;
  for (unsigned shift = 0;; shift += 7) {
    if (p == end) {
      return ZTTP_PREFIX_INT_SHORT;
    }
    uint8_t b = *p++;
    /* No overflow: v <= max < 2^63 and the group is below 2^(7 + 56). */
    v += (uint64_t)(b & 0x7f) << shift;
    if (v > max) {
      return ZTTP_PREFIX_INT_BAD;
    }
    if ((b & 0x80) == 0) {
      break;
    }
    if (shift >= max_shift) {
      return ZTTP_PREFIX_INT_BAD;
    }
  }
  *pp = p;
  *out = v;
  return ZTTP_PREFIX_INT_OK;
}

/* zttp_prefix_int_len returns the bytes zttp_prefix_int_put() writes. */
static inline size_t zttp_prefix_int_len(unsigned prefix, uint64_t v) {
  uint64_t mask = (1u << prefix) - 1;
  if (v < mask) {
    return 1;
  }
  size_t n = 2;
  for (v -= mask; v >= 0x80; v >>= 7) {
    n++;
  }
  return n;
}

/* zttp_prefix_int_put writes |v| with a |prefix|-bit prefix (1..8) whose
 * first byte's other bits are |first|, and returns the end of what it wrote
 * (at most ZTTP_PREFIX_INT_MAX_LEN bytes). */
static inline uint8_t *zttp_prefix_int_put(uint8_t *o, uint8_t first,
                                           unsigned prefix, uint64_t v) {
  uint64_t mask = (1u << prefix) - 1;
  if (v < mask) {
    *o++ = (uint8_t)(first | v);
    return o;
  }
  *o++ = (uint8_t)(first | mask);
  v -= mask;
  while (v >= 0x80) {
    *o++ = (uint8_t)(0x80 | (v & 0x7f));
    v >>= 7;
  }
  *o++ = (uint8_t)v;
  return o;
}

#endif
