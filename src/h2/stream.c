/* SPDX-License-Identifier: MIT */
#include "h2/stream.h"

#include <string.h>

static size_t slot_of(uint32_t id, size_t cap) {
  /* Client ids are odd and server ids even: mix before masking. */
  return (size_t)((id * 0x9e3779b1u) >> 7) & (cap - 1);
}

void zttp_h2_stream_table_free(zttp_h2_stream_table *t, const zttp_mem *mem) {
  zttp_mem_free(mem, t->slots);
  t->slots = NULL;
  t->cap = t->num = 0;
}

zttp_h2_stream *zttp_h2_stream_find(const zttp_h2_stream_table *t,
                                    uint32_t id) {
  if (t->num == 0) {
    return NULL;
  }
  for (size_t i = slot_of(id, t->cap);; i = (i + 1) & (t->cap - 1)) {
    zttp_h2_stream *s = t->slots[i];
    if (s == NULL || s->id == id) {
      return s;
    }
  }
}

static void put(zttp_h2_stream **slots, size_t cap, zttp_h2_stream *s) {
  size_t i = slot_of(s->id, cap);
  while (slots[i] != NULL) {
    i = (i + 1) & (cap - 1);
  }
  slots[i] = s;
}

int32_t zttp_h2_stream_insert(zttp_h2_stream_table *t, const zttp_mem *mem,
                              zttp_h2_stream *s) {
  if ((t->num + 1) * 2 > t->cap) {
    size_t cap = t->cap == 0 ? 16 : t->cap * 2;
    zttp_h2_stream **slots = zttp_mem_calloc(mem, cap, sizeof(*slots));
    if (slots == NULL) {
      return ZTTP_ERR_NOMEM;
    }
    for (size_t i = 0; i < t->cap; i++) {
      if (t->slots[i] != NULL) {
        put(slots, cap, t->slots[i]);
      }
    }
    zttp_mem_free(mem, t->slots);
    t->slots = slots;
    t->cap = cap;
  }
  put(t->slots, t->cap, s);
  t->num++;
  return 0;
}

void zttp_h2_stream_remove(zttp_h2_stream_table *t, uint32_t id) {
  if (t->num == 0) {
    return;
  }
  size_t mask = t->cap - 1;
  size_t i = slot_of(id, t->cap);
  while (t->slots[i] != NULL && t->slots[i]->id != id) {
    i = (i + 1) & mask;
  }
  if (t->slots[i] == NULL) {
    return;
  }
  t->slots[i] = NULL;
  t->num--;
  /* Backward-shift: move later entries of the probe run into the hole. */
  for (size_t j = (i + 1) & mask; t->slots[j] != NULL; j = (j + 1) & mask) {
    size_t home = slot_of(t->slots[j]->id, t->cap);
    /* Move j to i if home is not cyclically in (i, j]. */
    int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!in_range) {
      t->slots[i] = t->slots[j];
      t->slots[j] = NULL;
      i = j;
    }
  }
}
