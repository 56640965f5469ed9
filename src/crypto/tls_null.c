/* The null TLS of src/crypto/tls.h, for the fuzzers and the simulator's fast
 * mode: no cryptography and no authentication, but the same level
 * progression as a TLS 1.3 handshake over QUIC (RFC 9001 §4.1.4), so the
 * transport runs the same code paths:
 *
 *   client INITIAL    ClientHello(transport parameters, ALPN list)
 *   server INITIAL    ServerHello(transport parameters, selected ALPN)
 *   server HANDSHAKE  Finished
 *   client HANDSHAKE  Finished
 *
 * Every message is type (1 byte) | length (3 bytes) | body, like a TLS
 * handshake message. Secrets are 32 zero bytes with AES-128-GCM, installed
 * where TLS installs them and in the same order; the transport builds
 * ZTTP_CRYPTO_NULL keys from them (zttp_tls_crypto_backend()).
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

static const uint8_t zero_secret[ZTTP_CRYPTO_SHA256_LEN];

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

static int32_t install(zttp_tls *tls, uint32_t dir, uint32_t level) {
  return zttp_tls_install_secret(tls, dir, level,
                                 ZTTP_CIPHER_AES_128_GCM_SHA256, zero_secret,
                                 sizeof(zero_secret));
}

/* Queues type | length | body at |level|, the body being up to two strings,
 * each with a length prefix of |a_prefix| / |b_prefix| bytes (1 or 2; 0
 * leaves the string out). */
static int32_t emit(zttp_tls *tls, uint32_t level, uint8_t type,
                    const uint8_t *a, size_t a_len, size_t a_prefix,
                    const uint8_t *b, size_t b_len, size_t b_prefix) {
  size_t body = (a_prefix != 0 ? a_prefix + a_len : 0) +
                (b_prefix != 0 ? b_prefix + b_len : 0);
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
  const uint8_t *parts[2] = {a, b};
  size_t lens[2] = {a_len, b_len};
  size_t prefixes[2] = {a_prefix, b_prefix};
  for (size_t i = 0; i < 2; i++) {
    if (prefixes[i] == 0) {
      continue;
    }
    uint8_t pre[2] = {(uint8_t)(lens[i] >> 8), (uint8_t)lens[i]};
    zttp_buf_put(out, prefixes[i] == 2 ? pre : pre + 1, prefixes[i]);
    zttp_buf_put(out, parts[i], lens[i]);
  }
  return 0;
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
  if (!CBS_get_u16_length_prefixed(body, &tp) ||
      !CBS_get_u16_length_prefixed(body, &alpn) || CBS_len(body) != 0) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_DECODE_ERROR,
                         "malformed ClientHello");
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
  /* BoringSSL's order: HANDSHAKE write, the flight, APPLICATION write
   * (half-RTT), then HANDSHAKE read for the client's Finished. */
  if ((rv = emit(tls, ZTTP_TLS_LEVEL_INITIAL, MSG_SERVER_HELLO, tls->null.tp,
                 tls->null.tp_len, 2, tls->null.alpn, tls->null.alpn_len, 1)) !=
          0 ||
      (rv = install(tls, ZTTP_TLS_WRITE, ZTTP_TLS_LEVEL_HANDSHAKE)) != 0 ||
      (rv = emit(tls, ZTTP_TLS_LEVEL_HANDSHAKE, MSG_FINISHED, NULL, 0, 0, NULL,
                 0, 0)) != 0 ||
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
  if (!CBS_get_u16_length_prefixed(body, &tp) ||
      !CBS_get_u8_length_prefixed(body, &alpn) || CBS_len(&alpn) == 0 ||
      CBS_len(body) != 0) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_DECODE_ERROR,
                         "malformed ServerHello");
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
    if ((rv = emit(tls, ZTTP_TLS_LEVEL_HANDSHAKE, MSG_FINISHED, NULL, 0, 0,
                   NULL, 0, 0)) != 0 ||
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
    int32_t rv =
        emit(tls, ZTTP_TLS_LEVEL_INITIAL, MSG_CLIENT_HELLO, tls->null.tp,
             tls->null.tp_len, 2, tls->ctx->alpn, tls->ctx->alpn_len, 2);
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
