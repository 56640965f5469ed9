/* HTTP/2 flow control (RFC 9113 §5.2, §6.9), the RFC 9218 scheduler, and
 * the h2c upgrade hand-off (RFC 7540 §3.2). SPDX-License-Identifier: MIT */
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

static zttp_conn *server_with_preface(const zttp_config *cfg,
                                      const h_str *extra) {
  zttp_conn *s;
  assert_int_equal(zttp_conn_new(&s, cfg, ZTTP_SERVER, ZTTP_HTTP2), 0);
  h_str in = {0};
  f_preface(&in);
  if (extra != NULL) {
    h_str_add(&in, extra->p, extra->len);
  }
  assert_int_equal(zttp_conn_receive_data(s, (const uint8_t *)in.p, in.len),
                   (int64_t)in.len);
  h_str_free(&in);
  return s;
}

static char *drain_text(zttp_conn *c) {
  h_rec r;
  h_rec_init(&r);
  h_drain(c, &r, NULL, NULL);
  size_t n = strlen(h_rec_text(&r));
  char *t = malloc(n + 1);
  memcpy(t, h_rec_text(&r), n + 1);
  h_rec_free(&r);
  return t;
}

/* Takes every pending byte (pending/consume until empty) and returns the
 * frames, with "--\n" between the batches pending() returned. */
static char *out_text(zttp_conn *c) {
  h_str all = {0};
  size_t len;
  int first = 1;
  for (;;) {
    char *raw = h_take_output(c, &len);
    if (len == 0) {
      free(raw);
      break;
    }
    char *t = frames_text((const uint8_t *)raw, len);
    if (!first) {
      h_str_adds(&all, "--\n");
    }
    first = 0;
    h_str_adds(&all, t);
    free(t);
    free(raw);
  }
  char *r = malloc(all.len + 1);
  memcpy(r, h_str_cstr(&all), all.len + 1);
  h_str_free(&all);
  return r;
}

/* The peer's window (65535 by default) limits what send_data takes; a
 * WINDOW_UPDATE makes the stream writable again and says so. */
static void test_send_window(void **state) {
  (void)state;
  h_str in = {0};
  f_headers(&in, 1, 0x1, GET_NV("/big"));
  zttp_conn *s = server_with_preface(NULL, &in);
  h_str_free(&in);
  free(drain_text(s));
  free(out_text(s));
  assert_int_equal(zttp_conn_send_response(s, 1, 200, NULL, 0, NULL, 0, 0), 0);
  static uint8_t body[100000];
  memset(body, 'x', sizeof(body));
  assert_int_equal(zttp_conn_send_window(s, 1), 65535);
  assert_int_equal(zttp_conn_send_data(s, 1, body, sizeof(body), 0), 65535);
  assert_int_equal(zttp_conn_send_data(s, 1, body, 10, 0), 0);
  assert_int_equal(zttp_conn_send_window(s, 1), 0);
  char *t = out_text(s);
  /* 32768 bytes went out directly; the rest waited for the scheduler and
   * came out with the pending call. */
  assert_non_null(strstr(t, "HEADERS s=1 f=0x4 len=1\n"
                            "DATA s=1 f=0x0 len=16384"));
  free(t);
  /* The stream window opens; the connection window is still closed. */
  f_window_update(&in, 1, 1000);
  assert_int_equal(zttp_conn_receive_data(s, (const uint8_t *)in.p, in.len),
                   (int64_t)in.len);
  h_str_free(&in);
  t = drain_text(s);
  assert_string_equal(t, "");
  free(t);
  assert_int_equal(zttp_conn_send_window(s, 1), 0);
  /* Now the connection's. */
  f_window_update(&in, 0, 500);
  assert_int_equal(zttp_conn_receive_data(s, (const uint8_t *)in.p, in.len),
                   (int64_t)in.len);
  h_str_free(&in);
  t = drain_text(s);
  assert_string_equal(t, "WINDOW s=0 available=500\n");
  free(t);
  assert_int_equal(zttp_conn_send_window(s, 1), 500);
  assert_int_equal(zttp_conn_send_data(s, 1, body, 600, 0), 500);
  t = out_text(s);
  assert_string_equal(t, "DATA s=1 f=0x0 len=500\n");
  free(t);
  /* A SETTINGS_INITIAL_WINDOW_SIZE change applies to open streams
   * (RFC 9113 §6.9.2): the stream had 1000 - 500 = 500 left; +10000. */
  f_frame(&in, 0x4, 0, 0, "\0\x04\0\x01\x27\x0f", 6);
  f_window_update(&in, 0, 100000);
  assert_int_equal(zttp_conn_receive_data(s, (const uint8_t *)in.p, in.len),
                   (int64_t)in.len);
  h_str_free(&in);
  t = drain_text(s);
  /* Stream 0: the connection window opened; blocked streams may retry. */
  assert_string_equal(t, "SETTINGS 4=75535\nWINDOW s=0 available=100000\n");
  free(t);
  assert_int_equal(zttp_conn_send_window(s, 1), 10500);
  zttp_conn_free(s);
}

