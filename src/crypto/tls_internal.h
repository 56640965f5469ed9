/* What the two implementations of src/crypto/tls.h share: the layout of
 * zttp_tls_ctx and zttp_tls, the helpers of tls.c that fill the outputs,
 * and the null backend's entry points. Included only by src/crypto/tls*.c.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_CRYPTO_TLS_INTERNAL_H
#define ZTTP_CRYPTO_TLS_INTERNAL_H

#include "crypto/tls.h"

#include "common/buf.h"

/* BoringSSL's types, named only through pointers. */
struct ssl_ctx_st;
struct ssl_st;

#define ZTTP_TLS_CIPHERS_ALL                                                   \
  (ZTTP_TLS_CIPHER_AES_128_GCM_SHA256 | ZTTP_TLS_CIPHER_AES_256_GCM_SHA384 |   \
   ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256)

/* Each level and direction gets at most one secret (BoringSSL calls
 * set_*_secret at most once per level), so this queue never overflows. */
#define ZTTP_TLS_MAX_SECRETS (2 * ZTTP_TLS_NUM_LEVELS)

struct zttp_tls_ctx {
  _Atomic uint32_t refs;
  zttp_mem mem;
  uint32_t backend; /* enum zttp_tls_backend */
  uint32_t role;
  uint32_t ciphers; /* allowed ZTTP_TLS_CIPHER_* bits, never 0 */
  uint32_t verify;  /* client: verify the server's chain and name */
  uint8_t *alpn;    /* wire format, our preference order */
  size_t alpn_len;
  struct ssl_ctx_st *ssl_ctx; /* BoringSSL only */
};

typedef struct zttp_tls_ticket {
  uint8_t *data;
  size_t len;
} zttp_tls_ticket;

struct zttp_tls {
  zttp_mem mem;
  zttp_tls_ctx *ctx;
  uint32_t backend;
  uint32_t role;
  int32_t error; /* sticky: ZTTP_ERR_TLS_HANDSHAKE or ZTTP_ERR_NOMEM */
  int alert;     /* -1: none */
  int nomem;     /* an allocation failed inside a BoringSSL callback */
  int complete;
  int started; /* zttp_tls_handshake was called */
  int cipher_checked;
  uint32_t cipher; /* enum zttp_crypto_cipher of the first secret; 0: none */
  char errmsg[ZTTP_TLS_ERRMSG_MAX];

  zttp_buf out[ZTTP_TLS_NUM_LEVELS]; /* handshake bytes to send */

  zttp_tls_secret secrets[ZTTP_TLS_MAX_SECRETS];
  size_t secret_head;
  size_t num_secrets;

  zttp_tls_ticket tickets[ZTTP_TLS_MAX_TICKETS];
  size_t ticket_head;
  size_t num_tickets;
  zttp_tls_ticket taken; /* handed out by zttp_tls_next_ticket */

  struct ssl_st *ssl; /* BoringSSL only */

  /* The null backend: its own copies of what BoringSSL keeps for us. */
  struct {
    uint32_t state;
    uint32_t read_level;
    zttp_buf in[ZTTP_TLS_NUM_LEVELS];
    uint8_t *tp; /* local transport parameters */
    size_t tp_len;
    uint8_t *peer_tp;
    size_t peer_tp_len;
    uint8_t alpn[255];
    size_t alpn_len;
    uint32_t cipher; /* enum zttp_crypto_cipher negotiated; 0 before */
  } null;
};

/* ---- helpers of tls.c --------------------------------------------------- */

/* zttp_tls_fail records a failure with |alert| (when none is recorded yet)
 * and a printf-style message (when none is recorded yet), and returns
 * ZTTP_ERR_TLS_HANDSHAKE. */
int32_t zttp_tls_fail(zttp_tls *tls, int alert, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* zttp_tls_queue_output appends handshake bytes to send at |level|.
 * Returns 0, ZTTP_ERR_BUFFER_FULL (over ZTTP_TLS_MAX_OUTPUT) or
 * ZTTP_ERR_NOMEM. */
int32_t zttp_tls_queue_output(zttp_tls *tls, uint32_t level,
                              const uint8_t *data, size_t len);

/* zttp_tls_install_secret queues a secret for the transport after checking
 * |cipher| against the allowed set. Returns 0 or ZTTP_ERR_TLS_HANDSHAKE. */
int32_t zttp_tls_install_secret(zttp_tls *tls, uint32_t dir, uint32_t level,
                                uint32_t cipher, const uint8_t *secret,
                                size_t len);

/* zttp_tls_alpn_select picks the first protocol of |ours| (wire format)
 * that |theirs| (wire format) lists. Returns its offset in |ours| (the
 * length byte), or -1 when there is none or either list is malformed. */
long zttp_tls_alpn_select(const uint8_t *ours, size_t ours_len,
                          const uint8_t *theirs, size_t theirs_len);

/* ZTTP_TLS_IS_NULL is true for the backends tls_null.c implements. */
#define ZTTP_TLS_IS_NULL(backend)                                              \
  ((backend) == ZTTP_TLS_NULL || (backend) == ZTTP_TLS_NULL_REAL_CRYPTO)

/* ---- the null backend (tls_null.c) -------------------------------------- */

int32_t zttp_tls_null_init(zttp_tls *tls, const uint8_t *tp, size_t tp_len);
void zttp_tls_null_free(zttp_tls *tls);
int32_t zttp_tls_null_provide(zttp_tls *tls, uint32_t level,
                              const uint8_t *data, size_t len);
size_t zttp_tls_null_max_input(void);
int32_t zttp_tls_null_handshake(zttp_tls *tls);
int32_t zttp_tls_null_post_handshake(zttp_tls *tls);

#endif
