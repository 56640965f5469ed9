/* A server endpoint with many connections, built the way a real server uses
 * the endpoint helpers (quic/endpoint.h): every datagram is routed by its
 * Destination Connection ID through a zttp_quic_cid_table filled from each
 * connection's zttp_quic_conn_local_cids(); a datagram that matches no
 * connection is classified statelessly (zttp_quic_ep_classify) and either
 * creates a connection (a client Initial of at least 1200 bytes), draws a
 * Version Negotiation or a Stateless Reset, or is dropped. Clients and junk
 * share one virtual network with a fixed delay.
 *
 * Checked: 16 clients each complete the handshake and a 64 KiB transfer
 * with exact bytes through the routing table (as their DCIDs move from the
 * first Initial's to the server's and to NEW_CONNECTION_ID ones); 2,000 junk
 * datagrams create no connection: unknown versions get a Version
 * Negotiation, unknown short headers a Stateless Reset (with the token the
 * connections derive from the same key), the rest is dropped.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/mem.h"
#include "quic/conn_internal.h"
#include "quic/endpoint.h"
#include "quic/error.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define SEC 1000000000ULL
#define MS 1000000ULL
#define NUM_CLIENTS 16
#define MAX_QUEUE 8192
#define XFER (64 * 1024)
#define JUNK_ID -1 /* the junk source: answers to it are counted only */

typedef struct dgram {
  zttp_tstamp at;
  int to_server;
  int client; /* the client it is from or for; JUNK_ID: junk */
  size_t len;
  uint8_t data[1500];
} dgram;

typedef struct srv_conn {
  zttp_quic_conn *qc;
  int client;            /* who it talks to (the datagrams' source) */
  uint64_t cids_version; /* zttp_quic_conn_local_cids_version at sync */
  zttp_quic_cid routed[ZTTP_QUIC_MAX_ACTIVE_CIDS + 1];
  size_t num_routed;
  int64_t stream;
  uint64_t sent;
} srv_conn;

typedef struct net {
  zttp_tstamp now;
  uint64_t rng;
  dgram *q;
  size_t head, num;
  zttp_tls_ctx *cctx, *sctx;
  zttp_quic_settings s;
  zttp_quic_conn *client[NUM_CLIENTS];
  int64_t cstream[NUM_CLIENTS];
  uint64_t received[NUM_CLIENTS];
  int fin[NUM_CLIENTS];
  int mismatch;
  srv_conn srv[NUM_CLIENTS + 4];
  size_t num_srv;
  zttp_quic_cid_table *table;
  uint8_t reset_key[ZTTP_QUIC_EP_KEY_LEN];
  /* What the endpoint did with unrouted datagrams. */
  uint64_t created, vn_sent, resets_sent, dropped;
} net;

static uint64_t rnd(net *n) {
  n->rng ^= n->rng << 13;
  n->rng ^= n->rng >> 7;
  n->rng ^= n->rng << 17;
  return n->rng;
}

static uint8_t pattern(uint64_t off) {
  return (uint8_t)(off * 7 + (off >> 8));
}

static void push(net *n, int to_server, int client, const uint8_t *d,
                 size_t len) {
  assert_true(n->num < MAX_QUEUE && len <= sizeof(n->q[0].data));
  dgram *g = &n->q[(n->head + n->num++) % MAX_QUEUE];
  g->at = n->now + 10 * MS;
  g->to_server = to_server;
  g->client = client;
  g->len = len;
  memcpy(g->data, d, len);
}

/* Keeps the table in step with the connection's CIDs (added and retired):
 * what a real server does after every call on a connection. */
static void sync_routes(net *n, size_t i) {
  srv_conn *sc = &n->srv[i];
  uint64_t v = zttp_quic_conn_local_cids_version(sc->qc);
  if (v == sc->cids_version && sc->num_routed > 0) {
    return;
  }
  zttp_quic_cid now_cids[ZTTP_QUIC_MAX_ACTIVE_CIDS];
  size_t k =
      zttp_quic_conn_local_cids(sc->qc, now_cids, ZTTP_QUIC_MAX_ACTIVE_CIDS);
  assert_true(k <= ZTTP_QUIC_MAX_ACTIVE_CIDS);
  /* Entry 0 stays: the client's first DCID, until the connection goes. */
  for (size_t r = 1; r < sc->num_routed; r++) {
    (void)zttp_quic_cid_table_remove(n->table, sc->routed[r].data,
                                     sc->routed[r].len);
  }
  sc->num_routed = 1;
  for (size_t c = 0; c < k; c++) {
    assert_int_equal(zttp_quic_cid_table_add(n->table, now_cids[c].data,
                                             now_cids[c].len, sc),
                     0);
    sc->routed[sc->num_routed++] = now_cids[c];
  }
  sc->cids_version = v;
}

