/* The output arrays of a field-section decoder; see fieldbuf.h.
 * SPDX-License-Identifier: MIT */
#include "common/fieldbuf.h"

#include <string.h>

void zttp_fieldbuf_free(zttp_fieldbuf *f, const zttp_mem *mem) {
  if (f->fields != NULL) {
    zttp_mem_free(mem, f->fields);
  }
  if (f->bytes != NULL) {
    zttp_mem_free(mem, f->bytes);
  }
  memset(f, 0, sizeof(*f));
}

int32_t zttp_fieldbuf_grow_fields(zttp_fieldbuf *f, const zttp_mem *mem) {
  size_t cap = f->cap_fields < 16 ? 16 : f->cap_fields * 2;
  if (cap > SIZE_MAX / sizeof(zttp_header)) {
    return ZTTP_ERR_NOMEM;
  }
  zttp_header *a = zttp_mem_realloc(mem, f->fields, cap * sizeof(*a));
  if (a == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  f->fields = a;
  f->cap_fields = cap;
  return 0;
}
