/* The rest of src/crypto: the keys' life cycle under a failing allocator,
 * AES-256-GCM-SHA384 (SHA-384 Expand-Label, AES-256 header protection) and
 * its key update against known answers, in-place and out-of-place
 * protection, the refusals of initial_secrets and retry_tag, HMAC-SHA256
 * (RFC 4231) and memeq.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "harness.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static size_t unhex(uint8_t *out, const char *hex) {
  size_t n = strlen(hex) / 2;
  for (size_t i = 0; i < n; i++) {
    unsigned v = 0;
    for (int k = 0; k < 2; k++) {
      char c = hex[2 * i + (size_t)k];
      v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    out[i] = (uint8_t)v;
  }
  return n;
}

static const uint32_t ciphers[] = {ZTTP_CIPHER_AES_128_GCM_SHA256,
                                   ZTTP_CIPHER_AES_256_GCM_SHA384,
                                   ZTTP_CIPHER_CHACHA20_POLY1305_SHA256};
static const uint32_t versions[] = {ZTTP_QUIC_V1, ZTTP_QUIC_V2};
static const uint32_t backends[] = {ZTTP_CRYPTO_BORINGSSL, ZTTP_CRYPTO_NULL};

static size_t secret_len_of(uint32_t cipher) {
  return cipher == ZTTP_CIPHER_AES_256_GCM_SHA384 ? 48 : 32;
}

/* ---- failing allocator ----------------------------------------------------
 */

static void test_failalloc(void **state) {
  (void)state;
  uint8_t secret[ZTTP_CRYPTO_MAX_SECRET_LEN];
  memset(secret, 0x5a, sizeof(secret));
  for (size_t b = 0; b < COUNT(backends); b++) {
    for (size_t c = 0; c < COUNT(ciphers); c++) {
      for (size_t v = 0; v < COUNT(versions); v++) {
        size_t len = secret_len_of(ciphers[c]);
        /* keys_new: allocation k fails for every k until none is left. */
        long k = 0;
        zttp_crypto_keys *keys = NULL;
        for (;; k++) {
          h_failalloc fa;
          h_failalloc_init(&fa, k);
          int32_t rv =
              zttp_crypto_keys_new(&keys, &fa.alloc, backends[b], ciphers[c],
                                   versions[v], secret, len);
          if (!fa.injected) {
            assert_int_equal(rv, 0);
            assert_int_equal(fa.live_allocs, 1);
            zttp_crypto_keys_free(keys);
            assert_int_equal(fa.live_allocs, 0);
            assert_int_equal(fa.bad_frees, 0);
            break;
          }
          assert_int_equal(rv, ZTTP_ERR_NOMEM);
          assert_null(keys);
          assert_int_equal(fa.live_allocs, 0);
          assert_int_equal(fa.bad_frees, 0);
        }
        assert_int_equal(k, 1);

        /* keys_update allocates with the allocator it is given. */
        h_failalloc base;
        h_failalloc_init(&base, -1);
        assert_int_equal(zttp_crypto_keys_new(&keys, &base.alloc, backends[b],
                                              ciphers[c], versions[v], secret,
                                              len),
                         0);
        for (k = 0;; k++) {
          h_failalloc fa;
          h_failalloc_init(&fa, k);
          zttp_crypto_keys *next = NULL;
          int32_t rv = zttp_crypto_keys_update(&next, &fa.alloc, keys);
          if (!fa.injected) {
            assert_int_equal(rv, 0);
            assert_int_equal(fa.live_allocs, 1);
            zttp_crypto_keys_free(next);
            assert_int_equal(fa.live_allocs, 0);
            assert_int_equal(fa.bad_frees, 0);
            break;
          }
          assert_int_equal(rv, ZTTP_ERR_NOMEM);
          assert_null(next);
          assert_int_equal(fa.live_allocs, 0);
        }
        assert_int_equal(k, 1);
        assert_int_equal(base.live_allocs, 1);
        zttp_crypto_keys_free(keys);
        assert_int_equal(base.live_allocs, 0);
        assert_int_equal(base.bad_frees, 0);
      }
    }
  }
  zttp_crypto_keys_free(NULL);
}

