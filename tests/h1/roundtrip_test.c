/* HTTP/1.1 round trips through the public API: client serializer -> server
 * parser -> server serializer -> client parser, with the exact bytes on the
 * wire and the exact events on both sides.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "zttp/zttp.h"

#define H(n, v)                                                                \
  { n, sizeof(n) - 1, v, sizeof(v) - 1, 0, 0 }
#define S(s) (const uint8_t *)(s), sizeof(s) - 1

typedef struct pair {
  zttp_conn *client;
  zttp_conn *server;
} pair;

static void pair_new(pair *p, const zttp_config *cfg) {
  assert_int_equal(zttp_conn_new(&p->client, cfg, ZTTP_CLIENT, ZTTP_HTTP1), 0);
  assert_int_equal(zttp_conn_new(&p->server, cfg, ZTTP_SERVER, ZTTP_HTTP1), 0);
}

static void pair_free(pair *p) {
  zttp_conn_free(p->client);
  zttp_conn_free(p->server);
}

/* Moves all pending output of |from| to |to|, asserting the exact bytes. */
static void wire(zttp_conn *from, zttp_conn *to, const char *expect) {
  const uint8_t *p = NULL;
  size_t n = zttp_conn_pending(from, &p);
  assert_int_equal(n, strlen(expect));
  assert_memory_equal(p, expect, n);
  assert_int_equal(zttp_conn_receive_data(to, p, n), (int64_t)n);
  assert_int_equal(zttp_conn_consume(from, n), 0);
  assert_int_equal(zttp_conn_pending(from, &p), 0);
}

static void feed(zttp_conn *c, const char *s) {
  size_t n = strlen(s);
  assert_int_equal(zttp_conn_receive_data(c, (const uint8_t *)s, n),
                   (int64_t)n);
}

static void next(zttp_conn *c, zttp_event *ev, uint32_t kind, uint32_t flags) {
  int32_t rv = zttp_conn_next_event(c, ev);
  if (rv < 0) {
    const char *m = NULL;
    zttp_conn_last_error(c, &m, NULL, NULL);
    fail_msg("next_event failed: %d %s", rv, m);
  }
  assert_int_equal(rv, kind == ZTTP_EVENT_NEED_DATA ? 0 : 1);
  assert_int_equal(ev->kind, kind);
  assert_int_equal(ev->flags, flags);
  assert_int_equal(ev->stream_id, 0);
}

static void str_eq(zttp_str s, const char *want) {
  if (want == NULL) {
    assert_null(s.base);
    assert_int_equal(s.len, 0);
    return;
  }
  assert_int_equal(s.len, strlen(want));
  assert_memory_equal(s.base, want, s.len);
}

static void field_eq(const zttp_header *h, const char *name,
                     const char *value) {
  assert_int_equal(h->name_len, strlen(name));
  assert_memory_equal(h->name, name, h->name_len);
  assert_int_equal(h->value_len, strlen(value));
  assert_memory_equal(h->value, value, h->value_len);
}

static void data_eq(const zttp_event *ev, const char *want) {
  assert_int_equal(ev->u.data.len, strlen(want));
  assert_memory_equal(ev->u.data.data, want, ev->u.data.len);
}

/* POST with a chunked body and trailers, answered with a chunked body and
 * trailers. */
