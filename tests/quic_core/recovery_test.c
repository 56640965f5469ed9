/* src/quic/recovery.c against RFC 9002 §5-§7 and Appendix A, on scripted
 * traces with a virtual clock: RTT samples, packet- and time-threshold
 * loss, the PTO with its backoff and reset, the handshake rules (no
 * ApplicationData PTO before confirmation, the client's anti-deadlock PTO,
 * the amplification-limited server), persistent congestion, key discard,
 * the optimistic-ACK checks of RFC 9000 §21.4, the record cap, a failing
 * allocator and a random model run. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "quic/error.h"
#include "quic/recovery.h"

#define MS ZTTP_QUIC_NS_PER_MS
#define US 1000ull
#define AE (ZTTP_QUIC_SENT_ACK_ELICITING | ZTTP_QUIC_SENT_IN_FLIGHT)
#define APP ZTTP_QUIC_SPACE_APP
#define INI ZTTP_QUIC_SPACE_INITIAL
#define HS ZTTP_QUIC_SPACE_HANDSHAKE
/* An arbitrary start for the virtual clock. */
#define T0 (1000 * MS)

static void send_pkt(zttp_quic_recovery *rec, uint32_t space, uint64_t pn,
                     uint32_t size, uint32_t flags, zttp_tstamp now) {
  assert_int_equal(zttp_quic_recovery_on_packet_sent(
                       rec, space, pn, size, flags, 100 * space + pn, now),
                   0);
}

/* An ACK of [lo, hi] (and [lo2, hi2] below it when hi2 != 0). */
static int32_t ack2(zttp_quic_recovery *rec, uint32_t space, uint64_t lo,
                    uint64_t hi, uint64_t lo2, uint64_t hi2, uint64_t delay,
                    zttp_tstamp now) {
  zttp_quic_ack_range r[2] = {{lo, hi}, {lo2, hi2}};
  uint64_t err = 99;
  int32_t rv = zttp_quic_recovery_on_ack_received(
      rec, &err, space, r, hi2 != 0 ? 2 : 1, delay, 0, now);
  if (rv == ZTTP_ERR_PROTOCOL) {
    assert_int_equal(err, ZTTP_QUIC_ERR_PROTOCOL_VIOLATION);
  } else {
    assert_int_equal(err, 0);
  }
  return rv;
}

static int32_t ack(zttp_quic_recovery *rec, uint32_t space, uint64_t lo,
                   uint64_t hi, uint64_t delay, zttp_tstamp now) {
  return ack2(rec, space, lo, hi, 0, 0, delay, now);
}

/* Pulls every record and prints "A1 L2 D3" (acked, lost, discarded; the
 * Initial and Handshake spaces prefixed with i and h). */
static const char *drain(zttp_quic_recovery *rec) {
  static char buf[1024];
  size_t n = 0;
  buf[0] = '\0';
  zttp_quic_sent_pkt p;
  while (zttp_quic_recovery_next(rec, &p)) {
    const char *st = p.state == ZTTP_QUIC_SENT_ACKED       ? "A"
                     : p.state == ZTTP_QUIC_SENT_LOST      ? "L"
                     : p.state == ZTTP_QUIC_SENT_DISCARDED ? "D"
                                                           : "?";
    const char *sp = p.space == INI ? "i" : p.space == HS ? "h" : "";
    assert_int_equal(p.token, 100 * p.space + p.pn);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s%s%llu",
                          n > 0 ? " " : "", sp, st, (unsigned long long)p.pn);
    assert_true(n < sizeof(buf));
  }
  return buf;
}

/* A server with the handshake confirmed: every PTO rule is on. */
static void server_confirmed(zttp_quic_recovery *rec) {
  zttp_quic_recovery_init(rec, zttp_mem_default(), 1, 256, ZTTP_QUIC_CC_NEWRENO,
                          1200);
  zttp_quic_recovery_set_handshake_confirmed(rec, 0);
}

static void test_rtt_samples(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  server_confirmed(&rec);
  send_pkt(&rec, APP, 0, 1200, AE, T0);
  /* The first sample sets everything (RFC 9002 §5.3); ack delay unused. */
  assert_int_equal(ack(&rec, APP, 0, 0, 10 * MS, T0 + 100 * MS), 0);
  assert_int_equal(rec.rtt.latest, 100 * MS);
  assert_int_equal(rec.rtt.min, 100 * MS);
  assert_int_equal(rec.rtt.smoothed, 100 * MS);
  assert_int_equal(rec.rtt.var, 50 * MS);
  assert_string_equal(drain(&rec), "A0");
  /* 120 ms with 10 ms of ack delay: adjusted 110 ms. */
  send_pkt(&rec, APP, 1, 1200, AE, T0 + 100 * MS);
  assert_int_equal(ack(&rec, APP, 0, 1, 10 * MS, T0 + 220 * MS), 0);
  assert_int_equal(rec.rtt.latest, 120 * MS);
  assert_int_equal(rec.rtt.smoothed, (7 * 100 * MS + 110 * MS) / 8);
  assert_int_equal(rec.rtt.var, (3 * 50 * MS + 10 * MS) / 4);
  assert_string_equal(drain(&rec), "A1");
  uint64_t srtt = rec.rtt.smoothed;
  uint64_t var = rec.rtt.var;
  /* §5.1: the largest acknowledged not newly acknowledged: no sample. */
  send_pkt(&rec, APP, 2, 1200, AE, T0 + 300 * MS);
  send_pkt(&rec, APP, 3, 1200, AE, T0 + 301 * MS);
  assert_int_equal(ack(&rec, APP, 3, 3, 0, T0 + 400 * MS), 0);
  assert_int_equal(rec.rtt.latest, 99 * MS);
  srtt = rec.rtt.smoothed;
  var = rec.rtt.var;
  assert_int_equal(ack(&rec, APP, 2, 3, 0, T0 + 500 * MS), 0);
  assert_int_equal(rec.rtt.latest, 99 * MS);
  assert_int_equal(rec.rtt.smoothed, srtt);
  assert_int_equal(rec.rtt.var, var);
  assert_string_equal(drain(&rec), "A2 A3");
  /* Only packets that are not ack-eliciting newly acknowledged: none. */
  send_pkt(&rec, APP, 4, 50, 0, T0 + 500 * MS);
  assert_int_equal(ack(&rec, APP, 4, 4, 0, T0 + 900 * MS), 0);
  assert_int_equal(rec.rtt.latest, 99 * MS);
  assert_int_equal(rec.rtt.smoothed, srtt);
  assert_string_equal(drain(&rec), "A4");
  /* After confirmation the ack delay is capped at max_ack_delay (25 ms):
   * 200 ms with 90 ms reported is adjusted to 175 ms. */
  send_pkt(&rec, APP, 5, 1200, AE, T0 + 1000 * MS);
  assert_int_equal(ack(&rec, APP, 5, 5, 90 * MS, T0 + 1200 * MS), 0);
  assert_int_equal(rec.rtt.smoothed, (7 * srtt + 175 * MS) / 8);
  assert_int_equal(rec.rtt.var, (3 * var + (175 * MS - srtt)) / 4);
  assert_int_equal(rec.rtt.min, 99 * MS);
  assert_string_equal(drain(&rec), "A5");
  /* An ACK that acknowledges nothing new changes nothing. */
  srtt = rec.rtt.smoothed;
  assert_int_equal(ack(&rec, APP, 0, 5, 0, T0 + 2000 * MS), 0);
  assert_int_equal(rec.rtt.smoothed, srtt);
  assert_string_equal(drain(&rec), "");
  assert_int_equal(zttp_quic_recovery_bytes_in_flight(&rec), 0);
  zttp_quic_recovery_free(&rec);
}