/* ---- AES-256-GCM-SHA384 known answers -------------------------------------
 */

/* Computed independently (Python "cryptography" on OpenSSL 3: HKDF-Expand
 * with SHA-384 and the TLS 1.3 HkdfLabel, AESGCM, AES-256-ECB) for
 * secret = 0x40..0x6f, pn = 0x0102030405, AD 41b01dface, the plaintext
 * below and sample 0xa0..0xaf. */
static const struct {
  uint32_t version;
  const char *sealed;
  const char *mask;
  const char *ku;
  const char *sealed_after_update;
} aes256_kats[] = {
    {ZTTP_QUIC_V1,
     "b7ad93788d0cb569c17cef071efb832e207dc31d0bd31dee37b5ba9ae96162380521d1e7"
     "bc9a5cb2764be9749a4649bf1a89b2b2",
     "4e5c59ede9",
     "9f85e8f9484e6112d790abfd30c858c4407b26bf9abe416e595907df88370d4dfc686f56"
     "a4bde0f95b34b66149266119",
     "76532694c9915ad4c9c307e6cfe864e8d4f18f6820ffc0b43e9d69c23ce7062df9893af0"
     "760572631ee20300cbca6ebc349cfb7a"},
    {ZTTP_QUIC_V2,
     "4e2aec096eb2715f85b731455b8593155726f73300a8cf58717b911d039f33784ce1ca99"
     "b336ac382663026bc72f72d771d28bff",
     "4563c90791",
     "56e2be7f9f81cdd7e16d366283f32516bddc72bf359b2fc767f88e06d9b4e5f221c52a63"
     "4c7c74bccee55055727b8d62",
     "5b1f4451eabd693a5866afd744c2a90d7b89109edf9031c76a91ee8a0e17434d81d3451f"
     "93a1781f0bb28af84b8de455238482ac"},
};

static void test_aes256_gcm_sha384(void **state) {
  (void)state;
  static const char plain[] = "zttp AES-256-GCM-SHA384 known answer";
  const size_t plain_len = sizeof(plain) - 1;
  const uint64_t pn = 0x0102030405;
  uint8_t secret[48];
  uint8_t ad[5];
  uint8_t sample[16];
  for (size_t i = 0; i < 48; i++) {
    secret[i] = (uint8_t)(0x40 + i);
  }
  for (size_t i = 0; i < 16; i++) {
    sample[i] = (uint8_t)(0xa0 + i);
  }
  unhex(ad, "41b01dface");
  for (size_t t = 0; t < COUNT(aes256_kats); t++) {
    uint8_t want[128];
    uint8_t got[128];
    uint8_t mask[5];
    zttp_crypto_keys *k = NULL;
    assert_int_equal(zttp_crypto_keys_new(&k, zttp_mem_default(),
                                          ZTTP_CRYPTO_BORINGSSL,
                                          ZTTP_CIPHER_AES_256_GCM_SHA384,
                                          aes256_kats[t].version, secret, 48),
                     0);
    size_t n = unhex(want, aes256_kats[t].sealed);
    assert_int_equal(n, plain_len + 16);
    assert_int_equal(zttp_crypto_seal(k, got, pn, ad, sizeof(ad),
                                      (const uint8_t *)plain, plain_len),
                     1);
    assert_memory_equal(got, want, n);
    assert_int_equal(zttp_crypto_hp_mask(k, mask, sample), 1);
    unhex(want, aes256_kats[t].mask);
    assert_memory_equal(mask, want, 5);

    /* The update: a 48-byte ku secret through SHA-384; same hp key. */
    zttp_crypto_keys *u = NULL;
    zttp_crypto_keys *direct = NULL;
    uint8_t ku[48];
    unhex(ku, aes256_kats[t].ku);
    assert_int_equal(zttp_crypto_keys_update(&u, zttp_mem_default(), k), 0);
    assert_int_equal(zttp_crypto_keys_new(&direct, zttp_mem_default(),
                                          ZTTP_CRYPTO_BORINGSSL,
                                          ZTTP_CIPHER_AES_256_GCM_SHA384,
                                          aes256_kats[t].version, ku, 48),
                     0);
    n = unhex(want, aes256_kats[t].sealed_after_update);
    assert_int_equal(zttp_crypto_seal(u, got, pn, ad, sizeof(ad),
                                      (const uint8_t *)plain, plain_len),
                     1);
    assert_memory_equal(got, want, n);
    assert_int_equal(zttp_crypto_seal(direct, got, pn, ad, sizeof(ad),
                                      (const uint8_t *)plain, plain_len),
                     1);
    assert_memory_equal(got, want, n);
    assert_int_equal(zttp_crypto_hp_mask(u, mask, sample), 1);
    unhex(want, aes256_kats[t].mask);
    assert_memory_equal(mask, want, 5);
    assert_int_equal(
        zttp_crypto_open(u, got, pn, ad, sizeof(ad), got, plain_len + 16), 1);
    assert_memory_equal(got, plain, plain_len);

    zttp_crypto_keys_free(direct);
    zttp_crypto_keys_free(u);
    zttp_crypto_keys_free(k);
  }
}

