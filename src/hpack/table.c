/* SPDX-License-Identifier: MIT */
#include "hpack/table.h"

int32_t zttp_hpack_table_init(zttp_hpack_table *t, const zttp_mem *mem,
                              size_t capacity, size_t max_size,
                              int with_index) {
  memset(t, 0, sizeof(*t));
  /* Offsets and lengths are 32-bit. */
  if (capacity > UINT32_MAX / 2) {
    return ZTTP_ERR_NOMEM;
  }
  t->mem = mem;
  t->capacity = capacity;
  t->max_size = max_size < capacity ? max_size : capacity;
  /* RFC 7541 §4.1: each entry counts 32 bytes more than it stores. */
  t->ents_cap = capacity / ZTTP_HPACK_ENTRY_OVERHEAD + 1;
  if (capacity > 0) {
    t->bytes = zttp_mem_malloc(mem, capacity);
    if (t->bytes == NULL) {
      goto fail_bytes;
    }
  }
  t->ents = zttp_mem_calloc(mem, t->ents_cap, sizeof(*t->ents));
  if (t->ents == NULL) {
    goto fail_ents;
  }
  if (with_index) {
    size_t nb = 8;
    while (nb < t->ents_cap) {
      nb *= 2;
    }
    t->buckets = zttp_mem_calloc(mem, nb, sizeof(*t->buckets));
    if (t->buckets == NULL) {
      goto fail_buckets;
    }
    /* An empty bucket: never below next_seq. */
    memset(t->buckets, 0xff, nb * sizeof(*t->buckets));
    t->num_buckets = nb;
  }
  return 0;

fail_buckets:
  zttp_mem_free(mem, t->ents);
fail_ents:
  if (t->bytes != NULL) {
    zttp_mem_free(mem, t->bytes);
  }
fail_bytes:
  memset(t, 0, sizeof(*t));
  return ZTTP_ERR_NOMEM;
}

void zttp_hpack_table_free(zttp_hpack_table *t) {
  if (t->mem == NULL) {
    return;
  }
  if (t->bytes != NULL) {
    zttp_mem_free(t->mem, t->bytes);
  }
  zttp_mem_free(t->mem, t->ents);
  if (t->buckets != NULL) {
    zttp_mem_free(t->mem, t->buckets);
  }
  memset(t, 0, sizeof(*t));
}

static void evict_oldest(zttp_hpack_table *t) {
  const zttp_hpack_entry *e = &t->ents[t->first];
  t->size -= (size_t)e->name_len + e->value_len + ZTTP_HPACK_ENTRY_OVERHEAD;
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
  size_t n = name_len + value_len;
  size_t need = n + ZTTP_HPACK_ENTRY_OVERHEAD;
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
  size_t off = t->bytes_head;
  size_t a = t->capacity - off;
  if (name_len <= a) {
    memcpy(t->bytes + off, name, name_len);
    a -= name_len;
    if (value_len <= a) {
      memcpy(t->bytes + off + name_len, value, value_len);
    } else {
      memcpy(t->bytes + off + name_len, value, a);
      memcpy(t->bytes, value + a, value_len - a);
    }
  } else {
    memcpy(t->bytes + off, name, a);
    memcpy(t->bytes, name + a, name_len - a);
    memcpy(t->bytes + (name_len - a), value, value_len);
  }
  off += n;
  t->bytes_head = off >= t->capacity ? off - t->capacity : off;

  size_t slot = t->first + t->num;
  if (slot >= t->ents_cap) {
    slot -= t->ents_cap;
  }
  zttp_hpack_entry *e = &t->ents[slot];
  e->off = (uint32_t)(t->bytes_head >= n ? t->bytes_head - n
                                         : t->bytes_head + t->capacity - n);
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
