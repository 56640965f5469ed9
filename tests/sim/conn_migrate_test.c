/* Connection migration (RFC 9000 §9) and path validation (§8.2) in the
 * in-memory network (sim.h), with real addresses on every datagram:
 *   - a NAT rebinding (new port) mid-transfer: the server follows, proves
 *     the new address, keeps its congestion state (§9.4), and checks the
 *     old path (§9.3.3); a new IP address resets congestion control;
 *   - an attacker's copy of a client packet from a spoofed address arriving
 *     first (§9.3.2): the server sends at most 3x what came from there and
 *     moves back without validation as soon as the real client speaks;
 *   - a new path that never answers: validation fails after its timer and
 *     the server falls back to the last validated path (§8.2.4, §9.3.2);
 *   - probing from another address, with a new CID and with the same one
 *     (§9.1, §8.2.2, §9.5): answered on that path within 3x, with one of
 *     the client's unused CIDs when it used a new one; then migrating there
 *     moves the server to that CID and retires the old one;
 *   - a client drops datagrams from an unknown server address, a server
 *     those from another address before the handshake is confirmed (§9).
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
#include "xfer.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define SEC 1000000000ULL
#define MS 1000000ULL
#define MAX_PEV 16

typedef struct mig {
  xfer1 x;
  sim_event_fn inner;
  void *inner_arg;
  size_t npev;
  zttp_path pev_path[MAX_PEV];
  int pev_valid[MAX_PEV];
  uint64_t want; /* for received_at_least */
} mig;

static sim_addr A, A2, B, C, D, S, X;

static void addrs(void) {
  sim_addr_v4(&A, 0x0a000001, 5000);  /* the client */
  sim_addr_v4(&A2, 0x0a000001, 6000); /* its NAT's new port */
  sim_addr_v4(&B, 0x0a000002, 5000);  /* a new network */
  sim_addr_v4(&C, 0x0a000003, 5000);  /* a probed one */
  sim_addr_v4(&D, 0x0a000004, 5000);
  sim_addr_v4(&S, 0x0a090909, 443);  /* the server */
  sim_addr_v4(&X, 0x0a060606, 7777); /* an attacker's spoofed source */
}

static void on_event(sim *sm, int side, const zttp_quic_event *ev, void *arg) {
  mig *m = arg;
  if (ev != NULL && side == SIM_SERVER && ev->kind == ZTTP_QUIC_EV_PATH &&
      m->npev < MAX_PEV) {
    m->pev_path[m->npev] = *ev->path;
    m->pev_valid[m->npev] = ev->validated;
    m->npev++;
  }
  m->inner(sm, side, ev, m->inner_arg);
}

static void start(sim *sm, mig *m, uint32_t backend, uint64_t seed,
                  uint64_t size) {
  addrs();
  assert_int_equal(sim_init(sm, backend, ZTTP_TEST_PKI, seed, 10, 0, NULL), 0);
  sm->client_addr = A;
  sm->server_addr = S;
  sm->link[0].bandwidth = sm->link[1].bandwidth = 12500000; /* 100 Mbit/s */
  memset(m, 0, sizeof(*m));
  xfer1_init(&m->x, sm, size);
  m->inner = sm->on_event;
  m->inner_arg = sm->arg;
  sm->on_event = on_event;
  sm->arg = m;
}

static int received_at_least(sim *sm, void *arg) {
  (void)sm;
  const mig *m = arg;
  return m->x.received >= m->want;
}

static int done(sim *sm, void *arg) {
  return xfer1_done(sm, &((mig *)arg)->x);
}

static int remote_is(const zttp_path *p, const sim_addr *a) {
  return p->remote_len == a->len && memcmp(p->remote, a->b, a->len) == 0;
}

/* The server's first two PATH events: it moved to |moved| (not validated
 * yet), then |settled| was validated or fallen back to. */
static void expect_events(const mig *m, const sim_addr *moved,
                          const sim_addr *settled) {
  assert_true(m->npev >= 2);
  assert_true(remote_is(&m->pev_path[0], moved));
  assert_int_equal(m->pev_valid[0], 0);
  assert_true(remote_is(&m->pev_path[1], settled));
  assert_int_equal(m->pev_valid[1], 1);
}

static const zttp_quic_conn_stats *sst(sim *sm) {
  return zttp_quic_conn_get_stats(sm->conn[SIM_SERVER]);
}