/* ---- in place and out of place --------------------------------------------
 */

static void test_in_place(void **state) {
  (void)state;
  uint8_t secret[48];
  uint8_t hdr[21];
  uint8_t in[1200];
  uint8_t a[1216];
  uint8_t b[1216];
  uint8_t c[1216];
  memset(secret, 7, sizeof(secret));
  for (size_t i = 0; i < sizeof(in); i++) {
    in[i] = (uint8_t)(i ^ (i >> 3));
  }
  for (size_t i = 0; i < sizeof(hdr); i++) {
    hdr[i] = (uint8_t)(0xc0 + i);
  }
  for (size_t ci = 0; ci < COUNT(ciphers); ci++) {
    zttp_crypto_keys *k = NULL;
    assert_int_equal(zttp_crypto_keys_new(&k, zttp_mem_default(),
                                          ZTTP_CRYPTO_BORINGSSL, ciphers[ci],
                                          ZTTP_QUIC_V1, secret,
                                          secret_len_of(ciphers[ci])),
                     0);
    assert_int_equal(
        zttp_crypto_seal(k, a, 42, hdr, sizeof(hdr), in, sizeof(in)), 1);
    memcpy(b, in, sizeof(in));
    assert_int_equal(
        zttp_crypto_seal(k, b, 42, hdr, sizeof(hdr), b, sizeof(in)), 1);
    assert_memory_equal(a, b, sizeof(a));
    /* The nonce uses all 62 bits of the packet number. */
    for (int bit = 0; bit < 62; bit++) {
      assert_int_equal(zttp_crypto_seal(k, c, 42 ^ ((uint64_t)1 << bit), hdr,
                                        sizeof(hdr), in, sizeof(in)),
                       1);
      assert_memory_not_equal(a, c, sizeof(a));
    }
    assert_int_equal(zttp_crypto_open(k, c, 42, hdr, sizeof(hdr), a, sizeof(a)),
                     1);
    assert_memory_equal(c, in, sizeof(in));
    assert_int_equal(zttp_crypto_open(k, b, 42, hdr, sizeof(hdr), b, sizeof(b)),
                     1);
    assert_memory_equal(b, in, sizeof(in));
    /* Shorter than a tag. */
    for (size_t len = 0; len < ZTTP_CRYPTO_TAG_LEN; len++) {
      assert_int_equal(zttp_crypto_open(k, c, 42, hdr, sizeof(hdr), a, len), 0);
    }
    /* An empty payload is just a tag. */
    assert_int_equal(zttp_crypto_seal(k, c, 9, hdr, sizeof(hdr), in, 0), 1);
    assert_int_equal(zttp_crypto_open(k, b, 9, hdr, sizeof(hdr), c, 16), 1);
    c[3] ^= 4;
    assert_int_equal(zttp_crypto_open(k, b, 9, hdr, sizeof(hdr), c, 16), 0);
    zttp_crypto_keys_free(k);
  }
}

