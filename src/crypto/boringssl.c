/* The BoringSSL backend of src/crypto/crypto.h, and the common code that
 * makes keys for both backends and dispatches packet protection to the null
 * backend (null.c) by the keys' backend field.
 * SPDX-License-Identifier: MIT */
#include "crypto/crypto_internal.h"

#include <limits.h>
#include <string.h>

#include <openssl/aead.h>
#include <openssl/aes.h>
#include <openssl/base.h>
#include <openssl/chacha.h>
#include <openssl/cipher.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#if !defined(OPENSSL_IS_BORINGSSL)
#error "src/crypto needs BoringSSL (see TOOLCHAIN.md)"
#endif

/* ---- HKDF, HMAC, random ---------------------------------------------------
 */

/* expand_label is TLS 1.3 HKDF-Expand-Label (RFC 8446 §7.1) with an empty
 * context and the hash |md|. */
static int expand_label(const EVP_MD *md, uint8_t *out, size_t out_len,
                        const uint8_t *secret, size_t secret_len,
                        const char *label) {
  /* struct { uint16 length; opaque label<7..255>; opaque context<0..255>; }
   * HkdfLabel (RFC 8446 §7.1). */
  static const char prefix[] = "tls13 ";
  size_t label_len = strlen(label);
  uint8_t info[2 + 1 + 255 + 1];
  if (out_len > 255 || sizeof(prefix) - 1 + label_len > 255) {
    return 0;
  }
  size_t n = 0;
  info[n++] = (uint8_t)(out_len >> 8);
  info[n++] = (uint8_t)out_len;
  info[n++] = (uint8_t)(sizeof(prefix) - 1 + label_len);
  memcpy(info + n, prefix, sizeof(prefix) - 1);
  n += sizeof(prefix) - 1;
  memcpy(info + n, label, label_len);
  n += label_len;
  info[n++] = 0; /* empty context */
  return HKDF_expand(out, out_len, md, secret, secret_len, info, n) == 1;
}

int zttp_crypto_hkdf_extract_sha256(uint8_t *prk, const uint8_t *salt,
                                    size_t salt_len, const uint8_t *ikm,
                                    size_t ikm_len) {
  size_t prk_len = 0;
  return HKDF_extract(prk, &prk_len, EVP_sha256(), ikm, ikm_len, salt,
                      salt_len) == 1 &&
         prk_len == ZTTP_CRYPTO_SHA256_LEN;
}

int zttp_crypto_hkdf_expand_label_sha256(uint8_t *out, size_t out_len,
                                         const uint8_t *secret,
                                         size_t secret_len, const char *label) {
  return expand_label(EVP_sha256(), out, out_len, secret, secret_len, label);
}

int zttp_crypto_random(uint8_t *out, size_t len) {
  return RAND_bytes(out, len) == 1;
}

int zttp_crypto_hmac_sha256(uint8_t *out, const uint8_t *key, size_t key_len,
                            const uint8_t *data, size_t data_len) {
  unsigned out_len = 0;
  return HMAC(EVP_sha256(), key, key_len, data, data_len, out, &out_len) !=
             NULL &&
         out_len == ZTTP_CRYPTO_SHA256_LEN;
}

int zttp_crypto_memeq(const void *a, const void *b, size_t len) {
  return CRYPTO_memcmp(a, b, len) == 0;
}

/* ---- cipher suites and versions -------------------------------------------
 */

struct suite {
  const EVP_AEAD *(*aead)(void);
  const EVP_MD *(*md)(void);
  size_t key_len; /* AEAD key and header-protection key */
  size_t secret_len;
};

/* RFC 9001 §5.3 (AEAD), §5.4.3-5.4.4 (header protection). */
static const struct suite *find_suite(uint32_t cipher) {
  static const struct suite aes128 = {EVP_aead_aes_128_gcm, EVP_sha256, 16, 32};
  static const struct suite aes256 = {EVP_aead_aes_256_gcm, EVP_sha384, 32, 48};
  static const struct suite chacha = {EVP_aead_chacha20_poly1305, EVP_sha256,
                                      32, 32};
  switch ((enum zttp_crypto_cipher)cipher) {
  case ZTTP_CIPHER_AES_128_GCM_SHA256:
    return &aes128;
  case ZTTP_CIPHER_AES_256_GCM_SHA384:
    return &aes256;
  case ZTTP_CIPHER_CHACHA20_POLY1305_SHA256:
    return &chacha;
  }
  return NULL;
}

