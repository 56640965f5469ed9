/* The QUIC connection core (src/quic/conn.h) under the failing allocator
 * (STYLE.md): allocation k fails, for every k, during a handshake with the
 * real TLS (BoringSSL) and a transfer of 64 KiB each way on 2 streams in
 * the in-memory network (sim.h). Every run ends cleanly: it completes
 * (a failure the protocol absorbed, such as a dropped packet it sent
 * again), or a constructor, a call or the connection reports
 * ZTTP_ERR_NOMEM, or a connection closes; never a hang, a crash or another
 * error; and every allocation is freed. BoringSSL allocates with its own
 * allocator: only zttp's allocations are failed and counted here.
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
#include "quic/error.h"
#include "sim.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define SEC 1000000000ULL
#define NUM_STREAMS 2
#define SIZE (64u << 10) /* each way, per stream */

static uint8_t pattern(int side, size_t idx, uint64_t off) {
  uint64_t x = off * 2654435761u + idx * 40503u + (uint64_t)side * 977u;
  return (uint8_t)(x ^ (x >> 13) ^ (off >> 8));
}

typedef struct xfer {
  int hs_done[2];
  int opened;
  int known[2][NUM_STREAMS];
  uint64_t sent[2][NUM_STREAMS];
  int fin_sent[2][NUM_STREAMS];
  uint64_t recvd[2][NUM_STREAMS];
  int fin_recvd[2][NUM_STREAMS];
  size_t done[2];
  size_t mismatch;
  int closed[2];
  zttp_quic_event closed_ev[2];
  int32_t failed; /* the error of a call that failed (NOMEM expected) */
  int key_update; /* the client updates its keys halfway */
  int updated;
} xfer;

static void call_failed(xfer *x, int64_t rv) {
  if (x->failed == 0) {
    x->failed = (int32_t)rv;
  }
}

static void pump_writes(sim *sm, xfer *x, int side) {
  uint8_t buf[16384];
  for (size_t i = 0; i < NUM_STREAMS && x->failed == 0; i++) {
    uint64_t id = (uint64_t)i << 2;
    while (x->known[side][i] && !x->fin_sent[side][i]) {
      size_t n = sizeof(buf);
      if (SIZE - x->sent[side][i] < n) {
        n = (size_t)(SIZE - x->sent[side][i]);
      }
      for (size_t k = 0; k < n; k++) {
        buf[k] = pattern(side, i, x->sent[side][i] + k);
      }
      int fin = x->sent[side][i] + n == SIZE;
      int64_t took =
          zttp_quic_conn_stream_write(sm->conn[side], id, buf, n, fin);
      if (took < 0) {
        call_failed(x, took);
        return;
      }
      x->sent[side][i] += (uint64_t)took;
      if ((size_t)took == n && fin) {
        x->fin_sent[side][i] = 1;
      }
      if ((size_t)took < n || took == 0) {
        break;
      }
    }
  }
}

static void read_stream(sim *sm, xfer *x, int side, uint64_t id) {
  size_t i = (size_t)(id >> 2);
  if ((id & 3) != 0 || i >= NUM_STREAMS) {
    fail_msg("unexpected stream %llu", (unsigned long long)id);
    return;
  }
  for (;;) {
    const uint8_t *p;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(sm->conn[side], id, &p, &fin);
    if (n == ZTTP_ERR_STREAM_NOT_FOUND) {
      return; /* released after its end was read */
    }
    if (n < 0) {
      call_failed(x, n);
      return;
    }
    for (int64_t k = 0; k < n; k++) {
      x->mismatch +=
          p[k] != pattern(1 - side, i, x->recvd[side][i] + (uint64_t)k);
    }
    if (n > 0) {
      int32_t rv = zttp_quic_conn_stream_consume(sm->conn[side], id, (size_t)n);
      if (rv < 0) {
        call_failed(x, rv);
        return;
      }
      x->recvd[side][i] += (uint64_t)n;
    }
    if (fin && !x->fin_recvd[side][i]) {
      x->fin_recvd[side][i] = 1;
      assert_int_equal(x->recvd[side][i], SIZE);
      x->done[side]++;
    }
    if (n == 0 || fin) {
      return;
    }
  }
}

