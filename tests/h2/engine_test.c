/* HTTP/2 engine tests: exact events for exact frames, exact frames for exact
 * calls, and the RFC 9113 error split (stream vs connection).
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

/* Answers every request with 200 and a "hello" body (plus its path). */
static void answer(zttp_conn *conn, const zttp_event *ev, void *arg) {
  (void)arg;
  if (ev->kind != ZTTP_EVENT_REQUEST) {
    return;
  }
  zttp_header h[] = {h_hdr("content-type", "text/plain")};
  assert_int_equal(
      zttp_conn_send_response(conn, ev->stream_id, 200, NULL, 0, h, 1, 0), 0);
  assert_int_equal(zttp_conn_send_data(conn, ev->stream_id,
                                       (const uint8_t *)"hello", 5,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   5);
}

/* The server's first flight with default settings. */
#define S0                                                                     \
  "SETTINGS s=0 f=0x0 len=30 2=0 3=100 4=262144 6=65536 9=1\n"                 \
  "WINDOW_UPDATE s=0 f=0x0 len=4 inc=983041\n"
#define ACK "SETTINGS s=0 f=0x1 len=0\n"

/* Runs a server on the client preface followed by |in|, fed whole and split
 * at every position, and checks the events and then the output frames. */
static void expect_server(const zttp_config *cfg, const h_str *in,
                          h_event_fn cb, const char *events,
                          const char *output) {
  h_str all = {0};
  f_preface(&all);
  h_str_add(&all, in->p, in->len);
  h_str want = {0};
  h_str_adds(&want, "SETTINGS\n");
  h_str_adds(&want, events);
  h_str_adds(&want, "OUTPUT\n");
  /* The server's first flight for this config. */
  zttp_conn *c0;
  assert_int_equal(zttp_conn_new(&c0, cfg, ZTTP_SERVER, ZTTP_HTTP2), 0);
  size_t n0;
  char *raw = h_take_output(c0, &n0);
  char *first = frames_text((const uint8_t *)raw, n0);
  h_str_adds(&want, first);
  free(first);
  free(raw);
  zttp_conn_free(c0);
  h_str_adds(&want, output);
  h_script sc = {.role = ZTTP_SERVER,
                 .cfg = cfg,
                 .on_event = cb,
                 .protocol = ZTTP_HTTP2,
                 .describe_output = frames_text};
  h_every_split(&sc, all.p, all.len, h_str_cstr(&want));
  h_str_free(&all);
  h_str_free(&want);
}

static zttp_config *cfg_with(uint32_t id, uint64_t value) {
  zttp_config *c;
  assert_int_equal(zttp_config_new(&c, NULL), 0);
  assert_int_equal(zttp_config_set_limit(c, id, value), 0);
  return c;
}

/* ---- connection preface (RFC 9113 §3.4) ---------------------------------- */

static void test_bad_preface(void **state) {
  (void)state;
  h_script sc = {.role = ZTTP_SERVER,
                 .protocol = ZTTP_HTTP2,
                 .describe_output = frames_text};
  h_every_split_s(
      &sc, "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "ERROR BAD_PREFACE\nOUTPUT\n" S0
      "GOAWAY last=0 code=1 debug=client connection preface mismatch\n");
}

static void test_first_frame_not_settings(void **state) {
  (void)state;
  h_str in = {0};
  h_str_adds(&in, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  f_ping(&in, 0, "12345678");
  h_script sc = {.role = ZTTP_SERVER,
                 .protocol = ZTTP_HTTP2,
                 .describe_output = frames_text};
  h_every_split(&sc, in.p, in.len,
                "ERROR BAD_PREFACE\nOUTPUT\n" S0
                "GOAWAY last=0 code=1 debug=first frame is not SETTINGS\n");
  h_str_free(&in);
}

/* ---- frame-level errors: connection vs stream (RFC 9113 §5.4) ----------- */

static void test_frame_too_large(void **state) {
  (void)state;
  h_str in = {0};
  uint8_t big[16385] = {0};
  f_frame(&in, 0x0, 0, 1, big, sizeof(big));
  expect_server(NULL, &in, NULL, "ERROR FRAME_SIZE\n",
                ACK "GOAWAY last=0 code=6 debug=frame of 16385 bytes exceeds "
                    "SETTINGS_MAX_FRAME_SIZE\n");
  h_str_free(&in);
}

static void test_headers_on_stream_0(void **state) {
  (void)state;
  h_str in = {0};
  f_headers(&in, 0, 0x1, GET_NV("/"));
  expect_server(NULL, &in, NULL, "ERROR PROTOCOL\n",
                ACK "GOAWAY last=0 code=1 debug=HEADERS on stream 0\n");
  h_str_free(&in);
}

static void test_even_stream_from_client(void **state) {
  (void)state;
  h_str in = {0};
  f_headers(&in, 2, 0x1, GET_NV("/"));
  expect_server(NULL, &in, NULL, "ERROR PROTOCOL\n",
                ACK "GOAWAY last=0 code=1 debug=HEADERS on idle stream 2\n");
  h_str_free(&in);
}

static void test_reused_stream_id_ignored(void **state) {
  (void)state;
  h_str in = {0};
  f_headers(&in, 5, 0x1, GET_NV("/a"));
  f_headers(&in, 3, 0x1, GET_NV("/b"));
  f_headers(&in, 7, 0x1, GET_NV("/c"));
  expect_server(NULL, &in, NULL,
                "REQUEST s=5 f=es GET /a path=/a host=example.com "
                "scheme=http v=20\n  host=example.com\nEND s=5\n"
                "REQUEST s=7 f=es GET /c path=/c host=example.com "
                "scheme=http v=20\n  host=example.com\nEND s=7\n",
                ACK);
  h_str_free(&in);
}

/* RFC 9113 §8.1.1: a malformed request is a stream error; the connection
 * and later requests go on. */
static void test_malformed_requests(void **state) {
  (void)state;
  const char *const *bad[] = {
      NV(":method", "GET", ":scheme", "http", ":authority", "a"),
      NV(":method", "GET", ":scheme", "http", ":path", "/", "Accept", "x"),
      NV(":method", "GET", ":scheme", "http", ":path", "/", "connection",
         "close"),
      NV(":method", "GET", ":scheme", "http", ":path", "/", "te", "gzip"),
      NV(":method", "GET", ":scheme", "http", ":path", "/", "x", " lead"),
      NV(":method", "GET", ":scheme", "http", ":path", "/", "x", "a\rb"),
      NV(":method", "GET", "x", "y", ":scheme", "http", ":path", "/"),
      NV(":method", "GET", ":method", "GET", ":scheme", "http", ":path", "/"),
      NV(":method", "GET", ":scheme", "http", ":path", "/", ":foo", "1"),
      NV(":method", "GET", ":scheme", "http", ":path", "", ":authority", "a"),
      NV(":method", "GET", ":scheme", "http", ":path", "a"),
      NV(":method", "CONNECT", ":scheme", "http", ":path", "/", ":authority",
         "a:1"),
      NV(":method", "CONNECT", ":authority", "a:1", ":protocol", "ws"),
      NV(":status", "200", ":method", "GET", ":scheme", "http", ":path", "/"),
      NV(":method", "GET", ":scheme", "http", ":path", "/", "content-length",
         "1x"),
      NV(":method", "GET", ":scheme", "http", ":path", "/", "content-length",
         "1", "content-length", "2"),
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    h_str in = {0};
    f_headers(&in, 1, 0x1, bad[i]);
    f_headers(&in, 3, 0x1, GET_NV("/ok"));
    expect_server(NULL, &in, NULL,
                  "REQUEST s=3 f=es GET /ok path=/ok host=example.com "
                  "scheme=http v=20\n  host=example.com\nEND s=3\n",
                  ACK "RST_STREAM s=1 f=0x0 len=4 code=1\n");
    h_str_free(&in);
  }
}

static void test_content_length_mismatch(void **state) {
  (void)state;
  /* More DATA than declared: reset, and the application hears of it. */
  h_str in = {0};
  f_headers(&in, 1, 0,
            NV(":method", "POST", ":scheme", "http", ":path", "/",
               "content-length", "3"));
  f_data(&in, 1, 0x1, "abcd");
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=- POST / path=/ scheme=http v=20\n"
                "  content-length=3\n"
                "RESET s=1 code=1\n",
                ACK "RST_STREAM s=1 f=0x0 len=4 code=1\n");
  h_str_free(&in);
  /* Fewer. */
  f_headers(&in, 1, 0,
            NV(":method", "POST", ":scheme", "http", ":path", "/",
               "content-length", "3"));
  f_data(&in, 1, 0x1, "ab");
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=- POST / path=/ scheme=http v=20\n"
                "  content-length=3\n"
                "DATA s=1 ab\n"
                "RESET s=1 code=1\n",
                ACK "RST_STREAM s=1 f=0x0 len=4 code=1\n");
  h_str_free(&in);
}

