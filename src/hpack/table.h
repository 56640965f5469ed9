/* The HPACK dynamic table (RFC 7541 §2.3.2, §4): a ring of entries over a
 * byte ring, both allocated once at init. Used by the decoder and the
 * encoder in hpack.c; see zttp_hpack_table in hpack.h for the layout.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_HPACK_TABLE_H
#define ZTTP_HPACK_TABLE_H

#include "zttp/zttp.h"

#include <string.h>

#include "hpack/hpack.h"

/* zttp_hpack_table_init allocates a table that can grow to |capacity| bytes
 * (RFC size) and starts at |max_size| (<= capacity); |with_index| also
 * allocates the name-hash chains the encoder searches. Returns 0 or
 * ZTTP_ERR_NOMEM (nothing allocated then). */
int32_t zttp_hpack_table_init(zttp_hpack_table *t, const zttp_mem *mem,
                              size_t capacity, size_t max_size, int with_index);

/* zttp_hpack_table_free frees what init allocated; a zeroed table is a
 * no-op. */
void zttp_hpack_table_free(zttp_hpack_table *t);

/* zttp_hpack_table_set_max sets the maximum size (<= capacity) and evicts
 * down to it (RFC 7541 §4.3). */
void zttp_hpack_table_set_max(zttp_hpack_table *t, size_t max_size);

/* zttp_hpack_table_insert adds an entry (RFC 7541 §4.4): evicts the oldest
 * entries until it fits, or empties the table when it is larger than the
 * maximum size. |name| and |value| must not point into the table. |hash|
 * links the entry into its chain when the table has an index. */
void zttp_hpack_table_insert(zttp_hpack_table *t, const uint8_t *name,
                             size_t name_len, const uint8_t *value,
                             size_t value_len, uint32_t hash);

/* zttp_hpack_table_slot returns the ring index of entry |age| (0 is the
 * newest, RFC 7541 index 62; age < num). */
static inline size_t zttp_hpack_table_slot(const zttp_hpack_table *t,
                                           size_t age) {
  size_t s = t->first + (t->num - 1 - age);
  return s >= t->ents_cap ? s - t->ents_cap : s;
}

/* zttp_hpack_table_copy copies |n| bytes of the byte ring from offset |off|
 * to |dst|. */
static inline void zttp_hpack_table_copy(const zttp_hpack_table *t,
                                         uint8_t *dst, size_t off, size_t n) {
  if (off + n <= t->capacity) {
    memcpy(dst, t->bytes + off, n);
  } else {
    size_t a = t->capacity - off;
    memcpy(dst, t->bytes + off, a);
    memcpy(dst + a, t->bytes, n - a);
  }
}

static inline uint64_t zttp_hpack_load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline uint32_t zttp_hpack_load32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* zttp_hpack_bytes_eq compares |n| bytes without a call: words, the last
 * one overlapping. */
static inline int zttp_hpack_bytes_eq(const uint8_t *a, const uint8_t *b,
                                      size_t n) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (zttp_hpack_load64(a + i) != zttp_hpack_load64(b + i)) {
        return 0;
      }
    }
    return zttp_hpack_load64(a + n - 8) == zttp_hpack_load64(b + n - 8);
  }
  if (n >= 4) {
    return zttp_hpack_load32(a) == zttp_hpack_load32(b) &&
           zttp_hpack_load32(a + n - 4) == zttp_hpack_load32(b + n - 4);
  }
  if (n == 0) {
    return 1;
  }
  return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}

/* zttp_hpack_table_eq says whether the |n| bytes of the ring at |off| are
 * the |n| bytes at |p|. */
static inline int zttp_hpack_table_eq(const zttp_hpack_table *t, size_t off,
                                      const uint8_t *p, size_t n) {
  if (n == 0) {
    return 1;
  }
  if (off >= t->capacity) {
    off -= t->capacity;
  }
  if (off + n <= t->capacity) {
    return zttp_hpack_bytes_eq(t->bytes + off, p, n);
  }
  size_t a = t->capacity - off;
  return zttp_hpack_bytes_eq(t->bytes + off, p, a) &&
         zttp_hpack_bytes_eq(t->bytes, p + a, n - a);
}

#endif
