/* The HTTP/3 engine (src/h3) through the public API: a client and a server
 * zttp_conn exchange datagrams in memory (tests/h3/pump.c), null TLS unless
 * named otherwise, with exact event transcripts and exact body bytes.
 * SPDX-License-Identifier: MIT */
#include <execinfo.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "h3/frame.h"
#include "h3/h3.h"
#include "pump.h"
#include "qpack/qpack.h"
#include "quic/conn.h"
#include "quic/conn_internal.h"

#define H3_NO_ERROR 0x100u
#define H3_MESSAGE_ERROR 0x10eu
#define H3_REQUEST_REJECTED 0x10bu
#define H3_REQUEST_CANCELLED 0x10cu

static zttp_header hdr(const char *n, const char *v) {
  return h_hdr(n, v);
}

/* ---- scenario state ------------------------------------------------------ */

typedef struct scen {
  int kind;
  int nreq;     /* requests to send */
  int sent;     /* requests sent */
  int inflight; /* max concurrent */
  int done;     /* responses ended */
  uint64_t body;
  int64_t last_stream;
} scen;

static int client_hs(pump *p) {
  return p->hs_done[P_CLIENT] && p->hs_done[P_SERVER];
}

static void start(pump *p, int real_tls, void (*cfg_fn)(zttp_config *, int)) {
  assert_int_equal(p_init(p, real_tls, cfg_fn, NULL), 0);
  p->verbose = 1;
  assert_true(p_run(p, client_hs, 1000));
  p->verbose = 0;
  for (int i = 0; i < 2; i++) {
    h_rec_free(&p->rec[i]);
    h_rec_init(&p->rec[i]);
  }
}

static int64_t get(pump *p, const char *method, const char *path, int end) {
  zttp_header h[2] = {hdr("host", "example.com"), hdr("user-agent", "t")};
  return zttp_conn_send_request(p->conn[P_CLIENT], method, strlen(method), path,
                                strlen(path), h, 2,
                                end ? ZTTP_SEND_FLAG_END_STREAM : 0);
}

static int all_done(pump *p) {
  scen *s = p->arg;
  return s->done >= s->nreq;
}

/* A server that answers every request with 200 and |body| pattern bytes
 * (content-length), and a client that counts the ends. */
static void simple_events(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  zttp_conn *c = p->conn[side];
  if (side == P_SERVER && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    char cl[32];
    snprintf(cl, sizeof(cl), "%llu", (unsigned long long)s->body);
    zttp_header h[1] = {hdr("content-length", cl)};
    int32_t rv =
        zttp_conn_send_response(c, ev->stream_id, 200, NULL, 0, h, 1,
                                s->body == 0 ? ZTTP_SEND_FLAG_END_STREAM : 0);
    assert_int_equal(rv, 0);
    if (s->body > 0) {
      p_body_start(p, P_SERVER, ev->stream_id, s->body, 0);
    }
  }
  if (side == P_CLIENT && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    s->done++;
  }
}

/* ---- tests ----------------------------------------------------------------
 */

static void test_handshake_settings(void **state) {
  (void)state;
  pump p;
  assert_int_equal(p_init(&p, 0, NULL, NULL), 0);
  p.verbose = 1;
  assert_true(p_run(&p, client_hs, 1000));
  assert_string_equal(p_text(&p, P_CLIENT), "EVENT kind=12 s=0 f=-\n"
                                            "SETTINGS 1=4096 6=65536 7=16\n");
  assert_string_equal(p_text(&p, P_SERVER), "EVENT kind=12 s=0 f=-\n"
                                            "SETTINGS 1=4096 6=65536 7=16\n");
  p_free(&p);
}

static void test_get(void **state) {
  (void)state;
  pump p;
  scen s = {.nreq = 1, .body = 5};
  start(&p, 0, NULL);
  p.arg = &s;
  p.on_event = simple_events;
  assert_int_equal(get(&p, "GET", "/index.html?x=1", 1), 0);
  int ok = p_run(&p, all_done, 1000);
  if (!ok) {
    fprintf(stderr, "S:\n%s\nC:\n%s\nerr %d %d\n", p_text(&p, 1), p_text(&p, 0),
            p.err[0], p.err[1]);
  }
  assert_true(ok);
  assert_string_equal(p_text(&p, P_SERVER),
                      "REQUEST s=0 f=es GET /index.html?x=1 path=/index.html "
                      "query=x=1 host=example.com scheme=https v=30\n"
                      "  host=example.com\n"
                      "  user-agent=t\n"
                      "END s=0\n");
  assert_string_equal(p_text(&p, P_CLIENT),
                      "RESPONSE s=0 f=- 200 v=30 reason=\n"
                      "  content-length=5\n"
                      "DATA s=0 \\x00\\x83\\x06\\x89\\x0c\n"
                      "END s=0\n");
  assert_int_equal(p.err[0], 0);
  assert_int_equal(p.err[1], 0);
  p_free(&p);
}

static void test_get_real_tls(void **state) {
  (void)state;
  pump p;
  scen s = {.nreq = 1, .body = 100000};
  start(&p, 1, NULL);
  p.arg = &s;
  p.on_event = simple_events;
  assert_int_equal(get(&p, "GET", "/", 1), 0);
  assert_true(p_run(&p, all_done, 10000));
  assert_int_equal(p.got[P_CLIENT][0], 100000);
  assert_int_equal(p.mismatches, 0);
  assert_int_equal(p.err[0], 0);
  assert_int_equal(p.err[1], 0);
  p_free(&p);
}

