/* QUIC loss detection, the sender side (RFC 9002 §5-§7, Appendix A): the
 * sent-packet records of the three packet number spaces (RFC 9000 §12.3),
 * acknowledgment processing with RTT samples, packet- and time-threshold
 * loss detection, the probe timeout with its backoff, persistent
 * congestion and key discard. It drives the RTT estimator (quic/rtt.h) and
 * the congestion controller (quic/cc.h), which it owns.
 *
 * Sans-IO: time is an argument, nothing reads a clock, nothing calls back.
 * Every function that learns the fate of sent packets (an ACK, a loss, a
 * key discard, a Retry) marks their records; the caller then pulls them one
 * by one with zttp_quic_recovery_next() and tells its stream buffers what
 * the packet carried (found through the record's |token|). Until pulled, a
 * record keeps its slot, so the number of records per space (acknowledged
 * and lost ones not yet pulled included) never exceeds the |max_sent| cap
 * given at init: the connection must not send in a space where
 * zttp_quic_recovery_reserve() refuses.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_QUIC_RECOVERY_H
#define ZTTP_QUIC_RECOVERY_H

#include "zttp/zttp.h"

#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"
#include "quic/cc.h"
#include "quic/frame.h"
#include "quic/rtt.h"

/* Packet number spaces (RFC 9000 §12.3; RFC 9002 Appendix A.2
 * kPacketNumberSpace). 0-RTT and 1-RTT share ZTTP_QUIC_SPACE_APP. */
enum zttp_quic_space {
  ZTTP_QUIC_SPACE_INITIAL = 0,
  ZTTP_QUIC_SPACE_HANDSHAKE = 1,
  ZTTP_QUIC_SPACE_APP = 2
};
#define ZTTP_QUIC_NUM_SPACES 3

/* RFC 9002 Appendix A.2 kPacketThreshold. */
#define ZTTP_QUIC_PACKET_THRESHOLD 3
/* RFC 9002 §6.1.1 lets the packet threshold adapt to the reordering seen:
 * a packet declared lost and then acknowledged (a spurious loss) raises it
 * to the reordering distance observed, up to this. */
#define ZTTP_QUIC_MAX_PACKET_THRESHOLD 32
/* Packet numbers declared lost remembered per space to spot spurious
 * losses. */
#define ZTTP_QUIC_RECOVERY_LOST_RING 16
/* RFC 9002 §7.6.1 kPersistentCongestionThreshold. */
#define ZTTP_QUIC_PERSISTENT_CONGESTION_THRESHOLD 3
/* How many skipped packet numbers (RFC 9000 §21.4) each space remembers;
 * the oldest is forgotten first. */
#define ZTTP_QUIC_RECOVERY_MAX_SKIPPED 8
/* Probe packets owed when a PTO fires in a space (RFC 9002 §6.2.4: "up to
 * two"); other spaces with ack-eliciting packets in flight owe one. */
#define ZTTP_QUIC_PTO_PROBES 2

/* zttp_quic_recovery_on_packet_sent flags (RFC 9002 Appendix A.1.1). */
#define ZTTP_QUIC_SENT_ACK_ELICITING 0x01u
/* Counts toward bytes in flight: ack-eliciting frames or PADDING. */
#define ZTTP_QUIC_SENT_IN_FLIGHT 0x02u

/* The fate of a sent packet, as zttp_quic_recovery_next() reports it. */
enum zttp_quic_sent_state {
  ZTTP_QUIC_SENT_OUTSTANDING = 0, /* never reported */
  ZTTP_QUIC_SENT_ACKED = 1,
  /* Declared lost (RFC 9002 §6.1), or sent before a Retry: send what it
   * carried again (RFC 9000 §13.3). */
  ZTTP_QUIC_SENT_LOST = 2,
  /* Its keys were discarded (RFC 9002 §6.4): neither acknowledged nor to
   * be sent again. */
  ZTTP_QUIC_SENT_DISCARDED = 3
};

/* One sent packet (RFC 9002 Appendix A.1.1). */
typedef struct zttp_quic_sent_pkt {
  uint64_t pn;
  zttp_tstamp time_sent;
  uint64_t token; /* the caller's handle for what the packet carried */
  uint32_t size;  /* bytes, QUIC header and AEAD tag included */
  uint8_t space;  /* enum zttp_quic_space */
  uint8_t flags;  /* ZTTP_QUIC_SENT_ACK_ELICITING | ZTTP_QUIC_SENT_IN_FLIGHT */
  uint8_t state;  /* enum zttp_quic_sent_state */
  uint8_t mark;   /* internal */
} zttp_quic_sent_pkt;

