/* Bulk transfers over the QUIC connection core (src/quic/conn.h) in the
 * in-memory network (sim.h), real TLS (BoringSSL) throughout: 50 MiB on
 * one stream from the server at 0%, 1%, 10% and 30% random loss (the
 * lossy runs also reorder and duplicate datagrams), 1% corrupted
 * datagrams; and 1,000 streams of 10 KiB echoed back, 100 open at a time.
 * Every byte is checked against a deterministic pattern, the server never
 * exceeds the anti-amplification limit (RFC 9000 §8.1), and each run
 * prints its virtual goodput and packet counts.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "quic/conn_internal.h"
#include "sim.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define SEC 1000000000ULL
#define MS 1000000ULL
#define MIB (1024u * 1024u)
#define CHUNK 16384

/* ---- the pattern -----------------------------------------------------------
 */

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* The |n| bytes at stream offset |off| of the data keyed |key|: one 64-bit
 * word of a counter-based PRNG per 8 bytes. */
static void fill(uint8_t *out, uint64_t key, uint64_t off, size_t n) {
  uint64_t salt = mix64(key);
  size_t i = 0;
  while (i < n) {
    uint64_t o = off + i;
    uint64_t w = mix64(salt ^ (o >> 3));
    for (unsigned b = (unsigned)(o & 7); b < 8 && i < n; b++) {
      out[i++] = (uint8_t)(w >> (8 * b));
    }
  }
}

/* 1 when |p| (|n| bytes) is the pattern |key| at |off|. */
static int check(const uint8_t *p, size_t n, uint64_t key, uint64_t off) {
  uint8_t want[CHUNK];
  while (n > 0) {
    size_t k = n < sizeof(want) ? n : sizeof(want);
    fill(want, key, off, k);
    if (memcmp(p, want, k) != 0) {
      return 0;
    }
    p += k;
    off += k;
    n -= k;
  }
  return 1;
}

/* ---- the application -------------------------------------------------------
 * The client opens streams (at most |window| at once, |total| in all) and
 * sends a request of |req_size| bytes on each. The server either echoes
 * each request back as it reads it (|echo|) or, once the request ended,
 * sends |resp_size| bytes of its own pattern. */

typedef struct strm {
  uint64_t req_sent; /* client */
  uint64_t req_read; /* server */
  uint64_t resp_sent;
  uint64_t resp_read; /* client */
  uint8_t req_fin;
  uint8_t req_fin_read;
  uint8_t resp_fin;
  uint8_t resp_fin_read;
  uint8_t blocked[2]; /* a short write: wait for STREAM_WRITABLE */
} strm;

typedef struct idxset {
  size_t *v;
  size_t num;
} idxset;

typedef struct bulk {
  size_t total;
  size_t window;
  uint64_t req_size;
  uint64_t resp_size; /* not used with |echo| */
  int echo;
  strm *st;
  idxset cw; /* client: requests still being written */
  idxset sw; /* server: responses still being written or echoed */
  size_t opened;
  size_t completed;
  int hs_done[2];
  int closed[2];
  zttp_quic_event closed_ev[2];
  uint64_t mismatch;
  uint64_t bad_calls;
  uint64_t writable_evs;
  /* The last chunk of pattern made, reused while the writer is blocked. */
  uint8_t wbuf[CHUNK];
  uint64_t wkey;
  uint64_t woff;
  size_t wlen;
} bulk;

static uint64_t req_key(size_t i) {
  return 2 * (uint64_t)i;
}

static uint64_t resp_key(const bulk *b, size_t i) {
  return b->echo ? req_key(i) : 2 * (uint64_t)i + 1;
}

static uint64_t resp_size(const bulk *b) {
  return b->echo ? b->req_size : b->resp_size;
}

static void set_add(idxset *s, size_t i) {
  s->v[s->num++] = i;
}

static void set_del(idxset *s, size_t k) {
  s->v[k] = s->v[--s->num];
}

static strm *find(bulk *b, uint64_t id) {
  size_t i = (size_t)(id >> 2);
  if ((id & 3) != 0 || i >= b->total) {
    return NULL;
  }
  return &b->st[i];
}

