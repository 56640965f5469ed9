/* The QUIC connection core (src/quic/conn.h) in the in-memory network
 * (sim.h): stream resets and STOP_SENDING both ways (RFC 9000 §3.5, §4.5),
 * CONNECTION_CLOSE of both kinds with a reason, the closing and draining
 * states (RFC 9000 §10.2), the idle timeout (§10.1), and connection errors
 * from crafted frames injected into protected packets (§12.4, §19, §20),
 * each checked by the exact code the peer receives; PTO probes that carry
 * data and the application-limited window (RFC 9002 §6.2.4, §7.8); and
 * Stateless Reset detection (RFC 9000 §10.3).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/varint.h"
#include "crypto/crypto.h"
#include "quic/conn_internal.h"
#include "quic/error.h"
#include "sim.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define MAX_EVS 64
#define SEC 1000000000ULL
#define MS 1000000ULL

typedef struct evlog {
  zttp_quic_event ev[2][MAX_EVS];
  size_t num[2];
  int hs_done[2];
  int closed[2];
  zttp_tstamp closed_at[2];
  /* Auto-read: consume what arrives on every readable stream. */
  uint64_t read[2];
} evlog;

static void drain_stream(sim *sm, evlog *lg, int side, uint64_t id) {
  for (;;) {
    const uint8_t *p;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(sm->conn[side], id, &p, &fin);
    if (n <= 0) {
      return;
    }
    assert_int_equal(
        zttp_quic_conn_stream_consume(sm->conn[side], id, (size_t)n), 0);
    lg->read[side] += (uint64_t)n;
  }
}

static void on_event(sim *sm, int side, const zttp_quic_event *ev, void *arg) {
  evlog *lg = arg;
  if (ev == NULL) {
    return;
  }
  if (lg->num[side] < MAX_EVS) {
    lg->ev[side][lg->num[side]++] = *ev;
  }
  switch (ev->kind) {
  case ZTTP_QUIC_EV_HANDSHAKE_DONE:
    lg->hs_done[side] = 1;
    break;
  case ZTTP_QUIC_EV_STREAM_READABLE:
    drain_stream(sm, lg, side, ev->stream_id);
    break;
  case ZTTP_QUIC_EV_CLOSED:
    lg->closed[side] = 1;
    lg->closed_at[side] = sm->now;
    break;
  default:
    break;
  }
}

/* The last event of |kind| on |side|, or one of kind NONE. */
static const zttp_quic_event *find_ev(const evlog *lg, int side,
                                      uint32_t kind) {
  static const zttp_quic_event none;
  for (size_t i = lg->num[side]; i-- > 0;) {
    if (lg->ev[side][i].kind == kind) {
      return &lg->ev[side][i];
    }
  }
  return &none;
}

static int hs_confirmed(sim *sm, void *arg) {
  evlog *lg = arg;
  return lg->hs_done[0] && lg->hs_done[1] &&
         zttp_quic_conn_handshake_confirmed(sm->conn[SIM_CLIENT]);
}

static int both_closed_ev(sim *sm, void *arg) {
  evlog *lg = arg;
  (void)sm;
  return lg->closed[0] && lg->closed[1];
}

static int both_closed(sim *sm, void *arg) {
  (void)arg;
  return zttp_quic_conn_is_closed(sm->conn[0]) &&
         zttp_quic_conn_is_closed(sm->conn[1]);
}

typedef struct wait_ev {
  evlog *lg;
  int side;
  uint32_t kind;
} wait_ev;

static int got_ev(sim *sm, void *arg) {
  wait_ev *w = arg;
  (void)sm;
  return find_ev(w->lg, w->side, w->kind)->kind == w->kind;
}

static void run_until_ev(sim *sm, evlog *lg, int side, uint32_t kind) {
  wait_ev w = {lg, side, kind};
  assert_int_equal(sim_run(sm, got_ev, &w, 30 * SEC), 1);
}

/* A null-TLS client and server with a confirmed handshake. */
static void setup(sim *sm, evlog *lg, const zttp_quic_settings *s) {
  memset(lg, 0, sizeof(*lg));
  assert_int_equal(sim_init(sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 1, 10, 0, NULL),
                   0);
  if (s != NULL) {
    /* sim_init created the client with the defaults: again with |s|. */
    zttp_quic_conn_free(sm->conn[SIM_CLIENT]);
    zttp_path path;
    memset(&path, 0, sizeof(path));
    assert_int_equal(zttp_quic_conn_new(&sm->conn[SIM_CLIENT], sm->mem, s,
                                        ZTTP_CLIENT, sm->ctx[SIM_CLIENT],
                                        sm->server_name, NULL, &path, sm->now),
                     0);
  }
  sm->on_event = on_event;
  sm->arg = lg;
  assert_int_equal(sim_run(sm, hs_confirmed, lg, 10 * SEC), 1);
}

