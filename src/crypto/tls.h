/* The TLS 1.3 handshake driver of the QUIC transport (RFC 9001 §4), over
 * BoringSSL's QUIC API (src/crypto/tls.c) or a null handshake for the fuzzers
 * and the simulator's fast mode (src/crypto/tls_null.c). No BoringSSL type
 * appears here.
 *
 * Sans-IO and pull-style: the transport hands in CRYPTO frame data per
 * encryption level (zttp_tls_provide), advances the handshake
 * (zttp_tls_handshake), then polls what that produced: handshake bytes to
 * send per level (zttp_tls_pending / zttp_tls_consume), traffic secrets
 * installed per level and direction (zttp_tls_next_secret), the alert of a
 * failure, the peer's transport parameters, the negotiated ALPN and session
 * tickets. Nothing calls back into the transport or the application.
 *
 * Two objects:
 *  - zttp_tls_ctx: what is built once from a config's TLS settings for one
 *    role (certificates and keys loaded, CA store, ALPN list, groups,
 *    allowed cipher suites, session-ticket keys), shared by every connection
 *    of that config and role. Reference-counted (atomically: connections on
 *    different threads may share it). A config caches one per role in a
 *    zttp_tls_cache and keeps a reference, so it can be freed before its
 *    connections.
 *  - zttp_tls: one connection's handshake. Not thread-safe.
 *
 * Cipher suites: the BoringSSL of Debian 12 (API version 17) has no call to
 * restrict the TLS 1.3 suites; it always offers (as a client) and accepts
 * (as a server) all three QUIC suites. zttp_tls_settings.ciphers is
 * therefore an allowed set checked when the first secret of a handshake is
 * installed: a suite outside it fails the handshake with a handshake_failure
 * alert (40) and a message naming the suite. The client cannot make the
 * server pick another suite; a server's choice follows the client's order.
 * The null TLS does negotiate: the client offers its allowed set, the
 * server picks the first of AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305
 * that both allow, or fails with handshake_failure when there is none
 * (tls_null.c).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_CRYPTO_TLS_H
#define ZTTP_CRYPTO_TLS_H

#include "zttp/zttp.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"
#include "crypto/crypto.h"

/* QUIC encryption levels that carry TLS messages and get keys from TLS
 * (RFC 9001 §4.1.4). Same order as BoringSSL's ssl_encryption_level_t. */
enum zttp_tls_level {
  ZTTP_TLS_LEVEL_INITIAL = 0,
  ZTTP_TLS_LEVEL_EARLY_DATA = 1, /* 0-RTT: keys only, no TLS messages */
  ZTTP_TLS_LEVEL_HANDSHAKE = 2,
  ZTTP_TLS_LEVEL_APPLICATION = 3,
};
#define ZTTP_TLS_NUM_LEVELS 4

/* Which implementation a zttp_tls_ctx uses. */
enum zttp_tls_backend {
  ZTTP_TLS_BORINGSSL = 0,
  /* No TLS: a fixed exchange of transport parameters, ALPN and (when a
   * side restricts them) cipher suites at INITIAL, a fixed "finished"
   * message at HANDSHAKE, and all-zero secrets of the negotiated suite
   * (AES-128-GCM unless the allowed sets exclude it), used with the
   * ZTTP_CRYPTO_NULL packet protection (identity AEAD, zero masks). For the
   * fuzzers and the simulator's fast mode only: it authenticates nothing. */
  ZTTP_TLS_NULL = 1,
  /* Null handshake, real packet protection: the null TLS's messages and
   * negotiation, with fixed secrets that differ per level and direction,
   * used with the ZTTP_CRYPTO_BORINGSSL packet protection (the AEAD and
   * header protection of the negotiated suite, Initial keys included). It
   * still authenticates nothing: for tests that need a given suite's real
   * packet protection between two zttp endpoints, which the BoringSSL of
   * Debian 12 cannot negotiate on demand (see "Cipher suites" above). */
  ZTTP_TLS_NULL_REAL_CRYPTO = 2,
};

/* Direction of a secret. */
enum zttp_tls_dir { ZTTP_TLS_READ = 0, ZTTP_TLS_WRITE = 1 };

