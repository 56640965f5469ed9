/* libFuzzer target: the HTTP/3 frame layer (src/h3/frame.c).
 *
 * Input layout: two selector bytes, then the bytes of one stream.
 *   selector[0] bits 0-1: the caps (max_control, max_fields) from caps[];
 *               bit 2:    feed the split run byte at a time;
 *   selector[1]:          the seed of the split run's piece sizes.
 *
 * The stream goes through the frame reader whole and split into pieces
 * (each piece a separate heap copy, so that ASan sees any read past it);
 * both runs must give the same transcript (headers, merged DATA, buffered
 * payloads, what the payload parsers make of them, the error and its
 * HTTP/3 code, the FIN check). Every event is checked: DATA pieces are
 * non-empty spans of the call's input, PAYLOAD lengths match the header,
 * NEED_DATA takes the whole input. Every payload that parses is
 * re-encoded, parsed again and compared. The stream is also decoded as an
 * HTTP/3 datagram and as a stream type prefix, with round trips.
 *
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/varint.h"
#include "h3/frame.h"

#define FUZZ_TARGET "h3_frame" /* names the CHECK failures */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t caps[4][2] = {
    {ZTTP_H3_DEFAULT_MAX_CONTROL_PAYLOAD, ZTTP_H3_DEFAULT_MAX_FIELD_SECTION},
    {0, 0},
    {8, 16},
    {64, 1024},
};

/* A growable byte string (plain malloc). */
typedef struct sbuf {
  uint8_t *p;
  size_t len;
  size_t cap;
} sbuf;

static void sb_add(sbuf *s, const void *d, size_t n) {
  if (n == 0) {
    return;
  }
  if (s->len + n > s->cap) {
    size_t c = s->cap ? s->cap * 2 : 256;
    while (c < s->len + n) {
      c *= 2;
    }
    s->p = realloc(s->p, c);
    CHECK(s->p != NULL, "oom");
    s->cap = c;
  }
  memcpy(s->p + s->len, d, n);
  s->len += n;
}

static void sb_u64(sbuf *s, uint64_t v) {
  sb_add(s, &v, sizeof(v));
}

static void check_settings(sbuf *t, const uint8_t *p, size_t len) {
  zttp_h3_settings s;
  uint64_t err = 0;
  int32_t rv = zttp_h3_settings_parse(&s, &err, p, len);
  sb_u64(t, (uint64_t)(int64_t)rv);
  if (rv != 0) {
    sb_u64(t, err);
    CHECK(err == ZTTP_H3_FRAME_ERROR || err == ZTTP_H3_SETTINGS_ERROR ||
              err == ZTTP_H3_EXCESSIVE_LOAD,
          "settings error %llx", (unsigned long long)err);
    return;
  }
  /* Walk, re-encode, parse again. */
  zttp_h3_setting list[ZTTP_H3_MAX_SETTINGS];
  size_t n = 0;
  zttp_rd rd;
  zttp_rd_init(&rd, p, len);
  uint64_t id;
  uint64_t v;
  while (zttp_h3_settings_next(&rd, &id, &v)) {
    CHECK(n < ZTTP_H3_MAX_SETTINGS, "too many");
    list[n].id = id;
    list[n].value = v;
    n++;
    sb_u64(t, id);
    sb_u64(t, v);
  }
  CHECK(zttp_rd_len(&rd) == 0 && n == s.num_params, "walk %zu", n);
  uint8_t out[ZTTP_H3_MAX_SETTINGS * 16 + 16];
  size_t w = zttp_h3_encode_settings(out, sizeof(out), list, n);
  CHECK(w > 0, "re-encode");
  zttp_rd_init(&rd, out, w);
  uint64_t type;
  uint64_t plen;
  CHECK(zttp_rd_varint(&rd, &type) && zttp_rd_varint(&rd, &plen) &&
            type == ZTTP_H3_FRAME_SETTINGS && plen == zttp_rd_len(&rd),
        "header");
  zttp_h3_settings s2;
  CHECK(zttp_h3_settings_parse(&s2, &err, rd.p, (size_t)plen) == 0, "again");
  CHECK(memcmp(&s, &s2, sizeof(s)) == 0, "differs");
}

