/* QPACK unit tests: the static table against the RFC's, the RFC 9204
 * Appendix B exchange byte for byte (both sides), the qifs error files,
 * malformed inputs with their exact error codes, blocked streams, limits,
 * eviction rules, the decoder stream and every-split feeding.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/huffman.h"
#include "qifs.h"
#include "qpack/int.h"
#include "qpack/qpack.h"
#include "qpack/static_table.h"

#ifndef QPACK_VECTORS
#define QPACK_VECTORS "vectors"
#endif

static const zttp_mem *mem(void) {
  return zttp_mem_default();
}

/* Hex to bytes ("3fbd01" style, spaces allowed). */
static size_t unhex(uint8_t *out, const char *hex) {
  size_t n = 0;
  while (*hex) {
    if (*hex == ' ') {
      hex++;
      continue;
    }
    unsigned v;
    sscanf(hex, "%2x", &v);
    out[n++] = (uint8_t)v;
    hex += 2;
  }
  return n;
}

static void expect_bytes(const uint8_t *got, size_t n, const char *hex) {
  uint8_t want[512];
  size_t m = unhex(want, hex);
  if (n != m || memcmp(got, want, n) != 0) {
    fprintf(stderr, "got ");
    for (size_t i = 0; i < n; i++) {
      fprintf(stderr, "%02x", got[i]);
    }
    fprintf(stderr, "\nwant %s\n", hex);
    fail();
  }
}

static void expect_field(const zttp_header *h, const char *name,
                         const char *value, uint32_t flags) {
  assert_int_equal(h->name_len, strlen(name));
  assert_memory_equal(h->name, name, h->name_len);
  assert_int_equal(h->value_len, strlen(value));
  assert_memory_equal(h->value, value, h->value_len);
  assert_int_equal(h->flags, flags);
}

static zttp_header hdr(const char *n, const char *v) {
  zttp_header h = {n, strlen(n), v, strlen(v), 0, 0};
  return h;
}

/* Pulls all of d's decoder stream, checks it is |hex|. */
static void expect_decoder_stream(zttp_qpack_decoder *d, const char *hex) {
  const uint8_t *p;
  size_t n = zttp_qpack_decoder_stream_pending(d, &p);
  expect_bytes(p, n, hex);
  zttp_qpack_decoder_stream_consume(d, n);
}

static void expect_encoder_stream(zttp_qpack_encoder *e, const char *hex) {
  const uint8_t *p;
  size_t n = zttp_qpack_encoder_stream_pending(e, &p);
  expect_bytes(p, n, hex);
  zttp_qpack_encoder_stream_consume(e, n);
}

static int32_t feed_hex_enc(zttp_qpack_decoder *d, const char *hex) {
  uint8_t b[512];
  size_t n = unhex(b, hex);
  return zttp_qpack_decoder_receive_encoder_stream(d, b, n);
}

static int32_t decode_hex(zttp_qpack_decoder *d, zttp_qpack_fields *out,
                          uint64_t sid, const char *hex) {
  uint8_t b[512];
  size_t n = unhex(b, hex);
  return zttp_qpack_decode(d, out, sid, b, n);
}

static int32_t feed_hex_dec(zttp_qpack_encoder *e, const char *hex) {
  uint8_t b[512];
  size_t n = unhex(b, hex);
  return zttp_qpack_encoder_receive_decoder_stream(e, b, n);
}

/* ---- static table ---------------------------------------------------------
 */

/* Reads the next JSON string at *p (simple escapes only). */
static size_t json_str(const char **p, char *out) {
  const char *s = strchr(*p, '"') + 1;
  size_t n = 0;
  while (*s != '"') {
    if (*s == '\\') {
      s++;
    }
    out[n++] = *s++;
  }
  *p = s + 1;
  return n;
}

static void test_static_table(void **state) {
  (void)state;
  uint8_t *json;
  size_t len;
  assert_int_equal(qf_read_file(QPACK_VECTORS "/static-tables-hpack-qpack.json",
                                &json, &len),
                   0);
  const char *p = strstr((const char *)json, "\"qpack_static_table\"");
  assert_non_null(p);
  p = strchr(p, '[') + 1;
  for (int i = 0; i < QPACK_STATIC_NUM; i++) {
    p = strchr(p, '[') + 1;
    assert_int_equal(strtol(p, NULL, 10), i);
    char name[64], value[128];
    size_t nl = json_str(&p, name);
    size_t vl = json_str(&p, value);
    assert_int_equal(qpack_static[i].name_len, nl);
    assert_memory_equal(qpack_static[i].name, name, nl);
    assert_int_equal(qpack_static[i].value_len, vl);
    assert_memory_equal(qpack_static[i].value, value, vl);
  }
  free(json);
}

/* ---- RFC 9204 Appendix B ----------------------------------------------------
 */

