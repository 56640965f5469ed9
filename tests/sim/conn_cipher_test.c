/* The QUIC connection core (src/quic/conn.h) in the in-memory network
 * (sim.h) with each TLS 1.3 suite's real packet protection (RFC 9001 §5):
 * ChaCha20-Poly1305 only and AES-256-GCM only, 1 MiB each way with exact
 * bytes and a key update (RFC 9001 §6) in the middle. The BoringSSL of
 * Debian 12 cannot restrict its suites and picks AES-128-GCM between two
 * BoringSSL endpoints with AES instructions, so these run the null
 * handshake with real packet protection (ZTTP_TLS_NULL_REAL_CRYPTO, which
 * negotiates the suite from both allowed sets). Disjoint sets fail the
 * handshake with CRYPTO_ERROR 0x128 (handshake_failure, RFC 9001 §4.8) on
 * both sides, over the null TLS and over the real TLS (a server whose
 * allowed set excludes BoringSSL's choice).
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "quic/conn_internal.h"
#include "sim.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif

#define SEC 1000000000ULL

static const uint8_t h3_alpn[] = {2, 'h', '3'};

/* Replaces the contexts sim_init() made (and the client it created) with
 * ones allowing |cset| and |sset| (ZTTP_TLS_CIPHER_* bits; 0: all). */
static void setup(sim *sm, uint32_t backend, uint32_t cset, uint32_t sset) {
  assert_int_equal(sim_init(sm, backend, ZTTP_TEST_PKI, 1, 10, 0, NULL), 0);
  zttp_quic_conn_free(sm->conn[SIM_CLIENT]);
  sm->conn[SIM_CLIENT] = NULL;
  for (uint32_t role = 0; role < 2; role++) {
    int side = role == ZTTP_CLIENT ? SIM_CLIENT : SIM_SERVER;
    zttp_tls_settings s;
    memset(&s, 0, sizeof(s));
    s.backend = backend;
    s.alpn = h3_alpn;
    s.alpn_len = sizeof(h3_alpn);
    s.ciphers = side == SIM_CLIENT ? cset : sset;
    if (role == ZTTP_SERVER) {
      s.cert_file = ZTTP_TEST_PKI "/server.pem";
      s.key_file = ZTTP_TEST_PKI "/server.key";
    } else {
      s.ca_file = ZTTP_TEST_PKI "/ca.pem";
    }
    zttp_tls_ctx_unref(sm->ctx[side]);
    sm->ctx[side] = NULL;
    char err[ZTTP_TLS_ERRMSG_MAX];
    int32_t rv = zttp_tls_ctx_new(&sm->ctx[side], sm->mem, &s, role, err);
    if (rv != 0) {
      printf("# tls ctx: %d %s\n", rv, err);
    }
    assert_int_equal(rv, 0);
  }
  zttp_path path;
  memset(&path, 0, sizeof(path));
  assert_int_equal(zttp_quic_conn_new(&sm->conn[SIM_CLIENT], sm->mem,
                                      &sm->settings, ZTTP_CLIENT,
                                      sm->ctx[SIM_CLIENT], sm->server_name,
                                      NULL, &path, sm->now),
                   0);
}

/* ---- transfers -------------------------------------------------------------
 */

static uint8_t pattern(int side, uint64_t off) {
  uint64_t x = off * 2654435761u + (uint64_t)side * 977u;
  return (uint8_t)(x ^ (x >> 13) ^ (off >> 8));
}

typedef struct xfer {
  uint64_t size; /* each way, on stream 0 */
  int hs_done[2];
  int opened;
  int known[2]; /* stream 0 exists on this side */
  uint64_t sent[2];
  int fin_sent[2];
  uint64_t recvd[2];
  int fin_recvd[2];
  size_t mismatch;
  int closed[2];
  zttp_quic_event closed_ev[2];
  int updated; /* the client initiated a key update */
  /* Datagrams seen on the links, and those ending in 16 zero bytes: the
   * identity AEAD's tag, which real protection never produces (2^-128). */
  uint64_t dgrams_seen;
  uint64_t zero_tags;
} xfer;