static void check_varint_payload(sbuf *t, uint64_t type, const uint8_t *p,
                                 size_t len) {
  uint64_t v;
  uint64_t err = 0;
  int32_t rv = zttp_h3_varint_payload_parse(&v, &err, p, len);
  sb_u64(t, (uint64_t)(int64_t)rv);
  if (rv != 0) {
    CHECK(err == ZTTP_H3_FRAME_ERROR, "err %llx", (unsigned long long)err);
    return;
  }
  sb_u64(t, v);
  uint8_t out[32];
  size_t w = zttp_h3_encode_varint_frame(out, sizeof(out), type, v);
  CHECK(w > 0, "re-encode");
  zttp_rd rd;
  zttp_rd_init(&rd, out, w);
  uint64_t ty;
  uint64_t pl;
  uint64_t v2;
  CHECK(zttp_rd_varint(&rd, &ty) && zttp_rd_varint(&rd, &pl) && ty == type &&
            pl == zttp_rd_len(&rd) &&
            zttp_h3_varint_payload_parse(&v2, &err, rd.p, (size_t)pl) == 0 &&
            v2 == v,
        "round trip");
}

static void check_priority_update(sbuf *t, uint64_t type, const uint8_t *p,
                                  size_t len) {
  zttp_h3_priority_update pu;
  uint64_t err = 0;
  int32_t rv = zttp_h3_priority_update_parse(&pu, &err, type, p, len);
  sb_u64(t, (uint64_t)(int64_t)rv);
  if (rv != 0) {
    sb_u64(t, err);
    return;
  }
  sb_u64(t, pu.element_id);
  sb_add(t, pu.field_value, pu.field_value_len);
  uint8_t *out = malloc(len + 32);
  size_t w = zttp_h3_encode_priority_update(out, len + 32, type, pu.element_id,
                                            pu.field_value, pu.field_value_len);
  CHECK(w > 0, "re-encode");
  zttp_rd rd;
  zttp_rd_init(&rd, out, w);
  uint64_t ty;
  uint64_t pl;
  zttp_h3_priority_update pu2;
  CHECK(zttp_rd_varint(&rd, &ty) && zttp_rd_varint(&rd, &pl) && ty == type &&
            pl == zttp_rd_len(&rd) &&
            zttp_h3_priority_update_parse(&pu2, &err, type, rd.p, (size_t)pl) ==
                0 &&
            pu2.element_id == pu.element_id &&
            pu2.field_value_len == pu.field_value_len &&
            (pu.field_value_len == 0 ||
             memcmp(pu2.field_value, pu.field_value, pu.field_value_len) == 0),
        "round trip");
  free(out);
}

static void describe_payload(sbuf *t, uint64_t type, const uint8_t *p,
                             size_t len) {
  switch (type) {
  case ZTTP_H3_FRAME_SETTINGS:
    check_settings(t, p, len);
    break;
  case ZTTP_H3_FRAME_GOAWAY:
  case ZTTP_H3_FRAME_MAX_PUSH_ID:
  case ZTTP_H3_FRAME_CANCEL_PUSH:
    check_varint_payload(t, type, p, len);
    break;
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST:
  case ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH:
    check_priority_update(t, type, p, len);
    break;
  case ZTTP_H3_FRAME_PUSH_PROMISE: {
    uint64_t id;
    const uint8_t *f;
    size_t flen;
    uint64_t err = 0;
    int32_t rv = zttp_h3_push_promise_parse(&id, &f, &flen, &err, p, len);
    sb_u64(t, (uint64_t)(int64_t)rv);
    if (rv == 0) {
      CHECK(flen <= len && (flen == 0 || f + flen == p + len), "fields");
      sb_u64(t, id);
    }
    break;
  }
  case ZTTP_H3_FRAME_HEADERS:
    break;
  default:
    CHECK(0, "payload of type %llx", (unsigned long long)type);
  }
}