/* ---- refusals -------------------------------------------------------------
 */

static void test_unknown_versions(void **state) {
  (void)state;
  uint8_t c[32];
  uint8_t s[32];
  uint8_t tag[16];
  uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t retry[32] = {0xff};
  static const uint32_t bad[] = {0, 0xff00001du, 0x709a50c4u, 2};
  for (size_t i = 0; i < COUNT(bad); i++) {
    assert_int_equal(zttp_crypto_initial_secrets(c, s, bad[i], dcid, 8), 0);
    assert_int_equal(
        zttp_crypto_retry_tag(tag, bad[i], dcid, 8, retry, sizeof(retry)), 0);
  }
  /* An ODCID whose length does not fit its one-byte field. */
  uint8_t big[256] = {0};
  assert_int_equal(
      zttp_crypto_retry_tag(tag, ZTTP_QUIC_V1, big, 256, retry, sizeof(retry)),
      0);
  assert_int_equal(
      zttp_crypto_retry_tag(tag, ZTTP_QUIC_V1, big, 255, retry, sizeof(retry)),
      1);
  /* Empty DCIDs are fine (RFC 9000 §7.2 lets servers choose them). */
  assert_int_equal(zttp_crypto_initial_secrets(c, s, ZTTP_QUIC_V1, NULL, 0), 1);
  assert_int_equal(
      zttp_crypto_retry_tag(tag, ZTTP_QUIC_V2, NULL, 0, retry, sizeof(retry)),
      1);
}

/* ---- HMAC-SHA256 (RFC 4231 §4.2, §4.3) and memeq ----------------------------
 */

static void test_hmac_sha256(void **state) {
  (void)state;
  uint8_t key[20];
  uint8_t out[32];
  uint8_t want[32];
  memset(key, 0x0b, sizeof(key));
  static const char data1[] = "Hi There";
  assert_int_equal(zttp_crypto_hmac_sha256(out, key, 20, (const uint8_t *)data1,
                                           sizeof(data1) - 1),
                   1);
  unhex(want,
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  assert_memory_equal(out, want, 32);

  static const char key2[] = "Jefe";
  static const char data2[] = "what do ya want for nothing?";
  assert_int_equal(zttp_crypto_hmac_sha256(out, (const uint8_t *)key2, 4,
                                           (const uint8_t *)data2,
                                           sizeof(data2) - 1),
                   1);
  unhex(want,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  assert_memory_equal(out, want, 32);
}

static void test_memeq(void **state) {
  (void)state;
  uint8_t a[33];
  uint8_t b[33];
  for (size_t i = 0; i < sizeof(a); i++) {
    a[i] = b[i] = (uint8_t)(i * 3);
  }
  assert_int_equal(zttp_crypto_memeq(a, b, sizeof(a)), 1);
  assert_int_equal(zttp_crypto_memeq(a, b, 0), 1);
  for (size_t i = 0; i < sizeof(a); i++) {
    b[i] ^= 0x40;
    assert_int_equal(zttp_crypto_memeq(a, b, sizeof(a)), 0);
    assert_int_equal(zttp_crypto_memeq(a, b, i), 1);
    b[i] ^= 0x40;
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failalloc),
      cmocka_unit_test(test_aes256_gcm_sha384),
      cmocka_unit_test(test_in_place),
      cmocka_unit_test(test_unknown_versions),
      cmocka_unit_test(test_hmac_sha256),
      cmocka_unit_test(test_memeq),
  };
  return cmocka_run_group_tests_name("crypto-keys", tests, NULL, NULL);
}
