/* DATAGRAM frames (RFC 9221) and the RFC 9218 stream scheduler of the
 * connection core in the in-memory network (sim.h).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "quic/conn_internal.h"
#include "quic/error.h"
#include "sim.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define SEC 1000000000ULL
#define MS 1000000ULL

static int confirmed(sim *sm, void *arg) {
  (void)arg;
  return sm->conn[SIM_SERVER] != NULL &&
         zttp_quic_conn_handshake_confirmed(sm->conn[SIM_CLIENT]);
}

static int until_time(sim *sm, void *arg) {
  const zttp_tstamp *t = arg;
  return sm->now >= *t;
}

static void run_for(sim *sm, zttp_tstamp d) {
  zttp_tstamp end = sm->now + d;
  assert_true(sim_run(sm, until_time, &end, d) >= 0);
  if (sm->now < end) {
    sm->now = end;
  }
}

/* A confirmed null-TLS pair whose sides advertise |client_max| and
 * |server_max| as max_datagram_frame_size. */
static void setup(sim *sm, uint64_t client_max, uint64_t server_max,
                  uint32_t loss_ppm) {
  assert_int_equal(
      sim_init(sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 31, 10, loss_ppm, NULL), 0);
  sm->settings.max_datagram_frame_size = client_max;
  zttp_quic_conn_free(sm->conn[SIM_CLIENT]);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_new(&sm->conn[SIM_CLIENT], sm->mem,
                                      &sm->settings, ZTTP_CLIENT,
                                      sm->ctx[SIM_CLIENT], "localhost", NULL,
                                      &path, sm->now),
                   0);
  sm->settings.max_datagram_frame_size = server_max;
  assert_int_equal(sim_run(sm, confirmed, NULL, 10 * SEC), 1);
}

/* ---- DATAGRAM ------------------------------------------------------------
 */

typedef struct dglog {
  size_t num;
  size_t lens[64];
  uint8_t first[64];
  int drain; /* the server reads its events */
} dglog;

static void dg_event(sim *sm, int side, const zttp_quic_event *ev, void *arg) {
  (void)sm;
  dglog *lg = arg;
  if (ev != NULL && side == SIM_SERVER && ev->kind == ZTTP_QUIC_EV_DATAGRAM &&
      lg->num < 64) {
    lg->lens[lg->num] = ev->data_len;
    lg->first[lg->num] = ev->data_len > 0 ? ev->data[0] : 0;
    for (size_t i = 0; i < ev->data_len; i++) {
      assert_int_equal(ev->data[i], (uint8_t)(ev->data[0] + i));
    }
    lg->num++;
  }
}

static void send_dgram(sim *sm, uint8_t tag, size_t len, int32_t want) {
  uint8_t buf[1500];
  for (size_t i = 0; i < len; i++) {
    buf[i] = (uint8_t)(tag + i);
  }
  assert_int_equal(zttp_quic_conn_send_datagram(sm->conn[SIM_CLIENT], buf, len),
                   want);
}

static void test_datagrams(void **state) {
  (void)state;
  sim sm;
  dglog lg;
  memset(&lg, 0, sizeof(lg));
  setup(&sm, 1200, 1200, 0);
  sm.on_event = dg_event;
  sm.arg = &lg;
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  /* The peer's 1200 less the frame overhead (3), within a packet. */
  assert_int_equal(zttp_quic_conn_max_datagram(c), 1197);
  static const size_t sizes[] = {0, 1, 100, 1000, 1197, 17, 500, 2, 3, 4};
  for (size_t i = 0; i < 10; i++) {
    send_dgram(&sm, (uint8_t)(16 * i), sizes[i], 0);
  }
  send_dgram(&sm, 0, 1198, ZTTP_ERR_INVALID_ARGUMENT);
  run_for(&sm, 200 * MS);
  assert_int_equal(lg.num, 10);
  for (size_t i = 0; i < 10; i++) {
    assert_int_equal(lg.lens[i], sizes[i]);
    if (sizes[i] > 0) {
      assert_int_equal(lg.first[i], 16 * i);
    }
  }
  const zttp_quic_conn_stats *st = zttp_quic_conn_get_stats(c);
  assert_int_equal(st->datagrams_sent, 10);
  assert_int_equal(
      zttp_quic_conn_get_stats(sm.conn[SIM_SERVER])->datagrams_recv, 10);
  sim_free(&sm);
}

