/* The TLS 1.3 handshake driver of src/crypto/tls.h: the state both backends
 * share (output queues, secrets, tickets, errors), the context cache, and
 * the BoringSSL backend over its QUIC API (RFC 9001 §4: SSL_QUIC_METHOD's
 * set_read_secret / set_write_secret / add_handshake_data / flush_flight /
 * send_alert, SSL_provide_quic_data, SSL_process_quic_post_handshake). The
 * null backend is tls_null.c.
 *
 * BoringSSL allocates with its own allocator (OPENSSL_malloc): only what
 * zttp keeps (the zttp_tls_ctx and zttp_tls objects, output queues, ticket
 * copies) goes through the zttp allocator. BoringSSL's error queue is
 * thread-local; every path that can leave entries in it clears it, so that
 * one connection's failure never shows up in another's.
 * SPDX-License-Identifier: MIT */
#include "crypto/tls_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ---- shared state ------------------------------------------------------- */

/* Writes a message into |buf| (ZTTP_TLS_ERRMSG_MAX bytes) unless it is
 * NULL. */
static void vmsg(char *buf, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;
static void msg(char *buf, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void vmsg(char *buf, const char *fmt, va_list ap) {
  if (buf != NULL) {
    vsnprintf(buf, ZTTP_TLS_ERRMSG_MAX, fmt, ap);
  }
}

static void msg(char *buf, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(buf, fmt, ap);
  va_end(ap);
}

int32_t zttp_tls_fail(zttp_tls *tls, int alert, const char *fmt, ...) {
  if (tls->alert < 0) {
    tls->alert = alert;
  }
  if (tls->errmsg[0] == '\0') {
    va_list ap;
    va_start(ap, fmt);
    vmsg(tls->errmsg, fmt, ap);
    va_end(ap);
  }
  return ZTTP_ERR_TLS_HANDSHAKE;
}

/* Makes |rv| (a negative result of a handshake step) sticky. An allocation
 * that failed inside a BoringSSL callback wins over the failure BoringSSL
 * made of it. */
static int32_t set_error(zttp_tls *tls, int32_t rv) {
  if (tls->nomem) {
    rv = ZTTP_ERR_NOMEM;
  }
  if (rv == ZTTP_ERR_TLS_HANDSHAKE) {
    if (tls->alert < 0) {
      tls->alert = ZTTP_TLS_ALERT_INTERNAL_ERROR;
    }
    if (tls->errmsg[0] == '\0') {
      msg(tls->errmsg, "TLS handshake failed");
    }
    size_t n = strlen(tls->errmsg);
    snprintf(tls->errmsg + n, sizeof(tls->errmsg) - n, " (alert %d: %s)",
             tls->alert, SSL_alert_desc_string_long(tls->alert));
  } else if (rv == ZTTP_ERR_NOMEM) {
    msg(tls->errmsg, "out of memory");
  }
  tls->error = rv;
  ERR_clear_error();
  return rv;
}

int32_t zttp_tls_queue_output(zttp_tls *tls, uint32_t level,
                              const uint8_t *data, size_t len) {
  zttp_buf *b = &tls->out[level];
  int32_t rv = zttp_buf_reserve(b, &tls->mem, len);
  if (rv != 0) {
    return rv;
  }
  zttp_buf_put(b, data, len);
  return 0;
}

static uint32_t cipher_bit(uint32_t cipher) {
  switch ((enum zttp_crypto_cipher)cipher) {
  case ZTTP_CIPHER_AES_128_GCM_SHA256:
    return ZTTP_TLS_CIPHER_AES_128_GCM_SHA256;
  case ZTTP_CIPHER_AES_256_GCM_SHA384:
    return ZTTP_TLS_CIPHER_AES_256_GCM_SHA384;
  case ZTTP_CIPHER_CHACHA20_POLY1305_SHA256:
    return ZTTP_TLS_CIPHER_CHACHA20_POLY1305_SHA256;
  }
  return 0;
}

static const char *cipher_name(uint32_t cipher) {
  switch ((enum zttp_crypto_cipher)cipher) {
  case ZTTP_CIPHER_AES_128_GCM_SHA256:
    return "TLS_AES_128_GCM_SHA256";
  case ZTTP_CIPHER_AES_256_GCM_SHA384:
    return "TLS_AES_256_GCM_SHA384";
  case ZTTP_CIPHER_CHACHA20_POLY1305_SHA256:
    return "TLS_CHACHA20_POLY1305_SHA256";
  }
  return "?";
}

int32_t zttp_tls_install_secret(zttp_tls *tls, uint32_t dir, uint32_t level,
                                uint32_t cipher, const uint8_t *secret,
                                size_t len) {
  /* The allowed set of zttp_tls_settings.ciphers (see tls.h): BoringSSL
   * cannot be told, so the suite is checked here, before any key exists. */
  if ((tls->ctx->ciphers & cipher_bit(cipher)) == 0) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_HANDSHAKE_FAILURE,
                         "cipher suite %s is not in the allowed set",
                         cipher_name(cipher));
  }
  if (len > ZTTP_CRYPTO_MAX_SECRET_LEN ||
      tls->num_secrets == ZTTP_TLS_MAX_SECRETS) {
    return zttp_tls_fail(tls, ZTTP_TLS_ALERT_INTERNAL_ERROR,
                         "unexpected traffic secret");
  }
  size_t i = (tls->secret_head + tls->num_secrets) % ZTTP_TLS_MAX_SECRETS;
  zttp_tls_secret *s = &tls->secrets[i];
  s->dir = dir;
  s->level = level;
  s->cipher = cipher;
  s->len = len;
  memcpy(s->secret, secret, len);
  tls->num_secrets++;
  if (tls->cipher == 0) {
    tls->cipher = cipher;
  }
  return 0;
}

