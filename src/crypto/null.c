/* The null backend of src/crypto/crypto.h: identity AEAD with a 16-byte
 * zero tag and all-zero header-protection masks, for the fuzzers and the
 * simulator's fast mode. Keys are made (and updated) by the common code in
 * boringssl.c, which dispatches here on the keys' backend.
 * SPDX-License-Identifier: MIT */
#include "crypto/crypto_internal.h"

#include <string.h>

int zttp_crypto_null_seal(uint8_t *out, const uint8_t *in, size_t len) {
  if (len != 0 && out != in) {
    memmove(out, in, len);
  }
  memset(out + len, 0, ZTTP_CRYPTO_TAG_LEN);
  return 1;
}

int zttp_crypto_null_open(uint8_t *out, const uint8_t *in, size_t len) {
  if (len < ZTTP_CRYPTO_TAG_LEN) {
    return 0;
  }
  size_t n = len - ZTTP_CRYPTO_TAG_LEN;
  uint8_t acc = 0;
  for (size_t i = 0; i < ZTTP_CRYPTO_TAG_LEN; i++) {
    acc |= in[n + i];
  }
  if (acc != 0) {
    return 0;
  }
  if (n != 0 && out != in) {
    memmove(out, in, n);
  }
  return 1;
}

int zttp_crypto_null_hp_mask(uint8_t *mask) {
  memset(mask, 0, ZTTP_CRYPTO_HP_MASK_LEN);
  return 1;
}
