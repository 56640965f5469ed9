/* libFuzzer target: the QPACK decoder (src/qpack) and, on the way, the
 * encoder and the decoder-stream parser.
 *
 * Input layout: one selector byte, then records, each a kind byte and a
 * length byte (cut to what is left) followed by that many bytes.
 *   selector bits 0-2: the decoder's max table capacity (caps[]), also the
 *            capacity preset as the qifs files need (bit 3: preset);
 *            bits 4-5: max blocked streams (0, 1, 4, 100);
 *            bits 6-7: max field section size (limits[]).
 *   kind bit 0: 0 = encoder-stream bytes, 1 = a field section on stream
 *            (kind >> 1) * 4; kind 0xff: cancel stream 4.
 *
 * Every decoded section (at once or when unblocked) is checked (size
 * within the limit), re-encoded with zttp's encoder (peer settings = the
 * decoder's) and decoded by a second decoder fed that encoder's stream,
 * and the two lists compared (names, values, never-indexed kept). The
 * decoder-stream output of the first decoder is parsed by a third party
 * check: it must only carry well-formed instructions (the encoder of the
 * round trip reads the second decoder's). A fatal error ends the input.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qpack/qpack.h"

#define FUZZ_TARGET "qpack_decode" /* names the CHECK failures */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t caps[8] = {0, 32, 100, 220, 256, 1000, 4096, 65536};
static const size_t blockeds[4] = {0, 1, 4, 100};
static const size_t limits[4] = {65536, 100, 1000, SIZE_MAX};

typedef struct rt {
  zttp_qpack_encoder e;
  zttp_qpack_decoder d;
  zttp_qpack_fields out;
  uint8_t *buf;
  size_t cap;
} rt;

/* round_trip re-encodes |f| and decodes it again. */
static void round_trip(rt *r, uint64_t sid, const zttp_header *f, size_t n) {
  size_t bound = zttp_qpack_encode_bound(&r->e, f, n);
  if (bound > r->cap) {
    r->buf = realloc(r->buf, bound);
    r->cap = bound;
  }
  int64_t len = zttp_qpack_encode(&r->e, r->buf, sid, f, n);
  CHECK(len > 0 && (size_t)len <= bound, "encode: %lld", (long long)len);
  const uint8_t *p;
  size_t m = zttp_qpack_encoder_stream_pending(&r->e, &p);
  int32_t rv = zttp_qpack_decoder_receive_encoder_stream(&r->d, p, m);
  CHECK(rv >= 0, "round trip encoder stream: %d", rv);
  zttp_qpack_encoder_stream_consume(&r->e, m);
  rv = zttp_qpack_decode(&r->d, &r->out, sid, r->buf, (size_t)len);
  CHECK(rv == 0, "round trip decode: %d (wire 0x%llx)", rv,
        (unsigned long long)zttp_qpack_decoder_wire_error(&r->d));
  CHECK(r->out.num_fields == n, "round trip: %zu fields, %zu sent",
        r->out.num_fields, n);
  for (size_t i = 0; i < n; i++) {
    const zttp_header *a = &f[i], *b = &r->out.fields[i];
    CHECK(a->name_len == b->name_len && a->value_len == b->value_len &&
              memcmp(a->name, b->name, a->name_len) == 0 &&
              memcmp(a->value, b->value, a->value_len) == 0,
          "round trip field %zu differs", i);
    CHECK(!(a->flags & ZTTP_HEADER_NEVER_INDEX) ||
              (b->flags & ZTTP_HEADER_NEVER_INDEX),
          "field %zu lost its never-indexed flag", i);
  }
  m = zttp_qpack_decoder_stream_pending(&r->d, &p);
  rv = zttp_qpack_encoder_receive_decoder_stream(&r->e, p, m);
  CHECK(rv == 0, "round trip decoder stream: %d", rv);
  zttp_qpack_decoder_stream_consume(&r->d, m);
}

