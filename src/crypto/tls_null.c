/* The null TLS of src/crypto/tls.h, for the fuzzers and the simulator's fast
 * mode: no cryptography and no authentication, but the same level
 * progression as a TLS 1.3 handshake over QUIC (RFC 9001 §4.1.4), so the
 * transport runs the same code paths:
 *
 *   client INITIAL    ClientHello(transport parameters, ALPN list
 *                                 [, cipher suites])
 *   server INITIAL    ServerHello(transport parameters, selected ALPN
 *                                 [, selected cipher suite])
 *   server HANDSHAKE  Finished
 *   client HANDSHAKE  Finished
 *
 * Every message is type (1 byte) | length (3 bytes) | body, like a TLS
 * handshake message. The bodies:
 *
 *   ClientHello  tp<0..2^16-1> alpn<1..2^16-1> [suites<2..254>]
 *   ServerHello  tp<0..2^16-1> alpn<1..255> [suite(2)]
 *
 * with TLS's length prefixes and suite code points (0x1301 AES-128-GCM,
 * 0x1302 AES-256-GCM, 0x1303 ChaCha20-Poly1305; RFC 8446 §B.4). A client
 * lists its allowed suites only when it does not allow all three (absent:
 * all three); a server names its choice only when it is not AES-128-GCM
 * (absent: AES-128-GCM). So with no restriction the messages are the ones
 * the fuzzers' corpora hold, byte for byte. The server picks the first of
 * AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 (BoringSSL's order with AES
 * instructions) that both sides allow, or fails with handshake_failure (40)
 * when there is none; a client refuses a suite it did not offer with
 * illegal_parameter (47), as RFC 8446 §4.1.3 says.
 *
 * Secrets have the negotiated suite's hash length (32 bytes, 48 for
 * AES-256-GCM-SHA384) and are installed where TLS installs them and in the
 * same order. ZTTP_TLS_NULL's are all zero and the transport builds
 * ZTTP_CRYPTO_NULL keys from them (identity AEAD); ZTTP_TLS_NULL_REAL_CRYPTO's
 * are fixed but differ per level and direction, and the transport builds
 * real BoringSSL keys from them (zttp_tls_crypto_backend()).
 * SPDX-License-Identifier: MIT */
#include "crypto/tls_internal.h"

#include <string.h>

#include <openssl/bytestring.h>

#define MSG_CLIENT_HELLO 1
#define MSG_SERVER_HELLO 2
#define MSG_FINISHED 20

#define ALERT_ILLEGAL_PARAMETER 47
#define ALERT_MISSING_EXTENSION 109

/* Bytes of unprocessed input one level may hold: a ClientHello with the
 * largest transport parameters and ALPN list fits. */
#define NULL_MAX_INPUT (4 + 2 + 65535 + 2 + 65535)

enum null_state {
  NULL_START = 0,     /* client: nothing sent yet */
  NULL_WAIT_HELLO,    /* client: ServerHello; server: ClientHello */
  NULL_WAIT_FINISHED, /* the peer's Finished */
  NULL_DONE,
};

/* The QUIC suites in the server's order of preference. */
static const struct {
  uint16_t id; /* TLS code point */
  uint32_t cipher;
  uint32_t bit; /* ZTTP_TLS_CIPHER_* */
} suites[] = {
    {0x1301, ZTTP_CIPHER_AES_128_GCM_SHA256,
     ZTTP_TLS_CIPHER_AES_128_GCM_SHA256},
    {0x1302, ZTTP_CIPHER_AES_256_GCM_SHA384,
     ZTTP_TLS_CIPHER_AES_256_GCM_SHA384},
    {0x1303, ZTTP_CIPHER_CHACHA20_POLY1305_SHA256,
     ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256},
};
#define NUM_SUITES (sizeof(suites) / sizeof(suites[0]))
#define DEFAULT_SUITE 0 /* AES-128-GCM: left out of the ServerHello */