/* POST 1 MiB up with trailers, 1 MiB down with trailers. */
static void post_events(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  if (side == P_SERVER && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    assert_int_equal(zttp_conn_send_response(p->conn[side], ev->stream_id, 200,
                                             NULL, 0, NULL, 0, 0),
                     0);
    p_body_start(p, P_SERVER, ev->stream_id, s->body, 1);
  }
  if (side == P_CLIENT && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    s->done++;
  }
}

static void test_post_1mib(void **state) {
  (void)state;
  pump p;
  scen s = {.nreq = 1, .body = 1 << 20};
  start(&p, 0, NULL);
  p.arg = &s;
  p.on_event = post_events;
  int64_t id = get(&p, "POST", "/up", 0);
  assert_int_equal(id, 0);
  p_body_start(&p, P_CLIENT, id, 1 << 20, 1);
  assert_true(p_run(&p, all_done, 100000));
  assert_int_equal(p.got[P_SERVER][0], 1 << 20);
  assert_int_equal(p.got[P_CLIENT][0], 1 << 20);
  assert_int_equal(p.mismatches, 0);
  assert_int_equal(p.err[0], 0);
  assert_int_equal(p.err[1], 0);
  /* Trailers both ways. */
  assert_non_null(
      strstr(p_text(&p, P_SERVER), "END s=0\n  trailer x-sum=1048576\n"));
  assert_non_null(
      strstr(p_text(&p, P_CLIENT), "END s=0\n  trailer x-sum=1048576\n"));
  p_free(&p);
}

/* 100-continue and 103, then the final response. */
static void continue_events(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  zttp_conn *c = p->conn[side];
  if (side == P_SERVER && ev->kind == ZTTP_EVENT_REQUEST) {
    assert_true(ev->flags & ZTTP_EVENT_FLAG_EXPECT_CONTINUE);
    assert_int_equal(
        zttp_conn_send_informational(c, ev->stream_id, 100, NULL, 0), 0);
  }
  if (side == P_CLIENT && ev->kind == ZTTP_EVENT_RESPONSE &&
      ev->u.response.status == 100) {
    assert_int_equal(zttp_conn_send_data(c, ev->stream_id,
                                         (const uint8_t *)"body", 4,
                                         ZTTP_SEND_FLAG_END_STREAM),
                     4);
  }
  if (side == P_SERVER && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    zttp_header link = hdr("link", "</s.css>; rel=preload");
    assert_int_equal(
        zttp_conn_send_informational(c, ev->stream_id, 103, &link, 1), 0);
    assert_int_equal(zttp_conn_send_response(c, ev->stream_id, 204, NULL, 0,
                                             NULL, 0,
                                             ZTTP_SEND_FLAG_END_STREAM),
                     0);
  }
  if (side == P_CLIENT && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    s->done++;
  }
}

static void test_continue_103(void **state) {
  (void)state;
  pump p;
  scen s = {.nreq = 1};
  start(&p, 0, NULL);
  p.arg = &s;
  p.on_event = continue_events;
  zttp_header h[2] = {hdr("host", "h"), hdr("expect", "100-continue")};
  assert_int_equal(
      zttp_conn_send_request(p.conn[P_CLIENT], "PUT", 3, "/x", 2, h, 2, 0), 0);
  assert_true(p_run(&p, all_done, 1000));
  assert_string_equal(
      p_text(&p, P_SERVER),
      "REQUEST s=0 f=ec PUT /x path=/x host=h scheme=https v=30\n"
      "  host=h\n"
      "  expect=100-continue\n"
      "DATA s=0 body\n"
      "END s=0\n");
  assert_string_equal(p_text(&p, P_CLIENT),
                      "RESPONSE s=0 f=- 100 v=30 reason=\n"
                      "RESPONSE s=0 f=- 103 v=30 reason=\n"
                      "  link=</s.css>; rel=preload\n"
                      "RESPONSE s=0 f=es 204 v=30 reason=\n"
                      "END s=0\n");
  p_free(&p);
}

/* HEAD, 204 and 304 are bodyless even with a content-length. */
static void bodyless_events(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  zttp_conn *c = p->conn[side];
  if (side == P_SERVER && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    uint32_t status = ev->stream_id == 0 ? 200 : ev->stream_id == 4 ? 204 : 304;
    zttp_header h = hdr("content-length", "10");
    assert_int_equal(zttp_conn_send_response(c, ev->stream_id, status, NULL, 0,
                                             &h, status == 204 ? 0 : 1, 0),
                     0);
    /* No body may follow. */
    assert_int_equal(
        zttp_conn_send_data(c, ev->stream_id, (const uint8_t *)"x", 1, 0),
        ZTTP_ERR_FRAMING);
    assert_int_equal(zttp_conn_end_message(c, ev->stream_id, NULL, 0), 0);
  }
  if (side == P_CLIENT && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    s->done++;
  }
}

