/* SPDX-License-Identifier: MIT */
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

static void *libc_malloc(size_t size, void *user) {
  (void)user;
  return malloc(size);
}

static void *libc_realloc(void *ptr, size_t size, void *user) {
  (void)user;
  return realloc(ptr, size);
}

static void libc_free(void *ptr, void *user) {
  (void)user;
  free(ptr);
}

static const zttp_mem default_mem = {libc_malloc, libc_realloc, libc_free,
                                     NULL};

const zttp_mem *zttp_mem_default(void) {
  return &default_mem;
}

void *zttp_mem_calloc(const zttp_mem *mem, size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) {
    return NULL;
  }
  void *p = zttp_mem_malloc(mem, n * size);
  if (p != NULL) {
    memset(p, 0, n * size);
  }
  return p;
}

char *zttp_mem_strdup(const zttp_mem *mem, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = zttp_mem_malloc(mem, n);
  if (p != NULL) {
    memcpy(p, s, n);
  }
  return p;
}