static void check_fields(const zttp_qpack_fields *out, size_t limit) {
  uint64_t size = 0;
  for (size_t i = 0; i < out->num_fields; i++) {
    size += out->fields[i].name_len + out->fields[i].value_len + 32;
  }
  CHECK(size <= limit, "section size %llu, limit %zu", (unsigned long long)size,
        limit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) {
    return 0;
  }
  uint8_t sel = data[0];
  zttp_qpack_decoder_settings s;
  zttp_qpack_decoder_settings_default(&s);
  s.max_table_capacity = caps[sel & 7];
  s.max_blocked_streams = blockeds[(sel >> 4) & 3];
  s.max_field_section_size = limits[sel >> 6];
  s.max_blocked_bytes = 4096;
  zttp_qpack_decoder d;
  zttp_qpack_fields out;
  memset(&out, 0, sizeof(out));
  const zttp_mem *mem = zttp_mem_default();
  if (zttp_qpack_decoder_init(&d, mem, &s) != 0) {
    return 0;
  }
  if (sel & 8) {
    zttp_qpack_decoder_preset_capacity(&d, s.max_table_capacity);
  }
  rt r;
  memset(&r, 0, sizeof(r));
  zttp_qpack_encoder_settings es;
  zttp_qpack_encoder_settings_default(&es);
  es.max_table_capacity = 4096;
  zttp_qpack_decoder_settings rs;
  zttp_qpack_decoder_settings_default(&rs);
  rs.max_field_section_size = SIZE_MAX;
  if (zttp_qpack_encoder_init(&r.e, mem, &es) != 0 ||
      zttp_qpack_decoder_init(&r.d, mem, &rs) != 0) {
    abort();
  }
  zttp_qpack_encoder_set_peer_settings(&r.e, 4096, sel & 1 ? 100 : 0);

  size_t off = 1;
  int32_t rv = 0;
  while (off + 2 <= size && rv >= 0) {
    uint8_t kind = data[off];
    size_t len = data[off + 1];
    off += 2;
    if (len > size - off) {
      len = size - off;
    }
    const uint8_t *p = data + off;
    off += len;
    if (kind == 0xff) {
      rv = zttp_qpack_decoder_cancel_stream(&d, 4);
      CHECK(rv == 0 || rv == ZTTP_ERR_BUFFER_FULL, "cancel: %d", rv);
      rv = 0;
    } else if ((kind & 1) == 0) {
      rv = zttp_qpack_decoder_receive_encoder_stream(&d, p, len);
      CHECK(rv < 0 || (size_t)rv <= d.num_blocked, "ready %d of %zu", rv,
            d.num_blocked);
      if (rv < 0) {
        CHECK(rv == ZTTP_ERR_COMPRESSION &&
                  d.wire_error == ZTTP_QPACK_ENCODER_STREAM_ERROR,
              "encoder stream error %d", rv);
        break;
      }
      uint64_t sid;
      while ((rv = zttp_qpack_decoder_next_ready(&d, &out, &sid)) == 1) {
        check_fields(&out, s.max_field_section_size);
        round_trip(&r, sid, out.fields, out.num_fields);
      }
      if (rv == ZTTP_ERR_LIMIT_HEADER_BYTES || rv == ZTTP_ERR_BUFFER_FULL) {
        rv = 0;
      }
    } else {
      uint64_t sid = (uint64_t)(kind >> 1) * 4;
      rv = zttp_qpack_decode(&d, &out, sid, p, len);
      if (rv == 0) {
        check_fields(&out, s.max_field_section_size);
        round_trip(&r, sid, out.fields, out.num_fields);
      } else if (rv == ZTTP_ERR_LIMIT_HEADER_BYTES ||
                 rv == ZTTP_ERR_BUFFER_FULL || rv == ZTTP_ERR_INVALID_STATE ||
                 rv == ZTTP_QPACK_BLOCKED) {
        CHECK(out.num_fields == 0, "fields left after %d", rv);
        rv = 0;
      } else {
        CHECK(rv == ZTTP_ERR_COMPRESSION || rv == ZTTP_ERR_LIMIT_INPUT_BUFFER,
              "decode error %d", rv);
      }
    }
    CHECK(d.table.size <= d.table.capacity &&
              d.table.capacity <= s.max_table_capacity,
          "table size %zu, capacity %zu", d.table.size, d.table.capacity);
    CHECK(d.num_blocked <= s.max_blocked_streams, "%zu blocked", d.num_blocked);
    const uint8_t *dp;
    size_t dn = zttp_qpack_decoder_stream_pending(&d, &dp);
    CHECK(dn <= s.max_decoder_stream_buffer, "decoder stream %zu", dn);
    if (off & 1) {
      zttp_qpack_decoder_stream_consume(&d, dn);
    }
  }
  zttp_qpack_fields_free(&out, mem);
  zttp_qpack_fields_free(&r.out, mem);
  free(r.buf);
  zttp_qpack_decoder_free(&r.d);
  zttp_qpack_encoder_free(&r.e);
  zttp_qpack_decoder_free(&d);
  return 0;
}
