/* The internal crypto interface: the one seam to BoringSSL (DESIGN.md §5).
 * No BoringSSL type appears here; only the files of src/crypto include
 * BoringSSL headers. The QUIC transport uses this and nothing else for
 * cryptography: HKDF, packet protection (RFC 9001 §5), header protection
 * (RFC 9001 §5.4), Initial secrets (RFC 9001 §5.2, RFC 9369 §3.3), the Retry
 * integrity tag (RFC 9001 §5.8, RFC 9369 §3.3.3), key update (RFC 9001 §6),
 * HMAC-SHA256 (Retry tokens, stateless reset tokens) and randomness.
 *
 * Two backends implement the packet-protection part: BoringSSL
 * (src/crypto/boringssl.c) and "null" (src/crypto/null.c: identity AEAD with
 * a 16-byte zero tag, all-zero header-protection masks; for the fuzzers and
 * the simulator's fast mode). A zttp_crypto_keys remembers its backend.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_CRYPTO_CRYPTO_H
#define ZTTP_CRYPTO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"

#define ZTTP_CRYPTO_SHA256_LEN 32
#define ZTTP_CRYPTO_MAX_SECRET_LEN 48 /* SHA-384 suites */
#define ZTTP_CRYPTO_TAG_LEN 16        /* every QUIC AEAD */
#define ZTTP_CRYPTO_IV_LEN 12
#define ZTTP_CRYPTO_HP_SAMPLE_LEN 16
#define ZTTP_CRYPTO_HP_MASK_LEN 5
#define ZTTP_CRYPTO_RETRY_TAG_LEN 16

/* QUIC versions whose key schedules this module knows. */
#define ZTTP_QUIC_V1 0x00000001u
#define ZTTP_QUIC_V2 0x6b3343cfu

/* zttp_crypto_hkdf_extract_sha256 computes HKDF-Extract (RFC 5869 §2.2) with
 * SHA-256 into |prk| (32 bytes). Returns 1 on success, 0 on failure. */
int zttp_crypto_hkdf_extract_sha256(uint8_t *prk, const uint8_t *salt,
                                    size_t salt_len, const uint8_t *ikm,
                                    size_t ikm_len);

/* zttp_crypto_hkdf_expand_label_sha256 computes TLS 1.3 HKDF-Expand-Label
 * (RFC 8446 §7.1) with an empty context, as QUIC uses it (RFC 9001 §5.1),
 * into |out| (|out_len| bytes, at most 255). |label| excludes "tls13 ".
 * Returns 1 on success, 0 on failure. */
int zttp_crypto_hkdf_expand_label_sha256(uint8_t *out, size_t out_len,
                                         const uint8_t *secret,
                                         size_t secret_len, const char *label);

/* zttp_crypto_random fills |out| with |len| cryptographically random bytes.
 * Returns 1 on success, 0 on failure. */
int zttp_crypto_random(uint8_t *out, size_t len);

/* zttp_crypto_hmac_sha256 computes HMAC-SHA256 of |data| with |key| into
 * |out| (32 bytes). Returns 1 on success, 0 on failure. */
int zttp_crypto_hmac_sha256(uint8_t *out, const uint8_t *key, size_t key_len,
                            const uint8_t *data, size_t data_len);

/* zttp_crypto_memeq compares in constant time: 1 when equal. */
int zttp_crypto_memeq(const void *a, const void *b, size_t len);

/* ---- packet protection ----------------------------------------------------
 */

/* The AEADs of QUIC's TLS 1.3 cipher suites (RFC 9001 §5.3). */
enum zttp_crypto_cipher {
  ZTTP_CIPHER_AES_128_GCM_SHA256 = 1,       /* TLS_AES_128_GCM_SHA256 */
  ZTTP_CIPHER_AES_256_GCM_SHA384 = 2,       /* TLS_AES_256_GCM_SHA384 */
  ZTTP_CIPHER_CHACHA20_POLY1305_SHA256 = 3, /* TLS_CHACHA20_POLY1305_SHA256 */
};

enum zttp_crypto_backend {
  ZTTP_CRYPTO_BORINGSSL = 0,
  ZTTP_CRYPTO_NULL = 1,
};