/* Writes the pattern |key| from |*sent| up to |size| on |id|. Returns 1
 * when everything and the FIN went. */
static int write_pattern(bulk *b, zttp_quic_conn *qc, uint64_t id, uint64_t key,
                         uint64_t *sent, uint64_t size) {
  uint8_t buf[CHUNK];
  for (;;) {
    size_t n = sizeof(buf);
    if (size - *sent < n) {
      n = (size_t)(size - *sent);
    }
    if (b->wlen != n || b->wkey != key || b->woff != *sent) {
      fill(b->wbuf, key, *sent, n);
      b->wkey = key;
      b->woff = *sent;
      b->wlen = n;
    }
    int fin = *sent + n == size;
    int64_t took = zttp_quic_conn_stream_write(qc, id, b->wbuf, n, fin);
    if (took < 0) {
      b->bad_calls++;
      return 1;
    }
    *sent += (uint64_t)took;
    if ((size_t)took == n && fin) {
      return 1;
    }
    if ((size_t)took < n || took == 0) {
      return 0;
    }
  }
}

/* Server, echo mode: reads what arrived and writes it back, as far as the
 * send buffer takes it. Returns 1 when the echo is complete. */
static int echo_stream(bulk *b, zttp_quic_conn *qc, size_t i) {
  strm *s = &b->st[i];
  uint64_t id = (uint64_t)i << 2;
  for (;;) {
    const uint8_t *p;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(qc, id, &p, &fin);
    if (n < 0) {
      b->bad_calls++;
      return 1;
    }
    if (!check(p, (size_t)n, req_key(i), s->req_read)) {
      b->mismatch++;
    }
    int64_t took = n > 0 || fin
                       ? zttp_quic_conn_stream_write(qc, id, p, (size_t)n, fin)
                       : 0;
    if (took < 0) {
      b->bad_calls++;
      return 1;
    }
    s->resp_sent += (uint64_t)took;
    if (took > 0 && zttp_quic_conn_stream_consume(qc, id, (size_t)took) != 0) {
      b->bad_calls++;
      return 1;
    }
    s->req_read += (uint64_t)took;
    if (fin && took == n) {
      s->req_fin_read = 1;
      s->resp_fin = 1;
      return 1;
    }
    if (took < n) {
      s->blocked[SIM_SERVER] = 1;
      return 0;
    }
    if (n == 0) {
      return 0;
    }
  }
}

/* Server, serve mode: reads the request. */
static void read_request(bulk *b, zttp_quic_conn *qc, size_t i) {
  strm *s = &b->st[i];
  uint64_t id = (uint64_t)i << 2;
  while (!s->req_fin_read) {
    const uint8_t *p;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(qc, id, &p, &fin);
    if (n < 0) {
      b->bad_calls++;
      return;
    }
    if (!check(p, (size_t)n, req_key(i), s->req_read)) {
      b->mismatch++;
    }
    if (n > 0 && zttp_quic_conn_stream_consume(qc, id, (size_t)n) != 0) {
      b->bad_calls++;
      return;
    }
    s->req_read += (uint64_t)n;
    if (fin) {
      s->req_fin_read = 1;
      if (s->req_read != b->req_size) {
        b->mismatch++;
      }
      set_add(&b->sw, i);
    }
    if (n == 0) {
      return;
    }
  }
}

/* Client: reads the response. */
static void read_response(bulk *b, zttp_quic_conn *qc, size_t i) {
  strm *s = &b->st[i];
  uint64_t id = (uint64_t)i << 2;
  while (!s->resp_fin_read) {
    const uint8_t *p;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(qc, id, &p, &fin);
    if (n < 0) {
      b->bad_calls++;
      return;
    }
    if (!check(p, (size_t)n, resp_key(b, i), s->resp_read)) {
      b->mismatch++;
    }
    if (n > 0 && zttp_quic_conn_stream_consume(qc, id, (size_t)n) != 0) {
      b->bad_calls++;
      return;
    }
    s->resp_read += (uint64_t)n;
    if (fin) {
      s->resp_fin_read = 1;
      if (s->resp_read != resp_size(b)) {
        b->mismatch++;
      }
      b->completed++;
    }
    if (n == 0) {
      return;
    }
  }
}

