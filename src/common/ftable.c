/* The shared parts of the HPACK and QPACK dynamic tables; see ftable.h.
 * SPDX-License-Identifier: MIT */
#include "common/ftable.h"

int32_t zttp_ftable_alloc(zttp_ftable_arrays *out, const zttp_mem *mem,
                          size_t ring_len, size_t ent_size, size_t num_chains) {
  memset(out, 0, sizeof(*out));
  /* Offsets and lengths are 32-bit. */
  if (ring_len > UINT32_MAX / 2) {
    return ZTTP_ERR_NOMEM;
  }
  out->ents_cap = ring_len / ZTTP_FTABLE_ENTRY_OVERHEAD + 1;
  if (ring_len > 0) {
    out->bytes = zttp_mem_malloc(mem, ring_len);
    if (out->bytes == NULL) {
      goto fail_bytes;
    }
  }
  out->ents = zttp_mem_calloc(mem, out->ents_cap, ent_size);
  if (out->ents == NULL) {
    goto fail_ents;
  }
  if (num_chains > 0) {
    size_t nb = 8;
    while (nb < out->ents_cap) {
      nb *= 2;
    }
    /* Every chain's bucket array in one block. */
    out->buckets = zttp_mem_calloc(mem, num_chains * nb, sizeof(uint64_t));
    if (out->buckets == NULL) {
      goto fail_buckets;
    }
    memset(out->buckets, 0xff, num_chains * nb * sizeof(uint64_t));
    out->num_buckets = nb;
  }
  return 0;

fail_buckets:
  zttp_mem_free(mem, out->ents);
fail_ents:
  if (out->bytes != NULL) {
    zttp_mem_free(mem, out->bytes);
  }
fail_bytes:
  memset(out, 0, sizeof(*out));
  return ZTTP_ERR_NOMEM;
}

void zttp_ftable_free(const zttp_mem *mem, uint8_t *bytes, void *ents,
                      uint64_t *buckets) {
  if (bytes != NULL) {
    zttp_mem_free(mem, bytes);
  }
  if (ents != NULL) {
    zttp_mem_free(mem, ents);
  }
  if (buckets != NULL) {
    zttp_mem_free(mem, buckets);
  }
}