static void test_packet_threshold(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  server_confirmed(&rec);
  for (uint64_t pn = 1; pn <= 5; pn++) {
    send_pkt(&rec, APP, pn, 1200, AE, T0 + pn * MS);
  }
  assert_int_equal(rec.cc.bytes_in_flight, 6000);
  assert_int_equal(rec.cc.cwnd, 12000);
  /* ACK 4 at 4 ms + 100 ms: packet 1 is 3 packets behind (kPacketThreshold,
   * RFC 9002 §6.1.1), 2 and 3 are not, and not old enough either: the loss
   * delay is 9/8 * 100 ms and they were sent 102 and 101 ms before. */
  assert_int_equal(ack(&rec, APP, 4, 4, 0, T0 + 104 * MS), 0);
  assert_string_equal(drain(&rec), "L1 A4");
  /* NewReno halves the window once (RFC 9002 §7.3.2); packet 4 was sent
   * before the recovery period and does not grow it. */
  assert_int_equal(rec.cc.cwnd, 6000);
  assert_int_equal(rec.cc.ssthresh, 6000);
  assert_int_equal(rec.cc.bytes_in_flight, 3600);
  /* The time threshold is armed for packet 2: sent at 2 ms, lost at
   * 2 + 112.5 ms. */
  assert_int_equal(rec.sp[APP].loss_time, T0 + 2 * MS + 112500 * US);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 2 * MS + 112500 * US);
  /* ACK 5: now packet 2 is 3 behind; 3 still waits. No second reduction
   * within the recovery period. */
  assert_int_equal(ack(&rec, APP, 4, 5, 0, T0 + 105 * MS), 0);
  assert_string_equal(drain(&rec), "L2 A5");
  assert_int_equal(rec.cc.cwnd, 6000);
  assert_int_equal(rec.cc.bytes_in_flight, 1200);
  assert_int_equal(rec.sp[APP].largest_acked, 5);
  zttp_quic_recovery_free(&rec);
}

/* RFC 9002 §6.1.1: a packet declared lost and then acknowledged was only
 * reordered; the packet threshold grows to the distance seen (capped), so
 * that the same reordering is not loss again. */
static void test_spurious_loss(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  server_confirmed(&rec);
  for (uint64_t pn = 1; pn <= 8; pn++) {
    send_pkt(&rec, APP, pn, 1200, AE, T0 + pn * MS);
  }
  /* 1 is 5 behind 6: lost by the threshold of 3. */
  assert_int_equal(ack(&rec, APP, 2, 6, 0, T0 + 60 * MS), 0);
  assert_string_equal(drain(&rec), "L1 A2 A3 A4 A5 A6");
  assert_int_equal(rec.pkt_threshold, ZTTP_QUIC_PACKET_THRESHOLD);
  /* It arrives late: spurious; the threshold becomes 8 - 1 + 1. */
  assert_int_equal(ack2(&rec, APP, 7, 8, 1, 1, 0, T0 + 61 * MS), 0);
  assert_string_equal(drain(&rec), "A7 A8");
  assert_int_equal(rec.spurious_losses, 1);
  assert_int_equal(rec.pkt_threshold, 8);
  /* The same ACK again counts nothing more. */
  assert_int_equal(ack2(&rec, APP, 7, 8, 1, 1, 0, T0 + 62 * MS), 0);
  assert_int_equal(rec.spurious_losses, 1);
  /* Now a packet 5 behind is not lost by count (only by time). */
  for (uint64_t pn = 9; pn <= 15; pn++) {
    send_pkt(&rec, APP, pn, 1200, AE, T0 + 62 * MS + pn * US);
  }
  assert_int_equal(ack(&rec, APP, 10, 14, 0, T0 + 63 * MS), 0);
  assert_string_equal(drain(&rec), "A10 A11 A12 A13 A14");
  /* The cap. */
  rec.sp[APP].lost[0] = 9;
  rec.sp[APP].num_lost = 1;
  for (uint64_t pn = 16; pn <= 60; pn++) {
    send_pkt(&rec, APP, pn, 100, AE, T0 + 64 * MS);
  }
  assert_int_equal(ack2(&rec, APP, 60, 60, 9, 9, 0, T0 + 65 * MS), 0);
  assert_int_equal(rec.pkt_threshold, ZTTP_QUIC_MAX_PACKET_THRESHOLD);
  zttp_quic_recovery_free(&rec);
}

