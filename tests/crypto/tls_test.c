/* The TLS handshake driver (src/crypto/tls.h): a client and a server session
 * in memory, handshake bytes moved level by level, over BoringSSL and over
 * the null TLS. Certificates come from the committed test PKI
 * (tests/crypto/pki/README.md), never from the openssl CLI.
 * SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/tls.h"
#include "engine.h"
#include "harness.h"

#ifndef ZTTP_TEST_PKI
#error "ZTTP_TEST_PKI must name tests/crypto/pki"
#endif
#define PKI(name) ZTTP_TEST_PKI "/" name

static const uint8_t h3_alpn[] = {2, 'h', '3'};
static const uint8_t client_tp[] = "client transport parameters";
static const uint8_t server_tp[] = "server transport parameters, longer";

/* ---- helpers ------------------------------------------------------------ */

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t *buf = malloc(65536);
  assert_non_null(buf);
  *len = fread(buf, 1, 65536, f);
  fclose(f);
  return buf;
}

/* Default settings: the test CA, localhost's certificate, ALPN "h3". */
static void settings_init(zttp_tls_settings *s) {
  memset(s, 0, sizeof(*s));
  s->backend = ZTTP_TLS_BORINGSSL;
  s->cert_file = PKI("server.pem");
  s->key_file = PKI("server.key");
  s->ca_file = PKI("ca.pem");
  s->alpn = h3_alpn;
  s->alpn_len = sizeof(h3_alpn);
}

static zttp_tls_ctx *ctx_new(const zttp_tls_settings *s, uint32_t role) {
  zttp_tls_ctx *ctx = NULL;
  char err[ZTTP_TLS_ERRMSG_MAX];
  int32_t rv = zttp_tls_ctx_new(&ctx, zttp_mem_default(), s, role, err);
  if (rv != 0) {
    print_error("zttp_tls_ctx_new: %d %s\n", rv, err);
  }
  assert_int_equal(rv, 0);
  return ctx;
}

/* One side of a connection and what it produced. */
typedef struct side {
  zttp_tls *tls;
  char name; /* 'C' or 'S' */
  zttp_tls_secret secrets[16];
  size_t num_secrets;
  char order[128]; /* "W2 R2 W3 ..." */
  int32_t last;    /* the last handshake result */
} side;

typedef struct pair {
  side c;
  side s;
  char flights[256]; /* "C:I S:I S:H C:H ..." */
} pair;

static void side_init(side *sd, char name, zttp_tls_ctx *ctx,
                      const char *server_name, const uint8_t *tp,
                      size_t tp_len) {
  memset(sd, 0, sizeof(*sd));
  sd->name = name;
  char err[ZTTP_TLS_ERRMSG_MAX];
  int32_t rv = zttp_tls_new(&sd->tls, ctx, zttp_mem_default(), server_name,
                            server_name != NULL ? strlen(server_name) : 0, tp,
                            tp_len, err);
  if (rv != 0) {
    print_error("zttp_tls_new: %d %s\n", rv, err);
  }
  assert_int_equal(rv, 0);
}

static void pair_init(pair *p, zttp_tls_ctx *cctx, zttp_tls_ctx *sctx,
                      const char *server_name) {
  memset(p, 0, sizeof(*p));
  side_init(&p->c, 'C', cctx, server_name, client_tp, sizeof(client_tp));
  side_init(&p->s, 'S', sctx, NULL, server_tp, sizeof(server_tp));
}

static void pair_free(pair *p) {
  zttp_tls_free(p->c.tls);
  zttp_tls_free(p->s.tls);
}

static void take_secrets(side *sd) {
  zttp_tls_secret s;
  while (zttp_tls_next_secret(sd->tls, &s)) {
    assert_true(sd->num_secrets < 16);
    sd->secrets[sd->num_secrets++] = s;
    size_t n = strlen(sd->order);
    snprintf(sd->order + n, sizeof(sd->order) - n, "%s%c%u", n != 0 ? " " : "",
             s.dir == ZTTP_TLS_WRITE ? 'W' : 'R', (unsigned)s.level);
  }
}

static void step(side *sd) {
  sd->last = zttp_tls_handshake(sd->tls);
  take_secrets(sd);
}

static const char level_char[] = {'I', 'E', 'H', 'A'};

/* Moves |from|'s pending output, level by level, to |to| and advances |to|
 * after each level (TLS reads one level at a time). Returns 1 if anything
 * moved. */
static int transfer(pair *p, side *from, side *to) {
  int moved = 0;
  for (uint32_t level = 0; level < ZTTP_TLS_NUM_LEVELS; level++) {
    const uint8_t *data;
    size_t n = zttp_tls_pending(from->tls, level, &data);
    if (n == 0) {
      continue;
    }
    size_t f = strlen(p->flights);
    snprintf(p->flights + f, sizeof(p->flights) - f, "%s%c:%c",
             f != 0 ? " " : "", from->name, level_char[level]);
    int32_t rv = zttp_tls_provide(to->tls, level, data, n);
    zttp_tls_consume(from->tls, level, n);
    moved = 1;
    if (rv != 0) {
      to->last = rv;
      return moved;
    }
    step(to);
    if (to->last < 0) {
      return moved;
    }
  }
  return moved;
}

/* Runs the handshake to its end (or a failure). Returns 1 when both sides
 * completed. */
static int pump(pair *p) {
  step(&p->c);
  for (int i = 0; i < 10; i++) {
    if (p->c.last < 0 || p->s.last < 0) {
      return 0;
    }
    int moved = transfer(p, &p->c, &p->s);
    if (p->s.last < 0) {
      return 0;
    }
    moved |= transfer(p, &p->s, &p->c);
    if (!moved) {
      break;
    }
  }
  return p->c.last == 1 && p->s.last == 1;
}

static const zttp_tls_secret *find_secret(const side *sd, uint32_t dir,
                                          uint32_t level) {
  for (size_t i = 0; i < sd->num_secrets; i++) {
    if (sd->secrets[i].dir == dir && sd->secrets[i].level == level) {
      return &sd->secrets[i];
    }
  }
  return NULL;
}

static void expect_same_secret(const side *w, const side *r, uint32_t level) {
  const zttp_tls_secret *a = find_secret(w, ZTTP_TLS_WRITE, level);
  const zttp_tls_secret *b = find_secret(r, ZTTP_TLS_READ, level);
  if (a == NULL || b == NULL) {
    print_error("no secret at level %u\n", (unsigned)level);
    fail();
    return;
  }
  assert_int_equal(a->cipher, b->cipher);
  assert_int_equal(a->len, b->len);
  assert_memory_equal(a->secret, b->secret, a->len);
}

static void expect_str(const uint8_t *p, size_t n, const char *want) {
  assert_int_equal(n, strlen(want));
  assert_memory_equal(p, want, n);
}

/* Runs a handshake between fresh contexts made from |cs| and |ss|. */
static void run(pair *p, const zttp_tls_settings *cs,
                const zttp_tls_settings *ss, const char *server_name) {
  zttp_tls_ctx *cctx = ctx_new(cs, ZTTP_CLIENT);
  zttp_tls_ctx *sctx = ctx_new(ss, ZTTP_SERVER);
  pair_init(p, cctx, sctx, server_name);
  /* The sessions hold their own references. */
  zttp_tls_ctx_unref(cctx);
  zttp_tls_ctx_unref(sctx);
  pump(p);
}

/* The client failed with |alert| and a message containing |text|. */
static void expect_client_failed(pair *p, int alert, const char *text) {
  assert_int_equal(p->c.last, ZTTP_ERR_TLS_HANDSHAKE);
  assert_int_equal(zttp_tls_alert(p->c.tls), alert);
  const char *m = zttp_tls_error_message(p->c.tls);
  if (strstr(m, text) == NULL) {
    print_error("message \"%s\" lacks \"%s\"\n", m, text);
    fail();
  }
  /* Sticky. */
  assert_int_equal(zttp_tls_handshake(p->c.tls), ZTTP_ERR_TLS_HANDSHAKE);
  assert_int_equal(zttp_tls_provide(p->c.tls, 0, (const uint8_t *)"x", 1),
                   ZTTP_ERR_TLS_HANDSHAKE);
}

/* ---- the handshake ------------------------------------------------------ */