/* Sends |payload| as the frames of a 1-RTT packet protected by |from| to
 * the other side, right now (not through the links). Returns what
 * zttp_quic_conn_recv returned. */
static int32_t inject(sim *sm, int from, uint32_t space, const uint8_t *payload,
                      size_t len) {
  uint8_t pkt[1500];
  size_t n =
      qc_test_packet(sm->conn[from], pkt, sizeof(pkt), space, payload, len);
  assert_true(n > 0);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  return zttp_quic_conn_recv(sm->conn[1 - from], pkt, n, &path, sm->now);
}

/* Writes everything |side| has to send now and drops it. Returns the
 * number of datagrams. */
static int flush_drop(sim *sm, int side) {
  uint8_t buf[1500];
  zttp_path path;
  int n = 0;
  while (zttp_quic_conn_write(sm->conn[side], buf, sizeof(buf), &path,
                              sm->now) > 0) {
    n++;
  }
  return n;
}

/* ---- RESET_STREAM and STOP_SENDING ------------------------------------- */

static void write_bytes(sim *sm, int side, uint64_t id, size_t n, int fin) {
  uint8_t buf[4096];
  assert_true(n <= sizeof(buf));
  memset(buf, 0x5a, n);
  assert_int_equal(zttp_quic_conn_stream_write(sm->conn[side], id, buf, n, fin),
                   (int64_t)n);
}

typedef struct wait_read {
  evlog *lg;
  int side;
  uint64_t n;
} wait_read;

static int got_read(sim *sm, void *arg) {
  wait_read *w = arg;
  (void)sm;
  return w->lg->read[w->side] >= w->n;
}

static void test_reset_stream(void **state) {
  (void)state;
  sim sm;
  evlog lg;
  setup(&sm, &lg, NULL);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT], *s = sm.conn[SIM_SERVER];
  int64_t id = zttp_quic_conn_open_stream(c, 1);
  assert_int_equal(id, 0);
  write_bytes(&sm, SIM_CLIENT, 0, 3000, 0);
  wait_read wr = {&lg, SIM_SERVER, 3000};
  assert_int_equal(sim_run(&sm, got_read, &wr, 10 * SEC), 1);
  /* Unread data at the server: 1000 more bytes are written, then reset. */
  write_bytes(&sm, SIM_CLIENT, 0, 1000, 0);
  assert_int_equal(flush_drop(&sm, SIM_CLIENT), 1); /* lost on the way */
  assert_int_equal(zttp_quic_conn_stream_reset(c, 0, 0x77), 0);
  assert_int_equal(
      zttp_quic_conn_stream_write(c, 0, (const uint8_t *)"x", 1, 0),
      ZTTP_ERR_INVALID_STATE);
  run_until_ev(&sm, &lg, SIM_SERVER, ZTTP_QUIC_EV_STREAM_RESET);
  const zttp_quic_event *ev =
      find_ev(&lg, SIM_SERVER, ZTTP_QUIC_EV_STREAM_RESET);
  assert_int_equal(ev->stream_id, 0);
  assert_int_equal(ev->error_code, 0x77);
  /* RFC 9000 §4.5: the final size (4000, the bytes sent) counts against
   * connection flow control, and all of it is credited back. */
  assert_int_equal(s->data_recv, 4000);
  assert_int_equal(s->data_read, 4000);
  const uint8_t *p;
  int fin;
  int64_t pr = zttp_quic_conn_stream_peek(s, 0, &p, &fin);
  assert_true(pr == ZTTP_ERR_INVALID_STATE || pr == ZTTP_ERR_STREAM_NOT_FOUND);
  /* The server can still send on its half: the stream is bidirectional. */
  write_bytes(&sm, SIM_SERVER, 0, 100, 1);
  wait_read wr2 = {&lg, SIM_CLIENT, 100};
  assert_int_equal(sim_run(&sm, got_read, &wr2, 10 * SEC), 1);
  assert_false(lg.closed[0] || lg.closed[1]);
  /* A STREAM frame past the final size is a FINAL_SIZE_ERROR, even now. */
  uint8_t f[32], *q = f;
  *q++ = 0x0e; /* STREAM | OFF | LEN */
  q = zttp_varint_put(q, 0);
  q = zttp_varint_put(q, 4000);
  q = zttp_varint_put(q, 1);
  *q++ = 'z';
  assert_int_equal(
      inject(&sm, SIM_CLIENT, ZTTP_QUIC_SPACE_APP, f, (size_t)(q - f)),
      ZTTP_ERR_PROTOCOL);
  assert_int_equal(sim_run(&sm, both_closed_ev, &lg, 10 * SEC), 1);
  ev = find_ev(&lg, SIM_CLIENT, ZTTP_QUIC_EV_CLOSED);
  assert_int_equal(ev->error_code, ZTTP_QUIC_ERR_FINAL_SIZE_ERROR);
  sim_free(&sm);
}