/* Runs the reader over |data| in pieces of the sizes |next_piece| gives
 * and returns the transcript in |t|. */
typedef size_t (*piece_fn)(void *state, size_t left);

static void run(sbuf *t, const uint8_t *data, size_t len, uint64_t max_control,
                uint64_t max_fields, piece_fn next_piece, void *state) {
  zttp_h3_frame_reader r;
  zttp_h3_frame_reader_init(&r, zttp_mem_default(), max_control, max_fields);
  sbuf dat = {0};
  uint64_t data_frame_len = 0;
  size_t off = 0;
  int failed = 0;
  while (!failed) {
    size_t plen = next_piece(state, len - off);
    uint8_t *piece = malloc(plen != 0 ? plen : 1);
    memcpy(piece, data + off, plen);
    size_t used = 0;
    for (;;) {
      zttp_h3_frame_event ev;
      uint64_t err = 0;
      int64_t n = zttp_h3_frame_read(&r, &ev, &err, piece + used, plen - used);
      if (n < 0) {
        sb_add(t, "E", 1);
        sb_u64(t, (uint64_t)n);
        sb_u64(t, err);
        failed = 1;
        break;
      }
      CHECK((size_t)n <= plen - used, "took %lld of %zu", (long long)n,
            plen - used);
      const uint8_t *here = piece + used;
      used += (size_t)n;
      if (ev.kind == ZTTP_H3_FEV_NEED_DATA) {
        CHECK(used == plen, "need data with %zu left", plen - used);
        break;
      }
      switch (ev.kind) {
      case ZTTP_H3_FEV_HEADER:
        CHECK(!zttp_h3_frame_is_h2_reserved(ev.type), "h2 type");
        sb_add(t, "H", 1);
        sb_u64(t, ev.type);
        sb_u64(t, ev.length);
        if (ev.type == ZTTP_H3_FRAME_DATA) {
          data_frame_len = ev.length;
          dat.len = 0;
        }
        break;
      case ZTTP_H3_FEV_DATA:
        CHECK(ev.type == ZTTP_H3_FRAME_DATA && ev.len >= 1 && ev.data >= here &&
                  ev.data + ev.len <= piece + used,
              "data span");
        sb_add(&dat, ev.data, ev.len);
        CHECK(dat.len <= data_frame_len, "data past the frame");
        if (ev.end) {
          CHECK(dat.len == data_frame_len, "data short");
          sb_add(t, "D", 1);
          sb_u64(t, dat.len);
          sb_add(t, dat.p, dat.len);
          dat.len = 0;
        }
        break;
      case ZTTP_H3_FEV_PAYLOAD:
        CHECK(ev.len == ev.length && (ev.len == 0 || ev.data != NULL),
              "payload length");
        if (ev.type == ZTTP_H3_FRAME_HEADERS ||
            ev.type == ZTTP_H3_FRAME_PUSH_PROMISE) {
          CHECK(ev.len <= max_fields, "over the field cap");
        } else if (ev.type == ZTTP_H3_FRAME_SETTINGS ||
                   ev.type == ZTTP_H3_FRAME_PRIORITY_UPDATE_REQUEST ||
                   ev.type == ZTTP_H3_FRAME_PRIORITY_UPDATE_PUSH) {
          CHECK(ev.len <= max_control, "over the control cap");
        } else {
          CHECK(ev.len <= 8, "one varint");
        }
        sb_add(t, "P", 1);
        sb_u64(t, ev.type);
        sb_add(t, ev.data, ev.len);
        describe_payload(t, ev.type, ev.data, ev.len);
        break;
      default:
        CHECK(0, "kind %u", ev.kind);
      }
    }
    free(piece);
    off += plen;
    if (off == len) {
      break;
    }
  }
  if (!failed) {
    uint64_t err = 0;
    int32_t rv = zttp_h3_frame_reader_finish(&r, &err);
    sb_add(t, "F", 1);
    sb_u64(t, (uint64_t)(int64_t)rv);
    if (rv != 0) {
      CHECK(err == ZTTP_H3_FRAME_ERROR, "fin err");
    }
  }
  CHECK(r.buf_cap <= 8 || r.buf_cap <= max_control || r.buf_cap <= max_fields,
        "buffer over the caps");
  zttp_h3_frame_reader_free(&r);
  free(dat.p);
}

