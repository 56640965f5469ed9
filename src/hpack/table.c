/* SPDX-License-Identifier: MIT */
#include "hpack/table.h"

int32_t zttp_hpack_table_init(zttp_hpack_table *t, const zttp_mem *mem,
                              size_t capacity, size_t max_size,
                              int with_index) {
  memset(t, 0, sizeof(*t));
  zttp_ftable_arrays a;
  int32_t rv = zttp_ftable_alloc(&a, mem, capacity, sizeof(*t->ents),
                                 with_index ? 1 : 0);
  if (rv != 0) {
    return rv;
  }
  t->mem = mem;
  t->bytes = a.bytes;
  t->ents = a.ents;
  t->buckets = a.buckets;
  t->ents_cap = a.ents_cap;
  t->num_buckets = a.num_buckets;
  t->capacity = capacity;
  t->max_size = max_size < capacity ? max_size : capacity;
  return 0;
}

void zttp_hpack_table_free(zttp_hpack_table *t) {
  if (t->mem == NULL) {
    return;
  }
  zttp_ftable_free(t->mem, t->bytes, t->ents, t->buckets);
  memset(t, 0, sizeof(*t));
}

static void evict_oldest(zttp_hpack_table *t) {
  const zttp_hpack_entry *e = &t->ents[t->first];
  t->size -= zttp_ftable_entry_size(e->name_len, e->value_len);
  t->first = t->first + 1 == t->ents_cap ? 0 : t->first + 1;
  t->num--;
  if (t->num == 0) {
    t->first = 0;
    t->bytes_head = 0;
  }
}

void zttp_hpack_table_set_max(zttp_hpack_table *t, size_t max_size) {
  t->max_size = max_size;
  while (t->size > max_size) {
    evict_oldest(t);
  }
}

void zttp_hpack_table_insert(zttp_hpack_table *t, const uint8_t *name,
                             size_t name_len, const uint8_t *value,
                             size_t value_len, uint32_t hash) {
  size_t need = zttp_ftable_entry_size(name_len, value_len);
  if (need > t->max_size) {
    /* RFC 7541 §4.4: not an error; the table ends up empty. */
    while (t->num > 0) {
      evict_oldest(t);
    }
    return;
  }
  while (t->size + need > t->max_size) {
    evict_oldest(t);
  }
  /* Fits: the bytes in use are size - 32 * num <= capacity - n. */
  zttp_hpack_entry *e =
      &t->ents[zttp_ftable_slot(t->first, t->num, t->ents_cap)];
  e->off = (uint32_t)zttp_ftable_put(t->bytes, t->capacity, &t->bytes_head,
                                     name, name_len, value, value_len);
  e->name_len = (uint32_t)name_len;
  e->value_len = (uint32_t)value_len;
  e->hash = hash;
  if (t->buckets != NULL) {
    uint64_t *b = &t->buckets[hash & (t->num_buckets - 1)];
    e->next = *b;
    *b = t->next_seq;
  }
  t->next_seq++;
  t->num++;
  t->size += need;
}