static void client_round(sim *sm, bulk *b) {
  zttp_quic_conn *qc = sm->conn[SIM_CLIENT];
  while (b->opened < b->total && b->opened - b->completed < b->window) {
    int64_t id = zttp_quic_conn_open_stream(qc, 1);
    if (id == ZTTP_ERR_STREAM_LIMIT) {
      break; /* MAX_STREAMS credit comes back as streams close */
    }
    if (id != (int64_t)((uint64_t)b->opened << 2)) {
      b->bad_calls++;
      return;
    }
    set_add(&b->cw, b->opened++);
  }
  for (size_t k = 0; k < b->cw.num;) {
    size_t i = b->cw.v[k];
    strm *s = &b->st[i];
    if (s->blocked[SIM_CLIENT]) {
      k++;
      continue;
    }
    if (write_pattern(b, qc, (uint64_t)i << 2, req_key(i), &s->req_sent,
                      b->req_size)) {
      s->req_fin = 1;
      set_del(&b->cw, k);
    } else {
      s->blocked[SIM_CLIENT] = 1;
      k++;
    }
  }
}

static void server_round(sim *sm, bulk *b) {
  zttp_quic_conn *qc = sm->conn[SIM_SERVER];
  for (size_t k = 0; k < b->sw.num;) {
    size_t i = b->sw.v[k];
    strm *s = &b->st[i];
    if (s->blocked[SIM_SERVER]) {
      k++;
      continue;
    }
    int fin = b->echo ? echo_stream(b, qc, i)
                      : write_pattern(b, qc, (uint64_t)i << 2, resp_key(b, i),
                                      &s->resp_sent, b->resp_size);
    if (fin) {
      s->resp_fin = 1;
      set_del(&b->sw, k);
    } else {
      if (!b->echo) {
        s->blocked[SIM_SERVER] = 1;
      }
      k++;
    }
  }
}

static void on_event(sim *sm, int side, const zttp_quic_event *ev, void *arg) {
  bulk *b = arg;
  if (ev == NULL) {
    if (!b->hs_done[side]) {
      return;
    }
    if (side == SIM_CLIENT) {
      client_round(sm, b);
    } else {
      server_round(sm, b);
    }
    return;
  }
  strm *s;
  switch (ev->kind) {
  case ZTTP_QUIC_EV_HANDSHAKE_DONE:
    b->hs_done[side] = 1;
    break;
  case ZTTP_QUIC_EV_STREAM_OPENED:
    if (side != SIM_SERVER || find(b, ev->stream_id) == NULL) {
      b->bad_calls++;
    } else if (b->echo) {
      set_add(&b->sw, (size_t)(ev->stream_id >> 2));
    }
    break;
  case ZTTP_QUIC_EV_STREAM_READABLE:
    s = find(b, ev->stream_id);
    if (s == NULL) {
      b->bad_calls++;
    } else if (side == SIM_CLIENT) {
      read_response(b, sm->conn[side], (size_t)(ev->stream_id >> 2));
    } else if (!b->echo) {
      read_request(b, sm->conn[side], (size_t)(ev->stream_id >> 2));
    }
    /* Echo mode: the server round reads. */
    break;
  case ZTTP_QUIC_EV_STREAM_WRITABLE:
    s = find(b, ev->stream_id);
    if (s == NULL) {
      b->bad_calls++;
    } else {
      s->blocked[side] = 0;
      b->writable_evs++;
    }
    break;
  case ZTTP_QUIC_EV_CLOSED:
    b->closed[side] = 1;
    b->closed_ev[side] = *ev;
    break;
  default:
    break;
  }
}

static int bulk_done(sim *sm, void *arg) {
  bulk *b = arg;
  (void)sm;
  return b->closed[0] || b->closed[1] || b->bad_calls > 0 ||
         b->completed == b->total;
}

/* ---- runs ------------------------------------------------------------------
 */

typedef struct run_cfg {
  const char *name;
  uint64_t seed;
  uint32_t loss_ppm;
  uint32_t reorder_ppm;
  uint32_t dup_ppm;
  uint32_t corrupt_ppm;
  size_t total;
  size_t window;
  uint64_t req_size;
  uint64_t resp_size;
  int echo;
  zttp_tstamp max_ns;
} run_cfg;

