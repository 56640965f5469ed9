/* The QPACK encoder (RFC 9204 §2.1, §4.3 as the sender of the encoder
 * stream, §4.4 as the receiver of the decoder stream, §4.5 field sections).
 * SPDX-License-Identifier: MIT */
#include <string.h>

#include "common/huffman.h"
#include "common/reader.h"
#include "qpack/int.h"
#include "qpack/qpack.h"
#include "qpack/static_table.h"

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

/* No absolute index. */
#define NO_ABS UINT64_MAX

/* The most bytes a section prefix takes (§4.5.1). */
#define PREFIX_MAX (2 * ZTTP_QPACK_INT_MAX_LEN)

/* The encoder's policy for names (zttp_qpack_encode()), by the first
 * static index of the name. Values that rarely repeat (:path, names
 * outside the static table: nghttp3 never inserts them) are inserted only
 * while the table has room, so they never evict useful entries; date and
 * last-modified repeat within a burst of responses, so they are inserted
 * once seen twice; the other static names are inserted at once. */
#define POL_NEVER 1u       /* never-indexed literal */
#define POL_NEVER_SHORT 2u /* never-indexed when the value is under 20 */
#define POL_NO_INDEX 4u    /* literal, not inserted */
#define POL_NO_EVICT 8u    /* inserted only while nothing is evicted */
#define POL_SEEN 16u       /* once inserting evicts, only when seen before */
static const uint8_t static_policy[QPACK_STATIC_NUM] = {
    [1] = POL_NO_EVICT,    /* :path */
    [2] = POL_NO_INDEX,    /* age */
    [4] = POL_NO_INDEX,    /* content-length */
    [5] = POL_NEVER_SHORT, /* cookie */
    [6] = POL_SEEN,        /* date */
    [7] = POL_NO_INDEX,    /* etag */
    [8] = POL_NO_INDEX,    /* if-modified-since */
    [9] = POL_NO_INDEX,    /* if-none-match */
    [10] = POL_SEEN,       /* last-modified */
    [12] = POL_NO_INDEX,   /* location */
    [14] = POL_NEVER,      /* set-cookie */
    [84] = POL_NEVER,      /* authorization */
};

/* static_find returns the first static index named |name|, or
 * QPACK_STATIC_NONE. */
static inline unsigned static_find(const uint8_t *name, size_t len) {
  if (len > QPACK_STATIC_MAX_NAME) {
    return QPACK_STATIC_NONE;
  }
  for (const uint8_t *c = qpack_static_by_len[len]; *c != QPACK_STATIC_NONE;
       c++) {
    const uint8_t *sn = (const uint8_t *)qpack_static[*c].name;
    if (sn[0] == name[0] && zttp_ftable_bytes_eq(sn, name, len)) {
      return *c;
    }
  }
  return QPACK_STATIC_NONE;
}

/* policy_of returns the POL_* bits of a name. */
static inline unsigned policy_of(unsigned sidx, const uint8_t *name,
                                 size_t len) {
  if (sidx != QPACK_STATIC_NONE) {
    return static_policy[sidx];
  }
  /* Not in the QPACK static table. */
  if (len == 19 && memcmp(name, "proxy-authorization", 19) == 0) {
    return POL_NEVER;
  }
  return POL_NO_EVICT;
}

/* RFC 9204 §4.1.2: Huffman only when it is shorter. |hbit| is the H flag
 * in the first byte, |prefix| the length's prefix bits. The code is written
 * after room for the raw length and moved up if its length is shorter; it
 * never passes where the raw string would end. */
static inline uint8_t *put_string(uint8_t *o, uint8_t first, uint8_t hbit,
                                  unsigned prefix, const uint8_t *s, size_t n,
                                  int huffman) {
  size_t raw = zttp_qpack_int_len(prefix, n);
  if (huffman && n > 0) {
    size_t hn = zttp_huffman_encode_max(o + raw, n - 1, s, n);
    if (hn != SIZE_MAX) {
      size_t hl = zttp_qpack_int_len(prefix, hn);
      if (hl != raw) {
        memmove(o + hl, o + raw, hn);
      }
      zttp_qpack_int_put(o, first | hbit, prefix, hn);
      return o + hl + hn;
    }
  }
  o = zttp_qpack_int_put(o, first, prefix, n);
  if (n > 0) {
    memcpy(o, s, n);
  }
  return o + n;
}

/* value_hash mixes |value| into the name hash |h| a word at a time: the
 * key of the name-and-value chains. */