/* Moves everything |from| has to send straight into the other side. */
static void hand_over(sim *sm, int from) {
  uint8_t buf[1500];
  zttp_path path;
  int64_t n;
  while ((n = zttp_quic_conn_write(sm->conn[from], buf, sizeof(buf), &path,
                                   sm->now)) > 0) {
    assert_int_equal(
        zttp_quic_conn_recv(sm->conn[1 - from], buf, (size_t)n, &path, sm->now),
        0);
  }
}

/* The send queue holds datagram_queue datagrams; the receive queue keeps
 * the newest ones when the application does not read. */
static void test_datagram_queues(void **state) {
  (void)state;
  sim sm;
  setup(&sm, 1200, 1200, 0);
  for (size_t i = 0; i < 16; i++) {
    send_dgram(&sm, (uint8_t)i, 10, 0);
  }
  send_dgram(&sm, 99, 10, ZTTP_ERR_BUFFER_FULL);
  hand_over(&sm, SIM_CLIENT);
  /* Nobody reads the server's events: after 40, the last 16 wait. */
  for (size_t i = 16; i < 40; i++) {
    send_dgram(&sm, (uint8_t)i, 10, 0);
    hand_over(&sm, SIM_CLIENT);
  }
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  assert_int_equal(zttp_quic_conn_get_stats(s)->datagrams_recv, 40);
  assert_int_equal(zttp_quic_conn_get_stats(s)->datagrams_dropped, 24);
  zttp_quic_event ev;
  for (size_t i = 24; i < 40; i++) {
    assert_int_equal(zttp_quic_conn_next_event(s, &ev), 1);
    assert_int_equal(ev.kind, ZTTP_QUIC_EV_DATAGRAM);
    assert_int_equal(ev.data_len, 10);
    assert_int_equal(ev.data[0], i);
  }
  assert_int_equal(zttp_quic_conn_next_event(s, &ev), 0);
  sim_free(&sm);
}

/* Without the peer's max_datagram_frame_size nothing can be sent. */
static void test_datagram_not_negotiated(void **state) {
  (void)state;
  sim sm;
  setup(&sm, 1200, 0, 0);
  assert_int_equal(zttp_quic_conn_max_datagram(sm.conn[SIM_CLIENT]), 0);
  send_dgram(&sm, 0, 10, ZTTP_ERR_INVALID_STATE);
  /* The server can: the client advertised. */
  assert_true(zttp_quic_conn_max_datagram(sm.conn[SIM_SERVER]) > 0);
  sim_free(&sm);
}

/* RFC 9221 §3: a DATAGRAM frame we did not advertise, or larger than we
 * advertised, is PROTOCOL_VIOLATION. */