static void finish(sim *sm, mig *m, const char *name, zttp_tstamp t0) {
  assert_int_equal(sim_run(sm, done, m, 120 * SEC), 1);
  assert_false(m->x.mismatch);
  assert_int_equal(m->x.received, m->x.size);
  double secs = (double)(sm->now - t0) / 1e9;
  printf("# %s: %llu bytes in %.3f s virtual (%.2f MB/s), %llu migrations, "
         "%llu validated, %llu failed, %llu misrouted datagrams (%llu "
         "bytes)\n",
         name, (unsigned long long)m->x.size, secs,
         (double)m->x.size / secs / 1e6,
         (unsigned long long)sst(sm)->migrations,
         (unsigned long long)sst(sm)->paths_validated,
         (unsigned long long)sst(sm)->paths_failed,
         (unsigned long long)sm->misrouted,
         (unsigned long long)sm->misrouted_bytes);
}

/* A NAT gives the client a new port (or it moves to a new network) in the
 * middle of a 4 MiB download. */
static void rebind(uint32_t backend, const sim_addr *to, int new_host) {
  sim sm;
  mig m;
  start(&sm, &m, backend, 1, 4u << 20);
  zttp_tstamp t0 = sm.now;
  m.want = 1u << 20;
  assert_int_equal(sim_run(&sm, received_at_least, &m, 60 * SEC), 1);
  uint64_t cwnd = sm.conn[SIM_SERVER]->rec.cc.cwnd;
  assert_true(cwnd > zttp_quic_cc_min_window(&sm.conn[SIM_SERVER]->rec.cc));
  sm.client_addr = *to; /* the old address reaches nobody now */
  finish(&sm, &m, new_host ? "new address" : "NAT rebinding", t0);
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  assert_int_equal(sst(&sm)->migrations, 1);
  assert_int_equal(sst(&sm)->paths_validated, 1);
  assert_int_equal(sst(&sm)->paths_failed, 0);
  assert_int_equal(sst(&sm)->cc_resets, new_host ? 1 : 0);
  assert_int_equal(m.npev, 2);
  expect_events(&m, to, to);
  assert_true(remote_is(&s->path, to));
  assert_true(s->validated);
  assert_true(s->have_prev && remote_is(&s->prev_path, &A));
  /* §9.3.3: the old path was challenged (and nobody is there). */
  assert_true(sm.misrouted >= 1);
  /* §9.5: the client kept its CID, so did the server. */
  assert_int_equal(s->dcid_seq, 0);
  assert_int_equal(
      zttp_quic_conn_get_stats(sm.conn[SIM_CLIENT])->dgrams_wrong_path, 0);
  sim_free(&sm);
}

static void test_nat_rebinding(void **state) {
  (void)state;
  addrs();
  rebind(ZTTP_TLS_BORINGSSL, &A2, 0);
}

static void test_new_address(void **state) {
  (void)state;
  addrs();
  rebind(ZTTP_TLS_BORINGSSL, &B, 1);
}

/* §9.3.2: an on-path attacker forwards a copy of a client packet from a
 * spoofed address ahead of the original. */
static void test_spurious_migration(void **state) {
  (void)state;
  sim sm;
  mig m;
  start(&sm, &m, ZTTP_TLS_NULL, 2, 2u << 20);
  zttp_tstamp t0 = sm.now;
  m.want = 512u << 10;
  assert_int_equal(sim_run(&sm, received_at_least, &m, 60 * SEC), 1);
  uint8_t ping = 0x01;
  uint8_t pkt[1500];
  size_t n = qc_test_packet(sm.conn[SIM_CLIENT], pkt, sizeof(pkt),
                            ZTTP_QUIC_SPACE_APP, &ping, 1);
  assert_true(n > 0);
  zttp_path spoofed = sim_path(&X, &S);
  sim_send_path(&sm, SIM_CLIENT, pkt, n, &spoofed); /* wins the race */
  sim_send(&sm, SIM_CLIENT, pkt, n);
  finish(&sm, &m, "spurious migration", t0);
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  assert_int_equal(sst(&sm)->migrations, 2);
  assert_int_equal(sst(&sm)->paths_validated, 0);
  assert_int_equal(sst(&sm)->cc_resets, 0);
  assert_int_equal(m.npev, 2);
  expect_events(&m, &X, &A);
  assert_true(remote_is(&s->path, &A));
  assert_true(s->validated);
  /* §9.3.1: the spoofed address got at most 3x what came from it. */
  assert_true(sm.misrouted >= 1);
  assert_true(sm.misrouted_bytes <= 3 * n);
  sim_free(&sm);
}

static int failed_once(sim *sm, void *arg) {
  (void)arg;
  return sst(sm)->paths_failed >= 1;
}