static inline uint32_t value_hash(uint32_t h, const uint8_t *p, size_t n) {
  uint64_t x = h ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);
  if (n >= 8) {
    /* Up to the first 32 bytes and the last 8 (a word at a time, the last
     * one overlapping; |n| is mixed in): a longer value is told apart by
     * its length and ends, else by the comparison the chain walk makes. */
    size_t head = n - 8 < 32 ? n - 8 : 32;
    for (size_t i = 0; i < head; i += 8) {
      x = (x ^ zttp_ftable_load64(p + i)) * 0xff51afd7ed558ccdull;
      x ^= x >> 32;
    }
    x = (x ^ zttp_ftable_load64(p + n - 8)) * 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 29;
  } else if (n > 0) {
    uint64_t t;
    if (n >= 4) {
      t = zttp_ftable_load32(p) | (uint64_t)zttp_ftable_load32(p + n - 4) << 32;
    } else {
      t = p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
    }
    x = (x ^ t) * 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 29;
  }
  return (uint32_t)(x ^ (x >> 32));
}

_Static_assert(sizeof(((zttp_qpack_encoder *)0)->static_hv) ==
                   QPACK_STATIC_NUM * sizeof(uint32_t),
               "static_hv holds every static entry");

/* static_index fills the static entries' hashes and slots. */
static void static_index(zttp_qpack_encoder *e) {
  for (unsigned i = 0; i < QPACK_STATIC_NUM; i++) {
    uint32_t hv =
        value_hash(qpack_static_hash[i], (const uint8_t *)qpack_static[i].value,
                   qpack_static[i].value_len);
    e->static_hv[i] = hv;
    size_t j = hv & (ZTTP_QPACK_STATIC_SLOTS - 1);
    while (e->static_slots[j] != 0) {
      j = (j + 1) & (ZTTP_QPACK_STATIC_SLOTS - 1);
    }
    e->static_slots[j] = (uint8_t)(i + 1);
  }
}

/* static_exact returns the static index of name/value (the name's first
 * static index |sidx|, the name-and-value hash |hv|), or
 * QPACK_STATIC_NONE. */
static inline unsigned static_exact(const zttp_qpack_encoder *e, unsigned sidx,
                                    uint32_t hv, const uint8_t *name,
                                    size_t name_len, const uint8_t *value,
                                    size_t value_len) {
  if (sidx == QPACK_STATIC_NONE) {
    return QPACK_STATIC_NONE;
  }
  size_t j = hv & (ZTTP_QPACK_STATIC_SLOTS - 1);
  for (unsigned x; (x = e->static_slots[j]) != 0;
       j = (j + 1) & (ZTTP_QPACK_STATIC_SLOTS - 1)) {
    const qpack_static_entry *se = &qpack_static[x - 1];
    if (e->static_hv[x - 1] == hv && se->value_len == value_len &&
        se->name_len == name_len &&
        zttp_ftable_bytes_eq((const uint8_t *)se->value, value, value_len) &&
        zttp_ftable_bytes_eq((const uint8_t *)se->name, name, name_len)) {
      return x - 1;
    }
  }
  return QPACK_STATIC_NONE;
}

/* ---- lifecycle ------------------------------------------------------------
 */

void zttp_qpack_encoder_settings_default(zttp_qpack_encoder_settings *s) {
  s->max_table_capacity = 4096;
  s->max_encoder_stream_buffer = 16384;
  s->max_unacked_sections = 1024;
  s->huffman = 1;
}

int32_t zttp_qpack_encoder_init(zttp_qpack_encoder *e, const zttp_mem *mem,
                                const zttp_qpack_encoder_settings *s) {
  memset(e, 0, sizeof(*e));
  if (s != NULL) {
    e->settings = *s;
  } else {
    zttp_qpack_encoder_settings_default(&e->settings);
  }
  if (e->settings.max_table_capacity > UINT32_MAX / 8 ||
      e->settings.max_encoder_stream_buffer < ZTTP_QPACK_INT_MAX_LEN) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (zttp_qpack_table_init(&e->table, mem, e->settings.max_table_capacity,
                            1) != 0) {
    goto fail_table;
  }
  e->obuf = zttp_mem_malloc(mem, e->settings.max_encoder_stream_buffer);
  if (e->obuf == NULL) {
    goto fail_obuf;
  }
  e->min_ref = NO_ABS;
  static_index(e);
  return 0;

fail_obuf:
  zttp_qpack_table_free(&e->table);
fail_table:
  memset(e, 0, sizeof(*e));
  return ZTTP_ERR_NOMEM;
}

