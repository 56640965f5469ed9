/* QUIC acknowledgment generation, the receiver side (RFC 9000 §13.2): per
 * packet number space, the packet numbers received (a bounded range set),
 * duplicate detection (RFC 9000 §12.3), when an ACK frame is due
 * (§13.2.1, §13.2.2), the ACK frame's contents with the measured ACK Delay
 * (§13.2.5, §19.3), and the pruning of ranges the peer has seen (§13.2.4).
 * Sans-IO: time is an argument; the connection asks
 * zttp_quic_acks_next_timeout() when to come back.
 *
 * Use per received packet: after removing packet protection,
 * zttp_quic_acks_is_duplicate() (drop when 1); after processing its frames,
 * zttp_quic_acks_on_received(). When building a packet of a space:
 * zttp_quic_acks_due() (an ACK must go out now, alone if need be) or
 * zttp_quic_acks_pending() (worth adding one), zttp_quic_acks_write(),
 * encode it, zttp_quic_acks_on_sent(), and keep the frame's Largest
 * Acknowledged with the packet: when that packet is acknowledged, call
 * zttp_quic_acks_on_ack_of_ack() with it.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_ACKS_H
#define ZTTP_QUIC_ACKS_H

#include "zttp/zttp.h"

#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"
#include "common/ranges.h"
#include "quic/frame.h"
#include "quic/recovery.h" /* enum zttp_quic_space */

/* The default ack_delay_exponent (RFC 9000 §18.2) and its maximum. */
#define ZTTP_QUIC_DEFAULT_ACK_DELAY_EXPONENT 3
#define ZTTP_QUIC_MAX_ACK_DELAY_EXPONENT 20

typedef struct zttp_quic_acks_space {
  /* Packet numbers received at or above min_pn, at most max_ranges ranges
   * (the oldest is forgotten first, RFC 9000 §13.2.3). */
  zttp_ranges received;
  /* Below this, every packet counts as a duplicate: ranges forgotten or
   * pruned are never accepted again (RFC 9000 §13.2.3). */
  uint64_t min_pn;
  uint64_t largest;           /* largest received; ZTTP_QUIC_PN_NONE */
  zttp_tstamp largest_time;   /* when it arrived */
  uint64_t largest_eliciting; /* largest ack-eliciting received */
  uint64_t num_eliciting;     /* ack-eliciting received since the last ACK */
  zttp_tstamp deadline;       /* the ACK is due at; ZTTP_TSTAMP_NEVER */
  uint8_t pending;            /* received anything since the last ACK */
  uint8_t discarded;
} zttp_quic_acks_space;

typedef struct zttp_quic_acks {
  const zttp_mem *mem;
  zttp_quic_acks_space sp[ZTTP_QUIC_NUM_SPACES];
  uint64_t max_ack_delay;      /* ours, nanoseconds (RFC 9000 §18.2) */
  uint32_t ack_delay_exponent; /* ours */
} zttp_quic_acks;

/* zttp_quic_acks_init sets up the three spaces, each remembering at most
 * |max_ranges| (>= 1) ranges of received packet numbers, with the
 * |max_ack_delay| (nanoseconds) and |ack_delay_exponent| (<= 20) we
 * advertise in our transport parameters. |mem| is kept; nothing is
 * allocated yet. */
void zttp_quic_acks_init(zttp_quic_acks *acks, const zttp_mem *mem,
                         size_t max_ranges, uint64_t max_ack_delay,
                         uint32_t ack_delay_exponent);

/* zttp_quic_acks_free releases the range sets. */
void zttp_quic_acks_free(zttp_quic_acks *acks);

/* zttp_quic_acks_is_duplicate returns 1 when packet |pn| of |space| was
 * already received (or falls below what is remembered, or the space was
 * discarded): drop it without processing (RFC 9000 §12.3). */
int zttp_quic_acks_is_duplicate(const zttp_quic_acks *acks, uint32_t space,
                                uint64_t pn);

