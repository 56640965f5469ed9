/* SPDX-License-Identifier: MIT */
#include "quic/recovery.h"

#include <assert.h>
#include <string.h>

#include "quic/error.h"
#include "quic/packet.h"

/* A record zttp_quic_recovery_next() handed out, waiting for compaction. */
#define STATE_FREE 4
/* zttp_quic_sent_pkt.mark: acknowledged by the ACK being processed and not
 * yet passed to the congestion controller. */
#define MARK_NEWLY_ACKED 1

/* What one DetectAndRemoveLostPackets pass found (RFC 9002 Appendix A.10),
 * for OnPacketsLost (Appendix B.8). */
typedef struct lost_info {
  size_t count;
  uint64_t bytes;        /* in-flight bytes lost */
  int in_flight;         /* an in-flight packet was lost */
  zttp_tstamp last_sent; /* sent_time_of_last_loss */
  int persistent;        /* RFC 9002 §7.6.2 */
} lost_info;

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* x * 2^n, saturating (RFC 9002 Appendix A.8 "2 ^ pto_count"). */
static uint64_t shl_sat(uint64_t x, uint32_t n) {
  if (x == 0) {
    return 0;
  }
  if (n >= 64 || x > (UINT64_MAX >> n)) {
    return UINT64_MAX;
  }
  return x << n;
}

static zttp_quic_sent_pkt *at(const zttp_quic_rec_space *s, size_t i) {
  size_t j = s->head + i;
  if (j >= s->cap) {
    j -= s->cap;
  }
  return &s->pkts[j];
}

static int is_done(uint8_t state) {
  return state == ZTTP_QUIC_SENT_ACKED || state == ZTTP_QUIC_SENT_LOST ||
         state == ZTTP_QUIC_SENT_DISCARDED;
}

