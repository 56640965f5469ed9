/* src/quic/acks.c against RFC 9000 §13.2: when an ACK is due (Initial and
 * Handshake at once, 1-RTT at the second ack-eliciting packet, at
 * max_ack_delay, or at once out of order), duplicates, the range cap, the
 * exact ACK frame (ACK Delay in units of 2^ack_delay_exponent us), pruning
 * after an ACK of an ACK, a failing allocator, and the round trip through
 * src/quic/frame.c into src/quic/recovery.c. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "quic/acks.h"
#include "quic/frame.h"
#include "quic/recovery.h"

#define MS ZTTP_QUIC_NS_PER_MS
#define US 1000ull
#define APP ZTTP_QUIC_SPACE_APP
#define INI ZTTP_QUIC_SPACE_INITIAL
#define HS ZTTP_QUIC_SPACE_HANDSHAKE
#define T0 (1000 * MS)

static void acks_new(zttp_quic_acks *a, size_t max_ranges) {
  zttp_quic_acks_init(a, zttp_mem_default(), max_ranges, 25 * MS, 3);
}

static void recv_pkt(zttp_quic_acks *a, uint32_t space, uint64_t pn, int ae,
                     zttp_tstamp now) {
  assert_false(zttp_quic_acks_is_duplicate(a, space, pn));
  assert_int_equal(zttp_quic_acks_on_received(a, space, pn, ae, now), 0);
  assert_true(zttp_quic_acks_is_duplicate(a, space, pn));
}

/* The ranges of the ACK frame |a| would send, as "9 5-6 0-2". */
static const char *ranges_str(const zttp_quic_acks *a, uint32_t space,
                              size_t max, zttp_tstamp now) {
  static char buf[512];
  zttp_quic_ack_range r[64];
  zttp_quic_frame f;
  size_t n = zttp_quic_acks_write(a, &f, r, max, space, now);
  size_t k = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (r[i].smallest == r[i].largest) {
      k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%llu",
                            i > 0 ? " " : "", (unsigned long long)r[i].largest);
    } else {
      k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%llu-%llu",
                            i > 0 ? " " : "", (unsigned long long)r[i].smallest,
                            (unsigned long long)r[i].largest);
    }
  }
  return buf;
}

