/* src/quic/rtt.c and src/quic/cc.c against RFC 9002 §5-§7 and RFC 9438:
 * exact windows through slow start, recovery, congestion avoidance and
 * persistent congestion; the CUBIC curve; the pacer's rate.
 * SPDX-License-Identifier: MIT */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "quic/cc.h"
#include "quic/rtt.h"

#define MS ZTTP_QUIC_NS_PER_MS

static void test_rtt(void **state) {
  (void)state;
  zttp_quic_rtt r;
  zttp_quic_rtt_init(&r);
  assert_int_equal(r.smoothed, 333 * MS);
  assert_int_equal(zttp_quic_rtt_pto(&r, 0), 333 * MS + 4 * 166500000ull);
  /* First sample: everything from it (RFC 9002 §5.3). */
  zttp_quic_rtt_update(&r, 100 * MS, 10 * MS, 25 * MS, 0, 1000);
  assert_int_equal(r.min, 100 * MS);
  assert_int_equal(r.smoothed, 100 * MS);
  assert_int_equal(r.var, 50 * MS);
  /* 120 ms with 10 ms of ack delay: adjusted 110 ms. */
  zttp_quic_rtt_update(&r, 120 * MS, 10 * MS, 25 * MS, 1, 2000);
  assert_int_equal(r.smoothed, (7 * 100 * MS + 110 * MS) / 8);
  assert_int_equal(r.var, (3 * 50 * MS + 10 * MS) / 4);
  /* The delay never takes the sample below min_rtt. */
  zttp_quic_rtt r2 = r;
  zttp_quic_rtt_update(&r2, 105 * MS, 20 * MS, 25 * MS, 1, 3000);
  assert_int_equal(r2.smoothed, (7 * r.smoothed + 105 * MS) / 8);
  /* After confirmation the delay is capped at max_ack_delay. */
  r2 = r;
  zttp_quic_rtt_update(&r2, 200 * MS, 90 * MS, 25 * MS, 1, 3000);
  assert_int_equal(r2.smoothed, (7 * r.smoothed + 175 * MS) / 8);
  r2 = r;
  zttp_quic_rtt_update(&r2, 200 * MS, 90 * MS, 25 * MS, 0, 3000);
  assert_int_equal(r2.smoothed, (7 * r.smoothed + 110 * MS) / 8);
  /* min_rtt ignores the delay. */
  zttp_quic_rtt_update(&r, 90 * MS, 50 * MS, 25 * MS, 1, 4000);
  assert_int_equal(r.min, 90 * MS);
  /* PTO: srtt + max(4 * rttvar, 1 ms) + max_ack_delay. */
  r.smoothed = 10 * MS;
  r.var = 0;
  assert_int_equal(zttp_quic_rtt_pto(&r, 25 * MS), 10 * MS + MS + 25 * MS);
}

static void test_newreno(void **state) {
  (void)state;
  zttp_quic_rtt rtt;
  zttp_quic_rtt_init(&rtt);
  zttp_quic_cc cc;
  zttp_quic_cc_init(&cc, ZTTP_QUIC_CC_NEWRENO, 1200);
  /* RFC 9002 §7.2: min(10 * 1200, max(14720, 2400)). */
  assert_int_equal(cc.cwnd, 12000);
  assert_int_equal(zttp_quic_cc_min_window(&cc), 2400);
  for (int i = 0; i < 10; i++) {
    zttp_quic_cc_on_sent(&cc, 1200, 100 + i);
  }
  assert_int_equal(zttp_quic_cc_window_left(&cc), 0);
  /* Slow start: every acknowledged byte grows the window. */
  zttp_quic_cc_on_acked(&cc, 1200, 100, &rtt, 0, 200);
  assert_int_equal(cc.cwnd, 13200);
  assert_int_equal(cc.bytes_in_flight, 10800);
  /* A loss halves it once per recovery period. */
  zttp_quic_cc_on_removed(&cc, 1200);
  zttp_quic_cc_on_congestion(&cc, 101, 300);
  assert_int_equal(cc.cwnd, 6600);
  assert_int_equal(cc.ssthresh, 6600);
  zttp_quic_cc_on_congestion(&cc, 102, 301); /* sent before: no effect */
  assert_int_equal(cc.cwnd, 6600);
  /* Packets sent before recovery started do not grow the window. */
  zttp_quic_cc_on_acked(&cc, 1200, 105, &rtt, 0, 310);
  assert_int_equal(cc.cwnd, 6600);
  assert_int_equal(cc.in_recovery, 1);
  /* One sent after it ends recovery and counts toward avoidance growth. */
  zttp_quic_cc_on_sent(&cc, 1200, 320);
  zttp_quic_cc_on_acked(&cc, 1200, 320, &rtt, 0, 400);
  assert_int_equal(cc.in_recovery, 0);
  assert_int_equal(cc.cwnd, 6600);
  /* Congestion avoidance: +1200 once a window's worth is acknowledged. */
  for (int i = 0; i < 5; i++) {
    zttp_quic_cc_on_sent(&cc, 1200, 500);
    zttp_quic_cc_on_acked(&cc, 1200, 500, &rtt, 0, 600);
  }
  assert_int_equal(cc.cwnd, 7800);
  /* Application-limited: no growth. */
  zttp_quic_cc_on_sent(&cc, 1200, 700);
  zttp_quic_cc_on_acked(&cc, 1200, 700, &rtt, 1, 800);
  assert_int_equal(cc.ca_acked, 600);
  assert_int_equal(cc.cwnd, 7800);
  zttp_quic_cc_on_persistent_congestion(&cc);
  assert_int_equal(cc.cwnd, 2400);
  /* A new loss after persistent congestion is a new recovery period. */
  zttp_quic_cc_on_congestion(&cc, 900, 1000);
  assert_int_equal(cc.cwnd, 2400); /* never below the minimum */
}