static void test_data_errors(void **state) {
  (void)state;
  h_str in = {0};
  /* DATA on an idle stream: connection error. */
  f_data(&in, 1, 0x1, "x");
  expect_server(NULL, &in, NULL, "ERROR PROTOCOL\n",
                ACK "GOAWAY last=0 code=1 debug=DATA on idle stream 1\n");
  h_str_free(&in);
  /* DATA after END_STREAM: stream error STREAM_CLOSED (RFC 9113 §5.1). */
  f_headers(&in, 1, 0x1, GET_NV("/"));
  f_data(&in, 1, 0x1, "x");
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=es GET / path=/ host=example.com scheme=http "
                "v=20\n  host=example.com\nEND s=1\nRESET s=1 code=5\n",
                ACK "RST_STREAM s=1 f=0x0 len=4 code=5\n");
  h_str_free(&in);
  /* Padding longer than the payload. */
  f_headers(&in, 1, 0, GET_NV("/"));
  f_frame(&in, 0x0, 0x8, 1,
          "\x05"
          "ab",
          3);
  expect_server(
      NULL, &in, NULL,
      "REQUEST s=1 f=- GET / path=/ host=example.com scheme=http "
      "v=20\n  host=example.com\nERROR PROTOCOL\n",
      ACK "GOAWAY last=1 code=1 debug=DATA padding exceeds the payload\n");
  h_str_free(&in);
}

static void test_padding(void **state) {
  (void)state;
  h_str in = {0};
  h_str blk = {0};
  f_block(&blk, GET_NV("/p"));
  h_str pl = {0};
  h_str_add(&pl, "\x03", 1);
  h_str_add(&pl, blk.p, blk.len);
  h_str_add(&pl, "\0\0\0", 3);
  f_frame(&in, 0x1, 0x4 | 0x8, 1, pl.p, pl.len);
  f_frame(&in, 0x0, 0x8 | 0x1, 1,
          "\x02"
          "hi\0\0",
          5);
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=- GET /p path=/p host=example.com scheme=http "
                "v=20\n  host=example.com\nDATA s=1 hi\nEND s=1\n",
                ACK);
  h_str_free(&in);
  h_str_free(&blk);
  h_str_free(&pl);
}

