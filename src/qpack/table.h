/* The QPACK dynamic table (RFC 9204 §3.2): a ring of entries over a byte
 * ring, both allocated once at init, addressed by absolute index (§3.2.4).
 * Used by the decoder (decoder.c) and the encoder (encoder.c).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QPACK_TABLE_H
#define ZTTP_QPACK_TABLE_H

#include "zttp/zttp.h"

#include "common/ftable.h"
#include "common/mem.h"

/* RFC 9204 §3.2.1: an entry's size is its name and value lengths plus 32. */
#define ZTTP_QPACK_ENTRY_OVERHEAD ZTTP_FTABLE_ENTRY_OVERHEAD

/* One entry of a dynamic table. */
typedef struct zttp_qpack_entry {
  uint32_t off;      /* ring offset of the name in |bytes|; the value follows */
  uint32_t name_len; /* the entry's bytes may wrap around the ring's end */
  uint32_t value_len;
  uint32_t hash;  /* encoder: hash of the name */
  uint32_t vhash; /* encoder: hash of the name and value */
  uint64_t next;  /* encoder: absolute index of the next older entry in
                     the same name-hash bucket */
  uint64_t vnext; /* encoder: the same for the name-and-value buckets */
} zttp_qpack_entry;

/* One dynamic table. |capacity| is the current RFC 9204 capacity (set by
 * Set Dynamic Table Capacity, §4.3.1), at most |max_capacity|, which sizes
 * the byte ring (enough: every entry counts 32 more than its bytes).
 * Entries are numbered by absolute index (§3.2.4): the oldest entry still
 * in the table is |inserts| - |num|. The encoder chains entries per name
 * hash, newest first; a chain ends at the first index no longer in the
 * table, so eviction never touches the chains. */
typedef struct zttp_qpack_table {
  const zttp_mem *mem;
  uint8_t *bytes;         /* entry bytes (name then value), ring */
  zttp_qpack_entry *ents; /* entries, ring */
  uint64_t *buckets;      /* encoder: newest absolute index per bucket */
  uint64_t *vbuckets;     /* encoder: the same by name and value */
  size_t ents_cap;        /* max entries: max_capacity / 32 + 1 */
  size_t num_buckets;     /* encoder: a power of two (0 in a decoder) */
  size_t first;           /* ring index of the oldest entry */
  size_t num;             /* entries in the table */
  size_t size;            /* current size (§3.2.1) */
  size_t capacity;        /* current capacity (<= max_capacity) */
  size_t max_capacity;    /* the most capacity can ever be */
  size_t bytes_head;      /* ring offset of the next entry's bytes */
  uint64_t inserts;       /* Insert Count: insertions and duplications */
} zttp_qpack_table;

/* zttp_qpack_table_init allocates a table whose capacity can grow to
 * |max_capacity| bytes and starts at 0 (RFC 9204 §3.2.3); |with_index| also
 * allocates the name-hash and name-and-value-hash chains the encoder
 * searches. Returns 0 or ZTTP_ERR_NOMEM (nothing allocated then; freeing is
 * a no-op). */
int32_t zttp_qpack_table_init(zttp_qpack_table *t, const zttp_mem *mem,
                              size_t max_capacity, int with_index);

/* zttp_qpack_table_free frees what init allocated; a zeroed table is a
 * no-op. */
void zttp_qpack_table_free(zttp_qpack_table *t);

/* zttp_qpack_table_evict_oldest drops the oldest entry (num > 0). */
void zttp_qpack_table_evict_oldest(zttp_qpack_table *t);

/* zttp_qpack_table_set_capacity sets the capacity (<= max_capacity) and
 * evicts down to it (RFC 9204 §3.2.3; the encoder checks evictability
 * first). */
void zttp_qpack_table_set_capacity(zttp_qpack_table *t, size_t capacity);

/* zttp_qpack_table_evictions returns how many of the oldest entries must go
 * before an entry of |need| bytes (name + value + 32 <= capacity) fits. */
size_t zttp_qpack_table_evictions(const zttp_qpack_table *t, size_t need);

/* zttp_qpack_table_insert adds an entry (RFC 9204 §3.2.2), evicting the
 * oldest entries until it fits; the caller has checked that name + value +
 * 32 <= capacity and that those entries may go. |name| and |value| must not
 * point into the table. |hash| (name) and |vhash| (name and value) link the
 * entry into its chains when the table has an index. */
void zttp_qpack_table_insert(zttp_qpack_table *t, const uint8_t *name,
                             size_t name_len, const uint8_t *value,
                             size_t value_len, uint32_t hash, uint32_t vhash);

/* zttp_qpack_table_dropped returns the absolute index of the oldest entry
 * (equivalently, how many entries were ever evicted). */
static inline uint64_t zttp_qpack_table_dropped(const zttp_qpack_table *t) {
  return t->inserts - t->num;
}

/* zttp_qpack_table_get returns the entry of absolute index |abs|, which
 * must be in the table (dropped <= abs < inserts). */
static inline zttp_qpack_entry *zttp_qpack_table_get(const zttp_qpack_table *t,
                                                     uint64_t abs) {
  return &t->ents[zttp_ftable_slot(
      t->first, (size_t)(abs - zttp_qpack_table_dropped(t)), t->ents_cap)];
}

/* zttp_qpack_table_copy copies |n| bytes of the byte ring from offset |off|
 * to |dst|. */
static inline void zttp_qpack_table_copy(const zttp_qpack_table *t,
                                         uint8_t *dst, size_t off, size_t n) {
  zttp_ftable_copy(t->bytes, t->max_capacity, dst, off, n);
}

/* zttp_qpack_table_eq says whether the |n| bytes of the ring at |off| are
 * the |n| bytes at |p|. */
static inline int zttp_qpack_table_eq(const zttp_qpack_table *t, size_t off,
                                      const uint8_t *p, size_t n) {
  return zttp_ftable_eq(t->bytes, t->max_capacity, off, p, n);
}

#endif
