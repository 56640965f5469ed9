/* The internal crypto interface: the one seam to BoringSSL (DESIGN.md §5).
 * No BoringSSL type appears here; only the files of src/crypto include
 * BoringSSL headers. The QUIC transport (issue 4) grows this interface with
 * AEAD, header protection and the TLS handshake driver.
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_CRYPTO_CRYPTO_H
#define ZTTP_CRYPTO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define ZTTP_CRYPTO_SHA256_LEN 32

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

#endif
