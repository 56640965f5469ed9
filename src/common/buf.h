/* A bounded byte buffer: [start, end) holds data, it grows by doubling up to
 * |limit| and compacts before growing. No allocation once it has reached the
 * size the traffic needs. SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_BUF_H
#define ZTTP_COMMON_BUF_H

#include "common/mem.h"

typedef struct zttp_buf {
  uint8_t *data;
  size_t start;
  size_t end;
  size_t cap;
  size_t limit;
} zttp_buf;

static inline void zttp_buf_init(zttp_buf *b, size_t limit) {
  b->data = NULL;
  b->start = b->end = b->cap = 0;
  b->limit = limit;
}

void zttp_buf_free(zttp_buf *b, const zttp_mem *mem);

static inline size_t zttp_buf_len(const zttp_buf *b) {
  return b->end - b->start;
}

/* zttp_buf_room returns how many bytes could still be appended under the
 * limit (after compaction and growth). */
static inline size_t zttp_buf_room(const zttp_buf *b) {
  return b->limit - zttp_buf_len(b);
}

/* zttp_buf_reserve makes |n| bytes writable at data + end. Returns 0,
 * ZTTP_ERR_BUFFER_FULL (over the limit; nothing changed) or ZTTP_ERR_NOMEM.
 * Moves the data: pointers into the buffer become invalid. */
int32_t zttp_buf_reserve(zttp_buf *b, const zttp_mem *mem, size_t n);

/* zttp_buf_consume drops |n| bytes from the front. */
static inline void zttp_buf_consume(zttp_buf *b, size_t n) {
  b->start += n;
  if (b->start == b->end) {
    b->start = b->end = 0;
  }
}

/* Appends without checks; zttp_buf_reserve() must have made room. */
static inline uint8_t *zttp_buf_put(zttp_buf *b, const void *p, size_t n) {
  if (n == 0) {
    /* No arithmetic on a buffer that was never allocated. */
    return b->data != NULL ? b->data + b->end : NULL;
  }
  uint8_t *dst = b->data + b->end;
  __builtin_memcpy(dst, p, n);
  b->end += n;
  return dst + n;
}

#endif
