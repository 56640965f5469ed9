/* Failing allocator (STYLE.md, after nghttp2's failmalloc_test.c): full
 * client -> server -> client HTTP/1.1 exchanges where allocation k fails, for
 * every k until a run sees no failure. Each run must end fully successful
 * (every event checked) or with ZTTP_ERR_NOMEM from some call and that
 * connection poisoned with it; nothing may leak.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define S ZTTP_SERVER
#define C ZTTP_CLIENT

/* Runs |expr|; NOMEM ends the scenario (after the poisoning checks), any
 * other error fails the test, and a count must equal |want|. */
#define TRY_EQ(run, conn, role, expr, want)                                    \
  do {                                                                         \
    int64_t try_v_ = (int64_t)(expr);                                          \
    H_FA_TRY((run), (conn), (role), try_v_);                                   \
    assert_int_equal(try_v_, (want));                                          \
  } while (0)

/* Creates the config and a client (conns[0]) and a server (conns[1]). */
static int32_t make_pair(h_fa_run *run) {
  int32_t rv = zttp_config_new(&run->cfg, &run->fa->alloc);
  if (rv == ZTTP_ERR_NOMEM) {
    return h_fa_nomem(run, NULL, 0);
  }
  assert_int_equal(rv, 0);
  rv = zttp_conn_new(&run->conns[0], run->cfg, C, ZTTP_HTTP1);
  if (rv == ZTTP_ERR_NOMEM) {
    assert_null(run->conns[0]);
    return h_fa_nomem(run, NULL, 0);
  }
  assert_int_equal(rv, 0);
  rv = zttp_conn_new(&run->conns[1], run->cfg, S, ZTTP_HTTP1);
  if (rv == ZTTP_ERR_NOMEM) {
    assert_null(run->conns[1]);
    return h_fa_nomem(run, NULL, 0);
  }
  assert_int_equal(rv, 0);
  return 0;
}

/* ---- POST with a chunked body and trailers, chunked answer
 * --------------------- */

static int32_t post_exchange(h_fa_run *run, h_rec *sr, h_rec *cr) {
  int32_t rv = make_pair(run);
  if (rv != 0) {
    return rv;
  }
  zttp_conn *cli = run->conns[0];
  zttp_conn *srv = run->conns[1];
  zttp_header h[2] = {h_hdr("Host", "example.com"),
                      h_hdr("Content-Type", "text/plain")};
  TRY_EQ(run, cli, C,
         zttp_conn_send_request(cli, "POST", 4, "/upload?x=1", 11, h, 2, 0), 0);
  TRY_EQ(run, cli, C,
         zttp_conn_send_data(cli, 0, (const uint8_t *)"hello ", 6, 0), 6);
  TRY_EQ(run, cli, C,
         zttp_conn_send_data(cli, 0, (const uint8_t *)"world", 5, 0), 5);
  zttp_header t[2] = {h_hdr("X-Checksum", "42"), h_hdr("X-More", "yes")};
  TRY_EQ(run, cli, C, zttp_conn_end_message(cli, 0, t, 2), 0);
  TRY_EQ(run, srv, S, h_transfer(cli, srv, sr, NULL, NULL), 0);
  assert_string_equal(h_rec_text(sr),
                      "REQUEST s=0 f=- POST /upload?x=1 path=/upload query=x=1 "
                      "host=example.com v=11\n"
                      "  Host=example.com\n  Content-Type=text/plain\n"
                      "  Transfer-Encoding=chunked\n"
                      "DATA s=0 hello world\nEND s=0\n"
                      "  trailer X-Checksum=42\n  trailer X-More=yes\n");

  zttp_header rh = h_hdr("Content-Type", "text/plain");
  TRY_EQ(run, srv, S, zttp_conn_send_response(srv, 0, 201, NULL, 0, &rh, 1, 0),
         0);
  TRY_EQ(run, srv, S,
         zttp_conn_send_data(srv, 0, (const uint8_t *)"stored", 6, 0), 6);
  zttp_header rt = h_hdr("X-Done", "1");
  TRY_EQ(run, srv, S, zttp_conn_end_message(srv, 0, &rt, 1), 0);
  TRY_EQ(run, cli, C, h_transfer(srv, cli, cr, NULL, NULL), 0);
  assert_string_equal(h_rec_text(cr),
                      "RESPONSE s=0 f=- 201 v=11 reason=Created\n"
                      "  Content-Type=text/plain\n"
                      "  Transfer-Encoding=chunked\n"
                      "DATA s=0 stored\nEND s=0\n  trailer X-Done=1\n");

  /* The client hangs up; the server sees a clean close. */
  TRY_EQ(run, srv, S, h_feed_eof(srv, sr, NULL, NULL), 0);
  assert_true(sr->closed);
  assert_int_equal(zttp_conn_should_close(srv), 1);
  return 0;
}