/* STOP_SENDING is answered with RESET_STREAM of the same code (RFC 9000
 * §3.5), in both directions. */
static void test_stop_sending(void **state) {
  (void)state;
  sim sm;
  evlog lg;
  setup(&sm, &lg, NULL);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT], *s = sm.conn[SIM_SERVER];
  /* The server stops the client's stream 0. */
  assert_int_equal(zttp_quic_conn_open_stream(c, 1), 0);
  write_bytes(&sm, SIM_CLIENT, 0, 2000, 0);
  wait_read wr = {&lg, SIM_SERVER, 2000};
  assert_int_equal(sim_run(&sm, got_read, &wr, 10 * SEC), 1);
  assert_int_equal(zttp_quic_conn_stream_stop_sending(s, 0, 0x42), 0);
  run_until_ev(&sm, &lg, SIM_SERVER, ZTTP_QUIC_EV_STREAM_RESET);
  const zttp_quic_event *ev =
      find_ev(&lg, SIM_CLIENT, ZTTP_QUIC_EV_STREAM_STOP_SENDING);
  assert_int_equal(ev->kind, ZTTP_QUIC_EV_STREAM_STOP_SENDING);
  assert_int_equal(ev->stream_id, 0);
  assert_int_equal(ev->error_code, 0x42);
  ev = find_ev(&lg, SIM_SERVER, ZTTP_QUIC_EV_STREAM_RESET);
  assert_int_equal(ev->stream_id, 0);
  assert_int_equal(ev->error_code, 0x42);
  assert_int_equal(
      zttp_quic_conn_stream_write(c, 0, (const uint8_t *)"x", 1, 0),
      ZTTP_ERR_INVALID_STATE);
  assert_int_equal(s->data_recv, 2000); /* final size 2000 */

  /* The client stops the server's stream 1. */
  assert_int_equal(zttp_quic_conn_open_stream(s, 1), 1);
  write_bytes(&sm, SIM_SERVER, 1, 500, 0);
  wait_read wr2 = {&lg, SIM_CLIENT, 500};
  assert_int_equal(sim_run(&sm, got_read, &wr2, 10 * SEC), 1);
  assert_int_equal(zttp_quic_conn_stream_stop_sending(c, 1, 0x43), 0);
  /* Asked once: a second call changes nothing. */
  assert_int_equal(zttp_quic_conn_stream_stop_sending(c, 1, 0x44), 0);
  run_until_ev(&sm, &lg, SIM_CLIENT, ZTTP_QUIC_EV_STREAM_RESET);
  ev = find_ev(&lg, SIM_SERVER, ZTTP_QUIC_EV_STREAM_STOP_SENDING);
  assert_int_equal(ev->kind, ZTTP_QUIC_EV_STREAM_STOP_SENDING);
  assert_int_equal(ev->stream_id, 1);
  assert_int_equal(ev->error_code, 0x43);
  ev = find_ev(&lg, SIM_CLIENT, ZTTP_QUIC_EV_STREAM_RESET);
  assert_int_equal(ev->stream_id, 1);
  assert_int_equal(ev->error_code, 0x43);
  assert_false(lg.closed[0] || lg.closed[1]);
  /* A uni stream the client opened has no receive side at the client. */
  int64_t uid = zttp_quic_conn_open_stream(c, 0);
  assert_int_equal(uid, 2);
  assert_int_equal(zttp_quic_conn_stream_stop_sending(c, 2, 1),
                   ZTTP_ERR_INVALID_STATE);
  /* STOP_SENDING for a stream the peer only receives on is a
   * STREAM_STATE_ERROR (RFC 9000 §19.5): stream 3, the server's uni. */
  uint8_t f[8], *q = f;
  *q++ = 0x05;
  q = zttp_varint_put(q, 3);
  q = zttp_varint_put(q, 9);
  assert_int_equal(
      inject(&sm, SIM_SERVER, ZTTP_QUIC_SPACE_APP, f, (size_t)(q - f)),
      ZTTP_ERR_PROTOCOL);
  assert_int_equal(sim_run(&sm, both_closed_ev, &lg, 10 * SEC), 1);
  ev = find_ev(&lg, SIM_SERVER, ZTTP_QUIC_EV_CLOSED);
  assert_int_equal(ev->error_code, ZTTP_QUIC_ERR_STREAM_STATE_ERROR);
  assert_int_equal(ev->remote, 1);
  sim_free(&sm);
}

