/* Every-split over a table of valid HTTP/1.1 messages (STYLE.md): each is
 * fed whole, byte by byte, in two pieces cut at every position and in three
 * pieces at a sample of positions, every piece flush against a guard page,
 * and must give the exact expected transcript every time.
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

/* ---- client setups: the requests the response input answers
 * -------------------- */

static void send_methods(zttp_conn *conn, const char *const *methods) {
  for (size_t i = 0; methods[i] != NULL; i++) {
    if (strcmp(methods[i], "CONNECT") == 0) {
      h_send_req(conn, "CONNECT", "a:443", "a:443");
    } else {
      h_send_req(conn, methods[i], "/", "a");
    }
  }
}

static void setup_get(zttp_conn *conn, void *arg) {
  (void)arg;
  static const char *const m[] = {"GET", NULL};
  send_methods(conn, m);
}

static void setup_get2(zttp_conn *conn, void *arg) {
  (void)arg;
  static const char *const m[] = {"GET", "GET", NULL};
  send_methods(conn, m);
}

static void setup_get3(zttp_conn *conn, void *arg) {
  (void)arg;
  static const char *const m[] = {"GET", "GET", "GET", NULL};
  send_methods(conn, m);
}

static void setup_head_get_head(zttp_conn *conn, void *arg) {
  (void)arg;
  static const char *const m[] = {"HEAD", "GET", "HEAD", NULL};
  send_methods(conn, m);
}

static void setup_connect(zttp_conn *conn, void *arg) {
  (void)arg;
  static const char *const m[] = {"CONNECT", NULL};
  send_methods(conn, m);
}

static void setup_upgrade(zttp_conn *conn, void *arg) {
  (void)arg;
  zttp_header h[3] = {h_hdr("Host", "a"), h_hdr("Upgrade", "websocket"),
                      h_hdr("Connection", "Upgrade")};
  assert_int_equal(zttp_conn_send_request(conn, "GET", 3, "/chat", 5, h, 3,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  char *out = h_take_output(conn, NULL);
  assert_string_equal(out, "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket"
                           "\r\nConnection: Upgrade\r\n\r\n");
  free(out);
}

/* ---- server answers
 * ------------------------------------------------------------- */

typedef struct answer_state {
  uint32_t flags;
  int connect;
} answer_state;

static answer_state g_answer;

/* Accepts an Upgrade with 101 and a CONNECT with 200 when the request ends. */
static void accept_upgrades(zttp_conn *conn, const zttp_event *ev, void *arg) {
  (void)arg;
  if (ev->kind == ZTTP_EVENT_REQUEST) {
    g_answer.flags = ev->flags;
    g_answer.connect = ev->u.request.method.len == 7 &&
                       memcmp(ev->u.request.method.base, "CONNECT", 7) == 0;
    return;
  }
  if (ev->kind != ZTTP_EVENT_END_MESSAGE ||
      !(g_answer.flags & ZTTP_EVENT_FLAG_UPGRADE)) {
    return;
  }
  if (g_answer.connect) {
    assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0, 0),
                     0);
  } else {
    zttp_header h[2] = {h_hdr("Upgrade", "websocket"),
                        h_hdr("Connection", "Upgrade")};
    assert_int_equal(zttp_conn_send_informational(conn, 0, 101, h, 2), 0);
  }
}

/* Answers every request with 200 and no body when it ends. */
static void answer_all(zttp_conn *conn, const zttp_event *ev, void *arg) {
  (void)arg;
  if (ev->kind == ZTTP_EVENT_END_MESSAGE) {
    assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0,
                                             ZTTP_SEND_FLAG_END_STREAM),
                     0);
    free(h_take_output(conn, NULL));
  }
}

/* ---- the table
 * ------------------------------------------------------------------- */

typedef struct split_case {
  const char *name;
  uint32_t role;
  void (*setup)(zttp_conn *conn, void *arg);
  h_event_fn on_event;
  int eof;
  uint32_t resp_flags_ignore;
  const char *input;
  size_t input_len;
  const char *expected;
} split_case;

#define IN(lit) (lit), sizeof(lit) - 1