static void server_datagram(net *n, const dgram *g) {
  zttp_path path;
  memset(&path, 0, sizeof(path));
  /* Route by DCID: a long header carries its length; a short one has ours
   * (8 bytes). */
  const uint8_t *dcid = NULL;
  size_t dcid_len = 0;
  if (g->len >= 1 + 8 && (g->data[0] & 0x80) == 0) {
    dcid = g->data + 1;
    dcid_len = 8;
  } else if (g->len >= 6 && (g->data[0] & 0x80) != 0 &&
             g->len >= 6 + (size_t)g->data[5]) {
    dcid = g->data + 6;
    dcid_len = g->data[5];
  }
  srv_conn *sc = NULL;
  if (dcid != NULL && dcid_len <= ZTTP_QUIC_MAX_CID_LEN) {
    sc = zttp_quic_cid_table_find(n->table, dcid, dcid_len);
  }
  if (sc != NULL) {
    (void)zttp_quic_conn_recv(sc->qc, g->data, g->len, &path, n->now);
    sync_routes(n, (size_t)(sc - n->srv));
    return;
  }
  zttp_quic_ep_info info;
  uint8_t out[1500];
  switch (zttp_quic_ep_classify(&info, g->data, g->len, 8)) {
  case ZTTP_QUIC_EP_CREATE: {
    assert_true(n->num_srv < sizeof(n->srv) / sizeof(n->srv[0]));
    srv_conn *nc = &n->srv[n->num_srv];
    memset(nc, 0, sizeof(*nc));
    nc->client = g->client;
    nc->stream = -1;
    assert_int_equal(zttp_quic_conn_new(&nc->qc, zttp_mem_default(), &n->s,
                                        ZTTP_SERVER, n->sctx, NULL, &info.hdr,
                                        &path, n->now),
                     0);
    zttp_quic_cid_set(&nc->routed[0], info.dcid, info.dcid_len);
    nc->num_routed = 1;
    assert_int_equal(
        zttp_quic_cid_table_add(n->table, info.dcid, info.dcid_len, nc), 0);
    n->num_srv++;
    n->created++;
    (void)zttp_quic_conn_recv(nc->qc, g->data, g->len, &path, n->now);
    sync_routes(n, n->num_srv - 1);
    return;
  }
  case ZTTP_QUIC_EP_SEND_VN: {
    int64_t len = zttp_quic_ep_vn_build(out, sizeof(out), &info);
    assert_true(len > 0);
    n->vn_sent++;
    push(n, 0, g->client, out, (size_t)len);
    return;
  }
  case ZTTP_QUIC_EP_SEND_RESET: {
    uint8_t token[ZTTP_QUIC_RESET_TOKEN_LEN];
    assert_int_equal(
        zttp_quic_ep_reset_token(token, n->reset_key, info.dcid, info.dcid_len),
        0);
    size_t rl = zttp_quic_ep_reset_len(g->len);
    int64_t len = zttp_quic_ep_reset_build(out, sizeof(out), rl, g->len, token);
    assert_true(len > 0);
    n->resets_sent++;
    push(n, 0, g->client, out, (size_t)len);
    return;
  }
  default:
    n->dropped++;
    return;
  }
}

/* Random junk from an unknown source: garbage, short Initials, unknown
 * versions, short headers for CIDs nobody issued. */
static void send_junk(net *n) {
  uint8_t d[1400];
  size_t len = 1 + rnd(n) % sizeof(d);
  for (size_t i = 0; i < len; i++) {
    d[i] = (uint8_t)rnd(n);
  }
  switch (rnd(n) % 4) {
  case 0: /* a v1 Initial header in a datagram under 1200 bytes */
    if (len >= 7 + 8) {
      d[0] = 0xc0;
      d[1] = d[2] = d[3] = 0;
      d[4] = 1;
      d[5] = 8;
      len = len < 1199 ? len : 1199;
    }
    break;
  case 1: /* an unknown version, padded to 1200 */
    len = 1200;
    d[0] = 0xc0;
    d[1] = 0x0a;
    d[2] = 0x1a;
    d[3] = 0x2a;
    d[4] = 0x3a;
    d[5] = 8;
    d[14] = 8;
    break;
  case 2: /* a short header for an unknown CID */
    d[0] = (uint8_t)(0x40 | (d[0] & 0x3f));
    break;
  default: /* anything */
    break;
  }
  push(n, 1, JUNK_ID, d, len);
}