static void test_handshake_spaces_immediate(void **state) {
  (void)state;
  zttp_quic_acks a;
  acks_new(&a, 8);
  /* Not ack-eliciting: never due alone (§13.2.1), but pending. */
  recv_pkt(&a, INI, 0, 0, T0);
  assert_false(zttp_quic_acks_due(&a, INI, T0 + 1000 * MS));
  assert_true(zttp_quic_acks_pending(&a, INI));
  assert_int_equal(zttp_quic_acks_next_timeout(&a), ZTTP_TSTAMP_NEVER);
  /* Ack-eliciting Initial and Handshake packets: at once. */
  recv_pkt(&a, INI, 1, 1, T0 + 1 * MS);
  assert_true(zttp_quic_acks_due(&a, INI, T0 + 1 * MS));
  assert_int_equal(zttp_quic_acks_deadline(&a, INI), T0 + 1 * MS);
  recv_pkt(&a, HS, 0, 1, T0 + 2 * MS);
  assert_true(zttp_quic_acks_due(&a, HS, T0 + 2 * MS));
  assert_false(zttp_quic_acks_due(&a, APP, T0 + 2 * MS));
  assert_int_equal(zttp_quic_acks_next_timeout(&a), T0 + 1 * MS);
  assert_string_equal(ranges_str(&a, INI, 8, T0 + 1 * MS), "0-1");
  zttp_quic_acks_on_sent(&a, INI);
  assert_false(zttp_quic_acks_due(&a, INI, T0 + 1 * MS));
  assert_false(zttp_quic_acks_pending(&a, INI));
  assert_int_equal(zttp_quic_acks_next_timeout(&a), T0 + 2 * MS);
  /* The ranges stay until the peer acknowledges our ACK. */
  assert_string_equal(ranges_str(&a, INI, 8, T0 + 1 * MS), "0-1");
  /* Discarding the keys: nothing more in that space. */
  zttp_quic_acks_discard(&a, INI);
  assert_true(zttp_quic_acks_is_duplicate(&a, INI, 2));
  assert_int_equal(zttp_quic_acks_on_received(&a, INI, 2, 1, T0),
                   ZTTP_ERR_INVALID_STATE);
  assert_string_equal(ranges_str(&a, INI, 8, T0), "");
  assert_int_equal(zttp_quic_acks_on_received(&a, 3, 2, 1, T0),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(
      zttp_quic_acks_on_received(&a, APP, ZTTP_QUIC_MAX_PN + 1, 1, T0),
      ZTTP_ERR_INVALID_ARGUMENT);
  zttp_quic_acks_free(&a);
}

static void test_app_delayed(void **state) {
  (void)state;
  zttp_quic_acks a;
  acks_new(&a, 8);
  /* One ack-eliciting packet: due max_ack_delay later, to the ns. */
  recv_pkt(&a, APP, 0, 1, T0);
  assert_false(zttp_quic_acks_due(&a, APP, T0));
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 25 * MS);
  assert_int_equal(zttp_quic_acks_next_timeout(&a), T0 + 25 * MS);
  assert_false(zttp_quic_acks_due(&a, APP, T0 + 25 * MS - 1));
  assert_true(zttp_quic_acks_due(&a, APP, T0 + 25 * MS));
  /* A packet that is not ack-eliciting moves nothing. */
  recv_pkt(&a, APP, 1, 0, T0 + 3 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 25 * MS);
  /* The second ack-eliciting packet: due now (§13.2.2). */
  recv_pkt(&a, APP, 2, 1, T0 + 5 * MS);
  assert_true(zttp_quic_acks_due(&a, APP, T0 + 5 * MS));
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 5 * MS);
  zttp_quic_acks_on_sent(&a, APP);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), ZTTP_TSTAMP_NEVER);
  /* Counting starts again after an ACK. */
  recv_pkt(&a, APP, 3, 1, T0 + 10 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 35 * MS);
  recv_pkt(&a, APP, 4, 0, T0 + 11 * MS);
  recv_pkt(&a, APP, 5, 0, T0 + 12 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 35 * MS);
  recv_pkt(&a, APP, 6, 1, T0 + 20 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 20 * MS);
  zttp_quic_acks_on_sent(&a, APP);
  /* Only non-ack-eliciting packets: pending, never due. */
  recv_pkt(&a, APP, 7, 0, T0 + 30 * MS);
  recv_pkt(&a, APP, 9, 0, T0 + 31 * MS); /* even with a gap */
  assert_true(zttp_quic_acks_pending(&a, APP));
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), ZTTP_TSTAMP_NEVER);
  assert_int_equal(zttp_quic_acks_largest(&a, APP), 9);
  zttp_quic_acks_free(&a);
}

