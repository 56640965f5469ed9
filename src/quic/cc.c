/* SPDX-License-Identifier: MIT */
#include "quic/cc.h"

#include <math.h>

/* RFC 9438 §4.1.1, §4.6 */
#define CUBIC_C 0.4
#define CUBIC_BETA 0.7
/* RFC 9002 §7.7: pace at N * cwnd / smoothed_rtt with N = 1.25. */
#define PACING_N 1.25

static uint64_t initial_window(uint64_t mds) {
  uint64_t w = 14720 > 2 * mds ? 14720 : 2 * mds;
  return 10 * mds < w ? 10 * mds : w;
}

void zttp_quic_cc_init(zttp_quic_cc *cc, uint32_t algo,
                       uint64_t max_datagram_size) {
  *cc = (zttp_quic_cc){0};
  cc->algo = algo;
  cc->max_datagram_size = max_datagram_size;
  cc->cwnd = initial_window(max_datagram_size);
  cc->ssthresh = UINT64_MAX;
  cc->pace_tokens = cc->cwnd;
}

void zttp_quic_cc_set_max_datagram_size(zttp_quic_cc *cc,
                                        uint64_t max_datagram_size) {
  if (cc->cwnd == initial_window(cc->max_datagram_size) &&
      cc->ssthresh == UINT64_MAX) {
    cc->cwnd = initial_window(max_datagram_size);
  }
  cc->max_datagram_size = max_datagram_size;
}

uint64_t zttp_quic_cc_min_window(const zttp_quic_cc *cc) {
  return 2 * cc->max_datagram_size;
}

uint64_t zttp_quic_cc_window_left(const zttp_quic_cc *cc) {
  return cc->cwnd > cc->bytes_in_flight ? cc->cwnd - cc->bytes_in_flight : 0;
}

void zttp_quic_cc_on_sent(zttp_quic_cc *cc, uint64_t bytes, zttp_tstamp now) {
  (void)now;
  cc->bytes_in_flight += bytes;
}

void zttp_quic_cc_on_removed(zttp_quic_cc *cc, uint64_t bytes) {
  cc->bytes_in_flight -=
      bytes < cc->bytes_in_flight ? bytes : cc->bytes_in_flight;
}

static double seconds(uint64_t ns) {
  return (double)ns / 1e9;
}

/* RFC 9438 §4.2-§4.5: one new ACK of |bytes| in congestion avoidance. */
static void cubic_acked(zttp_quic_cc *cc, uint64_t bytes,
                        const zttp_quic_rtt *rtt, zttp_tstamp now) {
  double mds = (double)cc->max_datagram_size;
  double cwnd = (double)cc->cwnd;
  if (cc->t_epoch == 0) {
    /* The congestion avoidance stage starts (§4.2, Figure 2). */
    cc->t_epoch = now;
    cc->cwnd_epoch = cwnd;
    cc->w_est = cwnd;
    if (cc->w_max < cwnd) {
      cc->w_max = cwnd;
    }
    cc->k = cbrt((cc->w_max - cwnd) / mds / CUBIC_C);
  }
  double t = seconds(now - cc->t_epoch);
  double w_cubic_now = CUBIC_C * pow(t - cc->k, 3) * mds + cc->w_max;
  double tr = t + seconds(rtt->smoothed);
  double target = CUBIC_C * pow(tr - cc->k, 3) * mds + cc->w_max;
  if (target < cwnd) {
    target = cwnd;
  } else if (target > 1.5 * cwnd) {
    target = 1.5 * cwnd;
  }
  /* §4.3 Figure 4, in bytes; alpha becomes 1 once W_est reaches the
   * window before the last reduction. */
  double alpha = cc->w_est >= cc->cwnd_prior
                     ? 1.0
                     : 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
  cc->w_est += alpha * mds * (double)bytes / cwnd;
  double next;
  if (w_cubic_now < cc->w_est) {
    next = cc->w_est > cwnd ? cc->w_est : cwnd; /* Reno-friendly region */
  } else {
    next = cwnd + (target - cwnd) * (double)bytes / cwnd; /* §4.4, §4.5 */
  }
  if (next > (double)UINT64_MAX / 2) {
    next = (double)UINT64_MAX / 2;
  }
  cc->cwnd = (uint64_t)next;
}