static void inject_expect_violation(uint64_t server_max, size_t payload) {
  sim sm;
  setup(&sm, 1200, server_max, 0);
  uint8_t f[1300];
  f[0] = 0x30; /* DATAGRAM without Length: to the end of the packet */
  memset(f + 1, 0x61, payload);
  uint8_t pkt[1500];
  size_t n = qc_test_packet(sm.conn[SIM_CLIENT], pkt, sizeof(pkt),
                            ZTTP_QUIC_SPACE_APP, f, 1 + payload);
  assert_true(n > 0);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(
      zttp_quic_conn_recv(sm.conn[SIM_SERVER], pkt, n, &path, sm.now),
      ZTTP_ERR_PROTOCOL);
  assert_int_equal(sm.conn[SIM_SERVER]->close_code,
                   ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  sim_free(&sm);
}

static void test_datagram_violations(void **state) {
  (void)state;
  inject_expect_violation(0, 10);    /* not advertised */
  inject_expect_violation(100, 100); /* frame of 101 bytes > 100 */
}

/* Datagrams are never retransmitted: with loss some never arrive, while a
 * stream on the same connection still delivers everything. */
static void test_datagram_loss(void **state) {
  (void)state;
  sim sm;
  dglog lg;
  memset(&lg, 0, sizeof(lg));
  setup(&sm, 1200, 1200, 200000);
  sm.on_event = dg_event;
  sm.arg = &lg;
  /* One datagram per packet. */
  for (size_t i = 0; i < 64; i++) {
    send_dgram(&sm, (uint8_t)i, 50, 0);
    run_for(&sm, 5 * MS);
  }
  run_for(&sm, SEC);
  const zttp_quic_conn_stats *st =
      zttp_quic_conn_get_stats(sm.conn[SIM_CLIENT]);
  printf("# datagrams at 20%% loss: %llu sent, %zu received\n",
         (unsigned long long)st->datagrams_sent, lg.num);
  assert_int_equal(st->datagrams_sent, 64);
  assert_true(lg.num < 64);
  assert_true(lg.num > 16);
  sim_free(&sm);
}

/* ---- RFC 9218 scheduling -------------------------------------------------
 */

#define PRIO_STREAMS 3
#define PRIO_SIZE (64 * 1024)
#define ONE_PACKET 1452

typedef struct prio {
  uint32_t urgency[PRIO_STREAMS];
  uint32_t incremental[PRIO_STREAMS];
  int64_t id[PRIO_STREAMS];
  int seen[PRIO_STREAMS]; /* the server saw the request */
  int written;
  uint64_t received[PRIO_STREAMS];
  int fin[PRIO_STREAMS];
  /* What the others had received when each one finished. */
  uint64_t at_fin[PRIO_STREAMS][PRIO_STREAMS];
} prio;

static void prio_event(sim *sm, int side, const zttp_quic_event *ev,
                       void *arg) {
  prio *p = arg;
  zttp_quic_conn *qc = sm->conn[side];
  if (ev != NULL) {
    if (side == SIM_SERVER && ev->kind == ZTTP_QUIC_EV_STREAM_READABLE) {
      for (int k = 0; k < PRIO_STREAMS; k++) {
        if ((int64_t)ev->stream_id == p->id[k]) {
          p->seen[k] = 1;
        }
      }
      const uint8_t *d;
      int fin;
      int64_t n = zttp_quic_conn_stream_peek(qc, ev->stream_id, &d, &fin);
      if (n > 0) {
        (void)zttp_quic_conn_stream_consume(qc, ev->stream_id, (size_t)n);
      }
    }
    return;
  }
  if (side == SIM_CLIENT && p->id[0] < 0 &&
      zttp_quic_conn_handshake_complete(qc)) {
    for (int k = 0; k < PRIO_STREAMS; k++) {
      p->id[k] = zttp_quic_conn_open_stream(qc, 1);
      assert_true(p->id[k] >= 0);
      static const uint8_t b = 'G';
      assert_int_equal(
          zttp_quic_conn_stream_write(qc, (uint64_t)p->id[k], &b, 1, 1), 1);
    }
  }
  if (side == SIM_SERVER && !p->written && p->seen[0] && p->seen[1] &&
      p->seen[2]) {
    static uint8_t body[PRIO_SIZE];
    for (int k = 0; k < PRIO_STREAMS; k++) {
      assert_int_equal(
          zttp_quic_conn_stream_set_priority(qc, (uint64_t)p->id[k],
                                             p->urgency[k], p->incremental[k]),
          0);
      assert_int_equal(zttp_quic_conn_stream_write(qc, (uint64_t)p->id[k], body,
                                                   sizeof(body), 1),
                       PRIO_SIZE);
    }
    p->written = 1;
  }
  if (side == SIM_CLIENT) {
    for (int k = 0; k < PRIO_STREAMS; k++) {
      const uint8_t *d;
      int fin;
      int64_t n;
      while (p->id[k] >= 0 && !p->fin[k] &&
             (n = zttp_quic_conn_stream_peek(qc, (uint64_t)p->id[k], &d,
                                             &fin)) >= 0) {
        if (n > 0) {
          assert_int_equal(
              zttp_quic_conn_stream_consume(qc, (uint64_t)p->id[k], (size_t)n),
              0);
          p->received[k] += (uint64_t)n;
        }
        if (fin) { /* |n| bytes run to the end (the stream may go now) */
          p->fin[k] = 1;
          memcpy(p->at_fin[k], p->received, sizeof(p->received));
        }
        if (n == 0 || fin) {
          break;
        }
      }
    }
  }
}

static int prio_done(sim *sm, void *arg) {
  (void)sm;
  const prio *p = arg;
  return p->fin[0] && p->fin[1] && p->fin[2];
}

static void prio_run(prio *p) {
  sim sm;
  assert_int_equal(sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 37, 10, 0, NULL),
                   0);
  p->id[0] = -1;
  sm.on_event = prio_event;
  sm.arg = p;
  assert_int_equal(sim_run(&sm, prio_done, p, 30 * SEC), 1);
  for (int k = 0; k < PRIO_STREAMS; k++) {
    assert_int_equal(p->received[k], PRIO_SIZE);
  }
  sim_free(&sm);
}