static void test_time_threshold(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  server_confirmed(&rec);
  send_pkt(&rec, APP, 0, 1200, AE, T0);
  send_pkt(&rec, APP, 1, 1200, AE, T0 + 8 * MS);
  /* latest_rtt = smoothed_rtt = 80 ms: the loss delay is 90 ms. */
  assert_int_equal(ack(&rec, APP, 1, 1, 0, T0 + 88 * MS), 0);
  assert_string_equal(drain(&rec), "A1");
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), T0 + 90 * MS);
  uint32_t sp = 99;
  assert_int_equal(zttp_quic_recovery_on_timeout(&rec, &sp, T0 + 90 * MS - 1),
                   ZTTP_QUIC_TIMEOUT_NONE);
  assert_string_equal(drain(&rec), "");
  assert_int_equal(zttp_quic_recovery_on_timeout(&rec, &sp, T0 + 90 * MS),
                   ZTTP_QUIC_TIMEOUT_LOSS);
  assert_int_equal(sp, APP);
  assert_string_equal(drain(&rec), "L0");
  assert_int_equal(rec.cc.cwnd, 6600); /* 12000 + 1200, halved */
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), ZTTP_TSTAMP_NEVER);
  assert_int_equal(zttp_quic_recovery_probes(&rec, APP), 0);

  /* max(smoothed_rtt, latest_rtt): a latest sample above the smoothed
   * one. smoothed = (7 * 80 + 160) / 8 = 90 ms, latest = 160 ms: the delay
   * is 180 ms. */
  send_pkt(&rec, APP, 2, 1200, AE, T0 + 1000 * MS);
  send_pkt(&rec, APP, 3, 1200, AE, T0 + 1001 * MS);
  assert_int_equal(ack(&rec, APP, 3, 3, 0, T0 + 1161 * MS), 0);
  assert_int_equal(rec.rtt.smoothed, 90 * MS);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), T0 + 1180 * MS);
  /* The other way round: smoothed above latest. A 10 ms sample leaves
   * smoothed at (7 * 90 + 10) / 8 = 80 ms: the delay is 90 ms, and packet
   * 2 (sent 161 ms before) is lost at once. */
  send_pkt(&rec, APP, 4, 1200, AE, T0 + 1151 * MS);
  send_pkt(&rec, APP, 5, 1200, AE, T0 + 1152 * MS);
  assert_int_equal(ack(&rec, APP, 5, 5, 0, T0 + 1162 * MS), 0);
  assert_int_equal(rec.rtt.smoothed, 80 * MS);
  assert_int_equal(rec.rtt.latest, 10 * MS);
  assert_string_equal(drain(&rec), "L2 A3 A5");
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), T0 + 1241 * MS);
  zttp_quic_recovery_free(&rec);
}

static void test_pto(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  server_confirmed(&rec);
  send_pkt(&rec, APP, 0, 1200, AE, T0);
  assert_int_equal(ack(&rec, APP, 0, 0, 0, T0 + 100 * MS), 0);
  assert_string_equal(drain(&rec), "A0");
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), ZTTP_TSTAMP_NEVER);
  /* PTO = srtt + 4 * rttvar + max_ack_delay = 100 + 200 + 25 ms. */
  zttp_tstamp t1 = T0 + 200 * MS;
  send_pkt(&rec, APP, 1, 1200, AE, t1);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), t1 + 325 * MS);
  uint32_t sp = 99;
  assert_int_equal(zttp_quic_recovery_on_timeout(&rec, &sp, t1 + 325 * MS - 1),
                   ZTTP_QUIC_TIMEOUT_NONE);
  assert_int_equal(zttp_quic_recovery_on_timeout(&rec, &sp, t1 + 325 * MS),
                   ZTTP_QUIC_TIMEOUT_PTO);
  assert_int_equal(sp, APP);
  assert_int_equal(rec.pto_count, 1);
  /* No loss is declared on a PTO (RFC 9002 §6.2). */
  assert_string_equal(drain(&rec), "");
  assert_int_equal(zttp_quic_recovery_probes(&rec, APP), 2);
  assert_int_equal(zttp_quic_recovery_probes(&rec, INI), 0);
  /* Backoff: twice the period from the last ack-eliciting packet. */
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), t1 + 650 * MS);
  zttp_tstamp t2 = t1 + 325 * MS;
  send_pkt(&rec, APP, 2, 1200, AE, t2);
  assert_int_equal(zttp_quic_recovery_probes(&rec, APP), 1);
  send_pkt(&rec, APP, 3, 1200, AE, t2);
  assert_int_equal(zttp_quic_recovery_probes(&rec, APP), 0);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), t2 + 650 * MS);
  /* The second PTO: four times. */
  assert_int_equal(zttp_quic_recovery_on_timeout(&rec, &sp, t2 + 650 * MS),
                   ZTTP_QUIC_TIMEOUT_PTO);
  assert_int_equal(rec.pto_count, 2);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), t2 + 1300 * MS);
  /* An ACK resets the backoff: latest 100 ms keeps srtt at 100 ms and
   * brings rttvar to 37.5 ms, so the next PTO is 100 + 150 + 25 ms. */
  zttp_tstamp t3 = t2 + 100 * MS;
  assert_int_equal(ack(&rec, APP, 1, 3, 0, t3), 0);
  assert_string_equal(drain(&rec), "A1 A2 A3");
  assert_int_equal(rec.pto_count, 0);
  assert_int_equal(rec.rtt.var, 37500 * US);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), ZTTP_TSTAMP_NEVER);
  send_pkt(&rec, APP, 4, 1200, AE, t3 + 5 * MS);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   t3 + 5 * MS + 275 * MS);
  /* A packet that is not ack-eliciting does not restart the PTO. */
  send_pkt(&rec, APP, 5, 40, 0, t3 + 6 * MS);
  send_pkt(&rec, APP, 6, 1200, ZTTP_QUIC_SENT_IN_FLIGHT, t3 + 7 * MS);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   t3 + 5 * MS + 275 * MS);
  zttp_quic_recovery_free(&rec);
}

