/* HPACK (RFC 7541): the decoder and the encoder over the tables of table.c.
 * SPDX-License-Identifier: MIT */
#include "hpack/hpack.h"

#include <string.h>

#include "common/huffman.h"
#include "hpack/int.h"
#include "hpack/static_table.h"
#include "hpack/table.h"

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NOINLINE __attribute__((noinline))
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#define NOINLINE
#endif

/* The initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2). */
#define INITIAL_TABLE_SIZE 4096

/* ---- the decoded fields ------------------------------------------------ */

void zttp_hpack_fields_free(zttp_hpack_fields *f, const zttp_mem *mem) {
  zttp_fieldbuf_free(f, mem);
}

/* While out->bytes moves, the fields stored so far keep their place in it
 * in |reserved|: NAME_IN and the name's offset, VALUE_IN if the value is
 * there too (it follows the name), or VALUE_IN alone and the value's
 * offset. Empty strings never point into out->bytes. */
#define NAME_IN 0x80000000u
#define VALUE_IN 0x40000000u
#define OFF_MASK 0x3fffffffu

/* grow_bytes makes room for |n| more bytes; the fields stored so far that
 * point into out->bytes are moved along with it. */
static NOINLINE int32_t grow_bytes(zttp_hpack_fields *out, const zttp_mem *mem,
                                   size_t n) {
  if (n > OFF_MASK - out->len_bytes) {
    return ZTTP_ERR_NOMEM;
  }
  size_t need = out->len_bytes + n;
  size_t cap = out->cap_bytes < 256 ? 256 : out->cap_bytes;
  while (cap < need) {
    cap *= 2;
  }
  /* Before the old block goes away, its pointers become offsets. */
  uintptr_t base = (uintptr_t)out->bytes;
  for (size_t i = 0; i < out->num_fields && out->bytes != NULL; i++) {
    zttp_header *f = &out->fields[i];
    uintptr_t np = (uintptr_t)f->name - base;
    uintptr_t vp = (uintptr_t)f->value - base;
    if (np < out->cap_bytes) {
      f->reserved = NAME_IN | (uint32_t)np;
      if (vp < out->cap_bytes) {
        f->reserved |= VALUE_IN;
      }
    } else if (vp < out->cap_bytes) {
      f->reserved = VALUE_IN | (uint32_t)vp;
    }
  }
  uint8_t *b = zttp_mem_realloc(mem, out->bytes, cap);
  const char *nb = (const char *)(b != NULL ? b : out->bytes);
  for (size_t i = 0; i < out->num_fields && out->bytes != NULL; i++) {
    zttp_header *f = &out->fields[i];
    if (f->reserved & NAME_IN) {
      f->name = nb + (f->reserved & OFF_MASK);
      if (f->reserved & VALUE_IN) {
        f->value = f->name + f->name_len;
      }
    } else if (f->reserved & VALUE_IN) {
      f->value = nb + (f->reserved & OFF_MASK);
    }
    f->reserved = 0;
  }
  if (b == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  out->bytes = b;
  out->cap_bytes = cap;
  return 0;
}

/* reserve_bytes makes room for |n| more bytes in out->bytes. */
static inline int32_t reserve_bytes(zttp_hpack_fields *out, const zttp_mem *mem,
                                    size_t n) {
  if (LIKELY(out->cap_bytes - out->len_bytes >= n && out->bytes != NULL)) {
    return 0;
  }
  return grow_bytes(out, mem, n == 0 ? 1 : n);
}

/* push_field is zttp_fieldbuf_push() with the call to the growth kept in
 * this file: with the call into fieldbuf.c the decoder keeps less in
 * registers (same instruction count, 2-3% slower on bench/hpack
 * decode-swift-nio). */
static NOINLINE int32_t grow_fields(zttp_hpack_fields *out,
                                    const zttp_mem *mem) {
  return zttp_fieldbuf_grow_fields(out, mem);
}

static inline zttp_header *push_field(zttp_hpack_fields *out,
                                      const zttp_mem *mem) {
  if (UNLIKELY(out->num_fields == out->cap_fields) &&
      grow_fields(out, mem) != 0) {
    return NULL;
  }
  return &out->fields[out->num_fields++];
}

/* ---- decoder ----------------------------------------------------------- */

int32_t zttp_hpack_decoder_init(zttp_hpack_decoder *d, const zttp_mem *mem,
                                size_t max_table_size) {
  d->settings_max = max_table_size;
  /* The peer's encoder starts with RFC 7541's 4096 until it sends a size
   * update. */
  return zttp_hpack_table_init(&d->table, mem, max_table_size,
                               INITIAL_TABLE_SIZE, 0);
}

void zttp_hpack_decoder_free(zttp_hpack_decoder *d) {
  zttp_hpack_table_free(&d->table);
}

int zttp_hpack_int_read_more(const uint8_t **pp, const uint8_t *end, uint64_t v,
                             uint32_t *out) {
  /* At most five continuation bytes (shifts 0..28) and 2^32 - 1. */
  uint64_t x;
  if (zttp_prefix_int_read_more(pp, end, v, UINT32_MAX, 28, &x) !=
      ZTTP_PREFIX_INT_OK) {
    return 0;
  }
  *out = (uint32_t)x;
  return 1;
}

/* read_string decodes the string literal at *pp (RFC 7541 §5.2) to the end
 * of out->bytes and returns its length, or a negative error. */
static inline int64_t read_string(const uint8_t **pp, const uint8_t *end,
                                  zttp_hpack_fields *out, const zttp_mem *mem) {
  const uint8_t *p = *pp;
  if (UNLIKELY(p == end)) {
    return ZTTP_ERR_COMPRESSION;
  }
  int huff = *p & 0x80;
  uint32_t n;
  if (UNLIKELY(!zttp_hpack_int_read(&p, end, 7, &n)) ||
      UNLIKELY(n > (size_t)(end - p))) {
    return ZTTP_ERR_COMPRESSION;
  }
  if (huff) {
    /* The shortest code is 5 bits: at most n * 8 / 5 bytes, and the
     * decoder may write one byte past them. */
    int32_t rv = reserve_bytes(out, mem, (size_t)n + n / 5 * 3 + 3);
    if (UNLIKELY(rv != 0)) {
      return rv;
    }
    int64_t len = zttp_huffman_decode(out->bytes + out->len_bytes, p, n);
    if (UNLIKELY(len < 0)) {
      return ZTTP_ERR_COMPRESSION;
    }
    out->len_bytes += (size_t)len;
    *pp = p + n;
    return len;
  }
  int32_t rv = reserve_bytes(out, mem, n);
  if (UNLIKELY(rv != 0)) {
    return rv;
  }
  memcpy(out->bytes + out->len_bytes, p, n);
  out->len_bytes += n;
  *pp = p + n;
  return n;
}

/* The limits of one block: whether the next field of |n| name and value
 * bytes may be stored. Once a limit is hit, nothing more is. */
typedef struct dec_limits {
  uint64_t list_size;
  size_t max_fields;
  size_t max_list_size;
  int32_t err;
} dec_limits;

static inline int admit(dec_limits *l, const zttp_hpack_fields *out, size_t n) {
  if (UNLIKELY(l->err != 0)) {
    return 0;
  }
  /* RFC 9113 §6.5.2: name + value + 32 per field. */
  l->list_size += (uint64_t)n + ZTTP_HPACK_ENTRY_OVERHEAD;
  if (UNLIKELY(out->num_fields >= l->max_fields)) {
    l->err = ZTTP_ERR_LIMIT_HEADERS;
    return 0;
  }
  if (UNLIKELY(l->list_size > l->max_list_size)) {
    l->err = ZTTP_ERR_LIMIT_HEADER_BYTES;
    return 0;
  }
  return 1;
}

int32_t zttp_hpack_decode(zttp_hpack_decoder *d, zttp_hpack_fields *out,
                          const uint8_t *in, size_t len, size_t max_fields,
                          size_t max_list_size) {
  zttp_hpack_table *t = &d->table;
  const zttp_mem *mem = t->mem;
  const uint8_t *p = in;
  const uint8_t *end = in + len;
  int32_t rv = ZTTP_ERR_COMPRESSION;
  uint32_t idx;
  out->num_fields = 0;
  out->len_bytes = 0;

  /* RFC 7541 §4.2: size updates only at the start of a block, none above
   * what we advertised; one is due after SETTINGS lowered the size. */
  size_t limit = d->settings_max < t->capacity ? d->settings_max : t->capacity;
  int need_update = t->max_size > limit;
  while (p < end && (*p & 0xe0) == 0x20) {
    if (!zttp_hpack_int_read(&p, end, 5, &idx) || idx > limit) {
      goto fail;
    }
    zttp_hpack_table_set_max(t, idx);
    need_update = 0;
  }
  if (need_update) {
    goto fail;
  }

  dec_limits lim = {0, max_fields, max_list_size, 0};
  while (p < end) {
    uint8_t b = *p;
    zttp_header *f;
    if (b & 0x80) {
      /* RFC 7541 §6.1: indexed field. */
      if (UNLIKELY(!zttp_hpack_int_read(&p, end, 7, &idx)) ||
          UNLIKELY(idx == 0)) {
        goto fail;
      }
      if (idx <= HPACK_STATIC_NUM) {
        const hpack_static_entry *se = &hpack_static[idx];
        if (!admit(&lim, out, (size_t)se->name_len + se->value_len)) {
          continue;
        }
        if (UNLIKELY((f = push_field(out, mem)) == NULL)) {
          goto nomem;
        }
        f->name = se->name;
        f->name_len = se->name_len;
        f->value = se->value;
        f->value_len = se->value_len;
        f->flags = 0;
        f->reserved = 0;
        continue;
      }
      size_t age = idx - HPACK_STATIC_NUM - 1;
      if (UNLIKELY(age >= t->num)) {
        goto fail;
      }
      const zttp_hpack_entry *e = &t->ents[zttp_hpack_table_slot(t, age)];
      size_t n = (size_t)e->name_len + e->value_len;
      if (!admit(&lim, out, n)) {
        continue;
      }
      if (UNLIKELY(reserve_bytes(out, mem, n) != 0) ||
          UNLIKELY((f = push_field(out, mem)) == NULL)) {
        goto nomem;
      }
      zttp_hpack_table_copy(t, out->bytes + out->len_bytes, e->off, n);
      const char *nm = (const char *)out->bytes + out->len_bytes;
      f->name = e->name_len > 0 ? nm : "";
      f->name_len = e->name_len;
      f->value = e->value_len > 0 ? nm + e->name_len : "";
      f->value_len = e->value_len;
      f->flags = 0;
      f->reserved = 0;
      out->len_bytes += n;
      continue;
    }

    /* RFC 7541 §6.2: literal field, §6.3: size update (not here). */
    unsigned prefix;
    int insert = 0;
    uint32_t flags = 0;
    if (b & 0x40) {
      prefix = 6;
      insert = 1;
    } else if (UNLIKELY(b & 0x20)) {
      goto fail;
    } else {
      prefix = 4;
      if (b & 0x10) {
        flags = ZTTP_HEADER_NEVER_INDEX;
      }
    }
    if (UNLIKELY(!zttp_hpack_int_read(&p, end, prefix, &idx))) {
      goto fail;
    }
    size_t start = out->len_bytes;
    const char *sname = NULL;
    size_t name_len;
    if (idx == 0) {
      int64_t n = read_string(&p, end, out, mem);
      if (UNLIKELY(n < 0)) {
        rv = (int32_t)n;
        goto fail;
      }
      name_len = (size_t)n;
    } else if (idx <= HPACK_STATIC_NUM) {
      sname = hpack_static[idx].name;
      name_len = hpack_static[idx].name_len;
    } else {
      size_t age = idx - HPACK_STATIC_NUM - 1;
      if (UNLIKELY(age >= t->num)) {
        goto fail;
      }
      const zttp_hpack_entry *e = &t->ents[zttp_hpack_table_slot(t, age)];
      name_len = e->name_len;
      /* Copied out first: inserting this field may evict the entry. */
      if (UNLIKELY(reserve_bytes(out, mem, name_len) != 0)) {
        goto nomem;
      }
      zttp_hpack_table_copy(t, out->bytes + start, e->off, name_len);
      out->len_bytes += name_len;
    }
    size_t voff = out->len_bytes;
    int64_t vn = read_string(&p, end, out, mem);
    if (UNLIKELY(vn < 0)) {
      rv = (int32_t)vn;
      goto fail;
    }
    size_t value_len = (size_t)vn;
    if (insert) {
      /* read_string() reserved at least one byte: out->bytes is set. */
      const uint8_t *nm =
          sname != NULL ? (const uint8_t *)sname : out->bytes + start;
      zttp_hpack_table_insert(t, nm, name_len, out->bytes + voff, value_len, 0);
    }
    if (!admit(&lim, out, name_len + value_len)) {
      out->len_bytes = start;
      continue;
    }
    if (UNLIKELY((f = push_field(out, mem)) == NULL)) {
      goto nomem;
    }
    f->name_len = name_len;
    f->value_len = value_len;
    f->flags = flags;
    f->reserved = 0;
    f->name = sname != NULL  ? sname
              : name_len > 0 ? (const char *)out->bytes + start
                             : "";
    f->value = value_len > 0 ? (const char *)out->bytes + voff : "";
  }
  if (lim.err != 0) {
    out->num_fields = 0;
    return lim.err;
  }
  return 0;

nomem:
  rv = ZTTP_ERR_NOMEM;
fail:
  out->num_fields = 0;
  out->len_bytes = 0;
  return rv;
}

/* ---- encoder ----------------------------------------------------------- */

/* The encoder's policy for the static names (zttp_hpack_encode()). */
#define POL_NEVER 1u       /* never-indexed literal */
#define POL_NEVER_SHORT 2u /* never-indexed when the value is under 20 */
#define POL_NO_INDEX 4u    /* literal without indexing */
static const uint8_t static_policy[HPACK_STATIC_NUM + 1] = {
    [4] = POL_NO_INDEX,     /* :path */
    [5] = POL_NO_INDEX,     /* :path */
    [21] = POL_NO_INDEX,    /* age */
    [23] = POL_NEVER,       /* authorization */
    [28] = POL_NO_INDEX,    /* content-length */
    [32] = POL_NEVER_SHORT, /* cookie */
    [33] = POL_NO_INDEX,    /* date */
    [34] = POL_NO_INDEX,    /* etag */
    [40] = POL_NO_INDEX,    /* if-modified-since */
    [41] = POL_NO_INDEX,    /* if-none-match */
    [44] = POL_NO_INDEX,    /* last-modified */
    [46] = POL_NO_INDEX,    /* location */
    [49] = POL_NEVER,       /* proxy-authorization */
    [55] = POL_NEVER,       /* set-cookie */
};

/* The first static index of each static name, by name length (RFC 7541
 * Appendix A), 0-terminated: static_find_len() finds a static name without
 * hashing it, and hpack_static_hash[] then gives its zttp_ftable_name_hash(),
 * whose byte-serial multiply chain costs about 4 cycles per name byte. */
static const uint8_t static_by_len[28][7] = {
    [3] = {21, 60},                  /* age via */
    [4] = {33, 34, 37, 38, 45, 59},  /* date etag from host link vary */
    [5] = {4, 22, 50},               /* :path allow range */
    [6] = {19, 32, 35, 54},          /* accept cookie expect server */
    [7] = {2, 6, 8, 36, 51, 52},     /* :method :scheme :status expires
                                        referer refresh */
    [8] = {39, 42, 46},              /* if-match if-range location */
    [10] = {1, 55, 58},              /* :authority set-cookie user-agent */
    [11] = {53},                     /* retry-after */
    [12] = {31, 47},                 /* content-type max-forwards */
    [13] = {18, 23, 24, 30, 41, 44}, /* accept-ranges authorization
                                        cache-control content-range
                                        if-none-match last-modified */
    [14] = {15, 28},                 /* accept-charset content-length */
    [15] = {16, 17},                 /* accept-encoding accept-language */
    [16] = {26, 27, 29, 61},         /* content-encoding content-language
                                        content-location www-authenticate */
    [17] = {40, 57},                 /* if-modified-since transfer-encoding */
    [18] = {48},                     /* proxy-authenticate */
    [19] = {25, 43, 49},             /* content-disposition
                                        if-unmodified-since
                                        proxy-authorization */
    [25] = {56},                     /* strict-transport-security */
    [27] = {20},                     /* access-control-allow-origin */
};

/* static_find_len returns the first static index named |name|, or 0. */
static inline unsigned static_find_len(const uint8_t *name, size_t len) {
  if (len >= sizeof(static_by_len) / sizeof(static_by_len[0])) {
    return 0;
  }
  for (const uint8_t *c = static_by_len[len]; *c != 0; c++) {
    const uint8_t *sn = (const uint8_t *)hpack_static[*c].name;
    if (sn[0] == name[0] && zttp_ftable_bytes_eq(sn, name, len)) {
      return *c;
    }
  }
  return 0;
}

/* dynamic_find searches the dynamic table for |name| (and |value| unless
 * NULL): returns the RFC index of an exact match (*exact = 1) or of the
 * newest entry with that name, or 0. */
static size_t dynamic_find(const zttp_hpack_table *t, uint32_t h,
                           const uint8_t *name, size_t name_len,
                           const uint8_t *value, size_t value_len, int *exact) {
  size_t found = 0;
  uint64_t oldest = t->next_seq - t->num;
  uint64_t s = t->buckets[h & (t->num_buckets - 1)];
  while (s >= oldest && s < t->next_seq) {
    size_t age = (size_t)(t->next_seq - 1 - s);
    const zttp_hpack_entry *e = &t->ents[zttp_hpack_table_slot(t, age)];
    if (e->hash == h && e->name_len == name_len &&
        zttp_hpack_table_eq(t, e->off, name, name_len)) {
      if (value != NULL && e->value_len == value_len &&
          zttp_hpack_table_eq(t, (size_t)e->off + name_len, value, value_len)) {
        *exact = 1;
        return HPACK_STATIC_NUM + 1 + age;
      }
      if (found == 0) {
        found = HPACK_STATIC_NUM + 1 + age;
      }
    }
    s = e->next;
  }
  return found;
}

/* RFC 7541 §5.2: Huffman only when it is shorter. */
static inline uint8_t *put_string(uint8_t *o, const uint8_t *s, size_t n) {
  size_t hn = zttp_huffman_encoded_len(s, n);
  if (hn < n) {
    o = zttp_hpack_int_put(o, 0x80, 7, hn);
    return o + zttp_huffman_encode(o, s, n);
  }
  o = zttp_hpack_int_put(o, 0, 7, n);
  if (n > 0) {
    memcpy(o, s, n);
  }
  return o + n;
}

int32_t zttp_hpack_encoder_init(zttp_hpack_encoder *e, const zttp_mem *mem,
                                size_t local_max) {
  e->local_max = local_max;
  /* The peer's decoder starts at 4096: a smaller cap of ours is announced
   * at the start of the first block. */
  e->pending_min = INITIAL_TABLE_SIZE;
  e->pending_last = INITIAL_TABLE_SIZE;
  e->pending_update = local_max < INITIAL_TABLE_SIZE;
  return zttp_hpack_table_init(&e->table, mem, local_max, INITIAL_TABLE_SIZE,
                               1);
}

void zttp_hpack_encoder_free(zttp_hpack_encoder *e) {
  zttp_hpack_table_free(&e->table);
}

void zttp_hpack_encoder_set_peer_max(zttp_hpack_encoder *e, size_t peer_max) {
  if (!e->pending_update || peer_max < e->pending_min) {
    e->pending_min = peer_max;
  }
  e->pending_last = peer_max;
  e->pending_update = 1;
}

size_t zttp_hpack_encode_bound(const zttp_hpack_encoder *e,
                               const zttp_header *fields, size_t num_fields) {
  (void)e;
  /* Two size updates; per field a prefix integer, two string lengths and
   * the strings (Huffman only when shorter). */
  size_t n = 2 * ZTTP_HPACK_INT_MAX_LEN;
  for (size_t i = 0; i < num_fields; i++) {
    n += 3 * ZTTP_HPACK_INT_MAX_LEN + fields[i].name_len + fields[i].value_len;
  }
  return n;
}

size_t zttp_hpack_encode(zttp_hpack_encoder *e, uint8_t *dst,
                         const zttp_header *fields, size_t num_fields) {
  zttp_hpack_table *t = &e->table;
  uint8_t *o = dst;
  if (e->pending_update) {
    /* RFC 7541 §4.2: the smallest size since the last block, then the
     * final one. */
    size_t lo = e->pending_min < e->local_max ? e->pending_min : e->local_max;
    size_t hi = e->pending_last < e->local_max ? e->pending_last : e->local_max;
    if (lo < hi) {
      o = zttp_hpack_int_put(o, 0x20, 5, lo);
      zttp_hpack_table_set_max(t, lo);
    }
    o = zttp_hpack_int_put(o, 0x20, 5, hi);
    zttp_hpack_table_set_max(t, hi);
    e->pending_update = 0;
  }

  for (size_t i = 0; i < num_fields; i++) {
    const zttp_header *f = &fields[i];
    const uint8_t *name =
        f->name_len > 0 ? (const uint8_t *)f->name : (const uint8_t *)"";
    const uint8_t *value =
        f->value_len > 0 ? (const uint8_t *)f->value : (const uint8_t *)"";
    size_t name_len = f->name_len;
    size_t value_len = f->value_len;
    unsigned sidx = static_find_len(name, name_len);
    uint32_t h = sidx != 0 ? hpack_static_hash[sidx]
                           : zttp_ftable_name_hash(name, name_len);
    unsigned pol = static_policy[sidx];
    int never = (f->flags & ZTTP_HEADER_NEVER_INDEX) != 0 ||
                (pol & POL_NEVER) != 0 ||
                ((pol & POL_NEVER_SHORT) != 0 && value_len < 20);
    size_t name_idx = sidx;
    if (!never) {
      /* Exact matches: the static entries with this name are consecutive
       * (the generator checks that the static names' hashes differ). */
      unsigned s = sidx;
      while (s != 0 && s <= HPACK_STATIC_NUM && hpack_static_hash[s] == h) {
        if (hpack_static[s].value_len == value_len &&
            zttp_ftable_bytes_eq((const uint8_t *)hpack_static[s].value, value,
                                 value_len)) {
          break;
        }
        s++;
      }
      if (s != 0 && s <= HPACK_STATIC_NUM && hpack_static_hash[s] == h) {
        o = zttp_hpack_int_put(o, 0x80, 7, s);
        continue;
      }
      /* Names never inserted are never in the dynamic table. */
      if ((pol & POL_NO_INDEX) == 0 && t->num > 0) {
        int exact = 0;
        size_t d = dynamic_find(t, h, name, name_len, value, value_len, &exact);
        if (exact) {
          o = zttp_hpack_int_put(o, 0x80, 7, d);
          continue;
        }
        if (name_idx == 0) {
          name_idx = d;
        }
      }
    } else if (sidx == 0 && t->num > 0) {
      int exact = 0;
      name_idx = dynamic_find(t, h, name, name_len, NULL, 0, &exact);
    }

    size_t entry = name_len + value_len + ZTTP_HPACK_ENTRY_OVERHEAD;
    int insert = 0;
    if (never) {
      o = zttp_hpack_int_put(o, 0x10, 4, name_idx); /* §6.2.3 */
    } else if ((pol & POL_NO_INDEX) != 0 || entry > t->max_size / 4 * 3) {
      o = zttp_hpack_int_put(o, 0x00, 4, name_idx); /* §6.2.2 */
    } else {
      o = zttp_hpack_int_put(o, 0x40, 6, name_idx); /* §6.2.1 */
      insert = 1;
    }
    if (name_idx == 0) {
      o = put_string(o, name, name_len);
    }
    o = put_string(o, value, value_len);
    if (insert) {
      zttp_hpack_table_insert(t, name, name_len, value, value_len, h);
    }
  }
  return (size_t)(o - dst);
}
