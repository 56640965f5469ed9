/* HPACK integers (RFC 7541 §5.1) over src/common/prefix_int.h, with
 * HPACK's cap of 2^32 - 1; shared by hpack.c and the tests.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_HPACK_INT_H
#define ZTTP_HPACK_INT_H

#include "zttp/zttp.h"

#include "common/prefix_int.h"

/* The most bytes zttp_hpack_int_put() writes. */
#define ZTTP_HPACK_INT_MAX_LEN ZTTP_PREFIX_INT_MAX_LEN

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

/* zttp_hpack_int_put is zttp_prefix_int_put(). */
static inline uint8_t *zttp_hpack_int_put(uint8_t *o, uint8_t first,
                                          unsigned prefix, uint64_t v) {
  return zttp_prefix_int_put(o, first, prefix, v);
}

#endif