static int32_t scenario_post(h_fa_run *run) {
  h_rec sr, cr;
  h_rec_init(&sr);
  h_rec_init(&cr);
  int32_t rv = post_exchange(run, &sr, &cr);
  h_rec_free(&sr);
  h_rec_free(&cr);
  return rv;
}

static void test_post_chunked_trailers(void **state) {
  (void)state;
  long n = h_fa_drive(scenario_post, NULL);
  print_message("# scenario_post: %ld allocations in the clean run\n", n);
  assert_true(n > 2);
}

/* ---- pipelined GETs
 * ---------------------------------------------------------------- */

static int32_t pipeline_exchange(h_fa_run *run, h_rec *sr, h_rec *cr) {
  int32_t rv = make_pair(run);
  if (rv != 0) {
    return rv;
  }
  zttp_conn *cli = run->conns[0];
  zttp_conn *srv = run->conns[1];
  static const char *const targets[] = {"/a", "/b?q", "/c"};
  for (size_t i = 0; i < 3; i++) {
    zttp_header h[2] = {h_hdr("Host", "h"), h_hdr("Accept", "*/*")};
    TRY_EQ(run, cli, C,
           zttp_conn_send_request(cli, "GET", 3, targets[i], strlen(targets[i]),
                                  h, 2, ZTTP_SEND_FLAG_END_STREAM),
           0);
  }
  TRY_EQ(run, srv, S, h_transfer(cli, srv, sr, NULL, NULL), 0);
  assert_string_equal(
      h_rec_text(sr),
      "REQUEST s=0 f=es GET /a path=/a host=h v=11\n  Host=h\n  Accept=*/*\n"
      "END s=0\n"
      "REQUEST s=0 f=es GET /b?q path=/b query=q host=h v=11\n  Host=h\n"
      "  Accept=*/*\nEND s=0\n"
      "REQUEST s=0 f=es GET /c path=/c host=h v=11\n  Host=h\n  Accept=*/*\n"
      "END s=0\n");
  static const char *const bodies[] = {"A", "BB", "CCC"};
  static const char *const lens[] = {"1", "2", "3"};
  for (size_t i = 0; i < 3; i++) {
    zttp_header h[2] = {h_hdr("Content-Length", lens[i]),
                        h_hdr("X-N", lens[i])};
    TRY_EQ(
        run, srv, S,
        zttp_conn_send_response(srv, 0, i == 2 ? 404 : 200, NULL, 0, h, 2, 0),
        0);
    TRY_EQ(run, srv, S,
           zttp_conn_send_data(srv, 0, (const uint8_t *)bodies[i], i + 1,
                               ZTTP_SEND_FLAG_END_STREAM),
           (int64_t)i + 1);
    /* Move each answer as soon as it is queued. */
    TRY_EQ(run, cli, C, h_transfer(srv, cli, cr, NULL, NULL), 0);
  }
  assert_string_equal(h_rec_text(cr),
                      "RESPONSE s=0 f=- 200 v=11 reason=OK\n"
                      "  Content-Length=1\n  X-N=1\nDATA s=0 A\nEND s=0\n"
                      "RESPONSE s=0 f=- 200 v=11 reason=OK\n"
                      "  Content-Length=2\n  X-N=2\nDATA s=0 BB\nEND s=0\n"
                      "RESPONSE s=0 f=- 404 v=11 reason=Not Found\n"
                      "  Content-Length=3\n  X-N=3\nDATA s=0 CCC\nEND s=0\n");
  assert_int_equal(zttp_conn_should_close(srv), 0);
  assert_int_equal(zttp_conn_should_close(cli), 0);
  return 0;
}

