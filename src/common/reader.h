/* A bounds-checked reader over borrowed bytes (CBS-style, STYLE.md): every
 * zttp_rd_* call returns 1 and advances on success, or returns 0 and leaves
 * the reader where it was. Integers are big-endian (network order).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_READER_H
#define ZTTP_COMMON_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct zttp_rd {
  const uint8_t *p;
  const uint8_t *end;
} zttp_rd;

/* zttp_rd_init points |rd| at |len| bytes at |p| (borrowed; |p| may be NULL
 * when |len| is 0). */
static inline void zttp_rd_init(zttp_rd *rd, const uint8_t *p, size_t len) {
  rd->p = p;
  /* No arithmetic on NULL, not even + 0. */
  rd->end = len != 0 ? p + len : p;
}

/* zttp_rd_len returns how many bytes are left. */
static inline size_t zttp_rd_len(const zttp_rd *rd) {
  return (size_t)(rd->end - rd->p);
}

static inline int zttp_rd_u8(zttp_rd *rd, uint8_t *out) {
  if (rd->p == rd->end) {
    return 0;
  }
  *out = *rd->p++;
  return 1;
}

/* Reads |n| (<= 8) bytes as a big-endian integer. */
static inline int zttp_rd_be_(zttp_rd *rd, uint64_t *out, size_t n) {
  if (zttp_rd_len(rd) < n) {
    return 0;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    v = v << 8 | rd->p[i];
  }
  rd->p += n;
  *out = v;
  return 1;
}

static inline int zttp_rd_u16(zttp_rd *rd, uint16_t *out) {
  uint64_t v;
  if (!zttp_rd_be_(rd, &v, 2)) {
    return 0;
  }
  *out = (uint16_t)v;
  return 1;
}

static inline int zttp_rd_u24(zttp_rd *rd, uint32_t *out) {
  uint64_t v;
  if (!zttp_rd_be_(rd, &v, 3)) {
    return 0;
  }
  *out = (uint32_t)v;
  return 1;
}

static inline int zttp_rd_u32(zttp_rd *rd, uint32_t *out) {
  uint64_t v;
  if (!zttp_rd_be_(rd, &v, 4)) {
    return 0;
  }
  *out = (uint32_t)v;
  return 1;
}

static inline int zttp_rd_u64(zttp_rd *rd, uint64_t *out) {
  return zttp_rd_be_(rd, out, 8);
}

/* zttp_rd_varint reads a QUIC variable-length integer (RFC 9000 §16: the
 * two high bits of the first byte give the length, 1, 2, 4 or 8 bytes).
 * Non-minimal encodings are accepted (§16 allows them). Returns 0 when the
 * encoding is truncated. */
static inline int zttp_rd_varint(zttp_rd *rd, uint64_t *out) {
  if (rd->p == rd->end) {
    return 0;
  }
  size_t n = (size_t)1 << (rd->p[0] >> 6);
  if (zttp_rd_len(rd) < n) {
    return 0;
  }
  uint64_t v = rd->p[0] & 0x3f;
  for (size_t i = 1; i < n; i++) {
    v = v << 8 | rd->p[i];
  }
  rd->p += n;
  *out = v;
  return 1;
}

/* zttp_rd_bytes borrows the next |n| bytes: |*out| points into the reader's
 * input (valid as long as that input is). With |n| == 0, |*out| is the
 * current position. */
static inline int zttp_rd_bytes(zttp_rd *rd, const uint8_t **out, size_t n) {
  if (zttp_rd_len(rd) < n) {
    return 0;
  }
  *out = rd->p;
  if (n != 0) {
    rd->p += n;
  }
  return 1;
}

static inline int zttp_rd_skip(zttp_rd *rd, size_t n) {
  if (zttp_rd_len(rd) < n) {
    return 0;
  }
  if (n != 0) {
    rd->p += n;
  }
  return 1;
}

#endif
