/* Flow-control signalling, window autotuning, pacing and packet-number
 * skipping of the connection core in the in-memory network (sim.h):
 *   - DATA_BLOCKED, STREAM_DATA_BLOCKED and STREAMS_BLOCKED (RFC 9000 §4.1,
 *     §4.6, §19.12-§19.14) sent once per limit and counted by the peer;
 *   - receive windows that double when the peer uses half of one within
 *     two RTTs, up to the configured ceilings, and never without them;
 *   - pacing (RFC 9002 §7.7): bursts bounded by the initial window;
 *   - skipped packet numbers (RFC 9000 §21.4): an ACK of one is an
 *     optimistic ACK, closed with PROTOCOL_VIOLATION.
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
#include "quic/conn_internal.h"
#include "quic/error.h"
#include "sim.h"
#include "xfer.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define SEC 1000000000ULL
#define MS 1000000ULL

static int quiet(sim *sm, void *arg) {
  zttp_tstamp *until = arg;
  return sm->now >= *until;
}

static void run_for(sim *sm, zttp_tstamp d) {
  zttp_tstamp until = sm->now + d;
  assert_true(sim_run(sm, quiet, &until, d) >= 0);
  if (sm->now < until) {
    sm->now = until;
  }
}

static void setup(sim *sm, xfer1 *x, uint64_t size, uint32_t backend,
                  uint32_t loss_ppm) {
  assert_int_equal(sim_init(sm, backend, ZTTP_TEST_PKI, 11, 10, loss_ppm, NULL),
                   0);
  xfer1_init(x, sm, size);
}

/* ---- BLOCKED frames ------------------------------------------------------
 */

/* The client reads nothing: the server's stream stops at the client's
 * stream window, then (with a larger stream window) at its connection
 * window. Each limit is reported once; after the client reads, the
 * transfer completes. */
static void blocked(int conn_level) {
  sim sm;
  xfer1 x;
  setup(&sm, &x, 256 * 1024, ZTTP_TLS_NULL, 0);
  /* Autotuning off: the limits stay where they are. */
  if (conn_level) {
    sm.settings.max_data = 8192;
    sm.settings.max_stream_data = 65536;
  } else {
    sm.settings.max_stream_data = 4096;
  }
  sm.settings.max_data_window = sm.settings.max_data;
  sm.settings.max_stream_data_window = sm.settings.max_stream_data;
  /* The client was created by sim_init with the defaults: again. */
  zttp_quic_conn_free(sm.conn[SIM_CLIENT]);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_new(
                       &sm.conn[SIM_CLIENT], sm.mem, &sm.settings, ZTTP_CLIENT,
                       sm.ctx[SIM_CLIENT], "localhost", NULL, &path, sm.now),
                   0);
  x.client_reads = 0;
  run_for(&sm, 2 * SEC);
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  assert_true(x.server_ready);
  qc_stream *st = qc_stream_find(s, (uint64_t)x.stream_id);
  assert_non_null(st);
  if (conn_level) {
    assert_int_equal(s->data_sent, 8192);
    assert_int_equal(s->blocked_at, 8192);
    assert_int_equal(st->blocked_at, QC_NOT_BLOCKED);
  } else {
    assert_int_equal(st->sb.sent, 4096);
    assert_int_equal(st->blocked_at, 4096);
    assert_int_equal(s->blocked_at, QC_NOT_BLOCKED);
  }
  /* Once per limit, however long the stall. */
  assert_int_equal(zttp_quic_conn_get_stats(s)->blocked_sent, 1);
  assert_int_equal(zttp_quic_conn_get_stats(c)->blocked_recv, 1);
  x.client_reads = 1;
  xfer1_read(&sm, &x);
  assert_int_equal(sim_run(&sm, xfer1_done, &x, 60 * SEC), 1);
  assert_int_equal(x.mismatch, 0);
  printf("# blocked (%s): %llu BLOCKED frames sent for %llu bytes\n",
         conn_level ? "connection" : "stream",
         (unsigned long long)zttp_quic_conn_get_stats(s)->blocked_sent,
         (unsigned long long)x.received);
  sim_free(&sm);
}

static void test_stream_data_blocked(void **state) {
  (void)state;
  blocked(0);
}

static void test_data_blocked(void **state) {
  (void)state;
  blocked(1);
}

static int confirmed(sim *sm, void *arg) {
  (void)arg;
  return sm->conn[SIM_SERVER] != NULL &&
         zttp_quic_conn_handshake_confirmed(sm->conn[SIM_CLIENT]);
}

/* Opening past the peer's MAX_STREAMS: ZTTP_ERR_STREAM_LIMIT and one
 * STREAMS_BLOCKED with that limit (RFC 9000 §19.14). */