/* One direction's packet-protection state at one encryption level and key
 * phase: AEAD key and IV, header-protection key, and the secret it came
 * from (for key update). Opaque; allocated with the connection's
 * allocator. */
typedef struct zttp_crypto_keys zttp_crypto_keys;

/* zttp_crypto_keys_new derives, from the traffic |secret| (|secret_len|
 * bytes: 32 for the SHA-256 suites, 48 for AES-256-GCM), the key, IV and
 * header-protection key of |cipher| for QUIC |version| (v1 labels "quic
 * key", "quic iv", "quic hp"; v2 labels "quicv2 key", "quicv2 iv", "quicv2
 * hp"), into |*out|. Returns 0, ZTTP_ERR_INVALID_ARGUMENT (unknown cipher,
 * version or secret length) or ZTTP_ERR_NOMEM. */
int32_t zttp_crypto_keys_new(zttp_crypto_keys **out, const zttp_mem *mem,
                             uint32_t backend, uint32_t cipher,
                             uint32_t version, const uint8_t *secret,
                             size_t secret_len);

/* zttp_crypto_keys_update derives the next key phase (RFC 9001 §6.1: the
 * secret becomes HKDF-Expand-Label(secret, "quic ku" / "quicv2 ku"); key and
 * IV are derived again; the header-protection key does NOT change) into a
 * new |*out|. Returns 0 or ZTTP_ERR_NOMEM. */
int32_t zttp_crypto_keys_update(zttp_crypto_keys **out, const zttp_mem *mem,
                                const zttp_crypto_keys *keys);

void zttp_crypto_keys_free(zttp_crypto_keys *keys);

uint32_t zttp_crypto_keys_cipher(const zttp_crypto_keys *keys);

/* zttp_crypto_seal encrypts |len| bytes at |in| as packet number |pn| with
 * |ad| (the header, |ad_len| bytes) as associated data (RFC 9001 §5.3: nonce
 * = IV XOR pn left-padded), writing |len| + 16 bytes to |out|. |out| may
 * equal |in|. Returns 1 on success, 0 on failure. */
int zttp_crypto_seal(const zttp_crypto_keys *keys, uint8_t *out, uint64_t pn,
                     const uint8_t *ad, size_t ad_len, const uint8_t *in,
                     size_t len);

/* zttp_crypto_open decrypts and authenticates |len| bytes (tag included) at
 * |in| into |out| (|len| - 16 bytes; |out| may equal |in|). Returns 1, or 0
 * when authentication fails (the packet must be dropped) or |len| < 16. */
int zttp_crypto_open(const zttp_crypto_keys *keys, uint8_t *out, uint64_t pn,
                     const uint8_t *ad, size_t ad_len, const uint8_t *in,
                     size_t len);

/* zttp_crypto_hp_mask computes the 5-byte header-protection mask for the
 * 16-byte |sample| (RFC 9001 §5.4.3 AES-ECB, §5.4.4 ChaCha20 with the
 * first 4 bytes little-endian as counter). Returns 1 or 0. */
int zttp_crypto_hp_mask(const zttp_crypto_keys *keys, uint8_t *mask,
                        const uint8_t *sample);

/* zttp_crypto_initial_secrets computes the client and server Initial
 * secrets (32 bytes each) for |version| from the client's Destination
 * Connection ID |dcid| (RFC 9001 §5.2 salt
 * 0x38762cf7f55934b34d179ae6a4c80cadccbb7f0a; RFC 9369 §3.3.1 salt
 * 0x0dede3def700a6db819381be6e269dcbf9bd2ed9). Returns 1, or 0 for an
 * unknown version. */
int zttp_crypto_initial_secrets(uint8_t *client_secret, uint8_t *server_secret,
                                uint32_t version, const uint8_t *dcid,
                                size_t dcid_len);

/* zttp_crypto_retry_tag computes the Retry Integrity Tag (16 bytes) over the
 * Retry pseudo-packet: |odcid| (the client's original DCID) and |retry|,
 * the Retry packet without its tag (RFC 9001 §5.8; RFC 9369 §3.3.3 key and
 * nonce for v2). Returns 1, or 0 for an unknown version. */
int zttp_crypto_retry_tag(uint8_t *tag, uint32_t version, const uint8_t *odcid,
                          size_t odcid_len, const uint8_t *retry,
                          size_t retry_len);

#endif