/* Lower urgency first, each stream whole before the next. */
static void test_priority_urgency(void **state) {
  (void)state;
  prio p;
  memset(&p, 0, sizeof(p));
  p.urgency[0] = 5;
  p.urgency[1] = 1;
  p.urgency[2] = 3;
  prio_run(&p);
  /* The packet that ends one stream may start the next: less than one. */
  assert_true(p.at_fin[1][0] < ONE_PACKET);
  assert_true(p.at_fin[1][2] < ONE_PACKET);
  assert_true(p.at_fin[2][0] < ONE_PACKET);
}

/* One urgency, non-incremental: in stream-id order. */
static void test_priority_sequential(void **state) {
  (void)state;
  prio p;
  memset(&p, 0, sizeof(p));
  prio_run(&p);
  assert_true(p.at_fin[0][1] < ONE_PACKET);
  assert_true(p.at_fin[0][2] < ONE_PACKET);
  assert_true(p.at_fin[1][2] < ONE_PACKET);
}

/* Incremental streams of one urgency share the bandwidth: when the first
 * finishes, the others are well under way. */
static void test_priority_incremental(void **state) {
  (void)state;
  prio p;
  memset(&p, 0, sizeof(p));
  for (int k = 0; k < PRIO_STREAMS; k++) {
    p.incremental[k] = 1;
  }
  prio_run(&p);
  /* The first to finish: the least delivered in all at its end. */
  int first = 0;
  uint64_t least = UINT64_MAX;
  for (int k = 0; k < PRIO_STREAMS; k++) {
    uint64_t sum = 0;
    for (int j = 0; j < PRIO_STREAMS; j++) {
      sum += p.at_fin[k][j];
    }
    if (sum < least) {
      least = sum;
      first = k;
    }
  }
  for (int k = 0; k < PRIO_STREAMS; k++) {
    assert_true(p.at_fin[first][k] > PRIO_SIZE / 2);
  }
}

static void test_priority_args(void **state) {
  (void)state;
  sim sm;
  assert_int_equal(sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 41, 10, 0, NULL),
                   0);
  assert_int_equal(sim_run(&sm, confirmed, NULL, 10 * SEC), 1);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  int64_t id = zttp_quic_conn_open_stream(c, 1);
  assert_true(id >= 0);
  assert_int_equal(zttp_quic_conn_stream_set_priority(c, (uint64_t)id, 8, 0),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_conn_stream_set_priority(c, (uint64_t)id, 0, 2),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_conn_stream_set_priority(c, 1000, 0, 0),
                   ZTTP_ERR_STREAM_NOT_FOUND);
  assert_int_equal(zttp_quic_conn_stream_set_priority(c, (uint64_t)id, 0, 1),
                   0);
  sim_free(&sm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_datagrams),
      cmocka_unit_test(test_datagram_queues),
      cmocka_unit_test(test_datagram_not_negotiated),
      cmocka_unit_test(test_datagram_violations),
      cmocka_unit_test(test_datagram_loss),
      cmocka_unit_test(test_priority_urgency),
      cmocka_unit_test(test_priority_sequential),
      cmocka_unit_test(test_priority_incremental),
      cmocka_unit_test(test_priority_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