static void report(const run_cfg *c, sim *sm, const bulk *b) {
  const zttp_quic_conn_stats *cs = zttp_quic_conn_get_stats(sm->conn[0]);
  const zttp_quic_conn_stats *ss = zttp_quic_conn_get_stats(sm->conn[1]);
  double secs = (double)(sm->now - 1000000000ULL) / 1e9;
  double bytes = (double)b->total * (double)(b->req_size + resp_size(b));
  printf("# %s: %.3f s virtual, %.2f MB/s goodput (%.1f MB both ways), "
         "srtt %.1f ms, cwnd c=%llu s=%llu\n",
         c->name, secs, secs > 0 ? bytes / secs / 1e6 : 0, bytes / 1e6,
         (double)zttp_quic_conn_smoothed_rtt(sm->conn[0]) / 1e6,
         (unsigned long long)zttp_quic_conn_cwnd(sm->conn[0]),
         (unsigned long long)zttp_quic_conn_cwnd(sm->conn[1]));
  printf("# %s: pkts sent c=%llu s=%llu, lost c=%llu s=%llu, retransmitted "
         "stream bytes c=%llu s=%llu, undecryptable/dup dropped c=%llu "
         "s=%llu\n",
         c->name, (unsigned long long)cs->pkts_sent,
         (unsigned long long)ss->pkts_sent, (unsigned long long)cs->pkts_lost,
         (unsigned long long)ss->pkts_lost,
         (unsigned long long)cs->stream_bytes_retransmitted,
         (unsigned long long)ss->stream_bytes_retransmitted,
         (unsigned long long)cs->pkts_dropped,
         (unsigned long long)ss->pkts_dropped);
  for (int l = 0; l < 2; l++) {
    const sim_link *k = &sm->link[l];
    printf("# %s: dgrams %s %llu: dropped %llu (random %llu, tail %llu), "
           "reordered %llu, duplicated %llu, corrupted %llu\n",
           c->name, l == SIM_CLIENT ? "c->s" : "s->c",
           (unsigned long long)k->dgrams, (unsigned long long)k->dropped,
           (unsigned long long)k->lost, (unsigned long long)k->tail,
           (unsigned long long)k->reordered, (unsigned long long)k->duplicated,
           (unsigned long long)k->corrupted);
  }
}

static void run(const run_cfg *c) {
  sim sm;
  bulk *b = calloc(1, sizeof(*b));
  assert_non_null(b);
  b->total = c->total;
  b->window = c->window;
  b->req_size = c->req_size;
  b->resp_size = c->resp_size;
  b->echo = c->echo;
  b->st = calloc(c->total, sizeof(strm));
  b->cw.v = calloc(c->total, sizeof(size_t));
  b->sw.v = calloc(c->total, sizeof(size_t));
  assert_true(b->st != NULL && b->cw.v != NULL && b->sw.v != NULL);
  assert_int_equal(sim_init(&sm, ZTTP_TLS_BORINGSSL, ZTTP_TEST_PKI, c->seed, 10,
                            c->loss_ppm, NULL),
                   0);
  for (int l = 0; l < 2; l++) {
    sim_link *k = &sm.link[l];
    k->bandwidth = 12500000; /* 100 Mbit/s */
    k->reorder_ppm = c->reorder_ppm;
    k->reorder_ns = 5 * MS;
    k->dup_ppm = c->dup_ppm;
    k->corrupt_ppm = c->corrupt_ppm;
  }
  sm.on_event = on_event;
  sm.arg = b;
  int rv = sim_run(&sm, bulk_done, b, c->max_ns);
  report(c, &sm, b);
  if (rv != 1 || b->closed[0] || b->closed[1]) {
    printf("# %s: rv %d, %zu of %zu streams complete, opened %zu; closed "
           "c=%d (err %d code %llu) s=%d (err %d code %llu)\n",
           c->name, rv, b->completed, b->total, b->opened, b->closed[0],
           b->closed_ev[0].error,
           (unsigned long long)b->closed_ev[0].error_code, b->closed[1],
           b->closed_ev[1].error,
           (unsigned long long)b->closed_ev[1].error_code);
  }
  assert_int_equal(rv, 1);
  assert_false(b->closed[0] || b->closed[1]);
  assert_int_equal(b->bad_calls, 0);
  assert_int_equal(b->mismatch, 0);
  assert_int_equal(b->completed, c->total);
  for (size_t i = 0; i < c->total; i++) {
    assert_int_equal(b->st[i].req_read, c->req_size);
    assert_int_equal(b->st[i].resp_read, resp_size(b));
  }
  assert_false(sm.amplification_violated);
  if (c->loss_ppm == 0 && c->reorder_ppm == 0 && c->corrupt_ppm == 0) {
    /* A clean, in-order path: nothing is declared lost or sent twice. */
    for (int side = 0; side < 2; side++) {
      const zttp_quic_conn_stats *st = zttp_quic_conn_get_stats(sm.conn[side]);
      assert_int_equal(st->pkts_lost, 0);
      assert_int_equal(st->stream_bytes_retransmitted, 0);
    }
  }
  if (c->corrupt_ppm == 0) {
    assert_int_equal(sm.link[0].corrupted + sm.link[1].corrupted, 0);
  }
  sim_free(&sm);
  free(b->st);
  free(b->cw.v);
  free(b->sw.v);
  free(b);
}