static const split_case cases[] = {
    {"get_no_body", S, NULL, NULL, 1, 0,
     IN("\r\nGET /index.html?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n"
        "User-Agent: t/1\r\nAccept:  */*  \r\n\r\n"),
     "REQUEST s=0 f=es GET /index.html?x=1&y=2 path=/index.html query=x=1&y=2 "
     "host=example.com v=11\n"
     "  Host=example.com\n  User-Agent=t/1\n  Accept=*/*\nEND s=0\n"
     "CLOSED error=0 wire=0\n"},

    {"post_content_length", S, NULL, NULL, 0, 0,
     IN("POST /submit HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
        "Content-Length: 11\r\n\r\nhello world"),
     "REQUEST s=0 f=- POST /submit path=/submit host=a v=11\n  Host=a\n"
     "  Content-Type=text/plain\n  Content-Length=11\n"
     "DATA s=0 hello world\nEND s=0\n"},

    {"post_content_length_zero", S, NULL, NULL, 1, 0,
     IN("POST /z HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
     "REQUEST s=0 f=es POST /z path=/z host=a v=11\n  Host=a\n"
     "  Content-Length=0\nEND s=0\nCLOSED error=0 wire=0\n"},

    {"post_binary_body", S, NULL, NULL, 0, 0,
     IN("POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n"
        "\x00\r\n\xff\x01\x7f"),
     "REQUEST s=0 f=- POST /b path=/b host=a v=11\n  Host=a\n"
     "  Content-Length=6\nDATA s=0 \\x00\\r\\n\\xff\\x01\\x7f\nEND s=0\n"},

    {"chunked_extensions_trailers", S, NULL, NULL, 0, 0,
     IN("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=val\r\nhello\r\n6;q=\"a b\";x\r\n world\r\nA\r\n0123456789\r\n"
        "0;last\r\nX-Sum: abc\r\nX-T2:  v  \r\n\r\n"),
     "REQUEST s=0 f=- POST /up path=/up host=a v=11\n  Host=a\n"
     "  Transfer-Encoding=chunked\nDATA s=0 hello world0123456789\nEND s=0\n"
     "  trailer X-Sum=abc\n  trailer X-T2=v\n"},

    {"chunked_empty_body", S, NULL, NULL, 0, 0,
     IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\n"),
     "REQUEST s=0 f=- POST / path=/ host=a v=11\n  Host=a\n"
     "  Transfer-Encoding=chunked\nEND s=0\n"},

    {"pipelined_requests", S, NULL, NULL, 0, 0,
     IN("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\r\n"
        "PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        "1\r\nx\r\n0\r\n\r\n"
        "GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
     "REQUEST s=0 f=es GET /1 path=/1 host=a v=11\n  Host=a\nEND s=0\n"
     "REQUEST s=0 f=- POST /2 path=/2 host=a v=11\n  Host=a\n"
     "  Content-Length=3\nDATA s=0 abc\nEND s=0\n"
     "REQUEST s=0 f=- PUT /3 path=/3 host=a v=11\n  Host=a\n"
     "  Transfer-Encoding=chunked\nDATA s=0 x\nEND s=0\n"
     "REQUEST s=0 f=es,close GET /4 path=/4 host=a v=11\n  Host=a\n"
     "  Connection=close\nEND s=0\n"},

    {"pipelined_answered", S, NULL, answer_all, 1, 0,
     IN("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"),
     "REQUEST s=0 f=es GET /1 path=/1 host=a v=11\n  Host=a\nEND s=0\n"
     "REQUEST s=0 f=es GET /2 path=/2 host=a v=11\n  Host=a\nEND s=0\n"
     "CLOSED error=0 wire=0\n"},

    {"http10_keep_alive", S, NULL, NULL, 0, 0,
     IN("GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
        "GET /b HTTP/1.0\r\nUser-Agent: x\r\n\r\n"),
     "REQUEST s=0 f=es GET /a path=/a v=10\n  Connection=Keep-Alive\n"
     "END s=0\n"
     "REQUEST s=0 f=es,close GET /b path=/b v=10\n  User-Agent=x\nEND s=0\n"},

    {"http10_post_body", S, NULL, NULL, 0, 0,
     IN("POST /f HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd"),
     "REQUEST s=0 f=close POST /f path=/f v=10\n  Content-Length=4\n"
     "DATA s=0 abcd\nEND s=0\n"},

    {"expect_continue", S, NULL, NULL, 0, 0,
     IN("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
        "Content-Length: 2\r\n\r\nok"),
     "REQUEST s=0 f=ec PUT /x path=/x host=a v=11\n  Host=a\n"
     "  Expect=100-continue\n  Content-Length=2\nDATA s=0 ok\nEND s=0\n"},

    {"upgrade_server", S, NULL, accept_upgrades, 0, 0,
     IN("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n\x81\x05hello\x00\xff"),
     "REQUEST s=0 f=es,up GET /chat path=/chat host=a v=11\n  Host=a\n"
     "  Upgrade=websocket\n  Connection=Upgrade\nEND s=0\n"
     "UPGRADE s=0 \\x81\\x05hello\\x00\\xff\n"},

    {"upgrade_server_no_trailing_bytes", S, NULL, accept_upgrades, 0, 0,
     IN("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n"
        "Connection: Upgrade\r\n\r\n"),
     "REQUEST s=0 f=es,up GET /chat path=/chat host=a v=11\n  Host=a\n"
     "  Upgrade=h2c\n  Connection=Upgrade\nEND s=0\nUPGRADE s=0 \n"},

    {"upgrade_declined", S, NULL, answer_all, 0, 0,
     IN("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\nGET /n HTTP/1.1\r\nHost: a\r\n\r\n"),
     "REQUEST s=0 f=es,up GET /chat path=/chat host=a v=11\n  Host=a\n"
     "  Upgrade=websocket\n  Connection=Upgrade\nEND s=0\n"
     "REQUEST s=0 f=es GET /n path=/n host=a v=11\n  Host=a\nEND s=0\n"},

    {"connect_server", S, NULL, accept_upgrades, 0, 0,
     IN("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        "\x16\x03\x01\x00\x05hello"),
     "REQUEST s=0 f=es,up CONNECT example.com:443 path=example.com:443 "
     "host=example.com:443 v=11\n  Host=example.com:443\nEND s=0\n"
     "UPGRADE s=0 \\x16\\x03\\x01\\x00\\x05hello\n"},

    /* Client role: responses to the requests the setup sends. */

    {"response_content_length", C, setup_get, NULL, 0, 0,
     IN("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
        "\r\nhello"),
     "RESPONSE s=0 f=- 200 v=11 reason=OK\n  Content-Type=text/plain\n"
     "  Content-Length=5\nDATA s=0 hello\nEND s=0\n"},

    {"response_1xx_then_200", C, setup_get, NULL, 0, 0,
     IN("HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
     "RESPONSE s=0 f=- 100 v=11 reason=Continue\n"
     "RESPONSE s=0 f=- 103 v=11 reason=Early Hints\n"
     "  Link=</s.css>; rel=preload\n"
     "RESPONSE s=0 f=- 200 v=11 reason=OK\n  Content-Length=2\n"
     "DATA s=0 hi\nEND s=0\n"},

    {"response_head", C, setup_head_get_head, NULL, 0, 0,
     IN("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n"
        "\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
     "RESPONSE s=0 f=es 200 v=11 reason=OK\n  Content-Length=1234\n"
     "  Content-Type=text/html\nEND s=0\n"
     "RESPONSE s=0 f=- 200 v=11 reason=OK\n  Content-Length=3\n"
     "DATA s=0 abc\nEND s=0\n"
     "RESPONSE s=0 f=es 200 v=11 reason=OK\n  Transfer-Encoding=chunked\n"
     "END s=0\n"},

    {"response_204", C, setup_get2, NULL, 0, 0,
     IN("HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"),
     "RESPONSE s=0 f=es 204 v=11 reason=No Content\n  Server=x\nEND s=0\n"
     "RESPONSE s=0 f=- 200 v=11 reason=OK\n  Content-Length=1\n"
     "DATA s=0 z\nEND s=0\n"},

    {"response_304", C, setup_get2, NULL, 0, 0,
     IN("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 5\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
     "RESPONSE s=0 f=es 304 v=11 reason=Not Modified\n  ETag=\"x\"\n"
     "  Content-Length=5\nEND s=0\n"
     "RESPONSE s=0 f=es 200 v=11 reason=OK\n  Content-Length=0\nEND s=0\n"},

    {"response_read_until_close", C, setup_get, NULL, 1, 0,
     IN("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
        "some body\r\nbytes"),
     "RESPONSE s=0 f=close 200 v=11 reason=OK\n  Content-Type=text/plain\n"
     "DATA s=0 some body\\r\\nbytes\nEND s=0\nCLOSED error=0 wire=0\n"},

    {"response_http10", C, setup_get, NULL, 0, 0,
     IN("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
     "RESPONSE s=0 f=close 200 v=10 reason=OK\n  Content-Length=3\n"
     "DATA s=0 abc\nEND s=0\n"},

    {"response_connection_close", C, setup_get, NULL, 1, 0,
     IN("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"),
     "RESPONSE s=0 f=close 200 v=11 reason=OK\n  Connection=close\n"
     "  Content-Length=2\nDATA s=0 ok\nEND s=0\nCLOSED error=0 wire=0\n"},

    {"response_chunked_trailers", C, setup_get, NULL, 0, 0,
     IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n"
        "\r\n4;a=1\r\nwiki\r\n5\r\npedia\r\n0\r\nX-Sum: 9\r\n\r\n"),
     "RESPONSE s=0 f=- 200 v=11 reason=OK\n  Transfer-Encoding=chunked\n"
     "  Trailer=X-Sum\nDATA s=0 wikipedia\nEND s=0\n  trailer X-Sum=9\n"},

    {"responses_pipelined", C, setup_get3, NULL, 0, 0,
     IN("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n"
        "\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nc"),
     "RESPONSE s=0 f=- 200 v=11 reason=OK\n  Content-Length=1\n"
     "DATA s=0 a\nEND s=0\n"
     "RESPONSE s=0 f=- 200 v=11 reason=OK\n  Transfer-Encoding=chunked\n"
     "DATA s=0 b\nEND s=0\n"
     "RESPONSE s=0 f=- 404 v=11 reason=Not Found\n  Content-Length=1\n"
     "DATA s=0 c\nEND s=0\n"},

    /* A 101 and a 2xx to CONNECT: RESPONSE with flags 0, then UPGRADE, no
     * END_MESSAGE (notes, "Clarifications"). */
    {"upgrade_client", C, setup_upgrade, NULL, 0, 0,
     IN("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n\x81\x02hi"),
     "RESPONSE s=0 f=- 101 v=11 reason=Switching Protocols\n"
     "  Upgrade=websocket\n  Connection=Upgrade\nUPGRADE s=0 \\x81\\x02hi\n"},

    {"connect_client", C, setup_connect, NULL, 0, 0,
     IN("HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01rest"),
     "RESPONSE s=0 f=- 200 v=11 reason=Connection Established\n"
     "UPGRADE s=0 \\x16\\x03\\x01rest\n"},
};

static void run_case(void **state) {
  const split_case *c = *state;
  h_script s;
  memset(&s, 0, sizeof(s));
  s.role = c->role;
  s.setup = c->setup;
  s.on_event = c->on_event;
  s.eof = c->eof;
  s.resp_flags_ignore = c->resp_flags_ignore;
  h_every_split(&s, c->input, c->input_len, c->expected);
}

/* ---- exact output and state around upgrades and 100-continue
 * ---------------------- */

static zttp_conn *server(void) {
  zttp_conn *conn = NULL;
  assert_int_equal(zttp_conn_new(&conn, NULL, S, ZTTP_HTTP1), 0);
  return conn;
}

static void feed_expect(zttp_conn *conn, h_rec *r, const char *in, size_t len,
                        const char *expected) {
  assert_int_equal(h_feed(conn, r, (const uint8_t *)in, len, NULL, NULL), 0);
  assert_string_equal(h_rec_text(r), expected);
}

static void expect_output(zttp_conn *conn, const char *expected) {
  char *out = h_take_output(conn, NULL);
  assert_string_equal(out, expected);
  free(out);
}

/* Feeds |in| in one call: at least |min_took| bytes must be taken (the
 * engine may stop reading after an Upgrade or CONNECT request). */
static size_t feed_once(zttp_conn *conn, const char *in, size_t len,
                        size_t min_took) {
  int64_t took = zttp_conn_receive_data(conn, (const uint8_t *)in, len);
  assert_true(took >= (int64_t)min_took && took <= (int64_t)len);
  return (size_t)took;
}

#define UPGRADE_REQ                                                            \
  "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"                    \
  "Connection: Upgrade\r\n\r\n"
#define UPGRADE_REQ_T                                                          \
  "REQUEST s=0 f=es,up GET /chat path=/chat host=a v=11\n  Host=a\n"           \
  "  Upgrade=websocket\n  Connection=Upgrade\nEND s=0\n"

static void test_upgrade_exact(void **state) {
  (void)state;
  static const char in[] = UPGRADE_REQ "\x81\x05hello";
  const size_t req_len = sizeof(UPGRADE_REQ) - 1;
  zttp_conn *conn = server();
  h_rec r;
  h_rec_init(&r);
  /* The request and the first tunnel bytes in one read. */
  size_t took = feed_once(conn, in, sizeof(in) - 1, req_len);
  assert_int_equal(h_drain(conn, &r, NULL, NULL), 2);
  assert_string_equal(h_rec_text(&r), UPGRADE_REQ_T);
  /* Nothing more is read until the request is answered. */
  zttp_event ev;
  assert_int_equal(zttp_conn_next_event(conn, &ev), 0);
  assert_int_equal(ev.kind, ZTTP_EVENT_NEED_DATA);
  assert_int_equal(zttp_conn_should_close(conn), 0);
  zttp_header h[2] = {h_hdr("Upgrade", "websocket"),
                      h_hdr("Connection", "Upgrade")};
  assert_int_equal(zttp_conn_send_informational(conn, 0, 101, h, 2), 0);
  expect_output(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket"
                      "\r\nConnection: Upgrade\r\n\r\n");
  assert_int_equal(zttp_conn_next_event(conn, &ev), 1);
  assert_int_equal(ev.kind, ZTTP_EVENT_UPGRADE);
  assert_int_equal(ev.stream_id, 0);
  /* Exactly the bytes taken after the request, untouched. */
  assert_int_equal(ev.u.data.len, took - req_len);
  if (took > req_len) {
    assert_memory_equal(ev.u.data.data, in + req_len, took - req_len);
  }
  assert_int_equal(zttp_conn_next_event(conn, &ev), 0);
  const uint8_t x = 'x';
  assert_int_equal(zttp_conn_receive_data(conn, &x, 1), ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_CLOSED);
  h_rec_free(&r);
  zttp_conn_free(conn);
}

static void test_connect_exact(void **state) {
  (void)state;
  static const char req[] = "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n";
  static const char in[] =
      "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\x16\x03\x01";
  zttp_conn *conn = server();
  h_rec r;
  h_rec_init(&r);
  size_t took = feed_once(conn, in, sizeof(in) - 1, sizeof(req) - 1);
  assert_int_equal(h_drain(conn, &r, NULL, NULL), 2);
  assert_string_equal(
      h_rec_text(&r),
      "REQUEST s=0 f=es,up CONNECT a:443 path=a:443 host=a:443 v=11\n"
      "  Host=a:443\nEND s=0\n");
  zttp_event ev;
  assert_int_equal(zttp_conn_next_event(conn, &ev), 0);
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0, 0),
                   0);
  /* No framing header on a 2xx to CONNECT. */
  expect_output(conn, "HTTP/1.1 200 OK\r\n\r\n");
  assert_int_equal(zttp_conn_next_event(conn, &ev), 1);
  assert_int_equal(ev.kind, ZTTP_EVENT_UPGRADE);
  assert_int_equal(ev.u.data.len, took - (sizeof(req) - 1));
  if (ev.u.data.len != 0) {
    assert_memory_equal(ev.u.data.data, in + sizeof(req) - 1, ev.u.data.len);
  }
  const uint8_t x = 'x';
  assert_int_equal(zttp_conn_receive_data(conn, &x, 1), ZTTP_ERR_INVALID_STATE);
  h_rec_free(&r);
  zttp_conn_free(conn);
}

static void test_upgrade_declined_exact(void **state) {
  (void)state;
  static const char in[] = UPGRADE_REQ "GET /n HTTP/1.1\r\nHost: a\r\n\r\n";
  const size_t req_len = sizeof(UPGRADE_REQ) - 1;
  zttp_conn *conn = server();
  h_rec r;
  h_rec_init(&r);
  size_t took = feed_once(conn, in, sizeof(in) - 1, req_len);
  assert_int_equal(h_drain(conn, &r, NULL, NULL), 2);
  assert_string_equal(h_rec_text(&r), UPGRADE_REQ_T);
  zttp_header cl = h_hdr("Content-Length", "2");
  assert_int_equal(zttp_conn_send_response(conn, 0, 426, NULL, 0, &cl, 1, 0),
                   0);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"no", 2,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   2);
  expect_output(conn, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 2\r\n"
                      "\r\nno");
  /* Parsing goes on. */
  assert_int_equal(h_drain(conn, &r, NULL, NULL) >= 0, 1);
  assert_int_equal(h_feed(conn, &r, (const uint8_t *)in + took,
                          sizeof(in) - 1 - took, NULL, NULL),
                   0);
  assert_int_equal(h_drain(conn, &r, NULL, NULL), 0);
  assert_string_equal(h_rec_text(&r), UPGRADE_REQ_T
                      "REQUEST s=0 f=es GET /n path=/n host=a v=11\n"
                      "  Host=a\nEND s=0\n");
  h_rec_free(&r);
  zttp_conn_free(conn);
}

static void test_expect_continue_exact(void **state) {
  (void)state;
  static const char head[] =
      "PUT /x HTTP/1.1\r\nHost: a\r\n"
      "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  zttp_conn *conn = server();
  h_rec r;
  h_rec_init(&r);
  feed_expect(conn, &r, head, sizeof(head) - 1,
              "REQUEST s=0 f=ec PUT /x path=/x host=a v=11\n  Host=a\n"
              "  Expect=100-continue\n  Content-Length=2\n");
  assert_int_equal(zttp_conn_send_informational(conn, 0, 100, NULL, 0), 0);
  expect_output(conn, "HTTP/1.1 100 Continue\r\n\r\n");
  feed_expect(conn, &r, "ok", 2,
              "REQUEST s=0 f=ec PUT /x path=/x host=a v=11\n  Host=a\n"
              "  Expect=100-continue\n  Content-Length=2\nDATA s=0 ok\n"
              "END s=0\n");
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  expect_output(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  assert_int_equal(zttp_conn_should_close(conn), 0);
  h_rec_free(&r);
  zttp_conn_free(conn);
}

static void test_http10_keep_alive_exact(void **state) {
  (void)state;
  static const char in[] = "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                           "GET /b HTTP/1.0\r\n\r\n";
  zttp_conn *conn = server();
  h_rec r;
  h_rec_init(&r);
  assert_int_equal(
      h_feed(conn, &r, (const uint8_t *)in, sizeof(in) - 1, NULL, NULL), 0);
  assert_int_equal(r.num_ends, 2);
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  expect_output(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                      "Connection: keep-alive\r\n\r\n");
  assert_int_equal(zttp_conn_should_close(conn), 0);
  /* The second has no keep-alive and no length: close-delimited body. */
  assert_int_equal(zttp_conn_send_response(conn, 0, 200, NULL, 0, NULL, 0, 0),
                   0);
  assert_int_equal(zttp_conn_send_data(conn, 0, (const uint8_t *)"body", 4, 0),
                   4);
  assert_int_equal(zttp_conn_end_message(conn, 0, NULL, 0), 0);
  expect_output(conn, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody");
  assert_int_equal(zttp_conn_should_close(conn), 1);
  h_rec_free(&r);
  zttp_conn_free(conn);
}

int main(void) {
  enum { N = sizeof(cases) / sizeof(cases[0]) };
  static const struct CMUnitTest fixed[] = {
      cmocka_unit_test(test_upgrade_exact),
      cmocka_unit_test(test_connect_exact),
      cmocka_unit_test(test_upgrade_declined_exact),
      cmocka_unit_test(test_expect_continue_exact),
      cmocka_unit_test(test_http10_keep_alive_exact),
  };
  enum { F = sizeof(fixed) / sizeof(fixed[0]) };
  struct CMUnitTest tests[N + F];
  for (size_t i = 0; i < N; i++) {
    tests[i].name = cases[i].name;
    tests[i].test_func = run_case;
    tests[i].setup_func = NULL;
    tests[i].teardown_func = NULL;
    tests[i].initial_state = (void *)(uintptr_t)&cases[i];
  }
  for (size_t i = 0; i < F; i++) {
    tests[N + i] = fixed[i];
  }
  return _cmocka_run_group_tests("h1-split", tests, N + F, NULL, NULL);
}
