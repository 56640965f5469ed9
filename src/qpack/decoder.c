/* The QPACK decoder (RFC 9204 §2.2, §4.3 as the receiver of the encoder
 * stream, §4.4 as the sender of the decoder stream, §4.5 field sections).
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
#define NOINLINE __attribute__((noinline))
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#define NOINLINE
#endif

/* ---- integers and strings ---------------------------------------------- */

int zttp_qpack_int_read_more(zttp_rd *rd, uint64_t v, uint64_t *out) {
  /* RFC 9204 §4.1.1: zttp takes at most 62 bits (§7.4 leaves the limit to
   * the implementation): nine continuation bytes (shifts 0..56) at most. */
  return zttp_prefix_int_read_more(&rd->p, rd->end, v, ZTTP_QPACK_INT_MAX, 56,
                                   out);
}

/* A string literal (RFC 9204 §4.1.2) as on the wire. */
typedef struct wire_str {
  const uint8_t *p;
  size_t n;
  int huff;
} wire_str;

/* parse_str reads the length (|prefix| bits, H bit |hmask|) and borrows
 * the bytes. Returns ZTTP_QPACK_INT_OK, _SHORT (reader unchanged) or _BAD;
 * a declared length above |max_len| is _BAD at once. */
static inline int parse_str(zttp_rd *rd, unsigned prefix, uint8_t hmask,
                            size_t max_len, wire_str *s) {
  zttp_rd save = *rd;
  if (UNLIKELY(rd->p == rd->end)) {
    return ZTTP_QPACK_INT_SHORT;
  }
  s->huff = (*rd->p & hmask) != 0;
  uint64_t n;
  int rv = zttp_qpack_int_read(rd, prefix, &n);
  if (UNLIKELY(rv != ZTTP_QPACK_INT_OK)) {
    return rv;
  }
  if (UNLIKELY(n > max_len)) {
    *rd = save;
    return ZTTP_QPACK_INT_BAD;
  }
  s->n = (size_t)n;
  if (UNLIKELY(!zttp_rd_bytes(rd, &s->p, s->n))) {
    *rd = save;
    return ZTTP_QPACK_INT_SHORT;
  }
  return ZTTP_QPACK_INT_OK;
}

/* huff_room is the room zttp_huffman_decode() needs for |n| bytes (the
 * shortest code is 5 bits, and it may write one byte past). */
static inline size_t huff_room(size_t n) {
  return n + n / 5 * 3 + 8;
}

/* ---- the decoded fields ------------------------------------------------- */

void zttp_qpack_fields_free(zttp_qpack_fields *f, const zttp_mem *mem) {
  zttp_fieldbuf_free(f, mem);
}

/* While decoding, strings stored in out->bytes are kept as offsets (the
 * array may move); these |reserved| bits say which, and finish_fields()
 * turns them into pointers. */
#define NAME_OFF 0x1u
#define VALUE_OFF 0x2u