/* Bytes of handshake output one level may hold before the transport takes
 * it; a flight is a few KiB (a long certificate chain is the largest). */
#define ZTTP_TLS_MAX_OUTPUT 65536
/* Session tickets kept for the transport to take; older ones are dropped. */
#define ZTTP_TLS_MAX_TICKETS 4
/* Bytes of a session ticket (a serialized session, with the server's
 * certificate chain) zttp keeps; a larger one is dropped. */
#define ZTTP_TLS_MAX_TICKET_LEN 32768
/* Bytes of an error message (NUL included). */
#define ZTTP_TLS_ERRMSG_MAX 160

/* TLS alerts named by this module (RFC 8446 §6). */
#define ZTTP_TLS_ALERT_UNEXPECTED_MESSAGE 10
#define ZTTP_TLS_ALERT_HANDSHAKE_FAILURE 40
#define ZTTP_TLS_ALERT_DECODE_ERROR 50
#define ZTTP_TLS_ALERT_INTERNAL_ERROR 80
#define ZTTP_TLS_ALERT_NO_APPLICATION_PROTOCOL 120

/* ZTTP_TLS_ALERT_TO_QUIC maps a TLS alert to the QUIC CRYPTO_ERROR wire code
 * (RFC 9001 §4.8: 0x100 + alert). */
#define ZTTP_TLS_ALERT_TO_QUIC(alert) (0x100u + (uint64_t)(alert))

/* zttp_tls_settings is a borrowed view of a config's TLS settings, read
 * (and copied where kept) by zttp_tls_ctx_new. Absent strings are NULL. */
typedef struct zttp_tls_settings {
  uint32_t backend; /* enum zttp_tls_backend */
  /* Server certificate chain (leaf first) and private key, PEM: either both
   * file names or both in-memory PEM texts (the files win if both are
   * set). */
  const char *cert_file;
  const char *key_file;
  const uint8_t *cert_pem;
  size_t cert_pem_len;
  const uint8_t *key_pem;
  size_t key_pem_len;
  /* Client verification: a PEM CA file and/or a hashed CA directory; both
   * NULL means the system store (BoringSSL's default paths: /etc/ssl/certs,
   * or $SSL_CERT_FILE / $SSL_CERT_DIR). */
  const char *ca_file;
  const char *ca_dir;
  /* 1: a client does not verify the server's chain and host name. */
  uint32_t insecure_no_verify;
  /* ALPN protocols in preference order, in wire format (RFC 7301 §3.1:
   * each name prefixed by its 1-byte length). Required: a QUIC endpoint
   * must negotiate ALPN (RFC 9001 §8.1). */
  const uint8_t *alpn;
  size_t alpn_len;
  /* Allowed suites: ZTTP_TLS_CIPHER_* bits of zttp.h; 0 means all. */
  uint32_t ciphers;
  /* Key-exchange groups in preference order ("X25519:P-256"); NULL means
   * BoringSSL's default. */
  const char *groups;
} zttp_tls_settings;

typedef struct zttp_tls_ctx zttp_tls_ctx;
typedef struct zttp_tls zttp_tls;

/* ---- contexts ----------------------------------------------------------- */

/* zttp_tls_ctx_new builds, into |*out|, the context for |role| (ZTTP_SERVER,
 * ZTTP_CLIENT) from |s| (borrowed), allocating zttp's part with |mem|
 * (copied; BoringSSL's own allocations do not go through it). A server loads
 * its certificate chain and key and checks they match; a client loads its CA
 * store unless verification is off. Returns 0, ZTTP_ERR_TLS_CONFIG (a
 * server without a certificate, a file that cannot be read, PEM that does
 * not parse, a key that does not match, a CA file or directory that cannot
 * be loaded, no ALPN, an unknown group: |errmsg| says which, when not NULL,
 * in ZTTP_TLS_ERRMSG_MAX bytes), ZTTP_ERR_INVALID_ARGUMENT or
 * ZTTP_ERR_NOMEM. The new context has one reference. */
int32_t zttp_tls_ctx_new(zttp_tls_ctx **out, const zttp_mem *mem,
                         const zttp_tls_settings *s, uint32_t role,
                         char *errmsg);