static void test_pto_handshake_rules(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  zttp_quic_recovery_init(&rec, zttp_mem_default(), 1, 64, ZTTP_QUIC_CC_NEWRENO,
                          1200);
  /* Initial: no max_ack_delay; 333 + 4 * 166.5 = 999 ms (§6.2.1). */
  send_pkt(&rec, INI, 0, 1200, AE, T0);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), T0 + 999 * MS);
  /* Handshake later: the earlier of the two spaces. */
  send_pkt(&rec, HS, 0, 1200, AE, T0 + 10 * MS);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), T0 + 999 * MS);
  /* ApplicationData is skipped until the handshake is confirmed. */
  send_pkt(&rec, APP, 0, 1200, AE, T0 + 5 * MS);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), T0 + 999 * MS);
  /* A PTO in Initial owes two probes there and one in Handshake and
   * ApplicationData (§6.2.4: the other spaces with data in flight). */
  uint32_t sp = 99;
  assert_int_equal(zttp_quic_recovery_on_timeout(&rec, &sp, T0 + 999 * MS),
                   ZTTP_QUIC_TIMEOUT_PTO);
  assert_int_equal(sp, INI);
  assert_int_equal(zttp_quic_recovery_probes(&rec, INI), 2);
  assert_int_equal(zttp_quic_recovery_probes(&rec, HS), 1);
  assert_int_equal(zttp_quic_recovery_probes(&rec, APP), 1);
  /* Backed off: the Initial packet's PTO, doubled, still the earlier. */
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), T0 + 1998 * MS);
  /* Discarding Initial keys resets the backoff (A.11). */
  assert_int_equal(zttp_quic_recovery_discard_space(&rec, INI, T0 + 1 * MS), 0);
  assert_int_equal(zttp_quic_recovery_probes(&rec, INI), 0);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 10 * MS + 999 * MS);
  assert_int_equal(zttp_quic_recovery_discard_space(&rec, HS, T0 + 2 * MS), 0);
  assert_string_equal(drain(&rec), "iD0 hD0");
  /* Only ApplicationData left, handshake not confirmed: no timer. */
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), ZTTP_TSTAMP_NEVER);
  /* Confirmation arms it, with max_ack_delay: 999 + 25 ms. */
  zttp_quic_recovery_set_handshake_confirmed(&rec, T0 + 20 * MS);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 5 * MS + 1024 * MS);
  zttp_quic_recovery_set_max_ack_delay(&rec, 5 * MS, T0 + 21 * MS);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 5 * MS + 1004 * MS);
  /* A server at its amplification limit arms nothing (§6.2.2.1). */
  zttp_quic_recovery_set_amplification_limited(&rec, 1, T0 + 22 * MS);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), ZTTP_TSTAMP_NEVER);
  assert_int_equal(zttp_quic_recovery_on_timeout(&rec, &sp, T0 + 9999 * MS),
                   ZTTP_QUIC_TIMEOUT_NONE);
  zttp_quic_recovery_set_amplification_limited(&rec, 0, T0 + 23 * MS);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 5 * MS + 1004 * MS);
  zttp_quic_recovery_free(&rec);
}

static void test_client_anti_deadlock(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  zttp_quic_recovery_init(&rec, zttp_mem_default(), 0, 64, ZTTP_QUIC_CC_NEWRENO,
                          1200);
  assert_false(zttp_quic_recovery_peer_validated(&rec));
  send_pkt(&rec, INI, 0, 1200, AE, T0);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), T0 + 999 * MS);
  /* The server's Initial ACK: nothing in flight, but the server may be
   * blocked by its amplification limit, so the client keeps a timer from
   * now: srtt 50 ms + 4 * 25 ms. */
  assert_int_equal(ack(&rec, INI, 0, 0, 0, T0 + 50 * MS), 0);
  assert_string_equal(drain(&rec), "iA0");
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), T0 + 200 * MS);
  uint32_t sp = 99;
  assert_int_equal(zttp_quic_recovery_on_timeout(&rec, &sp, T0 + 200 * MS),
                   ZTTP_QUIC_TIMEOUT_ANTI_DEADLOCK);
  assert_int_equal(sp, INI); /* no Handshake keys: a padded Initial */
  assert_int_equal(zttp_quic_recovery_probes(&rec, INI), 1);
  assert_int_equal(rec.pto_count, 1);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), T0 + 500 * MS);
  /* The probe is acknowledged in an Initial packet: the client is not
   * sure yet that the server validated it, so the backoff stays
   * (§6.2.1). */
  send_pkt(&rec, INI, 1, 1200, AE, T0 + 200 * MS);
  assert_int_equal(zttp_quic_recovery_probes(&rec, INI), 0);
  assert_int_equal(ack(&rec, INI, 1, 1, 0, T0 + 250 * MS), 0);
  assert_string_equal(drain(&rec), "iA1");
  assert_int_equal(rec.pto_count, 1);
  /* srtt stays 50 ms, rttvar 18.75 ms: (50 + 75) * 2 from now. */
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 250 * MS + 250 * MS);
  /* With Handshake keys the probe goes in the Handshake space. */
  zttp_quic_recovery_set_has_handshake_keys(&rec, T0 + 260 * MS);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 260 * MS + 250 * MS);
  assert_int_equal(zttp_quic_recovery_on_timeout(&rec, &sp, T0 + 510 * MS),
                   ZTTP_QUIC_TIMEOUT_ANTI_DEADLOCK);
  assert_int_equal(sp, HS);
  assert_int_equal(zttp_quic_recovery_probes(&rec, HS), 1);
  assert_int_equal(rec.pto_count, 2);
  /* A Handshake ACK validates the client's address: the backoff resets
   * and, with nothing in flight, no timer is left. */
  send_pkt(&rec, HS, 0, 1000, AE, T0 + 510 * MS);
  assert_int_equal(ack(&rec, HS, 0, 0, 0, T0 + 560 * MS), 0);
  assert_true(zttp_quic_recovery_peer_validated(&rec));
  assert_int_equal(rec.pto_count, 0);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), ZTTP_TSTAMP_NEVER);
  assert_string_equal(drain(&rec), "hA0");
  zttp_quic_recovery_free(&rec);
}

/* Packets 1-5 after a first sample of 10 ms (at T0 + 10 ms). */
static void pc_setup(zttp_quic_recovery *rec) {
  server_confirmed(rec);
  send_pkt(rec, APP, 0, 1200, AE, T0);
  assert_int_equal(ack(rec, APP, 0, 0, 0, T0 + 10 * MS), 0);
  assert_string_equal(drain(rec), "A0");
  assert_int_equal(rec->cc.cwnd, 13200);
  send_pkt(rec, APP, 1, 1200, AE, T0 + 20 * MS);
  send_pkt(rec, APP, 2, 1200, AE, T0 + 100 * MS);
  send_pkt(rec, APP, 3, 1200, AE, T0 + 190 * MS);
  send_pkt(rec, APP, 4, 1200, AE, T0 + 200 * MS);
  send_pkt(rec, APP, 5, 1200, AE, T0 + 210 * MS);
}