/* ---- CONNECTION_CLOSE, closing, draining --------------------------------- */

static void close_kind(int app, uint64_t code) {
  sim sm;
  evlog lg;
  setup(&sm, &lg, NULL);
  static const char why[] = "going away now";
  zttp_tstamp t0 = sm.now;
  assert_int_equal(zttp_quic_conn_close(sm.conn[SIM_CLIENT], app, code, why,
                                        sizeof(why) - 1, sm.now),
                   0);
  assert_int_equal(zttp_quic_conn_close(sm.conn[SIM_CLIENT], app, code, why,
                                        sizeof(why) - 1, sm.now),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(sim_run(&sm, both_closed_ev, &lg, 10 * SEC), 1);
  const zttp_quic_event *ev = find_ev(&lg, SIM_SERVER, ZTTP_QUIC_EV_CLOSED);
  assert_int_equal(ev->remote, 1);
  assert_int_equal(ev->app, app);
  assert_int_equal(ev->error_code, code);
  assert_int_equal(ev->error, app || code == 0 ? 0 : ZTTP_ERR_PROTOCOL);
  const uint8_t *r;
  size_t rl = zttp_quic_conn_close_reason(sm.conn[SIM_SERVER], &r);
  assert_int_equal(rl, sizeof(why) - 1);
  assert_memory_equal(r, why, rl);
  ev = find_ev(&lg, SIM_CLIENT, ZTTP_QUIC_EV_CLOSED);
  assert_int_equal(ev->remote, 0);
  assert_int_equal(ev->app, app);
  assert_int_equal(ev->error_code, code);
  /* Both end after three PTOs (RFC 9000 §10.2); the draining server sends
   * nothing more. */
  uint64_t pto = qc_pto(sm.conn[SIM_SERVER]);
  assert_true(zttp_quic_conn_is_closing(sm.conn[SIM_SERVER]));
  assert_int_equal(sm.conn[SIM_SERVER]->state, QC_DRAINING);
  assert_int_equal(sm.conn[SIM_CLIENT]->state, QC_CLOSING);
  uint64_t server_dgrams = sm.link[SIM_SERVER].dgrams;
  assert_int_equal(sim_run(&sm, both_closed, NULL, 10 * SEC), 1);
  assert_int_equal(sm.link[SIM_SERVER].dgrams, server_dgrams);
  assert_true(sm.now - t0 >= 3 * pto);
  assert_true(sm.now - t0 <= 3 * pto + 100 * MS);
  sim_free(&sm);
}

static void test_close_transport(void **state) {
  (void)state;
  close_kind(0, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION); /* 0x1c */
  close_kind(0, ZTTP_QUIC_ERR_NO_ERROR);
}

static void test_close_app(void **state) {
  (void)state;
  close_kind(1, 0x1234); /* 0x1d */
}

static const uint8_t ping[] = {0x01};

/* RFC 9000 §10.2.1: the closing endpoint answers later packets with its
 * CONNECTION_CLOSE, but rate-limited: after 1, 2, 4, 8, ... packets. */
static void test_closing_rate_limit(void **state) {
  (void)state;
  sim sm;
  evlog lg;
  setup(&sm, &lg, NULL);
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  assert_int_equal(zttp_quic_conn_close(s, 1, 7, "x", 1, sm.now), 0);
  assert_int_equal(flush_drop(&sm, SIM_SERVER), 1); /* the close, lost */
  int answers = 0;
  for (int i = 1; i <= 100; i++) {
    assert_int_equal(inject(&sm, SIM_CLIENT, ZTTP_QUIC_SPACE_APP, ping, 1), 0);
    int n = flush_drop(&sm, SIM_SERVER);
    int expect = (i & (i - 1)) == 0; /* a power of two */
    assert_int_equal(n, expect);
    answers += n;
  }
  assert_int_equal(answers, 7); /* 1, 2, 4, 8, 16, 32, 64 */
  assert_int_equal(s->state, QC_CLOSING);
  /* The peer's CONNECTION_CLOSE moves closing to draining: silence. */
  uint8_t f[8] = {0x1d, 0x00, 0x00};
  assert_int_equal(inject(&sm, SIM_CLIENT, ZTTP_QUIC_SPACE_APP, f, 3), 0);
  assert_int_equal(s->state, QC_DRAINING);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(inject(&sm, SIM_CLIENT, ZTTP_QUIC_SPACE_APP, ping, 1), 0);
    assert_int_equal(flush_drop(&sm, SIM_SERVER), 0);
  }
  assert_false(zttp_quic_conn_is_closed(s));
  zttp_tstamp end = zttp_quic_conn_next_timeout(s);
  assert_true(end != ZTTP_TSTAMP_NEVER);
  assert_int_equal(zttp_quic_conn_handle_timeout(s, end - 1), 0);
  assert_false(zttp_quic_conn_is_closed(s));
  assert_int_equal(zttp_quic_conn_handle_timeout(s, end), 0);
  assert_true(zttp_quic_conn_is_closed(s));
  assert_int_equal(zttp_quic_conn_next_timeout(s), ZTTP_TSTAMP_NEVER);
  sim_free(&sm);
}

