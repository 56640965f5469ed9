/* The parts of a dynamic table of name/value entries (RFC 7541 §2.3.2, §4;
 * RFC 9204 §3.2) that HPACK and QPACK share: the 32-byte entry overhead,
 * the byte ring that holds each entry's name then value (which may wrap
 * around the ring's end), the ring index arithmetic of the entry ring and
 * the one-block allocation of the arrays. What differs stays in each codec:
 * its entry type (HPACK chains names, QPACK also names and values), HPACK's
 * indexing from the newest entry against QPACK's absolute indices, and when
 * entries may be evicted. SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_FTABLE_H
#define ZTTP_COMMON_FTABLE_H

#include "zttp/zttp.h"

#include <string.h>

#include "common/mem.h"

/* RFC 7541 §4.1, RFC 9204 §3.2.1: an entry's size is its name and value
 * lengths plus 32. */
#define ZTTP_FTABLE_ENTRY_OVERHEAD 32

/* zttp_ftable_entry_size returns the RFC size of an entry. */
static inline size_t zttp_ftable_entry_size(size_t name_len, size_t value_len) {
  return name_len + value_len + ZTTP_FTABLE_ENTRY_OVERHEAD;
}

/* zttp_ftable_slot returns the ring index |i| places after |first| in a
 * ring of |cap| entries (first < cap, i <= cap). */
static inline size_t zttp_ftable_slot(size_t first, size_t i, size_t cap) {
  size_t s = first + i;
  return s >= cap ? s - cap : s;
}

/* zttp_ftable_name_hash is the name hash of the encoders' chains and of
 * their static tables' precomputed hashes (32-bit FNV-1a, as
 * src/qpack/gen_static_table.py and scripts/gen-hpack-static.py compute
 * it; keep them in sync). */
static inline uint32_t zttp_ftable_name_hash(const uint8_t *p, size_t n) {
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < n; i++) {
    h = (h ^ p[i]) * 0x01000193u;
  }
  return h;
}

/* The arrays of one table, as zttp_ftable_alloc() makes them. */
typedef struct zttp_ftable_arrays {
  uint8_t *bytes;     /* the byte ring (NULL when it has 0 bytes) */
  void *ents;         /* the entry ring, zeroed */
  uint64_t *buckets;  /* num_chains arrays of num_buckets, all 1s, or NULL */
  size_t ents_cap;    /* entries: ring_len / 32 + 1 */
  size_t num_buckets; /* a power of two (0 without chains) */
} zttp_ftable_arrays;

/* zttp_ftable_alloc allocates, in this order, a byte ring of |ring_len|
 * bytes, an entry ring of as many entries of |ent_size| bytes as fit (each
 * entry counts 32 bytes more than it stores) and, when |num_chains| > 0,
 * that many bucket arrays in one block, every bucket all 1s (an index no
 * entry ever has). Returns 0 or ZTTP_ERR_NOMEM (also for a ring above
 * UINT32_MAX / 2: offsets and lengths are 32-bit); nothing is allocated
 * then and *out is zeroed. */
int32_t zttp_ftable_alloc(zttp_ftable_arrays *out, const zttp_mem *mem,
                          size_t ring_len, size_t ent_size, size_t num_chains);

/* zttp_ftable_free frees the arrays zttp_ftable_alloc() allocated (any of
 * them may be NULL). */
void zttp_ftable_free(const zttp_mem *mem, uint8_t *bytes, void *ents,
                      uint64_t *buckets);

/* zttp_ftable_put writes |name| then |value| (neither NULL, not even when
 * empty, nor pointing into the ring) at *head in the byte ring |ring| of
 * |ring_len| bytes, which has room for them, advances *head past them and
 * returns where they start. */
static inline size_t zttp_ftable_put(uint8_t *ring, size_t ring_len,
                                     size_t *head, const uint8_t *name,
                                     size_t name_len, const uint8_t *value,
                                     size_t value_len) {
  size_t off = *head;
  size_t a = ring_len - off;
  if (name_len <= a) {
    memcpy(ring + off, name, name_len);
    a -= name_len;
    if (value_len <= a) {
      memcpy(ring + off + name_len, value, value_len);
    } else {
      memcpy(ring + off + name_len, value, a);
      memcpy(ring, value + a, value_len - a);
    }
  } else {
    memcpy(ring + off, name, a);
    memcpy(ring, name + a, name_len - a);
    memcpy(ring + (name_len - a), value, value_len);
  }
  size_t end = off + name_len + value_len;
  *head = end >= ring_len ? end - ring_len : end;
  return off;
}

/* zttp_ftable_copy copies |n| bytes of the byte ring |ring| (|ring_len|
 * bytes, not NULL) from offset |off| (< ring_len) to |dst| (not NULL). */
static inline void zttp_ftable_copy(const uint8_t *ring, size_t ring_len,
                                    uint8_t *dst, size_t off, size_t n) {
  if (off + n <= ring_len) {
    memcpy(dst, ring + off, n);
  } else {
    size_t a = ring_len - off;
    memcpy(dst, ring + off, a);
    memcpy(dst + a, ring, n - a);
  }
}

/* zttp_ftable_load64 loads 8 unaligned bytes. */
static inline uint64_t zttp_ftable_load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* zttp_ftable_load32 loads 4 unaligned bytes. */
static inline uint32_t zttp_ftable_load32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* zttp_ftable_bytes_eq compares |n| bytes without a call: words, the last
 * one overlapping. */
static inline int zttp_ftable_bytes_eq(const uint8_t *a, const uint8_t *b,
                                       size_t n) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (zttp_ftable_load64(a + i) != zttp_ftable_load64(b + i)) {
        return 0;
      }
    }
    return zttp_ftable_load64(a + n - 8) == zttp_ftable_load64(b + n - 8);
  }
  if (n >= 4) {
    return zttp_ftable_load32(a) == zttp_ftable_load32(b) &&
           zttp_ftable_load32(a + n - 4) == zttp_ftable_load32(b + n - 4);
  }
  if (n == 0) {
    return 1;
  }
  return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}

/* zttp_ftable_eq says whether the |n| bytes of the byte ring |ring|
 * (|ring_len| bytes) at |off| (< 2 * ring_len) are the |n| bytes at |p|. */
static inline int zttp_ftable_eq(const uint8_t *ring, size_t ring_len,
                                 size_t off, const uint8_t *p, size_t n) {
  if (n == 0) {
    return 1;
  }
  if (off >= ring_len) {
    off -= ring_len;
  }
  if (off + n <= ring_len) {
    return zttp_ftable_bytes_eq(ring + off, p, n);
  }
  size_t a = ring_len - off;
  return zttp_ftable_bytes_eq(ring + off, p, a) &&
         zttp_ftable_bytes_eq(ring, p + a, n - a);
}

#endif