static void test_head_204_304(void **state) {
  (void)state;
  pump p;
  scen s = {.nreq = 3};
  start(&p, 0, NULL);
  p.arg = &s;
  p.on_event = bodyless_events;
  assert_int_equal(get(&p, "HEAD", "/", 1), 0);
  assert_int_equal(get(&p, "GET", "/a", 1), 4);
  assert_int_equal(get(&p, "GET", "/b", 1), 8);
  assert_true(p_run(&p, all_done, 1000));
  /* Each response arrives in one packet with its FIN; the transport
   * sends streams of equal urgency in its own order. */
  assert_string_equal(p_text(&p, P_CLIENT),
                      "RESPONSE s=0 f=es 200 v=30 reason=\n"
                      "  content-length=10\n"
                      "END s=0\n"
                      "RESPONSE s=8 f=es 304 v=30 reason=\n"
                      "  content-length=10\n"
                      "END s=8\n"
                      "RESPONSE s=4 f=es 204 v=30 reason=\n"
                      "END s=4\n");
  p_free(&p);
}

/* 100 concurrent requests, then 1,000 over 100 streams with 5% loss. */
static void many_events(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  simple_events(p, side, ev);
  if (side == P_CLIENT && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    assert_int_equal(p->got[P_CLIENT][ev->stream_id / 4], s->body);
  }
}

static int many_done(pump *p) {
  scen *s = p->arg;
  while (s->sent < s->nreq && s->sent - s->done < s->inflight) {
    int64_t id = get(p, "GET", "/m", 1);
    if (id == ZTTP_ERR_STREAM_LIMIT) {
      break;
    }
    assert_true(id >= 0);
    s->sent++;
  }
  return s->done >= s->nreq;
}

static void test_100_concurrent(void **state) {
  (void)state;
  pump p;
  scen s = {.nreq = 100, .inflight = 100, .body = 3000};
  start(&p, 0, NULL);
  p.arg = &s;
  p.on_event = many_events;
  p.record[0] = p.record[1] = 0;
  for (int i = 0; i < 100; i++) {
    assert_int_equal(get(&p, "GET", "/c", 1), 4 * i);
    s.sent++;
  }
  assert_true(p_run(&p, many_done, 10000));
  assert_int_equal(s.done, 100);
  assert_int_equal(p.mismatches, 0);
  p_free(&p);
}

static void test_loss_1000(void **state) {
  (void)state;
  pump p;
  scen s = {.nreq = 1000, .inflight = 100, .body = 2000};
  start(&p, 0, NULL);
  p.arg = &s;
  p.on_event = many_events;
  p.record[0] = p.record[1] = 0;
  p.loss_ppm = 50000;
  assert_true(p_run(&p, many_done, 2000000));
  assert_int_equal(s.done, 1000);
  assert_int_equal(p.mismatches, 0);
  assert_true(p.dropped > 0);
  assert_int_equal(p.err[0], 0);
  assert_int_equal(p.err[1], 0);
  for (int i = 0; i < 1000; i++) {
    assert_int_equal(p.got[P_CLIENT][i], 2000);
  }
  p_free(&p);
}

/* Resets by either side. */
static void reset_events(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  if (side == P_SERVER && ev->kind == ZTTP_EVENT_REQUEST && s->kind == 0) {
    assert_int_equal(zttp_conn_reset_stream(p->conn[side], ev->stream_id,
                                            H3_REQUEST_REJECTED),
                     0);
  }
  if (ev->kind == ZTTP_EVENT_STREAM_RESET) {
    s->done++;
  }
}

static void test_reset_both_ways(void **state) {
  (void)state;
  for (int k = 0; k < 2; k++) {
    pump p;
    scen s = {.nreq = 1, .kind = k};
    start(&p, 0, NULL);
    p.arg = &s;
    p.on_event = reset_events;
    int64_t id = get(&p, "POST", "/r", 0);
    assert_int_equal(id, 0);
    if (k == 1) {
      p_run(&p, NULL, 50);
      assert_int_equal(
          zttp_conn_reset_stream(p.conn[P_CLIENT], id, H3_REQUEST_CANCELLED),
          0);
    }
    int ok = p_run(&p, all_done, 1000);
    if (!ok) {
      fprintf(stderr, "k=%d S:\n%s\nC:\n%s\nerr %d %d\n", k, p_text(&p, 1),
              p_text(&p, 0), p.err[0], p.err[1]);
    }
    assert_true(ok);
    if (k == 0) {
      assert_string_equal(p_text(&p, P_CLIENT), "RESET s=0 code=267\n");
    } else {
      assert_string_equal(p_text(&p, P_SERVER),
                          "REQUEST s=0 f=- POST /r path=/r host=example.com "
                          "scheme=https v=30\n"
                          "  host=example.com\n"
                          "  user-agent=t\n"
                          "RESET s=0 code=268\n");
    }
    p_free(&p);
  }
}

/* Graceful GOAWAY from either side with a request in flight. */
static void goaway_events(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  zttp_conn *c = p->conn[side];
  if (side == P_SERVER && ev->kind == ZTTP_EVENT_REQUEST) {
    assert_int_equal(
        zttp_conn_close(p->conn[s->kind], 0, ZTTP_CLOSE_FLAG_GRACEFUL), 0);
    assert_int_equal(zttp_conn_send_response(c, ev->stream_id, 200, NULL, 0,
                                             NULL, 0,
                                             ZTTP_SEND_FLAG_END_STREAM),
                     0);
  }
}

static int both_closed(pump *p) {
  return p->closed[0] && p->closed[1];
}