/* Received data returns credit only when the application consumes it. */
static void test_receive_window(void **state) {
  (void)state;
  zttp_config *cfg = h_cfg_new(0,
                               H_LIMITS({ZTTP_LIMIT_STREAM_WINDOW, 100},
                                        {ZTTP_LIMIT_CONNECTION_WINDOW, 65535}),
                               NULL);
  h_str in = {0};
  f_frame(&in, 0x4, 0x1, 0, NULL, 0); /* ACK of our SETTINGS */
  f_headers(&in, 1, 0,
            NV(":method", "POST", ":scheme", "http", ":path", "/", ":authority",
               "a"));
  char d[101];
  memset(d, 'd', 100);
  d[100] = 0;
  f_data(&in, 1, 0, d);
  zttp_conn *s = server_with_preface(cfg, &in);
  h_str_free(&in);
  char *t = drain_text(s);
  free(t);
  free(out_text(s));
  /* Nothing consumed: no credit. Half the window consumed: credit. */
  assert_int_equal(zttp_conn_data_consumed(s, 1, 49), 0);
  t = out_text(s);
  assert_string_equal(t, "");
  free(t);
  assert_int_equal(zttp_conn_data_consumed(s, 1, 1), 0);
  t = out_text(s);
  assert_string_equal(t, "WINDOW_UPDATE s=1 f=0x0 len=4 inc=50\n");
  free(t);
  assert_int_equal(zttp_conn_data_consumed(s, 1, 51),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_conn_data_consumed(s, 9, 1), ZTTP_ERR_STREAM_NOT_FOUND);
  /* One byte past the window is a stream error. */
  memset(d, 'e', 51);
  d[51] = 0;
  f_data(&in, 1, 0, d);
  assert_int_equal(zttp_conn_receive_data(s, (const uint8_t *)in.p, in.len),
                   (int64_t)in.len);
  h_str_free(&in);
  t = drain_text(s);
  assert_string_equal(t, "RESET s=1 code=3\n");
  free(t);
  t = out_text(s);
  assert_string_equal(t, "RST_STREAM s=1 f=0x0 len=4 code=3\n");
  free(t);
  zttp_conn_free(s);
  zttp_config_free(cfg);
}

/* RFC 9218 §10: with several streams waiting, the more urgent goes first;
 * incremental streams of equal urgency take turns. */
static void test_scheduler(void **state) {
  (void)state;
  h_str in = {0};
  f_headers(&in, 1, 0x1, GET_NV("/low"));
  f_headers(&in, 3, 0x1,
            NV(":method", "GET", ":scheme", "http", ":path", "/hi",
               ":authority", "a", "priority", "u=0"));
  f_headers(&in, 5, 0x1,
            NV(":method", "GET", ":scheme", "http", ":path", "/inc1",
               ":authority", "a", "priority", "u=5, i"));
  f_headers(&in, 7, 0x1,
            NV(":method", "GET", ":scheme", "http", ":path", "/inc2",
               ":authority", "a", "priority", "u=5, i"));
  zttp_conn *s = server_with_preface(NULL, &in);
  h_str_free(&in);
  free(drain_text(s));
  free(out_text(s));
  static uint8_t body[40000];
  memset(body, 'b', sizeof(body));
  for (int64_t id = 1; id <= 7; id += 2) {
    assert_int_equal(zttp_conn_send_response(s, id, 200, NULL, 0, NULL, 0, 0),
                     0);
  }
  /* Stream 1 fills the direct part (32768 bytes), then everything waits. */
  assert_int_equal(zttp_conn_send_data(s, 1, body, 40000, 0), 40000);
  assert_int_equal(zttp_conn_send_data(s, 5, body, 20000, 0), 20000);
  assert_int_equal(zttp_conn_send_data(s, 7, body, 20000, 0), 5535);
  /* The connection window (65535) is spent; open it. */
  f_window_update(&in, 0, 1000000);
  assert_int_equal(zttp_conn_receive_data(s, (const uint8_t *)in.p, in.len),
                   (int64_t)in.len);
  h_str_free(&in);
  free(drain_text(s));
  assert_int_equal(zttp_conn_send_data(s, 3, body, 20000, 0), 20000);
  assert_int_equal(zttp_conn_send_data(s, 7, body, 14465, 0), 14465);
  char *t = out_text(s);
  /* Stream 1 went out directly up to 32 KiB of pending output; then the
   * scheduler: u=0 (stream 3) first, then u=3 (stream 1), then the two
   * incremental u=5 streams taking turns frame by frame. */
  assert_string_equal(t, "HEADERS s=1 f=0x4 len=1\n"
                         "HEADERS s=3 f=0x4 len=1\n"
                         "HEADERS s=5 f=0x4 len=1\n"
                         "HEADERS s=7 f=0x4 len=1\n"
                         "DATA s=1 f=0x0 len=16384\n"
                         "DATA s=1 f=0x0 len=16344\n"
                         "--\n"
                         "DATA s=3 f=0x0 len=16384\n"
                         "DATA s=3 f=0x0 len=3616\n"
                         "DATA s=1 f=0x0 len=7272\n"
                         "DATA s=5 f=0x0 len=16384\n"
                         "--\n"
                         "DATA s=7 f=0x0 len=16384\n"
                         "DATA s=5 f=0x0 len=3616\n"
                         "DATA s=7 f=0x0 len=3616\n");
  free(t);
  zttp_conn_free(s);
}