static void test_appendix_b_decoder(void **state) {
  (void)state;
  zttp_qpack_decoder_settings s;
  zttp_qpack_decoder_settings_default(&s);
  s.max_table_capacity = 220;
  s.max_blocked_streams = 100;
  zttp_qpack_decoder d;
  zttp_qpack_fields out;
  memset(&out, 0, sizeof(out));
  assert_int_equal(zttp_qpack_decoder_init(&d, mem(), &s), 0);

  /* B.1 */
  assert_int_equal(
      decode_hex(&d, &out, 0, "0000 510b 2f69 6e64 6578 2e68 746d 6c"), 0);
  assert_int_equal(out.num_fields, 1);
  expect_field(&out.fields[0], ":path", "/index.html", 0);
  expect_decoder_stream(&d, "");

  /* B.2 */
  assert_int_equal(feed_hex_enc(&d, "3fbd01 c00f 7777 772e 6578 616d 706c 652e"
                                    "636f 6d c10c 2f73 616d 706c 652f 7061 "
                                    "7468"),
                   0);
  assert_int_equal(d.table.size, 106);
  assert_int_equal(decode_hex(&d, &out, 4, "0381 10 11"), 0);
  assert_int_equal(out.num_fields, 2);
  expect_field(&out.fields[0], ":authority", "www.example.com", 0);
  expect_field(&out.fields[1], ":path", "/sample/path", 0);
  expect_decoder_stream(&d, "84");

  /* B.3 */
  assert_int_equal(feed_hex_enc(&d, "4a63 7573 746f 6d2d 6b65 790c 6375 7374 "
                                    "6f6d 2d76 616c 7565"),
                   0);
  assert_int_equal(d.table.size, 160);
  expect_decoder_stream(&d, "01");

  /* B.4: the section arrives before the Duplicate: blocked, then the
   * stream is cancelled. */
  assert_int_equal(decode_hex(&d, &out, 8, "0500 80 c1 81"),
                   ZTTP_QPACK_BLOCKED);
  assert_int_equal(zttp_qpack_decoder_cancel_stream(&d, 8), 0);
  expect_decoder_stream(&d, "48");
  assert_int_equal(feed_hex_enc(&d, "02"), 0); /* nothing waits now */
  assert_int_equal(d.table.size, 217);
  /* The same section again (as in the qifs file, stream 12) decodes. */
  assert_int_equal(decode_hex(&d, &out, 12, "0500 80 c1 81"), 0);
  assert_int_equal(out.num_fields, 3);
  expect_field(&out.fields[0], ":authority", "www.example.com", 0);
  expect_field(&out.fields[1], ":path", "/", 0);
  expect_field(&out.fields[2], "custom-key", "custom-value", 0);
  expect_decoder_stream(&d, "8c");

  /* B.5 */
  assert_int_equal(feed_hex_enc(&d, "810d 6375 7374 6f6d 2d76 616c 7565 32"),
                   0);
  assert_int_equal(d.table.size, 215);
  assert_int_equal(d.table.num, 4);
  expect_decoder_stream(&d, "01");
  zttp_qpack_fields_free(&out, mem());
  zttp_qpack_decoder_free(&d);
}

static void test_appendix_b_encoder(void **state) {
  (void)state;
  zttp_qpack_encoder_settings s;
  zttp_qpack_encoder_settings_default(&s);
  s.huffman = 0; /* the RFC's examples use none */
  zttp_qpack_encoder e;
  assert_int_equal(zttp_qpack_encoder_init(&e, mem(), &s), 0);
  uint8_t buf[256];

  /* B.1: before the peer's SETTINGS the table is 0. */
  zttp_header b1[] = {hdr(":path", "/index.html")};
  int64_t n = zttp_qpack_encode(&e, buf, 0, b1, 1);
  expect_bytes(buf, (size_t)n, "0000 510b 2f69 6e64 6578 2e68 746d 6c");
  expect_encoder_stream(&e, "");

  /* B.2 */
  assert_int_equal(zttp_qpack_encoder_set_peer_settings(&e, 220, 100), 0);
  zttp_header b2[] = {hdr(":authority", "www.example.com"),
                      hdr(":path", "/sample/path")};
  n = zttp_qpack_encode(&e, buf, 4, b2, 2);
  expect_bytes(buf, (size_t)n, "0381 10 11");
  expect_encoder_stream(&e, "3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f "
                            "6d c10c 2f73 616d 706c 652f 7061 7468");
  assert_int_equal(e.table.size, 106);
  assert_int_equal(e.num_secs, 1);
  assert_int_equal(feed_hex_dec(&e, "84"), 0);
  assert_int_equal(e.known_received, 2);
  assert_int_equal(e.num_secs, 0);

  /* B.3 */
  assert_int_equal(
      zttp_qpack_encoder_insert(&e, (const uint8_t *)"custom-key", 10,
                                (const uint8_t *)"custom-value", 12),
      0);
  expect_encoder_stream(&e, "4a63 7573 746f 6d2d 6b65 790c 6375 7374 6f6d 2d76 "
                            "616c 7565");
  assert_int_equal(e.table.size, 160);
  assert_int_equal(feed_hex_dec(&e, "01"), 0);
  assert_int_equal(e.known_received, 3);

  /* B.4 */
  zttp_header b4[] = {hdr(":authority", "www.example.com"), hdr(":path", "/"),
                      hdr("custom-key", "custom-value")};
  n = zttp_qpack_encode(&e, buf, 8, b4, 3);
  expect_bytes(buf, (size_t)n, "0500 80 c1 81");
  expect_encoder_stream(&e, "02");
  assert_int_equal(e.table.size, 217);
  assert_int_equal(e.num_secs, 1);
  assert_int_equal(e.secs[0].min_ref, 2);
  assert_int_equal(feed_hex_dec(&e, "48"), 0);
  assert_int_equal(e.num_secs, 0);
  assert_int_equal(e.known_received, 3);

  /* B.5 */
  assert_int_equal(
      zttp_qpack_encoder_insert(&e, (const uint8_t *)"custom-key", 10,
                                (const uint8_t *)"custom-value2", 13),
      0);
  expect_encoder_stream(&e, "810d 6375 7374 6f6d 2d76 616c 7565 32");
  assert_int_equal(e.table.size, 215);
  assert_int_equal(zttp_qpack_table_dropped(&e.table), 1);
  zttp_qpack_encoder_free(&e);
}

/* ---- qifs error files
 * --------------------------------------------------------- */

