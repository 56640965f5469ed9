/* A set of disjoint half-open uint64 ranges [start, end), kept sorted in a
 * bounded array. QUIC uses it for received packet numbers (ACK ranges,
 * RFC 9000 §13.2.3), received stream and CRYPTO offsets (reassembly,
 * RFC 9000 §2.2) and acknowledged send offsets. The cap bounds memory
 * against a peer that makes many holes: an insertion that would exceed it
 * fails without changing the set, and the caller decides (drop the packet,
 * forget the oldest range, close the connection).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_RANGES_H
#define ZTTP_COMMON_RANGES_H

#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"

typedef struct zttp_range {
  uint64_t start;
  uint64_t end; /* exclusive */
} zttp_range;

typedef struct zttp_ranges {
  zttp_range *r;
  size_t num;
  size_t cap;     /* allocated entries */
  size_t max_num; /* the most ranges the set may hold */
} zttp_ranges;

static inline void zttp_ranges_init(zttp_ranges *s, size_t max_num) {
  s->r = NULL;
  s->num = s->cap = 0;
  s->max_num = max_num;
}

void zttp_ranges_free(zttp_ranges *s, const zttp_mem *mem);

/* zttp_ranges_add inserts [start, end) (start < end), merging with
 * overlapping and adjacent ranges. Returns 0, ZTTP_ERR_BUFFER_FULL (the
 * result would exceed max_num ranges; the set is unchanged) or
 * ZTTP_ERR_NOMEM (unchanged). */
int32_t zttp_ranges_add(zttp_ranges *s, const zttp_mem *mem, uint64_t start,
                        uint64_t end);

/* zttp_ranges_remove_below drops everything below |x| (ranges that straddle
 * it are cut). */
void zttp_ranges_remove_below(zttp_ranges *s, uint64_t x);

/* zttp_ranges_remove_first drops the lowest range. */
void zttp_ranges_remove_first(zttp_ranges *s);

/* zttp_ranges_contains returns 1 when |x| is in the set. */
int zttp_ranges_contains(const zttp_ranges *s, uint64_t x);

/* zttp_ranges_covered returns how far the set covers contiguously from
 * |from|: the end of the range holding |from|, or |from| itself. */
uint64_t zttp_ranges_covered(const zttp_ranges *s, uint64_t from);

static inline int zttp_ranges_empty(const zttp_ranges *s) {
  return s->num == 0;
}

/* The highest value in the set; the set must not be empty. */
static inline uint64_t zttp_ranges_max(const zttp_ranges *s) {
  return s->r[s->num - 1].end - 1;
}

#endif