static void test_app_out_of_order(void **state) {
  (void)state;
  zttp_quic_acks a;
  acks_new(&a, 8);
  recv_pkt(&a, APP, 0, 1, T0);
  zttp_quic_acks_on_sent(&a, APP);
  /* A gap below a new ack-eliciting packet: at once (§13.2.1). */
  recv_pkt(&a, APP, 2, 1, T0 + 1 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 1 * MS);
  zttp_quic_acks_on_sent(&a, APP);
  /* Below the largest ack-eliciting one (filling the gap): at once. */
  recv_pkt(&a, APP, 1, 1, T0 + 2 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 2 * MS);
  zttp_quic_acks_on_sent(&a, APP);
  /* In order again: delayed. */
  recv_pkt(&a, APP, 3, 1, T0 + 3 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 28 * MS);
  zttp_quic_acks_on_sent(&a, APP);
  /* Not ack-eliciting packets fill the space between: no gap. */
  recv_pkt(&a, APP, 4, 0, T0 + 4 * MS);
  recv_pkt(&a, APP, 5, 1, T0 + 5 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 30 * MS);
  zttp_quic_acks_on_sent(&a, APP);
  /* A non-ack-eliciting packet with a gap is not due, but the next
   * ack-eliciting one still sees the gap (6, 7 missing). */
  recv_pkt(&a, APP, 8, 0, T0 + 6 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), ZTTP_TSTAMP_NEVER);
  recv_pkt(&a, APP, 9, 1, T0 + 7 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), T0 + 7 * MS);
  zttp_quic_acks_on_sent(&a, APP);
  /* A late packet that is not ack-eliciting: not due. */
  recv_pkt(&a, APP, 6, 0, T0 + 8 * MS);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), ZTTP_TSTAMP_NEVER);
  assert_string_equal(ranges_str(&a, APP, 8, T0 + 8 * MS), "8-9 0-6");
  /* Duplicates are refused by is_duplicate and change nothing. */
  assert_true(zttp_quic_acks_is_duplicate(&a, APP, 3));
  assert_int_equal(zttp_quic_acks_on_received(&a, APP, 3, 1, T0 + 9 * MS), 0);
  assert_int_equal(zttp_quic_acks_deadline(&a, APP), ZTTP_TSTAMP_NEVER);
  assert_false(zttp_quic_acks_is_duplicate(&a, APP, 7));
  assert_false(zttp_quic_acks_is_duplicate(&a, APP, 10));
  assert_int_equal(zttp_quic_acks_largest(&a, APP), 9);
  assert_int_equal(zttp_quic_acks_largest(&a, HS), ZTTP_QUIC_PN_NONE);
  zttp_quic_acks_free(&a);
}

static void test_frame_contents(void **state) {
  (void)state;
  zttp_quic_acks a;
  acks_new(&a, 8);
  recv_pkt(&a, APP, 0, 1, T0);
  recv_pkt(&a, APP, 1, 1, T0 + 1 * MS);
  recv_pkt(&a, APP, 2, 1, T0 + 2 * MS);
  recv_pkt(&a, APP, 5, 1, T0 + 3 * MS);
  recv_pkt(&a, APP, 6, 0, T0 + 4 * MS);
  recv_pkt(&a, APP, 9, 1, T0 + 10 * MS);
  recv_pkt(&a, APP, 8, 1, T0 + 11 * MS); /* not the largest: no new time */
  zttp_quic_ack_range r[8];
  zttp_quic_frame f;
  /* 1803 us after the largest arrived, in units of 2^3 us: 225. */
  size_t n = zttp_quic_acks_write(&a, &f, r, 8, APP, T0 + 10 * MS + 1803 * US);
  assert_int_equal(n, 3);
  assert_int_equal(f.type, ZTTP_QUIC_FT_ACK);
  assert_int_equal(f.u.ack.ack_delay, 225);
  assert_ptr_equal(f.u.ack.ranges, r);
  assert_int_equal(f.u.ack.num_ranges, 3);
  assert_int_equal(f.u.ack.total_ranges, 3);
  assert_int_equal(r[0].largest, 9);
  assert_int_equal(r[0].smallest, 8);
  assert_int_equal(r[1].largest, 6);
  assert_int_equal(r[1].smallest, 5);
  assert_int_equal(r[2].largest, 2);
  assert_int_equal(r[2].smallest, 0);
  /* Capped at N ranges: the oldest are left out. */
  assert_string_equal(ranges_str(&a, APP, 2, T0), "8-9 5-6");
  /* A clock before the arrival gives 0, not a wrap. */
  n = zttp_quic_acks_write(&a, &f, r, 8, APP, T0);
  assert_int_equal(f.u.ack.ack_delay, 0);
  /* Writing changes nothing: still due. */
  assert_true(zttp_quic_acks_due(&a, APP, T0 + 11 * MS));
  /* Exponent 0: microseconds; 20: units of 2^20 us. */
  zttp_quic_acks b;
  zttp_quic_acks_init(&b, zttp_mem_default(), 8, 25 * MS, 0);
  recv_pkt(&b, APP, 0, 1, T0);
  n = zttp_quic_acks_write(&b, &f, r, 8, APP, T0 + 1803 * US);
  assert_int_equal(f.u.ack.ack_delay, 1803);
  zttp_quic_acks_free(&b);
  zttp_quic_acks_init(&b, zttp_mem_default(), 8, 25 * MS, 20);
  recv_pkt(&b, APP, 0, 1, T0);
  n = zttp_quic_acks_write(&b, &f, r, 8, APP, T0 + 3 * 1048576 * US + 5);
  assert_int_equal(f.u.ack.ack_delay, 3);
  /* Nothing received: nothing to write. */
  assert_int_equal(zttp_quic_acks_write(&b, &f, r, 8, HS, T0), 0);
  assert_int_equal(zttp_quic_acks_write(&b, &f, r, 0, APP, T0), 0);
  zttp_quic_acks_free(&b);
  zttp_quic_acks_free(&a);
}

