/* The public HTTP/3 server endpoint (zttp_endpoint_*), over the public API
 * only: HTTP/3 clients talk to a server made of an endpoint and the
 * connections it creates, through an in-memory network with a virtual
 * clock. Checked: routing as connection IDs change, Retry, Version
 * Negotiation, Stateless Reset (recognised by a client whose server
 * connection is gone, so the endpoint's key reached the connections),
 * junk that creates nothing, the connection cap, bad tokens, and removal.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h" /* zttp_config_set_tls_backend */
#include "harness.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define MS 1000000ull
#define MAX_CLIENTS 4
#define MAX_CONNS 8
#define BODY "hello over h3\n"

typedef struct net {
  zttp_config *ccfg;
  zttp_config *scfg;
  zttp_endpoint *ep;
  zttp_tstamp now;
  zttp_conn *client[MAX_CLIENTS];
  zttp_path cpath[MAX_CLIENTS]; /* remote = the client's address */
  int responses[MAX_CLIENTS];   /* 200 responses seen */
  int closed[MAX_CLIENTS];
  zttp_path spath;    /* the server as every client sees it */
  int moves;          /* clients may change address (cpath) */
  int misrouted;      /* datagrams to an address no client has now */
  int path_events[2]; /* ZTTP_EVENT_PATH with validated 0 and 1 */
  zttp_path last_path;
  int32_t close_err[MAX_CLIENTS];
  zttp_conn *conns[MAX_CONNS];
  int client_of[MAX_CONNS];
  size_t num_conns;
  int replies;
} net;

static void path_for(zttp_path *p, int client) {
  memset(p, 0, sizeof(*p));
  p->remote_len = 4;
  p->remote[0] = 10;
  p->remote[3] = (uint8_t)(client + 1);
  p->local_len = 4;
  p->local[0] = 127;
  p->local[3] = 1;
}

static void setup(net *n, int real_tls, size_t max_conns, uint32_t flags) {
  memset(n, 0, sizeof(*n));
  n->now = 1000 * MS;
  n->spath.local_len = 4;
  n->spath.local[0] = 10;
  n->spath.remote_len = 4;
  n->spath.remote[0] = 127;
  n->spath.remote[3] = 1;
  assert_int_equal(zttp_config_new(&n->ccfg, NULL), 0);
  assert_int_equal(zttp_config_new(&n->scfg, NULL), 0);
  if (real_tls) {
    assert_int_equal(zttp_config_set_tls_cert_key(n->scfg,
                                                  ZTTP_TEST_PKI "/server.pem",
                                                  ZTTP_TEST_PKI "/server.key"),
                     0);
    assert_int_equal(
        zttp_config_set_tls_ca(n->ccfg, ZTTP_TEST_PKI "/ca.pem", NULL), 0);
    assert_int_equal(zttp_config_set_server_name(n->ccfg, "localhost", 9), 0);
  } else {
    assert_int_equal(zttp_config_set_tls_backend(n->scfg, ZTTP_TLS_NULL), 0);
    assert_int_equal(zttp_config_set_tls_backend(n->ccfg, ZTTP_TLS_NULL), 0);
    assert_int_equal(zttp_config_set_tls_insecure_no_verify(n->ccfg, 1), 0);
  }
  assert_int_equal(zttp_endpoint_new(&n->ep, n->scfg, max_conns, flags), 0);
}

static void add_client(net *n, int i) {
  assert_int_equal(
      zttp_conn_new(&n->client[i], n->ccfg, ZTTP_CLIENT, ZTTP_HTTP3), 0);
  path_for(&n->cpath[i], i);
}

static void teardown(net *n) {
  for (size_t i = 0; i < n->num_conns; i++) {
    if (n->conns[i] != NULL) {
      assert_int_equal(zttp_endpoint_remove(n->ep, n->conns[i]), 0);
      zttp_conn_free(n->conns[i]);
    }
  }
  assert_int_equal(zttp_endpoint_num_connections(n->ep), 0);
  for (int i = 0; i < MAX_CLIENTS; i++) {
    zttp_conn_free(n->client[i]);
  }
  zttp_endpoint_free(n->ep);
  zttp_config_free(n->ccfg);
  zttp_config_free(n->scfg);
}

