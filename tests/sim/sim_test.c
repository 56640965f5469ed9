/* The QUIC connection core (src/quic/conn.h) in the in-memory network
 * (sim.h): handshakes with the real TLS and the null TLS, the Initial
 * padding and anti-amplification rules, and bulk transfers on
 * bidirectional streams both ways with exact bytes, with and without loss.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "sim.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define MAX_XSTREAMS 128

/* The byte at |off| of the data |side| sends on stream |idx|. */
static uint8_t pattern(int side, size_t idx, uint64_t off) {
  uint64_t x = off * 2654435761u + idx * 40503u + (uint64_t)side * 977u;
  return (uint8_t)(x ^ (x >> 13) ^ (off >> 8));
}

typedef struct xside {
  uint64_t id;
  int known;
  uint64_t sent;
  int fin_sent;
  uint64_t recvd;
  int fin_recvd;
} xside;

typedef struct xfer {
  size_t num_streams;
  uint64_t size; /* bytes each way per stream */
  int opened;
  int hs_done[2];
  int closed[2];
  zttp_quic_event closed_ev[2];
  xside st[2][MAX_XSTREAMS];
  size_t done_streams[2];
  int mismatch;
  int tolerant; /* failing-allocator runs: a failed call ends the run */
  int failed;
} xfer;

static xside *find_side(xfer *x, int side, uint64_t id) {
  size_t idx = (size_t)(id >> 2);
  if (idx >= x->num_streams) {
    return NULL;
  }
  xside *s = &x->st[side][idx];
  if (!s->known) {
    s->known = 1;
    s->id = id;
  }
  return s;
}

static void pump_writes(sim *sm, xfer *x, int side) {
  zttp_quic_conn *qc = sm->conn[side];
  uint8_t buf[16384];
  for (size_t i = 0; i < x->num_streams; i++) {
    xside *s = &x->st[side][i];
    if (!s->known || s->fin_sent) {
      continue;
    }
    while (!s->fin_sent) {
      size_t n = sizeof(buf);
      if (x->size - s->sent < n) {
        n = (size_t)(x->size - s->sent);
      }
      for (size_t k = 0; k < n; k++) {
        buf[k] = pattern(side, i, s->sent + k);
      }
      int fin = s->sent + n == x->size;
      int64_t took = zttp_quic_conn_stream_write(qc, s->id, buf, n, fin);
      if (took < 0 && x->tolerant) {
        x->failed = 1;
        return;
      }
      assert_true(took >= 0);
      s->sent += (uint64_t)took;
      if ((size_t)took == n && fin) {
        s->fin_sent = 1;
      }
      if ((size_t)took < n || took == 0) {
        break;
      }
    }
  }
}

static void read_stream(sim *sm, xfer *x, int side, uint64_t id) {
  zttp_quic_conn *qc = sm->conn[side];
  xside *s = find_side(x, side, id);
  assert_non_null(s);
  for (;;) {
    const uint8_t *p;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(qc, id, &p, &fin);
    if (n == ZTTP_ERR_STREAM_NOT_FOUND) {
      return; /* released after its end was read */
    }
    if (n < 0 && x->tolerant) {
      x->failed = 1;
      return;
    }
    assert_true(n >= 0);
    for (int64_t k = 0; k < n; k++) {
      if (p[k] !=
          pattern(1 - side, (size_t)(id >> 2), s->recvd + (uint64_t)k)) {
        x->mismatch++;
      }
    }
    if (n > 0) {
      assert_int_equal(zttp_quic_conn_stream_consume(qc, id, (size_t)n), 0);
      s->recvd += (uint64_t)n;
    }
    if (fin && !s->fin_recvd) {
      s->fin_recvd = 1;
      assert_int_equal(s->recvd, x->size);
      x->done_streams[side]++;
    }
    if (n == 0 || fin) {
      return;
    }
  }
}

