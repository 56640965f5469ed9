/* The BoringSSL backend of src/crypto/crypto.h.
 * SPDX-License-Identifier: MIT */
#include "crypto/crypto.h"

#include <string.h>

#include <openssl/base.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>
#include <openssl/rand.h>

#if !defined(OPENSSL_IS_BORINGSSL)
#error "src/crypto needs BoringSSL (see TOOLCHAIN.md)"
#endif

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
  return HKDF_expand(out, out_len, EVP_sha256(), secret, secret_len, info, n) ==
         1;
}

int zttp_crypto_random(uint8_t *out, size_t len) {
  return RAND_bytes(out, len) == 1;
}