static int32_t scenario_pipeline(h_fa_run *run) {
  h_rec sr, cr;
  h_rec_init(&sr);
  h_rec_init(&cr);
  int32_t rv = pipeline_exchange(run, &sr, &cr);
  h_rec_free(&sr);
  h_rec_free(&cr);
  return rv;
}

static void test_pipelined_gets(void **state) {
  (void)state;
  long n = h_fa_drive(scenario_pipeline, NULL);
  print_message("# scenario_pipeline: %ld allocations in the clean run\n", n);
  assert_true(n > 2);
}

/* ---- large bodies and many fields: the buffers grow
 * -------------------------------- */

#define BIG_BODY 300000
#define BIG_FIELDS 60

static void fill_body(char *b, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) {
    b[i] = (char)('a' + (i * 7 + seed) % 26);
  }
}

static int32_t large_exchange(h_fa_run *run, h_rec *sr, h_rec *cr, char *body) {
  int32_t rv = make_pair(run);
  if (rv != 0) {
    return rv;
  }
  zttp_conn *cli = run->conns[0];
  zttp_conn *srv = run->conns[1];
  char names[BIG_FIELDS][16];
  zttp_header h[BIG_FIELDS + 2];
  h[0] = h_hdr("Host", "big");
  h[1] = h_hdr("Content-Length", "300000");
  h_str want = {0};
  h_str_adds(&want, "REQUEST s=0 f=- PUT /big path=/big host=big v=11\n"
                    "  Host=big\n  Content-Length=300000\n");
  for (size_t i = 0; i < BIG_FIELDS; i++) {
    snprintf(names[i], sizeof(names[i]), "X-Field-%zu", i);
    h[i + 2] = h_hdr(names[i], "some value that takes room");
    h_str_addf(&want, "  %s=some value that takes room\n", names[i]);
  }
  fill_body(body, BIG_BODY, 3);
  h_str_adds(&want, "DATA s=0 ");
  h_str_add(&want, body, BIG_BODY);
  h_str_adds(&want, "\nEND s=0\n");
  int32_t out = 0;
  int64_t r =
      zttp_conn_send_request(cli, "PUT", 3, "/big", 4, h, BIG_FIELDS + 2, 0);
  if ((out = h_fa_check(run, cli, C, r, "send_request")) != 0) {
    goto done;
  }
  for (size_t off = 0; off < BIG_BODY; off += 100000) {
    r = zttp_conn_send_data(cli, 0, (const uint8_t *)body + off, 100000,
                            off + 100000 == BIG_BODY ? ZTTP_SEND_FLAG_END_STREAM
                                                     : 0);
    if ((out = h_fa_check(run, cli, C, r, "send_data")) != 0) {
      goto done;
    }
    assert_int_equal(r, 100000);
    r = h_transfer(cli, srv, sr, NULL, NULL);
    if ((out = h_fa_check(run, srv, S, r, "transfer to server")) != 0) {
      goto done;
    }
    assert_int_equal(r, 0);
  }
  assert_string_equal(h_rec_text(sr), want.p);

  /* A chunked answer in pieces of 40000. */
  fill_body(body, 120000, 5);
  r = zttp_conn_send_response(srv, 0, 200, NULL, 0, NULL, 0, 0);
  if ((out = h_fa_check(run, srv, S, r, "send_response")) != 0) {
    goto done;
  }
  for (size_t off = 0; off < 120000; off += 40000) {
    r = zttp_conn_send_data(srv, 0, (const uint8_t *)body + off, 40000, 0);
    if ((out = h_fa_check(run, srv, S, r, "send_data")) != 0) {
      goto done;
    }
    assert_int_equal(r, 40000);
    r = h_transfer(srv, cli, cr, NULL, NULL);
    if ((out = h_fa_check(run, cli, C, r, "transfer to client")) != 0) {
      goto done;
    }
    assert_int_equal(r, 0);
  }
  r = zttp_conn_end_message(srv, 0, NULL, 0);
  if ((out = h_fa_check(run, srv, S, r, "end_message")) != 0) {
    goto done;
  }
  r = h_transfer(srv, cli, cr, NULL, NULL);
  if ((out = h_fa_check(run, cli, C, r, "transfer to client")) != 0) {
    goto done;
  }
  want.len = 0;
  h_str_adds(&want, "RESPONSE s=0 f=- 200 v=11 reason=OK\n"
                    "  Transfer-Encoding=chunked\nDATA s=0 ");
  h_str_add(&want, body, 120000);
  h_str_adds(&want, "\nEND s=0\n");
  assert_string_equal(h_rec_text(cr), want.p);
done:
  h_str_free(&want);
  return out;
}

