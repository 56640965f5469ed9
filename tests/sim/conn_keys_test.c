/* Key update (RFC 9001 §6) in the in-memory network (sim.h): a 1 MiB
 * transfer each way with an update initiated by the client at a third and
 * by the server at two thirds, exact bytes; a reordered packet of the
 * previous phase still opened within 3 PTO and dropped after; updates
 * refused before confirmation and before acknowledgment (§6.5).
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
#define XFER_SIZE (1u << 20)

static uint8_t pattern(int side, uint64_t off) {
  uint64_t x = off * 2654435761u + (uint64_t)side * 977u;
  return (uint8_t)(x ^ (x >> 13) ^ (off >> 8));
}

typedef struct ku_xfer {
  int hs_done[2];
  int closed[2];
  int opened;
  uint64_t id;
  uint64_t sent[2];
  int fin_sent[2];
  uint64_t recvd[2];
  int fin_recvd[2];
  int mismatch;
  int updated[2]; /* this side initiated its update */
  int32_t update_rv[2];
  int passive; /* only record events: no transfer, no updates */
} ku_xfer;

static void pump(sim *sm, ku_xfer *x, int side) {
  uint8_t buf[16384];
  while (!x->fin_sent[side]) {
    size_t n = sizeof(buf);
    if (XFER_SIZE - x->sent[side] < n) {
      n = (size_t)(XFER_SIZE - x->sent[side]);
    }
    for (size_t k = 0; k < n; k++) {
      buf[k] = pattern(side, x->sent[side] + k);
    }
    int fin = x->sent[side] + n == XFER_SIZE;
    int64_t took =
        zttp_quic_conn_stream_write(sm->conn[side], x->id, buf, n, fin);
    assert_true(took >= 0);
    x->sent[side] += (uint64_t)took;
    if ((size_t)took == n && fin) {
      x->fin_sent[side] = 1;
    }
    if ((size_t)took < n) {
      return;
    }
  }
}

static void read_all(sim *sm, ku_xfer *x, int side, uint64_t id) {
  for (;;) {
    const uint8_t *p;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(sm->conn[side], id, &p, &fin);
    if (n <= 0) {
      return;
    }
    for (int64_t k = 0; k < n; k++) {
      if (p[k] != pattern(1 - side, x->recvd[side] + (uint64_t)k)) {
        x->mismatch++;
      }
    }
    assert_int_equal(
        zttp_quic_conn_stream_consume(sm->conn[side], id, (size_t)n), 0);
    x->recvd[side] += (uint64_t)n;
    if (fin) {
      x->fin_recvd[side] = 1;
      return;
    }
  }
}

static void on_event(sim *sm, int side, const zttp_quic_event *ev, void *arg) {
  ku_xfer *x = arg;
  if (ev == NULL && x->passive) {
    return;
  }
  if (ev == NULL) {
    if (side == SIM_CLIENT && x->hs_done[0] && !x->opened) {
      int64_t id = zttp_quic_conn_open_stream(sm->conn[SIM_CLIENT], 1);
      assert_true(id >= 0);
      x->id = (uint64_t)id;
      x->opened = 1;
    }
    if (x->opened && (side == SIM_CLIENT || x->hs_done[1])) {
      if (side == SIM_CLIENT || x->recvd[SIM_SERVER] > 0) {
        pump(sm, x, side);
      }
    }
    /* The client initiates at a third of what it receives, the server at
     * two thirds. */
    uint64_t at = side == SIM_CLIENT ? XFER_SIZE / 3 : 2 * (XFER_SIZE / 3);
    if (!x->updated[side] && x->recvd[side] >= at) {
      /* RFC 9001 §6.5: refused while the previous update is not yet
       * acknowledged (likely under loss); an application retries. */
      x->update_rv[side] = zttp_quic_conn_update_keys(sm->conn[side], sm->now);
      if (x->update_rv[side] != ZTTP_ERR_INVALID_STATE) {
        x->updated[side] = 1;
      }
    }
    return;
  }
  switch (ev->kind) {
  case ZTTP_QUIC_EV_HANDSHAKE_DONE:
    x->hs_done[side] = 1;
    break;
  case ZTTP_QUIC_EV_STREAM_READABLE:
    read_all(sm, x, side, ev->stream_id);
    break;
  case ZTTP_QUIC_EV_CLOSED:
    x->closed[side] = 1;
    break;
  default:
    break;
  }
}