/* grow_bytes makes room for |n| more bytes in out->bytes. */
static NOINLINE int32_t grow_bytes(zttp_qpack_fields *out, const zttp_mem *mem,
                                   size_t n) {
  if (n > SIZE_MAX / 4 - out->len_bytes) {
    return ZTTP_ERR_NOMEM;
  }
  size_t need = out->len_bytes + n;
  size_t cap = out->cap_bytes < 256 ? 256 : out->cap_bytes;
  while (cap < need) {
    cap *= 2;
  }
  uint8_t *b = zttp_mem_realloc(mem, out->bytes, cap);
  if (b == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  out->bytes = b;
  out->cap_bytes = cap;
  return 0;
}

static inline int32_t reserve_bytes(zttp_qpack_fields *out, const zttp_mem *mem,
                                    size_t n) {
  if (LIKELY(out->cap_bytes - out->len_bytes >= n && out->bytes != NULL)) {
    return 0;
  }
  return grow_bytes(out, mem, n == 0 ? 1 : n);
}

static void finish_fields(zttp_qpack_fields *out) {
  const char *base = (const char *)out->bytes;
  for (size_t i = 0; i < out->num_fields; i++) {
    zttp_header *f = &out->fields[i];
    if (f->reserved & NAME_OFF) {
      f->name = base + (uintptr_t)f->name;
    }
    if (f->reserved & VALUE_OFF) {
      f->value = base + (uintptr_t)f->value;
    }
    f->reserved = 0;
  }
}

/* ---- decoder lifecycle --------------------------------------------------- */

void zttp_qpack_decoder_settings_default(zttp_qpack_decoder_settings *s) {
  s->max_table_capacity = 4096;
  s->max_blocked_streams = 16;
  s->max_field_section_size = 65536;
  s->max_blocked_bytes = 65536;
  s->max_decoder_stream_buffer = 4096;
}

int32_t zttp_qpack_decoder_init(zttp_qpack_decoder *d, const zttp_mem *mem,
                                const zttp_qpack_decoder_settings *s) {
  memset(d, 0, sizeof(*d));
  if (s != NULL) {
    d->settings = *s;
  } else {
    zttp_qpack_decoder_settings_default(&d->settings);
  }
  const zttp_qpack_decoder_settings *st = &d->settings;
  if (st->max_table_capacity > UINT32_MAX / 8 ||
      st->max_decoder_stream_buffer < ZTTP_QPACK_INT_MAX_LEN) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  /* RFC 9204 §4.5.1.1. */
  d->max_entries = st->max_table_capacity / ZTTP_QPACK_ENTRY_OVERHEAD;
  if (zttp_qpack_table_init(&d->table, mem, st->max_table_capacity, 0) != 0) {
    goto fail_table;
  }
  d->ibuf_cap = 4 * st->max_table_capacity + 64;
  d->ibuf = zttp_mem_malloc(mem, d->ibuf_cap);
  if (d->ibuf == NULL) {
    goto fail_ibuf;
  }
  d->obuf = zttp_mem_malloc(mem, st->max_decoder_stream_buffer);
  if (d->obuf == NULL) {
    goto fail_obuf;
  }
  return 0;

fail_obuf:
  zttp_mem_free(mem, d->ibuf);
fail_ibuf:
  zttp_qpack_table_free(&d->table);
fail_table:
  memset(d, 0, sizeof(*d));
  return ZTTP_ERR_NOMEM;
}

void zttp_qpack_decoder_free(zttp_qpack_decoder *d) {
  const zttp_mem *mem = d->table.mem;
  if (mem == NULL) {
    return;
  }
  for (size_t i = 0; i < d->num_blocked; i++) {
    zttp_mem_free(mem, d->blocked[i].data);
  }
  if (d->blocked != NULL) {
    zttp_mem_free(mem, d->blocked);
  }
  if (d->scratch != NULL) {
    zttp_mem_free(mem, d->scratch);
  }
  zttp_mem_free(mem, d->obuf);
  zttp_mem_free(mem, d->ibuf);
  zttp_qpack_table_free(&d->table);
  memset(d, 0, sizeof(*d));
}

int32_t zttp_qpack_decoder_preset_capacity(zttp_qpack_decoder *d,
                                           size_t capacity) {
  if (capacity > d->settings.max_table_capacity) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_qpack_table_set_capacity(&d->table, capacity);
  return 0;
}

/* fail records an error: its wire code and, unless it is the section
 * size limit (a stream error, RFC 9114 §4.2.2), poisons |d|. */
static int32_t fail(zttp_qpack_decoder *d, int32_t err, uint64_t wire) {
  if (err != ZTTP_ERR_LIMIT_HEADER_BYTES) {
    d->err = err;
  }
  d->wire_error = wire;
  return err;
}

/* ---- decoder stream (RFC 9204 §4.4) ---------------------------------------
 */

/* emit queues one decoder-stream instruction, or returns 0 when it does
 * not fit. */
static int emit(zttp_qpack_decoder *d, uint8_t first, unsigned prefix,
                uint64_t v) {
  if (d->settings.max_decoder_stream_buffer - d->obuf_len <
      zttp_qpack_int_len(prefix, v)) {
    return 0;
  }
  d->obuf_len =
      (size_t)(zttp_qpack_int_put(d->obuf + d->obuf_len, first, prefix, v) -
               d->obuf);
  return 1;
}

size_t zttp_qpack_decoder_stream_pending(zttp_qpack_decoder *d,
                                         const uint8_t **out) {
  /* RFC 9204 §4.4.3: bring the Known Received Count up to the inserts. */
  uint64_t inc = d->table.inserts - d->known_received;
  if (inc > 0 && emit(d, 0x00, 6, inc)) {
    d->known_received = d->table.inserts;
  }
  *out = d->obuf;
  return d->obuf_len;
}

void zttp_qpack_decoder_stream_consume(zttp_qpack_decoder *d, size_t n) {
  if (n >= d->obuf_len) {
    d->obuf_len = 0;
    return;
  }
  memmove(d->obuf, d->obuf + n, d->obuf_len - n);
  d->obuf_len -= n;
}

int32_t zttp_qpack_decoder_cancel_stream(zttp_qpack_decoder *d,
                                         uint64_t stream_id) {
  if (d->err != 0) {
    return d->err;
  }
  /* RFC 9204 §4.4.2; a decoder without a dynamic table may omit it. */
  if (d->settings.max_table_capacity > 0 && !emit(d, 0x40, 6, stream_id)) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  for (size_t i = 0; i < d->num_blocked; i++) {
    if (d->blocked[i].stream_id == stream_id) {
      d->blocked_bytes -= d->blocked[i].len;
      zttp_mem_free(d->table.mem, d->blocked[i].data);
      memmove(&d->blocked[i], &d->blocked[i + 1],
              (d->num_blocked - i - 1) * sizeof(d->blocked[0]));
      d->num_blocked--;
      break;
    }
  }
  return 0;
}

/* ---- encoder stream (RFC 9204 §4.3) ---------------------------------------
 */

/* ensure_scratch makes d->scratch at least |n| bytes. */
static int32_t ensure_scratch(zttp_qpack_decoder *d, size_t n) {
  if (d->scratch_cap >= n) {
    return 0;
  }
  size_t cap = d->scratch_cap < 256 ? 256 : d->scratch_cap;
  while (cap < n) {
    cap *= 2;
  }
  uint8_t *s = zttp_mem_realloc(d->table.mem, d->scratch, cap);
  if (s == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  d->scratch = s;
  d->scratch_cap = cap;
  return 0;
}

/* max_encoded bounds the wire length of a string that decodes to at most
 * |avail| bytes: raw, or Huffman of at most 30 bits per symbol plus
 * under 8 bits of padding (RFC 7541 §5.2). */
static inline size_t max_encoded(size_t avail, int huff) {
  return huff ? (avail * 30 + 7) / 8 + 1 : avail;
}

/* Peeks the H bit to choose the bound for parse_str(). */
static inline int peek_huff(const zttp_rd *rd, uint8_t hmask) {
  return rd->p != rd->end && (*rd->p & hmask) != 0;
}

/* put_str decodes |s| into |dst| (room: huff_room(s->n)), returns its
 * length or -1 (bad Huffman). */
static inline int64_t put_str(uint8_t *dst, const wire_str *s) {
  if (s->huff) {
    return zttp_huffman_decode(dst, s->p, s->n);
  }
  if (s->n > 0) {
    memcpy(dst, s->p, s->n);
  }
  return (int64_t)s->n;
}

#define ENC_ERR(d)                                                             \
  fail((d), ZTTP_ERR_COMPRESSION, ZTTP_QPACK_ENCODER_STREAM_ERROR)

/* enc_instruction executes the encoder-stream instruction at |rd|. Returns
 * 1 (done, |rd| advanced), 0 (incomplete, |rd| unchanged) or an error. */
static int32_t enc_instruction(zttp_qpack_decoder *d, zttp_rd *rd) {
  zttp_qpack_table *t = &d->table;
  zttp_rd save = *rd;
  uint8_t b = *rd->p;
  uint64_t v = 0;
  int rv;
  /* Every entry needs 32 bytes: what its name and value may take. */
  size_t avail = t->capacity >= ZTTP_QPACK_ENTRY_OVERHEAD
                     ? t->capacity - ZTTP_QPACK_ENTRY_OVERHEAD
                     : 0;

  if ((b & 0xe0) == 0x20) {
    /* §4.3.1 Set Dynamic Table Capacity. */
    if ((rv = zttp_qpack_int_read(rd, 5, &v)) != ZTTP_QPACK_INT_OK) {
      return rv == ZTTP_QPACK_INT_SHORT ? 0 : ENC_ERR(d);
    }
    if (v > d->settings.max_table_capacity) {
      return ENC_ERR(d);
    }
    zttp_qpack_table_set_capacity(t, (size_t)v);
    return 1;
  }
  /* §3.2.2: an entry larger than the capacity is an error; with a
   * capacity under 32 even an empty one is. */
  if (t->capacity < ZTTP_QPACK_ENTRY_OVERHEAD) {
    return ENC_ERR(d);
  }
  if ((b & 0xe0) == 0x00) {
    /* §4.3.4 Duplicate. */
    if ((rv = zttp_qpack_int_read(rd, 5, &v)) != ZTTP_QPACK_INT_OK) {
      return rv == ZTTP_QPACK_INT_SHORT ? 0 : ENC_ERR(d);
    }
    /* §3.2.5 relative index: Insert Count - 1 - v. */
    if (v >= t->num) {
      return ENC_ERR(d);
    }
    const zttp_qpack_entry *e = zttp_qpack_table_get(t, t->inserts - 1 - v);
    size_t n = (size_t)e->name_len + e->value_len;
    if (n > avail) {
      return ENC_ERR(d);
    }
    if (ensure_scratch(d, n + 1) != 0) {
      return fail(d, ZTTP_ERR_NOMEM, 0);
    }
    zttp_qpack_table_copy(t, d->scratch, e->off, n);
    size_t name_len = e->name_len;
    zttp_qpack_table_insert(t, d->scratch, name_len, d->scratch + name_len,
                            n - name_len, 0, 0);
    return 1;
  }

  /* §4.3.2 Insert with Name Reference, §4.3.3 Insert with Literal Name. */
  const uint8_t *name;
  size_t name_len;
  wire_str ns = {0};
  if (b & 0x80) {
    if ((rv = zttp_qpack_int_read(rd, 6, &v)) != ZTTP_QPACK_INT_OK) {
      return rv == ZTTP_QPACK_INT_SHORT ? 0 : ENC_ERR(d);
    }
    if (b & 0x40) {
      if (v >= QPACK_STATIC_NUM) {
        return ENC_ERR(d);
      }
      name = (const uint8_t *)qpack_static[v].name;
      name_len = qpack_static[v].name_len;
    } else {
      if (v >= t->num) {
        return ENC_ERR(d);
      }
      name = NULL; /* copied below: the insert may evict it (§3.2.2) */
      name_len = zttp_qpack_table_get(t, t->inserts - 1 - v)->name_len;
    }
    if (name_len > avail) {
      return ENC_ERR(d);
    }
  } else {
    int h = peek_huff(rd, 0x20);
    rv = parse_str(rd, 5, 0x20, max_encoded(avail, h), &ns);
    if (rv != ZTTP_QPACK_INT_OK) {
      return rv == ZTTP_QPACK_INT_SHORT ? 0 : ENC_ERR(d);
    }
    name = NULL;
    name_len = 0;
  }
  wire_str vs;
  int vh = peek_huff(rd, 0x80);
  /* The name's decoded length is known only later for a Huffman name:
   * bound by |avail| now and check the sum after decoding. */
  size_t vavail = b & 0x80 ? avail - name_len : avail;
  rv = parse_str(rd, 7, 0x80, max_encoded(vavail, vh), &vs);
  if (rv != ZTTP_QPACK_INT_OK) {
    *rd = save;
    return rv == ZTTP_QPACK_INT_SHORT ? 0 : ENC_ERR(d);
  }

  /* Complete: decode name and value into the scratch. */
  size_t nroom = b & 0x80 ? name_len : huff_room(ns.n);
  if (ensure_scratch(d, nroom + huff_room(vs.n)) != 0) {
    return fail(d, ZTTP_ERR_NOMEM, 0);
  }
  if (b & 0x80) {
    if (name == NULL) {
      const zttp_qpack_entry *e = zttp_qpack_table_get(t, t->inserts - 1 - v);
      zttp_qpack_table_copy(t, d->scratch, e->off, name_len);
    } else if (name_len > 0) {
      memcpy(d->scratch, name, name_len);
    }
  } else {
    int64_t n = put_str(d->scratch, &ns);
    if (n < 0) {
      return ENC_ERR(d);
    }
    name_len = (size_t)n;
  }
  int64_t vn = put_str(d->scratch + name_len, &vs);
  if (vn < 0 || name_len > avail || (size_t)vn > avail - name_len) {
    return ENC_ERR(d);
  }
  zttp_qpack_table_insert(t, d->scratch, name_len, d->scratch + name_len,
                          (size_t)vn, 0, 0);
  return 1;
}

/* count_ready returns the blocked sections whose inserts have arrived. */
static int32_t count_ready(const zttp_qpack_decoder *d) {
  int32_t n = 0;
  for (size_t i = 0; i < d->num_blocked; i++) {
    n += d->blocked[i].ric <= d->table.inserts;
  }
  return n;
}

int32_t zttp_qpack_decoder_receive_encoder_stream(zttp_qpack_decoder *d,
                                                  const uint8_t *data,
                                                  size_t len) {
  if (d->err != 0) {
    return d->err;
  }
  zttp_rd rd;
  zttp_rd_init(&rd, data, len);
  int32_t rv;
  while (d->ibuf_len > 0 && zttp_rd_len(&rd) > 0) {
    /* Finish the kept instruction with as much input as fits. */
    size_t old = d->ibuf_len;
    size_t take = zttp_rd_len(&rd);
    if (take > d->ibuf_cap - old) {
      take = d->ibuf_cap - old;
    }
    memcpy(d->ibuf + old, rd.p, take);
    zttp_rd ib;
    zttp_rd_init(&ib, d->ibuf, old + take);
    rv = enc_instruction(d, &ib);
    if (rv < 0) {
      return rv;
    }
    if (rv == 0) {
      if (old + take == d->ibuf_cap) {
        return ENC_ERR(d); /* longer than any valid instruction */
      }
      d->ibuf_len = old + take;
      return count_ready(d);
    }
    /* The instruction ended inside the new bytes. */
    zttp_rd_skip(&rd, (size_t)(ib.p - d->ibuf) - old);
    d->ibuf_len = 0;
  }
  while (zttp_rd_len(&rd) > 0) {
    rv = enc_instruction(d, &rd);
    if (rv < 0) {
      return rv;
    }
    if (rv == 0) {
      size_t n = zttp_rd_len(&rd);
      if (n >= d->ibuf_cap) {
        return ENC_ERR(d);
      }
      memcpy(d->ibuf, rd.p, n);
      d->ibuf_len = n;
      break;
    }
  }
  return count_ready(d);
}

/* ---- field sections (RFC 9204 §4.5) ---------------------------------------
 */

#define DEC_ERR(d)                                                             \
  fail((d), ZTTP_ERR_COMPRESSION, ZTTP_QPACK_DECOMPRESSION_FAILED)

/* parse_prefix reads the Encoded Field Section Prefix (§4.5.1): Required
 * Insert Count (§4.5.1.1) and Base (§4.5.1.2). Returns 0 or -1. */
static int parse_prefix(const zttp_qpack_decoder *d, zttp_rd *rd,
                        uint64_t *ric_out, uint64_t *base_out) {
  uint64_t enc, delta;
  if (zttp_qpack_int_read(rd, 8, &enc) != ZTTP_QPACK_INT_OK ||
      rd->p == rd->end) {
    return -1;
  }
  int sign = (*rd->p & 0x80) != 0;
  if (zttp_qpack_int_read(rd, 7, &delta) != ZTTP_QPACK_INT_OK) {
    return -1;
  }
  uint64_t ric = 0;
  if (enc != 0) {
    uint64_t full = 2 * d->max_entries;
    if (enc > full) {
      return -1;
    }
    uint64_t max_value = d->table.inserts + d->max_entries;
    uint64_t max_wrapped = max_value / full * full;
    ric = max_wrapped + enc - 1;
    if (ric > max_value) {
      if (ric <= full) {
        return -1;
      }
      ric -= full;
    }
    if (ric == 0) {
      return -1;
    }
  }
  uint64_t base;
  if (!sign) {
    base = ric + delta; /* both < 2^62: no overflow */
  } else {
    /* §4.5.1.2: a Sign of 1 needs Delta Base < Required Insert Count. */
    if (ric <= delta) {
      return -1;
    }
    base = ric - delta - 1;
  }
  *ric_out = ric;
  *base_out = base;
  return 0;
}

/* The state of one section being decoded. */
typedef struct sec_state {
  uint64_t ric;
  uint64_t base;
  uint64_t max_ref; /* largest absolute index referenced + 1 */
  uint64_t size;    /* RFC 9114 §4.2.2 size so far */
  uint64_t max_size;
} sec_state;

/* dyn_entry returns the entry of absolute index |abs| if a section may
 * reference it (§2.2.3: below RIC, not evicted), else NULL. */
static inline const zttp_qpack_entry *dyn_entry(const zttp_qpack_decoder *d,
                                                sec_state *s, uint64_t abs) {
  if (UNLIKELY(abs >= s->ric) ||
      UNLIKELY(abs < zttp_qpack_table_dropped(&d->table))) {
    return NULL;
  }
  if (abs + 1 > s->max_ref) {
    s->max_ref = abs + 1;
  }
  return zttp_qpack_table_get(&d->table, abs);
}

/* Name sources of a literal. */
#define NAME_STATIC 0
#define NAME_DYNAMIC 1
#define NAME_LITERAL 2

/* decode_lines decodes the field lines after the prefix. Returns 0 or an
 * error (already recorded in |d|). */
static int32_t decode_lines(zttp_qpack_decoder *d, zttp_qpack_fields *out,
                            zttp_rd *rd, uint64_t ric, uint64_t base) {
  const zttp_mem *mem = d->table.mem;
  const zttp_qpack_table *t = &d->table;
  sec_state s = {ric, base, 0, 0, d->settings.max_field_section_size};
  uint64_t v;
  zttp_header *f;

  while (rd->p != rd->end) {
    uint8_t b = *rd->p;
    if (b & 0x80) {
      /* §4.5.2 Indexed Field Line. */
      if (UNLIKELY(zttp_qpack_int_read(rd, 6, &v) != ZTTP_QPACK_INT_OK)) {
        return DEC_ERR(d);
      }
      if (b & 0x40) {
        if (UNLIKELY(v >= QPACK_STATIC_NUM)) {
          return DEC_ERR(d);
        }
        const qpack_static_entry *se = &qpack_static[v];
        s.size += (uint64_t)se->name_len + se->value_len + 32;
        if (UNLIKELY(s.size > s.max_size)) {
          goto too_big;
        }
        if (UNLIKELY((f = zttp_fieldbuf_push(out, mem)) == NULL)) {
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
      if (UNLIKELY(v >= base)) {
        return DEC_ERR(d);
      }
      v = base - 1 - v;
      goto indexed_dynamic;
    }
    if (UNLIKELY((b & 0xf0) == 0x10)) {
      /* §4.5.3 Indexed Field Line with Post-Base Index. */
      if (zttp_qpack_int_read(rd, 4, &v) != ZTTP_QPACK_INT_OK || base >= ric ||
          v >= ric - base) {
        return DEC_ERR(d);
      }
      v = base + v;
      goto indexed_dynamic;
    }

    /* Literals: §4.5.4 with name reference, §4.5.5 with post-base name
     * reference, §4.5.6 with literal name. */
    uint32_t flags;
    const char *sname = NULL;
    size_t name_len;
    size_t start = out->len_bytes;
    const zttp_qpack_entry *e = NULL;
    if (b & 0x40) {
      flags = b & 0x20 ? ZTTP_HEADER_NEVER_INDEX : 0;
      if (UNLIKELY(zttp_qpack_int_read(rd, 4, &v) != ZTTP_QPACK_INT_OK)) {
        return DEC_ERR(d);
      }
      if (b & 0x10) {
        if (UNLIKELY(v >= QPACK_STATIC_NUM)) {
          return DEC_ERR(d);
        }
        sname = qpack_static[v].name;
        name_len = qpack_static[v].name_len;
      } else {
        if (UNLIKELY(v >= base) ||
            UNLIKELY((e = dyn_entry(d, &s, base - 1 - v)) == NULL)) {
          return DEC_ERR(d);
        }
      }
    } else if (b & 0x20) {
      flags = b & 0x10 ? ZTTP_HEADER_NEVER_INDEX : 0;
      wire_str ns;
      if (UNLIKELY(parse_str(rd, 3, 0x08, SIZE_MAX, &ns) !=
                   ZTTP_QPACK_INT_OK)) {
        return DEC_ERR(d);
      }
      if (UNLIKELY(reserve_bytes(out, mem, huff_room(ns.n)) != 0)) {
        goto nomem;
      }
      int64_t n = put_str(out->bytes + start, &ns);
      if (UNLIKELY(n < 0)) {
        return DEC_ERR(d);
      }
      name_len = (size_t)n;
      out->len_bytes += name_len;
    } else {
      flags = b & 0x08 ? ZTTP_HEADER_NEVER_INDEX : 0;
      if (UNLIKELY(zttp_qpack_int_read(rd, 3, &v) != ZTTP_QPACK_INT_OK) ||
          UNLIKELY(base >= ric) || UNLIKELY(v >= ric - base) ||
          UNLIKELY((e = dyn_entry(d, &s, base + v)) == NULL)) {
        return DEC_ERR(d);
      }
    }
    if (e != NULL) {
      name_len = e->name_len;
      if (UNLIKELY(reserve_bytes(out, mem, name_len) != 0)) {
        goto nomem;
      }
      zttp_qpack_table_copy(t, out->bytes + start, e->off, name_len);
      out->len_bytes += name_len;
    }
    wire_str vs;
    if (UNLIKELY(parse_str(rd, 7, 0x80, SIZE_MAX, &vs) != ZTTP_QPACK_INT_OK)) {
      return DEC_ERR(d);
    }
    size_t voff = out->len_bytes;
    if (UNLIKELY(reserve_bytes(out, mem, huff_room(vs.n)) != 0)) {
      goto nomem;
    }
    int64_t vn = put_str(out->bytes + voff, &vs);
    if (UNLIKELY(vn < 0)) {
      return DEC_ERR(d);
    }
    s.size += (uint64_t)name_len + (uint64_t)vn + 32;
    if (UNLIKELY(s.size > s.max_size)) {
      goto too_big;
    }
    out->len_bytes += (size_t)vn;
    if (UNLIKELY((f = zttp_fieldbuf_push(out, mem)) == NULL)) {
      goto nomem;
    }
    f->name_len = name_len;
    f->value_len = (size_t)vn;
    f->flags = flags;
    if (sname != NULL) {
      f->name = sname;
      f->reserved = 0;
    } else {
      f->name = (const char *)(uintptr_t)start;
      f->reserved = NAME_OFF;
    }
    f->value = (const char *)(uintptr_t)voff;
    f->reserved |= VALUE_OFF;
    continue;

  indexed_dynamic:
    if (UNLIKELY((e = dyn_entry(d, &s, v)) == NULL)) {
      return DEC_ERR(d);
    }
    {
      size_t n = (size_t)e->name_len + e->value_len;
      s.size += (uint64_t)n + 32;
      if (UNLIKELY(s.size > s.max_size)) {
        goto too_big;
      }
      size_t off = out->len_bytes;
      if (UNLIKELY(reserve_bytes(out, mem, n) != 0) ||
          UNLIKELY((f = zttp_fieldbuf_push(out, mem)) == NULL)) {
        goto nomem;
      }
      zttp_qpack_table_copy(t, out->bytes + off, e->off, n);
      out->len_bytes += n;
      f->name = (const char *)(uintptr_t)off;
      f->name_len = e->name_len;
      f->value = (const char *)(uintptr_t)(off + e->name_len);
      f->value_len = e->value_len;
      f->flags = 0;
      f->reserved = NAME_OFF | VALUE_OFF;
    }
  }
  /* §2.2.3 / §4.5.1.1: the Required Insert Count must be exactly what the
   * references need (a larger one MAY be an error, §2.1.2; zttp checks). */
  if (s.max_ref != ric) {
    return DEC_ERR(d);
  }
  finish_fields(out);
  return 0;

too_big:
  return fail(d, ZTTP_ERR_LIMIT_HEADER_BYTES, ZTTP_QPACK_H3_MESSAGE_ERROR);
nomem:
  return fail(d, ZTTP_ERR_NOMEM, 0);
}

/* finish decodes the lines of a section whose inserts have all arrived and
 * acknowledges it (§4.4.1). */
static int32_t finish(zttp_qpack_decoder *d, zttp_qpack_fields *out,
                      uint64_t stream_id, const uint8_t *data, size_t len,
                      uint64_t ric, uint64_t base) {
  if (ric > 0 && d->settings.max_decoder_stream_buffer - d->obuf_len <
                     zttp_qpack_int_len(7, stream_id)) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  zttp_rd rd;
  zttp_rd_init(&rd, data, len);
  int32_t rv = decode_lines(d, out, &rd, ric, base);
  if (rv != 0) {
    d->err_stream = stream_id;
    out->num_fields = 0;
    out->len_bytes = 0;
    return rv;
  }
  if (ric > 0) {
    emit(d, 0x80, 7, stream_id);
    /* §2.1.4: the acknowledgment raises the Known Received Count. */
    if (ric > d->known_received) {
      d->known_received = ric;
    }
  }
  return 0;
}

int32_t zttp_qpack_decode(zttp_qpack_decoder *d, zttp_qpack_fields *out,
                          uint64_t stream_id, const uint8_t *data, size_t len) {
  out->num_fields = 0;
  out->len_bytes = 0;
  if (d->err != 0) {
    return d->err;
  }
  for (size_t i = 0; i < d->num_blocked; i++) {
    if (d->blocked[i].stream_id == stream_id) {
      return ZTTP_ERR_INVALID_STATE;
    }
  }
  zttp_rd rd;
  zttp_rd_init(&rd, data, len);
  uint64_t ric, base;
  if (parse_prefix(d, &rd, &ric, &base) != 0) {
    d->err_stream = stream_id;
    return DEC_ERR(d);
  }
  size_t rest = zttp_rd_len(&rd);
  if (LIKELY(ric <= d->table.inserts)) {
    return finish(d, out, stream_id, rd.p, rest, ric, base);
  }

  /* §2.1.2: blocked; hold a copy until the inserts arrive. */
  d->err_stream = stream_id;
  if (d->num_blocked >= d->settings.max_blocked_streams) {
    return DEC_ERR(d);
  }
  if (rest > d->settings.max_blocked_bytes - d->blocked_bytes) {
    return fail(d, ZTTP_ERR_LIMIT_INPUT_BUFFER, ZTTP_QPACK_H3_EXCESSIVE_LOAD);
  }
  const zttp_mem *mem = d->table.mem;
  if (d->blocked == NULL) {
    d->blocked = zttp_mem_calloc(mem, d->settings.max_blocked_streams,
                                 sizeof(*d->blocked));
    if (d->blocked == NULL) {
      return fail(d, ZTTP_ERR_NOMEM, 0);
    }
  }
  uint8_t *copy = zttp_mem_malloc(mem, rest == 0 ? 1 : rest);
  if (copy == NULL) {
    return fail(d, ZTTP_ERR_NOMEM, 0);
  }
  if (rest > 0) {
    memcpy(copy, rd.p, rest);
  }
  zttp_qpack_blocked *bl = &d->blocked[d->num_blocked++];
  bl->stream_id = stream_id;
  bl->ric = ric;
  bl->base = base;
  bl->data = copy;
  bl->len = rest;
  d->blocked_bytes += rest;
  return ZTTP_QPACK_BLOCKED;
}

int32_t zttp_qpack_decoder_next_ready(zttp_qpack_decoder *d,
                                      zttp_qpack_fields *out,
                                      uint64_t *stream_id) {
  out->num_fields = 0;
  out->len_bytes = 0;
  if (d->err != 0) {
    return d->err;
  }
  for (size_t i = 0; i < d->num_blocked; i++) {
    zttp_qpack_blocked bl = d->blocked[i];
    if (bl.ric > d->table.inserts) {
      continue;
    }
    *stream_id = bl.stream_id;
    int32_t rv = finish(d, out, bl.stream_id, bl.data, bl.len, bl.ric, bl.base);
    if (rv == ZTTP_ERR_BUFFER_FULL) {
      return rv;
    }
    d->blocked_bytes -= bl.len;
    zttp_mem_free(d->table.mem, bl.data);
    memmove(&d->blocked[i], &d->blocked[i + 1],
            (d->num_blocked - i - 1) * sizeof(d->blocked[0]));
    d->num_blocked--;
    return rv == 0 ? 1 : rv;
  }
  return 0;
}