static void test_continuation(void **state) {
  (void)state;
  h_str blk = {0};
  f_block(&blk, GET_NV("/c"));
  h_str in = {0};
  f_frame(&in, 0x1, 0x1, 1, blk.p, 10);
  f_frame(&in, 0x9, 0, 1, blk.p + 10, 10);
  f_frame(&in, 0x9, 0x4, 1, blk.p + 20, blk.len - 20);
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=es GET /c path=/c host=example.com scheme=http "
                "v=20\n  host=example.com\nEND s=1\n",
                ACK);
  h_str_free(&in);
  /* Interrupted by another frame: connection error. */
  f_frame(&in, 0x1, 0x1, 1, blk.p, 10);
  f_ping(&in, 0, "12345678");
  expect_server(
      NULL, &in, NULL, "ERROR PROTOCOL\n",
      ACK
      "GOAWAY last=0 code=1 debug=header block interrupted by another frame\n");
  h_str_free(&in);
  /* CONTINUATION without HEADERS. */
  f_frame(&in, 0x9, 0x4, 1, blk.p, blk.len);
  expect_server(NULL, &in, NULL, "ERROR PROTOCOL\n",
                ACK "GOAWAY last=0 code=1 debug=unexpected CONTINUATION\n");
  h_str_free(&in);
  /* CVE-2024-27316 style flood: more CONTINUATION frames than allowed. */
  zttp_config *c = cfg_with(ZTTP_LIMIT_H2_MAX_CONTINUATIONS, 2);
  f_frame(&in, 0x1, 0x1, 1, blk.p, 5);
  f_frame(&in, 0x9, 0, 1, blk.p + 5, 5);
  f_frame(&in, 0x9, 0, 1, blk.p + 10, 5);
  f_frame(&in, 0x9, 0x4, 1, blk.p + 15, blk.len - 15);
  expect_server(c, &in, NULL, "ERROR LIMIT_CONTINUATIONS\n",
                ACK "GOAWAY last=0 code=11 debug=more than 2 CONTINUATION "
                    "frames in one header block\n");
  h_str_free(&in);
  zttp_config_free(c);
  h_str_free(&blk);
}

static void test_settings_errors(void **state) {
  (void)state;
  struct {
    uint16_t id;
    uint32_t value;
    const char *err;
    const char *goaway;
  } cases[] = {
      {2, 2, "PROTOCOL",
       "GOAWAY last=0 code=1 debug=invalid SETTINGS_ENABLE_PUSH\n"},
      {4, 0x80000000u, "FLOW_CONTROL",
       "GOAWAY last=0 code=3 debug=SETTINGS_INITIAL_WINDOW_SIZE above "
       "2^31-1\n"},
      {5, 16383, "PROTOCOL",
       "GOAWAY last=0 code=1 debug=invalid SETTINGS_MAX_FRAME_SIZE\n"},
      {5, 16777216, "PROTOCOL",
       "GOAWAY last=0 code=1 debug=invalid SETTINGS_MAX_FRAME_SIZE\n"},
      {8, 2, "PROTOCOL",
       "GOAWAY last=0 code=1 debug=invalid SETTINGS_ENABLE_CONNECT_PROTOCOL\n"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    h_str in = {0};
    uint8_t p[6] = {(uint8_t)(cases[i].id >> 8), (uint8_t)cases[i].id};
    f_u32(p + 2, cases[i].value);
    f_frame(&in, 0x4, 0, 0, p, 6);
    h_str ev = {0};
    h_str_addf(&ev, "ERROR %s\n", cases[i].err);
    h_str out = {0};
    h_str_adds(&out, ACK);
    h_str_adds(&out, cases[i].goaway);
    expect_server(NULL, &in, NULL, h_str_cstr(&ev), h_str_cstr(&out));
    h_str_free(&in);
    h_str_free(&ev);
    h_str_free(&out);
  }
  h_str in = {0};
  f_frame(&in, 0x4, 0, 0, "\0\x03\0\0", 4);
  expect_server(
      NULL, &in, NULL, "ERROR FRAME_SIZE\n",
      ACK "GOAWAY last=0 code=6 debug=SETTINGS length not a multiple of 6\n");
  h_str_free(&in);
  f_frame(&in, 0x4, 0x1, 0, "\0\x03\0\0\0\x01", 6);
  expect_server(NULL, &in, NULL, "ERROR FRAME_SIZE\n",
                ACK "GOAWAY last=0 code=6 debug=SETTINGS ACK with a payload\n");
  h_str_free(&in);
  /* Unknown settings are ignored, known ones reported in order. */
  f_frame(&in, 0x4, 0, 0, "\0\x63\0\0\0\x07\0\x03\0\0\0\x09", 12);
  expect_server(NULL, &in, NULL, "SETTINGS 99=7 3=9\n", ACK ACK);
  h_str_free(&in);
}

static void test_ping(void **state) {
  (void)state;
  h_str in = {0};
  f_ping(&in, 0, "abcdefgh");
  f_ping(&in, 0x1, "zyxwvuts");
  expect_server(NULL, &in, NULL, "PING f=- abcdefgh\nPING f=ack zyxwvuts\n",
                ACK "PING s=0 f=0x1 len=8\n");
  h_str_free(&in);
  f_frame(&in, 0x6, 0, 1, "abcdefgh", 8);
  expect_server(NULL, &in, NULL, "ERROR PROTOCOL\n",
                ACK "GOAWAY last=0 code=1 debug=PING on a stream\n");
  h_str_free(&in);
  f_frame(&in, 0x6, 0, 0, "abcdefg", 7);
  expect_server(NULL, &in, NULL, "ERROR FRAME_SIZE\n",
                ACK "GOAWAY last=0 code=6 debug=PING length not 8\n");
  h_str_free(&in);
}

static void test_window_update_errors(void **state) {
  (void)state;
  h_str in = {0};
  f_window_update(&in, 0, 0);
  expect_server(NULL, &in, NULL, "ERROR PROTOCOL\n",
                ACK "GOAWAY last=0 code=1 debug=WINDOW_UPDATE of 0\n");
  h_str_free(&in);
  f_window_update(&in, 0, 0x7fffffff);
  expect_server(NULL, &in, NULL, "ERROR FLOW_CONTROL\n",
                ACK
                "GOAWAY last=0 code=3 debug=connection window above 2^31-1\n");
  h_str_free(&in);
  f_headers(&in, 1, 0x1, GET_NV("/"));
  f_window_update(&in, 1, 0);
  f_window_update(&in, 3, 1);
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=es GET / path=/ host=example.com scheme=http "
                "v=20\n  host=example.com\nEND s=1\nRESET s=1 code=1\n"
                "ERROR PROTOCOL\n",
                ACK
                "RST_STREAM s=1 f=0x0 len=4 code=1\n"
                "GOAWAY last=1 code=1 debug=WINDOW_UPDATE on idle stream 3\n");
  h_str_free(&in);
  f_headers(&in, 1, 0x1, GET_NV("/"));
  f_window_update(&in, 1, 0x7fffffff);
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=es GET / path=/ host=example.com scheme=http "
                "v=20\n  host=example.com\nEND s=1\nRESET s=1 code=3\n",
                ACK "RST_STREAM s=1 f=0x0 len=4 code=3\n");
  h_str_free(&in);
}