static void check_full_handshake(pair *p, uint32_t backend) {
  assert_int_equal(p->c.last, 1);
  assert_int_equal(p->s.last, 1);
  assert_true(zttp_tls_is_complete(p->c.tls));
  assert_true(zttp_tls_is_complete(p->s.tls));
  /* RFC 9001 §4.1.4: the client's Initial flight, the server's Initial and
   * Handshake flights, the client's Handshake flight. A BoringSSL server
   * then sends its NewSessionTickets at APPLICATION level. */
  if (backend == ZTTP_TLS_BORINGSSL) {
    assert_string_equal(p->flights, "C:I S:I S:H C:H S:A");
  } else {
    assert_string_equal(p->flights, "C:I S:I S:H C:H");
  }
  /* BoringSSL's order (the null TLS copies it): the keys that write ACKs
   * for a level come before the keys that read it. The server installs
   * 1-RTT write (half-RTT) with its flight, and HANDSHAKE read only then,
   * to read the client's Finished. */
  assert_string_equal(p->c.order, "W2 R2 W3 R3");
  assert_string_equal(p->s.order, "W2 W3 R2 R3");
  expect_same_secret(&p->c, &p->s, ZTTP_TLS_LEVEL_HANDSHAKE);
  expect_same_secret(&p->s, &p->c, ZTTP_TLS_LEVEL_HANDSHAKE);
  expect_same_secret(&p->c, &p->s, ZTTP_TLS_LEVEL_APPLICATION);
  expect_same_secret(&p->s, &p->c, ZTTP_TLS_LEVEL_APPLICATION);
  /* One suite for every secret; directions and levels differ. */
  for (size_t i = 0; i < p->c.num_secrets; i++) {
    assert_int_equal(p->c.secrets[i].cipher, p->c.secrets[0].cipher);
    assert_int_equal(
        p->c.secrets[i].len,
        p->c.secrets[i].cipher == ZTTP_CIPHER_AES_256_GCM_SHA384 ? 48 : 32);
  }
  if (backend == ZTTP_TLS_BORINGSSL) {
    assert_memory_not_equal(p->c.secrets[0].secret, p->c.secrets[1].secret, 32);
  }
  const uint8_t *b;
  size_t n = zttp_tls_alpn(p->c.tls, &b);
  expect_str(b, n, "h3");
  n = zttp_tls_alpn(p->s.tls, &b);
  expect_str(b, n, "h3");
  n = zttp_tls_peer_transport_params(p->c.tls, &b);
  assert_int_equal(n, sizeof(server_tp));
  assert_memory_equal(b, server_tp, n);
  n = zttp_tls_peer_transport_params(p->s.tls, &b);
  assert_int_equal(n, sizeof(client_tp));
  assert_memory_equal(b, client_tp, n);
  assert_int_equal(zttp_tls_alert(p->c.tls), -1);
  assert_int_equal(zttp_tls_alert(p->s.tls), -1);
  assert_string_equal(zttp_tls_error_message(p->c.tls), "");
  uint32_t crypto =
      backend == ZTTP_TLS_NULL ? ZTTP_CRYPTO_NULL : ZTTP_CRYPTO_BORINGSSL;
  assert_int_equal(zttp_tls_crypto_backend(p->c.tls), crypto);
  assert_int_equal(zttp_tls_crypto_backend(p->s.tls), crypto);
  /* Nothing left to send or take. */
  for (uint32_t level = 0; level < ZTTP_TLS_NUM_LEVELS; level++) {
    assert_int_equal(zttp_tls_pending(p->c.tls, level, &b), 0);
    assert_int_equal(zttp_tls_pending(p->s.tls, level, &b), 0);
  }
  zttp_tls_secret s;
  assert_int_equal(zttp_tls_next_secret(p->c.tls, &s), 0);
}

static void test_handshake(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  pair p;
  run(&p, &s, &s, "localhost");
  check_full_handshake(&p, ZTTP_TLS_BORINGSSL);
  assert_false(zttp_tls_session_reused(p.c.tls));
  /* SNI. */
  const char *name;
  assert_int_equal(zttp_tls_server_name(p.s.tls, &name), 9);
  assert_string_equal(name, "localhost");
  assert_int_equal(zttp_tls_server_name(p.c.tls, &name), 0);
  assert_null(name);
  pair_free(&p);
}

/* Every handshake byte handed over one at a time. */
static void test_byte_by_byte(void **state) {
  (void)state;
  zttp_tls_settings s;
  for (uint32_t backend = 0; backend < 2; backend++) {
    settings_init(&s);
    s.backend = backend;
    zttp_tls_ctx *cctx = ctx_new(&s, ZTTP_CLIENT);
    zttp_tls_ctx *sctx = ctx_new(&s, ZTTP_SERVER);
    pair p;
    pair_init(&p, cctx, sctx, "localhost");
    side *from = &p.c;
    side *to = &p.s;
    step(from);
    for (int round = 0; round < 8; round++) {
      for (uint32_t level = 0; level < ZTTP_TLS_NUM_LEVELS; level++) {
        const uint8_t *data;
        size_t n = zttp_tls_pending(from->tls, level, &data);
        if (n == 0) {
          continue;
        }
        uint8_t *copy = malloc(n);
        memcpy(copy, data, n);
        zttp_tls_consume(from->tls, level, n);
        for (size_t i = 0; i < n; i++) {
          assert_int_equal(zttp_tls_provide(to->tls, level, copy + i, 1), 0);
          step(to);
          assert_true(to->last >= 0);
        }
        free(copy);
      }
      side *t = from;
      from = to;
      to = t;
    }
    assert_int_equal(p.c.last, 1);
    assert_int_equal(p.s.last, 1);
    expect_same_secret(&p.c, &p.s, ZTTP_TLS_LEVEL_APPLICATION);
    pair_free(&p);
    zttp_tls_ctx_unref(cctx);
    zttp_tls_ctx_unref(sctx);
  }
}

/* ---- verification ------------------------------------------------------- */

static void test_verify_ca_dir(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  s.ca_file = NULL;
  s.ca_dir = PKI("cadir");
  pair p;
  run(&p, &s, &s, "localhost");
  assert_int_equal(p.c.last, 1);
  pair_free(&p);
}

static void test_verify_ip(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  pair p;
  run(&p, &s, &s, "127.0.0.1");
  assert_int_equal(p.c.last, 1);
  /* RFC 6066 §3: no IP literal in SNI. */
  const char *name;
  assert_int_equal(zttp_tls_server_name(p.s.tls, &name), 0);
  pair_free(&p);
  run(&p, &s, &s, "127.0.0.2");
  expect_client_failed(&p, 42, "IP address mismatch");
  pair_free(&p);
}

/* No CA: the system store does not know the test CA. */
static void test_verify_unknown_ca(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  zttp_tls_settings cs = s;
  cs.ca_file = NULL;
  pair p;
  run(&p, &cs, &s, "localhost");
  expect_client_failed(&p, 48, "unable to get local issuer certificate");
  /* The server is still waiting: the transport tells it with a
   * CONNECTION_CLOSE carrying 0x100 + 48. */
  assert_int_equal(p.s.last, 0);
  assert_int_equal(ZTTP_TLS_ALERT_TO_QUIC(zttp_tls_alert(p.c.tls)), 0x130);
  pair_free(&p);
}

static void test_verify_wrong_name(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  pair p;
  run(&p, &s, &s, "example.com");
  expect_client_failed(&p, 42, "Hostname mismatch");
  pair_free(&p);
  /* A valid certificate for another name. */
  zttp_tls_settings ss = s;
  ss.cert_file = PKI("other.pem");
  run(&p, &s, &ss, "localhost");
  expect_client_failed(&p, 42, "Hostname mismatch");
  pair_free(&p);
  run(&p, &s, &ss, "example.com");
  assert_int_equal(p.c.last, 1);
  pair_free(&p);
}

static void test_verify_expired(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  zttp_tls_settings ss = s;
  ss.cert_file = PKI("expired.pem");
  pair p;
  run(&p, &s, &ss, "localhost");
  expect_client_failed(&p, 45, "certificate has expired");
  pair_free(&p);
}

/* insecure_no_verify accepts everything the tests above refuse, with or
 * without a server name. */
static void test_insecure(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  zttp_tls_settings cs = s;
  cs.ca_file = NULL;
  cs.insecure_no_verify = 1;
  static const char *const certs[] = {"server.pem", "other.pem", "expired.pem"};
  static const char *const names[] = {"localhost", "example.com", "127.0.0.2",
                                      NULL};
  char path[512];
  for (size_t i = 0; i < 3; i++) {
    for (size_t j = 0; j < 4; j++) {
      zttp_tls_settings ss = s;
      snprintf(path, sizeof(path), "%s/%s", ZTTP_TEST_PKI, certs[i]);
      ss.cert_file = path;
      pair p;
      run(&p, &cs, &ss, names[j]);
      assert_int_equal(p.c.last, 1);
      assert_int_equal(p.s.last, 1);
      pair_free(&p);
    }
  }
}

/* A verifying client needs a name to verify against. */
static void test_verify_needs_name(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  zttp_tls_ctx *ctx = ctx_new(&s, ZTTP_CLIENT);
  zttp_tls *tls = NULL;
  char err[ZTTP_TLS_ERRMSG_MAX];
  assert_int_equal(zttp_tls_new(&tls, ctx, zttp_mem_default(), NULL, 0,
                                client_tp, sizeof(client_tp), err),
                   ZTTP_ERR_TLS_CONFIG);
  assert_null(tls);
  assert_non_null(strstr(err, "server name"));
  assert_int_equal(zttp_tls_new(&tls, ctx, zttp_mem_default(), "a\0b", 3,
                                client_tp, sizeof(client_tp), err),
                   ZTTP_ERR_INVALID_ARGUMENT);
  /* QUIC always has transport parameters. */
  assert_int_equal(
      zttp_tls_new(&tls, ctx, zttp_mem_default(), "localhost", 9, NULL, 0, err),
      ZTTP_ERR_INVALID_ARGUMENT);
  zttp_tls_ctx_unref(ctx);
}

/* ---- ALPN --------------------------------------------------------------- */