static void test_persistent_congestion(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  /* ACK 5 at 220 ms: a 10 ms sample, srtt 10 ms, rttvar 3.75 ms; the
   * duration is (10 + 15 + 25) * 3 = 150 ms (RFC 9002 §7.6.1). Packets 1-4
   * are lost (1, 2 by count; 3, 4 by time: 9/8 * 10 ms) and 1 and 4 were
   * sent 180 ms apart with nothing acknowledged between them. */
  pc_setup(&rec);
  rec.rtt.latest = 30 * MS; /* min_rtt restarts from the newest sample */
  rec.rtt.min = 5 * MS;
  assert_int_equal(ack(&rec, APP, 5, 5, 0, T0 + 220 * MS), 0);
  assert_string_equal(drain(&rec), "L1 L2 L3 L4 A5");
  /* kMinimumWindow, then packet 5 grows it: persistent congestion ends
   * the recovery period (Appendix B.8) before OnPacketsAcked. */
  assert_int_equal(rec.cc.cwnd, 2400 + 1200);
  assert_int_equal(rec.rtt.min, 10 * MS);
  assert_int_equal(rec.cc.in_recovery, 0);
  assert_int_equal(rec.cc.bytes_in_flight, 0);
  zttp_quic_recovery_free(&rec);

  /* The same losses with packet 2 acknowledged: the periods 1-1 and 3-4
   * are too short. One ordinary reduction. */
  pc_setup(&rec);
  assert_int_equal(ack2(&rec, APP, 5, 5, 2, 2, 0, T0 + 220 * MS), 0);
  assert_string_equal(drain(&rec), "L1 A2 L3 L4 A5");
  assert_int_equal(rec.cc.cwnd, 6600);
  zttp_quic_recovery_free(&rec);

  /* Packet 2 acknowledged by an earlier ACK, 9 ms after it was sent, when
   * packet 1 was not lost yet (10 ms old, the loss delay 11.1 ms). The
   * duration at the end is about 141 ms; 1 and 4 are 180 ms apart but
   * packet 2 lies between them. */
  server_confirmed(&rec);
  send_pkt(&rec, APP, 0, 1200, AE, T0);
  assert_int_equal(ack(&rec, APP, 0, 0, 0, T0 + 10 * MS), 0);
  send_pkt(&rec, APP, 1, 1200, AE, T0 + 20 * MS);
  send_pkt(&rec, APP, 2, 1200, AE, T0 + 21 * MS);
  assert_int_equal(ack(&rec, APP, 2, 2, 0, T0 + 30 * MS), 0);
  assert_string_equal(drain(&rec), "A0 A2");
  send_pkt(&rec, APP, 3, 1200, AE, T0 + 190 * MS);
  send_pkt(&rec, APP, 4, 1200, AE, T0 + 200 * MS);
  send_pkt(&rec, APP, 5, 1200, AE, T0 + 210 * MS);
  assert_int_equal(ack(&rec, APP, 5, 5, 0, T0 + 220 * MS), 0);
  assert_string_equal(drain(&rec), "L1 L3 L4 A5");
  assert_int_equal(rec.cc.cwnd, (13200 + 1200) / 2);
  zttp_quic_recovery_free(&rec);

  /* A skipped packet number between them is not an acknowledgment. */
  server_confirmed(&rec);
  send_pkt(&rec, APP, 0, 1200, AE, T0);
  assert_int_equal(ack(&rec, APP, 0, 0, 0, T0 + 10 * MS), 0);
  send_pkt(&rec, APP, 1, 1200, AE, T0 + 20 * MS);
  assert_int_equal(zttp_quic_recovery_skip_pn(&rec, APP, 2), 0);
  send_pkt(&rec, APP, 3, 1200, AE, T0 + 190 * MS);
  send_pkt(&rec, APP, 4, 1200, AE, T0 + 200 * MS);
  send_pkt(&rec, APP, 5, 1200, AE, T0 + 210 * MS);
  assert_int_equal(ack(&rec, APP, 5, 5, 0, T0 + 220 * MS), 0);
  assert_string_equal(drain(&rec), "A0 L1 L3 L4 A5");
  assert_int_equal(rec.cc.cwnd, 2400 + 1200);
  zttp_quic_recovery_free(&rec);

  /* Not ack-eliciting at the ends: packets 1 and 4 only carry PADDING, so
   * 2-3 span 90 ms only. */
  server_confirmed(&rec);
  send_pkt(&rec, APP, 0, 1200, AE, T0);
  assert_int_equal(ack(&rec, APP, 0, 0, 0, T0 + 10 * MS), 0);
  send_pkt(&rec, APP, 1, 1200, ZTTP_QUIC_SENT_IN_FLIGHT, T0 + 20 * MS);
  send_pkt(&rec, APP, 2, 1200, AE, T0 + 100 * MS);
  send_pkt(&rec, APP, 3, 1200, AE, T0 + 190 * MS);
  send_pkt(&rec, APP, 4, 1200, ZTTP_QUIC_SENT_IN_FLIGHT, T0 + 200 * MS);
  send_pkt(&rec, APP, 5, 1200, AE, T0 + 210 * MS);
  assert_int_equal(ack(&rec, APP, 5, 5, 0, T0 + 220 * MS), 0);
  assert_string_equal(drain(&rec), "A0 L1 L2 L3 L4 A5");
  assert_int_equal(rec.cc.cwnd, 6600);
  zttp_quic_recovery_free(&rec);

  /* No RTT sample before the packets were sent (§7.6.2): 4 s of losses,
   * far over the 975 ms duration after the sample this ACK brings, are
   * one ordinary congestion event. */
  server_confirmed(&rec);
  send_pkt(&rec, APP, 0, 1200, AE, T0);
  send_pkt(&rec, APP, 1, 1200, AE, T0 + 2000 * MS);
  send_pkt(&rec, APP, 2, 1200, AE, T0 + 4000 * MS);
  send_pkt(&rec, APP, 3, 1200, AE, T0 + 4100 * MS);
  assert_int_equal(ack(&rec, APP, 3, 3, 0, T0 + 4200 * MS), 0);
  assert_string_equal(drain(&rec), "L0 L1 L2 A3");
  assert_int_equal(rec.cc.cwnd, 6000);
  zttp_quic_recovery_free(&rec);

  /* Losses on the timer go through OnPacketsLost too (Appendix A.9).
   * Sample 10 ms at 10 ms; packets 1 (20 ms) .. 3 (200 ms) and 4 at
   * 201 ms; ACK 4 at 211 ms loses 1 (count) and 2 (time) and arms the
   * timer for 3 at 200 + 11.25 ms. */
  server_confirmed(&rec);
  send_pkt(&rec, APP, 0, 1200, AE, T0);
  assert_int_equal(ack(&rec, APP, 0, 0, 0, T0 + 10 * MS), 0);
  send_pkt(&rec, APP, 1, 1200, AE, T0 + 20 * MS);
  send_pkt(&rec, APP, 2, 1200, AE, T0 + 100 * MS);
  send_pkt(&rec, APP, 3, 1200, AE, T0 + 200 * MS);
  send_pkt(&rec, APP, 4, 1200, AE, T0 + 201 * MS);
  assert_int_equal(ack(&rec, APP, 4, 4, 0, T0 + 211 * MS), 0);
  assert_string_equal(drain(&rec), "A0 L1 L2 A4");
  assert_int_equal(rec.cc.cwnd, 6600);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 200 * MS + 11250 * US);
  uint32_t sp;
  assert_int_equal(
      zttp_quic_recovery_on_timeout(&rec, &sp, T0 + 200 * MS + 11250 * US),
      ZTTP_QUIC_TIMEOUT_LOSS);
  assert_string_equal(drain(&rec), "L3");
  /* 3 alone is a period of one packet, in the same recovery period. */
  assert_int_equal(rec.cc.cwnd, 6600);
  zttp_quic_recovery_free(&rec);
}