static void test_error_files(void **state) {
  (void)state;
  /* README: err1-3, 5-8, 11, 12 are errors; err4 (Base < 0) is rejected by
   * RFC 9204 §4.5.1.2 (Sign 1 with Delta Base >= RIC); err9 and err10 are
   * valid. */
  static const uint64_t want[13] = {
      0,
      ZTTP_QPACK_DECOMPRESSION_FAILED,
      ZTTP_QPACK_DECOMPRESSION_FAILED,
      ZTTP_QPACK_DECOMPRESSION_FAILED,
      ZTTP_QPACK_DECOMPRESSION_FAILED,
      ZTTP_QPACK_DECOMPRESSION_FAILED,
      ZTTP_QPACK_DECOMPRESSION_FAILED,
      ZTTP_QPACK_DECOMPRESSION_FAILED,
      ZTTP_QPACK_DECOMPRESSION_FAILED,
      0,
      0,
      ZTTP_QPACK_ENCODER_STREAM_ERROR,
      ZTTP_QPACK_ENCODER_STREAM_ERROR,
  };
  for (int i = 1; i <= 12; i++) {
    char path[256];
    snprintf(path, sizeof(path), QPACK_VECTORS "/qifs/encoded/errors/err%d", i);
    qf_encoded enc;
    assert_int_equal(qf_encoded_load(path, &enc), 0);
    zttp_qpack_decoder d;
    assert_int_equal(zttp_qpack_decoder_init(&d, mem(), NULL), 0);
    assert_int_equal(zttp_qpack_decoder_preset_capacity(&d, 4096), 0);
    qf_results r = {0};
    int32_t rv =
        qf_decode_records(&d, enc.recs, enc.num, QF_WHOLE, &r, NULL, NULL);
    if (want[i] != 0) {
      assert_int_equal(rv, ZTTP_ERR_COMPRESSION);
      assert_int_equal(zttp_qpack_decoder_wire_error(&d), want[i]);
    } else {
      assert_int_equal(rv, 0);
      assert_int_equal(r.num, 1);
      assert_int_equal(r.v[0].list.num, 1);
      expect_field(&r.v[0].list.fields[0],
                   i == 9 ? ":authority" : "x-xss-protection",
                   i == 9 ? "" : "1; mode=block", 0);
    }
    qf_results_free(&r);
    zttp_qpack_decoder_free(&d);
    qf_encoded_free(&enc);
  }
}

/* ---- malformed inputs
 * ------------------------------------------------------------ */

/* A decoder with capacity 4096 (MaxEntries 128) holding |inserts| entries
 * "n<i>: v<i>". */
static void decoder_with(zttp_qpack_decoder *d, int inserts,
                         const zttp_qpack_decoder_settings *s) {
  assert_int_equal(zttp_qpack_decoder_init(d, mem(), s), 0);
  assert_int_equal(feed_hex_enc(d, "3fe11f"), 0); /* capacity 4096 */
  for (int i = 0; i < inserts; i++) {
    uint8_t ins[16] = {0x42, 'n', (uint8_t)('0' + i),
                       0x02, 'v', (uint8_t)('0' + i)};
    assert_int_equal(zttp_qpack_decoder_receive_encoder_stream(d, ins, 6), 0);
  }
}

static void expect_section_error(int inserts, const char *hex, int32_t err,
                                 uint64_t wire) {
  zttp_qpack_decoder d;
  zttp_qpack_fields out = {0};
  decoder_with(&d, inserts, NULL);
  int32_t rv = decode_hex(&d, &out, 4, hex);
  if (rv != err || zttp_qpack_decoder_wire_error(&d) != wire) {
    fprintf(stderr, "section %s: %d / 0x%llx, want %d / 0x%llx\n", hex, rv,
            (unsigned long long)zttp_qpack_decoder_wire_error(&d), err,
            (unsigned long long)wire);
    fail();
  }
  assert_int_equal(out.num_fields, 0);
  if (zttp_error_is_fatal(err) && err != ZTTP_ERR_LIMIT_HEADER_BYTES) {
    /* Poisoned: later calls say the same. */
    assert_int_equal(decode_hex(&d, &out, 8, "0000"), err);
    assert_int_equal(feed_hex_enc(&d, "20"), err);
  }
  zttp_qpack_fields_free(&out, mem());
  zttp_qpack_decoder_free(&d);
}

static void expect_encoder_stream_error(const char *hex) {
  zttp_qpack_decoder d;
  decoder_with(&d, 2, NULL);
  int32_t rv = feed_hex_enc(&d, hex);
  if (rv != ZTTP_ERR_COMPRESSION ||
      zttp_qpack_decoder_wire_error(&d) != ZTTP_QPACK_ENCODER_STREAM_ERROR) {
    fprintf(stderr, "encoder stream %s: %d\n", hex, rv);
    fail();
  }
  zttp_qpack_decoder_free(&d);
}

static void test_malformed_sections(void **state) {
  (void)state;
  const int32_t C = ZTTP_ERR_COMPRESSION;
  const uint64_t F = ZTTP_QPACK_DECOMPRESSION_FAILED;
  /* Truncated prefix and integers. */
  expect_section_error(0, "", C, F);
  expect_section_error(0, "00", C, F);
  expect_section_error(0, "ff", C, F);
  expect_section_error(0, "00ff", C, F);
  expect_section_error(0, "0000 ff", C, F);
  expect_section_error(0, "0000 5f", C, F);
  /* Truncated strings. */
  expect_section_error(0, "0000 5105 6162", C, F);
  expect_section_error(0, "0000 2361 6263", C, F);
  expect_section_error(0, "0000 2f", C, F);
  /* Integer overflow (past 2^62 - 1). */
  expect_section_error(0, "ffffffffffffffffffffff01 00", C, F);
  expect_section_error(0, "0000 ff ffffffffffffffffff7f", C, F);
  /* Bad Huffman: padding of 0s; EOS. */
  expect_section_error(0, "0000 5181 00", C, F);
  expect_section_error(0, "0000 5184 ffffffff", C, F);
  /* Static index out of range (99). */
  expect_section_error(0, "0000 ff24", C, F);
  expect_section_error(0, "0000 5f54 00", C, F);
  /* Dynamic references with RIC 0, beyond Base, beyond RIC. */
  expect_section_error(2, "0000 80", C, F);
  expect_section_error(2, "0300 82", C, F);
  expect_section_error(2, "0381 12", C, F);
  expect_section_error(2, "0381 02 00", C, F);
  /* Required Insert Count decoding (§4.5.1.1): above 2 * MaxEntries; one
   * that wraps to a value the decoder cannot have; one larger than the
   * references need (§2.1.2). */
  expect_section_error(2, "ff82 01 00", C, F);
  expect_section_error(2, "ffc9 00", C, F);
  expect_section_error(2, "0300 81", C, F);
  /* Base underflow (§4.5.1.2): Sign 1 with Delta Base >= RIC. */
  expect_section_error(2, "0281 80", C, F);
  expect_section_error(0, "0081", C, F);
  /* Field section size cap: not fatal. */
}