void zttp_qpack_encoder_free(zttp_qpack_encoder *e) {
  const zttp_mem *mem = e->table.mem;
  if (mem == NULL) {
    return;
  }
  if (e->secs != NULL) {
    zttp_mem_free(mem, e->secs);
  }
  zttp_mem_free(mem, e->obuf);
  zttp_qpack_table_free(&e->table);
  memset(e, 0, sizeof(*e));
}

/* obuf_room says whether |n| more encoder-stream bytes fit. */
static inline int obuf_room(const zttp_qpack_encoder *e, size_t n) {
  return e->settings.max_encoder_stream_buffer - e->obuf_len >= n;
}

int32_t zttp_qpack_encoder_set_peer_settings(zttp_qpack_encoder *e,
                                             uint64_t max_table_capacity,
                                             uint64_t blocked_streams) {
  if (e->err != 0) {
    return e->err;
  }
  if (e->max_entries != 0 || e->peer_blocked != 0 || e->table.capacity != 0) {
    return ZTTP_ERR_INVALID_STATE;
  }
  /* RFC 9204 §4.5.1.1: MaxEntries from the decoder's maximum. */
  e->max_entries = max_table_capacity / ZTTP_QPACK_ENTRY_OVERHEAD;
  e->peer_blocked =
      blocked_streams > SIZE_MAX ? SIZE_MAX : (size_t)blocked_streams;
  size_t cap = e->settings.max_table_capacity;
  if (max_table_capacity < cap) {
    cap = (size_t)max_table_capacity;
  }
  /* §3.2.3: the capacity starts at 0; raise it with §4.3.1. */
  if (cap > 0 && obuf_room(e, ZTTP_QPACK_INT_MAX_LEN)) {
    e->obuf_len =
        (size_t)(zttp_qpack_int_put(e->obuf + e->obuf_len, 0x20, 5, cap) -
                 e->obuf);
    zttp_qpack_table_set_capacity(&e->table, cap);
  }
  return 0;
}

size_t zttp_qpack_encoder_stream_pending(const zttp_qpack_encoder *e,
                                         const uint8_t **out) {
  *out = e->obuf;
  return e->obuf_len;
}

void zttp_qpack_encoder_stream_consume(zttp_qpack_encoder *e, size_t n) {
  if (n >= e->obuf_len) {
    e->obuf_len = 0;
    return;
  }
  memmove(e->obuf, e->obuf + n, e->obuf_len - n);
  e->obuf_len -= n;
}

/* ---- unacknowledged sections (§2.1.1, §2.1.2, §2.2.2) ---------------------
 */

/* refresh recomputes the smallest referenced index and the number of
 * blocking streams (a section is blocking while its Required Insert Count
 * is above the Known Received Count, §2.1.2). */
static void refresh(zttp_qpack_encoder *e) {
  if (!e->stale) {
    return;
  }
  uint64_t krc = e->known_received;
  e->min_ref = NO_ABS;
  e->num_blocking = 0;
  for (size_t i = 0; i < e->num_secs; i++) {
    const zttp_qpack_section *s = &e->secs[i];
    if (s->min_ref < e->min_ref) {
      e->min_ref = s->min_ref;
    }
    if (s->ric <= krc) {
      continue;
    }
    size_t j = 0;
    while (j < i &&
           !(e->secs[j].stream_id == s->stream_id && e->secs[j].ric > krc)) {
      j++;
    }
    e->num_blocking += j == i;
  }
  e->stale = 0;
}

/* stream_blocking says whether |stream_id| has a blocking section. */
static int stream_blocking(const zttp_qpack_encoder *e, uint64_t stream_id) {
  for (size_t i = 0; i < e->num_secs; i++) {
    if (e->secs[i].stream_id == stream_id &&
        e->secs[i].ric > e->known_received) {
      return 1;
    }
  }
  return 0;
}

/* evictable says whether the |n| oldest entries may go: acknowledged
 * (below the Known Received Count) and below every index an
 * unacknowledged section, or the section being encoded (|cur_min|),
 * references (§2.1.1). */
static inline int evictable(const zttp_qpack_encoder *e, size_t n,
                            uint64_t cur_min) {
  if (n == 0) {
    return 1;
  }
  uint64_t last = zttp_qpack_table_dropped(&e->table) + n - 1;
  return last < e->known_received && last < e->min_ref && last < cur_min;
}

/* find_exact walks the name-and-value chain of |hv| newest first and
 * returns the newest entry equal to name/value below |limit| (the Known
 * Received Count, or every entry when the section may block), NO_ABS - 1
 * when only entries at or above |limit| are, or NO_ABS. */