/* RFC 9000 §10.2.2: a draining endpoint sends nothing, whatever arrives. */
static void test_draining(void **state) {
  (void)state;
  sim sm;
  evlog lg;
  setup(&sm, &lg, NULL);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  assert_int_equal(zttp_quic_conn_close(sm.conn[SIM_SERVER], 0,
                                        ZTTP_QUIC_ERR_NO_ERROR, NULL, 0,
                                        sm.now),
                   0);
  run_until_ev(&sm, &lg, SIM_CLIENT, ZTTP_QUIC_EV_CLOSED);
  assert_int_equal(c->state, QC_DRAINING);
  const zttp_quic_event *ev = find_ev(&lg, SIM_CLIENT, ZTTP_QUIC_EV_CLOSED);
  assert_int_equal(ev->error, 0);
  assert_int_equal(ev->remote, 1);
  assert_int_equal(ev->app, 0);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(inject(&sm, SIM_SERVER, ZTTP_QUIC_SPACE_APP, ping, 1), 0);
    assert_int_equal(flush_drop(&sm, SIM_CLIENT), 0);
  }
  assert_int_equal(zttp_quic_conn_open_stream(c, 1), ZTTP_ERR_INVALID_STATE);
  assert_int_equal(sim_run(&sm, both_closed, NULL, 10 * SEC), 1);
  /* Exactly one CLOSED event each. */
  size_t n = 0;
  for (size_t i = 0; i < lg.num[SIM_CLIENT]; i++) {
    n += lg.ev[SIM_CLIENT][i].kind == ZTTP_QUIC_EV_CLOSED;
  }
  assert_int_equal(n, 1);
  sim_free(&sm);
}

/* ---- idle timeout ---------------------------------------------------------
 */

/* RFC 9000 §10.1: the effective timeout is the minimum of both
 * max_idle_timeouts (here the client's 1 s; the server's is 30 s), at
 * least three PTOs; it closes silently with a CLOSED event. */
static void test_idle_timeout(void **state) {
  (void)state;
  zttp_quic_settings s;
  zttp_quic_settings_default(&s);
  s.idle_timeout_ms = 1000;
  sim sm;
  evlog lg;
  setup(&sm, &lg, &s);
  zttp_tstamp t0 = sm.now;
  assert_int_equal(sim_run(&sm, both_closed_ev, &lg, 60 * SEC), 1);
  for (int side = 0; side < 2; side++) {
    const zttp_quic_event *ev = find_ev(&lg, side, ZTTP_QUIC_EV_CLOSED);
    assert_int_equal(ev->error, ZTTP_ERR_CLOSED);
    assert_int_equal(ev->remote, 0);
    assert_true(zttp_quic_conn_is_closed(sm.conn[side]));
    /* The last packets of the handshake were at most an RTT ago. */
    assert_true(lg.closed_at[side] - t0 >= 1000 * MS - 50 * MS);
    assert_true(lg.closed_at[side] - t0 <= 1000 * MS + 50 * MS);
  }
  sim_free(&sm);

  /* 1 ms, below three PTOs: three PTOs win. */
  s.idle_timeout_ms = 1;
  setup(&sm, &lg, &s);
  t0 = sm.now;
  uint64_t pto = qc_pto(sm.conn[SIM_CLIENT]);
  assert_int_equal(sim_run(&sm, both_closed_ev, &lg, 60 * SEC), 1);
  assert_true(lg.closed_at[SIM_CLIENT] - t0 >= 3 * pto - 30 * MS);
  assert_true(lg.closed_at[SIM_CLIENT] - t0 <= 3 * pto + 30 * MS);
  sim_free(&sm);
}