/* Hands |len| bytes from client |c| to the endpoint; a reply goes back. */
static int32_t to_server(net *n, int c, const uint8_t *data, size_t len) {
  uint8_t reply[1500];
  size_t rlen = 0;
  zttp_conn *conn = NULL;
  zttp_path junk; /* c < 0: a sender that is no client */
  path_for(&junk, MAX_CLIENTS);
  int32_t rv =
      zttp_endpoint_receive(n->ep, &conn, reply, sizeof(reply), &rlen, data,
                            len, c >= 0 ? &n->cpath[c] : &junk, n->now);
  assert_true(rv >= 0);
  if (rv == ZTTP_ENDPOINT_NEW_CONN) {
    assert_true(n->num_conns < MAX_CONNS);
    n->client_of[n->num_conns] = c;
    n->conns[n->num_conns++] = conn;
  } else if (rv == ZTTP_ENDPOINT_REPLY) {
    assert_true(rlen > 0 && rlen <= sizeof(reply));
    n->replies++;
    if (c >= 0 && n->client[c] != NULL) {
      (void)zttp_conn_receive_datagram(n->client[c], reply, rlen, &n->spath,
                                       n->now);
    }
  } else if (rv == ZTTP_ENDPOINT_CONN) {
    assert_non_null(conn);
  } else {
    assert_null(conn);
  }
  return rv;
}

static void server_events(net *n, size_t i) {
  zttp_conn *s = n->conns[i];
  zttp_event ev;
  while (zttp_conn_next_event(s, &ev) == 1) {
    if (ev.kind == ZTTP_EVENT_PATH) {
      n->path_events[ev.u.path.validated != 0]++;
      n->last_path = ev.u.path.path;
    }
    if (ev.kind == ZTTP_EVENT_REQUEST) {
      static const zttp_header h[] = {
          {"content-type", 12, "text/plain", 10, 0, 0}};
      assert_int_equal(
          zttp_conn_send_response(s, ev.stream_id, 200, NULL, 0, h, 1, 0), 0);
      assert_int_equal(
          zttp_conn_send_data(s, ev.stream_id, (const uint8_t *)BODY,
                              sizeof(BODY) - 1, ZTTP_SEND_FLAG_END_STREAM),
          (int64_t)sizeof(BODY) - 1);
    }
  }
}

static void client_events(net *n, int c) {
  zttp_event ev;
  int32_t rv;
  while ((rv = zttp_conn_next_event(n->client[c], &ev)) == 1) {
    if (ev.kind == ZTTP_EVENT_RESPONSE && ev.u.response.status == 200) {
      n->responses[c]++;
    } else if (ev.kind == ZTTP_EVENT_CONNECTION_CLOSED) {
      n->closed[c] = 1;
      n->close_err[c] = ev.u.closed.error;
    }
  }
  if (rv < 0 && !n->closed[c]) {
    n->closed[c] = 1;
    n->close_err[c] = rv;
  }
}

