/* The QUIC connection core (src/quic/conn.h) in the in-memory network
 * (sim.h), white-box: handshakes (real TLS) with chosen packets lost (the
 * client's first Initial, the server's first Initial flight, the server's
 * Handshake flight, the client's Handshake Finished, the first 1-RTT
 * packets, the HANDSHAKE_DONE carrier), alone and under random loss,
 * never above the anti-amplification limit (RFC 9000 §8.1); the
 * congestion window traced at every step (RFC 9002 §7: slow start, one
 * reduction per recovery period, NewReno and CUBIC reductions, persistent
 * congestion); and flow control checked at every step on both sides
 * (RFC 9000 §4.1).
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
#define CHUNK 16384
#define MAX_STREAMS 256

/* ---- the application: requests and responses with exact bytes ------------
 */

static uint8_t pat(uint64_t key, uint64_t off) {
  uint64_t x = (off >> 3) * 0x9e3779b97f4a7c15ULL ^ key * 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 29;
  x *= 0x94d049bb133111ebULL;
  return (uint8_t)(x >> (8 * (off & 7)));
}

typedef struct strm {
  uint64_t req_sent, req_read, resp_sent, resp_read;
  uint8_t req_fin, req_done, resp_fin, resp_done;
} strm;

typedef struct app {
  size_t total;  /* streams the client opens, all at once */
  uint64_t req;  /* bytes client -> server per stream */
  uint64_t resp; /* bytes server -> client per stream, after the request */
  strm st[MAX_STREAMS];
  size_t opened;
  size_t completed;
  int hs_done[2];
  int closed[2];
  zttp_quic_event closed_ev[2];
  uint64_t mismatch;
  uint64_t bad;
} app;