static void test_discard(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  zttp_quic_recovery_init(&rec, zttp_mem_default(), 0, 64, ZTTP_QUIC_CC_NEWRENO,
                          1200);
  send_pkt(&rec, INI, 0, 1200, AE, T0);
  send_pkt(&rec, INI, 1, 1200, ZTTP_QUIC_SENT_IN_FLIGHT, T0);
  send_pkt(&rec, INI, 2, 60, 0, T0);
  send_pkt(&rec, HS, 0, 1000, AE, T0 + 1 * MS);
  assert_int_equal(zttp_quic_recovery_bytes_in_flight(&rec), 3400);
  assert_int_equal(zttp_quic_recovery_discard_space(&rec, INI, T0 + 2 * MS), 0);
  assert_int_equal(zttp_quic_recovery_bytes_in_flight(&rec), 1000);
  assert_string_equal(drain(&rec), "iD0 iD1 iD2");
  assert_null(rec.sp[INI].pkts);
  /* The timer follows the Handshake packet now. */
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 1 * MS + 999 * MS);
  /* Nothing more in a discarded space; twice is fine. */
  assert_int_equal(zttp_quic_recovery_discard_space(&rec, INI, T0), 0);
  assert_int_equal(ack(&rec, INI, 0, 0, 0, T0 + 3 * MS),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_quic_recovery_reserve(&rec, INI),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(
      zttp_quic_recovery_on_packet_sent(&rec, INI, 3, 10, AE, 0, T0),
      ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_quic_recovery_discard_space(&rec, APP, T0),
                   ZTTP_ERR_INVALID_ARGUMENT);
  /* Records acknowledged but not yet pulled survive a discard. */
  send_pkt(&rec, HS, 1, 1000, AE, T0 + 2 * MS);
  assert_int_equal(ack(&rec, HS, 0, 0, 0, T0 + 30 * MS), 0);
  assert_int_equal(zttp_quic_recovery_discard_space(&rec, HS, T0 + 31 * MS), 0);
  assert_int_equal(zttp_quic_recovery_bytes_in_flight(&rec), 0);
  assert_string_equal(drain(&rec), "hA0 hD1");
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec), ZTTP_TSTAMP_NEVER);
  zttp_quic_recovery_free(&rec);
}

