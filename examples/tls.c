/*
 * tls.c: BoringSSL (Debian's android-libboringssl-dev) behind examples/tls.h.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE

#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/base.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "examples/tls.c is written for BoringSSL"
#endif

#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define SYSTEM_CA_DIR "/etc/ssl/certs"

/* RFC 9113 §9.2.2: TLS 1.2 with ephemeral key exchange and an AEAD cipher
 * only. TLS 1.3 suites are not configurable in BoringSSL and all qualify. */
static const char h2_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                 "ECDHE-RSA-AES128-GCM-SHA256:"
                                 "ECDHE-ECDSA-AES256-GCM-SHA384:"
                                 "ECDHE-RSA-AES256-GCM-SHA384:"
                                 "ECDHE-ECDSA-CHACHA20-POLY1305:"
                                 "ECDHE-RSA-CHACHA20-POLY1305";

struct tls_ctx {
  SSL_CTX *ctx;
  int client;
  int insecure;
};

struct tls {
  SSL *ssl;
  char describe[96];
  char err[256];
};

static void queue_error(char *err, size_t errlen, const char *what) {
  unsigned long e = ERR_get_error();
  char msg[160];
  if (e != 0) {
    ERR_error_string_n(e, msg, sizeof(msg));
  } else {
    snprintf(msg, sizeof(msg), "%s", errno != 0 ? strerror(errno) : "failed");
  }
  snprintf(err, errlen, "%s: %s", what, msg);
  ERR_clear_error();
}

/* select_alpn picks h2, then http/1.1, from the client's list (server
 * preference, RFC 7301 §3.2). Without either the handshake goes on without
 * ALPN and the connection speaks HTTP/1.1. */