static void test_goaway_both_ways(void **state) {
  (void)state;
  for (int k = 0; k < 2; k++) {
    pump p;
    scen s = {.kind = k == 0 ? P_SERVER : P_CLIENT};
    start(&p, 0, NULL);
    p.arg = &s;
    p.on_event = goaway_events;
    assert_int_equal(get(&p, "GET", "/g", 1), 0);
    assert_true(p_run(&p, both_closed, 100000));
    if (k == 0) {
      assert_string_equal(p_text(&p, P_CLIENT),
                          "GOAWAY last=4 code=256\n"
                          "RESPONSE s=0 f=es 200 v=30 reason=\n"
                          "END s=0\n"
                          "CLOSED error=0 wire=256\n");
      /* No request after a GOAWAY. */
      assert_int_equal(get(&p, "GET", "/late", 1), ZTTP_ERR_CLOSED);
    } else {
      assert_non_null(strstr(p_text(&p, P_SERVER), "GOAWAY last=0 code=256\n"));
      assert_non_null(strstr(p_text(&p, P_CLIENT),
                             "RESPONSE s=0 f=es 200 v=30 reason=\n"
                             "END s=0\n"
                             "CLOSED error=0 wire=256\n"));
    }
    assert_int_equal(p.closed_wire[0], H3_NO_ERROR);
    assert_int_equal(p.closed_wire[1], H3_NO_ERROR);
    p_free(&p);
  }
}

/* ---- peer misbehaviour through the client's QUIC connection --------------
 */

/* Writes raw bytes on the client's QUIC stream |id|. */
static void raw(pump *p, uint64_t id, const void *b, size_t n, int fin) {
  zttp_quic_conn *qc = zttp_h3_quic(p->conn[P_CLIENT]);
  assert_non_null(qc);
  assert_int_equal(zttp_quic_conn_stream_write(qc, id, b, n, fin), (int64_t)n);
}

/* A static-only QPACK section for |fields|, framed as HEADERS. */
static size_t headers_frame(uint8_t *out, const zttp_header *f, size_t n) {
  zttp_qpack_encoder enc;
  assert_int_equal(zttp_qpack_encoder_init(&enc, zttp_mem_default(), NULL), 0);
  uint8_t sec[1024];
  assert_true(zttp_qpack_encode_bound(&enc, f, n) <= sizeof(sec));
  int64_t len = zttp_qpack_encode(&enc, sec, 0, f, n);
  assert_true(len > 0);
  zttp_qpack_encoder_free(&enc);
  size_t hl = zttp_h3_encode_frame_header(out, 16, ZTTP_H3_FRAME_HEADERS,
                                          (uint64_t)len);
  memcpy(out + hl, sec, (size_t)len);
  return hl + (size_t)len;
}

static int server_failed(pump *p) {
  return p->err[P_SERVER] != 0 && p->closed[P_CLIENT];
}

static int client_reset(pump *p) {
  scen *s = p->arg;
  return s->done > 0;
}

static void count_resets(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  (void)side;
  if (ev->kind == ZTTP_EVENT_STREAM_RESET) {
    s->done++;
  }
}

/* Checks the server failed with |err| and CONNECTION_CLOSE |wire|. */
static void expect_conn_error(pump *p, int32_t err, uint64_t wire) {
  assert_true(p_run(p, server_failed, 10000));
  assert_int_equal(p->err[P_SERVER], err);
  uint64_t w = 0;
  assert_int_equal(zttp_conn_last_error(p->conn[P_SERVER], NULL, &w, NULL),
                   err);
  assert_int_equal(w, wire);
  assert_int_equal(p->closed_wire[P_CLIENT], wire);
}

static void test_content_length_mismatch(void **state) {
  (void)state;
  pump p;
  scen s = {0};
  start(&p, 0, NULL);
  p.arg = &s;
  p.on_event = count_resets;
  zttp_header f[5] = {hdr(":method", "POST"), hdr(":scheme", "https"),
                      hdr(":authority", "a"), hdr(":path", "/"),
                      hdr("content-length", "5")};
  uint8_t b[256];
  size_t n = headers_frame(b, f, 5);
  b[n++] = 0x00; /* DATA, 3 bytes: fewer than 5 */
  b[n++] = 3;
  memcpy(b + n, "abc", 3);
  n += 3;
  zttp_quic_conn *qc = zttp_h3_quic(p.conn[P_CLIENT]);
  int64_t id = zttp_quic_conn_open_stream(qc, 1);
  assert_int_equal(id, 0);
  raw(&p, (uint64_t)id, b, n, 1);
  assert_true(p_run(&p, client_reset, 1000));
  /* The server app saw the request, then the reset it sent. */
  assert_string_equal(p_text(&p, P_SERVER),
                      "REQUEST s=0 f=- POST / path=/ host=a scheme=https v=30\n"
                      "  host=a\n"
                      "  content-length=5\n"
                      "DATA s=0 abc\n"
                      "RESET s=0 code=270\n");
  assert_int_equal(p.err[P_SERVER], 0);
  p_free(&p);
}

static uint64_t raw_id;

static int raw_gone(pump *p) {
  const uint8_t *q;
  int fin;
  return zttp_quic_conn_stream_peek(zttp_h3_quic(p->conn[P_CLIENT]), raw_id, &q,
                                    &fin) == ZTTP_ERR_STREAM_NOT_FOUND;
}

enum {
  BAD_SETTINGS_TWICE,
  BAD_DATA_ON_CONTROL,
  BAD_CLOSE_CONTROL,
  BAD_HEADERS_AFTER_TRAILERS,
  BAD_CONNECT_PROTOCOL
};

