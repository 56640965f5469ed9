/*
 * tls.h: the small BoringSSL wrapper the example programs share (TLS over a
 * non-blocking TCP socket, ALPN h2 / http/1.1). zttp itself never sees TLS on
 * HTTP/1.1 and HTTP/2: the programs hand it the plaintext.
 *
 * This header names no BoringSSL type, so the programs include only it.
 * BoringSSL must never share a process with OpenSSL (TOOLCHAIN.md): these
 * programs link BoringSSL and libzttp, nothing else.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZTTP_EXAMPLES_TLS_H
#define ZTTP_EXAMPLES_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Results of tls_handshake(), tls_read() and tls_write() besides a count. */
#define TLS_WANT_READ (-1)
#define TLS_WANT_WRITE (-2)
#define TLS_ERROR (-3)

/* ALPN protocols, as a set for tls_client_ctx_new() and as the answer of
 * tls_alpn(). */
#define TLS_ALPN_H2 0x1u
#define TLS_ALPN_HTTP11 0x2u

typedef struct tls_ctx tls_ctx;
typedef struct tls tls;

/* tls_server_ctx_new loads a PEM certificate chain and key and returns a
 * server context that accepts TLS 1.2 (ECDHE with AEAD ciphers only, as
 * RFC 9113 §9.2 requires for h2) and TLS 1.3 and selects ALPN h2, then
 * http/1.1. NULL on failure, with a message in |err|. */
tls_ctx *tls_server_ctx_new(const char *cert_file, const char *key_file,
                            char *err, size_t errlen);

/* tls_client_ctx_new returns a client context offering the ALPN protocols in
 * |alpn| (h2 first) that verifies the server's chain against |ca_file| (NULL:
 * the system store in /etc/ssl/certs) and its name, unless |insecure|. NULL
 * on failure, with a message in |err|. */
tls_ctx *tls_client_ctx_new(const char *ca_file, int insecure, uint32_t alpn,
                            char *err, size_t errlen);

void tls_ctx_free(tls_ctx *ctx);

/* tls_new starts a TLS session on the connected socket |fd|: a client one
 * that sends SNI for and verifies |server_name| (a DNS name or an IP
 * literal) when it is not NULL, a server one otherwise. NULL on failure. */
tls *tls_new(tls_ctx *ctx, int fd, const char *server_name);

/* tls_free frees |t| (NULL is a no-op); the socket stays open. */
void tls_free(tls *t);

/* tls_handshake advances the handshake: 0 once complete, TLS_WANT_READ,
 * TLS_WANT_WRITE or TLS_ERROR. */
int tls_handshake(tls *t);

/* tls_alpn returns the negotiated protocol (TLS_ALPN_*) or 0 for none. */
uint32_t tls_alpn(const tls *t);

/* tls_describe returns "TLSv1.3 TLS_AES_128_GCM_SHA256"-style text (static
 * storage per session). */
const char *tls_describe(tls *t);

/* tls_read reads plaintext: a count > 0, 0 at the peer's close_notify or
 * at EOF without one, TLS_WANT_READ, TLS_WANT_WRITE or TLS_ERROR. */
ssize_t tls_read(tls *t, void *buf, size_t len);

/* tls_write writes up to |len| bytes (a partial count is possible). After
 * TLS_WANT_WRITE, retry with the same bytes first (a longer buffer that
 * starts with them is fine). */
ssize_t tls_write(tls *t, const void *buf, size_t len);

/* tls_pending returns the decrypted bytes tls_read() can return without
 * reading the socket. */
size_t tls_pending(const tls *t);

/* tls_shutdown sends close_notify if it can without blocking. */
void tls_shutdown(tls *t);

/* tls_error describes the last TLS_ERROR of |t| (certificate verification
 * or the BoringSSL error queue); valid until the next call on |t|. */
const char *tls_error(tls *t);

#endif /* ZTTP_EXAMPLES_TLS_H */