static inline uint64_t find_exact(const zttp_qpack_table *t, uint32_t hv,
                                  const uint8_t *name, size_t name_len,
                                  const uint8_t *value, size_t value_len,
                                  uint64_t limit) {
  uint64_t oldest = zttp_qpack_table_dropped(t);
  uint64_t a = t->vbuckets[hv & (t->num_buckets - 1)];
  uint64_t found = NO_ABS;
  while (a >= oldest && a < t->inserts) {
    const zttp_qpack_entry *en = zttp_qpack_table_get(t, a);
    if (en->vhash == hv && en->name_len == name_len &&
        en->value_len == value_len &&
        zttp_qpack_table_eq(t, en->off, name, name_len) &&
        zttp_qpack_table_eq(t, (size_t)en->off + name_len, value, value_len)) {
      if (a < limit) {
        return a;
      }
      found = NO_ABS - 1;
    }
    a = en->vnext;
  }
  return found;
}

/* find_name walks the name chain of |h| newest first: *name_any gets the
 * newest entry named |name|, *name_use the newest one below |limit| (a
 * bounded walk). */
static void find_name(const zttp_qpack_table *t, uint32_t h,
                      const uint8_t *name, size_t name_len, uint64_t limit,
                      uint64_t *name_use, uint64_t *name_any) {
  uint64_t oldest = zttp_qpack_table_dropped(t);
  uint64_t a = t->buckets[h & (t->num_buckets - 1)];
  *name_use = NO_ABS;
  *name_any = NO_ABS;
  for (int steps = 0; a >= oldest && a < t->inserts && steps < 32; steps++) {
    const zttp_qpack_entry *en = zttp_qpack_table_get(t, a);
    if (en->hash == h && en->name_len == name_len &&
        zttp_qpack_table_eq(t, en->off, name, name_len)) {
      if (*name_any == NO_ABS) {
        *name_any = a;
      }
      if (a < limit) {
        *name_use = a;
        return;
      }
    }
    a = en->next;
  }
}

/* do_insert queues an insert of name/value on the encoder stream and adds
 * it to the table (§4.3.2, §4.3.3), if the table can make room (§2.1.1)
 * and the encoder-stream buffer has it. |sidx| is the static name index,
 * |name_any| a dynamic entry with the name. Returns 1 if inserted. */
static int do_insert(zttp_qpack_encoder *e, const uint8_t *name,
                     size_t name_len, const uint8_t *value, size_t value_len,
                     unsigned sidx, uint32_t h, uint32_t hv, uint64_t name_any,
                     uint64_t cur_min) {
  zttp_qpack_table *t = &e->table;
  size_t need = name_len + value_len + ZTTP_QPACK_ENTRY_OVERHEAD;
  if (need > t->capacity) {
    return 0;
  }
  size_t ev = zttp_qpack_table_evictions(t, need);
  if (!evictable(e, ev, cur_min) ||
      !obuf_room(e, 2 * ZTTP_QPACK_INT_MAX_LEN + name_len + value_len)) {
    return 0;
  }
  uint8_t *o = e->obuf + e->obuf_len;
  int huff = e->settings.huffman;
  if (sidx != QPACK_STATIC_NONE) {
    o = zttp_qpack_int_put(o, 0xc0, 6, sidx);
  } else if (name_any != NO_ABS &&
             name_any >= zttp_qpack_table_dropped(t) + ev) {
    /* A name the insert does not evict (§3.2.2 would allow it, but not
     * every decoder copes). */
    o = zttp_qpack_int_put(o, 0x80, 6, t->inserts - 1 - name_any);
  } else {
    o = put_string(o, 0x40, 0x20, 5, name, name_len, huff);
  }
  o = put_string(o, 0x00, 0x80, 7, value, value_len, huff);
  e->obuf_len = (size_t)(o - e->obuf);
  zttp_qpack_table_insert(t, name, name_len, value, value_len, h, hv);
  return 1;
}

/* draining says whether entry |a| is in the oldest quarter of a table
 * that an entry of |need| bytes would bring past 3/4 full: about to be
 * evicted, so better duplicated than referenced (§2.1.1.1). */
static int draining(const zttp_qpack_table *t, uint64_t a, size_t need) {
  if (t->size + need <= t->capacity / 4 * 3) {
    return 0;
  }
  uint64_t oldest = zttp_qpack_table_dropped(t);
  const zttp_qpack_entry *o = zttp_qpack_table_get(t, oldest);
  const zttp_qpack_entry *x = zttp_qpack_table_get(t, a);
  size_t ring = t->max_capacity;
  size_t bytes = x->off >= o->off ? x->off - o->off : x->off + ring - o->off;
  uint64_t before = bytes + (a - oldest) * ZTTP_QPACK_ENTRY_OVERHEAD;
  return before < t->capacity / 4;
}