static void on_event(sim *sm, int side, const zttp_quic_event *ev, void *arg) {
  xfer *x = arg;
  if (ev == NULL) {
    if (side == SIM_CLIENT && x->hs_done[SIM_CLIENT] && !x->opened) {
      x->opened = 1;
      for (size_t i = 0; i < x->num_streams; i++) {
        int64_t id = zttp_quic_conn_open_stream(sm->conn[SIM_CLIENT], 1);
        if (id < 0 && x->tolerant) {
          x->failed = 1;
          return;
        }
        assert_true(id >= 0);
        assert_int_equal(id, (int64_t)(i << 2));
        find_side(x, SIM_CLIENT, (uint64_t)id);
      }
    }
    if (x->hs_done[side]) {
      pump_writes(sm, x, side);
    }
    return;
  }
  switch (ev->kind) {
  case ZTTP_QUIC_EV_HANDSHAKE_DONE:
    x->hs_done[side] = 1;
    break;
  case ZTTP_QUIC_EV_STREAM_OPENED:
    assert_int_equal(side, SIM_SERVER);
    assert_non_null(find_side(x, side, ev->stream_id));
    break;
  case ZTTP_QUIC_EV_STREAM_READABLE:
    read_stream(sm, x, side, ev->stream_id);
    break;
  case ZTTP_QUIC_EV_CLOSED:
    x->closed[side] = 1;
    x->closed_ev[side] = *ev;
    break;
  default:
    break;
  }
}

static int hs_done(sim *sm, void *arg) {
  xfer *x = arg;
  (void)sm;
  return x->hs_done[0] && x->hs_done[1] &&
         zttp_quic_conn_handshake_confirmed(sm->conn[SIM_CLIENT]);
}

static int xfer_done(sim *sm, void *arg) {
  xfer *x = arg;
  (void)sm;
  return x->closed[0] || x->closed[1] || x->failed ||
         (x->done_streams[0] == x->num_streams &&
          x->done_streams[1] == x->num_streams);
}

static void report(const char *name, sim *sm, xfer *x) {
  const zttp_quic_conn_stats *c = zttp_quic_conn_get_stats(sm->conn[0]);
  const zttp_quic_conn_stats *s = zttp_quic_conn_get_stats(sm->conn[1]);
  double secs = (double)(sm->now - 1000000000ULL) / 1e9;
  double bytes = (double)x->size * (double)x->num_streams * 2;
  printf("# %s: %.3f s virtual, %.2f MB/s goodput (both ways), srtt %.1f ms, "
         "cwnd c=%llu s=%llu\n",
         name, secs, secs > 0 ? bytes / secs / 1e6 : 0,
         (double)zttp_quic_conn_smoothed_rtt(sm->conn[0]) / 1e6,
         (unsigned long long)zttp_quic_conn_cwnd(sm->conn[0]),
         (unsigned long long)zttp_quic_conn_cwnd(sm->conn[1]));
  printf("# %s: client sent %llu pkts (%llu lost, %llu acks), server sent %llu "
         "pkts (%llu lost, %llu acks); dgrams c->s %llu (%llu dropped) s->c "
         "%llu (%llu dropped); retransmitted stream bytes c=%llu s=%llu\n",
         name, (unsigned long long)c->pkts_sent,
         (unsigned long long)c->pkts_lost, (unsigned long long)c->acks_sent,
         (unsigned long long)s->pkts_sent, (unsigned long long)s->pkts_lost,
         (unsigned long long)s->acks_sent,
         (unsigned long long)sm->link[0].dgrams,
         (unsigned long long)sm->link[0].dropped,
         (unsigned long long)sm->link[1].dgrams,
         (unsigned long long)sm->link[1].dropped,
         (unsigned long long)c->stream_bytes_retransmitted,
         (unsigned long long)s->stream_bytes_retransmitted);
}

/* ---- handshakes ------------------------------------------------------------
 */

