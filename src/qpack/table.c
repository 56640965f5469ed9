/* The QPACK dynamic table (RFC 9204 §3.2); see table.h.
 * SPDX-License-Identifier: MIT */
#include "qpack/table.h"

int32_t zttp_qpack_table_init(zttp_qpack_table *t, const zttp_mem *mem,
                              size_t max_capacity, int with_index) {
  memset(t, 0, sizeof(*t));
  /* The name chains and the name-and-value chains. */
  zttp_ftable_arrays a;
  int32_t rv = zttp_ftable_alloc(&a, mem, max_capacity, sizeof(*t->ents),
                                 with_index ? 2 : 0);
  if (rv != 0) {
    return rv;
  }
  t->mem = mem;
  t->bytes = a.bytes;
  t->ents = a.ents;
  t->buckets = a.buckets;
  t->vbuckets = a.buckets != NULL ? a.buckets + a.num_buckets : NULL;
  t->ents_cap = a.ents_cap;
  t->num_buckets = a.num_buckets;
  t->max_capacity = max_capacity;
  return 0;
}

void zttp_qpack_table_free(zttp_qpack_table *t) {
  if (t->mem == NULL) {
    return;
  }
  zttp_ftable_free(t->mem, t->bytes, t->ents, t->buckets);
  memset(t, 0, sizeof(*t));
}

void zttp_qpack_table_evict_oldest(zttp_qpack_table *t) {
  const zttp_qpack_entry *e = &t->ents[t->first];
  t->size -= zttp_ftable_entry_size(e->name_len, e->value_len);
  t->first = t->first + 1 == t->ents_cap ? 0 : t->first + 1;
  t->num--;
  if (t->num == 0) {
    t->first = 0;
    t->bytes_head = 0;
  }
}

void zttp_qpack_table_set_capacity(zttp_qpack_table *t, size_t capacity) {
  t->capacity = capacity;
  while (t->size > capacity) {
    zttp_qpack_table_evict_oldest(t);
  }
}

size_t zttp_qpack_table_evictions(const zttp_qpack_table *t, size_t need) {
  size_t n = 0;
  size_t size = t->size;
  size_t slot = t->first;
  while (size + need > t->capacity && n < t->num) {
    const zttp_qpack_entry *e = &t->ents[slot];
    size -= zttp_ftable_entry_size(e->name_len, e->value_len);
    slot = slot + 1 == t->ents_cap ? 0 : slot + 1;
    n++;
  }
  return n;
}

void zttp_qpack_table_insert(zttp_qpack_table *t, const uint8_t *name,
                             size_t name_len, const uint8_t *value,
                             size_t value_len, uint32_t hash, uint32_t vhash) {
  size_t need = zttp_ftable_entry_size(name_len, value_len);
  while (t->size + need > t->capacity && t->num > 0) {
    zttp_qpack_table_evict_oldest(t);
  }
  /* Fits: the bytes in use are size - 32 * num <= max_capacity - n. An
   * empty name or value may come as NULL; zttp_ftable_put() takes none. */
  if (name_len == 0) {
    name = (const uint8_t *)"";
  }
  if (value_len == 0) {
    value = (const uint8_t *)"";
  }
  zttp_qpack_entry *e =
      &t->ents[zttp_ftable_slot(t->first, t->num, t->ents_cap)];
  e->off = (uint32_t)zttp_ftable_put(t->bytes, t->max_capacity, &t->bytes_head,
                                     name, name_len, value, value_len);
  e->name_len = (uint32_t)name_len;
  e->value_len = (uint32_t)value_len;
  e->hash = hash;
  e->vhash = vhash;
  if (t->buckets != NULL) {
    uint64_t *b = &t->buckets[hash & (t->num_buckets - 1)];
    e->next = *b;
    *b = t->inserts;
    b = &t->vbuckets[vhash & (t->num_buckets - 1)];
    e->vnext = *b;
    *b = t->inserts;
  }
  t->inserts++;
  t->num++;
  t->size += need;
}
