/* libFuzzer target: the HPACK decoder (src/hpack), the Huffman code and,
 * on the way, the encoder.
 *
 * Input layout: one selector byte, then blocks, each a 2-byte big-endian
 * header (bits 0-13: the block's length, cut to what is left; bits 14-15: a
 * SETTINGS_HEADER_TABLE_SIZE change before it: none, half the capacity, 0,
 * the capacity) followed by the block.
 *   selector bits 0-2: the decoder's table capacity (table_sizes[]);
 *            bits 3-4: the limits (max fields, max list size);
 *            bits 5-7: the re-encoding encoder's own cap (table_sizes[]).
 *
 * Every block goes to two decoders that see the same SETTINGS: |lim| with
 * the selected limits and |ref| with none. Both must agree: the same error
 * or success, except that |lim| may report LIMIT_HEADERS /
 * LIMIT_HEADER_BYTES where |ref| succeeds; their dynamic tables must be
 * identical after every block either way (the whole block was processed).
 * A COMPRESSION error ends the input (a connection error). On success the
 * fields are checked (count and list size within the limits) and
 * re-encoded with zttp's encoder, decoded by a third decoder and compared
 * (names, values, never-indexed flags), and the encoder's and that
 * decoder's tables compared. Each block is also tried as a Huffman string:
 * a string that decodes must encode back to exactly the same bytes (the
 * code with its padding rule is a bijection).
 *
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/huffman.h"
#include "hpack/hpack.h"
#include "hpack/table.h"

#define FUZZ_TARGET "hpack_decode" /* names the CHECK failures */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t table_sizes[8] = {0, 32, 100, 256, 1000, 4096, 4096, 65536};
static const size_t limit_fields[4] = {SIZE_MAX, 4, 100, 1000};
static const size_t limit_list[4] = {SIZE_MAX, 200, 4096, 65536};

static void same_tables(const zttp_hpack_table *a, const zttp_hpack_table *b,
                        const char *what) {
  CHECK(a->num == b->num && a->size == b->size && a->max_size == b->max_size,
        "%s: tables differ: %zu/%zu/%zu entries/size/max vs %zu/%zu/%zu", what,
        a->num, a->size, a->max_size, b->num, b->size, b->max_size);
  CHECK(a->size <= a->max_size && a->max_size <= a->capacity,
        "%s: size %zu, max %zu, capacity %zu", what, a->size, a->max_size,
        a->capacity);
  static uint8_t x[65536];
  static uint8_t y[65536];
  for (size_t i = 0; i < a->num; i++) {
    const zttp_hpack_entry *ea = &a->ents[zttp_hpack_table_slot(a, i)];
    const zttp_hpack_entry *eb = &b->ents[zttp_hpack_table_slot(b, i)];
    size_t n = (size_t)ea->name_len + ea->value_len;
    CHECK(ea->name_len == eb->name_len && ea->value_len == eb->value_len,
          "%s: entry %zu lengths differ", what, i);
    CHECK(n <= sizeof(x), "%s: entry %zu too long", what, i);
    zttp_hpack_table_copy(a, x, ea->off, n);
    zttp_hpack_table_copy(b, y, eb->off, n);
    CHECK(memcmp(x, y, n) == 0, "%s: entry %zu bytes differ", what, i);
  }
}

static int is_name(const zttp_header *h, const char *s) {
  size_t n = strlen(s);
  return h->name_len == n && memcmp(h->name, s, n) == 0;
}

/* The flag zttp's encoder gives a field (zttp_hpack_encode()). */
static uint32_t encoded_flags(const zttp_header *h) {
  if (is_name(h, "authorization") || is_name(h, "proxy-authorization") ||
      is_name(h, "set-cookie") || (is_name(h, "cookie") && h->value_len < 20)) {
    return ZTTP_HEADER_NEVER_INDEX;
  }
  return h->flags;
}