/* Checks a wire-format ALPN list: 1..65535 bytes of non-empty names. */
static int alpn_list_valid(const uint8_t *p, size_t len) {
  if (p == NULL || len == 0 || len > 65535) {
    return 0;
  }
  for (size_t i = 0; i < len; i += 1 + (size_t)p[i]) {
    if (p[i] == 0 || p[i] > len - i - 1) {
      return 0;
    }
  }
  return 1;
}

long zttp_tls_alpn_select(const uint8_t *ours, size_t ours_len,
                          const uint8_t *theirs, size_t theirs_len) {
  if (!alpn_list_valid(ours, ours_len) ||
      !alpn_list_valid(theirs, theirs_len)) {
    return -1;
  }
  /* RFC 7301 §3.2: the server's preference decides. */
  for (size_t i = 0; i < ours_len; i += 1 + (size_t)ours[i]) {
    for (size_t j = 0; j < theirs_len; j += 1 + (size_t)theirs[j]) {
      if (theirs[j] == ours[i] &&
          memcmp(ours + i + 1, theirs + j + 1, ours[i]) == 0) {
        return (long)i;
      }
    }
  }
  return -1;
}

/* A ticket holds a resumption secret: wiped before it is freed. */
static void free_ticket(zttp_tls *tls, zttp_tls_ticket *t) {
  if (t->data != NULL) {
    OPENSSL_cleanse(t->data, t->len);
    zttp_mem_free(&tls->mem, t->data);
  }
  t->data = NULL;
  t->len = 0;
}

