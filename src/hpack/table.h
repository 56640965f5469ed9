/* The HPACK dynamic table (RFC 7541 §2.3.2, §4): a ring of entries over a
 * byte ring, both allocated once at init. Used by the decoder and the
 * encoder in hpack.c; see zttp_hpack_table in hpack.h for the layout.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_HPACK_TABLE_H
#define ZTTP_HPACK_TABLE_H

#include "zttp/zttp.h"

#include "common/ftable.h"
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
  return zttp_ftable_slot(t->first, t->num - 1 - age, t->ents_cap);
}

/* zttp_hpack_table_copy copies |n| bytes of the byte ring from offset |off|
 * to |dst|. */
static inline void zttp_hpack_table_copy(const zttp_hpack_table *t,
                                         uint8_t *dst, size_t off, size_t n) {
  zttp_ftable_copy(t->bytes, t->capacity, dst, off, n);
}

/* zttp_hpack_table_eq says whether the |n| bytes of the ring at |off| are
 * the |n| bytes at |p|. */
static inline int zttp_hpack_table_eq(const zttp_hpack_table *t, size_t off,
                                      const uint8_t *p, size_t n) {
  return zttp_ftable_eq(t->bytes, t->capacity, off, p, n);
}

#endif