/* §8.2.4, §9.3.2: the new path never answers. */
static void test_validation_fails(void **state) {
  (void)state;
  sim sm;
  mig m;
  start(&sm, &m, ZTTP_TLS_NULL, 3, 2u << 20);
  zttp_tstamp t0 = sm.now;
  m.want = 512u << 10;
  assert_int_equal(sim_run(&sm, received_at_least, &m, 60 * SEC), 1);
  sm.client_addr = B; /* it sends from B but hears only on A */
  sm.client_deaf = 1;
  sm.client_alt = A;
  zttp_tstamp moved = sm.now;
  assert_int_equal(sim_run(&sm, failed_once, NULL, 30 * SEC), 1);
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  /* §8.2.4: three times the larger of the PTO and kInitialRtt's. */
  assert_true(sm.now - moved >= 3 * SEC);
  assert_true(sm.now - moved <= 4 * SEC);
  expect_events(&m, &B, &A);
  sm.client_addr = A;
  sm.client_deaf = 0;
  sm.client_alt.len = 0;
  finish(&sm, &m, "validation fails", t0);
  assert_true(remote_is(&s->path, &A));
  assert_true(s->validated);
  assert_true(s->state == QC_OPEN);
  sim_free(&sm);
}

/* Server datagrams to the client, captured by the link filter. */
typedef struct capture {
  zttp_quic_cid want; /* a DCID to look for */
  size_t hits;
  size_t len;  /* of the last hit */
  size_t full; /* hits of 1200 bytes */
} capture;

static int capture_filter(sim *sm, int side, uint64_t idx, uint8_t *data,
                          size_t len, void *arg) {
  (void)sm;
  (void)side;
  (void)idx;
  capture *c = arg;
  if (len > 1 + (size_t)c->want.len && (data[0] & 0x80) == 0 &&
      memcmp(data + 1, c->want.data, c->want.len) == 0) {
    c->hits++;
    c->len = len;
    c->full += len == 1200;
  }
  return 0;
}

static int past(sim *sm, void *arg) {
  return sm->now >= *(const zttp_tstamp *)arg;
}

static void run_for(sim *sm, zttp_tstamp d) {
  zttp_tstamp until = sm->now + d;
  assert_true(sim_run(sm, past, &until, d) >= 0);
  if (sm->now < until) {
    sm->now = until;
  }
}

/* A PATH_CHALLENGE from |from| to the server, sent to |cid| (of the
 * server's). Returns the datagram's length. */