/* Per packet number space (RFC 9002 Appendix A.3). */
typedef struct zttp_quic_rec_space {
  zttp_quic_sent_pkt *pkts; /* a ring of |num| records in pn order */
  size_t head;
  size_t num;
  size_t cap;               /* allocated records; grows up to max_sent */
  size_t num_done;          /* records marked but not yet pulled */
  size_t num_free;          /* records pulled but not yet compacted away */
  size_t scan;              /* no record below this index is marked */
  size_t num_ack_eliciting; /* ack-eliciting records in flight */
  uint64_t largest_acked;   /* ZTTP_QUIC_PN_NONE: "infinite" */
  uint64_t largest_sent;    /* ZTTP_QUIC_PN_NONE before the first */
  zttp_tstamp loss_time;    /* ZTTP_TSTAMP_NEVER: not set ("0") */
  zttp_tstamp last_ack_eliciting; /* time_of_last_ack_eliciting_packet */
  uint64_t skipped[ZTTP_QUIC_RECOVERY_MAX_SKIPPED];
  size_t num_skipped;
  /* The latest packet numbers declared lost (a ring). */
  uint64_t lost[ZTTP_QUIC_RECOVERY_LOST_RING];
  size_t lost_next;
  size_t num_lost;
  uint8_t discarded;
} zttp_quic_rec_space;

typedef struct zttp_quic_recovery {
  const zttp_mem *mem;
  zttp_quic_rtt rtt;
  zttp_quic_cc cc;
  zttp_quic_rec_space sp[ZTTP_QUIC_NUM_SPACES];
  size_t max_sent;        /* the record cap per space */
  uint64_t max_ack_delay; /* the peer's, nanoseconds (RFC 9000 §18.2) */
  zttp_tstamp timer;      /* loss_detection_timer; ZTTP_TSTAMP_NEVER: off */
  uint32_t pto_count;
  uint32_t probes[ZTTP_QUIC_NUM_SPACES]; /* probe packets still owed */
  /* kPacketThreshold, adapted (ZTTP_QUIC_MAX_PACKET_THRESHOLD). */
  uint64_t pkt_threshold;
  uint64_t spurious_losses; /* lost packets acknowledged later */
  uint8_t is_server;
  uint8_t handshake_confirmed;   /* RFC 9001 §4.1.2 */
  uint8_t has_handshake_keys;    /* client: Handshake keys installed */
  uint8_t handshake_acked;       /* an ACK arrived in the Handshake space */
  uint8_t amplification_limited; /* server: at the 3x limit (RFC 9000 §8.1) */
} zttp_quic_recovery;

/* What the loss detection timer did (zttp_quic_recovery_on_timeout). */
enum zttp_quic_timeout_kind {
  ZTTP_QUIC_TIMEOUT_NONE = 0, /* not armed or not yet due: nothing done */
  /* Time-threshold loss detection (RFC 9002 §6.1.2): lost packets are
   * ready to pull; no probe is owed. */
  ZTTP_QUIC_TIMEOUT_LOSS = 1,
  /* A PTO (RFC 9002 §6.2.4): send zttp_quic_recovery_probes() ack-eliciting
   * packets per space (new data, else retransmitted data, else PING),
   * whatever the congestion window says (§7.5). */
  ZTTP_QUIC_TIMEOUT_PTO = 2,
  /* The client's anti-deadlock PTO (RFC 9002 §6.2.2.1): one ack-eliciting
   * Handshake packet, or, without Handshake keys, an Initial packet in a
   * datagram padded to at least 1200 bytes. */
  ZTTP_QUIC_TIMEOUT_ANTI_DEADLOCK = 3
};

/* zttp_quic_recovery_init sets up RFC 9002 Appendix A.4 and B.3 for a
 * server (|is_server|) or client, with at most |max_sent| (>= 1) records
 * per space, the congestion controller |cc_algo| (enum zttp_quic_cc_algo)
 * for |max_datagram_size|, and the peer's default max_ack_delay of 25 ms
 * (RFC 9000 §18.2). |mem| is kept; nothing is allocated yet. */
void zttp_quic_recovery_init(zttp_quic_recovery *rec, const zttp_mem *mem,
                             int is_server, size_t max_sent, uint32_t cc_algo,
                             uint64_t max_datagram_size);

/* zttp_quic_recovery_free releases the records (unpulled ones are lost). */
void zttp_quic_recovery_free(zttp_quic_recovery *rec);