static void test_malformed_encoder_stream(void **state) {
  (void)state;
  expect_encoder_stream_error("3fe21f");                   /* capacity 4097 */
  expect_encoder_stream_error("3fffffffffffffffffffff01"); /* overflow */
  expect_encoder_stream_error("02");                       /* duplicate 2 */
  expect_encoder_stream_error("82 0161");                  /* name ref 2 */
  expect_encoder_stream_error("ff24 0161");                /* static 99 */
  expect_encoder_stream_error("4161 8100");                /* bad Huffman */
  expect_encoder_stream_error("6100 0161");                /* bad Huffman */
  /* An entry larger than the capacity, seen from its declared length
   * before its bytes arrive. */
  expect_encoder_stream_error("4161 7fe21f");
  expect_encoder_stream_error("5fc21f");
  /* Capacity 0: every insert is too large. */
  expect_encoder_stream_error("20 4161 0162");
  /* Regression (fuzz): an empty entry (32 bytes) with capacity 0 or 31. */
  expect_encoder_stream_error("20 40 00");
  expect_encoder_stream_error("3f00 40 00");
}

static void test_decoder_stream_errors(void **state) {
  (void)state;
  static const char *bad[] = {
      "84", /* Section Acknowledgment, nothing outstanding */
      "00", /* Insert Count Increment 0 */
      "02", /* more than was inserted */
      "ffffffffffffffffffffff01", /* overflow */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    zttp_qpack_encoder e;
    assert_int_equal(zttp_qpack_encoder_init(&e, mem(), NULL), 0);
    assert_int_equal(zttp_qpack_encoder_set_peer_settings(&e, 4096, 10), 0);
    assert_int_equal(zttp_qpack_encoder_insert(&e, (const uint8_t *)"a", 1,
                                               (const uint8_t *)"b", 1),
                     0);
    assert_int_equal(feed_hex_dec(&e, bad[i]), ZTTP_ERR_COMPRESSION);
    assert_int_equal(zttp_qpack_encoder_wire_error(&e),
                     ZTTP_QPACK_DECODER_STREAM_ERROR);
    zttp_qpack_encoder_free(&e);
  }
}

/* ---- blocked streams and limits
 * --------------------------------------------------- */

static void test_blocked_streams(void **state) {
  (void)state;
  zttp_qpack_decoder_settings s;
  zttp_qpack_decoder_settings_default(&s);
  s.max_blocked_streams = 2;
  zttp_qpack_decoder d;
  zttp_qpack_fields out = {0};
  decoder_with(&d, 0, &s);
  /* RIC 1 and 2, Base 0 (post-base). */
  assert_int_equal(decode_hex(&d, &out, 4, "0280 10"), ZTTP_QPACK_BLOCKED);
  assert_int_equal(decode_hex(&d, &out, 4, "0280 10"), ZTTP_ERR_INVALID_STATE);
  assert_int_equal(decode_hex(&d, &out, 8, "0381 10 11"), ZTTP_QPACK_BLOCKED);
  /* One insert: stream 4 is ready, stream 8 not. */
  assert_int_equal(feed_hex_enc(&d, "42 6e30 02 7630"), 1);
  uint64_t sid;
  assert_int_equal(zttp_qpack_decoder_next_ready(&d, &out, &sid), 1);
  assert_int_equal(sid, 4);
  expect_field(&out.fields[0], "n0", "v0", 0);
  assert_int_equal(zttp_qpack_decoder_next_ready(&d, &out, &sid), 0);
  assert_int_equal(feed_hex_enc(&d, "42 6e31 02 7631"), 1);
  assert_int_equal(zttp_qpack_decoder_next_ready(&d, &out, &sid), 1);
  assert_int_equal(sid, 8);
  assert_int_equal(out.num_fields, 2);
  expect_field(&out.fields[1], "n1", "v1", 0);
  expect_decoder_stream(&d, "84 88");
  /* A third blocked stream beyond the limit of 2. */
  assert_int_equal(decode_hex(&d, &out, 12, "0480 10"), ZTTP_QPACK_BLOCKED);
  assert_int_equal(decode_hex(&d, &out, 16, "0480 10"), ZTTP_QPACK_BLOCKED);
  assert_int_equal(decode_hex(&d, &out, 20, "0480 10"), ZTTP_ERR_COMPRESSION);
  assert_int_equal(zttp_qpack_decoder_wire_error(&d),
                   ZTTP_QPACK_DECOMPRESSION_FAILED);
  zttp_qpack_fields_free(&out, mem());
  zttp_qpack_decoder_free(&d); /* frees the held sections */

  /* The bytes held for blocked sections are capped. */
  s.max_blocked_streams = 10;
  s.max_blocked_bytes = 8;
  decoder_with(&d, 0, &s);
  assert_int_equal(decode_hex(&d, &out, 4, "0280 10 10 10 10 10"),
                   ZTTP_QPACK_BLOCKED);
  assert_int_equal(decode_hex(&d, &out, 8, "0280 10 10 10 10"),
                   ZTTP_ERR_LIMIT_INPUT_BUFFER);
  assert_int_equal(zttp_qpack_decoder_wire_error(&d),
                   ZTTP_QPACK_H3_EXCESSIVE_LOAD);
  zttp_qpack_decoder_free(&d);
}

