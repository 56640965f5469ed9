/* HPACK integers (RFC 7541 §5.1), shared by hpack.c and the tests.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_HPACK_INT_H
#define ZTTP_HPACK_INT_H

#include "zttp/zttp.h"

/* The most bytes zttp_hpack_int_put() writes: the prefix byte and ten 7-bit
 * groups of a 64-bit value. */
#define ZTTP_HPACK_INT_MAX_LEN 11

/* zttp_hpack_int_read_more finishes an integer whose |prefix| bits were all
 * 1s: |v| is the prefix value, *pp the first continuation byte. Returns 1
 * and advances *pp, or 0 for a truncated integer, more than five
 * continuation bytes or a value above 2^32 - 1. */
int zttp_hpack_int_read_more(const uint8_t **pp, const uint8_t *end, uint64_t v,
                             uint32_t *out);

/* zttp_hpack_int_read reads an integer with a |prefix|-bit prefix (1..8)
 * at *pp (< end) into *out. Returns 1 and advances *pp, or 0 (malformed;
 * *pp unchanged). */
static inline int zttp_hpack_int_read(const uint8_t **pp, const uint8_t *end,
                                      unsigned prefix, uint32_t *out) {
  uint32_t mask = (1u << prefix) - 1;
  uint32_t v = **pp & mask;
  if (__builtin_expect(v < mask, 1)) {
    (*pp)++;
    *out = v;
    return 1;
  }
  const uint8_t *p = *pp + 1;
  if (!zttp_hpack_int_read_more(&p, end, v, out)) {
    return 0;
  }
  *pp = p;
  return 1;
}

/* zttp_hpack_int_put writes |v| with a |prefix|-bit prefix whose first
 * byte's other bits are |first|, and returns the end of what it wrote. */
static inline uint8_t *zttp_hpack_int_put(uint8_t *o, uint8_t first,
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