static void test_alpn_mismatch(void **state) {
  (void)state;
  static const uint8_t other[] = {5, 'h', '3', '-', '2', '9'};
  for (uint32_t backend = 0; backend < 2; backend++) {
    zttp_tls_settings s;
    settings_init(&s);
    s.backend = backend;
    zttp_tls_settings cs = s;
    cs.alpn = other;
    cs.alpn_len = sizeof(other);
    pair p;
    run(&p, &cs, &s, "localhost");
    /* RFC 9001 §8.1: the server closes with no_application_protocol. */
    assert_int_equal(p.s.last, ZTTP_ERR_TLS_HANDSHAKE);
    assert_int_equal(zttp_tls_alert(p.s.tls), 120);
    assert_int_equal(ZTTP_TLS_ALERT_TO_QUIC(120), 0x178);
    assert_non_null(strstr(zttp_tls_error_message(p.s.tls), "ALPN"));
    assert_int_equal(p.c.last, 0);
    pair_free(&p);
  }
}

/* The server's preference decides (RFC 7301 §3.2). */
static void test_alpn_server_preference(void **state) {
  (void)state;
  static const uint8_t client_list[] = {1, 'a', 2, 'b', 'b', 2, 'h', '3'};
  static const uint8_t server_list[] = {1, 'z', 2, 'b', 'b', 1, 'a'};
  for (uint32_t backend = 0; backend < 2; backend++) {
    zttp_tls_settings s;
    settings_init(&s);
    s.backend = backend;
    zttp_tls_settings cs = s;
    cs.alpn = client_list;
    cs.alpn_len = sizeof(client_list);
    zttp_tls_settings ss = s;
    ss.alpn = server_list;
    ss.alpn_len = sizeof(server_list);
    pair p;
    run(&p, &cs, &ss, "localhost");
    assert_int_equal(p.c.last, 1);
    const uint8_t *b;
    size_t n = zttp_tls_alpn(p.c.tls, &b);
    expect_str(b, n, "bb");
    n = zttp_tls_alpn(p.s.tls, &b);
    expect_str(b, n, "bb");
    pair_free(&p);
  }
}

/* ---- certificates and keys ---------------------------------------------- */

static void test_pem_in_memory(void **state) {
  (void)state;
  size_t cert_len;
  size_t key_len;
  uint8_t *cert = read_file(PKI("server.pem"), &cert_len);
  uint8_t *key = read_file(PKI("server.key"), &key_len);
  zttp_tls_settings s;
  settings_init(&s);
  zttp_tls_settings ss = s;
  ss.cert_file = ss.key_file = NULL;
  ss.cert_pem = cert;
  ss.cert_pem_len = cert_len;
  ss.key_pem = key;
  ss.key_pem_len = key_len;
  pair p;
  run(&p, &s, &ss, "localhost");
  assert_int_equal(p.c.last, 1);
  assert_int_equal(p.s.last, 1);
  pair_free(&p);
  /* A chain in memory: the leaf, then the CA (sent, harmless). */
  size_t ca_len;
  uint8_t *ca = read_file(PKI("ca.pem"), &ca_len);
  uint8_t *chain = malloc(cert_len + ca_len);
  memcpy(chain, cert, cert_len);
  memcpy(chain + cert_len, ca, ca_len);
  ss.cert_pem = chain;
  ss.cert_pem_len = cert_len + ca_len;
  run(&p, &s, &ss, "localhost");
  assert_int_equal(p.c.last, 1);
  pair_free(&p);
  free(chain);
  free(ca);
  free(cert);
  free(key);
}

static void expect_config_error(const zttp_tls_settings *s, uint32_t role,
                                const char *text) {
  zttp_tls_ctx *ctx = NULL;
  char err[ZTTP_TLS_ERRMSG_MAX];
  assert_int_equal(zttp_tls_ctx_new(&ctx, zttp_mem_default(), s, role, err),
                   ZTTP_ERR_TLS_CONFIG);
  assert_null(ctx);
  if (strstr(err, text) == NULL) {
    print_error("message \"%s\" lacks \"%s\"\n", err, text);
    fail();
  }
}

static void test_config_errors(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  zttp_tls_settings t = s;
  t.cert_file = PKI("missing.pem");
  expect_config_error(&t, ZTTP_SERVER, "missing.pem: No such file");
  t = s;
  t.key_file = PKI("missing.key");
  expect_config_error(&t, ZTTP_SERVER, "missing.key: No such file");
  t = s;
  t.cert_file = PKI("README.md"); /* no PEM in it */
  expect_config_error(&t, ZTTP_SERVER, "certificate chain");
  t = s;
  t.key_file = PKI("server.pem"); /* a certificate, not a key */
  expect_config_error(&t, ZTTP_SERVER, "private key");
  t = s;
  t.key_file = PKI("ca.key");
  expect_config_error(&t, ZTTP_SERVER, "does not match the certificate");
  t = s;
  t.cert_file = t.key_file = NULL;
  expect_config_error(&t, ZTTP_SERVER, "needs a certificate");

  /* The same in memory. */
  size_t cert_len;
  size_t key_len;
  size_t ca_key_len;
  uint8_t *cert = read_file(PKI("server.pem"), &cert_len);
  uint8_t *key = read_file(PKI("server.key"), &key_len);
  uint8_t *ca_key = read_file(PKI("ca.key"), &ca_key_len);
  static const uint8_t garbage[] = "-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                   "-----END CERTIFICATE-----\n";
  t = s;
  t.cert_file = t.key_file = NULL;
  t.cert_pem = garbage;
  t.cert_pem_len = sizeof(garbage) - 1;
  t.key_pem = key;
  t.key_pem_len = key_len;
  expect_config_error(&t, ZTTP_SERVER, "no certificate");
  /* A good leaf followed by a corrupt chain certificate. */
  uint8_t *bad_chain = malloc(cert_len + sizeof(garbage));
  memcpy(bad_chain, cert, cert_len);
  memcpy(bad_chain + cert_len, garbage, sizeof(garbage) - 1);
  t.cert_pem = bad_chain;
  t.cert_pem_len = cert_len + sizeof(garbage) - 1;
  expect_config_error(&t, ZTTP_SERVER, "bad certificate");
  t.cert_pem = cert;
  t.cert_pem_len = cert_len;
  t.key_pem = cert;
  t.key_pem_len = cert_len;
  expect_config_error(&t, ZTTP_SERVER, "no private key");
  t.key_pem = ca_key;
  t.key_pem_len = ca_key_len;
  expect_config_error(&t, ZTTP_SERVER, "does not match the certificate");
  free(bad_chain);
  free(cert);
  free(key);
  free(ca_key);

  /* Client side. */
  t = s;
  t.ca_file = PKI("missing-ca.pem");
  expect_config_error(&t, ZTTP_CLIENT, "CA store");
  t.insecure_no_verify = 1; /* nothing is loaded then */
  zttp_tls_ctx_unref(ctx_new(&t, ZTTP_CLIENT));
  /* Both roles. */
  t = s;
  t.alpn = NULL;
  t.alpn_len = 0;
  expect_config_error(&t, ZTTP_CLIENT, "ALPN");
  expect_config_error(&t, ZTTP_SERVER, "ALPN");
  static const uint8_t bad_alpn[] = {3, 'h', '3'};
  t.alpn = bad_alpn;
  t.alpn_len = sizeof(bad_alpn);
  expect_config_error(&t, ZTTP_CLIENT, "ALPN");
  t = s;
  t.groups = "X25519:P-999";
  expect_config_error(&t, ZTTP_CLIENT, "group");
  t.groups = "P-256:X25519";
  zttp_tls_ctx_unref(ctx_new(&t, ZTTP_SERVER));
  assert_true(zttp_tls_groups_valid("X25519:P-256"));
  assert_false(zttp_tls_groups_valid("X25519:nope"));
  t = s;
  t.ciphers = 0x8;
  zttp_tls_ctx *ctx = NULL;
  assert_int_equal(
      zttp_tls_ctx_new(&ctx, zttp_mem_default(), &t, ZTTP_CLIENT, NULL),
      ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_tls_ctx_new(&ctx, zttp_mem_default(), &s, 7, NULL),
                   ZTTP_ERR_INVALID_ARGUMENT);
}

/* ---- groups, cipher suites ---------------------------------------------- */

static void test_groups(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  zttp_tls_settings cs = s;
  zttp_tls_settings ss = s;
  cs.groups = "P-256";
  ss.groups = "P-384:P-256";
  pair p;
  run(&p, &cs, &ss, "localhost");
  assert_int_equal(p.c.last, 1);
  pair_free(&p);
  /* No group in common. */
  ss.groups = "X25519";
  run(&p, &cs, &ss, "localhost");
  assert_int_equal(p.s.last, ZTTP_ERR_TLS_HANDSHAKE);
  assert_int_equal(zttp_tls_alert(p.s.tls), 40);
  pair_free(&p);
}

static uint32_t mask_of(uint32_t cipher) {
  return cipher == ZTTP_CIPHER_AES_128_GCM_SHA256
             ? ZTTP_TLS_CIPHER_AES_128_GCM_SHA256
         : cipher == ZTTP_CIPHER_AES_256_GCM_SHA384
             ? ZTTP_TLS_CIPHER_AES_256_GCM_SHA384
             : ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256;
}