static void test_range_cap(void **state) {
  (void)state;
  zttp_quic_acks a;
  acks_new(&a, 3);
  recv_pkt(&a, APP, 0, 1, T0);
  recv_pkt(&a, APP, 2, 1, T0);
  recv_pkt(&a, APP, 4, 1, T0);
  assert_string_equal(ranges_str(&a, APP, 8, T0), "4 2 0");
  /* A fourth range: the oldest is forgotten, and below it nothing is
   * accepted any more (RFC 9000 §13.2.3). */
  recv_pkt(&a, APP, 6, 1, T0);
  assert_string_equal(ranges_str(&a, APP, 8, T0), "6 4 2");
  assert_int_equal(a.sp[APP].received.num, 3);
  assert_true(zttp_quic_acks_is_duplicate(&a, APP, 0));
  assert_false(zttp_quic_acks_is_duplicate(&a, APP, 1));
  assert_false(zttp_quic_acks_is_duplicate(&a, APP, 3));
  /* Filling a gap merges: room again. */
  recv_pkt(&a, APP, 3, 1, T0);
  assert_string_equal(ranges_str(&a, APP, 8, T0), "6 2-4");
  recv_pkt(&a, APP, 8, 1, T0);
  assert_string_equal(ranges_str(&a, APP, 8, T0), "8 6 2-4");
  /* A packet older than every range when full: forgotten at once, with
   * everything below the oldest range. */
  zttp_quic_acks c;
  acks_new(&c, 3);
  recv_pkt(&c, APP, 10, 1, T0);
  recv_pkt(&c, APP, 12, 1, T0);
  recv_pkt(&c, APP, 14, 1, T0);
  assert_false(zttp_quic_acks_is_duplicate(&c, APP, 5));
  assert_int_equal(zttp_quic_acks_on_received(&c, APP, 5, 1, T0), 0);
  assert_true(zttp_quic_acks_is_duplicate(&c, APP, 5));
  assert_true(zttp_quic_acks_is_duplicate(&c, APP, 7));
  assert_false(zttp_quic_acks_is_duplicate(&c, APP, 11));
  assert_string_equal(ranges_str(&c, APP, 8, T0), "14 12 10");
  /* It was out of order: due now all the same. */
  assert_true(zttp_quic_acks_due(&c, APP, T0));
  zttp_quic_acks_free(&c);
  /* A cap of one range. */
  acks_new(&c, 1);
  recv_pkt(&c, APP, 0, 1, T0);
  recv_pkt(&c, APP, 1, 1, T0);
  recv_pkt(&c, APP, 5, 1, T0);
  assert_string_equal(ranges_str(&c, APP, 8, T0), "5");
  assert_true(zttp_quic_acks_is_duplicate(&c, APP, 1));
  assert_false(zttp_quic_acks_is_duplicate(&c, APP, 3));
  zttp_quic_acks_free(&c);
  zttp_quic_acks_free(&a);
}

