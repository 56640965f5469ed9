/* Round-trip time estimation (RFC 9002 §5) and the probe timeout it gives
 * (RFC 9002 §6.2.1). Times are zttp_tstamp nanoseconds.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_RTT_H
#define ZTTP_QUIC_RTT_H

#include "zttp/zttp.h"

#define ZTTP_QUIC_NS_PER_MS 1000000ull
#define ZTTP_QUIC_NS_PER_SEC 1000000000ull
/* RFC 9002 §6.2.2: 333 ms before any sample. */
#define ZTTP_QUIC_INITIAL_RTT (333 * ZTTP_QUIC_NS_PER_MS)
/* RFC 9002 §6.1.2 kGranularity. */
#define ZTTP_QUIC_GRANULARITY ZTTP_QUIC_NS_PER_MS

typedef struct zttp_quic_rtt {
  uint64_t latest;
  uint64_t min;
  uint64_t smoothed;
  uint64_t var;
  zttp_tstamp first_sample_time; /* 0: no sample yet */
  int has_sample;
} zttp_quic_rtt;

void zttp_quic_rtt_init(zttp_quic_rtt *r);

/* zttp_quic_rtt_update takes the sample |latest_rtt| of a newly acknowledged
 * ack-eliciting largest packet (RFC 9002 §5.1) with the peer's reported
 * |ack_delay|; after the handshake is confirmed the delay is capped at
 * |max_ack_delay| (RFC 9002 §5.3) and it never brings the adjusted sample
 * below min_rtt. */
void zttp_quic_rtt_update(zttp_quic_rtt *r, uint64_t latest_rtt,
                          uint64_t ack_delay, uint64_t max_ack_delay,
                          int handshake_confirmed, zttp_tstamp now);

/* zttp_quic_rtt_pto returns the probe timeout duration without backoff:
 * smoothed_rtt + max(4 * rttvar, kGranularity), plus |max_ack_delay| when
 * it applies (the application data space, RFC 9002 §6.2.1). */
uint64_t zttp_quic_rtt_pto(const zttp_quic_rtt *r, uint64_t max_ack_delay);

#endif