/* ---- connection errors from crafted frames ------------------------------
 */

/* Injects |f| from the client into the server in |space| and checks that
 * both report a close with |code|, the client as the remote side. */
static void expect_error_in(uint32_t space, const uint8_t *f, size_t len,
                            uint64_t code, sim *sm, evlog *lg) {
  assert_true(inject(sm, SIM_CLIENT, space, f, len) < 0);
  assert_int_equal(sim_run(sm, both_closed_ev, lg, 10 * SEC), 1);
  const zttp_quic_event *ev = find_ev(lg, SIM_CLIENT, ZTTP_QUIC_EV_CLOSED);
  assert_int_equal(ev->remote, 1);
  assert_int_equal(ev->app, 0);
  assert_int_equal(ev->error, ZTTP_ERR_PROTOCOL);
  if (ev->error_code != code) {
    printf("# expected code 0x%llx, got 0x%llx\n", (unsigned long long)code,
           (unsigned long long)ev->error_code);
  }
  assert_int_equal(ev->error_code, code);
  ev = find_ev(lg, SIM_SERVER, ZTTP_QUIC_EV_CLOSED);
  assert_int_equal(ev->remote, 0);
  assert_int_equal(ev->error_code, code);
}

static void expect_error(const uint8_t *f, size_t len, uint64_t code) {
  sim sm;
  evlog lg;
  setup(&sm, &lg, NULL);
  expect_error_in(ZTTP_QUIC_SPACE_APP, f, len, code, &sm, &lg);
  sim_free(&sm);
}

static size_t stream_frame(uint8_t *p, uint64_t id, uint64_t off, size_t len,
                           int fin) {
  uint8_t *q = p;
  *q++ = (uint8_t)(0x0e | (fin ? 1 : 0));
  q = zttp_varint_put(q, id);
  q = zttp_varint_put(q, off);
  q = zttp_varint_put(q, len);
  memset(q, 'a', len);
  return (size_t)(q - p) + len;
}

static void test_err_frame_encoding(void **state) {
  (void)state;
  static const uint8_t truncated[] = {0x04}; /* MAX_DATA without a value */
  expect_error(truncated, sizeof(truncated),
               ZTTP_QUIC_ERR_FRAME_ENCODING_ERROR);
  static const uint8_t unknown[] = {0x21, 0x00}; /* RFC 9000 §12.4 */
  expect_error(unknown, sizeof(unknown), ZTTP_QUIC_ERR_FRAME_ENCODING_ERROR);
}

static int client_hs_keys(sim *sm, void *arg) {
  (void)arg;
  return sm->conn[SIM_CLIENT]->tx[ZTTP_QUIC_SPACE_HANDSHAKE] != NULL;
}

static void test_err_protocol_violation(void **state) {
  (void)state;
  /* HANDSHAKE_DONE from a client (RFC 9000 §19.20). */
  static const uint8_t hs_done[] = {0x1e};
  expect_error(hs_done, sizeof(hs_done), ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  /* A STREAM frame in a Handshake packet (RFC 9000 §12.4 Table 3): sent
   * while the server still has Handshake keys. */
  sim sm;
  evlog lg;
  memset(&lg, 0, sizeof(lg));
  assert_int_equal(sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 1, 10, 0, NULL),
                   0);
  sm.on_event = on_event;
  sm.arg = &lg;
  /* Until the client has its Handshake keys (its Finished not yet
   * flushed). */
  assert_int_equal(sim_run(&sm, client_hs_keys, NULL, 10 * SEC), 1);
  assert_non_null(sm.conn[SIM_CLIENT]->tx[ZTTP_QUIC_SPACE_HANDSHAKE]);
  assert_non_null(sm.conn[SIM_SERVER]->rx[ZTTP_QUIC_SPACE_HANDSHAKE]);
  uint8_t f[64];
  size_t n = stream_frame(f, 0, 0, 4, 0);
  expect_error_in(ZTTP_QUIC_SPACE_HANDSHAKE, f, n,
                  ZTTP_QUIC_ERR_PROTOCOL_VIOLATION, &sm, &lg);
  sim_free(&sm);
}

static void test_err_flow_control(void **state) {
  (void)state;
  uint8_t f[64];
  /* One byte past the stream's 256 KiB window. */
  size_t n = stream_frame(f, 0, 256u << 10, 1, 0);
  expect_error(f, n, ZTTP_QUIC_ERR_FLOW_CONTROL_ERROR);
  /* Within each stream's window, past the 1 MiB connection window. */
  n = 0;
  for (uint64_t i = 0; i < 5; i++) {
    n += stream_frame(f + n, i * 4, (256u << 10) - 1, 1, 0);
  }
  expect_error(f, n, ZTTP_QUIC_ERR_FLOW_CONTROL_ERROR);
}