static void test_field_section_size(void **state) {
  (void)state;
  zttp_qpack_decoder_settings s;
  zttp_qpack_decoder_settings_default(&s);
  s.max_field_section_size = 80;
  zttp_qpack_decoder d;
  zttp_qpack_fields out = {0};
  decoder_with(&d, 1, &s);
  /* :path / (38) + n0: v0 (36) = 74 fits; a third field does not. */
  assert_int_equal(decode_hex(&d, &out, 4, "0200 c1 80"), 0);
  assert_int_equal(out.num_fields, 2);
  assert_int_equal(decode_hex(&d, &out, 8, "0200 c1 80 c1"),
                   ZTTP_ERR_LIMIT_HEADER_BYTES);
  assert_int_equal(zttp_qpack_decoder_wire_error(&d),
                   ZTTP_QPACK_H3_MESSAGE_ERROR);
  assert_int_equal(out.num_fields, 0);
  /* A stream error: the decoder goes on; the engine cancels the stream. */
  assert_int_equal(zttp_qpack_decoder_cancel_stream(&d, 8), 0);
  assert_int_equal(decode_hex(&d, &out, 12, "0000 2361 6263 0178"), 0);
  expect_field(&out.fields[0], "abc", "x", 0);
  /* A literal too large by itself. */
  assert_int_equal(
      decode_hex(&d, &out, 16,
                 "0000 2361 6263 32 "
                 "78787878787878787878787878787878787878787878787878"
                 "78787878787878787878787878787878787878787878787878"),
      ZTTP_ERR_LIMIT_HEADER_BYTES);
  expect_decoder_stream(&d, "84 48");
  zttp_qpack_fields_free(&out, mem());
  zttp_qpack_decoder_free(&d);
}

static void test_decoder_stream_buffer_full(void **state) {
  (void)state;
  zttp_qpack_decoder_settings s;
  zttp_qpack_decoder_settings_default(&s);
  s.max_decoder_stream_buffer = 12;
  zttp_qpack_decoder d;
  zttp_qpack_fields out = {0};
  decoder_with(&d, 1, &s);
  size_t k = 0;
  int32_t rv;
  while ((rv = decode_hex(&d, &out, 4 * k, "0200 80")) == 0) {
    k++;
  }
  assert_int_equal(rv, ZTTP_ERR_BUFFER_FULL);
  assert_true(k >= 5);
  const uint8_t *p;
  size_t n = zttp_qpack_decoder_stream_pending(&d, &p);
  zttp_qpack_decoder_stream_consume(&d, n);
  assert_int_equal(decode_hex(&d, &out, 4 * k, "0200 80"), 0);
  zttp_qpack_fields_free(&out, mem());
  zttp_qpack_decoder_free(&d);
}

/* ---- encoder rules
 * -------------------------------------------------------------- */

static void test_eviction_refused(void **state) {
  (void)state;
  zttp_qpack_encoder e;
  assert_int_equal(zttp_qpack_encoder_init(&e, mem(), NULL), 0);
  /* Capacity 100: room for one 66-byte entry at a time. */
  assert_int_equal(zttp_qpack_encoder_set_peer_settings(&e, 100, 10), 0);
  expect_encoder_stream(&e, "3f45");
  const uint8_t *v1 = (const uint8_t *)"0123456789abcdefghijklmnopqrstu";
  assert_int_equal(
      zttp_qpack_encoder_insert(&e, (const uint8_t *)"xa", 2, v1, 32), 0);
  const uint8_t *es;
  assert_int_equal(zttp_qpack_encoder_stream_pending(&e, &es), 28);
  zttp_qpack_encoder_stream_consume(&e, 28);
  /* Entry 0 is not acknowledged: it cannot be evicted. */
  assert_int_equal(
      zttp_qpack_encoder_insert(&e, (const uint8_t *)"xb", 2, v1, 32),
      ZTTP_ERR_BUFFER_FULL);
  assert_int_equal(feed_hex_dec(&e, "01"), 0);
  /* Acknowledged, but a section on stream 4 references it. */
  zttp_header f[] = {{"xa", 2, (const char *)v1, 32, 0, 0}};
  uint8_t buf[128];
  int64_t n = zttp_qpack_encode(&e, buf, 4, f, 1);
  expect_bytes(buf, (size_t)n, "0200 80");
  assert_int_equal(
      zttp_qpack_encoder_insert(&e, (const uint8_t *)"xb", 2, v1, 32),
      ZTTP_ERR_BUFFER_FULL);
  /* A section needing the room for a new entry falls back to a literal. */
  zttp_header g[] = {{"xc", 2, (const char *)v1, 32, 0, 0}};
  n = zttp_qpack_encode(&e, buf, 8, g, 1);
  assert_int_equal(buf[0], 0);
  assert_int_equal(buf[2] & 0xe0, 0x20);
  expect_encoder_stream(&e, ""); /* no insert */
  /* Acknowledged: now it may go. */
  assert_int_equal(feed_hex_dec(&e, "84"), 0);
  assert_int_equal(
      zttp_qpack_encoder_insert(&e, (const uint8_t *)"xb", 2, v1, 32), 0);
  assert_int_equal(zttp_qpack_table_dropped(&e.table), 1);
  zttp_qpack_encoder_free(&e);
}