static int pump(zttp_quic_conn *qc, app *a, uint64_t id, uint64_t key,
                uint64_t *sent, uint64_t size) {
  uint8_t buf[CHUNK];
  for (;;) {
    size_t n = sizeof(buf);
    if (size - *sent < n) {
      n = (size_t)(size - *sent);
    }
    for (size_t k = 0; k < n; k++) {
      buf[k] = pat(key, *sent + k);
    }
    int fin = *sent + n == size;
    int64_t took = zttp_quic_conn_stream_write(qc, id, buf, n, fin);
    if (took < 0) {
      a->bad++;
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

/* Reads |id| on |side|; returns 1 when its end was read. */
static int drain(zttp_quic_conn *qc, app *a, uint64_t id, uint64_t key,
                 uint64_t *read, uint64_t size) {
  for (;;) {
    const uint8_t *p;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(qc, id, &p, &fin);
    if (n < 0) {
      a->bad++;
      return 0;
    }
    for (int64_t k = 0; k < n; k++) {
      if (p[k] != pat(key, *read + (uint64_t)k)) {
        a->mismatch++;
      }
    }
    if (n > 0 && zttp_quic_conn_stream_consume(qc, id, (size_t)n) != 0) {
      a->bad++;
      return 0;
    }
    *read += (uint64_t)n;
    if (fin) {
      if (*read != size) {
        a->mismatch++;
      }
      return 1;
    }
    if (n == 0) {
      return 0;
    }
  }
}

static void on_event(sim *sm, int side, const zttp_quic_event *ev, void *arg) {
  app *a = arg;
  zttp_quic_conn *qc = sm->conn[side];
  if (ev == NULL) {
    if (side == SIM_CLIENT && a->hs_done[side]) {
      while (a->opened < a->total) {
        int64_t id = zttp_quic_conn_open_stream(qc, 1);
        if (id == ZTTP_ERR_STREAM_LIMIT) {
          break;
        }
        if (id != (int64_t)(a->opened << 2)) {
          a->bad++;
          return;
        }
        a->opened++;
      }
    }
    for (size_t i = 0; i < a->opened && a->hs_done[side]; i++) {
      strm *s = &a->st[i];
      if (side == SIM_CLIENT && !s->req_fin) {
        s->req_fin = (uint8_t)pump(qc, a, i << 2, 2 * i, &s->req_sent, a->req);
      } else if (side == SIM_SERVER && s->req_done && !s->resp_fin) {
        s->resp_fin =
            (uint8_t)pump(qc, a, i << 2, 2 * i + 1, &s->resp_sent, a->resp);
      }
    }
    return;
  }
  size_t i = (size_t)(ev->stream_id >> 2);
  switch (ev->kind) {
  case ZTTP_QUIC_EV_HANDSHAKE_DONE:
    a->hs_done[side] = 1;
    break;
  case ZTTP_QUIC_EV_STREAM_READABLE:
    if (i >= a->total) {
      a->bad++;
    } else if (side == SIM_SERVER && !a->st[i].req_done) {
      a->st[i].req_done = (uint8_t)drain(qc, a, ev->stream_id, 2 * i,
                                         &a->st[i].req_read, a->req);
      if (a->opened <= i) {
        a->opened = i + 1; /* the server's view */
      }
    } else if (side == SIM_CLIENT && !a->st[i].resp_done) {
      a->st[i].resp_done = (uint8_t)drain(qc, a, ev->stream_id, 2 * i + 1,
                                          &a->st[i].resp_read, a->resp);
      a->completed += a->st[i].resp_done;
    }
    break;
  case ZTTP_QUIC_EV_CLOSED:
    a->closed[side] = 1;
    a->closed_ev[side] = *ev;
    break;
  default:
    break;
  }
}

/* Both the client and the server open |opened| independently: the server
 * only learns of streams as data arrives, so keep separate counts. */
typedef struct world {
  app c; /* the client's view */
  app s; /* the server's view */
} world;

static void on_event_w(sim *sm, int side, const zttp_quic_event *ev,
                       void *arg) {
  world *w = arg;
  app *a = side == SIM_CLIENT ? &w->c : &w->s;
  on_event(sm, side, ev, a);
  if (ev != NULL && ev->kind == ZTTP_QUIC_EV_STREAM_READABLE &&
      side == SIM_SERVER) {
    /* Mirror what the server read for the final checks. */
    size_t i = (size_t)(ev->stream_id >> 2);
    if (i < w->c.total) {
      w->c.st[i].req_read = w->s.st[i].req_read;
    }
  }
}

static void world_init(world *w, size_t total, uint64_t req, uint64_t resp) {
  memset(w, 0, sizeof(*w));
  w->c.total = w->s.total = total;
  w->c.req = w->s.req = req;
  w->c.resp = w->s.resp = resp;
}

static int world_done(sim *sm, void *arg) {
  world *w = arg;
  return w->c.closed[0] || w->c.closed[1] || w->s.closed[0] || w->s.closed[1] ||
         w->c.bad > 0 || w->s.bad > 0 ||
         (w->c.completed == w->c.total && w->c.hs_done[SIM_CLIENT] &&
          zttp_quic_conn_handshake_confirmed(sm->conn[SIM_CLIENT]) &&
          sm->conn[SIM_SERVER] != NULL &&
          zttp_quic_conn_handshake_confirmed(sm->conn[SIM_SERVER]));
}

/* Checks the end of a run; on failure frees |sm| and |heap| first, so that
 * a failing run reports no leak of its own. */
static void check_world(sim *sm, world *w, int rv, void *heap) {
  int ok = rv == 1 && !w->c.closed[0] && !w->c.closed[1] && !w->s.closed[0] &&
           !w->s.closed[1] && w->c.bad + w->s.bad == 0 &&
           w->c.mismatch + w->s.mismatch == 0 && w->c.completed == w->c.total &&
           !sm->amplification_violated;
  if (rv != 1) {
    printf("# rv %d, completed %zu of %zu, hs c=%d s=%d\n", rv, w->c.completed,
           w->c.total, w->c.hs_done[SIM_CLIENT], w->s.hs_done[SIM_SERVER]);
  }
  for (int side = 0; side < 2; side++) {
    const app *a = side == SIM_CLIENT ? &w->c : &w->s;
    if (a->closed[side]) {
      printf("# closed %s: err %d code %llu remote %d app %d\n",
             side == SIM_CLIENT ? "client" : "server", a->closed_ev[side].error,
             (unsigned long long)a->closed_ev[side].error_code,
             a->closed_ev[side].remote, a->closed_ev[side].app);
    }
  }
  if (!ok) {
    world copy = *w;
    sim_free(sm);
    free(heap);
    w = &copy;
    assert_int_equal(rv, 1);
    assert_false(w->c.closed[0] || w->c.closed[1] || w->s.closed[0] ||
                 w->s.closed[1]);
    assert_int_equal(w->c.bad + w->s.bad, 0);
    assert_int_equal(w->c.mismatch + w->s.mismatch, 0);
    assert_int_equal(w->c.completed, w->c.total);
    fail_msg("amplification limit exceeded");
  }
  assert_int_equal(rv, 1);
  assert_false(w->c.closed[0] || w->c.closed[1] || w->s.closed[0] ||
               w->s.closed[1]);
  assert_int_equal(w->c.bad + w->s.bad, 0);
  assert_int_equal(w->c.mismatch + w->s.mismatch, 0);
  assert_int_equal(w->c.completed, w->c.total);
  for (size_t i = 0; i < w->c.total; i++) {
    assert_int_equal(w->s.st[i].req_read, w->c.req);
    assert_int_equal(w->c.st[i].resp_read, w->c.resp);
  }
  assert_true(zttp_quic_conn_handshake_confirmed(sm->conn[SIM_SERVER]));
  assert_true(zttp_quic_conn_address_validated(sm->conn[SIM_SERVER]));
  assert_false(sm->amplification_violated); /* RFC 9000 §8.1 */
}

/* Replaces sim_init's client by one with sm->settings. */
static void recreate_client(sim *sm) {
  zttp_quic_conn_free(sm->conn[SIM_CLIENT]);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_new(&sm->conn[SIM_CLIENT], sm->mem,
                                      &sm->settings, ZTTP_CLIENT,
                                      sm->ctx[SIM_CLIENT], sm->server_name,
                                      NULL, &path, sm->now),
                   0);
}

static void print_links(const char *name, const sim *sm) {
  const zttp_quic_conn_stats *cs = zttp_quic_conn_get_stats(sm->conn[0]);
  const zttp_quic_conn_stats *ss = zttp_quic_conn_get_stats(sm->conn[1]);
  printf("# %s: pkts sent c=%llu s=%llu, lost c=%llu s=%llu, retransmitted "
         "stream bytes c=%llu s=%llu; dgrams c->s %llu (dropped %llu: chosen "
         "%llu, random %llu) s->c %llu (dropped %llu: chosen %llu, random "
         "%llu); server sent %llu B before validation for %llu B received\n",
         name, (unsigned long long)cs->pkts_sent,
         (unsigned long long)ss->pkts_sent, (unsigned long long)cs->pkts_lost,
         (unsigned long long)ss->pkts_lost,
         (unsigned long long)cs->stream_bytes_retransmitted,
         (unsigned long long)ss->stream_bytes_retransmitted,
         (unsigned long long)sm->link[0].dgrams,
         (unsigned long long)sm->link[0].dropped,
         (unsigned long long)sm->link[0].chosen,
         (unsigned long long)sm->link[0].lost,
         (unsigned long long)sm->link[1].dgrams,
         (unsigned long long)sm->link[1].dropped,
         (unsigned long long)sm->link[1].chosen,
         (unsigned long long)sm->link[1].lost,
         (unsigned long long)sm->server_sent_unval,
         (unsigned long long)sm->server_recv);
}

/* ---- handshakes with chosen losses ---------------------------------------
 */

enum hs_drop_kind {
  DROP_NONE = 0,
  DROP_CLIENT_INITIAL,    /* the client's first datagram */
  DROP_SERVER_INITIAL,    /* the server's first-flight datagrams w/ Initial */
  DROP_SERVER_HANDSHAKE,  /* its first-flight datagrams with only Handshake */
  DROP_SERVER_FLIGHT,     /* its whole first flight */
  DROP_CLIENT_FINISHED,   /* the client's first flight of Handshake */
  DROP_FIRST_1RTT,        /* the first two 1-RTT datagrams each way */
  DROP_HANDSHAKE_DONE,    /* the first datagram carrying HANDSHAKE_DONE */
  DROP_HANDSHAKE_DONE_3X, /* the first three carrying it */
  /* The client's first flight of Handshake as whole datagrams (with the
   * 1-RTT data coalesced or sent with it). */
  DROP_CLIENT_FINISHED_DGRAM,
  NUM_DROP_KINDS
};

static const char *const drop_names[NUM_DROP_KINDS] = {"none",
                                                       "client-initial",
                                                       "server-initial-flight",
                                                       "server-hs-only",
                                                       "server-flight",
                                                       "client-finished",
                                                       "first-1rtt",
                                                       "handshake-done",
                                                       "handshake-done-3x",
                                                       "client-finished-dgram"};

typedef struct hs_drop {
  int kind;
  int dropped[2];
  zttp_tstamp first_at[2]; /* when the first datagram of a flight went */
  int have_first[2];
  int seen_short[2];
} hs_drop;

/* 1 when the last 1-RTT packet |qc| sent carried HANDSHAKE_DONE. */
static int last_app_has_hs_done(const zttp_quic_conn *qc) {
  const zttp_quic_rec_space *sp = &qc->rec.sp[ZTTP_QUIC_SPACE_APP];
  if (sp->num == 0) {
    return 0;
  }
  size_t j = (sp->head + sp->num - 1) % sp->cap;
  const zttp_quic_sent_pkt *p = &sp->pkts[j];
  if (p->pn + 1 != qc->next_pn[ZTTP_QUIC_SPACE_APP] || p->token >= qc->num_pk) {
    return 0;
  }
  const qc_pktinfo *pi = &qc->pk[p->token];
  for (uint32_t i = 0; i < pi->num; i++) {
    if (pi->f[i].kind == QF_HANDSHAKE_DONE) {
      return 1;
    }
  }
  return 0;
}

/* Drops a datagram, or spoils only the packets of |types| in it when it
 * carries others too (a coalesced packet is then lost alone). */
static int lose(uint8_t *data, size_t len, uint32_t types, uint32_t mask) {
  if ((types & ~mask) == 0) {
    return 1;
  }
  sim_corrupt_packets(data, len, mask);
  return 0;
}

static int hs_filter(sim *sm, int side, uint64_t idx, uint8_t *data, size_t len,
                     void *arg) {
  hs_drop *d = arg;
  uint32_t types = sim_dgram_types(data, len);
  const uint32_t init = 1u << ZTTP_QUIC_PKT_INITIAL;
  const uint32_t hs = 1u << ZTTP_QUIC_PKT_HANDSHAKE;
  const uint32_t one_rtt = 1u << ZTTP_QUIC_PKT_SHORT;
  int hit = 0;
  int drop = 0;
  (void)idx;
  switch (d->kind) {
  case DROP_CLIENT_INITIAL:
    hit = side == SIM_CLIENT && d->dropped[side] == 0 && (types & init);
    drop = hit;
    break;
  case DROP_SERVER_INITIAL:
  case DROP_SERVER_HANDSHAKE:
  case DROP_SERVER_FLIGHT:
    if (side != SIM_SERVER) {
      break;
    }
    if (!d->have_first[side]) {
      d->have_first[side] = 1;
      d->first_at[side] = sm->now;
    }
    if (sm->now != d->first_at[side]) {
      break;
    }
    if (d->kind == DROP_SERVER_FLIGHT) {
      hit = drop = 1;
    } else if (d->kind == DROP_SERVER_INITIAL && (types & init)) {
      hit = 1;
      drop = lose(data, len, types, init);
    } else if (d->kind == DROP_SERVER_HANDSHAKE && (types & hs)) {
      hit = 1;
      drop = lose(data, len, types, hs);
    }
    break;
  case DROP_CLIENT_FINISHED:
  case DROP_CLIENT_FINISHED_DGRAM:
    if (side != SIM_CLIENT || !(types & hs)) {
      break;
    }
    if (!d->have_first[side]) {
      d->have_first[side] = 1;
      d->first_at[side] = sm->now;
    }
    if (sm->now == d->first_at[side]) {
      hit = 1;
      drop = d->kind == DROP_CLIENT_FINISHED_DGRAM ? 1
                                                   : lose(data, len, types, hs);
    }
    break;
  case DROP_FIRST_1RTT:
    if ((types & one_rtt) && d->seen_short[side]++ < 2) {
      hit = 1;
      drop = lose(data, len, types, one_rtt);
    }
    break;
  case DROP_HANDSHAKE_DONE:
  case DROP_HANDSHAKE_DONE_3X:
    if (side == SIM_SERVER && (types & one_rtt) &&
        d->dropped[side] < (d->kind == DROP_HANDSHAKE_DONE ? 1 : 3) &&
        last_app_has_hs_done(sm->conn[SIM_SERVER])) {
      hit = 1;
      drop = lose(data, len, types, one_rtt);
    }
    break;
  default:
    break;
  }
  d->dropped[side] += hit;
  return drop;
}

/* One handshake with |kind| dropped, plus |loss_ppm| random loss with
 * reordering and duplication, then 4 KiB each way on one stream. */
static void hs_run(int kind, uint32_t loss_ppm, uint64_t seed, int verbose) {
  sim sm;
  world w;
  hs_drop d;
  memset(&d, 0, sizeof(d));
  d.kind = kind;
  world_init(&w, 1, 4096, 4096);
  assert_int_equal(sim_init(&sm, ZTTP_TLS_BORINGSSL, ZTTP_TEST_PKI, seed, 10,
                            loss_ppm, NULL),
                   0);
  for (int l = 0; l < 2; l++) {
    sm.link[l].filter = hs_filter;
    sm.link[l].filter_arg = &d;
    if (loss_ppm != 0) {
      sm.link[l].reorder_ppm = 50000;
      sm.link[l].reorder_ns = 5 * MS;
      sm.link[l].dup_ppm = 50000;
    }
  }
  sm.on_event = on_event_w;
  sm.arg = &w;
  int rv = sim_run(&sm, world_done, &w, 120 * SEC);
  char name[96];
  snprintf(name, sizeof(name), "hs %s loss %u ppm seed %llu", drop_names[kind],
           loss_ppm, (unsigned long long)seed);
  int closed = w.c.closed[0] || w.c.closed[1] || w.s.closed[0] || w.s.closed[1];
  if (verbose || rv != 1 || closed) {
    printf("# %s: %.1f ms virtual, dropped chosen c=%d s=%d\n", name,
           (double)(sm.now - 1000000000ULL) / 1e6, d.dropped[0], d.dropped[1]);
    print_links(name, &sm);
  }
  check_world(&sm, &w, rv, NULL);
  if (kind != DROP_NONE && loss_ppm == 0) {
    /* The chosen packets were there to drop. */
    assert_true(d.dropped[0] + d.dropped[1] >= 1);
  }
  sim_free(&sm);
}

static void test_hs_chosen_losses(void **state) {
  (void)state;
  for (int k = DROP_NONE; k < NUM_DROP_KINDS; k++) {
    hs_run(k, 0, 1, 1);
  }
}

/* The same chosen losses under 20% random loss (with reordering and
 * duplication) each way, over seeds: still no amplification above 3x. */
static void test_hs_chosen_losses_lossy(void **state) {
  (void)state;
  for (int k = DROP_NONE; k < DROP_CLIENT_FINISHED_DGRAM; k++) {
    for (uint64_t seed = 1; seed <= 8; seed++) {
      hs_run(k, 200000, seed, 0);
    }
  }
  printf("# hs chosen losses under 20%% loss: %d kinds x 8 seeds complete\n",
         DROP_CLIENT_FINISHED_DGRAM);
}

/* The client's first Handshake flight lost as whole datagrams (so its
 * first 1-RTT packets too) under 20% loss. Seed 4 stalls until the idle
 * timeout (a transport bug, reported): the 1-RTT packets the client sent
 * with its Finished cannot be acknowledged (the server has no 1-RTT keys
 * before the Finished) nor declared lost (no 1-RTT ACK; no 1-RTT PTO
 * before confirmation, RFC 9002 §6.2.1), so they hold the halved window
 * shut; the Finished, declared lost once the Handshake PTO probe (a PING)
 * was acknowledged, is no probe and waits for window room that never
 * comes, and no timer is armed (client cwnd 6000, 8259 bytes in flight in
 * 7 1-RTT packets, loss detection timer NEVER). */
static void test_hs_finished_dgram_lossy(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    hs_run(DROP_CLIENT_FINISHED_DGRAM, 200000, seed, 0);
  }
}

/* ---- corrupted headers ------------------------------------------------------
 */

/* Where one 1-RTT datagram of the client gets one byte altered. */
typedef struct mangle {
  size_t off; /* SIZE_MAX: the last byte (the AEAD tag) */
  uint8_t mask;
} mangle;

static const mangle mangles[] = {
    {0, 0x01},        {0, 0x02}, /* packet number length */
    {0, 0x04},                   /* key phase (RFC 9001 §6) */
    {0, 0x08},        {0, 0x10}, /* reserved bits (RFC 9000 §17.3.1) */
    {0, 0x20},                   /* spin bit */
    {0, 0x40},                   /* fixed bit */
    {0, 0x80},                   /* header form */
    {1, 0x01},                   /* the DCID */
    {9, 0x80},                   /* the packet number (8-byte DCID) */
    {200, 0xff},                 /* the payload */
    {SIZE_MAX, 0x01},            /* the tag */
};
#define NUM_MANGLES (sizeof(mangles) / sizeof(mangles[0]))

typedef struct mangler {
  size_t seen;
  size_t done;
} mangler;

static int mangle_filter(sim *sm, int side, uint64_t idx, uint8_t *data,
                         size_t len, void *arg) {
  mangler *m = arg;
  (void)idx;
  if (side != SIM_CLIENT || m->done == NUM_MANGLES ||
      sim_dgram_types(data, len) != 1u << ZTTP_QUIC_PKT_SHORT || len < 1000 ||
      !zttp_quic_conn_handshake_confirmed(sm->conn[SIM_CLIENT])) {
    return 0;
  }
  /* Every 10th full 1-RTT datagram, one mangle each. */
  if (m->seen++ % 10 != 9) {
    return 0;
  }
  const mangle *g = &mangles[m->done++];
  data[g->off == SIZE_MAX ? len - 1 : g->off] ^= g->mask;
  return 0;
}

/* RFC 9001 §5.3, §9.5; RFC 9000 §17.3.1: a 1-RTT packet with any bit of
 * its header or body altered fails the AEAD and is dropped silently (the
 * reserved bits and the key phase are only acted on once the packet
 * opened), the connection goes on and the data arrives whole. */
static void test_corrupted_headers(void **state) {
  (void)state;
  sim sm;
  world w;
  mangler m;
  memset(&m, 0, sizeof(m));
  world_init(&w, 1, 1u << 20, 1000);
  assert_int_equal(
      sim_init(&sm, ZTTP_TLS_BORINGSSL, ZTTP_TEST_PKI, 1, 10, 0, NULL), 0);
  sm.link[SIM_CLIENT].filter = mangle_filter;
  sm.link[SIM_CLIENT].filter_arg = &m;
  sm.on_event = on_event_w;
  sm.arg = &w;
  int rv = sim_run(&sm, world_done, &w, 60 * SEC);
  const zttp_quic_conn_stats *ss = zttp_quic_conn_get_stats(sm.conn[1]);
  printf("# corrupted headers: %zu of %zu mangles applied; server dropped "
         "%llu packets, key updates %llu, %.1f ms virtual\n",
         m.done, NUM_MANGLES, (unsigned long long)ss->pkts_dropped,
         (unsigned long long)zttp_quic_conn_key_updates(sm.conn[1]),
         (double)(sm.now - 1000000000ULL) / 1e6);
  print_links("corrupted headers", &sm);
  uint64_t dropped = ss->pkts_dropped;
  uint64_t key_updates = zttp_quic_conn_key_updates(sm.conn[SIM_SERVER]);
  check_world(&sm, &w, rv, NULL);
  sim_free(&sm);
  assert_int_equal(m.done, NUM_MANGLES);
  /* Each mangled datagram is one packet dropped; the two whose fixed bit or
   * header form flipped no longer parse and are dropped without being
   * counted in pkts_dropped (reported). */
  assert_true(dropped >= NUM_MANGLES - 2 && dropped <= NUM_MANGLES);
  assert_int_equal(key_updates, 0);
}

/* ---- congestion window trace (RFC 9002 §7) --------------------------------
 */

typedef struct cctrace {
  int side; /* the sender traced */
  uint64_t min_rtt;
  int have_prev;
  zttp_quic_cc prev;
  uint64_t prev_lost;
  int prev_confirmed;
  uint64_t steps;
  uint64_t ss_checks;
  uint64_t ss_bytes;
  uint64_t ca_checks;
  uint64_t reductions;
  uint64_t persistent;
  zttp_tstamp last_reduction;
  zttp_tstamp first_persistent;
  uint64_t min_gap;
  uint64_t failures;
  char first_failure[256];
  /* Flow control (RFC 9000 §4.1), both sides. */
  int check_fc;
  uint64_t fc_checks;
  uint64_t fc_failures;
  char first_fc_failure[256];
  uint64_t max_cwnd;
} cctrace;

static void cc_fail(cctrace *t, sim *sm, const char *what, uint64_t got,
                    uint64_t want) {
  if (t->failures++ == 0) {
    snprintf(t->first_failure, sizeof(t->first_failure),
             "at %llu ns: %s: got %llu, want %llu", (unsigned long long)sm->now,
             what, (unsigned long long)got, (unsigned long long)want);
  }
}

static void fc_fail(cctrace *t, sim *sm, const char *what, uint64_t id,
                    uint64_t got, uint64_t limit) {
  if (t->fc_failures++ == 0) {
    snprintf(t->first_fc_failure, sizeof(t->first_fc_failure),
             "at %llu ns: %s (stream %llu): %llu > %llu",
             (unsigned long long)sm->now, what, (unsigned long long)id,
             (unsigned long long)got, (unsigned long long)limit);
  }
}

static uint64_t expected_reduction(const zttp_quic_cc *cc) {
  uint64_t min = zttp_quic_cc_min_window(cc);
  uint64_t w = cc->algo == ZTTP_QUIC_CC_CUBIC
                   ? (uint64_t)((double)cc->cwnd * 0.7) /* RFC 9438 §4.6 */
                   : cc->cwnd / 2; /* RFC 9002 kLossReductionFactor */
  return w > min ? w : min;
}

static void cc_step(sim *sm, cctrace *t, int step) {
  const zttp_quic_conn *qc = sm->conn[t->side];
  const zttp_quic_cc *cur = &qc->rec.cc;
  uint64_t lost = qc->st.pkts_lost;
  uint64_t min = zttp_quic_cc_min_window(cur);
  t->steps++;
  if (cur->cwnd > t->max_cwnd) {
    t->max_cwnd = cur->cwnd;
  }
  if (cur->cwnd < min) {
    cc_fail(t, sm, "cwnd below the minimum window", cur->cwnd, min);
  }
  if (t->have_prev && t->prev_confirmed) {
    const zttp_quic_cc *p = &t->prev;
    if (lost > t->prev_lost && cur->recovery_start == 0 &&
        p->cwnd != cur->cwnd) {
      /* §7.6.2: persistent congestion. */
      t->persistent++;
      if (t->first_persistent == 0) {
        t->first_persistent = sm->now;
      }
      if (cur->cwnd != min) {
        cc_fail(t, sm, "persistent congestion window", cur->cwnd, min);
      }
    } else if (cur->recovery_start != p->recovery_start &&
               cur->recovery_start != 0) {
      /* §7.3.2: a new recovery period, one reduction. */
      uint64_t want = expected_reduction(p);
      if (cur->ssthresh != want) {
        cc_fail(t, sm, "ssthresh after a loss", cur->ssthresh, want);
      }
      if (cur->cwnd != want) {
        cc_fail(t, sm, "cwnd after a loss", cur->cwnd, want);
      }
      if (lost == t->prev_lost) {
        cc_fail(t, sm, "a reduction without a loss", lost, t->prev_lost + 1);
      }
      if (t->reductions > 0) {
        uint64_t gap = sm->now - t->last_reduction;
        if (gap < t->min_gap || t->min_gap == 0) {
          t->min_gap = gap;
        }
        /* A packet sent after the last reduction must be lost, which an
         * endpoint learns a round trip later at the earliest. */
        if (gap < t->min_rtt) {
          cc_fail(t, sm, "two reductions within a round trip", gap, t->min_rtt);
        }
      }
      t->reductions++;
      t->last_reduction = sm->now;
    } else if (step == SIM_STEP_RECV && lost == t->prev_lost &&
               p->ssthresh == UINT64_MAX && cur->ssthresh == UINT64_MAX &&
               !qc->app_limited && p->bytes_in_flight >= cur->bytes_in_flight) {
      /* §7.3.1: slow start grows by the bytes acknowledged. */
      uint64_t acked = p->bytes_in_flight - cur->bytes_in_flight;
      if (cur->cwnd - p->cwnd != acked) {
        cc_fail(t, sm, "slow start growth", cur->cwnd - p->cwnd, acked);
      }
      if (acked > 0) {
        t->ss_checks++;
        t->ss_bytes += acked;
      }
    } else if (step == SIM_STEP_RECV && lost == t->prev_lost &&
               cur->algo == ZTTP_QUIC_CC_NEWRENO && p->ssthresh != UINT64_MAX &&
               p->cwnd >= p->ssthresh && cur->cwnd > p->cwnd) {
      /* §7.3.3: at most one datagram per window acknowledged. */
      if (cur->cwnd - p->cwnd > cur->max_datagram_size) {
        cc_fail(t, sm, "congestion avoidance growth", cur->cwnd - p->cwnd,
                cur->max_datagram_size);
      }
      t->ca_checks++;
    }
  }
  t->prev = *cur;
  t->prev_lost = lost;
  t->prev_confirmed = qc->hs_confirmed;
  t->have_prev = 1;
}

/* RFC 9000 §4.1: what |from| sent on each stream and in all stays within
 * what |to| advertised (and what |from| knows of it). */
static void fc_check(sim *sm, cctrace *t, int from) {
  const zttp_quic_conn *s = sm->conn[from];
  const zttp_quic_conn *r = sm->conn[1 - from];
  if (s == NULL || r == NULL || !r->hs_complete) {
    return;
  }
  t->fc_checks++;
  if (s->data_sent > s->peer_max_data) {
    fc_fail(t, sm, "data sent > peer's MAX_DATA as known", 0, s->data_sent,
            s->peer_max_data);
  }
  if (s->data_sent > r->max_data) {
    fc_fail(t, sm, "data sent > receiver's MAX_DATA", 0, s->data_sent,
            r->max_data);
  }
  if (r->data_recv > r->max_data) {
    fc_fail(t, sm, "data received > MAX_DATA", 0, r->data_recv, r->max_data);
  }
  if (s->peer_max_data > r->max_data) {
    fc_fail(t, sm, "sender's MAX_DATA > advertised", 0, s->peer_max_data,
            r->max_data);
  }
  for (size_t i = 0; i < s->num_streams; i++) {
    const qc_stream *st = s->streams[i];
    if (!st->has_send) {
      continue;
    }
    if (st->sb.sent > st->max_send) {
      fc_fail(t, sm, "stream sent > MAX_STREAM_DATA as known", st->id,
              st->sb.sent, st->max_send);
    }
    const qc_stream *rs = qc_stream_find(r, st->id);
    uint64_t limit;
    if (rs != NULL) {
      limit = rs->max_recv;
    } else {
      size_t k = qc_stream_is_uni(st->id);
      uint64_t idx = st->id >> 2;
      int opened = qc_stream_is_local(r, st->id) ? idx < r->local_opened[k]
                                                 : idx < r->peer_opened[k];
      if (opened) {
        continue; /* released at the receiver: everything was read */
      }
      limit = r->s.max_stream_data; /* the initial limit */
    }
    if (st->sb.sent > limit) {
      fc_fail(t, sm, "stream sent > receiver's MAX_STREAM_DATA", st->id,
              st->sb.sent, limit);
    }
    if (st->max_send > limit) {
      fc_fail(t, sm, "sender's MAX_STREAM_DATA > advertised", st->id,
              st->max_send, limit);
    }
  }
}

static void trace(sim *sm, int side, int step, void *arg) {
  cctrace *t = arg;
  if (side == t->side && step != SIM_STEP_ROUND && sm->conn[side] != NULL) {
    cc_step(sm, t, step);
  }
  if (t->check_fc && step != SIM_STEP_ROUND) {
    fc_check(sm, t, SIM_CLIENT);
    fc_check(sm, t, SIM_SERVER);
  }
}

typedef struct cc_cfg {
  const char *name;
  uint32_t algo;
  uint64_t seed;
  uint32_t loss_ppm; /* server to client */
  uint64_t drop_bits;
  int drop_burst_from; /* with drop_burst_len: s->c datagrams dropped */
  int drop_burst_len;
  zttp_tstamp down_after; /* a both-way outage this long after the start */
  zttp_tstamp down_for;
  size_t streams;
  uint64_t resp;
  int check_fc;
  uint64_t max_data; /* 0: default */
  uint64_t max_stream_data;
} cc_cfg;

typedef struct burst {
  int from;
  int len;
} burst;

static int burst_filter(sim *sm, int side, uint64_t idx, uint8_t *data,
                        size_t len, void *arg) {
  burst *b = arg;
  (void)sm;
  (void)data;
  (void)len;
  return side == SIM_SERVER && idx >= (uint64_t)b->from &&
         idx < (uint64_t)(b->from + b->len);
}

static void cc_run(const cc_cfg *c, cctrace *t) {
  sim sm;
  world *w = calloc(1, sizeof(*w));
  assert_non_null(w);
  world_init(w, c->streams, 100, c->resp);
  memset(t, 0, sizeof(*t));
  t->side = SIM_SERVER;
  t->min_rtt = 20 * MS;
  t->check_fc = c->check_fc;
  assert_int_equal(
      sim_init(&sm, ZTTP_TLS_BORINGSSL, ZTTP_TEST_PKI, c->seed, 10, 0, NULL),
      0);
  sm.settings.cc_algo = c->algo;
  if (c->max_data != 0) {
    sm.settings.max_data = c->max_data;
    sm.settings.max_stream_data = c->max_stream_data;
  }
  recreate_client(&sm);
  burst b = {c->drop_burst_from, c->drop_burst_len};
  for (int l = 0; l < 2; l++) {
    sm.link[l].bandwidth = 12500000; /* 100 Mbit/s */
  }
  sm.link[SIM_SERVER].loss_ppm = c->loss_ppm;
  sm.link[SIM_SERVER].drop_bits = c->drop_bits;
  if (c->drop_burst_len > 0) {
    sm.link[SIM_SERVER].filter = burst_filter;
    sm.link[SIM_SERVER].filter_arg = &b;
  }
  if (c->down_for != 0) {
    for (int l = 0; l < 2; l++) {
      sm.link[l].down_from = sm.now + c->down_after;
      sm.link[l].down_until = sm.now + c->down_after + c->down_for;
    }
  }
  sm.on_event = on_event_w;
  sm.arg = w;
  sm.trace = trace;
  sm.trace_arg = t;
  int rv = sim_run(&sm, world_done, w, 600 * SEC);
  double secs = (double)(sm.now - 1000000000ULL) / 1e9;
  printf("# %s: %.3f s virtual, %.2f MB/s goodput; %llu steps, %llu slow "
         "start checks (%llu B), %llu CA checks, %llu reductions (min gap "
         "%.1f ms), %llu persistent congestion, max cwnd %llu, final cwnd "
         "%llu; %llu flow-control checks\n",
         c->name, secs,
         secs > 0 ? (double)c->streams * (double)(c->resp + 100) / secs / 1e6
                  : 0,
         (unsigned long long)t->steps, (unsigned long long)t->ss_checks,
         (unsigned long long)t->ss_bytes, (unsigned long long)t->ca_checks,
         (unsigned long long)t->reductions, (double)t->min_gap / 1e6,
         (unsigned long long)t->persistent, (unsigned long long)t->max_cwnd,
         (unsigned long long)zttp_quic_conn_cwnd(sm.conn[SIM_SERVER]),
         (unsigned long long)t->fc_checks);
  print_links(c->name, &sm);
  if (t->failures > 0) {
    printf("# %s: %llu cc failures, first %s\n", c->name,
           (unsigned long long)t->failures, t->first_failure);
  }
  if (t->fc_failures > 0) {
    printf("# %s: %llu flow-control failures, first %s\n", c->name,
           (unsigned long long)t->fc_failures, t->first_fc_failure);
  }
  check_world(&sm, w, rv, w);
  sim_free(&sm);
  free(w);
  assert_int_equal(t->failures, 0);
  assert_int_equal(t->fc_failures, 0);
}

static const uint32_t algos[2] = {ZTTP_QUIC_CC_NEWRENO, ZTTP_QUIC_CC_CUBIC};

static cc_cfg cc_base(const char *name, uint32_t algo) {
  cc_cfg c;
  memset(&c, 0, sizeof(c));
  c.name = name;
  c.algo = algo;
  c.seed = 1;
  c.streams = 1;
  c.resp = 4u << 20;
  return c;
}

/* §7.3.1: without loss the window grows by exactly the bytes acknowledged,
 * and nothing reduces it. */
static void test_cc_slow_start(void **state) {
  (void)state;
  for (int a = 0; a < 2; a++) {
    cctrace t;
    cc_cfg c = cc_base(a == 0 ? "cc slow start newreno" : "cc slow start cubic",
                       algos[a]);
    cc_run(&c, &t);
    assert_int_equal(t.reductions, 0);
    assert_int_equal(t.persistent, 0);
    assert_true(t.ss_checks >= 50);
    assert_true(t.max_cwnd >= 10 * 14720);
  }
}

/* §7.3.2: one lost datagram in slow start: exactly one reduction, to half
 * the window (NewReno) or 0.7 of it (CUBIC), checked at the step. */
static void test_cc_single_loss(void **state) {
  (void)state;
  for (int a = 0; a < 2; a++) {
    cctrace t;
    cc_cfg c = cc_base(
        a == 0 ? "cc single loss newreno" : "cc single loss cubic", algos[a]);
    c.drop_bits = 1ULL << 40;
    cc_run(&c, &t);
    assert_int_equal(t.reductions, 1);
    assert_int_equal(t.persistent, 0);
  }
}

/* §7.3.2: ten datagrams of one flight lost: still one reduction (the
 * recovery period). */
static void test_cc_burst_one_reduction(void **state) {
  (void)state;
  for (int a = 0; a < 2; a++) {
    cctrace t;
    cc_cfg c =
        cc_base(a == 0 ? "cc burst newreno" : "cc burst cubic", algos[a]);
    c.drop_burst_from = 150;
    c.drop_burst_len = 10;
    cc_run(&c, &t);
    assert_int_equal(t.reductions, 1);
    assert_int_equal(t.persistent, 0);
  }
}

/* Random loss: every reduction is exact and a round trip from the last. */
static void test_cc_random_loss(void **state) {
  (void)state;
  for (int a = 0; a < 2; a++) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
      cctrace t;
      cc_cfg c =
          cc_base(a == 0 ? "cc 3% loss newreno" : "cc 3% loss cubic", algos[a]);
      c.seed = seed;
      c.loss_ppm = 30000;
      c.resp = 2u << 20;
      cc_run(&c, &t);
      assert_true(t.reductions >= 2);
    }
  }
}

