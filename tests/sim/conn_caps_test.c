/* Caps against hostile peers that the other scenarios do not cover, each a
 * named setting of zttp_quic_settings, in the in-memory network (sim.h):
 *   - stream churn (reset_burst, reset_rate): a peer that opens and resets
 *     streams as fast as it can gets MAX_STREAMS credit back at the
 *     bucket's rate;
 *   - PATH_CHALLENGE floods (max_path_responses): at most that many
 *     PATH_RESPONSEs queued;
 *   - pre-handshake memory: a server connection fed out-of-order CRYPTO
 *     data before the handshake holds at most max_crypto_buffer per level,
 *     and past it closes with CRYPTO_BUFFER_EXCEEDED.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/varint.h"
#include "harness.h"
#include "quic/conn_internal.h"
#include "quic/error.h"
#include "sim.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define SEC 1000000000ULL
#define MS 1000000ULL

static int confirmed(sim *sm, void *arg) {
  (void)arg;
  return sm->conn[SIM_SERVER] != NULL &&
         zttp_quic_conn_handshake_confirmed(sm->conn[SIM_CLIENT]);
}

static int until_time(sim *sm, void *arg) {
  const zttp_tstamp *t = arg;
  return sm->now >= *t;
}

/* ---- stream churn -------------------------------------------------------
 */

typedef struct churn {
  int reset;         /* 1: the client resets each stream; 0: ends it */
  uint64_t opened;   /* streams the client opened */
  uint64_t refusals; /* ZTTP_ERR_STREAM_LIMIT */
} churn;

static void churn_event(sim *sm, int side, const zttp_quic_event *ev,
                        void *arg) {
  churn *ch = arg;
  zttp_quic_conn *qc = sm->conn[side];
  if (ev != NULL) {
    if (side == SIM_SERVER && ev->kind == ZTTP_QUIC_EV_STREAM_READABLE) {
      const uint8_t *p;
      int fin;
      int64_t n = zttp_quic_conn_stream_peek(qc, ev->stream_id, &p, &fin);
      if (n > 0) {
        (void)zttp_quic_conn_stream_consume(qc, ev->stream_id, (size_t)n);
      }
    }
    return;
  }
  if (side != SIM_CLIENT || !zttp_quic_conn_handshake_complete(qc)) {
    return;
  }
  for (int i = 0; i < 1000; i++) {
    int64_t id = zttp_quic_conn_open_stream(qc, 0);
    if (id < 0) {
      ch->refusals++;
      return;
    }
    ch->opened++;
    static const uint8_t b = 'x';
    if (ch->reset) {
      (void)zttp_quic_conn_stream_write(qc, (uint64_t)id, &b, 1, 0);
      assert_int_equal(zttp_quic_conn_stream_reset(qc, (uint64_t)id, 7), 0);
    } else {
      (void)zttp_quic_conn_stream_write(qc, (uint64_t)id, &b, 1, 1);
    }
  }
}

static uint64_t churn_run(int reset, uint64_t *deferred) {
  sim sm;
  churn ch;
  memset(&ch, 0, sizeof(ch));
  ch.reset = reset;
  assert_int_equal(sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 19, 10, 0, NULL),
                   0);
  /* The server's settings (the client was made with the defaults). */
  sm.settings.max_streams_uni = 10;
  sm.settings.reset_burst = 50;
  sm.settings.reset_rate = 10;
  sm.on_event = churn_event;
  sm.arg = &ch;
  assert_int_equal(sim_run(&sm, confirmed, NULL, 10 * SEC), 1);
  uint64_t before = ch.opened;
  zttp_tstamp end = sm.now + 2 * SEC;
  assert_true(sim_run(&sm, until_time, &end, 3 * SEC) >= 0);
  *deferred = zttp_quic_conn_get_stats(sm.conn[SIM_SERVER])->credits_deferred;
  printf("# churn (%s): %llu streams opened in 2 s virtual, %llu credits "
         "deferred by the server\n",
         reset ? "reset" : "finished", (unsigned long long)(ch.opened - before),
         (unsigned long long)*deferred);
  assert_false(zttp_quic_conn_is_closing(sm.conn[SIM_SERVER]));
  uint64_t n = ch.opened;
  sim_free(&sm);
  return n;
}