/* 50 MiB from the server on one stream. */
static void bulk50(const char *name, uint32_t loss_ppm, uint64_t seed) {
  run_cfg c = {0};
  c.name = name;
  c.seed = seed;
  c.loss_ppm = loss_ppm;
  if (loss_ppm != 0) {
    c.reorder_ppm = 10000; /* 1% held back up to 5 ms */
    c.dup_ppm = 10000;     /* 1% delivered twice */
  }
  c.total = 1;
  c.window = 1;
  c.req_size = 16;
  c.resp_size = 50 * (uint64_t)MIB;
  c.max_ns = 7200 * SEC;
  run(&c);
}

static void test_bulk50_loss0(void **state) {
  (void)state;
  bulk50("50MiB-loss0%", 0, 1);
}

static void test_bulk50_loss1(void **state) {
  (void)state;
  bulk50("50MiB-loss1%", 10000, 2);
}

static void test_bulk50_loss10(void **state) {
  (void)state;
  bulk50("50MiB-loss10%", 100000, 3);
}

static void test_bulk50_loss30(void **state) {
  (void)state;
  bulk50("50MiB-loss30%", 300000, 4);
}

/* 1% of the datagrams each way have a byte flipped: the AEAD rejects
 * them (RFC 9001 §5.3) and they are recovered like losses. */
static void test_bulk50_corrupt1(void **state) {
  (void)state;
  run_cfg c = {0};
  c.name = "50MiB-corrupt1%";
  c.seed = 5;
  c.corrupt_ppm = 10000;
  c.total = 1;
  c.window = 1;
  c.req_size = 16;
  c.resp_size = 50 * (uint64_t)MIB;
  c.max_ns = 7200 * SEC;
  run(&c);
}

/* 1,000 streams of 10 KiB each way (the server echoes), 100 at a time. */
static void streams1000(const char *name, uint32_t loss_ppm, uint64_t seed) {
  run_cfg c = {0};
  c.name = name;
  c.seed = seed;
  c.loss_ppm = loss_ppm;
  if (loss_ppm != 0) {
    c.reorder_ppm = 10000;
    c.dup_ppm = 10000;
  }
  c.total = 1000;
  c.window = 100;
  c.req_size = 10240;
  c.echo = 1;
  c.max_ns = 3600 * SEC;
  run(&c);
}

static void test_streams1000(void **state) {
  (void)state;
  streams1000("1000x10KiB-echo", 0, 6);
}

static void test_streams1000_loss1(void **state) {
  (void)state;
  streams1000("1000x10KiB-echo-loss1%", 10000, 7);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bulk50_loss0),
      cmocka_unit_test(test_bulk50_loss1),
      cmocka_unit_test(test_bulk50_loss10),
      cmocka_unit_test(test_bulk50_loss30),
      cmocka_unit_test(test_bulk50_corrupt1),
      cmocka_unit_test(test_streams1000),
      cmocka_unit_test(test_streams1000_loss1),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