static void test_streams_blocked(void **state) {
  (void)state;
  sim sm;
  assert_int_equal(sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 5, 10, 0, NULL),
                   0);
  sm.settings.max_streams_bidi = 2;
  assert_int_equal(sim_run(&sm, confirmed, NULL, 10 * SEC), 1);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  assert_int_equal(zttp_quic_conn_open_stream(c, 1), 0);
  assert_int_equal(zttp_quic_conn_open_stream(c, 1), 4);
  assert_int_equal(zttp_quic_conn_open_stream(c, 1), ZTTP_ERR_STREAM_LIMIT);
  assert_int_equal(zttp_quic_conn_open_stream(c, 1), ZTTP_ERR_STREAM_LIMIT);
  assert_int_equal(c->streams_blocked_at[0], 2);
  run_for(&sm, 200 * MS);
  assert_int_equal(zttp_quic_conn_get_stats(c)->blocked_sent, 1);
  assert_int_equal(zttp_quic_conn_get_stats(sm.conn[SIM_SERVER])->blocked_recv,
                   1);
  sim_free(&sm);
}

/* ---- autotuning ----------------------------------------------------------
 */

typedef struct tune_probe {
  xfer1 *x;
  uint64_t max_stream_win; /* the client's, seen during the transfer */
} tune_probe;

static int tune_done(sim *sm, void *arg) {
  tune_probe *tp = arg;
  if (tp->x->stream_id >= 0) {
    const qc_stream *st =
        qc_stream_find(sm->conn[SIM_CLIENT], (uint64_t)tp->x->stream_id);
    if (st != NULL && st->win > tp->max_stream_win) {
      tp->max_stream_win = st->win;
    }
  }
  return xfer1_done(sm, tp->x);
}

/* 8 MiB over 100 Mbit/s with 40 ms of RTT (a 500 KB path): with the
 * default 256 KiB stream window the receiver limits the sender, so the
 * windows grow (to no more than the ceilings); without ceilings above the
 * initial windows they never move and the transfer takes longer. */
static zttp_tstamp tune(int on, uint64_t *stream_win, uint64_t *conn_win) {
  sim sm;
  xfer1 x;
  assert_int_equal(sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 13, 20, 0, NULL),
                   0);
  sm.link[0].bandwidth = sm.link[1].bandwidth = 12500000;
  sm.settings.stream_send_buffer = 4u << 20;
  sm.settings.max_stream_data_window = on ? 2u << 20 : 0;
  sm.settings.max_data_window = on ? 3u << 20 : 0;
  zttp_quic_conn_free(sm.conn[SIM_CLIENT]);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_new(
                       &sm.conn[SIM_CLIENT], sm.mem, &sm.settings, ZTTP_CLIENT,
                       sm.ctx[SIM_CLIENT], "localhost", NULL, &path, sm.now),
                   0);
  xfer1_init(&x, &sm, 8u << 20);
  tune_probe tp = {&x, 0};
  zttp_tstamp start = sm.now;
  assert_int_equal(sim_run(&sm, tune_done, &tp, 120 * SEC), 1);
  assert_int_equal(x.mismatch, 0);
  *stream_win = tp.max_stream_win;
  *conn_win = sm.conn[SIM_CLIENT]->win;
  zttp_tstamp took = sm.now - start;
  printf("# autotune %s: 8 MiB in %.3f s virtual (%.2f MB/s), stream window "
         "%llu, connection window %llu\n",
         on ? "on" : "off", (double)took / 1e9,
         (double)(8u << 20) / ((double)took / 1e9) / 1e6,
         (unsigned long long)*stream_win, (unsigned long long)*conn_win);
  sim_free(&sm);
  return took;
}

static void test_autotune(void **state) {
  (void)state;
  uint64_t sw_on, cw_on, sw_off, cw_off;
  zttp_tstamp t_on = tune(1, &sw_on, &cw_on);
  zttp_tstamp t_off = tune(0, &sw_off, &cw_off);
  zttp_quic_settings d;
  zttp_quic_settings_default(&d);
  assert_int_equal(sw_off, d.max_stream_data);
  assert_int_equal(cw_off, d.max_data);
  assert_true(sw_on > d.max_stream_data);
  assert_true(sw_on <= 2u << 20);
  assert_true(cw_on > d.max_data);
  assert_true(cw_on <= 3u << 20);
  /* Virtual time: deterministic for the seed. */
  assert_true(t_on < t_off);
}

/* ---- manual credit -------------------------------------------------------
 */

/* With manual_credit, reading does not move the windows: the sender stops
 * at the stream window until the application credits what it read. */
static void test_manual_credit(void **state) {
  (void)state;
  sim sm;
  xfer1 x;
  setup(&sm, &x, 1u << 20, ZTTP_TLS_NULL, 0);
  sm.settings.manual_credit = 1;
  sm.settings.max_stream_data_window = 0;
  zttp_quic_conn_free(sm.conn[SIM_CLIENT]);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_new(
                       &sm.conn[SIM_CLIENT], sm.mem, &sm.settings, ZTTP_CLIENT,
                       sm.ctx[SIM_CLIENT], "localhost", NULL, &path, sm.now),
                   0);
  sm.settings.manual_credit = 0; /* the server */
  run_for(&sm, 2 * SEC);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  uint64_t window = sm.settings.max_stream_data;
  assert_int_equal(x.received, window);
  uint64_t id = (uint64_t)x.stream_id;
  assert_int_equal(zttp_quic_conn_stream_credit(c, id, window + 1),
                   ZTTP_ERR_INVALID_ARGUMENT);
  uint64_t credited = 0;
  while (!xfer1_done(&sm, &x)) {
    uint64_t owed = x.received - credited;
    if (owed > 0) {
      assert_int_equal(zttp_quic_conn_stream_credit(c, id, (size_t)owed), 0);
      credited += owed;
    }
    run_for(&sm, 50 * MS);
    if (sm.now > 60 * SEC) {
      fail_msg("no progress with credit");
    }
  }
  assert_int_equal(x.mismatch, 0);
  sim_free(&sm);
}