static void test_stream_churn(void **state) {
  (void)state;
  uint64_t deferred_reset, deferred_fin;
  uint64_t with_reset = churn_run(1, &deferred_reset);
  uint64_t with_fin = churn_run(0, &deferred_fin);
  /* 10 initial streams, 50 from the burst, 10 per second for at most 2.2
   * seconds (the handshake included). */
  assert_true(with_reset <= 10 + 50 + 22);
  assert_true(with_reset >= 10 + 50 + 10);
  assert_true(deferred_reset > 0);
  /* Streams that end normally are not throttled. */
  assert_int_equal(deferred_fin, 0);
  assert_true(with_fin > 10 * with_reset);
}

/* ---- PATH_CHALLENGE flood -----------------------------------------------
 */

static void test_path_challenge_flood(void **state) {
  (void)state;
  sim sm;
  assert_int_equal(sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 23, 10, 0, NULL),
                   0);
  assert_int_equal(sim_run(&sm, confirmed, NULL, 10 * SEC), 1);
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  uint8_t f[10 * 9];
  for (size_t i = 0; i < 10; i++) {
    f[9 * i] = 0x1a; /* PATH_CHALLENGE */
    memset(f + 9 * i + 1, (int)i, 8);
  }
  uint8_t pkt[1500];
  size_t n = qc_test_packet(sm.conn[SIM_CLIENT], pkt, sizeof(pkt),
                            ZTTP_QUIC_SPACE_APP, f, sizeof(f));
  assert_true(n > 0);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_recv(s, pkt, n, &path, sm.now), 0);
  /* The last four challenges are queued, oldest first. */
  assert_int_equal(s->num_path_resp, 4);
  for (size_t i = 0; i < 4; i++) {
    const uint8_t *d = s->path_response[(s->path_resp_head + i) % 4].data;
    assert_int_equal(d[0], 6 + i);
    assert_int_equal(d[7], 6 + i);
  }
  zttp_tstamp end = sm.now + 100 * MS;
  assert_true(sim_run(&sm, until_time, &end, SEC) >= 0);
  const zttp_quic_conn_stats *st = zttp_quic_conn_get_stats(s);
  assert_int_equal(st->path_responses_sent, 4);
  assert_int_equal(st->path_challenges_dropped, 6);
  assert_int_equal(s->num_path_resp, 0);
  sim_free(&sm);
}

/* ---- pre-handshake memory -----------------------------------------------
 */

typedef struct counted {
  h_failalloc fa; /* counts the server's bytes; never fails */
} counted;

static int32_t accept_counted(sim *sm, const uint8_t *data, size_t len,
                              void *arg) {
  counted *c = arg;
  zttp_quic_hdr h;
  if (zttp_quic_hdr_parse(&h, data, len, 8) != ZTTP_QUIC_HDR_OK ||
      h.type != ZTTP_QUIC_PKT_INITIAL || len < ZTTP_QUIC_MIN_INITIAL_DATAGRAM) {
    return 0;
  }
  zttp_path path;
  memset(&path, 0, sizeof(path));
  return zttp_quic_conn_new(&sm->conn[SIM_SERVER], &c->fa.alloc, &sm->settings,
                            ZTTP_SERVER, sm->ctx[SIM_SERVER], NULL, &h, &path,
                            sm->now);
}

static int server_exists(sim *sm, void *arg) {
  (void)arg;
  return sm->conn[SIM_SERVER] != NULL;
}

/* A client Initial carrying a CRYPTO frame of |len| bytes at |off|. */
static int32_t inject_crypto(sim *sm, uint64_t off, size_t len) {
  uint8_t f[1100];
  uint8_t *p = f;
  *p++ = 0x06;
  p = zttp_varint_put(p, off);
  p = zttp_varint_put(p, len);
  memset(p, 0x5a, len);
  p += len;
  uint8_t pkt[1500];
  size_t n = qc_test_packet(sm->conn[SIM_CLIENT], pkt, sizeof(pkt),
                            ZTTP_QUIC_SPACE_INITIAL, f, (size_t)(p - f));
  assert_true(n > 0);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  return zttp_quic_conn_recv(sm->conn[SIM_SERVER], pkt, n, &path, sm->now);
}

