/* SPDX-License-Identifier: MIT */
#include "quic/rtt.h"

void zttp_quic_rtt_init(zttp_quic_rtt *r) {
  r->latest = 0;
  r->min = 0;
  r->smoothed = ZTTP_QUIC_INITIAL_RTT;
  r->var = ZTTP_QUIC_INITIAL_RTT / 2;
  r->first_sample_time = 0;
  r->has_sample = 0;
}

void zttp_quic_rtt_update(zttp_quic_rtt *r, uint64_t latest_rtt,
                          uint64_t ack_delay, uint64_t max_ack_delay,
                          int handshake_confirmed, zttp_tstamp now) {
  r->latest = latest_rtt;
  if (!r->has_sample) {
    /* RFC 9002 §5.3: the first sample initialises everything. */
    r->has_sample = 1;
    r->first_sample_time = now;
    r->min = latest_rtt;
    r->smoothed = latest_rtt;
    r->var = latest_rtt / 2;
    return;
  }
  if (latest_rtt < r->min) {
    r->min = latest_rtt; /* RFC 9002 §5.2: without ack delay */
  }
  if (handshake_confirmed && ack_delay > max_ack_delay) {
    ack_delay = max_ack_delay;
  }
  uint64_t adjusted = latest_rtt;
  if (latest_rtt >= r->min + ack_delay) {
    adjusted = latest_rtt - ack_delay;
  }
  uint64_t diff =
      r->smoothed > adjusted ? r->smoothed - adjusted : adjusted - r->smoothed;
  r->var = (3 * r->var + diff) / 4;
  r->smoothed = (7 * r->smoothed + adjusted) / 8;
}

uint64_t zttp_quic_rtt_pto(const zttp_quic_rtt *r, uint64_t max_ack_delay) {
  uint64_t v = 4 * r->var;
  if (v < ZTTP_QUIC_GRANULARITY) {
    v = ZTTP_QUIC_GRANULARITY;
  }
  return r->smoothed + v + max_ack_delay;
}