int32_t zttp_qpack_encoder_insert(zttp_qpack_encoder *e, const uint8_t *name,
                                  size_t name_len, const uint8_t *value,
                                  size_t value_len) {
  if (e->err != 0) {
    return e->err;
  }
  if (name_len == 0) {
    name = (const uint8_t *)"";
  }
  if (value_len == 0) {
    value = (const uint8_t *)"";
  }
  refresh(e);
  unsigned sidx = static_find(name, name_len);
  uint32_t h = sidx != QPACK_STATIC_NONE
                   ? qpack_static_hash[sidx]
                   : zttp_ftable_name_hash(name, name_len);
  uint64_t name_use, name_any = NO_ABS;
  if (e->table.num > 0 && sidx == QPACK_STATIC_NONE) {
    find_name(&e->table, h, name, name_len, 0, &name_use, &name_any);
  }
  return do_insert(e, name, name_len, value, value_len, sidx, h,
                   value_hash(h, value, value_len), name_any, NO_ABS)
             ? 0
             : ZTTP_ERR_BUFFER_FULL;
}

/* ---- field sections (§4.5) ------------------------------------------------
 */

size_t zttp_qpack_encode_bound(const zttp_qpack_encoder *e,
                               const zttp_header *fields, size_t num_fields) {
  (void)e;
  size_t n = PREFIX_MAX;
  for (size_t i = 0; i < num_fields; i++) {
    n += 3 * ZTTP_QPACK_INT_MAX_LEN + fields[i].name_len + fields[i].value_len;
  }
  return n;
}

/* The section being encoded. */
typedef struct enc_sec {
  uint64_t base;
  uint64_t ric;
  uint64_t min_ref;
} enc_sec;

static inline void use(enc_sec *s, uint64_t a) {
  if (a + 1 > s->ric) {
    s->ric = a + 1;
  }
  if (a < s->min_ref) {
    s->min_ref = a;
  }
}

/* §4.5.2 / §4.5.3: an indexed field line for entry |a|. */
static inline uint8_t *put_indexed(uint8_t *o, uint64_t a, uint64_t base) {
  if (a < base) {
    return zttp_qpack_int_put(o, 0x80, 6, base - 1 - a);
  }
  return zttp_qpack_int_put(o, 0x10, 4, a - base);
}

/* seen says whether a field of name-and-value hash |hv| may be inserted:
 * always while the table has room, else when it was sent recently (then
 * it is remembered). */
static inline int seen(zttp_qpack_encoder *e, const zttp_qpack_table *t,
                       uint32_t hv, size_t need) {
  if (t->size + need <= t->capacity) {
    return 1;
  }
  uint32_t *slot = &e->history[hv & (ZTTP_QPACK_HISTORY - 1)];
  if (*slot == hv) {
    return 1;
  }
  *slot = hv;
  return 0;
}

/* The lookups of one field, computed once (the pre-pass keeps the first
 * CACHE fields' for the main pass). */
typedef struct field_keys {
  unsigned sidx;  /* first static index of the name, or QPACK_STATIC_NONE */
  unsigned pol;   /* POL_* */
  uint32_t h;     /* name hash */
  uint32_t hv;    /* name-and-value hash */
  int has_exact;  /* |exact| was looked up (limit NO_ABS) */
  uint64_t exact; /* the newest entry equal to the field, or NO_ABS */
} field_keys;

#define CACHE 64

static inline void keys_of(field_keys *k, const uint8_t *name, size_t name_len,
                           const uint8_t *value, size_t value_len) {
  k->sidx = static_find(name, name_len);
  k->h = k->sidx != QPACK_STATIC_NONE ? qpack_static_hash[k->sidx]
                                      : zttp_ftable_name_hash(name, name_len);
  k->pol = policy_of(k->sidx, name, name_len);
  k->hv = value_hash(k->h, value, value_len);
}

/* prepass duplicates (§4.3.4) the entries that the fields match exactly
 * and that are draining, before Base is chosen (RFC 9204 Appendix B.4). */