static void test_ack_of_ack(void **state) {
  (void)state;
  zttp_quic_acks a;
  acks_new(&a, 8);
  for (uint64_t pn = 0; pn < 10; pn++) {
    if (pn != 3 && pn != 7) {
      recv_pkt(&a, APP, pn, 1, T0 + pn * MS);
    }
  }
  assert_string_equal(ranges_str(&a, APP, 8, T0), "8-9 4-6 0-2");
  /* Our ACK with Largest Acknowledged 5 was acknowledged: stop
   * acknowledging 0-5 and never accept them again (§13.2.4). */
  zttp_quic_acks_on_ack_of_ack(&a, APP, 5);
  assert_string_equal(ranges_str(&a, APP, 8, T0), "8-9 6");
  assert_true(zttp_quic_acks_is_duplicate(&a, APP, 3));
  assert_true(zttp_quic_acks_is_duplicate(&a, APP, 5));
  assert_false(zttp_quic_acks_is_duplicate(&a, APP, 7));
  /* Stale or impossible values are ignored. */
  zttp_quic_acks_on_ack_of_ack(&a, APP, 2);
  zttp_quic_acks_on_ack_of_ack(&a, APP, 50);
  assert_string_equal(ranges_str(&a, APP, 8, T0), "8-9 6");
  /* Everything acknowledged: nothing to send until a new packet. */
  zttp_quic_acks_on_ack_of_ack(&a, APP, 9);
  assert_string_equal(ranges_str(&a, APP, 8, T0), "");
  assert_true(zttp_quic_acks_is_duplicate(&a, APP, 7));
  assert_int_equal(zttp_quic_acks_largest(&a, APP), 9);
  recv_pkt(&a, APP, 10, 1, T0 + 20 * MS);
  assert_string_equal(ranges_str(&a, APP, 8, T0), "10");
  zttp_quic_acks_free(&a);
}

static void test_failalloc(void **state) {
  (void)state;
  for (long k = 0;; k++) {
    h_failalloc fa;
    h_failalloc_init(&fa, k);
    zttp_quic_acks a;
    zttp_quic_acks_init(&a, &fa.alloc, 64, 25 * MS, 3);
    int failed = 0;
    for (uint64_t pn = 0; pn < 60 && !failed; pn += 2) {
      uint32_t sp = (uint32_t)(pn / 2 % 3);
      size_t num = a.sp[sp].received.num;
      uint64_t largest = a.sp[sp].largest;
      int32_t rv = zttp_quic_acks_on_received(&a, sp, pn, 1, T0);
      if (rv == ZTTP_ERR_NOMEM) {
        assert_int_equal(a.sp[sp].received.num, num);
        assert_int_equal(a.sp[sp].largest, largest);
        assert_false(zttp_quic_acks_is_duplicate(&a, sp, pn));
        failed = 1;
        break;
      }
      assert_int_equal(rv, 0);
    }
    zttp_quic_acks_free(&a);
    assert_int_equal(fa.live_allocs, 0);
    assert_int_equal(fa.bad_frees, 0);
    if (!failed) {
      assert_false(fa.injected);
      assert_true(k >= 3);
      break;
    }
  }
}

/* The ACK frame the receiver builds, encoded and decoded by frame.c, fed
 * to the sender's recovery: exactly the packets that arrived are
 * acknowledged, the holes far enough below are declared lost, and the ACK
 * Delay comes back as measured (to the exponent's resolution). */