static void test_encoder_blocked_limit(void **state) {
  (void)state;
  zttp_qpack_encoder e;
  zttp_qpack_decoder d;
  zttp_qpack_fields out = {0};
  assert_int_equal(zttp_qpack_encoder_init(&e, mem(), NULL), 0);
  assert_int_equal(zttp_qpack_encoder_set_peer_settings(&e, 4096, 1), 0);
  assert_int_equal(zttp_qpack_decoder_init(&d, mem(), NULL), 0);
  uint8_t buf[256];
  zttp_header f[] = {hdr("x-one", "1"), hdr("x-two", "2")};
  /* Stream 4 may block: it references its own inserts. */
  int64_t n = zttp_qpack_encode(&e, buf, 4, f, 2);
  assert_int_equal(zttp_qpack_decode(&d, &out, 4, buf, (size_t)n),
                   ZTTP_QPACK_BLOCKED);
  /* Stream 8 may not (the limit is 1): it must decode without the encoder
   * stream, and stream 4 again may block more. */
  zttp_header g[] = {hdr("x-one", "1"), hdr("x-three", "3")};
  n = zttp_qpack_encode(&e, buf, 8, g, 2);
  assert_int_equal(zttp_qpack_decode(&d, &out, 8, buf, (size_t)n), 0);
  expect_field(&out.fields[0], "x-one", "1", 0);
  expect_field(&out.fields[1], "x-three", "3", 0);
  /* Now the encoder stream arrives; stream 4 decodes. */
  const uint8_t *p;
  size_t m = zttp_qpack_encoder_stream_pending(&e, &p);
  assert_int_equal(zttp_qpack_decoder_receive_encoder_stream(&d, p, m), 1);
  zttp_qpack_encoder_stream_consume(&e, m);
  uint64_t sid;
  assert_int_equal(zttp_qpack_decoder_next_ready(&d, &out, &sid), 1);
  assert_int_equal(sid, 4);
  expect_field(&out.fields[1], "x-two", "2", 0);
  /* Its acknowledgment unblocks: stream 8 may use the entries now. */
  m = zttp_qpack_decoder_stream_pending(&d, &p);
  assert_int_equal(zttp_qpack_encoder_receive_decoder_stream(&e, p, m), 0);
  zttp_qpack_decoder_stream_consume(&d, m);
  n = zttp_qpack_encode(&e, buf, 12, f, 2);
  expect_bytes(buf, (size_t)n, "0301 82 81");
  zttp_qpack_fields_free(&out, mem());
  zttp_qpack_decoder_free(&d);
  zttp_qpack_encoder_free(&e);
}

static void test_never_indexed(void **state) {
  (void)state;
  zttp_qpack_encoder e;
  zttp_qpack_decoder d;
  zttp_qpack_fields out = {0};
  assert_int_equal(zttp_qpack_encoder_init(&e, mem(), NULL), 0);
  assert_int_equal(zttp_qpack_encoder_set_peer_settings(&e, 4096, 10), 0);
  assert_int_equal(zttp_qpack_decoder_init(&d, mem(), NULL), 0);
  zttp_header f[] = {
      hdr("authorization", "Basic Zm9vOmJhcg=="),
      hdr("proxy-authorization", "secret"),
      hdr("cookie", "a=b"),
      hdr("cookie", "a-long-cookie-value-over-twenty"),
      hdr("set-cookie", "id=1"),
      hdr("x-secret", "s"),
      hdr("x-plain", "p"),
      hdr("content-length", "1234"),
  };
  f[5].flags = ZTTP_HEADER_NEVER_INDEX;
  static const uint32_t want[] = {1, 1, 1, 0, 1, 1, 0, 0};
  uint8_t buf[512];
  for (int round = 0; round < 2; round++) {
    int64_t n = zttp_qpack_encode(&e, buf, 4 + 4 * (uint64_t)round, f, 8);
    const uint8_t *p;
    size_t m = zttp_qpack_encoder_stream_pending(&e, &p);
    assert_true(zttp_qpack_decoder_receive_encoder_stream(&d, p, m) >= 0);
    zttp_qpack_encoder_stream_consume(&e, m);
    assert_int_equal(
        zttp_qpack_decode(&d, &out, 4 + 4 * (uint64_t)round, buf, (size_t)n),
        0);
    assert_int_equal(out.num_fields, 8);
    for (int i = 0; i < 8; i++) {
      assert_int_equal(out.fields[i].flags,
                       want[i] ? ZTTP_HEADER_NEVER_INDEX : 0);
      assert_int_equal(out.fields[i].value_len, f[i].value_len);
      assert_memory_equal(out.fields[i].value, f[i].value, f[i].value_len);
    }
  }
  /* Only the long cookie and x-plain were inserted. */
  assert_int_equal(e.table.inserts, 2);
  zttp_qpack_fields_free(&out, mem());
  zttp_qpack_decoder_free(&d);
  zttp_qpack_encoder_free(&e);
}

/* ---- every split
 * ----------------------------------------------------------------- */