/* zttp_tls_ctx_ref adds a reference to |ctx| and returns it. */
zttp_tls_ctx *zttp_tls_ctx_ref(zttp_tls_ctx *ctx);

/* zttp_tls_ctx_unref drops a reference; the last one frees |ctx|. NULL is a
 * no-op. */
void zttp_tls_ctx_unref(zttp_tls_ctx *ctx);

uint32_t zttp_tls_ctx_role(const zttp_tls_ctx *ctx);

/* zttp_tls_wipe overwrites |len| bytes at |p| with zeros in a way the
 * compiler cannot elide (private keys before they are freed). NULL is a
 * no-op. */
void zttp_tls_wipe(void *p, size_t len);

/* zttp_tls_groups_valid returns 1 if BoringSSL accepts |groups| as a group
 * preference list, else 0. */
int zttp_tls_groups_valid(const char *groups);

/* zttp_tls_cache holds the contexts a config built, one per role, each
 * with one reference owned by the cache. Zero-initialised means empty. */
typedef struct zttp_tls_cache {
  _Atomic(zttp_tls_ctx *) ctx[2]; /* indexed by enum zttp_role */
} zttp_tls_cache;

/* zttp_tls_cache_get stores in |*out| a new reference to the context of
 * |role| in |cache|, building it from |s| with zttp_tls_ctx_new() on first
 * use. Safe to call from several threads at once on one cache (creating
 * connections from a shared config); the cache is logically mutable state
 * of a const config, like a C++ `mutable` member. Returns what
 * zttp_tls_ctx_new() returns (a failed build is not cached). */
int32_t zttp_tls_cache_get(zttp_tls_ctx **out, const zttp_tls_cache *cache,
                           const zttp_mem *mem, const zttp_tls_settings *s,
                           uint32_t role, char *errmsg);

/* zttp_tls_cache_clear drops the cache's references (when a TLS setting
 * changes, and when the config is freed). Not thread-safe against
 * zttp_tls_cache_get on the same cache. */
void zttp_tls_cache_clear(zttp_tls_cache *cache);

/* ---- one connection's handshake ----------------------------------------- */

/* zttp_tls_new creates, into |*out|, the handshake of one connection in the
 * role of |ctx| (a reference is taken), allocated with |mem|.
 * |server_name| (|server_name_len| bytes, no NUL; client only, may be NULL)
 * is sent in SNI unless it is an IP literal, and the server's certificate
 * must match it (a DNS name, or an IPv4/IPv6 address) unless verification
 * is off. |tp| (|tp_len| bytes, not empty, copied) are the local transport
 * parameters, encoded by the transport (RFC 9001 §8.2). Returns 0,
 * ZTTP_ERR_TLS_CONFIG (a verifying client without a server name; the
 * message in |errmsg| as for zttp_tls_ctx_new), ZTTP_ERR_INVALID_ARGUMENT
 * or ZTTP_ERR_NOMEM. */
int32_t zttp_tls_new(zttp_tls **out, zttp_tls_ctx *ctx, const zttp_mem *mem,
                     const char *server_name, size_t server_name_len,
                     const uint8_t *tp, size_t tp_len, char *errmsg);

/* zttp_tls_free frees |tls| (wiping secrets) and drops its context
 * reference. NULL is a no-op. */
void zttp_tls_free(zttp_tls *tls);

/* zttp_tls_crypto_backend returns the enum zttp_crypto_backend the
 * transport must build packet-protection keys with: ZTTP_CRYPTO_NULL for
 * ZTTP_TLS_NULL, ZTTP_CRYPTO_BORINGSSL otherwise (ZTTP_TLS_BORINGSSL and
 * ZTTP_TLS_NULL_REAL_CRYPTO). */
uint32_t zttp_tls_crypto_backend(const zttp_tls *tls);

/* zttp_tls_cipher returns the negotiated suite (enum zttp_crypto_cipher)
 * once the first traffic secret was installed, else 0. */
uint32_t zttp_tls_cipher(const zttp_tls *tls);