static int32_t push_ticket(zttp_tls *tls, const uint8_t *data, size_t len) {
  uint8_t *copy = zttp_mem_malloc(&tls->mem, len);
  if (copy == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  memcpy(copy, data, len);
  if (tls->num_tickets == ZTTP_TLS_MAX_TICKETS) {
    /* Keep the newest: a server sends fresh tickets to replace old ones. */
    free_ticket(tls, &tls->tickets[tls->ticket_head]);
    tls->ticket_head = (tls->ticket_head + 1) % ZTTP_TLS_MAX_TICKETS;
    tls->num_tickets--;
  }
  size_t i = (tls->ticket_head + tls->num_tickets) % ZTTP_TLS_MAX_TICKETS;
  tls->tickets[i].data = copy;
  tls->tickets[i].len = len;
  tls->num_tickets++;
  return 0;
}

/* ---- BoringSSL: the QUIC method ----------------------------------------- */

static zttp_tls *tls_of(const SSL *ssl) {
  return SSL_get_app_data(ssl);
}

static uint32_t level_of(enum ssl_encryption_level_t level) {
  switch (level) {
  case ssl_encryption_initial:
    return ZTTP_TLS_LEVEL_INITIAL;
  case ssl_encryption_early_data:
    return ZTTP_TLS_LEVEL_EARLY_DATA;
  case ssl_encryption_handshake:
    return ZTTP_TLS_LEVEL_HANDSHAKE;
  case ssl_encryption_application:
    return ZTTP_TLS_LEVEL_APPLICATION;
  }
  return ZTTP_TLS_LEVEL_INITIAL;
}

static enum ssl_encryption_level_t ssl_level(uint32_t level) {
  switch ((enum zttp_tls_level)level) {
  case ZTTP_TLS_LEVEL_INITIAL:
    return ssl_encryption_initial;
  case ZTTP_TLS_LEVEL_EARLY_DATA:
    return ssl_encryption_early_data;
  case ZTTP_TLS_LEVEL_HANDSHAKE:
    return ssl_encryption_handshake;
  case ZTTP_TLS_LEVEL_APPLICATION:
    return ssl_encryption_application;
  }
  return ssl_encryption_initial;
}

static int set_secret(SSL *ssl, uint32_t dir, enum ssl_encryption_level_t level,
                      const SSL_CIPHER *cipher, const uint8_t *secret,
                      size_t len) {
  zttp_tls *tls = tls_of(ssl);
  uint32_t c;
  /* RFC 9001 §5.3: the AEAD of the negotiated suite. */
  switch (SSL_CIPHER_get_protocol_id(cipher)) {
  case 0x1301:
    c = ZTTP_CIPHER_AES_128_GCM_SHA256;
    break;
  case 0x1302:
    c = ZTTP_CIPHER_AES_256_GCM_SHA384;
    break;
  case 0x1303:
    c = ZTTP_CIPHER_CHACHA20_POLY1305_SHA256;
    break;
  default:
    zttp_tls_fail(tls, ZTTP_TLS_ALERT_INTERNAL_ERROR,
                  "cipher suite 0x%04x is not a QUIC suite",
                  SSL_CIPHER_get_protocol_id(cipher));
    return 0;
  }
  return zttp_tls_install_secret(tls, dir, level_of(level), c, secret, len) ==
         0;
}

static int set_read_secret(SSL *ssl, enum ssl_encryption_level_t level,
                           const SSL_CIPHER *cipher, const uint8_t *secret,
                           size_t len) {
  return set_secret(ssl, ZTTP_TLS_READ, level, cipher, secret, len);
}

static int set_write_secret(SSL *ssl, enum ssl_encryption_level_t level,
                            const SSL_CIPHER *cipher, const uint8_t *secret,
                            size_t len) {
  return set_secret(ssl, ZTTP_TLS_WRITE, level, cipher, secret, len);
}

static int add_handshake_data(SSL *ssl, enum ssl_encryption_level_t level,
                              const uint8_t *data, size_t len) {
  zttp_tls *tls = tls_of(ssl);
  int32_t rv = zttp_tls_queue_output(tls, level_of(level), data, len);
  if (rv == ZTTP_ERR_NOMEM) {
    tls->nomem = 1;
  } else if (rv != 0) {
    zttp_tls_fail(tls, ZTTP_TLS_ALERT_INTERNAL_ERROR,
                  "more than %d bytes of handshake output at one level",
                  ZTTP_TLS_MAX_OUTPUT);
  }
  return rv == 0;
}

static int flush_flight(SSL *ssl) {
  /* The transport polls zttp_tls_pending() after every call. */
  (void)ssl;
  return 1;
}

static int send_alert(SSL *ssl, enum ssl_encryption_level_t level,
                      uint8_t alert) {
  /* RFC 9001 §4.8: the transport sends it as CRYPTO_ERROR 0x100 + alert in
   * CONNECTION_CLOSE, at whatever level it can. */
  (void)level;
  zttp_tls *tls = tls_of(ssl);
  if (tls->alert < 0) {
    tls->alert = alert;
  }
  return 1;
}

static const SSL_QUIC_METHOD quic_method = {
    set_read_secret, set_write_secret, add_handshake_data,
    flush_flight,    send_alert,
};

static int new_session(SSL *ssl, SSL_SESSION *session) {
  zttp_tls *tls = tls_of(ssl);
  uint8_t *bytes = NULL;
  size_t len = 0;
  if (!SSL_SESSION_to_bytes(session, &bytes, &len)) {
    ERR_clear_error();
    return 0;
  }
  if (len <= ZTTP_TLS_MAX_TICKET_LEN &&
      push_ticket(tls, bytes, len) == ZTTP_ERR_NOMEM) {
    tls->nomem = 1;
  }
  OPENSSL_free(bytes);
  return 0; /* we keep the serialized copy, not |session| */
}

static int select_alpn(SSL *ssl, const uint8_t **out, uint8_t *out_len,
                       const uint8_t *in, unsigned in_len, void *arg) {
  const zttp_tls_ctx *ctx = arg;
  long i = zttp_tls_alpn_select(ctx->alpn, ctx->alpn_len, in, in_len);
  if (i < 0) {
    /* RFC 9001 §8.1: no_application_protocol. */
    zttp_tls_fail(tls_of(ssl), ZTTP_TLS_ALERT_NO_APPLICATION_PROTOCOL,
                  "no ALPN protocol in common with the client");
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = ctx->alpn + i + 1;
  *out_len = ctx->alpn[i];
  return SSL_TLSEXT_ERR_OK;
}

/* ---- BoringSSL: contexts ------------------------------------------------ */

/* Records "|what| |name|: <BoringSSL's reason>" and returns
 * ZTTP_ERR_TLS_CONFIG. */
static int32_t config_error(char *errmsg, const char *what, const char *name) {
  /* The last error is the most general ("system library"); a system error
   * (a file that cannot be opened) says more. */
  uint32_t last = 0;
  uint32_t sys = 0;
  for (uint32_t e; (e = ERR_get_error()) != 0;) {
    if (ERR_GET_LIB(e) == ERR_LIB_SYS && sys == 0) {
      sys = e;
    }
    last = e;
  }
  const char *reason = last != 0 ? ERR_reason_error_string(last) : NULL;
  if (sys != 0) {
    reason = strerror(ERR_GET_REASON(sys));
  } else if (ERR_GET_LIB(last) == ERR_LIB_X509 &&
             ERR_GET_REASON(last) == X509_R_KEY_VALUES_MISMATCH) {
    reason = "the private key does not match the certificate";
  }
  msg(errmsg, "%s%s%s: %s", what, name != NULL ? " " : "",
      name != NULL ? name : "", reason != NULL ? reason : "refused");
  return ZTTP_ERR_TLS_CONFIG;
}

/* The certificate chain (leaf first) and key from in-memory PEM. */
static int32_t use_cert_key_pem(SSL_CTX *c, const zttp_tls_settings *s,
                                char *errmsg) {
  if (s->cert_pem_len > (size_t)INT32_MAX ||
      s->key_pem_len > (size_t)INT32_MAX) {
    msg(errmsg, "PEM too long");
    return ZTTP_ERR_TLS_CONFIG;
  }
  int32_t rv = ZTTP_ERR_TLS_CONFIG;
  BIO *bio = BIO_new_mem_buf(s->cert_pem, (int)s->cert_pem_len);
  if (bio == NULL) {
    ERR_clear_error();
    return ZTTP_ERR_NOMEM;
  }
  X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  if (x == NULL) {
    rv = config_error(errmsg, "no certificate in the certificate PEM", NULL);
    goto fail_bio;
  }
  int ok = SSL_CTX_use_certificate(c, x);
  X509_free(x);
  if (!ok) {
    rv = config_error(errmsg, "certificate refused", NULL);
    goto fail_bio;
  }
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (!SSL_CTX_add0_chain_cert(c, x)) {
      X509_free(x);
      rv = config_error(errmsg, "chain certificate refused", NULL);
      goto fail_bio;
    }
  }
  /* The loop ends at the end of the text (no more PEM) or at a block that
   * does not parse. */
  uint32_t e = ERR_peek_last_error();
  if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
      ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
    rv = config_error(errmsg, "bad certificate in the certificate PEM", NULL);
    goto fail_bio;
  }
  ERR_clear_error();
  BIO_free(bio);

  bio = BIO_new_mem_buf(s->key_pem, (int)s->key_pem_len);
  if (bio == NULL) {
    ERR_clear_error();
    return ZTTP_ERR_NOMEM;
  }
  EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  if (key == NULL) {
    rv = config_error(errmsg, "no private key in the key PEM", NULL);
    goto fail_bio;
  }
  ok = SSL_CTX_use_PrivateKey(c, key);
  EVP_PKEY_free(key);
  if (!ok) {
    rv = config_error(errmsg, "private key refused", NULL);
    goto fail_bio;
  }
  rv = 0;
fail_bio:
  BIO_free(bio);
  return rv;
}