/* One round: every party writes, then the clock moves to the next timer. */
static void round_trip(net *n) {
  uint8_t buf[1500];
  size_t seg;
  zttp_path path;
  for (int c = 0; c < MAX_CLIENTS; c++) {
    if (n->client[c] == NULL) {
      continue;
    }
    client_events(n, c);
    int64_t len;
    while ((len = zttp_conn_write_datagram(n->client[c], &path, &seg, buf,
                                           sizeof(buf), n->now)) > 0) {
      (void)to_server(n, c, buf, (size_t)len);
    }
  }
  for (size_t i = 0; i < n->num_conns; i++) {
    if (n->conns[i] == NULL) {
      continue;
    }
    server_events(n, i);
    int c = n->client_of[i];
    int64_t len;
    while ((len = zttp_conn_write_datagram(n->conns[i], &path, &seg, buf,
                                           sizeof(buf), n->now)) > 0) {
      if (memcmp(path.remote, n->cpath[c].remote, 4) != 0) {
        assert_true(n->moves); /* only after the client moved */
        n->misrouted++;
        continue;
      }
      if (n->client[c] != NULL) {
        (void)zttp_conn_receive_datagram(n->client[c], buf, (size_t)len,
                                         &n->spath, n->now);
      }
    }
    assert_int_equal(zttp_endpoint_update(n->ep, n->conns[i]), 0);
  }
  zttp_tstamp next = n->now + 5 * MS;
  for (int c = 0; c < MAX_CLIENTS; c++) {
    if (n->client[c] != NULL) {
      zttp_tstamp t = zttp_conn_next_timeout(n->client[c]);
      next = t < next ? t : next;
    }
  }
  n->now = next > n->now ? next : n->now + 1;
  for (int c = 0; c < MAX_CLIENTS; c++) {
    if (n->client[c] != NULL &&
        zttp_conn_next_timeout(n->client[c]) <= n->now) {
      (void)zttp_conn_handle_timeout(n->client[c], n->now);
    }
  }
  for (size_t i = 0; i < n->num_conns; i++) {
    if (n->conns[i] != NULL && zttp_conn_next_timeout(n->conns[i]) <= n->now) {
      (void)zttp_conn_handle_timeout(n->conns[i], n->now);
    }
  }
}

/* Client |c| waits for its handshake, asks for / and waits for the 200. */
static void get(net *n, int c) {
  int sent = 0;
  int want = n->responses[c] + 1;
  for (int r = 0; r < 2000 && n->responses[c] < want; r++) {
    round_trip(n);
    if (!sent && !n->closed[c]) {
      int64_t id = zttp_conn_send_request(n->client[c], "GET", 3, "/", 1, NULL,
                                          0, ZTTP_SEND_FLAG_END_STREAM);
      if (id >= 0) {
        sent = 1;
      }
    }
  }
  assert_int_equal(n->responses[c], want);
}

static void test_routing(void **state) {
  (void)state;
  net n;
  setup(&n, 1, MAX_CONNS, 0);
  for (int c = 0; c < 3; c++) {
    add_client(&n, c);
  }
  for (int c = 0; c < 3; c++) {
    get(&n, c);
    get(&n, c); /* again, by then on the connection IDs the server issued */
  }
  const zttp_endpoint_stats *st = zttp_endpoint_get_stats(n.ep);
  assert_int_equal(st->accepted, 3);
  assert_int_equal(st->retries, 0);
  assert_true(st->routed > 6);
  assert_int_equal(zttp_endpoint_num_connections(n.ep), 3);
  printf("# 3 clients, 6 requests: %llu datagrams routed\n",
         (unsigned long long)st->routed);
  teardown(&n);
}

/* RFC 9000 §9 through the public API: the client's address changes
 * between two requests (a NAT rebinding); the server connection reports
 * ZTTP_EVENT_PATH (validated 0, then 1), its datagrams go to the new
 * address, and the second request is answered there. */
static void test_migration(void **state) {
  (void)state;
  net n;
  setup(&n, 1, MAX_CONNS, 0);
  add_client(&n, 0);
  get(&n, 0);
  assert_int_equal(n.path_events[0] + n.path_events[1], 0);
  for (int k = 0; k < 50; k++) {
    round_trip(&n); /* HANDSHAKE_DONE and CIDs settle */
  }
  n.moves = 1;
  n.cpath[0].remote[2] = 9; /* the NAT's new mapping */
  get(&n, 0);
  for (int k = 0; k < 50 && n.path_events[1] == 0; k++) {
    round_trip(&n);
  }
  assert_int_equal(n.responses[0], 2);
  assert_int_equal(n.path_events[0], 1);
  assert_int_equal(n.path_events[1], 1);
  assert_int_equal(n.last_path.remote_len, 4);
  assert_memory_equal(n.last_path.remote, n.cpath[0].remote, 4);
  /* §9.3.3: the old address was challenged once. */
  assert_int_equal(n.misrouted, 1);
  assert_int_equal(zttp_endpoint_num_connections(n.ep), 1);
  teardown(&n);
}