static void test_round_trip(void **state) {
  (void)state;
  zttp_quic_recovery rec;
  zttp_quic_recovery_init(&rec, zttp_mem_default(), 1, 128,
                          ZTTP_QUIC_CC_NEWRENO, 1200);
  zttp_quic_recovery_set_handshake_confirmed(&rec, 0);
  zttp_quic_acks a;
  acks_new(&a, 16);
  /* Packets 0-29 sent 1 ms apart; the network drops 3, 7, 8, 15 and 28. */
  static const int dropped[30] = {
      [3] = 1, [7] = 1, [8] = 1, [15] = 1, [28] = 1};
  for (uint64_t pn = 0; pn < 30; pn++) {
    assert_int_equal(
        zttp_quic_recovery_on_packet_sent(&rec, APP, pn, 1000,
                                          ZTTP_QUIC_SENT_ACK_ELICITING |
                                              ZTTP_QUIC_SENT_IN_FLIGHT,
                                          pn, T0 + pn * MS),
        0);
    if (!dropped[pn]) {
      assert_int_equal(
          zttp_quic_acks_on_received(&a, APP, pn, 1, T0 + pn * MS + 20 * MS),
          0);
    }
  }
  zttp_tstamp now = T0 + 29 * MS + 20 * MS + 4321 * US;
  zttp_quic_ack_range out[16];
  zttp_quic_frame f;
  assert_int_equal(zttp_quic_acks_write(&a, &f, out, 16, APP, now), 5);
  uint8_t buf[128];
  size_t len = zttp_quic_frame_encode(&f, buf, sizeof(buf));
  assert_true(len > 0);
  zttp_quic_acks_on_sent(&a, APP);
  /* The peer's decoder. */
  zttp_rd rd;
  zttp_rd_init(&rd, buf, len);
  zttp_quic_frame g;
  zttp_quic_ack_range in[16];
  uint64_t err = 0;
  assert_int_equal(zttp_quic_frame_decode(&rd, &g, &err, in, 16),
                   ZTTP_QUIC_FRAME_OK);
  assert_int_equal(zttp_rd_len(&rd), 0);
  assert_int_equal(g.type, ZTTP_QUIC_FT_ACK);
  assert_int_equal(g.u.ack.num_ranges, 5);
  assert_int_equal(g.u.ack.ack_delay, 4321 / 8);
  uint64_t ack_delay = (g.u.ack.ack_delay << 3) * US;
  assert_int_equal(ack_delay, 4320 * US);
  /* Arrives 20 ms later: an RTT of 40 ms plus the delay. */
  zttp_tstamp arrival = now + 20 * MS;
  assert_int_equal(zttp_quic_recovery_on_ack_received(
                       &rec, &err, APP, g.u.ack.ranges, g.u.ack.num_ranges,
                       ack_delay, 0, arrival),
                   0);
  assert_int_equal(rec.rtt.latest, arrival - (T0 + 29 * MS));
  zttp_quic_sent_pkt p;
  int acked[30] = {0};
  int lost[30] = {0};
  while (zttp_quic_recovery_next(&rec, &p)) {
    assert_true(p.pn < 30);
    if (p.state == ZTTP_QUIC_SENT_ACKED) {
      acked[p.pn] = 1;
    } else {
      assert_int_equal(p.state, ZTTP_QUIC_SENT_LOST);
      lost[p.pn] = 1;
    }
  }
  for (uint64_t pn = 0; pn < 30; pn++) {
    assert_int_equal(acked[pn], !dropped[pn]);
    /* 28 is one packet below the largest and 45.3 ms old, under 9/8 of
     * the 44.3 ms RTT: waiting for the time threshold. */
    assert_int_equal(lost[pn], dropped[pn] && pn != 28);
  }
  assert_int_equal(zttp_quic_recovery_bytes_in_flight(&rec), 1000);
  assert_int_equal(zttp_quic_recovery_next_timeout(&rec),
                   T0 + 28 * MS + rec.rtt.smoothed * 9 / 8);
  /* The sender's ACK of our ACK-carrying packet lets the receiver prune. */
  zttp_quic_acks_on_ack_of_ack(&a, APP, g.u.ack.ranges[0].largest);
  assert_int_equal(zttp_quic_acks_write(&a, &f, out, 16, APP, now), 0);
  zttp_quic_acks_free(&a);
  zttp_quic_recovery_free(&rec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_spaces_immediate),
      cmocka_unit_test(test_app_delayed),
      cmocka_unit_test(test_app_out_of_order),
      cmocka_unit_test(test_frame_contents),
      cmocka_unit_test(test_range_cap),
      cmocka_unit_test(test_ack_of_ack),
      cmocka_unit_test(test_failalloc),
      cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
