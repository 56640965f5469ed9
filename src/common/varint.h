/* QUIC variable-length integers, the writing side (RFC 9000 §16; reading is
 * zttp_rd_varint() in common/reader.h). SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_VARINT_H
#define ZTTP_COMMON_VARINT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* The largest value a varint holds: 2^62 - 1. */
#define ZTTP_VARINT_MAX ((UINT64_C(1) << 62) - 1)

/* zttp_varint_len returns the length of the minimal encoding of |v|: 1, 2,
 * 4 or 8. |v| must be <= ZTTP_VARINT_MAX. */
static inline size_t zttp_varint_len(uint64_t v) {
  assert(v <= ZTTP_VARINT_MAX);
  if (v < 64) {
    return 1;
  }
  if (v < 16384) {
    return 2;
  }
  if (v < (UINT64_C(1) << 30)) {
    return 4;
  }
  return 8;
}

/* zttp_varint_put_n writes |v| in exactly |n| bytes (1, 2, 4 or 8; |v| must
 * fit) at |p| and returns p + n. */
static inline uint8_t *zttp_varint_put_n(uint8_t *p, uint64_t v, size_t n) {
  static const uint8_t prefix[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0};
  assert(n == 1 || n == 2 || n == 4 || n == 8);
  assert(n == 8 || v < (UINT64_C(1) << (8 * n - 2)));
  for (size_t i = n; i-- > 0;) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
  p[0] |= prefix[n];
  return p + n;
}

/* zttp_varint_put writes the minimal encoding of |v| (<= ZTTP_VARINT_MAX)
 * at |p|, which has room for zttp_varint_len(v) bytes, and returns the end
 * of what it wrote. */
static inline uint8_t *zttp_varint_put(uint8_t *p, uint64_t v) {
  return zttp_varint_put_n(p, v, zttp_varint_len(v));
}

#endif