int32_t zttp_tls_null_init(zttp_tls *tls, const uint8_t *tp, size_t tp_len) {
  if (tp_len > 65535) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  tls->null.tp = zttp_mem_malloc(&tls->mem, tp_len);
  if (tls->null.tp == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  memcpy(tls->null.tp, tp, tp_len);
  tls->null.tp_len = tp_len;
  for (size_t i = 0; i < ZTTP_TLS_NUM_LEVELS; i++) {
    zttp_buf_init(&tls->null.in[i], NULL_MAX_INPUT);
  }
  tls->null.state = tls->role == ZTTP_CLIENT ? NULL_START : NULL_WAIT_HELLO;
  tls->null.read_level = ZTTP_TLS_LEVEL_INITIAL;
  return 0;
}

void zttp_tls_null_free(zttp_tls *tls) {
  for (size_t i = 0; i < ZTTP_TLS_NUM_LEVELS; i++) {
    zttp_buf_free(&tls->null.in[i], &tls->mem);
  }
  zttp_mem_free(&tls->mem, tls->null.tp);
  zttp_mem_free(&tls->mem, tls->null.peer_tp);
}

size_t zttp_tls_null_max_input(void) {
  return NULL_MAX_INPUT;
}

int32_t zttp_tls_null_provide(zttp_tls *tls, uint32_t level,
                              const uint8_t *data, size_t len) {
  /* As BoringSSL: data only at the level being read. */
  if (level != tls->null.read_level || tls->null.state == NULL_START) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_UNEXPECTED_MESSAGE,
                         "CRYPTO data at level %u, expected level %u",
                         (unsigned)level, (unsigned)tls->null.read_level);
  }
  zttp_buf *in = &tls->null.in[level];
  int32_t rv = zttp_buf_reserve(in, &tls->mem, len);
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_UNEXPECTED_MESSAGE,
                         "more than %d bytes of CRYPTO data at level %u",
                         NULL_MAX_INPUT, (unsigned)level);
  }
  if (rv != 0) {
    return rv;
  }
  zttp_buf_put(in, data, len);
  return 0;
}

/* Installs the secret of |dir| at |level| for the negotiated suite. */
static int32_t install(zttp_tls *tls, uint32_t dir, uint32_t level) {
  uint8_t secret[ZTTP_CRYPTO_MAX_SECRET_LEN];
  size_t len = tls->null.cipher == ZTTP_CIPHER_AES_256_GCM_SHA384
                   ? ZTTP_CRYPTO_MAX_SECRET_LEN
                   : ZTTP_CRYPTO_SHA256_LEN;
  uint8_t fill = 0;
  if (tls->backend == ZTTP_TLS_NULL_REAL_CRYPTO) {
    /* Real keys: a different secret per level and sending side, so that
     * a key used in the wrong direction or at the wrong level fails to
     * open. */
    uint32_t sender = dir == ZTTP_TLS_WRITE      ? tls->role
                      : tls->role == ZTTP_CLIENT ? ZTTP_SERVER
                                                 : ZTTP_CLIENT;
    fill = (uint8_t)(0x10 * (level + 1) + (sender == ZTTP_SERVER ? 5 : 3));
  }
  memset(secret, fill, len);
  return zttp_tls_install_secret(tls, dir, level, tls->null.cipher, secret,
                                 len);
}

/* One string of a message body, with a length prefix of |prefix| bytes (1
 * or 2; 0: none, raw bytes). */
typedef struct part {
  const uint8_t *data;
  size_t len;
  size_t prefix;
} part;

/* Queues type | length | body at |level|, the body being |num_parts|
 * strings. */
static int32_t emit(zttp_tls *tls, uint32_t level, uint8_t type,
                    const part *parts, size_t num_parts) {
  size_t body = 0;
  for (size_t i = 0; i < num_parts; i++) {
    body += parts[i].prefix + parts[i].len;
  }
  uint8_t hdr[4] = {type, (uint8_t)(body >> 16), (uint8_t)(body >> 8),
                    (uint8_t)body};
  zttp_buf *out = &tls->out[level];
  int32_t rv = zttp_buf_reserve(out, &tls->mem, sizeof(hdr) + body);
  if (rv == ZTTP_ERR_BUFFER_FULL) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_INTERNAL_ERROR,
                         "handshake message too long");
  }
  if (rv != 0) {
    return rv;
  }
  zttp_buf_put(out, hdr, sizeof(hdr));
  for (size_t i = 0; i < num_parts; i++) {
    uint8_t pre[2] = {(uint8_t)(parts[i].len >> 8), (uint8_t)parts[i].len};
    zttp_buf_put(out, pre + 2 - parts[i].prefix, parts[i].prefix);
    if (parts[i].len != 0) {
      zttp_buf_put(out, parts[i].data, parts[i].len);
    }
  }
  return 0;
}