static void test_rst_stream(void **state) {
  (void)state;
  h_str in = {0};
  f_headers(&in, 1, 0, GET_NV("/"));
  f_rst(&in, 1, 8);
  f_rst(&in, 1, 8);
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=- GET / path=/ host=example.com scheme=http "
                "v=20\n  host=example.com\nRESET s=1 code=8\n",
                ACK);
  h_str_free(&in);
  f_rst(&in, 1, 8);
  expect_server(NULL, &in, NULL, "ERROR PROTOCOL\n",
                ACK "GOAWAY last=0 code=1 debug=RST_STREAM on idle stream 1\n");
  h_str_free(&in);
}

static void test_push_promise_refused(void **state) {
  (void)state;
  h_str in = {0};
  f_frame(&in, 0x5, 0x4, 1, "\0\0\0\x02", 4);
  expect_server(NULL, &in, NULL, "ERROR PROTOCOL\n",
                ACK "GOAWAY last=0 code=1 debug=PUSH_PROMISE received\n");
  h_str_free(&in);
}

static void test_unknown_frames_ignored(void **state) {
  (void)state;
  h_str in = {0};
  uint8_t junk[3000];
  memset(junk, 'j', sizeof(junk));
  f_frame(&in, 0xfa, 0xff, 0, junk, sizeof(junk));
  f_headers(&in, 1, 0x1, GET_NV("/u"));
  f_frame(&in, 0x21, 0, 1, junk, 10);
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=es GET /u path=/u host=example.com scheme=http "
                "v=20\n  host=example.com\nEND s=1\n",
                ACK);
  h_str_free(&in);
}

static void test_max_concurrent_streams(void **state) {
  (void)state;
  zttp_config *c = cfg_with(ZTTP_LIMIT_MAX_CONCURRENT_STREAMS, 2);
  h_str in = {0};
  f_headers(&in, 1, 0, GET_NV("/1"));
  f_headers(&in, 3, 0, GET_NV("/3"));
  f_headers(&in, 5, 0, GET_NV("/5"));
  f_data(&in, 1, 0x1, "");
  f_headers(&in, 7, 0x1, GET_NV("/7"));
  /* s=1 is half-closed (remote) but still counts until it is answered:
   * 7 is refused as well. */
  expect_server(c, &in, NULL,
                "REQUEST s=1 f=- GET /1 path=/1 host=example.com scheme=http "
                "v=20\n  host=example.com\n"
                "REQUEST s=3 f=- GET /3 path=/3 host=example.com scheme=http "
                "v=20\n  host=example.com\n"
                "END s=1\n",
                ACK "RST_STREAM s=5 f=0x0 len=4 code=7\n"
                    "RST_STREAM s=7 f=0x0 len=4 code=7\n");
  h_str_free(&in);
  zttp_config_free(c);
}

/* ---- whole exchanges, client and server both zttp ------------------------ */

typedef struct script_srv {
  int trailers;      /* answer with trailers */
  int informational; /* send 103 first */
  int echo;          /* echo the request body */
} script_srv;

static void scripted(zttp_conn *conn, const zttp_event *ev, void *arg) {
  script_srv *sc = arg;
  if (ev->kind == ZTTP_EVENT_DATA) {
    assert_int_equal(
        zttp_conn_data_consumed(conn, ev->stream_id, ev->u.data.len), 0);
    if (sc->echo) {
      assert_int_equal(zttp_conn_send_data(conn, ev->stream_id, ev->u.data.data,
                                           ev->u.data.len, 0),
                       (int64_t)ev->u.data.len);
    }
    return;
  }
  if (ev->kind == ZTTP_EVENT_REQUEST) {
    if (sc->informational) {
      zttp_header l[] = {h_hdr("link", "</s.css>; rel=preload")};
      assert_int_equal(
          zttp_conn_send_informational(conn, ev->stream_id, 103, l, 1), 0);
    }
    int head = ev->u.request.method.len == 4;
    assert_int_equal(
        zttp_conn_send_response(conn, ev->stream_id, 200, NULL, 0, NULL, 0, 0),
        0);
    if (!sc->echo && !head) {
      assert_int_equal(zttp_conn_send_data(conn, ev->stream_id,
                                           (const uint8_t *)"body", 4, 0),
                       4);
    }
    if (!sc->echo || (ev->flags & ZTTP_EVENT_FLAG_END_STREAM)) {
      goto end;
    }
    return;
  }
  if (ev->kind != ZTTP_EVENT_END_MESSAGE || !sc->echo) {
    return;
  }
end:
  if (sc->trailers) {
    zttp_header t[] = {h_hdr("grpc-status", "0"), h_hdr("X-Sum", "42")};
    assert_int_equal(zttp_conn_end_message(conn, ev->stream_id, t, 2), 0);
  } else {
    assert_int_equal(zttp_conn_end_message(conn, ev->stream_id, NULL, 0), 0);
  }
}

