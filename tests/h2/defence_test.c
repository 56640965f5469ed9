/* Regression tests for the HTTP/2 defences (issue: "each with a regression
 * test that proves memory and work stay bounded"): rapid reset
 * (CVE-2023-44487), MadeYouReset (CVE-2025-8671), CONTINUATION flood, HPACK
 * bomb, SETTINGS/PING/empty-frame floods (CVE-2019-9512/9515/9518), the
 * outbound control-frame cap, and zero-length header floods (CVE-2019-9516).
 * Memory is measured with the counting allocator of the harness.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "h2_util.h"

#define GET_NV(path)                                                           \
  NV(":method", "GET", ":scheme", "http", ":authority", "example.com",         \
     ":path", path)

typedef struct server {
  h_failalloc fa;
  zttp_config *cfg;
  zttp_conn *conn;
  h_rec rec;
  size_t out_bytes; /* output drained so far */
} server;

static void server_init(server *s, const h_limit *limits) {
  h_failalloc_init(&s->fa, -1);
  s->cfg = h_cfg_new(0, limits, &s->fa.alloc);
  assert_int_equal(zttp_conn_new(&s->conn, s->cfg, ZTTP_SERVER, ZTTP_HTTP2), 0);
  h_rec_init(&s->rec);
  h_str in = {0};
  f_preface(&in);
  assert_int_equal(
      zttp_conn_receive_data(s->conn, (const uint8_t *)in.p, in.len),
      (int64_t)in.len);
  h_str_free(&in);
}

static void server_free(server *s) {
  zttp_conn_free(s->conn);
  zttp_config_free(s->cfg);
  h_rec_free(&s->rec);
  assert_int_equal(s->fa.live_allocs, 0);
}

/* Feeds |in| and drains events; returns the first error or 0. Output is
 * drained too unless |keep_output|. */
static int64_t server_feed(server *s, const h_str *in, int keep_output) {
  size_t off = 0;
  while (off < in->len) {
    int64_t n = zttp_conn_receive_data(s->conn, (const uint8_t *)in->p + off,
                                       in->len - off);
    if (n < 0) {
      return n;
    }
    off += (size_t)n;
    zttp_event ev;
    int32_t rv;
    while ((rv = zttp_conn_next_event(s->conn, &ev)) == 1) {
      s->rec.num_events++;
      if (ev.kind == ZTTP_EVENT_REQUEST) {
        s->rec.num_requests++;
      }
    }
    if (rv < 0) {
      return rv;
    }
    if (!keep_output) {
      const uint8_t *o;
      size_t len = zttp_conn_pending(s->conn, &o);
      s->out_bytes += len;
      zttp_conn_consume(s->conn, len);
    }
  }
  return 0;
}

static uint64_t wire_code(zttp_conn *c) {
  uint64_t w = 0;
  zttp_conn_last_error(c, NULL, &w, NULL);
  return w;
}

/* CVE-2023-44487: HEADERS then RST_STREAM, as fast as possible. With time
 * standing still, the burst runs out and the connection ends with
 * ENHANCE_YOUR_CALM; the streams never pile up. */
static void test_rapid_reset(void **state) {
  (void)state;
  server s;
  server_init(
      &s, H_LIMITS({ZTTP_LIMIT_RESET_BURST, 100}, {ZTTP_LIMIT_RESET_RATE, 10}));
  int64_t rv = 0;
  uint32_t id = 1;
  for (; id < 2000 && rv == 0; id += 2) {
    h_str in = {0};
    f_headers(&in, id, 0, GET_NV("/"));
    f_rst(&in, id, 8);
    rv = server_feed(&s, &in, 0);
    h_str_free(&in);
  }
  assert_int_equal(rv, ZTTP_ERR_ENHANCE_YOUR_CALM);
  assert_int_equal(wire_code(s.conn), 0xb);
  /* 100 tokens: the 101st reset trips it. */
  assert_int_equal(id, 2 * 101 + 1);
  assert_true(s.fa.peak_bytes < 200000);
  server_free(&s);
}

/* The same flood spread over time is within the rate: it never trips, and
 * memory stays flat over 20000 streams. */