static size_t whole_piece(void *state, size_t left) {
  (void)state;
  return left;
}

static size_t one_byte(void *state, size_t left) {
  (void)state;
  return left < 1 ? left : 1;
}

/* Pieces of pseudo-random sizes 0..31 (xorshift). */
static size_t random_piece(void *state, size_t left) {
  uint32_t *x = state;
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  size_t n = *x % 32;
  return n < left ? n : left;
}

static void check_datagram(const uint8_t *data, size_t len) {
  uint64_t sid;
  const uint8_t *pl;
  size_t plen;
  uint64_t err = 0;
  int32_t rv = zttp_h3_datagram_decode(&sid, &pl, &plen, &err, data, len);
  if (rv != 0) {
    CHECK(err == ZTTP_H3_DATAGRAM_ERROR, "datagram err");
    return;
  }
  CHECK((sid & 3) == 0 && sid <= ZTTP_VARINT_MAX, "stream id");
  CHECK(plen <= len && (plen == 0 || pl + plen == data + len), "payload");
  uint8_t out[8];
  size_t w = zttp_h3_encode_datagram_prefix(out, sizeof(out), sid);
  CHECK(w > 0, "prefix");
  uint64_t back;
  CHECK(zttp_h3_datagram_decode(&back, &pl, &plen, &err, out, w) == 0 &&
            back == sid && plen == 0,
        "round trip");
}

static void check_stream_type(const uint8_t *data, size_t len) {
  zttp_h3_varint_reader whole;
  zttp_h3_varint_reader_init(&whole);
  int done_whole;
  size_t n1 = zttp_h3_varint_read(&whole, &done_whole, data, len);
  zttp_h3_varint_reader bytes;
  zttp_h3_varint_reader_init(&bytes);
  int done = 0;
  size_t n2 = 0;
  while (!done && n2 < len) {
    n2 += zttp_h3_varint_read(&bytes, &done, data + n2, 1);
  }
  CHECK(n1 == n2 && done == done_whole, "split varint");
  if (done) {
    CHECK(whole.value == bytes.value, "value");
    uint8_t out[8];
    size_t w = zttp_h3_encode_stream_type(out, sizeof(out), whole.value);
    CHECK(w > 0 && w <= n1, "encode");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) {
    return 0;
  }
  uint8_t sel = data[0];
  uint32_t seed = (uint32_t)data[1] * 2654435761u + 1;
  if (seed == 0) {
    seed = 1;
  }
  data += 2;
  size -= 2;
  uint64_t max_control = caps[sel & 3][0];
  uint64_t max_fields = caps[sel & 3][1];

  sbuf a = {0};
  sbuf b = {0};
  run(&a, data, size, max_control, max_fields, whole_piece, NULL);
  if (sel & 4) {
    run(&b, data, size, max_control, max_fields, one_byte, NULL);
  } else {
    run(&b, data, size, max_control, max_fields, random_piece, &seed);
  }
  CHECK(a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0),
        "whole and split transcripts differ (%zu vs %zu bytes)", a.len, b.len);
  free(a.p);
  free(b.p);

  check_datagram(data, size);
  check_stream_type(data, size);
  return 0;
}