static void client_app(net *n, int c) {
  zttp_quic_conn *qc = n->client[c];
  if (n->cstream[c] < 0 && zttp_quic_conn_handshake_complete(qc)) {
    int64_t id = zttp_quic_conn_open_stream(qc, 1);
    assert_true(id >= 0);
    static const uint8_t req = 'G';
    assert_int_equal(zttp_quic_conn_stream_write(qc, (uint64_t)id, &req, 1, 1),
                     1);
    n->cstream[c] = id;
  }
  if (n->cstream[c] < 0) {
    return;
  }
  for (;;) {
    const uint8_t *p;
    int fin;
    int64_t got =
        zttp_quic_conn_stream_peek(qc, (uint64_t)n->cstream[c], &p, &fin);
    if (got <= 0) {
      n->fin[c] |= got == 0 && fin;
      return;
    }
    for (int64_t i = 0; i < got; i++) {
      n->mismatch |= p[i] != pattern(n->received[c] + (uint64_t)i);
    }
    n->received[c] += (uint64_t)got;
    n->fin[c] |= fin;
    assert_int_equal(
        zttp_quic_conn_stream_consume(qc, (uint64_t)n->cstream[c], (size_t)got),
        0);
  }
}

static void server_app(srv_conn *sc) {
  zttp_quic_event ev;
  while (zttp_quic_conn_next_event(sc->qc, &ev)) {
    if (ev.kind == ZTTP_QUIC_EV_STREAM_READABLE && sc->stream < 0) {
      sc->stream = (int64_t)ev.stream_id;
      const uint8_t *p;
      int fin;
      int64_t got = zttp_quic_conn_stream_peek(sc->qc, ev.stream_id, &p, &fin);
      if (got > 0) {
        (void)zttp_quic_conn_stream_consume(sc->qc, ev.stream_id, (size_t)got);
      }
    }
  }
  while (sc->stream >= 0 && sc->sent < XFER) {
    uint8_t buf[4096];
    size_t k = XFER - sc->sent < sizeof(buf) ? XFER - sc->sent : sizeof(buf);
    for (size_t i = 0; i < k; i++) {
      buf[i] = pattern(sc->sent + i);
    }
    int64_t took = zttp_quic_conn_stream_write(sc->qc, (uint64_t)sc->stream,
                                               buf, k, sc->sent + k == XFER);
    if (took <= 0) {
      break;
    }
    sc->sent += (uint64_t)took;
  }
}

static void flush(net *n, zttp_quic_conn *qc, int to_server, int client) {
  uint8_t buf[1500];
  zttp_path path;
  int64_t len;
  while ((len = zttp_quic_conn_write(qc, buf, sizeof(buf), &path, n->now)) >
         0) {
    push(n, to_server, client, buf, (size_t)len);
  }
  assert_true(len == 0);
}

static int all_done(const net *n) {
  for (int c = 0; c < NUM_CLIENTS; c++) {
    if (!n->fin[c] || n->received[c] != XFER) {
      return 0;
    }
  }
  return 1;
}

