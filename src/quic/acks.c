/* SPDX-License-Identifier: MIT */
#include "quic/acks.h"

#include <assert.h>
#include <string.h>

#include "quic/packet.h"

void zttp_quic_acks_init(zttp_quic_acks *acks, const zttp_mem *mem,
                         size_t max_ranges, uint64_t max_ack_delay,
                         uint32_t ack_delay_exponent) {
  memset(acks, 0, sizeof(*acks));
  acks->mem = mem;
  acks->max_ack_delay = max_ack_delay;
  acks->ack_delay_exponent =
      ack_delay_exponent <= ZTTP_QUIC_MAX_ACK_DELAY_EXPONENT
          ? ack_delay_exponent
          : ZTTP_QUIC_MAX_ACK_DELAY_EXPONENT;
  for (size_t i = 0; i < ZTTP_QUIC_NUM_SPACES; i++) {
    zttp_quic_acks_space *s = &acks->sp[i];
    zttp_ranges_init(&s->received, max_ranges > 0 ? max_ranges : 1);
    s->min_pn = 0;
    s->largest = ZTTP_QUIC_PN_NONE;
    s->largest_eliciting = ZTTP_QUIC_PN_NONE;
    s->deadline = ZTTP_TSTAMP_NEVER;
  }
}

void zttp_quic_acks_free(zttp_quic_acks *acks) {
  for (size_t i = 0; i < ZTTP_QUIC_NUM_SPACES; i++) {
    zttp_ranges_free(&acks->sp[i].received, acks->mem);
  }
}

int zttp_quic_acks_is_duplicate(const zttp_quic_acks *acks, uint32_t space,
                                uint64_t pn) {
  if (space >= ZTTP_QUIC_NUM_SPACES || acks->sp[space].discarded) {
    return 1;
  }
  const zttp_quic_acks_space *s = &acks->sp[space];
  return pn < s->min_pn || zttp_ranges_contains(&s->received, pn);
}

/* Adds |pn| to the received set; when the set is full, the oldest range
 * is forgotten and everything below its end becomes a duplicate (RFC 9000
 * §13.2.3). A |pn| older than every range then is forgotten at once. */
static int32_t add_pn(zttp_quic_acks *acks, zttp_quic_acks_space *s,
                      uint64_t pn) {
  int32_t rv = zttp_ranges_add(&s->received, acks->mem, pn, pn + 1);
  if (rv != ZTTP_ERR_BUFFER_FULL) {
    return rv;
  }
  const zttp_range *oldest = &s->received.r[0];
  if (pn < oldest->start) {
    s->min_pn = oldest->start;
    return 0;
  }
  s->min_pn = oldest->end;
  zttp_ranges_remove_first(&s->received);
  /* Room for one range in memory already allocated: cannot fail. */
  rv = zttp_ranges_add(&s->received, acks->mem, pn, pn + 1);
  assert(rv == 0);
  return rv;
}

int32_t zttp_quic_acks_on_received(zttp_quic_acks *acks, uint32_t space,
                                   uint64_t pn, int ack_eliciting,
                                   zttp_tstamp now) {
  if (space >= ZTTP_QUIC_NUM_SPACES || pn > ZTTP_QUIC_MAX_PN) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_quic_acks_space *s = &acks->sp[space];
  if (s->discarded) {
    return ZTTP_ERR_INVALID_STATE;
  }
  if (zttp_quic_acks_is_duplicate(acks, space, pn)) {
    return 0;
  }
  int32_t rv = add_pn(acks, s, pn);
  if (rv != 0) {
    return rv;
  }
  if (s->largest == ZTTP_QUIC_PN_NONE || pn > s->largest) {
    s->largest = pn;
    s->largest_time = now; /* RFC 9000 §13.2.5 */
  }
  s->pending = 1;
  if (!ack_eliciting) {
    return 0; /* acknowledged with the next ACK, never alone (§13.2.1) */
  }
  s->num_eliciting++;
  /* RFC 9000 §13.2.1: Initial and Handshake at once; 1-RTT at once when
   * out of order. */
  int now_due = space != ZTTP_QUIC_SPACE_APP;
  if (s->largest_eliciting != ZTTP_QUIC_PN_NONE) {
    if (pn < s->largest_eliciting) {
      now_due = 1;
    } else {
      /* Missing packets between the largest ack-eliciting one and this
       * (what lies below min_pn is not missing: it was received, or will
       * never be accepted). */
      uint64_t from = s->largest_eliciting + 1;
      if (from < s->min_pn) {
        from = s->min_pn;
      }
      if (from < pn && zttp_ranges_covered(&s->received, from) < pn) {
        now_due = 1;
      }
    }
  }
  if (s->largest_eliciting == ZTTP_QUIC_PN_NONE || pn > s->largest_eliciting) {
    s->largest_eliciting = pn;
  }
  /* §13.2.2: after two ack-eliciting packets; else within max_ack_delay
   * of the first one not yet acknowledged. */
  zttp_tstamp due = now_due || s->num_eliciting >= 2
                        ? now
                        : (now > ZTTP_TSTAMP_NEVER - acks->max_ack_delay
                               ? ZTTP_TSTAMP_NEVER
                               : now + acks->max_ack_delay);
  if (due < s->deadline) {
    s->deadline = due;
  }
  return 0;
}