static int32_t use_cert_key(SSL_CTX *c, const zttp_tls_settings *s,
                            char *errmsg) {
  if (s->cert_file != NULL && s->key_file != NULL) {
    if (!SSL_CTX_use_certificate_chain_file(c, s->cert_file)) {
      return config_error(errmsg, "cannot load the certificate chain",
                          s->cert_file);
    }
    if (!SSL_CTX_use_PrivateKey_file(c, s->key_file, SSL_FILETYPE_PEM)) {
      return config_error(errmsg, "cannot load the private key", s->key_file);
    }
  } else if (s->cert_pem != NULL && s->key_pem != NULL) {
    int32_t rv = use_cert_key_pem(c, s, errmsg);
    if (rv != 0) {
      return rv;
    }
  } else {
    msg(errmsg, "a server needs a certificate and key");
    return ZTTP_ERR_TLS_CONFIG;
  }
  if (!SSL_CTX_check_private_key(c)) {
    return config_error(errmsg,
                        "the private key does not match the "
                        "certificate",
                        NULL);
  }
  return 0;
}

static int32_t ssl_ctx_init(zttp_tls_ctx *ctx, const zttp_tls_settings *s,
                            char *errmsg) {
  SSL_CTX *c = SSL_CTX_new(TLS_method());
  if (c == NULL) {
    ERR_clear_error();
    return ZTTP_ERR_NOMEM;
  }
  int32_t rv = ZTTP_ERR_NOMEM;
  if (!SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) ||
      !SSL_CTX_set_quic_method(c, &quic_method)) {
    goto fail_ctx;
  }
  if (s->groups != NULL && !SSL_CTX_set1_curves_list(c, s->groups)) {
    rv = config_error(errmsg, "unknown group in", s->groups);
    goto fail_ctx;
  }
  if (ctx->role == ZTTP_SERVER) {
    rv = use_cert_key(c, s, errmsg);
    if (rv != 0) {
      goto fail_ctx;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_alpn_select_cb(c, select_alpn, ctx);
    /* TLS 1.3 resumption uses tickets only (stateless, sealed with keys
     * BoringSSL makes per SSL_CTX and rotates): no server-side cache that
     * would grow with every client. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER |
                                          SSL_SESS_CACHE_NO_INTERNAL);
  } else {
    if (ctx->verify) {
      int ok = s->ca_file != NULL || s->ca_dir != NULL
                   ? SSL_CTX_load_verify_locations(c, s->ca_file, s->ca_dir)
                   : SSL_CTX_set_default_verify_paths(c);
      if (!ok) {
        rv = config_error(errmsg, "cannot load the CA store",
                          s->ca_file != NULL ? s->ca_file : s->ca_dir);
        goto fail_ctx;
      }
    }
    SSL_CTX_set_verify(c, ctx->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       NULL);
    /* Returns 0 on success (tls.h: ALPN is required in QUIC). */
    if (SSL_CTX_set_alpn_protos(c, ctx->alpn, (unsigned)ctx->alpn_len) != 0) {
      goto fail_ctx;
    }
    /* Clients never use BoringSSL's internal cache; this turns on the
     * new-session callback that turns tickets into zttp_tls_next_ticket. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(c, new_session);
  }
  ctx->ssl_ctx = c;
  return 0;
fail_ctx:
  SSL_CTX_free(c);
  ERR_clear_error();
  return rv;
}

int32_t zttp_tls_ctx_new(zttp_tls_ctx **out, const zttp_mem *mem,
                         const zttp_tls_settings *s, uint32_t role,
                         char *errmsg) {
  msg(errmsg, "%s", "");
  if (out == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (mem == NULL || s == NULL ||
      (role != ZTTP_SERVER && role != ZTTP_CLIENT) ||
      (s->backend != ZTTP_TLS_BORINGSSL && !ZTTP_TLS_IS_NULL(s->backend)) ||
      (s->ciphers & ~(uint32_t)ZTTP_TLS_CIPHERS_ALL) != 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (!alpn_list_valid(s->alpn, s->alpn_len)) {
    msg(errmsg, "QUIC needs an ALPN list of non-empty names");
    return ZTTP_ERR_TLS_CONFIG;
  }
  zttp_tls_ctx *ctx = zttp_mem_calloc(mem, 1, sizeof(*ctx));
  if (ctx == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  atomic_init(&ctx->refs, 1);
  ctx->mem = *mem;
  ctx->backend = s->backend;
  ctx->role = role;
  ctx->verify = role == ZTTP_CLIENT && !s->insecure_no_verify;
  /* BoringSSL checks it when secrets are installed; the null TLS also
   * negotiates with it (tls_null.c). */
  ctx->ciphers = s->ciphers != 0 ? s->ciphers : ZTTP_TLS_CIPHERS_ALL;
  ctx->alpn = zttp_mem_malloc(mem, s->alpn_len);
  if (ctx->alpn == NULL) {
    goto fail_ctx;
  }
  memcpy(ctx->alpn, s->alpn, s->alpn_len);
  ctx->alpn_len = s->alpn_len;
  if (s->backend == ZTTP_TLS_BORINGSSL) {
    int32_t rv = ssl_ctx_init(ctx, s, errmsg);
    if (rv != 0) {
      zttp_mem_free(mem, ctx->alpn);
      zttp_mem_free(mem, ctx);
      return rv;
    }
  }
  *out = ctx;
  return 0;
fail_ctx:
  zttp_mem_free(mem, ctx);
  return ZTTP_ERR_NOMEM;
}

zttp_tls_ctx *zttp_tls_ctx_ref(zttp_tls_ctx *ctx) {
  atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
  return ctx;
}

void zttp_tls_ctx_unref(zttp_tls_ctx *ctx) {
  if (ctx == NULL ||
      atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1) {
    return;
  }
  SSL_CTX_free(ctx->ssl_ctx);
  zttp_mem mem = ctx->mem;
  zttp_mem_free(&mem, ctx->alpn);
  zttp_mem_free(&mem, ctx);
}

uint32_t zttp_tls_ctx_role(const zttp_tls_ctx *ctx) {
  return ctx->role;
}

void zttp_tls_wipe(void *p, size_t len) {
  if (p != NULL) {
    OPENSSL_cleanse(p, len);
  }
}

int zttp_tls_groups_valid(const char *groups) {
  SSL_CTX *c = SSL_CTX_new(TLS_method());
  int ok = c != NULL && SSL_CTX_set1_curves_list(c, groups);
  SSL_CTX_free(c);
  ERR_clear_error();
  return ok;
}

int32_t zttp_tls_cache_get(zttp_tls_ctx **out, const zttp_tls_cache *cache,
                           const zttp_mem *mem, const zttp_tls_settings *s,
                           uint32_t role, char *errmsg) {
  if (out == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (cache == NULL || (role != ZTTP_SERVER && role != ZTTP_CLIENT)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  /* The cache is the mutable part of a const config (see tls.h); the
   * config itself was allocated writable. */
  zttp_tls_cache *c = (zttp_tls_cache *)(uintptr_t)cache;
  zttp_tls_ctx *cur = atomic_load_explicit(&c->ctx[role], memory_order_acquire);
  if (cur == NULL) {
    zttp_tls_ctx *fresh = NULL;
    int32_t rv = zttp_tls_ctx_new(&fresh, mem, s, role, errmsg);
    if (rv != 0) {
      return rv;
    }
    /* Another thread may have built one meanwhile: keep the first. */
    if (atomic_compare_exchange_strong_explicit(&c->ctx[role], &cur, fresh,
                                                memory_order_acq_rel,
                                                memory_order_acquire)) {
      cur = fresh;
    } else {
      zttp_tls_ctx_unref(fresh);
    }
  }
  *out = zttp_tls_ctx_ref(cur);
  return 0;
}

void zttp_tls_cache_clear(zttp_tls_cache *cache) {
  for (size_t i = 0; i < 2; i++) {
    zttp_tls_ctx_unref(atomic_exchange(&cache->ctx[i], NULL));
  }
}

/* ---- BoringSSL: one connection ------------------------------------------ */

static int32_t ssl_init(zttp_tls *tls, const char *server_name, size_t len,
                        const uint8_t *tp, size_t tp_len, char *errmsg) {
  const zttp_tls_ctx *ctx = tls->ctx;
  if (ctx->role == ZTTP_CLIENT && server_name == NULL && ctx->verify) {
    msg(errmsg, "verifying the server's certificate needs a server name");
    return ZTTP_ERR_TLS_CONFIG;
  }
  SSL *ssl = SSL_new(ctx->ssl_ctx);
  if (ssl == NULL) {
    ERR_clear_error();
    return ZTTP_ERR_NOMEM;
  }
  if (!SSL_set_app_data(ssl, tls) ||
      !SSL_set_quic_transport_params(ssl, tp, tp_len)) {
    goto fail_ssl;
  }
  if (ctx->role == ZTTP_SERVER) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    if (server_name != NULL) {
      char name[256];
      memcpy(name, server_name, len);
      name[len] = '\0';
      /* An IP literal is matched against the certificate's IP addresses and
       * is never sent in SNI (RFC 6066 §3); anything else is a DNS name. */
      if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)) {
        ERR_clear_error();
        if (!SSL_set_tlsext_host_name(ssl, name) ||
            (ctx->verify && !SSL_set1_host(ssl, name))) {
          goto fail_ssl;
        }
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      }
    }
  }
  tls->ssl = ssl;
  return 0;
fail_ssl:
  SSL_free(ssl);
  ERR_clear_error();
  return ZTTP_ERR_NOMEM;
}