static void test_retry(void **state) {
  (void)state;
  net n;
  setup(&n, 1, MAX_CONNS, ZTTP_ENDPOINT_RETRY);
  add_client(&n, 0);
  get(&n, 0);
  const zttp_endpoint_stats *st = zttp_endpoint_get_stats(n.ep);
  assert_int_equal(st->retries, 1);
  assert_int_equal(st->accepted, 1);
  assert_int_equal(st->bad_tokens, 0);
  teardown(&n);
}

/* A token that does not verify: the Initial is dropped (RFC 9000 §8.1.3),
 * and no connection is created. */
static void test_bad_token(void **state) {
  (void)state;
  net n;
  setup(&n, 0, MAX_CONNS, ZTTP_ENDPOINT_RETRY);
  add_client(&n, 0);
  uint8_t buf[1500];
  size_t seg;
  zttp_path path;
  int64_t len =
      zttp_conn_write_datagram(n.client[0], &path, &seg, buf, sizeof(buf), 0);
  assert_true(len >= 1200);
  uint8_t reply[1500];
  size_t rlen;
  zttp_conn *conn;
  assert_int_equal(zttp_endpoint_receive(n.ep, &conn, reply, sizeof(reply),
                                         &rlen, buf, (size_t)len, &n.cpath[0],
                                         n.now),
                   ZTTP_ENDPOINT_REPLY);
  assert_int_equal(reply[0] & 0xf0, 0xf0); /* a Retry (long, type 3) */
  /* A client Initial with a token field holding a forged Retry token:
   * built by taking the Retry's token and flipping a MAC byte. The
   * simplest carrier is the client itself: give it the Retry, let it
   * answer, and corrupt the token in flight. */
  assert_int_equal(
      zttp_conn_receive_datagram(n.client[0], reply, rlen, &n.spath, n.now), 0);
  len = zttp_conn_write_datagram(n.client[0], &path, &seg, buf, sizeof(buf),
                                 n.now);
  assert_true(len >= 1200);
  /* Long header: flags, version, dcid len + dcid, scid len + scid, token
   * length (1 byte varint < 64 or 2 bytes), token. */
  size_t off = 5;
  off += 1 + buf[off];
  off += 1 + buf[off];
  size_t tlen;
  if ((buf[off] & 0xc0) == 0x40) {
    tlen = ((size_t)(buf[off] & 0x3f) << 8) | buf[off + 1];
    off += 2;
  } else {
    tlen = buf[off] & 0x3f;
    off += 1;
  }
  assert_true(tlen > 40);
  buf[off + tlen - 1] ^= 1; /* the MAC's last byte */
  assert_int_equal(zttp_endpoint_receive(n.ep, &conn, reply, sizeof(reply),
                                         &rlen, buf, (size_t)len, &n.cpath[0],
                                         n.now),
                   ZTTP_ENDPOINT_DROP);
  assert_int_equal(zttp_endpoint_get_stats(n.ep)->bad_tokens, 1);
  assert_int_equal(zttp_endpoint_num_connections(n.ep), 0);
  teardown(&n);
}

/* What belongs to no connection creates none. */
static void test_junk(void **state) {
  (void)state;
  net n;
  setup(&n, 0, MAX_CONNS, 0);
  uint8_t d[1300];
  /* Nothing at all, one byte, a short Initial: dropped. */
  assert_int_equal(to_server(&n, -1, d, 0), ZTTP_ENDPOINT_DROP);
  d[0] = 0x40;
  assert_int_equal(to_server(&n, -1, d, 1), ZTTP_ENDPOINT_DROP);
  memset(d, 0, sizeof(d));
  d[0] = 0xc0;
  d[4] = 1; /* v1 */
  d[5] = 8;
  d[14] = 0;
  assert_int_equal(to_server(&n, -1, d, 1000), ZTTP_ENDPOINT_DROP);
  /* An unknown version in 1200 bytes: Version Negotiation. */
  d[1] = 0x0a;
  d[2] = 0x1a;
  d[3] = 0x2a;
  d[4] = 0x3a;
  assert_int_equal(to_server(&n, -1, d, 1200), ZTTP_ENDPOINT_REPLY);
  /* A short header for no connection: a Stateless Reset, shorter than the
   * trigger (RFC 9000 §10.3.3). */
  d[0] = 0x41;
  assert_int_equal(to_server(&n, -1, d, 100), ZTTP_ENDPOINT_REPLY);
  const zttp_endpoint_stats *st = zttp_endpoint_get_stats(n.ep);
  assert_int_equal(st->version_negotiations, 1);
  assert_int_equal(st->stateless_resets, 1);
  assert_int_equal(st->accepted, 0);
  assert_int_equal(zttp_endpoint_num_connections(n.ep), 0);
  /* A reply buffer too small is an error, not a truncated packet. */
  uint8_t small[8];
  size_t rlen;
  zttp_conn *conn;
  assert_true(zttp_endpoint_receive(n.ep, &conn, small, sizeof(small), &rlen, d,
                                    100, &n.cpath[0], n.now) < 0);
  teardown(&n);
}