static void test_err_stream_state(void **state) {
  (void)state;
  uint8_t f[64];
  /* STREAM on stream 3: the server's own uni stream. */
  size_t n = stream_frame(f, 3, 0, 4, 0);
  expect_error(f, n, ZTTP_QUIC_ERR_STREAM_STATE_ERROR);
  /* MAX_STREAM_DATA on a server bidi stream not opened yet (§19.10). */
  uint8_t *q = f;
  *q++ = 0x11;
  q = zttp_varint_put(q, 1);
  q = zttp_varint_put(q, 100);
  expect_error(f, (size_t)(q - f), ZTTP_QUIC_ERR_STREAM_STATE_ERROR);
}

static void test_err_stream_limit(void **state) {
  (void)state;
  uint8_t f[64];
  /* Bidi stream index 100: the server allows 100 (0-99). */
  size_t n = stream_frame(f, 100 * 4, 0, 4, 0);
  expect_error(f, n, ZTTP_QUIC_ERR_STREAM_LIMIT_ERROR);
  /* Uni stream index 3 (id 14): the server allows 3. */
  n = stream_frame(f, 14, 0, 4, 0);
  expect_error(f, n, ZTTP_QUIC_ERR_STREAM_LIMIT_ERROR);
}

static void test_err_final_size(void **state) {
  (void)state;
  uint8_t f[128];
  /* Data past a FIN. */
  size_t n = stream_frame(f, 0, 0, 5, 1);
  n += stream_frame(f + n, 0, 5, 5, 0);
  expect_error(f, n, ZTTP_QUIC_ERR_FINAL_SIZE_ERROR);
  /* A second, different FIN. */
  n = stream_frame(f, 0, 0, 5, 1);
  n += stream_frame(f + n, 0, 0, 4, 1);
  expect_error(f, n, ZTTP_QUIC_ERR_FINAL_SIZE_ERROR);
  /* RESET_STREAM below the data received. */
  n = stream_frame(f, 4, 0, 10, 0);
  uint8_t *q = f + n;
  *q++ = 0x04;
  q = zttp_varint_put(q, 4);
  q = zttp_varint_put(q, 0);
  q = zttp_varint_put(q, 5);
  expect_error(f, (size_t)(q - f), ZTTP_QUIC_ERR_FINAL_SIZE_ERROR);
}

static void test_err_crypto_buffer(void **state) {
  (void)state;
  uint8_t f[16], *q = f;
  *q++ = 0x06; /* CRYPTO at 70000: past the 64 KiB buffer */
  q = zttp_varint_put(q, 70000);
  q = zttp_varint_put(q, 1);
  *q++ = 0;
  expect_error(f, (size_t)(q - f), ZTTP_QUIC_ERR_CRYPTO_BUFFER_EXCEEDED);
}

/* ---- loss recovery --------------------------------------------------------
 */

/* RFC 9002 §6.2.4: the PTO probe carries the unacknowledged stream data
 * again rather than a bare PING, so the data arrives one PTO after its
 * loss, not a PTO plus a round trip for loss detection. */
static void test_pto_probe_carries_data(void **state) {
  (void)state;
  sim sm;
  evlog lg;
  setup(&sm, &lg, NULL);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  /* Quiet first: nothing else in flight. */
  assert_int_equal(sim_run(&sm, both_closed_ev, &lg, 200 * MS), 0);
  assert_int_equal(zttp_quic_conn_open_stream(c, 1), 0);
  write_bytes(&sm, SIM_CLIENT, 0, 1000, 1);
  zttp_tstamp t0 = sm.now;
  uint64_t pto = qc_pto(c);
  assert_int_equal(flush_drop(&sm, SIM_CLIENT), 1); /* lost */
  wait_read wr = {&lg, SIM_SERVER, 1000};
  assert_int_equal(sim_run(&sm, got_read, &wr, 10 * SEC), 1);
  /* One PTO, then the 10 ms one-way delay. */
  assert_true(sm.now - t0 <= pto + 10 * MS + 1 * MS);
  assert_int_equal(zttp_quic_conn_get_stats(c)->stream_bytes_retransmitted,
                   1000);
  sim_free(&sm);
}

typedef struct trickle {
  evlog *lg;
  int rounds;
  zttp_tstamp next;
} trickle;