static void prepass(zttp_qpack_encoder *e, const zttp_header *fields,
                    size_t num_fields, uint64_t limit, field_keys *cache) {
  zttp_qpack_table *t = &e->table;
  for (size_t i = 0; i < num_fields; i++) {
    const zttp_header *f = &fields[i];
    const uint8_t *name =
        f->name_len > 0 ? (const uint8_t *)f->name : (const uint8_t *)"";
    const uint8_t *value =
        f->value_len > 0 ? (const uint8_t *)f->value : (const uint8_t *)"";
    field_keys kk;
    field_keys *k = i < CACHE ? &cache[i] : &kk;
    keys_of(k, name, f->name_len, value, f->value_len);
    k->has_exact = 0;
    if ((f->flags & ZTTP_HEADER_NEVER_INDEX) != 0 ||
        (k->pol & ~(POL_NO_EVICT | POL_SEEN)) != 0) {
      continue;
    }
    uint64_t exact =
        find_exact(t, k->hv, name, f->name_len, value, f->value_len, limit);
    /* The main pass reuses the lookup (limit is NO_ABS here). */
    k->has_exact = 1;
    k->exact = exact;
    size_t need = f->name_len + f->value_len + ZTTP_QPACK_ENTRY_OVERHEAD;
    if (exact >= NO_ABS - 1 || !draining(t, exact, need)) {
      continue;
    }
    size_t ev = zttp_qpack_table_evictions(t, need);
    if (exact < zttp_qpack_table_dropped(t) + ev || !evictable(e, ev, NO_ABS) ||
        !obuf_room(e, ZTTP_QPACK_INT_MAX_LEN)) {
      continue;
    }
    e->obuf_len = (size_t)(zttp_qpack_int_put(e->obuf + e->obuf_len, 0x00, 5,
                                              t->inserts - 1 - exact) -
                           e->obuf);
    zttp_qpack_table_insert(t, name, f->name_len, value, f->value_len, k->h,
                            k->hv);
    k->exact = t->inserts - 1;
  }
}