static size_t probe(sim *sm, const sim_addr *from, const zttp_quic_cid *cid) {
  zttp_quic_conn *c = sm->conn[SIM_CLIENT];
  zttp_quic_cid keep = c->dcid;
  c->dcid = *cid;
  uint8_t f[9] = {0x1a, 1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t pkt[1500];
  size_t n = qc_test_packet(c, pkt, sizeof(pkt), ZTTP_QUIC_SPACE_APP, f, 9);
  c->dcid = keep;
  assert_true(n > 0);
  zttp_path p = sim_path(from, &S);
  sim_send_path(sm, SIM_CLIENT, pkt, n, &p);
  return n;
}

/* §9.1, §8.2.2, §9.5 */
static void test_probes(void **state) {
  (void)state;
  sim sm;
  mig m;
  start(&sm, &m, ZTTP_TLS_NULL, 4, 1);
  assert_int_equal(sim_run(&sm, done, &m, 10 * SEC), 1);
  run_for(&sm, 200 * MS); /* CIDs exchanged */
  zttp_quic_conn *s = sm.conn[SIM_SERVER];
  zttp_quic_conn *cl = sm.conn[SIM_CLIENT];
  assert_true(cl->num_rcid >= 2);
  zttp_quic_cid fresh =
      cl->rcid[1].cid; /* a server CID the client never used */
  assert_int_equal(cl->rcid[1].seq, 1);
  const qc_cid *u = qc_cids_unused(s);
  assert_non_null(u);
  zttp_quic_cid ucid = u->cid;
  uint64_t useq = u->seq;
  capture cap;
  memset(&cap, 0, sizeof(cap));
  cap.want = ucid;
  sm.link[SIM_SERVER].filter = capture_filter;
  sm.link[SIM_SERVER].filter_arg = &cap;
  sm.client_alt = C;
  /* A small probe from C to a new CID: answered there, on an unused CID
   * of the client's, within 3x the probe, and nothing moves. */
  size_t n = probe(&sm, &C, &fresh);
  run_for(&sm, 100 * MS);
  assert_int_equal(sst(&sm)->path_responses_sent, 1);
  assert_int_equal(cap.hits, 1);
  assert_true(cap.len <= 3 * n);
  assert_int_equal(sst(&sm)->migrations, 0);
  assert_true(remote_is(&s->path, &A));
  assert_int_equal(s->dcid_seq, 0);
  assert_int_equal(sm.misrouted, 0);
  /* The same CID as the current path, from D (reachable too): the answer
   * keeps the CID in use and is expanded to 1200 bytes (the probe is
   * padded to 1200 here, so 3x allows it). */
  sm.client_alt = D;
  memset(&cap, 0, sizeof(cap));
  cap.want = s->dcid;
  {
    zttp_quic_conn *c = sm.conn[SIM_CLIENT];
    uint8_t f[1100];
    memset(f, 0, sizeof(f));
    f[0] = 0x1a;
    uint8_t pkt[1500];
    size_t k =
        qc_test_packet(c, pkt, sizeof(pkt), ZTTP_QUIC_SPACE_APP, f, sizeof(f));
    assert_true(k >= 1100);
    zttp_path p = sim_path(&D, &S);
    sim_send_path(&sm, SIM_CLIENT, pkt, k, &p);
  }
  run_for(&sm, 100 * MS);
  assert_int_equal(sst(&sm)->path_responses_sent, 2);
  assert_int_equal(cap.full, 1);
  assert_int_equal(sm.misrouted, 0);
  assert_int_equal(sst(&sm)->migrations, 0);
  /* Now the client migrates to C with the new CID: the server moves, takes
   * the CID it answered C's probe with, retires the old one, validates C. */
  sm.client_alt.len = 0;
  sm.client_addr = C;
  cl->dcid = fresh;
  cl->dcid_seq = 1;
  uint8_t ping = 0x01;
  uint8_t pkt[1500];
  size_t k =
      qc_test_packet(cl, pkt, sizeof(pkt), ZTTP_QUIC_SPACE_APP, &ping, 1);
  sim_send(&sm, SIM_CLIENT, pkt, k);
  run_for(&sm, 300 * MS);
  assert_int_equal(sst(&sm)->migrations, 1);
  assert_int_equal(sst(&sm)->paths_validated, 1);
  assert_true(remote_is(&s->path, &C));
  assert_true(zttp_quic_cid_eq(&s->dcid, ucid.data, ucid.len));
  assert_int_equal(s->dcid_seq, useq);
  for (size_t i = 0; i < s->num_rcid; i++) {
    assert_true(s->rcid[i].seq != 0); /* retired */
  }
  /* §9.3.3: after a move to a new CID the old path is left alone. */
  assert_false(s->old_probe);
  sim_free(&sm);
}

/* §9: a client hears only its server; a server keeps its client's address
 * during the handshake. */
static int copy_second(sim *sm, int side, uint64_t idx, uint8_t *data,
                       size_t len, void *arg) {
  (void)side;
  (void)arg;
  if (idx == 1) {
    zttp_path p = sim_path(&B, &S);
    sim_send_path(sm, SIM_CLIENT, data, len, &p);
  }
  return 0;
}

static void test_wrong_paths(void **state) {
  (void)state;
  sim sm;
  mig m;
  start(&sm, &m, ZTTP_TLS_NULL, 5, 1);
  sm.link[SIM_CLIENT].filter = copy_second;
  assert_int_equal(sim_run(&sm, done, &m, 10 * SEC), 1);
  sm.link[SIM_CLIENT].filter = NULL;
  run_for(&sm, 200 * MS);
  assert_int_equal(sst(&sm)->dgrams_wrong_path, 1);
  assert_int_equal(sst(&sm)->migrations, 0);
  zttp_quic_conn *cl = sm.conn[SIM_CLIENT];
  assert_true(remote_is(&cl->path, &S));
  uint8_t ping = 0x01;
  uint8_t pkt[1500];
  size_t n = qc_test_packet(sm.conn[SIM_SERVER], pkt, sizeof(pkt),
                            ZTTP_QUIC_SPACE_APP, &ping, 1);
  assert_true(n > 0);
  uint64_t before = zttp_quic_conn_get_stats(cl)->pkts_recv;
  zttp_path p = sim_path(&X, &A);
  sim_send_path(&sm, SIM_SERVER, pkt, n, &p);
  run_for(&sm, 50 * MS);
  assert_int_equal(zttp_quic_conn_get_stats(cl)->dgrams_wrong_path, 1);
  assert_int_equal(zttp_quic_conn_get_stats(cl)->pkts_recv, before);
  sim_send(&sm, SIM_SERVER, pkt, n);
  run_for(&sm, 50 * MS);
  assert_true(zttp_quic_conn_get_stats(cl)->pkts_recv > before);
  sim_free(&sm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nat_rebinding),
      cmocka_unit_test(test_new_address),
      cmocka_unit_test(test_spurious_migration),
      cmocka_unit_test(test_validation_fails),
      cmocka_unit_test(test_probes),
      cmocka_unit_test(test_wrong_paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