static int xfer_done(sim *sm, void *arg) {
  ku_xfer *x = arg;
  (void)sm;
  return x->closed[0] || x->closed[1] || (x->fin_recvd[0] && x->fin_recvd[1]);
}

static int confirmed(sim *sm, void *arg) {
  ku_xfer *x = arg;
  return x->hs_done[0] && x->hs_done[1] &&
         zttp_quic_conn_handshake_confirmed(sm->conn[SIM_CLIENT]);
}

static void setup(sim *sm, ku_xfer *x, uint32_t loss_ppm) {
  memset(x, 0, sizeof(*x));
  assert_int_equal(
      sim_init(sm, ZTTP_TLS_BORINGSSL, ZTTP_TEST_PKI, 7, 10, loss_ppm, NULL),
      0);
  sm->on_event = on_event;
  sm->arg = x;
}

static void key_update_transfer(uint32_t loss_ppm) {
  sim sm;
  ku_xfer *x = calloc(1, sizeof(*x));
  assert_non_null(x);
  setup(&sm, x, loss_ppm);
  sm.link[0].bandwidth = sm.link[1].bandwidth = 12500000;
  assert_int_equal(sim_run(&sm, xfer_done, x, 600 * SEC), 1);
  assert_false(x->closed[0] || x->closed[1]);
  assert_int_equal(x->mismatch, 0);
  assert_int_equal(x->recvd[0], XFER_SIZE);
  assert_int_equal(x->recvd[1], XFER_SIZE);
  assert_true(x->updated[0] && x->updated[1]);
  assert_int_equal(x->update_rv[0], 0);
  assert_int_equal(x->update_rv[1], 0);
  /* Let the last acknowledgments settle; then both moved twice. */
  for (int side = 0; side < 2; side++) {
    assert_int_equal(zttp_quic_conn_key_updates(sm.conn[side]), 2);
    assert_int_equal(zttp_quic_conn_key_phase(sm.conn[side]), 0);
    assert_int_equal(sm.conn[side]->rx_phase, 0);
  }
  printf(
      "# key update%s: dropped c=%llu s=%llu\n", loss_ppm ? " (loss)" : "",
      (unsigned long long)zttp_quic_conn_get_stats(sm.conn[0])->pkts_dropped,
      (unsigned long long)zttp_quic_conn_get_stats(sm.conn[1])->pkts_dropped);
  sim_free(&sm);
  free(x);
}

static void test_key_update_1mib(void **state) {
  (void)state;
  key_update_transfer(0);
}

static void test_key_update_1mib_loss(void **state) {
  (void)state;
  key_update_transfer(10000);
}

/* RFC 9001 §6.1, §6.5: refused before confirmation and while an update is
 * unacknowledged. */
