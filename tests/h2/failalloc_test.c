/* Failing allocator over whole HTTP/2 exchanges (STYLE.md, after nghttp2's
 * failmalloc_test.c): allocation k fails, for every k until a run sees no
 * failure. Each run ends fully successful (every event checked) or with
 * ZTTP_ERR_NOMEM from some call and that connection poisoned with it;
 * nothing may leak. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "h2_util.h"

#define S ZTTP_SERVER
#define C ZTTP_CLIENT

#define TRY_EQ(run, conn, role, expr, want)                                    \
  do {                                                                         \
    int64_t try_v_ = (int64_t)(expr);                                          \
    H_FA_TRY((run), (conn), (role), try_v_);                                   \
    assert_int_equal(try_v_, (want));                                          \
  } while (0)

static int32_t make_pair(h_fa_run *run) {
  int32_t rv = zttp_config_new(&run->cfg, &run->fa->alloc);
  if (rv == ZTTP_ERR_NOMEM) {
    return h_fa_nomem(run, NULL, 0);
  }
  for (int i = 0; i < 2; i++) {
    rv = zttp_conn_new(&run->conns[i], run->cfg, i == 0 ? C : S, ZTTP_HTTP2);
    if (rv == ZTTP_ERR_NOMEM) {
      assert_null(run->conns[i]);
      return h_fa_nomem(run, NULL, 0);
    }
    assert_int_equal(rv, 0);
  }
  return 0;
}

/* Two POSTs with bodies and trailers, answered with bodies and trailers;
 * then a reset and a graceful close. */
typedef struct recs {
  h_rec sr;
  h_rec cr;
} recs;

static int32_t exchange(h_fa_run *run, h_rec *srp, h_rec *crp) {
  int32_t rv = make_pair(run);
  if (rv != 0) {
    return rv;
  }
  zttp_conn *cli = run->conns[0];
  zttp_conn *srv = run->conns[1];
#define sr (*srp)
#define cr (*crp)
  zttp_header h[] = {h_hdr("host", "example.com"),
                     h_hdr("content-type", "text/plain")};
  zttp_header t[] = {h_hdr("x-checksum", "42")};
  for (int i = 0; i < 2; i++) {
    TRY_EQ(run, cli, C,
           zttp_conn_send_request(cli, "POST", 4, "/up", 3, h, 2, 0),
           1 + 2 * i);
    TRY_EQ(run, cli, C,
           zttp_conn_send_data(cli, 1 + 2 * i, (const uint8_t *)"hello", 5, 0),
           5);
    TRY_EQ(run, cli, C, zttp_conn_end_message(cli, 1 + 2 * i, t, 1), 0);
  }
  TRY_EQ(run, srv, S, h_transfer(cli, srv, &sr, NULL, NULL), 0);
  assert_int_equal(sr.num_requests, 2);
  assert_int_equal(sr.num_ends, 2);
  for (int i = 0; i < 2; i++) {
    int64_t id = 1 + 2 * i;
    TRY_EQ(run, srv, S, zttp_conn_data_consumed(srv, id, 5), 0);
    TRY_EQ(run, srv, S,
           zttp_conn_send_response(srv, id, 200, NULL, 0, h + 1, 1, 0), 0);
    TRY_EQ(run, srv, S,
           zttp_conn_send_data(srv, id, (const uint8_t *)"world", 5, 0), 5);
    TRY_EQ(run, srv, S, zttp_conn_end_message(srv, id, t, 1), 0);
  }
  TRY_EQ(run, cli, C, h_transfer(srv, cli, &cr, NULL, NULL), 0);
  assert_string_equal(h_rec_text(&cr),
                      "SETTINGS 2=0 3=100 4=262144 6=65536 9=1\n"
                      "RESPONSE s=1 f=- 200 v=20 reason=\n"
                      "  content-type=text/plain\n"
                      "DATA s=1 world\nEND s=1\n  trailer x-checksum=42\n"
                      "RESPONSE s=3 f=- 200 v=20 reason=\n"
                      "  content-type=text/plain\n"
                      "DATA s=3 world\nEND s=3\n  trailer x-checksum=42\n");
  TRY_EQ(run, cli, C,
         zttp_conn_send_request(cli, "GET", 3, "/r", 2, h, 1,
                                ZTTP_SEND_FLAG_END_STREAM),
         5);
  TRY_EQ(run, srv, S, h_transfer(cli, srv, &sr, NULL, NULL), 0);
  TRY_EQ(run, srv, S, zttp_conn_reset_stream(srv, 5, 8), 0);
  TRY_EQ(run, srv, S, zttp_conn_close(srv, 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
  TRY_EQ(run, cli, C, h_transfer(srv, cli, &cr, NULL, NULL), 0);
  TRY_EQ(run, srv, S, h_transfer(cli, srv, &sr, NULL, NULL), 0);
  TRY_EQ(run, cli, C, h_transfer(srv, cli, &cr, NULL, NULL), 0);
  assert_int_equal(zttp_conn_should_close(srv), 1);
  assert_int_equal(zttp_conn_should_close(cli), 1);
  return 0;
#undef sr
#undef cr
}

static int32_t scenario(h_fa_run *run) {
  /* The recorders use plain malloc: free them on every path. */
  recs r;
  h_rec_init(&r.sr);
  h_rec_init(&r.cr);
  int32_t rv = exchange(run, &r.sr, &r.cr);
  h_rec_free(&r.sr);
  h_rec_free(&r.cr);
  return rv;
}

static void test_exchange(void **state) {
  (void)state;
  long n = h_fa_drive(scenario, NULL);
  assert_true(n > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exchange),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