static void test_chunked_both_ways(void **state) {
  (void)state;
  pair p;
  zttp_event ev;
  pair_new(&p, NULL);
  const zttp_header req[] = {H("Host", "example.com"), H("X-Case", "KeEp")};
  assert_int_equal(
      zttp_conn_send_request(p.client, "POST", 4, "/up?x=1&y", 9, req, 2, 0),
      0);
  assert_int_equal(zttp_conn_send_data(p.client, 0, S("hello"), 0), 5);
  assert_int_equal(zttp_conn_send_data(p.client, 0, S(" world!"), 0), 7);
  const zttp_header tr[] = {H("Digest", "sha-256=abc")};
  assert_int_equal(zttp_conn_end_message(p.client, 0, tr, 1), 0);
  wire(p.client, p.server,
       "POST /up?x=1&y HTTP/1.1\r\nHost: example.com\r\nX-Case: KeEp\r\n"
       "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n world!\r\n"
       "0\r\nDigest: sha-256=abc\r\n\r\n");

  next(p.server, &ev, ZTTP_EVENT_REQUEST, 0);
  str_eq(ev.u.request.method, "POST");
  str_eq(ev.u.request.target, "/up?x=1&y");
  str_eq(ev.u.request.path, "/up");
  str_eq(ev.u.request.query, "x=1&y");
  str_eq(ev.u.request.authority, "example.com");
  str_eq(ev.u.request.scheme, NULL);
  str_eq(ev.u.request.protocol, NULL);
  assert_int_equal(ev.u.request.http_version, 11);
  assert_int_equal(ev.u.request.num_headers, 3);
  field_eq(&ev.u.request.headers[0], "Host", "example.com");
  field_eq(&ev.u.request.headers[1], "X-Case", "KeEp");
  field_eq(&ev.u.request.headers[2], "Transfer-Encoding", "chunked");
  next(p.server, &ev, ZTTP_EVENT_DATA, 0);
  data_eq(&ev, "hello");
  next(p.server, &ev, ZTTP_EVENT_DATA, 0);
  data_eq(&ev, " world!");
  next(p.server, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  assert_int_equal(ev.u.end.num_trailers, 1);
  field_eq(&ev.u.end.trailers[0], "Digest", "sha-256=abc");
  next(p.server, &ev, ZTTP_EVENT_NEED_DATA, 0);

  const zttp_header resp[] = {H("Content-Type", "text/plain")};
  assert_int_equal(
      zttp_conn_send_response(p.server, 0, 201, NULL, 0, resp, 1, 0), 0);
  assert_int_equal(zttp_conn_send_data(p.server, 0, S("ok"), 0), 2);
  const zttp_header tr2[] = {H("X-Status", "done")};
  assert_int_equal(zttp_conn_end_message(p.server, 0, tr2, 1), 0);
  wire(p.server, p.client,
       "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n"
       "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Status: done\r\n"
       "\r\n");
  next(p.client, &ev, ZTTP_EVENT_RESPONSE, 0);
  assert_int_equal(ev.u.response.status, 201);
  str_eq(ev.u.response.reason, "Created");
  assert_int_equal(ev.u.response.http_version, 11);
  assert_int_equal(ev.u.response.num_headers, 2);
  field_eq(&ev.u.response.headers[0], "Content-Type", "text/plain");
  next(p.client, &ev, ZTTP_EVENT_DATA, 0);
  data_eq(&ev, "ok");
  next(p.client, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  assert_int_equal(ev.u.end.num_trailers, 1);
  field_eq(&ev.u.end.trailers[0], "X-Status", "done");
  next(p.client, &ev, ZTTP_EVENT_NEED_DATA, 0);
  assert_int_equal(zttp_conn_should_close(p.client), 0);
  assert_int_equal(zttp_conn_should_close(p.server), 0);
  pair_free(&p);
}

/* Content-Length bodies, END_STREAM on the head, and pipelining. */
static void test_pipelined_content_length(void **state) {
  (void)state;
  pair p;
  zttp_event ev;
  pair_new(&p, NULL);
  const zttp_header get[] = {H("Host", "h")};
  const zttp_header put[] = {H("Host", "h"), H("Content-Length", "3")};
  assert_int_equal(zttp_conn_send_request(p.client, "GET", 3, "/a", 2, get, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  assert_int_equal(
      zttp_conn_send_request(p.client, "PUT", 3, "/b", 2, put, 2, 0), 0);
  assert_int_equal(zttp_conn_send_window(p.client, 0) >= 3, 1);
  assert_int_equal(
      zttp_conn_send_data(p.client, 0, S("abc"), ZTTP_SEND_FLAG_END_STREAM), 3);
  assert_int_equal(zttp_conn_send_request(p.client, "POST", 4, "/c", 2, get, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  wire(p.client, p.server,
       "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
       "PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
       "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  next(p.server, &ev, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  str_eq(ev.u.request.target, "/a");
  str_eq(ev.u.request.query, NULL);
  next(p.server, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  next(p.server, &ev, ZTTP_EVENT_REQUEST, 0);
  str_eq(ev.u.request.method, "PUT");
  next(p.server, &ev, ZTTP_EVENT_DATA, 0);
  data_eq(&ev, "abc");
  next(p.server, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  next(p.server, &ev, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  str_eq(ev.u.request.method, "POST");
  next(p.server, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  next(p.server, &ev, ZTTP_EVENT_NEED_DATA, 0);

  const zttp_header cl[] = {H("Content-Length", "2")};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(
        zttp_conn_send_response(p.server, 0, 200, "Fine", 4, cl, 1, 0), 0);
    assert_int_equal(zttp_conn_send_data(p.server, 0, S("r0"), 0), 2);
    assert_int_equal(zttp_conn_end_message(p.server, 0, NULL, 0), 0);
  }
  assert_int_equal(
      zttp_conn_send_response(p.server, 0, 200, NULL, 0, NULL, 0, 0),
      ZTTP_ERR_INVALID_STATE);
  wire(p.server, p.client,
       "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\n\r\nr0"
       "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\n\r\nr0"
       "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\n\r\nr0");
  for (int i = 0; i < 3; i++) {
    next(p.client, &ev, ZTTP_EVENT_RESPONSE, 0);
    str_eq(ev.u.response.reason, "Fine");
    next(p.client, &ev, ZTTP_EVENT_DATA, 0);
    data_eq(&ev, "r0");
    next(p.client, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  }
  next(p.client, &ev, ZTTP_EVENT_NEED_DATA, 0);
  /* A fourth response nobody asked for. */
  feed(p.client, "HTTP/1.1 200 OK\r\n\r\n");
  assert_int_equal(zttp_conn_next_event(p.client, &ev),
                   ZTTP_ERR_UNEXPECTED_DATA);
  assert_int_equal(zttp_conn_next_event(p.client, &ev),
                   ZTTP_ERR_UNEXPECTED_DATA);
  pair_free(&p);
}

/* HEAD, 204 and 304 carry no body; the client knows from the request. */
static void test_bodyless_responses(void **state) {
  (void)state;
  pair p;
  zttp_event ev;
  pair_new(&p, NULL);
  const zttp_header host[] = {H("Host", "h")};
  assert_int_equal(zttp_conn_send_request(p.client, "HEAD", 4, "/", 1, host, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  assert_int_equal(zttp_conn_send_request(p.client, "GET", 3, "/", 1, host, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  assert_int_equal(zttp_conn_send_request(p.client, "GET", 3, "/", 1, host, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  wire(p.client, p.server,
       "HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"
       "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  for (int i = 0; i < 3; i++) {
    next(p.server, &ev, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
    next(p.server, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  }
  const zttp_header cl[] = {H("Content-Length", "10")};
  /* HEAD: the Content-Length describes the GET; no body may follow. */
  assert_int_equal(zttp_conn_send_response(p.server, 0, 200, NULL, 0, cl, 1, 0),
                   0);
  assert_int_equal(zttp_conn_send_data(p.server, 0, S("x"), 0),
                   ZTTP_ERR_FRAMING);
  assert_int_equal(zttp_conn_end_message(p.server, 0, NULL, 0), 0);
  /* 204: no framing field may be sent at all. */
  assert_int_equal(zttp_conn_send_response(p.server, 0, 204, NULL, 0, cl, 1, 0),
                   ZTTP_ERR_INVALID_FIELD);
  assert_int_equal(zttp_conn_send_response(p.server, 0, 204, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  assert_int_equal(zttp_conn_send_response(p.server, 0, 304, NULL, 0, cl, 1,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  wire(p.server, p.client,
       "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
       "HTTP/1.1 204 No Content\r\n\r\n"
       "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
  next(p.client, &ev, ZTTP_EVENT_RESPONSE, ZTTP_EVENT_FLAG_END_STREAM);
  assert_int_equal(ev.u.response.status, 200);
  next(p.client, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  next(p.client, &ev, ZTTP_EVENT_RESPONSE, ZTTP_EVENT_FLAG_END_STREAM);
  assert_int_equal(ev.u.response.status, 204);
  next(p.client, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  next(p.client, &ev, ZTTP_EVENT_RESPONSE, ZTTP_EVENT_FLAG_END_STREAM);
  assert_int_equal(ev.u.response.status, 304);
  next(p.client, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  next(p.client, &ev, ZTTP_EVENT_NEED_DATA, 0);
  pair_free(&p);
}

/* HTTP/1.0: no keep-alive unless asked; a close-delimited body. */
static void test_http10_persistence(void **state) {
  (void)state;
  zttp_conn *s;
  zttp_event ev;
  const uint8_t *out;
  assert_int_equal(zttp_conn_new(&s, NULL, ZTTP_SERVER, ZTTP_HTTP1), 0);
  feed(s, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  next(s, &ev, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  assert_int_equal(ev.u.request.http_version, 10);
  str_eq(ev.u.request.authority, NULL);
  next(s, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  const zttp_header cl[] = {H("Content-Length", "1")};
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, cl, 1, 0), 0);
  assert_int_equal(zttp_conn_send_data(s, 0, S("a"), ZTTP_SEND_FLAG_END_STREAM),
                   1);
  const char *keep =
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\na";
  assert_int_equal(zttp_conn_pending(s, &out), strlen(keep));
  assert_memory_equal(out, keep, strlen(keep));
  zttp_conn_consume(s, strlen(keep));
  assert_int_equal(zttp_conn_should_close(s), 0);

  /* Without keep-alive, and without a length: close-delimited. */
  feed(s, "GET /b HTTP/1.0\r\n\r\n");
  next(s, &ev, ZTTP_EVENT_REQUEST,
       ZTTP_EVENT_FLAG_END_STREAM | ZTTP_EVENT_FLAG_CLOSE);
  next(s, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  const zttp_header te[] = {H("Transfer-Encoding", "chunked")};
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, te, 1, 0),
                   ZTTP_ERR_INVALID_FIELD);
  assert_int_equal(zttp_conn_send_informational(s, 0, 100, NULL, 0),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, NULL, 0, 0), 0);
  assert_int_equal(zttp_conn_send_data(s, 0, S("body"), 0), 4);
  assert_int_equal(zttp_conn_should_close(s), 0);
  assert_int_equal(zttp_conn_end_message(s, 0, NULL, 0), 0);
  const char *close = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody";
  assert_int_equal(zttp_conn_pending(s, &out), strlen(close));
  assert_memory_equal(out, close, strlen(close));
  assert_int_equal(zttp_conn_should_close(s), 1);
  zttp_conn_free(s);

  /* The client side of a close-delimited body. */
  zttp_conn *c;
  assert_int_equal(zttp_conn_new(&c, NULL, ZTTP_CLIENT, ZTTP_HTTP1), 0);
  const zttp_header host[] = {H("Host", "h")};
  assert_int_equal(zttp_conn_send_request(c, "GET", 3, "/", 1, host, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  feed(c, "HTTP/1.0 200 OK\r\n\r\nall of it");
  next(c, &ev, ZTTP_EVENT_RESPONSE, ZTTP_EVENT_FLAG_CLOSE);
  assert_int_equal(ev.u.response.http_version, 10);
  next(c, &ev, ZTTP_EVENT_DATA, 0);
  data_eq(&ev, "all of it");
  next(c, &ev, ZTTP_EVENT_NEED_DATA, 0);
  assert_int_equal(zttp_conn_receive_data(c, NULL, 0), 0);
  next(c, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  next(c, &ev, ZTTP_EVENT_CONNECTION_CLOSED, 0);
  assert_int_equal(ev.u.closed.error, 0);
  next(c, &ev, ZTTP_EVENT_NEED_DATA, 0);
  assert_int_equal(zttp_conn_should_close(c), 1);
  zttp_conn_free(c);
}

/* Expect: 100-continue, then the body. */
static void test_expect_continue(void **state) {
  (void)state;
  pair p;
  zttp_event ev;
  pair_new(&p, NULL);
  const zttp_header req[] = {H("Host", "h"), H("Content-Length", "4"),
                             H("Expect", "100-continue")};
  assert_int_equal(
      zttp_conn_send_request(p.client, "PUT", 3, "/f", 2, req, 3, 0), 0);
  wire(p.client, p.server,
       "PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
       "Expect: 100-continue\r\n\r\n");
  next(p.server, &ev, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_EXPECT_CONTINUE);
  next(p.server, &ev, ZTTP_EVENT_NEED_DATA, 0);
  assert_int_equal(zttp_conn_send_informational(p.server, 0, 100, NULL, 0), 0);
  wire(p.server, p.client, "HTTP/1.1 100 Continue\r\n\r\n");
  next(p.client, &ev, ZTTP_EVENT_RESPONSE, 0);
  assert_int_equal(ev.u.response.status, 100);
  next(p.client, &ev, ZTTP_EVENT_NEED_DATA, 0);
  assert_int_equal(
      zttp_conn_send_data(p.client, 0, S("data"), ZTTP_SEND_FLAG_END_STREAM),
      4);
  wire(p.client, p.server, "data");
  next(p.server, &ev, ZTTP_EVENT_DATA, 0);
  data_eq(&ev, "data");
  next(p.server, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  assert_int_equal(zttp_conn_send_response(p.server, 0, 204, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  wire(p.server, p.client, "HTTP/1.1 204 No Content\r\n\r\n");
  next(p.client, &ev, ZTTP_EVENT_RESPONSE, ZTTP_EVENT_FLAG_END_STREAM);
  next(p.client, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  pair_free(&p);
}

/* Upgrade: h2c with the client's next bytes already buffered. */
static void test_upgrade_h2c(void **state) {
  (void)state;
  pair p;
  zttp_event ev;
  pair_new(&p, NULL);
  const zttp_header req[] = {
      H("Host", "h"), H("Connection", "Upgrade, HTTP2-Settings"),
      H("Upgrade", "h2c"), H("HTTP2-Settings", "AAMAAABkAAQAAP__")};
  assert_int_equal(zttp_conn_send_request(p.client, "GET", 3, "/", 1, req, 4,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  const uint8_t *out;
  size_t n = zttp_conn_pending(p.client, &out);
  assert_int_equal(zttp_conn_receive_data(p.server, out, n), (int64_t)n);
  zttp_conn_consume(p.client, n);
  feed(p.server, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  next(p.server, &ev, ZTTP_EVENT_REQUEST,
       ZTTP_EVENT_FLAG_END_STREAM | ZTTP_EVENT_FLAG_UPGRADE);
  next(p.server, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  /* Nothing after the request is parsed before the answer. */
  next(p.server, &ev, ZTTP_EVENT_NEED_DATA, 0);
  const zttp_header up[] = {H("Connection", "Upgrade"), H("Upgrade", "h2c")};
  assert_int_equal(zttp_conn_send_informational(p.server, 0, 101, up, 0),
                   ZTTP_ERR_INVALID_FIELD);
  assert_int_equal(zttp_conn_send_informational(p.server, 0, 101, up, 2), 0);
  next(p.server, &ev, ZTTP_EVENT_UPGRADE, 0);
  data_eq(&ev, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  next(p.server, &ev, ZTTP_EVENT_NEED_DATA, 0);
  assert_int_equal(zttp_conn_receive_data(p.server, S("x")),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_conn_send_response(p.server, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   ZTTP_ERR_CLOSED);
  assert_int_equal(zttp_conn_should_close(p.server), 0);
  n = zttp_conn_pending(p.server, &out);
  assert_int_equal(zttp_conn_receive_data(p.client, out, n), (int64_t)n);
  feed(p.client, "\x00\x00\x00\x04");
  next(p.client, &ev, ZTTP_EVENT_RESPONSE, 0);
  assert_int_equal(ev.u.response.status, 101);
  next(p.client, &ev, ZTTP_EVENT_UPGRADE, 0);
  assert_int_equal(ev.u.data.len, 0);
  pair_free(&p);
}

/* An Upgrade the server declines: parsing goes on as HTTP/1.1. */
static void test_upgrade_declined(void **state) {
  (void)state;
  zttp_conn *s;
  zttp_event ev;
  assert_int_equal(zttp_conn_new(&s, NULL, ZTTP_SERVER, ZTTP_HTTP1), 0);
  feed(s, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
          "Connection: upgrade\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
  next(s, &ev, ZTTP_EVENT_REQUEST,
       ZTTP_EVENT_FLAG_END_STREAM | ZTTP_EVENT_FLAG_UPGRADE);
  next(s, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  next(s, &ev, ZTTP_EVENT_NEED_DATA, 0);
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  next(s, &ev, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  str_eq(ev.u.request.target, "/2");
  next(s, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  zttp_conn_free(s);
}

/* CONNECT: a 2xx turns the connection into a tunnel on both sides. */
static void test_connect_tunnel(void **state) {
  (void)state;
  pair p;
  zttp_event ev;
  pair_new(&p, NULL);
  const zttp_header req[] = {H("Host", "example.com:443")};
  assert_int_equal(zttp_conn_send_request(p.client, "CONNECT", 7,
                                          "example.com:443", 15, req, 1,
                                          ZTTP_SEND_FLAG_END_STREAM),
                   0);
  wire(p.client, p.server,
       "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  feed(p.server, "\x16\x03\x01");
  next(p.server, &ev, ZTTP_EVENT_REQUEST,
       ZTTP_EVENT_FLAG_END_STREAM | ZTTP_EVENT_FLAG_UPGRADE);
  str_eq(ev.u.request.method, "CONNECT");
  next(p.server, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  next(p.server, &ev, ZTTP_EVENT_NEED_DATA, 0);
  assert_int_equal(
      zttp_conn_send_response(p.server, 0, 200, NULL, 0, NULL, 0, 0), 0);
  next(p.server, &ev, ZTTP_EVENT_UPGRADE, 0);
  data_eq(&ev, "\x16\x03\x01");
  wire(p.server, p.client, "HTTP/1.1 200 OK\r\n\r\n");
  feed(p.client, "\x16\x03\x03");
  next(p.client, &ev, ZTTP_EVENT_RESPONSE, 0);
  next(p.client, &ev, ZTTP_EVENT_UPGRADE, 0);
  data_eq(&ev, "\x16\x03\x03");
  pair_free(&p);
}

/* Output is bounded: send_data takes what fits, send_window says so. */
static void test_output_backpressure(void **state) {
  (void)state;
  zttp_config *cfg;
  zttp_event ev;
  assert_int_equal(zttp_config_new(&cfg, NULL), 0);
  assert_int_equal(zttp_config_set_limit(cfg, ZTTP_LIMIT_OUTPUT_BUFFER, 256),
                   0);
  zttp_conn *s;
  assert_int_equal(zttp_conn_new(&s, cfg, ZTTP_SERVER, ZTTP_HTTP1), 0);
  zttp_config_free(cfg);
  feed(s, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  next(s, &ev, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  const zttp_header cl[] = {H("Content-Length", "1000")};
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, cl, 1, 0), 0);
  const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  size_t head_len = strlen(head);
  uint8_t body[1000];
  memset(body, 'z', sizeof(body));
  int64_t window = zttp_conn_send_window(s, 0);
  assert_int_equal(window, 256 - (int64_t)head_len);
  assert_int_equal(zttp_conn_send_data(s, 0, body, sizeof(body), 0), window);
  assert_int_equal(zttp_conn_send_window(s, 0), 0);
  assert_int_equal(zttp_conn_send_data(s, 0, body, 10, 0), 0);
  size_t sent = (size_t)window;
  const uint8_t *out;
  while (sent < sizeof(body)) {
    size_t n = zttp_conn_pending(s, &out);
    assert_int_equal(zttp_conn_consume(s, n), 0);
    int64_t took = zttp_conn_send_data(s, 0, body + sent, sizeof(body) - sent,
                                       ZTTP_SEND_FLAG_END_STREAM);
    assert_true(took > 0);
    sent += (size_t)took;
  }
  assert_int_equal(zttp_conn_send_window(s, 0), 0);
  assert_int_equal(zttp_conn_send_data(s, 0, body, 1, 0),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_conn_consume(s, 100000), ZTTP_ERR_INVALID_ARGUMENT);
  zttp_conn_free(s);
}

/* Graceful close: the response in progress carries Connection: close and
 * nothing more is read. */
static void test_graceful_close(void **state) {
  (void)state;
  zttp_conn *s;
  zttp_event ev;
  const uint8_t *out;
  assert_int_equal(zttp_conn_new(&s, NULL, ZTTP_SERVER, ZTTP_HTTP1), 0);
  feed(s,
       "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
  next(s, &ev, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  next(s, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  assert_int_equal(zttp_conn_close(s, 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
  next(s, &ev, ZTTP_EVENT_NEED_DATA, 0);
  assert_int_equal(zttp_conn_should_close(s), 0);
  assert_int_equal(zttp_conn_send_response(s, 0, 503, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  const char *want = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n";
  assert_int_equal(zttp_conn_pending(s, &out), strlen(want));
  assert_memory_equal(out, want, strlen(want));
  assert_int_equal(zttp_conn_should_close(s), 1);
  next(s, &ev, ZTTP_EVENT_NEED_DATA, 0);
  zttp_conn_free(s);

  /* An abortive close drops what was pending. */
  assert_int_equal(zttp_conn_new(&s, NULL, ZTTP_SERVER, ZTTP_HTTP1), 0);
  feed(s, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  next(s, &ev, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, NULL, 0, 0), 0);
  assert_int_equal(zttp_conn_reset_stream(s, 0, 0), 0);
  assert_int_equal(zttp_conn_pending(s, &out), 0);
  assert_int_equal(zttp_conn_should_close(s), 1);
  assert_int_equal(zttp_conn_reset_stream(s, 1, 0), ZTTP_ERR_STREAM_NOT_FOUND);
  zttp_conn_free(s);
}

/* EOF between messages and inside one. */
static void test_eof(void **state) {
  (void)state;
  zttp_conn *s;
  zttp_event ev;
  assert_int_equal(zttp_conn_new(&s, NULL, ZTTP_SERVER, ZTTP_HTTP1), 0);
  feed(s, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  assert_int_equal(zttp_conn_receive_data(s, NULL, 0), 0);
  next(s, &ev, ZTTP_EVENT_REQUEST, ZTTP_EVENT_FLAG_END_STREAM);
  next(s, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  next(s, &ev, ZTTP_EVENT_CONNECTION_CLOSED, 0);
  next(s, &ev, ZTTP_EVENT_NEED_DATA, 0);
  assert_int_equal(zttp_conn_receive_data(s, S("x")), ZTTP_ERR_INVALID_STATE);
  /* The request may still be answered. */
  assert_int_equal(zttp_conn_should_close(s), 0);
  assert_int_equal(zttp_conn_send_response(s, 0, 200, NULL, 0, NULL, 0,
                                           ZTTP_SEND_FLAG_END_STREAM),
                   0);
  assert_int_equal(zttp_conn_should_close(s), 1);
  zttp_conn_free(s);

  assert_int_equal(zttp_conn_new(&s, NULL, ZTTP_SERVER, ZTTP_HTTP1), 0);
  feed(s, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab");
  assert_int_equal(zttp_conn_receive_data(s, NULL, 0), 0);
  next(s, &ev, ZTTP_EVENT_REQUEST, 0);
  next(s, &ev, ZTTP_EVENT_DATA, 0);
  data_eq(&ev, "ab");
  assert_int_equal(zttp_conn_next_event(s, &ev), ZTTP_ERR_UNEXPECTED_EOF);
  const char *msg = NULL;
  assert_int_equal(zttp_conn_last_error(s, &msg, NULL, NULL),
                   ZTTP_ERR_UNEXPECTED_EOF);
  assert_true(strlen(msg) > 0);
  assert_int_equal(zttp_conn_should_close(s), 1);
  zttp_conn_free(s);
}

/* No allocation per message once buffers have grown (DESIGN.md §6). */
static size_t num_allocs;
static void *count_malloc(size_t n, void *u) {
  (void)u;
  num_allocs++;
  return malloc(n);
}
static void *count_realloc(void *p, size_t n, void *u) {
  (void)u;
  num_allocs++;
  return realloc(p, n);
}
static void count_free(void *p, void *u) {
  (void)u;
  free(p);
}

static void exchange(pair *p) {
  zttp_event ev;
  const zttp_header req[] = {H("Host", "h"), H("Accept", "*/*")};
  assert_int_equal(
      zttp_conn_send_request(p->client, "POST", 4, "/x", 2, req, 2, 0), 0);
  assert_int_equal(zttp_conn_send_data(p->client, 0, S("body"), 0), 4);
  assert_int_equal(zttp_conn_end_message(p->client, 0, NULL, 0), 0);
  const uint8_t *out;
  size_t n = zttp_conn_pending(p->client, &out);
  assert_int_equal(zttp_conn_receive_data(p->server, out, n), (int64_t)n);
  zttp_conn_consume(p->client, n);
  next(p->server, &ev, ZTTP_EVENT_REQUEST, 0);
  next(p->server, &ev, ZTTP_EVENT_DATA, 0);
  next(p->server, &ev, ZTTP_EVENT_END_MESSAGE, 0);
  const zttp_header cl[] = {H("Content-Length", "2")};
  assert_int_equal(
      zttp_conn_send_response(p->server, 0, 200, NULL, 0, cl, 1, 0), 0);
  assert_int_equal(
      zttp_conn_send_data(p->server, 0, S("ok"), ZTTP_SEND_FLAG_END_STREAM), 2);
  n = zttp_conn_pending(p->server, &out);
  assert_int_equal(zttp_conn_receive_data(p->client, out, n), (int64_t)n);
  zttp_conn_consume(p->server, n);
  next(p->client, &ev, ZTTP_EVENT_RESPONSE, 0);
  next(p->client, &ev, ZTTP_EVENT_DATA, 0);
  next(p->client, &ev, ZTTP_EVENT_END_MESSAGE, 0);
}

static void test_steady_state_allocation_free(void **state) {
  (void)state;
  zttp_allocator a = {count_malloc, count_realloc, count_free, NULL};
  zttp_config *cfg;
  assert_int_equal(zttp_config_new(&cfg, &a), 0);
  pair p;
  pair_new(&p, cfg);
  exchange(&p);
  size_t warm = num_allocs;
  for (int i = 0; i < 1000; i++) {
    exchange(&p);
  }
  assert_int_equal(num_allocs, warm);
  pair_free(&p);
  zttp_config_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chunked_both_ways),
      cmocka_unit_test(test_pipelined_content_length),
      cmocka_unit_test(test_bodyless_responses),
      cmocka_unit_test(test_http10_persistence),
      cmocka_unit_test(test_expect_continue),
      cmocka_unit_test(test_upgrade_h2c),
      cmocka_unit_test(test_upgrade_declined),
      cmocka_unit_test(test_connect_tunnel),
      cmocka_unit_test(test_output_backpressure),
      cmocka_unit_test(test_graceful_close),
      cmocka_unit_test(test_eof),
      cmocka_unit_test(test_steady_state_allocation_free),
  };
  return cmocka_run_group_tests_name("h1-roundtrip", tests, NULL, NULL);
}