static void test_reset_rate_refills(void **state) {
  (void)state;
  server s;
  server_init(
      &s, H_LIMITS({ZTTP_LIMIT_RESET_BURST, 100}, {ZTTP_LIMIT_RESET_RATE, 10}));
  zttp_tstamp now = 1000;
  size_t peak_after_warmup = 0;
  for (uint32_t id = 1; id < 40000; id += 2) {
    now += 100000000; /* 0.1 s: one token */
    zttp_conn_set_time(s.conn, now);
    h_str in = {0};
    f_headers(&in, id, 0, GET_NV("/"));
    f_rst(&in, id, 8);
    assert_int_equal(server_feed(&s, &in, 0), 0);
    h_str_free(&in);
    if (id == 201) {
      peak_after_warmup = s.fa.peak_bytes;
    }
  }
  assert_int_equal(s.rec.num_requests, 20000);
  /* No growth after the first 100 streams. */
  assert_int_equal(s.fa.peak_bytes, peak_after_warmup);
  server_free(&s);
}

/* CVE-2025-8671 (MadeYouReset): frames that make the server reset the
 * stream (here WINDOW_UPDATE of 0 on an open stream) draw on the same
 * budget. */
static void test_made_you_reset(void **state) {
  (void)state;
  server s;
  server_init(
      &s, H_LIMITS({ZTTP_LIMIT_RESET_BURST, 50}, {ZTTP_LIMIT_RESET_RATE, 1}));
  int64_t rv = 0;
  uint32_t id = 1;
  for (; id < 1000 && rv == 0; id += 2) {
    h_str in = {0};
    f_headers(&in, id, 0, GET_NV("/"));
    f_window_update(&in, id, 0);
    rv = server_feed(&s, &in, 0);
    h_str_free(&in);
  }
  assert_int_equal(rv, ZTTP_ERR_ENHANCE_YOUR_CALM);
  assert_int_equal(id, 2 * 51 + 1);
  server_free(&s);
}

/* CVE-2019-9516: header blocks of zero length. A malformed (empty) request
 * is a reset the peer caused; an empty block that is not the end of the
 * stream is also a glitch. */
static void test_empty_header_flood(void **state) {
  (void)state;
  server s;
  server_init(&s, H_LIMITS({ZTTP_LIMIT_RESET_BURST, 1000},
                           {ZTTP_LIMIT_GLITCH_BURST, 30}));
  int64_t rv = 0;
  uint32_t id = 1;
  for (; id < 1000 && rv == 0; id += 2) {
    h_str in = {0};
    f_frame(&in, 0x1, 0x4, id, NULL, 0);
    rv = server_feed(&s, &in, 0);
    h_str_free(&in);
  }
  assert_int_equal(rv, ZTTP_ERR_ENHANCE_YOUR_CALM);
  assert_int_equal(id, 2 * 31 + 1);
  assert_int_equal(s.rec.num_requests, 0);
  server_free(&s);
}

/* CVE-2019-9512 / -9515 / -9518: PING, SETTINGS and empty DATA frames cost
 * work and carry nothing: the glitch budget ends them. */
static void test_control_floods(void **state) {
  (void)state;
  for (int kind = 0; kind < 3; kind++) {
    server s;
    server_init(&s, H_LIMITS({ZTTP_LIMIT_GLITCH_BURST, 200}));
    if (kind == 2) {
      h_str in = {0};
      f_headers(&in, 1, 0, GET_NV("/"));
      assert_int_equal(server_feed(&s, &in, 0), 0);
      h_str_free(&in);
    }
    int64_t rv = 0;
    int i = 0;
    for (; i < 10000 && rv == 0; i++) {
      h_str in = {0};
      if (kind == 0) {
        f_ping(&in, 0, "pingping");
      } else if (kind == 1) {
        f_frame(&in, 0x4, 0, 0, NULL, 0);
      } else {
        f_frame(&in, 0x0, 0, 1, NULL, 0);
      }
      rv = server_feed(&s, &in, 0);
      h_str_free(&in);
    }
    assert_int_equal(rv, ZTTP_ERR_ENHANCE_YOUR_CALM);
    assert_int_equal(wire_code(s.conn), 0xb);
    assert_int_equal(i, 201);
    server_free(&s);
  }
}

/* A peer that sends PINGs and never reads cannot grow our output: the
 * queued control frames are capped (ZTTP_LIMIT_H2_MAX_QUEUED_CONTROL). */