static void bad_peer(int what) {
  pump p;
  scen s = {0};
  start(&p, 0, NULL);
  p.arg = &s;
  p.on_event = count_resets;
  /* The client's control stream is its first unidirectional one. */
  uint64_t ctrl = 2;
  uint8_t b[512];
  size_t n = 0;
  switch (what) {
  case BAD_SETTINGS_TWICE:
    n = zttp_h3_encode_settings(b, sizeof(b), NULL, 0);
    raw(&p, ctrl, b, n, 0);
    expect_conn_error(&p, ZTTP_ERR_PROTOCOL, ZTTP_H3_FRAME_UNEXPECTED);
    break;
  case BAD_DATA_ON_CONTROL:
    n = zttp_h3_encode_frame(b, sizeof(b), ZTTP_H3_FRAME_DATA,
                             (const uint8_t *)"x", 1);
    raw(&p, ctrl, b, n, 0);
    expect_conn_error(&p, ZTTP_ERR_PROTOCOL, ZTTP_H3_FRAME_UNEXPECTED);
    break;
  case BAD_CLOSE_CONTROL:
    raw(&p, ctrl, b, 0, 1);
    expect_conn_error(&p, ZTTP_ERR_PROTOCOL, ZTTP_H3_CLOSED_CRITICAL_STREAM);
    break;
  case BAD_HEADERS_AFTER_TRAILERS: {
    zttp_header f[4] = {hdr(":method", "POST"), hdr(":scheme", "https"),
                        hdr(":authority", "a"), hdr(":path", "/")};
    zttp_header t[1] = {hdr("x-t", "1")};
    n = headers_frame(b, f, 4);
    n += headers_frame(b + n, t, 1);
    n += headers_frame(b + n, t, 1);
    int64_t id = zttp_quic_conn_open_stream(zttp_h3_quic(p.conn[P_CLIENT]), 1);
    raw(&p, (uint64_t)id, b, n, 0);
    expect_conn_error(&p, ZTTP_ERR_PROTOCOL, ZTTP_H3_FRAME_UNEXPECTED);
    break;
  }
  default: {
    /* :protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 9220 §3). */
    zttp_header f[5] = {hdr(":method", "CONNECT"), hdr(":scheme", "https"),
                        hdr(":authority", "a"), hdr(":path", "/chat"),
                        hdr(":protocol", "websocket")};
    n = headers_frame(b, f, 5);
    int64_t id = zttp_quic_conn_open_stream(zttp_h3_quic(p.conn[P_CLIENT]), 1);
    raw(&p, (uint64_t)id, b, n, 0);
    raw_id = (uint64_t)id;
    /* The server reset it (RESET_STREAM and STOP_SENDING): the stream is
     * gone on the client; neither application heard of it. */
    assert_true(p_run(&p, raw_gone, 1000));
    assert_int_equal(s.done, 0);
    assert_string_equal(p_text(&p, P_SERVER), "");
    assert_string_equal(p_text(&p, P_CLIENT), "");
    break;
  }
  }
  p_free(&p);
}

static void test_settings_twice(void **s) {
  (void)s;
  bad_peer(BAD_SETTINGS_TWICE);
}
static void test_data_on_control(void **s) {
  (void)s;
  bad_peer(BAD_DATA_ON_CONTROL);
}
static void test_critical_stream_closed(void **s) {
  (void)s;
  bad_peer(BAD_CLOSE_CONTROL);
}
static void test_headers_after_trailers(void **s) {
  (void)s;
  bad_peer(BAD_HEADERS_AFTER_TRAILERS);
}
static void test_connect_refused(void **s) {
  (void)s;
  bad_peer(BAD_CONNECT_PROTOCOL);
}

static void connect_cfg(zttp_config *cfg, int side) {
  (void)side;
  assert_int_equal(
      zttp_config_set_option(cfg, ZTTP_OPT_ENABLE_CONNECT_PROTOCOL, 1), 0);
  assert_int_equal(zttp_config_set_option(cfg, ZTTP_OPT_H3_DATAGRAM, 1), 0);
}

static void connect_events(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  zttp_conn *c = p->conn[side];
  if (side == P_SERVER && ev->kind == ZTTP_EVENT_REQUEST) {
    assert_int_equal(
        zttp_conn_send_response(c, ev->stream_id, 200, NULL, 0, NULL, 0, 0), 0);
  }
  if (side == P_CLIENT && ev->kind == ZTTP_EVENT_RESPONSE) {
    assert_int_equal(
        zttp_conn_send_datagram(c, ev->stream_id, (const uint8_t *)"ping", 4),
        0);
    assert_int_equal(zttp_conn_set_priority(c, ev->stream_id, 1, 1), 0);
  }
  if (side == P_SERVER && ev->kind == ZTTP_EVENT_DATAGRAM) {
    assert_int_equal(
        zttp_conn_send_datagram(c, ev->stream_id, (const uint8_t *)"pong", 4),
        0);
  }
  if (side == P_CLIENT && ev->kind == ZTTP_EVENT_DATAGRAM) {
    s->done++;
  }
}