struct version {
  const char *key;
  const char *iv;
  const char *hp;
  const char *ku;
  uint8_t initial_salt[20];
  uint8_t retry_key[16];
  uint8_t retry_nonce[ZTTP_CRYPTO_IV_LEN];
};

/* RFC 9001 §5.1, §5.2, §5.8, §6.1 (v1); RFC 9369 §3.3 (v2). */
static const struct version *find_version(uint32_t version) {
  static const struct version v1 = {
      "quic key",
      "quic iv",
      "quic hp",
      "quic ku",
      {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
       0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a},
      {0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54,
       0xe3, 0x68, 0xc8, 0x4e},
      {0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb},
  };
  static const struct version v2 = {
      "quicv2 key",
      "quicv2 iv",
      "quicv2 hp",
      "quicv2 ku",
      {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
       0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9},
      {0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2, 0x60, 0xfb, 0xcb, 0xce,
       0xad, 0x7c, 0xcc, 0x92},
      {0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c, 0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a},
  };
  switch (version) {
  case ZTTP_QUIC_V1:
    return &v1;
  case ZTTP_QUIC_V2:
    return &v2;
  default:
    return NULL;
  }
}

/* ---- keys ------------------------------------------------------------------
 */

/* derive_packet_key derives the AEAD key and IV from keys->secret and
 * initialises the AEAD (RFC 9001 §5.1). */
static int derive_packet_key(zttp_crypto_keys *k, const struct suite *s,
                             const struct version *v) {
  uint8_t key[ZTTP_CRYPTO_MAX_KEY_LEN];
  int ok = expand_label(s->md(), key, s->key_len, k->secret, k->secret_len,
                        v->key) &&
           expand_label(s->md(), k->iv, sizeof(k->iv), k->secret, k->secret_len,
                        v->iv) &&
           EVP_AEAD_CTX_init(&k->aead, s->aead(), key, s->key_len,
                             EVP_AEAD_DEFAULT_TAG_LENGTH, NULL) == 1;
  k->has_aead = ok;
  OPENSSL_cleanse(key, sizeof(key));
  return ok;
}

/* derive_hp_key derives the header-protection key and its schedule
 * (RFC 9001 §5.4). */
static int derive_hp_key(zttp_crypto_keys *k, const struct suite *s,
                         const struct version *v) {
  uint8_t hp[ZTTP_CRYPTO_MAX_KEY_LEN];
  int ok =
      expand_label(s->md(), hp, s->key_len, k->secret, k->secret_len, v->hp);
  if (ok) {
    switch ((enum zttp_crypto_cipher)k->cipher) {
    case ZTTP_CIPHER_AES_128_GCM_SHA256:
    case ZTTP_CIPHER_AES_256_GCM_SHA384:
      ok = AES_set_encrypt_key(hp, (unsigned)(s->key_len * 8), &k->hp.aes) == 0;
      break;
    case ZTTP_CIPHER_CHACHA20_POLY1305_SHA256:
      memcpy(k->hp.chacha, hp, sizeof(k->hp.chacha));
      break;
    }
  }
  OPENSSL_cleanse(hp, sizeof(hp));
  return ok;
}

/* keys_alloc allocates zeroed keys with the common fields set. */
static zttp_crypto_keys *keys_alloc(const zttp_mem *mem, uint32_t backend,
                                    uint32_t cipher, uint32_t version,
                                    size_t secret_len) {
  zttp_crypto_keys *k = zttp_mem_malloc(mem, sizeof(*k));
  if (k == NULL) {
    return NULL;
  }
  memset(k, 0, sizeof(*k));
  EVP_AEAD_CTX_zero(&k->aead);
  k->mem = *mem;
  k->backend = backend;
  k->cipher = cipher;
  k->version = version;
  k->secret_len = secret_len;
  return k;
}