static int32_t emit_finished(zttp_tls *tls) {
  return emit(tls, ZTTP_TLS_LEVEL_HANDSHAKE, MSG_FINISHED, NULL, 0);
}

/* The server's choice (RFC 8446 §4.1.1, with the server's preference):
 * sets tls->null.cipher and returns the index in suites[], or fails. */
static int32_t choose_suite(zttp_tls *tls, const CBS *offered, int present) {
  uint32_t theirs = ZTTP_TLS_CIPHERS_ALL;
  if (present) {
    /* Unknown code points are ignored, as TLS does. */
    theirs = 0;
    CBS list = *offered;
    uint16_t id;
    while (CBS_get_u16(&list, &id)) {
      for (size_t i = 0; i < NUM_SUITES; i++) {
        if (suites[i].id == id) {
          theirs |= suites[i].bit;
        }
      }
    }
  }
  for (size_t i = 0; i < NUM_SUITES; i++) {
    if ((theirs & tls->ctx->ciphers & suites[i].bit) != 0) {
      tls->null.cipher = suites[i].cipher;
      return (int32_t)i;
    }
  }
  return zttp_tls_fail(tls, ZTTP_TLS_ALERT_HANDSHAKE_FAILURE,
                       "no cipher suite in common with the client");
}

static int32_t keep_peer_tp(zttp_tls *tls, const CBS *tp) {
  if (CBS_len(tp) == 0) {
    /* RFC 9001 §8.2, as BoringSSL answers it. */
    return zttp_tls_fail(tls, ALERT_MISSING_EXTENSION,
                         "no transport parameters from the peer");
  }
  tls->null.peer_tp = zttp_mem_malloc(&tls->mem, CBS_len(tp));
  if (tls->null.peer_tp == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  memcpy(tls->null.peer_tp, CBS_data(tp), CBS_len(tp));
  tls->null.peer_tp_len = CBS_len(tp);
  return 0;
}

/* The server's ClientHello: keep the parameters, pick ALPN, answer. */
static int32_t on_client_hello(zttp_tls *tls, CBS *body) {
  CBS tp;
  CBS alpn;
  CBS offered;
  int present = 0;
  CBS_init(&offered, NULL, 0);
  if (!CBS_get_u16_length_prefixed(body, &tp) ||
      !CBS_get_u16_length_prefixed(body, &alpn)) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_DECODE_ERROR,
                         "malformed ClientHello");
  }
  if (CBS_len(body) != 0) {
    present = 1;
    if (!CBS_get_u8_length_prefixed(body, &offered) || CBS_len(&offered) == 0 ||
        CBS_len(&offered) % 2 != 0) {
      return zttp_tls_fail(tls, ZTTP_TLS_ALERT_DECODE_ERROR,
                           "malformed ClientHello cipher suites");
    }
  }
  if (CBS_len(body) != 0) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_DECODE_ERROR,
                         "malformed ClientHello");
  }
  int32_t chosen = choose_suite(tls, &offered, present);
  if (chosen < 0) {
    return chosen;
  }
  const zttp_tls_ctx *ctx = tls->ctx;
  long i = zttp_tls_alpn_select(ctx->alpn, ctx->alpn_len, CBS_data(&alpn),
                                CBS_len(&alpn));
  if (i < 0) {
    /* RFC 9001 §8.1 */
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_NO_APPLICATION_PROTOCOL,
                         "no ALPN protocol in common with the client");
  }
  int32_t rv = keep_peer_tp(tls, &tp);
  if (rv != 0) {
    return rv;
  }
  tls->null.alpn_len = ctx->alpn[i];
  memcpy(tls->null.alpn, ctx->alpn + i + 1, tls->null.alpn_len);
  uint8_t suite[2] = {(uint8_t)(suites[chosen].id >> 8),
                      (uint8_t)suites[chosen].id};
  const part hello[3] = {{tls->null.tp, tls->null.tp_len, 2},
                         {tls->null.alpn, tls->null.alpn_len, 1},
                         {suite, sizeof(suite), 0}};
  /* BoringSSL's order: HANDSHAKE write, the flight, APPLICATION write
   * (half-RTT), then HANDSHAKE read for the client's Finished. */
  if ((rv = emit(tls, ZTTP_TLS_LEVEL_INITIAL, MSG_SERVER_HELLO, hello,
                 chosen == DEFAULT_SUITE ? 2 : 3)) != 0 ||
      (rv = install(tls, ZTTP_TLS_WRITE, ZTTP_TLS_LEVEL_HANDSHAKE)) != 0 ||
      (rv = emit_finished(tls)) != 0 ||
      (rv = install(tls, ZTTP_TLS_WRITE, ZTTP_TLS_LEVEL_APPLICATION)) != 0 ||
      (rv = install(tls, ZTTP_TLS_READ, ZTTP_TLS_LEVEL_HANDSHAKE)) != 0) {
    return rv;
  }
  tls->null.read_level = ZTTP_TLS_LEVEL_HANDSHAKE;
  tls->null.state = NULL_WAIT_FINISHED;
  return 0;
}