static void test_prehandshake_memory(void **state) {
  (void)state;
  sim sm;
  counted c;
  h_failalloc_init(&c.fa, -1);
  assert_int_equal(
      sim_init(&sm, ZTTP_TLS_BORINGSSL, ZTTP_TEST_PKI, 29, 10, 0, NULL), 0);
  sm.accept = accept_counted;
  sm.accept_arg = &c;
  assert_int_equal(sim_run(&sm, server_exists, NULL, SEC), 1);
  assert_false(zttp_quic_conn_handshake_complete(sm.conn[SIM_SERVER]));
  size_t base = c.fa.live_bytes;
  /* Holes everywhere below the cap: every other 1000-byte piece of the
   * window above what TLS consumed, in descending order. */
  uint64_t limit = sm.settings.max_crypto_buffer;
  for (uint64_t off = limit - 1000; off >= 4000; off -= 2000) {
    assert_int_equal(inject_crypto(&sm, off, 1000), 0);
  }
  size_t peak = c.fa.peak_bytes;
  printf("# pre-handshake: server connection %zu bytes at creation, peak %zu "
         "with %llu bytes of out-of-order CRYPTO (cap %llu per level)\n",
         base, peak, (unsigned long long)(limit / 2),
         (unsigned long long)limit);
  /* What the level buffers may hold, plus the fixed part of the
   * connection. */
  assert_true(peak <= base + limit + 16384);
  /* One byte past the cap: CRYPTO_BUFFER_EXCEEDED (RFC 9000 §7.5). */
  int32_t rv = inject_crypto(&sm, limit + 10000, 100);
  assert_int_equal(rv, ZTTP_ERR_PROTOCOL);
  assert_int_equal(sm.conn[SIM_SERVER]->close_code,
                   ZTTP_QUIC_ERR_CRYPTO_BUFFER_EXCEEDED);
  assert_true(c.fa.peak_bytes <= base + limit + 16384);
  sim_free(&sm);
  assert_int_equal(c.fa.live_allocs, 0);
}

/* ---- the sent-packet record cap -----------------------------------------
 */

/* A server whose max_sent_packets records are all unresolved (the client
 * hears nothing of them) still acknowledges what the client sends: ACK-only
 * packets go untracked at the cap. Found by the quic_server fuzzer: the
 * ACK timer stayed due forever. */
static void test_ack_at_record_cap(void **state) {
  (void)state;
  sim sm;
  assert_int_equal(sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 43, 10, 0, NULL),
                   0);
  sm.settings.max_sent_packets = 16; /* the server's */
  assert_int_equal(sim_run(&sm, confirmed, NULL, 10 * SEC), 1);
  zttp_quic_conn *c = sm.conn[SIM_CLIENT];
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  /* The server sends into a dead link until its records run out. */
  sm.link[SIM_SERVER].down_from = sm.now;
  sm.link[SIM_SERVER].down_until = sm.now + 3600 * SEC;
  int64_t id = zttp_quic_conn_open_stream(s, 0);
  assert_true(id >= 0);
  static uint8_t body[32768];
  assert_true(
      zttp_quic_conn_stream_write(s, (uint64_t)id, body, sizeof(body), 0) > 0);
  zttp_tstamp end = sm.now + 2 * SEC;
  assert_true(sim_run(&sm, until_time, &end, 3 * SEC) >= 0);
  assert_int_equal(s->rec.sp[ZTTP_QUIC_SPACE_APP].num, 16);
  /* The client speaks; the server, at its cap, still acknowledges. */
  sm.link[SIM_SERVER].down_until = sm.now;
  uint64_t acks = zttp_quic_conn_get_stats(s)->acks_sent;
  int64_t cid = zttp_quic_conn_open_stream(c, 1);
  assert_true(cid >= 0);
  assert_int_equal(zttp_quic_conn_stream_write(c, (uint64_t)cid, body, 10, 1),
                   10);
  end = sm.now + 100 * MS;
  assert_true(sim_run(&sm, until_time, &end, SEC) >= 0);
  assert_true(zttp_quic_conn_get_stats(s)->acks_sent > acks);
  assert_true(zttp_quic_conn_next_timeout(s) > sm.now);
  sim_free(&sm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream_churn),
      cmocka_unit_test(test_path_challenge_flood),
      cmocka_unit_test(test_prehandshake_memory),
      cmocka_unit_test(test_ack_at_record_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