static void test_cipher_allowed_set(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  pair p;
  /* Which suite does BoringSSL pick here (AES-128-GCM with AES
   * instructions, else ChaCha20)? */
  run(&p, &s, &s, "localhost");
  assert_int_equal(p.c.last, 1);
  uint32_t cipher = p.c.secrets[0].cipher;
  pair_free(&p);
  uint32_t all = ZTTP_TLS_CIPHER_AES_128_GCM_SHA256 |
                 ZTTP_TLS_CIPHER_AES_256_GCM_SHA384 |
                 ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256;
  uint32_t bit = mask_of(cipher);

  /* Allowed on both sides. */
  zttp_tls_settings t = s;
  t.ciphers = bit;
  run(&p, &t, &t, "localhost");
  assert_int_equal(p.c.last, 1);
  assert_int_equal(p.c.secrets[0].cipher, cipher);
  assert_int_equal(zttp_tls_cipher(p.c.tls), cipher);
  assert_int_equal(zttp_tls_cipher(p.s.tls), cipher);
  pair_free(&p);

  /* Not allowed by the client: it fails as soon as the server's choice
   * installs the first secret, with no key derived. */
  t.ciphers = all & ~bit;
  run(&p, &t, &s, "localhost");
  expect_client_failed(&p, 40, "not in the allowed set");
  assert_int_equal(p.c.num_secrets, 0);
  pair_free(&p);

  /* Not allowed by the server. */
  run(&p, &s, &t, "localhost");
  assert_int_equal(p.s.last, ZTTP_ERR_TLS_HANDSHAKE);
  assert_int_equal(zttp_tls_alert(p.s.tls), 40);
  assert_non_null(
      strstr(zttp_tls_error_message(p.s.tls), "not in the allowed set"));
  assert_int_equal(p.s.num_secrets, 0);
  pair_free(&p);
}

/* ---- tickets, resumption, 0-RTT hooks ----------------------------------- */

