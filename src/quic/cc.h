/* Congestion control for QUIC: NewReno (RFC 9002 §7, Appendix B) and CUBIC
 * (RFC 9438), chosen per connection, and the pacer (RFC 9002 §7.7). Window
 * sizes are in bytes; times in zttp_tstamp nanoseconds. The loss detector
 * calls these on every sent, acknowledged and lost packet.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_CC_H
#define ZTTP_QUIC_CC_H

#include "zttp/zttp.h"

#include "quic/rtt.h"

enum zttp_quic_cc_algo { ZTTP_QUIC_CC_NEWRENO = 1, ZTTP_QUIC_CC_CUBIC = 2 };

typedef struct zttp_quic_cc {
  uint32_t algo;
  uint64_t max_datagram_size;
  uint64_t cwnd;
  uint64_t ssthresh; /* UINT64_MAX: still in the first slow start */
  uint64_t bytes_in_flight;
  /* RFC 9002 §7.3.2: packets sent before this time do not start another
   * recovery period; 0 when not in recovery. */
  zttp_tstamp recovery_start;
  int in_recovery;
  /* NewReno: bytes acknowledged towards the next MSS of growth. */
  uint64_t ca_acked;
  /* CUBIC (RFC 9438 §4.1.2), windows in bytes. */
  double w_max;
  double cwnd_prior;
  double w_est;
  double k;            /* seconds */
  zttp_tstamp t_epoch; /* 0: no congestion avoidance epoch yet */
  double cwnd_epoch;
  /* Pacer (RFC 9002 §7.7): bytes that may leave now, refilled at
   * 1.25 * cwnd / smoothed_rtt. */
  uint64_t pace_tokens;
  zttp_tstamp pace_last;
} zttp_quic_cc;

/* zttp_quic_cc_init starts with the initial window of RFC 9002 §7.2:
 * min(10 * mds, max(14720, 2 * mds)). */
void zttp_quic_cc_init(zttp_quic_cc *cc, uint32_t algo,
                       uint64_t max_datagram_size);

/* zttp_quic_cc_set_max_datagram_size changes the datagram size the window
 * is counted in (the peer's max_udp_payload_size is known); a window still
 * at its initial value is recomputed with it (RFC 9002 §7.2). */
void zttp_quic_cc_set_max_datagram_size(zttp_quic_cc *cc,
                                        uint64_t max_datagram_size);

/* The minimum window, 2 * max_datagram_size (RFC 9002 §7.2). */
uint64_t zttp_quic_cc_min_window(const zttp_quic_cc *cc);

/* zttp_quic_cc_can_send returns how many bytes the window allows in flight
 * now (0 when full). */
uint64_t zttp_quic_cc_window_left(const zttp_quic_cc *cc);

void zttp_quic_cc_on_sent(zttp_quic_cc *cc, uint64_t bytes, zttp_tstamp now);

/* zttp_quic_cc_on_acked: an in-flight packet of |bytes| sent at |sent_time|
 * was acknowledged. |app_limited| says the sender was not using the window
 * (RFC 9002 §7.8: then the window does not grow). */
void zttp_quic_cc_on_acked(zttp_quic_cc *cc, uint64_t bytes,
                           zttp_tstamp sent_time, const zttp_quic_rtt *rtt,
                           int app_limited, zttp_tstamp now);

/* zttp_quic_cc_on_removed: bytes that leave the flight without an ACK (lost,
 * or discarded with their keys, RFC 9002 §6.4). */
void zttp_quic_cc_on_removed(zttp_quic_cc *cc, uint64_t bytes);

/* zttp_quic_cc_on_congestion: a loss (or ECN-CE) of a packet sent at
 * |sent_time| (RFC 9002 §7.3.2; RFC 9438 §4.6 with fast convergence).
 * At most one reduction per recovery period. */
void zttp_quic_cc_on_congestion(zttp_quic_cc *cc, zttp_tstamp sent_time,
                                zttp_tstamp now);

/* zttp_quic_cc_on_persistent_congestion collapses the window to the minimum
 * (RFC 9002 §7.6.2). */
void zttp_quic_cc_on_persistent_congestion(zttp_quic_cc *cc);

/* zttp_quic_cc_pacing_time returns when |bytes| may be sent (now or
 * later), given the smoothed RTT; zttp_quic_cc_on_paced consumes them. */
zttp_tstamp zttp_quic_cc_pacing_time(zttp_quic_cc *cc, const zttp_quic_rtt *rtt,
                                     uint64_t bytes, zttp_tstamp now);
void zttp_quic_cc_on_paced(zttp_quic_cc *cc, uint64_t bytes);

#endif