static void handshake(uint32_t backend, uint32_t loss_ppm, uint64_t seed) {
  sim sm;
  xfer x;
  memset(&x, 0, sizeof(x));
  assert_int_equal(
      sim_init(&sm, backend, ZTTP_TEST_PKI, seed, 10, loss_ppm, NULL), 0);
  sm.on_event = on_event;
  sm.arg = &x;
  int rv = sim_run(&sm, hs_done, &x, 60ULL * 1000000000ULL);
  assert_int_equal(rv, 1);
  assert_true(zttp_quic_conn_handshake_complete(sm.conn[SIM_SERVER]));
  assert_true(zttp_quic_conn_handshake_confirmed(sm.conn[SIM_SERVER]));
  assert_true(zttp_quic_conn_address_validated(sm.conn[SIM_SERVER]));
  const uint8_t *alpn;
  assert_int_equal(zttp_quic_conn_alpn(sm.conn[SIM_CLIENT], &alpn), 2);
  assert_memory_equal(alpn, "h3", 2);
  assert_int_equal(zttp_quic_conn_alpn(sm.conn[SIM_SERVER], &alpn), 2);
  /* RFC 9000 §14.1, §8.1 */
  assert_true(sm.num_client_initials >= 1);
  assert_true(sm.min_client_initial >= ZTTP_QUIC_MIN_INITIAL_DATAGRAM);
  assert_false(sm.amplification_violated);
  assert_false(x.closed[0] || x.closed[1]);
  printf("# handshake %s loss %u ppm: %.1f ms virtual, client initials %zu "
         "(min %zu B), server sent %llu B before validation for %llu B "
         "received, c->s %llu dgrams, s->c %llu dgrams\n",
         backend == ZTTP_TLS_NULL ? "null" : "tls", loss_ppm,
         (double)(sm.now - 1000000000ULL) / 1e6, sm.num_client_initials,
         sm.min_client_initial, (unsigned long long)sm.server_sent_unval,
         (unsigned long long)sm.server_recv,
         (unsigned long long)sm.link[0].dgrams,
         (unsigned long long)sm.link[1].dgrams);
  sim_free(&sm);
}

static void test_handshake_tls(void **state) {
  (void)state;
  handshake(ZTTP_TLS_BORINGSSL, 0, 1);
}

static void test_handshake_null(void **state) {
  (void)state;
  handshake(ZTTP_TLS_NULL, 0, 1);
}

static void test_handshake_tls_loss(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    handshake(ZTTP_TLS_BORINGSSL, 200000, seed);
  }
}

/* ---- transfers -------------------------------------------------------------
 */

static void transfer(const char *name, uint32_t backend, size_t num_streams,
                     uint64_t size, uint32_t loss_ppm, uint64_t seed) {
  sim sm;
  xfer *x = calloc(1, sizeof(*x));
  assert_non_null(x);
  x->num_streams = num_streams;
  x->size = size;
  assert_int_equal(
      sim_init(&sm, backend, ZTTP_TEST_PKI, seed, 10, loss_ppm, NULL), 0);
  sm.link[0].bandwidth = sm.link[1].bandwidth = 12500000; /* 100 Mbit/s */
  sm.on_event = on_event;
  sm.arg = x;
  int rv = sim_run(&sm, xfer_done, x, 600ULL * 1000000000ULL);
  if (rv != 1) {
    printf("# %s: rv %d done c=%zu s=%zu\n", name, rv, x->done_streams[0],
           x->done_streams[1]);
  }
  assert_int_equal(rv, 1);
  if (x->closed[0] || x->closed[1]) {
    printf("# %s: closed c=%d (err %d code %llu) s=%d (err %d code %llu)\n",
           name, x->closed[0], x->closed_ev[0].error,
           (unsigned long long)x->closed_ev[0].error_code, x->closed[1],
           x->closed_ev[1].error,
           (unsigned long long)x->closed_ev[1].error_code);
  }
  assert_false(x->closed[0] || x->closed[1]);
  assert_int_equal(x->mismatch, 0);
  assert_int_equal(x->done_streams[0], num_streams);
  assert_int_equal(x->done_streams[1], num_streams);
  for (size_t i = 0; i < num_streams; i++) {
    assert_int_equal(x->st[0][i].recvd, size);
    assert_int_equal(x->st[1][i].recvd, size);
  }
  assert_false(sm.amplification_violated);
  report(name, &sm, x);
  sim_free(&sm);
  free(x);
}