/* RFC 7540 §3.2: the HTTP/1.1 request becomes stream 1, half-closed
 * (remote); HTTP2-Settings is applied as the client's SETTINGS. */
static void test_h2c_upgrade(void **state) {
  (void)state;
  zttp_conn *s;
  /* SETTINGS_MAX_CONCURRENT_STREAMS = 100, SETTINGS_INITIAL_WINDOW_SIZE =
   * 10: "AAMAAABkAAQAAAAK" (RFC 4648 base64url). */
  assert_int_equal(
      zttp_conn_new_h2c_upgrade(&s, NULL, "GET", 3, "AAMAAABkAAQAAAAK", 16), 0);
  assert_int_equal(zttp_conn_send_response(s, 1, 200, NULL, 0, NULL, 0, 0), 0);
  assert_int_equal(zttp_conn_send_window(s, 1), 10);
  assert_int_equal(zttp_conn_send_data(s, 1, (const uint8_t *)"hello world", 11,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   10);
  assert_int_equal(zttp_conn_send_data(s, 1, (const uint8_t *)"d", 1,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   0);
  char *t = out_text(s);
  assert_string_equal(t, "SETTINGS s=0 f=0x0 len=30 2=0 3=100 4=262144 6=65536 "
                         "9=1\n"
                         "WINDOW_UPDATE s=0 f=0x0 len=4 inc=983041\n"
                         "HEADERS s=1 f=0x4 len=1\n"
                         "DATA s=1 f=0x0 len=10 hello worl\n");
  free(t);
  /* Then the client's preface arrives; new streams start at 3. */
  h_str in = {0};
  f_preface(&in);
  f_window_update(&in, 1, 1);
  f_headers(&in, 3, 0x1, GET_NV("/next"));
  assert_int_equal(zttp_conn_receive_data(s, (const uint8_t *)in.p, in.len),
                   (int64_t)in.len);
  h_str_free(&in);
  t = drain_text(s);
  assert_string_equal(t, "SETTINGS\n"
                         "WINDOW s=1 available=1\n"
                         "REQUEST s=3 f=es GET /next path=/next "
                         "host=example.com scheme=http v=20\n"
                         "  host=example.com\nEND s=3\n");
  free(t);
  assert_int_equal(zttp_conn_send_data(s, 1, (const uint8_t *)"d", 1,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   1);
  zttp_conn_free(s);
  /* A malformed HTTP2-Settings is refused. */
  assert_int_equal(zttp_conn_new_h2c_upgrade(&s, NULL, "GET", 3, "AAMA!", 5),
                   ZTTP_ERR_PROTOCOL);
  assert_null(s);
  assert_int_equal(zttp_conn_new_h2c_upgrade(&s, NULL, "GET", 3, "AAMAAAB", 7),
                   ZTTP_ERR_PROTOCOL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_send_window),
      cmocka_unit_test(test_receive_window),
      cmocka_unit_test(test_scheduler),
      cmocka_unit_test(test_h2c_upgrade),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