/* zttp_tls_provide hands |len| bytes of CRYPTO frame data received at
 * |level| (enum zttp_tls_level), in stream order, to TLS (copied; buffered
 * until zttp_tls_handshake() or zttp_tls_process_post_handshake() consumes
 * it). TLS reads one level at a time (INITIAL first) and moves to the next
 * only inside zttp_tls_handshake(): call it after providing one level's
 * data, before providing the next level's (the transport cannot decrypt
 * the next level earlier anyway). Returns 0,
 * ZTTP_ERR_TLS_HANDSHAKE (data at a level TLS does not read now, or more
 * than zttp_tls_max_input() buffered; alert unexpected_message),
 * ZTTP_ERR_INVALID_ARGUMENT or ZTTP_ERR_NOMEM. A failure is sticky, as for
 * zttp_tls_handshake(). */
int32_t zttp_tls_provide(zttp_tls *tls, uint32_t level, const uint8_t *data,
                         size_t len);

/* zttp_tls_max_input returns how many bytes of unprocessed CRYPTO data TLS
 * accepts at |level|: the transport's CRYPTO_BUFFER_EXCEEDED limit
 * (RFC 9000 §7.5). */
size_t zttp_tls_max_input(const zttp_tls *tls, uint32_t level);

/* zttp_tls_handshake advances the handshake with the data provided so far.
 * A client's first call produces the ClientHello. Once the handshake is
 * complete it processes post-handshake messages instead (as
 * zttp_tls_process_post_handshake does). Returns 1 when the handshake is
 * complete (RFC 9001 §4.1.1: for a server this is also "confirmed",
 * §4.1.2; a client confirms on HANDSHAKE_DONE, which is the transport's
 * business), 0 while it needs more data, ZTTP_ERR_TLS_HANDSHAKE (see
 * zttp_tls_alert() and zttp_tls_error_message()) or ZTTP_ERR_NOMEM. After a
 * failure every later call returns the same error. Poll the outputs after
 * every call. */
int32_t zttp_tls_handshake(zttp_tls *tls);

/* zttp_tls_process_post_handshake processes messages provided at
 * APPLICATION level after the handshake completed (NewSessionTicket: a
 * client then has a ticket for zttp_tls_next_ticket()). Returns 0,
 * ZTTP_ERR_INVALID_STATE (the handshake is not complete),
 * ZTTP_ERR_TLS_HANDSHAKE or ZTTP_ERR_NOMEM. */
int32_t zttp_tls_process_post_handshake(zttp_tls *tls);

/* zttp_tls_is_complete returns 1 once the handshake completed, else 0. */
int zttp_tls_is_complete(const zttp_tls *tls);

/* ---- outputs, polled after each call ------------------------------------ */

/* zttp_tls_pending points |*out| at the handshake bytes queued for |level|
 * (to send in CRYPTO frames at that level, in order) and returns their
 * count, 0 when none. Valid until zttp_tls_consume(), the next provide /
 * handshake call or zttp_tls_free(). */
size_t zttp_tls_pending(const zttp_tls *tls, uint32_t level,
                        const uint8_t **out);

/* zttp_tls_consume removes the first |len| queued bytes of |level| (the
 * transport copied them into its CRYPTO stream). |len| must not exceed
 * zttp_tls_pending(). */
void zttp_tls_consume(zttp_tls *tls, uint32_t level, size_t len);

/* zttp_tls_secret is one traffic secret TLS installed (RFC 9001 §5.1): the
 * transport derives packet-protection keys from it with
 * zttp_crypto_keys_new(zttp_tls_crypto_backend(tls), cipher, version,
 * secret, len). */
typedef struct zttp_tls_secret {
  uint32_t dir;    /* enum zttp_tls_dir */
  uint32_t level;  /* enum zttp_tls_level (never INITIAL: those keys come
                      from the connection ID, RFC 9001 §5.2) */
  uint32_t cipher; /* enum zttp_crypto_cipher */
  size_t len;      /* 32, or 48 for AES-256-GCM-SHA384 */
  uint8_t secret[ZTTP_CRYPTO_MAX_SECRET_LEN];
} zttp_tls_secret;

/* zttp_tls_next_secret moves the oldest secret not yet taken into |*out|
 * and wipes zttp's copy. Secrets come in the order TLS installs them: for
 * each level the write secret before the read secret (RFC 9001 §4.1.4;
 * BoringSSL's order). Returns 1 when |*out| was filled, 0 when none is
 * pending. */