void zttp_quic_cc_on_acked(zttp_quic_cc *cc, uint64_t bytes,
                           zttp_tstamp sent_time, const zttp_quic_rtt *rtt,
                           int app_limited, zttp_tstamp now) {
  zttp_quic_cc_on_removed(cc, bytes);
  if (cc->in_recovery) {
    /* RFC 9002 §7.3.2: recovery ends when a packet sent after it started
     * is acknowledged; earlier ones do not grow the window. */
    if (sent_time <= cc->recovery_start) {
      return;
    }
    cc->in_recovery = 0;
  }
  if (app_limited) {
    return; /* RFC 9002 §7.8 */
  }
  if (cc->cwnd < cc->ssthresh) {
    cc->cwnd += bytes; /* slow start, RFC 9002 §7.3.1 */
    return;
  }
  if (cc->algo == ZTTP_QUIC_CC_CUBIC) {
    cubic_acked(cc, bytes, rtt, now);
    return;
  }
  /* RFC 9002 §7.3.3: one max_datagram_size per window acknowledged. */
  cc->ca_acked += bytes;
  if (cc->ca_acked >= cc->cwnd) {
    cc->ca_acked -= cc->cwnd;
    cc->cwnd += cc->max_datagram_size;
  }
}

void zttp_quic_cc_on_congestion(zttp_quic_cc *cc, zttp_tstamp sent_time,
                                zttp_tstamp now) {
  if (cc->in_recovery && sent_time <= cc->recovery_start) {
    return; /* one reduction per recovery period */
  }
  cc->in_recovery = 1;
  cc->recovery_start = now;
  uint64_t min = zttp_quic_cc_min_window(cc);
  if (cc->algo == ZTTP_QUIC_CC_CUBIC) {
    double cwnd = (double)cc->cwnd;
    /* RFC 9438 §4.7 fast convergence, §4.6 reduction. */
    cc->w_max = cwnd < cc->w_max ? cwnd * (1.0 + CUBIC_BETA) / 2.0 : cwnd;
    cc->cwnd_prior = cwnd;
    uint64_t ss = (uint64_t)(cwnd * CUBIC_BETA);
    cc->ssthresh = ss > min ? ss : min;
    cc->t_epoch = 0;
  } else {
    uint64_t ss = cc->cwnd / 2; /* kLossReductionFactor 0.5 */
    cc->ssthresh = ss > min ? ss : min;
    cc->ca_acked = 0;
  }
  cc->cwnd = cc->ssthresh;
}

void zttp_quic_cc_on_persistent_congestion(zttp_quic_cc *cc) {
  cc->cwnd = zttp_quic_cc_min_window(cc);
  cc->in_recovery = 0;
  cc->recovery_start = 0;
  cc->ca_acked = 0;
  cc->t_epoch = 0;
}

zttp_tstamp zttp_quic_cc_pacing_time(zttp_quic_cc *cc, const zttp_quic_rtt *rtt,
                                     uint64_t bytes, zttp_tstamp now) {
  uint64_t srtt = rtt->smoothed > 0 ? rtt->smoothed : 1;
  /* The burst allowance: an initial window (RFC 9002 §7.7). */
  uint64_t burst = initial_window(cc->max_datagram_size);
  if (now > cc->pace_last) {
    double add = (double)(now - cc->pace_last) * PACING_N * (double)cc->cwnd /
                 (double)srtt;
    double t = (double)cc->pace_tokens + add;
    cc->pace_tokens = t > (double)burst ? burst : (uint64_t)t;
    cc->pace_last = now;
  }
  if (cc->pace_tokens >= bytes) {
    return now;
  }
  double wait = (double)(bytes - cc->pace_tokens) * (double)srtt /
                (PACING_N * (double)cc->cwnd);
  return now + (zttp_tstamp)wait + 1;
}

void zttp_quic_cc_on_paced(zttp_quic_cc *cc, uint64_t bytes) {
  cc->pace_tokens -= bytes < cc->pace_tokens ? bytes : cc->pace_tokens;
}