static void huffman_roundtrip(const uint8_t *in, size_t len) {
  static uint8_t dec[16384 * 8 / 5 + 8];
  static uint8_t enc[16384 + 8];
  int64_t n = zttp_huffman_decode(dec, in, len);
  if (n < 0) {
    return;
  }
  CHECK((size_t)n <= len * 8 / 5, "decoded %lld from %zu", (long long)n, len);
  size_t el = zttp_huffman_encoded_len(dec, (size_t)n);
  CHECK(el == len, "re-encoded length %zu, input %zu", el, len);
  CHECK(zttp_huffman_encode(enc, dec, (size_t)n) == len, "encode length");
  CHECK(memcmp(enc, in, len) == 0, "re-encoded bytes differ");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) {
    return 0;
  }
  const zttp_mem *mem = zttp_mem_default();
  uint8_t sel = data[0];
  size_t cap = table_sizes[sel & 7];
  size_t max_fields = limit_fields[(sel >> 3) & 3];
  size_t max_list = limit_list[(sel >> 3) & 3];
  size_t enc_cap = table_sizes[sel >> 5];

  zttp_hpack_decoder lim, ref, back;
  zttp_hpack_encoder enc;
  zttp_hpack_fields out, out_ref, out_back;
  memset(&out, 0, sizeof(out));
  memset(&out_ref, 0, sizeof(out_ref));
  memset(&out_back, 0, sizeof(out_back));
  CHECK(zttp_hpack_decoder_init(&lim, mem, cap) == 0, "init");
  CHECK(zttp_hpack_decoder_init(&ref, mem, cap) == 0, "init");
  CHECK(zttp_hpack_decoder_init(&back, mem, 65536) == 0, "init");
  CHECK(zttp_hpack_encoder_init(&enc, mem, enc_cap) == 0, "init");
  uint8_t *wire = NULL;
  size_t wire_cap = 0;

  const uint8_t *p = data + 1;
  const uint8_t *end = data + size;
  while (end - p >= 2) {
    size_t len = (size_t)(p[0] & 0x3f) << 8 | p[1];
    unsigned action = p[0] >> 6;
    p += 2;
    if (len > (size_t)(end - p)) {
      len = (size_t)(end - p);
    }
    if (action != 0) {
      size_t s = action == 1 ? cap / 2 : action == 2 ? 0 : cap;
      lim.settings_max = s;
      ref.settings_max = s;
      /* The re-encoding side gets its own change too. */
      zttp_hpack_encoder_set_peer_max(&enc, s);
      back.settings_max = s;
    }
    /* Copied so that ASan sees reads past the block. */
    uint8_t *blk = malloc(len + 1);
    memcpy(blk, p, len);
    p += len;
    huffman_roundtrip(blk, len);

    int32_t rv = zttp_hpack_decode(&lim, &out, blk, len, max_fields, max_list);
    int32_t rr =
        zttp_hpack_decode(&ref, &out_ref, blk, len, SIZE_MAX, SIZE_MAX);
    free(blk);
    CHECK(rr == 0 || rr == ZTTP_ERR_COMPRESSION, "unlimited decoder: %d", rr);
    if (rv == ZTTP_ERR_LIMIT_HEADERS || rv == ZTTP_ERR_LIMIT_HEADER_BYTES) {
      CHECK(rr == 0, "limited %d, unlimited %d", rv, rr);
      CHECK(out.num_fields == 0, "fields after a limit");
      if (rv == ZTTP_ERR_LIMIT_HEADERS) {
        CHECK(out_ref.num_fields > max_fields, "LIMIT_HEADERS with %zu",
              out_ref.num_fields);
      }
    } else {
      CHECK(rv == rr, "limited %d, unlimited %d", rv, rr);
    }
    if (rr != 0) {
      break; /* COMPRESSION: the connection is over */
    }
    same_tables(&lim.table, &ref.table, "limited vs unlimited");

    /* The unlimited decoder's fields: sane, and within the limits when the
     * limited one succeeded. */
    uint64_t list = 0;
    for (size_t i = 0; i < out_ref.num_fields; i++) {
      const zttp_header *f = &out_ref.fields[i];
      CHECK(f->name != NULL && f->value != NULL, "NULL pointer");
      CHECK((f->flags & ~ZTTP_HEADER_NEVER_INDEX) == 0 && f->reserved == 0,
            "flags");
      list += f->name_len + f->value_len + 32;
    }
    if (rv == 0) {
      CHECK(out.num_fields == out_ref.num_fields, "field counts differ");
      CHECK(out.num_fields <= max_fields && list <= max_list, "over limits");
      for (size_t i = 0; i < out.num_fields; i++) {
        const zttp_header *a = &out.fields[i];
        const zttp_header *b = &out_ref.fields[i];
        CHECK(a->name_len == b->name_len && a->value_len == b->value_len &&
                  a->flags == b->flags &&
                  memcmp(a->name, b->name, a->name_len) == 0 &&
                  memcmp(a->value, b->value, a->value_len) == 0,
              "field %zu differs", i);
      }
    } else {
      CHECK(out_ref.num_fields > max_fields || list > max_list,
            "limit error %d within the limits", rv);
    }

    /* Round trip through zttp's encoder and a third decoder. */
    size_t bound =
        zttp_hpack_encode_bound(&enc, out_ref.fields, out_ref.num_fields);
    if (bound > wire_cap) {
      free(wire);
      wire_cap = bound;
      wire = malloc(wire_cap);
    }
    size_t wl =
        zttp_hpack_encode(&enc, wire, out_ref.fields, out_ref.num_fields);
    CHECK(wl <= bound, "encoded %zu, bound %zu", wl, bound);
    int32_t rb =
        zttp_hpack_decode(&back, &out_back, wire, wl, SIZE_MAX, SIZE_MAX);
    CHECK(rb == 0, "re-encoded block: %d", rb);
    CHECK(out_back.num_fields == out_ref.num_fields, "round trip count");
    for (size_t i = 0; i < out_ref.num_fields; i++) {
      const zttp_header *a = &out_ref.fields[i];
      const zttp_header *b = &out_back.fields[i];
      CHECK(a->name_len == b->name_len && a->value_len == b->value_len &&
                memcmp(a->name, b->name, a->name_len) == 0 &&
                memcmp(a->value, b->value, a->value_len) == 0,
            "round trip field %zu differs", i);
      CHECK(b->flags == encoded_flags(a), "round trip field %zu flags %u", i,
            b->flags);
    }
    same_tables(&enc.table, &back.table, "encoder vs decoder");
  }

  free(wire);
  zttp_hpack_fields_free(&out, mem);
  zttp_hpack_fields_free(&out_ref, mem);
  zttp_hpack_fields_free(&out_back, mem);
  zttp_hpack_decoder_free(&lim);
  zttp_hpack_decoder_free(&ref);
  zttp_hpack_decoder_free(&back);
  zttp_hpack_encoder_free(&enc);
  return 0;
}
