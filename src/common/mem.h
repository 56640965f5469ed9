/* The configured allocator. Nothing in src/ outside this pair calls the C
 * library's allocator directly. SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_MEM_H
#define ZTTP_COMMON_MEM_H

#include "zttp/zttp.h"

typedef zttp_allocator zttp_mem;

/* zttp_mem_default returns the C library's malloc/realloc/free. */
const zttp_mem *zttp_mem_default(void);

static inline void *zttp_mem_malloc(const zttp_mem *mem, size_t size) {
  return mem->malloc(size, mem->user);
}

static inline void *zttp_mem_realloc(const zttp_mem *mem, void *ptr,
                                     size_t size) {
  return mem->realloc(ptr, size, mem->user);
}

static inline void zttp_mem_free(const zttp_mem *mem, void *ptr) {
  mem->free(ptr, mem->user);
}

/* zttp_mem_calloc allocates |n| * |size| zeroed bytes, NULL on overflow. */
void *zttp_mem_calloc(const zttp_mem *mem, size_t n, size_t size);

/* zttp_mem_strdup copies a NUL-terminated string, NULL stays NULL (*ok = 1). */
char *zttp_mem_strdup(const zttp_mem *mem, const char *s);

#endif