int zttp_quic_acks_due(const zttp_quic_acks *acks, uint32_t space,
                       zttp_tstamp now) {
  if (space >= ZTTP_QUIC_NUM_SPACES) {
    return 0;
  }
  zttp_tstamp d = acks->sp[space].deadline;
  return d != ZTTP_TSTAMP_NEVER && d <= now;
}

int zttp_quic_acks_pending(const zttp_quic_acks *acks, uint32_t space) {
  return space < ZTTP_QUIC_NUM_SPACES && acks->sp[space].pending;
}

zttp_tstamp zttp_quic_acks_next_timeout(const zttp_quic_acks *acks) {
  zttp_tstamp t = ZTTP_TSTAMP_NEVER;
  for (size_t i = 0; i < ZTTP_QUIC_NUM_SPACES; i++) {
    if (acks->sp[i].deadline < t) {
      t = acks->sp[i].deadline;
    }
  }
  return t;
}

size_t zttp_quic_acks_write(const zttp_quic_acks *acks, zttp_quic_frame *frame,
                            zttp_quic_ack_range *ranges, size_t max_ranges,
                            uint32_t space, zttp_tstamp now) {
  if (space >= ZTTP_QUIC_NUM_SPACES || ranges == NULL || max_ranges == 0) {
    return 0;
  }
  const zttp_quic_acks_space *s = &acks->sp[space];
  if (s->discarded || zttp_ranges_empty(&s->received)) {
    return 0;
  }
  /* Newest first; older ranges are left out when there are too many
   * (RFC 9000 §13.2.3). */
  size_t n = 0;
  for (size_t i = s->received.num; i-- > 0 && n < max_ranges;) {
    ranges[n].smallest = s->received.r[i].start;
    ranges[n].largest = s->received.r[i].end - 1;
    n++;
  }
  /* RFC 9000 §13.2.5: the delay since the largest packet arrived, in
   * microseconds, divided by 2^ack_delay_exponent (§19.3). */
  uint64_t delay = now > s->largest_time ? now - s->largest_time : 0;
  memset(frame, 0, sizeof(*frame));
  frame->type = ZTTP_QUIC_FT_ACK;
  frame->u.ack.ack_delay = (delay / 1000) >> acks->ack_delay_exponent;
  frame->u.ack.ranges = ranges;
  frame->u.ack.num_ranges = n;
  frame->u.ack.total_ranges = n;
  return n;
}

void zttp_quic_acks_on_sent(zttp_quic_acks *acks, uint32_t space) {
  if (space >= ZTTP_QUIC_NUM_SPACES) {
    return;
  }
  zttp_quic_acks_space *s = &acks->sp[space];
  s->num_eliciting = 0;
  s->deadline = ZTTP_TSTAMP_NEVER;
  s->pending = 0;
}

void zttp_quic_acks_on_ack_of_ack(zttp_quic_acks *acks, uint32_t space,
                                  uint64_t largest_acked) {
  if (space >= ZTTP_QUIC_NUM_SPACES) {
    return;
  }
  zttp_quic_acks_space *s = &acks->sp[space];
  /* Only a Largest Acknowledged we could have sent. */
  if (s->discarded || s->largest == ZTTP_QUIC_PN_NONE ||
      largest_acked > s->largest || largest_acked < s->min_pn) {
    return;
  }
  zttp_ranges_remove_below(&s->received, largest_acked + 1);
  s->min_pn = largest_acked + 1;
}

void zttp_quic_acks_discard(zttp_quic_acks *acks, uint32_t space) {
  if (space >= ZTTP_QUIC_NUM_SPACES) {
    return;
  }
  zttp_quic_acks_space *s = &acks->sp[space];
  zttp_ranges_free(&s->received, acks->mem);
  s->discarded = 1;
  s->num_eliciting = 0;
  s->deadline = ZTTP_TSTAMP_NEVER;
  s->pending = 0;
}
