/* HTTP/1.1 connection rules from the review of the engine: persistence,
 * Expect, CONNECT, Host, Upgrade, graceful close, bounded input. Each test
 * pins one behaviour with exact bytes or events.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "zttp/zttp.h"

#define H(n, v)                                                                \
  { n, sizeof(n) - 1, v, sizeof(v) - 1, 0, 0 }

static zttp_conn *g_conn;

static int teardown(void **state) {
  (void)state;
  zttp_conn_free(g_conn);
  g_conn = NULL;
  return 0;
}

static zttp_conn *make(uint32_t role, uint32_t lenient, uint32_t limit_id,
                       uint64_t limit) {
  zttp_config *cfg;
  assert_int_equal(zttp_config_new(&cfg, NULL), 0);
  assert_int_equal(zttp_config_set_lenient(cfg, lenient), 0);
  if (limit_id != 0) {
    assert_int_equal(zttp_config_set_limit(cfg, limit_id, limit), 0);
  }
  assert_int_equal(zttp_conn_new(&g_conn, cfg, role, ZTTP_HTTP1), 0);
  zttp_config_free(cfg);
  return g_conn;
}

static void feed(zttp_conn *c, const char *s) {
  size_t n = strlen(s);
  assert_int_equal(zttp_conn_receive_data(c, (const uint8_t *)s, n),
                   (int64_t)n);
}

static void next(zttp_conn *c, uint32_t kind, uint32_t flags) {
  zttp_event ev;
  int32_t rv = zttp_conn_next_event(c, &ev);
  assert_int_equal(rv, kind == ZTTP_EVENT_NEED_DATA ? 0 : 1);
  assert_int_equal(ev.kind, kind);
  assert_int_equal(ev.flags, flags);
}

static void fails(zttp_conn *c, int32_t err) {
  zttp_event ev;
  assert_int_equal(zttp_conn_next_event(c, &ev), err);
}

static void output(zttp_conn *c, const char *want) {
  const uint8_t *p;
  size_t n = zttp_conn_pending(c, &p);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(p, want, n);
  assert_int_equal(zttp_conn_consume(c, n), 0);
}

/* RFC 9110 §10.1.1: a final response before 100 (Continue) and before the
 * body means the client may never send it: the connection closes. */