static int trickle_step(sim *sm, void *arg) {
  trickle *t = arg;
  if (sm->now >= t->next) {
    write_bytes(sm, SIM_CLIENT, 0, 100, 0);
    t->next = sm->now + 20 * MS;
    t->rounds++;
  }
  return t->rounds > 100;
}

/* RFC 9002 §7.8: an application-limited sender's window does not grow. */
static void test_app_limited_cwnd(void **state) {
  (void)state;
  sim sm;
  evlog lg;
  setup(&sm, &lg, NULL);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  assert_int_equal(zttp_quic_conn_open_stream(c, 1), 0);
  uint64_t cwnd = zttp_quic_conn_cwnd(c);
  trickle t = {&lg, 0, 0};
  assert_int_equal(sim_run(&sm, trickle_step, &t, 10 * SEC), 1);
  wait_read wr = {&lg, SIM_SERVER, 100 * 100};
  assert_int_equal(sim_run(&sm, got_read, &wr, 10 * SEC), 1);
  assert_int_equal(zttp_quic_conn_cwnd(c), cwnd);
  assert_false(lg.closed[0] || lg.closed[1]);
  sim_free(&sm);
}

/* ---- stateless reset ------------------------------------------------------
 */

/* RFC 9000 §10.3: the server's token is HMAC-SHA256(reset_key, CID)
 * (§10.3.2); a datagram ending with it that fails to decrypt puts the
 * client in draining with a CLOSED event flagged stateless_reset. */
static void test_stateless_reset(void **state) {
  (void)state;
  sim sm;
  evlog lg;
  memset(&lg, 0, sizeof(lg));
  assert_int_equal(sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 1, 10, 0, NULL),
                   0);
  for (size_t i = 0; i < sizeof(sm.settings.reset_key); i++) {
    sm.settings.reset_key[i] = (uint8_t)(i + 1); /* the server's */
  }
  sm.on_event = on_event;
  sm.arg = &lg;
  assert_int_equal(sim_run(&sm, hs_confirmed, &lg, 10 * SEC), 1);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT], *s = sm.conn[SIM_SERVER];
  uint8_t mac[32];
  assert_true(zttp_crypto_hmac_sha256(mac, sm.settings.reset_key,
                                      sizeof(sm.settings.reset_key),
                                      s->scid.data, s->scid.len));
  assert_memory_equal(c->peer_tp.stateless_reset_token, mac, 16);
  uint8_t rnd[64], pkt[64];
  memset(rnd, 0x3c, sizeof(rnd));
  zttp_path path;
  memset(&path, 0, sizeof(path));
  /* A wrong token: dropped like any undecryptable datagram. */
  uint8_t bad[16];
  memcpy(bad, mac, 16);
  bad[15] ^= 1;
  assert_int_equal(zttp_quic_stateless_reset_write(pkt, 40, rnd, bad), 40);
  assert_int_equal(zttp_quic_conn_recv(c, pkt, 40, &path, sm.now), 0);
  assert_int_equal(c->state, QC_OPEN);
  /* The right one. */
  assert_int_equal(zttp_quic_stateless_reset_write(pkt, 40, rnd, mac), 40);
  assert_int_equal(zttp_quic_conn_recv(c, pkt, 40, &path, sm.now), 0);
  assert_int_equal(c->state, QC_DRAINING);
  assert_int_equal(flush_drop(&sm, SIM_CLIENT), 0);
  zttp_quic_event ev;
  assert_int_equal(zttp_quic_conn_next_event(c, &ev), 1);
  assert_int_equal(ev.kind, ZTTP_QUIC_EV_CLOSED);
  assert_int_equal(ev.stateless_reset, 1);
  assert_int_equal(ev.remote, 1);
  assert_int_equal(ev.error, ZTTP_ERR_CLOSED);
  sim_free(&sm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reset_stream),
      cmocka_unit_test(test_stop_sending),
      cmocka_unit_test(test_close_transport),
      cmocka_unit_test(test_close_app),
      cmocka_unit_test(test_closing_rate_limit),
      cmocka_unit_test(test_draining),
      cmocka_unit_test(test_idle_timeout),
      cmocka_unit_test(test_err_frame_encoding),
      cmocka_unit_test(test_err_protocol_violation),
      cmocka_unit_test(test_err_flow_control),
      cmocka_unit_test(test_err_stream_state),
      cmocka_unit_test(test_err_stream_limit),
      cmocka_unit_test(test_err_final_size),
      cmocka_unit_test(test_err_crypto_buffer),
      cmocka_unit_test(test_pto_probe_carries_data),
      cmocka_unit_test(test_app_limited_cwnd),
      cmocka_unit_test(test_stateless_reset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