/* The index of the first record with a packet number above |pn|. */
static size_t upper(const zttp_quic_rec_space *s, uint64_t pn) {
  size_t lo = 0;
  size_t hi = s->num;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (at(s, mid)->pn <= pn) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/* How many skipped packet numbers lie strictly between |a| and |b|. */
static uint64_t skipped_between(const zttp_quic_rec_space *s, uint64_t a,
                                uint64_t b) {
  uint64_t n = 0;
  for (size_t i = 0; i < s->num_skipped; i++) {
    n += s->skipped[i] > a && s->skipped[i] < b;
  }
  return n;
}

static void space_init(zttp_quic_rec_space *s) {
  memset(s, 0, sizeof(*s));
  s->largest_acked = ZTTP_QUIC_PN_NONE;
  s->largest_sent = ZTTP_QUIC_PN_NONE;
  s->loss_time = ZTTP_TSTAMP_NEVER;
  s->scan = SIZE_MAX;
}

static void mark_done(zttp_quic_rec_space *s, zttp_quic_sent_pkt *p, size_t i,
                      uint8_t state) {
  p->state = state;
  s->num_done++;
  if (i < s->scan) {
    s->scan = i;
  }
  if ((p->flags & ZTTP_QUIC_SENT_ACK_ELICITING) != 0) {
    assert(s->num_ack_eliciting > 0);
    s->num_ack_eliciting--;
  }
}

/* Drops the records zttp_quic_recovery_next() handed out, keeping pn
 * order. It moves whichever side of the pulled records is shorter: pulled
 * records usually sit at the head (the oldest packets were acknowledged) or
 * just above a few older packets still waiting for an ACK or a loss. */
static void compact(const zttp_mem *mem, zttp_quic_rec_space *s) {
  if (s->num_free == 0) {
    return;
  }
  while (s->num > 0 && at(s, 0)->state == STATE_FREE) {
    s->head = s->head + 1 == s->cap ? 0 : s->head + 1;
    s->num--;
    s->num_free--;
  }
  while (s->num > 0 && at(s, s->num - 1)->state == STATE_FREE) {
    s->num--;
    s->num_free--;
  }
  if (s->num_free > 0) {
    size_t f = 0;
    while (at(s, f)->state != STATE_FREE) {
      f++;
    }
    size_t l = s->num - 1;
    while (at(s, l)->state != STATE_FREE) {
      l--;
    }
    if (l + 1 <= s->num - f) {
      /* Move the records below l up; the head advances. */
      size_t w = l;
      for (size_t i = l + 1; i-- > 0;) {
        if (at(s, i)->state != STATE_FREE) {
          *at(s, w) = *at(s, i);
          w--;
        }
      }
      s->head = (s->head + s->num_free) % s->cap;
    } else {
      /* Move the records above f down. */
      size_t w = f;
      for (size_t i = f; i < s->num; i++) {
        if (at(s, i)->state != STATE_FREE) {
          *at(s, w) = *at(s, i);
          w++;
        }
      }
    }
    s->num -= s->num_free;
    s->num_free = 0;
  }
  s->scan = s->num_done > 0 ? 0 : SIZE_MAX;
  if (s->num == 0) {
    s->head = 0;
    if (s->discarded) {
      zttp_mem_free(mem, s->pkts);
      s->pkts = NULL;
      s->cap = 0;
    }
  }
}

void zttp_quic_recovery_init(zttp_quic_recovery *rec, const zttp_mem *mem,
                             int is_server, size_t max_sent, uint32_t cc_algo,
                             uint64_t max_datagram_size) {
  memset(rec, 0, sizeof(*rec));
  rec->mem = mem;
  /* RFC 9002 Appendix A.4 */
  zttp_quic_rtt_init(&rec->rtt);
  zttp_quic_cc_init(&rec->cc, cc_algo, max_datagram_size);
  for (size_t i = 0; i < ZTTP_QUIC_NUM_SPACES; i++) {
    space_init(&rec->sp[i]);
  }
  rec->max_sent = max_sent > 0 ? max_sent : 1;
  rec->max_ack_delay = 25 * ZTTP_QUIC_NS_PER_MS; /* RFC 9000 §18.2 */
  rec->timer = ZTTP_TSTAMP_NEVER;
  rec->is_server = is_server != 0;
  rec->pkt_threshold = ZTTP_QUIC_PACKET_THRESHOLD;
}

void zttp_quic_recovery_free(zttp_quic_recovery *rec) {
  for (size_t i = 0; i < ZTTP_QUIC_NUM_SPACES; i++) {
    zttp_mem_free(rec->mem, rec->sp[i].pkts);
    rec->sp[i].pkts = NULL;
    rec->sp[i].num = rec->sp[i].cap = 0;
  }
}

/* RFC 9002 Appendix A.8 PeerCompletedAddressValidation. */
int zttp_quic_recovery_peer_validated(const zttp_quic_recovery *rec) {
  return rec->is_server || rec->handshake_acked || rec->handshake_confirmed;
}

static int ack_eliciting_in_flight(const zttp_quic_recovery *rec) {
  for (size_t i = 0; i < ZTTP_QUIC_NUM_SPACES; i++) {
    if (rec->sp[i].num_ack_eliciting > 0) {
      return 1;
    }
  }
  return 0;
}

/* RFC 9002 Appendix A.8 GetLossTimeAndSpace; ZTTP_TSTAMP_NEVER stands for
 * the pseudocode's 0. */
static zttp_tstamp loss_time_and_space(const zttp_quic_recovery *rec,
                                       uint32_t *space) {
  zttp_tstamp t = rec->sp[ZTTP_QUIC_SPACE_INITIAL].loss_time;
  *space = ZTTP_QUIC_SPACE_INITIAL;
  for (uint32_t s = ZTTP_QUIC_SPACE_HANDSHAKE; s <= ZTTP_QUIC_SPACE_APP; s++) {
    if (rec->sp[s].loss_time < t) {
      t = rec->sp[s].loss_time;
      *space = s;
    }
  }
  return t;
}

/* RFC 9002 Appendix A.8 GetPtoTimeAndSpace. */
static zttp_tstamp pto_time_and_space(const zttp_quic_recovery *rec,
                                      uint32_t *space, zttp_tstamp now) {
  /* (smoothed_rtt + max(4 * rttvar, kGranularity)) * 2 ^ pto_count */
  uint64_t duration = shl_sat(zttp_quic_rtt_pto(&rec->rtt, 0), rec->pto_count);
  if (!ack_eliciting_in_flight(rec)) {
    /* The anti-deadlock PTO starts from now (§6.2.2.1). */
    *space = rec->has_handshake_keys ? ZTTP_QUIC_SPACE_HANDSHAKE
                                     : ZTTP_QUIC_SPACE_INITIAL;
    return add_sat(now, duration);
  }
  zttp_tstamp pto_timeout = ZTTP_TSTAMP_NEVER;
  *space = ZTTP_QUIC_SPACE_INITIAL;
  for (uint32_t s = 0; s < ZTTP_QUIC_NUM_SPACES; s++) {
    if (rec->sp[s].num_ack_eliciting == 0) {
      continue;
    }
    if (s == ZTTP_QUIC_SPACE_APP) {
      /* Skip Application Data until the handshake is confirmed (§6.2.1). */
      if (!rec->handshake_confirmed) {
        return pto_timeout;
      }
      duration = add_sat(duration, shl_sat(rec->max_ack_delay, rec->pto_count));
    }
    zttp_tstamp t = add_sat(rec->sp[s].last_ack_eliciting, duration);
    if (t < pto_timeout) {
      pto_timeout = t;
      *space = s;
    }
  }
  return pto_timeout;
}

/* RFC 9002 Appendix A.8 SetLossDetectionTimer. */
static void set_timer(zttp_quic_recovery *rec, zttp_tstamp now) {
  uint32_t space;
  zttp_tstamp t = loss_time_and_space(rec, &space);
  if (t != ZTTP_TSTAMP_NEVER) {
    rec->timer = t; /* time threshold loss detection */
    return;
  }
  if (rec->is_server && rec->amplification_limited) {
    rec->timer = ZTTP_TSTAMP_NEVER; /* nothing could be sent (§6.2.2.1) */
    return;
  }
  if (!ack_eliciting_in_flight(rec) && zttp_quic_recovery_peer_validated(rec)) {
    rec->timer = ZTTP_TSTAMP_NEVER;
    return;
  }
  rec->timer = pto_time_and_space(rec, &space, now);
}

void zttp_quic_recovery_set_max_ack_delay(zttp_quic_recovery *rec,
                                          uint64_t max_ack_delay,
                                          zttp_tstamp now) {
  rec->max_ack_delay = max_ack_delay;
  set_timer(rec, now);
}

void zttp_quic_recovery_set_handshake_confirmed(zttp_quic_recovery *rec,
                                                zttp_tstamp now) {
  rec->handshake_confirmed = 1;
  set_timer(rec, now);
}

void zttp_quic_recovery_set_has_handshake_keys(zttp_quic_recovery *rec,
                                               zttp_tstamp now) {
  rec->has_handshake_keys = 1;
  set_timer(rec, now);
}

void zttp_quic_recovery_set_amplification_limited(zttp_quic_recovery *rec,
                                                  int limited,
                                                  zttp_tstamp now) {
  rec->amplification_limited = limited != 0;
  set_timer(rec, now); /* RFC 9002 Appendix A.6 */
}

int32_t zttp_quic_recovery_reserve(zttp_quic_recovery *rec, uint32_t space) {
  if (space >= ZTTP_QUIC_NUM_SPACES) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_quic_rec_space *s = &rec->sp[space];
  if (s->discarded) {
    return ZTTP_ERR_INVALID_STATE;
  }
  compact(rec->mem, s);
  if (s->num < s->cap) {
    return 0;
  }
  if (s->num >= rec->max_sent) {
    return ZTTP_ERR_BUFFER_FULL;
  }
  size_t cap = s->cap == 0 ? 8 : s->cap * 2;
  if (cap > rec->max_sent || cap < s->cap) {
    cap = rec->max_sent;
  }
  zttp_quic_sent_pkt *pkts = zttp_mem_calloc(rec->mem, cap, sizeof(*pkts));
  if (pkts == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  for (size_t i = 0; i < s->num; i++) {
    pkts[i] = *at(s, i);
  }
  zttp_mem_free(rec->mem, s->pkts);
  s->pkts = pkts;
  s->cap = cap;
  s->head = 0;
  return 0;
}

/* RFC 9002 Appendix A.5 OnPacketSent. */
int32_t zttp_quic_recovery_on_packet_sent(zttp_quic_recovery *rec,
                                          uint32_t space, uint64_t pn,
                                          uint32_t size, uint32_t flags,
                                          uint64_t token, zttp_tstamp now) {
  const uint32_t all = ZTTP_QUIC_SENT_ACK_ELICITING | ZTTP_QUIC_SENT_IN_FLIGHT;
  if (space >= ZTTP_QUIC_NUM_SPACES || (flags & ~all) != 0 ||
      (flags & all) == ZTTP_QUIC_SENT_ACK_ELICITING) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_quic_rec_space *s = &rec->sp[space];
  if (s->discarded) {
    return ZTTP_ERR_INVALID_STATE;
  }
  if (pn > ZTTP_QUIC_MAX_PN ||
      (s->largest_sent != ZTTP_QUIC_PN_NONE && pn <= s->largest_sent)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  int32_t rv = zttp_quic_recovery_reserve(rec, space);
  if (rv != 0) {
    return rv;
  }
  zttp_quic_sent_pkt *p = at(s, s->num);
  p->pn = pn;
  p->time_sent = now;
  p->token = token;
  p->size = size;
  p->space = (uint8_t)space;
  p->flags = (uint8_t)flags;
  p->state = ZTTP_QUIC_SENT_OUTSTANDING;
  p->mark = 0;
  s->num++;
  s->largest_sent = pn;
  if ((flags & ZTTP_QUIC_SENT_ACK_ELICITING) != 0 && rec->probes[space] > 0) {
    rec->probes[space]--;
  }
  if ((flags & ZTTP_QUIC_SENT_IN_FLIGHT) != 0) {
    if ((flags & ZTTP_QUIC_SENT_ACK_ELICITING) != 0) {
      s->last_ack_eliciting = now;
      s->num_ack_eliciting++;
    }
    zttp_quic_cc_on_sent(&rec->cc, size, now);
    set_timer(rec, now);
  }
  return 0;
}

void zttp_quic_recovery_on_untracked_sent(zttp_quic_recovery *rec,
                                          uint32_t space, uint64_t pn) {
  if (space >= ZTTP_QUIC_NUM_SPACES) {
    return;
  }
  zttp_quic_rec_space *s = &rec->sp[space];
  if (pn <= ZTTP_QUIC_MAX_PN &&
      (s->largest_sent == ZTTP_QUIC_PN_NONE || pn > s->largest_sent)) {
    s->largest_sent = pn;
  }
}

int32_t zttp_quic_recovery_skip_pn(zttp_quic_recovery *rec, uint32_t space,
                                   uint64_t pn) {
  if (space >= ZTTP_QUIC_NUM_SPACES) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_quic_rec_space *s = &rec->sp[space];
  if (pn > ZTTP_QUIC_MAX_PN ||
      (s->largest_sent != ZTTP_QUIC_PN_NONE && pn <= s->largest_sent)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (s->num_skipped == ZTTP_QUIC_RECOVERY_MAX_SKIPPED) {
    memmove(s->skipped, s->skipped + 1,
            (ZTTP_QUIC_RECOVERY_MAX_SKIPPED - 1) * sizeof(s->skipped[0]));
    s->num_skipped--;
  }
  s->skipped[s->num_skipped++] = pn;
  s->largest_sent = pn;
  return 0;
}

/* RFC 9002 §6.1.1: a packet declared lost that the peer acknowledges now
 * was only reordered: the packet threshold grows to the distance seen
 * (capped), so that the same reordering is not taken for loss again. */
static void spurious_check(zttp_quic_recovery *rec, zttp_quic_rec_space *s,
                           const zttp_quic_ack_range *ranges, size_t num_ranges,
                           uint64_t largest) {
  for (size_t k = 0; k < s->num_lost; k++) {
    uint64_t pn = s->lost[k];
    for (size_t i = 0; i < num_ranges; i++) {
      if (pn < ranges[i].smallest || pn > ranges[i].largest) {
        continue;
      }
      rec->spurious_losses++;
      uint64_t dist = largest - pn + 1;
      if (dist > rec->pkt_threshold) {
        rec->pkt_threshold = dist < ZTTP_QUIC_MAX_PACKET_THRESHOLD
                                 ? dist
                                 : ZTTP_QUIC_MAX_PACKET_THRESHOLD;
      }
      /* Forget it: a later ACK repeating the range counts it once. */
      s->lost[k] = s->lost[--s->num_lost < k ? k : s->num_lost];
      s->lost_next = s->num_lost;
      k--;
      break;
    }
  }
}

/* RFC 9002 Appendix A.10 DetectAndRemoveLostPackets, which also finds
 * persistent congestion (§7.6.2, Appendix B.8 InPersistentCongestion)
 * while it walks the packets in order. Two ack-eliciting packets lost now,
 * sent after the first RTT sample and more than the persistent congestion
 * duration apart, establish it when no packet between them was
 * acknowledged. Only this space is considered (the MAY of §7.6.2): a gap in
 * packet numbers that is not a skipped number was acknowledged (a packet
 * lost earlier cannot lie between two lost now, since loss is monotonic in
 * packet number and send time). */
static void detect_lost(zttp_quic_recovery *rec, uint32_t space, lost_info *li,
                        zttp_tstamp now) {
  zttp_quic_rec_space *s = &rec->sp[space];
  s->loss_time = ZTTP_TSTAMP_NEVER;
  if (s->largest_acked == ZTTP_QUIC_PN_NONE) {
    return;
  }
  /* kTimeThreshold * max(latest_rtt, smoothed_rtt), at least kGranularity */
  uint64_t m =
      rec->rtt.latest > rec->rtt.smoothed ? rec->rtt.latest : rec->rtt.smoothed;
  uint64_t loss_delay = m > UINT64_MAX / 9 ? UINT64_MAX : m * 9 / 8;
  if (loss_delay < ZTTP_QUIC_GRANULARITY) {
    loss_delay = ZTTP_QUIC_GRANULARITY;
  }
  /* §7.6.1: max_ack_delay whatever the space. */
  uint64_t pc_duration = zttp_quic_rtt_pto(&rec->rtt, rec->max_ack_delay);
  pc_duration =
      pc_duration > UINT64_MAX / ZTTP_QUIC_PERSISTENT_CONGESTION_THRESHOLD
          ? UINT64_MAX
          : pc_duration * ZTTP_QUIC_PERSISTENT_CONGESTION_THRESHOLD;
  zttp_tstamp pc_start = ZTTP_TSTAMP_NEVER; /* no candidate period */
  uint64_t prev_pn = ZTTP_QUIC_PN_NONE;
  size_t end = upper(s, s->largest_acked);
  for (size_t i = 0; i < end; i++) {
    zttp_quic_sent_pkt *p = at(s, i);
    if (prev_pn != ZTTP_QUIC_PN_NONE && p->pn - prev_pn > 1 &&
        p->pn - prev_pn - 1 != skipped_between(s, prev_pn, p->pn)) {
      pc_start = ZTTP_TSTAMP_NEVER; /* acknowledged in between */
    }
    prev_pn = p->pn;
    if (p->state != ZTTP_QUIC_SENT_OUTSTANDING) {
      pc_start = ZTTP_TSTAMP_NEVER; /* acknowledged (or pulled) */
      continue;
    }
    /* kPacketThreshold counts skipped packet numbers as sent ones, as the
     * pseudocode notes: a skip can only make a loss come one packet
     * sooner. */
    zttp_tstamp lost_at = add_sat(p->time_sent, loss_delay);
    if (lost_at <= now || s->largest_acked >= p->pn + rec->pkt_threshold) {
      mark_done(s, p, i, ZTTP_QUIC_SENT_LOST);
      s->lost[s->lost_next] = p->pn;
      s->lost_next = (s->lost_next + 1) % ZTTP_QUIC_RECOVERY_LOST_RING;
      if (s->num_lost < ZTTP_QUIC_RECOVERY_LOST_RING) {
        s->num_lost++;
      }
      li->count++;
      if ((p->flags & ZTTP_QUIC_SENT_IN_FLIGHT) != 0) {
        li->bytes += p->size;
        li->in_flight = 1;
        if (p->time_sent > li->last_sent) {
          li->last_sent = p->time_sent;
        }
      }
      if ((p->flags & ZTTP_QUIC_SENT_ACK_ELICITING) != 0 &&
          rec->rtt.has_sample && p->time_sent > rec->rtt.first_sample_time) {
        if (pc_start == ZTTP_TSTAMP_NEVER) {
          pc_start = p->time_sent;
        } else if (p->time_sent - pc_start > pc_duration) {
          li->persistent = 1;
        }
      }
    } else {
      if (lost_at < s->loss_time) {
        s->loss_time = lost_at;
      }
      pc_start = ZTTP_TSTAMP_NEVER;
    }
  }
}

/* RFC 9002 Appendix B.8 OnPacketsLost. */
static void on_packets_lost(zttp_quic_recovery *rec, const lost_info *li,
                            zttp_tstamp now) {
  if (li->in_flight) {
    zttp_quic_cc_on_removed(&rec->cc, li->bytes);
    zttp_quic_cc_on_congestion(&rec->cc, li->last_sent, now);
  }
  if (!rec->rtt.has_sample) {
    return;
  }
  if (li->persistent) {
    zttp_quic_cc_on_persistent_congestion(&rec->cc);
    /* RFC 9002 §5.2: min_rtt restarts from the newest sample. */
    rec->rtt.min = rec->rtt.latest;
  }
}

/* RFC 9002 Appendix A.7 OnAckReceived. */
int32_t zttp_quic_recovery_on_ack_received(zttp_quic_recovery *rec,
                                           uint64_t *err, uint32_t space,
                                           const zttp_quic_ack_range *ranges,
                                           size_t num_ranges,
                                           uint64_t ack_delay, int app_limited,
                                           zttp_tstamp now) {
  *err = 0;
  if (space >= ZTTP_QUIC_NUM_SPACES || ranges == NULL || num_ranges == 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_quic_rec_space *s = &rec->sp[space];
  if (s->discarded) {
    return ZTTP_ERR_INVALID_STATE;
  }
  for (size_t i = 0; i < num_ranges; i++) {
    if (ranges[i].smallest > ranges[i].largest ||
        (i > 0 && ranges[i].largest >= ranges[i - 1].smallest)) {
      return ZTTP_ERR_INVALID_ARGUMENT;
    }
  }
  uint64_t largest = ranges[0].largest;
  /* RFC 9000 §13.1: acknowledging a packet never sent; §21.4: a skipped
   * packet number reveals an optimistic ACK. */
  int bogus = s->largest_sent == ZTTP_QUIC_PN_NONE || largest > s->largest_sent;
  for (size_t k = 0; k < s->num_skipped && !bogus; k++) {
    for (size_t i = 0; i < num_ranges; i++) {
      if (s->skipped[k] >= ranges[i].smallest &&
          s->skipped[k] <= ranges[i].largest) {
        bogus = 1;
        break;
      }
    }
  }
  if (bogus) {
    *err = ZTTP_QUIC_ERR_PROTOCOL_VIOLATION;
    return ZTTP_ERR_PROTOCOL;
  }
  compact(rec->mem, s);
  spurious_check(rec, s, ranges, num_ranges, largest);

  if (s->largest_acked == ZTTP_QUIC_PN_NONE || largest > s->largest_acked) {
    s->largest_acked = largest;
  }
  if (space == ZTTP_QUIC_SPACE_HANDSHAKE) {
    rec->handshake_acked = 1;
  }
  /* DetectAndRemoveAckedPackets: the ranges come highest first, so the
   * first record marked is the largest newly acknowledged. */
  const zttp_quic_sent_pkt *newest = NULL;
  int includes_ack_eliciting = 0;
  size_t lo = SIZE_MAX;
  size_t hi = 0;
  for (size_t r = 0; r < num_ranges; r++) {
    size_t i = upper(s, ranges[r].largest);
    while (i > 0) {
      zttp_quic_sent_pkt *p = at(s, i - 1);
      if (p->pn < ranges[r].smallest) {
        break;
      }
      i--;
      if (p->state != ZTTP_QUIC_SENT_OUTSTANDING) {
        continue;
      }
      if ((p->flags & ZTTP_QUIC_SENT_ACK_ELICITING) != 0) {
        includes_ack_eliciting = 1;
      }
      mark_done(s, p, i, ZTTP_QUIC_SENT_ACKED);
      p->mark = MARK_NEWLY_ACKED;
      if (newest == NULL) {
        newest = p;
      }
      lo = i < lo ? i : lo;
      hi = i > hi ? i : hi;
    }
  }
  if (newest == NULL) {
    return 0; /* nothing newly acknowledged */
  }
  /* RFC 9002 §5.1 */
  if (newest->pn == largest && includes_ack_eliciting) {
    uint64_t latest_rtt = now > newest->time_sent ? now - newest->time_sent : 0;
    zttp_quic_rtt_update(&rec->rtt, latest_rtt, ack_delay, rec->max_ack_delay,
                         rec->handshake_confirmed, now);
  }
  lost_info li = {0};
  detect_lost(rec, space, &li, now);
  if (li.count > 0) {
    on_packets_lost(rec, &li, now);
  }
  /* OnPacketsAcked (Appendix B.5), after the losses as in A.7. */
  for (size_t i = lo; i <= hi; i++) {
    zttp_quic_sent_pkt *p = at(s, i);
    if (p->mark != MARK_NEWLY_ACKED) {
      continue;
    }
    p->mark = 0;
    if ((p->flags & ZTTP_QUIC_SENT_IN_FLIGHT) != 0) {
      zttp_quic_cc_on_acked(&rec->cc, p->size, p->time_sent, &rec->rtt,
                            app_limited, now);
    }
  }
  /* Keep the backoff while a client is unsure that the server validated
   * its address (§6.2.1). */
  if (zttp_quic_recovery_peer_validated(rec)) {
    rec->pto_count = 0;
  }
  set_timer(rec, now);
  return 0;
}

/* RFC 9002 Appendix A.9 OnLossDetectionTimeout. */
int zttp_quic_recovery_on_timeout(zttp_quic_recovery *rec, uint32_t *space,
                                  zttp_tstamp now) {
  if (rec->timer == ZTTP_TSTAMP_NEVER || now < rec->timer) {
    return ZTTP_QUIC_TIMEOUT_NONE;
  }
  uint32_t sp;
  if (loss_time_and_space(rec, &sp) != ZTTP_TSTAMP_NEVER) {
    /* Time threshold loss detection. */
    compact(rec->mem, &rec->sp[sp]);
    lost_info li = {0};
    detect_lost(rec, sp, &li, now);
    if (li.count > 0) {
      on_packets_lost(rec, &li, now);
    }
    set_timer(rec, now);
    *space = sp;
    return ZTTP_QUIC_TIMEOUT_LOSS;
  }
  int kind;
  if (!ack_eliciting_in_flight(rec)) {
    /* The client's anti-deadlock packet: a padded Initial earns
     * amplification credit, a Handshake packet proves address ownership. */
    sp = rec->has_handshake_keys ? ZTTP_QUIC_SPACE_HANDSHAKE
                                 : ZTTP_QUIC_SPACE_INITIAL;
    if (rec->probes[sp] < 1) {
      rec->probes[sp] = 1;
    }
    kind = ZTTP_QUIC_TIMEOUT_ANTI_DEADLOCK;
  } else {
    /* PTO: one or two packets in the space, and one in every other space
     * with ack-eliciting packets in flight (§6.2.4). */
    (void)pto_time_and_space(rec, &sp, now);
    for (uint32_t s = 0; s < ZTTP_QUIC_NUM_SPACES; s++) {
      uint32_t n = s == sp                            ? ZTTP_QUIC_PTO_PROBES
                   : rec->sp[s].num_ack_eliciting > 0 ? 1
                                                      : 0;
      if (rec->probes[s] < n) {
        rec->probes[s] = n;
      }
    }
    kind = ZTTP_QUIC_TIMEOUT_PTO;
  }
  rec->pto_count++;
  set_timer(rec, now);
  *space = sp;
  return kind;
}

/* RFC 9002 Appendix A.11 OnPacketNumberSpaceDiscarded. */
int32_t zttp_quic_recovery_discard_space(zttp_quic_recovery *rec,
                                         uint32_t space, zttp_tstamp now) {
  if (space >= ZTTP_QUIC_NUM_SPACES || space == ZTTP_QUIC_SPACE_APP) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_quic_rec_space *s = &rec->sp[space];
  if (s->discarded) {
    return 0;
  }
  compact(rec->mem, s);
  /* RemoveFromBytesInFlight (Appendix B.9) */
  uint64_t bytes = 0;
  for (size_t i = 0; i < s->num; i++) {
    zttp_quic_sent_pkt *p = at(s, i);
    if (p->state != ZTTP_QUIC_SENT_OUTSTANDING) {
      continue;
    }
    if ((p->flags & ZTTP_QUIC_SENT_IN_FLIGHT) != 0) {
      bytes += p->size;
    }
    mark_done(s, p, i, ZTTP_QUIC_SENT_DISCARDED);
  }
  zttp_quic_cc_on_removed(&rec->cc, bytes);
  s->discarded = 1;
  s->last_ack_eliciting = 0;
  s->loss_time = ZTTP_TSTAMP_NEVER;
  rec->probes[space] = 0;
  rec->pto_count = 0;
  if (s->num == 0) {
    zttp_mem_free(rec->mem, s->pkts);
    s->pkts = NULL;
    s->cap = 0;
    s->head = 0;
  }
  set_timer(rec, now);
  return 0;
}

void zttp_quic_recovery_on_retry(zttp_quic_recovery *rec, zttp_tstamp now) {
  for (uint32_t sp = 0; sp < ZTTP_QUIC_NUM_SPACES; sp++) {
    zttp_quic_rec_space *s = &rec->sp[sp];
    compact(rec->mem, s);
    for (size_t i = 0; i < s->num; i++) {
      zttp_quic_sent_pkt *p = at(s, i);
      if (p->state == ZTTP_QUIC_SENT_OUTSTANDING) {
        mark_done(s, p, i, ZTTP_QUIC_SENT_LOST);
      }
    }
    s->loss_time = ZTTP_TSTAMP_NEVER;
    s->last_ack_eliciting = 0;
    rec->probes[sp] = 0;
  }
  zttp_quic_rtt_init(&rec->rtt);
  zttp_quic_cc_init(&rec->cc, rec->cc.algo, rec->cc.max_datagram_size);
  rec->pto_count = 0;
  set_timer(rec, now);
}

int zttp_quic_recovery_next(zttp_quic_recovery *rec, zttp_quic_sent_pkt *out) {
  for (size_t sp = 0; sp < ZTTP_QUIC_NUM_SPACES; sp++) {
    zttp_quic_rec_space *s = &rec->sp[sp];
    if (s->num_done == 0) {
      continue;
    }
    for (size_t i = s->scan; i < s->num; i++) {
      zttp_quic_sent_pkt *p = at(s, i);
      if (!is_done(p->state)) {
        continue;
      }
      *out = *p;
      out->mark = 0;
      p->state = STATE_FREE;
      s->num_done--;
      s->num_free++;
      s->scan = i + 1;
      if (s->num_done == 0) {
        compact(rec->mem, s);
      }
      return 1;
    }
    assert(0 && "num_done counts a record that is not there");
  }
  return 0;
}