static void test_many_connections_and_junk(void **state) {
  (void)state;
  net *n = calloc(1, sizeof(*n));
  assert_non_null(n);
  n->q = calloc(MAX_QUEUE, sizeof(*n->q));
  assert_non_null(n->q);
  n->now = SEC;
  n->rng = 0x9e3779b97f4a7c15ULL;
  zttp_quic_settings_default(&n->s);
  for (size_t i = 0; i < sizeof(n->reset_key); i++) {
    n->reset_key[i] = (uint8_t)(i * 5 + 1);
  }
  memcpy(n->s.reset_key, n->reset_key, sizeof(n->reset_key));
  static const uint8_t h3[] = {2, 'h', '3'};
  zttp_tls_settings ts;
  memset(&ts, 0, sizeof(ts));
  ts.backend = ZTTP_TLS_NULL;
  ts.alpn = h3;
  ts.alpn_len = sizeof(h3);
  char err[ZTTP_TLS_ERRMSG_MAX];
  assert_int_equal(
      zttp_tls_ctx_new(&n->cctx, zttp_mem_default(), &ts, ZTTP_CLIENT, err), 0);
  assert_int_equal(
      zttp_tls_ctx_new(&n->sctx, zttp_mem_default(), &ts, ZTTP_SERVER, err), 0);
  assert_int_equal(zttp_quic_cid_table_new(&n->table, zttp_mem_default(), 1024),
                   0);
  zttp_path path;
  memset(&path, 0, sizeof(path));
  for (int c = 0; c < NUM_CLIENTS; c++) {
    assert_int_equal(zttp_quic_conn_new(&n->client[c], zttp_mem_default(), NULL,
                                        ZTTP_CLIENT, n->cctx, NULL, NULL, &path,
                                        n->now),
                     0);
    n->cstream[c] = -1;
  }
  uint64_t junk = 0;
  for (int round = 0;
       round < 200000 && !(all_done(n) && junk >= 2000 && n->num == 0);
       round++) {
    for (int c = 0; c < NUM_CLIENTS; c++) {
      client_app(n, c);
      flush(n, n->client[c], 1, c);
    }
    for (size_t i = 0; i < n->num_srv; i++) {
      server_app(&n->srv[i]);
      flush(n, n->srv[i].qc, 0, n->srv[i].client);
    }
    if (junk < 2000) {
      for (int j = 0; j < 20; j++, junk++) {
        send_junk(n);
      }
    }
    /* Deliver what is due, else move the clock to the next event. */
    zttp_tstamp next = ZTTP_TSTAMP_NEVER;
    if (n->num > 0) {
      next = n->q[n->head].at;
    }
    for (int c = 0; c < NUM_CLIENTS; c++) {
      zttp_tstamp t = zttp_quic_conn_next_timeout(n->client[c]);
      next = t < next ? t : next;
    }
    for (size_t i = 0; i < n->num_srv; i++) {
      zttp_tstamp t = zttp_quic_conn_next_timeout(n->srv[i].qc);
      next = t < next ? t : next;
    }
    assert_true(next != ZTTP_TSTAMP_NEVER);
    if (next > n->now) {
      n->now = next;
    }
    while (n->num > 0 && n->q[n->head].at <= n->now) {
      dgram *g = &n->q[n->head];
      if (g->to_server) {
        server_datagram(n, g);
      } else if (g->client != JUNK_ID) {
        (void)zttp_quic_conn_recv(n->client[g->client], g->data, g->len, &path,
                                  n->now);
      }
      n->head = (n->head + 1) % MAX_QUEUE;
      n->num--;
    }
    for (int c = 0; c < NUM_CLIENTS; c++) {
      if (zttp_quic_conn_next_timeout(n->client[c]) <= n->now) {
        assert_int_equal(zttp_quic_conn_handle_timeout(n->client[c], n->now),
                         0);
      }
    }
    for (size_t i = 0; i < n->num_srv; i++) {
      if (zttp_quic_conn_next_timeout(n->srv[i].qc) <= n->now) {
        assert_int_equal(zttp_quic_conn_handle_timeout(n->srv[i].qc, n->now),
                         0);
        sync_routes(n, i);
      }
    }
  }
  assert_true(all_done(n));
  assert_int_equal(n->mismatch, 0);
  /* One connection per client, none for junk. */
  assert_int_equal(n->created, NUM_CLIENTS);
  assert_int_equal(n->num_srv, NUM_CLIENTS);
  assert_true(n->vn_sent > 0);
  assert_true(n->resets_sent > 0);
  assert_int_equal(n->vn_sent + n->resets_sent + n->dropped, junk);
  size_t routes = zttp_quic_cid_table_count(n->table);
  printf("# %d clients x %d KiB through the routing table in %.3f s virtual; "
         "%llu junk datagrams: %llu VN, %llu stateless resets, %llu dropped; "
         "%zu CIDs routed\n",
         NUM_CLIENTS, XFER / 1024, (double)(n->now - SEC) / 1e9,
         (unsigned long long)junk, (unsigned long long)n->vn_sent,
         (unsigned long long)n->resets_sent, (unsigned long long)n->dropped,
         routes);
  /* Every server connection issued CIDs beyond sequence 0 and the client
   * Initial's DCID, and all are routed. */
  assert_true(routes > 2 * NUM_CLIENTS);
  for (int c = 0; c < NUM_CLIENTS; c++) {
    zttp_quic_conn_free(n->client[c]);
  }
  for (size_t i = 0; i < n->num_srv; i++) {
    zttp_quic_conn_free(n->srv[i].qc);
  }
  zttp_quic_cid_table_free(n->table);
  zttp_tls_ctx_unref(n->cctx);
  zttp_tls_ctx_unref(n->sctx);
  free(n->q);
  free(n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_many_connections_and_junk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