static void test_expect_answered_early_closes(void **state) {
  (void)state;
  zttp_conn *s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n"
          "Expect: 100-continue\r\n\r\n");
  next(s, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_EXPECT_CONTINUE);
  assert_int_equal(zttp_conn_send_response(s, 0, 413, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  output(s, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
  assert_int_equal(zttp_conn_should_close(s), 1);
}

/* After a 100 the body is coming: the connection stays persistent. */
static void test_expect_after_continue_persists(void **state) {
  (void)state;
  zttp_conn *s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
          "Expect: 100-continue\r\n\r\n");
  next(s, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_EXPECT_CONTINUE);
  assert_int_equal(zttp_conn_send_informational(s, 0, 100, NULL, 0), 0);
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  output(s, "HTTP/1.1 100 Continue\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  feed(s, "ok");
  next(s, ZTTP_EVENT_DATA, 0);
  next(s, ZTTP_EVENT_END_MESSAGE, 0);
  assert_int_equal(zttp_conn_should_close(s), 0);
}

/* RFC 9110 §9.2.2: a client learns that a request went unanswered. */
static void test_client_eof_with_requests_outstanding(void **state) {
  (void)state;
  zttp_conn *c = make(ZTTP_CLIENT, 0, 0, 0);
  const zttp_header host[] = {H("Host", "a")};
  assert_int_equal(zttp_conn_send_request(c, "GET", 3, "/", 1, host, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  assert_int_equal(zttp_conn_receive_data(c, NULL, 0), 0);
  zttp_event ev;
  assert_int_equal(zttp_conn_next_event(c, &ev), 1);
  assert_int_equal(ev.kind, ZTTP_EVENT_CONNECTION_CLOSED);
  assert_int_equal(ev.u.closed.error, ZTTP_ERR_UNEXPECTED_EOF);
  assert_int_equal(zttp_conn_should_close(c), 1);
}

/* RFC 9112 §3.2: Host = uri-host [ ":" port ]. */
static void test_invalid_host_rejected(void **state) {
  (void)state;
  zttp_conn *s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "GET / HTTP/1.1\r\nHost: a/b@c\r\n\r\n");
  fails(s, ZTTP_ERR_BAD_HOST);
  teardown(NULL);
  s = make(ZTTP_SERVER, ZTTP_LENIENT_HOST, 0, 0);
  feed(s, "GET / HTTP/1.1\r\nHost: a/b@c\r\n\r\n");
  next(s, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  teardown(NULL);
  s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
  next(s, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
}

/* RFC 9110 §9.3.6: CONNECT has no content, in either direction. */
static void test_connect_without_content(void **state) {
  (void)state;
  zttp_conn *s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 5\r\n\r\n");
  fails(s, ZTTP_ERR_BAD_CONTENT_LENGTH);
  teardown(NULL);
  s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n"
          "Transfer-Encoding: chunked\r\n\r\n");
  fails(s, ZTTP_ERR_BAD_TRANSFER_ENCODING);
  teardown(NULL);

  zttp_conn *c = make(ZTTP_CLIENT, 0, 0, 0);
  const zttp_header cl[] = {H("Host", "a:443"), H("Content-Length", "1")};
  assert_int_equal(
      zttp_conn_send_request(c, "CONNECT", 7, "a:443", 5, cl, 2, 0),
      ZTTP_ERR_INVALID_FIELD);
  /* Without END_STREAM the request still ends at its head. */
  assert_int_equal(
      zttp_conn_send_request(c, "CONNECT", 7, "a:443", 5, cl, 1, 0), 0);
  output(c, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n");
  assert_int_equal(zttp_conn_send_data(c, 0, (const uint8_t *)"x", 1, 0),
                   ZTTP_ERR_INVALID_STATE);
}

/* A 2xx to an HTTP/1.0 CONNECT opens a tunnel; no Connection: close. */
static void test_connect_http10_tunnel_not_closed(void **state) {
  (void)state;
  zttp_conn *s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "CONNECT a:443 HTTP/1.0\r\n\r\n");
  next(s, ZTTP_EVENT_REQUEST,
       ZTTP_EVENT_FLAG_END_STREAM | ZTTP_EVENT_FLAG_UPGRADE |
           ZTTP_EVENT_FLAG_CLOSE);
  next(s, ZTTP_EVENT_END_MESSAGE, 0);
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, NULL, 0, 0), 0);
  output(s, "HTTP/1.1 200 OK\r\n\r\n");
  next(s, ZTTP_EVENT_UPGRADE, 0);
  assert_int_equal(zttp_conn_should_close(s), 0);
}

/* A graceful close answers every request already received; the last
 * response says Connection: close. */
static void test_graceful_close_answers_received_requests(void **state) {
  (void)state;
  zttp_conn *s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
          "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n");
  for (int i = 0; i < 2; i++) {
    next(s, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
    next(s, ZTTP_EVENT_END_MESSAGE, 0);
  }
  assert_int_equal(zttp_conn_close(s, 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
  next(s, ZTTP_EVENT_NEED_DATA, 0);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(zttp_conn_send_response(s, 0, 204, NULL, 0, NULL, 0,
                                             ZTTP_SEND_FLAG_END_STREAM),
                     0);
  }
  output(s, "HTTP/1.1 204 No Content\r\n\r\n"
            "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
  assert_int_equal(zttp_conn_should_close(s), 1);
  assert_int_equal(zttp_conn_send_response(s, 0, 204, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_CLOSED);
}

/* RFC 9112 §9.3: an HTTP/1.0 client that asked for keep-alive keeps the
 * connection only if told so; a caller's Connection field without
 * keep-alive means close. */
static void test_http10_keep_alive_needs_the_token(void **state) {
  (void)state;
  zttp_conn *s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  next(s, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  next(s, ZTTP_EVENT_END_MESSAGE, 0);
  const zttp_header conn[] = {H("Connection", "x-private")};
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, conn, 1,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  output(s, "HTTP/1.1 200 OK\r\nConnection: x-private\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
  assert_int_equal(zttp_conn_should_close(s), 1);
}

/* RFC 9110 §5.5: a receiver strips surrounding whitespace, so a value
 * with it cannot be sent faithfully. */
static void test_value_with_surrounding_whitespace_refused(void **state) {
  (void)state;
  zttp_conn *c = make(ZTTP_CLIENT, 0, 0, 0);
  const zttp_header lead[] = {H("Host", "a"), H("X", " v")};
  const zttp_header trail[] = {H("Host", "a"), H("X", "v\t")};
  assert_int_equal(zttp_conn_send_request(c, "GET", 3, "/", 1, lead, 2,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_INVALID_FIELD);
  assert_int_equal(zttp_conn_send_request(c, "GET", 3, "/", 1, trail, 2,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_INVALID_FIELD);
  const uint8_t *p;
  assert_int_equal(zttp_conn_pending(c, &p), 0);
}

/* RFC 9110 §7.8: Upgrade counts only with the "upgrade" connection
 * option. */
static void test_upgrade_needs_connection_option(void **state) {
  (void)state;
  zttp_conn *s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"
          "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
  next(s, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  next(s, ZTTP_EVENT_END_MESSAGE, 0);
  next(s, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
}

/* RFC 9112 §7: parameters on chunked are an error; so is anything but a
 * list after it. */
static void test_chunked_with_parameters_rejected(void **state) {
  (void)state;
  zttp_conn *s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s,
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n");
  fails(s, ZTTP_ERR_BAD_TRANSFER_ENCODING);
  teardown(NULL);
  s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "POST / HTTP/1.1\r\nHost: a\r\n"
          "Transfer-Encoding: gzip;level=\"9\", chunked\r\n\r\n0\r\n\r\n");
  next(s, ZTTP_EVENT_REQUEST, 0);
  next(s, ZTTP_EVENT_END_MESSAGE, 0);
}

/* An element that can never fit in ZTTP_LIMIT_INPUT_BUFFER fails with that
 * limit instead of stalling (here a chunk-size line whose extension limit
 * exceeds the buffer). */
static void test_input_buffer_limit_instead_of_stall(void **state) {
  (void)state;
  zttp_config *cfg;
  assert_int_equal(zttp_config_new(&cfg, NULL), 0);
  assert_int_equal(zttp_config_set_limit(cfg, ZTTP_LIMIT_INPUT_BUFFER, 256), 0);
  assert_int_equal(zttp_config_set_limit(cfg, ZTTP_LIMIT_MAX_HEADER_BYTES, 256),
                   0);
  assert_int_equal(
      zttp_config_set_limit(cfg, ZTTP_LIMIT_MAX_TRAILER_BYTES, 256), 0);
  assert_int_equal(zttp_conn_new(&g_conn, cfg, ZTTP_SERVER, ZTTP_HTTP1), 0);
  zttp_config_free(cfg);
  feed(g_conn,
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  next(g_conn, ZTTP_EVENT_REQUEST, 0);
  uint8_t ext[300];
  ext[0] = '1';
  ext[1] = ';';
  memset(ext + 2, 'e', sizeof(ext) - 2);
  int64_t took = zttp_conn_receive_data(g_conn, ext, sizeof(ext));
  assert_true(took > 0 && took < (int64_t)sizeof(ext));
  fails(g_conn, ZTTP_ERR_LIMIT_INPUT_BUFFER);
  const char *msg;
  assert_int_equal(zttp_conn_last_error(g_conn, &msg, NULL, NULL),
                   ZTTP_ERR_LIMIT_INPUT_BUFFER);
  assert_non_null(strstr(msg, "ZTTP_LIMIT_INPUT_BUFFER"));
}

/* After a fatal peer error an HTTP/1.1 server may still answer it once,
 * with a bodyless 4xx/5xx that closes the connection. */
static void test_error_response_after_fatal_error(void **state) {
  (void)state;
  zttp_conn *s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "GET / HTTP/1.1\r\nHost: a\r\n\r\nG(T / HTTP/1.1\r\n\r\n");
  next(s, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  next(s, ZTTP_EVENT_END_MESSAGE, 0);
  /* A response under way: the error response would corrupt it. */
  const zttp_header cl[] = {H("Content-Length", "2")};
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, cl, 1, 0), 0);
  fails(s, ZTTP_ERR_BAD_METHOD);
  assert_int_equal(zttp_conn_send_response(s, 0, 400, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_BAD_METHOD);
  assert_int_equal(zttp_conn_send_data(s, 0, (const uint8_t *)"ok", 2,
                                       ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_BAD_METHOD);
  teardown(NULL);

  s = make(ZTTP_SERVER, 0, 0, 0);
  feed(s, "G(T / HTTP/1.1\r\n\r\n");
  fails(s, ZTTP_ERR_BAD_METHOD);
  /* Only 4xx/5xx, only with END_STREAM, no framing fields. */
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_BAD_METHOD);
  assert_int_equal(zttp_conn_send_response(s, 0, 400, NULL, 0, NULL, 0, 0),
                   ZTTP_ERR_BAD_METHOD);
  assert_int_equal(zttp_conn_send_response(s, 0, 400, NULL, 0, cl, 1,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_INVALID_FIELD);
  const zttp_header ct[] = {H("Content-Type", "text/plain")};
  assert_int_equal(zttp_conn_send_response(s, 0, 400, NULL, 0, ct, 1,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  output(s, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n");
  assert_int_equal(zttp_conn_should_close(s), 1);
  /* Once only; the connection stays poisoned. */
  assert_int_equal(zttp_conn_send_response(s, 0, 400, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_BAD_METHOD);
  fails(s, ZTTP_ERR_BAD_METHOD);
  assert_int_equal(zttp_conn_last_error(s, NULL, NULL, NULL),
                   ZTTP_ERR_BAD_METHOD);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_expect_answered_early_closes, teardown),
      cmocka_unit_test_teardown(test_expect_after_continue_persists, teardown),
      cmocka_unit_test_teardown(test_client_eof_with_requests_outstanding,
                                teardown),
      cmocka_unit_test_teardown(test_invalid_host_rejected, teardown),
      cmocka_unit_test_teardown(test_connect_without_content, teardown),
      cmocka_unit_test_teardown(test_connect_http10_tunnel_not_closed,
                                teardown),
      cmocka_unit_test_teardown(test_graceful_close_answers_received_requests,
                                teardown),
      cmocka_unit_test_teardown(test_http10_keep_alive_needs_the_token,
                                teardown),
      cmocka_unit_test_teardown(test_value_with_surrounding_whitespace_refused,
                                teardown),
      cmocka_unit_test_teardown(test_upgrade_needs_connection_option, teardown),
      cmocka_unit_test_teardown(test_chunked_with_parameters_rejected,
                                teardown),
      cmocka_unit_test_teardown(test_input_buffer_limit_instead_of_stall,
                                teardown),
      cmocka_unit_test_teardown(test_error_response_after_fatal_error,
                                teardown),
  };
  return cmocka_run_group_tests_name("h1-conn", tests, NULL, NULL);
}
