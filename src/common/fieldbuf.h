/* The output arrays of a field-section decoder (HPACK, QPACK): the decoded
 * fields and the bytes of the strings they do not borrow from static
 * memory. Both arrays grow by doubling and are reused from one decode to
 * the next; how a codec keeps its fields' pointers right while |bytes|
 * moves is the codec's own. SPDX-License-Identifier: MIT */
#ifndef ZTTP_COMMON_FIELDBUF_H
#define ZTTP_COMMON_FIELDBUF_H

#include "zttp/zttp.h"

#include "common/mem.h"

typedef struct zttp_fieldbuf {
  zttp_header *fields;
  size_t num_fields;
  size_t cap_fields;
  uint8_t *bytes;
  size_t len_bytes;
  size_t cap_bytes;
} zttp_fieldbuf;

/* zttp_fieldbuf_free frees the arrays of |f| (allocated with |mem|) and
 * zeroes it; a zeroed |f| is a no-op. */
void zttp_fieldbuf_free(zttp_fieldbuf *f, const zttp_mem *mem);

/* zttp_fieldbuf_grow_fields doubles the field array (16 at first).
 * Returns 0 or ZTTP_ERR_NOMEM (|f| unchanged then). */
int32_t zttp_fieldbuf_grow_fields(zttp_fieldbuf *f, const zttp_mem *mem);

/* zttp_fieldbuf_push returns a new field at the end of f->fields (its
 * members unset), or NULL when the array could not grow. */
static inline zttp_header *zttp_fieldbuf_push(zttp_fieldbuf *f,
                                              const zttp_mem *mem) {
  if (__builtin_expect(f->num_fields == f->cap_fields, 0) &&
      zttp_fieldbuf_grow_fields(f, mem) != 0) {
    return NULL;
  }
  return &f->fields[f->num_fields++];
}

#endif