/* The client's ServerHello. */
static int32_t on_server_hello(zttp_tls *tls, CBS *body) {
  CBS tp;
  CBS alpn;
  uint16_t id = suites[DEFAULT_SUITE].id;
  if (!CBS_get_u16_length_prefixed(body, &tp) ||
      !CBS_get_u8_length_prefixed(body, &alpn) || CBS_len(&alpn) == 0 ||
      (CBS_len(body) != 0 && !CBS_get_u16(body, &id)) || CBS_len(body) != 0) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_DECODE_ERROR,
                         "malformed ServerHello");
  }
  /* RFC 8446 §4.1.3: a suite the client did not offer. */
  tls->null.cipher = 0;
  for (size_t i = 0; i < NUM_SUITES; i++) {
    if (suites[i].id == id && (tls->ctx->ciphers & suites[i].bit) != 0) {
      tls->null.cipher = suites[i].cipher;
    }
  }
  if (tls->null.cipher == 0) {
    return zttp_tls_fail(tls, ALERT_ILLEGAL_PARAMETER,
                         "the server selected cipher suite 0x%04x, not offered",
                         (unsigned)id);
  }
  /* The server must pick one of ours (RFC 7301 §3.2). */
  uint8_t one[256];
  one[0] = (uint8_t)CBS_len(&alpn);
  memcpy(one + 1, CBS_data(&alpn), CBS_len(&alpn));
  if (zttp_tls_alpn_select(tls->ctx->alpn, tls->ctx->alpn_len, one,
                           1 + CBS_len(&alpn)) < 0) {
    return zttp_tls_fail(tls, ALERT_ILLEGAL_PARAMETER,
                         "the server selected an ALPN protocol not offered");
  }
  int32_t rv = keep_peer_tp(tls, &tp);
  if (rv != 0) {
    return rv;
  }
  tls->null.alpn_len = CBS_len(&alpn);
  memcpy(tls->null.alpn, CBS_data(&alpn), tls->null.alpn_len);
  if ((rv = install(tls, ZTTP_TLS_WRITE, ZTTP_TLS_LEVEL_HANDSHAKE)) != 0 ||
      (rv = install(tls, ZTTP_TLS_READ, ZTTP_TLS_LEVEL_HANDSHAKE)) != 0) {
    return rv;
  }
  tls->null.read_level = ZTTP_TLS_LEVEL_HANDSHAKE;
  tls->null.state = NULL_WAIT_FINISHED;
  return 0;
}