static void test_trailers_and_1xx(void **state) {
  (void)state;
  pump p;
  pump_init(&p, NULL, NULL);
  script_srv sc = {1, 1, 1};
  p.server_cb = scripted;
  p.server_arg = &sc;
  zttp_header h[] = {h_hdr(":authority", "a.example"),
                     h_hdr("content-type", "application/grpc"),
                     h_hdr("te", "trailers")};
  int64_t id =
      zttp_conn_send_request(p.client, "POST", 4, "/svc/M", 6, h, 3, 0);
  assert_int_equal(id, 1);
  assert_int_equal(
      zttp_conn_send_data(p.client, id, (const uint8_t *)"ping", 4, 0), 4);
  zttp_header t[] = {h_hdr("x-client-trailer", "yes")};
  assert_int_equal(zttp_conn_end_message(p.client, id, t, 1), 0);
  pump_run(&p);
  assert_string_equal(h_rec_text(&p.srec),
                      "SETTINGS 2=0 3=100 4=262144 6=65536 9=1\n"
                      "REQUEST s=1 f=- POST /svc/M path=/svc/M host=a.example "
                      "scheme=http v=20\n"
                      "  host=a.example\n"
                      "  content-type=application/grpc\n"
                      "  te=trailers\n"
                      "DATA s=1 ping\n"
                      "END s=1\n"
                      "  trailer x-client-trailer=yes\n");
  assert_string_equal(h_rec_text(&p.crec),
                      "SETTINGS 2=0 3=100 4=262144 6=65536 9=1\n"
                      "RESPONSE s=1 f=- 103 v=20 reason=\n"
                      "  link=</s.css>; rel=preload\n"
                      "RESPONSE s=1 f=- 200 v=20 reason=\n"
                      "DATA s=1 ping\n"
                      "END s=1\n"
                      "  trailer grpc-status=0\n"
                      "  trailer x-sum=42\n");
  assert_int_equal(zttp_conn_send_window(p.client, 1),
                   ZTTP_ERR_STREAM_NOT_FOUND);
  pump_free(&p);
}