static void test_1mib_tls(void **state) {
  (void)state;
  transfer("1MiB-tls", ZTTP_TLS_BORINGSSL, 1, 1u << 20, 0, 1);
}

static void test_1mib_null(void **state) {
  (void)state;
  transfer("1MiB-null", ZTTP_TLS_NULL, 1, 1u << 20, 0, 1);
}

static void test_100x10k_tls(void **state) {
  (void)state;
  transfer("100x10KiB-tls", ZTTP_TLS_BORINGSSL, 100, 10240, 0, 1);
}

static void test_1mib_loss1(void **state) {
  (void)state;
  transfer("1MiB-tls-loss1%", ZTTP_TLS_BORINGSSL, 1, 1u << 20, 10000, 7);
}

static void test_1mib_loss10(void **state) {
  (void)state;
  transfer("1MiB-tls-loss10%", ZTTP_TLS_BORINGSSL, 1, 1u << 20, 100000, 7);
}

static void test_100x10k_loss1(void **state) {
  (void)state;
  transfer("100x10KiB-null-loss1%", ZTTP_TLS_NULL, 100, 10240, 10000, 3);
}

static void test_100x10k_loss10(void **state) {
  (void)state;
  transfer("100x10KiB-null-loss10%", ZTTP_TLS_NULL, 100, 10240, 100000, 3);
}

/* Failing allocator (STYLE.md): allocation k fails, for every k, during a
 * null-TLS handshake and a 4 KiB exchange each way; every run ends cleanly
 * (an error or a closed connection) and frees everything. */
static void test_failalloc(void **state) {
  (void)state;
  long k;
  size_t failures = 0;
  for (k = 0; k < 100000; k++) {
    h_failalloc fa;
    h_failalloc_init(&fa, k);
    sim sm;
    xfer *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    x->num_streams = 1;
    x->size = 4096;
    x->tolerant = 1;
    int rv = -1;
    if (sim_init(&sm, ZTTP_TLS_NULL, ZTTP_TEST_PKI, 1, 10, 0, &fa.alloc) == 0) {
      sm.on_event = on_event;
      sm.arg = x;
      rv = sim_run(&sm, xfer_done, x, 60ULL * 1000000000ULL);
    }
    int ok = rv == 1 && !x->failed && !x->closed[0] && !x->closed[1] &&
             x->done_streams[0] == 1 && x->done_streams[1] == 1;
    assert_int_equal(x->mismatch, 0);
    sim_free(&sm);
    free(x);
    assert_int_equal(fa.live_allocs, 0);
    assert_int_equal(fa.bad_frees, 0);
    if (!fa.injected) {
      assert_true(ok);
      break;
    }
    failures += !ok;
  }
  printf("# failalloc: %ld allocations, each failed once; %zu runs ended "
         "early, all cleanly\n",
         k, failures);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_tls),
      cmocka_unit_test(test_handshake_null),
      cmocka_unit_test(test_handshake_tls_loss),
      cmocka_unit_test(test_1mib_tls),
      cmocka_unit_test(test_1mib_null),
      cmocka_unit_test(test_100x10k_tls),
      cmocka_unit_test(test_1mib_loss1),
      cmocka_unit_test(test_1mib_loss10),
      cmocka_unit_test(test_100x10k_loss1),
      cmocka_unit_test(test_100x10k_loss10),
      cmocka_unit_test(test_failalloc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