static void test_key_update_refused(void **state) {
  (void)state;
  sim sm;
  ku_xfer x;
  setup(&sm, &x, 0);
  x.passive = 1;
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  assert_int_equal(zttp_quic_conn_update_keys(c, sm.now),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(sim_run(&sm, confirmed, &x, 10 * SEC), 1);
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  assert_int_equal(zttp_quic_conn_update_keys(c, sm.now), 0);
  assert_int_equal(zttp_quic_conn_key_phase(c), 1);
  assert_int_equal(zttp_quic_conn_update_keys(c, sm.now),
                   ZTTP_ERR_INVALID_STATE);
  /* The server must not initiate either until it answered and was
   * acknowledged: it answers on the first packet of the new phase. */
  uint8_t ping = ZTTP_QUIC_FT_PING;
  uint8_t pkt[1500];
  zttp_path path;
  memset(&path, 0, sizeof(path));
  size_t n = qc_test_packet(c, pkt, sizeof(pkt), ZTTP_QUIC_SPACE_APP, &ping, 1);
  assert_true(n > 0);
  assert_int_equal(zttp_quic_conn_recv(s, pkt, n, &path, sm.now), 0);
  assert_int_equal(zttp_quic_conn_key_phase(s), 1);
  assert_int_equal(zttp_quic_conn_key_updates(s), 1);
  assert_int_equal(zttp_quic_conn_update_keys(s, sm.now),
                   ZTTP_ERR_INVALID_STATE);
  sim_free(&sm);
}

static int quiet(sim *sm, void *arg) {
  zttp_tstamp *until = arg;
  return sm->now >= *until;
}

/* Runs the network until |until|; the clock jumps there when nothing is
 * due before. */
static void run_until(sim *sm, zttp_tstamp until) {
  int rv = sim_run(sm, quiet, &until, until - sm->now);
  assert_true(rv >= 0);
  if (sm->now < until) {
    sm->now = until;
  }
}

/* RFC 9001 §6.5: a packet of the previous phase that arrives late is
 * opened with the kept keys within 3 PTO, and dropped without harm
 * after. */
static void test_key_update_reordered(void **state) {
  (void)state;
  sim sm;
  ku_xfer x;
  setup(&sm, &x, 0);
  x.passive = 1;
  assert_int_equal(sim_run(&sm, confirmed, &x, 10 * SEC), 1);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT], *s = sm.conn[SIM_SERVER];
  /* Two packets of phase 0 held back. */
  uint8_t ping = ZTTP_QUIC_FT_PING;
  uint8_t old1[1500], old2[1500];
  size_t n1 =
      qc_test_packet(c, old1, sizeof(old1), ZTTP_QUIC_SPACE_APP, &ping, 1);
  size_t n2 =
      qc_test_packet(c, old2, sizeof(old2), ZTTP_QUIC_SPACE_APP, &ping, 1);
  assert_true(n1 > 0 && n2 > 0);
  assert_int_equal(zttp_quic_conn_update_keys(c, sm.now), 0);
  /* Phase 1 traffic: a stream with data makes the server switch. */
  int64_t id = zttp_quic_conn_open_stream(c, 1);
  assert_true(id >= 0);
  uint8_t data[100];
  memset(data, 1, sizeof(data));
  assert_int_equal(
      zttp_quic_conn_stream_write(c, (uint64_t)id, data, sizeof(data), 0),
      (int64_t)sizeof(data));
  run_until(&sm, sm.now + 100 * MS);
  assert_int_equal(s->rx_phase, 1);
  assert_int_equal(zttp_quic_conn_key_phase(s), 1);
  assert_non_null(s->rx_prev);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  uint64_t recv0 = zttp_quic_conn_get_stats(s)->pkts_recv;
  assert_int_equal(zttp_quic_conn_recv(s, old1, n1, &path, sm.now), 0);
  assert_int_equal(zttp_quic_conn_get_stats(s)->pkts_recv, recv0 + 1);
  /* Past 3 PTO the old keys are gone: dropped without harm. */
  run_until(&sm, s->rx_prev_until + 1);
  assert_null(s->rx_prev);
  uint64_t drop0 = zttp_quic_conn_get_stats(s)->pkts_dropped;
  assert_int_equal(zttp_quic_conn_recv(s, old2, n2, &path, sm.now), 0);
  assert_int_equal(zttp_quic_conn_get_stats(s)->pkts_dropped, drop0 + 1);
  assert_int_equal(s->rx_phase, 1);
  assert_false(zttp_quic_conn_is_closing(s));
  /* The connection still works in phase 1. */
  assert_int_equal(
      zttp_quic_conn_stream_write(c, (uint64_t)id, data, sizeof(data), 1),
      (int64_t)sizeof(data));
  run_until(&sm, sm.now + 100 * MS);
  assert_int_equal(x.recvd[SIM_SERVER], 2 * sizeof(data));
  assert_true(x.fin_recvd[SIM_SERVER]);
  assert_false(zttp_quic_conn_is_closing(s) || zttp_quic_conn_is_closing(c));
  sim_free(&sm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_update_refused),
      cmocka_unit_test(test_key_update_reordered),
      cmocka_unit_test(test_key_update_1mib),
      cmocka_unit_test(test_key_update_1mib_loss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