/* Handshake inputs. Each rearms the timer (RFC 9002 §6.2.1, A.6); after a
 * change that makes zttp_quic_recovery_next_timeout() <= now, call
 * zttp_quic_recovery_on_timeout() at once (A.6: "execute PTO if it would
 * have expired while the amplification limit applied").
 *
 * zttp_quic_recovery_set_max_ack_delay: the peer's max_ack_delay transport
 * parameter, in nanoseconds. */
void zttp_quic_recovery_set_max_ack_delay(zttp_quic_recovery *rec,
                                          uint64_t max_ack_delay,
                                          zttp_tstamp now);
/* zttp_quic_recovery_set_handshake_confirmed (RFC 9001 §4.1.2): the
 * ApplicationData PTO may now be armed, and a client knows the server
 * validated its address. */
void zttp_quic_recovery_set_handshake_confirmed(zttp_quic_recovery *rec,
                                                zttp_tstamp now);
/* zttp_quic_recovery_set_has_handshake_keys: a client's anti-deadlock probe
 * goes in the Handshake space from now on. */
void zttp_quic_recovery_set_has_handshake_keys(zttp_quic_recovery *rec,
                                               zttp_tstamp now);
/* zttp_quic_recovery_set_amplification_limited: a server that cannot send
 * anything more before the client's address is validated (RFC 9000 §8.1)
 * arms no timer (RFC 9002 §6.2.2.1); 0 once a datagram raised the limit or
 * the address was validated. */
void zttp_quic_recovery_set_amplification_limited(zttp_quic_recovery *rec,
                                                  int limited, zttp_tstamp now);

/* zttp_quic_recovery_reserve makes room for one more record in |space|, so
 * that the next zttp_quic_recovery_on_packet_sent() there cannot fail.
 * Call it before building a packet. Returns 0, ZTTP_ERR_BUFFER_FULL
 * (max_sent records, pulled ones not counted: do not send), ZTTP_ERR_NOMEM,
 * ZTTP_ERR_INVALID_ARGUMENT (no such space) or ZTTP_ERR_INVALID_STATE (the
 * space was discarded). Nothing changes on error. */
int32_t zttp_quic_recovery_reserve(zttp_quic_recovery *rec, uint32_t space);

/* zttp_quic_recovery_on_packet_sent records packet |pn| of |size| bytes
 * sent in |space| at |now| with |flags| (ZTTP_QUIC_SENT_*; ack-eliciting
 * implies in flight) and the caller's |token| (RFC 9002 Appendix A.5):
 * in-flight packets go to the congestion controller, ack-eliciting ones
 * restart the PTO and pay off an owed probe. Packet numbers must increase
 * (skipped ones included). Returns 0, or what zttp_quic_recovery_reserve()
 * returns, or ZTTP_ERR_INVALID_ARGUMENT (pn not above the last one or over
 * 2^62 - 1, bad flags); nothing changes on error. */
int32_t zttp_quic_recovery_on_packet_sent(zttp_quic_recovery *rec,
                                          uint32_t space, uint64_t pn,
                                          uint32_t size, uint32_t flags,
                                          uint64_t token, zttp_tstamp now);

/* zttp_quic_recovery_on_untracked_sent notes packet |pn| of |space| sent
 * without a record (an ACK-only or CONNECTION_CLOSE packet at the record
 * cap): neither ack-eliciting nor in flight, it only moves the largest
 * packet number sent, so that the peer may acknowledge it. */
void zttp_quic_recovery_on_untracked_sent(zttp_quic_recovery *rec,
                                          uint32_t space, uint64_t pn);

/* zttp_quic_recovery_skip_pn records that packet number |pn| of |space|
 * will never be sent (RFC 9000 §21.4): an ACK covering it is a
 * PROTOCOL_VIOLATION. The next packet sent must use a higher number. The
 * last ZTTP_QUIC_RECOVERY_MAX_SKIPPED skipped numbers are remembered.
 * Returns 0 or ZTTP_ERR_INVALID_ARGUMENT (pn not above the last one sent or
 * skipped, over 2^62 - 1, or no such space). */
int32_t zttp_quic_recovery_skip_pn(zttp_quic_recovery *rec, uint32_t space,
                                   uint64_t pn);