/* Once a connection is gone, its client's next datagram draws a Stateless
 * Reset that the client recognises: the endpoint's reset key is the one
 * the connection's tokens were made with (RFC 9000 §10.3). */
static void test_stateless_reset(void **state) {
  (void)state;
  net n;
  setup(&n, 0, MAX_CONNS, 0);
  add_client(&n, 0);
  get(&n, 0);
  for (int r = 0; r < 20; r++) {
    round_trip(&n); /* the issued connection IDs are in use */
  }
  assert_int_equal(zttp_endpoint_remove(n.ep, n.conns[0]), 0);
  zttp_conn_free(n.conns[0]);
  n.conns[0] = NULL;
  (void)zttp_conn_send_request(n.client[0], "GET", 3, "/", 1, NULL, 0,
                               ZTTP_SEND_FLAG_END_STREAM);
  for (int r = 0; r < 50 && !n.closed[0]; r++) {
    round_trip(&n);
  }
  assert_true(n.closed[0]);
  assert_int_equal(zttp_endpoint_get_stats(n.ep)->stateless_resets, 1);
  teardown(&n);
}

/* Past max_connections, new clients are dropped. */
static void test_cap(void **state) {
  (void)state;
  net n;
  setup(&n, 0, 1, 0);
  add_client(&n, 0);
  add_client(&n, 1);
  get(&n, 0);
  for (int r = 0; r < 20; r++) {
    round_trip(&n);
  }
  assert_int_equal(n.responses[1], 0);
  assert_int_equal(zttp_endpoint_num_connections(n.ep), 1);
  assert_true(zttp_endpoint_get_stats(n.ep)->refused >= 1);
  teardown(&n);
}

static void test_args(void **state) {
  (void)state;
  zttp_endpoint *ep = NULL;
  zttp_config *cfg;
  assert_int_equal(zttp_config_new(&cfg, NULL), 0);
  assert_int_equal(zttp_config_set_tls_backend(cfg, ZTTP_TLS_NULL), 0);
  assert_int_equal(zttp_endpoint_new(&ep, NULL, 1, 0),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_endpoint_new(&ep, cfg, 0, 0),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_endpoint_new(&ep, cfg, 1, 0x80),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_null(ep);
  assert_int_equal(zttp_endpoint_new(&ep, cfg, 1, 0), 0);
  static const uint8_t k[32] = {1};
  assert_int_equal(zttp_endpoint_set_keys(ep, k, k), 0);
  assert_int_equal(zttp_endpoint_set_keys(ep, NULL, k),
                   ZTTP_ERR_INVALID_ARGUMENT);
  zttp_conn *other;
  assert_int_equal(zttp_conn_new(&other, cfg, ZTTP_SERVER, ZTTP_HTTP3), 0);
  assert_int_equal(zttp_endpoint_remove(ep, other), ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_endpoint_update(ep, other), ZTTP_ERR_INVALID_ARGUMENT);
  zttp_conn_free(other);
  zttp_endpoint_free(ep);
  zttp_endpoint_free(NULL);
  zttp_config_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_routing), cmocka_unit_test(test_migration),
      cmocka_unit_test(test_retry),   cmocka_unit_test(test_bad_token),
      cmocka_unit_test(test_junk),    cmocka_unit_test(test_stateless_reset),
      cmocka_unit_test(test_cap),     cmocka_unit_test(test_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
