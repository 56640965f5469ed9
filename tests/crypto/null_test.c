/* The null backend of src/crypto (identity AEAD with a 16-byte zero tag,
 * all-zero header-protection masks) byte for byte, and that keys of either
 * backend refuse nothing valid: every suite, version, length, packet number
 * and header seals and opens back.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"

static const uint32_t ciphers[] = {ZTTP_CIPHER_AES_128_GCM_SHA256,
                                   ZTTP_CIPHER_AES_256_GCM_SHA384,
                                   ZTTP_CIPHER_CHACHA20_POLY1305_SHA256};
static const uint32_t versions[] = {ZTTP_QUIC_V1, ZTTP_QUIC_V2};
static const uint32_t backends[] = {ZTTP_CRYPTO_BORINGSSL, ZTTP_CRYPTO_NULL};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static size_t secret_len_of(uint32_t cipher) {
  return cipher == ZTTP_CIPHER_AES_256_GCM_SHA384 ? 48 : 32;
}

static zttp_crypto_keys *make_keys(uint32_t backend, uint32_t cipher,
                                   uint32_t version) {
  uint8_t secret[ZTTP_CRYPTO_MAX_SECRET_LEN];
  for (size_t i = 0; i < sizeof(secret); i++) {
    secret[i] = (uint8_t)(0x11 * i + cipher);
  }
  zttp_crypto_keys *k = NULL;
  assert_int_equal(zttp_crypto_keys_new(&k, zttp_mem_default(), backend, cipher,
                                        version, secret, secret_len_of(cipher)),
                   0);
  assert_non_null(k);
  assert_int_equal(zttp_crypto_keys_cipher(k), cipher);
  return k;
}

static void fill(uint8_t *p, size_t len, uint8_t seed) {
  for (size_t i = 0; i < len; i++) {
    p[i] = (uint8_t)(seed + 31 * i);
  }
}

/* ---- the null backend, exactly --------------------------------------------
 */

static void expect_null_seal(const zttp_crypto_keys *k) {
  static const size_t lens[] = {0, 1, 15, 16, 17, 1200, 1452};
  static const uint64_t pns[] = {0, 1, 654360564, ((uint64_t)1 << 62) - 1};
  uint8_t hdr[32];
  uint8_t in[1500];
  uint8_t out[1500 + 16];
  uint8_t back[1500];
  fill(hdr, sizeof(hdr), 3);
  for (size_t i = 0; i < COUNT(lens); i++) {
    for (size_t j = 0; j < COUNT(pns); j++) {
      size_t len = lens[i];
      fill(in, len, (uint8_t)(i + j));
      memset(out, 0xee, sizeof(out));
      assert_int_equal(
          zttp_crypto_seal(k, out, pns[j], hdr, sizeof(hdr), in, len), 1);
      if (len > 0) {
        assert_memory_equal(out, in, len);
      }
      for (size_t t = 0; t < ZTTP_CRYPTO_TAG_LEN; t++) {
        assert_int_equal(out[len + t], 0);
      }
      assert_int_equal(out[len + ZTTP_CRYPTO_TAG_LEN], 0xee);
      /* pn and AD are ignored by open too. */
      memset(back, 0xdd, sizeof(back));
      assert_int_equal(zttp_crypto_open(k, back, pns[j] + 1, NULL, 0, out,
                                        len + ZTTP_CRYPTO_TAG_LEN),
                       1);
      if (len > 0) {
        assert_memory_equal(back, in, len);
      }
      assert_int_equal(back[len], 0xdd);
      /* Any non-zero tag byte is refused. */
      for (size_t t = 0; t < ZTTP_CRYPTO_TAG_LEN; t++) {
        out[len + t] = 0x01;
        assert_int_equal(zttp_crypto_open(k, back, pns[j], hdr, sizeof(hdr),
                                          out, len + ZTTP_CRYPTO_TAG_LEN),
                         0);
        out[len + t] = 0x80;
        assert_int_equal(zttp_crypto_open(k, back, pns[j], hdr, sizeof(hdr),
                                          out, len + ZTTP_CRYPTO_TAG_LEN),
                         0);
        out[len + t] = 0;
      }
      /* In place. */
      memcpy(out, in, len);
      assert_int_equal(
          zttp_crypto_seal(k, out, pns[j], hdr, sizeof(hdr), out, len), 1);
      if (len > 0) {
        assert_memory_equal(out, in, len);
      }
      assert_int_equal(zttp_crypto_open(k, out, pns[j], hdr, sizeof(hdr), out,
                                        len + ZTTP_CRYPTO_TAG_LEN),
                       1);
      if (len > 0) {
        assert_memory_equal(out, in, len);
      }
    }
  }
  /* Shorter than a tag. */
  uint8_t zeros[ZTTP_CRYPTO_TAG_LEN] = {0};
  for (size_t len = 0; len < ZTTP_CRYPTO_TAG_LEN; len++) {
    assert_int_equal(zttp_crypto_open(k, back, 0, NULL, 0, zeros, len), 0);
  }
}