int32_t zttp_crypto_keys_new(zttp_crypto_keys **out, const zttp_mem *mem,
                             uint32_t backend, uint32_t cipher,
                             uint32_t version, const uint8_t *secret,
                             size_t secret_len) {
  *out = NULL;
  const struct suite *s = find_suite(cipher);
  const struct version *v = find_version(version);
  if (s == NULL || v == NULL || secret_len != s->secret_len ||
      (backend != ZTTP_CRYPTO_BORINGSSL && backend != ZTTP_CRYPTO_NULL)) {
    return ZTTP_ERR_INVALID_ARGUMENT;
  }
  zttp_crypto_keys *k = keys_alloc(mem, backend, cipher, version, secret_len);
  if (k == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  memcpy(k->secret, secret, secret_len);
  if (backend == ZTTP_CRYPTO_BORINGSSL &&
      (!derive_packet_key(k, s, v) || !derive_hp_key(k, s, v))) {
    /* BoringSSL fails these only when it cannot allocate. */
    zttp_crypto_keys_free(k);
    return ZTTP_ERR_NOMEM;
  }
  *out = k;
  return 0;
}

int32_t zttp_crypto_keys_update(zttp_crypto_keys **out, const zttp_mem *mem,
                                const zttp_crypto_keys *keys) {
  *out = NULL;
  const struct suite *s = find_suite(keys->cipher);
  const struct version *v = find_version(keys->version);
  zttp_crypto_keys *k = keys_alloc(mem, keys->backend, keys->cipher,
                                   keys->version, keys->secret_len);
  if (k == NULL) {
    return ZTTP_ERR_NOMEM;
  }
  /* RFC 9001 §6.1: the header-protection key does not change. */
  k->hp = keys->hp;
  if (!expand_label(s->md(), k->secret, k->secret_len, keys->secret,
                    keys->secret_len, v->ku) ||
      (k->backend == ZTTP_CRYPTO_BORINGSSL && !derive_packet_key(k, s, v))) {
    zttp_crypto_keys_free(k);
    return ZTTP_ERR_NOMEM;
  }
  *out = k;
  return 0;
}

void zttp_crypto_keys_free(zttp_crypto_keys *keys) {
  if (keys == NULL) {
    return;
  }
  if (keys->has_aead) {
    EVP_AEAD_CTX_cleanup(&keys->aead);
  }
  zttp_mem mem = keys->mem;
  OPENSSL_cleanse(keys, sizeof(*keys));
  zttp_mem_free(&mem, keys);
}

uint32_t zttp_crypto_keys_cipher(const zttp_crypto_keys *keys) {
  return keys->cipher;
}

/* ---- packet and header protection -----------------------------------------
 */

/* RFC 9001 §5.3: the IV XORed with the packet number, left-padded. */
static void make_nonce(uint8_t *nonce, const uint8_t *iv, uint64_t pn) {
  memcpy(nonce, iv, ZTTP_CRYPTO_IV_LEN);
  for (size_t i = 0; i < 8; i++) {
    nonce[ZTTP_CRYPTO_IV_LEN - 1 - i] ^= (uint8_t)(pn >> (8 * i));
  }
}

int zttp_crypto_seal(const zttp_crypto_keys *keys, uint8_t *out, uint64_t pn,
                     const uint8_t *ad, size_t ad_len, const uint8_t *in,
                     size_t len) {
  switch ((enum zttp_crypto_backend)keys->backend) {
  case ZTTP_CRYPTO_BORINGSSL:
    break;
  case ZTTP_CRYPTO_NULL:
    return zttp_crypto_null_seal(out, in, len);
  }
  uint8_t nonce[ZTTP_CRYPTO_IV_LEN];
  size_t out_len = 0;
  make_nonce(nonce, keys->iv, pn);
  return EVP_AEAD_CTX_seal(&keys->aead, out, &out_len,
                           len + ZTTP_CRYPTO_TAG_LEN, nonce, sizeof(nonce), in,
                           len, ad, ad_len) == 1;
}

int zttp_crypto_open(const zttp_crypto_keys *keys, uint8_t *out, uint64_t pn,
                     const uint8_t *ad, size_t ad_len, const uint8_t *in,
                     size_t len) {
  switch ((enum zttp_crypto_backend)keys->backend) {
  case ZTTP_CRYPTO_BORINGSSL:
    break;
  case ZTTP_CRYPTO_NULL:
    return zttp_crypto_null_open(out, in, len);
  }
  if (len < ZTTP_CRYPTO_TAG_LEN) {
    return 0;
  }
  uint8_t nonce[ZTTP_CRYPTO_IV_LEN];
  size_t out_len = 0;
  make_nonce(nonce, keys->iv, pn);
  return EVP_AEAD_CTX_open(&keys->aead, out, &out_len,
                           len - ZTTP_CRYPTO_TAG_LEN, nonce, sizeof(nonce), in,
                           len, ad, ad_len) == 1;
}

int zttp_crypto_hp_mask(const zttp_crypto_keys *keys, uint8_t *mask,
                        const uint8_t *sample) {
  switch ((enum zttp_crypto_backend)keys->backend) {
  case ZTTP_CRYPTO_BORINGSSL:
    break;
  case ZTTP_CRYPTO_NULL:
    return zttp_crypto_null_hp_mask(mask);
  }
  switch ((enum zttp_crypto_cipher)keys->cipher) {
  case ZTTP_CIPHER_AES_128_GCM_SHA256:
  case ZTTP_CIPHER_AES_256_GCM_SHA384: {
    /* RFC 9001 §5.4.3 */
    uint8_t block[AES_BLOCK_SIZE];
    AES_encrypt(sample, block, &keys->hp.aes);
    memcpy(mask, block, ZTTP_CRYPTO_HP_MASK_LEN);
    return 1;
  }
  case ZTTP_CIPHER_CHACHA20_POLY1305_SHA256: {
    /* RFC 9001 §5.4.4 */
    static const uint8_t zeros[ZTTP_CRYPTO_HP_MASK_LEN] = {0};
    uint32_t counter = (uint32_t)sample[0] | (uint32_t)sample[1] << 8 |
                       (uint32_t)sample[2] << 16 | (uint32_t)sample[3] << 24;
    CRYPTO_chacha_20(mask, zeros, sizeof(zeros), keys->hp.chacha, sample + 4,
                     counter);
    return 1;
  }
  }
  return 0;
}

/* ---- Initial secrets and Retry --------------------------------------------
 */

int zttp_crypto_initial_secrets(uint8_t *client_secret, uint8_t *server_secret,
                                uint32_t version, const uint8_t *dcid,
                                size_t dcid_len) {
  /* RFC 9001 §5.2; RFC 9369 §3.3.1 */
  const struct version *v = find_version(version);
  if (v == NULL) {
    return 0;
  }
  uint8_t initial[ZTTP_CRYPTO_SHA256_LEN];
  int ok = zttp_crypto_hkdf_extract_sha256(initial, v->initial_salt,
                                           sizeof(v->initial_salt), dcid,
                                           dcid_len) &&
           expand_label(EVP_sha256(), client_secret, ZTTP_CRYPTO_SHA256_LEN,
                        initial, sizeof(initial), "client in") &&
           expand_label(EVP_sha256(), server_secret, ZTTP_CRYPTO_SHA256_LEN,
                        initial, sizeof(initial), "server in");
  OPENSSL_cleanse(initial, sizeof(initial));
  return ok;
}

/* gcm_aad feeds |len| bytes of associated data to |ctx|. */
static int gcm_aad(EVP_CIPHER_CTX *ctx, const uint8_t *data, size_t len) {
  int n = 0;
  return len == 0 || (len <= INT_MAX &&
                      EVP_EncryptUpdate(ctx, NULL, &n, data, (int)len) == 1);
}

int zttp_crypto_retry_tag(uint8_t *tag, uint32_t version, const uint8_t *odcid,
                          size_t odcid_len, const uint8_t *retry,
                          size_t retry_len) {
  /* RFC 9001 §5.8; RFC 9369 §3.3.3: AEAD_AES_128_GCM over an empty
   * plaintext with the Retry pseudo-packet (ODCID Length, ODCID, the Retry
   * packet without its tag) as associated data. The streaming interface
   * takes the pseudo-packet in pieces, so no copy of it is made. */
  const struct version *v = find_version(version);
  if (v == NULL || odcid_len > 255) {
    return 0;
  }
  const uint8_t odcid_len_byte = (uint8_t)odcid_len;
  uint8_t final[AES_BLOCK_SIZE];
  int n = 0;
  EVP_CIPHER_CTX ctx;
  EVP_CIPHER_CTX_init(&ctx);
  int ok = EVP_EncryptInit_ex(&ctx, EVP_aes_128_gcm(), NULL, v->retry_key,
                              v->retry_nonce) == 1 &&
           gcm_aad(&ctx, &odcid_len_byte, 1) &&
           gcm_aad(&ctx, odcid, odcid_len) && gcm_aad(&ctx, retry, retry_len) &&
           EVP_EncryptFinal_ex(&ctx, final, &n) == 1 &&
           EVP_CIPHER_CTX_ctrl(&ctx, EVP_CTRL_GCM_GET_TAG,
                               ZTTP_CRYPTO_RETRY_TAG_LEN, tag) == 1;
  EVP_CIPHER_CTX_cleanup(&ctx);
  return ok;
}