static int select_alpn(SSL *ssl, const uint8_t **out, uint8_t *outlen,
                       const uint8_t *in, unsigned inlen, void *arg) {
  static const struct {
    const char *name;
    uint8_t len;
  } prefs[] = {{"h2", 2}, {"http/1.1", 8}};
  (void)ssl;
  (void)arg;
  for (size_t p = 0; p < sizeof(prefs) / sizeof(prefs[0]); p++) {
    for (unsigned i = 0; i < inlen;) {
      uint8_t len = in[i];
      if (len == 0 || i + 1u + len > inlen) {
        break;
      }
      if (len == prefs[p].len && memcmp(in + i + 1, prefs[p].name, len) == 0) {
        *out = in + i + 1;
        *outlen = len;
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1u + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *ctx_common(char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (ctx == NULL) {
    queue_error(err, errlen, "SSL_CTX_new");
    return NULL;
  }
  if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set_strict_cipher_list(ctx, h2_ciphers)) {
    queue_error(err, errlen, "TLS settings");
    SSL_CTX_free(ctx);
    return NULL;
  }
  /* zttp_conn_pending() may grow between a short write and its retry. */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

tls_ctx *tls_server_ctx_new(const char *cert_file, const char *key_file,
                            char *err, size_t errlen) {
  tls_ctx *t = calloc(1, sizeof(*t));
  if (t == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  t->ctx = ctx_common(err, errlen);
  if (t->ctx == NULL) {
    free(t);
    return NULL;
  }
  if (SSL_CTX_use_certificate_chain_file(t->ctx, cert_file) != 1) {
    queue_error(err, errlen, cert_file);
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(t->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
    queue_error(err, errlen, key_file);
    goto fail;
  }
  if (SSL_CTX_check_private_key(t->ctx) != 1) {
    queue_error(err, errlen, "the key does not match the certificate");
    goto fail;
  }
  SSL_CTX_set_alpn_select_cb(t->ctx, select_alpn, NULL);
  return t;

fail:
  SSL_CTX_free(t->ctx);
  free(t);
  return NULL;
}

tls_ctx *tls_client_ctx_new(const char *ca_file, int insecure, uint32_t alpn,
                            char *err, size_t errlen) {
  uint8_t protos[16];
  size_t n = 0;
  tls_ctx *t = calloc(1, sizeof(*t));

  if (t == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  t->client = 1;
  t->insecure = insecure;
  t->ctx = ctx_common(err, errlen);
  if (t->ctx == NULL) {
    free(t);
    return NULL;
  }
  if (!insecure) {
    int ok;
    if (ca_file != NULL) {
      ok = SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL);
    } else {
      ok = SSL_CTX_load_verify_locations(
          t->ctx, access(SYSTEM_CA_FILE, R_OK) == 0 ? SYSTEM_CA_FILE : NULL,
          SYSTEM_CA_DIR);
    }
    if (ok != 1) {
      queue_error(err, errlen, ca_file != NULL ? ca_file : SYSTEM_CA_DIR);
      goto fail;
    }
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
  } else {
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
  }
  if (alpn & TLS_ALPN_H2) {
    memcpy(protos + n, "\x02h2", 3);
    n += 3;
  }
  if (alpn & TLS_ALPN_HTTP11) {
    memcpy(protos + n, "\x08http/1.1", 9);
    n += 9;
  }
  /* Unlike most of the API, this returns 0 on success. */
  if (n != 0 && SSL_CTX_set_alpn_protos(t->ctx, protos, n) != 0) {
    queue_error(err, errlen, "ALPN");
    goto fail;
  }
  return t;

fail:
  SSL_CTX_free(t->ctx);
  free(t);
  return NULL;
}

void tls_ctx_free(tls_ctx *ctx) {
  if (ctx == NULL) {
    return;
  }
  SSL_CTX_free(ctx->ctx);
  free(ctx);
}

static int is_ip_literal(const char *name) {
  unsigned char addr[16];
  return inet_pton(AF_INET, name, addr) == 1 ||
         inet_pton(AF_INET6, name, addr) == 1;
}

tls *tls_new(tls_ctx *ctx, int fd, const char *server_name) {
  tls *t = calloc(1, sizeof(*t));
  if (t == NULL) {
    return NULL;
  }
  t->ssl = SSL_new(ctx->ctx);
  if (t->ssl == NULL || !SSL_set_fd(t->ssl, fd)) {
    goto fail;
  }
  if (!ctx->client) {
    SSL_set_accept_state(t->ssl);
    return t;
  }
  SSL_set_connect_state(t->ssl);
  if (server_name != NULL) {
    X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
    if (is_ip_literal(server_name)) {
      /* RFC 6066 §3: no SNI for an address. */
      if (!ctx->insecure &&
          !X509_VERIFY_PARAM_set1_ip_asc(param, server_name)) {
        goto fail;
      }
    } else {
      if (!SSL_set_tlsext_host_name(t->ssl, server_name)) {
        goto fail;
      }
      if (!ctx->insecure && !X509_VERIFY_PARAM_set1_host(param, server_name,
                                                         strlen(server_name))) {
        goto fail;
      }
    }
  }
  return t;

fail:
  ERR_clear_error();
  SSL_free(t->ssl);
  free(t);
  return NULL;
}

void tls_free(tls *t) {
  if (t == NULL) {
    return;
  }
  SSL_free(t->ssl);
  free(t);
}

/* result maps an SSL_get_error() answer to the TLS_* codes, recording the
 * reason of an error. */
static int result(tls *t, int rv) {
  int e = SSL_get_error(t->ssl, rv);
  long verify;
  switch (e) {
  case SSL_ERROR_WANT_READ:
    return TLS_WANT_READ;
  case SSL_ERROR_WANT_WRITE:
    return TLS_WANT_WRITE;
  case SSL_ERROR_ZERO_RETURN:
    return 0;
  case SSL_ERROR_SYSCALL:
    if (ERR_peek_error() == 0) {
      if (rv == 0 || errno == 0) {
        /* EOF without close_notify: many peers just close. HTTP framing
         * (Content-Length, chunked, END_STREAM) still tells a truncated
         * message from a complete one. */
        snprintf(t->err, sizeof(t->err), "connection closed by the peer");
        return 0;
      }
      snprintf(t->err, sizeof(t->err), "%s", strerror(errno));
      return TLS_ERROR;
    }
    break;
  default:
    break;
  }
  verify = SSL_get_verify_result(t->ssl);
  if (verify != X509_V_OK) {
    snprintf(t->err, sizeof(t->err), "certificate verification failed: %s",
             X509_verify_cert_error_string(verify));
  } else {
    queue_error(t->err, sizeof(t->err), "TLS");
  }
  ERR_clear_error();
  return TLS_ERROR;
}

int tls_handshake(tls *t) {
  int rv;
  ERR_clear_error();
  errno = 0;
  rv = SSL_do_handshake(t->ssl);
  if (rv == 1) {
    return 0;
  }
  rv = result(t, rv);
  return rv == 0 ? TLS_ERROR : rv;
}

uint32_t tls_alpn(const tls *t) {
  const uint8_t *p = NULL;
  unsigned len = 0;
  SSL_get0_alpn_selected(t->ssl, &p, &len);
  if (len == 2 && memcmp(p, "h2", 2) == 0) {
    return TLS_ALPN_H2;
  }
  if (len == 8 && memcmp(p, "http/1.1", 8) == 0) {
    return TLS_ALPN_HTTP11;
  }
  return 0;
}

const char *tls_describe(tls *t) {
  const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
  snprintf(t->describe, sizeof(t->describe), "%s %s", SSL_get_version(t->ssl),
           c != NULL ? SSL_CIPHER_get_name(c) : "-");
  return t->describe;
}

ssize_t tls_read(tls *t, void *buf, size_t len) {
  int rv;
  if (len > INT32_MAX) {
    len = INT32_MAX;
  }
  ERR_clear_error();
  errno = 0;
  rv = SSL_read(t->ssl, buf, (int)len);
  if (rv > 0) {
    return rv;
  }
  return result(t, rv);
}

ssize_t tls_write(tls *t, const void *buf, size_t len) {
  int rv;
  if (len == 0) {
    return 0;
  }
  if (len > INT32_MAX) {
    len = INT32_MAX;
  }
  ERR_clear_error();
  errno = 0;
  rv = SSL_write(t->ssl, buf, (int)len);
  if (rv > 0) {
    return rv;
  }
  rv = result(t, rv);
  return rv == 0 ? TLS_ERROR : rv;
}

size_t tls_pending(const tls *t) {
  int n = SSL_pending(t->ssl);
  return n > 0 ? (size_t)n : 0;
}

void tls_shutdown(tls *t) {
  ERR_clear_error();
  /* One call sends close_notify; the peer's is not awaited. */
  (void)SSL_shutdown(t->ssl);
  ERR_clear_error();
}

const char *tls_error(tls *t) {
  return t->err[0] != '\0' ? t->err : "TLS error";
}