static void test_connect_priority_datagram(void **state) {
  (void)state;
  pump p;
  scen s = {.nreq = 1};
  start(&p, 0, connect_cfg);
  p.arg = &s;
  p.on_event = connect_events;
  zttp_header h[3] = {hdr(":protocol", "websocket"), hdr(":scheme", "https"),
                      hdr("host", "ex")};
  assert_int_equal(zttp_conn_send_request(p.conn[P_CLIENT], "CONNECT", 7,
                                          "/chat", 5, h, 3, 0),
                   0);
  assert_true(p_run(&p, all_done, 1000));
  assert_string_equal(p_text(&p, P_SERVER),
                      "REQUEST s=0 f=up CONNECT /chat path=/chat host=ex "
                      "scheme=https protocol=websocket v=30\n"
                      "  host=ex\n"
                      "PRIORITY s=0 u=1 i=1\n"
                      "DATAGRAM s=0 ping\n");
  assert_string_equal(p_text(&p, P_CLIENT),
                      "RESPONSE s=0 f=- 200 v=30 reason=\n"
                      "DATAGRAM s=0 pong\n");
  p_free(&p);
}

/* The application holds the window shut by not consuming. */
static void window_cfg(zttp_config *cfg, int side) {
  if (side == P_SERVER) {
    assert_int_equal(
        zttp_config_set_limit(cfg, ZTTP_LIMIT_STREAM_WINDOW, 16384), 0);
  }
}

static void test_window_held(void **state) {
  (void)state;
  pump p;
  start(&p, 0, window_cfg);
  p.auto_consume = 0;
  p.record[0] = p.record[1] = 0;
  int64_t id = get(&p, "POST", "/w", 0);
  p_body_start(&p, P_CLIENT, id, 100000, 0);
  p_run(&p, NULL, 2000);
  /* The 16 KiB window holds the HEADERS and DATA frame headers too. */
  uint64_t first = p.got[P_SERVER][0];
  assert_true(first > 16000 && first < 16384);
  assert_int_equal(zttp_conn_data_consumed(p.conn[P_SERVER], 0, first + 1),
                   ZTTP_ERR_INVALID_ARGUMENT);
  p_run(&p, NULL, 2000);
  assert_int_equal(p.got[P_SERVER][0], first); /* still shut */
  assert_int_equal(zttp_conn_data_consumed(p.conn[P_SERVER], 0, first), 0);
  p_run(&p, NULL, 2000);
  uint64_t second = p.got[P_SERVER][0];
  assert_true(second > first + 16000 && second <= first + 16384);
  p.auto_consume = 1;
  assert_int_equal(zttp_conn_data_consumed(p.conn[P_SERVER], 0, second - first),
                   0);
  p_run(&p, NULL, 10000);
  assert_int_equal(p.got[P_SERVER][0], 100000);
  assert_int_equal(p.mismatches, 0);
  p_free(&p);
}

/* Send-side misuse is a local error. */
static void test_send_validation(void **state) {
  (void)state;
  pump p;
  start(&p, 0, NULL);
  zttp_conn *c = p.conn[P_CLIENT];
  zttp_header bad[1] = {hdr("connection", "close")};
  assert_int_equal(zttp_conn_send_request(c, "GET", 3, "/", 1, bad, 1, 1),
                   ZTTP_ERR_INVALID_FIELD);
  zttp_header cr[1] = {hdr("x", "a\rb")};
  assert_int_equal(zttp_conn_send_request(c, "GET", 3, "/", 1, cr, 1, 1),
                   ZTTP_ERR_INVALID_FIELD);
  zttp_header proto[1] = {hdr(":protocol", "websocket")};
  assert_int_equal(zttp_conn_send_request(c, "CONNECT", 7, "/", 1, proto, 1, 0),
                   ZTTP_ERR_INVALID_FIELD);
  assert_int_equal(zttp_conn_send_data(c, 40, (const uint8_t *)"x", 1, 0),
                   ZTTP_ERR_STREAM_NOT_FOUND);
  assert_int_equal(zttp_conn_ping(c, (const uint8_t *)"12345678"),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_conn_receive_data(c, (const uint8_t *)"x", 1),
                   ZTTP_ERR_INVALID_STATE);
  int64_t id = get(&p, "POST", "/", 0);
  assert_int_equal(id, 0);
  zttp_header cl[2] = {hdr("host", "h"), hdr("content-length", "2")};
  int64_t id2 = zttp_conn_send_request(c, "POST", 4, "/", 1, cl, 2, 0);
  assert_int_equal(id2, 4);
  assert_int_equal(zttp_conn_send_data(c, id2, (const uint8_t *)"abc", 3, 0),
                   ZTTP_ERR_FRAMING);
  assert_int_equal(zttp_conn_end_message(c, id2, NULL, 0), ZTTP_ERR_FRAMING);
  assert_int_equal(zttp_conn_last_error(c, NULL, NULL, NULL), ZTTP_ERR_FRAMING);
  p_free(&p);
}

/* A server's first datagram must be a client Initial of >= 1200 bytes. */
static void test_server_first_datagram(void **state) {
  (void)state;
  zttp_config *cfg;
  assert_int_equal(zttp_config_new(&cfg, NULL), 0);
  assert_int_equal(zttp_config_set_tls_backend(cfg, ZTTP_TLS_NULL), 0);
  zttp_conn *s;
  assert_int_equal(zttp_conn_new(&s, cfg, ZTTP_SERVER, ZTTP_HTTP3), 0);
  assert_null(zttp_h3_quic(s));
  uint8_t junk[1300];
  memset(junk, 0x41, sizeof(junk));
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_conn_receive_datagram(s, junk, 100, &path, 1), 0);
  assert_int_equal(zttp_conn_receive_datagram(s, junk, sizeof(junk), &path, 1),
                   0);
  assert_null(zttp_h3_quic(s));
  uint8_t out[1500];
  size_t seg;
  assert_int_equal(
      zttp_conn_write_datagram(s, &path, &seg, out, sizeof(out), 1), 0);
  assert_int_equal(zttp_conn_next_timeout(s), ZTTP_TSTAMP_NEVER);
  zttp_conn_free(s);
  zttp_config_free(cfg);
}