int64_t zttp_qpack_encode(zttp_qpack_encoder *e, uint8_t *dst,
                          uint64_t stream_id, const zttp_header *fields,
                          size_t num_fields) {
  if (e->err != 0) {
    return e->err;
  }
  zttp_qpack_table *t = &e->table;
  int huff = e->settings.huffman;
  /* Dynamic references need a slot to track the section (§2.2.2). */
  int dyn = t->capacity > 0 && e->num_secs < e->settings.max_unacked_sections;
  if (dyn && e->num_secs == e->cap_secs) {
    size_t cap = e->cap_secs < 8 ? 8 : e->cap_secs * 2;
    if (cap > e->settings.max_unacked_sections) {
      cap = e->settings.max_unacked_sections;
    }
    zttp_qpack_section *s = zttp_mem_realloc(t->mem, e->secs, cap * sizeof(*s));
    if (s == NULL) {
      e->err = ZTTP_ERR_NOMEM;
      return ZTTP_ERR_NOMEM;
    }
    e->secs = s;
    e->cap_secs = cap;
  }
  refresh(e);
  int was_blocking = dyn && e->num_secs > 0 && stream_blocking(e, stream_id);
  /* §2.1.2: unacknowledged entries only while the blocked streams limit
   * allows this stream to block. */
  int can_block = dyn && (was_blocking || e->num_blocking < e->peer_blocked);
  uint64_t limit = can_block ? NO_ABS : e->known_received;
  field_keys cache[CACHE];
  size_t cached = 0;
  uint64_t mark = 0;
  if (dyn && can_block && t->num > 0 && t->size > t->capacity / 2) {
    prepass(e, fields, num_fields, limit, cache);
    cached = num_fields < CACHE ? num_fields : CACHE;
    mark = t->inserts;
  }
  enc_sec s = {t->inserts, 0, NO_ABS};
  uint8_t *o = dst + PREFIX_MAX;

  for (size_t i = 0; i < num_fields; i++) {
    const zttp_header *f = &fields[i];
    size_t name_len = f->name_len;
    size_t value_len = f->value_len;
    const uint8_t *name =
        name_len > 0 ? (const uint8_t *)f->name : (const uint8_t *)"";
    const uint8_t *value =
        value_len > 0 ? (const uint8_t *)f->value : (const uint8_t *)"";
    field_keys kk;
    const field_keys *k;
    if (i < cached) {
      k = &cache[i];
    } else {
      kk.sidx = static_find(name, name_len);
      kk.h = kk.sidx != QPACK_STATIC_NONE
                 ? qpack_static_hash[kk.sidx]
                 : zttp_ftable_name_hash(name, name_len);
      kk.pol = policy_of(kk.sidx, name, name_len);
      kk.hv = 0;
      k = &kk;
    }
    unsigned sidx = k->sidx;
    unsigned pol = k->pol;
    int never = (f->flags & ZTTP_HEADER_NEVER_INDEX) != 0 ||
                (pol & POL_NEVER) != 0 ||
                ((pol & POL_NEVER_SHORT) != 0 && value_len < 20);
    uint32_t hv = k->hv;
    if (!never) {
      if (i >= cached &&
          (sidx != QPACK_STATIC_NONE || (dyn && (pol & POL_NO_INDEX) == 0))) {
        hv = value_hash(k->h, value, value_len);
      }
      /* §4.5.2: a static exact match. */
      unsigned x = static_exact(e, sidx, hv, name, name_len, value, value_len);
      if (x != QPACK_STATIC_NONE) {
        o = zttp_qpack_int_put(o, 0xc0, 6, x);
        continue;
      }
    }
    if (!dyn) {
      goto literal_static;
    }
    uint64_t exact = NO_ABS, name_use = NO_ABS, name_any = NO_ABS;
    if (!never && (pol & POL_NO_INDEX) == 0 && t->num > 0) {
      if (i < cached && k->has_exact &&
          t->vbuckets[hv & (t->num_buckets - 1)] < mark) {
        /* Nothing joined the chain since the pre-pass: its answer holds,
         * unless the entry was evicted since (older equal ones were too). */
        exact = k->exact;
        if (exact != NO_ABS && exact < zttp_qpack_table_dropped(t)) {
          exact = NO_ABS;
        }
      } else {
        exact = find_exact(t, hv, name, name_len, value, value_len, limit);
      }
      if (exact < NO_ABS - 1) {
        use(&s, exact);
        o = put_indexed(o, exact, s.base);
        continue;
      }
    }
    if (sidx == QPACK_STATIC_NONE && t->num > 0) {
      find_name(t, k->h, name, name_len, limit, &name_use, &name_any);
    }
    size_t need = name_len + value_len + ZTTP_QPACK_ENTRY_OVERHEAD;
    /* Not when the same entry waits for its acknowledgment, nor, once
     * the table is full, a field not seen recently. */
    if (!never && (pol & POL_NO_INDEX) == 0 && exact == NO_ABS &&
        need <= t->capacity / 4 * 3 &&
        ((pol & POL_NO_EVICT) == 0
             ? ((pol & POL_SEEN) == 0 || seen(e, t, hv, need))
             : t->size + need <= t->capacity) &&
        do_insert(e, name, name_len, value, value_len, sidx, k->h, hv, name_any,
                  s.min_ref)) {
      if (can_block) {
        uint64_t a = t->inserts - 1;
        use(&s, a);
        o = put_indexed(o, a, s.base);
        continue;
      }
      /* The insert may have evicted the name found before it. */
      if (name_use < zttp_qpack_table_dropped(t)) {
        name_use = NO_ABS;
      }
    }
    if (sidx == QPACK_STATIC_NONE && name_use != NO_ABS) {
      use(&s, name_use);
      if (name_use < s.base) {
        o = zttp_qpack_int_put(o, never ? 0x60 : 0x40, 4,
                               s.base - 1 - name_use);
      } else {
        o = zttp_qpack_int_put(o, never ? 0x08 : 0x00, 3, name_use - s.base);
      }
      o = put_string(o, 0x00, 0x80, 7, value, value_len, huff);
      continue;
    }
  literal_static:
    /* §4.5.4, §4.5.6: a literal; N (never-indexed) keeps intermediaries
     * from indexing it (§7.1.3). */
    if (sidx != QPACK_STATIC_NONE) {
      o = zttp_qpack_int_put(o, never ? 0x70 : 0x50, 4, sidx);
    } else {
      o = put_string(o, never ? 0x30 : 0x20, 0x08, 3, name, name_len, huff);
    }
    o = put_string(o, 0x00, 0x80, 7, value, value_len, huff);
  }

  /* §4.5.1: the prefix, then the lines moved up behind it. */
  uint8_t pre[PREFIX_MAX];
  uint8_t *p = pre;
  if (s.ric == 0) {
    *p++ = 0;
    *p++ = 0;
  } else {
    /* §4.5.1.1 */
    p = zttp_qpack_int_put(p, 0x00, 8, s.ric % (2 * e->max_entries) + 1);
    /* §4.5.1.2 */
    if (s.base >= s.ric) {
      p = zttp_qpack_int_put(p, 0x00, 7, s.base - s.ric);
    } else {
      p = zttp_qpack_int_put(p, 0x80, 7, s.ric - s.base - 1);
    }
    zttp_qpack_section *sec = &e->secs[e->num_secs++];
    sec->stream_id = stream_id;
    sec->ric = s.ric;
    sec->min_ref = s.min_ref;
    if (s.min_ref < e->min_ref) {
      e->min_ref = s.min_ref;
    }
    if (s.ric > e->known_received && !was_blocking) {
      e->num_blocking++;
    }
  }
  size_t plen = (size_t)(p - pre);
  size_t llen = (size_t)(o - (dst + PREFIX_MAX));
  memmove(dst + plen, dst + PREFIX_MAX, llen);
  memcpy(dst, pre, plen);
  return (int64_t)(plen + llen);
}

