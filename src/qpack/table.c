/* The QPACK dynamic table (RFC 9204 §3.2); see table.h.
 * SPDX-License-Identifier: MIT */
#include "qpack/table.h"

int32_t zttp_qpack_table_init(zttp_qpack_table *t, const zttp_mem *mem,
                              size_t max_capacity, int with_index) {
  memset(t, 0, sizeof(*t));
  /* Offsets and lengths are 32-bit. */
  if (max_capacity > UINT32_MAX / 2) {
    return ZTTP_ERR_NOMEM;
  }
  t->mem = mem;
  t->max_capacity = max_capacity;
  /* RFC 9204 §3.2.1: each entry counts 32 bytes more than it stores. */
  t->ents_cap = max_capacity / ZTTP_QPACK_ENTRY_OVERHEAD + 1;
  if (max_capacity > 0) {
    t->bytes = zttp_mem_malloc(mem, max_capacity);
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
    /* Both bucket arrays in one block. */
    t->buckets = zttp_mem_calloc(mem, 2 * nb, sizeof(*t->buckets));
    if (t->buckets == NULL) {
      goto fail_buckets;
    }
    /* An empty bucket: never below inserts. */
    memset(t->buckets, 0xff, 2 * nb * sizeof(*t->buckets));
    t->vbuckets = t->buckets + nb;
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

void zttp_qpack_table_free(zttp_qpack_table *t) {
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

void zttp_qpack_table_evict_oldest(zttp_qpack_table *t) {
  const zttp_qpack_entry *e = &t->ents[t->first];
  t->size -= (size_t)e->name_len + e->value_len + ZTTP_QPACK_ENTRY_OVERHEAD;
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
    size -= (size_t)e->name_len + e->value_len + ZTTP_QPACK_ENTRY_OVERHEAD;
    slot = slot + 1 == t->ents_cap ? 0 : slot + 1;
    n++;
  }
  return n;
}

void zttp_qpack_table_insert(zttp_qpack_table *t, const uint8_t *name,
                             size_t name_len, const uint8_t *value,
                             size_t value_len, uint32_t hash, uint32_t vhash) {
  size_t n = name_len + value_len;
  size_t need = n + ZTTP_QPACK_ENTRY_OVERHEAD;
  while (t->size + need > t->capacity && t->num > 0) {
    zttp_qpack_table_evict_oldest(t);
  }
  /* Fits: the bytes in use are size - 32 * num <= max_capacity - n. */
  size_t cap = t->max_capacity;
  size_t off = t->bytes_head;
  size_t a = cap - off;
  if (name_len <= a) {
    if (name_len > 0) {
      memcpy(t->bytes + off, name, name_len);
    }
    a -= name_len;
    if (value_len <= a) {
      if (value_len > 0) {
        memcpy(t->bytes + off + name_len, value, value_len);
      }
    } else {
      memcpy(t->bytes + off + name_len, value, a);
      memcpy(t->bytes, value + a, value_len - a);
    }
  } else {
    memcpy(t->bytes + off, name, a);
    memcpy(t->bytes, name + a, name_len - a);
    if (value_len > 0) {
      memcpy(t->bytes + (name_len - a), value, value_len);
    }
  }
  size_t slot = t->first + t->num;
  if (slot >= t->ents_cap) {
    slot -= t->ents_cap;
  }
  zttp_qpack_entry *e = &t->ents[slot];
  e->off = (uint32_t)off;
  e->name_len = (uint32_t)name_len;
  e->value_len = (uint32_t)value_len;
  e->hash = hash;
  e->vhash = vhash;
  off += n;
  t->bytes_head = off >= cap ? off - cap : off;
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