/* ---- pacing --------------------------------------------------------------
 */

typedef struct burst_probe {
  xfer1 *x;
  zttp_tstamp at;
  uint64_t base; /* server datagrams before |at| */
  uint64_t max;  /* the most sent at one instant */
} burst_probe;

static int burst_done(sim *sm, void *arg) {
  burst_probe *bp = arg;
  uint64_t n = sm->link[SIM_SERVER].dgrams;
  if (sm->now != bp->at) {
    bp->at = sm->now;
    bp->base = n;
  } else if (n - bp->base > bp->max) {
    bp->max = n - bp->base;
  }
  return xfer1_done(sm, bp->x);
}

static uint64_t max_burst(int pacing) {
  sim sm;
  xfer1 x;
  assert_int_equal(sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 17, 20, 0, NULL),
                   0);
  sm.settings.pacing = (uint32_t)pacing;
  zttp_quic_conn_free(sm.conn[SIM_CLIENT]);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_new(
                       &sm.conn[SIM_CLIENT], sm.mem, &sm.settings, ZTTP_CLIENT,
                       sm.ctx[SIM_CLIENT], "localhost", NULL, &path, sm.now),
                   0);
  xfer1_init(&x, &sm, 2u << 20);
  burst_probe bp = {&x, 0, 0, 0};
  zttp_tstamp start = sm.now;
  assert_int_equal(sim_run(&sm, burst_done, &bp, 60 * SEC), 1);
  assert_int_equal(x.mismatch, 0);
  printf("# pacing %s: 2 MiB in %.3f s virtual, at most %llu server "
         "datagrams at one instant, cwnd %llu\n",
         pacing ? "on" : "off", (double)(sm.now - start) / 1e9,
         (unsigned long long)bp.max,
         (unsigned long long)zttp_quic_conn_cwnd(sm.conn[SIM_SERVER]));
  sim_free(&sm);
  return bp.max;
}

/* With pacing, no instant sees more than the burst allowance (an initial
 * window, 14720 bytes: 10 full datagrams, plus ACK-only ones); without it,
 * whole congestion windows leave at once. */
static void test_pacing(void **state) {
  (void)state;
  uint64_t paced = max_burst(1);
  uint64_t unpaced = max_burst(0);
  assert_true(paced <= 12);
  assert_true(unpaced > 2 * paced);
}

/* ---- packet-number skipping ---------------------------------------------
 */

/* The server skips packet numbers as it sends; none of them is ever sent
 * or acknowledged. A client that acknowledges one is lying (an optimistic
 * ACK): PROTOCOL_VIOLATION. */
static void test_optimistic_ack(void **state) {
  (void)state;
  sim sm;
  xfer1 x;
  setup(&sm, &x, 2u << 20, ZTTP_TLS_NULL, 0);
  assert_int_equal(sim_run(&sm, xfer1_done, &x, 60 * SEC), 1);
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  const zttp_quic_rec_space *sp = &s->rec.sp[ZTTP_QUIC_SPACE_APP];
  assert_true(sp->num_skipped >= 1);
  uint64_t skipped = sp->skipped[sp->num_skipped - 1];
  printf("# %llu packets sent, last skipped packet number %llu\n",
         (unsigned long long)zttp_quic_conn_get_stats(s)->pkts_sent,
         (unsigned long long)skipped);
  assert_true(skipped < s->next_pn[ZTTP_QUIC_SPACE_APP]);
  /* ACK: Largest Acknowledged = the skipped number, delay 0, no more
   * ranges, First ACK Range 0. */
  uint8_t f[32];
  uint8_t *p = f;
  *p++ = 0x02;
  p = zttp_varint_put(p, skipped);
  p = zttp_varint_put(p, 0);
  p = zttp_varint_put(p, 0);
  p = zttp_varint_put(p, 0);
  uint8_t pkt[1500];
  size_t n = qc_test_packet(sm.conn[SIM_CLIENT], pkt, sizeof(pkt),
                            ZTTP_QUIC_SPACE_APP, f, (size_t)(p - f));
  assert_true(n > 0);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_recv(s, pkt, n, &path, sm.now),
                   ZTTP_ERR_PROTOCOL);
  assert_int_equal(s->close_code, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  sim_free(&sm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream_data_blocked),
      cmocka_unit_test(test_data_blocked),
      cmocka_unit_test(test_streams_blocked),
      cmocka_unit_test(test_autotune),
      cmocka_unit_test(test_manual_credit),
      cmocka_unit_test(test_pacing),
      cmocka_unit_test(test_optimistic_ack),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