/* ---- failing allocator ---------------------------------------------------
 */

/* simple_events without assertions: a call may fail with NOMEM. */
static void fa_events(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  if (side == P_SERVER && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    zttp_header h[1] = {hdr("content-length", "3000")};
    int32_t rv = zttp_conn_send_response(p->conn[side], ev->stream_id, 200,
                                         NULL, 0, h, 1, 0);
    if (rv == 0) {
      p_body_start(p, P_SERVER, ev->stream_id, s->body, 0);
    } else if (p->err[side] == 0) {
      p->err[side] = rv;
    }
  }
  if (side == P_CLIENT && ev->kind == ZTTP_EVENT_END_MESSAGE) {
    s->done++;
  }
}

static int32_t fa_scenario(h_fa_run *run) {
  pump *p = calloc(1, sizeof(*p));
  scen s = {.nreq = 1, .body = 3000};
  int32_t rv = p_init(p, 0, NULL, &run->fa->alloc);
  run->conns[0] = p->conn[0];
  run->conns[1] = p->conn[1];
  zttp_config_free(p->cfg[0]);
  zttp_config_free(p->cfg[1]);
  p->cfg[0] = p->cfg[1] = NULL;
  if (rv != 0) {
    h_rec_free(&p->rec[0]);
    h_rec_free(&p->rec[1]);
    free(p);
    assert_int_equal(rv, ZTTP_ERR_NOMEM);
    return rv;
  }
  p->arg = &s;
  p->on_event = fa_events;
  p->record[0] = p->record[1] = 0;
  p_run(p, client_hs, 1000);
  int64_t id = p->err[0] == 0 && p->err[1] == 0 ? get(p, "GET", "/", 1) : -1;
  if (id >= 0) {
    p_run(p, all_done, 1000);
  }
  int32_t e0 = p->err[0], e1 = p->err[1];
  int ok = s.done == 1;
  h_rec_free(&p->rec[0]);
  h_rec_free(&p->rec[1]);
  free(p);
  if (ok && e0 == 0 && e1 == 0) {
    return 0;
  }
  /* Every failure is a clean NOMEM on the side that hit it; the other side
   * sees the connection close (or time out). */
  assert_true(run->fa->injected);
  assert_true(e0 == ZTTP_ERR_NOMEM || e1 == ZTTP_ERR_NOMEM ||
              id == ZTTP_ERR_NOMEM || !ok);
  return ZTTP_ERR_NOMEM;
}

/* ---- steady state: no allocation per request ---------------------------
 */

/* Two counting allocators over one h_failalloc: layer 0 is the one the
 * configs (so the engines) get, layer 1 the one the QUIC connections are
 * switched to after the handshake (their own pointer,
 * quic/conn_internal.h), so that what src/quic allocates is told apart
 * from what the HTTP/3 engine (src/h3, its QPACK state) allocates. While
 * |counting|, every malloc and realloc is counted with its size; with
 * ZTTP_ALLOC_TRACE set in the environment each one's backtrace goes to
 * stderr (addr2line names the call sites). */
struct steady_alloc;
typedef struct steady_layer {
  zttp_allocator alloc; /* .user points back at this struct */
  struct steady_alloc *sa;
  long allocs;
  size_t sizes[16];
  long size_counts[16];
  size_t num_sizes;
} steady_layer;

typedef struct steady_alloc {
  h_failalloc fa;
  steady_layer layer[2];
  int counting;
} steady_alloc;

static void steady_note(steady_layer *l, size_t size) {
  if (!l->sa->counting) {
    return;
  }
  l->allocs++;
  if (getenv("ZTTP_ALLOC_TRACE") != NULL) {
    void *bt[16];
    int n = backtrace(bt, 16);
    fprintf(stderr, "alloc %zu\n", size);
    backtrace_symbols_fd(bt, n, 2);
  }
  for (size_t i = 0; i < l->num_sizes; i++) {
    if (l->sizes[i] == size) {
      l->size_counts[i]++;
      return;
    }
  }
  if (l->num_sizes < 16) {
    l->sizes[l->num_sizes] = size;
    l->size_counts[l->num_sizes++] = 1;
  }
}

static void *steady_malloc(size_t size, void *user) {
  steady_layer *l = user;
  steady_note(l, size);
  return l->sa->fa.alloc.malloc(size, l->sa->fa.alloc.user);
}

static void *steady_realloc(void *ptr, size_t size, void *user) {
  steady_layer *l = user;
  steady_note(l, size);
  return l->sa->fa.alloc.realloc(ptr, size, l->sa->fa.alloc.user);
}

static void steady_free(void *ptr, void *user) {
  steady_layer *l = user;
  l->sa->fa.alloc.free(ptr, l->sa->fa.alloc.user);
}

static void steady_report(const steady_layer *l, const char *what) {
  fprintf(stderr, "# %s: %ld allocations in 1000 requests\n", what, l->allocs);
  for (size_t i = 0; i < l->num_sizes; i++) {
    fprintf(stderr, "#   %ld of %zu bytes\n", l->size_counts[i], l->sizes[i]);
  }
}

/* A GET; with s->kind 1 it carries a 3,000-byte field that differs per
 * request (a HEADERS frame of more than one packet, which the server's
 * frame reader may have to buffer). */