int32_t zttp_tls_new(zttp_tls **out, zttp_tls_ctx *ctx, const zttp_mem *mem,
                     const char *server_name, size_t server_name_len,
                     const uint8_t *tp, size_t tp_len, char *errmsg) {
  msg(errmsg, "%s", "");
  if (out == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  /* QUIC always sends transport parameters (RFC 9001 §8.2); BoringSSL
   * refuses to start without them. */
  if (ctx == NULL || mem == NULL || tp == NULL || tp_len == 0 ||
      (server_name == NULL && server_name_len != 0) ||
      (server_name != NULL &&
       (server_name_len == 0 || server_name_len > 255 ||
        memchr(server_name, 0, server_name_len) != NULL))) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_tls *tls = zttp_mem_calloc(mem, 1, sizeof(*tls));
  if (tls == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  tls->mem = *mem;
  tls->ctx = ctx;
  tls->backend = ctx->backend;
  tls->role = ctx->role;
  tls->alert = -1;
  for (size_t i = 0; i < ZTTP_TLS_NUM_LEVELS; i++) {
    zttp_buf_init(&tls->out[i], ZTTP_TLS_MAX_OUTPUT);
  }
  int32_t rv =
      ZTTP_TLS_IS_NULL(tls->backend)
          ? zttp_tls_null_init(tls, tp, tp_len)
          : ssl_init(tls, server_name, server_name_len, tp, tp_len, errmsg);
  if (rv != 0) {
    zttp_mem_free(mem, tls);
    return rv;
  }
  zttp_tls_ctx_ref(ctx);
  *out = tls;
  return 0;
}

void zttp_tls_free(zttp_tls *tls) {
  if (tls == NULL) {
    return;
  }
  SSL_free(tls->ssl);
  zttp_tls_null_free(tls);
  for (size_t i = 0; i < ZTTP_TLS_NUM_LEVELS; i++) {
    zttp_buf_free(&tls->out[i], &tls->mem);
  }
  for (size_t i = 0; i < tls->num_tickets; i++) {
    free_ticket(tls,
                &tls->tickets[(tls->ticket_head + i) % ZTTP_TLS_MAX_TICKETS]);
  }
  free_ticket(tls, &tls->taken);
  OPENSSL_cleanse(tls->secrets, sizeof(tls->secrets));
  zttp_tls_ctx_unref(tls->ctx);
  zttp_mem mem = tls->mem;
  zttp_mem_free(&mem, tls);
}

uint32_t zttp_tls_crypto_backend(const zttp_tls *tls) {
  return tls->backend == ZTTP_TLS_NULL ? ZTTP_CRYPTO_NULL
                                       : ZTTP_CRYPTO_BORINGSSL;
}

uint32_t zttp_tls_cipher(const zttp_tls *tls) {
  return tls->cipher;
}

/* Records BoringSSL's failure of |what|: the certificate verification
 * result when that is what failed, else the library's reason. */
static int32_t ssl_failure(zttp_tls *tls, const char *what) {
  uint32_t e = ERR_peek_error();
  if (tls->errmsg[0] == '\0') {
    long v = SSL_get_verify_result(tls->ssl);
    if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
        ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
        v != X509_V_OK) {
      msg(tls->errmsg, "certificate verification failed: %s",
          X509_verify_cert_error_string(v));
    } else {
      const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
      msg(tls->errmsg, "%s failed: %s", what,
          reason != NULL ? reason : "unknown reason");
    }
  }
  return set_error(tls, ZTTP_ERR_TLS_HANDSHAKE);
}

int32_t zttp_tls_provide(zttp_tls *tls, uint32_t level, const uint8_t *data,
                         size_t len) {
  if (tls == NULL || level >= ZTTP_TLS_NUM_LEVELS ||
      (data == NULL && len != 0)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (tls->error != 0) {
    return tls->error;
  }
  if (len == 0) {
    return 0;
  }
  if (ZTTP_TLS_IS_NULL(tls->backend)) {
    int32_t rv = zttp_tls_null_provide(tls, level, data, len);
    return rv < 0 ? set_error(tls, rv) : rv;
  }
  if (!SSL_provide_quic_data(tls->ssl, ssl_level(level), data, len)) {
    /* Data at a level TLS does not read now, or more than
     * zttp_tls_max_input(). */
    if (tls->alert < 0) {
      tls->alert = ZTTP_TLS_ALERT_UNEXPECTED_MESSAGE;
    }
    return ssl_failure(tls, "CRYPTO data");
  }
  return 0;
}

size_t zttp_tls_max_input(const zttp_tls *tls, uint32_t level) {
  if (ZTTP_TLS_IS_NULL(tls->backend)) {
    return zttp_tls_null_max_input();
  }
  return SSL_quic_max_handshake_flight_len(tls->ssl, ssl_level(level));
}

static int32_t ssl_handshake(zttp_tls *tls) {
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(tls->ssl);
    if (r == 1) {
      /* With 0-RTT, BoringSSL returns as soon as early (client) or half-RTT
       * (server) data may flow; the handshake goes on. */
      if (SSL_in_early_data(tls->ssl)) {
        return 0;
      }
      tls->complete = 1;
      return 1;
    }
    switch (SSL_get_error(tls->ssl, r)) {
    case SSL_ERROR_WANT_READ:
      return 0;
    case SSL_ERROR_EARLY_DATA_REJECTED:
      /* RFC 9001 §4.6.2: the server rejected 0-RTT; the transport drops the
       * EARLY_DATA keys when the HANDSHAKE ones arrive. */
      SSL_reset_early_data_reject(tls->ssl);
      continue;
    default:
      return ssl_failure(tls, "TLS handshake");
    }
  }
}

int32_t zttp_tls_handshake(zttp_tls *tls) {
  if (tls == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (tls->error != 0) {
    return tls->error;
  }
  tls->started = 1;
  if (tls->complete) {
    int32_t rv = zttp_tls_process_post_handshake(tls);
    return rv < 0 ? rv : 1;
  }
  if (ZTTP_TLS_IS_NULL(tls->backend)) {
    int32_t rv = zttp_tls_null_handshake(tls);
    return rv < 0 ? set_error(tls, rv) : rv;
  }
  return ssl_handshake(tls);
}

int32_t zttp_tls_process_post_handshake(zttp_tls *tls) {
  if (tls == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (tls->error != 0) {
    return tls->error;
  }
  if (!tls->complete) {
    return ZTTP_ERR_INVALID_STATE;
  }
  if (ZTTP_TLS_IS_NULL(tls->backend)) {
    int32_t rv = zttp_tls_null_post_handshake(tls);
    return rv < 0 ? set_error(tls, rv) : rv;
  }
  ERR_clear_error();
  if (!SSL_process_quic_post_handshake(tls->ssl)) {
    return ssl_failure(tls, "post-handshake message");
  }
  if (tls->nomem) {
    return set_error(tls, ZTTP_ERR_NOMEM);
  }
  return 0;
}

int zttp_tls_is_complete(const zttp_tls *tls) {
  return tls->complete;
}

/* ---- outputs ------------------------------------------------------------ */

size_t zttp_tls_pending(const zttp_tls *tls, uint32_t level,
                        const uint8_t **out) {
  *out = NULL;
  if (level >= ZTTP_TLS_NUM_LEVELS) {
    return 0;
  }
  const zttp_buf *b = &tls->out[level];
  size_t n = zttp_buf_len(b);
  if (n != 0) {
    *out = b->data + b->start;
  }
  return n;
}

void zttp_tls_consume(zttp_tls *tls, uint32_t level, size_t len) {
  if (level < ZTTP_TLS_NUM_LEVELS && len <= zttp_buf_len(&tls->out[level])) {
    zttp_buf_consume(&tls->out[level], len);
  }
}

int zttp_tls_next_secret(zttp_tls *tls, zttp_tls_secret *out) {
  if (tls->num_secrets == 0) {
    return 0;
  }
  zttp_tls_secret *s = &tls->secrets[tls->secret_head];
  *out = *s;
  OPENSSL_cleanse(s, sizeof(*s));
  tls->secret_head = (tls->secret_head + 1) % ZTTP_TLS_MAX_SECRETS;
  tls->num_secrets--;
  return 1;
}

int zttp_tls_alert(const zttp_tls *tls) {
  return tls->alert;
}

const char *zttp_tls_error_message(const zttp_tls *tls) {
  return tls->errmsg;
}

size_t zttp_tls_peer_transport_params(const zttp_tls *tls,
                                      const uint8_t **out) {
  if (ZTTP_TLS_IS_NULL(tls->backend)) {
    *out = tls->null.peer_tp;
    return tls->null.peer_tp_len;
  }
  size_t len = 0;
  *out = NULL;
  SSL_get_peer_quic_transport_params(tls->ssl, out, &len);
  return len;
}

size_t zttp_tls_alpn(const zttp_tls *tls, const uint8_t **out) {
  if (ZTTP_TLS_IS_NULL(tls->backend)) {
    *out = tls->null.alpn_len != 0 ? tls->null.alpn : NULL;
    return tls->null.alpn_len;
  }
  unsigned len = 0;
  *out = NULL;
  SSL_get0_alpn_selected(tls->ssl, out, &len);
  return len;
}

size_t zttp_tls_next_ticket(zttp_tls *tls, const uint8_t **out) {
  free_ticket(tls, &tls->taken);
  *out = NULL;
  if (tls->num_tickets == 0) {
    return 0;
  }
  tls->taken = tls->tickets[tls->ticket_head];
  tls->ticket_head = (tls->ticket_head + 1) % ZTTP_TLS_MAX_TICKETS;
  tls->num_tickets--;
  *out = tls->taken.data;
  return tls->taken.len;
}

size_t zttp_tls_server_name(const zttp_tls *tls, const char **out) {
  *out = NULL;
  if (tls->backend == ZTTP_TLS_BORINGSSL && tls->role == ZTTP_SERVER) {
    *out = SSL_get_servername(tls->ssl, TLSEXT_NAMETYPE_host_name);
  }
  return *out != NULL ? strlen(*out) : 0;
}

int zttp_tls_session_reused(const zttp_tls *tls) {
  return tls->backend == ZTTP_TLS_BORINGSSL && SSL_session_reused(tls->ssl);
}

/* ---- resumption and 0-RTT hooks ----------------------------------------- */

int32_t zttp_tls_set_session(zttp_tls *tls, const uint8_t *ticket, size_t len) {
  if (tls == NULL || ticket == NULL || len == 0) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (tls->role != ZTTP_CLIENT || tls->started) {
    return ZTTP_ERR_INVALID_STATE;
  }
  if (ZTTP_TLS_IS_NULL(tls->backend)) {
    return 0;
  }
  SSL_SESSION *session = SSL_SESSION_from_bytes(ticket, len, tls->ctx->ssl_ctx);
  if (session == NULL) {
    ERR_clear_error();
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  int ok = SSL_set_session(tls->ssl, session);
  SSL_SESSION_free(session);
  ERR_clear_error();
  return ok ? 0 : ZTTP_ERR_NOMEM;
}

int32_t zttp_tls_enable_early_data(zttp_tls *tls) {
  if (tls == NULL) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (tls->started) {
    return ZTTP_ERR_INVALID_STATE;
  }
  if (tls->backend == ZTTP_TLS_BORINGSSL) {
    SSL_set_early_data_enabled(tls->ssl, 1);
  }
  return 0;
}

int32_t zttp_tls_set_early_data_context(zttp_tls *tls, const uint8_t *context,
                                        size_t len) {
  if (tls == NULL || (context == NULL && len != 0)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  if (tls->role != ZTTP_SERVER || tls->started) {
    return ZTTP_ERR_INVALID_STATE;
  }
  if (tls->backend == ZTTP_TLS_BORINGSSL &&
      !SSL_set_quic_early_data_context(tls->ssl, context, len)) {
    ERR_clear_error();
    return ZTTP_ERR_NOMEM;
  }
  return 0;
}

int zttp_tls_early_data_accepted(const zttp_tls *tls) {
  return tls->backend == ZTTP_TLS_BORINGSSL &&
         SSL_early_data_accepted(tls->ssl);
}