static int32_t on_finished(zttp_tls *tls, CBS *body) {
  if (CBS_len(body) != 0) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_DECODE_ERROR,
                         "malformed Finished");
  }
  int32_t rv;
  if (tls->role == ZTTP_CLIENT) {
    if ((rv = emit_finished(tls)) != 0 ||
        (rv = install(tls, ZTTP_TLS_WRITE, ZTTP_TLS_LEVEL_APPLICATION)) != 0 ||
        (rv = install(tls, ZTTP_TLS_READ, ZTTP_TLS_LEVEL_APPLICATION)) != 0) {
      return rv;
    }
  } else if ((rv = install(tls, ZTTP_TLS_READ, ZTTP_TLS_LEVEL_APPLICATION)) !=
             0) {
    return rv;
  }
  tls->null.read_level = ZTTP_TLS_LEVEL_APPLICATION;
  tls->null.state = NULL_DONE;
  tls->complete = 1;
  return 0;
}

int32_t zttp_tls_null_handshake(zttp_tls *tls) {
  if (tls->null.state == NULL_START) {
    /* Our allowed suites, only when not all of them. */
    uint8_t offer[2 * NUM_SUITES];
    size_t offer_len = 0;
    for (size_t i = 0; i < NUM_SUITES; i++) {
      if ((tls->ctx->ciphers & suites[i].bit) != 0) {
        offer[offer_len++] = (uint8_t)(suites[i].id >> 8);
        offer[offer_len++] = (uint8_t)suites[i].id;
      }
    }
    const part hello[3] = {{tls->null.tp, tls->null.tp_len, 2},
                           {tls->ctx->alpn, tls->ctx->alpn_len, 2},
                           {offer, offer_len, 1}};
    int32_t rv = emit(tls, ZTTP_TLS_LEVEL_INITIAL, MSG_CLIENT_HELLO, hello,
                      tls->ctx->ciphers == ZTTP_TLS_CIPHERS_ALL ? 2 : 3);
    if (rv != 0) {
      return rv;
    }
    tls->null.state = NULL_WAIT_HELLO;
  }
  while (tls->null.state != NULL_DONE) {
    uint32_t level = tls->null.read_level;
    zttp_buf *in = &tls->null.in[level];
    CBS cbs;
    CBS body;
    uint8_t type;
    CBS_init(&cbs, in->data != NULL ? in->data + in->start : NULL,
             zttp_buf_len(in));
    if (!CBS_get_u8(&cbs, &type) || !CBS_get_u24_length_prefixed(&cbs, &body)) {
      return 0; /* a message is not complete yet */
    }
    uint8_t want = tls->null.state == NULL_WAIT_FINISHED ? MSG_FINISHED
                   : tls->role == ZTTP_CLIENT            ? MSG_SERVER_HELLO
                                                         : MSG_CLIENT_HELLO;
    if (type != want) {
      return zttp_tls_fail(tls, ZTTP_TLS_ALERT_UNEXPECTED_MESSAGE,
                           "unexpected handshake message %u", (unsigned)type);
    }
    int32_t rv = type == MSG_FINISHED       ? on_finished(tls, &body)
                 : type == MSG_SERVER_HELLO ? on_server_hello(tls, &body)
                                            : on_client_hello(tls, &body);
    if (rv != 0) {
      return rv;
    }
    zttp_buf_consume(in, zttp_buf_len(in) - CBS_len(&cbs));
    /* Nothing more may come at a level TLS stopped reading. */
    if (zttp_buf_len(in) != 0) {
      return zttp_tls_fail(tls, ZTTP_TLS_ALERT_UNEXPECTED_MESSAGE,
                           "CRYPTO data after the last message of level %u",
                           (unsigned)level);
    }
  }
  return 1;
}

int32_t zttp_tls_null_post_handshake(zttp_tls *tls) {
  if (zttp_buf_len(&tls->null.in[ZTTP_TLS_LEVEL_APPLICATION]) != 0) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_UNEXPECTED_MESSAGE,
                         "the null TLS has no post-handshake messages");
  }
  return 0;
}