/* zttp_quic_acks_on_received records packet |pn| of |space|, processed at
 * |now|, |ack_eliciting| or not (RFC 9000 §13.2.1), and decides when it is
 * acknowledged: Initial and Handshake ack-eliciting packets at once;
 * ApplicationData ones at once when out of order (below the largest
 * ack-eliciting packet received, or above it with a packet missing in
 * between), at the second ack-eliciting packet since the last ACK
 * (§13.2.2), else within max_ack_delay of the first. Packets that are not
 * ack-eliciting never make an ACK due. A duplicate changes nothing. When
 * the range set is full, the oldest range is forgotten (§13.2.3, §13.2.4).
 * Returns 0, ZTTP_ERR_NOMEM (nothing changed), ZTTP_ERR_INVALID_ARGUMENT
 * (no such space, pn over 2^62 - 1) or ZTTP_ERR_INVALID_STATE (the space
 * was discarded). */
int32_t zttp_quic_acks_on_received(zttp_quic_acks *acks, uint32_t space,
                                   uint64_t pn, int ack_eliciting,
                                   zttp_tstamp now);

/* zttp_quic_acks_due returns 1 when an ACK frame of |space| must be sent at
 * |now|, in a packet of its own if nothing else goes out. */
int zttp_quic_acks_due(const zttp_quic_acks *acks, uint32_t space,
                       zttp_tstamp now);

/* zttp_quic_acks_pending returns 1 when packets arrived in |space| since
 * the last ACK frame: one is worth adding to a packet being sent anyway
 * (RFC 9000 §13.2). */
int zttp_quic_acks_pending(const zttp_quic_acks *acks, uint32_t space);

/* zttp_quic_acks_deadline returns when the ACK of |space| is due
 * (ZTTP_TSTAMP_NEVER: not due; in the past: now). */
static inline zttp_tstamp zttp_quic_acks_deadline(const zttp_quic_acks *acks,
                                                  uint32_t space) {
  return space < ZTTP_QUIC_NUM_SPACES ? acks->sp[space].deadline
                                      : ZTTP_TSTAMP_NEVER;
}
/* zttp_quic_acks_next_timeout returns the earliest deadline over the
 * spaces, for the connection's timer. */
zttp_tstamp zttp_quic_acks_next_timeout(const zttp_quic_acks *acks);

/* zttp_quic_acks_largest returns the largest packet number received in
 * |space| (for packet number decoding, RFC 9000 §17.1), or
 * ZTTP_QUIC_PN_NONE. */
static inline uint64_t zttp_quic_acks_largest(const zttp_quic_acks *acks,
                                              uint32_t space) {
  return space < ZTTP_QUIC_NUM_SPACES ? acks->sp[space].largest
                                      : ZTTP_QUIC_PN_NONE;
}

/* zttp_quic_acks_write fills |frame| with an ACK frame (type ACK: no ECN
 * counts) for |space| at |now|: the received ranges highest first, at most
 * |max_ranges| of them, stored in the caller's |ranges| (which
 * frame->u.ack.ranges then points to, as the decoder does), and the ACK
 * Delay since the largest packet arrived, in microseconds scaled down by
 * our ack_delay_exponent (RFC 9000 §13.2.5, §19.3). Only packets received
 * are acknowledged. Returns the number of ranges written, or 0 when there
 * is nothing to acknowledge (|frame| untouched). The state does not change:
 * call zttp_quic_acks_on_sent() once the frame went out. */
size_t zttp_quic_acks_write(const zttp_quic_acks *acks, zttp_quic_frame *frame,
                            zttp_quic_ack_range *ranges, size_t max_ranges,
                            uint32_t space, zttp_tstamp now);

/* zttp_quic_acks_on_sent records that an ACK frame of |space| was sent:
 * nothing is due or pending until the next packet arrives. */
void zttp_quic_acks_on_sent(zttp_quic_acks *acks, uint32_t space);

/* zttp_quic_acks_on_ack_of_ack: a packet of ours carrying an ACK frame of
 * |space| whose Largest Acknowledged was |largest_acked| was acknowledged,
 * so the peer knows those packets arrived: stop acknowledging packets up
 * to it (RFC 9000 §13.2.4), and treat any of them arriving from now on as
 * duplicates (§13.2.3). */
void zttp_quic_acks_on_ack_of_ack(zttp_quic_acks *acks, uint32_t space,
                                  uint64_t largest_acked);

/* zttp_quic_acks_discard drops |space| when its keys are discarded: its
 * ranges are freed and it acknowledges nothing more. */
void zttp_quic_acks_discard(zttp_quic_acks *acks, uint32_t space);

#endif