/* Looks at the datagrams waiting on both links. */
static void watch_links(sim *sm, xfer *x) {
  static const uint8_t zero[ZTTP_CRYPTO_TAG_LEN];
  for (int l = 0; l < 2; l++) {
    const sim_link *lk = &sm->link[l];
    for (size_t i = 0; i < lk->num; i++) {
      const sim_dgram *d = &lk->q[(lk->head + i) % SIM_MAX_QUEUE];
      x->dgrams_seen++;
      x->zero_tags +=
          d->len >= sizeof(zero) &&
          memcmp(d->data + d->len - sizeof(zero), zero, sizeof(zero)) == 0;
    }
  }
}

static void pump_writes(sim *sm, xfer *x, int side) {
  uint8_t buf[16384];
  while (!x->fin_sent[side]) {
    size_t n = sizeof(buf);
    if (x->size - x->sent[side] < n) {
      n = (size_t)(x->size - x->sent[side]);
    }
    for (size_t k = 0; k < n; k++) {
      buf[k] = pattern(side, x->sent[side] + k);
    }
    int fin = x->sent[side] + n == x->size;
    int64_t took = zttp_quic_conn_stream_write(sm->conn[side], 0, buf, n, fin);
    assert_true(took >= 0);
    x->sent[side] += (uint64_t)took;
    if ((size_t)took == n && fin) {
      x->fin_sent[side] = 1;
    }
    if ((size_t)took < n || took == 0) {
      break;
    }
  }
}

static void read_stream(sim *sm, xfer *x, int side) {
  for (;;) {
    const uint8_t *p;
    int fin = 0;
    int64_t n = zttp_quic_conn_stream_peek(sm->conn[side], 0, &p, &fin);
    if (n == ZTTP_ERR_STREAM_NOT_FOUND) {
      return;
    }
    assert_true(n >= 0);
    for (int64_t k = 0; k < n; k++) {
      x->mismatch += p[k] != pattern(1 - side, x->recvd[side] + (uint64_t)k);
    }
    if (n > 0) {
      assert_int_equal(
          zttp_quic_conn_stream_consume(sm->conn[side], 0, (size_t)n), 0);
      x->recvd[side] += (uint64_t)n;
    }
    if (fin) {
      x->fin_recvd[side] = 1;
    }
    if (n == 0 || fin) {
      return;
    }
  }
}