/* RFC 9438: after a loss at W, the window follows
 * W_cubic(t) = C (t - K)^3 + W_max, reaching W_max at t = K, with K =
 * cbrt(W_max (1 - beta) / C) in segments. Drive one ACK per packet per RTT
 * (100 ms, where the cubic curve is above the Reno estimate) and compare
 * at a few points. */
static void test_cubic_curve(void **state) {
  (void)state;
  zttp_quic_rtt rtt;
  zttp_quic_rtt_init(&rtt);
  rtt.smoothed = 100 * MS;
  zttp_quic_cc cc;
  zttp_quic_cc_init(&cc, ZTTP_QUIC_CC_CUBIC, 1000);
  cc.ssthresh = 0;   /* straight to congestion avoidance */
  cc.cwnd = 1000000; /* 1000 segments */
  zttp_quic_cc_on_congestion(&cc, 1, 1 * MS);
  assert_int_equal(cc.cwnd, 700000);
  assert_int_equal(cc.ssthresh, 700000);
  double k = cbrt(1000.0 * 0.3 / 0.4); /* ~9.09 s */
  zttp_tstamp now = 2 * MS;
  zttp_tstamp start = 0;
  double at_k = 0, at_half = 0, at_2k = 0;
  while (now < (zttp_tstamp)(2.2 * k * 1e9)) {
    uint64_t w = cc.cwnd;
    /* One RTT: a window of packets, all acknowledged. */
    for (uint64_t sent = 0; sent < w; sent += 1000) {
      zttp_quic_cc_on_sent(&cc, 1000, now);
      zttp_quic_cc_on_acked(&cc, 1000, now, &rtt, 0, now + 100 * MS);
    }
    if (start == 0) {
      start = cc.t_epoch;
    }
    now += 100 * MS;
    double t = (double)(now - start) / 1e9;
    if (at_half == 0 && t >= k / 2) {
      at_half = (double)cc.cwnd;
    }
    if (at_k == 0 && t >= k) {
      at_k = (double)cc.cwnd;
    }
    if (at_2k == 0 && t >= 2 * k) {
      at_2k = (double)cc.cwnd;
    }
  }
  /* Concave: at K/2 the window is within 5% of the curve (above it if the
   * Reno-friendly estimate is higher). At K, near W_max; at 2K the convex
   * region has probed past it. */
  double curve_half = 0.4 * pow(k / 2 - k, 3) * 1000 + 1000000;
  assert_true(at_half > curve_half * 0.95);
  assert_true(at_k > 980000 && at_k < 1030000);
  assert_true(at_2k > 1200000);
}

/* RFC 9438 §4.3: at a short RTT, Reno grows faster than the curve and the
 * window follows W_est: 3(1-b)/(1+b) segments per RTT, then 1 once it
 * passes the window before the reduction. */
static void test_cubic_reno_friendly(void **state) {
  (void)state;
  zttp_quic_rtt rtt;
  zttp_quic_rtt_init(&rtt);
  rtt.smoothed = 10 * MS;
  zttp_quic_cc cc;
  zttp_quic_cc_init(&cc, ZTTP_QUIC_CC_CUBIC, 1000);
  cc.ssthresh = 0;
  cc.cwnd = 1000000;
  zttp_quic_cc_on_congestion(&cc, 1, 1 * MS);
  zttp_tstamp now = 2 * MS;
  for (int r = 0; r < 1200; r++) {
    uint64_t w = cc.cwnd;
    for (uint64_t sent = 0; sent < w; sent += 1000) {
      zttp_quic_cc_on_sent(&cc, 1000, now);
      zttp_quic_cc_on_acked(&cc, 1000, now, &rtt, 0, now + 10 * MS);
    }
    now += 10 * MS;
  }
  /* Past W_max the window is W_est, growing 1 segment per RTT: about
   * 1000 segments + 100 per second beyond the point it reached W_max. */
  assert_true(cc.cwnd >= (uint64_t)cc.w_est - 1);
  assert_true(cc.cwnd > 1500000 && cc.cwnd < 1900000);
}

static void test_pacing(void **state) {
  (void)state;
  zttp_quic_rtt rtt;
  zttp_quic_rtt_init(&rtt);
  rtt.smoothed = 100 * MS;
  zttp_quic_cc cc;
  zttp_quic_cc_init(&cc, ZTTP_QUIC_CC_NEWRENO, 1200);
  zttp_tstamp now = 1000 * MS;
  /* A burst of an initial window leaves at once. */
  for (int i = 0; i < 10; i++) {
    assert_int_equal(zttp_quic_cc_pacing_time(&cc, &rtt, 1200, now), now);
    zttp_quic_cc_on_paced(&cc, 1200);
  }
  /* Then 1.25 * 12000 B / 100 ms = 150 B/ms: 1200 B every 8 ms. */
  zttp_tstamp t = zttp_quic_cc_pacing_time(&cc, &rtt, 1200, now);
  assert_true(t >= now + 8 * MS && t <= now + 8 * MS + 2);
  assert_int_equal(zttp_quic_cc_pacing_time(&cc, &rtt, 1200, now + 8 * MS),
                   now + 8 * MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rtt),
      cmocka_unit_test(test_newreno),
      cmocka_unit_test(test_cubic_curve),
      cmocka_unit_test(test_cubic_reno_friendly),
      cmocka_unit_test(test_pacing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