int zttp_tls_next_secret(zttp_tls *tls, zttp_tls_secret *out);

/* zttp_tls_alert returns the TLS alert of a failure (the transport closes
 * with CRYPTO_ERROR ZTTP_TLS_ALERT_TO_QUIC(alert), RFC 9001 §4.8), or -1
 * when there is none. */
int zttp_tls_alert(const zttp_tls *tls);

/* zttp_tls_error_message returns a NUL-terminated description of the
 * failure ("" when none), owned by |tls|, valid until zttp_tls_free(). */
const char *zttp_tls_error_message(const zttp_tls *tls);

/* zttp_tls_peer_transport_params points |*out| at the transport parameters
 * the peer sent (the quic_transport_parameters extension, RFC 9001 §8.2) and
 * returns their length; 0 until they arrived. Valid until zttp_tls_free().
 * A peer that sends none fails the handshake (missing_extension, 109). */
size_t zttp_tls_peer_transport_params(const zttp_tls *tls, const uint8_t **out);

/* zttp_tls_alpn points |*out| at the negotiated ALPN protocol name and
 * returns its length; 0 until negotiated. Valid until zttp_tls_free(). */
size_t zttp_tls_alpn(const zttp_tls *tls, const uint8_t **out);

/* zttp_tls_next_ticket points |*out| at the oldest session ticket a client
 * received and not yet taken (an opaque serialized session to give back to
 * zttp_tls_set_session() on a later connection to the same server) and
 * returns its length; 0 when none. The bytes are valid until the next call
 * on |tls|. At most ZTTP_TLS_MAX_TICKETS are kept (the oldest are dropped).
 */
size_t zttp_tls_next_ticket(zttp_tls *tls, const uint8_t **out);

/* zttp_tls_server_name points |*out| at the host name a server received in
 * SNI (NUL-terminated) and returns its length; 0 when none (or a client).
 * Valid until zttp_tls_free(). */
size_t zttp_tls_server_name(const zttp_tls *tls, const char **out);

/* zttp_tls_session_reused returns 1 if the handshake resumed a session. */
int zttp_tls_session_reused(const zttp_tls *tls);

/* ---- resumption and 0-RTT hooks ----------------------------------------- */

/* zttp_tls_set_session makes a client offer to resume the session in
 * |ticket| (|len| bytes from zttp_tls_next_ticket() of an earlier
 * connection of the same context). Call before the first
 * zttp_tls_handshake(). The null TLS ignores it. Returns 0,
 * ZTTP_ERR_INVALID_ARGUMENT (not a session BoringSSL can parse),
 * ZTTP_ERR_INVALID_STATE (a server, or the handshake started) or
 * ZTTP_ERR_NOMEM. */
int32_t zttp_tls_set_session(zttp_tls *tls, const uint8_t *ticket, size_t len);

/* zttp_tls_enable_early_data allows 0-RTT on this connection: a client
 * resuming a ticket that allows it gets an EARLY_DATA write secret right
 * after its ClientHello; a server that also set an early-data context
 * accepts it. Call before the first zttp_tls_handshake(). Returns 0 or
 * ZTTP_ERR_INVALID_STATE. */
int32_t zttp_tls_enable_early_data(zttp_tls *tls);

/* zttp_tls_set_early_data_context sets a server's 0-RTT context (copied):
 * early data is accepted only on a ticket issued under the same bytes
 * (RFC 9001 §4.6.1: the transport parameters and, for HTTP/3, the SETTINGS
 * it must remember). Call before the first zttp_tls_handshake(). Returns
 * 0, ZTTP_ERR_INVALID_STATE (a client, or too late) or ZTTP_ERR_NOMEM. */
int32_t zttp_tls_set_early_data_context(zttp_tls *tls, const uint8_t *context,
                                        size_t len);

/* zttp_tls_early_data_accepted returns 1 if the server accepted 0-RTT, 0
 * otherwise (also while unknown). A client whose 0-RTT was rejected drops
 * its EARLY_DATA keys and what it sent with them (RFC 9001 §4.6.2). */
int zttp_tls_early_data_accepted(const zttp_tls *tls);

#endif