static void test_every_split(void **state) {
  (void)state;
  static const char *files[] = {
      "/qifs/encoded/qpack-05/examples/examples.out.220.100.1",
      "/qifs/encoded/qpack-05/ls-qpack/netbsd.out.256.100.0",
      "/qifs/encoded/qpack-05/nghttp3/netbsd-hq.out.512.100.1",
  };
  static const char *qifs[] = {"rfc9204-appendix-b", "netbsd", "netbsd-hq"};
  static const size_t caps[] = {220, 256, 512};
  for (size_t f = 0; f < 3; f++) {
    char path[512];
    snprintf(path, sizeof(path), QPACK_VECTORS "%s", files[f]);
    qf_encoded enc;
    assert_int_equal(qf_encoded_load(path, &enc), 0);
    snprintf(path, sizeof(path), QPACK_VECTORS "/qifs/qifs/%s.qif", qifs[f]);
    qf_qif q;
    assert_int_equal(qf_qif_load(path, &q), 0);
    size_t total = 0;
    for (size_t i = 0; i < enc.num; i++) {
      total += enc.recs[i].stream == 0 ? enc.recs[i].len : 0;
    }
    zttp_qpack_decoder_settings s;
    zttp_qpack_decoder_settings_default(&s);
    s.max_table_capacity = caps[f];
    s.max_blocked_streams = 100;
    for (long k = QF_BYTES; k <= (long)total; k++) {
      zttp_qpack_decoder d;
      assert_int_equal(zttp_qpack_decoder_init(&d, mem(), &s), 0);
      if (f > 0) {
        zttp_qpack_decoder_preset_capacity(&d, caps[f]);
      }
      qf_results r = {0};
      assert_int_equal(
          qf_decode_records(&d, enc.recs, enc.num, k, &r, NULL, NULL), 0);
      char msg[256];
      if (qf_results_check(&r, &q, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "%s split %ld: %s\n", files[f], k, msg);
        fail();
      }
      qf_results_free(&r);
      zttp_qpack_decoder_free(&d);
    }
    /* Every truncation of every section of the examples: an error or a
     * prefix of the fields, never more. */
    if (f == 0) {
      for (size_t i = 0; i < enc.num; i++) {
        if (enc.recs[i].stream == 0) {
          continue;
        }
        for (size_t cut = 0; cut < enc.recs[i].len; cut++) {
          zttp_qpack_decoder d;
          assert_int_equal(zttp_qpack_decoder_init(&d, mem(), &s), 0);
          qf_results r = {0};
          qf_record rec[64];
          size_t m = 0;
          for (size_t j = 0; j < enc.num && m < 64; j++) {
            if (enc.recs[j].stream == 0 || j == i) {
              rec[m] = enc.recs[j];
              if (j == i) {
                rec[m].len = cut;
              }
              m++;
            }
          }
          int32_t rv = qf_decode_records(&d, rec, m, QF_WHOLE, &r, NULL, NULL);
          assert_true(rv == 0 || rv == ZTTP_ERR_COMPRESSION);
          qf_results_free(&r);
          zttp_qpack_decoder_free(&d);
        }
      }
    }
    qf_qif_free(&q);
    qf_encoded_free(&enc);
  }
}

/* Every split of a decoder stream into the encoder. */
static void test_decoder_stream_split(void **state) {
  (void)state;
  uint8_t ds[64];
  size_t n = unhex(ds, "84 01 88 48 ff817f c0 02");
  for (size_t k = 0; k <= n; k++) {
    for (size_t k2 = k; k2 <= n; k2++) {
      zttp_qpack_encoder e;
      assert_int_equal(zttp_qpack_encoder_init(&e, mem(), NULL), 0);
      assert_int_equal(zttp_qpack_encoder_set_peer_settings(&e, 4096, 100), 0);
      uint8_t buf[128];
      zttp_header f[] = {hdr("x-a", "1")};
      zttp_header g[] = {hdr("x-b", "2")};
      zttp_header h[] = {hdr("x-c", "3")};
      zttp_qpack_encode(&e, buf, 4, f, 1);
      zttp_qpack_encode(&e, buf, 8, g, 1);
      zttp_qpack_encode(&e, buf, 8, f, 1);
      zttp_qpack_encode(&e, buf, 16384, h, 1);
      zttp_qpack_encode(&e, buf, 64, h, 1);
      zttp_qpack_encoder_insert(&e, (const uint8_t *)"x-d", 3,
                                (const uint8_t *)"4", 1);
      zttp_qpack_encoder_insert(&e, (const uint8_t *)"x-e", 3,
                                (const uint8_t *)"5", 1);
      assert_int_equal(e.num_secs, 5);
      assert_int_equal(zttp_qpack_encoder_receive_decoder_stream(&e, ds, k), 0);
      assert_int_equal(
          zttp_qpack_encoder_receive_decoder_stream(&e, ds + k, k2 - k), 0);
      assert_int_equal(
          zttp_qpack_encoder_receive_decoder_stream(&e, ds + k2, n - k2), 0);
      /* Acked: 4, 8 (first), 8 (second), 16384; 64 cancelled... */
      assert_int_equal(e.num_secs, 0);
      assert_int_equal(e.known_received, 5);
      zttp_qpack_encoder_free(&e);
    }
  }
}

/* ---- encoder fast paths ------------------------------------------------
 */

/* zttp_huffman_encode_max (the encoder's Huffman, 4 codes and an 8-byte
 * store per step) writes what zttp_huffman_encode writes when it fits in
 * |cap|, SIZE_MAX otherwise, and never past |cap|: every length up to 300,
 * printable and any-byte strings (codes up to 30 bits), every cap around
 * the code's length. */
static void test_huffman_encode_max(void **state) {
  (void)state;
  uint8_t src[300], want[1200], got[1200 + 16];
  uint32_t x = 12345;
  for (int kind = 0; kind < 3; kind++) {
    for (size_t len = 0; len <= sizeof(src); len++) {
      for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        uint8_t b = (uint8_t)(x >> 16);
        src[i] = kind == 0   ? (uint8_t)('a' + b % 26)
                 : kind == 1 ? (uint8_t)(' ' + b % 95)
                             : b;
      }
      size_t hn = zttp_huffman_encoded_len(src, len);
      assert_int_equal(zttp_huffman_encode(want, src, len), hn);
      size_t caps[] = {
          0,      hn > 9 ? hn - 9 : 0, hn > 1 ? hn - 1 : 0, hn, hn + 1, hn + 8,
          hn + 16};
      for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        size_t cap = caps[c];
        memset(got, 0xa5, sizeof(got));
        size_t n = zttp_huffman_encode_max(got, cap, src, len);
        if (hn <= cap) {
          assert_int_equal(n, hn);
          assert_memory_equal(got, want, hn);
        } else {
          assert_int_equal(n, SIZE_MAX);
        }
        for (size_t i = cap; i < sizeof(got); i++) {
          assert_int_equal(got[i], 0xa5);
        }
      }
    }
  }
}

