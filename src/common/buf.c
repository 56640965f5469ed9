/* SPDX-License-Identifier: MIT */
#include "common/buf.h"

#include <string.h>

void zttp_buf_free(zttp_buf *b, const zttp_mem *mem) {
  zttp_mem_free(mem, b->data);
  b->data = NULL;
  b->start = b->end = b->cap = 0;
}

int32_t zttp_buf_reserve(zttp_buf *b, const zttp_mem *mem, size_t n) {
  size_t used = b->end - b->start;
  if (n > b->limit - used) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  if (b->cap - b->end >= n) {
    return 0;
  }
  if (b->start > 0) {
    memmove(b->data, b->data + b->start, used);
    b->start = 0;
    b->end = used;
    if (b->cap - used >= n) {
      return 0;
    }
  }
  size_t cap = b->cap == 0 ? 1024 : b->cap;
  while (cap - used < n) {
    cap *= 2;
  }
  if (cap > b->limit) {
    cap = b->limit;
  }
  uint8_t *d = zttp_mem_realloc(mem, b->data, cap);
  if (d == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  b->data = d;
  b->cap = cap;
  return 0;
}