static void expect_null_mask(const zttp_crypto_keys *k) {
  uint8_t sample[ZTTP_CRYPTO_HP_SAMPLE_LEN];
  uint8_t mask[ZTTP_CRYPTO_HP_MASK_LEN + 1];
  for (int s = 0; s < 4; s++) {
    fill(sample, sizeof(sample), (uint8_t)(s * 77));
    memset(mask, 0xff, sizeof(mask));
    assert_int_equal(zttp_crypto_hp_mask(k, mask, sample), 1);
    static const uint8_t want[ZTTP_CRYPTO_HP_MASK_LEN + 1] = {0, 0, 0,
                                                              0, 0, 0xff};
    assert_memory_equal(mask, want, sizeof(want));
  }
}

static void test_null_backend(void **state) {
  (void)state;
  for (size_t c = 0; c < COUNT(ciphers); c++) {
    for (size_t v = 0; v < COUNT(versions); v++) {
      zttp_crypto_keys *k =
          make_keys(ZTTP_CRYPTO_NULL, ciphers[c], versions[v]);
      expect_null_seal(k);
      expect_null_mask(k);
      /* An update stays null and keeps the cipher. */
      zttp_crypto_keys *u = NULL;
      assert_int_equal(zttp_crypto_keys_update(&u, zttp_mem_default(), k), 0);
      assert_int_equal(zttp_crypto_keys_cipher(u), ciphers[c]);
      expect_null_seal(u);
      expect_null_mask(u);
      zttp_crypto_keys *u2 = NULL;
      assert_int_equal(zttp_crypto_keys_update(&u2, zttp_mem_default(), u), 0);
      expect_null_seal(u2);
      zttp_crypto_keys_free(u2);
      zttp_crypto_keys_free(u);
      zttp_crypto_keys_free(k);
    }
  }
}

/* Both backends validate keys_new's arguments alike. */
static void test_null_refuses_like_boringssl(void **state) {
  (void)state;
  uint8_t secret[64] = {0};
  for (size_t b = 0; b < COUNT(backends); b++) {
    zttp_crypto_keys *k = (zttp_crypto_keys *)&k;
    assert_int_equal(zttp_crypto_keys_new(&k, zttp_mem_default(), backends[b],
                                          ZTTP_CIPHER_AES_128_GCM_SHA256,
                                          ZTTP_QUIC_V1, secret, 48),
                     ZTTP_ERR_INVALID_ARGUMENT);
    assert_null(k);
    assert_int_equal(zttp_crypto_keys_new(&k, zttp_mem_default(), backends[b],
                                          ZTTP_CIPHER_AES_256_GCM_SHA384,
                                          ZTTP_QUIC_V1, secret, 32),
                     ZTTP_ERR_INVALID_ARGUMENT);
    assert_int_equal(zttp_crypto_keys_new(&k, zttp_mem_default(), backends[b],
                                          0, ZTTP_QUIC_V1, secret, 32),
                     ZTTP_ERR_INVALID_ARGUMENT);
    assert_int_equal(zttp_crypto_keys_new(&k, zttp_mem_default(), backends[b],
                                          4, ZTTP_QUIC_V1, secret, 32),
                     ZTTP_ERR_INVALID_ARGUMENT);
    assert_int_equal(zttp_crypto_keys_new(&k, zttp_mem_default(), backends[b],
                                          ZTTP_CIPHER_AES_128_GCM_SHA256,
                                          0xff00001du, secret, 32),
                     ZTTP_ERR_INVALID_ARGUMENT);
    assert_null(k);
  }
  zttp_crypto_keys *k = NULL;
  assert_int_equal(zttp_crypto_keys_new(&k, zttp_mem_default(), 2,
                                        ZTTP_CIPHER_AES_128_GCM_SHA256,
                                        ZTTP_QUIC_V1, secret, 32),
                   ZTTP_ERR_INVALID_ARGUMENT);
  assert_null(k);
}