static void on_event(sim *sm, int side, const zttp_quic_event *ev, void *arg) {
  xfer *x = arg;
  if (ev == NULL) {
    if (side == SIM_CLIENT) {
      watch_links(sm, x);
    }
    if (side == SIM_CLIENT && x->hs_done[SIM_CLIENT] && !x->opened) {
      x->opened = 1;
      assert_int_equal(zttp_quic_conn_open_stream(sm->conn[SIM_CLIENT], 1), 0);
      x->known[SIM_CLIENT] = 1;
    }
    /* A key update once half the data arrived: the next phase's keys of
     * the suite ("quic ku", RFC 9001 §6.1; a 48-byte secret for
     * AES-256-GCM-SHA384). Refused until the handshake is confirmed and a
     * packet of this phase was acknowledged: tried again next round. */
    if (side == SIM_CLIENT && !x->updated && x->recvd[side] >= x->size / 2 &&
        zttp_quic_conn_update_keys(sm->conn[side], sm->now) == 0) {
      x->updated = 1;
    }
    if (x->known[side]) {
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
    assert_int_equal(ev->stream_id, 0);
    x->known[side] = 1;
    break;
  case ZTTP_QUIC_EV_STREAM_READABLE:
    read_stream(sm, x, side);
    break;
  case ZTTP_QUIC_EV_CLOSED:
    x->closed[side] = 1;
    x->closed_ev[side] = *ev;
    break;
  default:
    break;
  }
}

static int xfer_done(sim *sm, void *arg) {
  xfer *x = arg;
  (void)sm;
  return x->closed[0] || x->closed[1] ||
         (x->fin_recvd[0] && x->fin_recvd[1] && x->updated);
}

static const char *cipher_name(uint32_t c) {
  return c == ZTTP_CIPHER_AES_128_GCM_SHA256         ? "AES-128-GCM"
         : c == ZTTP_CIPHER_AES_256_GCM_SHA384       ? "AES-256-GCM"
         : c == ZTTP_CIPHER_CHACHA20_POLY1305_SHA256 ? "ChaCha20-Poly1305"
                                                     : "none";
}

/* The suite both sides negotiated and built their keys with. */
static void expect_cipher(sim *sm, uint32_t backend, uint32_t want) {
  uint32_t crypto =
      backend == ZTTP_TLS_NULL ? ZTTP_CRYPTO_NULL : ZTTP_CRYPTO_BORINGSSL;
  for (int side = 0; side < 2; side++) {
    const zttp_quic_conn *qc = sm->conn[side];
    assert_int_equal(zttp_tls_cipher(qc->tls), want);
    assert_int_equal(qc->crypto_backend, crypto);
    assert_int_equal(zttp_tls_crypto_backend(qc->tls), crypto);
    assert_non_null(qc->tx[ZTTP_QUIC_SPACE_APP]);
    assert_non_null(qc->rx[ZTTP_QUIC_SPACE_APP]);
    assert_int_equal(zttp_crypto_keys_cipher(qc->tx[ZTTP_QUIC_SPACE_APP]),
                     want);
    assert_int_equal(zttp_crypto_keys_cipher(qc->rx[ZTTP_QUIC_SPACE_APP]),
                     want);
  }
}

static void transfer(uint32_t backend, uint32_t cset, uint32_t sset,
                     uint64_t size, uint32_t want) {
  sim sm;
  xfer x;
  memset(&x, 0, sizeof(x));
  x.size = size;
  setup(&sm, backend, cset, sset);
  sm.link[0].bandwidth = sm.link[1].bandwidth = 12500000; /* 100 Mbit/s */
  sm.on_event = on_event;
  sm.arg = &x;
  int rv = sim_run(&sm, xfer_done, &x, 600 * SEC);
  if (x.closed[0] || x.closed[1]) {
    printf("# closed: c=%d (err %d code 0x%llx) s=%d (err %d code 0x%llx)\n",
           x.closed[0], x.closed_ev[0].error,
           (unsigned long long)x.closed_ev[0].error_code, x.closed[1],
           x.closed_ev[1].error, (unsigned long long)x.closed_ev[1].error_code);
  }
  assert_int_equal(rv, 1);
  assert_false(x.closed[0] || x.closed[1]);
  assert_int_equal(x.mismatch, 0);
  assert_int_equal(x.recvd[SIM_CLIENT], size);
  assert_int_equal(x.recvd[SIM_SERVER], size);
  assert_true(x.fin_recvd[SIM_CLIENT] && x.fin_recvd[SIM_SERVER]);
  expect_cipher(&sm, backend, want);
  /* On the wire: real protection, or the identity AEAD's zero tags. */
  assert_true(x.dgrams_seen > 100);
  if (backend == ZTTP_TLS_NULL) {
    assert_true(x.zero_tags > 0);
  } else {
    assert_int_equal(x.zero_tags, 0);
  }
  assert_true(zttp_quic_conn_key_updates(sm.conn[SIM_CLIENT]) >= 1);
  assert_true(zttp_quic_conn_key_updates(sm.conn[SIM_SERVER]) >= 1);
  const zttp_quic_conn_stats *c = zttp_quic_conn_get_stats(sm.conn[0]);
  const zttp_quic_conn_stats *s = zttp_quic_conn_get_stats(sm.conn[1]);
  double secs = (double)(sm.now - 1000000000ULL) / 1e9;
  printf("# %s (%s): %llu B each way exact, %.3f s virtual, key phase c=%u "
         "s=%u after %llu/%llu updates; pkts c=%llu s=%llu, dropped c=%llu "
         "s=%llu; datagrams ending in a zero tag: %llu of %llu looked at\n",
         cipher_name(want),
         backend == ZTTP_TLS_NULL ? "null TLS, identity keys"
                                  : "null handshake, real protection",
         (unsigned long long)size, secs,
         (unsigned)zttp_quic_conn_key_phase(sm.conn[0]),
         (unsigned)zttp_quic_conn_key_phase(sm.conn[1]),
         (unsigned long long)zttp_quic_conn_key_updates(sm.conn[0]),
         (unsigned long long)zttp_quic_conn_key_updates(sm.conn[1]),
         (unsigned long long)c->pkts_sent, (unsigned long long)s->pkts_sent,
         (unsigned long long)c->pkts_dropped,
         (unsigned long long)s->pkts_dropped, (unsigned long long)x.zero_tags,
         (unsigned long long)x.dgrams_seen);
  sim_free(&sm);
}

static void test_chacha20_only(void **state) {
  (void)state;
  transfer(ZTTP_TLS_NULL_REAL_CRYPTO, ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256,
           ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256, 1u << 20,
           ZTTP_CIPHER_CHACHA20_POLY1305_SHA256);
}

static void test_aes256_only(void **state) {
  (void)state;
  transfer(ZTTP_TLS_NULL_REAL_CRYPTO, ZTTP_TLS_CIPHER_AES_256_GCM_SHA384,
           ZTTP_TLS_CIPHER_AES_256_GCM_SHA384, 1u << 20,
           ZTTP_CIPHER_AES_256_GCM_SHA384);
}

/* One side restricted is enough: the server picks from the intersection
 * (its preference: AES-256-GCM before ChaCha20). */
static void test_one_side_restricted(void **state) {
  (void)state;
  transfer(ZTTP_TLS_NULL_REAL_CRYPTO, 0,
           ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256, 256u << 10,
           ZTTP_CIPHER_CHACHA20_POLY1305_SHA256);
  transfer(ZTTP_TLS_NULL_REAL_CRYPTO,
           ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256 |
               ZTTP_TLS_CIPHER_AES_256_GCM_SHA384,
           0, 256u << 10, ZTTP_CIPHER_AES_256_GCM_SHA384);
  /* With nothing restricted: AES-128-GCM, real keys. */
  transfer(ZTTP_TLS_NULL_REAL_CRYPTO, 0, 0, 256u << 10,
           ZTTP_CIPHER_AES_128_GCM_SHA256);
}

/* The default null TLS negotiates the same way but keeps identity keys. */
static void test_null_identity_chacha(void **state) {
  (void)state;
  transfer(ZTTP_TLS_NULL, ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256, 0,
           256u << 10, ZTTP_CIPHER_CHACHA20_POLY1305_SHA256);
}

/* ---- no suite in common ----------------------------------------------------
 */

static int both_closed(sim *sm, void *arg) {
  xfer *x = arg;
  (void)sm;
  return x->closed[0] && x->closed[1];
}

/* The handshake fails at the server: it closes with CRYPTO_ERROR 0x128 in
 * an Initial packet (RFC 9001 §4.8), which the client reports as the
 * remote side; neither completes the handshake. */
static void expect_refused(uint32_t backend, uint32_t cset, uint32_t sset,
                           const char *what) {
  sim sm;
  xfer x;
  memset(&x, 0, sizeof(x));
  x.size = 1;
  setup(&sm, backend, cset, sset);
  sm.on_event = on_event;
  sm.arg = &x;
  int rv = sim_run(&sm, both_closed, &x, 60 * SEC);
  assert_int_equal(rv, 1);
  assert_non_null(sm.conn[SIM_SERVER]);
  const zttp_quic_event *s = &x.closed_ev[SIM_SERVER];
  const zttp_quic_event *c = &x.closed_ev[SIM_CLIENT];
  const uint8_t *reason;
  size_t sl = zttp_quic_conn_close_reason(sm.conn[SIM_SERVER], &reason);
  printf("# %s: server closed (err %d, code 0x%llx, remote %d, \"%.*s\"); "
         "client closed (err %d, code 0x%llx, remote %d) after %.1f ms\n",
         what, s->error, (unsigned long long)s->error_code, s->remote, (int)sl,
         (const char *)reason, c->error, (unsigned long long)c->error_code,
         c->remote, (double)(sm.now - 1000000000ULL) / 1e6);
  assert_int_equal(s->error, ZTTP_ERR_TLS_HANDSHAKE);
  assert_int_equal(s->error_code, ZTTP_TLS_ALERT_TO_QUIC(40));
  assert_int_equal(s->error_code, 0x128);
  assert_int_equal(s->remote, 0);
  assert_int_equal(s->app, 0);
  assert_int_equal(c->error, ZTTP_ERR_PROTOCOL);
  assert_int_equal(c->error_code, 0x128);
  assert_int_equal(c->remote, 1);
  assert_int_equal(c->app, 0);
  assert_false(x.hs_done[SIM_CLIENT] || x.hs_done[SIM_SERVER]);
  assert_false(zttp_quic_conn_handshake_complete(sm.conn[SIM_CLIENT]));
  assert_false(zttp_quic_conn_handshake_complete(sm.conn[SIM_SERVER]));
  assert_int_equal(zttp_tls_alert(sm.conn[SIM_SERVER]->tls), 40);
  assert_int_equal(zttp_tls_cipher(sm.conn[SIM_CLIENT]->tls), 0);
  sim_free(&sm);
}

static void test_disjoint_sets(void **state) {
  (void)state;
  expect_refused(
      ZTTP_TLS_NULL_REAL_CRYPTO, ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256,
      ZTTP_TLS_CIPHER_AES_256_GCM_SHA384 | ZTTP_TLS_CIPHER_AES_128_GCM_SHA256,
      "null+real, ChaCha20 vs AES");
  expect_refused(ZTTP_TLS_NULL, ZTTP_TLS_CIPHER_AES_128_GCM_SHA256,
                 ZTTP_TLS_CIPHER_AES_256_GCM_SHA384,
                 "null, AES-128 vs AES-256");
}

static uint32_t bit_of(uint32_t cipher) {
  return cipher == ZTTP_CIPHER_AES_128_GCM_SHA256
             ? ZTTP_TLS_CIPHER_AES_128_GCM_SHA256
         : cipher == ZTTP_CIPHER_AES_256_GCM_SHA384
             ? ZTTP_TLS_CIPHER_AES_256_GCM_SHA384
             : ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256;
}

static int hs_done(sim *sm, void *arg) {
  xfer *x = arg;
  return x->closed[0] || x->closed[1] ||
         (x->hs_done[0] && x->hs_done[1] &&
          zttp_quic_conn_handshake_confirmed(sm->conn[SIM_CLIENT]));
}

/* Real TLS: what BoringSSL picks between two zttp endpoints, then a server
 * whose allowed set excludes it. The server cannot make BoringSSL choose
 * another suite (tls.h), so the handshake fails cleanly with CRYPTO_ERROR
 * 0x128 on both sides. */
static void test_real_tls_excluded(void **state) {
  (void)state;
  sim sm;
  xfer x;
  memset(&x, 0, sizeof(x));
  setup(&sm, ZTTP_TLS_BORINGSSL, 0, 0);
  sm.on_event = on_event;
  sm.arg = &x;
  x.size = 1;
  assert_int_equal(sim_run(&sm, hs_done, &x, 60 * SEC), 1);
  assert_false(x.closed[0] || x.closed[1]);
  uint32_t chosen = zttp_tls_cipher(sm.conn[SIM_CLIENT]->tls);
  assert_true(chosen != 0);
  expect_cipher(&sm, ZTTP_TLS_BORINGSSL, chosen);
  printf("# real TLS: BoringSSL negotiated %s\n", cipher_name(chosen));
  sim_free(&sm);
  uint32_t all = ZTTP_TLS_CIPHER_AES_128_GCM_SHA256 |
                 ZTTP_TLS_CIPHER_AES_256_GCM_SHA384 |
                 ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256;
  expect_refused(ZTTP_TLS_BORINGSSL, 0, all & ~bit_of(chosen),
                 "real TLS, server excludes BoringSSL's choice");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chacha20_only),
      cmocka_unit_test(test_aes256_only),
      cmocka_unit_test(test_one_side_restricted),
      cmocka_unit_test(test_null_identity_chacha),
      cmocka_unit_test(test_disjoint_sets),
      cmocka_unit_test(test_real_tls_excluded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