static void test_ticket_resumption(void **state) {
  (void)state;
  zttp_tls_settings s;
  settings_init(&s);
  zttp_tls_ctx *cctx = ctx_new(&s, ZTTP_CLIENT);
  zttp_tls_ctx *sctx = ctx_new(&s, ZTTP_SERVER);
  pair p;
  pair_init(&p, cctx, sctx, "localhost");
  assert_int_equal(pump(&p), 1);
  /* The NewSessionTickets went over at APPLICATION level (the "S:A" flight)
   * and zttp_tls_handshake processed them on the completed client. Process
   * again explicitly: nothing new. */
  assert_int_equal(zttp_tls_process_post_handshake(p.c.tls), 0);
  const uint8_t *t;
  size_t n = zttp_tls_next_ticket(p.c.tls, &t);
  assert_true(n > 0);
  uint8_t *ticket = malloc(n);
  memcpy(ticket, t, n);
  size_t ticket_len = n;
  /* BoringSSL sends two; then none. */
  assert_true(zttp_tls_next_ticket(p.c.tls, &t) > 0);
  assert_int_equal(zttp_tls_next_ticket(p.c.tls, &t), 0);
  assert_null(t);
  /* A server never gets tickets. */
  assert_int_equal(zttp_tls_next_ticket(p.s.tls, &t), 0);
  pair_free(&p);

  /* Resume. */
  pair_init(&p, cctx, sctx, "localhost");
  assert_int_equal(zttp_tls_set_session(p.c.tls, ticket, ticket_len), 0);
  assert_int_equal(pump(&p), 1);
  assert_true(zttp_tls_session_reused(p.c.tls));
  assert_true(zttp_tls_session_reused(p.s.tls));
  check_full_handshake(&p, ZTTP_TLS_BORINGSSL);
  assert_false(zttp_tls_early_data_accepted(p.c.tls));
  /* The hooks refuse misuse. */
  assert_int_equal(zttp_tls_set_session(p.c.tls, ticket, ticket_len),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_tls_set_session(p.s.tls, ticket, ticket_len),
                   ZTTP_ERR_INVALID_STATE);
  assert_int_equal(zttp_tls_enable_early_data(p.c.tls), ZTTP_ERR_INVALID_STATE);
  pair_free(&p);

  /* Garbage is not a session. */
  pair_init(&p, cctx, sctx, "localhost");
  assert_int_equal(zttp_tls_set_session(p.c.tls, (const uint8_t *)"xyz", 3),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(
      zttp_tls_set_early_data_context(p.c.tls, (const uint8_t *)"ctx", 3),
      ZTTP_ERR_INVALID_STATE);
  assert_int_equal(pump(&p), 1);
  assert_false(zttp_tls_session_reused(p.c.tls));
  pair_free(&p);

  free(ticket);
  zttp_tls_ctx_unref(cctx);
  zttp_tls_ctx_unref(sctx);
}

static void test_early_data_hooks(void **state) {
  (void)state;
  static const uint8_t early_ctx[] = "transport parameters and SETTINGS";
  zttp_tls_settings s;
  settings_init(&s);
  zttp_tls_ctx *cctx = ctx_new(&s, ZTTP_CLIENT);
  zttp_tls_ctx *sctx = ctx_new(&s, ZTTP_SERVER);
  pair p;
  pair_init(&p, cctx, sctx, "localhost");
  assert_int_equal(zttp_tls_enable_early_data(p.s.tls), 0);
  assert_int_equal(
      zttp_tls_set_early_data_context(p.s.tls, early_ctx, sizeof(early_ctx)),
      0);
  assert_int_equal(pump(&p), 1);
  const uint8_t *t;
  size_t ticket_len = zttp_tls_next_ticket(p.c.tls, &t);
  assert_true(ticket_len > 0);
  uint8_t *ticket = malloc(ticket_len);
  memcpy(ticket, t, ticket_len);
  pair_free(&p);

  /* 0-RTT: the client has EARLY_DATA write keys right after its
   * ClientHello; the server reads with the same secret. */
  pair_init(&p, cctx, sctx, "localhost");
  assert_int_equal(zttp_tls_set_session(p.c.tls, ticket, ticket_len), 0);
  assert_int_equal(zttp_tls_enable_early_data(p.c.tls), 0);
  assert_int_equal(zttp_tls_enable_early_data(p.s.tls), 0);
  assert_int_equal(
      zttp_tls_set_early_data_context(p.s.tls, early_ctx, sizeof(early_ctx)),
      0);
  step(&p.c);
  assert_int_equal(p.c.last, 0);
  assert_string_equal(p.c.order, "W1");
  assert_int_equal(pump(&p), 1);
  assert_true(zttp_tls_early_data_accepted(p.c.tls));
  assert_true(zttp_tls_early_data_accepted(p.s.tls));
  expect_same_secret(&p.c, &p.s, ZTTP_TLS_LEVEL_EARLY_DATA);
  expect_same_secret(&p.c, &p.s, ZTTP_TLS_LEVEL_APPLICATION);
  pair_free(&p);

  /* A different context: resumed, 0-RTT rejected. */
  pair_init(&p, cctx, sctx, "localhost");
  assert_int_equal(zttp_tls_set_session(p.c.tls, ticket, ticket_len), 0);
  assert_int_equal(zttp_tls_enable_early_data(p.c.tls), 0);
  assert_int_equal(zttp_tls_enable_early_data(p.s.tls), 0);
  assert_int_equal(
      zttp_tls_set_early_data_context(p.s.tls, (const uint8_t *)"other", 5), 0);
  assert_int_equal(pump(&p), 1);
  assert_true(zttp_tls_session_reused(p.c.tls));
  assert_false(zttp_tls_early_data_accepted(p.c.tls));
  assert_false(zttp_tls_early_data_accepted(p.s.tls));
  assert_null(find_secret(&p.s, ZTTP_TLS_READ, ZTTP_TLS_LEVEL_EARLY_DATA));
  expect_same_secret(&p.c, &p.s, ZTTP_TLS_LEVEL_APPLICATION);
  pair_free(&p);

  free(ticket);
  zttp_tls_ctx_unref(cctx);
  zttp_tls_ctx_unref(sctx);
}

/* ---- misuse and malformed input ----------------------------------------- */

static void test_wrong_level(void **state) {
  (void)state;
  for (uint32_t backend = 0; backend < 2; backend++) {
    zttp_tls_settings s;
    settings_init(&s);
    s.backend = backend;
    zttp_tls_ctx *sctx = ctx_new(&s, ZTTP_SERVER);
    zttp_tls *tls = NULL;
    assert_int_equal(zttp_tls_new(&tls, sctx, zttp_mem_default(), NULL, 0,
                                  server_tp, sizeof(server_tp), NULL),
                     0);
    assert_int_equal(
        zttp_tls_provide(tls, ZTTP_TLS_NUM_LEVELS, (const uint8_t *)"x", 1),
        ZTTP_ERR_INVALID_ARGUMENT);
    assert_int_equal(zttp_tls_provide(tls, 0, NULL, 1),
                     ZTTP_ERR_INVALID_ARGUMENT);
    assert_int_equal(zttp_tls_provide(tls, 0, NULL, 0), 0);
    assert_int_equal(zttp_tls_handshake(tls), 0);
    assert_int_equal(zttp_tls_process_post_handshake(tls),
                     ZTTP_ERR_INVALID_STATE);
    /* HANDSHAKE data before the ClientHello. */
    assert_int_equal(zttp_tls_provide(tls, ZTTP_TLS_LEVEL_HANDSHAKE,
                                      (const uint8_t *)"x", 1),
                     ZTTP_ERR_TLS_HANDSHAKE);
    assert_int_equal(zttp_tls_alert(tls), ZTTP_TLS_ALERT_UNEXPECTED_MESSAGE);
    assert_true(strlen(zttp_tls_error_message(tls)) > 0);
    assert_int_equal(zttp_tls_handshake(tls), ZTTP_ERR_TLS_HANDSHAKE);
    zttp_tls_free(tls);
    zttp_tls_ctx_unref(sctx);
  }
}

/* Garbage at INITIAL fails the handshake with an alert, on both backends,
 * whatever its length. */
static void test_garbage(void **state) {
  (void)state;
  uint8_t junk[300];
  for (size_t i = 0; i < sizeof(junk); i++) {
    junk[i] = (uint8_t)(i * 7 + 1);
  }
  junk[0] = 1; /* a ClientHello type for both */
  for (uint32_t backend = 0; backend < 2; backend++) {
    zttp_tls_settings s;
    settings_init(&s);
    s.backend = backend;
    zttp_tls_ctx *sctx = ctx_new(&s, ZTTP_SERVER);
    for (size_t len = 1; len <= sizeof(junk); len += 37) {
      zttp_tls *tls = NULL;
      assert_int_equal(zttp_tls_new(&tls, sctx, zttp_mem_default(), NULL, 0,
                                    server_tp, sizeof(server_tp), NULL),
                       0);
      int32_t rv = zttp_tls_provide(tls, 0, junk, len);
      if (rv == 0) {
        rv = zttp_tls_handshake(tls);
      }
      /* Short input can still be an incomplete message. */
      assert_true(rv == 0 || rv == ZTTP_ERR_TLS_HANDSHAKE);
      if (rv < 0) {
        assert_true(zttp_tls_alert(tls) > 0);
      }
      zttp_tls_free(tls);
    }
    zttp_tls_ctx_unref(sctx);
  }
}

/* ---- the null TLS ------------------------------------------------------- */

static void test_null_handshake(void **state) {
  (void)state;
  zttp_tls_settings s;
  memset(&s, 0, sizeof(s));
  s.backend = ZTTP_TLS_NULL;
  s.alpn = h3_alpn;
  s.alpn_len = sizeof(h3_alpn);
  /* No certificate, no CA, no server name: the null TLS checks nothing.
   * With every suite allowed it picks AES-128-GCM with zero secrets (what
   * the fuzzers' corpora were made with). */
  pair p;
  run(&p, &s, &s, NULL);
  check_full_handshake(&p, ZTTP_TLS_NULL);
  static const uint8_t zero[32];
  for (size_t i = 0; i < p.c.num_secrets; i++) {
    assert_int_equal(p.c.secrets[i].cipher, ZTTP_CIPHER_AES_128_GCM_SHA256);
    assert_int_equal(p.c.secrets[i].len, 32);
    assert_memory_equal(p.c.secrets[i].secret, zero, 32);
  }
  assert_int_equal(zttp_tls_cipher(p.c.tls), ZTTP_CIPHER_AES_128_GCM_SHA256);
  assert_int_equal(zttp_tls_cipher(p.s.tls), ZTTP_CIPHER_AES_128_GCM_SHA256);
  /* No tickets, no resumption; the hooks are accepted and ignored. */
  const uint8_t *t;
  assert_int_equal(zttp_tls_next_ticket(p.c.tls, &t), 0);
  assert_int_equal(zttp_tls_session_reused(p.c.tls), 0);
  assert_int_equal(zttp_tls_early_data_accepted(p.c.tls), 0);
  /* Post-handshake data is unexpected. */
  assert_int_equal(zttp_tls_provide(p.c.tls, ZTTP_TLS_LEVEL_APPLICATION,
                                    (const uint8_t *)"x", 1),
                   0);
  assert_int_equal(zttp_tls_handshake(p.c.tls), ZTTP_ERR_TLS_HANDSHAKE);
  assert_int_equal(zttp_tls_alert(p.c.tls), ZTTP_TLS_ALERT_UNEXPECTED_MESSAGE);
  pair_free(&p);

  /* The null client's ClientHello, exactly. */
  zttp_tls_ctx *cctx = ctx_new(&s, ZTTP_CLIENT);
  zttp_tls *c = NULL;
  assert_int_equal(zttp_tls_new(&c, cctx, zttp_mem_default(), NULL, 0,
                                (const uint8_t *)"TP", 2, NULL),
                   0);
  assert_int_equal(zttp_tls_handshake(c), 0);
  const uint8_t *b;
  size_t n = zttp_tls_pending(c, ZTTP_TLS_LEVEL_INITIAL, &b);
  static const uint8_t want[] = {1, 0, 0, 9, 0, 2, 'T', 'P', 0, 3, 2, 'h', '3'};
  assert_int_equal(n, sizeof(want));
  assert_memory_equal(b, want, n);
  /* A partial consume leaves the rest. */
  zttp_tls_consume(c, ZTTP_TLS_LEVEL_INITIAL, 4);
  assert_int_equal(zttp_tls_pending(c, ZTTP_TLS_LEVEL_INITIAL, &b), n - 4);
  assert_memory_equal(b, want + 4, n - 4);
  /* And the server's ServerHello to it, exactly. */
  zttp_tls_ctx *sctx0 = ctx_new(&s, ZTTP_SERVER);
  zttp_tls *s0 = NULL;
  assert_int_equal(zttp_tls_new(&s0, sctx0, zttp_mem_default(), NULL, 0,
                                (const uint8_t *)"tp", 2, NULL),
                   0);
  assert_int_equal(zttp_tls_provide(s0, 0, want, sizeof(want)), 0);
  assert_int_equal(zttp_tls_handshake(s0), 0);
  static const uint8_t want_sh[] = {2, 0, 0, 7, 0, 2, 't', 'p', 2, 'h', '3'};
  n = zttp_tls_pending(s0, ZTTP_TLS_LEVEL_INITIAL, &b);
  assert_int_equal(n, sizeof(want_sh));
  assert_memory_equal(b, want_sh, n);
  zttp_tls_free(s0);
  zttp_tls_ctx_unref(sctx0);
  zttp_tls_free(c);
  zttp_tls_ctx_unref(cctx);

  /* A ClientHello without transport parameters: missing_extension. */
  zttp_tls_ctx *sctx = ctx_new(&s, ZTTP_SERVER);
  zttp_tls *sv = NULL;
  assert_int_equal(zttp_tls_new(&sv, sctx, zttp_mem_default(), NULL, 0,
                                server_tp, sizeof(server_tp), NULL),
                   0);
  static const uint8_t no_tp[] = {1, 0, 0, 7, 0, 0, 0, 3, 2, 'h', '3'};
  assert_int_equal(zttp_tls_provide(sv, 0, no_tp, sizeof(no_tp)), 0);
  assert_int_equal(zttp_tls_handshake(sv), ZTTP_ERR_TLS_HANDSHAKE);
  assert_int_equal(zttp_tls_alert(sv), 109);
  zttp_tls_free(sv);
  zttp_tls_ctx_unref(sctx);
}

/* ---- the config: cache, setters ----------------------------------------- */

static void test_config_cache(void **state) {
  (void)state;
  h_failalloc fa;
  h_failalloc_init(&fa, -1);
  zttp_config *cfg = NULL;
  assert_int_equal(zttp_config_new(&cfg, &fa.alloc), 0);
  assert_int_equal(
      zttp_config_set_tls_cert_key(cfg, PKI("server.pem"), PKI("server.key")),
      0);
  assert_int_equal(zttp_config_set_tls_ca(cfg, PKI("ca.pem"), NULL), 0);
  assert_int_equal(zttp_config_set_server_name(cfg, "localhost", 9), 0);
  zttp_tls_ctx *a = NULL;
  zttp_tls_ctx *b = NULL;
  zttp_tls_ctx *c = NULL;
  assert_int_equal(zttp_config_tls_ctx(&a, cfg, ZTTP_SERVER, NULL), 0);
  assert_int_equal(zttp_config_tls_ctx(&b, cfg, ZTTP_SERVER, NULL), 0);
  assert_ptr_equal(a, b); /* loaded once */
  assert_int_equal(zttp_config_tls_ctx(&c, cfg, ZTTP_CLIENT, NULL), 0);
  assert_ptr_not_equal(a, c);
  assert_int_equal(zttp_tls_ctx_role(c), ZTTP_CLIENT);
  zttp_tls_ctx_unref(b);
  /* A setter drops the cached contexts; connections keep theirs. */
  zttp_str alpn[] = {{"h3", 2}, {"hq-interop", 10}};
  assert_int_equal(zttp_config_set_alpn(cfg, alpn, 2), 0);
  assert_int_equal(zttp_config_tls_ctx(&b, cfg, ZTTP_SERVER, NULL), 0);
  assert_ptr_not_equal(a, b);
  /* A handshake between contexts from the config (default ALPN would be
   * "h3"; here the list above). */
  pair p;
  pair_init(&p, c, b, "localhost");
  assert_int_equal(pump(&p), 1);
  pair_free(&p);
  /* The config goes first; the contexts outlive it. */
  zttp_config_free(cfg);
  assert_true(fa.live_allocs > 0);
  zttp_tls_ctx_unref(a);
  zttp_tls_ctx_unref(b);
  zttp_tls_ctx_unref(c);
  assert_int_equal(fa.live_allocs, 0);
  assert_int_equal(fa.bad_frees, 0);
}

typedef struct race {
  const zttp_config *cfg;
  zttp_tls_ctx *got[16];
} race;

static void *race_thread(void *arg) {
  race *r = arg;
  for (size_t i = 0; i < 16; i++) {
    if (zttp_config_tls_ctx(&r->got[i], r->cfg, ZTTP_CLIENT, NULL) != 0) {
      r->got[i] = NULL;
    }
  }
  return NULL;
}

/* Connections made from one config on several threads at once share one
 * context: the first one built wins, the others are freed. */
static void test_config_cache_threads(void **state) {
  (void)state;
  for (int round = 0; round < 20; round++) {
    zttp_config *cfg = NULL;
    assert_int_equal(zttp_config_new(&cfg, NULL), 0);
    assert_int_equal(zttp_config_set_tls_ca(cfg, PKI("ca.pem"), NULL), 0);
    race r[4];
    pthread_t t[4];
    for (size_t i = 0; i < 4; i++) {
      r[i].cfg = cfg;
      assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r[i]), 0);
    }
    for (size_t i = 0; i < 4; i++) {
      assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    zttp_config_free(cfg);
    for (size_t i = 0; i < 4; i++) {
      for (size_t k = 0; k < 16; k++) {
        assert_non_null(r[i].got[k]);
        assert_ptr_equal(r[i].got[k], r[0].got[0]);
      }
    }
    for (size_t i = 0; i < 4; i++) {
      for (size_t k = 0; k < 16; k++) {
        zttp_tls_ctx_unref(r[i].got[k]);
      }
    }
  }
}