/* ---- decoder stream (§4.4) ------------------------------------------------
 */

#define DEC_STREAM_ERR(e)                                                      \
  ((e)->err = ZTTP_ERR_COMPRESSION,                                            \
   (e)->wire_error = ZTTP_QPACK_DECODER_STREAM_ERROR, ZTTP_ERR_COMPRESSION)

/* remove_section drops section |i|. */
static void remove_section(zttp_qpack_encoder *e, size_t i) {
  memmove(&e->secs[i], &e->secs[i + 1],
          (e->num_secs - i - 1) * sizeof(e->secs[0]));
  e->num_secs--;
  e->stale = 1;
}

/* dec_instruction executes the decoder-stream instruction at |rd|.
 * Returns 1 (done), 0 (incomplete, |rd| unchanged) or an error. */
static int32_t dec_instruction(zttp_qpack_encoder *e, zttp_rd *rd) {
  uint8_t b = *rd->p;
  uint64_t v;
  int rv = zttp_qpack_int_read(rd, b & 0x80 ? 7 : 6, &v);
  if (rv != ZTTP_QPACK_INT_OK) {
    return rv == ZTTP_QPACK_INT_SHORT ? 0 : DEC_STREAM_ERR(e);
  }
  if (b & 0x80) {
    /* §4.4.1 Section Acknowledgment: the stream's oldest section. */
    for (size_t i = 0; i < e->num_secs; i++) {
      if (e->secs[i].stream_id == v) {
        /* §2.1.4 */
        if (e->secs[i].ric > e->known_received) {
          e->known_received = e->secs[i].ric;
        }
        remove_section(e, i);
        return 1;
      }
    }
    return DEC_STREAM_ERR(e);
  }
  if (b & 0x40) {
    /* §4.4.2 Stream Cancellation. */
    for (size_t i = e->num_secs; i-- > 0;) {
      if (e->secs[i].stream_id == v) {
        remove_section(e, i);
      }
    }
    return 1;
  }
  /* §4.4.3 Insert Count Increment. */
  if (v == 0 || v > e->table.inserts - e->known_received) {
    return DEC_STREAM_ERR(e);
  }
  e->known_received += v;
  e->stale = 1;
  return 1;
}

int32_t zttp_qpack_encoder_receive_decoder_stream(zttp_qpack_encoder *e,
                                                  const uint8_t *data,
                                                  size_t len) {
  if (e->err != 0) {
    return e->err;
  }
  zttp_rd rd;
  zttp_rd_init(&rd, data, len);
  int32_t rv;
  while (e->ibuf_len > 0 && zttp_rd_len(&rd) > 0) {
    size_t old = e->ibuf_len;
    size_t take = zttp_rd_len(&rd);
    if (take > sizeof(e->ibuf) - old) {
      take = sizeof(e->ibuf) - old;
    }
    memcpy(e->ibuf + old, rd.p, take);
    zttp_rd ib;
    zttp_rd_init(&ib, e->ibuf, old + take);
    rv = dec_instruction(e, &ib);
    if (rv < 0) {
      return rv;
    }
    if (rv == 0) {
      if (old + take == sizeof(e->ibuf)) {
        return DEC_STREAM_ERR(e);
      }
      e->ibuf_len = old + take;
      return 0;
    }
    zttp_rd_skip(&rd, (size_t)(ib.p - e->ibuf) - old);
    e->ibuf_len = 0;
  }
  while (zttp_rd_len(&rd) > 0) {
    rv = dec_instruction(e, &rd);
    if (rv < 0) {
      return rv;
    }
    if (rv == 0) {
      size_t n = zttp_rd_len(&rd);
      if (n >= sizeof(e->ibuf)) {
        return DEC_STREAM_ERR(e);
      }
      memcpy(e->ibuf, rd.p, n);
      e->ibuf_len = n;
      break;
    }
  }
  return 0;
}