/* Every static entry (RFC 9204 Appendix A) encodes as its Indexed Field
 * Line (the exact matches found by hash), with and without a table; a
 * near miss (same name, other value) does not. */
static void test_static_exact(void **state) {
  (void)state;
  for (int dyn = 0; dyn < 2; dyn++) {
    zttp_qpack_encoder e;
    assert_int_equal(zttp_qpack_encoder_init(&e, mem(), NULL), 0);
    if (dyn) {
      assert_int_equal(zttp_qpack_encoder_set_peer_settings(&e, 4096, 10), 0);
    }
    uint8_t buf[256];
    for (unsigned i = 0; i < QPACK_STATIC_NUM; i++) {
      if (i == 5 || i == 14 || i == 84) {
        continue; /* cookie "", set-cookie, authorization: never indexed */
      }
      zttp_header f = {qpack_static[i].name,
                       qpack_static[i].name_len,
                       qpack_static[i].value,
                       qpack_static[i].value_len,
                       0,
                       0};
      int64_t n = zttp_qpack_encode(&e, buf, 4, &f, 1);
      uint8_t want[4] = {0, 0, 0, 0};
      size_t wn = (size_t)(zttp_qpack_int_put(want + 2, 0xc0, 6, i) - want);
      assert_int_equal(n, wn);
      assert_memory_equal(buf, want, wn);
    }
    zttp_header g = hdr(":status", "201");
    int64_t n = zttp_qpack_encode(&e, buf, 4, &g, 1);
    assert_true(n > 2 && (buf[2] & 0xc0) != 0xc0);
    zttp_qpack_encoder_free(&e);
  }
}

/* The insertion policy once inserting means evicting (the table full):
 * :path and names outside the static table are inserted only while
 * nothing is evicted; date waits until the same field is seen again; other
 * static names are inserted at once. Every section is acknowledged. */
static void test_insert_policy(void **state) {
  (void)state;
  zttp_qpack_encoder e;
  assert_int_equal(zttp_qpack_encoder_init(&e, mem(), NULL), 0);
  assert_int_equal(zttp_qpack_encoder_set_peer_settings(&e, 256, 10), 0);
  uint8_t buf[512];
  uint64_t sid = 0;
  /* While there is room: :path and x-name are inserted. */
  zttp_header a[] = {hdr(":path", "/first"), hdr("x-name", "1")};
  int64_t n = zttp_qpack_encode(&e, buf, sid += 4, a, 2);
  assert_true(n > 0);
  assert_int_equal(e.table.inserts, 2);
  assert_int_equal(feed_hex_dec(&e, "84"), 0);
  /* Fill the table (256 bytes): entries of 10 + 86 + 32 = 128. */
  static const char *vals[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; i++) {
    char v[87];
    memset(v, vals[i][0], 86);
    v[86] = 0;
    zttp_header f = hdr("user-agent", v);
    n = zttp_qpack_encode(&e, buf, sid += 4, &f, 1);
    assert_true(n > 0);
    uint8_t ack = (uint8_t)(0x80 | sid);
    assert_int_equal(zttp_qpack_encoder_receive_decoder_stream(&e, &ack, 1), 0);
  }
  uint64_t ins = e.table.inserts;
  assert_int_equal(e.table.size, e.table.capacity);
  /* Full: :path, x-name and a first date are literals. */
  zttp_header b[] = {hdr(":path", "/second"), hdr("x-name", "2"),
                     hdr("date", "Thu, 01 Jan 1970 00:00:00 GMT")};
  for (int round = 0; round < 2; round++) {
    n = zttp_qpack_encode(&e, buf, sid += 4, b, 3);
    assert_true(n > 0);
    uint8_t ack = (uint8_t)(0x80 | sid);
    if (buf[0] != 0) {
      assert_int_equal(zttp_qpack_encoder_receive_decoder_stream(&e, &ack, 1),
                       0);
    }
    /* The second time date is inserted, the others never. */
    assert_int_equal(e.table.inserts, ins + (uint64_t)round);
  }
  /* A static name other than date is inserted at once. */
  zttp_header c = hdr("accept-language", "en-us");
  n = zttp_qpack_encode(&e, buf, sid += 4, &c, 1);
  assert_true(n > 0);
  assert_int_equal(e.table.inserts, ins + 2);
  zttp_qpack_encoder_free(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_static_table),
      cmocka_unit_test(test_appendix_b_decoder),
      cmocka_unit_test(test_appendix_b_encoder),
      cmocka_unit_test(test_error_files),
      cmocka_unit_test(test_malformed_sections),
      cmocka_unit_test(test_malformed_encoder_stream),
      cmocka_unit_test(test_decoder_stream_errors),
      cmocka_unit_test(test_blocked_streams),
      cmocka_unit_test(test_field_section_size),
      cmocka_unit_test(test_decoder_stream_buffer_full),
      cmocka_unit_test(test_eviction_refused),
      cmocka_unit_test(test_encoder_blocked_limit),
      cmocka_unit_test(test_never_indexed),
      cmocka_unit_test(test_every_split),
      cmocka_unit_test(test_decoder_stream_split),
      cmocka_unit_test(test_huffman_encode_max),
      cmocka_unit_test(test_static_exact),
      cmocka_unit_test(test_insert_policy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
