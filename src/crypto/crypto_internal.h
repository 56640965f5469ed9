/* What the backends of src/crypto/crypto.h share: the layout of
 * zttp_crypto_keys and the null backend's packet protection. Included only
 * by the .c files of src/crypto (it names BoringSSL types).
 * SPDX-License-Identifier: MIT */
#ifndef ZTTP_CRYPTO_CRYPTO_INTERNAL_H
#define ZTTP_CRYPTO_CRYPTO_INTERNAL_H

#include "crypto/crypto.h"

#include <openssl/aead.h>
#include <openssl/aes.h>

#define ZTTP_CRYPTO_MAX_KEY_LEN 32 /* AES-256, ChaCha20 */

struct zttp_crypto_keys {
  zttp_mem mem; /* a copy: zttp_crypto_keys_free takes no allocator */
  uint32_t backend;
  uint32_t cipher;
  uint32_t version;
  size_t secret_len;
  uint8_t secret[ZTTP_CRYPTO_MAX_SECRET_LEN]; /* for key update */
  uint8_t iv[ZTTP_CRYPTO_IV_LEN];
  /* BoringSSL backend only: the AEAD with its key schedule (initialised
   * once, so that seal/open do no key setup) and the header-protection key
   * (RFC 9001 §5.4.3, §5.4.4). Unused (zero) for the null backend. */
  int has_aead;
  EVP_AEAD_CTX aead;
  union {
    AES_KEY aes;
    uint8_t chacha[32];
  } hp;
};

/* zttp_crypto_null_seal copies |len| bytes and appends 16 zero bytes. */
int zttp_crypto_null_seal(uint8_t *out, const uint8_t *in, size_t len);

/* zttp_crypto_null_open checks that the last 16 of |len| bytes are zero and
 * copies the rest. Returns 1, or 0 when they are not or |len| < 16. */
int zttp_crypto_null_open(uint8_t *out, const uint8_t *in, size_t len);

/* zttp_crypto_null_hp_mask writes an all-zero mask. */
int zttp_crypto_null_hp_mask(uint8_t *mask);

#endif