/* §7.6.2: a 2 s outage both ways in the middle of a transfer: the losses
 * span more than the persistent congestion duration, the window collapses
 * to 2 * max_datagram_size, and the transfer completes. */
static void test_cc_persistent_congestion(void **state) {
  (void)state;
  for (int a = 0; a < 2; a++) {
    cctrace t;
    cc_cfg c = cc_base(a == 0 ? "cc persistent congestion newreno"
                              : "cc persistent congestion cubic",
                       algos[a]);
    c.down_after = 300 * MS;
    c.down_for = 2 * SEC;
    cc_run(&c, &t);
    assert_true(t.persistent >= 1);
    assert_true(t.first_persistent >= 1000000000ULL + 2300 * MS);
  }
}

/* ---- flow control ----------------------------------------------------------
 */

/* Small windows (16 KiB per stream, 48 KiB per connection: flow control
 * binds, not the 250 KB path) under 5% loss, checked at every step. */
static void test_fc_small_windows(void **state) {
  (void)state;
  cctrace t;
  cc_cfg c = cc_base("fc 16KiB/48KiB windows 5% loss", ZTTP_QUIC_CC_NEWRENO);
  c.streams = 8;
  c.resp = 256 * 1024;
  c.loss_ppm = 50000;
  c.check_fc = 1;
  c.max_data = 48 * 1024;
  c.max_stream_data = 16 * 1024;
  cc_run(&c, &t);
  assert_true(t.fc_checks > 1000);
}

/* Defaults, 100 streams of 64 KiB at once. */
static void test_fc_many_streams(void **state) {
  (void)state;
  cctrace t;
  cc_cfg c = cc_base("fc 100 streams x 64KiB 1% loss", ZTTP_QUIC_CC_CUBIC);
  c.streams = 100;
  c.resp = 64 * 1024;
  c.loss_ppm = 10000;
  c.check_fc = 1;
  cc_run(&c, &t);
  assert_true(t.fc_checks > 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hs_chosen_losses),
      cmocka_unit_test(test_hs_chosen_losses_lossy),
      cmocka_unit_test(test_hs_finished_dgram_lossy),
      cmocka_unit_test(test_corrupted_headers),
      cmocka_unit_test(test_cc_slow_start),
      cmocka_unit_test(test_cc_single_loss),
      cmocka_unit_test(test_cc_burst_one_reduction),
      cmocka_unit_test(test_cc_random_loss),
      cmocka_unit_test(test_cc_persistent_congestion),
      cmocka_unit_test(test_fc_small_windows),
      cmocka_unit_test(test_fc_many_streams),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