static int32_t scenario_large(h_fa_run *run) {
  h_rec sr, cr;
  h_rec_init(&sr);
  h_rec_init(&cr);
  char *body = malloc(BIG_BODY);
  assert_non_null(body);
  int32_t rv = large_exchange(run, &sr, &cr, body);
  free(body);
  h_rec_free(&sr);
  h_rec_free(&cr);
  return rv;
}

static void test_large_bodies_many_fields(void **state) {
  (void)state;
  long n = h_fa_drive(scenario_large, NULL);
  print_message("# scenario_large: %ld allocations in the clean run\n", n);
  assert_true(n > 2);
}

/* ---- a rejected request: the protocol error, or NOMEM first
 * -------------------------- */

static int32_t reject_exchange(h_fa_run *run, h_rec *sr) {
  int32_t rv = make_pair(run);
  if (rv != 0) {
    return rv;
  }
  zttp_conn *srv = run->conns[1];
  static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX-1: a\r\nX-2: b\r\n"
                           "X-3: c\x01\r\n\r\n";
  int64_t f = h_feed(srv, sr, (const uint8_t *)in, sizeof(in) - 1, NULL, NULL);
  if (f == ZTTP_ERR_NOMEM) {
    return h_fa_nomem(run, srv, S);
  }
  assert_int_equal(f, ZTTP_ERR_BAD_HEADER_VALUE);
  h_expect_poisoned(srv, S, ZTTP_ERR_BAD_HEADER_VALUE);
  return 0;
}

static int32_t scenario_reject(h_fa_run *run) {
  h_rec sr;
  h_rec_init(&sr);
  int32_t rv = reject_exchange(run, &sr);
  h_rec_free(&sr);
  return rv;
}

static void test_rejected_request(void **state) {
  (void)state;
  long n = h_fa_drive(scenario_reject, NULL);
  print_message("# scenario_reject: %ld allocations in the clean run\n", n);
  assert_true(n > 2);
}

/* ---- the allocator itself
 * ------------------------------------------------------------ */

static void test_failalloc_counts(void **state) {
  (void)state;
  h_failalloc fa;
  h_failalloc_init(&fa, 1);
  void *a = fa.alloc.malloc(10, fa.alloc.user);
  assert_non_null(a);
  assert_null(fa.alloc.malloc(10, fa.alloc.user));
  assert_int_equal(fa.injected, 1);
  void *b = fa.alloc.realloc(a, 20, fa.alloc.user);
  assert_non_null(b);
  assert_int_equal(fa.live_allocs, 1);
  assert_int_equal(fa.live_bytes, 20);
  assert_int_equal(fa.count, 3);
  fa.alloc.free(b, fa.alloc.user);
  fa.alloc.free(NULL, fa.alloc.user);
  assert_int_equal(fa.live_allocs, 0);
  assert_int_equal(fa.live_bytes, 0);
  assert_int_equal(fa.bad_frees, 0);
  /* A failed realloc keeps the block. */
  h_failalloc_init(&fa, 1);
  a = fa.alloc.realloc(NULL, 8, fa.alloc.user);
  assert_non_null(a);
  assert_null(fa.alloc.realloc(a, 16, fa.alloc.user));
  assert_int_equal(fa.live_allocs, 1);
  assert_int_equal(fa.live_bytes, 8);
  fa.alloc.free(a, fa.alloc.user);
  assert_int_equal(fa.live_allocs, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failalloc_counts),
      cmocka_unit_test(test_post_chunked_trailers),
      cmocka_unit_test(test_pipelined_gets),
      cmocka_unit_test(test_rejected_request),
      cmocka_unit_test(test_large_bodies_many_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