static void test_optimistic_ack(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  server_confirmed(&rec);
  /* Nothing sent yet: any ACK is for a packet never sent. */
  assert_int_equal(ack(&rec, APP, 0, 0, 0, T0), ZTTP_ERR_PROTOCOL);
  send_pkt(&rec, APP, 0, 1200, AE, T0);
  send_pkt(&rec, APP, 1, 1200, AE, T0);
  assert_int_equal(zttp_quic_recovery_skip_pn(&rec, APP, 2), 0);
  assert_int_equal(zttp_quic_recovery_skip_pn(&rec, APP, 2),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(
      zttp_quic_recovery_on_packet_sent(&rec, APP, 2, 10, AE, 0, T0),
      ZTTP_ERR_INVALID_ARGUMENT);
  send_pkt(&rec, APP, 3, 1200, AE, T0);
  /* An ACK covering the skipped number: PROTOCOL_VIOLATION, and nothing
   * changed. */
  assert_int_equal(ack(&rec, APP, 0, 3, 0, T0 + 10 * MS), ZTTP_ERR_PROTOCOL);
  assert_int_equal(ack2(&rec, APP, 3, 3, 2, 2, 0, T0 + 10 * MS),
                   ZTTP_ERR_PROTOCOL);
  /* Above the largest sent (RFC 9000 §13.1). */
  assert_int_equal(ack(&rec, APP, 3, 4, 0, T0 + 10 * MS), ZTTP_ERR_PROTOCOL);
  assert_string_equal(drain(&rec), "");
  assert_int_equal(rec.sp[APP].largest_acked, ZTTP_QUIC_PN_NONE);
  assert_int_equal(zttp_quic_recovery_bytes_in_flight(&rec), 3600);
  assert_false(rec.rtt.has_sample);
  /* Around it is fine. */
  assert_int_equal(ack2(&rec, APP, 3, 3, 0, 1, 0, T0 + 10 * MS), 0);
  assert_string_equal(drain(&rec), "A0 A1 A3");
  /* Malformed range lists are the caller's bug. */
  zttp_quic_ack_range bad[2] = {{1, 3}, {0, 1}};
  uint64_t err;
  assert_int_equal(
      zttp_quic_recovery_on_ack_received(&rec, &err, APP, bad, 2, 0, 0, T0),
      ZTTP_ERR_INVALID_ARGUMENT);
  bad[0].smallest = 4;
  assert_int_equal(
      zttp_quic_recovery_on_ack_received(&rec, &err, APP, bad, 1, 0, 0, T0),
      ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(
      zttp_quic_recovery_on_ack_received(&rec, &err, APP, bad, 0, 0, 0, T0),
      ZTTP_ERR_INVALID_ARGUMENT);
  /* The skipped list keeps the last ZTTP_QUIC_RECOVERY_MAX_SKIPPED. */
  uint64_t pn = 4;
  for (int i = 0; i < ZTTP_QUIC_RECOVERY_MAX_SKIPPED + 1; i++) {
    assert_int_equal(zttp_quic_recovery_skip_pn(&rec, APP, pn), 0);
    send_pkt(&rec, APP, pn + 1, 100, AE, T0 + 20 * MS);
    pn += 2;
  }
  /* 4 is forgotten, 6 is not. */
  assert_int_equal(ack(&rec, APP, 4, 5, 0, T0 + 30 * MS), 0);
  assert_int_equal(ack(&rec, APP, 6, 7, 0, T0 + 30 * MS), ZTTP_ERR_PROTOCOL);
  zttp_quic_recovery_free(&rec);
}

static void test_record_cap(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  zttp_quic_recovery_init(&rec, zttp_mem_default(), 1, 4, ZTTP_QUIC_CC_NEWRENO,
                          1200);
  zttp_quic_recovery_set_handshake_confirmed(&rec, 0);
  for (uint64_t pn = 0; pn < 4; pn++) {
    assert_int_equal(zttp_quic_recovery_reserve(&rec, APP), 0);
    send_pkt(&rec, APP, pn, 1000, AE, T0);
  }
  assert_int_equal(zttp_quic_recovery_reserve(&rec, APP), ZTTP_ERR_BUFFER_FULL);
  assert_int_equal(
      zttp_quic_recovery_on_packet_sent(&rec, APP, 4, 1000, AE, 4, T0),
      ZTTP_ERR_BUFFER_FULL);
  assert_int_equal(zttp_quic_recovery_bytes_in_flight(&rec), 4000);
  /* Other spaces have their own records. */
  assert_int_equal(zttp_quic_recovery_reserve(&rec, HS), 0);
  /* Acknowledged records keep their slot until pulled. */
  assert_int_equal(ack(&rec, APP, 1, 2, 0, T0 + 10 * MS), 0);
  assert_int_equal(zttp_quic_recovery_reserve(&rec, APP), ZTTP_ERR_BUFFER_FULL);
  zttp_quic_sent_pkt p;
  assert_int_equal(zttp_quic_recovery_next(&rec, &p), 1);
  assert_int_equal(p.pn, 1);
  assert_int_equal(p.state, ZTTP_QUIC_SENT_ACKED);
  assert_int_equal(p.size, 1000);
  assert_int_equal(p.time_sent, T0);
  assert_int_equal(p.token, 201);
  assert_int_equal(p.flags, AE);
  /* One pulled: one slot. */
  assert_int_equal(zttp_quic_recovery_reserve(&rec, APP), 0);
  send_pkt(&rec, APP, 4, 1000, AE, T0 + 11 * MS);
  assert_int_equal(zttp_quic_recovery_reserve(&rec, APP), ZTTP_ERR_BUFFER_FULL);
  assert_string_equal(drain(&rec), "A2");
  send_pkt(&rec, APP, 5, 1000, AE, T0 + 12 * MS);
  assert_int_equal(rec.sp[APP].num, 4);
  assert_int_equal(ack(&rec, APP, 0, 5, 0, T0 + 20 * MS), 0);
  assert_string_equal(drain(&rec), "A0 A3 A4 A5");
  assert_int_equal(rec.sp[APP].num, 0);
  assert_int_equal(zttp_quic_recovery_bytes_in_flight(&rec), 0);
  /* Bad arguments. */
  assert_int_equal(zttp_quic_recovery_reserve(&rec, 3),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_recovery_on_packet_sent(
                       &rec, APP, 9, 10, ZTTP_QUIC_SENT_ACK_ELICITING, 0, T0),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(
      zttp_quic_recovery_on_packet_sent(&rec, APP, 9, 10, 0x80, 0, T0),
      ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_quic_recovery_on_packet_sent(
                       &rec, APP, ZTTP_QUIC_MAX_PN + 1, 10, AE, 0, T0),
                   ZTTP_ERR_INVALID_ARGUMENT);
  zttp_quic_recovery_free(&rec);
}

static void test_retry(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  zttp_quic_recovery_init(&rec, zttp_mem_default(), 0, 64, ZTTP_QUIC_CC_NEWRENO,
                          1200);
  send_pkt(&rec, INI, 0, 1200, AE, T0);
  send_pkt(&rec, APP, 0, 1200, AE, T0);
  rec.cc.cwnd = 5000;
  zttp_quic_recovery_on_retry(&rec, T0 + 30 * MS);
  assert_string_equal(drain(&rec), "iL0 L0");
  assert_int_equal(rec.cc.cwnd, 12000);
  assert_int_equal(zttp_quic_recovery_bytes_in_flight(&rec), 0);
  /* Nothing in flight, client not validated: the anti-deadlock timer. */
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 30 * MS + 999 * MS);
  /* Packet numbers go on. */
  assert_int_equal(
      zttp_quic_recovery_on_packet_sent(&rec, INI, 0, 1200, AE, 0, T0),
      ZTTP_ERR_INVALID_ARGUMENT);
  send_pkt(&rec, INI, 1, 1200, AE, T0 + 30 * MS);
  assert_int_equal(zttp_quic_recovery_bytes_in_flight(&rec), 1200);
  zttp_quic_recovery_free(&rec);
}

/* Every allocation failure leaves the state as it was and nothing leaks. */
static void test_failalloc(void **state) {
  (void)state;
  long k = 0;
  for (;; k++) {
    h_failalloc fa;
    h_failalloc_init(&fa, k);
    zttp_quic_recovery rec;
    zttp_quic_recovery_init(&rec, &fa.alloc, 1, 100, ZTTP_QUIC_CC_NEWRENO,
                            1200);
    int failed = 0;
    for (uint64_t pn = 0; pn < 40; pn++) {
      uint32_t sp = (uint32_t)(pn % 3);
      size_t num = rec.sp[sp].num;
      uint64_t bif = rec.cc.bytes_in_flight;
      int32_t rv = zttp_quic_recovery_on_packet_sent(&rec, sp, pn, 1000, AE, pn,
                                                     T0 + pn);
      if (rv == ZTTP_ERR_NOMEM) {
        assert_int_equal(rec.sp[sp].num, num);
        assert_int_equal(rec.cc.bytes_in_flight, bif);
        failed = 1;
        break;
      }
      assert_int_equal(rv, 0);
      if (pn % 7 == 6) {
        assert_int_equal(ack(&rec, sp, 0, pn, 0, T0 + pn + 1), 0);
        zttp_quic_sent_pkt p;
        while (zttp_quic_recovery_next(&rec, &p)) {
        }
      }
    }
    zttp_quic_recovery_free(&rec);
    assert_int_equal(fa.live_allocs, 0);
    assert_int_equal(fa.bad_frees, 0);
    if (!failed) {
      assert_false(fa.injected);
      break;
    }
  }
  assert_true(k >= 3); /* each space grew at least once */
}

/* A model run: random sends, skips, ACKs (with holes and repeats), partial
 * pulls and timeouts. Every packet is reported exactly once, as acked only
 * if an ACK covered it, and bytes in flight always match the records. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

#define MODEL_PNS 3000
enum { M_NONE, M_OUT, M_SKIP, M_ACKED, M_REPORTED };

static void test_model(void **state) {
  (void)state;
  static uint8_t st[MODEL_PNS];
  static uint8_t covered[MODEL_PNS];
  static uint32_t size[MODEL_PNS];
  memset(st, 0, sizeof(st));
  memset(covered, 0, sizeof(covered));
  zttp_quic_recovery rec;
  zttp_quic_recovery_init(&rec, zttp_mem_default(), 1, 64, ZTTP_QUIC_CC_CUBIC,
                          1200);
  zttp_quic_recovery_set_handshake_confirmed(&rec, 0);
  zttp_tstamp now = T0;
  uint64_t next_pn = 0;
  uint64_t in_flight = 0;
  uint64_t largest_sent = 0;
  for (int step = 0; step < 20000 && next_pn < MODEL_PNS - 2; step++) {
    now += rnd(5) * MS;
    uint32_t op = rnd(10);
    if (op < 4) {
      if (rnd(8) == 0) {
        assert_int_equal(zttp_quic_recovery_skip_pn(&rec, APP, next_pn), 0);
        st[next_pn++] = M_SKIP;
      }
      int32_t rv = zttp_quic_recovery_reserve(&rec, APP);
      if (rv == ZTTP_ERR_BUFFER_FULL) {
        assert_int_equal(rec.sp[APP].num - rec.sp[APP].num_free, 64);
        continue;
      }
      assert_int_equal(rv, 0);
      uint32_t flags = rnd(5) == 0 ? 0 : AE;
      size[next_pn] = 100 + rnd(1100);
      assert_int_equal(zttp_quic_recovery_on_packet_sent(&rec, APP, next_pn,
                                                         size[next_pn], flags,
                                                         next_pn, now),
                       0);
      if (flags != 0) {
        in_flight += size[next_pn];
      }
      st[next_pn] = M_OUT;
      largest_sent = next_pn++;
    } else if (op < 8 && next_pn > 0) {
      /* Up to 4 ranges, highest first, over what was sent. */
      zttp_quic_ack_range r[4];
      size_t n = 0;
      uint64_t hi = largest_sent -
                    rnd((uint32_t)(largest_sent < 5 ? largest_sent + 1 : 5));
      while (n < 4) {
        uint64_t len = rnd(6);
        uint64_t lo = hi >= len ? hi - len : 0;
        r[n++] = (zttp_quic_ack_range){lo, hi};
        if (lo < 2 + 1) {
          break;
        }
        uint64_t gap = 1 + rnd(4);
        if (lo < gap + 1) {
          break;
        }
        hi = lo - gap - 1;
      }
      /* Bad when it covers a skipped number still remembered. */
      int bad = 0;
      const zttp_quic_rec_space *s = &rec.sp[APP];
      for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < s->num_skipped; k++) {
          bad |=
              s->skipped[k] >= r[i].smallest && s->skipped[k] <= r[i].largest;
        }
      }
      uint64_t err;
      int32_t rv = zttp_quic_recovery_on_ack_received(&rec, &err, APP, r, n,
                                                      rnd(3) * MS, rnd(2), now);
      if (bad) {
        assert_int_equal(rv, ZTTP_ERR_PROTOCOL);
        continue;
      }
      assert_int_equal(rv, 0);
      for (size_t i = 0; i < n; i++) {
        for (uint64_t pn = r[i].smallest; pn <= r[i].largest; pn++) {
          covered[pn] = 1;
        }
      }
    } else if (op == 8) {
      uint32_t sp;
      (void)zttp_quic_recovery_on_timeout(&rec, &sp, now);
    }
    /* Pull some or all. */
    uint32_t pulls = rnd(3) == 0 ? rnd(3) : 1000;
    zttp_quic_sent_pkt p;
    while (pulls-- > 0 && zttp_quic_recovery_next(&rec, &p)) {
      assert_true(p.pn < MODEL_PNS);
      assert_int_equal(st[p.pn], M_OUT);
      assert_int_equal(p.token, p.pn);
      if (p.state == ZTTP_QUIC_SENT_ACKED) {
        assert_true(covered[p.pn]);
      } else {
        assert_int_equal(p.state, ZTTP_QUIC_SENT_LOST);
        assert_true(p.pn < rec.sp[APP].largest_acked);
      }
      st[p.pn] = M_REPORTED;
      if (p.flags != 0) {
        in_flight -= p.size;
      }
    }
    /* Records not pulled are out of flight already. */
    uint64_t marked = 0;
    for (size_t i = 0; i < rec.sp[APP].num; i++) {
      const zttp_quic_sent_pkt *q =
          &rec.sp[APP].pkts[(rec.sp[APP].head + i) % rec.sp[APP].cap];
      if (q->state != ZTTP_QUIC_SENT_OUTSTANDING && q->state <= 3 &&
          q->flags != 0) {
        marked += q->size;
      }
    }
    assert_int_equal(rec.cc.bytes_in_flight, in_flight - marked);
    /* Loss only below the largest acknowledged, acknowledgment only for
     * what an ACK covered: checked above; the pn order of the ring: */
    for (size_t i = 1; i < rec.sp[APP].num; i++) {
      const zttp_quic_rec_space *s = &rec.sp[APP];
      assert_true(s->pkts[(s->head + i) % s->cap].pn >
                  s->pkts[(s->head + i - 1) % s->cap].pn);
    }
  }
  assert_true(next_pn > 1000);
  zttp_quic_recovery_free(&rec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rtt_samples),
      cmocka_unit_test(test_packet_threshold),
      cmocka_unit_test(test_spurious_loss),
      cmocka_unit_test(test_time_threshold),
      cmocka_unit_test(test_pto),
      cmocka_unit_test(test_pto_handshake_rules),
      cmocka_unit_test(test_client_anti_deadlock),
      cmocka_unit_test(test_persistent_congestion),
      cmocka_unit_test(test_discard),
      cmocka_unit_test(test_optimistic_ack),
      cmocka_unit_test(test_record_cap),
      cmocka_unit_test(test_retry),
      cmocka_unit_test(test_failalloc),
      cmocka_unit_test(test_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