static void on_event(sim *sm, int side, const zttp_quic_event *ev, void *arg) {
  xfer *x = arg;
  if (ev == NULL) {
    /* Nothing more to ask of a connection that is closing. */
    if (x->closed[side] || zttp_quic_conn_is_closing(sm->conn[side])) {
      return;
    }
    if (side == SIM_CLIENT && x->hs_done[SIM_CLIENT] && !x->opened &&
        x->failed == 0) {
      x->opened = 1;
      for (size_t i = 0; i < NUM_STREAMS; i++) {
        int64_t id = zttp_quic_conn_open_stream(sm->conn[SIM_CLIENT], 1);
        if (id < 0) {
          call_failed(x, id);
          return;
        }
        assert_int_equal(id, (int64_t)(i << 2));
        x->known[SIM_CLIENT][i] = 1;
      }
    }
    if (x->hs_done[side]) {
      pump_writes(sm, x, side);
    }
    /* RFC 9001 §6: new keys (an allocation) on both sides, halfway. Not
     * possible before a packet of this phase was acknowledged: tried
     * again next round. */
    if (side == SIM_CLIENT && x->key_update && !x->updated &&
        x->recvd[side][0] >= SIZE / 2) {
      int32_t rv = zttp_quic_conn_update_keys(sm->conn[side], sm->now);
      if (rv == 0) {
        x->updated = 1;
      } else if (rv != ZTTP_ERR_INVALID_STATE) {
        call_failed(x, rv);
      }
    }
    return;
  }
  switch (ev->kind) {
  case ZTTP_QUIC_EV_HANDSHAKE_DONE:
    x->hs_done[side] = 1;
    break;
  case ZTTP_QUIC_EV_STREAM_OPENED:
    if (side == SIM_SERVER && (ev->stream_id >> 2) < NUM_STREAMS) {
      x->known[side][ev->stream_id >> 2] = 1;
    }
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

/* A run is over when the transfer completed or both sides closed. */
static int settled(sim *sm, void *arg) {
  xfer *x = arg;
  (void)sm;
  return (x->closed[0] && x->closed[1]) ||
         (x->done[0] == NUM_STREAMS && x->done[1] == NUM_STREAMS);
}

/* How runs ended, by the first failure seen. */
enum {
  END_CTOR,      /* sim_init (a TLS context or the client) said NOMEM */
  END_RUN_ERROR, /* sim_run returned NOMEM (a write, a timer, the server's
                    constructor); the run then went on */
  END_CALL,      /* an application call returned NOMEM */
  END_CLOSED,    /* a connection closed itself */
  END_COMPLETE,  /* the transfer completed despite the failure */
  NUM_ENDS
};
static const char *const end_names[NUM_ENDS] = {
    "constructor NOMEM", "sim_run NOMEM", "call NOMEM", "connection closed",
    "completed anyway"};

/* What CLOSED events said: [remote][kind], kind 0: NOMEM / INTERNAL_ERROR
 * (0x1), 1: CRYPTO_ERROR internal_error (0x150), 2: the idle timeout
 * (ZTTP_ERR_CLOSED, code 0; a side left idle after a failed call, or whose
 * peer vanished), 3: other. */
typedef struct closes {
  uint64_t n[2][4];
} closes;

static void count_close(closes *cl, long k, const zttp_quic_event *ev) {
  int kind;
  if (ev->error_code == ZTTP_QUIC_ERR_INTERNAL_ERROR &&
      (ev->remote || ev->error == ZTTP_ERR_NOMEM)) {
    kind = 0;
  } else if (ev->error_code == ZTTP_TLS_ALERT_TO_QUIC(80)) {
    kind = 1;
  } else if (!ev->remote && ev->error == ZTTP_ERR_CLOSED &&
             ev->error_code == 0) {
    kind = 2; /* RFC 9000 §10.1: silently closed */
  } else {
    kind = 3;
    printf("# k=%ld: closed (remote %d, error %d, code 0x%llx)\n", k,
           ev->remote, ev->error, (unsigned long long)ev->error_code);
  }
  cl->n[ev->remote ? 1 : 0][kind]++;
}

/* A scenario: loss on both links, and a key update halfway. */
typedef struct scenario {
  const char *name;
  uint32_t loss_ppm;
  int key_update;
} scenario;

/* One run with allocation |k| failing (-1: none). Returns its END_*, and
 * in |*completed| whether the transfer completed all the same. */
static int run_one(const scenario *sc, long k, h_failalloc *fa, closes *cl,
                   int *completed) {
  *completed = 0;
  h_failalloc_init(fa, k);
  sim sm;
  xfer *x = calloc(1, sizeof(*x));
  assert_non_null(x);
  int end;
  x->key_update = sc->key_update;
  int32_t rv = sim_init(&sm, ZTTP_TLS_BORINGSSL, ZTTP_TEST_PKI, 7, 10,
                        sc->loss_ppm, &fa->alloc);
  if (rv != 0) {
    assert_int_equal(rv, ZTTP_ERR_NOMEM);
    end = END_CTOR;
  } else {
    sm.on_event = on_event;
    sm.arg = x;
    int run_error = 0;
    int r;
    /* A NOMEM out of sim_run (a write, a timer, the server's constructor)
     * leaves the network as it is: go on, to see how the run ends. */
    for (int i = 0;; i++) {
      r = sim_run(&sm, settled, x, 90 * SEC);
      if (r >= 0) {
        break;
      }
      if (r != ZTTP_ERR_NOMEM) {
        printf("# k=%ld: sim_run returned %d\n", k, r);
      }
      assert_int_equal(r, ZTTP_ERR_NOMEM);
      assert_true(i < 10);
      run_error = 1;
    }
    if (x->failed != 0 && x->failed != ZTTP_ERR_NOMEM) {
      printf("# k=%ld: a call returned %d\n", k, x->failed);
    }
    assert_true(x->failed == 0 || x->failed == ZTTP_ERR_NOMEM);
    int complete = x->done[0] == NUM_STREAMS && x->done[1] == NUM_STREAMS;
    end = run_error        ? END_RUN_ERROR
          : x->failed != 0 ? END_CALL
          : !complete      ? END_CLOSED
                           : END_COMPLETE;
    *completed = complete;
    if (complete) {
      if (x->key_update && x->failed == 0) {
        assert_true(x->updated);
      }
      for (size_t i = 0; i < NUM_STREAMS; i++) {
        assert_int_equal(x->recvd[SIM_CLIENT][i], SIZE);
        assert_int_equal(x->recvd[SIM_SERVER][i], SIZE);
      }
    } else {
      /* Never stuck: what did not complete was closed on both sides (the
       * side that failed, and its peer by its CONNECTION_CLOSE or by the
       * idle timeout). */
      if (r != 1 || !x->closed[0] || !x->closed[1]) {
        printf("# k=%ld: stuck (sim_run %d, closed c=%d s=%d, done c=%zu "
               "s=%zu)\n",
               k, r, x->closed[0], x->closed[1], x->done[0], x->done[1]);
      }
      assert_int_equal(r, 1);
      assert_true(x->closed[0] && x->closed[1]);
    }
    for (int side = 0; side < 2; side++) {
      if (x->closed[side]) {
        count_close(cl, k, &x->closed_ev[side]);
      }
    }
  }
  assert_int_equal(x->mismatch, 0);
  sim_free(&sm);
  free(x);
  if (fa->live_allocs != 0 || fa->bad_frees != 0) {
    printf("# k=%ld: %zu allocations (%zu bytes) left, %zu bad frees\n", k,
           fa->live_allocs, fa->live_bytes, fa->bad_frees);
  }
  assert_int_equal(fa->live_allocs, 0);
  assert_int_equal(fa->live_bytes, 0);
  assert_int_equal(fa->bad_frees, 0);
  return end;
}

static void failalloc(const scenario *sc) {
  size_t ends[NUM_ENDS][2] = {{0}};
  int completed;
  closes cl;
  memset(&cl, 0, sizeof(cl));
  /* The clean run: how many allocations, and the peak. */
  h_failalloc fa;
  assert_int_equal(run_one(sc, -1, &fa, &cl, &completed), END_COMPLETE);
  long total = fa.count;
  size_t peak = fa.peak_bytes;
  long k;
  for (k = 0; k < 1000000; k++) {
    int end = run_one(sc, k, &fa, &cl, &completed);
    if (!fa.injected) {
      assert_int_equal(end, END_COMPLETE);
      break;
    }
    ends[end][completed]++;
  }
  printf("# failalloc (real TLS, %d streams x %u KiB each way%s): %ld zttp "
         "allocations in a clean run (peak %zu bytes live); %ld runs each "
         "failed one of them, and all ended cleanly with everything freed:\n",
         NUM_STREAMS, SIZE >> 10, sc->name, total, peak, k);
  for (int e = 0; e < NUM_ENDS; e++) {
    printf("#   first failure: %-18s %zu runs (%zu of them completed)\n",
           end_names[e], ends[e][0] + ends[e][1], ends[e][1]);
  }
  static const char *const kinds[4] = {
      "NOMEM/INTERNAL_ERROR", "CRYPTO_ERROR 0x150", "idle timeout", "other"};
  for (int remote = 0; remote < 2; remote++) {
    for (int kind = 0; kind < 4; kind++) {
      printf("#   closed %s: %-20s %llu\n", remote ? "by the peer" : "locally",
             kinds[kind], (unsigned long long)cl.n[remote][kind]);
    }
  }
  assert_int_equal(cl.n[0][3] + cl.n[1][3], 0);
  assert_int_equal(k, total);
  assert_true(k > 50);
}

static void test_failalloc_tls_transfer(void **state) {
  (void)state;
  static const scenario sc = {"", 0, 0};
  failalloc(&sc);
}

/* Retransmissions, and the allocation of new keys on both sides. */
static void test_failalloc_loss_key_update(void **state) {
  (void)state;
  static const scenario sc = {", 3% loss, a key update", 30000, 1};
  failalloc(&sc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failalloc_tls_transfer),
      cmocka_unit_test(test_failalloc_loss_key_update),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