static void test_control_queue_cap(void **state) {
  (void)state;
  server s;
  server_init(&s, H_LIMITS({ZTTP_LIMIT_H2_MAX_QUEUED_CONTROL, 50},
                           {ZTTP_LIMIT_GLITCH_BURST, 100000}));
  int64_t rv = 0;
  int i = 0;
  for (; i < 10000 && rv == 0; i++) {
    h_str in = {0};
    f_ping(&in, 0, "pingping");
    rv = server_feed(&s, &in, 1);
    h_str_free(&in);
  }
  assert_int_equal(rv, ZTTP_ERR_ENHANCE_YOUR_CALM);
  /* The SETTINGS ACK was the first queued control frame. */
  assert_int_equal(i, 50);
  const uint8_t *o;
  size_t pending = zttp_conn_pending(s.conn, &o);
  assert_true(pending < 2000);
  /* Draining the output resets the count: a reader may ping forever. */
  server_free(&s);
  server_init(&s, H_LIMITS({ZTTP_LIMIT_H2_MAX_QUEUED_CONTROL, 50},
                           {ZTTP_LIMIT_GLITCH_BURST, 100000}));
  for (i = 0; i < 5000; i++) {
    h_str in = {0};
    f_ping(&in, 0, "pingping");
    assert_int_equal(server_feed(&s, &in, 0), 0);
    h_str_free(&in);
  }
  server_free(&s);
}

/* RFC 7541 §7.3 (HPACK bomb): a block that inserts a 4000-byte entry and then
 * references it 1000 times decodes to 4 MB. The list-size cap stops it
 * while decoding; the request gets 431 and the connection (and its
 * dynamic table) goes on. */
static void test_hpack_bomb(void **state) {
  (void)state;
  server s;
  server_init(&s, NULL);
  h_str blk = {0};
  f_block(&blk, GET_NV("/"));
  /* Literal with incremental indexing, new name (RFC 7541 §6.2.1). */
  h_str_add(&blk, "\x40\x01x\x7f\xa1\x1e", 6); /* value length 127+3873 */
  char big[4000];
  memset(big, 'b', sizeof(big));
  h_str_add(&blk, big, sizeof(big));
  for (int i = 0; i < 1000; i++) {
    h_str_add(&blk, "\xbe", 1); /* indexed: dynamic entry 62 */
  }
  h_str in = {0};
  f_frame(&in, 0x1, 0x5, 1, blk.p, blk.len);
  assert_int_equal(server_feed(&s, &in, 1), 0);
  h_str_free(&in);
  assert_int_equal(s.rec.num_requests, 0);
  size_t len;
  char *raw = h_take_output(s.conn, &len);
  char *t = frames_text((const uint8_t *)raw, len);
  assert_string_equal(strstr(t, "SETTINGS s=0 f=0x1"),
                      "SETTINGS s=0 f=0x1 len=0\nHEADERS s=1 f=0x5 len=5\n");
  free(t);
  free(raw);
  /* The table kept the entry: a request using it decodes. */
  h_str_free(&blk);
  f_block(&blk, GET_NV("/after"));
  h_str_add(&blk, "\xbe", 1);
  f_frame(&in, 0x1, 0x5, 3, blk.p, blk.len);
  assert_int_equal(server_feed(&s, &in, 0), 0);
  assert_int_equal(s.rec.num_requests, 1);
  assert_true(s.fa.peak_bytes < 400000);
  h_str_free(&in);
  h_str_free(&blk);
  server_free(&s);
}

/* A header block spread over CONTINUATION frames is capped in bytes as it
 * arrives, before decoding. */
static void test_header_block_bytes(void **state) {
  (void)state;
  server s;
  server_init(&s, H_LIMITS({ZTTP_LIMIT_MAX_HEADER_BYTES, 4096}));
  uint8_t junk[2048];
  memset(junk, 0, sizeof(junk));
  h_str in = {0};
  f_frame(&in, 0x1, 0, 1, junk, sizeof(junk));
  f_frame(&in, 0x9, 0, 1, junk, sizeof(junk));
  f_frame(&in, 0x9, 0, 1, junk, sizeof(junk));
  assert_int_equal(server_feed(&s, &in, 0), ZTTP_ERR_LIMIT_HEADER_BYTES);
  assert_int_equal(wire_code(s.conn), 0xb);
  assert_true(s.fa.peak_bytes < 300000);
  h_str_free(&in);
  server_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rapid_reset),
      cmocka_unit_test(test_reset_rate_refills),
      cmocka_unit_test(test_made_you_reset),
      cmocka_unit_test(test_empty_header_flood),
      cmocka_unit_test(test_control_floods),
      cmocka_unit_test(test_control_queue_cap),
      cmocka_unit_test(test_hpack_bomb),
      cmocka_unit_test(test_header_block_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