/* ---- nothing valid refused, either backend --------------------------------
 */

static void test_refuse_nothing_valid(void **state) {
  (void)state;
  static const size_t lens[] = {0,  1,  2,   15,   16,   17,   31,   63,
                                64, 65, 255, 1024, 1162, 1200, 1452, 1472};
  static const size_t ad_lens[] = {0, 1, 5, 21, 63};
  static const uint64_t pns[] = {0,
                                 1,
                                 255,
                                 256,
                                 65535,
                                 654360564,
                                 ((uint64_t)1 << 32) + 1,
                                 ((uint64_t)1 << 62) - 1};
  uint8_t ad[64];
  uint8_t in[1500];
  uint8_t sealed[1500 + 16];
  uint8_t out[1500];
  uint8_t sample[ZTTP_CRYPTO_HP_SAMPLE_LEN];
  uint8_t mask[ZTTP_CRYPTO_HP_MASK_LEN];
  fill(ad, sizeof(ad), 9);
  for (size_t b = 0; b < COUNT(backends); b++) {
    for (size_t c = 0; c < COUNT(ciphers); c++) {
      for (size_t v = 0; v < COUNT(versions); v++) {
        zttp_crypto_keys *k = make_keys(backends[b], ciphers[c], versions[v]);
        zttp_crypto_keys *u = NULL;
        assert_int_equal(zttp_crypto_keys_update(&u, zttp_mem_default(), k), 0);
        zttp_crypto_keys *both[] = {k, u};
        for (size_t w = 0; w < 2; w++) {
          for (size_t i = 0; i < COUNT(lens); i++) {
            size_t len = lens[i];
            size_t a = ad_lens[i % COUNT(ad_lens)];
            uint64_t pn = pns[i % COUNT(pns)];
            fill(in, len, (uint8_t)(b + c + v + i));
            assert_int_equal(
                zttp_crypto_seal(both[w], sealed, pn, ad, a, in, len), 1);
            assert_int_equal(zttp_crypto_open(both[w], out, pn, ad, a, sealed,
                                              len + ZTTP_CRYPTO_TAG_LEN),
                             1);
            if (len > 0) {
              assert_memory_equal(out, in, len);
            }
          }
          for (size_t s = 0; s < 64; s++) {
            fill(sample, sizeof(sample), (uint8_t)(s * 5));
            sample[0] = (uint8_t)(s * 4); /* ChaCha20 counter bytes */
            sample[3] = (uint8_t)(0xff - s);
            assert_int_equal(zttp_crypto_hp_mask(both[w], mask, sample), 1);
          }
        }
        zttp_crypto_keys_free(u);
        zttp_crypto_keys_free(k);
      }
    }
  }
}

/* The two backends do not understand each other's packets (except by
 * chance, which a 16-byte tag excludes). */
static void test_backends_differ(void **state) {
  (void)state;
  uint8_t in[100];
  uint8_t sealed[116];
  uint8_t out[100];
  fill(in, sizeof(in), 1);
  zttp_crypto_keys *real = make_keys(
      ZTTP_CRYPTO_BORINGSSL, ZTTP_CIPHER_AES_128_GCM_SHA256, ZTTP_QUIC_V1);
  zttp_crypto_keys *null =
      make_keys(ZTTP_CRYPTO_NULL, ZTTP_CIPHER_AES_128_GCM_SHA256, ZTTP_QUIC_V1);
  assert_int_equal(zttp_crypto_seal(null, sealed, 5, NULL, 0, in, sizeof(in)),
                   1);
  assert_int_equal(
      zttp_crypto_open(real, out, 5, NULL, 0, sealed, sizeof(sealed)), 0);
  assert_int_equal(zttp_crypto_seal(real, sealed, 5, NULL, 0, in, sizeof(in)),
                   1);
  assert_int_equal(
      zttp_crypto_open(null, out, 5, NULL, 0, sealed, sizeof(sealed)), 0);
  zttp_crypto_keys_free(null);
  zttp_crypto_keys_free(real);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_null_backend),
      cmocka_unit_test(test_null_refuses_like_boringssl),
      cmocka_unit_test(test_refuse_nothing_valid),
      cmocka_unit_test(test_backends_differ),
  };
  return cmocka_run_group_tests_name("crypto-null", tests, NULL, NULL);
}