static void test_head_bodyless(void **state) {
  (void)state;
  pump p;
  pump_init(&p, NULL, NULL);
  script_srv sc = {0, 0, 0};
  p.server_cb = scripted;
  p.server_arg = &sc;
  zttp_header h[] = {h_hdr("host", "a")};
  assert_int_equal(zttp_conn_send_request(p.client, "HEAD", 4, "/", 1, h, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   1);
  pump_run(&p);
  assert_string_equal(h_rec_text(&p.crec),
                      "SETTINGS 2=0 3=100 4=262144 6=65536 9=1\n"
                      "RESPONSE s=1 f=- 200 v=20 reason=\n"
                      "END s=1\n");
  pump_free(&p);
}

/* Sending validates every field: nothing reaches the wire on a refusal. */
static void test_send_validation(void **state) {
  (void)state;
  zttp_conn *c;
  assert_int_equal(zttp_conn_new(&c, NULL, ZTTP_CLIENT, ZTTP_HTTP2), 0);
  size_t n0;
  free(h_take_output(c, &n0));
  const zttp_header bad[][1] = {
      {h_hdr("connection", "close")},
      {h_hdr("te", "gzip")},
      {h_hdr("x y", "1")},
      {h_hdr("x", "a\nb")},
      {h_hdr(":path", "/")},
      {h_hdr("Transfer-Encoding", "chunked")},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(zttp_conn_send_request(c, "GET", 3, "/", 1, bad[i], 1, 0),
                     ZTTP_ERR_INVALID_FIELD);
    const uint8_t *o;
    assert_int_equal(zttp_conn_pending(c, &o), 0);
  }
  /* Uppercase names are lowercased (RFC 9113 §8.2.1). */
  zttp_header ok[] = {h_hdr("Host", "h"), h_hdr("X-Mixed-Case", "v")};
  assert_int_equal(zttp_conn_send_request(c, "GET", 3, "/", 1, ok, 2,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   1);
  /* The stream is half-closed (local): no more body. */
  assert_int_equal(zttp_conn_send_data(c, 1, (const uint8_t *)"x", 1, 0),
                   ZTTP_ERR_INVALID_STATE);
  zttp_header cl[] = {h_hdr("host", "h"), h_hdr("content-length", "3")};
  assert_int_equal(zttp_conn_send_request(c, "POST", 4, "/", 1, cl, 2, 0), 3);
  assert_int_equal(zttp_conn_send_data(c, 3, (const uint8_t *)"abcd", 4, 0),
                   ZTTP_ERR_FRAMING);
  assert_int_equal(zttp_conn_send_data(c, 3, (const uint8_t *)"ab", 2, 0), 2);
  assert_int_equal(zttp_conn_end_message(c, 3, NULL, 0), ZTTP_ERR_FRAMING);
  assert_int_equal(zttp_conn_send_data(c, 3, (const uint8_t *)"c", 1,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   1);
  assert_int_equal(zttp_conn_send_response(c, 1, 200, NULL, 0, NULL, 0, 0),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_conn_ping(c, (const uint8_t *)"12345678"), 0);
  size_t n;
  char *raw = h_take_output(c, &n);
  char *t = frames_text((const uint8_t *)raw, n);
  assert_string_equal(t, "HEADERS s=1 f=0x5 len=19\n"
                         "HEADERS s=3 f=0x4 len=8\n"
                         "DATA s=3 f=0x0 len=2 ab\n"
                         "DATA s=3 f=0x1 len=1 c\n"
                         "PING s=0 f=0x0 len=8\n");
  free(t);
  free(raw);
  zttp_conn_free(c);
}

/* RFC 9113 §6.8: GOAWAY(2^31-1) and a PING, then on its ACK the final
 * GOAWAY naming the last stream; the streams below it finish. */
static void test_graceful_shutdown(void **state) {
  (void)state;
  pump p;
  pump_init(&p, NULL, NULL);
  zttp_header h[] = {h_hdr("host", "a")};
  assert_int_equal(zttp_conn_send_request(p.client, "GET", 3, "/", 1, h, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   1);
  pump_run(&p);
  assert_int_equal(zttp_conn_close(p.server, 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
  assert_int_equal(zttp_conn_should_close(p.server), 0);
  pump_run(&p);
  assert_int_equal(zttp_conn_should_close(p.server), 0);
  /* The client may not open streams any more. */
  assert_int_equal(zttp_conn_send_request(p.client, "GET", 3, "/", 1, h, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_CLOSED);
  assert_int_equal(zttp_conn_send_response(p.server, 1, 204, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  pump_run(&p);
  assert_int_equal(zttp_conn_should_close(p.server), 1);
  assert_int_equal(zttp_conn_should_close(p.client), 1);
  assert_string_equal(h_rec_text(&p.crec),
                      "SETTINGS 2=0 3=100 4=262144 6=65536 9=1\n"
                      "GOAWAY last=2147483647 code=0\n"
                      "PING f=- zttpgoaw\n"
                      "GOAWAY last=1 code=0\n"
                      "RESPONSE s=1 f=es 204 v=20 reason=\n"
                      "END s=1\n");
  pump_free(&p);
}

/* The client side: a GOAWAY resets the streams the server never saw. */
static void test_client_goaway_refuses(void **state) {
  (void)state;
  zttp_conn *c;
  assert_int_equal(zttp_conn_new(&c, NULL, ZTTP_CLIENT, ZTTP_HTTP2), 0);
  zttp_header h[] = {h_hdr("host", "a")};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(zttp_conn_send_request(c, "GET", 3, "/", 1, h, 1,
                                            ZTTP_SEND_FLAG_END_STREAM),
                     1 + 2 * i);
  }
  h_str in = {0};
  f_frame(&in, 0x4, 0, 0, NULL, 0);
  f_frame(&in, 0x7, 0, 0, "\0\0\0\x01\0\0\0\0bye", 11);
  f_headers(&in, 1, 0x1, NV(":status", "200"));
  h_rec r;
  h_rec_init(&r);
  assert_int_equal(h_feed(c, &r, (const uint8_t *)in.p, in.len, NULL, NULL), 0);
  assert_string_equal(h_rec_text(&r), "SETTINGS\n"
                                      "GOAWAY last=1 code=0 debug=bye\n"
                                      "RESET s=3 code=7\n"
                                      "RESET s=5 code=7\n"
                                      "RESPONSE s=1 f=es 200 v=20 reason=\n"
                                      "END s=1\n");
  assert_int_equal(zttp_conn_should_close(c), 1);
  h_rec_free(&r);
  h_str_free(&in);
  zttp_conn_free(c);
}

static void test_client_rejects_push_and_server_streams(void **state) {
  (void)state;
  h_str in = {0};
  f_frame(&in, 0x4, 0, 0, NULL, 0);
  f_headers(&in, 2, 0x1, NV(":status", "200"));
  h_script sc = {.role = ZTTP_CLIENT, .protocol = ZTTP_HTTP2};
  h_every_split(&sc, in.p, in.len, "SETTINGS\nERROR PROTOCOL\n");
  h_str_free(&in);
  f_frame(&in, 0x4, 0, 0, "\0\x02\0\0\0\x01", 6);
  h_every_split(&sc, in.p, in.len, "ERROR PROTOCOL\n");
  h_str_free(&in);
}

static char *server_out(zttp_conn *c);

/* ---- CONNECT, extended CONNECT, priorities, limits ------------------------
 */

static void test_connect(void **state) {
  (void)state;
  h_str in = {0};
  f_headers(&in, 1, 0, NV(":method", "CONNECT", ":authority", "proxy:443"));
  f_data(&in, 1, 0, "tunnel bytes");
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=up CONNECT proxy:443 path=proxy:443 "
                "host=proxy:443 v=20\n"
                "  host=proxy:443\n"
                "DATA s=1 tunnel bytes\n",
                ACK);
  h_str_free(&in);
}

/* RFC 8441: only when enabled, and then it is advertised. */
static void test_extended_connect(void **state) {
  (void)state;
  zttp_config *c;
  assert_int_equal(zttp_config_new(&c, NULL), 0);
  assert_int_equal(
      zttp_config_set_option(c, ZTTP_OPT_ENABLE_CONNECT_PROTOCOL, 1), 0);
  assert_int_equal(
      zttp_config_set_option(c, ZTTP_OPT_ENABLE_CONNECT_PROTOCOL, 2),
      ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_option(c, 99, 1), ZTTP_ERR_INVALID_ARGUMENT);
  h_str in = {0};
  f_headers(&in, 1, 0,
            NV(":method", "CONNECT", ":protocol", "websocket", ":scheme",
               "https", ":path", "/chat", ":authority", "a.example",
               "sec-websocket-version", "13"));
  expect_server(c, &in, NULL,
                "REQUEST s=1 f=up CONNECT /chat path=/chat host=a.example "
                "scheme=https protocol=websocket v=20\n"
                "  host=a.example\n"
                "  sec-websocket-version=13\n",
                ACK);
  zttp_conn *s;
  assert_int_equal(zttp_conn_new(&s, c, ZTTP_SERVER, ZTTP_HTTP2), 0);
  char *t = server_out(s);
  assert_non_null(strstr(t, " 8=1 "));
  free(t);
  zttp_conn_free(s);
  /* Without the option: a malformed request. */
  expect_server(NULL, &in, NULL, "", ACK "RST_STREAM s=1 f=0x0 len=4 code=1\n");
  h_str_free(&in);
  zttp_config_free(c);
}

/* RFC 9218 §7.1: PRIORITY_UPDATE changes an open stream's priority and is
 * reported; the priority field of a request applies at once. */
static void test_priority_update(void **state) {
  (void)state;
  h_str in = {0};
  f_headers(&in, 1, 0,
            NV(":method", "GET", ":scheme", "http", ":path", "/", ":authority",
               "a", "priority", "u=1"));
  uint8_t p[4 + 6];
  f_u32(p, 1);
  memcpy(p + 4, "u=6, i", 6);
  f_frame(&in, 0x10, 0, 0, p, sizeof(p));
  f_u32(p, 9);
  f_frame(&in, 0x10, 0, 0, p, sizeof(p));
  f_u32(p, 2);
  f_frame(&in, 0x10, 0, 0, p, sizeof(p));
  expect_server(NULL, &in, NULL,
                "REQUEST s=1 f=- GET / path=/ host=a scheme=http v=20\n"
                "  host=a\n  priority=u=1\n"
                "PRIORITY s=1 u=6 i=1\n"
                "ERROR PROTOCOL\n",
                ACK "GOAWAY last=1 code=1 debug=PRIORITY_UPDATE for stream "
                    "2\n");
  h_str_free(&in);
}

/* RFC 9113 §8.2 / RFC 9110 §15.5.20: a request larger than the limits gets
 * 431; the connection goes on. */
static void test_too_many_headers_431(void **state) {
  (void)state;
  zttp_config *c = cfg_with(ZTTP_LIMIT_MAX_HEADERS, 5);
  h_str in = {0};
  f_headers(&in, 1, 0x1,
            NV(":method", "GET", ":scheme", "http", ":path", "/", ":authority",
               "a", "a", "1", "b", "2"));
  f_headers(&in, 3, 0x1, GET_NV("/ok"));
  expect_server(c, &in, NULL,
                "REQUEST s=3 f=es GET /ok path=/ok host=example.com "
                "scheme=http v=20\n  host=example.com\nEND s=3\n",
                ACK "HEADERS s=1 f=0x5 len=5\n");
  h_str_free(&in);
  zttp_config_free(c);
}

static void test_config_checks(void **state) {
  (void)state;
  zttp_config *c = cfg_with(ZTTP_LIMIT_H2_MAX_FRAME_SIZE, 65536);
  assert_int_equal(zttp_config_set_limit(c, ZTTP_LIMIT_INPUT_BUFFER, 65536), 0);
  zttp_conn *s = NULL;
  /* A whole frame must fit the input buffer. */
  assert_int_equal(zttp_conn_new(&s, c, ZTTP_SERVER, ZTTP_HTTP2),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_null(s);
  assert_int_equal(zttp_config_set_limit(c, ZTTP_LIMIT_INPUT_BUFFER, 65545), 0);
  assert_int_equal(zttp_conn_new(&s, c, ZTTP_SERVER, ZTTP_HTTP2), 0);
  char *t = server_out(s);
  assert_non_null(strstr(t, " 5=65536 "));
  free(t);
  zttp_conn_free(s);
  zttp_config_free(c);
  /* HTTP/1.1 calls that HTTP/2 does not have, and the reverse. */
  assert_int_equal(zttp_conn_new(&s, NULL, ZTTP_SERVER, ZTTP_HTTP1), 0);
  assert_int_equal(zttp_conn_ping(s, (const uint8_t *)"12345678"),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_conn_set_priority(s, 0, 3, 0), ZTTP_ERR_INVALID_STATE);
  zttp_conn_free(s);
}

/* EOF: clean between frames, an error inside one. */
static void test_eof(void **state) {
  (void)state;
  h_str in = {0};
  f_headers(&in, 1, 0x1, GET_NV("/"));
  h_str all = {0};
  f_preface(&all);
  h_str_add(&all, in.p, in.len);
  h_script sc = {.role = ZTTP_SERVER, .protocol = ZTTP_HTTP2, .eof = 1};
  h_every_split(&sc, all.p, all.len,
                "SETTINGS\n"
                "REQUEST s=1 f=es GET / path=/ host=example.com scheme=http "
                "v=20\n  host=example.com\nEND s=1\n"
                "CLOSED error=UNEXPECTED_EOF wire=0\n");
  h_str_free(&all);
  f_preface(&all);
  h_str_add(&all, in.p, in.len - 1);
  h_every_split(&sc, all.p, all.len, "SETTINGS\nERROR UNEXPECTED_EOF\n");
  h_str_free(&all);
  h_str_free(&in);
}

/* The client side, every split: a response with a body and trailers. */
static void client_setup(zttp_conn *c, void *arg) {
  (void)arg;
  zttp_header h[] = {h_hdr("host", "a")};
  assert_int_equal(zttp_conn_send_request(c, "GET", 3, "/", 1, h, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   1);
}

static void test_client_every_split(void **state) {
  (void)state;
  h_str in = {0};
  f_frame(&in, 0x4, 0, 0, "\0\x03\0\0\0\x0a", 6);
  f_headers(&in, 1, 0,
            NV(":status", "200", "content-length", "11", "vary", "x"));
  f_data(&in, 1, 0, "hello ");
  f_frame(&in, 0x0, 0x8, 1, "\x03world\0\0\0", 9);
  f_headers(&in, 1, 0x1, NV("x-t", "1"));
  f_ping(&in, 0, "abcdefgh");
  h_script sc = {.role = ZTTP_CLIENT,
                 .protocol = ZTTP_HTTP2,
                 .setup = client_setup,
                 .describe_output = frames_text};
  h_every_split(&sc, in.p, in.len,
                "SETTINGS 3=10\n"
                "RESPONSE s=1 f=- 200 v=20 reason=\n"
                "  content-length=11\n  vary=x\n"
                "DATA s=1 hello world\n"
                "END s=1\n  trailer x-t=1\n"
                "PING f=- abcdefgh\n"
                "OUTPUT\n"
                "MAGIC\n"
                "SETTINGS s=0 f=0x0 len=30 2=0 3=100 4=262144 6=65536 9=1\n"
                "WINDOW_UPDATE s=0 f=0x0 len=4 inc=983041\n"
                "HEADERS s=1 f=0x5 len=6\n"
                "SETTINGS s=0 f=0x1 len=0\n"
                "PING s=0 f=0x1 len=8\n");
  h_str_free(&in);
}

static char *server_out(zttp_conn *c) {
  size_t len;
  char *raw = h_take_output(c, &len);
  char *t = frames_text((const uint8_t *)raw, len);
  free(raw);
  return t;
}

static void test_server_get(void **state) {
  (void)state;
  zttp_conn *s;
  assert_int_equal(zttp_conn_new(&s, NULL, ZTTP_SERVER, ZTTP_HTTP2), 0);
  char *t = server_out(s);
  assert_string_equal(t, "SETTINGS s=0 f=0x0 len=30 2=0 3=100 4=262144 6=65536 "
                         "9=1\nWINDOW_UPDATE s=0 f=0x0 len=4 inc=983041\n");
  free(t);
  h_str in = {0};
  f_preface(&in);
  f_headers(&in, 1, 0x1, GET_NV("/a?b=1"));
  h_rec r;
  h_rec_init(&r);
  assert_int_equal(h_feed(s, &r, (const uint8_t *)in.p, in.len, answer, NULL),
                   0);
  assert_string_equal(h_rec_text(&r), "SETTINGS\n"
                                      "REQUEST s=1 f=es GET /a?b=1 path=/a "
                                      "query=b=1 host=example.com scheme=http "
                                      "v=20\n"
                                      "  host=example.com\n"
                                      "END s=1\n");
  t = server_out(s);
  assert_string_equal(t, "SETTINGS s=0 f=0x1 len=0\n"
                         "HEADERS s=1 f=0x4 len=10\n"
                         "DATA s=1 f=0x1 len=5 hello\n");
  free(t);
  assert_int_equal(zttp_conn_should_close(s), 0);
  h_rec_free(&r);
  h_str_free(&in);
  zttp_conn_free(s);
}

static void test_pump_get(void **state) {
  (void)state;
  pump p;
  pump_init(&p, NULL, NULL);
  p.server_cb = answer;
  zttp_header h[] = {h_hdr("Host", "example.com"), h_hdr("Accept", "*/*")};
  int64_t id = zttp_conn_send_request(p.client, "GET", 3, "/x", 2, h, 2,
                                      ZTTP_SEND_FLAG_END_STREAM);
  assert_int_equal(id, 1);
  pump_run(&p);
  assert_string_equal(h_rec_text(&p.srec),
                      "SETTINGS 2=0 3=100 4=262144 6=65536 9=1\n"
                      "REQUEST s=1 f=es GET /x path=/x host=example.com "
                      "scheme=http v=20\n"
                      "  host=example.com\n"
                      "  accept=*/*\n"
                      "END s=1\n");
  assert_string_equal(h_rec_text(&p.crec),
                      "SETTINGS 2=0 3=100 4=262144 6=65536 9=1\n"
                      "RESPONSE s=1 f=- 200 v=20 reason=\n"
                      "  content-type=text/plain\n"
                      "DATA s=1 hello\n"
                      "END s=1\n");
  pump_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_get),
      cmocka_unit_test(test_pump_get),
      cmocka_unit_test(test_bad_preface),
      cmocka_unit_test(test_first_frame_not_settings),
      cmocka_unit_test(test_frame_too_large),
      cmocka_unit_test(test_headers_on_stream_0),
      cmocka_unit_test(test_even_stream_from_client),
      cmocka_unit_test(test_reused_stream_id_ignored),
      cmocka_unit_test(test_malformed_requests),
      cmocka_unit_test(test_content_length_mismatch),
      cmocka_unit_test(test_data_errors),
      cmocka_unit_test(test_padding),
      cmocka_unit_test(test_continuation),
      cmocka_unit_test(test_settings_errors),
      cmocka_unit_test(test_ping),
      cmocka_unit_test(test_window_update_errors),
      cmocka_unit_test(test_rst_stream),
      cmocka_unit_test(test_push_promise_refused),
      cmocka_unit_test(test_unknown_frames_ignored),
      cmocka_unit_test(test_max_concurrent_streams),
      cmocka_unit_test(test_trailers_and_1xx),
      cmocka_unit_test(test_head_bodyless),
      cmocka_unit_test(test_send_validation),
      cmocka_unit_test(test_graceful_shutdown),
      cmocka_unit_test(test_client_goaway_refuses),
      cmocka_unit_test(test_client_rejects_push_and_server_streams),
      cmocka_unit_test(test_connect),
      cmocka_unit_test(test_extended_connect),
      cmocka_unit_test(test_priority_update),
      cmocka_unit_test(test_too_many_headers_431),
      cmocka_unit_test(test_config_checks),
      cmocka_unit_test(test_eof),
      cmocka_unit_test(test_client_every_split),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