/* zttp_quic_recovery_on_ack_received processes an ACK frame received in
 * |space| at |now| (RFC 9002 Appendix A.7): |ranges| / |num_ranges| as the
 * frame decoder stores them (frame.u.ack.ranges, highest first, disjoint),
 * |ack_delay| already decoded with the peer's ack_delay_exponent and in
 * nanoseconds, |app_limited| when the sender was not using its window (RFC
 * 9002 §7.8). Newly acknowledged and newly lost packets become pullable
 * with zttp_quic_recovery_next(); the RTT, the congestion window and the
 * timer are updated. ECN counts are not used (RFC 9000 §13.4.2: we never
 * mark packets ECT).
 *
 * Returns 0; ZTTP_ERR_PROTOCOL with |*err| = PROTOCOL_VIOLATION when the
 * ACK covers a skipped packet number or one above the largest sent (RFC
 * 9000 §13.1, §21.4): close the connection; ZTTP_ERR_INVALID_ARGUMENT for
 * ranges that are empty, unordered or overlapping; ZTTP_ERR_INVALID_STATE
 * for a discarded space. Nothing changes on error. |*err| is 0 otherwise. */
int32_t zttp_quic_recovery_on_ack_received(zttp_quic_recovery *rec,
                                           uint64_t *err, uint32_t space,
                                           const zttp_quic_ack_range *ranges,
                                           size_t num_ranges,
                                           uint64_t ack_delay, int app_limited,
                                           zttp_tstamp now);

/* zttp_quic_recovery_next_timeout returns when the loss detection timer
 * fires (RFC 9002 Appendix A.8), or ZTTP_TSTAMP_NEVER. The connection
 * combines it with its idle, ACK-delay and pacing timers. */
static inline zttp_tstamp
zttp_quic_recovery_next_timeout(const zttp_quic_recovery *rec) {
  return rec->timer;
}

/* zttp_quic_recovery_on_timeout runs the loss detection timer if it is due
 * at |now| (RFC 9002 Appendix A.9) and returns what it did (enum
 * zttp_quic_timeout_kind), with the space whose timer fired in |*space|
 * (for LOSS, PTO and ANTI_DEADLOCK). Lost packets become pullable; probes
 * owed are in zttp_quic_recovery_probes(). */
int zttp_quic_recovery_on_timeout(zttp_quic_recovery *rec, uint32_t *space,
                                  zttp_tstamp now);

/* zttp_quic_recovery_probes returns how many ack-eliciting probe packets
 * are still owed in |space| after a PTO; each ack-eliciting packet sent
 * there pays one off. Probes are not limited by the congestion window
 * (RFC 9002 §7.5). */
static inline uint32_t zttp_quic_recovery_probes(const zttp_quic_recovery *rec,
                                                 uint32_t space) {
  return space < ZTTP_QUIC_NUM_SPACES ? rec->probes[space] : 0;
}

/* zttp_quic_recovery_discard_space drops Initial or Handshake state when
 * its keys are discarded (RFC 9002 §6.4, Appendix A.11): outstanding
 * packets leave bytes in flight and become pullable as DISCARDED, the PTO
 * backoff is reset and the timer rearmed; the space accepts nothing more.
 * Returns 0 or ZTTP_ERR_INVALID_ARGUMENT (the ApplicationData space or no
 * such space); discarding twice is a no-op. */
int32_t zttp_quic_recovery_discard_space(zttp_quic_recovery *rec,
                                         uint32_t space, zttp_tstamp now);

/* zttp_quic_recovery_on_retry resets congestion control and loss recovery
 * after a client accepted a Retry (RFC 9002 §6.3): every outstanding packet
 * becomes pullable as LOST (its data is sent again, without a congestion
 * response), the RTT estimator, window, PTO backoff and timer start over.
 * Packet numbers keep increasing. */
void zttp_quic_recovery_on_retry(zttp_quic_recovery *rec, zttp_tstamp now);

/* zttp_quic_recovery_next pulls the next packet whose fate is known
 * (acknowledged, lost or discarded), by space then packet number, into
 * |*out| (a copy; out->state says which). Returns 1, or 0 when there is
 * none. Pull everything after each call that can mark packets; records not
 * yet pulled keep their slot. */
int zttp_quic_recovery_next(zttp_quic_recovery *rec, zttp_quic_sent_pkt *out);

/* zttp_quic_recovery_bytes_in_flight returns the bytes of in-flight packets
 * neither acknowledged, lost nor discarded (RFC 9002 Appendix B.2). */
static inline uint64_t
zttp_quic_recovery_bytes_in_flight(const zttp_quic_recovery *rec) {
  return rec->cc.bytes_in_flight;
}

/* zttp_quic_recovery_peer_validated returns 1 when the peer completed
 * address validation (RFC 9002 Appendix A.8
 * PeerCompletedAddressValidation): always for a server; for a client once
 * a Handshake ACK arrived or the handshake is confirmed. */
int zttp_quic_recovery_peer_validated(const zttp_quic_recovery *rec);

#endif