static int64_t steady_get(pump *p, scen *s) {
  if (s->kind == 0) {
    return get(p, "GET", "/steady", 1);
  }
  static char pad[3001];
  memset(pad, 'a' + s->sent % 26, 3000);
  snprintf(pad, 16, "%d-", s->sent);
  pad[strlen(pad)] = 'x';
  zttp_header h[3] = {hdr("host", "example.com"), hdr("user-agent", "t"),
                      hdr("x-pad", pad)};
  return zttp_conn_send_request(p->conn[P_CLIENT], "GET", 3, "/steady", 7, h, 3,
                                ZTTP_SEND_FLAG_END_STREAM);
}

/* Sequential requests: the client sends the next one when a response has
 * ended. */
static void steady_events(pump *p, int side, const zttp_event *ev) {
  scen *s = p->arg;
  simple_events(p, side, ev);
  if (side == P_CLIENT && ev->kind == ZTTP_EVENT_END_MESSAGE &&
      s->sent < s->nreq) {
    int64_t id = steady_get(p, s);
    assert_true(id >= 0);
    s->sent++;
    s->last_stream = id;
  }
}

static int steady_run(pump *p, scen *s, int n) {
  s->nreq += n;
  s->last_stream = steady_get(p, s);
  s->sent++;
  assert_true(s->last_stream >= 0);
  return p_run(p, all_done, 100000);
}

/* DESIGN.md §6: after warm-up, 1,000 sequential requests on one connection
 * allocate nothing in the HTTP/3 engine: request streams (and their frame
 * readers' buffers) are reused, the field scratch and the event queue do
 * not grow. */
static void steady_state_allocations(int kind) {
  steady_alloc sa;
  memset(&sa, 0, sizeof(sa));
  h_failalloc_init(&sa.fa, -1);
  for (int i = 0; i < 2; i++) {
    sa.layer[i].alloc.malloc = steady_malloc;
    sa.layer[i].alloc.realloc = steady_realloc;
    sa.layer[i].alloc.free = steady_free;
    sa.layer[i].alloc.user = &sa.layer[i];
    sa.layer[i].sa = &sa;
  }
  pump p;
  scen s = {.kind = kind, .body = 5};
  assert_int_equal(p_init(&p, 0, NULL, &sa.layer[0].alloc), 0);
  assert_true(p_run(&p, client_hs, 1000));
  const zttp_mem *quic_mem[2];
  for (int side = 0; side < 2; side++) {
    zttp_quic_conn *qc = zttp_h3_quic(p.conn[side]);
    assert_non_null(qc);
    quic_mem[side] = qc->mem;
    qc->mem = &sa.layer[1].alloc;
  }
  p.arg = &s;
  p.on_event = steady_events;
  p.record[0] = p.record[1] = 0;
  assert_true(steady_run(&p, &s, 50)); /* warm-up */
  sa.counting = 1;
  assert_true(steady_run(&p, &s, 1000));
  sa.counting = 0;
  assert_int_equal(s.done, 1050);
  assert_int_equal(p.err[0], 0);
  assert_int_equal(p.err[1], 0);
  steady_report(&sa.layer[0], "HTTP/3 engine");
  steady_report(&sa.layer[1], "QUIC");
  /* Nothing in the engine (released streams are reused) and nothing in
   * QUIC (its released streams keep their buffers in a pool). */
  assert_int_equal(sa.layer[0].allocs, 0);
  assert_int_equal(sa.layer[1].allocs, 0);
  for (int side = 0; side < 2; side++) {
    zttp_h3_quic(p.conn[side])->mem = quic_mem[side];
  }
  p_free(&p);
  assert_int_equal(sa.fa.live_allocs, 0);
  assert_int_equal(sa.fa.bad_frees, 0);
}

static void test_steady_state_allocations(void **state) {
  (void)state;
  steady_state_allocations(0);
}

/* The same with a 3,000-byte field per request: the server's frame reader
 * buffers the HEADERS frames that arrive split (before the streams were
 * reused, about one request in ten allocated a reader buffer). */
static void test_steady_state_allocations_large(void **state) {
  (void)state;
  steady_state_allocations(1);
}

static void test_failalloc(void **state) {
  (void)state;
  long n = h_fa_drive(fa_scenario, NULL);
  assert_true(n > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_settings),
      cmocka_unit_test(test_get),
      cmocka_unit_test(test_get_real_tls),
      cmocka_unit_test(test_post_1mib),
      cmocka_unit_test(test_continue_103),
      cmocka_unit_test(test_head_204_304),
      cmocka_unit_test(test_100_concurrent),
      cmocka_unit_test(test_reset_both_ways),
      cmocka_unit_test(test_goaway_both_ways),
      cmocka_unit_test(test_content_length_mismatch),
      cmocka_unit_test(test_settings_twice),
      cmocka_unit_test(test_data_on_control),
      cmocka_unit_test(test_critical_stream_closed),
      cmocka_unit_test(test_headers_after_trailers),
      cmocka_unit_test(test_connect_refused),
      cmocka_unit_test(test_connect_priority_datagram),
      cmocka_unit_test(test_window_held),
      cmocka_unit_test(test_send_validation),
      cmocka_unit_test(test_server_first_datagram),
      cmocka_unit_test(test_loss_1000),
      cmocka_unit_test(test_failalloc),
      cmocka_unit_test(test_steady_state_allocations),
      cmocka_unit_test(test_steady_state_allocations_large),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