static void test_config_setters(void **state) {
  (void)state;
  zttp_config *cfg = NULL;
  assert_int_equal(zttp_config_new(&cfg, NULL), 0);
  /* Files are checked at once; a failure leaves the config as it was. */
  assert_int_equal(
      zttp_config_set_tls_cert_key(cfg, PKI("missing.pem"), PKI("server.key")),
      ZTTP_ERR_TLS_CONFIG);
  assert_null(cfg->tls_cert_file);
  assert_int_equal(
      zttp_config_set_tls_cert_key(cfg, PKI("server.pem"), PKI("ca.key")),
      ZTTP_ERR_TLS_CONFIG);
  assert_int_equal(zttp_config_set_tls_cert_key(cfg, NULL, PKI("ca.key")),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_tls_ca(cfg, PKI("missing.pem"), NULL),
                   ZTTP_ERR_TLS_CONFIG);
  assert_int_equal(zttp_config_set_tls_ca(cfg, PKI("README.md"), NULL),
                   ZTTP_ERR_TLS_CONFIG); /* no certificate in it */
  assert_null(cfg->tls_ca_file);
  assert_int_equal(zttp_config_set_tls_ca(cfg, NULL, PKI("cadir")), 0);
  assert_int_equal(zttp_config_set_tls_ca(cfg, NULL, NULL), 0);
  /* PEM in memory replaces the files and vice versa. */
  size_t cert_len;
  size_t key_len;
  char *cert = (char *)read_file(PKI("server.pem"), &cert_len);
  char *key = (char *)read_file(PKI("server.key"), &key_len);
  assert_int_equal(
      zttp_config_set_tls_cert_key(cfg, PKI("server.pem"), PKI("server.key")),
      0);
  assert_int_equal(
      zttp_config_set_tls_cert_key_pem(cfg, cert, cert_len, key, key_len), 0);
  assert_null(cfg->tls_cert_file);
  assert_int_equal(cfg->tls_cert_pem_len, cert_len);
  assert_int_equal(
      zttp_config_set_tls_cert_key_pem(cfg, cert, cert_len, cert, cert_len),
      ZTTP_ERR_TLS_CONFIG);
  assert_int_equal(zttp_config_set_tls_cert_key_pem(cfg, cert, 0, key, key_len),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(cfg->tls_cert_pem_len, cert_len); /* unchanged */
  /* The copies are used, not the caller's buffers. */
  memset(cert, 0, cert_len);
  memset(key, 0, key_len);
  free(cert);
  free(key);
  zttp_tls_ctx *ctx = NULL;
  assert_int_equal(zttp_config_tls_ctx(&ctx, cfg, ZTTP_SERVER, NULL), 0);
  zttp_tls_ctx_unref(ctx);

  /* ALPN. */
  zttp_str ok[] = {{"h3", 2}};
  zttp_str empty[] = {{"", 0}};
  zttp_str null_base[] = {{NULL, 2}};
  char long_name[256];
  memset(long_name, 'x', sizeof(long_name));
  zttp_str too_long[] = {{long_name, 256}};
  zttp_str max_name[] = {{long_name, 255}};
  assert_int_equal(zttp_config_set_alpn(cfg, ok, 1), 0);
  assert_int_equal(cfg->alpn_len, 3);
  assert_int_equal(zttp_config_set_alpn(cfg, empty, 1),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_alpn(cfg, null_base, 1),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_alpn(cfg, too_long, 1),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_alpn(cfg, NULL, 1),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_alpn(cfg, max_name, 1), 0);
  assert_int_equal(cfg->alpn_len, 256);
  zttp_str many[300];
  for (size_t i = 0; i < 300; i++) {
    many[i] = max_name[0];
  }
  assert_int_equal(zttp_config_set_alpn(cfg, many, 300),
                   ZTTP_ERR_INVALID_ARGUMENT);               /* 77k bytes */
  assert_int_equal(zttp_config_set_alpn(cfg, many, 255), 0); /* 65280 */
  assert_int_equal(zttp_config_set_alpn(cfg, NULL, 0), 0);   /* default */
  assert_int_equal(cfg->alpn_len, 0);

  /* Ciphers, groups. */
  assert_int_equal(zttp_config_set_tls_ciphers(cfg, 0x8),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(
      zttp_config_set_tls_ciphers(cfg, ZTTP_TLS_CIPHER_AES_256_GCM_SHA384 |
                                           ZTTP_TLS_CIPHER_AES_128_GCM_SHA256),
      0);
  assert_int_equal(zttp_config_set_tls_ciphers(cfg, 0), 0);
  assert_int_equal(zttp_config_set_tls_groups(cfg, "X25519:P-256"), 0);
  assert_string_equal(cfg->tls_groups, "X25519:P-256");
  assert_int_equal(zttp_config_set_tls_groups(cfg, "X25519:bogus"),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_tls_groups(cfg, ""),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_string_equal(cfg->tls_groups, "X25519:P-256");
  assert_int_equal(zttp_config_set_tls_groups(cfg, NULL), 0);
  assert_null(cfg->tls_groups);
  assert_int_equal(zttp_config_set_tls_insecure_no_verify(cfg, 2),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_tls_backend(cfg, 2),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_int_equal(zttp_config_set_tls_backend(cfg, ZTTP_TLS_NULL), 0);
  assert_int_equal(zttp_config_tls_ctx(&ctx, cfg, ZTTP_CLIENT, NULL), 0);
  zttp_tls *tls = NULL;
  assert_int_equal(zttp_tls_new(&tls, ctx, zttp_mem_default(), NULL, 0,
                                client_tp, sizeof(client_tp), NULL),
                   0);
  assert_int_equal(zttp_tls_crypto_backend(tls), ZTTP_CRYPTO_NULL);
  zttp_tls_free(tls);
  zttp_tls_ctx_unref(ctx);
  /* A config whose TLS cannot be built: the error comes from the call
   * that builds the context. */
  assert_int_equal(zttp_config_set_tls_backend(cfg, ZTTP_TLS_BORINGSSL), 0);
  zttp_config_free(cfg);
  assert_int_equal(zttp_config_new(&cfg, NULL), 0);
  char err[ZTTP_TLS_ERRMSG_MAX];
  assert_int_equal(zttp_config_tls_ctx(&ctx, cfg, ZTTP_SERVER, err),
                   ZTTP_ERR_TLS_CONFIG);
  assert_null(ctx);
  assert_non_null(strstr(err, "certificate"));
  zttp_config_free(cfg);

  assert_string_equal(zttp_strerror(ZTTP_ERR_TLS_CONFIG),
                      "TLS settings refused: unreadable file, bad PEM, key not "
                      "matching the certificate, or a required setting "
                      "missing");
  assert_false(zttp_error_is_fatal(ZTTP_ERR_TLS_CONFIG));
  assert_true(zttp_error_is_fatal(ZTTP_ERR_TLS_HANDSHAKE));
}

/* ---- the null TLS: cipher-suite negotiation ----------------------------- */

static const uint32_t pref[3] = {ZTTP_CIPHER_AES_128_GCM_SHA256,
                                 ZTTP_CIPHER_AES_256_GCM_SHA384,
                                 ZTTP_CIPHER_CHACHA20_POLY1305_SHA256};

static void null_settings(zttp_tls_settings *s, uint32_t backend,
                          uint32_t ciphers) {
  memset(s, 0, sizeof(*s));
  s->backend = backend;
  s->alpn = h3_alpn;
  s->alpn_len = sizeof(h3_alpn);
  s->ciphers = ciphers;
}

/* Every pair of allowed sets (0: all), on both null backends: the server's
 * first preference in the intersection, secrets of its length on both
 * sides; or, with none in common, handshake_failure at the server (the
 * transport closes with CRYPTO_ERROR 0x128) and nothing installed. */
static void test_null_cipher_negotiation(void **state) {
  (void)state;
  static const uint32_t backends[] = {ZTTP_TLS_NULL, ZTTP_TLS_NULL_REAL_CRYPTO};
  size_t agreed = 0;
  size_t refused = 0;
  for (size_t b = 0; b < 2; b++) {
    for (uint32_t cset = 0; cset < 8; cset++) {
      for (uint32_t sset = 0; sset < 8; sset++) {
        zttp_tls_settings cs;
        zttp_tls_settings ss;
        null_settings(&cs, backends[b], cset);
        null_settings(&ss, backends[b], sset);
        uint32_t both = (cset != 0 ? cset : 7) & (sset != 0 ? sset : 7);
        uint32_t want = 0;
        for (size_t i = 0; i < 3 && want == 0; i++) {
          if ((both & mask_of(pref[i])) != 0) {
            want = pref[i];
          }
        }
        pair p;
        run(&p, &cs, &ss, NULL);
        if (want == 0) {
          refused++;
          assert_int_equal(p.s.last, ZTTP_ERR_TLS_HANDSHAKE);
          assert_int_equal(zttp_tls_alert(p.s.tls),
                           ZTTP_TLS_ALERT_HANDSHAKE_FAILURE);
          assert_int_equal(ZTTP_TLS_ALERT_TO_QUIC(zttp_tls_alert(p.s.tls)),
                           0x128);
          assert_non_null(strstr(zttp_tls_error_message(p.s.tls),
                                 "no cipher suite in common"));
          assert_int_equal(p.s.num_secrets, 0);
          assert_int_equal(p.c.num_secrets, 0);
          assert_int_equal(zttp_tls_cipher(p.s.tls), 0);
          assert_int_equal(zttp_tls_cipher(p.c.tls), 0);
          assert_int_equal(p.c.last, 0); /* still waiting for its answer */
          pair_free(&p);
          continue;
        }
        agreed++;
        check_full_handshake(&p, backends[b]);
        assert_int_equal(zttp_tls_cipher(p.c.tls), want);
        assert_int_equal(zttp_tls_cipher(p.s.tls), want);
        size_t len = want == ZTTP_CIPHER_AES_256_GCM_SHA384 ? 48 : 32;
        static const uint8_t zero[48];
        for (size_t i = 0; i < p.c.num_secrets; i++) {
          assert_int_equal(p.c.secrets[i].cipher, want);
          assert_int_equal(p.c.secrets[i].len, len);
          assert_int_equal(p.s.secrets[i].cipher, want);
          assert_int_equal(p.s.secrets[i].len, len);
          if (backends[b] == ZTTP_TLS_NULL) {
            assert_memory_equal(p.c.secrets[i].secret, zero, len);
          }
        }
        if (backends[b] == ZTTP_TLS_NULL_REAL_CRYPTO) {
          /* Real keys, different per direction and level. */
          const zttp_tls_secret *w2 =
              find_secret(&p.c, ZTTP_TLS_WRITE, ZTTP_TLS_LEVEL_HANDSHAKE);
          const zttp_tls_secret *r2 =
              find_secret(&p.c, ZTTP_TLS_READ, ZTTP_TLS_LEVEL_HANDSHAKE);
          const zttp_tls_secret *w3 =
              find_secret(&p.c, ZTTP_TLS_WRITE, ZTTP_TLS_LEVEL_APPLICATION);
          assert_memory_not_equal(w2->secret, r2->secret, len);
          assert_memory_not_equal(w2->secret, w3->secret, len);
          assert_memory_not_equal(w2->secret, zero, len);
        }
        pair_free(&p);
      }
    }
  }
  /* 8 x 8 pairs of sets per backend. */
  assert_int_equal(agreed + refused, 128);
  assert_true(refused > 0);
}

/* The messages with restricted sets, byte for byte, and a restricted
 * server's choice named in its ServerHello. */
static void test_null_cipher_wire(void **state) {
  (void)state;
  zttp_tls_settings s;
  null_settings(&s, ZTTP_TLS_NULL,
                ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256 |
                    ZTTP_TLS_CIPHER_AES_256_GCM_SHA384);
  zttp_tls_ctx *cctx = ctx_new(&s, ZTTP_CLIENT);
  zttp_tls *c = NULL;
  assert_int_equal(zttp_tls_new(&c, cctx, zttp_mem_default(), NULL, 0,
                                (const uint8_t *)"TP", 2, NULL),
                   0);
  assert_int_equal(zttp_tls_handshake(c), 0);
  const uint8_t *b;
  size_t n = zttp_tls_pending(c, ZTTP_TLS_LEVEL_INITIAL, &b);
  static const uint8_t ch[] = {1, 0, 0,   14,  0, 2,    'T',  'P',  0,
                               3, 2, 'h', '3', 4, 0x13, 0x02, 0x13, 0x03};
  assert_int_equal(n, sizeof(ch));
  assert_memory_equal(b, ch, n);
  /* A server allowing all picks AES-256-GCM (its preference) and names
   * it. */
  zttp_tls_settings all;
  null_settings(&all, ZTTP_TLS_NULL, 0);
  zttp_tls_ctx *sctx = ctx_new(&all, ZTTP_SERVER);
  zttp_tls *sv = NULL;
  assert_int_equal(zttp_tls_new(&sv, sctx, zttp_mem_default(), NULL, 0,
                                (const uint8_t *)"tp", 2, NULL),
                   0);
  assert_int_equal(zttp_tls_provide(sv, 0, ch, sizeof(ch)), 0);
  assert_int_equal(zttp_tls_handshake(sv), 0);
  static const uint8_t sh[] = {2,   0, 0,   9,   0,    2,   't',
                               'p', 2, 'h', '3', 0x13, 0x02};
  n = zttp_tls_pending(sv, ZTTP_TLS_LEVEL_INITIAL, &b);
  assert_int_equal(n, sizeof(sh));
  assert_memory_equal(b, sh, n);
  assert_int_equal(zttp_tls_cipher(sv), ZTTP_CIPHER_AES_256_GCM_SHA384);
  zttp_tls_free(sv);
  /* The client takes it. */
  assert_int_equal(zttp_tls_provide(c, 0, sh, sizeof(sh)), 0);
  assert_int_equal(zttp_tls_handshake(c), 0);
  zttp_tls_secret sec;
  assert_int_equal(zttp_tls_next_secret(c, &sec), 1);
  assert_int_equal(sec.cipher, ZTTP_CIPHER_AES_256_GCM_SHA384);
  assert_int_equal(sec.len, 48);
  zttp_tls_free(c);

  /* Suites the client did not offer, or unknown: illegal_parameter. The
   * default (no suite named) is AES-128-GCM, not offered either. */
  static const uint8_t bad_sh[][13] = {
      {2, 0, 0, 9, 0, 2, 't', 'p', 2, 'h', '3', 0x13, 0x01},
      {2, 0, 0, 9, 0, 2, 't', 'p', 2, 'h', '3', 0x13, 0x04},
      {2, 0, 0, 7, 0, 2, 't', 'p', 2, 'h', '3'},
  };
  static const size_t bad_sh_len[] = {13, 13, 11};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(zttp_tls_new(&c, cctx, zttp_mem_default(), NULL, 0,
                                  (const uint8_t *)"TP", 2, NULL),
                     0);
    assert_int_equal(zttp_tls_handshake(c), 0);
    assert_int_equal(zttp_tls_provide(c, 0, bad_sh[i], bad_sh_len[i]), 0);
    assert_int_equal(zttp_tls_handshake(c), ZTTP_ERR_TLS_HANDSHAKE);
    assert_int_equal(zttp_tls_alert(c), 47);
    assert_non_null(strstr(zttp_tls_error_message(c), "not offered"));
    assert_int_equal(zttp_tls_next_secret(c, &sec), 0);
    zttp_tls_free(c);
  }
  /* A ServerHello with a truncated suite or more after it. */
  static const uint8_t short_sh[] = {2,   0,   0, 8,   0,   2,
                                     't', 'p', 2, 'h', '3', 0x13};
  static const uint8_t long_sh[] = {2,   0, 0,   10,  0,    2,    't',
                                    'p', 2, 'h', '3', 0x13, 0x03, 0};
  const uint8_t *bad[] = {short_sh, long_sh};
  size_t bad_len[] = {sizeof(short_sh), sizeof(long_sh)};
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(zttp_tls_new(&c, cctx, zttp_mem_default(), NULL, 0,
                                  (const uint8_t *)"TP", 2, NULL),
                     0);
    assert_int_equal(zttp_tls_handshake(c), 0);
    assert_int_equal(zttp_tls_provide(c, 0, bad[i], bad_len[i]), 0);
    assert_int_equal(zttp_tls_handshake(c), ZTTP_ERR_TLS_HANDSHAKE);
    assert_int_equal(zttp_tls_alert(c), ZTTP_TLS_ALERT_DECODE_ERROR);
    zttp_tls_free(c);
  }
  zttp_tls_ctx_unref(cctx);

  /* The server: malformed suite lists are decode_error; a list of only
   * unknown suites (ignored, as TLS does) leaves none in common. */
  static const uint8_t missing[] = {1,   0, 0, 10, 0,   2,   'T',
                                    'P', 0, 3, 2,  'h', '3', 1};
  static const uint8_t odd[] = {1, 0, 0, 11,  0,   2, 'T', 'P',
                                0, 3, 2, 'h', '3', 1, 0x13};
  static const uint8_t empty[] = {1,   0, 0, 10, 0,   2,   'T',
                                  'P', 0, 3, 2,  'h', '3', 0};
  static const uint8_t trunc[] = {1, 0, 0, 12,  0,   2, 'T',  'P',
                                  0, 3, 2, 'h', '3', 4, 0x13, 0x01};
  static const uint8_t trail[] = {1, 0, 0,   14,  0, 2,    'T',  'P', 0,
                                  3, 2, 'h', '3', 2, 0x13, 0x01, 0,   0};
  static const uint8_t unknown[] = {1, 0, 0,   14,  0, 2,    'T',  'P',  0,
                                    3, 2, 'h', '3', 4, 0x13, 0x04, 0x00, 0x9c};
  struct {
    const uint8_t *msg;
    size_t len;
    int alert;
  } cases[] = {
      {missing, sizeof(missing), ZTTP_TLS_ALERT_DECODE_ERROR},
      {odd, sizeof(odd), ZTTP_TLS_ALERT_DECODE_ERROR},
      {empty, sizeof(empty), ZTTP_TLS_ALERT_DECODE_ERROR},
      {trunc, sizeof(trunc), ZTTP_TLS_ALERT_DECODE_ERROR},
      {trail, sizeof(trail), ZTTP_TLS_ALERT_DECODE_ERROR},
      {unknown, sizeof(unknown), ZTTP_TLS_ALERT_HANDSHAKE_FAILURE},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(zttp_tls_new(&sv, sctx, zttp_mem_default(), NULL, 0,
                                  (const uint8_t *)"tp", 2, NULL),
                     0);
    assert_int_equal(zttp_tls_provide(sv, 0, cases[i].msg, cases[i].len), 0);
    assert_int_equal(zttp_tls_handshake(sv), ZTTP_ERR_TLS_HANDSHAKE);
    assert_int_equal(zttp_tls_alert(sv), cases[i].alert);
    assert_int_equal(zttp_tls_next_secret(sv, &sec), 0);
    zttp_tls_free(sv);
  }
  zttp_tls_ctx_unref(sctx);
}

/* ZTTP_TLS_NULL_REAL_CRYPTO: the null handshake with real packet
 * protection; an unknown backend is refused. */
static void test_null_real_crypto(void **state) {
  (void)state;
  zttp_tls_settings s;
  null_settings(&s, ZTTP_TLS_NULL_REAL_CRYPTO, 0);
  pair p;
  run(&p, &s, &s, NULL);
  check_full_handshake(&p, ZTTP_TLS_NULL_REAL_CRYPTO);
  assert_int_equal(zttp_tls_crypto_backend(p.c.tls), ZTTP_CRYPTO_BORINGSSL);
  assert_int_equal(zttp_tls_cipher(p.c.tls), ZTTP_CIPHER_AES_128_GCM_SHA256);
  /* Keys made from the secrets seal and open across the pair. */
  const zttp_tls_secret *w = find_secret(&p.c, ZTTP_TLS_WRITE, 3);
  const zttp_tls_secret *r = find_secret(&p.s, ZTTP_TLS_READ, 3);
  assert_non_null(w);
  assert_non_null(r);
  if (w == NULL || r == NULL) {
    return;
  }
  zttp_crypto_keys *wk = NULL;
  zttp_crypto_keys *rk = NULL;
  assert_int_equal(zttp_crypto_keys_new(&wk, zttp_mem_default(),
                                        zttp_tls_crypto_backend(p.c.tls),
                                        w->cipher, ZTTP_QUIC_V1, w->secret,
                                        w->len),
                   0);
  assert_int_equal(zttp_crypto_keys_new(&rk, zttp_mem_default(),
                                        zttp_tls_crypto_backend(p.s.tls),
                                        r->cipher, ZTTP_QUIC_V1, r->secret,
                                        r->len),
                   0);
  uint8_t msg[32 + ZTTP_CRYPTO_TAG_LEN];
  memset(msg, 'm', 32);
  assert_int_equal(
      zttp_crypto_seal(wk, msg, 7, (const uint8_t *)"h", 1, msg, 32), 1);
  /* Really encrypted: not the plaintext, not a zero tag. */
  uint8_t plain[32];
  memset(plain, 'm', 32);
  assert_memory_not_equal(msg, plain, 32);
  assert_int_equal(
      zttp_crypto_open(rk, msg, 7, (const uint8_t *)"h", 1, msg, sizeof(msg)),
      1);
  assert_memory_equal(msg, plain, 32);
  zttp_crypto_keys_free(wk);
  zttp_crypto_keys_free(rk);
  pair_free(&p);

  s.backend = 3;
  zttp_tls_ctx *ctx = NULL;
  assert_int_equal(
      zttp_tls_ctx_new(&ctx, zttp_mem_default(), &s, ZTTP_CLIENT, NULL),
      ZTTP_ERR_INVALID_ARGUMENT);
}

/* ---- failing allocator -------------------------------------------------- */

/* Fails allocation k of a whole scenario (contexts, sessions, a handshake,
 * tickets) for every k: every step returns 0 or ZTTP_ERR_NOMEM, and nothing
 * is left allocated. BoringSSL's own allocations (OPENSSL_malloc) do not go
 * through zttp's allocator: only zttp's are failed and counted here. */
static int32_t fa_scenario(const zttp_allocator *alloc, uint32_t backend) {
  zttp_tls_settings s;
  settings_init(&s);
  s.backend = backend;
  zttp_tls_ctx *cctx = NULL;
  zttp_tls_ctx *sctx = NULL;
  zttp_tls *c = NULL;
  zttp_tls *sv = NULL;
  int32_t rv = zttp_tls_ctx_new(&cctx, alloc, &s, ZTTP_CLIENT, NULL);
  if (rv == 0) {
    rv = zttp_tls_ctx_new(&sctx, alloc, &s, ZTTP_SERVER, NULL);
  }
  if (rv == 0) {
    rv = zttp_tls_new(&c, cctx, alloc, "localhost", 9, client_tp,
                      sizeof(client_tp), NULL);
  }
  if (rv == 0) {
    rv = zttp_tls_new(&sv, sctx, alloc, NULL, 0, server_tp, sizeof(server_tp),
                      NULL);
  }
  /* The sessions hold the contexts. */
  zttp_tls_ctx_unref(cctx);
  zttp_tls_ctx_unref(sctx);
  if (rv == 0) {
    rv = zttp_tls_handshake(c);
    zttp_tls *from = c;
    zttp_tls *to = sv;
    for (int round = 0; rv >= 0 && round < 6; round++) {
      for (uint32_t level = 0; rv >= 0 && level < ZTTP_TLS_NUM_LEVELS;
           level++) {
        const uint8_t *data;
        size_t n = zttp_tls_pending(from, level, &data);
        if (n == 0) {
          continue;
        }
        rv = zttp_tls_provide(to, level, data, n);
        zttp_tls_consume(from, level, n);
        if (rv == 0) {
          rv = zttp_tls_handshake(to);
        }
      }
      zttp_tls *tmp = from;
      from = to;
      to = tmp;
    }
    if (rv >= 0) {
      assert_int_equal(zttp_tls_handshake(c), 1);
      assert_int_equal(zttp_tls_handshake(sv), 1);
      const uint8_t *t;
      if (backend == ZTTP_TLS_BORINGSSL) {
        assert_true(zttp_tls_next_ticket(c, &t) > 0);
      }
      rv = 0;
    } else {
      /* The failure is sticky and says NOMEM. */
      assert_int_equal(rv, ZTTP_ERR_NOMEM);
      int32_t again = zttp_tls_handshake(c);
      int32_t again_s = zttp_tls_handshake(sv);
      assert_true(again == ZTTP_ERR_NOMEM || again_s == ZTTP_ERR_NOMEM);
    }
  }
  zttp_tls_free(c);
  zttp_tls_free(sv);
  return rv;
}

static void test_failing_allocator(void **state) {
  (void)state;
  for (uint32_t backend = 0; backend < 3; backend++) {
    long k = 0;
    for (;; k++) {
      h_failalloc fa;
      h_failalloc_init(&fa, k);
      int32_t rv = fa_scenario(&fa.alloc, backend);
      if (fa.injected) {
        assert_int_equal(rv, ZTTP_ERR_NOMEM);
      } else {
        assert_int_equal(rv, 0);
      }
      assert_int_equal(fa.live_allocs, 0);
      assert_int_equal(fa.bad_frees, 0);
      if (!fa.injected) {
        break;
      }
    }
    assert_true(k >= 5); /* ctx x2, alpn x2, tls x2, output, ... */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake),
      cmocka_unit_test(test_byte_by_byte),
      cmocka_unit_test(test_verify_ca_dir),
      cmocka_unit_test(test_verify_ip),
      cmocka_unit_test(test_verify_unknown_ca),
      cmocka_unit_test(test_verify_wrong_name),
      cmocka_unit_test(test_verify_expired),
      cmocka_unit_test(test_insecure),
      cmocka_unit_test(test_verify_needs_name),
      cmocka_unit_test(test_alpn_mismatch),
      cmocka_unit_test(test_alpn_server_preference),
      cmocka_unit_test(test_pem_in_memory),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_groups),
      cmocka_unit_test(test_cipher_allowed_set),
      cmocka_unit_test(test_ticket_resumption),
      cmocka_unit_test(test_early_data_hooks),
      cmocka_unit_test(test_wrong_level),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_null_handshake),
      cmocka_unit_test(test_null_cipher_negotiation),
      cmocka_unit_test(test_null_cipher_wire),
      cmocka_unit_test(test_null_real_crypto),
      cmocka_unit_test(test_config_cache),
      cmocka_unit_test(test_config_cache_threads),
      cmocka_unit_test(test_config_setters),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
